/* govbus-agent: the command line over the agent library (DESIGN §10).
 *
 *   govbus-agent --config AGENT.yaml publish   --dataset D [...] [FILE]
 *   govbus-agent --config AGENT.yaml subscribe --dataset D [...]
 *   govbus-agent --config AGENT.yaml run [--dataset D]...
 *   govbus-agent --config AGENT.yaml catalog | request | requests  (issue 7)
 *
 * Exit status: 0 only when the whole job succeeded (every record acked /
 * every requested record output and, for durable cursors, acknowledged);
 * 1 when it failed; 2 for a usage error. Errors are one sentence on stderr
 * with the status code. Progress is shown on a terminal only; the one-line
 * publish summary is always printed (scripts read it).
 *
 * Trust: command-line values are validated before use; input records are
 * framed by gb_format with its limits. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gb_codec.h"
#include "gb_audit_cli.h" /* issue 4 */
#include "gb_catalog_cli.h" /* issue 7 */
#include "gb_format.h"
#include "gb_record_schema.h" /* schemas (issue 7B) */
#include "govbus.h"

#define PROGRESS_EVERY_MS 250
#define ID_PREFIX_MAX 100
#define STDOUT_BUFFER (1u << 20)
#define RUN_MAX_DATASETS 256
#define RUN_POLL_MS 1000

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

static const char usage_publish[] =
	"usage: govbus-agent --config AGENT.yaml publish --dataset D\n"
	"                    [--format lines|delimited|json] [--batch N]\n"
	"                    [--id-prefix P] [FILE]\n"
	"\n"
	"Publish every record of FILE (standard input when absent or '-') to\n"
	"dataset D, which this department must own, and wait until the broker\n"
	"has stored all of them.\n"
	"\n"
	"  --format lines      one record per line (default). The newline is\n"
	"                      stripped; an empty line is an empty record; a\n"
	"                      last line without newline counts; '\\r' is kept.\n"
	"  --format delimited  varint-length-prefixed messages, as written by\n"
	"                      protobuf's writeDelimitedTo.\n"
	"  --format json       one JSON object per line (proto3 JSON mapping),\n"
	"                      converted to protobuf by the dataset's schema.\n"
	"  --batch N           records per signed batch (default 1000).\n"
	"  --id-prefix P       give record k (from 1) the id P<k>. A record\n"
	"                      whose id the broker stored from this department\n"
	"                      within broker.dedupe_seconds (default 120) is\n"
	"                      not stored again: after a crash, publish the\n"
	"                      same input with the same P again.\n"
	"\n"
	"When D has a schema (a message type named by the broker's catalog or\n"
	"by schemas: in the agent config), every record is checked against it\n"
	"before anything is sealed: a bad record in a FILE publishes nothing;\n"
	"on standard input the batches before it are published, its own not.\n"
	"Without a schema, on a bad input record the records before it are\n"
	"published. Either way the command fails naming the line (or record)\n"
	"and, for a schema, the field. Prints\n"
	"\"published N records in B batches to D (offsets X..Y)\" on success,\n"
	"then \"skipped K records ...\" when K ids were stored before.\n";

static const char usage_subscribe[] =
	"usage: govbus-agent --config AGENT.yaml subscribe --dataset D\n"
	"                    [--from earliest|latest|OFFSET|TIME] [--count N]\n"
	"                    [--durable NAME] [--format lines|delimited|json]\n"
	"                    [--timeout SEC]\n"
	"\n"
	"Receive records of dataset D, verify each batch (owner's signature,\n"
	"dense offsets, hash chain) and write them to standard output.\n"
	"\n"
	"  --from     earliest (default), latest, an offset, or an RFC 3339 UTC\n"
	"             time such as 2026-11-23T10:00:00Z (broker time).\n"
	"  --count N  stop with status 0 after exactly N records. Without it,\n"
	"             run until SIGINT or SIGTERM (status 0) or an error.\n"
	"  --durable NAME  keep a cursor on the broker; a later run with the\n"
	"             same NAME resumes after the last record output (up to\n"
	"             1000 records may come again after a crash).\n"
	"  --format   lines (payload and newline, default), delimited (varint\n"
	"             length and payload) or json: for a dataset with a schema,\n"
	"             each record as one JSON object (proto3 JSON mapping, what\n"
	"             publish --format json reads); without one, one object per\n"
	"             line of dataset, offset, producer, produced_at_ns,\n"
	"             broker_time_ns, id, payload_base64.\n"
	"  --timeout SEC  fail (504) when no record arrives for SEC seconds.\n"
	"\n"
	"Records are end-to-end encrypted: the key of each epoch comes from the\n"
	"owner's wrap for this department, checked against the owner's signing\n"
	"key. If the owner has not wrapped it yet, the command says \"waiting\n"
	"for key epoch N of D from owner O\" once and keeps waiting.\n";

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

