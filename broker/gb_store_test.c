/* Tests of the LMDB log store (gb_store.c): group commit, idempotent
 * retries, dense offsets, replay by time, persistence, corruption found by
 * verify and by reads, durable cursors, a full map that grows, and a
 * writer running beside a reader (also while the map grows). Every test works in its own mkdtemp folder under /tmp,
 * removed at the end. The corruption tests open the data file with LMDB
 * directly, between a close and a reopen of the store. Also: the dense
 * producer seq rule and dataset key epochs, wraps and retirement. */
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gb_chain.h"
#include "gb_error.h"
#include "gb_store.h"
#include "gb_test.h"

#define MAX_MODEL_BATCHES 512

/* ------------------------------------------------------------ helpers */

static char tmp_root[64];

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void make_dir(char *out, size_t out_len, const char *name)
{
	snprintf(out, out_len, "%s/%s", tmp_root, name);
}

/* Deterministic batch bytes, different for every (tag, seq, index). */
static void fill_batch(uint8_t *buf, size_t len, char tag, uint64_t seq)
{
	uint32_t x = (uint32_t)tag * 2654435761u ^ (uint32_t)seq * 40503u;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
}

static gb_write append_item(const char *dataset, const char *producer,
			    uint64_t seq, uint32_t count, const uint8_t *data,
			    size_t len, uint64_t now_ns)
{
	gb_write w;

	memset(&w, 0, sizeof w);
	w.kind = GB_WRITE_APPEND;
	w.dataset = dataset;
	w.producer = producer;
	w.producer_seq = seq;
	w.record_count = count;
	w.signed_batch = data;
	w.signed_batch_len = len;
	w.now_ns = now_ns;
	w.result = 12345; /* must be overwritten */
	return w;
}

static gb_write cursor_item(const char *dept, const char *dataset,
			    const char *name, uint64_t next)
{
	gb_write w;

	memset(&w, 0, sizeof w);
	w.kind = GB_WRITE_CURSOR;
	w.dept = dept;
	w.dataset = dataset;
	w.cursor_name = name;
	w.cursor_next = next;
	w.result = 12345;
	return w;
}

/* What a stream should hold, built independently of the store. */
struct model_batch {
	uint64_t seq;
	uint64_t base;
	uint32_t count;
	size_t len;
	uint64_t time;
	uint8_t hash[GB_HASH_BYTES];
};

struct model {
	const char *dataset;
	char tag;                       /* batch bytes of this stream */
	struct model_batch b[MAX_MODEL_BATCHES];
	size_t n;
	uint64_t next;
	uint64_t last_time;
	uint8_t head[GB_HASH_BYTES];
};

static void model_init(struct model *m, const char *dataset, char tag)
{
	memset(m, 0, sizeof *m);
	m->dataset = dataset;
	m->tag = tag;
}

/* Check a freshly stored (not duplicate) item against the model and add it. */
static void model_accept(struct model *m, const gb_write *w)
{
	struct model_batch *b;
	uint8_t want[GB_HASH_BYTES];
	uint64_t time = w->now_ns > m->last_time ? w->now_ns : m->last_time + 1;

	CHECK(w->result == 0);
	CHECK(!w->duplicate);
	CHECK(w->base_offset == m->next);
	CHECK(w->broker_time_ns == time);
	gb_chain_next(m->head, m->next, time, w->signed_batch,
		      w->signed_batch_len, want);
	CHECK(memcmp(want, w->chain_hash, GB_HASH_BYTES) == 0);
	if (m->n == MAX_MODEL_BATCHES)
		return;
	b = &m->b[m->n++];
	b->seq = w->producer_seq;
	b->base = m->next;
	b->count = w->record_count;
	b->len = w->signed_batch_len;
	b->time = time;
	memcpy(b->hash, want, GB_HASH_BYTES);
	m->next += w->record_count;
	m->last_time = time;
	memcpy(m->head, want, GB_HASH_BYTES);
}

/* Callback state: checks each visited batch against the model in order. */
struct read_check {
	const struct model *m;
	size_t next_index;              /* model batch expected next */
	size_t visited;
	int stop_after;                 /* return 1 after this many, 0: never */
	int fail_with;                  /* return this on the first batch */
	int mismatches;
};

static int check_batch(void *ctx, const gb_stored_batch *sb)
{
	struct read_check *rc = ctx;
	const struct model_batch *b;
	uint8_t *want;

	if (rc->fail_with)
		return rc->fail_with;
	rc->visited++;
	if (rc->next_index >= rc->m->n) {
		rc->mismatches++;
		return 0;
	}
	b = &rc->m->b[rc->next_index++];
	want = malloc(b->len);
	if (!want)
		return GB_ENOMEM;
	fill_batch(want, b->len, rc->m->tag, b->seq);
	if (sb->base_offset != b->base || sb->record_count != b->count ||
	    sb->broker_time_ns != b->time || sb->signed_batch_len != b->len ||
	    memcmp(sb->signed_batch, want, b->len) != 0 ||
	    memcmp(sb->chain_hash, b->hash, GB_HASH_BYTES) != 0)
		rc->mismatches++;
	free(want);
	if (rc->stop_after && rc->visited == (size_t)rc->stop_after)
		return 1;
	return 0;
}

/* Index of the model batch that holds `offset`. */
static size_t model_index(const struct model *m, uint64_t offset)
{
	for (size_t i = 0; i < m->n; i++)
		if (offset >= m->b[i].base && offset < m->b[i].base + m->b[i].count)
			return i;
	return m->n;
}

/* First offset whose batch is at least `t` new, from the model. */
static uint64_t model_offset_for_time(const struct model *m, uint64_t t)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->b[i].time >= t)
			return m->b[i].base;
	return m->next;
}

/* Read the stream from `offset` to its end and compare with the model. */
static void check_stream(gb_store *s, const struct model *m, uint64_t offset)
{
	struct read_check rc = {m, model_index(m, offset), 0, 0, 0, 0};
	gb_stream_info info;
	int got = gb_store_read(s, m->dataset, offset, SIZE_MAX, check_batch, &rc);

	CHECK(got == (int)(m->n - model_index(m, offset)));
	CHECK(rc.visited == m->n - model_index(m, offset));
	CHECK(rc.mismatches == 0);
	CHECK_RC(gb_store_stream_info(s, m->dataset, &info), 0);
	CHECK(info.next_offset == m->next);
	CHECK(info.batch_count == m->n);
	CHECK(info.last_time_ns == m->last_time);
	CHECK(memcmp(info.head_hash, m->head, GB_HASH_BYTES) == 0);
}

/* Append one batch of `len` bytes to the model's stream in its own group. */
static int append_one(gb_store *s, struct model *m, const char *producer,
		      uint64_t seq, uint32_t count, size_t len, uint64_t now)
{
	uint8_t *data = malloc(len);
	gb_write w;
	int rc;

	if (!data)
		return GB_ENOMEM;
	fill_batch(data, len, m->tag, seq);
	w = append_item(m->dataset, producer, seq, count, data, len, now);
	rc = gb_store_write_group(s, &w, 1);
	if (rc == 0) {
		CHECK(w.result == 0);
		if (w.result == 0)
			model_accept(m, &w);
	}
	free(data);
	return rc;
}

/* ------------------------------------------------------------ raw LMDB */

/* The data file opened behind the store's back, to damage it. */
struct raw {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi streams, log, meta, pseq, epochs;
};

static int raw_open(struct raw *r, const char *dir)
{
	memset(r, 0, sizeof *r);
	if (mdb_env_create(&r->env) || mdb_env_set_maxdbs(r->env, 8) ||
	    mdb_env_open(r->env, dir, 0, 0600) ||
	    mdb_txn_begin(r->env, NULL, 0, &r->txn) ||
	    mdb_dbi_open(r->txn, "streams", 0, &r->streams) ||
	    mdb_dbi_open(r->txn, "log", 0, &r->log) ||
	    mdb_dbi_open(r->txn, "meta", 0, &r->meta) ||
	    mdb_dbi_open(r->txn, "pseq", 0, &r->pseq) ||
	    mdb_dbi_open(r->txn, "epochs", 0, &r->epochs)) {
		if (r->txn)
			mdb_txn_abort(r->txn);
		if (r->env)
			mdb_env_close(r->env);
		return -1;
	}
	return 0;
}

static void raw_close(struct raw *r)
{
	CHECK(mdb_txn_commit(r->txn) == 0);
	mdb_env_close(r->env);
}

