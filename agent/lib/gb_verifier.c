/* govbus log verifier; see gb_verifier.h.
 *
 * Trust: nothing fed in is trusted — not the entries, not the stored chain
 * hashes, not the checkpoints, not the policy snapshots. Only two things
 * anchor the check: the broker key the caller pins (checkpoints must be
 * signed by it) and the producers' keys in the policy snapshots (whose
 * bytes must hash to the hash the broker recorded; an auditor compares that
 * hash, or the bytes, with the administrators' copy). A stored chain hash
 * that matches proves nothing by itself — a forger can recompute them —
 * which is why every checkpoint is compared with the chain recomputed here
 * from offset 0. */
#include "gb_verifier.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_chain.h"
#include "gb_checkpoint.h"
#include "gb_codec.h"
#include "gb_config.h"
#include "gb_envelope.h"
#include "gb_error.h"
#include "gb_keys.h"
#include "govbus.pb-c.h"

#define PROBLEM_MAX 1024

struct snapshot {
	uint8_t hash[GB_HASH_BYTES];
	gb_registry *reg;
};

/* One load of a snapshot: from `ns` on, snapshot `index` was in force. */
struct load {
	uint64_t ns;
	size_t index;
};

struct fixed_key {
	char dept[GB_MAX_ID_LEN + 1];
	uint8_t pk[GB_SIGN_PK_BYTES];
};

struct producer_seq {
	char dept[GB_MAX_ID_LEN + 1];
	uint64_t last;
};

struct gb_verifier {
	char stream[GB_MAX_ID_LEN + 1];
	bool trail;                    /* the audit trail, not a dataset */
	uint8_t broker_pk[GB_SIGN_PK_BYTES];

	struct snapshot *snaps;
	size_t snap_count, snap_cap;
	struct load *loads;
	size_t load_count, load_cap;
	bool loads_sorted;
	struct fixed_key *keys;
	size_t key_count, key_cap;

	gb_checkpoint *cps;
	size_t cp_count, cp_cap;
	size_t cp_next;                /* first checkpoint not yet compared */
	bool cps_sorted;

	struct producer_seq *seqs;
	size_t seq_count, seq_cap;

	/* The log as verified so far. */
	uint8_t head[GB_HASH_BYTES];
	uint64_t next_offset;
	uint64_t last_time_ns;
	gb_verifier_stats stats;

	int status;
	bool has_offset;
	uint64_t offset;
	char problem[PROBLEM_MAX];
};

/* ------------------------------------------------------------ helpers */

/* Grow *arr (of `size`-byte items) to hold one more. */
static int grow(void **arr, size_t *cap, size_t count, size_t size)
{
	void *bigger;
	size_t n;

	if (count < *cap)
		return 0;
	n = *cap ? *cap * 2 : 16;
	bigger = realloc(*arr, n * size);
	if (!bigger)
		return GB_ENOMEM;
	*arr = bigger;
	*cap = n;
	return 0;
}

/* The first problem wins: later ones are dropped. */
__attribute__((format(printf, 5, 0)))
static int vfail(gb_verifier *v, int rc, bool has_offset, uint64_t offset,
		 const char *fmt, va_list ap)
{
	if (v->status)
		return v->status;
	v->status = rc;
	v->has_offset = has_offset;
	v->offset = offset;
	vsnprintf(v->problem, sizeof v->problem, fmt, ap);
	return rc;
}

