/* bench-nats: the NATS JetStream side of bench/compare, through cnats.
 *
 * --target is the server URL (nats://127.0.0.1:PORT); --stream names both
 * the stream and its only subject. Streams use file storage with the
 * server's defaults: JetStream does not fsync each write (sync_interval
 * 2 min in 2.9), so its acks mean "in the server's page cache".
 *
 * Publishing is js_PublishAsync with acks awaited (js_PublishAsyncComplete,
 * and an ack handler that counts, and timestamps for the latency run);
 * reading is a pull consumer (js_PullSubscribe + natsSubscription_Fetch)
 * with AckNone, so reading costs the server no ack traffic, as a govbus
 * replay without a durable cursor. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <nats/nats.h>

#include "bench_util.h"

#define FETCH_BATCH 1024
#define FETCH_TIMEOUT_MS 5000
#define MAX_PENDING 8192
#define COMPLETE_WAIT_MS 120000

struct conn {
	natsConnection *nc;
	jsCtx *js;
};

/* What the ack handler sees. */
struct acks {
	_Atomic uint64_t ok;
	_Atomic uint64_t errors;
	bench_timetable *t;       /* latency run: stamp acks, else NULL */
};

static int nats_fail(const char *what, natsStatus s, jsErrCode jerr)
{
	bench_log("%s failed: %s (jetstream error %d)", what,
		  natsStatus_GetText(s), (int)jerr);
	return 1;
}

/* The record index is at the start of every payload (bench_payload). */
static uint64_t payload_index(const char *data, int len)
{
	char tmp[24];
	int n = len - 4 < (int)sizeof tmp - 1 ? len - 4 : (int)sizeof tmp - 1;

	if (n <= 0)
		return UINT64_MAX;
	memcpy(tmp, data + 4, (size_t)n);
	tmp[n] = '\0';
	return strtoull(tmp, NULL, 10);
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
		   void *closure)
{
	struct acks *k = closure;

	(void)js;
	if (pa && !pae) {
		if (k->t) {
			uint64_t i = payload_index(natsMsg_GetData(msg),
						   natsMsg_GetDataLength(msg));
			if (i < k->t->count)
				bench_timetable_ack(k->t, i, i + 1, bench_now_ns());
		}
		atomic_fetch_add(&k->ok, 1);
	} else {
		atomic_fetch_add(&k->errors, 1);
	}
	natsMsg_Destroy(msg);
}

static int conn_open(const bench_args *a, struct acks *k, struct conn *c)
{
	jsOptions o;
	natsStatus s;

	memset(c, 0, sizeof *c);
	s = natsConnection_ConnectTo(&c->nc, a->target);
	if (s != NATS_OK)
		return nats_fail("connect", s, 0);
	jsOptions_Init(&o);
	o.Wait = 30000;
	o.PublishAsync.MaxPending = MAX_PENDING;
	if (k) {
		o.PublishAsync.AckHandler = on_ack;
		o.PublishAsync.AckHandlerClosure = k;
	}
	s = natsConnection_JetStream(&c->js, c->nc, &o);
	if (s != NATS_OK)
		return nats_fail("jetstream context", s, 0);
	return 0;
}

static void conn_close(struct conn *c)
{
	jsCtx_Destroy(c->js);
	natsConnection_Destroy(c->nc);
	memset(c, 0, sizeof *c);
}

/* Create the stream (file storage, server defaults) unless it exists. */
static int stream_create(struct conn *c, const char *name)
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	const char *subjects[] = {name};
	jsErrCode jerr = 0;
	natsStatus s;

	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	s = js_AddStream(&si, c->js, &cfg, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK && jerr != JSStreamNameExistErr)
		return nats_fail("add stream", s, jerr);
	return 0;
}

