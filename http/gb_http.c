/* The HTTP server: libmicrohttpd daemon, request life cycle, bearer
 * tokens, body limits, start and stop; see gb_http.h and, for the locking
 * rules, gb_http_internal.h (parked requests and the watcher thread are in
 * gb_http_watch.c).
 *
 * Trust: everything a client sends is hostile. libmicrohttpd parses the
 * request line and headers within its per-connection memory limit (32 KiB:
 * larger headers get 431 from it) and its idle timeout; this module then
 * decodes the path and query strictly (gb_http_route.c), checks the bearer
 * token before reading any body, refuses a declared Content-Length over
 * the limit before reading it (413, the body is never read), stops
 * buffering a chunked body at the limit (413 once it ends, or the
 * connection is closed when it runs on past twice the limit), and copies
 * what handlers read into memory of its own. libmicrohttpd's own URL
 * decoding is turned off (an identity unescape callback) so that a
 * "%2F" is part of a segment, not a path separator.
 *
 * Request life cycle in libmicrohttpd's access handler: the first call
 * (headers) builds the request and answers early errors; body calls
 * append; the last call runs the route's handler; a parked request comes
 * back through the same handler once resumed, to queue its answer. */
#include "gb_http_internal.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "gb_error.h"

/* GnuTLS priorities: TLS 1.2 and 1.3 only. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

uint64_t gb_http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void log_line(const gb_http_config *cfg, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void log_line(const gb_http_config *cfg, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof line, fmt, ap);
	/* libmicrohttpd's messages end with a newline; ours do not */
	line[strcspn(line, "\n")] = '\0';
	if (cfg->log)
		cfg->log(cfg->cls, line);
	else
		fprintf(stderr, "gb_http: %s\n", line);
}

void gb_http_log(const gb_http_server *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(&s->cfg, fmt, ap);
	va_end(ap);
}

/* libmicrohttpd's format strings are its own, checked by its build. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	gb_http_server *s = cls;

	log_line(&s->cfg, fmt, ap);
}

/* ---------------------------------------------------------------- hub */

static struct hub *hub_new(void)
{
	struct hub *hub = calloc(1, sizeof *hub);

	if (!hub)
		return NULL;
	if (pthread_mutex_init(&hub->mu, NULL) != 0) {
		free(hub);
		return NULL;
	}
	hub->refs = 1;
	hub->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (hub->wake_fd < 0 || pthread_cond_init(&hub->idle, NULL) != 0) {
		if (hub->wake_fd >= 0)
			close(hub->wake_fd);
		pthread_mutex_destroy(&hub->mu);
		free(hub);
		return NULL;
	}
	return hub;
}

bool gb_http_drop_ref(struct hub *hub, unsigned *refs)
{
	bool last;

	pthread_mutex_lock(&hub->mu);
	last = --*refs == 0;
	pthread_mutex_unlock(&hub->mu);
	return last;
}

void gb_http_hub_unref(struct hub *hub)
{
	if (!gb_http_drop_ref(hub, &hub->refs))
		return;
	close(hub->wake_fd);
	pthread_cond_destroy(&hub->idle);
	pthread_mutex_destroy(&hub->mu);
	free(hub);
}

/* ------------------------------------------------------------ requests */

static void request_free(gb_http_request *req)
{
	struct hub *hub = req->hub;

	if (req->answer)
		MHD_destroy_response(req->answer);
	gb_http_match_clear(&req->match);
	gb_http_query_clear(&req->query);
	for (size_t i = 0; i < req->n_reply_headers; i++) {
		free(req->reply_headers[i].name);
		free(req->reply_headers[i].value);
	}
	free(req->headers);
	free(req->header_arena);
	free(req->body);
	free(req->method);
	free(req->path);
	free(req);
	gb_http_hub_unref(hub);
}

void gb_http_request_unref(gb_http_request *req)
{
	if (gb_http_drop_ref(req->hub, &req->refs))
		request_free(req);
}

