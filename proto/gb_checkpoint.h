/* govbus signed checkpoints: the broker's signed statement of a stream's
 * state, which auditors check the hash chain against (DESIGN §7).
 *
 *   checkpoint = serialized Checkpoint{dataset, next_offset, chain_hash,
 *                broker_time_ns, batch_count}
 *   signature  = Ed25519(gb_pae_digest("govbus/v1/checkpoint", [checkpoint]))
 *
 * Signed by the broker identity's Ed25519 key, the key auditors pin. The
 * broker builds them; agents, govbus-audit and tests verify them. Whatever
 * is verified here is untrusted input: sizes are checked before unpacking
 * and every field is validated. */
#ifndef GB_CHECKPOINT_H
#define GB_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "gb_chain.h"
#include "gb_codec.h"

#define GB_MAX_CHECKPOINT_BYTES 1024   /* a serialized SignedCheckpoint */

typedef struct gb_checkpoint {
	char dataset[GB_MAX_ID_LEN + 1];   /* stream name (dataset or "_audit") */
	uint64_t next_offset;
	uint8_t chain_hash[GB_HASH_BYTES];
	uint64_t broker_time_ns;
	uint64_t batch_count;
} gb_checkpoint;

/* Serialize and sign `cp` with the broker's Ed25519 secret key into a
 * serialized SignedCheckpoint; *out is malloc'd and owned by the caller.
 * GB_EINVAL for a bad stream name or inconsistent counts, GB_ENOMEM. */
int gb_checkpoint_sign(const gb_checkpoint *cp, const uint8_t *sign_sk,
		       uint8_t **out, size_t *out_len);

/* Parse a serialized SignedCheckpoint and validate its fields into *cp
 * without checking the signature (GB_EDECODE / GB_EINVAL / GB_ETOOBIG,
 * sentence in `why`). Then, when `sign_pk` is not NULL, verify the
 * signature under it (GB_ESIG). */
int gb_checkpoint_verify(const uint8_t *buf, size_t len,
			 const uint8_t *sign_pk, gb_checkpoint *cp, char *why,
			 size_t why_len) __attribute__((warn_unused_result));

#endif
