/* The fake broker and the helpers the agent's tests share; see
 * gb_fake_broker.h. */
#include "gb_fake_broker.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include "gb_keywrap.h"
#include "gb_test.h"

struct fake fk;

static void fake_push(void);

/* ---------------------------------------------------------------- fake broker */

static void fake_send(const uint8_t *peer, size_t peer_len,
		      const gb_server_frame *f)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	if (gb_codec_server_encode(f, &buf, &len) != 0)
		return;
	if (zmq_send(fk.router, peer, peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
		zmq_send(fk.router, buf, len, ZMQ_DONTWAIT);
	free(buf);
}

static void fake_error(const uint8_t *peer, size_t peer_len, unsigned status,
		       uint64_t req, uint64_t sub, const char *msg)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Error e = GOVBUS__V1__ERROR__INIT;
	e.status = status;
	e.message = (char *)msg;
	e.request_id = req;
	e.subscription_id = sub;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_ERROR;
	f.error = &e;
	fake_send(peer, peer_len, &f);
}

static void fake_ack(const uint8_t *peer, size_t peer_len, uint64_t req,
		     const struct stored *s, bool dup)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__PublishAck a = GOVBUS__V1__PUBLISH_ACK__INIT;
	a.request_id = req;
	a.dataset = (char *)DATASET;
	a.producer_seq = s->seq;
	a.base_offset = s->base;
	a.record_count = s->count;
	a.duplicate = dup;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK;
	f.publish_ack = &a;
	fake_send(peer, peer_len, &f);
}

static void fake_publish(const uint8_t *peer, size_t peer_len,
			 const Govbus__V1__Publish *p)
{
	gb_envelope *env = NULL;
	const Govbus__V1__BatchHeader *h;
	struct stored *s;
	char why[256];

	if (gb_envelope_parse(p->signed_batch.data, p->signed_batch.len, &env,
			      why, sizeof why) != 0) {
		fake_error(peer, peer_len, 400, p->request_id, 0, why);
		return;
	}
	h = gb_envelope_header(env);
	if (strcmp(h->dataset, DATASET) != 0) {
		char msg[200];
		snprintf(msg, sizeof msg, "health may not publish to %s: only "
			 "the owner may publish", h->dataset);
		fake_error(peer, peer_len, 403, p->request_id, 0, msg);
		goto out;
	}
	if (gb_envelope_verify(env, fk.producer_pk) != 0) {
		fake_error(peer, peer_len, 401, p->request_id, 0, "bad signature");
		goto out;
	}
	pthread_mutex_lock(&fk.mu);
	fk.publishes++;
	if (h->producer_seq == fk.retire_seq) {
		fk.retire_seq = 0;
		fk.epochs[fk.epoch].retired = true;
	}
	if (h->producer_seq == fk.crash_seq) {
		/* a crash before the commit: this batch and everything still
		 * in flight are lost with the process */
		fk.crash_seq = 0;
		atomic_store(&fk.restart, 1);
		pthread_mutex_unlock(&fk.mu);
		goto out;
	}
	if (h->producer_seq == fk.fail_seq_once) {
		fk.fail_seq_once = 0;
		pthread_mutex_unlock(&fk.mu);
		fake_error(peer, peer_len, 503, p->request_id, 0,
			   "batch not stored: service unavailable");
		goto out;
	}
	if (h->producer_seq <= fk.last_seq) {
		for (size_t i = 0; i < fk.nlog; i++)
			if (fk.log[i].seq == h->producer_seq) {
				fk.duplicates++;
				fake_ack(peer, peer_len, p->request_id,
					 &fk.log[i], true);
				pthread_mutex_unlock(&fk.mu);
				goto out;
			}
		pthread_mutex_unlock(&fk.mu);
		fake_error(peer, peer_len, 409, p->request_id, 0,
			   "batch not stored: conflicts with stored state");
		goto out;
	}
	/* As the store: a new seq must be sealed under the current epoch. */
	if (h->key_epoch == 0) {
		fk.clear_refusals++;
		pthread_mutex_unlock(&fk.mu);
		fake_error(peer, peer_len, 400, p->request_id, 0,
			   "publish rejected: the batch is not sealed");
		goto out;
	}
	if (h->key_epoch != fk.epoch || fk.epochs[fk.epoch].retired ||
	    memcmp(h->key_commitment.data, fk.epochs[fk.epoch].commitment,
		   GB_COMMITMENT_BYTES) != 0) {
		char msg[160];
		fk.epoch_refusals++;
		pthread_mutex_unlock(&fk.mu);
		snprintf(msg, sizeof msg, "publish rejected: key epoch %u of %s "
			 "is not its current one", h->key_epoch, DATASET);
		fake_error(peer, peer_len, 412, p->request_id, 0, msg);
		goto out;
	}
	s = &fk.log[fk.nlog++];
	s->sb = malloc(p->signed_batch.len);
	memcpy(s->sb, p->signed_batch.data, p->signed_batch.len);
	s->len = p->signed_batch.len;
	s->base = fk.next_offset;
	s->seq = h->producer_seq;
	s->count = h->record_count;
	s->epoch = h->key_epoch;
	s->time = ++fk.time;
	gb_chain_next(fk.head, s->base, s->time, s->sb, s->len, s->hash);
	memcpy(fk.head, s->hash, GB_HASH_BYTES);
	fk.next_offset += s->count;
	fk.last_seq = s->seq;
	if (s->seq == fk.swallow_seq)
		fk.swallow_seq = 0;
	else
		fake_ack(peer, peer_len, p->request_id, s, false);
	pthread_mutex_unlock(&fk.mu);
out:
	gb_envelope_destroy(&env);
}


