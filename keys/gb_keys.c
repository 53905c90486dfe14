/* Key files and derivation; see gb_keys.h.
 *
 * Trust: ID.key files are untrusted input. A key file must be a regular
 * file of exactly GB_MASTER_BYTES bytes that neither group nor others can
 * access; anything else is refused with a sentence saying what to fix.
 * gb_file_read_secret applies the same rules to the other private files
 * (bearer tokens, TLS keys), bounded by the caller's size.
 * Secret bytes only ever live in sodium_malloc memory, which sodium_free
 * wipes. */
#include "gb_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "gb_error.h"

/* KDF context and subkey ids: changing them changes every derived key. */
static const char kdf_context[crypto_kdf_CONTEXTBYTES] = {'g', 'o', 'v', 'b',
							   'u', 's', '0', '1'};
enum { KDF_ID_SIGN = 1, KDF_ID_BOX = 2, KDF_ID_DEDUPE = 3 };

struct gb_identity {
	uint8_t master[GB_MASTER_BYTES];
	uint8_t sign_sk[GB_SIGN_SK_BYTES];
	uint8_t sign_pk[GB_SIGN_PK_BYTES];
	uint8_t box_sk[GB_BOX_SK_BYTES];
	uint8_t box_pk[GB_BOX_PK_BYTES];
	uint8_t dedupe_key[crypto_generichash_KEYBYTES];
};

/* Derive both keypairs from id->master. */
static int identity_derive(gb_identity *id)
{
	uint8_t *seed = sodium_malloc(crypto_sign_SEEDBYTES);
	int rc = GB_ENOMEM;

	if (!seed)
		return GB_ENOMEM;
	if (crypto_kdf_derive_from_key(seed, crypto_sign_SEEDBYTES, KDF_ID_SIGN,
				       kdf_context, id->master) != 0 ||
	    crypto_sign_seed_keypair(id->sign_pk, id->sign_sk, seed) != 0)
		goto out;
	if (crypto_kdf_derive_from_key(seed, crypto_box_SEEDBYTES, KDF_ID_BOX,
				       kdf_context, id->master) != 0 ||
	    crypto_box_seed_keypair(id->box_pk, id->box_sk, seed) != 0)
		goto out;
	if (crypto_kdf_derive_from_key(id->dedupe_key, sizeof id->dedupe_key,
				       KDF_ID_DEDUPE, kdf_context,
				       id->master) != 0)
		goto out;
	rc = 0;
out:
	sodium_free(seed);
	return rc == 0 ? 0 : GB_EIO;
}

static gb_identity *identity_alloc(void)
{
	if (sodium_init() < 0)
		return NULL;
	return sodium_malloc(sizeof(gb_identity));
}

gb_identity *gb_identity_generate(void)
{
	gb_identity *id = identity_alloc();
	if (!id)
		return NULL;
	randombytes_buf(id->master, sizeof id->master);
	if (identity_derive(id) != 0) {
		sodium_free(id);
		return NULL;
	}
	return id;
}

int gb_file_read_secret(const char *path, const char *what, size_t max_len,
			unsigned flags, uint8_t **out, size_t *len, char *why,
			size_t why_len)
{
	uint8_t *buf = NULL;
	struct stat st;
	size_t got = 0;
	int fd, rc = GB_EKEYFILE;

	*out = NULL;
	*len = 0;
	if (sodium_init() < 0)
		return gb_why(why, why_len, GB_ENOMEM, "libsodium did not start");
	/* O_NONBLOCK: opening a FIFO must not hang before fstat refuses it. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return gb_why(why, why_len, GB_EKEYFILE, "cannot open %s %.200s: %s",
			      what, path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		(void)gb_why(why, why_len, 0, "%s %.200s is not a regular file",
			     what, path);
		goto out;
	}
	if ((flags & GB_FILE_PRIVATE) && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		(void)gb_why(why, why_len, 0,
			     "%s %.200s is accessible by group or others "
			     "(mode %04o); run: chmod 600 %.200s",
			     what, path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > max_len) {
		(void)gb_why(why, why_len, 0, "%s %.200s has %lld bytes, more than %zu",
			     what, path, (long long)st.st_size, max_len);
		goto out;
	}
	/* One spare byte shows a file that grew while being read; one more
	 * holds the NUL. */
	buf = sodium_malloc((size_t)st.st_size + 2);
	if (!buf) {
		rc = gb_why(why, why_len, GB_ENOMEM, "out of secure memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			(void)gb_why(why, why_len, 0, "cannot read %s %.200s: %s",
				     what, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > (size_t)st.st_size) {
			(void)gb_why(why, why_len, 0,
				     "%s %.200s changed while being read", what, path);
			goto out;
		}
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	rc = 0;
out:
	if (buf)
		sodium_free(buf);
	close(fd);
	return rc;
}

int gb_identity_load(const char *path, gb_identity **out, char *why,
		     size_t why_len)
{
	gb_identity *id = NULL;
	uint8_t *master = NULL;
	size_t len;
	int rc;

	*out = NULL;
	rc = gb_file_read_secret(path, "key file", GB_MASTER_BYTES,
				 GB_FILE_PRIVATE, &master, &len, why, why_len);
	if (rc != 0)
		return rc;
	if (len != GB_MASTER_BYTES) {
		rc = gb_why(why, why_len, GB_EKEYFILE,
			    "key file %.200s has %zu bytes, a govbus key has %d",
			    path, len, GB_MASTER_BYTES);
		goto out;
	}
	id = identity_alloc();
	if (!id) {
		rc = gb_why(why, why_len, GB_ENOMEM, "out of secure memory");
		goto out;
	}
	memcpy(id->master, master, GB_MASTER_BYTES);
	rc = identity_derive(id);
	if (rc != 0) {
		(void)gb_why(why, why_len, 0, "cannot derive keys from %.200s", path);
		goto out;
	}
	*out = id;
	id = NULL;
out:
	if (id)
		sodium_free(id);
	sodium_free(master);
	return rc;
}

int gb_file_create(const char *path, const void *buf, size_t len,
		   unsigned mode, char *why, size_t why_len)
{
	const uint8_t *p = buf;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      (mode_t)mode);

	if (fd < 0)
		return gb_why(why, why_len, errno == EEXIST ? GB_ECONFLICT : GB_EIO,
			      "cannot create %.200s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			(void)gb_why(why, why_len, 0, "cannot write %.200s: %s", path,
				strerror(errno));
			close(fd);
			unlink(path);
			return GB_EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0) {
		(void)gb_why(why, why_len, 0, "cannot sync %.200s: %s", path,
			strerror(errno));
		close(fd);
		unlink(path);
		return GB_EIO;
	}
	close(fd);
	return 0;
}

