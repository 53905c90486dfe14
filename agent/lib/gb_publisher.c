/* Publisher: records -> sealed, signed batches -> pipelined Publish frames,
 * each kept until its PublishAck (DESIGN §4, §5, §7, §13).
 *
 * Records are appended straight into the serialized RecordList of the
 * current batch (gb_envelope_append_record), so a record costs one copy;
 * the buffer is sized ahead (never realloc'd, which would leave plaintext
 * behind in freed memory). A full batch is sealed under the dataset key of
 * the current epoch and signed once (gb_envelope_build), wrapped in a
 * Publish frame and sent; up to `window` batches are in flight. Each keeps
 * its encoded frame, so resending after a 5xx or a reconnect sends the very
 * same bytes with the same producer_seq and request_id, and the broker's
 * idempotence turns a repeat into a duplicate ack.
 *
 * Keys: before the first batch the publisher does the owner's key work
 * (gb_client_sync_keys: open an epoch or recover the current key from its
 * own wrap). When the broker refuses a batch's epoch (412: the epoch was
 * retired after a revocation, or another agent opened a newer one) the
 * publisher syncs again and re-seals every unacknowledged batch under the
 * epoch now current, with its original producer_seq and a new request_id,
 * and sends them in order. That is why each batch keeps its plaintext until
 * its ack, when it is wiped. Batches of the old key that were stored after
 * all are acked as duplicates of their seq; answers to the old request_ids
 * are ignored. Key work the broker pushes (a reload added readers or
 * revoked one) is done at the next call into the publisher.
 *
 * Dedupe: a record given an id carries its tag (a hash of the id keyed
 * with the department's dedupe key, gb_envelope.h) in the signed header.
 * When the broker has some of a batch's tags inside its window it answers
 * 409 with their indexes; the publisher cuts those records out of the
 * plaintext (each batch keeps where its records start), seals the rest
 * under the same seq and sends it at once, holding the batches after it
 * like a 5xx retry. A batch all of whose records the broker had is acked
 * as a duplicate with duplicate_records = its count.
 *
 * Trust: acks are matched by request_id and must name our dataset, the
 * batch's seq and its record count, or the job fails with GB_EPROTO. */
#include "gb_client_internal.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_envelope.h"
#include "gb_keyring.h"

#define DEFAULT_MAX_RECORDS 1000u
#define DEFAULT_MAX_BYTES (1u << 20)
#define DEFAULT_WINDOW 16u
#define DEFAULT_MAX_RETRIES 8u
#define MAX_WINDOW 1024u
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 5000
/* Room left in a frame for the Publish/SignedBatch/header framing. */
#define FRAME_OVERHEAD 4096u
/* A record's framing inside the RecordList, at most: tags, lengths,
 * produced_at_ns. */
#define RECORD_OVERHEAD 32u
/* Resend a batch the broker has neither acked nor refused for this long
 * while the connection stays alive (a lost ack must not hang flush). */
#define ACK_TIMEOUT_MIN_MS 30000
/* First size of a batch buffer; later ones start at what the last needed. */
#define BUFFER_FIRST 4096u
/* Re-seals after 412 without any ack in between before the job fails. */
#define MAX_RESEAL_ROUNDS 4u

struct inflight {
	uint64_t seq;
	uint8_t *tags;                /* record_count tags, or NULL (dedupe) */
	size_t *starts;               /* where each record starts in plain */
	uint64_t request_id;
	uint8_t *frame;               /* encoded ClientFrame{publish} */
	size_t frame_len;
	uint8_t *plain;               /* its RecordList, wiped after the ack */
	size_t plain_len;
	uint32_t epoch;               /* key epoch it is sealed under */
	uint32_t records;
	unsigned retries;             /* resends after 5xx */
	int64_t retry_at_ms;          /* 0: not waiting to be retried */
	int64_t sent_ms;
	bool sent;
	bool acked;
};

