/* bench-govbus: the govbus side of bench/compare, through the real agent
 * library (govbus.h) exactly as a department system would use it: batches
 * are signed by the publisher and acked after the broker's synced group
 * commit; every delivered batch is verified (signature, dense offsets,
 * hash chain) and opened by the subscriber before its records come out.
 *
 * --target DIR: DIR/pub.yaml is the agent config of the dataset's owner,
 * DIR/sub.yaml that of a department granted subscribe + replay.
 * --stream is the dataset id.
 *
 * Latency modes (--mode), since govbus.h has no linger setting and a batch
 * leaves only when full or flushed:
 *   group   (default) every record that is due is added, then the batch is
 *           flushed; records falling due during the flush wait for the next
 *           one (a linger of 0 with one batch in flight);
 *   record  one record per batch (max_records 1, window 1024): each record
 *           is signed and sent on time without waiting for earlier acks. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "govbus.h"

#define READ_TIMEOUT_MS 30000

/* ------------------------------------------------------------ connection */

/* Open a client from TARGET/NAME.yaml. */
static int connect_as(const bench_args *a, const char *name, gb_client **out)
{
	char path[4096], why[1024];
	gb_agent_config *cfg = NULL;
	int rc;

	snprintf(path, sizeof path, "%s/%s.yaml", a->target, name);
	rc = gb_agent_config_load(path, &cfg, why, sizeof why);
	if (rc != 0) {
		bench_log("%s", why);
		return rc;
	}
	rc = gb_client_open(cfg, NULL, out, why, sizeof why);
	gb_agent_config_destroy(&cfg);
	if (rc != 0)
		bench_log("cannot connect: %s", why);
	return rc;
}

static int failed(gb_client *c, const char *what, int rc)
{
	bench_log("%s failed (%s): %s", what, gb_strerror(rc),
		  gb_client_last_error(c));
	return rc;
}

/* ------------------------------------------------------------ publish */

/* Publish records [0, n) through an open publisher and wait for every ack.
 * *mid_wall gets the wall time when the middle record was added. */
static int publish_n(gb_client *c, gb_publisher *p, const bench_args *a,
		     uint64_t n, uint64_t *mid_wall)
{
	uint8_t *buf = malloc(a->size);
	int rc = 0;

	if (!buf)
		return GB_ENOMEM;
	for (uint64_t i = 0; i < n && rc == 0; i++) {
		bench_payload(buf, a->size, i);
		if (i == n / 2 && mid_wall)
			*mid_wall = bench_wall_ns();
		rc = gb_publisher_add(p, buf, a->size, NULL);
	}
	free(buf);
	if (rc == 0)
		rc = gb_publisher_flush(p);
	return rc ? failed(c, "publish", rc) : 0;
}

static int w_publish(const bench_args *a)
{
	gb_client *c = NULL;
	gb_publisher *p = NULL;
	gb_publisher_stats st;
	uint64_t t0, t1, mid = 0;
	int rc;

	if ((rc = connect_as(a, "pub", &c)) != 0)
		return rc;
	rc = gb_publisher_open(c, a->stream, NULL, &p);
	if (rc != 0) {
		rc = failed(c, "publisher open", rc);
		goto out;
	}
	t0 = bench_now_ns();
	rc = publish_n(c, p, a, a->records, &mid);
	t1 = bench_now_ns();
	if (rc != 0)
		goto out;
	gb_publisher_stats_get(p, &st);
	bench_result_begin("publish");
	bench_result_u64("records", st.records);
	bench_result_u64("batches", st.batches);
	bench_result_f("secs", (double)(t1 - t0) / 1e9);
	bench_result_f("rate", (double)a->records * 1e9 / (double)(t1 - t0));
	bench_result_u64("mid_time_ns", mid);
	bench_result_end();
	if (st.records != a->records) {
		bench_log("only %" PRIu64 " records acked", st.records);
		rc = 1;
	}
out:
	gb_publisher_close(&p);
	gb_client_close(&c);
	return rc;
}

/* ------------------------------------------------------------ latency */

