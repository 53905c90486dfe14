/* govbus broker: the catalog and access requests; see gb_requests.h.
 *
 * Trust: frames were bounded and checked by gb_codec (ids, rights, bounded
 * UTF-8 purpose and legal basis); the department is the one ZAP
 * authenticated. Values read back from the data dir are untrusted: each is
 * unpacked, checked like a frame and given the id of its key. Time is the
 * broker's clock: passed in by the caller, or read here for a decision
 * made after a commit. Peer strings are logged truncated. */
#include "gb_requests.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_catalog.h"
#include "gb_error.h"
#include "gb_listing.h"
#include "gb_log.h"

#define PEER_MAX 256                   /* ZeroMQ routing ids */
#define LIST_BYTES_MAX (GB_MAX_FRAME / 2) /* an AccessRequestList's requests */

static const char status_pending[] = "pending";

struct in_flight {                     /* a new request not yet committed */
	struct in_flight *next;
	char dept[GB_MAX_ID_LEN + 1];
	char dataset[GB_MAX_ID_LEN + 1];
};

struct gb_requests {
	gb_store *store;
	gb_audit *audit;
	gb_requests_io io;
	const gb_registry *reg;        /* in force; borrowed */
	struct in_flight *in_flight;
};

/* Who an Error goes to. */
struct asker {
	const uint8_t *peer;
	size_t peer_len;
	uint64_t request_id;
};

struct gb_requests_job {
	gb_write w;
	uint8_t *bytes;                /* the serialized AccessRequestInfo */
	size_t len;
	bool is_new;                   /* answer the asker after the commit */
	const char *status;            /* a decision: "approved" or "refused" */
	uint8_t peer[PEER_MAX];        /* the asker, when is_new */
	struct asker asker;            /* points at `peer` */
	char dept[GB_MAX_ID_LEN + 1];
	char dataset[GB_MAX_ID_LEN + 1];
};

