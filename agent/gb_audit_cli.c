/* govbus-agent `audit` commands; see gb_audit_cli.h.
 *
 * Trust: the broker is not trusted. Its registry answer supplies the
 * policy snapshots (whose bytes gb_verifier hashes and loads) and, only
 * when the config pins no broker.sign_key, the broker's own key — the
 * output then says the key was trusted on first use. Checkpoints and
 * replayed entries go through gb_verifier. Frames arrive through the
 * audit session (gb_audit_session.h), already bounded and decoded by
 * gb_codec. Strings from the trail are printed escaped (JSON) or
 * truncated (table). */
#include "gb_audit_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "gb_archive.h"
#include "gb_audit_session.h"
#include "gb_checkpoint.h"
#include "gb_client_internal.h"
#include "gb_format.h"
#include "gb_keys.h"
#include "gb_verifier.h"
#include "govbus.h"

#define PROGRESS_EVERY_MS 250

static const char usage[] =
	"usage: govbus-agent --config AGENT.yaml audit COMMAND [OPTIONS]\n"
	"\n"
	"  verify --dataset D        replay D from offset 0 and check every\n"
	"                            batch signature (producer's key in the\n"
	"                            policy in force), dense offsets, the hash\n"
	"                            chain and every checkpoint the broker\n"
	"                            signed. D may be _audit (the trail).\n"
	"  export --dataset D --out FILE\n"
	"                            verify as above and write what was read\n"
	"                            as an archive for govbus-audit verify.\n"
	"  checkpoint --dataset D    have the broker sign a checkpoint of D now\n"
	"                            and print it.\n"
	"  trail [--dept X] [--dataset D] [--since TIME] [--format table|json]\n"
	"                            print the audit trail (auditors only): a\n"
	"                            table on a terminal, JSON lines in a pipe.\n"
	"\n"
	"The broker's checkpoint key is pinned with broker.sign_key in the\n"
	"agent config (govbus-keys show prints it as sign_key); without it the\n"
	"key the broker presents is trusted on first use, and the output says\n"
	"so. Exit status: 0 clean, 1 a problem or a refusal, 2 usage.\n";

/* ------------------------------------------------------------ output */

/* One sentence with the status: "<what> refused" for the caller's fault
 * (4xx), "<what> failed" otherwise. Returns exit status 1. */
static int fail_line(gb_audit_session *s, const char *what, int rc)
{
	gb_client *c = gb_audit_session_client(s);
	unsigned status = gb_client_last_status(c);

	fprintf(stderr, "govbus-agent: %s %s (%u): %s\n", what,
		status && status < 500 ? "refused" : "failed", status,
		gb_client_last_error(c)[0] ? gb_client_last_error(c)
					   : gb_strerror(rc));
	return 1;
}

static int64_t now_ms(void)
{
	return gb_agent_now_ms();
}

/* RFC 3339 UTC with milliseconds. */
static void format_time(uint64_t ns, char out[32])
{
	time_t secs = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char day[24];

	gmtime_r(&secs, &tm);
	strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%03uZ", day,
		 (unsigned)(ns / 1000000ull % 1000));
}

/* ------------------------------------------------------------ broker key */

/* The key checkpoints must verify under: the pinned one, else (said so)
 * the one the broker presents. */