static volatile sig_atomic_t stop_requested;
static gb_client *signal_client;
static bool progress_shown;

/* ---------------------------------------------------------------- helpers */

static int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
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

static void clear_progress(void)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		progress_shown = false;
	}
}

/* One sentence with the status code; returns exit status 1. `what` is
 * "publish" or "subscribe" (then "refused" for 4xx, "failed" for 5xx), or a
 * complete phrase such as "subscription ended". */
static int report(gb_client *c, const char *what, int rc)
{
	const char *verb = "";

	clear_progress();
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

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
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

static bool parse_seconds(const char *s, int64_t *ms)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 1e9)
		return false;
	*ms = (int64_t)(v * 1000.0 + 0.5);
	return true;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum agent_mode { MODE_PUBLISH, MODE_SUBSCRIBE, MODE_RUN,
		  MODE_CATALOG /* issue 7 */ };

struct event_ctx {
	enum agent_mode mode;
	bool resweep;                 /* run: reconnected, redo the key work */
};

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
	struct event_ctx *ctx = arg;

	if (ev->kind >= GB_EVENT_KEY_OPENED) {
		clear_progress();
		on_key_event(ev);
	} else if (ev->kind == GB_EVENT_RECONNECTED && ctx->mode == MODE_RUN) {
		ctx->resweep = true;
		fprintf(stderr, "govbus-agent: %s (%s); reconnected\n",
			ev->restarted ? "broker restarted" : "connection lost",
			ev->reason ? ev->reason : "no answer");
	} else if (ev->kind == GB_EVENT_RESUBSCRIBED &&
		   ctx->mode == MODE_SUBSCRIBE) {
		clear_progress();
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
		   ctx->mode == MODE_PUBLISH) {
		clear_progress();
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

static int connect_client(const char *config_path, struct event_ctx *ctx,
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
	if (ctx->mode == MODE_RUN)
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

/* ---------------------------------------------------------------- publish */

struct publish_args {
	const char *dataset;
	const char *file;
	gb_format format;
	uint32_t batch;
	const char *id_prefix;
};

static int parse_publish(int argc, char **argv, struct publish_args *a)
{
	a->format = GB_FORMAT_LINES;
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;

		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			fputs(usage_publish, stdout);
			return -1;
		}
		if (o[0] == '-' && o[1] == '-' && !v)
			return usage_error("publish", "%s needs a value", o);
		if (!strcmp(o, "--dataset")) {
			a->dataset = v;
		} else if (!strcmp(o, "--format")) {
			if (gb_format_from_name(v, &a->format) != 0)
				return usage_error("publish", "--format must be "
						   "lines, delimited or json, "
						   "not '%.32s'",
						   v);
		} else if (!strcmp(o, "--batch")) {
			if (!parse_u64(v, 1, GB_MAX_BATCH_RECORDS, &n))
				return usage_error("publish", "--batch must be "
						   "1..%u", GB_MAX_BATCH_RECORDS);
			a->batch = (uint32_t)n;
		} else if (!strcmp(o, "--id-prefix")) {
			if (strlen(v) > ID_PREFIX_MAX || !*v)
				return usage_error("publish", "--id-prefix must "
						   "be 1..%d characters",
						   ID_PREFIX_MAX);
			a->id_prefix = v;
		} else if (o[0] == '-' && o[1]) {
			return usage_error("publish", "unknown option '%.40s'", o);
		} else {
			if (a->file)
				return usage_error("publish", "only one FILE");
			a->file = o;
			continue;
		}
		i++;
	}
	if (!a->dataset)
		return usage_error("publish", "--dataset is required");
	if (!gb_id_valid(a->dataset))
		return usage_error("publish", "'%.64s' is not a valid dataset id",
				   a->dataset);
	return 0;
}

