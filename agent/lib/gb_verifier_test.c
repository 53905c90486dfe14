/* Tests for gb_verifier and gb_archive: a log built in memory the
 * way the broker builds it (sealed, signed batches; the hash chain; signed
 * checkpoints; policy snapshots), verified clean, then altered one way at a
 * time — each alteration must be caught at the right offset. */
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gb_archive.h"
#include "gb_chain.h"
#include "gb_checkpoint.h"
#include "gb_envelope.h"
#include "gb_keys.h"
#include "gb_test.h"
#include "gb_verifier.h"

#define BATCHES 8
#define PER_BATCH 5

struct batch {
	uint64_t base, time;
	uint32_t count;
	uint8_t *bytes;
	size_t len;
	uint8_t hash[GB_HASH_BYTES];
};

struct fixture {
	gb_identity *broker, *tax, *tax2, *audit;
	uint8_t *config[2];            /* tax signs with tax, then tax2 */
	size_t config_len[2];
	uint8_t hash[2][GB_HASH_BYTES];
	uint64_t loaded[2];
	struct batch b[BATCHES];
	uint8_t *cps[3];
	size_t cp_len[3];
	uint64_t cp_at[3];
};

static void config_text(struct fixture *f, const gb_identity *tax_id, int i)
{
	char tax_sign[GB_SIGN_PK_TEXT], tax_box[GB_BOX_PK_TEXT];
	char aud_sign[GB_SIGN_PK_TEXT], aud_box[GB_BOX_PK_TEXT];
	char buf[2048];
	int n;

	gb_key_encode_sign(gb_identity_sign_pk(tax_id), tax_sign);
	gb_key_encode_box(gb_identity_box_pk(tax_id), tax_box);
	gb_key_encode_sign(gb_identity_sign_pk(f->audit), aud_sign);
	gb_key_encode_box(gb_identity_box_pk(f->audit), aud_box);
	n = snprintf(buf, sizeof buf,
		     "broker: { listen: \"tcp://127.0.0.1:7780\", data_dir: "
		     "./data, key: keys/broker.key }\n"
		     "departments:\n"
		     "  - { id: tax, name: Tax, sign_key: \"%s\", box_key: \"%s\" }\n"
		     "  - { id: audit, name: Audit, role: auditor, sign_key: "
		     "\"%s\", box_key: \"%s\" }\n"
		     "datasets:\n"
		     "  - { id: tax.invoices, owner: tax, title: VAT, sharing: "
		     "conditional, classification: internal }\n"
		     "  - { id: audit.cases, owner: audit, title: Cases, "
		     "sharing: closed, classification: internal }\n",
		     tax_sign, tax_box, aud_sign, aud_box);
	f->config[i] = malloc((size_t)n);
	memcpy(f->config[i], buf, (size_t)n);
	f->config_len[i] = (size_t)n;
	crypto_generichash(f->hash[i], GB_HASH_BYTES, f->config[i], (size_t)n,
			   NULL, 0);
}

/* A sealed batch of `count` records, seq `seq`, signed by `signer`. */
static void make_batch(struct batch *b, const char *producer,
		       const char *dataset, uint64_t seq, uint32_t count,
		       const gb_identity *signer)
{
	uint8_t key[GB_DATASET_KEY_BYTES], *records = NULL;
	size_t len = 0, cap = 0;
	gb_batch_meta meta = {producer, dataset, seq, 1, 1, count, NULL};

	randombytes_buf(key, sizeof key);
	for (uint32_t i = 0; i < count; i++)
		CHECK_RC(gb_envelope_append_record(&records, &len, &cap,
						   (const uint8_t *)"payload", 7,
						   i, NULL),
			 0);
	CHECK_RC(gb_envelope_build(&meta, records, len, key,
				   gb_identity_sign_sk(signer), &b->bytes,
				   &b->len),
		 0);
	free(records);
}

static void checkpoint(struct fixture *f, int i, uint64_t next,
		       uint64_t batches, const uint8_t *hash)
{
	gb_checkpoint cp = {.next_offset = next, .batch_count = batches,
			    .broker_time_ns = 5000};

	snprintf(cp.dataset, sizeof cp.dataset, "tax.invoices");
	memcpy(cp.chain_hash, hash, GB_HASH_BYTES);
	CHECK_RC(gb_checkpoint_sign(&cp, gb_identity_sign_sk(f->broker),
				    &f->cps[i], &f->cp_len[i]),
		 0);
	f->cp_at[i] = next;
}

