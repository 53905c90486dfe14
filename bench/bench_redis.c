/* bench-redis: the Redis Streams side of bench/compare, through hiredis.
 *
 * --target is HOST:PORT; --stream is the stream's key. The server's
 * durability is its own configuration (appendonly yes with appendfsync
 * always or everysec, set by bench/compare); a reply to XADD is the ack.
 * With `always`, Redis writes and fdatasyncs the AOF once per event-loop
 * turn before replying, so pipelined XADDs are group-committed too.
 *
 * Publishing pipelines XADD (redisAppendCommand) in chunks with two chunks
 * in flight; reading is XREAD COUNT from the last id seen (a consumer must
 * know the last id to ask for the next, so reads are not pipelined), and
 * the fan-out subscribers use XREAD BLOCK. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/hiredis.h>

#include "bench_util.h"

#define CHUNK 1000
#define READ_COUNT 1000
#define BLOCK_MS 5000

static redisContext *conn_open(const bench_args *a)
{
	char host[256];
	const char *colon = strrchr(a->target, ':');
	redisContext *c;

	if (!colon || (size_t)(colon - a->target) >= sizeof host) {
		bench_log("--target must be HOST:PORT");
		return NULL;
	}
	memcpy(host, a->target, (size_t)(colon - a->target));
	host[colon - a->target] = '\0';
	c = redisConnect(host, atoi(colon + 1));
	if (!c || c->err) {
		bench_log("cannot connect to %s: %s", a->target,
			  c ? c->errstr : "out of memory");
		redisFree(c);
		return NULL;
	}
	return c;
}

/* Read one reply; must be an XADD id (a string). */
static int xadd_reply(redisContext *c)
{
	redisReply *r = NULL;
	int ok;

	if (redisGetReply(c, (void **)&r) != REDIS_OK) {
		bench_log("XADD reply: %s", c->errstr);
		return 1;
	}
	ok = r->type == REDIS_REPLY_STRING;
	if (!ok)
		bench_log("XADD refused: %s", r->type == REDIS_REPLY_ERROR
						      ? r->str : "unexpected reply");
	freeReplyObject(r);
	return ok ? 0 : 1;
}

/* Append XADDs for records [from, to). */
static void xadd_append(redisContext *c, const bench_args *a, uint8_t *buf,
			uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		bench_payload(buf, a->size, i);
		redisAppendCommand(c, "XADD %s * d %b", a->stream, buf, a->size);
	}
}

/* Publish records [0, n): chunk k is sent while the replies of chunk k-1
 * are read. */
static int publish_n(redisContext *c, const bench_args *a, uint64_t n,
		     uint64_t *mid_wall)
{
	uint8_t *buf = malloc(a->size);
	uint64_t sent = 0, replied = 0;
	int rc = 0;

	if (!buf)
		return 1;
	while (replied < n && rc == 0) {
		if (sent < n) {
			uint64_t to = sent + CHUNK < n ? sent + CHUNK : n;
			if (mid_wall && sent <= n / 2 && n / 2 < to)
				*mid_wall = bench_wall_ns();
			xadd_append(c, a, buf, sent, to);
			sent = to;
		}
		/* Keep one chunk in flight beyond the one being read. */
		while (rc == 0 && replied < sent &&
		       (sent - replied > CHUNK || sent == n)) {
			rc = xadd_reply(c);
			replied++;
		}
	}
	free(buf);
	return rc;
}

/* ------------------------------------------------------------ workloads */

static int w_publish(const bench_args *a)
{
	redisContext *c = conn_open(a);
	uint64_t t0, t1, mid = 0;
	int rc;

	if (!c)
		return 1;
	t0 = bench_now_ns();
	rc = publish_n(c, a, a->records, &mid);
	t1 = bench_now_ns();
	if (rc == 0) {
		bench_result_begin("publish");
		bench_result_u64("records", a->records);
		bench_result_f("secs", (double)(t1 - t0) / 1e9);
		bench_result_f("rate", (double)a->records * 1e9 / (double)(t1 - t0));
		bench_result_u64("mid_time_ns", mid);
		bench_result_end();
	}
	redisFree(c);
	return rc;
}

