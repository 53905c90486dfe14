/* The store's contract, part one (gb_store_contract.h): streams. Appends
 * with dense offsets and the hash chain, reads from any offset and by
 * time, seq idempotence, the dense seq rule and conflicts, durable cursors
 * and persistence across a reopen, record-id dedupe, and a writer beside
 * a reader. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_chain.h"
#include "gb_error.h"
#include "gb_store.h"
#include "gb_store_contract.h"
#include "gb_store_test_util.h"
#include "gb_test.h"

/* ------------------------------------------------------------ streams */

static void test_append_and_read(void)
{
	static struct st_model tax, health;
	gb_store *s = NULL;
	uint8_t bufs[3][4096];
	uint64_t seq_tax = 0, seq_health = 0;
	gb_stream_info info;
	uint64_t seq;

	CHECK_RC(st_open_case("append", &s), 0);
	if (!s)
		return;
	st_model_init(&tax, "tax.invoices", 't');
	st_model_init(&health, "health.visits", 'h');

	for (int g = 0; g < 6; g++) {
		/* The clock steps back in group 3: stored time must still rise. */
		uint64_t now = g == 3 ? 1000 : 1000000 + (uint64_t)g * 1000;
		uint32_t counts[3] = {1 + (uint32_t)g * 3, 1000, 7};
		size_t lens[3] = {100 + (size_t)g * 10, 4000, 1};
		gb_write w[3];

		st_fill_batch(bufs[0], lens[0], 't', ++seq_tax);
		st_fill_batch(bufs[1], lens[1], 'h', ++seq_health);
		st_fill_batch(bufs[2], lens[2], 't', ++seq_tax);
		w[0] = st_append_item(tax.dataset, "tax-agent", seq_tax - 1,
				      counts[0], bufs[0], lens[0], now);
		w[1] = st_append_item(health.dataset, "health-agent", seq_health,
				      counts[1], bufs[1], lens[1], now);
		w[2] = st_append_item(tax.dataset, "tax-agent", seq_tax,
				      counts[2], bufs[2], lens[2], now);
		CHECK_RC(gb_store_write_group(s, w, 3), 0);
		st_model_accept(&tax, &w[0]);
		st_model_accept(&health, &w[1]);
		st_model_accept(&tax, &w[2]);
	}
	CHECK(tax.n == 12 && health.n == 6);
	st_check_stream(s, &tax, 0);
	st_check_stream(s, &health, 0);

	/* Start in the middle of a batch: that batch comes first. */
	CHECK(tax.b[4].count > 2);
	st_check_stream(s, &tax, tax.b[4].base + tax.b[4].count / 2);
	st_check_stream(s, &tax, tax.b[4].base + tax.b[4].count - 1);
	st_check_stream(s, &health, health.b[5].base + 999);

	/* Limits and early stops. */
	{
		struct st_read_check rc = {&tax, 0, 0, 0, 0, 0};

		CHECK(gb_store_read(s, tax.dataset, 0, 2, st_check_batch, &rc) == 2);
		CHECK(rc.visited == 2 && rc.mismatches == 0);
		rc = (struct st_read_check){&tax, 0, 0, 3, 0, 0};
		CHECK(gb_store_read(s, tax.dataset, 0, 100, st_check_batch, &rc) == 3);
		CHECK(rc.visited == 3);
		rc = (struct st_read_check){&tax, 0, 0, 0, GB_EPERM, 0};
		CHECK_RC(gb_store_read(s, tax.dataset, 0, 100, st_check_batch, &rc),
			 GB_EPERM);
		rc = (struct st_read_check){&tax, 0, 0, 0, 0, 0};
		CHECK(gb_store_read(s, tax.dataset, tax.next, 100, st_check_batch,
				    &rc) == 0);
		CHECK(gb_store_read(s, tax.dataset, UINT64_MAX, 100, st_check_batch,
				    &rc) == 0);
		CHECK(gb_store_read(s, tax.dataset, 0, 0, st_check_batch, &rc) == 0);
		CHECK(gb_store_read(s, "no.such", 0, 100, st_check_batch, &rc) == 0);
		CHECK(rc.visited == 0);
		CHECK_RC(gb_store_read(s, "", 0, 100, st_check_batch, &rc), GB_EINVAL);
		CHECK_RC(gb_store_read(s, tax.dataset, 0, 100, NULL, NULL),
			 GB_EINVAL);
	}

	CHECK_RC(gb_store_stream_info(s, "no.such", &info), 0);
	CHECK(info.next_offset == 0 && info.batch_count == 0 &&
	      info.last_time_ns == 0);
	CHECK_RC(gb_store_last_seq(s, tax.dataset, "tax-agent", &seq), 0);
	CHECK(seq == seq_tax);
	CHECK_RC(gb_store_last_seq(s, health.dataset, "health-agent", &seq), 0);
	CHECK(seq == seq_health);
	CHECK_RC(gb_store_last_seq(s, health.dataset, "tax-agent", &seq), 0);
	CHECK(seq == 0);
	{
		uint64_t bad = 77;

		CHECK_RC(gb_store_verify_stream(s, tax.dataset, &bad), 0);
		CHECK_RC(gb_store_verify_stream(s, health.dataset, &bad), 0);
		CHECK_RC(gb_store_verify_stream(s, "no.such", &bad), 0);
	}
	gb_store_close(&s);
	CHECK(s == NULL);
	gb_store_close(&s); /* NULL is fine */
	gb_store_close(NULL);
}

