/* govbus broker sessions; see gb_sessions.h.
 *
 * A list: there is one session per connected agent, and it is walked once
 * per frame (touch) and per push. */
#include "gb_sessions.h"

#include <stdlib.h>
#include <string.h>

#include "gb_broker_internal.h"
#include "gb_codec.h"

#define SESSION_IDLE_NS (30ull * 1000000000ull)

struct session {
	struct session *next;
	uint8_t peer[GB_PEER_ID_MAX];
	size_t peer_len;
	char dept[GB_MAX_ID_LEN + 1];
	uint64_t last_seen_ns;
};

struct gb_sessions {
	struct session *head;
};

gb_sessions *gb_sessions_new(void)
{
	return calloc(1, sizeof(gb_sessions));
}

void gb_sessions_destroy(gb_sessions **sp)
{
	if (!sp || !*sp)
		return;
	while ((*sp)->head) {
		struct session *x = (*sp)->head;
		(*sp)->head = x->next;
		free(x);
	}
	free(*sp);
	*sp = NULL;
}

void gb_sessions_note(gb_sessions *s, const uint8_t *peer, size_t peer_len,
		      const char *dept, uint64_t t)
{
	struct session *x;

	for (x = s->head; x; x = x->next)
		if (x->peer_len == peer_len && !memcmp(x->peer, peer, peer_len))
			break;
	if (!x) {
		x = calloc(1, sizeof *x);
		if (!x)
			return; /* pushes are a courtesy: agents also poll */
		memcpy(x->peer, peer, peer_len);
		x->peer_len = peer_len;
		x->next = s->head;
		s->head = x;
	}
	gb_copy_id(x->dept, sizeof x->dept, dept);
	x->last_seen_ns = t;
}

void gb_sessions_touch(gb_sessions *s, const uint8_t *peer, size_t peer_len,
		       const char *dept, uint64_t t)
{
	for (struct session *x = s->head; x; x = x->next)
		if (x->peer_len == peer_len && !memcmp(x->peer, peer, peer_len) &&
		    !strcmp(x->dept, dept))
			x->last_seen_ns = t;
}

void gb_sessions_expire(gb_sessions *s, uint64_t t)
{
	for (struct session **pp = &s->head; *pp;) {
		struct session *x = *pp;
		if (t - x->last_seen_ns > SESSION_IDLE_NS) {
			*pp = x->next;
			free(x);
		} else {
			pp = &x->next;
		}
	}
}

void gb_sessions_each(const gb_sessions *s, const char *dept,
		      gb_sessions_fn fn, void *ctx)
{
	for (const struct session *x = s->head; x; x = x->next)
		if (!strcmp(x->dept, dept))
			fn(ctx, x->peer, x->peer_len);
}
