/* Fuzz target: what the HTTP module parses itself (gb_http_route.c) —
 * route matching with percent-decoding of path segments, query
 * parameters, and decimal numbers (Last-Event-ID, numeric query values).
 *
 * The input is up to four lines: a method, a request path, a raw query
 * string (split on '&' and '=' and '+' made a space, as libmicrohttpd
 * hands it over), and a Last-Event-ID value. Besides not crashing, every
 * accepted result must hold what handlers rely on: decoded text is UTF-8
 * without control characters, captures are non-empty, query keys are
 * unique, and a parsed number prints back as its digits. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gb_error.h"
#include "gb_http_route.h"
#include "gb_wire.h"

static void handler(void *cls, gb_http_request *req)
{
	(void)cls;
	(void)req;
}

static const gb_http_route routes[] = {
	{"POST", "/v1/datasets/{id}/records", handler, NULL, 0},
	{"GET", "/v1/datasets/{id}/records", handler, NULL, 0},
	{"GET", "/v1/datasets/{id}/events", handler, NULL, 0},
	{"GET", "/v1/catalog", handler, NULL, 0},
	{"GET", "/v1/health", handler, NULL, GB_HTTP_ROUTE_OPEN},
	{"GET", "/v1/{a}/{b}/{c}/x", handler, NULL, 0},
	{"GET", "/console/{file*}", handler, NULL, GB_HTTP_ROUTE_OPEN},
	{"GET", "/metrics", handler, NULL, 0},
	{"GET", "/", handler, NULL, 0},
};

static gb_http_router *router;

/* Decoded text handlers may trust. */
static void check_clean(const char *s)
{
	size_t n = strlen(s);

	if (!gb_utf8_valid((const uint8_t *)s, n))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

static void fuzz_path(const char *method, const char *path)
{
	gb_http_match m;
	char why[200];
	int rc = gb_http_router_match(router, method, path, &m, why, sizeof why);

	if (rc == 0) {
		if (!m.route)
			abort();
		for (size_t i = 0; i < m.n_params; i++) {
			if (!m.values[i][0])
				abort(); /* captures are never empty */
			check_clean(m.values[i]);
		}
	} else if (m.route || (rc != GB_ENOTFOUND && rc != GB_EINVAL &&
			       rc != GB_ENOMEM)) {
		abort();
	}
	gb_http_match_clear(&m);
}

/* Split like libmicrohttpd's MHD_parse_arguments_: '&' between
 * parameters, the first '=' between key and value, '+' a space. */
static void fuzz_query(char *q)
{
	gb_http_query_set set = {0};
	char why[200];

	for (char *p = q; p && *p;) {
		char *amp = strchr(p, '&'), *eq;

		if (amp)
			*amp = '\0';
		for (char *c = p; *c; c++)
			if (*c == '+')
				*c = ' ';
		eq = strchr(p, '=');
		if (eq)
			*eq = '\0';
		if (gb_http_query_add(&set, p, eq ? eq + 1 : NULL, why,
				      sizeof why) != 0)
			break;
		p = amp ? amp + 1 : NULL;
	}
	for (size_t i = 0; i < set.n; i++) {
		check_clean(set.keys[i]);
		check_clean(set.values[i]);
		if (!set.keys[i][0] ||
		    gb_http_query_find(&set, set.keys[i]) != set.values[i])
			abort(); /* empty or repeated keys get through */
	}
	gb_http_query_clear(&set);
}

static void fuzz_number(const char *s)
{
	uint64_t v;
	char back[32];

	if (gb_http_parse_u64(s, &v) != 0)
		return;
	while (s[0] == '0' && s[1])
		s++;
	snprintf(back, sizeof back, "%llu", (unsigned long long)v);
	if (strcmp(back, s) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char empty[1] = "";
	char *text, *line[4] = {empty, empty, empty, empty};
	char why[200];
	size_t n = 0;

	if (!router && gb_http_router_new(routes, sizeof routes / sizeof routes[0],
					  &router, why, sizeof why) != 0)
		abort();
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0'; /* inputs with a NUL end there, like C strings */
	for (char *p = text; p && n < 4; n++) {
		char *nl = strchr(p, '\n');
		line[n] = p;
		if (nl)
			*nl = '\0';
		p = nl ? nl + 1 : NULL;
	}
	fuzz_path(line[0], line[1]);
	fuzz_query(line[2]);
	fuzz_number(line[3]);
	{
		/* the decoder on its own, over the whole path line */
		size_t len = strlen(line[1]), out_len;
		char *out = malloc(len + 1);

		if (out && gb_http_decode(line[1], len, out, &out_len, why,
					  sizeof why) == 0) {
			if (out_len > len || strlen(out) != out_len)
				abort();
			check_clean(out);
		}
		free(out);
	}
	free(text);
	return 0;
}
