/* One connection from an agent to the broker (DESIGN §13): a ZeroMQ DEALER
 * under CURVE with the department's key, the Hello/Welcome handshake, frames
 * sent and received without blocking, and the liveness bookkeeping — pings
 * when idle, the broker's silence, its instance. Internal to the library.
 *
 * It knows no frames beyond Hello, Welcome, Ping, Pong and the Error that
 * refuses a connection; what the other frames mean is the client's
 * business (gb_client.c), and so is what has to be sent again once a
 * connection is rebuilt.
 *
 * States: DOWN (no socket, or a rebuild is due) -> HELLO (a fresh socket,
 * Hello sent, waiting for Welcome) -> UP. UP goes back to DOWN when the
 * broker is silent for the timeout, a send cannot complete, or a Pong or
 * Welcome carries another broker instance; gb_conn_handshake() is then the
 * way back up. ZeroMQ's own reconnection is off (see gb_conn.c). */
#ifndef GB_CONN_H
#define GB_CONN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_codec.h"
#include "gb_keys.h"

typedef struct gb_conn gb_conn;

typedef struct gb_conn_params {
	const char *endpoint;         /* borrowed: outlives the connection */
	const uint8_t *broker_box_pk; /* borrowed, GB_BOX_PK_BYTES */
	const gb_identity *id;        /* borrowed: the department's keys */
	const char *agent_name;       /* sent in Hello (copied) */
	unsigned timeout_ms;          /* broker silence before a rebuild; also
					 how long a handshake keeps trying */
	unsigned ping_ms;             /* idle time before a Ping */
	/* Set by a signal handler: a handshake in progress returns
	 * GB_ECLOSED ("interrupted") and clears it. May be NULL. */
	volatile sig_atomic_t *interrupted;
} gb_conn_params;

/* Called with the Welcome that answers a Hello, before the connection
 * adopts it; a non-zero return ends the handshake with that error (the
 * callback states the reason with its own means). */
typedef int (*gb_conn_welcome_fn)(void *arg, const Govbus__V1__Welcome *w);

/* Set up a connection (no socket yet: call gb_conn_handshake()).
 * Returns 0; GB_EIO (libzmq without CURVE, no ZeroMQ context) or
 * GB_ENOMEM, with a sentence in `why`. */
int gb_conn_new(const gb_conn_params *p, gb_conn **out, char *why,
		size_t why_len);

/* Close the socket, letting queued frames leave for up to `linger_ms`,
 * and free. Accepts NULL and sets *k to NULL. */
void gb_conn_destroy(gb_conn **k, int linger_ms);

/* The sentence and wire status (the broker's, when it refused the
 * connection; else 0) of the last failure a gb_conn_ call returned. */
const char *gb_conn_error(const gb_conn *k);
unsigned gb_conn_error_status(const gb_conn *k);

/* Build a fresh socket and say Hello until a Welcome arrives, for at most
 * the timeout and not past `deadline_ms` (monotonic; -1: none). On success
 * the connection is UP; *restarted says whether the broker's instance
 * differs from the one seen before (false at the first connect).
 * @return 0; GB_ETIMEOUT (no Welcome in time); GB_ECLOSED (interrupted);
 *         the broker's refusal of the connection (GB_EAUTH...); GB_EPROTO (a
 *         frame that does not decode); GB_EIO / GB_EINVAL (socket setup);
 *         or what `on_welcome` returned. */
int gb_conn_handshake(gb_conn *k, int64_t deadline_ms,
		      gb_conn_welcome_fn on_welcome, void *arg,
		      bool *restarted);

/* True while the connection is UP. */
bool gb_conn_up(const gb_conn *k);

/* Mark the connection for a rebuild, with a phrase saying why (the first
 * reason given since the last handshake is kept). */
void gb_conn_schedule_rebuild(gb_conn *k, const char *reason);

/* Why the connection is being rebuilt ("" if it is not). */
const char *gb_conn_rebuild_reason(const gb_conn *k);

/* Send one encoded ClientFrame without blocking. Never fails: while the
 * connection is not UP the frame is dropped, and a send that cannot
 * complete schedules a rebuild; the client re-sends what matters after
 * the next handshake. */
void gb_conn_send(gb_conn *k, const uint8_t *buf, size_t len);

/* Receive one frame without blocking. Returns 1 with *out set (free it
 * with gb_codec_server_free), 0 when none is waiting, or GB_EPROTO when
 * the broker sent a frame that does not decode. */
int gb_conn_recv(gb_conn *k, gb_server_frame **out);

/* Note a Welcome or Pong that arrived while UP: another broker instance
 * schedules a rebuild; a Pong answering our latest Ping is recorded. */
void gb_conn_liveness(gb_conn *k, const gb_server_frame *frame);

/* Send a Ping; returns its nonce. */
uint64_t gb_conn_ping(gb_conn *k);

/* The highest Ping nonce the broker has answered. */
uint64_t gb_conn_pong(const gb_conn *k);

/* Schedule a rebuild when the broker has been silent for the timeout
 * since our first send it has not answered yet. Silence is measured from
 * that send, not from the last frame heard, so a caller that spent
 * minutes outside the library does not mistake its own absence for the
 * broker's. */
void gb_conn_check_silence(gb_conn *k, int64_t now_ms);

/* Send a Ping when nothing was sent for the ping interval. Returns when
 * the next Ping or silence check falls due (monotonic ms). */
int64_t gb_conn_keepalive(gb_conn *k, int64_t now_ms);

/* Wait up to `ms` for a frame to read. Returns 0 (ready, timed out or
 * interrupted by a signal: the caller's loop looks again) or GB_EIO with
 * a sentence when ZeroMQ's poll failed. */
int gb_conn_poll(gb_conn *k, long ms);

/* The largest frame the broker accepts (its Welcome's max_frame, at most
 * GB_MAX_FRAME). */
uint32_t gb_conn_max_frame(const gb_conn *k);

#endif