struct gb_publisher {
	gb_client_handler handler;    /* frames by the request ids in flight */
	gb_client *c;
	char dataset[GB_MAX_ID_LEN + 1];
	gb_publisher_options o;
	size_t max_bytes;             /* effective, after the frame limit */
	uint8_t *buf;                 /* current batch: serialized RecordList */
	size_t len, cap;
	size_t cap_hint;              /* what the last batch needed */
	uint32_t count;
	uint8_t *tags;                /* current batch: a tag per record, or
					 NULL while no record has an id */
	size_t *starts;               /* current batch: record starts in buf */
	size_t starts_cap;            /* entries of tags and starts */
	crypto_generichash_state tag_base; /* dataset part of every tag */
	struct inflight *ring;        /* `window` slots, oldest at head */
	unsigned head, n;
	uint64_t last_seq;
	bool paused;                  /* a 5xx is being retried: hold new batches */
	uint32_t epoch;               /* key epoch new batches use; 0: no key yet */
	bool rekey;                   /* a 412 came back: sync keys, re-seal */
	unsigned reseal_rounds;       /* re-seals since the last ack */
	char rekey_why[GB_MAX_MESSAGE_LEN + 1]; /* the broker's 412 sentence */
	int failed;                   /* sticky */
	char failed_why[GB_AGENT_ERROR_MAX];
	unsigned failed_status;
	gb_publisher_stats st;
};

void gb_publisher_options_init(gb_publisher_options *o)
{
	o->max_records = DEFAULT_MAX_RECORDS;
	o->max_bytes = DEFAULT_MAX_BYTES;
	o->window = DEFAULT_WINDOW;
	o->max_retries = DEFAULT_MAX_RETRIES;
}

static struct inflight *slot(gb_publisher *p, unsigned i)
{
	return &p->ring[(p->head + i) % p->o.window];
}

/* ---------------------------------------------------------------- failure */

/* Fail the job: every later call returns `rc` and re-states the reason. */
static int fail(gb_publisher *p, int rc, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(gb_publisher *p, int rc, unsigned status, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return p->failed;
	va_start(ap, fmt);
	vsnprintf(p->failed_why, sizeof p->failed_why, fmt, ap);
	va_end(ap);
	p->failed = rc;
	p->failed_status = status ? status : gb_error_status(rc);
	return gb_client_fail(p->c, rc, p->failed_status, "%s", p->failed_why);
}

/* A client-level failure (give-up, interrupt, refused connection) also
 * ends the job; the client already holds the sentence. */
static int fail_from_client(gb_publisher *p, int rc)
{
	if (p->failed)
		return p->failed;
	p->failed = rc;
	p->failed_status = gb_client_last_status(p->c);
	snprintf(p->failed_why, sizeof p->failed_why, "%s",
		 gb_client_last_error(p->c));
	return rc;
}

static int restate(gb_publisher *p)
{
	return gb_client_fail(p->c, p->failed, p->failed_status, "%s",
			      p->failed_why);
}

/* ---------------------------------------------------------------- buffers */

/* Wipe plaintext before its memory goes back to the allocator. */
static void plain_free(uint8_t **buf, size_t len)
{
	if (*buf)
		sodium_memzero(*buf, len);
	free(*buf);
	*buf = NULL;
}

static void inflight_clear(struct inflight *e)
{
	plain_free(&e->plain, e->plain_len);
	free(e->tags);
	free(e->starts);
	free(e->frame);
	memset(e, 0, sizeof *e);
}

/* Make room for `extra` more bytes in the current batch. Grows by copying
 * and wiping, never by realloc, so no plaintext is left in freed memory. */
static int batch_reserve(gb_publisher *p, size_t extra)
{
	size_t need = p->len + extra, cap = p->cap;
	uint8_t *nb;

	if (need <= p->cap)
		return 0;
	if (cap < p->cap_hint)
		cap = p->cap_hint;
	if (cap < BUFFER_FIRST)
		cap = BUFFER_FIRST;
	while (cap < need)
		cap *= 2;
	nb = malloc(cap);
	if (!nb)
		return GB_ENOMEM;
	if (p->len)
		memcpy(nb, p->buf, p->len);
	plain_free(&p->buf, p->cap);
	p->buf = nb;
	p->cap = cap;
	if (cap > p->cap_hint)
		p->cap_hint = cap;
	return 0;
}

/* ---------------------------------------------------------------- sending */

static void send_slot(gb_publisher *p, struct inflight *e)
{
	e->sent = true;
	e->sent_ms = gb_agent_now_ms();
	e->retry_at_ms = 0;
	(void)gb_client_send_raw(p->c, e->frame, e->frame_len);
}

/* Send every batch held back while a retry was pending, in order. */
static void send_held(gb_publisher *p)
{
	for (unsigned i = 0; i < p->n && !p->paused; i++) {
		struct inflight *e = slot(p, i);
		if (!e->sent && !e->acked)
			send_slot(p, e);
	}
}

static bool retry_pending(gb_publisher *p)
{
	for (unsigned i = 0; i < p->n; i++)
		if (slot(p, i)->retry_at_ms)
			return true;
	return false;
}

/* Drop acknowledged batches from the head of the ring. */
static void pop_acked(gb_publisher *p)
{
	while (p->n && p->ring[p->head].acked) {
		struct inflight *e = &p->ring[p->head];
		inflight_clear(e);
		p->head = (p->head + 1) % p->o.window;
		p->n--;
	}
}

/* Whether `request_id` is that of a batch in flight. */
static bool owns_request(void *self, uint64_t request_id)
{
	const gb_publisher *p = self;

	for (unsigned i = 0; i < p->n; i++)
		if (p->ring[(p->head + i) % p->o.window].request_id ==
		    request_id)
			return true;
	return false;
}

static struct inflight *find_request(gb_publisher *p, uint64_t request_id)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct inflight *e = slot(p, i);
		if (e->request_id == request_id)
			return e;
	}
	return NULL;
}

