/* fail_fsync: an LD_PRELOAD shim that makes fsync and fdatasync fail with
 * EIO while the file named by $GB_FAIL_FSYNC_TRIGGER exists, so a test can
 * switch a running broker's disk to "flush fails" and back (disk_full.sh).
 * Only the result is faked: the call is still made, so data reaches the
 * page cache as it would on a disk that lost the flush. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);

static int triggered(void)
{
	const char *path = getenv("GB_FAIL_FSYNC_TRIGGER");
	return path && path[0] && access(path, F_OK) == 0;
}

static int call_next(const char *name, int fd)
{
	int (*next)(int);
	void *sym = dlsym(RTLD_NEXT, name);

	/* POSIX's way to turn dlsym's answer into a function pointer. */
	memcpy(&next, &sym, sizeof next);
	return next ? next(fd) : -1;
}

int fsync(int fd)
{
	int rc = call_next("fsync", fd);
	if (triggered()) {
		errno = EIO;
		return -1;
	}
	return rc;
}

int fdatasync(int fd)
{
	int rc = call_next("fdatasync", fd);
	if (triggered()) {
		errno = EIO;
		return -1;
	}
	return rc;
}
