/* Dataset keys of one client; see gb_keyring.h.
 *
 * Trust: wraps come from the broker and are untrusted; gb_keywrap_open
 * checks them (signature, fields, commitment) before a key is kept, and a
 * key that fails is wiped with its region. The table of entries holds only
 * public facts (dataset ids, epochs); the keys themselves live in their own
 * guarded regions. */
#include "gb_keyring.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_codec.h"
#include "gb_error.h"

struct entry {
	char dataset[GB_MAX_ID_LEN + 1];
	uint32_t epoch;
	uint8_t *key;                 /* sodium_malloc, PROT_NONE unless borrowed */
	unsigned borrows;
};

struct gb_keyring {
	struct entry *e;
	size_t n, cap;
};

gb_keyring *gb_keyring_new(void)
{
	return calloc(1, sizeof(gb_keyring));
}

void gb_keyring_destroy(gb_keyring **krp)
{
	gb_keyring *kr;

	if (!krp || !*krp)
		return;
	kr = *krp;
	for (size_t i = 0; i < kr->n; i++)
		sodium_free(kr->e[i].key); /* wipes, whatever its protection */
	free(kr->e);
	free(kr);
	*krp = NULL;
}

static struct entry *find(const gb_keyring *kr, const char *dataset,
			  uint32_t epoch)
{
	for (size_t i = 0; i < kr->n; i++)
		if (kr->e[i].epoch == epoch && !strcmp(kr->e[i].dataset, dataset))
			return &kr->e[i];
	return NULL;
}

/* Reserve a writable region for (dataset, epoch). The caller fills it and
 * then calls entry_keep() or entry_drop(). */
static int entry_new(gb_keyring *kr, const char *dataset, uint32_t epoch,
		     struct entry **out)
{
	struct entry *e;

	*out = NULL;
	if (epoch == 0 || !gb_id_valid(dataset))
		return GB_EINVAL;
	if (find(kr, dataset, epoch))
		return GB_ECONFLICT;
	if (kr->n == kr->cap) {
		size_t cap = kr->cap ? kr->cap * 2 : 8;
		struct entry *ne = realloc(kr->e, cap * sizeof *ne);
		if (!ne)
			return GB_ENOMEM;
		kr->e = ne;
		kr->cap = cap;
	}
	e = &kr->e[kr->n];
	memset(e, 0, sizeof *e);
	e->key = sodium_malloc(GB_DATASET_KEY_BYTES);
	if (!e->key)
		return GB_ENOMEM;
	snprintf(e->dataset, sizeof e->dataset, "%s", dataset);
	e->epoch = epoch;
	*out = e;
	return 0;
}

static void entry_keep(gb_keyring *kr, struct entry *e)
{
	sodium_mprotect_noaccess(e->key);
	kr->n++;
}

static void entry_drop(struct entry *e)
{
	sodium_free(e->key);
	memset(e, 0, sizeof *e);
}

int gb_keyring_generate(gb_keyring *kr, const char *dataset, uint32_t epoch)
{
	struct entry *e;
	int rc = entry_new(kr, dataset, epoch, &e);

	if (rc != 0)
		return rc;
	randombytes_buf(e->key, GB_DATASET_KEY_BYTES);
	entry_keep(kr, e);
	return 0;
}

int gb_keyring_open_wrap(gb_keyring *kr, const uint8_t *wrap, size_t len,
			 const char *dataset, uint32_t epoch,
			 const char *recipient, const uint8_t *owner_sign_pk,
			 const uint8_t *box_pk, const uint8_t *box_sk,
			 gb_keywrap_info *info, char *why, size_t why_len)
{
	gb_keywrap_info local;
	struct entry *e;
	int rc = entry_new(kr, dataset, epoch, &e);

	if (rc != 0)
		return rc;
	rc = gb_keywrap_open(wrap, len, dataset, epoch, recipient,
			     owner_sign_pk, box_pk, box_sk, e->key,
			     info ? info : &local, why, why_len);
	if (rc != 0) {
		entry_drop(e);
		return rc;
	}
	entry_keep(kr, e);
	return 0;
}

bool gb_keyring_has(const gb_keyring *kr, const char *dataset, uint32_t epoch)
{
	return find(kr, dataset, epoch) != NULL;
}

const uint8_t *gb_keyring_borrow(gb_keyring *kr, const char *dataset,
				 uint32_t epoch)
{
	struct entry *e = find(kr, dataset, epoch);

	if (!e)
		return NULL;
	if (e->borrows++ == 0)
		sodium_mprotect_readonly(e->key);
	return e->key;
}

void gb_keyring_release(gb_keyring *kr, const uint8_t *key)
{
	for (size_t i = 0; key && i < kr->n; i++) {
		struct entry *e = &kr->e[i];
		if (e->key != key || e->borrows == 0)
			continue;
		if (--e->borrows == 0)
			sodium_mprotect_noaccess(e->key);
		return;
	}
}

void gb_keyring_forget(gb_keyring *kr, const char *dataset, uint32_t epoch)
{
	struct entry *e = find(kr, dataset, epoch);

	if (!e || e->borrows)
		return;
	sodium_free(e->key);
	*e = kr->e[--kr->n];
}

size_t gb_keyring_count(const gb_keyring *kr)
{
	return kr->n;
}
