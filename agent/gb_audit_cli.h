/* govbus-agent `audit` commands: online verification of a dataset's log,
 * the audit trail, checkpoints on request and online export (DESIGN §7
 * "Audit", §10).
 *
 *   govbus-agent --config A.yaml audit verify     --dataset D
 *   govbus-agent --config A.yaml audit export     --dataset D --out FILE
 *   govbus-agent --config A.yaml audit checkpoint --dataset D
 *   govbus-agent --config A.yaml audit trail [--dept X] [--dataset D]
 *                                            [--since TIME] [--format F]
 *
 * The agent asks the broker for the registry and its policy snapshots, the
 * stream's signed checkpoints and a replay from offset 0 (through
 * gb_audit_session.h), and checks them with gb_verifier: nothing the broker says is taken on trust except, when
 * the config pins none (broker.sign_key), the broker's own key, and then
 * the output says so. */
#ifndef GB_AUDIT_CLI_H
#define GB_AUDIT_CLI_H

/* Run `audit SUBCOMMAND ARGS...` (argv[0] is the subcommand). Returns the
 * process exit status: 0 success, 1 failure (problem found, refusal), 2
 * usage error. */
int gb_audit_command(const char *config, int argc, char **argv);

#endif
