/* Stored entries and the hash chain over them, internal to broker/store:
 * the 52-byte header every backend stores (or hands out) in front of a
 * batch, and the rules that link entries into a stream (gb_store.h: dense
 * offsets, broker time max(now, last + 1), gb_chain_next). The head of a
 * stream is a gb_stream_info; appending and verifying both move one along
 * the entries, so a backend never computes a link by itself. */
#ifndef GB_STORE_ENTRY_H
#define GB_STORE_ENTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "gb_store.h"

/* Write the header of an entry stored at `base` (u64be time || u64be base
 * || u32be count || hash[32]); the batch bytes follow it. */
void gb_store_entry_header(uint8_t out[GB_STORED_HEADER_BYTES],
			   uint64_t time_ns, uint64_t base, uint32_t count,
			   const uint8_t hash[GB_HASH_BYTES]);

/* Split a stored value read back under `key_offset` and check it: it holds
 * at least one batch byte and one record, its own base is the key's, and
 * its records do not run past the offset space. GB_ECORRUPT otherwise. */
int gb_store_entry_decode(const uint8_t *value, size_t len,
			  uint64_t key_offset, gb_stored_batch *b);

/* The broker time and chain hash of w's batch (signed_batch,
 * record_count, now_ns) appended after `head`. GB_ECORRUPT when the head
 * is at the limits of offsets or time, which only a corrupt head can be. */
int gb_store_chain_extend(const gb_stream_info *head, const gb_write *w,
			  uint64_t *time_ns, uint8_t hash[GB_HASH_BYTES]);

/* Move `head` past an entry of `count` records stored at time_ns with
 * chain hash `hash`. */
void gb_store_head_advance(gb_stream_info *head, uint32_t count,
			   uint64_t time_ns, const uint8_t hash[GB_HASH_BYTES]);

/* Verification: `walk` is the head rebuilt from the entries seen so far
 * (all zero before the first). Take in `b` if it is the entry that must
 * follow: at walk->next_offset, later than the last, with the chain hash
 * recomputed from its bytes. GB_ECORRUPT (walk unchanged) otherwise. */
int gb_store_chain_follow(gb_stream_info *walk, const gb_stored_batch *b);

/* Whether two heads are the same in every field. */
bool gb_store_head_equal(const gb_stream_info *a, const gb_stream_info *b);

#endif
