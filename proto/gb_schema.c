/* govbus schemas, first half: reading, validating and linking descriptor
 * sets; see gb_schema.h. Records are gb_schema_record.c's.
 *
 * Trust: a descriptor set is untrusted bytes (a config file, or the
 * broker's catalog in an agent). protobuf-c unpacks it, but protobuf-c
 * recurses without a depth limit and allocates a struct per element, so
 * before unpacking, the set is walked on the wire against protobuf-c's own
 * descriptor of FileDescriptorSet with a bounded depth and element count.
 * After unpacking, every name must be an identifier, every number in
 * range, every label and type known, every type reference must resolve to
 * a type of the loaded files, and a file present in two sets must be the
 * same in both. Errors name the set, the file, the type and the field. */
#include "gb_schema_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "descriptor.pb-c.h"
#include "gb_error.h"
#include "gb_wire.h"

typedef Google__Protobuf__FileDescriptorSet file_set;
typedef Google__Protobuf__FileDescriptorProto file_proto;
typedef Google__Protobuf__DescriptorProto message_proto;
typedef Google__Protobuf__FieldDescriptorProto field_proto;
typedef Google__Protobuf__EnumDescriptorProto enum_proto;

/* Nesting of a descriptor set on the wire (set, file, message, nested
 * messages, field, options...) and messages in one set: far beyond any
 * real schema, far below what would exhaust the stack or memory. */
#define SET_MAX_DEPTH 48
#define SET_MAX_ELEMENTS 200000
#define IDENT_MAX 128
#define FILE_NAME_MAX 1024

struct gb_schema {
	file_set **sets;
	size_t n_sets;
	const file_proto **files;         /* distinct files, in load order */
	size_t n_files;
	gb_schema_type *types;            /* sorted by name */
	size_t n_types;
	struct gb_schema_enum *enums;     /* sorted by name */
	size_t n_enums;
};

/* ---------------------------------------------------------------------
 * Errors. */

struct loader {
	gb_schema *s;
	char *why;
	size_t why_len;
	const char *set;                  /* name of the set being read */
	const char *file;                 /* file being read, or NULL */
};

