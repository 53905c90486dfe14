/* Subscription: Subscribe, credit, verified delivery, durable cursor acks
 * and resumption after reconnects (DESIGN §8, §13).
 *
 * Trust: the broker is honest-but-curious and may be compromised, so no
 * Deliver is believed until it passes, in order: its header names our
 * dataset and the owner reported in SubscribeOk (whose key must equal the
 * pin in the agent config, when there is one); the signature verifies
 * under the owner's key; its base offset continues the previous batch
 * (dense offsets); its chain hash follows from the previous one
 * (gb_chain_next) whenever the previous hash is known — from offset 0, or
 * from the second batch on; its record count matches the header; and it
 * opens. Any failure ends the subscription with a sentence naming the
 * offset. A batch is checked when the caller reaches it, so records
 * delivered before a bad batch are still returned in order.
 *
 * Keys (DESIGN §5): a batch under a key epoch the client's keyring lacks
 * waits at the head of the queue while the key is fetched (KeyFetch, sent
 * without blocking and answered through the client). The wrap must verify
 * under the owner's key (the same, pinned or reported, that batches are
 * checked under), be sealed to this department and match its commitment
 * (gb_keywrap_open); the batch's key_commitment must then equal the key's.
 * No wrap yet means the owner has not provided one: the subscription says
 * so once per epoch (GB_EVENT_KEY_WAITING) and asks again every second.
 * Only then is the batch decrypted; its tag and record_count are checked by
 * gb_envelope_open. Decrypted payloads are wiped when the batch is done.
 *
 * Positions: next_out is the first offset not yet returned; consumed is
 * the first offset not yet consumed (a returned record is consumed when
 * the caller comes back for the next one or commits); acked is the last
 * CursorAck sent. acked <= consumed <= next_out. */
#include "gb_client_internal.h"
#include "gb_dataset_keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "gb_chain.h"
#include "gb_envelope.h"

#define DEFAULT_CREDIT 64u
#define DEFAULT_ACK_EVERY 1000u
#define KEY_RETRY_MS 1000         /* ask again for a wrap the owner owes */

enum sub_state {
	SUB_AWAIT_OK,                 /* Subscribe sent, no answer yet */
	SUB_ACTIVE,
	SUB_ENDED,                    /* error set; queue may still hold batches */
};

struct queued {
	struct queued *next;
	gb_server_frame *frame;       /* a Deliver */
};

struct gb_subscription {
	gb_client_handler handler;    /* frames by subscription id */
	gb_client *c;
	uint64_t id;
	char dataset[GB_MAX_ID_LEN + 1];
	char durable[GB_MAX_NAME_LEN + 1];
	gb_subscription_options o;
	enum sub_state state;
	bool ok_seen;                 /* a SubscribeOk arrived at least once */
	int error;                    /* why it ended */
	unsigned error_status;
	char error_why[GB_AGENT_ERROR_MAX];

	char owner[GB_MAX_ID_LEN + 1];
	uint8_t owner_pk[GB_SIGN_PK_BYTES];

	/* this session (since the last SubscribeOk) */
	uint64_t skip_below;          /* records below are not returned */
	bool have_expect;
	uint64_t expect_next;         /* base offset the next batch must have */
	uint64_t delivered_end;       /* broker's delivery position */
	uint32_t credit_unused;       /* batches consumed, not yet re-granted */
	struct queued *qhead, *qtail;

	/* the batch being read */
	gb_server_frame *cur;
	gb_envelope *env;
	Govbus__V1__RecordList *list;
	size_t idx;
	bool cur_counts;              /* releasing it re-grants credit */

	/* chain state across batches and sessions */
	uint64_t cur_base, cur_end;
	uint8_t hash_before[GB_HASH_BYTES], hash_after[GB_HASH_BYTES];
	bool before_known, after_known;

	/* the key epoch the head batch waits for (0: none) */
	uint32_t key_epoch;
	uint64_t key_request;         /* KeyFetch in flight, 0: none */
	int64_t key_retry_ms;         /* when to ask again, 0: now */
	uint32_t key_reported;        /* last epoch reported as waited for */

