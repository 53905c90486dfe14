/* Agent config loader: the small YAML file that tells an agent who it is
 * and where its broker is (see gb_agent_config_load in govbus.h).
 *
 * Trust: the file is operator input and is treated as untrusted: its size
 * is bounded before parsing, every key is checked against the known set,
 * every value is validated, and each error names file:line:col and the
 * field. Values are echoed truncated. */
#include "gb_agent_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "gb_schema.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define ENDPOINT_MAX 256
#define PATH_MAX_LEN 4096
#define MAX_PEERS 1024
#define TIMEOUT_MIN_S 0.05
#define TIMEOUT_MAX_S 3600.0

struct loader {
	const char *path;
	yaml_document_t doc;
	bool have_doc;
	char *why;
	size_t why_len;
	gb_agent_config *cfg;
};

static int fail_at(struct loader *ld, yaml_mark_t mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write "file:line:col: message" into ld->why; returns GB_ECONFIG. */
static int fail_at(struct loader *ld, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ld->why || !ld->why_len)
		return GB_ECONFIG;
	n = snprintf(ld->why, ld->why_len, "%s:%zu:%zu: ", ld->path,
		     mark.line + 1, mark.column + 1);
	if (n < 0 || (size_t)n >= ld->why_len)
		return GB_ECONFIG;
	va_start(ap, fmt);
	vsnprintf(ld->why + n, ld->why_len - (size_t)n, fmt, ap);
	va_end(ap);
	return GB_ECONFIG;
}

static int fail_file(struct loader *ld, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_file(struct loader *ld, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ld->why || !ld->why_len)
		return rc;
	n = snprintf(ld->why, ld->why_len, "%s: ", ld->path);
	if (n < 0 || (size_t)n >= ld->why_len)
		return rc;
	va_start(ap, fmt);
	vsnprintf(ld->why + n, ld->why_len - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

/* Read the whole file, refusing anything over CONFIG_MAX_BYTES. */
static int read_file(struct loader *ld, unsigned char **out, size_t *len)
{
	FILE *f = fopen(ld->path, "rb");
	unsigned char *buf = NULL;
	struct stat st;
	size_t n;
	int rc;

	*out = NULL;
	if (!f)
		return fail_file(ld, GB_EIO, "cannot open: %s", strerror(errno));
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = fail_file(ld, GB_EIO, "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > CONFIG_MAX_BYTES) {
		rc = fail_file(ld, GB_ETOOBIG, "%lld bytes, limit %u",
			       (long long)st.st_size, CONFIG_MAX_BYTES);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = GB_ENOMEM;
		goto out;
	}
	n = fread(buf, 1, (size_t)st.st_size + 1, f);
	if (ferror(f) || n > (size_t)st.st_size) {
		rc = fail_file(ld, GB_EIO, "read failed or file changed");
		goto out;
	}
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int fail_yaml(struct loader *ld, const yaml_parser_t *parser,
		     const unsigned char *buf, size_t len)
{
	if (parser->error == YAML_MEMORY_ERROR)
		return GB_ENOMEM;
	if (parser->error == YAML_READER_ERROR) {
		/* The reader knows a byte offset, not a mark: count lines. */
		yaml_mark_t mark = {0, 0, 0};
		size_t off = parser->problem_offset < len ? parser->problem_offset
							  : len;
		for (size_t i = 0; i < off; i++) {
			mark.column++;
			if (buf[i] == '\n') {
				mark.line++;
				mark.column = 0;
			}
		}
		return fail_at(ld, mark, "not valid YAML text: %s",
			       parser->problem ? parser->problem : "unreadable");
	}
	if (parser->context)
		return fail_at(ld, parser->problem_mark, "YAML syntax: %s %s",
			       parser->problem ? parser->problem : "error",
			       parser->context);
	return fail_at(ld, parser->problem_mark, "YAML syntax: %s",
		       parser->problem ? parser->problem : "error");
}

/* Parse the one document; a second document is an error. */
static int load_document(struct loader *ld, const unsigned char *buf,
			 size_t len)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return GB_ENOMEM;
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, &ld->doc)) {
		rc = fail_yaml(ld, &parser, buf, len);
		goto out;
	}
	ld->have_doc = true;
	if (!yaml_document_get_root_node(&ld->doc)) {
		yaml_mark_t start = {0, 0, 0};
		rc = fail_at(ld, start, "the file is empty");
		goto out;
	}
	if (!yaml_parser_load(&parser, &extra)) {
		rc = fail_yaml(ld, &parser, buf, len);
		goto out;
	}
	if (yaml_document_get_root_node(&extra)) {
		rc = fail_at(ld, extra.start_mark,
			     "only one YAML document is allowed");
	}
	yaml_document_delete(&extra);
out:
	yaml_parser_delete(&parser);
	return rc;
}

