/* govbus-agent catalog commands (DESIGN §10):
 *
 *   govbus-agent --config A.yaml catalog
 *   govbus-agent --config A.yaml request --dataset D --purpose P
 *                                        --legal-basis L [--rights R,...]
 *   govbus-agent --config A.yaml requests
 *
 * `catalog` lists the datasets this department may see with its rights on
 * each (conditional datasets it holds no grant for are listed with none:
 * that is what it may request); `request` records an access request at the
 * broker for the admins to answer in the config; `requests` lists this
 * department's requests and their status (pending, approved, refused).
 * Output is a table on a terminal and JSON lines in a pipe, unless
 * --format says otherwise. govbus_agent.c connects and reports errors;
 * this module parses and runs the commands. */
#ifndef GB_CATALOG_CLI_H
#define GB_CATALOG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "govbus.h"

typedef enum gb_catalog_verb {
	GB_CATALOG_LIST = 0,      /* catalog */
	GB_CATALOG_REQUEST = 1,   /* request */
	GB_CATALOG_REQUESTS = 2,  /* requests */
} gb_catalog_verb;

#define GB_CATALOG_RIGHTS_MAX 2

typedef struct gb_catalog_cmd {
	gb_catalog_verb verb;
	const char *name;         /* the command word, for messages */
	int table;                /* 1 table, 0 JSON lines, -1 by the terminal */
	const char *dataset;      /* request */
	const char *purpose;
	const char *legal_basis;
	const char *rights[GB_CATALOG_RIGHTS_MAX];
	size_t n_rights;
} gb_catalog_cmd;

/* True when `word` is one of the commands above. */
bool gb_catalog_is_command(const char *word);

/* Parse the options after command `word`. Returns 0; -1 when --help was
 * printed (exit 0); or 2 after a usage error on stderr. */
int gb_catalog_parse(const char *word, int argc, char **argv,
		     gb_catalog_cmd *cmd);

/* Run `cmd` on the connected client `c`, writing the listing to `out`.
 * Returns 0 or a GB_E... code with the sentence in gb_client_last_error()
 * (a broker refusal, or GB_EIO when `out` could not be written). */
int gb_catalog_run(gb_client *c, const gb_catalog_cmd *cmd, FILE *out);

#endif
