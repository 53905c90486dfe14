/* Record framing for govbus-agent input and output; see gb_format.h.
 *
 * Trust: input files and pipes are untrusted. Every length is bounded
 * before a byte of the record is buffered, a varint prefix is read with a
 * 10-byte bound, and every error names where in the input it happened.
 * Output strings come from the network (record ids) and are escaped. */
#include "gb_format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "gb_codec.h"
#include "gb_error.h"

#define READ_CHUNK (1u << 20)

int gb_format_from_name(const char *name, gb_format *out)
{
	if (!strcmp(name, "lines"))
		*out = GB_FORMAT_LINES;
	else if (!strcmp(name, "delimited"))
		*out = GB_FORMAT_DELIMITED;
	else if (!strcmp(name, "json"))
		*out = GB_FORMAT_JSON;
	else
		return GB_EINVAL;
	return 0;
}

/* ---------------------------------------------------------------- reader */

struct gb_reader {
	int fd;
	gb_format fmt;
	size_t max_record;
	size_t limit;                 /* largest buffer ever needed */
	uint8_t *buf;
	size_t cap, start, end;
	size_t scanned;               /* bytes after start known to hold no '\n' */
	bool eof;
	uint64_t records;
	uint64_t offset;              /* input offset of buf[start] */
};

int gb_reader_new(int fd, gb_format fmt, size_t max_record, gb_reader **out)
{
	gb_reader *r;

	*out = NULL;
	if (fmt != GB_FORMAT_LINES && fmt != GB_FORMAT_DELIMITED)
		return GB_EINVAL;
	r = calloc(1, sizeof *r);
	if (!r)
		return GB_ENOMEM;
	r->fd = fd;
	r->fmt = fmt;
	r->max_record = max_record ? max_record : GB_MAX_RECORD_BYTES;
	/* a whole record plus its prefix or newline, plus one byte so an
	 * over-long line shows as such before the buffer is full */
	r->limit = r->max_record + GB_VARINT_MAX_BYTES + 1;
	r->cap = r->limit < READ_CHUNK ? r->limit : READ_CHUNK;
	r->buf = malloc(r->cap);
	if (!r->buf) {
		free(r);
		return GB_ENOMEM;
	}
	*out = r;
	return 0;
}

void gb_reader_destroy(gb_reader **r)
{
	if (!r || !*r)
		return;
	free((*r)->buf);
	free(*r);
	*r = NULL;
}

uint64_t gb_reader_records(const gb_reader *r)
{
	return r->records;
}

/* Read more input after the unfinished record at buf[start..end). */
static int reader_fill(gb_reader *r, char *why, size_t why_len)
{
	ssize_t n;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		size_t cap = r->cap * 2 < r->limit ? r->cap * 2 : r->limit;
		uint8_t *nb;
		if (cap <= r->cap) /* cannot happen: callers check sizes first */
			return gb_why(why, why_len, GB_ETOOBIG,
					   "record larger than its limit");
		nb = realloc(r->buf, cap);
		if (!nb)
			return gb_why(why, why_len, GB_ENOMEM,
					   "out of memory");
		r->buf = nb;
		r->cap = cap;
	}
	do
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return gb_why(why, why_len, GB_EIO, "read failed: %s",
				   strerror(errno));
	if (n == 0)
		r->eof = true;
	r->end += (size_t)n;
	return 0;
}

static void take(gb_reader *r, size_t skip, size_t len, const uint8_t **rec,
		 size_t *out_len, size_t after)
{
	*rec = r->buf + r->start + skip;
	*out_len = len;
	r->start += skip + len + after;
	r->offset += skip + len + after;
	r->scanned = 0;
	r->records++;
}

static int next_line(gb_reader *r, const uint8_t **rec, size_t *len,
		     char *why, size_t why_len)
{
	for (;;) {
		size_t avail = r->end - r->start;
		const uint8_t *nl = memchr(r->buf + r->start + r->scanned, '\n',
					   avail - r->scanned);
		int rc;

		if (nl) {
			size_t n = (size_t)(nl - (r->buf + r->start));
			if (n > r->max_record)
				break;
			take(r, 0, n, rec, len, 1);
			return 1;
		}
		r->scanned = avail;
		if (avail > r->max_record)
			break;
		if (r->eof) {
			if (avail == 0)
				return 0;
			take(r, 0, avail, rec, len, 0); /* last line, no '\n' */
			return 1;
		}
		rc = reader_fill(r, why, why_len);
		if (rc != 0)
			return rc;
	}
	return gb_why(why, why_len, GB_ETOOBIG,
			   "line %" PRIu64 " is longer than the record limit "
			   "of %zu bytes",
			   r->records + 1, r->max_record);
}

static int next_delimited(gb_reader *r, const uint8_t **rec, size_t *len,
			  char *why, size_t why_len)
{
	for (;;) {
		size_t avail = r->end - r->start;
		uint64_t v = 0;
		int n = gb_varint_get(r->buf + r->start, avail, &v), rc;

		if (n < 0)
			return gb_why(why, why_len, GB_EDECODE,
					   "record %" PRIu64 " at byte %" PRIu64
					   ": the length prefix is not a valid "
					   "varint",
					   r->records + 1, r->offset);
		if (n > 0) {
			if (v > r->max_record)
				return gb_why(
					why, why_len, GB_ETOOBIG,
					"record %" PRIu64 " at byte %" PRIu64
					": length %" PRIu64 " exceeds the record "
					"limit of %zu bytes",
					r->records + 1, r->offset, v,
					r->max_record);
			if (avail - (size_t)n >= v) {
				take(r, (size_t)n, (size_t)v, rec, len, 0);
				return 1;
			}
			if (r->eof)
				return gb_why(
					why, why_len, GB_EDECODE,
					"record %" PRIu64 " at byte %" PRIu64
					": input ends inside the record (%"
					PRIu64 " bytes announced, %zu present)",
					r->records + 1, r->offset, v,
					avail - (size_t)n);
		} else if (r->eof) {
			if (avail == 0)
				return 0;
			return gb_why(why, why_len, GB_EDECODE,
					   "record %" PRIu64 " at byte %" PRIu64
					   ": input ends inside the length "
					   "prefix",
					   r->records + 1, r->offset);
		}
		rc = reader_fill(r, why, why_len);
		if (rc != 0)
			return rc;
	}
}

