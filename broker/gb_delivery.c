/* govbus broker delivery; see gb_delivery.h.
 *
 * Trust: Subscribe, Credit, Unsubscribe and CursorAck come from an
 * authenticated department and were bounded by gb_codec; everything in
 * them is still the peer's word. A subscription is found by (connection,
 * department, id), so one connection cannot touch another's; a start
 * offset is clamped to the head, a cursor ack beyond what was delivered
 * ends the subscription, credit is capped at GB_MAX_CREDIT, and each
 * connection holds at most SUBSCRIPTIONS_PER_PEER_MAX subscriptions, so
 * broker memory per connection is bounded. Batches are sent exactly as
 * stored. */
#include "gb_delivery.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"
#include "gb_log.h"
#include "gb_policy.h"

#define BATCHES_PER_PUMP 32       /* per subscription per turn */
#define SUBSCRIPTIONS_PER_PEER_MAX 256 /* bounds broker memory per connection */
#define SUBSCRIPTION_IDLE_NS (30ull * 1000000000ull) /* peer silent: drop */

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

struct gb_delivery {
	gb_delivery_deps deps;
	const gb_registry *reg;
	struct subscription *subs;
	uint64_t next_expiry_ns;      /* earliest expiry of a grant a live
				       * subscription holds (UINT64_MAX: none) */
};

/* A durable cursor on its way through the writer. */
struct cursor_job {
	gb_write w;
	char dataset[GB_MAX_ID_LEN + 1];
	char dept[GB_MAX_ID_LEN + 1];
	char cursor_name[GB_MAX_NAME_LEN + 1];
};

int gb_delivery_new(const gb_delivery_deps *deps, gb_delivery **out)
{
	gb_delivery *d = calloc(1, sizeof *d);

	*out = NULL;
	if (!d)
		return GB_ENOMEM;
	d->deps = *deps;
	d->next_expiry_ns = UINT64_MAX; /* no subscription yet */
	*out = d;
	return 0;
}

/* The subscription `id` of this connection. Routing ids can be reused by a
 * later connection, so the department must match too. */
static struct subscription *sub_find(gb_delivery *d, const uint8_t *peer,
				     size_t peer_len, const char *dept,
				     uint64_t id)
{
	for (struct subscription *s = d->subs; s; s = s->next)
		if (s->id == id && s->peer_len == peer_len &&
		    !memcmp(s->peer, peer, peer_len) && !strcmp(s->dept, dept))
			return s;
	return NULL;
}

static void sub_remove(gb_delivery *d, struct subscription *gone)
{
	for (struct subscription **pp = &d->subs; *pp; pp = &(*pp)->next)
		if (*pp == gone) {
			*pp = gone->next;
			free(gone);
			return;
		}
}

void gb_delivery_destroy(gb_delivery **dp)
{
	if (!dp || !*dp)
		return;
	while ((*dp)->subs)
		sub_remove(*dp, (*dp)->subs);
	free(*dp);
	*dp = NULL;
}

void gb_delivery_policy_loaded(gb_delivery *d, const gb_registry *reg)
{
	d->reg = reg;
}

void gb_delivery_touch(gb_delivery *d, const uint8_t *peer, size_t peer_len,
		       const char *dept, uint64_t t)
{
	for (struct subscription *s = d->subs; s; s = s->next)
		if (s->peer_len == peer_len && !memcmp(s->peer, peer, peer_len) &&
		    !strcmp(s->dept, dept))
			s->last_seen_ns = t;
}

/* End a subscription whose grant no longer holds; true if it was ended. */
static bool sub_recheck(gb_delivery *d, struct subscription *s, uint64_t t)
{
	gb_decision dec = gb_policy_decide(d->reg, s->dept, GB_ACTION_SUBSCRIBE,
					   s->dataset, (int64_t)t);
	/* Still catching up on history: the replay right must hold too. */
	if (dec.allowed && s->next_offset < s->live_from)
		dec = gb_policy_decide(d->reg, s->dept, GB_ACTION_REPLAY,
				       s->dataset, (int64_t)t);
	if (dec.allowed)
		return false;
	gb_log("ended subscription of %s to %s: %s", s->dept, s->dataset,
	       dec.reason);
	gb_audit_ended(d->deps.audit, s->dept, s->dataset, dec.error, dec.reason);
	gb_send_error(&d->deps.to, s->peer, s->peer_len, dec.error, 0, s->id,
		      "subscription of %s to %s ended: %s", s->dept, s->dataset,
		      dec.reason);
	sub_remove(d, s);
	return true;
}

