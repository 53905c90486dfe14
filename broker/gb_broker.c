/* govbus broker server; see gb_broker.h.
 *
 * Trust: every frame on the ROUTER socket comes from a department that
 * passed CURVE and ZAP, and is otherwise untrusted: frames are size-checked
 * before decoding, decoded by gb_codec, and a publish is checked in the fixed
 * order size -> signature -> policy -> append. The signed batch is stored and
 * delivered byte for byte as the producer signed it; the broker never opens
 * it. Strings from peers are logged truncated. Time comes from this host's
 * clock only; times in frames are never trusted for ordering. */
#include "gb_broker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include "gb_codec.h"
#include "gb_config.h"
#include "gb_envelope.h"
#include "gb_error.h"
#include "gb_keys.h"
#include "gb_keywrap.h"
#include "gb_policy.h"
#include "gb_store.h"
#include "gb_audit.h" /* audit (issue 4) */
#include "gb_broker_internal.h"
#include "gb_heads.h"
#include "gb_log.h"
#include "gb_send.h"
#include "gb_sessions.h"
#include "gb_zap.h"
#include "gb_requests.h" /* catalog and access requests (issue 7) */
#include "govbus.pb-c.h"

/* ------------------------------------------------------------ limits */

#define FRAMES_PER_TURN 512       /* fairness between reading and delivering */
#define BATCHES_PER_PUMP 32       /* per subscription per turn */
#define PENDING_BYTES_MAX (256u << 20) /* stop reading publishes above this */
#define WRITER_GROUP_MAX 4096     /* items in one group commit */
#define SUBSCRIPTION_IDLE_NS (30ull * 1000000000ull) /* peer silent: drop */
#define HOUSEKEEPING_NS 1000000000ull
#define SUBSCRIPTIONS_PER_PEER_MAX 256 /* bounds broker memory per connection */
#define PEER_SNDHWM 8192          /* frames queued to one peer. Replies
				   * (key info, acks, errors) share this queue
				   * with deliveries and are dropped when it is
				   * full, so it must stay well above what credit
				   * lets deliveries fill (64 batches per
				   * subscription by default); a consumer that
				   * never reads holds at most this many. */
#define PEER_RCVHWM 256
#define CREATED_AHEAD_MAX_NS (24ull * 3600 * 1000000000ull)

/* ------------------------------------------------------------ types */

/* A publish or cursor write on its way through the writer thread. */
struct pending {
	uint8_t peer[GB_PEER_ID_MAX];
	size_t peer_len;
	uint64_t request_id;
	gb_client_frame *frame;       /* owns the signed batch bytes */
	gb_envelope *env;             /* only until the publish is checked */
	uint8_t commitment[GB_COMMITMENT_BYTES]; /* the batch's key commitment */
	uint8_t *record_tags;         /* dedupe: a copy of the header's tags */
	uint32_t *dup_records;        /* and room for the writer's answer */
	char dataset[GB_MAX_ID_LEN + 1];
	char producer[GB_MAX_ID_LEN + 1];
	char dept[GB_MAX_ID_LEN + 1];
	char cursor_name[GB_MAX_NAME_LEN + 1];
	gb_write w;                   /* the write of a publish or cursor ack */
	gb_write *ws;                 /* the writes committed together: &w, */
	size_t nws;                   /* or an upload's epoch and wraps */
	bool is_upload;
	uint32_t upload_epoch;
	char (*recipients)[GB_MAX_ID_LEN + 1]; /* an upload's wrap recipients */
	uint8_t (*commitments)[GB_COMMITMENT_BYTES]; /* and their commitments */
	gb_audit_job *audit_job;      /* audit (issue 4): trail event, checkpoint
					 or policy snapshot; `w` is its write */
	gb_requests_job *request_job; /* issue 7: an access request or its
					 decision; `w` is its write */
};

struct subscription {
	struct subscription *next;
	uint8_t peer[GB_PEER_ID_MAX];
	size_t peer_len;
	uint64_t id;
	char dept[GB_MAX_ID_LEN + 1];
	char dataset[GB_MAX_ID_LEN + 1];
	char durable[GB_MAX_NAME_LEN + 1];
	uint64_t next_offset;         /* next offset to deliver */
	uint64_t live_from;           /* head at subscribe: below it is replay */
	uint32_t credit;              /* batches the subscriber will accept */
	uint64_t last_seen_ns;        /* last frame from this peer */
};

struct gb_broker {
	char config_path[4096];
	gb_registry *reg;
	gb_identity *id;
	gb_store *store;
	uint64_t dedupe_seconds;      /* broker.dedupe_seconds in force */
	void *ctx;
	void *router;
	gb_sender to;                 /* frames out through the ROUTER */
	gb_zap *zap;
	void *to_writer;              /* I/O side of the writer pipe */
	void *writer_end;             /* writer side */
	pthread_t writer;
	bool writer_started;
	int signal_pipe[2];           /* written by signal handlers */
	int lock_fd;                  /* flock on data_dir/broker.lock */
	uint64_t instance;
	uint64_t pending_bytes;
	size_t pending_count;
	struct subscription *subs;
	gb_sessions *sessions;
	gb_heads *heads;
	bool stopping;
	uint64_t next_housekeeping_ns;

	gb_audit *audit;              /* audit (issue 4) */
	gb_requests *requests;        /* catalog and access requests (issue 7) */
	uint64_t next_expiry_ns;      /* issue 7: earliest expiry of a grant a
					 live subscription holds (UINT64_MAX:
					 none) */
};

static void reconcile_keys(gb_broker *b, int64_t t);

/* ------------------------------------------------------------ writer thread */

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	gb_envelope_destroy(&p->env);
	gb_codec_client_free(&p->frame);
	free(p->record_tags);
	free(p->dup_records);
	if (p->ws != &p->w)
		free(p->ws);
	free(p->recipients);
	gb_audit_job_free(&p->audit_job); /* audit (issue 4) */
	gb_requests_job_free(&p->request_job); /* issue 7 */
	free(p);
}

/* A pending item with its one inline write; NULL when out of memory. */
static struct pending *pending_new(void)
{
	struct pending *p = calloc(1, sizeof *p);
	if (p) {
		p->ws = &p->w;
		p->nws = 1;
	}
	return p;
}

/* Receive one pointer-sized message; false when the pipe is empty/closed. */
static bool recv_pointer(void *sock, int flags, struct pending **out)
{
	struct pending *p = NULL;
	int n = zmq_recv(sock, &p, sizeof p, flags);
	if (n != (int)sizeof p)
		return false;
	*out = p;
	return true;
}

/* Writer: block for one pending item, drain every other one already queued,
 * commit them as one group, and hand all of them back to the I/O thread.
 * A NULL pointer is the stop signal. */
static void *writer_main(void *arg)
{
	gb_broker *b = arg;
	struct pending **batch = calloc(WRITER_GROUP_MAX, sizeof *batch);
	gb_write *items = NULL;
	size_t items_cap = 0;
	bool stop = false;

	if (!batch) {
		gb_log("writer: out of memory");
		stop = true;
	}
	while (!stop) {
		size_t n = 0, total = 0, k = 0;
		struct pending *p;

		if (!recv_pointer(b->writer_end, 0, &p))
			continue;
		if (!p)
			break;
		batch[n++] = p;
		while (n < WRITER_GROUP_MAX &&
		       recv_pointer(b->writer_end, ZMQ_DONTWAIT, &p)) {
			if (!p) {
				stop = true;
				break;
			}
			batch[n++] = p;
		}
		for (size_t i = 0; i < n; i++)
			total += batch[i]->nws;
		if (total > items_cap) {
			gb_write *grown = realloc(items, total * sizeof *items);
			if (!grown) {
				/* Nothing is stored: every item reports 500. */
				for (size_t i = 0; i < n; i++)
					for (size_t j = 0; j < batch[i]->nws; j++)
						batch[i]->ws[j].result = GB_ENOMEM;
				zmq_send(b->writer_end, batch, n * sizeof *batch, 0);
				continue;
			}
			items = grown;
			items_cap = total;
		}
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < batch[i]->nws; j++)
				items[k++] = batch[i]->ws[j];
		uint64_t map_before = gb_store_map_size(b->store);
		int rc = gb_store_write_group(b->store, items, total);
		if (rc != 0)
			gb_log("commit of %zu item(s) failed: %s", total,
				 gb_strerror(rc));
		if (gb_store_map_size(b->store) != map_before)
			gb_log("the LMDB map was full: grew it from %" PRIu64
				 " to %" PRIu64 " MiB",
				 map_before >> 20,
				 gb_store_map_size(b->store) >> 20);
		k = 0;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < batch[i]->nws; j++)
				batch[i]->ws[j] = items[k++];
		/* Results go back as one message holding the pointers. */
		zmq_send(b->writer_end, batch, n * sizeof *batch, 0);
	}
	free(batch);
	free(items);
	return NULL;
}

/* ------------------------------------------------------------ subscriptions */

/* The subscription `id` of this connection. Routing ids can be reused by a
 * later connection, so the department must match too. */
static struct subscription *sub_find(gb_broker *b, const uint8_t *peer,
				     size_t peer_len, const char *dept,
				     uint64_t id)
{
	for (struct subscription *s = b->subs; s; s = s->next)
		if (s->id == id && s->peer_len == peer_len &&
		    !memcmp(s->peer, peer, peer_len) && !strcmp(s->dept, dept))
			return s;
	return NULL;
}

