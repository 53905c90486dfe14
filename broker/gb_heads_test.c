/* Tests of gb_heads: a stream's head is read from the store on first use
 * (0 for a stream never written), then kept by the table: it follows
 * gb_heads_advance, never moves back, and does not re-read the store;
 * many streams grow the table. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gb_broker_fixture.h"
#include "gb_heads.h"
#include "gb_test.h"

/* Append one batch of `records` records to `dataset` as producer tax. */
static void append(gb_store *s, const char *dataset, uint64_t seq,
		   uint32_t records)
{
	gb_write w;

	memset(&w, 0, sizeof w);
	w.kind = GB_WRITE_APPEND;
	w.dataset = dataset;
	w.producer = "tax";
	w.producer_seq = seq;
	w.record_count = records;
	w.signed_batch = (const uint8_t *)"batch";
	w.signed_batch_len = 5;
	w.now_ns = 1;
	CHECK_RC(gb_store_write_group(s, &w, 1), 0);
	CHECK_RC(w.result, 0);
}

int main(void)
{
	gb_store *s = gb_fixture_store("heads");
	gb_heads *h = NULL;
	uint64_t next = 99;

	if (!s)
		return 1;
	CHECK_RC(gb_heads_new(s, &h), 0);
	if (!h)
		return 1;

	/* Never written: 0. Written before first use: what the store says. */
	CHECK_RC(gb_heads_get(h, "tax.empty", &next), 0);
	CHECK(next == 0);
	append(s, "tax.invoices", 1, 3);
	append(s, "tax.invoices", 2, 2);
	CHECK_RC(gb_heads_get(h, "tax.invoices", &next), 0);
	CHECK(next == 5);

	/* Once known, the table answers: a commit counts when its result is
	 * reported, not before. */
	append(s, "tax.invoices", 3, 4);
	CHECK_RC(gb_heads_get(h, "tax.invoices", &next), 0);
	CHECK(next == 5);
	gb_heads_advance(h, "tax.invoices", 9);
	CHECK_RC(gb_heads_get(h, "tax.invoices", &next), 0);
	CHECK(next == 9);

	/* A late or repeated result never moves a head back. */
	gb_heads_advance(h, "tax.invoices", 5);
	CHECK_RC(gb_heads_get(h, "tax.invoices", &next), 0);
	CHECK(next == 9);

	/* A stream not loaded yet is left to the store. */
	gb_heads_advance(h, "tax.other", 7);
	CHECK_RC(gb_heads_get(h, "tax.other", &next), 0);
	CHECK(next == 0);

	/* More streams than the first allocation holds. */
	for (int i = 0; i < 40; i++) {
		char name[32];

		snprintf(name, sizeof name, "tax.s%02d", i);
		CHECK_RC(gb_heads_get(h, name, &next), 0);
		gb_heads_advance(h, name, (uint64_t)i + 1);
	}
	for (int i = 0; i < 40; i++) {
		char name[32];

		snprintf(name, sizeof name, "tax.s%02d", i);
		CHECK_RC(gb_heads_get(h, name, &next), 0);
		CHECK(next == (uint64_t)i + 1);
	}
	CHECK_RC(gb_heads_get(h, "tax.invoices", &next), 0);
	CHECK(next == 9);

	gb_heads_destroy(&h);
	CHECK(h == NULL);
	gb_heads_destroy(&h); /* NULL is fine */
	gb_store_close(&s);
	gb_fixture_cleanup();
	TEST_EXIT();
}
