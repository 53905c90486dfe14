/* Access requests in the LMDB backend (gb_lmdb_request.h).
 *
 * Trust: the key is the authority on a request's id, so a key that is not
 * exactly a u64be, or a value over GB_STORE_REQUEST_MAX, is GB_ECORRUPT.
 * Values are otherwise handed out raw; the caller decodes them. */
#include "gb_lmdb_request.h"

#include <limits.h>

#include "gb_error.h"
#include "gb_lmdb_keys.h"
#include "gb_store_bytes.h"
#include "gb_store_item.h"

/* The last stored request id (0 when none) as `txn` sees it. */
static int request_last_id(const gb_lmdb *s, MDB_txn *txn, uint64_t *id)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	*id = 0;
	rc = mdb_cursor_open(txn, s->requests_db, &cur);
	if (rc)
		return gb_lmdb_error(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size != GB_LMDB_SEQ_BYTES)
		rc = GB_ECORRUPT;
	else if (rc == 0)
		*id = gb_get_be64(k.mv_data);
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = gb_lmdb_error(rc);
	mdb_cursor_close(cur);
	return rc;
}

int gb_lmdb_apply_request(gb_lmdb_write *g, gb_write *w)
{
	uint8_t key[GB_LMDB_SEQ_BYTES];
	uint64_t id = w->request_id;
	unsigned flags = 0;
	MDB_val k = {sizeof key, key}, v;
	int rc;

	if (id == 0) {
		rc = request_last_id(g->s, g->txn, &id);
		if (rc == GB_ECORRUPT)
			return gb_store_item_reject(w, rc);
		if (rc < 0)
			return gb_lmdb_group_failure(rc);
		if (id == UINT64_MAX)
			return gb_store_item_reject(w, GB_ETOOBIG);
		id++;
		flags = MDB_NOOVERWRITE;
	}
	gb_put_be64(key, id);
	if (w->request_id != 0) {
		rc = mdb_get(g->txn, g->s->requests_db, &k, &v);
		if (rc == MDB_NOTFOUND)
			return gb_store_item_reject(w, GB_ENOTFOUND);
		if (rc)
			return gb_lmdb_write_error(rc);
	}
	v = (MDB_val){w->value_len, (void *)w->value};
	rc = mdb_put(g->txn, g->s->requests_db, &k, &v, flags);
	if (rc)
		return gb_lmdb_write_error(rc);
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

	if (k->mv_size != GB_LMDB_SEQ_BYTES || v->mv_size > GB_STORE_REQUEST_MAX)
		return GB_ECORRUPT;
	if (c->visited == INT_MAX)
		return 1;
	c->visited++;
	return c->fn(c->ctx, gb_get_be64(k->mv_data), v->mv_data, v->mv_size);
}

int gb_lmdb_requests_read(gb_store *base, gb_store_value_fn fn, void *ctx)
{
	gb_lmdb *s = gb_lmdb_of(base);
	struct request_scan c = {fn, ctx, 0};
	int rc;

	if (!s->requests_dbs)
		return 0;
	rc = gb_lmdb_scan(s, s->requests_db, NULL, 0, 0, request_one, &c);
	return rc < 0 ? rc : c.visited;
}

int gb_lmdb_request_next_id(gb_store *base, uint64_t *next)
{
	gb_lmdb *s = gb_lmdb_of(base);
	MDB_txn *txn = NULL;
	uint64_t last = 0;
	int rc;

	if (!s->requests_dbs)
		return 0;
	rc = gb_lmdb_read_begin(s, &txn);
	if (rc < 0)
		return rc;
	rc = request_last_id(s, txn, &last);
	gb_lmdb_read_end(s, txn);
	if (rc == 0)
		*next = last + 1;
	return rc;
}