static void on_ack(gb_publisher *p, const Govbus__V1__PublishAck *ack)
{
	struct inflight *e = find_request(p, ack->request_id);
	uint64_t last;

	if (!e || e->acked)
		return; /* a second ack for a resent batch */
	if (strcmp(ack->dataset, p->dataset) != 0 ||
	    ack->producer_seq != e->seq || ack->record_count != e->records ||
	    ack->base_offset > UINT64_MAX - e->records) {
		(void)fail(p, GB_EPROTO, 0,
			   "the broker acknowledged batch %" PRIu64 " of %s "
			   "with the wrong dataset, seq or record count",
			   e->seq, p->dataset);
		return;
	}
	e->acked = true;
	e->retry_at_ms = 0;
	p->reseal_rounds = 0;
	p->st.batches++;
	if (ack->duplicate)
		p->st.duplicates++;
	if (ack->duplicate && ack->duplicate_records == e->records) {
		/* Every record was stored before (dedupe): none of it is new,
		 * and the original offsets need not be contiguous. */
		p->st.duplicate_records += e->records;
	} else {
		last = ack->base_offset + e->records - 1;
		if (!p->st.have_offsets || ack->base_offset < p->st.first_offset)
			p->st.first_offset = ack->base_offset;
		if (!p->st.have_offsets || last > p->st.last_offset)
			p->st.last_offset = last;
		p->st.have_offsets = true;
		p->st.records += e->records;
	}
	pop_acked(p);
	if (p->paused && !retry_pending(p)) {
		p->paused = false;
		send_held(p);
	}
}

static int seal_slot(gb_publisher *p, struct inflight *e);

/* An earlier batch than e is still unacknowledged. */
static bool waits_behind(gb_publisher *p, const struct inflight *e)
{
	for (unsigned i = 0; i < p->n; i++) {
		const struct inflight *x = slot(p, i);
		if (x == e)
			return false;
		if (!x->acked)
			return true;
	}
	return false;
}

/* The broker refused batch e because records at err's indexes were
 * stored before (dedupe): cut them out, seal the rest under the same seq
 * and send it at the next tick, before the batches after it, which the
 * broker refuses (409) until it is stored and which wait like a retry. */