/* Batches 0..3 by tax under policy 0 (times 100..), 4..7 by tax2 under
 * policy 1 (loaded at 1000); checkpoints at 0, after batch 3, at the end. */
static void fixture_init(struct fixture *f)
{
	uint8_t prev[GB_HASH_BYTES] = {0};

	memset(f, 0, sizeof *f);
	f->broker = gb_identity_generate();
	f->tax = gb_identity_generate();
	f->tax2 = gb_identity_generate();
	f->audit = gb_identity_generate();
	config_text(f, f->tax, 0);
	config_text(f, f->tax2, 1);
	f->loaded[0] = 50;
	f->loaded[1] = 1000;
	for (int i = 0; i < BATCHES; i++) {
		struct batch *b = &f->b[i];

		b->base = (uint64_t)i * PER_BATCH;
		b->count = PER_BATCH;
		b->time = i < 4 ? 100 + (uint64_t)i : 2000 + (uint64_t)i;
		make_batch(b, "tax", "tax.invoices", (uint64_t)i + 1, PER_BATCH,
			   i < 4 ? f->tax : f->tax2);
		gb_chain_next(prev, b->base, b->time, b->bytes, b->len, b->hash);
		memcpy(prev, b->hash, GB_HASH_BYTES);
	}
	checkpoint(f, 0, 0, 0, (const uint8_t[GB_HASH_BYTES]){0});
	checkpoint(f, 1, 4 * PER_BATCH, 4, f->b[3].hash);
	checkpoint(f, 2, BATCHES * PER_BATCH, BATCHES, f->b[BATCHES - 1].hash);
}

static void fixture_free(struct fixture *f)
{
	for (int i = 0; i < BATCHES; i++)
		free(f->b[i].bytes);
	for (int i = 0; i < 3; i++)
		free(f->cps[i]);
	for (int i = 0; i < 2; i++)
		free(f->config[i]);
	gb_identity_destroy(&f->broker);
	gb_identity_destroy(&f->tax);
	gb_identity_destroy(&f->tax2);
	gb_identity_destroy(&f->audit);
}

static gb_verifier_entry entry_of(const struct batch *b)
{
	gb_verifier_entry e = {b->base, b->base, b->time, b->count, b->hash,
			       GB_HASH_BYTES, b->bytes, b->len};
	return e;
}

/* Feed policies, checkpoints, entries (through `edit`, which may change
 * or drop entry i) and finish. Returns the status. */
typedef bool (*edit_fn)(struct fixture *f, int i, gb_verifier_entry *e);

static int run(struct fixture *f, const uint8_t *broker_pk, edit_fn edit,
	       gb_verifier **out)
{
	gb_verifier *v = NULL;
	gb_verifier_head head = {BATCHES * PER_BATCH, BATCHES,
				 f->b[BATCHES - 1].hash, GB_HASH_BYTES};

	CHECK_RC(gb_verifier_new("tax.invoices", broker_pk, &v), 0);
	for (int i = 0; i < 2; i++)
		gb_verifier_add_policy(v, f->hash[i], GB_HASH_BYTES, &f->loaded[i],
				       1, f->config[i], f->config_len[i]);
	for (int i = 0; i < 3; i++)
		gb_verifier_add_checkpoint(v, f->cps[i], f->cp_len[i]);
	for (int i = 0; i < BATCHES; i++) {
		gb_verifier_entry e = entry_of(&f->b[i]);

		if (edit && !edit(f, i, &e))
			continue;
		gb_verifier_add_entry(v, &e);
	}
	gb_verifier_finish(v, &head);
	*out = v;
	return gb_verifier_status(v);
}

static void expect_problem(gb_verifier *v, int rc, uint64_t offset,
			   const char *words)
{
	bool has = false;
	uint64_t off = 0;
	const char *p = gb_verifier_problem(v, &has, &off);

	CHECK_RC(gb_verifier_status(v), rc);
	CHECK(has);
	if (off != offset)
		fprintf(stderr, "problem at %" PRIu64 ", wanted %" PRIu64 ": %s\n",
			off, offset, p);
	CHECK(off == offset);
	CHECK_CONTAINS(p, words);
}

static uint8_t scratch[1 << 20];

static bool flip_byte(struct fixture *f, int i, gb_verifier_entry *e)
{
	if (i != 5)
		return true;
	memcpy(scratch, e->batch, e->batch_len);
	scratch[e->batch_len / 2] ^= 1;
	e->batch = scratch;
	return true;
}

