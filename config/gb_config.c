/* govbus registry loader: the YAML config file into an immutable snapshot.
 *
 * Trust: the config file is edited by hand by an admin, so it is treated as
 * untrusted input — it may be truncated, mistyped or crafted. It is bounded
 * (GB_CONFIG_MAX_BYTES, regular files only) and parsed by libyaml, never by
 * hand; anchors and aliases are refused before a document is built (they
 * are the "billion laughs" vector and this format has no use for them).
 * Every field is then checked — ids, UTF-8 text without control characters,
 * key encodings, dates, references between sections — before a snapshot
 * exists, and each error carries file:line:col from libyaml's marks and
 * names the field. The load time is the caller's now_ns; this file never
 * reads the clock. A snapshot owns copies of all its strings and is never
 * changed after load, so other threads may read it without locks. */
#include "gb_config.h"

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

#include <sodium.h>
#include <yaml.h>

#include "gb_codec.h" /* gb_text_problem (issue 7) */
#include "gb_error.h"
#include "gb_keys.h"
#include "gb_schema.h" /* schemas (issue 7B) */

/* Deeper nesting than any valid config needs; refused while screening. */
#define MAX_DEPTH 16
/* How much of an untrusted value an error message quotes. */
#define SNIPPET_MAX 64
#define NS_PER_SEC INT64_C(1000000000)

/* ---------------------------------------------------------------------
 * Sorted indexes: one mechanism for every lookup and duplicate check.
 * Entries are ordered by key bytes, then by position in the file, so the
 * members of a run of equal keys come out in file order. */

struct index_entry {
	const uint8_t *key;
	size_t len;
	size_t pos;        /* index into the registry array */
};

struct index {
	struct index_entry *entries;
	size_t count;
};

