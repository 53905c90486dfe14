/* Dataset keys over the wire: the reader's and the owner's side of DESIGN
 * §5, on top of the client's key requests (KeyFetch -> KeyInfo, KeyUpload
 * -> KeyUploadAck).
 *
 * Reader: fetch this department's own wrap of an epoch and open it into the
 * client's keyring, after checking the owner's signature and the key's
 * commitment (gb_keywrap_open).
 *
 * Owner: a fetch of epoch 0 returns the current epoch, whether the broker
 * retired it, this department's own wrap of it, every department that must
 * get a wrap of a new epoch (`readers`) and, per existing epoch, the readers
 * that still lack one (`missing`). From that the owner opens a new epoch
 * when needed (random key, a wrap per reader, KeyUpload new_epoch), or
 * recovers the current key from its own wrap; then it wraps older epochs
 * for the missing readers. Two agents of one department may race to open
 * the same epoch: the loser gets 412 and starts over from a fresh fetch,
 * then simply adopts the winner's key through its own wrap.
 *
 * Trust: KeyInfo comes from a broker that may be compromised. A wrap is
 * believed only once gb_keywrap_open has verified it; the readers and
 * missing lists are the broker's word on policy (which it enforces in any
 * case), so they are only bounded and validated (ids, 32-byte box keys)
 * before keys are sealed to them. Keys stay in the keyring's secure memory;
 * the only copies made are the sealed wraps. */
#include "gb_dataset_keys.h"

#include "gb_client_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_envelope.h"
#include "gb_keyring.h"
#include "gb_keywrap.h"

#define MAX_RACES 5                /* new-epoch attempts lost to another agent */
#define UPLOAD_RETRIES 8           /* after 5xx, backoff as the publisher's */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 5000
#define NAMES_MAX 512              /* recipients listed in an event */

/* ---------------------------------------------------------------- answers */

/* An answer that is not the expected frame: the broker's Error becomes the
 * caller's error (with its sentence and status), anything else is a
 * protocol violation. Returns the error. */
static int refused(gb_client *c, const gb_server_frame *a, const char *what,
		   const char *dataset)
{
	if (a->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR)
		return gb_client_fail(c, gb_error_from_status(a->error->status),
				      a->error->status, "%s", a->error->message);
	return gb_client_fail(c, GB_EPROTO, 0,
			      "the broker answered a %s for %s with an "
			      "unexpected frame",
			      what, dataset);
}

/* Handle frames for `ms`, e.g. while backing off before a retry. */
static int pause_ms(gb_client *c, int64_t ms)
{
	int64_t until = gb_agent_now_ms() + ms;

	while (gb_agent_now_ms() < until) {
		int rc = gb_client_wait(c, until);
		if (rc != 0 && rc != GB_ETIMEOUT)
			return rc;
	}
	return 0;
}

/* Ask for the key state of `dataset` and this department's own wrap of
 * `epoch` (0: the current one). *info (free with gb_codec_server_free) is
 * a ServerFrame holding a KeyInfo that names `dataset`. A broker refusal
 * comes back as its error (GB_EPERM, GB_ENOTFOUND...). */
static int fetch(gb_client *c, const char *dataset, uint32_t epoch,
		 gb_server_frame **info)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__KeyFetch kf = GOVBUS__V1__KEY_FETCH__INIT;
	gb_server_frame *a = NULL;
	int rc;

	*info = NULL;
	kf.dataset = (char *)dataset;
	kf.epoch = epoch;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH;
	f.key_fetch = &kf;
	rc = gb_client_request(c, &f, &a);
	if (rc != 0)
		return rc;
	if (a->body_case != GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO) {
		rc = refused(c, a, "KeyFetch", dataset);
		gb_codec_server_free(&a);
		return rc;
	}
	if (strcmp(a->key_info->dataset, dataset) != 0 ||
	    (epoch && a->key_info->epoch != epoch)) {
		gb_codec_server_free(&a);
		return gb_client_fail(c, GB_EPROTO, 0,
				      "the broker answered a KeyFetch for %s "
				      "epoch %" PRIu32 " about another dataset "
				      "or epoch",
				      dataset, epoch);
	}
	*info = a;
	return 0;
}

