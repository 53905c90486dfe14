/* Tests of gb_delivery with a store in a temp dir, the real writer and
 * stream heads, and an outbox in place of the ROUTER: Subscribe positions
 * (earliest, latest, offset, durable cursor) and refuses what the policy
 * refuses (subscribe, replay) and what the connection may not have (a
 * reused id, more than 256 subscriptions); the pump sends no more than the
 * credit, in order, and then the live tail; a full queue holds the cursor
 * and a gone peer ends the subscription; cursor acks are stored and
 * resumed from, and one beyond what was delivered ends the subscription;
 * a policy without the grant, a grant's expiry and 30 s of silence end it
 * with the right status. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gb_broker_fixture.h"
#include "gb_delivery.h"
#include "gb_log.h"
#include "gb_test.h"
#include "gb_test_departments.h"

#define S 1000000000ull
#define Y2099 (UINT64_C(4070908800) * S) /* 2099-01-01T00:00:00Z */

#define CONFIG_HEAD                                                          \
	GB_TEST_BROKER_YAML "departments:\n" GB_TEST_DEPT_TAX                \
	GB_TEST_DEPT_HEALTH GB_TEST_DEPT_SOCIAL GB_TEST_DEPT_MARKET          \
	"datasets:\n"                                                        \
	"  - { id: tax.invoices, owner: tax, title: VAT invoices,"           \
	" sharing: conditional, classification: internal }\n"                \
	"  - { id: tax.open, owner: tax, title: Statistics, sharing: open,"  \
	" classification: public }\n"

static const char config[] =
	CONFIG_HEAD
	"grants:\n"
	"  - { dataset: tax.invoices, to: health, rights: [subscribe, replay],"
	" purpose: checks, legal_basis: Act 1, approved_by: board,"
	" expires: 2099-01-01 }\n"
	"  - { dataset: tax.invoices, to: social, rights: [subscribe],"
	" purpose: checks, legal_basis: Act 1, approved_by: board,"
	" expires: 2099-01-01 }\n";

static const char config_health_no_replay[] =
	CONFIG_HEAD
	"grants:\n"
	"  - { dataset: tax.invoices, to: health, rights: [subscribe],"
	" purpose: checks, legal_basis: Act 1, approved_by: board,"
	" expires: 2099-01-01 }\n";

static const char config_without_health[] =
	CONFIG_HEAD
	"grants:\n"
	"  - { dataset: tax.invoices, to: social, rights: [subscribe],"
	" purpose: checks, legal_basis: Act 1, approved_by: board,"
	" expires: 2099-01-01 }\n";

struct world {
	gb_fixture_rig rig;
	gb_registry *reg;
	gb_delivery *d;
	uint64_t seq;
};

static struct world w;

/* Store a batch of `records` records in tax.invoices and tell the heads,
 * as a publish's result would. */
static void append(uint32_t records)
{
	gb_write x;
	char body[32];

	snprintf(body, sizeof body, "batch %" PRIu64, w.seq + 1);
	memset(&x, 0, sizeof x);
	x.kind = GB_WRITE_APPEND;
	x.dataset = "tax.invoices";
	x.producer = "tax";
	x.producer_seq = ++w.seq;
	x.record_count = records;
	x.signed_batch = (const uint8_t *)body;
	x.signed_batch_len = strlen(body);
	x.now_ns = gb_now_ns();
	CHECK_RC(gb_fixture_write(&w.rig, &x, 1), 0);
	gb_heads_advance(w.rig.heads, "tax.invoices", x.base_offset + records);
}

static void subscribe(const char *peer, const char *dept, uint64_t id,
		      const char *dataset, Govbus__V1__Subscribe__Start start,
		      uint64_t offset, uint32_t credit, const char *durable)
{
	Govbus__V1__Subscribe req = GOVBUS__V1__SUBSCRIBE__INIT;
	gb_caller from = gb_fixture_caller(peer, dept, gb_now_ns());

	req.subscription_id = id;
	req.dataset = (char *)dataset;
	req.start = start;
	req.offset = offset;
	req.credit = credit;
	req.durable = (char *)durable;
	gb_delivery_subscribe(w.d, &from, &req);
}

static void credit(const char *peer, const char *dept, uint64_t id,
		   uint32_t batches)
{
	Govbus__V1__Credit req = GOVBUS__V1__CREDIT__INIT;
	gb_caller from = gb_fixture_caller(peer, dept, gb_now_ns());

	req.subscription_id = id;
	req.batches = batches;
	gb_delivery_credit(w.d, &from, &req);
}

