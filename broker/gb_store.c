/* govbus log store: the broker's LMDB environment (gb_store.h, DESIGN §7).
 *
 * Trust: the callers are the broker's own threads, trusted to pass valid
 * pointers and NUL-terminated strings, but not well-formed values: names,
 * sequence numbers, counts and sizes are checked per item and a bad item is
 * rejected alone. The data file is not trusted: every key and value read back
 * is length- and consistency-checked, and a bad one gives GB_ECORRUPT, never
 * a crash. One process owns a data dir and one thread writes; the writer's
 * cache of stream heads is correct only because of that, and it is dropped
 * whenever a transaction does not commit. A commit is synced before it is
 * reported: LMDB runs with its default durability (no NOSYNC/NOMETASYNC). */
#include "gb_store.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "gb_envelope.h"
#include "gb_error.h"

#define STORE_FORMAT 1u
#define STORE_DEFAULT_MAP_SIZE (64ull << 30)
/* The map doubles when full, up to this much address space (DESIGN §7). */
#define STORE_MAP_MAX (1ull << 44)
#define STORE_MAX_DBS 16
#define STORE_NAME_MAX 255           /* dataset, producer, dept, cursor name */
#define STORE_CACHE_MAX 65536        /* streams cached before the cache restarts */

#define SEQ_BYTES 8
#define LOG_KEY_BYTES 12             /* u32be stream id || u64be base offset */
#define STREAM_VALUE_BYTES 60        /* id, next offset, batches, time, head */
#define PSEQ_VALUE_BYTES 12          /* u64be base offset || u32be records */
#define CURSOR_VALUE_BYTES 8
#define TAG_BYTES GB_RECORD_TAG_BYTES
#define DEDUPE_VALUE_BYTES 16        /* u64be broker time || u64be offset */
/* Expired dedupe entries removed per group: this many plus two per tag
 * the group stores, so removal outpaces insertion. */
#define DEDUPE_PRUNE_BASE 256u
/* Longest composite key we build: three names and two separators. LMDB's
 * own limit (mdb_env_get_maxkeysize, 511 by default) is checked too. */
#define COMPOSITE_KEY_MAX (3 * STORE_NAME_MAX + 2 + SEQ_BYTES)

static const char meta_format_key[] = "format";
static const char meta_next_id_key[] = "next_stream_id";

struct stream_state {
	uint32_t id;
	uint64_t next_offset;
	uint64_t batch_count;
	uint64_t last_time_ns;
	uint8_t head[GB_HASH_BYTES];
};

struct cache_entry {
	char *name;                     /* NULL: empty slot */
	size_t name_len;
	struct stream_state st;
};

/* Open-addressing map dataset -> stream state, writer thread only. Entries
 * are never deleted one by one, only all at once, so probing stays simple. */
struct stream_cache {
	struct cache_entry *slots;
	size_t cap;                     /* 0 or a power of two */
	size_t count;
};

struct gb_store {
	MDB_env *env;
	MDB_dbi streams_db;
	MDB_dbi log_db;
	MDB_dbi pseq_db;
	MDB_dbi cursors_db;
	MDB_dbi meta_db;
	MDB_dbi epochs_db;
	MDB_dbi epoch_log_db;
	MDB_dbi wraps_db;
	MDB_dbi checkpoints_db;
	MDB_dbi policies_db;
	bool audit_dbs;                 /* false: a read-only open found none */
	MDB_dbi requests_db;
	bool requests_dbs;              /* false: a read-only open found none */
	MDB_dbi dedupe_db;              /* record id tags (dedupe) */
	MDB_dbi dedupe_age_db;          /* the same entries by broker time */
	uint64_t dedupe_window_ns;      /* atomic; 0: dedupe off */
	size_t max_key;                 /* LMDB's key size limit */
	/* Readers hold it shared for the life of their read transaction; the
	 * writer holds it exclusively to grow the map, which LMDB allows only
	 * while no transaction of this process is open. */
	pthread_rwlock_t resize_lock;
	bool resize_lock_ready;
	uint64_t map_size;              /* writer thread: the map's size now */
	/* Writer thread only. */
	uint32_t *tag_order;            /* dedupe scratch: record indexes, */
	uint64_t *tag_old;              /* and the time of each record's expired
					   entry (0: none), check to insert */
	size_t tag_cap;
	uint32_t next_stream_id;        /* 0 once every id is used */
	struct stream_cache cache;
};

/* ------------------------------------------------------------ bytes */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ------------------------------------------------------------ errors */

/* Map an LMDB or errno code to a GB_E... code. */
static int store_error(int rc)
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

/* Inside a write group only: the map is full. gb_store_write_group grows
 * the map and runs the group again; callers never see this code. */
#define STORE_MAP_FULL (-1000)

/* A failed write transaction is either "storage full" or "I/O error" (the
 * two outcomes gb_store_write_group documents), or, inside the group, a
 * full map. */
static int write_error(int rc)
{
	if (rc == MDB_MAP_FULL)
		return STORE_MAP_FULL;
	return store_error(rc) == GB_ENOSPC ? GB_ENOSPC : GB_EIO;
}

/* Free bytes under which a failed commit is taken for a full filesystem,
 * on top of twice what the commit was writing. */
#define STORE_FULL_MARGIN (1u << 20)

/* LMDB reports a short write, which is what a full filesystem gives it, as
 * EIO (mdb_page_flush: "short write, filesystem full?"). Ask the filesystem
 * before calling it an I/O error: with less room left than the commit was
 * writing plus a margin, it is "storage full" (507, not 500). */
static int commit_error(MDB_env *env, int rc, const gb_write *items, size_t n)
{
	const char *path = NULL;
	struct statvfs fs;
	uint64_t writing = 0;

	if (rc != EIO || mdb_env_get_path(env, &path) != 0 || !path ||
	    statvfs(path, &fs) != 0)
		return write_error(rc);
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

/* ------------------------------------------------------------ keys */

/* Length of a name field; GB_EINVAL when NULL, empty or too long. */
static int name_length(const char *name, size_t *len)
{
	size_t n;

	if (!name)
		return GB_EINVAL;
	n = strnlen(name, STORE_NAME_MAX + 1);
	if (n == 0 || n > STORE_NAME_MAX)
		return GB_EINVAL;
	*len = n;
	return 0;
}

/* Join `count` names with NUL separators into `out` (COMPOSITE_KEY_MAX
 * bytes). GB_EINVAL when a name is invalid or the key plus `suffix` more
 * bytes would exceed LMDB's key size limit. */
static int join_names(const gb_store *s, const char *const *names,
		      size_t count, size_t suffix, uint8_t *out, size_t *len)
{
	size_t used = 0;

	for (size_t i = 0; i < count; i++) {
		size_t n;

		if (name_length(names[i], &n) < 0)
			return GB_EINVAL;
		if (i > 0)
			out[used++] = 0;
		memcpy(out + used, names[i], n);
		used += n;
	}
	if (used + suffix > s->max_key)
		return GB_EINVAL;
	*len = used;
	return 0;
}

/* pseq key prefix "dataset \0 producer \0"; the u64be seq goes after it. */
static int pseq_prefix(const gb_store *s, const char *dataset,
		       const char *producer, uint8_t *key, size_t *len)
{
	const char *names[2] = {dataset, producer};
	size_t n;

	if (join_names(s, names, 2, 1 + SEQ_BYTES, key, &n) < 0)
		return GB_EINVAL;
	key[n] = 0;
	*len = n + 1;
	return 0;
}

/* cursors key "dept \0 dataset \0 name". */
static int cursor_key(const gb_store *s, const char *dept, const char *dataset,
		      const char *name, uint8_t *key, size_t *len)
{
	const char *names[3] = {dept, dataset, name};

	return join_names(s, names, 3, 0, key, len);
}

static void log_key(uint8_t key[LOG_KEY_BYTES], uint32_t stream_id,
		    uint64_t offset)
{
	put_be32(key, stream_id);
	put_be64(key + 4, offset);
}

/* ------------------------------------------------------------ streams db */

static void stream_encode(const struct stream_state *st,
			  uint8_t out[STREAM_VALUE_BYTES])
{
	put_be32(out, st->id);
	put_be64(out + 4, st->next_offset);
	put_be64(out + 12, st->batch_count);
	put_be64(out + 20, st->last_time_ns);
	memcpy(out + 28, st->head, GB_HASH_BYTES);
}

/* Decode a stream record; GB_ECORRUPT unless it is the right size and
 * self-consistent (every batch holds at least one record). */
static int stream_decode(const MDB_val *v, struct stream_state *st)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size != STREAM_VALUE_BYTES)
		return GB_ECORRUPT;
	st->id = get_be32(p);
	st->next_offset = get_be64(p + 4);
	st->batch_count = get_be64(p + 12);
	st->last_time_ns = get_be64(p + 20);
	memcpy(st->head, p + 28, GB_HASH_BYTES);
	if (st->id == 0 || st->batch_count > st->next_offset ||
	    (st->batch_count == 0) != (st->next_offset == 0))
		return GB_ECORRUPT;
	return 0;
}

/* Read the stream record of `dataset`. A dataset never written reads as
 * *exists == false with a zeroed state. */
