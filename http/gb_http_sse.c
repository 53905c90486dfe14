/* Server-Sent Events streams; see gb_http.h for the contract and
 * gb_http_internal.h for the locking.
 *
 * A stream is a libmicrohttpd response of unknown size whose content
 * reader (sse_read) libmicrohttpd calls on the server thread when the
 * connection can send more. The reader copies from the stream's ring
 * buffer; with nothing to send it suspends the connection (so the server
 * thread neither spins nor blocks) and lists the stream for the watcher,
 * and a send, an end, a heartbeat, a hang-up or the server stopping
 * resumes it. Three holders keep a stream alive: the producer's handle,
 * the response (until libmicrohttpd frees it, which is when `closed` is
 * called) and, briefly, the watcher.
 *
 * Trust: event names and data come from our own callers, not clients, but
 * are still checked (no CR/LF in a name, UTF-8 data) because a stray
 * newline would let data forge fields of the event stream. */
#include "gb_http_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"
#include "gb_wire.h"

#define EVENT_NAME_MAX 64
#define HEARTBEAT ":\n\n"     /* a comment line and an empty line */

struct gb_http_sse {
	struct suspension susp;     /* while waiting for events */
	struct hub *hub;
	unsigned refs;              /* hub->mu */
	gb_http_sse_ops ops;
	struct MHD_Connection *conn;
	/* ring buffer; hub->mu */
	uint8_t *buf;
	size_t cap, head, len;
	unsigned heartbeat_ms;
	/* hub->mu */
	bool started;               /* start succeeded: `closed` will come */
	bool ended;                 /* the producer sends no more */
	bool gone;                  /* the client hung up */
	bool want_ready;            /* call `ready` when room appears */
	bool heartbeat_due;
	bool eos;                   /* end of stream handed to libmicrohttpd */
	bool completed_ok;          /* libmicrohttpd finished it cleanly */
	bool closed;
};

gb_http_sse *gb_http_sse_of(struct suspension *sp)
{
	return (gb_http_sse *)(void *)((char *)sp -
				       offsetof(gb_http_sse, susp));
}

void gb_http_sse_ref_locked(gb_http_sse *s)
{
	s->refs++;
}

void gb_http_sse_unref(gb_http_sse *s)
{
	struct hub *hub = s->hub;

	if (!gb_http_drop_ref(hub, &s->refs))
		return;
	free(s->buf);
	free(s);
	gb_http_hub_unref(hub);
}

/* Resume the connection if it waits for events; hub->mu held. */
static void wake_locked(gb_http_sse *s)
{
	if (!s->susp.listed)
		return;
	gb_http_suspension_remove(s->hub, &s->susp);
	MHD_resume_connection(s->conn);
}

void gb_http_sse_hangup_locked(gb_http_sse *s)
{
	if (!s->susp.listed)
		return;
	s->gone = true;
	wake_locked(s);
}

void gb_http_sse_heartbeat_locked(gb_http_sse *s)
{
	if (!s->susp.listed)
		return;
	s->heartbeat_due = true;
	wake_locked(s);
}

void gb_http_sse_stop_locked(gb_http_sse *s)
{
	wake_locked(s); /* the reader sees hub->stopping and ends */
}

void gb_http_sse_request_done(gb_http_sse *s, bool completed_ok)
{
	pthread_mutex_lock(&s->hub->mu);
	s->completed_ok = completed_ok;
	pthread_mutex_unlock(&s->hub->mu);
}

/* ---------------------------------------------------------------- ring */

static void ring_put(gb_http_sse *s, const void *data, size_t n)
{
	size_t tail = (s->head + s->len) % s->cap;
	size_t first = n < s->cap - tail ? n : s->cap - tail;

	memcpy(s->buf + tail, data, first);
	memcpy(s->buf, (const uint8_t *)data + first, n - first);
	s->len += n;
}

static size_t ring_take(gb_http_sse *s, char *out, size_t max)
{
	size_t n = s->len < max ? s->len : max;
	size_t first = n < s->cap - s->head ? n : s->cap - s->head;

	memcpy(out, s->buf + s->head, first);
	memcpy(out + first, s->buf, n - first);
	s->head = (s->head + n) % s->cap;
	s->len -= n;
	return n;
}

