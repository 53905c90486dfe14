/* Unit tests of the metrics registry: exact Prometheus text (escaping,
 * histogram buckets, number forms), bounded cardinality, refusals, and
 * exact totals under concurrent updates from several threads. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gb_metrics.h"
#include "gb_test.h"

static char *render(gb_metrics *m)
{
	char *text = NULL;
	size_t len = 0;

	CHECK_RC(gb_metrics_render(m, &text, &len), 0);
	CHECK(text && strlen(text) == len);
	return text;
}

static void set_queue_depth(void *cls, gb_metrics *m)
{
	(void)m;
	gb_gauge_set(cls, 3);
}

static void test_text(void)
{
	gb_metrics *m = gb_metrics_new();
	gb_metric *records, *depth, *latency, *up;
	const char *ds[] = {"dataset"};
	const char *two[] = {"department", "reason"};
	const double bounds[] = {0.005, 0.25, 1, 2.5};
	gb_metric *denials;
	gb_metric_series *s;
	char *text;

	CHECK(m != NULL);
	if (!m)
		return;
	CHECK_RC(gb_metrics_counter(m, "govbus_records_total",
				    "Records stored, by dataset.", ds, 1, 16,
				    &records),
		 0);
	CHECK_RC(gb_metrics_gauge(m, "govbus_queue_depth",
				  "Frames waiting\\in the \"queue\".", NULL, 0,
				  1, &depth),
		 0);
	CHECK_RC(gb_metrics_histogram(m, "govbus_commit_seconds",
				      "Group commit time.", ds, 1, bounds, 4,
				      16, &latency),
		 0);
	CHECK_RC(gb_metrics_counter(m, "govbus_denials_total", "Denials.",
				    two, 2, 16, &denials),
		 0);
	CHECK_RC(gb_metrics_gauge(m, "up", "Up.", NULL, 0, 1, &up), 0);

	gb_counter_add(gb_metric_series_get(records,
					    (const char *[]){"tax.invoices"}),
		       1000);
	gb_counter_add(gb_metric_series_get(records,
					    (const char *[]){"tax.invoices"}),
		       24);
	gb_counter_add(gb_metric_series_get(records,
					    (const char *[]){"a\\b\"c\nd"}),
		       1);
	CHECK_RC(gb_metrics_on_collect(m, set_queue_depth,
				       gb_metric_series_get(depth, NULL)),
		 0);
	s = gb_metric_series_get(latency, (const char *[]){"tax.invoices"});
	gb_histogram_observe(s, 0.001);
	gb_histogram_observe(s, 0.005);   /* on a bound: le is inclusive */
	gb_histogram_observe(s, 0.2);
	gb_histogram_observe(s, 2.5);
	gb_histogram_observe(s, 7);
	gb_histogram_observe(s, NAN);     /* ignored */
	gb_counter_add(gb_metric_series_get(
			       denials, (const char *[]){"health", "no grant"}),
		       2);
	gb_gauge_set(gb_metric_series_get(up, NULL), 1);

	text = render(m);
	CHECK_STR(text,
		  "# HELP govbus_records_total Records stored, by dataset.\n"
		  "# TYPE govbus_records_total counter\n"
		  "govbus_records_total{dataset=\"tax.invoices\"} 1024\n"
		  "govbus_records_total{dataset=\"a\\\\b\\\"c\\nd\"} 1\n"
		  "# HELP govbus_queue_depth Frames waiting\\\\in the \"queue\".\n"
		  "# TYPE govbus_queue_depth gauge\n"
		  "govbus_queue_depth 3\n"
		  "# HELP govbus_commit_seconds Group commit time.\n"
		  "# TYPE govbus_commit_seconds histogram\n"
		  "govbus_commit_seconds_bucket{dataset=\"tax.invoices\",le=\"0.005\"} 2\n"
		  "govbus_commit_seconds_bucket{dataset=\"tax.invoices\",le=\"0.25\"} 3\n"
		  "govbus_commit_seconds_bucket{dataset=\"tax.invoices\",le=\"1\"} 3\n"
		  "govbus_commit_seconds_bucket{dataset=\"tax.invoices\",le=\"2.5\"} 4\n"
		  "govbus_commit_seconds_bucket{dataset=\"tax.invoices\",le=\"+Inf\"} 5\n"
		  "govbus_commit_seconds_sum{dataset=\"tax.invoices\"} 9.706\n"
		  "govbus_commit_seconds_count{dataset=\"tax.invoices\"} 5\n"
		  "# HELP govbus_denials_total Denials.\n"
		  "# TYPE govbus_denials_total counter\n"
		  "govbus_denials_total{department=\"health\",reason=\"no grant\"} 2\n"
		  "# HELP up Up.\n"
		  "# TYPE up gauge\n"
		  "up 1\n");
	free(text);
	CHECK(gb_histogram_count(s) == 5);
	CHECK(gb_histogram_bucket(s, 0) == 2 && gb_histogram_bucket(s, 4) == 1);

	/* gauges: moves, fractions, special values */
	s = gb_metric_series_get(up, NULL);
	gb_gauge_add(s, -1.5);
	CHECK(gb_gauge_value(s) == -0.5);
	gb_gauge_set(s, INFINITY);
	text = render(m);
	CHECK_CONTAINS(text, "\nup +Inf\n");
	free(text);
	gb_gauge_set(s, NAN);
	text = render(m);
	CHECK_CONTAINS(text, "\nup NaN\n");
	free(text);
	gb_gauge_set(s, 0.1);
	text = render(m);
	CHECK_CONTAINS(text, "\nup 0.1\n");
	free(text);

	gb_metrics_destroy(&m);
	CHECK(m == NULL);
	gb_metrics_destroy(NULL);
}

