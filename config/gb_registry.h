/* govbus registry: the immutable snapshot a config file loads into
 * (gb_config_load, gb_config.h) — departments, datasets with their catalog
 * metadata, grants, refusals, descriptor sets and the broker's settings —
 * with its lookups and the config's word for each enum value.
 *
 * A snapshot never changes once loaded and owns every string it hands
 * out, so other threads may read it without locks; reload builds a new one
 * and the broker swaps the pointer. */
#ifndef GB_REGISTRY_H
#define GB_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GB_KEY_BYTES 32
#define GB_ID_MAX 64            /* longest department or dataset id */
#define GB_TEXT_MAX 1024        /* longest free-text field */

typedef enum { GB_ROLE_DEPARTMENT = 0, GB_ROLE_AUDITOR = 1 } gb_role;
typedef enum {
	GB_SHARING_OPEN = 0,
	GB_SHARING_CONDITIONAL = 1,
	GB_SHARING_CLOSED = 2,
} gb_sharing;
typedef enum {
	GB_CLASS_PUBLIC = 0,
	GB_CLASS_INTERNAL = 1,
	GB_CLASS_CONFIDENTIAL = 2,
} gb_classification;
typedef enum { GB_AUDIT_METADATA = 0, GB_AUDIT_CONTENT = 1 } gb_audit_access;
typedef enum {
	GB_HISTORY_ALL = 0,
	GB_HISTORY_SINCE_GRANT = 1,
	GB_HISTORY_NONE = 2,
} gb_history;

enum { GB_RIGHT_SUBSCRIBE = 1u << 0, GB_RIGHT_REPLAY = 1u << 1 };

typedef struct gb_department {
	const char *id;
	const char *name;
	gb_role role;
	uint8_t sign_pk[GB_KEY_BYTES];  /* Ed25519 */
	uint8_t box_pk[GB_KEY_BYTES];   /* X25519: CurveZMQ and key wraps */
} gb_department;

typedef struct gb_dataset {
	const char *id;
	const char *owner;              /* department id, validated to exist */
	const char *title;
	gb_sharing sharing;
	gb_classification classification;
	const char *update_frequency;   /* free text, may be NULL */
	gb_audit_access audit_access;
	/* catalog metadata: free text, NULL when not given */
	const char *description;
	const char *conditions;         /* sharing conditions */
	const char *format;             /* e.g. "protobuf", "text" */
	const char *contact;
	const char *available_since;    /* "YYYY-MM-DD", a real day */
	/* the full name of the protobuf message type its records are, found
	 * in the config's `schemas:`; NULL when none */
	const char *schema;
} gb_dataset;

typedef struct gb_grant {
	const char *dataset;
	const char *to;
	unsigned rights;                /* GB_RIGHT_* bits */
	const char *purpose;
	const char *legal_basis;
	const char *approved_by;
	int64_t starts_ns;              /* 0 when not given */
	int64_t expires_ns;             /* first instant the grant is no longer valid */
	gb_history history;
} gb_grant;

/* An access request the admins turned down. At most one per (dataset, to),
 * never for a pair that also has a grant (enforced at load). */
typedef struct gb_refusal {
	const char *dataset;
	const char *to;
	const char *reason;
	const char *refused_by;
	int64_t date_ns;                /* when it was refused */
} gb_refusal;

typedef struct gb_broker_settings {
	const char *listen;             /* ZeroMQ endpoint */
	const char *data_dir;           /* resolved against the config file's folder */
	const char *key;                /* resolved against the config file's folder */
	uint64_t map_size;              /* LMDB map size in bytes */
	/* A stream with new batches gets a signed checkpoint after this many
	 * of them or this many seconds, whichever is first. */
	uint64_t checkpoint_batches;    /* 1..GB_CHECKPOINT_BATCHES_MAX, default 1000 */
	uint64_t checkpoint_seconds;    /* 1..GB_CHECKPOINT_SECONDS_MAX, default 60 */
	/* A record sent again with the same id by the same department to the
	 * same dataset within this many seconds (broker time) is stored once
	 * (DESIGN §7). 0: off. */
	uint64_t dedupe_seconds;        /* 0..GB_DEDUPE_SECONDS_MAX, default 120 */
} gb_broker_settings;