/* Take every complete reply already read; they answer records in order. */
static int take_replies(redisContext *c, bench_timetable *t, uint64_t *acked)
{
	for (;;) {
		redisReply *r = NULL;
		if (redisGetReplyFromReader(c, (void **)&r) != REDIS_OK) {
			bench_log("reply: %s", c->errstr);
			return 1;
		}
		if (!r)
			return 0;
		if (r->type != REDIS_REPLY_STRING) {
			bench_log("XADD refused");
			freeReplyObject(r);
			return 1;
		}
		freeReplyObject(r);
		bench_timetable_ack(t, *acked, *acked + 1, bench_now_ns());
		(*acked)++;
	}
}

static int w_latency(const bench_args *a)
{
	redisContext *c = conn_open(a);
	bench_timetable t;
	uint8_t *buf = malloc(a->size);
	uint64_t sent = 0, acked = 0;
	int rc = 0;

	if (!c || !buf || bench_timetable_init(&t, a->rate, a->seconds) != 0) {
		redisFree(c);
		free(buf);
		return 1;
	}
	/* Warm-up, as every driver does: one XADD at a time. */
	for (unsigned i = 0; i < BENCH_WARMUP_RECORDS && rc == 0; i++) {
		bench_payload(buf, a->size, i);
		redisAppendCommand(c, "XADD %s * d %b", a->stream, buf, a->size);
		rc = xadd_reply(c);
	}
	t.start_ns = bench_now_ns() + 20000000ull;
	while (acked < t.count && rc == 0) {
		uint64_t now = bench_now_ns(), due = bench_timetable_due(&t, now);
		struct pollfd pfd = {c->fd, POLLIN, 0};
		struct timespec ts;
		int done = 0;

		if (due > sent) {
			xadd_append(c, a, buf, sent, due);
			sent = due;
			while (!done && rc == 0)
				if (redisBufferWrite(c, &done) != REDIS_OK)
					rc = 1;
		}
		/* Wait (finely: ppoll counts in ns) for replies or the next send. */
		uint64_t until = sent < t.count ? bench_timetable_at(&t, sent)
						: now + 100000000ull;
		now = bench_now_ns();
		ts.tv_sec = 0;
		ts.tv_nsec = until > now ? (long)(until - now) : 0;
		if (ts.tv_nsec > 999999999)
			ts.tv_nsec = 999999999;
		if (ppoll(&pfd, 1, &ts, NULL) > 0) {
			if (redisBufferRead(c) != REDIS_OK)
				rc = 1;
			else
				rc = take_replies(c, &t, &acked);
		}
	}
	if (rc == 0) {
		bench_result_begin("latency");
		rc = bench_timetable_report(&t);
		bench_result_end();
	} else {
		bench_log("latency run failed: %s", c->errstr);
	}
	bench_timetable_free(&t);
	free(buf);
	redisFree(c);
	return rc;
}

/* XREAD [BLOCK ms] COUNT k STREAMS key last: add what came to *have and
 * *bytes and move `last` on. Returns 0 (also when nothing came), 1 on error. */
static int xread_once(redisContext *c, const char *key, char *last,
		      size_t last_cap, int block_ms, uint64_t *have,
		      uint64_t *bytes)
{
	redisReply *r;
	int rc = 0;

	if (block_ms >= 0)
		r = redisCommand(c, "XREAD BLOCK %d COUNT %d STREAMS %s %s",
				 block_ms, READ_COUNT, key, last);
	else
		r = redisCommand(c, "XREAD COUNT %d STREAMS %s %s", READ_COUNT,
				 key, last);
	if (!r) {
		bench_log("XREAD: %s", c->errstr);
		return 1;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements == 2) {
		redisReply *entries = r->element[0]->element[1];
		for (size_t i = 0; i < entries->elements; i++) {
			redisReply *e = entries->element[i];
			if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
			    e->element[1]->elements != 2) {
				rc = 1;
				break;
			}
			*bytes += e->element[1]->element[1]->len;
			snprintf(last, last_cap, "%s", e->element[0]->str);
			(*have)++;
		}
	} else if (r->type == REDIS_REPLY_ERROR) {
		bench_log("XREAD: %s", r->str);
		rc = 1;
	}
	freeReplyObject(r);
	return rc;
}

