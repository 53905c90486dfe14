/* Tests for the YAML walker on its own: reading a file bounded, screening
 * (anchors, aliases, second documents, depth), mappings with unknown,
 * repeated, missing and empty keys, and each kind of scalar check, every
 * error compared in full with its file:line:col. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gb_error.h"
#include "gb_test.h"
#include "gb_yaml.h"

static char tmp_dir[] = "/tmp/gb_yaml_test.XXXXXX";

/* The walker's last error as "file:line:col: message". */
static const char *error_text(const gb_yaml_error *err)
{
	static char text[1024];

	gb_yaml_error_format(err, text, sizeof text);
	return text;
}

/* A walker over `text`, loaded (the test fails if it does not load). */
static gb_yaml *load(const char *text, gb_yaml_error *err)
{
	gb_yaml *w = NULL;

	CHECK_RC(gb_yaml_new("t.yaml", err, &w), 0);
	if (!w)
		exit(2);
	if (gb_yaml_load(w, (const uint8_t *)text, strlen(text)) != 0) {
		fprintf(stderr, "cannot load test text: %s\n", error_text(err));
		exit(2);
	}
	return w;
}

/* The value of top-level key `name` (the root must be a mapping). */
static const yaml_node_t *top(gb_yaml *w, const char *name)
{
	const yaml_node_t *root = gb_yaml_root(w);

	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		const yaml_node_t *key = gb_yaml_node(w, p->key);

		if (!strcmp((const char *)key->data.scalar.value, name))
			return gb_yaml_node(w, p->value);
	}
	fprintf(stderr, "test text has no key %s\n", name);
	exit(2);
}

/* Expect `rc` to be GB_ECONFIG with exactly the error `want`. */
#define CHECK_FAIL(call, err, want)                                          \
	do {                                                                 \
		CHECK_RC(call, GB_ECONFIG);                                  \
		CHECK_STR(error_text(err), want);                            \
	} while (0)

static void test_error_format(void)
{
	gb_yaml_error err = {"a.yaml", 7, 16, "x: bad"};
	char buf[64];

	gb_yaml_error_format(&err, buf, sizeof buf);
	CHECK_STR(buf, "a.yaml:7:16: x: bad");
	err.line = 0;
	gb_yaml_error_format(&err, buf, sizeof buf);
	CHECK_STR(buf, "a.yaml: x: bad");
	err.file[0] = '\0';
	gb_yaml_error_format(&err, buf, sizeof buf);
	CHECK_STR(buf, "x: bad");
	gb_yaml_error_format(NULL, buf, sizeof buf);
	CHECK_STR(buf, "no error");
	gb_yaml_error_format(&err, buf, 3);
	CHECK_STR(buf, "x:");
}