static void sub_remove(gb_broker *b, struct subscription *gone)
{
	for (struct subscription **pp = &b->subs; *pp; pp = &(*pp)->next)
		if (*pp == gone) {
			*pp = gone->next;
			free(gone);
			return;
		}
}

/* Every frame from a peer keeps its subscriptions alive. */
static void subs_touch(gb_broker *b, const uint8_t *peer, size_t peer_len,
		       const char *dept, uint64_t t)
{
	for (struct subscription *s = b->subs; s; s = s->next)
		if (s->peer_len == peer_len && !memcmp(s->peer, peer, peer_len) &&
		    !strcmp(s->dept, dept))
			s->last_seen_ns = t;
}

/* End a subscription whose grant no longer holds; true if it was ended. */
static bool sub_recheck(gb_broker *b, struct subscription *s, uint64_t t)
{
	gb_decision d = gb_policy_decide(b->reg, s->dept, GB_ACTION_SUBSCRIBE,
					 s->dataset, (int64_t)t);
	/* Still catching up on history: the replay right must hold too. */
	if (d.allowed && s->next_offset < s->live_from)
		d = gb_policy_decide(b->reg, s->dept, GB_ACTION_REPLAY, s->dataset,
				     (int64_t)t);
	if (d.allowed)
		return false;
	gb_log("ended subscription of %s to %s: %s", s->dept, s->dataset,
		 d.reason);
	gb_audit_ended(b->audit, s->dept, s->dataset, d.error, d.reason); /* issue 4 */
	gb_send_error(&b->to, s->peer, s->peer_len, d.error, 0, s->id,
		   "subscription of %s to %s ended: %s", s->dept, s->dataset,
		   d.reason);
	sub_remove(b, s);
	return true;
}

/* issue 7: the earliest instant after `t` at which a grant a live
 * subscription depends on expires; UINT64_MAX when there is none. */
static uint64_t subs_next_expiry(gb_broker *b, uint64_t t)
{
	uint64_t next = UINT64_MAX;

	for (struct subscription *s = b->subs; s; s = s->next) {
		gb_decision d = gb_policy_decide(b->reg, s->dept,
						 GB_ACTION_SUBSCRIBE, s->dataset,
						 (int64_t)t);
		if (d.allowed && d.grant && (uint64_t)d.grant->expires_ns > t &&
		    (uint64_t)d.grant->expires_ns < next)
			next = (uint64_t)d.grant->expires_ns;
	}
	return next;
}

struct deliver_ctx {
	gb_broker *b;
	struct subscription *s;
	int send_rc;
};

static int deliver_one(void *arg, const gb_stored_batch *sb)
{
	struct deliver_ctx *c = arg;
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Deliver d = GOVBUS__V1__DELIVER__INIT;

	d.subscription_id = c->s->id;
	d.base_offset = sb->base_offset;
	d.record_count = sb->record_count;
	d.broker_time_ns = sb->broker_time_ns;
	d.chain_hash.data = (uint8_t *)sb->chain_hash;
	d.chain_hash.len = GB_HASH_BYTES;
	d.signed_batch.data = (uint8_t *)sb->signed_batch;
	d.signed_batch.len = sb->signed_batch_len;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_DELIVER;
	f.deliver = &d;
	c->send_rc = gb_send(&c->b->to, c->s->peer, c->s->peer_len, &f);
	if (c->send_rc != 0)
		return 1;
	c->s->next_offset = sb->base_offset + sb->record_count;
	c->s->credit--;
	return c->s->credit ? 0 : 1;
}

/* Send what each subscription has credit for. Returns true when some
 * subscriber's queue was full, so the loop should come back soon. */
static bool subs_pump(gb_broker *b)
{
	struct subscription *s = b->subs, *next;
	bool blocked = false;

	for (; s; s = next) {
		uint64_t head;
		next = s->next;
		if (s->credit == 0 || gb_heads_get(b->heads, s->dataset, &head) != 0 ||
		    s->next_offset >= head)
			continue;
		if (sub_recheck(b, s, gb_now_ns()))
			continue;
		struct deliver_ctx c = {b, s, 0};
		size_t max = s->credit < BATCHES_PER_PUMP ? s->credit
							   : BATCHES_PER_PUMP;
		int rc = gb_store_read(b->store, s->dataset, s->next_offset,
				       max, deliver_one, &c);
		if (rc < 0) {
			gb_log("read of %s at offset %" PRIu64 " failed: %s",
				 s->dataset, s->next_offset, gb_strerror(rc));
			gb_send_error(&b->to, s->peer, s->peer_len, rc, 0, s->id,
				   "reading %s at offset %" PRIu64 " failed: %s",
				   s->dataset, s->next_offset, gb_strerror(rc));
			sub_remove(b, s);
			continue;
		}
		if (c.send_rc == GB_ECLOSED)
			sub_remove(b, s);
		else if (c.send_rc == GB_EUNAVAIL)
			blocked = true;
	}
	return blocked;
}

/* ------------------------------------------------------------ requests */

struct request {
	const uint8_t *peer;
	size_t peer_len;
	const char *dept;
	uint64_t t;
};

static void handle_hello(gb_broker *b, const struct request *r)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Welcome w = GOVBUS__V1__WELCOME__INIT;
	size_t n = gb_registry_dataset_count(b->reg), k = 0;
	Govbus__V1__ProducerPosition *pos = calloc(n ? n : 1, sizeof *pos);
	Govbus__V1__ProducerPosition **ptrs = calloc(n ? n : 1, sizeof *ptrs);

	if (!pos || !ptrs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const gb_dataset *ds = gb_registry_dataset_at(b->reg, i);
		uint64_t seq = 0;
		if (strcmp(ds->owner, r->dept) != 0)
			continue;
		if (gb_store_last_seq(b->store, ds->id, r->dept, &seq) != 0)
			continue;
		govbus__v1__producer_position__init(&pos[k]);
		pos[k].dataset = (char *)ds->id;
		pos[k].last_seq = seq;
		ptrs[k] = &pos[k];
		k++;
	}
	w.dept = (char *)r->dept;
	w.instance = b->instance;
	w.max_frame = GB_MAX_FRAME;
	w.n_positions = k;
	w.positions = ptrs;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_WELCOME;
	f.welcome = &w;
	(void)gb_send(&b->to, r->peer, r->peer_len, &f);
	gb_sessions_note(b->sessions, r->peer, r->peer_len, r->dept, r->t);
	gb_log("%s connected", r->dept);
	gb_audit_connected(b->audit, r->dept); /* issue 4 */
out:
	free(pos);
	free(ptrs);
}

/* Publish: signature, then policy, then hand to the writer. The frame is
 * owned by this function (and then by the pending item). */
static void handle_publish(gb_broker *b, const struct request *r,
			   gb_client_frame *frame)
{
	const Govbus__V1__Publish *pub = frame->publish;
	const Govbus__V1__BatchHeader *h;
	const gb_department *dept;
	struct pending *p = NULL;
	char why[256];
	gb_decision d;
	int rc;

	p = pending_new();
	if (!p) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_ENOMEM, pub->request_id,
			   0, "broker out of memory");
		gb_codec_client_free(&frame);
		return;
	}
	p->frame = frame;
	p->request_id = pub->request_id;
	memcpy(p->peer, r->peer, r->peer_len);
	p->peer_len = r->peer_len;

	rc = gb_envelope_parse(pub->signed_batch.data, pub->signed_batch.len,
			       &p->env, why, sizeof why);
	if (rc != 0) {
		gb_send_error(&b->to, r->peer, r->peer_len, rc, p->request_id, 0,
			   "publish rejected: %s", why);
		goto drop;
	}
	h = gb_envelope_header(p->env);
	if (strcmp(h->producer, r->dept) != 0) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_EPERM, p->request_id, 0,
			   "publish rejected: batch names producer %s but the "
			   "connection belongs to %s",
			   h->producer, r->dept);
		goto drop;
	}
	dept = gb_registry_find_department(b->reg, r->dept);
	if (!dept) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_EAUTH, p->request_id, 0,
			   "department %s is no longer registered", r->dept);
		goto drop;
	}
	if (gb_envelope_verify(p->env, dept->sign_pk) != 0) {
		gb_log("refused publish from %s to %s: bad signature",
			 r->dept, h->dataset);
		gb_audit_denied(b->audit, r->dept, h->dataset, "publish", GB_ESIG,
				"bad signature"); /* issue 4 */
		gb_send_error(&b->to, r->peer, r->peer_len, GB_ESIG, p->request_id, 0,
			   "publish rejected: the batch signature does not "
			   "verify under %s's registered key",
			   r->dept);
		goto drop;
	}
	d = gb_policy_decide(b->reg, r->dept, GB_ACTION_PUBLISH, h->dataset,
			     (int64_t)r->t);
	if (!d.allowed) {
		gb_log("refused publish from %s to %s: %s", r->dept,
			 h->dataset, d.reason);
		gb_audit_denied(b->audit, r->dept, h->dataset, "publish", d.error,
				d.reason); /* issue 4 */
		gb_send_error(&b->to, r->peer, r->peer_len, d.error, p->request_id, 0,
			   "%s may not publish to %s: %s", r->dept, h->dataset,
			   d.reason);
		goto drop;
	}
	if (h->key_epoch == 0) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_EINVAL, p->request_id, 0,
			   "publish rejected: the batch is not sealed; records "
			   "must be encrypted under a key epoch of %s",
			   h->dataset);
		goto drop;
	}
	if (h->created_at_ns > r->t + CREATED_AHEAD_MAX_NS) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_EINVAL, p->request_id, 0,
			   "publish rejected: created_at is more than 24 hours "
			   "ahead of the broker's clock");
		goto drop;
	}
	/* The key epoch is checked by the writer, inside the transaction and
	 * after the duplicate check, so a retry of a stored batch is acked as
	 * a duplicate even if its epoch was retired since. */
	gb_copy_id(p->dataset, sizeof p->dataset, h->dataset);
	gb_copy_id(p->producer, sizeof p->producer, h->producer);
	p->w.kind = GB_WRITE_APPEND;
	p->w.dataset = p->dataset;
	p->w.producer = p->producer;
	p->w.producer_seq = h->producer_seq;
	p->w.record_count = h->record_count;
	p->w.signed_batch = pub->signed_batch.data;
	p->w.signed_batch_len = pub->signed_batch.len;
	p->w.now_ns = r->t;
	p->w.key_epoch = h->key_epoch;
	/* The parsed envelope is a second copy of the whole batch; the
	 * writer needs only its commitment (32 bytes: key_epoch >= 1 here). */
	memcpy(p->commitment, h->key_commitment.data, GB_COMMITMENT_BYTES);
	p->w.key_commitment = p->commitment;
	if (h->record_tags.len) { /* the parser checked the length */
		p->record_tags = malloc(h->record_tags.len);
		p->dup_records = malloc(h->record_count * sizeof *p->dup_records);
		if (!p->record_tags || !p->dup_records) {
			gb_send_error(&b->to, r->peer, r->peer_len, GB_ENOMEM,
				   p->request_id, 0, "broker out of memory");
			goto drop;
		}
		memcpy(p->record_tags, h->record_tags.data, h->record_tags.len);
		p->w.record_tags = p->record_tags;
		p->w.dup_records = p->dup_records;
	}
	gb_envelope_destroy(&p->env);
	if (zmq_send(b->to_writer, &p, sizeof p, 0) != (int)sizeof p) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_EUNAVAIL, p->request_id,
			   0, "broker writer unavailable");
		goto drop;
	}
	b->pending_count++;
	b->pending_bytes += pub->signed_batch.len;
	return;
