/* bench_util: what the comparison drivers (bench_govbus, bench_nats,
 * bench_redis) share — one command line, clocks, a fixed send timetable,
 * latency percentiles, test payloads and result lines — so that the three
 * systems are driven and measured by the same code and differ only in how
 * they talk to their server (bench/compare, docs/PERFORMANCE.md).
 *
 * A driver fills a bench_backend with one function per workload it
 * supports and calls bench_main(). Results go to stdout as one line
 * "result key=value key=value ..." that bench/compare parses; progress and
 * errors go to stderr. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a workload is asked to do (the command line, parsed). */
typedef struct bench_args {
	const char *workload;     /* publish | latency | replay | fanout | seek | idle */
	const char *target;       /* system-specific: URL, host:port, config dir */
	const char *stream;       /* dataset / stream / key name */
	uint64_t records;         /* --records */
	size_t size;              /* --size: payload bytes (default 300) */
	double rate;              /* --rate: offered records/s (latency) */
	double seconds;           /* --seconds: duration (latency) */
	unsigned subs;            /* --subs: live subscribers (fanout) */
	unsigned conns;           /* --conns: idle connections (idle) */
	uint64_t time_ns;         /* --time-ns: seek target, wall clock ns */
	unsigned repeat;          /* --repeat: seeks to time (default 5) */
	const char *mode;         /* --mode: backend-specific variant */
} bench_args;

/* A workload returns 0 when it measured what was asked, else non-zero
 * after printing why on stderr. */
typedef int (*bench_workload_fn)(const bench_args *a);

typedef struct bench_backend {
	const char *name;         /* "govbus", "nats", "redis" */
	bench_workload_fn publish;
	bench_workload_fn latency;
	bench_workload_fn replay;
	bench_workload_fn fanout;
	bench_workload_fn seek;
	bench_workload_fn idle;   /* may be NULL */
} bench_backend;

/* Parse argv, run the named workload, return the process exit status. */
int bench_main(int argc, char **argv, const bench_backend *b);

/* ------------------------------------------------------------ clocks */

/* Monotonic nanoseconds (for intervals). */
uint64_t bench_now_ns(void);
/* Wall-clock nanoseconds since the epoch (for seek targets). */
uint64_t bench_wall_ns(void);
/* Sleep until monotonic time `t_ns` (returns at once if it has passed). */
void bench_sleep_until(uint64_t t_ns);

/* ------------------------------------------------------------ payloads */

/* Fill `buf` (size bytes) with record `i`: "rec-%012llu-" then filler, so
 * every record differs and nothing compresses to nothing. */
void bench_payload(uint8_t *buf, size_t size, uint64_t i);

/* ------------------------------------------------------------ latency */

/* Records each latency run sends one at a time, each acked before the
 * next, before its timetable starts: first-write costs (creating the
 * stream, growing files, connection warm-up) are not what it measures. */
#define BENCH_WARMUP_RECORDS 100

/* A fixed timetable for `count` sends at `rate`/s starting at `start_ns`,
 * and the latency of each record measured from its scheduled time, not
 * from when it was actually sent (no coordinated omission: a stalled
 * sender makes the records it could not send on time count as late). */
typedef struct bench_timetable {
	uint64_t start_ns;
	double interval_ns;
	uint64_t count;
	uint64_t *ack_ns;         /* 0 until acked */
} bench_timetable;

int bench_timetable_init(bench_timetable *t, double rate, double seconds);
void bench_timetable_free(bench_timetable *t);
/* Scheduled (intended) send time of record i. */
uint64_t bench_timetable_at(const bench_timetable *t, uint64_t i);
/* Number of records whose scheduled time is <= now. */
uint64_t bench_timetable_due(const bench_timetable *t, uint64_t now_ns);
/* Mark records [from, to) acked at `now_ns`. */
void bench_timetable_ack(bench_timetable *t, uint64_t from, uint64_t to,
			 uint64_t now_ns);
/* Print "p50_us= p99_us= p999_us= max_us= acked= offered=" into the result
 * line. Records never acked count as lost (and fail the workload). */
int bench_timetable_report(const bench_timetable *t);

/* ------------------------------------------------------------ fan-out */

/* What a fan-out run saw: `subs` live subscribers each reading `records`
 * records that one publisher sends. Times are bench_now_ns(). */
typedef struct bench_fanout_result {
	uint64_t records;
	unsigned subs;
	uint64_t start_ns;        /* first publish */
	uint64_t pub_done_ns;     /* every publish acknowledged */
	uint64_t all_done_ns;     /* every subscriber has every record */
	uint64_t lag_max;         /* records not yet delivered, worst subscriber, at pub_done */
	uint64_t lag_sum;         /* summed over subscribers, at pub_done */
} bench_fanout_result;

/* Print the fan-out result line: aggregate delivered records/s (all
 * subscribers, first publish to last delivery), publish rate, lag when the
 * publisher finished and how long the subscribers took to catch up. */
void bench_fanout_report(const bench_fanout_result *r);

/* ------------------------------------------------------------ results */

/* Start the result line, add key=value pairs, end it. */
void bench_result_begin(const char *workload);
void bench_result_u64(const char *key, uint64_t v);
void bench_result_f(const char *key, double v);
void bench_result_end(void);

/* Print one line of progress/error on stderr with the driver's name. */
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Percentile (0..100) of n sorted values. */
double bench_percentile(const double *sorted, size_t n, double pct);
/* Sort doubles ascending in place. */
void bench_sort(double *v, size_t n);

#endif
