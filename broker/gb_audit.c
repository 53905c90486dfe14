/* govbus broker audit; see gb_audit.h.
 *
 * Trust: the strings this module records come from the broker, which took
 * them from validated frames (ids) or from its own sentences; they are
 * bounded again here before they are stored. Requests come from
 * departments that passed ZAP and are decided by gb_policy_decide under
 * the registry in force, like every other request. Time is this host's
 * clock. What the store gives back (checkpoints, policy snapshots) is
 * passed on as stored: the agents and auditors who receive it verify it,
 * and must see tampering rather than have it hidden. */
#include "gb_audit.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_checkpoint.h"
#include "gb_error.h"
#include "gb_log.h"
#include "gb_policy.h"
#include "govbus.pb-c.h"

#define DETAIL_MAX 512                 /* bytes of an event's detail */
#define LIST_MAX_CHECKPOINTS 4096      /* per CheckpointList frame */
#define REGISTRY_CONFIG_BUDGET (8u << 20) /* config bytes per Registry frame */
#define PEER_MAX 256

/* Per-stream checkpoint schedule. */
struct cp_stream {
	char name[GB_MAX_ID_LEN + 1];
	uint64_t since;                /* batches committed since the last one */
	uint64_t last_ns;              /* when the last one was taken */
};

struct gb_audit {
	gb_store *store;
	const gb_identity *id;
	gb_audit_io io;
	uint64_t every_batches;
	uint64_t every_ns;
	uint8_t policy_hash[GB_HASH_BYTES];
	struct cp_stream *streams;
	size_t stream_count, stream_cap;
	gb_department trail_owner;     /* "_broker", for _audit subscriptions */
	bool stopped;                  /* after gb_audit_flush: queue nothing */
};

struct gb_audit_job {
	gb_write w;
	char stream[GB_MAX_ID_LEN + 1];
	uint8_t *bytes;                /* what w stores: owned */
	uint8_t hash[GB_HASH_BYTES];   /* POLICY */
	bool reply;                    /* a requested checkpoint: answer it */
	uint8_t peer[PEER_MAX];
	size_t peer_len;
	uint64_t request_id;
};

/* ------------------------------------------------------------ lifecycle */

int gb_audit_new(gb_store *store, const gb_identity *id,
		 const gb_broker_settings *settings, const gb_audit_io *io,
		 gb_audit **out)
{
	gb_audit *a;

	*out = NULL;
	if (!store || !id || !settings || !io || !io->submit || !io->send)
		return GB_EINVAL;
	a = calloc(1, sizeof *a);
	if (!a)
		return GB_ENOMEM;
	a->store = store;
	a->id = id;
	a->io = *io;
	a->every_batches = settings->checkpoint_batches
				   ? settings->checkpoint_batches
				   : GB_CHECKPOINT_BATCHES_DEFAULT;
	a->every_ns = (settings->checkpoint_seconds
			       ? settings->checkpoint_seconds
			       : GB_CHECKPOINT_SECONDS_DEFAULT) *
		      1000000000ull;
	a->trail_owner.id = "_broker";
	a->trail_owner.name = "govbus broker";
	memcpy(a->trail_owner.sign_pk, gb_identity_sign_pk(id), GB_KEY_BYTES);
	memcpy(a->trail_owner.box_pk, gb_identity_box_pk(id), GB_KEY_BYTES);
	*out = a;
	return 0;
}

void gb_audit_destroy(gb_audit **ap)
{
	if (!ap || !*ap)
		return;
	free((*ap)->streams);
	free(*ap);
	*ap = NULL;
}

/* ------------------------------------------------------------ jobs */

static gb_audit_job *job_new(gb_write_kind kind, const char *stream)
{
	gb_audit_job *job = calloc(1, sizeof *job);

	if (!job)
		return NULL;
	snprintf(job->stream, sizeof job->stream, "%s", stream);
	job->w.kind = kind;
	job->w.dataset = job->stream;
	job->w.now_ns = gb_now_ns();
	return job;
}

