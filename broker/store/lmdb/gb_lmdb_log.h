/* Reading the LMDB backend's log, internal to broker/store/lmdb: the
 * operations behind gb_store_stream_info, _read, _offset_for_time,
 * _verify_stream and _read_raw (contracts in gb_store.h). Each runs in one
 * read transaction, so it sees one state of the stream. */
#ifndef GB_LMDB_LOG_H
#define GB_LMDB_LOG_H

#include "gb_lmdb_env.h"

int gb_lmdb_stream_info(gb_store *s, const char *dataset, gb_stream_info *out);
int gb_lmdb_offset_for_time(gb_store *s, const char *dataset,
			    uint64_t time_ns, uint64_t *offset);
int gb_lmdb_read(gb_store *s, const char *dataset, uint64_t offset,
		 size_t max_batches, gb_store_batch_fn fn, void *ctx);
int gb_lmdb_verify_stream(gb_store *s, const char *dataset,
			  uint64_t *bad_offset);
int gb_lmdb_read_raw(gb_store *s, const char *stream, gb_stream_info *head,
		     gb_store_value_fn fn, void *ctx);

#endif
