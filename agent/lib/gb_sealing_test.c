/* Tests for end-to-end encryption in the agent library (DESIGN §5)
 * against the fake broker of gb_fake_broker.c.
 *
 * As the owner (health owns DATASET): the first publish opens epoch 1 with
 * a wrap per reader; a fresh client recovers the key from its own wrap and
 * keeps the epoch; a 412 mid-job (epoch retired) makes the publisher open
 * a new epoch and re-seal the unacknowledged batches with their seqs; a
 * pushed rotation is honoured before the next batch; readers added later
 * get wraps of every epoch; a race to open an epoch is lost gracefully.
 *
 * As a reader (tax owns DATASET, health reads): each consumer-side
 * rejection ends the subscription with its own error, after the records
 * before it — tampered ciphertext, wrong key commitment, record_count
 * mismatch, an unsigned wrap, a wrap signed by someone else, a wrap sealed
 * to another department, a refused KeyFetch — and a missing wrap is waited
 * for (reported once) until the owner provides it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "gb_fake_broker.h"
#include "gb_keywrap.h"
#include "gb_test.h"

static gb_identity *tax, *social, *audit;

/* ---------------------------------------------------------------- helpers */

/* Open the stored wrap of (epoch, dept) as `dept` with `who`'s keys, the
 * dataset's owner signing with `signer_pk`. */
static bool open_stored_wrap(uint32_t epoch, const char *dept,
			     const gb_identity *who, const uint8_t *signer_pk,
			     uint8_t key[GB_DATASET_KEY_BYTES])
{
	const struct fwrap *w = fake_wrap(epoch, dept);
	gb_keywrap_info info;
	char why[256];

	if (!w)
		return false;
	if (gb_keywrap_open(w->w, w->len, DATASET, epoch, dept, signer_pk,
			    gb_identity_box_pk(who), gb_identity_box_sk(who),
			    key, &info, why, sizeof why) != 0) {
		fprintf(stderr, "  wrap of %s epoch %u: %s\n", dept, epoch, why);
		return false;
	}
	return true;
}

static bool log_holds(const char *needle)
{
	bool found = false;
	pthread_mutex_lock(&fk.mu);
	for (size_t i = 0; i < fk.nlog; i++)
		found |= memmem(fk.log[i].sb, fk.log[i].len, needle,
				strlen(needle)) != NULL;
	pthread_mutex_unlock(&fk.mu);
	return found;
}

static gb_publisher *open_publisher(gb_client *c, uint32_t batch,
				    unsigned window)
{
	gb_publisher_options o;
	gb_publisher *p = NULL;

	gb_publisher_options_init(&o);
	o.max_records = batch;
	o.window = window;
	CHECK_RC(gb_publisher_open(c, DATASET, &o, &p), 0);
	return p;
}

static int add_range(gb_publisher *p, uint64_t from, uint64_t n)
{
	char buf[96];
	int rc = 0;

	for (uint64_t i = from; rc == 0 && i < from + n; i++) {
		payload_of(i, buf, sizeof buf);
		rc = gb_publisher_add(p, buf, strlen(buf), NULL);
	}
	return rc;
}

/* Read offsets 0..n-1 with a fresh client (an empty keyring). */
static void read_all_fresh(uint64_t n)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	gb_subscription *s;
	int rc;

	if (!c)
		return;
	s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
	CHECK_RC(rc, 0);
	CHECK(read_expect(s, 0, n, &rc) == n);
	CHECK_RC(rc, 0);
	gb_subscription_close(&s);
	gb_client_close(&c);
}

/* ---------------------------------------------------------------- owner */

