/* Dataset schemas in the agent and the checked record input of publish;
 * see gb_record_schema.h.
 *
 * Trust: the broker's catalog was bounded and checked by gb_codec; its
 * descriptor sets are untrusted bytes that gb_schema_load validates. Input
 * records come from files and pipes, framed by gb_reader, then converted
 * or validated by gb_schema; nothing unchecked reaches the publisher. */
#include "gb_record_schema.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gb_client_internal.h"

#define SET_NAME_MAX 48

struct gb_record_schema {
	gb_schema *schema;
	const gb_schema_type *type;
	const char *origin;
};

/* ---------------------------------------------------------------- finding */

/* Load `sets` and find `type` in them: a schema from `origin`. */
static int schema_from_sets(gb_client *c, const char *dataset,
			    const gb_schema_set *sets, size_t n,
			    const char *type, const char *origin,
			    gb_record_schema **out)
{
	gb_record_schema *rs = calloc(1, sizeof *rs);
	char why[512];
	int rc;

	if (!rs)
		return gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
	rs->origin = origin;
	rc = gb_schema_load(sets, n, &rs->schema, why, sizeof why);
	if (rc == GB_ENOMEM) {
		gb_record_schema_destroy(&rs);
		return gb_client_fail(c, rc, 0, "out of memory");
	}
	if (rc != 0) {
		gb_record_schema_destroy(&rs);
		return gb_client_fail(c, GB_EPROTO, 0, "the schema of %s in %s "
				      "does not load: %s", dataset, origin, why);
	}
	rs->type = gb_schema_find(rs->schema, type);
	if (!rs->type) {
		gb_record_schema_destroy(&rs);
		return gb_client_fail(c, GB_EPROTO, 0, "%s names message type "
				      "%.200s for %s, but its descriptor sets do "
				      "not define it", origin, type, dataset);
	}
	*out = rs;
	return 0;
}

/* Ask the broker for this department's catalog. */
static int fetch_catalog(gb_client *c, gb_server_frame **answer)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__CatalogRequest cr = GOVBUS__V1__CATALOG_REQUEST__INIT;

	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CATALOG_REQUEST;
	f.catalog_request = &cr;
	return gb_client_ask(c, &f, GOVBUS__V1__SERVER_FRAME__BODY_CATALOG,
			     "catalog request", answer);
}

static int schema_from_catalog(gb_client *c, const char *dataset,
			       gb_record_schema **out)
{
	const Govbus__V1__Catalog *cat;
	const char *type = NULL;
	gb_server_frame *answer = NULL;
	gb_schema_set *sets = NULL;
	char (*names)[SET_NAME_MAX] = NULL;
	size_t n;
	int rc = fetch_catalog(c, &answer);

	if (rc != 0)
		return rc;
	cat = answer->catalog;
	for (size_t i = 0; i < cat->n_datasets; i++)
		if (!strcmp(cat->datasets[i]->id, dataset))
			type = cat->datasets[i]->schema;
	if (!type || !type[0])
		goto out; /* not listed, or no schema: opaque records */
	n = cat->n_descriptor_sets;
	if (n == 0 || n > GB_SCHEMA_MAX_SETS) {
		rc = gb_client_fail(c, GB_EPROTO, 0, "the broker's catalog "
				    "names message type %.200s for %s but "
				    "carries %zu descriptor sets",
				    type, dataset, n);
		goto out;
	}
	sets = calloc(n, sizeof *sets);
	names = calloc(n, sizeof *names);
	if (!sets || !names) {
		rc = gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof names[i], "catalog descriptor set %zu",
			 i + 1);
		sets[i] = (gb_schema_set){names[i],
					  cat->descriptor_sets[i].data,
					  cat->descriptor_sets[i].len};
	}
	rc = schema_from_sets(c, dataset, sets, n, type, "the broker's catalog",
			      out);
out:
	free(sets);
	free(names);
	gb_codec_server_free(&answer);
	return rc;
}

