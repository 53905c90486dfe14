/* A scripted in-process broker for the agent library's tests (a ROUTER
 * under CURVE on an ipc:// endpoint, in its own thread), and the helpers
 * the tests share around it. Test code only.
 *
 * It keeps a real log of one dataset (DATASET) — signatures checked, seqs
 * deduplicated, chain hashes computed with gb_chain — and the key state of
 * DATASET as DESIGN §5 describes it: epochs with their commitment and
 * whether they are retired, wraps per (epoch, recipient), the readers that
 * must get a wrap of a new epoch, and the missing wraps of existing ones.
 * Publishes must be sealed under the current, unretired epoch (400 for
 * clear, 412 otherwise). The connecting department is always "health";
 * DATASET's owner is fk.owner ("health" unless a test plays a reader).
 *
 * It misbehaves on request: fail a publish with 503, swallow an ack,
 * refuse with 403, tamper with a batch, break the chain, skip a batch,
 * revoke a subscription, fall silent, restart with a new instance, retire
 * an epoch when a given seq arrives, lose a race to open an epoch, push
 * KeyInfo to the owner. Tests may also append crafted batches and wraps. */
#ifndef GB_FAKE_BROKER_H
#define GB_FAKE_BROKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_chain.h"
#include "gb_codec.h"
#include "gb_envelope.h"
#include "gb_keys.h"
#include "govbus.h"

#define DATASET "health.x"
#define MAX_LOG 256
#define MAX_SUBS 8
#define MAX_EPOCHS 16
#define MAX_WRAPS 64
#define MAX_READERS 4

struct stored {
	uint8_t *sb;
	size_t len;
	uint64_t base, seq, time;
	uint32_t count, epoch;
	uint8_t hash[GB_HASH_BYTES];
};

struct fsub {
	uint8_t peer[256];
	size_t peer_len;
	uint64_t id, next;
	uint32_t credit;
	char durable[GB_MAX_NAME_LEN + 1];
	unsigned delivered;
	bool live;
};

struct fepoch {
	bool exists, retired;
	uint8_t commitment[GB_COMMITMENT_BYTES];
};

struct fwrap {
	uint32_t epoch;
	char dept[GB_MAX_ID_LEN + 1];
	uint8_t *w;
	size_t len;
};

struct freader {
	char dept[GB_MAX_ID_LEN + 1];
	uint8_t box_pk[GB_BOX_PK_BYTES];
};

struct fake {
	char endpoint[300];
	gb_identity *key;
	char owner[GB_MAX_ID_LEN + 1];        /* DATASET's owner */
	uint8_t producer_pk[GB_SIGN_PK_BYTES]; /* its signing key */
	pthread_t thread;
	pthread_mutex_t mu;
	void *ctx, *router;
	atomic_int stop, restart, paused, push;
	uint64_t instance;
	/* the last session that said Hello: where pushes go */
	uint8_t session[256];
	size_t session_len;
	/* the log of DATASET */
	struct stored log[MAX_LOG];
	size_t nlog;
	uint64_t next_offset, last_seq, time;
	uint8_t head[GB_HASH_BYTES];
	struct fsub subs[MAX_SUBS];
	/* durable cursors by name */
	char cursor_name[4][GB_MAX_NAME_LEN + 1];
	uint64_t cursor[4];
	int ncursors;
	/* keys of DATASET */
	uint32_t epoch;                       /* current, 0: none */
	struct fepoch epochs[MAX_EPOCHS + 1];
	struct fwrap wraps[MAX_WRAPS];
	size_t nwraps;
	struct freader readers[MAX_READERS];  /* for a new epoch */
	size_t nreaders;
	bool missing_current_only;            /* history since-grant / none */
	/* an epoch "another agent" opens just before our upload of it */
	uint32_t rival_epoch;
	uint8_t rival_commitment[GB_COMMITMENT_BYTES];
	uint8_t *rival_wrap;                  /* for health */
	size_t rival_wrap_len;
	/* misbehaviour */
	uint64_t fail_seq_once;       /* 503 on its first arrival */
	uint64_t swallow_seq;         /* store but never ack (once) */
	uint64_t crash_seq;           /* on arrival: lose it, restart (once) */
	uint64_t retire_seq;          /* on arrival: retire the epoch (once) */
	int64_t tamper_base, bad_chain_base, skip_base; /* -1: off */
	unsigned revoke_after;        /* 403 after this many deliveries */
	unsigned fetch_status;        /* answer KeyFetch with this error */
	bool push_rotate;             /* pushes carry rotate */
	/* counters */
	int publishes, duplicates, hellos, bad_acks;
	int key_fetches, key_uploads, epoch_refusals, clear_refusals;
};

extern struct fake fk;

/* Start the fake on ipc://DIR/broker.sock with `producer` as DATASET's
 * owner "health" and health as its only reader; stop it and free all. */
void fake_start(const char *dir, gb_identity *producer);
void fake_stop(void);

/* Forget the log and every key (under the lock), keeping connections. */
void fake_reset(void);

/* Play a reader: DATASET belongs to `owner`, who signs with `sign_pk`. */
void fake_set_owner(const char *owner, const uint8_t *sign_pk);

/* Add a department that must get wraps (a grant added in the config). */
void fake_add_reader(const char *dept, const uint8_t *box_pk);

/* Open `epoch` with `commitment` as current, as an owner's upload would. */
void fake_open_epoch(uint32_t epoch, const uint8_t *commitment);

/* Store a wrap of `epoch` for `dept` (copied), whatever it holds. */
void fake_put_wrap(uint32_t epoch, const char *dept, const uint8_t *w,
		   size_t len);

/* The stored wrap of (epoch, dept), or NULL. */
const struct fwrap *fake_wrap(uint32_t epoch, const char *dept);

/* Append a signed batch to the log as is (no checks): for crafted ones. */
void fake_append(const uint8_t *sb, size_t len);

/* Retire the current epoch and, with `push`, push KeyInfo to the owner. */
void fake_retire(bool push);

/* ---------------------------------------------------------------- helpers */

extern char dir[256];
extern gb_identity *health;

/* CHECK failures counted in this module's helpers. */
int fake_failures(void);

gb_agent_config *make_config(const char *endpoint, const uint8_t *box_pk,
			     const char *peers_yaml);

struct events {
	int reconnects, restarts, resubscribes, resends;
	uint64_t last_offset;
	int key_opened, key_wrapped, key_failed, key_waiting, resealed;
	uint32_t last_epoch;
	char last_recipients[256];
};

void on_event(void *arg, const gb_event *ev);
gb_client *connect_client(const char *peers, struct events *ev);
void payload_of(uint64_t i, char *buf, size_t len);
int publish_n(gb_client *c, uint64_t from, uint64_t n, uint32_t batch);
uint64_t read_expect(gb_subscription *s, uint64_t from, uint64_t n,
		     int *rc_out);
gb_subscription *subscribe(gb_client *c, gb_start_kind kind, uint64_t value,
			   const char *durable, int *rc);
void remove_tree(const char *path);

#endif
