/* govbus catalog: the shared-data catalog as one department sees it
 * (DESIGN §6).
 *
 * Which datasets a department is shown, and with what, is a pure function
 * of (registry snapshot, department, time), like the policy it reports:
 *   - its own datasets, with every right;
 *   - every open dataset;
 *   - every conditional dataset, whether or not it holds a grant: without
 *     one the entry carries no rights, which is how a department finds out
 *     what it may ask for (`govbus-agent request`); with one, the grant's
 *     purpose, legal basis, expiry and history come along;
 *   - closed datasets of other departments are not listed at all;
 *   - auditors see every dataset.
 * Rights are gb_policy_decide() of publish, subscribe, replay and
 * read-content at `now`, so the catalog never promises what the broker
 * would refuse.
 *
 * The message borrows every string from the registry: use it (send it)
 * while the snapshot lives. */
#ifndef GB_CATALOG_H
#define GB_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "gb_codec.h"
#include "gb_config.h"

typedef struct gb_catalog gb_catalog;

/* True when `dept` is shown `ds` in its catalog (rules above). */
bool gb_catalog_lists(const gb_registry *reg, const gb_department *dept,
		      const gb_dataset *ds);

/* Build the catalog of department `dept` at `now_ns`, in registry order.
 * Returns 0, GB_EAUTH (unknown department) or GB_ENOMEM. */
int gb_catalog_build(const gb_registry *reg, const char *dept, int64_t now_ns,
		     gb_catalog **out);

/* The Catalog message (request_id 0: the caller sets it on its copy). */
Govbus__V1__Catalog *gb_catalog_message(gb_catalog *c);

/* Free; accepts NULL and sets *c to NULL. */
void gb_catalog_destroy(gb_catalog **c);

#endif
