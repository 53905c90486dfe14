/* Durable cursors of the LMDB backend, internal to broker/store/lmdb: the
 * cursors db ("dept \0 dataset \0 name" -> u64be next offset), written by
 * CURSOR items and read by gb_store_cursor_get (gb_store.h). */
#ifndef GB_LMDB_CURSOR_H
#define GB_LMDB_CURSOR_H

#include "gb_lmdb_env.h"

/* Upsert the durable cursor of w (dept, dataset, cursor_name). A key
 * beyond LMDB's limit is rejected (GB_EINVAL); a negative return ends the
 * group. */
int gb_lmdb_apply_cursor(gb_lmdb_write *g, gb_write *w);

int gb_lmdb_cursor_get(gb_store *s, const char *dept, const char *dataset,
		       const char *name, uint64_t *next_offset);

#endif
