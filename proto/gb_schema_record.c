/* govbus schemas, second half: records. One bounded wire walker serves
 * both gb_schema_validate (no output) and gb_schema_to_json (builds a
 * jansson object as it goes), so a record printed as JSON has passed
 * exactly the checks a publisher applies. gb_schema_from_json walks a
 * jansson object the other way and writes protobuf with gb_wire's varint
 * writer.
 *
 * Trust: records and JSON lines are untrusted. Every varint is read with
 * gb_varint_get (10-byte bound), every length is checked against what is
 * left before it is used, nesting stops at GB_SCHEMA_MAX_DEPTH, and the
 * JSON side is parsed by jansson (which bounds its own nesting) and only
 * read through its typed accessors. Error paths name the field; values
 * from the input are quoted truncated. */
#include "gb_schema_internal.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "gb_error.h"
#include "gb_wire.h"

#define PATH_MAX_LEN 256
/* Largest protobuf record from_json builds: past the bus's own record
 * limit, so the publisher reports that one; only a guard against memory. */
#define OUTPUT_MAX (64u << 20)
/* Fields whose per-walk state fits on the stack. */
#define SMALL_FIELDS 32
/* Enum values listed in an error. */
#define ENUM_LIST_MAX 8

/* ---------------------------------------------------------------------
 * Field paths and errors: "owners[1].share_percent: problem". */

struct path {
	char buf[PATH_MAX_LEN];
	size_t len;
};

/* Append text; returns the length to pop back to. A path too long for the
 * buffer is cut (the problem still reads). */
