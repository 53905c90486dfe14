/* govbus log store: the one interface the broker, its tools and the auditor
 * use to keep and read the append log (DESIGN §7). Everything outside
 * broker/store includes only this header.
 *
 * The store holds, per dataset, a stream of stored batches with dense
 * offsets and a hash chain, and beside the streams the state that must
 * commit with them: producer seqs, durable cursors, dataset key epochs and
 * wraps, the record-id dedupe index, signed checkpoints, policy snapshots
 * and access requests. The audit trail is the stream GB_AUDIT_STREAM
 * ("_audit"): its entries are stored like batches, one serialized
 * AuditEvent each, hash-chained the same way.
 *
 * Backends. A store is opened by backend name (gb_store_open_with) and every
 * call below goes through that backend's operations; callers never see
 * which one. Built today: "lmdb" (broker/store/lmdb, one LMDB environment
 * in a data dir). Whatever its engine, a backend must give:
 *   - dense offsets: a stream's first batch is at 0, each next one at the
 *     previous base + its record count, with no gap and no reuse;
 *   - chain continuity: every stored entry carries
 *     gb_chain_next(previous hash, base, broker time, batch) with broker
 *     time max(now_ns, last + 1), so times rise strictly with offsets;
 *   - seq idempotence: per (dataset, producer) only last + 1 is stored, a
 *     stored seq is answered with its original offset, never stored twice;
 *   - all-or-nothing units (gb_write.unit_len) and per-item rejections
 *     that leave nothing behind;
 *   - durability before return: gb_store_write_group returns 0 only when
 *     every item it reports as stored survives a crash; on failure nothing
 *     of the group is stored and every item reports the error;
 *   - one writer thread, readers on any thread at the same time, each read
 *     call seeing one consistent state;
 *   - untrusted storage: what is read back is length- and
 *     consistency-checked, and a bad value gives GB_ECORRUPT, never a crash
 *     (the raw readers below hand values out unjudged, by design).
 * What is LMDB's alone is marked "lmdb:" below (map size and growth, the
 * key size limit, the data dir layout).
 *
 * Stored batch value (every backend hands entries out in this form through
 * gb_store_read_raw, so exports read them alike): u64be broker_time_ns ||
 * u64be base_offset || u32be record_count || chain hash[32] || signed batch
 * bytes.
 *
 * lmdb: one environment in the data dir with named databases:
 *   streams   dataset id -> stream record (stream id, next offset, batch
 *             count, head chain hash, last broker time)
 *   log       u32be stream id || u64be base offset -> stored batch
 *   pseq      dataset \0 producer \0 u64be producer_seq -> u64be base offset
 *             || u32be record count   (idempotent retries)
 *   cursors   dept \0 dataset \0 name -> u64be next offset (durable cursors)
 *   epochs    dataset -> u32be current epoch || u8 retired || u64be created
 *             || commitment[32]   (the dataset key epoch publishes must use)
 *   epoch_log dataset \0 u32be epoch -> u64be created || commitment[32]
 *   wraps     dataset \0 u32be epoch || recipient -> signed key wrap bytes
 *   meta      format version and the stream id counter
 *   checkpoints  stream \0 u64be next_offset -> serialized SignedCheckpoint
 *   policies  BLAKE2b-256 of a config -> u32be n || n x u64be load time ||
 *             the config bytes   (every load of that config, in order)
 *   requests  u64be id -> serialized AccessRequestInfo   (access requests;
 *             ids dense from 1, the key is the authority on the id)
 *   dedupe    dataset \0 producer \0 record tag[16] -> u64be broker time ||
 *             u64be offset   (record ids seen inside the dedupe window)
 *   dedupe_age  u64be broker time || dedupe key -> empty (expiry order)
 *
 * Threads: exactly one writer thread calls gb_store_write_group(); any thread
 * may call the read functions concurrently. lmdb: reads run with MDB_NOTLS,
 * each holding a shared lock for its transaction, so the writer can grow
 * the map (which LMDB allows only with no transaction open in the process);
 * a read callback must not start a write. */
