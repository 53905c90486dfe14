/* Minimal test macros: each failure prints the expression, the values and,
 * for govbus calls, the error text; the test binary exits non-zero if any
 * check failed. */
#ifndef GB_TEST_H
#define GB_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"

static int gb_test_failures;

#define CHECK(expr)                                                          \
	do {                                                                 \
		if (!(expr)) {                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #expr);                            \
			gb_test_failures++;                                  \
		}                                                            \
	} while (0)

/* Check that a govbus call returns `want` (0 or a GB_E... code). */
#define CHECK_RC(call, want)                                                 \
	do {                                                                 \
		int rc_ = (call);                                            \
		if (rc_ != (want)) {                                         \
			fprintf(stderr,                                      \
				"%s:%d: %s returned %d (%s), wanted %d (%s)\n", \
				__FILE__, __LINE__, #call, rc_,              \
				gb_strerror(rc_), (want), gb_strerror(want)); \
			gb_test_failures++;                                  \
		}                                                            \
	} while (0)

#define CHECK_STR(got, want)                                                 \
	do {                                                                 \
		const char *g_ = (got), *w_ = (want);                        \
		if (!g_ || !w_ || strcmp(g_, w_) != 0) {                     \
			fprintf(stderr, "%s:%d: %s is \"%s\", wanted \"%s\"\n", \
				__FILE__, __LINE__, #got, g_ ? g_ : "(null)", \
				w_ ? w_ : "(null)");                         \
			gb_test_failures++;                                  \
		}                                                            \
	} while (0)

/* Check that `hay` contains `needle`. */
#define CHECK_CONTAINS(hay, needle)                                          \
	do {                                                                 \
		const char *h_ = (hay), *n_ = (needle);                      \
		if (!h_ || !strstr(h_, n_)) {                                \
			fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", \
				__FILE__, __LINE__, h_ ? h_ : "(null)", n_); \
			gb_test_failures++;                                  \
		}                                                            \
	} while (0)

/* Remove a test's temporary directory tree (made with mkdtemp), saying so
 * when it cannot. */
static inline void gb_test_remove_dir(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", path);
}

#define TEST_EXIT()                                                          \
	do {                                                                 \
		if (gb_test_failures)                                        \
			fprintf(stderr, "%d check(s) failed\n", gb_test_failures); \
		return gb_test_failures ? 1 : 0;                             \
	} while (0)

#endif
