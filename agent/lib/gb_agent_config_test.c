/* Tests for the agent config loader: a good file (key path resolved
 * against the config's folder, defaults, peers) and every kind of refusal,
 * each checked for its file:line:col and the field it names. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gb_keys.h"
#include "gb_test.h"
#include "govbus.h"

static char dir[256];

/* Keys from govbus-keys (any valid encodings will do). */
static const char box_key[] = "RGjsr:u^gn!&X[?>nP3}u5W0y]xPX<wg6Q)UzN3F";
static const char sign_key[] = "In5nRBnAFQS1duONSmNF0ov0Q7Sv2TedaT41dPqlgD4=";

static const char *write_config(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return path;
}

/* Load `text` and expect failure with `where` ("L:C:") and `what`. */
static void expect_error(const char *text, const char *where, const char *what)
{
	char why[1024], want[600];
	gb_agent_config *cfg = NULL;
	const char *path = write_config("bad.yaml", text);

	CHECK_RC(gb_agent_config_load(path, &cfg, why, sizeof why), GB_ECONFIG);
	CHECK(cfg == NULL);
	snprintf(want, sizeof want, "%s:%s", path, where);
	CHECK_CONTAINS(why, want);
	CHECK_CONTAINS(why, what);
	gb_agent_config_destroy(&cfg);
}

static void test_good(void)
{
	char text[1024], why[512], want[512];
	gb_agent_config *cfg = NULL;
	const char *path;
	uint8_t pk[GB_SIGN_PK_BYTES];

	snprintf(text, sizeof text,
		 "# agent of the ministry of health\n"
		 "dept: health\n"
		 "key: keys/health.key\n"
		 "broker: { endpoint: \"tcp://127.0.0.1:7780\", public_key: \"%s\" }\n"
		 "peers:\n"
		 "  tax: \"%s\"\n",
		 box_key, sign_key);
	path = write_config("agent.yaml", text);
	CHECK_RC(gb_agent_config_load(path, &cfg, why, sizeof why), 0);
	if (!cfg) {
		fprintf(stderr, "  why: %s\n", why);
		return;
	}
	CHECK_STR(gb_agent_config_dept(cfg), "health");
	CHECK_STR(gb_agent_config_endpoint(cfg), "tcp://127.0.0.1:7780");
	snprintf(want, sizeof want, "%s/keys/health.key", dir);
	CHECK_STR(gb_agent_config_key_path(cfg), want);
	CHECK(gb_agent_config_timeout_ms(cfg) == 3000);
	CHECK(gb_key_decode_sign(sign_key, pk) == 0);
	CHECK(gb_agent_config_peer(cfg, "tax") != NULL &&
	      !memcmp(gb_agent_config_peer(cfg, "tax"), pk, sizeof pk));
	CHECK(gb_agent_config_peer(cfg, "social") == NULL);
	gb_agent_config_destroy(&cfg);
	CHECK(cfg == NULL);
	gb_agent_config_destroy(&cfg); /* NULL is fine */

	/* absolute key path kept; timeout in seconds; no peers */
	snprintf(text, sizeof text,
		 "dept: tax\nkey: /etc/govbus/tax.key\nbroker:\n"
		 "  endpoint: tcp://10.0.0.1:7780\n  public_key: \"%s\"\n"
		 "  timeout: 0.5\n",
		 box_key);
	path = write_config("agent2.yaml", text);
	CHECK_RC(gb_agent_config_load(path, &cfg, why, sizeof why), 0);
	if (cfg) {
		CHECK_STR(gb_agent_config_key_path(cfg), "/etc/govbus/tax.key");
		CHECK(gb_agent_config_timeout_ms(cfg) == 500);
		CHECK(gb_agent_config_peer(cfg, "tax") == NULL);
	}
	gb_agent_config_destroy(&cfg);

	/* a config in the current folder: key relative to "." */
	CHECK(chdir(dir) == 0);
	CHECK_RC(gb_agent_config_load("agent.yaml", &cfg, why, sizeof why), 0);
	if (cfg)
		CHECK_STR(gb_agent_config_key_path(cfg), "keys/health.key");
	gb_agent_config_destroy(&cfg);
}

