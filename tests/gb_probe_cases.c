/* gb_probe craft CASE: the bad-input catalog's crafted frames.
 *
 * One function per kind of bad input: raw frames the codec must refuse,
 * publishes whose signed batch is broken in one precise way, and
 * subscription requests that are malformed or out of order. Each case sends
 * its input on the probe's connection, then a Ping, and prints every answer
 * up to the Pong (see probe_craft in gb_probe.h), so the test sees both the
 * broker's verdict and that the connection still works. Batches are built
 * with gb_envelope_build and then edited, so exactly one thing is wrong. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include "gb_envelope.h"
#include "gb_error.h"
#include "gb_probe.h"

#define PING_NONCE 0x5e1f7e57ull
#define NS_PER_HOUR (3600ull * 1000000000ull)

/* ------------------------------------------------------------ answers */

static void print_frame(const gb_server_frame *f)
{
	switch (f->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK:
		printf("ack offset=%" PRIu64 " count=%u duplicate=%d\n",
		       f->publish_ack->base_offset, f->publish_ack->record_count,
		       f->publish_ack->duplicate ? 1 : 0);
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_ERROR:
		printf("error status=%u message=%s\n", f->error->status,
		       f->error->message);
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK:
		printf("subscribed id=%" PRIu64 " start=%" PRIu64 " head=%" PRIu64
		       "\n",
		       f->subscribe_ok->subscription_id,
		       f->subscribe_ok->start_offset,
		       f->subscribe_ok->head_offset);
		break;
	case GOVBUS__V1__SERVER_FRAME__BODY_DELIVER:
		printf("deliver id=%" PRIu64 " offset=%" PRIu64 " count=%u\n",
		       f->deliver->subscription_id, f->deliver->base_offset,
		       f->deliver->record_count);
		break;
	default:
		printf("frame %d\n", (int)f->body_case);
		break;
	}
}

/* Set when a case sent a Publish: its answer comes from the writer thread,
 * after the Pong, so drain() waits for it too. */
static bool publish_sent;

/* An ack, or any error: a publish the codec refuses is answered with an
 * error that carries no request id (the frame was never read that far). */
static bool answers_publish(const gb_server_frame *f)
{
	return f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK ||
	       f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR;
}

/* Ping, then print every answer up to our Pong (and, after a publish, up
 * to its answer). */
static void drain(struct probe *p)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Ping ping = GOVBUS__V1__PING__INIT;
	gb_server_frame *r;
	bool ponged = false;
	int answers = 0;

	ping.nonce = PING_NONCE;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PING;
	f.ping = &ping;
	probe_send(p, &f);
	while (!ponged || publish_sent) {
		r = probe_recv(p);
		if (!r) {
			printf("%s\n", ponged ? "no publish answer" : "dropped");
			return;
		}
		if (r->body_case == GOVBUS__V1__SERVER_FRAME__BODY_PONG &&
		    r->pong->nonce == PING_NONCE) {
			ponged = true;
		} else {
			if (answers_publish(r))
				publish_sent = false;
			print_frame(r);
			answers++;
		}
		gb_codec_server_free(&r);
	}
	if (!answers)
		printf("silent\n");
	printf("pong\n");
}

/* ------------------------------------------------------------ raw frames */

static void send_raw(struct probe *p, const void *buf, size_t len)
{
	zmq_send(p->sock, buf, len, 0);
}

static void send_client(struct probe *p, const gb_client_frame *f)
{
	probe_send(p, f);
}

/* Bytes that cannot be a protobuf message: wire type 7 does not exist. */
static void case_garbage(struct probe *p, const struct craft_args *a)
{
	uint8_t junk[64];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(0xff - i);
	send_raw(p, junk, sizeof junk);
}

static void case_empty(struct probe *p, const struct craft_args *a)
{
	send_raw(p, "", 0);
}

/* Two ZeroMQ frames in one message; agents send exactly one. */
static void case_multipart(struct probe *p, const struct craft_args *a)
{
	zmq_send(p->sock, "\x3a\x02\x08\x01", 4, ZMQ_SNDMORE);
	zmq_send(p->sock, "\x3a\x02\x08\x02", 4, 0);
}

/* Field 15 of ClientFrame, a body this protocol does not have. */
static void case_unknown_oneof(struct probe *p, const struct craft_args *a)
{
	send_raw(p, "\x7a\x03\x08\x01\x10", 5);
}