	/* consumer position */
	uint64_t next_out;
	uint64_t consumed;
	uint64_t acked;
	bool returned_pending;        /* last returned record not consumed yet */
	uint64_t pending_next;
};

uint64_t gb_subscription_position(const gb_subscription *s)
{
	return s->next_out;
}

void gb_subscription_options_init(gb_subscription_options *o)
{
	memset(o, 0, sizeof *o);
	o->start.kind = GB_START_EARLIEST;
	o->credit = DEFAULT_CREDIT;
	o->ack_every = DEFAULT_ACK_EVERY;
}

/* ---------------------------------------------------------------- ending */

static void queue_clear(gb_subscription *s)
{
	while (s->qhead) {
		struct queued *q = s->qhead;
		s->qhead = q->next;
		gb_codec_server_free(&q->frame);
		free(q);
	}
	s->qtail = NULL;
}

static void current_release(gb_subscription *s)
{
	if (s->list) {
		/* Plaintext does not outlive its batch. */
		for (size_t i = 0; i < s->list->n_records; i++) {
			Govbus__V1__Record *r = s->list->records[i];
			sodium_memzero(r->payload.data, r->payload.len);
			if (r->id)
				sodium_memzero(r->id, strlen(r->id));
		}
		govbus__v1__record_list__free_unpacked(s->list, NULL);
	}
	s->list = NULL;
	gb_envelope_destroy(&s->env);
	gb_codec_server_free(&s->cur);
	s->idx = 0;
}

/* End the subscription with `rc`; next() returns it once the queue (if
 * `keep_queue`) is drained. Returns rc. */
static int end_sub(gb_subscription *s, int rc, unsigned status,
		   bool keep_queue, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int end_sub(gb_subscription *s, int rc, unsigned status,
		   bool keep_queue, const char *fmt, ...)
{
	va_list ap;

	if (s->state == SUB_ENDED)
		return s->error;
	va_start(ap, fmt);
	vsnprintf(s->error_why, sizeof s->error_why, fmt, ap);
	va_end(ap);
	s->error = rc;
	s->error_status = status ? status : gb_error_status(rc);
	s->state = SUB_ENDED;
	if (!keep_queue)
		queue_clear(s);
	return gb_client_fail(s->c, rc, s->error_status, "%s", s->error_why);
}

static int restate(gb_subscription *s)
{
	return gb_client_fail(s->c, s->error, s->error_status, "%s",
			      s->error_why);
}

/* ---------------------------------------------------------------- frames out */

static void send_subscribe(gb_subscription *s, gb_start_kind kind,
			   uint64_t value)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Subscribe sub = GOVBUS__V1__SUBSCRIBE__INIT;

	sub.subscription_id = s->id;
	sub.dataset = s->dataset;
	sub.credit = s->o.credit;
	sub.durable = s->durable;
	switch (kind) {
	case GB_START_LATEST:
		sub.start = GOVBUS__V1__SUBSCRIBE__START__START_LATEST;
		break;
	case GB_START_OFFSET:
		sub.start = GOVBUS__V1__SUBSCRIBE__START__START_OFFSET;
		sub.offset = value;
		break;
	case GB_START_TIME:
		sub.start = GOVBUS__V1__SUBSCRIBE__START__START_TIME;
		sub.time_ns = value;
		break;
	default:
		sub.start = GOVBUS__V1__SUBSCRIBE__START__START_EARLIEST;
		break;
	}
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE;
	f.subscribe = &sub;
	s->state = SUB_AWAIT_OK;
	(void)gb_client_send_frame(s->c, &f);
}

static void send_credit(gb_subscription *s, uint32_t batches)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Credit cr = GOVBUS__V1__CREDIT__INIT;

	cr.subscription_id = s->id;
	cr.batches = batches;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CREDIT;
	f.credit = &cr;
	(void)gb_client_send_frame(s->c, &f);
}

/* Send a CursorAck for what is consumed, if the broker can take it: it
 * refuses an ack beyond what it delivered in this session, which after a
 * resume from an older stored cursor can lag behind us for a while. */