static int stream_load(const gb_store *s, MDB_txn *txn, const char *dataset,
		       size_t len, struct stream_state *st, bool *exists)
{
	MDB_val k = {len, (void *)dataset}, v;
	int rc;

	memset(st, 0, sizeof *st);
	*exists = false;
	rc = mdb_get(txn, s->streams_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_error(rc);
	rc = stream_decode(&v, st);
	if (rc < 0)
		return rc;
	*exists = true;
	return 0;
}

/* ------------------------------------------------------------ cache */

static size_t cache_hash(const char *name, size_t len)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

static struct cache_entry *cache_slot(const struct stream_cache *c,
				      const char *name, size_t len)
{
	size_t i = cache_hash(name, len) & (c->cap - 1);

	for (;;) {
		struct cache_entry *e = &c->slots[i];

		if (!e->name || (e->name_len == len &&
				 memcmp(e->name, name, len) == 0))
			return e;
		i = (i + 1) & (c->cap - 1);
	}
}

static void cache_clear(struct stream_cache *c)
{
	for (size_t i = 0; i < c->cap; i++)
		free(c->slots[i].name);
	free(c->slots);
	memset(c, 0, sizeof *c);
}

/* The cached state of `name`, or NULL. */
static const struct stream_state *cache_find(const struct stream_cache *c,
					     const char *name, size_t len)
{
	const struct cache_entry *e;

	if (c->cap == 0)
		return NULL;
	e = cache_slot(c, name, len);
	return e->name ? &e->st : NULL;
}

static int cache_grow(struct stream_cache *c)
{
	size_t cap = c->cap ? c->cap * 2 : 16;
	struct stream_cache bigger = {calloc(cap, sizeof(struct cache_entry)),
				      cap, c->count};

	if (!bigger.slots)
		return GB_ENOMEM;
	for (size_t i = 0; i < c->cap; i++)
		if (c->slots[i].name)
			*cache_slot(&bigger, c->slots[i].name,
				    c->slots[i].name_len) = c->slots[i];
	free(c->slots);
	*c = bigger;
	return 0;
}

/* Insert or update the state of `name`. */
static int cache_store(struct stream_cache *c, const char *name, size_t len,
		       const struct stream_state *st)
{
	struct cache_entry *e;

	if (c->count >= STORE_CACHE_MAX)
		cache_clear(c);
	if ((c->count + 1) * 2 > c->cap && cache_grow(c) < 0)
		return GB_ENOMEM;
	e = cache_slot(c, name, len);
	if (!e->name) {
		e->name = malloc(len + 1);
		if (!e->name)
			return GB_ENOMEM;
		memcpy(e->name, name, len);
		e->name[len] = 0;
		e->name_len = len;
		c->count++;
	}
	e->st = *st;
	return 0;
}

/* ------------------------------------------------------------ pseq db */

/* Find the last seq stored under `prefix` (key = prefix || u64be seq) with
 * `cur`. Seeks just past the largest possible key of the prefix and steps
 * back; anything not carrying the prefix belongs to another producer. */
static int last_seq_find(MDB_cursor *cur, const uint8_t *prefix, size_t plen,
			 uint64_t *seq, bool *found)
{
	uint8_t kb[COMPOSITE_KEY_MAX];
	MDB_val k = {plen + SEQ_BYTES, kb}, v;
	int rc;

	*found = false;
	*seq = 0;
	memcpy(kb, prefix, plen);
	put_be64(kb + plen, UINT64_MAX);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && !(k.mv_size == plen + SEQ_BYTES &&
			 memcmp(k.mv_data, kb, k.mv_size) == 0))
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_error(rc);
	if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
		return 0;
	if (k.mv_size != plen + SEQ_BYTES)
		return GB_ECORRUPT;
	*seq = get_be64((const uint8_t *)k.mv_data + plen);
	*found = true;
	return 0;
}

/* ------------------------------------------------------------ log db */

/* Decode and check one log entry of stream `sid`. GB_ENOTFOUND when the key
 * belongs to another stream, GB_ECORRUPT when key or value is malformed. */
static int batch_decode(uint32_t sid, const MDB_val *k, const MDB_val *v,
			gb_stored_batch *b)
{
	const uint8_t *kp = k->mv_data;
	const uint8_t *vp = v->mv_data;

	if (k->mv_size != LOG_KEY_BYTES)
		return GB_ECORRUPT;
	if (get_be32(kp) != sid)
		return GB_ENOTFOUND;
	/* Empty batches are never stored, so a bare header is corrupt too. */
	if (v->mv_size <= GB_STORED_HEADER_BYTES)
		return GB_ECORRUPT;
	b->broker_time_ns = get_be64(vp);
	b->base_offset = get_be64(vp + 8);
	b->record_count = get_be32(vp + 16);
	b->chain_hash = vp + 20;
	b->signed_batch = vp + GB_STORED_HEADER_BYTES;
	b->signed_batch_len = v->mv_size - GB_STORED_HEADER_BYTES;
	if (b->base_offset != get_be64(kp + 4) || b->record_count == 0 ||
	    b->base_offset > UINT64_MAX - b->record_count)
		return GB_ECORRUPT;
	return 0;
}

/* Move `cur` by `op` and decode the entry it lands on. */
static int batch_step(MDB_cursor *cur, MDB_cursor_op op, uint32_t sid,
		      gb_stored_batch *b)
{
	MDB_val k, v;
	int rc = mdb_cursor_get(cur, &k, &v, op);

	if (rc == MDB_NOTFOUND)
		return GB_ENOTFOUND;
	if (rc)
		return store_error(rc);
	return batch_decode(sid, &k, &v, b);
}

/* Position `cur` on the first stored batch of stream `sid` whose key is
 * >= `offset`. GB_ENOTFOUND when there is none. */
static int batch_seek_range(MDB_cursor *cur, uint32_t sid, uint64_t offset,
			    gb_stored_batch *b)
{
	uint8_t kb[LOG_KEY_BYTES];
	MDB_val k = {sizeof kb, kb}, v;
	int rc;

	log_key(kb, sid, offset);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		return GB_ENOTFOUND;
	if (rc)
		return store_error(rc);
	return batch_decode(sid, &k, &v, b);
}

/* Position `cur` on the batch of stream `sid` that contains `offset`.
 * GB_ENOTFOUND when no stored batch does. */
static int batch_seek(MDB_cursor *cur, uint32_t sid, uint64_t offset,
		      gb_stored_batch *b)
{
	uint8_t kb[LOG_KEY_BYTES];
	MDB_val k = {sizeof kb, kb}, v;
	int rc;

	log_key(kb, sid, offset);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == sizeof kb &&
	    memcmp(k.mv_data, kb, sizeof kb) == 0)
		return batch_decode(sid, &k, &v, b);
	/* The batch holding `offset` starts before it: the previous key, or
	 * the last of the db when the seek ran off its end. */
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == MDB_NOTFOUND)
		return GB_ENOTFOUND;
	if (rc)
		return store_error(rc);
	rc = batch_decode(sid, &k, &v, b);
	if (rc < 0)
		return rc;
	if (b->base_offset > offset || offset - b->base_offset >= b->record_count)
		return GB_ENOTFOUND;
	return 0;
}

/* ------------------------------------------------------------ open/close */

/* Check the format record and load the stream id counter; on a fresh
 * environment write both. */
static int meta_init(gb_store *s, MDB_txn *txn, const char *dir)
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
			return store_error(rc);
		if (st.ms_entries != 0) {
			open_refused(dir, "streams are stored but the format "
					  "record is missing");
			return GB_ECORRUPT;
		}
		put_be32(be, STORE_FORMAT);
		v = (MDB_val){sizeof be, be};
		rc = mdb_put(txn, s->meta_db, &k, &v, 0);
		if (rc)
			return write_error(rc);
		put_be32(be, 1);
		k = (MDB_val){sizeof meta_next_id_key - 1, (void *)meta_next_id_key};
		rc = mdb_put(txn, s->meta_db, &k, &v, 0);
		if (rc)
			return write_error(rc);
		s->next_stream_id = 1;
		return 0;
	}
	if (rc)
		return store_error(rc);
	if (v.mv_size != 4) {
		open_refused(dir, "the format record is malformed");
		return GB_ECORRUPT;
	}
	if (get_be32(v.mv_data) != STORE_FORMAT) {
		snprintf(why, sizeof why,
			 "data format version %u, this broker reads version %u",
			 get_be32(v.mv_data), STORE_FORMAT);
		open_refused(dir, why);
		return GB_ECORRUPT;
	}
	k = (MDB_val){sizeof meta_next_id_key - 1, (void *)meta_next_id_key};
	rc = mdb_get(txn, s->meta_db, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return store_error(rc);
	if (rc == MDB_NOTFOUND || v.mv_size != 4) {
		open_refused(dir, "the stream id counter is missing or malformed");
		return GB_ECORRUPT;
	}
	s->next_stream_id = get_be32(v.mv_data);
	return 0;
}

/* Refuse a counter that would hand out a stream id the log already uses:
 * two datasets would share one log. Ids are allocated in order, so the
 * log's last key carries the largest id in use. */
static int check_counter(gb_store *s, MDB_txn *txn, const char *dir)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, s->log_db, &cur);
	if (rc)
		return store_error(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == MDB_NOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc) {
		rc = store_error(rc);
		goto out;
	}
	if (k.mv_size != LOG_KEY_BYTES ||
	    (s->next_stream_id != 0 &&
	     get_be32(k.mv_data) >= s->next_stream_id)) {
		open_refused(dir, "the stream id counter is behind the log");
		rc = GB_ECORRUPT;
	}
out:
	mdb_cursor_close(cur);
	return rc;
}

static int open_databases(gb_store *s, MDB_txn *txn)
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
			return store_error(rc);
	}
	return 0;
}

/* A zeroed store with its resize lock ready; NULL when out of memory. */
static gb_store *store_alloc(void)
{
	gb_store *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	if (pthread_rwlock_init(&s->resize_lock, NULL) != 0) {
		free(s);
		return NULL;
	}
	s->resize_lock_ready = true;
	return s;
}

int gb_store_open(const char *dir, uint64_t map_size, gb_store **out)
{
	gb_store *s = NULL;
	MDB_txn *txn = NULL;
	MDB_envinfo info;
	int dead;
	int rc;

	if (!dir || !*dir || !out)
		return GB_EINVAL;
	*out = NULL;
	if (map_size == 0)
		map_size = STORE_DEFAULT_MAP_SIZE;
	if (map_size > SIZE_MAX)
		return GB_EINVAL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		open_refused(dir, strerror(errno));
		return GB_EIO;
	}
	s = store_alloc();
	if (!s)
		return GB_ENOMEM;
	rc = mdb_env_create(&s->env);
	if (rc) {
		s->env = NULL;
		goto err_lmdb;
	}
	rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
	if (rc)
		goto err_lmdb;
	rc = mdb_env_set_mapsize(s->env, (size_t)map_size);
	if (rc)
		goto err_lmdb;
	/* MDB_NOTLS: read transactions are begun and ended per call and may
	 * run on any thread. */
	rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
	if (rc)
		goto err_lmdb;
	/* Free reader slots left by a crashed broker so they do not pin old
	 * pages forever. */
	rc = mdb_reader_check(s->env, &dead);
	if (rc)
		goto err_lmdb;
	s->max_key = (size_t)mdb_env_get_maxkeysize(s->env);
	/* A data file larger than the configured map keeps its size. */
	s->map_size = map_size;
	if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > map_size)
		s->map_size = info.me_mapsize;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		goto err_lmdb;
	rc = open_databases(s, txn);
	if (rc < 0)
		goto err;
	rc = meta_init(s, txn, dir);
	if (rc < 0)
		goto err;
	rc = check_counter(s, txn, dir);
	if (rc < 0)
		goto err;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		goto err_lmdb;
	*out = s;
	return 0;

