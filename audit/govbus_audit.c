/* govbus-audit: offline evidence for auditors (DESIGN §7 "Audit").
 *
 *   govbus-audit export --data-dir DIR --dataset D --out FILE
 *                       [--broker-key KEY]
 *   govbus-audit verify [--broker-key KEY] FILE
 *
 * export reads a broker's data directory read-only (LMDB MDB_RDONLY: it
 * may run beside the broker, or on a copy) and writes one self-contained
 * archive of stream D (a dataset id, or _audit for the trail): every
 * policy snapshot, every signed checkpoint, every log entry exactly as
 * stored — moved, malformed or not — and the stream head (gb_archive.h).
 *
 * verify needs nothing but the archive: offsets dense from 0, the hash
 * chain recomputed from 0 against every stored hash and every checkpoint,
 * checkpoint signatures under the broker key, batch signatures under the
 * producer's key in the policy snapshot in force at each batch's broker
 * time (gb_verifier.h). The broker key is the archive's unless --broker-key
 * pins it, which an auditor should do: the key used is printed either way.
 * The first problem is printed with its offset and the exit status is 1;
 * a clean archive prints a summary and exits 0; usage errors exit 2.
 * Progress shows on a terminal only.
 *
 * Trust: the data directory and the archive are untrusted input; the
 * store's raw readers and gb_archive bound what they hand over and
 * gb_verifier judges it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "gb_archive.h"
#include "gb_codec.h"
#include "gb_error.h"
#include "gb_keys.h"
#include "gb_store.h"
#include "gb_verifier.h"
#include "govbus.pb-c.h"

#define PROGRESS_EVERY_NS 250000000ull

static const char usage[] =
	"usage: govbus-audit export --data-dir DIR --dataset D --out FILE\n"
	"                           [--broker-key KEY]\n"
	"       govbus-audit verify [--broker-key KEY] FILE\n"
	"\n"
	"export  write stream D of the broker data directory DIR (read-only)\n"
	"        as an archive: policy snapshots, signed checkpoints, every\n"
	"        entry as stored, and the stream head. D is a dataset id or\n"
	"        _audit (the audit trail). The broker key recorded in the\n"
	"        trail is put in the header unless --broker-key gives one.\n"
	"verify  check an archive with nothing else; FILE '-' is standard\n"
	"        input. --broker-key pins the broker's Ed25519 key (as\n"
	"        govbus-keys show prints sign_key); without it the archive's\n"
	"        own key is used and the output says so.\n"
	"\n"
	"Exit status: 0 clean, 1 a problem (printed with its offset), 2 usage.\n";

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of this process: what "records/s on one core" is measured in,
 * whatever else the machine is doing. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("govbus-audit: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see govbus-audit --help)\n", stderr);
	return 2;
}

/* ------------------------------------------------------------ export */

struct export_ctx {
	gb_archive_writer *w;
	const char *stream;
	int rc;                        /* first write error */
	/* the broker key the trail records (newest POLICY_LOAD) */
	uint8_t trail_key[GB_SIGN_PK_BYTES];
	bool have_trail_key;
};

static int find_trail_key(void *arg, uint64_t offset, const uint8_t *value,
			  size_t len)
{
	struct export_ctx *x = arg;
	gb_stored_batch b;
	Govbus__V1__AuditEvent *ev;

	(void)offset;
	if (gb_store_entry_split(value, len, &b) != 0)
		return 0; /* the verifier will say so */
	ev = govbus__v1__audit_event__unpack(NULL, b.signed_batch_len,
					     b.signed_batch);
	if (!ev)
		return 0;
	if (ev->kind == GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_POLICY_LOAD &&
	    ev->broker_sign_key.len == GB_SIGN_PK_BYTES) {
		memcpy(x->trail_key, ev->broker_sign_key.data, GB_SIGN_PK_BYTES);
		x->have_trail_key = true;
	}
	govbus__v1__audit_event__free_unpacked(ev, NULL);
	return 0;
}

