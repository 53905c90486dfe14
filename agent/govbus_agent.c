/* govbus-agent: the command line over the agent library (DESIGN §10).
 *
 *   govbus-agent --config AGENT.yaml publish   --dataset D [...] [FILE]
 *   govbus-agent --config AGENT.yaml subscribe --dataset D [...]
 *   govbus-agent --config AGENT.yaml run [--dataset D]...
 *   govbus-agent --config AGENT.yaml catalog | request | requests
 *   govbus-agent --config AGENT.yaml audit verify | export | checkpoint | trail
 *
 * Exit status: 0 only when the whole job succeeded (every record acked /
 * every requested record output and, for durable cursors, acknowledged);
 * 1 when it failed; 2 for a usage error. Errors are one sentence on stderr
 * with the status code. Progress is shown on a terminal only; the one-line
 * publish summary is always printed (scripts read it).
 *
 * This file reads the command word and hands over to the command's module
 * (gb_publish_cli.c, gb_subscribe_cli.c, gb_run_cli.c, gb_catalog_cli.c,
 * gb_audit_cli.c); what they share is gb_cli.c.
 *
 * Trust: command-line values are validated before use, by each command. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gb_audit_cli.h"
#include "gb_catalog_cli.h"
#include "gb_cli.h"
#include "gb_publish_cli.h"
#include "gb_run_cli.h"
#include "gb_subscribe_cli.h"
#include "govbus.h"

static const char usage_main[] =
	"usage: govbus-agent --config AGENT.yaml COMMAND [OPTIONS]\n"
	"\n"
	"commands:\n"
	"  publish    send records of a dataset this department owns\n"
	"  subscribe  receive, verify and print records of a dataset\n"
	"  audit      verify a log, export evidence, read the audit trail\n"
	"  catalog    list the datasets this department may see, with its rights\n"
	"  request    ask for access to a conditional dataset\n"
	"  requests   list this department's access requests and their status\n"
	"  run        stay connected and do the owner's key work\n"
	"\n"
	"Run 'govbus-agent COMMAND --help' for a command's options.\n"
	"The config names the department, its key and the broker:\n"
	"  dept: health\n"
	"  key: keys/health.key          # relative to the config's folder\n"
	"  broker: { endpoint: \"tcp://127.0.0.1:7780\", public_key: \"...\" }\n"
	"  peers: { tax: \"<base64 sign key>\" }   # optional pins\n"
	"  schemas: { tax.invoices: { type: pkg.Invoice,   # optional, offline\n"
	"             descriptor_set: invoices.desc } }  # schemas (pinned)\n";

/* ---------------------------------------------------------------- catalog */

/* catalog, request, requests: parsed and run by gb_catalog_cli.c. */
static int cmd_catalog(const char *config, const char *word, int argc,
		       char **argv)
{
	gb_cli_events ctx = {GB_CLI_CATALOG, false};
	gb_catalog_cmd cmd;
	gb_client *c = NULL;
	int rc = gb_catalog_parse(word, argc, argv, &cmd), status;

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (!config)
		return gb_cli_usage_error(word, "--config AGENT.yaml is required");
	if (gb_cli_connect(config, &ctx, &c) != 0)
		return 1;
	rc = gb_catalog_run(c, &cmd, stdout);
	status = rc == 0 ? 0 : gb_cli_report(c, word, rc);
	gb_client_close(&c);
	return status;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	const char *config = NULL, *cmd = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config")) {
			if (i + 1 >= argc)
				return gb_cli_usage_error(NULL, "--config needs a file");
			config = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_main, stdout);
			return 0;
		} else if (argv[i][0] == '-') {
			return gb_cli_usage_error(NULL, "unknown option '%.40s'", argv[i]);
		} else {
			cmd = argv[i++];
			break;
		}
	}
	if (!cmd) {
		fputs(usage_main, stderr);
		return 2;
	}
	/* --config may also follow the command. */
	for (int j = i; j + 1 < argc; j++)
		if (!strcmp(argv[j], "--config")) {
			config = argv[j + 1];
			memmove(&argv[j], &argv[j + 2],
				(size_t)(argc - j - 2) * sizeof *argv);
			argc -= 2;
			j--;
		}
	if (!strcmp(cmd, "publish") || !strcmp(cmd, "subscribe") ||
	    !strcmp(cmd, "run")) {
		bool help = false;
		for (int j = i; j < argc; j++)
			if (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h"))
				help = true;
		if (!config && !help)
			return gb_cli_usage_error(cmd, "--config AGENT.yaml is required");
		if (!strcmp(cmd, "publish"))
			return gb_publish_command(config, argc - i, argv + i);
		if (!strcmp(cmd, "run"))
			return gb_run_command(config, argc - i, argv + i);
		return gb_subscribe_command(config, argc - i, argv + i);
	}
	if (!strcmp(cmd, "audit"))
		return gb_audit_command(config, argc - i, argv + i);
	if (gb_catalog_is_command(cmd))
		return cmd_catalog(config, cmd, argc - i, argv + i);
	return gb_cli_usage_error(NULL, "unknown command '%.40s'", cmd);
}