err_lmdb:
	open_refused(dir, mdb_strerror(rc));
	rc = store_error(rc);
err:
	if (txn)
		mdb_txn_abort(txn);
	gb_store_close(&s);
	return rc;
}

void gb_store_close(gb_store **sp)
{
	gb_store *s;

	if (!sp || !*sp)
		return;
	s = *sp;
	if (s->env)
		mdb_env_close(s->env);
	cache_clear(&s->cache);
	free(s->tag_order);
	free(s->tag_old);
	if (s->resize_lock_ready)
		pthread_rwlock_destroy(&s->resize_lock);
	free(s);
	*sp = NULL;
}

/* ------------------------------------------------------------ writing */

/* State of one group commit. */
struct group {
	gb_store *s;
	MDB_txn *txn;
	MDB_cursor *pseq_cursor;
};

/* Record a per-item rejection; the group goes on. */
static int reject(gb_write *w, int err)
{
	w->result = err;
	return 0;
}

/* The item's seq is not above the producer's last: a retry of a stored
 * batch (acked with its original offset) or a conflict. */
static int resolve_old_seq(struct group *g, gb_write *w, uint8_t *key,
			   size_t plen)
{
	MDB_val k = {plen + SEQ_BYTES, key}, v;
	int rc;

	put_be64(key + plen, w->producer_seq);
	rc = mdb_get(g->txn, g->s->pseq_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return reject(w, GB_ECONFLICT);
	if (rc)
		return write_error(rc);
	if (v.mv_size != PSEQ_VALUE_BYTES)
		return reject(w, GB_ECORRUPT);
	/* The same seq with another record count is not a retry of the
	 * stored batch: acking it would report unstored records as durable. */
	if (get_be32((const uint8_t *)v.mv_data + 8) != w->record_count)
		return reject(w, GB_ECONFLICT);
	w->duplicate = true;
	w->base_offset = get_be64(v.mv_data);
	w->result = 0;
	return 0;
}

/* The stream head of `dataset` as this transaction sees it: from the cache,
 * else from the streams db. */
static int group_stream(struct group *g, const char *dataset, size_t len,
			struct stream_state *st, bool *exists)
{
	const struct stream_state *cached = cache_find(&g->s->cache, dataset, len);

	if (cached) {
		*st = *cached;
		*exists = true;
		return 0;
	}
	return stream_load(g->s, g->txn, dataset, len, st, exists);
}

/* A failed LMDB call inside the group ends it as "storage full" or "I/O
 * error"; `rc` is already a GB_E... code. */
static int group_failure(int rc)
{
	return rc == GB_ENOSPC ? GB_ENOSPC : GB_EIO;
}

/* Put the stored batch at (stream, base offset), writing it straight into
 * the page LMDB reserves. MDB_APPEND (fill pages, skip the search) is only
 * tried when `newest` says this stream has the largest id, so its keys are
 * the last of the db; LMDB checks that anyway and answers MDB_KEYEXIST. */
static int log_put(struct group *g, const struct stream_state *st,
		   bool newest, const gb_write *w, uint64_t time_ns,
		   const uint8_t hash[GB_HASH_BYTES])
{
	uint8_t kb[LOG_KEY_BYTES];
	MDB_val k = {sizeof kb, kb};
	MDB_val v = {GB_STORED_HEADER_BYTES + w->signed_batch_len, NULL};
	unsigned flags = MDB_RESERVE | MDB_NOOVERWRITE;
	uint8_t *p;
	int rc;

	log_key(kb, st->id, st->next_offset);
	rc = mdb_put(g->txn, g->s->log_db, &k, &v,
		     newest ? flags | MDB_APPEND : flags);
	if (rc == MDB_KEYEXIST && newest) {
		v = (MDB_val){GB_STORED_HEADER_BYTES + w->signed_batch_len, NULL};
		rc = mdb_put(g->txn, g->s->log_db, &k, &v, flags);
	}
	/* The head says this offset is free but the log holds it. */
	if (rc == MDB_KEYEXIST)
		return GB_ECORRUPT;
	if (rc)
		return write_error(rc);
	p = v.mv_data;
	put_be64(p, time_ns);
	put_be64(p + 8, st->next_offset);
	put_be32(p + 16, w->record_count);
	memcpy(p + 20, hash, GB_HASH_BYTES);
	memcpy(p + GB_STORED_HEADER_BYTES, w->signed_batch, w->signed_batch_len);
	return 0;
}

/* Write the new head of `dataset` and, for a new stream, the id counter. */
static int stream_put(struct group *g, const char *dataset, size_t len,
		      const struct stream_state *st, bool is_new)
{
	uint8_t val[STREAM_VALUE_BYTES];
	uint8_t be[4];
	MDB_val k = {len, (void *)dataset}, v = {sizeof val, val};
	int rc;

	stream_encode(st, val);
	rc = mdb_put(g->txn, g->s->streams_db, &k, &v, 0);
	if (rc)
		return write_error(rc);
	if (!is_new)
		return 0;
	g->s->next_stream_id++; /* 0 after UINT_MAX: every id is used */
	put_be32(be, g->s->next_stream_id);
	k = (MDB_val){sizeof meta_next_id_key - 1, (void *)meta_next_id_key};
	v = (MDB_val){sizeof be, be};
	rc = mdb_put(g->txn, g->s->meta_db, &k, &v, 0);
	return rc ? write_error(rc) : 0;
}

/* ------------------------------------------------------------ key epochs */

#define EPOCH_VALUE_BYTES (4 + 1 + 8 + 32)
#define EPOCH_LOG_VALUE_BYTES (8 + 32)

/* dataset \0 u32be epoch: the epoch_log key and the wraps key prefix. */
static int epoch_key(const char *dataset, uint32_t epoch, uint8_t *key,
		     size_t *len)
{
	size_t dlen;

	if (name_length(dataset, &dlen) < 0)
		return GB_EINVAL;
	memcpy(key, dataset, dlen);
	key[dlen] = '\0';
	put_be32(key + dlen + 1, epoch);
	*len = dlen + 5;
	return 0;
}

static int wrap_key(const char *dataset, uint32_t epoch, const char *recipient,
		    uint8_t *key, size_t *len)
{
	size_t rlen;

	if (epoch_key(dataset, epoch, key, len) < 0 ||
	    name_length(recipient, &rlen) < 0 || *len + rlen > 511)
		return GB_EINVAL;
	memcpy(key + *len, recipient, rlen);
	*len += rlen;
	return 0;
}

static int epoch_load(MDB_txn *txn, MDB_dbi dbi, const char *dataset,
		      gb_epoch_state *st)
{
	MDB_val k = {strlen(dataset), (void *)dataset}, v;
	const uint8_t *p;
	int rc;

	memset(st, 0, sizeof *st);
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_error(rc);
	if (v.mv_size != EPOCH_VALUE_BYTES)
		return GB_ECORRUPT;
	p = v.mv_data;
	st->current = get_be32(p);
	st->retired = p[4] != 0;
	st->created_ns = get_be64(p + 5);
	memcpy(st->commitment, p + 13, 32);
	return 0;
}

static int epoch_save(struct group *g, const char *dataset,
		      const gb_epoch_state *st)
{
	uint8_t val[EPOCH_VALUE_BYTES];
	MDB_val k = {strlen(dataset), (void *)dataset}, v = {sizeof val, val};
	int rc;

	put_be32(val, st->current);
	val[4] = st->retired ? 1 : 0;
	put_be64(val + 5, st->created_ns);
	memcpy(val + 13, st->commitment, 32);
	rc = mdb_put(g->txn, g->s->epochs_db, &k, &v, 0);
	return rc ? write_error(rc) : 0;
}

/* An APPEND with an epoch: 0 when it is the current, unretired epoch with
 * the same commitment; 1 after rejecting it; negative on failure. */
static int epoch_check(struct group *g, gb_write *w)
{
	gb_epoch_state st;
	int rc = epoch_load(g->txn, g->s->epochs_db, w->dataset, &st);

	if (rc == GB_ECORRUPT) {
		reject(w, rc);
		return 1;
	}
	if (rc < 0)
		return rc;
	if (st.current == 0 || st.current != w->key_epoch || st.retired ||
	    !w->key_commitment ||
	    memcmp(st.commitment, w->key_commitment, 32) != 0) {
		reject(w, GB_EEPOCH);
		return 1;
	}
	return 0;
}

/* Open epoch current + 1 and make it current. */
static int apply_epoch(struct group *g, gb_write *w)
{
	uint8_t key[COMPOSITE_KEY_MAX], val[EPOCH_LOG_VALUE_BYTES];
	gb_epoch_state st;
	size_t klen;
	MDB_val k, v;
	int rc;

	if (!w->key_commitment ||
	    epoch_key(w->dataset, w->key_epoch, key, &klen) < 0)
		return reject(w, GB_EINVAL);
	rc = epoch_load(g->txn, g->s->epochs_db, w->dataset, &st);
	if (rc == GB_ECORRUPT)
		return reject(w, rc);
	if (rc < 0)
		return group_failure(rc);
	/* At UINT32_MAX the next epoch would wrap to 0, "no epoch". */
	if (st.current == UINT32_MAX || w->key_epoch != st.current + 1)
		return reject(w, GB_EEPOCH);
	st.current = w->key_epoch;
	st.retired = false;
	st.created_ns = w->now_ns;
	memcpy(st.commitment, w->key_commitment, 32);
	rc = epoch_save(g, w->dataset, &st);
	if (rc < 0)
		return rc;
	put_be64(val, w->now_ns);
	memcpy(val + 8, w->key_commitment, 32);
	k = (MDB_val){klen, key};
	v = (MDB_val){sizeof val, val};
	rc = mdb_put(g->txn, g->s->epoch_log_db, &k, &v, 0);
	if (rc)
		return write_error(rc);
	w->result = 0;
	return 0;
}

/* Store a wrap of an existing epoch; the first wrap stored is kept. */
static int apply_wrap(struct group *g, gb_write *w)
{
	uint8_t key[COMPOSITE_KEY_MAX];
	size_t klen;
	MDB_val k, v;
	int rc;

	if (!w->wrap || w->wrap_len == 0 ||
	    epoch_key(w->dataset, w->key_epoch, key, &klen) < 0)
		return reject(w, GB_EINVAL);
	k = (MDB_val){klen, key};
	rc = mdb_get(g->txn, g->s->epoch_log_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return reject(w, GB_EEPOCH);
	if (rc)
		return write_error(rc);
	if (v.mv_size != EPOCH_LOG_VALUE_BYTES)
		return reject(w, GB_ECORRUPT);
	/* A wrap of another key than the epoch's could never be replaced
	 * (the first wrap is kept), so refuse it. */
	if (w->key_commitment &&
	    memcmp((const uint8_t *)v.mv_data + 8, w->key_commitment, 32) != 0)
		return reject(w, GB_EEPOCH);
	if (wrap_key(w->dataset, w->key_epoch, w->dept, key, &klen) < 0)
		return reject(w, GB_EINVAL);
	k = (MDB_val){klen, key};
	v = (MDB_val){w->wrap_len, (void *)w->wrap};
	rc = mdb_put(g->txn, g->s->wraps_db, &k, &v, MDB_NOOVERWRITE);
	if (rc && rc != MDB_KEYEXIST)
		return write_error(rc);
	w->result = 0;
	return 0;
}

/* Retire the current epoch so no further batch is accepted under it. */
static int apply_retire(struct group *g, gb_write *w)
{
	gb_epoch_state st;
	size_t dlen;
	int rc;

	/* Check the name first: epoch_load would take NULL to strlen and an
	 * empty or too long key to LMDB, failing the whole group. */
	if (name_length(w->dataset, &dlen) < 0)
		return reject(w, GB_EINVAL);
	rc = epoch_load(g->txn, g->s->epochs_db, w->dataset, &st);
	if (rc == GB_ECORRUPT)
		return reject(w, rc);
	if (rc < 0)
		return group_failure(rc);
	/* key_epoch 0 retires whatever epoch is current when this commits,
	 * so an epoch opened after the caller looked is not missed. */
	if (st.current != 0 && !st.retired &&
	    (w->key_epoch == 0 || st.current == w->key_epoch)) {
		st.retired = true;
		rc = epoch_save(g, w->dataset, &st);
		if (rc < 0)
			return rc;
	}
	w->result = 0;
	return 0;
}

/* Append w's batch (signed_batch, record_count) at the next offset of
 * stream w->dataset (`dlen` bytes), extend the chain, write the new head and
 * fill w's results. Shared by APPEND and AUDIT. Rejections land in
 * w->result and return 0, and are decided before the first put. */
static int stream_append(struct group *g, gb_write *w, size_t dlen)
{
	gb_store *s = g->s;
	uint8_t hash[GB_HASH_BYTES];
	struct stream_state st;
	uint64_t time_ns;
	bool exists, newest;
	int rc;

	rc = group_stream(g, w->dataset, dlen, &st, &exists);
	if (rc == GB_ECORRUPT)
		return reject(w, rc);
	if (rc < 0)
		return group_failure(rc);
	if (!exists) {
		if (s->next_stream_id == 0)
			return reject(w, GB_ENOSPC); /* every stream id is used */
		st.id = s->next_stream_id;
	}
	newest = !exists || st.id == (uint32_t)(s->next_stream_id - 1);
	/* Only a corrupt head can be this close to the limits. */
	if (st.next_offset > UINT64_MAX - w->record_count ||
	    st.last_time_ns == UINT64_MAX)
		return reject(w, GB_ECORRUPT);
	time_ns = w->now_ns > st.last_time_ns ? w->now_ns : st.last_time_ns + 1;
	gb_chain_next(st.head, st.next_offset, time_ns, w->signed_batch,
		      w->signed_batch_len, hash);

	rc = log_put(g, &st, newest, w, time_ns, hash);
	if (rc == GB_ECORRUPT)
		return reject(w, rc);
	if (rc < 0)
		return rc;

	w->base_offset = st.next_offset;
	w->broker_time_ns = time_ns;
	memcpy(w->chain_hash, hash, GB_HASH_BYTES);
	st.next_offset += w->record_count;
	st.batch_count++;
	st.last_time_ns = time_ns;
	memcpy(st.head, hash, GB_HASH_BYTES);
	rc = stream_put(g, w->dataset, dlen, &st, !exists);
	if (rc < 0)
		return rc;
	/* The cache only saves reads: if it cannot grow, start it afresh. */
	if (cache_store(&s->cache, w->dataset, dlen, &st) < 0)
		cache_clear(&s->cache);
	w->result = 0;
	return 0;
}

/* ------------------------------------------------------------ dedupe
 *
 *   dedupe      dataset \0 producer \0 tag[16] -> u64be broker time ||
 *               u64be offset of the record
 *   dedupe_age  u64be broker time || the dedupe key -> empty
 *
 * An entry counts while time + window > now; older ones are ignored on
 * lookup, replaced when the tag comes again, and removed a few hundred per
 * group from the front of dedupe_age (DESIGN §7). */

void gb_store_set_dedupe_window(gb_store *s, uint64_t window_ns)
{
	__atomic_store_n(&s->dedupe_window_ns, window_ns, __ATOMIC_RELAXED);
}

static uint64_t dedupe_window(const gb_store *s)
{
	return __atomic_load_n(&s->dedupe_window_ns, __ATOMIC_RELAXED);
}

static bool tag_set(const uint8_t *tag)
{
	return !sodium_is_zero(tag, TAG_BYTES);
}

/* An entry of time `t` still counts at `now`. */
static bool dedupe_live(uint64_t t, uint64_t now, uint64_t window)
{
	return t >= now || now - t < window;
}

/* Order record indexes by tag, then index (qsort_r). */
static int tag_order_cmp(const void *a, const void *b, void *ctx)
{
	const uint8_t *tags = ctx;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int c = memcmp(tags + (size_t)i * TAG_BYTES, tags + (size_t)j * TAG_BYTES,
		       TAG_BYTES);

	return c ? c : (i > j) - (i < j);
}

/* Look up the entry of `tag`, put after `key`'s prefix (`plen` bytes).
 * 1 with its time and offset, 0 when absent (both then 0). */
static int dedupe_get(struct group *g, uint8_t *key, size_t plen,
		      const uint8_t *tag, uint64_t *t, uint64_t *offset)
{
	MDB_val k = {plen + TAG_BYTES, key}, v;
	int rc;

	*t = 0;
	*offset = 0;
	memcpy(key + plen, tag, TAG_BYTES);
	rc = mdb_get(g->txn, g->s->dedupe_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return write_error(rc);
	if (v.mv_size != DEDUPE_VALUE_BYTES)
		return GB_ECORRUPT;
	*t = get_be64(v.mv_data);
	*offset = get_be64((const uint8_t *)v.mv_data + 8);
	return 1;
}

/* Which records of w were stored before (a live entry) or repeat an
 * earlier record of the batch: their indexes, ascending, in w->dup_records
 * and w->dup_count; *first_offset is where record 0 was stored when it is
 * one of them. */
static int dedupe_check(struct group *g, gb_write *w, uint8_t *key,
			size_t plen, uint64_t window, uint64_t *first_offset)
{
	gb_store *s = g->s;
	const uint8_t *tags = w->record_tags;
	uint32_t n = w->record_count, m = 0;
	uint32_t *order;
	int rc;

	if (s->tag_cap < n) {
		uint64_t *old = realloc(s->tag_old, (size_t)n * sizeof *old);

		if (old)
			s->tag_old = old;
		order = realloc(s->tag_order, (size_t)n * sizeof *order);
		if (order)
			s->tag_order = order;
		if (!old || !order)
			return GB_ENOMEM;
		s->tag_cap = n;
	}
	order = s->tag_order;
	memset(s->tag_old, 0, (size_t)n * sizeof *s->tag_old);
	/* dup_records doubles as the "is a duplicate" mark until the end. */
	memset(w->dup_records, 0, (size_t)n * sizeof *w->dup_records);
	for (uint32_t i = 0; i < n; i++)
		if (tag_set(tags + (size_t)i * TAG_BYTES))
			order[m++] = i;
	qsort_r(order, m, sizeof *order, tag_order_cmp, (void *)tags);
	for (uint32_t k = 0; k < m; k++) {
		uint32_t i = order[k];
		uint64_t t, off;

		if (k > 0 && memcmp(tags + (size_t)order[k - 1] * TAG_BYTES,
				    tags + (size_t)i * TAG_BYTES, TAG_BYTES) == 0) {
			w->dup_records[i] = 1; /* repeats a record before it */
			continue;
		}
		rc = dedupe_get(g, key, plen, tags + (size_t)i * TAG_BYTES, &t,
				&off);
		if (rc < 0)
			return rc;
		if (rc == 1 && dedupe_live(t, w->now_ns, window)) {
			w->dup_records[i] = 1;
			if (i == 0)
				*first_offset = off;
		} else if (rc == 1) {
			s->tag_old[i] = t; /* insert replaces it */
		}
	}
	w->dup_count = 0;
	for (uint32_t i = 0; i < n; i++)
		if (w->dup_records[i])
			w->dup_records[w->dup_count++] = i;
	return 0;
}

/* Enter the tags of a batch stored at `base` at broker time `t`, right
 * after dedupe_check found none of them live (its tag_old says which
 * expired entries they replace). */
static int dedupe_insert(struct group *g, const gb_write *w, uint8_t *key,
			 size_t plen, uint64_t t, uint64_t base)
{
	uint8_t val[DEDUPE_VALUE_BYTES], age[COMPOSITE_KEY_MAX + 8 + TAG_BYTES];
	MDB_val k, v;
	int rc;

	for (uint32_t i = 0; i < w->record_count; i++) {
		const uint8_t *tag = w->record_tags + (size_t)i * TAG_BYTES;
		uint64_t old_t = g->s->tag_old[i];

		if (!tag_set(tag))
			continue;
		memcpy(key + plen, tag, TAG_BYTES);
		if (old_t && old_t != t) {
			/* An expired entry is replaced: drop its age key. */
			put_be64(age, old_t);
			memcpy(age + 8, key, plen + TAG_BYTES);
			k = (MDB_val){8 + plen + TAG_BYTES, age};
			rc = mdb_del(g->txn, g->s->dedupe_age_db, &k, NULL);
			if (rc && rc != MDB_NOTFOUND)
				return write_error(rc);
		}
		put_be64(val, t);
		put_be64(val + 8, base + i);
		k = (MDB_val){plen + TAG_BYTES, key};
		v = (MDB_val){sizeof val, val};
		rc = mdb_put(g->txn, g->s->dedupe_db, &k, &v, 0);
		if (rc)
			return write_error(rc);
		put_be64(age, t);
		memcpy(age + 8, key, plen + TAG_BYTES);
		k = (MDB_val){8 + plen + TAG_BYTES, age};
		v = (MDB_val){0, age};
		rc = mdb_put(g->txn, g->s->dedupe_age_db, &k, &v, 0);
		if (rc)
			return write_error(rc);
	}
	return 0;
}

/* Remove up to `limit` entries that no longer count at `now`, oldest
 * first. A malformed age key has nothing to keep it for and goes too. */
static int dedupe_prune(struct group *g, uint64_t now, uint64_t window,
			size_t limit)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(g->txn, g->s->dedupe_age_db, &cur);
	if (rc)
		return write_error(rc);
	for (size_t done = 0; done < limit; done++) {
		MDB_val dk, dv;
		uint64_t t = 0;

		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc)
			break;
		if (k.mv_size > 8) {
			t = get_be64(k.mv_data);
			if (dedupe_live(t, now, window))
				break;
			/* Only the entry of this time: a newer one replaced
			 * it. */
			dk = (MDB_val){k.mv_size - 8, (uint8_t *)k.mv_data + 8};
			if (mdb_get(g->txn, g->s->dedupe_db, &dk, &dv) == 0 &&
			    dv.mv_size == DEDUPE_VALUE_BYTES &&
			    get_be64(dv.mv_data) == t) {
				rc = mdb_del(g->txn, g->s->dedupe_db, &dk, NULL);
				if (rc)
					break;
			}
		}
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc && rc != MDB_NOTFOUND ? write_error(rc) : 0;
}

/* A batch all of whose records were stored before: use its seq, pointing
 * at where its first record is, and store nothing else. */
static int dedupe_consume_seq(struct group *g, gb_write *w, uint8_t *key,
			      size_t plen, uint64_t first_offset)
{
	uint8_t pseq_val[PSEQ_VALUE_BYTES];
	MDB_val k, v;
	int rc;

	put_be64(key + plen, w->producer_seq);
	put_be64(pseq_val, first_offset);
	put_be32(pseq_val + 8, w->record_count);
	k = (MDB_val){plen + SEQ_BYTES, key};
	v = (MDB_val){sizeof pseq_val, pseq_val};
	rc = mdb_put(g->txn, g->s->pseq_db, &k, &v, 0);
	if (rc)
		return write_error(rc);
	w->duplicate = true;
	w->base_offset = first_offset;
	w->result = 0;
	return 0;
}

/* Apply one APPEND item. Rejections land in w->result and return 0; a
 * negative return is a transaction failure that ends the group. Every
 * rejection is decided before the first put, so a rejected item leaves
 * nothing behind in the transaction. */
static int apply_append(struct group *g, gb_write *w)
{
	gb_store *s = g->s;
	uint8_t key[COMPOSITE_KEY_MAX];
	uint8_t pseq_val[PSEQ_VALUE_BYTES];
	size_t plen, dlen;
	uint64_t last_seq, window;
	bool have_last;
	MDB_val k, v;
	int rc;

	/* Seqs start at 1: gb_store_last_seq answers 0 for "none". */
	if (pseq_prefix(s, w->dataset, w->producer, key, &plen) < 0 ||
	    !w->signed_batch || w->signed_batch_len == 0 ||
	    w->signed_batch_len > SIZE_MAX - GB_STORED_HEADER_BYTES ||
	    w->record_count == 0 || w->producer_seq == 0 ||
	    (w->record_tags && (!w->dup_records ||
				8 + plen + TAG_BYTES > s->max_key)))
		return reject(w, GB_EINVAL);
	dlen = strlen(w->dataset);

	rc = last_seq_find(g->pseq_cursor, key, plen, &last_seq, &have_last);
	if (rc == GB_ECORRUPT)
		return reject(w, rc);
	if (rc < 0)
		return group_failure(rc);
	if (have_last && w->producer_seq <= last_seq)
		return resolve_old_seq(g, w, key, plen);
	/* Only the next seq may be stored: a pipelined batch that overtook
	 * a failed one would otherwise make the failed one unstorable. */
	if (w->producer_seq != (have_last ? last_seq + 1 : 1))
		return reject(w, GB_ECONFLICT);
	if (w->key_epoch != 0) {
		rc = epoch_check(g, w);
		if (rc != 0)
			return rc < 0 ? group_failure(rc) : 0;
	}
	window = w->record_tags ? dedupe_window(s) : 0;
	if (window) {
		uint64_t first_offset = 0;

		rc = dedupe_check(g, w, key, plen, window, &first_offset);
		if (rc == GB_ECORRUPT)
			return reject(w, rc);
		if (rc < 0)
			return rc == GB_ENOMEM ? GB_EIO : rc;
		if (w->dup_count == w->record_count)
			return dedupe_consume_seq(g, w, key, plen, first_offset);
		if (w->dup_count)
			return reject(w, GB_EDUPLICATE);
	}

	rc = stream_append(g, w, dlen);
	if (rc < 0 || w->result != 0)
		return rc;
	if (window) {
		rc = dedupe_insert(g, w, key, plen, w->broker_time_ns,
				   w->base_offset);
		if (rc < 0)
			return rc;
	}

	put_be64(key + plen, w->producer_seq);
	put_be64(pseq_val, w->base_offset);
	put_be32(pseq_val + 8, w->record_count);
	k = (MDB_val){plen + SEQ_BYTES, key};
	v = (MDB_val){sizeof pseq_val, pseq_val};
	rc = mdb_put(g->txn, s->pseq_db, &k, &v, 0);
	if (rc)
		return write_error(rc);
	return 0;
}

/* Write kinds applied by the audit and catalog sections at the end. */
static int apply_audit(struct group *g, gb_write *w);
static int apply_checkpoint(struct group *g, gb_write *w);
static int apply_policy(struct group *g, gb_write *w);
static int apply_request(struct group *g, gb_write *w);

/* Apply one CURSOR item: upsert the durable cursor. */
static int apply_cursor(struct group *g, gb_write *w)
{
	uint8_t key[COMPOSITE_KEY_MAX];
	uint8_t val[CURSOR_VALUE_BYTES];
	size_t klen;
	MDB_val k, v;
	int rc;

	if (cursor_key(g->s, w->dept, w->dataset, w->cursor_name, key, &klen) < 0)
		return reject(w, GB_EINVAL);
	put_be64(val, w->cursor_next);
	k = (MDB_val){klen, key};
	v = (MDB_val){sizeof val, val};
	rc = mdb_put(g->txn, g->s->cursors_db, &k, &v, 0);
	if (rc)
		return write_error(rc);
	w->result = 0;
	return 0;
}

static void clear_results(gb_write *w, int result)
{
	w->result = result;
	w->duplicate = false;
	w->dup_count = 0;
	w->base_offset = 0;
	w->broker_time_ns = 0;
	memset(w->chain_hash, 0, GB_HASH_BYTES);
	w->stored_id = 0;
}

/* Apply one item of any kind; see apply_append for the return rule. */
static int apply_item(struct group *g, gb_write *w)
{
	int rc;

	if (w->kind == GB_WRITE_APPEND)
		rc = apply_append(g, w);
	else if (w->kind == GB_WRITE_CURSOR)
		rc = apply_cursor(g, w);
	else if (w->kind == GB_WRITE_EPOCH)
		rc = apply_epoch(g, w);
	else if (w->kind == GB_WRITE_WRAP)
		rc = apply_wrap(g, w);
	else if (w->kind == GB_WRITE_RETIRE)
		rc = apply_retire(g, w);
	else if (w->kind == GB_WRITE_AUDIT)
		rc = apply_audit(g, w);
	else if (w->kind == GB_WRITE_CHECKPOINT)
		rc = apply_checkpoint(g, w);
	else if (w->kind == GB_WRITE_POLICY)
		rc = apply_policy(g, w);
	else if (w->kind == GB_WRITE_REQUEST)
		rc = apply_request(g, w);
	else
		rc = reject(w, GB_EINVAL);
	return rc;
}

/* Apply `n` items as one unit in a nested transaction: all of them, or, if
 * any is rejected, none (each then reports the first rejection). Units may
 * not hold APPENDs, whose pseq cursor belongs to the parent transaction. */
static int apply_unit(struct group *g, gb_write *items, size_t n)
{
	MDB_txn *parent = g->txn, *child = NULL;
	int first = 0, rc;

	for (size_t i = 0; i < n; i++)
		if (items[i].kind == GB_WRITE_APPEND) {
			for (size_t j = 0; j < n; j++)
				reject(&items[j], GB_EINVAL);
			return 0;
		}
	rc = mdb_txn_begin(g->s->env, parent, 0, &child);
	if (rc)
		return write_error(rc);
	g->txn = child;
	for (size_t i = 0; i < n && first == 0; i++) {
		rc = apply_item(g, &items[i]);
		if (rc < 0) {
			mdb_txn_abort(child);
			g->txn = parent;
			return rc;
		}
		first = items[i].result;
	}
	g->txn = parent;
	if (first != 0) {
		mdb_txn_abort(child);
		for (size_t i = 0; i < n; i++)
			clear_results(&items[i], first);
		return 0;
	}
	rc = mdb_txn_commit(child);
	return rc ? write_error(rc) : 0;
}


/* Double the map (up to STORE_MAP_MAX). LMDB allows it only while this
 * process has no transaction open: the exclusive lock waits for readers to
 * end theirs and keeps new ones out. GB_ENOSPC when it cannot grow. */
static int map_grow(gb_store *s)
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

/* Remove expired dedupe entries, more than the group can add. */
static int group_prune(struct group *g, const gb_write *items, size_t n)
{
	uint64_t now = 0;
	size_t limit = DEDUPE_PRUNE_BASE;

	for (size_t i = 0; i < n; i++) {
		if (items[i].now_ns > now)
			now = items[i].now_ns;
		if (items[i].kind == GB_WRITE_APPEND && items[i].record_tags)
			limit += 2 * (size_t)items[i].record_count;
	}
	return dedupe_prune(g, now, dedupe_window(g->s), limit);
}

/* One attempt at the group: apply every item, commit and sync. */
static int write_group_once(gb_store *s, gb_write *items, size_t n)
{
	struct group g = {s, NULL, NULL};
	uint32_t saved_next_id = s->next_stream_id;
	int rc;

	for (size_t i = 0; i < n; i++)
		clear_results(&items[i], 0);
	rc = mdb_txn_begin(s->env, NULL, 0, &g.txn);
	if (rc) {
		g.txn = NULL;
		rc = write_error(rc);
		goto err;
	}
	rc = mdb_cursor_open(g.txn, s->pseq_db, &g.pseq_cursor);
	if (rc) {
		g.pseq_cursor = NULL;
		rc = write_error(rc);
		goto err;
	}
	rc = group_prune(&g, items, n);
	if (rc < 0)
		goto err;
	for (size_t i = 0; i < n;) {
		size_t len = items[i].unit_len > 1 ? items[i].unit_len : 1;

		if (len > n - i)
			len = n - i;
		rc = len == 1 ? apply_item(&g, &items[i])
			      : apply_unit(&g, &items[i], len);
		if (rc < 0)
			goto err;
		i += len;
	}
	mdb_cursor_close(g.pseq_cursor);
	g.pseq_cursor = NULL;
	/* Commit writes and fdatasyncs; on failure LMDB frees the txn and
	 * nothing of it is durable, so the items must not be acked. */
	rc = mdb_txn_commit(g.txn);
	g.txn = NULL;
	if (rc) {
		rc = commit_error(s->env, rc, items, n);
		goto err;
	}
	return 0;

err:
	if (g.pseq_cursor)
		mdb_cursor_close(g.pseq_cursor);
	if (g.txn)
		mdb_txn_abort(g.txn);
	/* The cache and counter may hold this transaction's changes. */
	cache_clear(&s->cache);
	s->next_stream_id = saved_next_id;
	return rc;
}

int gb_store_write_group(gb_store *s, gb_write *items, size_t n)
{
	int rc;

	if (!s || (!items && n > 0))
		return GB_EINVAL;
	if (n == 0)
		return 0;
	/* MDB_MAP_FULL is handled by growing the map: nothing of the failed
	 * attempt was stored, so the group simply runs again. */
	while ((rc = write_group_once(s, items, n)) == STORE_MAP_FULL) {
		rc = map_grow(s);
		if (rc < 0)
			break;
	}
	if (rc < 0)
		for (size_t i = 0; i < n; i++)
			clear_results(&items[i], rc);
	return rc;
}

uint64_t gb_store_map_size(const gb_store *s)
{
	return s->map_size;
}

/* ------------------------------------------------------------ reading */

static int read_begin(gb_store *s, MDB_txn **txn)
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
		return store_error(rc);
	}
	return 0;
}