static void test_idempotence(void)
{
	static struct st_model a, b;
	gb_store *s = NULL;
	uint8_t d[8][64];
	gb_write w[8];
	gb_stream_info before, after;
	uint64_t seq;

	CHECK_RC(st_open_case("idem", &s), 0);
	if (!s)
		return;
	st_model_init(&a, "ds.a", 'a');
	st_model_init(&b, "ds.b", 'b');
	CHECK_RC(st_append_one(s, &a, "p", 1, 10, 64, 100), 0);
	CHECK_RC(st_append_one(s, &a, "p", 2, 5, 64, 200), 0);
	CHECK_RC(gb_store_stream_info(s, a.dataset, &before), 0);

	/* A group of retries only: all duplicates, nothing stored. */
	st_fill_batch(d[0], 64, 'a', 2);
	st_fill_batch(d[1], 64, 'a', 1);
	w[0] = st_append_item(a.dataset, "p", 2, 5, d[0], 64, 300);
	w[1] = st_append_item(a.dataset, "p", 1, 10, d[1], 64, 300);
	CHECK_RC(gb_store_write_group(s, w, 2), 0);
	CHECK(w[0].result == 0 && w[0].duplicate && w[0].base_offset == 10);
	CHECK(w[1].result == 0 && w[1].duplicate && w[1].base_offset == 0);
	CHECK_RC(gb_store_stream_info(s, a.dataset, &after), 0);
	CHECK(memcmp(&before, &after, sizeof before) == 0);

	/* Mixed group: retry, new stream, new seq, the same seq again in the
	 * group, a gap (seq 6 right after 4, last + 2), then seq 5 and a bad
	 * item. The gap is a conflict that stores nothing and leaves last at 4,
	 * so seq 5 after it is accepted; the good items must all succeed. */
	for (int i = 0; i < 8; i++)
		st_fill_batch(d[i], 64, i == 1 ? 'b' : 'a', (uint64_t)i + 100);
	st_fill_batch(d[2], 64, 'a', 3);
	st_fill_batch(d[4], 64, 'a', 4);
	st_fill_batch(d[6], 64, 'a', 5);
	st_fill_batch(d[1], 64, 'b', 1);
	w[0] = st_append_item(a.dataset, "p", 2, 5, d[0], 64, 400);
	w[1] = st_append_item(b.dataset, "p", 1, 3, d[1], 64, 400);
	w[2] = st_append_item(a.dataset, "p", 3, 2, d[2], 64, 400);
	w[3] = st_append_item(a.dataset, "p", 3, 2, d[2], 64, 400);
	w[4] = st_append_item(a.dataset, "p", 4, 1, d[4], 64, 400);
	w[5] = st_append_item(a.dataset, "p", 6, 4, d[5], 64, 400);
	w[6] = st_append_item(a.dataset, "p", 5, 4, d[6], 64, 400);
	w[7] = st_append_item(a.dataset, "p", 7, 0, d[7], 64, 400);
	CHECK_RC(gb_store_write_group(s, w, 8), 0);
	CHECK(w[0].result == 0 && w[0].duplicate && w[0].base_offset == 10);
	st_model_accept(&b, &w[1]);
	st_model_accept(&a, &w[2]);
	CHECK(w[3].result == 0 && w[3].duplicate &&
	      w[3].base_offset == w[2].base_offset);
	st_model_accept(&a, &w[4]);
	CHECK_RC(w[5].result, GB_ECONFLICT);
	CHECK(w[5].base_offset == 0 && w[5].broker_time_ns == 0);
	st_model_accept(&a, &w[6]);
	CHECK_RC(w[7].result, GB_EINVAL);
	CHECK(!w[5].duplicate && !w[7].duplicate);
	st_check_stream(s, &a, 0);
	st_check_stream(s, &b, 0);
	CHECK_RC(gb_store_last_seq(s, a.dataset, "p", &seq), 0);
	CHECK(seq == 5);
	/* Seq 6 was never stored: now it is last + 1 and is no retry. */
	st_fill_batch(d[5], 64, 'a', 6);
	w[0] = st_append_item(a.dataset, "p", 6, 4, d[5], 64, 450);
	CHECK_RC(gb_store_write_group(s, w, 1), 0);
	st_model_accept(&a, &w[0]);
	st_check_stream(s, &a, 0);

	/* Invalid items are rejected alone. */
	{
		char long_name[300];
		gb_write v[8];

		memset(long_name, 'x', sizeof long_name - 1);
		long_name[sizeof long_name - 1] = 0;
		st_fill_batch(d[0], 64, 'a', 7);
		v[0] = st_append_item("", "p", 7, 1, d[0], 64, 500);
		v[1] = st_append_item(a.dataset, NULL, 7, 1, d[0], 64, 500);
		v[2] = st_append_item(a.dataset, "p", 7, 1, d[0], 0, 500);
		v[3] = st_append_item(a.dataset, "p", 7, 1, NULL, 64, 500);
		v[4] = st_append_item(long_name, "p", 7, 1, d[0], 64, 500);
		v[5] = st_append_item(a.dataset, "p", 7, 1, d[0], 64, 500);
		v[6] = st_append_item(a.dataset, "q", 0, 1, d[0], 64, 500);
		v[7] = v[5];
		v[7].kind = (gb_write_kind)7;
		CHECK_RC(gb_store_write_group(s, v, 8), 0);
		for (int i = 0; i < 8; i++)
			if (i != 5)
				CHECK_RC(v[i].result, GB_EINVAL);
		st_model_accept(&a, &v[5]);
		st_check_stream(s, &a, 0);
	}

	/* Producers whose names sort next to each other stay apart, also
	 * after a reopen. Stored seqs are dense from 1, so every producer
	 * gets a different last seq: a lookup that strayed into a
	 * neighbour's would show. "ds2" sorts last. */
	{
		static const struct {
			const char *ds, *prod;
			uint64_t last;
		} prods[] = {
			{"ds", "p", 3}, {"ds", "p2", 5}, {"ds", "o", 4}, {"ds2", "p", 2},
		};
		gb_write p[16];
		size_t np = 0;

		st_fill_batch(d[0], 64, 'a', 1);
		for (size_t i = 0; i < sizeof prods / sizeof prods[0]; i++)
			for (uint64_t q = 1; q <= prods[i].last; q++)
				p[np++] = st_append_item(prods[i].ds, prods[i].prod, q,
							 1, d[0], 64, 1);
		CHECK_RC(gb_store_write_group(s, p, np), 0);
		for (size_t i = 0; i < np; i++)
			CHECK(p[i].result == 0 && !p[i].duplicate);
		gb_store_close(&s);

		CHECK_RC(st_open_case("idem", &s), 0);
		if (!s)
			return;
		for (size_t i = 0; i < sizeof prods / sizeof prods[0]; i++) {
			seq = 77;
			CHECK_RC(gb_store_last_seq(s, prods[i].ds, prods[i].prod,
						   &seq), 0);
			CHECK(seq == prods[i].last);
		}
		CHECK_RC(gb_store_last_seq(s, "ds", "q", &seq), 0);
		CHECK(seq == 0);
		CHECK_RC(gb_store_last_seq(s, "d", "p", &seq), 0);
		CHECK(seq == 0);
		CHECK_RC(gb_store_last_seq(s, "ds", "", &seq), GB_EINVAL);
		/* Each producer's next seq is its own last + 1, not a
		 * neighbour's: "p" (3) sorts right before "p2" (5). */
		p[0] = st_append_item("ds", "p2", 7, 1, d[0], 64, 1);
		p[1] = st_append_item("ds", "p", 4, 1, d[0], 64, 1);
		p[2] = st_append_item("ds", "p2", 6, 1, d[0], 64, 1);
		p[3] = st_append_item("ds2", "p", 3, 1, d[0], 64, 1);
		CHECK_RC(gb_store_write_group(s, p, 4), 0);
		CHECK_RC(p[0].result, GB_ECONFLICT);
		CHECK(p[1].result == 0 && !p[1].duplicate);
		CHECK(p[2].result == 0 && !p[2].duplicate);
		CHECK(p[3].result == 0 && !p[3].duplicate &&
		      p[3].base_offset == 2);
	}
	gb_store_close(&s);
}

