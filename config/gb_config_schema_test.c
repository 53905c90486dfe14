/* Tests for the registry's schemas: `schemas:` lists descriptor sets
 * relative to the config's folder, each dataset's `schema:` must name
 * a message type in them, and the registry hands the sets' exact bytes to
 * the catalog. Uses the example schema built at build time
 * (config/examples/schemas/business.proto). The error cases that need no
 * built file are in tests/bad-configs. */
#include "gb_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gb_schema.h"
#include "gb_test.h"

#ifndef GB_BUSINESS_DESC
#define GB_BUSINESS_DESC "business.desc"
#endif

#define NOW_NS (INT64_C(1780272000) * 1000000000) /* 2026-06-01 */

static char dir[64];
static uint8_t *desc;
static size_t desc_len;

static const char head[] =
	"broker: { listen: \"tcp://127.0.0.1:7780\", data_dir: ./data, "
	"key: keys/broker.key }\n"
	"departments:\n"
	"  - { id: market, name: Market Regulation, "
	"sign_key: \"KyGW5DKevEoCqLsczR7e5zCgXMrJ4073jidnXX3WVXk=\", "
	"box_key: \"dJn=*A*92dSTcE+F}X<J/4g)!wn]T05)eZ4pPtoo\" }\n"
	"  - { id: tax, name: Tax Bureau, "
	"sign_key: \"In5nRBnAFQS1duONSmNF0ov0Q7Sv2TedaT41dPqlgD4=\", "
	"box_key: \"RGjsr:u^gn!&X[?>nP3}u5W0y]xPX<wg6Q)UzN3F\" }\n";

static void write_file(const char *name, const void *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(fwrite(data, 1, len, f) == len);
	fclose(f);
}

/* Load a config made of `head` and `rest`; returns the load's code. */
static int load(const char *rest, gb_registry **reg, gb_config_error *err)
{
	char path[256], *text;
	size_t n = strlen(head) + strlen(rest) + 1;
	int rc;

	text = malloc(n);
	if (!text)
		return GB_ENOMEM;
	snprintf(text, n, "%s%s", head, rest);
	write_file("govbus.yaml", text, strlen(text));
	free(text);
	snprintf(path, sizeof path, "%s/govbus.yaml", dir);
	rc = gb_config_load(path, NOW_NS, reg, err);
	return rc;
}

static void test_good(void)
{
	gb_registry *reg = NULL;
	gb_config_error err;
	const gb_dataset *ds;
	const uint8_t *bytes;
	size_t len;

	CHECK_RC(load("schemas: [sets/business.desc]\n"
		      "datasets:\n"
		      "  - { id: market.registrations, owner: market, title: "
		      "Business register, sharing: conditional, classification: "
		      "internal, schema: govbus.examples.BusinessRegistration }\n"
		      "  - { id: market.notes, owner: market, title: Notes, "
		      "sharing: open, classification: public }\n"
		      "  - { id: market.addresses, owner: market, title: "
		      "Addresses, sharing: open, classification: public, "
		      "schema: govbus.examples.Address }\n",
		      &reg, &err), 0);
	if (!reg) {
		fprintf(stderr, "%s:%u:%u: %s\n", err.file, err.line, err.col,
			err.message);
		return;
	}
	ds = gb_registry_find_dataset(reg, "market.registrations");
	CHECK(ds && ds->schema &&
	      !strcmp(ds->schema, "govbus.examples.BusinessRegistration"));
	ds = gb_registry_find_dataset(reg, "market.notes");
	CHECK(ds && ds->schema == NULL);
	ds = gb_registry_find_dataset(reg, "market.addresses");
	CHECK(ds && ds->schema && !strcmp(ds->schema, "govbus.examples.Address"));
	CHECK(gb_registry_descriptor_set_count(reg) == 1);
	bytes = gb_registry_descriptor_set_at(reg, 0, &len);
	CHECK(bytes && len == desc_len && !memcmp(bytes, desc, len));
	CHECK(gb_registry_descriptor_set_at(reg, 1, &len) == NULL && len == 0);
	gb_registry_destroy(&reg);

	/* no schemas at all: nothing listed, datasets without types */
	CHECK_RC(load("datasets:\n  - { id: market.notes, owner: market, "
		      "title: Notes, sharing: open, classification: public }\n",
		      &reg, &err), 0);
	CHECK(reg && gb_registry_descriptor_set_count(reg) == 0);
	gb_registry_destroy(&reg);

	/* the same set listed twice links (its file is the same in both) */
	CHECK_RC(load("schemas: [sets/business.desc, ./sets/business.desc]\n",
		      &reg, &err), 0);
	CHECK(reg && gb_registry_descriptor_set_count(reg) == 2);
	gb_registry_destroy(&reg);
}

static void test_bad(void)
{
	gb_registry *reg = NULL;
	gb_config_error err;
	char msg[1024];

	CHECK_RC(load("schemas: [sets/business.desc]\n"
		      "datasets:\n"
		      "  - id: market.registrations\n"
		      "    owner: market\n"
		      "    title: Business register\n"
		      "    sharing: open\n"
		      "    classification: public\n"
		      "    schema: govbus.examples.Registration\n",
		      &reg, &err), GB_ECONFIG);
	CHECK(reg == NULL);
	gb_config_error_format(&err, msg, sizeof msg);
	CHECK_CONTAINS(msg, "govbus.yaml:12:13: datasets[0].schema: unknown "
		       "message type \"govbus.examples.Registration\" (not in "
		       "the descriptor sets listed in schemas:)");

	/* an enum is not a message type */
	CHECK_RC(load("schemas: [sets/business.desc]\n"
		      "datasets:\n"
		      "  - { id: market.x, owner: market, title: X, sharing: "
		      "open, classification: public, schema: "
		      "govbus.examples.LegalForm }\n",
		      &reg, &err), GB_ECONFIG);
	CHECK_CONTAINS(err.message, "unknown message type "
		       "\"govbus.examples.LegalForm\"");

	/* a set cut short: refused at its own line */
	write_file("sets/cut.desc", desc, desc_len / 2);
	CHECK_RC(load("schemas:\n  - sets/business.desc\n  - sets/cut.desc\n",
		      &reg, &err), GB_ECONFIG);
	CHECK(err.line == 7 && err.col == 5);
	CHECK_CONTAINS(err.message, "schemas[1]: sets/cut.desc: not a "
		       "descriptor set");
}

int main(int argc, char **argv)
{
	char path[256], why[512];

	CHECK_RC(gb_schema_read_file(argc > 1 ? argv[1] : GB_BUSINESS_DESC,
				     &desc, &desc_len, why, sizeof why), 0);
	if (!desc) {
		fprintf(stderr, "%s\n", why);
		TEST_EXIT();
	}
	snprintf(dir, sizeof dir, "/tmp/gb-config-schema.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/sets", dir);
	CHECK(mkdir(path, 0700) == 0);
	write_file("sets/business.desc", desc, desc_len);

	test_good();
	test_bad();

	for (size_t i = 0; i < 3; i++) {
		static const char *const files[] = {
			"sets/business.desc", "sets/cut.desc", "govbus.yaml"};

		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/sets", dir);
	rmdir(path);
	rmdir(dir);
	free(desc);
	TEST_EXIT();
}