const gb_write *gb_audit_job_write(const gb_audit_job *job)
{
	return &job->w;
}

void gb_audit_job_free(gb_audit_job **job)
{
	if (!job || !*job)
		return;
	free((*job)->bytes);
	free(*job);
	*job = NULL;
}

static void submit(gb_audit *a, gb_audit_job *job)
{
	int rc = a->io.submit(a->io.ctx, job);

	if (rc != 0)
		gb_log("audit: cannot queue a write of %s: %s", job->stream,
		       gb_strerror(rc));
}

static void send_error(gb_audit *a, const uint8_t *peer, size_t peer_len,
		       int err, uint64_t request_id, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void send_error(gb_audit *a, const uint8_t *peer, size_t peer_len,
		       int err, uint64_t request_id, const char *fmt, ...)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Error e = GOVBUS__V1__ERROR__INIT;
	char text[GB_MAX_MESSAGE_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	e.status = gb_error_status(err);
	e.message = text;
	e.request_id = request_id;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_ERROR;
	f.error = &e;
	(void)a->io.send(a->io.ctx, peer, peer_len, &f);
}

static void reply_checkpoint(gb_audit *a, const gb_audit_job *job)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__CheckpointReply r = GOVBUS__V1__CHECKPOINT_REPLY__INIT;

	r.request_id = job->request_id;
	r.signed_checkpoint.data = job->bytes;
	r.signed_checkpoint.len = job->w.value_len;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_CHECKPOINT_REPLY;
	f.checkpoint_reply = &r;
	(void)a->io.send(a->io.ctx, job->peer, job->peer_len, &f);
}

void gb_audit_job_done(gb_audit *a, gb_audit_job *job, const gb_write *result)
{
	if (result->result != 0) {
		gb_log("audit: storing a %s of %s failed: %s",
		       job->w.kind == GB_WRITE_AUDIT ? "trail event"
		       : job->w.kind == GB_WRITE_CHECKPOINT ? "checkpoint"
							    : "policy snapshot",
		       job->stream, gb_strerror(result->result));
		if (job->reply)
			send_error(a, job->peer, job->peer_len, result->result,
				   job->request_id,
				   "checkpoint of %s not stored: %s", job->stream,
				   gb_strerror(result->result));
	} else if (job->w.kind == GB_WRITE_AUDIT) {
		gb_audit_appended(a, job->stream);
	} else if (job->reply) {
		reply_checkpoint(a, job);
	}
	gb_audit_job_free(&job);
}

/* ------------------------------------------------------------ events */

static char *nz(const char *s)
{
	return (char *)(s ? s : "");
}

/* Stamp `ev` with the policy in force and the time, and append it. */
static void record(gb_audit *a, Govbus__V1__AuditEvent *ev)
{
	gb_audit_job *job;
	size_t len;

	if (a->stopped)
		return;
	ev->policy_hash.data = a->policy_hash;
	ev->policy_hash.len = GB_HASH_BYTES;
	ev->broker_time_ns = gb_now_ns();
	job = job_new(GB_WRITE_AUDIT, GB_AUDIT_STREAM);
	len = govbus__v1__audit_event__get_packed_size(ev);
	if (!job || !(job->bytes = malloc(len ? len : 1))) {
		gb_log("audit: out of memory recording an event");
		gb_audit_job_free(&job);
		return;
	}
	govbus__v1__audit_event__pack(ev, job->bytes);
	job->w.signed_batch = job->bytes;
	job->w.signed_batch_len = len;
	job->w.record_count = 1;
	job->w.now_ns = ev->broker_time_ns;
	submit(a, job);
}