void gb_delivery_recheck(gb_delivery *d, uint64_t t)
{
	for (struct subscription *s = d->subs, *next; s; s = next) {
		next = s->next;
		sub_recheck(d, s, t);
	}
}

void gb_delivery_tick(gb_delivery *d, uint64_t t)
{
	for (struct subscription *s = d->subs, *next; s; s = next) {
		next = s->next;
		if (t - s->last_seen_ns > SUBSCRIPTION_IDLE_NS) {
			gb_log("dropped idle subscription of %s to %s", s->dept,
			       s->dataset);
			gb_send_error(&d->deps.to, s->peer, s->peer_len,
				      GB_ETIMEOUT, 0, s->id,
				      "subscription to %s dropped: nothing heard "
				      "from the subscriber for 30 s",
				      s->dataset);
			sub_remove(d, s);
			continue;
		}
		sub_recheck(d, s, t); /* grants expire while subscribed */
	}
}

void gb_delivery_plan_expiry(gb_delivery *d, uint64_t t)
{
	uint64_t next = UINT64_MAX;

	for (struct subscription *s = d->subs; s; s = s->next) {
		gb_decision dec = gb_policy_decide(d->reg, s->dept,
						   GB_ACTION_SUBSCRIBE,
						   s->dataset, (int64_t)t);
		if (dec.allowed && dec.grant &&
		    (uint64_t)dec.grant->expires_ns > t &&
		    (uint64_t)dec.grant->expires_ns < next)
			next = (uint64_t)dec.grant->expires_ns;
	}
	d->next_expiry_ns = next;
}

uint64_t gb_delivery_next_expiry(const gb_delivery *d)
{
	return d->next_expiry_ns;
}

/* ------------------------------------------------------------ the pump */

struct deliver_ctx {
	gb_delivery *d;
	struct subscription *s;
	int send_rc;
};

static int deliver_one(void *arg, const gb_stored_batch *sb)
{
	struct deliver_ctx *c = arg;
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Deliver dl = GOVBUS__V1__DELIVER__INIT;

	dl.subscription_id = c->s->id;
	dl.base_offset = sb->base_offset;
	dl.record_count = sb->record_count;
	dl.broker_time_ns = sb->broker_time_ns;
	dl.chain_hash.data = (uint8_t *)sb->chain_hash;
	dl.chain_hash.len = GB_HASH_BYTES;
	dl.signed_batch.data = (uint8_t *)sb->signed_batch;
	dl.signed_batch.len = sb->signed_batch_len;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_DELIVER;
	f.deliver = &dl;
	c->send_rc = gb_send(&c->d->deps.to, c->s->peer, c->s->peer_len, &f);
	if (c->send_rc != 0)
		return 1;
	c->s->next_offset = sb->base_offset + sb->record_count;
	c->s->credit--;
	return c->s->credit ? 0 : 1;
}

bool gb_delivery_pump(gb_delivery *d)
{
	struct subscription *s = d->subs, *next;
	bool blocked = false;

	for (; s; s = next) {
		uint64_t head;
		next = s->next;
		if (s->credit == 0 ||
		    gb_heads_get(d->deps.heads, s->dataset, &head) != 0 ||
		    s->next_offset >= head)
			continue;
		if (sub_recheck(d, s, gb_now_ns()))
			continue;
		struct deliver_ctx c = {d, s, 0};
		size_t max = s->credit < BATCHES_PER_PUMP ? s->credit
							   : BATCHES_PER_PUMP;
		int rc = gb_store_read(d->deps.store, s->dataset, s->next_offset,
				       max, deliver_one, &c);
		if (rc < 0) {
			gb_log("read of %s at offset %" PRIu64 " failed: %s",
			       s->dataset, s->next_offset, gb_strerror(rc));
			gb_send_error(&d->deps.to, s->peer, s->peer_len, rc, 0,
				      s->id,
				      "reading %s at offset %" PRIu64 " failed: %s",
				      s->dataset, s->next_offset, gb_strerror(rc));
			sub_remove(d, s);
			continue;
		}
		if (c.send_rc == GB_ECLOSED)
			sub_remove(d, s);
		else if (c.send_rc == GB_EUNAVAIL)
			blocked = true;
	}
	return blocked;
}

