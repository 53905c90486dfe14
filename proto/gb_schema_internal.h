/* The linked form of a gb_schema, shared by its two halves: gb_schema.c
 * (reading, validating and linking descriptor sets) and gb_schema_record.c
 * (walking records, converting them to and from JSON). Not installed.
 *
 * Strings point into the unpacked descriptor sets the schema keeps, except
 * full names and computed JSON names, which the schema owns. */
#ifndef GB_SCHEMA_INTERNAL_H
#define GB_SCHEMA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_schema.h"

/* Field types, numbered as google.protobuf.FieldDescriptorProto.Type. */
enum gb_schema_kind {
	GB_SK_DOUBLE = 1,
	GB_SK_FLOAT = 2,
	GB_SK_INT64 = 3,
	GB_SK_UINT64 = 4,
	GB_SK_INT32 = 5,
	GB_SK_FIXED64 = 6,
	GB_SK_FIXED32 = 7,
	GB_SK_BOOL = 8,
	GB_SK_STRING = 9,
	GB_SK_GROUP = 10,      /* refused at load */
	GB_SK_MESSAGE = 11,
	GB_SK_BYTES = 12,
	GB_SK_UINT32 = 13,
	GB_SK_ENUM = 14,
	GB_SK_SFIXED32 = 15,
	GB_SK_SFIXED64 = 16,
	GB_SK_SINT32 = 17,
	GB_SK_SINT64 = 18,
};

struct gb_schema_enum_value {
	const char *name;
	int32_t number;
	size_t order;                     /* declaration order (aliases) */
};

struct gb_schema_enum {
	char *name;                       /* full name */
	struct gb_schema_enum_value *by_name;    /* sorted by name */
	struct gb_schema_enum_value *by_number;  /* by number, then order */
	size_t n;
};

struct gb_schema_field {
	const char *name;                 /* as declared */
	char *json_name;                  /* lowerCamelCase or json_name */
	uint32_t number;
	enum gb_schema_kind kind;
	bool repeated;
	bool required;                    /* proto2 `required` */
	bool packed;                      /* written packed (repeated scalars) */
	bool presence;                    /* a set default is still written */
	bool is_map;                      /* repeated map-entry message */
	int32_t oneof;                    /* real oneof index, -1 for none */
	size_t index;                     /* position in the type's fields */
	const gb_schema_type *message;    /* GB_SK_MESSAGE */
	const struct gb_schema_enum *enumeration;  /* GB_SK_ENUM */
};

/* Every name a JSON object may use for a field: its own and its JSON name. */
struct gb_schema_name {
	const char *name;
	const struct gb_schema_field *field;
};

struct gb_schema_type {
	char *name;                       /* full name */
	bool proto3;
	bool map_entry;
	struct gb_schema_field *fields;   /* sorted by number */
	size_t n_fields;
	struct gb_schema_name *names;     /* sorted by name */
	size_t n_names;
	const char **oneofs;              /* oneof names by index */
	size_t n_oneofs;
	size_t n_required;
};

/* The field of `t` numbered `number`, or NULL. */
const struct gb_schema_field *gb_schema_field_by_number(const gb_schema_type *t,
						       uint32_t number);
/* The field of `t` called name[0..len) (declared or JSON name), or NULL. */
const struct gb_schema_field *gb_schema_field_by_name(const gb_schema_type *t,
						     const char *name,
						     size_t len);
/* The value of `e` numbered `number` (the first declared, for aliases),
 * or NULL. */
const struct gb_schema_enum_value *gb_schema_enum_by_number(
	const struct gb_schema_enum *e, int32_t number);
/* The value of `e` called `name`, or NULL. */
const struct gb_schema_enum_value *gb_schema_enum_by_name(
	const struct gb_schema_enum *e, const char *name);

/* "int64", "string", "message govbus.examples.Address"... for errors. */
const char *gb_schema_kind_name(enum gb_schema_kind kind);
/* The wire type a value of `kind` uses when not packed. */
int gb_schema_kind_wire(enum gb_schema_kind kind);
/* True for the numeric kinds a repeated field may pack. */
bool gb_schema_kind_packable(enum gb_schema_kind kind);

#endif
