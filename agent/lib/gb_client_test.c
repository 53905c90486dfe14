/* Tests for the agent library against the scripted in-process broker of
 * gb_fake_broker.c, which keeps a real log and can misbehave on request:
 * fail a publish with 503, swallow an ack, refuse with 403, tamper with a
 * batch, break the chain, skip a batch, revoke a subscription, fall
 * silent, or restart with a new instance. The real broker is exercised by
 * the integration tests; this one checks the agent's side of every rule in
 * DESIGN §13. (Encryption and keys: gb_sealing_test.c.) test_handlers
 * drives the client's handler registration directly, as the library's own
 * modules and the agent's audit commands use it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "gb_client_internal.h"
#include "gb_fake_broker.h"
#include "gb_test.h"

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

/* ---------------------------------------------------------------- handlers */

/* A handler that owns one subscription id and one request id of its own,
 * and counts what the client hands it. */
struct probe {
	gb_client_handler h;
	gb_client *c;
	uint64_t request;             /* its KeyFetch, 0: none */
	int oks, delivers, key_infos, strays;
	int reconnects, restarts, ticks;
	int closed;                   /* its place in the closing order */
	int64_t tick_every_ms;        /* 0: no timer */
};

static bool probe_owns_request(void *self, uint64_t id)
{
	const struct probe *p = self;
	return p->request && id == p->request;
}

static void probe_on_frame(void *self, gb_server_frame *f)
{
	struct probe *p = self;

	switch (f->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK:
		p->oks++;
		if (f->subscribe_ok->subscription_id != p->h.subscription_id)
			p->strays++;
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_DELIVER:
		p->delivers++;
		if (f->deliver->subscription_id != p->h.subscription_id)
			p->strays++;
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO:
		p->key_infos++;
		if (f->key_info->request_id != p->request)
			p->strays++;
		break;
	default:
		p->strays++;
		break;
	}
	gb_codec_server_free(&f);
}

static void probe_on_reconnect(void *self, bool restarted)
{
	struct probe *p = self;
	p->reconnects++;
	p->restarts += restarted;
}

static int64_t probe_tick(void *self, int64_t now_ms)
{
	struct probe *p = self;
	p->ticks++;
	return p->tick_every_ms ? now_ms + p->tick_every_ms : INT64_MAX;
}

static int closings;

static void probe_close(void *self)
{
	struct probe *p = self;
	p->closed = ++closings;
	gb_client_handler_remove(p->c, &p->h);
}

static const gb_client_handler_ops probe_ops = {
	.owns_request = probe_owns_request,
	.on_frame = probe_on_frame,
	.on_reconnect = probe_on_reconnect,
	.tick = probe_tick,
	.close = probe_close,
};

static void probe_subscribe(struct probe *p)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Subscribe sub = GOVBUS__V1__SUBSCRIBE__INIT;

	sub.subscription_id = p->h.subscription_id;
	sub.dataset = (char *)DATASET;
	sub.credit = 1;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE;
	f.subscribe = &sub;
	CHECK_RC(gb_client_send_frame(p->c, &f), 0);
}

/* A KeyFetch of its own, outside the client's request table. */
static void probe_fetch(struct probe *p)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__KeyFetch kf = GOVBUS__V1__KEY_FETCH__INIT;

	p->request = gb_client_next_request_id(p->c);
	kf.request_id = p->request;
	kf.dataset = (char *)DATASET;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH;
	f.key_fetch = &kf;
	CHECK_RC(gb_client_send_frame(p->c, &f), 0);
}

/* Wait until the broker has answered everything sent before. */
static void settle(gb_client *c)
{
	CHECK_RC(gb_client_sync(c, gb_agent_now_ms() + 5000), 0);
}

/* Frames reach the handler that owns their request id or subscription id
 * and no other; ticks honour the time a handler asks for; a reconnect and
 * the client's close reach every handler still registered. */
static void test_handlers(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	struct probe p = {0}, q = {0};
	gb_subscription *s;
	gb_record r;
	int rc;

	if (!c)
		return;
	/* the log holds what the tests before published */
	p.c = q.c = c;
	p.h.ops = q.h.ops = &probe_ops;
	p.h.self = &p;
	q.h.self = &q;
	p.h.subscription_id = gb_client_next_subscription_id(c);
	q.h.subscription_id = gb_client_next_subscription_id(c);
	gb_client_handler_add(c, &p.h);
	gb_client_handler_add(c, &q.h);
	CHECK(gb_client_handler_next(c, NULL) == &q.h);
	CHECK(gb_client_handler_next(c, &q.h) == &p.h);

	/* p's replay (credit for one batch) and p's own request reach p only;
	 * q registered a subscription id it never used */
	probe_subscribe(&p);
	probe_fetch(&p);
	settle(c);
	for (int i = 0; i < 50 && !p.delivers; i++) /* sent after the Pong */
		(void)gb_client_poll(c, 100);
	CHECK(p.oks == 1 && p.delivers == 1 && p.key_infos == 1);
	CHECK(p.strays == 0);
	CHECK(q.oks == 0 && q.delivers == 0 && q.key_infos == 0);

	/* a library subscription on the same client gets its own frames */
	s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
	CHECK_RC(rc, 0);
	for (int i = 0; s && i < 30; i++)
		CHECK_RC(gb_subscription_next(s, &r, 3000), 0);
	CHECK(p.delivers == 1 && q.delivers == 0);

	/* a timer: asked for every 20 ms, called again within a poll */
	q.tick_every_ms = 20;
	q.ticks = 0;
	(void)gb_client_poll(c, 200);
	CHECK(q.ticks >= 2);
	q.tick_every_ms = 0;

	/* a restart reaches every handler, restarted */
	atomic_store(&fk.restart, 1);
	for (int i = 0; i < 50 && !p.reconnects; i++)
		(void)gb_client_poll(c, 100);
	CHECK(p.reconnects == 1 && p.restarts == 1);
	CHECK(q.reconnects == 1 && q.restarts == 1);

	/* unregistered, p hears nothing more: its request's answer is
	 * nobody's and dropped */
	gb_client_handler_remove(c, &p.h);
	CHECK(gb_client_handler_next(c, &q.h) == NULL);
	probe_fetch(&p);
	settle(c);
	CHECK(p.key_infos == 1);

	/* close: every handler still registered is closed, newest first
	 * (p, the library's subscription s, which goes with it, then q) */
	gb_client_handler_add(c, &p.h);
	closings = 0;
	gb_client_close(&c);
	CHECK(p.closed == 1 && q.closed == 2);
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
	test_handlers();

	fake_stop();
	gb_identity_destroy(&health);
	remove_tree(dir);
	gb_test_failures += fake_failures();
	TEST_EXIT();
}
