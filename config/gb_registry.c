/* govbus registry: the immutable snapshot a config loads into, its
 * indexes and lookups (gb_registry.h), and the loader's side that builds
 * one (gb_registry_internal.h).
 *
 * Every lookup and every duplicate check goes through one mechanism: a
 * sorted index of (key bytes, position) built once the loader has filled
 * an array. Lookups take caller strings of any length; they never match a
 * key longer than a registered id could be. The snapshot owns copies of
 * all its strings and is not changed after load. */
#include "gb_registry_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gb_error.h"

/* ---------------------------------------------------------------------
 * Sorted indexes. Entries are ordered by key bytes, then by position in
 * the file, so the members of a run of equal keys come out in file
 * order. */

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

/* Sort `ix` and put its first repeat, if any, in *clash as `kind`; true
 * when there is one. */
static bool index_sort_clash(struct index *ix, gb_registry_clash_kind kind,
			     gb_registry_clash *clash)
{
	size_t first = 0, dup;

	index_sort(ix);
	dup = index_first_duplicate(ix, &first);
	if (dup == SIZE_MAX)
		return false;
	*clash = (gb_registry_clash){kind, dup, first};
	return true;
}

/* ---------------------------------------------------------------------
 * The snapshot. */

struct gb_registry {
	gb_broker_settings broker;
	uint8_t hash[crypto_generichash_BYTES];
	int64_t loaded_ns;
	uint8_t *source;                 /* the bytes hashed */
	size_t source_len;

	gb_department *departments;
	size_t department_count;
	gb_dataset *datasets;
	size_t dataset_count;
	gb_grant *grants;
	size_t grant_count;
	gb_refusal *refusals;
	size_t refusal_count;

	struct index departments_by_id;
	struct index departments_by_box_key;
	struct index datasets_by_id;
	struct index grants_by_pair;     /* key: "dataset\0to" */
	struct index refusals_by_pair;   /* key: "dataset\0to" */

	/* descriptor set files, as read */
	uint8_t **descriptor_sets;
	size_t *descriptor_set_lens;
	size_t descriptor_set_count;

	/* Every string the snapshot owns, freed together. */
	char **strings;
	size_t string_count;
	size_t string_cap;
};

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
	free(r->refusals);
	free(r->departments_by_id.entries);
	free(r->departments_by_box_key.entries);
	free(r->datasets_by_id.entries);
	free(r->grants_by_pair.entries);
	free(r->refusals_by_pair.entries);
	for (size_t i = 0; i < r->descriptor_set_count; i++)
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

size_t gb_registry_refusal_count(const gb_registry *reg)
{
	return reg->refusal_count;
}

const gb_refusal *gb_registry_refusal_at(const gb_registry *reg, size_t i)
{
	return i < reg->refusal_count ? &reg->refusals[i] : NULL;
}

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

/* ---------------------------------------------------------------------
 * Lookups. */

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

/* The pair index key "dataset\0to" in buf; 0 when an id is too long to
 * be registered (so nothing can match). */
static size_t pair_key(char buf[2 * GB_ID_MAX + 2], const char *dataset,
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
	len = pair_key(key, dataset, dept);
	return len == 0 ? SIZE_MAX : index_find(ix, key, len);
}

const gb_grant *gb_registry_find_grant(const gb_registry *reg,
				       const char *dataset, const char *dept)
{
	size_t pos = reg ? pair_find(&reg->grants_by_pair, dataset, dept)
			 : SIZE_MAX;

	return pos == SIZE_MAX ? NULL : &reg->grants[pos];
}

const gb_refusal *gb_registry_find_refusal(const gb_registry *reg,
					   const char *dataset,
					   const char *dept)
{
	size_t pos = reg ? pair_find(&reg->refusals_by_pair, dataset, dept)
			 : SIZE_MAX;

	return pos == SIZE_MAX ? NULL : &reg->refusals[pos];
}

/* ---------------------------------------------------------------------
 * Names: the same tables the loader reads values with. */

const char *const gb_role_names[] = {"department", "auditor"};
const char *const gb_sharing_names[] = {"open", "conditional", "closed"};
const char *const gb_classification_names[] = {"public", "internal",
					       "confidential"};