static void test_cardinality(void)
{
	gb_metrics *m = gb_metrics_new();
	gb_metric *f;
	const char *ds[] = {"dataset"};
	char name[24], *text;
	char long_value[GB_METRICS_MAX_VALUE + 2];

	CHECK_RC(gb_metrics_counter(m, "reads_total", "Reads.", ds, 1, 3, &f),
		 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof name, "d%d", i);
		gb_counter_add(gb_metric_series_get(f, (const char *[]){name}),
			       1);
	}
	/* unusable values go to the overflow series too */
	gb_counter_add(gb_metric_series_get(f, (const char *[]){"\xff"}), 1);
	memset(long_value, 'x', sizeof long_value - 1);
	long_value[sizeof long_value - 1] = '\0';
	gb_counter_add(gb_metric_series_get(f, (const char *[]){long_value}),
		       1);
	/* the same label set is the same series */
	CHECK(gb_metric_series_get(f, (const char *[]){"d0"}) ==
	      gb_metric_series_get(f, (const char *[]){"d0"}));
	text = render(m);
	CHECK_STR(text, "# HELP reads_total Reads.\n"
			"# TYPE reads_total counter\n"
			"reads_total{dataset=\"d0\"} 1\n"
			"reads_total{dataset=\"d1\"} 1\n"
			"reads_total{dataset=\"d2\"} 1\n"
			"reads_total{dataset=\"_other\"} 9\n");
	free(text);
	gb_metrics_destroy(&m);
}

static void test_refusals(void)
{
	gb_metrics *m = gb_metrics_new();
	gb_metric *f;
	const char *le[] = {"le"};
	const char *dunder[] = {"__x"};
	const char *twice[] = {"a", "a"};
	const char *ok[] = {"a"};
	const double bad_bounds[] = {1, 1};
	const double inf_bounds[] = {1, INFINITY};
	const double bounds[] = {1};

	CHECK_RC(gb_metrics_counter(m, "9lives", "x", NULL, 0, 1, &f),
		 GB_EINVAL);
	CHECK_RC(gb_metrics_counter(m, "a-b", "x", NULL, 0, 1, &f), GB_EINVAL);
	CHECK_RC(gb_metrics_counter(m, "", "x", NULL, 0, 1, &f), GB_EINVAL);
	CHECK_RC(gb_metrics_counter(m, "a", "two\nlines", NULL, 0, 1, &f),
		 GB_EINVAL);
	CHECK_RC(gb_metrics_counter(m, "a", "x", dunder, 1, 1, &f), GB_EINVAL);
	CHECK_RC(gb_metrics_counter(m, "a", "x", twice, 2, 1, &f), GB_EINVAL);
	CHECK_RC(gb_metrics_counter(m, "a", "x", ok, 1, 0, &f), GB_EINVAL);
	CHECK_RC(gb_metrics_counter(m, "a", "x", ok, 1,
				    GB_METRICS_MAX_SERIES + 1, &f),
		 GB_EINVAL);
	CHECK_RC(gb_metrics_histogram(m, "h", "x", le, 1, bounds, 1, 1, &f),
		 GB_EINVAL);
	CHECK_RC(gb_metrics_histogram(m, "h", "x", NULL, 0, bad_bounds, 2, 1,
				      &f),
		 GB_EINVAL);
	CHECK_RC(gb_metrics_histogram(m, "h", "x", NULL, 0, inf_bounds, 2, 1,
				      &f),
		 GB_EINVAL);
	CHECK_RC(gb_metrics_histogram(m, "h", "x", NULL, 0, bounds, 0, 1, &f),
		 GB_EINVAL);
	CHECK(f == NULL);
	CHECK_RC(gb_metrics_counter(m, "ns:a_total", "x", le, 1, 1, &f), 0);
	CHECK_RC(gb_metrics_gauge(m, "ns:a_total", "x", NULL, 0, 1, &f),
		 GB_ECONFLICT);
	/* updates ignore a NULL series */
	gb_counter_add(NULL, 1);
	gb_gauge_set(NULL, 1);
	gb_histogram_observe(NULL, 1);
	gb_metrics_destroy(&m);
}

