/* Tests for the agent's connection to the broker against the scripted
 * broker of gb_fake_broker.c: the handshake and its Welcome callback,
 * pings answered, keepalive when idle, a new broker instance and silence
 * each taking the connection down with their reason, a Welcome refused by
 * the callback, an interrupt, and an endpoint nobody listens on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "gb_agent_internal.h"
#include "gb_conn.h"
#include "gb_fake_broker.h"
#include "gb_test.h"

#define TIMEOUT_MS 300u
#define PING_MS 50u

struct welcome_seen {
	int count;
	char dept[GB_MAX_ID_LEN + 1];
	uint64_t last_seq;
	int refuse;                   /* returned instead of 0 */
};

static int on_welcome(void *arg, const Govbus__V1__Welcome *w)
{
	struct welcome_seen *ws = arg;

	ws->count++;
	snprintf(ws->dept, sizeof ws->dept, "%s", w->dept);
	ws->last_seq = w->n_positions ? w->positions[0]->last_seq : 0;
	return ws->refuse;
}

/* Read frames for `ms`, noting Welcome and Pong as the client does.
 * Returns how many arrived. */
static int pump(gb_conn *k, int64_t ms)
{
	int64_t until = gb_agent_now_ms() + ms;
	int n = 0;

	while (gb_agent_now_ms() < until && gb_conn_up(k)) {
		gb_server_frame *f = NULL;
		int rc;

		CHECK_RC(gb_conn_poll(k, (long)(until - gb_agent_now_ms())), 0);
		while ((rc = gb_conn_recv(k, &f)) == 1) {
			gb_conn_liveness(k, f);
			gb_codec_server_free(&f);
			n++;
		}
		CHECK(rc == 0);
	}
	return n;
}

/* Ping and wait until the broker answered it. */
static bool ping_answered(gb_conn *k)
{
	uint64_t nonce = gb_conn_ping(k);

	for (int i = 0; i < 40 && gb_conn_pong(k) < nonce && gb_conn_up(k); i++)
		pump(k, 50);
	return gb_conn_pong(k) >= nonce;
}

int main(void)
{
	volatile sig_atomic_t interrupted = 0;
	struct welcome_seen ws = {0};
	gb_conn_params p = {0};
	char why[512], nobody[300];
	gb_conn *k = NULL;
	bool restarted = true;
	uint64_t nonce;

	snprintf(dir, sizeof dir, "/tmp/gb_conn_test.XXXXXX");
	if (!mkdtemp(dir) || sodium_init() < 0)
		return 1;
	health = gb_identity_generate();
	fake_start(dir, health);

	p.endpoint = fk.endpoint;
	p.broker_box_pk = gb_identity_box_pk(fk.key);
	p.id = health;
	p.agent_name = "gb_conn_test";
	p.timeout_ms = TIMEOUT_MS;
	p.ping_ms = PING_MS;
	p.interrupted = &interrupted;
	CHECK_RC(gb_conn_new(&p, &k, why, sizeof why), 0);
	if (!k)
		return 1;
	CHECK(!gb_conn_up(k));

	/* handshake: the Welcome goes through the callback first */
	CHECK_RC(gb_conn_handshake(k, -1, on_welcome, &ws, &restarted), 0);
	CHECK(gb_conn_up(k) && !restarted);
	CHECK(ws.count == 1 && ws.last_seq == 5);
	CHECK_STR(ws.dept, "health");
	CHECK(gb_conn_max_frame(k) == GB_MAX_FRAME);
	CHECK_STR(gb_conn_rebuild_reason(k), "");

	/* a ping is answered; when idle, keepalive pings on its own */
	CHECK(ping_answered(k));
	nonce = gb_conn_pong(k);
	usleep(2 * PING_MS * 1000);
	CHECK(gb_conn_keepalive(k, gb_agent_now_ms()) > gb_agent_now_ms());
	pump(k, 200);
	CHECK(gb_conn_pong(k) > nonce);

	/* a new broker instance: the lost socket (or the new instance's
	 * Pong) takes the connection down; the next handshake says the
	 * broker restarted */
	atomic_store(&fk.restart, 1);
	for (int i = 0; i < 40 && gb_conn_up(k); i++) {
		(void)gb_conn_ping(k);
		pump(k, 50);
	}
	CHECK(!gb_conn_up(k));
	CHECK(gb_conn_rebuild_reason(k)[0] != '\0');
	CHECK_RC(gb_conn_handshake(k, -1, on_welcome, &ws, &restarted), 0);
	CHECK(gb_conn_up(k) && restarted && ws.count == 2);

	/* silence: an unanswered send older than the timeout */
	atomic_store(&fk.paused, 1);
	(void)gb_conn_ping(k);
	gb_conn_check_silence(k, gb_agent_now_ms());
	CHECK(gb_conn_up(k)); /* not yet */
	gb_conn_check_silence(k, gb_agent_now_ms() + TIMEOUT_MS);
	CHECK(!gb_conn_up(k));
	CHECK_STR(gb_conn_rebuild_reason(k), "no answer for 0.3 s");

	/* an interrupt ends a handshake that gets no Welcome */
	interrupted = 1;
	CHECK_RC(gb_conn_handshake(k, -1, on_welcome, &ws, &restarted),
		 GB_ECLOSED);
	CHECK_STR(gb_conn_error(k), "interrupted");
	CHECK(interrupted == 0 && !gb_conn_up(k));

	/* the broker back, the same instance; a Welcome the callback refuses
	 * leaves the connection down with the callback's error */
	atomic_store(&fk.paused, 0);
	ws.refuse = GB_EAUTH;
	CHECK_RC(gb_conn_handshake(k, -1, on_welcome, &ws, &restarted),
		 GB_EAUTH);
	CHECK(!gb_conn_up(k));
	ws.refuse = 0;
	CHECK_RC(gb_conn_handshake(k, -1, on_welcome, &ws, &restarted), 0);
	CHECK(gb_conn_up(k) && !restarted);
	CHECK(ping_answered(k));
	gb_conn_destroy(&k, 0);
	CHECK(k == NULL);
	gb_conn_destroy(&k, 0); /* accepts NULL */

	/* nobody listening: a timeout naming the endpoint's likely faults,
	 * and sooner when the caller's deadline is sooner */
	snprintf(nobody, sizeof nobody, "ipc://%s/nobody.sock", dir);
	p.endpoint = nobody;
	CHECK_RC(gb_conn_new(&p, &k, why, sizeof why), 0);
	if (k) {
		int64_t t0 = gb_agent_now_ms();

		CHECK_RC(gb_conn_handshake(k, -1, on_welcome, &ws, &restarted),
			 GB_ETIMEOUT);
		CHECK(gb_agent_now_ms() - t0 >= TIMEOUT_MS);
		CHECK_CONTAINS(gb_conn_error(k), "did not answer within 0.3 s");
		CHECK_CONTAINS(gb_conn_error(k), "nobody.sock");
		CHECK(!gb_conn_up(k));
		gb_conn_destroy(&k, 0);
	}

	fake_stop();
	gb_identity_destroy(&health);
	remove_tree(dir);
	gb_test_failures += fake_failures();
	TEST_EXIT();
}