__attribute__((format(printf, 2, 3)))
static size_t path_push(struct path *p, const char *fmt, ...)
{
	size_t old = p->len;
	va_list ap;
	int n;

	if (p->len >= sizeof p->buf - 1)
		return old;
	va_start(ap, fmt);
	n = vsnprintf(p->buf + p->len, sizeof p->buf - p->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->len += (size_t)n < sizeof p->buf - p->len
				  ? (size_t)n
				  : sizeof p->buf - p->len - 1;
	return old;
}

static size_t path_field(struct path *p, const char *name)
{
	return path_push(p, "%s%.100s", p->len ? "." : "", name);
}

static void path_pop(struct path *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

struct ctx {
	struct path path;
	char *why;
	size_t why_len;
	unsigned depth;
	int precision;                    /* to_json: digits reals need */
};

__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!c->why || !c->why_len)
		return rc;
	if (c->path.len)
		n = snprintf(c->why, c->why_len, "%s: ", c->path.buf);
	if (n < 0 || (size_t)n >= c->why_len)
		return rc;
	va_start(ap, fmt);
	vsnprintf(c->why + n, c->why_len - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail_nomem(struct ctx *c)
{
	return fail(c, GB_ENOMEM, "out of memory");
}

static const char *wire_name(unsigned wt)
{
	static const char *const names[] = {
		"varint", "64-bit", "length-delimited", "group start",
		"group end", "32-bit"};

	return wt < 6 ? names[wt] : "invalid wire type";
}

/* "int64 (varint)", "message govbus.examples.Address (length-delimited)" */
static const char *expected_text(const struct gb_schema_field *f, char *buf,
				 size_t len)
{
	if (f->kind == GB_SK_MESSAGE)
		snprintf(buf, len, "message %s (length-delimited)",
			 f->message->name);
	else if (f->kind == GB_SK_ENUM)
		snprintf(buf, len, "enum %s (varint)", f->enumeration->name);
	else
		snprintf(buf, len, "%s (%s)", gb_schema_kind_name(f->kind),
			 wire_name((unsigned)gb_schema_kind_wire(f->kind)));
	return buf;
}

/* "A, B, C or D" (or "A, B, ... (N values)"), for enum errors. */
static const char *enum_names(const struct gb_schema_enum *e, char *buf,
			      size_t len)
{
	size_t used = 0, shown = e->n < ENUM_LIST_MAX ? e->n : ENUM_LIST_MAX;

	buf[0] = '\0';
	for (size_t i = 0; i < shown && used < len; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == e->n ? " or " : ", ");
		int n = snprintf(buf + used, len - used, "%s%s", sep,
				 e->by_number[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (shown < e->n && used < len)
		snprintf(buf + used, len - used, ", ... (%zu values)", e->n);
	return buf;
}

/* ---------------------------------------------------------------------
 * Per-message state: occurrences of each field (required fields, paths of
 * repeated ones) and the member set of each oneof. */

struct seen {
	uint32_t small[SMALL_FIELDS];
	uint32_t *count;                  /* n_fields, then n_oneofs */
};

static int seen_init(struct seen *s, const gb_schema_type *t)
{
	size_t n = t->n_fields + t->n_oneofs;

	if (n <= SMALL_FIELDS) {
		memset(s->small, 0, sizeof s->small);
		s->count = s->small;
		return 0;
	}
	s->count = calloc(n, sizeof *s->count);
	return s->count ? 0 : GB_ENOMEM;
}

static void seen_free(struct seen *s)
{
	if (s->count != s->small)
		free(s->count);
}

/* Note `f` as set; refuses a second member of its oneof. */
static int seen_set(struct ctx *c, const gb_schema_type *t, struct seen *s,
		    const struct gb_schema_field *f)
{
	s->count[f->index]++;
	if (f->oneof >= 0) {
		uint32_t *member = &s->count[t->n_fields + (size_t)f->oneof];

		if (*member && *member != f->index + 1)
			return fail(c, GB_EDECODE, "%s is already set; only one "
				    "field of oneof %s may be",
				    t->fields[*member - 1].name,
				    t->oneofs[f->oneof]);
		*member = (uint32_t)f->index + 1;
	}
	return 0;
}

static int check_required(struct ctx *c, const gb_schema_type *t,
			  const struct seen *s, int rc)
{
	if (!t->n_required)
		return 0;
	for (size_t i = 0; i < t->n_fields; i++)
		if (t->fields[i].required && !s->count[i]) {
			size_t mark = path_field(&c->path, t->fields[i].name);

			fail(c, rc, "required field missing");
			path_pop(&c->path, mark);
			return rc;
		}
	return 0;
}

/* ---------------------------------------------------------------------
 * Wire -> checks (-> JSON). */

static int walk_message(struct ctx *c, const gb_schema_type *t,
			const uint8_t *buf, size_t len, json_t *obj);

/* The shortest "%.*g" that reads back as d (as a float when is_float),
 * and the double that text stands for. At least the digits before the
 * point, so 60 prints as 60.0 rather than 6e1. */
static int shortest_digits(double d, bool is_float, double *shown)
{
	char text[48];
	int whole = 1;

	for (double m = fabs(d); m >= 10 && whole < 17; m /= 10)
		whole++;
	for (int p = whole; p <= 17; p++) {
		double back;

		snprintf(text, sizeof text, "%.*g", p, d);
		back = strtod(text, NULL);
		if (is_float ? (float)back == (float)d : back == d) {
			*shown = back;
			return p;
		}
	}
	*shown = d;
	return 17;
}

/* A float or double as proto3 JSON: a number, or "NaN", "Infinity",
 * "-Infinity". Notes the digits it needs in c->precision. */
static json_t *real_json(struct ctx *c, double d, bool is_float)
{
	double shown;
	int p;

	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	p = shortest_digits(d, is_float, &shown);
	if (p > c->precision)
		c->precision = p;
	return json_real(shown);
}

static json_t *u64_json(uint64_t v)
{
	char text[24];

	snprintf(text, sizeof text, "%" PRIu64, v);
	return json_string(text);
}

static json_t *i64_json(int64_t v)
{
	char text[24];

	snprintf(text, sizeof text, "%" PRId64, v);
	return json_string(text);
}

static json_t *bytes_json(const uint8_t *p, size_t len)
{
	size_t need = sodium_base64_ENCODED_LEN(len,
						sodium_base64_VARIANT_ORIGINAL);
	char *text = malloc(need);
	json_t *j;

	if (!text)
		return NULL;
	sodium_bin2base64(text, need, len ? p : (const uint8_t *)"", len,
			  sodium_base64_VARIANT_ORIGINAL);
	j = json_string(text);
	free(text);
	return j;
}

/* Put a converted value under the field's JSON name: appended for a
 * repeated field, replacing an earlier one for a singular field (the last
 * value on the wire wins, as in protobuf). Takes the reference to val. */
static int emit(struct ctx *c, json_t *obj, const struct gb_schema_field *f,
		json_t *val)
{
	json_t *arr;

	if (!val)
		return fail_nomem(c);
	if (!f->repeated)
		return json_object_set_new(obj, f->json_name, val) == 0
			       ? 0
			       : fail_nomem(c);
	arr = json_object_get(obj, f->json_name);
	if (!arr) {
		arr = json_array();
		if (!arr || json_object_set_new(obj, f->json_name, arr) != 0) {
			json_decref(val);
			return fail_nomem(c);
		}
	}
	return json_array_append_new(arr, val) == 0 ? 0 : fail_nomem(c);
}

/* A varint value of a scalar field: range-checked, and converted when obj
 * is not NULL. */
static int varint_value(struct ctx *c, json_t *obj,
			const struct gb_schema_field *f, uint64_t v)
{
	int64_t s = (int64_t)v;
	json_t *val = NULL;

	switch (f->kind) {
	case GB_SK_INT32:
		if (s < INT32_MIN || s > INT32_MAX)
			return fail(c, GB_EDECODE, "%" PRId64 " is out of range "
				    "for int32", s);
		val = obj ? json_integer(s) : NULL;
		break;
	case GB_SK_UINT32:
		if (v > UINT32_MAX)
			return fail(c, GB_EDECODE, "%" PRIu64 " is out of range "
				    "for uint32", v);
		val = obj ? json_integer((json_int_t)v) : NULL;
		break;
	case GB_SK_SINT32:
		if (v > UINT32_MAX)
			return fail(c, GB_EDECODE, "value is out of range for "
				    "sint32");
		val = obj ? json_integer(gb_zigzag_decode(v)) : NULL;
		break;
	case GB_SK_INT64:
		val = obj ? i64_json(s) : NULL;
		break;
	case GB_SK_UINT64:
		val = obj ? u64_json(v) : NULL;
		break;
	case GB_SK_SINT64:
		val = obj ? i64_json(gb_zigzag_decode(v)) : NULL;
		break;
	case GB_SK_BOOL:
		if (v > 1)
			return fail(c, GB_EDECODE, "%" PRIu64 " is not a bool "
				    "(0 or 1)", v);
		val = obj ? json_boolean(v) : NULL;
		break;
	case GB_SK_ENUM: {
		const struct gb_schema_enum_value *ev = NULL;
		char names[256];

		if (s >= INT32_MIN && s <= INT32_MAX)
			ev = gb_schema_enum_by_number(f->enumeration,
						      (int32_t)s);
		if (!ev)
			return fail(c, GB_EDECODE, "%" PRId64 " is not a value "
				    "of %s (%s)", s, f->enumeration->name,
				    enum_names(f->enumeration, names,
					       sizeof names));
		val = obj ? json_string(ev->name) : NULL;
		break;
	}
	default:
		return fail(c, GB_EDECODE, "internal: not a varint kind");
	}
	return obj ? emit(c, obj, f, val) : 0;
}

static int fixed_value(struct ctx *c, json_t *obj,
		       const struct gb_schema_field *f, const uint8_t *p)
{
	json_t *val;

	if (!obj)
		return 0;
	switch (f->kind) {
	case GB_SK_FIXED32:
		val = json_integer(gb_le32_get(p));
		break;
	case GB_SK_SFIXED32:
		val = json_integer((int32_t)gb_le32_get(p));
		break;
	case GB_SK_FLOAT: {
		uint32_t bits = gb_le32_get(p);
		float v;

		memcpy(&v, &bits, sizeof v);
		val = real_json(c, v, true);
		break;
	}
	case GB_SK_FIXED64:
		val = u64_json(gb_le64_get(p));
		break;
	case GB_SK_SFIXED64:
		val = i64_json((int64_t)gb_le64_get(p));
		break;
	case GB_SK_DOUBLE: {
		uint64_t bits = gb_le64_get(p);
		double v;

		memcpy(&v, &bits, sizeof v);
		val = real_json(c, v, false);
		break;
	}
	default:
		return fail(c, GB_EDECODE, "internal: not a fixed kind");
	}
	return emit(c, obj, f, val);
}

/* JSON for a map entry's missing key or value: the type's default. */
static json_t *default_json(const struct gb_schema_field *f)
{
	switch (f->kind) {
	case GB_SK_STRING:
	case GB_SK_BYTES:
		return json_string("");
	case GB_SK_BOOL:
		return json_false();
	case GB_SK_INT64:
	case GB_SK_UINT64:
	case GB_SK_SINT64:
	case GB_SK_FIXED64:
	case GB_SK_SFIXED64:
		return json_string("0");
	case GB_SK_FLOAT:
	case GB_SK_DOUBLE:
		return json_real(0);
	case GB_SK_ENUM: {
		const struct gb_schema_enum_value *ev =
			gb_schema_enum_by_number(f->enumeration, 0);
		return ev ? json_string(ev->name) : json_integer(0);
	}
	case GB_SK_MESSAGE:
		return json_object();
	default:
		return json_integer(0);
	}
}

/* Add one decoded map entry ({"key": K, "value": V} as the walker built
 * it) to the map object: the key as text, as proto3 JSON writes keys. */
static int map_put(struct ctx *c, json_t *obj, const struct gb_schema_field *f,
		   json_t *entry)
{
	const struct gb_schema_field *kf = gb_schema_field_by_number(f->message, 1);
	const struct gb_schema_field *vf = gb_schema_field_by_number(f->message, 2);
	json_t *key = json_object_get(entry, kf->json_name);
	json_t *value = json_object_get(entry, vf->json_name);
	json_t *map = json_object_get(obj, f->json_name);
	char text[24];
	const char *k = "";

	if (!map) {
		map = json_object();
		if (!map || json_object_set_new(obj, f->json_name, map) != 0)
			return fail_nomem(c);
	}
	if (json_is_string(key)) {
		k = json_string_value(key);
	} else if (json_is_integer(key)) {
		snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(key));
		k = text;
	} else if (json_is_boolean(key)) {
		k = json_is_true(key) ? "true" : "false";
	} else if (kf->kind != GB_SK_STRING) {
		k = kf->kind == GB_SK_BOOL ? "false" : "0";
	}
	if (value)
		json_incref(value);
	else
		value = default_json(vf);
	if (!value || json_object_set_new(map, k, value) != 0)
		return fail_nomem(c);
	return 0;
}

static int len_value(struct ctx *c, json_t *obj, const struct gb_schema_field *f,
		     const uint8_t *p, size_t len)
{
	json_t *sub;
	int rc;

	switch (f->kind) {
	case GB_SK_STRING:
		if (!gb_utf8_valid(p, len))
			return fail(c, GB_EDECODE, "not valid UTF-8");
		return obj ? emit(c, obj, f, json_stringn((const char *)p, len))
			   : 0;
	case GB_SK_BYTES:
		return obj ? emit(c, obj, f, bytes_json(p, len)) : 0;
	case GB_SK_MESSAGE:
		break;
	default:
		return fail(c, GB_EDECODE, "internal: not a length kind");
	}
	if (!obj)
		return walk_message(c, f->message, p, len, NULL);
	/* A singular message met twice merges into the first, as in
	 * protobuf; a repeated one or a map entry starts anew. */
	sub = f->repeated ? NULL : json_object_get(obj, f->json_name);
	if (sub) {
		json_incref(sub);
	} else {
		sub = json_object();
		if (!sub)
			return fail_nomem(c);
	}
	rc = walk_message(c, f->message, p, len, sub);
	if (rc == 0 && f->is_map)
		rc = map_put(c, obj, f, sub);
	else if (rc == 0 && f->repeated)
		return emit(c, obj, f, sub);  /* takes the reference */
	else if (rc == 0)
		rc = json_object_set(obj, f->json_name, sub) == 0
			     ? 0
			     : fail_nomem(c);
	json_decref(sub);
	return rc;
}

/* A packed run of a repeated scalar field. */
static int packed_values(struct ctx *c, json_t *obj,
			 const struct gb_schema_field *f, struct seen *s,
			 const uint8_t *p, size_t len)
{
	int wt = gb_schema_kind_wire(f->kind);
	size_t pos = 0, mark;
	int rc = 0;

	while (pos < len && rc == 0) {
		mark = path_push(&c->path, "[%" PRIu32 "]", s->count[f->index]);
		if (wt == GB_WIRE_VARINT) {
			uint64_t v;
			int n = gb_varint_get(p + pos, len - pos, &v);

			if (n <= 0)
				rc = fail(c, GB_EDECODE, "truncated: the packed "
					  "values end inside a varint");
			else {
				pos += (size_t)n;
				rc = varint_value(c, obj, f, v);
			}
		} else {
			size_t width = wt == GB_WIRE_FIXED32 ? 4 : 8;

			if (len - pos < width)
				rc = fail(c, GB_EDECODE, "packed values are not "
					  "a whole number of %zu-byte values",
					  width);
			else {
				rc = fixed_value(c, obj, f, p + pos);
				pos += width;
			}
		}
		path_pop(&c->path, mark);
		s->count[f->index]++;
	}
	return rc;
}

/* One field occurrence at buf[*pos] (just after its tag). */
static int walk_field(struct ctx *c, json_t *obj, const gb_schema_type *t,
		      struct seen *s, const struct gb_schema_field *f,
		      unsigned wt, const uint8_t *buf, size_t len, size_t *pos)
{
	char want[GB_SCHEMA_MAX_NAME + 64];
	uint64_t v;
	int n, rc;

	if (wt == GB_WIRE_LEN && f->repeated && gb_schema_kind_packable(f->kind)) {
		n = gb_varint_get(buf + *pos, len - *pos, &v);
		if (n <= 0 || v > len - *pos - (size_t)n)
			return fail(c, GB_EDECODE, "truncated: the packed "
				    "values run past the end of the message");
		*pos += (size_t)n;
		rc = packed_values(c, obj, f, s, buf + *pos, (size_t)v);
		*pos += (size_t)v;
		return rc;
	}
	if ((int)wt != gb_schema_kind_wire(f->kind))
		return fail(c, GB_EDECODE, "expected %s, found %s",
			    expected_text(f, want, sizeof want), wire_name(wt));
	rc = seen_set(c, t, s, f);
	if (rc != 0)
		return rc;
	switch (wt) {
	case GB_WIRE_VARINT:
		n = gb_varint_get(buf + *pos, len - *pos, &v);
		if (n == 0)
			return fail(c, GB_EDECODE, "truncated: the message ends "
				    "inside a varint");
		if (n < 0)
			return fail(c, GB_EDECODE, "a varint longer than 10 "
				    "bytes");
		*pos += (size_t)n;
		return varint_value(c, obj, f, v);
	case GB_WIRE_FIXED64:
	case GB_WIRE_FIXED32: {
		size_t width = wt == GB_WIRE_FIXED32 ? 4 : 8;

		if (len - *pos < width)
			return fail(c, GB_EDECODE, "truncated: the message ends "
				    "inside a %zu-byte value", width);
		rc = fixed_value(c, obj, f, buf + *pos);
		*pos += width;
		return rc;
	}
	default: /* GB_WIRE_LEN */
		n = gb_varint_get(buf + *pos, len - *pos, &v);
		if (n == 0)
			return fail(c, GB_EDECODE, "truncated: the message ends "
				    "inside a length");
		if (n < 0)
			return fail(c, GB_EDECODE, "a length longer than 10 "
				    "bytes");
		*pos += (size_t)n;
		if (v > len - *pos)
			return fail(c, GB_EDECODE, "truncated: length %" PRIu64
				    " but only %zu bytes left", v, len - *pos);
		rc = len_value(c, obj, f, buf + *pos, (size_t)v);
		*pos += (size_t)v;
		return rc;
	}
}

static int walk_message(struct ctx *c, const gb_schema_type *t,
			const uint8_t *buf, size_t len, json_t *obj)
{
	struct seen s;
	size_t pos = 0;
	int rc = 0;

	if (c->depth >= GB_SCHEMA_MAX_DEPTH)
		return fail(c, GB_EDECODE, "nested more than %d messages deep",
			    GB_SCHEMA_MAX_DEPTH);
	if (seen_init(&s, t) != 0)
		return fail_nomem(c);
	c->depth++;
	while (pos < len && rc == 0) {
		const struct gb_schema_field *f;
		uint64_t tag;
		unsigned wt;
		size_t mark;
		int n = gb_varint_get(buf + pos, len - pos, &tag);

		if (n <= 0) {
			rc = fail(c, GB_EDECODE, n == 0 ? "truncated: the "
				  "message ends inside a field tag"
				  : "a field tag longer than 10 bytes");
			break;
		}
		pos += (size_t)n;
		wt = (unsigned)(tag & 7);
		if (tag >> 3 == 0 || tag >> 3 > GB_WIRE_MAX_FIELD || wt > 5) {
			rc = fail(c, GB_EDECODE, "malformed field tag %" PRIu64,
				  tag);
			break;
		}
		f = gb_schema_field_by_number(t, (uint32_t)(tag >> 3));
		if (!f) {
			rc = fail(c, GB_EDECODE, "field number %" PRIu64 " (%s) "
				  "is not a field of %s",
				  tag >> 3, wire_name(wt), t->name);
			break;
		}
		mark = path_field(&c->path, f->name);
		if (f->repeated && !(wt == GB_WIRE_LEN &&
				     gb_schema_kind_packable(f->kind)))
			path_push(&c->path, "[%" PRIu32 "]", s.count[f->index]);
		rc = walk_field(c, obj, t, &s, f, wt, buf, len, &pos);
		path_pop(&c->path, mark);
	}
	if (rc == 0)
		rc = check_required(c, t, &s, GB_EDECODE);
	c->depth--;
	seen_free(&s);
	return rc;
}

static void ctx_init(struct ctx *c, char *why, size_t why_len)
{
	memset(c, 0, sizeof *c);
	c->why = why;
	c->why_len = why_len;
	if (why && why_len)
		why[0] = '\0';
}

int gb_schema_validate(const gb_schema_type *t, const uint8_t *rec,
		       size_t len, char *why, size_t why_len)
{
	struct ctx c;

	ctx_init(&c, why, why_len);
	if (!rec && len)
		return fail(&c, GB_EINVAL, "no bytes");
	return walk_message(&c, t, rec, len, NULL);
}

int gb_schema_to_json(const gb_schema_type *t, const uint8_t *rec, size_t len,
		      char **out, size_t *out_len, char *why, size_t why_len)
{
	struct ctx c;
	json_t *obj;
	int rc;

	*out = NULL;
	*out_len = 0;
	ctx_init(&c, why, why_len);
	if (!rec && len)
		return fail(&c, GB_EINVAL, "no bytes");
	obj = json_object();
	if (!obj)
		return fail_nomem(&c);
	rc = walk_message(&c, t, rec, len, obj);
	if (rc == 0) {
		/* JSON_REAL_PRECISION(0) would mean jansson's default (17) */
		*out = json_dumps(obj, JSON_COMPACT |
					       JSON_REAL_PRECISION(c.precision
								   ? c.precision
								   : 1));
		if (!*out)
			rc = fail_nomem(&c);
		else
			*out_len = strlen(*out);
	}
	json_decref(obj);
	return rc;
}

/* ---------------------------------------------------------------------
 * JSON -> protobuf. */

struct out {
	uint8_t *p;
	size_t len, cap;
	int rc;                           /* sticky: GB_ENOMEM, GB_ETOOBIG */
};

static void out_bytes(struct out *o, const void *data, size_t len)
{
	if (o->rc || len == 0)
		return;
	if (len > OUTPUT_MAX - o->len) {
		o->rc = GB_ETOOBIG;
		return;
	}
	if (o->len + len > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		uint8_t *np;

		while (cap < o->len + len)
			cap *= 2;
		np = realloc(o->p, cap);
		if (!np) {
			o->rc = GB_ENOMEM;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, data, len);
	o->len += len;
}

static void out_varint(struct out *o, uint64_t v)
{
	uint8_t b[GB_VARINT_MAX_BYTES];

	out_bytes(o, b, gb_varint_put(v, b));
}

static void out_tag(struct out *o, uint32_t number, int wt)
{
	out_varint(o, (uint64_t)number << 3 | (uint64_t)wt);
}

/* A length-delimited field: tag, length, then the bytes of `inner`. */
static void out_nested(struct out *o, uint32_t number, const struct out *inner)
{
	if (inner->rc && !o->rc)
		o->rc = inner->rc;
	out_tag(o, number, GB_WIRE_LEN);
	out_varint(o, inner->len);
	out_bytes(o, inner->p, inner->len);
}

/* One scalar as it goes on the wire (without its tag). */
struct scalar {
	uint64_t bits;                    /* varint or fixed-width bits */
	const uint8_t *data;              /* string / bytes */
	size_t len;
	uint8_t *owned;                   /* decoded base64 */
	bool zero;                        /* the type's default */
};

static int out_of_range(struct ctx *c, const char *kind)
{
	return fail(c, GB_EINVAL, "out of range for %s", kind);
}

/* Decimal text of an integer, as proto3 JSON allows for every integer
 * type: an optional '-', then digits. */
static bool parse_int_text(const char *s, size_t len, bool is_signed,
			   int64_t *sv, uint64_t *uv, bool *range_error)
{
	char buf[32], *end = NULL;
	size_t start = 0;

	*range_error = false;
	if (len == 0 || len >= sizeof buf)
		return false;
	if (s[0] == '-')
		start = 1;
	if (start == len || strspn(s + start, "0123456789") != len - start ||
	    memchr(s, '\0', len))
		return false;
	if (!is_signed && start)
		return *range_error = true, false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	if (is_signed)
		*sv = strtoll(buf, &end, 10);
	else
		*uv = strtoull(buf, &end, 10);
	if (errno == ERANGE)
		return *range_error = true, false;
	return *end == '\0';
}

/* An integer of `kind` from a JSON integer, an integral real or a
 * decimal string, within [min, max] (signed) or [0, umax] (unsigned). */
static int json_int(struct ctx *c, json_t *v, enum gb_schema_kind kind,
		    bool is_signed, int64_t min, int64_t max, uint64_t umax,
		    int64_t *sv, uint64_t *uv)
{
	const char *name = gb_schema_kind_name(kind);
	bool range_error = false;

	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);

		if (is_signed)
			*sv = x;
		else if (x < 0)
			return out_of_range(c, name);
		else
			*uv = (uint64_t)x;
	} else if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!isfinite(d) || d != trunc(d))
			return fail(c, GB_EINVAL, "%.17g is not a whole number "
				    "(%s)", d, name);
		if (is_signed) {
			if (d < -9223372036854775808.0 ||
			    d >= 9223372036854775808.0)
				return out_of_range(c, name);
			*sv = (int64_t)d;
		} else {
			if (d < 0 || d >= 18446744073709551616.0)
				return out_of_range(c, name);
			*uv = (uint64_t)d;
		}
	} else if (json_is_string(v)) {
		if (!parse_int_text(json_string_value(v), json_string_length(v),
				    is_signed, sv, uv, &range_error))
			return range_error
				       ? out_of_range(c, name)
				       : fail(c, GB_EINVAL, "\"%.40s\" is not a "
					      "whole number (%s)",
					      json_string_value(v), name);
	} else {
		return fail(c, GB_EINVAL, "expected %s (a number or a string "
			    "of digits)", name);
	}
	if (is_signed && (*sv < min || *sv > max))
		return out_of_range(c, name);
	if (!is_signed && *uv > umax)
		return out_of_range(c, name);
	return 0;
}