static void test_read_file(void)
{
	char path[PATH_MAX], want[PATH_MAX + 64];
	gb_yaml_error err;
	gb_yaml *w = NULL;
	uint8_t *buf = NULL;
	size_t len = 7;
	FILE *f;

	/* a good file, read whole */
	snprintf(path, sizeof path, "%s/good.yaml", tmp_dir);
	f = fopen(path, "w");
	CHECK(f && fputs("a: 1\n", f) >= 0 && fclose(f) == 0);
	CHECK_RC(gb_yaml_new(path, &err, &w), 0);
	CHECK_RC(gb_yaml_read_file(w, 5, &buf, &len), 0);
	CHECK(buf && len == 5 && !memcmp(buf, "a: 1\n", 5));
	free(buf);
	/* one byte over the limit */
	CHECK_RC(gb_yaml_read_file(w, 4, &buf, &len), GB_ETOOBIG);
	CHECK(buf == NULL && len == 0);
	snprintf(want, sizeof want, "%s: larger than 4 bytes", path);
	CHECK_STR(error_text(&err), want);
	gb_yaml_destroy(&w);
	CHECK(w == NULL);
	gb_yaml_destroy(&w);

	/* missing */
	snprintf(path, sizeof path, "%s/missing.yaml", tmp_dir);
	CHECK_RC(gb_yaml_new(path, &err, &w), 0);
	CHECK_RC(gb_yaml_read_file(w, 100, &buf, &len), GB_EIO);
	snprintf(want, sizeof want, "%s: cannot open: %s", path,
		 strerror(ENOENT));
	CHECK_STR(error_text(&err), want);
	gb_yaml_destroy(&w);

	/* a folder, and a FIFO (which must not hang the open) */
	CHECK_RC(gb_yaml_new(tmp_dir, &err, &w), 0);
	CHECK_RC(gb_yaml_read_file(w, 100, &buf, &len), GB_EIO);
	snprintf(want, sizeof want, "%s: not a regular file", tmp_dir);
	CHECK_STR(error_text(&err), want);
	gb_yaml_destroy(&w);
	snprintf(path, sizeof path, "%s/fifo", tmp_dir);
	CHECK(mkfifo(path, 0600) == 0);
	CHECK_RC(gb_yaml_new(path, &err, &w), 0);
	CHECK_RC(gb_yaml_read_file(w, 100, &buf, &len), GB_EIO);
	snprintf(want, sizeof want, "%s: not a regular file", path);
	CHECK_STR(error_text(&err), want);
	gb_yaml_destroy(&w);
	unlink(path);

	/* an unnamed walker has no file to read */
	CHECK_RC(gb_yaml_new(NULL, &err, &w), 0);
	CHECK_RC(gb_yaml_read_file(w, 100, &buf, &len), GB_EINVAL);
	CHECK_STR(error_text(&err), "no file name");
	gb_yaml_destroy(&w);
}

static void test_folder(void)
{
	static const struct {
		const char *name, *folder;
	} cases[] = {
		{"a/b/c.yaml", "a/b"}, {"c.yaml", "."}, {"/c.yaml", "/"},
		{"/etc/govbus/c.yaml", "/etc/govbus"}, {"./c.yaml", "."},
	};
	gb_yaml_error err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		gb_yaml *w = NULL;
		char *folder = NULL;

		CHECK_RC(gb_yaml_new(cases[i].name, &err, &w), 0);
		CHECK_RC(gb_yaml_folder(w, &folder), 0);
		CHECK_STR(folder, cases[i].folder);
		free(folder);
		gb_yaml_destroy(&w);
	}
}

/* Expect loading `text` to fail with exactly `want`. */
static void expect_load_error(const char *text, size_t len, const char *want)
{
	gb_yaml_error err;
	gb_yaml *w = NULL;

	CHECK_RC(gb_yaml_new("t.yaml", &err, &w), 0);
	CHECK_FAIL(gb_yaml_load(w, (const uint8_t *)text, len), &err, want);
	CHECK(gb_yaml_root(w) == NULL);
	gb_yaml_destroy(&w);
}

static void test_load(void)
{
	char deep[256] = "";
	gb_yaml_error err;
	gb_yaml *w;

	expect_load_error("a: [1, 2\nb: 3\n", 14,
			  "t.yaml:2:2: YAML syntax: did not find expected "
			  "',' or ']' while parsing a flow sequence");
	/* the reader counts bytes: line 2, column 4 is the bad one */
	expect_load_error("a: 1\nb: \x01\n", 10,
			  "t.yaml:2:4: not valid YAML text: control "
			  "characters are not allowed");
	expect_load_error("a: 1\nb: \xff\n", 10,
			  "t.yaml:2:4: not valid YAML text: invalid leading "
			  "UTF-8 octet");
	expect_load_error("a: &x 1\nb: 2\n", 13,
			  "t.yaml:1:4: YAML anchors (&x) are not allowed");
	expect_load_error("a: [1]\nb: *x\n", 13,
			  "t.yaml:2:4: YAML aliases (*x) are not allowed");
	expect_load_error("a: 1\n---\nb: 2\n", 14,
			  "t.yaml:2:1: only one YAML document is allowed");
	for (int i = 0; i < 17; i++)
		strcat(deep, "[");
	expect_load_error(deep, strlen(deep),
			  "t.yaml:1:17: nested more than 16 levels deep");
	/* sixteen levels are fine */
	strcpy(deep, "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]");
	w = load(deep, &err);
	CHECK(gb_yaml_root(w) != NULL);
	CHECK_RC(gb_yaml_load(w, (const uint8_t *)"a: 1", 4), GB_EINVAL);
	gb_yaml_destroy(&w);

	/* an empty file is an empty document, not an error */
	w = load("", &err);
	CHECK(gb_yaml_root(w) == NULL);
	gb_yaml_destroy(&w);
	w = load("# only a comment\n", &err);
	CHECK(gb_yaml_root(w) == NULL);
	gb_yaml_destroy(&w);
}

