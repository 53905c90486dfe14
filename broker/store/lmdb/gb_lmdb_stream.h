/* Streams of the LMDB backend, internal to broker/store/lmdb: the streams
 * db's head records (stream id, gb_stream_info) and appending an entry to
 * a stream's log inside a write group, which APPEND and AUDIT share. The
 * chain link and the entry's header come from gb_store_entry, so the
 * guarantees of gb_store.h (dense offsets, chain continuity, rising broker
 * time) are computed the same way as in every backend. */
#ifndef GB_LMDB_STREAM_H
#define GB_LMDB_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "gb_lmdb_env.h"

/* Read the head of `dataset` (`len` bytes) as `txn` sees it. A dataset
 * never written reads as *exists == false with a zeroed head; a malformed
 * record is GB_ECORRUPT. */
int gb_lmdb_stream_load(const gb_lmdb *s, MDB_txn *txn, const char *dataset,
			size_t len, gb_lmdb_head *h, bool *exists);

/* The head of `dataset` as the group sees it: from the writer's cache,
 * else from the streams db. */
int gb_lmdb_stream_group_head(gb_lmdb_write *g, const char *dataset,
			      size_t len, gb_lmdb_head *h, bool *exists);

/* Append w's batch (signed_batch, record_count) at the next offset of
 * stream w->dataset (`dlen` bytes), extend the chain, write the new head
 * and fill w's results. Rejections land in w->result and return 0, and are
 * decided before the first put; a negative return ends the group. */
int gb_lmdb_stream_append(gb_lmdb_write *g, gb_write *w, size_t dlen);

#endif
