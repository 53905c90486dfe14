/* Protobuf wire-format primitives shared by every module that reads or
 * writes protobuf bytes by hand: base-128 varints (the agent's delimited
 * framing, archives, the schema walker and encoder), zigzag, little-endian
 * fixed-width values and UTF-8 checks for string fields.
 *
 * Everything else protobuf is protobuf-c's job; this is only what it does
 * not export. The varint reader is the project's one reader of untrusted
 * varints: it is bounded to GB_VARINT_MAX_BYTES and refuses values past
 * 64 bits. */
#ifndef GB_WIRE_H
#define GB_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define GB_VARINT_MAX_BYTES 10

/* Wire types (the low three bits of a tag). */
enum {
	GB_WIRE_VARINT = 0,
	GB_WIRE_FIXED64 = 1,
	GB_WIRE_LEN = 2,
	GB_WIRE_GROUP_START = 3,
	GB_WIRE_GROUP_END = 4,
	GB_WIRE_FIXED32 = 5,
};

/* Largest field number protobuf allows (2^29 - 1). */
#define GB_WIRE_MAX_FIELD 536870911u

/* Write v as a base-128 varint; returns the number of bytes (1..10). */
size_t gb_varint_put(uint64_t v, uint8_t out[GB_VARINT_MAX_BYTES]);

/* Read a varint from buf[0..len). Returns the bytes it took (1..10), 0 when
 * buf ends inside it, or GB_EDECODE when it is longer than 10 bytes or
 * overflows 64 bits. */
int gb_varint_get(const uint8_t *buf, size_t len, uint64_t *v);

/* Zigzag, as sint32 / sint64 use it. */
static inline uint64_t gb_zigzag_encode(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t gb_zigzag_decode(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Little-endian fixed-width values, as fixed32/fixed64 fields hold them. */
uint32_t gb_le32_get(const uint8_t *p);
uint64_t gb_le64_get(const uint8_t *p);
void gb_le32_put(uint32_t v, uint8_t out[4]);
void gb_le64_put(uint64_t v, uint8_t out[8]);

/* Length of the well-formed UTF-8 sequence at s (at most n bytes, n > 0):
 * 1..4, or 0 when the bytes there are not UTF-8 (overlong forms, surrogates
 * and values past U+10FFFF are not). */
size_t gb_utf8_seq(const uint8_t *s, size_t n);

/* True when s[0..n) is entirely well-formed UTF-8. */
int gb_utf8_valid(const uint8_t *s, size_t n);

#endif
