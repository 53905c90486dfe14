/* The LMDB backend's environment (gb_lmdb_env.h).
 *
 * Trust: the data dir is not trusted: the format record and the stream id
 * counter are checked at open, and a dir that cannot be read as a govbus
 * store is refused with a sentence on stderr, never half-opened. One
 * process owns a data dir for writing and one thread writes; other
 * processes may read it at the same time (the auditor's export, the
 * broker's requests listing), which is why reads adopt a map another
 * process grew. A commit is synced before it is reported: LMDB runs with
 * its default durability (no NOSYNC/NOMETASYNC). */
#include "gb_lmdb_env.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "gb_error.h"
#include "gb_lmdb_keys.h"
#include "gb_store_bytes.h"

#define STORE_FORMAT 1u
#define STORE_DEFAULT_MAP_SIZE (64ull << 30)
/* The map doubles when full, up to this much address space (DESIGN §7). */
#define STORE_MAP_MAX (1ull << 44)
#define STORE_MAX_DBS 16

/* Free bytes under which a failed commit is taken for a full filesystem,
 * on top of twice what the commit was writing. */
#define STORE_FULL_MARGIN (1u << 20)

static const char meta_format_key[] = "format";
static const char meta_next_id_key[] = "next_stream_id";

/* ------------------------------------------------------------ errors */

int gb_lmdb_error(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_MAP_FULL:
	case ENOSPC:
	case EDQUOT:
		return GB_ENOSPC;
	case ENOMEM:
		return GB_ENOMEM;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return GB_ECORRUPT;
	case MDB_READERS_FULL:
		return GB_EUNAVAIL;
	default:
		return GB_EIO;
	}
}

int gb_lmdb_write_error(int rc)
{
	if (rc == MDB_MAP_FULL)
		return GB_LMDB_MAP_FULL;
	return gb_lmdb_error(rc) == GB_ENOSPC ? GB_ENOSPC : GB_EIO;
}

int gb_lmdb_group_failure(int rc)
{
	return rc == GB_ENOSPC ? GB_ENOSPC : GB_EIO;
}

/* LMDB reports a short write, which is what a full filesystem gives it, as
 * EIO (mdb_page_flush: "short write, filesystem full?"). With less room
 * left than the commit was writing plus a margin, it is "storage full"
 * (507, not 500). */
int gb_lmdb_commit_error(MDB_env *env, int rc, const gb_write *items,
			 size_t n)
{
	const char *path = NULL;
	struct statvfs fs;
	uint64_t writing = 0;

	if (rc != EIO || mdb_env_get_path(env, &path) != 0 || !path ||
	    statvfs(path, &fs) != 0)
		return gb_lmdb_write_error(rc);
	for (size_t i = 0; i < n; i++)
		writing += items[i].signed_batch_len + items[i].wrap_len;
	if ((uint64_t)fs.f_bavail * fs.f_frsize < 2 * writing + STORE_FULL_MARGIN)
		return GB_ENOSPC;
	return GB_EIO;
}

/* Say why a data dir cannot be opened: the broker fails at start-up and the
 * operator needs more than "stored data is corrupt". */
static void open_refused(const char *dir, const char *why)
{
	fprintf(stderr, "govbus store %.200s: %s\n", dir, why);
}

/* An LMDB call failed while opening `dir`: say so as LMDB puts it. */
static int lmdb_refused(const char *dir, int rc)
{
	open_refused(dir, mdb_strerror(rc));
	return gb_lmdb_error(rc);
}

/* ------------------------------------------------------------ meta */

/* Check the format record and load the stream id counter; on a fresh
 * environment write both. */