/* ---------------------------------------------------------------- reader */

int gb_dataset_keys_adopt(gb_client *c, const Govbus__V1__KeyInfo *ki,
			  const char *dataset, uint32_t epoch,
			  const char *owner, const uint8_t *owner_pk,
			  uint8_t *commitment, char *why, size_t why_len)
{
	const gb_identity *id = gb_client_identity(c);
	gb_keyring *kr = gb_client_keyring(c);
	gb_keywrap_info info;
	int rc;

	rc = gb_keyring_open_wrap(kr, ki->signed_wrap.data, ki->signed_wrap.len,
				  dataset, epoch, gb_client_dept(c), owner_pk,
				  gb_identity_box_pk(id), gb_identity_box_sk(id),
				  &info, why, why_len);
	if (rc == GB_ECONFLICT)
		return 0; /* already held: opened by another path meanwhile */
	if (rc != 0)
		return rc;
	if (strcmp(info.owner, owner) != 0) {
		gb_keyring_forget(kr, dataset, epoch);
		snprintf(why, why_len,
			 "key wrap of %s epoch %" PRIu32 " names %s as its "
			 "owner, not %s",
			 dataset, epoch, info.owner, owner);
		return GB_ECRYPTO;
	}
	if (commitment)
		memcpy(commitment, info.commitment, GB_COMMITMENT_BYTES);
	return 0;
}

/* ---------------------------------------------------------------- owner */

/* Wraps of one key for a list of departments, ready for KeyUpload. */
struct wrapset {
	ProtobufCBinaryData *w;
	size_t n;
	char names[NAMES_MAX];        /* "social, health" for events */
};

static void wrapset_free(struct wrapset *ws)
{
	for (size_t i = 0; i < ws->n; i++)
		free(ws->w[i].data);
	free(ws->w);
	memset(ws, 0, sizeof *ws);
}

static void names_add(char *names, const char *dept)
{
	size_t used = strlen(names);

	if (used + strlen(dept) + 6 >= NAMES_MAX) {
		if (!strstr(names, "..."))
			snprintf(names + used, NAMES_MAX - used, ", ...");
		return;
	}
	snprintf(names + used, NAMES_MAX - used, "%s%s", used ? ", " : "",
		 dept);
}

/* Seal the key of (dataset, epoch) to each recipient and sign as owner.
 * With `add_self`, this department gets a wrap too unless listed (it must
 * hold every epoch it opens); its wrap, if any, comes first. */
