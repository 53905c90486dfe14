/* govbus schemas: protobuf message types loaded from serialized
 * google.protobuf.FileDescriptorSet files (protoc --descriptor_set_out
 * --include_imports), used to check records against their dataset's type
 * and to convert records between protobuf and JSON (DESIGN §4).
 *
 * A gb_schema holds every file of one or more descriptor sets, linked: each
 * message type can be found by its full name ("govbus.examples.Address"),
 * with nested types, enums, imports across the files of all sets, and maps
 * (as their map-entry messages). A loaded schema never changes and may be
 * read from several threads.
 *
 * Trust: descriptor sets come from config files and, in agents, from the
 * broker's catalog; both are untrusted. A set is bounded in size, its
 * nesting and element count are checked on the wire before protobuf-c
 * unpacks it, and every name, number, label, type and reference is
 * validated before a schema exists. Records are untrusted too: the walker
 * reads them with bounded varints, bounded lengths and a depth limit.
 *
 * Strictness: a record must not only parse, it must match its type. Unknown
 * field numbers, a wire type that differs from the declared type, varints
 * out of the declared range, undeclared enum numbers, strings that are not
 * UTF-8, two members of one oneof and missing proto2 `required` fields are
 * all refused, with the field path: `address.city: expected string
 * (length-delimited), found varint`. Groups and editions are not supported.
 *
 * JSON follows the proto3 JSON mapping: lowerCamelCase json_name on output
 * (either name accepted on input), 64-bit integers as strings (numbers
 * accepted), bytes as base64, enums by name (numbers accepted), NaN and
 * Infinity as strings, maps as objects, null as "not set". Well-known types
 * get no special treatment. JSON text is parsed and printed by jansson. */
#ifndef GB_SCHEMA_H
#define GB_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#define GB_SCHEMA_MAX_SET_BYTES (4u << 20)  /* one serialized descriptor set */
#define GB_SCHEMA_MAX_SETS 64               /* sets in one schema */
#define GB_SCHEMA_MAX_DEPTH 64              /* nested messages in a record */
#define GB_SCHEMA_MAX_NAME 512              /* a full type name */

typedef struct gb_schema gb_schema;
/* A message type inside a schema; valid as long as its schema. */
typedef struct gb_schema_type gb_schema_type;

/* One serialized FileDescriptorSet; `name` (a file path, "catalog set 2"...)
 * only labels errors. */
typedef struct gb_schema_set {
	const char *name;
	const uint8_t *data;
	size_t len;
} gb_schema_set;

/* Read a descriptor set file: a regular file of at most
 * GB_SCHEMA_MAX_SET_BYTES. *data is malloc'd (free it).
 * @return 0, GB_EIO (missing, unreadable, not a regular file, changed while
 *         read), GB_ETOOBIG or GB_ENOMEM, with a sentence in `why`. */
int gb_schema_read_file(const char *path, uint8_t **data, size_t *len,
			char *why, size_t why_len);

/* Load and link `n` descriptor sets (1..GB_SCHEMA_MAX_SETS) into a new
 * schema. A file present in several sets (a shared import) must be the
 * same in each. The bytes are copied; the sets may be freed afterwards.
 * @return 0; GB_EDECODE (not a descriptor set), GB_EINVAL (a descriptor
 *         fails validation or a reference does not resolve), GB_ETOOBIG,
 *         GB_ENOMEM; `why` names the set, file, type and field. */
int gb_schema_load(const gb_schema_set *sets, size_t n, gb_schema **out,
		   char *why, size_t why_len);

/* Free a schema; accepts NULL and sets *s to NULL. */
void gb_schema_destroy(gb_schema **s);

/* The message type with this full name (no leading dot), or NULL. */
const gb_schema_type *gb_schema_find(const gb_schema *s, const char *name);

/* Its full name, e.g. "govbus.examples.BusinessRegistration". */
const char *gb_schema_type_name(const gb_schema_type *t);

/* Check that rec[0..len) is a valid serialized message of type `t` (see
 * Strictness above).
 * @return 0, or GB_EDECODE with "path: problem" in `why`. */
int gb_schema_validate(const gb_schema_type *t, const uint8_t *rec,
		       size_t len, char *why, size_t why_len);

/* Convert one JSON object (json[0..len), no NUL needed) to a serialized
 * message of type `t`, fields in number order, implicit-presence fields
 * left out when they hold their default. *out is malloc'd.
 * @return 0; GB_EINVAL with "path: problem" in `why` (not JSON, not an
 *         object, unknown field, wrong value type, out of range, bad enum
 *         name or base64, missing required field); GB_ETOOBIG; GB_ENOMEM. */
int gb_schema_from_json(const gb_schema_type *t, const char *json, size_t len,
			uint8_t **out, size_t *out_len, char *why,
			size_t why_len);

/* Convert a serialized message of type `t` to one line of compact JSON
 * (no newline; NUL-terminated, *out_len excludes the NUL). The record is
 * validated on the way (same errors as gb_schema_validate). *out is
 * malloc'd.
 * @return 0, GB_EDECODE with "path: problem" in `why`, or GB_ENOMEM. */
int gb_schema_to_json(const gb_schema_type *t, const uint8_t *rec, size_t len,
		      char **out, size_t *out_len, char *why, size_t why_len);

#endif
