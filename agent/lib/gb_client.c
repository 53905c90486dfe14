/* The agent's client (DESIGN §9, §13): one connection to the broker
 * (gb_conn.c), the dispatch loop that hands each frame from the broker to
 * whoever owns it, and reconnection.
 *
 * Who owns a frame: Welcome and Pong are the connection's; a KeyInfo
 * without request_id is key work the broker pushes to this owner, noted
 * per dataset; an Error naming neither a request nor a subscription
 * refuses the connection and is fatal. Any other frame goes by its
 * request_id to the client's own table of pending requests
 * (gb_request_table.h) or to the registered handler that owns the id, or
 * else by its subscription_id to the handler registered under it; nobody's
 * frame (a late answer, a subscription already closed) is dropped.
 * Publishers, subscriptions and the agent's audit commands are such
 * handlers: the client never calls them by name.
 *
 * Reconnection: when the connection must be rebuilt (silence, a lost
 * socket, a new broker instance) the next wait rebuilds it, until a
 * Welcome comes back or give_up_ms has passed; then it re-sends every
 * pending request and lets each handler restore its state (publishers
 * re-send unacknowledged batches, subscriptions resume).
 *
 * Trust: frames are decoded with gb_codec's limits by the connection;
 * here they are only routed. The Welcome must name the department the
 * config names. */
#include "gb_client_internal.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_conn.h"

#define DEFAULT_PING_MS 1000u
#define DEFAULT_GIVE_UP_MS 60000u
#define FRAMES_PER_WAKE 1024
#define CLOSE_LINGER_MS 1000

struct position {
	char dataset[GB_MAX_ID_LEN + 1];
	uint64_t last_seq;
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
	gb_conn *conn;
	struct position *pos;
	size_t pos_count, pos_cap;
	uint64_t next_request_id;
	uint64_t next_subscription_id;
	int64_t reconnect_since_ms;   /* first failed attempt, 0 if none */
	int fatal;                    /* sticky connection-level error */
	bool welcome_refused;         /* adopt_welcome stated the failure */
	char last_error[GB_AGENT_ERROR_MAX];
	unsigned last_status;
	gb_client_handler *handlers;  /* newest first */
	uint64_t reconnects;
	gb_request_table *requests;
	struct key_push *pushes;
	gb_keyring *keys;
	volatile sig_atomic_t interrupted;
};

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

/* The connection's failure `rc` becomes the client's, with its sentence. */
static int conn_failed(gb_client *c, int rc)
{
	return gb_client_fail(c, rc, gb_conn_error_status(c->conn), "%s",
			      gb_conn_error(c->conn));
}

/* A failure that leaves the client unusable: every later call returns it. */
static int conn_fatal(gb_client *c, int rc)
{
	c->fatal = rc;
	return conn_failed(c, rc);
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
	return gb_conn_max_frame(c->conn);
}

uint64_t gb_client_next_request_id(gb_client *c)
{
	return ++c->next_request_id;
}

uint64_t gb_client_next_subscription_id(gb_client *c)
{
	return ++c->next_subscription_id;
}

gb_keyring *gb_client_keyring(gb_client *c)
{
	return c->keys;
}

gb_request_table *gb_client_request_table(gb_client *c)
{
	return c->requests;
}

