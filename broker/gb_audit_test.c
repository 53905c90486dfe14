/* Tests of the broker's audit module (events, checkpoint schedule,
 * requests) driven through a fake gb_audit_io that commits jobs to a real
 * store as the writer thread would; signed checkpoints; the audit-trail
 * policy rule and stream name. The store's own AUDIT, CHECKPOINT and POLICY
 * writes and their readers are tested in broker/store
 * (gb_store_contract_test). Each test works in its own folder under a
 * mkdtemp root, removed at the end. */
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gb_audit.h"
#include "gb_chain.h"
#include "gb_checkpoint.h"
#include "gb_codec.h"
#include "gb_error.h"
#include "gb_keys.h"
#include "gb_policy.h"
#include "gb_store.h"
#include "gb_store_test_util.h"
#include "gb_test.h"

static gb_store *open_store(const char *name, char *dir, size_t len)
{
	gb_store *s = NULL;

	st_case_dir(dir, len, name);
	CHECK_RC(gb_store_open(dir, 64u << 20, &s), 0);
	return s;
}

/* ------------------------------------------------------------ checkpoints */

static void test_checkpoint_signing(void)
{
	gb_identity *broker = gb_identity_generate(), *other = gb_identity_generate();
	gb_checkpoint cp = {.next_offset = 10, .batch_count = 2,
			    .broker_time_ns = 77}, got;
	uint8_t *bytes = NULL;
	size_t len = 0;
	char why[256];

	snprintf(cp.dataset, sizeof cp.dataset, "tax.invoices");
	memset(cp.chain_hash, 0xab, GB_HASH_BYTES);
	CHECK_RC(gb_checkpoint_sign(&cp, gb_identity_sign_sk(broker), &bytes,
				    &len), 0);
	CHECK_RC(gb_checkpoint_verify(bytes, len, gb_identity_sign_pk(broker),
				      &got, why, sizeof why), 0);
	CHECK_STR(got.dataset, "tax.invoices");
	CHECK(got.next_offset == 10 && got.batch_count == 2 &&
	      got.broker_time_ns == 77);
	CHECK(memcmp(got.chain_hash, cp.chain_hash, GB_HASH_BYTES) == 0);
	CHECK_RC(gb_checkpoint_verify(bytes, len, gb_identity_sign_pk(other),
				      &got, why, sizeof why), GB_ESIG);
	CHECK_CONTAINS(why, "not signed by the broker key");
	bytes[len / 2] ^= 1;
	CHECK(gb_checkpoint_verify(bytes, len, gb_identity_sign_pk(broker), &got,
				   why, sizeof why) != 0);
	CHECK_RC(gb_checkpoint_verify(bytes, 5000, NULL, &got, why, sizeof why),
		 GB_ETOOBIG);
	free(bytes);
	/* Counts that no log can have are refused when signing. */
	cp.batch_count = 11;
	CHECK_RC(gb_checkpoint_sign(&cp, gb_identity_sign_sk(broker), &bytes,
				    &len), GB_EINVAL);
	gb_identity_destroy(&broker);
	gb_identity_destroy(&other);
}

/* ------------------------------------------------------------ policy, codec */

static gb_registry *load_registry(const gb_identity *tax, const gb_identity *aud)
{
	char ts[GB_SIGN_PK_TEXT], tb[GB_BOX_PK_TEXT], as[GB_SIGN_PK_TEXT],
		ab[GB_BOX_PK_TEXT], yaml[2048], path[160];
	gb_registry *reg = NULL;
	gb_config_error err;
	int n;

	gb_key_encode_sign(gb_identity_sign_pk(tax), ts);
	gb_key_encode_box(gb_identity_box_pk(tax), tb);
	gb_key_encode_sign(gb_identity_sign_pk(aud), as);
	gb_key_encode_box(gb_identity_box_pk(aud), ab);
	n = snprintf(yaml, sizeof yaml,
		     "broker: { listen: \"tcp://127.0.0.1:1\", data_dir: ./d, "
		     "key: k, checkpoint_batches: 3, checkpoint_seconds: 5 }\n"
		     "departments:\n"
		     "  - { id: tax, name: Tax, sign_key: \"%s\", box_key: \"%s\" }\n"
		     "  - { id: audit, name: Audit, role: auditor, sign_key: "
		     "\"%s\", box_key: \"%s\" }\n"
		     "datasets:\n"
		     "  - { id: tax.invoices, owner: tax, title: T, sharing: "
		     "closed, classification: internal }\n",
		     ts, tb, as, ab);
	st_case_dir(path, sizeof path, "reg.yaml");
	CHECK_RC(gb_config_load_buffer(path, (const uint8_t *)yaml, (size_t)n,
				       1000, &reg, &err), 0);
	return reg;
}

