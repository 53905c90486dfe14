/* Internals shared by the HTTP module's files (gb_http.c: server and
 * requests; gb_http_watch.c: parked requests and the watcher thread;
 * gb_http_reply.c: replies; gb_http_sse.c: event streams;
 * gb_http_listen.c: sockets). Not for other modules.
 *
 * Locking. One mutex per server, in a small refcounted `hub` that parked
 * requests and streams also hold, guards every piece of state two threads
 * can reach: request phases, stream buffers, the list of suspended
 * connections and the stopping flag. Because requests and streams keep
 * the hub alive, an answer or an event that arrives after the server is
 * gone finds its request or stream closed instead of freed memory. User
 * callbacks are never called with it held. libmicrohttpd calls made under
 * it are only MHD_suspend_connection and MHD_resume_connection, which take
 * libmicrohttpd's own cleanup mutex and call nothing of ours; every other
 * libmicrohttpd call (queue, destroy) is made outside it. */
#ifndef GB_HTTP_INTERNAL_H
#define GB_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gb_http.h"
#include "gb_http_route.h"
#include "gb_http_token.h"

/* What a suspended connection is waiting for. */
enum suspension_kind { SUSPENDED_PARK, SUSPENDED_STREAM };

/* A suspended connection the watcher looks after: a parked request or a
 * stream waiting for events. Listed in the hub while suspended. */
struct suspension {
	struct suspension *prev, *next;
	enum suspension_kind kind;
	bool listed;
	int fd;                     /* the client socket, polled for hang-up */
	uint64_t deadline_ms;       /* monotonic; park timeout or heartbeat */
};

struct hub {
	pthread_mutex_t mu;
	pthread_cond_t idle;        /* signalled when `active` drops */
	unsigned refs;              /* the server, each request and stream */
	unsigned active;            /* requests libmicrohttpd has not finished */
	bool stopping;
	struct suspension *head;
	size_t n_suspended;
	int wake_fd;                /* eventfd: the watcher re-reads the list */
	/* stream settings, here so a stream started after its server is gone
	 * never reads freed memory */
	size_t sse_buffer_bytes;
	unsigned sse_heartbeat_ms;
};

/* Request phases; changes under hub->mu. */
enum request_phase {
	PHASE_HEADERS,              /* being read, before the handler */
	PHASE_HANDLING,             /* the handler runs */
	PHASE_ANSWERED,             /* answer stored, not yet queued */
	PHASE_PARKED,               /* suspended, waiting for an answer */
	PHASE_RESUMING,             /* answer stored, connection resumed */
	PHASE_ABORTED,              /* client hung up while parked */
	PHASE_QUEUED,               /* answer handed to libmicrohttpd */
	PHASE_DONE,                 /* libmicrohttpd is finished with it */
};

struct header_copy {
	const char *name, *value;   /* into the request's header arena */
};

struct gb_http_request {
	struct suspension susp;     /* while parked */
	gb_http_server *server;     /* server thread only */
	struct hub *hub;
	unsigned refs;              /* hub->mu: connection, park hold */
	enum request_phase phase;   /* hub->mu */
	bool held;                  /* hub->mu: parked, answer still owed */
	struct MHD_Connection *conn;
	char *method;
	char *path;                 /* raw, as sent */
	char peer[96];
	gb_http_match match;
	gb_http_query_set query;
	struct header_copy *headers;
	size_t n_headers;
	char *header_arena;
	uint8_t *body;
	size_t body_len, body_cap;
	uint64_t discarded;         /* body bytes past the limit, dropped */
	bool too_big;
	struct MHD_Response *answer; /* hub->mu: stored, to be queued */
	unsigned answer_status;
	unsigned sent_status;       /* the status queued, for `completed` */
	struct {
		char *name, *value;
	} reply_headers[GB_HTTP_MAX_REPLY_HEADERS];
	size_t n_reply_headers;
	gb_http_sse *sse;           /* the stream this request started */
};

struct gb_http_server {
	struct hub *hub;
	struct MHD_Daemon *mhd;
	gb_http_router *router;
	gb_http_config cfg;         /* limits resolved; strings not kept */
	bool has_token;
	unsigned char token_hash[GB_HTTP_TOKEN_HASH_BYTES];
	uint16_t port;
	char *unix_path;            /* removed on destroy when still ours */
	uint64_t unix_ino;
	pthread_t watcher;
	bool watcher_started;
	bool watcher_stop;          /* hub->mu */
};