/* ------------------------------------------------------------ frames */

void gb_delivery_subscribe(gb_delivery *d, const gb_caller *from,
			   const Govbus__V1__Subscribe *req)
{
	const gb_sender *to = &d->deps.to;
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__SubscribeOk ok = GOVBUS__V1__SUBSCRIBE_OK__INIT;
	const gb_dataset *ds;
	const gb_department *owner;
	struct subscription *s;
	uint64_t head = 0, start = 0, stored;
	gb_decision dec;
	int rc;

	{
		size_t n = 0;
		for (struct subscription *x = d->subs; x; x = x->next)
			n += x->peer_len == from->peer_len &&
			     !memcmp(x->peer, from->peer, from->peer_len);
		if (n >= SUBSCRIPTIONS_PER_PEER_MAX) {
			gb_send_error(to, from->peer, from->peer_len, GB_ETOOBIG,
				      0, req->subscription_id,
				      "too many subscriptions on this connection "
				      "(limit %d)",
				      SUBSCRIPTIONS_PER_PEER_MAX);
			return;
		}
	}
	if (sub_find(d, from->peer, from->peer_len, from->dept,
		     req->subscription_id)) {
		gb_send_error(to, from->peer, from->peer_len, GB_ECONFLICT, 0,
			      req->subscription_id,
			      "subscription id %" PRIu64 " is already in use",
			      req->subscription_id);
		return;
	}
	dec = gb_policy_decide(d->reg, from->dept, GB_ACTION_SUBSCRIBE,
			       req->dataset, (int64_t)from->t);
	if (!dec.allowed) {
		gb_log("refused subscribe of %s to %s: %s", from->dept,
		       req->dataset, dec.reason);
		gb_audit_denied(d->deps.audit, from->dept, req->dataset,
				"subscribe", dec.error, dec.reason);
		gb_send_error(to, from->peer, from->peer_len, dec.error, 0,
			      req->subscription_id,
			      "%s may not subscribe to %s: %s", from->dept,
			      req->dataset, dec.reason);
		return;
	}
	ds = gb_registry_find_dataset(d->reg, req->dataset);
	owner = ds ? gb_registry_find_department(d->reg, ds->owner)
		   : gb_audit_trail_owner(d->deps.audit, req->dataset);
	rc = gb_heads_get(d->deps.heads, req->dataset, &head);
	if (rc != 0 || !owner) {
		gb_send_error(to, from->peer, from->peer_len,
			      rc ? rc : GB_ENOTFOUND, 0, req->subscription_id,
			      "cannot open stream %s: %s", req->dataset,
			      gb_strerror(rc ? rc : GB_ENOTFOUND));
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
		rc = gb_store_offset_for_time(d->deps.store, req->dataset,
					      req->time_ns, &start);
		break;
	default:
		start = 0;
		break;
	}
	if (rc == 0 && req->durable[0]) {
		rc = gb_store_cursor_get(d->deps.store, from->dept, req->dataset,
					 req->durable, &stored);
		if (rc == 0)
			start = stored < head ? stored : head;
		else if (rc == GB_ENOTFOUND)
			rc = 0;
	}
	if (rc != 0) {
		gb_send_error(to, from->peer, from->peer_len, rc, 0,
			      req->subscription_id, "cannot position in %s: %s",
			      req->dataset, gb_strerror(rc));
		return;
	}
	if (start < head) {
		dec = gb_policy_decide(d->reg, from->dept, GB_ACTION_REPLAY,
				       req->dataset, (int64_t)from->t);
		if (!dec.allowed) {
			gb_log("refused replay of %s by %s: %s", req->dataset,
			       from->dept, dec.reason);
			gb_audit_denied(d->deps.audit, from->dept, req->dataset,
					"replay", dec.error, dec.reason);
			gb_send_error(to, from->peer, from->peer_len, dec.error,
				      0, req->subscription_id,
				      "%s may not replay %s: %s", from->dept,
				      req->dataset, dec.reason);
			return;
		}
		if (dec.history_from_ns > 0) {
			uint64_t first = 0;
			rc = gb_store_offset_for_time(
				d->deps.store, req->dataset,
				(uint64_t)dec.history_from_ns, &first);
			if (rc == 0 && first > start)
				start = first;
		}
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		gb_send_error(to, from->peer, from->peer_len, GB_ENOMEM, 0,
			      req->subscription_id, "broker out of memory");
		return;
	}
	memcpy(s->peer, from->peer, from->peer_len);
	s->peer_len = from->peer_len;
	s->id = req->subscription_id;
	gb_copy_id(s->dept, sizeof s->dept, from->dept);
	gb_copy_id(s->dataset, sizeof s->dataset, req->dataset);
	gb_copy_id(s->durable, sizeof s->durable, req->durable);
	s->next_offset = start;
	s->live_from = head;
	s->credit = req->credit;
	s->last_seen_ns = from->t;
	s->next = d->subs;
	d->subs = s;
	if (dec.grant && (uint64_t)dec.grant->expires_ns < d->next_expiry_ns)
		d->next_expiry_ns = (uint64_t)dec.grant->expires_ns;

	ok.subscription_id = s->id;
	ok.start_offset = start;
	ok.head_offset = head;
	ok.owner = (char *)owner->id;
	ok.owner_sign_key.data = (uint8_t *)owner->sign_pk;
	ok.owner_sign_key.len = GB_KEY_BYTES;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK;
	f.subscribe_ok = &ok;
	(void)gb_send(to, from->peer, from->peer_len, &f);
	gb_log("%s subscribed to %s from offset %" PRIu64 "%s%s", from->dept,
	       req->dataset, start, s->durable[0] ? " as " : "", s->durable);
	gb_audit_subscribed(d->deps.audit, from->dept, req->dataset, start, head,
			    s->durable);
}

