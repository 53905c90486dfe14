/* govbus-broker admin listings:
 *
 *   govbus-broker --config FILE registry   the whole registry of FILE:
 *                                          departments, datasets with all
 *                                          their catalog metadata, grants,
 *                                          refusals
 *   govbus-broker --config FILE requests   every access request stored in
 *                                          FILE's data_dir
 *
 * Both print a table on a terminal and JSON lines in a pipe (gb_listing.h;
 * each registry line names its "kind"). `registry` reads the config alone;
 * `requests` opens the data dir read-only, which works while the broker
 * runs (LMDB readers in another process see the last commit). */
#ifndef GB_ADMIN_H
#define GB_ADMIN_H

#include <stdio.h>

#include "gb_config.h"

/* Print the registry `reg` to `out`. Returns the exit status: 0, or 1
 * after one sentence on stderr. */
int gb_admin_registry(const gb_registry *reg, FILE *out);

/* Print the access requests stored in the data_dir of `reg` to `out`.
 * Returns the exit status: 0, or 1 after one sentence on stderr. */
int gb_admin_requests(const gb_registry *reg, FILE *out);

#endif