int gb_identity_save(const gb_identity *id, const char *dir, const char *dept,
		     char *why, size_t why_len)
{
	char key_path[4096], pub_path[4096], pub[512];
	int rc;

	if (snprintf(key_path, sizeof key_path, "%s/%s.key", dir, dept) >=
		    (int)sizeof key_path ||
	    snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, dept) >=
		    (int)sizeof pub_path) {
		(void)gb_why(why, why_len, 0, "path too long");
		return GB_EINVAL;
	}
	rc = gb_identity_format_public(id, dept, pub, sizeof pub);
	if (rc != 0) {
		(void)gb_why(why, why_len, 0, "department id too long");
		return rc;
	}
	rc = gb_file_create(key_path, id->master, GB_MASTER_BYTES, 0600, why,
			    why_len);
	if (rc != 0)
		return rc;
	rc = gb_file_create(pub_path, pub, strlen(pub), 0644, why, why_len);
	if (rc != 0)
		unlink(key_path);
	return rc;
}

void gb_identity_destroy(gb_identity **id)
{
	if (!id || !*id)
		return;
	sodium_free(*id); /* wipes before freeing */
	*id = NULL;
}

const uint8_t *gb_identity_sign_pk(const gb_identity *id) { return id->sign_pk; }
const uint8_t *gb_identity_sign_sk(const gb_identity *id) { return id->sign_sk; }
const uint8_t *gb_identity_box_pk(const gb_identity *id) { return id->box_pk; }
const uint8_t *gb_identity_box_sk(const gb_identity *id) { return id->box_sk; }
const uint8_t *gb_identity_dedupe_key(const gb_identity *id) { return id->dedupe_key; }

int gb_identity_format_public(const gb_identity *id, const char *dept,
			      char *buf, size_t len)
{
	char sign[GB_SIGN_PK_TEXT], box[GB_BOX_PK_TEXT];
	int n;

	gb_key_encode_sign(id->sign_pk, sign);
	gb_key_encode_box(id->box_pk, box);
	n = snprintf(buf, len,
		     "# govbus public keys of %s: paste into the broker "
		     "config's departments list\n"
		     "id: %s\nsign_key: \"%s\"\nbox_key: \"%s\"\n",
		     dept, dept, sign, box);
	return (n < 0 || (size_t)n >= len) ? GB_EINVAL : 0;
}

void gb_key_encode_sign(const uint8_t pk[GB_SIGN_PK_BYTES],
			char out[GB_SIGN_PK_TEXT])
{
	sodium_bin2base64(out, GB_SIGN_PK_TEXT, pk, GB_SIGN_PK_BYTES,
			  sodium_base64_VARIANT_ORIGINAL);
}

int gb_key_decode_sign(const char *text, uint8_t pk[GB_SIGN_PK_BYTES])
{
	size_t got = 0;
	const char *end = NULL;

	if (!text || strlen(text) != GB_SIGN_PK_TEXT - 1)
		return GB_EINVAL;
	if (sodium_base642bin(pk, GB_SIGN_PK_BYTES, text, strlen(text), NULL,
			      &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != GB_SIGN_PK_BYTES || *end != '\0')
		return GB_EINVAL;
	return 0;
}

void gb_key_encode_box(const uint8_t pk[GB_BOX_PK_BYTES],
		       char out[GB_BOX_PK_TEXT])
{
	zmq_z85_encode(out, pk, GB_BOX_PK_BYTES);
}

int gb_key_decode_box(const char *text, uint8_t pk[GB_BOX_PK_BYTES])
{
	if (!text || strlen(text) != GB_BOX_PK_TEXT - 1)
		return GB_EINVAL;
	return zmq_z85_decode(pk, text) ? 0 : GB_EINVAL;
}
