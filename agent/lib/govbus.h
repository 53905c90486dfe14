/* govbus.h — the C API a department system links to publish and subscribe
 * (DESIGN §9, §13).
 *
 * A gb_client is one connection to the broker: a ZeroMQ DEALER under CURVE,
 * authenticated with the department's own key. On it the caller opens any
 * number of publishers (one per dataset) and subscriptions. The library is
 * single-threaded and starts no threads: frames from the broker (acks,
 * deliveries, pongs) are handled while the caller is blocked in
 * gb_publisher_add(), gb_publisher_flush(), gb_subscription_next() or
 * gb_client_poll(). A client and everything opened on it must be used from
 * one thread at a time.
 *
 * Trust: everything the broker sends is checked. Deliveries are verified
 * under the dataset owner's signing key (pinned in the agent config when the
 * broker must not be trusted even for that), their offsets must be dense and
 * their hash chain must continue; any failure stops the subscription with a
 * sentence saying what was wrong.
 *
 * End-to-end encryption (DESIGN §5): every batch is sealed under a dataset
 * key of a numbered epoch; the broker only ever sees ciphertext and wraps
 * (a key sealed to one department's box key and signed by the dataset's
 * owner). Each client keeps the keys it uses in memory only (sodium_malloc,
 * wiped on close) and recovers them from its own wraps with KeyFetch, so an
 * agent keeps no state on disk. A publisher opens a dataset's first epoch
 * itself, and a new one whenever the broker retires the current epoch
 * (after a revocation: publishes under it are refused with 412), re-sealing
 * unacknowledged batches under the new key with their original
 * producer_seq. A subscriber fetches and checks the owner's wrap of each
 * epoch it meets; when there is none yet it waits for the owner and says
 * so (GB_EVENT_KEY_WAITING). The owner's key work — opening epochs and
 * wrapping keys for readers added later — is also available on its own
 * (gb_client_sync_keys, gb_client_next_key_work) for a long-running agent.
 *
 * Errors: every function returning int gives 0 or a negative GB_E... code
 * (gb_error.h, described by gb_strerror()). When a call on a client fails,
 * gb_client_last_error() holds one sentence saying why and
 * gb_client_last_status() the wire status (4xx / 5xx) — the broker's own,
 * when the broker refused the request.
 *
 * Reconnection is automatic (DESIGN §13): the client pings when idle; when
 * the broker is silent for the configured timeout or its instance changes,
 * the socket is rebuilt, Hello sent again, subscriptions resumed from the
 * first offset not yet returned to the caller and every unacknowledged
 * batch re-sent with its original producer_seq. The library never prints;
 * it reports reconnections through gb_client_options.on_event. */
#ifndef GOVBUS_H
#define GOVBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gb_agent_config gb_agent_config;
typedef struct gb_client gb_client;
typedef struct gb_publisher gb_publisher;
typedef struct gb_subscription gb_subscription;

/* ================================================================ config */

/* Load an agent config file:
 *
 *     dept: health                       # this department's id
 *     key: keys/health.key               # relative to the config's folder
 *     broker:
 *       endpoint: "tcp://127.0.0.1:7780"
 *       public_key: "<Z85 box key>"      # the broker's, from govbus-keys show
 *       timeout: 3                       # optional, seconds of broker
 *                                        # silence before reconnecting
 *     peers:                             # optional signing-key pins
 *       tax: "<base64 Ed25519 key>"
 *     schemas:                           # optional: a dataset's
 *       tax.invoices:                    # record type, known offline and
 *         type: tax.v1.Invoice           # used instead of the broker's
 *         descriptor_set: invoices.desc  # catalog (relative path)
 *
 * Unknown keys, duplicate keys and malformed values are refused. The key
 * file is only named here; gb_client_open() reads it. Descriptor sets
 * named under schemas: are read and checked here (the type must exist).
 *
 * @param path    the YAML file
 * @param out     receives the config; NULL on failure
 * @param why     receives "file:line:col: sentence" on failure (may be NULL)
 * @return 0, GB_ECONFIG (bad content), GB_EIO (unreadable), GB_ETOOBIG
 *         (file over 1 MiB) or GB_ENOMEM. */
int gb_agent_config_load(const char *path, gb_agent_config **out, char *why,
			 size_t why_len);

/* Free a config; accepts NULL and sets *cfg to NULL. A client keeps its own
 * copy of what it needs, so the config may be freed once a client is open. */