static const yaml_node_t *node_at(struct loader *ld, int index)
{
	return yaml_document_get_node(&ld->doc, index);
}

/* The value of a scalar node as a C string, or an error naming `field`. */
static int scalar(struct loader *ld, const yaml_node_t *node,
		  const char *field, const char **out)
{
	if (node->type != YAML_SCALAR_NODE)
		return fail_at(ld, node->start_mark,
			       "%s: expected a single value, not a %s", field,
			       node->type == YAML_MAPPING_NODE ? "mapping"
							       : "list");
	if (strlen((const char *)node->data.scalar.value) !=
	    node->data.scalar.length)
		return fail_at(ld, node->start_mark,
			       "%s: contains a NUL character", field);
	if (node->data.scalar.length == 0)
		return fail_at(ld, node->start_mark, "%s: must not be empty",
			       field);
	*out = (const char *)node->data.scalar.value;
	return 0;
}

struct field {
	const char *name;
	bool required;
};

#define MAX_FIELDS 8

/* Check that `map` is a mapping with only the keys in `fields`, each at
 * most once, and every required one; fill values[] (NULL when absent). */
static int map_fields(struct loader *ld, const yaml_node_t *map,
		      const char *where, const struct field *fields,
		      size_t nfields, const yaml_node_t **values)
{
	char known[128] = "";

	for (size_t i = 0; i < nfields; i++) {
		values[i] = NULL;
		if (i)
			strncat(known, ", ", sizeof known - strlen(known) - 1);
		strncat(known, fields[i].name, sizeof known - strlen(known) - 1);
	}
	if (map->type != YAML_MAPPING_NODE)
		return fail_at(ld, map->start_mark,
			       "%s: expected a mapping (key: value pairs)",
			       where);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *key = node_at(ld, p->key);
		const char *name;
		size_t i;

		if (key->type != YAML_SCALAR_NODE)
			return fail_at(ld, key->start_mark,
				       "%s: keys must be plain names", where);
		name = (const char *)key->data.scalar.value;
		for (i = 0; i < nfields; i++)
			if (!strcmp(name, fields[i].name))
				break;
		if (i == nfields)
			return fail_at(ld, key->start_mark,
				       "%s: unknown key \"%.64s\" (expected %s)",
				       where, name, known);
		if (values[i])
			return fail_at(ld, key->start_mark,
				       "%s: key \"%s\" given twice", where,
				       name);
		values[i] = node_at(ld, p->value);
	}
	for (size_t i = 0; i < nfields; i++)
		if (fields[i].required && !values[i])
			return fail_at(ld, map->start_mark,
				       "%s: missing required key \"%s\"",
				       where, fields[i].name);
	return 0;
}

/* Resolve `value` (the path in `field`) against the folder holding the
 * config file, into a new string *out. */
static int resolve_path(struct loader *ld, const yaml_node_t *node,
			const char *field, const char *value, char **out)
{
	const char *slash = strrchr(ld->path, '/');
	size_t dir_len = slash ? (size_t)(slash - ld->path) : 0;
	size_t need;

	if (strlen(value) > PATH_MAX_LEN)
		return fail_at(ld, node->start_mark,
			       "%s: path longer than %d bytes", field,
			       PATH_MAX_LEN);
	if (value[0] == '/' || !slash) {
		*out = strdup(value);
		return *out ? 0 : GB_ENOMEM;
	}
	need = dir_len + 1 + strlen(value) + 1;
	*out = malloc(need);
	if (!*out)
		return GB_ENOMEM;
	snprintf(*out, need, "%.*s/%s", (int)(dir_len ? dir_len : 1),
		 dir_len ? ld->path : "/", value);
	return 0;
}