static int strip_duplicates(gb_publisher *p, struct inflight *e,
			    const Govbus__V1__Error *err)
{
	size_t n = err->n_duplicate_records, k = 0, len = 0, tl = 0;
	uint8_t *plain;

	if (!e->tags || n >= e->records ||
	    err->duplicate_records[n - 1] >= e->records)
		return fail(p, GB_EPROTO, 0,
			    "the broker named %zu duplicate records of batch %"
			    PRIu64 " of %s, which has %" PRIu32 " records%s",
			    n, e->seq, p->dataset, e->records,
			    e->tags ? "" : " without ids");
	plain = malloc(e->plain_len ? e->plain_len : 1);
	if (!plain)
		return fail(p, GB_ENOMEM, 0, "out of memory");
	for (uint32_t i = 0; i < e->records; i++) {
		size_t from = e->starts[i];
		size_t to = i + 1 < e->records ? e->starts[i + 1] : e->plain_len;

		if (k < n && err->duplicate_records[k] == i) {
			k++;
			continue;
		}
		memcpy(plain + len, e->plain + from, to - from);
		memmove(e->tags + tl * GB_RECORD_TAG_BYTES,
			e->tags + (size_t)i * GB_RECORD_TAG_BYTES,
			GB_RECORD_TAG_BYTES);
		e->starts[tl++] = len;
		len += to - from;
	}
	plain_free(&e->plain, e->plain_len);
	e->plain = plain;
	e->plain_len = len;
	e->records -= (uint32_t)n;
	p->st.duplicate_records += n;
	if (seal_slot(p, e) != 0)
		return p->failed;
	e->retry_at_ms = gb_agent_now_ms();
	p->paused = true;
	return 0;
}

static void on_error(gb_publisher *p, const Govbus__V1__Error *err)
{
	struct inflight *e = find_request(p, err->request_id);
	int rc = gb_error_from_status(err->status);

	if (!e || e->acked)
		return;
	if (err->status >= 500 && err->status < 600) {
		if (e->retries >= p->o.max_retries) {
			(void)fail(p, rc, err->status, "%s (gave up after %u "
				   "retries)", err->message, e->retries);
			return;
		}
		int64_t backoff = (int64_t)RETRY_FIRST_MS << e->retries;
		e->retries++;
		e->retry_at_ms = gb_agent_now_ms() +
				 (backoff < RETRY_MAX_MS ? backoff : RETRY_MAX_MS);
		/* Later batches would be stored first and make this seq
		 * unstorable (409): hold them until this one is through. */
		p->paused = true;
		return;
	}
	if (err->status == GB_STATUS_CONFLICT && err->n_duplicate_records) {
		/* Some records were stored before: send the others. */
		(void)strip_duplicates(p, e, err);
		return;
	}
	if (err->status == GB_STATUS_PRECONDITION) {
		/* The key epoch is no longer the dataset's current one: the
		 * batch was not stored; it is re-sealed at the next call. */
		e->sent = false;
		e->retry_at_ms = 0;
		if (!p->rekey)
			snprintf(p->rekey_why, sizeof p->rekey_why, "%s",
				 err->message);
		p->rekey = true;
		return;
	}
	if (err->status == GB_STATUS_CONFLICT &&
	    (p->rekey || (p->paused && waits_behind(p, e)))) {
		/* A broker that wants contiguous seqs refuses what follows a
		 * failed batch: send it again after that one (paused stays
		 * set until that one is acked, even once it is resent). */
		e->sent = false;
		return;
	}
	if (err->status == GB_STATUS_CONFLICT && e->retries > 0)
		(void)fail(p, rc, err->status,
			   "%s: batch %" PRIu64 " of %s failed on the broker "
			   "and a later batch was stored before its retry, so "
			   "its %" PRIu32 " records were not stored",
			   err->message, e->seq, p->dataset, e->records);
	else if (err->status == GB_STATUS_CONFLICT)
		(void)fail(p, rc, err->status,
			   "%s (is another agent publishing %s under this "
			   "department's key?)",
			   err->message, p->dataset);
	else
		(void)fail(p, rc, err->status, "%s", err->message);
}

