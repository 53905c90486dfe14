/* govbus broker log and clock: every part of govbus-broker writes its log
 * through gb_log (one line on stderr, prefixed "govbus-broker: ", which is
 * what operators and the integration tests read) and takes the time from
 * gb_now_ns, this host's wall clock. Times that arrive in frames are never
 * used for ordering or for policy decisions; this clock is. */
#ifndef GB_LOG_H
#define GB_LOG_H

#include <stdint.h>

/* Write one log line: the prefix, the formatted text, a newline. */
void gb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* This host's wall clock (CLOCK_REALTIME) in nanoseconds since 1970. */
uint64_t gb_now_ns(void);

#endif
