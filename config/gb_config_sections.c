/* The sections of the broker's config file, checked into a registry
 * snapshot: broker settings, departments, descriptor sets (`schemas:`),
 * datasets with their catalog metadata and schema, grants and refusals.
 *
 * Trust: every value comes from the hand-edited file and is taken through
 * the YAML walker (gb_yaml.h), which checks it and names its place. This
 * file adds what ties the sections together — references between them,
 * duplicates, keys that decode, grants that have not expired at the
 * caller's load time — each refused at the place in the file it concerns.
 * Sections are read in dependency order, whatever their order in the file.
 * Every string the snapshot keeps is copied into it. */
#include "gb_config_sections.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"
#include "gb_keys.h"
#include "gb_registry_internal.h"
#include "gb_schema.h"

struct loader {
	gb_yaml *yaml;
	gb_registry *reg;
	const char *config_dir;       /* absolute folder of the config file */
	int64_t now_ns;
	gb_department *departments;   /* the snapshot's arrays, being filled */
	gb_dataset *datasets;
	gb_grant *grants;
	gb_refusal *refusals;
	gb_schema *schema;            /* from schemas:, for datasets' schema: */
};

/* ---------------------------------------------------------------------
 * Values the snapshot keeps: checked by the walker, then copied. */

/* *out: a copy of `text` the snapshot owns. */
static int keep(struct loader *ld, const char *text, const char **out)
{
	*out = gb_registry_strndup(ld->reg, text, strlen(text));
	return *out ? 0 : gb_yaml_nomem(ld->yaml);
}

static int get_id(struct loader *ld, const yaml_node_t *node,
		  const char *field, const char **out)
{
	const char *text;
	int rc = gb_yaml_id(ld->yaml, node, field, &text);

	return rc ? rc : keep(ld, text, out);
}

static int get_text(struct loader *ld, const yaml_node_t *node,
		    const char *field, const char **out)
{
	const char *text;
	int rc = gb_yaml_text(ld->yaml, node, field, &text);

	return rc ? rc : keep(ld, text, out);
}

static int get_day(struct loader *ld, const yaml_node_t *node,
		   const char *field, const char **out)
{
	const char *text;
	int rc = gb_yaml_day(ld->yaml, node, field, &text);

	return rc ? rc : keep(ld, text, out);
}

/* A path resolved against the config's folder. */
static int get_path(struct loader *ld, const yaml_node_t *node,
		    const char *field, const char **out)
{
	char *path;
	int rc = gb_yaml_path(ld->yaml, node, field, ld->config_dir, &path);

	if (rc)
		return rc;
	*out = gb_registry_adopt(ld->reg, path);
	return *out ? 0 : gb_yaml_nomem(ld->yaml);
}

/* ---------------------------------------------------------------------
 * broker: */

enum { BROKER_LISTEN, BROKER_DATA_DIR, BROKER_KEY, BROKER_MAP_SIZE,
       BROKER_CHECKPOINT_BATCHES, BROKER_CHECKPOINT_SECONDS,
       BROKER_DEDUPE_SECONDS, BROKER_FIELDS };
static const gb_yaml_field broker_fields[BROKER_FIELDS] = {
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
	gb_broker_settings b = {
		.checkpoint_batches = GB_CHECKPOINT_BATCHES_DEFAULT,
		.checkpoint_seconds = GB_CHECKPOINT_SECONDS_DEFAULT,
		.dedupe_seconds = GB_DEDUPE_SECONDS_DEFAULT,
	};
	const char *listen;
	int rc = gb_yaml_map_fields(ld->yaml, node, "broker", broker_fields,
				    BROKER_FIELDS, v);

	if (rc)
		return rc;
	rc = gb_yaml_text(ld->yaml, v[BROKER_LISTEN], "broker.listen",
			  &listen);
	if (rc)
		return rc;
	if (!strstr(listen, "://"))
		return gb_yaml_fail(ld->yaml, v[BROKER_LISTEN],
				    "broker.listen: not a ZeroMQ endpoint "
				    "(e.g. tcp://127.0.0.1:7780)");
	rc = keep(ld, listen, &b.listen);
	if (rc == 0)
		rc = get_path(ld, v[BROKER_DATA_DIR], "broker.data_dir",
			      &b.data_dir);
	if (rc == 0)
		rc = get_path(ld, v[BROKER_KEY], "broker.key", &b.key);
	if (rc == 0 && v[BROKER_MAP_SIZE])
		rc = gb_yaml_size(ld->yaml, v[BROKER_MAP_SIZE],
				  "broker.map_size", &b.map_size);
	if (rc == 0 && v[BROKER_CHECKPOINT_BATCHES])
		rc = gb_yaml_count(ld->yaml, v[BROKER_CHECKPOINT_BATCHES],
				   "broker.checkpoint_batches", 1,
				   GB_CHECKPOINT_BATCHES_MAX,
				   &b.checkpoint_batches);
	if (rc == 0 && v[BROKER_CHECKPOINT_SECONDS])
		rc = gb_yaml_count(ld->yaml, v[BROKER_CHECKPOINT_SECONDS],
				   "broker.checkpoint_seconds", 1,
				   GB_CHECKPOINT_SECONDS_MAX,
				   &b.checkpoint_seconds);
	if (rc == 0 && v[BROKER_DEDUPE_SECONDS])
		rc = gb_yaml_count(ld->yaml, v[BROKER_DEDUPE_SECONDS],
				   "broker.dedupe_seconds", 0,
				   GB_DEDUPE_SECONDS_MAX, &b.dedupe_seconds);
	if (rc == 0)
		gb_registry_set_broker(ld->reg, &b);
	return rc;
}