static int send_ack(gb_subscription *s)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__CursorAck ack = GOVBUS__V1__CURSOR_ACK__INIT;

	if (!s->durable[0] || s->state != SUB_ACTIVE ||
	    s->consumed <= s->acked || s->consumed > s->delivered_end)
		return 0;
	if (s->o.before_ack && s->o.before_ack(s->o.before_ack_arg) != 0)
		return gb_client_fail(s->c, GB_EIO, 0,
				      "could not make the output durable, so "
				      "the cursor %s of %s was not advanced",
				      s->durable, s->dataset);
	ack.subscription_id = s->id;
	ack.next_offset = s->consumed;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CURSOR_ACK;
	f.cursor_ack = &ack;
	s->acked = s->consumed;
	return gb_client_send_frame(s->c, &f);
}

static void send_unsubscribe(gb_subscription *s)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Unsubscribe u = GOVBUS__V1__UNSUBSCRIBE__INIT;

	u.subscription_id = s->id;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_UNSUBSCRIBE;
	f.unsubscribe = &u;
	(void)gb_client_send_frame(s->c, &f);
}

/* ---------------------------------------------------------------- frames in */

static void on_ok(gb_subscription *s, const Govbus__V1__SubscribeOk *ok)
{
	const uint8_t *pin;

	if (s->state != SUB_AWAIT_OK)
		return;
	if (!gb_id_valid(ok->owner) || ok->owner_sign_key.len != GB_SIGN_PK_BYTES) {
		(void)end_sub(s, GB_EPROTO, 0, false,
			      "the broker's SubscribeOk for %s has no valid "
			      "owner or owner_sign_key",
			      s->dataset);
		return;
	}
	if (s->ok_seen && strcmp(ok->owner, s->owner) != 0) {
		(void)end_sub(s, GB_EAUTH, 0, false,
			      "the broker now reports %.64s as the owner of %s, "
			      "not %s as before",
			      ok->owner, s->dataset, s->owner);
		return;
	}
	pin = gb_agent_config_peer(gb_client_config(s->c), ok->owner);
	if (pin && sodium_memcmp(pin, ok->owner_sign_key.data,
				 GB_SIGN_PK_BYTES) != 0) {
		char got[GB_SIGN_PK_TEXT];
		gb_key_encode_sign(ok->owner_sign_key.data, got);
		(void)end_sub(s, GB_EAUTH, 0, false,
			      "the broker reports signing key %s for %s, owner "
			      "of %s, but this agent's config pins a different "
			      "key under peers:, so the subscription stops",
			      got, ok->owner, s->dataset);
		return;
	}
	if (s->ok_seen && sodium_memcmp(s->owner_pk, ok->owner_sign_key.data,
					GB_SIGN_PK_BYTES) != 0) {
		(void)end_sub(s, GB_EAUTH, 0, false,
			      "the broker reports a different signing key for "
			      "%s than before the reconnect",
			      s->owner);
		return;
	}
	snprintf(s->owner, sizeof s->owner, "%s", ok->owner);
	memcpy(s->owner_pk, ok->owner_sign_key.data, GB_SIGN_PK_BYTES);

	if (!s->ok_seen) {
		s->skip_below = ok->start_offset;
		if (s->o.start.kind == GB_START_OFFSET && !s->durable[0] &&
		    s->o.start.value > s->skip_below)
			s->skip_below = s->o.start.value;
		s->next_out = s->consumed = s->acked = s->skip_below;
	} else {
		if (ok->start_offset > s->next_out) {
			(void)end_sub(s, GB_ECORRUPT, 0, false,
				      "after reconnecting, the broker resumed %s "
				      "at offset %" PRIu64 ", past offset "
				      "%" PRIu64 " that was expected next: "
				      "records would be missing",
				      s->dataset, ok->start_offset, s->next_out);
			return;
		}
		s->skip_below = s->next_out;
	}
	s->ok_seen = true;
	s->state = SUB_ACTIVE;
	s->have_expect = false;
	s->delivered_end = ok->start_offset;
	s->credit_unused = 0;
}

