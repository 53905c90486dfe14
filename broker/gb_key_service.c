/* govbus broker key service; see gb_key_service.h.
 *
 * Trust: KeyFetch and KeyUpload come from an authenticated department and
 * were bounded by gb_codec (at most GB_MAX_WRAPS wraps, each bounded). A
 * wrap is only stored after gb_keywrap_verify checked its signature under
 * the owner's registered key and every field named above; the broker
 * cannot open one. Ids from wraps are copied before the commit, since a
 * reload may free the registry they were checked against. */
#include "gb_key_service.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"
#include "gb_keywrap.h"
#include "gb_log.h"
#include "gb_policy.h"

struct gb_key_service {
	gb_key_service_deps deps;
	const gb_registry *reg;
};

/* A key upload on its way through the writer: the epoch (if opened) and
 * its wraps, committed as one unit. */
struct upload_job {
	gb_key_service *k;
	uint8_t peer[GB_PEER_ID_MAX];
	size_t peer_len;
	uint64_t request_id;
	gb_client_frame *frame;       /* owns the wrap bytes */
	char dataset[GB_MAX_ID_LEN + 1];
	char dept[GB_MAX_ID_LEN + 1];  /* the owner, for the audit trail */
	uint32_t epoch;
	gb_write *ws;
	size_t nws;
	char (*recipients)[GB_MAX_ID_LEN + 1]; /* each wrap's recipient */
	uint8_t (*commitments)[GB_COMMITMENT_BYTES]; /* and its commitment */
};

/* The retirement of a dataset's current epoch on its way to the store. */
struct retire_job {
	gb_key_service *k;
	char dataset[GB_MAX_ID_LEN + 1];
	gb_write w;
};

int gb_key_service_new(const gb_key_service_deps *deps, gb_key_service **out)
{
	gb_key_service *k = calloc(1, sizeof *k);

	*out = NULL;
	if (!k)
		return GB_ENOMEM;
	k->deps = *deps;
	*out = k;
	return 0;
}

void gb_key_service_destroy(gb_key_service **kp)
{
	if (!kp || !*kp)
		return;
	free(*kp);
	*kp = NULL;
}

void gb_key_service_policy_loaded(gb_key_service *k, const gb_registry *reg)
{
	k->reg = reg;
}

/* True when `dept` must hold the key of `epoch` of `ds` under the policy
 * in force: it may read content, and its history reaches that epoch
 * (grantees with since-grant or none get the current epoch and later). */
static bool key_reader(const gb_key_service *k, const gb_department *dept,
		       const gb_dataset *ds, uint32_t epoch, uint32_t current,
		       int64_t t)
{
	gb_decision d = gb_policy_decide(k->reg, dept->id,
					 GB_ACTION_READ_CONTENT, ds->id, t);
	if (!d.allowed)
		return false;
	if (d.grant && d.grant->history != GB_HISTORY_ALL && epoch < current)
		return false;
	return true;
}

/* ------------------------------------------------------------ key info */

