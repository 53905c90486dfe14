/* Tests of gb_publish with a store in a temp dir, the real writer and
 * stream heads, and an outbox in place of the ROUTER. Each check of the
 * pipeline refuses with its own status and sentence: an envelope that
 * does not parse, a batch naming another producer, a department no
 * longer registered, a bad signature, a department the policy does not
 * let publish, a batch that is not sealed, one created more than 24 hours
 * ahead. What passes is committed and acked with its offset (and the head
 * moves); a retry is acked as a duplicate with the original offset; the
 * writer's refusals (a retired or unknown key epoch, a sequence gap,
 * records stored before by id) come back as 412, 409 and 409 with the
 * duplicate records and the dedupe window of the policy in force. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_broker_fixture.h"
#include "gb_envelope.h"
#include "gb_log.h"
#include "gb_publish.h"
#include "gb_test.h"

#define H (3600ull * 1000000000ull)

struct world {
	gb_fixture_rig rig;
	gb_registry *reg;
	gb_publish *pub;
	gb_identity *tax, *health;
	uint8_t key1[GB_DATASET_KEY_BYTES], key2[GB_DATASET_KEY_BYTES];
};

static struct world w;

struct batch {
	const char *producer;
	const char *dataset;
	uint64_t seq;
	uint32_t epoch;               /* 0: clear */
	const uint8_t *key;
	const gb_identity *signer;
	uint64_t created_at_ns;
	const char *ids[4];           /* record ids, or NULL */
	uint32_t count;
};

/* A Publish frame (owned by the caller until handed over) of `b`. */
static gb_client_frame *publish_frame(const struct batch *b, uint64_t request_id)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Publish pub = GOVBUS__V1__PUBLISH__INIT;
	gb_batch_meta meta;
	uint8_t *records = NULL, *signed_batch = NULL;
	uint8_t tags[4 * GB_RECORD_TAG_BYTES];
	crypto_generichash_state base;
	size_t len = 0, cap = 0, signed_len = 0;
	gb_client_frame *out;
	bool with_ids = false;

	memset(&meta, 0, sizeof meta);
	meta.producer = b->producer;
	meta.dataset = b->dataset;
	meta.producer_seq = b->seq;
	meta.created_at_ns = b->created_at_ns ? b->created_at_ns : gb_now_ns();
	meta.key_epoch = b->epoch;
	meta.record_count = b->count;
	gb_record_tag_begin(&base, gb_identity_dedupe_key(b->signer), b->dataset);
	for (uint32_t i = 0; i < b->count; i++) {
		char payload[32];

		snprintf(payload, sizeof payload, "record %u of %llu", i,
			 (unsigned long long)b->seq);
		CHECK_RC(gb_envelope_append_record(&records, &len, &cap,
						   (const uint8_t *)payload,
						   strlen(payload), 1,
						   b->ids[i]), 0);
		if (b->ids[i]) {
			gb_record_tag(&base, b->ids[i], strlen(b->ids[i]),
				      tags + i * GB_RECORD_TAG_BYTES);
			with_ids = true;
		} else {
			memset(tags + i * GB_RECORD_TAG_BYTES, 0,
			       GB_RECORD_TAG_BYTES);
		}
	}
	meta.record_tags = with_ids ? tags : NULL;
	CHECK_RC(gb_envelope_build(&meta, records, len, b->epoch ? b->key : NULL,
				   gb_identity_sign_sk(b->signer), &signed_batch,
				   &signed_len), 0);
	pub.request_id = request_id;
	pub.signed_batch.data = signed_batch;
	pub.signed_batch.len = signed_len;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH;
	f.publish = &pub;
	out = gb_fixture_client_frame(&f);
	free(records);
	free(signed_batch);
	return out;
}

/* Publish `b` as `dept` and wait for the writer; the frame answering it
 * (the last one sent), or NULL. */