static bool drop_entry(struct fixture *f, int i, gb_verifier_entry *e)
{
	return i != 2;
}

static bool swap_entries(struct fixture *f, int i, gb_verifier_entry *e)
{
	if (i == 2)
		*e = entry_of(&f->b[3]), e->offset = f->b[2].base;
	else if (i == 3)
		*e = entry_of(&f->b[2]), e->offset = f->b[3].base;
	return true;
}

/* Re-store batch 2 with batch 3's bytes and a recomputed chain onward:
 * only the checkpoints tell. */
static bool replace_and_rechain(struct fixture *f, int i, gb_verifier_entry *e)
{
	static uint8_t prev[GB_HASH_BYTES], hashes[BATCHES][GB_HASH_BYTES];

	if (i == 0)
		memset(prev, 0, sizeof prev);
	if (i == 2) {
		e->batch = f->b[6].bytes; /* seq 7 by tax2 */
		e->batch_len = f->b[6].len;
	}
	gb_chain_next(prev, e->offset, e->broker_time_ns, e->batch,
		      e->batch_len, hashes[i]);
	memcpy(prev, hashes[i], GB_HASH_BYTES);
	e->chain_hash = hashes[i];
	return true;
}

static bool stop_early(struct fixture *f, int i, gb_verifier_entry *e)
{
	return i < 6;
}

static bool stored_hash_altered(struct fixture *f, int i, gb_verifier_entry *e)
{
	static uint8_t h[GB_HASH_BYTES];

	if (i == 4) {
		memcpy(h, e->chain_hash, GB_HASH_BYTES);
		h[0] ^= 1;
		e->chain_hash = h;
	}
	return true;
}

static bool time_backwards(struct fixture *f, int i, gb_verifier_entry *e)
{
	if (i == 3)
		e->broker_time_ns = 1;
	return true;
}

static void test_clean_and_tampered(void)
{
	struct fixture f;
	gb_verifier *v = NULL;
	gb_verifier_stats st;
	gb_identity *other;

	fixture_init(&f);
	CHECK_RC(run(&f, gb_identity_sign_pk(f.broker), NULL, &v), 0);
	gb_verifier_stats_get(v, &st);
	CHECK(st.batches == BATCHES);
	CHECK(st.records == BATCHES * PER_BATCH);
	CHECK(st.checkpoints == 3 && st.checkpoints_matched == 3);
	CHECK(st.policies == 2);
	CHECK(st.before_first_policy == 0);
	CHECK_STR(gb_verifier_problem(v, NULL, NULL), "");
	gb_verifier_destroy(&v);

	run(&f, gb_identity_sign_pk(f.broker), flip_byte, &v);
	expect_problem(v, GB_ESIG, 25, "signature does not verify under tax's");
	gb_verifier_destroy(&v);

	run(&f, gb_identity_sign_pk(f.broker), drop_entry, &v);
	expect_problem(v, GB_ECORRUPT, 10, "missing");
	gb_verifier_destroy(&v);

	run(&f, gb_identity_sign_pk(f.broker), swap_entries, &v);
	expect_problem(v, GB_ECORRUPT, 10, "holds the batch stored for offset 15");
	gb_verifier_destroy(&v);

	/* Batch 7 (tax2's key) at offset 10 under policy 0: tax's key. */
	run(&f, gb_identity_sign_pk(f.broker), replace_and_rechain, &v);
	expect_problem(v, GB_ESIG, 10, "signature does not verify");
	gb_verifier_destroy(&v);

	run(&f, gb_identity_sign_pk(f.broker), stop_early, &v);
	expect_problem(v, GB_ECORRUPT, 30, "entries from 30 on were removed");
	gb_verifier_destroy(&v);

	run(&f, gb_identity_sign_pk(f.broker), stored_hash_altered, &v);
	expect_problem(v, GB_ECORRUPT, 20, "stored chain hash");
	gb_verifier_destroy(&v);

	run(&f, gb_identity_sign_pk(f.broker), time_backwards, &v);
	expect_problem(v, GB_ECORRUPT, 15, "broker time");
	gb_verifier_destroy(&v);

	/* Checkpoints under another key: the first one named. */
	other = gb_identity_generate();
	run(&f, gb_identity_sign_pk(other), NULL, &v);
	expect_problem(v, GB_ESIG, 0, "does not verify under the broker key");
	gb_verifier_destroy(&v);
	gb_identity_destroy(&other);
	fixture_free(&f);
}

/* A forger who rewrites an entry and the whole chain after it is caught by
 * the next checkpoint. */
