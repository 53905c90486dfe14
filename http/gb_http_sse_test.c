/* Tests of Server-Sent Events with a real server and a raw client: the
 * exact event text (ids, names, multi-line data), Last-Event-ID, real
 * back-pressure (a client that stops reading stops the producer being
 * pulled while the module's buffer stays within its bound, and nothing is
 * lost when it reads again), the producer told of a client that hangs up
 * (idle, and while blocked writing), heartbeats, the server stopping, and
 * a stream started from another thread for a parked request. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gb_http.h"
#include "gb_http_test_client.h"
#include "gb_test.h"

static char dir[] = "/tmp/gb_http_sse_test.XXXXXX";

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* The one producer of a test's stream. Fields under mu. */
struct producer {
	gb_http_sse *stream;
	int started, pulls, closes, refusals;
	int close_reason;
	uint64_t next_id, last_id;   /* pull mode: ids next_id..last_id */
	size_t event_bytes;          /* data bytes per generated event */
	size_t max_buffered, capacity;
	bool bound_broken;           /* buffered > capacity seen */
	bool pull_mode;              /* send from `ready` */
	uint64_t last_event_id;
	int last_event_rc;
};

static struct producer prod;

static bool wait_for(int *counter, int want)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CLIENT_WAIT_MS / 1000;
	pthread_mutex_lock(&mu);
	while (*counter < want &&
	       pthread_cond_timedwait(&cv, &mu, &until) == 0)
		;
	ok = *counter >= want;
	pthread_mutex_unlock(&mu);
	return ok;
}

/* Event data of a generated event: its id, padded. */
static size_t event_data(uint64_t id, size_t bytes, char *out)
{
	int n = snprintf(out, bytes + 1, "event %llu ", (unsigned long long)id);

	memset(out + n, 'p', bytes - (size_t)n);
	out[bytes] = '\0';
	return bytes;
}

/* Check the module's bound after a send; mu held. */
static void note_buffered(gb_http_sse *s)
{
	size_t b = gb_http_sse_buffered(s);

	if (b > prod.max_buffered)
		prod.max_buffered = b;
	if (b > gb_http_sse_capacity(s))
		prod.bound_broken = true;
}