static void show_progress(const gb_publisher *p, int64_t started)
{
	gb_publisher_stats st;
	double secs = (double)(now_ms() - started) / 1000.0;

	gb_publisher_stats_get(p, &st);
	fprintf(stderr, "\rpublished %" PRIu64 " records (%.0f rec/s)\033[K",
		st.records, secs > 0 ? (double)st.records / secs : 0.0);
	progress_shown = true;
}

/* schemas (issue 7B): the input of `publish`, checked against the
 * dataset's schema when it has one: a file is read through once first, so
 * a bad record anywhere publishes nothing; a pipe is checked record by
 * record (and the caller drops the batch a bad record falls in). Prints
 * the reason and returns 1 when the job cannot start. */
static int open_input(gb_client *c, const struct publish_args *a, int fd,
		      gb_record_schema **schema, gb_record_input **input)
{
	const gb_schema_type *type = NULL;
	char why[640];
	int rc = gb_record_schema_find(c, a->dataset, schema);

	if (rc != 0)
		return report(c, "publish", rc);
	if (*schema)
		type = gb_record_schema_type(*schema);
	if (a->format == GB_FORMAT_JSON && !type) {
		fprintf(stderr, "govbus-agent: publish refused (%u): %s has no "
			"schema, so it takes no JSON records (neither the "
			"broker's catalog nor schemas: in the agent config "
			"names a message type for it)\n",
			gb_error_status(GB_EINVAL), a->dataset);
		return 1;
	}
	rc = type ? gb_record_input_check_all(fd, a->format, type, why,
					      sizeof why)
		  : 0;
	if (rc < 0) {
		fprintf(stderr, "govbus-agent: input rejected (%u): %s: %s; "
			"nothing was published\n",
			gb_error_status(rc), a->file ? a->file : "standard input",
			why);
		return 1;
	}
	if (gb_record_input_new(fd, a->format, type, input) != 0) {
		fprintf(stderr, "govbus-agent: out of memory\n");
		return 1;
	}
	return 0;
}