static void cursor_ack(const char *peer, const char *dept, uint64_t id,
		       uint64_t next)
{
	Govbus__V1__CursorAck ack = GOVBUS__V1__CURSOR_ACK__INIT;
	gb_caller from = gb_fixture_caller(peer, dept, gb_now_ns());

	ack.subscription_id = id;
	ack.next_offset = next;
	gb_delivery_cursor_ack(w.d, &from, &ack);
}

/* The last frame sent, which must be an Error; its status (0 if none). */
static unsigned last_error(uint64_t *subscription_id)
{
	const gb_server_frame *f = w.rig.box.n ? w.rig.box.frames[w.rig.box.n - 1] : NULL;

	if (!f || f->body_case != GOVBUS__V1__SERVER_FRAME__BODY_ERROR)
		return 0;
	if (subscription_id)
		*subscription_id = f->error->subscription_id;
	return f->error->status;
}

/* Base offsets of the Deliver frames sent since the last clear, for one
 * subscription, into out[]; returns how many. */
static size_t delivered(uint64_t id, uint64_t *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < w.rig.box.n; i++) {
		const gb_server_frame *f = w.rig.box.frames[i];
		if (f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_DELIVER &&
		    f->deliver->subscription_id == id && n < max)
			out[n++] = f->deliver->base_offset;
	}
	return n;
}

static void test_subscribe_and_pump(void)
{
	const Govbus__V1__SubscribeOk *ok;
	uint64_t offs[16], sid = 0;
	size_t n;

	gb_outbox_clear(&w.rig.box);
	subscribe("h", "health", 1, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_EARLIEST, 0, 3, "");
	CHECK(w.rig.box.n == 1);
	ok = w.rig.box.frames[0]->subscribe_ok;
	CHECK(ok && ok->subscription_id == 1 && ok->start_offset == 0 &&
	      ok->head_offset == 10);
	CHECK(ok && !strcmp(ok->owner, "tax") && ok->owner_sign_key.len == 32);

	/* Three batches of credit: three batches, in order. */
	gb_outbox_clear(&w.rig.box);
	CHECK(!gb_delivery_pump(w.d));
	n = delivered(1, offs, 16);
	CHECK(n == 3 && offs[0] == 0 && offs[1] == 2 && offs[2] == 4);
	CHECK(!gb_delivery_pump(w.d));
	CHECK(w.rig.box.n == 3);

	/* More credit: the rest of the history, then the live tail. */
	credit("h", "health", 1, 10);
	gb_outbox_clear(&w.rig.box);
	gb_delivery_pump(w.d);
	n = delivered(1, offs, 16);
	CHECK(n == 2 && offs[0] == 6 && offs[1] == 8);
	append(1);
	gb_delivery_pump(w.d);
	n = delivered(1, offs, 16);
	CHECK(n == 3 && offs[2] == 10);

	/* Another connection's frames do not reach this subscription. */
	credit("other", "health", 1, 100);
	cursor_ack("other", "health", 1, 0);
	CHECK(last_error(&sid) == 404 && sid == 1);

	/* A second subscription with the same id on this connection. */
	subscribe("h", "health", 1, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_LATEST, 0, 1, "");
	CHECK(last_error(&sid) == 409 && sid == 1);

	/* At an offset (clamped to the head), and at the head. */
	gb_outbox_clear(&w.rig.box);
	subscribe("h", "health", 2, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_OFFSET, 8, 10, "");
	CHECK(w.rig.box.n == 1 && w.rig.box.frames[0]->subscribe_ok->start_offset == 8);
	subscribe("h", "health", 3, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_OFFSET, 500, 10, "");
	CHECK(w.rig.box.n == 2 && w.rig.box.frames[1]->subscribe_ok->start_offset == 11);
	gb_outbox_clear(&w.rig.box);
	gb_delivery_pump(w.d);
	n = delivered(2, offs, 16);
	CHECK(n == 2 && offs[0] == 8 && offs[1] == 10);
	CHECK(delivered(3, offs, 16) == 0);
}