drop:
	pending_free(p);
}

static void handle_subscribe(gb_broker *b, const struct request *r,
			     const Govbus__V1__Subscribe *req)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__SubscribeOk ok = GOVBUS__V1__SUBSCRIBE_OK__INIT;
	const gb_dataset *ds;
	const gb_department *owner;
	struct subscription *s;
	uint64_t head = 0, start = 0, stored;
	gb_decision d;
	int rc;

	{
		size_t n = 0;
		for (struct subscription *x = b->subs; x; x = x->next)
			n += x->peer_len == r->peer_len &&
			     !memcmp(x->peer, r->peer, r->peer_len);
		if (n >= SUBSCRIPTIONS_PER_PEER_MAX) {
			gb_send_error(&b->to, r->peer, r->peer_len, GB_ETOOBIG, 0,
				   req->subscription_id,
				   "too many subscriptions on this connection "
				   "(limit %d)",
				   SUBSCRIPTIONS_PER_PEER_MAX);
			return;
		}
	}
	if (sub_find(b, r->peer, r->peer_len, r->dept, req->subscription_id)) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_ECONFLICT, 0,
			   req->subscription_id,
			   "subscription id %" PRIu64 " is already in use",
			   req->subscription_id);
		return;
	}
	d = gb_policy_decide(b->reg, r->dept, GB_ACTION_SUBSCRIBE, req->dataset,
			     (int64_t)r->t);
	if (!d.allowed) {
		gb_log("refused subscribe of %s to %s: %s", r->dept,
			 req->dataset, d.reason);
		gb_audit_denied(b->audit, r->dept, req->dataset, "subscribe",
				d.error, d.reason); /* issue 4 */
		gb_send_error(&b->to, r->peer, r->peer_len, d.error, 0,
			   req->subscription_id, "%s may not subscribe to %s: %s",
			   r->dept, req->dataset, d.reason);
		return;
	}
	ds = gb_registry_find_dataset(b->reg, req->dataset);
	owner = ds ? gb_registry_find_department(b->reg, ds->owner)
		   : gb_audit_trail_owner(b->audit, req->dataset); /* issue 4 */
	rc = gb_heads_get(b->heads, req->dataset, &head);
	if (rc != 0 || !owner) {
		gb_send_error(&b->to, r->peer, r->peer_len, rc ? rc : GB_ENOTFOUND, 0,
			   req->subscription_id, "cannot open stream %s: %s",
			   req->dataset, gb_strerror(rc ? rc : GB_ENOTFOUND));
		return;
	}
	switch (req->start) {
	case GOVBUS__V1__SUBSCRIBE__START__START_LATEST:
		start = head;
		break;
	case GOVBUS__V1__SUBSCRIBE__START__START_OFFSET:
		start = req->offset < head ? req->offset : head;
		break;
	case GOVBUS__V1__SUBSCRIBE__START__START_TIME:
		rc = gb_store_offset_for_time(b->store, req->dataset,
					      req->time_ns, &start);
		break;
	default:
		start = 0;
		break;
	}
	if (rc == 0 && req->durable[0]) {
		rc = gb_store_cursor_get(b->store, r->dept, req->dataset,
					 req->durable, &stored);
		if (rc == 0)
			start = stored < head ? stored : head;
		else if (rc == GB_ENOTFOUND)
			rc = 0;
	}
	if (rc != 0) {
		gb_send_error(&b->to, r->peer, r->peer_len, rc, 0, req->subscription_id,
			   "cannot position in %s: %s", req->dataset,
			   gb_strerror(rc));
		return;
	}
	if (start < head) {
		d = gb_policy_decide(b->reg, r->dept, GB_ACTION_REPLAY,
				     req->dataset, (int64_t)r->t);
		if (!d.allowed) {
			gb_log("refused replay of %s by %s: %s", req->dataset,
				 r->dept, d.reason);
			gb_audit_denied(b->audit, r->dept, req->dataset, "replay",
					d.error, d.reason); /* issue 4 */
			gb_send_error(&b->to, r->peer, r->peer_len, d.error, 0,
				   req->subscription_id,
				   "%s may not replay %s: %s", r->dept,
				   req->dataset, d.reason);
			return;
		}
		if (d.history_from_ns > 0) {
			uint64_t first = 0;
			rc = gb_store_offset_for_time(
				b->store, req->dataset,
				(uint64_t)d.history_from_ns, &first);
			if (rc == 0 && first > start)
				start = first;
		}
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_ENOMEM, 0,
			   req->subscription_id, "broker out of memory");
		return;
	}
	memcpy(s->peer, r->peer, r->peer_len);
	s->peer_len = r->peer_len;
	s->id = req->subscription_id;
	gb_copy_id(s->dept, sizeof s->dept, r->dept);
	gb_copy_id(s->dataset, sizeof s->dataset, req->dataset);
	gb_copy_id(s->durable, sizeof s->durable, req->durable);
	s->next_offset = start;
	s->live_from = head;
	s->credit = req->credit;
	s->last_seen_ns = r->t;
	s->next = b->subs;
	b->subs = s;
	if (d.grant && (uint64_t)d.grant->expires_ns < b->next_expiry_ns)
		b->next_expiry_ns = (uint64_t)d.grant->expires_ns; /* issue 7 */

	ok.subscription_id = s->id;
	ok.start_offset = start;
	ok.head_offset = head;
	ok.owner = (char *)owner->id;
	ok.owner_sign_key.data = (uint8_t *)owner->sign_pk;
	ok.owner_sign_key.len = GB_KEY_BYTES;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK;
	f.subscribe_ok = &ok;
	(void)gb_send(&b->to, r->peer, r->peer_len, &f);
	gb_log("%s subscribed to %s from offset %" PRIu64 "%s%s", r->dept,
		 req->dataset, start, s->durable[0] ? " as " : "", s->durable);
	gb_audit_subscribed(b->audit, r->dept, req->dataset, start, head,
			    s->durable); /* issue 4 */
}

static void handle_cursor_ack(gb_broker *b, const struct request *r,
			      const Govbus__V1__CursorAck *ack)
{
	struct subscription *s =
		sub_find(b, r->peer, r->peer_len, r->dept, ack->subscription_id);
	struct pending *p;

	if (!s || !s->durable[0]) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_ENOTFOUND, 0,
			   ack->subscription_id,
			   "cursor ack for subscription %" PRIu64
			   ", which is not a live durable subscription",
			   ack->subscription_id);
		return;
	}
	if (ack->next_offset > s->next_offset) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_EINVAL, 0, s->id,
			   "cursor ack at offset %" PRIu64
			   " is beyond what was delivered (%" PRIu64 ")",
			   ack->next_offset, s->next_offset);
		sub_remove(b, s); /* an Error with its id ends it */
		return;
	}
	p = pending_new();
	if (!p)
		return;
	gb_copy_id(p->dataset, sizeof p->dataset, s->dataset);
	gb_copy_id(p->dept, sizeof p->dept, s->dept);
	gb_copy_id(p->cursor_name, sizeof p->cursor_name, s->durable);
	p->w.kind = GB_WRITE_CURSOR;
	p->w.dataset = p->dataset;
	p->w.dept = p->dept;
	p->w.cursor_name = p->cursor_name;
	p->w.cursor_next = ack->next_offset;
	if (zmq_send(b->to_writer, &p, sizeof p, 0) != (int)sizeof p) {
		pending_free(p);
		return;
	}
	b->pending_count++;
}