/* A KeyInfo for `dept` about `ds`. Owner answers carry the readers of a
 * new epoch and the wraps each existing epoch lacks. Frees with
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

static void key_info_clear(struct key_info_buf *ki)
{
	if (ki->missing_recipients)
		for (size_t i = 0; i < ki->info.n_missing; i++)
			free(ki->missing_recipients[i]);
	free(ki->missing_recipients);
	free(ki->missing);
	free(ki->missing_ptrs);
	free(ki->readers);
	free(ki->reader_ptrs);
	free(ki->wrap);
	memset(ki, 0, sizeof *ki);
}

static int key_info_fill(gb_key_service *k, const gb_dataset *ds,
			 const char *dept, uint32_t epoch,
			 struct key_info_buf *ki, int64_t t)
{
	gb_store *store = k->deps.store;
	size_t ndept = gb_registry_department_count(k->reg);
	gb_epoch_state es;
	size_t wrap_len = 0;
	int rc;

	memset(ki, 0, sizeof *ki);
	govbus__v1__key_info__init(&ki->info);
	rc = gb_store_epoch_get(store, ds->id, &es);
	if (rc != 0)
		return rc;
	ki->info.dataset = (char *)ds->id;
	ki->info.current_epoch = es.current;
	ki->info.rotate = es.retired;
	ki->info.epoch = epoch ? epoch : es.current;
	if (ki->info.epoch != 0) {
		rc = gb_store_wrap_get(store, ds->id, ki->info.epoch, dept,
				       &ki->wrap, &wrap_len);
		if (rc == 0) {
			ki->info.signed_wrap.data = ki->wrap;
			ki->info.signed_wrap.len = wrap_len;
		} else if (rc != GB_ENOTFOUND) {
			return rc;
		}
	}
	if (strcmp(ds->owner, dept) != 0)
		return 0;

	ki->readers = calloc(ndept ? ndept : 1, sizeof *ki->readers);
	ki->reader_ptrs = calloc(ndept ? ndept : 1, sizeof *ki->reader_ptrs);
	ki->missing = calloc(es.current ? es.current : 1, sizeof *ki->missing);
	ki->missing_ptrs = calloc(es.current ? es.current : 1,
				  sizeof *ki->missing_ptrs);
	ki->missing_recipients = calloc(es.current ? es.current : 1,
					sizeof *ki->missing_recipients);
	if (!ki->readers || !ki->reader_ptrs || !ki->missing ||
	    !ki->missing_ptrs || !ki->missing_recipients)
		return GB_ENOMEM;
	for (size_t i = 0; i < ndept; i++) {
		const gb_department *d = gb_registry_department_at(k->reg, i);
		Govbus__V1__Recipient *r = &ki->readers[ki->info.n_readers];
		if (!key_reader(k, d, ds, es.current + 1, es.current, t))
			continue;
		govbus__v1__recipient__init(r);
		r->dept = (char *)d->id;
		r->box_key.data = (uint8_t *)d->box_pk;
		r->box_key.len = GB_KEY_BYTES;
		ki->reader_ptrs[ki->info.n_readers++] = r;
	}
	ki->info.readers = ki->reader_ptrs;
	for (uint32_t e = 1; e <= es.current; e++) {
		Govbus__V1__MissingWraps *m = &ki->missing[ki->info.n_missing];
		Govbus__V1__Recipient **list = NULL;
		size_t n = 0;

		for (size_t i = 0; i < ki->info.n_readers; i++) {
			const gb_department *d = gb_registry_find_department(
				k->reg, ki->readers[i].dept);
			if (!d || !key_reader(k, d, ds, e, es.current, t))
				continue;
			rc = gb_store_wrap_get(store, ds->id, e, d->id, NULL, NULL);
			if (rc == 0)
				continue;
			if (rc != GB_ENOTFOUND) {
				free(list);
				return rc;
			}
			if (!list) {
				list = calloc(ki->info.n_readers, sizeof *list);
				if (!list)
					return GB_ENOMEM;
			}
			list[n++] = &ki->readers[i];
		}
		if (!n)
			continue;
		govbus__v1__missing_wraps__init(m);
		m->epoch = e;
		m->recipients = list;
		m->n_recipients = n;
		ki->missing_recipients[ki->info.n_missing] = list;
		ki->missing_ptrs[ki->info.n_missing++] = m;
	}
	ki->info.missing = ki->missing_ptrs;
	return 0;
}

static void send_key_info(gb_key_service *k, const uint8_t *peer,
			  size_t peer_len, struct key_info_buf *ki,
			  uint64_t request_id)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;

	ki->info.request_id = request_id;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO;
	f.key_info = &ki->info;
	(void)gb_send(&k->deps.to, peer, peer_len, &f);
}

void gb_key_service_fetch(gb_key_service *k, const gb_caller *from,
			  const Govbus__V1__KeyFetch *req)
{
	const gb_dataset *ds = gb_registry_find_dataset(k->reg, req->dataset);
	struct key_info_buf ki;
	gb_decision d = gb_policy_decide(k->reg, from->dept,
					 GB_ACTION_READ_CONTENT, req->dataset,
					 (int64_t)from->t);
	int rc;

	if (!d.allowed || !ds) {
		gb_log("refused key fetch of %s by %s: %s", req->dataset,
		       from->dept, d.reason);
		gb_audit_denied(k->deps.audit, from->dept, req->dataset,
				"read-content", d.allowed ? GB_ENOTFOUND : d.error,
				d.reason);
		gb_send_error(&k->deps.to, from->peer, from->peer_len,
			      d.allowed ? GB_ENOTFOUND : d.error, req->request_id,
			      0, "%s may not hold the key of %s: %s", from->dept,
			      req->dataset, d.reason);
		return;
	}
	if (req->epoch != 0) {
		gb_epoch_state es;
		const gb_department *who =
			gb_registry_find_department(k->reg, from->dept);
		if (gb_store_epoch_get(k->deps.store, ds->id, &es) != 0 || !who ||
		    !key_reader(k, who, ds, req->epoch, es.current,
				(int64_t)from->t)) {
			gb_send_error(&k->deps.to, from->peer, from->peer_len,
				      GB_EPERM, req->request_id, 0,
				      "%s may not hold key epoch %u of %s: its "
				      "grant's history does not reach that epoch",
				      from->dept, req->epoch, req->dataset);
			return;
		}
	}
	rc = key_info_fill(k, ds, from->dept, req->epoch, &ki, (int64_t)from->t);
	if (rc == 0)
		send_key_info(k, from->peer, from->peer_len, &ki, req->request_id);
	else
		gb_send_error(&k->deps.to, from->peer, from->peer_len, rc,
			      req->request_id, 0,
			      "cannot read the key state of %s: %s", req->dataset,
			      gb_strerror(rc));
	key_info_clear(&ki);
}

/* ------------------------------------------------------------ pushes */