/* ---------------------------------------------------------------------
 * departments: */

enum { DEPT_ID, DEPT_NAME, DEPT_ROLE, DEPT_SIGN_KEY, DEPT_BOX_KEY,
       DEPT_FIELDS };
static const gb_yaml_field department_fields[DEPT_FIELDS] = {
	[DEPT_ID] = {"id", true},
	[DEPT_NAME] = {"name", true},
	[DEPT_ROLE] = {"role", false},
	[DEPT_SIGN_KEY] = {"sign_key", true},
	[DEPT_BOX_KEY] = {"box_key", true},
};

/* Where a department came from, for errors found once all are parsed. */
struct department_src {
	const yaml_node_t *id, *sign_key, *box_key;
};

static int parse_department(struct loader *ld, const yaml_node_t *node,
			    size_t i, struct department_src *src)
{
	const yaml_node_t *v[DEPT_FIELDS];
	gb_department *d = &ld->departments[i];
	char where[40], field[96];
	const char *text;
	size_t len;
	int role = GB_ROLE_DEPARTMENT, rc;

	snprintf(where, sizeof where, "departments[%zu]", i);
	rc = gb_yaml_map_fields(ld->yaml, node, where, department_fields,
				DEPT_FIELDS, v);
	if (rc == 0)
		rc = get_id(ld, v[DEPT_ID],
			    gb_yaml_field_path(field, sizeof field, where,
					       "id"),
			    &d->id);
	if (rc == 0)
		rc = get_text(ld, v[DEPT_NAME],
			      gb_yaml_field_path(field, sizeof field, where,
						 "name"),
			      &d->name);
	if (rc == 0 && v[DEPT_ROLE])
		rc = gb_yaml_enum(ld->yaml, v[DEPT_ROLE],
				  gb_yaml_field_path(field, sizeof field,
						     where, "role"),
				  gb_role_names, GB_NAMES_COUNT(gb_role_names),
				  &role);
	if (rc)
		return rc;
	d->role = (gb_role)role;

	gb_yaml_field_path(field, sizeof field, where, "sign_key");
	rc = gb_yaml_scalar(ld->yaml, v[DEPT_SIGN_KEY], field, &text, &len);
	if (rc)
		return rc;
	if (gb_key_decode_sign(text, d->sign_pk) != 0)
		return gb_yaml_fail(ld->yaml, v[DEPT_SIGN_KEY],
				    "%s: not a base64 Ed25519 public key (32 "
				    "bytes)", field);
	gb_yaml_field_path(field, sizeof field, where, "box_key");
	rc = gb_yaml_scalar(ld->yaml, v[DEPT_BOX_KEY], field, &text, &len);
	if (rc)
		return rc;
	if (gb_key_decode_box(text, d->box_pk) != 0)
		return gb_yaml_fail(ld->yaml, v[DEPT_BOX_KEY],
				    "%s: not a Z85 X25519 public key (32 bytes)",
				    field);
	*src = (struct department_src){v[DEPT_ID], v[DEPT_SIGN_KEY],
				       v[DEPT_BOX_KEY]};
	return 0;
}

/* Departments may share neither an id nor a key: a shared box key would
 * make ZAP identify two departments as one, a shared signing key would let
 * one sign as the other. The repeat is refused where it stands. */
