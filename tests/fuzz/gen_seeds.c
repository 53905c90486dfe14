/* gen_seeds: write the seed corpora of the fuzz targets.
 *
 *   gen_seeds DIR      writes DIR/<target>/<name> for every target
 *
 * Seeds are small, real examples of what each target parses: every kind of
 * client and server frame, signed batches in clear epoch 0 and sealed under
 * the fixed dataset key of fuzz.h, a complete registry config whose keys
 * are derived from the fixed seeds, key files, and HTTP request paths,
 * query strings and Last-Event-IDs. scripts/fuzz --seeds
 * rewrites tests/fuzz/corpus/ with it; inputs found by fuzzing are added
 * beside the seeds under names of their own and never overwritten. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "fuzz.h"
#include "gb_codec.h"
#include "gb_envelope.h"
#include "gb_keywrap.h"

static const char *out_dir;
static uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
static uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];

static void put(const char *target, const char *name, const void *data,
		size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", out_dir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/seed-%s", out_dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* A signed batch of `n` records "record-i" (ids "id-i" when with_ids). */
static void batch(uint32_t epoch, uint32_t n, int with_ids, uint8_t **out,
		  size_t *len)
{
	uint8_t *recs = NULL;
	size_t rlen = 0, rcap = 0;
	gb_batch_meta m = {"tax", "tax.invoices", 7, 1767225600000000000ull,
			   epoch, n, NULL};
	char payload[32], id[32];

	for (uint32_t i = 0; i < n; i++) {
		int k = snprintf(payload, sizeof payload, "record-%u", i);
		snprintf(id, sizeof id, "id-%u", i);
		gb_envelope_append_record(&recs, &rlen, &rcap,
					  (const uint8_t *)payload, (size_t)k,
					  1767225600000000000ull + i,
					  with_ids ? id : NULL);
	}
	if (gb_envelope_build(&m, recs, rlen, epoch ? fuzz_dataset_key : NULL,
			      sign_sk, out, len) != 0) {
		fprintf(stderr, "gen_seeds: cannot build a batch\n");
		exit(1);
	}
	free(recs);
}

static void client(const char *name, const gb_client_frame *f)
{
	uint8_t *buf;
	size_t len;

	if (gb_codec_client_encode(f, &buf, &len) != 0)
		exit(1);
	put("fuzz_client_frame", name, buf, len);
	free(buf);
}

static void server(const char *name, const gb_server_frame *f)
{
	uint8_t *buf;
	size_t len;

	if (gb_codec_server_encode(f, &buf, &len) != 0)
		exit(1);
	put("fuzz_server_frame", name, buf, len);
	free(buf);
}

static void envelopes(void)
{
	uint8_t *b;
	size_t len;

	batch(0, 1, 0, &b, &len);
	put("fuzz_envelope", "clear-1", b, len);
	free(b);
	batch(0, 3, 1, &b, &len);
	put("fuzz_envelope", "clear-3-ids", b, len);
	free(b);
	batch(1, 2, 1, &b, &len);
	put("fuzz_envelope", "sealed-2", b, len);
	free(b);
}

/* A wrap of the epoch-1 dataset key for "health" (box key of
 * fuzz_box_seed), signed by the owner (fuzz_sign_seed). */
static void wrap(uint8_t **out, size_t *len)
{
	uint8_t box_pk[crypto_box_PUBLICKEYBYTES], box_sk[crypto_box_SECRETKEYBYTES];

	crypto_box_seed_keypair(box_pk, box_sk, fuzz_box_seed);
	if (gb_keywrap_build("tax.invoices", 1, "tax", "health", box_pk,
			     fuzz_dataset_key, sign_sk, 1767225600000000000ull,
			     out, len) != 0) {
		fprintf(stderr, "gen_seeds: cannot build a wrap\n");
		exit(1);
	}
	sodium_memzero(box_sk, sizeof box_sk);
}

static void keywraps(void)
{
	uint8_t *w;
	size_t len;

	wrap(&w, &len);
	put("fuzz_keywrap", "health-epoch-1", w, len);
	free(w);
}

