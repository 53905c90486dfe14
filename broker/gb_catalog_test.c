/* Tests of the catalog: which datasets each kind of department
 * is shown (owner, open, conditional with and without a grant, closed,
 * auditor), the rights on each as the policy decides them (and as they
 * change when a grant expires), the grant's details, the catalog metadata
 * the config carries (description, conditions, format, contact,
 * available_since) and the registry's refusals. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_catalog.h"
#include "gb_config.h"
#include "gb_error.h"
#include "gb_test.h"
#include "gb_test_departments.h"

#define NS INT64_C(1000000000)
#define NOW (INT64_C(1780272000) * NS) /* 2026-06-01T00:00:00Z */
#define EXPIRY (INT64_C(1798761600) * NS) /* 2027-01-01T00:00:00Z */

static const char config_yaml[] =
	GB_TEST_BROKER_YAML
	"departments:\n"
	GB_TEST_DEPT_TAX
	GB_TEST_DEPT_HEALTH
	GB_TEST_DEPT_SOCIAL
	GB_TEST_DEPT_AUDIT
	"datasets:\n"
	"  - id: tax.invoices\n"
	"    owner: tax\n"
	"    title: VAT invoices\n"
	"    description: Every invoice as filed\n"
	"    sharing: conditional\n"
	"    conditions: Statutory checks only\n"
	"    classification: internal\n"
	"    format: protobuf\n"
	"    contact: data@tax.example.gov\n"
	"    available_since: 2024-01-01\n"
	"  - { id: tax.open, owner: tax, title: Statistics, sharing: open,"
	" classification: public }\n"
	"  - { id: tax.closed, owner: tax, title: Investigations,"
	" sharing: closed, classification: confidential }\n"
	"  - { id: health.closed, owner: health, title: Patients,"
	" sharing: closed, classification: confidential }\n"
	"grants:\n"
	"  - { dataset: tax.invoices, to: health, rights: [subscribe, replay],"
	" purpose: benefit checks, legal_basis: Act 12 s.4,"
	" approved_by: board, expires: 2027-01-01, history: all }\n"
	"refusals:\n"
	"  - { dataset: tax.invoices, to: social, reason: no statute,"
	" refused_by: board 8, date: 2026-02-01 }\n";

static gb_registry *load(void)
{
	gb_registry *reg = NULL;
	gb_config_error err;
	char msg[1024];
	int rc = gb_config_load_buffer("/tmp/govbus.yaml",
				       (const uint8_t *)config_yaml,
				       strlen(config_yaml), NOW, &reg, &err);

	if (rc != 0) {
		gb_config_error_format(&err, msg, sizeof msg);
		fprintf(stderr, "test config: %s\n", msg);
	}
	CHECK_RC(rc, 0);
	return reg;
}

/* The entry of `id` in `c`, or NULL. */
static const Govbus__V1__CatalogEntry *entry(gb_catalog *c, const char *id)
{
	Govbus__V1__Catalog *m = gb_catalog_message(c);

	for (size_t i = 0; i < m->n_datasets; i++)
		if (!strcmp(m->datasets[i]->id, id))
			return m->datasets[i];
	return NULL;
}

/* The entry's rights as "a,b,c". */
static const char *rights(const Govbus__V1__CatalogEntry *e, char *buf,
			  size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; e && i < e->n_rights && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 i ? "," : "", e->rights[i]);
	return buf;
}

/* The catalog of `dept` at `now`: `listed` ids in order, comma-separated. */
static gb_catalog *catalog(const gb_registry *reg, const char *dept,
			   int64_t now, const char *listed)
{
	gb_catalog *c = NULL;
	char ids[256];
	size_t used = 0;

	CHECK_RC(gb_catalog_build(reg, dept, now, &c), 0);
	if (!c)
		return NULL;
	ids[0] = '\0';
	for (size_t i = 0; i < gb_catalog_message(c)->n_datasets; i++)
		used += (size_t)snprintf(ids + used, sizeof ids - used, "%s%s",
					 i ? "," : "",
					 gb_catalog_message(c)->datasets[i]->id);
	CHECK_STR(ids, listed);
	return c;
}

