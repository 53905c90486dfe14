/* Agent config loader: the small YAML file that tells an agent who it is
 * and where its broker is (see gb_agent_config_load in govbus.h).
 *
 * Trust: the file is operator input and is treated as untrusted. It is
 * read through the YAML walker (config/gb_yaml.h): bounded before parsing,
 * anchors, aliases and second documents refused, every key checked against
 * the known set; every value is validated, and each error names
 * file:line:col and the field. Values are echoed truncated. */
#include "gb_agent_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_schema.h"
#include "gb_yaml.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define ENDPOINT_MAX 256
#define MAX_PEERS 1024
#define TIMEOUT_MIN_S 0.05
#define TIMEOUT_MAX_S 3600.0

/* The file is read and its values checked by the YAML walker (gb_yaml.h),
 * which records each error with its place; what is particular to an
 * agent's config is checked here. */
struct loader {
	gb_yaml *yaml;
	char *dir;                    /* the config's folder, as written */
	gb_agent_config *cfg;
};

static int load_broker(struct loader *ld, const yaml_node_t *map)
{
	static const gb_yaml_field fields[] = {
		{"endpoint", true}, {"public_key", true}, {"timeout", false},
		{"sign_key", false}};
	const yaml_node_t *v[4];
	const char *endpoint, *pk, *timeout, *sign_key;
	int rc;

	rc = gb_yaml_map_fields(ld->yaml, map, "broker", fields, 4, v);
	if (rc != 0)
		return rc;
	if ((rc = gb_yaml_text(ld->yaml, v[0], "broker.endpoint",
			       &endpoint)) != 0 ||
	    (rc = gb_yaml_text(ld->yaml, v[1], "broker.public_key", &pk)) != 0)
		return rc;
	if (strlen(endpoint) > ENDPOINT_MAX || !strstr(endpoint, "://"))
		return gb_yaml_fail(ld->yaml, v[0],
				    "broker.endpoint: \"%.100s\" is not a "
				    "ZeroMQ endpoint such as tcp://HOST:PORT",
				    endpoint);
	ld->cfg->endpoint = strdup(endpoint);
	if (!ld->cfg->endpoint)
		return GB_ENOMEM;
	if (gb_key_decode_box(pk, ld->cfg->broker_box_pk) != 0)
		return gb_yaml_fail(ld->yaml, v[1],
				    "broker.public_key: not a Z85 CURVE public "
				    "key (40 characters, as govbus-keys show "
				    "prints box_key)");
	ld->cfg->timeout_ms = GB_AGENT_DEFAULT_TIMEOUT_MS;
	if (v[2]) {
		char *end = NULL;
		double s;

		rc = gb_yaml_text(ld->yaml, v[2], "broker.timeout", &timeout);
		if (rc != 0)
			return rc;
		errno = 0;
		s = strtod(timeout, &end);
		if (errno || end == timeout || *end || !isfinite(s) ||
		    s < TIMEOUT_MIN_S || s > TIMEOUT_MAX_S)
			return gb_yaml_fail(ld->yaml, v[2],
					    "broker.timeout: \"%.32s\" is not "
					    "a number of seconds between %.2f "
					    "and %.0f",
					    timeout, TIMEOUT_MIN_S,
					    TIMEOUT_MAX_S);
		ld->cfg->timeout_ms = (unsigned)(s * 1000.0 + 0.5);
	}
	if (v[3]) { /* the pinned checkpoint key of an auditor */
		rc = gb_yaml_text(ld->yaml, v[3], "broker.sign_key",
				  &sign_key);
		if (rc != 0)
			return rc;
		if (gb_key_decode_sign(sign_key, ld->cfg->broker_sign_pk) != 0)
			return gb_yaml_fail(ld->yaml, v[3],
					    "broker.sign_key: not a base64 "
					    "Ed25519 public key (as govbus-keys "
					    "show prints sign_key)");
		ld->cfg->have_broker_sign_pk = true;
	}
	return 0;
}

