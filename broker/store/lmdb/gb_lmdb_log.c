/* Reading the LMDB backend's log (gb_lmdb_log.h).
 *
 * Trust: the data file is not trusted. Every log entry read is checked
 * against its key and the stream head (gb_store_entry_decode); below the
 * head's next offset every offset is promised, so a missing or moved entry
 * there is GB_ECORRUPT, never a short read that looks complete. The raw
 * reader is the exception, by design: it hands entries out unjudged. */
#include "gb_lmdb_log.h"

#include <limits.h>
#include <string.h>

#include "gb_error.h"
#include "gb_lmdb_keys.h"
#include "gb_lmdb_stream.h"
#include "gb_store_bytes.h"
#include "gb_store_entry.h"

/* Decode and check one log entry of stream `sid`. GB_ENOTFOUND when the key
 * belongs to another stream, GB_ECORRUPT when key or value is malformed. */
static int batch_decode(uint32_t sid, const MDB_val *k, const MDB_val *v,
			gb_stored_batch *b)
{
	const uint8_t *kp = k->mv_data;

	if (k->mv_size != GB_LMDB_LOG_KEY_BYTES)
		return GB_ECORRUPT;
	if (gb_get_be32(kp) != sid)
		return GB_ENOTFOUND;
	return gb_store_entry_decode(v->mv_data, v->mv_size,
				     gb_get_be64(kp + 4), b);
}

/* Move `cur` by `op` and decode the entry it lands on; `k` is the key of
 * a seek and receives the key found. */
static int batch_move(MDB_cursor *cur, MDB_cursor_op op, MDB_val *k,
		      uint32_t sid, gb_stored_batch *b)
{
	MDB_val v;
	int rc = mdb_cursor_get(cur, k, &v, op);

	if (rc == MDB_NOTFOUND)
		return GB_ENOTFOUND;
	if (rc)
		return gb_lmdb_error(rc);
	return batch_decode(sid, k, &v, b);
}

/* Move `cur` to the next entry and decode it. */
static int batch_next(MDB_cursor *cur, uint32_t sid, gb_stored_batch *b)
{
	MDB_val k;

	return batch_move(cur, MDB_NEXT, &k, sid, b);
}

/* Position `cur` on the first stored batch of stream `sid` whose key is
 * >= `offset`. GB_ENOTFOUND when there is none. */
static int batch_seek_range(MDB_cursor *cur, uint32_t sid, uint64_t offset,
			    gb_stored_batch *b)
{
	uint8_t kb[GB_LMDB_LOG_KEY_BYTES];
	MDB_val k = {sizeof kb, kb};

	gb_lmdb_log_key(kb, sid, offset);
	return batch_move(cur, MDB_SET_RANGE, &k, sid, b);
}

/* Position `cur` on the batch of stream `sid` that contains `offset`.
 * GB_ENOTFOUND when no stored batch does. */
static int batch_seek(MDB_cursor *cur, uint32_t sid, uint64_t offset,
		      gb_stored_batch *b)
{
	uint8_t kb[GB_LMDB_LOG_KEY_BYTES];
	MDB_val k = {sizeof kb, kb}, v;
	int rc;

	gb_lmdb_log_key(kb, sid, offset);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == sizeof kb &&
	    memcmp(k.mv_data, kb, sizeof kb) == 0)
		return batch_decode(sid, &k, &v, b);
	/* The batch holding `offset` starts before it: the previous key, or
	 * the last of the db when the seek ran off its end. */
	if (rc != 0 && rc != MDB_NOTFOUND)
		return gb_lmdb_error(rc);
	rc = batch_move(cur, rc == 0 ? MDB_PREV : MDB_LAST, &k, sid, b);
	if (rc < 0)
		return rc;
	if (b->base_offset > offset || offset - b->base_offset >= b->record_count)
		return GB_ENOTFOUND;
	return 0;
}

/* Begin a read transaction and load the stream of `dataset`. */
static int read_stream(gb_lmdb *s, const char *dataset, MDB_txn **txn,
		       gb_lmdb_head *h, bool *exists)
{
	int rc;

	*txn = NULL;
	rc = gb_lmdb_read_begin(s, txn);
	if (rc < 0)
		return rc;
	rc = gb_lmdb_stream_load(s, *txn, dataset, strlen(dataset), h, exists);
	if (rc < 0) {
		gb_lmdb_read_end(s, *txn);
		*txn = NULL;
	}
	return rc;
}

/* Open a cursor on the log db; GB_E... on failure with *cur NULL. */
static int log_cursor(gb_lmdb *s, MDB_txn *txn, MDB_cursor **cur)
{
	int rc = mdb_cursor_open(txn, s->log_db, cur);

	if (rc) {
		*cur = NULL;
		return gb_lmdb_error(rc);
	}
	return 0;
}

/* End what read_stream and log_cursor began. */
static void read_done(gb_lmdb *s, MDB_txn *txn, MDB_cursor *cur)
{
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		gb_lmdb_read_end(s, txn);
}

int gb_lmdb_stream_info(gb_store *base, const char *dataset,
			gb_stream_info *out)
{
	gb_lmdb *s = gb_lmdb_of(base);
	gb_lmdb_head h;
	MDB_txn *txn;
	bool exists;
	int rc;

	rc = read_stream(s, dataset, &txn, &h, &exists);
	if (rc < 0)
		return rc;
	gb_lmdb_read_end(s, txn);
	*out = h.info;
	return 0;
}

