/* govbus-agent catalog, request and requests; see gb_catalog_cli.h.
 *
 * Trust: command-line values are checked before anything is sent (ids,
 * rights, bounded UTF-8 purpose and legal basis); the broker's answers
 * were bounded and checked by gb_codec, and gb_listing makes every value
 * safe for the terminal. */
#include "gb_catalog_cli.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gb_client_internal.h"
#include "gb_codec.h"
#include "gb_listing.h"

static const char usage_catalog[] =
	"usage: govbus-agent --config AGENT.yaml catalog [--format table|json]\n"
	"\n"
	"List the datasets this department may see, with its rights on each\n"
	"(publish, subscribe, replay, read-content) and, where a grant applies,\n"
	"its purpose, legal basis, expiry and history:\n"
	"  its own datasets; every open dataset; every conditional dataset,\n"
	"  listed with no rights when this department holds no grant for it\n"
	"  (ask for one with 'govbus-agent request'); every dataset for an\n"
	"  auditor. Closed datasets of other departments are not listed.\n"
	"A table on a terminal, JSON lines (one dataset per line) in a pipe.\n";

static const char usage_request[] =
	"usage: govbus-agent --config AGENT.yaml request --dataset D\n"
	"                    --purpose TEXT --legal-basis TEXT\n"
	"                    [--rights subscribe,replay] [--format table|json]\n"
	"\n"
	"Ask for access to conditional dataset D. The broker records the\n"
	"request as pending (asking again while it is pending returns the same\n"
	"request) and the admins answer it in the registry: a grant approves it,\n"
	"a refusal refuses it, on the broker's next config reload. See the\n"
	"answer with 'govbus-agent requests'.\n"
	"\n"
	"  --rights    what to ask for: subscribe (live records), replay\n"
	"              (history), or both (the default), comma-separated.\n"
	"  --purpose, --legal-basis  1..1024 bytes of text each.\n"
	"Open datasets need no request (400); closed ones, one's own, granted\n"
	"ones and refused ones cannot be requested (409).\n";

static const char usage_requests[] =
	"usage: govbus-agent --config AGENT.yaml requests [--format table|json]\n"
	"\n"
	"List this department's access requests: id, dataset, rights, status\n"
	"(pending, approved, refused), when, and the reason (the refusal's, or\n"
	"who approved the grant). A table on a terminal, JSON lines in a pipe.\n";

static const char *const request_rights[GB_CATALOG_RIGHTS_MAX] = {
	"subscribe", "replay"};

static const struct {
	const char *word;
	gb_catalog_verb verb;
	const char *usage;
} commands[] = {
	{"catalog", GB_CATALOG_LIST, usage_catalog},
	{"request", GB_CATALOG_REQUEST, usage_request},
	{"requests", GB_CATALOG_REQUESTS, usage_requests},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

bool gb_catalog_is_command(const char *word)
{
	for (size_t i = 0; i < COUNT(commands); i++)
		if (!strcmp(word, commands[i].word))
			return true;
	return false;
}

static int usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "govbus-agent: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see govbus-agent %s --help)\n", cmd);
	return 2;
}

/* "subscribe,replay" into cmd->rights. */
static int parse_rights(const char *text, gb_catalog_cmd *cmd)
{
	const char *p = text;

	cmd->n_rights = 0;
	while (*p) {
		size_t n = strcspn(p, ","), k;

		for (k = 0; k < COUNT(request_rights); k++)
			if (strlen(request_rights[k]) == n &&
			    !strncmp(p, request_rights[k], n))
				break;
		if (k == COUNT(request_rights))
			return usage(cmd->name, "--rights: '%.*s' is not subscribe "
				     "or replay", (int)(n < 32 ? n : 32), p);
		for (size_t i = 0; i < cmd->n_rights; i++)
			if (cmd->rights[i] == request_rights[k])
				return usage(cmd->name, "--rights: %s listed twice",
					     request_rights[k]);
		cmd->rights[cmd->n_rights++] = request_rights[k];
		p += n;
		if (*p == ',')
			p++;
	}
	if (cmd->n_rights == 0)
		return usage(cmd->name, "--rights: name subscribe, replay or both");
	return 0;
}

