/* What every govbus-agent command shares (DESIGN §10): usage errors, the
 * one-sentence failure report with its status code, progress on a
 * terminal, the library's events as lines on stderr, connecting with the
 * agent config, and stopping on SIGINT / SIGTERM.
 *
 * Trust: what is printed comes from the library (sentences it bounded) or
 * from the command line, which each command validates before use. */
#ifndef GB_CLI_H
#define GB_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "govbus.h"

/* Which command runs: it decides which events are worth a line. */
typedef enum gb_cli_mode {
	GB_CLI_PUBLISH,
	GB_CLI_SUBSCRIBE,
	GB_CLI_RUN,
	GB_CLI_CATALOG,
} gb_cli_mode;

typedef struct gb_cli_events {
	gb_cli_mode mode;
	bool resweep;                 /* run: reconnected, redo the key work */
} gb_cli_events;

/* Print "govbus-agent: CMD: <message> (see govbus-agent CMD --help)" (cmd
 * may be NULL); returns exit status 2. */
int gb_cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A progress line is on the terminal (set after printing one), and the
 * call that wipes it before anything else is printed. */
void gb_cli_progress_shown(void);
void gb_cli_clear_progress(void);

/* One sentence with the status code; returns exit status 1. `what` is
 * "publish" or "subscribe" (then "refused" for 4xx, "failed" for 5xx), or a
 * complete phrase such as "subscription ended". */
int gb_cli_report(gb_client *c, const char *what, int rc);

/* A decimal number in min..max, nothing else. */
bool gb_cli_parse_u64(const char *s, uint64_t min, uint64_t max,
		      uint64_t *out);

/* Monotonic milliseconds. */
int64_t gb_cli_now_ms(void);

/* Load the agent config and connect, reporting library events through
 * `ev` (which must outlive the client); prints why and returns 1 when
 * either fails, else 0. */
int gb_cli_connect(const char *config_path, gb_cli_events *ev,
		   gb_client **out);

/* Until gb_cli_release_stop(): SIGINT and SIGTERM set the stop flag and
 * interrupt the blocking call in progress on `c`. */
void gb_cli_catch_stop(gb_client *c);
void gb_cli_release_stop(void);
bool gb_cli_stop_requested(void);

#endif
