/* Tests of the catalog and access-request frames in the codec:
 * each frame is packed as a peer would send it and decoded; valid ones
 * pass, and every bounded or enumerated field, when wrong, is refused with
 * its name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_codec.h"
#include "gb_error.h"
#include "gb_test.h"

static char *rights_ok[] = {(char *)"subscribe", (char *)"replay"};

/* Pack `f` and decode it as the broker would; `field` must appear in the
 * refusal when want != 0. */
static void client(const gb_client_frame *f, int want, const char *field)
{
	size_t len = govbus__v1__client_frame__get_packed_size(f);
	uint8_t *buf = malloc(len ? len : 1);
	gb_client_frame *out = NULL;
	char why[256] = "";

	govbus__v1__client_frame__pack(f, buf);
	CHECK_RC(gb_codec_client_decode(buf, len, &out, why, sizeof why), want);
	if (want && field)
		CHECK_CONTAINS(why, field);
	CHECK((out != NULL) == (want == 0));
	gb_codec_client_free(&out);
	free(buf);
}

static void server(const gb_server_frame *f, int want, const char *field)
{
	size_t len = govbus__v1__server_frame__get_packed_size(f);
	uint8_t *buf = malloc(len ? len : 1);
	gb_server_frame *out = NULL;
	char why[256] = "";

	govbus__v1__server_frame__pack(f, buf);
	CHECK_RC(gb_codec_server_decode(buf, len, &out, why, sizeof why), want);
	if (want && field)
		CHECK_CONTAINS(why, field);
	CHECK((out != NULL) == (want == 0));
	gb_codec_server_free(&out);
	free(buf);
}

static void test_client(void)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__CatalogRequest cr = GOVBUS__V1__CATALOG_REQUEST__INIT;
	Govbus__V1__AccessRequestQuery q = GOVBUS__V1__ACCESS_REQUEST_QUERY__INIT;
	Govbus__V1__AccessRequest ar = GOVBUS__V1__ACCESS_REQUEST__INIT;
	char *bad_right[] = {(char *)"write"};
	char *twice[] = {(char *)"replay", (char *)"replay"};
	char *three[] = {(char *)"subscribe", (char *)"replay",
			 (char *)"subscribe"};
	char long_text[GB_MAX_TEXT_LEN + 2];

	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CATALOG_REQUEST;
	f.catalog_request = &cr;
	client(&f, 0, NULL);
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST_QUERY;
	f.access_request_query = &q;
	client(&f, 0, NULL);

	ar.dataset = (char *)"tax.invoices";
	ar.rights = rights_ok;
	ar.n_rights = 2;
	ar.purpose = (char *)"Vérifier les revenus déclarés";
	ar.legal_basis = (char *)"Act 12 s.4";
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST;
	f.access_request = &ar;
	client(&f, 0, NULL);

	ar.dataset = (char *)"Tax Invoices";
	client(&f, GB_EINVAL, "access_request.dataset");
	ar.dataset = (char *)"tax.invoices";
	ar.n_rights = 0;
	client(&f, GB_EINVAL, "access_request.rights");
	ar.rights = bad_right;
	ar.n_rights = 1;
	client(&f, GB_EINVAL, "access_request.rights");
	ar.rights = twice;
	ar.n_rights = 2;
	client(&f, GB_EINVAL, "listed twice");
	ar.rights = three;
	ar.n_rights = 3;
	client(&f, GB_EINVAL, "access_request.rights");
	ar.rights = rights_ok;
	ar.n_rights = 1;
	ar.purpose = (char *)"";
	client(&f, GB_EINVAL, "access_request.purpose: must not be empty");
	memset(long_text, 'x', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	ar.purpose = long_text;
	client(&f, GB_EINVAL, "access_request.purpose: longer than");
	ar.purpose = (char *)"checks";
	ar.legal_basis = (char *)"Act\x1b[2J";
	client(&f, GB_EINVAL, "access_request.legal_basis: contains a control");
	ar.legal_basis = (char *)"Act \xc3\x28";
	client(&f, GB_EINVAL, "access_request.legal_basis: is not valid UTF-8");
}