#define THREADS 4
#define ROUNDS 200000

struct worker {
	gb_metric *counter, *hist, *gauge;
	int id;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	char name[16];
	gb_metric_series *mine, *shared, *h, *g;

	snprintf(name, sizeof name, "t%d", w->id);
	mine = gb_metric_series_get(w->counter, (const char *[]){name});
	shared = gb_metric_series_get(w->counter, (const char *[]){"all"});
	h = gb_metric_series_get(w->hist, NULL);
	g = gb_metric_series_get(w->gauge, NULL);
	for (int i = 0; i < ROUNDS; i++) {
		gb_counter_add(mine, 1);
		gb_counter_add(shared, 2);
		gb_histogram_observe(h, (double)(i % 4)); /* 0,1,2,3 */
		gb_gauge_add(g, 1);
		/* lookups race with updates and with each other */
		if (i % 1000 == 0)
			gb_counter_add(gb_metric_series_get(
					       w->counter,
					       (const char *[]){"all"}),
				       0);
	}
	return NULL;
}

static void test_concurrency(void)
{
	gb_metrics *m = gb_metrics_new();
	struct worker w[THREADS];
	pthread_t t[THREADS];
	const char *ds[] = {"thread"};
	const double bounds[] = {0.5, 1.5, 2.5};
	gb_metric *counter, *hist, *gauge;
	gb_metric_series *h;
	char *text;

	CHECK_RC(gb_metrics_counter(m, "ops_total", "Ops.", ds, 1, 64,
				    &counter),
		 0);
	CHECK_RC(gb_metrics_histogram(m, "sizes", "Sizes.", NULL, 0, bounds, 3,
				      1, &hist),
		 0);
	CHECK_RC(gb_metrics_gauge(m, "level", "Level.", NULL, 0, 1, &gauge), 0);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){counter, hist, gauge, i};
		CHECK(pthread_create(&t[i], NULL, hammer, &w[i]) == 0);
	}
	/* renders run while the threads update */
	for (int i = 0; i < 20; i++)
		free(render(m));
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	CHECK(gb_counter_value(gb_metric_series_get(
		      counter, (const char *[]){"all"})) ==
	      2ull * THREADS * ROUNDS);
	for (int i = 0; i < THREADS; i++) {
		char name[16];
		snprintf(name, sizeof name, "t%d", i);
		CHECK(gb_counter_value(gb_metric_series_get(
			      counter, (const char *[]){name})) == ROUNDS);
	}
	h = gb_metric_series_get(hist, NULL);
	CHECK(gb_histogram_count(h) == (uint64_t)THREADS * ROUNDS);
	for (size_t b = 0; b < 4; b++)
		CHECK(gb_histogram_bucket(h, b) == (uint64_t)THREADS * ROUNDS / 4);
	/* each thread adds 0+1+2+3 per four rounds: exact in a double */
	CHECK(gb_histogram_sum(h) == 1.5 * THREADS * ROUNDS);
	CHECK(gb_gauge_value(gb_metric_series_get(gauge, NULL)) ==
	      (double)THREADS * ROUNDS);
	text = render(m);
	CHECK_CONTAINS(text, "ops_total{thread=\"all\"} 1600000\n");
	CHECK_CONTAINS(text, "sizes_bucket{le=\"+Inf\"} 800000\n");
	CHECK_CONTAINS(text, "sizes_count 800000\n");
	CHECK_CONTAINS(text, "sizes_sum 1200000\n");
	free(text);
	gb_metrics_destroy(&m);
}

int main(void)
{
	test_text();
	test_cardinality();
	test_refusals();
	test_concurrency();
	TEST_EXIT();
}