static int load_peers(struct loader *ld, const yaml_node_t *map)
{
	size_t n;

	if (map->type != YAML_MAPPING_NODE)
		return gb_yaml_fail(ld->yaml, map,
				    "peers: expected a mapping of department "
				    "id to signing key");
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	if (n > MAX_PEERS)
		return gb_yaml_fail(ld->yaml, map,
				    "peers: more than %d entries", MAX_PEERS);
	ld->cfg->peers = calloc(n ? n : 1, sizeof *ld->cfg->peers);
	if (!ld->cfg->peers)
		return GB_ENOMEM;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *key = gb_yaml_node(ld->yaml, p->key);
		const yaml_node_t *value = gb_yaml_node(ld->yaml, p->value);
		gb_agent_peer *peer = &ld->cfg->peers[ld->cfg->peer_count];
		char field[GB_MAX_ID_LEN + 8];
		const char *id, *text;
		int rc;

		if ((rc = gb_yaml_text(ld->yaml, key, "peers", &id)) != 0)
			return rc;
		if (!gb_id_valid(id))
			return gb_yaml_fail(ld->yaml, key,
					    "peers: \"%.64s\" is not a valid "
					    "department id",
					    id);
		for (size_t i = 0; i < ld->cfg->peer_count; i++)
			if (!strcmp(ld->cfg->peers[i].dept, id))
				return gb_yaml_fail(ld->yaml, key,
						    "peers: department \"%s\" "
						    "given twice",
						    id);
		snprintf(field, sizeof field, "peers.%s", id);
		rc = gb_yaml_text(ld->yaml, value, field, &text);
		if (rc != 0)
			return rc;
		if (gb_key_decode_sign(text, peer->sign_pk) != 0)
			return gb_yaml_fail(ld->yaml, value,
					    "peers.%s: not a base64 Ed25519 "
					    "public key (44 characters, as "
					    "govbus-keys show prints sign_key)",
					    id);
		snprintf(peer->dept, sizeof peer->dept, "%s", id);
		ld->cfg->peer_count++;
	}
	return 0;
}

/* `schemas: { DATASET: { type: T, descriptor_set: F } }`. Each set is read
 * (bounded) and loaded now, and must define T, so a bad entry is refused
 * with its place in the file. */
static int load_schema(struct loader *ld, const yaml_node_t *key,
		       const yaml_node_t *value, gb_agent_schema *out)
{
	static const gb_yaml_field fields[] = {{"type", true},
					       {"descriptor_set", true}};
	const yaml_node_t *v[2];
	const char *id, *type, *file;
	char where[GB_MAX_ID_LEN + 32], field[GB_MAX_ID_LEN + 48], why[512];
	char *path = NULL;
	gb_schema_set set;
	gb_schema *schema = NULL;
	int rc;

	if ((rc = gb_yaml_text(ld->yaml, key, "schemas", &id)) != 0)
		return rc;
	if (!gb_id_valid(id))
		return gb_yaml_fail(ld->yaml, key, "schemas: \"%.64s\" is not "
				    "a valid dataset id", id);
	snprintf(where, sizeof where, "schemas.%s", id);
	rc = gb_yaml_map_fields(ld->yaml, value, where, fields, 2, v);
	if (rc == 0)
		rc = gb_yaml_text(ld->yaml, v[0],
				  gb_yaml_field_path(field, sizeof field,
						     where, "type"),
				  &type);
	if (rc == 0)
		rc = gb_yaml_text(ld->yaml, v[1],
				  gb_yaml_field_path(field, sizeof field,
						     where, "descriptor_set"),
				  &file);
	if (rc == 0)
		rc = gb_yaml_path(ld->yaml, v[1], field, ld->dir, &path);
	if (rc != 0)
		return rc;
	snprintf(out->dataset, sizeof out->dataset, "%s", id);
	rc = gb_schema_read_file(path, &out->descriptor_set,
				 &out->descriptor_set_len, why, sizeof why);
	free(path);
	if (rc == 0) {
		set = (gb_schema_set){file, out->descriptor_set,
				      out->descriptor_set_len};
		rc = gb_schema_load(&set, 1, &schema, why, sizeof why);
	}
	if (rc == GB_ENOMEM)
		return rc;
	if (rc != 0)
		return gb_yaml_fail(ld->yaml, v[1], "%s.descriptor_set: %s",
				    where, why);
	rc = gb_schema_find(schema, type) ? 0 : GB_ECONFIG;
	gb_schema_destroy(&schema);
	if (rc != 0)
		return gb_yaml_fail(ld->yaml, v[0], "%s.type: no message type "
				    "\"%.200s\" in %.200s", where, type, file);
	out->type = strdup(type);
	return out->type ? 0 : GB_ENOMEM;
}