static uint32_t raw_stream_id(struct raw *r, const char *dataset)
{
	MDB_val k = {strlen(dataset), (void *)dataset}, v;
	const uint8_t *p;

	if (mdb_get(r->txn, r->streams, &k, &v) || v.mv_size < 4)
		return 0;
	p = v.mv_data;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void raw_log_key(uint8_t k[12], uint32_t sid, uint64_t off)
{
	for (int i = 0; i < 4; i++)
		k[i] = (uint8_t)(sid >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		k[4 + i] = (uint8_t)(off >> (56 - 8 * i));
}

/* Replace the stored value at (dataset, base) by its first `keep` bytes
 * with byte `flip` (if < keep) inverted. */
static int raw_damage(const char *dir, const char *dataset, uint64_t base,
		      size_t keep, size_t flip)
{
	struct raw r;
	uint8_t kb[12];
	MDB_val k = {sizeof kb, kb}, v;
	uint8_t *copy;
	int rc = -1;

	if (raw_open(&r, dir) < 0)
		return -1;
	raw_log_key(kb, raw_stream_id(&r, dataset), base);
	if (mdb_get(r.txn, r.log, &k, &v) == 0 && keep <= v.mv_size) {
		copy = malloc(v.mv_size);
		if (copy) {
			memcpy(copy, v.mv_data, v.mv_size);
			if (flip < keep)
				copy[flip] ^= 0xff;
			v = (MDB_val){keep, copy};
			rc = mdb_put(r.txn, r.log, &k, &v, 0) ? -1 : 0;
			free(copy);
		}
	}
	raw_close(&r);
	return rc;
}

static int raw_delete_log(const char *dir, const char *dataset, uint64_t base)
{
	struct raw r;
	uint8_t kb[12];
	MDB_val k = {sizeof kb, kb};
	int rc;

	if (raw_open(&r, dir) < 0)
		return -1;
	raw_log_key(kb, raw_stream_id(&r, dataset), base);
	rc = mdb_del(r.txn, r.log, &k, NULL) ? -1 : 0;
	raw_close(&r);
	return rc;
}

/* Invert byte `flip` of the stream record of `dataset`. */
static int raw_flip_stream(const char *dir, const char *dataset, size_t flip)
{
	struct raw r;
	MDB_val k = {strlen(dataset), (void *)dataset}, v;
	uint8_t copy[256];
	int rc = -1;

	if (raw_open(&r, dir) < 0)
		return -1;
	if (mdb_get(r.txn, r.streams, &k, &v) == 0 && v.mv_size <= sizeof copy &&
	    flip < v.mv_size) {
		memcpy(copy, v.mv_data, v.mv_size);
		copy[flip] ^= 0x01;
		v.mv_data = copy;
		rc = mdb_put(r.txn, r.streams, &k, &v, 0) ? -1 : 0;
	}
	raw_close(&r);
	return rc;
}

static uint32_t raw_stream_id_of(const char *dir, const char *dataset)
{
	struct raw r;
	uint32_t id;

	if (raw_open(&r, dir) < 0)
		return 0;
	id = raw_stream_id(&r, dataset);
	raw_close(&r);
	return id;
}

enum { RAW_STREAMS, RAW_META, RAW_EPOCHS };

static int raw_put(const char *dir, int which, const char *key,
		   const void *val, size_t len)
{
	struct raw r;
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
	MDB_dbi dbi;
	int rc;

	if (raw_open(&r, dir) < 0)
		return -1;
	dbi = which == RAW_META ? r.meta :
	      which == RAW_EPOCHS ? r.epochs : r.streams;
	rc = mdb_put(r.txn, dbi, &k, &v, 0) ? -1 : 0;
	raw_close(&r);
	return rc;
}

/* Store pseq key "dataset \0 producer \0 u64be seq" -> u64be base ||
 * u32be count directly, as gb_store.h lays it out. */
static int raw_put_pseq(const char *dir, const char *dataset,
			const char *producer, uint64_t seq, uint64_t base,
			uint32_t count)
{
	struct raw r;
	uint8_t kb[128], vb[12];
	size_t dl = strlen(dataset), pl = strlen(producer), n;
	MDB_val k, v = {sizeof vb, vb};
	int rc;

	if (dl + pl + 2 + 8 > sizeof kb || raw_open(&r, dir) < 0)
		return -1;
	memcpy(kb, dataset, dl + 1);
	memcpy(kb + dl + 1, producer, pl + 1);
	n = dl + pl + 2;
	for (int i = 0; i < 8; i++) {
		kb[n + (size_t)i] = (uint8_t)(seq >> (56 - 8 * i));
		vb[i] = (uint8_t)(base >> (56 - 8 * i));
	}
	for (int i = 0; i < 4; i++)
		vb[8 + i] = (uint8_t)(count >> (24 - 8 * i));
	k = (MDB_val){n + 8, kb};
	rc = mdb_put(r.txn, r.pseq, &k, &v, 0) ? -1 : 0;
	raw_close(&r);
	return rc;
}

/* ------------------------------------------------------------ tests */

static void test_append_and_read(void)
{
	static struct model tax, health;
	char dir[128];
	gb_store *s = NULL;
	uint8_t bufs[3][4096];
	uint64_t seq_tax = 0, seq_health = 0;
	gb_stream_info info;
	uint64_t seq;

	make_dir(dir, sizeof dir, "append");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	model_init(&tax, "tax.invoices", 't');
	model_init(&health, "health.visits", 'h');

	for (int g = 0; g < 6; g++) {
		/* The clock steps back in group 3: stored time must still rise. */
		uint64_t now = g == 3 ? 1000 : 1000000 + (uint64_t)g * 1000;
		uint32_t counts[3] = {1 + (uint32_t)g * 3, 1000, 7};
		size_t lens[3] = {100 + (size_t)g * 10, 4000, 1};
		gb_write w[3];

		fill_batch(bufs[0], lens[0], 't', ++seq_tax);
		fill_batch(bufs[1], lens[1], 'h', ++seq_health);
		fill_batch(bufs[2], lens[2], 't', ++seq_tax);
		w[0] = append_item(tax.dataset, "tax-agent", seq_tax - 1,
				   counts[0], bufs[0], lens[0], now);
		w[1] = append_item(health.dataset, "health-agent", seq_health,
				   counts[1], bufs[1], lens[1], now);
		w[2] = append_item(tax.dataset, "tax-agent", seq_tax,
				   counts[2], bufs[2], lens[2], now);
		CHECK_RC(gb_store_write_group(s, w, 3), 0);
		model_accept(&tax, &w[0]);
		model_accept(&health, &w[1]);
		model_accept(&tax, &w[2]);
	}
	CHECK(tax.n == 12 && health.n == 6);
	check_stream(s, &tax, 0);
	check_stream(s, &health, 0);

	/* Start in the middle of a batch: that batch comes first. */
	CHECK(tax.b[4].count > 2);
	check_stream(s, &tax, tax.b[4].base + tax.b[4].count / 2);
	check_stream(s, &tax, tax.b[4].base + tax.b[4].count - 1);
	check_stream(s, &health, health.b[5].base + 999);

	/* Limits and early stops. */
	{
		struct read_check rc = {&tax, 0, 0, 0, 0, 0};

		CHECK(gb_store_read(s, tax.dataset, 0, 2, check_batch, &rc) == 2);
		CHECK(rc.visited == 2 && rc.mismatches == 0);
		rc = (struct read_check){&tax, 0, 0, 3, 0, 0};
		CHECK(gb_store_read(s, tax.dataset, 0, 100, check_batch, &rc) == 3);
		CHECK(rc.visited == 3);
		rc = (struct read_check){&tax, 0, 0, 0, GB_EPERM, 0};
		CHECK_RC(gb_store_read(s, tax.dataset, 0, 100, check_batch, &rc),
			 GB_EPERM);
		rc = (struct read_check){&tax, 0, 0, 0, 0, 0};
		CHECK(gb_store_read(s, tax.dataset, tax.next, 100, check_batch,
				    &rc) == 0);
		CHECK(gb_store_read(s, tax.dataset, UINT64_MAX, 100, check_batch,
				    &rc) == 0);
		CHECK(gb_store_read(s, tax.dataset, 0, 0, check_batch, &rc) == 0);
		CHECK(gb_store_read(s, "no.such", 0, 100, check_batch, &rc) == 0);
		CHECK(rc.visited == 0);
		CHECK_RC(gb_store_read(s, "", 0, 100, check_batch, &rc), GB_EINVAL);
		CHECK_RC(gb_store_read(s, tax.dataset, 0, 100, NULL, NULL),
			 GB_EINVAL);
	}

	CHECK_RC(gb_store_stream_info(s, "no.such", &info), 0);
	CHECK(info.next_offset == 0 && info.batch_count == 0 &&
	      info.last_time_ns == 0);
	CHECK_RC(gb_store_last_seq(s, tax.dataset, "tax-agent", &seq), 0);
	CHECK(seq == seq_tax);
	CHECK_RC(gb_store_last_seq(s, health.dataset, "health-agent", &seq), 0);
	CHECK(seq == seq_health);
	CHECK_RC(gb_store_last_seq(s, health.dataset, "tax-agent", &seq), 0);
	CHECK(seq == 0);
	{
		uint64_t bad = 77;

		CHECK_RC(gb_store_verify_stream(s, tax.dataset, &bad), 0);
		CHECK_RC(gb_store_verify_stream(s, health.dataset, &bad), 0);
		CHECK_RC(gb_store_verify_stream(s, "no.such", &bad), 0);
	}
	gb_store_close(&s);
	CHECK(s == NULL);
	gb_store_close(&s); /* NULL is fine */
	gb_store_close(NULL);
}

static void test_idempotence(void)
{
	static struct model a, b;
	char dir[128];
	gb_store *s = NULL;
	uint8_t d[8][64];
	gb_write w[8];
	gb_stream_info before, after;
	uint64_t seq;

	make_dir(dir, sizeof dir, "idem");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	model_init(&a, "ds.a", 'a');
	model_init(&b, "ds.b", 'b');
	CHECK_RC(append_one(s, &a, "p", 1, 10, 64, 100), 0);
	CHECK_RC(append_one(s, &a, "p", 2, 5, 64, 200), 0);
	CHECK_RC(gb_store_stream_info(s, a.dataset, &before), 0);

	/* A group of retries only: all duplicates, nothing stored. */
	fill_batch(d[0], 64, 'a', 2);
	fill_batch(d[1], 64, 'a', 1);
	w[0] = append_item(a.dataset, "p", 2, 5, d[0], 64, 300);
	w[1] = append_item(a.dataset, "p", 1, 10, d[1], 64, 300);
	CHECK_RC(gb_store_write_group(s, w, 2), 0);
	CHECK(w[0].result == 0 && w[0].duplicate && w[0].base_offset == 10);
	CHECK(w[1].result == 0 && w[1].duplicate && w[1].base_offset == 0);
	CHECK_RC(gb_store_stream_info(s, a.dataset, &after), 0);
	CHECK(memcmp(&before, &after, sizeof before) == 0);

	/* Mixed group: retry, new stream, new seq, the same seq again in the
	 * group, a gap (seq 6 right after 4, last + 2), then seq 5 and a bad
	 * item. The gap is a conflict that stores nothing and leaves last at 4,
	 * so seq 5 after it is accepted; the good items must all succeed. */
	for (int i = 0; i < 8; i++)
		fill_batch(d[i], 64, i == 1 ? 'b' : 'a', (uint64_t)i + 100);
	fill_batch(d[2], 64, 'a', 3);
	fill_batch(d[4], 64, 'a', 4);
	fill_batch(d[6], 64, 'a', 5);
	fill_batch(d[1], 64, 'b', 1);
	w[0] = append_item(a.dataset, "p", 2, 5, d[0], 64, 400);
	w[1] = append_item(b.dataset, "p", 1, 3, d[1], 64, 400);
	w[2] = append_item(a.dataset, "p", 3, 2, d[2], 64, 400);
	w[3] = append_item(a.dataset, "p", 3, 2, d[2], 64, 400);
	w[4] = append_item(a.dataset, "p", 4, 1, d[4], 64, 400);
	w[5] = append_item(a.dataset, "p", 6, 4, d[5], 64, 400);
	w[6] = append_item(a.dataset, "p", 5, 4, d[6], 64, 400);
	w[7] = append_item(a.dataset, "p", 7, 0, d[7], 64, 400);
	CHECK_RC(gb_store_write_group(s, w, 8), 0);
	CHECK(w[0].result == 0 && w[0].duplicate && w[0].base_offset == 10);
	model_accept(&b, &w[1]);
	model_accept(&a, &w[2]);
	CHECK(w[3].result == 0 && w[3].duplicate &&
	      w[3].base_offset == w[2].base_offset);
	model_accept(&a, &w[4]);
	CHECK_RC(w[5].result, GB_ECONFLICT);
	CHECK(w[5].base_offset == 0 && w[5].broker_time_ns == 0);
	model_accept(&a, &w[6]);
	CHECK_RC(w[7].result, GB_EINVAL);
	CHECK(!w[5].duplicate && !w[7].duplicate);
	check_stream(s, &a, 0);
	check_stream(s, &b, 0);
	CHECK_RC(gb_store_last_seq(s, a.dataset, "p", &seq), 0);
	CHECK(seq == 5);
	/* Seq 6 was never stored: now it is last + 1 and is no retry. */
	fill_batch(d[5], 64, 'a', 6);
	w[0] = append_item(a.dataset, "p", 6, 4, d[5], 64, 450);
	CHECK_RC(gb_store_write_group(s, w, 1), 0);
	model_accept(&a, &w[0]);
	check_stream(s, &a, 0);

	/* Invalid items are rejected alone. */
	{
		char long_name[300];
		char name255[256];
		gb_write v[9];

		memset(long_name, 'x', sizeof long_name - 1);
		long_name[sizeof long_name - 1] = 0;
		memset(name255, 'y', sizeof name255 - 1);
		name255[sizeof name255 - 1] = 0;
		fill_batch(d[0], 64, 'a', 7);
		v[0] = append_item("", "p", 7, 1, d[0], 64, 500);
		v[1] = append_item(a.dataset, NULL, 7, 1, d[0], 64, 500);
		v[2] = append_item(a.dataset, "p", 7, 1, d[0], 0, 500);
		v[3] = append_item(a.dataset, "p", 7, 1, NULL, 64, 500);
		v[4] = append_item(long_name, "p", 7, 1, d[0], 64, 500);
		/* Each name fits but the pseq key would pass LMDB's limit. */
		v[5] = append_item(name255, name255, 1, 1, d[0], 64, 500);
		v[6] = append_item(a.dataset, "p", 7, 1, d[0], 64, 500);
		v[7] = append_item(a.dataset, "q", 0, 1, d[0], 64, 500);
		v[8] = v[6];
		v[8].kind = (gb_write_kind)7;
		CHECK_RC(gb_store_write_group(s, v, 9), 0);
		for (int i = 0; i < 9; i++)
			if (i != 6)
				CHECK_RC(v[i].result, GB_EINVAL);
		model_accept(&a, &v[6]);
		check_stream(s, &a, 0);
	}

	/* Producers whose keys sort next to each other stay apart, and the
	 * largest seq is found at the very end of the key space. Stored seqs
	 * are dense from 1, so every producer gets a different last seq: a
	 * lookup that strayed into a neighbour's keys would show. "ds2" holds
	 * the last keys of the db, so its seek runs off the end. */
	{
		static const struct {
			const char *ds, *prod;
			uint64_t last;
		} prods[] = {
			{"ds", "p", 3}, {"ds", "p2", 5}, {"ds", "o", 4}, {"ds2", "p", 2},
		};
		gb_write p[16];
		size_t np = 0;

		fill_batch(d[0], 64, 'a', 1);
		for (size_t i = 0; i < sizeof prods / sizeof prods[0]; i++)
			for (uint64_t q = 1; q <= prods[i].last; q++)
				p[np++] = append_item(prods[i].ds, prods[i].prod, q,
						       1, d[0], 64, 1);
		CHECK_RC(gb_store_write_group(s, p, np), 0);
		for (size_t i = 0; i < np; i++)
			CHECK(p[i].result == 0 && !p[i].duplicate);
		gb_store_close(&s);

		/* The end of the key space is out of reach of dense seqs, so
		 * plant "max" at UINT64_MAX - 1 and "old" with only seq 7 (a
		 * store written before seqs had to be dense) behind the
		 * store's back; base offsets 1000 and 2000 mark them. */
		CHECK(raw_put_pseq(dir, "ds", "max", UINT64_MAX - 1, 1000, 1) == 0);
		CHECK(raw_put_pseq(dir, "ds", "old", 7, 2000, 1) == 0);
		CHECK_RC(gb_store_open(dir, 0, &s), 0);
		if (!s)
			return;
		CHECK_RC(gb_store_last_seq(s, "ds", "max", &seq), 0);
		CHECK(seq == UINT64_MAX - 1);
		p[0] = append_item("ds", "max", UINT64_MAX, 1, d[0], 64, 1);
		p[1] = append_item("ds", "max", UINT64_MAX, 1, d[0], 64, 1);
		p[2] = append_item("ds", "max", UINT64_MAX - 1, 1, d[0], 64, 1);
		/* last + 1 wraps to 0: every seq is now <= last. */
		p[3] = append_item("ds", "max", 1, 1, d[0], 64, 1);
		p[4] = append_item("ds", "old", 3, 1, d[0], 64, 1);
		p[5] = append_item("ds", "old", 7, 1, d[0], 64, 1);
		p[6] = append_item("ds", "old", 8, 1, d[0], 64, 1);
		CHECK_RC(gb_store_write_group(s, p, 7), 0);
		CHECK(p[0].result == 0 && !p[0].duplicate &&
		      p[0].base_offset == 12); /* 3 + 5 + 4 records before */
		CHECK(p[1].result == 0 && p[1].duplicate &&
		      p[1].base_offset == p[0].base_offset);
		CHECK(p[2].result == 0 && p[2].duplicate &&
		      p[2].base_offset == 1000);
		CHECK_RC(p[3].result, GB_ECONFLICT);
		/* Below last and never stored. */
		CHECK_RC(p[4].result, GB_ECONFLICT);
		CHECK(!p[4].duplicate);
		CHECK(p[5].result == 0 && p[5].duplicate &&
		      p[5].base_offset == 2000);
		CHECK(p[6].result == 0 && !p[6].duplicate &&
		      p[6].base_offset == 13);

		for (size_t i = 0; i < sizeof prods / sizeof prods[0]; i++) {
			seq = 77;
			CHECK_RC(gb_store_last_seq(s, prods[i].ds, prods[i].prod,
						   &seq), 0);
			CHECK(seq == prods[i].last);
		}
		CHECK_RC(gb_store_last_seq(s, "ds", "q", &seq), 0);
		CHECK(seq == 0);
		CHECK_RC(gb_store_last_seq(s, "d", "p", &seq), 0);
		CHECK(seq == 0);
		CHECK_RC(gb_store_last_seq(s, "ds", "max", &seq), 0);
		CHECK(seq == UINT64_MAX);
		CHECK_RC(gb_store_last_seq(s, "ds", "old", &seq), 0);
		CHECK(seq == 8);
		CHECK_RC(gb_store_last_seq(s, "ds", "", &seq), GB_EINVAL);
		/* Each producer's next seq is its own last + 1, not a
		 * neighbour's: "p" (3) sorts right before "p2" (5). */
		p[0] = append_item("ds", "p2", 7, 1, d[0], 64, 1);
		p[1] = append_item("ds", "p", 4, 1, d[0], 64, 1);
		p[2] = append_item("ds", "p2", 6, 1, d[0], 64, 1);
		p[3] = append_item("ds2", "p", 3, 1, d[0], 64, 1);
		CHECK_RC(gb_store_write_group(s, p, 4), 0);
		CHECK_RC(p[0].result, GB_ECONFLICT);
		CHECK(p[1].result == 0 && !p[1].duplicate);
		CHECK(p[2].result == 0 && !p[2].duplicate);
		CHECK(p[3].result == 0 && !p[3].duplicate &&
		      p[3].base_offset == 2);
	}
	gb_store_close(&s);
}

static void test_offset_for_time(void)
{
	static struct model m;
	char dir[128];
	gb_store *s = NULL;
	uint64_t off;
	struct {
		uint64_t t, want;
	} cases[] = {
		{0, 0},     {1, 0},     {1000, 0},  {1001, 5},  {2000, 5},
		{2500, 8},  {3000, 8},  {3001, 12}, {3002, 13}, {UINT64_MAX, 13},
	};

	make_dir(dir, sizeof dir, "time");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	model_init(&m, "ds.time", 'x');
	CHECK_RC(append_one(s, &m, "p", 1, 5, 10, 1000), 0);
	CHECK_RC(append_one(s, &m, "p", 2, 3, 10, 2000), 0);
	CHECK_RC(append_one(s, &m, "p", 3, 4, 10, 3000), 0);
	/* The clock went back: stored as 3001. */
	CHECK_RC(append_one(s, &m, "p", 4, 1, 10, 1500), 0);
	CHECK(m.b[3].time == 3001 && m.next == 13);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		off = 999;
		CHECK_RC(gb_store_offset_for_time(s, m.dataset, cases[i].t, &off), 0);
		if (off != cases[i].want)
			fprintf(stderr, "time %llu: offset %llu, wanted %llu\n",
				(unsigned long long)cases[i].t,
				(unsigned long long)off,
				(unsigned long long)cases[i].want);
		CHECK(off == cases[i].want);
	}
	off = 999;
	CHECK_RC(gb_store_offset_for_time(s, "no.such", 5, &off), 0);
	CHECK(off == 0);

	/* Many single-record batches: the search must hit each boundary. */
	{
		static struct model many;

		model_init(&many, "ds.many", 'y');
		for (uint64_t i = 1; i <= 100; i++)
			CHECK_RC(append_one(s, &many, "p", i, (uint32_t)(i % 3 + 1),
					    8, i * 10), 0);
		for (size_t i = 0; i < many.n; i++) {
			CHECK_RC(gb_store_offset_for_time(s, many.dataset,
							  many.b[i].time, &off), 0);
			CHECK(off == many.b[i].base);
			CHECK_RC(gb_store_offset_for_time(s, many.dataset,
							  many.b[i].time - 1, &off), 0);
			CHECK(off == many.b[i].base);
			CHECK_RC(gb_store_offset_for_time(s, many.dataset,
							  many.b[i].time + 1, &off), 0);
			CHECK(off == many.b[i].base + many.b[i].count);
		}
	}
	gb_store_close(&s);
}

static void test_cursors_and_reopen(void)
{
	static struct model m;
	char dir[128];
	gb_store *s = NULL;
	gb_stream_info before, after;
	uint64_t next, seq;
	gb_write w[5];

	make_dir(dir, sizeof dir, "reopen");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	model_init(&m, "ds.keep", 'k');
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "daily", &next),
		 GB_ENOTFOUND);
	for (uint64_t i = 1; i <= 5; i++)
		CHECK_RC(append_one(s, &m, "p", i, (uint32_t)i, 32, i), 0);

	w[0] = cursor_item("health", m.dataset, "daily", 7);
	w[1] = cursor_item("health", m.dataset, "weekly", 3);
	w[2] = cursor_item("health", m.dataset, "", 3);
	w[3] = cursor_item("tax", m.dataset, "daily", 11);
	w[4] = cursor_item("health", NULL, "daily", 3);
	CHECK_RC(gb_store_write_group(s, w, 5), 0);
	CHECK(w[0].result == 0 && w[1].result == 0 && w[3].result == 0);
	CHECK_RC(w[2].result, GB_EINVAL);
	CHECK_RC(w[4].result, GB_EINVAL);
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "daily", &next), 0);
	CHECK(next == 7);
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "weekly", &next), 0);
	CHECK(next == 3);
	CHECK_RC(gb_store_cursor_get(s, "tax", m.dataset, "daily", &next), 0);
	CHECK(next == 11);
	w[0] = cursor_item("health", m.dataset, "daily", 9);
	CHECK_RC(gb_store_write_group(s, w, 1), 0);
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "daily", &next), 0);
	CHECK(next == 9);
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "", &next), GB_EINVAL);

	CHECK_RC(gb_store_stream_info(s, m.dataset, &before), 0);
	gb_store_close(&s);

	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	CHECK_RC(gb_store_stream_info(s, m.dataset, &after), 0);
	CHECK(memcmp(&before, &after, sizeof before) == 0);
	CHECK(after.next_offset == 15 && after.batch_count == 5);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 5);
	CHECK_RC(gb_store_cursor_get(s, "health", m.dataset, "daily", &next), 0);
	CHECK(next == 9);
	check_stream(s, &m, 0);
	/* The chain continues across the reopen; retries are still known
	 * and the next seq is still exactly last + 1. */
	{
		uint8_t data[32];

		fill_batch(data, sizeof data, 'k', 7);
		w[0] = append_item(m.dataset, "p", 7, 2, data, sizeof data, 1);
		CHECK_RC(gb_store_write_group(s, w, 1), 0);
		CHECK_RC(w[0].result, GB_ECONFLICT);
	}
	CHECK_RC(append_one(s, &m, "p", 6, 2, 32, 1), 0);
	{
		uint8_t data[32];

		fill_batch(data, sizeof data, 'k', 2);
		w[0] = append_item(m.dataset, "p", 2, 2, data, sizeof data, 1);
		CHECK_RC(gb_store_write_group(s, w, 1), 0);
		CHECK(w[0].result == 0 && w[0].duplicate &&
		      w[0].base_offset == 1);
	}
	check_stream(s, &m, 0);
	CHECK_RC(gb_store_verify_stream(s, m.dataset, NULL), 0);
	gb_store_close(&s);

	/* A data dir of another format version is refused. */
	{
		uint8_t two[4] = {0, 0, 0, 2}, one[4] = {0, 0, 0, 1};

		CHECK(raw_put(dir, RAW_META, "format", two, sizeof two) == 0);
		CHECK_RC(gb_store_open(dir, 0, &s), GB_ECORRUPT);
		CHECK(s == NULL);
		CHECK(raw_put(dir, RAW_META, "format", one, 3) == 0);
		CHECK_RC(gb_store_open(dir, 0, &s), GB_ECORRUPT);
		CHECK(raw_put(dir, RAW_META, "format", one, sizeof one) == 0);
		CHECK_RC(gb_store_open(dir, 0, &s), 0);
		gb_store_close(&s);
	}
}