/* A request libmicrohttpd is done with: wake a stopping server. */
static void request_finished(struct hub *hub)
{
	pthread_mutex_lock(&hub->mu);
	hub->active--;
	pthread_cond_broadcast(&hub->idle);
	pthread_mutex_unlock(&hub->mu);
}

/* The client, for logs and audit lines. */
static void describe_peer(struct MHD_Connection *conn, int fd, char *out,
			  size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char host[INET6_ADDRSTRLEN];
	struct ucred cred;
	socklen_t clen = sizeof cred;

	snprintf(out, len, "unknown");
	if (!sa)
		return;
	/* copied out: libmicrohttpd's address need not be aligned for
	 * the longer structures */
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in a;
		memcpy(&a, sa, sizeof a);
		inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
		snprintf(out, len, "%s:%u", host, ntohs(a.sin_port));
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 a;
		memcpy(&a, sa, sizeof a);
		inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
		snprintf(out, len, "[%s]:%u", host, ntohs(a.sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred,
					  &clen) == 0)
			snprintf(out, len, "unix:uid=%u,pid=%d",
				 (unsigned)cred.uid, (int)cred.pid);
		else
			snprintf(out, len, "unix");
	}
}

struct header_walk {
	gb_http_request *req;
	size_t bytes;
	bool fill;
};

static enum MHD_Result header_visit(void *cls, enum MHD_ValueKind kind,
				    const char *key, const char *value)
{
	struct header_walk *w = cls;
	gb_http_request *req = w->req;
	size_t kl = strlen(key), vl = value ? strlen(value) : 0;

	(void)kind;
	if (w->fill) {
		char *at = req->header_arena + w->bytes;
		memcpy(at, key, kl + 1);
		memcpy(at + kl + 1, value ? value : "", vl + 1);
		req->headers[req->n_headers].name = at;
		req->headers[req->n_headers].value = at + kl + 1;
		req->n_headers++;
	}
	w->bytes += kl + vl + 2;
	return MHD_YES;
}

/* Copy the request headers, so getters never reach into libmicrohttpd's
 * connection memory (a parked request's answerer may read them while the
 * connection is being closed). Bounded by libmicrohttpd's memory limit. */
static int copy_headers(gb_http_request *req)
{
	struct header_walk w = {req, 0, false};
	int n = MHD_get_connection_values(req->conn, MHD_HEADER_KIND,
					  header_visit, &w);

	if (n <= 0)
		return 0;
	req->headers = calloc((size_t)n, sizeof *req->headers);
	req->header_arena = malloc(w.bytes ? w.bytes : 1);
	if (!req->headers || !req->header_arena)
		return GB_ENOMEM;
	w.bytes = 0;
	w.fill = true;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, header_visit, &w);
	return 0;
}

struct query_walk {
	gb_http_request *req;
	int rc;
	char why[160];
};

static enum MHD_Result query_visit(void *cls, enum MHD_ValueKind kind,
				   const char *key, const char *value)
{
	struct query_walk *w = cls;

	(void)kind;
	w->rc = gb_http_query_add(&w->req->query, key, value, w->why,
				  sizeof w->why);
	return w->rc == 0 ? MHD_YES : MHD_NO;
}

static gb_http_request *request_new(gb_http_server *s,
				    struct MHD_Connection *conn,
				    const char *url, const char *method)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	gb_http_request *req = calloc(1, sizeof *req);

	if (!req)
		return NULL;
	req->server = s;
	req->hub = s->hub;
	req->refs = 1; /* the connection's, dropped when it completes */
	req->conn = conn;
	req->susp.kind = SUSPENDED_PARK;
	req->susp.fd = ci ? (int)ci->connect_fd : -1;
	req->method = strdup(method);
	req->path = strdup(url);
	describe_peer(conn, req->susp.fd, req->peer, sizeof req->peer);
	pthread_mutex_lock(&s->hub->mu);
	s->hub->refs++;
	s->hub->active++; /* until on_completed */
	pthread_mutex_unlock(&s->hub->mu);
	if (!req->method || !req->path || copy_headers(req) != 0) {
		request_finished(req->hub);
		request_free(req);
		return NULL;
	}
	return req;
}