static void client_frames(void)
{
	gb_client_frame f = GOVBUS__V1__CLIENT_FRAME__INIT;
	Govbus__V1__Hello hello = GOVBUS__V1__HELLO__INIT;
	Govbus__V1__Publish pub = GOVBUS__V1__PUBLISH__INIT;
	Govbus__V1__Subscribe sub = GOVBUS__V1__SUBSCRIBE__INIT;
	Govbus__V1__Credit credit = GOVBUS__V1__CREDIT__INIT;
	Govbus__V1__Unsubscribe unsub = GOVBUS__V1__UNSUBSCRIBE__INIT;
	Govbus__V1__CursorAck ack = GOVBUS__V1__CURSOR_ACK__INIT;
	Govbus__V1__Ping ping = GOVBUS__V1__PING__INIT;
	Govbus__V1__KeyFetch kf = GOVBUS__V1__KEY_FETCH__INIT;
	Govbus__V1__KeyUpload up = GOVBUS__V1__KEY_UPLOAD__INIT;
	ProtobufCBinaryData wraps[1];
	uint8_t commitment[GB_COMMITMENT_BYTES];
	uint8_t *b;
	size_t len;

	hello.protocol = 1;
	hello.agent = (char *)"govbus-agent 0.1.0";
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_HELLO;
	f.hello = &hello;
	client("hello", &f);

	batch(0, 3, 1, &b, &len);
	pub.request_id = 42;
	pub.signed_batch.data = b;
	pub.signed_batch.len = len;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH;
	f.publish = &pub;
	client("publish-clear", &f);
	free(b);
	batch(1, 2, 0, &b, &len);
	pub.signed_batch.data = b;
	pub.signed_batch.len = len;
	client("publish-sealed", &f);
	free(b);

	sub.subscription_id = 1;
	sub.dataset = (char *)"tax.invoices";
	sub.credit = 64;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE;
	f.subscribe = &sub;
	client("subscribe-earliest", &f);
	sub.start = GOVBUS__V1__SUBSCRIBE__START__START_OFFSET;
	sub.offset = 1234;
	client("subscribe-offset", &f);
	sub.start = GOVBUS__V1__SUBSCRIBE__START__START_TIME;
	sub.time_ns = 1767225600000000000ull;
	sub.durable = (char *)"billing-replica_1";
	client("subscribe-time-durable", &f);

	credit.subscription_id = 1;
	credit.batches = 32;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CREDIT;
	f.credit = &credit;
	client("credit", &f);
	unsub.subscription_id = 1;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_UNSUBSCRIBE;
	f.unsubscribe = &unsub;
	client("unsubscribe", &f);
	ack.subscription_id = 1;
	ack.next_offset = 1000;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_CURSOR_ACK;
	f.cursor_ack = &ack;
	client("cursor-ack", &f);
	ping.nonce = 99;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_PING;
	f.ping = &ping;
	client("ping", &f);

	kf.request_id = 3;
	kf.dataset = (char *)"tax.invoices";
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH;
	f.key_fetch = &kf;
	client("key-fetch", &f);

	wrap(&wraps[0].data, &wraps[0].len);
	gb_envelope_key_commitment(fuzz_dataset_key, commitment);
	up.request_id = 4;
	up.dataset = (char *)"tax.invoices";
	up.epoch = 1;
	up.new_epoch = 1;
	up.key_commitment.data = commitment;
	up.key_commitment.len = sizeof commitment;
	up.n_signed_wraps = 1;
	up.signed_wraps = wraps;
	f.body_case = GOVBUS__V1__CLIENT_FRAME__BODY_KEY_UPLOAD;
	f.key_upload = &up;
	client("key-upload", &f);
	free(wraps[0].data);
}

