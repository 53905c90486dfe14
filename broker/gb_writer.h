/* govbus broker writer: the thread that group-commits to the log store
 * (DESIGN §7 "Durability", §9).
 *
 * The I/O thread submits jobs: a few gb_write items that commit together
 * and a function to call once they have. The writer thread blocks for one
 * job, drains every other one already queued (up to WRITER_GROUP_MAX),
 * commits them all in one gb_store_write_group() and hands them back; the
 * I/O thread then runs each job's done function, in submission order,
 * from gb_writer_results(). Jobs travel by value over an inproc PAIR pipe
 * with no high-water mark, so deliveries flow while a commit syncs and a
 * submit never blocks.
 *
 * The writer knows nothing of what a job is for: publishes, cursor acks,
 * key uploads, retirements, audit and access-request writes all come
 * through here with their own done functions.
 *
 * Threads: every function but the thread itself runs on the I/O thread. */
#ifndef GB_WRITER_H
#define GB_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "gb_store.h"

typedef struct gb_writer gb_writer;

/* Called on the I/O thread after the job's writes were committed or
 * failed; each gb_write holds its result. `arg` is the submitter's. */
typedef void (*gb_writer_done_fn)(void *arg);

/* Open the pipe in `zmq_ctx` (inproc://govbus-writer) and start the
 * thread on `store` (borrowed; it must outlive the writer). On failure
 * returns GB_EIO with one sentence in `why`. */
int gb_writer_new(void *zmq_ctx, gb_store *store, gb_writer **out, char *why,
		  size_t why_len);

/* Commit everything already submitted, stop and join the thread, run the
 * done functions of what it finished, close the pipe. Accepts NULL; sets
 * *w to NULL. */
void gb_writer_destroy(gb_writer **w);

/* Queue the `nws` writes at `ws` (borrowed until done runs) as one job.
 * Returns 0, or GB_EUNAVAIL when the pipe refused it (or the writer has
 * stopped): then done will not run and the caller still owns everything. */
int gb_writer_submit(gb_writer *w, gb_write *ws, size_t nws,
		     gb_writer_done_fn done, void *arg);

/* The socket to poll (ZMQ_POLLIN) for finished jobs. */
void *gb_writer_socket(const gb_writer *w);

/* Run the done function of every finished job; never blocks. */
void gb_writer_results(gb_writer *w);

/* Jobs submitted whose done function has not run yet. */
size_t gb_writer_pending(const gb_writer *w);

/* Run results until nothing is pending or `timeout_ns` has passed. */
void gb_writer_drain(gb_writer *w, uint64_t timeout_ns);

#endif