/* A float or double from a JSON number or "NaN", "Infinity", "-Infinity"
 * or a numeric string. */
static int json_real_of(struct ctx *c, json_t *v, bool is_float, double *d)
{
	const char *name = is_float ? "float" : "double";

	if (json_is_number(v)) {
		*d = json_number_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end = NULL;

		if (!strcmp(s, "NaN"))
			*d = NAN;
		else if (!strcmp(s, "Infinity"))
			*d = INFINITY;
		else if (!strcmp(s, "-Infinity"))
			*d = -INFINITY;
		else {
			errno = 0;
			if (!s[0] || strspn(s, "0123456789+-.eE") != strlen(s))
				return fail(c, GB_EINVAL, "\"%.40s\" is not a "
					    "number (%s)", s, name);
			*d = strtod(s, &end);
			if (*end || errno == ERANGE)
				return fail(c, GB_EINVAL, "\"%.40s\" is not a "
					    "number in range (%s)", s, name);
		}
	} else {
		return fail(c, GB_EINVAL, "expected %s (a number, or \"NaN\", "
			    "\"Infinity\", \"-Infinity\")", name);
	}
	if (is_float && isfinite(*d) && fabs(*d) > FLT_MAX)
		return out_of_range(c, name);
	return 0;
}

static int json_bytes(struct ctx *c, json_t *v, struct scalar *out)
{
	const char *s;
	const char *end = NULL;
	size_t len, bin_len = 0;
	bool url, padded;
	int variant;

	if (!json_is_string(v))
		return fail(c, GB_EINVAL, "expected bytes (a base64 string)");
	s = json_string_value(v);
	len = json_string_length(v);
	/* standard or URL-safe alphabet, padded or not, as proto3 allows */
	url = strpbrk(s, "-_") != NULL;
	padded = len > 0 && s[len - 1] == '=';
	variant = url ? (padded ? sodium_base64_VARIANT_URLSAFE
				: sodium_base64_VARIANT_URLSAFE_NO_PADDING)
		      : (padded ? sodium_base64_VARIANT_ORIGINAL
				: sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	out->owned = malloc(len / 4 * 3 + 3);
	if (!out->owned)
		return fail_nomem(c);
	if (sodium_base642bin(out->owned, len / 4 * 3 + 3, s, len, NULL,
			      &bin_len, &end, variant) != 0 ||
	    end != s + len)
		return fail(c, GB_EINVAL, "not valid base64");
	out->data = out->owned;
	out->len = bin_len;
	out->zero = bin_len == 0;
	return 0;
}

static int json_enum(struct ctx *c, const struct gb_schema_field *f, json_t *v,
		     int32_t *number)
{
	const struct gb_schema_enum *e = f->enumeration;
	const struct gb_schema_enum_value *ev = NULL;
	char names[256];

	if (json_is_string(v)) {
		ev = gb_schema_enum_by_name(e, json_string_value(v));
		if (!ev)
			return fail(c, GB_EINVAL, "\"%.64s\" is not a value of "
				    "%s (%s)", json_string_value(v), e->name,
				    enum_names(e, names, sizeof names));
	} else if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);

		if (x >= INT32_MIN && x <= INT32_MAX)
			ev = gb_schema_enum_by_number(e, (int32_t)x);
		if (!ev)
			return fail(c, GB_EINVAL, "%" JSON_INTEGER_FORMAT " is "
				    "not a value of %s (%s)", x, e->name,
				    enum_names(e, names, sizeof names));
	} else {
		return fail(c, GB_EINVAL, "expected enum %s (a value name or "
			    "number)", e->name);
	}
	*number = ev->number;
	return 0;
}