/* Queue an answer now (server thread, outside hub->mu). */
static enum MHD_Result queue_answer(gb_http_request *req,
				    struct MHD_Response *resp,
				    unsigned status)
{
	enum MHD_Result r;

	pthread_mutex_lock(&req->hub->mu);
	req->phase = PHASE_QUEUED;
	pthread_mutex_unlock(&req->hub->mu);
	req->sent_status = status;
	r = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* Answer a request the server refuses before its handler runs. */
static enum MHD_Result refuse(gb_http_request *req, unsigned status, int rc,
			      const char *header, const char *value,
			      const char *message)
{
	struct MHD_Response *resp =
		gb_http_error_response(status, rc, message, NULL);

	if (!resp)
		return MHD_NO;
	if (header && MHD_add_response_header(resp, header, value) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return queue_answer(req, resp, status);
}

/* ------------------------------------------------------- authentication */

/* Check the Authorization header; NULL when it carries the token, else
 * the reason for the audit line. */
static const char *bearer_refusal(const gb_http_server *s,
				  const gb_http_request *req)
{
	const char *v = gb_http_header(req, "Authorization");

	if (!v)
		return "no bearer token";
	if (strncasecmp(v, "Bearer ", 7) != 0)
		return "not a bearer token";
	v += 7;
	while (*v == ' ')
		v++;
	return gb_http_token_matches(s->token_hash, v, strlen(v))
		       ? NULL
		       : "wrong bearer token";
}

static enum MHD_Result refuse_auth(gb_http_server *s, gb_http_request *req,
				   const char *reason)
{
	bool missing = !strcmp(reason, "no bearer token");

	if (s->cfg.auth_failed)
		s->cfg.auth_failed(s->cfg.cls, req, reason);
	return refuse(req, 401, GB_EAUTH, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		      missing ? "Bearer realm=\"govbus\""
			      : "Bearer realm=\"govbus\", error=\"invalid_token\"",
		      missing ? "this endpoint needs Authorization: Bearer TOKEN"
			      : "the bearer token is not valid");
}

/* ------------------------------------------------------- access handler */

/* First call: the headers are in. Decide whether the request may go on. */
static enum MHD_Result request_start(gb_http_server *s, gb_http_request *req)
{
	struct query_walk qw = {req, 0, ""};
	char why[160] = "", msg[200];
	const char *cl, *refusal;
	int match_rc;
	bool open_route, stopping;
	uint64_t declared;

	pthread_mutex_lock(&s->hub->mu);
	stopping = s->hub->stopping;
	pthread_mutex_unlock(&s->hub->mu);
	if (stopping)
		return refuse(req, 503, GB_EUNAVAIL, NULL, NULL,
			      "the server is stopping");
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_visit,
				  &qw);
	match_rc = gb_http_router_match(s->router, req->method, req->path,
					&req->match, why, sizeof why);
	if (match_rc == GB_ENOMEM || qw.rc == GB_ENOMEM)
		return MHD_NO;
	open_route = match_rc == 0 &&
		     (req->match.route->flags & GB_HTTP_ROUTE_OPEN);
	/* The token is checked before anything else is said about the
	 * request, so an unauthenticated client learns no route. */
	if (s->has_token && !open_route &&
	    (refusal = bearer_refusal(s, req)) != NULL)
		return refuse_auth(s, req, refusal);
	if (match_rc == GB_EINVAL)
		return refuse(req, 400, GB_EINVAL, NULL, NULL, why);
	if (match_rc == GB_ENOTFOUND && req->match.allow[0]) {
		snprintf(msg, sizeof msg, "method %.16s is not allowed here; "
			 "allowed: %s", req->method, req->match.allow);
		return refuse(req, 405, GB_EINVAL, MHD_HTTP_HEADER_ALLOW,
			      req->match.allow, msg);
	}
	if (match_rc == GB_ENOTFOUND)
		return refuse(req, 404, GB_ENOTFOUND, NULL, NULL,
			      "no such endpoint");
	if (qw.rc != 0)
		return refuse(req, 400, GB_EINVAL, NULL, NULL, qw.why);
	cl = gb_http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && gb_http_parse_u64(cl, &declared) == 0) {
		if (declared > s->cfg.body_limit) {
			snprintf(msg, sizeof msg, "the request body has %llu "
				 "bytes, more than the limit of %zu",
				 (unsigned long long)declared, s->cfg.body_limit);
			return refuse(req, 413, GB_ETOOBIG, NULL, NULL, msg);
		}
		req->body_cap = (size_t)declared;
	}
	return MHD_YES;
}