void gb_agent_config_destroy(gb_agent_config **cfg);

/* This department's id. */
const char *gb_agent_config_dept(const gb_agent_config *cfg);
/* The broker endpoint, e.g. "tcp://127.0.0.1:7780". */
const char *gb_agent_config_endpoint(const gb_agent_config *cfg);
/* The key file path, already resolved against the config's folder. */
const char *gb_agent_config_key_path(const gb_agent_config *cfg);
/* Broker silence, in milliseconds, before the client reconnects. */
unsigned gb_agent_config_timeout_ms(const gb_agent_config *cfg);
/* The pinned Ed25519 key of department `dept`, or NULL when not pinned. */
const uint8_t *gb_agent_config_peer(const gb_agent_config *cfg,
				    const char *dept);

/* ================================================================ client */

typedef enum gb_event_kind {
	/* The connection was rebuilt and Hello answered. `restarted` says
	 * whether the broker is a new instance; `reason` why it was rebuilt. */
	GB_EVENT_RECONNECTED = 1,
	/* A subscription was re-requested from `offset` on `dataset`. */
	GB_EVENT_RESUBSCRIBED = 2,
	/* `count` unacknowledged batches of `dataset` were sent again. */
	GB_EVENT_RESENT = 3,
	/* Owner: key `epoch` of `dataset` was opened and wrapped for `count`
	 * departments (this one included). */
	GB_EVENT_KEY_OPENED = 4,
	/* Owner: key `epoch` of `dataset` was wrapped for `count` more
	 * departments, listed in `recipients` ("social, health"). */
	GB_EVENT_KEY_WRAPPED = 5,
	/* Owner: key work for `dataset` (`epoch`, 0 if none) failed; `reason`
	 * says why, `status` is the wire status. Publishing goes on; the
	 * readers concerned wait until the work succeeds. */
	GB_EVENT_KEY_FAILED = 6,
	/* Reader: the broker holds no wrap of key `epoch` of `dataset` for
	 * this department yet; records wait until its owner `owner` provides
	 * one (asked again about every second). Reported once per epoch. */
	GB_EVENT_KEY_WAITING = 7,
	/* Publisher: the broker refused the key epoch of unacknowledged
	 * batches (412, the epoch was retired); `count` batches were sealed
	 * again under `epoch` with their original producer_seq. */
	GB_EVENT_RESEALED = 8,
} gb_event_kind;

typedef struct gb_event {
	gb_event_kind kind;
	bool restarted;           /* the broker's instance changed */
	const char *reason;       /* one phrase, e.g. "no answer for 3 s" */
	const char *dataset;      /* RESUBSCRIBED, RESENT, KEY_*, RESEALED */
	uint64_t offset;          /* RESUBSCRIBED: next offset requested */
	uint64_t count;           /* RESENT, RESEALED: batches; KEY_OPENED,
				     KEY_WRAPPED: departments */
	uint32_t epoch;           /* KEY_*, RESEALED */
	const char *owner;        /* KEY_WAITING: the dataset's owner */
	const char *recipients;   /* KEY_WRAPPED: comma-separated ids */
	unsigned status;          /* KEY_FAILED: wire status */
} gb_event;

/* Called from inside whichever library call noticed the event. It must not
 * call back into the library on the same client. */
typedef void (*gb_event_fn)(void *arg, const gb_event *ev);

typedef struct gb_client_options {
	/* Broker silence (ms) before reconnecting; 0: the config's timeout
	 * (default 3000). Also how long the first Hello waits. */
	unsigned timeout_ms;
	/* Idle time (ms) after which a Ping is sent; default 1000. */
	unsigned ping_ms;
	/* How long (ms) to keep trying to reconnect before the blocked call
	 * fails with GB_ETIMEOUT; default 60000, 0 means forever. */
	unsigned give_up_ms;
	gb_event_fn on_event;     /* may be NULL */
	void *event_arg;
	const char *agent_name;   /* sent in Hello; default "govbus-agent" */
} gb_client_options;

/* Fill `opts` with the defaults above. */
void gb_client_options_init(gb_client_options *opts);

/* Load the department's key, connect to the broker, say Hello and wait for
 * Welcome.
 *
 * @param cfg   the agent config (borrowed for the call)
 * @param opts  NULL for defaults
 * @param out   receives the client; NULL on failure
 * @param why   receives one sentence on failure (may be NULL)
 * @return 0; GB_EKEYFILE (key unusable), GB_ETIMEOUT (no Welcome within the
 *         timeout — also what a refused CURVE handshake looks like),
 *         GB_EAUTH / GB_E... from a broker Error, GB_EPROTO (the Welcome
 *         names another department), GB_EIO (ZeroMQ setup), GB_ENOMEM. */
