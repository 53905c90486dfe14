/* Keys of the LMDB backend's databases (gb_lmdb_keys.h).
 *
 * Trust: names come from write items and read calls whose strings are
 * NUL-terminated but not otherwise trusted; every name is measured with a
 * bound before it is copied, and every key fits GB_LMDB_KEY_MAX. */
#include "gb_lmdb_keys.h"

#include <string.h>

#include "gb_error.h"
#include "gb_store_bytes.h"

/* Join `count` names with NUL separators into `out` (GB_LMDB_KEY_MAX
 * bytes). GB_EINVAL when a name is invalid or the key plus `suffix` more
 * bytes would exceed LMDB's key size limit. */
static int join_names(const gb_lmdb *s, const char *const *names,
		      size_t count, size_t suffix, uint8_t *out, size_t *len)
{
	size_t used = 0;

	for (size_t i = 0; i < count; i++) {
		size_t n;

		if (gb_store_name_length(names[i], &n) < 0)
			return GB_EINVAL;
		if (i > 0)
			out[used++] = 0;
		memcpy(out + used, names[i], n);
		used += n;
	}
	if (used + suffix > s->max_key)
		return GB_EINVAL;
	*len = used;
	return 0;
}

int gb_lmdb_pseq_prefix(const gb_lmdb *s, const char *dataset,
			const char *producer, uint8_t *key, size_t *len)
{
	const char *names[2] = {dataset, producer};
	size_t n;

	if (join_names(s, names, 2, 1 + GB_LMDB_SEQ_BYTES, key, &n) < 0)
		return GB_EINVAL;
	key[n] = 0;
	*len = n + 1;
	return 0;
}

int gb_lmdb_cursor_key(const gb_lmdb *s, const char *dept,
		       const char *dataset, const char *name, uint8_t *key,
		       size_t *len)
{
	const char *names[3] = {dept, dataset, name};

	return join_names(s, names, 3, 0, key, len);
}

void gb_lmdb_log_key(uint8_t key[GB_LMDB_LOG_KEY_BYTES], uint32_t stream_id,
		     uint64_t offset)
{
	gb_put_be32(key, stream_id);
	gb_put_be64(key + 4, offset);
}

int gb_lmdb_epoch_key(const char *dataset, uint32_t epoch, uint8_t *key,
		      size_t *len)
{
	size_t dlen;

	if (gb_store_name_length(dataset, &dlen) < 0)
		return GB_EINVAL;
	memcpy(key, dataset, dlen);
	key[dlen] = '\0';
	gb_put_be32(key + dlen + 1, epoch);
	*len = dlen + 5;
	return 0;
}

int gb_lmdb_wrap_key(const char *dataset, uint32_t epoch,
		     const char *recipient, uint8_t *key, size_t *len)
{
	size_t rlen;

	if (gb_lmdb_epoch_key(dataset, epoch, key, len) < 0 ||
	    gb_store_name_length(recipient, &rlen) < 0 || *len + rlen > 511)
		return GB_EINVAL;
	memcpy(key + *len, recipient, rlen);
	*len += rlen;
	return 0;
}

int gb_lmdb_checkpoint_key(const gb_lmdb *s, const char *stream,
			   uint64_t offset, uint8_t *key, size_t *len)
{
	const char *names[1] = {stream};
	size_t n;

	if (join_names(s, names, 1, 1 + GB_LMDB_SEQ_BYTES, key, &n) < 0)
		return GB_EINVAL;
	key[n] = 0;
	gb_put_be64(key + n + 1, offset);
	*len = n + 1 + GB_LMDB_SEQ_BYTES;
	return 0;
}