static void test_rechained_forgery(void)
{
	struct fixture f;
	gb_verifier *v = NULL;
	uint8_t prev[GB_HASH_BYTES] = {0}, hashes[BATCHES][GB_HASH_BYTES];
	struct batch forged;

	fixture_init(&f);
	/* Same producer, seq and key as batch 1, other records. */
	make_batch(&forged, "tax", "tax.invoices", 2, PER_BATCH, f.tax);
	CHECK_RC(gb_verifier_new("tax.invoices", gb_identity_sign_pk(f.broker),
				 &v), 0);
	for (int i = 0; i < 2; i++)
		gb_verifier_add_policy(v, f.hash[i], GB_HASH_BYTES, &f.loaded[i],
				       1, f.config[i], f.config_len[i]);
	for (int i = 0; i < 3; i++)
		gb_verifier_add_checkpoint(v, f.cps[i], f.cp_len[i]);
	for (int i = 0; i < BATCHES; i++) {
		gb_verifier_entry e = entry_of(&f.b[i]);

		if (i == 1) {
			e.batch = forged.bytes;
			e.batch_len = forged.len;
		}
		gb_chain_next(prev, e.offset, e.broker_time_ns, e.batch,
			      e.batch_len, hashes[i]);
		memcpy(prev, hashes[i], GB_HASH_BYTES);
		e.chain_hash = hashes[i];
		gb_verifier_add_entry(v, &e);
	}
	expect_problem(v, GB_ECORRUPT, 20, "does not match the checkpoint");
	gb_verifier_destroy(&v);
	free(forged.bytes);
	fixture_free(&f);
}

static void test_policies(void)
{
	struct fixture f;
	gb_verifier *v = NULL;
	gb_verifier_entry e;
	struct batch b;
	uint8_t bad[GB_HASH_BYTES];

	fixture_init(&f);
	/* Altered snapshot bytes. */
	CHECK_RC(gb_verifier_new("tax.invoices", gb_identity_sign_pk(f.broker),
				 &v), 0);
	memcpy(bad, f.hash[0], sizeof bad);
	bad[3] ^= 1;
	CHECK_RC(gb_verifier_add_policy(v, bad, GB_HASH_BYTES, &f.loaded[0], 1,
					f.config[0], f.config_len[0]),
		 GB_ECORRUPT);
	CHECK_CONTAINS(gb_verifier_problem(v, NULL, NULL), "altered");
	gb_verifier_destroy(&v);

	/* A batch published by a department that does not own the dataset. */
	CHECK_RC(gb_verifier_new("tax.invoices", gb_identity_sign_pk(f.broker),
				 &v), 0);
	CHECK_RC(gb_verifier_add_policy(v, f.hash[0], GB_HASH_BYTES, &f.loaded[0],
					1, f.config[0], f.config_len[0]), 0);
	make_batch(&b, "audit", "tax.invoices", 1, 2, f.audit);
	b.base = 0;
	b.time = 100;
	b.count = 2;
	memset(b.hash, 0, sizeof b.hash);
	gb_chain_next(b.hash, 0, 100, b.bytes, b.len, b.hash);
	e = entry_of(&b);
	CHECK_RC(gb_verifier_add_entry(v, &e), GB_EPERM);
	CHECK_CONTAINS(gb_verifier_problem(v, NULL, NULL), "does not own");
	gb_verifier_destroy(&v);
	free(b.bytes);

	/* Without snapshots: fixed keys; an unknown producer is named. */
	CHECK_RC(gb_verifier_new("tax.invoices", gb_identity_sign_pk(f.broker),
				 &v), 0);
	CHECK_RC(gb_verifier_add_key(v, "audit", gb_identity_sign_pk(f.audit)), 0);
	e = entry_of(&f.b[0]);
	CHECK_RC(gb_verifier_add_entry(v, &e), GB_EAUTH);
	CHECK_CONTAINS(gb_verifier_problem(v, NULL, NULL), "no signing key");
	gb_verifier_destroy(&v);
	fixture_free(&f);
}