#ifndef GB_STORE_H
#define GB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_chain.h"

#define GB_STORED_HEADER_BYTES 52

typedef struct gb_store gb_store;

/* Which backend to open, and its settings. Zero it, then set what you
 * need: a zeroed struct plus lmdb.dir opens an LMDB store. */
typedef struct gb_store_options {
	const char *backend;            /* "lmdb"; NULL or "" means "lmdb" */
	bool readonly;                  /* open an existing store for reading:
					   nothing is written, not even to a
					   new one; writes fail with GB_EIO */
	struct {
		const char *dir;        /* data dir, created (0700) if missing */
		uint64_t map_size;      /* bytes of map to start with (0: the
					   default, 64 GiB of address space) */
	} lmdb;
} gb_store_options;

/* Open (creating if needed, unless readonly) the store `opt` describes.
 * An unknown backend or missing setting is GB_EINVAL; a store that cannot
 * be opened says why on stderr. */
int gb_store_open_with(const gb_store_options *opt, gb_store **out);

/* Open (creating if needed) the LMDB environment in `dir` with a map of
 * `map_size` bytes (0: the default, 64 GiB of address space). */
int gb_store_open(const char *dir, uint64_t map_size, gb_store **out);

/* Close; accepts NULL and sets *s to NULL. */
void gb_store_close(gb_store **s);

/* ------------------------------------------------------------ writing */

typedef enum {
	GB_WRITE_APPEND = 0,
	GB_WRITE_CURSOR = 1,
	GB_WRITE_EPOCH = 2,    /* open key_epoch (= current + 1) with its commitment */
	GB_WRITE_WRAP = 3,     /* store a wrap of key_epoch for dept */
	GB_WRITE_RETIRE = 4,   /* retire key_epoch if it is the current one */
	GB_WRITE_AUDIT = 5,    /* append signed_batch to stream `dataset`, no seq */
	GB_WRITE_CHECKPOINT = 6, /* store `value` for (dataset, checkpoint_offset) */
	GB_WRITE_POLICY = 7,   /* record a load at now_ns of config `value` */
	GB_WRITE_REQUEST = 8,  /* store access request `value` under request_id */
} gb_write_kind;

/* One item of a group commit. Inputs are borrowed for the call. */
typedef struct gb_write {
	gb_write_kind kind;
	/* APPEND inputs */
	const char *dataset;
	const char *producer;
	uint64_t producer_seq;
	uint32_t record_count;
	const uint8_t *signed_batch;    /* stored exactly as given */
	size_t signed_batch_len;
	uint64_t now_ns;                /* broker clock when received */
	uint32_t key_epoch;             /* APPEND (0: unchecked), EPOCH, WRAP, RETIRE */
	const uint8_t *key_commitment;  /* APPEND (with an epoch), EPOCH: 32 bytes */
	const uint8_t *wrap;            /* WRAP: signed wrap bytes, for `dept` */
	size_t wrap_len;                /* (WRAP's key_commitment, if set, must
					 * equal the epoch's) */
	size_t unit_len;                /* > 1 on the first item of a unit: the
					 * next unit_len items (no APPENDs) are
					 * stored all or none */
	/* CURSOR inputs (dataset above too) */
	const char *dept;
	const char *cursor_name;
	uint64_t cursor_next;
	/* CHECKPOINT and POLICY inputs */
	const uint8_t *value;           /* SignedCheckpoint / config bytes */
	size_t value_len;
	uint64_t checkpoint_offset;     /* CHECKPOINT: the next_offset it covers */
	const uint8_t *policy_hash;     /* POLICY: GB_HASH_BYTES, of `value` */
	uint64_t request_id;            /* REQUEST: the id to replace; 0 stores
					   a new request */
	/* APPEND dedupe inputs: the batch header's record tags
	 * (record_count x GB_RECORD_TAG_BYTES, zero tag = no id) or NULL, and
	 * room for record_count indexes, required with tags. */
	const uint8_t *record_tags;
	uint32_t *dup_records;
	/* results */
	int result;                     /* 0 or GB_E... for this item */
	bool duplicate;                 /* APPEND: seq already stored, or every
					   record by its tag (dup_count) */
	uint32_t dup_count;             /* APPEND: records stored before by tag;
					   their indexes in dup_records */
	uint64_t base_offset;           /* APPEND: offset of the first record */
	uint64_t broker_time_ns;        /* APPEND: stored time */
	uint8_t chain_hash[GB_HASH_BYTES];
	uint64_t stored_id;             /* REQUEST: the id it is stored under */
} gb_write;

