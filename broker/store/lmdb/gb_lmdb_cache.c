/* The writer's cache of stream heads (gb_lmdb_cache.h).
 *
 * Trust: names are dataset ids the group has already checked; the cache
 * only ever holds heads the writer decoded or wrote itself. It is bounded:
 * past STORE_CACHE_MAX streams it starts afresh. */
#include "gb_lmdb_cache.h"

#include <stdlib.h>
#include <string.h>

#include "gb_error.h"

#define STORE_CACHE_MAX 65536        /* streams cached before the cache restarts */

struct gb_lmdb_cache_entry {
	char *name;                     /* NULL: empty slot */
	size_t name_len;
	gb_lmdb_head head;
};

static size_t cache_hash(const char *name, size_t len)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

static struct gb_lmdb_cache_entry *cache_slot(const gb_lmdb_cache *c,
					      const char *name, size_t len)
{
	size_t i = cache_hash(name, len) & (c->cap - 1);

	for (;;) {
		struct gb_lmdb_cache_entry *e = &c->slots[i];

		if (!e->name || (e->name_len == len &&
				 memcmp(e->name, name, len) == 0))
			return e;
		i = (i + 1) & (c->cap - 1);
	}
}

void gb_lmdb_cache_clear(gb_lmdb_cache *c)
{
	for (size_t i = 0; i < c->cap; i++)
		free(c->slots[i].name);
	free(c->slots);
	memset(c, 0, sizeof *c);
}

const gb_lmdb_head *gb_lmdb_cache_find(const gb_lmdb_cache *c,
				       const char *name, size_t len)
{
	const struct gb_lmdb_cache_entry *e;

	if (c->cap == 0)
		return NULL;
	e = cache_slot(c, name, len);
	return e->name ? &e->head : NULL;
}

static int cache_grow(gb_lmdb_cache *c)
{
	size_t cap = c->cap ? c->cap * 2 : 16;
	gb_lmdb_cache bigger = {calloc(cap, sizeof(struct gb_lmdb_cache_entry)),
				cap, c->count};

	if (!bigger.slots)
		return GB_ENOMEM;
	for (size_t i = 0; i < c->cap; i++)
		if (c->slots[i].name)
			*cache_slot(&bigger, c->slots[i].name,
				    c->slots[i].name_len) = c->slots[i];
	free(c->slots);
	*c = bigger;
	return 0;
}

int gb_lmdb_cache_store(gb_lmdb_cache *c, const char *name, size_t len,
			const gb_lmdb_head *h)
{
	struct gb_lmdb_cache_entry *e;

	if (c->count >= STORE_CACHE_MAX)
		gb_lmdb_cache_clear(c);
	if ((c->count + 1) * 2 > c->cap && cache_grow(c) < 0)
		return GB_ENOMEM;
	e = cache_slot(c, name, len);
	if (!e->name) {
		e->name = malloc(len + 1);
		if (!e->name)
			return GB_ENOMEM;
		memcpy(e->name, name, len);
		e->name[len] = 0;
		e->name_len = len;
		c->count++;
	}
	e->head = *h;
	return 0;
}
