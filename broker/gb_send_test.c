/* Tests of gb_send: a frame reaches the peer it is addressed to over a
 * real ROUTER (ZMQ_ROUTER_MANDATORY, as the broker sets it), an unknown
 * routing id is GB_ECLOSED, a full queue is GB_EUNAVAIL and never a torn
 * message; an Error carries the status of its code, both ids, the
 * sentence (bounded to GB_MAX_MESSAGE_LEN) and the duplicate records. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "gb_broker_fixture.h"
#include "gb_error.h"
#include "gb_send.h"
#include "gb_test.h"

static gb_server_frame pong_frame(Govbus__V1__Pong *pong, uint64_t nonce)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;

	govbus__v1__pong__init(pong);
	pong->nonce = nonce;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PONG;
	f.pong = pong;
	return f;
}

/* Receive one message on `dealer` and decode it; NULL if none or bad. */
static gb_server_frame *recv_frame(void *dealer, int flags)
{
	zmq_msg_t msg;
	gb_server_frame *f = NULL;
	char why[256];

	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, dealer, flags) >= 0 &&
	    gb_codec_server_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &f,
				   why, sizeof why) != 0)
		fprintf(stderr, "bad frame: %s\n", why);
	zmq_msg_close(&msg);
	return f;
}

static void test_router(void)
{
	void *ctx = zmq_ctx_new();
	void *router = zmq_socket(ctx, ZMQ_ROUTER);
	void *dealer = zmq_socket(ctx, ZMQ_DEALER);
	int one = 1, hwm = 4, zero = 0, timeout = 5000;
	Govbus__V1__Pong pong;
	gb_server_frame f;
	gb_server_frame *got;
	char buf[64];
	size_t sent = 0, received = 0;
	int rc = 0;

	CHECK(zmq_setsockopt(router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) == 0);
	CHECK(zmq_setsockopt(router, ZMQ_SNDHWM, &hwm, sizeof hwm) == 0);
	CHECK(zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero) == 0);
	CHECK(zmq_setsockopt(dealer, ZMQ_RCVHWM, &hwm, sizeof hwm) == 0);
	CHECK(zmq_setsockopt(dealer, ZMQ_ROUTING_ID, "peer-1", 6) == 0);
	CHECK(zmq_setsockopt(dealer, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);
	CHECK(zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero) == 0);
	CHECK(zmq_bind(router, "inproc://gb-send-test") == 0);
	CHECK(zmq_connect(dealer, "inproc://gb-send-test") == 0);
	/* The ROUTER knows a peer once it has heard from it. */
	CHECK(zmq_send(dealer, "hi", 2, 0) == 2);
	CHECK(zmq_recv(router, buf, sizeof buf, 0) == 6);
	CHECK(zmq_recv(router, buf, sizeof buf, 0) == 2);

	f = pong_frame(&pong, 42);
	CHECK_RC(gb_send_router(router, (const uint8_t *)"peer-1", 6, &f), 0);
	got = recv_frame(dealer, 0);
	CHECK(got && got->body_case == GOVBUS__V1__SERVER_FRAME__BODY_PONG &&
	      got->pong->nonce == 42);
	gb_codec_server_free(&got);

	/* Nobody has this routing id: gone, not "try later". */
	CHECK_RC(gb_send_router(router, (const uint8_t *)"peer-2", 6, &f),
		 GB_ECLOSED);

	/* A peer that does not read fills its queue: "try later", and
	 * every frame that was taken arrives whole. */
	for (int i = 0; i < 10000 && rc == 0; i++) {
		f.pong->nonce = (uint64_t)i;
		rc = gb_send_router(router, (const uint8_t *)"peer-1", 6, &f);
		sent += rc == 0;
	}
	CHECK_RC(rc, GB_EUNAVAIL);
	CHECK(sent > 0 && sent < 10000);
	while ((got = recv_frame(dealer, ZMQ_DONTWAIT)) != NULL) {
		CHECK(got->body_case == GOVBUS__V1__SERVER_FRAME__BODY_PONG &&
		      got->pong->nonce == received);
		received++;
		gb_codec_server_free(&got);
	}
	CHECK(received == sent);

	zmq_close(dealer);
	zmq_close(router);
	zmq_ctx_term(ctx);
}

static void test_errors(void)
{
	static gb_outbox box;
	gb_sender to = gb_outbox_sender(&box);
	const Govbus__V1__Error *e;
	uint32_t dups[3] = {0, 4, 7};
	char long_text[2 * GB_MAX_MESSAGE_LEN];

	gb_send_error(&to, (const uint8_t *)"p", 1, GB_EPERM, 7, 9,
		      "%s may not %s", "social", "publish");
	CHECK(box.n == 1);
	e = box.frames[0]->error;
	CHECK(box.frames[0]->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR);
	CHECK(e->status == 403);
	CHECK(e->request_id == 7 && e->subscription_id == 9);
	CHECK_STR(e->message, "social may not publish");
	CHECK(e->n_duplicate_records == 0);
	CHECK(box.peer_lens[0] == 1 && box.peers[0][0] == 'p');

	gb_send_error_dups(&to, (const uint8_t *)"p", 1, 11, dups, 3,
			   "%d of them", 3);
	CHECK(box.n == 2);
	e = box.frames[1]->error;
	CHECK(e->status == 409);
	CHECK(e->request_id == 11 && e->subscription_id == 0);
	CHECK(e->n_duplicate_records == 3 && e->duplicate_records[1] == 4 &&
	      e->duplicate_records[2] == 7);

	/* A sentence quoting something long is cut, not overrun. */
	memset(long_text, 'x', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	gb_send_error(&to, (const uint8_t *)"p", 1, GB_EIO, 0, 0, "%s",
		      long_text);
	CHECK(box.n == 3);
	CHECK(box.frames[2]->error->status == 500);
	CHECK(strlen(box.frames[2]->error->message) == GB_MAX_MESSAGE_LEN - 1);

	/* A peer that cannot take it is not told, and nothing breaks. */
	box.refuse = GB_ECLOSED;
	gb_send_error(&to, (const uint8_t *)"p", 1, GB_EIO, 0, 0, "gone");
	CHECK(box.n == 3 && box.refused == 1);
	gb_outbox_clear(&box);
}

int main(void)
{
	test_router();
	test_errors();
	TEST_EXIT();
}
