/* Stored entries and the hash chain over them (gb_store_entry.h).
 *
 * Trust: a value handed to gb_store_entry_split or _decode was read back
 * from storage and is not trusted: sizes are checked before any field is
 * read. Heads passed in were decoded and checked by the backend. */
#include "gb_store_entry.h"

#include <string.h>

#include "gb_error.h"
#include "gb_store_bytes.h"

void gb_store_entry_header(uint8_t out[GB_STORED_HEADER_BYTES],
			   uint64_t time_ns, uint64_t base, uint32_t count,
			   const uint8_t hash[GB_HASH_BYTES])
{
	gb_put_be64(out, time_ns);
	gb_put_be64(out + 8, base);
	gb_put_be32(out + 16, count);
	memcpy(out + 20, hash, GB_HASH_BYTES);
}

int gb_store_entry_split(const uint8_t *value, size_t len, gb_stored_batch *b)
{
	/* Empty batches are never stored, so a bare header is corrupt too. */
	if (!value || len <= GB_STORED_HEADER_BYTES)
		return GB_ECORRUPT;
	b->broker_time_ns = gb_get_be64(value);
	b->base_offset = gb_get_be64(value + 8);
	b->record_count = gb_get_be32(value + 16);
	b->chain_hash = value + 20;
	b->signed_batch = value + GB_STORED_HEADER_BYTES;
	b->signed_batch_len = len - GB_STORED_HEADER_BYTES;
	return 0;
}

int gb_store_entry_decode(const uint8_t *value, size_t len,
			  uint64_t key_offset, gb_stored_batch *b)
{
	if (gb_store_entry_split(value, len, b) < 0)
		return GB_ECORRUPT;
	if (b->base_offset != key_offset || b->record_count == 0 ||
	    b->base_offset > UINT64_MAX - b->record_count)
		return GB_ECORRUPT;
	return 0;
}

int gb_store_chain_extend(const gb_stream_info *head, const gb_write *w,
			  uint64_t *time_ns, uint8_t hash[GB_HASH_BYTES])
{
	if (head->next_offset > UINT64_MAX - w->record_count ||
	    head->last_time_ns == UINT64_MAX)
		return GB_ECORRUPT;
	*time_ns = w->now_ns > head->last_time_ns ? w->now_ns
						  : head->last_time_ns + 1;
	gb_chain_next(head->head_hash, head->next_offset, *time_ns,
		      w->signed_batch, w->signed_batch_len, hash);
	return 0;
}

void gb_store_head_advance(gb_stream_info *head, uint32_t count,
			   uint64_t time_ns, const uint8_t hash[GB_HASH_BYTES])
{
	head->next_offset += count;
	head->batch_count++;
	head->last_time_ns = time_ns;
	memcpy(head->head_hash, hash, GB_HASH_BYTES);
}

int gb_store_chain_follow(gb_stream_info *walk, const gb_stored_batch *b)
{
	uint8_t h[GB_HASH_BYTES];

	if (b->base_offset != walk->next_offset)
		return GB_ECORRUPT;
	gb_chain_next(walk->head_hash, b->base_offset, b->broker_time_ns,
		      b->signed_batch, b->signed_batch_len, h);
	if (b->broker_time_ns <= walk->last_time_ns ||
	    memcmp(h, b->chain_hash, GB_HASH_BYTES) != 0)
		return GB_ECORRUPT;
	gb_store_head_advance(walk, b->record_count, b->broker_time_ns, h);
	return 0;
}

bool gb_store_head_equal(const gb_stream_info *a, const gb_stream_info *b)
{
	return a->next_offset == b->next_offset &&
	       a->batch_count == b->batch_count &&
	       a->last_time_ns == b->last_time_ns &&
	       memcmp(a->head_hash, b->head_hash, GB_HASH_BYTES) == 0;
}