enum { F_NAME, F_SIZE, F_NOTE, F_COUNT };
static const gb_yaml_field fields[F_COUNT] = {
	[F_NAME] = {"name", true},
	[F_SIZE] = {"size", true},
	[F_NOTE] = {"note", false},
};

static void expect_map_error(const char *text, const char *where,
			     const char *want)
{
	const yaml_node_t *v[F_COUNT];
	gb_yaml_error err;
	gb_yaml *w = load(text, &err);

	CHECK_FAIL(gb_yaml_map_fields(w, gb_yaml_root(w), where, fields,
				      F_COUNT, v),
		   &err, want);
	gb_yaml_destroy(&w);
}

static void test_map_fields(void)
{
	const yaml_node_t *v[F_COUNT];
	gb_yaml_field many[GB_YAML_MAX_FIELDS + 1];
	gb_yaml_error err;
	gb_yaml *w;

	w = load("name: a\nsize: 3\nnote: ~\n", &err);
	CHECK_RC(gb_yaml_map_fields(w, gb_yaml_root(w), "thing", fields,
				    F_COUNT, v),
		 0);
	CHECK(v[F_NAME] && !strcmp((const char *)v[F_NAME]->data.scalar.value,
				   "a"));
	CHECK(v[F_SIZE] && v[F_SIZE]->start_mark.line == 1);
	CHECK(v[F_NOTE] == NULL); /* null is absent */
	for (size_t i = 0; i < GB_YAML_MAX_FIELDS + 1; i++)
		many[i] = (gb_yaml_field){"x", false};
	CHECK_RC(gb_yaml_map_fields(w, gb_yaml_root(w), "thing", many,
				    GB_YAML_MAX_FIELDS + 1, v),
		 GB_EINVAL);
	gb_yaml_destroy(&w);

	expect_map_error("name: a\nsize: 3\ncolour: red\n", "thing",
			 "t.yaml:3:1: thing: unknown key \"colour\" "
			 "(expected name, size or note)");
	expect_map_error("name: a\nsize: 3\nname: b\n", "thing",
			 "t.yaml:3:1: thing: key \"name\" given twice");
	expect_map_error("name: a\n", "thing",
			 "t.yaml:1:1: thing: missing required key \"size\"");
	expect_map_error("name: a\nsize:\n", "thing",
			 "t.yaml:2:6: thing.size: must not be empty");
	expect_map_error("name: a\nsize: null\n", "",
			 "t.yaml:2:7: size: must not be empty");
	expect_map_error("- name\n", "",
			 "t.yaml:1:1: the top level: expected a mapping "
			 "(key: value pairs)");
	expect_map_error("[a]: 1\n", "thing",
			 "t.yaml:1:1: thing: keys must be plain names");
	expect_map_error("\"co\\x01lour\": 1\n", "thing",
			 "t.yaml:1:1: thing: unknown key \"co?lour\" "
			 "(expected name, size or note)");
}

static void test_lists(void)
{
	gb_yaml_error err;
	gb_yaml *w = load("l: [a, b, c]\nm: {a: 1}\n", &err);
	size_t n = 9;

	CHECK_RC(gb_yaml_list(w, top(w, "l"), "l", &n), 0);
	CHECK(n == 3);
	CHECK(!strcmp((const char *)gb_yaml_list_item(w, top(w, "l"), 2)
			      ->data.scalar.value,
		      "c"));
	CHECK_RC(gb_yaml_list(w, NULL, "none", &n), 0);
	CHECK(n == 0);
	CHECK_FAIL(gb_yaml_list(w, top(w, "m"), "m", &n), &err,
		   "t.yaml:2:4: m: expected a list");
	gb_yaml_destroy(&w);
}