static void server_frames(void)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Welcome w = GOVBUS__V1__WELCOME__INIT;
	Govbus__V1__ProducerPosition pos = GOVBUS__V1__PRODUCER_POSITION__INIT;
	Govbus__V1__ProducerPosition *positions[1] = {&pos};
	Govbus__V1__PublishAck ack = GOVBUS__V1__PUBLISH_ACK__INIT;
	Govbus__V1__SubscribeOk ok = GOVBUS__V1__SUBSCRIBE_OK__INIT;
	Govbus__V1__Deliver d = GOVBUS__V1__DELIVER__INIT;
	Govbus__V1__Pong pong = GOVBUS__V1__PONG__INIT;
	Govbus__V1__Error e = GOVBUS__V1__ERROR__INIT;
	Govbus__V1__KeyInfo ki = GOVBUS__V1__KEY_INFO__INIT;
	Govbus__V1__Recipient rcpt = GOVBUS__V1__RECIPIENT__INIT;
	Govbus__V1__Recipient *readers[1] = {&rcpt};
	Govbus__V1__MissingWraps miss = GOVBUS__V1__MISSING_WRAPS__INIT;
	Govbus__V1__MissingWraps *missing[1] = {&miss};
	Govbus__V1__KeyUploadAck uack = GOVBUS__V1__KEY_UPLOAD_ACK__INIT;
	uint8_t box_pk[crypto_box_PUBLICKEYBYTES], box_sk[crypto_box_SECRETKEYBYTES];
	uint8_t hash[32] = {1, 2, 3};
	uint8_t *b;
	size_t len;

	pos.dataset = (char *)"tax.invoices";
	pos.last_seq = 6;
	w.dept = (char *)"tax";
	w.instance = 0x1122334455667788ull;
	w.max_frame = GB_MAX_FRAME;
	w.n_positions = 1;
	w.positions = positions;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_WELCOME;
	f.welcome = &w;
	server("welcome", &f);

	ack.request_id = 42;
	ack.dataset = (char *)"tax.invoices";
	ack.producer_seq = 7;
	ack.base_offset = 100;
	ack.record_count = 3;
	ack.duplicate = 1;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK;
	f.publish_ack = &ack;
	server("publish-ack", &f);

	ok.subscription_id = 1;
	ok.start_offset = 0;
	ok.head_offset = 103;
	ok.owner = (char *)"tax";
	ok.owner_sign_key.data = sign_pk;
	ok.owner_sign_key.len = sizeof sign_pk;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK;
	f.subscribe_ok = &ok;
	server("subscribe-ok", &f);

	batch(0, 3, 1, &b, &len);
	d.subscription_id = 1;
	d.base_offset = 100;
	d.record_count = 3;
	d.broker_time_ns = 1767225600000000001ull;
	d.chain_hash.data = hash;
	d.chain_hash.len = sizeof hash;
	d.signed_batch.data = b;
	d.signed_batch.len = len;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_DELIVER;
	f.deliver = &d;
	server("deliver", &f);
	free(b);

	pong.nonce = 99;
	pong.instance = 0x1122334455667788ull;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PONG;
	f.pong = &pong;
	server("pong", &f);

	wrap(&b, &len);
	crypto_box_seed_keypair(box_pk, box_sk, fuzz_box_seed);
	rcpt.dept = (char *)"health";
	rcpt.box_key.data = box_pk;
	rcpt.box_key.len = sizeof box_pk;
	miss.epoch = 1;
	miss.n_recipients = 1;
	miss.recipients = readers;
	ki.request_id = 3;
	ki.dataset = (char *)"tax.invoices";
	ki.current_epoch = 1;
	ki.epoch = 1;
	ki.signed_wrap.data = b;
	ki.signed_wrap.len = len;
	ki.n_readers = 1;
	ki.readers = readers;
	ki.n_missing = 1;
	ki.missing = missing;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO;
	f.key_info = &ki;
	server("key-info", &f);
	free(b);
	sodium_memzero(box_sk, sizeof box_sk);

	uack.request_id = 4;
	uack.dataset = (char *)"tax.invoices";
	uack.epoch = 1;
	uack.stored = 2;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK;
	f.key_upload_ack = &uack;
	server("key-upload-ack", &f);

	e.status = 403;
	e.message = (char *)"social may not subscribe to tax.invoices: no grant";
	e.subscription_id = 1;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_ERROR;
	f.error = &e;
	server("error", &f);
}

/* Public keys of a department derived from a one-letter seed. */
static void dept_keys(char letter, char sign_b64[64], char box_z85[48])
{
	uint8_t seed[32], pk[32], sk[64], bpk[32];

	memset(seed, letter, sizeof seed);
	crypto_sign_seed_keypair(pk, sk, seed);
	crypto_scalarmult_base(bpk, seed);
	sodium_bin2base64(sign_b64, 64, pk, sizeof pk,
			  sodium_base64_VARIANT_ORIGINAL);
	zmq_z85_encode(box_z85, bpk, sizeof bpk);
}

