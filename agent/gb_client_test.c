/* Tests for the agent library against a scripted in-process broker (a
 * ROUTER under CURVE on an ipc:// endpoint, in its own thread). It keeps a
 * real log — signatures checked, seqs deduplicated, chain hashes computed
 * with gb_chain — and can misbehave on request: fail a publish with 503,
 * swallow an ack, refuse with 403, tamper with a batch, break the chain,
 * skip a batch, revoke a subscription, fall silent, or restart with a new
 * instance. The real broker is exercised by the integration tests; this
 * one checks the agent's side of every rule in DESIGN §13. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include "gb_chain.h"
#include "gb_codec.h"
#include "gb_envelope.h"
#include "gb_keys.h"
#include "gb_test.h"
#include "govbus.h"

#define DATASET "health.x"
#define MAX_LOG 256
#define MAX_SUBS 8

struct stored {
	uint8_t *sb;
	size_t len;
	uint64_t base, seq, time;
	uint32_t count;
	uint8_t hash[GB_HASH_BYTES];
};

struct fsub {
	uint8_t peer[256];
	size_t peer_len;
	uint64_t id, next;
	uint32_t credit;
	char durable[GB_MAX_NAME_LEN + 1];
	unsigned delivered;
	bool live;
};

struct fake {
	char endpoint[300];
	gb_identity *key;
	uint8_t producer_pk[GB_SIGN_PK_BYTES];
	pthread_t thread;
	pthread_mutex_t mu;
	void *ctx, *router;
	atomic_int stop, restart, paused;
	uint64_t instance;
	/* the log of DATASET */
	struct stored log[MAX_LOG];
	size_t nlog;
	uint64_t next_offset, last_seq, time;
	uint8_t head[GB_HASH_BYTES];
	struct fsub subs[MAX_SUBS];
	/* durable cursors by name */
	char cursor_name[4][GB_MAX_NAME_LEN + 1];
	uint64_t cursor[4];
	int ncursors;
	/* misbehaviour */
	uint64_t fail_seq_once;       /* 503 on its first arrival */
	uint64_t swallow_seq;         /* store but never ack (once) */
	uint64_t crash_seq;           /* on arrival: lose it, restart (once) */
	int64_t tamper_base, bad_chain_base, skip_base; /* -1: off */
	unsigned revoke_after;        /* 403 after this many deliveries */
	/* counters */
	int publishes, duplicates, hellos, bad_acks;
};

static struct fake fk;

/* ---------------------------------------------------------------- fake broker */

static void fake_send(const uint8_t *peer, size_t peer_len,
		      const gb_server_frame *f)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	if (gb_codec_server_encode(f, &buf, &len) != 0)
		return;
	if (zmq_send(fk.router, peer, peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
		zmq_send(fk.router, buf, len, ZMQ_DONTWAIT);
	free(buf);
}

static void fake_error(const uint8_t *peer, size_t peer_len, unsigned status,
		       uint64_t req, uint64_t sub, const char *msg)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Error e = GOVBUS__V1__ERROR__INIT;
	e.status = status;
	e.message = (char *)msg;
	e.request_id = req;
	e.subscription_id = sub;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_ERROR;
	f.error = &e;
	fake_send(peer, peer_len, &f);
}

static void fake_ack(const uint8_t *peer, size_t peer_len, uint64_t req,
		     const struct stored *s, bool dup)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__PublishAck a = GOVBUS__V1__PUBLISH_ACK__INIT;
	a.request_id = req;
	a.dataset = (char *)DATASET;
	a.producer_seq = s->seq;
	a.base_offset = s->base;
	a.record_count = s->count;
	a.duplicate = dup;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK;
	f.publish_ack = &a;
	fake_send(peer, peer_len, &f);
}