/* ---------------------------------------------------------------- fake keys */

static struct fwrap *wrap_find(uint32_t epoch, const char *dept)
{
	for (size_t i = 0; i < fk.nwraps; i++)
		if (fk.wraps[i].epoch == epoch && !strcmp(fk.wraps[i].dept, dept))
			return &fk.wraps[i];
	return NULL;
}

/* Store a wrap unless one is there (the store keeps the first). Locked. */
static void wrap_store(uint32_t epoch, const char *dept, const uint8_t *w,
		       size_t len)
{
	struct fwrap *x;

	if (wrap_find(epoch, dept) || fk.nwraps == MAX_WRAPS)
		return;
	x = &fk.wraps[fk.nwraps++];
	x->epoch = epoch;
	snprintf(x->dept, sizeof x->dept, "%s", dept);
	x->w = malloc(len);
	memcpy(x->w, w, len);
	x->len = len;
}

const struct fwrap *fake_wrap(uint32_t epoch, const char *dept)
{
	const struct fwrap *w;
	pthread_mutex_lock(&fk.mu);
	w = wrap_find(epoch, dept);
	pthread_mutex_unlock(&fk.mu);
	return w;
}

void fake_put_wrap(uint32_t epoch, const char *dept, const uint8_t *w,
		   size_t len)
{
	pthread_mutex_lock(&fk.mu);
	wrap_store(epoch, dept, w, len);
	pthread_mutex_unlock(&fk.mu);
}

void fake_open_epoch(uint32_t epoch, const uint8_t *commitment)
{
	pthread_mutex_lock(&fk.mu);
	fk.epoch = epoch;
	fk.epochs[epoch].exists = true;
	fk.epochs[epoch].retired = false;
	memcpy(fk.epochs[epoch].commitment, commitment, GB_COMMITMENT_BYTES);
	pthread_mutex_unlock(&fk.mu);
}

void fake_add_reader(const char *dept, const uint8_t *box_pk)
{
	pthread_mutex_lock(&fk.mu);
	if (fk.nreaders < MAX_READERS) {
		struct freader *r = &fk.readers[fk.nreaders++];
		snprintf(r->dept, sizeof r->dept, "%s", dept);
		memcpy(r->box_pk, box_pk, GB_BOX_PK_BYTES);
	}
	pthread_mutex_unlock(&fk.mu);
}

void fake_set_owner(const char *owner, const uint8_t *sign_pk)
{
	pthread_mutex_lock(&fk.mu);
	snprintf(fk.owner, sizeof fk.owner, "%s", owner);
	memcpy(fk.producer_pk, sign_pk, GB_SIGN_PK_BYTES);
	pthread_mutex_unlock(&fk.mu);
}

void fake_retire(bool push)
{
	pthread_mutex_lock(&fk.mu);
	if (fk.epoch)
		fk.epochs[fk.epoch].retired = true;
	fk.push_rotate = true;
	pthread_mutex_unlock(&fk.mu);
	if (push)
		atomic_store(&fk.push, 1);
}

