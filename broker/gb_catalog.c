/* govbus catalog: one department's view of the registry; see gb_catalog.h.
 *
 * Trust: the registry snapshot is trusted (the loader validated it); the
 * department id is the one ZAP authenticated. Nothing here reads the clock:
 * time is the caller's now_ns. */
#include "gb_catalog.h"

#include <stdlib.h>
#include <string.h>

#include "gb_chain.h"
#include "gb_error.h"
#include "gb_policy.h"

/* The rights a catalog entry reports, in this order. */
static const gb_action catalog_actions[] = {
	GB_ACTION_PUBLISH, GB_ACTION_SUBSCRIBE, GB_ACTION_REPLAY,
	GB_ACTION_READ_CONTENT,
};
#define RIGHTS_MAX (sizeof catalog_actions / sizeof catalog_actions[0])

struct gb_catalog {
	Govbus__V1__Catalog msg;
	ProtobufCBinaryData *sets;    /* the registry's descriptor sets */
	Govbus__V1__CatalogEntry *entries;
	Govbus__V1__CatalogEntry **ptrs;
	char *(*rights)[RIGHTS_MAX];  /* per entry: names of its rights */
};

bool gb_catalog_lists(const gb_registry *reg, const gb_department *dept,
		      const gb_dataset *ds)
{
	(void)reg;
	if (!dept || !ds)
		return false;
	return ds->sharing != GB_SHARING_CLOSED || dept->role == GB_ROLE_AUDITOR ||
	       !strcmp(ds->owner, dept->id);
}

/* protobuf-c wants a string, never NULL; the registry uses NULL for
 * "not given". */
static char *text(const char *s)
{
	return (char *)(s ? s : "");
}

static void fill_entry(const gb_registry *reg, const gb_department *dept,
		       const gb_dataset *ds, int64_t now_ns,
		       Govbus__V1__CatalogEntry *e, char **rights)
{
	const gb_grant *g;

	govbus__v1__catalog_entry__init(e);
	e->id = text(ds->id);
	e->title = text(ds->title);
	e->description = text(ds->description);
	e->owner = text(ds->owner);
	e->sharing = text(gb_sharing_name(ds->sharing));
	e->conditions = text(ds->conditions);
	e->classification = text(gb_classification_name(ds->classification));
	e->update_frequency = text(ds->update_frequency);
	e->format = text(ds->format);
	e->schema = text(ds->schema); /* its message type, if it has one */
	e->contact = text(ds->contact);
	e->available_since = text(ds->available_since);
	e->rights = rights;
	for (size_t i = 0; i < RIGHTS_MAX; i++)
		if (gb_policy_decide(reg, dept->id, catalog_actions[i], ds->id,
				     now_ns).allowed)
			rights[e->n_rights++] =
				(char *)gb_action_name(catalog_actions[i]);
	e->grant_purpose = text(NULL);
	e->grant_legal_basis = text(NULL);
	e->history = text(NULL);
	g = gb_registry_find_grant(reg, ds->id, dept->id);
	if (g) {
		e->grant_purpose = text(g->purpose);
		e->grant_legal_basis = text(g->legal_basis);
		e->grant_expires_ns = (uint64_t)g->expires_ns;
		e->history = text(gb_history_name(g->history));
	}
}

int gb_catalog_build(const gb_registry *reg, const char *dept_id,
		     int64_t now_ns, gb_catalog **out)
{
	const gb_department *dept = gb_registry_find_department(reg, dept_id);
	size_t n = gb_registry_dataset_count(reg);
	size_t nsets = gb_registry_descriptor_set_count(reg);
	gb_catalog *c;

	*out = NULL;
	if (!dept)
		return GB_EAUTH;
	c = calloc(1, sizeof *c);
	if (!c)
		return GB_ENOMEM;
	c->entries = calloc(n ? n : 1, sizeof *c->entries);
	c->ptrs = calloc(n ? n : 1, sizeof *c->ptrs);
	c->rights = calloc(n ? n : 1, sizeof *c->rights);
	c->sets = calloc(nsets ? nsets : 1, sizeof *c->sets);
	if (!c->entries || !c->ptrs || !c->rights || !c->sets) {
		gb_catalog_destroy(&c);
		return GB_ENOMEM;
	}
	govbus__v1__catalog__init(&c->msg);
	for (size_t i = 0; i < n; i++) {
		const gb_dataset *ds = gb_registry_dataset_at(reg, i);
		size_t k = c->msg.n_datasets;

		if (!gb_catalog_lists(reg, dept, ds))
			continue;
		fill_entry(reg, dept, ds, now_ns, &c->entries[k], c->rights[k]);
		c->ptrs[k] = &c->entries[k];
		c->msg.n_datasets++;
	}
	c->msg.datasets = c->ptrs;
	/* Every set the config lists: agents check records and convert JSON
	 * with them. */
	for (size_t i = 0; i < nsets; i++)
		c->sets[i].data = (uint8_t *)gb_registry_descriptor_set_at(
			reg, i, &c->sets[i].len);
	c->msg.descriptor_sets = c->sets;
	c->msg.n_descriptor_sets = nsets;
	c->msg.policy_hash.data = (uint8_t *)gb_registry_hash(reg);
	c->msg.policy_hash.len = GB_HASH_BYTES;
	*out = c;
	return 0;
}

Govbus__V1__Catalog *gb_catalog_message(gb_catalog *c)
{
	return &c->msg;
}

void gb_catalog_destroy(gb_catalog **cp)
{
	gb_catalog *c;

	if (!cp || !*cp)
		return;
	c = *cp;
	free(c->entries);
	free(c->ptrs);
	free(c->rights);
	free(c->sets);
	free(c);
	*cp = NULL;
}