static void test_scalars(void)
{
	gb_yaml_error err;
	gb_yaml *w = load("list: [1]\n"
			  "map: {a: 1}\n"
			  "nul: \"a\\0b\"\n"
			  "id: tax.invoices\n"
			  "badid: Tax\n"
			  "longid: a0123456789012345678901234567890123456789"
			  "012345678901234567890123\n"
			  "empty: \"\"\n"
			  "ctrl: \"a\\tb\"\n"
			  "del: \"\\x7f\"\n"
			  "text: Régie des impôts\n"
			  "color: red\n",
			  &err);
	const char *text = "unset";
	size_t len = 9;
	int index = -1;
	char big[1100];

	CHECK_FAIL(gb_yaml_scalar(w, top(w, "list"), "list", &text, &len),
		   &err, "t.yaml:1:7: list: expected a single value, not a "
			 "list");
	CHECK(text && !strcmp(text, "") && len == 0);
	CHECK_FAIL(gb_yaml_scalar(w, top(w, "map"), "map", &text, &len),
		   &err, "t.yaml:2:6: map: expected a single value, not a "
			 "mapping");
	CHECK_FAIL(gb_yaml_scalar(w, top(w, "nul"), "nul", &text, &len),
		   &err, "t.yaml:3:6: nul: contains a NUL character");

	CHECK_RC(gb_yaml_id(w, top(w, "id"), "id", &text), 0);
	CHECK_STR(text, "tax.invoices");
	text = "unset";
	CHECK_FAIL(gb_yaml_id(w, top(w, "badid"), "badid", &text), &err,
		   "t.yaml:5:8: badid: \"Tax\" is not an id (1-64 of a-z "
		   "0-9 . _ -, starting with a letter)");
	CHECK_STR(text, "unset"); /* untouched on failure */
	CHECK_FAIL(gb_yaml_id(w, top(w, "longid"), "longid", &text), &err,
		   "t.yaml:6:9: longid: \"a0123456789012345678901234567890"
		   "12345678901234567890123456789012...\" is not an id (1-64 of "
		   "a-z 0-9 . _ -, starting with a letter)");

	CHECK_RC(gb_yaml_text(w, top(w, "text"), "text", &text), 0);
	CHECK_STR(text, "Régie des impôts");
	CHECK_FAIL(gb_yaml_text(w, top(w, "empty"), "empty", &text), &err,
		   "t.yaml:7:8: empty: must not be empty");
	CHECK_FAIL(gb_yaml_text(w, top(w, "ctrl"), "ctrl", &text), &err,
		   "t.yaml:8:7: ctrl: contains a control character");
	CHECK_FAIL(gb_yaml_text(w, top(w, "del"), "del", &text), &err,
		   "t.yaml:9:6: del: contains a control character");
	CHECK_FAIL(gb_yaml_text(w, top(w, "list"), "list", &text), &err,
		   "t.yaml:1:7: list: expected a single value, not a list");
	gb_yaml_destroy(&w);

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "t: ", 3);
	w = load(big, &err);
	CHECK_FAIL(gb_yaml_text(w, top(w, "t"), "t", &text), &err,
		   "t.yaml:1:4: t: longer than 1024 bytes");
	gb_yaml_destroy(&w);

	w = load("color: red\nbad: purple\n", &err);
	{
		static const char *const colors[] = {"red", "green", "blue"};

		CHECK_RC(gb_yaml_enum(w, top(w, "color"), "color", colors, 3,
				      &index),
			 0);
		CHECK(index == 0);
		CHECK_FAIL(gb_yaml_enum(w, top(w, "bad"), "bad", colors, 3,
					&index),
			   &err, "t.yaml:2:6: bad: \"purple\" is not red, "
				 "green or blue");
		CHECK(index == 0);
	}
	gb_yaml_destroy(&w);
}