/* Convert one JSON value of a scalar field (not a message). */
static int json_scalar(struct ctx *c, const struct gb_schema_field *f,
		       json_t *v, struct scalar *out)
{
	int64_t sv = 0;
	uint64_t uv = 0;
	double d = 0;
	int32_t en = 0;
	int rc;

	memset(out, 0, sizeof *out);
	switch (f->kind) {
	case GB_SK_INT32:
	case GB_SK_SINT32:
	case GB_SK_SFIXED32:
		rc = json_int(c, v, f->kind, true, INT32_MIN, INT32_MAX, 0, &sv,
			      &uv);
		if (rc)
			return rc;
		out->bits = f->kind == GB_SK_SINT32 ? gb_zigzag_encode(sv)
			    : f->kind == GB_SK_SFIXED32 ? (uint32_t)(int32_t)sv
							: (uint64_t)sv;
		out->zero = sv == 0;
		return 0;
	case GB_SK_INT64:
	case GB_SK_SINT64:
	case GB_SK_SFIXED64:
		rc = json_int(c, v, f->kind, true, INT64_MIN, INT64_MAX, 0, &sv,
			      &uv);
		if (rc)
			return rc;
		out->bits = f->kind == GB_SK_SINT64 ? gb_zigzag_encode(sv)
						    : (uint64_t)sv;
		out->zero = sv == 0;
		return 0;
	case GB_SK_UINT32:
	case GB_SK_FIXED32:
	case GB_SK_UINT64:
	case GB_SK_FIXED64:
		rc = json_int(c, v, f->kind, false, 0, 0,
			      f->kind == GB_SK_UINT32 || f->kind == GB_SK_FIXED32
				      ? UINT32_MAX
				      : UINT64_MAX,
			      &sv, &uv);
		if (rc)
			return rc;
		out->bits = uv;
		out->zero = uv == 0;
		return 0;
	case GB_SK_FLOAT: {
		float fv;
		uint32_t bits;

		rc = json_real_of(c, v, true, &d);
		if (rc)
			return rc;
		fv = (float)d;
		memcpy(&bits, &fv, sizeof bits);
		out->bits = bits;
		out->zero = bits == 0;
		return 0;
	}
	case GB_SK_DOUBLE:
		rc = json_real_of(c, v, false, &d);
		if (rc)
			return rc;
		memcpy(&out->bits, &d, sizeof d);
		out->zero = out->bits == 0;
		return 0;
	case GB_SK_BOOL:
		if (!json_is_boolean(v))
			return fail(c, GB_EINVAL, "expected bool (true or "
				    "false)");
		out->bits = json_is_true(v);
		out->zero = !out->bits;
		return 0;
	case GB_SK_STRING:
		if (!json_is_string(v))
			return fail(c, GB_EINVAL, "expected string");
		out->data = (const uint8_t *)json_string_value(v);
		out->len = json_string_length(v);
		out->zero = out->len == 0;
		return 0;
	case GB_SK_BYTES:
		return json_bytes(c, v, out);
	case GB_SK_ENUM:
		rc = json_enum(c, f, v, &en);
		if (rc)
			return rc;
		out->bits = (uint64_t)(int64_t)en;
		out->zero = en == 0;
		return 0;
	default:
		return fail(c, GB_EINVAL, "internal: not a scalar kind");
	}
}