/* A PublishAck or an Error for one of our batches. */
static void on_frame(void *self, gb_server_frame *frame)
{
	if (frame->body_case == GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK)
		on_ack(self, frame->publish_ack);
	else if (frame->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR)
		on_error(self, frame->error);
	gb_codec_server_free(&frame);
}

/* Resend every unacknowledged batch, in seq order. */
static void on_reconnect(void *self, bool restarted)
{
	gb_publisher *p = self;
	gb_event ev = {0};
	uint64_t resent = 0;

	if (p->failed)
		return;
	if (p->n == 0) {
		/* Nothing in flight: the broker's position may have moved. */
		uint64_t pos = gb_client_position(p->c, p->dataset);
		if (pos > p->last_seq)
			p->last_seq = pos;
	}
	p->paused = false;
	for (unsigned i = 0; i < p->n; i++) {
		struct inflight *e = slot(p, i);
		if (e->acked)
			continue;
		send_slot(p, e);
		resent++;
	}
	if (resent) {
		ev.kind = GB_EVENT_RESENT;
		ev.restarted = restarted;
		ev.dataset = p->dataset;
		ev.count = resent;
		gb_client_emit(p->c, &ev);
	}
}

/* Resend batches whose retry time has come; returns the next time (ms)
 * something is due, or INT64_MAX. */
static int64_t tick(void *self, int64_t now_ms)
{
	gb_publisher *p = self;
	int64_t next = INT64_MAX;
	int64_t ack_timeout = 10 * (int64_t)gb_client_timeout_ms(p->c);

	if (ack_timeout < ACK_TIMEOUT_MIN_MS)
		ack_timeout = ACK_TIMEOUT_MIN_MS;
	for (unsigned i = 0; i < p->n && !p->failed; i++) {
		struct inflight *e = slot(p, i);
		int64_t due;

		if (e->acked || !e->sent)
			continue;
		due = e->retry_at_ms ? e->retry_at_ms : e->sent_ms + ack_timeout;
		if (due <= now_ms) {
			send_slot(p, e);
			due = e->sent_ms + ack_timeout;
		}
		if (due < next)
			next = due;
	}
	return next;
}

/* ---------------------------------------------------------------- batches */

/* Seal e->plain under the current epoch into a new Publish frame with a
 * new request_id (the seq stays). */
static int seal_slot(gb_publisher *p, struct inflight *e)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Publish pub = GOVBUS__V1__PUBLISH__INIT;
	gb_keyring *kr = gb_client_keyring(p->c);
	gb_batch_meta meta = {0};
	const uint8_t *key;
	uint8_t *sb = NULL, *frame = NULL;
	size_t sb_len = 0, frame_len = 0;
	int rc;

	key = gb_keyring_borrow(kr, p->dataset, p->epoch);
	if (!key)
		return fail(p, GB_ECRYPTO, 0, "no key of %s epoch %" PRIu32
			    " to seal batch %" PRIu64 " with",
			    p->dataset, p->epoch, e->seq);
	meta.producer = gb_client_dept(p->c);
	meta.dataset = p->dataset;
	meta.producer_seq = e->seq;
	meta.created_at_ns = gb_agent_wall_ns();
	meta.key_epoch = p->epoch;
	meta.record_count = e->records;
	meta.record_tags = e->tags;
	rc = gb_envelope_build(&meta, e->plain, e->plain_len, key,
			       gb_identity_sign_sk(gb_client_identity(p->c)),
			       &sb, &sb_len);
	gb_keyring_release(kr, key);
	if (rc != 0)
		return fail(p, rc, 0, "cannot build batch %" PRIu64 " of %s: %s",
			    e->seq, p->dataset, gb_strerror(rc));
	pub.request_id = gb_client_next_request_id(p->c);
	pub.signed_batch.data = sb;
	pub.signed_batch.len = sb_len;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH;
	f.publish = &pub;
	rc = gb_codec_client_encode(&f, &frame, &frame_len);
	free(sb);
	if (rc != 0)
		return fail(p, rc, 0, "out of memory encoding a batch");
	free(e->frame);
	e->frame = frame;
	e->frame_len = frame_len;
	e->request_id = pub.request_id;
	e->epoch = p->epoch;
	return 0;
}