static void test_numbers(void)
{
	gb_yaml_error err;
	gb_yaml *w = load("size: 1073741824\n"
			  "max: 18446744073709551615\n"
			  "over: 18446744073709551616\n"
			  "neg: -1\n"
			  "suffix: 1G\n"
			  "count: 60\n"
			  "zero: 0\n",
			  &err);
	uint64_t v = 7;

	CHECK_RC(gb_yaml_size(w, top(w, "size"), "size", &v), 0);
	CHECK(v == 1073741824u);
	CHECK_RC(gb_yaml_size(w, top(w, "max"), "max", &v), 0);
	CHECK(v == UINT64_MAX);
	v = 7;
	CHECK_FAIL(gb_yaml_size(w, top(w, "over"), "over", &v), &err,
		   "t.yaml:3:7: over: not a size in bytes (a whole number)");
	CHECK(v == 7);
	CHECK_FAIL(gb_yaml_size(w, top(w, "neg"), "neg", &v), &err,
		   "t.yaml:4:6: neg: not a size in bytes (a whole number)");
	CHECK_FAIL(gb_yaml_size(w, top(w, "suffix"), "suffix", &v), &err,
		   "t.yaml:5:9: suffix: not a size in bytes (a whole number)");

	CHECK_RC(gb_yaml_count(w, top(w, "count"), "count", 1, 60, &v), 0);
	CHECK(v == 60);
	CHECK_RC(gb_yaml_count(w, top(w, "zero"), "zero", 0, 1, &v), 0);
	CHECK(v == 0);
	v = 7;
	CHECK_FAIL(gb_yaml_count(w, top(w, "count"), "count", 1, 59, &v),
		   &err, "t.yaml:6:8: count: not a whole number from 1 to 59");
	CHECK(v == 7);
	CHECK_FAIL(gb_yaml_count(w, top(w, "zero"), "zero", 1, 5, &v), &err,
		   "t.yaml:7:7: zero: not a whole number from 1 to 5");
	CHECK_FAIL(gb_yaml_count(w, top(w, "neg"), "neg", 0, 5, &v), &err,
		   "t.yaml:4:6: neg: not a whole number from 0 to 5");
	gb_yaml_destroy(&w);
}

static void test_dates(void)
{
	static const char *const bad[] = {
		"2027-02-29", "2027-13-01", "2027-00-10", "1969-12-31",
		"2262-01-01", "2027-1-01", "2027-01-01T24:00:00Z",
		"2027-01-01T10:60:00Z", "2027-01-01T10:00:00", "27-01-01",
		"2027/01/01",
	};
	gb_yaml_error err;
	gb_yaml *w = load("day: 2028-02-29\n"
			  "time: 1970-01-02T00:00:01Z\n"
			  "last: 2261-12-31T23:59:59Z\n",
			  &err);
	const char *text = "unset";
	int64_t ns = 7;

	CHECK_RC(gb_yaml_date(w, top(w, "day"), "day", &ns), 0);
	CHECK(ns == INT64_C(1835395200) * 1000000000);
	CHECK_RC(gb_yaml_date(w, top(w, "time"), "time", &ns), 0);
	CHECK(ns == INT64_C(86401) * 1000000000);
	CHECK_RC(gb_yaml_date(w, top(w, "last"), "last", &ns), 0);
	CHECK(ns == INT64_C(9214646399) * 1000000000);
	CHECK_RC(gb_yaml_day(w, top(w, "day"), "day", &text), 0);
	CHECK_STR(text, "2028-02-29");
	text = "unset";
	CHECK_FAIL(gb_yaml_day(w, top(w, "time"), "time", &text), &err,
		   "t.yaml:2:7: time: \"1970-01-02T00:00:01Z\" is not a "
		   "date (YYYY-MM-DD, a real day, 1970-2261)");
	CHECK_STR(text, "unset");
	gb_yaml_destroy(&w);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char yaml[64], want[256];

		snprintf(yaml, sizeof yaml, "# a date\nd: %s\n", bad[i]);
		w = load(yaml, &err);
		ns = 7;
		snprintf(want, sizeof want,
			 "t.yaml:2:4: d: \"%s\" is not a date (YYYY-MM-DD or "
			 "YYYY-MM-DDTHH:MM:SSZ, a real day, 1970-2261)",
			 bad[i]);
		CHECK_FAIL(gb_yaml_date(w, top(w, "d"), "d", &ns), &err, want);
		CHECK(ns == 7);
		gb_yaml_destroy(&w);
	}
}