static int meta_init(gb_lmdb *s, MDB_txn *txn, const char *dir)
{
	MDB_val k = {sizeof meta_format_key - 1, (void *)meta_format_key};
	MDB_val v;
	uint8_t be[4];
	char why[128];
	int rc;

	rc = mdb_get(txn, s->meta_db, &k, &v);
	if (rc == MDB_NOTFOUND) {
		MDB_stat st;

		rc = mdb_stat(txn, s->streams_db, &st);
		if (rc)
			return gb_lmdb_error(rc);
		if (st.ms_entries != 0) {
			open_refused(dir, "streams are stored but the format "
					  "record is missing");
			return GB_ECORRUPT;
		}
		gb_put_be32(be, STORE_FORMAT);
		v = (MDB_val){sizeof be, be};
		rc = mdb_put(txn, s->meta_db, &k, &v, 0);
		if (rc)
			return gb_lmdb_write_error(rc);
		gb_put_be32(be, 1);
		k = (MDB_val){sizeof meta_next_id_key - 1, (void *)meta_next_id_key};
		rc = mdb_put(txn, s->meta_db, &k, &v, 0);
		if (rc)
			return gb_lmdb_write_error(rc);
		s->next_stream_id = 1;
		return 0;
	}
	if (rc)
		return gb_lmdb_error(rc);
	if (v.mv_size != 4) {
		open_refused(dir, "the format record is malformed");
		return GB_ECORRUPT;
	}
	if (gb_get_be32(v.mv_data) != STORE_FORMAT) {
		snprintf(why, sizeof why,
			 "data format version %u, this broker reads version %u",
			 gb_get_be32(v.mv_data), STORE_FORMAT);
		open_refused(dir, why);
		return GB_ECORRUPT;
	}
	k = (MDB_val){sizeof meta_next_id_key - 1, (void *)meta_next_id_key};
	rc = mdb_get(txn, s->meta_db, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return gb_lmdb_error(rc);
	if (rc == MDB_NOTFOUND || v.mv_size != 4) {
		open_refused(dir, "the stream id counter is missing or malformed");
		return GB_ECORRUPT;
	}
	s->next_stream_id = gb_get_be32(v.mv_data);
	return 0;
}

/* Refuse a counter that would hand out a stream id the log already uses:
 * two datasets would share one log. Ids are allocated in order, so the
 * log's last key carries the largest id in use. */
static int check_counter(gb_lmdb *s, MDB_txn *txn, const char *dir)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, s->log_db, &cur);
	if (rc)
		return gb_lmdb_error(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == MDB_NOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc) {
		rc = gb_lmdb_error(rc);
		goto out;
	}
	if (k.mv_size != GB_LMDB_LOG_KEY_BYTES ||
	    (s->next_stream_id != 0 &&
	     gb_get_be32(k.mv_data) >= s->next_stream_id)) {
		open_refused(dir, "the stream id counter is behind the log");
		rc = GB_ECORRUPT;
	}
out:
	mdb_cursor_close(cur);
	return rc;
}

int gb_lmdb_stream_id_take(gb_lmdb_write *g)
{
	uint8_t be[4];
	MDB_val k = {sizeof meta_next_id_key - 1, (void *)meta_next_id_key};
	MDB_val v = {sizeof be, be};
	int rc;

	g->s->next_stream_id++; /* 0 after UINT_MAX: every id is used */
	gb_put_be32(be, g->s->next_stream_id);
	rc = mdb_put(g->txn, g->s->meta_db, &k, &v, 0);
	return rc ? gb_lmdb_write_error(rc) : 0;
}

/* ------------------------------------------------------------ open/close */

static int open_databases(gb_lmdb *s, MDB_txn *txn)
{
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[] = {
		{"streams", &s->streams_db}, {"log", &s->log_db},
		{"pseq", &s->pseq_db},       {"cursors", &s->cursors_db},
		{"meta", &s->meta_db},       {"epochs", &s->epochs_db},
		{"epoch_log", &s->epoch_log_db}, {"wraps", &s->wraps_db},
		{"checkpoints", &s->checkpoints_db},
		{"policies", &s->policies_db},
		{"requests", &s->requests_db},
		{"dedupe", &s->dedupe_db},           /* record ids */
		{"dedupe_age", &s->dedupe_age_db},
	};

	s->audit_dbs = true;
	s->requests_dbs = true;
	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		int rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);

		if (rc)
			return gb_lmdb_error(rc);
	}
	return 0;
}

/* A zeroed store with its resize lock ready; NULL when out of memory. */
static gb_lmdb *store_alloc(void)
{
	gb_lmdb *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	if (pthread_rwlock_init(&s->resize_lock, NULL) != 0) {
		free(s);
		return NULL;
	}
	s->resize_lock_ready = true;
	gb_store_init(&s->base, &gb_lmdb_ops);
	return s;
}

