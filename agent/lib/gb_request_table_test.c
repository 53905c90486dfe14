/* Tests for the client's table of pending requests: answers matched by id,
 * late and repeated answers refused, taking forgets, cancelling forgets
 * the answer too, and what is sent again after a reconnect (unanswered
 * requests only, newest first). */
#include <stdlib.h>
#include <string.h>

#include "gb_request_table.h"
#include "gb_test.h"

/* An encoded request whose bytes name its id. */
static uint8_t *frame_of(uint64_t id, size_t *len)
{
	uint8_t *f = malloc(sizeof id);

	memcpy(f, &id, sizeof id);
	*len = sizeof id;
	return f;
}

/* A KeyUploadAck for `id`, decoded as the client gets it. */
static gb_server_frame *answer_of(uint64_t id)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT, *out = NULL;
	Govbus__V1__KeyUploadAck ack = GOVBUS__V1__KEY_UPLOAD_ACK__INIT;
	uint8_t *buf = NULL;
	size_t len = 0;
	char why[256];

	ack.request_id = id;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK;
	f.key_upload_ack = &ack;
	CHECK_RC(gb_codec_server_encode(&f, &buf, &len), 0);
	CHECK_RC(gb_codec_server_decode(buf, len, &out, why, sizeof why), 0);
	free(buf);
	return out;
}

struct seen {
	uint64_t ids[8];
	size_t n;
};

static void note(void *arg, const uint8_t *frame, size_t len)
{
	struct seen *s = arg;
	uint64_t id;

	CHECK(len == sizeof id);
	memcpy(&id, frame, sizeof id);
	if (s->n < 8)
		s->ids[s->n++] = id;
}

int main(void)
{
	gb_request_table *t = gb_request_table_new();
	gb_server_frame *a = NULL, *late;
	struct seen seen = {{0}, 0};
	size_t len;

	CHECK(t != NULL);
	if (!t)
		TEST_EXIT();
	for (uint64_t id = 1; id <= 3; id++) {
		uint8_t *f = frame_of(id, &len);
		CHECK_RC(gb_request_table_add(t, id, f, len), 0);
	}

	/* nothing answered yet; an unknown id is nobody's */
	CHECK(gb_request_table_take(t, 2, &a) == 0 && a == NULL);
	late = answer_of(9);
	CHECK(!gb_request_table_answer(t, 9, late));
	gb_codec_server_free(&late);

	/* 2 answered: taken once, then forgotten */
	a = answer_of(2);
	CHECK(gb_request_table_answer(t, 2, a));
	late = answer_of(2);
	CHECK(!gb_request_table_answer(t, 2, late)); /* repeated */
	gb_codec_server_free(&late);
	a = NULL;
	CHECK(gb_request_table_take(t, 2, &a) == 1);
	CHECK(a && a->key_upload_ack->request_id == 2);
	gb_codec_server_free(&a);
	CHECK(gb_request_table_take(t, 2, &a) == 0 && a == NULL);
	late = answer_of(2);
	CHECK(!gb_request_table_answer(t, 2, late)); /* late */
	gb_codec_server_free(&late);

	/* 3 answered but not taken: not sent again; 1 is, so only 1 */
	CHECK(gb_request_table_answer(t, 3, answer_of(3)));
	gb_request_table_each_unanswered(t, note, &seen);
	CHECK(seen.n == 1 && seen.ids[0] == 1);

	/* cancelling drops the answer with the request */
	gb_request_table_cancel(t, 3);
	CHECK(gb_request_table_take(t, 3, &a) == 0 && a == NULL);
	late = answer_of(3);
	CHECK(!gb_request_table_answer(t, 3, late));
	gb_codec_server_free(&late);

	/* newest first */
	for (uint64_t id = 4; id <= 5; id++) {
		uint8_t *f = frame_of(id, &len);
		CHECK_RC(gb_request_table_add(t, id, f, len), 0);
	}
	seen.n = 0;
	gb_request_table_each_unanswered(t, note, &seen);
	CHECK(seen.n == 3 && seen.ids[0] == 5 && seen.ids[1] == 4 &&
	      seen.ids[2] == 1);

	/* destroy frees what is left, answered or not */
	CHECK(gb_request_table_answer(t, 4, answer_of(4)));
	gb_request_table_destroy(&t);
	CHECK(t == NULL);
	gb_request_table_destroy(&t); /* accepts NULL */
	TEST_EXIT();
}
