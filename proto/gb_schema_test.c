/* Tests for gb_schema: loading descriptor sets built by protoc at build
 * time (imports across files and sets, a shared import in two sets), a
 * JSON round trip for every proto3 type class checked against protoc-c's
 * own decoder, record validation (wrong wire type, truncation, missing
 * required fields, nested error paths, undeclared enum values, oneofs,
 * depth), JSON errors (unknown field, bad enum name, ranges), proto3
 * optional presence, hostile descriptor sets, and random bytes. */
#include "gb_schema.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descriptor.pb-c.h"
#include "gb_schema_test.pb-c.h"
#include "gb_test.h"
#include "gb_wire.h"

#ifndef GB_SCHEMA_TEST_SET_A
#define GB_SCHEMA_TEST_SET_A "gb_schema_test_a.desc"
#endif
#ifndef GB_SCHEMA_TEST_SET_B
#define GB_SCHEMA_TEST_SET_B "gb_schema_test_b.desc"
#endif

static uint8_t *set_a, *set_b;
static size_t set_a_len, set_b_len;
static gb_schema *schema;
static char why[512];

static const gb_schema_type *type(const char *name)
{
	const gb_schema_type *t = gb_schema_find(schema, name);

	if (!t)
		fprintf(stderr, "type %s not found\n", name);
	return t;
}

/* JSON -> protobuf; 0 or the error, with `why` filled. */
static int from_json(const char *tname, const char *json, uint8_t **out,
		     size_t *len)
{
	return gb_schema_from_json(type(tname), json, strlen(json), out, len,
				   why, sizeof why);
}

/* protobuf -> JSON text (malloc'd) or NULL, with `why` filled. */
static char *to_json(const char *tname, const uint8_t *rec, size_t len)
{
	char *out = NULL;
	size_t out_len;

	if (gb_schema_to_json(type(tname), rec, len, &out, &out_len, why,
			      sizeof why) != 0)
		return NULL;
	CHECK(strlen(out) == out_len);
	return out;
}

/* Validation of rec must fail with a message containing `want`. */
static void check_invalid(const char *tname, const uint8_t *rec, size_t len,
			  const char *want)
{
	char *j;

	CHECK_RC(gb_schema_validate(type(tname), rec, len, why, sizeof why),
		 GB_EDECODE);
	CHECK_CONTAINS(why, want);
	/* to_json walks the same way and refuses the same records */
	j = to_json(tname, rec, len);
	CHECK(j == NULL);
	CHECK_CONTAINS(why, want);
	free(j);
}

/* JSON conversion must fail with a message containing `want`. */
static void check_bad_json(const char *tname, const char *json,
			   const char *want)
{
	uint8_t *out = NULL;
	size_t len = 0;

	CHECK(from_json(tname, json, &out, &len) != 0);
	CHECK(out == NULL);
	CHECK_CONTAINS(why, want);
}

/* ---------------------------------------------------------------- loading */

static void test_load(void)
{
	gb_schema_set sets[2] = {{"set A", set_a, set_a_len},
				 {"set B", set_b, set_b_len}};
	gb_schema *only_b = NULL;

	CHECK_RC(gb_schema_load(sets, 2, &schema, why, sizeof why), 0);
	if (!schema) {
		fprintf(stderr, "load: %s\n", why);
		return;
	}
	CHECK(type("govbus.test.AllTypes") != NULL);
	CHECK(type("govbus.test.Inner") != NULL);
	CHECK(type("govbus.test2.Invoice") != NULL);
	CHECK(type("govbus.test3.Presence") != NULL);
	CHECK(type("govbus.test.AllTypes.Nested") != NULL);
	CHECK(gb_schema_find(schema, "govbus.test.Nope") == NULL);
	CHECK(gb_schema_find(schema, "govbus.test.Colour") == NULL); /* enum */
	CHECK(gb_schema_find(schema, ".govbus.test.Inner") == NULL);
	CHECK_STR(gb_schema_type_name(type("govbus.test2.Invoice")),
		  "govbus.test2.Invoice");

	/* one set on its own carries its import */
	CHECK_RC(gb_schema_load(&sets[1], 1, &only_b, why, sizeof why), 0);
	CHECK(gb_schema_find(only_b, "govbus.test.AllTypes") != NULL);
	CHECK(gb_schema_find(only_b, "govbus.test2.Invoice") == NULL);
	gb_schema_destroy(&only_b);
	CHECK(only_b == NULL);
	gb_schema_destroy(&only_b); /* NULL is fine */
}