static int choose_broker_key(const gb_agent_config *cfg,
			     const Govbus__V1__Registry *reg, uint8_t out[32],
			     bool *pinned)
{
	char shown[GB_SIGN_PK_TEXT], pin[GB_SIGN_PK_TEXT];

	if (reg->broker_sign_key.len != GB_SIGN_PK_BYTES) {
		fprintf(stderr, "govbus-agent: the broker presents no valid "
			"sign key\n");
		return GB_EPROTO;
	}
	gb_key_encode_sign(reg->broker_sign_key.data, shown);
	*pinned = cfg->have_broker_sign_pk;
	if (*pinned) {
		memcpy(out, cfg->broker_sign_pk, GB_SIGN_PK_BYTES);
		gb_key_encode_sign(out, pin);
		if (memcmp(out, reg->broker_sign_key.data, GB_SIGN_PK_BYTES))
			fprintf(stderr, "govbus-agent: warning: the broker "
				"presents sign key %s, not the pinned %s; its "
				"checkpoints are checked against the pinned "
				"key\n",
				shown, pin);
		return 0;
	}
	memcpy(out, reg->broker_sign_key.data, GB_SIGN_PK_BYTES);
	fprintf(stderr, "govbus-agent: broker key %s is trusted on first use "
		"(pin it as broker.sign_key in the agent config)\n",
		shown);
	return 0;
}

/* ------------------------------------------------------------ collecting */

struct collect {
	gb_audit_session *s;
	const gb_agent_config *cfg;
	const char *stream;
	gb_verifier *v;
	gb_archive_writer *arch;       /* NULL: verify only */
	uint8_t broker_pk[GB_SIGN_PK_BYTES];
	bool pinned;
	bool history;                  /* policy snapshots with their bytes */
	bool tty;
	int64_t started_ms, next_progress_ms;
};

/* Policy snapshots (all pages) into the verifier and the archive. Without
 * their bytes (not an auditor), the registry in force gives fixed keys. */
static int collect_policies(struct collect *k, gb_server_frame *first)
{
	gb_server_frame *page = first, *next = NULL;
	uint8_t after[GB_HASH_BYTES];
	int rc = 0;

	for (;;) {
		const Govbus__V1__Registry *r = page->registry;

		for (size_t i = 0; rc == 0 && i < r->n_policies; i++) {
			const Govbus__V1__PolicySnapshot *p = r->policies[i];

			if (p->hash.len != GB_HASH_BYTES)
				return gb_verifier_fail(k->v, GB_EPROTO, false, 0,
							"the broker sent a policy "
							"snapshot without a hash");
			memcpy(after, p->hash.data, GB_HASH_BYTES);
			if (p->config.len == 0)
				continue; /* not ours to see */
			k->history = true;
			rc = gb_verifier_add_policy(k->v, p->hash.data,
						    p->hash.len, p->loaded_ns,
						    p->n_loaded_ns, p->config.data,
						    p->config.len);
			if (rc == 0 && k->arch)
				rc = gb_archive_put_policy(
					k->arch, p->hash.data, p->loaded_ns,
					p->n_loaded_ns, p->config.data,
					p->config.len);
		}
		if (page != first)
			gb_codec_server_free(&page);
		if (rc != 0 || !r->more)
			break;
		rc = gb_audit_session_registry(k->s, after, &next);
		if (rc != 0)
			return rc;
		page = next;
	}
	if (rc == 0 && !k->history) {
		const Govbus__V1__Registry *r = first->registry;

		fprintf(stderr, "govbus-agent: the policy history is for "
			"auditors; checking signatures against the keys "
			"registered now\n");
		for (size_t i = 0; rc == 0 && i < r->n_departments; i++)
			if (r->departments[i]->sign_key.len == GB_SIGN_PK_BYTES)
				rc = gb_verifier_add_key(
					k->v, r->departments[i]->id,
					r->departments[i]->sign_key.data);
	}
	return rc;
}

