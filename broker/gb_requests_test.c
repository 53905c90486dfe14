/* Tests of access requests: gb_requests_check and gb_requests_decide over
 * a registry with open, conditional, closed, granted and refused datasets;
 * the gb_requests module driven through a fake gb_requests_io that commits
 * jobs as the writer thread would: a request is acked as pending with id 1,
 * a repeat returns it, refusals are explained, the asker lists only its
 * own, and a config with a grant (or a refusal) decides it. Every frame the
 * module sends is encoded and decoded again, so it also passes gb_codec.
 * The store's REQUEST write and its readers are tested in broker/store
 * (gb_store_contract_test). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gb_codec.h"
#include "gb_config.h"
#include "gb_error.h"
#include "gb_requests.h"
#include "gb_store.h"
#include "gb_store_test_util.h"
#include "gb_test.h"
#include "gb_test_departments.h"

#define NS INT64_C(1000000000)
#define NOW (INT64_C(1780272000) * NS) /* 2026-06-01T00:00:00Z */

static gb_store *open_store(const char *name, char *dir, size_t len)
{
	gb_store *s = NULL;

	st_case_dir(dir, len, name);
	CHECK_RC(gb_store_open(dir, 64u << 20, &s), 0);
	return s;
}

/* ------------------------------------------------------------ registry */

static const char config_yaml[] =
	GB_TEST_BROKER_YAML
	"departments:\n"
	GB_TEST_DEPT_TAX
	GB_TEST_DEPT_HEALTH
	GB_TEST_DEPT_SOCIAL
	GB_TEST_DEPT_MARKET
	"datasets:\n"
	"  - { id: tax.invoices, owner: tax, title: VAT invoices,"
	" sharing: conditional, classification: internal }\n"
	"  - { id: tax.open, owner: tax, title: Statistics, sharing: open,"
	" classification: public }\n"
	"  - { id: tax.closed, owner: tax, title: Investigations,"
	" sharing: closed, classification: confidential }\n"
	"  - { id: tax.more, owner: tax, title: More, sharing: conditional,"
	" classification: internal }\n"
	"grants:\n"
	"  - { dataset: tax.invoices, to: health, rights: [subscribe],"
	" purpose: checks, legal_basis: Act 1, approved_by: board 7,"
	" expires: 2099-01-01 }\n"; /* more grants, then refusals follow */

static const char refusal_yaml[] =
	"refusals:\n"
	"  - { dataset: tax.more, to: market, reason: no statute,"
	" refused_by: board 8, date: 2026-02-01 }\n";

/* A registry of config_yaml with `extra` appended (more grants and then
 * refusals, in YAML). */
static gb_registry *registry(const char *extra)
{
	char text[8192], name[128];
	gb_registry *reg = NULL;
	gb_config_error err;
	char msg[1024];
	int rc;

	snprintf(text, sizeof text, "%s%s", config_yaml, extra);
	st_case_dir(name, sizeof name, "govbus.yaml");
	rc = gb_config_load_buffer(name, (const uint8_t *)text, strlen(text),
				   NOW, &reg, &err);
	if (rc != 0) {
		gb_config_error_format(&err, msg, sizeof msg);
		fprintf(stderr, "test config: %s\n", msg);
	}
	CHECK_RC(rc, 0);
	return reg;
}

