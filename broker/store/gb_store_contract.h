/* The store's contract test (gb_store_contract_test.c and its three
 * parts) runs every case against each registered backend, through
 * gb_store.h only. A backend registers by defining one struct st_backend
 * (beside its own code, e.g. lmdb/gb_lmdb_contract.c) and adding it to
 * contract_backends in gb_store_contract_test.c. */
#ifndef GB_STORE_CONTRACT_H
#define GB_STORE_CONTRACT_H

#include <stddef.h>

#include "gb_store.h"

struct st_backend {
	const char *name;
	/* Before and after all cases: make and remove whatever the backend's
	 * stores live in. setup returns 0 or -1 (the test then fails). */
	int (*setup)(void);
	void (*teardown)(void);
	/* Open the store of test case `name`, creating it empty the first
	 * time; opening it again after gb_store_close gives the same store
	 * (the persistence cases rely on it). */
	int (*open)(const char *name, gb_store **out);
	/* A read-only view of the store of `name`, as an auditor's export
	 * opens it. */
	int (*open_readonly)(const char *name, gb_store **out);
	/* Entries of the record-id dedupe index of the closed store `name`,
	 * with 0, or -1 when they cannot be counted or its parts disagree;
	 * NULL when the backend cannot tell (those checks are skipped). */
	int (*dedupe_entries)(const char *name, size_t *entries);
};

extern const struct st_backend gb_lmdb_contract_backend;

/* The backend the cases run against now, and opening a case's store in
 * it. */
extern const struct st_backend *st_be;
int st_open_case(const char *name, gb_store **s);

/* The parts of the contract; each runs its cases against st_be and
 * returns the failed checks of its file so far. */
int st_contract_streams(void);
int st_contract_keys(void);
int st_contract_audit(void);

#endif