__attribute__((format(printf, 3, 4)))
static int fail(struct loader *ld, int rc, const char *fmt, ...)
{
	va_list ap;
	size_t used = 0;
	int n;

	if (!ld->why || !ld->why_len)
		return rc;
	n = snprintf(ld->why, ld->why_len, "%.200s: ", ld->set ? ld->set : "");
	if (n > 0)
		used = (size_t)n < ld->why_len ? (size_t)n : ld->why_len - 1;
	if (ld->file) {
		n = snprintf(ld->why + used, ld->why_len - used, "%.200s: ",
			     ld->file);
		if (n > 0)
			used += (size_t)n < ld->why_len - used
					? (size_t)n
					: ld->why_len - used - 1;
	}
	va_start(ap, fmt);
	vsnprintf(ld->why + used, ld->why_len - used, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail_nomem(struct loader *ld)
{
	return fail(ld, GB_ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------------
 * Reading a file. */

int gb_schema_read_file(const char *path, uint8_t **data, size_t *len,
			char *why, size_t why_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t size, got = 0;
	int fd, rc;

	*data = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO must not hang before fstat refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return gb_why(why, why_len, GB_EIO, "cannot open %.300s: %s",
			      path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = gb_why(why, why_len, GB_EIO, "%.300s: not a regular file",
			    path);
		goto out;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > GB_SCHEMA_MAX_SET_BYTES) {
		rc = gb_why(why, why_len, GB_ETOOBIG,
			    "%.300s: larger than %u bytes", path,
			    (unsigned)GB_SCHEMA_MAX_SET_BYTES);
		goto out;
	}
	size = (size_t)st.st_size;
	buf = malloc(size + 1);  /* one spare byte shows a file that grew */
	if (!buf) {
		rc = gb_why(why, why_len, GB_ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = gb_why(why, why_len, GB_EIO, "cannot read %.300s: %s",
				    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > size) {
			rc = gb_why(why, why_len, GB_EIO,
				    "%.300s: changed while being read", path);
			goto out;
		}
	}
	*data = buf;
	*len = got;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/* ---------------------------------------------------------------------
 * The wire pre-check: nesting and element count, before protobuf-c. */

struct precheck {
	size_t elements;
};

/* Walk buf[0..len) as a message described by `desc`: every tag and length
 * well-formed, sub-messages of known message fields walked in turn. */
static int precheck_message(struct precheck *pc,
			    const ProtobufCMessageDescriptor *desc,
			    const uint8_t *buf, size_t len, unsigned depth)
{
	size_t pos = 0;

	if (depth > SET_MAX_DEPTH)
		return GB_ETOOBIG;
	if (++pc->elements > SET_MAX_ELEMENTS)
		return GB_ETOOBIG;
	while (pos < len) {
		const ProtobufCFieldDescriptor *fd;
		uint64_t tag, v;
		int n = gb_varint_get(buf + pos, len - pos, &tag);

		if (n <= 0 || tag >> 3 == 0 || tag >> 3 > GB_WIRE_MAX_FIELD)
			return GB_EDECODE;
		pos += (size_t)n;
		switch (tag & 7) {
		case GB_WIRE_VARINT:
			n = gb_varint_get(buf + pos, len - pos, &v);
			if (n <= 0)
				return GB_EDECODE;
			pos += (size_t)n;
			break;
		case GB_WIRE_FIXED64:
			if (len - pos < 8)
				return GB_EDECODE;
			pos += 8;
			break;
		case GB_WIRE_FIXED32:
			if (len - pos < 4)
				return GB_EDECODE;
			pos += 4;
			break;
		case GB_WIRE_LEN:
			n = gb_varint_get(buf + pos, len - pos, &v);
			if (n <= 0 || v > len - pos - (size_t)n)
				return GB_EDECODE;
			pos += (size_t)n;
			fd = protobuf_c_message_descriptor_get_field(
				desc, (unsigned)(tag >> 3));
			/* Sub-messages are what protobuf-c allocates a
			 * struct for; strings and packed scalars cost it
			 * one buffer of at most 8 times their bytes. */
			if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
				int rc = precheck_message(pc, fd->descriptor,
							  buf + pos, (size_t)v,
							  depth + 1);
				if (rc != 0)
					return rc;
			}
			pos += (size_t)v;
			break;
		default: /* groups: descriptor.proto has none */
			return GB_EDECODE;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Names. */

static bool is_ident(const char *s)
{
	size_t n;

	if (!s || !s[0])
		return false;
	n = strlen(s);
	if (n > IDENT_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_") == n;
}

/* A package: identifiers joined by dots, or empty. */
static bool is_package(const char *s)
{
	char part[IDENT_MAX + 1];
	size_t n;

	if (!s || !s[0])
		return true;
	if (strlen(s) > GB_SCHEMA_MAX_NAME / 2)
		return false;
	for (;;) {
		const char *dot = strchr(s, '.');

		n = dot ? (size_t)(dot - s) : strlen(s);
		if (n == 0 || n > IDENT_MAX)
			return false;
		memcpy(part, s, n);
		part[n] = '\0';
		if (!is_ident(part))
			return false;
		if (!dot)
			return true;
		s = dot + 1;
	}
}

/* "scope.name" (or "name" without a scope), malloc'd; NULL when too long or
 * out of memory. */
static char *join_name(const char *scope, const char *name)
{
	size_t ls = strlen(scope), ln = strlen(name);
	char *out;

	if (ls + 1 + ln + 1 > GB_SCHEMA_MAX_NAME)
		return NULL;
	out = malloc(ls + 1 + ln + 1);
	if (!out)
		return NULL;
	memcpy(out, scope, ls);
	if (ls)
		out[ls++] = '.';
	memcpy(out + ls, name, ln + 1);
	return out;
}

/* protoc's default JSON name: underscores dropped, the letter after one
 * upper-cased. */
static char *json_name_of(const char *name)
{
	char *out = malloc(strlen(name) + 1);
	size_t o = 0;
	bool upper = false;

	if (!out)
		return NULL;
	for (const char *p = name; *p; p++) {
		if (*p == '_') {
			upper = true;
			continue;
		}
		out[o++] = upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;
		upper = false;
	}
	out[o] = '\0';
	return out;
}

/* ---------------------------------------------------------------------
 * Lookups. */

static int type_cmp(const void *a, const void *b)
{
	return strcmp(((const gb_schema_type *)a)->name,
		      ((const gb_schema_type *)b)->name);
}

static int enum_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gb_schema_enum *)a)->name,
		      ((const struct gb_schema_enum *)b)->name);
}

const gb_schema_type *gb_schema_find(const gb_schema *s, const char *name)
{
	gb_schema_type probe;

	if (!s || !name || !s->n_types)
		return NULL;
	probe.name = (char *)name;
	return bsearch(&probe, s->types, s->n_types, sizeof *s->types, type_cmp);
}

static const struct gb_schema_enum *find_enum(const gb_schema *s,
					      const char *name)
{
	struct gb_schema_enum probe;

	if (!s->n_enums)
		return NULL;
	probe.name = (char *)name;
	return bsearch(&probe, s->enums, s->n_enums, sizeof *s->enums,
		       enum_cmp);
}

const char *gb_schema_type_name(const gb_schema_type *t)
{
	return t->name;
}

static int field_number_cmp(const void *a, const void *b)
{
	const struct gb_schema_field *x = a, *y = b;

	return (x->number > y->number) - (x->number < y->number);
}

const struct gb_schema_field *gb_schema_field_by_number(const gb_schema_type *t,
						       uint32_t number)
{
	struct gb_schema_field probe;

	if (!t->n_fields)
		return NULL;
	probe.number = number;
	return bsearch(&probe, t->fields, t->n_fields, sizeof *t->fields,
		       field_number_cmp);
}

struct name_key {
	const char *name;
	size_t len;
};

static int name_key_cmp(const void *key, const void *entry)
{
	const struct name_key *k = key;
	const char *name = ((const struct gb_schema_name *)entry)->name;
	int c = strncmp(k->name, name, k->len);

	if (c)
		return c;
	return name[k->len] ? -1 : 0;
}

const struct gb_schema_field *gb_schema_field_by_name(const gb_schema_type *t,
						     const char *name,
						     size_t len)
{
	struct name_key key = {name, len};
	const struct gb_schema_name *hit;

	if (!t->n_names || memchr(name, '\0', len))
		return NULL;
	hit = bsearch(&key, t->names, t->n_names, sizeof *t->names,
		      name_key_cmp);
	return hit ? hit->field : NULL;
}

static int name_sort_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gb_schema_name *)a)->name,
		      ((const struct gb_schema_name *)b)->name);
}

static int value_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gb_schema_enum_value *)a)->name,
		      ((const struct gb_schema_enum_value *)b)->name);
}

