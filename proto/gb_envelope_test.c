/* Unit tests of the signed batch envelope: sign, verify, seal, open, and
 * the tampering each check must catch. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "gb_codec.h"
#include "gb_envelope.h"
#include "gb_test.h"

static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
static uint8_t key[GB_DATASET_KEY_BYTES];

/* Build a batch of n records "rec-<i>" under epoch (0 = clear). */
static int build(uint32_t epoch, uint32_t n, uint8_t **out, size_t *len)
{
	uint8_t *recs = NULL;
	size_t rlen = 0, rcap = 0;
	char payload[32];
	gb_batch_meta m = {"tax", "tax.invoices", 7, 123, epoch, n, NULL};
	int rc = 0;

	for (uint32_t i = 0; i < n && rc == 0; i++) {
		int k = snprintf(payload, sizeof payload, "rec-%u", i);
		rc = gb_envelope_append_record(&recs, &rlen, &rcap,
					       (uint8_t *)payload, (size_t)k, i, NULL);
	}
	if (rc == 0)
		rc = gb_envelope_build(&m, recs, rlen, epoch ? key : NULL, sk, out, len);
	free(recs);
	return rc;
}

/* Parse, verify and open; return the first failing rc. */
static int check_all(const uint8_t *buf, size_t len, const uint8_t *k,
		     char *why, size_t why_len)
{
	gb_envelope *e = NULL;
	Govbus__V1__RecordList *list = NULL;
	int rc = gb_envelope_parse(buf, len, &e, why, why_len);
	if (rc == 0)
		rc = gb_envelope_verify(e, pk);
	if (rc == 0)
		rc = gb_envelope_open(e, k, &list, why, why_len);
	if (list)
		govbus__v1__record_list__free_unpacked(list, NULL);
	gb_envelope_destroy(&e);
	return rc;
}

static void test_roundtrip(uint32_t epoch)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	gb_envelope *e = NULL;
	Govbus__V1__RecordList *list = NULL;
	char why[256];

	CHECK_RC(build(epoch, 100, &buf, &len), 0);
	CHECK_RC(gb_envelope_parse(buf, len, &e, why, sizeof why), 0);
	if (!e)
		goto out;
	CHECK_STR(gb_envelope_header(e)->producer, "tax");
	CHECK_STR(gb_envelope_header(e)->dataset, "tax.invoices");
	CHECK(gb_envelope_header(e)->producer_seq == 7);
	CHECK(gb_envelope_header(e)->record_count == 100);
	CHECK_RC(gb_envelope_verify(e, pk), 0);
	CHECK_RC(gb_envelope_open(e, epoch ? key : NULL, &list, why, sizeof why), 0);
	CHECK(list && list->n_records == 100);
	if (list) {
		CHECK(list->records[42]->payload.len == 6 &&
		      !memcmp(list->records[42]->payload.data, "rec-42", 6));
		CHECK(list->records[42]->produced_at_ns == 42);
		govbus__v1__record_list__free_unpacked(list, NULL);
	}
	/* the encrypted form does not show the plaintext */
	if (epoch)
		CHECK(memmem(buf, len, "rec-42", 6) == NULL);
out:
	gb_envelope_destroy(&e);
	free(buf);
}

/* Flip one byte inside the region holding `needle` and expect `want`. */
static void tamper_at(uint8_t *buf, size_t len, size_t at, int want,
		      const char *what)
{
	char why[256] = "";
	buf[at] ^= 0x01;
	int rc = check_all(buf, len, key, why, sizeof why);
	if (rc != want)
		fprintf(stderr, "tamper %s: rc %d (%s: %s), wanted %d\n", what,
			rc, gb_strerror(rc), why, want);
	CHECK(rc == want);
	buf[at] ^= 0x01;
}