int gb_client_open(const gb_agent_config *cfg, const gb_client_options *opts,
		   gb_client **out, char *why, size_t why_len);

/* Close the connection. Publishers and subscriptions still open on it are
 * closed first (unflushed records are dropped: call gb_publisher_flush()
 * before). Waits up to the timeout for already queued frames (cursor acks)
 * to leave. Accepts NULL and sets *c to NULL. */
void gb_client_close(gb_client **c);

/* The sentence describing the last failure on this client ("" if none). */
const char *gb_client_last_error(const gb_client *c);

/* The wire status of the last failure: the broker's status when the broker
 * refused, else gb_error_status() of the local error; 0 if none. */
unsigned gb_client_last_status(const gb_client *c);

/* The department the broker attributes this connection to. */
const char *gb_client_dept(const gb_client *c);

/* How many times the connection has been rebuilt. */
uint64_t gb_client_reconnects(const gb_client *c);

/* Handle frames from the broker for up to `timeout_ms` (-1: until one
 * arrives). Only needed by callers that hold a client open without calling
 * the blocking functions, to keep acks and pings flowing. Pings only flow
 * while the caller is inside the library, and the broker drops a
 * subscription whose connection stays silent for 30 s without telling the
 * agent: a caller holding a subscription must come back (next() or this)
 * well within that.
 * @return 0 when frames were handled, GB_ETIMEOUT, or an error. */
int gb_client_poll(gb_client *c, int timeout_ms);

/* Async-signal-safe: make the blocking call in progress (or the next one)
 * on `c` return GB_ECLOSED ("interrupted") at its next wakeup, within the
 * ping interval at most. Meant for SIGINT/SIGTERM handlers. */
void gb_client_interrupt(gb_client *c);

/* ================================================================ keys */

/* Do the owner's key work for `dataset` now (DESIGN §5): fetch its key
 * state; open a new epoch (a random key wrapped for every department the
 * broker lists as a reader, this one included) when the dataset has none,
 * when the broker has retired the current one, or when no wrap of the
 * current one for this department exists; otherwise recover the current
 * key from this department's own wrap. Then wrap older epochs for readers
 * the broker reports missing (a grant added later). Reports each action
 * as GB_EVENT_KEY_OPENED / GB_EVENT_KEY_WRAPPED; a missing wrap that
 * cannot be made is GB_EVENT_KEY_FAILED, not an error of this call.
 * Publishers do this on their own; a long-running agent calls it for
 * every dataset it owns and for every gb_client_next_key_work().
 *
 * @param epoch  receives the current epoch afterwards (may be NULL)
 * @return 0; the broker's refusal (GB_EPERM for a dataset this department
 *         does not own, GB_ENOTFOUND...); GB_ESIG / GB_ECRYPTO when the
 *         broker hands back an own wrap that does not verify or open;
 *         GB_EEPOCH when opening an epoch lost a race too many times;
 *         GB_ETIMEOUT; GB_ECLOSED (interrupted); GB_ENOMEM. */
int gb_client_sync_keys(gb_client *c, const char *dataset, uint32_t *epoch);

/* Wait up to `timeout_ms` (-1: for ever) for the broker to push key work
 * for a dataset this department owns (it does after a config reload that
 * adds or revokes readers), handling frames meanwhile. Pushes are kept per
 * dataset (repeats merge) and also reach open publishers, which act on
 * them themselves.
 * @return 0 with the dataset's id in `dataset`; GB_ETIMEOUT; or a
 *         client-level error. */
int gb_client_next_key_work(gb_client *c, char *dataset, size_t len,
			    int timeout_ms);

/* The datasets this department owns, as listed in the broker's Welcome
 * (every owned dataset, with its last producer_seq) plus any published
 * on this client. */
size_t gb_client_owned_count(const gb_client *c);
const char *gb_client_owned_dataset(const gb_client *c, size_t i);

/* ================================================================ publish */

typedef struct gb_publisher_options {
	uint32_t max_records;     /* records per batch; default 1000 */
	size_t max_bytes;         /* serialized records per batch; default 1 MiB */
	unsigned window;          /* batches in flight; default 16 */
	unsigned max_retries;     /* resends after 5xx; default 8 (backoff
				     100 ms doubling, at most 5 s) */
} gb_publisher_options;

