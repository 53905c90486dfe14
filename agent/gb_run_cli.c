/* govbus-agent run; see gb_run_cli.h.
 *
 * Trust: dataset ids from the command line are validated; what the broker
 * pushes only names datasets to redo the key work for, which starts with
 * a fresh fetch (gb_client_sync_keys). */
#include "gb_run_cli.h"

#include <stdio.h>
#include <string.h>

#include "gb_cli.h"
#include "gb_codec.h"

#define RUN_MAX_DATASETS 256
#define RUN_POLL_MS 1000

static const char usage_run[] =
	"usage: govbus-agent --config AGENT.yaml run [--dataset D]...\n"
	"\n"
	"Stay connected to the broker (reconnecting as needed) and do the key\n"
	"work of an owner for every dataset this department owns (as the\n"
	"broker's Welcome lists them) and every --dataset D named: open a key\n"
	"epoch when a dataset has none or the broker retired the current one\n"
	"(after a revocation), and wrap existing epochs for readers added\n"
	"since. This is done at start, after every reconnection, and whenever\n"
	"the broker asks (it does after a config reload). One line per action\n"
	"goes to standard error, e.g.\n"
	"  tax.invoices: opened key epoch 2 for 3 readers (tax, health, audit)\n"
	"  tax.invoices: wrapped epoch 1 for social\n"
	"Exits 0 on SIGINT or SIGTERM.\n"
	"\n"
	"Not yet implemented: serving local programs over an ipc:// socket\n"
	"(DESIGN §9); publish and subscribe are separate commands for now.\n";

struct run_args {
	const char *datasets[RUN_MAX_DATASETS];
	size_t n;
};

static int parse_run(int argc, char **argv, struct run_args *a)
{
	/* Every option takes a value: each step reads a pair. */
	for (int i = 0; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			fputs(usage_run, stdout);
			return -1;
		}
		if (strcmp(o, "--dataset") != 0)
			return gb_cli_usage_error("run", "unexpected argument '%.40s'", o);
		if (!v)
			return gb_cli_usage_error("run", "--dataset needs a value");
		if (!gb_id_valid(v))
			return gb_cli_usage_error("run", "'%.64s' is not a valid dataset "
					   "id", v);
		if (a->n == RUN_MAX_DATASETS)
			return gb_cli_usage_error("run", "at most %d --dataset options",
					   RUN_MAX_DATASETS);
		a->datasets[a->n++] = v;
	}
	return 0;
}

/* True when the error ends the run: interrupted, or the connection is
 * unusable (refused, or the key is no longer registered). */
static bool run_fatal(int rc)
{
	return rc == GB_ECLOSED || rc == GB_EAUTH || rc == GB_EPROTO ||
	       rc == GB_EIO || rc == GB_ENOMEM;
}

/* Key work for one dataset; a refusal is reported and the run goes on. */
static int run_sync(gb_client *c, const char *dataset)
{
	int rc = gb_client_sync_keys(c, dataset, NULL);

	if (rc != 0 && !run_fatal(rc))
		fprintf(stderr, "%s: key work failed (%u): %s\n", dataset,
			gb_client_last_status(c), gb_client_last_error(c));
	return run_fatal(rc) ? rc : 0;
}

/* Every dataset the Welcome lists as ours, and every one named. */
static int run_sweep(gb_client *c, const struct run_args *a)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < gb_client_owned_count(c); i++)
		rc = run_sync(c, gb_client_owned_dataset(c, i));
	for (size_t i = 0; rc == 0 && i < a->n; i++)
		rc = run_sync(c, a->datasets[i]);
	return rc;
}

int gb_run_command(const char *config, int argc, char **argv)
{
	struct run_args a = {0};
	gb_cli_events ctx = {GB_CLI_RUN, false};
	gb_client *c = NULL;
	char dataset[GB_MAX_ID_LEN + 1];
	int rc, status = 1;

	rc = parse_run(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (gb_cli_connect(config, &ctx, &c) != 0)
		return 1;
	gb_cli_catch_stop(c);

	rc = run_sweep(c, &a);
	if (rc == 0) {
		size_t n = gb_client_owned_count(c) + a.n;
		fprintf(stderr, "govbus-agent: run: doing the key work of %zu "
			"dataset%s of %s\n",
			n, n == 1 ? "" : "s", gb_client_dept(c));
	}
	while (rc == 0 && !gb_cli_stop_requested()) {
		if (ctx.resweep) {
			ctx.resweep = false;
			rc = run_sweep(c, &a);
			continue;
		}
		rc = gb_client_next_key_work(c, dataset, sizeof dataset,
					     RUN_POLL_MS);
		if (rc == 0)
			rc = run_sync(c, dataset);
		else if (rc == GB_ETIMEOUT)
			rc = 0;
	}
	if (gb_cli_stop_requested() || (rc == GB_ECLOSED &&
			       !strcmp(gb_client_last_error(c), "interrupted")))
		status = 0;
	else
		status = gb_cli_report(c, "run failed", rc);
	gb_cli_release_stop();
	gb_client_close(&c);
	return status;
}
