/* govbus keys: master secrets, derived keypairs and their text forms.
 *
 * A department (and the broker) holds one 32-byte master secret in ID.key
 * (mode 0600). Two independent keypairs are derived from it with
 * crypto_kdf_derive_from_key: Ed25519 for signatures and X25519 for
 * CurveZMQ and key wraps. Secrets live in sodium_malloc memory and are wiped
 * on every path. Public keys are written as text with the libraries'
 * encoders: Ed25519 as base64 (sodium_bin2base64, original variant), X25519
 * as Z85 (zmq_z85_encode), the form CurveZMQ tools use. */
#ifndef GB_KEYS_H
#define GB_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define GB_MASTER_BYTES 32
#define GB_SIGN_PK_BYTES 32
#define GB_SIGN_SK_BYTES 64
#define GB_SIGNATURE_BYTES 64
#define GB_BOX_PK_BYTES 32
#define GB_BOX_SK_BYTES 32
#define GB_SIGN_PK_TEXT 45      /* base64 of 32 bytes, with NUL */
#define GB_BOX_PK_TEXT 41       /* Z85 of 32 bytes, with NUL */

typedef struct gb_identity gb_identity;

/* Create an identity from a fresh random master secret. NULL on failure. */
gb_identity *gb_identity_generate(void);

/* Load ID.key from `path`. Refuses (GB_EKEYFILE, with a sentence in `why`)
 * a file that is not a regular file, is not exactly GB_MASTER_BYTES long,
 * or can be read or written by group or others. */
int gb_identity_load(const char *path, gb_identity **out, char *why,
		     size_t why_len);

/* Write DIR/ID.key (0600, created exclusively) and DIR/ID.pub. */
int gb_identity_save(const gb_identity *id, const char *dir, const char *dept,
		     char *why, size_t why_len);

/* Wipe and free; accepts NULL and sets *id to NULL. */
void gb_identity_destroy(gb_identity **id);

const uint8_t *gb_identity_sign_pk(const gb_identity *id);
const uint8_t *gb_identity_sign_sk(const gb_identity *id);
const uint8_t *gb_identity_box_pk(const gb_identity *id);
const uint8_t *gb_identity_box_sk(const gb_identity *id);
/* Secret key of the department's record id tags (dedupe), the
 * crypto_generichash_KEYBYTES (= GB_DEDUPE_KEY_BYTES of gb_envelope.h)
 * that gb_record_tag_begin takes. */
const uint8_t *gb_identity_dedupe_key(const gb_identity *id);

/* Read the whole file at `path` (a regular file, not a link, at most
 * `max_len` bytes) into sodium_malloc memory with a NUL after the last byte
 * (*len excludes it). With GB_FILE_PRIVATE the file must not be accessible
 * by group or others, as for key files; without, any mode is read (a TLS
 * certificate). `what` names the file in the sentence left in `why` ("key
 * file", "token file"). The caller frees *out with sodium_free, which wipes.
 * @return 0; GB_EKEYFILE (missing, not regular, too permissive, too large,
 *         unreadable, changed while read) or GB_ENOMEM. */
#define GB_FILE_PRIVATE 1u
int gb_file_read_secret(const char *path, const char *what, size_t max_len,
			unsigned flags, uint8_t **out, size_t *len, char *why,
			size_t why_len);

/* Create `path` exclusively with `mode`, write all of buf and sync it.
 * @return 0; GB_ECONFLICT when the file exists (nothing written), GB_EIO
 *         (the partial file is removed), with a sentence in `why`. */
int gb_file_create(const char *path, const void *buf, size_t len,
		   unsigned mode, char *why, size_t why_len);

/* Write the YAML public description ("id:", "sign_key:", "box_key:" lines)
 * into buf. Returns GB_EINVAL when buf is too small. */
int gb_identity_format_public(const gb_identity *id, const char *dept,
			      char *buf, size_t len);

/* Text forms of public keys. Decoders reject wrong lengths and alphabets. */
void gb_key_encode_sign(const uint8_t pk[GB_SIGN_PK_BYTES],
			char out[GB_SIGN_PK_TEXT]);
int gb_key_decode_sign(const char *text, uint8_t pk[GB_SIGN_PK_BYTES]);
void gb_key_encode_box(const uint8_t pk[GB_BOX_PK_BYTES],
		       char out[GB_BOX_PK_TEXT]);
int gb_key_decode_box(const char *text, uint8_t pk[GB_BOX_PK_BYTES]);

#endif