void gb_client_interrupt(gb_client *c)
{
	c->interrupted = 1;
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

size_t gb_client_owned_count(const gb_client *c)
{
	return c->pos_count;
}

const char *gb_client_owned_dataset(const gb_client *c, size_t i)
{
	return i < c->pos_count ? c->pos[i].dataset : NULL;
}

/* ---------------------------------------------------------------- key pushes */

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

/* ---------------------------------------------------------------- handlers */

void gb_client_handler_add(gb_client *c, gb_client_handler *h)
{
	h->next = c->handlers;
	c->handlers = h;
}

void gb_client_handler_remove(gb_client *c, gb_client_handler *h)
{
	for (gb_client_handler **hp = &c->handlers; *hp; hp = &(*hp)->next)
		if (*hp == h) {
			*hp = h->next;
			h->next = NULL;
			return;
		}
}

gb_client_handler *gb_client_handler_next(gb_client *c, gb_client_handler *h)
{
	return h ? h->next : c->handlers;
}

static gb_client_handler *request_owner(gb_client *c, uint64_t request_id)
{
	for (gb_client_handler *h = c->handlers; h; h = h->next)
		if (h->ops->owns_request &&
		    h->ops->owns_request(h->self, request_id))
			return h;
	return NULL;
}

static gb_client_handler *subscription_owner(gb_client *c, uint64_t id)
{
	for (gb_client_handler *h = c->handlers; h; h = h->next)
		if (h->subscription_id == id)
			return h;
	return NULL;
}

/* ---------------------------------------------------------------- connection */

/* The Welcome must name the department the config names; its positions
 * matter at first connect, later they only raise what is known
 * (publishers keep their own counters while batches are in flight). */
static int adopt_welcome(void *arg, const Govbus__V1__Welcome *w)
{
	gb_client *c = arg;

	if (strcmp(w->dept, c->cfg->dept) != 0) {
		c->fatal = GB_EAUTH;
		c->welcome_refused = true;
		return gb_client_fail(c, GB_EAUTH, 0,
				      "the broker knows this key as department "
				      "%.64s, but the config says dept: %s",
				      w->dept, c->cfg->dept);
	}
	for (size_t i = 0; i < w->n_positions; i++)
		if (gb_client_set_position(c, w->positions[i]->dataset,
					   w->positions[i]->last_seq) != 0) {
			c->welcome_refused = true;
			return gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
		}
	return 0;
}

/* The handshake's failure `rc` becomes the client's, with its sentence
 * (adopt_welcome states its own). */
static int handshake_failed(gb_client *c, int rc)
{
	if (c->welcome_refused) {
		c->welcome_refused = false;
		return rc;
	}
	return conn_failed(c, rc);
}

int gb_client_send_raw(gb_client *c, const uint8_t *buf, size_t len)
{
	gb_conn_send(c->conn, buf, len);
	return 0;
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

static void resend_request(void *arg, const uint8_t *frame, size_t len)
{
	(void)gb_client_send_raw(arg, frame, len);
}

/* Rebuild the connection until a Welcome comes back, the caller's deadline
 * passes (GB_ETIMEOUT; the next call goes on trying) or we give up (fatal);
 * then re-send the pending requests and let every handler restore its
 * state. */
static int reconnect(gb_client *c, int64_t deadline_ms)
{
	char reason[128];
	bool restarted = false;
	gb_event ev = {0};
	int rc;

	snprintf(reason, sizeof reason, "%s", gb_conn_rebuild_reason(c->conn));
	if (!c->reconnect_since_ms)
		c->reconnect_since_ms = gb_agent_now_ms();
	for (;;) {
		rc = gb_conn_handshake(c->conn, deadline_ms, adopt_welcome, c,
				       &restarted);
		if (rc == 0)
			break;
		rc = handshake_failed(c, rc);
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
				"reconnect for %g s",
				c->cfg->endpoint, reason,
				c->opts.give_up_ms / 1000.0);
		}
		if (deadline_ms >= 0 && gb_agent_now_ms() >= deadline_ms)
			return GB_ETIMEOUT;
	}
	c->reconnect_since_ms = 0;
	c->reconnects++;
	ev.kind = GB_EVENT_RECONNECTED;
	ev.restarted = restarted;
	ev.reason = reason;
	gb_client_emit(c, &ev);
	gb_request_table_each_unanswered(c->requests, resend_request, c);
	for (gb_client_handler *h = c->handlers, *next; h; h = next) {
		next = h->next;
		if (h->ops->on_reconnect)
			h->ops->on_reconnect(h->self, restarted);
	}
	return 0;
}

/* ---------------------------------------------------------------- dispatch */

/* The broker refused the connection itself: fatal. */
static void connection_refused(gb_client *c, const Govbus__V1__Error *e)
{
	c->fatal = gb_error_from_status(e->status);
	(void)gb_client_fail(c, c->fatal, e->status, "%s", e->message);
}

/* The request a frame answers (0: none). */
static uint64_t request_id_of(const gb_server_frame *f)
{
	switch (f->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK:
		return f->publish_ack->request_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO:
		return f->key_info->request_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK:
		return f->key_upload_ack->request_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_CATALOG:
		return f->catalog->request_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK:
		return f->access_request_ack->request_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_LIST:
		return f->access_request_list->request_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_REGISTRY:
		return f->registry->request_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_CHECKPOINT_REPLY:
		return f->checkpoint_reply->request_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_CHECKPOINT_LIST:
		return f->checkpoint_list->request_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_ERROR:
		return f->error->request_id;
	default:
		return 0;
	}
}

