/* Hash chain step; see gb_chain.h. */
#include "gb_chain.h"

#include <sodium.h>
#include <string.h>

static const char chain_domain[] = "govbus/v1/chain";

static void put_u64be(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

void gb_chain_next(const uint8_t prev[GB_HASH_BYTES], uint64_t base_offset,
		   uint64_t broker_time_ns, const uint8_t *signed_batch,
		   size_t signed_batch_len, uint8_t out[GB_HASH_BYTES])
{
	uint8_t batch_hash[GB_HASH_BYTES];
	uint8_t be[8];
	crypto_generichash_state st;

	crypto_generichash(batch_hash, sizeof batch_hash, signed_batch,
			   signed_batch_len, NULL, 0);
	crypto_generichash_init(&st, NULL, 0, GB_HASH_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)chain_domain,
				  sizeof chain_domain - 1);
	crypto_generichash_update(&st, prev, GB_HASH_BYTES);
	put_u64be(be, base_offset);
	crypto_generichash_update(&st, be, sizeof be);
	put_u64be(be, broker_time_ns);
	crypto_generichash_update(&st, be, sizeof be);
	crypto_generichash_update(&st, batch_hash, sizeof batch_hash);
	crypto_generichash_final(&st, out, GB_HASH_BYTES);
}