static void test_refusals(void)
{
	uint64_t sid = 0;

	/* social may subscribe but not replay: the head is fine, history
	 * is not. market has no grant at all. */
	gb_outbox_clear(&w.rig.box);
	subscribe("s", "social", 1, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_EARLIEST, 0, 1, "");
	CHECK(last_error(&sid) == 403 && sid == 1);
	CHECK_CONTAINS(w.rig.box.frames[0]->error->message, "may not replay");
	subscribe("s", "social", 1, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_LATEST, 0, 1, "");
	CHECK(w.rig.box.frames[1]->body_case ==
	      GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK);
	subscribe("m", "market", 1, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_LATEST, 0, 1, "");
	CHECK(last_error(&sid) == 403);
	CHECK_CONTAINS(w.rig.box.frames[2]->error->message,
		       "market may not subscribe to tax.invoices");

	/* One connection holds at most 256 subscriptions. */
	gb_outbox_clear(&w.rig.box);
	for (uint64_t id = 1; id <= 256; id++)
		subscribe("many", "market", id, "tax.open",
			  GOVBUS__V1__SUBSCRIBE__START__START_LATEST, 0, 1, "");
	CHECK(gb_outbox_count(&w.rig.box, GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK)
	      == 256);
	subscribe("many", "market", 257, "tax.open",
		  GOVBUS__V1__SUBSCRIBE__START__START_LATEST, 0, 1, "");
	CHECK(last_error(&sid) == 413 && sid == 257);
	for (uint64_t id = 1; id <= 256; id++) {
		Govbus__V1__Unsubscribe u = GOVBUS__V1__UNSUBSCRIBE__INIT;
		gb_caller from = gb_fixture_caller("many", "market", gb_now_ns());
		u.subscription_id = id;
		gb_delivery_unsubscribe(w.d, &from, &u);
	}
	gb_outbox_clear(&w.rig.box);
	subscribe("many", "market", 257, "tax.open",
		  GOVBUS__V1__SUBSCRIBE__START__START_LATEST, 0, 1, "");
	CHECK(w.rig.box.n == 1 && w.rig.box.frames[0]->body_case ==
	      GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK);
}

static void test_durable(void)
{
	uint64_t offs[16], stored = 0, sid = 0;

	gb_outbox_clear(&w.rig.box);
	subscribe("d", "health", 7, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_EARLIEST, 0, 2, "nightly");
	gb_delivery_pump(w.d);
	CHECK(delivered(7, offs, 16) == 2);
	cursor_ack("d", "health", 7, 4);
	CHECK_RC(gb_fixture_settle(w.rig.writer), 0);
	CHECK_RC(gb_store_cursor_get(w.rig.store, "health", "tax.invoices",
				     "nightly", &stored), 0);
	CHECK(stored == 4);

	/* Acking past what was delivered ends the subscription. */
	cursor_ack("d", "health", 7, 6);
	CHECK(last_error(&sid) == 400 && sid == 7);
	credit("d", "health", 7, 5);
	gb_outbox_clear(&w.rig.box);
	gb_delivery_pump(w.d);
	CHECK(delivered(7, offs, 16) == 0);

	/* Resumed from the stored cursor, whatever the start says. */
	subscribe("d2", "health", 1, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_LATEST, 0, 1, "nightly");
	CHECK(w.rig.box.n == 1 && w.rig.box.frames[0]->subscribe_ok->start_offset == 4);

	/* A subscription that is not durable has no cursor to ack. */
	cursor_ack("h", "health", 2, 0);
	CHECK(last_error(&sid) == 404 && sid == 2);
}

static void test_backpressure(void)
{
	uint64_t offs[16];

	gb_delivery_pump(w.d); /* whatever earlier tests left to send */
	gb_outbox_clear(&w.rig.box);
	subscribe("q", "health", 1, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_EARLIEST, 0, 100, "");
	/* A full queue: nothing taken, the cursor stays, come back soon. */
	w.rig.box.refuse = GB_EUNAVAIL;
	CHECK(gb_delivery_pump(w.d));
	CHECK(w.rig.box.refused == 1);
	w.rig.box.refuse = 0;
	gb_outbox_clear(&w.rig.box);
	CHECK(!gb_delivery_pump(w.d));
	CHECK(delivered(1, offs, 16) == 6 && offs[0] == 0 && offs[5] == 10);

	/* A peer that is gone loses its subscription after one try. */
	subscribe("gone", "health", 1, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_EARLIEST, 0, 100, "");
	gb_outbox_clear(&w.rig.box);
	w.rig.box.refuse = GB_ECLOSED;
	CHECK(!gb_delivery_pump(w.d));
	CHECK(w.rig.box.refused == 1);
	w.rig.box.refuse = 0;
	gb_delivery_pump(w.d);
	CHECK(w.rig.box.n == 0);
}

