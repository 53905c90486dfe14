/* Dataset keys over the wire: the reader's and the owner's side of DESIGN
 * §5, on the client's requests (KeyFetch -> KeyInfo, KeyUpload ->
 * KeyUploadAck). Internal to the library; gb_client_sync_keys() in
 * govbus.h is its public face. Every function reports through
 * gb_client_fail and gb_client_emit. */
#ifndef GB_DATASET_KEYS_H
#define GB_DATASET_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "gb_codec.h"
#include "govbus.h"

/* Reader side: open the wrap carried by `ki` (a KeyInfo for `dataset`
 * whose signed_wrap is not empty) into the keyring as the key of `epoch`,
 * checking it was signed by `owner` under `owner_pk` and sealed to this
 * department. `commitment` (may be NULL) receives the wrap's commitment.
 * On failure `why` says what was wrong with the wrap. */
int gb_dataset_keys_adopt(gb_client *c, const Govbus__V1__KeyInfo *ki,
			  const char *dataset, uint32_t epoch,
			  const char *owner, const uint8_t *owner_pk,
			  uint8_t *commitment, char *why, size_t why_len);

#endif
