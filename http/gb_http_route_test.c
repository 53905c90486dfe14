/* Unit tests of route patterns, path matching, percent-decoding, query
 * parameters and decimal parsing (gb_http_route.c). */
#include <stdio.h>
#include <string.h>

#include "gb_http_route.h"
#include "gb_test.h"

static void handler(void *cls, gb_http_request *req)
{
	(void)cls;
	(void)req;
}

static const gb_http_route table[] = {
	{"POST", "/v1/datasets/{id}/records", handler, NULL, 0},
	{"GET", "/v1/datasets/{id}/records", handler, NULL, 0},
	{"GET", "/v1/catalog", handler, NULL, 0},
	{"GET", "/v1/health", handler, NULL, GB_HTTP_ROUTE_OPEN},
	{"GET", "/v1/datasets/{id}", handler, NULL, 0},
	{"GET", "/console/{file*}", handler, NULL, GB_HTTP_ROUTE_OPEN},
	{"GET", "/", handler, NULL, 0},
};

/* Match and return the route's index in `table`, -1 when none; the
 * match is left in *m for the caller to read and clear. */
static int match(const gb_http_router *r, const char *method,
		 const char *path, gb_http_match *m, int *rc)
{
	char why[160];

	*rc = gb_http_router_match(r, method, path, m, why, sizeof why);
	if (*rc != 0 || !m->route)
		return -1;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (!strcmp(table[i].method, m->route->method) &&
		    !strcmp(table[i].pattern, m->route->pattern))
			return (int)i;
	return -1;
}

static void test_compile(void)
{
	gb_http_router *r = NULL;
	char why[200];
	struct {
		const char *method, *pattern;
	} bad[] = {
		{"get", "/x"},              /* method not upper case */
		{"GET", "x"},               /* not absolute */
		{"GET", "/a//b"},           /* empty literal segment */
		{"GET", "/{Id}"},           /* capture name */
		{"GET", "/{}"},
		{"GET", "/{a*}/b"},         /* rest capture not last */
		{"GET", "/{a}/{a}"},        /* repeated name */
		{"GET", "/a%20b"},          /* '%' in a literal */
		{"GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"}, /* 9 params */
		{"", "/x"},
		{NULL, "/x"},
		{"GET", NULL},
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		gb_http_route row = {bad[i].method, bad[i].pattern, handler,
				     NULL, 0};
		CHECK_RC(gb_http_router_new(&row, 1, &r, why, sizeof why),
			 GB_EINVAL);
		CHECK(r == NULL);
	}
	{
		gb_http_route row = {"GET", "/x", NULL, NULL, 0};
		CHECK_RC(gb_http_router_new(&row, 1, &r, why, sizeof why),
			 GB_EINVAL);
		CHECK_CONTAINS(why, "route 0");
	}
	{
		/* the same shape twice, even with other capture names */
		gb_http_route rows[] = {
			{"GET", "/d/{id}", handler, NULL, 0},
			{"GET", "/d/{name}", handler, NULL, 0},
		};
		CHECK_RC(gb_http_router_new(rows, 2, &r, why, sizeof why),
			 GB_EINVAL);
		CHECK_CONTAINS(why, "repeats route 0");
	}
	CHECK_RC(gb_http_router_new(table, sizeof table / sizeof table[0], &r,
				    why, sizeof why),
		 0);
	gb_http_router_destroy(&r);
	CHECK(r == NULL);
	gb_http_router_destroy(NULL);
}

