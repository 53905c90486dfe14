/* The audit commands' connection; see gb_audit_session.h.
 *
 * Trust: frames come through the client, already bounded and decoded by
 * gb_codec; here they are only matched to the request awaited or the
 * replay in progress. Only the frame types those expect are taken as
 * answers. */
#include "gb_audit_session.h"

#include <stdlib.h>
#include <string.h>

#include "gb_chain.h"
#include "gb_client_internal.h"

#define REPLAY_CREDIT 64u              /* batches in flight while replaying */
#define REQUEST_TIMEOUT_MS 30000       /* one answer (a registry page...) */
#define SILENCE_TIMEOUT_MS 30000       /* replay: nothing arrives */

/* One connection and the answers its handler set aside for us. */
struct gb_audit_session {
	gb_client *c;
	/* the answer to the request awaited, and the frames of the raw
	 * replay (handler.subscription_id, 0: none) */
	gb_client_handler handler;
	uint64_t reconnects;
	uint64_t want;                 /* request id awaited, 0: none */
	gb_server_frame *answer;
	bool sub_ok;
	uint64_t start_offset, head_offset;
	gb_server_frame **queue;       /* Deliver frames, FIFO */
	size_t q_head, q_len, q_cap;
	gb_server_frame *sub_error;
	bool oom;
};

/* ------------------------------------------------------------ frames */

static bool queue_push(gb_audit_session *s, gb_server_frame *f)
{
	if (s->q_len == s->q_cap) {
		size_t cap = s->q_cap ? s->q_cap * 2 : 64;
		gb_server_frame **q = malloc(cap * sizeof *q);

		if (!q)
			return false;
		for (size_t i = 0; i < s->q_len; i++)
			q[i] = s->queue[(s->q_head + i) % s->q_cap];
		free(s->queue);
		s->queue = q;
		s->q_cap = cap;
		s->q_head = 0;
	}
	s->queue[(s->q_head + s->q_len++) % s->q_cap] = f;
	return true;
}

static gb_server_frame *queue_pop(gb_audit_session *s)
{
	gb_server_frame *f;

	if (!s->q_len)
		return NULL;
	f = s->queue[s->q_head];
	s->q_head = (s->q_head + 1) % s->q_cap;
	s->q_len--;
	return f;
}

/* The answer to the request awaited: a Registry, a CheckpointReply, a
 * CheckpointList or an Error. */
static bool owns_request(void *self, uint64_t id)
{
	const gb_audit_session *s = self;

	return id && id == s->want && !s->answer;
}

static void on_frame(void *self, gb_server_frame *f)
{
	gb_audit_session *s = self;

	switch (f->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_REGISTRY:
	case GOVBUS__V1__SERVER_FRAME__BODY_CHECKPOINT_REPLY:
	case GOVBUS__V1__SERVER_FRAME__BODY_CHECKPOINT_LIST:
		s->answer = f;
		return;
	case GOVBUS__V1__SERVER_FRAME__BODY_ERROR:
		if (f->error->request_id) {
			s->answer = f;
		} else if (!s->sub_error) {
			s->sub_error = f; /* the replay's end */
		} else {
			gb_codec_server_free(&f);
		}
		return;
	case GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK:
		s->sub_ok = true;
		s->start_offset = f->subscribe_ok->start_offset;
		s->head_offset = f->subscribe_ok->head_offset;
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_DELIVER:
		if (!queue_push(s, f)) {
			s->oom = true;
			break;
		}
		return;
	default:
		break;
	}
	gb_codec_server_free(&f);
}

static const gb_client_handler_ops session_ops = {
	.owns_request = owns_request,
	.on_frame = on_frame,
};

/* ------------------------------------------------------------ lifecycle */

int gb_audit_session_open(const gb_agent_config *cfg, gb_audit_session **out,
			  char *why, size_t why_len)
{
	gb_audit_session *s = calloc(1, sizeof *s);
	gb_client_options opts;
	int rc;

	*out = NULL;
	if (!s)
		return gb_why(why, why_len, GB_ENOMEM, "out of memory");
	gb_client_options_init(&opts);
	opts.agent_name = "govbus-agent audit";
	rc = gb_client_open(cfg, &opts, &s->c, why, why_len);
	if (rc != 0) {
		free(s);
		return rc;
	}
	s->handler.ops = &session_ops;
	s->handler.self = s;
	gb_client_handler_add(s->c, &s->handler);
	s->reconnects = gb_client_reconnects(s->c);
	*out = s;
	return 0;
}

void gb_audit_session_close(gb_audit_session **sp)
{
	gb_audit_session *s;
	gb_server_frame *f;

	if (!sp || !*sp)
		return;
	s = *sp;
	while ((f = queue_pop(s)))
		gb_codec_server_free(&f);
	free(s->queue);
	gb_codec_server_free(&s->answer);
	gb_codec_server_free(&s->sub_error);
	gb_client_handler_remove(s->c, &s->handler);
	gb_client_close(&s->c);
	free(s);
	*sp = NULL;
}

gb_client *gb_audit_session_client(const gb_audit_session *s)
{
	return s->c;
}

/* ------------------------------------------------------------ requests */