static int index_departments(struct loader *ld,
			     const struct department_src *src)
{
	gb_registry_clash clash;
	const gb_department *d = ld->departments;

	if (gb_registry_index_departments(ld->reg, &clash) != 0)
		return gb_yaml_nomem(ld->yaml);
	switch (clash.kind) {
	case GB_CLASH_ID:
		return gb_yaml_fail(ld->yaml, src[clash.at].id,
				    "departments[%zu].id: duplicate department "
				    "id \"%s\" (first at line %zu)",
				    clash.at, d[clash.at].id,
				    src[clash.first].id->start_mark.line + 1);
	case GB_CLASH_SIGN_KEY:
		return gb_yaml_fail(ld->yaml, src[clash.at].sign_key,
				    "departments[%zu].sign_key: same key as "
				    "department \"%s\"",
				    clash.at, d[clash.first].id);
	case GB_CLASH_BOX_KEY:
		return gb_yaml_fail(ld->yaml, src[clash.at].box_key,
				    "departments[%zu].box_key: same key as "
				    "department \"%s\"",
				    clash.at, d[clash.first].id);
	default:
		return 0;
	}
}

static int parse_departments(struct loader *ld, const yaml_node_t *list)
{
	struct department_src *src = NULL;
	size_t n;
	int rc = gb_yaml_list(ld->yaml, list, "departments", &n);

	if (rc)
		return rc;
	if (n == 0)
		return gb_yaml_fail(ld->yaml, list,
				    "departments: at least one department is "
				    "required");
	ld->departments = gb_registry_new_departments(ld->reg, n);
	src = calloc(n, sizeof *src);
	if (!ld->departments || !src) {
		rc = gb_yaml_nomem(ld->yaml);
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = parse_department(ld, gb_yaml_list_item(ld->yaml, list, i),
				      i, &src[i]);
	if (rc == 0)
		rc = index_departments(ld, src);
out:
	free(src);
	return rc;
}

/* ---------------------------------------------------------------------
 * schemas: descriptor set files, and the message type of each dataset. */

/* `schemas:`, a list of descriptor set files (protoc --descriptor_set_out
 * --include_imports) relative to the config's folder. Each is read bounded
 * and loaded on its own, so an error points at its line, then all are
 * linked together; the registry keeps their bytes for the catalog. */
static int parse_schemas(struct loader *ld, const yaml_node_t *list)
{
	gb_schema_set *sets = NULL;
	char item[40], why[512];
	size_t n;
	int rc = gb_yaml_list(ld->yaml, list, "schemas", &n);

	if (rc || n == 0)
		return rc;
	if (n > GB_SCHEMA_MAX_SETS)
		return gb_yaml_fail(ld->yaml, list,
				    "schemas: more than %d descriptor sets",
				    GB_SCHEMA_MAX_SETS);
	sets = calloc(n, sizeof *sets);
	if (!sets)
		return gb_yaml_nomem(ld->yaml);
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *it = gb_yaml_list_item(ld->yaml, list, i);
		gb_schema *one = NULL;
		uint8_t *bytes = NULL;
		size_t len = 0;
		char *path;

		snprintf(item, sizeof item, "schemas[%zu]", i);
		rc = gb_yaml_path(ld->yaml, it, item, ld->config_dir, &path);
		if (rc)
			goto out;
		rc = gb_schema_read_file(path, &bytes, &len, why, sizeof why);
		free(path);
		if (rc == 0 && gb_registry_add_descriptor_set(ld->reg, bytes,
							      len) != 0)
			rc = GB_ENOMEM;
		if (rc == 0) {
			/* the registry now owns the bytes */
			sets[i] = (gb_schema_set){
				(const char *)it->data.scalar.value, bytes, len};
			rc = gb_schema_load(&sets[i], 1, &one, why, sizeof why);
		}
		gb_schema_destroy(&one);
		if (rc == GB_ENOMEM) {
			rc = gb_yaml_nomem(ld->yaml);
			goto out;
		}
		if (rc) {
			rc = gb_yaml_fail(ld->yaml, it, "%s: %s", item, why);
			goto out;
		}
	}
	rc = gb_schema_load(sets, n, &ld->schema, why, sizeof why);
	if (rc == GB_ENOMEM)
		rc = gb_yaml_nomem(ld->yaml);
	else if (rc)
		rc = gb_yaml_fail(ld->yaml, list, "schemas: %s", why);
out:
	free(sets);
	return rc;
}