void gb_publisher_options_init(gb_publisher_options *opts);

/* Open a publisher for `dataset`, which this department must own. Its
 * producer_seq continues from the broker's Welcome position (or from a
 * publisher of the same dataset closed earlier on this client). At most one
 * publisher per dataset per client, and per department at a time: two
 * processes publishing one dataset under one key would reuse sequence
 * numbers (409). Before its first batch the publisher does the owner's key
 * work (gb_client_sync_keys) and seals every batch under the current key
 * epoch; a broker refusal there fails the job like a refused batch.
 * @return 0, GB_EINVAL (bad dataset id or options), GB_ECONFLICT (already
 *         open on this client), GB_ENOMEM. */
int gb_publisher_open(gb_client *c, const char *dataset,
		      const gb_publisher_options *opts, gb_publisher **out);

/* Append one record. The bytes are copied into the current batch; a batch
 * is sealed, signed and sent when it reaches max_records or max_bytes.
 * Blocks only while `window` batches are already unacknowledged (and for
 * the key work before the first batch or after a 412). A batch's plaintext
 * is kept (and wiped after its ack) so it can be sealed again under a new
 * epoch.
 *
 * @param payload  record bytes (may be NULL when len is 0)
 * @param len      at most GB_MAX_RECORD_BYTES
 * @param id       optional record id (NULL or ""), at most 128 bytes of
 *                 printable ASCII. With an id the record is stored once:
 *                 the broker drops it when a record with the same id from
 *                 this department was stored to this dataset within its
 *                 dedupe window (broker.dedupe_seconds, default 2 min), or
 *                 earlier in the same batch. It sees a keyed hash of the
 *                 id, never the id (DESIGN §7).
 * @return 0; GB_ETOOBIG, GB_EINVAL for a bad record; a broker refusal of an
 *         earlier batch (the job has failed: see gb_client_last_error());
 *         GB_ETIMEOUT when the broker stayed unreachable past give_up_ms;
 *         GB_ECLOSED when interrupted. After a failure every later call
 *         returns the same error. */
int gb_publisher_add(gb_publisher *p, const void *payload, size_t len,
		     const char *id);

/* Send the current batch and wait until every batch is acknowledged, i.e.
 * committed and synced by the broker. Same errors as gb_publisher_add(). */
int gb_publisher_flush(gb_publisher *p);

/* Drop the records added since the last batch was sealed (the batch
 * being filled), wiping them; none of them is ever sent.
 * Batches sealed before are not affected: flush them as usual. For a
 * caller that finds a bad record and must publish nothing of its batch.
 * Returns how many records were dropped. */
uint32_t gb_publisher_discard(gb_publisher *p);

typedef struct gb_publisher_stats {
	uint64_t records;         /* records acknowledged */
	uint64_t batches;         /* batches acknowledged */
	uint64_t duplicates;      /* batches the broker already had (resends) */
	bool have_offsets;        /* false until the first ack */
	uint64_t first_offset;    /* lowest offset acknowledged */
	uint64_t last_offset;     /* highest offset acknowledged */
	uint64_t last_seq;        /* last producer_seq assigned */
	uint32_t key_epoch;       /* epoch batches are sealed under (0: none
				     yet) */
	uint64_t resealed;        /* batches sealed again after a 412 */
	uint64_t duplicate_records; /* records with ids the broker already had
				       (dedupe), not stored again; not in
				       `records` */
} gb_publisher_stats;

void gb_publisher_stats_get(const gb_publisher *p, gb_publisher_stats *out);

/* Close; records not flushed are dropped. Accepts NULL, sets *p to NULL. */
void gb_publisher_close(gb_publisher **p);

/* ================================================================ subscribe */

typedef enum gb_start_kind {
	GB_START_EARLIEST = 0,    /* the oldest record the grant allows */
	GB_START_LATEST = 1,      /* only records published from now on */
	GB_START_OFFSET = 2,      /* value: an offset */
	GB_START_TIME = 3,        /* value: broker time, ns since the epoch */
} gb_start_kind;

typedef struct gb_start {
	gb_start_kind kind;
	uint64_t value;
} gb_start;

/* Parse "earliest", "latest", a decimal offset, or an RFC 3339 UTC time
 * ("2026-11-23T10:00:00Z", optional fraction of a second, "Z" or "+00:00").
 * @return 0 or GB_EINVAL with a sentence in `why`. */