static int value_number_cmp(const void *a, const void *b)
{
	const struct gb_schema_enum_value *x = a, *y = b;

	if (x->number != y->number)
		return (x->number > y->number) - (x->number < y->number);
	return (x->order > y->order) - (x->order < y->order);
}

const struct gb_schema_enum_value *gb_schema_enum_by_number(
	const struct gb_schema_enum *e, int32_t number)
{
	size_t lo = 0, hi = e->n;

	/* the first of a run of aliases: lower bound */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->by_number[mid].number < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e->n && e->by_number[lo].number == number
		       ? &e->by_number[lo]
		       : NULL;
}

const struct gb_schema_enum_value *gb_schema_enum_by_name(
	const struct gb_schema_enum *e, const char *name)
{
	struct gb_schema_enum_value probe = {name, 0, 0};

	return e->n ? bsearch(&probe, e->by_name, e->n, sizeof *e->by_name,
			      value_name_cmp)
		    : NULL;
}

/* ---------------------------------------------------------------------
 * Kinds. */

const char *gb_schema_kind_name(enum gb_schema_kind kind)
{
	static const char *const names[] = {
		[GB_SK_DOUBLE] = "double",     [GB_SK_FLOAT] = "float",
		[GB_SK_INT64] = "int64",       [GB_SK_UINT64] = "uint64",
		[GB_SK_INT32] = "int32",       [GB_SK_FIXED64] = "fixed64",
		[GB_SK_FIXED32] = "fixed32",   [GB_SK_BOOL] = "bool",
		[GB_SK_STRING] = "string",     [GB_SK_GROUP] = "group",
		[GB_SK_MESSAGE] = "message",   [GB_SK_BYTES] = "bytes",
		[GB_SK_UINT32] = "uint32",     [GB_SK_ENUM] = "enum",
		[GB_SK_SFIXED32] = "sfixed32", [GB_SK_SFIXED64] = "sfixed64",
		[GB_SK_SINT32] = "sint32",     [GB_SK_SINT64] = "sint64",
	};

	if ((unsigned)kind < sizeof names / sizeof names[0] && names[kind])
		return names[kind];
	return "unknown";
}

int gb_schema_kind_wire(enum gb_schema_kind kind)
{
	switch (kind) {
	case GB_SK_DOUBLE:
	case GB_SK_FIXED64:
	case GB_SK_SFIXED64:
		return GB_WIRE_FIXED64;
	case GB_SK_FLOAT:
	case GB_SK_FIXED32:
	case GB_SK_SFIXED32:
		return GB_WIRE_FIXED32;
	case GB_SK_STRING:
	case GB_SK_BYTES:
	case GB_SK_MESSAGE:
		return GB_WIRE_LEN;
	case GB_SK_GROUP:
		return GB_WIRE_GROUP_START;
	default:
		return GB_WIRE_VARINT;
	}
}

bool gb_schema_kind_packable(enum gb_schema_kind kind)
{
	return gb_schema_kind_wire(kind) != GB_WIRE_LEN && kind != GB_SK_GROUP;
}

/* ---------------------------------------------------------------------
 * Destroy. */

