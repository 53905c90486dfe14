/* govbus listings: what the list-printing commands write.
 *
 * `govbus-agent catalog`, `request`, `requests` and `govbus-broker
 * registry`, `requests` print rows of named fields. On a terminal a
 * listing is a table with a heading line and aligned columns (long cells
 * cut to GB_LISTING_CELL_MAX characters, some fields left out); in a pipe
 * it is JSON lines: one compact object per row, every field, in column
 * order, so scripts can read it with a JSON parser or even grep
 * ("\"id\":\"tax.invoices\"").
 *
 * Trust: values may come from the network or a data file. Text is written
 * as given only when it is UTF-8 without control characters
 * (gb_text_problem); otherwise every byte outside printable ASCII becomes
 * '?', so no value can drive the terminal or break a JSON line. */
#ifndef GB_LISTING_H
#define GB_LISTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "govbus.pb-c.h"

#define GB_LISTING_CELL_MAX 48     /* characters of a table cell */
#define GB_TIME_TEXT 21            /* "YYYY-MM-DDTHH:MM:SSZ" and NUL */

typedef enum gb_column_kind {
	GB_COLUMN_TEXT = 0,        /* a JSON string */
	GB_COLUMN_NUMBER = 1,      /* decimal digits: a JSON number; "" is null */
	GB_COLUMN_LIST = 2,        /* "a,b,c": a JSON array of strings */
} gb_column_kind;

typedef struct gb_column {
	const char *key;           /* JSON key */
	const char *heading;       /* table heading; NULL: JSON only */
	gb_column_kind kind;
} gb_column;

typedef struct gb_listing gb_listing;

/* True when listings to `out` should be tables: it is a terminal. */
bool gb_listing_is_terminal(FILE *out);

/* Start a listing of rows with the `n` columns `cols` (borrowed; they must
 * outlive the listing) to `out`: a table when `table`, else JSON lines.
 * Returns 0 or GB_ENOMEM. */
int gb_listing_new(FILE *out, bool table, const gb_column *cols, size_t n,
		   gb_listing **listing);

/* Add one row: values[i] is column i's value (NULL is ""). JSON lines are
 * written at once; a table keeps a copy until gb_listing_finish.
 * Returns 0, GB_ENOMEM or GB_EIO (writing failed). */
int gb_listing_row(gb_listing *l, const char *const *values);

/* Write the table (heading and rows; nothing for JSON lines) and flush.
 * Returns 0 or GB_EIO when anything failed to be written. */
int gb_listing_finish(gb_listing *l);

/* Free; accepts NULL and sets *l to NULL. */
void gb_listing_destroy(gb_listing **l);

/* `ns` since the epoch as "YYYY-MM-DDTHH:MM:SSZ" (UTC, seconds), or ""
 * for 0. */
void gb_listing_time(uint64_t ns, char out[GB_TIME_TEXT]);

/* Join `n` strings with ',' into buf (cut to `size`); returns buf. */
const char *gb_listing_join(char *const *items, size_t n, char *buf,
			    size_t size);

/* ---------------------------------------------------------------- rows
 * Listings more than one command prints. */

/* An access request (AccessRequestInfo): `govbus-agent request`,
 * `requests` and `govbus-broker requests`. */
extern const gb_column gb_request_columns[];
extern const size_t gb_request_column_count;
int gb_listing_request(gb_listing *l, const Govbus__V1__AccessRequestInfo *info);

#endif