/* ------------------------------------------------------------ seq rule */

static void test_sequence_rule(void)
{
	static struct st_model m;
	gb_store *s = NULL;
	uint8_t d[7][40];
	gb_write w[7];
	gb_stream_info info;
	uint64_t seq;

	CHECK_RC(st_open_case("seqrule", &s), 0);
	if (!s)
		return;
	st_model_init(&m, "ds.seq", 's');

	/* A producer's first seq must be 1, on a known or a new stream. */
	st_fill_batch(d[0], 40, 's', 2);
	w[0] = st_append_item(m.dataset, "p", 2, 1, d[0], 40, 10);
	w[1] = st_append_item(m.dataset, "p", UINT64_MAX, 1, d[0], 40, 10);
	w[2] = st_append_item("ds.none", "p", 2, 1, d[0], 40, 10);
	CHECK_RC(gb_store_write_group(s, w, 3), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_RC(w[i].result, GB_ECONFLICT);
		CHECK(!w[i].duplicate);
	}
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 0);
	CHECK_RC(gb_store_stream_info(s, m.dataset, &info), 0);
	CHECK(info.next_offset == 0 && info.batch_count == 0);
	CHECK_RC(gb_store_stream_info(s, "ds.none", &info), 0);
	CHECK(info.next_offset == 0 && info.batch_count == 0);
	CHECK_RC(st_append_one(s, &m, "p", 1, 2, 40, 10), 0);

	/* Inside a group, "last" is what the group stored so far. A gap
	 * (last + 2) stores nothing and does not disturb the items before
	 * or after it; a batch behind one that failed cannot overtake it. */
	st_fill_batch(d[0], 40, 's', 3);
	st_fill_batch(d[1], 40, 's', 2);
	st_fill_batch(d[2], 40, 's', 4);
	st_fill_batch(d[3], 40, 's', 3);
	st_fill_batch(d[4], 40, 's', 1);
	st_fill_batch(d[5], 40, 's', 4);
	st_fill_batch(d[6], 40, 's', 5);
	w[0] = st_append_item(m.dataset, "p", 3, 1, d[0], 40, 20);
	w[1] = st_append_item(m.dataset, "p", 2, 1, d[1], 40, 20);
	w[2] = st_append_item(m.dataset, "p", 4, 1, d[2], 40, 20);
	w[3] = st_append_item(m.dataset, "p", 3, 1, d[3], 40, 20);
	w[4] = st_append_item(m.dataset, "q", 1, 1, d[4], 40, 20);
	w[5] = st_append_item(m.dataset, "p", 4, 0, d[5], 40, 20); /* bad count */
	w[6] = st_append_item(m.dataset, "p", 5, 1, d[6], 40, 20);
	CHECK_RC(gb_store_write_group(s, w, 7), 0);
	CHECK_RC(w[0].result, GB_ECONFLICT);
	st_model_accept(&m, &w[1]);
	CHECK_RC(w[2].result, GB_ECONFLICT);
	st_model_accept(&m, &w[3]);
	st_model_accept(&m, &w[4]);
	CHECK_RC(w[5].result, GB_EINVAL);
	CHECK_RC(w[6].result, GB_ECONFLICT);
	for (int i = 0; i < 7; i++)
		if (w[i].result != 0)
			CHECK(!w[i].duplicate && w[i].base_offset == 0);
	st_check_stream(s, &m, 0);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 3);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "q", &seq), 0);
	CHECK(seq == 1);
	/* The failed seq is still storable, then the one behind it. */
	CHECK_RC(st_append_one(s, &m, "p", 4, 1, 40, 30), 0);
	CHECK_RC(st_append_one(s, &m, "p", 5, 1, 40, 30), 0);
	st_check_stream(s, &m, 0);
	CHECK_RC(gb_store_verify_stream(s, m.dataset, NULL), 0);
	gb_store_close(&s);
}