static void test_policy_ends(void)
{
	gb_registry *without = gb_fixture_registry(config_without_health,
						   (int64_t)gb_now_ns());
	uint64_t t = gb_now_ns(), offs[16];
	size_t ended = 0;

	if (!without)
		return;
	/* The grants held by live subscriptions expire in 2099. */
	gb_delivery_plan_expiry(w.d, t);
	CHECK(gb_delivery_next_expiry(w.d) == Y2099);

	/* Silence: a peer heard from stays, the others are dropped. */
	gb_delivery_touch(w.d, (const uint8_t *)"s", 1, "social", t + 20 * S);
	gb_outbox_clear(&w.rig.box);
	gb_delivery_tick(w.d, t + 31 * S);
	for (size_t i = 0; i < w.rig.box.n; i++) {
		const gb_server_frame *f = w.rig.box.frames[i];
		CHECK(f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR);
		if (f->error->status == 504) {
			CHECK_CONTAINS(f->error->message, "nothing heard");
			CHECK(w.rig.box.peer_lens[i] != 1 || w.rig.box.peers[i][0] != 's');
			ended++;
		}
	}
	CHECK(ended > 0);

	/* The social subscription (from test_refusals) lives on until its
	 * grant expires: then it ends with 410. */
	gb_outbox_clear(&w.rig.box);
	gb_delivery_recheck(w.d, Y2099 - 1);
	CHECK(w.rig.box.n == 0);
	gb_delivery_recheck(w.d, Y2099);
	CHECK(w.rig.box.n == 1 && w.rig.box.frames[0]->error->status == 410);
	gb_delivery_plan_expiry(w.d, t);
	CHECK(gb_delivery_next_expiry(w.d) == UINT64_MAX);

	/* Without the replay right, a subscription still catching up on
	 * history ends; one that has reached the live tail goes on. */
	{
		gb_registry *no_replay = gb_fixture_registry(
			config_health_no_replay, (int64_t)gb_now_ns());

		gb_outbox_clear(&w.rig.box);
		subscribe("r", "health", 1, "tax.invoices",
			  GOVBUS__V1__SUBSCRIBE__START__START_EARLIEST, 0, 1, "");
		subscribe("r", "health", 2, "tax.invoices",
			  GOVBUS__V1__SUBSCRIBE__START__START_LATEST, 0, 1, "");
		CHECK(w.rig.box.n == 2);
		if (no_replay) {
			gb_delivery_policy_loaded(w.d, no_replay);
			gb_delivery_recheck(w.d, gb_now_ns());
			CHECK(w.rig.box.n == 3 &&
			      w.rig.box.frames[2]->error->subscription_id == 1 &&
			      w.rig.box.frames[2]->error->status == 403);
			gb_delivery_policy_loaded(w.d, w.reg);
			gb_registry_destroy(&no_replay);
		}
	}

	/* A reload without health's grant ends health's subscription, and
	 * the pump never sends it another batch. */
	gb_outbox_clear(&w.rig.box);
	subscribe("h9", "health", 9, "tax.invoices",
		  GOVBUS__V1__SUBSCRIBE__START__START_EARLIEST, 0, 100, "");
	CHECK(w.rig.box.n == 1);
	gb_delivery_policy_loaded(w.d, without);
	gb_delivery_recheck(w.d, gb_now_ns());
	/* "r" 2 and "h9" 9 end; nothing else is left */
	CHECK(w.rig.box.n == 3);
	CHECK(gb_outbox_count(&w.rig.box, GOVBUS__V1__SERVER_FRAME__BODY_ERROR) == 2);
	for (size_t i = 1; i < w.rig.box.n; i++)
		CHECK(w.rig.box.frames[i]->error->status == 403);
	gb_delivery_pump(w.d);
	CHECK(delivered(9, offs, 16) == 0);
	gb_delivery_policy_loaded(w.d, w.reg);
	gb_registry_destroy(&without);
}

int main(void)
{
	w.reg = gb_fixture_registry(config, (int64_t)gb_now_ns());
	CHECK_RC(gb_fixture_rig_open(&w.rig, "delivery"), 0);
	if (!w.reg || !w.rig.heads)
		return 1;
	for (int i = 0; i < 5; i++)
		append(2); /* offsets 0..9 */
	{
		gb_delivery_deps deps = {w.rig.store, w.rig.heads, w.rig.writer,
					 NULL, gb_outbox_sender(&w.rig.box)};
		CHECK_RC(gb_delivery_new(&deps, &w.d), 0);
	}
	if (!w.d)
		return 1;
	gb_delivery_policy_loaded(w.d, w.reg);

	test_subscribe_and_pump();
	test_refusals();
	test_durable();
	test_backpressure();
	test_policy_ends();

	gb_fixture_rig_close(&w.rig);
	gb_delivery_destroy(&w.d);
	CHECK(w.d == NULL);
	gb_registry_destroy(&w.reg);
	gb_fixture_cleanup();
	TEST_EXIT();
}
