/* Tests of gb_writer against a store in a temp dir: each job's done
 * function runs once, on the calling thread, in submission order, with
 * every write's result filled in; jobs queued together are committed (so
 * appends get dense offsets in order) and a rejected item does not affect
 * the others; a job's writes commit as one unit; destroying the writer
 * commits and answers what was queued, and a job submitted after it
 * stopped is refused instead of lost. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

#include "gb_broker_fixture.h"
#include "gb_test.h"
#include "gb_writer.h"

#define JOBS 100

struct job;

struct record {
	int order[2 * JOBS + 8];
	size_t n;
	pthread_t thread;
	bool wrong_thread;
	gb_writer *resubmit_to;     /* done submits once more here */
	int resubmit_rc;
	struct job *resubmit_job;
};

struct job {
	int id;
	struct record *rec;
	gb_write w[2];
};

static void job_done(void *arg)
{
	struct job *j = arg;
	struct record *r = j->rec;

	if (!pthread_equal(pthread_self(), r->thread))
		r->wrong_thread = true;
	if (r->n < sizeof r->order / sizeof r->order[0])
		r->order[r->n] = j->id;
	r->n++;
	if (r->resubmit_to) {
		r->resubmit_rc = gb_writer_submit(r->resubmit_to,
						  r->resubmit_job->w, 1,
						  job_done, r->resubmit_job);
		r->resubmit_to = NULL;
	}
}

static void append_write(gb_write *w, uint64_t seq)
{
	memset(w, 0, sizeof *w);
	w->kind = GB_WRITE_APPEND;
	w->dataset = "tax.invoices";
	w->producer = "tax";
	w->producer_seq = seq;
	w->record_count = 1;
	w->signed_batch = (const uint8_t *)"batch";
	w->signed_batch_len = 5;
	w->now_ns = 1;
}

static void cursor_write(gb_write *w, const char *name, uint64_t next)
{
	memset(w, 0, sizeof *w);
	w->kind = GB_WRITE_CURSOR;
	w->dataset = "tax.invoices";
	w->dept = "health";
	w->cursor_name = name;
	w->cursor_next = next;
}

int main(void)
{
	gb_store *s = gb_fixture_store("writer");
	void *ctx = zmq_ctx_new();
	static struct job jobs[JOBS + 4];
	struct record rec;
	gb_writer *w = NULL;
	char why[256] = "";
	uint64_t next = 0;

	memset(&rec, 0, sizeof rec);
	rec.thread = pthread_self();
	if (!s)
		return 1;
	CHECK_RC(gb_writer_new(ctx, s, &w, why, sizeof why), 0);
	if (!w)
		return 1;

	/* Two cursors as one job, then many appends, all queued before the
	 * first result is read. */
	jobs[0].id = 0;
	jobs[0].rec = &rec;
	cursor_write(&jobs[0].w[0], "a", 0);
	cursor_write(&jobs[0].w[1], "b", 0);
	CHECK_RC(gb_writer_submit(w, jobs[0].w, 2, job_done, &jobs[0]), 0);
	for (int i = 1; i <= JOBS; i++) {
		jobs[i].id = i;
		jobs[i].rec = &rec;
		/* seq 51 is skipped by job 51, which the store refuses
		 * (a seq must follow the last); the next ones still store */
		append_write(&jobs[i].w[0], i == 51 ? 99 : (uint64_t)(i < 51 ? i : i - 1));
		CHECK_RC(gb_writer_submit(w, jobs[i].w, 1, job_done, &jobs[i]), 0);
	}
	CHECK(gb_writer_pending(w) == JOBS + 1);
	CHECK_RC(gb_fixture_settle(w), 0);
	CHECK(gb_writer_pending(w) == 0);
	CHECK(rec.n == JOBS + 1);
	CHECK(!rec.wrong_thread);
	for (size_t i = 0; i < rec.n && i < JOBS + 1; i++)
		CHECK(rec.order[i] == (int)i);
	CHECK_RC(jobs[0].w[0].result, 0);
	CHECK_RC(jobs[0].w[1].result, 0);
	for (int i = 1; i <= JOBS; i++) {
		if (i == 51) {
			CHECK_RC(jobs[i].w[0].result, GB_ECONFLICT);
			continue;
		}
		CHECK_RC(jobs[i].w[0].result, 0);
		CHECK(jobs[i].w[0].base_offset == (uint64_t)(i < 51 ? i - 1 : i - 2));
	}
	CHECK_RC(gb_store_cursor_get(s, "health", "tax.invoices", "b", &next), 0);
	CHECK(next == 0);

	/* A unit whose second write fails stores neither. */
	jobs[JOBS + 1].id = JOBS + 1;
	jobs[JOBS + 1].rec = &rec;
	memset(jobs[JOBS + 1].w, 0, sizeof jobs[JOBS + 1].w);
	jobs[JOBS + 1].w[0].kind = GB_WRITE_EPOCH;
	jobs[JOBS + 1].w[0].dataset = "tax.invoices";
	jobs[JOBS + 1].w[0].key_epoch = 1;
	jobs[JOBS + 1].w[0].key_commitment = (const uint8_t *)
		"0123456789abcdef0123456789abcdef";
	jobs[JOBS + 1].w[0].unit_len = 2;
	jobs[JOBS + 1].w[1] = jobs[JOBS + 1].w[0];
	jobs[JOBS + 1].w[1].key_epoch = 5; /* not current + 1 */
	jobs[JOBS + 1].w[1].unit_len = 0;
	CHECK_RC(gb_writer_submit(w, jobs[JOBS + 1].w, 2, job_done,
				  &jobs[JOBS + 1]), 0);
	CHECK_RC(gb_fixture_settle(w), 0);
	CHECK(jobs[JOBS + 1].w[0].result != 0 || jobs[JOBS + 1].w[1].result != 0);
	{
		gb_epoch_state es;

		CHECK_RC(gb_store_epoch_get(s, "tax.invoices", &es), 0);
		CHECK(es.current == 0);
	}

	/* Destroy with a job still queued: it is committed and answered;
	 * its done function submits again and is refused, not lost. */
	rec.n = 0;
	jobs[JOBS + 2].id = 7;
	jobs[JOBS + 2].rec = &rec;
	cursor_write(&jobs[JOBS + 2].w[0], "a", 5);
	jobs[JOBS + 3].id = 8;
	jobs[JOBS + 3].rec = &rec;
	cursor_write(&jobs[JOBS + 3].w[0], "c", 1);
	rec.resubmit_to = w;
	rec.resubmit_job = &jobs[JOBS + 3];
	rec.resubmit_rc = 1;
	CHECK_RC(gb_writer_submit(w, jobs[JOBS + 2].w, 1, job_done,
				  &jobs[JOBS + 2]), 0);
	gb_writer_destroy(&w);
	CHECK(w == NULL);
	CHECK(rec.n == 1 && rec.order[0] == 7);
	CHECK_RC(rec.resubmit_rc, GB_EUNAVAIL);
	CHECK_RC(jobs[JOBS + 2].w[0].result, 0);
	CHECK_RC(gb_store_cursor_get(s, "health", "tax.invoices", "a", &next), 0);
	CHECK(next == 5);
	CHECK_RC(gb_store_cursor_get(s, "health", "tax.invoices", "c", &next),
		 GB_ENOTFOUND);
	gb_writer_destroy(&w); /* NULL is fine */

	zmq_ctx_term(ctx);
	gb_store_close(&s);
	gb_fixture_cleanup();
	TEST_EXIT();
}