void fake_append(const uint8_t *sb, size_t len)
{
	gb_envelope *env = NULL;
	struct stored *s;
	char why[256];

	if (gb_envelope_parse(sb, len, &env, why, sizeof why) != 0) {
		fprintf(stderr, "fake_append: %s\n", why);
		return;
	}
	pthread_mutex_lock(&fk.mu);
	s = &fk.log[fk.nlog++];
	s->sb = malloc(len);
	memcpy(s->sb, sb, len);
	s->len = len;
	s->base = fk.next_offset;
	s->seq = gb_envelope_header(env)->producer_seq;
	s->count = gb_envelope_header(env)->record_count;
	s->epoch = gb_envelope_header(env)->key_epoch;
	s->time = ++fk.time;
	gb_chain_next(fk.head, s->base, s->time, s->sb, s->len, s->hash);
	memcpy(fk.head, s->hash, GB_HASH_BYTES);
	fk.next_offset += s->count;
	fk.last_seq = s->seq;
	pthread_mutex_unlock(&fk.mu);
	gb_envelope_destroy(&env);
}

void fake_reset(void)
{
	pthread_mutex_lock(&fk.mu);
	for (size_t i = 0; i < fk.nlog; i++)
		free(fk.log[i].sb);
	for (size_t i = 0; i < fk.nwraps; i++)
		free(fk.wraps[i].w);
	free(fk.rival_wrap);
	fk.rival_wrap = NULL;
	fk.rival_epoch = 0;
	memset(fk.log, 0, sizeof fk.log);
	memset(fk.wraps, 0, sizeof fk.wraps);
	memset(fk.epochs, 0, sizeof fk.epochs);
	memset(fk.head, 0, sizeof fk.head);
	fk.nlog = fk.nwraps = 0;
	fk.next_offset = fk.last_seq = fk.time = 0;
	fk.epoch = 0;
	fk.push_rotate = false;
	pthread_mutex_unlock(&fk.mu);
}

/* The KeyInfo the owner or a reader gets for `epoch`. Locked. The
 * returned arrays point into `buf`, which the caller frees. */
struct keyinfo_buf {
	Govbus__V1__Recipient r[MAX_READERS], *rp[MAX_READERS];
	Govbus__V1__Recipient mr[MAX_EPOCHS + 1][MAX_READERS];
	Govbus__V1__Recipient *mrp[MAX_EPOCHS + 1][MAX_READERS];
	Govbus__V1__MissingWraps m[MAX_EPOCHS + 1], *mp[MAX_EPOCHS + 1];
};

static void keyinfo_fill(Govbus__V1__KeyInfo *ki, struct keyinfo_buf *b,
			 uint32_t epoch)
{
	const struct fwrap *w = wrap_find(epoch, "health");

	ki->dataset = (char *)DATASET;
	ki->current_epoch = fk.epoch;
	ki->rotate = fk.epoch && fk.epochs[fk.epoch].retired;
	ki->epoch = epoch;
	if (w) {
		ki->signed_wrap.data = w->w;
		ki->signed_wrap.len = w->len;
	}
	if (strcmp(fk.owner, "health") != 0)
		return; /* readers and missing are for the owner only */
	for (size_t i = 0; i < fk.nreaders; i++) {
		govbus__v1__recipient__init(&b->r[i]);
		b->r[i].dept = fk.readers[i].dept;
		b->r[i].box_key.data = fk.readers[i].box_pk;
		b->r[i].box_key.len = GB_BOX_PK_BYTES;
		b->rp[i] = &b->r[i];
	}
	ki->readers = b->rp;
	ki->n_readers = fk.nreaders;
	ki->missing = b->mp;
	for (uint32_t e = fk.missing_current_only ? fk.epoch : 1;
	     e >= 1 && e <= fk.epoch; e++) {
		Govbus__V1__MissingWraps *m = &b->m[ki->n_missing];
		govbus__v1__missing_wraps__init(m);
		m->epoch = e;
		m->recipients = b->mrp[ki->n_missing];
		for (size_t i = 0; i < fk.nreaders; i++)
			if (!wrap_find(e, fk.readers[i].dept))
				m->recipients[m->n_recipients++] = &b->r[i];
		if (m->n_recipients)
			b->mp[ki->n_missing++] = m;
	}
}

