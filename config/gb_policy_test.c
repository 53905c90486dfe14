/* Tests for the access policy: one registry, loaded from YAML the way the
 * broker loads it, and a table of decisions — each row one rule of
 * gb_policy_decide (sharing types, owner, auditors, grant rights, validity
 * window, history) with the expected outcome, error, reason and replay
 * horizon. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gb_config.h"
#include "gb_policy.h"
#include "gb_test.h"

#define NS INT64_C(1000000000)

static int64_t utc_ns(int y, int mo, int d)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
	return (int64_t)timegm(&tm) * NS;
}

/* tax, health, social, market: departments; audit, inspect: auditors.
 * inspect also holds a grant, to show that rules add up. */
static const char registry_yaml[] =
	"broker: { listen: \"tcp://127.0.0.1:7780\", data_dir: ./data,"
	" key: keys/broker.key }\n"
	"departments:\n"
	"  - { id: tax, name: Tax Bureau,"
	" sign_key: \"In5nRBnAFQS1duONSmNF0ov0Q7Sv2TedaT41dPqlgD4=\","
	" box_key: \"RGjsr:u^gn!&X[?>nP3}u5W0y]xPX<wg6Q)UzN3F\" }\n"
	"  - { id: health, name: Ministry of Health,"
	" sign_key: \"f6dwkcohKBcWP5lsnyHPi21SxS6Sk6109JENV8ny5uU=\","
	" box_key: \"{{RgjF)tBSne$Hfzg6ejXzu5X&eHH}0{]n>e[mBc\" }\n"
	"  - { id: social, name: Social Security Agency,"
	" sign_key: \"t+6OT5i++bIE4+TmiXQkrhzTR2B0U0sokOcicmyKsvo=\","
	" box_key: \")H%R9yaTZvyt)B!Swk]iTPlG32qUtF<btG[=fpc*\" }\n"
	"  - { id: market, name: Market Regulation Authority,"
	" sign_key: \"KyGW5DKevEoCqLsczR7e5zCgXMrJ4073jidnXX3WVXk=\","
	" box_key: \"dJn=*A*92dSTcE+F}X<J/4g)!wn]T05)eZ4pPtoo\" }\n"
	"  - { id: audit, name: National Audit Office, role: auditor,"
	" sign_key: \"6HTPTldKqYnHq+Rp9NTHc3gxm5qPOSdKyKBdiiPKzCY=\","
	" box_key: \"1XVfo4&<FKN/tPb3x=Z+ze*]SMVHhWk41Pm@vcr1\" }\n"
	"  - { id: inspect, name: Inspectorate, role: auditor,"
	" sign_key: \"8xVeNkhtC96I1revvRATM3VQgab4VRrNo/vQ2BlrJrY=\","
	" box_key: \"N!G]?Du#LvXx7Jl-)U6.>Kqpj:{tnZIB@TR.DiGY\" }\n"
	"datasets:\n"
	"  - { id: tax.invoices, owner: tax, title: VAT invoices,"
	" sharing: conditional, classification: internal }\n"
	"  - { id: tax.register, owner: tax, title: Business register,"
	" sharing: open, classification: public }\n"
	"  - { id: tax.cases, owner: tax, title: Audit cases,"
	" sharing: closed, classification: confidential }\n"
	"  - { id: health.records, owner: health, title: Patient records,"
	" sharing: closed, classification: confidential,"
	" audit_access: content }\n"
	"  - { id: social.benefits, owner: social, title: Benefits,"
	" sharing: conditional, classification: confidential,"
	" audit_access: content }\n"
	"grants:\n"
	"  - { dataset: tax.invoices, to: social, rights: [subscribe, replay],"
	" purpose: p, legal_basis: l, approved_by: a,"
	" starts: 2026-01-01, expires: 2027-01-01 }\n"
	"  - { dataset: tax.invoices, to: health, rights: [subscribe],"
	" purpose: p, legal_basis: l, approved_by: a,"
	" starts: 2026-01-15, expires: 2027-01-01, history: since-grant }\n"
	"  - { dataset: tax.invoices, to: market, rights: [replay, subscribe],"
	" purpose: p, legal_basis: l, approved_by: a,"
	" expires: 2027-01-01, history: none }\n"
	"  - { dataset: tax.invoices, to: inspect, rights: [subscribe],"
	" purpose: p, legal_basis: l, approved_by: a, expires: 2027-01-01 }\n"
	"  - { dataset: social.benefits, to: tax, rights: [replay],"
	" purpose: p, legal_basis: l, approved_by: a,"
	" starts: 2026-03-01, expires: 2028-01-01, history: since-grant }\n"
	"  - { dataset: social.benefits, to: health,"
	" rights: [subscribe, replay], purpose: p, legal_basis: l,"
	" approved_by: a, starts: 2026-02-01, expires: 2028-01-01,"
	" history: since-grant }\n"
	"  - { dataset: social.benefits, to: market, rights: [subscribe],"
	" purpose: p, legal_basis: l, approved_by: a,"
	" starts: 2026-09-01, expires: 2028-01-01 }\n";

