/* The LMDB backend's group commit (gb_lmdb_group.h).
 *
 * Trust: items are checked (gb_store_item_check, then the key size limit)
 * before anything stored is looked at, and every rejection is decided
 * before an item's first put, so a rejected item leaves nothing behind in
 * the transaction. A failed put ends the whole group: nothing of it is
 * stored and every item reports the error. The writer's cache of stream
 * heads and the stream id counter may hold the failed transaction's
 * changes, so both are reset whenever a group does not commit. */
#include "gb_lmdb_group.h"

#include <string.h>

#include "gb_error.h"
#include "gb_lmdb_audit.h"
#include "gb_lmdb_cursor.h"
#include "gb_lmdb_dedupe.h"
#include "gb_lmdb_epoch.h"
#include "gb_lmdb_keys.h"
#include "gb_lmdb_pseq.h"
#include "gb_lmdb_request.h"
#include "gb_lmdb_stream.h"
#include "gb_store_dedupe.h"
#include "gb_store_item.h"

/* A batch all of whose records were stored before: use its seq, pointing
 * at where its first record is, and store nothing else. */
static int consume_seq(gb_lmdb_write *g, gb_write *w, uint8_t *key,
		       size_t plen, uint64_t first_offset)
{
	int rc = gb_lmdb_pseq_put(g, w, key, plen, first_offset);

	if (rc < 0)
		return rc;
	w->duplicate = true;
	w->base_offset = first_offset;
	w->result = 0;
	return 0;
}

/* Apply one APPEND item. Rejections land in w->result and return 0; a
 * negative return is a transaction failure that ends the group. */
static int apply_append(gb_lmdb_write *g, gb_write *w)
{
	gb_lmdb *s = g->s;
	uint8_t key[GB_LMDB_KEY_MAX];
	size_t plen;
	uint64_t last_seq, window;
	bool have_last;
	int rc;

	if (gb_lmdb_pseq_prefix(s, w->dataset, w->producer, key, &plen) < 0 ||
	    (w->record_tags && 8 + plen + GB_STORE_TAG_BYTES > s->max_key))
		return gb_store_item_reject(w, GB_EINVAL);

	rc = gb_lmdb_last_seq_find(g->pseq_cursor, key, plen, &last_seq,
				   &have_last);
	if (rc == GB_ECORRUPT)
		return gb_store_item_reject(w, rc);
	if (rc < 0)
		return gb_lmdb_group_failure(rc);
	if (have_last && w->producer_seq <= last_seq)
		return gb_lmdb_pseq_resolve_old(g, w, key, plen);
	/* Only the next seq may be stored: a pipelined batch that overtook
	 * a failed one would otherwise make the failed one unstorable. */
	if (w->producer_seq != (have_last ? last_seq + 1 : 1))
		return gb_store_item_reject(w, GB_ECONFLICT);
	if (w->key_epoch != 0) {
		rc = gb_lmdb_epoch_check(g, w);
		if (rc != 0)
			return rc < 0 ? gb_lmdb_group_failure(rc) : 0;
	}
	window = w->record_tags ? gb_store_dedupe_window(&s->base) : 0;
	if (window) {
		uint64_t first_offset = 0;

		rc = gb_lmdb_dedupe_check(g, w, key, plen, window,
					  &first_offset);
		if (rc == GB_ECORRUPT)
			return gb_store_item_reject(w, rc);
		if (rc < 0)
			return rc == GB_ENOMEM ? GB_EIO : rc;
		if (w->dup_count == w->record_count)
			return consume_seq(g, w, key, plen, first_offset);
		if (w->dup_count)
			return gb_store_item_reject(w, GB_EDUPLICATE);
	}

	rc = gb_lmdb_stream_append(g, w, strlen(w->dataset));
	if (rc < 0 || w->result != 0)
		return rc;
	if (window) {
		rc = gb_lmdb_dedupe_insert(g, w, key, plen, w->broker_time_ns,
					   w->base_offset);
		if (rc < 0)
			return rc;
	}
	return gb_lmdb_pseq_put(g, w, key, plen, w->base_offset);
}