static void fake_key_fetch(const uint8_t *peer, size_t peer_len,
			   const Govbus__V1__KeyFetch *kf)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__KeyInfo ki = GOVBUS__V1__KEY_INFO__INIT;
	struct keyinfo_buf *b = calloc(1, sizeof *b);

	pthread_mutex_lock(&fk.mu);
	fk.key_fetches++;
	if (strcmp(kf->dataset, DATASET) != 0 || fk.fetch_status) {
		char msg[200];
		unsigned status = fk.fetch_status ? fk.fetch_status : 403;
		pthread_mutex_unlock(&fk.mu);
		snprintf(msg, sizeof msg, "health may not publish to %s: only "
			 "the owner may publish or hold its keys",
			 kf->dataset);
		fake_error(peer, peer_len, status, kf->request_id, 0, msg);
		free(b);
		return;
	}
	keyinfo_fill(&ki, b, kf->epoch ? kf->epoch : fk.epoch);
	ki.request_id = kf->request_id;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO;
	f.key_info = &ki;
	fake_send(peer, peer_len, &f);
	pthread_mutex_unlock(&fk.mu);
	free(b);
}

/* Push key work to the last session, as the broker does after a reload. */
static void fake_push(void)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__KeyInfo ki = GOVBUS__V1__KEY_INFO__INIT;
	struct keyinfo_buf *b = calloc(1, sizeof *b);

	pthread_mutex_lock(&fk.mu);
	keyinfo_fill(&ki, b, fk.epoch);
	ki.signed_wrap.len = 0; /* pushes carry work, not wraps */
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO;
	f.key_info = &ki;
	fake_send(fk.session, fk.session_len, &f);
	pthread_mutex_unlock(&fk.mu);
	free(b);
}

/* Check one uploaded wrap as the broker does. Locked. */
static int upload_check(const ProtobufCBinaryData *w, uint32_t epoch,
			const uint8_t *commitment, gb_keywrap_info *info)
{
	char why[256];
	bool reader = false;

	if (gb_keywrap_verify(w->data, w->len, fk.producer_pk, info, why,
			      sizeof why) != 0 ||
	    strcmp(info->dataset, DATASET) != 0 || info->epoch != epoch ||
	    strcmp(info->owner, fk.owner) != 0)
		return 400;
	for (size_t i = 0; i < fk.nreaders; i++)
		reader |= !strcmp(fk.readers[i].dept, info->recipient);
	if (!reader)
		return 403;
	if (memcmp(info->commitment, commitment, GB_COMMITMENT_BYTES) != 0)
		return 412;
	return 0;
}

static void fake_key_upload(const uint8_t *peer, size_t peer_len,
			    const Govbus__V1__KeyUpload *up)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__KeyUploadAck ack = GOVBUS__V1__KEY_UPLOAD_ACK__INIT;
	const uint8_t *commitment;
	gb_keywrap_info info;
	unsigned status = 0;
	bool has_own = false;

	pthread_mutex_lock(&fk.mu);
	fk.key_uploads++;
	if (up->new_epoch && fk.rival_epoch == up->epoch) {
		/* another agent of the owner got there first */
		fk.epoch = fk.rival_epoch;
		fk.epochs[fk.epoch].exists = true;
		fk.epochs[fk.epoch].retired = false;
		memcpy(fk.epochs[fk.epoch].commitment, fk.rival_commitment,
		       GB_COMMITMENT_BYTES);
		wrap_store(fk.epoch, "health", fk.rival_wrap, fk.rival_wrap_len);
		fk.rival_epoch = 0;
	}
	if (strcmp(fk.owner, "health") != 0 || strcmp(up->dataset, DATASET))
		status = 403;
	else if (up->epoch == 0 || up->epoch > MAX_EPOCHS)
		status = 412;
	else if (up->new_epoch && (up->epoch != fk.epoch + 1 ||
				   up->key_commitment.len != GB_COMMITMENT_BYTES))
		status = 412;
	else if (!up->new_epoch && !fk.epochs[up->epoch].exists)
		status = 412;
	commitment = up->new_epoch ? up->key_commitment.data
				   : fk.epochs[up->epoch].commitment;
	for (size_t i = 0; !status && i < up->n_signed_wraps; i++) {
		status = upload_check(&up->signed_wraps[i], up->epoch,
				      commitment, &info);
		has_own |= !strcmp(info.recipient, "health");
	}
	if (!status && up->new_epoch && !has_own)
		status = 400;
	if (status) {
		char msg[160];
		pthread_mutex_unlock(&fk.mu);
		snprintf(msg, sizeof msg, "key upload of %s epoch %u refused",
			 up->dataset, up->epoch);
		fake_error(peer, peer_len, status, up->request_id, 0, msg);
		return;
	}
	if (up->new_epoch) {
		fk.epoch = up->epoch;
		fk.epochs[fk.epoch].exists = true;
		memcpy(fk.epochs[fk.epoch].commitment, commitment,
		       GB_COMMITMENT_BYTES);
	}
	for (size_t i = 0; i < up->n_signed_wraps; i++) {
		if (gb_keywrap_verify(up->signed_wraps[i].data,
				      up->signed_wraps[i].len, fk.producer_pk,
				      &info, NULL, 0) == 0) /* checked above */
			wrap_store(up->epoch, info.recipient,
				   up->signed_wraps[i].data,
				   up->signed_wraps[i].len);
	}
	ack.request_id = up->request_id;
	ack.dataset = up->dataset;
	ack.epoch = up->epoch;
	ack.stored = (uint32_t)up->n_signed_wraps;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK;
	f.key_upload_ack = &ack;
	fake_send(peer, peer_len, &f);
	pthread_mutex_unlock(&fk.mu);
}