int gb_verifier_fail(gb_verifier *v, int rc, bool has_offset,
		     uint64_t offset, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = vfail(v, rc, has_offset, offset, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail_at(gb_verifier *v, int rc, uint64_t offset, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

static int fail_at(gb_verifier *v, int rc, uint64_t offset, const char *fmt,
		   ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = vfail(v, rc, true, offset, fmt, ap);
	va_end(ap);
	return rc;
}

/* The first 16 hex digits of a hash, for messages. */
static const char *short_hex(const uint8_t *h, char out[17])
{
	sodium_bin2hex(out, 17, h, 8);
	return out;
}

/* ------------------------------------------------------------ lifecycle */

int gb_verifier_new(const char *stream, const uint8_t *broker_pk,
		    gb_verifier **out)
{
	gb_verifier *v;

	*out = NULL;
	if (!gb_stream_name_valid(stream) || !broker_pk)
		return GB_EINVAL;
	if (sodium_init() < 0)
		return GB_ENOMEM;
	v = calloc(1, sizeof *v);
	if (!v)
		return GB_ENOMEM;
	snprintf(v->stream, sizeof v->stream, "%s", stream);
	v->trail = !strcmp(stream, GB_AUDIT_STREAM);
	memcpy(v->broker_pk, broker_pk, GB_SIGN_PK_BYTES);
	*out = v;
	return 0;
}

void gb_verifier_destroy(gb_verifier **vp)
{
	gb_verifier *v;

	if (!vp || !*vp)
		return;
	v = *vp;
	for (size_t i = 0; i < v->snap_count; i++)
		gb_registry_destroy(&v->snaps[i].reg);
	free(v->snaps);
	free(v->loads);
	free(v->keys);
	free(v->cps);
	free(v->seqs);
	free(v);
	*vp = NULL;
}

/* ------------------------------------------------------------ keys */

int gb_verifier_add_policy(gb_verifier *v, const uint8_t *hash,
			   size_t hash_len, const uint64_t *loaded_ns,
			   size_t load_count, const uint8_t *config,
			   size_t config_len)
{
	uint8_t actual[GB_HASH_BYTES];
	char name[64], hex[17], text[600];
	gb_config_error err;
	struct snapshot *s;
	int rc;

	if (v->status)
		return v->status;
	if (hash_len != GB_HASH_BYTES || load_count == 0 ||
	    (!config && config_len))
		return gb_verifier_fail(v, GB_EINVAL, false, 0,
					"a policy snapshot has no valid hash "
					"or load time");
	crypto_generichash(actual, sizeof actual, config, config_len, NULL, 0);
	if (sodium_memcmp(actual, hash, GB_HASH_BYTES) != 0)
		return gb_verifier_fail(v, GB_ECORRUPT, false, 0,
					"policy snapshot %s...: its bytes do not "
					"hash to it (the snapshot was altered)",
					short_hex(hash, hex));
	if (grow((void **)&v->snaps, &v->snap_cap, v->snap_count, sizeof *v->snaps))
		return gb_verifier_fail(v, GB_ENOMEM, false, 0, "out of memory");
	/* Load as the broker did, at its first load: "/" is only a folder
	 * to resolve the config's paths against, nothing is read. */
	snprintf(name, sizeof name, "/policy-%s.yaml", short_hex(hash, hex));
	s = &v->snaps[v->snap_count];
	memcpy(s->hash, hash, GB_HASH_BYTES);
	rc = gb_config_load_buffer(name, config, config_len,
				   (int64_t)loaded_ns[0], &s->reg, &err);
	if (rc != 0) {
		gb_config_error_format(&err, text, sizeof text);
		return gb_verifier_fail(v, rc, false, 0,
					"policy snapshot %s... does not load: %s",
					hex, text);
	}
	v->snap_count++;
	for (size_t i = 0; i < load_count; i++) {
		if (grow((void **)&v->loads, &v->load_cap, v->load_count,
			 sizeof *v->loads))
			return gb_verifier_fail(v, GB_ENOMEM, false, 0,
						"out of memory");
		v->loads[v->load_count++] =
			(struct load){loaded_ns[i], v->snap_count - 1};
	}
	v->loads_sorted = false;
	v->stats.policies++;
	return 0;
}

int gb_verifier_add_key(gb_verifier *v, const char *dept, const uint8_t *pk)
{
	if (v->status)
		return v->status;
	if (!gb_id_valid(dept) || !pk)
		return GB_EINVAL;
	if (grow((void **)&v->keys, &v->key_cap, v->key_count, sizeof *v->keys))
		return gb_verifier_fail(v, GB_ENOMEM, false, 0, "out of memory");
	snprintf(v->keys[v->key_count].dept, sizeof v->keys[0].dept, "%s", dept);
	memcpy(v->keys[v->key_count].pk, pk, GB_SIGN_PK_BYTES);
	v->key_count++;
	return 0;
}

static int load_cmp(const void *a, const void *b)
{
	const struct load *x = a, *y = b;

	return x->ns < y->ns ? -1 : x->ns > y->ns;
}

/* The snapshot in force at `t`: the last load at or before it; the
 * earliest when t precedes every load (counted in the stats). */
static const struct snapshot *policy_at(gb_verifier *v, uint64_t t)
{
	size_t lo = 0, hi = v->load_count;

	if (!v->loads_sorted) {
		qsort(v->loads, v->load_count, sizeof *v->loads, load_cmp);
		v->loads_sorted = true;
	}
	while (lo < hi) { /* first load after t */
		size_t mid = lo + (hi - lo) / 2;

		if (v->loads[mid].ns <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0) {
		v->stats.before_first_policy++;
		return &v->snaps[v->loads[0].index];
	}
	return &v->snaps[v->loads[lo - 1].index];
}

/* The key `producer` signed with at broker time `t`, checking it owns the
 * dataset under that policy. NULL after recording a problem. */
static const uint8_t *producer_key(gb_verifier *v, const char *producer,
				   uint64_t t, uint64_t offset)
{
	const struct snapshot *s;
	const gb_department *d;
	const gb_dataset *ds;
	char hex[17];

	if (v->load_count == 0) {
		for (size_t i = 0; i < v->key_count; i++)
			if (!strcmp(v->keys[i].dept, producer))
				return v->keys[i].pk;
		fail_at(v, GB_EAUTH, offset,
			"offset %" PRIu64 ": no signing key is known for "
			"producer %s",
			offset, producer);
		return NULL;
	}
	s = policy_at(v, t);
	d = gb_registry_find_department(s->reg, producer);
	ds = gb_registry_find_dataset(s->reg, v->stream);
	if (!d) {
		fail_at(v, GB_EAUTH, offset,
			"offset %" PRIu64 ": producer %s is not registered in "
			"the policy in force (%s...)",
			offset, producer, short_hex(s->hash, hex));
		return NULL;
	}
	if (!ds || strcmp(ds->owner, producer) != 0) {
		fail_at(v, GB_EPERM, offset,
			"offset %" PRIu64 ": %s does not own %s in the policy "
			"in force (%s...), so could not publish it",
			offset, producer, v->stream, short_hex(s->hash, hex));
		return NULL;
	}
	return d->sign_pk;
}

/* ------------------------------------------------------------ checkpoints */

int gb_verifier_add_checkpoint(gb_verifier *v, const uint8_t *bytes,
			       size_t len)
{
	gb_checkpoint cp;
	char why[256], key[GB_SIGN_PK_TEXT];
	int rc;

	if (v->status)
		return v->status;
	/* First without the key, to name the checkpoint in any complaint. */
	rc = gb_checkpoint_verify(bytes, len, NULL, &cp, why, sizeof why);
	if (rc != 0)
		return gb_verifier_fail(v, rc, false, 0,
					"a checkpoint of %s is malformed: %s",
					v->stream, why);
	if (strcmp(cp.dataset, v->stream) != 0)
		return fail_at(v, GB_ECORRUPT, cp.next_offset,
			       "checkpoint at offset %" PRIu64 " is of stream "
			       "%s, not %s",
			       cp.next_offset, cp.dataset, v->stream);
	rc = gb_checkpoint_verify(bytes, len, v->broker_pk, &cp, why, sizeof why);
	if (rc != 0) {
		gb_key_encode_sign(v->broker_pk, key);
		return fail_at(v, rc, cp.next_offset,
			       "checkpoint of %s at offset %" PRIu64 ": the "
			       "signature does not verify under the broker key "
			       "%s",
			       v->stream, cp.next_offset, key);
	}
	if (grow((void **)&v->cps, &v->cp_cap, v->cp_count, sizeof *v->cps))
		return gb_verifier_fail(v, GB_ENOMEM, false, 0, "out of memory");
	v->cps[v->cp_count++] = cp;
	v->cps_sorted = false;
	v->stats.checkpoints++;
	return 0;
}

static int cp_cmp(const void *a, const void *b)
{
	const gb_checkpoint *x = a, *y = b;

	return x->next_offset < y->next_offset ? -1
	       : x->next_offset > y->next_offset;
}

/* Compare every checkpoint at or below the verified end with the chain.
 * One that falls inside a batch cannot have been taken by this log. */
static int settle_checkpoints(gb_verifier *v)
{
	if (!v->cps_sorted && v->cp_count > v->cp_next)
		qsort(v->cps + v->cp_next, v->cp_count - v->cp_next,
		      sizeof *v->cps, cp_cmp);
	v->cps_sorted = true;
	for (; v->cp_next < v->cp_count &&
	       v->cps[v->cp_next].next_offset <= v->next_offset;
	     v->cp_next++) {
		const gb_checkpoint *cp = &v->cps[v->cp_next];

		if (cp->next_offset < v->next_offset)
			return fail_at(v, GB_ECORRUPT, cp->next_offset,
				       "offset %" PRIu64 ": the broker signed a "
				       "checkpoint here, but in this log the "
				       "offset falls inside a batch (entries "
				       "were replaced)",
				       cp->next_offset);
		if (cp->batch_count != v->stats.batches)
			return fail_at(v, GB_ECORRUPT, cp->next_offset,
				       "offset %" PRIu64 ": the chain does not "
				       "match the checkpoint the broker signed "
				       "there: it covers %" PRIu64 " batches, the "
				       "log holds %" PRIu64 " (entries were removed "
				       "or merged)",
				       cp->next_offset, cp->batch_count,
				       v->stats.batches);
		if (sodium_memcmp(cp->chain_hash, v->head, GB_HASH_BYTES) != 0)
			return fail_at(v, GB_ECORRUPT, cp->next_offset,
				       "offset %" PRIu64 ": the chain does not "
				       "match the checkpoint the broker signed "
				       "there: its hash differs from the one "
				       "recomputed from offset 0, so an entry "
				       "before it was altered or reordered",
				       cp->next_offset);
		v->stats.checkpoints_matched++;
	}
	return 0;
}

/* ------------------------------------------------------------ entries */

static int check_seq(gb_verifier *v, const char *producer, uint64_t seq,
		     uint64_t offset)
{
	struct producer_seq *p = NULL;

	for (size_t i = 0; i < v->seq_count; i++)
		if (!strcmp(v->seqs[i].dept, producer))
			p = &v->seqs[i];
	if (!p) {
		if (grow((void **)&v->seqs, &v->seq_cap, v->seq_count,
			 sizeof *v->seqs))
			return gb_verifier_fail(v, GB_ENOMEM, false, 0,
						"out of memory");
		p = &v->seqs[v->seq_count++];
		snprintf(p->dept, sizeof p->dept, "%s", producer);
		p->last = 0;
	}
	if (seq != p->last + 1)
		return fail_at(v, GB_ECORRUPT, offset,
			       "offset %" PRIu64 ": batch %" PRIu64 " of %s "
			       "follows its batch %" PRIu64 " (the broker stores "
			       "each producer's batches in sequence: one was "
			       "removed or reordered)",
			       offset, seq, producer, p->last);
	p->last = seq;
	return 0;
}

/* A data batch: envelope, dataset, count, producer key and signature. */
static int check_batch(gb_verifier *v, const gb_verifier_entry *e)
{
	const Govbus__V1__BatchHeader *h;
	const uint8_t *pk;
	gb_envelope *env = NULL;
	char why[256];
	int rc;

	rc = gb_envelope_parse(e->batch, e->batch_len, &env, why, sizeof why);
	if (rc != 0)
		return fail_at(v, rc, e->offset,
			       "offset %" PRIu64 ": the stored batch does not "
			       "parse (%s)",
			       e->offset, why);
	h = gb_envelope_header(env);
	if (strcmp(h->dataset, v->stream) != 0) {
		rc = fail_at(v, GB_ECORRUPT, e->offset,
			     "offset %" PRIu64 ": the batch was published to "
			     "%s, not %s",
			     e->offset, h->dataset, v->stream);
		goto out;
	}
	if (h->record_count != e->record_count) {
		rc = fail_at(v, GB_ECORRUPT, e->offset,
			     "offset %" PRIu64 ": the batch holds %u records "
			     "but the log says %u",
			     e->offset, h->record_count, e->record_count);
		goto out;
	}
	pk = producer_key(v, h->producer, e->broker_time_ns, e->offset);
	if (!pk) {
		rc = v->status;
		goto out;
	}
	if (gb_envelope_verify(env, pk) != 0) {
		rc = fail_at(v, GB_ESIG, e->offset,
			     "offset %" PRIu64 ": the batch signature does not "
			     "verify under %s's registered key (the batch was "
			     "altered)",
			     e->offset, h->producer);
		goto out;
	}
	rc = check_seq(v, h->producer, h->producer_seq, e->offset);
out:
	gb_envelope_destroy(&env);
	return rc;
}

/* An audit-trail entry: one AuditEvent. */
static int check_event(gb_verifier *v, const gb_verifier_entry *e)
{
	Govbus__V1__AuditEvent *ev;

	if (e->record_count != 1)
		return fail_at(v, GB_ECORRUPT, e->offset,
			       "offset %" PRIu64 ": an audit entry holds one "
			       "event, the log says %u",
			       e->offset, e->record_count);
	ev = govbus__v1__audit_event__unpack(NULL, e->batch_len, e->batch);
	if (!ev)
		return fail_at(v, GB_EDECODE, e->offset,
			       "offset %" PRIu64 ": the entry is not an "
			       "AuditEvent",
			       e->offset);
	govbus__v1__audit_event__free_unpacked(ev, NULL);
	return 0;
}

int gb_verifier_add_entry(gb_verifier *v, const gb_verifier_entry *e)
{
	uint8_t h[GB_HASH_BYTES];
	int rc;

	if (v->status)
		return v->status;
	if (v->stats.batches == 0 && (rc = settle_checkpoints(v)) != 0)
		return rc;
	if (e->offset > v->next_offset)
		return fail_at(v, GB_ECORRUPT, v->next_offset,
			       "offset %" PRIu64 ": missing — the log holds "
			       "nothing from %" PRIu64 " to %" PRIu64
			       " (entries were removed)",
			       v->next_offset, v->next_offset, e->offset - 1);
	if (e->offset < v->next_offset)
		return fail_at(v, GB_ECORRUPT, e->offset,
			       "offset %" PRIu64 ": an entry starts inside the "
			       "previous batch, which ends at %" PRIu64,
			       e->offset, v->next_offset);
	if (e->base_offset != e->offset)
		return fail_at(v, GB_ECORRUPT, e->offset,
			       "offset %" PRIu64 ": the entry holds the batch "
			       "stored for offset %" PRIu64 " (entries were "
			       "swapped or moved)",
			       e->offset, e->base_offset);
	if (e->record_count == 0 ||
	    e->base_offset > UINT64_MAX - e->record_count ||
	    e->chain_hash_len != GB_HASH_BYTES || e->batch_len == 0)
		return fail_at(v, GB_ECORRUPT, e->offset,
			       "offset %" PRIu64 ": the entry is malformed "
			       "(record count, chain hash or batch missing)",
			       e->offset);
	if (v->stats.batches > 0 && e->broker_time_ns <= v->last_time_ns)
		return fail_at(v, GB_ECORRUPT, e->offset,
			       "offset %" PRIu64 ": broker time %" PRIu64
			       " is not after the previous batch's (%" PRIu64 ")",
			       e->offset, e->broker_time_ns, v->last_time_ns);
	rc = v->trail ? check_event(v, e) : check_batch(v, e);
	if (rc != 0)
		return rc;
	gb_chain_next(v->head, e->offset, e->broker_time_ns, e->batch,
		      e->batch_len, h);
	if (sodium_memcmp(h, e->chain_hash, GB_HASH_BYTES) != 0)
		return fail_at(v, GB_ECORRUPT, e->offset,
			       "offset %" PRIu64 ": the stored chain hash is "
			       "not the hash of this entry and those before it "
			       "(the entry, its time or its offset was altered)",
			       e->offset);
	memcpy(v->head, h, GB_HASH_BYTES);
	v->next_offset = e->offset + e->record_count;
	v->last_time_ns = e->broker_time_ns;
	v->stats.batches++;
	v->stats.records += e->record_count;
	v->stats.bytes += e->batch_len;
	v->stats.next_offset = v->next_offset;
	return settle_checkpoints(v);
}

int gb_verifier_finish(gb_verifier *v, const gb_verifier_head *head)
{
	int rc;

	if (v->status)
		return v->status;
	rc = settle_checkpoints(v);
	if (rc != 0)
		return rc;
	if (v->cp_next < v->cp_count) {
		const gb_checkpoint *cp = &v->cps[v->cp_count - 1];

		return fail_at(v, GB_ECORRUPT, v->next_offset,
			       "offset %" PRIu64 ": the log ends here, but the "
			       "broker signed a checkpoint at offset %" PRIu64
			       " (%" PRIu64 " batches): entries from %" PRIu64
			       " on were removed",
			       v->next_offset, cp->next_offset, cp->batch_count,
			       v->next_offset);
	}
	/* A head without a hash (an online replay) gives only its offset. */
	if (head && (head->next_offset != v->next_offset ||
		     (head->chain_hash_len &&
		      (head->batch_count != v->stats.batches ||
		       head->chain_hash_len != GB_HASH_BYTES ||
		       sodium_memcmp(head->chain_hash, v->head,
				     GB_HASH_BYTES) != 0))))
		return fail_at(v, GB_ECORRUPT, v->next_offset,
			       "offset %" PRIu64 ": the log ends here but its "
			       "recorded head says %" PRIu64 " (%" PRIu64
			       " batches) with another chain hash",
			       v->next_offset, head->next_offset,
			       head->batch_count);
	return 0;
}

/* ------------------------------------------------------------ results */

const char *gb_verifier_problem(const gb_verifier *v, bool *has_offset,
				uint64_t *offset)
{
	if (has_offset)
		*has_offset = v->status && v->has_offset;
	if (offset)
		*offset = v->offset;
	return v->status ? v->problem : "";
}

int gb_verifier_status(const gb_verifier *v)
{
	return v->status;
}

void gb_verifier_stats_get(const gb_verifier *v, gb_verifier_stats *out)
{
	*out = v->stats;
	out->next_offset = v->next_offset;
}