static void store_free(gb_lmdb *s)
{
	if (!s)
		return;
	if (s->env)
		mdb_env_close(s->env);
	gb_lmdb_cache_clear(&s->cache);
	gb_store_dedupe_free(&s->dedupe);
	if (s->resize_lock_ready)
		pthread_rwlock_destroy(&s->resize_lock);
	free(s);
}

void gb_lmdb_close(gb_store *s)
{
	store_free(gb_lmdb_of(s));
}

/* A data dir opened for writing: its named databases (created when
 * missing), the format record and the stream id counter. */
static int prepare_write(gb_lmdb *s, MDB_txn *txn, const char *dir)
{
	int rc = open_databases(s, txn);

	if (rc == 0)
		rc = meta_init(s, txn, dir);
	if (rc == 0)
		rc = check_counter(s, txn, dir);
	return rc;
}

/* A data dir opened read-only: its named databases, of which the audit
 * and request ones are absent from dirs written before they existed, and
 * the format record. Nothing is created. */
static int prepare_readonly(gb_lmdb *s, MDB_txn *txn, const char *dir)
{
	static const struct {
		const char *name;
		size_t offset;
		bool required;
	} dbs[] = {
		{"streams", offsetof(gb_lmdb, streams_db), true},
		{"log", offsetof(gb_lmdb, log_db), true},
		{"meta", offsetof(gb_lmdb, meta_db), true},
		{"checkpoints", offsetof(gb_lmdb, checkpoints_db), false},
		{"policies", offsetof(gb_lmdb, policies_db), false},
	};
	MDB_val k = {sizeof meta_format_key - 1, (void *)meta_format_key}, v;
	unsigned missing = 0;
	int rc;

	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		MDB_dbi *dbi = (MDB_dbi *)((char *)s + dbs[i].offset);

		rc = mdb_dbi_open(txn, dbs[i].name, 0, dbi);
		if (rc == MDB_NOTFOUND && !dbs[i].required) {
			missing++;
			continue;
		}
		if (rc == MDB_NOTFOUND) {
			open_refused(dir, "not a govbus log (named databases "
					  "are missing)");
			return GB_ENOTFOUND;
		}
		if (rc)
			return lmdb_refused(dir, rc);
	}
	s->audit_dbs = missing == 0;
	rc = mdb_dbi_open(txn, "requests", 0, &s->requests_db);
	if (rc && rc != MDB_NOTFOUND)
		return lmdb_refused(dir, rc);
	s->requests_dbs = rc == 0;
	rc = mdb_get(txn, s->meta_db, &k, &v);
	if (rc || v.mv_size != 4 || gb_get_be32(v.mv_data) != STORE_FORMAT) {
		open_refused(dir, "the format record is missing or not version 1");
		return GB_ECORRUPT;
	}
	return 0;
}

/* Open the environment in `dir` (read-only with MDB_RDONLY in `flags`),
 * run `prepare` in a first transaction and commit it, which keeps the
 * named databases opened in it (an abort would close them; a read-only
 * one writes nothing). Every failure is explained on stderr. */
static int env_open(const char *dir, unsigned flags, uint64_t map_size,
		    int (*prepare)(gb_lmdb *, MDB_txn *, const char *),
		    gb_store **out)
{
	bool readonly = flags & MDB_RDONLY;
	gb_lmdb *s = store_alloc();
	MDB_txn *txn = NULL;
	MDB_envinfo info;
	int dead;
	int rc;

	if (!s)
		return GB_ENOMEM;
	rc = mdb_env_create(&s->env);
	if (rc) {
		s->env = NULL;
		goto err_lmdb;
	}
	rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
	if (rc == 0 && !readonly)
		rc = mdb_env_set_mapsize(s->env, (size_t)map_size);
	/* MDB_NOTLS: read transactions are begun and ended per call and may
	 * run on any thread. */
	if (rc == 0)
		rc = mdb_env_open(s->env, dir, flags | MDB_NOTLS, 0600);
	if (rc == ENOENT && readonly) {
		open_refused(dir, "no govbus log here (data.mdb is missing)");
		rc = GB_ENOTFOUND;
		goto err;
	}
	/* Free reader slots left by a crashed broker so they do not pin old
	 * pages forever. */
	if (rc == 0 && !readonly)
		rc = mdb_reader_check(s->env, &dead);
	if (rc)
		goto err_lmdb;
	s->max_key = (size_t)mdb_env_get_maxkeysize(s->env);
	if (!readonly) {
		/* A data file larger than the configured map keeps its size. */
		s->map_size = map_size;
		if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > map_size)
			s->map_size = info.me_mapsize;
	}
	rc = mdb_txn_begin(s->env, NULL, flags & MDB_RDONLY, &txn);
	if (rc)
		goto err_lmdb;
	rc = prepare(s, txn, dir);
	if (rc < 0)
		goto err;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		goto err_lmdb;
	*out = &s->base;
	return 0;