static int cmd_publish(const char *config, int argc, char **argv)
{
	struct publish_args a = {0};
	struct event_ctx ctx = {MODE_PUBLISH, false};
	gb_publisher_options popts;
	gb_publisher_stats st;
	gb_publisher *pub = NULL;
	gb_client *c = NULL;
	gb_record_schema *schema = NULL;  /* issue 7B */
	gb_record_input *reader = NULL;
	uint32_t dropped = 0;
	char why[640] = "", id[ID_PREFIX_MAX + 24];
	bool tty = isatty(STDERR_FILENO);
	int64_t started = now_ms(), next_progress = started + PROGRESS_EVERY_MS;
	int fd = STDIN_FILENO, rc, status = 1, input_rc = 0;

	rc = parse_publish(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (a.file && strcmp(a.file, "-") != 0) {
		fd = open(a.file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "govbus-agent: cannot open %.200s (%u): "
				"%s\n",
				a.file, gb_error_status(GB_EIO), strerror(errno));
			return 1;
		}
	}
	if (connect_client(config, &ctx, &c) != 0)
		goto out;
	gb_publisher_options_init(&popts);
	if (a.batch)
		popts.max_records = a.batch;
	rc = gb_publisher_open(c, a.dataset, &popts, &pub);
	if (rc != 0) {
		status = report(c, "publish", rc);
		goto out;
	}
	if (open_input(c, &a, fd, &schema, &reader) != 0)
		goto out;
	for (;;) {
		const uint8_t *rec;
		size_t len;

		input_rc = gb_record_input_next(reader, &rec, &len, why,
						sizeof why);
		if (input_rc <= 0)
			break;
		if (a.id_prefix)
			snprintf(id, sizeof id, "%s%" PRIu64, a.id_prefix,
				 gb_record_input_records(reader));
		rc = gb_publisher_add(pub, rec, len, a.id_prefix ? id : NULL);
		if (rc != 0) {
			status = report(c, "publish", rc);
			goto out;
		}
		if (tty && (gb_record_input_records(reader) & 1023) == 0 &&
		    now_ms() >= next_progress) {
			show_progress(pub, started);
			next_progress = now_ms() + PROGRESS_EVERY_MS;
		}
	}
	/* Records before a bad one are still published, then we fail; with a
	 * schema (issue 7B), none of the bad record's batch. */
	if (input_rc < 0 && schema)
		dropped = gb_publisher_discard(pub);
	rc = gb_publisher_flush(pub);
	if (rc != 0) {
		status = report(c, "publish", rc);
		goto out;
	}
	clear_progress();
	gb_publisher_stats_get(pub, &st);
	if (st.have_offsets)
		fprintf(stderr, "published %" PRIu64 " records in %" PRIu64
			" batches to %s (offsets %" PRIu64 "..%" PRIu64 ")\n",
			st.records, st.batches, a.dataset, st.first_offset,
			st.last_offset);
	else
		fprintf(stderr, "published 0 records to %s\n", a.dataset);
	if (st.duplicate_records)
		fprintf(stderr, "skipped %" PRIu64 " records whose ids the "
			"broker had stored within its dedupe window\n",
			st.duplicate_records);
	if (input_rc < 0) {
		fprintf(stderr, "govbus-agent: input rejected (%u): %s%s%s\n",
			gb_error_status(input_rc),
			a.file ? a.file : "standard input", ": ", why);
		if (schema) /* issue 7B */
			fprintf(stderr, "govbus-agent: the %" PRIu32 " records "
				"before it in its batch were not published\n",
				dropped);
		goto out;
	}
	status = 0;
out:
	clear_progress();
	gb_publisher_close(&pub);
	gb_client_close(&c);
	gb_record_input_destroy(&reader);
	gb_record_schema_destroy(&schema); /* issue 7B */
	if (fd != STDIN_FILENO)
		close(fd);
	return status;
}

/* ---------------------------------------------------------------- subscribe */

struct subscribe_args {
	const char *dataset;
	gb_start start;
	uint64_t count;               /* 0: unlimited */
	const char *durable;
	gb_format format;
	int64_t timeout_ms;           /* 0: wait for ever */
};

static int parse_subscribe(int argc, char **argv, struct subscribe_args *a)
{
	char why[256];

	a->format = GB_FORMAT_LINES;
	a->start.kind = GB_START_EARLIEST;
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			fputs(usage_subscribe, stdout);
			return -1;
		}
		if (!strncmp(o, "--", 2) && !v)
			return usage_error("subscribe", "%s needs a value", o);
		if (!strcmp(o, "--dataset")) {
			a->dataset = v;
		} else if (!strcmp(o, "--from")) {
			if (gb_start_parse(v, &a->start, why, sizeof why) != 0)
				return usage_error("subscribe", "--from: %s", why);
		} else if (!strcmp(o, "--count")) {
			if (!parse_u64(v, 1, UINT64_MAX, &a->count))
				return usage_error("subscribe", "--count must be "
						   "a positive number");
		} else if (!strcmp(o, "--durable")) {
			if (!gb_name_valid(v))
				return usage_error("subscribe", "--durable must "
						   "be 1..%d of A-Z a-z 0-9 . _ -",
						   GB_MAX_NAME_LEN);
			a->durable = v;
		} else if (!strcmp(o, "--format")) {
			if (gb_format_from_name(v, &a->format) != 0)
				return usage_error("subscribe", "--format must "
						   "be lines, delimited or json");
		} else if (!strcmp(o, "--timeout")) {
			if (!parse_seconds(v, &a->timeout_ms))
				return usage_error("subscribe", "--timeout must "
						   "be a positive number of "
						   "seconds");
		} else {
			return usage_error("subscribe", "unexpected argument "
					   "'%.40s'", o);
		}
		i++;
	}
	if (!a->dataset)
		return usage_error("subscribe", "--dataset is required");
	if (!gb_id_valid(a->dataset))
		return usage_error("subscribe", "'%.64s' is not a valid dataset "
				   "id", a->dataset);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	if (signal_client)
		gb_client_interrupt(signal_client);
}

