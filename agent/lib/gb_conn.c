/* The agent's connection to the broker; see gb_conn.h.
 *
 * Trust: frames come from a peer that passed the CURVE handshake with the
 * broker key pinned in the agent config, but are still decoded by gb_codec
 * with its limits, and a frame that does not decode ends the connection
 * with a clear error rather than being guessed at. Broker sentences are
 * copied bounded (GB_MAX_MESSAGE_LEN, enforced by the codec). */
#include "gb_conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "gb_agent_internal.h"

#define SOCKET_HWM 100000

struct gb_conn {
	void *ctx;
	void *sock;
	char *endpoint;
	uint8_t broker_box_pk[GB_BOX_PK_BYTES];
	const gb_identity *id;
	char agent_name[GB_MAX_NAME_LEN + 1];
	unsigned timeout_ms, ping_ms;
	volatile sig_atomic_t *interrupted;
	bool connected_once;
	uint64_t instance;
	uint32_t max_frame;
	uint64_t ping_nonce;          /* last nonce sent */
	uint64_t pong_nonce;          /* last nonce answered */
	int64_t last_sent_ms;
	int64_t awaiting_since_ms;    /* first unanswered send, 0: none */
	bool need_rebuild;
	char rebuild_reason[128];
	char error[GB_AGENT_ERROR_MAX];
	unsigned error_status;
};

/* ---------------------------------------------------------------- errors */

static int conn_fail(gb_conn *k, int rc, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int conn_fail(gb_conn *k, int rc, unsigned status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(k->error, sizeof k->error, fmt, ap);
	va_end(ap);
	k->error_status = status;
	return rc;
}

const char *gb_conn_error(const gb_conn *k)
{
	return k->error;
}

unsigned gb_conn_error_status(const gb_conn *k)
{
	return k->error_status;
}

/* ---------------------------------------------------------------- lifecycle */

int gb_conn_new(const gb_conn_params *p, gb_conn **out, char *why,
		size_t why_len)
{
	gb_conn *k;

	*out = NULL;
	if (!zmq_has("curve"))
		return gb_why(why, why_len, GB_EIO,
			      "this libzmq was built without CURVE");
	k = calloc(1, sizeof *k);
	if (!k || !(k->endpoint = strdup(p->endpoint))) {
		free(k);
		return gb_why(why, why_len, GB_ENOMEM, "out of memory");
	}
	memcpy(k->broker_box_pk, p->broker_box_pk, GB_BOX_PK_BYTES);
	k->id = p->id;
	snprintf(k->agent_name, sizeof k->agent_name, "%s", p->agent_name);
	k->timeout_ms = p->timeout_ms;
	k->ping_ms = p->ping_ms;
	k->interrupted = p->interrupted;
	k->max_frame = GB_MAX_FRAME;
	k->ctx = zmq_ctx_new();
	if (!k->ctx) {
		int rc = gb_why(why, why_len, GB_EIO, "cannot create a ZeroMQ "
				"context: %s", zmq_strerror(errno));
		gb_conn_destroy(&k, 0);
		return rc;
	}
	*out = k;
	return 0;
}

static void socket_close(gb_conn *k, int linger_ms)
{
	if (!k->sock)
		return;
	zmq_setsockopt(k->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
	zmq_close(k->sock);
	k->sock = NULL;
}

void gb_conn_destroy(gb_conn **kp, int linger_ms)
{
	gb_conn *k;

	if (!kp || !*kp)
		return;
	k = *kp;
	socket_close(k, linger_ms);
	if (k->ctx)
		zmq_ctx_term(k->ctx);
	free(k->endpoint);
	free(k);
	*kp = NULL;
}

/* ---------------------------------------------------------------- socket */

void gb_conn_schedule_rebuild(gb_conn *k, const char *reason)
{
	if (k->need_rebuild)
		return;
	k->need_rebuild = true;
	snprintf(k->rebuild_reason, sizeof k->rebuild_reason, "%s", reason);
}

const char *gb_conn_rebuild_reason(const gb_conn *k)
{
	return k->need_rebuild ? k->rebuild_reason : "";
}

bool gb_conn_up(const gb_conn *k)
{
	return k->sock && !k->need_rebuild;
}

uint32_t gb_conn_max_frame(const gb_conn *k)
{
	return k->max_frame;
}

/* Build a fresh DEALER with CURVE client keys and connect it.
 *
 * ZeroMQ's own reconnection is off: after a broker crash it would deliver
 * frames still queued for the dead connection to the new broker, which
 * could store batch k+1 while k died with the old connection, leaving k's
 * seq unstorable. Every way back to a broker goes through a handshake,
 * after which the client re-sends unacknowledged batches in seq order. */
static int socket_open(gb_conn *k)
{
	int zero = 0, hwm = SOCKET_HWM, no_reconnect = -1;
	int64_t maxmsg = GB_MAX_FRAME;
	void *s = zmq_socket(k->ctx, ZMQ_DEALER);

	if (!s)
		return conn_fail(k, GB_EIO, 0, "cannot create a ZeroMQ "
				 "socket: %s", zmq_strerror(errno));
	if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, k->broker_box_pk,
			   GB_BOX_PK_BYTES) ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, gb_identity_box_pk(k->id),
			   GB_BOX_PK_BYTES) ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, gb_identity_box_sk(k->id),
			   GB_BOX_SK_BYTES) ||
	    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
	    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) ||
	    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &no_reconnect,
			   sizeof no_reconnect) ||
	    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
	    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm)) {
		int e = errno;
		zmq_close(s);
		return conn_fail(k, GB_EIO, 0, "cannot set up CURVE on the "
				 "socket: %s", zmq_strerror(e));
	}
	if (zmq_connect(s, k->endpoint) != 0) {
		int e = errno;
		zmq_close(s);
		return conn_fail(k, GB_EINVAL, 0, "cannot connect to %.256s: %s",
				 k->endpoint, zmq_strerror(e));
	}
	k->sock = s;
	return 0;
}