/* Takes ownership of `frame` (a Deliver). */
static void on_deliver(gb_subscription *s, gb_server_frame *frame)
{
	const Govbus__V1__Deliver *d = frame->deliver;
	struct queued *q;

	if (s->state != SUB_ACTIVE) {
		gb_codec_server_free(&frame);
		return;
	}
	q = malloc(sizeof *q);
	if (!q) {
		gb_codec_server_free(&frame);
		(void)end_sub(s, GB_ENOMEM, 0, false, "out of memory");
		return;
	}
	if (d->base_offset <= UINT64_MAX - d->record_count &&
	    d->base_offset + d->record_count > s->delivered_end)
		s->delivered_end = d->base_offset + d->record_count;
	q->next = NULL;
	q->frame = frame;
	if (s->qtail)
		s->qtail->next = q;
	else
		s->qhead = q;
	s->qtail = q;
}

static void on_error(gb_subscription *s, const Govbus__V1__Error *err)
{
	/* Batches delivered before the error were allowed when sent: keep
	 * them, the caller gets them before the error. */
	(void)end_sub(s, gb_error_from_status(err->status), err->status, true,
		      "%s", err->message);
}

/* A SubscribeOk, a Deliver or an Error for this subscription. */
static void on_frame(void *self, gb_server_frame *frame)
{
	switch (frame->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK:
		on_ok(self, frame->subscribe_ok);
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_DELIVER:
		on_deliver(self, frame);
		return; /* the queue owns the frame now */
	case GOVBUS__V1__SERVER_FRAME__BODY_ERROR:
		on_error(self, frame->error);
		break;
	default:
		break;
	}
	gb_codec_server_free(&frame);
}

/* Ask again from the first offset not yet returned to the caller. */
static void on_reconnect(void *self, bool restarted)
{
	gb_subscription *s = self;
	gb_event ev = {0};

	if (s->state == SUB_ENDED)
		return;
	queue_clear(s);
	/* The batch being read stays readable for the caller until its next
	 * call, but its remaining records come again from the new session. */
	if (s->list)
		s->idx = s->list->n_records;
	s->cur_counts = false;
	if (s->ok_seen)
		send_subscribe(s, GB_START_OFFSET, s->next_out);
	else
		send_subscribe(s, s->o.start.kind, s->o.start.value);
	ev.kind = GB_EVENT_RESUBSCRIBED;
	ev.restarted = restarted;
	ev.dataset = s->dataset;
	ev.offset = s->ok_seen ? s->next_out : s->o.start.value;
	gb_client_emit(s->c, &ev);
}

/* ---------------------------------------------------------------- keys */

static void key_wait_reset(gb_subscription *s)
{
	if (s->key_request)
		gb_client_request_cancel(s->c, s->key_request);
	s->key_request = 0;
	s->key_retry_ms = 0;
	s->key_epoch = 0;
}

/* Send a KeyFetch for this department's wrap of `epoch`. */
static int key_ask(gb_subscription *s, uint32_t epoch)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__KeyFetch kf = GOVBUS__V1__KEY_FETCH__INIT;

	kf.dataset = s->dataset;
	kf.epoch = epoch;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH;
	f.key_fetch = &kf;
	return gb_client_request_start(s->c, &f, &s->key_request);
}

/* The broker's answer to our KeyFetch of `epoch`: adopt the wrap, note
 * that there is none yet, or end the subscription. Returns 0 when the key
 * is now held, 1 to wait, or the error that ended the subscription. */
