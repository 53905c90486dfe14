/* What every govbus-agent command shares; see gb_cli.h. */
#include "gb_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gb_codec.h"

static volatile sig_atomic_t stop_requested;
static gb_client *signal_client;
static bool progress_shown;

/* ---------------------------------------------------------------- output */

int gb_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "govbus-agent: %s%s", cmd ? cmd : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see govbus-agent %s%s--help)\n", cmd ? cmd : "",
		cmd ? " " : "");
	return 2;
}

void gb_cli_progress_shown(void)
{
	progress_shown = true;
}

void gb_cli_clear_progress(void)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		progress_shown = false;
	}
}

int gb_cli_report(gb_client *c, const char *what, int rc)
{
	const char *verb = "";

	gb_cli_clear_progress();
	if (rc == GB_ECLOSED && !strcmp(gb_client_last_error(c), "interrupted")) {
		fprintf(stderr, "govbus-agent: %s interrupted\n", what);
		return 1;
	}
	if (!strchr(what, ' '))
		verb = gb_client_last_status(c) < 500 ? " refused" : " failed";
	fprintf(stderr, "govbus-agent: %s%s (%u): %s\n", what, verb,
		gb_client_last_status(c),
		gb_client_last_error(c)[0] ? gb_client_last_error(c)
					   : gb_strerror(rc));
	return 1;
}

bool gb_cli_parse_u64(const char *s, uint64_t min, uint64_t max,
		      uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !*s || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int64_t gb_cli_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Key work and key waits: one line each, whatever the command. */
static void on_key_event(const gb_event *ev)
{
	switch (ev->kind) {
	case GB_EVENT_KEY_OPENED:
		fprintf(stderr, "%s: opened key epoch %" PRIu32 " for %" PRIu64
			" readers (%s)\n",
			ev->dataset, ev->epoch, ev->count, ev->recipients);
		break;
	case GB_EVENT_KEY_WRAPPED:
		fprintf(stderr, "%s: wrapped epoch %" PRIu32 " for %s\n",
			ev->dataset, ev->epoch, ev->recipients);
		break;
	case GB_EVENT_KEY_FAILED:
		fprintf(stderr, "%s: key work for epoch %" PRIu32 " failed "
			"(%u): %s\n",
			ev->dataset, ev->epoch, ev->status, ev->reason);
		break;
	case GB_EVENT_KEY_WAITING:
		fprintf(stderr, "govbus-agent: waiting for key epoch %" PRIu32
			" of %s from owner %s\n",
			ev->epoch, ev->dataset, ev->owner);
		break;
	case GB_EVENT_RESEALED:
		fprintf(stderr, "govbus-agent: the broker refused the key epoch "
			"of %s; sealed %" PRIu64 " unacknowledged batches again "
			"under epoch %" PRIu32 "\n",
			ev->dataset, ev->count, ev->epoch);
		break;
	default:
		break;
	}
}

/* The library reports reconnections; the command line says so, once. */
static void on_event(void *arg, const gb_event *ev)
{
	gb_cli_events *ctx = arg;

	if (ev->kind >= GB_EVENT_KEY_OPENED) {
		gb_cli_clear_progress();
		on_key_event(ev);
	} else if (ev->kind == GB_EVENT_RECONNECTED && ctx->mode == GB_CLI_RUN) {
		ctx->resweep = true;
		fprintf(stderr, "govbus-agent: %s (%s); reconnected\n",
			ev->restarted ? "broker restarted" : "connection lost",
			ev->reason ? ev->reason : "no answer");
	} else if (ev->kind == GB_EVENT_RESUBSCRIBED &&
		   ctx->mode == GB_CLI_SUBSCRIBE) {
		gb_cli_clear_progress();
		if (ev->restarted)
			fprintf(stderr, "govbus-agent: broker restarted; "
				"resuming from offset %" PRIu64 "\n",
				ev->offset);
		else
			fprintf(stderr, "govbus-agent: connection to the broker "
				"lost (%s); resuming from offset %" PRIu64 "\n",
				ev->reason ? ev->reason : "no answer",
				ev->offset);
	} else if (ev->kind == GB_EVENT_RECONNECTED &&
		   ctx->mode == GB_CLI_PUBLISH) {
		gb_cli_clear_progress();
		if (ev->restarted)
			fputs("govbus-agent: broker restarted; re-sending "
			      "unacknowledged batches\n",
			      stderr);
		else
			fprintf(stderr, "govbus-agent: connection to the broker "
				"lost (%s); reconnected, re-sending "
				"unacknowledged batches\n",
				ev->reason ? ev->reason : "no answer");
	}
}

int gb_cli_connect(const char *config_path, gb_cli_events *ctx,
		   gb_client **out)
{
	gb_agent_config *cfg = NULL;
	gb_client_options opts;
	char why[GB_MAX_MESSAGE_LEN + 512];
	int rc;

	rc = gb_agent_config_load(config_path, &cfg, why, sizeof why);
	if (rc != 0) {
		fprintf(stderr, "govbus-agent: config refused (%u): %s\n",
			gb_error_status(rc), why);
		return 1;
	}
	gb_client_options_init(&opts);
	opts.on_event = on_event;
	opts.event_arg = ctx;
	if (ctx->mode == GB_CLI_RUN)
		opts.give_up_ms = 0; /* a long-running agent never gives up */
	rc = gb_client_open(cfg, &opts, out, why, sizeof why);
	gb_agent_config_destroy(&cfg);
	if (rc != 0) {
		fprintf(stderr, "govbus-agent: cannot connect (%u): %s\n",
			gb_error_status(rc), why);
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- stopping */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	if (signal_client)
		gb_client_interrupt(signal_client);
}

/* No SA_RESTART: the signal must wake the poll inside the library. */
void gb_cli_catch_stop(gb_client *c)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	signal_client = c;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void gb_cli_release_stop(void)
{
	signal_client = NULL;
}

bool gb_cli_stop_requested(void)
{
	return stop_requested;
}
