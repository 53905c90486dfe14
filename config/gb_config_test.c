/* Tests for the registry loader: the example config, every bad config in
 * tests/bad-configs against its expected file:line:col and message, date
 * parsing through grants, file limits and path resolution.
 *
 * Usage: gb_config_test [EXAMPLE_YAML [BAD_CONFIG_DIR]]; meson passes the
 * defaults below as defines. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "gb_config.h"
#include "gb_keys.h"
#include "gb_test.h"

#ifndef GB_EXAMPLE_CONFIG
#define GB_EXAMPLE_CONFIG "config/examples/govbus.yaml"
#endif
#ifndef GB_BAD_CONFIG_DIR
#define GB_BAD_CONFIG_DIR "tests/bad-configs"
#endif

#define NS INT64_C(1000000000)

/* The expected time, computed by libc rather than by the loader. */
static int64_t utc_ns(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			.tm_hour = h, .tm_min = mi, .tm_sec = s};
	return (int64_t)timegm(&tm) * NS;
}

/* Load time every fixture is checked against (expired-grant.yaml relies
 * on it). */
static int64_t load_now(void)
{
	return utc_ns(2026, 6, 1, 0, 0, 0);
}

static char tmp_dir[PATH_MAX];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

static const char departments_yaml[] =
	"departments:\n"
	"  - { id: tax, name: Tax Bureau,\n"
	"      sign_key: \"In5nRBnAFQS1duONSmNF0ov0Q7Sv2TedaT41dPqlgD4=\",\n"
	"      box_key: \"RGjsr:u^gn!&X[?>nP3}u5W0y]xPX<wg6Q)UzN3F\" }\n"
	"  - { id: social, name: Social Security Agency,\n"
	"      sign_key: \"t+6OT5i++bIE4+TmiXQkrhzTR2B0U0sokOcicmyKsvo=\",\n"
	"      box_key: \")H%R9yaTZvyt)B!Swk]iTPlG32qUtF<btG[=fpc*\" }\n";

static const char broker_yaml[] =
	"broker: { listen: \"tcp://127.0.0.1:7780\", data_dir: ./data,"
	" key: keys/broker.key }\n";