static void test_tampering(void)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	gb_envelope *e = NULL;
	char why[256];

	CHECK_RC(build(1, 10, &buf, &len), 0);
	CHECK_RC(check_all(buf, len, key, why, sizeof why), 0);
	/* SignedBatch = header(1), ciphertext(2), signature(3): the last 64
	 * bytes are the signature; the header starts after 2 bytes. */
	tamper_at(buf, len, len - 1, GB_ESIG, "signature");
	tamper_at(buf, len, len - 100, GB_ESIG, "ciphertext");
	tamper_at(buf, len, 4, GB_ESIG, "header producer");

	/* wrong signer */
	{
		uint8_t pk2[32], sk2[64];
		crypto_sign_keypair(pk2, sk2);
		CHECK_RC(gb_envelope_parse(buf, len, &e, why, sizeof why), 0);
		if (e)
			CHECK_RC(gb_envelope_verify(e, pk2), GB_ESIG);
		gb_envelope_destroy(&e);
	}
	/* wrong key: the commitment catches it before decryption */
	{
		uint8_t other[GB_DATASET_KEY_BYTES];
		randombytes_buf(other, sizeof other);
		CHECK_RC(check_all(buf, len, other, why, sizeof why), GB_ECRYPTO);
		CHECK_CONTAINS(why, "commitment");
	}
	/* truncated and oversize */
	CHECK_RC(gb_envelope_parse(buf, len / 2, &e, why, sizeof why), GB_EDECODE);
	CHECK_RC(gb_envelope_parse(buf, 0, &e, why, sizeof why), GB_EINVAL);
	CHECK_RC(gb_envelope_parse(buf, GB_MAX_BATCH_BYTES + 1, &e, why, sizeof why),
		 GB_ETOOBIG);
	free(buf);
}

/* A producer that lies about record_count is caught by the consumer. */
static void test_record_count(void)
{
	uint8_t *recs = NULL, *buf = NULL;
	size_t rlen = 0, rcap = 0, len = 0;
	char why[256];
	gb_batch_meta m = {"tax", "tax.invoices", 1, 1, 1, 3, NULL};

	CHECK_RC(gb_envelope_append_record(&recs, &rlen, &rcap, (uint8_t *)"a", 1, 0, "id-1"), 0);
	CHECK_RC(gb_envelope_append_record(&recs, &rlen, &rcap, (uint8_t *)"b", 1, 0, NULL), 0);
	CHECK_RC(gb_envelope_build(&m, recs, rlen, key, sk, &buf, &len), 0);
	CHECK_RC(check_all(buf, len, key, why, sizeof why), GB_ECRYPTO);
	CHECK_CONTAINS(why, "record_count mismatch");
	free(buf);
	free(recs);
}

static void test_header_validation(void)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	gb_batch_meta bad_seq = {"tax", "tax.invoices", 0, 1, 0, 1, NULL};
	gb_batch_meta bad_id = {"Tax!", "tax.invoices", 1, 1, 0, 1, NULL};
	gb_envelope *e = NULL;
	char why[256];
	uint8_t rec[] = {0x0a, 0x00};

	CHECK_RC(gb_envelope_build(&bad_seq, rec, sizeof rec, NULL, sk, &buf, &len), 0);
	CHECK_RC(gb_envelope_parse(buf, len, &e, why, sizeof why), GB_EINVAL);
	CHECK_CONTAINS(why, "producer_seq");
	free(buf);
	CHECK_RC(gb_envelope_build(&bad_id, rec, sizeof rec, NULL, sk, &buf, &len), 0);
	CHECK_RC(gb_envelope_parse(buf, len, &e, why, sizeof why), GB_EINVAL);
	CHECK_CONTAINS(why, "header.producer");
	free(buf);
	/* epoch and key must agree */
	bad_seq.producer_seq = 1;
	CHECK_RC(gb_envelope_build(&bad_seq, rec, sizeof rec, key, sk, &buf, &len),
		 GB_EINVAL);
}

/* Record id tags: carried signed in the header, one per record or none;
 * keyed, per dataset, never all zero. */