static void test_server(void)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Catalog cat = GOVBUS__V1__CATALOG__INIT;
	Govbus__V1__CatalogEntry e = GOVBUS__V1__CATALOG_ENTRY__INIT;
	Govbus__V1__CatalogEntry *entries[] = {&e};
	Govbus__V1__AccessRequestAck ack = GOVBUS__V1__ACCESS_REQUEST_ACK__INIT;
	Govbus__V1__AccessRequestInfo info = GOVBUS__V1__ACCESS_REQUEST_INFO__INIT;
	Govbus__V1__AccessRequestInfo *infos[] = {&info};
	Govbus__V1__AccessRequestList list = GOVBUS__V1__ACCESS_REQUEST_LIST__INIT;
	char *all_rights[] = {(char *)"publish", (char *)"subscribe",
			      (char *)"replay", (char *)"read-content"};
	char *admin[] = {(char *)"admin"};

	e.id = (char *)"tax.invoices";
	e.owner = (char *)"tax";
	e.title = (char *)"VAT invoices";
	e.sharing = (char *)"conditional";
	e.classification = (char *)"internal";
	e.available_since = (char *)"2024-01-01";
	e.history = (char *)"since-grant";
	e.rights = all_rights;
	e.n_rights = 4;
	cat.datasets = entries;
	cat.n_datasets = 1;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_CATALOG;
	f.catalog = &cat;
	server(&f, 0, NULL);
	e.history = (char *)"";
	e.rights = NULL;
	e.n_rights = 0;
	server(&f, 0, NULL); /* no grant, no rights */

	e.sharing = (char *)"public";
	server(&f, GB_EINVAL, "catalog.sharing");
	e.sharing = (char *)"open";
	e.classification = (char *)"secret";
	server(&f, GB_EINVAL, "catalog.classification");
	e.classification = (char *)"public";
	e.rights = admin;
	e.n_rights = 1;
	server(&f, GB_EINVAL, "catalog.rights");
	e.rights = NULL;
	e.n_rights = 0;
	e.owner = (char *)"";
	server(&f, GB_EINVAL, "catalog.owner");
	e.owner = (char *)"tax";
	e.available_since = (char *)"2024/01/01";
	server(&f, GB_EINVAL, "catalog.available_since");
	e.available_since = (char *)"";
	e.description = (char *)"line one\nline two";
	server(&f, GB_EINVAL, "catalog.description: contains a control");
	e.description = (char *)"";
	e.history = (char *)"forever";
	server(&f, GB_EINVAL, "catalog.history");
	e.history = (char *)"";
	server(&f, 0, NULL);

	info.id = 1;
	info.dept = (char *)"social";
	info.dataset = (char *)"tax.invoices";
	info.rights = rights_ok;
	info.n_rights = 1;
	info.purpose = (char *)"checks";
	info.legal_basis = (char *)"Act 12";
	info.status = (char *)"pending";
	ack.request = &info;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK;
	f.access_request_ack = &ack;
	server(&f, 0, NULL);
	info.status = (char *)"maybe";
	server(&f, GB_EINVAL, "request.status");
	info.status = (char *)"refused";
	info.id = 0;
	server(&f, GB_EINVAL, "request.id");
	info.id = 2;
	ack.request = NULL;
	server(&f, GB_EPROTO, "request: missing");
	ack.request = &info;

	list.requests = infos;
	list.n_requests = 1;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_LIST;
	f.access_request_list = &list;
	server(&f, 0, NULL);
	info.dept = (char *)"Social";
	server(&f, GB_EINVAL, "request.dept");
	info.dept = (char *)"social";
	list.n_requests = 0;
	server(&f, 0, NULL);
}

static void test_text(void)
{
	CHECK(gb_text_problem("plain ASCII, and €uro", 23) == NULL);
	CHECK(gb_text_problem("", 0) == NULL);
	CHECK_STR(gb_text_problem("tab\there", 8), "contains a control character");
	CHECK_STR(gb_text_problem("\xc2\x85", 2), "contains a control character");
	CHECK_STR(gb_text_problem("\xc0\xaf", 2), "is not valid UTF-8");
	CHECK_STR(gb_text_problem("\xed\xa0\x80", 3), "is not valid UTF-8");
	CHECK_STR(gb_text_problem("\xe2\x82", 2), "is not valid UTF-8");
}

int main(void)
{
	test_client();
	test_server();
	test_text();
	TEST_EXIT();
}
