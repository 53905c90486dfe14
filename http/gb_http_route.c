/* Route patterns, path matching, percent-decoding and query parameters;
 * see gb_http_route.h. */
#include "gb_http_route.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"
#include "gb_wire.h"

#define MAX_METHOD 16

struct segment {
	char *text;          /* a literal, or the capture's name */
	bool capture;
	bool rest;           /* {name*}: the rest of the path */
};

struct compiled_route {
	gb_http_route row;   /* method and pattern point at our copies */
	size_t n_segments;
	struct segment segments[GB_HTTP_MAX_SEGMENTS];
};

struct gb_http_router {
	size_t n;
	struct compiled_route *routes;
};

/* ------------------------------------------------------------ decoding */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool control_byte(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

int gb_http_decode(const char *in, size_t len, char *out, size_t *out_len,
		   char *why, size_t why_len)
{
	*out_len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (in[i] != '%') {
			if (control_byte((unsigned char)in[i]))
				return gb_why(why, why_len, GB_EINVAL,
					      "control character in the URL");
			continue;
		}
		if (len - i < 3 || (hi = hex_value(in[i + 1])) < 0 ||
		    (lo = hex_value(in[i + 2])) < 0)
			return gb_why(why, why_len, GB_EINVAL,
				      "'%%' not followed by two hex digits "
				      "in the URL");
		if (control_byte((unsigned char)(hi * 16 + lo)))
			return gb_why(why, why_len, GB_EINVAL,
				      "encoded control character in the URL");
		i += 2;
	}
	/* Validated: every '%' starts an escape, so libmicrohttpd's decoder
	 * has no malformed sequence left to pass through. */
	memcpy(out, in, len);
	out[len] = '\0';
	*out_len = MHD_http_unescape(out);
	if (!gb_utf8_valid((const uint8_t *)out, *out_len))
		return gb_why(why, why_len, GB_EINVAL,
			      "the URL does not decode to UTF-8");
	return 0;
}

int gb_http_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!s)
		return GB_EINVAL;
	for (i = 0; s[i]; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || i >= 20 || v > (UINT64_MAX - d) / 10)
			return GB_EINVAL;
		v = v * 10 + d;
	}
	if (i == 0)
		return GB_EINVAL;
	*out = v;
	return 0;
}

/* ------------------------------------------------------------- queries */

int gb_http_query_add(gb_http_query_set *q, const char *raw_key,
		      const char *raw_value, char *why, size_t why_len)
{
	size_t klen = strlen(raw_key), vlen = raw_value ? strlen(raw_value) : 0;
	char *key = NULL, *value = NULL;
	size_t n;
	int rc;

	if (q->n == GB_HTTP_MAX_QUERY)
		return gb_why(why, why_len, GB_EINVAL,
			      "more than %d query parameters",
			      GB_HTTP_MAX_QUERY);
	key = malloc(klen + 1);
	value = malloc(vlen + 1);
	if (!key || !value) {
		rc = gb_why(why, why_len, GB_ENOMEM, "out of memory");
		goto fail;
	}
	rc = gb_http_decode(raw_key, klen, key, &n, why, why_len);
	if (rc == 0 && n == 0)
		rc = gb_why(why, why_len, GB_EINVAL,
			    "a query parameter has no name");
	if (rc == 0)
		rc = gb_http_decode(raw_value ? raw_value : "", vlen, value, &n,
				    why, why_len);
	if (rc != 0)
		goto fail;
	if (gb_http_query_find(q, key)) {
		rc = gb_why(why, why_len, GB_EINVAL,
			    "query parameter %.64s given twice", key);
		goto fail;
	}
	q->keys[q->n] = key;
	q->values[q->n] = value;
	q->n++;
	return 0;
fail:
	free(key);
	free(value);
	return rc;
}

const char *gb_http_query_find(const gb_http_query_set *q, const char *key)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->keys[i], key))
			return q->values[i];
	return NULL;
}

void gb_http_query_clear(gb_http_query_set *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->keys[i]);
		free(q->values[i]);
	}
	q->n = 0;
}

/* ------------------------------------------------------------ patterns */

static bool literal_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-._~!$&'()*+,;=:@", c));
}

