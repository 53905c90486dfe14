/* govbus config: the broker's YAML configuration loaded into an immutable
 * registry snapshot (gb_registry.h). The entry point for callers.
 *
 * The config file is untrusted input: every field is validated and every
 * error names file:line:col and the field. A loaded gb_registry never
 * changes; reload builds a new one and the broker swaps the pointer. */
#ifndef GB_CONFIG_H
#define GB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "gb_registry.h"
#include "gb_yaml.h"

#define GB_CONFIG_MAX_BYTES (4u << 20)

/* Where and why a load failed (the YAML walker's error). `message` names
 * the field. */
typedef gb_yaml_error gb_config_error;

/* Load and validate the YAML file at `path` into a new snapshot.
 * `now_ns` is the load time: grants already expired at it are an error.
 * On failure returns GB_ECONFIG (or GB_EIO/GB_ETOOBIG/GB_ENOMEM) and fills
 * `err`; *out is left NULL. */
int gb_config_load(const char *path, int64_t now_ns, gb_registry **out,
		   gb_config_error *err);

/* Load and validate a config already in memory: `len` bytes at `bytes`,
 * which need not be NUL-terminated. `name` stands for the file: errors carry
 * it, and relative paths in the config are resolved against its folder
 * (which must exist). gb_config_load reads the file, then loads its bytes
 * exactly as this does; the results and errors are the same. */
int gb_config_load_buffer(const char *name, const uint8_t *bytes, size_t len,
			  int64_t now_ns, gb_registry **out,
			  gb_config_error *err);

/* Format err as "file:line:col: message" into buf. */
void gb_config_error_format(const gb_config_error *err, char *buf, size_t len);

#endif