enum { PUB = GB_ACTION_PUBLISH, SUB = GB_ACTION_SUBSCRIBE,
       REP = GB_ACTION_REPLAY, READ = GB_ACTION_READ_CONTENT };

/* A date in the table; 0 means the load time. */
struct day {
	int y, m, d;
};

struct row {
	const char *dept;
	int action;
	const char *dataset;
	struct day now;
	bool allowed;
	int error;
	const char *reason;
	bool by_grant;            /* decision carries the grant */
	struct day history_from;  /* 0 = all history; {1} = the load time */
};

#define LOADED {2026, 6, 1}
#define AT_LOAD {1, 0, 0}

static const struct row rows[] = {
	/* Publishing: the owner only, whatever the sharing. */
	{"tax", PUB, "tax.invoices", LOADED, true, 0, "owner", false, {0}},
	{"social", PUB, "tax.invoices", LOADED, false, GB_EPERM,
	 "only the owner may publish", false, {0}},
	{"social", PUB, "tax.register", LOADED, false, GB_EPERM,
	 "only the owner may publish", false, {0}},
	{"audit", PUB, "tax.cases", LOADED, false, GB_EPERM,
	 "only the owner may publish", false, {0}},

	/* The owner may do everything, on closed datasets too. */
	{"tax", SUB, "tax.cases", LOADED, true, 0, "owner", false, {0}},
	{"tax", REP, "tax.cases", LOADED, true, 0, "owner", false, {0}},
	{"tax", READ, "tax.cases", LOADED, true, 0, "owner", false, {0}},
	{"health", READ, "health.records", LOADED, true, 0, "owner", false,
	 {0}},

	/* Closed: nobody else but auditors. */
	{"social", SUB, "tax.cases", LOADED, false, GB_EPERM,
	 "dataset is closed", false, {0}},
	{"market", READ, "health.records", LOADED, false, GB_EPERM,
	 "dataset is closed", false, {0}},

	/* Auditors: subscribe and replay everywhere, content only where the
	 * dataset allows content audit (or another rule allows it). */
	{"audit", SUB, "tax.cases", LOADED, true, 0, "auditor", false, {0}},
	{"audit", REP, "tax.cases", LOADED, true, 0, "auditor", false, {0}},
	{"audit", READ, "tax.cases", LOADED, false, GB_EPERM,
	 "audit access is metadata only", false, {0}},
	{"audit", REP, "tax.invoices", LOADED, true, 0, "auditor", false, {0}},
	{"audit", READ, "tax.invoices", LOADED, false, GB_EPERM, "no grant",
	 false, {0}},
	{"audit", READ, "health.records", LOADED, true, 0,
	 "auditor with content access", false, {0}},
	{"audit", READ, "social.benefits", LOADED, true, 0,
	 "auditor with content access", false, {0}},
	{"audit", READ, "tax.register", LOADED, true, 0, "open dataset", false,
	 {0}},
	{"inspect", READ, "tax.invoices", LOADED, true, 0, "granted", true,
	 {0}},
	{"inspect", SUB, "tax.invoices", {2030, 1, 1}, true, 0, "auditor",
	 false, {0}},

	/* Open: every registered department reads. */
	{"market", SUB, "tax.register", LOADED, true, 0, "open dataset", false,
	 {0}},
	{"market", REP, "tax.register", LOADED, true, 0, "open dataset", false,
	 {0}},
	{"health", READ, "tax.register", LOADED, true, 0, "open dataset",
	 false, {0}},

	/* Conditional: a grant in force carrying the right. */
	{"social", SUB, "tax.invoices", LOADED, true, 0, "granted", true, {0}},
	{"social", REP, "tax.invoices", LOADED, true, 0, "granted", true, {0}},
	{"social", READ, "tax.invoices", LOADED, true, 0, "granted", true, {0}},
	{"social", SUB, "tax.invoices", {2025, 12, 31}, false, GB_EPERM,
	 "grant not yet valid", false, {0}},
	{"social", SUB, "tax.invoices", {2026, 1, 1}, true, 0, "granted", true,
	 {0}},
	{"social", SUB, "tax.invoices", {2026, 12, 31}, true, 0, "granted",
	 true, {0}},
	{"social", SUB, "tax.invoices", {2027, 1, 1}, false, GB_EEXPIRED,
	 "grant expired", false, {0}},
	{"social", REP, "tax.invoices", {2027, 6, 1}, false, GB_EEXPIRED,
	 "grant expired", false, {0}},
	{"tax", SUB, "social.benefits", LOADED, false, GB_EPERM,
	 "grant does not include subscribe", false, {0}},
	{"tax", READ, "social.benefits", LOADED, true, 0, "granted", true, {0}},
	{"health", REP, "tax.invoices", LOADED, false, GB_EPERM,
	 "grant does not include replay", false, {0}},
	{"health", SUB, "tax.invoices", LOADED, true, 0, "granted", true, {0}},
	{"health", READ, "tax.invoices", LOADED, true, 0, "granted", true, {0}},
	{"market", SUB, "social.benefits", LOADED, false, GB_EPERM,
	 "grant not yet valid", false, {0}},
	{"market", SUB, "social.benefits", {2026, 9, 1}, true, 0, "granted",
	 true, {0}},
	{"market", SUB, "health.records", LOADED, false, GB_EPERM,
	 "dataset is closed", false, {0}},
	{"social", SUB, "social.benefits", LOADED, true, 0, "owner", false,
	 {0}},
	{"market", READ, "social.benefits", {2025, 1, 1}, false, GB_EPERM,
	 "grant not yet valid", false, {0}},
	{"health", SUB, "tax.cases", LOADED, false, GB_EPERM,
	 "dataset is closed", false, {0}},
	{"audit", SUB, "social.benefits", LOADED, true, 0, "auditor", false,
	 {0}},
	{"social", SUB, "social.benefits", {2040, 1, 1}, true, 0, "owner",
	 false, {0}},
	{"health", SUB, "health.records", LOADED, true, 0, "owner", false,
	 {0}},
	{"market", SUB, "tax.invoices", LOADED, true, 0, "granted", true, {0}},
	{"tax", REP, "tax.invoices", LOADED, true, 0, "owner", false, {0}},
	{"market", REP, "tax.invoices", LOADED, false, GB_EPERM,
	 "history none: replay not allowed", false, {0}},
	{"market", READ, "tax.invoices", LOADED, true, 0, "granted", true,
	 {0}},
	{"social", SUB, "health.records", LOADED, false, GB_EPERM,
	 "dataset is closed", false, {0}},
	{"tax", SUB, "tax.invoices", {2040, 1, 1}, true, 0, "owner", false,
	 {0}},

	/* History: since-grant starts at the grant's start date. */
	{"tax", REP, "social.benefits", LOADED, true, 0, "granted", true,
	 {2026, 3, 1}},
	{"health", REP, "social.benefits", LOADED, true, 0, "granted", true,
	 {2026, 2, 1}},
	{"health", REP, "social.benefits", {2027, 3, 1}, true, 0, "granted",
	 true, {2026, 2, 1}},

	/* Unknown names. */
	{"nobody", SUB, "tax.register", LOADED, false, GB_EAUTH,
	 "unknown department", false, {0}},
	{"TAX", PUB, "tax.invoices", LOADED, false, GB_EAUTH,
	 "unknown department", false, {0}},
	{NULL, SUB, "tax.register", LOADED, false, GB_EAUTH,
	 "unknown department", false, {0}},
	{"tax", PUB, "tax.nothing", LOADED, false, GB_ENOTFOUND,
	 "unknown dataset", false, {0}},
	{"social", SUB, NULL, LOADED, false, GB_ENOTFOUND, "unknown dataset",
	 false, {0}},
	{"social", 99, "tax.register", LOADED, false, GB_EPERM,
	 "unknown action", false, {0}},
};