/* A dataset's `schema:`: a message type of the descriptor sets. */
static int get_schema_type(struct loader *ld, const yaml_node_t *node,
			   const char *field, const char **out)
{
	char shown[GB_YAML_SNIPPET_SIZE];
	const char *text;
	int rc = gb_yaml_text(ld->yaml, node, field, &text);

	if (rc)
		return rc;
	if (!gb_schema_find(ld->schema, text))
		return gb_yaml_fail(ld->yaml, node,
				    "%s: unknown message type \"%s\" (%s)",
				    field,
				    gb_yaml_snippet(text, strlen(text), shown),
				    ld->schema ? "not in the descriptor sets "
						 "listed in schemas:"
					       : "no descriptor sets are "
						 "listed in schemas:");
	return keep(ld, text, out);
}

/* ---------------------------------------------------------------------
 * datasets: */

enum { DS_ID, DS_OWNER, DS_TITLE, DS_SHARING, DS_CLASSIFICATION,
       DS_UPDATE_FREQUENCY, DS_AUDIT_ACCESS,
       DS_DESCRIPTION, DS_CONDITIONS, DS_FORMAT, DS_CONTACT,
       DS_AVAILABLE_SINCE, DS_SCHEMA, DS_FIELDS };
static const gb_yaml_field dataset_fields[DS_FIELDS] = {
	[DS_ID] = {"id", true},
	[DS_OWNER] = {"owner", true},
	[DS_TITLE] = {"title", true},
	[DS_SHARING] = {"sharing", true},
	[DS_CLASSIFICATION] = {"classification", true},
	[DS_UPDATE_FREQUENCY] = {"update_frequency", false},
	[DS_AUDIT_ACCESS] = {"audit_access", false},
	[DS_DESCRIPTION] = {"description", false},
	[DS_CONDITIONS] = {"conditions", false},
	[DS_FORMAT] = {"format", false},
	[DS_CONTACT] = {"contact", false},
	[DS_AVAILABLE_SINCE] = {"available_since", false},
	[DS_SCHEMA] = {"schema", false},
};

/* Where each of the catalog's free-text fields of a dataset goes (NULL for
 * any other field). */
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

/* The optional catalog fields of dataset `ds` (free text, and a day for
 * available_since). */
static int parse_dataset_catalog(struct loader *ld, const yaml_node_t **v,
				 const char *where, gb_dataset *ds)
{
	char field[96];
	int rc = 0;

	for (int f = 0; rc == 0 && f < DS_FIELDS; f++)
		if (v[f] && dataset_text(ds, f))
			rc = get_text(ld, v[f],
				      gb_yaml_field_path(field, sizeof field,
							 where,
							 dataset_fields[f].name),
				      dataset_text(ds, f));
	if (rc == 0 && v[DS_AVAILABLE_SINCE])
		rc = get_day(ld, v[DS_AVAILABLE_SINCE],
			     gb_yaml_field_path(field, sizeof field, where,
						"available_since"),
			     &ds->available_since);
	return rc;
}