static int collect_checkpoints(struct collect *k)
{
	uint64_t from = 0;

	for (;;) {
		gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
		Govbus__V1__CheckpointListRequest r =
			GOVBUS__V1__CHECKPOINT_LIST_REQUEST__INIT;
		gb_server_frame *answer = NULL;
		const Govbus__V1__CheckpointList *list;
		bool more;
		int rc;

		r.request_id = gb_client_next_request_id(
			gb_audit_session_client(k->s));
		r.dataset = (char *)k->stream;
		r.from_offset = from;
		f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_LIST_REQUEST;
		f.checkpoint_list_request = &r;
		rc = gb_audit_session_request(k->s, &f, r.request_id, &answer);
		if (rc != 0)
			return rc;
		list = answer->checkpoint_list;
		for (size_t i = 0; rc == 0 && i < list->n_signed_checkpoints; i++) {
			const ProtobufCBinaryData *b = &list->signed_checkpoints[i];
			gb_checkpoint cp;
			char why[256];

			rc = gb_verifier_add_checkpoint(k->v, b->data, b->len);
			if (rc == 0 && k->arch)
				rc = gb_archive_put_checkpoint(k->arch, b->data,
							       b->len);
			if (rc == 0 && gb_checkpoint_verify(b->data, b->len, NULL,
							    &cp, why,
							    sizeof why) == 0 &&
			    cp.next_offset >= from)
				from = cp.next_offset + 1;
		}
		more = list->more && list->n_signed_checkpoints > 0;
		gb_codec_server_free(&answer);
		if (rc != 0 || !more)
			return rc;
	}
}

static void show_progress(struct collect *k)
{
	gb_verifier_stats st;
	double secs;

	if (!k->tty || now_ms() < k->next_progress_ms)
		return;
	k->next_progress_ms = now_ms() + PROGRESS_EVERY_MS;
	gb_verifier_stats_get(k->v, &st);
	secs = (double)(now_ms() - k->started_ms) / 1000.0;
	fprintf(stderr, "\rverified %" PRIu64 " records (%.0f rec/s)\033[K",
		st.records, secs > 0 ? (double)st.records / secs : 0.0);
}

/* A replayed delivery as the verifier takes an entry. */
static gb_verifier_entry entry_of(const Govbus__V1__Deliver *d)
{
	gb_verifier_entry e = {
		.offset = d->base_offset,
		.base_offset = d->base_offset,
		.broker_time_ns = d->broker_time_ns,
		.record_count = d->record_count,
		.chain_hash = d->chain_hash.data,
		.chain_hash_len = d->chain_hash.len,
		.batch = d->signed_batch.data,
		.batch_len = d->signed_batch.len,
	};
	return e;
}

static int verify_delivery(void *ctx, const Govbus__V1__Deliver *d)
{
	struct collect *k = ctx;
	gb_verifier_entry e = entry_of(d);
	int rc = gb_verifier_add_entry(k->v, &e);

	/* Evidence is kept even when it does not verify. */
	if (k->arch && gb_archive_put_entry(k->arch, &e) != 0 && rc == 0)
		rc = gb_verifier_fail(k->v, GB_EIO, false, 0,
				      "cannot write the archive");
	show_progress(k);
	return rc;
}

