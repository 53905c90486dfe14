/* bench-fsync: the raw synced-write latency of the disk under a directory,
 * the yardstick for acked publish latency (bench/compare).
 *
 *   bench-fsync DIR [COUNT]
 *
 * Two probes of COUNT (default 1000) writes of 4 KiB each followed by
 * fdatasync(): "append" grows a new file (the size changes, so the file
 * system journals metadata as well, as for a growing log) and "overwrite"
 * rewrites one preallocated 4 KiB block in place. Prints one result line
 * with p50/p99 in microseconds for each. */
#include <fcntl.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"

#define BLOCK 4096

/* Time `count` write+fdatasync pairs into `path` into us[]. */
static int probe(const char *path, bool append, unsigned count, double *us)
{
	static uint8_t block[BLOCK];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		perror(path);
		return 1;
	}
	if (!append && (pwrite(fd, block, BLOCK, 0) != BLOCK || fsync(fd) != 0)) {
		perror(path);
		close(fd);
		return 1;
	}
	for (unsigned i = 0; i < count; i++) {
		off_t at = append ? (off_t)i * BLOCK : 0;
		uint64_t t0;

		memset(block, (int)(i & 0xff), sizeof block);
		t0 = bench_now_ns();
		if (pwrite(fd, block, BLOCK, at) != BLOCK || fdatasync(fd) != 0) {
			perror(path);
			close(fd);
			return 1;
		}
		us[i] = (double)(bench_now_ns() - t0) / 1e3;
	}
	close(fd);
	unlink(path);
	bench_sort(us, count);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned count = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1000;
	char path[4096];
	double *a, *o;

	if (argc < 2 || count == 0) {
		fprintf(stderr, "usage: bench-fsync DIR [COUNT]\n");
		return 2;
	}
	a = calloc(count, sizeof *a);
	o = calloc(count, sizeof *o);
	if (!a || !o)
		return 1;
	snprintf(path, sizeof path, "%s/fsync-probe.%ld", argv[1], (long)getpid());
	if (probe(path, true, count, a) != 0 || probe(path, false, count, o) != 0)
		return 1;
	printf("result system=disk workload=fsync count=%u"
	       " append_p50_us=%.1f append_p99_us=%.1f"
	       " overwrite_p50_us=%.1f overwrite_p99_us=%.1f\n",
	       count, bench_percentile(a, count, 50), bench_percentile(a, count, 99),
	       bench_percentile(o, count, 50), bench_percentile(o, count, 99));
	free(a);
	free(o);
	return 0;
}
