/* Metrics registry and Prometheus text rendering; see gb_metrics.h.
 *
 * Trust: metric and label names come from the program and are checked at
 * registration; label values may come from the network (a dataset id in
 * a request) and are only ever used as bounded, UTF-8-checked, escaped
 * text, with the number of series per family capped. */
#include "gb_metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"
#include "gb_wire.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct gb_metric_series {
	const gb_metric *family;
	char *key;                  /* label values, each ended by a NUL */
	size_t key_len;
	const char *values[GB_METRICS_MAX_LABELS]; /* into key */
	/* counter: the count; gauge: the bits of a double */
	_Atomic uint64_t value;
	_Atomic uint64_t sum_bits;  /* histogram: bits of the sum */
	_Atomic uint64_t buckets[]; /* histogram: n_bounds + 1, not cumulative */
};

struct gb_metric {
	gb_metrics *registry;
	enum metric_type type;
	char *name;
	char *help;
	size_t n_labels;
	char *labels[GB_METRICS_MAX_LABELS];
	size_t n_bounds;
	double bounds[GB_METRICS_MAX_BUCKETS];
	size_t max_series;
	pthread_mutex_t mu;         /* the series and their index */
	size_t n_series;
	gb_metric_series **series;  /* creation order, max_series slots */
	gb_metric_series *overflow; /* made on first need */
	uint32_t *slots;            /* open addressing: series index + 1 */
	size_t n_slots;             /* a power of two > 2 * max_series */
};

struct collect_hook {
	void (*fn)(void *cls, gb_metrics *m);
	void *cls;
};

struct gb_metrics {
	pthread_mutex_t mu;         /* families and hooks */
	unsigned char hash_key[crypto_shorthash_KEYBYTES];
	gb_metric **families;
	size_t n_families, cap_families;
	struct collect_hook hooks[GB_METRICS_MAX_HOOKS];
	size_t n_hooks;
};

/* ------------------------------------------------------------ doubles */

static uint64_t double_bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof b);
	return b;
}

static double bits_double(uint64_t b)
{
	double v;
	memcpy(&v, &b, sizeof v);
	return v;
}

/* Add to a double kept as bits in an atomic word. */
static void atomic_add_double(_Atomic uint64_t *a, double delta)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(
		a, &old, double_bits(bits_double(old) + delta),
		memory_order_relaxed, memory_order_relaxed))
		;
}

/* The shortest text that reads back as v (as Prometheus' own clients
 * write numbers), or NaN, +Inf, -Inf. */