static void test_paths(void)
{
	static const struct {
		const char *value, *dir, *want;
	} cases[] = {
		{"/etc/k.key", "/srv/gb", "/etc/k.key"},
		{"keys/k.key", "/srv/gb", "/srv/gb/keys/k.key"},
		{"./data", "/srv/gb", "/srv/gb/data"},
		{"././data", "/srv/gb/", "/srv/gb/data"},
		{".", "/srv/gb", "/srv/gb"},
		{"./", "/srv/gb", "/srv/gb"},
		{"k.key", "/", "/k.key"},
		{"keys/k.key", ".", "keys/k.key"},
		{"./k.key", ".", "./k.key"},
	};
	char long_dir[PATH_MAX], want[256];
	gb_yaml_error err;
	gb_yaml *w;
	char *out = NULL;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char yaml[128];

		snprintf(yaml, sizeof yaml, "p: \"%s\"\n", cases[i].value);
		w = load(yaml, &err);
		CHECK_RC(gb_yaml_path(w, top(w, "p"), "p", cases[i].dir, &out),
			 0);
		CHECK_STR(out, cases[i].want);
		free(out);
		out = NULL;
		gb_yaml_destroy(&w);
	}

	w = load("p: keys/k.key\nq: \"\"\n", &err);
	memset(long_dir, 'd', sizeof long_dir - 10);
	long_dir[0] = '/';
	long_dir[sizeof long_dir - 10] = '\0';
	snprintf(want, sizeof want,
		 "t.yaml:1:4: p: longer than %d bytes once resolved",
		 PATH_MAX);
	CHECK_FAIL(gb_yaml_path(w, top(w, "p"), "p", long_dir, &out), &err,
		   want);
	CHECK(out == NULL);
	CHECK_FAIL(gb_yaml_path(w, top(w, "q"), "q", "/srv", &out), &err,
		   "t.yaml:2:4: q: must not be empty");
	gb_yaml_destroy(&w);
}

static void test_fail_and_snippet(void)
{
	char shown[GB_YAML_SNIPPET_SIZE], path[96];
	char longer[100];
	gb_yaml_error err;
	gb_yaml *w = load("a: 1\n", &err);

	CHECK_FAIL(gb_yaml_fail(w, NULL, "nothing here"), &err,
		   "t.yaml:1:1: nothing here");
	CHECK_FAIL(gb_yaml_fail(w, top(w, "a"), "a: %d", 5), &err,
		   "t.yaml:1:4: a: 5");
	CHECK_RC(gb_yaml_fail_file(w, GB_EIO, "gone: %s", "why"), GB_EIO);
	CHECK_STR(error_text(&err), "t.yaml: gone: why");
	CHECK_RC(gb_yaml_nomem(w), GB_ENOMEM);
	CHECK_STR(error_text(&err), "t.yaml: out of memory");
	gb_yaml_destroy(&w);

	CHECK_STR(gb_yaml_snippet("a\tb\xc3\xa9", 5, shown), "a?b??");
	memset(longer, 'z', sizeof longer);
	gb_yaml_snippet(longer, sizeof longer, shown);
	CHECK(strlen(shown) == 64 + 3 && !strcmp(shown + 64, "..."));
	CHECK_STR(gb_yaml_field_path(path, sizeof path, "grants[1]", "to"),
		  "grants[1].to");
	CHECK_STR(gb_yaml_field_path(path, sizeof path, "", "broker"),
		  "broker");
}

int main(void)
{
	if (!mkdtemp(tmp_dir)) {
		perror("mkdtemp");
		return 2;
	}
	test_error_format();
	test_read_file();
	test_folder();
	test_load();
	test_map_fields();
	test_lists();
	test_scalars();
	test_numbers();
	test_dates();
	test_paths();
	test_fail_and_snippet();
	{
		char path[PATH_MAX];

		snprintf(path, sizeof path, "%s/good.yaml", tmp_dir);
		unlink(path);
		rmdir(tmp_dir);
	}
	TEST_EXIT();
}
