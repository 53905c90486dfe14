/* govbus-keys: create a department's (or the broker's) master secret and
 * show its public halves in the form the broker config takes. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gb_codec.h"
#include "gb_error.h"
#include "gb_keys.h"

static const char usage[] =
	"usage: govbus-keys new --dept ID --out DIR\n"
	"       govbus-keys show FILE.key\n"
	"\n"
	"  new   create DIR/ID.key (32-byte master secret, mode 0600) and\n"
	"        DIR/ID.pub (public keys as YAML, ready to paste into the\n"
	"        broker config). Refuses to overwrite an existing key.\n"
	"  show  print the public halves of a key file.\n";

static int cmd_new(int argc, char **argv)
{
	const char *dept = NULL, *dir = NULL;
	char why[512];
	gb_identity *id;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--dept") && i + 1 < argc)
			dept = argv[++i];
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "govbus-keys new: unexpected argument '%.100s'\n%s",
				argv[i], usage);
			return 2;
		}
	}
	if (!dept || !dir) {
		fprintf(stderr, "govbus-keys new: --dept and --out are required\n%s", usage);
		return 2;
	}
	if (!gb_id_valid(dept)) {
		fprintf(stderr,
			"govbus-keys new: '%.100s' is not a valid id "
			"(lowercase letter, then up to 63 of a-z 0-9 . _ -)\n",
			dept);
		return 2;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "govbus-keys new: cannot create %.200s: %s\n",
			dir, strerror(errno));
		return 1;
	}
	id = gb_identity_generate();
	if (!id) {
		fprintf(stderr, "govbus-keys new: cannot generate a key\n");
		return 1;
	}
	rc = gb_identity_save(id, dir, dept, why, sizeof why);
	gb_identity_destroy(&id);
	if (rc != 0) {
		fprintf(stderr, "govbus-keys new: %s\n", why);
		return 1;
	}
	printf("wrote %s/%s.key (secret, mode 0600) and %s/%s.pub\n", dir,
	       dept, dir, dept);
	return 0;
}

static int cmd_show(int argc, char **argv)
{
	char why[512], text[512], path[512], dept[GB_MAX_ID_LEN + 1];
	gb_identity *id = NULL;
	size_t n;
	int rc;

	if (argc == 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "govbus-keys show: expects one FILE\n%s", usage);
		return 2;
	}
	rc = gb_identity_load(argv[0], &id, why, sizeof why);
	if (rc != 0) {
		fprintf(stderr, "govbus-keys show: %s\n", why);
		return 1;
	}
	/* The department id is the file name without ".key". */
	snprintf(path, sizeof path, "%s", argv[0]);
	snprintf(dept, sizeof dept, "%s", basename(path));
	n = strlen(dept);
	if (n > 4 && !strcmp(dept + n - 4, ".key"))
		dept[n - 4] = '\0';
	rc = gb_identity_format_public(id, dept, text, sizeof text);
	gb_identity_destroy(&id);
	if (rc != 0) {
		fprintf(stderr, "govbus-keys show: %s\n", gb_strerror(rc));
		return 1;
	}
	fputs(text, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "new"))
		return cmd_new(argc - 2, argv + 2);
	if (!strcmp(argv[1], "show"))
		return cmd_show(argc - 2, argv + 2);
	fprintf(stderr, "govbus-keys: unknown command '%.100s'\n%s", argv[1], usage);
	return 2;
}