static int key_answer(gb_subscription *s, gb_server_frame *a, uint32_t epoch)
{
	const Govbus__V1__KeyInfo *ki = a->key_info;
	gb_event ev = {0};
	char why[256];
	int rc;

	if (a->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR)
		return end_sub(s, gb_error_from_status(a->error->status),
			       a->error->status, false,
			       "cannot get key epoch %" PRIu32 " of %s: %s",
			       epoch, s->dataset, a->error->message);
	if (a->body_case != GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO ||
	    strcmp(ki->dataset, s->dataset) != 0 || ki->epoch != epoch)
		return end_sub(s, GB_EPROTO, 0, false,
			       "the broker answered a KeyFetch for epoch "
			       "%" PRIu32 " of %s with another frame, dataset "
			       "or epoch",
			       epoch, s->dataset);
	if (ki->signed_wrap.len) {
		rc = gb_dataset_keys_adopt(s->c, ki, s->dataset, epoch, s->owner,
					   s->owner_pk, NULL, why, sizeof why);
		if (rc != 0)
			return end_sub(s, rc, 0, false,
				       "the key of %s epoch %" PRIu32 " from its "
				       "owner %s is refused: %s",
				       s->dataset, epoch, s->owner, why);
		return 0;
	}
	if (s->state == SUB_ENDED)
		return restate(s); /* no wrap will come for an ended one */
	if (s->key_reported != epoch) {
		s->key_reported = epoch;
		ev.kind = GB_EVENT_KEY_WAITING;
		ev.dataset = s->dataset;
		ev.epoch = epoch;
		ev.owner = s->owner;
		gb_client_emit(s->c, &ev);
	}
	s->key_retry_ms = gb_agent_now_ms() + KEY_RETRY_MS;
	return 1;
}

/* Make sure the key of `epoch` is in the keyring, without blocking.
 * Returns 0 when it is, 1 while it is being fetched or waited for, or the
 * error that ended the subscription. */
static int need_key(gb_subscription *s, uint32_t epoch)
{
	gb_server_frame *a = NULL;
	int rc;

	if (gb_keyring_has(gb_client_keyring(s->c), s->dataset, epoch)) {
		if (s->key_epoch)
			key_wait_reset(s);
		return 0;
	}
	if (s->key_epoch != epoch) {
		key_wait_reset(s);
		s->key_epoch = epoch;
	}
	if (s->key_request) {
		if (!gb_client_request_take(s->c, s->key_request, &a))
			return 1;
		s->key_request = 0;
		rc = key_answer(s, a, epoch);
		gb_codec_server_free(&a);
		if (rc <= 0)
			key_wait_reset(s);
		return rc;
	}
	if (gb_agent_now_ms() < s->key_retry_ms)
		return 1;
	rc = key_ask(s, epoch);
	if (rc != 0)
		return end_sub(s, rc, 0, false, "%s", gb_client_last_error(s->c));
	return 1;
}

/* Handle frames while the head batch waits for its key: until the KeyFetch
 * is answered, the time to ask again, or the caller's deadline (then
 * GB_ETIMEOUT). */
static int key_wait(gb_subscription *s, int64_t deadline)
{
	int64_t until = deadline;
	int rc;

	if (!s->key_request && s->key_retry_ms &&
	    (until < 0 || s->key_retry_ms < until))
		until = s->key_retry_ms;
	rc = gb_client_wait(s->c, until);
	if (rc == GB_ETIMEOUT &&
	    (deadline < 0 || gb_agent_now_ms() < deadline))
		return 0;
	return rc;
}

/* ---------------------------------------------------------------- batches */

/* Check the next queued batch and make it the current one. Returns 0, 1
 * when the batch waits for the key of its epoch (the frame is then not
 * taken), or the error that ended the subscription (the frame is freed). */
