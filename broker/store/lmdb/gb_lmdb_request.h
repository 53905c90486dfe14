/* Access requests in the LMDB backend, internal to broker/store/lmdb: the
 * requests db (u64be id -> serialized AccessRequestInfo, opaque here), the
 * REQUEST write kind and its readers (gb_store.h). */
#ifndef GB_LMDB_REQUEST_H
#define GB_LMDB_REQUEST_H

#include "gb_lmdb_env.h"

/* Store w->value under w->request_id, or under the next id when it is 0.
 * Rejections land in w->result and return 0, a negative return ends the
 * group. */
int gb_lmdb_apply_request(gb_lmdb_write *g, gb_write *w);

int gb_lmdb_requests_read(gb_store *s, gb_store_value_fn fn, void *ctx);
int gb_lmdb_request_next_id(gb_store *s, uint64_t *next);

#endif
