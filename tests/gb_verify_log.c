/* gb_verify_log: check a broker's log offline, as the crash and soak
 * harnesses do after the broker has been killed many times.
 *
 *   gb_verify_log --config BROKER.yaml [DATASET...]
 *
 * For every dataset of the config (or the ones named), recompute the hash
 * chain from offset 0 with gb_store_verify_stream: offsets dense from 0,
 * every stored chain hash right, the head describing exactly the end of the
 * log. Prints one line per dataset ("D: N records in B batches, chain ok")
 * and exits 0 when every stream verifies, 1 when one does not, 2 on usage or
 * open errors.
 *
 * The data directory is never written: data.mdb is copied into a temporary
 * directory and the copy is opened (gb_store_open may write to the
 * environment it opens; gb_store_open_readonly, in progress for the audit
 * issue, does not keep its database handles yet). Run it while no broker
 * writes to the directory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gb_config.h"
#include "gb_error.h"
#include "gb_store.h"

/* Copy src to a new file dst. */
static int copy_file(const char *src, const char *dst)
{
	char buf[1 << 16];
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		goto done;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto done;
	rc = n == 0 ? 0 : -1;
done:
	if (out >= 0 && close(out) != 0)
		rc = -1;
	close(in);
	return rc;
}

/* Verify one stream; returns 0 when sound. */
static int verify_one(gb_store *s, const char *dataset)
{
	gb_stream_info info;
	uint64_t bad = 0;
	int rc = gb_store_stream_info(s, dataset, &info);

	if (rc != 0) {
		printf("%s: cannot read the stream head: %s\n", dataset,
		       gb_strerror(rc));
		return 1;
	}
	rc = gb_store_verify_stream(s, dataset, &bad);
	if (rc != 0) {
		printf("%s: CORRUPT at offset %" PRIu64 ": %s\n", dataset, bad,
		       gb_strerror(rc));
		return 1;
	}
	printf("%s: %" PRIu64 " records in %" PRIu64 " batches, chain ok\n",
	       dataset, info.next_offset, info.batch_count);
	return 0;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	gb_registry *reg = NULL;
	gb_config_error err;
	gb_store *s = NULL;
	char text[1024], tmp[] = "/tmp/gb-verify.XXXXXX", src[4200], dst[64] = "";
	int first = 0, status = 2, rc;

	if (argc >= 3 && !strcmp(argv[1], "--config")) {
		config = argv[2];
		first = 3;
	}
	if (!config) {
		fprintf(stderr, "usage: gb_verify_log --config BROKER.yaml "
				"[DATASET...]\n");
		return 2;
	}
	if (gb_config_load(config, (int64_t)time(NULL) * 1000000000, &reg,
			   &err) != 0) {
		gb_config_error_format(&err, text, sizeof text);
		fprintf(stderr, "gb_verify_log: %s\n", text);
		return 2;
	}
	snprintf(src, sizeof src, "%s/data.mdb",
		 gb_registry_broker(reg)->data_dir);
	if (!mkdtemp(tmp)) {
		perror("gb_verify_log: mkdtemp");
		goto out;
	}
	snprintf(dst, sizeof dst, "%s/data.mdb", tmp);
	if (copy_file(src, dst) != 0) {
		fprintf(stderr, "gb_verify_log: cannot copy %s: %s\n", src,
			strerror(errno));
		goto out;
	}
	rc = gb_store_open(tmp, gb_registry_broker(reg)->map_size, &s);
	if (rc != 0) {
		fprintf(stderr, "gb_verify_log: cannot open the copy of %s: %s\n",
			src, gb_strerror(rc));
		goto out;
	}
	status = 0;
	if (first < argc) {
		for (int i = first; i < argc; i++)
			status |= verify_one(s, argv[i]);
	} else {
		for (size_t i = 0; i < gb_registry_dataset_count(reg); i++)
			status |= verify_one(
				s, gb_registry_dataset_at(reg, i)->id);
	}
out:
	gb_store_close(&s);
	unlink(dst);
	snprintf(src, sizeof src, "%s/lock.mdb", tmp);
	unlink(src);
	rmdir(tmp);
	gb_registry_destroy(&reg);
	return status;
}