struct push_ctx {
	gb_key_service *k;
	const gb_dataset *ds;
};

static void push_one(void *arg, const uint8_t *peer, size_t peer_len)
{
	struct push_ctx *c = arg;
	struct key_info_buf ki;

	if (key_info_fill(c->k, c->ds, c->ds->owner, 0, &ki,
			  (int64_t)gb_now_ns()) == 0)
		send_key_info(c->k, peer, peer_len, &ki, 0);
	key_info_clear(&ki);
}

/* Tell every connected session of the owner of `dataset` what key work it
 * has (a retired epoch to replace, wraps to add). */
static void push_key_work(gb_key_service *k, const char *dataset)
{
	struct push_ctx c = {k, gb_registry_find_dataset(k->reg, dataset)};

	if (c.ds)
		gb_sessions_each(k->deps.sessions, c.ds->owner, push_one, &c);
}

/* ------------------------------------------------------------ uploads */

static void upload_free(struct upload_job *job)
{
	if (!job)
		return;
	gb_codec_client_free(&job->frame);
	free(job->ws);
	free(job->recipients);
	free(job->commitments);
	free(job);
}

/* The writer is done with an upload: ack it, or report its first failed
 * item. */
static void upload_done(void *arg)
{
	struct upload_job *job = arg;
	gb_key_service *k = job->k;
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__KeyUploadAck a = GOVBUS__V1__KEY_UPLOAD_ACK__INIT;
	uint32_t stored = 0;

	for (size_t j = 0; j < job->nws; j++) {
		if (job->ws[j].result != 0) {
			gb_send_error(&k->deps.to, job->peer, job->peer_len,
				      job->ws[j].result, job->request_id, 0,
				      "key upload of %s epoch %u not stored: %s",
				      job->dataset, job->epoch,
				      gb_strerror(job->ws[j].result));
			goto out;
		}
		if (job->ws[j].kind == GB_WRITE_WRAP)
			stored++;
	}
	gb_log("stored %u key wrap(s) of %s epoch %u%s", stored, job->dataset,
	       job->epoch, job->ws[0].kind == GB_WRITE_EPOCH ? " (new epoch)" : "");
	gb_audit_wraps_stored(k->deps.audit, job->dept, job->dataset, job->epoch,
			      stored, job->ws[0].kind == GB_WRITE_EPOCH);
	a.request_id = job->request_id;
	a.dataset = job->dataset;
	a.epoch = job->epoch;
	a.stored = stored;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK;
	f.key_upload_ack = &a;
	(void)gb_send(&k->deps.to, job->peer, job->peer_len, &f);
out:
	upload_free(job);
}