/* A body call: keep up to the limit, then only count. */
static enum MHD_Result request_body(gb_http_server *s, gb_http_request *req,
				    const char *data, size_t *size)
{
	size_t n = *size, limit = s->cfg.body_limit;

	*size = 0;
	if (req->too_big || n > limit - req->body_len) {
		if (!req->too_big) {
			req->too_big = true;
			req->discarded = req->body_len;
			free(req->body);
			req->body = NULL;
			req->body_len = req->body_cap = 0;
		}
		req->discarded += n;
		/* A client that goes on far past the limit is cut off rather
		 * than read to the end for its 413. */
		return req->discarded > 2 * (uint64_t)limit ? MHD_NO : MHD_YES;
	}
	if (!req->body || req->body_len + n > req->body_cap) {
		/* a declared length is allocated once; a chunked body grows */
		size_t need = req->body_len + n;
		size_t cap = req->body_cap ? req->body_cap : 4096;
		uint8_t *grown;

		while (cap < need)
			cap *= 2;
		if (cap > limit)
			cap = limit; /* need <= limit: still enough */
		grown = realloc(req->body, cap + 1); /* + the NUL */
		if (!grown)
			return MHD_NO;
		req->body = grown;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, n);
	req->body_len += n;
	req->body[req->body_len] = '\0';
	return MHD_YES;
}

/* The last call: run the handler and queue what it answered. */
static enum MHD_Result request_handle(gb_http_server *s, gb_http_request *req)
{
	const gb_http_route *route = req->match.route;
	struct MHD_Response *resp = NULL;
	unsigned status = 0;
	bool unanswered = false;
	char msg[96];

	bool stopping;

	if (req->too_big) {
		snprintf(msg, sizeof msg, "the request body is larger than the "
			 "limit of %zu bytes", s->cfg.body_limit);
		return refuse(req, 413, GB_ETOOBIG, NULL, NULL, msg);
	}
	pthread_mutex_lock(&s->hub->mu);
	stopping = s->hub->stopping;
	if (!stopping)
		req->phase = PHASE_HANDLING;
	pthread_mutex_unlock(&s->hub->mu);
	if (stopping)
		return refuse(req, 503, GB_EUNAVAIL, NULL, NULL,
			      "the server is stopping");

	route->handler(route->cls, req);

	pthread_mutex_lock(&s->hub->mu);
	switch (req->phase) {
	case PHASE_HANDLING:
		unanswered = true;
		break;
	case PHASE_ANSWERED:
		resp = req->answer;
		status = req->answer_status;
		req->answer = NULL;
		break;
	default:
		/* parked (perhaps answered already from another thread): the
		 * resumed connection comes back through the access handler */
		break;
	}
	pthread_mutex_unlock(&s->hub->mu);
	if (unanswered) {
		gb_http_log(s, "%s %.200s: the handler gave no reply",
			    req->method, route->pattern);
		return refuse(req, 500, GB_EIO, NULL, NULL,
			      "the handler gave no reply");
	}
	return resp ? queue_answer(req, resp, status) : MHD_YES;
}