/* Pack a FileDescriptorSet holding `files` (borrowed). */
static uint8_t *pack_set(Google__Protobuf__FileDescriptorProto **files,
			 size_t n, size_t *len)
{
	Google__Protobuf__FileDescriptorSet set =
		GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
	uint8_t *buf;

	set.n_file = n;
	set.file = files;
	*len = google__protobuf__file_descriptor_set__get_packed_size(&set);
	buf = malloc(*len ? *len : 1);
	if (buf)
		google__protobuf__file_descriptor_set__pack(&set, buf);
	return buf;
}

static int load_one(const uint8_t *data, size_t len)
{
	gb_schema_set set = {"hostile", data, len};
	gb_schema *s = NULL;
	int rc = gb_schema_load(&set, 1, &s, why, sizeof why);

	CHECK((rc == 0) == (s != NULL));
	gb_schema_destroy(&s);
	return rc;
}

/* Turn buf[*pos..end) into one length-delimited field with `tag`, in
 * place, by writing the tag and length before it. */
static void prepend_field(uint8_t *buf, size_t *pos, size_t end, uint8_t tag)
{
	uint8_t b[GB_VARINT_MAX_BYTES];
	size_t n = gb_varint_put(end - *pos, b);

	*pos -= n;
	memcpy(buf + *pos, b, n);
	buf[--*pos] = tag;
}

static void test_bad_sets(void)
{
	Google__Protobuf__FileDescriptorSet *a =
		google__protobuf__file_descriptor_set__unpack(NULL, set_a_len,
							      set_a);
	static const uint8_t garbage[] = "this is not a descriptor set\n";
	static const uint8_t cut[] = {0x0a, 0x40, 0x0a};
	Google__Protobuf__FileDescriptorProto *files[2];
	gb_schema_set two[2];
	gb_schema *s = NULL;
	uint8_t *buf, *deep;
	size_t len, pos;
	char *saved;

	CHECK(a != NULL && a->n_file == 2);
	if (!a || a->n_file != 2)
		return;
	CHECK_RC(load_one(garbage, sizeof garbage - 1), GB_EDECODE);
	CHECK_CONTAINS(why, "not a descriptor set");
	CHECK_RC(load_one(cut, sizeof cut), GB_EDECODE);
	CHECK(load_one(NULL, 0) != 0);
	CHECK_CONTAINS(why, "empty");
	CHECK_RC(gb_schema_load(two, 0, &s, why, sizeof why), GB_EINVAL);

	/* the proto2 file without its import */
	for (size_t i = 0; i < 2; i++)
		if (!strcmp(a->file[i]->name, "gb_schema_test2.proto"))
			files[0] = a->file[i];
	buf = pack_set(files, 1, &len);
	CHECK_RC(load_one(buf, len), GB_EINVAL);
	CHECK_CONTAINS(why, "imports gb_schema_test.proto, which no set holds");
	free(buf);

	/* the shared import, altered in one set */
	for (size_t i = 0; i < 2; i++)
		if (!strcmp(a->file[i]->name, "gb_schema_test.proto"))
			files[1] = a->file[i];
	saved = files[1]->message_type[0]->name;
	files[1]->message_type[0]->name = (char *)"Altered";
	buf = pack_set(&files[1], 1, &len);
	files[1]->message_type[0]->name = saved;
	two[0] = (gb_schema_set){"set A", set_a, set_a_len};
	two[1] = (gb_schema_set){"altered", buf, len};
	CHECK_RC(gb_schema_load(two, 2, &s, why, sizeof why), GB_EINVAL);
	CHECK_CONTAINS(why, "different contents");
	free(buf);

	/* an unresolvable type reference */
	{
		Google__Protobuf__FieldDescriptorProto *fp = NULL;
		Google__Protobuf__DescriptorProto *inner = NULL;

		for (size_t i = 0; i < files[1]->n_message_type; i++)
			if (!strcmp(files[1]->message_type[i]->name, "Inner"))
				inner = files[1]->message_type[i];
		CHECK(inner != NULL);
		for (size_t i = 0; inner && i < inner->n_field; i++)
			if (!strcmp(inner->field[i]->name, "child"))
				fp = inner->field[i];
		CHECK(fp != NULL);
		if (fp) {
			saved = fp->type_name;
			fp->type_name = (char *)".govbus.test.Missing";
			buf = pack_set(&files[1], 1, &len);
			fp->type_name = saved;
			CHECK_RC(load_one(buf, len), GB_EINVAL);
			CHECK_CONTAINS(why, "govbus.test.Inner.child: unknown "
				       "message type govbus.test.Missing");
			free(buf);
		}
	}

	/* a descriptor nested far deeper than the stack should go:
	 * DescriptorProto.nested_type (3) inside itself 20000 times, in
	 * FileDescriptorProto.message_type (4), in FileDescriptorSet.file (1),
	 * built from the inside out */
	len = 200000;
	deep = malloc(len);
	CHECK(deep != NULL);
	if (deep) {
		pos = len;
		for (int level = 0; level < 20000; level++)
			prepend_field(deep, &pos, len, 0x1a);
		prepend_field(deep, &pos, len, 0x22);
		prepend_field(deep, &pos, len, 0x0a);
		CHECK_RC(load_one(deep + pos, len - pos), GB_ETOOBIG);
		CHECK_CONTAINS(why, "nested deeper");
		/* and far too wide: 250000 empty messages in one file */
		len = 2 * 250000 + 16;
		free(deep);
		deep = malloc(len);
		CHECK(deep != NULL);
		for (pos = 16; deep && pos < len; pos += 2) {
			deep[pos] = 0x22; /* message_type, empty */
			deep[pos + 1] = 0;
		}
		if (deep) {
			pos = 16;
			prepend_field(deep, &pos, len, 0x0a);
			CHECK_RC(load_one(deep + pos, len - pos), GB_ETOOBIG);
			CHECK_CONTAINS(why, "more than 200000 messages");
		}
		free(deep);
	}
	google__protobuf__file_descriptor_set__free_unpacked(a, NULL);
}