/* Hello (field 1) sent as a varint instead of a message. */
static void case_wrong_wire_type(struct probe *p, const struct craft_args *a)
{
	send_raw(p, "\x08\x01", 2);
}

/* A frame `len` bytes long that is one Hello with a long agent string. */
static void send_sized(struct probe *p, size_t len)
{
	uint8_t *buf = malloc(len);
	size_t body = len - 12, hello;

	if (!buf)
		return;
	/* ClientFrame{hello(1): Hello{agent(2): 'a' * body}}, lengths as
	 * 5-byte varints so the sizes add up exactly. */
	hello = body + 6;
	buf[0] = 0x0a;
	for (int i = 0; i < 5; i++)
		buf[1 + i] = (uint8_t)(((hello >> (7 * i)) & 0x7f) | (i < 4 ? 0x80 : 0));
	buf[6] = 0x12;
	for (int i = 0; i < 5; i++)
		buf[7 + i] = (uint8_t)(((body >> (7 * i)) & 0x7f) | (i < 4 ? 0x80 : 0));
	memset(buf + 12, 'a', body);
	send_raw(p, buf, len);
	free(buf);
}

/* Over the codec's limit, under the socket's (2 x GB_MAX_FRAME). */
static void case_oversized_frame(struct probe *p, const struct craft_args *a)
{
	send_sized(p, GB_MAX_FRAME + 1);
}

/* Over ZMQ_MAXMSGSIZE: ZeroMQ drops the connection, the broker never sees
 * the frame; the DEALER reconnects and the Ping goes on the new one. */
static void case_beyond_max_message(struct probe *p, const struct craft_args *a)
{
	send_sized(p, 2 * (size_t)GB_MAX_FRAME + 1);
}

static void send_hello(struct probe *p, const char *agent)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Hello h = GOVBUS__V1__HELLO__INIT;
	h.protocol = 1;
	h.agent = (char *)agent;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_HELLO;
	f.hello = &h;
	send_client(p, &f);
}

static void case_hello_long_agent(struct probe *p, const struct craft_args *a)
{
	char agent[GB_MAX_NAME_LEN + 2];
	memset(agent, 'x', sizeof agent - 1);
	agent[sizeof agent - 1] = '\0';
	send_hello(p, agent);
}

static void case_hello_non_utf8(struct probe *p, const struct craft_args *a)
{
	send_hello(p, "agent-\xff\xfe-\xc3\x28");
}

/* ------------------------------------------------------------ batches */

/* What a crafted batch says; gb_envelope_build seals and signs it. */
struct batch_spec {
	const char *producer, *dataset;
	uint64_t seq, created_at_ns;
	uint32_t epoch, count, records;
	const uint8_t *key;           /* dataset key; NULL: clear (epoch 0) */
	const uint8_t *sign_sk;
};

/* A batch the broker would accept from a->dept, sealed under the key the
 * probe obtains like an agent (gb_probe.c), as a spec to spoil. */
static void good_spec(struct probe *p, const struct craft_args *a,
		      struct batch_spec *s, uint8_t key[32])
{
	probe_dataset_key(p, a->id, a->dept, a->dataset, key, &s->epoch);
	s->producer = a->dept;
	s->dataset = a->dataset;
	s->seq = a->seq;
	s->created_at_ns = (uint64_t)time(NULL) * 1000000000ull;
	s->count = s->records = 1;
	s->key = s->epoch ? key : NULL;
	s->sign_sk = gb_identity_sign_sk(a->id);
}

static int build(const struct batch_spec *s, uint8_t **out, size_t *len)
{
	uint8_t *recs = NULL;
	size_t rlen = 0, rcap = 0;
	gb_batch_meta m = {s->producer, s->dataset, s->seq, s->created_at_ns,
			   s->key ? s->epoch : 0, s->count, NULL};
	char payload[64];
	int rc = 0;

	for (uint32_t i = 0; i < s->records && rc == 0; i++) {
		int n = snprintf(payload, sizeof payload, "crafted-%" PRIu64 "-%u",
				 s->seq, i);
		rc = gb_envelope_append_record(&recs, &rlen, &rcap,
					       (const uint8_t *)payload,
					       (size_t)n, 0, NULL);
	}
	if (rc == 0)
		rc = gb_envelope_build(&m, recs, rlen, s->key, s->sign_sk, out, len);
	free(recs);
	if (rc != 0)
		fprintf(stderr, "gb_probe: cannot build the batch: %s\n",
			gb_strerror(rc));
	return rc;
}