/* Apply `n` items in one transaction, commit and sync, in order.
 *
 * Names (dataset, producer, dept, cursor name, recipient) are 1..255 bytes;
 * any other is GB_EINVAL for its item. lmdb: so is a name combination whose
 * key would pass LMDB's key size limit (511 bytes).
 * APPEND: if producer_seq was already stored for (dataset, producer) the item
 * gets result 0, duplicate=true and the original base_offset; any other seq
 * than last + 1 (1 for a new producer) is GB_ECONFLICT, so a pipelined batch
 * can never overtake one that failed; with key_epoch set, an epoch that is
 * not the dataset's current, unretired one (or whose commitment differs) is
 * GB_EEPOCH. Otherwise the batch is appended at the stream's next offset with
 * broker time max(now_ns, last + 1) and the chain extended.
 * EPOCH: key_epoch must be current + 1 (GB_EEPOCH otherwise). WRAP: the epoch
 * must exist and, with key_commitment set, have that commitment (GB_EEPOCH);
 * the recipient is checked after that, so a wrap of an unknown epoch is
 * GB_EEPOCH whatever its recipient; a wrap already stored is kept (result
 * 0). RETIRE with key_epoch 0 retires whichever epoch is current at commit.
 * A retry whose record_count differs from the stored batch's is
 * GB_ECONFLICT.
 * AUDIT: like APPEND without producer or seq: signed_batch (any bytes, e.g.
 * an AuditEvent) is appended to stream `dataset` as one entry of
 * record_count records, with the same results.
 * CHECKPOINT: stores `value` under (dataset, checkpoint_offset), replacing
 * one taken at the same offset; an offset beyond the stream's next offset
 * is GB_EINVAL. POLICY: `value` must hash (BLAKE2b-256) to policy_hash
 * (GB_EINVAL); the load time now_ns is appended to that config's record,
 * which is created with the bytes on first load.
 * REQUEST: `value` (1..GB_STORE_REQUEST_MAX bytes) is stored
 * under request_id, which must exist (GB_ENOTFOUND), or with request_id 0
 * under the next id (the last stored one + 1, so ids are dense from 1 even
 * when a commit fails), returned in stored_id.
 * APPEND with record_tags and a dedupe window set (gb_store_set_dedupe_
 * window), after the seq and epoch checks: a record whose tag was stored
 * for (dataset, producer) less than the window ago (broker time), or
 * repeats the tag of an earlier record of the batch, is a duplicate. All of
 * them duplicates: nothing is appended, the seq is used (pseq points at the
 * first record's offset), result 0, duplicate=true, base_offset = where
 * record 0 was stored. Some: GB_EDUPLICATE with their indexes (ascending)
 * in dup_records, nothing stored. None: the batch is appended and its tags
 * entered with the batch's broker time. Each group first removes a few
 * hundred expired entries, more than it can add.
 * Units: the unit_len items from one with unit_len > 1 are stored all or
 * none; when one is rejected, every item of the unit reports that first
 * rejection. A unit holding an APPEND is GB_EINVAL for all its items.
 * A per-item rejection does not affect other items. lmdb: when the map is
 * full (MDB_MAP_FULL) the map is doubled, waiting for readers of this
 * process to end their transactions, and the group is run again; only a
 * map that cannot grow (16 TiB, or no address space) gives GB_ENOSPC. If
 * the commit fails (GB_ENOSPC for ENOSPC/EDQUOT, GB_EIO otherwise) every
 * item gets that error, nothing is stored, and the function returns it.
 * Returns 0 when the commit is durable. */
