/* Record-id dedupe decisions (gb_store_dedupe.h).
 *
 * Trust: tags come from a batch header the broker has checked for size
 * (record_count x GB_STORE_TAG_BYTES); what the lookup reports was read
 * back and checked by the backend. */
#include "gb_store_dedupe.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"

void gb_store_dedupe_free(gb_store_dedupe *d)
{
	free(d->order);
	free(d->replaced);
	memset(d, 0, sizeof *d);
}

bool gb_store_tag_set(const uint8_t *tag)
{
	return !sodium_is_zero(tag, GB_STORE_TAG_BYTES);
}

bool gb_store_dedupe_live(uint64_t t, uint64_t now, uint64_t window)
{
	return t >= now || now - t < window;
}

/* Order record indexes by tag, then index (qsort_r). */
static int tag_order_cmp(const void *a, const void *b, void *ctx)
{
	const uint8_t *tags = ctx;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int c = memcmp(tags + (size_t)i * GB_STORE_TAG_BYTES,
		       tags + (size_t)j * GB_STORE_TAG_BYTES, GB_STORE_TAG_BYTES);

	return c ? c : (i > j) - (i < j);
}

static int scratch_reserve(gb_store_dedupe *d, uint32_t n)
{
	uint64_t *replaced;
	uint32_t *order;

	if (d->cap >= n)
		return 0;
	replaced = realloc(d->replaced, (size_t)n * sizeof *replaced);
	if (replaced)
		d->replaced = replaced;
	order = realloc(d->order, (size_t)n * sizeof *order);
	if (order)
		d->order = order;
	if (!replaced || !order)
		return GB_ENOMEM;
	d->cap = n;
	return 0;
}

int gb_store_dedupe_check(gb_store_dedupe *d, gb_write *w, uint64_t window,
			  gb_store_tag_lookup_fn lookup, void *ctx,
			  uint64_t *first_offset)
{
	const uint8_t *tags = w->record_tags;
	uint32_t n = w->record_count, m = 0;
	uint32_t *order;
	int rc;

	if (scratch_reserve(d, n) < 0)
		return GB_ENOMEM;
	order = d->order;
	memset(d->replaced, 0, (size_t)n * sizeof *d->replaced);
	/* dup_records doubles as the "is a duplicate" mark until the end. */
	memset(w->dup_records, 0, (size_t)n * sizeof *w->dup_records);
	for (uint32_t i = 0; i < n; i++)
		if (gb_store_tag_set(tags + (size_t)i * GB_STORE_TAG_BYTES))
			order[m++] = i;
	qsort_r(order, m, sizeof *order, tag_order_cmp, (void *)tags);
	for (uint32_t k = 0; k < m; k++) {
		uint32_t i = order[k];
		const uint8_t *tag = tags + (size_t)i * GB_STORE_TAG_BYTES;
		uint64_t t, off;

		if (k > 0 && memcmp(tags + (size_t)order[k - 1] * GB_STORE_TAG_BYTES,
				    tag, GB_STORE_TAG_BYTES) == 0) {
			w->dup_records[i] = 1; /* repeats a record before it */
			continue;
		}
		rc = lookup(ctx, tag, &t, &off);
		if (rc < 0)
			return rc;
		if (rc == 1 && gb_store_dedupe_live(t, w->now_ns, window)) {
			w->dup_records[i] = 1;
			if (i == 0)
				*first_offset = off;
		} else if (rc == 1) {
			d->replaced[i] = t; /* the insert replaces it */
		}
	}
	w->dup_count = 0;
	for (uint32_t i = 0; i < n; i++)
		if (w->dup_records[i])
			w->dup_records[w->dup_count++] = i;
	return 0;
}

uint64_t gb_store_dedupe_replaced(const gb_store_dedupe *d, uint32_t i)
{
	return d->replaced[i];
}

size_t gb_store_dedupe_prune_budget(const gb_write *items, size_t n,
				    uint64_t *now)
{
	size_t limit = GB_STORE_DEDUPE_PRUNE_BASE;

	*now = 0;
	for (size_t i = 0; i < n; i++) {
		if (items[i].now_ns > *now)
			*now = items[i].now_ns;
		if (items[i].kind == GB_WRITE_APPEND && items[i].record_tags)
			limit += 2 * (size_t)items[i].record_count;
	}
	return limit;
}
