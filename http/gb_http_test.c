/* Tests of the HTTP server with real sockets and real clients: routing
 * and parameters on a Unix socket and on 127.0.0.1, bearer tokens and the
 * audit callback, body limits (the handler never sees an oversized body),
 * JSON errors with line and column, the loopback/public/TLS rules, TLS
 * with a certificate made at test time (openssl) and curl as the client,
 * replies completed from another thread, timeouts, hang-ups and shutdown
 * of parked requests, static assets and the metrics endpoint. */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gb_http.h"
#include "gb_http_test_client.h"
#include "gb_http_token.h"
#include "gb_metrics.h"
#include "gb_test.h"

static char dir[] = "/tmp/gb_http_test.XXXXXX";

/* ------------------------------------------------------ shared state */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int handled;                 /* handler calls */
static int auth_failures;
static char auth_reason[64], auth_peer[96], auth_path[128];
static int hold_completions;        /* completed requests of /v1/hold */
static unsigned hold_status;
static gb_http_request *held;       /* a parked request for the test */
static int header_rc;
static gb_metrics *metrics;

/* Wait until *counter reaches want; false after CLIENT_WAIT_MS. */
static bool wait_count(int *counter, int want)
{
	struct timespec until;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CLIENT_WAIT_MS / 1000;
	pthread_mutex_lock(&mu);
	while (*counter < want && ok)
		ok = pthread_cond_timedwait(&cv, &mu, &until) == 0;
	ok = *counter >= want;
	pthread_mutex_unlock(&mu);
	return ok;
}