static int wrapset_build(gb_client *c, const char *dataset, uint32_t epoch,
			 Govbus__V1__Recipient *const *rs, size_t n,
			 bool add_self, struct wrapset *ws)
{
	const gb_identity *id = gb_client_identity(c);
	const char *self = gb_client_dept(c);
	gb_keyring *kr = gb_client_keyring(c);
	const uint8_t *key;
	size_t self_at = n;
	int rc = 0;

	memset(ws, 0, sizeof *ws);
	for (size_t i = 0; i < n; i++) {
		if (!gb_id_valid(rs[i]->dept) ||
		    rs[i]->box_key.len != GB_BOX_PK_BYTES)
			return gb_client_fail(c, GB_EPROTO, 0,
					      "the broker listed a reader of %s "
					      "with a bad id or box key",
					      dataset);
		if (!strcmp(rs[i]->dept, self))
			self_at = i;
	}
	ws->w = calloc(n + 1, sizeof *ws->w);
	if (!ws->w)
		return gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
	key = gb_keyring_borrow(kr, dataset, epoch);
	if (!key) {
		wrapset_free(ws);
		return gb_client_fail(c, GB_ECRYPTO, 0,
				      "no key of %s epoch %" PRIu32 " to wrap",
				      dataset, epoch);
	}
	/* Self first: an upload split in parts carries it in the first. */
	if (self_at < n || add_self) {
		rc = gb_keywrap_build(dataset, epoch, self, self,
				      gb_identity_box_pk(id), key,
				      gb_identity_sign_sk(id), gb_agent_wall_ns(),
				      &ws->w[0].data, &ws->w[0].len);
		if (rc == 0) {
			ws->n = 1;
			names_add(ws->names, self);
		}
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (i == self_at)
			continue;
		rc = gb_keywrap_build(dataset, epoch, self, rs[i]->dept,
				      rs[i]->box_key.data, key,
				      gb_identity_sign_sk(id), gb_agent_wall_ns(),
				      &ws->w[ws->n].data, &ws->w[ws->n].len);
		if (rc == 0) {
			ws->n++;
			names_add(ws->names, rs[i]->dept);
		}
	}
	gb_keyring_release(kr, key);
	if (rc != 0) {
		wrapset_free(ws);
		return gb_client_fail(c, rc, 0, "cannot wrap the key of %s "
				      "epoch %" PRIu32 ": %s",
				      dataset, epoch, gb_strerror(rc));
	}
	return 0;
}

/* One KeyUpload, retried after 5xx; GB_EEPOCH (412) and other refusals are
 * returned with the broker's sentence. */
static int upload_once(gb_client *c, const char *dataset, uint32_t epoch,
		       bool new_epoch, const uint8_t *commitment,
		       ProtobufCBinaryData *wraps, size_t n)
{
	for (unsigned attempt = 0;; attempt++) {
		gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
		Govbus__V1__KeyUpload up = GOVBUS__V1__KEY_UPLOAD__INIT;
		gb_server_frame *a = NULL;
		int rc;

		up.dataset = (char *)dataset;
		up.epoch = epoch;
		up.new_epoch = new_epoch;
		if (commitment) {
			up.key_commitment.data = (uint8_t *)commitment;
			up.key_commitment.len = GB_COMMITMENT_BYTES;
		}
		up.signed_wraps = wraps;
		up.n_signed_wraps = n;
		f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_KEY_UPLOAD;
		f.key_upload = &up;
		rc = gb_client_request(c, &f, &a);
		if (rc != 0)
			return rc;
		if (a->body_case == GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK) {
			bool ours = !strcmp(a->key_upload_ack->dataset, dataset) &&
				    a->key_upload_ack->epoch == epoch;
			gb_codec_server_free(&a);
			return ours ? 0
				    : gb_client_fail(c, GB_EPROTO, 0,
						     "the broker acknowledged "
						     "wraps of %s epoch %" PRIu32
						     " as another dataset or "
						     "epoch",
						     dataset, epoch);
		}
		if (a->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR &&
		    a->error->status >= 500 && attempt < UPLOAD_RETRIES) {
			int64_t backoff = (int64_t)RETRY_FIRST_MS << attempt;
			gb_codec_server_free(&a);
			rc = pause_ms(c, backoff < RETRY_MAX_MS ? backoff
							       : RETRY_MAX_MS);
			if (rc != 0)
				return rc;
			continue;
		}
		rc = refused(c, a, "KeyUpload", dataset);
		gb_codec_server_free(&a);
		return rc;
	}
}

/* Upload a wrap set in parts of at most GB_MAX_WRAPS; only the first part
 * opens the epoch (it holds this department's own wrap). */
