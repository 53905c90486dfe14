/* Tests for the registry model on its own, built through the loader's
 * side (gb_registry_internal.h) without any YAML: the source and its hash,
 * lookups by id, box key and (dataset, to) pair, which repeat indexing
 * reports first, descriptor sets, and the names of enum values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gb_registry_internal.h"
#include "gb_test.h"

static gb_registry *new_registry(void)
{
	static const char source[] = "broker: {}\n";
	gb_registry *reg = NULL;

	CHECK_RC(gb_registry_new((const uint8_t *)source, sizeof source - 1,
				 1234, &reg),
		 0);
	if (!reg)
		exit(2);
	return reg;
}

static void test_source_and_strings(void)
{
	static const char source[] = "broker: {}\n";
	uint8_t want[crypto_generichash_BYTES];
	gb_registry *reg = new_registry();
	gb_broker_settings b = {.listen = "tcp://x:1", .map_size = 9};
	const uint8_t *bytes;
	const char *s;
	char *owned;
	size_t len;

	crypto_generichash(want, sizeof want, (const uint8_t *)source,
			   sizeof source - 1, NULL, 0);
	CHECK(!memcmp(gb_registry_hash(reg), want, sizeof want));
	bytes = gb_registry_source(reg, &len);
	CHECK(len == sizeof source - 1 && !memcmp(bytes, source, len));
	CHECK(bytes != (const uint8_t *)source); /* a copy */
	CHECK(gb_registry_loaded_ns(reg) == 1234);

	s = gb_registry_strndup(reg, "tax.invoices and more", 12);
	CHECK_STR(s, "tax.invoices");
	owned = strdup("adopted");
	CHECK(gb_registry_adopt(reg, owned) == owned);
	CHECK(gb_registry_adopt(reg, NULL) == NULL);
	/* enough strings to grow the list a few times */
	for (int i = 0; i < 300; i++)
		CHECK(gb_registry_strndup(reg, "x", 1) != NULL);

	gb_registry_set_broker(reg, &b);
	CHECK_STR(gb_registry_broker(reg)->listen, "tcp://x:1");
	CHECK(gb_registry_broker(reg)->map_size == 9);
	CHECK(gb_registry_department_count(reg) == 0);
	CHECK(gb_registry_department_at(reg, 0) == NULL);
	CHECK(gb_registry_descriptor_set_count(reg) == 0);
	CHECK(gb_registry_descriptor_set_at(reg, 0, &len) == NULL && len == 0);
	gb_registry_destroy(&reg);
	CHECK(reg == NULL);
	gb_registry_destroy(&reg);
	gb_registry_destroy(NULL);
}

/* Departments ids[i] with keys made from sign[i] and box[i]. */
static gb_registry *with_departments(size_t n, const char *const *ids,
				     const uint8_t *sign, const uint8_t *box,
				     gb_registry_clash *clash)
{
	gb_registry *reg = new_registry();
	gb_department *d = gb_registry_new_departments(reg, n);

	CHECK(d != NULL);
	for (size_t i = 0; d && i < n; i++) {
		d[i].id = ids[i];
		memset(d[i].sign_pk, sign[i], GB_KEY_BYTES);
		memset(d[i].box_pk, box[i], GB_KEY_BYTES);
	}
	CHECK_RC(gb_registry_index_departments(reg, clash), 0);
	return reg;
}

