/* Bearer tokens of the HTTP gateway: a random secret in a file of its own.
 *
 * The file holds one line, the token: 32 random bytes (libsodium) as
 * unpadded URL-safe base64, 43 characters. It is created on first use with
 * mode 0600 and refused, like a key file, when group or others may access
 * it. The token lives in sodium_malloc memory; a presented token is
 * compared through a BLAKE2b hash of each side with sodium_memcmp, so the
 * comparison takes the same time whatever the input and its length.
 *
 * Thread-safety: a token does not change once made, so its getters and
 * gb_http_token_matches may run on any threads at once; making and
 * destroying one is the owner's. */
#ifndef GB_HTTP_TOKEN_H
#define GB_HTTP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct gb_http_token gb_http_token;

#define GB_HTTP_TOKEN_MAX 256        /* characters in a token file's line */

/* Load the token in `path`, or create the file with a new token when it
 * does not exist (*created tells; the caller prints the token once then).
 * A loaded token is the file's first line: 16 to GB_HTTP_TOKEN_MAX
 * characters of base64url or base64 ('A-Za-z0-9-._~+/' then '=' padding,
 * RFC 6750's token68), nothing after it but one newline.
 * @return 0; GB_EKEYFILE (unreadable, too permissive, malformed) with a
 *         sentence in `why`, GB_EIO (cannot create), GB_ENOMEM. */
int gb_http_token_load_or_create(const char *path, gb_http_token **out,
				 bool *created, char *why, size_t why_len);

/* A token from text (a client's own copy, tests).
 * @return 0; GB_EINVAL when `text` is not a token as above. */
int gb_http_token_from_text(const char *text, gb_http_token **out);

/* The token's text, to print once or to send. */
const char *gb_http_token_text(const gb_http_token *t);

/* The BLAKE2b-256 of a token text, what a server keeps. */
#define GB_HTTP_TOKEN_HASH_BYTES 32
void gb_http_token_hash(const gb_http_token *t,
			unsigned char out[GB_HTTP_TOKEN_HASH_BYTES]);

/* Whether `presented` (len bytes, untrusted) is the token whose hash is
 * `hash`; constant time. */
bool gb_http_token_matches(const unsigned char hash[GB_HTTP_TOKEN_HASH_BYTES],
			   const char *presented, size_t len);

/* Wipe and free; accepts NULL and sets *t to NULL. */
void gb_http_token_destroy(gb_http_token **t);

#endif
