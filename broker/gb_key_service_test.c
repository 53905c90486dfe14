/* Tests of gb_key_service with a store in a temp dir, the real writer,
 * sessions and an outbox in place of the ROUTER: KeyFetch answers a
 * reader with its own wrap and the owner with the readers of a new epoch
 * and the wraps it lacks, and refuses a department that may not hold the
 * key; KeyUpload is for the owner only, opens only the next epoch, needs
 * the owner's own wrap in a new epoch, and refuses wraps for departments
 * that may not hold the key, wraps of another key and wraps not signed by
 * the owner, storing nothing of a refused upload; reconcile retires an
 * epoch one of whose holders lost its grant and tells the owner's
 * connected agent; a reload that widens the policy pushes the owner the
 * wraps it now owes; a grant whose history is none reaches only the
 * epochs current since it was given. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_broker_fixture.h"
#include "gb_envelope.h"
#include "gb_key_service.h"
#include "gb_keywrap.h"
#include "gb_log.h"
#include "gb_test.h"

struct world {
	gb_fixture_rig rig;
	gb_sessions *sessions;
	gb_key_service *k;
	gb_identity *tax, *health, *social;
	uint8_t key1[GB_DATASET_KEY_BYTES], other[GB_DATASET_KEY_BYTES];
	char depts[2048];
};

static struct world w;

/* The config with tax.invoices owned by tax and `grants` (YAML). */
static gb_registry *registry(const char *grants)
{
	char yaml[4096];

	snprintf(yaml, sizeof yaml,
		 "broker: { listen: \"tcp://127.0.0.1:7780\", data_dir: ./data,"
		 " key: keys/broker.key }\n"
		 "departments:\n%s"
		 "datasets:\n"
		 "  - { id: tax.invoices, owner: tax, title: VAT invoices,"
		 " sharing: conditional, classification: internal }\n"
		 "%s", w.depts, grants);
	return gb_fixture_registry(yaml, (int64_t)gb_now_ns());
}

#define GRANT(to)                                                            \
	"  - { dataset: tax.invoices, to: " to ", rights: [subscribe, replay]," \
	" purpose: checks, legal_basis: Act 1, approved_by: board,"          \
	" expires: 2099-01-01 }\n"

static const gb_identity *identity_of(const char *dept)
{
	return !strcmp(dept, "tax") ? w.tax
	       : !strcmp(dept, "health") ? w.health : w.social;
}

/* A wrap of `key` for `to`, signed by `signer` as tax. */
static ProtobufCBinaryData wrap(uint32_t epoch, const char *to,
				const uint8_t *key, const gb_identity *signer)
{
	ProtobufCBinaryData b = {0, NULL};

	CHECK_RC(gb_keywrap_build("tax.invoices", epoch, "tax", to,
				  gb_identity_box_pk(identity_of(to)), key,
				  gb_identity_sign_sk(signer), gb_now_ns(),
				  &b.data, &b.len), 0);
	return b;
}

/* Upload `n` wraps as `dept` (opening `epoch` when new_epoch) and wait for
 * the writer; the answer (the last frame sent), or NULL. Frees the wraps. */
static const gb_server_frame *upload(const char *dept, uint32_t epoch,
				     bool new_epoch, const uint8_t *key,
				     ProtobufCBinaryData *wraps, size_t n)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__KeyUpload up = GOVBUS__V1__KEY_UPLOAD__INIT;
	gb_caller from = gb_fixture_caller("peer", dept, gb_now_ns());
	uint8_t commitment[GB_COMMITMENT_BYTES];
	gb_client_frame *copy;

	gb_envelope_key_commitment(key, commitment);
	up.request_id = 3;
	up.dataset = (char *)"tax.invoices";
	up.epoch = epoch;
	up.new_epoch = new_epoch;
	if (new_epoch) {
		up.key_commitment.data = commitment;
		up.key_commitment.len = sizeof commitment;
	}
	up.n_signed_wraps = n;
	up.signed_wraps = wraps;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_KEY_UPLOAD;
	f.key_upload = &up;
	copy = gb_fixture_client_frame(&f);
	for (size_t i = 0; i < n; i++)
		free(wraps[i].data);
	gb_outbox_clear(&w.rig.box);
	if (!copy)
		return NULL;
	gb_key_service_upload(w.k, &from, copy);
	CHECK_RC(gb_fixture_settle(w.rig.writer), 0);
	CHECK(w.rig.box.n == 1);
	return w.rig.box.n ? w.rig.box.frames[w.rig.box.n - 1] : NULL;
}