/* ---- gb_http.c */
uint64_t gb_http_now_ms(void);
void gb_http_log(const gb_http_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drop one of the references counted in *refs (guarded by hub->mu):
 * true when it was the last. */
bool gb_http_drop_ref(struct hub *hub, unsigned *refs);
void gb_http_hub_unref(struct hub *hub);
void gb_http_request_unref(gb_http_request *req);

static inline gb_http_request *gb_http_request_of(struct suspension *sp)
{
	return (gb_http_request *)(void *)((char *)sp -
					   offsetof(gb_http_request, susp));
}

/* ---- gb_http_watch.c */
/* List / unlist a suspended connection and wake the watcher; hub->mu
 * held. */
void gb_http_suspension_add(struct hub *hub, struct suspension *sp);
void gb_http_suspension_remove(struct hub *hub, struct suspension *sp);
/* Make the watcher read the list again (stopping, a new suspension). */
void gb_http_hub_wake(struct hub *hub);
/* Answer a parked request with an error of the module's own (504 on
 * timeout, 503 when stopping) and resume it; hub->mu held. */
void gb_http_park_resolve_locked(struct hub *hub, gb_http_request *req,
				 unsigned status, int rc, const char *message);
/* The watcher thread; its argument is the server. */
void *gb_http_watcher_main(void *arg);

/* ---- gb_http_reply.c */
/* Hand `resp` (with `status`) to the request as its one answer: stored
 * for the server thread to queue, and the connection resumed when it was
 * parked. Consumes a park hold. On GB_ECLOSED the caller still owns resp.
 * A NULL resp (nothing could be built) returns GB_ENOMEM and closes a
 * parked request's connection. `sse` is the stream resp carries, if any:
 * recorded in the request when the answer is taken. */
int gb_http_answer(gb_http_request *req, struct MHD_Response *resp,
		   unsigned status, gb_http_sse *sse);
/* A JSON error response {code, status, message} plus `extra` members
 * (may be NULL, not stolen); NULL when out of memory. */
struct MHD_Response *gb_http_error_response(unsigned status, int rc,
					    const char *message,
					    const json_t *extra);
/* Headers every reply carries, and the request's staged ones. */
int gb_http_add_common_headers(struct MHD_Response *resp);
int gb_http_apply_reply_headers(gb_http_request *req,
				struct MHD_Response *resp);
/* Reply with an error whose HTTP status differs from the code's own
 * (405 with EINVAL), adding one header. */
int gb_http_reply_error_status(gb_http_request *req, unsigned status, int rc,
			       const char *header, const char *value,
			       const char *message);

/* ---- gb_http_sse.c */
/* Tell the stream how its request ended (libmicrohttpd's code). Server
 * thread, before the stream's response is freed. */
void gb_http_sse_request_done(gb_http_sse *s, bool completed_ok);
/* Watcher and shutdown: the client hung up, a heartbeat is due, or the
 * server stops; hub->mu held. */
void gb_http_sse_hangup_locked(gb_http_sse *s);
void gb_http_sse_heartbeat_locked(gb_http_sse *s);
void gb_http_sse_stop_locked(gb_http_sse *s);
void gb_http_sse_ref_locked(gb_http_sse *s);
void gb_http_sse_unref(gb_http_sse *s);
gb_http_sse *gb_http_sse_of(struct suspension *sp);

/* ---- gb_http_listen.c */
/* Parse cfg->listen, check loopback/public/TLS rules, bind and listen.
 * @return 0 with *fd (non-blocking, close-on-exec) and s->port or
 *         s->unix_path set; the codes of gb_http_server_new. */
int gb_http_listen(gb_http_server *s, const gb_http_config *cfg, int *fd,
		   bool *ipv6, char *why, size_t why_len);
/* Read the certificate and key files for libmicrohttpd; both in
 * sodium_malloc memory (sodium_free them once the daemon started). */
int gb_http_tls_load(const gb_http_config *cfg, char **cert, char **key,
		     char *why, size_t why_len);

#endif
