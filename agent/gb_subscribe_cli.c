/* govbus-agent subscribe; see gb_subscribe_cli.h.
 *
 * Trust: command-line values are validated before use; records are
 * verified by the library before they are written, and written by
 * gb_format (escaped in JSON). */
#include "gb_subscribe_cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_cli.h"
#include "gb_codec.h"
#include "gb_format.h"
#include "gb_record_schema.h"

#define STDOUT_BUFFER (1u << 20)

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
	/* Every option takes a value: each step reads a pair. */
	for (int i = 0; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			fputs(usage_subscribe, stdout);
			return -1;
		}
		if (!strncmp(o, "--", 2) && !v)
			return gb_cli_usage_error("subscribe", "%s needs a value", o);
		if (!strcmp(o, "--dataset")) {
			a->dataset = v;
		} else if (!strcmp(o, "--from")) {
			if (gb_start_parse(v, &a->start, why, sizeof why) != 0)
				return gb_cli_usage_error("subscribe", "--from: %s", why);
		} else if (!strcmp(o, "--count")) {
			if (!gb_cli_parse_u64(v, 1, UINT64_MAX, &a->count))
				return gb_cli_usage_error("subscribe", "--count must be "
						   "a positive number");
		} else if (!strcmp(o, "--durable")) {
			if (!gb_name_valid(v))
				return gb_cli_usage_error("subscribe", "--durable must "
						   "be 1..%d of A-Z a-z 0-9 . _ -",
						   GB_MAX_NAME_LEN);
			a->durable = v;
		} else if (!strcmp(o, "--format")) {
			if (gb_format_from_name(v, &a->format) != 0)
				return gb_cli_usage_error("subscribe", "--format must "
						   "be lines, delimited or json");
		} else if (!strcmp(o, "--timeout")) {
			if (!parse_seconds(v, &a->timeout_ms))
				return gb_cli_usage_error("subscribe", "--timeout must "
						   "be a positive number of "
						   "seconds");
		} else {
			return gb_cli_usage_error("subscribe", "unexpected argument "
					   "'%.40s'", o);
		}
	}
	if (!a->dataset)
		return gb_cli_usage_error("subscribe", "--dataset is required");
	if (!gb_id_valid(a->dataset))
		return gb_cli_usage_error("subscribe", "'%.64s' is not a valid dataset "
				   "id", a->dataset);
	return 0;
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

int gb_subscribe_command(const char *config, int argc, char **argv)
{
	static char outbuf[STDOUT_BUFFER];
	struct subscribe_args a = {0};
	gb_cli_events ctx = {GB_CLI_SUBSCRIBE, false};
	gb_subscription_options sopts;
	gb_subscription *sub = NULL;
	gb_client *c = NULL;
	gb_writer *w = NULL;
	gb_record_schema *schema = NULL;
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
	if (gb_cli_connect(config, &ctx, &c) != 0)
		goto out;
	/* JSON output of a dataset with a schema is the records themselves,
	 * converted */
	if (a.format == GB_FORMAT_JSON) {
		rc = gb_record_schema_find(c, a.dataset, &schema);
		if (rc != 0) {
			status = gb_cli_report(c, "subscribe", rc);
			goto out;
		}
		if (schema)
			gb_writer_set_schema(w, gb_record_schema_type(schema));
	}

	gb_cli_catch_stop(c);
	signal(SIGPIPE, SIG_IGN);

	gb_subscription_options_init(&sopts);
	sopts.start = a.start;
	sopts.durable = a.durable;
	sopts.before_ack = flush_stdout;
	rc = gb_subscription_open(c, a.dataset, &sopts, &sub);
	if (rc != 0) {
		if (gb_cli_stop_requested())
			status = 0;
		else
			status = gb_cli_report(c, "subscribe", rc);
		goto out;
	}
	last_record = gb_cli_now_ms();
	while (!gb_cli_stop_requested() && (!a.count || out_count < a.count)) {
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
				int64_t left = last_record + a.timeout_ms - gb_cli_now_ms();
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
			    gb_cli_now_ms() - last_record >= a.timeout_ms) {
				fprintf(stderr, "govbus-agent: subscribe failed "
					"(%u): no record of %s arrived within "
					"%.3g s\n",
					gb_error_status(GB_ETIMEOUT), a.dataset,
					(double)a.timeout_ms / 1000.0);
				goto out;
			}
			continue;
		}
		if (rc == GB_ECLOSED && gb_cli_stop_requested())
			break;
		if (rc != 0) {
			fflush(stdout);
			status = gb_cli_report(c, "subscription ended", rc);
			goto out;
		}
		rc = gb_writer_put(w, &rec);
		if (rc == GB_EDECODE) { /* not its schema's */
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
		last_record = gb_cli_now_ms();
	}
	if (flush_stdout(NULL) != 0) {
		status = output_failed();
		goto out;
	}
	/* Everything output is now consumed: move the durable cursor. */
	rc = gb_subscription_commit(sub);
	if (rc != 0) {
		status = gb_cli_report(c, "cursor update failed", rc);
		goto out;
	}
	status = 0;
out:
	gb_cli_release_stop();
	gb_subscription_close(&sub);
	gb_client_close(&c);
	gb_writer_destroy(&w);
	gb_record_schema_destroy(&schema);
	if (fflush(stdout) != 0 && status == 0)
		status = output_failed();
	return status;
}
