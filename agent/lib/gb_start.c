/* Start positions of a subscription: gb_start_parse() reads the --from
 * grammar (earliest, latest, a decimal offset, an RFC 3339 UTC time) into
 * a gb_start (govbus.h).
 *
 * Trust: the text comes from a command line or a caller's input; every
 * field is bounded and checked (digits, ranges, the calendar, overflow of
 * offsets and of nanoseconds) before it is used, and a refusal names what
 * was wrong. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "govbus.h"

/* Parse exactly `n` digits at *p into *out and advance. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SS[.frac](Z|+00:00), 't'/'z' too. */
static bool parse_time(const char *s, uint64_t *ns)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec;
	uint64_t frac = 0, scale = 100000000;
	struct tm tm = {0};
	time_t t;
	const char *p = s;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
	    *p++ != '-' || !digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
		return false;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) ||
	    *p++ != ':' || !digits(&p, 2, &sec))
		return false;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		for (; isdigit((unsigned char)*p); p++) {
			frac += (uint64_t)(*p - '0') * scale;
			scale /= 10; /* digits past nanoseconds are dropped */
		}
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "z") != 0 &&
	    strcmp(p, "+00:00") != 0)
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
	    sec > 59)
		return false;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t < 0 || (uint64_t)t > UINT64_MAX / 1000000000ull - 1)
		return false;
	*ns = (uint64_t)t * 1000000000ull + frac;
	return true;
}

int gb_start_parse(const char *text, gb_start *out, char *why, size_t why_len)
{
	if (!text || !*text)
		return gb_why(why, why_len, GB_EINVAL, "an empty start position");
	if (!strcmp(text, "earliest")) {
		out->kind = GB_START_EARLIEST;
		out->value = 0;
		return 0;
	}
	if (!strcmp(text, "latest")) {
		out->kind = GB_START_LATEST;
		out->value = 0;
		return 0;
	}
	if (strspn(text, "0123456789") == strlen(text)) {
		uint64_t v = 0;
		for (const char *p = text; *p; p++) {
			unsigned dgt = (unsigned)(*p - '0');
			if (v > (UINT64_MAX - dgt) / 10)
				return gb_why(why, why_len, GB_EINVAL,
						"offset %.40s is out of range",
						text);
			v = v * 10 + dgt;
		}
		out->kind = GB_START_OFFSET;
		out->value = v;
		return 0;
	}
	if (strlen(text) > 10 && strspn(text, "0123456789") == 4 &&
	    text[4] == '-') {
		uint64_t ns;
		if (!parse_time(text, &ns))
			return gb_why(why, why_len, GB_EINVAL,
					"\"%.64s\" is not an RFC 3339 UTC time "
					"such as 2026-11-23T10:00:00Z",
					text);
		out->kind = GB_START_TIME;
		out->value = ns;
		return 0;
	}
	return gb_why(why, why_len, GB_EINVAL,
			"\"%.64s\" is not earliest, latest, an offset or an "
			"RFC 3339 UTC time such as 2026-11-23T10:00:00Z",
			text);
}