static void test_match(void)
{
	gb_http_router *r = NULL;
	gb_http_match m;
	char why[200];
	int rc;

	CHECK_RC(gb_http_router_new(table, sizeof table / sizeof table[0], &r,
				    why, sizeof why),
		 0);
	if (!r)
		return;

	CHECK(match(r, "POST", "/v1/datasets/tax.invoices/records", &m, &rc) == 0);
	CHECK(m.n_params == 1);
	CHECK_STR(m.names[0], "id");
	CHECK_STR(m.values[0], "tax.invoices");
	gb_http_match_clear(&m);

	CHECK(match(r, "GET", "/v1/datasets/tax.invoices/records", &m, &rc) == 1);
	gb_http_match_clear(&m);
	/* HEAD is served by GET routes */
	CHECK(match(r, "HEAD", "/v1/catalog", &m, &rc) == 2);
	gb_http_match_clear(&m);

	/* segments are decoded: an escaped literal, a '/' inside a value */
	CHECK(match(r, "GET", "/v1/%63atalog", &m, &rc) == 2);
	gb_http_match_clear(&m);
	CHECK(match(r, "GET", "/v1/datasets/a%2Fb", &m, &rc) == 4);
	CHECK_STR(m.values[0], "a/b");
	gb_http_match_clear(&m);
	CHECK(match(r, "GET", "/v1/datasets/caf%C3%A9", &m, &rc) == 4);
	CHECK_STR(m.values[0], "caf\xc3\xa9");
	gb_http_match_clear(&m);

	/* a rest capture takes one or more segments */
	CHECK(match(r, "GET", "/console/js/app.js", &m, &rc) == 5);
	CHECK_STR(m.names[0], "file");
	CHECK_STR(m.values[0], "js/app.js");
	gb_http_match_clear(&m);
	CHECK(match(r, "GET", "/console/index.html", &m, &rc) == 5);
	CHECK_STR(m.values[0], "index.html");
	gb_http_match_clear(&m);
	CHECK(match(r, "GET", "/console", &m, &rc) == -1 && rc == GB_ENOTFOUND);
	gb_http_match_clear(&m);
	CHECK(match(r, "GET", "/console/", &m, &rc) == -1 && rc == GB_ENOTFOUND);
	gb_http_match_clear(&m);

	CHECK(match(r, "GET", "/", &m, &rc) == 6);
	gb_http_match_clear(&m);

	/* not found: unknown, trailing slash, an empty capture */
	CHECK(match(r, "GET", "/v2/catalog", &m, &rc) == -1 && rc == GB_ENOTFOUND);
	CHECK_STR(m.allow, "");
	gb_http_match_clear(&m);
	CHECK(match(r, "GET", "/v1/catalog/", &m, &rc) == -1 && rc == GB_ENOTFOUND);
	gb_http_match_clear(&m);
	CHECK(match(r, "GET", "/v1/datasets//records", &m, &rc) == -1 &&
	      rc == GB_ENOTFOUND);
	gb_http_match_clear(&m);

	/* the path exists for other methods: 405 material */
	CHECK(match(r, "DELETE", "/v1/datasets/x/records", &m, &rc) == -1 &&
	      rc == GB_ENOTFOUND);
	CHECK_STR(m.allow, "POST, GET, HEAD");
	gb_http_match_clear(&m);
	CHECK(match(r, "POST", "/v1/catalog", &m, &rc) == -1);
	CHECK_STR(m.allow, "GET, HEAD");
	gb_http_match_clear(&m);

	gb_http_router_destroy(&r);
}

static void test_bad_paths(void)
{
	gb_http_router *r = NULL;
	gb_http_match m;
	char why[200], longpath[GB_HTTP_MAX_PATH + 8], many[400];
	const char *bad[] = {
		"v1/catalog",                  /* relative */
		"/v1/datasets/%zz",            /* not hex */
		"/v1/datasets/%4",             /* cut short */
		"/v1/datasets/%",
		"/v1/datasets/%00",            /* NUL */
		"/v1/datasets/a%0Ab",          /* LF */
		"/v1/datasets/a%7Fb",          /* DEL */
		"/v1/datasets/\x01",           /* raw control */
		"/v1/datasets/%FF",            /* not UTF-8 */
		"/v1/datasets/%C3%28",
		"/v1/datasets/%ED%A0%80",      /* a surrogate */
		"/v1/./catalog",               /* dot segments */
		"/v1/datasets/..",
		"/v1/datasets/%2E%2E",
	};

	CHECK_RC(gb_http_router_new(table, sizeof table / sizeof table[0], &r,
				    why, sizeof why),
		 0);
	if (!r)
		return;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = gb_http_router_match(r, "GET", bad[i], &m, why,
					      sizeof why);
		if (rc != GB_EINVAL)
			fprintf(stderr, "path %zu was not refused\n", i);
		CHECK_RC(rc, GB_EINVAL);
		CHECK(m.route == NULL);
		gb_http_match_clear(&m);
	}
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	CHECK_RC(gb_http_router_match(r, "GET", longpath, &m, why, sizeof why),
		 GB_EINVAL);
	CHECK_CONTAINS(why, "longer than");
	gb_http_match_clear(&m);
	many[0] = '\0';
	for (int i = 0; i < GB_HTTP_MAX_SEGMENTS + 1; i++)
		strcat(many, "/a");
	CHECK_RC(gb_http_router_match(r, "GET", many, &m, why, sizeof why),
		 GB_EINVAL);
	CHECK_CONTAINS(why, "segments");
	gb_http_match_clear(&m);
	gb_http_router_destroy(&r);
}

