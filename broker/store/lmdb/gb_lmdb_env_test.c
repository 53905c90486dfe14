/* Tests of the LMDB backend's environment (lmdb/gb_lmdb_env.c): open
 * arguments and options, the backend's stats, a data dir of another format
 * version refused, a full map that grows (alone and while a reader thread
 * is inside its transactions), and a read-only open that finds no data
 * dir and creates none. Every test works in its own folder under a
 * mkdtemp root, removed at the end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gb_error.h"
#include "gb_lmdb_raw.h"
#include "gb_store.h"
#include "gb_store_test_util.h"
#include "gb_test.h"

/* Arguments gb_store_open and gb_store_open_with refuse; the stats of a
 * store opened by options. */
static void test_open_options(void)
{
	gb_store_options opt = {0};
	gb_store_stats st;
	gb_store *s = (gb_store *)&opt;
	char dir[128];

	CHECK_RC(gb_store_open(NULL, 0, NULL), GB_EINVAL);
	CHECK_RC(gb_store_open("", 0, &s), GB_EINVAL);
	CHECK(s == NULL);
	CHECK_RC(gb_store_open_with(NULL, &s), GB_EINVAL);
	CHECK_RC(gb_store_open_with(&opt, NULL), GB_EINVAL);
	CHECK_RC(gb_store_open_with(&opt, &s), GB_EINVAL); /* no dir */
	st_case_dir(dir, sizeof dir, "options");
	opt.lmdb.dir = dir;
	opt.lmdb.map_size = 2u << 20;
	opt.backend = "nats";
	CHECK_RC(gb_store_open_with(&opt, &s), GB_EINVAL);
	CHECK(s == NULL);
	CHECK(access(dir, F_OK) != 0); /* an unknown backend touches nothing */
	opt.backend = "lmdb";
	CHECK_RC(gb_store_open_with(&opt, &s), 0);
	if (!s)
		return;
	gb_store_stats_get(s, &st);
	CHECK_STR(st.backend, "lmdb");
	CHECK(st.capacity_bytes == 2u << 20);
	CHECK(gb_store_map_size(s) == st.capacity_bytes);
	gb_store_close(&s);
	/* NULL and "" name the default backend, LMDB. */
	opt.backend = NULL;
	CHECK_RC(gb_store_open_with(&opt, &s), 0);
	gb_store_close(&s);
	opt.backend = "";
	CHECK_RC(gb_store_open_with(&opt, &s), 0);
	gb_store_close(&s);
}

/* A data dir of another format version is refused. */
static void test_format_version(void)
{
	uint8_t two[4] = {0, 0, 0, 2}, one[4] = {0, 0, 0, 1};
	gb_store *s = NULL;
	char dir[128];

	st_case_dir(dir, sizeof dir, "format");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	gb_store_close(&s);
	CHECK(raw_put(dir, RAW_META, "format", two, sizeof two) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), GB_ECORRUPT);
	CHECK(s == NULL);
	CHECK(raw_put(dir, RAW_META, "format", one, 3) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), GB_ECORRUPT);
	CHECK(raw_put(dir, RAW_META, "format", one, sizeof one) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	gb_store_close(&s);
}

/* MDB_MAP_FULL is handled by growing the map: a group that does not fit
 * runs again in the larger map with exactly the results it would have had,
 * and a reopen with a smaller configured map keeps the file's size. */