/* End a read transaction begun by read_begin. */
static void read_end(gb_store *s, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->resize_lock);
}

/* Begin a read transaction and load the stream of `dataset`. */
static int read_stream(gb_store *s, const char *dataset, MDB_txn **txn,
		       struct stream_state *st, bool *exists)
{
	size_t len;
	int rc;

	*txn = NULL;
	if (!s || name_length(dataset, &len) < 0)
		return GB_EINVAL;
	rc = read_begin(s, txn);
	if (rc < 0)
		return rc;
	rc = stream_load(s, *txn, dataset, len, st, exists);
	if (rc < 0) {
		read_end(s, *txn);
		*txn = NULL;
	}
	return rc;
}

int gb_store_stream_info(gb_store *s, const char *dataset, gb_stream_info *out)
{
	struct stream_state st;
	MDB_txn *txn;
	bool exists;
	int rc;

	if (!out)
		return GB_EINVAL;
	rc = read_stream(s, dataset, &txn, &st, &exists);
	if (rc < 0)
		return rc;
	read_end(s, txn);
	out->next_offset = st.next_offset;
	out->batch_count = st.batch_count;
	out->last_time_ns = st.last_time_ns;
	memcpy(out->head_hash, st.head, GB_HASH_BYTES);
	return 0;
}