static int check_text_option(const char *cmd, const char *option,
			     const char *text)
{
	size_t len = strlen(text);
	const char *problem = gb_text_problem(text, len);

	if (len == 0 || len > GB_MAX_TEXT_LEN)
		return usage(cmd, "%s must be 1..%d bytes", option,
			     GB_MAX_TEXT_LEN);
	if (problem)
		return usage(cmd, "%s %s", option, problem);
	return 0;
}

int gb_catalog_parse(const char *word, int argc, char **argv,
		     gb_catalog_cmd *cmd)
{
	size_t which = 0;
	int rc;

	memset(cmd, 0, sizeof *cmd);
	while (which < COUNT(commands) && strcmp(word, commands[which].word))
		which++;
	if (which == COUNT(commands))
		return usage(word, "not a catalog command");
	cmd->verb = commands[which].verb;
	cmd->name = commands[which].word;
	cmd->table = -1;
	/* Every option takes a value: they come in pairs. */
	for (int i = 0; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool request = cmd->verb == GB_CATALOG_REQUEST;

		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			fputs(commands[which].usage, stdout);
			return -1;
		}
		if (!strncmp(o, "--", 2) && !v)
			return usage(cmd->name, "%s needs a value", o);
		if (!strcmp(o, "--format")) {
			if (strcmp(v, "table") && strcmp(v, "json"))
				return usage(cmd->name, "--format must be table "
					     "or json");
			cmd->table = !strcmp(v, "table");
		} else if (request && !strcmp(o, "--dataset")) {
			if (!gb_id_valid(v))
				return usage(cmd->name, "'%.64s' is not a valid "
					     "dataset id", v);
			cmd->dataset = v;
		} else if (request && !strcmp(o, "--purpose")) {
			cmd->purpose = v;
		} else if (request && !strcmp(o, "--legal-basis")) {
			cmd->legal_basis = v;
		} else if (request && !strcmp(o, "--rights")) {
			rc = parse_rights(v, cmd);
			if (rc)
				return rc;
		} else {
			return usage(cmd->name, "unexpected argument '%.40s'", o);
		}
	}
	if (cmd->verb != GB_CATALOG_REQUEST)
		return 0;
	if (!cmd->dataset || !cmd->purpose || !cmd->legal_basis)
		return usage(cmd->name, "--dataset, --purpose and --legal-basis "
			     "are required");
	rc = check_text_option(cmd->name, "--purpose", cmd->purpose);
	if (rc == 0)
		rc = check_text_option(cmd->name, "--legal-basis",
				       cmd->legal_basis);
	if (rc == 0 && cmd->n_rights == 0) {
		cmd->rights[0] = request_rights[0];
		cmd->rights[1] = request_rights[1];
		cmd->n_rights = 2;
	}
	return rc;
}

/* ---------------------------------------------------------------- running */

static const gb_column catalog_columns[] = {
	{"id", "DATASET", GB_COLUMN_TEXT},
	{"owner", "OWNER", GB_COLUMN_TEXT},
	{"sharing", "SHARING", GB_COLUMN_TEXT},
	{"classification", "CLASS", GB_COLUMN_TEXT},
	{"rights", "RIGHTS", GB_COLUMN_LIST},
	{"grant_expires", "GRANT EXPIRES", GB_COLUMN_TEXT},
	{"title", "TITLE", GB_COLUMN_TEXT},
	{"description", NULL, GB_COLUMN_TEXT},
	{"conditions", NULL, GB_COLUMN_TEXT},
	{"update_frequency", NULL, GB_COLUMN_TEXT},
	{"format", NULL, GB_COLUMN_TEXT},
	{"schema", NULL, GB_COLUMN_TEXT},
	{"contact", NULL, GB_COLUMN_TEXT},
	{"available_since", NULL, GB_COLUMN_TEXT},
	{"grant_purpose", NULL, GB_COLUMN_TEXT},
	{"grant_legal_basis", NULL, GB_COLUMN_TEXT},
	{"history", NULL, GB_COLUMN_TEXT},
};