static int parse_dataset(struct loader *ld, const yaml_node_t *node, size_t i,
			 const yaml_node_t **id_node)
{
	const yaml_node_t *v[DS_FIELDS];
	gb_dataset *ds = &ld->datasets[i];
	const gb_department *owner;
	char where[40], field[96], shown[GB_YAML_SNIPPET_SIZE];
	const char *owner_id;
	int sharing = 0, cls = 0, audit = GB_AUDIT_METADATA, rc;

	snprintf(where, sizeof where, "datasets[%zu]", i);
	rc = gb_yaml_map_fields(ld->yaml, node, where, dataset_fields,
				DS_FIELDS, v);
	if (rc == 0)
		rc = get_id(ld, v[DS_ID],
			    gb_yaml_field_path(field, sizeof field, where,
					       "id"),
			    &ds->id);
	if (rc == 0)
		rc = gb_yaml_id(ld->yaml, v[DS_OWNER],
				gb_yaml_field_path(field, sizeof field, where,
						   "owner"),
				&owner_id);
	if (rc)
		return rc;
	owner = gb_registry_find_department(ld->reg, owner_id);
	if (!owner)
		return gb_yaml_fail(ld->yaml, v[DS_OWNER],
				    "%s: unknown department \"%s\"", field,
				    gb_yaml_snippet(owner_id, strlen(owner_id),
						    shown));
	ds->owner = owner->id;
	rc = get_text(ld, v[DS_TITLE],
		      gb_yaml_field_path(field, sizeof field, where, "title"),
		      &ds->title);
	if (rc == 0)
		rc = gb_yaml_enum(ld->yaml, v[DS_SHARING],
				  gb_yaml_field_path(field, sizeof field,
						     where, "sharing"),
				  gb_sharing_names,
				  GB_NAMES_COUNT(gb_sharing_names), &sharing);
	if (rc == 0)
		rc = gb_yaml_enum(ld->yaml, v[DS_CLASSIFICATION],
				  gb_yaml_field_path(field, sizeof field,
						     where, "classification"),
				  gb_classification_names,
				  GB_NAMES_COUNT(gb_classification_names),
				  &cls);
	if (rc == 0 && v[DS_UPDATE_FREQUENCY])
		rc = get_text(ld, v[DS_UPDATE_FREQUENCY],
			      gb_yaml_field_path(field, sizeof field, where,
						 "update_frequency"),
			      &ds->update_frequency);
	if (rc == 0 && v[DS_AUDIT_ACCESS])
		rc = gb_yaml_enum(ld->yaml, v[DS_AUDIT_ACCESS],
				  gb_yaml_field_path(field, sizeof field,
						     where, "audit_access"),
				  gb_audit_access_names,
				  GB_NAMES_COUNT(gb_audit_access_names),
				  &audit);
	if (rc == 0)
		rc = parse_dataset_catalog(ld, v, where, ds);
	if (rc == 0 && v[DS_SCHEMA])
		rc = get_schema_type(ld, v[DS_SCHEMA],
				     gb_yaml_field_path(field, sizeof field,
							where, "schema"),
				     &ds->schema);
	if (rc)
		return rc;
	ds->sharing = (gb_sharing)sharing;
	ds->classification = (gb_classification)cls;
	ds->audit_access = (gb_audit_access)audit;
	*id_node = v[DS_ID];
	return 0;
}