static void tell(gb_requests *r, const struct asker *to, int err,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One sentence: the Error answering `to` (with the status of `err`), or a
 * log line when `to` is NULL. */
static void tell(gb_requests *r, const struct asker *to, int err,
		 const char *fmt, ...)
{
	char text[GB_MAX_MESSAGE_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (to)
		r->io.fail(r->io.ctx, to->peer, to->peer_len, err,
			   to->request_id, text);
	else
		r->io.log(r->io.ctx, text);
}

int gb_requests_new(gb_store *store, gb_audit *audit, const gb_requests_io *io,
		    gb_requests **out)
{
	gb_requests *r;

	*out = NULL;
	if (!store || !io || !io->submit || !io->send || !io->fail || !io->log)
		return GB_EINVAL;
	r = calloc(1, sizeof *r);
	if (!r)
		return GB_ENOMEM;
	r->store = store;
	r->audit = audit;
	r->io = *io;
	*out = r;
	return 0;
}

void gb_requests_destroy(gb_requests **rp)
{
	gb_requests *r;

	if (!rp || !*rp)
		return;
	r = *rp;
	while (r->in_flight) {
		struct in_flight *x = r->in_flight;

		r->in_flight = x->next;
		free(x);
	}
	free(r);
	*rp = NULL;
}

/* ------------------------------------------------------------ pure parts */

int gb_requests_check(const gb_registry *reg, const char *dept,
		      const char *dataset, int64_t now_ns, char *why,
		      size_t why_len)
{
	const gb_dataset *ds = gb_registry_find_dataset(reg, dataset);
	const gb_grant *g;
	const gb_refusal *no;
	char when[GB_TIME_TEXT];

	if (!ds)
		return gb_why(why, why_len, GB_ENOTFOUND,
			      "no dataset %.64s is registered", dataset);
	if (!strcmp(ds->owner, dept))
		return gb_why(why, why_len, GB_ECONFLICT,
			      "%s owns %s: an owner needs no request", dept,
			      ds->id);
	if (ds->sharing == GB_SHARING_OPEN)
		return gb_why(why, why_len, GB_EINVAL,
			      "%s is open: every registered department may "
			      "already read it, so there is nothing to request",
			      ds->id);
	if (ds->sharing == GB_SHARING_CLOSED)
		return gb_why(why, why_len, GB_ECONFLICT,
			      "%s is closed: only its owner and auditors may read "
			      "it, so access to it cannot be granted",
			      ds->id);
	g = gb_registry_find_grant(reg, ds->id, dept);
	if (g && now_ns < g->expires_ns) {
		gb_listing_time((uint64_t)g->expires_ns, when);
		return gb_why(why, why_len, GB_ECONFLICT,
			      "already granted: %s may read %s until %s (%s)",
			      dept, ds->id, when, g->approved_by);
	}
	no = gb_registry_find_refusal(reg, ds->id, dept);
	if (no) {
		gb_listing_time((uint64_t)no->date_ns, when);
		return gb_why(why, why_len, GB_ECONFLICT,
			      "access of %s to %s was refused on %s by %s: %s; "
			      "a new request needs the refusal withdrawn from "
			      "the registry first",
			      dept, ds->id, when, no->refused_by, no->reason);
	}
	return 0;
}

const char *gb_requests_decide(const gb_registry *reg, const char *dept,
			       const char *dataset, int64_t now_ns,
			       const char **reason)
{
	const gb_grant *g = gb_registry_find_grant(reg, dataset, dept);
	const gb_refusal *no = gb_registry_find_refusal(reg, dataset, dept);

	*reason = NULL;
	if (g && now_ns < g->expires_ns) {
		*reason = g->approved_by;
		return "approved";
	}
	if (no) {
		*reason = no->reason;
		return "refused";
	}
	return NULL;
}

/* ------------------------------------------------------------ reading */

/* A stored value as a checked AccessRequestInfo carrying its key's id
 * (free with govbus__v1__access_request_info__free_unpacked), or NULL. */
static Govbus__V1__AccessRequestInfo *request_decode(uint64_t id,
						     const uint8_t *value,
						     size_t len)
{
	Govbus__V1__AccessRequestInfo *info =
		govbus__v1__access_request_info__unpack(NULL, len, value);

	if (!info)
		return NULL;
	info->id = id;
	if (gb_codec_check_request_info(info, NULL, 0) != 0) {
		govbus__v1__access_request_info__free_unpacked(info, NULL);
		return NULL;
	}
	return info;
}

struct list_ctx {
	const char *dept;
	gb_requests_fn fn;
	void *ctx;
};

static int list_one(void *arg, uint64_t id, const uint8_t *value, size_t len)
{
	struct list_ctx *c = arg;
	Govbus__V1__AccessRequestInfo *info = request_decode(id, value, len);
	int rc = 0;

	if (!info)
		return GB_ECORRUPT;
	if (!c->dept || !strcmp(info->dept, c->dept))
		rc = c->fn(c->ctx, info);
	govbus__v1__access_request_info__free_unpacked(info, NULL);
	return rc;
}

int gb_requests_list(gb_store *store, const char *dept, gb_requests_fn fn,
		     void *ctx)
{
	struct list_ctx c = {dept, fn, ctx};

	if (!fn)
		return GB_EINVAL;
	return gb_store_requests_read(store, list_one, &c);
}

/* ------------------------------------------------------------ jobs */

const gb_write *gb_requests_job_write(const gb_requests_job *job)
{
	return &job->w;
}

void gb_requests_job_free(gb_requests_job **job)
{
	if (!job || !*job)
		return;
	free((*job)->bytes);
	free(*job);
	*job = NULL;
}

/* A job storing `info` (serialized now) under request_id `id` (0: new). */
static gb_requests_job *job_new(const Govbus__V1__AccessRequestInfo *info,
				uint64_t id)
{
	gb_requests_job *job = calloc(1, sizeof *job);

	if (!job)
		return NULL;
	job->len = govbus__v1__access_request_info__get_packed_size(info);
	job->bytes = malloc(job->len ? job->len : 1);
	if (!job->bytes) {
		free(job);
		return NULL;
	}
	govbus__v1__access_request_info__pack(info, job->bytes);
	snprintf(job->dept, sizeof job->dept, "%s", info->dept);
	snprintf(job->dataset, sizeof job->dataset, "%s", info->dataset);
	job->w.kind = GB_WRITE_REQUEST;
	job->w.value = job->bytes;
	job->w.value_len = job->len;
	job->w.request_id = id;
	return job;
}

/* Queue the decision the registry in force holds for a pending `info`. */
static void queue_decision(gb_requests *r,
			   const Govbus__V1__AccessRequestInfo *info,
			   uint64_t now_ns)
{
	Govbus__V1__AccessRequestInfo decided = *info;
	const char *reason;
	const char *status = gb_requests_decide(r->reg, info->dept,
						info->dataset, (int64_t)now_ns,
						&reason);
	gb_requests_job *job;
	int rc;

	if (!status || strcmp(info->status, status_pending) != 0)
		return;
	decided.status = (char *)status;
	decided.reason = (char *)reason;
	decided.decided_ns = now_ns;
	job = job_new(&decided, info->id);
	if (job)
		job->status = status;
	if (!job) {
		tell(r, NULL, 0, "cannot record the decision on request %" PRIu64
			     ": out of memory", info->id);
		return;
	}
	rc = r->io.submit(r->io.ctx, job);
	if (rc != 0)
		tell(r, NULL, 0, "cannot record the decision on request %" PRIu64
			     ": %s", info->id, gb_strerror(rc));
}

static void send_ack(gb_requests *r, const struct asker *to,
		     Govbus__V1__AccessRequestInfo *info)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__AccessRequestAck ack = GOVBUS__V1__ACCESS_REQUEST_ACK__INIT;

	ack.request_id = to->request_id;
	ack.request = info;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK;
	f.access_request_ack = &ack;
	(void)r->io.send(r->io.ctx, to->peer, to->peer_len, &f);
}

static void in_flight_remove(gb_requests *r, const char *dept,
			     const char *dataset)
{
	for (struct in_flight **pp = &r->in_flight; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->dept, dept) &&
		    !strcmp((*pp)->dataset, dataset)) {
			struct in_flight *x = *pp;

			*pp = x->next;
			free(x);
			return;
		}
}