/* Publish records [0, n) asynchronously and wait for every ack. */
static int publish_n(struct conn *c, struct acks *k, const bench_args *a,
		     uint64_t n, uint64_t *mid_wall)
{
	uint8_t *buf = malloc(a->size);
	jsPubOptions po;
	natsStatus s = NATS_OK;

	if (!buf)
		return 1;
	for (uint64_t i = 0; i < n && s == NATS_OK; i++) {
		bench_payload(buf, a->size, i);
		if (i == n / 2 && mid_wall)
			*mid_wall = bench_wall_ns();
		s = js_PublishAsync(c->js, a->stream, buf, (int)a->size, NULL);
	}
	free(buf);
	if (s != NATS_OK)
		return nats_fail("publish", s, 0);
	jsPubOptions_Init(&po);
	po.MaxWait = COMPLETE_WAIT_MS;
	s = js_PublishAsyncComplete(c->js, &po);
	if (s != NATS_OK)
		return nats_fail("publish complete", s, 0);
	if (atomic_load(&k->errors)) {
		bench_log("%" PRIu64 " publishes were refused",
			  atomic_load(&k->errors));
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ workloads */

static int w_publish(const bench_args *a)
{
	struct acks k = {0};
	struct conn c;
	uint64_t t0, t1, mid = 0;
	int rc;

	if ((rc = conn_open(a, &k, &c)) == 0 &&
	    (rc = stream_create(&c, a->stream)) == 0) {
		t0 = bench_now_ns();
		rc = publish_n(&c, &k, a, a->records, &mid);
		t1 = bench_now_ns();
		if (rc == 0) {
			bench_result_begin("publish");
			bench_result_u64("records", atomic_load(&k.ok));
			bench_result_f("secs", (double)(t1 - t0) / 1e9);
			bench_result_f("rate", (double)a->records * 1e9 /
						       (double)(t1 - t0));
			bench_result_u64("mid_time_ns", mid);
			bench_result_end();
		}
	}
	conn_close(&c);
	return rc;
}

static int w_latency(const bench_args *a)
{
	bench_timetable t;
	struct acks k = {0};
	struct conn c;
	uint8_t *buf = malloc(a->size);
	jsPubOptions po;
	natsStatus s = NATS_OK;
	uint64_t next = 0;
	int rc;

	if (!buf || bench_timetable_init(&t, a->rate, a->seconds) != 0) {
		free(buf);
		return 1;
	}
	k.t = &t;
	if ((rc = conn_open(a, &k, &c)) != 0 ||
	    (rc = stream_create(&c, a->stream)) != 0)
		goto out;
	/* Warm-up, as every driver does: one synchronous publish at a time. */
	for (unsigned i = 0; i < BENCH_WARMUP_RECORDS && s == NATS_OK; i++) {
		jsPubAck *pa = NULL;
		jsErrCode jerr = 0;
		bench_payload(buf, a->size, i);
		s = js_Publish(&pa, c.js, a->stream, buf, (int)a->size, NULL, &jerr);
		jsPubAck_Destroy(pa);
	}
	if (s != NATS_OK) {
		rc = nats_fail("warm-up", s, 0);
		goto out;
	}
	t.start_ns = bench_now_ns() + 20000000ull;
	while (next < t.count && s == NATS_OK) {
		uint64_t due = bench_timetable_due(&t, bench_now_ns());
		if (due == next) {
			bench_sleep_until(bench_timetable_at(&t, next));
			continue;
		}
		for (; next < due && s == NATS_OK; next++) {
			bench_payload(buf, a->size, next);
			s = js_PublishAsync(c.js, a->stream, buf, (int)a->size,
					    NULL);
		}
	}
	jsPubOptions_Init(&po);
	po.MaxWait = COMPLETE_WAIT_MS;
	if (s == NATS_OK)
		s = js_PublishAsyncComplete(c.js, &po);
	if (s != NATS_OK) {
		rc = nats_fail("publish", s, 0);
		goto out;
	}
	bench_result_begin("latency");
	rc = bench_timetable_report(&t);
	bench_result_end();
out:
	conn_close(&c);
	bench_timetable_free(&t);
	free(buf);
	return rc;
}

/* A pull consumer on the stream from `policy` (start time for ByStartTime),
 * with a durable name unique to this process and `tag`. */
static int pull_open(struct conn *c, const char *stream, jsDeliverPolicy policy,
		     int64_t start_ns, unsigned tag, natsSubscription **sub)
{
	jsSubOptions so;
	jsErrCode jerr = 0;
	char durable[64];
	natsStatus s;

	snprintf(durable, sizeof durable, "bench%ld_%u", (long)getpid(), tag);
	jsSubOptions_Init(&so);
	so.Stream = stream;
	so.Config.DeliverPolicy = policy;
	so.Config.OptStartTime = start_ns;
	so.Config.AckPolicy = js_AckNone;
	s = js_PullSubscribe(sub, c->js, stream, durable, NULL, &so, &jerr);
	if (s != NATS_OK)
		return nats_fail("pull subscribe", s, jerr);
	return 0;
}

/* Fetch until `n` records were read; progress is published in *got. */
static int fetch_n(natsSubscription *sub, uint64_t n, uint64_t *bytes,
		   _Atomic uint64_t *got)
{
	uint64_t have = 0;

	while (have < n) {
		natsMsgList list = {0};
		jsErrCode jerr = 0;
		int want = n - have < FETCH_BATCH ? (int)(n - have) : FETCH_BATCH;
		natsStatus s = natsSubscription_Fetch(&list, sub, want,
						      FETCH_TIMEOUT_MS, &jerr);
		if (s != NATS_OK && s != NATS_TIMEOUT)
			return nats_fail("fetch", s, jerr);
		if (s == NATS_TIMEOUT && list.Count == 0) {
			bench_log("no records for %d ms after %" PRIu64,
				  FETCH_TIMEOUT_MS, have);
			return 1;
		}
		for (int i = 0; i < list.Count; i++)
			*bytes += (uint64_t)natsMsg_GetDataLength(list.Msgs[i]);
		have += (uint64_t)list.Count;
		natsMsgList_Destroy(&list);
		if (got)
			atomic_store_explicit(got, have, memory_order_relaxed);
	}
	return 0;
}

static int w_replay(const bench_args *a)
{
	natsSubscription *sub = NULL;
	struct conn c;
	uint64_t t0, t1, bytes = 0;
	int rc;

	if ((rc = conn_open(a, NULL, &c)) == 0) {
		t0 = bench_now_ns();
		rc = pull_open(&c, a->stream, js_DeliverAll, 0, 0, &sub);
		if (rc == 0)
			rc = fetch_n(sub, a->records, &bytes, NULL);
		t1 = bench_now_ns();
		if (rc == 0) {
			bench_result_begin("replay");
			bench_result_u64("records", a->records);
			bench_result_f("secs", (double)(t1 - t0) / 1e9);
			bench_result_f("rate", (double)a->records * 1e9 /
						       (double)(t1 - t0));
			bench_result_f("mb_s", (double)bytes * 1e3 /
						       (double)(t1 - t0));
			bench_result_end();
		}
		if (sub)
			natsSubscription_Unsubscribe(sub);
		natsSubscription_Destroy(sub);
	}
	conn_close(&c);
	return rc;
}

struct fan_sub {
	pthread_t th;
	const bench_args *a;
	unsigned tag;
	_Atomic uint64_t got;
	_Atomic int ready;
	uint64_t done_ns;
	int rc;
};

static void *fan_sub_main(void *arg)
{
	struct fan_sub *f = arg;
	natsSubscription *sub = NULL;
	struct conn c;
	uint64_t bytes = 0;
	int rc;

	if ((rc = conn_open(f->a, NULL, &c)) == 0 &&
	    (rc = pull_open(&c, f->a->stream, js_DeliverAll, 0, f->tag, &sub)) == 0) {
		atomic_store(&f->ready, 1);
		rc = fetch_n(sub, f->a->records, &bytes, &f->got);
		f->done_ns = bench_now_ns();
	}
	if (rc != 0)
		atomic_store(&f->ready, -1);
	f->rc = rc;
	if (sub)
		natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	conn_close(&c);
	return NULL;
}

static int w_fanout(const bench_args *a)
{
	struct fan_sub *subs = calloc(a->subs, sizeof *subs);
	bench_fanout_result r = {a->records, a->subs, 0, 0, 0, 0, 0};
	struct acks k = {0};
	struct conn c;
	unsigned started = 0;
	int rc;

	if (!subs)
		return 1;
	if ((rc = conn_open(a, &k, &c)) != 0 ||
	    (rc = stream_create(&c, a->stream)) != 0)
		goto out;
	for (; started < a->subs; started++) {
		subs[started].a = a;
		subs[started].tag = 100 + started;
		if (pthread_create(&subs[started].th, NULL, fan_sub_main,
				   &subs[started]) != 0) {
			rc = 1;
			goto join;
		}
	}
	for (unsigned i = 0; i < a->subs; i++) {
		while (atomic_load(&subs[i].ready) == 0)
			nats_Sleep(1);
		if (atomic_load(&subs[i].ready) < 0) {
			rc = 1;
			goto join;
		}
	}
	r.start_ns = bench_now_ns();
	rc = publish_n(&c, &k, a, a->records, NULL);
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
out:
	conn_close(&c);
	free(subs);
	return rc;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static int w_seek(const bench_args *a)
{
	uint64_t *ns = calloc(a->repeat, sizeof *ns), seq = 0;
	struct conn c;
	int rc;

	if (!ns)
		return 1;
	if ((rc = conn_open(a, NULL, &c)) != 0)
		goto out;
	for (unsigned r = 0; r < a->repeat && rc == 0; r++) {
		natsSubscription *sub = NULL;
		natsMsgList list = {0};
		jsErrCode jerr = 0;
		uint64_t t0 = bench_now_ns();
		natsStatus s;

		rc = pull_open(&c, a->stream, js_DeliverByStartTime,
			       (int64_t)a->time_ns, 1000 + r, &sub);
		if (rc == 0) {
			s = natsSubscription_Fetch(&list, sub, 1,
						   FETCH_TIMEOUT_MS, &jerr);
			if (s != NATS_OK || list.Count != 1)
				rc = nats_fail("seek fetch", s, jerr);
			else {
				jsMsgMetaData *md = NULL;
				if (natsMsg_GetMetaData(&md, list.Msgs[0]) == NATS_OK) {
					seq = md->Sequence.Stream;
					jsMsgMetaData_Destroy(md);
				}
			}
		}
		ns[r] = bench_now_ns() - t0;
		natsMsgList_Destroy(&list);
		if (sub)
			natsSubscription_Unsubscribe(sub);
		natsSubscription_Destroy(sub);
	}
	if (rc == 0) {
		qsort(ns, a->repeat, sizeof *ns, cmp_u64);
		bench_result_begin("seek");
		bench_result_u64("offset", seq ? seq - 1 : 0);
		bench_result_f("median_ms", (double)ns[a->repeat / 2] / 1e6);
		bench_result_f("max_ms", (double)ns[a->repeat - 1] / 1e6);
		bench_result_end();
	}
out:
	conn_close(&c);
	free(ns);
	return rc;
}

int main(int argc, char **argv)
{
	static const bench_backend b = {
		.name = "nats",
		.publish = w_publish,
		.latency = w_latency,
		.replay = w_replay,
		.fanout = w_fanout,
		.seek = w_seek,
	};
	int rc = bench_main(argc, argv, &b);
	nats_Close();
	return rc;
}
