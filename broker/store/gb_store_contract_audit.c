/* The store's contract, part three (gb_store_contract.h): what auditors
 * and the catalog rely on. The audit trail (AUDIT items, chained, read
 * raw), checkpoints and policy snapshots with their readers, access
 * requests with dense ids, and read-only opens that see all of it and
 * write nothing. */
#include <sodium.h>
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

/* ------------------------------------------------------------ audit */

/* The audit trail's stream (GB_AUDIT_STREAM in the broker). */
#define AUDIT_STREAM "_audit"

/* AUDIT items: chained entries without a producer seq, read raw. */
static void test_audit_appends(void)
{
	gb_store *s = NULL;
	gb_write w[3];
	gb_stream_info info;
	struct st_seen seen = {0};
	uint8_t h[GB_HASH_BYTES] = {0};
	uint64_t bad = 99, seq = 7;
	gb_stored_batch b;

	CHECK_RC(st_open_case("appends", &s), 0);
	if (!s)
		return;
	w[0] = st_audit_item(AUDIT_STREAM, (const uint8_t *)"first", 5, 100);
	w[1] = st_audit_item(AUDIT_STREAM, (const uint8_t *)"second", 6, 50);
	w[2] = st_audit_item(AUDIT_STREAM, NULL, 0, 100); /* rejected alone */
	CHECK_RC(gb_store_write_group(s, w, 3), 0);
	CHECK_RC(w[0].result, 0);
	CHECK_RC(w[1].result, 0);
	CHECK_RC(w[2].result, GB_EINVAL);
	CHECK(w[0].base_offset == 0 && w[1].base_offset == 1);
	/* Broker time never goes back: max(now, last + 1). */
	CHECK(w[0].broker_time_ns == 100 && w[1].broker_time_ns == 101);
	gb_chain_next(h, 0, 100, (const uint8_t *)"first", 5, h);
	CHECK(memcmp(h, w[0].chain_hash, GB_HASH_BYTES) == 0);

	CHECK_RC(gb_store_stream_info(s, AUDIT_STREAM, &info), 0);
	CHECK(info.next_offset == 2 && info.batch_count == 2);
	CHECK_RC(gb_store_verify_stream(s, AUDIT_STREAM, &bad), 0);
	/* No producer seq is kept for the trail. */
	CHECK_RC(gb_store_last_seq(s, AUDIT_STREAM, "_broker", &seq), 0);
	CHECK(seq == 0);

	CHECK(gb_store_read_raw(s, AUDIT_STREAM, &info, st_remember, &seen) == 2);
	CHECK(seen.n == 2 && seen.offsets[1] == 1);
	CHECK(seen.lens[0] == GB_STORED_HEADER_BYTES + 5);
	CHECK(info.next_offset == 2);
	CHECK_RC(gb_store_entry_split((const uint8_t *)"short", 5, &b),
		 GB_ECORRUPT);
	gb_store_close(&s);
}

/* CHECKPOINT and POLICY items; their readers. test_readonly reads the
 * same store again. */
static void test_checkpoints_and_policies(void)
{
	gb_store *s = NULL;
	gb_write w[4];
	struct st_seen seen = {0};
	const uint8_t config[] = "departments: []\n";
	uint8_t hash[GB_HASH_BYTES];

	CHECK_RC(st_open_case("cp", &s), 0);
	if (!s)
		return;
	w[0] = st_audit_item("tax.invoices", (const uint8_t *)"x", 1, 10);
	memset(&w[1], 0, sizeof w[1]);
	w[1].kind = GB_WRITE_CHECKPOINT;
	w[1].dataset = "tax.invoices";
	w[1].value = (const uint8_t *)"cp-at-1";
	w[1].value_len = 7;
	w[1].checkpoint_offset = 1; /* covers the append before it */
	w[2] = w[1];
	w[2].checkpoint_offset = 2; /* beyond the stream */
	w[3] = w[1];
	w[3].checkpoint_offset = 0;
	w[3].value = (const uint8_t *)"cp-at-0";
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK_RC(w[1].result, 0);
	CHECK_RC(w[2].result, GB_EINVAL);
	CHECK_RC(w[3].result, 0);
	CHECK(gb_store_checkpoints_read(s, "tax.invoices", 0, 10, st_remember,
					&seen) == 2);
	CHECK(seen.offsets[0] == 0 && seen.offsets[1] == 1);
	seen.n = 0;
	CHECK(gb_store_checkpoints_read(s, "tax.invoices", 1, 10, st_remember,
					&seen) == 1);
	CHECK(gb_store_checkpoints_read(s, "tax", 0, 10, st_remember, &seen) == 0);

	/* Policies: created on the first load, a time appended per load. */
	crypto_generichash(hash, sizeof hash, config, sizeof config - 1, NULL, 0);
	memset(w, 0, sizeof w);
	for (int i = 0; i < 3; i++) {
		w[i].kind = GB_WRITE_POLICY;
		w[i].value = config;
		w[i].value_len = sizeof config - 1;
		w[i].policy_hash = hash;
		w[i].now_ns = 1000 + (uint64_t)i;
	}
	w[2].now_ns = 1001;                      /* the same load again */
	w[3] = w[0];
	w[3].policy_hash = (const uint8_t *)"0123456789abcdef0123456789abcdef";
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK_RC(w[0].result, 0);
	CHECK_RC(w[3].result, GB_EINVAL);        /* bytes do not hash to it */
	gb_store_close(&s);
}

