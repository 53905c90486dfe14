/* gb_rawread: what a department could read from a raw copy of a broker's
 * data directory with nothing but its own key file — the revocation test's
 * "security officer" view (DESIGN §1, §5).
 *
 *   gb_rawread --data DIR --dataset D --dept ID --key ID.key
 *              --owner-sign-key BASE64 [--print]
 *
 * Opens DIR with gb_store_open, which may write to it: give it a copy,
 * taken while no broker writes to the original. Reads every batch of D, and for each key epoch tries to
 * recover the key the way an agent would: the wrap stored for ID
 * (gb_store_wrap_get), opened with ID's own box key and checked against
 * the owner's signing key (gb_keywrap_open); then decrypts each batch
 * (gb_envelope_open). Prints one line per epoch, in order of appearance:
 *
 *   epoch=1 batches=2 records=10 decrypted=10
 *   epoch=2 batches=1 records=5 decrypted=0 why=no key for epoch 2
 *
 * and with --print every decrypted record as "OFFSET PAYLOAD". Exits 0
 * when the log could be read, whatever could be decrypted (tests judge the
 * lines), 2 on usage or open errors.
 *
 * Trust: the data directory is evidence, not input to believe: every
 * batch and wrap goes through the same checks as in an agent. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "gb_envelope.h"
#include "gb_error.h"
#include "gb_keys.h"
#include "gb_keywrap.h"
#include "gb_store.h"

#define MAX_EPOCHS 256

static const char usage[] =
	"usage: gb_rawread --data DIR --dataset D --dept ID --key ID.key\n"
	"                  --owner-sign-key BASE64 [--print]\n";

struct epoch_stat {
	uint32_t epoch;
	uint64_t batches, records, decrypted;
	bool key_tried;
	uint8_t *key;                 /* sodium_malloc, NULL: none */
	char why[256];                /* why nothing decrypts, if so */
};

struct reader {
	gb_store *store;
	const char *dataset, *dept;
	const gb_identity *id;
	uint8_t owner_pk[GB_SIGN_PK_BYTES];
	bool print;
	struct epoch_stat ep[MAX_EPOCHS];
	size_t n;
};

static struct epoch_stat *epoch_of(struct reader *r, uint32_t epoch)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->ep[i].epoch == epoch)
			return &r->ep[i];
	if (r->n == MAX_EPOCHS)
		return NULL;
	memset(&r->ep[r->n], 0, sizeof r->ep[r->n]);
	r->ep[r->n].epoch = epoch;
	return &r->ep[r->n++];
}

/* Recover this department's key of one epoch from the stored wrap. */
static void recover_key(struct reader *r, struct epoch_stat *e)
{
	uint8_t *wrap = NULL;
	size_t len = 0;
	gb_keywrap_info info;
	int rc;

	e->key_tried = true;
	if (e->epoch == 0)
		return; /* clear: no key needed */
	rc = gb_store_wrap_get(r->store, r->dataset, e->epoch, r->dept, &wrap,
			       &len);
	if (rc != 0) {
		snprintf(e->why, sizeof e->why, "no key for epoch %" PRIu32
			 " (%s holds no wrap of it)",
			 e->epoch, r->dept);
		return;
	}
	e->key = sodium_malloc(GB_DATASET_KEY_BYTES);
	if (!e->key ||
	    gb_keywrap_open(wrap, len, r->dataset, e->epoch, r->dept,
			    r->owner_pk, gb_identity_box_pk(r->id),
			    gb_identity_box_sk(r->id), e->key, &info, e->why,
			    sizeof e->why) != 0) {
		sodium_free(e->key);
		e->key = NULL;
	}
	free(wrap);
}

static int visit(void *ctx, const gb_stored_batch *b)
{
	struct reader *r = ctx;
	Govbus__V1__RecordList *list = NULL;
	gb_envelope *env = NULL;
	struct epoch_stat *e;
	char why[200];

	if (gb_envelope_parse(b->signed_batch, b->signed_batch_len, &env, why,
			      sizeof why) != 0) {
		printf("offset=%" PRIu64 " unreadable: %s\n", b->base_offset, why);
		return 0;
	}
	e = epoch_of(r, gb_envelope_header(env)->key_epoch);
	if (!e) {
		gb_envelope_destroy(&env);
		return GB_ETOOBIG;
	}
	e->batches++;
	e->records += b->record_count;
	if (!e->key_tried)
		recover_key(r, e);
	if (gb_envelope_verify(env, r->owner_pk) != 0) {
		snprintf(e->why, sizeof e->why, "a batch is not signed by the "
			 "owner");
	} else if (gb_envelope_open(env, e->key, &list, why, sizeof why) == 0) {
		e->decrypted += list->n_records;
		for (size_t i = 0; r->print && i < list->n_records; i++)
			printf("%" PRIu64 " %.*s\n", b->base_offset + i,
			       (int)list->records[i]->payload.len,
			       (const char *)list->records[i]->payload.data);
		govbus__v1__record_list__free_unpacked(list, NULL);
	} else if (!e->why[0]) {
		snprintf(e->why, sizeof e->why, "%s", why);
	}
	gb_envelope_destroy(&env);
	return 0;
}

int main(int argc, char **argv)
{
	const char *data = NULL, *key = NULL, *owner = NULL;
	struct reader r = {0};
	gb_identity *id = NULL;
	char why[512];
	int rc, status = 2;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--print")) {
			r.print = true;
			continue;
		}
		if (!v) {
			fputs(usage, stderr);
			return 2;
		}
		if (!strcmp(a, "--data"))
			data = v;
		else if (!strcmp(a, "--dataset"))
			r.dataset = v;
		else if (!strcmp(a, "--dept"))
			r.dept = v;
		else if (!strcmp(a, "--key"))
			key = v;
		else if (!strcmp(a, "--owner-sign-key"))
			owner = v;
		else {
			fprintf(stderr, "gb_rawread: unexpected '%.40s'\n%s", a,
				usage);
			return 2;
		}
		i++;
	}
	if (!data || !r.dataset || !r.dept || !key || !owner) {
		fputs(usage, stderr);
		return 2;
	}
	if (sodium_init() < 0 || gb_key_decode_sign(owner, r.owner_pk) != 0) {
		fprintf(stderr, "gb_rawread: bad --owner-sign-key\n");
		return 2;
	}
	if (gb_identity_load(key, &id, why, sizeof why) != 0) {
		fprintf(stderr, "gb_rawread: %s\n", why);
		return 2;
	}
	r.id = id;
	/* Not gb_store_open_readonly: it does not open the wraps database. */
	rc = gb_store_open(data, 0, &r.store);
	if (rc != 0) {
		fprintf(stderr, "gb_rawread: cannot open %s: %s\n", data,
			gb_strerror(rc));
		goto out;
	}
	rc = gb_store_read(r.store, r.dataset, 0, SIZE_MAX, visit, &r);
	if (rc < 0) {
		fprintf(stderr, "gb_rawread: reading %s: %s\n", r.dataset,
			gb_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < r.n; i++) {
		const struct epoch_stat *e = &r.ep[i];
		printf("epoch=%" PRIu32 " batches=%" PRIu64 " records=%" PRIu64
		       " decrypted=%" PRIu64 "%s%s\n",
		       e->epoch, e->batches, e->records, e->decrypted,
		       e->why[0] ? " why=" : "", e->why);
	}
	status = 0;
out:
	for (size_t i = 0; i < r.n; i++)
		sodium_free(r.ep[i].key);
	gb_store_close(&r.store);
	gb_identity_destroy(&id);
	return status;
}