static void test_policy_and_codec(void)
{
	gb_identity *tax = gb_identity_generate(), *aud = gb_identity_generate();
	gb_registry *reg = load_registry(tax, aud);
	size_t len = 0;

	if (reg) {
		CHECK(gb_registry_broker(reg)->checkpoint_batches == 3);
		CHECK(gb_registry_broker(reg)->checkpoint_seconds == 5);
		CHECK(gb_registry_source(reg, &len) != NULL && len > 100);
		CHECK(gb_policy_decide(reg, "audit", GB_ACTION_SUBSCRIBE,
				       GB_AUDIT_STREAM, 1).allowed);
		CHECK(gb_policy_decide(reg, "audit", GB_ACTION_REPLAY,
				       GB_AUDIT_STREAM, 1).allowed);
		CHECK(!gb_policy_decide(reg, "audit", GB_ACTION_PUBLISH,
					GB_AUDIT_STREAM, 1).allowed);
		CHECK(!gb_policy_decide(reg, "audit", GB_ACTION_READ_CONTENT,
					GB_AUDIT_STREAM, 1).allowed);
		CHECK(!gb_policy_decide(reg, "tax", GB_ACTION_SUBSCRIBE,
					GB_AUDIT_STREAM, 1).allowed);
		CHECK_CONTAINS(gb_policy_decide(reg, "tax", GB_ACTION_REPLAY,
						GB_AUDIT_STREAM, 1).reason,
			       "auditors only");
		CHECK(!gb_policy_decide(reg, "nobody", GB_ACTION_REPLAY,
					GB_AUDIT_STREAM, 1).allowed);
	}
	/* "_audit" may be subscribed to, but is never a dataset id. */
	CHECK(gb_stream_name_valid(GB_AUDIT_STREAM));
	CHECK(gb_stream_name_valid("tax.invoices"));
	CHECK(!gb_id_valid(GB_AUDIT_STREAM));
	CHECK(!gb_stream_name_valid("_other"));
	CHECK(!gb_stream_name_valid(NULL));
	gb_registry_destroy(&reg);
	gb_identity_destroy(&tax);
	gb_identity_destroy(&aud);
}

/* ------------------------------------------------------------ the module */

/* A fake broker: jobs are committed one group per flush, as the writer
 * thread would, and frames are kept for inspection. */
struct fake {
	gb_store *store;
	gb_audit *audit;
	gb_audit_job *jobs[64];
	size_t njobs;
	int sent[16];                 /* body cases of frames sent */
	size_t nsent;
	uint8_t last_checkpoint[GB_MAX_CHECKPOINT_BYTES];
	size_t last_checkpoint_len;
	uint32_t last_status;
};

static int fake_submit(void *ctx, gb_audit_job *job)
{
	struct fake *f = ctx;

	if (f->njobs == 64) {
		gb_audit_job_free(&job);
		return GB_EUNAVAIL;
	}
	f->jobs[f->njobs++] = job;
	return 0;
}