int gb_store_last_seq(gb_store *s, const char *dataset, const char *producer,
		      uint64_t *seq)
{
	uint8_t prefix[COMPOSITE_KEY_MAX];
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	size_t plen;
	bool found;
	int rc;

	if (!s || !seq ||
	    pseq_prefix(s, dataset, producer, prefix, &plen) < 0)
		return GB_EINVAL;
	rc = read_begin(s, &txn);
	if (rc < 0)
		return rc;
	rc = mdb_cursor_open(txn, s->pseq_db, &cur);
	if (rc) {
		cur = NULL;
		rc = store_error(rc);
		goto out;
	}
	rc = last_seq_find(cur, prefix, plen, seq, &found);
out:
	if (cur)
		mdb_cursor_close(cur);
	read_end(s, txn);
	return rc;
}

int gb_store_offset_for_time(gb_store *s, const char *dataset,
			     uint64_t time_ns, uint64_t *offset)
{
	struct stream_state st;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	gb_stored_batch b = {0};
	uint64_t lo = 0, hi;
	bool exists;
	int rc;

	if (!offset)
		return GB_EINVAL;
	rc = read_stream(s, dataset, &txn, &st, &exists);
	if (rc < 0)
		return rc;
	rc = mdb_cursor_open(txn, s->log_db, &cur);
	if (rc) {
		cur = NULL;
		rc = store_error(rc);
		goto out;
	}
	/* Times rise with offsets, so bisect offsets. Invariant: every batch
	 * ending at or before lo is older than time_ns; hi is next_offset or
	 * the base of a batch at least that new. Each step moves lo past mid
	 * or hi to at most mid, so even a corrupt log cannot loop. */
	hi = st.next_offset;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		rc = batch_seek(cur, st.id, mid, &b);
		if (rc == GB_ENOTFOUND)
			rc = GB_ECORRUPT; /* the head promises this offset */
		if (rc < 0)
			goto out;
		if (b.broker_time_ns >= time_ns)
			hi = b.base_offset;
		else
			lo = b.base_offset + b.record_count;
	}
	*offset = hi;
	rc = 0;
