/* govbus-agent publish (DESIGN §10): the records of a file or standard
 * input, in lines, delimited or json format, to a dataset this department
 * owns, with the summary line scripts read:
 *
 *   govbus-agent --config AGENT.yaml publish --dataset D
 *                [--format lines|delimited|json] [--batch N]
 *                [--id-prefix P] [FILE]
 */
#ifndef GB_PUBLISH_CLI_H
#define GB_PUBLISH_CLI_H

/* Run `publish ARGS...` (argv holds the options after the command word).
 * Returns the exit status: 0 when every record was acknowledged, 1 on a
 * failure, 2 on a usage error. */
int gb_publish_command(const char *config, int argc, char **argv);

#endif
