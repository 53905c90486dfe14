/* Tests of the LMDB backend's key layouts (lmdb/gb_lmdb_keys.c) at LMDB's
 * key size limit (511 bytes): names that are each valid (255 bytes) but
 * together make a pseq, wrap or cursor key too long are refused with
 * GB_EINVAL for their item alone, on writes and reads. */
#include <stdint.h>
#include <string.h>

#include "gb_error.h"
#include "gb_store.h"
#include "gb_store_test_util.h"
#include "gb_test.h"

static void test_key_limit(void)
{
	char dir[128], name255[256];
	uint8_t d[64], c1[32], wr[50];
	gb_store *s = NULL;
	gb_write w[5];
	uint64_t seq = 7, next = 7;

	memset(name255, 'y', sizeof name255 - 1);
	name255[sizeof name255 - 1] = 0;
	memset(c1, 0x22, sizeof c1);
	st_fill_batch(d, sizeof d, 'a', 1);
	st_fill_batch(wr, sizeof wr, 'w', 3);
	st_case_dir(dir, sizeof dir, "keys");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	/* Each name fits but the pseq key would pass LMDB's limit. */
	w[0] = st_append_item(name255, name255, 1, 1, d, sizeof d, 500);
	/* Both names fit, the wrap key would pass LMDB's limit. */
	w[1] = st_key_item(GB_WRITE_EPOCH, name255, 1, c1, 7);
	w[2] = st_wrap_item(name255, 1, name255, wr, sizeof wr);
	w[3] = st_cursor_item(name255, name255, "daily", 3);
	w[4] = st_append_item(name255, "p", 1, 1, d, sizeof d, 500);
	CHECK_RC(gb_store_write_group(s, w, 5), 0);
	CHECK_RC(w[0].result, GB_EINVAL);
	CHECK(w[1].result == 0);
	CHECK_RC(w[2].result, GB_EINVAL);
	CHECK_RC(w[3].result, GB_EINVAL);
	CHECK(w[4].result == 0 && w[4].base_offset == 0);
	CHECK_RC(gb_store_last_seq(s, name255, name255, &seq), GB_EINVAL);
	CHECK_RC(gb_store_cursor_get(s, name255, name255, "daily", &next),
		 GB_EINVAL);
	CHECK_RC(gb_store_wrap_get(s, name255, 1, name255, NULL, NULL),
		 GB_EINVAL);
	CHECK(seq == 7 && next == 7);
	gb_store_close(&s);
}

int main(void)
{
	if (!st_root_init("gb_lmdb_keys_test"))
		return 1;
	test_key_limit();
	st_root_remove();
	gb_test_failures += st_failures();
	TEST_EXIT();
}