/* Record an event of `kind` with a formatted, bounded detail. */
static void record_event(gb_audit *a, Govbus__V1__AuditEvent *ev,
			 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void record_event(gb_audit *a, Govbus__V1__AuditEvent *ev,
			 const char *fmt, ...)
{
	char detail[DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	ev->detail = detail;
	record(a, ev);
}

static Govbus__V1__AuditEvent event(Govbus__V1__AuditEvent__Kind kind,
				    const char *dept, const char *dataset,
				    const char *action)
{
	Govbus__V1__AuditEvent ev = GOVBUS__V1__AUDIT_EVENT__INIT;

	ev.kind = kind;
	ev.dept = nz(dept);
	ev.dataset = nz(dataset);
	ev.action = nz(action);
	return ev;
}

void gb_audit_denied(gb_audit *a, const char *dept, const char *dataset,
		     const char *action, int err, const char *reason)
{
	Govbus__V1__AuditEvent ev = event(
		GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_DENIED, dept, dataset, action);

	if (!a)
		return;
	ev.status = gb_error_status(err);
	record_event(a, &ev, "%s", nz(reason));
}

void gb_audit_ended(gb_audit *a, const char *dept, const char *dataset,
		    int err, const char *reason)
{
	Govbus__V1__AuditEvent ev =
		event(GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_SUBSCRIPTION_ENDED,
		      dept, dataset, "subscribe");

	if (!a)
		return;
	ev.status = gb_error_status(err);
	record_event(a, &ev, "%s", nz(reason));
}

void gb_audit_subscribed(gb_audit *a, const char *dept, const char *dataset,
			 uint64_t start, uint64_t head, const char *durable)
{
	bool replay = start < head;
	Govbus__V1__AuditEvent ev = event(
		replay ? GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_REPLAY
		       : GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_SUBSCRIBE,
		dept, dataset, replay ? "replay" : "subscribe");

	if (!a)
		return;
	ev.offset = start;
	record_event(a, &ev, "from offset %" PRIu64 " (head %" PRIu64 ")%s%s",
		     start, head, durable && *durable ? ", durable cursor " : "",
		     durable && *durable ? durable : "");
}

void gb_audit_access_request(gb_audit *a, const char *dept, const char *dataset,
		     uint64_t request_id, const char *decision,
		     const char *detail)
{
	Govbus__V1__AuditEvent ev = event(
		decision ? GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_ACCESS_DECISION
			 : GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_ACCESS_REQUEST,
		dept, dataset, "access-request");

	if (!a)
		return;
	if (decision)
		record_event(a, &ev, "request %" PRIu64 " %s: %s", request_id,
			     decision, nz(detail));
	else
		record_event(a, &ev, "request %" PRIu64 " recorded, pending",
			     request_id);
}

void gb_audit_connected(gb_audit *a, const char *dept)
{
	Govbus__V1__AuditEvent ev = event(
		GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_CONNECT, dept, NULL, "connect");

	if (!a)
		return;
	record(a, &ev);
}

void gb_audit_key_refused(gb_audit *a, const char *key_text)
{
	Govbus__V1__AuditEvent ev =
		event(GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_CONNECTION_REFUSED,
		      NULL, NULL, "connect");

	if (!a)
		return;
	ev.status = gb_error_status(GB_EAUTH);
	record_event(a, &ev, "key %.64s is not registered", nz(key_text));
}

void gb_audit_wraps_stored(gb_audit *a, const char *dept, const char *dataset,
			   uint32_t epoch, uint32_t count, bool new_epoch)
{
	Govbus__V1__AuditEvent ev =
		event(GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_KEY_WRAPS, dept,
		      dataset, "key-upload");

	if (!a)
		return;
	ev.key_epoch = epoch;
	ev.count = count;
	record_event(a, &ev, "%u key wrap(s) of epoch %u stored%s", count,
		     epoch, new_epoch ? "; the epoch was opened" : "");
}

void gb_audit_policy_loaded(gb_audit *a, const gb_registry *reg,
			    const char *path)
{
	Govbus__V1__AuditEvent ev = event(
		GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_POLICY_LOAD, NULL, NULL,
		"load-policy");
	const uint8_t *bytes;
	gb_audit_job *job;
	size_t len;

	if (!a)
		return;
	memcpy(a->policy_hash, gb_registry_hash(reg), GB_HASH_BYTES);
	bytes = gb_registry_source(reg, &len);
	job = job_new(GB_WRITE_POLICY, "policies");
	if (!job || !(job->bytes = malloc(len ? len : 1))) {
		gb_log("audit: out of memory storing the policy snapshot");
		gb_audit_job_free(&job);
	} else {
		memcpy(job->bytes, bytes, len);
		memcpy(job->hash, gb_registry_hash(reg), GB_HASH_BYTES);
		job->w.value = job->bytes;
		job->w.value_len = len;
		job->w.policy_hash = job->hash;
		job->w.now_ns = (uint64_t)gb_registry_loaded_ns(reg);
		submit(a, job);
	}
	ev.broker_sign_key.data = (uint8_t *)gb_identity_sign_pk(a->id);
	ev.broker_sign_key.len = GB_SIGN_PK_BYTES;
	record_event(a, &ev,
		     "%.300s: %zu departments, %zu datasets, %zu grants, "
		     "loaded at %" PRId64,
		     nz(path), gb_registry_department_count(reg),
		     gb_registry_dataset_count(reg), gb_registry_grant_count(reg),
		     gb_registry_loaded_ns(reg));
}

void gb_audit_policy_rejected(gb_audit *a, const char *error_text)
{
	Govbus__V1__AuditEvent ev =
		event(GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_POLICY_REJECTED, NULL,
		      NULL, "load-policy");

	if (!a)
		return;
	ev.status = gb_error_status(GB_ECONFIG);
	record_event(a, &ev, "%s", nz(error_text));
}

/* ------------------------------------------------------------ checkpoints */

static struct cp_stream *stream_find(gb_audit *a, const char *name, bool add)
{
	struct cp_stream *s;

	for (size_t i = 0; i < a->stream_count; i++)
		if (!strcmp(a->streams[i].name, name))
			return &a->streams[i];
	if (!add)
		return NULL;
	if (a->stream_count == a->stream_cap) {
		size_t cap = a->stream_cap ? a->stream_cap * 2 : 16;
		struct cp_stream *grown = realloc(a->streams, cap * sizeof *grown);

		if (!grown)
			return NULL;
		a->streams = grown;
		a->stream_cap = cap;
	}
	s = &a->streams[a->stream_count++];
	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", name);
	s->last_ns = gb_now_ns();
	return s;
}

/* Sign the committed head of `stream` and queue it for storing; with a
 * requester, answer it once stored. */
static int take_checkpoint(gb_audit *a, const char *stream,
			   const uint8_t *peer, size_t peer_len,
			   uint64_t request_id)
{
	struct cp_stream *sched = stream_find(a, stream, true);
	gb_stream_info info;
	gb_checkpoint cp;
	gb_audit_job *job;
	int rc;

	if (a->stopped)
		return GB_EUNAVAIL;
	rc = gb_store_stream_info(a->store, stream, &info);
	if (rc != 0)
		return rc;
	memset(&cp, 0, sizeof cp);
	snprintf(cp.dataset, sizeof cp.dataset, "%s", stream);
	cp.next_offset = info.next_offset;
	memcpy(cp.chain_hash, info.head_hash, GB_HASH_BYTES);
	cp.broker_time_ns = gb_now_ns();
	cp.batch_count = info.batch_count;
	job = job_new(GB_WRITE_CHECKPOINT, stream);
	if (!job)
		return GB_ENOMEM;
	rc = gb_checkpoint_sign(&cp, gb_identity_sign_sk(a->id), &job->bytes,
				&job->w.value_len);
	if (rc != 0) {
		gb_audit_job_free(&job);
		return rc == GB_EINVAL ? GB_ECORRUPT : rc; /* the head is bad */
	}
	job->w.value = job->bytes;
	job->w.checkpoint_offset = cp.next_offset;
	if (peer) {
		job->reply = true;
		memcpy(job->peer, peer, peer_len);
		job->peer_len = peer_len;
		job->request_id = request_id;
	}
	if (sched) {
		sched->since = 0;
		sched->last_ns = cp.broker_time_ns;
	}
	rc = a->io.submit(a->io.ctx, job);
	return rc;
}

static void scheduled_checkpoint(gb_audit *a, const char *stream)
{
	int rc = take_checkpoint(a, stream, NULL, 0, 0);

	if (rc != 0)
		gb_log("audit: cannot checkpoint %s: %s", stream,
		       gb_strerror(rc));
}

void gb_audit_appended(gb_audit *a, const char *dataset)
{
	struct cp_stream *s;

	if (!a)
		return;
	s = stream_find(a, dataset, true);
	if (s && ++s->since >= a->every_batches)
		scheduled_checkpoint(a, dataset);
}

void gb_audit_tick(gb_audit *a, uint64_t now)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->stream_count; i++) {
		struct cp_stream *s = &a->streams[i];

		if (s->since > 0 && now - s->last_ns >= a->every_ns)
			scheduled_checkpoint(a, s->name);
	}
}