/* A read-only open sees what was written and writes nothing. */
static void test_readonly(void)
{
	gb_store *s = NULL;
	struct st_policy_seen ps = {0};
	struct st_seen seen = {0};
	gb_write w = st_audit_item("x.y", (const uint8_t *)"z", 1, 1);

	/* The store written by test_checkpoints_and_policies. */
	CHECK_RC(st_be->open_readonly("cp", &s), 0);
	if (!s)
		return;
	CHECK(gb_store_policies_read(s, st_count_policy, &ps) == 1);
	CHECK(ps.loads == 2 && ps.last == 1001);
	CHECK(ps.len == strlen("departments: []\n"));
	CHECK(gb_store_checkpoints_read(s, "tax.invoices", 0, 10, st_remember,
					&seen) == 2);
	/* Nothing can be written through it. */
	CHECK_RC(gb_store_write_group(s, &w, 1), GB_EIO);
	gb_store_close(&s);
}

/* ------------------------------------------------------------ requests */

struct seen_requests {
	uint64_t ids[8];
	char values[8][32];
	size_t n;
};

static int remember_request(void *arg, uint64_t id, const uint8_t *value,
			    size_t len)
{
	struct seen_requests *s = arg;

	if (s->n < 8) {
		s->ids[s->n] = id;
		snprintf(s->values[s->n], sizeof s->values[s->n], "%.*s",
			 (int)len, (const char *)value);
	}
	s->n++;
	return 0;
}

/* REQUEST items: dense ids from 1, replacing by id, bounds; the readers,
 * also through a read-only open. */
static void test_requests(void)
{
	gb_store *s = NULL, *ro = NULL;
	gb_write w[4];
	struct seen_requests seen = {0};
	uint64_t next = 0;

	CHECK_RC(st_open_case("requests", &s), 0);
	if (!s)
		return;
	CHECK_RC(gb_store_request_next_id(s, &next), 0);
	CHECK(next == 1);
	/* Two new requests in one group get 1 and 2. */
	w[0] = st_request_item(0, "first");
	w[1] = st_request_item(0, "second");
	CHECK_RC(gb_store_write_group(s, w, 2), 0);
	CHECK_RC(w[0].result, 0);
	CHECK_RC(w[1].result, 0);
	CHECK(w[0].stored_id == 1);
	CHECK(w[1].stored_id == 2);
	/* Replace 1; an unknown id, an empty and an oversized value are
	 * refused alone. */
	{
		static char big[GB_STORE_REQUEST_MAX + 2];

		memset(big, 'x', sizeof big - 1);
		w[0] = st_request_item(1, "first, decided");
		w[1] = st_request_item(9, "nobody");
		w[2] = st_request_item(0, NULL);
		w[3] = st_request_item(0, big);
	}
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK_RC(w[0].result, 0);
	CHECK(w[0].stored_id == 1);
	CHECK_RC(w[1].result, GB_ENOTFOUND);
	CHECK_RC(w[2].result, GB_EINVAL);
	CHECK_RC(w[3].result, GB_EINVAL);
	/* Nothing refused took an id: the next one is still 3. */
	CHECK_RC(gb_store_request_next_id(s, &next), 0);
	CHECK(next == 3);
	CHECK(gb_store_requests_read(s, remember_request, &seen) == 2);
	CHECK(seen.ids[0] == 1 && seen.ids[1] == 2);
	CHECK_STR(seen.values[0], "first, decided");
	CHECK_STR(seen.values[1], "second");
	gb_store_close(&s);

	/* Another process's view: read-only, same requests. */
	CHECK_RC(st_be->open_readonly("requests", &ro), 0);
	if (!ro)
		return;
	memset(&seen, 0, sizeof seen);
	CHECK(gb_store_requests_read(ro, remember_request, &seen) == 2);
	CHECK_RC(gb_store_request_next_id(ro, &next), 0);
	CHECK(next == 3);
	w[0] = st_request_item(0, "third");
	CHECK(gb_store_write_group(ro, w, 1) != 0); /* read-only */
	gb_store_close(&ro);
}

int st_contract_audit(void)
{
	test_audit_appends();
	test_checkpoints_and_policies();
	test_readonly();
	test_requests();
	return gb_test_failures;
}
