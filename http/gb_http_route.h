/* What the HTTP module parses itself: route patterns and request paths,
 * percent-decoding, query parameters, decimal numbers (Last-Event-ID,
 * numeric query values). Pure functions without I/O, so the tests and the
 * fuzz target (tests/fuzz/fuzz_http_route.c) reach them directly; used by
 * gb_http.c, not part of the module's public API.
 *
 * Trust: request paths and query strings are hostile. They are bounded
 * (GB_HTTP_MAX_PATH, GB_HTTP_MAX_SEGMENTS, GB_HTTP_MAX_QUERY), every '%'
 * must start a two-digit hex escape, and decoded text must be UTF-8
 * without control characters, so handlers, JSON replies and log lines
 * never see NULs, CR/LF or broken UTF-8 from a client. Decoding itself is
 * libmicrohttpd's MHD_http_unescape, run only on validated input. */
#ifndef GB_HTTP_ROUTE_H
#define GB_HTTP_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "gb_http.h"

#define GB_HTTP_MAX_PATH 4096       /* bytes of a raw request path */
#define GB_HTTP_MAX_SEGMENTS 64     /* '/'-separated segments in it */
#define GB_HTTP_MAX_NAME 32         /* characters of a {param} name */

typedef struct gb_http_router gb_http_router;

/* The outcome of matching one request path. */
typedef struct gb_http_match {
	const gb_http_route *route;        /* NULL when none matched */
	size_t n_params;
	const char *names[GB_HTTP_MAX_PARAMS];  /* the router's */
	const char *values[GB_HTTP_MAX_PARAMS]; /* decoded, into storage */
	/* Methods of routes whose pattern matched when none had the method,
	 * for a 405's Allow header ("GET, POST"); "" otherwise. */
	char allow[64];
	char *storage;                     /* owned; gb_http_match_clear */
} gb_http_match;

/* Compile a route table (the rows are copied; the strings are copied).
 * @return 0; GB_EINVAL with a sentence naming the row (bad method or
 *         pattern, a handler missing, a duplicate of an earlier row);
 *         GB_ENOMEM. */
int gb_http_router_new(const gb_http_route *routes, size_t n,
		       gb_http_router **out, char *why, size_t why_len);

void gb_http_router_destroy(gb_http_router **r);

/* Match `method` and a raw path (from '/' up to, not including, the
 * query). HEAD matches GET routes. The caller clears m afterwards.
 * @return 0 (m->route set); GB_ENOTFOUND (m->allow says whether another
 *         method would match); GB_EINVAL for a path that is malformed or
 *         too long, with a sentence; GB_ENOMEM. */
int gb_http_router_match(const gb_http_router *r, const char *method,
			 const char *path, gb_http_match *m, char *why,
			 size_t why_len);

/* Free what a match holds; the struct may be reused. */
void gb_http_match_clear(gb_http_match *m);

/* Percent-decode in[0..len) into out (room for len + 1 bytes): every '%'
 * followed by two hex digits, the result UTF-8 without control characters
 * (0x00-0x1f, 0x7f); *out_len excludes the NUL written after it.
 * @return 0; GB_EINVAL with a sentence. */
int gb_http_decode(const char *in, size_t len, char *out, size_t *out_len,
		   char *why, size_t why_len);

/* Decoded query parameters of one request. */
typedef struct gb_http_query_set {
	size_t n;
	char *keys[GB_HTTP_MAX_QUERY];
	char *values[GB_HTTP_MAX_QUERY];
} gb_http_query_set;

/* Decode and add one raw key and value (NULL for "?flag", stored as "").
 * @return 0; GB_EINVAL (bad encoding, an empty or repeated key, more than
 *         GB_HTTP_MAX_QUERY parameters) with a sentence; GB_ENOMEM. */
int gb_http_query_add(gb_http_query_set *q, const char *raw_key,
		      const char *raw_value, char *why, size_t why_len);

/* The decoded value of `key`; NULL when absent. */
const char *gb_http_query_find(const gb_http_query_set *q, const char *key);

void gb_http_query_clear(gb_http_query_set *q);

/* A decimal number of 1 to 20 digits, nothing else, below 2^64.
 * @return 0; GB_EINVAL. */
int gb_http_parse_u64(const char *s, uint64_t *out);

#endif