static void fake_subscribe(const uint8_t *peer, size_t peer_len,
			   const Govbus__V1__Subscribe *req)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__SubscribeOk ok = GOVBUS__V1__SUBSCRIBE_OK__INIT;
	struct fsub *s = NULL;
	uint64_t start;

	for (int i = 0; i < MAX_SUBS; i++)
		if (!fk.subs[i].live) {
			s = &fk.subs[i];
			break;
		}
	if (!s)
		return;
	pthread_mutex_lock(&fk.mu);
	switch (req->start) {
	case GOVBUS__V1__SUBSCRIBE__START__START_LATEST:
		start = fk.next_offset;
		break;
	case GOVBUS__V1__SUBSCRIBE__START__START_OFFSET:
		start = req->offset < fk.next_offset ? req->offset : fk.next_offset;
		break;
	default:
		start = 0;
		break;
	}
	for (int i = 0; req->durable[0] && i < fk.ncursors; i++)
		if (!strcmp(fk.cursor_name[i], req->durable))
			start = fk.cursor[i]; /* as the real broker: it wins */
	pthread_mutex_unlock(&fk.mu);
	memset(s, 0, sizeof *s);
	memcpy(s->peer, peer, peer_len);
	s->peer_len = peer_len;
	s->id = req->subscription_id;
	s->next = start;
	s->credit = req->credit;
	snprintf(s->durable, sizeof s->durable, "%s", req->durable);
	s->live = true;
	ok.subscription_id = s->id;
	ok.start_offset = start;
	ok.head_offset = fk.next_offset;
	ok.owner = fk.owner;
	ok.owner_sign_key.data = fk.producer_pk;
	ok.owner_sign_key.len = GB_SIGN_PK_BYTES;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK;
	f.subscribe_ok = &ok;
	fake_send(peer, peer_len, &f);
}

static struct fsub *fake_find(const uint8_t *peer, size_t peer_len, uint64_t id)
{
	for (int i = 0; i < MAX_SUBS; i++)
		if (fk.subs[i].live && fk.subs[i].id == id &&
		    fk.subs[i].peer_len == peer_len &&
		    !memcmp(fk.subs[i].peer, peer, peer_len))
			return &fk.subs[i];
	return NULL;
}