/* ---------------------------------------------------------------- JSON */

/* Every proto3 type class, in the canonical form gb_schema_to_json prints
 * (field number order, JSON names, 64-bit integers as strings). */
static const char all_json[] =
	"{\"fDouble\":-2.5,\"fFloat\":0.1,\"fInt32\":-7,"
	"\"fInt64\":\"-9007199254740993\",\"fUint32\":4294967295,"
	"\"fUint64\":\"18446744073709551615\",\"fSint32\":-2147483648,"
	"\"fSint64\":\"-9223372036854775808\",\"fFixed32\":123,"
	"\"fFixed64\":\"9223372036854775809\",\"fSfixed32\":-5,"
	"\"fSfixed64\":\"-6\",\"fBool\":true,\"fString\":\"h\xc3\xa9llo\\n\","
	"\"fBytes\":\"AP+A\",\"fEnum\":\"INFRARED\","
	"\"fMessage\":{\"label\":\"outer\",\"n\":1,"
	"\"child\":{\"label\":\"inner\",\"n\":2}},"
	"\"rInt32\":[1,-1,300],\"rString\":[\"a\",\"\"],"
	"\"rMessage\":[{\"n\":3},{}],\"rDouble\":[1.5,\"NaN\",\"-Infinity\"],"
	"\"rSint64\":[\"-1\",\"2\"],\"rEnum\":[\"RED\",\"GREEN\"],"
	"\"mStringInt64\":{\"x\":\"1\",\"y\":\"-2\"},"
	"\"mInt32Inner\":{\"-4\":{\"label\":\"four\"}},"
	"\"mBoolString\":{\"true\":\"yes\"},"
	"\"mUint64Bytes\":{\"18446744073709551615\":\"AQI=\"},"
	"\"cNumber\":\"42\",\"level\":\"HIGH\",\"customName\":\"j\"}";