void gb_audit_flush(gb_audit *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->stream_count; i++)
		if (a->streams[i].since > 0)
			scheduled_checkpoint(a, a->streams[i].name);
	/* The writer stops next: anything queued later would never run. */
	a->stopped = true;
}

/* ------------------------------------------------------------ requests */

/* Whoever may read a stream (subscribe or replay it) may see its
 * checkpoints. On a refusal, records it and answers the requester. */
static bool may_read(gb_audit *a, const gb_registry *reg, const uint8_t *peer,
		     size_t peer_len, const char *dept, const char *stream,
		     const char *action, uint64_t request_id, uint64_t t)
{
	gb_decision d = gb_policy_decide(reg, dept, GB_ACTION_SUBSCRIBE, stream,
					 (int64_t)t);

	if (!d.allowed)
		d = gb_policy_decide(reg, dept, GB_ACTION_REPLAY, stream,
				     (int64_t)t);
	if (d.allowed)
		return true;
	gb_log("refused %s of %s by %s: %s", action, stream, dept, d.reason);
	gb_audit_denied(a, dept, stream, action, d.error, d.reason);
	send_error(a, peer, peer_len, d.error, request_id,
		   "%s may not see the checkpoints of %s: %s", dept, stream,
		   d.reason);
	return false;
}

