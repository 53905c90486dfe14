/* Validation of the catalog and access-request frames; called by
 * the decoders in gb_codec.c, declared in gb_codec.h.
 *
 * Trust: these frames come from a peer. After protobuf-c has unpacked one
 * (the frame size was bounded before), every string a later stage prints,
 * stores or looks up is checked here: ids by gb_id_valid, free text as
 * bounded UTF-8 without control characters (so nothing a peer sends can
 * drive a terminal), and enumerations against their fixed names. An error
 * names the field. */
#include "gb_codec.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gb_error.h"

/* The most entries a rights list can hold: each name at most once. */
#define REQUEST_RIGHTS_MAX 2
#define CATALOG_RIGHTS_MAX 4
/* YYYY-MM-DD */
#define DAY_TEXT_LEN 10

static const char *const request_rights[REQUEST_RIGHTS_MAX] = {
	"subscribe", "replay"};
static const char *const catalog_rights[CATALOG_RIGHTS_MAX] = {
	"publish", "subscribe", "replay", "read-content"};
static const char *const sharing_names[] = {"open", "conditional", "closed"};
static const char *const class_names[] = {"public", "internal",
					  "confidential"};
static const char *const history_names[] = {"all", "since-grant", "none"};
static const char *const status_names[] = {"pending", "approved", "refused"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Free text of at most GB_MAX_TEXT_LEN bytes; `required`: not empty. */
static int check_text(const char *s, bool required, const char *field,
		      char *why, size_t why_len)
{
	size_t len = s ? strnlen(s, GB_MAX_TEXT_LEN + 1) : 0;
	const char *problem;

	if (!s || (required && len == 0))
		return gb_why(why, why_len, GB_EINVAL, "%s: must not be empty",
			      field);
	if (len > GB_MAX_TEXT_LEN)
		return gb_why(why, why_len, GB_EINVAL,
			      "%s: longer than %d bytes", field,
			      GB_MAX_TEXT_LEN);
	problem = gb_text_problem(s, len);
	if (problem)
		return gb_why(why, why_len, GB_EINVAL, "%s: %s", field, problem);
	return 0;
}

/* One of names[] (or "" when `empty_ok`). */
static int check_name(const char *s, const char *const *names, size_t n,
		      bool empty_ok, const char *field, char *why,
		      size_t why_len)
{
	if (s && empty_ok && !s[0])
		return 0;
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return 0;
	return gb_why(why, why_len, GB_EINVAL, "%s: not a known value", field);
}

static int check_id(const char *s, const char *field, char *why,
		    size_t why_len)
{
	if (!gb_id_valid(s))
		return gb_why(why, why_len, GB_EINVAL, "%s: not a valid id",
			      field);
	return 0;
}

/* A list of distinct names from names[] (max n of them); at least one
 * when `required`. */
static int check_rights(char **rights, size_t count, const char *const *names,
			size_t n, bool required, const char *field, char *why,
			size_t why_len)
{
	unsigned seen = 0;

	if (count > n || (required && count == 0))
		return gb_why(why, why_len, GB_EINVAL,
			      "%s: must list %s%zu distinct rights", field,
			      required ? "1 to " : "at most ", n);
	for (size_t i = 0; i < count; i++) {
		size_t k;

		for (k = 0; k < n; k++)
			if (rights[i] && !strcmp(rights[i], names[k]))
				break;
		if (k == n)
			return gb_why(why, why_len, GB_EINVAL,
				      "%s: not a known right", field);
		if (seen & (1u << k))
			return gb_why(why, why_len, GB_EINVAL,
				      "%s: \"%s\" listed twice", field, names[k]);
		seen |= 1u << k;
	}
	return 0;
}

/* "" or YYYY-MM-DD in shape (the broker's config loader checked the day). */
static int check_day(const char *s, const char *field, char *why,
		     size_t why_len)
{
	if (!s || !s[0])
		return 0;
	if (strlen(s) != DAY_TEXT_LEN ||
	    strspn(s, "0123456789-") != DAY_TEXT_LEN || s[4] != '-' ||
	    s[7] != '-')
		return gb_why(why, why_len, GB_EINVAL,
			      "%s: not a date (YYYY-MM-DD)", field);
	return 0;
}

int gb_codec_check_request_info(const Govbus__V1__AccessRequestInfo *info,
				char *why, size_t why_len)
{
	if (!info)
		return gb_why(why, why_len, GB_EPROTO, "request: missing");
	if (info->id == 0)
		return gb_why(why, why_len, GB_EINVAL, "request.id: 0");
	if (check_id(info->dept, "request.dept", why, why_len) ||
	    check_id(info->dataset, "request.dataset", why, why_len) ||
	    check_rights(info->rights, info->n_rights, request_rights,
			 COUNT(request_rights), true, "request.rights", why,
			 why_len) ||
	    check_text(info->purpose, true, "request.purpose", why, why_len) ||
	    check_text(info->legal_basis, true, "request.legal_basis", why,
		       why_len) ||
	    check_name(info->status, status_names, COUNT(status_names), false,
		       "request.status", why, why_len) ||
	    check_text(info->reason, false, "request.reason", why, why_len))
		return GB_EINVAL;
	return 0;
}

static int check_entry(const Govbus__V1__CatalogEntry *e, char *why,
		       size_t why_len)
{
	const struct {
		const char *value, *field;
	} texts[] = {
		{e->title, "catalog.title"},
		{e->description, "catalog.description"},
		{e->conditions, "catalog.conditions"},
		{e->update_frequency, "catalog.update_frequency"},
		{e->format, "catalog.format"},
		{e->schema, "catalog.schema"},
		{e->contact, "catalog.contact"},
		{e->grant_purpose, "catalog.grant_purpose"},
		{e->grant_legal_basis, "catalog.grant_legal_basis"},
	};

	if (check_id(e->id, "catalog.id", why, why_len) ||
	    check_id(e->owner, "catalog.owner", why, why_len) ||
	    check_name(e->sharing, sharing_names, COUNT(sharing_names), false,
		       "catalog.sharing", why, why_len) ||
	    check_name(e->classification, class_names, COUNT(class_names),
		       false, "catalog.classification", why, why_len) ||
	    check_name(e->history, history_names, COUNT(history_names), true,
		       "catalog.history", why, why_len) ||
	    check_day(e->available_since, "catalog.available_since", why,
		      why_len) ||
	    check_rights(e->rights, e->n_rights, catalog_rights,
			 COUNT(catalog_rights), false, "catalog.rights", why,
			 why_len))
		return GB_EINVAL;
	for (size_t i = 0; i < COUNT(texts); i++)
		if (check_text(texts[i].value, false, texts[i].field, why,
			       why_len))
			return GB_EINVAL;
	return 0;
}

int gb_codec_check_access_client(const gb_client_frame *f, char *why,
				 size_t why_len)
{
	const Govbus__V1__AccessRequest *r;

	switch (f->body_case) {
	case GOVBUS__V1__CLIENT_FRAME__BODY_CATALOG_REQUEST:
		return f->catalog_request ? 0 : GB_EPROTO;
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST_QUERY:
		return f->access_request_query ? 0 : GB_EPROTO;
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST:
		r = f->access_request;
		if (!r)
			return GB_EPROTO;
		if (!gb_id_valid(r->dataset))
			return gb_why(why, why_len, GB_EINVAL,
				      "access_request.dataset: not a valid "
				      "dataset id");
		if (check_rights(r->rights, r->n_rights, request_rights,
				 COUNT(request_rights), true,
				 "access_request.rights", why, why_len) ||
		    check_text(r->purpose, true, "access_request.purpose", why,
			       why_len) ||
		    check_text(r->legal_basis, true,
			       "access_request.legal_basis", why, why_len))
			return GB_EINVAL;
		return 0;
	default:
		return gb_why(why, why_len, GB_EPROTO,
			      "frame: not a catalog or access request");
	}
}

int gb_codec_check_access_server(const gb_server_frame *f, char *why,
				 size_t why_len)
{
	switch (f->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_CATALOG:
		if (!f->catalog)
			return GB_EPROTO;
		for (size_t i = 0; i < f->catalog->n_datasets; i++)
			if (!f->catalog->datasets[i] ||
			    check_entry(f->catalog->datasets[i], why, why_len))
				return GB_EINVAL;
		return 0;
	case GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK:
		if (!f->access_request_ack)
			return GB_EPROTO;
		return gb_codec_check_request_info(f->access_request_ack->request,
						   why, why_len);
	case GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_LIST:
		if (!f->access_request_list)
			return GB_EPROTO;
		for (size_t i = 0; i < f->access_request_list->n_requests; i++)
			if (gb_codec_check_request_info(
				    f->access_request_list->requests[i], why,
				    why_len))
				return GB_EINVAL;
		return 0;
	default:
		return gb_why(why, why_len, GB_EPROTO,
			      "frame: not a catalog or access request answer");
	}
}