static void test_offset_for_time(void)
{
	static struct st_model m;
	gb_store *s = NULL;
	uint64_t off;
	struct {
		uint64_t t, want;
	} cases[] = {
		{0, 0},     {1, 0},     {1000, 0},  {1001, 5},  {2000, 5},
		{2500, 8},  {3000, 8},  {3001, 12}, {3002, 13}, {UINT64_MAX, 13},
	};

	CHECK_RC(st_open_case("time", &s), 0);
	if (!s)
		return;
	st_model_init(&m, "ds.time", 'x');
	CHECK_RC(st_append_one(s, &m, "p", 1, 5, 10, 1000), 0);
	CHECK_RC(st_append_one(s, &m, "p", 2, 3, 10, 2000), 0);
	CHECK_RC(st_append_one(s, &m, "p", 3, 4, 10, 3000), 0);
	/* The clock went back: stored as 3001. */
	CHECK_RC(st_append_one(s, &m, "p", 4, 1, 10, 1500), 0);
	CHECK(m.b[3].time == 3001 && m.next == 13);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		off = 999;
		CHECK_RC(gb_store_offset_for_time(s, m.dataset, cases[i].t, &off), 0);
		if (off != cases[i].want)
			fprintf(stderr, "time %llu: offset %llu, wanted %llu\n",
				(unsigned long long)cases[i].t,
				(unsigned long long)off,
				(unsigned long long)cases[i].want);
		CHECK(off == cases[i].want);
	}
	off = 999;
	CHECK_RC(gb_store_offset_for_time(s, "no.such", 5, &off), 0);
	CHECK(off == 0);

	/* Many single-record batches: the search must hit each boundary. */
	{
		static struct st_model many;

		st_model_init(&many, "ds.many", 'y');
		for (uint64_t i = 1; i <= 100; i++)
			CHECK_RC(st_append_one(s, &many, "p", i, (uint32_t)(i % 3 + 1),
					       8, i * 10), 0);
		for (size_t i = 0; i < many.n; i++) {
			CHECK_RC(gb_store_offset_for_time(s, many.dataset,
							  many.b[i].time, &off), 0);
			CHECK(off == many.b[i].base);
			CHECK_RC(gb_store_offset_for_time(s, many.dataset,
							  many.b[i].time - 1, &off), 0);
			CHECK(off == many.b[i].base);
			CHECK_RC(gb_store_offset_for_time(s, many.dataset,
							  many.b[i].time + 1, &off), 0);
			CHECK(off == many.b[i].base + many.b[i].count);
		}
	}
	gb_store_close(&s);
}

