/* The connection govbus-agent's audit commands read through (DESIGN §7
 * "Audit"): a client with a handler of its own for the frames the library
 * never asks for — the answers to RegistryRequest, CheckpointRequest and
 * CheckpointListRequest, and a raw replay of a stream: Subscribe with
 * credit, each Deliver handed over as the broker sent it, neither checked
 * nor decrypted (gb_verifier judges it). One request and one replay at a
 * time. A rebuilt connection ends whatever is in progress: an audit is run
 * again rather than resumed. */
#ifndef GB_AUDIT_SESSION_H
#define GB_AUDIT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_codec.h"
#include "govbus.h"

typedef struct gb_audit_session gb_audit_session;

/* Connect with `cfg` (borrowed for the call). Returns 0, or the error of
 * gb_client_open() with its sentence in `why`. */
int gb_audit_session_open(const gb_agent_config *cfg, gb_audit_session **out,
			  char *why, size_t why_len);

/* Close the connection and free; accepts NULL and sets *s to NULL. */
void gb_audit_session_close(gb_audit_session **s);

/* The session's client, for its last error and status. */
gb_client *gb_audit_session_client(const gb_audit_session *s);

/* Send `f`, whose request_id is `id` (from gb_client_next_request_id),
 * and wait up to 30 s for its answer, which the caller frees. A broker
 * Error becomes the return code, its sentence the client's last error;
 * so does a rebuilt connection (GB_EUNAVAIL) or no answer (GB_ETIMEOUT). */
int gb_audit_session_request(gb_audit_session *s, const gb_client_frame *f,
			     uint64_t id, gb_server_frame **answer);

/* One page of the broker's registry: policy snapshots after the one whose
 * hash is `after` (NULL: from the first), departments and the broker's
 * sign key. */
int gb_audit_session_registry(gb_audit_session *s, const uint8_t *after,
			      gb_server_frame **page);

/* Called with each replayed Deliver; nonzero stops the replay and is
 * returned by gb_audit_session_replay. */
typedef int (*gb_audit_deliver_fn)(void *ctx, const Govbus__V1__Deliver *d);

typedef struct gb_audit_replay {
	bool subscribed;              /* the broker accepted the Subscribe */
	uint64_t start_offset;        /* where it started (SubscribeOk) */
	uint64_t head_offset;         /* the stream's end when it started */
	uint64_t stopped_at;          /* the next offset expected at the end */
} gb_audit_replay;

/* Replay `stream` from `start` up to its head at subscribe time, handing
 * each delivery to `fn`, and unsubscribe. A broker Error ending the
 * replay is returned with its sentence in the client's last error; *out
 * says how far it got. */
int gb_audit_session_replay(gb_audit_session *s, const char *stream,
			    gb_start start, gb_audit_deliver_fn fn, void *ctx,
			    gb_audit_replay *out);

#endif