static void test_corruption(void)
{
	static struct model m, other;
	char dir[128];
	gb_store *s = NULL;
	uint64_t bad;
	struct read_check rc;
	gb_stream_info info;
	uint64_t off;

	make_dir(dir, sizeof dir, "corrupt");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	model_init(&m, "ds.c", 'c');
	model_init(&other, "ds.other", 'o');
	for (uint64_t i = 1; i <= 5; i++) {
		CHECK_RC(append_one(s, &m, "p", i, (uint32_t)i + 1, 200, i * 100), 0);
		CHECK_RC(append_one(s, &other, "p", i, 1, 50, i * 100), 0);
	}
	CHECK_RC(gb_store_verify_stream(s, m.dataset, &bad), 0);
	gb_store_close(&s);

	/* One flipped byte in the batch bytes of batch 2. */
	CHECK(raw_damage(dir, m.dataset, m.b[2].base, GB_STORED_HEADER_BYTES + 200,
			 GB_STORED_HEADER_BYTES + 17) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	bad = 0;
	CHECK_RC(gb_store_verify_stream(s, m.dataset, &bad), GB_ECORRUPT);
	CHECK(bad == m.b[2].base);
	CHECK_RC(gb_store_verify_stream(s, other.dataset, &bad), 0);
	gb_store_close(&s);

	/* Undo it, then flip the stored time of batch 3 instead. */
	CHECK(raw_damage(dir, m.dataset, m.b[2].base, GB_STORED_HEADER_BYTES + 200,
			 GB_STORED_HEADER_BYTES + 17) == 0);
	CHECK(raw_damage(dir, m.dataset, m.b[3].base, GB_STORED_HEADER_BYTES + 200,
			 7) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	bad = 0;
	CHECK_RC(gb_store_verify_stream(s, m.dataset, &bad), GB_ECORRUPT);
	CHECK(bad == m.b[3].base);
	gb_store_close(&s);
	CHECK(raw_damage(dir, m.dataset, m.b[3].base, GB_STORED_HEADER_BYTES + 200,
			 7) == 0);

	/* A value cut short of its header: reads fail cleanly. */
	CHECK(raw_damage(dir, m.dataset, m.b[3].base, 20, 99) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	CHECK_RC(gb_store_verify_stream(s, m.dataset, &bad), GB_ECORRUPT);
	CHECK(bad == m.b[3].base);
	rc = (struct read_check){&m, 0, 0, 0, 0, 0};
	CHECK_RC(gb_store_read(s, m.dataset, 0, 100, check_batch, &rc),
		 GB_ECORRUPT);
	CHECK(rc.visited == 3 && rc.mismatches == 0);
	rc = (struct read_check){&m, 3, 0, 0, 0, 0};
	CHECK_RC(gb_store_read(s, m.dataset, m.b[3].base + 1, 100, check_batch,
			       &rc), GB_ECORRUPT);
	CHECK(rc.visited == 0);
	rc = (struct read_check){&m, 4, 0, 0, 0, 0};
	CHECK(gb_store_read(s, m.dataset, m.b[4].base, 100, check_batch, &rc) == 1);
	/* The search may or may not touch batch 3; it must not crash. */
	{
		int r = gb_store_offset_for_time(s, m.dataset, 350, &off);

		CHECK(r == 0 || r == GB_ECORRUPT);
	}
	check_stream(s, &other, 0);
	gb_store_close(&s);

	/* A value that is only a header (no batch bytes) is corrupt too. */
	CHECK(raw_damage(dir, m.dataset, m.b[4].base, GB_STORED_HEADER_BYTES,
			 999) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	rc = (struct read_check){&m, 4, 0, 0, 0, 0};
	CHECK_RC(gb_store_read(s, m.dataset, m.b[4].base, 100, check_batch, &rc),
		 GB_ECORRUPT);
	CHECK(rc.visited == 0);
	gb_store_close(&s);

	/* The last batch gone: the head no longer matches the log. */
	CHECK(raw_delete_log(dir, other.dataset, other.b[4].base) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	bad = 0;
	CHECK_RC(gb_store_verify_stream(s, other.dataset, &bad), GB_ECORRUPT);
	CHECK(bad == other.b[4].base);
	rc = (struct read_check){&other, 0, 0, 0, 0, 0};
	CHECK_RC(gb_store_read(s, other.dataset, 0, 100, check_batch, &rc),
		 GB_ECORRUPT);
	CHECK(rc.visited == 4);
	gb_store_close(&s);

	/* A batch missing in the middle: reads and verify stop there. */
	CHECK(raw_delete_log(dir, m.dataset, m.b[1].base) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	bad = 0;
	CHECK_RC(gb_store_verify_stream(s, m.dataset, &bad), GB_ECORRUPT);
	CHECK(bad == m.b[1].base);
	rc = (struct read_check){&m, 0, 0, 0, 0, 0};
	CHECK_RC(gb_store_read(s, m.dataset, 0, 100, check_batch, &rc),
		 GB_ECORRUPT);
	CHECK(rc.visited == 1);
	gb_store_close(&s);

	/* Only the head's hash is wrong (byte 28 starts it). */
	{
		static struct model h;

		CHECK_RC(gb_store_open(dir, 0, &s), 0);
		if (!s)
			return;
		model_init(&h, "ds.head", 'h');
		CHECK_RC(append_one(s, &h, "p", 1, 4, 30, 1), 0);
		CHECK_RC(append_one(s, &h, "p", 2, 4, 30, 2), 0);
		gb_store_close(&s);
		CHECK(raw_flip_stream(dir, h.dataset, 28 + 31) == 0);
		CHECK_RC(gb_store_open(dir, 0, &s), 0);
		if (!s)
			return;
		bad = 0;
		CHECK_RC(gb_store_verify_stream(s, h.dataset, &bad), GB_ECORRUPT);
		CHECK(bad == 8);
		gb_store_close(&s);
	}

	/* A malformed stream record: that dataset fails, others work. */
	CHECK(raw_put(dir, RAW_STREAMS, other.dataset, "short", 5) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	CHECK_RC(gb_store_stream_info(s, other.dataset, &info), GB_ECORRUPT);
	CHECK_RC(gb_store_verify_stream(s, other.dataset, &bad), GB_ECORRUPT);
	{
		uint8_t data[16];
		gb_write w[2];

		fill_batch(data, sizeof data, 'z', 1);
		w[0] = append_item(other.dataset, "p", 6, 1, data, sizeof data, 1);
		w[1] = append_item("ds.fine", "p", 1, 1, data, sizeof data, 1);
		CHECK_RC(gb_store_write_group(s, w, 2), 0);
		CHECK_RC(w[0].result, GB_ECORRUPT);
		CHECK(w[1].result == 0 && w[1].base_offset == 0);
	}
	gb_store_close(&s);
}

/* MDB_MAP_FULL is handled by growing the map: a group that does not fit
 * runs again in the larger map with exactly the results it would have had,
 * and a reopen with a smaller configured map keeps the file's size. */
static void test_map_growth(void)
{
	static struct model a, b;
	char dir[128];
	gb_store *s = NULL;
	uint8_t *big, small[100], other[100];
	gb_write w[3];
	uint64_t seq, grown;

	big = malloc(2u << 20);
	if (!big) {
		CHECK(big != NULL);
		return;
	}
	make_dir(dir, sizeof dir, "full");
	CHECK_RC(gb_store_open(dir, 1u << 20, &s), 0);
	if (!s) {
		free(big);
		return;
	}
	CHECK(gb_store_map_size(s) == 1u << 20);
	model_init(&a, "ds.full", 'f');
	model_init(&b, "ds.new", 'n');
	for (uint64_t i = 1; i <= 3; i++)
		CHECK_RC(append_one(s, &a, "p", i, 10, 1000, i), 0);

	/* The first attempt fails after two items went into the transaction
	 * (one opening a new stream): the retry must not see their cached
	 * heads or the stream id they took. */
	fill_batch(small, sizeof small, 'f', 4);
	fill_batch(other, sizeof other, 'n', 1);
	fill_batch(big, 2u << 20, 'f', 5);
	w[0] = append_item(a.dataset, "p", 4, 1, small, sizeof small, 10);
	w[1] = append_item(b.dataset, "p", 1, 1, other, sizeof other, 10);
	w[2] = append_item(a.dataset, "p", 5, 1, big, 2u << 20, 10);
	CHECK_RC(gb_store_write_group(s, w, 3), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_RC(w[i].result, 0);
		CHECK(!w[i].duplicate);
	}
	model_accept(&a, &w[0]);
	model_accept(&b, &w[1]);
	model_accept(&a, &w[2]);
	grown = gb_store_map_size(s);
	CHECK(grown >= 4u << 20);
	check_stream(s, &a, 0);
	check_stream(s, &b, 0);
	CHECK_RC(gb_store_last_seq(s, a.dataset, "p", &seq), 0);
	CHECK(seq == 5);

	/* Keep writing well past the first map: every group is stored. */
	for (uint64_t i = 6; i < 200; i += 2) {
		uint8_t *d1 = big, *d2 = big + (64u << 10);

		fill_batch(d1, 32u << 10, 'f', i);
		fill_batch(d2, 32u << 10, 'f', i + 1);
		w[0] = append_item(a.dataset, "p", i, 7, d1, 32u << 10, i + 10);
		w[1] = append_item(a.dataset, "p", i + 1, 3, d2, 32u << 10, i + 10);
		CHECK_RC(gb_store_write_group(s, w, 2), 0);
		CHECK_RC(w[0].result, 0);
		CHECK_RC(w[1].result, 0);
		model_accept(&a, &w[0]);
		model_accept(&a, &w[1]);
	}
	CHECK(gb_store_map_size(s) > grown);
	check_stream(s, &a, 0);
	{
		uint64_t off;

		CHECK_RC(gb_store_offset_for_time(s, a.dataset, 100, &off), 0);
		CHECK(off == model_offset_for_time(&a, 100));
	}
	CHECK_RC(gb_store_verify_stream(s, a.dataset, NULL), 0);
	grown = gb_store_map_size(s);
	gb_store_close(&s);
	CHECK(raw_stream_id_of(dir, a.dataset) == 1);
	CHECK(raw_stream_id_of(dir, b.dataset) == 2);

	/* A smaller configured map does not shrink a grown file. */
	CHECK_RC(gb_store_open(dir, 1u << 20, &s), 0);
	if (s) {
		CHECK(gb_store_map_size(s) >= 6u << 20);
		CHECK_RC(append_one(s, &a, "p", a.b[a.n - 1].seq + 1, 2,
				    32u << 10, 1), 0);
		check_stream(s, &a, 0);
		check_stream(s, &b, 0);
		CHECK_RC(gb_store_verify_stream(s, a.dataset, NULL), 0);
		gb_store_close(&s);
	}
	free(big);
}

/* ------------------------------------------------------------ dedupe */

/* Entries in the dedupe db and its age index, read behind the store. */
static void raw_dedupe_counts(const char *dir, size_t *entries, size_t *ages)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi d, a;
	MDB_stat st;

	*entries = *ages = SIZE_MAX;
	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
	    mdb_env_open(env, dir, MDB_RDONLY, 0600) ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) ||
	    mdb_dbi_open(txn, "dedupe", 0, &d) ||
	    mdb_dbi_open(txn, "dedupe_age", 0, &a))
		goto out;
	if (mdb_stat(txn, d, &st) == 0)
		*entries = st.ms_entries;
	if (mdb_stat(txn, a, &st) == 0)
		*ages = st.ms_entries;
out:
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
}

/* Tags of ids "t<k>", one per record; k = 0 gives a zero tag (no id). */
static void make_tags(uint8_t *tags, const unsigned *ids, size_t n)
{
	memset(tags, 0, n * 16);
	for (size_t i = 0; i < n; i++)
		if (ids[i]) {
			tags[i * 16] = (uint8_t)ids[i];
			tags[i * 16 + 15] = 0xee;
		}
}

/* Publish a batch of `n` records with the tags of `ids` at `now`. */
static gb_write tagged(struct model *m, const char *producer, uint64_t seq,
		       const unsigned *ids, uint32_t n, uint64_t now,
		       uint8_t *data, uint8_t *tags, uint32_t *dups)
{
	gb_write w;

	fill_batch(data, 64, m->tag, seq);
	make_tags(tags, ids, n);
	w = append_item(m->dataset, producer, seq, n, data, 64, now);
	w.record_tags = tags;
	w.dup_records = dups;
	return w;
}

static int write_one(gb_store *s, gb_write *w)
{
	int rc = gb_store_write_group(s, w, 1);

	return rc ? rc : w->result;
}

static void test_dedupe(void)
{
	static struct model m, q; /* q: only its batches' bytes */
	char dir[128];
	gb_store *s = NULL;
	uint8_t data[2][64], tags[2][8 * 16];
	uint32_t dups[2][8];
	gb_write w[2];
	gb_stream_info info;
	uint64_t seq;
	size_t entries, ages;

	make_dir(dir, sizeof dir, "dedupe");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	model_init(&m, "ds.dedupe", 'd');
	model_init(&q, "ds.dedupe", 'd');
	gb_store_set_dedupe_window(s, 100);

	/* New ids are stored and entered. */
	w[0] = tagged(&m, "p", 1, (unsigned[]){1, 2, 3}, 3, 1000, data[0],
		      tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate && w[0].dup_count == 0 && w[0].base_offset == 0);
	model_accept(&m, &w[0]);

	/* All stored before: nothing appended, the seq is used, the offset
	 * is the first record's; a retry of that seq says the same. */
	w[0] = tagged(&m, "p", 2, (unsigned[]){1, 2, 3}, 3, 1050, data[0],
		      tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	CHECK(w[0].duplicate && w[0].dup_count == 3 && w[0].base_offset == 0);
	CHECK_RC(gb_store_stream_info(s, m.dataset, &info), 0);
	CHECK(info.next_offset == 3 && info.batch_count == 1);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 2);
	w[0] = tagged(&m, "p", 2, (unsigned[]){1, 2, 3}, 3, 1060, data[0],
		      tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	CHECK(w[0].duplicate && w[0].base_offset == 0);

	/* Some stored before: refused with their indexes, nothing stored. */
	w[0] = tagged(&m, "p", 3, (unsigned[]){4, 3, 5, 1}, 4, 1070, data[0],
		      tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), GB_EDUPLICATE);
	CHECK(w[0].dup_count == 2 && dups[0][0] == 1 && dups[0][1] == 3);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 2);
	/* The same seq without them goes in. */
	w[0] = tagged(&m, "p", 3, (unsigned[]){4, 5}, 2, 1070, data[0],
		      tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate && w[0].base_offset == 3);
	model_accept(&m, &w[0]);

	/* A record repeating an earlier one of its batch is a duplicate;
	 * records without ids never are. */
	w[0] = tagged(&m, "p", 4, (unsigned[]){6, 0, 6, 7, 0}, 5, 1080,
		      data[0], tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), GB_EDUPLICATE);
	CHECK(w[0].dup_count == 1 && dups[0][0] == 2);
	w[0] = tagged(&m, "p", 4, (unsigned[]){0, 0}, 2, 1080, data[0],
		      tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	model_accept(&m, &w[0]);
	w[0] = tagged(&m, "p", 5, (unsigned[]){0, 0}, 2, 1081, data[0],
		      tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate);
	model_accept(&m, &w[0]);

	/* Two batches of one group with the same id: the second is a
	 * duplicate of the first, which the group has just stored. */
	w[0] = tagged(&m, "p", 6, (unsigned[]){8}, 1, 1090, data[0], tags[0],
		      dups[0]);
	w[1] = tagged(&m, "p", 7, (unsigned[]){8}, 1, 1090, data[1], tags[1],
		      dups[1]);
	CHECK_RC(gb_store_write_group(s, w, 2), 0);
	CHECK_RC(w[0].result, 0);
	CHECK_RC(w[1].result, 0);
	CHECK(!w[0].duplicate && w[1].duplicate &&
	      w[1].base_offset == w[0].base_offset);
	model_accept(&m, &w[0]);

	/* Ids are per producer. */
	w[0] = tagged(&q, "q", 1, (unsigned[]){1}, 1, 1095, data[0], tags[0],
		      dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate);
	model_accept(&m, &w[0]); /* the same stream and batch bytes */

	/* After the window (stored at 1000, window 100) id 1 is new again;
	 * without a window nothing is checked. */
	w[0] = tagged(&m, "p", 8, (unsigned[]){1, 2}, 2, 1100, data[0],
		      tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate && w[0].dup_count == 0);
	model_accept(&m, &w[0]);
	w[0] = tagged(&m, "p", 9, (unsigned[]){1, 2}, 2, 1110, data[0],
		      tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	CHECK(w[0].duplicate); /* entered again at 1100 */
	/* Without tags' room the item is refused alone. */
	w[0] = tagged(&m, "p", 10, (unsigned[]){9}, 1, 1130, data[0], tags[0],
		      dups[0]);
	w[0].dup_records = NULL;
	CHECK_RC(write_one(s, &w[0]), GB_EINVAL);
	gb_store_close(&s);

	/* Entries live on across a restart, and expire by broker time: a
	 * later group removes them. */
	raw_dedupe_counts(dir, &entries, &ages);
	CHECK(entries == 6 && ages == 6); /* 1 2 (1100), 4 5, 8, q's 1 */
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	gb_store_set_dedupe_window(s, 100);
	w[0] = tagged(&m, "p", 10, (unsigned[]){4, 9}, 2, 1150, data[0],
		      tags[0], dups[0]);
	CHECK_RC(write_one(s, &w[0]), GB_EDUPLICATE); /* 4 is from 1070 */
	w[0] = tagged(&m, "p", 10, (unsigned[]){9}, 1, 5000, data[0], tags[0],
		      dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	model_accept(&m, &w[0]);
	gb_store_close(&s);
	raw_dedupe_counts(dir, &entries, &ages);
	CHECK(entries == 1 && ages == 1); /* only id 9, from 5000 */

	/* Without a window nothing is checked and old entries drain. */
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	w[0] = tagged(&m, "p", 11, (unsigned[]){9}, 1, 5010, data[0], tags[0],
		      dups[0]);
	CHECK_RC(write_one(s, &w[0]), 0);
	CHECK(!w[0].duplicate);
	model_accept(&m, &w[0]);
	check_stream(s, &m, 0);
	CHECK_RC(gb_store_verify_stream(s, m.dataset, NULL), 0);
	gb_store_close(&s);
	raw_dedupe_counts(dir, &entries, &ages);
	CHECK(entries == 0 && ages == 0);
}

/* ------------------------------------------------------------ seq rule */

static void test_sequence_rule(void)
{
	static struct model m;
	char dir[128];
	gb_store *s = NULL;
	uint8_t d[7][40];
	gb_write w[7];
	gb_stream_info info;
	uint64_t seq;

	make_dir(dir, sizeof dir, "seqrule");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	model_init(&m, "ds.seq", 's');

	/* A producer's first seq must be 1, on a known or a new stream. */
	fill_batch(d[0], 40, 's', 2);
	w[0] = append_item(m.dataset, "p", 2, 1, d[0], 40, 10);
	w[1] = append_item(m.dataset, "p", UINT64_MAX, 1, d[0], 40, 10);
	w[2] = append_item("ds.none", "p", 2, 1, d[0], 40, 10);
	CHECK_RC(gb_store_write_group(s, w, 3), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_RC(w[i].result, GB_ECONFLICT);
		CHECK(!w[i].duplicate);
	}
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 0);
	CHECK_RC(gb_store_stream_info(s, m.dataset, &info), 0);
	CHECK(info.next_offset == 0 && info.batch_count == 0);
	CHECK_RC(gb_store_stream_info(s, "ds.none", &info), 0);
	CHECK(info.next_offset == 0 && info.batch_count == 0);
	CHECK_RC(append_one(s, &m, "p", 1, 2, 40, 10), 0);

	/* Inside a group, "last" is what the group stored so far. A gap
	 * (last + 2) stores nothing and does not disturb the items before
	 * or after it; a batch behind one that failed cannot overtake it. */
	fill_batch(d[0], 40, 's', 3);
	fill_batch(d[1], 40, 's', 2);
	fill_batch(d[2], 40, 's', 4);
	fill_batch(d[3], 40, 's', 3);
	fill_batch(d[4], 40, 's', 1);
	fill_batch(d[5], 40, 's', 4);
	fill_batch(d[6], 40, 's', 5);
	w[0] = append_item(m.dataset, "p", 3, 1, d[0], 40, 20);
	w[1] = append_item(m.dataset, "p", 2, 1, d[1], 40, 20);
	w[2] = append_item(m.dataset, "p", 4, 1, d[2], 40, 20);
	w[3] = append_item(m.dataset, "p", 3, 1, d[3], 40, 20);
	w[4] = append_item(m.dataset, "q", 1, 1, d[4], 40, 20);
	w[5] = append_item(m.dataset, "p", 4, 0, d[5], 40, 20); /* bad count */
	w[6] = append_item(m.dataset, "p", 5, 1, d[6], 40, 20);
	CHECK_RC(gb_store_write_group(s, w, 7), 0);
	CHECK_RC(w[0].result, GB_ECONFLICT);
	model_accept(&m, &w[1]);
	CHECK_RC(w[2].result, GB_ECONFLICT);
	model_accept(&m, &w[3]);
	model_accept(&m, &w[4]);
	CHECK_RC(w[5].result, GB_EINVAL);
	CHECK_RC(w[6].result, GB_ECONFLICT);
	for (int i = 0; i < 7; i++)
		if (w[i].result != 0)
			CHECK(!w[i].duplicate && w[i].base_offset == 0);
	check_stream(s, &m, 0);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 3);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "q", &seq), 0);
	CHECK(seq == 1);
	/* The failed seq is still storable, then the one behind it. */
	CHECK_RC(append_one(s, &m, "p", 4, 1, 40, 30), 0);
	CHECK_RC(append_one(s, &m, "p", 5, 1, 40, 30), 0);
	check_stream(s, &m, 0);
	CHECK_RC(gb_store_verify_stream(s, m.dataset, NULL), 0);
	gb_store_close(&s);
}

/* ------------------------------------------------------------ key epochs */

static gb_write key_item(gb_write_kind kind, const char *dataset,
			 uint32_t epoch, const uint8_t *commitment,
			 uint64_t now_ns)
{
	gb_write w;

	memset(&w, 0, sizeof w);
	w.kind = kind;
	w.dataset = dataset;
	w.key_epoch = epoch;
	w.key_commitment = commitment;
	w.now_ns = now_ns;
	w.result = 12345;
	return w;
}

static gb_write wrap_item(const char *dataset, uint32_t epoch,
			  const char *recipient, const uint8_t *wrap,
			  size_t len)
{
	gb_write w = key_item(GB_WRITE_WRAP, dataset, epoch, NULL, 0);

	w.dept = recipient;
	w.wrap = wrap;
	w.wrap_len = len;
	return w;
}

/* Batch bytes of seq 1..15 of the epochs test's stream, as the model
 * expects them; they live as long as the items pointing at them. */
static uint8_t epoch_batches[16][40];

static gb_write epoch_append(const struct model *m, uint64_t seq,
			     uint32_t epoch, const uint8_t *commitment,
			     uint64_t now_ns)
{
	uint8_t *data = epoch_batches[seq % 16];
	gb_write w;

	fill_batch(data, sizeof epoch_batches[0], m->tag, seq);
	w = append_item(m->dataset, "p", seq, 1, data,
			sizeof epoch_batches[0], now_ns);

	w.key_epoch = epoch;
	w.key_commitment = commitment;
	return w;
}

/* The stored key state of `dataset` is exactly this (commitment NULL:
 * all zero). */
static bool epoch_is(gb_store *s, const char *dataset, uint32_t current,
		     bool retired, const uint8_t *commitment, uint64_t created)
{
	static const uint8_t zero[32];
	gb_epoch_state st;

	memset(&st, 0xa5, sizeof st);
	if (gb_store_epoch_get(s, dataset, &st) != 0)
		return false;
	return st.current == current && st.retired == retired &&
	       st.created_ns == created &&
	       memcmp(st.commitment, commitment ? commitment : zero, 32) == 0;
}

/* The stored wrap of (dataset, epoch, recipient) is exactly `want`. */
static bool wrap_is(gb_store *s, const char *dataset, uint32_t epoch,
		    const char *recipient, const uint8_t *want, size_t len)
{
	uint8_t *got = NULL;
	size_t got_len = 0;
	bool same;

	if (gb_store_wrap_get(s, dataset, epoch, recipient, &got, &got_len) != 0)
		return false;
	same = got && got_len == len && memcmp(got, want, len) == 0;
	free(got);
	return same;
}

static void test_epochs(void)
{
	static struct model m;
	char dir[128], name255[256], long_name[300];
	gb_store *s = NULL;
	uint8_t c[5][32], wrong[32];
	uint8_t wr[6][100];
	uint8_t d[40];
	gb_write w[12];
	gb_epoch_state st;
	uint8_t *out;
	size_t out_len;
	uint64_t seq;

	make_dir(dir, sizeof dir, "epochs");
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	model_init(&m, "ds.key", 'e');
	for (int i = 0; i < 5; i++)
		memset(c[i], 0x11 * (i + 1), sizeof c[i]);
	memcpy(wrong, c[1], sizeof wrong);
	wrong[31] ^= 1; /* differs from epoch 1's only in the last byte */
	for (int i = 0; i < 6; i++)
		fill_batch(wr[i], sizeof wr[i], 'w', (uint64_t)i);
	memset(name255, 'y', sizeof name255 - 1);
	name255[sizeof name255 - 1] = 0;
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = 0;
	fill_batch(d, sizeof d, 'e', 1);

	/* No epoch yet: appends under one, wraps and retires find none. */
	CHECK(epoch_is(s, m.dataset, 0, false, NULL, 0));
	CHECK_RC(gb_store_epoch_get(s, "", &st), GB_EINVAL);
	w[0] = epoch_append(&m, 1, 1, c[1], 100);
	w[1] = wrap_item(m.dataset, 1, "health", wr[0], 10);
	w[2] = key_item(GB_WRITE_RETIRE, m.dataset, 1, NULL, 100);
	CHECK_RC(gb_store_write_group(s, w, 3), 0);
	CHECK_RC(w[0].result, GB_EEPOCH);
	CHECK_RC(w[1].result, GB_EEPOCH);
	CHECK(w[2].result == 0);
	CHECK(epoch_is(s, m.dataset, 0, false, NULL, 0));
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "health", NULL, NULL),
		 GB_ENOTFOUND);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 0);

	/* Epochs open in order only, each with a commitment. */
	w[0] = key_item(GB_WRITE_EPOCH, m.dataset, 2, c[2], 500);
	w[1] = key_item(GB_WRITE_EPOCH, m.dataset, 0, c[1], 500);
	w[2] = key_item(GB_WRITE_EPOCH, m.dataset, 1, NULL, 500);
	w[3] = key_item(GB_WRITE_EPOCH, "", 1, c[1], 500);
	w[4] = key_item(GB_WRITE_EPOCH, NULL, 1, c[1], 500);
	w[5] = key_item(GB_WRITE_EPOCH, m.dataset, 1, c[1], 500);
	w[6] = key_item(GB_WRITE_EPOCH, m.dataset, 1, c[2], 600);
	w[7] = key_item(GB_WRITE_EPOCH, m.dataset, 3, c[3], 600);
	CHECK_RC(gb_store_write_group(s, w, 8), 0);
	CHECK_RC(w[0].result, GB_EEPOCH);
	CHECK_RC(w[1].result, GB_EEPOCH);
	CHECK_RC(w[2].result, GB_EINVAL);
	CHECK_RC(w[3].result, GB_EINVAL);
	CHECK_RC(w[4].result, GB_EINVAL);
	CHECK(w[5].result == 0);
	CHECK_RC(w[6].result, GB_EEPOCH); /* 1 is open already */
	CHECK_RC(w[7].result, GB_EEPOCH); /* 3 before 2 */
	CHECK(epoch_is(s, m.dataset, 1, false, c[1], 500));

	/* Appends under epoch 1: a rejected one uses up no seq. */
	w[0] = epoch_append(&m, 1, 1, c[1], 1000);
	w[1] = epoch_append(&m, 2, 1, wrong, 1000);
	w[2] = epoch_append(&m, 2, 1, NULL, 1000);
	w[3] = epoch_append(&m, 2, 2, c[1], 1000);
	w[4] = epoch_append(&m, 2, 2, c[2], 1000);
	w[5] = epoch_append(&m, 2, 1, c[1], 1000);
	w[6] = epoch_append(&m, 3, 0, NULL, 1000); /* unchecked */
	w[7] = append_item("ds.nokey", "p", 1, 1, d, sizeof d, 1000);
	w[7].key_epoch = 1;
	w[7].key_commitment = c[1];
	CHECK_RC(gb_store_write_group(s, w, 8), 0);
	model_accept(&m, &w[0]);
	for (int i = 1; i <= 4; i++) {
		CHECK_RC(w[i].result, GB_EEPOCH);
		CHECK(!w[i].duplicate && w[i].base_offset == 0);
	}
	model_accept(&m, &w[5]);
	model_accept(&m, &w[6]);
	CHECK_RC(w[7].result, GB_EEPOCH); /* epochs are per dataset */
	check_stream(s, &m, 0);
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 3);
	CHECK_RC(gb_store_last_seq(s, "ds.nokey", "p", &seq), 0);
	CHECK(seq == 0);

	/* Wraps: stored byte for byte, the first one kept. */
	CHECK(epoch_is(s, name255, 0, false, NULL, 0));
	w[0] = wrap_item(m.dataset, 1, "health", wr[1], sizeof wr[1]);
	w[1] = wrap_item(m.dataset, 1, "tax", wr[2], 1);
	w[2] = wrap_item(m.dataset, 1, "health", wr[3], 50);
	w[3] = wrap_item(m.dataset, 2, "health", wr[3], 50);
	w[4] = wrap_item("ds.nokey", 1, "health", wr[3], 50);
	w[5] = wrap_item(m.dataset, 1, "edu", NULL, 50);
	w[6] = wrap_item(m.dataset, 1, "edu", wr[3], 0);
	w[7] = wrap_item(m.dataset, 1, "", wr[3], 50);
	w[8] = wrap_item(m.dataset, 1, NULL, wr[3], 50);
	/* Both names fit, the wrap key would pass LMDB's limit. */
	w[9] = key_item(GB_WRITE_EPOCH, name255, 1, c[1], 7);
	w[10] = wrap_item(name255, 1, name255, wr[3], 50);
	w[11] = wrap_item(name255, 1, "edu", wr[4], 60);
	CHECK_RC(gb_store_write_group(s, w, 12), 0);
	CHECK(w[0].result == 0 && w[1].result == 0 && w[2].result == 0);
	CHECK_RC(w[3].result, GB_EEPOCH);
	CHECK_RC(w[4].result, GB_EEPOCH);
	for (int i = 5; i <= 8; i++)
		CHECK_RC(w[i].result, GB_EINVAL);
	CHECK(w[9].result == 0);
	CHECK_RC(w[10].result, GB_EINVAL);
	CHECK(w[11].result == 0);
	CHECK(wrap_is(s, m.dataset, 1, "health", wr[1], sizeof wr[1]));
	CHECK(wrap_is(s, m.dataset, 1, "tax", wr[2], 1));
	CHECK(wrap_is(s, name255, 1, "edu", wr[4], 60));
	CHECK(epoch_is(s, name255, 1, false, c[1], 7));
	out = (uint8_t *)d;
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "edu", &out, &out_len),
		 GB_ENOTFOUND);
	CHECK(out == NULL);
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 2, "health", &out, &out_len),
		 GB_ENOTFOUND);
	CHECK_RC(gb_store_wrap_get(s, "ds.nokey", 1, "health", &out, &out_len),
		 GB_ENOTFOUND);
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "health", NULL, NULL), 0);
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "tax", NULL, NULL), 0);
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "edu", NULL, NULL),
		 GB_ENOTFOUND);
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 1, "", NULL, NULL), GB_EINVAL);

	/* Retire: only the current epoch, and nothing more under it. */
	w[0] = key_item(GB_WRITE_RETIRE, m.dataset, 2, NULL, 0);
	w[1] = epoch_append(&m, 4, 1, c[1], 2000);
	w[2] = key_item(GB_WRITE_RETIRE, m.dataset, 1, NULL, 0);
	w[3] = epoch_append(&m, 5, 1, c[1], 2000);
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK(w[0].result == 0);
	model_accept(&m, &w[1]); /* retiring epoch 2 did nothing */
	CHECK(w[2].result == 0);
	CHECK_RC(w[3].result, GB_EEPOCH);
	CHECK(epoch_is(s, m.dataset, 1, true, c[1], 500));
	w[0] = epoch_append(&m, 5, 1, c[1], 2100);
	w[1] = key_item(GB_WRITE_EPOCH, m.dataset, 1, c[1], 2100);
	w[2] = key_item(GB_WRITE_EPOCH, m.dataset, 3, c[3], 2100);
	CHECK_RC(gb_store_write_group(s, w, 3), 0);
	CHECK_RC(w[0].result, GB_EEPOCH);
	CHECK_RC(w[1].result, GB_EEPOCH); /* a retired epoch stays retired */
	CHECK_RC(w[2].result, GB_EEPOCH);
	CHECK(epoch_is(s, m.dataset, 1, true, c[1], 500));
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 4);

	/* Epoch 2 opens after the retire and takes the appends. */
	w[0] = key_item(GB_WRITE_EPOCH, m.dataset, 2, c[2], 900);
	w[1] = epoch_append(&m, 5, 2, c[2], 2200);
	w[2] = epoch_append(&m, 6, 1, c[1], 2200);
	w[3] = epoch_append(&m, 6, 2, c[1], 2200);
	w[4] = epoch_append(&m, 6, 2, c[2], 2200);
	/* A retired epoch's wrap can still be stored (it is in the log). */
	w[5] = wrap_item(m.dataset, 1, "edu", wr[5], 30);
	w[6] = wrap_item(m.dataset, 2, "health", wr[4], 70);
	CHECK_RC(gb_store_write_group(s, w, 7), 0);
	CHECK(w[0].result == 0);
	model_accept(&m, &w[1]);
	CHECK_RC(w[2].result, GB_EEPOCH);
	CHECK_RC(w[3].result, GB_EEPOCH);
	model_accept(&m, &w[4]);
	CHECK(w[5].result == 0 && w[6].result == 0);
	CHECK(epoch_is(s, m.dataset, 2, false, c[2], 900));
	CHECK(wrap_is(s, m.dataset, 1, "edu", wr[5], 30));
	CHECK(wrap_is(s, m.dataset, 2, "health", wr[4], 70));
	CHECK(wrap_is(s, m.dataset, 1, "health", wr[1], sizeof wr[1]));
	check_stream(s, &m, 0);

	/* Items of a group apply in order: an append after a retire in the
	 * same group is refused, one before it is stored; a wrap before
	 * its epoch's EPOCH item is refused, one after it is stored. */
	w[0] = epoch_append(&m, 7, 2, c[2], 3000);
	w[1] = key_item(GB_WRITE_RETIRE, m.dataset, 2, NULL, 0);
	w[2] = epoch_append(&m, 8, 2, c[2], 3000);
	w[3] = wrap_item(m.dataset, 3, "tax", wr[5], 20);
	w[4] = key_item(GB_WRITE_EPOCH, m.dataset, 3, c[3], 1200);
	w[5] = wrap_item(m.dataset, 3, "tax", wr[3], 25);
	w[6] = epoch_append(&m, 8, 3, c[3], 3000);
	CHECK_RC(gb_store_write_group(s, w, 7), 0);
	model_accept(&m, &w[0]);
	CHECK(w[1].result == 0);
	CHECK_RC(w[2].result, GB_EEPOCH);
	CHECK_RC(w[3].result, GB_EEPOCH);
	CHECK(w[4].result == 0 && w[5].result == 0);
	model_accept(&m, &w[6]);
	CHECK(epoch_is(s, m.dataset, 3, false, c[3], 1200));
	CHECK(wrap_is(s, m.dataset, 3, "tax", wr[3], 25));
	check_stream(s, &m, 0);

	/* A bad RETIRE item is rejected alone. */
	w[0] = key_item(GB_WRITE_RETIRE, "", 3, NULL, 0);
	w[1] = key_item(GB_WRITE_RETIRE, NULL, 3, NULL, 0);
	w[2] = key_item(GB_WRITE_RETIRE, long_name, 3, NULL, 0);
	w[3] = epoch_append(&m, 9, 3, c[3], 3100);
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK_RC(w[0].result, GB_EINVAL);
	CHECK_RC(w[1].result, GB_EINVAL);
	CHECK_RC(w[2].result, GB_EINVAL);
	model_accept(&m, &w[3]);
	CHECK(epoch_is(s, m.dataset, 3, false, c[3], 1200));

	/* Retire epoch 3, then everything survives a close and reopen. */
	w[0] = key_item(GB_WRITE_RETIRE, m.dataset, 3, NULL, 0);
	CHECK_RC(gb_store_write_group(s, w, 1), 0);
	CHECK(w[0].result == 0);
	gb_store_close(&s);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	CHECK(epoch_is(s, m.dataset, 3, true, c[3], 1200));
	CHECK(epoch_is(s, name255, 1, false, c[1], 7));
	CHECK(epoch_is(s, "ds.nokey", 0, false, NULL, 0));
	CHECK(wrap_is(s, m.dataset, 1, "health", wr[1], sizeof wr[1]));
	CHECK(wrap_is(s, m.dataset, 1, "tax", wr[2], 1));
	CHECK(wrap_is(s, m.dataset, 1, "edu", wr[5], 30));
	CHECK(wrap_is(s, m.dataset, 2, "health", wr[4], 70));
	CHECK(wrap_is(s, m.dataset, 3, "tax", wr[3], 25));
	CHECK_RC(gb_store_wrap_get(s, m.dataset, 3, "health", NULL, NULL),
		 GB_ENOTFOUND);
	check_stream(s, &m, 0);
	w[0] = epoch_append(&m, 10, 3, c[3], 4000);
	w[1] = key_item(GB_WRITE_EPOCH, m.dataset, 5, c[4], 4000);
	w[2] = key_item(GB_WRITE_EPOCH, m.dataset, 4, c[4], 4000);
	w[3] = epoch_append(&m, 10, 4, c[4], 4000);
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK_RC(w[0].result, GB_EEPOCH);
	CHECK_RC(w[1].result, GB_EEPOCH);
	CHECK(w[2].result == 0);
	model_accept(&m, &w[3]);
	CHECK(epoch_is(s, m.dataset, 4, false, c[4], 4000));
	check_stream(s, &m, 0);
	CHECK_RC(gb_store_verify_stream(s, m.dataset, NULL), 0);
	gb_store_close(&s);

	/* A malformed epochs record: items that need it fail alone with
	 * GB_ECORRUPT, the rest of the group goes through. */
	CHECK(raw_put(dir, RAW_EPOCHS, m.dataset, "short", 5) == 0);
	CHECK_RC(gb_store_open(dir, 0, &s), 0);
	if (!s)
		return;
	CHECK_RC(gb_store_epoch_get(s, m.dataset, &st), GB_ECORRUPT);
	w[0] = epoch_append(&m, 11, 4, c[4], 5000);
	w[1] = key_item(GB_WRITE_EPOCH, m.dataset, 5, c[4], 5000);
	w[2] = key_item(GB_WRITE_RETIRE, m.dataset, 4, NULL, 0);
	w[3] = key_item(GB_WRITE_EPOCH, name255, 2, c[2], 5000);
	CHECK_RC(gb_store_write_group(s, w, 4), 0);
	CHECK_RC(w[0].result, GB_ECORRUPT);
	CHECK_RC(w[1].result, GB_ECORRUPT);
	CHECK_RC(w[2].result, GB_ECORRUPT);
	CHECK(w[3].result == 0);
	CHECK(epoch_is(s, name255, 2, false, c[2], 5000));
	CHECK_RC(gb_store_last_seq(s, m.dataset, "p", &seq), 0);
	CHECK(seq == 10);
	check_stream(s, &m, 0);
	gb_store_close(&s);
}