static void test_departments(void)
{
	static const char *const ids[] = {"tax", "health", "social", "audit"};
	static const char *const dup_ids[] = {"tax", "health", "tax", "health"};
	uint8_t key[GB_KEY_BYTES];
	gb_registry_clash clash;
	gb_registry *reg;

	reg = with_departments(4, ids, (const uint8_t *)"\1\2\3\4",
			       (const uint8_t *)"\5\6\7\10", &clash);
	CHECK(clash.kind == GB_CLASH_NONE);
	CHECK(gb_registry_department_count(reg) == 4);
	for (size_t i = 0; i < 4; i++) {
		const gb_department *d = gb_registry_department_at(reg, i);

		CHECK(gb_registry_find_department(reg, ids[i]) == d);
		CHECK(gb_registry_find_department_by_box_key(reg, d->box_pk) ==
		      d);
	}
	CHECK(gb_registry_find_department(reg, "ta") == NULL);
	CHECK(gb_registry_find_department(reg, "taxes") == NULL);
	CHECK(gb_registry_find_department(reg, NULL) == NULL);
	CHECK(gb_registry_find_department(NULL, "tax") == NULL);
	memset(key, 1, sizeof key); /* a signing key, not a box key */
	CHECK(gb_registry_find_department_by_box_key(reg, key) == NULL);
	CHECK(gb_registry_find_department_by_box_key(reg, NULL) == NULL);
	gb_registry_destroy(&reg);

	/* Two ids repeat: the one whose second entry comes first is
	 * reported, against its first entry. */
	reg = with_departments(4, dup_ids, (const uint8_t *)"\1\2\3\4",
			       (const uint8_t *)"\5\6\7\10", &clash);
	CHECK(clash.kind == GB_CLASH_ID && clash.at == 2 && clash.first == 0);
	gb_registry_destroy(&reg);

	/* An id clash is reported before a key clash, a signing key clash
	 * before a box key clash. */
	reg = with_departments(4, dup_ids, (const uint8_t *)"\1\1\3\4",
			       (const uint8_t *)"\5\5\7\10", &clash);
	CHECK(clash.kind == GB_CLASH_ID && clash.at == 2);
	gb_registry_destroy(&reg);
	reg = with_departments(4, ids, (const uint8_t *)"\1\2\3\2",
			       (const uint8_t *)"\5\5\7\10", &clash);
	CHECK(clash.kind == GB_CLASH_SIGN_KEY && clash.at == 3 &&
	      clash.first == 1);
	gb_registry_destroy(&reg);
	reg = with_departments(4, ids, (const uint8_t *)"\1\2\3\4",
			       (const uint8_t *)"\5\6\7\5", &clash);
	CHECK(clash.kind == GB_CLASH_BOX_KEY && clash.at == 3 &&
	      clash.first == 0);
	gb_registry_destroy(&reg);
}

static void test_datasets(void)
{
	static const char *const ids[] = {"tax.invoices", "tax.cases",
					  "health.visits", "tax.cases"};
	gb_registry *reg = new_registry();
	gb_dataset *ds = gb_registry_new_datasets(reg, 4);
	gb_registry_clash clash;

	CHECK(ds != NULL);
	for (size_t i = 0; ds && i < 4; i++)
		ds[i].id = ids[i];
	CHECK_RC(gb_registry_index_datasets(reg, &clash), 0);
	CHECK(clash.kind == GB_CLASH_ID && clash.at == 3 && clash.first == 1);
	CHECK(gb_registry_find_dataset(reg, "health.visits") ==
	      gb_registry_dataset_at(reg, 2));
	CHECK(gb_registry_find_dataset(reg, "tax.invoice") == NULL);
	CHECK(gb_registry_dataset_at(reg, 4) == NULL);
	gb_registry_destroy(&reg);

	/* none at all */
	reg = new_registry();
	CHECK(gb_registry_new_datasets(reg, 0) != NULL);
	CHECK_RC(gb_registry_index_datasets(reg, &clash), 0);
	CHECK(clash.kind == GB_CLASH_NONE);
	CHECK(gb_registry_find_dataset(reg, "tax.invoices") == NULL);
	gb_registry_destroy(&reg);
}

