/* govbus YAML walker: one hand-edited YAML file into checked values.
 *
 * Trust: a config file is edited by hand, so it is treated as untrusted
 * input — it may be truncated, mistyped or crafted. It is bounded (a
 * regular file of at most the caller's limit) and parsed by libyaml, never
 * by hand; anchors and aliases are refused before a document is built
 * (they are the "billion laughs" vector and these formats have no use for
 * them). Every value is then checked where it is taken — ids, UTF-8 text
 * without control characters, numbers, dates, paths — and each error
 * carries file:line:col from libyaml's marks and names the field. Values
 * are quoted in messages made printable and cut short. This file never
 * reads the clock. */
#include "gb_yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gb_codec.h"
#include "gb_error.h"

#define NS_PER_SEC INT64_C(1000000000)

struct gb_yaml {
	char *name;                   /* the file, NULL when unnamed */
	gb_yaml_error *err;
	yaml_document_t doc;
	bool have_doc;
};

void gb_yaml_error_format(const gb_yaml_error *err, char *buf, size_t len)
{
	if (!buf || len == 0)
		return;
	if (!err) {
		snprintf(buf, len, "no error");
	} else if (err->line) {
		snprintf(buf, len, "%s:%u:%u: %s", err->file, err->line,
			 err->col, err->message);
	} else if (err->file[0]) {
		snprintf(buf, len, "%s: %s", err->file, err->message);
	} else {
		snprintf(buf, len, "%s", err->message);
	}
}

int gb_yaml_new(const char *name, gb_yaml_error *err, gb_yaml **out)
{
	gb_yaml *w;

	memset(err, 0, sizeof *err);
	if (name)
		snprintf(err->file, sizeof err->file, "%s", name);
	*out = NULL;
	w = calloc(1, sizeof *w);
	if (w && name)
		w->name = strdup(name);
	if (!w || (name && !w->name)) {
		free(w);
		snprintf(err->message, sizeof err->message, "out of memory");
		return GB_ENOMEM;
	}
	w->err = err;
	*out = w;
	return 0;
}

void gb_yaml_destroy(gb_yaml **w)
{
	if (!w || !*w)
		return;
	if ((*w)->have_doc)
		yaml_document_delete(&(*w)->doc);
	free((*w)->name);
	free(*w);
	*w = NULL;
}

/* ---------------------------------------------------------------------
 * Errors. */

__attribute__((format(printf, 5, 0)))
static int report(gb_yaml *w, int rc, unsigned line, unsigned col,
		  const char *fmt, va_list ap)
{
	w->err->line = line;
	w->err->col = col;
	vsnprintf(w->err->message, sizeof w->err->message, fmt, ap);
	return rc;
}

__attribute__((format(printf, 3, 4)))
static int fail_mark(gb_yaml *w, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = report(w, GB_ECONFIG, (unsigned)mark.line + 1,
		    (unsigned)mark.column + 1, fmt, ap);
	va_end(ap);
	return rc;
}

int gb_yaml_fail(gb_yaml *w, const yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = report(w, GB_ECONFIG, node ? (unsigned)node->start_mark.line + 1 : 1,
		    node ? (unsigned)node->start_mark.column + 1 : 1, fmt, ap);
	va_end(ap);
	return rc;
}

int gb_yaml_fail_file(gb_yaml *w, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = report(w, rc, 0, 0, fmt, ap);
	va_end(ap);
	return rc;
}

int gb_yaml_nomem(gb_yaml *w)
{
	return gb_yaml_fail_file(w, GB_ENOMEM, "out of memory");
}

const char *gb_yaml_snippet(const char *s, size_t len,
			    char out[GB_YAML_SNIPPET_SIZE])
{
	size_t max = GB_YAML_SNIPPET_SIZE - 4;
	size_t n = len < max ? len : max;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	strcpy(out + n, len > n ? "..." : "");
	return out;
}

/* "a, b or c" from a list of names. */
static const char *join_names(const char *const *names, size_t n, char *buf,
			      size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == n ? " or " : ", ");
		int wrote = snprintf(buf + used, size - used, "%s%s", sep,
				     names[i]);

		if (wrote < 0)
			break;
		used += (size_t)wrote;
	}
	return buf;
}