static void fake_handle(const uint8_t *peer, size_t peer_len,
			const uint8_t *buf, size_t len)
{
	gb_client_frame *f = NULL;
	char why[256];
	struct fsub *s;

	if (gb_codec_client_decode(buf, len, &f, why, sizeof why) != 0) {
		fake_error(peer, peer_len, 400, 0, 0, why);
		return;
	}
	switch (f->body_case) {
	case GOVBUS__V1__CLIENT_FRAME__BODY_HELLO: {
		gb_server_frame w = GOVBUS__V1__SERVER_FRAME__INIT;
		Govbus__V1__Welcome wel = GOVBUS__V1__WELCOME__INIT;
		Govbus__V1__ProducerPosition pos =
			GOVBUS__V1__PRODUCER_POSITION__INIT;
		Govbus__V1__ProducerPosition *ps[1] = {&pos};
		pthread_mutex_lock(&fk.mu);
		fk.hellos++;
		memcpy(fk.session, peer, peer_len);
		fk.session_len = peer_len;
		pos.dataset = (char *)DATASET;
		pos.last_seq = fk.last_seq;
		pthread_mutex_unlock(&fk.mu);
		wel.dept = (char *)"health";
		wel.instance = fk.instance;
		wel.max_frame = GB_MAX_FRAME;
		wel.n_positions = 1;
		wel.positions = ps;
		w.body_case = GOVBUS__V1__SERVER_FRAME__BODY_WELCOME;
		w.welcome = &wel;
		fake_send(peer, peer_len, &w);
		break;
	}
	case GOVBUS__V1__CLIENT_FRAME__BODY_PING: {
		gb_server_frame w = GOVBUS__V1__SERVER_FRAME__INIT;
		Govbus__V1__Pong pong = GOVBUS__V1__PONG__INIT;
		pong.nonce = f->ping->nonce;
		pong.instance = fk.instance;
		w.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PONG;
		w.pong = &pong;
		fake_send(peer, peer_len, &w);
		break;
	}
	case GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH:
		fake_publish(peer, peer_len, f->publish);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH:
		fake_key_fetch(peer, peer_len, f->key_fetch);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_UPLOAD:
		fake_key_upload(peer, peer_len, f->key_upload);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE:
		fake_subscribe(peer, peer_len, f->subscribe);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CREDIT:
		s = fake_find(peer, peer_len, f->credit->subscription_id);
		if (s)
			s->credit += f->credit->batches;
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_UNSUBSCRIBE:
		s = fake_find(peer, peer_len, f->unsubscribe->subscription_id);
		if (s)
			s->live = false;
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CURSOR_ACK:
		s = fake_find(peer, peer_len, f->cursor_ack->subscription_id);
		pthread_mutex_lock(&fk.mu);
		if (!s || !s->durable[0] || f->cursor_ack->next_offset > s->next) {
			fk.bad_acks++;
			pthread_mutex_unlock(&fk.mu);
			fake_error(peer, peer_len, 400, 0,
				   f->cursor_ack->subscription_id,
				   "cursor ack beyond what was delivered");
			break;
		}
		{
			int i = 0;
			while (i < fk.ncursors &&
			       strcmp(fk.cursor_name[i], s->durable) != 0)
				i++;
			if (i == fk.ncursors && i < 4)
				snprintf(fk.cursor_name[fk.ncursors++],
					 GB_MAX_NAME_LEN + 1, "%s", s->durable);
			if (i < 4)
				fk.cursor[i] = f->cursor_ack->next_offset;
		}
		pthread_mutex_unlock(&fk.mu);
		break;
	default:
		break;
	}
	gb_codec_client_free(&f);
}

/* Deliver what each subscription has credit for. */
static void fake_pump(void)
{
	for (int i = 0; i < MAX_SUBS; i++) {
		struct fsub *s = &fk.subs[i];
		while (s->live && s->credit) {
			struct stored *b = NULL, copy;
			gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
			Govbus__V1__Deliver d = GOVBUS__V1__DELIVER__INIT;
			uint8_t *tampered = NULL;

			pthread_mutex_lock(&fk.mu);
			for (size_t k = 0; k < fk.nlog; k++)
				if (fk.log[k].base <= s->next &&
				    s->next < fk.log[k].base + fk.log[k].count)
					b = &fk.log[k];
			if (b && (int64_t)b->base == fk.skip_base) {
				s->next = b->base + b->count;
				pthread_mutex_unlock(&fk.mu);
				continue;
			}
			if (b)
				copy = *b;
			pthread_mutex_unlock(&fk.mu);
			if (!b)
				break;
			if (fk.revoke_after && s->delivered == fk.revoke_after) {
				fake_error(s->peer, s->peer_len, 403, 0, s->id,
					   "subscription of health to health.x "
					   "ended: the grant was revoked");
				s->live = false;
				break;
			}
			if ((int64_t)copy.base == fk.tamper_base) {
				tampered = malloc(copy.len);
				memcpy(tampered, copy.sb, copy.len);
				tampered[copy.len - 70] ^= 0x01; /* ciphertext */
				copy.sb = tampered;
			}
			if ((int64_t)copy.base == fk.bad_chain_base)
				copy.hash[0] ^= 0x01;
			d.subscription_id = s->id;
			d.base_offset = copy.base;
			d.record_count = copy.count;
			d.broker_time_ns = copy.time;
			d.chain_hash.data = copy.hash;
			d.chain_hash.len = GB_HASH_BYTES;
			d.signed_batch.data = copy.sb;
			d.signed_batch.len = copy.len;
			f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_DELIVER;
			f.deliver = &d;
			fake_send(s->peer, s->peer_len, &f);
			free(tampered);
			s->next = copy.base + copy.count;
			s->credit--;
			s->delivered++;
		}
	}
}

