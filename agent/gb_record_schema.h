/* The schema a dataset's records follow, as this agent knows it, and the
 * checked record input of `govbus-agent publish` (DESIGN §4).
 *
 * Where a schema comes from, first match:
 *   1. the agent config's `schemas: { DATASET: { type, descriptor_set } }`
 *      — offline, and pinned: a broker cannot substitute another schema;
 *   2. the broker's catalog: the dataset's entry names the message type
 *      (CatalogEntry.schema) and the catalog carries the descriptor sets
 *      of the registry (Catalog.descriptor_sets).
 * A dataset neither names has no schema: its records are opaque bytes.
 *
 * With a schema, every input record is checked before the publisher gets
 * it, so before anything is sealed: `json` lines are converted to protobuf
 * (gb_schema_from_json), `lines` and `delimited` records must be valid
 * messages of the type (gb_schema_validate). A refusal names the record's
 * place and the field: "line 17: capital_cents: expected int64 (varint),
 * found length-delimited".
 *
 * Trust: the catalog comes from the broker; its descriptor sets go through
 * gb_schema_load's checks like any other untrusted set. Input records are
 * untrusted and framed by gb_format with its limits. */
#ifndef GB_RECORD_SCHEMA_H
#define GB_RECORD_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "gb_format.h"
#include "gb_schema.h"
#include "govbus.h"

typedef struct gb_record_schema gb_record_schema;

/* Find the schema of `dataset` (see above); asks the broker for its
 * catalog unless the agent config names one.
 * @param out  receives the schema, or NULL when the dataset has none
 * @return 0; the broker's refusal of the catalog request; GB_EPROTO when
 *         the catalog names a type its descriptor sets do not define or
 *         the sets do not load; GB_ETIMEOUT; GB_ENOMEM. The sentence is
 *         in gb_client_last_error(). */
int gb_record_schema_find(gb_client *c, const char *dataset,
			  gb_record_schema **out);

/* The dataset's message type. */
const gb_schema_type *gb_record_schema_type(const gb_record_schema *rs);

/* "the agent config" or "the broker's catalog". */
const char *gb_record_schema_origin(const gb_record_schema *rs);

/* Free; accepts NULL and sets *rs to NULL. */
void gb_record_schema_destroy(gb_record_schema **rs);

typedef struct gb_record_input gb_record_input;

/* Records in `fmt` from `fd` (json: one JSON object per line), checked
 * against `type` when it is not NULL (json needs a type).
 * @return 0, GB_EINVAL (json without a type) or GB_ENOMEM. */
int gb_record_input_new(int fd, gb_format fmt, const gb_schema_type *type,
			gb_record_input **out);

/* The next record, as protobuf bytes when there is a type; valid until
 * the next call. Returns 1 with a record, 0 at the end of the input, or a
 * negative GB_E... code with a sentence in `why` naming the record ("line
 * 17: ..." or "record 17: ...") and, for a schema refusal, the field. */
int gb_record_input_next(gb_record_input *in, const uint8_t **rec,
			 size_t *len, char *why, size_t why_len);

/* Records returned so far. */
uint64_t gb_record_input_records(const gb_record_input *in);

/* Free; accepts NULL and sets *in to NULL. */
void gb_record_input_destroy(gb_record_input **in);

/* When `fd` is a regular file, read all of it once checking every record
 * against `type`, then go back to where it was: a file with a bad record
 * is refused before anything is published.
 * @return 0 (every record good), 1 (not a regular file: records are
 *         checked as they are read), or the first record's error with its
 *         sentence in `why` (as gb_record_input_next). */
int gb_record_input_check_all(int fd, gb_format fmt,
			      const gb_schema_type *type, char *why,
			      size_t why_len);

#endif