static void test_cursors_and_reopen(void)
{
	static struct st_model m;
	gb_store *s = NULL;
	gb_stream_info before, after;
	uint64_t next, seq;
	gb_write w[5];

	CHECK_RC(st_open_case("reopen", &s), 0);
	if (!s)
		return;
	st_model_init(&m, "ds.keep", 'k');
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "daily", &next),
		 GB_ENOTFOUND);
	for (uint64_t i = 1; i <= 5; i++)
		CHECK_RC(st_append_one(s, &m, "p", i, (uint32_t)i, 32, i), 0);

	w[0] = st_cursor_item("health", m.dataset, "daily", 7);
	w[1] = st_cursor_item("health", m.dataset, "weekly", 3);
	w[2] = st_cursor_item("health", m.dataset, "", 3);
	w[3] = st_cursor_item("tax", m.dataset, "daily", 11);
	w[4] = st_cursor_item("health", NULL, "daily", 3);
	CHECK_RC(gb_store_write_group(s, w, 5), 0);
	CHECK(w[0].result == 0 && w[1].result == 0 && w[3].result == 0);
	CHECK_RC(w[2].result, GB_EINVAL);
	CHECK_RC(w[4].result, GB_EINVAL);
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "daily", &next), 0);
	CHECK(next == 7);
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "weekly", &next), 0);
	CHECK(next == 3);
	CHECK_RC(gb_store_cursor_get(s, "tax", m.dataset, "daily", &next), 0);
	CHECK(next == 11);
	w[0] = st_cursor_item("health", m.dataset, "daily", 9);
	CHECK_RC(gb_store_write_group(s, w, 1), 0);
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "daily", &next), 0);
	CHECK(next == 9);
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "", &next), GB_EINVAL);

	CHECK_RC(gb_store_stream_info(s, m.dataset, &before), 0);
	gb_store_close(&s);

	CHECK_RC(st_open_case("reopen", &s), 0);
	if (!s)
		return;
	CHECK_RC(gb_store_stream_info(s, m.dataset, &after), 0);
	CHECK(memcmp(&before, &after, sizeof before) == 0);
	CHECK(after.next_offset == 15 && after.batch_count == 5);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 5);
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "daily", &next), 0);
	CHECK(next == 9);
	st_check_stream(s, &m, 0);
	/* The chain continues across the reopen; retries are still known
	 * and the next seq is still exactly last + 1. */
	{
		uint8_t data[32];

		st_fill_batch(data, sizeof data, 'k', 7);
		w[0] = st_append_item(m.dataset, "p", 7, 2, data, sizeof data, 1);
		CHECK_RC(gb_store_write_group(s, w, 1), 0);
		CHECK_RC(w[0].result, GB_ECONFLICT);
	}
	CHECK_RC(st_append_one(s, &m, "p", 6, 2, 32, 1), 0);
	{
		uint8_t data[32];

		st_fill_batch(data, sizeof data, 'k', 2);
		w[0] = st_append_item(m.dataset, "p", 2, 2, data, sizeof data, 1);
		CHECK_RC(gb_store_write_group(s, w, 1), 0);
		CHECK(w[0].result == 0 && w[0].duplicate &&
		      w[0].base_offset == 1);
	}
	st_check_stream(s, &m, 0);
	CHECK_RC(gb_store_verify_stream(s, m.dataset, NULL), 0);
	gb_store_close(&s);

}

