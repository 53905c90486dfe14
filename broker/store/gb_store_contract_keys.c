/* The store's contract, part two (gb_store_contract.h): dataset keys.
 * Epochs open in order with their commitments, appends only under the
 * current unretired epoch, wraps kept byte for byte (the first one), their
 * holders listed, retirement, persistence across a reopen, and units of
 * EPOCH and WRAP items stored all or none. */
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

/* ------------------------------------------------------------ key epochs */

static void test_epochs(void)
{
	static struct st_model m;
	char name255[256], long_name[300];
	gb_store *s = NULL;
	uint8_t c[5][32], wrong[32];
	uint8_t wr[6][100];
	uint8_t d[40];
	gb_write w[11];
	gb_epoch_state st;
	uint8_t *out;
	size_t out_len;
	uint64_t seq;

	CHECK_RC(st_open_case("epochs", &s), 0);
	if (!s)
		return;
	st_model_init(&m, "ds.key", 'e');
	for (int i = 0; i < 5; i++)
		memset(c[i], 0x11 * (i + 1), sizeof c[i]);
	memcpy(wrong, c[1], sizeof wrong);
	wrong[31] ^= 1; /* differs from epoch 1's only in the last byte */
	for (int i = 0; i < 6; i++)
		st_fill_batch(wr[i], sizeof wr[i], 'w', (uint64_t)i);
	memset(name255, 'y', sizeof name255 - 1);
	name255[sizeof name255 - 1] = 0;
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = 0;
	st_fill_batch(d, sizeof d, 'e', 1);

	/* No epoch yet: appends under one, wraps and retires find none. */
	CHECK(st_epoch_is(s, m.dataset, 0, false, NULL, 0));
	CHECK_RC(gb_store_epoch_get(s, "", &st), GB_EINVAL);
	w[0] = st_epoch_append(&m, 1, 1, c[1], 100);
	w[1] = st_wrap_item(m.dataset, 1, "health", wr[0], 10);
	w[2] = st_key_item(GB_WRITE_RETIRE, m.dataset, 1, NULL, 100);
	CHECK_RC(gb_store_write_group(s, w, 3), 0);
	CHECK_RC(w[0].result, GB_EEPOCH);
	CHECK_RC(w[1].result, GB_EEPOCH);
	CHECK(w[2].result == 0);
	CHECK(st_epoch_is(s, m.dataset, 0, false, NULL, 0));
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "health", NULL, NULL),
		 GB_ENOTFOUND);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 0);

	/* Epochs open in order only, each with a commitment. */
	w[0] = st_key_item(GB_WRITE_EPOCH, m.dataset, 2, c[2], 500);
	w[1] = st_key_item(GB_WRITE_EPOCH, m.dataset, 0, c[1], 500);
	w[2] = st_key_item(GB_WRITE_EPOCH, m.dataset, 1, NULL, 500);
	w[3] = st_key_item(GB_WRITE_EPOCH, "", 1, c[1], 500);
	w[4] = st_key_item(GB_WRITE_EPOCH, NULL, 1, c[1], 500);
	w[5] = st_key_item(GB_WRITE_EPOCH, m.dataset, 1, c[1], 500);
	w[6] = st_key_item(GB_WRITE_EPOCH, m.dataset, 1, c[2], 600);
	w[7] = st_key_item(GB_WRITE_EPOCH, m.dataset, 3, c[3], 600);
	CHECK_RC(gb_store_write_group(s, w, 8), 0);
	CHECK_RC(w[0].result, GB_EEPOCH);
	CHECK_RC(w[1].result, GB_EEPOCH);
	CHECK_RC(w[2].result, GB_EINVAL);
	CHECK_RC(w[3].result, GB_EINVAL);
	CHECK_RC(w[4].result, GB_EINVAL);
	CHECK(w[5].result == 0);
	CHECK_RC(w[6].result, GB_EEPOCH); /* 1 is open already */
	CHECK_RC(w[7].result, GB_EEPOCH); /* 3 before 2 */
	CHECK(st_epoch_is(s, m.dataset, 1, false, c[1], 500));

	/* Appends under epoch 1: a rejected one uses up no seq. */
	w[0] = st_epoch_append(&m, 1, 1, c[1], 1000);
	w[1] = st_epoch_append(&m, 2, 1, wrong, 1000);
	w[2] = st_epoch_append(&m, 2, 1, NULL, 1000);
	w[3] = st_epoch_append(&m, 2, 2, c[1], 1000);
	w[4] = st_epoch_append(&m, 2, 2, c[2], 1000);
	w[5] = st_epoch_append(&m, 2, 1, c[1], 1000);
	w[6] = st_epoch_append(&m, 3, 0, NULL, 1000); /* unchecked */
	w[7] = st_append_item("ds.nokey", "p", 1, 1, d, sizeof d, 1000);
	w[7].key_epoch = 1;
	w[7].key_commitment = c[1];
	CHECK_RC(gb_store_write_group(s, w, 8), 0);
	st_model_accept(&m, &w[0]);
	for (int i = 1; i <= 4; i++) {
		CHECK_RC(w[i].result, GB_EEPOCH);
		CHECK(!w[i].duplicate && w[i].base_offset == 0);
	}
	st_model_accept(&m, &w[5]);
	st_model_accept(&m, &w[6]);
	CHECK_RC(w[7].result, GB_EEPOCH); /* epochs are per dataset */
	st_check_stream(s, &m, 0);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 3);
	CHECK_RC(gb_store_last_seq(s, "ds.nokey", "p", &seq), 0);
	CHECK(seq == 0);

	/* Wraps: stored byte for byte, the first one kept. */
	CHECK(st_epoch_is(s, name255, 0, false, NULL, 0));
	w[0] = st_wrap_item(m.dataset, 1, "health", wr[1], sizeof wr[1]);
	w[1] = st_wrap_item(m.dataset, 1, "tax", wr[2], 1);
	w[2] = st_wrap_item(m.dataset, 1, "health", wr[3], 50);
	w[3] = st_wrap_item(m.dataset, 2, "health", wr[3], 50);
	w[4] = st_wrap_item("ds.nokey", 1, "health", wr[3], 50);
	w[5] = st_wrap_item(m.dataset, 1, "edu", NULL, 50);
	w[6] = st_wrap_item(m.dataset, 1, "edu", wr[3], 0);
	w[7] = st_wrap_item(m.dataset, 1, "", wr[3], 50);
	w[8] = st_wrap_item(m.dataset, 1, NULL, wr[3], 50);
	w[9] = st_key_item(GB_WRITE_EPOCH, name255, 1, c[1], 7);
	w[10] = st_wrap_item(name255, 1, "edu", wr[4], 60);
	CHECK_RC(gb_store_write_group(s, w, 11), 0);
	CHECK(w[0].result == 0 && w[1].result == 0 && w[2].result == 0);
	CHECK_RC(w[3].result, GB_EEPOCH);
	CHECK_RC(w[4].result, GB_EEPOCH);
	for (int i = 5; i <= 8; i++)
		CHECK_RC(w[i].result, GB_EINVAL);
	CHECK(w[9].result == 0);
	CHECK(w[10].result == 0);
	CHECK(st_wrap_is(s, m.dataset, 1, "health", wr[1], sizeof wr[1]));
	CHECK(st_wrap_is(s, m.dataset, 1, "tax", wr[2], 1));
	CHECK(st_wrap_is(s, name255, 1, "edu", wr[4], 60));
	CHECK(st_epoch_is(s, name255, 1, false, c[1], 7));
	out = (uint8_t *)d;
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "edu", &out, &out_len),
		 GB_ENOTFOUND);
	CHECK(out == NULL);
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 2, "health", &out, &out_len),
		 GB_ENOTFOUND);
	CHECK_RC(gb_store_wrap_get(s, "ds.nokey", 1, "health", &out, &out_len),
		 GB_ENOTFOUND);
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "health", NULL, NULL), 0);
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "tax", NULL, NULL), 0);
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "edu", NULL, NULL),
		 GB_ENOTFOUND);
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "", NULL, NULL), GB_EINVAL);

	/* Retire: only the current epoch, and nothing more under it. */
	w[0] = st_key_item(GB_WRITE_RETIRE, m.dataset, 2, NULL, 0);
	w[1] = st_epoch_append(&m, 4, 1, c[1], 2000);
	w[2] = st_key_item(GB_WRITE_RETIRE, m.dataset, 1, NULL, 0);
	w[3] = st_epoch_append(&m, 5, 1, c[1], 2000);
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK(w[0].result == 0);
	st_model_accept(&m, &w[1]); /* retiring epoch 2 did nothing */
	CHECK(w[2].result == 0);
	CHECK_RC(w[3].result, GB_EEPOCH);
	CHECK(st_epoch_is(s, m.dataset, 1, true, c[1], 500));
	w[0] = st_epoch_append(&m, 5, 1, c[1], 2100);
	w[1] = st_key_item(GB_WRITE_EPOCH, m.dataset, 1, c[1], 2100);
	w[2] = st_key_item(GB_WRITE_EPOCH, m.dataset, 3, c[3], 2100);
	CHECK_RC(gb_store_write_group(s, w, 3), 0);
	CHECK_RC(w[0].result, GB_EEPOCH);
	CHECK_RC(w[1].result, GB_EEPOCH); /* a retired epoch stays retired */
	CHECK_RC(w[2].result, GB_EEPOCH);
	CHECK(st_epoch_is(s, m.dataset, 1, true, c[1], 500));
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 4);

	/* Epoch 2 opens after the retire and takes the appends. */
	w[0] = st_key_item(GB_WRITE_EPOCH, m.dataset, 2, c[2], 900);
	w[1] = st_epoch_append(&m, 5, 2, c[2], 2200);
	w[2] = st_epoch_append(&m, 6, 1, c[1], 2200);
	w[3] = st_epoch_append(&m, 6, 2, c[1], 2200);
	w[4] = st_epoch_append(&m, 6, 2, c[2], 2200);
	/* A retired epoch's wrap can still be stored (it is in the log). */
	w[5] = st_wrap_item(m.dataset, 1, "edu", wr[5], 30);
	w[6] = st_wrap_item(m.dataset, 2, "health", wr[4], 70);
	CHECK_RC(gb_store_write_group(s, w, 7), 0);
	CHECK(w[0].result == 0);
	st_model_accept(&m, &w[1]);
	CHECK_RC(w[2].result, GB_EEPOCH);
	CHECK_RC(w[3].result, GB_EEPOCH);
	st_model_accept(&m, &w[4]);
	CHECK(w[5].result == 0 && w[6].result == 0);
	CHECK(st_epoch_is(s, m.dataset, 2, false, c[2], 900));
	CHECK(st_wrap_is(s, m.dataset, 1, "edu", wr[5], 30));
	CHECK(st_wrap_is(s, m.dataset, 2, "health", wr[4], 70));
	CHECK(st_wrap_is(s, m.dataset, 1, "health", wr[1], sizeof wr[1]));
	st_check_stream(s, &m, 0);

	/* Items of a group apply in order: an append after a retire in the
	 * same group is refused, one before it is stored; a wrap before
	 * its epoch's EPOCH item is refused, one after it is stored. */
	w[0] = st_epoch_append(&m, 7, 2, c[2], 3000);
	w[1] = st_key_item(GB_WRITE_RETIRE, m.dataset, 2, NULL, 0);
	w[2] = st_epoch_append(&m, 8, 2, c[2], 3000);
	w[3] = st_wrap_item(m.dataset, 3, "tax", wr[5], 20);
	w[4] = st_key_item(GB_WRITE_EPOCH, m.dataset, 3, c[3], 1200);
	w[5] = st_wrap_item(m.dataset, 3, "tax", wr[3], 25);
	w[6] = st_epoch_append(&m, 8, 3, c[3], 3000);
	CHECK_RC(gb_store_write_group(s, w, 7), 0);
	st_model_accept(&m, &w[0]);
	CHECK(w[1].result == 0);
	CHECK_RC(w[2].result, GB_EEPOCH);
	CHECK_RC(w[3].result, GB_EEPOCH);
	CHECK(w[4].result == 0 && w[5].result == 0);
	st_model_accept(&m, &w[6]);
	CHECK(st_epoch_is(s, m.dataset, 3, false, c[3], 1200));
	CHECK(st_wrap_is(s, m.dataset, 3, "tax", wr[3], 25));
	st_check_stream(s, &m, 0);

	/* A bad RETIRE item is rejected alone. */
	w[0] = st_key_item(GB_WRITE_RETIRE, "", 3, NULL, 0);
	w[1] = st_key_item(GB_WRITE_RETIRE, NULL, 3, NULL, 0);
	w[2] = st_key_item(GB_WRITE_RETIRE, long_name, 3, NULL, 0);
	w[3] = st_epoch_append(&m, 9, 3, c[3], 3100);
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK_RC(w[0].result, GB_EINVAL);
	CHECK_RC(w[1].result, GB_EINVAL);
	CHECK_RC(w[2].result, GB_EINVAL);
	st_model_accept(&m, &w[3]);
	CHECK(st_epoch_is(s, m.dataset, 3, false, c[3], 1200));

	/* Retire epoch 3, then everything survives a close and reopen. */
	w[0] = st_key_item(GB_WRITE_RETIRE, m.dataset, 3, NULL, 0);
	CHECK_RC(gb_store_write_group(s, w, 1), 0);
	CHECK(w[0].result == 0);
	gb_store_close(&s);
	CHECK_RC(st_open_case("epochs", &s), 0);
	if (!s)
		return;
	CHECK(st_epoch_is(s, m.dataset, 3, true, c[3], 1200));
	CHECK(st_epoch_is(s, name255, 1, false, c[1], 7));
	CHECK(st_epoch_is(s, "ds.nokey", 0, false, NULL, 0));
	CHECK(st_wrap_is(s, m.dataset, 1, "health", wr[1], sizeof wr[1]));
	CHECK(st_wrap_is(s, m.dataset, 1, "tax", wr[2], 1));
	CHECK(st_wrap_is(s, m.dataset, 1, "edu", wr[5], 30));
	CHECK(st_wrap_is(s, m.dataset, 2, "health", wr[4], 70));
	CHECK(st_wrap_is(s, m.dataset, 3, "tax", wr[3], 25));
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 3, "health", NULL, NULL),
		 GB_ENOTFOUND);
	st_check_stream(s, &m, 0);
	w[0] = st_epoch_append(&m, 10, 3, c[3], 4000);
	w[1] = st_key_item(GB_WRITE_EPOCH, m.dataset, 5, c[4], 4000);
	w[2] = st_key_item(GB_WRITE_EPOCH, m.dataset, 4, c[4], 4000);
	w[3] = st_epoch_append(&m, 10, 4, c[4], 4000);
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK_RC(w[0].result, GB_EEPOCH);
	CHECK_RC(w[1].result, GB_EEPOCH);
	CHECK(w[2].result == 0);
	st_model_accept(&m, &w[3]);
	CHECK(st_epoch_is(s, m.dataset, 4, false, c[4], 4000));
	st_check_stream(s, &m, 0);
	CHECK_RC(gb_store_verify_stream(s, m.dataset, NULL), 0);
	gb_store_close(&s);

}