static int flush_stdout(void *arg)
{
	(void)arg;
	return fflush(stdout) != 0 || ferror(stdout) ? -1 : 0;
}

static int output_failed(void)
{
	fprintf(stderr, "govbus-agent: cannot write to standard output (%u): "
		"%s\n", gb_error_status(GB_EIO), strerror(errno));
	return 1;
}

static int cmd_subscribe(const char *config, int argc, char **argv)
{
	static char outbuf[STDOUT_BUFFER];
	struct subscribe_args a = {0};
	struct event_ctx ctx = {MODE_SUBSCRIBE, false};
	gb_subscription_options sopts;
	gb_subscription *sub = NULL;
	gb_client *c = NULL;
	gb_writer *w = NULL;
	gb_record_schema *schema = NULL;  /* issue 7B */
	struct sigaction sa;
	uint64_t out_count = 0;
	int64_t last_record;
	int rc, status = 1;

	rc = parse_subscribe(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
	if (gb_writer_new(stdout, a.format, &w) != 0) {
		fprintf(stderr, "govbus-agent: out of memory\n");
		return 1;
	}
	if (connect_client(config, &ctx, &c) != 0)
		goto out;
	/* schemas (issue 7B): JSON output of a dataset with a schema is the
	 * records themselves, converted */
	if (a.format == GB_FORMAT_JSON) {
		rc = gb_record_schema_find(c, a.dataset, &schema);
		if (rc != 0) {
			status = report(c, "subscribe", rc);
			goto out;
		}
		if (schema)
			gb_writer_set_schema(w, gb_record_schema_type(schema));
	}

	/* No SA_RESTART: the signal must wake the poll inside the library. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	signal_client = c;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	gb_subscription_options_init(&sopts);
	sopts.start = a.start;
	sopts.durable = a.durable;
	sopts.before_ack = flush_stdout;
	rc = gb_subscription_open(c, a.dataset, &sopts, &sub);
	if (rc != 0) {
		if (stop_requested)
			status = 0;
		else
			status = report(c, "subscribe", rc);
		goto out;
	}
	last_record = now_ms();
	while (!stop_requested && (!a.count || out_count < a.count)) {
		gb_record rec;
		int wait;

		rc = gb_subscription_next(sub, &rec, 0);
		if (rc == GB_ETIMEOUT) {
			/* Nothing buffered: let the output catch up first. */
			if (flush_stdout(NULL) != 0) {
				status = output_failed();
				goto out;
			}
			if (a.timeout_ms) {
				int64_t left = last_record + a.timeout_ms - now_ms();
				wait = left > 0 ? (int)(left < 1000000 ? left
								       : 1000000)
						: 0;
			} else {
				wait = -1;
			}
			rc = gb_subscription_next(sub, &rec, wait);
		}
		if (rc == GB_ETIMEOUT) {
			if (a.timeout_ms &&
			    now_ms() - last_record >= a.timeout_ms) {
				fprintf(stderr, "govbus-agent: subscribe failed "
					"(%u): no record of %s arrived within "
					"%.3g s\n",
					gb_error_status(GB_ETIMEOUT), a.dataset,
					(double)a.timeout_ms / 1000.0);
				goto out;
			}
			continue;
		}
		if (rc == GB_ECLOSED && stop_requested)
			break;
		if (rc != 0) {
			fflush(stdout);
			status = report(c, "subscription ended", rc);
			goto out;
		}
		rc = gb_writer_put(w, &rec);
		if (rc == GB_EDECODE) { /* issue 7B: not its schema's */
			fflush(stdout);
			fprintf(stderr, "govbus-agent: subscription ended (%u): "
				"%s\n", gb_error_status(rc), gb_writer_error(w));
			goto out;
		}
		if (rc != 0) {
			status = output_failed();
			goto out;
		}
		out_count++;
		last_record = now_ms();
	}
	if (flush_stdout(NULL) != 0) {
		status = output_failed();
		goto out;
	}
	/* Everything output is now consumed: move the durable cursor. */
	rc = gb_subscription_commit(sub);
	if (rc != 0) {
		status = report(c, "cursor update failed", rc);
		goto out;
	}
	status = 0;
