/* Tests of gb_zap, speaking ZAP (RFC 27) to it over its inproc REP socket
 * as libzmq does: a registered department's CURVE key is accepted and
 * named as the User-Id; an unknown key, another mechanism, a key of the
 * wrong length and a request with missing frames are refused (and still
 * answered, so the socket stays usable); extra frames are drained; at
 * most 10 refused keys a second are reported; a new policy takes effect
 * at once. */
#include <stdint.h>
#include <string.h>
#include <zmq.h>

#include "gb_broker_fixture.h"
#include "gb_test.h"
#include "gb_test_departments.h"
#include "gb_zap.h"

#define S 1000000000ull
#define NOW (INT64_C(1780272000) * (int64_t)S) /* 2026-06-01 */

struct reply {
	char status[8];
	char text[32];
	char user[64];
	char request_id[16];
};

struct refusals {
	unsigned n;
	char last[GB_BOX_PK_TEXT];
};

static void count_refusal(void *ctx, const char *key_text)
{
	struct refusals *r = ctx;

	r->n++;
	snprintf(r->last, sizeof r->last, "%s", key_text);
}

static void recv_text(void *req, char *buf, size_t len)
{
	int n = zmq_recv(req, buf, len - 1, 0);

	if (n < 0)
		n = 0;
	if ((size_t)n > len - 1) /* zmq_recv reports the untruncated size */
		n = (int)(len - 1);
	buf[n] = '\0';
}

/* Send a request of `n` frames (the key is frame 6, `key_len` bytes),
 * let the handler answer, read the reply. */
static struct reply ask(gb_zap *z, void *req, int n, const char *mechanism,
			const uint8_t *key, size_t key_len, uint64_t now)
{
	const char *texts[6] = {"1.0", "17", "govbus", "127.0.0.1", "",
				mechanism};
	struct reply r;
	char meta[8];

	memset(&r, 0, sizeof r);
	for (int i = 0; i < n; i++) {
		int more = i + 1 < n ? ZMQ_SNDMORE : 0;
		if (i < 6)
			zmq_send(req, texts[i], strlen(texts[i]), more);
		else if (i == 6)
			zmq_send(req, key, key_len, more);
		else
			zmq_send(req, "extra", 5, more);
	}
	gb_zap_handle(z, now);
	recv_text(req, meta, sizeof meta);
	CHECK_STR(meta, "1.0");
	recv_text(req, r.request_id, sizeof r.request_id);
	recv_text(req, r.status, sizeof r.status);
	recv_text(req, r.text, sizeof r.text);
	recv_text(req, r.user, sizeof r.user);
	recv_text(req, meta, sizeof meta); /* metadata: empty */
	return r;
}

int main(void)
{
	gb_registry *reg = gb_fixture_registry(
		GB_TEST_BROKER_YAML "departments:\n" GB_TEST_DEPT_TAX
		GB_TEST_DEPT_HEALTH, NOW);
	gb_registry *without_tax = gb_fixture_registry(
		GB_TEST_BROKER_YAML "departments:\n" GB_TEST_DEPT_HEALTH, NOW);
	void *ctx = zmq_ctx_new(), *req;
	struct refusals refused = {0, ""};
	gb_zap *z = NULL;
	uint8_t tax_key[GB_BOX_PK_BYTES], stranger[GB_BOX_PK_BYTES];
	char stranger_text[GB_BOX_PK_TEXT];
	struct reply r;
	int zero = 0;

	if (!reg || !without_tax)
		return 1;
	memcpy(tax_key, gb_registry_find_department(reg, "tax")->box_pk,
	       sizeof tax_key);
	memset(stranger, 0x5a, sizeof stranger);
	gb_key_encode_box(stranger, stranger_text);
	CHECK_RC(gb_zap_new(ctx, count_refusal, &refused, &z), 0);
	if (!z)
		return 1;
	gb_zap_policy_loaded(z, reg);
	req = zmq_socket(ctx, ZMQ_REQ);
	zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
	CHECK(zmq_connect(req, "inproc://zeromq.zap.01") == 0);

	r = ask(z, req, 7, "CURVE", tax_key, sizeof tax_key, 100 * S);
	CHECK_STR(r.status, "200");
	CHECK_STR(r.user, "tax");
	CHECK_STR(r.request_id, "17");
	CHECK(refused.n == 0);

	r = ask(z, req, 7, "CURVE", stranger, sizeof stranger, 100 * S);
	CHECK_STR(r.status, "400");
	CHECK_STR(r.user, "");
	CHECK(refused.n == 1);
	CHECK_STR(refused.last, stranger_text);

	/* Not CURVE, or not a key: refused, but not a refused key. */
	r = ask(z, req, 7, "PLAIN", tax_key, sizeof tax_key, 100 * S);
	CHECK_STR(r.status, "400");
	r = ask(z, req, 7, "CURVE", tax_key, sizeof tax_key - 1, 100 * S);
	CHECK_STR(r.status, "400");
	CHECK(refused.n == 1);

	/* Missing frames: refused and answered; extra frames: drained, and
	 * the request is judged on its seven. */
	r = ask(z, req, 3, "CURVE", tax_key, sizeof tax_key, 100 * S);
	CHECK_STR(r.status, "400");
	CHECK_STR(r.request_id, "17");
	r = ask(z, req, 9, "CURVE", tax_key, sizeof tax_key, 100 * S);
	CHECK_STR(r.status, "200");
	CHECK_STR(r.user, "tax");

	/* A flood of unknown keys: ten reported in one second, the rest
	 * only counted; the next second starts afresh. */
	for (int i = 0; i < 15; i++) {
		r = ask(z, req, 7, "CURVE", stranger, sizeof stranger, 101 * S);
		CHECK_STR(r.status, "400");
	}
	CHECK(refused.n == 1 + 10);
	r = ask(z, req, 7, "CURVE", stranger, sizeof stranger, 102 * S);
	CHECK(refused.n == 12);

	/* After a reload that removes tax, its key is a stranger's. */
	gb_zap_policy_loaded(z, without_tax);
	r = ask(z, req, 7, "CURVE", tax_key, sizeof tax_key, 102 * S);
	CHECK_STR(r.status, "400");
	CHECK(refused.n == 13);

	zmq_close(req);
	gb_zap_destroy(&z);
	CHECK(z == NULL);
	zmq_ctx_term(ctx);
	gb_registry_destroy(&reg);
	gb_registry_destroy(&without_tax);
	gb_fixture_cleanup();
	TEST_EXIT();
}