static bool valid_capture_name(const char *s, size_t n)
{
	if (n == 0 || n > GB_HTTP_MAX_NAME || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static bool valid_method(const char *m)
{
	size_t n = m ? strlen(m) : 0;

	if (n == 0 || n > MAX_METHOD)
		return false;
	for (size_t i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return false;
	return true;
}

/* Parse one pattern segment s[0..n) into seg; `last` when no segment
 * follows. */
static int parse_segment(const char *s, size_t n, bool last,
			 struct segment *seg)
{
	if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
		size_t name_len = n - 2;

		seg->capture = true;
		if (name_len && s[n - 2] == '*') {
			if (!last)
				return GB_EINVAL;
			seg->rest = true;
			name_len--;
		}
		if (!valid_capture_name(s + 1, name_len))
			return GB_EINVAL;
		seg->text = strndup(s + 1, name_len);
	} else {
		for (size_t i = 0; i < n; i++)
			if (!literal_char(s[i]))
				return GB_EINVAL;
		seg->text = strndup(s, n);
	}
	return seg->text ? 0 : GB_ENOMEM;
}

static int compile_route(const gb_http_route *row, struct compiled_route *c)
{
	const char *p = row->pattern, *end;
	size_t params = 0;
	int rc;

	if (!valid_method(row->method) || !row->handler || !p || p[0] != '/' ||
	    strlen(p) > GB_HTTP_MAX_PATH)
		return GB_EINVAL;
	c->row = *row;
	c->row.method = strdup(row->method);
	c->row.pattern = strdup(row->pattern);
	if (!c->row.method || !c->row.pattern)
		return GB_ENOMEM;
	p++;
	for (;;) {
		struct segment *seg;

		end = strchr(p, '/');
		if (!end)
			end = p + strlen(p);
		if (c->n_segments == GB_HTTP_MAX_SEGMENTS)
			return GB_EINVAL;
		seg = &c->segments[c->n_segments++];
		rc = parse_segment(p, (size_t)(end - p), *end == '\0', seg);
		if (rc != 0)
			return rc;
		/* only "/" itself has an empty segment */
		if (!seg->capture && !seg->text[0] &&
		    strcmp(row->pattern, "/") != 0)
			return GB_EINVAL;
		if (seg->capture) {
			if (++params > GB_HTTP_MAX_PARAMS)
				return GB_EINVAL;
			for (size_t i = 0; i + 1 < c->n_segments; i++)
				if (c->segments[i].capture &&
				    !strcmp(c->segments[i].text, seg->text))
					return GB_EINVAL;
		}
		if (*end == '\0')
			break;
		p = end + 1;
	}
	return 0;
}

/* Whether two compiled routes match exactly the same requests. */
static bool same_route(const struct compiled_route *a,
		       const struct compiled_route *b)
{
	if (strcmp(a->row.method, b->row.method) != 0 ||
	    a->n_segments != b->n_segments)
		return false;
	for (size_t i = 0; i < a->n_segments; i++) {
		const struct segment *x = &a->segments[i], *y = &b->segments[i];

		if (x->capture != y->capture || x->rest != y->rest ||
		    (!x->capture && strcmp(x->text, y->text) != 0))
			return false;
	}
	return true;
}

void gb_http_router_destroy(gb_http_router **r)
{
	if (!r || !*r)
		return;
	for (size_t i = 0; i < (*r)->n; i++) {
		struct compiled_route *c = &(*r)->routes[i];

		free((char *)c->row.method);
		free((char *)c->row.pattern);
		for (size_t k = 0; k < c->n_segments; k++)
			free(c->segments[k].text);
	}
	free((*r)->routes);
	free(*r);
	*r = NULL;
}

int gb_http_router_new(const gb_http_route *routes, size_t n,
		       gb_http_router **out, char *why, size_t why_len)
{
	gb_http_router *r = calloc(1, sizeof *r);
	int rc = 0;

	*out = NULL;
	if (!r || (n && !(r->routes = calloc(n, sizeof *r->routes)))) {
		free(r);
		return gb_why(why, why_len, GB_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		r->n = i + 1;
		rc = compile_route(&routes[i], &r->routes[i]);
		if (rc == GB_EINVAL)
			(void)gb_why(why, why_len, rc,
				     "route %zu (%.16s %.200s): bad method, "
				     "pattern or handler", i,
				     routes[i].method ? routes[i].method : "-",
				     routes[i].pattern ? routes[i].pattern : "-");
		for (size_t k = 0; k < i && rc == 0; k++)
			if (same_route(&r->routes[k], &r->routes[i]))
				rc = gb_why(why, why_len, GB_EINVAL,
					    "route %zu (%s %s) repeats route %zu",
					    i, r->routes[i].row.method,
					    r->routes[i].row.pattern, k);
	}
	if (rc == GB_ENOMEM)
		(void)gb_why(why, why_len, rc, "out of memory");
	if (rc != 0) {
		gb_http_router_destroy(&r);
		return rc;
	}
	*out = r;
	return 0;
}

/* -------------------------------------------------------------- match */

void gb_http_match_clear(gb_http_match *m)
{
	free(m->storage);
	memset(m, 0, sizeof *m);
}

/* Whether route c's pattern matches the decoded segments. */
static bool pattern_matches(const struct compiled_route *c,
			    char *const *segs, size_t n)
{
	size_t k = c->n_segments;
	bool rest = k && c->segments[k - 1].rest;

	if (rest ? n < k : n != k)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct segment *seg = &c->segments[i < k ? i : k - 1];

		if (seg->capture ? segs[i][0] == '\0'
				 : strcmp(seg->text, segs[i]) != 0)
			return false;
	}
	return true;
}

static bool method_matches(const char *route_method, const char *method)
{
	return !strcmp(route_method, method) ||
	       (!strcmp(method, "HEAD") && !strcmp(route_method, "GET"));
}

/* Whether the Allow list ("GET, POST") names `method`. */
static bool allow_has(const char *allow, const char *method)
{
	size_t m = strlen(method);

	for (const char *p = allow; (p = strstr(p, method)) != NULL; p += m)
		if ((p == allow || p[-1] == ' ') && (p[m] == ',' || !p[m]))
			return true;
	return false;
}

/* Add a method to the Allow list unless it is there or has no room. */
static void allow_add(char *allow, size_t cap, const char *method)
{
	size_t n = strlen(allow), m = strlen(method);

	if (allow_has(allow, method) || n + m + 3 > cap)
		return;
	snprintf(allow + n, cap - n, "%s%s", n ? ", " : "", method);
}

/* Fill m's params from route c and the decoded segments; `join` has room
 * for a {rest*} value. */
static void capture_params(const struct compiled_route *c, char *const *segs,
			   size_t n, char *join, gb_http_match *m)
{
	m->route = &c->row;
	m->n_params = 0;
	for (size_t i = 0; i < c->n_segments; i++) {
		const struct segment *seg = &c->segments[i];

		if (!seg->capture)
			continue;
		m->names[m->n_params] = seg->text;
		if (seg->rest) {
			join[0] = '\0';
			for (size_t k = i; k < n; k++) {
				strcat(join, segs[k]);
				if (k + 1 < n)
					strcat(join, "/");
			}
			m->values[m->n_params++] = join;
		} else {
			m->values[m->n_params++] = segs[i];
		}
	}
}

int gb_http_router_match(const gb_http_router *r, const char *method,
			 const char *path, gb_http_match *m, char *why,
			 size_t why_len)
{
	char *segs[GB_HTTP_MAX_SEGMENTS], *at, *join;
	size_t len = strlen(path), n = 0;
	const char *p = path;

	memset(m, 0, sizeof *m);
	if (path[0] != '/')
		return gb_why(why, why_len, GB_EINVAL,
			      "the request path does not start with '/'");
	if (len > GB_HTTP_MAX_PATH)
		return gb_why(why, why_len, GB_EINVAL,
			      "the request path is longer than %d bytes",
			      GB_HTTP_MAX_PATH);
	/* decoded segments (each at most its raw length, plus a NUL), then
	 * room for a joined {rest*} value */
	m->storage = malloc(2 * (len + 1));
	if (!m->storage)
		return gb_why(why, why_len, GB_ENOMEM, "out of memory");
	at = m->storage;
	join = m->storage + len + 1;
	p++;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t dlen;
		int rc;

		if (!end)
			end = p + strlen(p);
		if (n == GB_HTTP_MAX_SEGMENTS)
			return gb_why(why, why_len, GB_EINVAL,
				      "the request path has more than %d "
				      "segments", GB_HTTP_MAX_SEGMENTS);
		rc = gb_http_decode(p, (size_t)(end - p), at, &dlen, why,
				    why_len);
		if (rc != 0)
			return rc;
		if (!strcmp(at, ".") || !strcmp(at, ".."))
			return gb_why(why, why_len, GB_EINVAL,
				      "the request path has a dot segment");
		segs[n++] = at;
		at += dlen + 1;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct compiled_route *c = &r->routes[i];

		if (!pattern_matches(c, segs, n))
			continue;
		if (method_matches(c->row.method, method)) {
			capture_params(c, segs, n, join, m);
			return 0;
		}
		allow_add(m->allow, sizeof m->allow, c->row.method);
	}
	if (allow_has(m->allow, "GET"))
		allow_add(m->allow, sizeof m->allow, "HEAD");
	return GB_ENOTFOUND;
}
