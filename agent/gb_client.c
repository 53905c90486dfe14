/* The agent's connection to the broker: socket setup under CURVE, the
 * Hello/Welcome handshake, the dispatch loop that hands frames to
 * publishers and subscriptions, pings, and reconnection (DESIGN §13).
 *
 * Trust: frames come from a peer that passed the CURVE handshake with the
 * broker key pinned in our config, but are still decoded by gb_codec with
 * its limits, and a frame that does not decode ends the connection with a
 * clear error rather than being guessed at. Broker sentences are copied
 * bounded (GB_MAX_MESSAGE_LEN, enforced by the codec).
 *
 * Connection states: DOWN (no socket) -> HELLO (socket built, Hello sent,
 * waiting for Welcome) -> UP. UP -> HELLO again when the broker is silent
 * for the timeout, a send cannot complete, or a Pong/Welcome carries a new
 * broker instance; a broker Error about the connection itself is fatal. */
#include "gb_agent_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "gb_keyring.h"

#define DEFAULT_PING_MS 1000u
#define DEFAULT_GIVE_UP_MS 60000u
#define SOCKET_HWM 100000
#define FRAMES_PER_WAKE 1024
#define CLOSE_LINGER_MS 1000
/* How long a key request may go unanswered while the connection is alive. */
#define REQUEST_TIMEOUT_MIN_MS 30000

struct position {
	char dataset[GB_MAX_ID_LEN + 1];
	uint64_t last_seq;
};

/* A KeyFetch or KeyUpload waiting for its answer (KeyInfo, KeyUploadAck or
 * Error with the same request_id). */
struct key_request {
	struct key_request *next;
	uint64_t id;
	uint8_t *frame;               /* encoded, re-sent after a reconnect */
	size_t frame_len;
	gb_server_frame *answer;      /* NULL until answered */
};

/* A dataset the broker asked this owner to do key work for (a KeyInfo with
 * request_id 0). Only the name is kept: the work starts with a fresh fetch,
 * so a stale push can do no harm. */
struct key_push {
	struct key_push *next;
	char dataset[GB_MAX_ID_LEN + 1];
};

struct gb_client {
	gb_agent_config *cfg;         /* private copy */
	gb_identity *id;
	gb_client_options opts;
	char agent_name[GB_MAX_NAME_LEN + 1];
	void *ctx;
	void *sock;
	bool connected_once;
	uint64_t instance;
	uint32_t max_frame;
	struct position *pos;
	size_t pos_count, pos_cap;
	uint64_t next_request_id;
	uint64_t next_subscription_id;
	uint64_t ping_nonce;          /* last nonce sent */
	uint64_t pong_nonce;          /* last nonce answered */
	int64_t last_sent_ms;
	/* First send not yet followed by any frame from the broker (0: none).
	 * Silence is measured from here, not from the last frame heard, so a
	 * caller that spent minutes outside the library (reading its input)
	 * does not mistake its own absence for the broker's. */
	int64_t awaiting_since_ms;
	bool need_reconnect;
	int64_t reconnect_since_ms;   /* first failed attempt, 0 if none */
	char reconnect_reason[128];
	int fatal;                    /* sticky connection-level error */
	char last_error[GB_AGENT_ERROR_MAX];
	unsigned last_status;
	gb_publisher *pubs;
	gb_subscription *subs;
	uint64_t reconnects;
	struct key_request *requests;
	struct key_push *pushes;
	gb_keyring *keys;
	volatile sig_atomic_t interrupted;
	gb_client_frame_hook frame_hook; /* audit (issue 4) */
	void *frame_hook_arg;
};

/* ---------------------------------------------------------------- time */

int64_t gb_agent_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t gb_agent_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- errors */

static void vset_error(gb_client *c, int rc, unsigned status, const char *fmt,
		       va_list ap) __attribute__((format(printf, 4, 0)));

static void vset_error(gb_client *c, int rc, unsigned status, const char *fmt,
		       va_list ap)
{
	vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
	c->last_status = status ? status : gb_error_status(rc);
}

int gb_client_fail(gb_client *c, int rc, unsigned status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset_error(c, rc, status, fmt, ap);
	va_end(ap);
	return rc;
}

const char *gb_client_last_error(const gb_client *c)
{
	return c->last_error;
}

unsigned gb_client_last_status(const gb_client *c)
{
	return c->last_status;
}

int gb_client_error(const gb_client *c)
{
	return c->fatal;
}

/* ---------------------------------------------------------------- accessors */

const char *gb_client_dept(const gb_client *c)
{
	return c->cfg->dept;
}