void gb_schema_destroy(gb_schema **sp)
{
	gb_schema *s;

	if (!sp || !*sp)
		return;
	s = *sp;
	for (size_t i = 0; i < s->n_types; i++) {
		gb_schema_type *t = &s->types[i];

		for (size_t k = 0; k < t->n_fields; k++)
			free(t->fields[k].json_name);
		free(t->fields);
		free(t->names);
		free(t->oneofs);
		free(t->name);
	}
	free(s->types);
	for (size_t i = 0; i < s->n_enums; i++) {
		free(s->enums[i].name);
		free(s->enums[i].by_name);
		free(s->enums[i].by_number);
	}
	free(s->enums);
	for (size_t i = 0; i < s->n_sets; i++)
		if (s->sets[i])
			google__protobuf__file_descriptor_set__free_unpacked(
				s->sets[i], NULL);
	free(s->sets);
	free(s->files);
	free(s);
	*sp = NULL;
}

/* ---------------------------------------------------------------------
 * Files: unpack each set, keep one copy of each file. */

/* True when two unpacked files serialize to the same bytes. */
static int same_file(const file_proto *a, const file_proto *b, bool *same)
{
	size_t la = google__protobuf__file_descriptor_proto__get_packed_size(a);
	size_t lb = google__protobuf__file_descriptor_proto__get_packed_size(b);
	uint8_t *pa, *pb;

	*same = false;
	if (la != lb)
		return 0;
	pa = malloc(la ? la : 1);
	pb = malloc(lb ? lb : 1);
	if (!pa || !pb) {
		free(pa);
		free(pb);
		return GB_ENOMEM;
	}
	google__protobuf__file_descriptor_proto__pack(a, pa);
	google__protobuf__file_descriptor_proto__pack(b, pb);
	*same = memcmp(pa, pb, la) == 0;
	free(pa);
	free(pb);
	return 0;
}

static const file_proto *find_file(const gb_schema *s, const char *name)
{
	for (size_t i = 0; i < s->n_files; i++)
		if (!strcmp(s->files[i]->name, name))
			return s->files[i];
	return NULL;
}

static int add_file(struct loader *ld, const file_proto *f)
{
	gb_schema *s = ld->s;
	const file_proto *seen;
	bool same;
	int rc;

	if (!f->name || !f->name[0] || strlen(f->name) > FILE_NAME_MAX)
		return fail(ld, GB_EINVAL, "a file without a usable name");
	seen = find_file(s, f->name);
	if (seen) {
		rc = same_file(seen, f, &same);
		if (rc != 0)
			return fail_nomem(ld);
		if (!same)
			return fail(ld, GB_EINVAL,
				    "%.200s is also in another set, with "
				    "different contents",
				    f->name);
		return 0;
	}
	ld->file = f->name;
	if (f->syntax && f->syntax[0] && strcmp(f->syntax, "proto2") &&
	    strcmp(f->syntax, "proto3"))
		return fail(ld, GB_EINVAL, "syntax \"%.32s\" is not supported "
			    "(proto2 or proto3)", f->syntax);
	if (!is_package(f->package))
		return fail(ld, GB_EINVAL, "package \"%.100s\" is not a valid "
			    "package name", f->package);
	ld->file = NULL;
	s->files[s->n_files++] = f;
	return 0;
}

static int load_sets(struct loader *ld, const gb_schema_set *sets, size_t n)
{
	gb_schema *s = ld->s;
	size_t total_files = 0;
	int rc;

	s->sets = calloc(n, sizeof *s->sets);
	if (!s->sets)
		return fail_nomem(ld);
	for (size_t i = 0; i < n; i++) {
		struct precheck pc = {0};

		ld->set = sets[i].name;
		if (!sets[i].data && sets[i].len)
			return fail(ld, GB_EINVAL, "no bytes");
		if (sets[i].len == 0)
			return fail(ld, GB_EDECODE, "empty: not a descriptor "
				    "set (protoc --descriptor_set_out)");
		if (sets[i].len > GB_SCHEMA_MAX_SET_BYTES)
			return fail(ld, GB_ETOOBIG, "%zu bytes, limit %u",
				    sets[i].len,
				    (unsigned)GB_SCHEMA_MAX_SET_BYTES);
		rc = precheck_message(
			&pc, &google__protobuf__file_descriptor_set__descriptor,
			sets[i].data, sets[i].len, 0);
		if (rc == GB_ETOOBIG)
			return fail(ld, rc, "nested deeper than %d levels or "
				    "more than %d messages",
				    SET_MAX_DEPTH, SET_MAX_ELEMENTS);
		if (rc != 0)
			return fail(ld, GB_EDECODE, "not a descriptor set "
				    "(protoc --descriptor_set_out): the bytes "
				    "are not a protobuf message");
		s->sets[i] = google__protobuf__file_descriptor_set__unpack(
			NULL, sets[i].len, sets[i].data);
		if (!s->sets[i])
			return fail(ld, GB_EDECODE, "not a descriptor set "
				    "(protoc --descriptor_set_out)");
		s->n_sets++;
		if (s->sets[i]->n_file == 0)
			return fail(ld, GB_EDECODE, "a descriptor set without "
				    "files");
		total_files += s->sets[i]->n_file;
	}
	s->files = calloc(total_files, sizeof *s->files);
	if (!s->files)
		return fail_nomem(ld);
	for (size_t i = 0; i < n; i++) {
		ld->set = sets[i].name;
		for (size_t k = 0; k < s->sets[i]->n_file; k++) {
			rc = add_file(ld, s->sets[i]->file[k]);
			if (rc != 0)
				return rc;
		}
	}
	/* --include_imports: every import is in some set */
	for (size_t i = 0; i < s->n_files; i++)
		for (size_t k = 0; k < s->files[i]->n_dependency; k++)
			if (!find_file(s, s->files[i]->dependency[k])) {
				ld->set = "descriptor sets";
				ld->file = s->files[i]->name;
				return fail(ld, GB_EINVAL,
					    "imports %.200s, which no set holds "
					    "(build sets with protoc "
					    "--include_imports)",
					    s->files[i]->dependency[k]);
			}
	ld->set = "descriptor sets";
	return 0;
}

