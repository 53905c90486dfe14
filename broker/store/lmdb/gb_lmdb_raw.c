/* The LMDB data file opened behind the store's back (gb_lmdb_raw.h).
 * Tests only: it writes the layouts by hand, independently of the
 * backend's own key code, so a test sees what is on disk. */
#include "gb_lmdb_raw.h"

#include <lmdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


struct raw {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi streams, log, meta, pseq, epochs;
};

static int raw_open(struct raw *r, const char *dir)
{
	memset(r, 0, sizeof *r);
	if (mdb_env_create(&r->env) || mdb_env_set_maxdbs(r->env, 8) ||
	    mdb_env_open(r->env, dir, 0, 0600) ||
	    mdb_txn_begin(r->env, NULL, 0, &r->txn) ||
	    mdb_dbi_open(r->txn, "streams", 0, &r->streams) ||
	    mdb_dbi_open(r->txn, "log", 0, &r->log) ||
	    mdb_dbi_open(r->txn, "meta", 0, &r->meta) ||
	    mdb_dbi_open(r->txn, "pseq", 0, &r->pseq) ||
	    mdb_dbi_open(r->txn, "epochs", 0, &r->epochs)) {
		if (r->txn)
			mdb_txn_abort(r->txn);
		if (r->env)
			mdb_env_close(r->env);
		return -1;
	}
	return 0;
}

/* Commit and close; -1 when the commit failed. */
static int raw_close(struct raw *r)
{
	int rc = mdb_txn_commit(r->txn);

	mdb_env_close(r->env);
	return rc == 0 ? 0 : -1;
}

static uint32_t raw_stream_id(struct raw *r, const char *dataset)
{
	MDB_val k = {strlen(dataset), (void *)dataset}, v;
	const uint8_t *p;

	if (mdb_get(r->txn, r->streams, &k, &v) || v.mv_size < 4)
		return 0;
	p = v.mv_data;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void raw_log_key(uint8_t k[12], uint32_t sid, uint64_t off)
{
	for (int i = 0; i < 4; i++)
		k[i] = (uint8_t)(sid >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		k[4 + i] = (uint8_t)(off >> (56 - 8 * i));
}

int raw_damage(const char *dir, const char *dataset, uint64_t base,
	       size_t keep, size_t flip)
{
	struct raw r;
	uint8_t kb[12];
	MDB_val k = {sizeof kb, kb}, v;
	uint8_t *copy;
	int rc = -1;

	if (raw_open(&r, dir) < 0)
		return -1;
	raw_log_key(kb, raw_stream_id(&r, dataset), base);
	if (mdb_get(r.txn, r.log, &k, &v) == 0 && keep <= v.mv_size) {
		copy = malloc(v.mv_size);
		if (copy) {
			memcpy(copy, v.mv_data, v.mv_size);
			if (flip < keep)
				copy[flip] ^= 0xff;
			v = (MDB_val){keep, copy};
			rc = mdb_put(r.txn, r.log, &k, &v, 0) ? -1 : 0;
			free(copy);
		}
	}
	return raw_close(&r) < 0 ? -1 : rc;
}

int raw_delete_log(const char *dir, const char *dataset, uint64_t base)
{
	struct raw r;
	uint8_t kb[12];
	MDB_val k = {sizeof kb, kb};
	int rc;

	if (raw_open(&r, dir) < 0)
		return -1;
	raw_log_key(kb, raw_stream_id(&r, dataset), base);
	rc = mdb_del(r.txn, r.log, &k, NULL) ? -1 : 0;
	return raw_close(&r) < 0 ? -1 : rc;
}

int raw_flip_stream(const char *dir, const char *dataset, size_t flip)
{
	struct raw r;
	MDB_val k = {strlen(dataset), (void *)dataset}, v;
	uint8_t copy[256];
	int rc = -1;

	if (raw_open(&r, dir) < 0)
		return -1;
	if (mdb_get(r.txn, r.streams, &k, &v) == 0 && v.mv_size <= sizeof copy &&
	    flip < v.mv_size) {
		memcpy(copy, v.mv_data, v.mv_size);
		copy[flip] ^= 0x01;
		v.mv_data = copy;
		rc = mdb_put(r.txn, r.streams, &k, &v, 0) ? -1 : 0;
	}
	return raw_close(&r) < 0 ? -1 : rc;
}

uint32_t raw_stream_id_of(const char *dir, const char *dataset)
{
	struct raw r;
	uint32_t id;

	if (raw_open(&r, dir) < 0)
		return 0;
	id = raw_stream_id(&r, dataset);
	return raw_close(&r) < 0 ? 0 : id;
}

int raw_put(const char *dir, enum raw_db which, const char *key,
	    const void *val, size_t len)
{
	struct raw r;
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
	MDB_dbi dbi;
	int rc;

	if (raw_open(&r, dir) < 0)
		return -1;
	dbi = which == RAW_META ? r.meta :
	      which == RAW_EPOCHS ? r.epochs : r.streams;
	rc = mdb_put(r.txn, dbi, &k, &v, 0) ? -1 : 0;
	return raw_close(&r) < 0 ? -1 : rc;
}

int raw_put_pseq(const char *dir, const char *dataset, const char *producer,
		 uint64_t seq, uint64_t base, uint32_t count)
{
	struct raw r;
	uint8_t kb[128], vb[12];
	size_t dl = strlen(dataset), pl = strlen(producer), n;
	MDB_val k, v = {sizeof vb, vb};
	int rc;

	if (dl + pl + 2 + 8 > sizeof kb || raw_open(&r, dir) < 0)
		return -1;
	memcpy(kb, dataset, dl + 1);
	memcpy(kb + dl + 1, producer, pl + 1);
	n = dl + pl + 2;
	for (int i = 0; i < 8; i++) {
		kb[n + (size_t)i] = (uint8_t)(seq >> (56 - 8 * i));
		vb[i] = (uint8_t)(base >> (56 - 8 * i));
	}
	for (int i = 0; i < 4; i++)
		vb[8 + i] = (uint8_t)(count >> (24 - 8 * i));
	k = (MDB_val){n + 8, kb};
	rc = mdb_put(r.txn, r.pseq, &k, &v, 0) ? -1 : 0;
	return raw_close(&r) < 0 ? -1 : rc;
}

void raw_dedupe_counts(const char *dir, size_t *entries, size_t *ages)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi d, a;
	MDB_stat st;

	*entries = *ages = SIZE_MAX;
	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
	    mdb_env_open(env, dir, MDB_RDONLY, 0600) ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) ||
	    mdb_dbi_open(txn, "dedupe", 0, &d) ||
	    mdb_dbi_open(txn, "dedupe_age", 0, &a))
		goto out;
	if (mdb_stat(txn, d, &st) == 0)
		*entries = st.ms_entries;
	if (mdb_stat(txn, a, &st) == 0)
		*ages = st.ms_entries;
out:
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
}