out:
	signal_client = NULL;
	gb_subscription_close(&sub);
	gb_client_close(&c);
	gb_writer_destroy(&w);
	gb_record_schema_destroy(&schema); /* issue 7B */
	if (fflush(stdout) != 0 && status == 0)
		status = output_failed();
	return status;
}

/* ---------------------------------------------------------------- run */

struct run_args {
	const char *datasets[RUN_MAX_DATASETS];
	size_t n;
};

static int parse_run(int argc, char **argv, struct run_args *a)
{
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			fputs(usage_run, stdout);
			return -1;
		}
		if (strcmp(o, "--dataset") != 0)
			return usage_error("run", "unexpected argument '%.40s'", o);
		if (!v)
			return usage_error("run", "--dataset needs a value");
		if (!gb_id_valid(v))
			return usage_error("run", "'%.64s' is not a valid dataset "
					   "id", v);
		if (a->n == RUN_MAX_DATASETS)
			return usage_error("run", "at most %d --dataset options",
					   RUN_MAX_DATASETS);
		a->datasets[a->n++] = v;
		i++;
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

static int cmd_run(const char *config, int argc, char **argv)
{
	struct run_args a = {0};
	struct event_ctx ctx = {MODE_RUN, false};
	struct sigaction sa;
	gb_client *c = NULL;
	char dataset[GB_MAX_ID_LEN + 1];
	int rc, status = 1;

	rc = parse_run(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (connect_client(config, &ctx, &c) != 0)
		return 1;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	signal_client = c;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = run_sweep(c, &a);
	if (rc == 0) {
		size_t n = gb_client_owned_count(c) + a.n;
		fprintf(stderr, "govbus-agent: run: doing the key work of %zu "
			"dataset%s of %s\n",
			n, n == 1 ? "" : "s", gb_client_dept(c));
	}
	while (rc == 0 && !stop_requested) {
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
	if (stop_requested || (rc == GB_ECLOSED &&
			       !strcmp(gb_client_last_error(c), "interrupted")))
		status = 0;
	else
		status = report(c, "run failed", rc);
	signal_client = NULL;
	gb_client_close(&c);
	return status;
}

/* ---------------------------------------------------------------- catalog (issue 7) */

/* catalog, request, requests: parsed and run by gb_catalog_cli.c. */
static int cmd_catalog(const char *config, const char *word, int argc,
		       char **argv)
{
	struct event_ctx ctx = {MODE_CATALOG, false};
	gb_catalog_cmd cmd;
	gb_client *c = NULL;
	int rc = gb_catalog_parse(word, argc, argv, &cmd), status;

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (!config)
		return usage_error(word, "--config AGENT.yaml is required");
	if (connect_client(config, &ctx, &c) != 0)
		return 1;
	rc = gb_catalog_run(c, &cmd, stdout);
	status = rc == 0 ? 0 : report(c, word, rc);
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
				return usage_error(NULL, "--config needs a file");
			config = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_main, stdout);
			return 0;
		} else if (argv[i][0] == '-') {
			return usage_error(NULL, "unknown option '%.40s'", argv[i]);
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
			return usage_error(cmd, "--config AGENT.yaml is required");
		if (!strcmp(cmd, "publish"))
			return cmd_publish(config, argc - i, argv + i);
		if (!strcmp(cmd, "run"))
			return cmd_run(config, argc - i, argv + i);
		return cmd_subscribe(config, argc - i, argv + i);
	}
	if (!strcmp(cmd, "audit")) /* issue 4: gb_audit.c */
		return gb_audit_command(config, argc - i, argv + i);
	if (gb_catalog_is_command(cmd)) /* issue 7: gb_catalog_cli.c */
		return cmd_catalog(config, cmd, argc - i, argv + i);
	return usage_error(NULL, "unknown command '%.40s'", cmd);
}