static bool in_flight_has(const gb_requests *r, const char *dept,
			  const char *dataset)
{
	for (const struct in_flight *x = r->in_flight; x; x = x->next)
		if (!strcmp(x->dept, dept) && !strcmp(x->dataset, dataset))
			return true;
	return false;
}

void gb_requests_job_done(gb_requests *r, gb_requests_job *job,
			  const gb_write *result)
{
	Govbus__V1__AccessRequestInfo *info = NULL;

	if (!job->is_new) {
		if (result->result != 0)
			tell(r, NULL, 0, "recording the decision on request %" PRIu64
				     " failed: %s", job->w.request_id,
				     gb_strerror(result->result));
		else {
			tell(r, NULL, 0, "request %" PRIu64 " of %s for %s: %s",
				     job->w.request_id, job->dept, job->dataset,
				     job->status);
			/* the stored record carries the approver or reason */
			info = request_decode(job->w.request_id, job->bytes,
					      job->len);
			gb_audit_access_request(r->audit, job->dept, job->dataset,
					job->w.request_id, job->status,
					info ? info->reason : NULL);
		}
		goto out;
	}
	in_flight_remove(r, job->dept, job->dataset);
	if (result->result == 0)
		info = request_decode(result->stored_id, job->bytes, job->len);
	if (!info) {
		int err = result->result ? result->result : GB_ENOMEM;

		tell(r, NULL, 0, "request of %s for %s not recorded: %s",
		     job->dept, job->dataset, gb_strerror(err));
		tell(r, &job->asker, err,
		     "the request for %s was not recorded: %s", job->dataset,
		     gb_strerror(err));
		goto out;
	}
	tell(r, NULL, 0, "recorded request %" PRIu64 ": %s asks for %s", info->id,
		     info->dept, info->dataset);
	gb_audit_access_request(r->audit, info->dept, info->dataset, info->id,
				NULL, NULL);
	send_ack(r, &job->asker, info);
	/* A reload between the check and the commit may already answer it. */
	queue_decision(r, info, gb_now_ns());
out:
	if (info)
		govbus__v1__access_request_info__free_unpacked(info, NULL);
	gb_requests_job_free(&job);
}

