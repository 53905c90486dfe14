/* govbus broker audit: the audit trail, signed checkpoints and policy
 * snapshots (DESIGN §7 "Audit").
 *
 * The broker calls one function per event worth recording (a denial, a
 * subscription start, a connect, stored key wraps, a policy load or a
 * refused reload). Each becomes an AuditEvent appended, through the writer
 * thread, to the hash-chained stream GB_AUDIT_STREAM ("_audit") in the same
 * LMDB environment. Every stream with new batches gets a checkpoint signed
 * with the broker's Ed25519 key every `checkpoint_batches` batches or
 * `checkpoint_seconds` seconds, on request, and when the broker stops.
 * Each loaded config is stored with its hash and load time.
 *
 * The module does not know the broker's sockets or its pending items: the
 * broker hands it a gb_audit_io with two callbacks, one that queues a job's
 * write to the writer thread and one that sends a frame to a peer; after
 * the commit the broker passes the job back to gb_audit_job_done().
 *
 * Threads: everything here runs on the broker's I/O thread. */
#ifndef GB_AUDIT_H
#define GB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_codec.h"
#include "gb_config.h"
#include "gb_keys.h"
#include "gb_store.h"

typedef struct gb_audit gb_audit;

/* One write on its way through the writer thread, with the bytes it stores
 * and, for a requested checkpoint, who is waiting for it. */
typedef struct gb_audit_job gb_audit_job;

typedef struct gb_audit_io {
	/* Queue `job` for the writer. Takes ownership: on failure the callee
	 * frees it (gb_audit_job_free) and returns a GB_E... code. */
	int (*submit)(void *ctx, gb_audit_job *job);
	/* Send one frame to `peer`; 0 or a GB_E... code. */
	int (*send)(void *ctx, const uint8_t *peer, size_t peer_len,
		    const gb_server_frame *frame);
	void *ctx;
} gb_audit_io;

/* Start auditing. `store` and `id` (the broker identity, whose sign key
 * signs checkpoints) are borrowed and must outlive the module; `settings`
 * give the checkpoint intervals. Returns 0, GB_EINVAL or GB_ENOMEM. */
int gb_audit_new(gb_store *store, const gb_identity *id,
		 const gb_broker_settings *settings, const gb_audit_io *io,
		 gb_audit **out);

/* Free; accepts NULL and sets *a to NULL. Jobs still queued stay valid:
 * they do not point back at the module. */
void gb_audit_destroy(gb_audit **a);

/* ------------------------------------------------------------ jobs */

/* The write the job commits; the broker's writer thread fills in the
 * results of its copy, which it hands back to gb_audit_job_done(). */
const gb_write *gb_audit_job_write(const gb_audit_job *job);

/* After the commit: answer a checkpoint request, count an appended audit
 * event towards the next checkpoint, report a failure. Frees the job. */
void gb_audit_job_done(gb_audit *a, gb_audit_job *job, const gb_write *result);

/* Free a job without running it; accepts NULL, sets *job to NULL. */
void gb_audit_job_free(gb_audit_job **job);

/* ------------------------------------------------------------ events
 *
 * Each records one AuditEvent under the policy in force (the last one
 * given to gb_audit_policy_loaded). Strings are copied; NULL is "". A
 * failure to record is logged by the broker's writer, never fatal. */

/* A refused request: `action` is what was asked (publish, subscribe,
 * replay, read-content, key-upload, checkpoint, connect...), `err` the
 * GB_E... code sent back and `reason` the rule that refused. */
void gb_audit_denied(gb_audit *a, const char *dept, const char *dataset,
		     const char *action, int err, const char *reason);

/* The broker ended a live subscription (grant revoked or expired). */
void gb_audit_ended(gb_audit *a, const char *dept, const char *dataset,
		    int err, const char *reason);

/* A subscription started at `start`; a replay when start < head. */
void gb_audit_subscribed(gb_audit *a, const char *dept, const char *dataset,
			 uint64_t start, uint64_t head, const char *durable);

/* An access request was recorded (`decision` NULL) or decided
 * (`decision` "approved" or "refused", `detail` the approver or reason). */
void gb_audit_access_request(gb_audit *a, const char *dept, const char *dataset,
		     uint64_t request_id, const char *decision,
		     const char *detail);

/* A department said Hello. */
void gb_audit_connected(gb_audit *a, const char *dept);

/* A CURVE key that is not registered failed the ZAP handshake. */
void gb_audit_key_refused(gb_audit *a, const char *key_text);

/* `count` key wraps of `dataset` epoch `epoch` were stored for its owner. */
void gb_audit_wraps_stored(gb_audit *a, const char *dept, const char *dataset,
			   uint32_t epoch, uint32_t count, bool new_epoch);

/* A config was put in force (at start, or by a reload): store its bytes,
 * hash and load time and record the load. `reg` is borrowed for the call. */
void gb_audit_policy_loaded(gb_audit *a, const gb_registry *reg,
			    const char *path);

/* A reload was refused; `error_text` is the loader's message. */
void gb_audit_policy_rejected(gb_audit *a, const char *error_text);

/* ------------------------------------------------------------ checkpoints */

/* A batch of `dataset` was committed (from the publish ack path). */
void gb_audit_appended(gb_audit *a, const char *dataset);

/* Checkpoint every stream whose last checkpoint is older than
 * checkpoint_seconds and which has new batches. Call about once a second. */
void gb_audit_tick(gb_audit *a, uint64_t now_ns);

/* Checkpoint every stream with batches not yet covered (at stop). */
void gb_audit_flush(gb_audit *a);

/* ------------------------------------------------------------ requests */

/* Answer a CheckpointRequest, CheckpointListRequest or RegistryRequest
 * from `dept` under the policy `reg` in force. */
void gb_audit_handle(gb_audit *a, const gb_registry *reg,
		     const uint8_t *peer, size_t peer_len, const char *dept,
		     uint64_t now_ns, const gb_client_frame *frame);

/* For a subscription to the audit trail: the "owner" SubscribeOk names,
 * the broker itself ("_broker", with its sign key). NULL for any other
 * stream. */
const gb_department *gb_audit_trail_owner(const gb_audit *a,
					  const char *stream);

#endif