/* Seal every unacknowledged batch again under the current epoch, with its
 * seq, and send them in order (after a 412: none of them can be stored
 * under the old key, except those stored before it was retired, which
 * come back as duplicates). */
static int reseal(gb_publisher *p)
{
	gb_event ev = {0};
	uint64_t count = 0;
	int rc;

	if (++p->reseal_rounds > MAX_RESEAL_ROUNDS)
		return fail(p, GB_EEPOCH, GB_STATUS_PRECONDITION,
			    "%s (batches of %s were sealed again under the "
			    "current key epoch %u times without being "
			    "accepted)",
			    p->rekey_why, p->dataset, MAX_RESEAL_ROUNDS);
	for (unsigned i = 0; i < p->n; i++) {
		struct inflight *e = slot(p, i);
		if (e->acked)
			continue;
		rc = seal_slot(p, e);
		if (rc != 0)
			return rc;
		e->retries = 0;
		e->retry_at_ms = 0;
		e->sent = false;
		count++;
	}
	p->paused = false;
	send_held(p);
	p->st.resealed += count;
	ev.kind = GB_EVENT_RESEALED;
	ev.dataset = p->dataset;
	ev.epoch = p->epoch;
	ev.count = count;
	gb_client_emit(p->c, &ev);
	return 0;
}

/* The owner's key work, when there is a reason: no key yet, a 412, or a
 * push from the broker for this dataset. */
static int key_work(gb_publisher *p)
{
	bool pushed = gb_client_take_key_push(p->c, p->dataset, NULL, 0);
	uint32_t epoch = 0;
	int rc;

	if (p->failed)
		return restate(p);
	if (p->epoch && !p->rekey && !pushed)
		return 0;
	rc = gb_client_sync_keys(p->c, p->dataset, &epoch);
	if (rc != 0)
		return fail_from_client(p, rc);
	p->epoch = epoch;
	if (!p->rekey)
		return 0;
	p->rekey = false;
	return reseal(p);
}

/* Handle frames until something happens, then any key work they brought. */
static int step(gb_publisher *p)
{
	int rc = gb_client_wait(p->c, -1);

	if (rc != 0)
		return fail_from_client(p, rc);
	return key_work(p);
}

/* Seal the current batch and put it in flight, waiting for a free slot. */
static int seal(gb_publisher *p)
{
	struct inflight *e;
	int rc;

	while (p->n >= p->o.window && !p->failed) {
		rc = step(p);
		if (rc != 0)
			return rc;
	}
	rc = key_work(p);
	if (rc != 0)
		return rc;

	e = slot(p, p->n);
	memset(e, 0, sizeof *e);
	e->seq = p->last_seq + 1;
	e->records = p->count;
	/* The batch keeps its plaintext until acked; the next starts anew. */
	e->plain = p->buf;
	e->plain_len = p->len;
	e->tags = p->tags;
	e->starts = p->starts;
	p->buf = NULL;
	p->len = p->cap = 0;
	p->count = 0;
	p->tags = NULL;
	p->starts = NULL;
	p->starts_cap = 0;
	rc = seal_slot(p, e);
	if (rc != 0) {
		inflight_clear(e);
		return rc;
	}
	p->n++;
	p->last_seq = e->seq;
	(void)gb_client_set_position(p->c, p->dataset, p->last_seq);
	if (!p->paused)
		send_slot(p, e);
	return 0;
}

/* Record ids: short printable ASCII, so they are valid protobuf strings
 * and safe in logs and JSON. */
