/* gb_keyring: the dataset keys one agent client holds, per (dataset, key
 * epoch) (DESIGN §5). Internal to the agent library.
 *
 * Nothing here is ever written to disk: an agent recovers its keys from its
 * own wraps (KeyFetch) and keeps them only for the life of its client. A key
 * enters the ring in exactly two ways, so it never sits in ordinary memory:
 * drawn at random (an owner opening an epoch) or opened from a wrap
 * (gb_keywrap_open writing straight into the entry).
 *
 * Each key has its own sodium_malloc region (guard pages, mlock'd where the
 * system allows) that stays PROT_NONE except while a caller borrows it, and
 * is wiped by sodium_free when forgotten or when the ring is destroyed. */
#ifndef GB_KEYRING_H
#define GB_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_keywrap.h"

typedef struct gb_keyring gb_keyring;

/* A new, empty ring; NULL when out of memory. */
gb_keyring *gb_keyring_new(void);

/* Wipe and free every key and the ring; accepts NULL, sets *kr to NULL. */
void gb_keyring_destroy(gb_keyring **kr);

/* Draw a fresh random key for (dataset, epoch).
 * @return 0; GB_ECONFLICT when the ring already holds that epoch;
 *         GB_EINVAL (epoch 0 or a bad id); GB_ENOMEM. */
int gb_keyring_generate(gb_keyring *kr, const char *dataset, uint32_t epoch);

/* Open a serialized SignedWrap into the ring as the key of (dataset,
 * epoch): gb_keywrap_open with `owner_sign_pk` as the signer and
 * `recipient`'s box keypair. On failure nothing is kept and `why` holds
 * gb_keywrap_open's sentence. `info` (may be NULL) receives the wrap's
 * fields.
 * @return 0; GB_ECONFLICT when the ring already holds that epoch; the
 *         error of gb_keywrap_open (GB_ESIG, GB_ECRYPTO, GB_EINVAL,
 *         GB_EDECODE); GB_ENOMEM. */
int gb_keyring_open_wrap(gb_keyring *kr, const uint8_t *wrap, size_t len,
			 const char *dataset, uint32_t epoch,
			 const char *recipient, const uint8_t *owner_sign_pk,
			 const uint8_t *box_pk, const uint8_t *box_sk,
			 gb_keywrap_info *info, char *why, size_t why_len)
	__attribute__((warn_unused_result));

/* True when the ring holds the key of (dataset, epoch). */
bool gb_keyring_has(const gb_keyring *kr, const char *dataset, uint32_t epoch);

/* Read access to the key of (dataset, epoch) (GB_DATASET_KEY_BYTES), or
 * NULL when absent. The key stays readable until the matching
 * gb_keyring_release(); borrows of one key nest. */
const uint8_t *gb_keyring_borrow(gb_keyring *kr, const char *dataset,
				 uint32_t epoch);
void gb_keyring_release(gb_keyring *kr, const uint8_t *key);

/* Wipe and drop the key of (dataset, epoch), if held and not borrowed. */
void gb_keyring_forget(gb_keyring *kr, const char *dataset, uint32_t epoch);

/* How many keys the ring holds. */
size_t gb_keyring_count(const gb_keyring *kr);

#endif
