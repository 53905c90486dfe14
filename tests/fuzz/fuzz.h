/* Shared by the fuzz targets, their replay driver and the seed generator.
 *
 * Each target defines LLVMFuzzerTestOneInput() and nothing else that is
 * global, so the same file links either with libFuzzer (meson -Dfuzz=true,
 * clang) or with fuzz_replay.c (any compiler, the suite's 'fuzz-smoke'
 * tests). The fixed keys below let seeds carry valid signatures and
 * ciphertexts, so mutations start from inputs that get past the checks. */
#ifndef GB_FUZZ_H
#define GB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <protobuf-c/protobuf-c.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Forget the unknown fields of m and of every message inside it.
 *
 * protobuf-c keeps unknown fields and writes them back, but it accepts
 * some on decode that it then cannot decode from its own output (field
 * number 0, found by fuzz_client_frame: crash-e76e06...). govbus never
 * re-encodes a decoded frame (batches are stored as received), so the
 * round-trip checks compare what govbus reads: the known fields. */
static inline void fuzz_strip_unknown(ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d;

	if (!m)
		return;
	d = m->descriptor;
	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		free(m->unknown_fields[i].data);
	free(m->unknown_fields);
	m->unknown_fields = NULL;
	m->n_unknown_fields = 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *at = (char *)m + f->offset;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		/* memcpy: the offsets are protobuf-c's, the casts would not
		 * show the compiler that they are aligned. */
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			ProtobufCMessage **items;
			size_t n;
			memcpy(&n, (char *)m + f->quantifier_offset, sizeof n);
			memcpy(&items, at, sizeof items);
			for (size_t k = 0; k < n; k++)
				fuzz_strip_unknown(items[k]);
		} else {
			ProtobufCMessage *sub;
			memcpy(&sub, at, sizeof sub);
			fuzz_strip_unknown(sub);
		}
	}
}

/* Seed of the Ed25519 key that signs the envelope seeds. */
static const uint8_t fuzz_sign_seed[32] = {
	'g', 'o', 'v', 'b', 'u', 's', '-', 'f', 'u', 'z', 'z', '-', 's', 'i',
	'g', 'n', '-', 's', 'e', 'e', 'd', 0,   1,   2,   3,   4,   5,   6,
	7,   8,   9,   10,
};

/* Dataset key of epoch 1 in the envelope seeds. */
static const uint8_t fuzz_dataset_key[32] = {
	'g', 'o', 'v', 'b', 'u', 's', '-', 'f', 'u', 'z', 'z', '-', 'd', 'a',
	't', 'a', 's', 'e', 't', '-', 'k', 'e', 'y', 0,   1,   2,   3,   4,
	5,   6,   7,   8,
};

/* Seed of the X25519 box keypair of "health", the recipient of the wrap
 * seeds (fuzz_keywrap). */
static const uint8_t fuzz_box_seed[32] = {
	'g', 'o', 'v', 'b', 'u', 's', '-', 'f', 'u', 'z', 'z', '-', 'b', 'o',
	'x', '-', 's', 'e', 'e', 'd', 0,   1,   2,   3,   4,   5,   6,   7,
	8,   9,   10,  11,
};

/* fuzz_keyfile: the first input byte picks the file's mode from this
 * table (so both refusals and loads are reached); the rest is the file. */
static const unsigned fuzz_key_modes[4] = {0600, 0400, 0640, 0604};

/* fuzz_config: the load time of every config input (2026-01-01T00:00Z), so
 * a run does not depend on the day it is made. */
#define FUZZ_CONFIG_NOW_NS (INT64_C(1767225600) * INT64_C(1000000000))

#endif
