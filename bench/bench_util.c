/* bench_util: shared command line, clocks, timetable and result lines for
 * the comparison drivers; see bench_util.h. */
#include "bench_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *driver_name = "bench";

static const char usage[] =
	"usage: %s WORKLOAD --target T --stream NAME [options]\n"
	"  publish  --records N            durable publish throughput\n"
	"  latency  --rate R --seconds S   acked latency at a fixed offered rate\n"
	"  replay   --records N            read N records from the start\n"
	"  fanout   --records N --subs K   one publisher, K live subscribers\n"
	"  seek     --time-ns T [--repeat K]  time to the first record at time T\n"
	"  idle     --conns N              hold N idle connections until stdin closes\n"
	"  common: --size BYTES (300) --mode M (backend variant)\n";

/* ------------------------------------------------------------ clocks */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bench_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t bench_wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

void bench_sleep_until(uint64_t t_ns)
{
	struct timespec ts = {(time_t)(t_ns / 1000000000ull),
			      (long)(t_ns % 1000000000ull)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* ------------------------------------------------------------ payloads */

void bench_payload(uint8_t *buf, size_t size, uint64_t i)
{
	/* Filler from a fixed pattern at a per-record shift: cheap enough not
	 * to compete with the systems under test for the two cores. */
	static uint8_t pattern[26 + (1u << 20)];
	static bool ready;
	char head[32];
	int n = snprintf(head, sizeof head, "rec-%012" PRIu64 "-", i);
	size_t hl = (size_t)n < size ? (size_t)n : size;

	if (!ready) {
		for (size_t k = 0; k < sizeof pattern; k++)
			pattern[k] = (uint8_t)('a' + k % 26);
		ready = true;
	}
	memcpy(buf, head, hl);
	if (size > hl)
		memcpy(buf + hl, pattern + i % 26, size - hl);
}

/* ------------------------------------------------------------ stats */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void bench_sort(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
}

double bench_percentile(const double *sorted, size_t n, double pct)
{
	size_t i;

	if (n == 0)
		return 0;
	/* Nearest rank: the smallest value with at least pct% at or below. */
	i = (size_t)((pct / 100.0) * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return sorted[i - 1];
}

/* ------------------------------------------------------------ timetable */

int bench_timetable_init(bench_timetable *t, double rate, double seconds)
{
	memset(t, 0, sizeof *t);
	if (rate <= 0 || seconds <= 0)
		return -1;
	t->count = (uint64_t)(rate * seconds);
	t->interval_ns = 1e9 / rate;
	t->ack_ns = calloc(t->count ? t->count : 1, sizeof *t->ack_ns);
	if (!t->ack_ns)
		return -1;
	/* A short lead so the first sends are not late before we begin. */
	t->start_ns = bench_now_ns() + 20000000ull;
	return 0;
}

void bench_timetable_free(bench_timetable *t)
{
	free(t->ack_ns);
	t->ack_ns = NULL;
}

uint64_t bench_timetable_at(const bench_timetable *t, uint64_t i)
{
	return t->start_ns + (uint64_t)((double)i * t->interval_ns);
}

uint64_t bench_timetable_due(const bench_timetable *t, uint64_t now_ns)
{
	uint64_t n;

	if (now_ns < t->start_ns)
		return 0;
	n = (uint64_t)((double)(now_ns - t->start_ns) / t->interval_ns) + 1;
	return n < t->count ? n : t->count;
}

void bench_timetable_ack(bench_timetable *t, uint64_t from, uint64_t to,
			 uint64_t now_ns)
{
	for (uint64_t i = from; i < to && i < t->count; i++)
		if (!t->ack_ns[i])
			t->ack_ns[i] = now_ns;
}

int bench_timetable_report(const bench_timetable *t)
{
	double *lat = malloc((t->count ? t->count : 1) * sizeof *lat);
	uint64_t acked = 0;

	if (!lat) {
		bench_log("out of memory");
		return 1;
	}
	for (uint64_t i = 0; i < t->count; i++) {
		uint64_t at = bench_timetable_at(t, i);
		if (!t->ack_ns[i])
			continue;
		lat[acked++] = t->ack_ns[i] > at ? (double)(t->ack_ns[i] - at) / 1e3
						 : 0.0;
	}
	bench_sort(lat, acked);
	bench_result_u64("offered", t->count);
	bench_result_u64("acked", acked);
	bench_result_f("rate", 1e9 / t->interval_ns);
	bench_result_f("p50_us", bench_percentile(lat, acked, 50));
	bench_result_f("p99_us", bench_percentile(lat, acked, 99));
	bench_result_f("p999_us", bench_percentile(lat, acked, 99.9));
	bench_result_f("max_us", acked ? lat[acked - 1] : 0);
	free(lat);
	if (acked != t->count) {
		bench_log("%" PRIu64 " of %" PRIu64 " records were never acked",
			  t->count - acked, t->count);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ fan-out */

void bench_fanout_report(const bench_fanout_result *r)
{
	double total = (double)r->records * r->subs;
	double all = (double)(r->all_done_ns - r->start_ns) / 1e9;
	double pub = (double)(r->pub_done_ns - r->start_ns) / 1e9;

	bench_result_u64("subs", r->subs);
	bench_result_u64("records", r->records);
	bench_result_f("agg_rate", all > 0 ? total / all : 0);
	bench_result_f("pub_rate", pub > 0 ? (double)r->records / pub : 0);
	bench_result_u64("lag_max", r->lag_max);
	bench_result_f("lag_avg", r->subs ? (double)r->lag_sum / r->subs : 0);
	bench_result_f("drain_ms", r->all_done_ns > r->pub_done_ns
					   ? (double)(r->all_done_ns - r->pub_done_ns) / 1e6
					   : 0);
}

/* ------------------------------------------------------------ results */

void bench_result_begin(const char *workload)
{
	printf("result system=%s workload=%s", driver_name, workload);
}

void bench_result_u64(const char *key, uint64_t v)
{
	printf(" %s=%" PRIu64, key, v);
}

void bench_result_f(const char *key, double v)
{
	printf(" %s=%.3f", key, v);
}

void bench_result_end(void)
{
	printf("\n");
	fflush(stdout);
}

void bench_log(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "bench-%s: ", driver_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------ main */

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0)
		return false;
	*out = v;
	return true;
}

int bench_main(int argc, char **argv, const bench_backend *b)
{
	bench_args a = {0};
	bench_workload_fn fn = NULL;
	uint64_t v;

	driver_name = b->name;
	a.size = 300;
	a.records = 100000;
	a.rate = 1000;
	a.seconds = 5;
	a.subs = 10;
	a.conns = 1000;
	a.repeat = 5;
	a.mode = "";
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = true;

		if (k[0] != '-') {
			if (a.workload) {
				fprintf(stderr, usage, argv[0]);
				return 2;
			}
			a.workload = k;
			continue;
		}
		if (!strcmp(k, "-h") || !strcmp(k, "--help")) {
			printf(usage, argv[0]);
			return 0;
		}
		if (!val) {
			bench_log("%s needs a value", k);
			return 2;
		}
		i++;
		if (!strcmp(k, "--target"))
			a.target = val;
		else if (!strcmp(k, "--stream"))
			a.stream = val;
		else if (!strcmp(k, "--mode"))
			a.mode = val;
		else if (!strcmp(k, "--records"))
			ok = parse_u64(val, &a.records) && a.records > 0;
		else if (!strcmp(k, "--size"))
			ok = parse_u64(val, &v) && v > 0 && v < (1u << 20) &&
			     ((a.size = (size_t)v), true);
		else if (!strcmp(k, "--rate"))
			ok = parse_double(val, &a.rate) && a.rate > 0;
		else if (!strcmp(k, "--seconds"))
			ok = parse_double(val, &a.seconds) && a.seconds > 0;
		else if (!strcmp(k, "--subs"))
			ok = parse_u64(val, &v) && v > 0 && v <= 256 &&
			     ((a.subs = (unsigned)v), true);
		else if (!strcmp(k, "--conns"))
			ok = parse_u64(val, &v) && v > 0 && v <= 100000 &&
			     ((a.conns = (unsigned)v), true);
		else if (!strcmp(k, "--repeat"))
			ok = parse_u64(val, &v) && v > 0 && v <= 1000 &&
			     ((a.repeat = (unsigned)v), true);
		else if (!strcmp(k, "--time-ns"))
			ok = parse_u64(val, &a.time_ns);
		else
			ok = false;
		if (!ok) {
			bench_log("bad option %s %s", k, val);
			return 2;
		}
	}
	if (!a.workload || !a.target || !a.stream) {
		fprintf(stderr, usage, argv[0]);
		return 2;
	}
	if (!strcmp(a.workload, "publish"))
		fn = b->publish;
	else if (!strcmp(a.workload, "latency"))
		fn = b->latency;
	else if (!strcmp(a.workload, "replay"))
		fn = b->replay;
	else if (!strcmp(a.workload, "fanout"))
		fn = b->fanout;
	else if (!strcmp(a.workload, "seek"))
		fn = b->seek;
	else if (!strcmp(a.workload, "idle"))
		fn = b->idle;
	if (!fn) {
		bench_log("workload %s is not supported", a.workload);
		return 2;
	}
	return fn(&a) == 0 ? 0 : 1;
}