static void test_check(void)
{
	gb_registry *reg = registry(refusal_yaml);
	char why[512];

	if (!reg)
		return;
	CHECK_RC(gb_requests_check(reg, "social", "tax.invoices", NOW, why,
				   sizeof why), 0);
	CHECK_RC(gb_requests_check(reg, "social", "tax.nothing", NOW, why,
				   sizeof why), GB_ENOTFOUND);
	CHECK_RC(gb_requests_check(reg, "social", "tax.open", NOW, why,
				   sizeof why), GB_EINVAL);
	CHECK_CONTAINS(why, "tax.open is open");
	CHECK_RC(gb_requests_check(reg, "social", "tax.closed", NOW, why,
				   sizeof why), GB_ECONFLICT);
	CHECK_CONTAINS(why, "tax.closed is closed");
	CHECK_RC(gb_requests_check(reg, "tax", "tax.invoices", NOW, why,
				   sizeof why), GB_ECONFLICT);
	CHECK_CONTAINS(why, "tax owns tax.invoices");
	CHECK_RC(gb_requests_check(reg, "health", "tax.invoices", NOW, why,
				   sizeof why), GB_ECONFLICT);
	CHECK_CONTAINS(why, "already granted");
	/* Once the grant has expired, it may be asked for again. */
	CHECK_RC(gb_requests_check(reg, "health", "tax.invoices",
				   INT64_C(4070908800) * NS, why, sizeof why), 0);
	CHECK_RC(gb_requests_check(reg, "market", "tax.more", NOW, why,
				   sizeof why), GB_ECONFLICT);
	CHECK_CONTAINS(why, "refused on 2026-02-01T00:00:00Z by board 8: no statute");

	{
		const char *reason = NULL;

		CHECK_STR(gb_requests_decide(reg, "health", "tax.invoices", NOW,
					     &reason), "approved");
		CHECK_STR(reason, "board 7");
		/* An expired grant approves nothing (a renewal stays pending). */
		CHECK(gb_requests_decide(reg, "health", "tax.invoices",
					 INT64_C(4070908800) * NS, &reason) == NULL);
		CHECK_STR(gb_requests_decide(reg, "market", "tax.more", NOW,
					     &reason), "refused");
		CHECK_STR(reason, "no statute");
		CHECK(gb_requests_decide(reg, "social", "tax.invoices", NOW,
					 &reason) == NULL);
		CHECK(reason == NULL);
	}
	gb_registry_destroy(&reg);
}

/* ------------------------------------------------------------ module */

#define JOBS_MAX 16
#define FRAMES_MAX 16

/* The broker's side: jobs queued for the writer, frames sent. */
struct fake {
	gb_store *store;
	gb_requests *r;
	gb_requests_job *jobs[JOBS_MAX];
	size_t njobs;
	gb_server_frame *frames[FRAMES_MAX];
	size_t nframes;
};

static int fake_submit(void *ctx, gb_requests_job *job)
{
	struct fake *f = ctx;

	if (f->njobs == JOBS_MAX) {
		gb_requests_job_free(&job);
		return GB_EUNAVAIL;
	}
	f->jobs[f->njobs++] = job;
	return 0;
}

static int fake_send(void *ctx, const uint8_t *peer, size_t peer_len,
		     const gb_server_frame *frame)
{
	struct fake *f = ctx;
	uint8_t *bytes = NULL;
	size_t len = 0;
	char why[256];
	int rc;

	(void)peer;
	(void)peer_len;
	CHECK_RC(gb_codec_server_encode(frame, &bytes, &len), 0);
	rc = gb_codec_server_decode(bytes, len, &f->frames[f->nframes], why,
				    sizeof why);
	if (rc != 0)
		fprintf(stderr, "sent frame does not decode: %s\n", why);
	CHECK_RC(rc, 0);
	free(bytes);
	if (rc == 0 && f->nframes < FRAMES_MAX - 1)
		f->nframes++;
	return 0;
}

/* An Error, kept like any other frame the module sends. */
static void fake_fail(void *ctx, const uint8_t *peer, size_t peer_len, int err,
		      uint64_t request_id, const char *text)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Error e = GOVBUS__V1__ERROR__INIT;

	e.status = gb_error_status(err);
	e.message = (char *)text;
	e.request_id = request_id;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_ERROR;
	f.error = &e;
	(void)fake_send(ctx, peer, peer_len, &f);
}

static void fake_log(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "log: %s\n", line);
}

/* Commit every queued job as one group, as the writer thread does, and
 * hand each back. */
static void commit_jobs(struct fake *f)
{
	gb_write w[JOBS_MAX];
	size_t n = f->njobs;

	for (size_t i = 0; i < n; i++)
		w[i] = *gb_requests_job_write(f->jobs[i]);
	CHECK_RC(gb_store_write_group(f->store, w, n), 0);
	f->njobs = 0;
	for (size_t i = 0; i < n; i++)
		gb_requests_job_done(f->r, f->jobs[i], &w[i]);
}

/* The last frame sent, taken from the fake (the caller frees it). */
static gb_server_frame *last_frame(struct fake *f)
{
	gb_server_frame *frame;

	CHECK(f->nframes > 0);
	if (f->nframes == 0)
		return NULL;
	frame = f->frames[--f->nframes];
	for (size_t i = 0; i < f->nframes; i++)
		gb_codec_server_free(&f->frames[i]);
	f->nframes = 0;
	return frame;
}

