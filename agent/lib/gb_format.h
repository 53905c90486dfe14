/* Record framing for govbus-agent input and output (DESIGN §10).
 *
 *   lines      one record per line. The '\n' is stripped; a last line
 *              without '\n' is still a record; an empty line is an empty
 *              record (nothing is skipped); '\r' is kept as data, so CRLF
 *              input gives records ending in '\r'. On output each payload
 *              is followed by '\n' (a payload holding '\n' is therefore
 *              ambiguous in this format: use delimited).
 *   delimited  a stream of varint-length-prefixed messages, the framing of
 *              protobuf's writeDelimitedTo / parseDelimitedFrom. The prefix
 *              is at most 10 bytes and at most GB_MAX_RECORD_BYTES.
 *   json       one JSON object per record and line. Output without a
 *              schema: the record's metadata and payload_base64. With a
 *              schema (gb_writer_set_schema): the record itself in the
 *              proto3 JSON mapping, the form `publish --format json`
 *              reads (gb_record_schema.h converts that input).
 *
 * The varint prefix is read and written by gb_wire (proto/), the project's
 * one varint reader; the records themselves are framed by protobuf-c
 * (gb_envelope_append_record). */
#ifndef GB_FORMAT_H
#define GB_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gb_schema.h"
#include "gb_wire.h"
#include "govbus.h"

typedef enum gb_format {
	GB_FORMAT_LINES = 0,
	GB_FORMAT_DELIMITED = 1,
	GB_FORMAT_JSON = 2,
} gb_format;

/* "lines", "delimited" or "json". Returns 0 or GB_EINVAL. */
int gb_format_from_name(const char *name, gb_format *out);

typedef struct gb_reader gb_reader;

/* Read records in `fmt` (lines or delimited) from `fd`, in large reads.
 * `max_record` bounds one record (0: GB_MAX_RECORD_BYTES).
 * Returns 0, GB_EINVAL (json is not an input format) or GB_ENOMEM. */
int gb_reader_new(int fd, gb_format fmt, size_t max_record, gb_reader **out);

/* Next record; *rec points into the reader's buffer and stays valid until
 * the next call. Returns 1 with a record, 0 at the end of input, or
 * GB_ETOOBIG / GB_EDECODE / GB_EIO with a sentence in `why` naming the line
 * (lines) or the record and byte offset (delimited). */
int gb_reader_next(gb_reader *r, const uint8_t **rec, size_t *len, char *why,
		   size_t why_len);

/* Records returned so far. */
uint64_t gb_reader_records(const gb_reader *r);

void gb_reader_destroy(gb_reader **r);

typedef struct gb_writer gb_writer;

/* Write records in `fmt` to `out` (borrowed). Returns 0 or GB_ENOMEM. */
int gb_writer_new(FILE *out, gb_format fmt, gb_writer **w);

/* Json output writes each record converted from this message type
 * (borrowed; NULL: metadata and base64 payload again). */
void gb_writer_set_schema(gb_writer *w, const gb_schema_type *type);

/* Write one record. Returns 0, GB_EIO (write failed), GB_ENOMEM, or
 * GB_EDECODE when the record does not match the schema (see
 * gb_writer_error). */
int gb_writer_put(gb_writer *w, const gb_record *rec);

/* The sentence for the last GB_EDECODE of gb_writer_put ("" if none). */
const char *gb_writer_error(const gb_writer *w);

void gb_writer_destroy(gb_writer **w);

/* Write `s` (len bytes) as a JSON string with quotes; invalid UTF-8 bytes
 * become U+FFFD, control characters are escaped. */
void gb_json_string(FILE *out, const char *s, size_t len);

#endif