static int load_schemas(struct loader *ld, const yaml_node_t *map)
{
	size_t n;

	if (map->type != YAML_MAPPING_NODE)
		return gb_yaml_fail(ld->yaml, map,
				    "schemas: expected a mapping of dataset id "
				    "to { type, descriptor_set }");
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	if (n > MAX_PEERS)
		return gb_yaml_fail(ld->yaml, map,
				    "schemas: more than %d entries", MAX_PEERS);
	ld->cfg->schemas = calloc(n ? n : 1, sizeof *ld->cfg->schemas);
	if (!ld->cfg->schemas)
		return GB_ENOMEM;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *key = gb_yaml_node(ld->yaml, p->key);
		gb_agent_schema *entry =
			&ld->cfg->schemas[ld->cfg->schema_count];
		int rc = load_schema(ld, key, gb_yaml_node(ld->yaml, p->value),
				     entry);

		ld->cfg->schema_count++; /* so destroy frees a partial entry */
		if (rc != 0)
			return rc;
		if (gb_agent_config_schema(ld->cfg, entry->dataset) != entry)
			return gb_yaml_fail(ld->yaml, key,
					    "schemas: dataset \"%s\" given "
					    "twice",
					    entry->dataset);
	}
	return 0;
}

static int load_top(struct loader *ld)
{
	static const gb_yaml_field fields[] = {{"dept", true},
					       {"key", true},
					       {"broker", true},
					       {"peers", false},
					       {"schemas", false}};
	const yaml_node_t *root = gb_yaml_root(ld->yaml);
	const yaml_node_t *v[5];
	const char *dept;
	int rc;

	if (!root)
		return gb_yaml_fail(ld->yaml, NULL, "the file is empty");
	rc = gb_yaml_map_fields(ld->yaml, root, "", fields, 5, v);
	if (rc != 0)
		return rc;
	if ((rc = gb_yaml_text(ld->yaml, v[0], "dept", &dept)) != 0)
		return rc;
	if (!gb_id_valid(dept))
		return gb_yaml_fail(ld->yaml, v[0],
				    "dept: \"%.64s\" is not a valid department "
				    "id (a lowercase letter, then up to 63 of "
				    "a-z 0-9 . _ -)",
				    dept);
	snprintf(ld->cfg->dept, sizeof ld->cfg->dept, "%s", dept);
	/* relative to the config's folder as written, so a config named
	 * without a folder keeps its key path relative too */
	rc = gb_yaml_path(ld->yaml, v[1], "key", ld->dir, &ld->cfg->key_path);
	if (rc != 0)
		return rc;
	if ((rc = load_broker(ld, v[2])) != 0)
		return rc;
	if (v[3] && (rc = load_peers(ld, v[3])) != 0)
		return rc;
	if (v[4] && (rc = load_schemas(ld, v[4])) != 0)
		return rc;
	return 0;
}