static int catalog_row(gb_listing *l, const Govbus__V1__CatalogEntry *e)
{
	char rights[64], expires[GB_TIME_TEXT];
	const char *v[COUNT(catalog_columns)];
	size_t k = 0;

	gb_listing_join(e->rights, e->n_rights, rights, sizeof rights);
	gb_listing_time(e->grant_expires_ns, expires);
	v[k++] = e->id;
	v[k++] = e->owner;
	v[k++] = e->sharing;
	v[k++] = e->classification;
	v[k++] = rights;
	v[k++] = expires;
	v[k++] = e->title;
	v[k++] = e->description;
	v[k++] = e->conditions;
	v[k++] = e->update_frequency;
	v[k++] = e->format;
	v[k++] = e->schema;
	v[k++] = e->contact;
	v[k++] = e->available_since;
	v[k++] = e->grant_purpose;
	v[k++] = e->grant_legal_basis;
	v[k++] = e->history;
	return gb_listing_row(l, v);
}

static int run_listing(gb_client *c, const gb_catalog_cmd *cmd,
		       const gb_server_frame *a, FILE *out)
{
	bool table = cmd->table < 0 ? gb_listing_is_terminal(out) : cmd->table;
	gb_listing *l = NULL;
	int rc;

	if (cmd->verb == GB_CATALOG_LIST)
		rc = gb_listing_new(out, table, catalog_columns,
				    COUNT(catalog_columns), &l);
	else
		rc = gb_listing_new(out, table, gb_request_columns,
				    gb_request_column_count, &l);
	switch (rc == 0 ? a->body_case : 0) {
	case GOVBUS__V1__SERVER_FRAME__BODY_CATALOG:
		for (size_t i = 0; rc == 0 && i < a->catalog->n_datasets; i++)
			rc = catalog_row(l, a->catalog->datasets[i]);
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK:
		rc = gb_listing_request(l, a->access_request_ack->request);
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_LIST:
		for (size_t i = 0;
		     rc == 0 && i < a->access_request_list->n_requests; i++)
			rc = gb_listing_request(
				l, a->access_request_list->requests[i]);
		break;
	default:
		break;
	}
	if (rc == 0)
		rc = gb_listing_finish(l);
	gb_listing_destroy(&l);
	if (rc != 0)
		return gb_client_fail(c, rc, 0, "cannot write the %s listing",
				      cmd->name);
	return 0;
}

int gb_catalog_run(gb_client *c, const gb_catalog_cmd *cmd, FILE *out)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__CatalogRequest cr = GOVBUS__V1__CATALOG_REQUEST__INIT;
	Govbus__V1__AccessRequest ar = GOVBUS__V1__ACCESS_REQUEST__INIT;
	Govbus__V1__AccessRequestQuery q = GOVBUS__V1__ACCESS_REQUEST_QUERY__INIT;
	gb_server_frame *a = NULL;
	int want, rc;

	switch (cmd->verb) {
	case GB_CATALOG_LIST:
		f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CATALOG_REQUEST;
		f.catalog_request = &cr;
		want = GOVBUS__V1__SERVER_FRAME__BODY_CATALOG;
		break;
	case GB_CATALOG_REQUEST:
		ar.dataset = (char *)cmd->dataset;
		ar.rights = (char **)cmd->rights;
		ar.n_rights = cmd->n_rights;
		ar.purpose = (char *)cmd->purpose;
		ar.legal_basis = (char *)cmd->legal_basis;
		f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST;
		f.access_request = &ar;
		want = GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK;
		break;
	default:
		f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST_QUERY;
		f.access_request_query = &q;
		want = GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_LIST;
		break;
	}
	rc = gb_client_ask(c, &f, want, cmd->name, &a);
	if (rc != 0)
		return rc;
	if (cmd->verb == GB_CATALOG_REQUEST) {
		const Govbus__V1__AccessRequestInfo *info =
			a->access_request_ack->request;

		if (strcmp(info->dataset, cmd->dataset) != 0) {
			gb_codec_server_free(&a);
			return gb_client_fail(c, GB_EPROTO, 0,
					      "the broker answered a request for "
					      "%s about another dataset",
					      cmd->dataset);
		}
		fprintf(stderr, "request %" PRIu64 " for %s: %s\n", info->id,
			info->dataset, info->status);
	}
	rc = run_listing(c, cmd, a, out);
	gb_codec_server_free(&a);
	return rc;
}