static void test_example(const char *path)
{
	gb_registry *reg = NULL;
	gb_config_error err;
	const gb_department *d;
	const gb_dataset *ds;
	const gb_grant *g;
	const gb_broker_settings *b;
	uint8_t box[GB_KEY_BYTES], sign[GB_KEY_BYTES], hash[32];
	char msg[1024], dir[PATH_MAX], want[PATH_MAX + 32], *slash;
	unsigned char *bytes;
	size_t nbytes;
	FILE *f;
	int rc = gb_config_load(path, load_now(), &reg, &err);

	gb_config_error_format(&err, msg, sizeof msg);
	if (rc != 0)
		fprintf(stderr, "example: %s\n", msg);
	CHECK_RC(rc, 0);
	if (!reg)
		return;

	CHECK(gb_registry_department_count(reg) == 5);
	CHECK(gb_registry_dataset_count(reg) == 9);
	CHECK(gb_registry_grant_count(reg) == 5);
	CHECK(gb_registry_loaded_ns(reg) == load_now());
	CHECK(gb_registry_department_at(reg, 5) == NULL);
	CHECK(gb_registry_dataset_at(reg, 9) == NULL);
	CHECK(gb_registry_grant_at(reg, 5) == NULL);
	CHECK_STR(gb_registry_department_at(reg, 0)->id, "tax");
	CHECK_STR(gb_registry_dataset_at(reg, 8)->id, "market.complaints");

	b = gb_registry_broker(reg);
	CHECK_STR(b->listen, "tcp://127.0.0.1:7780");
	CHECK(b->map_size == UINT64_C(1073741824));
	CHECK(b->dedupe_seconds == 300);
	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if (realpath(dir, want)) {
		strcpy(dir, want);
		snprintf(want, sizeof want, "%s/data", dir);
		CHECK_STR(b->data_dir, want);
		snprintf(want, sizeof want, "%s/keys/broker.key", dir);
		CHECK_STR(b->key, want);
	}

	d = gb_registry_find_department(reg, "audit");
	CHECK(d != NULL);
	if (d) {
		CHECK_STR(d->name, "National Audit Office");
		CHECK(d->role == GB_ROLE_AUDITOR);
	}
	d = gb_registry_find_department(reg, "market");
	CHECK(d && d->role == GB_ROLE_DEPARTMENT);
	CHECK(gb_registry_find_department(reg, "Tax") == NULL);
	CHECK(gb_registry_find_department(reg, "") == NULL);
	CHECK(gb_registry_find_department(reg, NULL) == NULL);

	/* Keys decode to what the key module makes of the same text. */
	CHECK_RC(gb_key_decode_box("RGjsr:u^gn!&X[?>nP3}u5W0y]xPX<wg6Q)UzN3F",
				   box), 0);
	CHECK_RC(gb_key_decode_sign(
			 "In5nRBnAFQS1duONSmNF0ov0Q7Sv2TedaT41dPqlgD4=", sign),
		 0);
	d = gb_registry_find_department_by_box_key(reg, box);
	CHECK(d != NULL);
	if (d) {
		CHECK_STR(d->id, "tax");
		CHECK(memcmp(d->sign_pk, sign, sizeof sign) == 0);
	}
	box[0] ^= 1;
	CHECK(gb_registry_find_department_by_box_key(reg, box) == NULL);
	for (size_t i = 0; i < gb_registry_department_count(reg); i++) {
		const gb_department *e = gb_registry_department_at(reg, i);
		CHECK(gb_registry_find_department_by_box_key(reg, e->box_pk) == e);
		CHECK(gb_registry_find_department(reg, e->id) == e);
	}

	ds = gb_registry_find_dataset(reg, "tax.invoices");
	CHECK(ds != NULL);
	if (ds) {
		CHECK_STR(ds->owner, "tax");
		CHECK_STR(ds->title, "VAT invoices");
		CHECK(ds->sharing == GB_SHARING_CONDITIONAL);
		CHECK(ds->classification == GB_CLASS_INTERNAL);
		CHECK_STR(ds->update_frequency, "realtime");
		CHECK(ds->audit_access == GB_AUDIT_METADATA);
	}
	ds = gb_registry_find_dataset(reg, "tax.audit-cases");
	CHECK(ds && ds->sharing == GB_SHARING_CLOSED &&
	      ds->audit_access == GB_AUDIT_CONTENT &&
	      ds->update_frequency == NULL);
	CHECK(gb_registry_find_dataset(reg, "tax") == NULL);

	g = gb_registry_find_grant(reg, "tax.invoices", "social");
	CHECK(g != NULL);
	if (g) {
		CHECK(g->rights == (GB_RIGHT_SUBSCRIBE | GB_RIGHT_REPLAY));
		CHECK(g->starts_ns == utc_ns(2026, 1, 1, 0, 0, 0));
		CHECK(g->expires_ns == utc_ns(2027, 11, 20, 0, 0, 0));
		CHECK(g->history == GB_HISTORY_SINCE_GRANT);
		CHECK_STR(g->legal_basis, "Social Security Act s. 41(2)");
	}
	g = gb_registry_find_grant(reg, "tax.invoices", "market");
	CHECK(g && g->rights == GB_RIGHT_SUBSCRIBE && g->starts_ns == 0 &&
	      g->expires_ns == utc_ns(2027, 6, 30, 0, 0, 0) &&
	      g->history == GB_HISTORY_NONE);
	g = gb_registry_find_grant(reg, "market.complaints", "tax");
	CHECK(g && g->history == GB_HISTORY_ALL);
	CHECK(gb_registry_find_grant(reg, "tax.invoices", "health") == NULL);
	CHECK(gb_registry_find_grant(reg, "social", "tax.invoices") == NULL);

	/* The hash is BLAKE2b-256 of the exact bytes. */
	f = fopen(path, "rb");
	CHECK(f != NULL);
	if (f) {
		bytes = malloc(GB_CONFIG_MAX_BYTES);
		nbytes = bytes ? fread(bytes, 1, GB_CONFIG_MAX_BYTES, f) : 0;
		fclose(f);
		crypto_generichash(hash, sizeof hash, bytes, nbytes, NULL, 0);
		CHECK(memcmp(gb_registry_hash(reg), hash, sizeof hash) == 0);
		free(bytes);
	}
	gb_registry_destroy(&reg);
	CHECK(reg == NULL);
	gb_registry_destroy(&reg);
	gb_registry_destroy(NULL);

	/* The same file is refused once its grants have run out. */
	rc = gb_config_load(path, utc_ns(2027, 6, 30, 0, 0, 0), &reg, &err);
	CHECK_RC(rc, GB_ECONFIG);
	CHECK(reg == NULL);
	CHECK_CONTAINS(err.message, "grants[1].expires: grant of tax.invoices "
		       "to market expired on 2027-06-30T00:00:00Z");
}