static int export_policy(void *arg, const gb_stored_policy *p)
{
	struct export_ctx *x = arg;

	x->rc = gb_archive_put_policy(x->w, p->hash, p->loaded_ns,
				      p->load_count, p->config, p->config_len);
	return x->rc;
}

static int export_checkpoint(void *arg, uint64_t offset, const uint8_t *value,
			     size_t len)
{
	struct export_ctx *x = arg;

	(void)offset;
	x->rc = gb_archive_put_checkpoint(x->w, value, len);
	return x->rc;
}

static int export_entry(void *arg, uint64_t offset, const uint8_t *value,
			size_t len)
{
	struct export_ctx *x = arg;
	gb_stored_batch b;
	gb_verifier_entry e = {.offset = offset};

	/* As stored: a value too short to split goes out with no fields,
	 * and the verifier names it. */
	if (gb_store_entry_split(value, len, &b) == 0) {
		e.base_offset = b.base_offset;
		e.broker_time_ns = b.broker_time_ns;
		e.record_count = b.record_count;
		e.chain_hash = b.chain_hash;
		e.chain_hash_len = GB_HASH_BYTES;
		e.batch = b.signed_batch;
		e.batch_len = b.signed_batch_len;
	} else {
		e.base_offset = offset;
		e.batch = value;
		e.batch_len = len;
	}
	x->rc = gb_archive_put_entry(x->w, &e);
	return x->rc;
}

static int cmd_export(int argc, char **argv)
{
	const char *dir = NULL, *stream = NULL, *path = NULL, *key_text = NULL;
	struct export_ctx x = {0};
	gb_store *store = NULL;
	gb_stream_info head = {0};
	gb_verifier_head end;
	uint8_t key[GB_SIGN_PK_BYTES];
	char source[600];
	FILE *out = NULL;
	int rc, status = 1;

	for (int i = 0; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			return usage_error("%.40s needs a value", o);
		if (!strcmp(o, "--data-dir"))
			dir = v;
		else if (!strcmp(o, "--dataset"))
			stream = v;
		else if (!strcmp(o, "--out"))
			path = v;
		else if (!strcmp(o, "--broker-key"))
			key_text = v;
		else
			return usage_error("export: unexpected argument '%.40s'", o);
	}
	if (!dir || !stream || !path)
		return usage_error("export needs --data-dir, --dataset and --out");
	if (!gb_stream_name_valid(stream))
		return usage_error("'%.64s' is not a dataset id or _audit", stream);
	if (key_text && gb_key_decode_sign(key_text, key) != 0)
		return usage_error("--broker-key is not a base64 Ed25519 key");

	rc = gb_store_open_readonly(dir, &store);
	if (rc != 0) {
		fprintf(stderr, "govbus-audit: cannot read the log in %.200s: "
			"%s\n", dir, gb_strerror(rc));
		return 1;
	}
	if (!key_text) {
		rc = gb_store_read_raw(store, GB_AUDIT_STREAM, &head,
				       find_trail_key, &x);
		if (rc < 0 || !x.have_trail_key) {
			fprintf(stderr, "govbus-audit: the audit trail in %.200s "
				"records no broker key; give it with "
				"--broker-key\n", dir);
			goto out;
		}
		memcpy(key, x.trail_key, sizeof key);
	}
	out = strcmp(path, "-") ? fopen(path, "wb") : stdout;
	if (!out) {
		fprintf(stderr, "govbus-audit: cannot create %.200s: %s\n", path,
			strerror(errno));
		goto out;
	}
	if (gb_archive_writer_new(out, &x.w) != 0)
		goto out;
	x.stream = stream;
	snprintf(source, sizeof source, "govbus-audit export --data-dir %.500s",
		 dir);
	rc = gb_archive_put_header(x.w, stream, key, wall_ns(), source);
	if (rc == 0) {
		rc = gb_store_policies_read(store, export_policy, &x);
		if (rc >= 0)
			rc = gb_store_checkpoints_read(store, stream, 0, SIZE_MAX,
						       export_checkpoint, &x);
		if (rc >= 0)
			rc = gb_store_read_raw(store, stream, &head,
					       export_entry, &x);
	}
	if (rc >= 0 && x.rc == 0) {
		end.next_offset = head.next_offset;
		end.batch_count = head.batch_count;
		end.chain_hash = head.head_hash;
		end.chain_hash_len = GB_HASH_BYTES;
		rc = gb_archive_put_end(x.w, &end);
	}
	if (rc < 0 || x.rc != 0) {
		fprintf(stderr, "govbus-audit: export of %s failed: %s\n", stream,
			gb_strerror(rc < 0 ? rc : x.rc));
		goto out;
	}
	status = 0;
out:
	gb_archive_writer_destroy(&x.w);
	if (out && (out == stdout ? fflush(out) : fclose(out)) != 0 &&
	    status == 0) {
		fprintf(stderr, "govbus-audit: cannot write %.200s: %s\n", path,
			strerror(errno));
		status = 1;
	}
	if (status == 0 && out != stdout)
		fprintf(stderr, "govbus-audit: exported %s (%" PRIu64 " offsets, "
			"%" PRIu64 " batches) from %s to %s\n",
			stream, head.next_offset, head.batch_count, dir, path);
	gb_store_close(&store);
	return status;
}

