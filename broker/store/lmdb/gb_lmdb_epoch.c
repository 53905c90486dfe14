/* Dataset key epochs and wraps of the LMDB backend (gb_lmdb_epoch.h).
 *
 * Trust: epoch records read back are checked for size; a malformed one
 * rejects only the items that need it (GB_ECORRUPT). Wraps are opaque
 * bytes here: the owner signs them and recipients check the signature, so
 * the store only keeps the first one stored per recipient and epoch. */
#include "gb_lmdb_epoch.h"

#include <stdlib.h>
#include <string.h>

#include "gb_error.h"
#include "gb_lmdb_keys.h"
#include "gb_store_bytes.h"
#include "gb_store_item.h"

#define EPOCH_VALUE_BYTES (4 + 1 + 8 + 32)
#define EPOCH_LOG_VALUE_BYTES (8 + 32)

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
		return gb_lmdb_error(rc);
	if (v.mv_size != EPOCH_VALUE_BYTES)
		return GB_ECORRUPT;
	p = v.mv_data;
	st->current = gb_get_be32(p);
	st->retired = p[4] != 0;
	st->created_ns = gb_get_be64(p + 5);
	memcpy(st->commitment, p + 13, 32);
	return 0;
}

static int epoch_save(gb_lmdb_write *g, const char *dataset,
		      const gb_epoch_state *st)
{
	uint8_t val[EPOCH_VALUE_BYTES];
	MDB_val k = {strlen(dataset), (void *)dataset}, v = {sizeof val, val};
	int rc;

	gb_put_be32(val, st->current);
	val[4] = st->retired ? 1 : 0;
	gb_put_be64(val + 5, st->created_ns);
	memcpy(val + 13, st->commitment, 32);
	rc = mdb_put(g->txn, g->s->epochs_db, &k, &v, 0);
	return rc ? gb_lmdb_write_error(rc) : 0;
}

int gb_lmdb_epoch_check(gb_lmdb_write *g, gb_write *w)
{
	gb_epoch_state st;
	int rc = epoch_load(g->txn, g->s->epochs_db, w->dataset, &st);

	if (rc == GB_ECORRUPT) {
		gb_store_item_reject(w, rc);
		return 1;
	}
	if (rc < 0)
		return rc;
	if (st.current == 0 || st.current != w->key_epoch || st.retired ||
	    !w->key_commitment ||
	    memcmp(st.commitment, w->key_commitment, 32) != 0) {
		gb_store_item_reject(w, GB_EEPOCH);
		return 1;
	}
	return 0;
}

/* Open epoch current + 1 and make it current. */
int gb_lmdb_apply_epoch(gb_lmdb_write *g, gb_write *w)
{
	uint8_t key[GB_LMDB_KEY_MAX], val[EPOCH_LOG_VALUE_BYTES];
	gb_epoch_state st;
	size_t klen;
	MDB_val k, v;
	int rc;

	if (gb_lmdb_epoch_key(w->dataset, w->key_epoch, key, &klen) < 0)
		return gb_store_item_reject(w, GB_EINVAL);
	rc = epoch_load(g->txn, g->s->epochs_db, w->dataset, &st);
	if (rc == GB_ECORRUPT)
		return gb_store_item_reject(w, rc);
	if (rc < 0)
		return gb_lmdb_group_failure(rc);
	/* At UINT32_MAX the next epoch would wrap to 0, "no epoch". */
	if (st.current == UINT32_MAX || w->key_epoch != st.current + 1)
		return gb_store_item_reject(w, GB_EEPOCH);
	st.current = w->key_epoch;
	st.retired = false;
	st.created_ns = w->now_ns;
	memcpy(st.commitment, w->key_commitment, 32);
	rc = epoch_save(g, w->dataset, &st);
	if (rc < 0)
		return rc;
	gb_put_be64(val, w->now_ns);
	memcpy(val + 8, w->key_commitment, 32);
	k = (MDB_val){klen, key};
	v = (MDB_val){sizeof val, val};
	rc = mdb_put(g->txn, g->s->epoch_log_db, &k, &v, 0);
	if (rc)
		return gb_lmdb_write_error(rc);
	w->result = 0;
	return 0;
}

