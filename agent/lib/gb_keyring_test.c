/* Tests for the agent's keyring: keys per (dataset, epoch), drawn at
 * random or opened from a wrap; refusals (epoch 0, bad ids, duplicates, a
 * wrap that is not ours, not signed by the owner, or for another epoch)
 * keep nothing; borrow/release nest; forget and destroy wipe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "gb_envelope.h"
#include "gb_keyring.h"
#include "gb_keys.h"
#include "gb_keywrap.h"
#include "gb_test.h"

static gb_identity *owner, *reader, *stranger;

static void test_generate(void)
{
	gb_keyring *kr = gb_keyring_new();
	const uint8_t *a, *b, *again;
	uint8_t ka[GB_DATASET_KEY_BYTES];

	CHECK(kr != NULL);
	if (!kr)
		return;
	CHECK(gb_keyring_count(kr) == 0);
	CHECK(!gb_keyring_has(kr, "tax.invoices", 1));
	CHECK(gb_keyring_borrow(kr, "tax.invoices", 1) == NULL);

	CHECK_RC(gb_keyring_generate(kr, "tax.invoices", 1), 0);
	CHECK_RC(gb_keyring_generate(kr, "tax.invoices", 2), 0);
	CHECK_RC(gb_keyring_generate(kr, "tax.open", 1), 0);
	CHECK_RC(gb_keyring_generate(kr, "tax.invoices", 1), GB_ECONFLICT);
	CHECK_RC(gb_keyring_generate(kr, "tax.invoices", 0), GB_EINVAL);
	CHECK_RC(gb_keyring_generate(kr, "Not An Id", 1), GB_EINVAL);
	CHECK(gb_keyring_count(kr) == 3);
	CHECK(gb_keyring_has(kr, "tax.invoices", 2));
	CHECK(!gb_keyring_has(kr, "tax.invoices", 3));

	/* keys differ; borrows nest, and a key stays readable until the last
	 * release */
	a = gb_keyring_borrow(kr, "tax.invoices", 1);
	b = gb_keyring_borrow(kr, "tax.invoices", 2);
	CHECK(a && b && a != b);
	if (a && b) {
		CHECK(sodium_memcmp(a, b, GB_DATASET_KEY_BYTES) != 0);
		memcpy(ka, a, sizeof ka);
	}
	again = gb_keyring_borrow(kr, "tax.invoices", 1);
	CHECK(again == a);
	gb_keyring_release(kr, again);
	if (a)
		CHECK(sodium_memcmp(a, ka, sizeof ka) == 0); /* still readable */
	gb_keyring_release(kr, a);
	gb_keyring_release(kr, b);
	gb_keyring_release(kr, b);   /* one release too many: ignored */
	gb_keyring_release(kr, NULL);

	/* a borrowed key is not forgotten; a returned one is */
	a = gb_keyring_borrow(kr, "tax.open", 1);
	gb_keyring_forget(kr, "tax.open", 1);
	CHECK(gb_keyring_has(kr, "tax.open", 1));
	gb_keyring_release(kr, a);
	gb_keyring_forget(kr, "tax.open", 1);
	CHECK(!gb_keyring_has(kr, "tax.open", 1));
	CHECK(gb_keyring_count(kr) == 2);
	gb_keyring_forget(kr, "tax.open", 7); /* absent: nothing happens */

	/* the same epoch may be drawn again once forgotten */
	CHECK_RC(gb_keyring_generate(kr, "tax.open", 1), 0);
	sodium_memzero(ka, sizeof ka);
	gb_keyring_destroy(&kr);
	CHECK(kr == NULL);
	gb_keyring_destroy(&kr);
	gb_keyring_destroy(NULL);
}

/* Seal `key` for `to` as the dataset's owner signing with `signer`. */
static uint8_t *wrap_of(const uint8_t *key, uint32_t epoch, const char *to,
			const gb_identity *to_id, const gb_identity *signer,
			size_t *len)
{
	uint8_t *w = NULL;
	if (gb_keywrap_build("tax.invoices", epoch, "tax", to,
			     gb_identity_box_pk(to_id), key,
			     gb_identity_sign_sk(signer), 1, &w, len) != 0)
		return NULL;
	return w;
}