static void fake_publish(const uint8_t *peer, size_t peer_len,
			 const Govbus__V1__Publish *p)
{
	gb_envelope *env = NULL;
	const Govbus__V1__BatchHeader *h;
	struct stored *s;
	char why[256];

	if (gb_envelope_parse(p->signed_batch.data, p->signed_batch.len, &env,
			      why, sizeof why) != 0) {
		fake_error(peer, peer_len, 400, p->request_id, 0, why);
		return;
	}
	h = gb_envelope_header(env);
	if (strcmp(h->dataset, DATASET) != 0) {
		char msg[200];
		snprintf(msg, sizeof msg, "health may not publish to %s: only "
			 "the owner may publish", h->dataset);
		fake_error(peer, peer_len, 403, p->request_id, 0, msg);
		goto out;
	}
	if (gb_envelope_verify(env, fk.producer_pk) != 0) {
		fake_error(peer, peer_len, 401, p->request_id, 0, "bad signature");
		goto out;
	}
	pthread_mutex_lock(&fk.mu);
	fk.publishes++;
	if (h->producer_seq == fk.crash_seq) {
		/* a crash before the commit: this batch and everything still
		 * in flight are lost with the process */
		fk.crash_seq = 0;
		atomic_store(&fk.restart, 1);
		pthread_mutex_unlock(&fk.mu);
		goto out;
	}
	if (h->producer_seq == fk.fail_seq_once) {
		fk.fail_seq_once = 0;
		pthread_mutex_unlock(&fk.mu);
		fake_error(peer, peer_len, 503, p->request_id, 0,
			   "batch not stored: service unavailable");
		goto out;
	}
	if (h->producer_seq <= fk.last_seq) {
		for (size_t i = 0; i < fk.nlog; i++)
			if (fk.log[i].seq == h->producer_seq) {
				fk.duplicates++;
				fake_ack(peer, peer_len, p->request_id,
					 &fk.log[i], true);
				pthread_mutex_unlock(&fk.mu);
				goto out;
			}
		pthread_mutex_unlock(&fk.mu);
		fake_error(peer, peer_len, 409, p->request_id, 0,
			   "batch not stored: conflicts with stored state");
		goto out;
	}
	s = &fk.log[fk.nlog++];
	s->sb = malloc(p->signed_batch.len);
	memcpy(s->sb, p->signed_batch.data, p->signed_batch.len);
	s->len = p->signed_batch.len;
	s->base = fk.next_offset;
	s->seq = h->producer_seq;
	s->count = h->record_count;
	s->time = ++fk.time;
	gb_chain_next(fk.head, s->base, s->time, s->sb, s->len, s->hash);
	memcpy(fk.head, s->hash, GB_HASH_BYTES);
	fk.next_offset += s->count;
	fk.last_seq = s->seq;
	if (s->seq == fk.swallow_seq)
		fk.swallow_seq = 0;
	else
		fake_ack(peer, peer_len, p->request_id, s, false);
	pthread_mutex_unlock(&fk.mu);
out:
	gb_envelope_destroy(&env);
}

static void fake_subscribe(const uint8_t *peer, size_t peer_len,
			   const Govbus__V1__Subscribe *req)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__SubscribeOk ok = GOVBUS__V1__SUBSCRIBE_OK__INIT;
	struct fsub *s = NULL;
	uint64_t start;

	for (int i = 0; i < MAX_SUBS; i++)
		if (!fk.subs[i].live) {
			s = &fk.subs[i];
			break;
		}
	if (!s)
		return;
	pthread_mutex_lock(&fk.mu);
	switch (req->start) {
	case GOVBUS__V1__SUBSCRIBE__START__START_LATEST:
		start = fk.next_offset;
		break;
	case GOVBUS__V1__SUBSCRIBE__START__START_OFFSET:
		start = req->offset < fk.next_offset ? req->offset : fk.next_offset;
		break;
	default:
		start = 0;
		break;
	}
	for (int i = 0; req->durable[0] && i < fk.ncursors; i++)
		if (!strcmp(fk.cursor_name[i], req->durable))
			start = fk.cursor[i]; /* as the real broker: it wins */
	pthread_mutex_unlock(&fk.mu);
	memset(s, 0, sizeof *s);
	memcpy(s->peer, peer, peer_len);
	s->peer_len = peer_len;
	s->id = req->subscription_id;
	s->next = start;
	s->credit = req->credit;
	snprintf(s->durable, sizeof s->durable, "%s", req->durable);
	s->live = true;
	ok.subscription_id = s->id;
	ok.start_offset = start;
	ok.head_offset = fk.next_offset;
	ok.owner = (char *)"health";
	ok.owner_sign_key.data = fk.producer_pk;
	ok.owner_sign_key.len = GB_SIGN_PK_BYTES;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK;
	f.subscribe_ok = &ok;
	fake_send(peer, peer_len, &f);
}

static struct fsub *fake_find(const uint8_t *peer, size_t peer_len, uint64_t id)
{
	for (int i = 0; i < MAX_SUBS; i++)
		if (fk.subs[i].live && fk.subs[i].id == id &&
		    fk.subs[i].peer_len == peer_len &&
		    !memcmp(fk.subs[i].peer, peer, peer_len))
			return &fk.subs[i];
	return NULL;
}

