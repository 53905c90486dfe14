/* Bearer token files; see gb_http_token.h.
 *
 * Trust: the token file is untrusted input (it may have been edited): it
 * is read bounded by gb_file_read_secret, which refuses links, non-regular
 * files and modes open to group or others, and its line must be a token68.
 * A presented token is untrusted and may be any length; only hashes are
 * compared. */
#include "gb_http_token.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

#include "gb_error.h"
#include "gb_keys.h"

#define TOKEN_RANDOM_BYTES 32
#define TOKEN_MIN 16

struct gb_http_token {
	size_t len;
	char text[GB_HTTP_TOKEN_MAX + 1];
};

static bool token68_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-._~+/", c));
}

/* Length of the token68 at the start of s[0..n), or 0 when s does not
 * start with one of TOKEN_MIN..GB_HTTP_TOKEN_MAX characters. */
static size_t token68_len(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && token68_char((unsigned char)s[i]))
		i++;
	while (i < n && s[i] == '=')
		i++;
	return (i >= TOKEN_MIN && i <= GB_HTTP_TOKEN_MAX) ? i : 0;
}

static gb_http_token *token_alloc(void)
{
	if (sodium_init() < 0)
		return NULL;
	return sodium_malloc(sizeof(gb_http_token));
}

int gb_http_token_from_text(const char *text, gb_http_token **out)
{
	size_t n = text ? strlen(text) : 0;
	gb_http_token *t;

	*out = NULL;
	if (!n || token68_len(text, n) != n)
		return GB_EINVAL;
	t = token_alloc();
	if (!t)
		return GB_ENOMEM;
	memcpy(t->text, text, n + 1);
	t->len = n;
	*out = t;
	return 0;
}

/* Read and check an existing token file. */
static int token_load(const char *path, gb_http_token **out, char *why,
		      size_t why_len)
{
	uint8_t *buf = NULL;
	size_t len, n;
	int rc;

	/* one line of a token and its newline */
	rc = gb_file_read_secret(path, "token file", GB_HTTP_TOKEN_MAX + 2,
				 GB_FILE_PRIVATE, &buf, &len, why, why_len);
	if (rc != 0)
		return rc;
	n = token68_len((const char *)buf, len);
	if (n == 0 || !(len == n || (len == n + 1 && buf[n] == '\n'))) {
		rc = gb_why(why, why_len, GB_EKEYFILE,
			    "token file %.200s does not hold one token of %d to "
			    "%d base64 characters on one line", path, TOKEN_MIN,
			    GB_HTTP_TOKEN_MAX);
		goto out;
	}
	buf[n] = '\0';
	rc = gb_http_token_from_text((const char *)buf, out);
	if (rc == GB_EINVAL)
		rc = gb_why(why, why_len, GB_EKEYFILE, "token file %.200s is "
			    "malformed", path);
	else if (rc != 0)
		(void)gb_why(why, why_len, 0, "out of secure memory");
out:
	sodium_free(buf);
	return rc;
}

/* Create `path` with a fresh token. GB_ECONFLICT when it appeared. */
static int token_create(const char *path, gb_http_token **out, char *why,
			size_t why_len)
{
	unsigned char raw[TOKEN_RANDOM_BYTES];
	gb_http_token *t = token_alloc();
	int rc;

	*out = NULL;
	if (!t)
		return gb_why(why, why_len, GB_ENOMEM, "out of secure memory");
	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(t->text, sizeof t->text, raw, sizeof raw,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
	t->len = strlen(t->text);
	t->text[t->len] = '\n'; /* the file's line; put back below */
	rc = gb_file_create(path, t->text, t->len + 1, 0600, why, why_len);
	t->text[t->len] = '\0';
	if (rc != 0) {
		sodium_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int gb_http_token_load_or_create(const char *path, gb_http_token **out,
				 bool *created, char *why, size_t why_len)
{
	struct stat st;
	int rc;

	*out = NULL;
	*created = false;
	if (lstat(path, &st) != 0 && errno == ENOENT) {
		rc = token_create(path, out, why, why_len);
		if (rc == 0) {
			*created = true;
			return 0;
		}
		/* another process created it first: load theirs */
		if (rc != GB_ECONFLICT)
			return rc;
	}
	return token_load(path, out, why, why_len);
}

const char *gb_http_token_text(const gb_http_token *t)
{
	return t->text;
}

void gb_http_token_hash(const gb_http_token *t,
			unsigned char out[GB_HTTP_TOKEN_HASH_BYTES])
{
	crypto_generichash(out, GB_HTTP_TOKEN_HASH_BYTES,
			   (const unsigned char *)t->text, t->len, NULL, 0);
}

bool gb_http_token_matches(const unsigned char hash[GB_HTTP_TOKEN_HASH_BYTES],
			   const char *presented, size_t len)
{
	unsigned char got[GB_HTTP_TOKEN_HASH_BYTES];
	bool same;

	/* Hashing first makes the comparison independent of the presented
	 * length as well as of its bytes. */
	crypto_generichash(got, sizeof got, (const unsigned char *)presented,
			   len, NULL, 0);
	same = sodium_memcmp(got, hash, sizeof got) == 0;
	sodium_memzero(got, sizeof got);
	return same;
}

void gb_http_token_destroy(gb_http_token **t)
{
	if (!t || !*t)
		return;
	sodium_free(*t); /* wipes */
	*t = NULL;
}