static void bump(int *counter)
{
	pthread_mutex_lock(&mu);
	(*counter)++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void on_auth_failed(void *cls, const gb_http_request *req,
			   const char *reason)
{
	(void)cls;
	pthread_mutex_lock(&mu);
	snprintf(auth_reason, sizeof auth_reason, "%s", reason);
	snprintf(auth_peer, sizeof auth_peer, "%s", gb_http_peer(req));
	snprintf(auth_path, sizeof auth_path, "%s", gb_http_path(req));
	auth_failures++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void on_completed(void *cls, const gb_http_request *req,
			 unsigned status)
{
	(void)cls;
	pthread_mutex_lock(&mu);
	if (!strcmp(gb_http_path(req), "/v1/hold")) {
		hold_status = status;
		hold_completions++;
	}
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void quiet_log(void *cls, const char *line)
{
	(void)cls;
	(void)line;
}

/* ----------------------------------------------------------- handlers */

static void h_records_get(void *cls, gb_http_request *req)
{
	uint64_t limit = 100;
	json_t *j;

	(void)cls;
	bump(&handled);
	if (gb_http_query_u64(req, "limit", 1, 1000, &limit) == GB_EINVAL)
		return;
	j = json_pack("{s:s, s:s?, s:I, s:s, s:s, s:s}", "id",
		      gb_http_param(req, "id"), "from",
		      gb_http_query(req, "from"), "limit", (json_int_t)limit,
		      "peer", gb_http_peer(req), "method", gb_http_method(req),
		      "route", gb_http_route_pattern(req));
	gb_http_reply_json(req, 200, j);
	json_decref(j);
}

static void h_records_post(void *cls, gb_http_request *req)
{
	json_t *body, *j;

	(void)cls;
	bump(&handled);
	if (gb_http_body_json(req, &body) != 0)
		return;
	j = json_pack("{s:s, s:I}", "id", gb_http_param(req, "id"), "count",
		      (json_int_t)json_array_size(body));
	gb_http_reply_json(req, 201, j);
	json_decref(j);
	json_decref(body);
}

static void h_echo(void *cls, gb_http_request *req)
{
	size_t len;
	const uint8_t *body = gb_http_body(req, &len);

	(void)cls;
	bump(&handled);
	gb_http_reply(req, 200, "application/octet-stream", body, len);
}

static void h_health(void *cls, gb_http_request *req)
{
	static const char ok[] = "{\"ok\":true}";

	(void)cls;
	bump(&handled);
	gb_http_reply(req, 200, "application/json", ok, sizeof ok - 1);
}

static void h_denied(void *cls, gb_http_request *req)
{
	(void)cls;
	bump(&handled);
	gb_http_reply_error(req, GB_EPERM,
			    "not granted: health may not read tax.invoices");
}

static void h_noreply(void *cls, gb_http_request *req)
{
	(void)cls;
	(void)req;
	bump(&handled);
}

static void h_header(void *cls, gb_http_request *req)
{
	(void)cls;
	bump(&handled);
	header_rc = gb_http_add_header(req, "X-Bad", "a\r\nSet-Cookie: x=1");
	gb_http_add_header(req, "Location", "/v1/datasets/x/records/7");
	gb_http_reply(req, 201, "text/plain; charset=utf-8", "made", 4);
}

static void h_metrics(void *cls, gb_http_request *req)
{
	(void)cls;
	gb_http_reply_metrics(req, metrics);
}

static const unsigned char app_js[] = "console.log('govbus');\n";
static const gb_http_asset assets[] = {
	{"app.js", app_js, sizeof app_js - 1, NULL, false},
	{"app.3f2a.css", (const unsigned char *)"b{}", 3, NULL, true},
};

static void h_asset(void *cls, gb_http_request *req)
{
	const char *file = gb_http_param(req, "file");

	(void)cls;
	for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++)
		if (!strcmp(assets[i].path, file)) {
			gb_http_reply_asset(req, &assets[i]);
			return;
		}
	gb_http_reply_error(req, GB_ENOTFOUND, "no such file");
}

/* Parked requests: a worker thread answers /v1/async; /v1/hold and
 * /v1/slow are kept in `held` for the test to play with. */
static gb_http_request *queue[16];
static int queued;
static bool worker_stop;

static void *worker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (!queued && !worker_stop)
			pthread_cond_wait(&cv, &mu);
		if (!queued)
			break;
		gb_http_request *req = queue[--queued];
		pthread_mutex_unlock(&mu);
		json_t *j = json_pack("{s:b, s:I, s:s}", "acked", 1, "offset",
				      (json_int_t)7, "id",
				      gb_http_param(req, "id"));
		CHECK_RC(gb_http_reply_json(req, 200, j), 0);
		json_decref(j);
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void h_async(void *cls, gb_http_request *req)
{
	(void)cls;
	bump(&handled);
	CHECK_RC(gb_http_park(req, 0), 0);
	pthread_mutex_lock(&mu);
	queue[queued++] = req;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Parked and answered before the handler even returns. */
static void h_async_now(void *cls, gb_http_request *req)
{
	static const char done[] = "{\"now\":true}";

	(void)cls;
	bump(&handled);
	CHECK_RC(gb_http_park(req, 0), 0);
	CHECK_RC(gb_http_reply(req, 200, "application/json", done,
			       sizeof done - 1),
		 0);
}

static void h_hold(void *cls, gb_http_request *req)
{
	(void)cls;
	CHECK_RC(gb_http_park(req, 0), 0);
	CHECK_RC(gb_http_park(req, 0), GB_EINVAL); /* parked already */
	pthread_mutex_lock(&mu);
	held = req;
	pthread_mutex_unlock(&mu);
	bump(&handled);
}

static void h_slow(void *cls, gb_http_request *req)
{
	(void)cls;
	CHECK_RC(gb_http_park(req, 100), 0);
	pthread_mutex_lock(&mu);
	held = req;
	pthread_mutex_unlock(&mu);
	bump(&handled);
}

static const gb_http_route routes[] = {
	{"GET", "/v1/datasets/{id}/records", h_records_get, NULL, 0},
	{"POST", "/v1/datasets/{id}/records", h_records_post, NULL, 0},
	{"POST", "/v1/echo", h_echo, NULL, 0},
	{"GET", "/v1/catalog", h_health, NULL, 0},
	{"GET", "/v1/health", h_health, NULL, GB_HTTP_ROUTE_OPEN},
	{"GET", "/v1/denied", h_denied, NULL, 0},
	{"GET", "/v1/noreply", h_noreply, NULL, 0},
	{"POST", "/v1/header", h_header, NULL, 0},
	{"GET", "/metrics", h_metrics, NULL, GB_HTTP_ROUTE_OPEN},
	{"GET", "/console/{file*}", h_asset, NULL, GB_HTTP_ROUTE_OPEN},
	{"POST", "/v1/datasets/{id}/async", h_async, NULL, 0},
	{"GET", "/v1/now", h_async_now, NULL, 0},
	{"GET", "/v1/hold", h_hold, NULL, 0},
	{"GET", "/v1/slow", h_slow, NULL, 0},
};

static gb_http_config base_config(const char *listen)
{
	gb_http_config c = {0};

	c.listen = listen;
	c.routes = routes;
	c.n_routes = sizeof routes / sizeof routes[0];
	c.auth_failed = on_auth_failed;
	c.completed = on_completed;
	c.log = quiet_log;
	return c;
}

static gb_http_server *start(const gb_http_config *c)
{
	gb_http_server *s = NULL;
	char why[300] = "";

	CHECK_RC(gb_http_server_new(c, &s, why, sizeof why), 0);
	if (!s)
		fprintf(stderr, "server: %s\n", why);
	return s;
}

/* The member `key` of a JSON body, as text ("" when absent). */
static const char *json_field(const char *body, const char *key,
			      char *out, size_t len)
{
	json_t *j = json_loads(body, 0, NULL), *v = j ? json_object_get(j, key)
						      : NULL;

	out[0] = '\0';
	if (json_is_string(v))
		snprintf(out, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, len, "%lld", (long long)json_integer_value(v));
	json_decref(j);
	return out;
}

/* One request on a new connection: check its status and that its body
 * contains `want` (unless NULL); say what came instead. */
static bool expect_reply(const char *sock, uint16_t port, const char *request,
			 unsigned status, const char *want)
{
	struct response r;
	bool ok = http_once(sock, port, request, &r) == 0 &&
		  r.status == status &&
		  (!want || (r.body && strstr(r.body, want)));

	if (!ok)
		fprintf(stderr, "wanted %u with \"%s\", got:\n%s%s\n", status,
			want ? want : "", r.head, r.body ? r.body : "");
	response_free(&r);
	return ok;
}

#define EXPECT(sock, port, request, status, want) \
	CHECK(expect_reply(sock, port, request, status, want))

/* --------------------------------------------------------------- tests */

/* A request with a Host header and Connection: close. */
#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

static void test_unix_routing(void)
{
	char sock[256], want[200], v[200];
	gb_http_config c;
	gb_http_server *s;
	struct response r;
	struct client cl;
	struct stat st;
	int before;

	snprintf(sock, sizeof sock, "%s/agent.sock", dir);
	c = base_config(sock);
	s = start(&c);
	if (!s)
		return;
	CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode) &&
	      (st.st_mode & 0777) == 0600);
	CHECK(gb_http_server_port(s) == 0);

	CHECK(http_once(sock, 0,
			GET("/v1/datasets/tax%2Einvoices/records?from=5&limit=10"),
			&r) == 0);
	CHECK(r.status == 200);
	CHECK_CONTAINS(r.head, "Content-Type: application/json");
	CHECK_CONTAINS(r.head, "Cache-Control: no-store");
	CHECK_CONTAINS(r.head, "X-Content-Type-Options: nosniff");
	CHECK_STR(json_field(r.body, "id", v, sizeof v), "tax.invoices");
	CHECK_STR(json_field(r.body, "from", v, sizeof v), "5");
	CHECK_STR(json_field(r.body, "limit", v, sizeof v), "10");
	CHECK_STR(json_field(r.body, "route", v, sizeof v),
		  "/v1/datasets/{id}/records");
	snprintf(want, sizeof want, "unix:uid=%u,pid=%d", (unsigned)getuid(),
		 (int)getpid());
	CHECK_STR(json_field(r.body, "peer", v, sizeof v), want);
	response_free(&r);

	/* query values out of range are answered by the helper */
	EXPECT(sock, 0, GET("/v1/datasets/a/records?limit=0"), 400,
	       "query parameter limit: expected a whole number from 1 to 1000");

	/* refused before the handler: a repeated key, a bad escape */
	before = handled;
	EXPECT(sock, 0, GET("/v1/datasets/a/records?from=1&from=2"), 400,
	       "\"code\":\"EINVAL\",\"status\":400,\"message\":\"query "
	       "parameter from given twice\"");
	EXPECT(sock, 0, GET("/v1/datasets/%FF/records"), 400, "UTF-8");
	CHECK(handled == before);

	EXPECT(sock, 0, GET("/v2/nothing"), 404,
	       "\"code\":\"ENOTFOUND\",\"status\":404");
	CHECK(http_once(sock, 0, "DELETE /v1/catalog HTTP/1.1\r\nHost: t\r\n"
				 "Connection: close\r\n\r\n", &r) == 0);
	CHECK(r.status == 405);
	CHECK_CONTAINS(r.head, "Allow: GET, HEAD\r\n");
	response_free(&r);

	/* the project's error codes map to statuses in one place */
	CHECK(http_once(sock, 0, GET("/v1/denied"), &r) == 0);
	CHECK(r.status == 403);
	CHECK_STR(r.body, "{\"code\":\"EPERM\",\"status\":403,\"message\":"
			  "\"not granted: health may not read tax.invoices\"}");
	response_free(&r);
	EXPECT(sock, 0, GET("/v1/noreply"), 500, "the handler gave no reply");

	/* staged headers; CR/LF cannot be smuggled into one */
	CHECK(http_once(sock, 0, "POST /v1/header HTTP/1.1\r\nHost: t\r\n"
				 "Content-Length: 0\r\nConnection: close\r\n\r\n",
			&r) == 0);
	CHECK(r.status == 201);
	CHECK_CONTAINS(r.head, "Location: /v1/datasets/x/records/7\r\n");
	CHECK(strstr(r.head, "Set-Cookie") == NULL);
	CHECK(header_rc == GB_EINVAL);
	response_free(&r);

	/* keep-alive: three requests, one connection, separate state */
	CHECK(client_open(&cl, sock, 0) == 0);
	CHECK(client_send_str(&cl, "GET /v1/datasets/one/records HTTP/1.1\r\n"
				   "Host: x\r\n\r\n") == 0);
	CHECK(client_read_response(&cl, &r) == 0);
	CHECK_STR(json_field(r.body, "id", v, sizeof v), "one");
	CHECK_STR(json_field(r.body, "from", v, sizeof v), "");
	response_free(&r);
	CHECK(client_send_str(&cl, "HEAD /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
				   "GET /v1/datasets/two/records?from=9 "
				   "HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
	/* HEAD: headers only, no body follows in the stream */
	CHECK(client_read_head(&cl) > 0);
	CHECK(strncmp(cl.buf, "HTTP/1.1 200", 12) == 0);
	client_consume(&cl, client_read_head(&cl));
	CHECK(client_read_response(&cl, &r) == 0);
	CHECK_STR(json_field(r.body, "id", v, sizeof v), "two");
	CHECK_STR(json_field(r.body, "from", v, sizeof v), "9");
	response_free(&r);
	client_close(&cl);

	/* the path is not taken while a server listens on it */
	{
		gb_http_server *second = NULL;
		char why[300];

		CHECK_RC(gb_http_server_new(&c, &second, why, sizeof why),
			 GB_EIO);
		CHECK_CONTAINS(why, "already listening");
		CHECK(second == NULL);
	}
	gb_http_server_destroy(&s);
	CHECK(s == NULL);
	CHECK(stat(sock, &st) != 0); /* the socket file is removed */
	gb_http_server_destroy(NULL);

	/* 0660 for a group of programs; a stale socket file is replaced */
	{
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		snprintf(sa.sun_path, sizeof sa.sun_path, "%.100s", sock);
		CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
		close(fd); /* bound, never listened: stale */
	}
	c.socket_mode = 0660;
	s = start(&c);
	CHECK(stat(sock, &st) == 0 && (st.st_mode & 0777) == 0660);
	EXPECT(sock, 0, GET("/v1/health"), 200, "{\"ok\":true}");
	gb_http_server_destroy(&s);

	/* any other file at the path is left alone; modes are checked */
	{
		gb_http_server *other = NULL;
		char why[300];
		int fd = open(sock, O_WRONLY | O_CREAT, 0600);

		close(fd);
		CHECK_RC(gb_http_server_new(&c, &other, why, sizeof why),
			 GB_EIO);
		CHECK_CONTAINS(why, "not a socket");
		CHECK(access(sock, F_OK) == 0);
		unlink(sock);
		c.socket_mode = 0644;
		CHECK_RC(gb_http_server_new(&c, &other, why, sizeof why),
			 GB_EINVAL);
		CHECK(other == NULL);
	}
}

static void test_auth(void)
{
	char sock[256], req[512], why[300];
	gb_http_token *token = NULL;
	gb_http_config c;
	gb_http_server *s;
	struct response r;
	bool created;
	int before_handled, before_failures;

	snprintf(sock, sizeof sock, "%s/auth.sock", dir);
	snprintf(req, sizeof req, "%s/http.token", dir);
	CHECK_RC(gb_http_token_load_or_create(req, &token, &created, why,
					      sizeof why),
		 0);
	if (!token)
		return;
	c = base_config(sock);
	c.token = token;
	s = start(&c);
	if (!s) {
		gb_http_token_destroy(&token);
		return;
	}
	before_handled = handled;
	before_failures = auth_failures;

	CHECK(http_once(sock, 0, GET("/v1/catalog"), &r) == 0);
	CHECK(r.status == 401);
	CHECK_CONTAINS(r.head, "WWW-Authenticate: Bearer realm=\"govbus\"\r\n");
	CHECK_CONTAINS(r.body, "\"code\":\"EAUTH\",\"status\":401");
	response_free(&r);
	CHECK(auth_failures == before_failures + 1);
	CHECK_STR(auth_reason, "no bearer token");
	CHECK_STR(auth_path, "/v1/catalog");
	CHECK_CONTAINS(auth_peer, "unix:uid=");

	EXPECT(sock, 0, "GET /v1/catalog HTTP/1.1\r\nHost: t\r\nAuthorization: "
			"Basic dXNlcjpwYXNz\r\nConnection: close\r\n\r\n",
	       401, NULL);
	CHECK_STR(auth_reason, "not a bearer token");

	CHECK(http_once(sock, 0, "GET /v1/catalog HTTP/1.1\r\nHost: t\r\n"
				 "Authorization: Bearer "
				 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"
				 "Connection: close\r\n\r\n",
			&r) == 0);
	CHECK(r.status == 401);
	CHECK_CONTAINS(r.head, "error=\"invalid_token\"");
	response_free(&r);
	CHECK_STR(auth_reason, "wrong bearer token");

	/* an unknown route is 401 too: nothing is said before the token */
	EXPECT(sock, 0, GET("/v9/secret"), 401, NULL);
	/* a body is not read without the token */
	EXPECT(sock, 0, "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10"
			"\r\nConnection: close\r\n\r\n",
	       401, NULL);
	CHECK(auth_failures == before_failures + 5);
	CHECK(handled == before_handled);

	snprintf(req, sizeof req, "GET /v1/catalog HTTP/1.1\r\nHost: t\r\n"
		 "Authorization: bearer %s\r\nConnection: close\r\n\r\n",
		 gb_http_token_text(token));
	EXPECT(sock, 0, req, 200, NULL);
	CHECK(handled == before_handled + 1);

	/* an open route needs no token */
	EXPECT(sock, 0, GET("/v1/health"), 200, NULL);
	CHECK(auth_failures == before_failures + 5);
	gb_http_server_destroy(&s);
	gb_http_token_destroy(&token);
}

static void test_bodies(void)
{
	static const char bad_json[] = "[\n  {\"a\": 1},\n  oops\n]";
	char sock[256], *big, req[512], v[64];
	gb_http_config c;
	gb_http_server *s;
	struct response r;
	struct client cl;
	int before;

	snprintf(sock, sizeof sock, "%s/body.sock", dir);
	c = base_config(sock);
	c.body_limit = 1024;
	s = start(&c);
	if (!s)
		return;
	big = malloc(4096);
	memset(big, 'x', 4096);
	before = handled;

	/* declared too large: 413 at once, the body is never sent or read */
	EXPECT(sock, 0, "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
			"1025\r\nConnection: close\r\n\r\n",
	       413, "{\"code\":\"ETOOBIG\",\"status\":413,\"message\":\"the "
		    "request body has 1025 bytes, more than the limit of 1024\"}");

	/* exactly the limit is fine, and arrives whole */
	CHECK(client_open(&cl, sock, 0) == 0);
	CHECK(client_send_str(&cl, "POST /v1/echo HTTP/1.1\r\nHost: t\r\n"
				   "Content-Length: 1024\r\nConnection: close"
				   "\r\n\r\n") == 0);
	CHECK(client_send(&cl, big, 1024) == 0);
	CHECK(client_read_response(&cl, &r) == 0);
	CHECK(r.status == 200 && r.body_len == 1024);
	CHECK(r.body && !memcmp(r.body, big, 1024));
	response_free(&r);
	client_close(&cl);
	CHECK(handled == before + 1);

	/* chunked, unknown length: counted while it streams in */
	CHECK(client_open(&cl, sock, 0) == 0);
	CHECK(client_send_str(&cl, "POST /v1/echo HTTP/1.1\r\nHost: t\r\n"
				   "Transfer-Encoding: chunked\r\nConnection: "
				   "close\r\n\r\n") == 0);
	for (int i = 0; i < 3; i++) {
		CHECK(client_send_str(&cl, "1F4\r\n") == 0); /* 500 bytes */
		CHECK(client_send(&cl, big, 500) == 0);
		CHECK(client_send_str(&cl, "\r\n") == 0);
	}
	CHECK(client_send_str(&cl, "0\r\n\r\n") == 0);
	CHECK(client_read_response(&cl, &r) == 0);
	CHECK(r.status == 413);
	CHECK_CONTAINS(r.body, "larger than the limit of 1024 bytes");
	response_free(&r);
	client_close(&cl);

	/* one that runs on far past the limit is cut off */
	CHECK(client_open(&cl, sock, 0) == 0);
	CHECK(client_send_str(&cl, "POST /v1/echo HTTP/1.1\r\nHost: t\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n") == 0);
	for (int i = 0; i < 8; i++)
		if (client_send_str(&cl, "1000\r\n") != 0 ||
		    client_send(&cl, big, 4096) != 0 ||
		    client_send_str(&cl, "\r\n") != 0)
			break;
	CHECK(client_read_response(&cl, &r) != 0); /* closed, no reply */
	response_free(&r);
	client_close(&cl);
	CHECK(handled == before + 1); /* the handler saw none of them */

	/* JSON: bad input says where */
	snprintf(req, sizeof req,
		 "POST /v1/datasets/d/records HTTP/1.1\r\nHost: t\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n%s",
		 strlen(bad_json), bad_json);
	CHECK(http_once(sock, 0, req, &r) == 0);
	CHECK(r.status == 400);
	CHECK_STR(json_field(r.body, "code", v, sizeof v), "EDECODE");
	CHECK_STR(json_field(r.body, "line", v, sizeof v), "3");
	CHECK_STR(json_field(r.body, "column", v, sizeof v), "6");
	CHECK_CONTAINS(r.body, "not valid JSON: line 3, column 6: invalid "
			       "token near 'oops'");
	response_free(&r);
	EXPECT(sock, 0, "POST /v1/datasets/d/records HTTP/1.1\r\nHost: t\r\n"
			"Content-Length: 13\r\nConnection: close\r\n\r\n"
			"{\"a\":1,\"a\":2}",
	       400, "duplicate");
	EXPECT(sock, 0, "POST /v1/datasets/d/records HTTP/1.1\r\nHost: t\r\n"
			"Content-Length: 0\r\nConnection: close\r\n\r\n",
	       400, "not valid JSON: line 1, column 0: ");
	EXPECT(sock, 0, "POST /v1/datasets/d/records HTTP/1.1\r\nHost: t\r\n"
			"Content-Length: 9\r\nConnection: close\r\n\r\n"
			"[1,2,{}]\n",
	       201, "\"count\":3");

	free(big);
	gb_http_server_destroy(&s);
}

static void test_listen_rules(void)
{
	gb_http_config c = base_config(NULL);
	gb_http_server *s = NULL;
	struct response r;
	char why[300], v[96];
	const char *malformed[] = {"localhost:80", "127.0.0.1", "127.0.0.1:",
				   "127.0.0.1:70000", "127.0.0.1:-1",
				   "[::1]80", "[::1:80", "::1:80", "1.2.3:80",
				   ""};
	gb_http_route bad = {"GET", "relative", h_health, NULL, 0};

	c.listen = "0.0.0.0:0";
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EPERM);
	CHECK_CONTAINS(why, "not a loopback address");
	c.listen = "[::]:0";
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EPERM);
	c.listen = "[::ffff:10.0.0.1]:0";
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EPERM);
	c.listen = "0.0.0.0:0";
	c.allow_public = true;
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EPERM);
	CHECK_CONTAINS(why, "needs a TLS certificate");
	c.allow_public = false;
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		c.listen = malformed[i];
		CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EINVAL);
	}
	c.listen = "127.0.0.1:0";
	c.body_limit = GB_HTTP_MAX_BODY_LIMIT + 1;
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EINVAL);
	c.body_limit = 0;
	c.routes = &bad;
	c.n_routes = 1;
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EINVAL);
	CHECK_CONTAINS(why, "route 0");
	CHECK(s == NULL);

	/* loopback TCP, a port picked by the kernel */
	c = base_config("127.0.0.1:0");
	s = start(&c);
	if (!s)
		return;
	CHECK(gb_http_server_port(s) != 0);
	CHECK(http_once(NULL, gb_http_server_port(s),
			GET("/v1/datasets/tcp/records"), &r) == 0);
	CHECK(r.status == 200);
	CHECK_CONTAINS(json_field(r.body, "peer", v, sizeof v), "127.0.0.1:");
	response_free(&r);
	{
		/* the port is taken while the server runs */
		char taken[32];
		gb_http_server *again = NULL;

		snprintf(taken, sizeof taken, "127.0.0.1:%u",
			 gb_http_server_port(s));
		c.listen = taken;
		CHECK_RC(gb_http_server_new(&c, &again, why, sizeof why),
			 GB_EIO);
		CHECK(again == NULL);
	}
	gb_http_server_destroy(&s);

	/* IPv6 loopback, where the machine has it */
	c = base_config("[::1]:0");
	if (gb_http_server_new(&c, &s, why, sizeof why) == 0) {
		CHECK(gb_http_server_port(s) != 0);
		gb_http_server_destroy(&s);
	} else {
		printf("note: no IPv6 loopback here (%s)\n", why);
	}
}

