/* Rules every backend applies to gb_write items, internal to broker/store:
 * which arguments are valid whatever is stored, how an item reports its
 * result, and how a group splits into units (gb_store.h,
 * gb_store_write_group). A backend checks an item with
 * gb_store_item_check before it looks at anything stored, so a bad item is
 * rejected alone and the same way by every backend. */
#ifndef GB_STORE_ITEM_H
#define GB_STORE_ITEM_H

#include <stdbool.h>
#include <stddef.h>

#include "gb_store.h"

#define GB_STORE_NAME_MAX 255           /* dataset, producer, dept, cursor name */
#define GB_STORE_CHECKPOINT_MAX 4096    /* a SignedCheckpoint is ~200 bytes */
#define GB_STORE_POLICY_MAX (64u << 20) /* configs are at most 4 MiB */

/* Length of a name field; GB_EINVAL when NULL, empty or too long. */
int gb_store_name_length(const char *name, size_t *len);

/* Check what an item carries, not what is stored: names, sizes, counts,
 * seqs, a policy's hash. 0 or GB_EINVAL (also for an unknown kind). A
 * WRAP's recipient is left to the backend, which checks it after the
 * epoch (gb_store.h). */
int gb_store_item_check(const gb_write *w);

/* Reset the results of `w`, with `result` as its outcome. */
void gb_store_item_clear(gb_write *w, int result);

/* Record a per-item rejection; the group goes on. Returns 0. */
int gb_store_item_reject(gb_write *w, int err);

/* Number of items, from items[i] on, that are applied together: the
 * item's unit_len when it is more than 1 (cut at the end of the group),
 * else 1. */
size_t gb_store_unit_len(const gb_write *items, size_t i, size_t n);

/* A unit may not hold APPENDs (a backend's seq state belongs to the whole
 * group): true after rejecting every item of such a unit with GB_EINVAL. */
bool gb_store_unit_refused(gb_write *items, size_t n);

/* A unit stored nothing because an item was rejected with `first`: every
 * item of it reports that. */
void gb_store_unit_fail(gb_write *items, size_t n, int first);

#endif