/* The value bytes of a scalar, without a tag. */
static void out_scalar(struct out *o, enum gb_schema_kind kind,
		       const struct scalar *v)
{
	uint8_t b[8];

	switch (gb_schema_kind_wire(kind)) {
	case GB_WIRE_VARINT:
		out_varint(o, v->bits);
		break;
	case GB_WIRE_FIXED32:
		gb_le32_put((uint32_t)v->bits, b);
		out_bytes(o, b, 4);
		break;
	case GB_WIRE_FIXED64:
		gb_le64_put(v->bits, b);
		out_bytes(o, b, 8);
		break;
	default:
		out_varint(o, v->len);
		out_bytes(o, v->data, v->len);
		break;
	}
}

static int encode_message(struct ctx *c, const gb_schema_type *t, json_t *obj,
			  struct out *o);

/* One value of field `f`: a scalar (left out when `skip_zero` and it is
 * the default) or a message. */
static int encode_value(struct ctx *c, const struct gb_schema_field *f,
			json_t *v, bool skip_zero, struct out *o)
{
	struct scalar s;
	int rc;

	if (json_is_null(v))
		return fail(c, GB_EINVAL, "null is not a value here");
	if (f->kind == GB_SK_MESSAGE) {
		struct out inner = {0};

		rc = encode_message(c, f->message, v, &inner);
		if (rc == 0)
			out_nested(o, f->number, &inner);
		free(inner.p);
		return rc;
	}
	rc = json_scalar(c, f, v, &s);
	if (rc == 0 && !(skip_zero && s.zero)) {
		out_tag(o, f->number, gb_schema_kind_wire(f->kind));
		out_scalar(o, f->kind, &s);
	}
	free(s.owned);
	return rc;
}