/* Flush mode: add what is due, flush, stamp the group with the ack time. */
static int latency_group(gb_client *c, gb_publisher *p, bench_timetable *t,
			 uint8_t *buf, size_t size)
{
	uint64_t next = 0;

	while (next < t->count) {
		uint64_t due = bench_timetable_due(t, bench_now_ns());
		int rc;

		if (due == next) {
			bench_sleep_until(bench_timetable_at(t, next));
			continue;
		}
		for (uint64_t i = next; i < due; i++) {
			bench_payload(buf, size, i);
			rc = gb_publisher_add(p, buf, size, NULL);
			if (rc != 0)
				return failed(c, "add", rc);
		}
		rc = gb_publisher_flush(p);
		if (rc != 0)
			return failed(c, "flush", rc);
		bench_timetable_ack(t, next, due, bench_now_ns());
		next = due;
	}
	return 0;
}

/* Record mode: one record per batch, sent on time; acks are taken as they
 * come (they arrive in seq order: the writer commits in order). */
static int latency_record(gb_client *c, gb_publisher *p, bench_timetable *t,
			  uint8_t *buf, size_t size)
{
	gb_publisher_stats st;
	uint64_t sent = 0, acked = 0, base;
	int rc;

	gb_publisher_stats_get(p, &st);
	base = st.records;
	while (acked < t->count) {
		uint64_t now = bench_now_ns(), due = bench_timetable_due(t, now);

		for (; sent < due; sent++) {
			bench_payload(buf, size, sent);
			rc = gb_publisher_add(p, buf, size, NULL);
			if (rc != 0)
				return failed(c, "add", rc);
		}
		rc = gb_client_poll(c, 0);
		if (rc != 0 && rc != GB_ETIMEOUT)
			return failed(c, "poll", rc);
		now = bench_now_ns();
		gb_publisher_stats_get(p, &st);
		if (st.records - base > acked) {
			bench_timetable_ack(t, acked, st.records - base, now);
			acked = st.records - base;
		}
		if (acked >= t->count)
			break;
		/* Wait for an ack or the next send, whichever comes first;
		 * zmq_poll counts in ms, so short gaps are slept finely. */
		uint64_t until = sent < t->count ? bench_timetable_at(t, sent)
						 : now + 1000000;
		if (until > now + 1000000) {
			rc = gb_client_poll(c, (int)((until - now) / 1000000));
			if (rc != 0 && rc != GB_ETIMEOUT)
				return failed(c, "poll", rc);
		} else if (until > now) {
			bench_sleep_until(until < now + 50000 ? until : now + 50000);
		}
	}
	return 0;
}

