/* Streams of the LMDB backend (gb_lmdb_stream.h).
 *
 * Trust: a head record read back is checked for size and consistency
 * (every batch holds at least one record) before it is used, and the log
 * key an append takes must be free: a head that points at a stored entry
 * is corrupt, and that item alone is rejected. */
#include "gb_lmdb_stream.h"

#include <string.h>

#include "gb_error.h"
#include "gb_lmdb_keys.h"
#include "gb_store_bytes.h"
#include "gb_store_entry.h"
#include "gb_store_item.h"

#define STREAM_VALUE_BYTES 60        /* id, next offset, batches, time, head */

static void stream_encode(const gb_lmdb_head *h, uint8_t out[STREAM_VALUE_BYTES])
{
	gb_put_be32(out, h->id);
	gb_put_be64(out + 4, h->info.next_offset);
	gb_put_be64(out + 12, h->info.batch_count);
	gb_put_be64(out + 20, h->info.last_time_ns);
	memcpy(out + 28, h->info.head_hash, GB_HASH_BYTES);
}

/* Decode a stream record; GB_ECORRUPT unless it is the right size and
 * self-consistent (every batch holds at least one record). */
static int stream_decode(const MDB_val *v, gb_lmdb_head *h)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size != STREAM_VALUE_BYTES)
		return GB_ECORRUPT;
	h->id = gb_get_be32(p);
	h->info.next_offset = gb_get_be64(p + 4);
	h->info.batch_count = gb_get_be64(p + 12);
	h->info.last_time_ns = gb_get_be64(p + 20);
	memcpy(h->info.head_hash, p + 28, GB_HASH_BYTES);
	if (h->id == 0 || h->info.batch_count > h->info.next_offset ||
	    (h->info.batch_count == 0) != (h->info.next_offset == 0))
		return GB_ECORRUPT;
	return 0;
}

int gb_lmdb_stream_load(const gb_lmdb *s, MDB_txn *txn, const char *dataset,
			size_t len, gb_lmdb_head *h, bool *exists)
{
	MDB_val k = {len, (void *)dataset}, v;
	int rc;

	memset(h, 0, sizeof *h);
	*exists = false;
	rc = mdb_get(txn, s->streams_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return gb_lmdb_error(rc);
	rc = stream_decode(&v, h);
	if (rc < 0)
		return rc;
	*exists = true;
	return 0;
}

int gb_lmdb_stream_group_head(gb_lmdb_write *g, const char *dataset,
			      size_t len, gb_lmdb_head *h, bool *exists)
{
	const gb_lmdb_head *cached = gb_lmdb_cache_find(&g->s->cache, dataset,
							len);

	if (cached) {
		*h = *cached;
		*exists = true;
		return 0;
	}
	return gb_lmdb_stream_load(g->s, g->txn, dataset, len, h, exists);
}

/* Put the stored batch at (stream, base offset), writing it straight into
 * the page LMDB reserves. MDB_APPEND (fill pages, skip the search) is only
 * tried when `newest` says this stream has the largest id, so its keys are
 * the last of the db; LMDB checks that anyway and answers MDB_KEYEXIST. */
static int log_put(gb_lmdb_write *g, const gb_lmdb_head *h, bool newest,
		   const gb_write *w, uint64_t time_ns,
		   const uint8_t hash[GB_HASH_BYTES])
{
	uint8_t kb[GB_LMDB_LOG_KEY_BYTES];
	MDB_val k = {sizeof kb, kb};
	MDB_val v = {GB_STORED_HEADER_BYTES + w->signed_batch_len, NULL};
	unsigned flags = MDB_RESERVE | MDB_NOOVERWRITE;
	uint8_t *p;
	int rc;

	gb_lmdb_log_key(kb, h->id, h->info.next_offset);
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
		return gb_lmdb_write_error(rc);
	p = v.mv_data;
	gb_store_entry_header(p, time_ns, h->info.next_offset, w->record_count,
			      hash);
	memcpy(p + GB_STORED_HEADER_BYTES, w->signed_batch, w->signed_batch_len);
	return 0;
}

/* Write the new head of `dataset` and, for a new stream, the id counter. */
static int stream_put(gb_lmdb_write *g, const char *dataset, size_t len,
		      const gb_lmdb_head *h, bool is_new)
{
	uint8_t val[STREAM_VALUE_BYTES];
	MDB_val k = {len, (void *)dataset}, v = {sizeof val, val};
	int rc;

	stream_encode(h, val);
	rc = mdb_put(g->txn, g->s->streams_db, &k, &v, 0);
	if (rc)
		return gb_lmdb_write_error(rc);
	return is_new ? gb_lmdb_stream_id_take(g) : 0;
}

int gb_lmdb_stream_append(gb_lmdb_write *g, gb_write *w, size_t dlen)
{
	gb_lmdb *s = g->s;
	uint8_t hash[GB_HASH_BYTES];
	gb_lmdb_head h;
	uint64_t time_ns;
	bool exists, newest;
	int rc;

	rc = gb_lmdb_stream_group_head(g, w->dataset, dlen, &h, &exists);
	if (rc == GB_ECORRUPT)
		return gb_store_item_reject(w, rc);
	if (rc < 0)
		return gb_lmdb_group_failure(rc);
	if (!exists) {
		if (s->next_stream_id == 0) /* every stream id is used */
			return gb_store_item_reject(w, GB_ENOSPC);
		h.id = s->next_stream_id;
	}
	newest = !exists || h.id == (uint32_t)(s->next_stream_id - 1);
	if (gb_store_chain_extend(&h.info, w, &time_ns, hash) < 0)
		return gb_store_item_reject(w, GB_ECORRUPT);

	rc = log_put(g, &h, newest, w, time_ns, hash);
	if (rc == GB_ECORRUPT)
		return gb_store_item_reject(w, rc);
	if (rc < 0)
		return rc;

	w->base_offset = h.info.next_offset;
	w->broker_time_ns = time_ns;
	memcpy(w->chain_hash, hash, GB_HASH_BYTES);
	gb_store_head_advance(&h.info, w->record_count, time_ns, hash);
	rc = stream_put(g, w->dataset, dlen, &h, !exists);
	if (rc < 0)
		return rc;
	/* The cache only saves reads: if it cannot grow, start it afresh. */
	if (gb_lmdb_cache_store(&s->cache, w->dataset, dlen, &h) < 0)
		gb_lmdb_cache_clear(&s->cache);
	w->result = 0;
	return 0;
}