/* The subscription a frame belongs to (0: none). */
static uint64_t subscription_id_of(const gb_server_frame *f)
{
	switch (f->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK:
		return f->subscribe_ok->subscription_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_DELIVER:
		return f->deliver->subscription_id;
	case GOVBUS__V1__SERVER_FRAME__BODY_ERROR:
		return f->error->subscription_id;
	default:
		return 0;
	}
}

/* Hand `frame` (taken) to whoever owns it; see the top of the file. */
static void dispatch(gb_client *c, gb_server_frame *frame)
{
	uint64_t request_id = request_id_of(frame);
	gb_client_handler *h = NULL;

	switch (frame->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_WELCOME:
	case GOVBUS__V1__SERVER_FRAME__BODY_PONG:
		gb_conn_liveness(c->conn, frame);
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO:
		if (request_id == 0)
			push_note(c, frame->key_info->dataset);
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_ERROR:
		if (!request_id && !frame->error->subscription_id)
			connection_refused(c, frame->error);
		break;
	default:
		break;
	}
	if (request_id) {
		if (gb_request_table_answer(c->requests, request_id, frame))
			return; /* the table owns the frame now */
		h = request_owner(c, request_id);
	} else if (subscription_id_of(frame)) {
		h = subscription_owner(c, subscription_id_of(frame));
	}
	if (h)
		h->ops->on_frame(h->self, frame); /* takes the frame */
	else
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
		int rc = gb_conn_recv(c->conn, &frame);
		if (rc < 0)
			return conn_fatal(c, rc);
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
		int rc;

		if (c->fatal)
			return c->fatal;
		if (c->interrupted) {
			c->interrupted = 0;
			return gb_client_fail(c, GB_ECLOSED, 0, "interrupted");
		}
		/* What already arrived counts before any silence is judged. */
		if (gb_conn_up(c->conn)) {
			rc = drain(c);
			if (rc != 0)
				return rc < 0 ? rc : 0;
		}
		now = gb_agent_now_ms();
		gb_conn_check_silence(c->conn, now);
		if (!gb_conn_up(c->conn)) {
			if (deadline_ms >= 0 && now >= deadline_ms)
				return GB_ETIMEOUT;
			return reconnect(c, deadline_ms);
		}
		for (gb_client_handler *h = c->handlers, *next; h; h = next) {
			next = h->next;
			if (h->ops->tick)
				due = min64(due, h->ops->tick(h->self, now));
		}
		due = min64(due, gb_conn_keepalive(c->conn, now));
		if (deadline_ms >= 0) {
			if (now >= deadline_ms)
				return GB_ETIMEOUT;
			due = min64(due, deadline_ms);
		}
		rc = gb_conn_poll(c->conn, (long)(due > now ? due - now : 0));
		if (rc != 0)
			return conn_fatal(c, rc);
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
	uint64_t nonce = gb_conn_ping(c->conn);

	while (gb_conn_pong(c->conn) < nonce) {
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
	gb_conn_params cp = {0};
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
	cp.agent_name = c->opts.agent_name ? c->opts.agent_name
					   : "govbus-agent";
	c->opts.agent_name = NULL;

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
	c->requests = gb_request_table_new();
	if (!c->keys || !c->requests) {
		rc = gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
		goto err;
	}
	cp.endpoint = c->cfg->endpoint;
	cp.broker_box_pk = c->cfg->broker_box_pk;
	cp.id = c->id;
	cp.timeout_ms = c->opts.timeout_ms;
	cp.ping_ms = c->opts.ping_ms;
	cp.interrupted = &c->interrupted;
	rc = gb_conn_new(&cp, &c->conn, c->last_error, sizeof c->last_error);
	if (rc != 0) {
		c->last_status = gb_error_status(rc);
		goto err;
	}
	rc = gb_conn_handshake(c->conn, -1, adopt_welcome, c, &restarted);
	if (rc != 0) {
		rc = handshake_failed(c, rc);
		goto err;
	}
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
	/* Handlers close newest first, while the request table they may
	 * cancel requests in still exists. */
	while (c->handlers) {
		gb_client_handler *h = c->handlers;
		if (h->ops->close)
			h->ops->close(h->self);
		if (c->handlers == h)
			gb_client_handler_remove(c, h);
	}
	/* Let queued frames (unsubscribe, cursor acks) leave, briefly. */
	gb_conn_destroy(&c->conn, c->fatal ? 0 : CLOSE_LINGER_MS);
	gb_request_table_destroy(&c->requests);
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
