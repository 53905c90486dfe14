/* govbus broker writer; see gb_writer.h.
 *
 * Trust: jobs come only from the I/O thread of this process; what they
 * write was checked before it was submitted, and the store checks it again
 * inside the transaction (sequence, key epoch, dedupe). */
#include "gb_writer.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "gb_error.h"
#include "gb_log.h"

#define WRITER_GROUP_MAX 4096     /* jobs in one group commit */
#define WRITER_ENDPOINT "inproc://govbus-writer"

/* One job as it travels the pipe, by value; ws == NULL is the stop signal. */
struct job {
	gb_write *ws;
	size_t nws;
	gb_writer_done_fn done;
	void *arg;
};

struct gb_writer {
	gb_store *store;
	void *to_writer;              /* I/O side of the pipe */
	void *writer_end;             /* writer side */
	pthread_t thread;
	bool started;
	bool stopped;                 /* the stop signal was sent */
	size_t pending;               /* submitted, done not yet run */
};

/* Receive one job; false when the pipe is empty or the message is not one. */
static bool recv_job(void *sock, int flags, struct job *out)
{
	struct job j;
	int n = zmq_recv(sock, &j, sizeof j, flags);

	if (n != (int)sizeof j)
		return false;
	*out = j;
	return true;
}

/* Writer: block for one job, drain every other one already queued, commit
 * them as one group, and hand all of them back to the I/O thread. */
static void *writer_main(void *arg)
{
	gb_writer *w = arg;
	struct job *batch = calloc(WRITER_GROUP_MAX, sizeof *batch);
	gb_write *items = NULL;
	size_t items_cap = 0;
	bool stop = false;

	if (!batch) {
		gb_log("writer: out of memory");
		stop = true;
	}
	while (!stop) {
		size_t n = 0, total = 0, k = 0;
		struct job j;

		if (!recv_job(w->writer_end, 0, &j))
			continue;
		if (!j.ws)
			break;
		batch[n++] = j;
		while (n < WRITER_GROUP_MAX &&
		       recv_job(w->writer_end, ZMQ_DONTWAIT, &j)) {
			if (!j.ws) {
				stop = true;
				break;
			}
			batch[n++] = j;
		}
		for (size_t i = 0; i < n; i++)
			total += batch[i].nws;
		if (total > items_cap) {
			gb_write *grown = realloc(items, total * sizeof *items);
			if (!grown) {
				/* Nothing is stored: every item reports 500. */
				for (size_t i = 0; i < n; i++)
					for (size_t x = 0; x < batch[i].nws; x++)
						batch[i].ws[x].result = GB_ENOMEM;
				zmq_send(w->writer_end, batch, n * sizeof *batch, 0);
				continue;
			}
			items = grown;
			items_cap = total;
		}
		for (size_t i = 0; i < n; i++)
			for (size_t x = 0; x < batch[i].nws; x++)
				items[k++] = batch[i].ws[x];
		uint64_t map_before = gb_store_map_size(w->store);
		int rc = gb_store_write_group(w->store, items, total);
		if (rc != 0)
			gb_log("commit of %zu item(s) failed: %s", total,
			       gb_strerror(rc));
		if (gb_store_map_size(w->store) != map_before)
			gb_log("the LMDB map was full: grew it from %" PRIu64
			       " to %" PRIu64 " MiB",
			       map_before >> 20, gb_store_map_size(w->store) >> 20);
		k = 0;
		for (size_t i = 0; i < n; i++)
			for (size_t x = 0; x < batch[i].nws; x++)
				batch[i].ws[x] = items[k++];
		/* Results go back as one message holding the jobs. */
		zmq_send(w->writer_end, batch, n * sizeof *batch, 0);
	}
	free(batch);
	free(items);
	return NULL;
}

int gb_writer_new(void *zmq_ctx, gb_store *store, gb_writer **out, char *why,
		  size_t why_len)
{
	gb_writer *w = calloc(1, sizeof *w);
	int zero = 0;

	*out = NULL;
	if (!w)
		return gb_why(why, why_len, GB_ENOMEM, "out of memory");
	w->store = store;
	w->to_writer = zmq_socket(zmq_ctx, ZMQ_PAIR);
	w->writer_end = zmq_socket(zmq_ctx, ZMQ_PAIR);
	if (!w->to_writer || !w->writer_end ||
	    zmq_setsockopt(w->to_writer, ZMQ_SNDHWM, &zero, sizeof zero) ||
	    zmq_setsockopt(w->writer_end, ZMQ_RCVHWM, &zero, sizeof zero) ||
	    zmq_bind(w->writer_end, WRITER_ENDPOINT) != 0 ||
	    zmq_connect(w->to_writer, WRITER_ENDPOINT) != 0) {
		(void)gb_why(why, why_len, 0, "ZeroMQ setup failed: %s",
			     zmq_strerror(errno));
		gb_writer_destroy(&w);
		return GB_EIO;
	}
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		(void)gb_why(why, why_len, 0, "cannot start the writer thread");
		gb_writer_destroy(&w);
		return GB_EIO;
	}
	w->started = true;
	*out = w;
	return 0;
}

void gb_writer_destroy(gb_writer **wp)
{
	gb_writer *w;

	if (!wp || !*wp)
		return;
	w = *wp;
	if (w->started) {
		struct job stop = {NULL, 0, NULL, NULL};

		zmq_send(w->to_writer, &stop, sizeof stop, 0);
		w->stopped = true;
		pthread_join(w->thread, NULL);
		/* Everything queued before the stop signal was committed:
		 * answer it now, while the callers' parts still exist. */
		gb_writer_results(w);
	}
	if (w->to_writer)
		zmq_close(w->to_writer);
	if (w->writer_end)
		zmq_close(w->writer_end);
	free(w);
	*wp = NULL;
}

int gb_writer_submit(gb_writer *w, gb_write *ws, size_t nws,
		     gb_writer_done_fn done, void *arg)
{
	struct job j = {ws, nws, done, arg};

	assert(ws && nws > 0 && done);
	if (w->stopped || zmq_send(w->to_writer, &j, sizeof j, 0) != (int)sizeof j)
		return GB_EUNAVAIL;
	w->pending++;
	return 0;
}

void *gb_writer_socket(const gb_writer *w)
{
	return w->to_writer;
}

void gb_writer_results(gb_writer *w)
{
	zmq_msg_t msg;

	zmq_msg_init(&msg);
	while (zmq_msg_recv(&msg, w->to_writer, ZMQ_DONTWAIT) >= 0) {
		const unsigned char *data = zmq_msg_data(&msg);
		size_t n = zmq_msg_size(&msg) / sizeof(struct job);

		for (size_t i = 0; i < n; i++) {
			struct job j;

			memcpy(&j, data + i * sizeof j, sizeof j);
			w->pending--;
			j.done(j.arg);
		}
		zmq_msg_close(&msg);
		zmq_msg_init(&msg);
	}
	zmq_msg_close(&msg);
}

size_t gb_writer_pending(const gb_writer *w)
{
	return w->pending;
}

void gb_writer_drain(gb_writer *w, uint64_t timeout_ns)
{
	uint64_t until = gb_now_ns() + timeout_ns;

	while (w->pending > 0 && gb_now_ns() < until) {
		zmq_pollitem_t it = {w->to_writer, 0, ZMQ_POLLIN, 0};

		if (zmq_poll(&it, 1, 100) > 0)
			gb_writer_results(w);
	}
}