int gb_lmdb_offset_for_time(gb_store *base, const char *dataset,
			    uint64_t time_ns, uint64_t *offset)
{
	gb_lmdb *s = gb_lmdb_of(base);
	gb_lmdb_head h;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	gb_stored_batch b = {0};
	uint64_t lo = 0, hi;
	bool exists;
	int rc;

	rc = read_stream(s, dataset, &txn, &h, &exists);
	if (rc < 0)
		return rc;
	rc = log_cursor(s, txn, &cur);
	if (rc < 0)
		goto out;
	/* Times rise with offsets, so bisect offsets. Invariant: every batch
	 * ending at or before lo is older than time_ns; hi is next_offset or
	 * the base of a batch at least that new. Each step moves lo past mid
	 * or hi to at most mid, so even a corrupt log cannot loop. */
	hi = h.info.next_offset;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		rc = batch_seek(cur, h.id, mid, &b);
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
	read_done(s, txn, cur);
	return rc;
}

int gb_lmdb_read(gb_store *base, const char *dataset, uint64_t offset,
		 size_t max_batches, gb_store_batch_fn fn, void *ctx)
{
	gb_lmdb *s = gb_lmdb_of(base);
	gb_lmdb_head h;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	gb_stored_batch b = {0};
	size_t visited = 0;
	bool exists;
	int rc;

	rc = read_stream(s, dataset, &txn, &h, &exists);
	if (rc < 0)
		return rc;
	if (offset >= h.info.next_offset || max_batches == 0)
		goto out;
	if (max_batches > INT_MAX)
		max_batches = INT_MAX; /* the count is returned as an int */
	rc = log_cursor(s, txn, &cur);
	if (rc < 0)
		goto out;
	rc = batch_seek(cur, h.id, offset, &b);
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
		if (rc > 0 || visited == max_batches || end >= h.info.next_offset)
			break;
		rc = batch_next(cur, h.id, &b);
		if (rc == 0 && b.base_offset != end)
			rc = GB_ECORRUPT;
	}
	rc = 0;
out:
	read_done(s, txn, cur);
	return rc < 0 ? rc : (int)visited;
}

int gb_lmdb_verify_stream(gb_store *base, const char *dataset,
			  uint64_t *bad_offset)
{
	gb_lmdb *s = gb_lmdb_of(base);
	gb_lmdb_head h;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	gb_stored_batch b = {0};
	gb_stream_info walk = {0};      /* the head rebuilt from the log */
	bool exists;
	int rc;

	rc = read_stream(s, dataset, &txn, &h, &exists);
	if (rc == GB_ECORRUPT)
		goto corrupt; /* the head itself is bad: offset 0 */
	if (rc < 0)
		return rc;
	if (!exists)
		goto out;
	rc = log_cursor(s, txn, &cur);
	if (rc < 0)
		goto out;
	for (rc = batch_seek_range(cur, h.id, 0, &b); rc == 0;
	     rc = batch_next(cur, h.id, &b))
		if (gb_store_chain_follow(&walk, &b) < 0)
			goto corrupt;
	if (rc == GB_ECORRUPT)
		goto corrupt; /* a malformed entry where the next should be */
	if (rc != GB_ENOTFOUND)
		goto out;
	/* The log is sound; the head must describe exactly its end. */
	if (!gb_store_head_equal(&walk, &h.info))
		goto corrupt;
	rc = 0;
out:
	read_done(s, txn, cur);
	return rc;

corrupt:
	if (bad_offset)
		*bad_offset = walk.next_offset;
	rc = GB_ECORRUPT;
	goto out;
}

int gb_lmdb_read_raw(gb_store *base, const char *stream, gb_stream_info *head,
		     gb_store_value_fn fn, void *ctx)
{
	gb_lmdb *s = gb_lmdb_of(base);
	gb_lmdb_head h;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	uint8_t kb[GB_LMDB_LOG_KEY_BYTES];
	MDB_val k = {sizeof kb, kb}, v;
	int visited = 0;
	bool exists;
	int rc;

	rc = read_stream(s, stream, &txn, &h, &exists);
	if (rc < 0)
		return rc;
	*head = h.info;
	if (!exists)
		goto out;
	rc = log_cursor(s, txn, &cur);
	if (rc < 0)
		goto out;
	gb_lmdb_log_key(kb, h.id, 0);
	rc = 0;
	for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); ;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (mrc) {
			rc = mrc == MDB_NOTFOUND ? 0 : gb_lmdb_error(mrc);
			break;
		}
		/* A key of another size cannot name an offset: skip it (a gap
		 * it displaced still shows). */
		if (k.mv_size != GB_LMDB_LOG_KEY_BYTES)
			continue;
		if (gb_get_be32(k.mv_data) != h.id || visited == INT_MAX)
			break;
		visited++;
		rc = fn(ctx, gb_get_be64((const uint8_t *)k.mv_data + 4),
			v.mv_data, v.mv_size);
		if (rc != 0)
			break;
	}
out:
	read_done(s, txn, cur);
	return rc < 0 ? rc : visited;
}
