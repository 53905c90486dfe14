/* The audit side of the LMDB backend (gb_lmdb_audit.h).
 *
 * Trust: the writers follow the group rules (gb_lmdb_group); the readers
 * hand raw values to an auditor's verifier, bounded but not judged, except
 * that a policy record must split into load times and config bytes. */
#include "gb_lmdb_audit.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"
#include "gb_lmdb_keys.h"
#include "gb_lmdb_stream.h"
#include "gb_store_bytes.h"
#include "gb_store_item.h"

int gb_lmdb_apply_audit(gb_lmdb_write *g, gb_write *w)
{
	return gb_lmdb_stream_append(g, w, strlen(w->dataset));
}

/* Store a checkpoint; it may only cover what the stream holds (including
 * appends earlier in this group). */
int gb_lmdb_apply_checkpoint(gb_lmdb_write *g, gb_write *w)
{
	uint8_t key[GB_LMDB_KEY_MAX];
	gb_lmdb_head h;
	size_t klen;
	bool exists;
	MDB_val k, v;
	int rc;

	if (gb_lmdb_checkpoint_key(g->s, w->dataset, w->checkpoint_offset, key,
				   &klen) < 0)
		return gb_store_item_reject(w, GB_EINVAL);
	rc = gb_lmdb_stream_group_head(g, w->dataset, strlen(w->dataset), &h,
				       &exists);
	if (rc == GB_ECORRUPT)
		return gb_store_item_reject(w, rc);
	if (rc < 0)
		return gb_lmdb_group_failure(rc);
	if (w->checkpoint_offset > h.info.next_offset)
		return gb_store_item_reject(w, GB_EINVAL);
	k = (MDB_val){klen, key};
	v = (MDB_val){w->value_len, (void *)w->value};
	rc = mdb_put(g->txn, g->s->checkpoints_db, &k, &v, 0);
	if (rc)
		return gb_lmdb_write_error(rc);
	w->result = 0;
	return 0;
}

/* Decode a policies value: u32be n || n x u64be || config. */
static int policy_decode(const MDB_val *v, uint32_t *n, const uint8_t **loads,
			 const uint8_t **config, size_t *config_len)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size < 4)
		return GB_ECORRUPT;
	*n = gb_get_be32(p);
	if (*n == 0 || (v->mv_size - 4) / 8 < *n)
		return GB_ECORRUPT;
	*loads = p + 4;
	*config = p + 4 + (size_t)*n * 8;
	*config_len = v->mv_size - 4 - (size_t)*n * 8;
	return 0;
}

/* Record one load of a config: create its record, or append the time.
 * gb_store_item_check has made sure policy_hash is the config's hash. */
int gb_lmdb_apply_policy(gb_lmdb_write *g, gb_write *w)
{
	const uint8_t *loads = NULL, *config = NULL;
	size_t config_len = 0, size;
	uint32_t n = 0;
	uint8_t *val;
	MDB_val k = {GB_HASH_BYTES, (void *)w->policy_hash}, v;
	int rc;

	rc = mdb_get(g->txn, g->s->policies_db, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return gb_lmdb_write_error(rc);
	if (rc == 0) {
		if (policy_decode(&v, &n, &loads, &config, &config_len) < 0 ||
		    config_len != w->value_len ||
		    (config_len && memcmp(config, w->value, config_len) != 0) ||
		    n == UINT32_MAX)
			return gb_store_item_reject(w, GB_ECORRUPT);
		if (gb_get_be64(loads + (size_t)(n - 1) * 8) == w->now_ns) {
			w->result = 0; /* the same load, recorded twice */
			return 0;
		}
	}
	size = 4 + ((size_t)n + 1) * 8 + w->value_len;
	val = malloc(size);
	if (!val)
		return GB_EIO; /* ends the group like any failed put */
	gb_put_be32(val, n + 1);
	if (n)
		memcpy(val + 4, loads, (size_t)n * 8);
	gb_put_be64(val + 4 + (size_t)n * 8, w->now_ns);
	if (w->value_len)
		memcpy(val + 4 + ((size_t)n + 1) * 8, w->value, w->value_len);
	v = (MDB_val){size, val};
	rc = mdb_put(g->txn, g->s->policies_db, &k, &v, 0);
	free(val);
	if (rc)
		return gb_lmdb_write_error(rc);
	w->result = 0;
	return 0;
}

struct checkpoint_scan {
	gb_store_value_fn fn;
	void *ctx;
	size_t klen, plen, max;
	int visited;
};

static int checkpoint_one(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct checkpoint_scan *c = arg;

	if (k->mv_size != c->klen)
		return 0; /* not one of ours: cannot name an offset */
	if ((size_t)c->visited == c->max || c->visited == INT_MAX)
		return 1;
	c->visited++;
	return c->fn(c->ctx, gb_get_be64((const uint8_t *)k->mv_data + c->plen),
		     v->mv_data, v->mv_size);
}

int gb_lmdb_checkpoints_read(gb_store *base, const char *stream, uint64_t from,
			     size_t max, gb_store_value_fn fn, void *ctx)
{
	gb_lmdb *s = gb_lmdb_of(base);
	uint8_t key[GB_LMDB_KEY_MAX];
	struct checkpoint_scan c = {fn, ctx, 0, 0, max, 0};
	int rc;

	if (gb_lmdb_checkpoint_key(s, stream, from, key, &c.klen) < 0)
		return GB_EINVAL;
	if (!s->audit_dbs || max == 0)
		return 0;
	c.plen = c.klen - GB_LMDB_SEQ_BYTES;
	rc = gb_lmdb_scan(s, s->checkpoints_db, key, c.klen, c.plen,
			  checkpoint_one, &c);
	return rc < 0 ? rc : c.visited;
}

struct policy_scan {
	gb_store_policy_fn fn;
	void *ctx;
	uint64_t *loads;
	int visited;
};

static int policy_one(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct policy_scan *c = arg;
	gb_stored_policy p;
	const uint8_t *be;
	uint64_t *loads;
	uint32_t n;

	if (k->mv_size != GB_HASH_BYTES ||
	    policy_decode(v, &n, &be, &p.config, &p.config_len) < 0)
		return GB_ECORRUPT;
	loads = realloc(c->loads, (n ? n : 1) * sizeof *loads);
	if (!loads)
		return GB_ENOMEM;
	c->loads = loads;
	for (uint32_t i = 0; i < n; i++)
		loads[i] = gb_get_be64(be + (size_t)i * 8);
	p.hash = k->mv_data;
	p.loaded_ns = loads;
	p.load_count = n;
	if (c->visited == INT_MAX)
		return 1;
	c->visited++;
	return c->fn(c->ctx, &p);
}

int gb_lmdb_policies_read(gb_store *base, gb_store_policy_fn fn, void *ctx)
{
	gb_lmdb *s = gb_lmdb_of(base);
	struct policy_scan c = {fn, ctx, NULL, 0};
	int rc;

	if (!s->audit_dbs)
		return 0;
	rc = gb_lmdb_scan(s, s->policies_db, NULL, 0, 0, policy_one, &c);
	free(c.loads);
	return rc < 0 ? rc : c.visited;
}