const char *const gb_audit_access_names[] = {"metadata", "content"};
const char *const gb_history_names[] = {"all", "since-grant", "none"};
const char *const gb_right_names[] = {"subscribe", "replay"};

static const char *name_of(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : "unknown";
}

const char *gb_role_name(gb_role role)
{
	return name_of(gb_role_names, GB_NAMES_COUNT(gb_role_names),
		       (int)role);
}

const char *gb_sharing_name(gb_sharing sharing)
{
	return name_of(gb_sharing_names, GB_NAMES_COUNT(gb_sharing_names),
		       (int)sharing);
}

const char *gb_classification_name(gb_classification classification)
{
	return name_of(gb_classification_names,
		       GB_NAMES_COUNT(gb_classification_names),
		       (int)classification);
}

const char *gb_audit_access_name(gb_audit_access access)
{
	return name_of(gb_audit_access_names,
		       GB_NAMES_COUNT(gb_audit_access_names), (int)access);
}

const char *gb_history_name(gb_history history)
{
	return name_of(gb_history_names, GB_NAMES_COUNT(gb_history_names),
		       (int)history);
}

const char *gb_rights_text(unsigned rights, char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < GB_NAMES_COUNT(gb_right_names) && used < len;
	     i++) {
		int w;

		if (!(rights & (1u << i)))
			continue;
		w = snprintf(buf + used, len - used, "%s%s", used ? "," : "",
			     gb_right_names[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	return buf;
}

/* ---------------------------------------------------------------------
 * Building a snapshot (gb_registry_internal.h). */

int gb_registry_new(const uint8_t *source, size_t len, int64_t loaded_ns,
		    gb_registry **out)
{
	gb_registry *reg = calloc(1, sizeof *reg);

	*out = NULL;
	if (!reg)
		return GB_ENOMEM;
	reg->source = malloc(len ? len : 1);
	if (!reg->source) {
		free(reg);
		return GB_ENOMEM;
	}
	if (len)
		memcpy(reg->source, source, len);
	reg->source_len = len;
	reg->loaded_ns = loaded_ns;
	crypto_generichash(reg->hash, sizeof reg->hash, source, len, NULL, 0);
	*out = reg;
	return 0;
}

const char *gb_registry_adopt(gb_registry *reg, char *s)
{
	if (!s)
		return NULL;
	if (reg->string_count == reg->string_cap) {
		size_t cap = reg->string_cap ? reg->string_cap * 2 : 64;
		char **grown = realloc(reg->strings, cap * sizeof *grown);

		if (!grown) {
			free(s);
			return NULL;
		}
		reg->strings = grown;
		reg->string_cap = cap;
	}
	reg->strings[reg->string_count++] = s;
	return s;
}

const char *gb_registry_strndup(gb_registry *reg, const char *s, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	return gb_registry_adopt(reg, copy);
}

void gb_registry_set_broker(gb_registry *reg, const gb_broker_settings *b)
{
	reg->broker = *b;
}

/* calloc that never asks for 0 bytes (a NULL from it is then only an
 * out-of-memory). */
static void *alloc_entries(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

gb_department *gb_registry_new_departments(gb_registry *reg, size_t n)
{
	reg->departments = alloc_entries(n, sizeof *reg->departments);
	reg->department_count = reg->departments ? n : 0;
	return reg->departments;
}

gb_dataset *gb_registry_new_datasets(gb_registry *reg, size_t n)
{
	reg->datasets = alloc_entries(n, sizeof *reg->datasets);
	reg->dataset_count = reg->datasets ? n : 0;
	return reg->datasets;
}

gb_grant *gb_registry_new_grants(gb_registry *reg, size_t n)
{
	reg->grants = alloc_entries(n, sizeof *reg->grants);
	reg->grant_count = reg->grants ? n : 0;
	return reg->grants;
}

gb_refusal *gb_registry_new_refusals(gb_registry *reg, size_t n)
{
	reg->refusals = alloc_entries(n, sizeof *reg->refusals);
	reg->refusal_count = reg->refusals ? n : 0;
	return reg->refusals;
}

int gb_registry_add_descriptor_set(gb_registry *reg, uint8_t *bytes,
				   size_t len)
{
	size_t n = reg->descriptor_set_count + 1;
	uint8_t **sets = realloc(reg->descriptor_sets, n * sizeof *sets);
	size_t *lens;

	if (sets)
		reg->descriptor_sets = sets;
	lens = sets ? realloc(reg->descriptor_set_lens, n * sizeof *lens)
		    : NULL;
	if (!lens) {
		free(bytes);
		return GB_ENOMEM;
	}
	reg->descriptor_set_lens = lens;
	sets[n - 1] = bytes;
	lens[n - 1] = len;
	reg->descriptor_set_count = n;
	return 0;
}

/* The signing key index is built only to find a repeated key. */
int gb_registry_index_departments(gb_registry *reg, gb_registry_clash *clash)
{
	struct index by_sign = {NULL, 0};
	size_t n = reg->department_count;
	int rc;

	*clash = (gb_registry_clash){GB_CLASH_NONE, 0, 0};
	rc = index_alloc(&reg->departments_by_id, n);
	if (rc == 0)
		rc = index_alloc(&reg->departments_by_box_key, n);
	if (rc == 0)
		rc = index_alloc(&by_sign, n);
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const gb_department *d = &reg->departments[i];

		reg->departments_by_id.entries[i] = (struct index_entry){
			(const uint8_t *)d->id, strlen(d->id), i};
		reg->departments_by_box_key.entries[i] =
			(struct index_entry){d->box_pk, GB_KEY_BYTES, i};
		by_sign.entries[i] =
			(struct index_entry){d->sign_pk, GB_KEY_BYTES, i};
	}
	if (!index_sort_clash(&reg->departments_by_id, GB_CLASH_ID, clash) &&
	    !index_sort_clash(&by_sign, GB_CLASH_SIGN_KEY, clash))
		index_sort_clash(&reg->departments_by_box_key,
				 GB_CLASH_BOX_KEY, clash);
out:
	free(by_sign.entries);
	return rc;
}

int gb_registry_index_datasets(gb_registry *reg, gb_registry_clash *clash)
{
	size_t n = reg->dataset_count;
	int rc = index_alloc(&reg->datasets_by_id, n);

	*clash = (gb_registry_clash){GB_CLASH_NONE, 0, 0};
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		reg->datasets_by_id.entries[i] = (struct index_entry){
			(const uint8_t *)reg->datasets[i].id,
			strlen(reg->datasets[i].id), i};
	index_sort_clash(&reg->datasets_by_id, GB_CLASH_ID, clash);
	return 0;
}

/* The (dataset, to) pair of entry i of the grants or the refusals. */
struct pair {
	const char *dataset;
	const char *to;
};
typedef struct pair (*pair_at_fn)(const gb_registry *reg, size_t i);

static struct pair grant_pair(const gb_registry *reg, size_t i)
{
	return (struct pair){reg->grants[i].dataset, reg->grants[i].to};
}

static struct pair refusal_pair(const gb_registry *reg, size_t i)
{
	return (struct pair){reg->refusals[i].dataset, reg->refusals[i].to};
}

/* Index `n` pairs by "dataset\0to" keys the snapshot owns. */
static int index_pairs(gb_registry *reg, struct index *ix, size_t n,
		       pair_at_fn pair_at, gb_registry_clash *clash)
{
	*clash = (gb_registry_clash){GB_CLASH_NONE, 0, 0};
	if (index_alloc(ix, n) != 0)
		return GB_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct pair p = pair_at(reg, i);
		char key[2 * GB_ID_MAX + 2];
		size_t len = pair_key(key, p.dataset, p.to);
		const char *owned = gb_registry_strndup(reg, key, len);

		if (!owned)
			return GB_ENOMEM;
		ix->entries[i] = (struct index_entry){(const uint8_t *)owned,
						      len, i};
	}
	index_sort_clash(ix, GB_CLASH_PAIR, clash);
	return 0;
}

int gb_registry_index_grants(gb_registry *reg, gb_registry_clash *clash)
{
	return index_pairs(reg, &reg->grants_by_pair, reg->grant_count,
			   grant_pair, clash);
}

int gb_registry_index_refusals(gb_registry *reg, gb_registry_clash *clash)
{
	return index_pairs(reg, &reg->refusals_by_pair, reg->refusal_count,
			   refusal_pair, clash);
}