static void test_first_publish(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	uint8_t kh[GB_DATASET_KEY_BYTES], ks[GB_DATASET_KEY_BYTES];
	uint8_t commitment[GB_COMMITMENT_BYTES];
	gb_subscription *s;
	int rc;

	if (!c)
		return;
	fake_add_reader("social", gb_identity_box_pk(social));
	CHECK_RC(publish_n(c, 0, 250, 100), 0);
	CHECK(fk.epoch == 1 && ev.key_opened == 1 && ev.last_epoch == 1);
	CHECK(fk.nlog == 3 && fk.log[0].epoch == 1 && fk.log[2].epoch == 1);
	CHECK(fk.clear_refusals == 0 && fk.epoch_refusals == 0);
	/* every reader got the same key, the one the epoch commits to */
	CHECK(open_stored_wrap(1, "health", health, gb_identity_sign_pk(health),
			       kh));
	CHECK(open_stored_wrap(1, "social", social, gb_identity_sign_pk(health),
			       ks));
	CHECK(sodium_memcmp(kh, ks, sizeof kh) == 0);
	gb_envelope_key_commitment(kh, commitment);
	CHECK(memcmp(commitment, fk.epochs[1].commitment, sizeof commitment) ==
	      0);
	/* the broker's log holds no plaintext */
	CHECK(!log_holds("record-000000"));
	CHECK(!log_holds("xxxxxxxxxxxxxxxx"));

	/* the same client reads back with the key it holds */
	s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
	CHECK_RC(rc, 0);
	CHECK(read_expect(s, 0, 250, &rc) == 250);
	gb_subscription_close(&s);
	gb_client_close(&c);
	read_all_fresh(250);
	sodium_memzero(kh, sizeof kh);
	sodium_memzero(ks, sizeof ks);
}

/* A fresh process recovers the key from its own wrap: same epoch. */
static void test_stateless(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	int uploads = fk.key_uploads;

	if (!c)
		return;
	CHECK_RC(publish_n(c, 250, 50, 100), 0);
	CHECK(fk.epoch == 1 && ev.key_opened == 0);
	CHECK(fk.key_uploads == uploads);
	CHECK(fk.log[fk.nlog - 1].epoch == 1);
	gb_client_close(&c);
}

/* The epoch is retired while batches are in flight: they come back 412,
 * and are sealed again under a new epoch with the same seqs. */
static void test_reseal_after_412(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	gb_publisher_stats st;
	gb_publisher *p;
	uint64_t retire;
	size_t first = fk.nlog;

	if (!c)
		return;
	p = open_publisher(c, 10, 8);
	retire = fk.last_seq + 3;
	fk.retire_seq = retire;
	CHECK_RC(add_range(p, 300, 100), 0);
	CHECK_RC(gb_publisher_flush(p), 0);
	if (gb_client_last_error(c)[0])
		fprintf(stderr, "  flush: %s\n", gb_client_last_error(c));
	gb_publisher_stats_get(p, &st);
	CHECK(st.records == 100 && st.batches == 10);
	CHECK(st.key_epoch == 2 && fk.epoch == 2);
	CHECK(st.resealed >= 1 && ev.resealed >= 1);
	CHECK(ev.key_opened == 1);
	CHECK(fk.epoch_refusals >= 1);
	pthread_mutex_lock(&fk.mu);
	CHECK(fk.nlog == first + 10);
	for (size_t i = first; i < fk.nlog; i++) {
		CHECK(fk.log[i].seq == fk.log[i - 1].seq + 1);
		CHECK(fk.log[i].epoch == (fk.log[i].seq < retire ? 1u : 2u));
	}
	pthread_mutex_unlock(&fk.mu);
	gb_publisher_close(&p);
	gb_client_close(&c);
	read_all_fresh(400);
}

/* A pushed rotation is acted on before the next batch: no 412 needed. */
static void test_pushed_rotation(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	gb_publisher_stats st;
	gb_publisher *p;
	int refusals = fk.epoch_refusals;

	if (!c)
		return;
	p = open_publisher(c, 10, 4);
	CHECK_RC(add_range(p, 400, 10), 0);
	CHECK_RC(gb_publisher_flush(p), 0);
	fake_retire(true);
	(void)gb_client_poll(c, 300);
	CHECK_RC(add_range(p, 410, 10), 0);
	CHECK_RC(gb_publisher_flush(p), 0);
	gb_publisher_stats_get(p, &st);
	CHECK(st.key_epoch == 3 && fk.epoch == 3 && ev.key_opened == 1);
	CHECK(fk.epoch_refusals == refusals && ev.resealed == 0);
	CHECK(fk.log[fk.nlog - 1].epoch == 3);
	gb_publisher_close(&p);
	gb_client_close(&c);
}