static int load_broker(struct loader *ld, const yaml_node_t *map)
{
	static const struct field fields[] = {
		{"endpoint", true}, {"public_key", true}, {"timeout", false},
		{"sign_key", false}};
	const yaml_node_t *v[4];
	const char *endpoint, *pk, *timeout, *sign_key;
	int rc;

	rc = map_fields(ld, map, "broker", fields, 4, v);
	if (rc != 0)
		return rc;
	if ((rc = scalar(ld, v[0], "broker.endpoint", &endpoint)) != 0 ||
	    (rc = scalar(ld, v[1], "broker.public_key", &pk)) != 0)
		return rc;
	if (strlen(endpoint) > ENDPOINT_MAX || !strstr(endpoint, "://"))
		return fail_at(ld, v[0]->start_mark,
			       "broker.endpoint: \"%.100s\" is not a ZeroMQ "
			       "endpoint such as tcp://HOST:PORT",
			       endpoint);
	ld->cfg->endpoint = strdup(endpoint);
	if (!ld->cfg->endpoint)
		return GB_ENOMEM;
	if (gb_key_decode_box(pk, ld->cfg->broker_box_pk) != 0)
		return fail_at(ld, v[1]->start_mark,
			       "broker.public_key: not a Z85 CURVE public key "
			       "(40 characters, as govbus-keys show prints "
			       "box_key)");
	ld->cfg->timeout_ms = GB_AGENT_DEFAULT_TIMEOUT_MS;
	if (v[2]) {
		char *end = NULL;
		double s;

		if ((rc = scalar(ld, v[2], "broker.timeout", &timeout)) != 0)
			return rc;
		errno = 0;
		s = strtod(timeout, &end);
		if (errno || end == timeout || *end || !isfinite(s) ||
		    s < TIMEOUT_MIN_S || s > TIMEOUT_MAX_S)
			return fail_at(ld, v[2]->start_mark,
				       "broker.timeout: \"%.32s\" is not a "
				       "number of seconds between %.2f and %.0f",
				       timeout, TIMEOUT_MIN_S, TIMEOUT_MAX_S);
		ld->cfg->timeout_ms = (unsigned)(s * 1000.0 + 0.5);
	}
	if (v[3]) { /* the pinned checkpoint key */
		if ((rc = scalar(ld, v[3], "broker.sign_key", &sign_key)) != 0)
			return rc;
		if (gb_key_decode_sign(sign_key, ld->cfg->broker_sign_pk) != 0)
			return fail_at(ld, v[3]->start_mark,
				       "broker.sign_key: not a base64 Ed25519 "
				       "public key (as govbus-keys show prints "
				       "sign_key)");
		ld->cfg->have_broker_sign_pk = true;
	}
	return 0;
}

static int load_peers(struct loader *ld, const yaml_node_t *map)
{
	size_t n;

	if (map->type != YAML_MAPPING_NODE)
		return fail_at(ld, map->start_mark,
			       "peers: expected a mapping of department id "
			       "to signing key");
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	if (n > MAX_PEERS)
		return fail_at(ld, map->start_mark,
			       "peers: more than %d entries", MAX_PEERS);
	ld->cfg->peers = calloc(n ? n : 1, sizeof *ld->cfg->peers);
	if (!ld->cfg->peers)
		return GB_ENOMEM;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *key = node_at(ld, p->key);
		const yaml_node_t *value = node_at(ld, p->value);
		gb_agent_peer *peer = &ld->cfg->peers[ld->cfg->peer_count];
		const char *id, *text;
		int rc;

		if ((rc = scalar(ld, key, "peers", &id)) != 0)
			return rc;
		if (!gb_id_valid(id))
			return fail_at(ld, key->start_mark,
				       "peers: \"%.64s\" is not a valid "
				       "department id",
				       id);
		for (size_t i = 0; i < ld->cfg->peer_count; i++)
			if (!strcmp(ld->cfg->peers[i].dept, id))
				return fail_at(ld, key->start_mark,
					       "peers: department \"%s\" given "
					       "twice",
					       id);
		if ((rc = scalar(ld, value, "peers value", &text)) != 0)
			return rc;
		if (gb_key_decode_sign(text, peer->sign_pk) != 0)
			return fail_at(ld, value->start_mark,
				       "peers.%s: not a base64 Ed25519 public "
				       "key (44 characters, as govbus-keys "
				       "show prints sign_key)",
				       id);
		snprintf(peer->dept, sizeof peer->dept, "%s", id);
		ld->cfg->peer_count++;
	}
	return 0;
}

/* `schemas: { DATASET: { type: T, descriptor_set: F } }`.
 * Each set is read (bounded) and loaded now, and must define T, so a bad
 * entry is refused with its place in the file. */
