/* Tests of the LMDB backend's key epochs (lmdb/gb_lmdb_epoch.c) against a
 * damaged data file: a malformed epochs record fails only the items that
 * need it (an APPEND under an epoch, EPOCH, RETIRE) with GB_ECORRUPT, and
 * the rest of the group goes through. The record is replaced with LMDB
 * directly (gb_lmdb_raw) between a close and a reopen. */
#include <stdint.h>
#include <string.h>

#include "gb_error.h"
#include "gb_lmdb_raw.h"
#include "gb_store.h"
#include "gb_store_test_util.h"
#include "gb_test.h"

static void test_malformed_record(void)
{
	static struct st_model m;
	char dir[128];
	gb_store *s = NULL;
	uint8_t c[3][32];
	gb_write w[4];
	gb_epoch_state st;
	uint64_t seq;

	for (int i = 0; i < 3; i++)
		memset(c[i], 0x11 * (i + 1), sizeof c[i]);
	st_case_dir(dir, sizeof dir, "epochs");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	st_model_init(&m, "ds.key", 'e');
	w[0] = st_key_item(GB_WRITE_EPOCH, m.dataset, 1, c[1], 500);
	w[1] = st_key_item(GB_WRITE_EPOCH, "ds.other", 1, c[1], 500);
	w[2] = st_epoch_append(&m, 1, 1, c[1], 1000);
	CHECK_RC(gb_store_write_group(s, w, 3), 0);
	CHECK(w[0].result == 0 && w[1].result == 0);
	st_model_accept(&m, &w[2]);
	gb_store_close(&s);

	CHECK(raw_put(dir, RAW_EPOCHS, m.dataset, "short", 5) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	CHECK_RC(gb_store_epoch_get(s, m.dataset, &st), GB_ECORRUPT);
	w[0] = st_epoch_append(&m, 2, 1, c[1], 5000);
	w[1] = st_key_item(GB_WRITE_EPOCH, m.dataset, 2, c[2], 5000);
	w[2] = st_key_item(GB_WRITE_RETIRE, m.dataset, 1, NULL, 0);
	w[3] = st_key_item(GB_WRITE_EPOCH, "ds.other", 2, c[2], 5000);
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK_RC(w[0].result, GB_ECORRUPT);
	CHECK_RC(w[1].result, GB_ECORRUPT);
	CHECK_RC(w[2].result, GB_ECORRUPT);
	CHECK(w[3].result == 0);
	CHECK(st_epoch_is(s, "ds.other", 2, false, c[2], 5000));
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 1);
	st_check_stream(s, &m, 0);
	gb_store_close(&s);
}

int main(void)
{
	if (!st_root_init("gb_lmdb_epoch_test"))
		return 1;
	test_malformed_record();
	st_root_remove();
	gb_test_failures += st_failures();
	TEST_EXIT();
}