static void on_ready(void *cls, gb_http_sse *s, size_t room)
{
	char data[4096];

	(void)cls;
	(void)room;
	pthread_mutex_lock(&mu);
	prod.pulls++;
	while (prod.pull_mode && prod.next_id <= prod.last_id) {
		size_t n = event_data(prod.next_id, prod.event_bytes, data);
		int rc = gb_http_sse_send(s, NULL, prod.next_id, data, n);

		note_buffered(s);
		if (rc == GB_EUNAVAIL) {
			prod.refusals++;
			break;
		}
		if (rc != 0)
			break;
		prod.next_id++;
		if (prod.next_id > prod.last_id)
			gb_http_sse_end(s);
	}
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void on_closed(void *cls, gb_http_sse *s, int reason)
{
	(void)cls;
	(void)s;
	pthread_mutex_lock(&mu);
	prod.close_reason = reason;
	prod.closes++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static const gb_http_sse_ops ops = {on_ready, on_closed, NULL};

static void h_stream(void *cls, gb_http_request *req)
{
	gb_http_sse *s = NULL;
	uint64_t id = 0;
	int rc = gb_http_last_event_id(req, &id);

	(void)cls;
	if (rc == GB_EINVAL)
		return; /* answered 400 */
	pthread_mutex_lock(&mu);
	prod.last_event_rc = rc;
	prod.last_event_id = id;
	pthread_mutex_unlock(&mu);
	CHECK_RC(gb_http_sse_start(req, &ops, &s), 0);
	pthread_mutex_lock(&mu);
	prod.stream = s;
	prod.capacity = s ? gb_http_sse_capacity(s) : 0;
	prod.started++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* The agent's flow: park, subscribe elsewhere, then stream. */
static gb_http_request *parked;
static int parks;

static void h_parked_stream(void *cls, gb_http_request *req)
{
	(void)cls;
	CHECK_RC(gb_http_park(req, 0), 0);
	pthread_mutex_lock(&mu);
	parked = req;
	parks++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static const gb_http_route routes[] = {
	{"GET", "/v1/datasets/{id}/events", h_stream, NULL, 0},
	{"GET", "/v1/later", h_parked_stream, NULL, 0},
};

static gb_http_server *start(const char *sock, size_t buffer,
			     unsigned heartbeat_ms)
{
	gb_http_config c = {0};
	gb_http_server *s = NULL;
	char why[300];

	c.listen = sock;
	c.routes = routes;
	c.n_routes = sizeof routes / sizeof routes[0];
	c.sse_buffer_bytes = buffer;
	c.sse_heartbeat_ms = heartbeat_ms;
	CHECK_RC(gb_http_server_new(&c, &s, why, sizeof why), 0);
	return s;
}

/* A fresh producer; with events, one that sends ids 1..events of
 * `bytes` data bytes each from `ready` (pulled), then ends. */
static void reset_producer(uint64_t events, size_t bytes)
{
	pthread_mutex_lock(&mu);
	memset(&prod, 0, sizeof prod);
	prod.pull_mode = events > 0;
	prod.next_id = 1;
	prod.last_id = events;
	prod.event_bytes = bytes;
	pthread_mutex_unlock(&mu);
}

/* Open a stream; the response head is consumed from the client. */
static int open_stream(struct client *c, const char *sock, const char *extra)
{
	char req[512];
	size_t head;

	snprintf(req, sizeof req, "GET /v1/datasets/tax.invoices/events "
		 "HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n%s\r\n",
		 extra);
	if (client_open(c, sock, 0) != 0 || client_send_str(c, req) != 0)
		return -1;
	head = client_read_head(c);
	if (!head)
		return -1;
	CHECK(strncmp(c->buf, "HTTP/1.1 200", 12) == 0);
	CHECK(strstr(c->buf, "Content-Type: text/event-stream\r\n") != NULL);
	CHECK(strstr(c->buf, "Cache-Control: no-store\r\n") != NULL);
	CHECK(strstr(c->buf, "Transfer-Encoding: chunked\r\n") != NULL);
	client_consume(c, head);
	return 0;
}

/* Read and decode the stream until `want` is in the text or it ends. */
static bool read_until(struct client *c, char **text, size_t *len,
		       const char *want)
{
	bool ended = false;

	for (;;) {
		ended = dechunk(c, text, len);
		if ((*text && strstr(*text, want)) || ended)
			return *text && strstr(*text, want);
		if (client_fill(c, CLIENT_WAIT_MS) <= 0)
			return false;
	}
}

/* Read and decode the stream to its end: true when it ended cleanly
 * (the last chunk came), false when the connection just closed. */
static bool read_to_end(struct client *c, char **text, size_t *len)
{
	for (;;) {
		if (dechunk(c, text, len))
			return true;
		if (client_fill(c, CLIENT_WAIT_MS) <= 0)
			return false;
	}
}

static void test_events(void)
{
	char sock[256];
	gb_http_server *srv;
	struct client c;
	char *text = NULL;
	size_t len = 0;
	gb_http_sse *s;
	char big[300];

	snprintf(sock, sizeof sock, "%s/events.sock", dir);
	reset_producer(0, 0);
	srv = start(sock, 256, 0);
	if (!srv)
		return;
	CHECK(open_stream(&c, sock, "Last-Event-ID: 41\r\n") == 0);
	CHECK(wait_for(&prod.started, 1) && wait_for(&prod.pulls, 1));
	CHECK(prod.last_event_rc == 0 && prod.last_event_id == 41);
	s = prod.stream;
	if (!s) {
		client_close(&c);
		gb_http_server_destroy(&srv);
		return;
	}
	/* sends from a thread of ours, as the agent's client loop would */
	CHECK_RC(gb_http_sse_send(s, NULL, 42, "{\"a\":1}", 7), 0);
	CHECK_RC(gb_http_sse_send(s, "record", 43, "line one\nline two\r\n"
				  "line three\rend", 33), 0);
	CHECK_RC(gb_http_sse_send(s, NULL, 44, "", 0), 0);
	CHECK(read_until(&c, &text, &len, "id: 44\n"));
	CHECK_STR(text, "id: 42\ndata: {\"a\":1}\n\n"
			"event: record\nid: 43\ndata: line one\ndata: line two\n"
			"data: line three\ndata: end\n\n"
			"id: 44\ndata: \n\n");

	/* refusals that queue nothing */
	CHECK_RC(gb_http_sse_send(s, "bad\nname", 45, "x", 1), GB_EINVAL);
	CHECK_RC(gb_http_sse_send(s, NULL, 45, "\xff", 1), GB_EINVAL);
	memset(big, 'x', sizeof big);
	CHECK_RC(gb_http_sse_send(s, NULL, 45, big, sizeof big), GB_ETOOBIG);
	CHECK(gb_http_sse_buffered(s) <= gb_http_sse_capacity(s));

	/* the producer ends: the chunked stream ends, `closed` says 0 */
	CHECK_RC(gb_http_sse_end(s), 0);
	CHECK(read_to_end(&c, &text, &len));
	CHECK(wait_for(&prod.closes, 1));
	CHECK(prod.close_reason == 0);
	CHECK_RC(gb_http_sse_send(s, NULL, 46, "x", 1), GB_ECLOSED);
	gb_http_sse_release(&prod.stream);
	CHECK(prod.stream == NULL);
	free(text);
	client_close(&c);

	/* a Last-Event-ID that is not one of ours is refused */
	{
		struct response r;
		CHECK(http_once(sock, 0, "GET /v1/datasets/x/events HTTP/1.1\r\n"
					 "Host: t\r\nLast-Event-ID: 12abc\r\n"
					 "Connection: close\r\n\r\n", &r) == 0);
		CHECK(r.status == 400);
		CHECK_CONTAINS(r.body, "Last-Event-ID");
		response_free(&r);
	}
	gb_http_server_destroy(&srv);
}

/* Wait until the producer has not been pulled for a while: the stream is
 * stalled. Polls in steps; false if it never settles. */
static bool wait_stalled(void)
{
	struct timespec step = {0, 200 * 1000 * 1000};
	int last = -1;

	for (int i = 0; i < 150; i++) {
		int pulls, refusals;
		pthread_mutex_lock(&mu);
		pulls = prod.pulls;
		refusals = prod.refusals;
		pthread_mutex_unlock(&mu);
		if (pulls == last && refusals > 0)
			return true;
		last = pulls;
		nanosleep(&step, NULL);
	}
	return false;
}

static void test_backpressure(void)
{
	enum { EVENTS = 4000, BYTES = 1000 };  /* ~4 MB, far past buffers */
	char sock[256], data[BYTES + 1], want[64];
	gb_http_server *srv;
	struct client c;
	char *text = NULL, *p;
	size_t len = 0;
	uint64_t produced;
	int pulls;

	snprintf(sock, sizeof sock, "%s/slow.sock", dir);
	reset_producer(EVENTS, BYTES);
	srv = start(sock, 8192, 0);
	if (!srv)
		return;
	CHECK(open_stream(&c, sock, "") == 0);
	/* the client reads nothing: the socket fills, libmicrohttpd stops
	 * pulling, the producer is refused and then not pulled again */
	CHECK(wait_stalled());
	pthread_mutex_lock(&mu);
	produced = prod.next_id - 1;
	pulls = prod.pulls;
	CHECK(!prod.bound_broken);
	CHECK(prod.max_buffered <= prod.capacity && prod.capacity == 8192);
	CHECK(prod.stream &&
	      gb_http_sse_buffered(prod.stream) <= gb_http_sse_capacity(prod.stream));
	pthread_mutex_unlock(&mu);
	CHECK(produced < EVENTS); /* held back, not buffered without bound */
	printf("stalled after %llu of %d events (%d pulls, %d refusals)\n",
	       (unsigned long long)produced, EVENTS, pulls, prod.refusals);

	/* the client reads again: the producer is pulled, nothing is lost */
	CHECK(read_until(&c, &text, &len, "id: 4000\n"));
	CHECK(wait_for(&prod.closes, 1));
	CHECK(prod.close_reason == 0);
	CHECK(prod.pulls > pulls);
	CHECK(!prod.bound_broken);
	p = text;
	for (uint64_t id = 1; p && id <= EVENTS; id++) {
		event_data(id, BYTES, data);
		snprintf(want, sizeof want, "id: %llu\ndata: ",
			 (unsigned long long)id);
		if (strncmp(p, want, strlen(want)) != 0 ||
		    strncmp(p + strlen(want), data, BYTES) != 0) {
			fprintf(stderr, "event %llu missing or out of order\n",
				(unsigned long long)id);
			CHECK(0);
			break;
		}
		p += strlen(want) + BYTES + 2;
	}
	CHECK(p && *p == '\0');
	gb_http_sse_release(&prod.stream);
	free(text);
	client_close(&c);
	gb_http_server_destroy(&srv);
}

static void test_hangups(void)
{
	char sock[256];
	gb_http_server *srv;
	struct client c;

	snprintf(sock, sizeof sock, "%s/hangup.sock", dir);
	srv = start(sock, 8192, 0);
	if (!srv)
		return;

	/* idle stream (suspended, waiting for events): the watcher sees the
	 * hang-up */
	reset_producer(0, 0);
	CHECK(open_stream(&c, sock, "") == 0);
	CHECK(wait_for(&prod.pulls, 1));
	client_close(&c);
	CHECK(wait_for(&prod.closes, 1));
	CHECK(prod.close_reason == GB_ECLOSED);
	CHECK(prod.stream &&
	      gb_http_sse_send(prod.stream, NULL, 1, "x", 1) == GB_ECLOSED);
	gb_http_sse_release(&prod.stream);

	/* a stream blocked on a client that does not read */
	reset_producer(100000, 1000);
	CHECK(open_stream(&c, sock, "") == 0);
	CHECK(wait_stalled());
	client_close(&c);
	CHECK(wait_for(&prod.closes, 1));
	CHECK(prod.close_reason == GB_ECLOSED);
	gb_http_sse_release(&prod.stream);

	/* released by its producer first: the stream ends, `closed` comes */
	reset_producer(0, 0);
	CHECK(open_stream(&c, sock, "") == 0);
	CHECK(wait_for(&prod.pulls, 1));
	pthread_mutex_lock(&mu);
	gb_http_sse *s = prod.stream;
	prod.stream = NULL;
	pthread_mutex_unlock(&mu);
	gb_http_sse_release(&s);
	{
		char *text = NULL;
		size_t len = 0;
		CHECK(read_to_end(&c, &text, &len));
		CHECK(text == NULL || strstr(text, "id:") == NULL);
		free(text);
	}
	CHECK(wait_for(&prod.closes, 1));
	CHECK(prod.close_reason == 0);
	client_close(&c);
	gb_http_server_destroy(&srv);
}

static void test_heartbeat_and_stop(void)
{
	char sock[256];
	gb_http_server *srv;
	struct client c;
	char *text = NULL;
	size_t len = 0;

	snprintf(sock, sizeof sock, "%s/beat.sock", dir);
	reset_producer(0, 0);
	srv = start(sock, 8192, 50);
	if (!srv)
		return;
	CHECK(open_stream(&c, sock, "") == 0);
	CHECK(read_until(&c, &text, &len, ":\n\n:\n\n")); /* two heartbeats */
	CHECK(prod.closes == 0);
	/* the server stops: the stream ends cleanly, `closed` says why */
	gb_http_server_destroy(&srv);
	CHECK(wait_for(&prod.closes, 1));
	CHECK(prod.close_reason == GB_EUNAVAIL);
	CHECK(read_to_end(&c, &text, &len)); /* ended cleanly */
	CHECK(prod.stream &&
	      gb_http_sse_send(prod.stream, NULL, 1, "x", 1) == GB_ECLOSED);
	gb_http_sse_release(&prod.stream); /* after its server: still safe */
	free(text);
	client_close(&c);
}

static void test_parked_start(void)
{
	char sock[256];
	gb_http_server *srv;
	struct client c;
	gb_http_request *req;
	gb_http_sse *s = NULL;
	char *text = NULL;
	size_t len = 0;

	snprintf(sock, sizeof sock, "%s/later.sock", dir);
	reset_producer(0, 0);
	srv = start(sock, 8192, 0);
	if (!srv)
		return;
	CHECK(client_open(&c, sock, 0) == 0);
	CHECK(client_send_str(&c, "GET /v1/later HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	CHECK(wait_for(&parks, 1));
	pthread_mutex_lock(&mu);
	req = parked;
	parked = NULL;
	pthread_mutex_unlock(&mu);
	/* from this thread, as the agent's client loop would once the broker
	 * has accepted the subscription */
	CHECK_RC(gb_http_sse_start(req, &ops, &s), 0);
	CHECK(s != NULL);
	CHECK(client_read_head(&c) > 0);
	CHECK(strstr(c.buf, "text/event-stream") != NULL);
	client_consume(&c, client_read_head(&c));
	if (s) {
		CHECK_RC(gb_http_sse_send(s, NULL, 7, "late", 4), 0);
		CHECK(read_until(&c, &text, &len, "id: 7\ndata: late\n\n"));
		gb_http_sse_release(&s);
	}
	CHECK(wait_for(&prod.closes, 1));
	free(text);
	client_close(&c);
	gb_http_server_destroy(&srv);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_events();
	test_backpressure();
	test_hangups();
	test_heartbeat_and_stop();
	test_parked_start();
	gb_test_remove_dir(dir);
	TEST_EXIT();
}
