/* gb_probe: a test client that speaks the wire protocol directly, so
 * integration tests can send what a well-behaved agent never would: forged
 * signatures, batches naming another producer, exact retries of a batch.
 * It prints one line per broker answer ("ack offset=N count=C duplicate=D"
 * or "error status=S message=...") and exits 0 when it got every answer it
 * waited for, whatever they said; tests judge the lines. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "gb_codec.h"
#include "gb_envelope.h"
#include "gb_error.h"
#include "gb_keys.h"
#include "gb_probe.h"
#include "gb_keywrap.h"
#include <sodium.h>

static const char usage[] =
	"usage: gb_probe --endpoint E --broker-key Z85 --key FILE.key --dept ID\n"
	"                publish --dataset D --seq N|next [--records K] [--producer P]\n"
	"                [--forge] [--twice] [--clear] [--epoch E] [--ids A,B,..]\n"
	"       gb_probe ... craft CASE [--dataset D] [--seq N] [--signer-key FILE]\n"
	"       gb_probe ... head --dataset D   (prints head=N: the stream's next\n"
	"                offset, from a subscription at latest)\n"
	"  --forge     flip one bit of the signature\n"
	"  --producer  name P as the producer in the header (signed by us)\n"
	"  --twice     send the same signed batch twice (a retry)\n"
	"  --clear     send the records unsealed (key epoch 0)\n"
	"  --ids L     record ids, comma-separated, one per record (dedupe\n"
	"              tags in the header; an empty one: no id)\n"
	"  --epoch E   seal under epoch E with a random key instead of the\n"
	"              dataset's real key (which the probe opens or recovers\n"
	"              as the owner would)\n";

int probe_send(struct probe *p, const gb_client_frame *f)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = gb_codec_client_encode(f, &buf, &len);
	if (rc == 0 && zmq_send(p->sock, buf, len, 0) < 0)
		rc = GB_EIO;
	free(buf);
	return rc;
}

/* Wait for one server frame; NULL on timeout. */
gb_server_frame *probe_recv(struct probe *p)
{
	zmq_pollitem_t it = {p->sock, 0, ZMQ_POLLIN, 0};
	zmq_msg_t msg;
	gb_server_frame *f = NULL;
	char why[256];

	if (zmq_poll(&it, 1, p->timeout_ms) <= 0)
		return NULL;
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, p->sock, 0) >= 0 &&
	    gb_codec_server_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &f,
				   why, sizeof why) != 0)
		printf("undecodable frame: %s\n", why);
	zmq_msg_close(&msg);
	return f;
}

/* Print a publish answer; returns false on timeout. */
static bool print_answer(struct probe *p)
{
	gb_server_frame *f = probe_recv(p);
	if (!f) {
		printf("timeout\n");
		return false;
	}
	if (f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK) {
		printf("ack offset=%" PRIu64 " count=%u duplicate=%d",
		       f->publish_ack->base_offset, f->publish_ack->record_count,
		       f->publish_ack->duplicate ? 1 : 0);
		if (f->publish_ack->duplicate_records) /* dedupe */
			printf(" duplicate_records=%u",
			       f->publish_ack->duplicate_records);
		printf("\n");
	} else if (f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR) {
		printf("error status=%u message=%s", f->error->status,
		       f->error->message);
		for (size_t i = 0; i < f->error->n_duplicate_records; i++)
			printf("%s%u", i ? "," : " duplicate_records=",
			       f->error->duplicate_records[i]);
		printf("\n");
	} else if (f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK)
		printf("head=%" PRIu64 "\n", f->subscribe_ok->head_offset);
	else
		printf("unexpected frame %d\n", (int)f->body_case);
	gb_codec_server_free(&f);
	return true;
}

/* Get a dataset key to seal under, as an owner's agent would: recover the
 * current epoch's key from our own wrap, or open the next epoch with a wrap
 * for every reader the broker names. A department that cannot (not the
 * owner, or no key yet) gets a random key under epoch 1, which is what a
 * forger would have. */