static void send_publish(struct probe *p, const uint8_t *batch, size_t len)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Publish pub = GOVBUS__V1__PUBLISH__INIT;
	pub.request_id = 1;
	pub.signed_batch.data = (uint8_t *)batch;
	pub.signed_batch.len = len;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH;
	f.publish = &pub;
	send_client(p, &f);
	publish_sent = true;
}

static void publish_spec(struct probe *p, const struct batch_spec *s)
{
	uint8_t *batch = NULL;
	size_t len = 0;
	if (build(s, &batch, &len) == 0)
		send_publish(p, batch, len);
	free(batch);
}

/* One way to spoil a built batch after signing. */
enum spoil {
	SPOIL_SIGNATURE_BIT,          /* flip a bit of the signature */
	SPOIL_SIGNATURE_SHORT,        /* 63-byte signature */
	SPOIL_CIPHERTEXT_BYTE,        /* flip a byte inside the ciphertext */
	SPOIL_CIPHERTEXT_EMPTY,
	SPOIL_HEADER_GARBAGE,         /* header bytes that do not decode */
	SPOIL_COUNT_ZERO,             /* header.record_count = 0 */
	SPOIL_COUNT_HUGE,             /* header.record_count > the limit */
};

/* Re-encode a SignedBatch with one part spoiled; the signature is left as
 * it was, so header checks are reached first (they come before it). */
static void publish_spoiled(struct probe *p, const struct batch_spec *s,
			    enum spoil how)
{
	Govbus__V1__SignedBatch *sb;
	Govbus__V1__BatchHeader *h = NULL;
	uint8_t *batch = NULL, *out = NULL, *hdr = NULL, *unpacked_hdr = NULL;
	size_t unpacked_hdr_len = 0;
	size_t len = 0;

	if (build(s, &batch, &len) != 0)
		return;
	sb = govbus__v1__signed_batch__unpack(NULL, len, batch);
	if (!sb)
		goto out;
	switch (how) {
	case SPOIL_SIGNATURE_BIT:
		sb->signature.data[7] ^= 0x10;
		break;
	case SPOIL_SIGNATURE_SHORT:
		sb->signature.len = 63;
		break;
	case SPOIL_CIPHERTEXT_BYTE:
		sb->ciphertext.data[sb->ciphertext.len / 2] ^= 0x01;
		break;
	case SPOIL_CIPHERTEXT_EMPTY:
		sb->ciphertext.len = 0;
		break;
	case SPOIL_HEADER_GARBAGE:
		sb->header.data[0] = 0xff; /* wire type 7 */
		break;
	case SPOIL_COUNT_ZERO:
	case SPOIL_COUNT_HUGE:
		h = govbus__v1__batch_header__unpack(NULL, sb->header.len,
						     sb->header.data);
		if (!h)
			goto out;
		h->record_count = how == SPOIL_COUNT_ZERO ? 0 : GB_MAX_BATCH_RECORDS + 1;
		hdr = malloc(govbus__v1__batch_header__get_packed_size(h));
		if (!hdr)
			goto out;
		unpacked_hdr = sb->header.data;
		unpacked_hdr_len = sb->header.len;
		sb->header.len = govbus__v1__batch_header__pack(h, hdr);
		sb->header.data = hdr;
		break;
	}
	out = malloc(govbus__v1__signed_batch__get_packed_size(sb));
	if (out)
		send_publish(p, out, govbus__v1__signed_batch__pack(sb, out));
out:
	/* free_unpacked frees the header it unpacked, not ours */
	if (unpacked_hdr) {
		sb->header.data = unpacked_hdr;
		sb->header.len = unpacked_hdr_len;
	}
	if (sb)
		govbus__v1__signed_batch__free_unpacked(sb, NULL);
	if (h)
		govbus__v1__batch_header__free_unpacked(h, NULL);
	free(hdr);
	free(out);
	free(batch);
}

#define SPOIL_CASE(fn, how)                                                  \
	static void fn(struct probe *p, const struct craft_args *a)          \
	{                                                                    \
		struct batch_spec s;                                         \
		uint8_t key[32];                                             \
		good_spec(p, a, &s, key);                                    \
		publish_spoiled(p, &s, how);                                 \
	}