out:
	if (cur)
		mdb_cursor_close(cur);
	read_end(s, txn);
	return rc;
}

int gb_store_read(gb_store *s, const char *dataset, uint64_t offset,
		  size_t max_batches, gb_store_batch_fn fn, void *ctx)
{
	struct stream_state st;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	gb_stored_batch b = {0};
	size_t visited = 0;
	bool exists;
	int rc;

	if (!fn)
		return GB_EINVAL;
	rc = read_stream(s, dataset, &txn, &st, &exists);
	if (rc < 0)
		return rc;
	if (offset >= st.next_offset || max_batches == 0)
		goto out;
	if (max_batches > INT_MAX)
		max_batches = INT_MAX; /* the count is returned as an int */
	rc = mdb_cursor_open(txn, s->log_db, &cur);
	if (rc) {
		cur = NULL;
		rc = store_error(rc);
		goto out;
	}
	rc = batch_seek(cur, st.id, offset, &b);
	for (;;) {
		uint64_t end;

		/* Below next_offset every offset is promised by the head. */
		if (rc == GB_ENOTFOUND)
			rc = GB_ECORRUPT;
		if (rc < 0)
			goto out;
		rc = fn(ctx, &b);
		visited++;
		if (rc < 0)
			goto out;
		end = b.base_offset + b.record_count;
		if (rc > 0 || visited == max_batches || end >= st.next_offset)
			break;
		rc = batch_step(cur, MDB_NEXT, st.id, &b);
		if (rc == 0 && b.base_offset != end)
			rc = GB_ECORRUPT;
	}
	rc = 0;
out:
	if (cur)
		mdb_cursor_close(cur);
	read_end(s, txn);
	return rc < 0 ? rc : (int)visited;
}

