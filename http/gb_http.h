/* gb_http: the one HTTP server of govbus, over libmicrohttpd.
 *
 * The broker's metrics endpoint and the agent's HTTP/JSON gateway both
 * serve through this module, so listening, TLS, bearer tokens, body
 * limits, routing, JSON errors, parked (asynchronous) replies, Server-Sent
 * Events and static assets are done once, here.
 *
 * Threading. A server runs one libmicrohttpd polling thread (epoll) that
 * calls every handler, SSE callback and notification, plus one watcher
 * thread of this module that times out parked requests, sends SSE
 * heartbeats and notices clients that hang up while their connection is
 * suspended. Handlers must not block: a handler that waits for something
 * (a broker ack) parks its request and answers it later from any thread.
 * Callbacks are never called with a lock of this module held.
 *
 * Convention. Functions return 0 or a negative GB_E... code. The request
 * helpers that validate client input (gb_http_query_u64, gb_http_body_json,
 * gb_http_last_event_id) answer the request themselves with a 400 JSON
 * error when the input is bad and return GB_EINVAL / GB_EDECODE, so the
 * handler just returns.
 *
 * Errors on the wire are JSON objects {"code": "EPERM", "status": 403,
 * "message": "..."}: the status comes from gb_error_status() and the code
 * from gb_error_name() (proto/gb_error.h), the project's one mapping. */
#ifndef GB_HTTP_H
#define GB_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct gb_http_server gb_http_server;
typedef struct gb_http_request gb_http_request;
typedef struct gb_http_sse gb_http_sse;
typedef struct gb_http_token gb_http_token; /* gb_http_token.h */
typedef struct gb_metrics gb_metrics;       /* gb_metrics.h */

/* Defaults (a config field left 0 takes them) and hard limits. */
#define GB_HTTP_DEFAULT_BODY_LIMIT (1u << 20)    /* 1 MiB */
#define GB_HTTP_MAX_BODY_LIMIT (64u << 20)       /* 64 MiB */
#define GB_HTTP_DEFAULT_MAX_CONNECTIONS 128u
#define GB_HTTP_DEFAULT_IDLE_TIMEOUT_S 60u
#define GB_HTTP_DEFAULT_PARK_TIMEOUT_MS 30000u
#define GB_HTTP_MAX_PARK_TIMEOUT_MS 3600000u     /* one hour */
#define GB_HTTP_DEFAULT_SSE_HEARTBEAT_MS 15000u
#define GB_HTTP_DEFAULT_SSE_BUFFER (64u << 10)   /* bytes per stream */
#define GB_HTTP_MIN_SSE_BUFFER 256u
#define GB_HTTP_MAX_SSE_BUFFER (16u << 20)
#define GB_HTTP_STOP_GRACE_MS 2000u /* to finish requests when stopping */
#define GB_HTTP_MAX_PARAMS 8        /* {param} captures in one pattern */
#define GB_HTTP_MAX_QUERY 32        /* query parameters in one request */
#define GB_HTTP_MAX_REPLY_HEADERS 8 /* gb_http_add_header per reply */

/* A handler answers its request (gb_http_reply*, gb_http_sse_start) or
 * parks it (gb_http_park); one that does neither gets a 500 reply. The
 * request is valid until it is answered. Called on the server thread. */
typedef void (*gb_http_handler_fn)(void *cls, gb_http_request *req);

/* Route flags. */
#define GB_HTTP_ROUTE_OPEN 1u /* served without a bearer token */

/* One row of a server's route table.
 *
 * `pattern` is an absolute path of literal segments and {name} captures
 * ("/v1/datasets/{id}/records"); a last segment {name*} captures the rest
 * of the path, one or more segments joined by '/' ("/console/{file*}").
 * Names are [a-z][a-z0-9_]* (at most 32 characters, at most
 * GB_HTTP_MAX_PARAMS per pattern). Literals and captures are compared
 * with the request path after percent-decoding each segment. Routes are
 * tried in table order; the first whose method and pattern match wins. A
 * GET route also serves HEAD. */
typedef struct gb_http_route {
	const char *method;          /* "GET", "POST", ... */
	const char *pattern;
	gb_http_handler_fn handler;
	void *cls;                   /* handed to the handler */
	unsigned flags;              /* GB_HTTP_ROUTE_... */
} gb_http_route;