/* A map key from its JSON text, as the key field's type. */
static int encode_map_key(struct ctx *c, const struct gb_schema_field *kf,
			  const char *key, struct out *o)
{
	json_t *v;
	int rc;

	if (kf->kind == GB_SK_BOOL) {
		if (strcmp(key, "true") && strcmp(key, "false"))
			return fail(c, GB_EINVAL, "map key is not true or "
				    "false");
		v = json_boolean(!strcmp(key, "true"));
	} else {
		/* strings stay strings; integer keys are decimal text, which
		 * the integer parser takes as it is */
		v = json_string(key);
	}
	if (!v)
		return fail_nomem(c);
	rc = encode_value(c, kf, v, false, o);
	json_decref(v);
	return rc;
}

static int encode_map(struct ctx *c, const struct gb_schema_field *f,
		      json_t *v, struct out *o)
{
	const struct gb_schema_field *kf = gb_schema_field_by_number(f->message, 1);
	const struct gb_schema_field *vf = gb_schema_field_by_number(f->message, 2);
	const char *key;
	json_t *value;
	int rc = 0;

	if (!json_is_object(v))
		return fail(c, GB_EINVAL, "expected a JSON object (map)");
	json_object_foreach(v, key, value) {
		struct out entry = {0};
		size_t mark = path_push(&c->path, "[\"%.40s\"]", key);

		rc = encode_map_key(c, kf, key, &entry);
		if (rc == 0)
			rc = encode_value(c, vf, value, false, &entry);
		if (rc == 0)
			out_nested(o, f->number, &entry);
		free(entry.p);
		path_pop(&c->path, mark);
		if (rc)
			break;
	}
	return rc;
}

