/* The LMDB backend's group commit, internal to broker/store/lmdb: one
 * write transaction that applies every item of a gb_store_write_group in
 * order (units in nested transactions), commits and syncs, and runs again
 * in a doubled map when the map was full. The APPEND item, which ties the
 * producer seq, the key epoch, the dedupe index and the stream together,
 * is applied here; every other kind by the module of its database. */
#ifndef GB_LMDB_GROUP_H
#define GB_LMDB_GROUP_H

#include "gb_lmdb_env.h"

/* gb_store_write_group (items != NULL, n > 0). */
int gb_lmdb_write_group(gb_store *s, gb_write *items, size_t n);

#endif
