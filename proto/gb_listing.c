/* govbus listings: tables on a terminal, JSON lines in a pipe; see
 * gb_listing.h.
 *
 * Trust: values are untrusted text (from the network or a data file) and
 * are made safe before they are written: valid UTF-8 without control
 * characters is kept, anything else is reduced to printable ASCII. */
#include "gb_listing.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gb_codec.h"
#include "gb_error.h"

#define NS_PER_SEC 1000000000ull
#define CUT_MARK "..."

struct gb_listing {
	FILE *out;
	bool table;
	const gb_column *cols;
	size_t ncols;
	char **cells;              /* table: rows x ncols safe, cut copies */
	size_t rows, cap;
	bool failed;               /* a write failed */
};

bool gb_listing_is_terminal(FILE *out)
{
	return isatty(fileno(out)) == 1;
}

int gb_listing_new(FILE *out, bool table, const gb_column *cols, size_t n,
		   gb_listing **listing)
{
	gb_listing *l = calloc(1, sizeof *l);

	*listing = NULL;
	if (!l)
		return GB_ENOMEM;
	l->out = out;
	l->table = table;
	l->cols = cols;
	l->ncols = n;
	*listing = l;
	return 0;
}

void gb_listing_destroy(gb_listing **lp)
{
	gb_listing *l;

	if (!lp || !*lp)
		return;
	l = *lp;
	for (size_t i = 0; i < l->rows * l->ncols; i++)
		free(l->cells[i]);
	free(l->cells);
	free(l);
	*lp = NULL;
}

/* True for the first byte of a UTF-8 character (what a column counts). */
static bool starts_char(unsigned char c)
{
	return (c & 0xc0) != 0x80;
}

/* A copy of `v` that is safe to print: itself when it is UTF-8 without
 * control characters, else with every byte outside printable ASCII as
 * '?'. With `max` > 0, cut to that many characters (ending in "..."). */
