/* govbus-agent publish; see gb_publish_cli.h.
 *
 * Trust: command-line values are validated before use; input records are
 * framed by gb_format with its limits and, for a dataset with a schema,
 * checked against it (gb_record_schema.h) before anything is sealed. */
#include "gb_publish_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gb_cli.h"
#include "gb_codec.h"
#include "gb_format.h"
#include "gb_record_schema.h"

#define PROGRESS_EVERY_MS 250
#define ID_PREFIX_MAX 100

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
			return gb_cli_usage_error("publish", "%s needs a value", o);
		if (!strcmp(o, "--dataset")) {
			a->dataset = v;
		} else if (!strcmp(o, "--format")) {
			if (gb_format_from_name(v, &a->format) != 0)
				return gb_cli_usage_error("publish", "--format must be "
						   "lines, delimited or json, "
						   "not '%.32s'",
						   v);
		} else if (!strcmp(o, "--batch")) {
			if (!gb_cli_parse_u64(v, 1, GB_MAX_BATCH_RECORDS, &n))
				return gb_cli_usage_error("publish", "--batch must be "
						   "1..%u", GB_MAX_BATCH_RECORDS);
			a->batch = (uint32_t)n;
		} else if (!strcmp(o, "--id-prefix")) {
			if (strlen(v) > ID_PREFIX_MAX || !*v)
				return gb_cli_usage_error("publish", "--id-prefix must "
						   "be 1..%d characters",
						   ID_PREFIX_MAX);
			a->id_prefix = v;
		} else if (o[0] == '-' && o[1]) {
			return gb_cli_usage_error("publish", "unknown option '%.40s'", o);
		} else {
			if (a->file)
				return gb_cli_usage_error("publish", "only one FILE");
			a->file = o;
			continue;
		}
		i++;
	}
	if (!a->dataset)
		return gb_cli_usage_error("publish", "--dataset is required");
	if (!gb_id_valid(a->dataset))
		return gb_cli_usage_error("publish", "'%.64s' is not a valid dataset id",
				   a->dataset);
	return 0;
}

static void show_progress(const gb_publisher *p, int64_t started)
{
	gb_publisher_stats st;
	double secs = (double)(gb_cli_now_ms() - started) / 1000.0;

	gb_publisher_stats_get(p, &st);
	fprintf(stderr, "\rpublished %" PRIu64 " records (%.0f rec/s)\033[K",
		st.records, secs > 0 ? (double)st.records / secs : 0.0);
	gb_cli_progress_shown();
}

/* The input of `publish`, checked against the dataset's schema when it
 * has one: a file is read through once first, so a bad record anywhere
 * publishes nothing; a pipe is checked record by record (and the caller
 * drops the batch a bad record falls in). Prints the reason and returns 1
 * when the job cannot start. */
static int open_input(gb_client *c, const struct publish_args *a, int fd,
		      gb_record_schema **schema, gb_record_input **input)
{
	const gb_schema_type *type = NULL;
	char why[640];
	int rc = gb_record_schema_find(c, a->dataset, schema);

	if (rc != 0)
		return gb_cli_report(c, "publish", rc);
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

int gb_publish_command(const char *config, int argc, char **argv)
{
	struct publish_args a = {0};
	gb_cli_events ctx = {GB_CLI_PUBLISH, false};
	gb_publisher_options popts;
	gb_publisher_stats st;
	gb_publisher *pub = NULL;
	gb_client *c = NULL;
	gb_record_schema *schema = NULL;
	gb_record_input *reader = NULL;
	uint32_t dropped = 0;
	char why[640] = "", id[ID_PREFIX_MAX + 24];
	bool tty = isatty(STDERR_FILENO);
	int64_t started = gb_cli_now_ms(), next_progress = started + PROGRESS_EVERY_MS;
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
	if (gb_cli_connect(config, &ctx, &c) != 0)
		goto out;
	gb_publisher_options_init(&popts);
	if (a.batch)
		popts.max_records = a.batch;
	rc = gb_publisher_open(c, a.dataset, &popts, &pub);
	if (rc != 0) {
		status = gb_cli_report(c, "publish", rc);
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
			status = gb_cli_report(c, "publish", rc);
			goto out;
		}
		if (tty && (gb_record_input_records(reader) & 1023) == 0 &&
		    gb_cli_now_ms() >= next_progress) {
			show_progress(pub, started);
			next_progress = gb_cli_now_ms() + PROGRESS_EVERY_MS;
		}
	}
	/* Records before a bad one are still published, then we fail; with a
	 * schema, none of the bad record's batch. */
	if (input_rc < 0 && schema)
		dropped = gb_publisher_discard(pub);
	rc = gb_publisher_flush(pub);
	if (rc != 0) {
		status = gb_cli_report(c, "publish", rc);
		goto out;
	}
	gb_cli_clear_progress();
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
		if (schema)
			fprintf(stderr, "govbus-agent: the %" PRIu32 " records "
				"before it in its batch were not published\n",
				dropped);
		goto out;
	}
	status = 0;
out:
	gb_cli_clear_progress();
	gb_publisher_close(&pub);
	gb_client_close(&c);
	gb_record_input_destroy(&reader);
	gb_record_schema_destroy(&schema);
	if (fd != STDIN_FILENO)
		close(fd);
	return status;
}