static int open_batch(gb_subscription *s, gb_server_frame *frame)
{
	const Govbus__V1__Deliver *d = frame->deliver;
	const Govbus__V1__BatchHeader *h;
	uint64_t base = d->base_offset, end;
	uint8_t prev[GB_HASH_BYTES], got[GB_HASH_BYTES];
	bool prev_known = false;
	gb_envelope *env = NULL;
	Govbus__V1__RecordList *list = NULL;
	gb_keyring *kr = gb_client_keyring(s->c);
	const uint8_t *key = NULL;
	char why[256];
	int rc;

	if (base > UINT64_MAX - d->record_count) {
		rc = end_sub(s, GB_ECORRUPT, 0, false,
			     "batch offset %" PRIu64 " of %s overflows", base,
			     s->dataset);
		goto err;
	}
	end = base + d->record_count;
	rc = gb_envelope_parse(d->signed_batch.data, d->signed_batch.len, &env,
			       why, sizeof why);
	if (rc != 0) {
		rc = end_sub(s, GB_ECORRUPT, 0, false,
			     "batch at offset %" PRIu64 " of %s is malformed: %s",
			     base, s->dataset, why);
		goto err;
	}
	h = gb_envelope_header(env);
	if (strcmp(h->dataset, s->dataset) != 0 ||
	    strcmp(h->producer, s->owner) != 0) {
		rc = end_sub(s, GB_ECORRUPT, 0, false,
			     "batch at offset %" PRIu64 " of %s was signed "
			     "for dataset %.64s by %.64s, not for %s by its "
			     "owner %s",
			     base, s->dataset, h->dataset, h->producer,
			     s->dataset, s->owner);
		goto err;
	}
	if (gb_envelope_verify(env, s->owner_pk) != 0) {
		rc = end_sub(s, GB_ESIG, 0, false,
			     "batch at offset %" PRIu64 " of %s does not "
			     "verify under the signing key of its owner %s",
			     base, s->dataset, s->owner);
		goto err;
	}
	if (h->record_count != d->record_count) {
		rc = end_sub(s, GB_ECORRUPT, 0, false,
			     "batch at offset %" PRIu64 " of %s: the broker "
			     "says %" PRIu32 " records, the signed header %"
			     PRIu32,
			     base, s->dataset, d->record_count, h->record_count);
		goto err;
	}
	if (s->have_expect && base != s->expect_next) {
		rc = end_sub(s, GB_ECORRUPT, 0, false,
			     "offsets of %s do not continue: expected a batch "
			     "at offset %" PRIu64 ", got one at %" PRIu64,
			     s->dataset, s->expect_next, base);
		goto err;
	}
	if (!s->have_expect && base > s->skip_below) {
		rc = end_sub(s, GB_ECORRUPT, 0, false,
			     "the broker started %s at offset %" PRIu64
			     " but offset %" PRIu64 " was due first: records "
			     "would be missing",
			     s->dataset, base, s->skip_below);
		goto err;
	}
	if (s->after_known && base == s->cur_end) {
		memcpy(prev, s->hash_after, sizeof prev);
		prev_known = true;
	} else if (s->before_known && base == s->cur_base) {
		memcpy(prev, s->hash_before, sizeof prev); /* resent batch */
		prev_known = true;
	} else if (base == 0) {
		memset(prev, 0, sizeof prev);
		prev_known = true;
	}
	if (prev_known) {
		gb_chain_next(prev, base, d->broker_time_ns, d->signed_batch.data,
			      d->signed_batch.len, got);
		if (sodium_memcmp(got, d->chain_hash.data, GB_HASH_BYTES) != 0) {
			rc = end_sub(s, GB_ECORRUPT, 0, false,
				     "the hash chain of %s breaks at offset "
				     "%" PRIu64 ": the log was altered, "
				     "reordered or truncated",
				     s->dataset, base);
			goto err;
		}
	}
	/* Epoch 0 is a clear batch from before keys existed: signed by the
	 * owner like any other, so it is read as it was written. */
	if (h->key_epoch != 0) {
		uint8_t commitment[GB_COMMITMENT_BYTES];

		rc = need_key(s, h->key_epoch);
		if (rc == 1) {
			gb_envelope_destroy(&env);
			return 1;
		}
		if (rc != 0)
			goto err;
		key = gb_keyring_borrow(kr, s->dataset, h->key_epoch);
		gb_envelope_key_commitment(key, commitment);
		if (sodium_memcmp(commitment, h->key_commitment.data,
				  GB_COMMITMENT_BYTES) != 0) {
			rc = end_sub(s, GB_ECRYPTO, 0, false,
				     "batch at offset %" PRIu64 " of %s carries "
				     "a key commitment that differs from the "
				     "owner's wrap of key epoch %" PRIu32
				     ": it was not sealed under that key",
				     base, s->dataset, h->key_epoch);
			goto err;
		}
	}
	rc = gb_envelope_open(env, key, &list, why, sizeof why);
	if (key) {
		gb_keyring_release(kr, key);
		key = NULL;
	}
	if (rc != 0) {
		rc = end_sub(s, rc, 0, false,
			     "batch at offset %" PRIu64 " of %s does not open: "
			     "%s",
			     base, s->dataset, why);
		goto err;
	}
	s->have_expect = true;
	s->expect_next = end;
	memcpy(s->hash_before, prev, sizeof prev);
	s->before_known = prev_known;
	memcpy(s->hash_after, d->chain_hash.data, GB_HASH_BYTES);
	s->after_known = true;
	s->cur_base = base;
	s->cur_end = end;
	s->cur = frame;
	s->env = env;
	s->list = list;
	s->idx = 0;
	s->cur_counts = true;
	return 0;
err:
	if (key)
		gb_keyring_release(kr, key);
	gb_envelope_destroy(&env);
	gb_codec_server_free(&frame);
	return rc;
}

