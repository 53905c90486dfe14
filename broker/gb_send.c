/* govbus broker sending; see gb_send.h.
 *
 * Trust: the routing id and the frame come from the broker's own parts;
 * the text of an Error may quote a peer's strings, which vsnprintf bounds
 * to GB_MAX_MESSAGE_LEN. */
#include "gb_send.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <zmq.h>

#include "gb_error.h"

int gb_send_router(void *router, const uint8_t *peer, size_t peer_len,
		   const gb_server_frame *frame)
{
	zmq_msg_t msg;
	size_t len = govbus__v1__server_frame__get_packed_size(frame);

	/* Pack first: once the routing id is sent, the body must follow, or
	 * the next message's body would go to this peer. */
	if (zmq_msg_init_size(&msg, len) != 0)
		return GB_ENOMEM;
	govbus__v1__server_frame__pack(frame, zmq_msg_data(&msg));
	if (zmq_send(router, peer, peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
		int err = zmq_errno(); /* before zmq_msg_close can change it */
		zmq_msg_close(&msg);
		/* A full queue (EAGAIN) is "try later"; only an unknown
		 * routing id (EHOSTUNREACH) means the peer is gone. */
		return err == EAGAIN ? GB_EUNAVAIL : GB_ECLOSED;
	}
	if (zmq_msg_send(&msg, router, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&msg);
		return GB_ECLOSED;
	}
	return 0;
}

int gb_send(const gb_sender *to, const uint8_t *peer, size_t peer_len,
	    const gb_server_frame *frame)
{
	return to->send(to->ctx, peer, peer_len, frame);
}

static void send_error_v(const gb_sender *to, const uint8_t *peer,
			 size_t peer_len, int err, uint64_t request_id,
			 uint64_t subscription_id, uint32_t *dups, size_t n,
			 const char *fmt, va_list ap)
	__attribute__((format(printf, 9, 0)));

static void send_error_v(const gb_sender *to, const uint8_t *peer,
			 size_t peer_len, int err, uint64_t request_id,
			 uint64_t subscription_id, uint32_t *dups, size_t n,
			 const char *fmt, va_list ap)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Error e = GOVBUS__V1__ERROR__INIT;
	char text[GB_MAX_MESSAGE_LEN];

	vsnprintf(text, sizeof text, fmt, ap);
	e.status = gb_error_status(err);
	e.message = text;
	e.request_id = request_id;
	e.subscription_id = subscription_id;
	e.n_duplicate_records = n;
	e.duplicate_records = dups;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_ERROR;
	f.error = &e;
	(void)gb_send(to, peer, peer_len, &f);
}

void gb_send_error(const gb_sender *to, const uint8_t *peer, size_t peer_len,
		   int err, uint64_t request_id, uint64_t subscription_id,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_error_v(to, peer, peer_len, err, request_id, subscription_id,
		     NULL, 0, fmt, ap);
	va_end(ap);
}

void gb_send_error_dups(const gb_sender *to, const uint8_t *peer,
			size_t peer_len, uint64_t request_id, uint32_t *dups,
			size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_error_v(to, peer, peer_len, GB_EDUPLICATE, request_id, 0, dups, n,
		     fmt, ap);
	va_end(ap);
}