/* ------------------------------------------------------------ dataset keys */

/* True when `dept` must hold the key of `epoch` of `ds` under the policy
 * in force: it may read content, and its history reaches that epoch
 * (grantees with since-grant or none get the current epoch and later). */
static bool key_reader(const gb_broker *b, const gb_department *dept,
		       const gb_dataset *ds, uint32_t epoch, uint32_t current,
		       int64_t t)
{
	gb_decision d = gb_policy_decide(b->reg, dept->id, GB_ACTION_READ_CONTENT,
					 ds->id, t);
	if (!d.allowed)
		return false;
	if (d.grant && d.grant->history != GB_HISTORY_ALL && epoch < current)
		return false;
	return true;
}

/* Fill a KeyInfo for `dept` about `ds`. Owner answers carry the readers of
 * a new epoch and the wraps each existing epoch lacks. Frees with
 * key_info_clear. */
struct key_info_buf {
	Govbus__V1__KeyInfo info;
	Govbus__V1__Recipient *readers;
	Govbus__V1__Recipient **reader_ptrs;
	Govbus__V1__MissingWraps *missing;
	Govbus__V1__MissingWraps **missing_ptrs;
	Govbus__V1__Recipient ***missing_recipients; /* one array per epoch */
	uint8_t *wrap;
};

static void key_info_clear(struct key_info_buf *k)
{
	if (k->missing_recipients)
		for (size_t i = 0; i < k->info.n_missing; i++)
			free(k->missing_recipients[i]);
	free(k->missing_recipients);
	free(k->missing);
	free(k->missing_ptrs);
	free(k->readers);
	free(k->reader_ptrs);
	free(k->wrap);
	memset(k, 0, sizeof *k);
}

static int key_info_fill(gb_broker *b, const gb_dataset *ds, const char *dept,
			 uint32_t epoch, struct key_info_buf *k, int64_t t)
{
	size_t ndept = gb_registry_department_count(b->reg);
	gb_epoch_state es;
	size_t wrap_len = 0;
	int rc;

	memset(k, 0, sizeof *k);
	govbus__v1__key_info__init(&k->info);
	rc = gb_store_epoch_get(b->store, ds->id, &es);
	if (rc != 0)
		return rc;
	k->info.dataset = (char *)ds->id;
	k->info.current_epoch = es.current;
	k->info.rotate = es.retired;
	k->info.epoch = epoch ? epoch : es.current;
	if (k->info.epoch != 0) {
		rc = gb_store_wrap_get(b->store, ds->id, k->info.epoch, dept,
				       &k->wrap, &wrap_len);
		if (rc == 0) {
			k->info.signed_wrap.data = k->wrap;
			k->info.signed_wrap.len = wrap_len;
		} else if (rc != GB_ENOTFOUND) {
			return rc;
		}
	}
	if (strcmp(ds->owner, dept) != 0)
		return 0;

	k->readers = calloc(ndept ? ndept : 1, sizeof *k->readers);
	k->reader_ptrs = calloc(ndept ? ndept : 1, sizeof *k->reader_ptrs);
	k->missing = calloc(es.current ? es.current : 1, sizeof *k->missing);
	k->missing_ptrs = calloc(es.current ? es.current : 1, sizeof *k->missing_ptrs);
	k->missing_recipients = calloc(es.current ? es.current : 1,
				       sizeof *k->missing_recipients);
	if (!k->readers || !k->reader_ptrs || !k->missing || !k->missing_ptrs ||
	    !k->missing_recipients)
		return GB_ENOMEM;
	for (size_t i = 0; i < ndept; i++) {
		const gb_department *d = gb_registry_department_at(b->reg, i);
		Govbus__V1__Recipient *r = &k->readers[k->info.n_readers];
		if (!key_reader(b, d, ds, es.current + 1, es.current, t))
			continue;
		govbus__v1__recipient__init(r);
		r->dept = (char *)d->id;
		r->box_key.data = (uint8_t *)d->box_pk;
		r->box_key.len = GB_KEY_BYTES;
		k->reader_ptrs[k->info.n_readers++] = r;
	}
	k->info.readers = k->reader_ptrs;
	for (uint32_t e = 1; e <= es.current; e++) {
		Govbus__V1__MissingWraps *m = &k->missing[k->info.n_missing];
		Govbus__V1__Recipient **list = NULL;
		size_t n = 0;

		for (size_t i = 0; i < k->info.n_readers; i++) {
			const gb_department *d = gb_registry_find_department(
				b->reg, k->readers[i].dept);
			if (!d || !key_reader(b, d, ds, e, es.current, t))
				continue;
			rc = gb_store_wrap_get(b->store, ds->id, e, d->id, NULL, NULL);
			if (rc == 0)
				continue;
			if (rc != GB_ENOTFOUND) {
				free(list);
				return rc;
			}
			if (!list) {
				list = calloc(k->info.n_readers, sizeof *list);
				if (!list)
					return GB_ENOMEM;
			}
			list[n++] = &k->readers[i];
		}
		if (!n)
			continue;
		govbus__v1__missing_wraps__init(m);
		m->epoch = e;
		m->recipients = list;
		m->n_recipients = n;
		k->missing_recipients[k->info.n_missing] = list;
		k->missing_ptrs[k->info.n_missing++] = m;
	}
	k->info.missing = k->missing_ptrs;
	return 0;
}

static void send_key_info(gb_broker *b, const uint8_t *peer, size_t peer_len,
			  struct key_info_buf *k, uint64_t request_id)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	k->info.request_id = request_id;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO;
	f.key_info = &k->info;
	(void)gb_send(&b->to, peer, peer_len, &f);
}

static void handle_key_fetch(gb_broker *b, const struct request *r,
			     const Govbus__V1__KeyFetch *req)
{
	const gb_dataset *ds = gb_registry_find_dataset(b->reg, req->dataset);
	struct key_info_buf k;
	gb_decision d = gb_policy_decide(b->reg, r->dept, GB_ACTION_READ_CONTENT,
					 req->dataset, (int64_t)r->t);
	int rc;

	if (!d.allowed || !ds) {
		gb_log("refused key fetch of %s by %s: %s", req->dataset,
			 r->dept, d.reason);
		gb_audit_denied(b->audit, r->dept, req->dataset, "read-content",
				d.allowed ? GB_ENOTFOUND : d.error, d.reason); /* issue 4 */
		gb_send_error(&b->to, r->peer, r->peer_len, d.allowed ? GB_ENOTFOUND : d.error,
			   req->request_id, 0, "%s may not hold the key of %s: %s",
			   r->dept, req->dataset, d.reason);
		return;
	}
	if (req->epoch != 0) {
		gb_epoch_state es;
		const gb_department *who = gb_registry_find_department(b->reg, r->dept);
		if (gb_store_epoch_get(b->store, ds->id, &es) != 0 || !who ||
		    !key_reader(b, who, ds, req->epoch, es.current, (int64_t)r->t)) {
			gb_send_error(&b->to, r->peer, r->peer_len, GB_EPERM,
				   req->request_id, 0,
				   "%s may not hold key epoch %u of %s: its grant's "
				   "history does not reach that epoch",
				   r->dept, req->epoch, req->dataset);
			return;
		}
	}
	rc = key_info_fill(b, ds, r->dept, req->epoch, &k, (int64_t)r->t);
	if (rc == 0)
		send_key_info(b, r->peer, r->peer_len, &k, req->request_id);
	else
		gb_send_error(&b->to, r->peer, r->peer_len, rc, req->request_id, 0,
			   "cannot read the key state of %s: %s", req->dataset,
			   gb_strerror(rc));
	key_info_clear(&k);
}

/* Owner uploads wraps (and maybe opens an epoch). Every wrap is checked:
 * signed by the owner, for this dataset and epoch, addressed to a
 * department that may hold the key, carrying the epoch's commitment. */