static void fake_bind(void)
{
	int one = 1, zero = 0;

	fk.router = zmq_socket(fk.ctx, ZMQ_ROUTER);
	zmq_setsockopt(fk.router, ZMQ_CURVE_SERVER, &one, sizeof one);
	zmq_setsockopt(fk.router, ZMQ_CURVE_SECRETKEY, gb_identity_box_sk(fk.key),
		       GB_BOX_SK_BYTES);
	zmq_setsockopt(fk.router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
	zmq_setsockopt(fk.router, ZMQ_LINGER, &zero, sizeof zero);
	if (zmq_bind(fk.router, fk.endpoint) != 0)
		fprintf(stderr, "fake broker: bind %s: %s\n", fk.endpoint,
			zmq_strerror(errno));
}

static void *fake_main(void *arg)
{
	(void)arg;
	fake_bind();
	while (!atomic_load(&fk.stop)) {
		zmq_pollitem_t it = {fk.router, 0, ZMQ_POLLIN, 0};

		if (atomic_exchange(&fk.restart, 0)) {
			zmq_close(fk.router);
			memset(fk.subs, 0, sizeof fk.subs);
			fk.instance++;
			fake_bind();
		}
		if (atomic_load(&fk.paused)) {
			usleep(5000);
			continue;
		}
		if (atomic_exchange(&fk.push, 0))
			fake_push();
		zmq_poll(&it, 1, 5);
		while ((it.revents & ZMQ_POLLIN) && !atomic_load(&fk.restart)) {
			zmq_msg_t peer, body;
			zmq_msg_init(&peer);
			zmq_msg_init(&body);
			if (zmq_msg_recv(&peer, fk.router, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&peer);
				zmq_msg_close(&body);
				break;
			}
			zmq_msg_recv(&body, fk.router, 0);
			fake_handle(zmq_msg_data(&peer), zmq_msg_size(&peer),
				    zmq_msg_data(&body), zmq_msg_size(&body));
			zmq_msg_close(&peer);
			zmq_msg_close(&body);
		}
		fake_pump();
	}
	zmq_close(fk.router);
	return NULL;
}

void fake_start(const char *where, gb_identity *producer)
{
	memset(&fk, 0, sizeof fk);
	snprintf(fk.endpoint, sizeof fk.endpoint, "ipc://%s/broker.sock", where);
	fk.key = gb_identity_generate();
	snprintf(fk.owner, sizeof fk.owner, "health");
	memcpy(fk.producer_pk, gb_identity_sign_pk(producer), GB_SIGN_PK_BYTES);
	fake_add_reader("health", gb_identity_box_pk(producer));
	pthread_mutex_init(&fk.mu, NULL);
	fk.instance = 1000;
	fk.last_seq = 5; /* the Welcome position the publisher continues from */
	fk.tamper_base = fk.bad_chain_base = fk.skip_base = -1;
	fk.ctx = zmq_ctx_new();
	pthread_create(&fk.thread, NULL, fake_main, NULL);
}

void fake_stop(void)
{
	atomic_store(&fk.stop, 1);
	pthread_join(fk.thread, NULL);
	zmq_ctx_term(fk.ctx);
	fake_reset();
	gb_identity_destroy(&fk.key);
}

/* ---------------------------------------------------------------- helpers */

char dir[256];
gb_identity *health;

int fake_failures(void)
{
	return gb_test_failures;
}

gb_agent_config *make_config(const char *endpoint, const uint8_t *box_pk,
				    const char *peers_yaml)
{
	char path[400], box[GB_BOX_PK_TEXT], why[512];
	gb_agent_config *cfg = NULL;
	FILE *f;

	snprintf(path, sizeof path, "%s/agent.yaml", dir);
	gb_key_encode_box(box_pk, box);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fprintf(f, "dept: health\nkey: health.key\nbroker:\n"
		"  endpoint: \"%s\"\n  public_key: \"%s\"\n  timeout: 0.3\n%s",
		endpoint, box, peers_yaml ? peers_yaml : "");
	fclose(f);
	if (gb_agent_config_load(path, &cfg, why, sizeof why) != 0)
		fprintf(stderr, "config: %s\n", why);
	return cfg;
}

void on_event(void *arg, const gb_event *ev)
{
	struct events *e = arg;

	if (ev->epoch)
		e->last_epoch = ev->epoch;
	switch (ev->kind) {
	case GB_EVENT_RECONNECTED:
		e->reconnects++;
		e->restarts += ev->restarted;
		break;
	case GB_EVENT_RESUBSCRIBED:
		e->resubscribes++;
		e->last_offset = ev->offset;
		break;
	case GB_EVENT_RESENT:
		e->resends += (int)ev->count;
		break;
	case GB_EVENT_KEY_OPENED:
		e->key_opened++;
		break;
	case GB_EVENT_KEY_WRAPPED:
		e->key_wrapped++;
		snprintf(e->last_recipients, sizeof e->last_recipients, "%s",
			 ev->recipients);
		break;
	case GB_EVENT_KEY_FAILED:
		e->key_failed++;
		fprintf(stderr, "  key work failed (%u): %s\n", ev->status,
			ev->reason);
		break;
	case GB_EVENT_KEY_WAITING:
		e->key_waiting++;
		break;
	case GB_EVENT_RESEALED:
		e->resealed += (int)ev->count;
		break;
	}
}

gb_client *connect_client(const char *peers, struct events *ev)
{
	gb_agent_config *cfg =
		make_config(fk.endpoint, gb_identity_box_pk(fk.key), peers);
	gb_client_options o;
	gb_client *c = NULL;
	char why[1024];

	gb_client_options_init(&o);
	o.ping_ms = 50;
	o.give_up_ms = 5000;
	o.on_event = on_event;
	o.event_arg = ev;
	CHECK(cfg != NULL);
	if (cfg)
		CHECK_RC(gb_client_open(cfg, &o, &c, why, sizeof why), 0);
	if (!c)
		fprintf(stderr, "  open: %s\n", why);
	gb_agent_config_destroy(&cfg);
	return c;
}

void payload_of(uint64_t i, char *buf, size_t len)
{
	snprintf(buf, len, "record-%06" PRIu64 "-xxxxxxxxxxxxxxxxxxxxxxxx", i);
}

int publish_n(gb_client *c, uint64_t from, uint64_t n, uint32_t batch)
{
	gb_publisher_options o;
	gb_publisher *p = NULL;
	char buf[96];
	int rc = 0;

	gb_publisher_options_init(&o);
	o.max_records = batch;
	o.window = 4;
	rc = gb_publisher_open(c, DATASET, &o, &p);
	for (uint64_t i = from; rc == 0 && i < from + n; i++) {
		payload_of(i, buf, sizeof buf);
		rc = gb_publisher_add(p, buf, strlen(buf), NULL);
	}
	if (rc == 0)
		rc = gb_publisher_flush(p);
	gb_publisher_close(&p);
	return rc;
}

/* Read `n` records from `s`, expecting offsets from..from+n-1 with their
 * payloads. Returns how many matched before a mismatch or error. */
uint64_t read_expect(gb_subscription *s, uint64_t from, uint64_t n,
			    int *rc_out)
{
	char want[96];
	uint64_t got = 0;
	int rc = 0;

	for (; s && got < n; got++) {
		gb_record r;
		rc = gb_subscription_next(s, &r, 3000);
		if (rc != 0)
			break;
		payload_of(from + got, want, sizeof want);
		if (r.offset != from + got || r.len != strlen(want) ||
		    memcmp(r.payload, want, r.len) != 0 ||
		    strcmp(r.producer, fk.owner) != 0 ||
		    strcmp(r.dataset, DATASET) != 0) {
			fprintf(stderr, "  record %" PRIu64 ": offset %" PRIu64
				" '%.*s'\n", from + got, r.offset, (int)r.len,
				(const char *)r.payload);
			rc = GB_ECORRUPT;
			break;
		}
	}
	*rc_out = rc;
	return got;
}

gb_subscription *subscribe(gb_client *c, gb_start_kind kind,
				  uint64_t value, const char *durable, int *rc)
{
	gb_subscription_options o;
	gb_subscription *s = NULL;

	gb_subscription_options_init(&o);
	o.start.kind = kind;
	o.start.value = value;
	o.durable = durable;
	o.credit = 4; /* small, so credit is replenished many times */
	*rc = gb_subscription_open(c, DATASET, &o, &s);
	if (!s)
		fprintf(stderr, "  subscribe: %s\n", gb_client_last_error(c));
	return s;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove the test's temporary folder and everything in it. */
void remove_tree(const char *path)
{
	nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}
