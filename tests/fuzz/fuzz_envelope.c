/* Fuzz target: a signed batch as the broker (parse, verify) and a
 * subscriber (verify, open) handle it, with the fixed keys of fuzz.h. Open
 * runs whether or not the signature verified, so its decoding is reached
 * by mutated inputs too; a batch that opens must hold exactly the records
 * its header counts. */
#include <sodium.h>
#include <stdlib.h>

#include "fuzz.h"
#include "gb_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
	static int ready;
	gb_envelope *env = NULL;
	Govbus__V1__RecordList *list = NULL;
	const Govbus__V1__BatchHeader *h;
	char why[256];

	if (!ready) {
		uint8_t sk[crypto_sign_SECRETKEYBYTES];
		if (sodium_init() < 0)
			abort();
		crypto_sign_seed_keypair(sign_pk, sk, fuzz_sign_seed);
		sodium_memzero(sk, sizeof sk);
		ready = 1;
	}
	if (gb_envelope_parse(data, size, &env, why, sizeof why) != 0)
		return 0;
	h = gb_envelope_header(env);
	(void)!gb_envelope_verify(env, sign_pk);
	if (gb_envelope_open(env, h->key_epoch ? fuzz_dataset_key : NULL, &list,
			     why, sizeof why) == 0) {
		if (list->n_records != h->record_count)
			abort();
		govbus__v1__record_list__free_unpacked(list, NULL);
	}
	gb_envelope_destroy(&env);
	return 0;
}
