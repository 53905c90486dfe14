/* govbus config loader: the broker's YAML config file into an immutable
 * registry snapshot.
 *
 * Trust: the file is edited by hand and treated as untrusted input. It is
 * read bounded (GB_CONFIG_MAX_BYTES, regular files only) and walked by
 * gb_yaml, which refuses anchors, aliases and second documents and checks
 * every value with file:line:col; gb_config_sections checks the sections
 * against each other. Relative paths in it are resolved against the real
 * folder of the file. A snapshot exists only once all of it is valid. The
 * load time is the caller's now_ns; nothing here reads the clock. */
#include "gb_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gb_config_sections.h"
#include "gb_error.h"
#include "gb_registry_internal.h"

void gb_config_error_format(const gb_config_error *err, char *buf, size_t len)
{
	gb_yaml_error_format(err, buf, len);
}

/* A walker for the load of `name` into *out, its errors in `err`;
 * GB_EINVAL without a name or output. */
static int load_begin(const char *name, gb_registry **out,
		      gb_config_error *err, gb_yaml **w)
{
	int rc;

	if (out)
		*out = NULL;
	if (!name || !out) {
		memset(err, 0, sizeof *err);
		snprintf(err->message, sizeof err->message,
			 "no config path or output");
		return GB_EINVAL;
	}
	rc = gb_yaml_new(name, err, w);
	if (rc == 0 && sodium_init() < 0)
		rc = gb_yaml_fail_file(*w, GB_ENOMEM,
				       "libsodium failed to start");
	return rc;
}

/* The snapshot of buf[0..len), the contents of the file `w` names. */
static int load_bytes(gb_yaml *w, const uint8_t *buf, size_t len,
		      int64_t now_ns, gb_registry **out)
{
	gb_registry *reg = NULL;
	char *folder = NULL, *dir = NULL;
	int rc;

	if (len > GB_CONFIG_MAX_BYTES)
		return gb_yaml_fail_file(w, GB_ETOOBIG, "larger than %u bytes",
					 (unsigned)GB_CONFIG_MAX_BYTES);
	rc = gb_yaml_folder(w, &folder);
	if (rc == 0) {
		dir = realpath(folder, NULL);
		if (!dir)
			rc = gb_yaml_fail_file(w, GB_EIO,
					       "cannot resolve its folder: %s",
					       strerror(errno));
	}
	if (rc == 0 && gb_registry_new(buf, len, now_ns, &reg) != 0)
		rc = gb_yaml_nomem(w);
	if (rc == 0)
		rc = gb_yaml_load(w, buf, len);
	if (rc == 0)
		rc = gb_config_parse_sections(w, reg, dir, now_ns);
	if (rc == 0) {
		*out = reg;
		reg = NULL;
	}
	gb_registry_destroy(&reg);
	free(dir);
	free(folder);
	return rc;
}

int gb_config_load(const char *path, int64_t now_ns, gb_registry **out,
		   gb_config_error *err)
{
	gb_config_error spare;
	gb_yaml *w = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	rc = load_begin(path, out, err ? err : &spare, &w);
	if (rc == 0)
		rc = gb_yaml_read_file(w, GB_CONFIG_MAX_BYTES, &buf, &len);
	if (rc == 0)
		rc = load_bytes(w, buf, len, now_ns, out);
	gb_yaml_destroy(&w);
	free(buf);
	return rc;
}

int gb_config_load_buffer(const char *name, const uint8_t *bytes, size_t len,
			  int64_t now_ns, gb_registry **out,
			  gb_config_error *err)
{
	gb_config_error spare;
	gb_yaml *w = NULL;
	int rc;

	rc = load_begin(name, out, err ? err : &spare, &w);
	if (rc == 0 && !bytes && len)
		rc = gb_yaml_fail_file(w, GB_EINVAL, "no bytes");
	if (rc == 0)
		rc = load_bytes(w, bytes ? bytes : (const uint8_t *)"", len,
				now_ns, out);
	gb_yaml_destroy(&w);
	return rc;
}