static void handle_key_upload(gb_broker *b, const struct request *r,
			      gb_client_frame *frame)
{
	const Govbus__V1__KeyUpload *up = frame->key_upload;
	const gb_dataset *ds = gb_registry_find_dataset(b->reg, up->dataset);
	const gb_department *owner = gb_registry_find_department(b->reg, r->dept);
	struct pending *p = NULL;
	const uint8_t *commitment;
	gb_epoch_state es;
	bool own_wrap = false;
	char why[256];
	int rc;

	if (!ds || !owner || strcmp(ds->owner, r->dept) != 0) {
		gb_audit_denied(b->audit, r->dept, up->dataset, "key-upload",
				ds ? GB_EPERM : GB_ENOTFOUND,
				"only the owner may upload keys"); /* issue 4 */
		gb_send_error(&b->to, r->peer, r->peer_len, ds ? GB_EPERM : GB_ENOTFOUND,
			   up->request_id, 0,
			   "only the owner of %s may upload its keys", up->dataset);
		goto drop;
	}
	rc = gb_store_epoch_get(b->store, ds->id, &es);
	if (rc != 0) {
		gb_send_error(&b->to, r->peer, r->peer_len, rc, up->request_id, 0,
			   "cannot read the key state of %s", ds->id);
		goto drop;
	}
	if (up->new_epoch ? up->epoch != es.current + 1
			  : (up->epoch == 0 || up->epoch > es.current)) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_EEPOCH, up->request_id, 0,
			   "key epoch %u of %s cannot be %s (current %u)",
			   up->epoch, ds->id, up->new_epoch ? "opened" : "wrapped",
			   es.current);
		goto drop;
	}
	if (up->n_signed_wraps == 0 || up->n_signed_wraps > GB_MAX_WRAPS ||
	    (up->new_epoch && up->key_commitment.len != GB_COMMITMENT_BYTES)) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_EINVAL, up->request_id, 0,
			   "key upload of %s: needs 1..%u wraps%s", ds->id, GB_MAX_WRAPS,
			   up->new_epoch ? " and a 32-byte commitment" : "");
		goto drop;
	}
	commitment = up->new_epoch ? up->key_commitment.data
		     : up->epoch == es.current ? es.commitment : NULL;

	p = pending_new();
	if (!p || !(p->ws = calloc(up->n_signed_wraps + 1, sizeof *p->ws)) ||
	    !(p->recipients = calloc(up->n_signed_wraps, sizeof *p->recipients)) ||
	    !(p->commitments = calloc(up->n_signed_wraps, sizeof *p->commitments))) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_ENOMEM, up->request_id, 0,
			   "broker out of memory");
		goto drop;
	}
	p->nws = 0;
	p->is_upload = true;
	p->upload_epoch = up->epoch;
	p->request_id = up->request_id;
	memcpy(p->peer, r->peer, r->peer_len);
	p->peer_len = r->peer_len;
	gb_copy_id(p->dataset, sizeof p->dataset, ds->id);
	gb_copy_id(p->dept, sizeof p->dept, r->dept); /* issue 4: audit trail */
	if (up->new_epoch) {
		gb_write *w = &p->ws[p->nws++];
		w->kind = GB_WRITE_EPOCH;
		w->dataset = p->dataset;
		w->key_epoch = up->epoch;
		w->key_commitment = up->key_commitment.data;
		w->now_ns = r->t;
	}
	for (size_t i = 0; i < up->n_signed_wraps; i++) {
		const ProtobufCBinaryData *bytes = &up->signed_wraps[i];
		const gb_department *to;
		gb_keywrap_info info;
		gb_write *w;

		rc = gb_keywrap_verify(bytes->data, bytes->len, owner->sign_pk,
				       &info, why, sizeof why);
		if (rc == 0 && (strcmp(info.dataset, ds->id) != 0 ||
				info.epoch != up->epoch ||
				strcmp(info.owner, r->dept) != 0)) {
			rc = GB_EINVAL;
			snprintf(why, sizeof why,
				 "wrap %zu is for %s epoch %u by %s", i,
				 info.dataset, info.epoch, info.owner);
		}
		if (rc == 0 && commitment &&
		    memcmp(info.commitment, commitment, GB_COMMITMENT_BYTES) != 0) {
			rc = GB_EEPOCH;
			snprintf(why, sizeof why,
				 "wrap %zu carries another key than epoch %u", i,
				 up->epoch);
		}
		to = rc == 0 ? gb_registry_find_department(b->reg, info.recipient)
			     : NULL;
		if (rc == 0 && (!to || !key_reader(b, to, ds, up->epoch,
						   up->new_epoch ? up->epoch : es.current,
						   (int64_t)r->t))) {
			rc = GB_EPERM;
			snprintf(why, sizeof why,
				 "%s may not hold the key of %s epoch %u",
				 info.recipient, ds->id, up->epoch);
		}
		if (rc != 0) {
			gb_log("refused key upload of %s by %s: %s", ds->id,
				 r->dept, why);
			gb_audit_denied(b->audit, r->dept, ds->id, "key-upload", rc,
					why); /* issue 4 */
			gb_send_error(&b->to, r->peer, r->peer_len, rc, up->request_id, 0,
				   "key upload refused: %s", why);
			goto drop;
		}
		if (!strcmp(info.recipient, r->dept))
			own_wrap = true;
		/* A reload may free the registry before the commit: copy. */
		gb_copy_id(p->recipients[i], sizeof p->recipients[i], to->id);
		w = &p->ws[p->nws++];
		w->kind = GB_WRITE_WRAP;
		w->dataset = p->dataset;
		w->key_epoch = up->epoch;
		w->dept = p->recipients[i];
		/* the store checks it against the epoch's, for every epoch */
		memcpy(p->commitments[i], info.commitment, GB_COMMITMENT_BYTES);
		w->key_commitment = p->commitments[i];
		w->wrap = bytes->data;
		w->wrap_len = bytes->len;
	}
	if (up->new_epoch && !own_wrap) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_EINVAL, up->request_id, 0,
			   "a new epoch must include the owner's own wrap, or "
			   "the owner could never recover the key");
		goto drop;
	}
	p->ws[0].unit_len = p->nws; /* the epoch and its wraps: all or none */
	p->frame = frame; /* the wrap bytes live in the frame */
	frame = NULL;
	if (zmq_send(b->to_writer, &p, sizeof p, 0) != (int)sizeof p) {
		gb_send_error(&b->to, r->peer, r->peer_len, GB_EUNAVAIL, up->request_id,
			   0, "broker writer unavailable");
		goto drop;
	}
	b->pending_count++;
	return;
drop:
	gb_codec_client_free(&frame);
	pending_free(p);
}

struct push_ctx {
	gb_broker *b;
	const gb_dataset *ds;
};

static void push_one(void *arg, const uint8_t *peer, size_t peer_len)
{
	struct push_ctx *c = arg;
	struct key_info_buf k;

	if (key_info_fill(c->b, c->ds, c->ds->owner, 0, &k,
			  (int64_t)gb_now_ns()) == 0)
		send_key_info(c->b, peer, peer_len, &k, 0);
	key_info_clear(&k);
}

/* Tell every connected session of the owner of `dataset` what key work it
 * has (a retired epoch to replace, wraps to add). */
static void push_key_work(gb_broker *b, const char *dataset)
{
	struct push_ctx c = {b, gb_registry_find_dataset(b->reg, dataset)};

	if (c.ds)
		gb_sessions_each(b->sessions, c.ds->owner, push_one, &c);
}

/* Read one multipart message from the ROUTER and act on it. */
static void router_handle(gb_broker *b)
{
	zmq_msg_t peer, body;
	gb_client_frame *frame = NULL;
	struct request r;
	const char *user;
	char why[256];
	int rc;

	zmq_msg_init(&peer);
	zmq_msg_init(&body);
	if (zmq_msg_recv(&peer, b->router, ZMQ_DONTWAIT) < 0)
		goto out;
	if (!zmq_msg_more(&peer) || zmq_msg_recv(&body, b->router, 0) < 0)
		goto out;
	if (zmq_msg_more(&body)) {
		/* Agents send one frame per message; drop the rest. */
		int more = 1;
		while (more) {
			zmq_msg_t extra;
			zmq_msg_init(&extra);
			more = zmq_msg_recv(&extra, b->router, 0) >= 0 &&
			       zmq_msg_more(&extra);
			zmq_msg_close(&extra);
		}
		goto out;
	}
	r.peer = zmq_msg_data(&peer);
	r.peer_len = zmq_msg_size(&peer);
	r.t = gb_now_ns();
	if (r.peer_len == 0 || r.peer_len > GB_PEER_ID_MAX)
		goto out;
	user = zmq_msg_gets(&body, "User-Id");
	if (!user || !gb_registry_find_department(b->reg, user)) {
		gb_send_error(&b->to, r.peer, r.peer_len, GB_EAUTH, 0, 0,
			   "this connection's key is no longer registered");
		goto out;
	}
	r.dept = user;
	subs_touch(b, r.peer, r.peer_len, r.dept, r.t);
	gb_sessions_touch(b->sessions, r.peer, r.peer_len, r.dept, r.t);

	rc = gb_codec_client_decode(zmq_msg_data(&body), zmq_msg_size(&body),
				    &frame, why, sizeof why);
	if (rc != 0) {
		gb_log("bad frame from %s: %s", r.dept, why);
		gb_send_error(&b->to, r.peer, r.peer_len, rc, 0, 0, "bad frame: %s",
			   why);
		goto out;
	}
	switch (frame->body_case) {
	case GOVBUS__V1__CLIENT_FRAME__BODY_HELLO:
		handle_hello(b, &r);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH:
		handle_publish(b, &r, frame);
		frame = NULL; /* owned by the publish path now */
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE:
		handle_subscribe(b, &r, frame->subscribe);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CREDIT: {
		struct subscription *s = sub_find(
			b, r.peer, r.peer_len, r.dept, frame->credit->subscription_id);
		if (s) {
			uint64_t c = (uint64_t)s->credit + frame->credit->batches;
			s->credit = c > GB_MAX_CREDIT ? GB_MAX_CREDIT : (uint32_t)c;
		}
		break;
	}
	case GOVBUS__V1__CLIENT_FRAME__BODY_UNSUBSCRIBE: {
		struct subscription *s = sub_find(
			b, r.peer, r.peer_len, r.dept,
			frame->unsubscribe->subscription_id);
		if (s)
			sub_remove(b, s);
		break;
	}
	case GOVBUS__V1__CLIENT_FRAME__BODY_CURSOR_ACK:
		handle_cursor_ack(b, &r, frame->cursor_ack);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH:
		handle_key_fetch(b, &r, frame->key_fetch);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_UPLOAD:
		handle_key_upload(b, &r, frame);
		frame = NULL; /* owned by the upload path now */
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_REQUEST: /* issue 4 */
	case GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_LIST_REQUEST:
	case GOVBUS__V1__CLIENT_FRAME__BODY_REGISTRY_REQUEST:
		gb_audit_handle(b->audit, b->reg, r.peer, r.peer_len, r.dept,
				r.t, frame);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CATALOG_REQUEST: /* issue 7 */
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST:
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST_QUERY:
		gb_requests_handle(b->requests, r.peer, r.peer_len, r.dept, r.t,
				   frame);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_PING: {
		gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
		Govbus__V1__Pong pong = GOVBUS__V1__PONG__INIT;
		pong.nonce = frame->ping->nonce;
		pong.instance = b->instance;
		f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PONG;
		f.pong = &pong;
		(void)gb_send(&b->to, r.peer, r.peer_len, &f);
		break;
	}
	default:
		break; /* the codec refuses every other case */
	}
out:
	gb_codec_client_free(&frame);
	zmq_msg_close(&peer);
	zmq_msg_close(&body);
}

