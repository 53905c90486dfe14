/* Protobuf wire-format primitives; see gb_wire.h.
 *
 * Trust: inputs are untrusted bytes. Readers take an explicit length and
 * never look past it; the varint reader stops at 10 bytes. */
#include "gb_wire.h"

#include "gb_error.h"

size_t gb_varint_put(uint64_t v, uint8_t out[GB_VARINT_MAX_BYTES])
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

int gb_varint_get(const uint8_t *buf, size_t len, uint64_t *v)
{
	uint64_t x = 0;

	for (size_t i = 0; i < GB_VARINT_MAX_BYTES; i++) {
		if (i == len)
			return 0;
		/* The 10th byte holds bit 63 only. */
		if (i == GB_VARINT_MAX_BYTES - 1 && buf[i] > 1)
			return GB_EDECODE;
		x |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
		if (!(buf[i] & 0x80)) {
			*v = x;
			return (int)i + 1;
		}
	}
	return GB_EDECODE;
}

uint32_t gb_le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

uint64_t gb_le64_get(const uint8_t *p)
{
	return (uint64_t)gb_le32_get(p) | (uint64_t)gb_le32_get(p + 4) << 32;
}

void gb_le32_put(uint32_t v, uint8_t out[4])
{
	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

void gb_le64_put(uint64_t v, uint8_t out[8])
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

size_t gb_utf8_seq(const uint8_t *s, size_t n)
{
	size_t need;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF */
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return need;
}

int gb_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t k = gb_utf8_seq(s + i, n - i);

		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}