static int w_latency(const bench_args *a)
{
	gb_client *c = NULL;
	gb_publisher *p = NULL;
	gb_publisher_options o;
	bench_timetable t;
	bool per_record = !strcmp(a->mode, "record");
	uint8_t *buf = malloc(a->size);
	int rc;

	if (!buf || bench_timetable_init(&t, a->rate, a->seconds) != 0) {
		free(buf);
		return 1;
	}
	if ((rc = connect_as(a, "pub", &c)) != 0)
		goto out;
	gb_publisher_options_init(&o);
	if (per_record) {
		o.max_records = 1;
		o.window = 1024;
	} else {
		o.max_records = 100000; /* only flush closes a batch */
	}
	rc = gb_publisher_open(c, a->stream, &o, &p);
	if (rc != 0) {
		rc = failed(c, "publisher open", rc);
		goto out;
	}
	/* Warm-up: first-write costs (stream creation, file growth) are not
	 * what this workload measures; every driver does the same. */
	for (unsigned i = 0; i < BENCH_WARMUP_RECORDS && rc == 0; i++) {
		bench_payload(buf, a->size, i);
		rc = gb_publisher_add(p, buf, a->size, NULL);
		if (rc == 0)
			rc = gb_publisher_flush(p);
	}
	if (rc != 0) {
		rc = failed(c, "warm-up", rc);
		goto out;
	}
	t.start_ns = bench_now_ns() + 20000000ull;
	rc = per_record ? latency_record(c, p, &t, buf, a->size)
			: latency_group(c, p, &t, buf, a->size);
	if (rc == 0) {
		bench_result_begin("latency");
		bench_result_u64("mode_record", per_record);
		rc = bench_timetable_report(&t);
		bench_result_end();
	}
out:
	gb_publisher_close(&p);
	gb_client_close(&c);
	bench_timetable_free(&t);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------ replay */

/* Read `n` records from `start` on an open client; sum payload bytes so
 * the records are really touched. */
static int read_n(gb_client *c, const char *dataset, gb_start start,
		  uint64_t n, uint64_t *bytes, _Atomic uint64_t *progress)
{
	gb_subscription_options o;
	gb_subscription *s = NULL;
	gb_record rec;
	int rc;

	gb_subscription_options_init(&o);
	o.start = start;
	rc = gb_subscription_open(c, dataset, &o, &s);
	if (rc != 0)
		return failed(c, "subscribe", rc);
	for (uint64_t i = 0; i < n; i++) {
		rc = gb_subscription_next(s, &rec, READ_TIMEOUT_MS);
		if (rc != 0) {
			rc = failed(c, "next", rc);
			break;
		}
		*bytes += rec.len;
		if (progress)
			atomic_store_explicit(progress, i + 1,
					      memory_order_relaxed);
	}
	gb_subscription_close(&s);
	return rc;
}

static int w_replay(const bench_args *a)
{
	gb_client *c = NULL;
	gb_start start = {GB_START_EARLIEST, 0};
	uint64_t t0, t1, bytes = 0;
	int rc;

	if ((rc = connect_as(a, "sub", &c)) != 0)
		return rc;
	t0 = bench_now_ns();
	rc = read_n(c, a->stream, start, a->records, &bytes, NULL);
	t1 = bench_now_ns();
	if (rc == 0) {
		bench_result_begin("replay");
		bench_result_u64("records", a->records);
		bench_result_f("secs", (double)(t1 - t0) / 1e9);
		bench_result_f("rate", (double)a->records * 1e9 / (double)(t1 - t0));
		bench_result_f("mb_s", (double)bytes * 1e3 / (double)(t1 - t0));
		bench_result_end();
	}
	gb_client_close(&c);
	return rc;
}

/* ------------------------------------------------------------ fan-out */

struct fan_sub {
	pthread_t th;
	const bench_args *a;
	_Atomic uint64_t got;
	_Atomic int ready;        /* 1 subscribed, -1 failed */
	uint64_t done_ns;
	int rc;
};

static void *fan_sub_main(void *arg)
{
	struct fan_sub *f = arg;
	gb_client *c = NULL;
	gb_subscription_options o;
	gb_subscription *s = NULL;
	gb_record rec;
	int rc;

	if ((rc = connect_as(f->a, "sub", &c)) != 0)
		goto out;
	gb_subscription_options_init(&o);
	o.start.kind = GB_START_EARLIEST;
	rc = gb_subscription_open(c, f->a->stream, &o, &s);
	if (rc != 0) {
		rc = failed(c, "subscribe", rc);
		goto out;
	}
	atomic_store(&f->ready, 1);
	for (uint64_t i = 0; i < f->a->records; i++) {
		rc = gb_subscription_next(s, &rec, READ_TIMEOUT_MS);
		if (rc != 0) {
			rc = failed(c, "next", rc);
			goto out;
		}
		atomic_store_explicit(&f->got, i + 1, memory_order_relaxed);
	}
	f->done_ns = bench_now_ns();
out:
	if (rc != 0)
		atomic_store(&f->ready, -1);
	f->rc = rc;
	gb_subscription_close(&s);
	gb_client_close(&c);
	return NULL;
}

static int w_fanout(const bench_args *a)
{
	struct fan_sub *subs = calloc(a->subs, sizeof *subs);
	bench_fanout_result r = {a->records, a->subs, 0, 0, 0, 0, 0};
	gb_client *c = NULL;
	gb_publisher *p = NULL;
	unsigned started = 0;
	int rc = 0;

	if (!subs)
		return 1;
	for (; started < a->subs; started++) {
		subs[started].a = a;
		if (pthread_create(&subs[started].th, NULL, fan_sub_main,
				   &subs[started]) != 0) {
			rc = 1;
			goto join;
		}
	}
	for (unsigned i = 0; i < a->subs; i++) {
		while (atomic_load(&subs[i].ready) == 0)
			usleep(1000);
		if (atomic_load(&subs[i].ready) < 0) {
			rc = 1;
			goto join;
		}
	}
	if ((rc = connect_as(a, "pub", &c)) != 0)
		goto join;
	rc = gb_publisher_open(c, a->stream, NULL, &p);
	if (rc != 0) {
		rc = failed(c, "publisher open", rc);
		goto join;
	}
	r.start_ns = bench_now_ns();
	rc = publish_n(c, p, a, a->records, NULL);
	r.pub_done_ns = bench_now_ns();
	for (unsigned i = 0; i < a->subs; i++) {
		uint64_t lag = a->records - atomic_load(&subs[i].got);
		r.lag_sum += lag;
		if (lag > r.lag_max)
			r.lag_max = lag;
	}
join:
	for (unsigned i = 0; i < started; i++) {
		pthread_join(subs[i].th, NULL);
		if (subs[i].rc != 0)
			rc = 1;
		if (subs[i].done_ns > r.all_done_ns)
			r.all_done_ns = subs[i].done_ns;
	}
	if (rc == 0) {
		bench_result_begin("fanout");
		bench_fanout_report(&r);
		bench_result_end();
	}
	gb_publisher_close(&p);
	gb_client_close(&c);
	free(subs);
	return rc;
}

/* ------------------------------------------------------------ seek */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static int w_seek(const bench_args *a)
{
	gb_client *c = NULL;
	uint64_t *ns = calloc(a->repeat, sizeof *ns), offset = 0;
	int rc;

	if (!ns)
		return 1;
	if ((rc = connect_as(a, "sub", &c)) != 0)
		goto out;
	for (unsigned r = 0; r < a->repeat && rc == 0; r++) {
		gb_subscription_options o;
		gb_subscription *s = NULL;
		gb_record rec;
		uint64_t t0 = bench_now_ns();

		gb_subscription_options_init(&o);
		o.start.kind = GB_START_TIME;
		o.start.value = a->time_ns;
		o.credit = 1;
		rc = gb_subscription_open(c, a->stream, &o, &s);
		if (rc == 0)
			rc = gb_subscription_next(s, &rec, READ_TIMEOUT_MS);
		ns[r] = bench_now_ns() - t0;
		if (rc != 0)
			rc = failed(c, "seek", rc);
		else
			offset = rec.offset;
		gb_subscription_close(&s);
	}
	if (rc == 0) {
		qsort(ns, a->repeat, sizeof *ns, cmp_u64);
		bench_result_begin("seek");
		bench_result_u64("offset", offset);
		bench_result_f("median_ms", (double)ns[a->repeat / 2] / 1e6);
		bench_result_f("max_ms", (double)ns[a->repeat - 1] / 1e6);
		bench_result_end();
	}
out:
	gb_client_close(&c);
	free(ns);
	return rc;
}

/* ------------------------------------------------------------ idle */

/* Open `conns` clients (each a CURVE connection that said Hello and got
 * Welcome), report, and hold them until stdin reaches end of file. */
static int w_idle(const bench_args *a)
{
	gb_client **cs = calloc(a->conns, sizeof *cs);
	uint64_t t0 = bench_now_ns();
	unsigned n = 0;
	char junk[256];
	int rc = 0;

	if (!cs)
		return 1;
	for (; n < a->conns; n++) {
		rc = connect_as(a, "sub", &cs[n]);
		if (rc != 0) {
			bench_log("connection %u of %u failed", n + 1, a->conns);
			break;
		}
	}
	if (rc == 0) {
		bench_result_begin("idle");
		bench_result_u64("conns", n);
		bench_result_f("open_secs", (double)(bench_now_ns() - t0) / 1e9);
		bench_result_end();
		while (read(0, junk, sizeof junk) > 0)
			;
	}
	for (unsigned i = 0; i < n; i++)
		gb_client_close(&cs[i]);
	free(cs);
	return rc;
}

int main(int argc, char **argv)
{
	static const bench_backend b = {
		.name = "govbus",
		.publish = w_publish,
		.latency = w_latency,
		.replay = w_replay,
		.fanout = w_fanout,
		.seek = w_seek,
		.idle = w_idle,
	};
	return bench_main(argc, argv, &b);
}