/* Verify (and with an archive, export) `stream`. Returns the exit status. */
static int verify_stream(gb_audit_session *s, const gb_agent_config *cfg,
			 const char *stream, gb_archive_writer *arch)
{
	struct collect k = {.s = s, .cfg = cfg, .stream = stream, .arch = arch};
	gb_audit_replay rep = {0};
	gb_server_frame *reg = NULL;
	gb_verifier_stats st;
	gb_verifier_head head = {0};
	gb_start from = {GB_START_EARLIEST, 0};
	char key[GB_SIGN_PK_TEXT];
	const char *problem;
	uint64_t at = 0, off = 0;
	bool has_off;
	double secs;
	int rc;

	k.tty = isatty(STDERR_FILENO);
	k.started_ms = k.next_progress_ms = now_ms();
	rc = gb_audit_session_registry(s, NULL, &reg);
	if (rc != 0)
		return fail_line(s, "audit", rc);
	rc = choose_broker_key(cfg, reg->registry, k.broker_pk, &k.pinned);
	if (rc == 0)
		rc = gb_verifier_new(stream, k.broker_pk, &k.v);
	if (rc != 0) {
		gb_codec_server_free(&reg);
		return 1;
	}
	if (arch && gb_archive_put_header(arch, stream, k.broker_pk,
					  (uint64_t)time(NULL) * 1000000000ull,
					  "govbus-agent audit export") != 0)
		rc = gb_verifier_fail(k.v, GB_EIO, false, 0,
				      "cannot write the archive");
	if (rc == 0)
		rc = collect_policies(&k, reg);
	gb_codec_server_free(&reg);
	if (rc == 0)
		rc = collect_checkpoints(&k);
	if (rc == 0) {
		rc = gb_audit_session_replay(s, stream, from, verify_delivery,
					     &k, &rep);
		at = rep.stopped_at;
		if (rc != 0 && !rep.subscribed) { /* refused outright */
			gb_verifier_destroy(&k.v);
			return fail_line(s, "audit", rc);
		}
		if (rc == 0 && rep.start_offset != 0)
			rc = gb_verifier_fail(
				k.v, GB_EPERM, false, 0,
				"the broker replays %s from offset %" PRIu64
				", not 0: this department's grant limits its "
				"history, so the log cannot be checked from the "
				"start (ask an auditor or the owner)",
				stream, rep.start_offset);
		else if (rc != 0 && !gb_verifier_status(k.v))
			rc = gb_verifier_fail(k.v, rc, true, at,
					      "offset %" PRIu64 ": the broker "
					      "stopped the replay here: %s",
					      at, gb_client_last_error(
						      gb_audit_session_client(s)));
	} else if (!gb_verifier_status(k.v)) {
		gb_verifier_destroy(&k.v);
		return fail_line(s, "audit", rc);
	}
	if (rc == 0) {
		head.next_offset = rep.head_offset;
		rc = gb_verifier_finish(k.v, &head);
	}
	if (arch) {
		gb_verifier_head end = {.next_offset = rep.head_offset};

		if (gb_archive_put_end(arch, &end) != 0 && rc == 0)
			rc = gb_verifier_fail(k.v, GB_EIO, false, 0,
					      "cannot write the archive");
	}
	if (k.tty)
		fputs("\r\033[K", stderr);
	gb_key_encode_sign(k.broker_pk, key);
	problem = gb_verifier_problem(k.v, &has_off, &off);
	gb_verifier_stats_get(k.v, &st);
	if (rc != 0) {
		fprintf(stderr, "govbus-agent: audit verify of %s FAILED%s: %s\n",
			stream, has_off ? "" : " (no offset)", problem);
		gb_verifier_destroy(&k.v);
		return 1;
	}
	secs = (double)(now_ms() - k.started_ms) / 1000.0;
	printf("%s: verified %" PRIu64 " batches, %" PRIu64 " records "
	       "(offsets 0..%" PRIu64 "), %" PRIu64 " checkpoints (%" PRIu64
	       " matched the chain), %" PRIu64 " policy snapshots%s; broker key "
	       "%s (%s); %.3f s\n",
	       stream, st.batches, st.records,
	       st.next_offset ? st.next_offset - 1 : 0, st.checkpoints,
	       st.checkpoints_matched, st.policies,
	       k.history ? "" : " (current keys only)", key,
	       k.pinned ? "pinned" : "trusted on first use", secs);
	gb_verifier_destroy(&k.v);
	return 0;
}

/* ------------------------------------------------------------ checkpoint */

