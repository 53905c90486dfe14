/* Tests for gb_wire: the varint pair (round trips, prefixes, the 10-byte
 * and 64-bit bounds), zigzag, little-endian fixed-width values and UTF-8
 * checks. */
#include "gb_wire.h"

#include <stdint.h>
#include <string.h>

#include "gb_test.h"

static void test_varint(void)
{
	static const uint64_t values[] = {0,          1,          127,
					  128,        300,        16383,
					  16384,      UINT32_MAX, 1ull << 56,
					  UINT64_MAX};
	uint8_t buf[GB_VARINT_MAX_BYTES];
	uint64_t v;

	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		size_t n = gb_varint_put(values[i], buf);
		CHECK(n >= 1 && n <= GB_VARINT_MAX_BYTES);
		CHECK(gb_varint_get(buf, n, &v) == (int)n);
		CHECK(v == values[i]);
		/* every strict prefix is incomplete, not an error */
		for (size_t k = 0; k < n; k++)
			CHECK(gb_varint_get(buf, k, &v) == 0);
	}
	CHECK(gb_varint_put(0, buf) == 1 && buf[0] == 0);
	CHECK(gb_varint_put(300, buf) == 2 && buf[0] == 0xac && buf[1] == 0x02);
	CHECK(gb_varint_put(UINT64_MAX, buf) == 10);

	/* eleven continuation bytes: longer than 10 */
	uint8_t eleven[11];
	memset(eleven, 0x80, sizeof eleven);
	CHECK(gb_varint_get(eleven, sizeof eleven, &v) == GB_EDECODE);
	/* 10th byte above 1 overflows 64 bits */
	uint8_t over[10];
	memset(over, 0xff, 9);
	over[9] = 0x02;
	CHECK(gb_varint_get(over, sizeof over, &v) == GB_EDECODE);
	over[9] = 0x01;
	CHECK(gb_varint_get(over, sizeof over, &v) == 10 && v == UINT64_MAX);
}

static void test_fixed_and_zigzag(void)
{
	static const int64_t values[] = {0, 1, -1, 2, -2, INT32_MAX, INT32_MIN,
					 INT64_MAX, INT64_MIN};
	uint8_t b[8];

	CHECK(gb_zigzag_encode(0) == 0 && gb_zigzag_encode(-1) == 1 &&
	      gb_zigzag_encode(1) == 2 && gb_zigzag_encode(INT64_MIN) == UINT64_MAX);
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		CHECK(gb_zigzag_decode(gb_zigzag_encode(values[i])) == values[i]);
	gb_le32_put(0x01020304u, b);
	CHECK(b[0] == 4 && b[3] == 1 && gb_le32_get(b) == 0x01020304u);
	gb_le64_put(UINT64_C(0x0102030405060708), b);
	CHECK(b[0] == 8 && b[7] == 1 &&
	      gb_le64_get(b) == UINT64_C(0x0102030405060708));
}

static void test_utf8(void)
{
	CHECK(gb_utf8_valid((const uint8_t *)"", 0));
	CHECK(gb_utf8_valid((const uint8_t *)"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12));
	CHECK(!gb_utf8_valid((const uint8_t *)"\xc3\x28", 2));   /* bad continuation */
	CHECK(!gb_utf8_valid((const uint8_t *)"\xc0\xaf", 2));   /* overlong */
	CHECK(!gb_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3)); /* surrogate */
	CHECK(!gb_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	CHECK(!gb_utf8_valid((const uint8_t *)"\xe2\x82", 2));   /* cut short */
	CHECK(gb_utf8_seq((const uint8_t *)"\xe2\x82\xac", 3) == 3);
}

int main(void)
{
	test_varint();
	test_fixed_and_zigzag();
	test_utf8();
	TEST_EXIT();
}