static int load_schema(struct loader *ld, const yaml_node_t *key,
		       const yaml_node_t *value, gb_agent_schema *out)
{
	static const struct field fields[] = {{"type", true},
					      {"descriptor_set", true}};
	const yaml_node_t *v[2];
	const char *id, *type, *file;
	char where[GB_MAX_ID_LEN + 32], why[512], *path = NULL;
	gb_schema_set set;
	gb_schema *schema = NULL;
	int rc;

	if ((rc = scalar(ld, key, "schemas", &id)) != 0)
		return rc;
	if (!gb_id_valid(id))
		return fail_at(ld, key->start_mark, "schemas: \"%.64s\" is not "
			       "a valid dataset id", id);
	snprintf(where, sizeof where, "schemas.%s", id);
	if ((rc = map_fields(ld, value, where, fields, 2, v)) != 0 ||
	    (rc = scalar(ld, v[0], "type", &type)) != 0 ||
	    (rc = scalar(ld, v[1], "descriptor_set", &file)) != 0 ||
	    (rc = resolve_path(ld, v[1], "descriptor_set", file, &path)) != 0)
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
		return fail_at(ld, v[1]->start_mark, "%s.descriptor_set: %s",
			       where, why);
	rc = gb_schema_find(schema, type) ? 0 : GB_ECONFIG;
	gb_schema_destroy(&schema);
	if (rc != 0)
		return fail_at(ld, v[0]->start_mark, "%s.type: no message type "
			       "\"%.200s\" in %.200s", where, type, file);
	out->type = strdup(type);
	return out->type ? 0 : GB_ENOMEM;
}

static int load_schemas(struct loader *ld, const yaml_node_t *map)
{
	size_t n;

	if (map->type != YAML_MAPPING_NODE)
		return fail_at(ld, map->start_mark,
			       "schemas: expected a mapping of dataset id to "
			       "{ type, descriptor_set }");
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	if (n > MAX_PEERS)
		return fail_at(ld, map->start_mark,
			       "schemas: more than %d entries", MAX_PEERS);
	ld->cfg->schemas = calloc(n ? n : 1, sizeof *ld->cfg->schemas);
	if (!ld->cfg->schemas)
		return GB_ENOMEM;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *key = node_at(ld, p->key);
		gb_agent_schema *entry =
			&ld->cfg->schemas[ld->cfg->schema_count];
		int rc = load_schema(ld, key, node_at(ld, p->value), entry);

		ld->cfg->schema_count++; /* so destroy frees a partial entry */
		if (rc != 0)
			return rc;
		if (gb_agent_config_schema(ld->cfg, entry->dataset) != entry)
			return fail_at(ld, key->start_mark,
				       "schemas: dataset \"%s\" given twice",
				       entry->dataset);
	}
	return 0;
}

static int load_top(struct loader *ld)
{
	static const struct field fields[] = {{"dept", true},
					      {"key", true},
					      {"broker", true},
					      {"peers", false},
					      {"schemas", false}}; /* 7B */
	const yaml_node_t *v[5];
	const char *dept, *key;
	int rc;

	rc = map_fields(ld, yaml_document_get_root_node(&ld->doc),
			"the top level", fields, 5, v);
	if (rc != 0)
		return rc;
	if ((rc = scalar(ld, v[0], "dept", &dept)) != 0)
		return rc;
	if (!gb_id_valid(dept))
		return fail_at(ld, v[0]->start_mark,
			       "dept: \"%.64s\" is not a valid department id "
			       "(a lowercase letter, then up to 63 of a-z 0-9 "
			       ". _ -)",
			       dept);
	snprintf(ld->cfg->dept, sizeof ld->cfg->dept, "%s", dept);
	if ((rc = scalar(ld, v[1], "key", &key)) != 0 ||
	    (rc = resolve_path(ld, v[1], "key", key, &ld->cfg->key_path)) != 0)
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
	struct loader ld = {.path = path, .why = why, .why_len = why_len};
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (why && why_len)
		why[0] = '\0';
	ld.cfg = calloc(1, sizeof *ld.cfg);
	if (!ld.cfg)
		return GB_ENOMEM;
	ld.cfg->path = strdup(path);
	if (!ld.cfg->path) {
		rc = GB_ENOMEM;
		goto out;
	}
	rc = read_file(&ld, &buf, &len);
	if (rc == 0)
		rc = load_document(&ld, buf, len);
	if (rc == 0)
		rc = load_top(&ld);
	if (rc == GB_ENOMEM)
		fail_file(&ld, rc, "out of memory");
out:
	if (ld.have_doc)
		yaml_document_delete(&ld.doc);
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
	/* schemas */
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
