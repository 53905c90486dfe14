/* Record-id dedupe decisions, internal to broker/store (gb_store.h,
 * gb_store_write_group; DESIGN §7): which records of an APPEND repeat a
 * tag seen inside the dedupe window or earlier in the batch, and how many
 * expired index entries a group removes. The index itself (tag -> broker
 * time and offset, with expiry) is the backend's; it is reached through a
 * lookup callback, so every backend decides alike. Writer thread only. */
#ifndef GB_STORE_DEDUPE_H
#define GB_STORE_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_envelope.h"
#include "gb_store.h"

#define GB_STORE_TAG_BYTES GB_RECORD_TAG_BYTES

/* Expired entries a group removes: this many plus two per tag it stores,
 * so removal outpaces insertion. */
#define GB_STORE_DEDUPE_PRUNE_BASE 256u

/* Scratch of the checks, kept between groups; zero it before first use. */
typedef struct gb_store_dedupe {
	uint32_t *order;                /* record indexes, sorted by tag */
	uint64_t *replaced;             /* per record: time of the expired
					   entry its insert replaces, 0: none */
	size_t cap;
} gb_store_dedupe;

/* Look up the index entry of `tag` for the item being checked: 1 with the
 * broker time and offset it was stored with, 0 when there is none,
 * negative on failure (returned by gb_store_dedupe_check as it is). */
typedef int (*gb_store_tag_lookup_fn)(void *ctx, const uint8_t *tag,
				      uint64_t *time_ns, uint64_t *offset);

void gb_store_dedupe_free(gb_store_dedupe *d);

/* Whether a record tag is set (a zero tag means "no id"). */
bool gb_store_tag_set(const uint8_t *tag);

/* An index entry stored at `t` still counts at `now`. */
bool gb_store_dedupe_live(uint64_t t, uint64_t now, uint64_t window);

/* Which records of w (record_tags, record_count, now_ns) were stored
 * before (a live entry) or repeat an earlier record of the batch: their
 * indexes, ascending, in w->dup_records and w->dup_count; *first_offset is
 * where record 0 was stored when it is one of them. Afterwards
 * gb_store_dedupe_replaced tells, per record, which expired entry its
 * insert replaces. GB_ENOMEM, or the lookup's error. */
int gb_store_dedupe_check(gb_store_dedupe *d, gb_write *w, uint64_t window,
			  gb_store_tag_lookup_fn lookup, void *ctx,
			  uint64_t *first_offset);

/* After gb_store_dedupe_check: the time of the expired entry record i's
 * tag replaces, 0 when there is none. */
uint64_t gb_store_dedupe_replaced(const gb_store_dedupe *d, uint32_t i);

/* How many expired entries a group of these items removes, and the broker
 * time it removes them at (the latest now_ns of the group). */
size_t gb_store_dedupe_prune_budget(const gb_write *items, size_t n,
				    uint64_t *now);

#endif
