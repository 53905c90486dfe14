/* Internals shared by the agent library's modules (config, client,
 * publisher, subscription). Not installed, not part of govbus.h.
 *
 * The client owns the socket and the dispatch loop; publishers and
 * subscriptions register with it and are called back for the frames that
 * concern them, and when the connection is rebuilt. */
#ifndef GB_AGENT_INTERNAL_H
#define GB_AGENT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "gb_codec.h"
#include "gb_keyring.h"
#include "gb_keys.h"
#include "govbus.h"

#define GB_AGENT_DEFAULT_TIMEOUT_MS 3000u
#define GB_AGENT_ERROR_MAX (GB_MAX_MESSAGE_LEN + 512)

/* ---------------------------------------------------------------- config */

typedef struct gb_agent_peer {
	char dept[GB_MAX_ID_LEN + 1];
	uint8_t sign_pk[GB_SIGN_PK_BYTES];
} gb_agent_peer;

/* schemas (issue 7B): `schemas: { DATASET: { type: T, descriptor_set: F } }`,
 * a dataset's schema known offline (and pinned: it is used instead of the
 * broker's catalog). The set's bytes are read and checked at load. */
typedef struct gb_agent_schema {
	char dataset[GB_MAX_ID_LEN + 1];
	char *type;                   /* full message type name */
	uint8_t *descriptor_set;      /* serialized FileDescriptorSet */
	size_t descriptor_set_len;
} gb_agent_schema;

struct gb_agent_config {
	char *path;
	char dept[GB_MAX_ID_LEN + 1];
	char *key_path;               /* resolved against the config's folder */
	char *endpoint;
	uint8_t broker_box_pk[GB_BOX_PK_BYTES];
	/* audit (issue 4): broker.sign_key, the broker's Ed25519 key that
	 * checkpoints must verify under, pinned by an auditor. */
	bool have_broker_sign_pk;
	uint8_t broker_sign_pk[GB_SIGN_PK_BYTES];
	unsigned timeout_ms;
	gb_agent_peer *peers;
	size_t peer_count;
	gb_agent_schema *schemas;     /* schemas (issue 7B) */
	size_t schema_count;
};

/* schemas (issue 7B): the `schemas:` entry of `dataset`, or NULL. */
const gb_agent_schema *gb_agent_config_schema(const gb_agent_config *cfg,
					      const char *dataset);

/* Deep copy, so a client does not depend on the caller's config. */
int gb_agent_config_copy(const gb_agent_config *src, gb_agent_config **out);

/* ---------------------------------------------------------------- time */

/* Monotonic milliseconds, for timers. */
int64_t gb_agent_now_ms(void);
/* Wall clock nanoseconds since the epoch, for produced_at_ns. */
uint64_t gb_agent_wall_ns(void);

/* ---------------------------------------------------------------- client */

/* Record the failure `rc` with status `status` (0: gb_error_status(rc)) and
 * a sentence; returns rc. */