SPOIL_CASE(case_forged_signature, SPOIL_SIGNATURE_BIT)
SPOIL_CASE(case_signature_short, SPOIL_SIGNATURE_SHORT)
SPOIL_CASE(case_tampered_ciphertext, SPOIL_CIPHERTEXT_BYTE)
SPOIL_CASE(case_ciphertext_empty, SPOIL_CIPHERTEXT_EMPTY)
SPOIL_CASE(case_header_undecodable, SPOIL_HEADER_GARBAGE)
SPOIL_CASE(case_zero_records, SPOIL_COUNT_ZERO)
SPOIL_CASE(case_too_many_records, SPOIL_COUNT_HUGE)

/* Sign with another department's key (--signer-key), naming ourselves. */
static void case_wrong_signer(struct probe *p, const struct craft_args *a)
{
	struct batch_spec s;
	uint8_t key[32];

	if (!a->signer) {
		fprintf(stderr, "gb_probe: wrong-signer needs --signer-key\n");
		return;
	}
	good_spec(p, a, &s, key);
	s.sign_sk = gb_identity_sign_sk(a->signer);
	publish_spec(p, &s);
}

/* The spec of a good batch with one header field changed before signing:
 * the signature is valid, the field is not. */
#define FIELD_CASE(fn, stmt)                                                 \
	static void fn(struct probe *p, const struct craft_args *a)          \
	{                                                                    \
		struct batch_spec s;                                         \
		uint8_t key[32];                                             \
		good_spec(p, a, &s, key);                                    \
		stmt;                                                        \
		publish_spec(p, &s);                                         \
	}
FIELD_CASE(case_seq_zero, s.seq = 0)
FIELD_CASE(case_invalid_dataset_id, s.dataset = "Tax Invoices")
FIELD_CASE(case_non_utf8_producer, s.producer = "t\xc3\x28x")
FIELD_CASE(case_producer_other, s.producer = "tax")
FIELD_CASE(case_created_in_future,
	   s.created_at_ns += 48 * NS_PER_HOUR)
FIELD_CASE(case_clear_epoch, s.key = NULL)
FIELD_CASE(case_unknown_epoch,
	   (s.epoch += 6, randombytes_buf(key, 32), s.key = key))
FIELD_CASE(case_wrong_key, randombytes_buf(key, 32))
FIELD_CASE(case_count_lie, s.count = 5)

/* A dataset that does not exist / one we do not own: the batch is ours
 * and correctly signed, only the target is wrong. */
static void case_publish_to(struct probe *p, const struct craft_args *a,
			    const char *dataset)
{
	struct batch_spec s;
	uint8_t key[32];

	good_spec(p, a, &s, key);
	s.dataset = dataset;
	publish_spec(p, &s);
}

/* A good batch from us: refused only when we may not publish there. */
static void case_publish_plain(struct probe *p, const struct craft_args *a)
{
	case_publish_to(p, a, a->dataset);
}

static void case_unknown_dataset(struct probe *p, const struct craft_args *a)
{
	case_publish_to(p, a, "tax.nothing");
}

static void case_signed_batch_empty(struct probe *p, const struct craft_args *a)
{
	send_publish(p, (const uint8_t *)"", 0);
}

static void case_signed_batch_garbage(struct probe *p, const struct craft_args *a)
{
	send_publish(p, (const uint8_t *)"\xff\xfe\xfd\xfc", 4);
}

/* Over GB_MAX_BATCH_BYTES inside a frame under GB_MAX_FRAME. */
static void case_signed_batch_too_big(struct probe *p, const struct craft_args *a)
{
	size_t len = GB_MAX_BATCH_BYTES + 1;
	uint8_t *junk = calloc(1, len);
	if (junk)
		send_publish(p, junk, len);
	free(junk);
}

/* ------------------------------------------------------------ subscriptions */

static void send_subscribe(struct probe *p, uint64_t id, const char *dataset,
			   int start, uint32_t credit, const char *durable)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Subscribe s = GOVBUS__V1__SUBSCRIBE__INIT;
	s.subscription_id = id;
	s.dataset = (char *)dataset;
	s.start = start;
	s.credit = credit;
	s.durable = (char *)(durable ? durable : "");
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE;
	f.subscribe = &s;
	send_client(p, &f);
}