static int upload(gb_client *c, const char *dataset, uint32_t epoch,
		  bool new_epoch, const uint8_t *commitment,
		  const struct wrapset *ws)
{
	for (size_t at = 0; at < ws->n; at += GB_MAX_WRAPS) {
		size_t part = ws->n - at < GB_MAX_WRAPS ? ws->n - at : GB_MAX_WRAPS;
		int rc = upload_once(c, dataset, epoch, new_epoch && at == 0,
				     new_epoch && at == 0 ? commitment : NULL,
				     ws->w + at, part);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Open `epoch` (= current + 1) of the dataset `ki` describes: a random key,
 * a wrap for every reader, KeyUpload new_epoch. GB_EEPOCH when another
 * agent opened it first. */
static int open_epoch(gb_client *c, const Govbus__V1__KeyInfo *ki,
		      uint32_t epoch)
{
	const char *dataset = ki->dataset;
	gb_keyring *kr = gb_client_keyring(c);
	uint8_t commitment[GB_COMMITMENT_BYTES];
	struct wrapset ws;
	const uint8_t *key;
	gb_event ev = {0};
	int rc;

	/* A key of this epoch left from a lost race is not the broker's. */
	gb_keyring_forget(kr, dataset, epoch);
	rc = gb_keyring_generate(kr, dataset, epoch);
	if (rc != 0)
		return gb_client_fail(c, rc, 0, "cannot create a key for %s: %s",
				      dataset, gb_strerror(rc));
	key = gb_keyring_borrow(kr, dataset, epoch);
	gb_envelope_key_commitment(key, commitment);
	gb_keyring_release(kr, key);
	rc = wrapset_build(c, dataset, epoch, ki->readers, ki->n_readers, true,
			   &ws);
	if (rc == 0)
		rc = upload(c, dataset, epoch, true, commitment, &ws);
	if (rc != 0) {
		gb_keyring_forget(kr, dataset, epoch);
		wrapset_free(&ws);
		return rc;
	}
	ev.kind = GB_EVENT_KEY_OPENED;
	ev.dataset = dataset;
	ev.epoch = epoch;
	ev.count = ws.n;
	ev.recipients = ws.names;
	gb_client_emit(c, &ev);
	wrapset_free(&ws);
	return 0;
}

/* Recover the key of an existing epoch from this department's own wrap. */
static int recover_own(gb_client *c, const Govbus__V1__KeyInfo *ki,
		       uint32_t epoch)
{
	const gb_identity *id = gb_client_identity(c);
	char why[256];
	int rc;

	if (ki->signed_wrap.len == 0)
		return gb_client_fail(c, GB_ENOTFOUND, 0,
				      "the broker holds no wrap of %s epoch "
				      "%" PRIu32 " for its owner %s",
				      ki->dataset, epoch, gb_client_dept(c));
	rc = gb_dataset_keys_adopt(c, ki, ki->dataset, epoch, gb_client_dept(c),
				   gb_identity_sign_pk(id), NULL, why,
				   sizeof why);
	if (rc != 0)
		return gb_client_fail(c, rc, 0,
				      "cannot recover the key of %s epoch "
				      "%" PRIu32 " from this department's own "
				      "wrap: %s",
				      ki->dataset, epoch, why);
	return 0;
}

/* Wrap one existing epoch for the readers that lack it. */
static int wrap_missing_epoch(gb_client *c, const char *dataset,
			      const Govbus__V1__MissingWraps *m)
{
	gb_keyring *kr = gb_client_keyring(c);
	struct wrapset ws;
	gb_event ev = {0};
	int rc;

	if (m->epoch == 0)
		return gb_client_fail(c, GB_EPROTO, 0,
				      "the broker reported missing wraps of %s "
				      "for epoch 0",
				      dataset);
	if (!gb_keyring_has(kr, dataset, m->epoch)) {
		gb_server_frame *f = NULL;
		rc = fetch(c, dataset, m->epoch, &f);
		if (rc == 0)
			rc = recover_own(c, f->key_info, m->epoch);
		gb_codec_server_free(&f);
		if (rc != 0)
			return rc;
	}
	rc = wrapset_build(c, dataset, m->epoch, m->recipients,
			   m->n_recipients, false, &ws);
	if (rc != 0)
		return rc;
	rc = upload(c, dataset, m->epoch, false, NULL, &ws);
	if (rc == 0) {
		ev.kind = GB_EVENT_KEY_WRAPPED;
		ev.dataset = dataset;
		ev.epoch = m->epoch;
		ev.count = ws.n;
		ev.recipients = ws.names;
		gb_client_emit(c, &ev);
	}
	wrapset_free(&ws);
	return rc;
}

/* Missing wraps do not stop the owner: each failure is an event, and the
 * readers concerned keep waiting (and saying so). */
static void wrap_missing(gb_client *c, const Govbus__V1__KeyInfo *ki)
{
	for (size_t i = 0; i < ki->n_missing; i++) {
		const Govbus__V1__MissingWraps *m = ki->missing[i];
		gb_event ev = {0};
		int rc;

		if (m->n_recipients == 0)
			continue;
		rc = wrap_missing_epoch(c, ki->dataset, m);
		if (rc == 0)
			continue;
		if (gb_client_error(c))
			return; /* the connection is gone; a later sync redoes it */
		ev.kind = GB_EVENT_KEY_FAILED;
		ev.dataset = ki->dataset;
		ev.epoch = m->epoch;
		ev.reason = gb_client_last_error(c);
		ev.status = gb_client_last_status(c);
		gb_client_emit(c, &ev);
	}
}

int gb_client_sync_keys(gb_client *c, const char *dataset, uint32_t *epoch)
{
	if (!gb_id_valid(dataset))
		return gb_client_fail(c, GB_EINVAL, 0,
				      "\"%.64s\" is not a valid dataset id",
				      dataset ? dataset : "");
	for (int race = 0; race < MAX_RACES; race++) {
		gb_server_frame *f = NULL;
		const Govbus__V1__KeyInfo *ki;
		uint32_t current;
		int rc = fetch(c, dataset, 0, &f);

		if (rc != 0)
			return rc;
		ki = f->key_info;
		current = ki->current_epoch;
		if (ki->n_readers == 0) {
			/* Every owner is among its own readers. */
			gb_codec_server_free(&f);
			return gb_client_fail(c, GB_EPERM, 0,
					      "%s is not the owner of %s (the "
					      "broker lists no readers for its "
					      "keys to this department), so it "
					      "may not publish to it or manage "
					      "its keys",
					      gb_client_dept(c), dataset);
		}
		if (current && ki->epoch != current) {
			gb_codec_server_free(&f);
			return gb_client_fail(c, GB_EPROTO, 0,
					      "the broker answered a KeyFetch of "
					      "the current epoch of %s with epoch "
					      "%" PRIu32 ", not %" PRIu32,
					      dataset, ki->epoch, current);
		}
		if (current == 0 || ki->rotate || ki->signed_wrap.len == 0) {
			if (current == UINT32_MAX) {
				gb_codec_server_free(&f);
				return gb_client_fail(c, GB_EEPOCH, 0,
						      "%s has used every key "
						      "epoch",
						      dataset);
			}
			rc = open_epoch(c, ki, current + 1);
			if (rc == GB_EEPOCH) {
				gb_codec_server_free(&f);
				continue; /* another agent was first: refetch */
			}
			current++;
		} else if (!gb_keyring_has(gb_client_keyring(c), dataset,
					   current)) {
			rc = recover_own(c, ki, current);
		}
		if (rc == 0)
			wrap_missing(c, ki);
		gb_codec_server_free(&f);
		if (rc != 0)
			return rc;
		if (epoch)
			*epoch = current;
		return 0;
	}
	return gb_client_fail(c, GB_EEPOCH, 0,
			      "could not open a key epoch of %s: another agent "
			      "of %s opened one first %d times",
			      dataset, gb_client_dept(c), MAX_RACES);
}
