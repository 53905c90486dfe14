/* govbus broker delivery: subscriptions, credit, durable cursors, the pump
 * that sends stored batches, and the grant re-checks that end a
 * subscription the policy no longer allows (DESIGN §8).
 *
 * A subscription is a cursor into a stream, owned by one connection and
 * department: Subscribe positions it (earliest, latest, an offset, a time,
 * or a durable cursor, never before what the grant's history allows) and
 * answers SubscribeOk with the owner's sign key; Credit lets the pump send
 * that many more batches; CursorAck stores a durable cursor through the
 * writer; Unsubscribe, an Error carrying its id, a dropped connection or
 * 30 s of silence from the peer end it. Catch-up and live tail are the
 * same path: the pump sends what lies between the cursor and the stream
 * head, at most BATCHES_PER_PUMP per subscription per turn.
 *
 * The grant is re-checked before every delivery, on every reload
 * (gb_delivery_recheck), every housekeeping second (gb_delivery_tick) and
 * at the earliest instant a grant a live subscription holds expires
 * (gb_delivery_next_expiry, which the loop sleeps towards), so a
 * subscription ends when its grant does, with the policy's status.
 * While a subscription is still catching up on history, the replay right
 * must hold too.
 *
 * Threads: the I/O thread. */
#ifndef GB_DELIVERY_H
#define GB_DELIVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "gb_audit.h"
#include "gb_broker_internal.h"
#include "gb_config.h"
#include "gb_heads.h"
#include "gb_send.h"
#include "gb_store.h"
#include "gb_writer.h"

typedef struct gb_delivery gb_delivery;

/* What delivery works with; all borrowed and must outlive it. */
typedef struct gb_delivery_deps {
	gb_store *store;              /* reads batches, cursors, times */
	gb_heads *heads;              /* what there is to deliver */
	gb_writer *writer;            /* stores durable cursors */
	gb_audit *audit;              /* subscribes, denials, ends; may be NULL */
	gb_sender to;                 /* frames to subscribers */
} gb_delivery_deps;

/* No subscriptions yet. Returns 0 or GB_ENOMEM. */
int gb_delivery_new(const gb_delivery_deps *deps, gb_delivery **out);

/* End every subscription silently and free; accepts NULL, sets *d NULL. */
void gb_delivery_destroy(gb_delivery **d);

/* The registry decisions follow from now on (at start and on each
 * reload); borrowed until the next call. Call gb_delivery_recheck after a
 * reload so live subscriptions feel the new policy at once. */
void gb_delivery_policy_loaded(gb_delivery *d, const gb_registry *reg);

/* The frames a subscriber sends. */
void gb_delivery_subscribe(gb_delivery *d, const gb_caller *from,
			   const Govbus__V1__Subscribe *req);
void gb_delivery_credit(gb_delivery *d, const gb_caller *from,
			const Govbus__V1__Credit *req);
void gb_delivery_unsubscribe(gb_delivery *d, const gb_caller *from,
			     const Govbus__V1__Unsubscribe *req);
void gb_delivery_cursor_ack(gb_delivery *d, const gb_caller *from,
			    const Govbus__V1__CursorAck *ack);

/* Any frame from `peer` as `dept` at `t` keeps its subscriptions alive. */
void gb_delivery_touch(gb_delivery *d, const uint8_t *peer, size_t peer_len,
		       const char *dept, uint64_t t);

/* Send each subscription what its credit allows. Returns true when some
 * subscriber's queue was full, so the loop should come back soon. */
bool gb_delivery_pump(gb_delivery *d);

/* End every subscription whose grant does not hold at `t`. */
void gb_delivery_recheck(gb_delivery *d, uint64_t t);

/* Housekeeping at `t`: drop subscriptions whose peer has been silent for
 * SUBSCRIPTION_IDLE_NS, re-check the others. */
void gb_delivery_tick(gb_delivery *d, uint64_t t);

/* Find the earliest instant after `t` at which a grant a live
 * subscription holds expires; gb_delivery_next_expiry returns it
 * (UINT64_MAX: none). A new subscription can only bring it forward. */
void gb_delivery_plan_expiry(gb_delivery *d, uint64_t t);
uint64_t gb_delivery_next_expiry(const gb_delivery *d);

#endif