/* ------------------------------------------------------------ verify */

struct verify_ctx {
	gb_verifier *v;
	gb_archive_reader *r;
	const uint8_t *pinned;         /* NULL: the archive's key */
	uint8_t key[GB_SIGN_PK_BYTES];
	char stream[GB_MAX_ID_LEN + 1];
	bool tty;
	uint64_t started, started_cpu, next_progress;
	bool entries_started, ended;
	uint64_t entries, checkpoints, policies;
};

static void progress(struct verify_ctx *c)
{
	gb_verifier_stats st;
	uint64_t t = now_ns();
	double secs;

	if (!c->tty || t < c->next_progress)
		return;
	c->next_progress = t + PROGRESS_EVERY_NS;
	gb_verifier_stats_get(c->v, &st);
	secs = (double)(t - c->started) / 1e9;
	fprintf(stderr, "\rverified %" PRIu64 " records (%.0f rec/s)\033[K",
		st.records, secs > 0 ? (double)st.records / secs : 0.0);
}

/* The header: which stream, which key. */
static int start_verify(struct verify_ctx *c, const Govbus__V1__ArchiveItem *it)
{
	const Govbus__V1__ArchiveHeader *h = it->header;
	char shown[GB_SIGN_PK_TEXT], pin[GB_SIGN_PK_TEXT];

	if (it->item_case != GOVBUS__V1__ARCHIVE_ITEM__ITEM_HEADER ||
	    h->format != GB_ARCHIVE_FORMAT || !gb_stream_name_valid(h->dataset) ||
	    h->broker_sign_key.len != GB_SIGN_PK_BYTES) {
		fprintf(stderr, "govbus-audit: not a govbus audit archive (no "
			"format-1 header first)\n");
		return GB_EDECODE;
	}
	snprintf(c->stream, sizeof c->stream, "%s", h->dataset);
	gb_key_encode_sign(h->broker_sign_key.data, shown);
	if (c->pinned) {
		memcpy(c->key, c->pinned, sizeof c->key);
		gb_key_encode_sign(c->key, pin);
		fprintf(stderr, "govbus-audit: checking checkpoints against the "
			"pinned broker key %s\n", pin);
		if (memcmp(c->key, h->broker_sign_key.data, sizeof c->key))
			fprintf(stderr, "govbus-audit: warning: the archive names "
				"broker key %s, not the pinned one\n", shown);
	} else {
		memcpy(c->key, h->broker_sign_key.data, sizeof c->key);
		fprintf(stderr, "govbus-audit: checking checkpoints against broker "
			"key %s, taken from the archive (NOT pinned: compare it "
			"with the broker's published key, or pass "
			"--broker-key)\n", shown);
	}
	return gb_verifier_new(c->stream, c->key, &c->v);
}

