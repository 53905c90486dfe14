/* govbus broker log and clock; see gb_log.h. */
#include "gb_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void gb_log(const char *fmt, ...)
{
	va_list ap;

	fputs("govbus-broker: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t gb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