/* Ack a committed key upload, or report its first failed item. */
static void upload_result(gb_broker *b, struct pending *p)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__KeyUploadAck a = GOVBUS__V1__KEY_UPLOAD_ACK__INIT;
	uint32_t stored = 0;

	for (size_t j = 0; j < p->nws; j++) {
		if (p->ws[j].result != 0) {
			gb_send_error(&b->to, p->peer, p->peer_len, p->ws[j].result,
				   p->request_id, 0,
				   "key upload of %s epoch %u not stored: %s",
				   p->dataset, p->upload_epoch,
				   gb_strerror(p->ws[j].result));
			return;
		}
		if (p->ws[j].kind == GB_WRITE_WRAP)
			stored++;
	}
	gb_log("stored %u key wrap(s) of %s epoch %u%s", stored, p->dataset,
		 p->upload_epoch,
		 p->ws[0].kind == GB_WRITE_EPOCH ? " (new epoch)" : "");
	gb_audit_wraps_stored(b->audit, p->dept, p->dataset, p->upload_epoch,
			      stored, p->ws[0].kind == GB_WRITE_EPOCH); /* issue 4 */
	a.request_id = p->request_id;
	a.dataset = p->dataset;
	a.epoch = p->upload_epoch;
	a.stored = stored;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK;
	f.key_upload_ack = &a;
	(void)gb_send(&b->to, p->peer, p->peer_len, &f);
}

/* Ack (or refuse) every item the writer has finished. */
static void writer_results(gb_broker *b)
{
	zmq_msg_t msg;

	zmq_msg_init(&msg);
	while (zmq_msg_recv(&msg, b->to_writer, ZMQ_DONTWAIT) >= 0) {
		struct pending **items = zmq_msg_data(&msg);
		size_t n = zmq_msg_size(&msg) / sizeof *items;

		for (size_t i = 0; i < n; i++) {
			struct pending *p = items[i];
			b->pending_count--;
			if (p->audit_job) { /* audit (issue 4) */
				if (p->w.kind == GB_WRITE_AUDIT && p->w.result == 0)
					gb_heads_advance(b->heads, p->w.dataset,
						     p->w.base_offset + p->w.record_count);
				gb_audit_job_done(b->audit, p->audit_job, &p->w);
				p->audit_job = NULL; /* freed by done */
			} else if (p->request_job) { /* issue 7 */
				gb_requests_job_done(b->requests, p->request_job,
						     &p->w);
				p->request_job = NULL; /* freed by done */
			} else if (p->is_upload) {
				upload_result(b, p);
			} else if (p->w.kind == GB_WRITE_RETIRE) {
				if (p->w.result == 0)
					push_key_work(b, p->dataset);
				else
					gb_log("retiring %s epoch %u failed: %s",
						 p->dataset, p->w.key_epoch,
						 gb_strerror(p->w.result));
			} else if (p->w.kind == GB_WRITE_APPEND) {
				b->pending_bytes -= p->w.signed_batch_len;
				if (p->w.result == 0) {
					gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
					Govbus__V1__PublishAck a = GOVBUS__V1__PUBLISH_ACK__INIT;
					a.request_id = p->request_id;
					a.dataset = p->dataset;
					a.producer_seq = p->w.producer_seq;
					a.base_offset = p->w.base_offset;
					a.record_count = p->w.record_count;
					a.duplicate = p->w.duplicate;
					a.duplicate_records = p->w.dup_count;
					f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK;
					f.publish_ack = &a;
					(void)gb_send(&b->to, p->peer, p->peer_len, &f);
					/* A duplicate was counted when it was stored
					 * (and its records need not be contiguous). */
					if (!p->w.duplicate) {
						gb_heads_advance(b->heads, p->dataset,
							     p->w.base_offset +
							     p->w.record_count);
						gb_audit_appended(b->audit, p->dataset);
					}
				} else if (p->w.result == GB_EDUPLICATE) {
					gb_send_error_dups(&b->to, p->peer, p->peer_len,
						p->request_id, p->dup_records,
						p->w.dup_count,
						"batch %" PRIu64 " of %s not stored: %"
						PRIu32 " of its %" PRIu32 " records "
						"have ids stored within the last %"
						PRIu64 " s (or repeat an earlier "
						"record of the batch); send the others",
						p->w.producer_seq, p->dataset,
						p->w.dup_count, p->w.record_count,
						b->dedupe_seconds);
				} else if (p->w.result == GB_EEPOCH) {
					gb_send_error(&b->to, p->peer, p->peer_len,
						   p->w.result, p->request_id, 0,
						   "batch %" PRIu64 " of %s not stored: key "
						   "epoch %u is no longer current",
						   p->w.producer_seq, p->dataset,
						   p->w.key_epoch);
				} else {
					gb_send_error(&b->to, p->peer, p->peer_len,
						   p->w.result, p->request_id, 0,
						   "batch %" PRIu64 " of %s not stored: %s",
						   p->w.producer_seq, p->dataset,
						   gb_strerror(p->w.result));
				}
			}
			pending_free(p);
		}
		zmq_msg_close(&msg);
		zmq_msg_init(&msg);
	}
	zmq_msg_close(&msg);
}

/* ------------------------------------------------------------ audit (issue 4)
 * The broker side of gb_audit_io, and the clean-stop checkpoint. */

/* Queue an audit job's write to the writer thread; takes the job. */
static int audit_submit(void *ctx, gb_audit_job *job)
{
	gb_broker *b = ctx;
	struct pending *p = pending_new();

	if (!p) {
		gb_audit_job_free(&job);
		return GB_ENOMEM;
	}
	p->audit_job = job;
	p->w = *gb_audit_job_write(job);
	if (zmq_send(b->to_writer, &p, sizeof p, 0) != (int)sizeof p) {
		pending_free(p);
		return GB_EUNAVAIL;
	}
	b->pending_count++;
	return 0;
}

static int audit_send(void *ctx, const uint8_t *peer, size_t peer_len,
		      const gb_server_frame *frame)
{
	gb_broker *b = ctx;

	return gb_send(&b->to, peer, peer_len, frame);
}

/* issue 7: queue an access request's write to the writer; takes the job. */
static int requests_submit(void *ctx, gb_requests_job *job)
{
	gb_broker *b = ctx;
	struct pending *p = pending_new();

	if (!p) {
		gb_requests_job_free(&job);
		return GB_ENOMEM;
	}
	p->request_job = job;
	p->w = *gb_requests_job_write(job);
	if (zmq_send(b->to_writer, &p, sizeof p, 0) != (int)sizeof p) {
		pending_free(p);
		return GB_EUNAVAIL;
	}
	b->pending_count++;
	return 0;
}

static void requests_fail(void *ctx, const uint8_t *peer, size_t peer_len,
			  int err, uint64_t request_id, const char *text)
{
	gb_broker *b = ctx;

	gb_send_error(&b->to, peer, peer_len, err, request_id, 0, "%s", text);
}

static void requests_log(void *ctx, const char *line)
{
	(void)ctx;
	gb_log("%s", line);
}

/* Before the writer stops: let queued writes commit (up to 5 s), then sign
 * a checkpoint of every stream they extended, so a clean stop leaves each
 * stream's head covered. */
static void audit_stop(gb_broker *b)
{
	uint64_t until = gb_now_ns() + 5000000000ull;

	while (b->audit && b->pending_count > 0 && gb_now_ns() < until) {
		zmq_pollitem_t it = {b->to_writer, 0, ZMQ_POLLIN, 0};

		if (zmq_poll(&it, 1, 100) > 0)
			writer_results(b);
	}
	gb_audit_flush(b->audit);
}

/* ------------------------------------------------------------ reload */

/* Queue the retirement of `epoch` of `dataset`; once committed, the owner
 * is told to open the next one and publishes under it get 412. */
static void retire_epoch(gb_broker *b, const char *dataset, uint32_t epoch,
			 const char *why)
{
	struct pending *p = pending_new();

	if (!p)
		return;
	gb_copy_id(p->dataset, sizeof p->dataset, dataset);
	p->w.kind = GB_WRITE_RETIRE;
	p->w.dataset = p->dataset;
	p->w.key_epoch = epoch;
	if (zmq_send(b->to_writer, &p, sizeof p, 0) != (int)sizeof p) {
		pending_free(p);
		return;
	}
	b->pending_count++;
	if (epoch)
		gb_log("%s: %s; retiring key epoch %u", dataset, why, epoch);
	else
		gb_log("%s: %s; retiring its current key epoch", dataset, why);
}