static bool id_ok(const char *id, size_t *len)
{
	size_t n = 0;
	for (; id[n]; n++)
		if (n >= GB_MAX_NAME_LEN || id[n] < 0x20 || id[n] > 0x7e)
			return false;
	*len = n;
	return true;
}

/* Note where record p->count starts and, once any record of the batch
 * has an id, its tag (a zero tag for a record without one). */
static int record_index(gb_publisher *p, const char *id, size_t id_len)
{
	if (p->count == p->starts_cap) {
		size_t cap = p->starts_cap ? 2 * p->starts_cap : 64;
		size_t *starts = realloc(p->starts, cap * sizeof *starts);
		uint8_t *tags;

		if (!starts)
			return GB_ENOMEM;
		p->starts = starts;
		if (p->tags) {
			tags = realloc(p->tags, cap * GB_RECORD_TAG_BYTES);
			if (!tags)
				return GB_ENOMEM;
			p->tags = tags;
		}
		p->starts_cap = cap;
	}
	if (id && !p->tags) {
		p->tags = calloc(p->starts_cap, GB_RECORD_TAG_BYTES);
		if (!p->tags)
			return GB_ENOMEM;
	}
	p->starts[p->count] = p->len;
	if (id)
		gb_record_tag(&p->tag_base, id, id_len,
			      p->tags + (size_t)p->count * GB_RECORD_TAG_BYTES);
	else if (p->tags)
		memset(p->tags + (size_t)p->count * GB_RECORD_TAG_BYTES, 0,
		       GB_RECORD_TAG_BYTES);
	return 0;
}

int gb_publisher_add(gb_publisher *p, const void *payload, size_t len,
		     const char *id)
{
	size_t id_len = 0;
	int rc;

	if (p->failed)
		return restate(p);
	if (len > GB_MAX_RECORD_BYTES)
		return gb_client_fail(p->c, GB_ETOOBIG, 0,
				      "a record of %zu bytes exceeds the limit "
				      "of %u bytes",
				      len, GB_MAX_RECORD_BYTES);
	if (!payload && len)
		return gb_client_fail(p->c, GB_EINVAL, 0, "record payload is NULL");
	if (id && !id_ok(id, &id_len))
		return gb_client_fail(p->c, GB_EINVAL, 0,
				      "record id \"%.64s\" is not 1..%d "
				      "printable ASCII characters",
				      id, GB_MAX_NAME_LEN);
	/* A record with an id also adds its tag to the header. */
	if (p->count &&
	    p->len + len + id_len + RECORD_OVERHEAD +
	    (p->tags || id_len ? (size_t)(p->count + 1) * GB_RECORD_TAG_BYTES
			       : 0) > p->max_bytes) {
		rc = seal(p);
		if (rc != 0)
			return rc;
	}
	rc = batch_reserve(p, len + id_len + RECORD_OVERHEAD);
	if (rc == 0)
		rc = record_index(p, id_len ? id : NULL, id_len);
	if (rc != 0)
		return fail(p, rc, 0, "out of memory growing a batch");
	rc = gb_envelope_append_record(&p->buf, &p->len, &p->cap,
				       (const uint8_t *)(payload ? payload : ""),
				       len, gb_agent_wall_ns(),
				       id_len ? id : NULL);
	if (rc != 0)
		return fail(p, rc, 0, "out of memory growing a batch");
	p->count++;
	if (p->count >= p->o.max_records)
		return seal(p);
	return 0;
}

int gb_publisher_flush(gb_publisher *p)
{
	int rc;

	if (p->failed)
		return restate(p);
	if (p->count) {
		rc = seal(p);
		if (rc != 0)
			return rc;
	}
	while (p->n && !p->failed) {
		rc = step(p);
		if (rc != 0)
			return rc;
	}
	return p->failed ? restate(p) : 0;
}

/* The batch being filled is dropped, never sealed. */
uint32_t gb_publisher_discard(gb_publisher *p)
{
	uint32_t dropped = p->count;

	if (p->buf)
		sodium_memzero(p->buf, p->len);
	p->len = 0;
	p->count = 0;
	free(p->tags); /* a later record with an id starts them again */
	p->tags = NULL;
	return dropped;
}