/* Each line of expected.txt: FILE LINE:COL MESSAGE-SUBSTRING. Every .yaml
 * in the folder must have a line, and every line a file. */
static void test_bad_configs(const char *dir)
{
	static char listing[1 << 16];
	char path[PATH_MAX], msg[1024], where[PATH_MAX + 64];
	unsigned tested = 0, yaml_files = 0;
	size_t got;
	FILE *f;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof path, "%s/expected.txt", dir);
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	/* Kept with a leading newline so "\nNAME " finds a file's line. */
	listing[0] = '\n';
	got = fread(listing + 1, 1, sizeof listing - 2, f);
	listing[got + 1] = '\0';
	fclose(f);
	CHECK(got < sizeof listing - 2);

	for (char *line = listing + 1; *line;) {
		char file[256], *text, *nl = strchr(line, '\n'), *next;
		unsigned ln = 0, col = 0;
		int used = 0;
		gb_registry *reg = NULL;
		gb_config_error err;
		int rc;

		next = nl ? nl + 1 : line + strlen(line);
		if (nl)
			*nl = '\0';
		if (line[0] == '#' || line[0] == '\0')
			goto next_line;
		if (sscanf(line, "%255s %u:%u %n", file, &ln, &col, &used) != 3 ||
		    used == 0) {
			fprintf(stderr, "expected.txt: bad line: %s\n", line);
			gb_test_failures++;
			goto next_line;
		}
		text = line + used;
		snprintf(path, sizeof path, "%s/%s", dir, file);
		rc = gb_config_load(path, load_now(), &reg, &err);
		gb_config_error_format(&err, msg, sizeof msg);
		if (rc != GB_ECONFIG)
			fprintf(stderr, "%s: loaded with %d: %s\n", file, rc, msg);
		CHECK_RC(rc, GB_ECONFIG);
		CHECK(reg == NULL);
		snprintf(where, sizeof where, "%s:%u:%u: ", path, ln, col);
		CHECK_CONTAINS(msg, where);
		CHECK_CONTAINS(msg, text);
		CHECK(err.line == ln && err.col == col);
		gb_registry_destroy(&reg);
		tested++;
next_line:
		if (nl)
			*nl = '\n';
		line = next;
	}

	d = opendir(dir);
	CHECK(d != NULL);
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char needle[300];

		if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0)
			continue;
		yaml_files++;
		snprintf(needle, sizeof needle, "\n%s ", e->d_name);
		if (!strstr(listing, needle)) {
			fprintf(stderr, "%s has no line in expected.txt\n",
				e->d_name);
			gb_test_failures++;
		}
	}
	if (d)
		closedir(d);
	CHECK(tested == yaml_files);
	CHECK(tested >= 20);
	printf("bad configs: %u checked\n", tested);
}

/* Dates go through a grant's expires (and starts) so the loader's own
 * parser is what is tested. */