static void fake_handle(const uint8_t *peer, size_t peer_len,
			const uint8_t *buf, size_t len)
{
	gb_client_frame *f = NULL;
	char why[256];
	struct fsub *s;

	if (gb_codec_client_decode(buf, len, &f, why, sizeof why) != 0) {
		fake_error(peer, peer_len, 400, 0, 0, why);
		return;
	}
	switch (f->body_case) {
	case GOVBUS__V1__CLIENT_FRAME__BODY_HELLO: {
		gb_server_frame w = GOVBUS__V1__SERVER_FRAME__INIT;
		Govbus__V1__Welcome wel = GOVBUS__V1__WELCOME__INIT;
		Govbus__V1__ProducerPosition pos =
			GOVBUS__V1__PRODUCER_POSITION__INIT;
		Govbus__V1__ProducerPosition *ps[1] = {&pos};
		pthread_mutex_lock(&fk.mu);
		fk.hellos++;
		pos.dataset = (char *)DATASET;
		pos.last_seq = fk.last_seq;
		pthread_mutex_unlock(&fk.mu);
		wel.dept = (char *)"health";
		wel.instance = fk.instance;
		wel.max_frame = GB_MAX_FRAME;
		wel.n_positions = 1;
		wel.positions = ps;
		w.body_case = GOVBUS__V1__SERVER_FRAME__BODY_WELCOME;
		w.welcome = &wel;
		fake_send(peer, peer_len, &w);
		break;
	}
	case GOVBUS__V1__CLIENT_FRAME__BODY_PING: {
		gb_server_frame w = GOVBUS__V1__SERVER_FRAME__INIT;
		Govbus__V1__Pong pong = GOVBUS__V1__PONG__INIT;
		pong.nonce = f->ping->nonce;
		pong.instance = fk.instance;
		w.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PONG;
		w.pong = &pong;
		fake_send(peer, peer_len, &w);
		break;
	}
	case GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH:
		fake_publish(peer, peer_len, f->publish);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE:
		fake_subscribe(peer, peer_len, f->subscribe);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CREDIT:
		s = fake_find(peer, peer_len, f->credit->subscription_id);
		if (s)
			s->credit += f->credit->batches;
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_UNSUBSCRIBE:
		s = fake_find(peer, peer_len, f->unsubscribe->subscription_id);
		if (s)
			s->live = false;
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CURSOR_ACK:
		s = fake_find(peer, peer_len, f->cursor_ack->subscription_id);
		pthread_mutex_lock(&fk.mu);
		if (!s || !s->durable[0] || f->cursor_ack->next_offset > s->next) {
			fk.bad_acks++;
			pthread_mutex_unlock(&fk.mu);
			fake_error(peer, peer_len, 400, 0,
				   f->cursor_ack->subscription_id,
				   "cursor ack beyond what was delivered");
			break;
		}
		{
			int i = 0;
			while (i < fk.ncursors &&
			       strcmp(fk.cursor_name[i], s->durable) != 0)
				i++;
			if (i == fk.ncursors && i < 4)
				snprintf(fk.cursor_name[fk.ncursors++],
					 GB_MAX_NAME_LEN + 1, "%s", s->durable);
			if (i < 4)
				fk.cursor[i] = f->cursor_ack->next_offset;
		}
		pthread_mutex_unlock(&fk.mu);
		break;
	default:
		break;
	}
	gb_codec_client_free(&f);
}

/* Deliver what each subscription has credit for. */
static void fake_pump(void)
{
	for (int i = 0; i < MAX_SUBS; i++) {
		struct fsub *s = &fk.subs[i];
		while (s->live && s->credit) {
			struct stored *b = NULL, copy;
			gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
			Govbus__V1__Deliver d = GOVBUS__V1__DELIVER__INIT;
			uint8_t *tampered = NULL;

			pthread_mutex_lock(&fk.mu);
			for (size_t k = 0; k < fk.nlog; k++)
				if (fk.log[k].base <= s->next &&
				    s->next < fk.log[k].base + fk.log[k].count)
					b = &fk.log[k];
			if (b && (int64_t)b->base == fk.skip_base) {
				s->next = b->base + b->count;
				pthread_mutex_unlock(&fk.mu);
				continue;
			}
			if (b)
				copy = *b;
			pthread_mutex_unlock(&fk.mu);
			if (!b)
				break;
			if (fk.revoke_after && s->delivered == fk.revoke_after) {
				fake_error(s->peer, s->peer_len, 403, 0, s->id,
					   "subscription of health to health.x "
					   "ended: the grant was revoked");
				s->live = false;
				break;
			}
			if ((int64_t)copy.base == fk.tamper_base) {
				tampered = malloc(copy.len);
				memcpy(tampered, copy.sb, copy.len);
				tampered[copy.len - 70] ^= 0x01; /* ciphertext */
				copy.sb = tampered;
			}
			if ((int64_t)copy.base == fk.bad_chain_base)
				copy.hash[0] ^= 0x01;
			d.subscription_id = s->id;
			d.base_offset = copy.base;
			d.record_count = copy.count;
			d.broker_time_ns = copy.time;
			d.chain_hash.data = copy.hash;
			d.chain_hash.len = GB_HASH_BYTES;
			d.signed_batch.data = copy.sb;
			d.signed_batch.len = copy.len;
			f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_DELIVER;
			f.deliver = &d;
			fake_send(s->peer, s->peer_len, &f);
			free(tampered);
			s->next = copy.base + copy.count;
			s->credit--;
			s->delivered++;
		}
	}
}