#define LATEST GOVBUS__V1__SUBSCRIBE__START__START_LATEST

static void case_sub_unknown_dataset(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, "tax.nothing", LATEST, 1, NULL);
}

static void case_sub_invalid_dataset(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, "tax/../invoices", LATEST, 1, NULL);
}

static void case_sub_bad_durable(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, a->dataset, LATEST, 1, "replica/1");
}

static void case_sub_long_durable(struct probe *p, const struct craft_args *a)
{
	char name[GB_MAX_NAME_LEN + 2];
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	send_subscribe(p, 1, a->dataset, LATEST, 1, name);
}

static void case_sub_credit_above(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, a->dataset, LATEST, GB_MAX_CREDIT + 1, NULL);
}

static void case_sub_unknown_start(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, a->dataset, 9, 1, NULL);
}

/* Subscribe as whoever we are; the test runs it as an ungranted dept. */
static void case_sub_plain(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, a->dataset, LATEST, 0, NULL);
}

static void case_sub_duplicate_id(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 7, a->dataset, LATEST, 0, NULL);
	send_subscribe(p, 7, a->dataset, LATEST, 0, NULL);
}

static void send_credit(struct probe *p, uint64_t id, uint32_t batches)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Credit c = GOVBUS__V1__CREDIT__INIT;
	c.subscription_id = id;
	c.batches = batches;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CREDIT;
	f.credit = &c;
	send_client(p, &f);
}

static void case_credit_above(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, a->dataset, LATEST, 0, NULL);
	send_credit(p, 1, GB_MAX_CREDIT + 1);
}

static void case_credit_unknown(struct probe *p, const struct craft_args *a)
{
	send_credit(p, 404, 10);
}

static void send_cursor_ack(struct probe *p, uint64_t id, uint64_t next)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__CursorAck c = GOVBUS__V1__CURSOR_ACK__INIT;
	c.subscription_id = id;
	c.next_offset = next;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CURSOR_ACK;
	f.cursor_ack = &c;
	send_client(p, &f);
}

/* A durable subscription with no credit has had nothing delivered. */
static void case_ack_beyond(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, a->dataset, LATEST, 0, "probe-cursor");
	send_cursor_ack(p, 1, UINT64_MAX);
}

static void case_ack_unknown(struct probe *p, const struct craft_args *a)
{
	send_cursor_ack(p, 404, 1);
}

static void case_ack_not_durable(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, a->dataset, LATEST, 0, NULL);
	send_cursor_ack(p, 1, 0);
}

static void case_unsubscribe_unknown(struct probe *p, const struct craft_args *a)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Unsubscribe u = GOVBUS__V1__UNSUBSCRIBE__INIT;
	u.subscription_id = 404;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_UNSUBSCRIBE;
	f.unsubscribe = &u;
	send_client(p, &f);
}

/* Misbehaving subscribers for misbehave.sh: subscribe from the start and
 * then hold the connection until killed, granting no credit at all, or
 * granting the most credit there is and never reading a byte. */
static void hold_forever(void)
{
	for (;;)
		pause();
}

static void case_hold_no_credit(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, a->dataset, GOVBUS__V1__SUBSCRIBE__START__START_EARLIEST,
		       0, NULL);
	hold_forever();
}

static void case_hold_unread(struct probe *p, const struct craft_args *a)
{
	send_subscribe(p, 1, a->dataset, GOVBUS__V1__SUBSCRIBE__START__START_EARLIEST,
		       GB_MAX_CREDIT, NULL);
	hold_forever();
}

/* Nothing but the Ping: the liveness check between cases. */
static void case_ping(struct probe *p, const struct craft_args *a)
{
}

/* ------------------------------------------------------------ table */