static void format_double(double v, char out[32])
{
	if (isnan(v)) {
		strcpy(out, "NaN");
		return;
	}
	if (isinf(v)) {
		strcpy(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

/* -------------------------------------------------------------- names */

static bool name_char(char c, bool first, bool colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (colon && c == ':')
		return true;
	return !first && c >= '0' && c <= '9';
}

/* A metric name (colons allowed) or a label name (not). */
static bool valid_name(const char *s, bool colon)
{
	if (!s || !*s || strlen(s) > 200)
		return false;
	for (size_t i = 0; s[i]; i++)
		if (!name_char(s[i], i == 0, colon))
			return false;
	return true;
}

/* ----------------------------------------------------------- registry */

gb_metrics *gb_metrics_new(void)
{
	gb_metrics *m;

	if (sodium_init() < 0)
		return NULL;
	m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		return NULL;
	}
	crypto_shorthash_keygen(m->hash_key);
	return m;
}

static void series_free(gb_metric_series *s)
{
	if (!s)
		return;
	free(s->key);
	free(s);
}

static void family_free(gb_metric *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_series; i++)
		series_free(f->series[i]);
	series_free(f->overflow);
	free(f->series);
	free(f->slots);
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

void gb_metrics_destroy(gb_metrics **m)
{
	if (!m || !*m)
		return;
	for (size_t i = 0; i < (*m)->n_families; i++)
		family_free((*m)->families[i]);
	free((*m)->families);
	pthread_mutex_destroy(&(*m)->mu);
	free(*m);
	*m = NULL;
}

static int family_check(const char *name, const char *help,
			const char *const *labels, size_t n_labels,
			size_t max_series, bool histogram)
{
	if (!valid_name(name, true) || !help || strchr(help, '\n') ||
	    n_labels > GB_METRICS_MAX_LABELS || (n_labels && !labels) ||
	    max_series < 1 || max_series > GB_METRICS_MAX_SERIES ||
	    !gb_utf8_valid((const uint8_t *)help, strlen(help)))
		return GB_EINVAL;
	for (size_t i = 0; i < n_labels; i++) {
		if (!valid_name(labels[i], false) ||
		    !strncmp(labels[i], "__", 2) ||
		    (histogram && !strcmp(labels[i], "le")))
			return GB_EINVAL;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(labels[i], labels[j]))
				return GB_EINVAL;
	}
	return 0;
}

/* Make and register a family; the caller checked the arguments. */
static int family_add(gb_metrics *m, enum metric_type type, const char *name,
		      const char *help, const char *const *labels,
		      size_t n_labels, const double *bounds, size_t n_bounds,
		      size_t max_series, gb_metric **out)
{
	gb_metric *f = calloc(1, sizeof *f);
	int rc = GB_ENOMEM;

	*out = NULL;
	if (!f)
		return GB_ENOMEM;
	if (pthread_mutex_init(&f->mu, NULL) != 0) {
		free(f);
		return GB_ENOMEM;
	}
	f->registry = m;
	f->type = type;
	f->max_series = max_series;
	f->n_bounds = n_bounds;
	if (n_bounds)
		memcpy(f->bounds, bounds, n_bounds * sizeof *bounds);
	f->name = strdup(name);
	f->help = strdup(help);
	for (size_t i = 0; i < n_labels; i++) {
		f->labels[i] = strdup(labels[i]);
		f->n_labels = i + 1;
		if (!f->labels[i])
			goto fail;
	}
	f->n_slots = 8;
	while (f->n_slots <= 2 * max_series)
		f->n_slots *= 2;
	f->series = calloc(max_series, sizeof *f->series);
	f->slots = calloc(f->n_slots, sizeof *f->slots);
	if (!f->name || !f->help || !f->series || !f->slots)
		goto fail;

	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n_families; i++)
		if (!strcmp(m->families[i]->name, name)) {
			rc = GB_ECONFLICT;
			goto fail_locked;
		}
	if (m->n_families == m->cap_families) {
		size_t cap = m->cap_families ? 2 * m->cap_families : 16;
		gb_metric **grown = realloc(m->families, cap * sizeof *grown);
		if (!grown)
			goto fail_locked;
		m->families = grown;
		m->cap_families = cap;
	}
	m->families[m->n_families++] = f;
	pthread_mutex_unlock(&m->mu);
	*out = f;
	return 0;

fail_locked:
	pthread_mutex_unlock(&m->mu);
fail:
	family_free(f);
	return rc;
}

/* Check and register a counter or gauge family. */
static int family_register(gb_metrics *m, enum metric_type type,
			   const char *name, const char *help,
			   const char *const *labels, size_t n_labels,
			   size_t max_series, gb_metric **out)
{
	int rc = family_check(name, help, labels, n_labels, max_series, false);

	*out = NULL;
	return rc ? rc : family_add(m, type, name, help, labels, n_labels,
				    NULL, 0, max_series, out);
}

int gb_metrics_counter(gb_metrics *m, const char *name, const char *help,
		       const char *const *labels, size_t n_labels,
		       size_t max_series, gb_metric **out)
{
	return family_register(m, METRIC_COUNTER, name, help, labels, n_labels,
			       max_series, out);
}

int gb_metrics_gauge(gb_metrics *m, const char *name, const char *help,
		     const char *const *labels, size_t n_labels,
		     size_t max_series, gb_metric **out)
{
	return family_register(m, METRIC_GAUGE, name, help, labels, n_labels,
			       max_series, out);
}

int gb_metrics_histogram(gb_metrics *m, const char *name, const char *help,
			 const char *const *labels, size_t n_labels,
			 const double *bounds, size_t n_bounds,
			 size_t max_series, gb_metric **out)
{
	int rc = family_check(name, help, labels, n_labels, max_series, true);

	*out = NULL;
	if (rc)
		return rc;
	if (!bounds || n_bounds < 1 || n_bounds > GB_METRICS_MAX_BUCKETS)
		return GB_EINVAL;
	for (size_t i = 0; i < n_bounds; i++)
		if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
			return GB_EINVAL;
	return family_add(m, METRIC_HISTOGRAM, name, help, labels, n_labels,
			  bounds, n_bounds, max_series, out);
}

