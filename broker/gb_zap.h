/* govbus broker ZAP handler: who may finish the CURVE handshake (DESIGN
 * §2, ZeroMQ RFC 27).
 *
 * libzmq asks every CURVE handshake on the ROUTER over the REP socket
 * bound at inproc://zeromq.zap.01; the answer accepts a client whose box
 * key belongs to a department registered in the policy in force, naming
 * that department as the connection's User-Id, and refuses every other
 * key, mechanism and malformed request. Refused keys are logged and
 * reported at most ZAP_REFUSALS_PER_S a second (anyone can try keys before
 * authenticating, so a handshake flood must not fill the disk); the rest
 * are counted and the count logged in the next second that has a refusal.
 *
 * Threads: the I/O thread. */
#ifndef GB_ZAP_H
#define GB_ZAP_H

#include <stdint.h>

#include "gb_config.h"

typedef struct gb_zap gb_zap;

/* Told of each refused key that is logged, as its text form (Z85). */
typedef void (*gb_zap_refused_fn)(void *ctx, const char *key_text);

/* Bind the ZAP socket in `zmq_ctx`; do this before any CURVE socket of the
 * context accepts connections. Returns 0, GB_ENOMEM, or GB_EIO (the
 * socket, errno from ZeroMQ). */
int gb_zap_new(void *zmq_ctx, gb_zap_refused_fn refused, void *refused_ctx,
	       gb_zap **out);

/* Close the socket; accepts NULL and sets *z to NULL. */
void gb_zap_destroy(gb_zap **z);

/* The registry the answers follow from now on (at start and on each
 * reload); borrowed until the next call. */
void gb_zap_policy_loaded(gb_zap *z, const gb_registry *reg);

/* The socket to poll (ZMQ_POLLIN) for handshakes to answer. */
void *gb_zap_socket(const gb_zap *z);

/* Read and answer one ZAP request; `now_ns` paces the refusal log. */
void gb_zap_handle(gb_zap *z, uint64_t now_ns);

#endif