static int parse_datasets(struct loader *ld, const yaml_node_t *list)
{
	const yaml_node_t **id_nodes = NULL;
	gb_registry_clash clash;
	size_t n;
	int rc = gb_yaml_list(ld->yaml, list, "datasets", &n);

	if (rc)
		return rc;
	ld->datasets = gb_registry_new_datasets(ld->reg, n);
	id_nodes = calloc(n ? n : 1, sizeof *id_nodes);
	if (!ld->datasets || !id_nodes) {
		rc = gb_yaml_nomem(ld->yaml);
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = parse_dataset(ld, gb_yaml_list_item(ld->yaml, list, i), i,
				   &id_nodes[i]);
	if (rc == 0 && gb_registry_index_datasets(ld->reg, &clash) != 0)
		rc = gb_yaml_nomem(ld->yaml);
	if (rc == 0 && clash.kind != GB_CLASH_NONE)
		rc = gb_yaml_fail(ld->yaml, id_nodes[clash.at],
				  "datasets[%zu].id: duplicate dataset id "
				  "\"%s\" (first at line %zu)",
				  clash.at, ld->datasets[clash.at].id,
				  id_nodes[clash.first]->start_mark.line + 1);
out:
	free(id_nodes);
	return rc;
}

/* ---------------------------------------------------------------------
 * grants: and refusals: — lists of (dataset, to) pairs, at most one entry
 * per pair in each. */

/* What a pair's entry leaves for the checks after the list is parsed. */
struct pair_src {
	const yaml_node_t *to_node;   /* a second entry is refused here */
	const char *dataset;
	const char *to;
};

/* The (dataset, to) pair of a grant or a refusal (`what`): both must be
 * registered, the dataset not closed, `to` not its owner. */
static int parse_pair(struct loader *ld, const yaml_node_t *dataset_node,
		      const yaml_node_t *to_node, const char *where,
		      const char *what, const char **dataset, const char **to)
{
	const gb_dataset *ds;
	const gb_department *dept;
	char field[96], shown[GB_YAML_SNIPPET_SIZE];
	const char *ds_id, *to_id;
	int rc;

	rc = gb_yaml_id(ld->yaml, dataset_node,
			gb_yaml_field_path(field, sizeof field, where,
					   "dataset"),
			&ds_id);
	if (rc)
		return rc;
	ds = gb_registry_find_dataset(ld->reg, ds_id);
	if (!ds)
		return gb_yaml_fail(ld->yaml, dataset_node,
				    "%s: unknown dataset \"%s\"", field,
				    gb_yaml_snippet(ds_id, strlen(ds_id),
						    shown));
	if (ds->sharing == GB_SHARING_CLOSED)
		return gb_yaml_fail(ld->yaml, dataset_node,
				    "%s: %s is closed (only its owner and "
				    "auditors may read it), so it cannot be %s",
				    field, ds->id,
				    strcmp(what, "grant") ? "requested"
							  : "granted");
	rc = gb_yaml_id(ld->yaml, to_node,
			gb_yaml_field_path(field, sizeof field, where, "to"),
			&to_id);
	if (rc)
		return rc;
	dept = gb_registry_find_department(ld->reg, to_id);
	if (!dept)
		return gb_yaml_fail(ld->yaml, to_node,
				    "%s: unknown department \"%s\"", field,
				    gb_yaml_snippet(to_id, strlen(to_id),
						    shown));
	if (!strcmp(dept->id, ds->owner))
		return gb_yaml_fail(ld->yaml, to_node,
				    "%s: %s owns %s; a %s to the owner is "
				    "pointless", field, dept->id, ds->id, what);
	*dataset = ds->id;
	*to = dept->id;
	return 0;
}

/* Entry `i` of a grant or refusal list: fills the snapshot's entry and
 * *src. */
typedef int (*pair_entry_fn)(struct loader *ld, const yaml_node_t *node,
			     size_t i, struct pair_src *src);
/* Indexes the filled entries (gb_registry_index_grants or _refusals). */
typedef int (*pair_index_fn)(gb_registry *reg, gb_registry_clash *clash);

/* Parse the `n` entries of `list` (named `name`, each a `noun`) with
 * `parse`, then index them with `index`; a second entry of a pair is
 * refused at its `to`. */
static int parse_pair_list(struct loader *ld, const yaml_node_t *list,
			   size_t n, const char *name, const char *noun,
			   pair_entry_fn parse, pair_index_fn index)
{
	struct pair_src *src = calloc(n ? n : 1, sizeof *src);
	gb_registry_clash clash;
	int rc = 0;

	if (!src)
		return gb_yaml_nomem(ld->yaml);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = parse(ld, gb_yaml_list_item(ld->yaml, list, i), i, &src[i]);
	if (rc == 0 && index(ld->reg, &clash) != 0)
		rc = gb_yaml_nomem(ld->yaml);
	if (rc == 0 && clash.kind != GB_CLASH_NONE)
		rc = gb_yaml_fail(ld->yaml, src[clash.at].to_node,
				  "%s[%zu].to: second %s of %s to %s (first is "
				  "%s[%zu]); at most one may exist",
				  name, clash.at, noun, src[clash.at].dataset,
				  src[clash.at].to, name, clash.first);
	free(src);
	return rc;
}

enum { GR_DATASET, GR_TO, GR_RIGHTS, GR_PURPOSE, GR_LEGAL_BASIS,
       GR_APPROVED_BY, GR_STARTS, GR_EXPIRES, GR_HISTORY, GR_FIELDS };
static const gb_yaml_field grant_fields[GR_FIELDS] = {
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
	int rc = gb_yaml_list(ld->yaml, node, field, &n);

	if (rc)
		return rc;
	if (n == 0)
		return gb_yaml_fail(ld->yaml, node,
				    "%s: must list at least one of subscribe, "
				    "replay", field);
	*rights = 0;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *it = gb_yaml_list_item(ld->yaml, node, i);
		int right;

		snprintf(item, sizeof item, "%s[%zu]", field, i);
		rc = gb_yaml_enum(ld->yaml, it, item, gb_right_names,
				  GB_NAMES_COUNT(gb_right_names), &right);
		if (rc)
			return rc;
		if (*rights & (1u << right))
			return gb_yaml_fail(ld->yaml, it,
					    "%s: \"%s\" listed twice", item,
					    gb_right_names[right]);
		*rights |= 1u << right;
	}
	return 0;
}

static int parse_grant(struct loader *ld, const yaml_node_t *node, size_t i,
		       struct pair_src *src)
{
	const yaml_node_t *v[GR_FIELDS];
	gb_grant *g = &ld->grants[i];
	char where[40], field[96], shown[GB_YAML_SNIPPET_SIZE];
	int history = GB_HISTORY_ALL, rc;

	snprintf(where, sizeof where, "grants[%zu]", i);
	rc = gb_yaml_map_fields(ld->yaml, node, where, grant_fields, GR_FIELDS,
				v);
	if (rc == 0)
		rc = parse_pair(ld, v[GR_DATASET], v[GR_TO], where, "grant",
				&g->dataset, &g->to);
	if (rc)
		return rc;

