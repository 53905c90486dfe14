/* Big-endian fields of the store's keys and values, internal to
 * broker/store: every stored integer is big-endian, so keys sort by number.
 * Inline because they sit on the append path of every backend. */
#ifndef GB_STORE_BYTES_H
#define GB_STORE_BYTES_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline void gb_put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof v);
}

static inline void gb_put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof v);
}

static inline uint32_t gb_get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return be32toh(v);
}

static inline uint64_t gb_get_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return be64toh(v);
}

#endif