/* ------------------------------------------------------------ policy loads */

struct decide_ctx {
	gb_requests *r;
	uint64_t now_ns;
};

static int decide_one(void *arg, const Govbus__V1__AccessRequestInfo *info)
{
	struct decide_ctx *c = arg;

	queue_decision(c->r, info, c->now_ns);
	return 0;
}

void gb_requests_policy_loaded(gb_requests *r, const gb_registry *reg,
			       uint64_t now_ns)
{
	struct decide_ctx c = {r, now_ns};
	int rc;

	r->reg = reg;
	rc = gb_requests_list(r->store, NULL, decide_one, &c);
	if (rc < 0)
		tell(r, NULL, 0, "cannot read the access requests: %s",
			     gb_strerror(rc));
}

/* ------------------------------------------------------------ frames */

static void answer_catalog(gb_requests *r, const struct asker *to,
			   const char *dept, uint64_t now_ns)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	gb_catalog *c = NULL;
	int rc = gb_catalog_build(r->reg, dept, (int64_t)now_ns, &c);

	if (rc != 0) {
		tell(r, to, rc, "cannot list the catalog for %s: %s", dept,
		     gb_strerror(rc));
		return;
	}
	gb_catalog_message(c)->request_id = to->request_id;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_CATALOG;
	f.catalog = gb_catalog_message(c);
	if (govbus__v1__server_frame__get_packed_size(&f) > GB_MAX_FRAME)
		tell(r, to, GB_ETOOBIG,
		     "the catalog is larger than a frame (%u bytes)",
		     GB_MAX_FRAME);
	else
		(void)r->io.send(r->io.ctx, to->peer, to->peer_len, &f);
	gb_catalog_destroy(&c);
}

/* The asker's pending request of one dataset, answered when found. */
struct pending_ctx {
	gb_requests *r;
	const struct asker *to;
	const char *dataset;
	bool found;
};

static int answer_if_pending(void *arg, const Govbus__V1__AccessRequestInfo *info)
{
	struct pending_ctx *c = arg;

	if (strcmp(info->dataset, c->dataset) != 0 ||
	    strcmp(info->status, status_pending) != 0)
		return 0;
	send_ack(c->r, c->to, (Govbus__V1__AccessRequestInfo *)info);
	c->found = true;
	return 1;
}

static void record_request(gb_requests *r, const struct asker *to,
			   const char *dept, uint64_t now_ns,
			   const Govbus__V1__AccessRequest *req)
{
	Govbus__V1__AccessRequestInfo info = GOVBUS__V1__ACCESS_REQUEST_INFO__INIT;
	struct pending_ctx pc = {r, to, req->dataset, false};
	struct in_flight *x = NULL;
	gb_requests_job *job = NULL;
	char why[GB_MAX_MESSAGE_LEN];
	int rc;

	rc = gb_requests_check(r->reg, dept, req->dataset, (int64_t)now_ns, why,
			       sizeof why);
	if (rc != 0) {
		tell(r, NULL, 0, "refused access request of %s for %.64s: %s",
		     dept, req->dataset, why);
		gb_audit_denied(r->audit, dept, req->dataset, "access-request",
				rc, why);
		tell(r, to, rc, "%s", why);
		return;
	}
	rc = gb_requests_list(r->store, dept, answer_if_pending, &pc);
	if (rc < 0) {
		tell(r, to, rc, "cannot read the stored requests: %s",
		     gb_strerror(rc));
		return;
	}
	if (pc.found)
		return;
	if (in_flight_has(r, dept, req->dataset)) {
		tell(r, to, GB_ECONFLICT,
		     "a request of %s for %s is being recorded right now; "
		     "list your requests in a moment",
		     dept, req->dataset);
		return;
	}
	info.dept = (char *)dept;
	info.dataset = req->dataset;
	info.rights = req->rights;
	info.n_rights = req->n_rights;
	info.purpose = req->purpose;
	info.legal_basis = req->legal_basis;
	info.status = (char *)status_pending;
	info.created_ns = now_ns;
	x = calloc(1, sizeof *x);
	job = x ? job_new(&info, 0) : NULL;
	if (!job) {
		free(x);
		tell(r, to, GB_ENOMEM, "broker out of memory");
		return;
	}
	job->is_new = true;
	job->asker = *to;
	job->asker.peer_len = to->peer_len < PEER_MAX ? to->peer_len : PEER_MAX;
	memcpy(job->peer, to->peer, job->asker.peer_len);
	job->asker.peer = job->peer;
	rc = r->io.submit(r->io.ctx, job); /* takes the job */
	if (rc != 0) {
		free(x);
		tell(r, to, rc, "the request for %s was not recorded: %s",
		     req->dataset, gb_strerror(rc));
		return;
	}
	snprintf(x->dept, sizeof x->dept, "%s", dept);
	snprintf(x->dataset, sizeof x->dataset, "%s", req->dataset);
	x->next = r->in_flight;
	r->in_flight = x;
}