static void test_round_trip(void)
{
	Govbus__Test__AllTypes *m;
	uint8_t *pb = NULL, *pb2 = NULL;
	size_t len = 0, len2 = 0;
	char *back;

	CHECK_RC(from_json("govbus.test.AllTypes", all_json, &pb, &len), 0);
	if (!pb) {
		fprintf(stderr, "from_json: %s\n", why);
		return;
	}
	/* protoc-c's decoder reads the same values */
	m = govbus__test__all_types__unpack(NULL, len, pb);
	CHECK(m != NULL);
	if (m) {
		CHECK(m->f_double == -2.5);
		CHECK(m->f_float == 0.1f);
		CHECK(m->f_int32 == -7);
		CHECK(m->f_int64 == INT64_C(-9007199254740993));
		CHECK(m->f_uint32 == UINT32_MAX);
		CHECK(m->f_uint64 == UINT64_MAX);
		CHECK(m->f_sint32 == INT32_MIN);
		CHECK(m->f_sint64 == INT64_MIN);
		CHECK(m->f_fixed32 == 123);
		CHECK(m->f_fixed64 == UINT64_C(9223372036854775809));
		CHECK(m->f_sfixed32 == -5);
		CHECK(m->f_sfixed64 == -6);
		CHECK(m->f_bool);
		CHECK_STR(m->f_string, "h\xc3\xa9llo\n");
		CHECK(m->f_bytes.len == 3 && m->f_bytes.data[0] == 0 &&
		      m->f_bytes.data[1] == 0xff && m->f_bytes.data[2] == 0x80);
		CHECK(m->f_enum == GOVBUS__TEST__COLOUR__INFRARED);
		CHECK(m->f_message && m->f_message->child &&
		      m->f_message->child->n == 2);
		CHECK(m->n_r_int32 == 3 && m->r_int32[2] == 300);
		CHECK(m->n_r_string == 2 && !strcmp(m->r_string[1], ""));
		CHECK(m->n_r_message == 2 && m->r_message[0]->n == 3);
		CHECK(m->n_r_double == 3 && isnan(m->r_double[1]) &&
		      m->r_double[2] == -INFINITY);
		CHECK(m->n_r_sint64 == 2 && m->r_sint64[0] == -1);
		CHECK(m->n_r_enum == 2 && m->r_enum[1] == GOVBUS__TEST__COLOUR__GREEN);
		CHECK(m->n_m_string_int64 == 2 &&
		      m->m_string_int64[1]->value == -2);
		CHECK(m->n_m_int32_inner == 1 &&
		      m->m_int32_inner[0]->key == -4 &&
		      !strcmp(m->m_int32_inner[0]->value->label, "four"));
		CHECK(m->n_m_bool_string == 1 && m->m_bool_string[0]->key);
		CHECK(m->n_m_uint64_bytes == 1 &&
		      m->m_uint64_bytes[0]->key == UINT64_MAX &&
		      m->m_uint64_bytes[0]->value.len == 2);
		CHECK(m->choice_case == GOVBUS__TEST__ALL_TYPES__CHOICE_C_NUMBER &&
		      m->c_number == 42);
		CHECK(m->level == GOVBUS__TEST__ALL_TYPES__NESTED__LEVEL__HIGH);
		CHECK_STR(m->json_named, "j");
		govbus__test__all_types__free_unpacked(m, NULL);
	}
	CHECK_RC(gb_schema_validate(type("govbus.test.AllTypes"), pb, len, why,
				    sizeof why), 0);
	back = to_json("govbus.test.AllTypes", pb, len);
	CHECK_STR(back, all_json);
	/* and JSON -> protobuf again gives the very same bytes */
	if (back)
		CHECK_RC(from_json("govbus.test.AllTypes", back, &pb2, &len2), 0);
	CHECK(pb2 && len2 == len && !memcmp(pb, pb2, len));
	free(back);
	free(pb);
	free(pb2);
}

/* Records protoc-c writes convert and validate too (unpacked repeated
 * fields as protobuf-c writes them, defaults left out). */
static void test_from_protobuf_c(void)
{
	Govbus__Test__AllTypes m = GOVBUS__TEST__ALL_TYPES__INIT;
	Govbus__Test__Inner inner = GOVBUS__TEST__INNER__INIT;
	int32_t ints[] = {5, 6};
	uint8_t *buf;
	size_t len;
	char *j;

	inner.label = (char *)"x";
	m.f_message = &inner;
	m.n_r_int32 = 2;
	m.r_int32 = ints;
	m.f_float = 3.25f;
	m.choice_case = GOVBUS__TEST__ALL_TYPES__CHOICE_C_TEXT;
	m.c_text = (char *)"";
	len = govbus__test__all_types__get_packed_size(&m);
	buf = malloc(len);
	CHECK(buf != NULL);
	if (!buf)
		return;
	govbus__test__all_types__pack(&m, buf);
	j = to_json("govbus.test.AllTypes", buf, len);
	CHECK_STR(j, "{\"fFloat\":3.25,\"fMessage\":{\"label\":\"x\"},"
		     "\"rInt32\":[5,6],\"cText\":\"\"}");
	free(j);
	free(buf);
}