int gb_metrics_on_collect(gb_metrics *m, void (*fn)(void *cls, gb_metrics *m),
			  void *cls)
{
	int rc = GB_ETOOBIG;

	pthread_mutex_lock(&m->mu);
	if (m->n_hooks < GB_METRICS_MAX_HOOKS) {
		m->hooks[m->n_hooks].fn = fn;
		m->hooks[m->n_hooks].cls = cls;
		m->n_hooks++;
		rc = 0;
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* ------------------------------------------------------------- series */

/* A new series of f for the values joined in key[0..key_len). */
static gb_metric_series *series_new(const gb_metric *f, const char *key,
				    size_t key_len)
{
	size_t n_buckets = f->type == METRIC_HISTOGRAM ? f->n_bounds + 1 : 0;
	gb_metric_series *s = calloc(1, sizeof *s +
					     n_buckets * sizeof s->buckets[0]);
	const char *v;

	if (!s)
		return NULL;
	s->family = f;
	s->key = malloc(key_len ? key_len : 1);
	if (!s->key) {
		free(s);
		return NULL;
	}
	memcpy(s->key, key, key_len);
	s->key_len = key_len;
	v = s->key;
	for (size_t i = 0; i < f->n_labels; i++) {
		s->values[i] = v;
		v += strlen(v) + 1;
	}
	return s;
}

static size_t series_slot(const gb_metric *f, const char *key, size_t len)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, (const unsigned char *)key, len,
			 f->registry->hash_key);
	memcpy(&v, h, sizeof v);
	return (size_t)(v & (f->n_slots - 1));
}

/* The overflow series; f->mu held. */
static gb_metric_series *series_overflow(gb_metric *f)
{
	char key[GB_METRICS_MAX_LABELS * sizeof GB_METRICS_OVERFLOW_VALUE];
	size_t len = 0;

	if (f->overflow)
		return f->overflow;
	for (size_t i = 0; i < f->n_labels; i++) {
		memcpy(key + len, GB_METRICS_OVERFLOW_VALUE,
		       sizeof GB_METRICS_OVERFLOW_VALUE);
		len += sizeof GB_METRICS_OVERFLOW_VALUE;
	}
	f->overflow = series_new(f, key, len);
	return f->overflow;
}

gb_metric_series *gb_metric_series_get(gb_metric *f,
				       const char *const *values)
{
	char key[GB_METRICS_MAX_LABELS * (GB_METRICS_MAX_VALUE + 1)];
	gb_metric_series *s = NULL;
	size_t len = 0, slot;
	bool usable = true;

	for (size_t i = 0; i < f->n_labels && usable; i++) {
		size_t n = values && values[i] ? strlen(values[i]) : 0;

		if (!values || !values[i] || n > GB_METRICS_MAX_VALUE ||
		    !gb_utf8_valid((const uint8_t *)values[i], n)) {
			usable = false;
			break;
		}
		memcpy(key + len, values[i], n + 1);
		len += n + 1;
	}
	pthread_mutex_lock(&f->mu);
	if (!usable) {
		s = series_overflow(f);
		goto out;
	}
	slot = series_slot(f, key, len);
	for (;;) {
		uint32_t at = f->slots[slot];

		if (at == 0)
			break;
		s = f->series[at - 1];
		if (s->key_len == len && !memcmp(s->key, key, len))
			goto out;
		s = NULL;
		slot = (slot + 1) & (f->n_slots - 1);
	}
	if (f->n_series == f->max_series) {
		s = series_overflow(f);
		goto out;
	}
	s = series_new(f, key, len);
	if (s) {
		f->series[f->n_series++] = s;
		f->slots[slot] = (uint32_t)f->n_series;
	}
out:
	pthread_mutex_unlock(&f->mu);
	return s;
}

/* ------------------------------------------------------------ updates */

void gb_counter_add(gb_metric_series *s, uint64_t n)
{
	if (!s)
		return;
	assert(s->family->type == METRIC_COUNTER);
	atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void gb_gauge_set(gb_metric_series *s, double v)
{
	if (!s)
		return;
	assert(s->family->type == METRIC_GAUGE);
	atomic_store_explicit(&s->value, double_bits(v), memory_order_relaxed);
}

void gb_gauge_add(gb_metric_series *s, double delta)
{
	if (!s)
		return;
	assert(s->family->type == METRIC_GAUGE);
	atomic_add_double(&s->value, delta);
}

void gb_histogram_observe(gb_metric_series *s, double v)
{
	const gb_metric *f;
	size_t lo = 0, hi;

	if (!s || isnan(v))
		return;
	f = s->family;
	assert(f->type == METRIC_HISTOGRAM);
	/* the first bucket whose bound is >= v (le: less or equal) */
	hi = f->n_bounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v <= f->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	atomic_fetch_add_explicit(&s->buckets[lo], 1, memory_order_relaxed);
	atomic_add_double(&s->sum_bits, v);
}

uint64_t gb_counter_value(const gb_metric_series *s)
{
	return atomic_load_explicit(&s->value, memory_order_relaxed);
}

double gb_gauge_value(const gb_metric_series *s)
{
	return bits_double(atomic_load_explicit(&s->value,
						memory_order_relaxed));
}

uint64_t gb_histogram_bucket(const gb_metric_series *s, size_t i)
{
	return i <= s->family->n_bounds
		       ? atomic_load_explicit(&s->buckets[i],
					      memory_order_relaxed)
		       : 0;
}

uint64_t gb_histogram_count(const gb_metric_series *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= s->family->n_bounds; i++)
		n += gb_histogram_bucket(s, i);
	return n;
}

