/* The record-id dedupe index of the LMDB backend, internal to
 * broker/store/lmdb:
 *
 *   dedupe      dataset \0 producer \0 tag[16] -> u64be broker time ||
 *               u64be offset of the record
 *   dedupe_age  u64be broker time || the dedupe key -> empty
 *
 * An entry counts while time + window > now; older ones are ignored on
 * lookup, replaced when the tag comes again, and removed a few hundred per
 * group from the front of dedupe_age (DESIGN §7). Which records are
 * duplicates is decided by gb_store_dedupe; this module is the index it
 * looks tags up in. Keys use the pseq prefix "dataset \0 producer \0". */
#ifndef GB_LMDB_DEDUPE_H
#define GB_LMDB_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

#include "gb_lmdb_env.h"

/* Decide which records of w are duplicates (gb_store_dedupe_check) by
 * looking their tags up under `key`'s prefix (`plen` bytes; `key` has
 * room for a tag after it). */
int gb_lmdb_dedupe_check(gb_lmdb_write *g, gb_write *w, uint8_t *key,
			 size_t plen, uint64_t window, uint64_t *first_offset);

/* Enter the tags of w, stored at `base` at broker time `t`, right after
 * gb_lmdb_dedupe_check found none of them live (replacing the expired
 * entries it found). */
int gb_lmdb_dedupe_insert(gb_lmdb_write *g, const gb_write *w, uint8_t *key,
			  size_t plen, uint64_t t, uint64_t base);

/* Remove the expired entries a group of `items` may remove, oldest first
 * (gb_store_dedupe_prune_budget). */
int gb_lmdb_dedupe_prune(gb_lmdb_write *g, const gb_write *items, size_t n);

#endif
