/* Tests for bench_util: percentiles, the send timetable and payloads (no
 * timing thresholds: only the arithmetic the drivers rely on). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

static int failures;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
				__LINE__, #cond);                          \
			failures++;                                        \
		}                                                          \
	} while (0)

static void test_percentile(void)
{
	double v[100];
	for (int i = 0; i < 100; i++)
		v[i] = 100 - i; /* 100 .. 1 */
	bench_sort(v, 100);
	CHECK(v[0] == 1 && v[99] == 100);
	CHECK(bench_percentile(v, 100, 50) == 50);
	CHECK(bench_percentile(v, 100, 99) == 99);
	CHECK(bench_percentile(v, 100, 99.9) == 100);
	CHECK(bench_percentile(v, 100, 0) == 1);
	CHECK(bench_percentile(v, 0, 50) == 0);
	CHECK(bench_percentile(v, 1, 99.9) == 1);
}

static void test_timetable(void)
{
	bench_timetable t;

	CHECK(bench_timetable_init(&t, 0, 1) != 0);
	CHECK(bench_timetable_init(&t, 1000, 2) == 0);
	CHECK(t.count == 2000);
	t.start_ns = 1000000000ull;
	CHECK(bench_timetable_at(&t, 0) == 1000000000ull);
	CHECK(bench_timetable_at(&t, 10) == 1010000000ull);
	CHECK(bench_timetable_due(&t, 999999999ull) == 0);
	CHECK(bench_timetable_due(&t, 1000000000ull) == 1);
	CHECK(bench_timetable_due(&t, 1009999999ull) == 10);
	CHECK(bench_timetable_due(&t, 1010000000ull) == 11);
	CHECK(bench_timetable_due(&t, 9000000000ull) == 2000);
	/* An ack is stamped once: a later ack of the same record is ignored. */
	bench_timetable_ack(&t, 0, 5, 1000500000ull);
	bench_timetable_ack(&t, 3, 7, 1000900000ull);
	CHECK(t.ack_ns[4] == 1000500000ull && t.ack_ns[6] == 1000900000ull);
	bench_timetable_ack(&t, 1990, 5000, 1);
	CHECK(t.ack_ns[1999] == 1);
	bench_timetable_free(&t);
	CHECK(t.ack_ns == NULL);
}

static void test_payload(void)
{
	uint8_t a[300], b[300], tiny[3];

	bench_payload(a, sizeof a, 7);
	bench_payload(b, sizeof b, 8);
	CHECK(memcmp(a, "rec-000000000007-", 17) == 0);
	CHECK(memcmp(a, b, sizeof a) != 0);
	bench_payload(tiny, sizeof tiny, 7);
	CHECK(memcmp(tiny, "rec", 3) == 0);
}

int main(void)
{
	test_percentile();
	test_timetable();
	test_payload();
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