int gb_store_cursor_get(gb_store *s, const char *dept, const char *dataset,
			const char *name, uint64_t *next_offset)
{
	uint8_t key[COMPOSITE_KEY_MAX];
	MDB_txn *txn;
	MDB_val k, v;
	size_t klen;
	int rc;

	if (!s || !next_offset ||
	    cursor_key(s, dept, dataset, name, key, &klen) < 0)
		return GB_EINVAL;
	rc = read_begin(s, &txn);
	if (rc < 0)
		return rc;
	k = (MDB_val){klen, key};
	rc = mdb_get(txn, s->cursors_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = GB_ENOTFOUND;
	else if (rc)
		rc = store_error(rc);
	else if (v.mv_size != CURSOR_VALUE_BYTES)
		rc = GB_ECORRUPT;
	else
		*next_offset = get_be64(v.mv_data);
	read_end(s, txn);
	return rc;
}

int gb_store_verify_stream(gb_store *s, const char *dataset,
			   uint64_t *bad_offset)
{
	struct stream_state st;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	gb_stored_batch b = {0};
	uint8_t head[GB_HASH_BYTES] = {0};
	uint64_t expected = 0, batches = 0, last_time = 0;
	bool exists;
	int rc;

	rc = read_stream(s, dataset, &txn, &st, &exists);
	if (rc == GB_ECORRUPT) {
		expected = 0; /* the head itself is bad */
		goto corrupt;
	}
	if (rc < 0)
		return rc;
	if (!exists)
		goto out;
	rc = mdb_cursor_open(txn, s->log_db, &cur);
	if (rc) {
		cur = NULL;
		rc = store_error(rc);
		goto out;
	}
	for (rc = batch_seek_range(cur, st.id, 0, &b); rc == 0;
	     rc = batch_step(cur, MDB_NEXT, st.id, &b)) {
		uint8_t h[GB_HASH_BYTES];

		if (b.base_offset != expected)
			goto corrupt;
		gb_chain_next(head, b.base_offset, b.broker_time_ns,
			      b.signed_batch, b.signed_batch_len, h);
		if (b.broker_time_ns <= last_time ||
		    memcmp(h, b.chain_hash, GB_HASH_BYTES) != 0)
			goto corrupt;
		memcpy(head, h, GB_HASH_BYTES);
		last_time = b.broker_time_ns;
		expected += b.record_count;
		batches++;
	}
	if (rc == GB_ECORRUPT)
		goto corrupt; /* a malformed entry where `expected` should be */
	if (rc != GB_ENOTFOUND)
		goto out;
	/* The log is sound; the head must describe exactly its end. */
	if (expected != st.next_offset || batches != st.batch_count ||
	    last_time != st.last_time_ns ||
	    memcmp(head, st.head, GB_HASH_BYTES) != 0)
		goto corrupt;
	rc = 0;
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		read_end(s, txn);
	return rc;

corrupt:
	if (bad_offset)
		*bad_offset = expected;
	rc = GB_ECORRUPT;
	goto out;
}

int gb_store_epoch_get(gb_store *s, const char *dataset, gb_epoch_state *out)
{
	MDB_txn *txn;
	size_t dlen;
	int rc;

	memset(out, 0, sizeof *out);
	if (!s || name_length(dataset, &dlen) < 0)
		return GB_EINVAL;
	rc = read_begin(s, &txn);
	if (rc)
		return rc;
	rc = epoch_load(txn, s->epochs_db, dataset, out);
	read_end(s, txn);
	return rc;
}

int gb_store_wrap_get(gb_store *s, const char *dataset, uint32_t epoch,
		      const char *recipient, uint8_t **out, size_t *len)
{
	uint8_t key[COMPOSITE_KEY_MAX];
	size_t klen;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (out)
		*out = NULL;
	if (!s || wrap_key(dataset, epoch, recipient, key, &klen) < 0)
		return GB_EINVAL;
	rc = read_begin(s, &txn);
	if (rc)
		return rc;
	k = (MDB_val){klen, key};
	rc = mdb_get(txn, s->wraps_db, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = GB_ENOTFOUND;
	} else if (rc) {
		rc = store_error(rc);
	} else if (out) {
		*out = malloc(v.mv_size ? v.mv_size : 1);
		if (!*out) {
			rc = GB_ENOMEM;
		} else {
			memcpy(*out, v.mv_data, v.mv_size);
			*len = v.mv_size;
		}
	}
	read_end(s, txn);
	return rc;
}

/* ------------------------------------------------------------ audit
 *
 * The audit trail, signed checkpoints and policy snapshots (gb_store.h). The
 * writers follow the group rules above; the readers hand raw values to an
 * auditor's verifier, bounded but not judged. */

#define CHECKPOINT_VALUE_MAX 4096      /* a SignedCheckpoint is ~200 bytes */
#define POLICY_VALUE_MAX (64u << 20)   /* configs are at most 4 MiB */

/* checkpoints key "stream \0 u64be next_offset". */
static int checkpoint_key(const gb_store *s, const char *stream,
			  uint64_t offset, uint8_t *key, size_t *len)
{
	const char *names[1] = {stream};
	size_t n;

	if (join_names(s, names, 1, 1 + SEQ_BYTES, key, &n) < 0)
		return GB_EINVAL;
	key[n] = 0;
	put_be64(key + n + 1, offset);
	*len = n + 1 + SEQ_BYTES;
	return 0;
}

static int apply_audit(struct group *g, gb_write *w)
{
	size_t dlen;

	if (name_length(w->dataset, &dlen) < 0 || !w->signed_batch ||
	    w->signed_batch_len == 0 ||
	    w->signed_batch_len > SIZE_MAX - GB_STORED_HEADER_BYTES ||
	    w->record_count == 0)
		return reject(w, GB_EINVAL);
	return stream_append(g, w, dlen);
}

/* Store a checkpoint; it may only cover what the stream holds (including
 * appends earlier in this group). */
static int apply_checkpoint(struct group *g, gb_write *w)
{
	uint8_t key[COMPOSITE_KEY_MAX];
	struct stream_state st;
	size_t klen, dlen;
	bool exists;
	MDB_val k, v;
	int rc;

	if (name_length(w->dataset, &dlen) < 0 || !w->value ||
	    w->value_len == 0 || w->value_len > CHECKPOINT_VALUE_MAX ||
	    checkpoint_key(g->s, w->dataset, w->checkpoint_offset, key, &klen) < 0)
		return reject(w, GB_EINVAL);
	rc = group_stream(g, w->dataset, dlen, &st, &exists);
	if (rc == GB_ECORRUPT)
		return reject(w, rc);
	if (rc < 0)
		return group_failure(rc);
	if (w->checkpoint_offset > st.next_offset)
		return reject(w, GB_EINVAL);
	k = (MDB_val){klen, key};
	v = (MDB_val){w->value_len, (void *)w->value};
	rc = mdb_put(g->txn, g->s->checkpoints_db, &k, &v, 0);
	if (rc)
		return write_error(rc);
	w->result = 0;
	return 0;
}

/* Decode a policies value: u32be n || n x u64be || config. */
static int policy_decode(const MDB_val *v, uint32_t *n, const uint8_t **loads,
			 const uint8_t **config, size_t *config_len)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size < 4)
		return GB_ECORRUPT;
	*n = get_be32(p);
	if (*n == 0 || (v->mv_size - 4) / 8 < *n)
		return GB_ECORRUPT;
	*loads = p + 4;
	*config = p + 4 + (size_t)*n * 8;
	*config_len = v->mv_size - 4 - (size_t)*n * 8;
	return 0;
}

/* Record one load of a config: create its record, or append the time. */
static int apply_policy(struct group *g, gb_write *w)
{
	uint8_t hash[GB_HASH_BYTES], *val;
	const uint8_t *loads = NULL, *config = NULL;
	size_t config_len = 0, size;
	uint32_t n = 0;
	MDB_val k, v;
	int rc;

	if (!w->policy_hash || (!w->value && w->value_len) ||
	    w->value_len > POLICY_VALUE_MAX)
		return reject(w, GB_EINVAL);
	crypto_generichash(hash, sizeof hash, w->value, w->value_len, NULL, 0);
	if (sodium_memcmp(hash, w->policy_hash, sizeof hash) != 0)
		return reject(w, GB_EINVAL);
	k = (MDB_val){GB_HASH_BYTES, hash};
	rc = mdb_get(g->txn, g->s->policies_db, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return write_error(rc);
	if (rc == 0) {
		if (policy_decode(&v, &n, &loads, &config, &config_len) < 0 ||
		    config_len != w->value_len ||
		    (config_len && memcmp(config, w->value, config_len) != 0) ||
		    n == UINT32_MAX)
			return reject(w, GB_ECORRUPT);
		if (get_be64(loads + (size_t)(n - 1) * 8) == w->now_ns) {
			w->result = 0; /* the same load, recorded twice */
			return 0;
		}
	}
	size = 4 + ((size_t)n + 1) * 8 + w->value_len;
	val = malloc(size);
	if (!val)
		return GB_EIO; /* ends the group like any failed put */
	put_be32(val, n + 1);
	if (n)
		memcpy(val + 4, loads, (size_t)n * 8);
	put_be64(val + 4 + (size_t)n * 8, w->now_ns);
	if (w->value_len)
		memcpy(val + 4 + ((size_t)n + 1) * 8, w->value, w->value_len);
	v = (MDB_val){size, val};
	rc = mdb_put(g->txn, g->s->policies_db, &k, &v, 0);
	free(val);
	if (rc)
		return write_error(rc);
	w->result = 0;
	return 0;
}

/* Open the named databases a reader needs: the required ones make a govbus
 * log; the others came later, so a data dir written before them lacks them
 * (counted in *missing). Returns 0 or an LMDB code, MDB_NOTFOUND when a
 * required one is absent. */
static int open_databases_readonly(gb_store *s, MDB_txn *txn,
				   unsigned *missing)
{
	const struct {
		const char *name;
		MDB_dbi *dbi;
		bool required;
	} dbs[] = {
		{"streams", &s->streams_db, true},
		{"log", &s->log_db, true},
		{"meta", &s->meta_db, true},
		{"checkpoints", &s->checkpoints_db, false},
		{"policies", &s->policies_db, false},
	};

	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		int rc = mdb_dbi_open(txn, dbs[i].name, 0, dbs[i].dbi);

		if (rc == MDB_NOTFOUND && !dbs[i].required) {
			(*missing)++;
			continue;
		}
		if (rc)
			return rc;
	}
	return 0;
}

int gb_store_open_readonly(const char *dir, gb_store **out)
{
	gb_store *s = NULL;
	MDB_txn *txn = NULL;
	MDB_val k = {sizeof meta_format_key - 1, (void *)meta_format_key}, v;
	unsigned missing = 0;
	int rc;

	if (!dir || !*dir || !out)
		return GB_EINVAL;
	*out = NULL;
	s = store_alloc();
	if (!s)
		return GB_ENOMEM;
	rc = mdb_env_create(&s->env);
	if (rc) {
		s->env = NULL;
		goto err_lmdb;
	}
	rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
	if (rc == 0)
		rc = mdb_env_open(s->env, dir, MDB_RDONLY | MDB_NOTLS, 0600);
	if (rc == ENOENT) {
		open_refused(dir, "no govbus log here (data.mdb is missing)");
		rc = GB_ENOTFOUND;
		goto err;
	}
	if (rc == 0)
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		goto err_lmdb;
	s->max_key = (size_t)mdb_env_get_maxkeysize(s->env);
	rc = open_databases_readonly(s, txn, &missing);
	if (rc == MDB_NOTFOUND) {
		open_refused(dir, "not a govbus log (named databases "
				  "are missing)");
		rc = GB_ENOTFOUND;
		goto err;
	}
	if (rc)
		goto err_lmdb;
	s->audit_dbs = missing == 0;
	/* Absent from data dirs written before the catalog existed. */
	rc = mdb_dbi_open(txn, "requests", 0, &s->requests_db);
	if (rc && rc != MDB_NOTFOUND)
		goto err_lmdb;
	s->requests_dbs = rc == 0;
	rc = mdb_get(txn, s->meta_db, &k, &v);
	if (rc || v.mv_size != 4 || get_be32(v.mv_data) != STORE_FORMAT) {
		open_refused(dir, "the format record is missing or not version 1");
		rc = GB_ECORRUPT;
		goto err;
	}
	/* Committing keeps the handles opened in it; an abort would close
	 * them. Nothing is written: the transaction is read-only. */
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		goto err_lmdb;
	*out = s;
	return 0;

err_lmdb:
	open_refused(dir, mdb_strerror(rc));
	rc = store_error(rc);
err:
	if (txn)
		mdb_txn_abort(txn);
	gb_store_close(&s);
	return rc;
}