static void configs(void)
{
	char text[4096], s[3][64], z[3][48];
	int n;

	dept_keys('t', s[0], z[0]);
	dept_keys('h', s[1], z[1]);
	dept_keys('a', s[2], z[2]);
	n = snprintf(text, sizeof text,
		"broker:\n"
		"  listen: \"tcp://127.0.0.1:7780\"\n"
		"  data_dir: ./data\n"
		"  key: keys/broker.key\n"
		"  map_size: 1073741824\n"
		"departments:\n"
		"  - { id: tax, name: Tax Bureau, sign_key: \"%s\", box_key: \"%s\" }\n"
		"  - { id: health, name: \"Health Authority\", sign_key: \"%s\", box_key: \"%s\" }\n"
		"  - { id: audit, name: National Audit Office, role: auditor,\n"
		"      sign_key: \"%s\", box_key: \"%s\" }\n"
		"datasets:\n"
		"  - id: tax.invoices\n"
		"    owner: tax\n"
		"    title: VAT invoices\n"
		"    sharing: conditional\n"
		"    classification: internal\n"
		"    update_frequency: realtime\n"
		"    audit_access: content\n"
		"  - { id: tax.open, owner: tax, title: Statistics, sharing: open, classification: public }\n"
		"  - { id: tax.closed, owner: tax, title: Investigations, sharing: closed, classification: confidential }\n"
		"grants:\n"
		"  - dataset: tax.invoices\n"
		"    to: health\n"
		"    rights: [subscribe, replay]\n"
		"    purpose: \"benefit checks\"\n"
		"    legal_basis: \"Act 12 s.4\"\n"
		"    approved_by: \"data sharing board\"\n"
		"    starts: 2026-01-01\n"
		"    expires: 2027-11-20T12:00:00Z\n"
		"    history: since-grant\n",
		s[0], z[0], s[1], z[1], s[2], z[2]);
	put("fuzz_config", "full.yaml", text, (size_t)n);
	n = snprintf(text, sizeof text,
		"broker: { listen: \"tcp://127.0.0.1:7780\", data_dir: /tmp/d, key: /tmp/k }\n"
		"departments:\n"
		"  - { id: tax, name: Tax, sign_key: \"%s\", box_key: \"%s\" }\n",
		s[0], z[0]);
	put("fuzz_config", "minimal.yaml", text, (size_t)n);
	put("fuzz_config", "alias.yaml", "a: &x [1]\nb: *x\n", 16);
}

static void keyfiles(void)
{
	uint8_t file[1 + 33];

	memset(file + 1, 0x5a, sizeof file - 1);
	file[0] = 0; /* mode 0600: loads */
	put("fuzz_keyfile", "good", file, 1 + 32);
	file[0] = 2; /* mode 0640: refused */
	put("fuzz_keyfile", "group-readable", file, 1 + 32);
	file[0] = 0;
	put("fuzz_keyfile", "short", file, 1 + 31);
	put("fuzz_keyfile", "long", file, 1 + 33);
}

/* fuzz_http_route: method, path, query string, Last-Event-ID lines. */
static void http_routes(void)
{
	static const struct {
		const char *name, *text;
	} seeds[] = {
		{"records", "GET\n/v1/datasets/tax.invoices/records\n"
			    "from=10&limit=5\n41"},
		{"publish", "POST\n/v1/datasets/tax%2Einvoices/records\n\n0"},
		{"escapes", "GET\n/v1/datasets/a%2Fb%C3%A9/events\n"
			    "q=a+b%20c&flag&x=%41\n18446744073709551615"},
		{"console", "GET\n/console/js/app.3f2a.js\n\n007"},
		{"captures", "GET\n/v1/one/two/three/x\nk=v&k=w\n"},
		{"method", "DELETE\n/v1/catalog\n=v\n-1"},
		{"bad", "GET\n/v1/datasets/%zz/../%00\n%ff=%0a\n1 2"},
		{"root", "HEAD\n/\n\n18446744073709551616"},
	};

	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
		put("fuzz_http_route", seeds[i].name, seeds[i].text,
		    strlen(seeds[i].text));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	out_dir = argv[1];
	if (sodium_init() < 0 || (mkdir(out_dir, 0755) != 0 && errno != EEXIST))
		return 1;
	crypto_sign_seed_keypair(sign_pk, sign_sk, fuzz_sign_seed);
	envelopes();
	keywraps();
	client_frames();
	server_frames();
	configs();
	keyfiles();
	http_routes();
	sodium_memzero(sign_sk, sizeof sign_sk);
	return 0;
}