static void test_json_inputs(void)
{
	uint8_t *pb = NULL;
	size_t len = 0;
	char *j;

	/* either name, numbers or strings for 64-bit values, enum numbers,
	 * URL-safe base64 without padding, integral reals, null as unset */
	CHECK_RC(from_json("govbus.test.AllTypes",
			   "{\"f_int64\": 5, \"fUint64\": \"7\", \"f_enum\": 2,"
			   " \"fBytes\": \"AP-A_w\", \"fInt32\": 3.0,"
			   " \"fString\": null, \"json_named\": \"k\","
			   " \"fFloat\": \"Infinity\"}",
			   &pb, &len), 0);
	j = pb ? to_json("govbus.test.AllTypes", pb, len) : NULL;
	CHECK_STR(j, "{\"fFloat\":\"Infinity\",\"fInt32\":3,\"fInt64\":\"5\","
		     "\"fUint64\":\"7\",\"fBytes\":\"AP+A/w==\","
		     "\"fEnum\":\"GREEN\",\"customName\":\"k\"}");
	free(j);
	free(pb);
	pb = NULL;

	/* implicit-presence defaults are left out: nothing to write */
	CHECK_RC(from_json("govbus.test.AllTypes",
			   "{\"fInt32\":0,\"fString\":\"\",\"fBool\":false,"
			   "\"fEnum\":\"COLOUR_UNSPECIFIED\",\"rInt32\":[]}",
			   &pb, &len), 0);
	CHECK(pb != NULL && len == 0);
	free(pb);
	pb = NULL;

	/* a oneof member keeps its default (it has presence) */
	CHECK_RC(from_json("govbus.test.AllTypes", "{\"cNumber\":0}", &pb,
			   &len), 0);
	CHECK(len == 3 && pb && pb[0] == 0xe8 && pb[1] == 0x01 && pb[2] == 0);
	free(pb);
}

static void test_json_errors(void)
{
	check_bad_json("govbus.test.AllTypes", "{\"fEnum\":\"PURPLE\"}",
		       "fEnum: \"PURPLE\" is not a value of govbus.test.Colour "
		       "(INFRARED, COLOUR_UNSPECIFIED, RED or GREEN)");
	check_bad_json("govbus.test.AllTypes", "{\"fEnum\":7}",
		       "fEnum: 7 is not a value of govbus.test.Colour");
	check_bad_json("govbus.test.AllTypes", "{\"rEnum\":[\"RED\",\"BLUE\"]}",
		       "rEnum[1]: \"BLUE\" is not a value");
	check_bad_json("govbus.test.AllTypes", "{\"nope\":1}",
		       "nope: unknown field (not in govbus.test.AllTypes)");
	check_bad_json("govbus.test.AllTypes",
		       "{\"fMessage\":{\"child\":{\"colour\":1}}}",
		       "fMessage.child.colour: unknown field (not in "
		       "govbus.test.Inner)");
	check_bad_json("govbus.test.AllTypes", "{\"fInt32\":2147483648}",
		       "fInt32: out of range for int32");
	check_bad_json("govbus.test.AllTypes", "{\"fUint32\":-1}",
		       "fUint32: out of range for uint32");
	check_bad_json("govbus.test.AllTypes", "{\"fUint64\":\"-1\"}",
		       "out of range for uint64");
	check_bad_json("govbus.test.AllTypes",
		       "{\"fInt64\":\"9223372036854775808\"}",
		       "out of range for int64");
	check_bad_json("govbus.test.AllTypes", "{\"fInt64\":\"12abc\"}",
		       "\"12abc\" is not a whole number (int64)");
	check_bad_json("govbus.test.AllTypes", "{\"fInt32\":1.5}",
		       "1.5 is not a whole number");
	check_bad_json("govbus.test.AllTypes", "{\"fFloat\":1e39}",
		       "out of range for float");
	check_bad_json("govbus.test.AllTypes", "{\"fBool\":1}",
		       "fBool: expected bool");
	check_bad_json("govbus.test.AllTypes", "{\"fString\":5}",
		       "fString: expected string");
	check_bad_json("govbus.test.AllTypes", "{\"fBytes\":\"a!b=\"}",
		       "fBytes: not valid base64");
	check_bad_json("govbus.test.AllTypes", "{\"rInt32\":5}",
		       "rInt32: expected a JSON array");
	check_bad_json("govbus.test.AllTypes", "{\"rInt32\":[1,null]}",
		       "rInt32[1]");
	check_bad_json("govbus.test.AllTypes", "{\"mInt32Inner\":{\"x\":{}}}",
		       "mInt32Inner[\"x\"]: \"x\" is not a whole number");
	check_bad_json("govbus.test.AllTypes", "{\"mBoolString\":{\"1\":\"a\"}}",
		       "map key is not true or false");
	check_bad_json("govbus.test.AllTypes", "{\"fMessage\":5}",
		       "fMessage: expected a JSON object (message "
		       "govbus.test.Inner)");
	check_bad_json("govbus.test.AllTypes", "{\"cText\":\"a\",\"cNumber\":1}",
		       "cText is already set; only one field of oneof choice");
	check_bad_json("govbus.test.AllTypes",
		       "{\"json_named\":\"a\",\"customName\":\"b\"}",
		       "customName: the same field as json_named");
	check_bad_json("govbus.test.AllTypes", "{\"fInt32\":1,\"fInt32\":2}",
		       "not JSON: duplicate object key");
	check_bad_json("govbus.test.AllTypes", "[1]", "expected a JSON object");
	check_bad_json("govbus.test.AllTypes", "{\"fInt32\":", "not JSON");
	check_bad_json("govbus.test.AllTypes", "", "not JSON");
	check_bad_json("govbus.test2.Invoice", "{\"number\":\"A-1\"}",
		       "amount: required field missing");
	check_bad_json("govbus.test2.Invoice",
		       "{\"number\":\"A-1\",\"amount\":1,"
		       "\"lines\":[{\"name\":\"a\"},{\"vat\":\"x\"}]}",
		       "lines[1].name: required field missing");
	check_bad_json("govbus.test2.Invoice",
		       "{\"number\":\"A\",\"amount\":1,\"status\":\"PAID\"}",
		       "status: \"PAID\" is not a value of "
		       "govbus.test2.Invoice.Status (DRAFT or SENT)");
}