/* Every stored request, kept for one AccessRequestList. */
struct own_list {
	Govbus__V1__AccessRequestInfo **items;
	size_t n, cap;
};

static int keep_one(void *arg, uint64_t id, const uint8_t *value, size_t len)
{
	struct own_list *l = arg;
	Govbus__V1__AccessRequestInfo *info = request_decode(id, value, len);

	if (!info)
		return GB_ECORRUPT;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		Govbus__V1__AccessRequestInfo **grown =
			realloc(l->items, cap * sizeof *grown);

		if (!grown) {
			govbus__v1__access_request_info__free_unpacked(info, NULL);
			return GB_ENOMEM;
		}
		l->items = grown;
		l->cap = cap;
	}
	l->items[l->n++] = info;
	return 0;
}

static void answer_query(gb_requests *r, const struct asker *to,
			 const char *dept)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__AccessRequestList list = GOVBUS__V1__ACCESS_REQUEST_LIST__INIT;
	struct own_list all = {NULL, 0, 0};
	Govbus__V1__AccessRequestInfo **own = NULL;
	size_t kept = 0, bytes = 0;
	int rc = gb_store_requests_read(r->store, keep_one, &all);

	if (rc >= 0 && !(own = calloc(all.n ? all.n : 1, sizeof *own)))
		rc = GB_ENOMEM;
	if (rc < 0) {
		tell(r, to, rc, "cannot read the stored requests: %s",
		     gb_strerror(rc));
		goto out;
	}
	/* Only the asker's; when they do not all fit in a frame, the newest,
	 * filled in from the end so they stay in id order. */
	for (size_t i = all.n; i-- > 0;) {
		size_t size;

		if (strcmp(all.items[i]->dept, dept) != 0)
			continue;
		size = govbus__v1__access_request_info__get_packed_size(
			all.items[i]);
		if (bytes + size > LIST_BYTES_MAX)
			break;
		bytes += size;
		own[all.n - 1 - kept++] = all.items[i];
	}
	list.request_id = to->request_id;
	list.requests = own + (all.n - kept);
	list.n_requests = kept;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_LIST;
	f.access_request_list = &list;
	(void)r->io.send(r->io.ctx, to->peer, to->peer_len, &f);
out:
	free(own);
	for (size_t i = 0; i < all.n; i++)
		govbus__v1__access_request_info__free_unpacked(all.items[i], NULL);
	free(all.items);
}

void gb_requests_handle(gb_requests *r, const uint8_t *peer, size_t peer_len,
			const char *dept, uint64_t now_ns,
			const gb_client_frame *frame)
{
	struct asker to = {peer, peer_len, 0};

	switch (frame->body_case) {
	case GOVBUS__V1__CLIENT_FRAME__BODY_CATALOG_REQUEST:
		to.request_id = frame->catalog_request->request_id;
		answer_catalog(r, &to, dept, now_ns);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST:
		to.request_id = frame->access_request->request_id;
		record_request(r, &to, dept, now_ns, frame->access_request);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST_QUERY:
		to.request_id = frame->access_request_query->request_id;
		answer_query(r, &to, dept);
		break;
	default:
		break;
	}
}