/* ------------------------------------------------------------ dedupe */

/* Tags of ids "t<k>", one per record; k = 0 gives a zero tag (no id). */
static void make_tags(uint8_t *tags, const unsigned *ids, size_t n)
{
	memset(tags, 0, n * 16);
	for (size_t i = 0; i < n; i++)
		if (ids[i]) {
			tags[i * 16] = (uint8_t)ids[i];
			tags[i * 16 + 15] = 0xee;
		}
}

/* Publish a batch of `n` records with the tags of `ids` at `now`. */
static gb_write tagged(struct st_model *m, const char *producer, uint64_t seq,
		       const unsigned *ids, uint32_t n, uint64_t now,
		       uint8_t *data, uint8_t *tags, uint32_t *dups)
{
	gb_write w;

	st_fill_batch(data, 64, m->tag, seq);
	make_tags(tags, ids, n);
	w = st_append_item(m->dataset, producer, seq, n, data, 64, now);
	w.record_tags = tags;
	w.dup_records = dups;
	return w;
}

static void test_dedupe(void)
{
	static struct st_model m, q; /* q: only its batches' bytes */
	gb_store *s = NULL;
	uint8_t data[2][64], tags[2][8 * 16];
	uint32_t dups[2][8];
	gb_write w[2];
	gb_stream_info info;
	uint64_t seq;
	size_t entries;

	CHECK_RC(st_open_case("dedupe", &s), 0);
	if (!s)
		return;
	st_model_init(&m, "ds.dedupe", 'd');
	st_model_init(&q, "ds.dedupe", 'd');
	gb_store_set_dedupe_window(s, 100);

	/* New ids are stored and entered. */
	w[0] = tagged(&m, "p", 1, (unsigned[]){1, 2, 3}, 3, 1000, data[0],
		      tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate && w[0].dup_count == 0 && w[0].base_offset == 0);
	st_model_accept(&m, &w[0]);

	/* All stored before: nothing appended, the seq is used, the offset
	 * is the first record's; a retry of that seq says the same. */
	w[0] = tagged(&m, "p", 2, (unsigned[]){1, 2, 3}, 3, 1050, data[0],
		      tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	CHECK(w[0].duplicate && w[0].dup_count == 3 && w[0].base_offset == 0);
	CHECK_RC(gb_store_stream_info(s, m.dataset, &info), 0);
	CHECK(info.next_offset == 3 && info.batch_count == 1);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 2);
	w[0] = tagged(&m, "p", 2, (unsigned[]){1, 2, 3}, 3, 1060, data[0],
		      tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	CHECK(w[0].duplicate && w[0].base_offset == 0);

	/* Some stored before: refused with their indexes, nothing stored. */
	w[0] = tagged(&m, "p", 3, (unsigned[]){4, 3, 5, 1}, 4, 1070, data[0],
		      tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), GB_EDUPLICATE);
	CHECK(w[0].dup_count == 2 && dups[0][0] == 1 && dups[0][1] == 3);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 2);
	/* The same seq without them goes in. */
	w[0] = tagged(&m, "p", 3, (unsigned[]){4, 5}, 2, 1070, data[0],
		      tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate && w[0].base_offset == 3);
	st_model_accept(&m, &w[0]);

	/* A record repeating an earlier one of its batch is a duplicate;
	 * records without ids never are. */
	w[0] = tagged(&m, "p", 4, (unsigned[]){6, 0, 6, 7, 0}, 5, 1080,
		      data[0], tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), GB_EDUPLICATE);
	CHECK(w[0].dup_count == 1 && dups[0][0] == 2);
	w[0] = tagged(&m, "p", 4, (unsigned[]){0, 0}, 2, 1080, data[0],
		      tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	st_model_accept(&m, &w[0]);
	w[0] = tagged(&m, "p", 5, (unsigned[]){0, 0}, 2, 1081, data[0],
		      tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate);
	st_model_accept(&m, &w[0]);

	/* Two batches of one group with the same id: the second is a
	 * duplicate of the first, which the group has just stored. */
	w[0] = tagged(&m, "p", 6, (unsigned[]){8}, 1, 1090, data[0], tags[0],
		      dups[0]);
	w[1] = tagged(&m, "p", 7, (unsigned[]){8}, 1, 1090, data[1], tags[1],
		      dups[1]);
	CHECK_RC(gb_store_write_group(s, w, 2), 0);
	CHECK_RC(w[0].result, 0);
	CHECK_RC(w[1].result, 0);
	CHECK(!w[0].duplicate && w[1].duplicate &&
	      w[1].base_offset == w[0].base_offset);
	st_model_accept(&m, &w[0]);

	/* Ids are per producer. */
	w[0] = tagged(&q, "q", 1, (unsigned[]){1}, 1, 1095, data[0], tags[0],
		      dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate);
	st_model_accept(&m, &w[0]); /* the same stream and batch bytes */

	/* After the window (stored at 1000, window 100) id 1 is new again;
	 * without a window nothing is checked. */
	w[0] = tagged(&m, "p", 8, (unsigned[]){1, 2}, 2, 1100, data[0],
		      tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate && w[0].dup_count == 0);
	st_model_accept(&m, &w[0]);
	w[0] = tagged(&m, "p", 9, (unsigned[]){1, 2}, 2, 1110, data[0],
		      tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	CHECK(w[0].duplicate); /* entered again at 1100 */
	/* Without tags' room the item is refused alone. */
	w[0] = tagged(&m, "p", 10, (unsigned[]){9}, 1, 1130, data[0], tags[0],
		      dups[0]);
	w[0].dup_records = NULL;
	CHECK_RC(st_write_one(s, &w[0]), GB_EINVAL);
	gb_store_close(&s);

	/* Entries live on across a restart, and expire by broker time: a
	 * later group removes them. */
	if (st_be->dedupe_entries) {
		CHECK(st_be->dedupe_entries("dedupe", &entries) == 0);
		CHECK(entries == 6); /* 1 2 (1100), 4 5, 8, q's 1 */
	}
	CHECK_RC(st_open_case("dedupe", &s), 0);
	if (!s)
		return;
	gb_store_set_dedupe_window(s, 100);
	w[0] = tagged(&m, "p", 10, (unsigned[]){4, 9}, 2, 1150, data[0],
		      tags[0], dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), GB_EDUPLICATE); /* 4 is from 1070 */
	w[0] = tagged(&m, "p", 10, (unsigned[]){9}, 1, 5000, data[0], tags[0],
		      dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	st_model_accept(&m, &w[0]);
	gb_store_close(&s);
	if (st_be->dedupe_entries) {
		CHECK(st_be->dedupe_entries("dedupe", &entries) == 0);
		CHECK(entries == 1); /* only id 9, from 5000 */
	}

	/* Without a window nothing is checked and old entries drain. */
	CHECK_RC(st_open_case("dedupe", &s), 0);
	if (!s)
		return;
	w[0] = tagged(&m, "p", 11, (unsigned[]){9}, 1, 5010, data[0], tags[0],
		      dups[0]);
	CHECK_RC(st_write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate);
	st_model_accept(&m, &w[0]);
	st_check_stream(s, &m, 0);
	CHECK_RC(gb_store_verify_stream(s, m.dataset, NULL), 0);
	gb_store_close(&s);
	if (st_be->dedupe_entries) {
		CHECK(st_be->dedupe_entries("dedupe", &entries) == 0);
		CHECK(entries == 0);
	}
}

/* ------------------------------------------------------------ threads */

/* A writer beside a reader: every read sees a dense, chained stream. */
static void test_threads(void)
{
	gb_store *s = NULL;

	CHECK_RC(st_open_case("threads", &s), 0);
	if (!s)
		return;
	st_writer_beside_reader(s, 512);
	gb_store_close(&s);
}

int st_contract_streams(void)
{
	test_append_and_read();
	test_idempotence();
	test_sequence_rule();
	test_offset_for_time();
	test_cursors_and_reopen();
	test_dedupe();
	test_threads();
	return gb_test_failures;
}
