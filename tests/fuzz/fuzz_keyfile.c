/* Fuzz target: gb_identity_load on a real file. The first byte picks the
 * file's mode (fuzz_key_modes), the rest is its content, so the fuzzer
 * reaches the permission, size and derivation paths. The file lives in a
 * private temporary directory made once per process. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "gb_keys.h"

static char key_dir[32], key_path[64];

static void remove_dir(void)
{
	unlink(key_path);
	rmdir(key_dir);
}

static void make_dir(void)
{
	snprintf(key_dir, sizeof key_dir, "/tmp/gb-fuzz-key.XXXXXX");
	if (!mkdtemp(key_dir))
		abort();
	snprintf(key_path, sizeof key_path, "%s/fuzz.key", key_dir);
	atexit(remove_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gb_identity *id = NULL;
	char why[512];
	mode_t mode;
	int fd;

	if (!key_path[0])
		make_dir();
	if (size == 0)
		return 0;
	mode = fuzz_key_modes[data[0] % 4];
	unlink(key_path);
	fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	if (fchmod(fd, mode) != 0)
		abort();
	close(fd);
	if (gb_identity_load(key_path, &id, why, sizeof why) == 0) {
		if (mode != 0600 && mode != 0400)
			abort(); /* a key readable by others was loaded */
		if (size - 1 != GB_MASTER_BYTES || !gb_identity_sign_pk(id))
			abort();
	} else if (id) {
		abort();
	}
	gb_identity_destroy(&id);
	return 0;
}