static void ask(struct fake *f, const char *dept, const char *dataset,
		uint64_t request_id)
{
	gb_client_frame frame = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__AccessRequest req = GOVBUS__V1__ACCESS_REQUEST__INIT;
	char *rights[] = {(char *)"subscribe"};

	req.request_id = request_id;
	req.dataset = (char *)dataset;
	req.rights = rights;
	req.n_rights = 1;
	req.purpose = (char *)"benefit checks";
	req.legal_basis = (char *)"Social Security Act s. 41";
	frame.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST;
	frame.access_request = &req;
	gb_requests_handle(f->r, (const uint8_t *)"peer", 4, dept, NOW, &frame);
}

/* The asker's requests as the broker lists them (the caller frees). */
static gb_server_frame *query(struct fake *f, const char *dept)
{
	gb_client_frame frame = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__AccessRequestQuery q = GOVBUS__V1__ACCESS_REQUEST_QUERY__INIT;
	gb_server_frame *answer;

	q.request_id = 77;
	frame.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST_QUERY;
	frame.access_request_query = &q;
	gb_requests_handle(f->r, (const uint8_t *)"peer", 4, dept, NOW, &frame);
	answer = last_frame(f);
	CHECK(answer && answer->body_case ==
			GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_LIST);
	if (answer && answer->body_case !=
			      GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_LIST)
		gb_codec_server_free(&answer);
	if (answer)
		CHECK(answer->access_request_list->request_id == 77);
	return answer;
}

/* The ack of request_id: status and id of the stored request. */
static void check_ack(struct fake *f, uint64_t request_id, uint64_t id,
		      const char *status)
{
	gb_server_frame *a = last_frame(f);

	CHECK(a && a->body_case ==
			   GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK);
	if (a && a->body_case ==
			 GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK) {
		const Govbus__V1__AccessRequestInfo *info =
			a->access_request_ack->request;

		CHECK(a->access_request_ack->request_id == request_id);
		CHECK(info->id == id);
		CHECK_STR(info->status, status);
		CHECK_STR(info->dept, "social");
		CHECK_STR(info->purpose, "benefit checks");
		CHECK(info->n_rights == 1);
		CHECK(info->created_ns == (uint64_t)NOW);
	}
	gb_codec_server_free(&a);
}

static void check_error(struct fake *f, uint64_t request_id, unsigned status,
			const char *text)
{
	gb_server_frame *a = last_frame(f);

	CHECK(a && a->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR);
	if (a && a->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR) {
		CHECK(a->error->request_id == request_id);
		CHECK(a->error->status == status);
		CHECK_CONTAINS(a->error->message, text);
	}
	gb_codec_server_free(&a);
}