#define GB_CHECKPOINT_BATCHES_DEFAULT 1000
#define GB_CHECKPOINT_BATCHES_MAX 1000000
#define GB_CHECKPOINT_SECONDS_DEFAULT 60
#define GB_CHECKPOINT_SECONDS_MAX 86400
#define GB_DEDUPE_SECONDS_DEFAULT 120
#define GB_DEDUPE_SECONDS_MAX 604800    /* a week */

typedef struct gb_registry gb_registry;

/* The config's own word for each value ("conditional", "since-grant"...),
 * for listings; "unknown" for a value out of range. */
const char *gb_role_name(gb_role role);
const char *gb_sharing_name(gb_sharing sharing);
const char *gb_classification_name(gb_classification classification);
const char *gb_audit_access_name(gb_audit_access access);
const char *gb_history_name(gb_history history);
/* GB_RIGHT_* bits as "subscribe,replay" (comma-separated, no spaces). */
const char *gb_rights_text(unsigned rights, char *buf, size_t len);

/* Free a snapshot; accepts NULL and sets *reg to NULL. */
void gb_registry_destroy(gb_registry **reg);

const gb_broker_settings *gb_registry_broker(const gb_registry *reg);

/* BLAKE2b-256 of the exact file bytes the snapshot was built from. */
const uint8_t *gb_registry_hash(const gb_registry *reg);
/* Load time given to gb_config_load. */
int64_t gb_registry_loaded_ns(const gb_registry *reg);
/* The exact bytes the snapshot was built from (the ones gb_registry_hash
 * hashes), so the broker can store the policy in force. Valid as long as
 * the snapshot. */
const uint8_t *gb_registry_source(const gb_registry *reg, size_t *len);

size_t gb_registry_department_count(const gb_registry *reg);
const gb_department *gb_registry_department_at(const gb_registry *reg, size_t i);
size_t gb_registry_dataset_count(const gb_registry *reg);
const gb_dataset *gb_registry_dataset_at(const gb_registry *reg, size_t i);
size_t gb_registry_grant_count(const gb_registry *reg);
const gb_grant *gb_registry_grant_at(const gb_registry *reg, size_t i);

/* Lookups return NULL when absent. */
const gb_department *gb_registry_find_department(const gb_registry *reg,
						 const char *id);
const gb_department *gb_registry_find_department_by_box_key(
	const gb_registry *reg, const uint8_t box_pk[GB_KEY_BYTES]);
const gb_dataset *gb_registry_find_dataset(const gb_registry *reg,
					   const char *id);
/* The grant of `dataset` to `dept`, or NULL. At most one exists (enforced
 * at load). */
const gb_grant *gb_registry_find_grant(const gb_registry *reg,
				       const char *dataset, const char *dept);

/* The descriptor set files listed in `schemas:`, in file order, as read
 * (serialized google.protobuf.FileDescriptorSet, for the catalog). Valid
 * as long as the snapshot. */
size_t gb_registry_descriptor_set_count(const gb_registry *reg);
const uint8_t *gb_registry_descriptor_set_at(const gb_registry *reg, size_t i,
					     size_t *len);

/* Refusals, in file order, and the refusal of `dataset` to `dept` (NULL
 * when none). */
size_t gb_registry_refusal_count(const gb_registry *reg);
const gb_refusal *gb_registry_refusal_at(const gb_registry *reg, size_t i);
const gb_refusal *gb_registry_find_refusal(const gb_registry *reg,
					   const char *dataset,
					   const char *dept);

#endif
