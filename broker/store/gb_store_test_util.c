/* Helpers shared by the store's tests (gb_store_test_util.h). */
#include "gb_store_test_util.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_chain.h"
#include "gb_error.h"
#include "gb_test.h"

static char tmp_root[64];

bool st_root_init(const char *prefix)
{
	snprintf(tmp_root, sizeof tmp_root, "/tmp/%s.XXXXXX", prefix);
	if (!mkdtemp(tmp_root)) {
		perror("mkdtemp");
		return false;
	}
	return true;
}

void st_case_dir(char *out, size_t out_len, const char *name)
{
	snprintf(out, out_len, "%s/%s", tmp_root, name);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void st_root_remove(void)
{
	nftw(tmp_root, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int st_failures(void)
{
	return gb_test_failures;
}

void st_fill_batch(uint8_t *buf, size_t len, char tag, uint64_t seq)
{
	uint32_t x = (uint32_t)tag * 2654435761u ^ (uint32_t)seq * 40503u;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
}

/* ------------------------------------------------------------ items */

gb_write st_append_item(const char *dataset, const char *producer,
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

gb_write st_cursor_item(const char *dept, const char *dataset,
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

gb_write st_key_item(gb_write_kind kind, const char *dataset, uint32_t epoch,
		     const uint8_t *commitment, uint64_t now_ns)
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

gb_write st_wrap_item(const char *dataset, uint32_t epoch,
		      const char *recipient, const uint8_t *wrap, size_t len)
{
	gb_write w = st_key_item(GB_WRITE_WRAP, dataset, epoch, NULL, 0);

	w.dept = recipient;
	w.wrap = wrap;
	w.wrap_len = len;
	return w;
}

gb_write st_audit_item(const char *stream, const uint8_t *bytes, size_t len,
		       uint64_t now)
{
	gb_write w;

	memset(&w, 0, sizeof w);
	w.kind = GB_WRITE_AUDIT;
	w.dataset = stream;
	w.signed_batch = bytes;
	w.signed_batch_len = len;
	w.record_count = 1;
	w.now_ns = now;
	return w;
}

gb_write st_request_item(uint64_t id, const char *value)
{
	gb_write w;

	memset(&w, 0, sizeof w);
	w.kind = GB_WRITE_REQUEST;
	w.request_id = id;
	w.value = (const uint8_t *)value;
	w.value_len = value ? strlen(value) : 0;
	return w;
}

int st_write_one(gb_store *s, gb_write *w)
{
	int rc = gb_store_write_group(s, w, 1);

	return rc ? rc : w->result;
}

int st_remember(void *arg, uint64_t offset, const uint8_t *value, size_t len)
{
	struct st_seen *s = arg;

	(void)value;
	if (s->n < 16) {
		s->offsets[s->n] = offset;
		s->lens[s->n] = len;
	}
	s->n++;
	return 0;
}

int st_count_policy(void *arg, const gb_stored_policy *p)
{
	struct st_policy_seen *ps = arg;

	ps->n++;
	ps->loads = p->load_count;
	ps->len = p->config_len;
	ps->last = p->loaded_ns[p->load_count - 1];
	return 0;
}

/* ------------------------------------------------------------ model */

void st_model_init(struct st_model *m, const char *dataset, char tag)
{
	memset(m, 0, sizeof *m);
	m->dataset = dataset;
	m->tag = tag;
}

void st_model_accept(struct st_model *m, const gb_write *w)
{
	struct st_model_batch *b;
	uint8_t want[GB_HASH_BYTES];
	uint64_t time = w->now_ns > m->last_time ? w->now_ns : m->last_time + 1;

	CHECK(w->result == 0);
	CHECK(!w->duplicate);
	CHECK(w->base_offset == m->next);
	CHECK(w->broker_time_ns == time);
	gb_chain_next(m->head, m->next, time, w->signed_batch,
		      w->signed_batch_len, want);
	CHECK(memcmp(want, w->chain_hash, GB_HASH_BYTES) == 0);
	if (m->n == ST_MODEL_BATCHES)
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

int st_check_batch(void *ctx, const gb_stored_batch *sb)
{
	struct st_read_check *rc = ctx;
	const struct st_model_batch *b;
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
	st_fill_batch(want, b->len, rc->m->tag, b->seq);
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
static size_t model_index(const struct st_model *m, uint64_t offset)
{
	for (size_t i = 0; i < m->n; i++)
		if (offset >= m->b[i].base && offset < m->b[i].base + m->b[i].count)
			return i;
	return m->n;
}

uint64_t st_model_offset_for_time(const struct st_model *m, uint64_t t)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->b[i].time >= t)
			return m->b[i].base;
	return m->next;
}

void st_check_stream(gb_store *s, const struct st_model *m, uint64_t offset)
{
	struct st_read_check rc = {m, model_index(m, offset), 0, 0, 0, 0};
	gb_stream_info info;
	int got = gb_store_read(s, m->dataset, offset, SIZE_MAX, st_check_batch,
				&rc);

	CHECK(got == (int)(m->n - model_index(m, offset)));
	CHECK(rc.visited == m->n - model_index(m, offset));
	CHECK(rc.mismatches == 0);
	CHECK_RC(gb_store_stream_info(s, m->dataset, &info), 0);
	CHECK(info.next_offset == m->next);
	CHECK(info.batch_count == m->n);
	CHECK(info.last_time_ns == m->last_time);
	CHECK(memcmp(info.head_hash, m->head, GB_HASH_BYTES) == 0);
}

int st_append_one(gb_store *s, struct st_model *m, const char *producer,
		  uint64_t seq, uint32_t count, size_t len, uint64_t now)
{
	uint8_t *data = malloc(len);
	gb_write w;
	int rc;

	if (!data)
		return GB_ENOMEM;
	st_fill_batch(data, len, m->tag, seq);
	w = st_append_item(m->dataset, producer, seq, count, data, len, now);
	rc = gb_store_write_group(s, &w, 1);
	if (rc == 0) {
		CHECK(w.result == 0);
		if (w.result == 0)
			st_model_accept(m, &w);
	}
	free(data);
	return rc;
}

/* ------------------------------------------------------------ key epochs */

/* Batch bytes of seq 1..15 of an epochs test's stream, as the model
 * expects them; they live as long as the items pointing at them. */
static uint8_t epoch_batches[16][40];

gb_write st_epoch_append(const struct st_model *m, uint64_t seq,
			 uint32_t epoch, const uint8_t *commitment,
			 uint64_t now_ns)
{
	uint8_t *data = epoch_batches[seq % 16];
	gb_write w;

	st_fill_batch(data, sizeof epoch_batches[0], m->tag, seq);
	w = st_append_item(m->dataset, "p", seq, 1, data,
			   sizeof epoch_batches[0], now_ns);

	w.key_epoch = epoch;
	w.key_commitment = commitment;
	return w;
}

bool st_epoch_is(gb_store *s, const char *dataset, uint32_t current,
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

bool st_wrap_is(gb_store *s, const char *dataset, uint32_t epoch,
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

		st_fill_batch(data, t->len, '1', g);
		st_fill_batch(data + t->len, t->len, '2', g);
		w[0] = st_append_item("t.one", "w", g, (uint32_t)(g % 5 + 1),
				      data, t->len, g * 10);
		w[1] = st_append_item("t.two", "w", g, 1, data + t->len, t->len,
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

void st_writer_beside_reader(gb_store *s, size_t len)
{
	struct thread_test t;
	pthread_t wt, rt;
	gb_stream_info info;

	memset(&t, 0, sizeof t);
	atomic_init(&t.done, false);
	t.s = s;
	t.len = len;
	CHECK(pthread_create(&rt, NULL, reader_main, &t) == 0);
	CHECK(pthread_create(&wt, NULL, writer_main, &t) == 0);
	pthread_join(wt, NULL);
	pthread_join(rt, NULL);
	CHECK(t.writer_errors == 0);
	CHECK(t.reader_errors == 0);
	CHECK(t.reads > 0);
	CHECK_RC(gb_store_stream_info(s, "t.two", &info), 0);
	CHECK(info.next_offset == 200 && info.batch_count == 200);
	CHECK_RC(gb_store_verify_stream(s, "t.one", NULL), 0);
}