/* ------------------------------------------------------------ units */

static uint8_t c1[32] = {1}, c2[32] = {2};

static gb_write unit_epoch(uint32_t e, const uint8_t *c)
{
	gb_write w = st_key_item(GB_WRITE_EPOCH, "ds", e, c, 1);

	w.result = 0;
	return w;
}

static gb_write unit_wrap(uint32_t e, const char *to, const uint8_t *c)
{
	gb_write w = st_wrap_item("ds", e, to, (const uint8_t *)"wrap-bytes", 10);

	w.key_commitment = c;
	w.result = 0;
	return w;
}

static int collect(void *ctx, const char *name)
{
	strcat(ctx, name);
	strcat(ctx, ",");
	return 0;
}

/* Key-safety rules: an upload unit stores all or nothing, a wrap must
 * carry its epoch's commitment, RETIRE with epoch 0 retires whatever is
 * current, a "retry" with another record count is a conflict, and wrap
 * holders are listed exactly. */
static void test_units(void)
{
	gb_store *s = NULL;
	gb_epoch_state es;
	char names[256] = "";

	CHECK_RC(st_open_case("units", &s), 0);
	if (!s)
		return;
	/* A unit whose EPOCH is refused stores none of its wraps. */
	{
		gb_write u[3] = {unit_epoch(2, c1), unit_wrap(2, "a", c1),
				 unit_wrap(2, "b", c1)};
		u[0].unit_len = 3;
		CHECK_RC(gb_store_write_group(s, u, 3), 0);
		CHECK(u[0].result == GB_EEPOCH && u[1].result == GB_EEPOCH &&
		      u[2].result == GB_EEPOCH);
		CHECK_RC(gb_store_wrap_get(s, "ds", 2, "a", NULL, NULL), GB_ENOTFOUND);
	}
	/* A good unit stores everything. */
	{
		gb_write u[3] = {unit_epoch(1, c1), unit_wrap(1, "a", c1),
				 unit_wrap(1, "b", c1)};
		u[0].unit_len = 3;
		CHECK_RC(gb_store_write_group(s, u, 3), 0);
		CHECK(u[0].result == 0 && u[1].result == 0 && u[2].result == 0);
		CHECK_RC(gb_store_wrap_get(s, "ds", 1, "b", NULL, NULL), 0);
	}
	/* A wrap of another key than the epoch's is refused, alone or in a
	 * unit (which then stores nothing). */
	{
		gb_write w = unit_wrap(1, "c", c2);
		gb_write u[2] = {unit_wrap(1, "d", c1), unit_wrap(1, "e", c2)};
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
		gb_write r = st_key_item(GB_WRITE_RETIRE, "ds", 0, NULL, 0);

		CHECK_RC(gb_store_write_group(s, &r, 1), 0);
		CHECK_RC(gb_store_epoch_get(s, "ds", &es), 0);
		CHECK(es.current == 1 && es.retired);
	}
	/* A retry with another record count is a conflict, not a duplicate. */
	{
		gb_write a = st_append_item("plain", "p", 1, 3,
					    (const uint8_t *)"batch", 5, 1);
		gb_write b = a;

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
}

int st_contract_keys(void)
{
	test_epochs();
	test_units();
	return gb_test_failures;
}