static int fake_send(void *ctx, const uint8_t *peer, size_t peer_len,
		     const gb_server_frame *frame)
{
	struct fake *f = ctx;

	(void)peer;
	(void)peer_len;
	if (f->nsent < 16)
		f->sent[f->nsent++] = frame->body_case;
	if (frame->body_case == GOVBUS__V1__SERVER_FRAME__BODY_CHECKPOINT_REPLY &&
	    frame->checkpoint_reply->signed_checkpoint.len <= GB_MAX_CHECKPOINT_BYTES) {
		f->last_checkpoint_len = frame->checkpoint_reply->signed_checkpoint.len;
		memcpy(f->last_checkpoint,
		       frame->checkpoint_reply->signed_checkpoint.data,
		       f->last_checkpoint_len);
	}
	if (frame->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR)
		f->last_status = frame->error->status;
	return 0;
}

/* Commit every queued job (and what finishing them queues). */
static void fake_flush(struct fake *f)
{
	while (f->njobs) {
		size_t n = f->njobs;
		gb_audit_job *jobs[64];
		gb_write w[64];

		memcpy(jobs, f->jobs, n * sizeof *jobs);
		f->njobs = 0;
		for (size_t i = 0; i < n; i++)
			w[i] = *gb_audit_job_write(jobs[i]);
		CHECK_RC(gb_store_write_group(f->store, w, n), 0);
		for (size_t i = 0; i < n; i++)
			gb_audit_job_done(f->audit, jobs[i], &w[i]);
	}
}

struct event_seen {
	int kinds[32];
	char depts[32][16];
	size_t n;
};

static int collect_event(void *arg, uint64_t offset, const uint8_t *value,
			 size_t len)
{
	struct event_seen *es = arg;
	gb_stored_batch b;
	Govbus__V1__AuditEvent *ev;

	(void)offset;
	CHECK_RC(gb_store_entry_split(value, len, &b), 0);
	ev = govbus__v1__audit_event__unpack(NULL, b.signed_batch_len,
					     b.signed_batch);
	CHECK(ev != NULL);
	if (ev && es->n < 32) {
		es->kinds[es->n] = ev->kind;
		snprintf(es->depts[es->n], sizeof es->depts[0], "%s", ev->dept);
		CHECK(ev->policy_hash.len == GB_HASH_BYTES);
		es->n++;
	}
	if (ev)
		govbus__v1__audit_event__free_unpacked(ev, NULL);
	return 0;
}

