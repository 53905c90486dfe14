/* Tests for the agent's side of schemas: the agent config's
 * `schemas:` (loaded, checked, copied), the checked record input of
 * publish (JSON lines converted, protobuf records validated, errors naming
 * the line and field, a whole file checked before publishing) and JSON
 * output of records with a schema. Uses the example schema built at build
 * time (config/examples/schemas/business.desc). */
#include "gb_record_schema.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gb_agent_internal.h"
#include "gb_test.h"

#ifndef GB_BUSINESS_DESC
#define GB_BUSINESS_DESC "business.desc"
#endif
#define TYPE "govbus.examples.BusinessRegistration"

static char dir[64];
static const char *desc_path = GB_BUSINESS_DESC;
static gb_schema *schema;
static const gb_schema_type *type;

static char *write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return path;
}

static const char head[] =
	"dept: tax\nkey: tax.key\n"
	"broker: { endpoint: \"tcp://127.0.0.1:7780\", "
	"public_key: \"RGjsr:u^gn!&X[?>nP3}u5W0y]xPX<wg6Q)UzN3F\" }\n";

/* Load an agent config of `head` + `rest`; `why` gets the error. */
static int load(const char *rest, gb_agent_config **cfg, char *why,
		size_t why_len)
{
	char text[2048];

	snprintf(text, sizeof text, "%s%s", head, rest);
	return gb_agent_config_load(write_file("agent.yaml", text), cfg, why,
				    why_len);
}

static void test_config(void)
{
	gb_agent_config *cfg = NULL, *copy = NULL;
	const gb_agent_schema *s;
	char rest[1024], why[1024];

	snprintf(rest, sizeof rest,
		 "schemas:\n"
		 "  market.registrations: { type: " TYPE ", "
		 "descriptor_set: %s }\n"
		 "  market.addresses:\n"
		 "    type: govbus.examples.Address\n"
		 "    descriptor_set: %s\n",
		 desc_path, desc_path);
	CHECK_RC(load(rest, &cfg, why, sizeof why), 0);
	if (!cfg) {
		fprintf(stderr, "%s\n", why);
		return;
	}
	s = gb_agent_config_schema(cfg, "market.registrations");
	CHECK(s && !strcmp(s->type, TYPE) && s->descriptor_set_len > 0);
	CHECK(gb_agent_config_schema(cfg, "market.other") == NULL);
	CHECK_RC(gb_agent_config_copy(cfg, &copy), 0);
	gb_agent_config_destroy(&cfg);
	s = copy ? gb_agent_config_schema(copy, "market.addresses") : NULL;
	CHECK(s && !strcmp(s->type, "govbus.examples.Address"));
	gb_agent_config_destroy(&copy);

	/* a type the set does not define, at the type's place */
	snprintf(rest, sizeof rest,
		 "schemas:\n  market.x: { type: govbus.examples.Nope, "
		 "descriptor_set: %s }\n", desc_path);
	CHECK_RC(load(rest, &cfg, why, sizeof why), GB_ECONFIG);
	CHECK_CONTAINS(why, "agent.yaml:5:21: schemas.market.x.type: no "
		       "message type \"govbus.examples.Nope\"");
	/* a missing descriptor set, relative to the config's folder */
	CHECK_RC(load("schemas:\n  market.x: { type: " TYPE ", "
		      "descriptor_set: missing.desc }\n", &cfg, why, sizeof why),
		 GB_ECONFIG);
	CHECK_CONTAINS(why, "schemas.market.x.descriptor_set: cannot open ");
	CHECK_CONTAINS(why, "/missing.desc");
	/* not a descriptor set */
	write_file("text.desc", "hello, world\n");
	CHECK_RC(load("schemas:\n  market.x: { type: " TYPE ", "
		      "descriptor_set: text.desc }\n", &cfg, why, sizeof why),
		 GB_ECONFIG);
	CHECK_CONTAINS(why, "not a descriptor set");
	/* bad id, unknown key, missing key */
	CHECK_RC(load("schemas:\n  Market: { type: " TYPE ", "
		      "descriptor_set: x }\n", &cfg, why, sizeof why),
		 GB_ECONFIG);
	CHECK_CONTAINS(why, "\"Market\" is not a valid dataset id");
	CHECK_RC(load("schemas:\n  market.x: { type: " TYPE ", file: x }\n",
		      &cfg, why, sizeof why), GB_ECONFIG);
	CHECK_CONTAINS(why, "schemas.market.x: unknown key \"file\"");
	CHECK_RC(load("schemas: [a, b]\n", &cfg, why, sizeof why), GB_ECONFIG);
	CHECK_CONTAINS(why, "schemas: expected a mapping");
	CHECK(cfg == NULL);
}

/* Every record of `text` through a checked input; the last return code,
 * the records read and their bytes joined. */
static int read_all(const char *text, gb_format fmt, uint64_t *n,
		    char *why, size_t why_len, uint8_t *out, size_t *out_len)
{
	int fd = open(write_file("input", text), O_RDONLY);
	gb_record_input *in = NULL;
	const uint8_t *rec;
	size_t len, used = 0;
	int rc;

	CHECK(fd >= 0);
	CHECK_RC(gb_record_input_new(fd, fmt, type, &in), 0);
	if (!in) {
		close(fd);
		return GB_ENOMEM;
	}
	while ((rc = gb_record_input_next(in, &rec, &len, why, why_len)) > 0) {
		if (out && used + len <= 4096) {
			memcpy(out + used, rec, len);
			used += len;
		}
	}
	*n = gb_record_input_records(in);
	if (out_len)
		*out_len = used;
	gb_record_input_destroy(&in);
	close(fd);
	return rc;
}

