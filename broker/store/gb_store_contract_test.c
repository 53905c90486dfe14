/* The store's contract test: every case goes through gb_store.h only and
 * runs against each backend in contract_backends, so a backend that passes
 * keeps the guarantees the interface promises (gb_store.h). The cases are
 * in gb_store_contract_streams.c (appends, reads, seqs, cursors, dedupe,
 * concurrency), gb_store_contract_keys.c (epochs, wraps, units) and
 * gb_store_contract_audit.c (audit trail, checkpoints, policies, requests,
 * read-only opens). What only one engine has (LMDB's data file, map and
 * key size) is tested beside that backend (lmdb/gb_lmdb_*_test.c). */
#include <sodium.h>
#include <stdio.h>

#include "gb_store_contract.h"
#include "gb_store_test_util.h"
#include "gb_test.h"

static const struct st_backend *const contract_backends[] = {
	&gb_lmdb_contract_backend,
};

const struct st_backend *st_be;

int st_open_case(const char *name, gb_store **s)
{
	return st_be->open(name, s);
}

int main(void)
{
	int failures = 0;

	if (sodium_init() < 0)
		return 1;
	for (size_t i = 0; i < sizeof contract_backends / sizeof contract_backends[0];
	     i++) {
		st_be = contract_backends[i];
		fprintf(stderr, "contract: backend %s\n", st_be->name);
		if (st_be->setup() < 0) {
			CHECK(!"backend setup");
			continue;
		}
		/* Each part returns its file's failures so far. */
		failures = st_contract_streams() + st_contract_keys() +
			   st_contract_audit();
		st_be->teardown();
	}
	gb_test_failures += failures + st_failures();
	TEST_EXIT();
}
