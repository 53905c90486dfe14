/* govbus broker server: the ROUTER socket, ZAP, sessions, publish pipeline,
 * delivery, and the writer thread that group-commits to the log store.
 *
 * Threads (DESIGN §9): the caller's thread runs gb_broker_run() as the I/O
 * thread (ROUTER, ZAP, decode, verify, policy, delivery); a writer thread
 * drains every pending append into one LMDB transaction per commit. They
 * exchange pointers over an inproc PAIR pipe, so deliveries flow while a
 * commit syncs. */
#ifndef GB_BROKER_H
#define GB_BROKER_H

#include <stddef.h>

typedef struct gb_broker gb_broker;

/* Load the config at `config_path`, the broker key and the data directory,
 * and bind the listen endpoint. On failure returns a GB_E... code and puts
 * one sentence in `why`. */
int gb_broker_new(const char *config_path, gb_broker **out, char *why,
		  size_t why_len);

/* Serve until gb_broker_request_stop(). Returns 0 on a clean stop. */
int gb_broker_run(gb_broker *b);

/* Async-signal-safe: ask the running broker to stop, or to reload its
 * config (a bad config is refused and the old policy stays in force). */
void gb_broker_request_stop(gb_broker *b);
void gb_broker_request_reload(gb_broker *b);

/* Stop the writer, close sockets and the store; accepts NULL. */
void gb_broker_destroy(gb_broker **b);

#endif
