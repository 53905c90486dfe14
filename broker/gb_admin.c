/* govbus-broker admin listings; see gb_admin.h.
 *
 * Trust: the registry was validated by the loader;
 * stored requests are decoded and checked by gb_requests_list; every value
 * is made safe for the terminal by gb_listing. */
#include "gb_admin.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gb_config.h"
#include "gb_error.h"
#include "gb_keys.h"
#include "gb_listing.h"
#include "gb_requests.h"
#include "gb_store.h"

/* Formatted values of one row, alive while the row is added. */
struct scratch {
	char time1[GB_TIME_TEXT], time2[GB_TIME_TEXT];
	char sign[GB_SIGN_PK_TEXT], box[GB_BOX_PK_TEXT];
	char rights[64];
};

typedef void (*row_fn)(const gb_registry *reg, size_t i, const char **values,
		       struct scratch *sc);

static const gb_column department_columns[] = {
	{"kind", NULL, GB_COLUMN_TEXT},
	{"id", "ID", GB_COLUMN_TEXT},
	{"name", "NAME", GB_COLUMN_TEXT},
	{"role", "ROLE", GB_COLUMN_TEXT},
	{"sign_key", NULL, GB_COLUMN_TEXT},
	{"box_key", NULL, GB_COLUMN_TEXT},
};

static void department_row(const gb_registry *reg, size_t i,
			   const char **v, struct scratch *sc)
{
	const gb_department *d = gb_registry_department_at(reg, i);

	gb_key_encode_sign(d->sign_pk, sc->sign);
	gb_key_encode_box(d->box_pk, sc->box);
	v[0] = "department";
	v[1] = d->id;
	v[2] = d->name;
	v[3] = gb_role_name(d->role);
	v[4] = sc->sign;
	v[5] = sc->box;
}

static const gb_column dataset_columns[] = {
	{"kind", NULL, GB_COLUMN_TEXT},
	{"id", "ID", GB_COLUMN_TEXT},
	{"owner", "OWNER", GB_COLUMN_TEXT},
	{"sharing", "SHARING", GB_COLUMN_TEXT},
	{"classification", "CLASS", GB_COLUMN_TEXT},
	{"available_since", "SINCE", GB_COLUMN_TEXT},
	{"title", "TITLE", GB_COLUMN_TEXT},
	{"description", NULL, GB_COLUMN_TEXT},
	{"conditions", NULL, GB_COLUMN_TEXT},
	{"update_frequency", NULL, GB_COLUMN_TEXT},
	{"format", NULL, GB_COLUMN_TEXT},
	{"contact", NULL, GB_COLUMN_TEXT},
	{"audit_access", NULL, GB_COLUMN_TEXT},
	{"schema", NULL, GB_COLUMN_TEXT},      /* its message type, if any */
};

static void dataset_row(const gb_registry *reg, size_t i, const char **v,
			struct scratch *sc)
{
	const gb_dataset *ds = gb_registry_dataset_at(reg, i);

	(void)sc;
	v[0] = "dataset";
	v[1] = ds->id;
	v[2] = ds->owner;
	v[3] = gb_sharing_name(ds->sharing);
	v[4] = gb_classification_name(ds->classification);
	v[5] = ds->available_since;
	v[6] = ds->title;
	v[7] = ds->description;
	v[8] = ds->conditions;
	v[9] = ds->update_frequency;
	v[10] = ds->format;
	v[11] = ds->contact;
	v[12] = gb_audit_access_name(ds->audit_access);
	v[13] = ds->schema;
}

static const gb_column grant_columns[] = {
	{"kind", NULL, GB_COLUMN_TEXT},
	{"dataset", "DATASET", GB_COLUMN_TEXT},
	{"to", "TO", GB_COLUMN_TEXT},
	{"rights", "RIGHTS", GB_COLUMN_LIST},
	{"starts", NULL, GB_COLUMN_TEXT},
	{"expires", "EXPIRES", GB_COLUMN_TEXT},
	{"history", "HISTORY", GB_COLUMN_TEXT},
	{"approved_by", "APPROVED BY", GB_COLUMN_TEXT},
	{"purpose", NULL, GB_COLUMN_TEXT},
	{"legal_basis", NULL, GB_COLUMN_TEXT},
};

static void grant_row(const gb_registry *reg, size_t i, const char **v,
		      struct scratch *sc)
{
	const gb_grant *g = gb_registry_grant_at(reg, i);

	gb_listing_time((uint64_t)g->starts_ns, sc->time1);
	gb_listing_time((uint64_t)g->expires_ns, sc->time2);
	v[0] = "grant";
	v[1] = g->dataset;
	v[2] = g->to;
	v[3] = gb_rights_text(g->rights, sc->rights, sizeof sc->rights);
	v[4] = sc->time1;
	v[5] = sc->time2;
	v[6] = gb_history_name(g->history);
	v[7] = g->approved_by;
	v[8] = g->purpose;
	v[9] = g->legal_basis;
}