static int w_replay(const bench_args *a)
{
	redisContext *c = conn_open(a);
	char last[64] = "0-0";
	uint64_t t0, t1, have = 0, bytes = 0;
	int rc = 0;

	if (!c)
		return 1;
	t0 = bench_now_ns();
	while (have < a->records && rc == 0) {
		uint64_t before = have;
		rc = xread_once(c, a->stream, last, sizeof last, -1, &have, &bytes);
		if (rc == 0 && have == before) {
			bench_log("stream ended after %" PRIu64 " records", have);
			rc = 1;
		}
	}
	t1 = bench_now_ns();
	if (rc == 0) {
		bench_result_begin("replay");
		bench_result_u64("records", have);
		bench_result_f("secs", (double)(t1 - t0) / 1e9);
		bench_result_f("rate", (double)have * 1e9 / (double)(t1 - t0));
		bench_result_f("mb_s", (double)bytes * 1e3 / (double)(t1 - t0));
		bench_result_end();
	}
	redisFree(c);
	return rc;
}

struct fan_sub {
	pthread_t th;
	const bench_args *a;
	_Atomic uint64_t got;
	_Atomic int ready;
	uint64_t done_ns;
	int rc;
};

static void *fan_sub_main(void *arg)
{
	struct fan_sub *f = arg;
	redisContext *c = conn_open(f->a);
	char last[64] = "0-0";
	uint64_t have = 0, bytes = 0;
	int rc = c ? 0 : 1;

	if (rc == 0)
		atomic_store(&f->ready, 1);
	while (rc == 0 && have < f->a->records) {
		uint64_t before = have;
		rc = xread_once(c, f->a->stream, last, sizeof last, BLOCK_MS,
				&have, &bytes);
		if (rc == 0 && have == before) {
			bench_log("no records for %d ms after %" PRIu64,
				  BLOCK_MS, have);
			rc = 1;
		}
		atomic_store_explicit(&f->got, have, memory_order_relaxed);
	}
	f->done_ns = bench_now_ns();
	if (rc != 0)
		atomic_store(&f->ready, -1);
	f->rc = rc;
	redisFree(c);
	return NULL;
}

static int w_fanout(const bench_args *a)
{
	struct fan_sub *subs = calloc(a->subs, sizeof *subs);
	bench_fanout_result r = {a->records, a->subs, 0, 0, 0, 0, 0};
	redisContext *c = conn_open(a);
	unsigned started = 0;
	int rc = c ? 0 : 1;

	if (!subs || rc)
		goto out;
	for (; started < a->subs; started++) {
		subs[started].a = a;
		if (pthread_create(&subs[started].th, NULL, fan_sub_main,
				   &subs[started]) != 0) {
			rc = 1;
			goto join;
		}
	}
	for (unsigned i = 0; i < a->subs; i++) {
		while (atomic_load(&subs[i].ready) == 0) {
			struct timespec ms = {0, 1000000};
			nanosleep(&ms, NULL);
		}
		if (atomic_load(&subs[i].ready) < 0) {
			rc = 1;
			goto join;
		}
	}
	r.start_ns = bench_now_ns();
	rc = publish_n(c, a, a->records, NULL);
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
	redisFree(c);
	free(subs);
	return rc;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* Stream ids start with the server's clock in ms, so a time seek is an
 * XRANGE from that id. */
static int w_seek(const bench_args *a)
{
	redisContext *c = conn_open(a);
	uint64_t *ns = calloc(a->repeat, sizeof *ns), id_ms = 0;
	int rc = c && ns ? 0 : 1;

	for (unsigned r = 0; r < a->repeat && rc == 0; r++) {
		uint64_t t0 = bench_now_ns();
		redisReply *rep = redisCommand(c, "XRANGE %s %" PRIu64 "-0 + COUNT 1",
					       a->stream, a->time_ns / 1000000);
		ns[r] = bench_now_ns() - t0;
		if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 1) {
			bench_log("XRANGE found nothing at that time");
			rc = 1;
		} else {
			id_ms = strtoull(rep->element[0]->element[0]->str, NULL, 10);
		}
		freeReplyObject(rep);
	}
	if (rc == 0) {
		qsort(ns, a->repeat, sizeof *ns, cmp_u64);
		bench_result_begin("seek");
		bench_result_u64("id_ms", id_ms);
		bench_result_f("median_ms", (double)ns[a->repeat / 2] / 1e6);
		bench_result_f("max_ms", (double)ns[a->repeat - 1] / 1e6);
		bench_result_end();
	}
	redisFree(c);
	free(ns);
	return rc;
}

int main(int argc, char **argv)
{
	static const bench_backend b = {
		.name = "redis",
		.publish = w_publish,
		.latency = w_latency,
		.replay = w_replay,
		.fanout = w_fanout,
		.seek = w_seek,
	};
	return bench_main(argc, argv, &b);
}