int gb_store_write_group(gb_store *s, gb_write *items, size_t n);

/* The dedupe window in nanoseconds of broker time (0: off; tags are then
 * neither checked nor entered, and old entries drain). Any thread. */
void gb_store_set_dedupe_window(gb_store *s, uint64_t window_ns);

typedef struct gb_store_stats {
	const char *backend;            /* "lmdb" */
	uint64_t capacity_bytes;        /* room the store has now before it
					   must grow; lmdb: the map's size,
					   which grows when full */
} gb_store_stats;

/* What the store says about itself. Writer thread. */
void gb_store_stats_get(const gb_store *s, gb_store_stats *out);

/* lmdb: size of the map in bytes now (it grows when full); the
 * capacity_bytes of gb_store_stats_get. Writer thread. */
uint64_t gb_store_map_size(const gb_store *s);

/* ------------------------------------------------------------ reading */

typedef struct gb_stream_info {
	uint64_t next_offset;           /* offset the next record will get */
	uint64_t batch_count;
	uint64_t last_time_ns;          /* broker time of the last batch, 0 if none */
	uint8_t head_hash[GB_HASH_BYTES];
} gb_stream_info;

/* Stream head. An unknown dataset reads as an empty stream (all zero). */
int gb_store_stream_info(gb_store *s, const char *dataset,
			 gb_stream_info *out);

/* Last stored producer_seq of (dataset, producer), 0 if none. */
int gb_store_last_seq(gb_store *s, const char *dataset, const char *producer,
		      uint64_t *seq);

/* First offset whose batch has broker time >= time_ns (binary search over
 * offsets); the stream's next offset if none. */
int gb_store_offset_for_time(gb_store *s, const char *dataset,
			     uint64_t time_ns, uint64_t *offset);

typedef struct gb_stored_batch {
	uint64_t base_offset;
	uint32_t record_count;
	uint64_t broker_time_ns;
	const uint8_t *chain_hash;      /* GB_HASH_BYTES */
	const uint8_t *signed_batch;
	size_t signed_batch_len;
} gb_stored_batch;

/* Called for each batch; pointers are valid only during the call. Return 0
 * to continue, 1 to stop early without error, negative to abort with that
 * error. */
typedef int (*gb_store_batch_fn)(void *ctx, const gb_stored_batch *b);

/* Visit up to `max_batches` batches of `dataset`, starting with the batch
 * that contains `offset`, in offset order, inside one read transaction.
 * Returns the number visited (>= 0) or a negative error. */
int gb_store_read(gb_store *s, const char *dataset, uint64_t offset,
		  size_t max_batches, gb_store_batch_fn fn, void *ctx);

/* Durable cursor of (dept, dataset, name); GB_ENOTFOUND when never set. */
int gb_store_cursor_get(gb_store *s, const char *dept, const char *dataset,
			const char *name, uint64_t *next_offset);

/* Key state of a dataset: the current epoch (0 when it has none), whether
 * it is retired, and its commitment. */
typedef struct gb_epoch_state {
	uint32_t current;
	bool retired;
	uint64_t created_ns;
	uint8_t commitment[32];
} gb_epoch_state;

int gb_store_epoch_get(gb_store *s, const char *dataset, gb_epoch_state *out);

/* Copy the wrap of (dataset, epoch) for `recipient` into a new malloc'd
 * buffer (out may be NULL to test existence). GB_ENOTFOUND when absent. */
int gb_store_wrap_get(gb_store *s, const char *dataset, uint32_t epoch,
		      const char *recipient, uint8_t **out, size_t *len);

