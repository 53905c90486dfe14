/* Dataset key epochs and wraps of the LMDB backend, internal to
 * broker/store/lmdb: the epochs db (the current epoch of a dataset), the
 * epoch_log db (every epoch opened, with its commitment) and the wraps db
 * (signed key wraps per recipient). The write kinds EPOCH, WRAP and RETIRE,
 * the epoch check of an APPEND, and their readers (gb_store.h). */
#ifndef GB_LMDB_EPOCH_H
#define GB_LMDB_EPOCH_H

#include "gb_lmdb_env.h"

/* An APPEND with an epoch: 0 when it is the current, unretired epoch with
 * the same commitment; 1 after rejecting it; negative on failure. */
int gb_lmdb_epoch_check(gb_lmdb_write *g, gb_write *w);

/* Write kinds; rejections land in w->result and return 0, a negative
 * return ends the group. */
int gb_lmdb_apply_epoch(gb_lmdb_write *g, gb_write *w);
int gb_lmdb_apply_wrap(gb_lmdb_write *g, gb_write *w);
int gb_lmdb_apply_retire(gb_lmdb_write *g, gb_write *w);

int gb_lmdb_epoch_get(gb_store *s, const char *dataset, gb_epoch_state *out);
int gb_lmdb_wrap_get(gb_store *s, const char *dataset, uint32_t epoch,
		     const char *recipient, uint8_t **out, size_t *len);
int gb_lmdb_wrap_holders(gb_store *s, const char *dataset, uint32_t epoch,
			 gb_store_name_fn fn, void *ctx);

#endif