static int encode_repeated(struct ctx *c, const struct gb_schema_field *f,
			   json_t *v, struct out *o)
{
	struct out packed = {0};
	size_t i;
	json_t *item;
	int rc = 0;

	if (!json_is_array(v))
		return fail(c, GB_EINVAL, "expected a JSON array (repeated "
			    "field)");
	json_array_foreach(v, i, item) {
		size_t mark = path_push(&c->path, "[%zu]", i);

		if (f->packed && !json_is_null(item)) {
			struct scalar s;

			rc = json_scalar(c, f, item, &s);
			if (rc == 0)
				out_scalar(&packed, f->kind, &s);
			free(s.owned);
		} else {
			rc = encode_value(c, f, item, false, o);
		}
		path_pop(&c->path, mark);
		if (rc)
			break;
	}
	if (rc == 0 && packed.len)
		out_nested(o, f->number, &packed);
	free(packed.p);
	return rc;
}

static int encode_message(struct ctx *c, const gb_schema_type *t, json_t *obj,
			  struct out *o)
{
	json_t *small[SMALL_FIELDS] = {NULL};
	const char *small_keys[SMALL_FIELDS] = {NULL};
	json_t **values = small;
	const char **keys = small_keys;       /* each field's key as written */
	const char *key;
	json_t *v;
	int rc = 0;