uint64_t gb_client_reconnects(const gb_client *c)
{
	return c->reconnects;
}

const gb_identity *gb_client_identity(const gb_client *c)
{
	return c->id;
}

const gb_agent_config *gb_client_config(const gb_client *c)
{
	return c->cfg;
}

unsigned gb_client_timeout_ms(const gb_client *c)
{
	return c->opts.timeout_ms;
}

uint32_t gb_client_max_frame(const gb_client *c)
{
	return c->max_frame;
}

uint64_t gb_client_next_request_id(gb_client *c)
{
	return ++c->next_request_id;
}

uint64_t gb_client_next_subscription_id(gb_client *c)
{
	return ++c->next_subscription_id;
}

void gb_client_interrupt(gb_client *c)
{
	c->interrupted = 1;
}

/* audit (issue 4): see gb_agent_internal.h. */
void gb_client_set_frame_hook(gb_client *c, gb_client_frame_hook hook,
			      void *arg)
{
	c->frame_hook = hook;
	c->frame_hook_arg = arg;
}

void gb_client_emit(gb_client *c, const gb_event *ev)
{
	if (c->opts.on_event)
		c->opts.on_event(c->opts.event_arg, ev);
}

void gb_client_options_init(gb_client_options *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->ping_ms = DEFAULT_PING_MS;
	opts->give_up_ms = DEFAULT_GIVE_UP_MS;
}

/* ---------------------------------------------------------------- positions */

static struct position *position_find(const gb_client *c, const char *dataset)
{
	for (size_t i = 0; i < c->pos_count; i++)
		if (!strcmp(c->pos[i].dataset, dataset))
			return &c->pos[i];
	return NULL;
}

uint64_t gb_client_position(const gb_client *c, const char *dataset)
{
	const struct position *p = position_find(c, dataset);
	return p ? p->last_seq : 0;
}

/* Raise the known last seq of `dataset` to `seq` (never lowers it). */
int gb_client_set_position(gb_client *c, const char *dataset, uint64_t seq)
{
	struct position *p = position_find(c, dataset);

	if (!p) {
		if (c->pos_count == c->pos_cap) {
			size_t cap = c->pos_cap ? c->pos_cap * 2 : 8;
			struct position *np = realloc(c->pos, cap * sizeof *np);
			if (!np)
				return GB_ENOMEM;
			c->pos = np;
			c->pos_cap = cap;
		}
		p = &c->pos[c->pos_count++];
		snprintf(p->dataset, sizeof p->dataset, "%s", dataset);
		p->last_seq = 0;
	}
	if (seq > p->last_seq)
		p->last_seq = seq;
	return 0;
}

/* ---------------------------------------------------------------- registry */

void gb_client_add_publisher(gb_client *c, gb_publisher *p)
{
	gb_publisher_set_list_next(p, c->pubs);
	c->pubs = p;
}

void gb_client_remove_publisher(gb_client *c, gb_publisher *p)
{
	if (c->pubs == p) {
		c->pubs = gb_publisher_list_next(p);
		return;
	}
	for (gb_publisher *q = c->pubs; q; q = gb_publisher_list_next(q))
		if (gb_publisher_list_next(q) == p) {
			gb_publisher_set_list_next(q, gb_publisher_list_next(p));
			return;
		}
}

gb_publisher *gb_client_find_publisher(gb_client *c, const char *dataset)
{
	for (gb_publisher *p = c->pubs; p; p = gb_publisher_list_next(p))
		if (!strcmp(gb_publisher_dataset(p), dataset))
			return p;
	return NULL;
}

void gb_client_add_subscription(gb_client *c, gb_subscription *s)
{
	gb_subscription_set_list_next(s, c->subs);
	c->subs = s;
}

void gb_client_remove_subscription(gb_client *c, gb_subscription *s)
{
	if (c->subs == s) {
		c->subs = gb_subscription_list_next(s);
		return;
	}
	for (gb_subscription *q = c->subs; q; q = gb_subscription_list_next(q))
		if (gb_subscription_list_next(q) == s) {
			gb_subscription_set_list_next(
				q, gb_subscription_list_next(s));
			return;
		}
}

static gb_subscription *find_subscription(gb_client *c, uint64_t id)
{
	for (gb_subscription *s = c->subs; s; s = gb_subscription_list_next(s))
		if (gb_subscription_id(s) == id)
			return s;
	return NULL;
}

static gb_publisher *find_request_owner(gb_client *c, uint64_t request_id)
{
	for (gb_publisher *p = c->pubs; p; p = gb_publisher_list_next(p))
		if (gb_publisher_owns_request(p, request_id))
			return p;
	return NULL;
}