static int verify_item(struct verify_ctx *c, const Govbus__V1__ArchiveItem *it)
{
	gb_verifier_stats st;

	if (c->ended)
		return gb_verifier_fail(c->v, GB_EDECODE, false, 0,
					"archive: items after its end (item %"
					PRIu64 ")",
					gb_archive_items(c->r));
	switch (it->item_case) {
	case GOVBUS__V1__ARCHIVE_ITEM__ITEM_POLICY:
		if (c->entries_started)
			break;
		c->policies++;
		return gb_verifier_add_policy(
			c->v, it->policy->hash.data, it->policy->hash.len,
			it->policy->loaded_ns, it->policy->n_loaded_ns,
			it->policy->config.data, it->policy->config.len);
	case GOVBUS__V1__ARCHIVE_ITEM__ITEM_SIGNED_CHECKPOINT:
		if (c->entries_started)
			break;
		c->checkpoints++;
		return gb_verifier_add_checkpoint(c->v,
						  it->signed_checkpoint.data,
						  it->signed_checkpoint.len);
	case GOVBUS__V1__ARCHIVE_ITEM__ITEM_ENTRY: {
		const Govbus__V1__ArchiveEntry *a = it->entry;
		gb_verifier_entry e = {
			.offset = a->offset,
			.base_offset = a->base_offset,
			.broker_time_ns = a->broker_time_ns,
			.record_count = a->record_count,
			.chain_hash = a->chain_hash.data,
			.chain_hash_len = a->chain_hash.len,
			.batch = a->signed_batch.data,
			.batch_len = a->signed_batch.len,
		};
		int rc;

		c->entries_started = true;
		c->entries++;
		rc = gb_verifier_add_entry(c->v, &e);
		progress(c);
		return rc;
	}
	case GOVBUS__V1__ARCHIVE_ITEM__ITEM_END: {
		const Govbus__V1__ArchiveEnd *end = it->end;
		gb_verifier_head head = {
			.next_offset = end->head_next_offset,
			.batch_count = end->head_batch_count,
			.chain_hash = end->head_chain_hash.data,
			.chain_hash_len = end->head_chain_hash.len,
		};

		c->ended = true;
		gb_verifier_stats_get(c->v, &st);
		if (end->entries != c->entries ||
		    end->checkpoints != c->checkpoints ||
		    end->policies != c->policies)
			return gb_verifier_fail(
				c->v, GB_ECORRUPT, true, st.next_offset,
				"archive: its end counts %" PRIu64 " entries, %"
				PRIu64 " checkpoints, %" PRIu64 " policies, but "
				"holds %" PRIu64 ", %" PRIu64 ", %" PRIu64,
				end->entries, end->checkpoints, end->policies,
				c->entries, c->checkpoints, c->policies);
		return gb_verifier_finish(c->v, &head);
	}
	default:
		break;
	}
	return gb_verifier_fail(c->v, GB_EDECODE, false, 0,
				"archive: item %" PRIu64 " is out of order (a "
				"header, policy or checkpoint among the entries)",
				gb_archive_items(c->r));
}