static void test_query(void)
{
	gb_http_query_set q = {0};
	char why[200], key[16];

	CHECK_RC(gb_http_query_add(&q, "from", "10", why, sizeof why), 0);
	CHECK_RC(gb_http_query_add(&q, "na%6De", "a%20b+c", why, sizeof why), 0);
	CHECK_RC(gb_http_query_add(&q, "flag", NULL, why, sizeof why), 0);
	CHECK_STR(gb_http_query_find(&q, "from"), "10");
	CHECK_STR(gb_http_query_find(&q, "name"), "a b+c");
	CHECK_STR(gb_http_query_find(&q, "flag"), "");
	CHECK(gb_http_query_find(&q, "limit") == NULL);
	CHECK_RC(gb_http_query_add(&q, "from", "11", why, sizeof why), GB_EINVAL);
	CHECK_CONTAINS(why, "from given twice");
	CHECK_RC(gb_http_query_add(&q, "f%72om", "11", why, sizeof why),
		 GB_EINVAL); /* the same key, encoded */
	CHECK_RC(gb_http_query_add(&q, "", "1", why, sizeof why), GB_EINVAL);
	CHECK_RC(gb_http_query_add(&q, "x", "%0d", why, sizeof why), GB_EINVAL);
	CHECK_RC(gb_http_query_add(&q, "x", "%", why, sizeof why), GB_EINVAL);
	CHECK(q.n == 3);
	for (int i = (int)q.n; i < GB_HTTP_MAX_QUERY; i++) {
		snprintf(key, sizeof key, "k%d", i);
		CHECK_RC(gb_http_query_add(&q, key, "v", why, sizeof why), 0);
	}
	CHECK_RC(gb_http_query_add(&q, "one-more", "v", why, sizeof why),
		 GB_EINVAL);
	CHECK_CONTAINS(why, "more than");
	gb_http_query_clear(&q);
	CHECK(q.n == 0);
}

static void test_u64(void)
{
	uint64_t v = 7;

	CHECK_RC(gb_http_parse_u64("0", &v), 0);
	CHECK(v == 0);
	CHECK_RC(gb_http_parse_u64("42", &v), 0);
	CHECK(v == 42);
	CHECK_RC(gb_http_parse_u64("007", &v), 0);
	CHECK(v == 7);
	CHECK_RC(gb_http_parse_u64("18446744073709551615", &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_RC(gb_http_parse_u64("18446744073709551616", &v), GB_EINVAL);
	CHECK_RC(gb_http_parse_u64("99999999999999999999", &v), GB_EINVAL);
	CHECK_RC(gb_http_parse_u64("000000000000000000001", &v), GB_EINVAL);
	CHECK_RC(gb_http_parse_u64("", &v), GB_EINVAL);
	CHECK_RC(gb_http_parse_u64("-1", &v), GB_EINVAL);
	CHECK_RC(gb_http_parse_u64("+1", &v), GB_EINVAL);
	CHECK_RC(gb_http_parse_u64(" 1", &v), GB_EINVAL);
	CHECK_RC(gb_http_parse_u64("1 ", &v), GB_EINVAL);
	CHECK_RC(gb_http_parse_u64("0x10", &v), GB_EINVAL);
	CHECK_RC(gb_http_parse_u64(NULL, &v), GB_EINVAL);
	CHECK(v == UINT64_MAX); /* untouched by failures */
}

int main(void)
{
	test_compile();
	test_match();
	test_bad_paths();
	test_query();
	test_u64();
	TEST_EXIT();
}
