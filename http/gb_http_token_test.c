/* Unit tests of bearer token files: created once with mode 0600, read
 * back the same, refused when others may read them or malformed; and the
 * comparison of presented tokens. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gb_http_token.h"
#include "gb_test.h"

static char dir[] = "/tmp/gb_http_token_test.XXXXXX";

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

static void test_create_and_load(void)
{
	char path[256], why[300], text[64];
	gb_http_token *a = NULL, *b = NULL;
	unsigned char ha[GB_HTTP_TOKEN_HASH_BYTES], hb[GB_HTTP_TOKEN_HASH_BYTES];
	bool created = false;
	struct stat st;

	snprintf(path, sizeof path, "%s/http.token", dir);
	CHECK_RC(gb_http_token_load_or_create(path, &a, &created, why,
					      sizeof why),
		 0);
	CHECK(created);
	CHECK(a && strlen(gb_http_token_text(a)) == 43);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(st.st_size == 44); /* the token and a newline */

	/* the second start loads the same token and creates nothing */
	CHECK_RC(gb_http_token_load_or_create(path, &b, &created, why,
					      sizeof why),
		 0);
	CHECK(!created);
	CHECK(a && b && !strcmp(gb_http_token_text(a), gb_http_token_text(b)));
	if (!a || !b)
		return;
	gb_http_token_hash(a, ha);
	gb_http_token_hash(b, hb);
	CHECK(!memcmp(ha, hb, sizeof ha));
	CHECK(gb_http_token_matches(ha, gb_http_token_text(b),
				    strlen(gb_http_token_text(b))));
	/* one character changed to another token character */
	snprintf(text, sizeof text, "%s", gb_http_token_text(a));
	text[5] = text[5] == 'A' ? 'B' : 'A';
	CHECK(!gb_http_token_matches(ha, text, strlen(text)));
	snprintf(text, sizeof text, "%s", gb_http_token_text(a));
	CHECK(!gb_http_token_matches(ha, text, 42)); /* a prefix */
	CHECK(!gb_http_token_matches(ha, "", 0));
	gb_http_token_destroy(&a);
	gb_http_token_destroy(&b);
	CHECK(a == NULL && b == NULL);
	gb_http_token_destroy(NULL);

	/* two tokens created apart differ */
	snprintf(path, sizeof path, "%s/other.token", dir);
	CHECK_RC(gb_http_token_load_or_create(path, &a, &created, why,
					      sizeof why),
		 0);
	CHECK_RC(gb_http_token_from_text(text, &b), 0);
	CHECK(a && b && strcmp(gb_http_token_text(a), gb_http_token_text(b)));
	gb_http_token_destroy(&a);
	gb_http_token_destroy(&b);
}

static void test_refusals(void)
{
	char path[256], why[300];
	gb_http_token *t = NULL;
	bool created = true;
	struct {
		const char *text;
		mode_t mode;
		const char *why;
	} cases[] = {
		{"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\n", 0644,
		 "accessible by group or others"},
		{"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\n", 0640,
		 "chmod 600"},
		{"short\n", 0600, "one token"},
		{"abcdefghijklmnop qrstuvwxyz\n", 0600, "one token"},
		{"abcdefghijklmnopqrstuvwxyz\n\n", 0600, "one token"},
		{"abcdefghijklmnopqrstuvwxyz\nsecond\n", 0600, "one token"},
		{"", 0600, "one token"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(path, sizeof path, "%s/bad%zu.token", dir, i);
		write_file(path, cases[i].text, cases[i].mode);
		CHECK_RC(gb_http_token_load_or_create(path, &t, &created, why,
						      sizeof why),
			 GB_EKEYFILE);
		CHECK_CONTAINS(why, cases[i].why);
		CHECK(t == NULL && !created);
	}
	/* a token written by hand, without a newline, with padding */
	snprintf(path, sizeof path, "%s/hand.token", dir);
	write_file(path, "abcdefghijklmnopqrstuvwxyz+/012==", 0400);
	CHECK_RC(gb_http_token_load_or_create(path, &t, &created, why,
					      sizeof why),
		 0);
	CHECK(t && !strcmp(gb_http_token_text(t),
			   "abcdefghijklmnopqrstuvwxyz+/012=="));
	gb_http_token_destroy(&t);
	/* a directory that does not exist: nothing created, a sentence */
	snprintf(path, sizeof path, "%s/no/such/dir.token", dir);
	CHECK_RC(gb_http_token_load_or_create(path, &t, &created, why,
					      sizeof why),
		 GB_EIO);
	CHECK_CONTAINS(why, "cannot create");

	CHECK_RC(gb_http_token_from_text("too short", &t), GB_EINVAL);
	CHECK_RC(gb_http_token_from_text("", &t), GB_EINVAL);
	CHECK_RC(gb_http_token_from_text(NULL, &t), GB_EINVAL);
	CHECK_RC(gb_http_token_from_text("abcdefghijklmnop\"", &t), GB_EINVAL);
	CHECK(t == NULL);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_create_and_load();
	test_refusals();
	gb_test_remove_dir(dir);
	TEST_EXIT();
}
