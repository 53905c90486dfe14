/* Fuzz target: a signed key wrap as the broker checks it when an owner
 * uploads it (gb_keywrap_verify) and as a recipient opens it when the broker
 * hands it over (gb_keywrap_open), with the fixed keys of fuzz.h: the owner
 * signs with fuzz_sign_seed, the recipient "health" holds the box keypair
 * of fuzz_box_seed. Open runs whether or not verify passed; a wrap that
 * opens must yield the key its commitment names. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gb_keywrap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
	static uint8_t box_pk[crypto_box_PUBLICKEYBYTES];
	static uint8_t box_sk[crypto_box_SECRETKEYBYTES];
	static int ready;
	uint8_t key[GB_DATASET_KEY_BYTES], commitment[GB_COMMITMENT_BYTES];
	gb_keywrap_info info;
	char why[256];

	if (!ready) {
		uint8_t sk[crypto_sign_SECRETKEYBYTES];
		if (sodium_init() < 0)
			abort();
		crypto_sign_seed_keypair(sign_pk, sk, fuzz_sign_seed);
		crypto_box_seed_keypair(box_pk, box_sk, fuzz_box_seed);
		sodium_memzero(sk, sizeof sk);
		ready = 1;
	}
	(void)!gb_keywrap_verify(data, size, sign_pk, &info, why, sizeof why);
	if (gb_keywrap_open(data, size, "tax.invoices", 1, "health", sign_pk,
			    box_pk, box_sk, key, &info, why, sizeof why) == 0) {
		gb_envelope_key_commitment(key, commitment);
		if (memcmp(commitment, info.commitment, sizeof commitment) != 0)
			abort();
	}
	return 0;
}