void gb_key_service_upload(gb_key_service *k, const gb_caller *from,
			   gb_client_frame *frame)
{
	const gb_sender *to = &k->deps.to;
	const Govbus__V1__KeyUpload *up = frame->key_upload;
	const gb_dataset *ds = gb_registry_find_dataset(k->reg, up->dataset);
	const gb_department *owner =
		gb_registry_find_department(k->reg, from->dept);
	struct upload_job *job = NULL;
	const uint8_t *commitment;
	gb_epoch_state es;
	bool own_wrap = false;
	char why[256];
	int rc;

	if (!ds || !owner || strcmp(ds->owner, from->dept) != 0) {
		gb_audit_denied(k->deps.audit, from->dept, up->dataset,
				"key-upload", ds ? GB_EPERM : GB_ENOTFOUND,
				"only the owner may upload keys");
		gb_send_error(to, from->peer, from->peer_len,
			      ds ? GB_EPERM : GB_ENOTFOUND, up->request_id, 0,
			      "only the owner of %s may upload its keys",
			      up->dataset);
		goto drop;
	}
	rc = gb_store_epoch_get(k->deps.store, ds->id, &es);
	if (rc != 0) {
		gb_send_error(to, from->peer, from->peer_len, rc, up->request_id,
			      0, "cannot read the key state of %s", ds->id);
		goto drop;
	}
	if (up->new_epoch ? up->epoch != es.current + 1
			  : (up->epoch == 0 || up->epoch > es.current)) {
		gb_send_error(to, from->peer, from->peer_len, GB_EEPOCH,
			      up->request_id, 0,
			      "key epoch %u of %s cannot be %s (current %u)",
			      up->epoch, ds->id,
			      up->new_epoch ? "opened" : "wrapped", es.current);
		goto drop;
	}
	if (up->n_signed_wraps == 0 || up->n_signed_wraps > GB_MAX_WRAPS ||
	    (up->new_epoch && up->key_commitment.len != GB_COMMITMENT_BYTES)) {
		gb_send_error(to, from->peer, from->peer_len, GB_EINVAL,
			      up->request_id, 0,
			      "key upload of %s: needs 1..%u wraps%s", ds->id,
			      GB_MAX_WRAPS,
			      up->new_epoch ? " and a 32-byte commitment" : "");
		goto drop;
	}
	commitment = up->new_epoch ? up->key_commitment.data
		     : up->epoch == es.current ? es.commitment : NULL;

	job = calloc(1, sizeof *job);
	if (!job || !(job->ws = calloc(up->n_signed_wraps + 1, sizeof *job->ws)) ||
	    !(job->recipients = calloc(up->n_signed_wraps,
				       sizeof *job->recipients)) ||
	    !(job->commitments = calloc(up->n_signed_wraps,
					sizeof *job->commitments))) {
		gb_send_error(to, from->peer, from->peer_len, GB_ENOMEM,
			      up->request_id, 0, "broker out of memory");
		goto drop;
	}
	job->k = k;
	job->epoch = up->epoch;
	job->request_id = up->request_id;
	memcpy(job->peer, from->peer, from->peer_len);
	job->peer_len = from->peer_len;
	gb_copy_id(job->dataset, sizeof job->dataset, ds->id);
	gb_copy_id(job->dept, sizeof job->dept, from->dept);
	if (up->new_epoch) {
		gb_write *w = &job->ws[job->nws++];
		w->kind = GB_WRITE_EPOCH;
		w->dataset = job->dataset;
		w->key_epoch = up->epoch;
		w->key_commitment = up->key_commitment.data;
		w->now_ns = from->t;
	}
	for (size_t i = 0; i < up->n_signed_wraps; i++) {
		const ProtobufCBinaryData *bytes = &up->signed_wraps[i];
		const gb_department *recipient;
		gb_keywrap_info info;
		gb_write *w;

		rc = gb_keywrap_verify(bytes->data, bytes->len, owner->sign_pk,
				       &info, why, sizeof why);
		if (rc == 0 && (strcmp(info.dataset, ds->id) != 0 ||
				info.epoch != up->epoch ||
				strcmp(info.owner, from->dept) != 0)) {
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
		recipient = rc == 0 ? gb_registry_find_department(k->reg,
								  info.recipient)
				    : NULL;
		if (rc == 0 &&
		    (!recipient ||
		     !key_reader(k, recipient, ds, up->epoch,
				 up->new_epoch ? up->epoch : es.current,
				 (int64_t)from->t))) {
			rc = GB_EPERM;
			snprintf(why, sizeof why,
				 "%s may not hold the key of %s epoch %u",
				 info.recipient, ds->id, up->epoch);
		}
		if (rc != 0) {
			gb_log("refused key upload of %s by %s: %s", ds->id,
			       from->dept, why);
			gb_audit_denied(k->deps.audit, from->dept, ds->id,
					"key-upload", rc, why);
			gb_send_error(to, from->peer, from->peer_len, rc,
				      up->request_id, 0, "key upload refused: %s",
				      why);
			goto drop;
		}
		if (!strcmp(info.recipient, from->dept))
			own_wrap = true;
		/* A reload may free the registry before the commit: copy. */
		gb_copy_id(job->recipients[i], sizeof job->recipients[i],
			   recipient->id);
		w = &job->ws[job->nws++];
		w->kind = GB_WRITE_WRAP;
		w->dataset = job->dataset;
		w->key_epoch = up->epoch;
		w->dept = job->recipients[i];
		/* the store checks it against the epoch's, for every epoch */
		memcpy(job->commitments[i], info.commitment, GB_COMMITMENT_BYTES);
		w->key_commitment = job->commitments[i];
		w->wrap = bytes->data;
		w->wrap_len = bytes->len;
	}
	if (up->new_epoch && !own_wrap) {
		gb_send_error(to, from->peer, from->peer_len, GB_EINVAL,
			      up->request_id, 0,
			      "a new epoch must include the owner's own wrap, or "
			      "the owner could never recover the key");
		goto drop;
	}
	job->ws[0].unit_len = job->nws; /* the epoch and its wraps: all or none */
	job->frame = frame; /* the wrap bytes live in the frame */
	frame = NULL;
	if (gb_writer_submit(k->deps.writer, job->ws, job->nws, upload_done,
			     job) != 0) {
		gb_send_error(to, from->peer, from->peer_len, GB_EUNAVAIL,
			      up->request_id, 0, "broker writer unavailable");
		goto drop;
	}
	return;
drop:
	gb_codec_client_free(&frame);
	upload_free(job);
}

/* ------------------------------------------------------------ revocation */

/* Once an epoch is retired, the owner is told to open the next one. */
static void retire_done(void *arg)
{
	struct retire_job *job = arg;

	if (job->w.result == 0)
		push_key_work(job->k, job->dataset);
	else
		gb_log("retiring %s epoch %u failed: %s", job->dataset,
		       job->w.key_epoch, gb_strerror(job->w.result));
	free(job);
}

/* Queue the retirement of `epoch` of `dataset` (0: whichever is current
 * at commit); once committed, the owner is told to open the next one and
 * publishes under it get 412. */
static void retire_epoch(gb_key_service *k, const char *dataset,
			 uint32_t epoch, const char *why)
{
	struct retire_job *job = calloc(1, sizeof *job);

	if (!job)
		return;
	job->k = k;
	gb_copy_id(job->dataset, sizeof job->dataset, dataset);
	job->w.kind = GB_WRITE_RETIRE;
	job->w.dataset = job->dataset;
	job->w.key_epoch = epoch;
	if (gb_writer_submit(k->deps.writer, &job->w, 1, retire_done, job) != 0) {
		free(job);
		return;
	}
	if (epoch)
		gb_log("%s: %s; retiring key epoch %u", dataset, why, epoch);
	else
		gb_log("%s: %s; retiring its current key epoch", dataset, why);
}

struct holder_check {
	gb_key_service *k;
	const gb_dataset *ds;
	uint32_t epoch;
	int64_t t;
	const char *lost;           /* first holder that may no longer hold it */
};

static int holder_check_one(void *ctx, const char *name)
{
	struct holder_check *h = ctx;
	const gb_department *d = gb_registry_find_department(h->k->reg, name);

	if (d && key_reader(h->k, d, h->ds, h->epoch, h->epoch, h->t))
		return 0;
	h->lost = name;
	return 1;
}

/* Revocation by fact, not by registry diff: the holders are read from the
 * store, so a grant removed or expired, a department or dataset removed
 * and re-added, and changes made while the broker was down all count. */
void gb_key_service_reconcile(gb_key_service *k, int64_t t)
{
	for (size_t i = 0; i < gb_registry_dataset_count(k->reg); i++) {
		const gb_dataset *ds = gb_registry_dataset_at(k->reg, i);
		struct holder_check h = {k, ds, 0, t, NULL};
		char why[128];
		gb_epoch_state es;

		if (gb_store_epoch_get(k->deps.store, ds->id, &es) != 0 ||
		    es.current == 0 || es.retired)
			continue;
		h.epoch = es.current;
		if (gb_store_wrap_holders(k->deps.store, ds->id, es.current,
					  holder_check_one, &h) <= 0 || !h.lost)
			continue;
		snprintf(why, sizeof why, "%.64s may no longer hold its key",
			 h.lost);
		retire_epoch(k, ds->id, 0, why);
	}
}

/* Revocations are found by reconcile; a department that gained the right
 * to hold a dataset's key (or whose grant's history widened to all) makes
 * the broker ask the owner to wrap keys for it. */
void gb_key_service_reloaded(gb_key_service *k, const gb_registry *old,
			     int64_t t)
{
	size_t nds = gb_registry_dataset_count(k->reg);

	for (size_t i = 0; i < nds; i++) {
		const gb_dataset *ds = gb_registry_dataset_at(k->reg, i);
		bool gained = false;

		for (size_t j = 0; j < gb_registry_department_count(k->reg); j++) {
			const char *id = gb_registry_department_at(k->reg, j)->id;
			const gb_grant *was_g = gb_registry_find_grant(old, ds->id, id);
			const gb_grant *is_g = gb_registry_find_grant(k->reg, ds->id, id);
			gained |= gb_policy_decide(k->reg, id, GB_ACTION_READ_CONTENT,
						   ds->id, t).allowed &&
				  !gb_policy_decide(old, id, GB_ACTION_READ_CONTENT,
						    ds->id, t).allowed;
			/* history widened to all: older epochs are now owed */
			gained |= was_g && is_g && was_g->history != GB_HISTORY_ALL &&
				  is_g->history == GB_HISTORY_ALL;
		}
		if (gained)
			push_key_work(k, ds->id);
	}
	gb_key_service_reconcile(k, t);
}