/* Run a command; its exit status (-1 when it could not run). */
static int run(const char *cmd)
{
	int st = system(cmd);

	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

/* curl a URL with extra arguments: the status, the body in `body`. */
static unsigned curl_get(const char *args, const char *url, char *body,
			 size_t len)
{
	char cmd[1024], out[256], code[16] = "";
	FILE *f;
	size_t n;

	snprintf(out, sizeof out, "%s/curl.out", dir);
	snprintf(cmd, sizeof cmd,
		 "%s -sS --max-time 30 %s -o '%s' -w '%%{http_code}' '%s' "
		 "2>/dev/null",
		 GB_TEST_CURL, args, out, url);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	n = fread(code, 1, sizeof code - 1, f);
	code[n] = '\0';
	pclose(f);
	body[0] = '\0';
	f = fopen(out, "r");
	if (f) {
		n = fread(body, 1, len - 1, f);
		body[n] = '\0';
		fclose(f);
	}
	unlink(out);
	return (unsigned)strtoul(code, NULL, 10);
}

/* A self-signed P-256 certificate for 127.0.0.1 and its key (0600). */
static int make_cert(const char *cert, const char *key)
{
	char cmd[1024];

	snprintf(cmd, sizeof cmd,
		 "%s req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout '%s' -out '%s' -days 2 -subj /CN=localhost "
		 "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
		 GB_TEST_OPENSSL, key, cert);
	return run(cmd) == 0 && chmod(key, 0600) == 0 ? 0 : -1;
}

static void test_tls(void)
{
	char cert[256], key[256], url[128], args[700], body[4096], why[300];
	char bad[256], other_cert[256], other_key[256], hdr[300];
	gb_http_token *token = NULL;
	gb_http_config c;
	gb_http_server *s = NULL;
	FILE *f;

	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	CHECK(make_cert(cert, key) == 0);
	CHECK_RC(gb_http_token_from_text("testtokentesttokentesttoken", &token),
		 0);

	c = base_config("127.0.0.1:0");
	c.tls_cert_file = cert;
	c.tls_key_file = key;
	c.token = token;
	s = start(&c);
	if (!s)
		goto out;
	snprintf(url, sizeof url, "https://127.0.0.1:%u/v1/health",
		 gb_http_server_port(s));
	snprintf(args, sizeof args, "--cacert '%s'", cert);
	CHECK(curl_get(args, url, body, sizeof body) == 200);
	CHECK_STR(body, "{\"ok\":true}");
	/* the token travels inside TLS */
	snprintf(url, sizeof url, "https://127.0.0.1:%u/v1/catalog",
		 gb_http_server_port(s));
	CHECK(curl_get(args, url, body, sizeof body) == 401);
	snprintf(hdr, sizeof hdr, "--cacert '%s' -H 'Authorization: Bearer %s'",
		 cert, gb_http_token_text(token));
	CHECK(curl_get(hdr, url, body, sizeof body) == 200);
	/* an untrusted certificate, and plain HTTP, do not get through */
	CHECK(curl_get("", url, body, sizeof body) != 200);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/health",
		 gb_http_server_port(s));
	CHECK(curl_get("", url, body, sizeof body) != 200);
	gb_http_server_destroy(&s);

	/* public, with TLS: allowed (reached here through 127.0.0.1) */
	c.listen = "0.0.0.0:0";
	c.allow_public = true;
	s = start(&c);
	if (s) {
		snprintf(url, sizeof url, "https://127.0.0.1:%u/v1/health",
			 gb_http_server_port(s));
		CHECK(curl_get(args, url, body, sizeof body) == 200);
		gb_http_server_destroy(&s);
	}

	/* the key is a secret: refused when others may read it */
	CHECK(chmod(key, 0644) == 0);
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EKEYFILE);
	CHECK_CONTAINS(why, "accessible by group or others");
	CHECK(chmod(key, 0600) == 0);

	/* a certificate that is not one (not PEM: GnuTLS 3.7.9 leaks a
	 * certificate object when PEM armour holds malformed DER) */
	snprintf(bad, sizeof bad, "%s/bad.pem", dir);
	f = fopen(bad, "w");
	if (f) {
		fputs("this is not a certificate\n", f);
		fclose(f);
	}
	c.tls_cert_file = bad;
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EKEYFILE);
	/* a key of another pair */
	snprintf(other_cert, sizeof other_cert, "%s/other.pem", dir);
	snprintf(other_key, sizeof other_key, "%s/other.key", dir);
	CHECK(make_cert(other_cert, other_key) == 0);
	c.tls_cert_file = cert;
	c.tls_key_file = other_key;
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EKEYFILE);
	CHECK_CONTAINS(why, "certificate/key pair");
	/* a key without a certificate */
	c.tls_cert_file = NULL;
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), GB_EINVAL);
	CHECK(s == NULL);
