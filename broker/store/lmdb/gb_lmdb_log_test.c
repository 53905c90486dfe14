/* Tests of the LMDB backend's log reads against a damaged data file
 * (lmdb/gb_lmdb_log.c, gb_lmdb_stream.c): a flipped byte, a moved time, a
 * value cut short or left a bare header, a missing entry at the end or in
 * the middle, a wrong head hash and a malformed stream record are found by
 * gb_store_verify_stream and refused by reads with GB_ECORRUPT, and only
 * the damaged stream is affected. The file is changed with LMDB directly
 * (gb_lmdb_raw) between a close and a reopen of the store. */
#include <stdint.h>
#include <string.h>

#include "gb_error.h"
#include "gb_lmdb_raw.h"
#include "gb_store.h"
#include "gb_store_test_util.h"
#include "gb_test.h"

/* Damage of every kind found by verify and by reads, never a crash. */
static void test_corruption(void)
{
	static struct st_model m, other;
	char dir[128];
	gb_store *s = NULL;
	uint64_t bad;
	struct st_read_check rc;
	gb_stream_info info;
	uint64_t off;

	st_case_dir(dir, sizeof dir, "corrupt");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	st_model_init(&m, "ds.c", 'c');
	st_model_init(&other, "ds.other", 'o');
	for (uint64_t i = 1; i <= 5; i++) {
		CHECK_RC(st_append_one(s, &m, "p", i, (uint32_t)i + 1, 200, i * 100), 0);
		CHECK_RC(st_append_one(s, &other, "p", i, 1, 50, i * 100), 0);
	}
	CHECK_RC(gb_store_verify_stream(s, m.dataset, &bad), 0);
	gb_store_close(&s);

	/* One flipped byte in the batch bytes of batch 2. */
	CHECK(raw_damage(dir, m.dataset, m.b[2].base, GB_STORED_HEADER_BYTES + 200,
			 GB_STORED_HEADER_BYTES + 17) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	bad = 0;
	CHECK_RC(gb_store_verify_stream(s, m.dataset, &bad), GB_ECORRUPT);
	CHECK(bad == m.b[2].base);
	CHECK_RC(gb_store_verify_stream(s, other.dataset, &bad), 0);
	gb_store_close(&s);

	/* Undo it, then flip the stored time of batch 3 instead. */
	CHECK(raw_damage(dir, m.dataset, m.b[2].base, GB_STORED_HEADER_BYTES + 200,
			 GB_STORED_HEADER_BYTES + 17) == 0);
	CHECK(raw_damage(dir, m.dataset, m.b[3].base, GB_STORED_HEADER_BYTES + 200,
			 7) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	bad = 0;
	CHECK_RC(gb_store_verify_stream(s, m.dataset, &bad), GB_ECORRUPT);
	CHECK(bad == m.b[3].base);
	gb_store_close(&s);
	CHECK(raw_damage(dir, m.dataset, m.b[3].base, GB_STORED_HEADER_BYTES + 200,
			 7) == 0);

	/* A value cut short of its header: reads fail cleanly. */
	CHECK(raw_damage(dir, m.dataset, m.b[3].base, 20, 99) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	CHECK_RC(gb_store_verify_stream(s, m.dataset, &bad), GB_ECORRUPT);
	CHECK(bad == m.b[3].base);
	rc = (struct st_read_check){&m, 0, 0, 0, 0, 0};
	CHECK_RC(gb_store_read(s, m.dataset, 0, 100, st_check_batch, &rc),
		 GB_ECORRUPT);
	CHECK(rc.visited == 3 && rc.mismatches == 0);
	rc = (struct st_read_check){&m, 3, 0, 0, 0, 0};
	CHECK_RC(gb_store_read(s, m.dataset, m.b[3].base + 1, 100, st_check_batch,
			       &rc), GB_ECORRUPT);
	CHECK(rc.visited == 0);
	rc = (struct st_read_check){&m, 4, 0, 0, 0, 0};
	CHECK(gb_store_read(s, m.dataset, m.b[4].base, 100, st_check_batch, &rc) == 1);
	/* The search may or may not touch batch 3; it must not crash. */
	{
		int r = gb_store_offset_for_time(s, m.dataset, 350, &off);

		CHECK(r == 0 || r == GB_ECORRUPT);
	}
	st_check_stream(s, &other, 0);
	gb_store_close(&s);

	/* A value that is only a header (no batch bytes) is corrupt too. */
	CHECK(raw_damage(dir, m.dataset, m.b[4].base, GB_STORED_HEADER_BYTES,
			 999) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	rc = (struct st_read_check){&m, 4, 0, 0, 0, 0};
	CHECK_RC(gb_store_read(s, m.dataset, m.b[4].base, 100, st_check_batch, &rc),
		 GB_ECORRUPT);
	CHECK(rc.visited == 0);
	gb_store_close(&s);

	/* The last batch gone: the head no longer matches the log. */
	CHECK(raw_delete_log(dir, other.dataset, other.b[4].base) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	bad = 0;
	CHECK_RC(gb_store_verify_stream(s, other.dataset, &bad), GB_ECORRUPT);
	CHECK(bad == other.b[4].base);
	rc = (struct st_read_check){&other, 0, 0, 0, 0, 0};
	CHECK_RC(gb_store_read(s, other.dataset, 0, 100, st_check_batch, &rc),
		 GB_ECORRUPT);
	CHECK(rc.visited == 4);
	gb_store_close(&s);

	/* A batch missing in the middle: reads and verify stop there. */
	CHECK(raw_delete_log(dir, m.dataset, m.b[1].base) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	bad = 0;
	CHECK_RC(gb_store_verify_stream(s, m.dataset, &bad), GB_ECORRUPT);
	CHECK(bad == m.b[1].base);
	rc = (struct st_read_check){&m, 0, 0, 0, 0, 0};
	CHECK_RC(gb_store_read(s, m.dataset, 0, 100, st_check_batch, &rc),
		 GB_ECORRUPT);
	CHECK(rc.visited == 1);
	gb_store_close(&s);

	/* Only the head's hash is wrong (byte 28 starts it). */
	{
		static struct st_model h;

		CHECK_RC(gb_store_open(dir, 0, &s), 0);
		if (!s)
			return;
		st_model_init(&h, "ds.head", 'h');
		CHECK_RC(st_append_one(s, &h, "p", 1, 4, 30, 1), 0);
		CHECK_RC(st_append_one(s, &h, "p", 2, 4, 30, 2), 0);
		gb_store_close(&s);
		CHECK(raw_flip_stream(dir, h.dataset, 28 + 31) == 0);
		CHECK_RC(gb_store_open(dir, 0, &s), 0);
		if (!s)
			return;
		bad = 0;
		CHECK_RC(gb_store_verify_stream(s, h.dataset, &bad), GB_ECORRUPT);
		CHECK(bad == 8);
		gb_store_close(&s);
	}

	/* A malformed stream record: that dataset fails, others work. */
	CHECK(raw_put(dir, RAW_STREAMS, other.dataset, "short", 5) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	CHECK_RC(gb_store_stream_info(s, other.dataset, &info), GB_ECORRUPT);
	CHECK_RC(gb_store_verify_stream(s, other.dataset, &bad), GB_ECORRUPT);
	{
		uint8_t data[16];
		gb_write w[2];

		st_fill_batch(data, sizeof data, 'z', 1);
		w[0] = st_append_item(other.dataset, "p", 6, 1, data, sizeof data, 1);
		w[1] = st_append_item("ds.fine", "p", 1, 1, data, sizeof data, 1);
		CHECK_RC(gb_store_write_group(s, w, 2), 0);
		CHECK_RC(w[0].result, GB_ECORRUPT);
		CHECK(w[1].result == 0 && w[1].base_offset == 0);
	}
	gb_store_close(&s);
}

int main(void)
{
	if (!st_root_init("gb_lmdb_log_test"))
		return 1;
	test_corruption();
	st_root_remove();
	gb_test_failures += st_failures();
	TEST_EXIT();
}
