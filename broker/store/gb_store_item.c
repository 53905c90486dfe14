/* Rules every backend applies to gb_write items (gb_store_item.h).
 *
 * Trust: items come from the broker's writer thread, trusted to pass valid
 * pointers and NUL-terminated strings, but not well-formed values: names,
 * sequence numbers, counts and sizes are checked here per item. */
#include "gb_store_item.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "gb_error.h"

int gb_store_name_length(const char *name, size_t *len)
{
	size_t n;

	if (!name)
		return GB_EINVAL;
	n = strnlen(name, GB_STORE_NAME_MAX + 1);
	if (n == 0 || n > GB_STORE_NAME_MAX)
		return GB_EINVAL;
	*len = n;
	return 0;
}

static bool name_ok(const char *name)
{
	size_t n;

	return gb_store_name_length(name, &n) == 0;
}

/* The entry of an APPEND or AUDIT: some bytes, at least one record. */
static bool entry_ok(const gb_write *w)
{
	return w->signed_batch && w->signed_batch_len != 0 &&
	       w->signed_batch_len <= SIZE_MAX - GB_STORED_HEADER_BYTES &&
	       w->record_count != 0;
}

static bool policy_ok(const gb_write *w)
{
	uint8_t hash[GB_HASH_BYTES];

	if (!w->policy_hash || (!w->value && w->value_len) ||
	    w->value_len > GB_STORE_POLICY_MAX)
		return false;
	crypto_generichash(hash, sizeof hash, w->value, w->value_len, NULL, 0);
	return sodium_memcmp(hash, w->policy_hash, sizeof hash) == 0;
}

int gb_store_item_check(const gb_write *w)
{
	bool ok;

	switch (w->kind) {
	case GB_WRITE_APPEND:
		/* Seqs start at 1: gb_store_last_seq answers 0 for "none". */
		ok = name_ok(w->dataset) && name_ok(w->producer) &&
		     entry_ok(w) && w->producer_seq != 0 &&
		     (!w->record_tags || w->dup_records);
		break;
	case GB_WRITE_CURSOR:
		ok = name_ok(w->dept) && name_ok(w->dataset) &&
		     name_ok(w->cursor_name);
		break;
	case GB_WRITE_EPOCH:
		ok = w->key_commitment && name_ok(w->dataset);
		break;
	case GB_WRITE_WRAP:
		ok = w->wrap && w->wrap_len != 0 && name_ok(w->dataset);
		break;
	case GB_WRITE_RETIRE:
		ok = name_ok(w->dataset);
		break;
	case GB_WRITE_AUDIT:
		ok = name_ok(w->dataset) && entry_ok(w);
		break;
	case GB_WRITE_CHECKPOINT:
		ok = name_ok(w->dataset) && w->value && w->value_len != 0 &&
		     w->value_len <= GB_STORE_CHECKPOINT_MAX;
		break;
	case GB_WRITE_POLICY:
		ok = policy_ok(w);
		break;
	case GB_WRITE_REQUEST:
		ok = w->value && w->value_len != 0 &&
		     w->value_len <= GB_STORE_REQUEST_MAX;
		break;
	default:
		ok = false;
		break;
	}
	return ok ? 0 : GB_EINVAL;
}

void gb_store_item_clear(gb_write *w, int result)
{
	w->result = result;
	w->duplicate = false;
	w->dup_count = 0;
	w->base_offset = 0;
	w->broker_time_ns = 0;
	memset(w->chain_hash, 0, GB_HASH_BYTES);
	w->stored_id = 0;
}

int gb_store_item_reject(gb_write *w, int err)
{
	w->result = err;
	return 0;
}

size_t gb_store_unit_len(const gb_write *items, size_t i, size_t n)
{
	size_t len = items[i].unit_len > 1 ? items[i].unit_len : 1;

	return len > n - i ? n - i : len;
}

bool gb_store_unit_refused(gb_write *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (items[i].kind == GB_WRITE_APPEND) {
			for (size_t j = 0; j < n; j++)
				gb_store_item_reject(&items[j], GB_EINVAL);
			return true;
		}
	return false;
}

void gb_store_unit_fail(gb_write *items, size_t n, int first)
{
	for (size_t i = 0; i < n; i++)
		gb_store_item_clear(&items[i], first);
}
