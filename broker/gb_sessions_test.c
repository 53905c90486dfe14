/* Tests of gb_sessions: Hello starts a session, frames keep it alive,
 * silence for 30 s ends it; gb_sessions_each finds every session of one
 * department and no other; a routing id reused by another department
 * moves its session; touching with the wrong department does nothing. */
#include <stdint.h>
#include <string.h>

#include "gb_sessions.h"
#include "gb_test.h"

#define S 1000000000ull

struct seen {
	char peers[8][16];
	size_t n;
};

static void remember(void *ctx, const uint8_t *peer, size_t peer_len)
{
	struct seen *s = ctx;

	if (s->n < 8 && peer_len < sizeof s->peers[0]) {
		memcpy(s->peers[s->n], peer, peer_len);
		s->peers[s->n][peer_len] = '\0';
	}
	s->n++;
}

static struct seen of(const gb_sessions *s, const char *dept)
{
	struct seen seen;

	memset(&seen, 0, sizeof seen);
	gb_sessions_each(s, dept, remember, &seen);
	return seen;
}

#define P(x) (const uint8_t *)(x), strlen(x)

int main(void)
{
	gb_sessions *s = gb_sessions_new();
	struct seen seen;

	if (!s)
		return 1;
	seen = of(s, "tax");
	CHECK(seen.n == 0);

	gb_sessions_note(s, P("a"), "tax", 100 * S);
	gb_sessions_note(s, P("b"), "tax", 100 * S);
	gb_sessions_note(s, P("c"), "health", 100 * S);
	seen = of(s, "tax");
	CHECK(seen.n == 2);
	seen = of(s, "health");
	CHECK(seen.n == 1);
	CHECK_STR(seen.peers[0], "c");

	/* Frames keep "a" alive; "b" falls silent; a frame on "c" that claims
	 * another department does not count for it. */
	gb_sessions_touch(s, P("a"), "tax", 125 * S);
	gb_sessions_touch(s, P("c"), "tax", 125 * S);
	gb_sessions_expire(s, 130 * S); /* exactly 30 s: still there */
	seen = of(s, "tax");
	CHECK(seen.n == 2);
	gb_sessions_expire(s, 131 * S);
	seen = of(s, "tax");
	CHECK(seen.n == 1);
	CHECK_STR(seen.peers[0], "a");
	seen = of(s, "health");
	CHECK(seen.n == 0);

	/* A routing id that comes back as another department. */
	gb_sessions_note(s, P("a"), "social", 140 * S);
	seen = of(s, "tax");
	CHECK(seen.n == 0);
	seen = of(s, "social");
	CHECK(seen.n == 1);
	CHECK_STR(seen.peers[0], "a");

	gb_sessions_destroy(&s);
	CHECK(s == NULL);
	gb_sessions_destroy(&s);
	TEST_EXIT();
}