/* ---------------------------------------------------------------------
 * Types: collect every message and enum with its full name. */

struct counts {
	size_t types, enums;
};

static void count_message(const message_proto *m, struct counts *c)
{
	c->types++;
	c->enums += m->n_enum_type;
	for (size_t i = 0; i < m->n_nested_type; i++)
		count_message(m->nested_type[i], c);
}

/* Where each type came from, while linking. */
struct type_src {
	const message_proto *desc;
	const file_proto *file;
};

struct collector {
	struct loader *ld;
	struct type_src *src;             /* parallel to s->types before sort */
	const enum_proto **enum_src;      /* parallel to s->enums before sort */
};

static int collect_enum(struct collector *co, const char *scope,
			const enum_proto *e)
{
	gb_schema *s = co->ld->s;
	struct gb_schema_enum *out = &s->enums[s->n_enums];

	if (!is_ident(e->name))
		return fail(co->ld, GB_EINVAL, "enum \"%.100s\" in %.200s: not "
			    "a valid name", e->name ? e->name : "",
			    scope[0] ? scope : "(top level)");
	out->name = join_name(scope, e->name);
	if (!out->name)
		return fail(co->ld, GB_EINVAL, "an enum name in %.200s is "
			    "longer than %d bytes", scope, GB_SCHEMA_MAX_NAME);
	co->enum_src[s->n_enums++] = e;
	return 0;
}