static void test_dates(void)
{
	static const struct {
		const char *text;
		bool ok;
		int y, mo, d, h, mi, s;
	} rows[] = {
		{"2027-11-20", true, 2027, 11, 20, 0, 0, 0},
		{"2027-11-20T13:45:30Z", true, 2027, 11, 20, 13, 45, 30},
		{"2024-02-29", true, 2024, 2, 29, 0, 0, 0},
		{"2000-02-29", true, 2000, 2, 29, 0, 0, 0},
		{"2027-12-31T23:59:59Z", true, 2027, 12, 31, 23, 59, 59},
		{"1970-01-01T00:00:01Z", true, 1970, 1, 1, 0, 0, 1},
		{"2261-12-31T23:59:59Z", true, 2261, 12, 31, 23, 59, 59},
		{"2100-02-29", false, 0, 0, 0, 0, 0, 0},
		{"2023-02-29", false, 0, 0, 0, 0, 0, 0},
		{"2027-02-30", false, 0, 0, 0, 0, 0, 0},
		{"2027-04-31", false, 0, 0, 0, 0, 0, 0},
		{"2027-13-01", false, 0, 0, 0, 0, 0, 0},
		{"2027-00-10", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-00", false, 0, 0, 0, 0, 0, 0},
		{"2027-1-01", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-1", false, 0, 0, 0, 0, 0, 0},
		{"27-01-01", false, 0, 0, 0, 0, 0, 0},
		{"+027-01-01", false, 0, 0, 0, 0, 0, 0},
		{"2027/01/01", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-01T00:00:00", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-01 00:00:00Z", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-01t00:00:00z", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-01T00:00:00+01:00", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-01T00:00:00.5Z", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-01T24:00:00Z", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-01T00:60:00Z", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-01T23:59:60Z", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-01T-1:00:00Z", false, 0, 0, 0, 0, 0, 0},
		{"1969-12-31", false, 0, 0, 0, 0, 0, 0},
		{"2262-01-01", false, 0, 0, 0, 0, 0, 0},
		{"2027-01-01x", false, 0, 0, 0, 0, 0, 0},
		{"", false, 0, 0, 0, 0, 0, 0},
	};
	char path[PATH_MAX + 16], yaml[2048];

	snprintf(path, sizeof path, "%s/dates.yaml", tmp_dir);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		gb_registry *reg = NULL;
		gb_config_error err;
		int rc;

		snprintf(yaml, sizeof yaml,
			 "%s%s"
			 "datasets:\n"
			 "  - { id: tax.invoices, owner: tax, title: VAT,"
			 " sharing: conditional, classification: internal }\n"
			 "grants:\n"
			 "  - { dataset: tax.invoices, to: social,"
			 " rights: [subscribe], purpose: p, legal_basis: l,"
			 " approved_by: a, expires: \"%s\" }\n",
			 broker_yaml, departments_yaml, rows[i].text);
		write_file(path, yaml);
		/* Load "before time began" so no valid date counts as past. */
		rc = gb_config_load(path, -1, &reg, &err);
		if (rows[i].ok) {
			if (rc != 0)
				fprintf(stderr, "date \"%s\": %s\n", rows[i].text,
					err.message);
			CHECK_RC(rc, 0);
			if (reg)
				CHECK(gb_registry_grant_at(reg, 0)->expires_ns ==
				      utc_ns(rows[i].y, rows[i].mo, rows[i].d,
					     rows[i].h, rows[i].mi, rows[i].s));
		} else {
			if (rc != GB_ECONFIG)
				fprintf(stderr, "date \"%s\" accepted\n",
					rows[i].text);
			CHECK_RC(rc, GB_ECONFIG);
			CHECK_CONTAINS(err.message,
				       "grants[0].expires: \"");
			CHECK_CONTAINS(err.message, "is not a date");
			CHECK(err.line == 12);
		}
		gb_registry_destroy(&reg);
	}

	/* Expiry is compared with the load time to the nanosecond. */
	snprintf(yaml, sizeof yaml,
		 "%s%s"
		 "datasets:\n"
		 "  - { id: tax.invoices, owner: tax, title: VAT,"
		 " sharing: conditional, classification: internal }\n"
		 "grants:\n"
		 "  - { dataset: tax.invoices, to: social, rights: [subscribe],"
		 " purpose: p, legal_basis: l, approved_by: a,"
		 " starts: 2026-01-01, expires: 2026-06-01 }\n",
		 broker_yaml, departments_yaml);
	write_file(path, yaml);
	{
		gb_registry *reg = NULL;
		gb_config_error err;

		CHECK_RC(gb_config_load(path, load_now() - 1, &reg, &err), 0);
		gb_registry_destroy(&reg);
		CHECK_RC(gb_config_load(path, load_now(), &reg, &err),
			 GB_ECONFIG);
		CHECK_CONTAINS(err.message,
			       "grants[0].expires: grant of tax.invoices to "
			       "social expired on 2026-06-01");
		gb_registry_destroy(&reg);
	}
	unlink(path);
}

/* A config with no datasets and no grants is valid; lookups find nothing. */
static void test_minimal(void)
{
	char path[PATH_MAX + 16], yaml[2048], msg[1024];
	gb_registry *reg = NULL;
	gb_config_error err;
	int rc;

	snprintf(path, sizeof path, "%s/minimal.yaml", tmp_dir);
	snprintf(yaml, sizeof yaml, "%s%sdatasets: []\n", departments_yaml,
		 broker_yaml);
	write_file(path, yaml);
	rc = gb_config_load(path, load_now(), &reg, NULL);
	CHECK_RC(rc, 0);
	if (reg) {
		CHECK(gb_registry_department_count(reg) == 2);
		CHECK(gb_registry_dataset_count(reg) == 0);
		CHECK(gb_registry_grant_count(reg) == 0);
		CHECK(gb_registry_find_dataset(reg, "tax.invoices") == NULL);
		CHECK(gb_registry_find_grant(reg, "tax.invoices", "tax") == NULL);
		CHECK(gb_registry_broker(reg)->map_size == 0);
		CHECK(gb_registry_broker(reg)->dedupe_seconds == GB_DEDUPE_SECONDS_DEFAULT);
	}
	gb_registry_destroy(&reg);

	/* One byte more gives another hash. */
	{
		uint8_t first[32];
		gb_registry *again = NULL;

		CHECK_RC(gb_config_load(path, load_now(), &reg, &err), 0);
		if (reg)
			memcpy(first, gb_registry_hash(reg), sizeof first);
		strcat(yaml, "#\n");
		write_file(path, yaml);
		CHECK_RC(gb_config_load(path, load_now(), &again, &err), 0);
		if (reg && again)
			CHECK(memcmp(first, gb_registry_hash(again),
				     sizeof first) != 0);
		gb_registry_destroy(&reg);
		gb_registry_destroy(&again);
	}

	/* An empty file names what is missing. */
	write_file(path, "");
	CHECK_RC(gb_config_load(path, load_now(), &reg, &err), GB_ECONFIG);
	gb_config_error_format(&err, msg, sizeof msg);
	CHECK_CONTAINS(msg, "empty configuration");
	unlink(path);
}

/* A config in memory loads as the same file would: same snapshot and hash,
 * errors under the given name, no NUL terminator needed. */
static void test_buffer(void)
{
	char path[PATH_MAX + 16], yaml[2048], msg[1024];
	gb_registry *from_file = NULL, *from_buf = NULL;
	gb_config_error err;
	size_t len;

	snprintf(path, sizeof path, "%s/buffer.yaml", tmp_dir);
	snprintf(yaml, sizeof yaml, "%s%sdatasets: []\n", departments_yaml,
		 broker_yaml);
	len = strlen(yaml);
	write_file(path, yaml);
	CHECK_RC(gb_config_load(path, load_now(), &from_file, &err), 0);
	yaml[len] = '!'; /* not NUL-terminated: only len bytes count */
	CHECK_RC(gb_config_load_buffer(path, (const uint8_t *)yaml, len,
				       load_now(), &from_buf, &err), 0);
	if (from_file && from_buf) {
		CHECK(memcmp(gb_registry_hash(from_file),
			     gb_registry_hash(from_buf), 32) == 0);
		CHECK(gb_registry_department_count(from_buf) == 2);
		CHECK_STR(gb_registry_broker(from_buf)->data_dir,
			  gb_registry_broker(from_file)->data_dir);
	}
	gb_registry_destroy(&from_file);
	gb_registry_destroy(&from_buf);

	CHECK_RC(gb_config_load_buffer("mem.yaml", (const uint8_t *)"a: [", 4,
				       load_now(), &from_buf, &err),
		 GB_ECONFIG);
	CHECK(from_buf == NULL);
	gb_config_error_format(&err, msg, sizeof msg);
	CHECK_CONTAINS(msg, "mem.yaml:");
	CHECK(err.line >= 1 && err.col >= 1);
	CHECK_RC(gb_config_load_buffer("mem.yaml", NULL, 0, load_now(),
				       &from_buf, &err),
		 GB_ECONFIG);
	CHECK_RC(gb_config_load_buffer("mem.yaml", NULL, 1, load_now(),
				       &from_buf, &err),
		 GB_EINVAL);
	unlink(path);
}

static void test_files(void)
{
	char path[PATH_MAX + 16], msg[1024];
	gb_registry *reg = (gb_registry *)&reg;   /* must come back NULL */
	gb_config_error err;
	int fd;

	/* Missing file: an I/O error without a line. */
	snprintf(path, sizeof path, "%s/no-such.yaml", tmp_dir);
	CHECK_RC(gb_config_load(path, load_now(), &reg, &err), GB_EIO);
	CHECK(reg == NULL);
	CHECK(err.line == 0);
	gb_config_error_format(&err, msg, sizeof msg);
	CHECK_CONTAINS(msg, "no-such.yaml: cannot open: ");

	/* One byte over the limit, whatever it holds. */
	snprintf(path, sizeof path, "%s/big.yaml", tmp_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(ftruncate(fd, (off_t)GB_CONFIG_MAX_BYTES + 1) == 0);
		close(fd);
	}
	CHECK_RC(gb_config_load(path, load_now(), &reg, &err), GB_ETOOBIG);
	CHECK_CONTAINS(err.message, "larger than");
	unlink(path);

	/* A folder and a FIFO are not config files (and the FIFO must not
	 * block the load). */
	CHECK_RC(gb_config_load(tmp_dir, load_now(), &reg, &err), GB_EIO);
	CHECK_CONTAINS(err.message, "not a regular file");
	snprintf(path, sizeof path, "%s/fifo.yaml", tmp_dir);
	if (mkfifo(path, 0600) == 0) {
		CHECK_RC(gb_config_load(path, load_now(), &reg, &err), GB_EIO);
		CHECK_CONTAINS(err.message, "not a regular file");
		unlink(path);
	}

	CHECK_RC(gb_config_load(NULL, load_now(), &reg, &err), GB_EINVAL);
	CHECK_RC(gb_config_load(path, load_now(), NULL, &err), GB_EINVAL);
}

static void test_error_format(void)
{
	gb_config_error err = {"a.yaml", 7, 16, "departments[1].sign_key: bad"};
	char buf[64];

	gb_config_error_format(&err, buf, sizeof buf);
	CHECK_STR(buf, "a.yaml:7:16: departments[1].sign_key: bad");
	err.line = 0;
	gb_config_error_format(&err, buf, sizeof buf);
	CHECK_STR(buf, "a.yaml: departments[1].sign_key: bad");
	gb_config_error_format(&err, buf, 8);
	CHECK_STR(buf, "a.yaml:");
}

/* Relative data_dir and key follow the config file, not the working
 * folder; absolute ones are kept as written. */
static void test_relative_paths(void)
{
	char sub[PATH_MAX + 16], path[PATH_MAX + 32], real[PATH_MAX];
	char want[PATH_MAX + 32], yaml[2048], cwd[PATH_MAX];
	gb_registry *reg = NULL;
	gb_config_error err;

	snprintf(sub, sizeof sub, "%s/etc", tmp_dir);
	CHECK(mkdir(sub, 0700) == 0);
	snprintf(path, sizeof path, "%s/govbus.yaml", sub);
	snprintf(yaml, sizeof yaml,
		 "broker: { listen: \"ipc:///tmp/gb.sock\", data_dir: ./data,"
		 " key: ../keys/broker.key }\n%s",
		 departments_yaml);
	write_file(path, yaml);
	CHECK(realpath(sub, real) != NULL);

	CHECK_RC(gb_config_load(path, load_now(), &reg, &err), 0);
	if (reg) {
		snprintf(want, sizeof want, "%s/data", real);
		CHECK_STR(gb_registry_broker(reg)->data_dir, want);
		snprintf(want, sizeof want, "%s/../keys/broker.key", real);
		CHECK_STR(gb_registry_broker(reg)->key, want);
	}
	gb_registry_destroy(&reg);

	/* Loaded by a relative path from elsewhere: same result. */
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	if (chdir(tmp_dir) == 0) {
		CHECK_RC(gb_config_load("etc/govbus.yaml", load_now(), &reg,
					&err), 0);
		if (reg) {
			snprintf(want, sizeof want, "%s/data", real);
			CHECK_STR(gb_registry_broker(reg)->data_dir, want);
		}
		gb_registry_destroy(&reg);
		CHECK(chdir(cwd) == 0);
	}

	snprintf(yaml, sizeof yaml,
		 "broker: { listen: \"tcp://0.0.0.0:7780\","
		 " data_dir: /var/lib/govbus, key: /etc/govbus/broker.key }\n%s",
		 departments_yaml);
	write_file(path, yaml);
	CHECK_RC(gb_config_load(path, load_now(), &reg, &err), 0);
	if (reg) {
		CHECK_STR(gb_registry_broker(reg)->data_dir, "/var/lib/govbus");
		CHECK_STR(gb_registry_broker(reg)->key, "/etc/govbus/broker.key");
	}
	gb_registry_destroy(&reg);
	unlink(path);
	rmdir(sub);
}

int main(int argc, char **argv)
{
	const char *example = argc > 1 ? argv[1] : GB_EXAMPLE_CONFIG;
	const char *bad_dir = argc > 2 ? argv[2] : GB_BAD_CONFIG_DIR;
	const char *base = getenv("TMPDIR");

	snprintf(tmp_dir, sizeof tmp_dir, "%s/gb_config_test.XXXXXX",
		 base && base[0] ? base : "/tmp");
	if (!mkdtemp(tmp_dir)) {
		perror("mkdtemp");
		return 2;
	}
	test_example(example);
	test_bad_configs(bad_dir);
	test_dates();
	test_minimal();
	test_buffer();
	test_files();
	test_error_format();
	test_relative_paths();
	rmdir(tmp_dir);
	TEST_EXIT();
}