int gb_reader_next(gb_reader *r, const uint8_t **rec, size_t *len, char *why,
		   size_t why_len)
{
	if (r->fmt == GB_FORMAT_LINES)
		return next_line(r, rec, len, why, why_len);
	return next_delimited(r, rec, len, why, why_len);
}

/* ---------------------------------------------------------------- writer */

struct gb_writer {
	FILE *out;
	gb_format fmt;
	char *b64;
	size_t b64_cap;
	const gb_schema_type *type;   /* NULL: no schema */
	char error[640];
};

void gb_writer_set_schema(gb_writer *w, const gb_schema_type *type)
{
	w->type = type;
}

const char *gb_writer_error(const gb_writer *w)
{
	return w->error;
}

/* The record as one line of proto3 JSON. */
static int put_record_json(gb_writer *w, const gb_record *rec)
{
	char why[512], *json = NULL;
	size_t len = 0;
	int rc = gb_schema_to_json(w->type, rec->payload, rec->len, &json, &len,
				   why, sizeof why);

	if (rc == GB_EDECODE)
		snprintf(w->error, sizeof w->error, "the record at offset %"
			 PRIu64 " of %s is not a valid %s: %s",
			 rec->offset, rec->dataset, gb_schema_type_name(w->type),
			 why);
	if (rc != 0)
		return rc;
	fwrite(json, 1, len, w->out);
	putc('\n', w->out);
	free(json);
	return 0;
}

int gb_writer_new(FILE *out, gb_format fmt, gb_writer **w)
{
	*w = calloc(1, sizeof **w);
	if (!*w)
		return GB_ENOMEM;
	(*w)->out = out;
	(*w)->fmt = fmt;
	return 0;
}

void gb_writer_destroy(gb_writer **w)
{
	if (!w || !*w)
		return;
	free((*w)->b64);
	free(*w);
	*w = NULL;
}

void gb_json_string(FILE *out, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;

	putc('"', out);
	for (size_t i = 0; i < len;) {
		unsigned char ch = s[i];
		size_t n;

		switch (ch) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (ch < 0x20 || ch == 0x7f) {
				fprintf(out, "\\u%04x", ch);
				break;
			}
			n = gb_utf8_seq(s + i, len - i);
			if (n == 0) {
				fputs("\\ufffd", out);
				break;
			}
			fwrite(s + i, 1, n, out);
			i += n;
			continue;
		}
		i++;
	}
	putc('"', out);
}

static int put_json(gb_writer *w, const gb_record *rec)
{
	size_t need = sodium_base64_ENCODED_LEN(rec->len,
						sodium_base64_VARIANT_ORIGINAL);

	if (need > w->b64_cap) {
		char *nb = realloc(w->b64, need);
		if (!nb)
			return GB_ENOMEM;
		w->b64 = nb;
		w->b64_cap = need;
	}
	sodium_bin2base64(w->b64, need, rec->payload ? rec->payload
						     : (const uint8_t *)"",
			  rec->len, sodium_base64_VARIANT_ORIGINAL);
	fputs("{\"dataset\":", w->out);
	gb_json_string(w->out, rec->dataset, strlen(rec->dataset));
	fprintf(w->out, ",\"offset\":%" PRIu64 ",\"producer\":", rec->offset);
	gb_json_string(w->out, rec->producer, strlen(rec->producer));
	/* 64-bit times as strings: JSON numbers lose precision past 2^53. */
	fprintf(w->out,
		",\"produced_at_ns\":\"%" PRIu64 "\",\"broker_time_ns\":\"%"
		PRIu64 "\",\"id\":",
		rec->produced_at_ns, rec->broker_time_ns);
	gb_json_string(w->out, rec->id ? rec->id : "",
		       rec->id ? strlen(rec->id) : 0);
	fprintf(w->out, ",\"payload_base64\":\"%s\"}\n", w->b64);
	return 0;
}

int gb_writer_put(gb_writer *w, const gb_record *rec)
{
	uint8_t prefix[GB_VARINT_MAX_BYTES];
	int rc = 0;

	switch (w->fmt) {
	case GB_FORMAT_LINES:
		if (rec->len)
			fwrite(rec->payload, 1, rec->len, w->out);
		putc('\n', w->out);
		break;
	case GB_FORMAT_DELIMITED:
		fwrite(prefix, 1, gb_varint_put(rec->len, prefix), w->out);
		if (rec->len)
			fwrite(rec->payload, 1, rec->len, w->out);
		break;
	case GB_FORMAT_JSON:
		rc = w->type ? put_record_json(w, rec) : put_json(w, rec);
		break;
	}
	if (rc == 0 && ferror(w->out))
		rc = GB_EIO;
	return rc;
}