static int cmd_checkpoint(gb_audit_session *s, const gb_agent_config *cfg,
			  const char *stream)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__CheckpointRequest r = GOVBUS__V1__CHECKPOINT_REQUEST__INIT;
	gb_server_frame *reg = NULL, *answer = NULL;
	uint8_t pk[GB_SIGN_PK_BYTES];
	char why[256], hex[2 * GB_HASH_BYTES + 1], when[32],
		key[GB_SIGN_PK_TEXT];
	gb_checkpoint cp;
	bool pinned;
	int rc;

	rc = gb_audit_session_registry(s, NULL, &reg);
	if (rc != 0)
		return fail_line(s, "checkpoint", rc);
	rc = choose_broker_key(cfg, reg->registry, pk, &pinned);
	gb_codec_server_free(&reg);
	if (rc != 0)
		return 1;
	r.request_id = gb_client_next_request_id(gb_audit_session_client(s));
	r.dataset = (char *)stream;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_REQUEST;
	f.checkpoint_request = &r;
	rc = gb_audit_session_request(s, &f, r.request_id, &answer);
	if (rc != 0)
		return fail_line(s, "checkpoint", rc);
	rc = gb_checkpoint_verify(answer->checkpoint_reply->signed_checkpoint.data,
				  answer->checkpoint_reply->signed_checkpoint.len,
				  pk, &cp, why, sizeof why);
	gb_codec_server_free(&answer);
	gb_key_encode_sign(pk, key);
	if (rc == 0 && strcmp(cp.dataset, stream) != 0)
		snprintf(why, sizeof why, "it is a checkpoint of %s", cp.dataset);
	if (rc != 0 || strcmp(cp.dataset, stream) != 0) {
		fprintf(stderr, "govbus-agent: the broker's checkpoint of %s "
			"does not verify under %s: %s\n",
			stream, key, why);
		return 1;
	}
	sodium_bin2hex(hex, sizeof hex, cp.chain_hash, GB_HASH_BYTES);
	format_time(cp.broker_time_ns, when);
	printf("%s: checkpoint at offset %" PRIu64 " (%" PRIu64 " batches), "
	       "chain hash %s, broker time %s, signed by %s (%s)\n",
	       stream, cp.next_offset, cp.batch_count, hex, when, key,
	       pinned ? "pinned" : "trusted on first use");
	return 0;
}

/* ------------------------------------------------------------ trail */

struct trail {
	const char *dept, *dataset;
	uint64_t since_ns;
	bool json;
	gb_verifier *v;                /* chain check when read from 0 */
	uint64_t shown;
	int rc;
};

static const char *kind_name(Govbus__V1__AuditEvent__Kind k)
{
	switch (k) {
	case GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_DENIED:
		return "denied";
	case GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_SUBSCRIBE:
		return "subscribe";
	case GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_REPLAY:
		return "replay";
	case GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_CONNECT:
		return "connect";
	case GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_KEY_WRAPS:
		return "key-wraps";
	case GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_POLICY_LOAD:
		return "policy-load";
	case GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_POLICY_REJECTED:
		return "policy-rejected";
	case GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_SUBSCRIPTION_ENDED:
		return "ended";
	case GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_CONNECTION_REFUSED:
		return "key-refused";
	case GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_CHECKPOINT_REQUEST:
		return "checkpoint";
	default:
		return "unknown";
	}
}

static void json_field(const char *name, const char *value)
{
	printf(",\"%s\":", name);
	gb_json_string(stdout, value, strlen(value));
}

static void print_event(struct trail *t, uint64_t offset,
			const Govbus__V1__AuditEvent *ev)
{
	char when[32], hex[2 * GB_HASH_BYTES + 1] = "";

	format_time(ev->broker_time_ns, when);
	if (ev->policy_hash.len == GB_HASH_BYTES)
		sodium_bin2hex(hex, sizeof hex, ev->policy_hash.data,
			       GB_HASH_BYTES);
	if (!t->json) {
		char st[12] = "-";

		if (ev->status)
			snprintf(st, sizeof st, "%u", ev->status);
		printf("%-24s %7" PRIu64 " %-15.15s %-10.10s %-16.16s "
		       "%-12.12s %3s %.200s\n",
		       when, offset, kind_name(ev->kind), ev->dept, ev->dataset,
		       ev->action, st, ev->detail);
		return;
	}
	printf("{\"offset\":%" PRIu64, offset);
	json_field("time", when);
	printf(",\"time_ns\":\"%" PRIu64 "\"", ev->broker_time_ns);
	json_field("kind", kind_name(ev->kind));
	json_field("dept", ev->dept);
	json_field("dataset", ev->dataset);
	json_field("action", ev->action);
	printf(",\"status\":%u", ev->status);
	json_field("detail", ev->detail);
	json_field("policy_hash", hex);
	if (ev->kind == GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_SUBSCRIBE ||
	    ev->kind == GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_REPLAY)
		printf(",\"from_offset\":%" PRIu64, ev->offset);
	if (ev->kind == GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_KEY_WRAPS)
		printf(",\"key_epoch\":%u,\"count\":%u", ev->key_epoch,
		       ev->count);
	printf("}\n");
}