static void test_module(void)
{
	char dir[128];
	struct fake f = {0};
	gb_requests_io io = {fake_submit, fake_send, fake_fail, fake_log, &f};
	gb_registry *plain = registry(""), *granted = NULL;
	gb_server_frame *list;

	f.store = open_store("module", dir, sizeof dir);
	if (!f.store || !plain)
		goto out;
	CHECK_RC(gb_requests_new(f.store, NULL, &io, &f.r), 0);
	gb_requests_policy_loaded(f.r, plain, (uint64_t)NOW);
	CHECK(f.njobs == 0); /* nothing stored, nothing to decide */

	/* A request is stored, then acked as pending with id 1. */
	ask(&f, "social", "tax.invoices", 5);
	CHECK(f.njobs == 1);
	CHECK(f.nframes == 0); /* no ack before the commit */
	/* While it is being recorded, a second one is turned away. */
	ask(&f, "social", "tax.invoices", 6);
	check_error(&f, 6, 409, "being recorded");
	commit_jobs(&f);
	check_ack(&f, 5, 1, "pending");
	/* Asking again returns the pending one; nothing new is stored. */
	ask(&f, "social", "tax.invoices", 7);
	CHECK(f.njobs == 0);
	check_ack(&f, 7, 1, "pending");
	/* Refusals say why. */
	ask(&f, "social", "tax.open", 8);
	check_error(&f, 8, 400, "nothing to request");
	ask(&f, "social", "tax.closed", 9);
	check_error(&f, 9, 409, "cannot be granted");
	ask(&f, "health", "tax.invoices", 10);
	check_error(&f, 10, 409, "already granted");
	ask(&f, "social", "tax.gone", 11);
	check_error(&f, 11, 404, "no dataset");
	/* market asks for tax.more: id 2. */
	ask(&f, "market", "tax.more", 12);
	commit_jobs(&f);
	list = last_frame(&f); /* market's ack */
	CHECK(list && list->body_case ==
			      GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK);
	gb_codec_server_free(&list);

	/* Each department lists its own. */
	list = query(&f, "social");
	if (list) {
		CHECK(list->access_request_list->n_requests == 1);
		if (list->access_request_list->n_requests == 1)
			CHECK_STR(list->access_request_list->requests[0]->dataset,
				  "tax.invoices");
	}
	gb_codec_server_free(&list);
	list = query(&f, "health");
	if (list)
		CHECK(list->access_request_list->n_requests == 0);
	gb_codec_server_free(&list);

	/* The admins grant social's request and refuse market's: a load of
	 * that config decides both. */
	granted = registry(
		"  - { dataset: tax.invoices, to: social, rights: [subscribe],"
		" purpose: benefit checks, legal_basis: Act 2,"
		" approved_by: board 9, expires: 2099-01-01 }\n"
		"refusals:\n"
		"  - { dataset: tax.more, to: market, reason: no statute,"
		" refused_by: board 8, date: 2026-02-01 }\n");
	if (!granted)
		goto out;
	gb_requests_policy_loaded(f.r, granted, (uint64_t)NOW + 5);
	CHECK(f.njobs == 2);
	commit_jobs(&f);
	list = query(&f, "social");
	if (list && list->access_request_list->n_requests == 1) {
		const Govbus__V1__AccessRequestInfo *info =
			list->access_request_list->requests[0];

		CHECK(info->id == 1);
		CHECK_STR(info->status, "approved");
		CHECK_STR(info->reason, "board 9");
		CHECK(info->decided_ns == (uint64_t)NOW + 5);
		CHECK_STR(info->purpose, "benefit checks");
	} else {
		CHECK(!"social's request listed");
	}
	gb_codec_server_free(&list);
	list = query(&f, "market");
	if (list && list->access_request_list->n_requests == 1) {
		CHECK(list->access_request_list->requests[0]->id == 2);
		CHECK_STR(list->access_request_list->requests[0]->status,
			  "refused");
		CHECK_STR(list->access_request_list->requests[0]->reason,
			  "no statute");
	} else {
		CHECK(!"market's request listed");
	}
	gb_codec_server_free(&list);
	/* Decided requests are not decided again. */
	gb_requests_policy_loaded(f.r, granted, (uint64_t)NOW + 9);
	CHECK(f.njobs == 0);
	/* A refused pair cannot be asked for again while the refusal stands. */
	ask(&f, "market", "tax.more", 13);
	check_error(&f, 13, 409, "refused on");
out:
	for (size_t i = 0; i < f.njobs; i++)
		gb_requests_job_free(&f.jobs[i]);
	for (size_t i = 0; i < f.nframes; i++)
		gb_codec_server_free(&f.frames[i]);
	gb_requests_destroy(&f.r);
	gb_store_close(&f.store);
	gb_registry_destroy(&plain);
	gb_registry_destroy(&granted);
}

/* The admins' listing reads every request, checked; a corrupt value is
 * an error, not a crash. */
static int count_one(void *ctx, const Govbus__V1__AccessRequestInfo *info)
{
	(void)info;
	(*(size_t *)ctx)++;
	return 0;
}

static void test_list_corrupt(void)
{
	char dir[128];
	gb_store *s = open_store("corrupt", dir, sizeof dir);
	gb_write w = st_request_item(0, "not a protobuf message \xff\xff");
	size_t n = 0;

	if (!s)
		return;
	CHECK_RC(gb_store_write_group(s, &w, 1), 0);
	CHECK_RC(gb_requests_list(s, NULL, count_one, &n), GB_ECORRUPT);
	CHECK(n == 0);
	gb_store_close(&s);
}

int main(void)
{
	if (!st_root_init("gb_requests_test"))
		return 2;
	test_check();
	test_module();
	test_list_corrupt();
	st_root_remove();
	gb_test_failures += st_failures();
	TEST_EXIT();
}
