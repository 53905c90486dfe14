/* The sections of the broker's config file — broker, departments,
 * schemas, datasets, grants, refusals — checked one by one and against
 * each other, into a registry snapshot. Used by gb_config.c only. */
#ifndef GB_CONFIG_SECTIONS_H
#define GB_CONFIG_SECTIONS_H

#include <stdint.h>

#include "gb_registry.h"
#include "gb_yaml.h"

/* Fill the new snapshot `reg` from the document `w` has loaded. Relative
 * paths are resolved against `dir` (the config's real folder); grants
 * already expired at now_ns are an error. The first error is recorded in
 * the walker and returned (GB_ECONFIG, GB_ENOMEM). */
int gb_config_parse_sections(gb_yaml *w, gb_registry *reg, const char *dir,
			     int64_t now_ns);

#endif