/* Done with the current batch: free it and grant credit for it. */
static void finish_batch(gb_subscription *s)
{
	bool counts = s->cur_counts && s->state == SUB_ACTIVE;
	uint32_t half = s->o.credit / 2 ? s->o.credit / 2 : 1;

	current_release(s);
	s->cur_counts = false;
	if (!counts)
		return;
	if (++s->credit_unused >= half) {
		send_credit(s, s->credit_unused);
		s->credit_unused = 0;
	}
}

static void mark_consumed(gb_subscription *s)
{
	if (s->returned_pending) {
		s->consumed = s->pending_next;
		s->returned_pending = false;
	}
}

int gb_subscription_next(gb_subscription *s, gb_record *rec, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : gb_agent_now_ms() + timeout_ms;
	int rc;

	mark_consumed(s);
	for (;;) {
		if (s->list && s->idx < s->list->n_records) {
			const Govbus__V1__Record *r = s->list->records[s->idx];
			uint64_t off = s->cur_base + s->idx;

			s->idx++;
			if (off < s->skip_below)
				continue;
			rec->dataset = s->dataset;
			rec->offset = off;
			rec->producer = s->owner;
			rec->produced_at_ns = r->produced_at_ns;
			rec->broker_time_ns = s->cur->deliver->broker_time_ns;
			rec->id = r->id ? r->id : "";
			rec->payload = r->payload.data;
			rec->len = r->payload.len;
			s->next_out = off + 1;
			s->returned_pending = true;
			s->pending_next = off + 1;
			if (s->durable[0] &&
			    s->consumed - s->acked >= s->o.ack_every) {
				rc = send_ack(s);
				if (rc != 0)
					return rc;
			}
			return 0;
		}
		if (s->cur)
			finish_batch(s);
		if (s->qhead) {
			struct queued *q = s->qhead;

			s->qhead = q->next;
			if (!s->qhead)
				s->qtail = NULL;
			rc = open_batch(s, q->frame);
			if (rc == 1) {
				/* Back to the head: it waits for its key. */
				q->next = s->qhead;
				s->qhead = q;
				if (!s->qtail)
					s->qtail = q;
				rc = key_wait(s, deadline);
				if (rc != 0)
					return rc;
				continue;
			}
			free(q); /* open_batch took the frame */
			if (rc != 0)
				return rc;
			continue;
		}
		if (s->state == SUB_ENDED)
			return restate(s);
		/* Caught up: a good moment to move the durable cursor. */
		rc = send_ack(s);
		if (rc != 0)
			return rc;
		rc = gb_client_wait(s->c, deadline);
		if (rc != 0)
			return rc;
	}
}

/* Wait until the subscription is active and the broker has delivered up
 * to what is consumed (so it accepts the ack). */
static int wait_ackable(gb_subscription *s, int64_t deadline)
{
	while (s->state == SUB_AWAIT_OK ||
	       (s->state == SUB_ACTIVE && s->consumed > s->delivered_end)) {
		int rc = gb_client_wait(s->c, deadline);
		if (rc != 0)
			return rc;
	}
	return s->state == SUB_ENDED ? restate(s) : 0;
}