static const gb_server_frame *fetch(const char *dept, uint32_t epoch)
{
	Govbus__V1__KeyFetch req = GOVBUS__V1__KEY_FETCH__INIT;
	gb_caller from = gb_fixture_caller("peer", dept, gb_now_ns());

	req.request_id = 8;
	req.dataset = (char *)"tax.invoices";
	req.epoch = epoch;
	gb_outbox_clear(&w.rig.box);
	gb_key_service_fetch(w.k, &from, &req);
	CHECK(w.rig.box.n == 1);
	return w.rig.box.n ? w.rig.box.frames[0] : NULL;
}

static unsigned status_of(const gb_server_frame *f, const char *words)
{
	if (!f || f->body_case != GOVBUS__V1__SERVER_FRAME__BODY_ERROR)
		return 0;
	CHECK_CONTAINS(f->error->message, words);
	return f->error->status;
}

static bool has_reader(const Govbus__V1__KeyInfo *ki, const char *dept)
{
	for (size_t i = 0; i < ki->n_readers; i++)
		if (!strcmp(ki->readers[i]->dept, dept))
			return true;
	return false;
}

static uint32_t current_epoch(bool *retired)
{
	gb_epoch_state es;

	CHECK_RC(gb_store_epoch_get(w.rig.store, "tax.invoices", &es), 0);
	if (retired)
		*retired = es.retired;
	return es.current;
}