static void test_record_tags(void)
{
	uint8_t dkey[GB_DEDUPE_KEY_BYTES], other[GB_DEDUPE_KEY_BYTES];
	uint8_t tags[2 * GB_RECORD_TAG_BYTES], t[GB_RECORD_TAG_BYTES];
	uint8_t rec[] = {0x0a, 0x00, 0x0a, 0x00};
	crypto_generichash_state base, base2;
	gb_batch_meta m = {"tax", "tax.invoices", 1, 1, 1, 2, tags};
	const Govbus__V1__BatchHeader *h;
	gb_envelope *e = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	char why[256];

	randombytes_buf(dkey, sizeof dkey);
	randombytes_buf(other, sizeof other);
	gb_record_tag_begin(&base, dkey, "tax.invoices");
	gb_record_tag(&base, "inv-1", 5, tags);
	gb_record_tag(&base, "inv-2", 5, tags + GB_RECORD_TAG_BYTES);
	CHECK(memcmp(tags, tags + GB_RECORD_TAG_BYTES, GB_RECORD_TAG_BYTES) != 0);
	CHECK(!sodium_is_zero(tags, GB_RECORD_TAG_BYTES));
	/* The same id gives the same tag; another key or dataset does not. */
	gb_record_tag(&base, "inv-1", 5, t);
	CHECK(memcmp(t, tags, sizeof t) == 0);
	gb_record_tag_begin(&base2, other, "tax.invoices");
	gb_record_tag(&base2, "inv-1", 5, t);
	CHECK(memcmp(t, tags, sizeof t) != 0);
	gb_record_tag_begin(&base2, dkey, "tax.invoice");
	gb_record_tag(&base2, "sinv-1", 6, t);
	CHECK(memcmp(t, tags, sizeof t) != 0);

	CHECK_RC(gb_envelope_build(&m, rec, sizeof rec, key, sk, &buf, &len), 0);
	CHECK_RC(gb_envelope_parse(buf, len, &e, why, sizeof why), 0);
	if (e) {
		h = gb_envelope_header(e);
		CHECK(h->record_tags.len == sizeof tags);
		CHECK(memcmp(h->record_tags.data, tags, sizeof tags) == 0);
		CHECK_RC(gb_envelope_verify(e, pk), 0);
	}
	gb_envelope_destroy(&e);
	free(buf);
	/* A header whose tags do not match its record count is refused. */
	m.record_count = 1;
	m.record_tags = NULL;
	CHECK_RC(gb_envelope_build(&m, rec, 2, key, sk, &buf, &len), 0);
	{
		Govbus__V1__SignedBatch *sb =
			govbus__v1__signed_batch__unpack(NULL, len, buf);
		Govbus__V1__BatchHeader *hb = sb ? govbus__v1__batch_header__unpack(
			NULL, sb->header.len, sb->header.data) : NULL;
		uint8_t *hbuf, *sbuf, *orig = sb ? sb->header.data : NULL;
		size_t orig_len = sb ? sb->header.len : 0;

		CHECK(hb != NULL);
		if (hb) {
			hb->record_tags.data = tags;
			hb->record_tags.len = sizeof tags; /* 2 tags, 1 record */
			hbuf = malloc(govbus__v1__batch_header__get_packed_size(hb));
			sb->header.len = govbus__v1__batch_header__pack(hb, hbuf);
			sb->header.data = hbuf;
			sbuf = malloc(govbus__v1__signed_batch__get_packed_size(sb));
			len = govbus__v1__signed_batch__pack(sb, sbuf);
			CHECK_RC(gb_envelope_parse(sbuf, len, &e, why, sizeof why),
				 GB_EINVAL);
			CHECK_CONTAINS(why, "header.record_tags");
			free(sbuf);
			free(hbuf);
			hb->record_tags.data = NULL; /* not owned by hb */
			hb->record_tags.len = 0;
			sb->header.data = orig; /* owned by sb */
			sb->header.len = orig_len;
			govbus__v1__batch_header__free_unpacked(hb, NULL);
		}
		if (sb)
			govbus__v1__signed_batch__free_unpacked(sb, NULL);
	}
	free(buf);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(pk, sk);
	randombytes_buf(key, sizeof key);
	test_roundtrip(0);
	test_roundtrip(1);
	test_tampering();
	test_record_count();
	test_header_validation();
	test_record_tags();
	TEST_EXIT();
}