void probe_dataset_key(struct probe *p, gb_identity *id,
			      const char *dept, const char *dataset,
			      uint8_t key[32], uint32_t *epoch)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__KeyFetch kf = GOVBUS__V1__KEY_FETCH__INIT;
	gb_server_frame *r;
	const Govbus__V1__KeyInfo *ki;
	gb_keywrap_info info;
	char why[256];

	randombytes_buf(key, 32);
	*epoch = 1;
	kf.request_id = 1;
	kf.dataset = (char *)dataset;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH;
	f.key_fetch = &kf;
	probe_send(p, &f);
	r = probe_recv(p);
	if (!r || r->body_case != GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO)
		goto out;
	ki = r->key_info;
	if (ki->current_epoch && !ki->rotate && ki->signed_wrap.len &&
	    gb_keywrap_open(ki->signed_wrap.data, ki->signed_wrap.len, dataset,
			    ki->current_epoch, dept, gb_identity_sign_pk(id),
			    gb_identity_box_pk(id), gb_identity_box_sk(id), key,
			    &info, why, sizeof why) == 0) {
		*epoch = ki->current_epoch;
		goto out;
	}
	if (ki->n_readers) { /* we are the owner: open the next epoch */
		Govbus__V1__KeyUpload up = GOVBUS__V1__KEY_UPLOAD__INIT;
		ProtobufCBinaryData *wraps = calloc(ki->n_readers, sizeof *wraps);
		uint8_t commitment[GB_COMMITMENT_BYTES];
		gb_server_frame *ack;

		*epoch = ki->current_epoch + 1;
		gb_envelope_key_commitment(key, commitment);
		for (size_t i = 0; wraps && i < ki->n_readers; i++)
			gb_keywrap_build(dataset, *epoch, dept, ki->readers[i]->dept,
					 ki->readers[i]->box_key.data, key,
					 gb_identity_sign_sk(id), 1, &wraps[i].data,
					 &wraps[i].len);
		up.request_id = 2;
		up.dataset = (char *)dataset;
		up.epoch = *epoch;
		up.new_epoch = 1;
		up.key_commitment.data = commitment;
		up.key_commitment.len = sizeof commitment;
		up.signed_wraps = wraps;
		up.n_signed_wraps = wraps ? ki->n_readers : 0;
		f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_KEY_UPLOAD;
		f.key_upload = &up;
		probe_send(p, &f);
		ack = probe_recv(p);
		if (!ack || ack->body_case != GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK)
			fprintf(stderr, "gb_probe: opening epoch %u failed\n", *epoch);
		gb_codec_server_free(&ack);
		for (size_t i = 0; wraps && i < ki->n_readers; i++)
			free(wraps[i].data);
		free(wraps);
	}
out:
	gb_codec_server_free(&r);
}

