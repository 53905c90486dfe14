/* Unit tests of key wraps: a good wrap opens; unsigned, foreign-signed,
 * misaddressed and commitment-mismatched wraps are each refused. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "gb_keywrap.h"
#include "gb_test.h"

static uint8_t owner_pk[32], owner_sk[64], other_pk[32], other_sk[64];
static uint8_t box_pk[32], box_sk[32], key[32];

/* Sign an arbitrary KeyWrap the way an owner would (for crafted cases). */
static void sign_wrap(Govbus__V1__KeyWrap *w, const uint8_t *sk, bool with_sig,
		      uint8_t **out, size_t *out_len)
{
	Govbus__V1__SignedWrap sw = GOVBUS__V1__SIGNED_WRAP__INIT;
	size_t wlen = govbus__v1__key_wrap__get_packed_size(w);
	uint8_t *wbuf = malloc(wlen), digest[GB_PAE_DIGEST_BYTES], sig[64];
	const uint8_t *parts[1];

	govbus__v1__key_wrap__pack(w, wbuf);
	parts[0] = wbuf;
	gb_pae_digest("govbus/v1/wrap", parts, &wlen, 1, digest);
	crypto_sign_detached(sig, NULL, digest, sizeof digest, sk);
	sw.wrap.data = wbuf;
	sw.wrap.len = wlen;
	if (with_sig) {
		sw.signature.data = sig;
		sw.signature.len = sizeof sig;
	}
	*out_len = govbus__v1__signed_wrap__get_packed_size(&sw);
	*out = malloc(*out_len);
	govbus__v1__signed_wrap__pack(&sw, *out);
	free(wbuf);
}

static int open_wrap(const uint8_t *buf, size_t len, char *why, size_t wl)
{
	uint8_t got[32];
	gb_keywrap_info info;
	int rc = gb_keywrap_open(buf, len, "tax.invoices", 3, "health", owner_pk,
				 box_pk, box_sk, got, &info, why, wl);
	if (rc == 0)
		CHECK(!memcmp(got, key, 32));
	return rc;
}

int main(void)
{
	uint8_t *buf = NULL, sealed[crypto_box_SEALBYTES + 32], commit[32];
	size_t len = 0;
	char why[256];
	gb_keywrap_info info;

	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(owner_pk, owner_sk);
	crypto_sign_keypair(other_pk, other_sk);
	crypto_box_keypair(box_pk, box_sk);
	randombytes_buf(key, sizeof key);

	/* a good wrap */
	CHECK_RC(gb_keywrap_build("tax.invoices", 3, "tax", "health", box_pk, key,
				  owner_sk, 42, &buf, &len), 0);
	CHECK_RC(open_wrap(buf, len, why, sizeof why), 0);
	CHECK_RC(gb_keywrap_verify(buf, len, owner_pk, &info, why, sizeof why), 0);
	CHECK_STR(info.recipient, "health");
	CHECK(info.epoch == 3 && info.created_at_ns == 42);
	/* signed by someone else */
	CHECK_RC(gb_keywrap_verify(buf, len, other_pk, &info, why, sizeof why), GB_ESIG);
	CHECK_CONTAINS(why, "not signed by its owner");
	/* misaddressed: opened as another epoch / recipient */
	{
		uint8_t got[32];
		CHECK_RC(gb_keywrap_open(buf, len, "tax.invoices", 4, "health", owner_pk,
					 box_pk, box_sk, got, &info, why, sizeof why),
			 GB_ECRYPTO);
		CHECK_RC(gb_keywrap_open(buf, len, "tax.invoices", 3, "social", owner_pk,
					 box_pk, box_sk, got, &info, why, sizeof why),
			 GB_ECRYPTO);
	}
	/* a flipped byte anywhere in the signed body */
	buf[10] ^= 1;
	CHECK(open_wrap(buf, len, why, sizeof why) != 0);
	free(buf);
	CHECK_RC(gb_keywrap_verify((const uint8_t *)"", 0, owner_pk, &info, why, sizeof why),
		 GB_EINVAL);

	/* crafted wraps */
	{
		Govbus__V1__KeyWrap w = GOVBUS__V1__KEY_WRAP__INIT;
		crypto_box_seal(sealed, key, 32, box_pk);
		gb_envelope_key_commitment(key, commit);
		w.dataset = (char *)"tax.invoices";
		w.epoch = 3;
		w.owner = (char *)"tax";
		w.recipient = (char *)"health";
		w.sealed_key.data = sealed;
		w.sealed_key.len = sizeof sealed;
		w.key_commitment.data = commit;
		w.key_commitment.len = sizeof commit;

		sign_wrap(&w, owner_sk, false, &buf, &len);
		CHECK_RC(open_wrap(buf, len, why, sizeof why), GB_ESIG);
		CHECK_CONTAINS(why, "unsigned");
		free(buf);

		sign_wrap(&w, other_sk, true, &buf, &len);
		CHECK_RC(open_wrap(buf, len, why, sizeof why), GB_ESIG);
		free(buf);

		/* signed by the owner, but the commitment is of another key */
		commit[0] ^= 1;
		sign_wrap(&w, owner_sk, true, &buf, &len);
		CHECK_RC(open_wrap(buf, len, why, sizeof why), GB_ECRYPTO);
		CHECK_CONTAINS(why, "does not match its commitment");
		free(buf);
		commit[0] ^= 1;

		/* sealed to another box key */
		{
			uint8_t pk2[32], sk2[32];
			crypto_box_keypair(pk2, sk2);
			crypto_box_seal(sealed, key, 32, pk2);
			sign_wrap(&w, owner_sk, true, &buf, &len);
			CHECK_RC(open_wrap(buf, len, why, sizeof why), GB_ECRYPTO);
			CHECK_CONTAINS(why, "does not open");
			free(buf);
		}
	}
	TEST_EXIT();
}
