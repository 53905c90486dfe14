/* The record-id dedupe index of the LMDB backend (gb_lmdb_dedupe.h).
 *
 * Trust: an index value read back must be exactly time || offset, or the
 * item is rejected with GB_ECORRUPT; a malformed age key has nothing to
 * keep it for and is removed. */
#include "gb_lmdb_dedupe.h"

#include <string.h>

#include "gb_error.h"
#include "gb_lmdb_keys.h"
#include "gb_store_bytes.h"
#include "gb_store_dedupe.h"

#define TAG_BYTES GB_STORE_TAG_BYTES
#define DEDUPE_VALUE_BYTES 16        /* u64be broker time || u64be offset */

struct lookup {
	gb_lmdb_write *g;
	uint8_t *key;
	size_t plen;
};

/* gb_store_tag_lookup_fn over the dedupe db: the entry of `tag`, put
 * after the key's prefix. */
static int dedupe_get(void *arg, const uint8_t *tag, uint64_t *t,
		      uint64_t *offset)
{
	struct lookup *l = arg;
	MDB_val k = {l->plen + TAG_BYTES, l->key}, v;
	int rc;

	memcpy(l->key + l->plen, tag, TAG_BYTES);
	rc = mdb_get(l->g->txn, l->g->s->dedupe_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return gb_lmdb_write_error(rc);
	if (v.mv_size != DEDUPE_VALUE_BYTES)
		return GB_ECORRUPT;
	*t = gb_get_be64(v.mv_data);
	*offset = gb_get_be64((const uint8_t *)v.mv_data + 8);
	return 1;
}

int gb_lmdb_dedupe_check(gb_lmdb_write *g, gb_write *w, uint8_t *key,
			 size_t plen, uint64_t window, uint64_t *first_offset)
{
	struct lookup l = {g, key, plen};

	return gb_store_dedupe_check(&g->s->dedupe, w, window, dedupe_get, &l,
				     first_offset);
}

int gb_lmdb_dedupe_insert(gb_lmdb_write *g, const gb_write *w, uint8_t *key,
			  size_t plen, uint64_t t, uint64_t base)
{
	uint8_t val[DEDUPE_VALUE_BYTES], age[GB_LMDB_KEY_MAX + 8 + TAG_BYTES];
	MDB_val k, v;
	int rc;

	for (uint32_t i = 0; i < w->record_count; i++) {
		const uint8_t *tag = w->record_tags + (size_t)i * TAG_BYTES;
		uint64_t old_t = gb_store_dedupe_replaced(&g->s->dedupe, i);

		if (!gb_store_tag_set(tag))
			continue;
		memcpy(key + plen, tag, TAG_BYTES);
		if (old_t && old_t != t) {
			/* An expired entry is replaced: drop its age key. */
			gb_put_be64(age, old_t);
			memcpy(age + 8, key, plen + TAG_BYTES);
			k = (MDB_val){8 + plen + TAG_BYTES, age};
			rc = mdb_del(g->txn, g->s->dedupe_age_db, &k, NULL);
			if (rc && rc != MDB_NOTFOUND)
				return gb_lmdb_write_error(rc);
		}
		gb_put_be64(val, t);
		gb_put_be64(val + 8, base + i);
		k = (MDB_val){plen + TAG_BYTES, key};
		v = (MDB_val){sizeof val, val};
		rc = mdb_put(g->txn, g->s->dedupe_db, &k, &v, 0);
		if (rc)
			return gb_lmdb_write_error(rc);
		gb_put_be64(age, t);
		memcpy(age + 8, key, plen + TAG_BYTES);
		k = (MDB_val){8 + plen + TAG_BYTES, age};
		v = (MDB_val){0, age};
		rc = mdb_put(g->txn, g->s->dedupe_age_db, &k, &v, 0);
		if (rc)
			return gb_lmdb_write_error(rc);
	}
	return 0;
}

/* Remove up to `limit` entries that no longer count at `now`, oldest
 * first. */
static int prune(gb_lmdb_write *g, uint64_t now, uint64_t window,
		 size_t limit)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(g->txn, g->s->dedupe_age_db, &cur);
	if (rc)
		return gb_lmdb_write_error(rc);
	for (size_t done = 0; done < limit; done++) {
		MDB_val dk, dv;
		uint64_t t = 0;

		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc)
			break;
		if (k.mv_size > 8) {
			t = gb_get_be64(k.mv_data);
			if (gb_store_dedupe_live(t, now, window))
				break;
			/* Only the entry of this time: a newer one replaced
			 * it. */
			dk = (MDB_val){k.mv_size - 8, (uint8_t *)k.mv_data + 8};
			if (mdb_get(g->txn, g->s->dedupe_db, &dk, &dv) == 0 &&
			    dv.mv_size == DEDUPE_VALUE_BYTES &&
			    gb_get_be64(dv.mv_data) == t) {
				rc = mdb_del(g->txn, g->s->dedupe_db, &dk, NULL);
				if (rc)
					break;
			}
		}
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc && rc != MDB_NOTFOUND ? gb_lmdb_write_error(rc) : 0;
}

int gb_lmdb_dedupe_prune(gb_lmdb_write *g, const gb_write *items, size_t n)
{
	uint64_t now;
	size_t limit = gb_store_dedupe_prune_budget(items, n, &now);

	return prune(g, now, gb_store_dedupe_window(&g->s->base), limit);
}