static void handle_checkpoint(gb_audit *a, const gb_registry *reg,
			      const uint8_t *peer, size_t peer_len,
			      const char *dept, uint64_t t,
			      const Govbus__V1__CheckpointRequest *req)
{
	Govbus__V1__AuditEvent ev =
		event(GOVBUS__V1__AUDIT_EVENT__KIND__AUDIT_CHECKPOINT_REQUEST,
		      dept, req->dataset, "checkpoint");
	int rc;

	if (!may_read(a, reg, peer, peer_len, dept, req->dataset, "checkpoint",
		      req->request_id, t))
		return;
	record(a, &ev);
	rc = take_checkpoint(a, req->dataset, peer, peer_len, req->request_id);
	if (rc != 0)
		send_error(a, peer, peer_len, rc, req->request_id,
			   "cannot checkpoint %s: %s", req->dataset,
			   gb_strerror(rc));
}

struct list_ctx {
	Govbus__V1__CheckpointList *list;
	size_t cap;
};

static int list_one(void *arg, uint64_t offset, const uint8_t *value,
		    size_t len)
{
	struct list_ctx *c = arg;
	ProtobufCBinaryData *item;
	uint8_t *copy;

	(void)offset;
	if (len > GB_MAX_CHECKPOINT_BYTES)
		len = GB_MAX_CHECKPOINT_BYTES; /* the agent will refuse it */
	copy = malloc(len ? len : 1);
	if (!copy || c->list->n_signed_checkpoints == c->cap) {
		free(copy);
		return GB_ENOMEM;
	}
	memcpy(copy, value, len);
	item = &c->list->signed_checkpoints[c->list->n_signed_checkpoints++];
	item->data = copy;
	item->len = len;
	return 0;
}

