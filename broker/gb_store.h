/* govbus log store: the broker's LMDB environment (DESIGN §7).
 *
 * One environment in data_dir with named databases:
 *   streams   dataset id -> stream record (stream id, next offset, batch
 *             count, head chain hash, last broker time)
 *   log       u32be stream id || u64be base offset -> stored batch
 *   pseq      dataset \0 producer \0 u64be producer_seq -> u64be base offset
 *             || u32be record count   (idempotent retries)
 *   cursors   dept \0 dataset \0 name -> u64be next offset (durable cursors)
 *   meta      format version and the stream id counter
 *
 * Stored batch value: u64be broker_time_ns || u64be base_offset ||
 * u32be record_count || chain hash[32] || signed batch bytes.
 *
 * Threads: exactly one writer thread calls gb_store_write_group(); any thread
 * may call the read functions concurrently (MDB_NOTLS). The data file is
 * untrusted on read: every value is length- and consistency-checked, and a
 * bad one gives GB_ECORRUPT, never a crash. */
#ifndef GB_STORE_H
#define GB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_chain.h"

#define GB_STORED_HEADER_BYTES 52

typedef struct gb_store gb_store;

/* Open (creating if needed) the environment in `dir` with a map of
 * `map_size` bytes (0: the default, 64 GiB of address space). */
int gb_store_open(const char *dir, uint64_t map_size, gb_store **out);

/* Close; accepts NULL and sets *s to NULL. */
void gb_store_close(gb_store **s);

/* ------------------------------------------------------------ writing */

typedef enum { GB_WRITE_APPEND = 0, GB_WRITE_CURSOR = 1 } gb_write_kind;

/* One item of a group commit. Inputs are borrowed for the call. */
typedef struct gb_write {
	gb_write_kind kind;
	/* APPEND inputs */
	const char *dataset;
	const char *producer;
	uint64_t producer_seq;
	uint32_t record_count;
	const uint8_t *signed_batch;    /* stored exactly as given */
	size_t signed_batch_len;
	uint64_t now_ns;                /* broker clock when received */
	/* CURSOR inputs (dataset above too) */
	const char *dept;
	const char *cursor_name;
	uint64_t cursor_next;
	/* results */
	int result;                     /* 0 or GB_E... for this item */
	bool duplicate;                 /* APPEND: seq already stored */
	uint64_t base_offset;           /* APPEND: offset of the first record */
	uint64_t broker_time_ns;        /* APPEND: stored time */
	uint8_t chain_hash[GB_HASH_BYTES];
} gb_write;

/* Apply `n` items in one transaction, commit and sync, in order.
 *
 * APPEND: if producer_seq was already stored for (dataset, producer) the item
 * gets result 0, duplicate=true and the original base_offset; if it is not
 * greater than the last stored seq and not stored, GB_ECONFLICT; otherwise
 * the batch is appended at the stream's next offset with broker time
 * max(now_ns, last + 1) and the chain extended.
 * A per-item rejection does not affect other items. If the commit fails
 * (GB_ENOSPC for MDB_MAP_FULL/ENOSPC, GB_EIO otherwise) every item gets that
 * error, nothing is stored, and the function returns it. Returns 0 when the
 * commit is durable. */
int gb_store_write_group(gb_store *s, gb_write *items, size_t n);

/* ------------------------------------------------------------ reading */

typedef struct gb_stream_info {
	uint64_t next_offset;           /* offset the next record will get */
	uint64_t batch_count;
	uint64_t last_time_ns;          /* broker time of the last batch, 0 if none */
	uint8_t head_hash[GB_HASH_BYTES];
} gb_stream_info;

/* Stream head. An unknown dataset reads as an empty stream (all zero). */
int gb_store_stream_info(gb_store *s, const char *dataset,
			 gb_stream_info *out);

/* Last stored producer_seq of (dataset, producer), 0 if none. */
int gb_store_last_seq(gb_store *s, const char *dataset, const char *producer,
		      uint64_t *seq);

/* First offset whose batch has broker time >= time_ns (binary search over
 * offsets); the stream's next offset if none. */
int gb_store_offset_for_time(gb_store *s, const char *dataset,
			     uint64_t time_ns, uint64_t *offset);

typedef struct gb_stored_batch {
	uint64_t base_offset;
	uint32_t record_count;
	uint64_t broker_time_ns;
	const uint8_t *chain_hash;      /* GB_HASH_BYTES */
	const uint8_t *signed_batch;
	size_t signed_batch_len;
} gb_stored_batch;

/* Called for each batch; pointers are valid only during the call. Return 0
 * to continue, 1 to stop early without error, negative to abort with that
 * error. */
typedef int (*gb_store_batch_fn)(void *ctx, const gb_stored_batch *b);

/* Visit up to `max_batches` batches of `dataset`, starting with the batch
 * that contains `offset`, in offset order, inside one read transaction.
 * Returns the number visited (>= 0) or a negative error. */
int gb_store_read(gb_store *s, const char *dataset, uint64_t offset,
		  size_t max_batches, gb_store_batch_fn fn, void *ctx);

/* Durable cursor of (dept, dataset, name); GB_ENOTFOUND when never set. */
int gb_store_cursor_get(gb_store *s, const char *dept, const char *dataset,
			const char *name, uint64_t *next_offset);

/* Recompute the chain of `dataset` from offset 0 and check offsets are dense
 * and every stored hash matches. On a mismatch returns GB_ECORRUPT and sets
 * *bad_offset. */
int gb_store_verify_stream(gb_store *s, const char *dataset,
			   uint64_t *bad_offset);

#endif