static const gb_server_frame *publish(const char *dept, const struct batch *b,
				      uint64_t request_id)
{
	gb_caller from = gb_fixture_caller("peer", dept, gb_now_ns());
	gb_client_frame *f = publish_frame(b, request_id);

	if (!f)
		return NULL;
	gb_outbox_clear(&w.rig.box);
	gb_publish_handle(w.pub, &from, f);
	CHECK_RC(gb_fixture_settle(w.rig.writer), 0);
	CHECK(w.rig.box.n == 1);
	return w.rig.box.n ? w.rig.box.frames[w.rig.box.n - 1] : NULL;
}

static unsigned status_of(const gb_server_frame *f, const char *words)
{
	if (!f || f->body_case != GOVBUS__V1__SERVER_FRAME__BODY_ERROR)
		return 0;
	if (words)
		CHECK_CONTAINS(f->error->message, words);
	return f->error->status;
}

static struct batch good(uint64_t seq)
{
	struct batch b = {"tax", "tax.invoices", seq, 1, w.key1, w.tax, 0,
			  {NULL, NULL, NULL, NULL}, 2};
	return b;
}

static void test_acks(void)
{
	const gb_server_frame *f;
	struct batch b = good(1);
	uint64_t head = 99;

	CHECK_RC(gb_heads_get(w.rig.heads, "tax.invoices", &head), 0);
	CHECK(head == 0);
	f = publish("tax", &b, 11);
	CHECK(f && f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK);
	if (f && f->publish_ack) {
		CHECK(f->publish_ack->request_id == 11);
		CHECK(f->publish_ack->base_offset == 0);
		CHECK(f->publish_ack->record_count == 2);
		CHECK(!f->publish_ack->duplicate);
		CHECK_STR(f->publish_ack->dataset, "tax.invoices");
	}
	CHECK_RC(gb_heads_get(w.rig.heads, "tax.invoices", &head), 0);
	CHECK(head == 2);

	/* The same batch again: acked with its offset, stored once. */
	f = publish("tax", &b, 12);
	CHECK(f && f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK &&
	      f->publish_ack->duplicate && f->publish_ack->base_offset == 0);
	CHECK_RC(gb_heads_get(w.rig.heads, "tax.invoices", &head), 0);
	CHECK(head == 2);
	CHECK(!gb_publish_saturated(w.pub));
}

static void test_refusals(void)
{
	gb_caller from = gb_fixture_caller("peer", "tax", gb_now_ns());
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Publish pub = GOVBUS__V1__PUBLISH__INIT;
	struct batch b;
	gb_client_frame *copy;

	/* A SignedBatch without a signature: the envelope's own refusal. */
	pub.request_id = 5;
	pub.signed_batch.data = (uint8_t *)"\x0a\x03zzz";
	pub.signed_batch.len = 5;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH;
	f.publish = &pub;
	copy = gb_fixture_client_frame(&f);
	gb_outbox_clear(&w.rig.box);
	if (copy)
		gb_publish_handle(w.pub, &from, copy);
	CHECK(w.rig.box.n == 1 && status_of(w.rig.box.frames[0], "publish rejected: ")
	      == 401 && w.rig.box.frames[0]->error->request_id == 5);

	/* tax's batch sent on health's connection. */
	b = good(2);
	CHECK(status_of(publish("health", &b, 1), "names producer tax") == 403);
	/* A department the policy no longer knows. */
	b = good(2);
	b.producer = "ghost";
	CHECK(status_of(publish("ghost", &b, 1), "no longer registered") == 401);
	/* tax's name, health's signature. */
	b = good(2);
	b.signer = w.health;
	CHECK(status_of(publish("tax", &b, 1), "does not verify") == 401);
	/* health signs its own batch, but does not own the dataset. */
	b = good(1);
	b.producer = "health";
	b.signer = w.health;
	CHECK(status_of(publish("health", &b, 1),
			"health may not publish to tax.invoices") == 403);
	/* Clear records, and a batch from tomorrow. */
	b = good(2);
	b.epoch = 0;
	CHECK(status_of(publish("tax", &b, 1), "not sealed") == 400);
	b = good(2);
	b.created_at_ns = gb_now_ns() + 25 * H;
	CHECK(status_of(publish("tax", &b, 1), "24 hours ahead") == 400);
	b.created_at_ns = gb_now_ns() + 23 * H; /* still fine */
	CHECK(publish("tax", &b, 1)->body_case ==
	      GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK);
}

