/* govbus-agent subscribe (DESIGN §10): the records of a dataset, verified
 * and decrypted, to standard output, from a start position or a durable
 * cursor, until a count, a signal or an error:
 *
 *   govbus-agent --config AGENT.yaml subscribe --dataset D
 *                [--from earliest|latest|OFFSET|TIME] [--count N]
 *                [--durable NAME] [--format lines|delimited|json]
 *                [--timeout SEC]
 */
#ifndef GB_SUBSCRIBE_CLI_H
#define GB_SUBSCRIBE_CLI_H

/* Run `subscribe ARGS...`. Returns the exit status: 0 when every record
 * asked for was output (and, for a durable cursor, acknowledged) or on
 * SIGINT/SIGTERM, 1 on a failure, 2 on a usage error. */
int gb_subscribe_command(const char *config, int argc, char **argv);

#endif