static void test_module(void)
{
	char dir[128];
	struct fake f = {0};
	gb_identity *broker = gb_identity_generate(), *tax = gb_identity_generate(),
		    *aud = gb_identity_generate();
	gb_registry *reg = load_registry(tax, aud);
	gb_audit_io io = {fake_submit, fake_send, &f};
	struct event_seen es = {0};
	gb_stream_info info;
	struct st_seen seen = {0};
	struct st_policy_seen ps = {0};
	gb_checkpoint cp;
	char why[256];
	const uint8_t peer[] = "peer";

	if (!reg)
		return;
	f.store = open_store("module", dir, sizeof dir);
	CHECK_RC(gb_audit_new(f.store, broker, gb_registry_broker(reg), &io,
			      &f.audit), 0);
	gb_audit_policy_loaded(f.audit, reg, "/etc/govbus.yaml");
	gb_audit_connected(f.audit, "tax");
	gb_audit_denied(f.audit, "tax", "tax.invoices", "replay", GB_EPERM,
			"grant expired");
	gb_audit_subscribed(f.audit, "audit", "tax.invoices", 0, 5, NULL);
	gb_audit_wraps_stored(f.audit, "tax", "tax.invoices", 1, 3, true);
	gb_audit_policy_rejected(f.audit, "f.yaml:1:1: bad");
	fake_flush(&f);
	/* Six events: with checkpoint_batches 3, two trail checkpoints. */
	CHECK(gb_store_read_raw(f.store, GB_AUDIT_STREAM, &info, collect_event,
				&es) == 6);
	CHECK(es.kinds[0] == GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_POLICY_LOAD);
	CHECK(es.kinds[2] == GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_DENIED);
	CHECK_STR(es.depts[2], "tax");
	CHECK(es.kinds[3] == GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_REPLAY);
	CHECK(es.kinds[5] == GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_POLICY_REJECTED);
	CHECK(gb_store_policies_read(f.store, st_count_policy, &ps) == 1);
	CHECK(gb_store_checkpoints_read(f.store, GB_AUDIT_STREAM, 0, 10, st_remember,
					&seen) >= 1);
	/* The trail subscription names the broker as its owner. */
	CHECK(gb_audit_trail_owner(f.audit, GB_AUDIT_STREAM) != NULL);
	CHECK(gb_audit_trail_owner(f.audit, "tax.invoices") == NULL);

	/* A checkpoint on request, answered once stored, signed by the broker;
	 * a department that may not read the stream is refused. */
	{
		gb_client_frame fr = GOVBUS__V1__CLIENT_FRAME__INIT;
		Govbus__V1__CheckpointRequest rq = GOVBUS__V1__CHECKPOINT_REQUEST__INIT;

		rq.request_id = 9;
		rq.dataset = (char *)GB_AUDIT_STREAM;
		fr.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_REQUEST;
		fr.checkpoint_request = &rq;
		gb_audit_handle(f.audit, reg, peer, sizeof peer, "tax", 1, &fr);
		CHECK(f.last_status == 403);
		gb_audit_handle(f.audit, reg, peer, sizeof peer, "audit", 1, &fr);
		fake_flush(&f);
		CHECK(f.last_checkpoint_len > 0);
		CHECK_RC(gb_checkpoint_verify(f.last_checkpoint,
					      f.last_checkpoint_len,
					      gb_identity_sign_pk(broker), &cp,
					      why, sizeof why), 0);
		CHECK_STR(cp.dataset, GB_AUDIT_STREAM);
		CHECK(cp.next_offset >= 6);
	}
	/* The registry: auditors get the snapshot bytes. */
	{
		gb_client_frame fr = GOVBUS__V1__CLIENT_FRAME__INIT;
		Govbus__V1__RegistryRequest rq = GOVBUS__V1__REGISTRY_REQUEST__INIT;
		size_t before = f.nsent;

		fr.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_REGISTRY_REQUEST;
		fr.registry_request = &rq;
		gb_audit_handle(f.audit, reg, peer, sizeof peer, "audit", 1, &fr);
		CHECK(f.nsent == before + 1 &&
		      f.sent[before] == GOVBUS__V1__SERVER_FRAME__BODY_REGISTRY);
	}
	/* Batches of a dataset: a checkpoint every 3. */
	{
		gb_write w[3];

		for (int i = 0; i < 3; i++) {
			w[i] = st_audit_item("tax.invoices", (const uint8_t *)"b", 1,
					  (uint64_t)i + 1);
		}
		CHECK_RC(gb_store_write_group(f.store, w, 3), 0);
		for (int i = 0; i < 3; i++)
			gb_audit_appended(f.audit, "tax.invoices");
		CHECK(f.njobs == 1);
		fake_flush(&f);
		seen.n = 0;
		CHECK(gb_store_checkpoints_read(f.store, "tax.invoices", 0, 10,
						st_remember, &seen) == 1);
		CHECK(seen.offsets[0] == 3);
	}
	/* At stop: streams with uncovered batches get one, then nothing more
	 * is queued. */
	gb_audit_appended(f.audit, "tax.invoices");
	gb_audit_flush(f.audit);
	CHECK(f.njobs >= 1); /* and the trail's, if it has uncovered events */
	fake_flush(&f);
	gb_audit_connected(f.audit, "late");
	CHECK(f.njobs == 0);

	gb_audit_destroy(&f.audit);
	CHECK(f.audit == NULL);
	gb_audit_destroy(&f.audit); /* NULL is fine */
	gb_audit_connected(NULL, "x");
	gb_store_close(&f.store);
	gb_registry_destroy(&reg);
	gb_identity_destroy(&broker);
	gb_identity_destroy(&tax);
	gb_identity_destroy(&aud);
}

int main(void)
{
	if (!st_root_init("gb_audit_test") || sodium_init() < 0)
		return 1;
	test_checkpoint_signing();
	test_policy_and_codec();
	test_module();
	st_root_remove();
	gb_test_failures += st_failures();
	TEST_EXIT();
}
