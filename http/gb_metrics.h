/* gb_metrics: counters, gauges and histograms, rendered as Prometheus text.
 *
 * A registry owns metric families (a name, a help line, a type, label
 * names and, for histograms, fixed bucket bounds); a family owns series,
 * one per label set, made on first use and kept until the registry is
 * destroyed, so a series handle can be looked up once and kept. Updating
 * a series is one relaxed atomic operation (a compare-and-swap loop for
 * floating-point sums and gauge adds): no lock, no allocation, safe from
 * any thread. Looking a series up takes the family's mutex and a SipHash
 * probe (keyed per registry), cheap enough per batch but not free.
 *
 * Cardinality is bounded: a family holds at most `max_series` label sets;
 * later label sets, and label values that are not UTF-8 or longer than
 * GB_METRICS_MAX_VALUE bytes, all share one overflow series whose every
 * label is "_other", so totals stay exact while the number of series does
 * not grow with untrusted input.
 *
 * Rendering (gb_metrics_render) writes the text exposition format 0.0.4:
 * "# HELP" and "# TYPE" per family, families in registration order,
 * series in creation order (overflow last), histograms as cumulative
 * _bucket{le=...} lines then _sum and _count; label values escape
 * backslash, double quote and newline, help text backslash and newline.
 * The registry renders itself rather than being fed by its callers, so a
 * scrape costs the hot paths nothing; values only known at scrape time
 * (queue depths, map sizes) are set by collect hooks run before each
 * render. */
#ifndef GB_METRICS_H
#define GB_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct gb_metrics gb_metrics;
typedef struct gb_metric gb_metric;         /* a family */
typedef struct gb_metric_series gb_metric_series;

#define GB_METRICS_MAX_LABELS 4
#define GB_METRICS_MAX_BUCKETS 32
#define GB_METRICS_MAX_SERIES 10000  /* per family */
#define GB_METRICS_MAX_VALUE 256     /* bytes of one label value */
#define GB_METRICS_MAX_HOOKS 8
#define GB_METRICS_OVERFLOW_VALUE "_other"

/* The content type of rendered text, for an HTTP reply. */
#define GB_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A new empty registry; NULL when out of memory. */
gb_metrics *gb_metrics_new(void);

/* Free the registry, its families and series. No update may run
 * concurrently. Accepts NULL; sets *m to NULL. */
void gb_metrics_destroy(gb_metrics **m);

/* Register a family. `name` is a Prometheus metric name
 * ([a-zA-Z_:][a-zA-Z0-9_:]*; counters should end in _total), `help` one
 * line of text, `labels` n_labels (0..GB_METRICS_MAX_LABELS) distinct
 * label names ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", not "le"),
 * max_series 1..GB_METRICS_MAX_SERIES. Strings are copied. Thread-safe.
 * @return 0 with *out set (valid until the registry is destroyed);
 *         GB_EINVAL (a name, the counts), GB_ECONFLICT (name taken),
 *         GB_ENOMEM. */
int gb_metrics_counter(gb_metrics *m, const char *name, const char *help,
		       const char *const *labels, size_t n_labels,
		       size_t max_series, gb_metric **out);
int gb_metrics_gauge(gb_metrics *m, const char *name, const char *help,
		     const char *const *labels, size_t n_labels,
		     size_t max_series, gb_metric **out);
/* `bounds`: 1..GB_METRICS_MAX_BUCKETS finite upper bounds in increasing
 * order; the +Inf bucket is implicit. */
int gb_metrics_histogram(gb_metrics *m, const char *name, const char *help,
			 const char *const *labels, size_t n_labels,
			 const double *bounds, size_t n_bounds,
			 size_t max_series, gb_metric **out);

/* The series of one label set: `values` holds one value per label name of
 * the family (NULL for a family without labels). Made on first use; the
 * overflow series when the family is full or a value is unusable (see
 * above). Thread-safe.
 * @return the series, valid until the registry is destroyed; NULL only
 *         when out of memory. */
gb_metric_series *gb_metric_series_get(gb_metric *f,
				       const char *const *values);

/* Updates: lock-free, any thread; a NULL series is ignored, so a failed
 * lookup never crashes a hot path. A counter only adds; a gauge is set or
 * moved; a histogram observes one value (NaN is ignored). Calling the
 * update of another type on a series is a programmer error (assert). */
void gb_counter_add(gb_metric_series *s, uint64_t n);
void gb_gauge_set(gb_metric_series *s, double v);
void gb_gauge_add(gb_metric_series *s, double delta);
void gb_histogram_observe(gb_metric_series *s, double v);

/* Current values, for tests and for callers that read their own metrics. */
uint64_t gb_counter_value(const gb_metric_series *s);
double gb_gauge_value(const gb_metric_series *s);
/* Observations in histogram bucket i (0..n_bounds; n_bounds is +Inf),
 * not cumulative; and the count and sum of all observations. */
uint64_t gb_histogram_bucket(const gb_metric_series *s, size_t i);
uint64_t gb_histogram_count(const gb_metric_series *s);
double gb_histogram_sum(const gb_metric_series *s);

/* Run `fn` at the start of every render (on the rendering thread), to set
 * gauges from state read at scrape time. Thread-safe.
 * @return 0; GB_ETOOBIG past GB_METRICS_MAX_HOOKS. */
int gb_metrics_on_collect(gb_metrics *m, void (*fn)(void *cls, gb_metrics *m),
			  void *cls);

/* Render the registry (after running the collect hooks) into a new
 * malloc'd NUL-terminated text (*len excludes the NUL). Thread-safe;
 * concurrent updates land in this render or the next.
 * @return 0; GB_ENOMEM. */
int gb_metrics_render(gb_metrics *m, char **out, size_t *len);

#endif