static void test_input(void)
{
	char why[640];
	uint8_t bytes[4096];
	size_t len = 0;
	uint64_t n = 0;
	int fd;

	CHECK_RC(read_all("{\"registrationId\":\"A\",\"capitalCents\":5}\n"
			  "{\"name\":\"B\",\"legal_form\":\"COOPERATIVE\"}\n",
			  GB_FORMAT_JSON, &n, why, sizeof why, bytes, &len), 0);
	CHECK(n == 2);
	/* A: field 1 "A", field 5 = 5; B: field 2 "B", field 3 = 5 */
	CHECK(len == 10 && !memcmp(bytes, "\x0a\x01" "A\x28\x05\x12\x01"
				   "B\x18\x05", 10));
	CHECK_RC(read_all("{\"name\":\"ok\"}\n{\"capital_cents\":true}\n",
			  GB_FORMAT_JSON, &n, why, sizeof why, NULL, NULL),
		 GB_EINVAL);
	CHECK_STR(why, "line 2: capital_cents: expected int64 (a number or a "
		       "string of digits)");
	/* lines of protobuf bytes are validated as they are */
	CHECK_RC(read_all("\x12\x01x\n\x2a\x01x\n", GB_FORMAT_LINES, &n, why,
			  sizeof why, NULL, NULL), GB_EDECODE);
	CHECK_STR(why, "line 2: capital_cents: expected int64 (varint), found "
		       "length-delimited");
	CHECK_RC(read_all("\x03\x12\x01x\x02\x30\x01", GB_FORMAT_DELIMITED, &n,
			  why, sizeof why, NULL, NULL), GB_EDECODE);
	CHECK_CONTAINS(why, "record 2: address: expected message "
		       "govbus.examples.Address (length-delimited), found "
		       "varint");
	CHECK_RC(gb_record_input_new(0, GB_FORMAT_JSON, NULL,
				     &(gb_record_input *){NULL}), GB_EINVAL);

	/* a whole file is checked first, then read again from its start */
	fd = open(write_file("check", "{\"name\":\"a\"}\n{\"name\":\"b\"}\n"),
		  O_RDONLY);
	CHECK_RC(gb_record_input_check_all(fd, GB_FORMAT_JSON, type, why,
					   sizeof why), 0);
	CHECK(lseek(fd, 0, SEEK_CUR) == 0);
	close(fd);
	fd = open(write_file("check", "{\"name\":\"a\"}\n{\"nom\":\"b\"}\n"),
		  O_RDONLY);
	CHECK_RC(gb_record_input_check_all(fd, GB_FORMAT_JSON, type, why,
					   sizeof why), GB_EINVAL);
	CHECK_STR(why, "line 2: nom: unknown field (not in " TYPE ")");
	close(fd);
	{
		int p[2];

		CHECK(pipe(p) == 0);
		CHECK_RC(gb_record_input_check_all(p[0], GB_FORMAT_JSON, type,
						   why, sizeof why), 1);
		close(p[0]);
		close(p[1]);
	}
}

static void test_writer(void)
{
	static const uint8_t good[] = {0x12, 0x01, 'x', 0x28, 0x07};
	static const uint8_t bad[] = {0x28, 0x80};
	gb_record rec = {"market.registrations", 4, "market", 0, 0, "",
			 good, sizeof good};
	char *buf = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&buf, &size);
	gb_writer *w = NULL;

	CHECK(out != NULL);
	if (!out)
		return;
	CHECK_RC(gb_writer_new(out, GB_FORMAT_JSON, &w), 0);
	gb_writer_set_schema(w, type);
	CHECK_RC(gb_writer_put(w, &rec), 0);
	rec.payload = bad;
	rec.len = sizeof bad;
	rec.offset = 5;
	CHECK_RC(gb_writer_put(w, &rec), GB_EDECODE);
	CHECK_STR(gb_writer_error(w), "the record at offset 5 of "
		  "market.registrations is not a valid " TYPE ": "
		  "capital_cents: truncated: the message ends inside a "
		  "varint");
	gb_writer_set_schema(w, NULL);
	CHECK_RC(gb_writer_put(w, &rec), 0);
	gb_writer_destroy(&w);
	fclose(out);
	CHECK(buf && !strncmp(buf, "{\"name\":\"x\",\"capitalCents\":\"7\"}\n"
			      "{\"dataset\":\"market.registrations\",\"offset\":5",
			      75));
	free(buf);
}

int main(int argc, char **argv)
{
	char why[512], path[256];
	uint8_t *bytes = NULL;
	size_t len = 0;

	if (argc > 1)
		desc_path = argv[1];
	snprintf(dir, sizeof dir, "/tmp/gb-record-schema.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	CHECK_RC(gb_schema_read_file(desc_path, &bytes, &len, why, sizeof why),
		 0);
	if (bytes) {
		gb_schema_set set = {"business.desc", bytes, len};

		CHECK_RC(gb_schema_load(&set, 1, &schema, why, sizeof why), 0);
		type = gb_schema_find(schema, TYPE);
		CHECK(type != NULL);
	}
	if (type) {
		test_config();
		test_input();
		test_writer();
	}
	gb_schema_destroy(&schema);
	free(bytes);
	for (size_t i = 0; i < 4; i++) {
		static const char *const files[] = {"agent.yaml", "text.desc",
						    "input", "check"};

		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	TEST_EXIT();
}