/* ---------------------------------------------------------------- key requests */

gb_keyring *gb_client_keyring(gb_client *c)
{
	return c->keys;
}

static struct key_request *request_find(gb_client *c, uint64_t id)
{
	for (struct key_request *r = c->requests; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static void request_free(struct key_request *r)
{
	free(r->frame);
	gb_codec_server_free(&r->answer);
	free(r);
}

int gb_client_request_start(gb_client *c, gb_client_frame *frame,
			    uint64_t *request_id)
{
	struct key_request *r = calloc(1, sizeof *r);
	int rc;

	*request_id = 0;
	if (!r)
		return gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
	r->id = gb_client_next_request_id(c);
	switch (frame->body_case) {
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH:
		frame->key_fetch->request_id = r->id;
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_UPLOAD:
		frame->key_upload->request_id = r->id;
		break;
	/* issue 7: catalog and access requests, safe to repeat as well (a
	 * repeated AccessRequest returns the pending one) */
	case GOVBUS__V1__CLIENT_FRAME__BODY_CATALOG_REQUEST:
		frame->catalog_request->request_id = r->id;
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST:
		frame->access_request->request_id = r->id;
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST_QUERY:
		frame->access_request_query->request_id = r->id;
		break;
	default:
		free(r);
		return gb_client_fail(c, GB_EINVAL, 0,
				      "not a request frame");
	}
	rc = gb_codec_client_encode(frame, &r->frame, &r->frame_len);
	if (rc != 0) {
		free(r);
		return gb_client_fail(c, rc, 0, "out of memory encoding a "
				      "key request");
	}
	r->next = c->requests;
	c->requests = r;
	*request_id = r->id;
	return gb_client_send_raw(c, r->frame, r->frame_len);
}

int gb_client_request_take(gb_client *c, uint64_t request_id,
			   gb_server_frame **answer)
{
	struct key_request *r = request_find(c, request_id);

	*answer = NULL;
	if (!r || !r->answer)
		return 0;
	*answer = r->answer;
	r->answer = NULL;
	gb_client_request_cancel(c, request_id);
	return 1;
}

void gb_client_request_cancel(gb_client *c, uint64_t request_id)
{
	for (struct key_request **rp = &c->requests; *rp; rp = &(*rp)->next)
		if ((*rp)->id == request_id) {
			struct key_request *r = *rp;
			*rp = r->next;
			request_free(r);
			return;
		}
}

int gb_client_request(gb_client *c, gb_client_frame *frame,
		      gb_server_frame **answer)
{
	int64_t wait_ms = 10 * (int64_t)c->opts.timeout_ms, deadline;
	uint64_t id;
	int rc;

	*answer = NULL;
	if (wait_ms < REQUEST_TIMEOUT_MIN_MS)
		wait_ms = REQUEST_TIMEOUT_MIN_MS;
	rc = gb_client_request_start(c, frame, &id);
	if (rc != 0)
		return rc;
	deadline = gb_agent_now_ms() + wait_ms;
	while (!gb_client_request_take(c, id, answer)) {
		rc = gb_client_wait(c, deadline);
		if (rc == GB_ETIMEOUT && gb_agent_now_ms() >= deadline) {
			gb_client_request_cancel(c, id);
			return gb_client_fail(c, GB_ETIMEOUT, 0,
					      "the broker did not answer a "
					      "request within %lld s",
					      (long long)(wait_ms / 1000));
		}
		if (rc != 0 && rc != GB_ETIMEOUT) {
			gb_client_request_cancel(c, id);
			return rc;
		}
	}
	return 0;
}

/* The answer must be `want`; a broker Error becomes its code and sentence. */
static int answer_expect(gb_client *c, const gb_server_frame *a, int want,
			 const char *what)
{
	if ((int)a->body_case == want)
		return 0;
	if (a->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR)
		return gb_client_fail(c, gb_error_from_status(a->error->status),
				      a->error->status, "%s", a->error->message);
	return gb_client_fail(c, GB_EPROTO, 0,
			      "the broker answered a %s with an unexpected "
			      "frame", what);
}

int gb_client_ask(gb_client *c, gb_client_frame *frame, int want,
		  const char *what, gb_server_frame **answer)
{
	int rc = gb_client_request(c, frame, answer);

	if (rc == 0)
		rc = answer_expect(c, *answer, want, what);
	if (rc != 0)
		gb_codec_server_free(answer);
	return rc;
}

/* Note a pushed KeyInfo: key work to do for its dataset. */
static void push_note(gb_client *c, const char *dataset)
{
	struct key_push *k;

	for (k = c->pushes; k; k = k->next)
		if (!strcmp(k->dataset, dataset))
			return;
	k = calloc(1, sizeof *k);
	if (!k)
		return; /* a later push or sweep brings the work back */
	snprintf(k->dataset, sizeof k->dataset, "%s", dataset);
	k->next = c->pushes;
	c->pushes = k;
}

bool gb_client_take_key_push(gb_client *c, const char *dataset, char *out,
			     size_t out_len)
{
	for (struct key_push **kp = &c->pushes; *kp; kp = &(*kp)->next) {
		struct key_push *k = *kp;
		if (dataset && strcmp(k->dataset, dataset) != 0)
			continue;
		if (out && out_len)
			snprintf(out, out_len, "%s", k->dataset);
		*kp = k->next;
		free(k);
		return true;
	}
	return false;
}

int gb_client_next_key_work(gb_client *c, char *dataset, size_t len,
			    int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : gb_agent_now_ms() + timeout_ms;

	for (;;) {
		int rc;
		if (gb_client_take_key_push(c, NULL, dataset, len))
			return 0;
		rc = gb_client_wait(c, deadline);
		if (rc != 0)
			return rc;
	}
}

size_t gb_client_owned_count(const gb_client *c)
{
	return c->pos_count;
}

const char *gb_client_owned_dataset(const gb_client *c, size_t i)
{
	return i < c->pos_count ? c->pos[i].dataset : NULL;
}

/* ---------------------------------------------------------------- socket */

static void schedule_reconnect(gb_client *c, const char *reason)
{
	if (c->need_reconnect)
		return;
	c->need_reconnect = true;
	snprintf(c->reconnect_reason, sizeof c->reconnect_reason, "%s", reason);
}

static void socket_close(gb_client *c, int linger_ms)
{
	if (!c->sock)
		return;
	zmq_setsockopt(c->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
	zmq_close(c->sock);
	c->sock = NULL;
}

/* Build a fresh DEALER with CURVE client keys and connect it.
 *
 * ZeroMQ's own reconnection is off: after a broker crash it would deliver
 * frames still queued for the dead connection to the new broker, which
 * could store batch k+1 while k died with the old connection, leaving k's
 * seq unstorable. Every way back to a broker goes through reconnect(),
 * which re-sends unacknowledged batches in seq order first. */
static int socket_open(gb_client *c)
{
	int zero = 0, hwm = SOCKET_HWM, no_reconnect = -1;
	int64_t maxmsg = GB_MAX_FRAME;
	void *s = zmq_socket(c->ctx, ZMQ_DEALER);

	if (!s)
		return gb_client_fail(c, GB_EIO, 0, "cannot create a ZeroMQ "
				      "socket: %s", zmq_strerror(errno));
	if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, c->cfg->broker_box_pk,
			   GB_BOX_PK_BYTES) ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, gb_identity_box_pk(c->id),
			   GB_BOX_PK_BYTES) ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, gb_identity_box_sk(c->id),
			   GB_BOX_SK_BYTES) ||
	    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
	    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) ||
	    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &no_reconnect,
			   sizeof no_reconnect) ||
	    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
	    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm)) {
		int e = errno;
		zmq_close(s);
		return gb_client_fail(c, GB_EIO, 0, "cannot set up CURVE on "
				      "the socket: %s", zmq_strerror(e));
	}
	if (zmq_connect(s, c->cfg->endpoint) != 0) {
		int e = errno;
		zmq_close(s);
		return gb_client_fail(c, GB_EINVAL, 0,
				      "cannot connect to %.256s: %s",
				      c->cfg->endpoint, zmq_strerror(e));
	}
	c->sock = s;
	return 0;
}