double gb_histogram_sum(const gb_metric_series *s)
{
	return bits_double(atomic_load_explicit(&s->sum_bits,
						memory_order_relaxed));
}

/* ---------------------------------------------------------- rendering */

/* Write s escaping backslash, newline and (for label values) '"'. */
static void put_escaped(FILE *out, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else if (quote && *s == '"')
			fputs("\\\"", out);
		else
			fputc(*s, out);
	}
}

/* "{a="x",b="y"" with an extra le label when `le` is given, then "}";
 * nothing for a series without labels. */
static void put_labels(FILE *out, const gb_metric *f,
		       const gb_metric_series *s, const char *le)
{
	if (f->n_labels == 0 && !le)
		return;
	fputc('{', out);
	for (size_t i = 0; i < f->n_labels; i++) {
		fprintf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
		put_escaped(out, s->values[i], true);
		fputc('"', out);
	}
	if (le)
		fprintf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
	fputc('}', out);
}

static void render_series(FILE *out, const gb_metric *f,
			  const gb_metric_series *s)
{
	char num[32];
	uint64_t cumulative = 0;

	switch (f->type) {
	case METRIC_COUNTER:
		fputs(f->name, out);
		put_labels(out, f, s, NULL);
		fprintf(out, " %" PRIu64 "\n", gb_counter_value(s));
		break;
	case METRIC_GAUGE:
		format_double(gb_gauge_value(s), num);
		fputs(f->name, out);
		put_labels(out, f, s, NULL);
		fprintf(out, " %s\n", num);
		break;
	case METRIC_HISTOGRAM:
		/* _count is the +Inf bucket, read once, so the two agree even
		 * while observations land. */
		for (size_t i = 0; i <= f->n_bounds; i++) {
			cumulative += gb_histogram_bucket(s, i);
			if (i < f->n_bounds)
				format_double(f->bounds[i], num);
			else
				strcpy(num, "+Inf");
			fprintf(out, "%s_bucket", f->name);
			put_labels(out, f, s, num);
			fprintf(out, " %" PRIu64 "\n", cumulative);
		}
		format_double(gb_histogram_sum(s), num);
		fprintf(out, "%s_sum", f->name);
		put_labels(out, f, s, NULL);
		fprintf(out, " %s\n", num);
		fprintf(out, "%s_count", f->name);
		put_labels(out, f, s, NULL);
		fprintf(out, " %" PRIu64 "\n", cumulative);
		break;
	}
}

static void render_family(FILE *out, gb_metric *f)
{
	fprintf(out, "# HELP %s ", f->name);
	put_escaped(out, f->help, false);
	fprintf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n_series; i++)
		render_series(out, f, f->series[i]);
	if (f->overflow)
		render_series(out, f, f->overflow);
	pthread_mutex_unlock(&f->mu);
}

int gb_metrics_render(gb_metrics *m, char **out, size_t *len)
{
	struct collect_hook hooks[GB_METRICS_MAX_HOOKS];
	size_t n_hooks, size = 0;
	char *text = NULL;
	FILE *f;
	int failed;

	*out = NULL;
	*len = 0;
	/* Hooks run unlocked: they may look series up or add families. */
	pthread_mutex_lock(&m->mu);
	n_hooks = m->n_hooks;
	memcpy(hooks, m->hooks, n_hooks * sizeof hooks[0]);
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < n_hooks; i++)
		hooks[i].fn(hooks[i].cls, m);

	f = open_memstream(&text, &size);
	if (!f)
		return GB_ENOMEM;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n_families; i++)
		render_family(f, m->families[i]);
	pthread_mutex_unlock(&m->mu);
	failed = ferror(f);
	if (fclose(f) != 0 || failed) {
		free(text);
		return GB_ENOMEM;
	}
	*out = text;
	*len = size;
	return 0;
}