/* Store a wrap of an existing epoch; the first wrap stored is kept. */
int gb_lmdb_apply_wrap(gb_lmdb_write *g, gb_write *w)
{
	uint8_t key[GB_LMDB_KEY_MAX];
	size_t klen;
	MDB_val k, v;
	int rc;

	if (gb_lmdb_epoch_key(w->dataset, w->key_epoch, key, &klen) < 0)
		return gb_store_item_reject(w, GB_EINVAL);
	k = (MDB_val){klen, key};
	rc = mdb_get(g->txn, g->s->epoch_log_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return gb_store_item_reject(w, GB_EEPOCH);
	if (rc)
		return gb_lmdb_write_error(rc);
	if (v.mv_size != EPOCH_LOG_VALUE_BYTES)
		return gb_store_item_reject(w, GB_ECORRUPT);
	/* A wrap of another key than the epoch's could never be replaced
	 * (the first wrap is kept), so refuse it. */
	if (w->key_commitment &&
	    memcmp((const uint8_t *)v.mv_data + 8, w->key_commitment, 32) != 0)
		return gb_store_item_reject(w, GB_EEPOCH);
	if (gb_lmdb_wrap_key(w->dataset, w->key_epoch, w->dept, key, &klen) < 0)
		return gb_store_item_reject(w, GB_EINVAL);
	k = (MDB_val){klen, key};
	v = (MDB_val){w->wrap_len, (void *)w->wrap};
	rc = mdb_put(g->txn, g->s->wraps_db, &k, &v, MDB_NOOVERWRITE);
	if (rc && rc != MDB_KEYEXIST)
		return gb_lmdb_write_error(rc);
	w->result = 0;
	return 0;
}

/* Retire the current epoch so no further batch is accepted under it. */
int gb_lmdb_apply_retire(gb_lmdb_write *g, gb_write *w)
{
	gb_epoch_state st;
	int rc;

	rc = epoch_load(g->txn, g->s->epochs_db, w->dataset, &st);
	if (rc == GB_ECORRUPT)
		return gb_store_item_reject(w, rc);
	if (rc < 0)
		return gb_lmdb_group_failure(rc);
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

int gb_lmdb_epoch_get(gb_store *base, const char *dataset, gb_epoch_state *out)
{
	gb_lmdb *s = gb_lmdb_of(base);
	MDB_txn *txn;
	int rc;

	rc = gb_lmdb_read_begin(s, &txn);
	if (rc)
		return rc;
	rc = epoch_load(txn, s->epochs_db, dataset, out);
	gb_lmdb_read_end(s, txn);
	return rc;
}

int gb_lmdb_wrap_get(gb_store *base, const char *dataset, uint32_t epoch,
		     const char *recipient, uint8_t **out, size_t *len)
{
	gb_lmdb *s = gb_lmdb_of(base);
	uint8_t key[GB_LMDB_KEY_MAX];
	size_t klen;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (gb_lmdb_wrap_key(dataset, epoch, recipient, key, &klen) < 0)
		return GB_EINVAL;
	rc = gb_lmdb_read_begin(s, &txn);
	if (rc)
		return rc;
	k = (MDB_val){klen, key};
	rc = mdb_get(txn, s->wraps_db, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = GB_ENOTFOUND;
	} else if (rc) {
		rc = gb_lmdb_error(rc);
	} else if (out) {
		*out = malloc(v.mv_size ? v.mv_size : 1);
		if (!*out) {
			rc = GB_ENOMEM;
		} else {
			memcpy(*out, v.mv_data, v.mv_size);
			*len = v.mv_size;
		}
	}
	gb_lmdb_read_end(s, txn);
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
	char name[GB_STORE_NAME_MAX + 1];
	size_t nlen = k->mv_size - c->plen;

	(void)v;
	if (k->mv_size <= c->plen)
		return 0; /* the bare prefix is no wrap */
	if (nlen > GB_STORE_NAME_MAX)
		return GB_ECORRUPT;
	memcpy(name, (const uint8_t *)k->mv_data + c->plen, nlen);
	name[nlen] = '\0';
	c->visited++;
	return c->fn(c->ctx, name);
}

int gb_lmdb_wrap_holders(gb_store *base, const char *dataset, uint32_t epoch,
			 gb_store_name_fn fn, void *ctx)
{
	gb_lmdb *s = gb_lmdb_of(base);
	uint8_t prefix[GB_LMDB_KEY_MAX];
	struct holder_scan c = {fn, ctx, 0, 0};
	int rc;

	if (gb_lmdb_epoch_key(dataset, epoch, prefix, &c.plen) < 0)
		return GB_EINVAL;
	rc = gb_lmdb_scan(s, s->wraps_db, prefix, c.plen, c.plen, holder_one, &c);
	return rc != 0 ? rc : c.visited;
}