static void test_views(void)
{
	gb_registry *reg = load();
	const Govbus__V1__CatalogEntry *e;
	gb_catalog *c;
	char buf[128];

	if (!reg)
		return;
	/* The owner: its own datasets, closed ones too, every right. */
	c = catalog(reg, "tax", NOW, "tax.invoices,tax.open,tax.closed");
	e = c ? entry(c, "tax.closed") : NULL;
	CHECK_STR(rights(e, buf, sizeof buf),
		  "publish,subscribe,replay,read-content");
	gb_catalog_destroy(&c);

	/* A grantee: its grant's rights and details on the conditional one. */
	c = catalog(reg, "health", NOW, "tax.invoices,tax.open,health.closed");
	e = c ? entry(c, "tax.invoices") : NULL;
	CHECK_STR(rights(e, buf, sizeof buf), "subscribe,replay,read-content");
	if (e) {
		CHECK_STR(e->grant_purpose, "benefit checks");
		CHECK_STR(e->grant_legal_basis, "Act 12 s.4");
		CHECK(e->grant_expires_ns == (uint64_t)EXPIRY);
		CHECK_STR(e->history, "all");
		/* the catalog metadata from the config */
		CHECK_STR(e->description, "Every invoice as filed");
		CHECK_STR(e->conditions, "Statutory checks only");
		CHECK_STR(e->format, "protobuf");
		CHECK_STR(e->contact, "data@tax.example.gov");
		CHECK_STR(e->available_since, "2024-01-01");
		CHECK_STR(e->sharing, "conditional");
		CHECK_STR(e->classification, "internal");
		CHECK_STR(e->owner, "tax");
		CHECK_STR(e->title, "VAT invoices");
	}
	e = c ? entry(c, "tax.open") : NULL;
	CHECK_STR(rights(e, buf, sizeof buf), "subscribe,replay,read-content");
	if (e) {
		CHECK_STR(e->description, "");
		CHECK_STR(e->grant_purpose, "");
		CHECK(e->grant_expires_ns == 0);
		CHECK_STR(e->available_since, "");
	}
	gb_catalog_destroy(&c);

	/* Once the grant has expired, the dataset is still listed, with no
	 * rights but the grant's details (so its expiry shows). */
	c = catalog(reg, "health", EXPIRY, "tax.invoices,tax.open,health.closed");
	e = c ? entry(c, "tax.invoices") : NULL;
	CHECK_STR(rights(e, buf, sizeof buf), "");
	if (e)
		CHECK(e->grant_expires_ns == (uint64_t)EXPIRY);
	gb_catalog_destroy(&c);

	/* No grant: the conditional dataset is listed with no rights (what
	 * one may request); closed datasets of others are not listed. */
	c = catalog(reg, "social", NOW, "tax.invoices,tax.open");
	e = c ? entry(c, "tax.invoices") : NULL;
	CHECK(e != NULL);
	CHECK_STR(rights(e, buf, sizeof buf), "");
	if (e) {
		CHECK_STR(e->grant_purpose, "");
		CHECK_STR(e->description, "Every invoice as filed");
	}
	gb_catalog_destroy(&c);

	/* An auditor: every dataset; read-content only where allowed. */
	c = catalog(reg, "audit", NOW,
		    "tax.invoices,tax.open,tax.closed,health.closed");
	e = c ? entry(c, "tax.closed") : NULL;
	CHECK_STR(rights(e, buf, sizeof buf), "subscribe,replay");
	e = c ? entry(c, "tax.open") : NULL;
	CHECK_STR(rights(e, buf, sizeof buf), "subscribe,replay,read-content");
	if (c)
		CHECK(gb_catalog_message(c)->policy_hash.len == 32);
	gb_catalog_destroy(&c);

	/* Unknown department: refused. */
	c = NULL;
	CHECK_RC(gb_catalog_build(reg, "stranger", NOW, &c), GB_EAUTH);
	CHECK(c == NULL);
	gb_registry_destroy(&reg);
}

static void test_registry(void)
{
	gb_registry *reg = load();
	const gb_refusal *r;
	char buf[64];

	if (!reg)
		return;
	CHECK(gb_registry_refusal_count(reg) == 1);
	r = gb_registry_find_refusal(reg, "tax.invoices", "social");
	CHECK(r != NULL && r == gb_registry_refusal_at(reg, 0));
	if (r) {
		CHECK_STR(r->reason, "no statute");
		CHECK_STR(r->refused_by, "board 8");
		CHECK(r->date_ns == INT64_C(1769904000) * NS);
	}
	CHECK(gb_registry_find_refusal(reg, "tax.invoices", "health") == NULL);
	CHECK(gb_registry_find_refusal(reg, "tax.open", "social") == NULL);
	CHECK(gb_registry_refusal_at(reg, 1) == NULL);
	CHECK(gb_registry_find_dataset(reg, "tax.open")->description == NULL);
	CHECK_STR(gb_sharing_name(GB_SHARING_CONDITIONAL), "conditional");
	CHECK_STR(gb_history_name(GB_HISTORY_SINCE_GRANT), "since-grant");
	CHECK_STR(gb_rights_text(GB_RIGHT_SUBSCRIBE | GB_RIGHT_REPLAY, buf,
				 sizeof buf), "subscribe,replay");
	CHECK_STR(gb_rights_text(GB_RIGHT_REPLAY, buf, sizeof buf), "replay");
	gb_registry_destroy(&reg);
}

/* Schemas: the dataset's message type and every descriptor set
 * the config lists reach the agent in the catalog. */
static void test_schema(const char *desc)
{
	char text[4096];
	gb_registry *reg = NULL;
	gb_config_error err;
	gb_catalog *c = NULL;
	const Govbus__V1__CatalogEntry *e;
	char msg[1024];
	int rc;

	snprintf(text, sizeof text,
		 "%s"
		 "schemas: [\"%s\"]\n"
		 "datasets:\n"
		 "  - { id: tax.register, owner: tax, title: Register,"
		 " sharing: open, classification: public,"
		 " schema: govbus.examples.BusinessRegistration }\n",
		 GB_TEST_BROKER_YAML "departments:\n" GB_TEST_DEPT_TAX, desc);
	rc = gb_config_load_buffer("/tmp/govbus.yaml", (const uint8_t *)text,
				   strlen(text), NOW, &reg, &err);
	if (rc != 0) {
		gb_config_error_format(&err, msg, sizeof msg);
		fprintf(stderr, "schema config: %s\n", msg);
	}
	CHECK_RC(rc, 0);
	if (!reg)
		return;
	c = catalog(reg, "tax", NOW, "tax.register");
	e = c ? entry(c, "tax.register") : NULL;
	if (e)
		CHECK_STR(e->schema, "govbus.examples.BusinessRegistration");
	if (c) {
		Govbus__V1__Catalog *m = gb_catalog_message(c);

		CHECK(m->n_descriptor_sets == 1);
		CHECK(m->n_descriptor_sets == 1 && m->descriptor_sets[0].len > 0);
	}
	gb_catalog_destroy(&c);
	gb_registry_destroy(&reg);
}

int main(int argc, char **argv)
{
	test_views();
	test_registry();
#ifdef GB_BUSINESS_DESC
	test_schema(argc > 1 ? argv[1] : GB_BUSINESS_DESC);
#else
	(void)argc;
	(void)argv;
#endif
	TEST_EXIT();
}