err_lmdb:
	rc = lmdb_refused(dir, rc);
err:
	if (txn)
		mdb_txn_abort(txn);
	store_free(s);
	return rc;
}

int gb_lmdb_open(const gb_store_options *opt, gb_store **out)
{
	const char *dir = opt->lmdb.dir;
	uint64_t map_size = opt->lmdb.map_size;

	if (!dir || !*dir)
		return GB_EINVAL;
	if (opt->readonly)
		return env_open(dir, MDB_RDONLY, 0, prepare_readonly, out);
	if (map_size == 0)
		map_size = STORE_DEFAULT_MAP_SIZE;
	if (map_size > SIZE_MAX)
		return GB_EINVAL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		open_refused(dir, strerror(errno));
		return GB_EIO;
	}
	return env_open(dir, 0, map_size, prepare_write, out);
}

/* ------------------------------------------------------------ map size */

int gb_lmdb_map_grow(gb_lmdb *s)
{
	uint64_t next = s->map_size > STORE_MAP_MAX / 2 ? STORE_MAP_MAX
							: s->map_size * 2;
	int rc;

	if (s->map_size >= STORE_MAP_MAX || next > SIZE_MAX)
		return GB_ENOSPC;
	pthread_rwlock_wrlock(&s->resize_lock);
	rc = mdb_env_set_mapsize(s->env, (size_t)next);
	pthread_rwlock_unlock(&s->resize_lock);
	if (rc)
		return GB_ENOSPC;
	s->map_size = next;
	return 0;
}

void gb_lmdb_stats(const gb_store *s, gb_store_stats *out)
{
	out->backend = "lmdb";
	out->capacity_bytes = gb_lmdb_of_const(s)->map_size;
}

/* ------------------------------------------------------------ reading */

int gb_lmdb_read_begin(gb_lmdb *s, MDB_txn **txn)
{
	int rc;

	pthread_rwlock_rdlock(&s->resize_lock);
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process (the broker) grew the map: adopt its size.
		 * Only this process's own transactions must be closed, which
		 * the exclusive lock ensures. */
		pthread_rwlock_unlock(&s->resize_lock);
		pthread_rwlock_wrlock(&s->resize_lock);
		rc = mdb_env_set_mapsize(s->env, 0);
		pthread_rwlock_unlock(&s->resize_lock);
		pthread_rwlock_rdlock(&s->resize_lock);
		if (rc == 0)
			rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
	}
	if (rc) {
		pthread_rwlock_unlock(&s->resize_lock);
		*txn = NULL;
		return gb_lmdb_error(rc);
	}
	return 0;
}

void gb_lmdb_read_end(gb_lmdb *s, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->resize_lock);
}

int gb_lmdb_scan(gb_lmdb *s, MDB_dbi dbi, const uint8_t *start,
		 size_t start_len, size_t plen, gb_lmdb_scan_fn fn, void *ctx)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k = {start_len, (void *)start}, v;
	int rc, mrc;

	rc = gb_lmdb_read_begin(s, &txn);
	if (rc < 0)
		return rc;
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc) {
		gb_lmdb_read_end(s, txn);
		return gb_lmdb_error(rc);
	}
	for (mrc = mdb_cursor_get(cur, &k, &v, start ? MDB_SET_RANGE : MDB_FIRST);
	     mrc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (start && (k.mv_size < plen || memcmp(k.mv_data, start, plen) != 0))
			break;
		rc = fn(ctx, &k, &v);
		if (rc != 0)
			break;
	}
	if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = gb_lmdb_error(mrc);
	mdb_cursor_close(cur);
	gb_lmdb_read_end(s, txn);
	return rc;
}