static int trail_delivery(void *ctx, const Govbus__V1__Deliver *d)
{
	struct trail *t = ctx;
	Govbus__V1__AuditEvent *ev;

	if (t->v) {
		gb_verifier_entry e = entry_of(d);
		int rc = gb_verifier_add_entry(t->v, &e);

		if (rc != 0)
			return rc;
	}
	ev = govbus__v1__audit_event__unpack(NULL, d->signed_batch.len,
					     d->signed_batch.data);
	if (!ev)
		return GB_EDECODE;
	if ((!t->dept || !strcmp(ev->dept, t->dept)) &&
	    (!t->dataset || !strcmp(ev->dataset, t->dataset)) &&
	    ev->broker_time_ns >= t->since_ns) {
		print_event(t, d->base_offset, ev);
		t->shown++;
	}
	govbus__v1__audit_event__free_unpacked(ev, NULL);
	return ferror(stdout) ? GB_EIO : 0;
}

static int cmd_trail(gb_audit_session *s, const char *dept, const char *dataset,
		     uint64_t since_ns, int json)
{
	struct trail t = {dept, dataset, since_ns, false, NULL, 0, 0};
	gb_start from = {since_ns ? GB_START_TIME : GB_START_EARLIEST, since_ns};
	uint8_t unused_key[GB_SIGN_PK_BYTES] = {0};
	gb_audit_replay rep = {0};
	const char *problem;
	int rc;

	t.json = json < 0 ? !isatty(STDOUT_FILENO) : json != 0;
	/* From offset 0 the chain is checked on the way (checkpoints are
	 * `audit verify --dataset _audit`'s job). */
	if (!since_ns && gb_verifier_new(GB_AUDIT_STREAM, unused_key, &t.v) != 0)
		return 1;
	if (!t.json)
		printf("%-24s %7s %-15s %-10s %-16s %-12s %3s %s\n", "TIME",
		       "OFFSET", "KIND", "DEPT", "DATASET", "ACTION", "ST",
		       "DETAIL");
	rc = gb_audit_session_replay(s, GB_AUDIT_STREAM, from, trail_delivery,
				     &t, &rep);
	fflush(stdout);
	if (rc != 0) {
		problem = t.v ? gb_verifier_problem(t.v, NULL, NULL) : "";
		if (problem[0])
			fprintf(stderr, "govbus-agent: audit trail FAILED: %s\n",
				problem);
		else
			fail_line(s, "audit trail", rc);
		gb_verifier_destroy(&t.v);
		return 1;
	}
	gb_verifier_destroy(&t.v);
	if (!t.json)
		fprintf(stderr, "%" PRIu64 " event(s)\n", t.shown);
	return 0;
}

/* ------------------------------------------------------------ command line */

struct args {
	const char *dataset, *out, *dept, *since;
	int json;                      /* -1: by terminal */
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("govbus-agent: audit: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see govbus-agent audit --help)\n", stderr);
	return 2;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	a->json = -1;
	for (int i = 1; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			fputs(usage, stdout);
			return -1;
		}
		if (!v)
			return usage_error("%.40s needs a value", o);
		if (!strcmp(o, "--dataset")) {
			if (!gb_stream_name_valid(v))
				return usage_error("'%.64s' is not a dataset id", v);
			a->dataset = v;
		} else if (!strcmp(o, "--out")) {
			a->out = v;
		} else if (!strcmp(o, "--dept")) {
			if (!gb_id_valid(v))
				return usage_error("'%.64s' is not a department id", v);
			a->dept = v;
		} else if (!strcmp(o, "--since")) {
			a->since = v;
		} else if (!strcmp(o, "--format")) {
			if (strcmp(v, "table") && strcmp(v, "json"))
				return usage_error("--format must be table or json");
			a->json = !strcmp(v, "json");
		} else {
			return usage_error("unexpected argument '%.40s'", o);
		}
	}
	return 0;
}