static char *safe_copy(const char *v, size_t max)
{
	size_t len = strlen(v), chars = 0, keep = 0;
	bool clean = gb_text_problem(v, len) == NULL;
	char *s = malloc(len + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		s[i] = clean || (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	s[len] = '\0';
	if (max == 0)
		return s;
	for (size_t i = 0; i < len; i++)
		chars += clean ? starts_char((unsigned char)s[i]) : 1;
	if (chars <= max)
		return s;
	/* Keep max - 3 characters, then the mark. */
	chars = 0;
	for (keep = 0; keep < len; keep++) {
		if (!clean || starts_char((unsigned char)s[keep]))
			chars++;
		if (chars > max - strlen(CUT_MARK))
			break;
	}
	strcpy(s + keep, CUT_MARK); /* keep + 3 <= len: the text was longer */
	return s;
}

/* Characters in a safe copy. */
static size_t width_of(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += starts_char((unsigned char)*s);
	return w;
}

static void json_string(FILE *out, const char *safe)
{
	putc('"', out);
	for (const char *p = safe; *p; p++) {
		if (*p == '"' || *p == '\\')
			putc('\\', out);
		putc(*p, out);
	}
	putc('"', out);
}

static bool is_number(const char *s)
{
	return s[0] && strspn(s, "0123456789") == strlen(s);
}

static void json_value(FILE *out, gb_column_kind kind, const char *safe)
{
	if (kind == GB_COLUMN_NUMBER) {
		if (is_number(safe))
			fputs(safe, out);
		else if (!safe[0])
			fputs("null", out);
		else
			json_string(out, safe);
		return;
	}
	if (kind != GB_COLUMN_LIST) {
		json_string(out, safe);
		return;
	}
	putc('[', out);
	for (const char *p = safe; *p;) {
		size_t n = strcspn(p, ",");

		if (p != safe)
			putc(',', out);
		putc('"', out);
		for (size_t i = 0; i < n; i++) {
			if (p[i] == '"' || p[i] == '\\')
				putc('\\', out);
			putc(p[i], out);
		}
		putc('"', out);
		p += n;
		if (*p == ',')
			p++;
	}
	putc(']', out);
}

static int json_row(gb_listing *l, const char *const *values)
{
	putc('{', l->out);
	for (size_t i = 0; i < l->ncols; i++) {
		char *safe = safe_copy(values[i] ? values[i] : "", 0);

		if (!safe)
			return GB_ENOMEM;
		fprintf(l->out, "%s\"%s\":", i ? "," : "", l->cols[i].key);
		json_value(l->out, l->cols[i].kind, safe);
		free(safe);
	}
	putc('}', l->out);
	if (putc('\n', l->out) == EOF || ferror(l->out)) {
		l->failed = true;
		return GB_EIO;
	}
	return 0;
}

int gb_listing_row(gb_listing *l, const char *const *values)
{
	char **row;

	if (!l->table)
		return json_row(l, values);
	if (l->rows == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **grown = realloc(l->cells, cap * l->ncols * sizeof *grown);

		if (!grown)
			return GB_ENOMEM;
		l->cells = grown;
		l->cap = cap;
	}
	row = &l->cells[l->rows * l->ncols];
	for (size_t i = 0; i < l->ncols; i++) {
		const char *v = values[i] && values[i][0] ? values[i] : "-";

		row[i] = l->cols[i].heading ? safe_copy(v, GB_LISTING_CELL_MAX)
					    : NULL;
		if (l->cols[i].heading && !row[i]) {
			for (size_t k = 0; k < i; k++)
				free(row[k]);
			return GB_ENOMEM;
		}
	}
	l->rows++;
	return 0;
}

/* One table line: cells padded to their column's width, the last one not. */
static void table_line(gb_listing *l, const char *const *cells,
		       const size_t *width)
{
	size_t last = 0;

	for (size_t i = 0; i < l->ncols; i++)
		if (l->cols[i].heading)
			last = i;
	for (size_t i = 0; i < l->ncols; i++) {
		if (!l->cols[i].heading)
			continue;
		fputs(cells[i], l->out);
		if (i == last)
			break;
		for (size_t w = width_of(cells[i]); w < width[i] + 2; w++)
			putc(' ', l->out);
	}
	putc('\n', l->out);
}

int gb_listing_finish(gb_listing *l)
{
	size_t *width;

	if (l->table) {
		width = calloc(l->ncols ? l->ncols : 1, sizeof *width);
		if (!width)
			return GB_ENOMEM;
		for (size_t i = 0; i < l->ncols; i++) {
			if (!l->cols[i].heading)
				continue;
			width[i] = width_of(l->cols[i].heading);
			for (size_t r = 0; r < l->rows; r++) {
				size_t w = width_of(l->cells[r * l->ncols + i]);

				if (w > width[i])
					width[i] = w;
			}
		}
		{
			const char **heads = calloc(l->ncols, sizeof *heads);

			if (!heads) {
				free(width);
				return GB_ENOMEM;
			}
			for (size_t i = 0; i < l->ncols; i++)
				heads[i] = l->cols[i].heading;
			table_line(l, heads, width);
			free(heads);
		}
		for (size_t r = 0; r < l->rows; r++)
			table_line(l, (const char *const *)&l->cells[r * l->ncols],
				   width);
		free(width);
	}
	if (fflush(l->out) != 0 || ferror(l->out))
		l->failed = true;
	return l->failed ? GB_EIO : 0;
}

void gb_listing_time(uint64_t ns, char out[GB_TIME_TEXT])
{
	time_t secs = (time_t)(ns / NS_PER_SEC);
	struct tm tm;

	out[0] = '\0';
	if (ns == 0 || !gmtime_r(&secs, &tm))
		return;
	strftime(out, GB_TIME_TEXT, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *gb_listing_join(char *const *items, size_t n, char *buf,
			    size_t size)
{
	size_t used = 0;

	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++) {
		int w = snprintf(buf + used, size - used, "%s%s", i ? "," : "",
				 items[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
	return buf;
}

/* ---------------------------------------------------------------- rows */

const gb_column gb_request_columns[] = {
	{"id", "ID", GB_COLUMN_NUMBER},
	{"dept", "DEPT", GB_COLUMN_TEXT},
	{"dataset", "DATASET", GB_COLUMN_TEXT},
	{"rights", "RIGHTS", GB_COLUMN_LIST},
	{"status", "STATUS", GB_COLUMN_TEXT},
	{"created", "CREATED", GB_COLUMN_TEXT},
	{"decided", NULL, GB_COLUMN_TEXT},
	{"reason", "REASON", GB_COLUMN_TEXT},
	{"purpose", "PURPOSE", GB_COLUMN_TEXT},
	{"legal_basis", NULL, GB_COLUMN_TEXT},
};
const size_t gb_request_column_count =
	sizeof gb_request_columns / sizeof gb_request_columns[0];

int gb_listing_request(gb_listing *l, const Govbus__V1__AccessRequestInfo *info)
{
	char id[24], rights[64], created[GB_TIME_TEXT], decided[GB_TIME_TEXT];
	const char *values[sizeof gb_request_columns /
			   sizeof gb_request_columns[0]];
	size_t k = 0;

	snprintf(id, sizeof id, "%llu", (unsigned long long)info->id);
	gb_listing_join(info->rights, info->n_rights, rights, sizeof rights);
	gb_listing_time(info->created_ns, created);
	gb_listing_time(info->decided_ns, decided);
	values[k++] = id;
	values[k++] = info->dept;
	values[k++] = info->dataset;
	values[k++] = rights;
	values[k++] = info->status;
	values[k++] = created;
	values[k++] = decided;
	values[k++] = info->reason;
	values[k++] = info->purpose;
	values[k++] = info->legal_basis;
	return gb_listing_row(l, values);
}