int gb_agent_config_load(const char *path, gb_agent_config **out, char *why,
			 size_t why_len)
{
	struct loader ld = {NULL, NULL, NULL};
	gb_yaml_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (why && why_len)
		why[0] = '\0';
	rc = gb_yaml_new(path, &err, &ld.yaml);
	if (rc == 0) {
		ld.cfg = calloc(1, sizeof *ld.cfg);
		if (ld.cfg)
			ld.cfg->path = strdup(path);
		if (!ld.cfg || !ld.cfg->path)
			rc = GB_ENOMEM;
	}
	if (rc == 0)
		rc = gb_yaml_read_file(ld.yaml, CONFIG_MAX_BYTES, &buf, &len);
	if (rc == 0)
		rc = gb_yaml_folder(ld.yaml, &ld.dir);
	if (rc == 0)
		rc = gb_yaml_load(ld.yaml, buf, len);
	if (rc == 0)
		rc = load_top(&ld);
	if (rc == GB_ENOMEM && ld.yaml)
		gb_yaml_nomem(ld.yaml);
	if (rc != 0 && why && why_len)
		gb_yaml_error_format(&err, why, why_len);
	gb_yaml_destroy(&ld.yaml);
	free(ld.dir);
	free(buf);
	if (rc != 0)
		gb_agent_config_destroy(&ld.cfg);
	*out = ld.cfg;
	return rc;
}

void gb_agent_config_destroy(gb_agent_config **cfg)
{
	if (!cfg || !*cfg)
		return;
	free((*cfg)->path);
	free((*cfg)->key_path);
	free((*cfg)->endpoint);
	free((*cfg)->peers);
	for (size_t i = 0; i < (*cfg)->schema_count; i++) {
		free((*cfg)->schemas[i].type);
		free((*cfg)->schemas[i].descriptor_set);
	}
	free((*cfg)->schemas);
	free(*cfg);
	*cfg = NULL;
}

const char *gb_agent_config_dept(const gb_agent_config *cfg)
{
	return cfg->dept;
}

const char *gb_agent_config_endpoint(const gb_agent_config *cfg)
{
	return cfg->endpoint;
}

const char *gb_agent_config_key_path(const gb_agent_config *cfg)
{
	return cfg->key_path;
}

unsigned gb_agent_config_timeout_ms(const gb_agent_config *cfg)
{
	return cfg->timeout_ms;
}

const uint8_t *gb_agent_config_peer(const gb_agent_config *cfg,
				    const char *dept)
{
	for (size_t i = 0; i < cfg->peer_count; i++)
		if (!strcmp(cfg->peers[i].dept, dept))
			return cfg->peers[i].sign_pk;
	return NULL;
}

int gb_agent_config_copy(const gb_agent_config *src, gb_agent_config **out)
{
	gb_agent_config *c = calloc(1, sizeof *c);

	*out = NULL;
	if (!c)
		return GB_ENOMEM;
	*c = *src;
	c->schemas = NULL; /* copied below */
	c->schema_count = 0;
	c->path = strdup(src->path);
	c->key_path = strdup(src->key_path);
	c->endpoint = strdup(src->endpoint);
	c->peers = malloc((src->peer_count ? src->peer_count : 1) *
			  sizeof *c->peers);
	if (!c->path || !c->key_path || !c->endpoint || !c->peers) {
		gb_agent_config_destroy(&c);
		return GB_ENOMEM;
	}
	if (src->peer_count)
		memcpy(c->peers, src->peers, src->peer_count * sizeof *c->peers);
	c->schemas = calloc(src->schema_count ? src->schema_count : 1,
			    sizeof *c->schemas);
	if (!c->schemas) {
		gb_agent_config_destroy(&c);
		return GB_ENOMEM;
	}
	for (size_t i = 0; i < src->schema_count; i++) {
		const gb_agent_schema *s = &src->schemas[i];
		gb_agent_schema *d = &c->schemas[c->schema_count++];

		*d = *s;
		d->type = strdup(s->type);
		d->descriptor_set = malloc(s->descriptor_set_len);
		if (!d->type || !d->descriptor_set) {
			gb_agent_config_destroy(&c);
			return GB_ENOMEM;
		}
		memcpy(d->descriptor_set, s->descriptor_set,
		       s->descriptor_set_len);
	}
	*out = c;
	return 0;
}

const gb_agent_schema *gb_agent_config_schema(const gb_agent_config *cfg,
					      const char *dataset)
{
	for (size_t i = 0; i < cfg->schema_count; i++)
		if (!strcmp(cfg->schemas[i].dataset, dataset))
			return &cfg->schemas[i];
	return NULL;
}