/* A reader added later gets a wrap of every epoch; an epoch whose own wrap
 * is gone is reported, and the rest still done. */
static void test_missing_wraps(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	uint8_t k[GB_DATASET_KEY_BYTES];
	char ds[GB_MAX_ID_LEN + 1] = "";
	uint32_t epoch = 0;

	if (!c)
		return;
	CHECK_RC(gb_client_next_key_work(c, ds, sizeof ds, 100), GB_ETIMEOUT);
	CHECK(gb_client_owned_count(c) == 1);
	CHECK_STR(gb_client_owned_dataset(c, 0), DATASET);
	CHECK(gb_client_owned_dataset(c, 1) == NULL);

	fake_add_reader("audit", gb_identity_box_pk(audit));
	pthread_mutex_lock(&fk.mu);
	fk.push_rotate = false;
	pthread_mutex_unlock(&fk.mu);
	atomic_store(&fk.push, 1);
	CHECK_RC(gb_client_next_key_work(c, ds, sizeof ds, 2000), 0);
	CHECK_STR(ds, DATASET);
	CHECK_RC(gb_client_sync_keys(c, ds, &epoch), 0);
	CHECK(epoch == 3 && ev.key_opened == 0);
	CHECK(ev.key_wrapped == 3 && ev.key_failed == 0);
	CHECK_STR(ev.last_recipients, "audit");
	for (uint32_t e = 1; e <= 3; e++)
		CHECK(open_stored_wrap(e, "audit", audit,
				       gb_identity_sign_pk(health), k));
	/* nothing left to do: a second sync uploads nothing */
	CHECK_RC(gb_client_sync_keys(c, ds, &epoch), 0);
	CHECK(ev.key_wrapped == 3);

	/* social2 is added, but the owner's own wrap of epoch 1 is gone:
	 * that epoch fails (an event), epochs 2 and 3 are wrapped */
	gb_client_close(&c);
	c = connect_client(NULL, &ev);
	if (!c)
		return;
	ev.key_wrapped = ev.key_failed = 0;
	fake_add_reader("social2", gb_identity_box_pk(social));
	pthread_mutex_lock(&fk.mu);
	for (size_t i = 0; i < fk.nwraps; i++)
		if (fk.wraps[i].epoch == 1 && !strcmp(fk.wraps[i].dept, "health"))
			snprintf(fk.wraps[i].dept, sizeof fk.wraps[i].dept, "lost");
	pthread_mutex_unlock(&fk.mu);
	CHECK_RC(gb_client_sync_keys(c, DATASET, &epoch), 0);
	CHECK(ev.key_failed == 1 && ev.key_wrapped == 2);
	CHECK(fake_wrap(1, "social2") == NULL && fake_wrap(3, "social2"));
	pthread_mutex_lock(&fk.mu);
	for (size_t i = 0; i < fk.nwraps; i++)
		if (!strcmp(fk.wraps[i].dept, "lost"))
			snprintf(fk.wraps[i].dept, sizeof fk.wraps[i].dept,
				 "health");
	pthread_mutex_unlock(&fk.mu);
	sodium_memzero(k, sizeof k);
	gb_client_close(&c);
}

/* Another agent of the owner opens the epoch first: ours is refused (412),
 * and the publisher adopts the other one's key through its own wrap. */
