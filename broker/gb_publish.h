/* govbus broker publish pipeline (DESIGN §4, §7): a Publish is checked in
 * the fixed order size -> signature -> policy -> append, and acked only
 * after the writer's commit is durable.
 *
 * Size was checked by the frame limit and gb_codec before this sees it.
 * Then: the envelope parses (every header field bounded), the batch names
 * the connection's department as producer, that department is still
 * registered and its key verifies the signature, the policy lets it
 * publish to the dataset, the batch is sealed (key epoch >= 1) and was not
 * created more than 24 hours ahead of this host's clock. What passes goes
 * to the writer, which checks the sequence, the key epoch and the record
 * ids inside the transaction; the answer is a PublishAck (with the stored
 * offset, or the original one for a retry), or an Error naming what was
 * refused, including the records a dedupe found stored before.
 *
 * The signed batch is stored byte for byte as the producer signed it; the
 * broker never opens it.
 *
 * Threads: the I/O thread. */
#ifndef GB_PUBLISH_H
#define GB_PUBLISH_H

#include <stdbool.h>

#include "gb_audit.h"
#include "gb_broker_internal.h"
#include "gb_config.h"
#include "gb_heads.h"
#include "gb_send.h"
#include "gb_store.h"
#include "gb_writer.h"

typedef struct gb_publish gb_publish;

/* What the pipeline works with; all borrowed and must outlive it. */
typedef struct gb_publish_deps {
	gb_store *store;              /* takes the dedupe window */
	gb_heads *heads;              /* advanced by every new batch */
	gb_writer *writer;            /* commits the batches */
	gb_audit *audit;              /* denials, appends; may be NULL */
	gb_sender to;                 /* acks and errors to publishers */
} gb_publish_deps;

/* Returns 0 or GB_ENOMEM. */
int gb_publish_new(const gb_publish_deps *deps, gb_publish **out);

/* Free; accepts NULL and sets *p to NULL. Destroy the writer first: a
 * batch still in it refers to this pipeline. */
void gb_publish_destroy(gb_publish **p);

/* The registry decisions follow from now on (at start and on each
 * reload; borrowed until the next call); its broker.dedupe_seconds goes
 * to the store. */
void gb_publish_policy_loaded(gb_publish *p, const gb_registry *reg);

/* Check one Publish frame from `from` and queue it for the writer, or
 * refuse it with an Error. Takes ownership of `frame`. */
void gb_publish_handle(gb_publish *p, const gb_caller *from,
		       gb_client_frame *frame);

/* True while the batches waiting for the writer hold more than
 * PENDING_BYTES_MAX: the loop then stops reading the ROUTER, so TCP pushes
 * back on publishers instead of broker memory growing. */
bool gb_publish_saturated(const gb_publish *p);

#endif
