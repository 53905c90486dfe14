/* Fuzz target: the registry loader on arbitrary bytes, through
 * gb_config_load_buffer (gb_config_load runs the same code after reading
 * the file). Relative paths resolve against /tmp, which always exists; the
 * load time is fixed so results do not depend on the day. A config that
 * loads must answer every lookup of its own entries. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gb_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gb_registry *reg = NULL;
	gb_config_error err;
	char text[1024];

	if (gb_config_load_buffer("/tmp/fuzz.yaml", data, size,
				  FUZZ_CONFIG_NOW_NS, &reg, &err) != 0) {
		gb_config_error_format(&err, text, sizeof text);
		if (reg)
			abort();
		return 0;
	}
	for (size_t i = 0; i < gb_registry_department_count(reg); i++) {
		const gb_department *d = gb_registry_department_at(reg, i);
		if (gb_registry_find_department(reg, d->id) != d ||
		    gb_registry_find_department_by_box_key(reg, d->box_pk) != d)
			abort();
	}
	for (size_t i = 0; i < gb_registry_dataset_count(reg); i++) {
		const gb_dataset *ds = gb_registry_dataset_at(reg, i);
		if (gb_registry_find_dataset(reg, ds->id) != ds ||
		    !gb_registry_find_department(reg, ds->owner))
			abort();
	}
	for (size_t i = 0; i < gb_registry_grant_count(reg); i++) {
		const gb_grant *g = gb_registry_grant_at(reg, i);
		if (gb_registry_find_grant(reg, g->dataset, g->to) != g)
			abort();
	}
	gb_registry_destroy(&reg);
	return 0;
}