	if (!json_is_object(obj))
		return fail(c, GB_EINVAL, "expected a JSON object (message %s)",
			    t->name);
	if (c->depth >= GB_SCHEMA_MAX_DEPTH)
		return fail(c, GB_EINVAL, "nested more than %d messages deep",
			    GB_SCHEMA_MAX_DEPTH);
	if (t->n_fields > SMALL_FIELDS) {
		values = calloc(t->n_fields, sizeof *values);
		keys = calloc(t->n_fields, sizeof *keys);
		if (!values || !keys) {
			rc = fail_nomem(c);
			goto out;
		}
	}
	c->depth++;
	/* Every key names a field, once; null means "not set". */
	json_object_foreach(obj, key, v) {
		const struct gb_schema_field *f =
			gb_schema_field_by_name(t, key, strlen(key));
		size_t mark = path_field(&c->path, key);

		if (!f)
			rc = fail(c, GB_EINVAL, "unknown field (not in %s)",
				  t->name);
		else if (keys[f->index])
			rc = fail(c, GB_EINVAL, "the same field as %.100s",
				  keys[f->index]);
		path_pop(&c->path, mark);
		if (rc)
			goto done;
		keys[f->index] = key;
		if (!json_is_null(v))
			values[f->index] = v;
	}
	for (size_t i = 0; i < t->n_fields; i++) {
		const struct gb_schema_field *f = &t->fields[i];
		size_t mark = path_field(&c->path, keys[i] ? keys[i]
							 : f->json_name);

		if (!values[i] && f->required)
			rc = fail(c, GB_EINVAL, "required field missing");
		for (size_t k = 0; values[i] && f->oneof >= 0 && k < i && !rc;
		     k++)
			if (values[k] && t->fields[k].oneof == f->oneof)
				rc = fail(c, GB_EINVAL, "%.100s is already set; "
					  "only one field of oneof %s may be",
					  keys[k], t->oneofs[f->oneof]);
		if (rc == 0 && values[i] && f->is_map)
			rc = encode_map(c, f, values[i], o);
		else if (rc == 0 && values[i] && f->repeated)
			rc = encode_repeated(c, f, values[i], o);
		else if (rc == 0 && values[i])
			rc = encode_value(c, f, values[i], !f->presence, o);
		path_pop(&c->path, mark);
		if (rc)
			break;
	}
done:
	c->depth--;
out:
	if (values != small)
		free(values);
	if (keys != small_keys)
		free(keys);
	return rc;
}

int gb_schema_from_json(const gb_schema_type *t, const char *json, size_t len,
			uint8_t **out, size_t *out_len, char *why,
			size_t why_len)
{
	struct ctx c;
	struct out o = {0};
	json_error_t jerr;
	json_t *root;
	int rc;

	*out = NULL;
	*out_len = 0;
	ctx_init(&c, why, why_len);
	if (!json && len)
		return fail(&c, GB_EINVAL, "no bytes");
	root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(&c, GB_EINVAL, "not JSON: %.120s (column %d)",
			    jerr.text, jerr.column);
	rc = encode_message(&c, t, root, &o);
	json_decref(root);
	if (rc == 0 && o.rc)
		rc = o.rc == GB_ETOOBIG
			     ? fail(&c, GB_ETOOBIG, "the record would be larger "
				    "than %u bytes", OUTPUT_MAX)
			     : fail_nomem(&c);
	if (rc != 0) {
		free(o.p);
		return rc;
	}
	*out = o.p ? o.p : malloc(1);
	if (!*out)
		return fail_nomem(&c);
	*out_len = o.len;
	return 0;
}