static void test_map_growth(void)
{
	static struct st_model a, b;
	char dir[128];
	gb_store *s = NULL;
	uint8_t *big, small[100], other[100];
	gb_write w[3];
	uint64_t seq, grown;

	big = malloc(2u << 20);
	if (!big) {
		CHECK(big != NULL);
		return;
	}
	st_case_dir(dir, sizeof dir, "full");
	CHECK_RC(gb_store_open(dir, 1u << 20, &s), 0);
	if (!s) {
		free(big);
		return;
	}
	CHECK(gb_store_map_size(s) == 1u << 20);
	st_model_init(&a, "ds.full", 'f');
	st_model_init(&b, "ds.new", 'n');
	for (uint64_t i = 1; i <= 3; i++)
		CHECK_RC(st_append_one(s, &a, "p", i, 10, 1000, i), 0);

	/* The first attempt fails after two items went into the transaction
	 * (one opening a new stream): the retry must not see their cached
	 * heads or the stream id they took. */
	st_fill_batch(small, sizeof small, 'f', 4);
	st_fill_batch(other, sizeof other, 'n', 1);
	st_fill_batch(big, 2u << 20, 'f', 5);
	w[0] = st_append_item(a.dataset, "p", 4, 1, small, sizeof small, 10);
	w[1] = st_append_item(b.dataset, "p", 1, 1, other, sizeof other, 10);
	w[2] = st_append_item(a.dataset, "p", 5, 1, big, 2u << 20, 10);
	CHECK_RC(gb_store_write_group(s, w, 3), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_RC(w[i].result, 0);
		CHECK(!w[i].duplicate);
	}
	st_model_accept(&a, &w[0]);
	st_model_accept(&b, &w[1]);
	st_model_accept(&a, &w[2]);
	grown = gb_store_map_size(s);
	CHECK(grown >= 4u << 20);
	st_check_stream(s, &a, 0);
	st_check_stream(s, &b, 0);
	CHECK_RC(gb_store_last_seq(s, a.dataset, "p", &seq), 0);
	CHECK(seq == 5);

	/* Keep writing well past the first map: every group is stored. */
	for (uint64_t i = 6; i < 200; i += 2) {
		uint8_t *d1 = big, *d2 = big + (64u << 10);

		st_fill_batch(d1, 32u << 10, 'f', i);
		st_fill_batch(d2, 32u << 10, 'f', i + 1);
		w[0] = st_append_item(a.dataset, "p", i, 7, d1, 32u << 10, i + 10);
		w[1] = st_append_item(a.dataset, "p", i + 1, 3, d2, 32u << 10, i + 10);
		CHECK_RC(gb_store_write_group(s, w, 2), 0);
		CHECK_RC(w[0].result, 0);
		CHECK_RC(w[1].result, 0);
		st_model_accept(&a, &w[0]);
		st_model_accept(&a, &w[1]);
	}
	CHECK(gb_store_map_size(s) > grown);
	st_check_stream(s, &a, 0);
	{
		uint64_t off;

		CHECK_RC(gb_store_offset_for_time(s, a.dataset, 100, &off), 0);
		CHECK(off == st_model_offset_for_time(&a, 100));
	}
	CHECK_RC(gb_store_verify_stream(s, a.dataset, NULL), 0);
	grown = gb_store_map_size(s);
	gb_store_close(&s);
	CHECK(raw_stream_id_of(dir, a.dataset) == 1);
	CHECK(raw_stream_id_of(dir, b.dataset) == 2);

	/* A smaller configured map does not shrink a grown file. */
	CHECK_RC(gb_store_open(dir, 1u << 20, &s), 0);
	if (s) {
		CHECK(gb_store_map_size(s) >= 6u << 20);
		CHECK_RC(st_append_one(s, &a, "p", a.b[a.n - 1].seq + 1, 2,
				       32u << 10, 1), 0);
		st_check_stream(s, &a, 0);
		st_check_stream(s, &b, 0);
		CHECK_RC(gb_store_verify_stream(s, a.dataset, NULL), 0);
		gb_store_close(&s);
	}
	free(big);
}

/* A writer beside a reader with a small map: the writer grows it several
 * times while the reader is inside its transactions. */
static void test_threads_grow(void)
{
	const size_t len = 16u << 10;
	gb_store *s = NULL;
	char dir[128];

	st_case_dir(dir, sizeof dir, "threads-grow");
	CHECK_RC(gb_store_open(dir, 256u << 10, &s), 0);
	if (!s)
		return;
	st_writer_beside_reader(s, len);
	CHECK(gb_store_map_size(s) >= 400 * len);
	gb_store_close(&s);
}

/* A read-only open of a dir that holds no store fails and creates none. */
static void test_readonly_missing(void)
{
	gb_store *s = NULL;
	char missing[128];

	st_case_dir(missing, sizeof missing, "none");
	CHECK(gb_store_open_readonly(missing, &s) != 0);
	CHECK(s == NULL);
	CHECK(access(missing, F_OK) != 0);
}

int main(void)
{
	if (!st_root_init("gb_lmdb_env_test"))
		return 1;
	test_open_options();
	test_format_version();
	test_map_growth();
	test_threads_grow();
	test_readonly_missing();
	st_root_remove();
	gb_test_failures += st_failures();
	TEST_EXIT();
}