	rc = get_rights(ld, v[GR_RIGHTS],
			gb_yaml_field_path(field, sizeof field, where,
					   "rights"),
			&g->rights);
	if (rc == 0)
		rc = get_text(ld, v[GR_PURPOSE],
			      gb_yaml_field_path(field, sizeof field, where,
						 "purpose"),
			      &g->purpose);
	if (rc == 0)
		rc = get_text(ld, v[GR_LEGAL_BASIS],
			      gb_yaml_field_path(field, sizeof field, where,
						 "legal_basis"),
			      &g->legal_basis);
	if (rc == 0)
		rc = get_text(ld, v[GR_APPROVED_BY],
			      gb_yaml_field_path(field, sizeof field, where,
						 "approved_by"),
			      &g->approved_by);
	if (rc == 0 && v[GR_STARTS])
		rc = gb_yaml_date(ld->yaml, v[GR_STARTS],
				  gb_yaml_field_path(field, sizeof field,
						     where, "starts"),
				  &g->starts_ns);
	if (rc == 0)
		rc = gb_yaml_date(ld->yaml, v[GR_EXPIRES],
				  gb_yaml_field_path(field, sizeof field,
						     where, "expires"),
				  &g->expires_ns);
	if (rc)
		return rc;
	if (v[GR_STARTS] && g->expires_ns <= g->starts_ns)
		return gb_yaml_fail(ld->yaml, v[GR_EXPIRES],
				    "%s: must be later than starts", field);
	if (g->expires_ns <= ld->now_ns) {
		const yaml_node_t *date = v[GR_EXPIRES];  /* a scalar by now */

		return gb_yaml_fail(ld->yaml, date,
				    "%s: grant of %s to %s expired on %s",
				    field, g->dataset, g->to,
				    gb_yaml_snippet(
					    (const char *)date->data.scalar.value,
					    date->data.scalar.length, shown));
	}
	if (v[GR_HISTORY])
		rc = gb_yaml_enum(ld->yaml, v[GR_HISTORY],
				  gb_yaml_field_path(field, sizeof field,
						     where, "history"),
				  gb_history_names,
				  GB_NAMES_COUNT(gb_history_names), &history);
	if (rc)
		return rc;
	g->history = (gb_history)history;
	/* Without a fixed start, "since the grant" would move with every
	 * reload and silently hide records the consumer could read before. */
	if (g->history == GB_HISTORY_SINCE_GRANT && !v[GR_STARTS])
		return gb_yaml_fail(ld->yaml, v[GR_HISTORY],
				    "%s: history since-grant needs a starts "
				    "date",
				    gb_yaml_field_path(field, sizeof field,
						       where, "history"));
	*src = (struct pair_src){v[GR_TO], g->dataset, g->to};
	return 0;
}

static int parse_grants(struct loader *ld, const yaml_node_t *list)
{
	size_t n;
	int rc = gb_yaml_list(ld->yaml, list, "grants", &n);

	if (rc)
		return rc;
	ld->grants = gb_registry_new_grants(ld->reg, n);
	if (!ld->grants)
		return gb_yaml_nomem(ld->yaml);
	return parse_pair_list(ld, list, n, "grants", "grant", parse_grant,
			       gb_registry_index_grants);
}

/* Refusals: access requests the admins turned down. Checked like grants,
 * and a pair may not be both granted and refused. */

enum { RF_DATASET, RF_TO, RF_REASON, RF_REFUSED_BY, RF_DATE, RF_FIELDS };
static const gb_yaml_field refusal_fields[RF_FIELDS] = {
	[RF_DATASET] = {"dataset", true},
	[RF_TO] = {"to", true},
	[RF_REASON] = {"reason", true},
	[RF_REFUSED_BY] = {"refused_by", true},
	[RF_DATE] = {"date", true},
};