/* How a server listens and what it enforces; copied by gb_http_server_new
 * (the routes array and strings need not outlive the call). */
typedef struct gb_http_config {
	/* "unix:PATH", or a path with a '/' in it ("/run/govbus/agent.sock",
	 * "./agent.sock"): a Unix socket created with socket_mode; or
	 * "HOST:PORT" with a numeric IPv4 host or a bracketed IPv6 one
	 * ("127.0.0.1:7781", "[::1]:0"). Port 0 picks a free port
	 * (gb_http_server_port tells which). */
	const char *listen;
	unsigned socket_mode;        /* Unix socket: 0600 (0) or 0660 */
	/* A host outside 127.0.0.0/8 and ::1 is refused unless allow_public
	 * is set, and then only with TLS. */
	bool allow_public;
	const char *tls_cert_file;   /* PEM; both or neither */
	const char *tls_key_file;    /* PEM, mode 0600 like key files */
	/* Bearer token every route not marked GB_HTTP_ROUTE_OPEN requires;
	 * NULL: none. Only its hash is kept, the token may be destroyed. */
	const gb_http_token *token;
	const gb_http_route *routes;
	size_t n_routes;
	size_t body_limit;           /* bytes; larger bodies get 413 */
	unsigned max_connections;
	unsigned idle_timeout_s;     /* a connection with no traffic is closed */
	unsigned park_timeout_ms;    /* gb_http_park's timeout when given 0 */
	unsigned sse_heartbeat_ms;   /* comment line on an idle stream */
	size_t sse_buffer_bytes;     /* bound of each stream's buffer */
	/* Called on the server thread when a request is refused with 401
	 * (reason: "no bearer token", "not a bearer token", "wrong bearer
	 * token"), so the caller can write an audit line. */
	void (*auth_failed)(void *cls, const gb_http_request *req,
			    const char *reason);
	/* Called on the server thread when a request is over: `status` is the
	 * status sent (0 when the connection ended before a reply). For access
	 * logs and request metrics; the request's getters still work. */
	void (*completed)(void *cls, const gb_http_request *req,
			  unsigned status);
	/* One line per server-side problem (libmicrohttpd's messages, handlers
	 * that gave no reply); NULL: stderr. Any thread. */
	void (*log)(void *cls, const char *line);
	void *cls;                   /* handed to the three callbacks */
} gb_http_config;

/* ---------------------------------------------------------- the server */

/* Bind, then start serving in the background.
 * @return 0 with *out set; GB_EINVAL (listen string, route table or a
 *         limit is malformed), GB_EPERM (a non-loopback host without
 *         allow_public, or public without TLS), GB_EKEYFILE (certificate
 *         or key unreadable, or the key readable by group or others),
 *         GB_EIO (bind or listen failed: address in use, a live server on
 *         the socket path, a non-socket file there), GB_EUNAVAIL
 *         (libmicrohttpd built without TLS) or GB_ENOMEM; a sentence in
 *         `why` says which. Any thread; servers are independent. */
int gb_http_server_new(const gb_http_config *cfg, gb_http_server **out,
		       char *why, size_t why_len);

/* Stop: accept no more connections, answer new requests and parked ones
 * 503, end SSE streams cleanly (their closed callback gets GB_EUNAVAIL),
 * give requests in flight up to GB_HTTP_STOP_GRACE_MS to be sent, then
 * close every connection, stop the threads and remove the Unix socket
 * file. Callbacks run on the server thread until this returns, so the
 * caller must not hold a lock they take. Accepts NULL; sets *s to NULL. */
void gb_http_server_destroy(gb_http_server **s);

/* The TCP port listened on (0 for a Unix socket). Any thread. */
uint16_t gb_http_server_port(const gb_http_server *s);

/* -------------------------------------------------- reading a request
 * Getters are for the handler, or after gb_http_park for the one thread
 * that will answer; strings live as long as the request. */

const char *gb_http_method(const gb_http_request *req);
/* The path as sent (percent-encoded, without the query). */
const char *gb_http_path(const gb_http_request *req);
/* The pattern of the matched route, NULL when none matched: a label of
 * bounded cardinality for request metrics. */