static void test_lost_race(void)
{
	struct events ev = {0};
	gb_client *c = connect_client(NULL, &ev);
	uint8_t rival[GB_DATASET_KEY_BYTES];
	gb_publisher_stats st;
	gb_publisher *p;
	uint8_t *w = NULL;
	size_t wlen = 0;

	if (!c)
		return;
	randombytes_buf(rival, sizeof rival);
	CHECK_RC(gb_keywrap_build(DATASET, 4, "health", "health",
				  gb_identity_box_pk(health), rival,
				  gb_identity_sign_sk(health), 1, &w, &wlen), 0);
	fake_retire(false);
	pthread_mutex_lock(&fk.mu);
	fk.rival_epoch = 4;
	gb_envelope_key_commitment(rival, fk.rival_commitment);
	fk.rival_wrap = w;
	fk.rival_wrap_len = wlen;
	pthread_mutex_unlock(&fk.mu);

	p = open_publisher(c, 10, 4);
	CHECK_RC(add_range(p, 420, 20), 0);
	CHECK_RC(gb_publisher_flush(p), 0);
	gb_publisher_stats_get(p, &st);
	CHECK(st.key_epoch == 4 && fk.epoch == 4);
	CHECK(ev.key_opened == 0);
	CHECK(memcmp(fk.epochs[4].commitment, fk.rival_commitment,
		     GB_COMMITMENT_BYTES) == 0);
	gb_publisher_close(&p);
	gb_client_close(&c);
	sodium_memzero(rival, sizeof rival);
	read_all_fresh(440);
}

/* ---------------------------------------------------------------- reader */

enum mutation { GOOD, TAMPER, WRONG_COMMITMENT, COUNT_MISMATCH };

static void resign(Govbus__V1__SignedBatch *sb)
{
	const uint8_t *parts[2] = {sb->header.data, sb->ciphertext.data};
	size_t lens[2] = {sb->header.len, sb->ciphertext.len};
	uint8_t digest[GB_PAE_DIGEST_BYTES];

	gb_pae_digest("govbus/v1/batch", parts, lens, 2, digest);
	crypto_sign_detached(sb->signature.data, NULL, digest, sizeof digest,
			     gb_identity_sign_sk(tax));
}

/* Append a batch of 3 records (offsets `first`..) sealed by tax under
 * `key` as epoch `epoch`, signed properly, after `m`. */
static void append_batch(uint64_t seq, uint64_t first, uint32_t epoch,
			 const uint8_t *key, enum mutation m)
{
	gb_batch_meta meta = {"tax", DATASET, seq, 1, epoch, 3, NULL};
	uint8_t *recs = NULL, *b = NULL, *out, *hdr = NULL, *orig_hdr = NULL;
	size_t rlen = 0, rcap = 0, blen = 0, olen;
	Govbus__V1__SignedBatch *sb;
	char buf[96];

	for (uint64_t i = first; i < first + 3; i++) {
		payload_of(i, buf, sizeof buf);
		gb_envelope_append_record(&recs, &rlen, &rcap,
					  (const uint8_t *)buf, strlen(buf), 1,
					  NULL);
	}
	if (m == COUNT_MISMATCH)
		meta.record_count = 4; /* signed, but the batch holds 3 */
	CHECK_RC(gb_envelope_build(&meta, recs, rlen, key,
				   gb_identity_sign_sk(tax), &b, &blen), 0);
	free(recs);
	sb = govbus__v1__signed_batch__unpack(NULL, blen, b);
	if (m == TAMPER) {
		sb->ciphertext.data[sb->ciphertext.len / 2] ^= 0x01;
	} else if (m == WRONG_COMMITMENT) {
		Govbus__V1__BatchHeader *h = govbus__v1__batch_header__unpack(
			NULL, sb->header.len, sb->header.data);
		uint8_t other[GB_DATASET_KEY_BYTES];
		randombytes_buf(other, sizeof other);
		gb_envelope_key_commitment(other, h->key_commitment.data);
		hdr = malloc(govbus__v1__batch_header__get_packed_size(h));
		orig_hdr = sb->header.data;
		sb->header.len = govbus__v1__batch_header__pack(h, hdr);
		sb->header.data = hdr;
		govbus__v1__batch_header__free_unpacked(h, NULL);
	}
	resign(sb);
	out = malloc(govbus__v1__signed_batch__get_packed_size(sb));
	olen = govbus__v1__signed_batch__pack(sb, out);
	fake_append(out, olen);
	if (hdr)
		sb->header.data = orig_hdr; /* hdr is ours to free */
	govbus__v1__signed_batch__free_unpacked(sb, NULL);
	free(hdr);
	free(out);
	free(b);
}