int gb_store_entry_split(const uint8_t *value, size_t len, gb_stored_batch *b)
{
	if (!value || len <= GB_STORED_HEADER_BYTES)
		return GB_ECORRUPT;
	b->broker_time_ns = get_be64(value);
	b->base_offset = get_be64(value + 8);
	b->record_count = get_be32(value + 16);
	b->chain_hash = value + 20;
	b->signed_batch = value + GB_STORED_HEADER_BYTES;
	b->signed_batch_len = len - GB_STORED_HEADER_BYTES;
	return 0;
}

int gb_store_read_raw(gb_store *s, const char *stream, gb_stream_info *head,
		      gb_store_value_fn fn, void *ctx)
{
	struct stream_state st;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	uint8_t kb[LOG_KEY_BYTES];
	MDB_val k = {sizeof kb, kb}, v;
	int visited = 0;
	bool exists;
	int rc;

	if (!fn || !head)
		return GB_EINVAL;
	rc = read_stream(s, stream, &txn, &st, &exists);
	if (rc < 0)
		return rc;
	head->next_offset = st.next_offset;
	head->batch_count = st.batch_count;
	head->last_time_ns = st.last_time_ns;
	memcpy(head->head_hash, st.head, GB_HASH_BYTES);
	if (!exists)
		goto out;
	rc = mdb_cursor_open(txn, s->log_db, &cur);
	if (rc) {
		cur = NULL;
		rc = store_error(rc);
		goto out;
	}
	log_key(kb, st.id, 0);
	rc = 0;
	for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); ;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (mrc) {
			rc = mrc == MDB_NOTFOUND ? 0 : store_error(mrc);
			break;
		}
		/* A key of another size cannot name an offset: skip it (a gap
		 * it displaced still shows). */
		if (k.mv_size != LOG_KEY_BYTES)
			continue;
		if (get_be32(k.mv_data) != st.id || visited == INT_MAX)
			break;
		visited++;
		rc = fn(ctx, get_be64((const uint8_t *)k.mv_data + 4),
			v.mv_data, v.mv_size);
		if (rc != 0)
			break;
	}
out:
	if (cur)
		mdb_cursor_close(cur);
	read_end(s, txn);
	return rc < 0 ? rc : visited;
}

/* Visit, in one read transaction, the entries of `dbi` from key `start`
 * (NULL: from the first) while their key begins with the first `plen`
 * bytes of `start`. fn returns 0 to go on; anything else stops the walk and
 * is returned. Returns 0 when the walk ran to the end. The one cursor loop
 * behind every table reader below. */
typedef int (*scan_fn)(void *ctx, const MDB_val *k, const MDB_val *v);

static int scan_db(gb_store *s, MDB_dbi dbi, const uint8_t *start,
		   size_t start_len, size_t plen, scan_fn fn, void *ctx)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k = {start_len, (void *)start}, v;
	int rc, mrc;

	rc = read_begin(s, &txn);
	if (rc < 0)
		return rc;
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc) {
		read_end(s, txn);
		return store_error(rc);
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
		rc = store_error(mrc);
	mdb_cursor_close(cur);
	read_end(s, txn);
	return rc;
}

struct checkpoint_scan {
	gb_store_value_fn fn;
	void *ctx;
	size_t klen, plen, max;
	int visited;
};

static int checkpoint_one(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct checkpoint_scan *c = arg;

	if (k->mv_size != c->klen)
		return 0; /* not one of ours: cannot name an offset */
	if ((size_t)c->visited == c->max || c->visited == INT_MAX)
		return 1;
	c->visited++;
	return c->fn(c->ctx, get_be64((const uint8_t *)k->mv_data + c->plen),
		     v->mv_data, v->mv_size);
}

int gb_store_checkpoints_read(gb_store *s, const char *stream, uint64_t from,
			      size_t max, gb_store_value_fn fn, void *ctx)
{
	uint8_t key[COMPOSITE_KEY_MAX];
	struct checkpoint_scan c = {fn, ctx, 0, 0, max, 0};
	int rc;

	if (!s || !fn || checkpoint_key(s, stream, from, key, &c.klen) < 0)
		return GB_EINVAL;
	if (!s->audit_dbs || max == 0)
		return 0;
	c.plen = c.klen - SEQ_BYTES;
	rc = scan_db(s, s->checkpoints_db, key, c.klen, c.plen, checkpoint_one, &c);
	return rc < 0 ? rc : c.visited;
}

struct policy_scan {
	gb_store_policy_fn fn;
	void *ctx;
	uint64_t *loads;
	int visited;
};

static int policy_one(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct policy_scan *c = arg;
	gb_stored_policy p;
	const uint8_t *be;
	uint64_t *loads;
	uint32_t n;

	if (k->mv_size != GB_HASH_BYTES ||
	    policy_decode(v, &n, &be, &p.config, &p.config_len) < 0)
		return GB_ECORRUPT;
	loads = realloc(c->loads, (n ? n : 1) * sizeof *loads);
	if (!loads)
		return GB_ENOMEM;
	c->loads = loads;
	for (uint32_t i = 0; i < n; i++)
		loads[i] = get_be64(be + (size_t)i * 8);
	p.hash = k->mv_data;
	p.loaded_ns = loads;
	p.load_count = n;
	if (c->visited == INT_MAX)
		return 1;
	c->visited++;
	return c->fn(c->ctx, &p);
}

int gb_store_policies_read(gb_store *s, gb_store_policy_fn fn, void *ctx)
{
	struct policy_scan c = {fn, ctx, NULL, 0};
	int rc;

	if (!s || !fn)
		return GB_EINVAL;
	if (!s->audit_dbs)
		return 0;
	rc = scan_db(s, s->policies_db, NULL, 0, 0, policy_one, &c);
	free(c.loads);
	return rc < 0 ? rc : c.visited;
}

/* ------------------------------------------------------------ catalog
 *
 * Access requests: u64be id -> serialized AccessRequestInfo, opaque here. */

/* The last stored request id (0 when none) as `txn` sees it. */
static int request_last_id(const gb_store *s, MDB_txn *txn, uint64_t *id)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	*id = 0;
	rc = mdb_cursor_open(txn, s->requests_db, &cur);
	if (rc)
		return store_error(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size != SEQ_BYTES)
		rc = GB_ECORRUPT;
	else if (rc == 0)
		*id = get_be64(k.mv_data);
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = store_error(rc);
	mdb_cursor_close(cur);
	return rc;
}

static int apply_request(struct group *g, gb_write *w)
{
	uint8_t key[SEQ_BYTES];
	uint64_t id = w->request_id;
	unsigned flags = 0;
	MDB_val k = {sizeof key, key}, v;
	int rc;

	if (!w->value || w->value_len == 0 ||
	    w->value_len > GB_STORE_REQUEST_MAX)
		return reject(w, GB_EINVAL);
	if (id == 0) {
		rc = request_last_id(g->s, g->txn, &id);
		if (rc == GB_ECORRUPT)
			return reject(w, rc);
		if (rc < 0)
			return group_failure(rc);
		if (id == UINT64_MAX)
			return reject(w, GB_ETOOBIG);
		id++;
		flags = MDB_NOOVERWRITE;
	}
	put_be64(key, id);
	if (w->request_id != 0) {
		rc = mdb_get(g->txn, g->s->requests_db, &k, &v);
		if (rc == MDB_NOTFOUND)
			return reject(w, GB_ENOTFOUND);
		if (rc)
			return write_error(rc);
	}
	v = (MDB_val){w->value_len, (void *)w->value};
	rc = mdb_put(g->txn, g->s->requests_db, &k, &v, flags);
	if (rc)
		return write_error(rc);
	w->stored_id = id;
	w->result = 0;
	return 0;
}

struct request_scan {
	gb_store_value_fn fn;
	void *ctx;
	int visited;
};

static int request_one(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct request_scan *c = arg;

	if (k->mv_size != SEQ_BYTES || v->mv_size > GB_STORE_REQUEST_MAX)
		return GB_ECORRUPT;
	if (c->visited == INT_MAX)
		return 1;
	c->visited++;
	return c->fn(c->ctx, get_be64(k->mv_data), v->mv_data, v->mv_size);
}

int gb_store_requests_read(gb_store *s, gb_store_value_fn fn, void *ctx)
{
	struct request_scan c = {fn, ctx, 0};
	int rc;

	if (!s || !fn)
		return GB_EINVAL;
	if (!s->requests_dbs)
		return 0;
	rc = scan_db(s, s->requests_db, NULL, 0, 0, request_one, &c);
	return rc < 0 ? rc : c.visited;
}

int gb_store_request_next_id(gb_store *s, uint64_t *next)
{
	MDB_txn *txn = NULL;
	uint64_t last = 0;
	int rc;

	if (!s || !next)
		return GB_EINVAL;
	*next = 1;
	if (!s->requests_dbs)
		return 0;
	rc = read_begin(s, &txn);
	if (rc < 0)
		return rc;
	rc = request_last_id(s, txn, &last);
	read_end(s, txn);
	if (rc == 0)
		*next = last + 1;
	return rc;
}

struct holder_scan {
	gb_store_name_fn fn;
	void *ctx;
	size_t plen;
	int visited;
};

static int holder_one(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct holder_scan *c = arg;
	char name[STORE_NAME_MAX + 1];
	size_t nlen = k->mv_size - c->plen;

	(void)v;
	if (k->mv_size <= c->plen)
		return 0; /* the bare prefix is no wrap */
	if (nlen > STORE_NAME_MAX)
		return GB_ECORRUPT;
	memcpy(name, (const uint8_t *)k->mv_data + c->plen, nlen);
	name[nlen] = '\0';
	c->visited++;
	return c->fn(c->ctx, name);
}

int gb_store_wrap_holders(gb_store *s, const char *dataset, uint32_t epoch,
			  gb_store_name_fn fn, void *ctx)
{
	uint8_t prefix[COMPOSITE_KEY_MAX];
	struct holder_scan c = {fn, ctx, 0, 0};
	int rc;

	if (!s || !fn || epoch_key(dataset, epoch, prefix, &c.plen) < 0)
		return GB_EINVAL;
	rc = scan_db(s, s->wraps_db, prefix, c.plen, c.plen, holder_one, &c);
	return rc != 0 ? rc : c.visited;
}