static void test_fetch_and_upload(void)
{
	const gb_server_frame *f;
	ProtobufCBinaryData wraps[3];

	/* Before any key: the owner learns who must get the first one. */
	f = fetch("tax", 0);
	CHECK(f && f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO);
	if (f && f->key_info) {
		CHECK(f->key_info->request_id == 8);
		CHECK(f->key_info->current_epoch == 0);
		CHECK(f->key_info->n_readers == 2 && has_reader(f->key_info, "tax") &&
		      has_reader(f->key_info, "health"));
		CHECK(f->key_info->n_missing == 0);
	}
	CHECK(status_of(fetch("social", 0), "social may not hold the key") == 403);

	/* Refused uploads store nothing. */
	wraps[0] = wrap(1, "tax", w.key1, w.tax);
	CHECK(status_of(upload("health", 1, true, w.key1, wraps, 1),
			"only the owner") == 403);
	wraps[0] = wrap(2, "tax", w.key1, w.tax);
	CHECK(status_of(upload("tax", 2, true, w.key1, wraps, 1),
			"cannot be opened (current 0)") == 412);
	wraps[0] = wrap(1, "health", w.key1, w.tax);
	CHECK(status_of(upload("tax", 1, true, w.key1, wraps, 1),
			"must include the owner's own wrap") == 400);
	wraps[0] = wrap(1, "tax", w.key1, w.tax);
	wraps[1] = wrap(1, "social", w.key1, w.tax);
	CHECK(status_of(upload("tax", 1, true, w.key1, wraps, 2),
			"social may not hold the key of tax.invoices epoch 1")
	      == 403);
	wraps[0] = wrap(1, "tax", w.key1, w.tax);
	wraps[1] = wrap(1, "health", w.other, w.tax);
	CHECK(status_of(upload("tax", 1, true, w.key1, wraps, 2),
			"wrap 1 carries another key") == 412);
	wraps[0] = wrap(1, "tax", w.key1, w.tax);
	wraps[1] = wrap(1, "health", w.key1, w.health); /* not tax's signature */
	CHECK(status_of(upload("tax", 1, true, w.key1, wraps, 2),
			"key upload refused") != 0);
	CHECK(current_epoch(NULL) == 0);

	/* The owner opens epoch 1 for itself and health. */
	wraps[0] = wrap(1, "tax", w.key1, w.tax);
	wraps[1] = wrap(1, "health", w.key1, w.tax);
	f = upload("tax", 1, true, w.key1, wraps, 2);
	CHECK(f && f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK);
	if (f && f->key_upload_ack)
		CHECK(f->key_upload_ack->epoch == 1 &&
		      f->key_upload_ack->stored == 2 &&
		      f->key_upload_ack->request_id == 3);
	CHECK(current_epoch(NULL) == 1);

	/* health gets its own wrap; the owner owes nobody. */
	f = fetch("health", 0);
	CHECK(f && f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO);
	if (f && f->key_info) {
		uint8_t key[GB_DATASET_KEY_BYTES];
		gb_keywrap_info info;
		char why[256];

		CHECK(f->key_info->epoch == 1 && f->key_info->n_readers == 0);
		CHECK_RC(gb_keywrap_open(f->key_info->signed_wrap.data,
					 f->key_info->signed_wrap.len,
					 "tax.invoices", 1, "health",
					 gb_identity_sign_pk(w.tax),
					 gb_identity_box_pk(w.health),
					 gb_identity_box_sk(w.health), key,
					 &info, why, sizeof why), 0);
		CHECK(!memcmp(key, w.key1, sizeof key));
	}
	f = fetch("tax", 0);
	CHECK(f && f->key_info && f->key_info->n_missing == 0 &&
	      !f->key_info->rotate);
	/* An epoch nobody opened. */
	wraps[0] = wrap(3, "tax", w.key1, w.tax);
	CHECK(status_of(upload("tax", 3, false, w.key1, wraps, 1),
			"cannot be wrapped (current 1)") == 412);
}

static void test_revocation(void)
{
	gb_registry *none = registry("");
	gb_registry *both = registry("grants:\n" GRANT("health") GRANT("social"));
	const gb_server_frame *f;
	bool retired = false;

	if (!none || !both)
		return;
	/* tax's agent is connected; health loses its grant. */
	gb_sessions_note(w.sessions, (const uint8_t *)"tax-agent", 9, "tax",
			 gb_now_ns());
	gb_key_service_policy_loaded(w.k, none);
	gb_outbox_clear(&w.rig.box);
	gb_key_service_reconcile(w.k, (int64_t)gb_now_ns());
	CHECK_RC(gb_fixture_settle(w.rig.writer), 0);
	CHECK(current_epoch(&retired) == 1 && retired);
	f = gb_outbox_find(&w.rig.box, 0, GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO);
	CHECK(f && f->key_info->rotate && w.rig.box.peer_lens[0] == 9);
	/* Once retired, nothing more to retire. */
	gb_outbox_clear(&w.rig.box);
	gb_key_service_reconcile(w.k, (int64_t)gb_now_ns());
	CHECK_RC(gb_fixture_settle(w.rig.writer), 0);
	CHECK(w.rig.box.n == 0);

	/* A reload grants health and social: the owner is told social
	 * lacks a wrap of epoch 1 (health has one). */
	gb_key_service_policy_loaded(w.k, both);
	gb_key_service_reloaded(w.k, none, (int64_t)gb_now_ns());
	CHECK_RC(gb_fixture_settle(w.rig.writer), 0);
	f = gb_outbox_find(&w.rig.box, 0, GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO);
	CHECK(f && f->key_info->n_missing == 1);
	if (f && f->key_info->n_missing == 1) {
		const Govbus__V1__MissingWraps *m = f->key_info->missing[0];
		CHECK(m->epoch == 1 && m->n_recipients == 1 &&
		      !strcmp(m->recipients[0]->dept, "social"));
	}
	gb_registry_destroy(&none);
	gb_registry_destroy(&both);
}