const char *gb_http_route_pattern(const gb_http_request *req);
/* A {name} capture, percent-decoded; NULL when the pattern has none. */
const char *gb_http_param(const gb_http_request *req, const char *name);
/* A query parameter, percent-decoded ('+' is a space); "" for "?flag";
 * NULL when absent. Keys are unique (a repeated key is refused with 400
 * before the handler runs). */
const char *gb_http_query(const gb_http_request *req, const char *name);
/* A decimal query parameter within [min, max].
 * @return 0 with *out set; GB_ENOTFOUND when absent (*out unchanged);
 *         GB_EINVAL when malformed or out of range (answered 400). */
int gb_http_query_u64(gb_http_request *req, const char *name, uint64_t min,
		      uint64_t max, uint64_t *out);
/* A request header (case-insensitive name); NULL when absent. */
const char *gb_http_header(const gb_http_request *req, const char *name);
/* The request body (NULL and 0 when there is none); at most body_limit
 * bytes; followed by a NUL that *len does not count. */
const uint8_t *gb_http_body(const gb_http_request *req, size_t *len);
/* The body parsed as one JSON value (duplicate keys refused). The caller
 * owns *out (json_decref).
 * @return 0; GB_EDECODE (answered 400 with {..., "line", "column"}). */
int gb_http_body_json(gb_http_request *req, json_t **out);
/* The client: "127.0.0.1:50312", "[::1]:50312", or "unix:uid=1000,pid=42"
 * (the peer's credentials on a Unix socket). */
const char *gb_http_peer(const gb_http_request *req);

/* --------------------------------------------------------------- replies
 * Each request gets exactly one answer: a reply, or gb_http_sse_start.
 * From the handler they may be called on the server thread; after
 * gb_http_park, from any one thread, and that call also ends the caller's
 * hold on the request (the request must not be used after it, whatever it
 * returns). They return 0, GB_ECLOSED when the request is already
 * answered, timed out, abandoned by its client or its server stopped
 * (nothing is sent), GB_EINVAL for a bad argument, or GB_ENOMEM. */

/* Add a header to the coming reply (name and value without CR or LF; at
 * most GB_HTTP_MAX_REPLY_HEADERS). Same threads as the replies. */
int gb_http_add_header(gb_http_request *req, const char *name,
		       const char *value);

/* Reply with `len` bytes of `body` (copied) and `content_type`. */
int gb_http_reply(gb_http_request *req, unsigned status,
		  const char *content_type, const void *body, size_t len);

/* Reply with `json` serialised compactly (the caller keeps its reference). */
int gb_http_reply_json(gb_http_request *req, unsigned status,
		       const json_t *json);