/* ------------------------------------------------------------ threads */

struct thread_test {
	gb_store *s;
	atomic_bool done;
	int writer_errors;
	int reader_errors;
	unsigned reads;
	size_t len;                     /* bytes of each batch */
};

static void *writer_main(void *arg)
{
	struct thread_test *t = arg;
	uint8_t *data = malloc(2 * t->len);

	for (uint64_t g = 1; data && g <= 200; g++) {
		gb_write w[2];

		fill_batch(data, t->len, '1', g);
		fill_batch(data + t->len, t->len, '2', g);
		w[0] = append_item("t.one", "w", g, (uint32_t)(g % 5 + 1),
				   data, t->len, g * 10);
		w[1] = append_item("t.two", "w", g, 1, data + t->len, t->len,
				   g * 10);
		if (gb_store_write_group(t->s, w, 2) != 0 || w[0].result ||
		    w[1].result)
			t->writer_errors++;
	}
	if (!data)
		t->writer_errors++;
	free(data);
	atomic_store(&t->done, true);
	return NULL;
}

struct dense_check {
	uint64_t next;
	uint64_t last_time;
	int errors;
	size_t len;
};

static int check_dense(void *ctx, const gb_stored_batch *b)
{
	struct dense_check *d = ctx;

	if (b->base_offset != d->next || b->broker_time_ns <= d->last_time ||
	    b->signed_batch_len != d->len)
		d->errors++;
	d->next = b->base_offset + b->record_count;
	d->last_time = b->broker_time_ns;
	return 0;
}