/* Order by bytes, shorter first on a common prefix. */
static int index_key_cmp(const void *a, const void *b)
{
	const struct index_entry *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	if (c)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

static int index_sort_cmp(const void *a, const void *b)
{
	const struct index_entry *x = a, *y = b;
	int c = index_key_cmp(a, b);

	if (c)
		return c;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

static int index_alloc(struct index *ix, size_t count)
{
	ix->entries = calloc(count ? count : 1, sizeof *ix->entries);
	ix->count = count;
	return ix->entries ? 0 : GB_ENOMEM;
}

static void index_sort(struct index *ix)
{
	if (ix->count > 1)
		qsort(ix->entries, ix->count, sizeof *ix->entries,
		      index_sort_cmp);
}

/* Position of the entry with this key, or SIZE_MAX. */
static size_t index_find(const struct index *ix, const void *key, size_t len)
{
	struct index_entry probe = {key, len, 0};
	const struct index_entry *hit;

	if (ix->count == 0)
		return SIZE_MAX;
	hit = bsearch(&probe, ix->entries, ix->count, sizeof *ix->entries,
		      index_key_cmp);
	return hit ? hit->pos : SIZE_MAX;
}

/* The earliest entry (in file order) whose key repeats an earlier entry's:
 * returns its position and puts the earlier one's in *first, or SIZE_MAX. */
static size_t index_first_duplicate(const struct index *ix, size_t *first)
{
	size_t best = SIZE_MAX, run = 0;

	for (size_t i = 1; i < ix->count; i++) {
		if (index_key_cmp(&ix->entries[run], &ix->entries[i]) != 0) {
			run = i;
			continue;
		}
		if (i == run + 1 && ix->entries[i].pos < best) {
			best = ix->entries[i].pos;
			*first = ix->entries[run].pos;
		}
	}
	return best;
}

/* ---------------------------------------------------------------------
 * The snapshot. */

struct gb_registry {
	gb_broker_settings broker;
	uint8_t hash[crypto_generichash_BYTES];
	int64_t loaded_ns;
	uint8_t *source;                 /* the bytes hashed (issue 4) */
	size_t source_len;

	gb_department *departments;
	size_t department_count;
	gb_dataset *datasets;
	size_t dataset_count;
	gb_grant *grants;
	size_t grant_count;
	gb_refusal *refusals;            /* issue 7 */
	size_t refusal_count;

	struct index departments_by_id;
	struct index departments_by_box_key;
	struct index datasets_by_id;
	struct index grants_by_pair;     /* key: "dataset\0to" */
	struct index refusals_by_pair;   /* key: "dataset\0to" (issue 7) */

	/* schemas (issue 7B): descriptor set files, as read */
	uint8_t **descriptor_sets;
	size_t *descriptor_set_lens;
	size_t descriptor_set_count;

	/* Every string the snapshot owns, freed together. */
	char **strings;
	size_t string_count;
	size_t string_cap;
};

/* A NUL-terminated copy of s[0..len) owned by the registry, or NULL. */
static char *registry_strndup(gb_registry *reg, const char *s, size_t len)
{
	char *copy;

	if (reg->string_count == reg->string_cap) {
		size_t cap = reg->string_cap ? reg->string_cap * 2 : 64;
		char **grown = realloc(reg->strings, cap * sizeof *grown);

		if (!grown)
			return NULL;
		reg->strings = grown;
		reg->string_cap = cap;
	}
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	reg->strings[reg->string_count++] = copy;
	return copy;
}

void gb_registry_destroy(gb_registry **reg)
{
	gb_registry *r;

	if (!reg || !*reg)
		return;
	r = *reg;
	for (size_t i = 0; i < r->string_count; i++)
		free(r->strings[i]);
	free(r->strings);
	free(r->departments);
	free(r->datasets);
	free(r->grants);
	free(r->departments_by_id.entries);
	free(r->departments_by_box_key.entries);
	free(r->datasets_by_id.entries);
	free(r->grants_by_pair.entries);
	free(r->refusals);                /* issue 7 */
	free(r->refusals_by_pair.entries);
	for (size_t i = 0; i < r->descriptor_set_count; i++) /* issue 7B */
		free(r->descriptor_sets[i]);
	free(r->descriptor_sets);
	free(r->descriptor_set_lens);
	free(r->source);
	free(r);
	*reg = NULL;
}

const gb_broker_settings *gb_registry_broker(const gb_registry *reg)
{
	return &reg->broker;
}

const uint8_t *gb_registry_hash(const gb_registry *reg)
{
	return reg->hash;
}

int64_t gb_registry_loaded_ns(const gb_registry *reg)
{
	return reg->loaded_ns;
}

const uint8_t *gb_registry_source(const gb_registry *reg, size_t *len)
{
	*len = reg->source_len;
	return reg->source;
}

size_t gb_registry_department_count(const gb_registry *reg)
{
	return reg->department_count;
}

const gb_department *gb_registry_department_at(const gb_registry *reg, size_t i)
{
	return i < reg->department_count ? &reg->departments[i] : NULL;
}

size_t gb_registry_dataset_count(const gb_registry *reg)
{
	return reg->dataset_count;
}

const gb_dataset *gb_registry_dataset_at(const gb_registry *reg, size_t i)
{
	return i < reg->dataset_count ? &reg->datasets[i] : NULL;
}

size_t gb_registry_grant_count(const gb_registry *reg)
{
	return reg->grant_count;
}

const gb_grant *gb_registry_grant_at(const gb_registry *reg, size_t i)
{
	return i < reg->grant_count ? &reg->grants[i] : NULL;
}

const gb_department *gb_registry_find_department(const gb_registry *reg,
						 const char *id)
{
	size_t pos;

	if (!reg || !id)
		return NULL;
	pos = index_find(&reg->departments_by_id, id, strlen(id));
	return pos == SIZE_MAX ? NULL : &reg->departments[pos];
}

const gb_department *gb_registry_find_department_by_box_key(
	const gb_registry *reg, const uint8_t box_pk[GB_KEY_BYTES])
{
	size_t pos;

	if (!reg || !box_pk)
		return NULL;
	pos = index_find(&reg->departments_by_box_key, box_pk, GB_KEY_BYTES);
	return pos == SIZE_MAX ? NULL : &reg->departments[pos];
}

const gb_dataset *gb_registry_find_dataset(const gb_registry *reg,
					   const char *id)
{
	size_t pos;

	if (!reg || !id)
		return NULL;
	pos = index_find(&reg->datasets_by_id, id, strlen(id));
	return pos == SIZE_MAX ? NULL : &reg->datasets[pos];
}

/* The grant index key "dataset\0to" in buf; 0 when an id is too long to
 * be registered (so nothing can match). */
static size_t grant_pair_key(char buf[2 * GB_ID_MAX + 2], const char *dataset,
			     const char *to)
{
	size_t dlen = strnlen(dataset, GB_ID_MAX + 1);
	size_t tlen = strnlen(to, GB_ID_MAX + 1);

	if (dlen > GB_ID_MAX || tlen > GB_ID_MAX)
		return 0;
	memcpy(buf, dataset, dlen);
	buf[dlen] = '\0';
	memcpy(buf + dlen + 1, to, tlen);
	return dlen + 1 + tlen;
}

/* Position of the (dataset, dept) entry in a pair index, or SIZE_MAX. */
static size_t pair_find(const struct index *ix, const char *dataset,
			const char *dept)
{
	char key[2 * GB_ID_MAX + 2];
	size_t len;

	if (!dataset || !dept)
		return SIZE_MAX;
	len = grant_pair_key(key, dataset, dept);
	return len == 0 ? SIZE_MAX : index_find(ix, key, len);
}

const gb_grant *gb_registry_find_grant(const gb_registry *reg,
				       const char *dataset, const char *dept)
{
	size_t pos = reg ? pair_find(&reg->grants_by_pair, dataset, dept)
			 : SIZE_MAX;

	return pos == SIZE_MAX ? NULL : &reg->grants[pos];
}

/* schemas (issue 7B) */
size_t gb_registry_descriptor_set_count(const gb_registry *reg)
{
	return reg->descriptor_set_count;
}

const uint8_t *gb_registry_descriptor_set_at(const gb_registry *reg, size_t i,
					     size_t *len)
{
	if (i >= reg->descriptor_set_count) {
		*len = 0;
		return NULL;
	}
	*len = reg->descriptor_set_lens[i];
	return reg->descriptor_sets[i];
}

size_t gb_registry_refusal_count(const gb_registry *reg)
{
	return reg->refusal_count;
}

const gb_refusal *gb_registry_refusal_at(const gb_registry *reg, size_t i)
{
	return i < reg->refusal_count ? &reg->refusals[i] : NULL;
}

const gb_refusal *gb_registry_find_refusal(const gb_registry *reg,
					   const char *dataset,
					   const char *dept)
{
	size_t pos = reg ? pair_find(&reg->refusals_by_pair, dataset, dept)
			 : SIZE_MAX;

	return pos == SIZE_MAX ? NULL : &reg->refusals[pos];
}

void gb_config_error_format(const gb_config_error *err, char *buf, size_t len)
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

/* ---------------------------------------------------------------------
 * Loader state and error reporting. */

/* Where entries came from, kept while loading for errors found after an
 * entry was parsed (duplicates). */
struct department_src {
	const yaml_node_t *id, *sign_key, *box_key;
};
struct dataset_src {
	const yaml_node_t *id;
};
struct grant_src {                 /* grants and refusals (issue 7) */
	const yaml_node_t *to;
};

struct loader {
	const char *path;
	char *config_dir;             /* absolute folder of the config file */
	int64_t now_ns;
	gb_config_error *err;
	gb_registry *reg;
	yaml_document_t doc;
	bool have_doc;
	struct department_src *department_src;
	struct dataset_src *dataset_src;
	struct grant_src *grant_src;
	struct grant_src *refusal_src;   /* issue 7 */
	gb_schema *schema;              /* schemas (issue 7B): while loading */
};

__attribute__((format(printf, 5, 0)))
static int report(struct loader *ld, int rc, unsigned line, unsigned col,
		  const char *fmt, va_list ap)
{
	ld->err->line = line;
	ld->err->col = col;
	vsnprintf(ld->err->message, sizeof ld->err->message, fmt, ap);
	return rc;
}

/* Record a config error at a libyaml mark; returns GB_ECONFIG. */
__attribute__((format(printf, 3, 4)))
static int fail_at(struct loader *ld, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = report(ld, GB_ECONFIG, (unsigned)mark.line + 1,
		    (unsigned)mark.column + 1, fmt, ap);
	va_end(ap);
	return rc;
}

/* Record an error not tied to a place in the file; returns rc. */
__attribute__((format(printf, 3, 4)))
static int fail_file(struct loader *ld, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = report(ld, rc, 0, 0, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail_nomem(struct loader *ld)
{
	return fail_file(ld, GB_ENOMEM, "out of memory");
}

/* Untrusted text shortened and made printable for a message. */
static const char *snippet(const char *s, size_t len, char out[SNIPPET_MAX + 4])
{
	size_t n = len < SNIPPET_MAX ? len : SNIPPET_MAX;

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
		int w = snprintf(buf + used, size - used, "%s%s", sep, names[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
	return buf;
}

/* "where.name", or "name" at the top level. */
static const char *field_path(char *buf, size_t size, const char *where,
			      const char *name)
{
	snprintf(buf, size, "%s%s%s", where, where[0] ? "." : "", name);
	return buf;
}

/* ---------------------------------------------------------------------
 * Reading the file. */

static int read_config_file(struct loader *ld, unsigned char **out,
			    size_t *out_len)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t size, got = 0;
	int fd, rc;

	/* O_NONBLOCK: opening a FIFO must not hang before fstat refuses it. */
	fd = open(ld->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail_file(ld, GB_EIO, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = fail_file(ld, GB_EIO, "cannot stat: %s", strerror(errno));
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail_file(ld, GB_EIO, "not a regular file");
		goto err;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > GB_CONFIG_MAX_BYTES) {
		rc = fail_file(ld, GB_ETOOBIG, "larger than %u bytes",
			       (unsigned)GB_CONFIG_MAX_BYTES);
		goto err;
	}
	size = (size_t)st.st_size;
	/* One spare byte shows whether the file grew while being read. */
	buf = malloc(size + 1);
	if (!buf) {
		rc = fail_nomem(ld);
		goto err;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail_file(ld, GB_EIO, "cannot read: %s",
				       strerror(errno));
			goto err;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > size) {
			rc = fail_file(ld, GB_EIO, "changed while being read");
			goto err;
		}
	}
	close(fd);
	*out = buf;
	*out_len = got;
	return 0;
err:
	free(buf);
	close(fd);
	return rc;
}

/* The absolute folder holding the config file, for relative paths in it. */
static int find_config_dir(struct loader *ld)
{
	char *copy = strdup(ld->path);
	char *slash;
	int rc = 0;

	if (!copy)
		return fail_nomem(ld);
	slash = strrchr(copy, '/');
	if (!slash)
		strcpy(copy, ".");
	else if (slash == copy)
		slash[1] = '\0';
	else
		*slash = '\0';
	ld->config_dir = realpath(copy, NULL);
	if (!ld->config_dir)
		rc = fail_file(ld, GB_EIO, "cannot resolve its folder: %s",
			       strerror(errno));
	free(copy);
	return rc;
}

/* ---------------------------------------------------------------------
 * YAML: screening events, then building the document. */

static int fail_yaml(struct loader *ld, const yaml_parser_t *parser,
		     const unsigned char *buf, size_t len)
{
	if (parser->error == YAML_MEMORY_ERROR)
		return fail_nomem(ld);
	if (parser->error == YAML_READER_ERROR) {
		/* The reader knows a byte offset, not a mark: count lines. */
		size_t off = parser->problem_offset < len ? parser->problem_offset : len;
		unsigned line = 1, col = 1;

		for (size_t i = 0; i < off; i++) {
			col++;
			if (buf[i] == '\n') {
				line++;
				col = 1;
			}
		}
		ld->err->line = line;
		ld->err->col = col;
		snprintf(ld->err->message, sizeof ld->err->message,
			 "not valid YAML text: %s",
			 parser->problem ? parser->problem : "unreadable");
		return GB_ECONFIG;
	}
	if (parser->context)
		return fail_at(ld, parser->problem_mark, "YAML syntax: %s %s",
			       parser->problem ? parser->problem : "error",
			       parser->context);
	return fail_at(ld, parser->problem_mark, "YAML syntax: %s",
		       parser->problem ? parser->problem : "error");
}

/* Refuse anchors, aliases, a second document and deep nesting before any
 * document is built: an alias is how a small file expands into a huge
 * tree, and nothing in this format needs one. */
static int screen_events(struct loader *ld, const unsigned char *buf,
			 size_t len)
{
	yaml_parser_t parser;
	yaml_event_t event;
	unsigned depth = 0, documents = 0;
	int rc = 0;
	bool done = false;

	if (!yaml_parser_initialize(&parser))
		return fail_nomem(ld);
	yaml_parser_set_input_string(&parser, buf, len);
	while (!done && rc == 0) {
		const yaml_char_t *anchor = NULL;

		if (!yaml_parser_parse(&parser, &event)) {
			rc = fail_yaml(ld, &parser, buf, len);
			break;
		}
		switch (event.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++documents > 1)
				rc = fail_at(ld, event.start_mark,
					     "only one YAML document is allowed");
			break;
		case YAML_ALIAS_EVENT:
			rc = fail_at(ld, event.start_mark,
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
			rc = fail_at(ld, event.start_mark,
				     "YAML anchors (&%.64s) are not allowed",
				     (const char *)anchor);
		if (rc == 0 && depth > MAX_DEPTH)
			rc = fail_at(ld, event.start_mark,
				     "nested more than %d levels deep",
				     MAX_DEPTH);
		yaml_event_delete(&event);
	}
	yaml_parser_delete(&parser);
	return rc;
}

static int load_document(struct loader *ld, const unsigned char *buf,
			 size_t len)
{
	yaml_parser_t parser;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return fail_nomem(ld);
	yaml_parser_set_input_string(&parser, buf, len);
	if (yaml_parser_load(&parser, &ld->doc))
		ld->have_doc = true;
	else
		rc = fail_yaml(ld, &parser, buf, len);
	yaml_parser_delete(&parser);
	return rc;
}

static const yaml_node_t *node_at(struct loader *ld, int index)
{
	return yaml_document_get_node(&ld->doc, index);
}

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

/* ---------------------------------------------------------------------
 * Fields: each object is a mapping checked against a table of its keys. */

struct field {
	const char *name;
	bool required;
};

#define MAX_FIELDS 16

/* Check that `map` is a mapping whose keys all appear in `fields`, each at
 * most once, and that required ones are there; put each field's value node
 * in values[] (NULL when absent or written as null). */
static int map_fields(struct loader *ld, const yaml_node_t *map,
		      const char *where, const struct field *fields,
		      size_t nfields, const yaml_node_t **values)
{
	const char *names[MAX_FIELDS];
	const char *what = where[0] ? where : "the top level";
	char known[256], shown[SNIPPET_MAX + 4], path[96];
	bool seen[MAX_FIELDS] = {false};

	for (size_t i = 0; i < nfields; i++) {
		values[i] = NULL;
		names[i] = fields[i].name;
	}
	if (map->type != YAML_MAPPING_NODE)
		return fail_at(ld, map->start_mark, "%s: expected a mapping "
			       "(key: value pairs)", what);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *key = node_at(ld, p->key);
		const yaml_node_t *value = node_at(ld, p->value);
		const char *name;
		size_t i;

		if (key->type != YAML_SCALAR_NODE)
			return fail_at(ld, key->start_mark,
				       "%s: keys must be plain names", what);
		name = (const char *)key->data.scalar.value;
		for (i = 0; i < nfields; i++)
			if (!strcmp(name, fields[i].name))
				break;
		if (i == nfields)
			return fail_at(ld, key->start_mark,
				       "%s: unknown key \"%s\" (expected %s)",
				       what,
				       snippet(name, key->data.scalar.length,
					       shown),
				       join_names(names, nfields, known,
						  sizeof known));
		if (seen[i])
			return fail_at(ld, key->start_mark,
				       "%s: key \"%s\" given twice", what, name);
		seen[i] = true;
		if (is_null(value)) {
			if (fields[i].required)
				return fail_at(ld, value->start_mark,
					       "%s: must not be empty",
					       field_path(path, sizeof path,
							  where, name));
			continue;
		}
		values[i] = value;
	}
	for (size_t i = 0; i < nfields; i++)
		if (fields[i].required && !seen[i])
			return fail_at(ld, map->start_mark,
				       "%s: missing required key \"%s\"", what,
				       fields[i].name);
	return 0;
}

/* The text of a scalar; refuses lists, mappings and embedded NULs. */
static int get_scalar(struct loader *ld, const yaml_node_t *node,
		      const char *field, const char **text, size_t *len)
{
	*text = "";
	*len = 0;
	if (node->type != YAML_SCALAR_NODE)
		return fail_at(ld, node->start_mark,
			       "%s: expected a single value, not a %s", field,
			       node->type == YAML_SEQUENCE_NODE ? "list"
								: "mapping");
	*text = (const char *)node->data.scalar.value;
	*len = node->data.scalar.length;
	if (strlen(*text) != *len)
		return fail_at(ld, node->start_mark,
			       "%s: contains a NUL character", field);
	return 0;
}

static bool id_valid(const char *s, size_t len)
{
	if (len < 1 || len > GB_ID_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Check an id in place (for references) without copying it. */
static int check_id(struct loader *ld, const yaml_node_t *node,
		    const char *field, const char **text)
{
	char shown[SNIPPET_MAX + 4];
	size_t len;
	int rc = get_scalar(ld, node, field, text, &len);

	if (rc)
		return rc;
	if (!id_valid(*text, len))
		return fail_at(ld, node->start_mark,
			       "%s: \"%s\" is not an id (1-%d of a-z 0-9 . _ -, "
			       "starting with a letter)",
			       field, snippet(*text, len, shown), GB_ID_MAX);
	return 0;
}

static int get_id(struct loader *ld, const yaml_node_t *node,
		  const char *field, const char **out)
{
	const char *text;
	int rc = check_id(ld, node, field, &text);

	if (rc)
		return rc;
	*out = registry_strndup(ld->reg, text, strlen(text));
	return *out ? 0 : fail_nomem(ld);
}

/* Free text: 1..GB_TEXT_MAX bytes of UTF-8 without control characters.
 * Points *text into the document (not copied). */
static int check_text(struct loader *ld, const yaml_node_t *node,
		      const char *field, const char **text)
{
	const char *problem;
	size_t len;
	int rc = get_scalar(ld, node, field, text, &len);

	if (rc)
		return rc;
	if (len == 0)
		return fail_at(ld, node->start_mark, "%s: must not be empty",
			       field);
	if (len > GB_TEXT_MAX)
		return fail_at(ld, node->start_mark,
			       "%s: longer than %d bytes", field, GB_TEXT_MAX);
	problem = gb_text_problem(*text, len);
	if (problem)
		return fail_at(ld, node->start_mark, "%s: %s", field, problem);
	return 0;
}

static int get_text(struct loader *ld, const yaml_node_t *node,
		    const char *field, const char **out)
{
	const char *text;
	int rc = check_text(ld, node, field, &text);

	if (rc)
		return rc;
	*out = registry_strndup(ld->reg, text, strlen(text));
	return *out ? 0 : fail_nomem(ld);
}

/* One of names[]; *out is its index. */
static int get_enum(struct loader *ld, const yaml_node_t *node,
		    const char *field, const char *const *names, size_t n,
		    int *out)
{
	char shown[SNIPPET_MAX + 4], list[128];
	const char *text;
	size_t len;
	int rc = get_scalar(ld, node, field, &text, &len);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(text, names[i])) {
			*out = (int)i;
			return 0;
		}
	}
	return fail_at(ld, node->start_mark, "%s: \"%s\" is not %s", field,
		       snippet(text, len, shown),
		       join_names(names, n, list, sizeof list));
}

/* A decimal number of bytes, no sign, no suffix. */
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

static int get_size(struct loader *ld, const yaml_node_t *node,
		    const char *field, uint64_t *out)
{
	const char *text;
	size_t len;
	int rc = get_scalar(ld, node, field, &text, &len);

	if (rc)
		return rc;
	if (!parse_whole(text, len, out))
		return fail_at(ld, node->start_mark,
			       "%s: not a size in bytes (a whole number)", field);
	return 0;
}

/* A whole number in [min, max] (issue 4: checkpoint settings). */
static int get_count(struct loader *ld, const yaml_node_t *node,
		     const char *field, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	const char *text;
	size_t len;
	int rc = get_scalar(ld, node, field, &text, &len);

	if (rc)
		return rc;
	if (!parse_whole(text, len, out) || *out < min || *out > max)
		return fail_at(ld, node->start_mark,
			       "%s: not a whole number from %" PRIu64
			       " to %" PRIu64,
			       field, min, max);
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

static int get_date(struct loader *ld, const yaml_node_t *node,
		    const char *field, int64_t *ns)
{
	char shown[SNIPPET_MAX + 4];
	const char *text;
	size_t len;
	int rc = get_scalar(ld, node, field, &text, &len);

	if (rc)
		return rc;
	if (!parse_date(text, len, ns))
		return fail_at(ld, node->start_mark,
			       "%s: \"%s\" is not a date (YYYY-MM-DD or "
			       "YYYY-MM-DDTHH:MM:SSZ, a real day, 1970-2261)",
			       field, snippet(text, len, shown));
	return 0;
}

/* issue 7: a day, YYYY-MM-DD, kept as text. */
static int get_day(struct loader *ld, const yaml_node_t *node,
		   const char *field, const char **out)
{
	char shown[SNIPPET_MAX + 4];
	const char *text;
	size_t len;
	int64_t ns;
	int rc = get_scalar(ld, node, field, &text, &len);

	if (rc)
		return rc;
	if (len != 10 || !parse_date(text, len, &ns))
		return fail_at(ld, node->start_mark,
			       "%s: \"%s\" is not a date (YYYY-MM-DD, a real "
			       "day, 1970-2261)",
			       field, snippet(text, len, shown));
	*out = registry_strndup(ld->reg, text, len);
	return *out ? 0 : fail_nomem(ld);
}

/* ---------------------------------------------------------------------
 * Sections. */

/* `value` as given when absolute, else joined to the config's folder. */
static int get_path(struct loader *ld, const yaml_node_t *node,
		    const char *field, const char **out)
{
	const char *text, *dir = ld->config_dir;
	char *joined;
	size_t need;
	int rc = check_text(ld, node, field, &text);

	if (rc)
		return rc;
	if (text[0] == '/') {
		*out = registry_strndup(ld->reg, text, strlen(text));
		return *out ? 0 : fail_nomem(ld);
	}
	while (text[0] == '.' && text[1] == '/')
		text += 2;
	if (!strcmp(text, "."))
		text = "";
	need = strlen(dir) + 1 + strlen(text) + 1;
	if (need > PATH_MAX)
		return fail_at(ld, node->start_mark,
			       "%s: longer than %d bytes once resolved", field,
			       PATH_MAX);
	joined = malloc(need);
	if (!joined)
		return fail_nomem(ld);
	if (!text[0])
		snprintf(joined, need, "%s", dir);
	else
		snprintf(joined, need, "%s%s%s", dir,
			 dir[strlen(dir) - 1] == '/' ? "" : "/", text);
	*out = registry_strndup(ld->reg, joined, strlen(joined));
	free(joined);
	return *out ? 0 : fail_nomem(ld);
}

enum { BROKER_LISTEN, BROKER_DATA_DIR, BROKER_KEY, BROKER_MAP_SIZE,
       BROKER_CHECKPOINT_BATCHES, BROKER_CHECKPOINT_SECONDS,
       BROKER_DEDUPE_SECONDS, BROKER_FIELDS };
static const struct field broker_fields[BROKER_FIELDS] = {
	[BROKER_LISTEN] = {"listen", true},
	[BROKER_DATA_DIR] = {"data_dir", true},
	[BROKER_KEY] = {"key", true},
	[BROKER_MAP_SIZE] = {"map_size", false},
	[BROKER_CHECKPOINT_BATCHES] = {"checkpoint_batches", false},
	[BROKER_CHECKPOINT_SECONDS] = {"checkpoint_seconds", false},
	[BROKER_DEDUPE_SECONDS] = {"dedupe_seconds", false},
};

static int parse_broker(struct loader *ld, const yaml_node_t *node)
{
	const yaml_node_t *v[BROKER_FIELDS];
	gb_broker_settings *b = &ld->reg->broker;
	const char *listen;
	int rc = map_fields(ld, node, "broker", broker_fields, BROKER_FIELDS, v);

	if (rc)
		return rc;
	rc = check_text(ld, v[BROKER_LISTEN], "broker.listen", &listen);
	if (rc)
		return rc;
	if (!strstr(listen, "://"))
		return fail_at(ld, v[BROKER_LISTEN]->start_mark,
			       "broker.listen: not a ZeroMQ endpoint "
			       "(e.g. tcp://127.0.0.1:7780)");
	b->listen = registry_strndup(ld->reg, listen, strlen(listen));
	if (!b->listen)
		return fail_nomem(ld);
	rc = get_path(ld, v[BROKER_DATA_DIR], "broker.data_dir",
			      &b->data_dir);
	if (rc == 0)
		rc = get_path(ld, v[BROKER_KEY], "broker.key", &b->key);
	if (rc == 0 && v[BROKER_MAP_SIZE])
		rc = get_size(ld, v[BROKER_MAP_SIZE], "broker.map_size",
			      &b->map_size);
	b->checkpoint_batches = GB_CHECKPOINT_BATCHES_DEFAULT;
	b->checkpoint_seconds = GB_CHECKPOINT_SECONDS_DEFAULT;
	if (rc == 0 && v[BROKER_CHECKPOINT_BATCHES])
		rc = get_count(ld, v[BROKER_CHECKPOINT_BATCHES],
			       "broker.checkpoint_batches", 1,
			       GB_CHECKPOINT_BATCHES_MAX, &b->checkpoint_batches);
	if (rc == 0 && v[BROKER_CHECKPOINT_SECONDS])
		rc = get_count(ld, v[BROKER_CHECKPOINT_SECONDS],
			       "broker.checkpoint_seconds", 1,
			       GB_CHECKPOINT_SECONDS_MAX, &b->checkpoint_seconds);
	b->dedupe_seconds = GB_DEDUPE_SECONDS_DEFAULT;
	if (rc == 0 && v[BROKER_DEDUPE_SECONDS])
		rc = get_count(ld, v[BROKER_DEDUPE_SECONDS],
			       "broker.dedupe_seconds", 0,
			       GB_DEDUPE_SECONDS_MAX, &b->dedupe_seconds);
	return rc;
}

/* A list of entries (or null, meaning none): the item count, or an error. */
static int get_list(struct loader *ld, const yaml_node_t *node,
		    const char *field, size_t *count)
{
	*count = 0;
	if (!node)
		return 0;
	if (node->type != YAML_SEQUENCE_NODE)
		return fail_at(ld, node->start_mark, "%s: expected a list",
			       field);
	*count = (size_t)(node->data.sequence.items.top -
			  node->data.sequence.items.start);
	return 0;
}

static const yaml_node_t *list_item(struct loader *ld, const yaml_node_t *list,
				    size_t i)
{
	return node_at(ld, list->data.sequence.items.start[i]);
}

static const char *const role_names[] = {"department", "auditor"};
static const char *const sharing_names[] = {"open", "conditional", "closed"};
static const char *const class_names[] = {"public", "internal",
					  "confidential"};
static const char *const audit_names[] = {"metadata", "content"};
static const char *const history_names[] = {"all", "since-grant", "none"};
static const char *const right_names[] = {"subscribe", "replay"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* issue 7: names for listings, from the tables the loader reads. */
static const char *name_of(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : "unknown";
}

const char *gb_role_name(gb_role role)
{
	return name_of(role_names, COUNT(role_names), (int)role);
}

const char *gb_sharing_name(gb_sharing sharing)
{
	return name_of(sharing_names, COUNT(sharing_names), (int)sharing);
}

const char *gb_classification_name(gb_classification classification)
{
	return name_of(class_names, COUNT(class_names), (int)classification);
}

const char *gb_audit_access_name(gb_audit_access access)
{
	return name_of(audit_names, COUNT(audit_names), (int)access);
}

const char *gb_history_name(gb_history history)
{
	return name_of(history_names, COUNT(history_names), (int)history);
}

const char *gb_rights_text(unsigned rights, char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < COUNT(right_names) && used < len; i++) {
		int w;

		if (!(rights & (1u << i)))
			continue;
		w = snprintf(buf + used, len - used, "%s%s", used ? "," : "",
			     right_names[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	return buf;
}

enum { DEPT_ID, DEPT_NAME, DEPT_ROLE, DEPT_SIGN_KEY, DEPT_BOX_KEY,
       DEPT_FIELDS };
static const struct field department_fields[DEPT_FIELDS] = {
	[DEPT_ID] = {"id", true},
	[DEPT_NAME] = {"name", true},
	[DEPT_ROLE] = {"role", false},
	[DEPT_SIGN_KEY] = {"sign_key", true},
	[DEPT_BOX_KEY] = {"box_key", true},
};

static int parse_department(struct loader *ld, const yaml_node_t *node,
			    size_t i)
{
	const yaml_node_t *v[DEPT_FIELDS];
	gb_department *d = &ld->reg->departments[i];
	char where[40], field[96];
	const char *text;
	size_t len;
	int role = GB_ROLE_DEPARTMENT, rc;

	snprintf(where, sizeof where, "departments[%zu]", i);
	rc = map_fields(ld, node, where, department_fields, DEPT_FIELDS, v);
	if (rc == 0)
		rc = get_id(ld, v[DEPT_ID], field_path(field, sizeof field,
							where, "id"), &d->id);
	if (rc == 0)
		rc = get_text(ld, v[DEPT_NAME], field_path(field, sizeof field,
							    where, "name"),
			      &d->name);
	if (rc == 0 && v[DEPT_ROLE])
		rc = get_enum(ld, v[DEPT_ROLE],
			      field_path(field, sizeof field, where, "role"),
			      role_names, COUNT(role_names), &role);
	if (rc)
		return rc;
	d->role = (gb_role)role;

	field_path(field, sizeof field, where, "sign_key");
	rc = get_scalar(ld, v[DEPT_SIGN_KEY], field, &text, &len);
	if (rc)
		return rc;
	if (gb_key_decode_sign(text, d->sign_pk) != 0)
		return fail_at(ld, v[DEPT_SIGN_KEY]->start_mark,
			       "%s: not a base64 Ed25519 public key (32 bytes)",
			       field);
	field_path(field, sizeof field, where, "box_key");
	rc = get_scalar(ld, v[DEPT_BOX_KEY], field, &text, &len);
	if (rc)
		return rc;
	if (gb_key_decode_box(text, d->box_pk) != 0)
		return fail_at(ld, v[DEPT_BOX_KEY]->start_mark,
			       "%s: not a Z85 X25519 public key (32 bytes)",
			       field);
	ld->department_src[i] = (struct department_src){
		v[DEPT_ID], v[DEPT_SIGN_KEY], v[DEPT_BOX_KEY]};
	return 0;
}

/* Departments may share neither an id nor a key: a shared box key would
 * make ZAP identify two departments as one, a shared signing key would let
 * one sign as the other. */
static int check_departments_unique(struct loader *ld)
{
	gb_registry *reg = ld->reg;
	struct index by_sign = {NULL, 0};
	size_t n = reg->department_count, first = 0, dup;
	int rc;

	rc = index_alloc(&reg->departments_by_id, n);
	if (rc == 0)
		rc = index_alloc(&reg->departments_by_box_key, n);
	if (rc == 0)
		rc = index_alloc(&by_sign, n);
	if (rc) {
		rc = fail_nomem(ld);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const gb_department *d = &reg->departments[i];

		reg->departments_by_id.entries[i] = (struct index_entry){
			(const uint8_t *)d->id, strlen(d->id), i};
		reg->departments_by_box_key.entries[i] =
			(struct index_entry){d->box_pk, GB_KEY_BYTES, i};
		by_sign.entries[i] =
			(struct index_entry){d->sign_pk, GB_KEY_BYTES, i};
	}
	index_sort(&reg->departments_by_id);
	index_sort(&reg->departments_by_box_key);
	index_sort(&by_sign);

	dup = index_first_duplicate(&reg->departments_by_id, &first);
	if (dup != SIZE_MAX) {
		rc = fail_at(ld, ld->department_src[dup].id->start_mark,
			     "departments[%zu].id: duplicate department id "
			     "\"%s\" (first at line %zu)",
			     dup, reg->departments[dup].id,
			     ld->department_src[first].id->start_mark.line + 1);
		goto out;
	}
	dup = index_first_duplicate(&by_sign, &first);
	if (dup != SIZE_MAX) {
		rc = fail_at(ld, ld->department_src[dup].sign_key->start_mark,
			     "departments[%zu].sign_key: same key as "
			     "department \"%s\"",
			     dup, reg->departments[first].id);
		goto out;
	}
	dup = index_first_duplicate(&reg->departments_by_box_key, &first);
	if (dup != SIZE_MAX) {
		rc = fail_at(ld, ld->department_src[dup].box_key->start_mark,
			     "departments[%zu].box_key: same key as "
			     "department \"%s\"",
			     dup, reg->departments[first].id);
		goto out;
	}
out:
	free(by_sign.entries);
	return rc;
}

static int parse_departments(struct loader *ld, const yaml_node_t *list)
{
	gb_registry *reg = ld->reg;
	size_t n;
	int rc = get_list(ld, list, "departments", &n);

	if (rc)
		return rc;
	if (n == 0)
		return fail_at(ld, list->start_mark,
			       "departments: at least one department is "
			       "required");
	reg->departments = calloc(n, sizeof *reg->departments);
	ld->department_src = calloc(n, sizeof *ld->department_src);
	if (!reg->departments || !ld->department_src)
		return fail_nomem(ld);
	for (size_t i = 0; i < n; i++) {
		rc = parse_department(ld, list_item(ld, list, i), i);
		if (rc)
			return rc;
		reg->department_count++;
	}
	return check_departments_unique(ld);
}

/* ---------------------------------------------------------------------
 * schemas (issue 7B): descriptor set files and the message type of each
 * dataset. */

/* `schemas:`, a list of descriptor set files (protoc --descriptor_set_out
 * --include_imports) relative to the config's folder. Each is read bounded
 * and loaded on its own, so an error points at its line, then all are
 * linked together; the registry keeps their bytes for the catalog. */
static int parse_schemas(struct loader *ld, const yaml_node_t *list)
{
	gb_registry *reg = ld->reg;
	gb_schema_set *sets = NULL;
	char item[40], why[512];
	size_t n;
	int rc = get_list(ld, list, "schemas", &n);

	if (rc || n == 0)
		return rc;
	if (n > GB_SCHEMA_MAX_SETS)
		return fail_at(ld, list->start_mark,
			       "schemas: more than %d descriptor sets",
			       GB_SCHEMA_MAX_SETS);
	reg->descriptor_sets = calloc(n, sizeof *reg->descriptor_sets);
	reg->descriptor_set_lens = calloc(n, sizeof *reg->descriptor_set_lens);
	sets = calloc(n, sizeof *sets);
	if (!reg->descriptor_sets || !reg->descriptor_set_lens || !sets) {
		rc = fail_nomem(ld);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *it = list_item(ld, list, i);
		gb_schema *one = NULL;
		const char *path;

		snprintf(item, sizeof item, "schemas[%zu]", i);
		rc = get_path(ld, it, item, &path);
		if (rc)
			goto out;
		rc = gb_schema_read_file(path, &reg->descriptor_sets[i],
					 &reg->descriptor_set_lens[i], why,
					 sizeof why);
		reg->descriptor_set_count = i + 1;
		sets[i] = (gb_schema_set){(const char *)it->data.scalar.value,
					  reg->descriptor_sets[i],
					  reg->descriptor_set_lens[i]};
		if (rc == 0)
			rc = gb_schema_load(&sets[i], 1, &one, why, sizeof why);
		gb_schema_destroy(&one);
		if (rc == GB_ENOMEM) {
			rc = fail_nomem(ld);
			goto out;
		}
		if (rc) {
			rc = fail_at(ld, it->start_mark, "%s: %s", item, why);
			goto out;
		}
	}
	rc = gb_schema_load(sets, n, &ld->schema, why, sizeof why);
	if (rc == GB_ENOMEM)
		rc = fail_nomem(ld);
	else if (rc)
		rc = fail_at(ld, list->start_mark, "schemas: %s", why);
out:
	free(sets);
	return rc;
}

/* A dataset's `schema:`: a message type of the descriptor sets. */
static int get_schema_type(struct loader *ld, const yaml_node_t *node,
			   const char *field, const char **out)
{
	char shown[SNIPPET_MAX + 4];
	const char *text;
	int rc = check_text(ld, node, field, &text);

	if (rc)
		return rc;
	if (!gb_schema_find(ld->schema, text))
		return fail_at(ld, node->start_mark,
			       "%s: unknown message type \"%s\" (%s)", field,
			       snippet(text, strlen(text), shown),
			       ld->schema ? "not in the descriptor sets listed "
					    "in schemas:"
					  : "no descriptor sets are listed in "
					    "schemas:");
	*out = registry_strndup(ld->reg, text, strlen(text));
	return *out ? 0 : fail_nomem(ld);
}

enum { DS_ID, DS_OWNER, DS_TITLE, DS_SHARING, DS_CLASSIFICATION,
       DS_UPDATE_FREQUENCY, DS_AUDIT_ACCESS,
       /* catalog metadata (issue 7) */
       DS_DESCRIPTION, DS_CONDITIONS, DS_FORMAT, DS_CONTACT,
       DS_AVAILABLE_SINCE,
       DS_SCHEMA, /* schemas (issue 7B) */
       DS_FIELDS };
static const struct field dataset_fields[DS_FIELDS] = {
	[DS_ID] = {"id", true},
	[DS_OWNER] = {"owner", true},
	[DS_TITLE] = {"title", true},
	[DS_SHARING] = {"sharing", true},
	[DS_CLASSIFICATION] = {"classification", true},
	[DS_UPDATE_FREQUENCY] = {"update_frequency", false},
	[DS_AUDIT_ACCESS] = {"audit_access", false},
	[DS_DESCRIPTION] = {"description", false},       /* issue 7 */
	[DS_CONDITIONS] = {"conditions", false},
	[DS_FORMAT] = {"format", false},
	[DS_CONTACT] = {"contact", false},
	[DS_AVAILABLE_SINCE] = {"available_since", false},
	[DS_SCHEMA] = {"schema", false},                 /* issue 7B */
};

/* issue 7: where each of the catalog's free-text fields of a dataset goes
 * (NULL for any other field). */
static const char **dataset_text(gb_dataset *ds, int field)
{
	switch (field) {
	case DS_DESCRIPTION:
		return &ds->description;
	case DS_CONDITIONS:
		return &ds->conditions;
	case DS_FORMAT:
		return &ds->format;
	case DS_CONTACT:
		return &ds->contact;
	default:
		return NULL;
	}
}

/* issue 7: the optional catalog fields of dataset `ds` (free text, and a
 * day for available_since). */
static int parse_dataset_catalog(struct loader *ld, const yaml_node_t **v,
				 const char *where, gb_dataset *ds)
{
	char field[96];
	int rc = 0;

	for (int f = 0; rc == 0 && f < DS_FIELDS; f++)
		if (v[f] && dataset_text(ds, f))
			rc = get_text(ld, v[f],
				      field_path(field, sizeof field, where,
						 dataset_fields[f].name),
				      dataset_text(ds, f));
	if (rc == 0 && v[DS_AVAILABLE_SINCE])
		rc = get_day(ld, v[DS_AVAILABLE_SINCE],
			     field_path(field, sizeof field, where,
					"available_since"),
			     &ds->available_since);
	return rc;
}

static int parse_dataset(struct loader *ld, const yaml_node_t *node, size_t i)
{
	const yaml_node_t *v[DS_FIELDS];
	gb_dataset *ds = &ld->reg->datasets[i];
	const gb_department *owner;
	char where[40], field[96], shown[SNIPPET_MAX + 4];
	const char *owner_id;
	int sharing = 0, cls = 0, audit = GB_AUDIT_METADATA, rc;

	snprintf(where, sizeof where, "datasets[%zu]", i);
	rc = map_fields(ld, node, where, dataset_fields, DS_FIELDS, v);
	if (rc == 0)
		rc = get_id(ld, v[DS_ID],
			    field_path(field, sizeof field, where, "id"),
			    &ds->id);
	if (rc == 0)
		rc = check_id(ld, v[DS_OWNER],
			      field_path(field, sizeof field, where, "owner"),
			      &owner_id);
	if (rc)
		return rc;
	owner = gb_registry_find_department(ld->reg, owner_id);
	if (!owner)
		return fail_at(ld, v[DS_OWNER]->start_mark,
			       "%s: unknown department \"%s\"", field,
			       snippet(owner_id, strlen(owner_id), shown));
	ds->owner = owner->id;
	rc = get_text(ld, v[DS_TITLE],
		      field_path(field, sizeof field, where, "title"),
		      &ds->title);
	if (rc == 0)
		rc = get_enum(ld, v[DS_SHARING],
			      field_path(field, sizeof field, where, "sharing"),
			      sharing_names, COUNT(sharing_names), &sharing);
	if (rc == 0)
		rc = get_enum(ld, v[DS_CLASSIFICATION],
			      field_path(field, sizeof field, where,
					 "classification"),
			      class_names, COUNT(class_names), &cls);
	if (rc == 0 && v[DS_UPDATE_FREQUENCY])
		rc = get_text(ld, v[DS_UPDATE_FREQUENCY],
			      field_path(field, sizeof field, where,
					 "update_frequency"),
			      &ds->update_frequency);
	if (rc == 0 && v[DS_AUDIT_ACCESS])
		rc = get_enum(ld, v[DS_AUDIT_ACCESS],
			      field_path(field, sizeof field, where,
					 "audit_access"),
			      audit_names, COUNT(audit_names), &audit);
	if (rc == 0)
		rc = parse_dataset_catalog(ld, v, where, ds); /* issue 7 */
	if (rc == 0 && v[DS_SCHEMA]) /* issue 7B */
		rc = get_schema_type(ld, v[DS_SCHEMA],
				     field_path(field, sizeof field, where,
						"schema"),
				     &ds->schema);
	if (rc)
		return rc;
	ds->sharing = (gb_sharing)sharing;
	ds->classification = (gb_classification)cls;
	ds->audit_access = (gb_audit_access)audit;
	ld->dataset_src[i] = (struct dataset_src){v[DS_ID]};
	return 0;
}

static int parse_datasets(struct loader *ld, const yaml_node_t *list)
{
	gb_registry *reg = ld->reg;
	size_t n, first = 0, dup;
	int rc = get_list(ld, list, "datasets", &n);

	if (rc)
		return rc;
	reg->datasets = calloc(n ? n : 1, sizeof *reg->datasets);
	ld->dataset_src = calloc(n ? n : 1, sizeof *ld->dataset_src);
	if (!reg->datasets || !ld->dataset_src ||
	    index_alloc(&reg->datasets_by_id, n) != 0)
		return fail_nomem(ld);
	for (size_t i = 0; i < n; i++) {
		rc = parse_dataset(ld, list_item(ld, list, i), i);
		if (rc)
			return rc;
		reg->dataset_count++;
		reg->datasets_by_id.entries[i] = (struct index_entry){
			(const uint8_t *)reg->datasets[i].id,
			strlen(reg->datasets[i].id), i};
	}
	index_sort(&reg->datasets_by_id);
	dup = index_first_duplicate(&reg->datasets_by_id, &first);
	if (dup != SIZE_MAX)
		return fail_at(ld, ld->dataset_src[dup].id->start_mark,
			       "datasets[%zu].id: duplicate dataset id \"%s\" "
			       "(first at line %zu)",
			       dup, reg->datasets[dup].id,
			       ld->dataset_src[first].id->start_mark.line + 1);
	return 0;
}

enum { GR_DATASET, GR_TO, GR_RIGHTS, GR_PURPOSE, GR_LEGAL_BASIS,
       GR_APPROVED_BY, GR_STARTS, GR_EXPIRES, GR_HISTORY, GR_FIELDS };
static const struct field grant_fields[GR_FIELDS] = {
	[GR_DATASET] = {"dataset", true},
	[GR_TO] = {"to", true},
	[GR_RIGHTS] = {"rights", true},
	[GR_PURPOSE] = {"purpose", true},
	[GR_LEGAL_BASIS] = {"legal_basis", true},
	[GR_APPROVED_BY] = {"approved_by", true},
	[GR_STARTS] = {"starts", false},
	[GR_EXPIRES] = {"expires", true},
	[GR_HISTORY] = {"history", false},
};

/* A non-empty list of distinct rights, as GB_RIGHT_* bits. */
static int get_rights(struct loader *ld, const yaml_node_t *node,
		      const char *field, unsigned *rights)
{
	char item[136];
	size_t n;
	int rc = get_list(ld, node, field, &n);

	if (rc)
		return rc;
	if (n == 0)
		return fail_at(ld, node->start_mark,
			       "%s: must list at least one of subscribe, replay",
			       field);
	*rights = 0;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *it = list_item(ld, node, i);
		int right;

		snprintf(item, sizeof item, "%s[%zu]", field, i);
		rc = get_enum(ld, it, item, right_names, COUNT(right_names),
			      &right);
		if (rc)
			return rc;
		if (*rights & (1u << right))
			return fail_at(ld, it->start_mark,
				       "%s: \"%s\" listed twice", item,
				       right_names[right]);
		*rights |= 1u << right;
	}
	return 0;
}

/* The (dataset, to) pair of a grant or a refusal (`what`): both must be
 * registered, the dataset not closed, `to` not its owner. */
static int parse_pair(struct loader *ld, const yaml_node_t *dataset_node,
		      const yaml_node_t *to_node, const char *where,
		      const char *what, const char **dataset, const char **to)
{
	const gb_dataset *ds;
	const gb_department *dept;
	char field[96], shown[SNIPPET_MAX + 4];
	const char *ds_id, *to_id;
	int rc;

	rc = check_id(ld, dataset_node,
		      field_path(field, sizeof field, where, "dataset"), &ds_id);
	if (rc)
		return rc;
	ds = gb_registry_find_dataset(ld->reg, ds_id);
	if (!ds)
		return fail_at(ld, dataset_node->start_mark,
			       "%s: unknown dataset \"%s\"", field,
			       snippet(ds_id, strlen(ds_id), shown));
	if (ds->sharing == GB_SHARING_CLOSED)
		return fail_at(ld, dataset_node->start_mark,
			       "%s: %s is closed (only its owner and auditors "
			       "may read it), so it cannot be %s",
			       field, ds->id,
			       strcmp(what, "grant") ? "requested" : "granted");
	rc = check_id(ld, to_node, field_path(field, sizeof field, where, "to"),
		      &to_id);
	if (rc)
		return rc;
	dept = gb_registry_find_department(ld->reg, to_id);
	if (!dept)
		return fail_at(ld, to_node->start_mark,
			       "%s: unknown department \"%s\"", field,
			       snippet(to_id, strlen(to_id), shown));
	if (!strcmp(dept->id, ds->owner))
		return fail_at(ld, to_node->start_mark,
			       "%s: %s owns %s; a %s to the owner is "
			       "pointless", field, dept->id, ds->id, what);
	*dataset = ds->id;
	*to = dept->id;
	return 0;
}

static int parse_grant(struct loader *ld, const yaml_node_t *node, size_t i,
		       const char **dataset, const char **to)
{
	const yaml_node_t *v[GR_FIELDS];
	gb_grant *g = &ld->reg->grants[i];
	char where[40], field[96], shown[SNIPPET_MAX + 4];
	int history = GB_HISTORY_ALL, rc;

	snprintf(where, sizeof where, "grants[%zu]", i);
	rc = map_fields(ld, node, where, grant_fields, GR_FIELDS, v);
	if (rc == 0)
		rc = parse_pair(ld, v[GR_DATASET], v[GR_TO], where, "grant",
				&g->dataset, &g->to);
	if (rc)
		return rc;

	rc = get_rights(ld, v[GR_RIGHTS],
			field_path(field, sizeof field, where, "rights"),
			&g->rights);
	if (rc == 0)
		rc = get_text(ld, v[GR_PURPOSE],
			      field_path(field, sizeof field, where, "purpose"),
			      &g->purpose);
	if (rc == 0)
		rc = get_text(ld, v[GR_LEGAL_BASIS],
			      field_path(field, sizeof field, where,
					 "legal_basis"),
			      &g->legal_basis);
	if (rc == 0)
		rc = get_text(ld, v[GR_APPROVED_BY],
			      field_path(field, sizeof field, where,
					 "approved_by"),
			      &g->approved_by);
	if (rc == 0 && v[GR_STARTS])
		rc = get_date(ld, v[GR_STARTS],
			      field_path(field, sizeof field, where, "starts"),
			      &g->starts_ns);
	if (rc == 0)
		rc = get_date(ld, v[GR_EXPIRES],
			      field_path(field, sizeof field, where, "expires"),
			      &g->expires_ns);
	if (rc)
		return rc;
	if (v[GR_STARTS] && g->expires_ns <= g->starts_ns)
		return fail_at(ld, v[GR_EXPIRES]->start_mark,
			       "%s: must be later than starts", field);
	if (g->expires_ns <= ld->now_ns) {
		const yaml_node_t *date = v[GR_EXPIRES];  /* a scalar by now */

		return fail_at(ld, date->start_mark,
			       "%s: grant of %s to %s expired on %s", field,
			       g->dataset, g->to,
			       snippet((const char *)date->data.scalar.value,
				       date->data.scalar.length, shown));
	}
	if (v[GR_HISTORY])
		rc = get_enum(ld, v[GR_HISTORY],
			      field_path(field, sizeof field, where, "history"),
			      history_names, COUNT(history_names), &history);
	if (rc)
		return rc;
	g->history = (gb_history)history;
	/* Without a fixed start, "since the grant" would move with every
	 * reload and silently hide records the consumer could read before. */
	if (g->history == GB_HISTORY_SINCE_GRANT && !v[GR_STARTS])
		return fail_at(ld, v[GR_HISTORY]->start_mark,
			       "%s: history since-grant needs a starts date",
			       field_path(field, sizeof field, where,
					  "history"));
	ld->grant_src[i] = (struct grant_src){v[GR_TO]};
	*dataset = g->dataset;
	*to = g->to;
	return 0;
}

/* Entry i of a pair index (grants, refusals): key "dataset\0to". */
static int pair_index_set(struct loader *ld, struct index *ix, size_t i,
			  const char *dataset, const char *to)
{
	char key[2 * GB_ID_MAX + 2];
	size_t len = grant_pair_key(key, dataset, to);
	const char *owned = registry_strndup(ld->reg, key, len);

	if (!owned)
		return fail_nomem(ld);
	ix->entries[i] = (struct index_entry){(const uint8_t *)owned, len, i};
	return 0;
}

/* Entry `i` of a grant or refusal list: fills it and names its pair. */
typedef int (*pair_entry_fn)(struct loader *ld, const yaml_node_t *node,
			     size_t i, const char **dataset, const char **to);

/* Parse the `n` entries of `list` (named `name`, each a `noun`) with
 * `parse`, counting them in *count and indexing their pairs in `ix`; a
 * second entry of a pair is refused at its `to` (src). */
static int parse_pair_list(struct loader *ld, const yaml_node_t *list,
			   size_t n, const char *name, const char *noun,
			   pair_entry_fn parse, size_t *count, struct index *ix,
			   const struct grant_src *src)
{
	size_t first = 0, dup;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const char *dataset, *to;

		rc = parse(ld, list_item(ld, list, i), i, &dataset, &to);
		if (rc)
			return rc;
		(*count)++;
		rc = pair_index_set(ld, ix, i, dataset, to);
		if (rc)
			return rc;
	}
	index_sort(ix);
	dup = index_first_duplicate(ix, &first);
	for (size_t k = 0; dup != SIZE_MAX && k < ix->count; k++) {
		/* the key is "dataset\0to" */
		const char *dataset = (const char *)ix->entries[k].key;

		if (ix->entries[k].pos != dup)
			continue;
		return fail_at(ld, src[dup].to->start_mark,
			       "%s[%zu].to: second %s of %s to %s (first is "
			       "%s[%zu]); at most one may exist",
			       name, dup, noun, dataset,
			       dataset + strlen(dataset) + 1, name, first);
	}
	return 0;
}

static int parse_grants(struct loader *ld, const yaml_node_t *list)
{
	gb_registry *reg = ld->reg;
	size_t n;
	int rc = get_list(ld, list, "grants", &n);

	if (rc)
		return rc;
	reg->grants = calloc(n ? n : 1, sizeof *reg->grants);
	ld->grant_src = calloc(n ? n : 1, sizeof *ld->grant_src);
	if (!reg->grants || !ld->grant_src ||
	    index_alloc(&reg->grants_by_pair, n) != 0)
		return fail_nomem(ld);
	return parse_pair_list(ld, list, n, "grants", "grant", parse_grant,
			       &reg->grant_count, &reg->grants_by_pair,
			       ld->grant_src);
}

/* ---------------------------------------------------------------------
 * Refusals (issue 7): access requests the admins turned down. Checked like
 * grants, and a pair may not be both granted and refused. */

enum { RF_DATASET, RF_TO, RF_REASON, RF_REFUSED_BY, RF_DATE, RF_FIELDS };
static const struct field refusal_fields[RF_FIELDS] = {
	[RF_DATASET] = {"dataset", true},
	[RF_TO] = {"to", true},
	[RF_REASON] = {"reason", true},
	[RF_REFUSED_BY] = {"refused_by", true},
	[RF_DATE] = {"date", true},
};

static int parse_refusal(struct loader *ld, const yaml_node_t *node,
			 size_t i, const char **dataset, const char **to)
{
	const yaml_node_t *v[RF_FIELDS];
	gb_refusal *r = &ld->reg->refusals[i];
	const gb_grant *g;
	char where[40], field[96];
	int rc;

	snprintf(where, sizeof where, "refusals[%zu]", i);
	rc = map_fields(ld, node, where, refusal_fields, RF_FIELDS, v);
	if (rc == 0)
		rc = parse_pair(ld, v[RF_DATASET], v[RF_TO], where, "refusal",
				&r->dataset, &r->to);
	if (rc)
		return rc;
	g = gb_registry_find_grant(ld->reg, r->dataset, r->to);
	if (g)
		return fail_at(ld, v[RF_TO]->start_mark,
			       "%s: %s to %s is both granted (grants[%zu]) and "
			       "refused; keep one of them",
			       field_path(field, sizeof field, where, "to"),
			       r->dataset, r->to,
			       (size_t)(g - ld->reg->grants));
	rc = get_text(ld, v[RF_REASON],
		      field_path(field, sizeof field, where, "reason"),
		      &r->reason);
	if (rc == 0)
		rc = get_text(ld, v[RF_REFUSED_BY],
			      field_path(field, sizeof field, where,
					 "refused_by"),
			      &r->refused_by);
	if (rc == 0)
		rc = get_date(ld, v[RF_DATE],
			      field_path(field, sizeof field, where, "date"),
			      &r->date_ns);
	if (rc)
		return rc;
	ld->refusal_src[i] = (struct grant_src){v[RF_TO]};
	*dataset = r->dataset;
	*to = r->to;
	return 0;
}

static int parse_refusals(struct loader *ld, const yaml_node_t *list)
{
	gb_registry *reg = ld->reg;
	size_t n;
	int rc = get_list(ld, list, "refusals", &n);

	if (rc)
		return rc;
	reg->refusals = calloc(n ? n : 1, sizeof *reg->refusals);
	ld->refusal_src = calloc(n ? n : 1, sizeof *ld->refusal_src);
	if (!reg->refusals || !ld->refusal_src ||
	    index_alloc(&reg->refusals_by_pair, n) != 0)
		return fail_nomem(ld);
	return parse_pair_list(ld, list, n, "refusals", "refusal",
			       parse_refusal, &reg->refusal_count,
			       &reg->refusals_by_pair, ld->refusal_src);
}

enum { TOP_BROKER, TOP_DEPARTMENTS, TOP_DATASETS, TOP_GRANTS,
       TOP_REFUSALS, /* issue 7 */
       TOP_SCHEMAS, /* issue 7B */
       TOP_FIELDS };
static const struct field top_fields[TOP_FIELDS] = {
	[TOP_BROKER] = {"broker", true},
	[TOP_DEPARTMENTS] = {"departments", true},
	[TOP_DATASETS] = {"datasets", false},
	[TOP_GRANTS] = {"grants", false},
	[TOP_REFUSALS] = {"refusals", false},
	[TOP_SCHEMAS] = {"schemas", false}, /* issue 7B */
};

_Static_assert(BROKER_FIELDS <= MAX_FIELDS && DEPT_FIELDS <= MAX_FIELDS &&
		       DS_FIELDS <= MAX_FIELDS && GR_FIELDS <= MAX_FIELDS &&
		       RF_FIELDS <= MAX_FIELDS && TOP_FIELDS <= MAX_FIELDS,
	       "map_fields() tracks at most MAX_FIELDS keys");

/* Sections are read in dependency order, whatever their order in the file:
 * datasets refer to departments, grants to both, refusals to all three. */
static int parse_root(struct loader *ld)
{
	const yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
	const yaml_node_t *v[TOP_FIELDS];
	yaml_mark_t start = {0, 0, 0};
	int rc;

	if (!root)
		return fail_at(ld, start, "empty configuration: broker and "
			       "departments are required");
	rc = map_fields(ld, root, "", top_fields, TOP_FIELDS, v);
	if (rc == 0)
		rc = parse_broker(ld, v[TOP_BROKER]);
	if (rc == 0)
		rc = parse_departments(ld, v[TOP_DEPARTMENTS]);
	if (rc == 0) /* issue 7B: datasets name types of these */
		rc = parse_schemas(ld, v[TOP_SCHEMAS]);
	if (rc == 0)
		rc = parse_datasets(ld, v[TOP_DATASETS]);
	if (rc == 0)
		rc = parse_grants(ld, v[TOP_GRANTS]);
	if (rc == 0)
		rc = parse_refusals(ld, v[TOP_REFUSALS]); /* issue 7 */
	return rc;
}

/* Set up `ld` for a load named `path`; GB_EINVAL without a path or output. */
static int loader_init(struct loader *ld, const char *path, int64_t now_ns,
		       gb_registry **out, gb_config_error *err,
		       gb_config_error *spare)
{
	memset(ld, 0, sizeof *ld);
	ld->err = err ? err : spare;
	memset(ld->err, 0, sizeof *ld->err);
	if (out)
		*out = NULL;
	if (!path || !out)
		return fail_file(ld, GB_EINVAL, "no config path or output");
	snprintf(ld->err->file, sizeof ld->err->file, "%s", path);
	ld->path = path;
	ld->now_ns = now_ns;
	if (sodium_init() < 0)
		return fail_file(ld, GB_ENOMEM, "libsodium failed to start");
	return 0;
}

/* Build the snapshot from the file's bytes. */
static int load_bytes(struct loader *ld, const unsigned char *buf, size_t len,
		      gb_registry **out)
{
	int rc;

	if (len > GB_CONFIG_MAX_BYTES)
		return fail_file(ld, GB_ETOOBIG, "larger than %u bytes",
				 (unsigned)GB_CONFIG_MAX_BYTES);
	rc = find_config_dir(ld);
	if (rc)
		return rc;
	ld->reg = calloc(1, sizeof *ld->reg);
	if (!ld->reg)
		return fail_nomem(ld);
	ld->reg->loaded_ns = ld->now_ns;
	crypto_generichash(ld->reg->hash, sizeof ld->reg->hash, buf, len, NULL, 0);
	ld->reg->source = malloc(len ? len : 1);
	if (!ld->reg->source)
		return fail_nomem(ld);
	memcpy(ld->reg->source, buf, len);
	ld->reg->source_len = len;
	rc = screen_events(ld, buf, len);
	if (rc == 0)
		rc = load_document(ld, buf, len);
	if (rc == 0)
		rc = parse_root(ld);
	if (rc)
		return rc;
	*out = ld->reg;
	ld->reg = NULL;
	return 0;
}

static void loader_free(struct loader *ld)
{
	if (ld->have_doc)
		yaml_document_delete(&ld->doc);
	free(ld->department_src);
	free(ld->dataset_src);
	free(ld->grant_src);
	free(ld->refusal_src); /* issue 7 */
	gb_schema_destroy(&ld->schema); /* issue 7B */
	free(ld->config_dir);
	gb_registry_destroy(&ld->reg);
}

int gb_config_load(const char *path, int64_t now_ns, gb_registry **out,
		   gb_config_error *err)
{
	gb_config_error spare;
	struct loader ld;
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = loader_init(&ld, path, now_ns, out, err, &spare);
	if (rc == 0)
		rc = read_config_file(&ld, &buf, &len);
	if (rc == 0)
		rc = load_bytes(&ld, buf, len, out);
	loader_free(&ld);
	free(buf);
	return rc;
}

int gb_config_load_buffer(const char *name, const uint8_t *bytes, size_t len,
			  int64_t now_ns, gb_registry **out,
			  gb_config_error *err)
{
	gb_config_error spare;
	struct loader ld;
	int rc;

	rc = loader_init(&ld, name, now_ns, out, err, &spare);
	if (rc == 0 && !bytes && len)
		rc = fail_file(&ld, GB_EINVAL, "no bytes");
	if (rc == 0)
		rc = load_bytes(&ld, bytes ? bytes : (const uint8_t *)"", len,
				out);
	loader_free(&ld);
	return rc;
}
