/* Producer seqs of the LMDB backend, internal to broker/store/lmdb: the
 * pseq db ("dataset \0 producer \0 u64be seq" -> u64be base offset ||
 * u32be record count) that makes retries idempotent and keeps each
 * producer's seqs dense (gb_store.h, APPEND). */
#ifndef GB_LMDB_PSEQ_H
#define GB_LMDB_PSEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_lmdb_env.h"

/* Find the last seq stored under `prefix` (gb_lmdb_pseq_prefix, `plen`
 * bytes) with `cur`; *found false and *seq 0 when the producer has none. */
int gb_lmdb_last_seq_find(MDB_cursor *cur, const uint8_t *prefix,
			  size_t plen, uint64_t *seq, bool *found);

/* w's seq is not above the producer's last: answer a retry of a stored
 * batch with its original offset (duplicate), or reject it with
 * GB_ECONFLICT. `key` holds the prefix and has room for the seq. */
int gb_lmdb_pseq_resolve_old(gb_lmdb_write *g, gb_write *w, uint8_t *key,
			     size_t plen);

/* Store w's seq as pointing at `base` (its record_count with it). */
int gb_lmdb_pseq_put(gb_lmdb_write *g, const gb_write *w, uint8_t *key,
		     size_t plen, uint64_t base);

/* gb_store_last_seq. */
int gb_lmdb_last_seq(gb_store *s, const char *dataset, const char *producer,
		     uint64_t *seq);

#endif
