/* govbus broker key service: where dataset keys meet the policy (DESIGN
 * §5). The broker never holds a dataset key; it stores the owner's signed
 * wraps and decides who gets which.
 *
 * - KeyFetch: a department that may read a dataset's content gets the key
 *   state (current epoch, whether it is retired) and its own wrap of the
 *   epoch asked for, as far back as its grant's history reaches. The
 *   owner's answer also names the departments a new epoch must be wrapped
 *   for and, per existing epoch, the wraps it still lacks.
 * - KeyUpload: only the owner; it may open the next epoch (with its
 *   commitment and its own wrap) and add wraps. Every wrap must verify
 *   under the owner's key, be for this dataset and epoch, carry the
 *   epoch's commitment and be addressed to a department that may hold
 *   that key. The epoch and its wraps commit all or none.
 * - Revocation by fact: whoever holds a wrap of a dataset's current epoch
 *   but may no longer hold its key makes the broker retire that epoch
 *   (gb_key_service_reconcile); publishes under it then get 412 and the
 *   owner's connected agents are told to open the next one. A reload that
 *   gives a department the right to a key pushes the owner the wraps it
 *   now owes.
 *
 * Threads: the I/O thread. */
#ifndef GB_KEY_SERVICE_H
#define GB_KEY_SERVICE_H

#include <stdint.h>

#include "gb_audit.h"
#include "gb_broker_internal.h"
#include "gb_config.h"
#include "gb_send.h"
#include "gb_sessions.h"
#include "gb_store.h"
#include "gb_writer.h"

typedef struct gb_key_service gb_key_service;

/* What the key service works with; all borrowed and must outlive it. */
typedef struct gb_key_service_deps {
	gb_store *store;              /* epochs and wraps */
	gb_writer *writer;            /* stores uploads, retires epochs */
	gb_sessions *sessions;        /* where the owners' agents are */
	gb_audit *audit;              /* denials, stored wraps; may be NULL */
	gb_sender to;                 /* answers and pushes */
} gb_key_service_deps;

/* Returns 0 or GB_ENOMEM. */
int gb_key_service_new(const gb_key_service_deps *deps, gb_key_service **out);

/* Free; accepts NULL and sets *k to NULL. Destroy the writer first: an
 * upload or retirement still in it refers to this service. */
void gb_key_service_destroy(gb_key_service **k);

/* The registry decisions follow from now on (at start and on each
 * reload); borrowed until the next call. */
void gb_key_service_policy_loaded(gb_key_service *k, const gb_registry *reg);

/* Answer a KeyFetch. */
void gb_key_service_fetch(gb_key_service *k, const gb_caller *from,
			  const Govbus__V1__KeyFetch *req);

/* Check a KeyUpload and queue it for the writer, or refuse it. Takes
 * ownership of `frame` (the wrap bytes live in it). */
void gb_key_service_upload(gb_key_service *k, const gb_caller *from,
			   gb_client_frame *frame);

/* Retire the current epoch of every dataset one of whose holders may no
 * longer hold its key at `t`. Run at start, on every housekeeping tick,
 * at a grant's expiry and after every reload. */
void gb_key_service_reconcile(gb_key_service *k, int64_t t);

/* After a reload from `old` to the registry in force: push the owners the
 * wraps a widened policy now asks for, then reconcile. `old` is borrowed
 * for the call. */
void gb_key_service_reloaded(gb_key_service *k, const gb_registry *old,
			     int64_t t);

#endif