enum wrap_kind { WRAP_GOOD, WRAP_UNSIGNED, WRAP_FOREIGN, WRAP_NOT_OURS };

/* Store tax's wrap of `key` (epoch) for health, spoiled as asked. */
static void put_wrap(uint32_t epoch, const uint8_t *key, enum wrap_kind k)
{
	const gb_identity *signer = k == WRAP_FOREIGN ? audit : tax;
	const gb_identity *to = k == WRAP_NOT_OURS ? social : health;
	uint8_t *w = NULL, commitment[GB_COMMITMENT_BYTES];
	size_t len = 0;

	CHECK_RC(gb_keywrap_build(DATASET, epoch, "tax", "health",
				  gb_identity_box_pk(to), key,
				  gb_identity_sign_sk(signer), 1, &w, &len), 0);
	if (k == WRAP_UNSIGNED) {
		Govbus__V1__SignedWrap *sw =
			govbus__v1__signed_wrap__unpack(NULL, len, w);
		sw->signature.len = 0;
		len = govbus__v1__signed_wrap__pack(sw, w);
		govbus__v1__signed_wrap__free_unpacked(sw, NULL);
	}
	gb_envelope_key_commitment(key, commitment);
	fake_open_epoch(epoch, commitment);
	fake_put_wrap(epoch, "health", w, len);
	free(w);
}

static uint8_t k1[GB_DATASET_KEY_BYTES], k2[GB_DATASET_KEY_BYTES];

/* Tax published 3 good records under epoch 1, then one batch that `m`
 * spoils (epoch 2 with a `wk` wrap when `epoch2`). Health reads the 3
 * records, then the subscription ends with `want` naming `what`. */
static void expect_rejection(const char *name, enum mutation m, bool epoch2,
			     enum wrap_kind wk, unsigned fetch_status, int want,
			     const char *what)
{
	struct events ev = {0};
	gb_subscription *s;
	gb_client *c;
	int rc;

	fake_reset();
	put_wrap(1, k1, WRAP_GOOD);
	append_batch(1, 0, 1, k1, GOOD);
	if (epoch2 && fetch_status == 0)
		put_wrap(2, k2, wk);
	append_batch(2, 3, epoch2 ? 2 : 1, epoch2 ? k2 : k1, m);
	c = connect_client(NULL, &ev);
	if (!c)
		return;
	s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
	CHECK_RC(rc, 0);
	CHECK(read_expect(s, 0, 3, &rc) == 3);
	/* epoch 1's key is held; the fetch of epoch 2's is what fails */
	pthread_mutex_lock(&fk.mu);
	fk.fetch_status = fetch_status;
	pthread_mutex_unlock(&fk.mu);
	CHECK_RC(gb_subscription_next(s, &(gb_record){0}, 3000), want);
	if (!strstr(gb_client_last_error(c), what))
		fprintf(stderr, "  %s: \"%s\"\n", name, gb_client_last_error(c));
	CHECK_CONTAINS(gb_client_last_error(c), what);
	/* it stays ended */
	CHECK_RC(gb_subscription_next(s, &(gb_record){0}, 0), want);
	pthread_mutex_lock(&fk.mu);
	fk.fetch_status = 0;
	pthread_mutex_unlock(&fk.mu);
	gb_subscription_close(&s);
	gb_client_close(&c);
}