static void test_writer_refusals(void)
{
	struct batch b;
	const gb_server_frame *f;
	uint64_t head = 0;

	/* An epoch that is not the current one. */
	b = good(3);
	b.epoch = 2;
	b.key = w.key2;
	CHECK(status_of(publish("tax", &b, 1), "key epoch 2 is no longer current")
	      == 412);
	/* A gap in the sequence. */
	b = good(9);
	CHECK(status_of(publish("tax", &b, 1), "batch 9 of tax.invoices not stored")
	      == 409);

	/* Record ids: a batch repeating one stored before names it. */
	b = good(3);
	b.ids[0] = "inv-1";
	b.ids[1] = "inv-2";
	f = publish("tax", &b, 1);
	CHECK(f && f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK);
	CHECK_RC(gb_heads_get(w.rig.heads, "tax.invoices", &head), 0);
	CHECK(head == 6);
	b = good(4);
	b.ids[0] = "inv-3";
	b.ids[1] = "inv-2";
	f = publish("tax", &b, 21);
	CHECK(status_of(f, "within the last 300 s") == 409);
	if (f && f->error) {
		CHECK(f->error->request_id == 21);
		CHECK(f->error->n_duplicate_records == 1 &&
		      f->error->duplicate_records[0] == 1);
	}
	CHECK_RC(gb_heads_get(w.rig.heads, "tax.invoices", &head), 0);
	CHECK(head == 6);
}

int main(void)
{
	char yaml[4096], tax[512], health[512];
	gb_write epoch;
	uint8_t commitment[GB_COMMITMENT_BYTES];

	w.tax = gb_identity_generate();
	w.health = gb_identity_generate();
	CHECK_RC(gb_fixture_rig_open(&w.rig, "publish"), 0);
	if (!w.rig.heads || !w.tax || !w.health)
		return 1;
	gb_fixture_dept_yaml(w.tax, "tax", tax, sizeof tax);
	gb_fixture_dept_yaml(w.health, "health", health, sizeof health);
	snprintf(yaml, sizeof yaml,
		 "broker: { listen: \"tcp://127.0.0.1:7780\", data_dir: ./data,"
		 " key: keys/broker.key, dedupe_seconds: 300 }\n"
		 "departments:\n%s%s"
		 "datasets:\n"
		 "  - { id: tax.invoices, owner: tax, title: VAT invoices,"
		 " sharing: conditional, classification: internal }\n"
		 "grants:\n"
		 "  - { dataset: tax.invoices, to: health, rights: [subscribe],"
		 " purpose: checks, legal_basis: Act 1, approved_by: board,"
		 " expires: 2099-01-01 }\n", tax, health);
	w.reg = gb_fixture_registry(yaml, (int64_t)gb_now_ns());
	if (!w.reg)
		return 1;

	/* tax.invoices has key epoch 1. */
	randombytes_buf(w.key1, sizeof w.key1);
	randombytes_buf(w.key2, sizeof w.key2);
	gb_envelope_key_commitment(w.key1, commitment);
	memset(&epoch, 0, sizeof epoch);
	epoch.kind = GB_WRITE_EPOCH;
	epoch.dataset = "tax.invoices";
	epoch.key_epoch = 1;
	epoch.key_commitment = commitment;
	epoch.now_ns = gb_now_ns();
	CHECK_RC(gb_fixture_write(&w.rig, &epoch, 1), 0);
	{
		gb_publish_deps deps = {w.rig.store, w.rig.heads, w.rig.writer,
					NULL, gb_outbox_sender(&w.rig.box)};
		CHECK_RC(gb_publish_new(&deps, &w.pub), 0);
	}
	if (!w.pub)
		return 1;
	gb_publish_policy_loaded(w.pub, w.reg);

	test_acks();
	test_refusals();
	test_writer_refusals();

	gb_fixture_rig_close(&w.rig);
	gb_publish_destroy(&w.pub);
	CHECK(w.pub == NULL);
	gb_registry_destroy(&w.reg);
	gb_identity_destroy(&w.tax);
	gb_identity_destroy(&w.health);
	gb_fixture_cleanup();
	TEST_EXIT();
}