/* ---------------------------------------------------------------- lifecycle */

static void close_handler(void *self)
{
	gb_publisher *p = self;
	gb_publisher_close(&p);
}

static const gb_client_handler_ops publisher_ops = {
	.owns_request = owns_request,
	.on_frame = on_frame,
	.on_reconnect = on_reconnect,
	.tick = tick,
	.close = close_handler,
};

/* The publisher of `dataset` open on `c`, or NULL. */
static gb_publisher *find_open(gb_client *c, const char *dataset)
{
	for (gb_client_handler *h = gb_client_handler_next(c, NULL); h;
	     h = gb_client_handler_next(c, h))
		if (h->ops == &publisher_ops &&
		    !strcmp(((gb_publisher *)h->self)->dataset, dataset))
			return h->self;
	return NULL;
}

int gb_publisher_open(gb_client *c, const char *dataset,
		      const gb_publisher_options *opts, gb_publisher **out)
{
	gb_publisher *p;
	size_t frame_room;

	*out = NULL;
	if (!gb_id_valid(dataset))
		return gb_client_fail(c, GB_EINVAL, 0,
				      "\"%.64s\" is not a valid dataset id",
				      dataset ? dataset : "");
	if (find_open(c, dataset))
		return gb_client_fail(c, GB_ECONFLICT, 0,
				      "a publisher for %s is already open on "
				      "this connection",
				      dataset);
	p = calloc(1, sizeof *p);
	if (!p)
		return gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
	if (opts)
		p->o = *opts;
	else
		gb_publisher_options_init(&p->o);
	if (!p->o.max_records)
		p->o.max_records = DEFAULT_MAX_RECORDS;
	if (!p->o.max_bytes)
		p->o.max_bytes = DEFAULT_MAX_BYTES;
	if (!p->o.window)
		p->o.window = DEFAULT_WINDOW;
	if (p->o.max_records > GB_MAX_BATCH_RECORDS || p->o.window > MAX_WINDOW) {
		free(p);
		return gb_client_fail(c, GB_EINVAL, 0,
				      "publisher options out of range (at most "
				      "%u records per batch, %u batches in "
				      "flight)",
				      GB_MAX_BATCH_RECORDS, MAX_WINDOW);
	}
	/* A batch must fit a signed batch and a frame, whatever is asked. */
	frame_room = gb_client_max_frame(c);
	if (frame_room > GB_MAX_BATCH_BYTES)
		frame_room = GB_MAX_BATCH_BYTES;
	frame_room -= FRAME_OVERHEAD;
	p->max_bytes = p->o.max_bytes < frame_room ? p->o.max_bytes : frame_room;
	p->ring = calloc(p->o.window, sizeof *p->ring);
	if (!p->ring) {
		free(p);
		return gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
	}
	p->c = c;
	snprintf(p->dataset, sizeof p->dataset, "%s", dataset);
	gb_record_tag_begin(&p->tag_base,
			    gb_identity_dedupe_key(gb_client_identity(c)),
			    p->dataset);
	p->last_seq = gb_client_position(c, dataset);
	p->handler.ops = &publisher_ops;
	p->handler.self = p;
	gb_client_handler_add(c, &p->handler);
	*out = p;
	return 0;
}

void gb_publisher_stats_get(const gb_publisher *p, gb_publisher_stats *out)
{
	*out = p->st;
	out->last_seq = p->last_seq;
	out->key_epoch = p->epoch;
}

void gb_publisher_close(gb_publisher **pp)
{
	gb_publisher *p;

	if (!pp || !*pp)
		return;
	p = *pp;
	gb_client_handler_remove(p->c, &p->handler);
	for (unsigned i = 0; i < p->n; i++)
		inflight_clear(slot(p, i));
	free(p->ring);
	plain_free(&p->buf, p->cap);
	free(p->tags);
	free(p->starts);
	sodium_memzero(&p->tag_base, sizeof p->tag_base);
	free(p);
	*pp = NULL;
}
