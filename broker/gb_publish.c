/* govbus broker publish pipeline; see gb_publish.h.
 *
 * Trust: the frame comes from an authenticated department and passed
 * gb_codec's bounds; the signed batch inside it is parsed by gb_envelope
 * (every header field validated) and otherwise untrusted until its
 * signature verifies under the registered key of the connection's
 * department. Its created_at is only bounded, never used for ordering:
 * broker time comes from this host. */
#include "gb_publish.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gb_envelope.h"
#include "gb_error.h"
#include "gb_log.h"
#include "gb_policy.h"

#define PENDING_BYTES_MAX (256u << 20) /* stop reading publishes above this */
#define CREATED_AHEAD_MAX_NS (24ull * 3600 * 1000000000ull)

struct gb_publish {
	gb_publish_deps deps;
	const gb_registry *reg;
	uint64_t dedupe_seconds;      /* broker.dedupe_seconds in force */
	uint64_t pending_bytes;       /* signed batches the writer holds */
};

/* A publish on its way through the writer thread. */
struct publish_job {
	gb_publish *pub;
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
	gb_write w;                   /* the append */
};

int gb_publish_new(const gb_publish_deps *deps, gb_publish **out)
{
	gb_publish *p = calloc(1, sizeof *p);

	*out = NULL;
	if (!p)
		return GB_ENOMEM;
	p->deps = *deps;
	*out = p;
	return 0;
}

void gb_publish_destroy(gb_publish **pp)
{
	if (!pp || !*pp)
		return;
	free(*pp);
	*pp = NULL;
}

void gb_publish_policy_loaded(gb_publish *p, const gb_registry *reg)
{
	p->reg = reg;
	p->dedupe_seconds = gb_registry_broker(reg)->dedupe_seconds;
	gb_store_set_dedupe_window(p->deps.store,
				   p->dedupe_seconds * 1000000000ull);
}

bool gb_publish_saturated(const gb_publish *p)
{
	return p->pending_bytes > PENDING_BYTES_MAX;
}

static void job_free(struct publish_job *job)
{
	if (!job)
		return;
	gb_envelope_destroy(&job->env);
	gb_codec_client_free(&job->frame);
	free(job->record_tags);
	free(job->dup_records);
	free(job);
}

static void send_ack(gb_publish *p, const struct publish_job *job)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__PublishAck a = GOVBUS__V1__PUBLISH_ACK__INIT;

	a.request_id = job->request_id;
	a.dataset = (char *)job->dataset;
	a.producer_seq = job->w.producer_seq;
	a.base_offset = job->w.base_offset;
	a.record_count = job->w.record_count;
	a.duplicate = job->w.duplicate;
	a.duplicate_records = job->w.dup_count;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK;
	f.publish_ack = &a;
	(void)gb_send(&p->deps.to, job->peer, job->peer_len, &f);
}

/* The writer is done with a publish: ack it or say why it was not stored. */
static void publish_done(void *arg)
{
	struct publish_job *job = arg;
	gb_publish *p = job->pub;
	const gb_sender *to = &p->deps.to;
	const gb_write *w = &job->w;

	p->pending_bytes -= w->signed_batch_len;
	if (w->result == 0) {
		send_ack(p, job);
		/* A duplicate was counted when it was stored (and its records
		 * need not be contiguous). */
		if (!w->duplicate) {
			gb_heads_advance(p->deps.heads, job->dataset,
					 w->base_offset + w->record_count);
			gb_audit_appended(p->deps.audit, job->dataset);
		}
	} else if (w->result == GB_EDUPLICATE) {
		gb_send_error_dups(to, job->peer, job->peer_len, job->request_id,
				   job->dup_records, w->dup_count,
				   "batch %" PRIu64 " of %s not stored: %" PRIu32
				   " of its %" PRIu32 " records have ids stored "
				   "within the last %" PRIu64 " s (or repeat an "
				   "earlier record of the batch); send the others",
				   w->producer_seq, job->dataset, w->dup_count,
				   w->record_count, p->dedupe_seconds);
	} else if (w->result == GB_EEPOCH) {
		gb_send_error(to, job->peer, job->peer_len, w->result,
			      job->request_id, 0,
			      "batch %" PRIu64 " of %s not stored: key epoch %u "
			      "is no longer current",
			      w->producer_seq, job->dataset, w->key_epoch);
	} else {
		gb_send_error(to, job->peer, job->peer_len, w->result,
			      job->request_id, 0,
			      "batch %" PRIu64 " of %s not stored: %s",
			      w->producer_seq, job->dataset,
			      gb_strerror(w->result));
	}
	job_free(job);
}

