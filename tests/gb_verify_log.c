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
 * The data directory is opened read-only (gb_store_open_readonly), so the
 * evidence is never changed. Run it while no broker writes to it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gb_config.h"
#include "gb_error.h"
#include "gb_store.h"

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
	char text[1024];
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
	rc = gb_store_open_readonly(gb_registry_broker(reg)->data_dir, &s);
	if (rc != 0) {
		fprintf(stderr, "gb_verify_log: cannot open the log in %s: %s\n",
			gb_registry_broker(reg)->data_dir, gb_strerror(rc));
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
	gb_registry_destroy(&reg);
	return status;
}