static int parse_refusal(struct loader *ld, const yaml_node_t *node,
			 size_t i, struct pair_src *src)
{
	const yaml_node_t *v[RF_FIELDS];
	gb_refusal *r = &ld->refusals[i];
	const gb_grant *g;
	char where[40], field[96];
	int rc;

	snprintf(where, sizeof where, "refusals[%zu]", i);
	rc = gb_yaml_map_fields(ld->yaml, node, where, refusal_fields,
				RF_FIELDS, v);
	if (rc == 0)
		rc = parse_pair(ld, v[RF_DATASET], v[RF_TO], where, "refusal",
				&r->dataset, &r->to);
	if (rc)
		return rc;
	g = gb_registry_find_grant(ld->reg, r->dataset, r->to);
	if (g)
		return gb_yaml_fail(ld->yaml, v[RF_TO],
				    "%s: %s to %s is both granted (grants[%zu]) "
				    "and refused; keep one of them",
				    gb_yaml_field_path(field, sizeof field,
						       where, "to"),
				    r->dataset, r->to,
				    (size_t)(g - ld->grants));
	rc = get_text(ld, v[RF_REASON],
		      gb_yaml_field_path(field, sizeof field, where, "reason"),
		      &r->reason);
	if (rc == 0)
		rc = get_text(ld, v[RF_REFUSED_BY],
			      gb_yaml_field_path(field, sizeof field, where,
						 "refused_by"),
			      &r->refused_by);
	if (rc == 0)
		rc = gb_yaml_date(ld->yaml, v[RF_DATE],
				  gb_yaml_field_path(field, sizeof field,
						     where, "date"),
				  &r->date_ns);
	if (rc)
		return rc;
	*src = (struct pair_src){v[RF_TO], r->dataset, r->to};
	return 0;
}

static int parse_refusals(struct loader *ld, const yaml_node_t *list)
{
	size_t n;
	int rc = gb_yaml_list(ld->yaml, list, "refusals", &n);

	if (rc)
		return rc;
	ld->refusals = gb_registry_new_refusals(ld->reg, n);
	if (!ld->refusals)
		return gb_yaml_nomem(ld->yaml);
	return parse_pair_list(ld, list, n, "refusals", "refusal",
			       parse_refusal, gb_registry_index_refusals);
}

/* ---------------------------------------------------------------------
 * The top level. */

enum { TOP_BROKER, TOP_DEPARTMENTS, TOP_DATASETS, TOP_GRANTS,
       TOP_REFUSALS, TOP_SCHEMAS, TOP_FIELDS };
static const gb_yaml_field top_fields[TOP_FIELDS] = {
	[TOP_BROKER] = {"broker", true},
	[TOP_DEPARTMENTS] = {"departments", true},
	[TOP_DATASETS] = {"datasets", false},
	[TOP_GRANTS] = {"grants", false},
	[TOP_REFUSALS] = {"refusals", false},
	[TOP_SCHEMAS] = {"schemas", false},
};

_Static_assert(BROKER_FIELDS <= GB_YAML_MAX_FIELDS &&
		       DEPT_FIELDS <= GB_YAML_MAX_FIELDS &&
		       DS_FIELDS <= GB_YAML_MAX_FIELDS &&
		       GR_FIELDS <= GB_YAML_MAX_FIELDS &&
		       RF_FIELDS <= GB_YAML_MAX_FIELDS &&
		       TOP_FIELDS <= GB_YAML_MAX_FIELDS,
	       "gb_yaml_map_fields() checks at most GB_YAML_MAX_FIELDS keys");

/* Sections are read in dependency order, whatever their order in the file:
 * datasets refer to departments and to the types of the descriptor sets,
 * grants to both, refusals to all three. */
int gb_config_parse_sections(gb_yaml *w, gb_registry *reg, const char *dir,
			     int64_t now_ns)
{
	struct loader ld = {.yaml = w, .reg = reg, .config_dir = dir,
			    .now_ns = now_ns};
	const yaml_node_t *root = gb_yaml_root(w);
	const yaml_node_t *v[TOP_FIELDS];
	int rc;

	if (!root)
		return gb_yaml_fail(w, NULL, "empty configuration: broker and "
				    "departments are required");
	rc = gb_yaml_map_fields(w, root, "", top_fields, TOP_FIELDS, v);
	if (rc == 0)
		rc = parse_broker(&ld, v[TOP_BROKER]);
	if (rc == 0)
		rc = parse_departments(&ld, v[TOP_DEPARTMENTS]);
	if (rc == 0)
		rc = parse_schemas(&ld, v[TOP_SCHEMAS]);
	if (rc == 0)
		rc = parse_datasets(&ld, v[TOP_DATASETS]);
	if (rc == 0)
		rc = parse_grants(&ld, v[TOP_GRANTS]);
	if (rc == 0)
		rc = parse_refusals(&ld, v[TOP_REFUSALS]);
	gb_schema_destroy(&ld.schema);
	return rc;
}