const char *gb_yaml_field_path(char *buf, size_t size, const char *where,
			       const char *name)
{
	snprintf(buf, size, "%s%s%s", where, where[0] ? "." : "", name);
	return buf;
}

/* ---------------------------------------------------------------------
 * The file. */

int gb_yaml_read_file(gb_yaml *w, size_t max_bytes, uint8_t **out,
		      size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t size, got = 0;
	int fd, rc;

	*out = NULL;
	*len = 0;
	if (!w->name)
		return gb_yaml_fail_file(w, GB_EINVAL, "no file name");
	/* O_NONBLOCK: opening a FIFO must not hang before fstat refuses it. */
	fd = open(w->name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return gb_yaml_fail_file(w, GB_EIO, "cannot open: %s",
					 strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = gb_yaml_fail_file(w, GB_EIO, "cannot stat: %s",
				       strerror(errno));
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = gb_yaml_fail_file(w, GB_EIO, "not a regular file");
		goto err;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > max_bytes) {
		rc = gb_yaml_fail_file(w, GB_ETOOBIG, "larger than %zu bytes",
				       max_bytes);
		goto err;
	}
	size = (size_t)st.st_size;
	/* One spare byte shows whether the file grew while being read. */
	buf = malloc(size + 1);
	if (!buf) {
		rc = gb_yaml_nomem(w);
		goto err;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = gb_yaml_fail_file(w, GB_EIO, "cannot read: %s",
					       strerror(errno));
			goto err;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > size) {
			rc = gb_yaml_fail_file(w, GB_EIO,
					       "changed while being read");
			goto err;
		}
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
err:
	free(buf);
	close(fd);
	return rc;
}

int gb_yaml_folder(gb_yaml *w, char **out)
{
	const char *name = w->name ? w->name : "";
	const char *slash = strrchr(name, '/');
	size_t n = !slash ? 0 : slash == name ? 1 : (size_t)(slash - name);

	*out = slash ? strndup(name, n) : strdup(".");
	return *out ? 0 : gb_yaml_nomem(w);
}

/* ---------------------------------------------------------------------
 * The document: screening events, then loading it. */

static int fail_parser(gb_yaml *w, const yaml_parser_t *parser,
		       const uint8_t *buf, size_t len)
{
	if (parser->error == YAML_MEMORY_ERROR)
		return gb_yaml_nomem(w);
	if (parser->error == YAML_READER_ERROR) {
		/* The reader knows a byte offset, not a mark: count lines. */
		size_t off = parser->problem_offset < len ? parser->problem_offset
							  : len;
		yaml_mark_t mark = {0, 0, 0};

		for (size_t i = 0; i < off; i++) {
			mark.column++;
			if (buf[i] == '\n') {
				mark.line++;
				mark.column = 0;
			}
		}
		return fail_mark(w, mark, "not valid YAML text: %s",
				 parser->problem ? parser->problem
						 : "unreadable");
	}
	if (parser->context)
		return fail_mark(w, parser->problem_mark, "YAML syntax: %s %s",
				 parser->problem ? parser->problem : "error",
				 parser->context);
	return fail_mark(w, parser->problem_mark, "YAML syntax: %s",
			 parser->problem ? parser->problem : "error");
}

/* Refuse anchors, aliases, a second document and deep nesting before any
 * document is built: an alias is how a small file expands into a huge
 * tree, and nothing in these formats needs one. */
static int screen_events(gb_yaml *w, const uint8_t *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t event;
	unsigned depth = 0, documents = 0;
	int rc = 0;
	bool done = false;

	if (!yaml_parser_initialize(&parser))
		return gb_yaml_nomem(w);
	yaml_parser_set_input_string(&parser, buf, len);
	while (!done && rc == 0) {
		const yaml_char_t *anchor = NULL;

		if (!yaml_parser_parse(&parser, &event)) {
			rc = fail_parser(w, &parser, buf, len);
			break;
		}
		switch (event.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++documents > 1)
				rc = fail_mark(w, event.start_mark,
					       "only one YAML document is "
					       "allowed");
			break;
		case YAML_ALIAS_EVENT:
			rc = fail_mark(w, event.start_mark,
				       "YAML aliases (*%.64s) are not allowed",
				       (const char *)event.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
			anchor = event.data.scalar.anchor;
			break;
		case YAML_SEQUENCE_START_EVENT:
			anchor = event.data.sequence_start.anchor;
			depth++;
			break;
		case YAML_MAPPING_START_EVENT:
			anchor = event.data.mapping_start.anchor;
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (rc == 0 && anchor)
			rc = fail_mark(w, event.start_mark,
				       "YAML anchors (&%.64s) are not allowed",
				       (const char *)anchor);
		if (rc == 0 && depth > GB_YAML_MAX_DEPTH)
			rc = fail_mark(w, event.start_mark,
				       "nested more than %d levels deep",
				       GB_YAML_MAX_DEPTH);
		yaml_event_delete(&event);
	}
	yaml_parser_delete(&parser);
	return rc;
}

int gb_yaml_load(gb_yaml *w, const uint8_t *bytes, size_t len)
{
	yaml_parser_t parser;
	int rc;

	if (w->have_doc)
		return gb_yaml_fail_file(w, GB_EINVAL, "loaded twice");
	rc = screen_events(w, bytes, len);
	if (rc)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return gb_yaml_nomem(w);
	yaml_parser_set_input_string(&parser, bytes, len);
	if (yaml_parser_load(&parser, &w->doc))
		w->have_doc = true;
	else
		rc = fail_parser(w, &parser, bytes, len);
	yaml_parser_delete(&parser);
	return rc;
}

const yaml_node_t *gb_yaml_root(gb_yaml *w)
{
	return w->have_doc ? yaml_document_get_root_node(&w->doc) : NULL;
}

const yaml_node_t *gb_yaml_node(gb_yaml *w, int index)
{
	return w->have_doc ? yaml_document_get_node(&w->doc, index) : NULL;
}

/* ---------------------------------------------------------------------
 * Mappings and lists. */

/* A plain "", "~" or "null": YAML's way of writing nothing. */
static bool is_null(const yaml_node_t *node)
{
	const char *v;

	if (node->type != YAML_SCALAR_NODE ||
	    node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)node->data.scalar.value;
	return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") ||
	       !strcmp(v, "Null") || !strcmp(v, "NULL");
}

int gb_yaml_map_fields(gb_yaml *w, const yaml_node_t *map, const char *where,
		       const gb_yaml_field *fields, size_t nfields,
		       const yaml_node_t **values)
{
	const char *names[GB_YAML_MAX_FIELDS];
	const char *what = where[0] ? where : "the top level";
	char known[256], shown[GB_YAML_SNIPPET_SIZE], path[96];
	bool seen[GB_YAML_MAX_FIELDS] = {false};

	if (nfields > GB_YAML_MAX_FIELDS)
		return gb_yaml_fail_file(w, GB_EINVAL, "%s: more than %d keys "
					 "to check", what, GB_YAML_MAX_FIELDS);
	for (size_t i = 0; i < nfields; i++) {
		values[i] = NULL;
		names[i] = fields[i].name;
	}
	if (map->type != YAML_MAPPING_NODE)
		return gb_yaml_fail(w, map, "%s: expected a mapping "
				    "(key: value pairs)", what);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *key = gb_yaml_node(w, p->key);
		const yaml_node_t *value = gb_yaml_node(w, p->value);
		const char *name;
		size_t i;

		if (key->type != YAML_SCALAR_NODE)
			return gb_yaml_fail(w, key,
					    "%s: keys must be plain names",
					    what);
		name = (const char *)key->data.scalar.value;
		for (i = 0; i < nfields; i++)
			if (!strcmp(name, fields[i].name))
				break;
		if (i == nfields)
			return gb_yaml_fail(w, key,
					    "%s: unknown key \"%s\" (expected "
					    "%s)", what,
					    gb_yaml_snippet(name,
							    key->data.scalar.length,
							    shown),
					    join_names(names, nfields, known,
						       sizeof known));
		if (seen[i])
			return gb_yaml_fail(w, key,
					    "%s: key \"%s\" given twice", what,
					    name);
		seen[i] = true;
		if (is_null(value)) {
			if (fields[i].required)
				return gb_yaml_fail(w, value,
						    "%s: must not be empty",
						    gb_yaml_field_path(
							    path, sizeof path,
							    where, name));
			continue;
		}
		values[i] = value;
	}
	for (size_t i = 0; i < nfields; i++)
		if (fields[i].required && !seen[i])
			return gb_yaml_fail(w, map,
					    "%s: missing required key \"%s\"",
					    what, fields[i].name);
	return 0;
}

int gb_yaml_list(gb_yaml *w, const yaml_node_t *node, const char *field,
		 size_t *count)
{
	*count = 0;
	if (!node)
		return 0;
	if (node->type != YAML_SEQUENCE_NODE)
		return gb_yaml_fail(w, node, "%s: expected a list", field);
	*count = (size_t)(node->data.sequence.items.top -
			  node->data.sequence.items.start);
	return 0;
}

const yaml_node_t *gb_yaml_list_item(gb_yaml *w, const yaml_node_t *list,
				     size_t i)
{
	return gb_yaml_node(w, list->data.sequence.items.start[i]);
}

/* ---------------------------------------------------------------------
 * Scalars. */

int gb_yaml_scalar(gb_yaml *w, const yaml_node_t *node, const char *field,
		   const char **text, size_t *len)
{
	*text = "";
	*len = 0;
	if (node->type != YAML_SCALAR_NODE)
		return gb_yaml_fail(w, node,
				    "%s: expected a single value, not a %s",
				    field,
				    node->type == YAML_SEQUENCE_NODE ? "list"
								     : "mapping");
	*text = (const char *)node->data.scalar.value;
	*len = node->data.scalar.length;
	if (strlen(*text) != *len)
		return gb_yaml_fail(w, node, "%s: contains a NUL character",
				    field);
	return 0;
}

int gb_yaml_id(gb_yaml *w, const yaml_node_t *node, const char *field,
	       const char **text)
{
	char shown[GB_YAML_SNIPPET_SIZE];
	const char *s;
	size_t len;
	int rc = gb_yaml_scalar(w, node, field, &s, &len);

	if (rc)
		return rc;
	if (!gb_id_valid(s))
		return gb_yaml_fail(w, node,
				    "%s: \"%s\" is not an id (1-%d of a-z 0-9 "
				    ". _ -, starting with a letter)",
				    field, gb_yaml_snippet(s, len, shown),
				    GB_MAX_ID_LEN);
	*text = s;
	return 0;
}

int gb_yaml_text(gb_yaml *w, const yaml_node_t *node, const char *field,
		 const char **text)
{
	const char *s, *problem;
	size_t len;
	int rc = gb_yaml_scalar(w, node, field, &s, &len);

	if (rc)
		return rc;
	if (len == 0)
		return gb_yaml_fail(w, node, "%s: must not be empty", field);
	if (len > GB_MAX_TEXT_LEN)
		return gb_yaml_fail(w, node, "%s: longer than %d bytes", field,
				    GB_MAX_TEXT_LEN);
	problem = gb_text_problem(s, len);
	if (problem)
		return gb_yaml_fail(w, node, "%s: %s", field, problem);
	*text = s;
	return 0;
}

int gb_yaml_enum(gb_yaml *w, const yaml_node_t *node, const char *field,
		 const char *const *names, size_t n, int *index)
{
	char shown[GB_YAML_SNIPPET_SIZE], list[128];
	const char *text;
	size_t len;
	int rc = gb_yaml_scalar(w, node, field, &text, &len);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(text, names[i])) {
			*index = (int)i;
			return 0;
		}
	}
	return gb_yaml_fail(w, node, "%s: \"%s\" is not %s", field,
			    gb_yaml_snippet(text, len, shown),
			    join_names(names, n, list, sizeof list));
}