/* Wait up to `ms` for `events` on the socket. Returns 1 when ready, 0 on
 * timeout or EINTR (the caller's loop checks for an interrupt), -1 on a
 * ZeroMQ error. */
static int socket_poll(gb_client *c, short events, long ms)
{
	zmq_pollitem_t item = {c->sock, 0, events, 0};
	int rc = zmq_poll(&item, 1, ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -1;
	return rc > 0 && (item.revents & events) ? 1 : 0;
}

int gb_client_send_raw(gb_client *c, const uint8_t *buf, size_t len)
{
	if (!c->sock || c->need_reconnect)
		return 0; /* the reconnect re-sends what matters */
	for (;;) {
		if (zmq_send(c->sock, buf, len, ZMQ_DONTWAIT) >= 0) {
			c->last_sent_ms = gb_agent_now_ms();
			if (!c->awaiting_since_ms)
				c->awaiting_since_ms = c->last_sent_ms;
			return 0;
		}
		if (errno == EINTR)
			continue;
		/* With high-water marks far above what we keep in flight,
		 * EAGAIN means the DEALER has no connection left. */
		schedule_reconnect(c, errno == EAGAIN
					      ? "the connection was lost"
					      : "a frame could not be sent");
		return 0;
	}
}

int gb_client_send_frame(gb_client *c, const gb_client_frame *frame)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = gb_codec_client_encode(frame, &buf, &len);

	if (rc != 0)
		return gb_client_fail(c, rc, 0, "out of memory encoding a frame");
	rc = gb_client_send_raw(c, buf, len);
	free(buf);
	return rc;
}