void gb_delivery_credit(gb_delivery *d, const gb_caller *from,
			const Govbus__V1__Credit *req)
{
	struct subscription *s = sub_find(d, from->peer, from->peer_len,
					  from->dept, req->subscription_id);

	if (s) {
		uint64_t c = (uint64_t)s->credit + req->batches;
		s->credit = c > GB_MAX_CREDIT ? GB_MAX_CREDIT : (uint32_t)c;
	}
}

void gb_delivery_unsubscribe(gb_delivery *d, const gb_caller *from,
			     const Govbus__V1__Unsubscribe *req)
{
	struct subscription *s = sub_find(d, from->peer, from->peer_len,
					  from->dept, req->subscription_id);

	if (s)
		sub_remove(d, s);
}

/* The cursor is stored or not; either way the subscriber learns nothing
 * (it acks again as it reads on, and a restart resumes from the last one
 * stored). */
static void cursor_done(void *arg)
{
	free(arg);
}

void gb_delivery_cursor_ack(gb_delivery *d, const gb_caller *from,
			    const Govbus__V1__CursorAck *ack)
{
	struct subscription *s = sub_find(d, from->peer, from->peer_len,
					  from->dept, ack->subscription_id);
	struct cursor_job *job;

	if (!s || !s->durable[0]) {
		gb_send_error(&d->deps.to, from->peer, from->peer_len,
			      GB_ENOTFOUND, 0, ack->subscription_id,
			      "cursor ack for subscription %" PRIu64
			      ", which is not a live durable subscription",
			      ack->subscription_id);
		return;
	}
	if (ack->next_offset > s->next_offset) {
		gb_send_error(&d->deps.to, from->peer, from->peer_len, GB_EINVAL,
			      0, s->id,
			      "cursor ack at offset %" PRIu64
			      " is beyond what was delivered (%" PRIu64 ")",
			      ack->next_offset, s->next_offset);
		sub_remove(d, s); /* an Error with its id ends it */
		return;
	}
	job = calloc(1, sizeof *job);
	if (!job)
		return;
	gb_copy_id(job->dataset, sizeof job->dataset, s->dataset);
	gb_copy_id(job->dept, sizeof job->dept, s->dept);
	gb_copy_id(job->cursor_name, sizeof job->cursor_name, s->durable);
	job->w.kind = GB_WRITE_CURSOR;
	job->w.dataset = job->dataset;
	job->w.dept = job->dept;
	job->w.cursor_name = job->cursor_name;
	job->w.cursor_next = ack->next_offset;
	if (gb_writer_submit(d->deps.writer, &job->w, 1, cursor_done, job) != 0)
		free(job);
}