static int collect_message(struct collector *co, const file_proto *file,
			   const char *scope, const message_proto *m)
{
	gb_schema *s = co->ld->s;
	gb_schema_type *t = &s->types[s->n_types];
	int rc;

	if (!is_ident(m->name))
		return fail(co->ld, GB_EINVAL, "message \"%.100s\" in %.200s: "
			    "not a valid name", m->name ? m->name : "",
			    scope[0] ? scope : "(top level)");
	t->name = join_name(scope, m->name);
	if (!t->name)
		return fail(co->ld, GB_EINVAL, "a message name in %.200s is "
			    "longer than %d bytes", scope, GB_SCHEMA_MAX_NAME);
	co->src[s->n_types++] = (struct type_src){m, file};
	for (size_t i = 0; i < m->n_enum_type; i++) {
		rc = collect_enum(co, t->name, m->enum_type[i]);
		if (rc != 0)
			return rc;
	}
	for (size_t i = 0; i < m->n_nested_type; i++) {
		rc = collect_message(co, file, t->name, m->nested_type[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Linking. */

static int link_enum(struct loader *ld, struct gb_schema_enum *e,
		     const enum_proto *src)
{
	if (src->n_value == 0)
		return fail(ld, GB_EINVAL, "enum %s: has no values", e->name);
	e->by_name = calloc(src->n_value, sizeof *e->by_name);
	e->by_number = calloc(src->n_value, sizeof *e->by_number);
	if (!e->by_name || !e->by_number)
		return fail_nomem(ld);
	for (size_t i = 0; i < src->n_value; i++) {
		const Google__Protobuf__EnumValueDescriptorProto *v =
			src->value[i];

		if (!is_ident(v->name) || !v->has_number)
			return fail(ld, GB_EINVAL, "enum %s: value %zu has no "
				    "valid name or number", e->name, i);
		e->by_name[i] = (struct gb_schema_enum_value){v->name,
							       v->number, i};
		e->by_number[i] = e->by_name[i];
	}
	e->n = src->n_value;
	qsort(e->by_name, e->n, sizeof *e->by_name, value_name_cmp);
	qsort(e->by_number, e->n, sizeof *e->by_number, value_number_cmp);
	for (size_t i = 1; i < e->n; i++)
		if (!strcmp(e->by_name[i].name, e->by_name[i - 1].name))
			return fail(ld, GB_EINVAL, "enum %s: value %s declared "
				    "twice", e->name, e->by_name[i].name);
	return 0;
}

/* A reference ".pkg.Type" resolved to a message or an enum. protoc writes
 * fully-qualified names in descriptor sets; relative ones are refused. */
static int resolve_ref(struct loader *ld, const gb_schema_type *t,
		       const field_proto *fp, struct gb_schema_field *f)
{
	const char *ref = fp->type_name;

	if (!ref || ref[0] != '.')
		return fail(ld, GB_EINVAL, "%s.%s: type \"%.200s\" is not a "
			    "fully-qualified name (descriptor sets from protoc "
			    "have them)", t->name, f->name, ref ? ref : "");
	if (f->kind == GB_SK_MESSAGE) {
		f->message = gb_schema_find(ld->s, ref + 1);
		if (!f->message)
			return fail(ld, GB_EINVAL, "%s.%s: unknown message "
				    "type %.200s", t->name, f->name, ref + 1);
	} else {
		f->enumeration = find_enum(ld->s, ref + 1);
		if (!f->enumeration)
			return fail(ld, GB_EINVAL, "%s.%s: unknown enum type "
				    "%.200s", t->name, f->name, ref + 1);
	}
	return 0;
}

static int link_field(struct loader *ld, gb_schema_type *t,
		      const message_proto *m, const field_proto *fp,
		      struct gb_schema_field *f)
{
	Google__Protobuf__FieldDescriptorProto__Label label;
	bool proto3_optional = fp->has_proto3_optional && fp->proto3_optional;
	int rc;

	if (!is_ident(fp->name))
		return fail(ld, GB_EINVAL, "%s: a field without a valid name",
			    t->name);
	f->name = fp->name;
	if (!fp->has_number || fp->number < 1 ||
	    (uint32_t)fp->number > GB_WIRE_MAX_FIELD ||
	    (fp->number >= 19000 && fp->number <= 19999))
		return fail(ld, GB_EINVAL, "%s.%s: field number out of range",
			    t->name, f->name);
	f->number = (uint32_t)fp->number;
	if (!fp->has_type || (int)fp->type < GB_SK_DOUBLE ||
	    (int)fp->type > GB_SK_SINT64)
		return fail(ld, GB_EINVAL, "%s.%s: no known field type (is the "
			    "descriptor set linked, as protoc writes it?)",
			    t->name, f->name);
	f->kind = (enum gb_schema_kind)fp->type;
	if (f->kind == GB_SK_GROUP)
		return fail(ld, GB_EINVAL, "%s.%s: groups are not supported",
			    t->name, f->name);
	label = fp->has_label ? fp->label
			      : GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL;
	if (label < GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL ||
	    label > GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED)
		return fail(ld, GB_EINVAL, "%s.%s: unknown label %d", t->name,
			    f->name, (int)label);
	f->repeated = label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
	f->required = label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED;
	if (f->kind == GB_SK_MESSAGE || f->kind == GB_SK_ENUM) {
		rc = resolve_ref(ld, t, fp, f);
		if (rc != 0)
			return rc;
	}
	f->is_map = f->repeated && f->message && f->message->map_entry;
	f->oneof = -1;
	if (fp->has_oneof_index) {
		if (fp->oneof_index < 0 ||
		    (size_t)fp->oneof_index >= m->n_oneof_decl)
			return fail(ld, GB_EINVAL, "%s.%s: oneof index out of "
				    "range", t->name, f->name);
		if (f->repeated)
			return fail(ld, GB_EINVAL, "%s.%s: a repeated field "
				    "cannot be in a oneof", t->name, f->name);
		if (!proto3_optional) /* a synthetic oneof is only presence */
			f->oneof = fp->oneof_index;
	}
	if (f->repeated)
		f->presence = false;
	else if (!t->proto3 || f->kind == GB_SK_MESSAGE || proto3_optional ||
		 f->oneof >= 0)
		f->presence = true;
	if (f->repeated && gb_schema_kind_packable(f->kind)) {
		bool has = fp->options && fp->options->has_packed;

		f->packed = has ? fp->options->packed : t->proto3;
	}
	if (fp->json_name && fp->json_name[0]) {
		if (strlen(fp->json_name) > IDENT_MAX)
			return fail(ld, GB_EINVAL, "%s.%s: json_name too long",
				    t->name, f->name);
		f->json_name = strdup(fp->json_name);
	} else {
		f->json_name = json_name_of(f->name);
	}
	if (!f->json_name)
		return fail_nomem(ld);
	return 0;
}

/* Declared and JSON names of every field, sorted, each naming one field. */
static int index_names(struct loader *ld, gb_schema_type *t)
{
	size_t n = 0;

	t->names = calloc(2 * t->n_fields + 1, sizeof *t->names);
	if (!t->names)
		return fail_nomem(ld);
	for (size_t i = 0; i < t->n_fields; i++) {
		const struct gb_schema_field *f = &t->fields[i];

		t->names[n++] = (struct gb_schema_name){f->name, f};
		if (strcmp(f->json_name, f->name))
			t->names[n++] = (struct gb_schema_name){f->json_name, f};
	}
	t->n_names = n;
	qsort(t->names, n, sizeof *t->names, name_sort_cmp);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(t->names[i].name, t->names[i - 1].name))
			return fail(ld, GB_EINVAL, "%s: fields %s and %s both "
				    "answer to the name %s", t->name,
				    t->names[i - 1].field->name,
				    t->names[i].field->name, t->names[i].name);
	return 0;
}

static int link_type(struct loader *ld, gb_schema_type *t,
		     const struct type_src *src)
{
	const message_proto *m = src->desc;
	int rc;

	if (m->n_extension_range && t->proto3)
		return fail(ld, GB_EINVAL, "%s: extension ranges in proto3",
			    t->name);
	t->fields = calloc(m->n_field ? m->n_field : 1, sizeof *t->fields);
	t->oneofs = calloc(m->n_oneof_decl ? m->n_oneof_decl : 1,
			   sizeof *t->oneofs);
	if (!t->fields || !t->oneofs)
		return fail_nomem(ld);
	for (size_t i = 0; i < m->n_oneof_decl; i++) {
		if (!is_ident(m->oneof_decl[i]->name))
			return fail(ld, GB_EINVAL, "%s: oneof %zu has no valid "
				    "name", t->name, i);
		t->oneofs[i] = m->oneof_decl[i]->name;
	}
	t->n_oneofs = m->n_oneof_decl;
	for (size_t i = 0; i < m->n_field; i++) {
		rc = link_field(ld, t, m, m->field[i], &t->fields[i]);
		t->n_fields = i + 1;  /* so destroy frees its json_name */
		if (rc != 0)
			return rc;
		if (t->fields[i].required)
			t->n_required++;
	}
	qsort(t->fields, t->n_fields, sizeof *t->fields, field_number_cmp);
	for (size_t i = 0; i < t->n_fields; i++) {
		t->fields[i].index = i;
		if (i && t->fields[i].number == t->fields[i - 1].number)
			return fail(ld, GB_EINVAL, "%s: fields %s and %s share "
				    "number %u", t->name, t->fields[i - 1].name,
				    t->fields[i].name, t->fields[i].number);
	}
	return index_names(ld, t);
}

/* A map entry: `key` = 1 of an integral or string type, `value` = 2. */
static int check_map_entry(struct loader *ld, const gb_schema_type *t)
{
	const struct gb_schema_field *k = gb_schema_field_by_number(t, 1);
	const struct gb_schema_field *v = gb_schema_field_by_number(t, 2);

	if (t->n_fields != 2 || !k || !v || strcmp(k->name, "key") ||
	    strcmp(v->name, "value") || k->repeated || v->repeated)
		return fail(ld, GB_EINVAL, "%s: a map entry must have exactly "
			    "`key = 1` and `value = 2`", t->name);
	switch (k->kind) {
	case GB_SK_DOUBLE:
	case GB_SK_FLOAT:
	case GB_SK_BYTES:
	case GB_SK_MESSAGE:
	case GB_SK_ENUM:
		return fail(ld, GB_EINVAL, "%s: a map key cannot be %s",
			    t->name, gb_schema_kind_name(k->kind));
	default:
		return 0;
	}
}

/* A type and where it came from, sorted together by name. */
struct pending_type {
	gb_schema_type t;
	struct type_src src;
};

static int pending_cmp(const void *a, const void *b)
{
	return type_cmp(&((const struct pending_type *)a)->t,
			&((const struct pending_type *)b)->t);
}

static int link_all(struct loader *ld)
{
	gb_schema *s = ld->s;
	struct counts c = {0, 0};
	struct collector co = {ld, NULL, NULL};
	struct type_src *sorted_src = NULL;
	struct pending_type *pending = NULL;
	int rc = 0;

	for (size_t i = 0; i < s->n_files; i++) {
		c.enums += s->files[i]->n_enum_type;
		for (size_t k = 0; k < s->files[i]->n_message_type; k++)
			count_message(s->files[i]->message_type[k], &c);
	}
	s->types = calloc(c.types ? c.types : 1, sizeof *s->types);
	s->enums = calloc(c.enums ? c.enums : 1, sizeof *s->enums);
	co.src = calloc(c.types ? c.types : 1, sizeof *co.src);
	co.enum_src = calloc(c.enums ? c.enums : 1, sizeof *co.enum_src);
	sorted_src = calloc(c.types ? c.types : 1, sizeof *sorted_src);
	pending = calloc(c.types ? c.types : 1, sizeof *pending);
	if (!s->types || !s->enums || !co.src || !co.enum_src || !sorted_src ||
	    !pending) {
		rc = fail_nomem(ld);
		goto out;
	}
	for (size_t i = 0; i < s->n_files && rc == 0; i++) {
		const file_proto *f = s->files[i];
		const char *pkg = f->package ? f->package : "";

		ld->file = f->name;
		for (size_t k = 0; k < f->n_enum_type && rc == 0; k++)
			rc = collect_enum(&co, pkg, f->enum_type[k]);
		for (size_t k = 0; k < f->n_message_type && rc == 0; k++)
			rc = collect_message(&co, f, pkg, f->message_type[k]);
	}
	ld->file = NULL;
	if (rc != 0)
		goto out;
	/* Link enums in collection order, then sort them by name. */
	for (size_t i = 0; i < s->n_enums && rc == 0; i++)
		rc = link_enum(ld, &s->enums[i], co.enum_src[i]);
	if (rc != 0)
		goto out;
	qsort(s->enums, s->n_enums, sizeof *s->enums, enum_cmp);
	/* Sort types by name, carrying their sources along. */
	for (size_t i = 0; i < s->n_types; i++) {
		const file_proto *f = co.src[i].file;

		s->types[i].proto3 = f->syntax && !strcmp(f->syntax, "proto3");
		s->types[i].map_entry = co.src[i].desc->options &&
					co.src[i].desc->options->has_map_entry &&
					co.src[i].desc->options->map_entry;
		pending[i] = (struct pending_type){s->types[i], co.src[i]};
	}
	qsort(pending, s->n_types, sizeof *pending, pending_cmp);
	for (size_t i = 0; i < s->n_types; i++) {
		s->types[i] = pending[i].t;
		sorted_src[i] = pending[i].src;
	}
	for (size_t i = 1; i < s->n_types; i++)
		if (!strcmp(s->types[i].name, s->types[i - 1].name)) {
			rc = fail(ld, GB_EINVAL, "message %s is defined twice",
				  s->types[i].name);
			goto out;
		}
	for (size_t i = 1; i < s->n_enums; i++)
		if (!strcmp(s->enums[i].name, s->enums[i - 1].name)) {
			rc = fail(ld, GB_EINVAL, "enum %s is defined twice",
				  s->enums[i].name);
			goto out;
		}
	for (size_t i = 0; i < s->n_enums; i++)
		if (gb_schema_find(s, s->enums[i].name)) {
			rc = fail(ld, GB_EINVAL, "%s is both a message and an "
				  "enum", s->enums[i].name);
			goto out;
		}
	for (size_t i = 0; i < s->n_types && rc == 0; i++) {
		ld->file = sorted_src[i].file->name;
		rc = link_type(ld, &s->types[i], &sorted_src[i]);
	}
	for (size_t i = 0; i < s->n_types && rc == 0; i++)
		if (s->types[i].map_entry)
			rc = check_map_entry(ld, &s->types[i]);
	ld->file = NULL;
out:
	free(co.src);
	free(co.enum_src);
	free(sorted_src);
	free(pending);
	return rc;
}

int gb_schema_load(const gb_schema_set *sets, size_t n, gb_schema **out,
		   char *why, size_t why_len)
{
	struct loader ld = {NULL, why, why_len, "descriptor sets", NULL};
	int rc;

	*out = NULL;
	if (why && why_len)
		why[0] = '\0';
	if (!sets || n == 0)
		return fail(&ld, GB_EINVAL, "no descriptor set given");
	if (n > GB_SCHEMA_MAX_SETS)
		return fail(&ld, GB_ETOOBIG, "%zu sets, limit %d", n,
			    GB_SCHEMA_MAX_SETS);
	ld.s = calloc(1, sizeof *ld.s);
	if (!ld.s)
		return fail_nomem(&ld);
	rc = load_sets(&ld, sets, n);
	if (rc == 0)
		rc = link_all(&ld);
	if (rc != 0) {
		gb_schema_destroy(&ld.s);
		return rc;
	}
	*out = ld.s;
	return 0;
}
