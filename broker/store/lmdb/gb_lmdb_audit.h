/* The audit side of the LMDB backend, internal to broker/store/lmdb: the
 * AUDIT, CHECKPOINT and POLICY write kinds and the readers of the
 * checkpoints and policies dbs (gb_store.h). The audit trail itself is a
 * stream like any other (gb_lmdb_stream). */
#ifndef GB_LMDB_AUDIT_H
#define GB_LMDB_AUDIT_H

#include "gb_lmdb_env.h"

/* Write kinds; rejections land in w->result and return 0, a negative
 * return ends the group. */
int gb_lmdb_apply_audit(gb_lmdb_write *g, gb_write *w);
int gb_lmdb_apply_checkpoint(gb_lmdb_write *g, gb_write *w);
int gb_lmdb_apply_policy(gb_lmdb_write *g, gb_write *w);

int gb_lmdb_checkpoints_read(gb_store *s, const char *stream, uint64_t from,
			     size_t max, gb_store_value_fn fn, void *ctx);
int gb_lmdb_policies_read(gb_store *s, gb_store_policy_fn fn, void *ctx);

#endif