static void test_errors(void)
{
	char text[2048];
	char broker[256];

	snprintf(broker, sizeof broker,
		 "broker: { endpoint: \"tcp://127.0.0.1:7780\", public_key: "
		 "\"%s\" }\n",
		 box_key);

	snprintf(text, sizeof text, "dept: health\nkey: k.key\n%scolour: blue\n",
		 broker);
	expect_error(text, "4:1:", "unknown key \"colour\"");

	snprintf(text, sizeof text, "dept: health\nkey: k.key\n%sdept: tax\n",
		 broker);
	expect_error(text, "4:1:", "key \"dept\" given twice");

	snprintf(text, sizeof text, "key: k.key\n%s", broker);
	expect_error(text, "1:1:", "missing required key \"dept\"");

	snprintf(text, sizeof text, "dept: Health\nkey: k.key\n%s", broker);
	expect_error(text, "1:7:", "dept: \"Health\" is not a valid");

	snprintf(text, sizeof text, "dept: health\nkey: [a, b]\n%s", broker);
	expect_error(text, "2:6:", "key: expected a single value");

	snprintf(text, sizeof text, "dept: health\nkey: \"\"\n%s", broker);
	expect_error(text, "2:6:", "key: must not be empty");

	expect_error("dept: health\nkey: k.key\nbroker:\n"
		     "  endpoint: \"tcp://127.0.0.1:7780\"\n"
		     "  public_key: \"not-a-key\"\n",
		     "5:15:", "broker.public_key: not a Z85");

	snprintf(text, sizeof text,
		 "dept: health\nkey: k.key\nbroker:\n"
		 "  endpoint: \"127.0.0.1\"\n  public_key: \"%s\"\n",
		 box_key);
	expect_error(text, "4:13:", "broker.endpoint");

	snprintf(text, sizeof text,
		 "dept: health\nkey: k.key\nbroker:\n"
		 "  endpoint: tcp://h:1\n  public_key: \"%s\"\n  port: 7\n",
		 box_key);
	expect_error(text, "6:3:", "broker: unknown key \"port\"");

	snprintf(text, sizeof text,
		 "dept: health\nkey: k.key\nbroker:\n"
		 "  public_key: \"%s\"\n",
		 box_key);
	expect_error(text, "4:3:", "broker: missing required key \"endpoint\"");

	snprintf(text, sizeof text,
		 "dept: health\nkey: k.key\nbroker:\n"
		 "  endpoint: tcp://h:1\n  public_key: \"%s\"\n  timeout: fast\n",
		 box_key);
	expect_error(text, "6:12:", "broker.timeout");

	snprintf(text, sizeof text, "dept: health\nkey: k.key\n%speers:\n"
		 "  tax: \"AAAA\"\n", broker);
	expect_error(text, "5:8:", "peers.tax: not a base64 Ed25519");

	snprintf(text, sizeof text, "dept: health\nkey: k.key\n%speers:\n"
		 "  Tax: \"%s\"\n", broker, sign_key);
	expect_error(text, "5:3:", "not a valid department id");

	snprintf(text, sizeof text, "dept: health\nkey: k.key\n%speers:\n"
		 "  tax: \"%s\"\n  tax: \"%s\"\n", broker, sign_key, sign_key);
	expect_error(text, "6:3:", "department \"tax\" given twice");

	snprintf(text, sizeof text, "dept: health\nkey: k.key\n%speers: [tax]\n",
		 broker);
	expect_error(text, "4:8:", "peers: expected a mapping");

	expect_error("dept: health\nkey: k.key\nbroker: {endpoint: x\n",
		     "4:1:", "YAML syntax");

	snprintf(text, sizeof text, "dept: health\nkey: k.key\n%s---\ndept: tax\n",
		 broker);
	expect_error(text, "4:1:", "only one YAML document");

	/* read through the YAML walker: no anchors or aliases, and text
	 * values are checked text */
	snprintf(text, sizeof text, "dept: &d health\nkey: k.key\n%s", broker);
	expect_error(text, "1:7:", "YAML anchors (&d) are not allowed");
	snprintf(text, sizeof text, "dept: health\nkey: k.key\n%speers: *p\n",
		 broker);
	expect_error(text, "4:8:", "YAML aliases (*p) are not allowed");
	snprintf(text, sizeof text,
		 "dept: health\nkey: k.key\nbroker:\n"
		 "  endpoint: \"\\ttcp://h:1\"\n  public_key: \"%s\"\n",
		 box_key);
	expect_error(text, "4:13:",
		     "broker.endpoint: contains a control character");

	expect_error("", "1:1:", "the file is empty");
	expect_error("- dept\n- key\n", "1:1:", "expected a mapping");

	char why[256];
	gb_agent_config *cfg = NULL;
	CHECK_RC(gb_agent_config_load("/nonexistent/agent.yaml", &cfg, why,
				      sizeof why),
		 GB_EIO);
	CHECK_CONTAINS(why, "/nonexistent/agent.yaml: cannot open");
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove the test's temporary folder and everything in it. */
static void remove_tree(const char *path)
{
	nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/gb_agent_config_test.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_good();
	test_errors();
	remove_tree(dir);
	TEST_EXIT();
}