static void *reader_main(void *arg)
{
	struct thread_test *t = arg;

	while (!atomic_load(&t->done)) {
		struct dense_check d = {0, 0, 0, t->len};
		gb_stream_info info;
		uint64_t off;
		int n;

		n = gb_store_read(t->s, "t.one", 0, SIZE_MAX, check_dense, &d);
		if (n < 0 || d.errors)
			t->reader_errors++;
		if (gb_store_stream_info(t->s, "t.two", &info) != 0 ||
		    gb_store_offset_for_time(t->s, "t.one", 1000, &off) != 0 ||
		    gb_store_verify_stream(t->s, "t.two", NULL) != 0)
			t->reader_errors++;
		t->reads++;
	}
	return NULL;
}

/* A writer beside a reader. With a small map the writer grows it several
 * times while the reader is inside its transactions (MDB_MAP_FULL is
 * handled by growing, gb_store.h). */
static void test_threads(const char *name, uint64_t map_size, size_t len)
{
	char dir[128];
	struct thread_test t;
	pthread_t wt, rt;
	gb_stream_info info;

	memset(&t, 0, sizeof t);
	atomic_init(&t.done, false);
	t.len = len;
	make_dir(dir, sizeof dir, name);
	CHECK_RC(gb_store_open(dir, map_size, &t.s), 0);
	if (!t.s)
		return;
	CHECK(pthread_create(&rt, NULL, reader_main, &t) == 0);
	CHECK(pthread_create(&wt, NULL, writer_main, &t) == 0);
	pthread_join(wt, NULL);
	pthread_join(rt, NULL);
	CHECK(t.writer_errors == 0);
	CHECK(t.reader_errors == 0);
	CHECK(t.reads > 0);
	CHECK_RC(gb_store_stream_info(t.s, "t.two", &info), 0);
	CHECK(info.next_offset == 200 && info.batch_count == 200);
	CHECK_RC(gb_store_verify_stream(t.s, "t.one", NULL), 0);
	if (map_size)
		CHECK(gb_store_map_size(t.s) >= 400 * len);
	gb_store_close(&t.s);
}

int main(void)
{
	snprintf(tmp_root, sizeof tmp_root, "/tmp/gb_store_test.XXXXXX");
	if (!mkdtemp(tmp_root)) {
		perror("mkdtemp");
		return 1;
	}
	CHECK_RC(gb_store_open(NULL, 0, NULL), GB_EINVAL);
	test_append_and_read();
	test_idempotence();
	test_sequence_rule();
	test_offset_for_time();
	test_cursors_and_reopen();
	test_corruption();
	test_map_growth();
	test_dedupe();
	test_epochs();
	test_threads("threads", 0, 512);
	test_threads("threads-grow", 256u << 10, 16u << 10);
	nftw(tmp_root, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	TEST_EXIT();
}