/* ---------------------------------------------------------------- validation */

static void test_validate(void)
{
	/* f_int64 (4) sent length-delimited */
	static const uint8_t wrong_wire[] = {0x22, 0x01, 'x'};
	/* f_string (14) announces 5 bytes, has 2 */
	static const uint8_t truncated[] = {0x72, 0x05, 'a', 'b'};
	/* f_int32 (3): a varint cut short */
	static const uint8_t cut_varint[] = {0x18, 0x80};
	/* f_message.child.n (17 -> 3 -> 2) as 64-bit */
	static const uint8_t nested[] = {0x8a, 0x01, 0x0b, 0x1a, 0x09, 0x11,
					 1, 2, 3, 4, 5, 6, 7, 8};
	/* field 99 is not declared */
	static const uint8_t unknown[] = {0x98, 0x06, 0x01};
	/* f_string holding invalid UTF-8 */
	static const uint8_t bad_utf8[] = {0x72, 0x02, 0xc3, 0x28};
	/* f_int32 = 2^31 (not a sign-extended int32) */
	static const uint8_t big_int32[] = {0x18, 0x80, 0x80, 0x80, 0x80, 0x08};
	/* f_enum = 5: not declared */
	static const uint8_t bad_enum[] = {0x80, 0x01, 0x05};
	/* f_bool = 2 */
	static const uint8_t bad_bool[] = {0x68, 0x02};
	/* both members of oneof choice */
	static const uint8_t two_oneof[] = {0xe2, 0x01, 0x00, 0xe8, 0x01, 0x01};
	/* r_int32 packed, cut inside the second varint */
	static const uint8_t bad_packed[] = {0x92, 0x01, 0x02, 0x01, 0x80};
	/* r_int32 packed and unpacked mixed: fine */
	static const uint8_t mixed[] = {0x92, 0x01, 0x02, 0x01, 0x02, 0x90,
					0x01, 0x03};
	/* r_message[1].n as a string */
	static const uint8_t rep_path[] = {0xa2, 0x01, 0x00, 0xa2, 0x01, 0x03,
					   0x12, 0x01, 'x'};
	/* a group start tag */
	static const uint8_t group[] = {0x1b};
	/* Invoice with number only */
	static const uint8_t no_amount[] = {0x0a, 0x01, 'A'};
	/* Invoice {number, amount, seller {vat}} */
	static const uint8_t no_seller_name[] = {0x0a, 0x01, 'A', 0x10, 0x01,
						 0x22, 0x03, 0x12, 0x01, 'v'};
	uint8_t *deep;
	size_t n = 70, len;
	char *j;

	CHECK_RC(gb_schema_validate(type("govbus.test.AllTypes"), NULL, 0, why,
				    sizeof why), 0);
	check_invalid("govbus.test.AllTypes", wrong_wire, sizeof wrong_wire,
		      "f_int64: expected int64 (varint), found "
		      "length-delimited");
	check_invalid("govbus.test.AllTypes", truncated, sizeof truncated,
		      "f_string: truncated: length 5 but only 2 bytes left");
	check_invalid("govbus.test.AllTypes", cut_varint, sizeof cut_varint,
		      "f_int32: truncated");
	check_invalid("govbus.test.AllTypes", nested, sizeof nested,
		      "f_message.child.n: expected int32 (varint), found "
		      "64-bit");
	check_invalid("govbus.test.AllTypes", unknown, sizeof unknown,
		      "field number 99 (varint) is not a field of "
		      "govbus.test.AllTypes");
	check_invalid("govbus.test.AllTypes", bad_utf8, sizeof bad_utf8,
		      "f_string: not valid UTF-8");
	check_invalid("govbus.test.AllTypes", big_int32, sizeof big_int32,
		      "f_int32: 2147483648 is out of range for int32");
	check_invalid("govbus.test.AllTypes", bad_enum, sizeof bad_enum,
		      "f_enum: 5 is not a value of govbus.test.Colour");
	check_invalid("govbus.test.AllTypes", bad_bool, sizeof bad_bool,
		      "f_bool: 2 is not a bool");
	check_invalid("govbus.test.AllTypes", two_oneof, sizeof two_oneof,
		      "c_number: c_text is already set; only one field of "
		      "oneof choice");
	check_invalid("govbus.test.AllTypes", bad_packed, sizeof bad_packed,
		      "r_int32[1]: truncated: the packed values end inside a "
		      "varint");
	check_invalid("govbus.test.AllTypes", rep_path, sizeof rep_path,
		      "r_message[1].n: expected int32 (varint), found "
		      "length-delimited");
	check_invalid("govbus.test.AllTypes", group, sizeof group,
		      "f_int32: expected int32 (varint), found group start");
	check_invalid("govbus.test2.Invoice", no_amount, sizeof no_amount,
		      "amount: required field missing");
	check_invalid("govbus.test2.Invoice", no_seller_name,
		      sizeof no_seller_name,
		      "seller.name: required field missing");
	CHECK_RC(gb_schema_validate(type("govbus.test.AllTypes"), mixed,
				    sizeof mixed, why, sizeof why), 0);
	j = to_json("govbus.test.AllTypes", mixed, sizeof mixed);
	CHECK_STR(j, "{\"rInt32\":[1,2,3]}");
	free(j);

	/* Inner.child nested 70 deep: refused past the depth limit */
	deep = malloc(4 * n + 4);
	CHECK(deep != NULL);
	if (deep) {
		size_t body = 0, pos = 4 * n + 4;

		for (size_t i = 0; i < n; i++) {
			uint8_t b[GB_VARINT_MAX_BYTES];
			size_t k = gb_varint_put(body, b);

			pos -= k;
			memcpy(deep + pos, b, k);
			deep[--pos] = 0x1a; /* Inner.child */
			body += k + 1;
		}
		len = body;
		check_invalid("govbus.test.Inner", deep + pos, len,
			      "nested more than 64 messages deep");
		free(deep);
	}
}