static int cmd_verify(int argc, char **argv)
{
	const char *path = NULL, *key_text = NULL, *problem;
	struct verify_ctx c = {0};
	Govbus__V1__ArchiveItem *it = NULL;
	uint8_t pinned[GB_SIGN_PK_BYTES];
	gb_verifier_stats st;
	char why[512], key[GB_SIGN_PK_TEXT];
	uint64_t off = 0;
	bool has_off;
	double secs, cpu;
	int fd = STDIN_FILENO, rc, status = 1;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--broker-key")) {
			if (i + 1 >= argc)
				return usage_error("--broker-key needs a value");
			key_text = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return usage_error("verify: unknown option '%.40s'", argv[i]);
		} else if (path) {
			return usage_error("verify: only one FILE");
		} else {
			path = argv[i];
		}
	}
	if (!path)
		return usage_error("verify needs an archive FILE");
	if (key_text) {
		if (gb_key_decode_sign(key_text, pinned) != 0)
			return usage_error("--broker-key is not a base64 Ed25519 "
					   "key");
		c.pinned = pinned;
	}
	if (strcmp(path, "-") && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "govbus-audit: cannot open %.200s: %s\n", path,
			strerror(errno));
		return 1;
	}
	c.tty = isatty(STDERR_FILENO);
	c.started = c.next_progress = now_ns();
	c.started_cpu = cpu_ns();
	if (gb_archive_reader_new(fd, &c.r) != 0)
		goto out;
	rc = gb_archive_next(c.r, &it, why, sizeof why);
	if (rc <= 0) {
		fprintf(stderr, "govbus-audit: %s\n",
			rc == 0 ? "the archive is empty" : why);
		goto out;
	}
	rc = start_verify(&c, it);
	govbus__v1__archive_item__free_unpacked(it, NULL);
	if (rc != 0)
		goto out;
	while (gb_verifier_status(c.v) == 0) {
		rc = gb_archive_next(c.r, &it, why, sizeof why);
		if (rc <= 0) {
			gb_verifier_stats_get(c.v, &st);
			if (rc < 0)
				gb_verifier_fail(c.v, rc, true, st.next_offset,
						 "offset %" PRIu64 ": %s",
						 st.next_offset, why);
			else if (!c.ended)
				gb_verifier_fail(c.v, GB_ECORRUPT, true,
						 st.next_offset,
						 "offset %" PRIu64 ": the archive "
						 "ends here without its end item "
						 "(it was cut short)",
						 st.next_offset);
			break;
		}
		(void)verify_item(&c, it);
		govbus__v1__archive_item__free_unpacked(it, NULL);
	}
	if (c.tty)
		fputs("\r\033[K", stderr);
	gb_verifier_stats_get(c.v, &st);
	problem = gb_verifier_problem(c.v, &has_off, &off);
	if (gb_verifier_status(c.v) != 0) {
		fprintf(stderr, "govbus-audit: %s: verification FAILED: %s\n",
			c.stream, problem);
		goto out;
	}
	secs = (double)(now_ns() - c.started) / 1e9;
	cpu = (double)(cpu_ns() - c.started_cpu) / 1e9;
	gb_key_encode_sign(c.key, key);
	printf("%s: verified %" PRIu64 " batches, %" PRIu64 " records (offsets "
	       "0..%" PRIu64 "), %" PRIu64 " checkpoints (%" PRIu64 " matched "
	       "the chain), %" PRIu64 " policy snapshots; broker key %s (%s); "
	       "%.3f s (%.3f s of CPU), %.0f records/s (%.0f per CPU second)\n",
	       c.stream, st.batches, st.records,
	       st.next_offset ? st.next_offset - 1 : 0, st.checkpoints,
	       st.checkpoints_matched, st.policies, key,
	       c.pinned ? "pinned" : "from the archive, not pinned", secs, cpu,
	       secs > 0 ? (double)st.records / secs : 0.0,
	       cpu > 0 ? (double)st.records / cpu : 0.0);
	if (st.before_first_policy)
		printf("note: %" PRIu64 " batches predate every recorded policy "
		       "and were checked under the earliest\n",
		       st.before_first_policy);
	status = 0;
out:
	gb_verifier_destroy(&c.v);
	gb_archive_reader_destroy(&c.r);
	if (fd != STDIN_FILENO)
		close(fd);
	return status;
}

int main(int argc, char **argv)
{
#ifdef M_MMAP_THRESHOLD
	/* Entries are up to 12 MiB: keep them on the heap rather than a fresh
	 * mmap (and page faults) per batch. Only a speed-up, so unchecked. */
	(void)mallopt(M_MMAP_THRESHOLD, 64 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
	if (sodium_init() < 0) {
		fputs("govbus-audit: libsodium failed to start\n", stderr);
		return 1;
	}
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "export"))
		return cmd_export(argc - 2, argv + 2);
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(argc - 2, argv + 2);
	return usage_error("unknown command '%.40s'", argv[1]);
}
