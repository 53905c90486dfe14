/* Unit tests of key files: derivation, text encodings, permissions. */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gb_keys.h"
#include "gb_test.h"

static char dir[] = "/tmp/gb_keys_test.XXXXXX";

static void write_raw(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, buf, len) == (ssize_t)len);
	fchmod(fd, mode);
	close(fd);
}

static void test_roundtrip(void)
{
	char why[512], path[512], pub[512];
	gb_identity *a = gb_identity_generate(), *b = NULL;
	struct stat st;
	FILE *f;
	size_t n;

	CHECK(a != NULL);
	CHECK_RC(gb_identity_save(a, dir, "tax", why, sizeof why), 0);
	snprintf(path, sizeof path, "%s/tax.key", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(st.st_size == GB_MASTER_BYTES);
	CHECK_RC(gb_identity_load(path, &b, why, sizeof why), 0);
	CHECK(b && !memcmp(gb_identity_sign_pk(a), gb_identity_sign_pk(b), 32));
	CHECK(b && !memcmp(gb_identity_box_pk(a), gb_identity_box_pk(b), 32));
	/* the two derived keypairs are independent */
	CHECK(memcmp(gb_identity_sign_pk(a), gb_identity_box_pk(a), 32) != 0);

	/* a second save must not clobber the secret */
	CHECK(gb_identity_save(a, dir, "tax", why, sizeof why) != 0);

	/* ID.pub holds the lines that paste into the config */
	snprintf(path, sizeof path, "%s/tax.pub", dir);
	f = fopen(path, "r");
	CHECK(f != NULL);
	n = f ? fread(pub, 1, sizeof pub - 1, f) : 0;
	pub[n] = '\0';
	if (f)
		fclose(f);
	CHECK_CONTAINS(pub, "\nid: tax\n");
	CHECK_CONTAINS(pub, "sign_key: \"");
	CHECK_CONTAINS(pub, "box_key: \"");

	/* signing with the derived key verifies with the public half */
	{
		uint8_t sig[64];
		const uint8_t msg[] = "govbus";
		CHECK(crypto_sign_detached(sig, NULL, msg, sizeof msg,
					   gb_identity_sign_sk(a)) == 0);
		CHECK(crypto_sign_verify_detached(sig, msg, sizeof msg,
						  gb_identity_sign_pk(b)) == 0);
	}
	gb_identity_destroy(&a);
	gb_identity_destroy(&b);
	CHECK(a == NULL && b == NULL);
	gb_identity_destroy(NULL);
}

static void test_refusals(void)
{
	char why[512], path[512];
	uint8_t secret[GB_MASTER_BYTES] = {1};
	gb_identity *id = NULL;

	snprintf(path, sizeof path, "%s/open.key", dir);
	write_raw(path, secret, sizeof secret, 0644);
	CHECK_RC(gb_identity_load(path, &id, why, sizeof why), GB_EKEYFILE);
	CHECK_CONTAINS(why, "accessible by group or others");
	CHECK_CONTAINS(why, "chmod 600");
	CHECK(id == NULL);

	snprintf(path, sizeof path, "%s/group.key", dir);
	write_raw(path, secret, sizeof secret, 0640);
	CHECK_RC(gb_identity_load(path, &id, why, sizeof why), GB_EKEYFILE);

	snprintf(path, sizeof path, "%s/short.key", dir);
	write_raw(path, secret, 31, 0600);
	CHECK_RC(gb_identity_load(path, &id, why, sizeof why), GB_EKEYFILE);
	CHECK_CONTAINS(why, "has 31 bytes");

	snprintf(path, sizeof path, "%s/missing.key", dir);
	CHECK_RC(gb_identity_load(path, &id, why, sizeof why), GB_EKEYFILE);
	CHECK_CONTAINS(why, "cannot open");

	CHECK_RC(gb_identity_load(dir, &id, why, sizeof why), GB_EKEYFILE);
}

/* The shared reader and creator of private files (tokens, TLS keys). */
static void test_files(void)
{
	char why[512], path[512];
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;

	snprintf(path, sizeof path, "%s/token", dir);
	CHECK_RC(gb_file_create(path, "abc\n", 4, 0600, why, sizeof why), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_RC(gb_file_create(path, "xyz\n", 4, 0600, why, sizeof why),
		 GB_ECONFLICT);
	CHECK_RC(gb_file_read_secret(path, "token file", 64, GB_FILE_PRIVATE,
				     &buf, &len, why, sizeof why), 0);
	CHECK(len == 4 && buf && !memcmp(buf, "abc\n", 5)); /* NUL-terminated */
	sodium_free(buf);
	buf = NULL;
	CHECK_RC(gb_file_read_secret(path, "token file", 3, GB_FILE_PRIVATE,
				     &buf, &len, why, sizeof why), GB_EKEYFILE);
	CHECK_CONTAINS(why, "token file");
	CHECK_CONTAINS(why, "more than 3");
	CHECK(buf == NULL);

	/* a certificate may be readable by all; a private file may not */
	CHECK(chmod(path, 0644) == 0);
	CHECK_RC(gb_file_read_secret(path, "certificate", 64, 0, &buf, &len,
				     why, sizeof why), 0);
	sodium_free(buf);
	buf = NULL;
	CHECK_RC(gb_file_read_secret(path, "token file", 64, GB_FILE_PRIVATE,
				     &buf, &len, why, sizeof why), GB_EKEYFILE);
	CHECK_CONTAINS(why, "accessible by group or others");
	CHECK(buf == NULL);
}

static void test_encodings(void)
{
	uint8_t pk[32], back[32];
	char sign[GB_SIGN_PK_TEXT], box[GB_BOX_PK_TEXT];

	randombytes_buf(pk, sizeof pk);
	gb_key_encode_sign(pk, sign);
	CHECK(strlen(sign) == 44);
	CHECK_RC(gb_key_decode_sign(sign, back), 0);
	CHECK(!memcmp(pk, back, 32));
	gb_key_encode_box(pk, box);
	CHECK(strlen(box) == 40);
	CHECK_RC(gb_key_decode_box(box, back), 0);
	CHECK(!memcmp(pk, back, 32));

	CHECK_RC(gb_key_decode_sign("", back), GB_EINVAL);
	CHECK_RC(gb_key_decode_sign("not base64 at all, really not, no no no !!", back), GB_EINVAL);
	sign[10] = '*';
	CHECK_RC(gb_key_decode_sign(sign, back), GB_EINVAL);
	CHECK_RC(gb_key_decode_box("short", back), GB_EINVAL);
	box[5] = '~'; /* not in the Z85 alphabet */
	CHECK_RC(gb_key_decode_box(box, back), GB_EINVAL);
	box[5] = ' ';
	CHECK_RC(gb_key_decode_box(box, back), GB_EINVAL);
	CHECK_RC(gb_key_decode_box(NULL, back), GB_EINVAL);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_roundtrip();
	test_refusals();
	test_files();
	test_encodings();
	gb_test_remove_dir(dir);
	TEST_EXIT();
}
