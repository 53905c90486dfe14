/* Tests of the LMDB backend's producer seqs (lmdb/gb_lmdb_pseq.c) at the
 * ends of the pseq key space, which dense seqs never reach: a producer
 * whose last seq is UINT64_MAX - 1 (its seek runs to the very end of its
 * keys), one with a lone seq 7 (a store written before seqs had to be
 * dense), and neighbours whose keys sort next to them. Both are planted
 * in the data file behind the store's back (gb_lmdb_raw). */
#include <stdint.h>
#include <string.h>

#include "gb_error.h"
#include "gb_lmdb_raw.h"
#include "gb_store.h"
#include "gb_store_test_util.h"
#include "gb_test.h"

static void test_key_space_ends(void)
{
	static const struct {
		const char *ds, *prod;
		uint64_t last;
	} prods[] = {
		{"ds", "p", 3}, {"ds", "p2", 5}, {"ds", "o", 4}, {"ds2", "p", 2},
	};
	char dir[128];
	gb_store *s = NULL;
	uint8_t d[64];
	gb_write p[16];
	size_t np = 0;
	uint64_t seq;

	st_case_dir(dir, sizeof dir, "pseq");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	st_fill_batch(d, sizeof d, 'a', 1);
	for (size_t i = 0; i < sizeof prods / sizeof prods[0]; i++)
		for (uint64_t q = 1; q <= prods[i].last; q++)
			p[np++] = st_append_item(prods[i].ds, prods[i].prod, q,
						 1, d, sizeof d, 1);
	CHECK_RC(gb_store_write_group(s, p, np), 0);
	gb_store_close(&s);

	/* Base offsets 1000 and 2000 mark the planted seqs. */
	CHECK(raw_put_pseq(dir, "ds", "max", UINT64_MAX - 1, 1000, 1) == 0);
	CHECK(raw_put_pseq(dir, "ds", "old", 7, 2000, 1) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	CHECK_RC(gb_store_last_seq(s, "ds", "max", &seq), 0);
	CHECK(seq == UINT64_MAX - 1);
	p[0] = st_append_item("ds", "max", UINT64_MAX, 1, d, sizeof d, 1);
	p[1] = st_append_item("ds", "max", UINT64_MAX, 1, d, sizeof d, 1);
	p[2] = st_append_item("ds", "max", UINT64_MAX - 1, 1, d, sizeof d, 1);
	/* last + 1 wraps to 0: every seq is now <= last. */
	p[3] = st_append_item("ds", "max", 1, 1, d, sizeof d, 1);
	p[4] = st_append_item("ds", "old", 3, 1, d, sizeof d, 1);
	p[5] = st_append_item("ds", "old", 7, 1, d, sizeof d, 1);
	p[6] = st_append_item("ds", "old", 8, 1, d, sizeof d, 1);
	CHECK_RC(gb_store_write_group(s, p, 7), 0);
	CHECK(p[0].result == 0 && !p[0].duplicate &&
	      p[0].base_offset == 12); /* 3 + 5 + 4 records before */
	CHECK(p[1].result == 0 && p[1].duplicate &&
	      p[1].base_offset == p[0].base_offset);
	CHECK(p[2].result == 0 && p[2].duplicate &&
	      p[2].base_offset == 1000);
	CHECK_RC(p[3].result, GB_ECONFLICT);
	/* Below last and never stored. */
	CHECK_RC(p[4].result, GB_ECONFLICT);
	CHECK(!p[4].duplicate);
	CHECK(p[5].result == 0 && p[5].duplicate &&
	      p[5].base_offset == 2000);
	CHECK(p[6].result == 0 && !p[6].duplicate &&
	      p[6].base_offset == 13);
	CHECK_RC(gb_store_last_seq(s, "ds", "max", &seq), 0);
	CHECK(seq == UINT64_MAX);
	CHECK_RC(gb_store_last_seq(s, "ds", "old", &seq), 0);
	CHECK(seq == 8);
	/* The neighbours are untouched. */
	for (size_t i = 0; i < sizeof prods / sizeof prods[0]; i++) {
		seq = 77;
		CHECK_RC(gb_store_last_seq(s, prods[i].ds, prods[i].prod, &seq), 0);
		CHECK(seq == prods[i].last);
	}
	gb_store_close(&s);
}

int main(void)
{
	if (!st_root_init("gb_lmdb_pseq_test"))
		return 1;
	test_key_space_ends();
	st_root_remove();
	gb_test_failures += st_failures();
	TEST_EXIT();
}