static void handle_checkpoint_list(gb_audit *a, const gb_registry *reg,
				   const uint8_t *peer, size_t peer_len,
				   const char *dept, uint64_t t,
				   const Govbus__V1__CheckpointListRequest *req)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__CheckpointList list = GOVBUS__V1__CHECKPOINT_LIST__INIT;
	struct list_ctx c = {&list, LIST_MAX_CHECKPOINTS};
	int rc;

	if (!may_read(a, reg, peer, peer_len, dept, req->dataset,
		      "checkpoint-list", req->request_id, t))
		return;
	list.signed_checkpoints = calloc(c.cap, sizeof *list.signed_checkpoints);
	if (!list.signed_checkpoints) {
		send_error(a, peer, peer_len, GB_ENOMEM, req->request_id,
			   "broker out of memory");
		return;
	}
	rc = gb_store_checkpoints_read(a->store, req->dataset, req->from_offset,
				       c.cap, list_one, &c);
	if (rc < 0) {
		send_error(a, peer, peer_len, rc, req->request_id,
			   "cannot read the checkpoints of %s: %s",
			   req->dataset, gb_strerror(rc));
	} else {
		list.request_id = req->request_id;
		list.dataset = req->dataset;
		list.more = (size_t)rc == c.cap;
		f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_CHECKPOINT_LIST;
		f.checkpoint_list = &list;
		(void)a->io.send(a->io.ctx, peer, peer_len, &f);
	}
	for (size_t i = 0; i < list.n_signed_checkpoints; i++)
		free(list.signed_checkpoints[i].data);
	free(list.signed_checkpoints);
}

/* Snapshots after `after` in hash order, within a byte budget. */
struct registry_ctx {
	Govbus__V1__Registry *reg;
	Govbus__V1__PolicySnapshot **items;
	size_t cap;
	const uint8_t *after;          /* NULL: from the first */
	bool with_config;
	size_t budget;
};

static int registry_one(void *arg, const gb_stored_policy *p)
{
	struct registry_ctx *c = arg;
	Govbus__V1__PolicySnapshot *snap;
	size_t n = c->reg->n_policies;

	if (c->after && memcmp(p->hash, c->after, GB_HASH_BYTES) <= 0)
		return 0;
	if (n > 0 && c->with_config && p->config_len > c->budget) {
		c->reg->more = true;
		return 1;
	}
	if (n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		Govbus__V1__PolicySnapshot **grown =
			realloc(c->items, cap * sizeof *grown);

		if (!grown)
			return GB_ENOMEM;
		c->items = grown;
		c->reg->policies = grown;
		c->cap = cap;
	}
	snap = calloc(1, sizeof *snap);
	if (!snap)
		return GB_ENOMEM;
	govbus__v1__policy_snapshot__init(snap);
	c->items[n] = snap;
	c->reg->n_policies = n + 1;
	snap->hash.data = malloc(GB_HASH_BYTES);
	snap->loaded_ns = malloc(p->load_count * sizeof *snap->loaded_ns);
	snap->config.data = c->with_config ? malloc(p->config_len ? p->config_len : 1)
					   : NULL;
	if (!snap->hash.data || !snap->loaded_ns ||
	    (c->with_config && !snap->config.data))
		return GB_ENOMEM;
	memcpy(snap->hash.data, p->hash, GB_HASH_BYTES);
	snap->hash.len = GB_HASH_BYTES;
	memcpy(snap->loaded_ns, p->loaded_ns,
	       p->load_count * sizeof *snap->loaded_ns);
	snap->n_loaded_ns = p->load_count;
	if (c->with_config) {
		memcpy(snap->config.data, p->config, p->config_len);
		snap->config.len = p->config_len;
		c->budget = p->config_len < c->budget ? c->budget - p->config_len : 0;
	}
	return 0;
}