/* Call fn(ctx, recipient) for every department holding a wrap of `epoch` of
 * `dataset`; fn returns 0 to go on, non-zero to stop with that value.
 * Returns the number visited or a negative error. */
typedef int (*gb_store_name_fn)(void *ctx, const char *name);
int gb_store_wrap_holders(gb_store *s, const char *dataset, uint32_t epoch,
			  gb_store_name_fn fn, void *ctx);

/* Recompute the chain of `dataset` from offset 0 and check offsets are dense
 * and every stored hash matches. On a mismatch returns GB_ECORRUPT and sets
 * *bad_offset. */
int gb_store_verify_stream(gb_store *s, const char *dataset,
			   uint64_t *bad_offset);

/* ------------------------------------------------------------ audit
 *
 * Readers for auditors and exports. They hand out what the store holds:
 * values are bounded but otherwise unchecked, since the caller (an auditor's
 * verifier, or an agent) judges them and must see tampering, not have it
 * hidden by a read error. */

/* Open the LMDB store in `dir` read-only (MDB_RDONLY): nothing is written,
 * not even to a new environment, so an export can run on evidence that
 * must not change. A dir without a govbus environment is GB_ENOTFOUND.
 * Write calls on the result fail with GB_EIO. */
int gb_store_open_readonly(const char *dir, gb_store **out);

/* Called with one stored value: a log entry (offset from its key) or a
 * checkpoint (offset = its next_offset). Same return rule as
 * gb_store_batch_fn. Pointers are valid only during the call. */
typedef int (*gb_store_value_fn)(void *ctx, uint64_t offset,
				 const uint8_t *value, size_t len);

/* Visit every log entry of `stream`, in key order, raw: a missing, moved or
 * malformed entry is passed on as it is (split it with
 * gb_store_entry_split). *head receives the stream head as the same read
 * transaction sees it. Returns the number visited or a negative error
 * (GB_ECORRUPT when the stream head itself is unreadable). */
int gb_store_read_raw(gb_store *s, const char *stream, gb_stream_info *head,
		      gb_store_value_fn fn, void *ctx);

/* Split a stored log value into its fields (b->base_offset is the value's
 * own, not the key's). GB_ECORRUPT when it is too short to hold them. */
int gb_store_entry_split(const uint8_t *value, size_t len, gb_stored_batch *b);

/* Visit up to `max` stored checkpoints of `stream` with next_offset >=
 * `from`, in offset order. Returns the number visited or an error. */
int gb_store_checkpoints_read(gb_store *s, const char *stream, uint64_t from,
			      size_t max, gb_store_value_fn fn, void *ctx);

typedef struct gb_stored_policy {
	const uint8_t *hash;            /* GB_HASH_BYTES */
	const uint64_t *loaded_ns;      /* every load, in order */
	size_t load_count;
	const uint8_t *config;
	size_t config_len;
} gb_stored_policy;

typedef int (*gb_store_policy_fn)(void *ctx, const gb_stored_policy *p);

/* Visit every stored policy snapshot, in hash order. A malformed record is
 * GB_ECORRUPT. Returns the number visited or an error. */
int gb_store_policies_read(gb_store *s, gb_store_policy_fn fn, void *ctx);

/* ------------------------------------------------------------ access requests
 * Values are handed out raw (bounded by the store); the caller decodes and
 * checks them. lmdb: a read-only open of a data dir written before access
 * requests existed has none: both calls then see none. */

#define GB_STORE_REQUEST_MAX 8192      /* an AccessRequestInfo is < 4 KiB */

/* Visit every stored request in id order: fn(ctx, id, value, len) with the
 * same return rule as gb_store_batch_fn. A key that is not a u64be id is
 * GB_ECORRUPT. Returns the number visited or an error. */
int gb_store_requests_read(gb_store *s, gb_store_value_fn fn, void *ctx);

/* The id the next new request will be stored under (1 when none). */
int gb_store_request_next_id(gb_store *s, uint64_t *next);

#endif