int gb_record_schema_find(gb_client *c, const char *dataset,
			  gb_record_schema **out)
{
	const gb_agent_schema *pin =
		gb_agent_config_schema(gb_client_config(c), dataset);

	*out = NULL;
	if (pin) {
		gb_schema_set set = {"the agent config's descriptor set",
				     pin->descriptor_set,
				     pin->descriptor_set_len};

		return schema_from_sets(c, dataset, &set, 1, pin->type,
					"the agent config", out);
	}
	return schema_from_catalog(c, dataset, out);
}

const gb_schema_type *gb_record_schema_type(const gb_record_schema *rs)
{
	return rs->type;
}

const char *gb_record_schema_origin(const gb_record_schema *rs)
{
	return rs->origin;
}

void gb_record_schema_destroy(gb_record_schema **rs)
{
	if (!rs || !*rs)
		return;
	gb_schema_destroy(&(*rs)->schema);
	free(*rs);
	*rs = NULL;
}

/* ---------------------------------------------------------------- input */

struct gb_record_input {
	gb_reader *reader;
	gb_format fmt;
	const gb_schema_type *type;
	uint8_t *converted;           /* the last JSON line as protobuf */
	size_t converted_len;
};

int gb_record_input_new(int fd, gb_format fmt, const gb_schema_type *type,
			gb_record_input **out)
{
	gb_record_input *in;
	int rc;

	*out = NULL;
	if (fmt == GB_FORMAT_JSON && !type)
		return GB_EINVAL;
	in = calloc(1, sizeof *in);
	if (!in)
		return GB_ENOMEM;
	in->fmt = fmt;
	in->type = type;
	/* JSON records are lines of text until converted */
	rc = gb_reader_new(fd, fmt == GB_FORMAT_JSON ? GB_FORMAT_LINES : fmt, 0,
			   &in->reader);
	if (rc != 0) {
		free(in);
		return rc;
	}
	*out = in;
	return 0;
}

int gb_record_input_next(gb_record_input *in, const uint8_t **rec,
			 size_t *len, char *why, size_t why_len)
{
	char detail[512];
	uint64_t n;
	int rc = gb_reader_next(in->reader, rec, len, why, why_len);

	if (rc <= 0 || !in->type)
		return rc;
	n = gb_reader_records(in->reader);
	if (in->fmt == GB_FORMAT_JSON) {
		free(in->converted);
		in->converted = NULL;
		rc = gb_schema_from_json(in->type, (const char *)*rec, *len,
					 &in->converted, &in->converted_len,
					 detail, sizeof detail);
		*rec = in->converted;
		*len = in->converted_len;
	} else {
		rc = gb_schema_validate(in->type, *rec, *len, detail,
					sizeof detail);
	}
	if (rc == 0)
		return 1;
	return gb_why(why, why_len, rc, "%s %" PRIu64 ": %s",
		      in->fmt == GB_FORMAT_DELIMITED ? "record" : "line", n,
		      detail);
}

uint64_t gb_record_input_records(const gb_record_input *in)
{
	return gb_reader_records(in->reader);
}

void gb_record_input_destroy(gb_record_input **in)
{
	if (!in || !*in)
		return;
	gb_reader_destroy(&(*in)->reader);
	free((*in)->converted);
	free(*in);
	*in = NULL;
}

int gb_record_input_check_all(int fd, gb_format fmt,
			      const gb_schema_type *type, char *why,
			      size_t why_len)
{
	gb_record_input *in = NULL;
	struct stat st;
	const uint8_t *rec;
	size_t len;
	off_t start;
	int rc;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return 1;
	start = lseek(fd, 0, SEEK_CUR);
	if (start < 0)
		return 1;
	rc = gb_record_input_new(fd, fmt, type, &in);
	if (rc != 0)
		return gb_why(why, why_len, rc, "%s", gb_strerror(rc));
	while ((rc = gb_record_input_next(in, &rec, &len, why, why_len)) > 0)
		;
	gb_record_input_destroy(&in);
	if (rc == 0 && lseek(fd, start, SEEK_SET) != start)
		rc = gb_why(why, why_len, GB_EIO, "cannot read the input again: "
			    "%s", strerror(errno));
	return rc;
}
