/* bench-steps: CPU cost of each step a batch goes through, on one core and
 * without a network, so the profile of bench/compare can be read as
 * "this step costs that much per record" (docs/PERFORMANCE.md).
 *
 *   bench-steps [--records-per-batch N] [--size BYTES] [--batches K]
 *
 * Producer: append records, build (PAE digest + Ed25519 sign; with a
 * dataset key also XChaCha20-Poly1305 seal). Broker: parse, verify (PAE
 * digest + Ed25519 verify), chain step (BLAKE2b of the whole signed batch).
 * Consumer: decode the Deliver frame, parse, verify, chain step, open.
 * Prints ns per record for every step, for key epoch 0 (clear) and for a
 * sealed batch. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "bench_util.h"
#include "gb_chain.h"
#include "gb_codec.h"
#include "gb_envelope.h"

struct step {
	const char *name;
	uint64_t ns;
};

enum { BUILD, APPEND, PARSE, VERIFY, CHAIN, DECODE, OPEN, NSTEPS };

static const char *const step_names[NSTEPS] = {
	"producer: build (digest + sign [+ seal])",
	"producer: append records",
	"broker/consumer: parse",
	"broker/consumer: verify (digest + Ed25519)",
	"broker/consumer: chain step (BLAKE2b of batch)",
	"consumer: decode Deliver frame",
	"consumer: open (decode records [+ unseal])",
};

static int run(uint32_t per_batch, size_t size, unsigned batches,
	       const uint8_t *key)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint8_t prev[GB_HASH_BYTES] = {0}, hash[GB_HASH_BYTES];
	uint8_t *payload = malloc(size), *records = NULL;
	uint64_t ns[NSTEPS] = {0};
	size_t len = 0, cap = 0;
	char why[256];

	if (!payload)
		return 1;
	crypto_sign_keypair(pk, sk);
	for (unsigned b = 0; b < batches; b++) {
		gb_batch_meta meta = {"tax", "tax.bench", b + 1, bench_wall_ns(),
				      key ? 1 : 0, per_batch, NULL};
		gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT, *got = NULL;
		Govbus__V1__Deliver d = GOVBUS__V1__DELIVER__INIT;
		Govbus__V1__RecordList *list = NULL;
		gb_envelope *env = NULL;
		uint8_t *sb = NULL, *frame = NULL;
		size_t sb_len = 0, frame_len = 0;
		uint64_t t;

		len = 0;
		t = bench_now_ns();
		for (uint32_t i = 0; i < per_batch; i++) {
			bench_payload(payload, size, (uint64_t)b * per_batch + i);
			if (gb_envelope_append_record(&records, &len, &cap, payload,
						      size, bench_wall_ns(), NULL))
				return 1;
		}
		ns[APPEND] += bench_now_ns() - t;
		t = bench_now_ns();
		if (gb_envelope_build(&meta, records, len, key, sk, &sb, &sb_len))
			return 1;
		ns[BUILD] += bench_now_ns() - t;

		d.subscription_id = 1;
		d.base_offset = (uint64_t)b * per_batch;
		d.record_count = per_batch;
		d.broker_time_ns = bench_wall_ns();
		d.chain_hash.data = prev;
		d.chain_hash.len = GB_HASH_BYTES;
		d.signed_batch.data = sb;
		d.signed_batch.len = sb_len;
		f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_DELIVER;
		f.deliver = &d;
		if (gb_codec_server_encode(&f, &frame, &frame_len))
			return 1;
		t = bench_now_ns();
		if (gb_codec_server_decode(frame, frame_len, &got, why, sizeof why)) {
			bench_log("decode: %s", why);
			return 1;
		}
		ns[DECODE] += bench_now_ns() - t;

		t = bench_now_ns();
		if (gb_envelope_parse(got->deliver->signed_batch.data,
				      got->deliver->signed_batch.len, &env, why,
				      sizeof why)) {
			bench_log("parse: %s", why);
			return 1;
		}
		ns[PARSE] += bench_now_ns() - t;
		t = bench_now_ns();
		if (gb_envelope_verify(env, pk) != 0)
			return 1;
		ns[VERIFY] += bench_now_ns() - t;
		t = bench_now_ns();
		gb_chain_next(prev, d.base_offset, d.broker_time_ns, sb, sb_len, hash);
		ns[CHAIN] += bench_now_ns() - t;
		t = bench_now_ns();
		if (gb_envelope_open(env, key, &list, why, sizeof why)) {
			bench_log("open: %s", why);
			return 1;
		}
		ns[OPEN] += bench_now_ns() - t;
		memcpy(prev, hash, sizeof prev);

		govbus__v1__record_list__free_unpacked(list, NULL);
		gb_envelope_destroy(&env);
		gb_codec_server_free(&got);
		free(frame);
		free(sb);
	}
	printf("%s batches of %" PRIu32 " x %zu B records, ns per record:\n",
	       key ? "sealed (key epoch 1)" : "clear (key epoch 0)", per_batch,
	       size);
	for (int s = 0; s < NSTEPS; s++)
		printf("  %-48s %8.1f\n", step_names[s],
		       (double)ns[s] / ((double)batches * per_batch));
	free(records);
	free(payload);
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t per_batch = 1000;
	size_t size = 300;
	unsigned batches = 300;
	uint8_t key[GB_DATASET_KEY_BYTES];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--records-per-batch"))
			per_batch = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--size"))
			size = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--batches"))
			batches = (unsigned)strtoul(argv[i + 1], NULL, 10);
	}
	if (sodium_init() < 0 || per_batch == 0 || size == 0 || batches == 0) {
		fprintf(stderr, "usage: bench-steps [--records-per-batch N] "
				"[--size BYTES] [--batches K]\n");
		return 2;
	}
	randombytes_buf(key, sizeof key);
	return run(per_batch, size, batches, NULL) ||
	       run(per_batch, size, batches, key);
}
