/* govbus envelope: building, signing, verifying and opening signed batches
 * (DESIGN §4).
 *
 *   signature  = Ed25519(BLAKE2b-512(PAE)), PAE = "govbus/v1/batch" ||
 *                u64le(len header) || header || u64le(len ct) || ct
 *   ciphertext = XChaCha20-Poly1305-IETF(RecordList, key = dataset key of
 *                key_epoch, nonce = header.nonce, ad = header bytes)
 *   commitment = BLAKE2b-256(key = dataset key, "govbus/v1/key-commitment")
 *
 * Key epoch 0 is the clear mode used before a dataset has keys: the
 * ciphertext field then holds the serialized RecordList itself, and nonce
 * and commitment are empty. Everything parsed here is untrusted. */
#ifndef GB_ENVELOPE_H
#define GB_ENVELOPE_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "govbus.pb-c.h"

#define GB_DATASET_KEY_BYTES 32
#define GB_NONCE_BYTES 24
#define GB_COMMITMENT_BYTES 32
#define GB_PAE_DIGEST_BYTES 64
#define GB_RECORD_TAG_BYTES 16
#define GB_DEDUPE_KEY_BYTES crypto_generichash_KEYBYTES

/* BLAKE2b-512 of the pre-authentication encoding (as in DSSE)
 * domain || u64le(len part_0) || part_0 || ... ; what govbus signs, so no
 * signed message can be read as another kind or split another way. */
void gb_pae_digest(const char *domain, const uint8_t *const *parts,
		   const size_t *lens, size_t n,
		   uint8_t out[GB_PAE_DIGEST_BYTES]);

typedef struct gb_batch_meta {
	const char *producer;
	const char *dataset;
	uint64_t producer_seq;
	uint64_t created_at_ns;
	uint32_t key_epoch;           /* 0: clear; then dataset_key is NULL */
	uint32_t record_count;
	const uint8_t *record_tags;   /* NULL, or record_count x
				       * GB_RECORD_TAG_BYTES (dedupe) */
} gb_batch_meta;

/* Record id tags (dedupe, DESIGN §7): the broker must recognise a record
 * sent again without learning its id, so a tag is a keyed hash,
 *   tag = BLAKE2b-128(key = the producer's dedupe key,
 *         "govbus/v1/record-id" || u64le(len dataset) || dataset ||
 *         u64le(len id) || id),
 * never all zero (16 zero bytes mean "no id"). gb_record_tag_begin hashes
 * the part shared by a dataset's records once; gb_record_tag finishes a
 * copy for one id. */
void gb_record_tag_begin(crypto_generichash_state *base,
			 const uint8_t key[GB_DEDUPE_KEY_BYTES],
			 const char *dataset);
void gb_record_tag(const crypto_generichash_state *base, const char *id,
		   size_t id_len, uint8_t out[GB_RECORD_TAG_BYTES]);

/* Build one serialized SignedBatch from `records`, the bytes of a serialized
 * RecordList holding meta->record_count records. Seals them under
 * `dataset_key` unless meta->key_epoch is 0, and signs with sign_sk.
 * *out is malloc'd and owned by the caller. */
int gb_envelope_build(const gb_batch_meta *meta, const uint8_t *records,
		      size_t records_len, const uint8_t *dataset_key,
		      const uint8_t *sign_sk, uint8_t **out, size_t *out_len);

typedef struct gb_envelope gb_envelope;

/* Parse a serialized SignedBatch (bounded by GB_MAX_BATCH_BYTES) and its
 * header, and validate every header field. Does not check the signature.
 * `why` names the bad field. */
int gb_envelope_parse(const uint8_t *buf, size_t len, gb_envelope **out,
		      char *why, size_t why_len);

void gb_envelope_destroy(gb_envelope **e);

const Govbus__V1__BatchHeader *gb_envelope_header(const gb_envelope *e);

/* GB_ESIG unless the signature verifies under sign_pk. Constant work. */
int gb_envelope_verify(const gb_envelope *e, const uint8_t *sign_pk)
	__attribute__((warn_unused_result));

/* Decrypt (or, for epoch 0, decode) the records. Checks the key commitment,
 * the tag and record_count, each with its own message in `why`. Free the
 * result with govbus__v1__record_list__free_unpacked(list, NULL). */
int gb_envelope_open(const gb_envelope *e, const uint8_t *dataset_key,
		     Govbus__V1__RecordList **out, char *why, size_t why_len)
	__attribute__((warn_unused_result));

/* The commitment of a dataset key, as carried in headers and key wraps. */
void gb_envelope_key_commitment(const uint8_t *dataset_key,
				uint8_t out[GB_COMMITMENT_BYTES]);

/* Append one Record, serialized as a RecordList element (field 1), to a
 * growing buffer. *buf is realloc'd as needed; *cap is its capacity. */
int gb_envelope_append_record(uint8_t **buf, size_t *len, size_t *cap,
			      const uint8_t *payload, size_t payload_len,
			      uint64_t produced_at_ns, const char *id);

#endif