static void test_open_wrap(void)
{
	gb_keyring *kr = gb_keyring_new();
	uint8_t *key = sodium_malloc(GB_DATASET_KEY_BYTES), *w;
	uint8_t commitment[GB_COMMITMENT_BYTES];
	gb_keywrap_info info;
	const uint8_t *got;
	char why[256] = "";
	size_t len = 0;

	if (!kr || !key)
		return;
	randombytes_buf(key, GB_DATASET_KEY_BYTES);
	gb_envelope_key_commitment(key, commitment);

	/* the reader's own wrap, signed by the owner: the very key */
	w = wrap_of(key, 1, "health", reader, owner, &len);
	CHECK(w != NULL);
	CHECK_RC(gb_keyring_open_wrap(kr, w, len, "tax.invoices", 1, "health",
				      gb_identity_sign_pk(owner),
				      gb_identity_box_pk(reader),
				      gb_identity_box_sk(reader), &info, why,
				      sizeof why), 0);
	got = gb_keyring_borrow(kr, "tax.invoices", 1);
	CHECK(got && sodium_memcmp(got, key, GB_DATASET_KEY_BYTES) == 0);
	gb_keyring_release(kr, got);
	CHECK(memcmp(info.commitment, commitment, sizeof commitment) == 0);
	CHECK_STR(info.owner, "tax");
	/* held already */
	CHECK_RC(gb_keyring_open_wrap(kr, w, len, "tax.invoices", 1, "health",
				      gb_identity_sign_pk(owner),
				      gb_identity_box_pk(reader),
				      gb_identity_box_sk(reader), NULL, why,
				      sizeof why), GB_ECONFLICT);
	/* asked as another epoch: refused, nothing kept */
	CHECK_RC(gb_keyring_open_wrap(kr, w, len, "tax.invoices", 2, "health",
				      gb_identity_sign_pk(owner),
				      gb_identity_box_pk(reader),
				      gb_identity_box_sk(reader), NULL, why,
				      sizeof why), GB_ECRYPTO);
	CHECK_CONTAINS(why, "expected tax.invoices epoch 2");
	CHECK(!gb_keyring_has(kr, "tax.invoices", 2));
	free(w);

	/* signed by someone else than the owner */
	w = wrap_of(key, 2, "health", reader, stranger, &len);
	CHECK_RC(gb_keyring_open_wrap(kr, w, len, "tax.invoices", 2, "health",
				      gb_identity_sign_pk(owner),
				      gb_identity_box_pk(reader),
				      gb_identity_box_sk(reader), NULL, why,
				      sizeof why), GB_ESIG);
	CHECK_CONTAINS(why, "not signed by its owner");
	CHECK(!gb_keyring_has(kr, "tax.invoices", 2));
	free(w);

	/* sealed to another department's key, though labelled for us */
	w = wrap_of(key, 2, "health", stranger, owner, &len);
	CHECK_RC(gb_keyring_open_wrap(kr, w, len, "tax.invoices", 2, "health",
				      gb_identity_sign_pk(owner),
				      gb_identity_box_pk(reader),
				      gb_identity_box_sk(reader), NULL, why,
				      sizeof why), GB_ECRYPTO);
	CHECK_CONTAINS(why, "does not open");
	CHECK(!gb_keyring_has(kr, "tax.invoices", 2));
	CHECK(gb_keyring_count(kr) == 1);
	free(w);

	/* garbage */
	CHECK_RC(gb_keyring_open_wrap(kr, (const uint8_t *)"junk", 4,
				      "tax.invoices", 3, "health",
				      gb_identity_sign_pk(owner),
				      gb_identity_box_pk(reader),
				      gb_identity_box_sk(reader), NULL, why,
				      sizeof why), GB_EDECODE);
	CHECK(gb_keyring_count(kr) == 1);
	sodium_free(key);
	gb_keyring_destroy(&kr);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	owner = gb_identity_generate();
	reader = gb_identity_generate();
	stranger = gb_identity_generate();
	test_generate();
	test_open_wrap();
	gb_identity_destroy(&owner);
	gb_identity_destroy(&reader);
	gb_identity_destroy(&stranger);
	TEST_EXIT();
}