static void test_rejections(void)
{
	expect_rejection("tampered ciphertext", TAMPER, false, WRAP_GOOD, 0,
			 GB_ECRYPTO, "ciphertext fails authentication");
	expect_rejection("wrong commitment", WRONG_COMMITMENT, false, WRAP_GOOD,
			 0, GB_ECRYPTO, "carries a key commitment that differs");
	expect_rejection("record count", COUNT_MISMATCH, false, WRAP_GOOD, 0,
			 GB_ECRYPTO, "record_count mismatch: header says 4");
	expect_rejection("unsigned wrap", GOOD, true, WRAP_UNSIGNED, 0, GB_ESIG,
			 "unsigned or malformed signature");
	expect_rejection("foreign wrap", GOOD, true, WRAP_FOREIGN, 0, GB_ESIG,
			 "is not signed by its owner tax");
	expect_rejection("wrap for another", GOOD, true, WRAP_NOT_OURS, 0,
			 GB_ECRYPTO, "does not open with health's key");
	expect_rejection("fetch refused", GOOD, true, WRAP_GOOD, 403, GB_EPERM,
			 "cannot get key epoch 2 of health.x");
}

/* No wrap of epoch 2 for health yet: the subscription waits, says so once,
 * asks again about every second, and goes on once the wrap is there. */
static void test_waiting_for_key(void)
{
	struct events ev = {0};
	gb_subscription *s;
	gb_client *c;
	int rc, fetches;

	fake_reset();
	put_wrap(1, k1, WRAP_GOOD);
	append_batch(1, 0, 1, k1, GOOD);
	append_batch(2, 3, 2, k2, GOOD);
	append_batch(3, 6, 2, k2, GOOD);
	c = connect_client(NULL, &ev);
	if (!c)
		return;
	s = subscribe(c, GB_START_EARLIEST, 0, NULL, &rc);
	CHECK(read_expect(s, 0, 3, &rc) == 3);
	CHECK_RC(gb_subscription_next(s, &(gb_record){0}, 0), GB_ETIMEOUT);
	CHECK_RC(gb_subscription_next(s, &(gb_record){0}, 1200), GB_ETIMEOUT);
	CHECK(ev.key_waiting == 1 && ev.last_epoch == 2);
	fetches = fk.key_fetches;
	CHECK_RC(gb_subscription_next(s, &(gb_record){0}, 1500), GB_ETIMEOUT);
	CHECK(ev.key_waiting == 1);        /* reported once per epoch */
	CHECK(fk.key_fetches > fetches);   /* but asked again */
	put_wrap(2, k2, WRAP_GOOD);
	CHECK(read_expect(s, 3, 6, &rc) == 6);
	CHECK_RC(rc, 0);
	CHECK(ev.key_waiting == 1);
	gb_subscription_close(&s);
	gb_client_close(&c);
}

int main(void)
{
	char why[512];

	snprintf(dir, sizeof dir, "/tmp/gb_sealing_test.XXXXXX");
	if (!mkdtemp(dir) || sodium_init() < 0)
		return 1;
	health = gb_identity_generate();
	tax = gb_identity_generate();
	social = gb_identity_generate();
	audit = gb_identity_generate();
	if (gb_identity_save(health, dir, "health", why, sizeof why) != 0) {
		fprintf(stderr, "save: %s\n", why);
		return 1;
	}
	fake_start(dir, health);
	pthread_mutex_lock(&fk.mu);
	fk.last_seq = 0;
	pthread_mutex_unlock(&fk.mu);

	test_first_publish();
	test_stateless();
	test_reseal_after_412();
	test_pushed_rotation();
	test_missing_wraps();
	test_lost_race();

	fake_set_owner("tax", gb_identity_sign_pk(tax));
	randombytes_buf(k1, sizeof k1);
	randombytes_buf(k2, sizeof k2);
	test_rejections();
	test_waiting_for_key();
	sodium_memzero(k1, sizeof k1);
	sodium_memzero(k2, sizeof k2);

	fake_stop();
	gb_identity_destroy(&health);
	gb_identity_destroy(&tax);
	gb_identity_destroy(&social);
	gb_identity_destroy(&audit);
	remove_tree(dir);
	gb_test_failures += fake_failures();
	TEST_EXIT();
}