static void test_pairs(void)
{
	char too_long[GB_ID_MAX + 2];
	gb_registry *reg = new_registry();
	gb_grant *g = gb_registry_new_grants(reg, 3);
	gb_refusal *r = gb_registry_new_refusals(reg, 3);
	gb_registry_clash clash;

	CHECK(g && r);
	if (!g || !r)
		return;
	/* "a.b" to "c" and "a" to "b.c" must not share a key */
	g[0] = (gb_grant){.dataset = "a.b", .to = "c"};
	g[1] = (gb_grant){.dataset = "a", .to = "b.c"};
	g[2] = (gb_grant){.dataset = "tax.invoices", .to = "social"};
	CHECK_RC(gb_registry_index_grants(reg, &clash), 0);
	CHECK(clash.kind == GB_CLASH_NONE);
	CHECK(gb_registry_grant_count(reg) == 3);
	for (size_t i = 0; i < 3; i++)
		CHECK(gb_registry_find_grant(reg, g[i].dataset, g[i].to) ==
		      &g[i]);
	CHECK(gb_registry_find_grant(reg, "tax.invoices", "health") == NULL);
	CHECK(gb_registry_find_grant(reg, "tax.invoices", NULL) == NULL);
	CHECK(gb_registry_find_grant(NULL, "tax.invoices", "social") == NULL);
	memset(too_long, 'a', sizeof too_long - 1);
	too_long[sizeof too_long - 1] = '\0';
	CHECK(gb_registry_find_grant(reg, too_long, "social") == NULL);

	r[0] = (gb_refusal){.dataset = "tax.invoices", .to = "health"};
	r[1] = (gb_refusal){.dataset = "tax.cases", .to = "health"};
	r[2] = (gb_refusal){.dataset = "tax.invoices", .to = "health"};
	CHECK_RC(gb_registry_index_refusals(reg, &clash), 0);
	CHECK(clash.kind == GB_CLASH_PAIR && clash.at == 2 && clash.first == 0);
	CHECK(gb_registry_find_refusal(reg, "tax.cases", "health") == &r[1]);
	CHECK(gb_registry_find_refusal(reg, "tax.cases", "social") == NULL);
	CHECK(gb_registry_refusal_at(reg, 1) == &r[1]);
	CHECK(gb_registry_refusal_at(reg, 3) == NULL);
	gb_registry_destroy(&reg);
}

static void test_descriptor_sets(void)
{
	gb_registry *reg = new_registry();
	uint8_t *one = malloc(3), *two = malloc(1);
	const uint8_t *got;
	size_t len;

	CHECK(one && two);
	if (!one || !two)
		return;
	memcpy(one, "abc", 3);
	two[0] = 'z';
	CHECK_RC(gb_registry_add_descriptor_set(reg, one, 3), 0);
	CHECK_RC(gb_registry_add_descriptor_set(reg, two, 1), 0);
	CHECK(gb_registry_descriptor_set_count(reg) == 2);
	got = gb_registry_descriptor_set_at(reg, 0, &len);
	CHECK(got == one && len == 3);
	got = gb_registry_descriptor_set_at(reg, 1, &len);
	CHECK(got == two && len == 1);
	CHECK(gb_registry_descriptor_set_at(reg, 2, &len) == NULL && len == 0);
	gb_registry_destroy(&reg); /* frees both */
}

static void test_names(void)
{
	char buf[32];

	CHECK_STR(gb_role_name(GB_ROLE_AUDITOR), "auditor");
	CHECK_STR(gb_role_name((gb_role)7), "unknown");
	CHECK_STR(gb_sharing_name(GB_SHARING_CONDITIONAL), "conditional");
	CHECK_STR(gb_sharing_name((gb_sharing)-1), "unknown");
	CHECK_STR(gb_classification_name(GB_CLASS_CONFIDENTIAL),
		  "confidential");
	CHECK_STR(gb_audit_access_name(GB_AUDIT_CONTENT), "content");
	CHECK_STR(gb_history_name(GB_HISTORY_SINCE_GRANT), "since-grant");
	CHECK_STR(gb_history_name((gb_history)3), "unknown");
	/* the tables the loader reads with are the ones names come from */
	CHECK(GB_NAMES_COUNT(gb_sharing_names) == 3);
	CHECK(gb_right_names[1] != NULL &&
	      !strcmp(gb_right_names[1], "replay") &&
	      GB_RIGHT_REPLAY == 1u << 1);

	CHECK_STR(gb_rights_text(GB_RIGHT_SUBSCRIBE | GB_RIGHT_REPLAY, buf,
				 sizeof buf),
		  "subscribe,replay");
	CHECK_STR(gb_rights_text(GB_RIGHT_REPLAY, buf, sizeof buf), "replay");
	CHECK_STR(gb_rights_text(0, buf, sizeof buf), "");
	CHECK_STR(gb_rights_text(GB_RIGHT_SUBSCRIBE | GB_RIGHT_REPLAY, buf, 5),
		  "subs");
}

int main(void)
{
	if (sodium_init() < 0)
		return 2;
	test_source_and_strings();
	test_departments();
	test_datasets();
	test_pairs();
	test_descriptor_sets();
	test_names();
	TEST_EXIT();
}
