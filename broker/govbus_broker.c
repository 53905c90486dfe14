/* govbus-broker: the central broker. Runs the server, checks a config, or
 * asks a running broker to reload its config. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gb_admin.h"
#include "gb_broker.h"
#include "gb_config.h"
#include "gb_error.h"
#include "gb_log.h"

static const char usage[] =
	"usage: govbus-broker --config FILE [--check-config]\n"
	"       govbus-broker --config FILE reload\n"
	"       govbus-broker --config FILE registry|requests\n"
	"\n"
	"  (default)       serve: listen on broker.listen, keep the log in\n"
	"                  broker.data_dir; SIGHUP reloads the config,\n"
	"                  SIGINT/SIGTERM stop cleanly\n"
	"  --check-config  validate FILE, print a one-line summary, exit 0 if\n"
	"                  it is valid and 1 if not\n"
	"  reload          validate FILE, then make the broker running on its\n"
	"                  data_dir load it (a bad file is refused and the\n"
	"                  running policy stays in force)\n"
	"  registry        print FILE's departments, datasets (with their\n"
	"                  catalog metadata), grants and refusals\n"
	"  requests        print the access requests stored in data_dir\n"
	"                  (works while the broker runs)\n"
	"Listings are tables on a terminal and JSON lines in a pipe.\n";

static gb_broker *running;

static void on_stop(int sig)
{
	(void)sig;
	if (running)
		gb_broker_request_stop(running);
}

static void on_reload(int sig)
{
	(void)sig;
	if (running)
		gb_broker_request_reload(running);
}

/* Load and validate; NULL after printing the located error. */
static gb_registry *load_config(const char *path)
{
	gb_registry *reg = NULL;
	gb_config_error err;
	char text[1024];

	if (gb_config_load(path, (int64_t)gb_now_ns(), &reg, &err) != 0) {
		gb_config_error_format(&err, text, sizeof text);
		fprintf(stderr, "%s\n", text);
		return NULL;
	}
	return reg;
}

/* Load and validate; print the summary or the located error. */
static int check_config(const char *path, gb_registry **keep)
{
	gb_registry *reg = load_config(path);

	if (!reg)
		return 1;
	printf("%s: OK, %zu departments, %zu datasets, %zu grants\n", path,
	       gb_registry_department_count(reg), gb_registry_dataset_count(reg),
	       gb_registry_grant_count(reg));
	if (keep)
		*keep = reg;
	else
		gb_registry_destroy(&reg);
	return 0;
}

/* Signal the broker whose pid is in data_dir/broker.lock to reload. */
static int cmd_reload(const char *path)
{
	gb_registry *reg = NULL;
	char lock[4200], pid_text[32] = "";
	FILE *f;
	long pid;

	if (check_config(path, &reg) != 0) {
		fprintf(stderr, "govbus-broker: reload not sent; the running "
				"policy stays in force\n");
		return 1;
	}
	snprintf(lock, sizeof lock, "%s/broker.lock",
		 gb_registry_broker(reg)->data_dir);
	gb_registry_destroy(&reg);
	f = fopen(lock, "r");
	if (!f || !fgets(pid_text, sizeof pid_text, f)) {
		fprintf(stderr, "govbus-broker: no broker is running on this "
				"data_dir (%s unreadable)\n", lock);
		if (f)
			fclose(f);
		return 1;
	}
	fclose(f);
	pid = strtol(pid_text, NULL, 10);
	if (pid <= 1 || kill((pid_t)pid, SIGHUP) != 0) {
		fprintf(stderr, "govbus-broker: cannot signal broker pid %ld: %s\n",
			pid, strerror(errno));
		return 1;
	}
	printf("reload sent to broker pid %ld\n", pid);
	return 0;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	int check = 0, reload = 0, rc;
	const char *listing = NULL; /* "registry" or "requests" */
	char why[1024];
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[++i];
		else if (!strcmp(argv[i], "--check-config"))
			check = 1;
		else if (!strcmp(argv[i], "reload"))
			reload = 1;
		else if (!strcmp(argv[i], "registry") ||
			 !strcmp(argv[i], "requests"))
			listing = argv[i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "govbus-broker: unexpected argument '%.100s'\n%s",
				argv[i], usage);
			return 2;
		}
	}
	if (!config) {
		fprintf(stderr, "govbus-broker: --config FILE is required\n%s", usage);
		return 2;
	}
	if (check)
		return check_config(config, NULL);
	if (reload)
		return cmd_reload(config);
	if (listing) {
		gb_registry *reg = load_config(config);

		rc = !reg ? 1
		     : !strcmp(listing, "registry") ? gb_admin_registry(reg, stdout)
						     : gb_admin_requests(reg, stdout);
		gb_registry_destroy(&reg);
		return rc;
	}

	rc = gb_broker_new(config, &running, why, sizeof why);
	if (rc != 0) {
		fprintf(stderr, "govbus-broker: %s\n", why);
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_reload;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = gb_broker_run(running);
	{
		gb_broker *b = running;
		running = NULL; /* signal handlers must not see a freed broker */
		gb_broker_destroy(&b);
	}
	fprintf(stderr, "govbus-broker: stopped\n");
	return rc == 0 ? 0 : 1;
}
