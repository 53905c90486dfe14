/* Tests for gb_start_parse, the --from grammar: earliest, latest, decimal
 * offsets (with overflow), RFC 3339 UTC times (fractions, Z/+00:00,
 * calendar checks) and refusals of everything else. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gb_test.h"
#include "govbus.h"

static void ok(const char *text, gb_start_kind kind, uint64_t value)
{
	gb_start s = {GB_START_LATEST, 12345};
	char why[256] = "";

	CHECK_RC(gb_start_parse(text, &s, why, sizeof why), 0);
	if (s.kind != kind || s.value != value) {
		fprintf(stderr, "  \"%s\": got kind %d value %llu, wanted %d %llu\n",
			text, (int)s.kind, (unsigned long long)s.value,
			(int)kind, (unsigned long long)value);
		CHECK(s.kind == kind && s.value == value);
	}
}

static void bad(const char *text, const char *why_part)
{
	gb_start s;
	char why[256] = "";

	CHECK_RC(gb_start_parse(text, &s, why, sizeof why), GB_EINVAL);
	CHECK_CONTAINS(why, why_part);
}

int main(void)
{
	ok("earliest", GB_START_EARLIEST, 0);
	ok("latest", GB_START_LATEST, 0);
	ok("0", GB_START_OFFSET, 0);
	ok("42", GB_START_OFFSET, 42);
	ok("18446744073709551615", GB_START_OFFSET, UINT64_MAX);
	bad("18446744073709551616", "out of range");

	/* date -u -d 2026-11-23T10:00:00Z +%s = 1795428000 */
	ok("2026-11-23T10:00:00Z", GB_START_TIME, 1795428000ull * 1000000000ull);
	ok("2026-11-23T10:00:00+00:00", GB_START_TIME,
	   1795428000ull * 1000000000ull);
	ok("2026-11-23t10:00:00z", GB_START_TIME, 1795428000ull * 1000000000ull);
	ok("2026-11-23T10:00:00.5Z", GB_START_TIME,
	   1795428000ull * 1000000000ull + 500000000ull);
	ok("2026-11-23T10:00:00.123456789Z", GB_START_TIME,
	   1795428000ull * 1000000000ull + 123456789ull);
	ok("2026-11-23T10:00:00.1234567891Z", GB_START_TIME, /* ns precision */
	   1795428000ull * 1000000000ull + 123456789ull);
	ok("1970-01-01T00:00:00Z", GB_START_TIME, 0);
	ok("2028-02-29T00:00:00Z", GB_START_TIME, 1835395200ull * 1000000000ull);

	bad("", "empty");
	bad("Earliest", "not earliest, latest");
	bad("-5", "not earliest, latest");
	bad("+5", "not earliest, latest");
	bad("12a", "not earliest, latest");
	bad("2026-11-23", "not earliest, latest");       /* a date alone */
	bad("2026-11-23T10:00:00", "not an RFC 3339");   /* no zone */
	bad("2026-11-23T10:00:00+02:00", "not an RFC 3339"); /* not UTC */
	bad("2026-11-23T10:00Z", "not an RFC 3339");
	bad("2026-13-01T00:00:00Z", "not an RFC 3339");
	bad("2027-02-29T00:00:00Z", "not an RFC 3339");  /* not a leap year */
	bad("2026-04-31T00:00:00Z", "not an RFC 3339");
	bad("2026-11-23T24:00:00Z", "not an RFC 3339");
	bad("2026-11-23T10:00:00.Z", "not an RFC 3339");
	bad("1969-12-31T23:59:59Z", "not an RFC 3339");
	bad("2026-11-23T10:00:00Zjunk", "not an RFC 3339");
	TEST_EXIT();
}
