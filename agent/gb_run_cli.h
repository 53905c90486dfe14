/* govbus-agent run (DESIGN §5, §10): stay connected and do an owner's key
 * work for every dataset it owns — at start, after every reconnection and
 * whenever the broker asks — until SIGINT or SIGTERM:
 *
 *   govbus-agent --config AGENT.yaml run [--dataset D]...
 */
#ifndef GB_RUN_CLI_H
#define GB_RUN_CLI_H

/* Run `run ARGS...`. Returns the exit status: 0 after SIGINT/SIGTERM, 1
 * when the connection is refused or lost for good, 2 on a usage error. */
int gb_run_command(const char *config, int argc, char **argv);

#endif