/* Reply with the JSON error of GB_E... code `rc` and a sentence. */
int gb_http_reply_error(gb_http_request *req, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reply with the registry's Prometheus text (gb_metrics_render). */
int gb_http_reply_metrics(gb_http_request *req, gb_metrics *m);

/* Keep the request open after the handler returns (the connection is
 * suspended), to be answered later from any thread by one reply call.
 * The module answers it itself with 504 ETIMEOUT after `timeout_ms` (0:
 * the server's park_timeout_ms; at most GB_HTTP_MAX_PARK_TIMEOUT_MS),
 * with 503 when the server stops, and closes it when the client hangs up;
 * the late reply call then returns GB_ECLOSED. Handler only.
 * @return 0; GB_EINVAL (not called from the request's handler). */
int gb_http_park(gb_http_request *req, unsigned timeout_ms);

/* ------------------------------------------------------- static assets */

/* A file compiled into the binary. */
typedef struct gb_http_asset {
	const char *path;            /* its name; picks the content type */
	const unsigned char *data;
	size_t len;
	const char *content_type;    /* NULL: gb_http_content_type(path) */
	/* true for names that change with their content (app.3f2a.js): cached
	 * for a year; otherwise clients revalidate every use (ETag). */
	bool immutable;
} gb_http_asset;

/* The content type of a file name by its extension (html, css, js, mjs,
 * json, svg, png, ico, woff2, txt, map, wasm), with charset for text;
 * "application/octet-stream" otherwise. Pure; any thread. */
const char *gb_http_content_type(const char *path);

/* Reply 200 with the asset, its content type, ETag (BLAKE2b of the bytes)
 * and Cache-Control, or 304 when the request's If-None-Match names the
 * ETag. Called like the other replies. */
int gb_http_reply_asset(gb_http_request *req, const gb_http_asset *asset);

/* ------------------------------------------------- Server-Sent Events
 *
 * A stream is a 200 text/event-stream reply that stays open. Its producer
 * pushes events into a buffer of sse_buffer_bytes; the server thread
 * copies them to the socket only when libmicrohttpd pulls, that is when
 * the socket has taken what it had. When the buffer cannot take an event,
 * gb_http_sse_send refuses it (GB_EUNAVAIL) and nothing is queued. The
 * producer learns of room through `ready`, called on the server thread
 * once when the reply starts and then each time the client has read and
 * the buffer is at most half full again after new sends or a refusal: a
 * producer that grants upstream credit in `ready` (the agent's
 * subscription) therefore grants it only as fast as the HTTP client
 * reads. Memory per stream is bounded by the buffer plus libmicrohttpd's
 * per-connection memory (32 KiB) and kernel socket buffers. An idle
 * stream gets a comment line every sse_heartbeat_ms, which also shows
 * proxies and clients that it is alive; a client that hangs up is noticed
 * while the stream is idle (the watcher polls its socket) and while it is
 * sending (the write fails). */

typedef struct gb_http_sse_ops {
	/* The stream can take `room` more bytes of events (see above). The
	 * producer may send from inside it. Server thread; may come before
	 * gb_http_sse_start returns when the request was parked. */
	void (*ready)(void *cls, gb_http_sse *s, size_t room);
	/* Called exactly once when the stream is over: 0 after gb_http_sse_end
	 * once everything was handed to the socket, GB_ECLOSED when the client
	 * went away, GB_EUNAVAIL when the server stops. Sends fail from then
	 * on; the producer still releases its handle. Server thread. */
	void (*closed)(void *cls, gb_http_sse *s, int reason);
	void *cls;
} gb_http_sse_ops;

/* Answer the request with an event stream (200, text/event-stream,
 * no-store). *out is the producer's handle until gb_http_sse_release.
 * Called like a reply (the handler, or once after gb_http_park).
 * @return 0; GB_ECLOSED (see replies; *out stays NULL and no callback
 *         will come), GB_EINVAL, GB_ENOMEM. */
int gb_http_sse_start(gb_http_request *req, const gb_http_sse_ops *ops,
		      gb_http_sse **out);

/* The client's Last-Event-ID header, a decimal offset (the ids this module
 * sends). Handler only (or the parked request's answerer).
 * @return 0 with *id set; GB_ENOTFOUND when absent; GB_EINVAL when not a
 *         decimal number below 2^64 (answered 400). */
int gb_http_last_event_id(gb_http_request *req, uint64_t *id);

/* Queue one event: "event: NAME" (when `event` is not NULL), "id: ID",
 * one "data:" line per line of `data` (UTF-8; CR, LF and CRLF end lines).
 * All or nothing. Any thread.
 * @return 0; GB_EUNAVAIL when the buffer has no room for it now (`ready`
 *         follows); GB_ETOOBIG when it could never fit the buffer;
 *         GB_ECLOSED after gb_http_sse_end or the close; GB_EINVAL for an
 *         event name with CR/LF or data that is not UTF-8. */
int gb_http_sse_send(gb_http_sse *s, const char *event, uint64_t id,
		     const void *data, size_t len);

/* End the stream once the buffered events are sent. Any thread. */
int gb_http_sse_end(gb_http_sse *s);

/* Bytes buffered now, and the bound. Any thread. */
size_t gb_http_sse_buffered(const gb_http_sse *s);
size_t gb_http_sse_capacity(const gb_http_sse *s);

/* Drop the producer's handle; ends the stream first (as gb_http_sse_end)
 * if it is still open. The callbacks' cls must stay valid until `closed`
 * has been called, so the usual end is to release inside `closed`. Any
 * thread. Accepts NULL; sets *s to NULL. */
void gb_http_sse_release(gb_http_sse **s);

#endif