static void send_ping(gb_client *c)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Ping ping = GOVBUS__V1__PING__INIT;

	ping.nonce = ++c->ping_nonce;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PING;
	f.ping = &ping;
	(void)gb_client_send_frame(c, &f);
}

/* Receive one frame without blocking. Returns 1 with *out set, 0 when none
 * is waiting, or a GB_E... code when the broker sent garbage. */
static int recv_frame(gb_client *c, gb_server_frame **out)
{
	zmq_msg_t msg;
	char why[256];
	int rc;

	*out = NULL;
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&msg);
		return 0;
	}
	c->awaiting_since_ms = 0;
	rc = gb_codec_server_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), out,
				    why, sizeof why);
	zmq_msg_close(&msg);
	if (rc != 0) {
		c->fatal = GB_EPROTO;
		return gb_client_fail(c, GB_EPROTO, 0,
				      "the broker sent a frame that does not "
				      "decode (%s)",
				      why);
	}
	return 1;
}

static const char *seconds(unsigned ms, char *buf, size_t len)
{
	snprintf(buf, len, "%g", ms / 1000.0);
	return buf;
}

/* The broker's answer to a connection-level problem: fatal. */
static int connection_refused(gb_client *c, const Govbus__V1__Error *e)
{
	int rc = gb_error_from_status(e->status);
	c->fatal = rc;
	return gb_client_fail(c, rc, e->status, "%s", e->message);
}

/* Adopt a Welcome: check who we are, note the instance and positions.
 * Returns 0 or a fatal error. Sets *restarted when the instance changed. */
static int adopt_welcome(gb_client *c, const Govbus__V1__Welcome *w,
			 bool *restarted)
{
	if (strcmp(w->dept, c->cfg->dept) != 0) {
		c->fatal = GB_EAUTH;
		return gb_client_fail(c, GB_EAUTH, 0,
				      "the broker knows this key as department "
				      "%.64s, but the config says dept: %s",
				      w->dept, c->cfg->dept);
	}
	*restarted = c->connected_once && w->instance != c->instance;
	c->instance = w->instance;
	c->max_frame = w->max_frame && w->max_frame < GB_MAX_FRAME
			       ? w->max_frame
			       : GB_MAX_FRAME;
	/* Positions matter at first connect; later only raise what is known
	 * (publishers keep their own counters while batches are in flight). */
	for (size_t i = 0; i < w->n_positions; i++)
		if (gb_client_set_position(c, w->positions[i]->dataset,
					   w->positions[i]->last_seq) != 0)
			return GB_ENOMEM;
	c->connected_once = true;
	return 0;
}

/* Send Hello on the current socket and wait for Welcome until `until`.
 * GB_ETIMEOUT (no sentence) when none came. */