/* --------------------------------------------------------------- events */

/* Where an event's bytes go: counted, or written into the ring. */
struct sink {
	gb_http_sse *s;             /* NULL: count only */
	size_t n;
};

static void sink_put(struct sink *k, const void *p, size_t n)
{
	if (k->s)
		ring_put(k->s, p, n);
	k->n += n;
}

static void sink_str(struct sink *k, const char *str)
{
	sink_put(k, str, strlen(str));
}

/* The wire form of one event: event and id fields, one data field per
 * line (CR, LF and CRLF end lines), an empty line. */
static void event_emit(struct sink *k, const char *event, uint64_t id,
		       const uint8_t *data, size_t len)
{
	char idtext[32];
	size_t start = 0;

	if (event) {
		sink_str(k, "event: ");
		sink_str(k, event);
		sink_str(k, "\n");
	}
	snprintf(idtext, sizeof idtext, "id: %" PRIu64 "\n", id);
	sink_str(k, idtext);
	for (;;) {
		size_t end = start;

		while (end < len && data[end] != '\r' && data[end] != '\n')
			end++;
		sink_str(k, "data: ");
		sink_put(k, data + start, end - start);
		sink_str(k, "\n");
		if (end == len)
			break;
		if (data[end] == '\r' && end + 1 < len && data[end + 1] == '\n')
			end++;
		start = end + 1;
	}
	sink_str(k, "\n");
}

int gb_http_sse_send(gb_http_sse *s, const char *event, uint64_t id,
		     const void *data, size_t len)
{
	struct hub *hub = s->hub;
	struct sink count = {NULL, 0}, write = {s, 0};
	int rc = 0;

	if ((len && !data) ||
	    !gb_utf8_valid(data ? data : (const void *)"", len) ||
	    (event && (!event[0] || strlen(event) > EVENT_NAME_MAX ||
		       strpbrk(event, "\r\n") ||
		       !gb_utf8_valid((const uint8_t *)event, strlen(event)))))
		return GB_EINVAL;
	event_emit(&count, event, id, data ? data : (const void *)"", len);
	pthread_mutex_lock(&hub->mu);
	if (s->closed || s->ended || s->gone || hub->stopping) {
		rc = GB_ECLOSED;
	} else if (count.n > s->cap) {
		rc = GB_ETOOBIG;
	} else if (count.n > s->cap - s->len) {
		s->want_ready = true;
		rc = GB_EUNAVAIL;
	} else {
		event_emit(&write, event, id, data ? data : (const void *)"",
			   len);
		s->want_ready = true;
		wake_locked(s);
	}
	pthread_mutex_unlock(&hub->mu);
	return rc;
}

int gb_http_sse_end(gb_http_sse *s)
{
	int rc = 0;

	pthread_mutex_lock(&s->hub->mu);
	if (s->closed)
		rc = GB_ECLOSED;
	s->ended = true;
	wake_locked(s);
	pthread_mutex_unlock(&s->hub->mu);
	return rc;
}

size_t gb_http_sse_buffered(const gb_http_sse *s)
{
	size_t n;

	pthread_mutex_lock(&s->hub->mu);
	n = s->len;
	pthread_mutex_unlock(&s->hub->mu);
	return n;
}

size_t gb_http_sse_capacity(const gb_http_sse *s)
{
	return s->cap;
}

void gb_http_sse_release(gb_http_sse **sp)
{
	if (!sp || !*sp)
		return;
	(void)gb_http_sse_end(*sp);
	gb_http_sse_unref(*sp);
	*sp = NULL;
}