int gb_subscription_commit(gb_subscription *s)
{
	int64_t deadline;
	int rc;

	mark_consumed(s);
	if (!s->durable[0])
		return 0;
	if (s->consumed <= s->acked)
		return s->state == SUB_ENDED ? restate(s) : 0;
	deadline = gb_agent_now_ms() + 2 * (int64_t)gb_client_timeout_ms(s->c);
	for (int attempt = 0; attempt < 3; attempt++) {
		rc = wait_ackable(s, deadline);
		if (rc != 0)
			return rc;
		rc = send_ack(s);
		if (rc != 0)
			return rc;
		rc = gb_client_sync(s->c, deadline);
		if (rc != GB_EUNAVAIL)
			return rc;
		/* Rebuilt meanwhile: the new session needs the ack again. */
		s->acked = 0;
	}
	return rc;
}

/* ---------------------------------------------------------------- lifecycle */

static void close_handler(void *self)
{
	gb_subscription *s = self;
	gb_subscription_close(&s);
}

static const gb_client_handler_ops subscription_ops = {
	.on_frame = on_frame,
	.on_reconnect = on_reconnect,
	.close = close_handler,
};

int gb_subscription_open(gb_client *c, const char *dataset,
			 const gb_subscription_options *opts,
			 gb_subscription **out)
{
	gb_subscription *s;
	int rc;

	*out = NULL;
	if (!gb_id_valid(dataset))
		return gb_client_fail(c, GB_EINVAL, 0,
				      "\"%.64s\" is not a valid dataset id",
				      dataset ? dataset : "");
	if (opts && opts->durable && opts->durable[0] &&
	    !gb_name_valid(opts->durable))
		return gb_client_fail(c, GB_EINVAL, 0,
				      "\"%.64s\" is not a valid durable cursor "
				      "name (1..%d of A-Z a-z 0-9 . _ -)",
				      opts->durable, GB_MAX_NAME_LEN);
	if (opts && (opts->credit > GB_MAX_CREDIT ||
		     opts->start.kind > GB_START_TIME))
		return gb_client_fail(c, GB_EINVAL, 0,
				      "subscription options out of range "
				      "(credit at most %u)",
				      GB_MAX_CREDIT);
	s = calloc(1, sizeof *s);
	if (!s)
		return gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
	if (opts)
		s->o = *opts;
	else
		gb_subscription_options_init(&s->o);
	if (!s->o.credit)
		s->o.credit = DEFAULT_CREDIT;
	if (!s->o.ack_every)
		s->o.ack_every = DEFAULT_ACK_EVERY;
	snprintf(s->durable, sizeof s->durable, "%s",
		 s->o.durable ? s->o.durable : "");
	s->o.durable = NULL;
	snprintf(s->dataset, sizeof s->dataset, "%s", dataset);
	s->c = c;
	s->id = gb_client_next_subscription_id(c);
	s->handler.ops = &subscription_ops;
	s->handler.self = s;
	s->handler.subscription_id = s->id;
	gb_client_handler_add(c, &s->handler);
	send_subscribe(s, s->o.start.kind, s->o.start.value);
	while (s->state == SUB_AWAIT_OK) {
		rc = gb_client_wait(c, -1);
		if (rc != 0) {
			gb_subscription_close(&s);
			return rc;
		}
	}
	/* Ended after its SubscribeOk (e.g. revoked within the same burst of
	 * frames): the delivered records come first, next() reports the end. */
	if (s->state == SUB_ENDED && !s->ok_seen) {
		rc = restate(s);
		gb_client_handler_remove(c, &s->handler);
		queue_clear(s);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void gb_subscription_close(gb_subscription **sp)
{
	gb_subscription *s;

	if (!sp || !*sp)
		return;
	s = *sp;
	if (!gb_client_error(s->c)) {
		(void)send_ack(s);
		/* Also after a local verification failure: the broker still
		 * holds the subscription. After the broker's own Error it is
		 * gone there, and an Unsubscribe for it is ignored. */
		send_unsubscribe(s);
	}
	key_wait_reset(s);
	gb_client_handler_remove(s->c, &s->handler);
	queue_clear(s);
	current_release(s);
	free(s);
	*sp = NULL;
}
