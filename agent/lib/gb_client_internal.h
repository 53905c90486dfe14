/* The client's internals, for the library's modules built on it
 * (publisher, subscription, dataset keys) and the agent's own commands.
 * Not installed, not part of govbus.h.
 *
 * The client owns the connection (gb_conn.h), the table of pending
 * requests (gb_request_table.h) and the dispatch loop. It knows nothing of
 * publishers or subscriptions: whatever owns frames of its own — by the
 * request ids it sends, or by a subscription id — registers a handler, and
 * the client hands it those frames, tells it when the connection was
 * rebuilt, asks it when it next has something due, and closes it when the
 * client closes. */
#ifndef GB_CLIENT_INTERNAL_H
#define GB_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "gb_agent_internal.h"
#include "gb_codec.h"
#include "gb_keyring.h"
#include "gb_keys.h"
#include "gb_request_table.h"
#include "govbus.h"

/* ---------------------------------------------------------------- client */

/* Record the failure `rc` with status `status` (0: gb_error_status(rc)) and
 * a sentence; returns rc. */
int gb_client_fail(gb_client *c, int rc, unsigned status, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

/* Encode and send one frame. A send that cannot complete schedules a
 * reconnect (the frame is then covered by the resend/resubscribe logic)
 * and still returns 0; errors are only local (GB_ENOMEM). */
int gb_client_send_frame(gb_client *c, const gb_client_frame *frame);
/* Send an already encoded ClientFrame; returns 0 (see above). */
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

/* Next id for a request (Publish, KeyFetch, RegistryRequest...) / a
 * subscription on this client; ids are never reused on a client. */
uint64_t gb_client_next_request_id(gb_client *c);
uint64_t gb_client_next_subscription_id(gb_client *c);

const gb_identity *gb_client_identity(const gb_client *c);
const gb_agent_config *gb_client_config(const gb_client *c);
unsigned gb_client_timeout_ms(const gb_client *c);
uint32_t gb_client_max_frame(const gb_client *c);
void gb_client_emit(gb_client *c, const gb_event *ev);
/* The sticky client-level error (0 if none). */
int gb_client_error(const gb_client *c);

/* Producer positions: the last seq of `dataset` known to this client
 * (Welcome at first connect, then what publishers have used). */
uint64_t gb_client_position(const gb_client *c, const char *dataset);
int gb_client_set_position(gb_client *c, const char *dataset, uint64_t seq);

/* Take (and clear) the note that the broker pushed key work for `dataset`
 * (NULL: any dataset, whose name is copied to `out`). */
bool gb_client_take_key_push(gb_client *c, const char *dataset, char *out,
			     size_t out_len);

/* The dataset keys this client holds (gb_keyring.h). */
gb_keyring *gb_client_keyring(gb_client *c);

/* ---------------------------------------------------------------- handlers */

typedef struct gb_client_handler gb_client_handler;

/* What a handler does; every function gets the handler's `self`. */
typedef struct gb_client_handler_ops {
	/* Whether an answer to request `request_id` is this handler's. NULL
	 * for a handler that sends no requests of its own. */
	bool (*owns_request)(void *self, uint64_t request_id);
	/* A frame for this handler: one whose request_id it owns, or whose
	 * subscription_id is the handler's. Takes ownership of `frame` (free
	 * it with gb_codec_server_free when done). Required. */
	void (*on_frame)(void *self, gb_server_frame *frame);
	/* The connection was rebuilt and Hello answered (`restarted`: by a
	 * new broker instance): send again what the new session must see.
	 * May be NULL. */
	void (*on_reconnect)(void *self, bool restarted);
	/* Do what is due at `now_ms` (monotonic) and return when something
	 * is next due, INT64_MAX for nothing. May be NULL. */
	int64_t (*tick)(void *self, int64_t now_ms);
	/* The client is closing with the handler still registered: close
	 * it (which unregisters it). NULL: the client only unregisters it. */
	void (*close)(void *self);
} gb_client_handler_ops;

/* Kept inside whatever registers it (no allocation); the fields are set
 * before gb_client_handler_add and `next` is the client's. */
struct gb_client_handler {
	const gb_client_handler_ops *ops;
	void *self;
	/* Frames naming this subscription id are this handler's (0: none).
	 * May change while registered. */
	uint64_t subscription_id;
	gb_client_handler *next;
};

/* Register `h`. Frames go to the handler that owns their request_id (after
 * the client's own request table), or else to the one whose
 * subscription_id they name; after a reconnect, and at close, handlers are
 * called newest first. */
void gb_client_handler_add(gb_client *c, gb_client_handler *h);

/* Unregister `h` (nothing happens when it is not registered). Safe from
 * inside the handler's own callbacks. */
void gb_client_handler_remove(gb_client *c, gb_client_handler *h);

/* The registered handlers, newest first: the first with `h` NULL, then
 * the one after `h`; NULL at the end. */
gb_client_handler *gb_client_handler_next(gb_client *c, gb_client_handler *h);

/* ---------------------------------------------------------------- requests
 * (gb_client_request.c) KeyFetch and KeyUpload frames are answered by
 * request_id with a KeyInfo, a KeyUploadAck or an Error; so are
 * CatalogRequest, AccessRequest and AccessRequestQuery, with a Catalog,
 * AccessRequestAck or AccessRequestList. The client keeps each encoded
 * request until its answer arrives and re-sends it after every reconnect
 * (every one of them is safe to repeat). */

/* The client's table of pending requests (the client owns it and hands it
 * the answers; the functions below fill it). */
gb_request_table *gb_client_request_table(gb_client *c);

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

#endif
