/* The LMDB backend in the store's contract test (gb_store_contract.h): a
 * store per test case in its own data dir under one mkdtemp root. */
#include "gb_lmdb_raw.h"
#include "gb_store_contract.h"
#include "gb_store_test_util.h"

static int lmdb_setup(void)
{
	return st_root_init("gb_store_contract") ? 0 : -1;
}

static void lmdb_teardown(void)
{
	st_root_remove();
}

static int lmdb_open(const char *name, gb_store **out)
{
	gb_store_options opt = {0};
	char dir[160];

	st_case_dir(dir, sizeof dir, name);
	opt.backend = "lmdb";
	opt.lmdb.dir = dir;
	return gb_store_open_with(&opt, out);
}

static int lmdb_open_readonly(const char *name, gb_store **out)
{
	gb_store_options opt = {0};
	char dir[160];

	st_case_dir(dir, sizeof dir, name);
	opt.backend = "lmdb";
	opt.readonly = true;
	opt.lmdb.dir = dir;
	return gb_store_open_with(&opt, out);
}

/* The dedupe db and its age index hold one entry per live tag each. */
static int lmdb_dedupe_entries(const char *name, size_t *entries)
{
	char dir[160];
	size_t ages;

	st_case_dir(dir, sizeof dir, name);
	raw_dedupe_counts(dir, entries, &ages);
	return *entries != SIZE_MAX && *entries == ages ? 0 : -1;
}

const struct st_backend gb_lmdb_contract_backend = {
	.name = "lmdb",
	.setup = lmdb_setup,
	.teardown = lmdb_teardown,
	.open = lmdb_open,
	.open_readonly = lmdb_open_readonly,
	.dedupe_entries = lmdb_dedupe_entries,
};