static int cmd_export(gb_audit_session *s, const gb_agent_config *cfg,
		      const char *stream, const char *path)
{
	gb_archive_writer *w = NULL;
	FILE *out = strcmp(path, "-") ? fopen(path, "wb") : stdout;
	int status;

	if (!out) {
		fprintf(stderr, "govbus-agent: cannot create %.200s (%u): %s\n",
			path, gb_error_status(GB_EIO), strerror(errno));
		return 1;
	}
	if (gb_archive_writer_new(out, &w) != 0) {
		fprintf(stderr, "govbus-agent: out of memory\n");
		status = 1;
	} else {
		status = verify_stream(s, cfg, stream, w);
	}
	gb_archive_writer_destroy(&w);
	if ((out == stdout ? fflush(out) : fclose(out)) != 0 && status == 0) {
		fprintf(stderr, "govbus-agent: cannot write %.200s (%u): %s\n",
			path, gb_error_status(GB_EIO), strerror(errno));
		status = 1;
	}
	if (out != stdout)
		fprintf(stderr, "govbus-agent: archive of %s written to %s\n",
			stream, path);
	return status;
}

int gb_audit_command(const char *config, int argc, char **argv)
{
	struct args a = {0};
	gb_agent_config *cfg = NULL;
	gb_audit_session *s = NULL;
	gb_start since = {GB_START_EARLIEST, 0};
	char why[GB_AGENT_ERROR_MAX];
	const char *cmd = argc > 0 ? argv[0] : NULL;
	int rc, status;

	if (!cmd || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(usage, cmd ? stdout : stderr);
		return cmd ? 0 : 2;
	}
	rc = parse_args(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (strcmp(cmd, "verify") && strcmp(cmd, "export") &&
	    strcmp(cmd, "checkpoint") && strcmp(cmd, "trail"))
		return usage_error("unknown command '%.40s'", cmd);
	if (strcmp(cmd, "trail") && !a.dataset)
		return usage_error("%s needs --dataset", cmd);
	if (!strcmp(cmd, "export") && !a.out)
		return usage_error("export needs --out FILE");
	if (a.since && (gb_start_parse(a.since, &since, why, sizeof why) != 0 ||
			since.kind != GB_START_TIME))
		return usage_error("--since must be an RFC 3339 UTC time");
	if (!config)
		return usage_error("--config AGENT.yaml is required");
	rc = gb_agent_config_load(config, &cfg, why, sizeof why);
	if (rc != 0) {
		fprintf(stderr, "govbus-agent: config refused (%u): %s\n",
			gb_error_status(rc), why);
		return 1;
	}
	rc = gb_audit_session_open(cfg, &s, why, sizeof why);
	if (rc != 0) {
		fprintf(stderr, "govbus-agent: cannot connect (%u): %s\n",
			gb_error_status(rc), why);
		gb_agent_config_destroy(&cfg);
		return 1;
	}
	if (!strcmp(cmd, "verify"))
		status = verify_stream(s, cfg, a.dataset, NULL);
	else if (!strcmp(cmd, "export"))
		status = cmd_export(s, cfg, a.dataset, a.out);
	else if (!strcmp(cmd, "checkpoint"))
		status = cmd_checkpoint(s, cfg, a.dataset);
	else
		status = cmd_trail(s, a.dept, a.dataset, since.value, a.json);
	gb_audit_session_close(&s);
	gb_agent_config_destroy(&cfg);
	return status;
}