void gb_publish_handle(gb_publish *p, const gb_caller *from,
		       gb_client_frame *frame)
{
	const gb_sender *to = &p->deps.to;
	const Govbus__V1__Publish *pub = frame->publish;
	const Govbus__V1__BatchHeader *h;
	const gb_department *dept;
	struct publish_job *job;
	char why[256];
	gb_decision dec;
	int rc;

	job = calloc(1, sizeof *job);
	if (!job) {
		gb_send_error(to, from->peer, from->peer_len, GB_ENOMEM,
			      pub->request_id, 0, "broker out of memory");
		gb_codec_client_free(&frame);
		return;
	}
	job->pub = p;
	job->frame = frame;
	job->request_id = pub->request_id;
	memcpy(job->peer, from->peer, from->peer_len);
	job->peer_len = from->peer_len;

	rc = gb_envelope_parse(pub->signed_batch.data, pub->signed_batch.len,
			       &job->env, why, sizeof why);
	if (rc != 0) {
		gb_send_error(to, from->peer, from->peer_len, rc,
			      job->request_id, 0, "publish rejected: %s", why);
		goto drop;
	}
	h = gb_envelope_header(job->env);
	if (strcmp(h->producer, from->dept) != 0) {
		gb_send_error(to, from->peer, from->peer_len, GB_EPERM,
			      job->request_id, 0,
			      "publish rejected: batch names producer %s but the "
			      "connection belongs to %s",
			      h->producer, from->dept);
		goto drop;
	}
	dept = gb_registry_find_department(p->reg, from->dept);
	if (!dept) {
		gb_send_error(to, from->peer, from->peer_len, GB_EAUTH,
			      job->request_id, 0,
			      "department %s is no longer registered", from->dept);
		goto drop;
	}
	if (gb_envelope_verify(job->env, dept->sign_pk) != 0) {
		gb_log("refused publish from %s to %s: bad signature",
		       from->dept, h->dataset);
		gb_audit_denied(p->deps.audit, from->dept, h->dataset, "publish",
				GB_ESIG, "bad signature");
		gb_send_error(to, from->peer, from->peer_len, GB_ESIG,
			      job->request_id, 0,
			      "publish rejected: the batch signature does not "
			      "verify under %s's registered key",
			      from->dept);
		goto drop;
	}
	dec = gb_policy_decide(p->reg, from->dept, GB_ACTION_PUBLISH, h->dataset,
			       (int64_t)from->t);
	if (!dec.allowed) {
		gb_log("refused publish from %s to %s: %s", from->dept,
		       h->dataset, dec.reason);
		gb_audit_denied(p->deps.audit, from->dept, h->dataset, "publish",
				dec.error, dec.reason);
		gb_send_error(to, from->peer, from->peer_len, dec.error,
			      job->request_id, 0, "%s may not publish to %s: %s",
			      from->dept, h->dataset, dec.reason);
		goto drop;
	}
	if (h->key_epoch == 0) {
		gb_send_error(to, from->peer, from->peer_len, GB_EINVAL,
			      job->request_id, 0,
			      "publish rejected: the batch is not sealed; records "
			      "must be encrypted under a key epoch of %s",
			      h->dataset);
		goto drop;
	}
	if (h->created_at_ns > from->t + CREATED_AHEAD_MAX_NS) {
		gb_send_error(to, from->peer, from->peer_len, GB_EINVAL,
			      job->request_id, 0,
			      "publish rejected: created_at is more than 24 hours "
			      "ahead of the broker's clock");
		goto drop;
	}
	/* The key epoch is checked by the writer, inside the transaction and
	 * after the duplicate check, so a retry of a stored batch is acked as
	 * a duplicate even if its epoch was retired since. */
	gb_copy_id(job->dataset, sizeof job->dataset, h->dataset);
	gb_copy_id(job->producer, sizeof job->producer, h->producer);
	job->w.kind = GB_WRITE_APPEND;
	job->w.dataset = job->dataset;
	job->w.producer = job->producer;
	job->w.producer_seq = h->producer_seq;
	job->w.record_count = h->record_count;
	job->w.signed_batch = pub->signed_batch.data;
	job->w.signed_batch_len = pub->signed_batch.len;
	job->w.now_ns = from->t;
	job->w.key_epoch = h->key_epoch;
	/* The parsed envelope is a second copy of the whole batch; the
	 * writer needs only its commitment (32 bytes: key_epoch >= 1 here). */
	memcpy(job->commitment, h->key_commitment.data, GB_COMMITMENT_BYTES);
	job->w.key_commitment = job->commitment;
	if (h->record_tags.len) { /* the parser checked the length */
		job->record_tags = malloc(h->record_tags.len);
		job->dup_records = malloc(h->record_count *
					  sizeof *job->dup_records);
		if (!job->record_tags || !job->dup_records) {
			gb_send_error(to, from->peer, from->peer_len, GB_ENOMEM,
				      job->request_id, 0, "broker out of memory");
			goto drop;
		}
		memcpy(job->record_tags, h->record_tags.data, h->record_tags.len);
		job->w.record_tags = job->record_tags;
		job->w.dup_records = job->dup_records;
	}
	gb_envelope_destroy(&job->env);
	if (gb_writer_submit(p->deps.writer, &job->w, 1, publish_done, job) != 0) {
		gb_send_error(to, from->peer, from->peer_len, GB_EUNAVAIL,
			      job->request_id, 0, "broker writer unavailable");
		goto drop;
	}
	p->pending_bytes += pub->signed_batch.len;
	return;
drop:
	job_free(job);
}