out:
	gb_http_token_destroy(&token);
}

/* curl as a real client on the Unix socket: a JSON POST of a few KiB. */
static void test_curl_unix(void)
{
	char sock[256], file[256], args[700], body[512], v[32];
	gb_http_config c;
	gb_http_server *s;
	FILE *f;

	snprintf(sock, sizeof sock, "%s/curl.sock", dir);
	snprintf(file, sizeof file, "%s/records.json", dir);
	f = fopen(file, "w");
	if (!f)
		return;
	fputc('[', f);
	for (int i = 0; i < 300; i++)
		fprintf(f, "%s{\"invoice\":%d,\"amount\":\"12.50\"}",
			i ? "," : "", i);
	fputs("]\n", f);
	fclose(f);
	c = base_config(sock);
	s = start(&c);
	if (!s)
		return;
	snprintf(args, sizeof args,
		 "--unix-socket '%s' -X POST -H 'Content-Type: application/json' "
		 "--data-binary '@%s'",
		 sock, file);
	CHECK(curl_get(args,
		       "http://localhost/v1/datasets/tax.invoices/records",
		       body, sizeof body) == 201);
	CHECK_STR(json_field(body, "count", v, sizeof v), "300");
	CHECK_STR(json_field(body, "id", v, sizeof v), "tax.invoices");
	gb_http_server_destroy(&s);
}