struct holder_check {
	gb_broker *b;
	const gb_dataset *ds;
	uint32_t epoch;
	int64_t t;
	const char *lost;           /* first holder that may no longer hold it */
};

static int holder_check_one(void *ctx, const char *name)
{
	struct holder_check *h = ctx;
	const gb_department *d = gb_registry_find_department(h->b->reg, name);

	if (d && key_reader(h->b, d, h->ds, h->epoch, h->epoch, h->t))
		return 0;
	h->lost = name;
	return 1;
}

/* Revocation by fact, not by registry diff: whoever holds a wrap of a
 * dataset's current epoch but may no longer hold its key (grant removed or
 * expired, department or dataset removed and re-added, across restarts)
 * makes the broker retire that epoch. Run at start, on every housekeeping
 * tick, after every reload and after every committed key upload. */
static void reconcile_keys(gb_broker *b, int64_t t)
{
	for (size_t i = 0; i < gb_registry_dataset_count(b->reg); i++) {
		const gb_dataset *ds = gb_registry_dataset_at(b->reg, i);
		struct holder_check h = {b, ds, 0, t, NULL};
		char why[128];
		gb_epoch_state es;

		if (gb_store_epoch_get(b->store, ds->id, &es) != 0 ||
		    es.current == 0 || es.retired)
			continue;
		h.epoch = es.current;
		if (gb_store_wrap_holders(b->store, ds->id, es.current,
					  holder_check_one, &h) <= 0 || !h.lost)
			continue;
		snprintf(why, sizeof why, "%.64s may no longer hold its key",
			 h.lost);
		retire_epoch(b, ds->id, 0, why);
	}
}

/* After a reload: revocations are found by reconcile_keys; a department
 * that gained the right to hold a dataset's key (or whose grant's history
 * widened to all) makes the broker ask the owner to wrap keys for it. */
static void reload_key_work(gb_broker *b, const gb_registry *old, int64_t t)
{
	size_t nds = gb_registry_dataset_count(b->reg);

	for (size_t i = 0; i < nds; i++) {
		const gb_dataset *ds = gb_registry_dataset_at(b->reg, i);
		bool gained = false;

		for (size_t j = 0; j < gb_registry_department_count(b->reg); j++) {
			const char *id = gb_registry_department_at(b->reg, j)->id;
			const gb_grant *was_g = gb_registry_find_grant(old, ds->id, id);
			const gb_grant *is_g = gb_registry_find_grant(b->reg, ds->id, id);
			gained |= gb_policy_decide(b->reg, id, GB_ACTION_READ_CONTENT,
						   ds->id, t).allowed &&
				  !gb_policy_decide(old, id, GB_ACTION_READ_CONTENT,
						    ds->id, t).allowed;
			/* history widened to all: older epochs are now owed */
			gained |= was_g && is_g && was_g->history != GB_HISTORY_ALL &&
				  is_g->history == GB_HISTORY_ALL;
		}
		if (gained)
			push_key_work(b, ds->id);
	}
	reconcile_keys(b, t);
}

/* broker.dedupe_seconds of the registry in force goes to the store. */
static void apply_dedupe_window(gb_broker *b)
{
	b->dedupe_seconds = gb_registry_broker(b->reg)->dedupe_seconds;
	gb_store_set_dedupe_window(b->store, b->dedupe_seconds * 1000000000ull);
}

static void broker_reload(gb_broker *b)
{
	gb_registry *next = NULL, *old;
	gb_config_error err;
	char text[1024];
	int rc = gb_config_load(b->config_path, (int64_t)gb_now_ns(), &next, &err);

	if (rc != 0) {
		gb_config_error_format(&err, text, sizeof text);
		gb_log("reload refused, the previous policy stays in force: %s",
			 text);
		gb_audit_policy_rejected(b->audit, text); /* issue 4 */
		return;
	}
	old = b->reg;
	b->reg = next;
	apply_dedupe_window(b);
	gb_audit_policy_loaded(b->audit, b->reg, b->config_path); /* issue 4 */
	gb_requests_policy_loaded(b->requests, b->reg, gb_now_ns()); /* issue 7 */
	reload_key_work(b, old, (int64_t)gb_now_ns());
	gb_zap_policy_loaded(b->zap, b->reg);
	gb_registry_destroy(&old);
	gb_log("reloaded %s: %zu departments, %zu datasets, %zu grants",
		 b->config_path, gb_registry_department_count(b->reg),
		 gb_registry_dataset_count(b->reg),
		 gb_registry_grant_count(b->reg));
	/* The new policy applies to live subscriptions at once. */
	uint64_t t = gb_now_ns();
	for (struct subscription *s = b->subs, *next_s; s; s = next_s) {
		next_s = s->next;
		sub_recheck(b, s, t);
	}
	b->next_expiry_ns = subs_next_expiry(b, t); /* issue 7 */
}

/* ------------------------------------------------------------ signals */

void gb_broker_request_stop(gb_broker *b)
{
	char c = 's';
	if (write(b->signal_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a request is already pending */
	}
}

void gb_broker_request_reload(gb_broker *b)
{
	char c = 'r';
	if (write(b->signal_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a request is already pending */
	}
}

static void signals_handle(gb_broker *b)
{
	char buf[64];
	ssize_t n = read(b->signal_pipe[0], buf, sizeof buf);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == 's')
			b->stopping = true;
		else if (buf[i] == 'r')
			broker_reload(b);
	}
}

/* issue 7: how long the loop may sleep: until the next housekeeping
 * second, or the next grant expiry if that comes first, so a subscription
 * ends at the instant its grant does. */
static long poll_timeout_ms(const gb_broker *b, uint64_t t)
{
	uint64_t left;

	if (b->next_expiry_ns <= t)
		return 0;
	left = b->next_expiry_ns - t;
	return left >= HOUSEKEEPING_NS ? (long)(HOUSEKEEPING_NS / 1000000)
				       : (long)((left + 999999) / 1000000);
}

static void housekeeping(gb_broker *b, uint64_t t)
{
	if (t >= b->next_expiry_ns) { /* issue 7: a grant ends now */
		for (struct subscription *s = b->subs, *next; s; s = next) {
			next = s->next;
			sub_recheck(b, s, t);
		}
		reconcile_keys(b, (int64_t)t);
		b->next_expiry_ns = subs_next_expiry(b, t);
	}
	if (t < b->next_housekeeping_ns)
		return;
	b->next_housekeeping_ns = t + HOUSEKEEPING_NS;
	for (struct subscription *s = b->subs, *next; s; s = next) {
		next = s->next;
		if (t - s->last_seen_ns > SUBSCRIPTION_IDLE_NS) {
			gb_log("dropped idle subscription of %s to %s", s->dept,
				 s->dataset);
			gb_send_error(&b->to, s->peer, s->peer_len, GB_ETIMEOUT, 0, s->id,
				   "subscription to %s dropped: nothing heard "
				   "from the subscriber for 30 s",
				   s->dataset);
			sub_remove(b, s);
			continue;
		}
		sub_recheck(b, s, t); /* grants expire while subscribed */
	}
	gb_sessions_expire(b->sessions, t);
	reconcile_keys(b, (int64_t)t); /* grants expire while running */
	b->next_expiry_ns = subs_next_expiry(b, t); /* issue 7 */
	gb_audit_tick(b->audit, t); /* issue 4: time-based checkpoints */
}

/* ------------------------------------------------------------ lifecycle */

int gb_broker_run(gb_broker *b)
{
	bool blocked = false;

	while (!b->stopping) {
		zmq_pollitem_t items[4] = {
			{gb_zap_socket(b->zap), 0, ZMQ_POLLIN, 0},
			{b->to_writer, 0, ZMQ_POLLIN, 0},
			{NULL, b->signal_pipe[0], ZMQ_POLLIN, 0},
			{b->router, 0, ZMQ_POLLIN, 0},
		};
		/* Above the pending limit, stop reading the ROUTER so that
		 * TCP pushes back on publishers instead of memory growing. */
		int nitems = b->pending_bytes > PENDING_BYTES_MAX ? 3 : 4;
		long timeout = blocked ? 5 : poll_timeout_ms(b, gb_now_ns());

		if (zmq_poll(items, nitems, timeout) < 0) {
			if (errno == EINTR)
				continue;
			gb_log("poll failed: %s", zmq_strerror(errno));
			return GB_EIO;
		}
		if (items[0].revents & ZMQ_POLLIN)
			gb_zap_handle(b->zap, gb_now_ns());
		if (items[1].revents & ZMQ_POLLIN)
			writer_results(b);
		if (items[2].revents & ZMQ_POLLIN)
			signals_handle(b);
		if (nitems == 4 && (items[3].revents & ZMQ_POLLIN))
			for (int i = 0; i < FRAMES_PER_TURN; i++) {
				int ev = 0;
				size_t evlen = sizeof ev;
				router_handle(b);
				if (zmq_getsockopt(b->router, ZMQ_EVENTS, &ev,
						   &evlen) != 0 ||
				    !(ev & ZMQ_POLLIN) ||
				    b->pending_bytes > PENDING_BYTES_MAX)
					break;
			}
		blocked = subs_pump(b);
		housekeeping(b, gb_now_ns());
	}
	return 0;
}

