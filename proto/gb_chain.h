/* govbus hash chain over a stream's stored batches (DESIGN §7).
 *
 *   h_i = BLAKE2b-256("govbus/v1/chain" || h_{i-1} || u64be(base_offset)
 *                     || u64be(broker_time_ns) || BLAKE2b-256(signed batch))
 *
 * with h_{-1} = 32 zero bytes. Shared by the broker, which extends it, and by
 * agents and auditors, who recompute it. */
#ifndef GB_CHAIN_H
#define GB_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#define GB_HASH_BYTES 32

/* Compute the chain hash that follows `prev` for one stored batch. */
void gb_chain_next(const uint8_t prev[GB_HASH_BYTES], uint64_t base_offset,
		   uint64_t broker_time_ns, const uint8_t *signed_batch,
		   size_t signed_batch_len, uint8_t out[GB_HASH_BYTES]);

#endif
