/* Unit tests of the error table: every code has its own name, a text and
 * a status, and statuses map back to a code of the same class. */
#include <string.h>

#include "gb_error.h"
#include "gb_test.h"

int main(void)
{
	char seen[64][16];
	int n = 0;

	CHECK_STR(gb_error_name(GB_OK), "OK");
	CHECK_STR(gb_error_name(GB_EPERM), "EPERM");
	CHECK_STR(gb_error_name(GB_ETOOBIG), "ETOOBIG");
	CHECK_STR(gb_error_name(-999), "EUNKNOWN");
	CHECK(gb_error_status(-999) == 500);
	for (int code = GB_EINVAL; code >= GB_EDUPLICATE; code--) {
		const char *name = gb_error_name(code);
		unsigned status = gb_error_status(code);

		CHECK(name[0] == 'E' && strcmp(name, "EUNKNOWN") != 0);
		CHECK(strcmp(gb_strerror(code), "unknown error") != 0);
		CHECK(status >= 400 && status <= 599);
		CHECK(gb_error_status(gb_error_from_status(status)) == status);
		for (int i = 0; i < n; i++)
			CHECK(strcmp(seen[i], name) != 0);
		if (n < 64)
			snprintf(seen[n++], sizeof seen[0], "%s", name);
	}
	TEST_EXIT();
}