/* Every prefix of a valid record either validates (it ends on a field
 * boundary) or is refused as truncated; none crashes. */
static void test_truncations(void)
{
	uint8_t *pb = NULL;
	size_t len = 0, refused = 0;

	CHECK_RC(from_json("govbus.test.AllTypes", all_json, &pb, &len), 0);
	for (size_t cut = 0; pb && cut < len; cut++) {
		int rc = gb_schema_validate(type("govbus.test.AllTypes"), pb,
					    cut, why, sizeof why);
		if (rc != 0) {
			refused++;
			CHECK_RC(rc, GB_EDECODE);
		}
	}
	CHECK(refused > len / 2);
	free(pb);
}

static void test_presence(void)
{
	static const uint8_t zero_maybe[] = {0x08, 0x00};
	uint8_t *pb = NULL;
	size_t len = 0;
	char *j;

	/* proto3 optional: a set zero is written and printed */
	CHECK_RC(from_json("govbus.test3.Presence",
			   "{\"maybe\":0,\"plain\":0,\"colour\":\"RED\"}", &pb,
			   &len), 0);
	CHECK(len == 4 && pb && pb[0] == 0x08 && pb[1] == 0 && pb[2] == 0x18 &&
	      pb[3] == 1);
	free(pb);
	j = to_json("govbus.test3.Presence", zero_maybe, sizeof zero_maybe);
	CHECK_STR(j, "{\"maybe\":0}");
	free(j);
	j = to_json("govbus.test3.Presence", NULL, 0);
	CHECK_STR(j, "{}");
	free(j);
	/* proto2 optional has presence as well */
	pb = NULL;
	CHECK_RC(from_json("govbus.test2.Invoice",
			   "{\"number\":\"\",\"amount\":0,\"zero\":0,"
			   "\"packedInts\":[1,2]}",
			   &pb, &len), 0);
	j = pb ? to_json("govbus.test2.Invoice", pb, len) : NULL;
	CHECK_STR(j, "{\"number\":\"\",\"amount\":\"0\",\"packedInts\":[1,2],"
		     "\"zero\":0}");
	free(j);
	free(pb);
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* `buf` with 1..3 random bytes changed. */
static void mutate(uint8_t *buf, size_t len)
{
	for (uint64_t k = 1 + next_random() % 3; k && len; k--)
		buf[next_random() % len] ^= (uint8_t)(1 + next_random() % 255);
}

/* Random and mutated records, mutated descriptor sets: refused or
 * accepted, never a crash or a leak (the ASan run). */
static void test_random(void)
{
	uint8_t buf[64], *good = NULL, *copy;
	size_t good_len = 0, ok = 0;

	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(next_random() % sizeof buf);
		char *j = NULL;
		size_t jl;

		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)next_random();
		if (gb_schema_to_json(type("govbus.test.AllTypes"), buf, len,
				      &j, &jl, why, sizeof why) == 0)
			ok++;
		free(j);
	}
	CHECK(ok < 20000);
	CHECK_RC(from_json("govbus.test.AllTypes", all_json, &good, &good_len),
		 0);
	copy = malloc(good_len > set_a_len ? good_len : set_a_len);
	for (int i = 0; good && copy && i < 5000; i++) {
		char *j = NULL;
		size_t jl;

		memcpy(copy, good, good_len);
		mutate(copy, good_len);
		if (gb_schema_to_json(type("govbus.test.AllTypes"), copy,
				      good_len, &j, &jl, why, sizeof why) == 0)
			CHECK(gb_schema_validate(type("govbus.test.AllTypes"),
						 copy, good_len, why,
						 sizeof why) == 0);
		free(j);
	}
	for (int i = 0; copy && i < 1000; i++) {
		memcpy(copy, set_a, set_a_len);
		mutate(copy, set_a_len);
		(void)load_one(copy, set_a_len);
	}
	free(copy);
	free(good);
}

