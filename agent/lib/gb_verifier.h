/* govbus log verifier: checks one stream of a broker's log without trusting
 * the broker (DESIGN §7 "Audit").
 *
 * The caller feeds it, in this order: the policy snapshots (config bytes
 * and the times each was put in force) or, lacking them, fixed producer
 * keys; the broker's signed checkpoints; the entries from offset 0 in
 * offset order; and finally the stream head if one is known. It checks
 *
 *   - every checkpoint's signature under the broker key, and its stream;
 *   - offsets dense from 0: each entry where the previous one ended, and
 *     holding the batch of its own offset;
 *   - broker times strictly rising;
 *   - the hash chain recomputed from 0 (gb_chain.h) against each stored
 *     chain hash and each checkpoint at its offset, and checkpoints that
 *     lie beyond the end of the log (removed entries);
 *   - data batches: the envelope parses, names this dataset and the stored
 *     record count, is signed by the producer's key in the policy in force
 *     at the batch's broker time (the last load at or before it), that
 *     producer owns the dataset in that policy, and producer_seq rises by
 *     exactly one per producer (the broker stores no other);
 *   - audit-trail entries (stream "_audit"): each is one AuditEvent.
 *
 * The first problem is kept, with the offset it concerns, and every later
 * call returns the same error, so the report names where the log first
 * stops being what the broker signed. Everything fed in is untrusted. */
#ifndef GB_VERIFIER_H
#define GB_VERIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gb_verifier gb_verifier;

/* One stored entry, as the log holds it. */
typedef struct gb_verifier_entry {
	uint64_t offset;            /* from the log key (or the delivery) */
	uint64_t base_offset;       /* from the stored value */
	uint64_t broker_time_ns;
	uint32_t record_count;
	const uint8_t *chain_hash;  /* stored chain hash */
	size_t chain_hash_len;
	const uint8_t *batch;       /* SignedBatch, or AuditEvent for "_audit" */
	size_t batch_len;
} gb_verifier_entry;

/* The stream head a data dir records (streams db). With chain_hash_len 0
 * only next_offset is known and checked. */
typedef struct gb_verifier_head {
	uint64_t next_offset;
	uint64_t batch_count;
	const uint8_t *chain_hash;
	size_t chain_hash_len;
} gb_verifier_head;

typedef struct gb_verifier_stats {
	uint64_t batches;
	uint64_t records;
	uint64_t bytes;             /* of stored batches */
	uint64_t checkpoints;       /* signatures verified */
	uint64_t checkpoints_matched; /* compared with the recomputed chain */
	uint64_t policies;
	uint64_t before_first_policy; /* batches older than every snapshot */
	uint64_t next_offset;       /* where the verified log ends */
} gb_verifier_stats;

/* Verify stream `stream` (a dataset id or "_audit"); checkpoints must be
 * signed by `broker_pk` (32 bytes, copied). GB_EINVAL, GB_ENOMEM. */
int gb_verifier_new(const char *stream, const uint8_t *broker_pk,
		    gb_verifier **out);

/* Free; accepts NULL and sets *v to NULL. */
void gb_verifier_destroy(gb_verifier **v);

/* A policy snapshot: `config` must hash (BLAKE2b-256) to `hash` and load
 * as a govbus config; it was in force from each of `loaded_ns` on. */
int gb_verifier_add_policy(gb_verifier *v, const uint8_t *hash,
			   size_t hash_len, const uint64_t *loaded_ns,
			   size_t load_count, const uint8_t *config,
			   size_t config_len);

/* Without snapshots: `dept` signed with `sign_pk` (32 bytes) throughout. */
int gb_verifier_add_key(gb_verifier *v, const char *dept,
			const uint8_t *sign_pk);

/* A serialized SignedCheckpoint; its signature is checked at once. */
int gb_verifier_add_checkpoint(gb_verifier *v, const uint8_t *bytes,
			       size_t len);

/* The next entry in offset order. */
int gb_verifier_add_entry(gb_verifier *v, const gb_verifier_entry *e);

/* No more entries: checkpoints beyond the end are removed entries; `head`
 * (may be NULL) must describe exactly the end of the log. */
int gb_verifier_finish(gb_verifier *v, const gb_verifier_head *head);

/* Record a problem found outside the verifier (the broker refused to read
 * on, an archive is cut short) with the offset it concerns; `rc` is
 * returned. The first problem wins. */
int gb_verifier_fail(gb_verifier *v, int rc, bool has_offset,
		     uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The first problem ("" when none); *has_offset says whether *offset
 * names where it is. */
const char *gb_verifier_problem(const gb_verifier *v, bool *has_offset,
				uint64_t *offset);

/* 0, or the error of the first problem. */
int gb_verifier_status(const gb_verifier *v);

void gb_verifier_stats_get(const gb_verifier *v, gb_verifier_stats *out);

#endif