/* Wait for something to happen; fails when the connection was rebuilt
 * (a replay cannot survive that) or nothing came for `ms`. */
static int session_wait(gb_audit_session *s, int64_t deadline_ms)
{
	int rc = gb_client_wait(s->c, deadline_ms);

	if (rc == 0 && gb_client_reconnects(s->c) != s->reconnects)
		return gb_client_fail(s->c, GB_EUNAVAIL, 0,
				      "the connection to the broker was rebuilt; "
				      "run the audit again");
	if (rc == GB_ETIMEOUT)
		return gb_client_fail(s->c, GB_ETIMEOUT, 0,
				      "the broker did not answer in time");
	if (rc == 0 && s->oom)
		return gb_client_fail(s->c, GB_ENOMEM, 0, "out of memory");
	return rc;
}

int gb_audit_session_request(gb_audit_session *s, const gb_client_frame *f,
			     uint64_t id, gb_server_frame **answer)
{
	int64_t deadline = gb_agent_now_ms() + REQUEST_TIMEOUT_MS;
	int rc;

	*answer = NULL;
	s->want = id;
	rc = gb_client_send_frame(s->c, f);
	while (rc == 0 && !s->answer)
		rc = session_wait(s, deadline);
	s->want = 0;
	if (rc != 0)
		return rc;
	*answer = s->answer;
	s->answer = NULL;
	if ((*answer)->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR) {
		const Govbus__V1__Error *e = (*answer)->error;

		rc = gb_client_fail(s->c, gb_error_from_status(e->status),
				    e->status, "%s", e->message);
		gb_codec_server_free(answer);
	}
	return rc;
}

int gb_audit_session_registry(gb_audit_session *s, const uint8_t *after,
			      gb_server_frame **page)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__RegistryRequest r = GOVBUS__V1__REGISTRY_REQUEST__INIT;

	r.request_id = gb_client_next_request_id(s->c);
	r.after_hash.data = (uint8_t *)after;
	r.after_hash.len = after ? GB_HASH_BYTES : 0;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_REGISTRY_REQUEST;
	f.registry_request = &r;
	return gb_audit_session_request(s, &f, r.request_id, page);
}

/* ------------------------------------------------------------ replay */

static int send_credit(gb_audit_session *s, uint32_t n)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Credit c = GOVBUS__V1__CREDIT__INIT;

	c.subscription_id = s->handler.subscription_id;
	c.batches = n;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CREDIT;
	f.credit = &c;
	return gb_client_send_frame(s->c, &f);
}

int gb_audit_session_replay(gb_audit_session *s, const char *stream,
			    gb_start start, gb_audit_deliver_fn fn, void *ctx,
			    gb_audit_replay *result)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Subscribe sub = GOVBUS__V1__SUBSCRIBE__INIT;
	Govbus__V1__Unsubscribe un = GOVBUS__V1__UNSUBSCRIBE__INIT;
	uint64_t next = 0;
	uint32_t consumed = 0;
	int64_t deadline;
	int rc;

	s->handler.subscription_id = gb_client_next_subscription_id(s->c);
	s->sub_ok = false;
	sub.subscription_id = s->handler.subscription_id;
	sub.dataset = (char *)stream;
	sub.start = (Govbus__V1__Subscribe__Start)start.kind;
	sub.offset = start.kind == GB_START_OFFSET ? start.value : 0;
	sub.time_ns = start.kind == GB_START_TIME ? start.value : 0;
	sub.credit = REPLAY_CREDIT;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE;
	f.subscribe = &sub;
	rc = gb_client_send_frame(s->c, &f);
	deadline = gb_agent_now_ms() + REQUEST_TIMEOUT_MS;
	while (rc == 0 && !s->sub_ok && !s->sub_error)
		rc = session_wait(s, deadline);
	if (rc == 0 && !s->sub_ok)
		goto broker_error;
	next = s->start_offset;
	while (rc == 0 && next < s->head_offset) {
		gb_server_frame *d = queue_pop(s);

		if (!d) {
			if (s->sub_error)
				goto broker_error;
			rc = session_wait(s, gb_agent_now_ms() + SILENCE_TIMEOUT_MS);
			continue;
		}
		next = d->deliver->base_offset + d->deliver->record_count;
		rc = fn(ctx, d->deliver);
		gb_codec_server_free(&d);
		if (++consumed == REPLAY_CREDIT / 2) {
			consumed = 0;
			if (rc == 0)
				rc = send_credit(s, REPLAY_CREDIT / 2);
		}
	}
	goto out;
broker_error:
	rc = gb_client_fail(s->c, gb_error_from_status(s->sub_error->error->status),
			    s->sub_error->error->status, "%s",
			    s->sub_error->error->message);
out:
	result->subscribed = s->sub_ok;
	result->start_offset = s->start_offset;
	result->head_offset = s->head_offset;
	result->stopped_at = next;
	un.subscription_id = s->handler.subscription_id;
	f = (gb_client_frame)GOVBUS__V1__CLIENT_FRAME__INIT;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_UNSUBSCRIBE;
	f.unsubscribe = &un;
	(void)gb_client_send_frame(s->c, &f);
	s->handler.subscription_id = 0;
	return rc;
}