/* A resumed parked request: queue its answer, or close the connection of
 * a client that hung up. */
static enum MHD_Result request_resumed(gb_http_request *req)
{
	struct MHD_Response *resp = NULL;
	unsigned status = 0;
	bool aborted;

	pthread_mutex_lock(&req->hub->mu);
	aborted = req->phase == PHASE_ABORTED;
	if (req->phase == PHASE_RESUMING) {
		resp = req->answer;
		status = req->answer_status;
		req->answer = NULL;
	}
	pthread_mutex_unlock(&req->hub->mu);
	if (aborted)
		return MHD_NO;
	return resp ? queue_answer(req, resp, status) : MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	gb_http_server *s = cls;
	gb_http_request *req = *con_cls;
	enum request_phase phase;

	(void)version;
	if (!req) {
		req = request_new(s, conn, url, method);
		if (!req)
			return MHD_NO;
		*con_cls = req;
		return request_start(s, req);
	}
	pthread_mutex_lock(&s->hub->mu);
	phase = req->phase;
	pthread_mutex_unlock(&s->hub->mu);
	if (phase != PHASE_HEADERS)
		return request_resumed(req);
	if (*upload_data_size)
		return request_body(s, req, upload_data, upload_data_size);
	return request_handle(s, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	gb_http_server *s = cls;
	gb_http_request *req = *con_cls;
	struct MHD_Response *leftover;

	(void)conn;
	if (!req)
		return;
	*con_cls = NULL;
	if (req->sse)
		gb_http_sse_request_done(req->sse,
					 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	if (s->cfg.completed)
		s->cfg.completed(s->cfg.cls, req, req->sent_status);
	pthread_mutex_lock(&s->hub->mu);
	req->phase = PHASE_DONE;
	leftover = req->answer;
	req->answer = NULL;
	pthread_mutex_unlock(&s->hub->mu);
	if (leftover)
		MHD_destroy_response(leftover);
	request_finished(s->hub);
	gb_http_request_unref(req);
}

/* Leave URLs and query strings encoded: gb_http_route decodes them
 * strictly, segment by segment. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

/* ----------------------------------------------------------- lifecycle */

/* Fill the zero fields of cfg with defaults; check the limits. */
static int resolve_limits(gb_http_config *c, char *why, size_t why_len)
{
	if (!c->body_limit)
		c->body_limit = GB_HTTP_DEFAULT_BODY_LIMIT;
	if (!c->max_connections)
		c->max_connections = GB_HTTP_DEFAULT_MAX_CONNECTIONS;
	if (!c->idle_timeout_s)
		c->idle_timeout_s = GB_HTTP_DEFAULT_IDLE_TIMEOUT_S;
	if (!c->park_timeout_ms)
		c->park_timeout_ms = GB_HTTP_DEFAULT_PARK_TIMEOUT_MS;
	if (!c->sse_heartbeat_ms)
		c->sse_heartbeat_ms = GB_HTTP_DEFAULT_SSE_HEARTBEAT_MS;
	if (!c->sse_buffer_bytes)
		c->sse_buffer_bytes = GB_HTTP_DEFAULT_SSE_BUFFER;
	if (c->body_limit > GB_HTTP_MAX_BODY_LIMIT)
		return gb_why(why, why_len, GB_EINVAL,
			      "body limit %zu is above %u bytes", c->body_limit,
			      GB_HTTP_MAX_BODY_LIMIT);
	if (c->park_timeout_ms > GB_HTTP_MAX_PARK_TIMEOUT_MS)
		return gb_why(why, why_len, GB_EINVAL,
			      "park timeout %u ms is above %u", c->park_timeout_ms,
			      GB_HTTP_MAX_PARK_TIMEOUT_MS);
	if (c->sse_buffer_bytes < GB_HTTP_MIN_SSE_BUFFER ||
	    c->sse_buffer_bytes > GB_HTTP_MAX_SSE_BUFFER)
		return gb_why(why, why_len, GB_EINVAL,
			      "SSE buffer of %zu bytes is outside %u..%u",
			      c->sse_buffer_bytes, GB_HTTP_MIN_SSE_BUFFER,
			      GB_HTTP_MAX_SSE_BUFFER);
	return 0;
}

static int start_daemon(gb_http_server *s, int fd, bool ipv6, char *cert,
			char *key, char *why, size_t why_len)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem tls_opts[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, key},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
		{MHD_OPTION_END, 0, NULL},
	};
	struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};

	if (cert)
		flags |= MHD_USE_TLS;
	if (ipv6)
		flags |= MHD_USE_IPv6;
	s->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_access, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s, /* first: see docs */
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.idle_timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
		MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_ARRAY, cert ? tls_opts : no_opts,
		MHD_OPTION_END);
	if (!s->mhd)
		return gb_why(why, why_len, cert ? GB_EKEYFILE : GB_EIO,
			      "libmicrohttpd did not start%s",
			      cert ? " (is the certificate/key pair valid PEM?)"
				   : "");
	return 0;
}