static const struct {
	const char *name;
	void (*run)(struct probe *, const struct craft_args *);
	const char *what;
} cases[] = {
	{"ping", case_ping, "only the Ping"},
	{"garbage", case_garbage, "bytes that are not protobuf"},
	{"empty", case_empty, "a zero-length frame"},
	{"multipart", case_multipart, "a two-part ZeroMQ message"},
	{"unknown-oneof", case_unknown_oneof, "ClientFrame field 15"},
	{"wrong-wire-type", case_wrong_wire_type, "hello as a varint"},
	{"oversized-frame", case_oversized_frame, "GB_MAX_FRAME + 1 bytes"},
	{"beyond-max-message", case_beyond_max_message,
	 "2 x GB_MAX_FRAME + 1 bytes (over ZMQ_MAXMSGSIZE)"},
	{"hello-long-agent", case_hello_long_agent, "hello.agent too long"},
	{"hello-non-utf8", case_hello_non_utf8, "hello.agent not UTF-8"},
	{"signed-batch-empty", case_signed_batch_empty, "publish of 0 bytes"},
	{"signed-batch-garbage", case_signed_batch_garbage,
	 "publish of non-protobuf bytes"},
	{"signed-batch-too-big", case_signed_batch_too_big,
	 "GB_MAX_BATCH_BYTES + 1"},
	{"header-undecodable", case_header_undecodable, "header bytes garbage"},
	{"signature-short", case_signature_short, "63-byte signature"},
	{"ciphertext-empty", case_ciphertext_empty, "no ciphertext"},
	{"forged-signature", case_forged_signature, "one signature bit flipped"},
	{"tampered-ciphertext", case_tampered_ciphertext,
	 "one ciphertext byte flipped"},
	{"wrong-signer", case_wrong_signer, "signed with --signer-key"},
	{"producer-other", case_producer_other,
	 "header names producer tax, connection is another dept"},
	{"publish-plain", case_publish_plain,
	 "a good batch of our own (ungranted dept)"},
	{"unknown-dataset", case_unknown_dataset, "publish to tax.nothing"},
	{"invalid-dataset-id", case_invalid_dataset_id, "dataset 'Tax Invoices'"},
	{"non-utf8-producer", case_non_utf8_producer, "producer not UTF-8"},
	{"seq-zero", case_seq_zero, "producer_seq 0"},
	{"zero-records", case_zero_records, "record_count 0"},
	{"too-many-records", case_too_many_records,
	 "record_count GB_MAX_BATCH_RECORDS + 1"},
	{"created-in-future", case_created_in_future, "created_at_ns now + 48 h"},
	{"clear-epoch", case_clear_epoch, "records not sealed (epoch 0)"},
	{"unknown-epoch", case_unknown_epoch, "sealed under epoch current + 6"},
	{"wrong-key", case_wrong_key,
	 "current epoch, another key (commitment mismatch)"},
	{"count-lie", case_count_lie, "header says 5 records, batch holds 1"},
	{"sub-unknown-dataset", case_sub_unknown_dataset, "subscribe tax.nothing"},
	{"sub-invalid-dataset", case_sub_invalid_dataset,
	 "subscribe 'tax/../invoices'"},
	{"sub-bad-durable", case_sub_bad_durable, "durable name 'replica/1'"},
	{"sub-long-durable", case_sub_long_durable, "durable name too long"},
	{"sub-credit-above", case_sub_credit_above, "credit GB_MAX_CREDIT + 1"},
	{"sub-unknown-start", case_sub_unknown_start, "start enum 9"},
	{"sub-plain", case_sub_plain, "a plain subscribe (ungranted dept)"},
	{"sub-duplicate-id", case_sub_duplicate_id, "subscription id 7 twice"},
	{"credit-above", case_credit_above, "Credit GB_MAX_CREDIT + 1"},
	{"credit-unknown", case_credit_unknown, "Credit for subscription 404"},
	{"ack-beyond", case_ack_beyond, "CursorAck past what was delivered"},
	{"ack-unknown", case_ack_unknown, "CursorAck for subscription 404"},
	{"ack-not-durable", case_ack_not_durable,
	 "CursorAck on a non-durable subscription"},
	{"unsubscribe-unknown", case_unsubscribe_unknown,
	 "Unsubscribe subscription 404"},
	{"hold-no-credit", case_hold_no_credit,
	 "subscribe with no credit, then hold the connection until killed"},
	{"hold-unread", case_hold_unread,
	 "subscribe with all credit, never read, hold until killed"},
};

int probe_craft(struct probe *p, const struct craft_args *a)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (!strcmp(cases[i].name, a->name)) {
			cases[i].run(p, a);
			drain(p);
			return 0;
		}
	fprintf(stderr, "gb_probe: unknown case '%s'\n", a->name);
	return 2;
}

void probe_craft_list(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		printf("  %-22s %s\n", cases[i].name, cases[i].what);
}