static const gb_column refusal_columns[] = {
	{"kind", NULL, GB_COLUMN_TEXT},
	{"dataset", "DATASET", GB_COLUMN_TEXT},
	{"to", "TO", GB_COLUMN_TEXT},
	{"date", "DATE", GB_COLUMN_TEXT},
	{"refused_by", "REFUSED BY", GB_COLUMN_TEXT},
	{"reason", "REASON", GB_COLUMN_TEXT},
};

static void refusal_row(const gb_registry *reg, size_t i, const char **v,
			struct scratch *sc)
{
	const gb_refusal *r = gb_registry_refusal_at(reg, i);

	gb_listing_time((uint64_t)r->date_ns, sc->time1);
	v[0] = "refusal";
	v[1] = r->dataset;
	v[2] = r->to;
	v[3] = sc->time1;
	v[4] = r->refused_by;
	v[5] = r->reason;
}

#define COLUMNS(a) (a), (sizeof(a) / sizeof((a)[0]))
#define ROW_MAX 16

/* One part of the registry: in a table under a title line, as JSON lines
 * otherwise. */
static int print_section(FILE *out, bool table, const char *title,
			 const gb_registry *reg, size_t count,
			 const gb_column *cols, size_t ncols, row_fn row)
{
	const char *values[ROW_MAX];
	struct scratch sc;
	gb_listing *l = NULL;
	int rc;

	if (table)
		fprintf(out, "%s (%zu)\n", title, count);
	rc = gb_listing_new(out, table, cols, ncols, &l);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		memset(values, 0, sizeof values);
		row(reg, i, values, &sc);
		rc = gb_listing_row(l, values);
	}
	if (rc == 0)
		rc = gb_listing_finish(l);
	gb_listing_destroy(&l);
	if (table)
		fputc('\n', out);
	return rc;
}

static int output_failed(void)
{
	fprintf(stderr, "govbus-broker: cannot write the listing (%u): %s\n",
		gb_error_status(GB_EIO), gb_strerror(GB_EIO));
	return 1;
}

int gb_admin_registry(const gb_registry *reg, FILE *out)
{
	bool table = gb_listing_is_terminal(out);
	int rc;

	_Static_assert(sizeof dataset_columns / sizeof dataset_columns[0] <= ROW_MAX &&
			       sizeof grant_columns / sizeof grant_columns[0] <= ROW_MAX,
		       "rows hold at most ROW_MAX values");
	rc = print_section(out, table, "departments", reg,
			   gb_registry_department_count(reg),
			   COLUMNS(department_columns), department_row);
	if (rc == 0)
		rc = print_section(out, table, "datasets", reg,
				   gb_registry_dataset_count(reg),
				   COLUMNS(dataset_columns), dataset_row);
	if (rc == 0)
		rc = print_section(out, table, "grants", reg,
				   gb_registry_grant_count(reg),
				   COLUMNS(grant_columns), grant_row);
	if (rc == 0)
		rc = print_section(out, table, "refusals", reg,
				   gb_registry_refusal_count(reg),
				   COLUMNS(refusal_columns), refusal_row);
	return rc == 0 ? 0 : output_failed();
}

static int request_row(void *ctx, const Govbus__V1__AccessRequestInfo *info)
{
	return gb_listing_request(ctx, info);
}

int gb_admin_requests(const gb_registry *reg, FILE *out)
{
	gb_store *store = NULL;
	gb_listing *l = NULL;
	int rc;

	rc = gb_store_open_readonly(gb_registry_broker(reg)->data_dir, &store);
	if (rc != 0) {
		fprintf(stderr, "govbus-broker: cannot read the requests in "
			"%.200s (%u): %s\n",
			gb_registry_broker(reg)->data_dir, gb_error_status(rc),
			gb_strerror(rc));
		return 1;
	}
	rc = gb_listing_new(out, gb_listing_is_terminal(out), gb_request_columns,
			    gb_request_column_count, &l);
	if (rc == 0)
		rc = gb_requests_list(store, NULL, request_row, l);
	if (rc >= 0)
		rc = gb_listing_finish(l);
	gb_listing_destroy(&l);
	gb_store_close(&store);
	if (rc == GB_EIO)
		return output_failed();
	if (rc < 0) {
		fprintf(stderr, "govbus-broker: cannot read the requests (%u): "
			"%s\n", gb_error_status(rc), gb_strerror(rc));
		return 1;
	}
	return 0;
}