int gb_http_server_new(const gb_http_config *cfg, gb_http_server **out,
		       char *why, size_t why_len)
{
	gb_http_server *s;
	char *cert = NULL, *key = NULL;
	bool ipv6 = false;
	int fd = -1, rc;

	*out = NULL;
	s = calloc(1, sizeof *s);
	if (!s)
		return gb_why(why, why_len, GB_ENOMEM, "out of memory");
	s->cfg = *cfg;
	s->cfg.listen = s->cfg.tls_cert_file = s->cfg.tls_key_file = NULL;
	s->cfg.token = NULL;
	s->cfg.routes = NULL;
	rc = resolve_limits(&s->cfg, why, why_len);
	if (rc == 0)
		rc = gb_http_router_new(cfg->routes, cfg->n_routes, &s->router,
					why, why_len);
	if (rc == 0 && !(s->hub = hub_new()))
		rc = gb_why(why, why_len, GB_ENOMEM, "out of memory");
	if (rc != 0)
		goto fail;
	s->hub->sse_buffer_bytes = s->cfg.sse_buffer_bytes;
	s->hub->sse_heartbeat_ms = s->cfg.sse_heartbeat_ms;
	if (cfg->token) {
		s->has_token = true;
		gb_http_token_hash(cfg->token, s->token_hash);
	}
	if (cfg->tls_cert_file || cfg->tls_key_file) {
		rc = gb_http_tls_load(cfg, &cert, &key, why, why_len);
		if (rc != 0)
			goto fail;
	}
	rc = gb_http_listen(s, cfg, &fd, &ipv6, why, why_len);
	if (rc == 0)
		rc = start_daemon(s, fd, ipv6, cert, key, why, why_len);
	/* libmicrohttpd has loaded the pair into GnuTLS by now */
	sodium_free(cert);
	sodium_free(key);
	if (rc != 0) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	if (pthread_create(&s->watcher, NULL, gb_http_watcher_main, s) != 0) {
		rc = gb_why(why, why_len, GB_ENOMEM,
			    "cannot start the watcher thread");
		goto fail;
	}
	s->watcher_started = true;
	*out = s;
	return 0;
fail:
	gb_http_server_destroy(&s);
	return rc;
}

/* Wait until libmicrohttpd has finished every request, at most the
 * grace period. */
static void drain(struct hub *hub)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += GB_HTTP_STOP_GRACE_MS / 1000;
	until.tv_nsec += (long)(GB_HTTP_STOP_GRACE_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&hub->mu);
	while (hub->active > 0 &&
	       pthread_cond_timedwait(&hub->idle, &hub->mu, &until) == 0)
		;
	pthread_mutex_unlock(&hub->mu);
}