int gb_client_fail(gb_client *c, int rc, unsigned status, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

/* Encode and send one frame. A send that cannot complete schedules a
 * reconnect (the frame is then covered by the resend/resubscribe logic)
 * and still returns 0; errors are only local (GB_ENOMEM). */
int gb_client_send_frame(gb_client *c, const gb_client_frame *frame);
/* Send an already encoded ClientFrame. */
int gb_client_send_raw(gb_client *c, const uint8_t *buf, size_t len);

/* Wait for frames until `deadline_ms` (monotonic; -1: none), dispatching
 * every frame that arrives, pinging when idle and reconnecting when needed.
 * Returns 0 once at least one frame was handled or some state changed,
 * GB_ETIMEOUT at the deadline, or a client-level error (connection refused
 * by the broker, reconnect given up, interrupted). */
int gb_client_wait(gb_client *c, int64_t deadline_ms);

/* Ping and wait (until `deadline_ms`) for the matching Pong: every frame
 * sent before has then been read by the broker. GB_EUNAVAIL when the
 * connection was rebuilt meanwhile. */
int gb_client_sync(gb_client *c, int64_t deadline_ms);

/* Next id for a Publish request / a subscription on this client. */
uint64_t gb_client_next_request_id(gb_client *c);
uint64_t gb_client_next_subscription_id(gb_client *c);

const gb_identity *gb_client_identity(const gb_client *c);
const gb_agent_config *gb_client_config(const gb_client *c);
unsigned gb_client_timeout_ms(const gb_client *c);
uint32_t gb_client_max_frame(const gb_client *c);
void gb_client_emit(gb_client *c, const gb_event *ev);
/* The sticky client-level error (0 if none). */
int gb_client_error(const gb_client *c);

/* audit (issue 4): a hook that sees every frame from the broker before the
 * dispatcher does, for requests the library itself does not make
 * (checkpoints, registry, raw replays). Returning true takes the frame: the
 * hook frees it (gb_codec_server_free). NULL removes the hook. */
typedef bool (*gb_client_frame_hook)(void *arg, gb_server_frame *frame);
void gb_client_set_frame_hook(gb_client *c, gb_client_frame_hook hook,
			      void *arg);

/* Producer positions: the last seq of `dataset` known to this client
 * (Welcome at first connect, then what publishers have used). */
uint64_t gb_client_position(const gb_client *c, const char *dataset);
int gb_client_set_position(gb_client *c, const char *dataset, uint64_t seq);

/* Registration of publishers and subscriptions with their client. */
void gb_client_add_publisher(gb_client *c, gb_publisher *p);
void gb_client_remove_publisher(gb_client *c, gb_publisher *p);
gb_publisher *gb_client_find_publisher(gb_client *c, const char *dataset);
void gb_client_add_subscription(gb_client *c, gb_subscription *s);
void gb_client_remove_subscription(gb_client *c, gb_subscription *s);

/* ---------------------------------------------------------------- key requests
 * KeyFetch and KeyUpload frames are answered by request_id with a KeyInfo,
 * a KeyUploadAck or an Error; so are (issue 7) CatalogRequest,
 * AccessRequest and AccessRequestQuery, with a Catalog, AccessRequestAck
 * or AccessRequestList. The client keeps each encoded request until
 * its answer arrives and re-sends it after every reconnect (every one of
 * them is safe to repeat). */

/* Give `frame` (one of the requests above) a fresh request_id, remember it
 * and send it. Returns 0 or GB_ENOMEM / GB_EINVAL. */
int gb_client_request_start(gb_client *c, gb_client_frame *frame,
			    uint64_t *request_id);
/* 1 with *answer (the caller frees it) once the request is answered, which
 * also forgets it; 0 while it is pending. */
int gb_client_request_take(gb_client *c, uint64_t request_id,
			   gb_server_frame **answer);
/* Forget a request; a late answer is then dropped. */
void gb_client_request_cancel(gb_client *c, uint64_t request_id);
/* Start a request and wait for its answer, handling every other frame
 * meanwhile. GB_ETIMEOUT when the broker stays alive but does not answer
 * for max(10 timeouts, 30 s); or a client-level error. */
int gb_client_request(gb_client *c, gb_client_frame *frame,
		      gb_server_frame **answer);
/* gb_client_request, then insist the answer's body is `want` (a
 * GOVBUS__V1__SERVER_FRAME__BODY_... case): a broker Error becomes its code
 * and sentence, anything else GB_EPROTO naming `what`. *answer is NULL on
 * failure. */
int gb_client_ask(gb_client *c, gb_client_frame *frame, int want,
		  const char *what, gb_server_frame **answer);

/* Take (and clear) the note that the broker pushed key work for `dataset`
 * (NULL: any dataset, whose name is copied to `out`). */
bool gb_client_take_key_push(gb_client *c, const char *dataset, char *out,
			     size_t out_len);

/* The dataset keys this client holds (gb_keyring.h). */
gb_keyring *gb_client_keyring(gb_client *c);

/* ---------------------------------------------------------------- dataset keys
 * (gb_dataset_keys.c) The two sides of DESIGN §5 over the requests above.
 * Both report through gb_client_fail and gb_client_emit. */

/* Ask for the key state of `dataset` and this department's own wrap of
 * `epoch` (0: the current one). *info (free with gb_codec_server_free) is
 * a ServerFrame holding a KeyInfo that names `dataset`. A broker refusal
 * comes back as its error (GB_EPERM, GB_ENOTFOUND...). */
int gb_dataset_keys_fetch(gb_client *c, const char *dataset, uint32_t epoch,
			  gb_server_frame **info);

/* Reader side: open the wrap carried by `ki` (a KeyInfo for `dataset`
 * whose signed_wrap is not empty) into the keyring as the key of `epoch`,
 * checking it was signed by `owner` under `owner_pk` and sealed to this
 * department. `commitment` (may be NULL) receives the wrap's commitment.
 * On failure `why` says what was wrong with the wrap. */
int gb_dataset_keys_adopt(gb_client *c, const Govbus__V1__KeyInfo *ki,
			  const char *dataset, uint32_t epoch,
			  const char *owner, const uint8_t *owner_pk,
			  uint8_t *commitment, char *why, size_t why_len);

/* Owner side: make sure `dataset` has a usable key epoch and this client
 * holds its key — open a new epoch when there is none, when the broker
 * asks for rotation, or when no own wrap of the current one exists — then
 * upload the wraps the broker reports missing (failures there are
 * reported as GB_EVENT_KEY_FAILED and do not fail the call).
 * @param current  receives the epoch publishes must use (may be NULL) */
int gb_dataset_keys_sync(gb_client *c, const char *dataset,
			 uint32_t *current);

/* ---------------------------------------------------------------- publisher
 * Called by the client's dispatcher. */

gb_publisher *gb_publisher_list_next(const gb_publisher *p);
void gb_publisher_set_list_next(gb_publisher *p, gb_publisher *next);
const char *gb_publisher_dataset(const gb_publisher *p);
/* True when the ack or error with `request_id` belongs to this publisher. */
bool gb_publisher_owns_request(const gb_publisher *p, uint64_t request_id);
void gb_publisher_on_ack(gb_publisher *p, const Govbus__V1__PublishAck *ack);
void gb_publisher_on_error(gb_publisher *p, const Govbus__V1__Error *err);
/* Resend every unacknowledged batch, in seq order. */
void gb_publisher_on_reconnect(gb_publisher *p, bool restarted);
/* Resend batches whose retry time has come; returns the next time (ms)
 * something is due, or INT64_MAX. */
int64_t gb_publisher_tick(gb_publisher *p, int64_t now_ms);

/* ---------------------------------------------------------------- subscription */

gb_subscription *gb_subscription_list_next(const gb_subscription *s);
void gb_subscription_set_list_next(gb_subscription *s, gb_subscription *next);
uint64_t gb_subscription_id(const gb_subscription *s);
void gb_subscription_on_ok(gb_subscription *s,
			   const Govbus__V1__SubscribeOk *ok);
/* Takes ownership of `frame` (a Deliver). */
void gb_subscription_on_deliver(gb_subscription *s, gb_server_frame *frame);
void gb_subscription_on_error(gb_subscription *s, const Govbus__V1__Error *err);
void gb_subscription_on_reconnect(gb_subscription *s, bool restarted);

#endif
