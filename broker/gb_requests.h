/* govbus broker: the catalog and access requests (DESIGN §6).
 *
 * A department sees the catalog (CatalogRequest -> Catalog, gb_catalog.h)
 * and asks for access to a conditional dataset with a purpose and a legal
 * basis (AccessRequest -> AccessRequestAck). The request is stored, through
 * the writer thread, in the data dir's "requests" db under an id dense
 * from 1, as `pending`. Admins answer in the config: a grant of the pair
 * approves it, a refusal (`refusals:`) refuses it; on every config the
 * broker puts in force (at start and on each reload) pending requests with
 * a matching grant become `approved` (reason: the grant's approved_by) and
 * those with a matching refusal `refused` (reason: the refusal's reason).
 * A department lists its own requests with AccessRequestQuery; admins list
 * all of them from the data dir (`govbus-broker requests`).
 *
 * Refused requests (a dataset that is open, closed, unknown or the
 * asker's own; a live grant; a standing refusal) get an Error with one
 * sentence and are recorded in the audit trail as denials. A second
 * request of a pair that is still pending returns the first one.
 *
 * Like gb_audit, the module does not know the broker's sockets or pending
 * items: it gets a gb_requests_io with a callback that queues a job's write
 * to the writer thread and one that sends a frame; after the commit the
 * broker passes the job back to gb_requests_job_done().
 *
 * Threads: everything runs on the broker's I/O thread, except
 * gb_requests_list, which only reads the store. */
#ifndef GB_REQUESTS_H
#define GB_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_audit.h"
#include "gb_codec.h"
#include "gb_config.h"
#include "gb_store.h"

typedef struct gb_requests gb_requests;
typedef struct gb_requests_job gb_requests_job;

typedef struct gb_requests_io {
	/* Queue `job` for the writer. Takes ownership: on failure the callee
	 * frees it (gb_requests_job_free) and returns a GB_E... code. */
	int (*submit)(void *ctx, gb_requests_job *job);
	/* Send one frame to `peer`; 0 or a GB_E... code. */
	int (*send)(void *ctx, const uint8_t *peer, size_t peer_len,
		    const gb_server_frame *frame);
	/* Send `peer` an Error answering `request_id`: the status of `err`
	 * and the sentence `text`. */
	void (*fail)(void *ctx, const uint8_t *peer, size_t peer_len, int err,
		     uint64_t request_id, const char *text);
	/* Log one line (what was recorded, refused or decided). */
	void (*log)(void *ctx, const char *line);
	void *ctx;
} gb_requests_io;

/* Start. `store` and `audit` (may be NULL) are borrowed and must outlive
 * the module. Returns 0, GB_EINVAL or GB_ENOMEM. */
int gb_requests_new(gb_store *store, gb_audit *audit, const gb_requests_io *io,
		    gb_requests **out);

/* Free; accepts NULL and sets *r to NULL. Queued jobs stay valid. */
void gb_requests_destroy(gb_requests **r);

/* The broker put `reg` in force (at start or by a reload): remember it
 * (it must stay valid until the next call) and queue the decision of
 * every pending request it answers. Call before freeing the previous
 * snapshot. */
void gb_requests_policy_loaded(gb_requests *r, const gb_registry *reg,
			       uint64_t now_ns);

/* Answer a CatalogRequest, AccessRequest or AccessRequestQuery from
 * `dept` under the policy last given to gb_requests_policy_loaded. */
void gb_requests_handle(gb_requests *r, const uint8_t *peer, size_t peer_len,
			const char *dept, uint64_t now_ns,
			const gb_client_frame *frame);

/* ------------------------------------------------------------ jobs */

/* The write the job commits (GB_WRITE_REQUEST). */
const gb_write *gb_requests_job_write(const gb_requests_job *job);

/* After the commit: acknowledge a new request, or report a failure. Frees
 * the job. */
void gb_requests_job_done(gb_requests *r, gb_requests_job *job,
			  const gb_write *result);

/* Free a job without running it; accepts NULL, sets *job to NULL. */
void gb_requests_job_free(gb_requests_job **job);

/* ------------------------------------------------------------ pure parts */

/* Whether `dept` may ask for `dataset` at `now_ns` under `reg`: 0, or
 * GB_ENOTFOUND (unknown dataset), GB_EINVAL (open: nothing to ask for),
 * GB_ECONFLICT (closed, its own, a live grant, a standing refusal) with a
 * sentence in `why`. */
int gb_requests_check(const gb_registry *reg, const char *dept,
		      const char *dataset, int64_t now_ns, char *why,
		      size_t why_len);

/* The decision `reg` holds at `now_ns` for a pending request of `dept` on
 * `dataset`: "approved" with the grant's approved_by as *reason when a
 * grant that has not expired exists, "refused" with the refusal's reason,
 * or NULL when neither does. */
const char *gb_requests_decide(const gb_registry *reg, const char *dept,
			       const char *dataset, int64_t now_ns,
			       const char **reason);

/* ------------------------------------------------------------ reading */

/* Called with each stored request (valid during the call only); return 0
 * to go on, 1 to stop, negative to abort with that error. */
typedef int (*gb_requests_fn)(void *ctx,
			      const Govbus__V1__AccessRequestInfo *info);

/* Visit the requests stored in `store`, in id order: every one, or only
 * those of `dept` (non-NULL). Each is decoded and checked
 * (gb_codec_check_request_info) and its id taken from its key; a value
 * that fails is GB_ECORRUPT. Returns the number visited or an error. */
int gb_requests_list(gb_store *store, const char *dept, gb_requests_fn fn,
		     void *ctx);

#endif
