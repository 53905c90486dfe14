/* Durable cursors of the LMDB backend (gb_lmdb_cursor.h).
 *
 * Trust: a cursor value read back must be exactly one u64be, or the read
 * is GB_ECORRUPT. */
#include "gb_lmdb_cursor.h"

#include "gb_error.h"
#include "gb_lmdb_keys.h"
#include "gb_store_bytes.h"
#include "gb_store_item.h"

#define CURSOR_VALUE_BYTES 8

int gb_lmdb_apply_cursor(gb_lmdb_write *g, gb_write *w)
{
	uint8_t key[GB_LMDB_KEY_MAX];
	uint8_t val[CURSOR_VALUE_BYTES];
	size_t klen;
	MDB_val k, v;
	int rc;

	if (gb_lmdb_cursor_key(g->s, w->dept, w->dataset, w->cursor_name, key,
			       &klen) < 0)
		return gb_store_item_reject(w, GB_EINVAL);
	gb_put_be64(val, w->cursor_next);
	k = (MDB_val){klen, key};
	v = (MDB_val){sizeof val, val};
	rc = mdb_put(g->txn, g->s->cursors_db, &k, &v, 0);
	if (rc)
		return gb_lmdb_write_error(rc);
	w->result = 0;
	return 0;
}

int gb_lmdb_cursor_get(gb_store *base, const char *dept, const char *dataset,
		       const char *name, uint64_t *next_offset)
{
	gb_lmdb *s = gb_lmdb_of(base);
	uint8_t key[GB_LMDB_KEY_MAX];
	MDB_txn *txn;
	MDB_val k, v;
	size_t klen;
	int rc;

	if (gb_lmdb_cursor_key(s, dept, dataset, name, key, &klen) < 0)
		return GB_EINVAL;
	rc = gb_lmdb_read_begin(s, &txn);
	if (rc < 0)
		return rc;
	k = (MDB_val){klen, key};
	rc = mdb_get(txn, s->cursors_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = GB_ENOTFOUND;
	else if (rc)
		rc = gb_lmdb_error(rc);
	else if (v.mv_size != CURSOR_VALUE_BYTES)
		rc = GB_ECORRUPT;
	else
		*next_offset = gb_get_be64(v.mv_data);
	gb_lmdb_read_end(s, txn);
	return rc;
}
