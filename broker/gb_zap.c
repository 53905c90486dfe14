/* govbus broker ZAP handler; see gb_zap.h.
 *
 * Trust: a ZAP request is written by libzmq, but its key and mechanism
 * frames are whatever the unauthenticated client sent: the request is
 * bounded to its seven frames (extra ones are drained), the key must be
 * exactly GB_BOX_PK_BYTES and only the registry decides. */
#include "gb_zap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "gb_error.h"
#include "gb_keys.h"
#include "gb_log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES 7              /* version, id, domain, address, identity,
				   * mechanism, key */
#define ZAP_REFUSALS_PER_S 10     /* refused keys logged and reported per second */

struct gb_zap {
	void *sock;
	const gb_registry *reg;
	gb_zap_refused_fn refused;
	void *refused_ctx;
	uint64_t refusal_second;
	unsigned refusals_this_second, refusals_suppressed;
};

int gb_zap_new(void *zmq_ctx, gb_zap_refused_fn refused, void *refused_ctx,
	       gb_zap **out)
{
	gb_zap *z = calloc(1, sizeof *z);

	*out = NULL;
	if (!z)
		return GB_ENOMEM;
	z->refused = refused;
	z->refused_ctx = refused_ctx;
	z->sock = zmq_socket(zmq_ctx, ZMQ_REP);
	if (!z->sock || zmq_bind(z->sock, ZAP_ENDPOINT) != 0) {
		int err = errno; /* the caller reports it */
		gb_zap_destroy(&z);
		errno = err;
		return GB_EIO;
	}
	*out = z;
	return 0;
}

void gb_zap_destroy(gb_zap **zp)
{
	if (!zp || !*zp)
		return;
	if ((*zp)->sock)
		zmq_close((*zp)->sock);
	free(*zp);
	*zp = NULL;
}

void gb_zap_policy_loaded(gb_zap *z, const gb_registry *reg)
{
	z->reg = reg;
}

void *gb_zap_socket(const gb_zap *z)
{
	return z->sock;
}

/* An unregistered key: log and report it unless this second's quota is
 * spent. */
static void note_refusal(gb_zap *z, const uint8_t *key, uint64_t now_ns)
{
	char key_text[GB_BOX_PK_TEXT];
	uint64_t sec = now_ns / 1000000000ull;

	if (sec != z->refusal_second) {
		if (z->refusals_suppressed)
			gb_log("%u more refused connection(s) not logged",
			       z->refusals_suppressed);
		z->refusal_second = sec;
		z->refusals_this_second = 0;
		z->refusals_suppressed = 0;
	}
	if (z->refusals_this_second++ < ZAP_REFUSALS_PER_S) {
		gb_key_encode_box(key, key_text);
		gb_log("refused connection: key %s is not registered", key_text);
		if (z->refused)
			z->refused(z->refused_ctx, key_text);
	} else {
		z->refusals_suppressed++;
	}
}

void gb_zap_handle(gb_zap *z, uint64_t now_ns)
{
	zmq_msg_t part[ZAP_FRAMES];
	int count = 0, more = 1;
	const char *status = "400", *text = "unknown key", *user = "";
	char mechanism[16] = "";

	while (more && count < ZAP_FRAMES) {
		zmq_msg_init(&part[count]);
		if (zmq_msg_recv(&part[count], z->sock, 0) < 0) {
			zmq_msg_close(&part[count]);
			break;
		}
		more = zmq_msg_more(&part[count]);
		count++;
	}
	while (more) { /* more frames than the protocol has: drain them */
		zmq_msg_t extra;
		zmq_msg_init(&extra);
		if (zmq_msg_recv(&extra, z->sock, 0) < 0)
			more = 0;
		else
			more = zmq_msg_more(&extra);
		zmq_msg_close(&extra);
	}
	if (count < 2)
		goto reply_skip; /* no request id to answer: not a ZAP request */
	if (count < ZAP_FRAMES)
		goto reply; /* malformed: refuse, but answer so REP stays usable */
	snprintf(mechanism, sizeof mechanism, "%.*s",
		 (int)zmq_msg_size(&part[5]), (char *)zmq_msg_data(&part[5]));
	if (!strcmp(mechanism, "CURVE") && zmq_msg_size(&part[6]) == GB_BOX_PK_BYTES) {
		const gb_department *d = gb_registry_find_department_by_box_key(
			z->reg, zmq_msg_data(&part[6]));
		if (d) {
			status = "200";
			text = "OK";
			user = d->id;
		} else {
			note_refusal(z, zmq_msg_data(&part[6]), now_ns);
		}
	}
reply:
	zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(z->sock, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
	zmq_send(z->sock, status, strlen(status), ZMQ_SNDMORE);
	zmq_send(z->sock, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(z->sock, user, strlen(user), ZMQ_SNDMORE);
	zmq_send(z->sock, "", 0, 0);
reply_skip:
	for (int i = 0; i < count; i++)
		zmq_msg_close(&part[i]);
}
