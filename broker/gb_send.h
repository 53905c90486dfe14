/* govbus broker sending: one ServerFrame to one peer, and the Error frame
 * every refusal sends (DESIGN §4: a status code grouped by class and one
 * sentence).
 *
 * A part that answers peers holds a gb_sender: in the broker it is the
 * ROUTER socket (gb_send_router), in unit tests a recorder. Sends never
 * block: the ROUTER has ZMQ_ROUTER_MANDATORY, so a full queue and a gone
 * peer are told apart instead of being dropped silently. */
#ifndef GB_SEND_H
#define GB_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "gb_codec.h"

/* Send `frame` to the connection with routing id `peer`. Returns 0,
 * GB_EUNAVAIL when the peer's queue is full (try later), GB_ECLOSED when
 * the peer is gone, GB_ENOMEM. */
typedef int (*gb_send_fn)(void *ctx, const uint8_t *peer, size_t peer_len,
			  const gb_server_frame *frame);

typedef struct gb_sender {
	gb_send_fn send;
	void *ctx;
} gb_sender;

/* The gb_send_fn of a ROUTER socket: `router` is the socket. */
int gb_send_router(void *router, const uint8_t *peer, size_t peer_len,
		   const gb_server_frame *frame);

/* Send `frame` through `to`; see gb_send_fn. */
int gb_send(const gb_sender *to, const uint8_t *peer, size_t peer_len,
	    const gb_server_frame *frame);

/* Send an Error: the wire status of `err` and the formatted sentence
 * (truncated to GB_MAX_MESSAGE_LEN); `request_id` and `subscription_id`
 * (0: none) tie it to a request or end that subscription. Best effort: a
 * peer that cannot take it is not told. */
void gb_send_error(const gb_sender *to, const uint8_t *peer, size_t peer_len,
		   int err, uint64_t request_id, uint64_t subscription_id,
		   const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* A 409 (GB_EDUPLICATE) to publish `request_id` naming, in `dups` (n of
 * them), the records stored before (dedupe): the publisher drops them and
 * sends the rest under the same seq. */
void gb_send_error_dups(const gb_sender *to, const uint8_t *peer,
			size_t peer_len, uint64_t request_id, uint32_t *dups,
			size_t n, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

#endif
