/* govbus broker sessions: the connections that said Hello, by routing id
 * and department, so the broker can push key work (a retired epoch to
 * replace, wraps to add) to an owner's agent while it is connected.
 *
 * A session lives while frames arrive: every frame touches it, and one
 * silent for SESSION_IDLE_NS is forgotten by gb_sessions_expire. Pushes
 * are a courtesy (agents also ask at every publish), so running out of
 * memory for a session only loses that courtesy.
 *
 * Threads: the I/O thread. */
#ifndef GB_SESSIONS_H
#define GB_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

typedef struct gb_sessions gb_sessions;

/* An empty table; NULL when out of memory. */
gb_sessions *gb_sessions_new(void);

/* Free every session; accepts NULL and sets *s to NULL. */
void gb_sessions_destroy(gb_sessions **s);

/* `peer` said Hello as `dept` at `t`: start its session, or restart it
 * (a routing id can come back as another department). */
void gb_sessions_note(gb_sessions *s, const uint8_t *peer, size_t peer_len,
		      const char *dept, uint64_t t);

/* A frame from `peer` as `dept` at `t` keeps its session alive. */
void gb_sessions_touch(gb_sessions *s, const uint8_t *peer, size_t peer_len,
		       const char *dept, uint64_t t);

/* Forget sessions silent for more than SESSION_IDLE_NS at `t`. */
void gb_sessions_expire(gb_sessions *s, uint64_t t);

/* Call fn(ctx, peer, peer_len) for every session of `dept`. */
typedef void (*gb_sessions_fn)(void *ctx, const uint8_t *peer,
			       size_t peer_len);
void gb_sessions_each(const gb_sessions *s, const char *dept,
		      gb_sessions_fn fn, void *ctx);

#endif