static void test_history(void)
{
	gb_registry *no_history = registry(
		"grants:\n"
		"  - { dataset: tax.invoices, to: health, rights: [subscribe],"
		" purpose: checks, legal_basis: Act 1, approved_by: board,"
		" expires: 2099-01-01, history: none }\n");
	ProtobufCBinaryData wraps[2];
	uint8_t key2[GB_DATASET_KEY_BYTES];
	const gb_server_frame *f;

	if (!no_history)
		return;
	/* Epoch 1 was retired above: the owner opens epoch 2. */
	gb_key_service_policy_loaded(w.k, no_history);
	randombytes_buf(key2, sizeof key2);
	wraps[0] = wrap(2, "tax", key2, w.tax);
	wraps[1] = wrap(2, "health", key2, w.tax);
	f = upload("tax", 2, true, key2, wraps, 2);
	CHECK(f && f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK);
	CHECK(current_epoch(NULL) == 2);

	/* health reaches epoch 2, not epoch 1, and is owed nothing of it. */
	f = fetch("health", 2);
	CHECK(f && f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO &&
	      f->key_info->signed_wrap.len > 0);
	CHECK(status_of(fetch("health", 1), "history does not reach") == 403);
	wraps[0] = wrap(1, "health", w.key1, w.tax);
	CHECK(status_of(upload("tax", 1, false, w.key1, wraps, 1),
			"health may not hold the key of tax.invoices epoch 1")
	      == 403);
	f = fetch("tax", 0);
	CHECK(f && f->key_info && f->key_info->n_missing == 0);
	gb_key_service_policy_loaded(w.k, NULL);
	gb_registry_destroy(&no_history);
}

int main(void)
{
	char tax[512], health[512], social[512];
	gb_registry *reg;

	CHECK_RC(gb_fixture_rig_open(&w.rig, "keys"), 0);
	w.tax = gb_identity_generate();
	w.health = gb_identity_generate();
	w.social = gb_identity_generate();
	w.sessions = gb_sessions_new();
	if (!w.rig.writer || !w.tax || !w.health || !w.social || !w.sessions)
		return 1;
	gb_fixture_dept_yaml(w.tax, "tax", tax, sizeof tax);
	gb_fixture_dept_yaml(w.health, "health", health, sizeof health);
	gb_fixture_dept_yaml(w.social, "social", social, sizeof social);
	snprintf(w.depts, sizeof w.depts, "%s%s%s", tax, health, social);
	reg = registry("grants:\n" GRANT("health"));
	randombytes_buf(w.key1, sizeof w.key1);
	randombytes_buf(w.other, sizeof w.other);
	{
		gb_key_service_deps deps = {w.rig.store, w.rig.writer,
					    w.sessions, NULL,
					    gb_outbox_sender(&w.rig.box)};
		CHECK_RC(gb_key_service_new(&deps, &w.k), 0);
	}
	if (!reg || !w.k)
		return 1;
	gb_key_service_policy_loaded(w.k, reg);

	test_fetch_and_upload();
	test_revocation();
	test_history();
	gb_key_service_policy_loaded(w.k, reg);

	gb_fixture_rig_close(&w.rig);
	gb_key_service_destroy(&w.k);
	CHECK(w.k == NULL);
	gb_sessions_destroy(&w.sessions);
	gb_registry_destroy(&reg);
	gb_identity_destroy(&w.tax);
	gb_identity_destroy(&w.health);
	gb_identity_destroy(&w.social);
	gb_fixture_cleanup();
	TEST_EXIT();
}
