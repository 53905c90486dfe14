/* govbus YAML walker: one hand-edited YAML file into checked values.
 *
 * Both config files (the broker's registry, config/gb_config.h, and the
 * agent's, agent/gb_agent_config.c) are read through this: the file read
 * bounded, its events screened (no anchors, aliases, second documents or
 * deep nesting), one document loaded by libyaml, then each value taken
 * from its node by a function that checks it and, when it is wrong,
 * records "file:line:col: field: what is wrong" and returns GB_ECONFIG.
 * The first error wins; callers stop at the first non-zero return.
 *
 * Text handed out (gb_yaml_scalar, _id, _text, _day) points into the
 * document: valid until gb_yaml_destroy; copy what must outlive it. */
#ifndef GB_YAML_H
#define GB_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

/* Where and why reading a file failed. `message` names the field. */
typedef struct gb_yaml_error {
	char file[256];
	unsigned line;                  /* 1-based, 0 when not tied to a place */
	unsigned col;                   /* 1-based */
	char message[512];
} gb_yaml_error;

/* Format err as "file:line:col: message" (or "file: message" when it is
 * not tied to a place) into buf. */
void gb_yaml_error_format(const gb_yaml_error *err, char *buf, size_t len);

#define GB_YAML_MAX_DEPTH 16       /* nesting refused while screening */
#define GB_YAML_MAX_FIELDS 16      /* keys one gb_yaml_map_fields call knows */
#define GB_YAML_SNIPPET_SIZE (64 + 4) /* what a message quotes of a value */

typedef struct gb_yaml gb_yaml;

/* A walker for the file `name` (NULL: unnamed), which errors carry. *err
 * is cleared and receives every error, including "out of memory" when
 * this fails with GB_ENOMEM; it must outlive the walker. */
int gb_yaml_new(const char *name, gb_yaml_error *err, gb_yaml **out);

/* Free a walker and its document; accepts NULL and sets *w to NULL. */
void gb_yaml_destroy(gb_yaml **w);

/* Read the file `name`: a regular file of at most max_bytes, read whole.
 * *out is malloc'd (free it). GB_EIO (cannot open, not a regular file,
 * changed while read), GB_ETOOBIG or GB_ENOMEM, each recorded. */
int gb_yaml_read_file(gb_yaml *w, size_t max_bytes, uint8_t **out,
		      size_t *len);

/* The folder holding `name` as written: "." when it has no slash. *out is
 * malloc'd (free it). */
int gb_yaml_folder(gb_yaml *w, char **out);

/* Screen bytes[0..len) and load its one document (GB_ECONFIG for bad YAML,
 * an anchor or alias, a second document or nesting deeper than
 * GB_YAML_MAX_DEPTH). Once per walker. */
int gb_yaml_load(gb_yaml *w, const uint8_t *bytes, size_t len);

/* The loaded document's root node; NULL when the document is empty. */
const yaml_node_t *gb_yaml_root(gb_yaml *w);

/* The node at `index` of the document (a mapping pair's key or value). */
const yaml_node_t *gb_yaml_node(gb_yaml *w, int index);

/* Record an error at `node` (at the start of the file when NULL); returns
 * GB_ECONFIG. */
int gb_yaml_fail(gb_yaml *w, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record an error not tied to a place in the file; returns rc. */
int gb_yaml_fail_file(gb_yaml *w, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record "out of memory"; returns GB_ENOMEM. */
int gb_yaml_nomem(gb_yaml *w);

/* One key of a mapping. */
typedef struct gb_yaml_field {
	const char *name;
	bool required;
} gb_yaml_field;

/* Check that `map` is a mapping whose keys all appear in `fields` (at most
 * GB_YAML_MAX_FIELDS), each at most once, with every required one; put
 * each field's value node in values[] (NULL when absent or written as
 * null: "", ~ or null). `where` names the mapping in messages ("broker",
 * "grants[2]"); "" is the top level. */
int gb_yaml_map_fields(gb_yaml *w, const yaml_node_t *map, const char *where,
		       const gb_yaml_field *fields, size_t nfields,
		       const yaml_node_t **values);

/* A list (or NULL, meaning none): *count is its length. */
int gb_yaml_list(gb_yaml *w, const yaml_node_t *node, const char *field,
		 size_t *count);
/* Item i of a list gb_yaml_list counted. */
const yaml_node_t *gb_yaml_list_item(gb_yaml *w, const yaml_node_t *list,
				     size_t i);

/* Each check below names `field` in its message and sets its outputs only
 * on success, except gb_yaml_scalar, which sets *text to "" first. */

/* A single value (not a list or mapping) without NUL characters. */
int gb_yaml_scalar(gb_yaml *w, const yaml_node_t *node, const char *field,
		   const char **text, size_t *len);
/* An id: 1..GB_MAX_ID_LEN of a-z 0-9 . _ -, starting with a letter. */
int gb_yaml_id(gb_yaml *w, const yaml_node_t *node, const char *field,
	       const char **text);
/* Free text: 1..GB_MAX_TEXT_LEN bytes of UTF-8 without control
 * characters. */
int gb_yaml_text(gb_yaml *w, const yaml_node_t *node, const char *field,
		 const char **text);
/* One of names[0..n): *index is its position. */
int gb_yaml_enum(gb_yaml *w, const yaml_node_t *node, const char *field,
		 const char *const *names, size_t n, int *index);
/* A size in bytes: decimal digits, no sign, no suffix. */
int gb_yaml_size(gb_yaml *w, const yaml_node_t *node, const char *field,
		 uint64_t *out);
/* A whole number from min to max. */
int gb_yaml_count(gb_yaml *w, const yaml_node_t *node, const char *field,
		  uint64_t min, uint64_t max, uint64_t *out);
/* YYYY-MM-DD (UTC midnight) or YYYY-MM-DDTHH:MM:SSZ, a real day from 1970
 * to 2261, as nanoseconds since the epoch. */
int gb_yaml_date(gb_yaml *w, const yaml_node_t *node, const char *field,
		 int64_t *ns);
/* A day, YYYY-MM-DD, checked like gb_yaml_date and kept as text. */
int gb_yaml_day(gb_yaml *w, const yaml_node_t *node, const char *field,
		const char **text);
/* A path (free text): as given when absolute or when `dir` is "." (the
 * current folder), else joined to `dir`, at most PATH_MAX bytes in all.
 * *out is malloc'd (free it). */
int gb_yaml_path(gb_yaml *w, const yaml_node_t *node, const char *field,
		 const char *dir, char **out);

/* "where.name", or "name" when where is "" (the top level). */
const char *gb_yaml_field_path(char *buf, size_t size, const char *where,
			       const char *name);

/* s[0..len) made printable and cut to what a message quotes. */
const char *gb_yaml_snippet(const char *s, size_t len,
			    char out[GB_YAML_SNIPPET_SIZE]);

#endif
