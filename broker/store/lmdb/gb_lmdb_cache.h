/* The writer's cache of stream heads, internal to broker/store/lmdb: an
 * open-addressing map dataset -> head that saves one streams-db read per
 * append. Correct only because one thread writes and one process owns the
 * data dir; the group drops it whenever a transaction does not commit. */
#ifndef GB_LMDB_CACHE_H
#define GB_LMDB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "gb_store.h"

/* A stream's head as the streams db holds it: the id that keys its log
 * entries, and the head every backend keeps. */
typedef struct gb_lmdb_head {
	uint32_t id;
	gb_stream_info info;
} gb_lmdb_head;

struct gb_lmdb_cache_entry;

/* Zero it to start; entries are never deleted one by one, only all at
 * once, so probing stays simple. */
typedef struct gb_lmdb_cache {
	struct gb_lmdb_cache_entry *slots;
	size_t cap;                     /* 0 or a power of two */
	size_t count;
} gb_lmdb_cache;

/* The cached head of `name` (`len` bytes), or NULL. */
const gb_lmdb_head *gb_lmdb_cache_find(const gb_lmdb_cache *c,
				       const char *name, size_t len);

/* Insert or update the head of `name`. GB_ENOMEM when it cannot grow. */
int gb_lmdb_cache_store(gb_lmdb_cache *c, const char *name, size_t len,
			const gb_lmdb_head *h);

/* Drop every entry and free the map. */
void gb_lmdb_cache_clear(gb_lmdb_cache *c);

#endif
