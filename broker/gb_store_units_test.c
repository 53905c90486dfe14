/* Unit tests of the store's key-safety rules found in review: an upload
 * unit stores all or nothing, a wrap must carry its epoch's commitment,
 * RETIRE with epoch 0 retires whatever is current, a "retry" with another
 * record count is a conflict, and wrap holders are listed exactly. */
#include <stdlib.h>
#include <string.h>

#include "gb_store.h"
#include "gb_test.h"

static uint8_t c1[32] = {1}, c2[32] = {2};

static gb_write w_epoch(uint32_t e, const uint8_t *c)
{
	gb_write w = {0};
	w.kind = GB_WRITE_EPOCH;
	w.dataset = "ds";
	w.key_epoch = e;
	w.key_commitment = c;
	w.now_ns = 1;
	return w;
}

static gb_write w_wrap(uint32_t e, const char *to, const uint8_t *c)
{
	gb_write w = {0};
	w.kind = GB_WRITE_WRAP;
	w.dataset = "ds";
	w.key_epoch = e;
	w.dept = to;
	w.wrap = (const uint8_t *)"wrap-bytes";
	w.wrap_len = 10;
	w.key_commitment = c;
	return w;
}

static int collect(void *ctx, const char *name)
{
	strcat(ctx, name);
	strcat(ctx, ",");
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/gb_store_units.XXXXXX", cmd[64], names[256] = "";
	gb_store *s = NULL;
	gb_epoch_state es;

	if (!mkdtemp(dir))
		return 1;
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		TEST_EXIT();

	/* A unit whose EPOCH is refused stores none of its wraps. */
	{
		gb_write u[3] = {w_epoch(2, c1), w_wrap(2, "a", c1), w_wrap(2, "b", c1)};
		u[0].unit_len = 3;
		CHECK_RC(gb_store_write_group(s, u, 3), 0);
		CHECK(u[0].result == GB_EEPOCH && u[1].result == GB_EEPOCH &&
		      u[2].result == GB_EEPOCH);
		CHECK_RC(gb_store_wrap_get(s, "ds", 2, "a", NULL, NULL), GB_ENOTFOUND);
	}
	/* A good unit stores everything. */
	{
		gb_write u[3] = {w_epoch(1, c1), w_wrap(1, "a", c1), w_wrap(1, "b", c1)};
		u[0].unit_len = 3;
		CHECK_RC(gb_store_write_group(s, u, 3), 0);
		CHECK(u[0].result == 0 && u[1].result == 0 && u[2].result == 0);
		CHECK_RC(gb_store_wrap_get(s, "ds", 1, "b", NULL, NULL), 0);
	}
	/* A wrap of another key than the epoch's is refused, alone or in a
	 * unit (which then stores nothing). */
	{
		gb_write w = w_wrap(1, "c", c2);
		gb_write u[2] = {w_wrap(1, "d", c1), w_wrap(1, "e", c2)};
		CHECK_RC(gb_store_write_group(s, &w, 1), 0);
		CHECK(w.result == GB_EEPOCH);
		u[0].unit_len = 2;
		CHECK_RC(gb_store_write_group(s, u, 2), 0);
		CHECK(u[0].result == GB_EEPOCH && u[1].result == GB_EEPOCH);
		CHECK_RC(gb_store_wrap_get(s, "ds", 1, "d", NULL, NULL), GB_ENOTFOUND);
	}
	/* Holders of epoch 1: exactly a and b. */
	CHECK(gb_store_wrap_holders(s, "ds", 1, collect, names) == 2);
	CHECK_STR(names, "a,b,");
	CHECK(gb_store_wrap_holders(s, "ds", 2, collect, names) == 0);
	/* RETIRE with epoch 0 retires the current epoch. */
	{
		gb_write r = {0};
		r.kind = GB_WRITE_RETIRE;
		r.dataset = "ds";
		CHECK_RC(gb_store_write_group(s, &r, 1), 0);
		CHECK_RC(gb_store_epoch_get(s, "ds", &es), 0);
		CHECK(es.current == 1 && es.retired);
	}
	/* A retry with another record count is a conflict, not a duplicate. */
	{
		gb_write a = {0}, b;
		a.kind = GB_WRITE_APPEND;
		a.dataset = "plain";
		a.producer = "p";
		a.producer_seq = 1;
		a.record_count = 3;
		a.signed_batch = (const uint8_t *)"batch";
		a.signed_batch_len = 5;
		a.now_ns = 1;
		b = a;
		CHECK_RC(gb_store_write_group(s, &a, 1), 0);
		CHECK(a.result == 0 && !a.duplicate);
		b.record_count = 4;
		CHECK_RC(gb_store_write_group(s, &b, 1), 0);
		CHECK(b.result == GB_ECONFLICT && !b.duplicate);
		b.record_count = 3;
		CHECK_RC(gb_store_write_group(s, &b, 1), 0);
		CHECK(b.result == 0 && b.duplicate && b.base_offset == 0);
	}
	gb_store_close(&s);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	TEST_EXIT();
}