/* Take the request a /v1/hold or /v1/slow handler parked. */
static gb_http_request *take_held(void)
{
	gb_http_request *req;

	pthread_mutex_lock(&mu);
	req = held;
	held = NULL;
	pthread_mutex_unlock(&mu);
	CHECK(req != NULL);
	return req;
}

static void test_async(void)
{
	char sock[256];
	gb_http_config c;
	gb_http_server *s;
	struct response r;
	struct client cl;
	pthread_t worker;
	gb_http_request *req;
	int before;

	snprintf(sock, sizeof sock, "%s/async.sock", dir);
	c = base_config(sock);
	s = start(&c);
	if (!s)
		return;
	worker_stop = false;
	CHECK(pthread_create(&worker, NULL, worker_main, NULL) == 0);

	/* answered from the worker thread */
	for (int i = 0; i < 5; i++)
		EXPECT(sock, 0, "POST /v1/datasets/tax.invoices/async HTTP/1.1"
				"\r\nHost: t\r\nContent-Length: 0\r\n"
				"Connection: close\r\n\r\n",
		       200, "{\"acked\":true,\"offset\":7,\"id\":\"tax.invoices\"}");
	/* parked and answered inside the handler */
	EXPECT(sock, 0, GET("/v1/now"), 200, "{\"now\":true}");

	/* no answer in time: 504 from the module, the late one is refused */
	before = handled;
	EXPECT(sock, 0, GET("/v1/slow"), 504,
	       "\"code\":\"ETIMEOUT\",\"status\":504");
	CHECK(wait_count(&handled, before + 1));
	req = take_held();
	if (req)
		CHECK_RC(gb_http_reply_error(req, GB_EIO, "too late"),
			 GB_ECLOSED);

	/* the client hangs up while parked: the connection is closed (the
	 * request completes without a status) and the answer is refused */
	before = handled;
	{
		int done = hold_completions;

		CHECK(client_open(&cl, sock, 0) == 0);
		CHECK(client_send_str(&cl, "GET /v1/hold HTTP/1.1\r\n"
					   "Host: t\r\n\r\n") == 0);
		CHECK(wait_count(&handled, before + 1));
		client_close(&cl);
		CHECK(wait_count(&hold_completions, done + 1));
		CHECK(hold_status == 0);
	}
	req = take_held();
	if (req)
		CHECK_RC(gb_http_reply(req, 200, "text/plain", "x", 1),
			 GB_ECLOSED);

	/* the server stops with a request parked: 503, answer refused */
	before = handled;
	CHECK(client_open(&cl, sock, 0) == 0);
	CHECK(client_send_str(&cl, "GET /v1/hold HTTP/1.1\r\nHost: t\r\n\r\n") ==
	      0);
	CHECK(wait_count(&handled, before + 1));
	gb_http_server_destroy(&s);
	CHECK(client_read_response(&cl, &r) == 0);
	CHECK(r.status == 503);
	CHECK_CONTAINS(r.body, "\"code\":\"EUNAVAIL\"");
	response_free(&r);
	client_close(&cl);
	req = take_held();
	if (req) /* its server is gone: still safe, still refused */
		CHECK_RC(gb_http_reply(req, 200, "text/plain", "x", 1),
			 GB_ECLOSED);
	pthread_mutex_lock(&mu);
	worker_stop = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(worker, NULL);
}