/* ------------------------------------------------ libmicrohttpd's side */

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	gb_http_sse *s = cls;
	struct hub *hub = s->hub;
	bool asked = false;

	(void)pos;
	pthread_mutex_lock(&hub->mu);
	for (;;) {
		size_t n, room;
		bool call_ready = false;

		if (s->gone) {
			pthread_mutex_unlock(&hub->mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (s->len) {
			n = ring_take(s, out, max);
			room = s->cap - s->len;
			if (s->want_ready && s->len <= s->cap / 2) {
				s->want_ready = false;
				call_ready = true;
			}
			pthread_mutex_unlock(&hub->mu);
			if (call_ready && s->ops.ready)
				s->ops.ready(s->ops.cls, s, room);
			return (ssize_t)n;
		}
		if (s->ended || hub->stopping) {
			s->eos = s->ended;
			pthread_mutex_unlock(&hub->mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (s->heartbeat_due && max >= sizeof HEARTBEAT - 1) {
			s->heartbeat_due = false;
			memcpy(out, HEARTBEAT, sizeof HEARTBEAT - 1);
			pthread_mutex_unlock(&hub->mu);
			return (ssize_t)(sizeof HEARTBEAT - 1);
		}
		if (!s->want_ready || asked || !s->ops.ready)
			break;
		/* pull: the producer may fill the buffer from `ready` */
		s->want_ready = false;
		asked = true;
		pthread_mutex_unlock(&hub->mu);
		s->ops.ready(s->ops.cls, s, s->cap);
		pthread_mutex_lock(&hub->mu);
	}
	/* Nothing to send: park the connection until a send, an end, a
	 * heartbeat, a hang-up or the server stopping wakes it. */
	s->susp.deadline_ms = gb_http_now_ms() + s->heartbeat_ms;
	MHD_suspend_connection(s->conn);
	gb_http_suspension_add(hub, &s->susp);
	pthread_mutex_unlock(&hub->mu);
	return 0;
}

/* libmicrohttpd is done with the response: the stream is over. */
static void sse_freed(void *cls)
{
	gb_http_sse *s = cls;
	struct hub *hub = s->hub;
	bool notify;
	int reason;

	pthread_mutex_lock(&hub->mu);
	gb_http_suspension_remove(hub, &s->susp);
	notify = s->started && !s->closed;
	s->closed = true;
	reason = s->eos && s->completed_ok ? 0
		 : hub->stopping	    ? GB_EUNAVAIL
					    : GB_ECLOSED;
	pthread_mutex_unlock(&hub->mu);
	if (notify && s->ops.closed)
		s->ops.closed(s->ops.cls, s, reason);
	gb_http_sse_unref(s);
}

int gb_http_sse_start(gb_http_request *req, const gb_http_sse_ops *ops,
		      gb_http_sse **out)
{
	struct hub *hub = req->hub;
	struct MHD_Response *resp;
	gb_http_sse *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof *s);
	if (s)
		s->buf = malloc(hub->sse_buffer_bytes);
	if (!s || !s->buf || !ops) {
		if (s)
			free(s->buf);
		free(s);
		(void)gb_http_answer(req, NULL, 0, NULL);
		return ops ? GB_ENOMEM : GB_EINVAL;
	}
	s->hub = hub;
	s->ops = *ops;
	s->conn = req->conn;
	s->cap = hub->sse_buffer_bytes;
	s->heartbeat_ms = hub->sse_heartbeat_ms;
	s->susp.kind = SUSPENDED_STREAM;
	s->susp.fd = req->susp.fd;
	s->want_ready = true;
	s->started = true;
	s->refs = 2; /* the producer's handle and the response */
	pthread_mutex_lock(&hub->mu);
	hub->refs++;
	pthread_mutex_unlock(&hub->mu);

	/* The block size only sizes a buffer libmicrohttpd keeps for
	 * responses of known length; chunked replies use the connection's. */
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024,
						 sse_read, s, sse_freed);
	if (!resp) {
		s->refs = 1;
		gb_http_sse_unref(s);
		(void)gb_http_answer(req, NULL, 0, NULL);
		return GB_ENOMEM;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/event-stream") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				    "no-store") != MHD_YES ||
	    /* proxies such as nginx must not hold events back */
	    MHD_add_response_header(resp, "X-Accel-Buffering", "no") !=
		    MHD_YES ||
	    gb_http_apply_reply_headers(req, resp) != 0) {
		rc = GB_ENOMEM;
		(void)gb_http_answer(req, NULL, 0, NULL);
		goto fail;
	}
	rc = gb_http_answer(req, resp, 200, s);
	if (rc == 0) {
		*out = s;
		return 0;
	}
fail:
	/* never started: freeing the response must not call `closed` */
	pthread_mutex_lock(&hub->mu);
	s->started = false;
	pthread_mutex_unlock(&hub->mu);
	MHD_destroy_response(resp); /* drops the response's hold */
	gb_http_sse_unref(s);
	return rc;
}