static int read_set(const char *path, uint8_t **data, size_t *len)
{
	int rc = gb_schema_read_file(path, data, len, why, sizeof why);

	if (rc != 0)
		fprintf(stderr, "%s\n", why);
	return rc;
}

int main(int argc, char **argv)
{
	uint8_t *dummy = NULL;
	size_t dummy_len;

	CHECK_RC(read_set(argc > 1 ? argv[1] : GB_SCHEMA_TEST_SET_A, &set_a,
			  &set_a_len), 0);
	CHECK_RC(read_set(argc > 2 ? argv[2] : GB_SCHEMA_TEST_SET_B, &set_b,
			  &set_b_len), 0);
	CHECK_RC(gb_schema_read_file("/nonexistent/x.desc", &dummy, &dummy_len,
				     why, sizeof why), GB_EIO);
	CHECK_CONTAINS(why, "cannot open /nonexistent/x.desc");
	CHECK_RC(gb_schema_read_file("/", &dummy, &dummy_len, why, sizeof why),
		 GB_EIO);
	if (!set_a || !set_b)
		TEST_EXIT();
	test_load();
	if (schema) {
		test_bad_sets();
		test_round_trip();
		test_from_protobuf_c();
		test_json_inputs();
		test_json_errors();
		test_validate();
		test_truncations();
		test_presence();
		test_random();
	}
	gb_schema_destroy(&schema);
	free(set_a);
	free(set_b);
	TEST_EXIT();
}