/* Wait up to `ms` for `events` on the socket. Returns 1 when ready, 0 on
 * timeout or EINTR (the caller's loop checks for an interrupt), -1 on a
 * ZeroMQ error. */
static int socket_poll(gb_conn *k, short events, long ms)
{
	zmq_pollitem_t item = {k->sock, 0, events, 0};
	int rc = zmq_poll(&item, 1, ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -1;
	return rc > 0 && (item.revents & events) ? 1 : 0;
}

int gb_conn_poll(gb_conn *k, long ms)
{
	if (socket_poll(k, ZMQ_POLLIN, ms) < 0)
		return conn_fail(k, GB_EIO, 0, "ZeroMQ poll failed: %s",
				 zmq_strerror(errno));
	return 0;
}

void gb_conn_send(gb_conn *k, const uint8_t *buf, size_t len)
{
	if (!gb_conn_up(k))
		return; /* the client re-sends what matters after a handshake */
	for (;;) {
		if (zmq_send(k->sock, buf, len, ZMQ_DONTWAIT) >= 0) {
			k->last_sent_ms = gb_agent_now_ms();
			if (!k->awaiting_since_ms)
				k->awaiting_since_ms = k->last_sent_ms;
			return;
		}
		if (errno == EINTR)
			continue;
		/* With high-water marks far above what we keep in flight,
		 * EAGAIN means the DEALER has no connection left. */
		gb_conn_schedule_rebuild(k, errno == EAGAIN
						    ? "the connection was lost"
						    : "a frame could not be sent");
		return;
	}
}

/* Encode and send one of the connection's own frames (Hello, Ping). */
static int send_frame(gb_conn *k, const gb_client_frame *frame)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = gb_codec_client_encode(frame, &buf, &len);

	if (rc != 0)
		return conn_fail(k, rc, 0, "out of memory encoding a frame");
	gb_conn_send(k, buf, len);
	free(buf);
	return 0;
}

uint64_t gb_conn_ping(gb_conn *k)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Ping ping = GOVBUS__V1__PING__INIT;

	ping.nonce = ++k->ping_nonce;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PING;
	f.ping = &ping;
	(void)send_frame(k, &f);
	return ping.nonce;
}

uint64_t gb_conn_pong(const gb_conn *k)
{
	return k->pong_nonce;
}

int gb_conn_recv(gb_conn *k, gb_server_frame **out)
{
	zmq_msg_t msg;
	char why[256];
	int rc;

	*out = NULL;
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, k->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&msg);
		return 0;
	}
	k->awaiting_since_ms = 0;
	rc = gb_codec_server_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), out,
				    why, sizeof why);
	zmq_msg_close(&msg);
	if (rc != 0)
		return conn_fail(k, GB_EPROTO, 0,
				 "the broker sent a frame that does not "
				 "decode (%s)",
				 why);
	return 1;
}

