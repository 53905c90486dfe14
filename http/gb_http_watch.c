/* Parked requests and the watcher thread of the HTTP module; see gb_http.h
 * (gb_http_park) and gb_http_internal.h.
 *
 * libmicrohttpd neither times out nor watches a suspended connection, so
 * the watcher does both for the connections this module suspends (parked
 * requests, streams waiting for events): it polls their sockets for a
 * hang-up (POLLRDHUP) and sleeps until the earliest deadline (a park
 * timeout, an SSE heartbeat), then resolves what is due under hub->mu and
 * resumes those connections. A suspension added by the server thread wakes
 * it through the hub's eventfd so it polls the new socket.
 *
 * Trust: nothing read here comes from a client but the fact that its
 * socket hung up; a socket number is acted on only while its connection is
 * still listed as suspended (a closed one may have been reused). */
#include "gb_http_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gb_error.h"

void gb_http_hub_wake(struct hub *hub)
{
	uint64_t one = 1;

	/* A full counter already wakes the watcher: nothing is lost. */
	if (write(hub->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		perror("gb_http: eventfd");
}

void gb_http_suspension_add(struct hub *hub, struct suspension *sp)
{
	sp->prev = NULL;
	sp->next = hub->head;
	if (hub->head)
		hub->head->prev = sp;
	hub->head = sp;
	sp->listed = true;
	hub->n_suspended++;
	gb_http_hub_wake(hub);
}

void gb_http_suspension_remove(struct hub *hub, struct suspension *sp)
{
	if (!sp->listed)
		return;
	if (sp->prev)
		sp->prev->next = sp->next;
	else
		hub->head = sp->next;
	if (sp->next)
		sp->next->prev = sp->prev;
	sp->prev = sp->next = NULL;
	sp->listed = false;
	hub->n_suspended--;
}

/* ------------------------------------------------------------- parking */

int gb_http_park(gb_http_request *req, unsigned timeout_ms)
{
	gb_http_server *s = req->server;
	struct hub *hub = req->hub;
	struct MHD_Response *resp;
	int rc = 0;

	if (timeout_ms == 0)
		timeout_ms = s->cfg.park_timeout_ms;
	if (timeout_ms > GB_HTTP_MAX_PARK_TIMEOUT_MS)
		timeout_ms = GB_HTTP_MAX_PARK_TIMEOUT_MS;
	/* built before the lock, used if the server is stopping */
	resp = gb_http_error_response(503, GB_EUNAVAIL,
				      "the server is stopping", NULL);
	if (!resp)
		return GB_ENOMEM;
	pthread_mutex_lock(&hub->mu);
	if (req->phase != PHASE_HANDLING) {
		rc = GB_EINVAL;
	} else if (hub->stopping) {
		/* answered now; the answerer's later reply gets GB_ECLOSED */
		req->answer = resp;
		req->answer_status = 503;
		resp = NULL;
		req->phase = PHASE_ANSWERED;
		req->held = true;
		req->refs++;
	} else {
		req->phase = PHASE_PARKED;
		req->held = true;
		req->refs++;
		req->susp.deadline_ms = gb_http_now_ms() + timeout_ms;
		MHD_suspend_connection(req->conn);
		gb_http_suspension_add(hub, &req->susp);
	}
	pthread_mutex_unlock(&hub->mu);
	if (resp)
		MHD_destroy_response(resp);
	return rc;
}

/* Watcher: a parked request's client hung up, or its time ran out;
 * hub->mu held. */
static void park_hangup_locked(struct hub *hub, gb_http_request *req)
{
	if (req->phase != PHASE_PARKED)
		return;
	gb_http_suspension_remove(hub, &req->susp);
	req->phase = PHASE_ABORTED;
	MHD_resume_connection(req->conn);
}

void gb_http_park_resolve_locked(struct hub *hub, gb_http_request *req,
				unsigned status, int rc, const char *message)
{
	struct MHD_Response *resp;

	if (req->phase != PHASE_PARKED)
		return;
	resp = gb_http_error_response(status, rc, message, NULL);
	gb_http_suspension_remove(hub, &req->susp);
	if (resp) {
		req->answer = resp;
		req->answer_status = status;
		req->phase = PHASE_RESUMING;
	} else {
		req->phase = PHASE_ABORTED; /* no memory for a reply: close */
	}
	MHD_resume_connection(req->conn);
}

/* ------------------------------------------------------------- watcher */

static void suspension_ref_locked(struct suspension *sp)
{
	if (sp->kind == SUSPENDED_PARK)
		gb_http_request_of(sp)->refs++;
	else
		gb_http_sse_ref_locked(gb_http_sse_of(sp));
}

static void suspension_unref(struct suspension *sp)
{
	if (sp->kind == SUSPENDED_PARK)
		gb_http_request_unref(gb_http_request_of(sp));
	else
		gb_http_sse_unref(gb_http_sse_of(sp));
}

/* One watch: poll the suspended connections for hang-ups until the next
 * deadline or a change, then act; hub->mu not held. */
static int watch_once(gb_http_server *s, struct pollfd **fds,
		      struct suspension ***items, size_t *cap)
{
	struct hub *hub = s->hub;
	size_t n = 0;
	int timeout = -1;
	uint64_t now;

	pthread_mutex_lock(&hub->mu);
	if (s->watcher_stop) {
		pthread_mutex_unlock(&hub->mu);
		return 1;
	}
	if (hub->n_suspended + 1 > *cap) {
		size_t want = 2 * (hub->n_suspended + 1);
		struct pollfd *f = realloc(*fds, want * sizeof *f);
		struct suspension **it = f ? realloc(*items, want * sizeof *it)
					   : NULL;
		if (f)
			*fds = f;
		if (it)
			*items = it;
		if (!f || !it) {
			pthread_mutex_unlock(&hub->mu);
			return -1;
		}
		*cap = want;
	}
	now = gb_http_now_ms();
	(*fds)[0] = (struct pollfd){.fd = hub->wake_fd, .events = POLLIN};
	for (struct suspension *sp = hub->head; sp; sp = sp->next) {
		suspension_ref_locked(sp);
		(*items)[n] = sp;
		(*fds)[n + 1] = (struct pollfd){.fd = sp->fd, .events = POLLRDHUP};
		n++;
		if (sp->deadline_ms) {
			uint64_t left = sp->deadline_ms > now
						? sp->deadline_ms - now
						: 0;
			if (timeout < 0 || left < (uint64_t)timeout)
				timeout = left > 60000 ? 60000 : (int)left;
		}
	}
	pthread_mutex_unlock(&hub->mu);

	if (poll(*fds, n + 1, timeout) < 0 && errno != EINTR)
		gb_http_log(s, "poll: %s", strerror(errno));
	if ((*fds)[0].revents & POLLIN) {
		uint64_t drained;
		if (read(hub->wake_fd, &drained, sizeof drained) < 0 &&
		    errno != EAGAIN)
			gb_http_log(s, "eventfd: %s", strerror(errno));
	}

	pthread_mutex_lock(&hub->mu);
	now = gb_http_now_ms();
	for (size_t i = 0; i < n; i++) {
		struct suspension *sp = (*items)[i];
		bool gone = (*fds)[i + 1].revents &
			    (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL);

		/* resumed meanwhile: the fd may belong to another client now */
		if (!sp->listed)
			continue;
		if (sp->kind == SUSPENDED_PARK && gone)
			park_hangup_locked(hub, gb_http_request_of(sp));
		else if (sp->kind == SUSPENDED_PARK && now >= sp->deadline_ms)
			gb_http_park_resolve_locked(hub, gb_http_request_of(sp), 504,
					    GB_ETIMEOUT,
					    "no answer in time for this request");
		else if (gone)
			gb_http_sse_hangup_locked(gb_http_sse_of(sp));
		else if (sp->deadline_ms && now >= sp->deadline_ms)
			gb_http_sse_heartbeat_locked(gb_http_sse_of(sp));
	}
	pthread_mutex_unlock(&hub->mu);
	for (size_t i = 0; i < n; i++)
		suspension_unref((*items)[i]);
	return 0;
}

void *gb_http_watcher_main(void *arg)
{
	gb_http_server *s = arg;
	struct pollfd *fds = NULL;
	struct suspension **items = NULL;
	size_t cap = 0;
	int r;

	while ((r = watch_once(s, &fds, &items, &cap)) <= 0)
		if (r < 0) {
			/* out of memory: try again shortly */
			struct timespec pause = {0, 100 * 1000 * 1000};
			nanosleep(&pause, NULL);
		}
	free(fds);
	free(items);
	return NULL;
}