static void fake_bind(void)
{
	int one = 1, zero = 0;

	fk.router = zmq_socket(fk.ctx, ZMQ_ROUTER);
	zmq_setsockopt(fk.router, ZMQ_CURVE_SERVER, &one, sizeof one);
	zmq_setsockopt(fk.router, ZMQ_CURVE_SECRETKEY, gb_identity_box_sk(fk.key),
		       GB_BOX_SK_BYTES);
	zmq_setsockopt(fk.router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
	zmq_setsockopt(fk.router, ZMQ_LINGER, &zero, sizeof zero);
	if (zmq_bind(fk.router, fk.endpoint) != 0)
		fprintf(stderr, "fake broker: bind %s: %s\n", fk.endpoint,
			zmq_strerror(errno));
}

static void *fake_main(void *arg)
{
	(void)arg;
	fake_bind();
	while (!atomic_load(&fk.stop)) {
		zmq_pollitem_t it = {fk.router, 0, ZMQ_POLLIN, 0};

		if (atomic_exchange(&fk.restart, 0)) {
			zmq_close(fk.router);
			memset(fk.subs, 0, sizeof fk.subs);
			fk.instance++;
			fake_bind();
		}
		if (atomic_load(&fk.paused)) {
			usleep(5000);
			continue;
		}
		zmq_poll(&it, 1, 5);
		while ((it.revents & ZMQ_POLLIN) && !atomic_load(&fk.restart)) {
			zmq_msg_t peer, body;
			zmq_msg_init(&peer);
			zmq_msg_init(&body);
			if (zmq_msg_recv(&peer, fk.router, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&peer);
				zmq_msg_close(&body);
				break;
			}
			zmq_msg_recv(&body, fk.router, 0);
			fake_handle(zmq_msg_data(&peer), zmq_msg_size(&peer),
				    zmq_msg_data(&body), zmq_msg_size(&body));
			zmq_msg_close(&peer);
			zmq_msg_close(&body);
		}
		fake_pump();
	}
	zmq_close(fk.router);
	return NULL;
}

static void fake_start(const char *dir, gb_identity *producer)
{
	memset(&fk, 0, sizeof fk);
	snprintf(fk.endpoint, sizeof fk.endpoint, "ipc://%s/broker.sock", dir);
	fk.key = gb_identity_generate();
	memcpy(fk.producer_pk, gb_identity_sign_pk(producer), GB_SIGN_PK_BYTES);
	pthread_mutex_init(&fk.mu, NULL);
	fk.instance = 1000;
	fk.last_seq = 5; /* the Welcome position the publisher continues from */
	fk.tamper_base = fk.bad_chain_base = fk.skip_base = -1;
	fk.ctx = zmq_ctx_new();
	pthread_create(&fk.thread, NULL, fake_main, NULL);
}

static void fake_stop(void)
{
	atomic_store(&fk.stop, 1);
	pthread_join(fk.thread, NULL);
	zmq_ctx_term(fk.ctx);
	for (size_t i = 0; i < fk.nlog; i++)
		free(fk.log[i].sb);
	gb_identity_destroy(&fk.key);
}

/* ---------------------------------------------------------------- helpers */

static char dir[256];
static gb_identity *health;

static gb_agent_config *make_config(const char *endpoint, const uint8_t *box_pk,
				    const char *peers_yaml)
{
	char path[400], box[GB_BOX_PK_TEXT], why[512];
	gb_agent_config *cfg = NULL;
	FILE *f;

	snprintf(path, sizeof path, "%s/agent.yaml", dir);
	gb_key_encode_box(box_pk, box);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fprintf(f, "dept: health\nkey: health.key\nbroker:\n"
		"  endpoint: \"%s\"\n  public_key: \"%s\"\n  timeout: 0.3\n%s",
		endpoint, box, peers_yaml ? peers_yaml : "");
	fclose(f);
	if (gb_agent_config_load(path, &cfg, why, sizeof why) != 0)
		fprintf(stderr, "config: %s\n", why);
	return cfg;
}

struct events {
	int reconnects, restarts, resubscribes, resends;
	uint64_t last_offset;
};

static void on_event(void *arg, const gb_event *ev)
{
	struct events *e = arg;
	if (ev->kind == GB_EVENT_RECONNECTED) {
		e->reconnects++;
		e->restarts += ev->restarted;
	} else if (ev->kind == GB_EVENT_RESUBSCRIBED) {
		e->resubscribes++;
		e->last_offset = ev->offset;
	} else if (ev->kind == GB_EVENT_RESENT) {
		e->resends += (int)ev->count;
	}
}

static gb_client *connect_client(const char *peers, struct events *ev)
{
	gb_agent_config *cfg =
		make_config(fk.endpoint, gb_identity_box_pk(fk.key), peers);
	gb_client_options o;
	gb_client *c = NULL;
	char why[1024];

	gb_client_options_init(&o);
	o.ping_ms = 50;
	o.give_up_ms = 5000;
	o.on_event = on_event;
	o.event_arg = ev;
	CHECK(cfg != NULL);
	if (cfg)
		CHECK_RC(gb_client_open(cfg, &o, &c, why, sizeof why), 0);
	if (!c)
		fprintf(stderr, "  open: %s\n", why);
	gb_agent_config_destroy(&cfg);
	return c;
}

static void payload_of(uint64_t i, char *buf, size_t len)
{
	snprintf(buf, len, "record-%06" PRIu64 "-xxxxxxxxxxxxxxxxxxxxxxxx", i);
}

static int publish_n(gb_client *c, uint64_t from, uint64_t n, uint32_t batch)
{
	gb_publisher_options o;
	gb_publisher *p = NULL;
	char buf[96];
	int rc = 0;

	gb_publisher_options_init(&o);
	o.max_records = batch;
	o.window = 4;
	rc = gb_publisher_open(c, DATASET, &o, &p);
	for (uint64_t i = from; rc == 0 && i < from + n; i++) {
		payload_of(i, buf, sizeof buf);
		rc = gb_publisher_add(p, buf, strlen(buf), NULL);
	}
	if (rc == 0)
		rc = gb_publisher_flush(p);
	gb_publisher_close(&p);
	return rc;
}

/* Read `n` records from `s`, expecting offsets from..from+n-1 with their
 * payloads. Returns how many matched before a mismatch or error. */
static uint64_t read_expect(gb_subscription *s, uint64_t from, uint64_t n,
			    int *rc_out)
{
	char want[96];
	uint64_t got = 0;
	int rc = 0;

	for (; s && got < n; got++) {
		gb_record r;
		rc = gb_subscription_next(s, &r, 3000);
		if (rc != 0)
			break;
		payload_of(from + got, want, sizeof want);
		if (r.offset != from + got || r.len != strlen(want) ||
		    memcmp(r.payload, want, r.len) != 0 ||
		    strcmp(r.producer, "health") != 0 ||
		    strcmp(r.dataset, DATASET) != 0) {
			fprintf(stderr, "  record %" PRIu64 ": offset %" PRIu64
				" '%.*s'\n", from + got, r.offset, (int)r.len,
				(const char *)r.payload);
			rc = GB_ECORRUPT;
			break;
		}
	}
	*rc_out = rc;
	return got;
}

static gb_subscription *subscribe(gb_client *c, gb_start_kind kind,
				  uint64_t value, const char *durable, int *rc)
{
	gb_subscription_options o;
	gb_subscription *s = NULL;

	gb_subscription_options_init(&o);
	o.start.kind = kind;
	o.start.value = value;
	o.durable = durable;
	o.credit = 4; /* small, so credit is replenished many times */
	*rc = gb_subscription_open(c, DATASET, &o, &s);
	if (!s)
		fprintf(stderr, "  subscribe: %s\n", gb_client_last_error(c));
	return s;
}

/* ---------------------------------------------------------------- tests */

static void test_publish(gb_client *c)
{
	gb_publisher *p = NULL;
	gb_publisher_stats st;
	char buf[96];

	/* 2500 records in batches of 1000: seqs 6, 7 (503 once), 8; one
	 * batch in flight, so the retry of 7 comes before 8 */
	gb_publisher_options o;
	gb_publisher_options_init(&o);
	o.window = 1;
	fk.fail_seq_once = 7;
	CHECK_RC(gb_publisher_open(c, DATASET, &o, &p), 0);
	gb_publisher *second = NULL;
	CHECK_RC(gb_publisher_open(c, DATASET, NULL, &second), GB_ECONFLICT);
	CHECK(second == NULL);
	for (uint64_t i = 0; i < 2500; i++) {
		payload_of(i, buf, sizeof buf);
		CHECK_RC(gb_publisher_add(p, buf, strlen(buf),
					  i == 0 ? "first" : NULL), 0);
	}
	CHECK_RC(gb_publisher_flush(p), 0);
	gb_publisher_stats_get(p, &st);
	CHECK(st.records == 2500 && st.batches == 3);
	CHECK(st.have_offsets && st.first_offset == 0 && st.last_offset == 2499);
	CHECK(st.last_seq == 8);
	CHECK(fk.fail_seq_once == 0 && fk.nlog == 3 && fk.log[2].seq == 8);
	CHECK_RC(gb_publisher_add(p, NULL, GB_MAX_RECORD_BYTES + 1, NULL),
		 GB_ETOOBIG);
	CHECK_RC(gb_publisher_add(p, "x", 1, "bad\nid"), GB_EINVAL);
	CHECK_RC(gb_publisher_flush(p), 0); /* record errors are not sticky */
	gb_publisher_close(&p);
	CHECK(p == NULL);

	/* a dataset we do not own: 403 with the broker's sentence */
	CHECK_RC(gb_publisher_open(c, "tax.invoices", NULL, &p), 0);
	CHECK_RC(gb_publisher_add(p, "x", 1, NULL), 0);
	CHECK_RC(gb_publisher_flush(p), GB_EPERM);
	CHECK(gb_client_last_status(c) == 403);
	CHECK_CONTAINS(gb_client_last_error(c),
		       "health may not publish to tax.invoices");
	CHECK_RC(gb_publisher_add(p, "y", 1, NULL), GB_EPERM); /* sticky */
	gb_publisher_close(&p);
	CHECK_RC(gb_publisher_open(c, "Bad Id", NULL, &p), GB_EINVAL);
}

static void test_subscribe(gb_client *c)
{
	gb_subscription *s;
	gb_record r;
	int rc;

	s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
	CHECK_RC(rc, 0);
	CHECK(read_expect(s, 0, 2500, &rc) == 2500);
	CHECK_RC(rc, 0);
	CHECK_RC(gb_subscription_next(s, &r, 100), GB_ETIMEOUT);
	CHECK(gb_subscription_position(s) == 2500);
	gb_subscription_close(&s);

	/* a start inside a batch: the batch comes whole, records before the
	 * start are skipped */
	s = subscribe(c, GB_START_OFFSET, 1500, NULL, &rc);
	CHECK_RC(rc, 0);
	CHECK(read_expect(s, 1500, 1000, &rc) == 1000);
	gb_subscription_close(&s);

	/* latest: nothing until something new is published */
	s = subscribe(c, GB_START_LATEST, 0, NULL, &rc);
	CHECK_RC(rc, 0);
	CHECK_RC(gb_subscription_next(s, &r, 100), GB_ETIMEOUT);
	CHECK_RC(publish_n(c, 2500, 10, 5), 0);
	CHECK(read_expect(s, 2500, 10, &rc) == 10);
	gb_subscription_close(&s);
}

static void test_durable(gb_client *c)
{
	gb_subscription *s;
	int rc;

	s = subscribe(c, GB_START_EARLIEST, 0, "c1", &rc);
	CHECK_RC(rc, 0);
	CHECK(read_expect(s, 0, 1200, &rc) == 1200);
	CHECK_RC(gb_subscription_commit(s), 0);
	pthread_mutex_lock(&fk.mu);
	CHECK(fk.ncursors == 1 && fk.cursor[0] == 1200);
	pthread_mutex_unlock(&fk.mu);
	gb_subscription_close(&s);

	/* resumes at the cursor, whatever start is asked for */
	s = subscribe(c, GB_START_OFFSET, 5, "c1", &rc);
	CHECK_RC(rc, 0);
	CHECK(read_expect(s, 1200, 300, &rc) == 300);
	/* close acks what was consumed: 1499 (the 300th is only returned) */
	gb_subscription_close(&s);
	usleep(200 * 1000);
	pthread_mutex_lock(&fk.mu);
	CHECK(fk.cursor[0] == 1499);
	CHECK(fk.bad_acks == 0);
	pthread_mutex_unlock(&fk.mu);
}

/* Each misbehaviour: records before the bad batch, then the error. */
static void test_verification(gb_client *c)
{
	gb_subscription *s;
	int rc;

	fk.tamper_base = 1000;
	s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
	CHECK(read_expect(s, 0, 2500, &rc) == 1000);
	CHECK_RC(rc, GB_ESIG);
	CHECK_CONTAINS(gb_client_last_error(c), "offset 1000");
	CHECK_RC(gb_subscription_next(s, &(gb_record){0}, 0), GB_ESIG);
	gb_subscription_close(&s);
	fk.tamper_base = -1;

	fk.bad_chain_base = 2000;
	s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
	CHECK(read_expect(s, 0, 2500, &rc) == 2000);
	CHECK_RC(rc, GB_ECORRUPT);
	CHECK_CONTAINS(gb_client_last_error(c), "hash chain");
	gb_subscription_close(&s);
	/* mid-stream start: the first batch's chain cannot be checked, the
	 * second's can, and it fails because its predecessor's hash is bad */
	s = subscribe(c, GB_START_OFFSET, 2000, NULL, &rc);
	CHECK(read_expect(s, 2000, 510, &rc) == 500);
	CHECK_RC(rc, GB_ECORRUPT);
	gb_subscription_close(&s);
	fk.bad_chain_base = -1;

	fk.skip_base = 1000;
	s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
	CHECK(read_expect(s, 0, 2500, &rc) == 1000);
	CHECK_RC(rc, GB_ECORRUPT);
	CHECK_CONTAINS(gb_client_last_error(c), "do not continue");
	gb_subscription_close(&s);
	fk.skip_base = -1;

	/* revoked after 2 batches: both are still returned, then 403 */
	fk.revoke_after = 2;
	s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
	CHECK(read_expect(s, 0, 2500, &rc) == 2000);
	CHECK_RC(rc, GB_EPERM);
	CHECK(gb_client_last_status(c) == 403);
	CHECK_CONTAINS(gb_client_last_error(c), "grant was revoked");
	gb_subscription_close(&s);
	fk.revoke_after = 0;
}

static void test_pins(void)
{
	gb_identity *other = gb_identity_generate();
	char peers[200], key[GB_SIGN_PK_TEXT];
	struct events ev = {0};
	gb_subscription *s;
	gb_client *c;
	int rc;

	gb_key_encode_sign(gb_identity_sign_pk(other), key);
	snprintf(peers, sizeof peers, "peers:\n  health: \"%s\"\n", key);
	c = connect_client(peers, &ev);
	if (c) {
		s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
		CHECK(s == NULL);
		CHECK_RC(rc, GB_EAUTH);
		CHECK_CONTAINS(gb_client_last_error(c), "pins a different key");
	}
	gb_client_close(&c);

	gb_key_encode_sign(gb_identity_sign_pk(health), key);
	snprintf(peers, sizeof peers, "peers:\n  health: \"%s\"\n", key);
	c = connect_client(peers, &ev);
	if (c) {
		s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
		CHECK_RC(rc, 0);
		CHECK(read_expect(s, 0, 10, &rc) == 10);
		gb_subscription_close(&s);
	}
	gb_client_close(&c);
	gb_identity_destroy(&other);
}

/* Restart and silence while subscribed: resumes exactly where it was. */
static void test_reconnect_subscribe(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	gb_subscription *s;
	int rc;

	if (!c)
		return;
	s = subscribe(c, GB_START_EARLIEST, 0, "c2", &rc);
	CHECK_RC(rc, 0);
	CHECK(read_expect(s, 0, 500, &rc) == 500);
	/* the rest is buffered already; the client notices the restart
	 * while it waits, and must drop the buffer and resume at 500 */
	atomic_store(&fk.restart, 1);
	for (int i = 0; i < 50 && !ev.reconnects; i++)
		(void)gb_client_poll(c, 100);
	CHECK(read_expect(s, 500, 1000, &rc) == 1000);
	CHECK_RC(rc, 0);
	if (ev.restarts != 1 || ev.resubscribes != 1)
		fprintf(stderr, "  reconnects %d restarts %d resubscribes %d "
			"offset %" PRIu64 " bad acks %d\n", ev.reconnects,
			ev.restarts, ev.resubscribes, ev.last_offset,
			fk.bad_acks);
	CHECK(ev.restarts == 1 && ev.resubscribes == 1);
	CHECK(ev.last_offset == 500);

	/* silence: the same instance, reached again after the timeout */
	atomic_store(&fk.paused, 1);
	for (int i = 0; i < 7; i++)
		(void)gb_client_poll(c, 100);
	atomic_store(&fk.paused, 0);
	CHECK(read_expect(s, 1500, 1010, &rc) == 1010);
	CHECK_RC(rc, 0);
	CHECK(ev.reconnects >= 2 && ev.restarts == 1);
	CHECK(gb_client_reconnects(c) == (uint64_t)ev.reconnects);
	CHECK_RC(gb_subscription_commit(s), 0);
	gb_subscription_close(&s);
	CHECK(fk.bad_acks == 0);
	gb_client_close(&c);
}

/* An ack lost in a restart: the batch is re-sent with its seq and the
 * broker answers duplicate; nothing is stored twice. */
static void test_reconnect_publish(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	gb_publisher_options o;
	gb_publisher *p = NULL;
	gb_publisher_stats st;
	uint64_t seq, base = fk.next_offset;
	size_t nlog = fk.nlog;
	char buf[96];

	if (!c)
		return;
	gb_publisher_options_init(&o);
	o.max_records = 100;
	CHECK_RC(gb_publisher_open(c, DATASET, &o, &p), 0);
	seq = fk.last_seq;
	fk.swallow_seq = seq + 2;
	for (uint64_t i = 0; i < 300; i++) {
		payload_of(base + i, buf, sizeof buf);
		CHECK_RC(gb_publisher_add(p, buf, strlen(buf), NULL), 0);
	}
	usleep(200 * 1000);
	atomic_store(&fk.restart, 1);
	CHECK_RC(gb_publisher_flush(p), 0);
	gb_publisher_stats_get(p, &st);
	CHECK(st.records == 300 && st.batches == 3);
	CHECK(st.duplicates >= 1);
	CHECK(ev.resends >= 1 && ev.restarts == 1);
	CHECK(fk.nlog == nlog + 3);                 /* stored once each */
	CHECK(fk.next_offset == base + 300);
	CHECK(st.first_offset == base && st.last_offset == base + 299);
	gb_publisher_close(&p);
	gb_client_close(&c);
}

/* The broker dies on receiving a batch while later ones are still on
 * their way. None of those may reach the restarted broker before the lost
 * one is re-sent, or its seq could never be stored again (409). */
static void test_crash_mid_pipeline(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	gb_publisher_options o;
	gb_publisher *p = NULL;
	gb_publisher_stats st;
	uint64_t first_seq, base = fk.next_offset;
	char buf[96];
	int rc = 0;

	if (!c)
		return;
	gb_publisher_options_init(&o);
	o.max_records = 10;
	o.window = 8;
	CHECK_RC(gb_publisher_open(c, DATASET, &o, &p), 0);
	first_seq = fk.last_seq + 1;
	fk.crash_seq = first_seq + 2;
	for (uint64_t i = 0; i < 200 && rc == 0; i++) {
		payload_of(base + i, buf, sizeof buf);
		rc = gb_publisher_add(p, buf, strlen(buf), NULL);
	}
	if (rc == 0)
		rc = gb_publisher_flush(p);
	CHECK_RC(rc, 0);
	if (rc)
		fprintf(stderr, "  flush: %s\n", gb_client_last_error(c));
	gb_publisher_stats_get(p, &st);
	CHECK(st.records == 200);
	CHECK(fk.next_offset == base + 200);
	CHECK(ev.restarts >= 1);
	pthread_mutex_lock(&fk.mu);
	for (size_t i = 1; i < fk.nlog; i++)
		CHECK(fk.log[i].seq == fk.log[i - 1].seq + 1);
	pthread_mutex_unlock(&fk.mu);
	gb_publisher_close(&p);
	gb_client_close(&c);
}

/* A 5xx on one batch while later ones are stored: with a broker that only
 * wants seqs to increase, the failed batch can never be stored under its
 * seq. The job must fail and say so, not report success. */
static void test_retry_gap(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	gb_publisher_options o;
	gb_publisher *p = NULL;
	char buf[96];
	int rc = 0;

	if (!c)
		return;
	gb_publisher_options_init(&o);
	o.max_records = 10;
	o.window = 8;
	CHECK_RC(gb_publisher_open(c, DATASET, &o, &p), 0);
	fk.fail_seq_once = fk.last_seq + 2;
	for (int i = 0; i < 80 && rc == 0; i++) {
		payload_of((uint64_t)i, buf, sizeof buf);
		rc = gb_publisher_add(p, buf, strlen(buf), NULL);
	}
	if (rc == 0)
		rc = gb_publisher_flush(p);
	CHECK_RC(rc, GB_ECONFLICT);
	CHECK(gb_client_last_status(c) == 409);
	CHECK_CONTAINS(gb_client_last_error(c), "were not stored");
	gb_publisher_close(&p);
	gb_client_close(&c);
}

static void test_unreachable(void)
{
	char ep[300], why[1024];
	gb_agent_config *cfg;
	gb_client *c = NULL;

	/* nobody listening */
	snprintf(ep, sizeof ep, "ipc://%s/nobody.sock", dir);
	cfg = make_config(ep, gb_identity_box_pk(fk.key), NULL);
	CHECK_RC(gb_client_open(cfg, NULL, &c, why, sizeof why), GB_ETIMEOUT);
	CHECK_CONTAINS(why, "did not answer within 0.3 s");
	CHECK_CONTAINS(why, "is the broker public_key right?");
	gb_agent_config_destroy(&cfg);

	/* the wrong broker key: the CURVE handshake fails, which is silence */
	cfg = make_config(fk.endpoint, gb_identity_box_pk(health), NULL);
	CHECK_RC(gb_client_open(cfg, NULL, &c, why, sizeof why), GB_ETIMEOUT);
	CHECK(c == NULL);
	gb_agent_config_destroy(&cfg);
}

int main(void)
{
	struct events ev = {0};
	char why[512];
	gb_client *c;

	snprintf(dir, sizeof dir, "/tmp/gb_client_test.XXXXXX");
	if (!mkdtemp(dir) || sodium_init() < 0)
		return 1;
	health = gb_identity_generate();
	if (gb_identity_save(health, dir, "health", why, sizeof why) != 0) {
		fprintf(stderr, "save: %s\n", why);
		return 1;
	}
	fake_start(dir, health);

	c = connect_client(NULL, &ev);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(gb_client_dept(c), "health");
		test_publish(c);
		test_subscribe(c);
		test_durable(c);
		test_verification(c);
		CHECK(ev.reconnects == 0);
	}
	gb_client_close(&c);
	CHECK(c == NULL);
	test_pins();
	test_reconnect_subscribe();
	test_reconnect_publish();
	test_crash_mid_pipeline();
	test_retry_gap();
	test_unreachable();

	fake_stop();
	gb_identity_destroy(&health);
	TEST_EXIT();
}