int gb_start_parse(const char *text, gb_start *out, char *why, size_t why_len);

typedef struct gb_subscription_options {
	gb_start start;           /* default earliest */
	/* Durable cursor name (NULL for none). With a name the broker resumes
	 * from the stored cursor, ignoring `start`, whenever one exists. */
	const char *durable;
	uint32_t credit;          /* batches in flight; default 64 */
	/* Durable only: send a CursorAck at the latest after this many
	 * consumed records (default 1000); one is also sent whenever next()
	 * finds nothing buffered and is about to wait, and by commit/close.
	 * So after a crash at most this many records (plus the records of the
	 * batch being read) are delivered again. */
	uint32_t ack_every;
	/* Durable only: called just before each CursorAck so the caller can
	 * make what it has output durable (e.g. fflush). A non-zero return
	 * suppresses the ack and next() fails with GB_EIO. */
	int (*before_ack)(void *arg);
	void *before_ack_arg;
} gb_subscription_options;

void gb_subscription_options_init(gb_subscription_options *opts);

/* Ask the broker for `dataset` and wait for its answer (SubscribeOk or a
 * refusal).
 * @return 0; the broker's refusal as GB_EPERM, GB_ENOTFOUND, GB_EEXPIRED…
 *         (sentence in gb_client_last_error()); GB_EAUTH when the owner's
 *         key differs from the one pinned in `peers`; GB_EINVAL (bad id,
 *         cursor name or options); GB_ETIMEOUT; GB_ENOMEM. */
int gb_subscription_open(gb_client *c, const char *dataset,
			 const gb_subscription_options *opts,
			 gb_subscription **out);

/* One record, valid until the next call on the subscription. */
typedef struct gb_record {
	const char *dataset;
	uint64_t offset;          /* dense, per dataset, from 0 */
	const char *producer;     /* the dataset's owner */
	uint64_t produced_at_ns;  /* producer's clock, informational */
	uint64_t broker_time_ns;  /* broker time of the record's batch */
	const char *id;           /* producer's record id, "" if none */
	const uint8_t *payload;
	size_t len;
} gb_record;

/* Return the next record. The record returned by the previous call counts
 * as consumed (for the durable cursor) once this is called again or
 * gb_subscription_commit() is called.
 *
 * @param timeout_ms  -1 to wait for ever, 0 to only take what is buffered
 * @return 0 with *rec filled; GB_ETIMEOUT when nothing arrived in time; or
 *         an error that ends the subscription: the broker's (grant revoked
 *         or expired: GB_EPERM / GB_EEXPIRED…), GB_ESIG (a batch does not
 *         verify under the owner's key, or the wrap of its key epoch is
 *         unsigned or not signed by the owner), GB_ECORRUPT (offsets or
 *         hash chain do not continue), GB_ECRYPTO (the batch's key
 *         commitment differs from the owner's wrap, the ciphertext fails
 *         authentication, record_count differs from the records inside,
 *         or the wrap does not open), the broker's refusal of a KeyFetch,
 *         GB_EPROTO, GB_ECLOSED (interrupted). Records delivered before a
 *         broker error are still returned first.
 *
 * A batch under a key epoch this client holds no key for is kept while the
 * key is fetched (KeyFetch, the owner's wrap for this department, checked
 * against the owner's signing key); when the owner has not wrapped it yet
 * this returns GB_ETIMEOUT at `timeout_ms` as if nothing had arrived,
 * after reporting GB_EVENT_KEY_WAITING once, and asks again about every
 * second until the wrap is there. */
int gb_subscription_next(gb_subscription *s, gb_record *rec, int timeout_ms);

/* Durable subscriptions: mark every record returned so far as consumed,
 * send the CursorAck and wait (up to the timeout) until the broker has
 * received it. No-op for non-durable subscriptions.
 * @return 0, GB_ETIMEOUT, GB_EIO (before_ack failed) or the
 *         subscription's error. */
int gb_subscription_commit(gb_subscription *s);

/* The next offset not yet returned to the caller. */
uint64_t gb_subscription_position(const gb_subscription *s);

/* Send what is consumed as a CursorAck (durable; records returned but not
 * committed are not acked), unsubscribe and free. Accepts NULL. */
void gb_subscription_close(gb_subscription **s);

#ifdef __cplusplus
}
#endif

#endif