static int64_t day_ns(struct day d, int64_t loaded)
{
	if (d.y == 0)
		return 0;
	if (d.y == 1)
		return loaded;
	return utc_ns(d.y, d.m, d.d);
}

static void test_table(const gb_registry *reg)
{
	int64_t loaded = gb_registry_loaded_ns(reg);

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		gb_decision d = gb_policy_decide(reg, r->dept,
						 (gb_action)r->action,
						 r->dataset,
						 day_ns(r->now, loaded));
		int64_t from = day_ns(r->history_from, loaded);
		int failures = gb_test_failures;

		CHECK(d.allowed == r->allowed);
		CHECK_RC(d.error, r->error);
		CHECK_STR(d.reason, r->reason);
		CHECK((d.grant != NULL) == r->by_grant);
		if (d.grant) {
			CHECK_STR(d.grant->dataset, r->dataset);
			CHECK_STR(d.grant->to, r->dept);
		}
		CHECK(d.history_from_ns == from);
		if (gb_test_failures != failures)
			fprintf(stderr, "  in row %zu: %s %s %s\n", i,
				r->dept ? r->dept : "(null)",
				gb_action_name((gb_action)r->action),
				r->dataset ? r->dataset : "(null)");
	}
}

int main(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], msg[1024];
	const char *base = getenv("TMPDIR");
	gb_registry *reg = NULL;
	gb_config_error err;
	gb_decision d;
	FILE *f;
	int rc;

	snprintf(dir, sizeof dir, "%s/gb_policy_test.XXXXXX",
		 base && base[0] ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(path, sizeof path, "%s/govbus.yaml", dir);
	f = fopen(path, "w");
	if (!f || fputs(registry_yaml, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		return 2;
	}
	rc = gb_config_load(path, utc_ns(2026, 6, 1), &reg, &err);
	gb_config_error_format(&err, msg, sizeof msg);
	if (rc)
		fprintf(stderr, "%s\n", msg);
	CHECK_RC(rc, 0);
	unlink(path);
	rmdir(dir);
	if (!reg)
		TEST_EXIT();

	test_table(reg);

	/* Without a registry nobody is known. */
	d = gb_policy_decide(NULL, "tax", GB_ACTION_PUBLISH, "tax.invoices", 0);
	CHECK(!d.allowed && d.error == GB_EAUTH);

	CHECK_STR(gb_action_name(GB_ACTION_PUBLISH), "publish");
	CHECK_STR(gb_action_name(GB_ACTION_SUBSCRIBE), "subscribe");
	CHECK_STR(gb_action_name(GB_ACTION_REPLAY), "replay");
	CHECK_STR(gb_action_name(GB_ACTION_READ_CONTENT), "read-content");
	CHECK_STR(gb_action_name((gb_action)42), "unknown");

	printf("policy: %zu rows\n", sizeof rows / sizeof rows[0]);
	gb_registry_destroy(&reg);
	TEST_EXIT();
}