static void handle_registry(gb_audit *a, const gb_registry *reg,
			    const uint8_t *peer, size_t peer_len,
			    const char *dept,
			    const Govbus__V1__RegistryRequest *req)
{
	static const char *const roles[] = {"department", "auditor"};
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Registry r = GOVBUS__V1__REGISTRY__INIT;
	const gb_department *who = gb_registry_find_department(reg, dept);
	size_t ndept = gb_registry_department_count(reg);
	Govbus__V1__RegistryDepartment *depts = calloc(ndept ? ndept : 1,
						       sizeof *depts);
	Govbus__V1__RegistryDepartment **ptrs = calloc(ndept ? ndept : 1,
						       sizeof *ptrs);
	struct registry_ctx c = {&r, NULL, 0, NULL, false, REGISTRY_CONFIG_BUDGET};
	int rc = 0;

	if (!who || !depts || !ptrs) {
		rc = who ? GB_ENOMEM : GB_EAUTH;
		goto out;
	}
	if (req->after_hash.len != 0 && req->after_hash.len != GB_HASH_BYTES) {
		rc = GB_EINVAL;
		goto out;
	}
	for (size_t i = 0; i < ndept; i++) {
		const gb_department *d = gb_registry_department_at(reg, i);

		govbus__v1__registry_department__init(&depts[i]);
		depts[i].id = (char *)d->id;
		depts[i].sign_key.data = (uint8_t *)d->sign_pk;
		depts[i].sign_key.len = GB_KEY_BYTES;
		depts[i].box_key.data = (uint8_t *)d->box_pk;
		depts[i].box_key.len = GB_KEY_BYTES;
		depts[i].role = (char *)roles[d->role == GB_ROLE_AUDITOR];
		ptrs[i] = &depts[i];
	}
	r.request_id = req->request_id;
	r.policy_hash.data = (uint8_t *)gb_registry_hash(reg);
	r.policy_hash.len = GB_HASH_BYTES;
	r.broker_sign_key.data = (uint8_t *)gb_identity_sign_pk(a->id);
	r.broker_sign_key.len = GB_SIGN_PK_BYTES;
	r.departments = ptrs;
	r.n_departments = ndept;
	/* The configs name every grant's purpose and legal basis: they are
	 * evidence for auditors; others get the hashes and load times. */
	c.with_config = who->role == GB_ROLE_AUDITOR;
	c.after = req->after_hash.len ? req->after_hash.data : NULL;
	rc = gb_store_policies_read(a->store, registry_one, &c);
	if (rc >= 0) {
		rc = 0;
		f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_REGISTRY;
		f.registry = &r;
		(void)a->io.send(a->io.ctx, peer, peer_len, &f);
	}
out:
	if (rc != 0)
		send_error(a, peer, peer_len, rc, req->request_id,
			   "cannot list the registry: %s", gb_strerror(rc));
	for (size_t i = 0; i < r.n_policies; i++) {
		free(c.items[i]->hash.data);
		free(c.items[i]->loaded_ns);
		free(c.items[i]->config.data);
		free(c.items[i]);
	}
	free(c.items);
	free(depts);
	free(ptrs);
}

void gb_audit_handle(gb_audit *a, const gb_registry *reg,
		     const uint8_t *peer, size_t peer_len, const char *dept,
		     uint64_t now, const gb_client_frame *frame)
{
	if (!a)
		return;
	if (peer_len > PEER_MAX)
		return;
	switch (frame->body_case) {
	case GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_REQUEST:
		handle_checkpoint(a, reg, peer, peer_len, dept, now,
				  frame->checkpoint_request);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_LIST_REQUEST:
		handle_checkpoint_list(a, reg, peer, peer_len, dept, now,
				       frame->checkpoint_list_request);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_REGISTRY_REQUEST:
		handle_registry(a, reg, peer, peer_len, dept,
				frame->registry_request);
		break;
	default:
		break;
	}
}

const gb_department *gb_audit_trail_owner(const gb_audit *a,
					  const char *stream)
{
	return a && stream && !strcmp(stream, GB_AUDIT_STREAM) ? &a->trail_owner
							       : NULL;
}
