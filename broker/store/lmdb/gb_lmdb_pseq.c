/* Producer seqs of the LMDB backend (gb_lmdb_pseq.h).
 *
 * Trust: keys and values read back are checked for size; a key under a
 * producer's prefix that does not end in exactly one seq, or a value of
 * the wrong size, is GB_ECORRUPT, not a seq. */
#include "gb_lmdb_pseq.h"

#include <string.h>

#include "gb_error.h"
#include "gb_lmdb_keys.h"
#include "gb_store_bytes.h"
#include "gb_store_item.h"

#define PSEQ_VALUE_BYTES 12          /* u64be base offset || u32be records */

/* Seeks just past the largest possible key of the prefix and steps back;
 * anything not carrying the prefix belongs to another producer. */
int gb_lmdb_last_seq_find(MDB_cursor *cur, const uint8_t *prefix,
			  size_t plen, uint64_t *seq, bool *found)
{
	uint8_t kb[GB_LMDB_KEY_MAX];
	MDB_val k = {plen + GB_LMDB_SEQ_BYTES, kb}, v;
	int rc;

	*found = false;
	*seq = 0;
	memcpy(kb, prefix, plen);
	gb_put_be64(kb + plen, UINT64_MAX);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && !(k.mv_size == plen + GB_LMDB_SEQ_BYTES &&
			 memcmp(k.mv_data, kb, k.mv_size) == 0))
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return gb_lmdb_error(rc);
	if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
		return 0;
	if (k.mv_size != plen + GB_LMDB_SEQ_BYTES)
		return GB_ECORRUPT;
	*seq = gb_get_be64((const uint8_t *)k.mv_data + plen);
	*found = true;
	return 0;
}

int gb_lmdb_pseq_resolve_old(gb_lmdb_write *g, gb_write *w, uint8_t *key,
			     size_t plen)
{
	MDB_val k = {plen + GB_LMDB_SEQ_BYTES, key}, v;
	int rc;

	gb_put_be64(key + plen, w->producer_seq);
	rc = mdb_get(g->txn, g->s->pseq_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return gb_store_item_reject(w, GB_ECONFLICT);
	if (rc)
		return gb_lmdb_write_error(rc);
	if (v.mv_size != PSEQ_VALUE_BYTES)
		return gb_store_item_reject(w, GB_ECORRUPT);
	/* The same seq with another record count is not a retry of the
	 * stored batch: acking it would report unstored records as durable. */
	if (gb_get_be32((const uint8_t *)v.mv_data + 8) != w->record_count)
		return gb_store_item_reject(w, GB_ECONFLICT);
	w->duplicate = true;
	w->base_offset = gb_get_be64(v.mv_data);
	w->result = 0;
	return 0;
}

int gb_lmdb_pseq_put(gb_lmdb_write *g, const gb_write *w, uint8_t *key,
		     size_t plen, uint64_t base)
{
	uint8_t val[PSEQ_VALUE_BYTES];
	MDB_val k = {plen + GB_LMDB_SEQ_BYTES, key}, v = {sizeof val, val};
	int rc;

	gb_put_be64(key + plen, w->producer_seq);
	gb_put_be64(val, base);
	gb_put_be32(val + 8, w->record_count);
	rc = mdb_put(g->txn, g->s->pseq_db, &k, &v, 0);
	return rc ? gb_lmdb_write_error(rc) : 0;
}

int gb_lmdb_last_seq(gb_store *base, const char *dataset,
		     const char *producer, uint64_t *seq)
{
	gb_lmdb *s = gb_lmdb_of(base);
	uint8_t prefix[GB_LMDB_KEY_MAX];
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	size_t plen;
	bool found;
	int rc;

	if (gb_lmdb_pseq_prefix(s, dataset, producer, prefix, &plen) < 0)
		return GB_EINVAL;
	rc = gb_lmdb_read_begin(s, &txn);
	if (rc < 0)
		return rc;
	rc = mdb_cursor_open(txn, s->pseq_db, &cur);
	if (rc) {
		cur = NULL;
		rc = gb_lmdb_error(rc);
		goto out;
	}
	rc = gb_lmdb_last_seq_find(cur, prefix, plen, seq, &found);
out:
	if (cur)
		mdb_cursor_close(cur);
	gb_lmdb_read_end(s, txn);
	return rc;
}