/* Apply one item of any kind; see apply_append for the return rule. */
static int apply_item(gb_lmdb_write *g, gb_write *w)
{
	int rc = gb_store_item_check(w);

	if (rc < 0)
		return gb_store_item_reject(w, rc);
	switch (w->kind) {
	case GB_WRITE_APPEND:
		return apply_append(g, w);
	case GB_WRITE_CURSOR:
		return gb_lmdb_apply_cursor(g, w);
	case GB_WRITE_EPOCH:
		return gb_lmdb_apply_epoch(g, w);
	case GB_WRITE_WRAP:
		return gb_lmdb_apply_wrap(g, w);
	case GB_WRITE_RETIRE:
		return gb_lmdb_apply_retire(g, w);
	case GB_WRITE_AUDIT:
		return gb_lmdb_apply_audit(g, w);
	case GB_WRITE_CHECKPOINT:
		return gb_lmdb_apply_checkpoint(g, w);
	case GB_WRITE_POLICY:
		return gb_lmdb_apply_policy(g, w);
	case GB_WRITE_REQUEST:
		return gb_lmdb_apply_request(g, w);
	}
	return gb_store_item_reject(w, GB_EINVAL);
}

/* Apply `n` items as one unit in a nested transaction: all of them, or, if
 * any is rejected, none (each then reports the first rejection). Units may
 * not hold APPENDs, whose pseq cursor belongs to the parent transaction. */
static int apply_unit(gb_lmdb_write *g, gb_write *items, size_t n)
{
	MDB_txn *parent = g->txn, *child = NULL;
	int first = 0, rc;

	if (gb_store_unit_refused(items, n))
		return 0;
	rc = mdb_txn_begin(g->s->env, parent, 0, &child);
	if (rc)
		return gb_lmdb_write_error(rc);
	g->txn = child;
	for (size_t i = 0; i < n && first == 0; i++) {
		rc = apply_item(g, &items[i]);
		if (rc < 0) {
			mdb_txn_abort(child);
			g->txn = parent;
			return rc;
		}
		first = items[i].result;
	}
	g->txn = parent;
	if (first != 0) {
		mdb_txn_abort(child);
		gb_store_unit_fail(items, n, first);
		return 0;
	}
	rc = mdb_txn_commit(child);
	return rc ? gb_lmdb_write_error(rc) : 0;
}

/* One attempt at the group: apply every item, commit and sync. */
static int write_group_once(gb_lmdb *s, gb_write *items, size_t n)
{
	gb_lmdb_write g = {s, NULL, NULL};
	uint32_t saved_next_id = s->next_stream_id;
	int rc;

	for (size_t i = 0; i < n; i++)
		gb_store_item_clear(&items[i], 0);
	rc = mdb_txn_begin(s->env, NULL, 0, &g.txn);
	if (rc) {
		g.txn = NULL;
		rc = gb_lmdb_write_error(rc);
		goto err;
	}
	rc = mdb_cursor_open(g.txn, s->pseq_db, &g.pseq_cursor);
	if (rc) {
		g.pseq_cursor = NULL;
		rc = gb_lmdb_write_error(rc);
		goto err;
	}
	/* Remove expired dedupe entries, more than the group can add. */
	rc = gb_lmdb_dedupe_prune(&g, items, n);
	if (rc < 0)
		goto err;
	for (size_t i = 0; i < n;) {
		size_t len = gb_store_unit_len(items, i, n);

		rc = len == 1 ? apply_item(&g, &items[i])
			      : apply_unit(&g, &items[i], len);
		if (rc < 0)
			goto err;
		i += len;
	}
	mdb_cursor_close(g.pseq_cursor);
	g.pseq_cursor = NULL;
	/* Commit writes and fdatasyncs; on failure LMDB frees the txn and
	 * nothing of it is durable, so the items must not be acked. */
	rc = mdb_txn_commit(g.txn);
	g.txn = NULL;
	if (rc) {
		rc = gb_lmdb_commit_error(s->env, rc, items, n);
		goto err;
	}
	return 0;

err:
	if (g.pseq_cursor)
		mdb_cursor_close(g.pseq_cursor);
	if (g.txn)
		mdb_txn_abort(g.txn);
	/* The cache and counter may hold this transaction's changes. */
	gb_lmdb_cache_clear(&s->cache);
	s->next_stream_id = saved_next_id;
	return rc;
}

int gb_lmdb_write_group(gb_store *base, gb_write *items, size_t n)
{
	gb_lmdb *s = gb_lmdb_of(base);
	int rc;

	/* MDB_MAP_FULL is handled by growing the map: nothing of the failed
	 * attempt was stored, so the group simply runs again. */
	while ((rc = write_group_once(s, items, n)) == GB_LMDB_MAP_FULL) {
		rc = gb_lmdb_map_grow(s);
		if (rc < 0)
			break;
	}
	if (rc < 0)
		for (size_t i = 0; i < n; i++)
			gb_store_item_clear(&items[i], rc);
	return rc;
}