/* Decimal digits only, no sign, no overflow. */
static bool parse_whole(const char *text, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(text[i] - '0');

		if (text[i] < '0' || text[i] > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

int gb_yaml_size(gb_yaml *w, const yaml_node_t *node, const char *field,
		 uint64_t *out)
{
	const char *text;
	size_t len;
	uint64_t v;
	int rc = gb_yaml_scalar(w, node, field, &text, &len);

	if (rc)
		return rc;
	if (!parse_whole(text, len, &v))
		return gb_yaml_fail(w, node, "%s: not a size in bytes (a whole "
				    "number)", field);
	*out = v;
	return 0;
}

int gb_yaml_count(gb_yaml *w, const yaml_node_t *node, const char *field,
		  uint64_t min, uint64_t max, uint64_t *out)
{
	const char *text;
	size_t len;
	uint64_t v;
	int rc = gb_yaml_scalar(w, node, field, &text, &len);

	if (rc)
		return rc;
	if (!parse_whole(text, len, &v) || v < min || v > max)
		return gb_yaml_fail(w, node, "%s: not a whole number from %"
				    PRIu64 " to %" PRIu64, field, min, max);
	*out = v;
	return 0;
}

/* ---------------------------------------------------------------------
 * Dates. */

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil, for years >= 1970). */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t yy = y - (m <= 2);
	int64_t era = yy / 400;
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* Digits s[0..n) as a number, or -1. */
static int digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* YYYY-MM-DD (UTC midnight) or YYYY-MM-DDTHH:MM:SSZ, as ns since the
 * epoch. Years run 1970..2261: an int64 of nanoseconds ends in 2262. */
static bool parse_date(const char *s, size_t len, int64_t *ns)
{
	int y, mo, d, h = 0, mi = 0, sec = 0;

	if (len != 10 && len != 20)
		return false;
	if (s[4] != '-' || s[7] != '-')
		return false;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (len == 20) {
		if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
			return false;
		h = digits(s + 11, 2);
		mi = digits(s + 14, 2);
		sec = digits(s + 17, 2);
	}
	if (y < 1970 || y > 2261 || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 59)
		return false;
	*ns = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec;
	*ns *= NS_PER_SEC;
	return true;
}

int gb_yaml_date(gb_yaml *w, const yaml_node_t *node, const char *field,
		 int64_t *ns)
{
	char shown[GB_YAML_SNIPPET_SIZE];
	const char *text;
	size_t len;
	int64_t v;
	int rc = gb_yaml_scalar(w, node, field, &text, &len);

	if (rc)
		return rc;
	if (!parse_date(text, len, &v))
		return gb_yaml_fail(w, node,
				    "%s: \"%s\" is not a date (YYYY-MM-DD or "
				    "YYYY-MM-DDTHH:MM:SSZ, a real day, "
				    "1970-2261)",
				    field, gb_yaml_snippet(text, len, shown));
	*ns = v;
	return 0;
}

int gb_yaml_day(gb_yaml *w, const yaml_node_t *node, const char *field,
		const char **text)
{
	char shown[GB_YAML_SNIPPET_SIZE];
	const char *s;
	size_t len;
	int64_t ns;
	int rc = gb_yaml_scalar(w, node, field, &s, &len);

	if (rc)
		return rc;
	if (len != 10 || !parse_date(s, len, &ns))
		return gb_yaml_fail(w, node,
				    "%s: \"%s\" is not a date (YYYY-MM-DD, a "
				    "real day, 1970-2261)",
				    field, gb_yaml_snippet(s, len, shown));
	*text = s;
	return 0;
}

/* ---------------------------------------------------------------------
 * Paths. */

int gb_yaml_path(gb_yaml *w, const yaml_node_t *node, const char *field,
		 const char *dir, char **out)
{
	const char *text;
	size_t need;
	int rc = gb_yaml_text(w, node, field, &text);

	if (rc)
		return rc;
	if (text[0] == '/' || !strcmp(dir, ".")) {
		*out = strdup(text);
		return *out ? 0 : gb_yaml_nomem(w);
	}
	while (text[0] == '.' && text[1] == '/')
		text += 2;
	if (!strcmp(text, "."))
		text = "";
	need = strlen(dir) + 1 + strlen(text) + 1;
	if (need > PATH_MAX)
		return gb_yaml_fail(w, node,
				    "%s: longer than %d bytes once resolved",
				    field, PATH_MAX);
	*out = malloc(need);
	if (!*out)
		return gb_yaml_nomem(w);
	if (!text[0])
		snprintf(*out, need, "%s", dir);
	else
		snprintf(*out, need, "%s%s%s", dir,
			 dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/",
			 text);
	return 0;
}
