/* Building a gb_registry: the loader's side of the snapshot, shared by
 * gb_registry.c and the config loader (gb_config.c, gb_config_sections.c).
 * Not for callers: a snapshot handed out by gb_config_load never changes.
 *
 * The loader creates a snapshot over the config's bytes, allocates each
 * array once and fills its entries with strings the snapshot owns, then
 * indexes the array; indexing reports the first entry that repeats an
 * earlier one (an id, a key, a (dataset, to) pair) so the loader can name
 * its place in the file. */
#ifndef GB_REGISTRY_INTERNAL_H
#define GB_REGISTRY_INTERNAL_H

#include "gb_registry.h"

/* The config's word for each value of an enum, indexed by the value: what
 * the loader accepts and gb_*_name() prints. */
extern const char *const gb_role_names[GB_ROLE_AUDITOR + 1];
extern const char *const gb_sharing_names[GB_SHARING_CLOSED + 1];
extern const char *const gb_classification_names[GB_CLASS_CONFIDENTIAL + 1];
extern const char *const gb_audit_access_names[GB_AUDIT_CONTENT + 1];
extern const char *const gb_history_names[GB_HISTORY_NONE + 1];
/* Name i is the right GB_RIGHT_* == 1u << i. */
extern const char *const gb_right_names[2];

#define GB_NAMES_COUNT(names) (sizeof(names) / sizeof((names)[0]))

/* A new snapshot of a config loaded at loaded_ns from source[0..len),
 * which it copies and hashes. GB_ENOMEM. */
int gb_registry_new(const uint8_t *source, size_t len, int64_t loaded_ns,
		    gb_registry **out);

/* A NUL-terminated copy of s[0..len) the snapshot owns; NULL when out of
 * memory. */
const char *gb_registry_strndup(gb_registry *reg, const char *s, size_t len);
/* Take ownership of the malloc'd string s (freed with the snapshot); NULL,
 * and s freed, when out of memory. */
const char *gb_registry_adopt(gb_registry *reg, char *s);

void gb_registry_set_broker(gb_registry *reg, const gb_broker_settings *b);

/* The snapshot's array of n zeroed entries, to fill in; once per kind.
 * NULL when out of memory. */
gb_department *gb_registry_new_departments(gb_registry *reg, size_t n);
gb_dataset *gb_registry_new_datasets(gb_registry *reg, size_t n);
gb_grant *gb_registry_new_grants(gb_registry *reg, size_t n);
gb_refusal *gb_registry_new_refusals(gb_registry *reg, size_t n);

/* Append a descriptor set file's bytes; takes ownership of `bytes` (freed
 * here on failure). GB_ENOMEM. */
int gb_registry_add_descriptor_set(gb_registry *reg, uint8_t *bytes,
				   size_t len);

/* What indexing found repeated: entry `at` has what entry `first` (an
 * earlier one) has. */
typedef enum {
	GB_CLASH_NONE = 0,
	GB_CLASH_ID,            /* department or dataset id */
	GB_CLASH_SIGN_KEY,      /* department signing key */
	GB_CLASH_BOX_KEY,       /* department box key */
	GB_CLASH_PAIR,          /* grant or refusal (dataset, to) */
} gb_registry_clash_kind;

typedef struct gb_registry_clash {
	gb_registry_clash_kind kind;
	size_t at;
	size_t first;
} gb_registry_clash;

/* Index the filled array for the lookups. The first clash in file order is
 * put in *clash (kind GB_CLASH_NONE when there is none); for departments an
 * id clash comes before a signing key clash, before a box key clash.
 * Returns 0, or GB_ENOMEM. */
int gb_registry_index_departments(gb_registry *reg, gb_registry_clash *clash);
int gb_registry_index_datasets(gb_registry *reg, gb_registry_clash *clash);
int gb_registry_index_grants(gb_registry *reg, gb_registry_clash *clash);
int gb_registry_index_refusals(gb_registry *reg, gb_registry_clash *clash);

#endif