/* Hold an exclusive lock on data_dir/broker.lock and write our pid into it,
 * so two brokers never share a log and `reload` finds the right process. */
static int lock_data_dir(gb_broker *b, const char *dir, char *why,
			 size_t why_len)
{
	char path[4200], pid[32];
	int n;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		(void)gb_why(why, why_len, 0, "cannot create data_dir %.200s: %s", dir,
			strerror(errno));
		return GB_EIO;
	}
	snprintf(path, sizeof path, "%s/broker.lock", dir);
	b->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (b->lock_fd < 0) {
		(void)gb_why(why, why_len, 0, "cannot open %.200s: %s", path,
			strerror(errno));
		return GB_EIO;
	}
	if (flock(b->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		n = (int)read(b->lock_fd, pid, sizeof pid - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		(void)gb_why(why, why_len, 0,
			"another broker (pid %s) is using data_dir %.200s",
			pid[0] ? pid : "?", dir);
		return GB_ECONFLICT;
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(b->lock_fd, 0) != 0 ||
	    pwrite(b->lock_fd, pid, (size_t)n, 0) != n) {
		(void)gb_why(why, why_len, 0, "cannot write %.200s", path);
		return GB_EIO;
	}
	return 0;
}

static void zap_refused(void *ctx, const char *key_text)
{
	gb_broker *b = ctx;

	gb_audit_key_refused(b->audit, key_text); /* issue 4 */
}

static int setup_sockets(gb_broker *b, char *why, size_t why_len)
{
	const gb_broker_settings *bs = gb_registry_broker(b->reg);
	int one = 1, zero = 0, sndhwm = PEER_SNDHWM, rcvhwm = PEER_RCVHWM;
	int64_t maxmsg = 2 * (int64_t)GB_MAX_FRAME;

	b->ctx = zmq_ctx_new();
	if (!b->ctx)
		goto zmq_fail;
	/* ZAP must be bound before any CURVE socket accepts connections. */
	if (gb_zap_new(b->ctx, zap_refused, b, &b->zap) != 0)
		goto zmq_fail;
	gb_zap_policy_loaded(b->zap, b->reg);
	b->to_writer = zmq_socket(b->ctx, ZMQ_PAIR);
	b->writer_end = zmq_socket(b->ctx, ZMQ_PAIR);
	if (!b->to_writer || !b->writer_end ||
	    zmq_setsockopt(b->to_writer, ZMQ_SNDHWM, &zero, sizeof zero) ||
	    zmq_setsockopt(b->writer_end, ZMQ_RCVHWM, &zero, sizeof zero) ||
	    zmq_bind(b->writer_end, "inproc://govbus-writer") != 0 ||
	    zmq_connect(b->to_writer, "inproc://govbus-writer") != 0)
		goto zmq_fail;

	b->router = zmq_socket(b->ctx, ZMQ_ROUTER);
	if (!b->router ||
	    zmq_setsockopt(b->router, ZMQ_CURVE_SERVER, &one, sizeof one) ||
	    zmq_setsockopt(b->router, ZMQ_CURVE_SECRETKEY,
			   gb_identity_box_sk(b->id), GB_BOX_SK_BYTES) ||
	    zmq_setsockopt(b->router, ZMQ_ZAP_DOMAIN, "govbus", 6) ||
	    zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) ||
	    zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
	    zmq_setsockopt(b->router, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) ||
	    zmq_setsockopt(b->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) ||
	    zmq_setsockopt(b->router, ZMQ_LINGER, &zero, sizeof zero))
		goto zmq_fail;
	b->to.send = gb_send_router;
	b->to.ctx = b->router;
	if (zmq_bind(b->router, bs->listen) != 0) {
		(void)gb_why(why, why_len, 0, "cannot listen on %.200s: %s", bs->listen,
			zmq_strerror(errno));
		return GB_EIO;
	}
	return 0;
zmq_fail:
	(void)gb_why(why, why_len, 0, "ZeroMQ setup failed: %s", zmq_strerror(errno));
	return GB_EIO;
}

int gb_broker_new(const char *config_path, gb_broker **out, char *why,
		  size_t why_len)
{
	gb_broker *b = calloc(1, sizeof *b);
	gb_config_error err;
	const gb_broker_settings *bs;
	char sign_key[GB_SIGN_PK_TEXT]; /* issue 4 */
	int rc;

	*out = NULL;
	if (!b)
		return GB_ENOMEM;
	b->lock_fd = -1;
	b->signal_pipe[0] = b->signal_pipe[1] = -1;
	snprintf(b->config_path, sizeof b->config_path, "%s", config_path);
	if (!zmq_has("curve")) {
		(void)gb_why(why, why_len, 0, "this libzmq was built without CURVE");
		rc = GB_EIO;
		goto err;
	}
	rc = gb_config_load(config_path, (int64_t)gb_now_ns(), &b->reg, &err);
	if (rc != 0) {
		gb_config_error_format(&err, why, why_len);
		goto err;
	}
	bs = gb_registry_broker(b->reg);
	rc = gb_identity_load(bs->key, &b->id, why, why_len);
	if (rc != 0)
		goto err;
	rc = lock_data_dir(b, bs->data_dir, why, why_len);
	if (rc != 0)
		goto err;
	rc = gb_store_open(bs->data_dir, bs->map_size, &b->store);
	if (rc != 0) {
		(void)gb_why(why, why_len, 0, "cannot open the log in %.200s: %s",
			bs->data_dir, gb_strerror(rc));
		goto err;
	}
	apply_dedupe_window(b);
	if (pipe2(b->signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		(void)gb_why(why, why_len, 0, "pipe: %s", strerror(errno));
		rc = GB_EIO;
		goto err;
	}
	rc = setup_sockets(b, why, why_len);
	if (rc != 0)
		goto err;
	if (gb_heads_new(b->store, &b->heads) != 0 ||
	    !(b->sessions = gb_sessions_new())) {
		(void)gb_why(why, why_len, 0, "out of memory");
		rc = GB_ENOMEM;
		goto err;
	}
	if (pthread_create(&b->writer, NULL, writer_main, b) != 0) {
		(void)gb_why(why, why_len, 0, "cannot start the writer thread");
		rc = GB_EIO;
		goto err;
	}
	b->writer_started = true;
	/* Revocations made while the broker was down take effect now. */
	reconcile_keys(b, (int64_t)gb_now_ns());
	randombytes_buf(&b->instance, sizeof b->instance);

	b->next_expiry_ns = UINT64_MAX; /* issue 7: no subscription yet */
	{ /* audit (issue 4): the trail starts with the policy in force */
		gb_audit_io io = {audit_submit, audit_send, b};

		rc = gb_audit_new(b->store, b->id, bs, &io, &b->audit);
		if (rc != 0) {
			(void)gb_why(why, why_len, 0, "cannot start the audit trail: %s",
				gb_strerror(rc));
			goto err;
		}
		gb_audit_policy_loaded(b->audit, b->reg, b->config_path);
		gb_key_encode_sign(gb_identity_sign_pk(b->id), sign_key);
	}
	{ /* issue 7: access requests answered by the config in force */
		gb_requests_io io = {requests_submit, audit_send, requests_fail,
				     requests_log, b};

		rc = gb_requests_new(b->store, b->audit, &io, &b->requests);
		if (rc != 0) {
			(void)gb_why(why, why_len, 0,
				     "cannot start the access requests: %s",
				     gb_strerror(rc));
			goto err;
		}
		gb_requests_policy_loaded(b->requests, b->reg, gb_now_ns());
	}
	gb_log("listening on %s (data in %s): %zu departments, %zu datasets, "
		 "%zu grants; checkpoints signed by broker sign key %s",
		 bs->listen, bs->data_dir, gb_registry_department_count(b->reg),
		 gb_registry_dataset_count(b->reg),
		 gb_registry_grant_count(b->reg), sign_key);
	*out = b;
	return 0;
err:
	gb_broker_destroy(&b);
	return rc;
}

void gb_broker_destroy(gb_broker **bp)
{
	gb_broker *b;

	if (!bp || !*bp)
		return;
	b = *bp;
	if (b->writer_started) {
		struct pending *stop = NULL;
		audit_stop(b); /* issue 4: checkpoint before the writer stops */
		zmq_send(b->to_writer, &stop, sizeof stop, 0);
		pthread_join(b->writer, NULL);
		/* Anything the writer finished but we never acked is freed;
		 * nothing is acked, so agents will retry it. */
		writer_results(b);
	}
	while (b->subs)
		sub_remove(b, b->subs);
	gb_sessions_destroy(&b->sessions);
	gb_heads_destroy(&b->heads);
	if (b->router)
		zmq_close(b->router);
	gb_zap_destroy(&b->zap);
	if (b->to_writer)
		zmq_close(b->to_writer);
	if (b->writer_end)
		zmq_close(b->writer_end);
	if (b->ctx)
		zmq_ctx_term(b->ctx);
	gb_audit_destroy(&b->audit); /* issue 4: after the last job is done */
	gb_requests_destroy(&b->requests); /* issue 7: likewise */
	gb_store_close(&b->store);
	gb_identity_destroy(&b->id);
	gb_registry_destroy(&b->reg);
	if (b->signal_pipe[0] >= 0)
		close(b->signal_pipe[0]);
	if (b->signal_pipe[1] >= 0)
		close(b->signal_pipe[1]);
	if (b->lock_fd >= 0)
		close(b->lock_fd);
	free(b);
	*bp = NULL;
}
