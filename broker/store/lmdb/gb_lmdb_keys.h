/* Keys of the LMDB backend's databases, internal to broker/store/lmdb:
 * names joined with NUL separators and big-endian numbers, so keys of one
 * dataset (and producer) sort together and numbers sort in order. Every
 * builder refuses a name that is not 1..255 bytes and a key that would
 * pass LMDB's key size limit, with GB_EINVAL. Layouts: gb_store.h. */
#ifndef GB_LMDB_KEYS_H
#define GB_LMDB_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "gb_lmdb_env.h"
#include "gb_store_item.h"

#define GB_LMDB_SEQ_BYTES 8
#define GB_LMDB_LOG_KEY_BYTES 12        /* u32be stream id || u64be offset */
/* Longest composite key we build: three names and two separators. LMDB's
 * own limit (mdb_env_get_maxkeysize, 511 by default) is checked too. */
#define GB_LMDB_KEY_MAX (3 * GB_STORE_NAME_MAX + 2 + GB_LMDB_SEQ_BYTES)

/* pseq key prefix "dataset \0 producer \0" (the dedupe keys share it); the
 * u64be seq goes after it. */
int gb_lmdb_pseq_prefix(const gb_lmdb *s, const char *dataset,
			const char *producer, uint8_t *key, size_t *len);

/* cursors key "dept \0 dataset \0 name". */
int gb_lmdb_cursor_key(const gb_lmdb *s, const char *dept,
		       const char *dataset, const char *name, uint8_t *key,
		       size_t *len);

/* log key: u32be stream id || u64be base offset. */
void gb_lmdb_log_key(uint8_t key[GB_LMDB_LOG_KEY_BYTES], uint32_t stream_id,
		     uint64_t offset);

/* "dataset \0 u32be epoch": the epoch_log key and the wraps key prefix. */
int gb_lmdb_epoch_key(const char *dataset, uint32_t epoch, uint8_t *key,
		      size_t *len);

/* wraps key: the epoch key || recipient. */
int gb_lmdb_wrap_key(const char *dataset, uint32_t epoch,
		     const char *recipient, uint8_t *key, size_t *len);

/* checkpoints key "stream \0 u64be next_offset". */
int gb_lmdb_checkpoint_key(const gb_lmdb *s, const char *stream,
			   uint64_t offset, uint8_t *key, size_t *len);

#endif