static int hello_once(gb_client *c, bool *restarted, int64_t until)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Hello hello = GOVBUS__V1__HELLO__INIT;
	int rc;

	hello.protocol = 1;
	hello.agent = c->agent_name;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_HELLO;
	f.hello = &hello;
	rc = gb_client_send_frame(c, &f);
	if (rc != 0)
		return rc;
	for (;;) {
		gb_server_frame *frame = NULL;
		int64_t now = gb_agent_now_ms();

		if (c->interrupted) {
			c->interrupted = 0;
			return gb_client_fail(c, GB_ECLOSED, 0, "interrupted");
		}
		if (c->need_reconnect || now >= until)
			return GB_ETIMEOUT;
		if (socket_poll(c, ZMQ_POLLIN, (long)(until - now)) < 0)
			return gb_client_fail(c, GB_EIO, 0, "ZeroMQ poll failed: %s",
					      zmq_strerror(errno));
		while ((rc = recv_frame(c, &frame)) == 1) {
			switch (frame->body_case) {
			case GOVBUS__V1__SERVER_FRAME__BODY_WELCOME:
				rc = adopt_welcome(c, frame->welcome, restarted);
				gb_codec_server_free(&frame);
				return rc;
			case GOVBUS__V1__SERVER_FRAME__BODY_ERROR:
				if (!frame->error->request_id &&
				    !frame->error->subscription_id) {
					rc = connection_refused(c, frame->error);
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

/* Build a socket and say Hello until a Welcome arrives, for at most the
 * timeout and not past `deadline_ms` (-1: none). With ZeroMQ's own
 * reconnection off, a socket makes one connection attempt, so a refused
 * or dropped attempt is retried here with a fresh socket, 100 ms apart at
 * first, doubling to 1 s (a slow handshake gets longer each time). */
static int handshake(gb_client *c, bool *restarted, int64_t deadline_ms)
{
	int64_t deadline = gb_agent_now_ms() + c->opts.timeout_ms, step = 100;
	char s[32];
	int rc;

	if (deadline_ms >= 0 && deadline_ms < deadline)
		deadline = deadline_ms;
	for (;;) {
		int64_t until = gb_agent_now_ms() + step;

		socket_close(c, 0);
		c->need_reconnect = false; /* lets Hello through */
		rc = socket_open(c);
		if (rc != 0)
			return rc;
		if (until > deadline)
			until = deadline;
		rc = hello_once(c, restarted, until);
		if (rc != GB_ETIMEOUT)
			return rc;
		if (gb_agent_now_ms() >= deadline)
			break;
		if (gb_agent_now_ms() < until) /* failed at once: do not spin */
			zmq_poll(NULL, 0, (long)(until - gb_agent_now_ms()));
		step = step * 2 < 1000 ? step * 2 : 1000;
	}
	return gb_client_fail(
		c, GB_ETIMEOUT, 0,
		"broker at %.256s did not answer within %s s (is it running? is "
		"the broker public_key right? is this department's key "
		"registered? a refused CURVE handshake looks like silence to "
		"the agent)",
		c->cfg->endpoint, seconds(c->opts.timeout_ms, s, sizeof s));
}

/* Rebuild the socket until a Welcome comes back, the caller's deadline
 * passes (GB_ETIMEOUT; the next call goes on trying) or we give up (fatal);
 * then let every publisher and subscription restore its state. */
static int reconnect(gb_client *c, int64_t deadline_ms)
{
	char reason[sizeof c->reconnect_reason], s[32];
	bool restarted = false;
	gb_event ev = {0};
	int rc;

	snprintf(reason, sizeof reason, "%s", c->reconnect_reason);
	if (!c->reconnect_since_ms)
		c->reconnect_since_ms = gb_agent_now_ms();
	for (;;) {
		rc = handshake(c, &restarted, deadline_ms);
		if (rc == 0)
			break;
		c->need_reconnect = true;
		if (rc != GB_ETIMEOUT) {
			if (rc != GB_ECLOSED)
				c->fatal = rc;
			return rc;
		}
		if (c->opts.give_up_ms &&
		    gb_agent_now_ms() - c->reconnect_since_ms >=
			    (int64_t)c->opts.give_up_ms) {
			c->fatal = GB_ETIMEOUT;
			return gb_client_fail(
				c, GB_ETIMEOUT, 0,
				"lost the broker at %.256s (%s) and could not "
				"reconnect for %s s",
				c->cfg->endpoint, reason,
				seconds(c->opts.give_up_ms, s, sizeof s));
		}
		if (deadline_ms >= 0 && gb_agent_now_ms() >= deadline_ms)
			return GB_ETIMEOUT;
	}
	c->reconnect_since_ms = 0;
	c->reconnects++;
	c->last_sent_ms = gb_agent_now_ms();
	c->awaiting_since_ms = 0;
	ev.kind = GB_EVENT_RECONNECTED;
	ev.restarted = restarted;
	ev.reason = reason;
	gb_client_emit(c, &ev);
	for (struct key_request *r = c->requests; r; r = r->next)
		if (!r->answer)
			(void)gb_client_send_raw(c, r->frame, r->frame_len);
	for (gb_publisher *p = c->pubs; p; p = gb_publisher_list_next(p))
		gb_publisher_on_reconnect(p, restarted);
	for (gb_subscription *sub = c->subs; sub;
	     sub = gb_subscription_list_next(sub))
		gb_subscription_on_reconnect(sub, restarted);
	return 0;
}

/* ---------------------------------------------------------------- dispatch */

/* Hand `frame` to the key request it answers; false when none waits. */
static bool answer_request(gb_client *c, uint64_t id, gb_server_frame *frame)
{
	struct key_request *r = request_find(c, id);

	if (!r || r->answer)
		return false; /* late or repeated: the request is done */
	r->answer = frame;
	return true;
}

static void dispatch(gb_client *c, gb_server_frame *frame)
{
	if (c->frame_hook && c->frame_hook(c->frame_hook_arg, frame))
		return; /* audit (issue 4): the hook took the frame */
	switch (frame->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_WELCOME:
		if (frame->welcome->instance != c->instance)
			schedule_reconnect(c, "the broker restarted");
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_PONG:
		if (frame->pong->instance != c->instance)
			schedule_reconnect(c, "the broker restarted");
		else if (frame->pong->nonce > c->pong_nonce &&
			 frame->pong->nonce <= c->ping_nonce)
			c->pong_nonce = frame->pong->nonce;
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK: {
		gb_publisher *p =
			find_request_owner(c, frame->publish_ack->request_id);
		if (p)
			gb_publisher_on_ack(p, frame->publish_ack);
		break;
	}
	case GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK: {
		gb_subscription *s = find_subscription(
			c, frame->subscribe_ok->subscription_id);
		if (s)
			gb_subscription_on_ok(s, frame->subscribe_ok);
		break;
	}
	case GOVBUS__V1__SERVER_FRAME__BODY_DELIVER: {
		gb_subscription *s =
			find_subscription(c, frame->deliver->subscription_id);
		if (s) {
			gb_subscription_on_deliver(s, frame);
			return; /* the subscription owns the frame now */
		}
		break;
	}
	case GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO:
		if (frame->key_info->request_id == 0) {
			push_note(c, frame->key_info->dataset);
			break;
		}
		if (answer_request(c, frame->key_info->request_id, frame))
			return; /* the request owns the frame now */
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK:
		if (answer_request(c, frame->key_upload_ack->request_id, frame))
			return;
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_CATALOG: /* issue 7 */
		if (answer_request(c, frame->catalog->request_id, frame))
			return;
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK:
		if (answer_request(c, frame->access_request_ack->request_id,
				   frame))
			return;
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_LIST:
		if (answer_request(c, frame->access_request_list->request_id,
				   frame))
			return;
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_ERROR: {
		const Govbus__V1__Error *e = frame->error;
		if (e->request_id && answer_request(c, e->request_id, frame)) {
			return;
		} else if (e->request_id) {
			gb_publisher *p = find_request_owner(c, e->request_id);
			if (p)
				gb_publisher_on_error(p, e);
		} else if (e->subscription_id) {
			gb_subscription *s =
				find_subscription(c, e->subscription_id);
			if (s)
				gb_subscription_on_error(s, e);
		} else {
			(void)connection_refused(c, e);
		}
		break;
	}
	default:
		break;
	}
	gb_codec_server_free(&frame);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Receive and dispatch every frame already waiting (bounded per call).
 * Returns how many were handled, or a fatal error. */
static int drain(gb_client *c)
{
	int handled = 0;

	for (int i = 0; i < FRAMES_PER_WAKE; i++) {
		gb_server_frame *frame = NULL;
		int rc = recv_frame(c, &frame);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		dispatch(c, frame);
		handled++;
	}
	return handled;
}

int gb_client_wait(gb_client *c, int64_t deadline_ms)
{
	for (;;) {
		int64_t now, due = INT64_MAX;
		char why[96], s[32];
		int rc;

		if (c->fatal)
			return c->fatal;
		if (c->interrupted) {
			c->interrupted = 0;
			return gb_client_fail(c, GB_ECLOSED, 0, "interrupted");
		}
		/* What already arrived counts before any silence is judged. */
		if (c->sock && !c->need_reconnect) {
			rc = drain(c);
			if (rc != 0)
				return rc < 0 ? rc : 0;
		}
		now = gb_agent_now_ms();
		if (!c->need_reconnect && c->awaiting_since_ms &&
		    now - c->awaiting_since_ms >= (int64_t)c->opts.timeout_ms) {
			snprintf(why, sizeof why, "no answer for %s s",
				 seconds(c->opts.timeout_ms, s, sizeof s));
			schedule_reconnect(c, why);
		}
		if (c->need_reconnect) {
			if (deadline_ms >= 0 && now >= deadline_ms)
				return GB_ETIMEOUT;
			return reconnect(c, deadline_ms);
		}
		for (gb_publisher *p = c->pubs; p; p = gb_publisher_list_next(p))
			due = min64(due, gb_publisher_tick(p, now));
		if (now - c->last_sent_ms >= (int64_t)c->opts.ping_ms)
			send_ping(c);
		due = min64(due, c->last_sent_ms + c->opts.ping_ms);
		if (c->awaiting_since_ms)
			due = min64(due, c->awaiting_since_ms + c->opts.timeout_ms);
		if (deadline_ms >= 0) {
			if (now >= deadline_ms)
				return GB_ETIMEOUT;
			due = min64(due, deadline_ms);
		}
		if (socket_poll(c, ZMQ_POLLIN, (long)(due > now ? due - now : 0)) < 0) {
			c->fatal = GB_EIO;
			return gb_client_fail(c, GB_EIO, 0,
					      "ZeroMQ poll failed: %s",
					      zmq_strerror(errno));
		}
	}
}

int gb_client_poll(gb_client *c, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : gb_agent_now_ms() + timeout_ms;
	return gb_client_wait(c, deadline);
}

/* Ping and wait until the broker has answered it: every frame sent before
 * has then been read by the broker (one connection, in order). */
int gb_client_sync(gb_client *c, int64_t deadline_ms)
{
	uint64_t nonce;

	send_ping(c);
	nonce = c->ping_nonce;
	while (c->pong_nonce < nonce) {
		uint64_t reconnects = c->reconnects;
		int rc = gb_client_wait(c, deadline_ms);
		if (rc != 0)
			return rc;
		if (c->reconnects != reconnects)
			return gb_client_fail(c, GB_EUNAVAIL, 0,
					      "the connection was rebuilt "
					      "before the broker answered");
	}
	return 0;
}

/* ---------------------------------------------------------------- lifecycle */

int gb_client_open(const gb_agent_config *cfg, const gb_client_options *opts,
		   gb_client **out, char *why, size_t why_len)
{
	gb_client *c = calloc(1, sizeof *c);
	bool restarted = false;
	int rc;

	*out = NULL;
	if (why && why_len)
		why[0] = '\0';
	if (!c)
		return GB_ENOMEM;
	if (opts)
		c->opts = *opts;
	else
		gb_client_options_init(&c->opts);
	if (!c->opts.timeout_ms)
		c->opts.timeout_ms = cfg->timeout_ms ? cfg->timeout_ms
						     : GB_AGENT_DEFAULT_TIMEOUT_MS;
	if (!c->opts.ping_ms)
		c->opts.ping_ms = DEFAULT_PING_MS;
	snprintf(c->agent_name, sizeof c->agent_name, "%s",
		 c->opts.agent_name ? c->opts.agent_name : "govbus-agent");
	c->opts.agent_name = NULL;
	c->max_frame = GB_MAX_FRAME;

	rc = gb_agent_config_copy(cfg, &c->cfg);
	if (rc != 0) {
		gb_client_fail(c, rc, 0, "out of memory");
		goto err;
	}
	rc = gb_identity_load(cfg->key_path, &c->id, c->last_error,
			      sizeof c->last_error);
	if (rc != 0)
		goto err;
	c->keys = gb_keyring_new();
	if (!c->keys) {
		rc = gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
		goto err;
	}
	if (!zmq_has("curve")) {
		rc = gb_client_fail(c, GB_EIO, 0,
				    "this libzmq was built without CURVE");
		goto err;
	}
	c->ctx = zmq_ctx_new();
	if (!c->ctx) {
		rc = gb_client_fail(c, GB_EIO, 0, "cannot create a ZeroMQ "
				    "context: %s", zmq_strerror(errno));
		goto err;
	}
	rc = handshake(c, &restarted, -1);
	if (rc != 0)
		goto err;
	c->last_sent_ms = gb_agent_now_ms();
	*out = c;
	return 0;
err:
	if (why && why_len)
		snprintf(why, why_len, "%s",
			 c->last_error[0] ? c->last_error : gb_strerror(rc));
	gb_client_close(&c);
	return rc;
}

void gb_client_close(gb_client **cp)
{
	gb_client *c;

	if (!cp || !*cp)
		return;
	c = *cp;
	while (c->subs) {
		gb_subscription *s = c->subs;
		gb_subscription_close(&s);
	}
	while (c->pubs) {
		gb_publisher *p = c->pubs;
		gb_publisher_close(&p);
	}
	/* Let queued frames (unsubscribe, cursor acks) leave, briefly. */
	socket_close(c, c->fatal ? 0 : CLOSE_LINGER_MS);
	if (c->ctx)
		zmq_ctx_term(c->ctx);
	while (c->requests) {
		struct key_request *r = c->requests;
		c->requests = r->next;
		request_free(r);
	}
	while (c->pushes) {
		struct key_push *k = c->pushes;
		c->pushes = k->next;
		free(k);
	}
	gb_keyring_destroy(&c->keys);
	gb_identity_destroy(&c->id);
	gb_agent_config_destroy(&c->cfg);
	free(c->pos);
	free(c);
	*cp = NULL;
}
