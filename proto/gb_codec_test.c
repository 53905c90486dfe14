/* Unit tests of frame decoding limits and validation. */
#include <stdlib.h>
#include <string.h>

#include "gb_codec.h"
#include "gb_test.h"

static int decode_client(const gb_client_frame *f, char *why, size_t why_len)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	gb_client_frame *got = NULL;
	int rc = gb_codec_client_encode(f, &buf, &len);
	if (rc == 0)
		rc = gb_codec_client_decode(buf, len, &got, why, why_len);
	gb_codec_client_free(&got);
	free(buf);
	return rc;
}

static void test_ids(void)
{
	CHECK(gb_id_valid("tax"));
	CHECK(gb_id_valid("tax.invoices-2026_q1"));
	CHECK(!gb_id_valid(""));
	CHECK(!gb_id_valid(NULL));
	CHECK(!gb_id_valid("Tax"));
	CHECK(!gb_id_valid("1tax"));
	CHECK(!gb_id_valid("tax invoices"));
	CHECK(!gb_id_valid("tax\xc3\xa9"));
	CHECK(gb_id_valid("a234567890123456789012345678901234567890123456789012345678901234"));
	CHECK(!gb_id_valid("a2345678901234567890123456789012345678901234567890123456789012345"));
	CHECK(gb_name_valid("Billing-Replica_1"));
	CHECK(!gb_name_valid("a/b"));
}

static void test_limits(void)
{
	char why[256];
	gb_client_frame *got = NULL;
	gb_server_frame *sgot = NULL;
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	uint8_t *big = calloc(1, GB_MAX_FRAME + 1);

	CHECK(big != NULL);
	/* size is checked before unpacking */
	CHECK_RC(gb_codec_client_decode(big, GB_MAX_FRAME + 1, &got, why, sizeof why),
		 GB_ETOOBIG);
	CHECK_CONTAINS(why, "limit");
	CHECK_RC(gb_codec_server_decode(big, GB_MAX_FRAME + 1, &sgot, why, sizeof why),
		 GB_ETOOBIG);
	free(big);
	CHECK_RC(gb_codec_client_decode(garbage, sizeof garbage, &got, why, sizeof why),
		 GB_EDECODE);
	CHECK(got == NULL);
	/* an empty frame decodes but carries no body */
	CHECK_RC(gb_codec_client_decode((const uint8_t *)"", 0, &got, why, sizeof why),
		 GB_EPROTO);
	/* an unknown field number (a oneof member from the future) */
	{
		static const uint8_t unknown[] = {0x7a, 0x00}; /* field 15, len 0 */
		CHECK_RC(gb_codec_client_decode(unknown, sizeof unknown, &got, why,
						sizeof why),
			 GB_EPROTO);
	}
	/* truncated: a length prefix promising more than is there */
	{
		static const uint8_t trunc[] = {0x12, 0x10, 0x08};
		CHECK_RC(gb_codec_client_decode(trunc, sizeof trunc, &got, why,
						sizeof why),
			 GB_EDECODE);
	}
}

static void test_fields(void)
{
	char why[256];
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Subscribe sub = GOVBUS__V1__SUBSCRIBE__INIT;
	Govbus__V1__Publish pub = GOVBUS__V1__PUBLISH__INIT;

	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE;
	f.subscribe = &sub;
	sub.dataset = (char *)"tax.invoices";
	sub.credit = 16;
	CHECK_RC(decode_client(&f, why, sizeof why), 0);
	sub.dataset = (char *)"TAX";
	CHECK_RC(decode_client(&f, why, sizeof why), GB_EINVAL);
	CHECK_CONTAINS(why, "subscribe.dataset");
	sub.dataset = (char *)"tax.invoices";
	sub.credit = GB_MAX_CREDIT + 1;
	CHECK_RC(decode_client(&f, why, sizeof why), GB_EINVAL);
	CHECK_CONTAINS(why, "subscribe.credit");
	sub.credit = 1;
	sub.durable = (char *)"bad name!";
	CHECK_RC(decode_client(&f, why, sizeof why), GB_EINVAL);
	sub.durable = (char *)"";

	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH;
	f.publish = &pub;
	CHECK_RC(decode_client(&f, why, sizeof why), GB_EINVAL);
	CHECK_CONTAINS(why, "publish.signed_batch");
}

/* A frame of many tiny unknown fields would make protobuf-c allocate far
 * more than the frame's size; the decode budget refuses it instead. */
static void test_unknown_field_amplification(void)
{
	size_t n = 1u << 20, len = 0;
	uint8_t *buf = malloc(n);
	gb_client_frame *got = NULL;
	char why[256];

	CHECK(buf != NULL);
	if (!buf)
		return;
	while (len + 3 <= n) { /* field 100, varint 0: 3 bytes, ~40 decoded */
		buf[len++] = 0xa0;
		buf[len++] = 0x06;
		buf[len++] = 0x00;
	}
	CHECK_RC(gb_codec_client_decode(buf, len, &got, why, sizeof why), GB_EDECODE);
	CHECK(got == NULL);
	/* a few unknown fields beside a real body still decode */
	{
		static const uint8_t ping_plus[] = {0x3a, 0x02, 0x08, 0x07, 0xa0, 0x06, 0x01};
		CHECK_RC(gb_codec_client_decode(ping_plus, sizeof ping_plus, &got, why,
						sizeof why), 0);
		gb_codec_client_free(&got);
	}
	free(buf);
}

int main(void)
{
	test_unknown_field_amplification();
	test_ids();
	test_limits();
	test_fields();
	TEST_EXIT();
}
