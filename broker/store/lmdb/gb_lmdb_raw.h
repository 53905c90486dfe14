/* The LMDB data file opened behind the store's back, for the lmdb tests
 * (prefix raw_): damage a log value, delete an entry, flip a byte of a
 * stream record, plant a record or a producer seq, count the dedupe index.
 * Call them between a gb_store_close and a reopen. Layouts as in
 * gb_store.h; each returns 0, or -1 when the file could not be changed. */
#ifndef GB_LMDB_RAW_H
#define GB_LMDB_RAW_H

#include <stddef.h>
#include <stdint.h>

enum raw_db { RAW_STREAMS, RAW_META, RAW_EPOCHS };

/* Replace the stored value at (dataset, base) by its first `keep` bytes
 * with byte `flip` (if < keep) inverted. */
int raw_damage(const char *dir, const char *dataset, uint64_t base,
	       size_t keep, size_t flip);

/* Delete the log entry at (dataset, base). */
int raw_delete_log(const char *dir, const char *dataset, uint64_t base);

/* Invert bit 0 of byte `flip` of the stream record of `dataset`. */
int raw_flip_stream(const char *dir, const char *dataset, size_t flip);

/* The stream id of `dataset`, 0 when it has none. */
uint32_t raw_stream_id_of(const char *dir, const char *dataset);

/* Store `len` bytes under `key` in the streams, meta or epochs db. */
int raw_put(const char *dir, enum raw_db which, const char *key,
	    const void *val, size_t len);

/* Store pseq key "dataset \0 producer \0 u64be seq" -> u64be base ||
 * u32be count directly. */
int raw_put_pseq(const char *dir, const char *dataset, const char *producer,
		 uint64_t seq, uint64_t base, uint32_t count);

/* Entries in the dedupe db and its age index (SIZE_MAX when unreadable). */
void raw_dedupe_counts(const char *dir, size_t *entries, size_t *ages);

#endif
