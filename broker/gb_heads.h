/* govbus broker stream heads: the next offset of each stream as the I/O
 * thread knows it, so deciding whether a subscription has something to
 * deliver costs no read transaction.
 *
 * A head is read from the store the first time a stream is asked about
 * and then only moves forward, when the writer reports a committed append
 * (gb_heads_advance). The writer commits in order and the I/O thread
 * learns of every commit, so a head is never ahead of the store and is
 * behind it only between a commit and its result. */
#ifndef GB_HEADS_H
#define GB_HEADS_H

#include <stdint.h>

#include "gb_store.h"

typedef struct gb_heads gb_heads;

/* An empty table over `store` (borrowed; it must outlive the table).
 * Returns 0 or GB_ENOMEM. */
int gb_heads_new(gb_store *store, gb_heads **out);

/* Free; accepts NULL and sets *h to NULL. */
void gb_heads_destroy(gb_heads **h);

/* The next offset of `dataset` (0 for a stream never written), loaded
 * from the store on first use. Returns 0, or the store's error, or
 * GB_ENOMEM. */
int gb_heads_get(gb_heads *h, const char *dataset, uint64_t *next);

/* A commit extended `dataset` up to `next`: move its head there unless it
 * is already further. A stream not yet loaded is left to be read from the
 * store when first asked about. */
void gb_heads_advance(gb_heads *h, const char *dataset, uint64_t next);

#endif