static void test_assets_and_metrics(void)
{
	char sock[256], req[512], etag[80];
	gb_http_config c;
	gb_http_server *s;
	struct response r;
	gb_metric *f;
	char *text;
	size_t len;

	metrics = gb_metrics_new();
	CHECK_RC(gb_metrics_counter(metrics, "govbus_http_requests_total",
				    "HTTP requests.", NULL, 0, 1, &f),
		 0);
	gb_counter_add(gb_metric_series_get(f, NULL), 42);

	snprintf(sock, sizeof sock, "%s/assets.sock", dir);
	c = base_config(sock);
	s = start(&c);
	if (!s)
		return;
	CHECK(http_once(sock, 0, GET("/console/app.js"), &r) == 0);
	CHECK(r.status == 200);
	CHECK_CONTAINS(r.head, "Content-Type: text/javascript; charset=utf-8");
	CHECK_CONTAINS(r.head, "Cache-Control: no-cache");
	CHECK_STR(r.body, (const char *)app_js);
	CHECK(head_value(r.head, "ETag", etag, sizeof etag));
	CHECK(strlen(etag) == 34 && etag[0] == '"');
	response_free(&r);

	/* revalidation: 304 and no body */
	snprintf(req, sizeof req, "GET /console/app.js HTTP/1.1\r\nHost: t\r\n"
		 "If-None-Match: \"other\", W/%s\r\nConnection: close\r\n\r\n",
		 etag);
	CHECK(http_once(sock, 0, req, &r) == 0);
	CHECK(r.status == 304);
	CHECK(r.body_len == 0);
	response_free(&r);
	CHECK(http_once(sock, 0, GET("/console/app.3f2a.css"), &r) == 0);
	CHECK(r.status == 200);
	CHECK_CONTAINS(r.head, "Content-Type: text/css; charset=utf-8");
	CHECK_CONTAINS(r.head, "max-age=31536000, immutable");
	response_free(&r);
	EXPECT(sock, 0, GET("/console/missing.js"), 404, "no such file");

	CHECK(http_once(sock, 0, GET("/metrics"), &r) == 0);
	CHECK(r.status == 200);
	CHECK_CONTAINS(r.head, "Content-Type: text/plain; version=0.0.4; "
			       "charset=utf-8");
	CHECK_RC(gb_metrics_render(metrics, &text, &len), 0);
	CHECK_STR(r.body, text);
	CHECK_CONTAINS(r.body, "govbus_http_requests_total 42\n");
	free(text);
	response_free(&r);

	CHECK_STR(gb_http_content_type("a/b/index.HTML"),
		  "text/html; charset=utf-8");
	CHECK_STR(gb_http_content_type("font.woff2"), "font/woff2");
	CHECK_STR(gb_http_content_type("x.unknown"), "application/octet-stream");
	CHECK_STR(gb_http_content_type("dir.d/noext"),
		  "application/octet-stream");
	gb_http_server_destroy(&s);
	gb_metrics_destroy(&metrics);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_unix_routing();
	test_auth();
	test_bodies();
	test_listen_rules();
	test_tls();
	test_curl_unix();
	test_async();
	test_assets_and_metrics();
	gb_test_remove_dir(dir);
	TEST_EXIT();
}
