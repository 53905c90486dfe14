/* Internals shared by every module of the agent library: the agent
 * config as loaded (gb_agent_config.c) and the clocks. Not installed, not
 * part of govbus.h. The client's own internals are in
 * gb_client_internal.h. */
#ifndef GB_AGENT_INTERNAL_H
#define GB_AGENT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gb_codec.h"
#include "gb_keys.h"
#include "govbus.h"

#define GB_AGENT_DEFAULT_TIMEOUT_MS 3000u
#define GB_AGENT_ERROR_MAX (GB_MAX_MESSAGE_LEN + 512)

/* ---------------------------------------------------------------- config */

typedef struct gb_agent_peer {
	char dept[GB_MAX_ID_LEN + 1];
	uint8_t sign_pk[GB_SIGN_PK_BYTES];
} gb_agent_peer;

/* `schemas: { DATASET: { type: T, descriptor_set: F } }`: a dataset's
 * schema known offline (and pinned: it is used instead of the
 * broker's catalog). The set's bytes are read and checked at load. */
typedef struct gb_agent_schema {
	char dataset[GB_MAX_ID_LEN + 1];
	char *type;                   /* full message type name */
	uint8_t *descriptor_set;      /* serialized FileDescriptorSet */
	size_t descriptor_set_len;
} gb_agent_schema;

struct gb_agent_config {
	char *path;
	char dept[GB_MAX_ID_LEN + 1];
	char *key_path;               /* resolved against the config's folder */
	char *endpoint;
	uint8_t broker_box_pk[GB_BOX_PK_BYTES];
	/* broker.sign_key: the broker's Ed25519 key that checkpoints must
	 * verify under, pinned by an auditor. */
	bool have_broker_sign_pk;
	uint8_t broker_sign_pk[GB_SIGN_PK_BYTES];
	unsigned timeout_ms;
	gb_agent_peer *peers;
	size_t peer_count;
	gb_agent_schema *schemas;
	size_t schema_count;
};

/* The `schemas:` entry of `dataset`, or NULL. */
const gb_agent_schema *gb_agent_config_schema(const gb_agent_config *cfg,
					      const char *dataset);

/* Deep copy, so a client does not depend on the caller's config. */
int gb_agent_config_copy(const gb_agent_config *src, gb_agent_config **out);

/* ---------------------------------------------------------------- time */

/* Monotonic milliseconds, for timers. */
static inline int64_t gb_agent_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall clock nanoseconds since the epoch, for produced_at_ns. */
static inline uint64_t gb_agent_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