int main(int argc, char **argv)
{
	const char *endpoint = NULL, *broker_key = NULL, *key = NULL;
	const char *dept = NULL, *cmd = NULL, *dataset = NULL, *producer = NULL;
	const char *signer_key = NULL;
	struct craft_args craft = {0};
	uint64_t seq = 1;
	bool seq_next = false; /* --seq next: the broker's last seq + 1 */
	uint32_t records = 1;
	bool forge = false, twice = false, clear = false;
	uint32_t force_epoch = 0;
	const char *ids = NULL;
	uint8_t server_pk[32];
	gb_identity *id = NULL;
	struct probe p = {NULL, NULL, 5000};
	char why[512];
	int ok = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--endpoint") && v) endpoint = v, i++;
		else if (!strcmp(a, "--broker-key") && v) broker_key = v, i++;
		else if (!strcmp(a, "--key") && v) key = v, i++;
		else if (!strcmp(a, "--dept") && v) dept = v, i++;
		else if (!strcmp(a, "--dataset") && v) dataset = v, i++;
		else if (!strcmp(a, "--producer") && v) producer = v, i++;
		else if (!strcmp(a, "--seq") && v && !strcmp(v, "next")) seq_next = true, i++;
		else if (!strcmp(a, "--seq") && v) seq = strtoull(v, NULL, 10), i++;
		else if (!strcmp(a, "--records") && v) records = (uint32_t)strtoul(v, NULL, 10), i++;
		else if (!strcmp(a, "--forge")) forge = true;
		else if (!strcmp(a, "--twice")) twice = true;
		else if (!strcmp(a, "--clear")) clear = true;
		else if (!strcmp(a, "--epoch") && v) force_epoch = (uint32_t)strtoul(v, NULL, 10), i++;
		else if (!strcmp(a, "--signer-key") && v) signer_key = v, i++;
		else if (!strcmp(a, "--ids") && v) ids = v, i++;
		else if (!strcmp(a, "--help")) {
			fputs(usage, stdout);
			puts("craft cases (tests/gb_probe_cases.c):");
			probe_craft_list();
			return 0;
		}
		else if (!cmd) cmd = a;
		else if (!strcmp(cmd, "craft") && !craft.name) craft.name = a;
		else { fprintf(stderr, "gb_probe: unexpected '%s'\n%s", a, usage); return 2; }
	}
	if (!endpoint || !broker_key || !key || !dept || !cmd ||
	    (strcmp(cmd, "publish") != 0 && strcmp(cmd, "craft") != 0 &&
	     strcmp(cmd, "head") != 0) ||
	    (strcmp(cmd, "craft") != 0 && !dataset) ||
	    (!strcmp(cmd, "craft") && !craft.name)) {
		fputs(usage, stderr);
		return 2;
	}
	if (gb_key_decode_box(broker_key, server_pk) != 0 ||
	    gb_identity_load(key, &id, why, sizeof why) != 0 ||
	    (signer_key &&
	     gb_identity_load(signer_key, &craft.signer, why, sizeof why) != 0)) {
		fprintf(stderr, "gb_probe: bad keys: %s\n", why);
		return 2;
	}
	p.ctx = zmq_ctx_new();
	p.sock = zmq_socket(p.ctx, ZMQ_DEALER);
	{
		int zero = 0;
		zmq_setsockopt(p.sock, ZMQ_LINGER, &zero, sizeof zero);
	}
	zmq_setsockopt(p.sock, ZMQ_CURVE_SERVERKEY, server_pk, 32);
	zmq_setsockopt(p.sock, ZMQ_CURVE_PUBLICKEY, gb_identity_box_pk(id), 32);
	zmq_setsockopt(p.sock, ZMQ_CURVE_SECRETKEY, gb_identity_box_sk(id), 32);
	if (zmq_connect(p.sock, endpoint) != 0) {
		fprintf(stderr, "gb_probe: connect: %s\n", zmq_strerror(zmq_errno()));
		goto out;
	}
	{
		gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
		Govbus__V1__Hello h = GOVBUS__V1__HELLO__INIT;
		gb_server_frame *w;
		h.protocol = 1;
		h.agent = (char *)"gb_probe";
		f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_HELLO;
		f.hello = &h;
		probe_send(&p, &f);
		w = probe_recv(&p);
		if (!w) {
			printf("timeout\n");
			goto out;
		}
		if (seq_next && dataset &&
		    w->body_case == GOVBUS__V1__SERVER_FRAME__BODY_WELCOME)
			for (size_t i = 0; i < w->welcome->n_positions; i++)
				if (!strcmp(w->welcome->positions[i]->dataset, dataset))
					seq = w->welcome->positions[i]->last_seq + 1;
		gb_codec_server_free(&w);
	}
	if (!strcmp(cmd, "head")) {
		gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
		Govbus__V1__Subscribe s = GOVBUS__V1__SUBSCRIBE__INIT;

		s.subscription_id = 1;
		s.dataset = (char *)dataset;
		s.start = GOVBUS__V1__SUBSCRIBE__START__START_LATEST;
		f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE;
		f.subscribe = &s;
		probe_send(&p, &f);
		ok = print_answer(&p);
		goto out;
	}
	if (!strcmp(cmd, "craft")) {
		craft.dept = dept;
		craft.dataset = dataset ? dataset : "tax.invoices";
		craft.seq = seq;
		craft.id = id;
		ok = probe_craft(&p, &craft) == 0;
		goto out;
	}
	{
		uint8_t *recs = NULL, *batch = NULL;
		size_t rlen = 0, rcap = 0, blen = 0;
		gb_batch_meta m = {producer ? producer : dept, dataset, seq,
				   (uint64_t)time(NULL) * 1000000000ull, 0, records, NULL};
		uint8_t dkey[32], *tags = NULL;
		gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
		Govbus__V1__Publish pub = GOVBUS__V1__PUBLISH__INIT;
		char payload[64];
		const char *next_id = ids;

		if (ids) /* dedupe: the tag of each id, as a publisher makes it */
			tags = calloc(records ? records : 1, GB_RECORD_TAG_BYTES);
		if (ids && tags) {
			crypto_generichash_state base;

			gb_record_tag_begin(&base, gb_identity_dedupe_key(id),
					    dataset);
			for (uint32_t i = 0; i < records && next_id; i++) {
				const char *end = strchr(next_id, ',');
				size_t len = end ? (size_t)(end - next_id)
						 : strlen(next_id);

				if (len)
					gb_record_tag(&base, next_id, len,
						      tags + (size_t)i * GB_RECORD_TAG_BYTES);
				next_id = end ? end + 1 : NULL;
			}
			m.record_tags = tags;
		}
		for (uint32_t i = 0; i < records; i++) {
			int n = snprintf(payload, sizeof payload, "probe-%" PRIu64 "-%u", seq, i);
			gb_envelope_append_record(&recs, &rlen, &rcap, (uint8_t *)payload,
						  (size_t)n, 0, NULL);
		}
		if (!clear) {
			probe_dataset_key(&p, id, dept, dataset, dkey, &m.key_epoch);
			if (force_epoch) {
				m.key_epoch = force_epoch;
				randombytes_buf(dkey, sizeof dkey);
			}
		}
		if (gb_envelope_build(&m, recs, rlen, clear ? NULL : dkey,
				      gb_identity_sign_sk(id), &batch, &blen) != 0) {
			fprintf(stderr, "gb_probe: cannot build batch\n");
			free(recs);
			free(tags);
			goto out;
		}
		if (forge)
			batch[blen - 1] ^= 0x01; /* last byte: inside the signature */
		pub.request_id = 1;
		pub.signed_batch.data = batch;
		pub.signed_batch.len = blen;
		f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH;
		f.publish = &pub;
		probe_send(&p, &f);
		ok = print_answer(&p);
		if (ok && twice) {
			probe_send(&p, &f);
			ok = print_answer(&p);
		}
		free(recs);
		free(batch);
		free(tags);
	}
out:
	if (p.sock)
		zmq_close(p.sock);
	if (p.ctx)
		zmq_ctx_term(p.ctx);
	gb_identity_destroy(&id);
	gb_identity_destroy(&craft.signer);
	return ok ? 0 : 1;
}