void gb_conn_liveness(gb_conn *k, const gb_server_frame *frame)
{
	switch (frame->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_WELCOME:
		if (frame->welcome->instance != k->instance)
			gb_conn_schedule_rebuild(k, "the broker restarted");
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_PONG:
		if (frame->pong->instance != k->instance)
			gb_conn_schedule_rebuild(k, "the broker restarted");
		else if (frame->pong->nonce > k->pong_nonce &&
			 frame->pong->nonce <= k->ping_nonce)
			k->pong_nonce = frame->pong->nonce;
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------- timers */

void gb_conn_check_silence(gb_conn *k, int64_t now_ms)
{
	char why[96];

	if (k->need_rebuild || !k->awaiting_since_ms ||
	    now_ms - k->awaiting_since_ms < (int64_t)k->timeout_ms)
		return;
	snprintf(why, sizeof why, "no answer for %g s", k->timeout_ms / 1000.0);
	gb_conn_schedule_rebuild(k, why);
}

int64_t gb_conn_keepalive(gb_conn *k, int64_t now_ms)
{
	int64_t due;

	if (now_ms - k->last_sent_ms >= (int64_t)k->ping_ms)
		(void)gb_conn_ping(k);
	due = k->last_sent_ms + k->ping_ms;
	if (k->awaiting_since_ms &&
	    k->awaiting_since_ms + (int64_t)k->timeout_ms < due)
		due = k->awaiting_since_ms + k->timeout_ms;
	return due;
}

/* ---------------------------------------------------------------- handshake */

/* Adopt a Welcome: the caller's checks first, then the instance and the
 * frame limit. Sets *restarted when the instance changed. */
static int adopt_welcome(gb_conn *k, const Govbus__V1__Welcome *w,
			 gb_conn_welcome_fn on_welcome, void *arg,
			 bool *restarted)
{
	int rc = on_welcome ? on_welcome(arg, w) : 0;

	if (rc != 0)
		return rc;
	*restarted = k->connected_once && w->instance != k->instance;
	k->instance = w->instance;
	k->max_frame = w->max_frame && w->max_frame < GB_MAX_FRAME
			       ? w->max_frame
			       : GB_MAX_FRAME;
	k->connected_once = true;
	return 0;
}

/* Send Hello on the current socket and wait for Welcome until `until`.
 * GB_ETIMEOUT (no sentence) when none came. */
static int hello_once(gb_conn *k, int64_t until, gb_conn_welcome_fn on_welcome,
		      void *arg, bool *restarted)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Hello hello = GOVBUS__V1__HELLO__INIT;
	int rc;

	hello.protocol = 1;
	hello.agent = k->agent_name;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_HELLO;
	f.hello = &hello;
	rc = send_frame(k, &f);
	if (rc != 0)
		return rc;
	for (;;) {
		gb_server_frame *frame = NULL;
		int64_t now = gb_agent_now_ms();

		if (k->interrupted && *k->interrupted) {
			*k->interrupted = 0;
			return conn_fail(k, GB_ECLOSED, 0, "interrupted");
		}
		if (k->need_rebuild || now >= until)
			return GB_ETIMEOUT;
		if (socket_poll(k, ZMQ_POLLIN, (long)(until - now)) < 0)
			return conn_fail(k, GB_EIO, 0, "ZeroMQ poll failed: %s",
					 zmq_strerror(errno));
		while ((rc = gb_conn_recv(k, &frame)) == 1) {
			switch (frame->body_case) {
			case GOVBUS__V1__SERVER_FRAME__BODY_WELCOME:
				rc = adopt_welcome(k, frame->welcome,
						   on_welcome, arg, restarted);
				gb_codec_server_free(&frame);
				return rc;
			case GOVBUS__V1__SERVER_FRAME__BODY_ERROR:
				if (!frame->error->request_id &&
				    !frame->error->subscription_id) {
					const Govbus__V1__Error *e = frame->error;
					rc = conn_fail(k,
						       gb_error_from_status(e->status),
						       e->status, "%s",
						       e->message);
					gb_codec_server_free(&frame);
					return rc;
				}
				break;
			default:
				break; /* the socket is new: nothing else is ours */
			}
			gb_codec_server_free(&frame);
		}
		if (rc < 0)
			return rc;
	}
}

/* With ZeroMQ's own reconnection off, a socket makes one connection
 * attempt, so a refused or dropped attempt is retried here with a fresh
 * socket, 100 ms apart at first, doubling to 1 s (a slow handshake gets
 * longer each time). */
static int handshake(gb_conn *k, int64_t deadline_ms,
		     gb_conn_welcome_fn on_welcome, void *arg, bool *restarted)
{
	int64_t deadline = gb_agent_now_ms() + k->timeout_ms, step = 100;
	int rc;

	if (deadline_ms >= 0 && deadline_ms < deadline)
		deadline = deadline_ms;
	for (;;) {
		int64_t until = gb_agent_now_ms() + step;

		socket_close(k, 0);
		k->need_rebuild = false; /* lets Hello through */
		rc = socket_open(k);
		if (rc != 0)
			return rc;
		if (until > deadline)
			until = deadline;
		rc = hello_once(k, until, on_welcome, arg, restarted);
		if (rc == 0) {
			k->last_sent_ms = gb_agent_now_ms();
			k->awaiting_since_ms = 0;
			return 0;
		}
		if (rc != GB_ETIMEOUT)
			return rc;
		if (gb_agent_now_ms() >= deadline)
			break;
		if (gb_agent_now_ms() < until) /* failed at once: do not spin */
			zmq_poll(NULL, 0, (long)(until - gb_agent_now_ms()));
		step = step * 2 < 1000 ? step * 2 : 1000;
	}
	return conn_fail(
		k, GB_ETIMEOUT, 0,
		"broker at %.256s did not answer within %g s (is it running? is "
		"the broker public_key right? is this department's key "
		"registered? a refused CURVE handshake looks like silence to "
		"the agent)",
		k->endpoint, k->timeout_ms / 1000.0);
}

int gb_conn_handshake(gb_conn *k, int64_t deadline_ms,
		      gb_conn_welcome_fn on_welcome, void *arg,
		      bool *restarted)
{
	int rc;

	*restarted = false;
	rc = handshake(k, deadline_ms, on_welcome, arg, restarted);
	if (rc != 0)
		k->need_rebuild = true; /* down until a handshake succeeds; the
					   reason given before is kept */
	return rc;
}