void gb_http_server_destroy(gb_http_server **sp)
{
	gb_http_server *s;
	struct hub *hub;
	int quiesced = -1;

	if (!sp || !*sp)
		return;
	s = *sp;
	*sp = NULL;
	hub = s->hub;
	if (s->mhd)
		quiesced = MHD_quiesce_daemon(s->mhd); /* no new connections */
	if (hub) {
		/* No connection may stay suspended when the daemon stops (a
		 * libmicrohttpd rule): answer every parked request, wake every
		 * waiting stream; from here on nothing suspends again. */
		pthread_mutex_lock(&hub->mu);
		hub->stopping = true;
		while (hub->head) {
			struct suspension *first = hub->head;
			if (first->kind == SUSPENDED_PARK)
				gb_http_park_resolve_locked(hub, gb_http_request_of(first), 503,
						    GB_EUNAVAIL,
						    "the server is stopping");
			else
				gb_http_sse_stop_locked(gb_http_sse_of(first));
		}
		pthread_mutex_unlock(&hub->mu);
		/* let those answers and stream ends reach their clients */
		if (s->mhd)
			drain(hub);
		pthread_mutex_lock(&hub->mu);
		s->watcher_stop = true;
		gb_http_hub_wake(hub);
		pthread_mutex_unlock(&hub->mu);
	}
	if (s->watcher_started)
		pthread_join(s->watcher, NULL);
	if (s->mhd)
		MHD_stop_daemon(s->mhd); /* closes every connection */
	if (quiesced >= 0)
		close(quiesced); /* ours after a quiesce, and only after stop */
	if (s->unix_path) {
		struct stat st;
		/* only our socket: another server may have taken the path */
		if (lstat(s->unix_path, &st) == 0 &&
		    (uint64_t)st.st_ino == s->unix_ino)
			unlink(s->unix_path);
		free(s->unix_path);
	}
	gb_http_router_destroy(&s->router);
	if (hub)
		gb_http_hub_unref(hub);
	free(s);
}

uint16_t gb_http_server_port(const gb_http_server *s)
{
	return s->port;
}

/* ------------------------------------------------------------- getters */

const char *gb_http_method(const gb_http_request *req)
{
	return req->method;
}

const char *gb_http_path(const gb_http_request *req)
{
	return req->path;
}

const char *gb_http_route_pattern(const gb_http_request *req)
{
	return req->match.route ? req->match.route->pattern : NULL;
}

const char *gb_http_param(const gb_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->match.n_params; i++)
		if (!strcmp(req->match.names[i], name))
			return req->match.values[i];
	return NULL;
}

const char *gb_http_query(const gb_http_request *req, const char *name)
{
	return gb_http_query_find(&req->query, name);
}

int gb_http_query_u64(gb_http_request *req, const char *name, uint64_t min,
		      uint64_t max, uint64_t *out)
{
	const char *v = gb_http_query(req, name);
	uint64_t n;

	if (!v)
		return GB_ENOTFOUND;
	if (gb_http_parse_u64(v, &n) != 0 || n < min || n > max) {
		(void)gb_http_reply_error(req, GB_EINVAL,
					  "query parameter %.64s: expected a "
					  "whole number from %llu to %llu",
					  name, (unsigned long long)min,
					  (unsigned long long)max);
		return GB_EINVAL;
	}
	*out = n;
	return 0;
}

const char *gb_http_header(const gb_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (!strcasecmp(req->headers[i].name, name))
			return req->headers[i].value;
	return NULL;
}

const uint8_t *gb_http_body(const gb_http_request *req, size_t *len)
{
	*len = req->body_len;
	return req->body;
}

const char *gb_http_peer(const gb_http_request *req)
{
	return req->peer;
}

int gb_http_last_event_id(gb_http_request *req, uint64_t *id)
{
	const char *v = gb_http_header(req, "Last-Event-ID");

	if (!v)
		return GB_ENOTFOUND;
	if (gb_http_parse_u64(v, id) != 0) {
		(void)gb_http_reply_error(req, GB_EINVAL,
					  "Last-Event-ID is not an event id "
					  "of this server (a decimal offset)");
		return GB_EINVAL;
	}
	return 0;
}