static void test_trail(void)
{
	Govbus__V1__AuditEvent ev = GOVBUS__V1__AUDIT_EVENT__INIT;
	uint8_t buf[256], prev[GB_HASH_BYTES] = {0}, h[GB_HASH_BYTES];
	gb_verifier *v = NULL;
	gb_verifier_entry e;
	uint8_t pk[GB_SIGN_PK_BYTES] = {0};
	size_t len;

	ev.kind = GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_DENIED;
	ev.dept = (char *)"social";
	len = govbus__v1__audit_event__pack(&ev, buf);
	gb_chain_next(prev, 0, 10, buf, len, h);
	CHECK_RC(gb_verifier_new("_audit", pk, &v), 0);
	e = (gb_verifier_entry){0, 0, 10, 1, h, GB_HASH_BYTES, buf, len};
	CHECK_RC(gb_verifier_add_entry(v, &e), 0);
	/* Not an event. */
	memset(buf, 0xff, 16);
	gb_chain_next(h, 1, 11, buf, 16, prev);
	e = (gb_verifier_entry){1, 1, 11, 1, prev, GB_HASH_BYTES, buf, 16};
	CHECK_RC(gb_verifier_add_entry(v, &e), GB_EDECODE);
	gb_verifier_destroy(&v);
}

/* An archive written and read back gives the same verdict. */
static void test_archive_roundtrip(void)
{
	struct fixture f;
	char path[] = "/tmp/gb_verifier_test.XXXXXX";
	int fd = mkstemp(path);
	FILE *out = fdopen(fd, "wb");
	gb_archive_writer *w = NULL;
	gb_archive_reader *r = NULL;
	Govbus__V1__ArchiveItem *it = NULL;
	gb_verifier_head head;
	char why[256];
	int counts[6] = {0}, rc;

	fixture_init(&f);
	CHECK(out != NULL);
	CHECK_RC(gb_archive_writer_new(out, &w), 0);
	CHECK_RC(gb_archive_put_header(w, "tax.invoices",
				       gb_identity_sign_pk(f.broker), 1, "test"),
		 0);
	for (int i = 0; i < 2; i++)
		CHECK_RC(gb_archive_put_policy(w, f.hash[i], &f.loaded[i], 1,
					       f.config[i], f.config_len[i]),
			 0);
	for (int i = 0; i < 3; i++)
		CHECK_RC(gb_archive_put_checkpoint(w, f.cps[i], f.cp_len[i]), 0);
	for (int i = 0; i < BATCHES; i++) {
		gb_verifier_entry e = entry_of(&f.b[i]);

		CHECK_RC(gb_archive_put_entry(w, &e), 0);
	}
	head = (gb_verifier_head){BATCHES * PER_BATCH, BATCHES,
				  f.b[BATCHES - 1].hash, GB_HASH_BYTES};
	CHECK_RC(gb_archive_put_end(w, &head), 0);
	gb_archive_writer_destroy(&w);
	CHECK(fclose(out) == 0);

	fd = open(path, O_RDONLY);
	CHECK_RC(gb_archive_reader_new(fd, &r), 0);
	while ((rc = gb_archive_next(r, &it, why, sizeof why)) == 1) {
		counts[it->item_case]++;
		if (it->item_case == GOVBUS__V1__ARCHIVE_ITEM__ITEM_END) {
			CHECK(it->end->entries == BATCHES);
			CHECK(it->end->checkpoints == 3);
			CHECK(it->end->policies == 2);
		}
		govbus__v1__archive_item__free_unpacked(it, NULL);
	}
	CHECK_RC(rc, 0);
	CHECK(counts[GOVBUS__V1__ARCHIVE_ITEM__ITEM_HEADER] == 1);
	CHECK(counts[GOVBUS__V1__ARCHIVE_ITEM__ITEM_POLICY] == 2);
	CHECK(counts[GOVBUS__V1__ARCHIVE_ITEM__ITEM_SIGNED_CHECKPOINT] == 3);
	CHECK(counts[GOVBUS__V1__ARCHIVE_ITEM__ITEM_ENTRY] == BATCHES);
	CHECK(counts[GOVBUS__V1__ARCHIVE_ITEM__ITEM_END] == 1);
	gb_archive_reader_destroy(&r);
	close(fd);

	/* Garbage is refused with a sentence, not a crash. */
	out = fopen(path, "wb");
	fputs("\x05hello", out);
	fclose(out);
	fd = open(path, O_RDONLY);
	CHECK_RC(gb_archive_reader_new(fd, &r), 0);
	CHECK_RC(gb_archive_next(r, &it, why, sizeof why), GB_EDECODE);
	CHECK_CONTAINS(why, "archive");
	gb_archive_reader_destroy(&r);
	close(fd);
	unlink(path);
	fixture_free(&f);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	test_clean_and_tampered();
	test_rechained_forgery();
	test_policies();
	test_trail();
	test_archive_roundtrip();
	TEST_EXIT();
}
