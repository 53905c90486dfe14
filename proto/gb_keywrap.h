/* govbus key wraps: a dataset key of one epoch, sealed to one recipient and
 * signed by the dataset's owner (DESIGN §5).
 *
 *   sealed_key = crypto_box_seal(dataset key, recipient box key)
 *   signature  = Ed25519(PAE("govbus/v1/wrap", serialized KeyWrap))
 *
 * The broker stores wraps and checks their signature and fields; only the
 * recipient can open one, and it checks the owner's signature and the key
 * commitment first, so a broker cannot hand out a key of its own. */
#ifndef GB_KEYWRAP_H
#define GB_KEYWRAP_H

#include <stddef.h>
#include <stdint.h>

#include "gb_codec.h"
#include "gb_envelope.h"

#define GB_MAX_WRAP_BYTES 1024

typedef struct gb_keywrap_info {
	char dataset[GB_MAX_ID_LEN + 1];
	uint32_t epoch;
	char owner[GB_MAX_ID_LEN + 1];
	char recipient[GB_MAX_ID_LEN + 1];
	uint8_t commitment[GB_COMMITMENT_BYTES];
	uint64_t created_at_ns;
} gb_keywrap_info;

/* Seal `dataset_key` to `recipient_box_pk` and sign as the owner. *out is
 * malloc'd (a serialized SignedWrap). */
int gb_keywrap_build(const char *dataset, uint32_t epoch, const char *owner,
		     const char *recipient, const uint8_t *recipient_box_pk,
		     const uint8_t *dataset_key, const uint8_t *owner_sign_sk,
		     uint64_t now_ns, uint8_t **out, size_t *out_len);

/* Parse a serialized SignedWrap (bounded), validate its fields and verify
 * its signature under owner_sign_pk. Fills *info. Does not open it. */
int gb_keywrap_verify(const uint8_t *buf, size_t len,
		      const uint8_t *owner_sign_pk, gb_keywrap_info *info,
		      char *why, size_t why_len)
	__attribute__((warn_unused_result));

/* Verify as above, check the wrap is the expected one (dataset, epoch,
 * recipient), open it with the recipient's box keypair into key_out
 * (GB_DATASET_KEY_BYTES, caller's secure memory) and check the key matches
 * the wrap's commitment. Each failure has its own sentence in `why`. */
int gb_keywrap_open(const uint8_t *buf, size_t len, const char *dataset,
		    uint32_t epoch, const char *recipient,
		    const uint8_t *owner_sign_pk, const uint8_t *box_pk,
		    const uint8_t *box_sk, uint8_t *key_out,
		    gb_keywrap_info *info, char *why, size_t why_len)
	__attribute__((warn_unused_result));

#endif
