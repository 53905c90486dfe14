/* govbus broker server; see gb_broker.h.
 *
 * This file is the broker's lifecycle and its I/O loop: it loads the
 * config, locks the data dir, opens the store and the sockets, creates the
 * parts (gb_zap, gb_writer, gb_heads, gb_sessions, gb_publish,
 * gb_delivery, gb_key_service, gb_audit, gb_requests), reads frames from
 * the ROUTER and hands each to the part that answers it, runs
 * housekeeping, and swaps the policy on reload.
 *
 * Trust: every frame on the ROUTER socket comes from a department that
 * passed CURVE and ZAP, and is otherwise untrusted: frames are size-checked
 * before decoding (ZMQ_MAXMSGSIZE), decoded by gb_codec, and attributed to
 * the department ZAP named, which must still be registered. Strings from
 * peers are logged truncated. Time comes from this host's clock only;
 * times in frames are never trusted for ordering. */
#include "gb_broker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include "gb_audit.h"
#include "gb_broker_internal.h"
#include "gb_codec.h"
#include "gb_config.h"
#include "gb_delivery.h"
#include "gb_error.h"
#include "gb_heads.h"
#include "gb_key_service.h"
#include "gb_keys.h"
#include "gb_log.h"
#include "gb_publish.h"
#include "gb_requests.h"
#include "gb_send.h"
#include "gb_sessions.h"
#include "gb_store.h"
#include "gb_writer.h"
#include "gb_zap.h"
#include "govbus.pb-c.h"

#define FRAMES_PER_TURN 512       /* fairness between reading and delivering */
#define HOUSEKEEPING_NS 1000000000ull
#define STOP_DRAIN_NS 5000000000ull /* queued writes get this long at stop */
#define PEER_SNDHWM 8192          /* frames queued to one peer. Replies
				   * (key info, acks, errors) share this queue
				   * with deliveries and are dropped when it is
				   * full, so it must stay well above what credit
				   * lets deliveries fill (64 batches per
				   * subscription by default); a consumer that
				   * never reads holds at most this many. */
#define PEER_RCVHWM 256

struct gb_broker {
	char config_path[4096];
	gb_registry *reg;             /* the policy in force */
	gb_identity *id;
	gb_store *store;
	void *ctx;
	void *router;
	gb_sender to;                 /* frames out through the ROUTER */
	gb_zap *zap;
	gb_writer *writer;
	gb_heads *heads;
	gb_sessions *sessions;
	gb_publish *publish;
	gb_delivery *delivery;
	gb_key_service *keys;
	gb_audit *audit;
	gb_requests *requests;        /* catalog and access requests */
	int signal_pipe[2];           /* written by signal handlers */
	int lock_fd;                  /* flock on data_dir/broker.lock */
	uint64_t instance;
	bool stopping;
	uint64_t next_housekeeping_ns;
};

/* Every part that decides follows the registry now in b->reg. */
static void policy_in_force(gb_broker *b)
{
	gb_zap_policy_loaded(b->zap, b->reg);
	gb_publish_policy_loaded(b->publish, b->reg);
	gb_delivery_policy_loaded(b->delivery, b->reg);
	gb_key_service_policy_loaded(b->keys, b->reg);
}

/* ------------------------------------------------------------ frames */

static void handle_hello(gb_broker *b, const gb_caller *from)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Welcome w = GOVBUS__V1__WELCOME__INIT;
	size_t n = gb_registry_dataset_count(b->reg), k = 0;
	Govbus__V1__ProducerPosition *pos = calloc(n ? n : 1, sizeof *pos);
	Govbus__V1__ProducerPosition **ptrs = calloc(n ? n : 1, sizeof *ptrs);

	if (!pos || !ptrs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const gb_dataset *ds = gb_registry_dataset_at(b->reg, i);
		uint64_t seq = 0;
		if (strcmp(ds->owner, from->dept) != 0)
			continue;
		if (gb_store_last_seq(b->store, ds->id, from->dept, &seq) != 0)
			continue;
		govbus__v1__producer_position__init(&pos[k]);
		pos[k].dataset = (char *)ds->id;
		pos[k].last_seq = seq;
		ptrs[k] = &pos[k];
		k++;
	}
	w.dept = (char *)from->dept;
	w.instance = b->instance;
	w.max_frame = GB_MAX_FRAME;
	w.n_positions = k;
	w.positions = ptrs;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_WELCOME;
	f.welcome = &w;
	(void)gb_send(&b->to, from->peer, from->peer_len, &f);
	gb_sessions_note(b->sessions, from->peer, from->peer_len, from->dept,
			 from->t);
	gb_log("%s connected", from->dept);
	gb_audit_connected(b->audit, from->dept);
out:
	free(pos);
	free(ptrs);
}

static void handle_ping(gb_broker *b, const gb_caller *from,
			const Govbus__V1__Ping *ping)
{
	gb_server_frame f = GOVBUS__V1__SERVER_FRAME__INIT;
	Govbus__V1__Pong pong = GOVBUS__V1__PONG__INIT;

	pong.nonce = ping->nonce;
	pong.instance = b->instance;
	f.body_case = GOVBUS__V1__SERVER_FRAME__BODY_PONG;
	f.pong = &pong;
	(void)gb_send(&b->to, from->peer, from->peer_len, &f);
}

/* Read one multipart message from the ROUTER and act on it. */
static void router_handle(gb_broker *b)
{
	zmq_msg_t peer, body;
	gb_client_frame *frame = NULL;
	gb_caller from;
	const char *user;
	char why[256];
	int rc;

	zmq_msg_init(&peer);
	zmq_msg_init(&body);
	if (zmq_msg_recv(&peer, b->router, ZMQ_DONTWAIT) < 0)
		goto out;
	if (!zmq_msg_more(&peer) || zmq_msg_recv(&body, b->router, 0) < 0)
		goto out;
	if (zmq_msg_more(&body)) {
		/* Agents send one frame per message; drop the rest. */
		int more = 1;
		while (more) {
			zmq_msg_t extra;
			zmq_msg_init(&extra);
			more = zmq_msg_recv(&extra, b->router, 0) >= 0 &&
			       zmq_msg_more(&extra);
			zmq_msg_close(&extra);
		}
		goto out;
	}
	from.peer = zmq_msg_data(&peer);
	from.peer_len = zmq_msg_size(&peer);
	from.t = gb_now_ns();
	if (from.peer_len == 0 || from.peer_len > GB_PEER_ID_MAX)
		goto out;
	user = zmq_msg_gets(&body, "User-Id");
	if (!user || !gb_registry_find_department(b->reg, user)) {
		gb_send_error(&b->to, from.peer, from.peer_len, GB_EAUTH, 0, 0,
			      "this connection's key is no longer registered");
		goto out;
	}
	from.dept = user;
	gb_delivery_touch(b->delivery, from.peer, from.peer_len, from.dept,
			  from.t);
	gb_sessions_touch(b->sessions, from.peer, from.peer_len, from.dept,
			  from.t);

	rc = gb_codec_client_decode(zmq_msg_data(&body), zmq_msg_size(&body),
				    &frame, why, sizeof why);
	if (rc != 0) {
		gb_log("bad frame from %s: %s", from.dept, why);
		gb_send_error(&b->to, from.peer, from.peer_len, rc, 0, 0,
			      "bad frame: %s", why);
		goto out;
	}
	switch (frame->body_case) {
	case GOVBUS__V1__CLIENT_FRAME__BODY_HELLO:
		handle_hello(b, &from);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH:
		gb_publish_handle(b->publish, &from, frame);
		frame = NULL; /* owned by the publish path now */
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE:
		gb_delivery_subscribe(b->delivery, &from, frame->subscribe);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CREDIT:
		gb_delivery_credit(b->delivery, &from, frame->credit);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_UNSUBSCRIBE:
		gb_delivery_unsubscribe(b->delivery, &from, frame->unsubscribe);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CURSOR_ACK:
		gb_delivery_cursor_ack(b->delivery, &from, frame->cursor_ack);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH:
		gb_key_service_fetch(b->keys, &from, frame->key_fetch);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_UPLOAD:
		gb_key_service_upload(b->keys, &from, frame);
		frame = NULL; /* owned by the upload path now */
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_REQUEST:
	case GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_LIST_REQUEST:
	case GOVBUS__V1__CLIENT_FRAME__BODY_REGISTRY_REQUEST:
		gb_audit_handle(b->audit, b->reg, from.peer, from.peer_len,
				from.dept, from.t, frame);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CATALOG_REQUEST:
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST:
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST_QUERY:
		gb_requests_handle(b->requests, from.peer, from.peer_len,
				   from.dept, from.t, frame);
		break;
	case GOVBUS__V1__CLIENT_FRAME__BODY_PING:
		handle_ping(b, &from, frame->ping);
		break;
	default:
		break; /* the codec refuses every other case */
	}
out:
	gb_codec_client_free(&frame);
	zmq_msg_close(&peer);
	zmq_msg_close(&body);
}

/* ------------------------------------------------------------ audit and requests glue
 * gb_audit and gb_requests do not know the writer or the sockets: these
 * are their gb_audit_io and gb_requests_io. */

/* An audit or access-request write on its way through the writer. */
struct module_job {
	gb_broker *b;
	gb_write w;                   /* a copy of the job's write */
	gb_audit_job *audit_job;      /* one of these two */
	gb_requests_job *request_job;
};

static void module_job_free(struct module_job *j)
{
	gb_audit_job_free(&j->audit_job);
	gb_requests_job_free(&j->request_job);
	free(j);
}

static void module_job_done(void *arg)
{
	struct module_job *j = arg;
	gb_broker *b = j->b;

	if (j->audit_job) {
		if (j->w.kind == GB_WRITE_AUDIT && j->w.result == 0)
			gb_heads_advance(b->heads, j->w.dataset,
					 j->w.base_offset + j->w.record_count);
		gb_audit_job_done(b->audit, j->audit_job, &j->w);
		j->audit_job = NULL; /* freed by done */
	} else {
		gb_requests_job_done(b->requests, j->request_job, &j->w);
		j->request_job = NULL; /* freed by done */
	}
	module_job_free(j);
}

/* Queue one job's write `w` to the writer; takes the job (one of the two),
 * freeing it on failure. */
static int module_job_submit(gb_broker *b, gb_audit_job *audit_job,
			     gb_requests_job *request_job, const gb_write *w)
{
	struct module_job *j = calloc(1, sizeof *j);

	if (!j) {
		gb_audit_job_free(&audit_job);
		gb_requests_job_free(&request_job);
		return GB_ENOMEM;
	}
	j->b = b;
	j->w = *w;
	j->audit_job = audit_job;
	j->request_job = request_job;
	if (gb_writer_submit(b->writer, &j->w, 1, module_job_done, j) != 0) {
		module_job_free(j);
		return GB_EUNAVAIL;
	}
	return 0;
}

static int audit_submit(void *ctx, gb_audit_job *job)
{
	return module_job_submit(ctx, job, NULL, gb_audit_job_write(job));
}

static int requests_submit(void *ctx, gb_requests_job *job)
{
	return module_job_submit(ctx, NULL, job, gb_requests_job_write(job));
}

static int module_send(void *ctx, const uint8_t *peer, size_t peer_len,
		       const gb_server_frame *frame)
{
	gb_broker *b = ctx;

	return gb_send(&b->to, peer, peer_len, frame);
}

static void requests_fail(void *ctx, const uint8_t *peer, size_t peer_len,
			  int err, uint64_t request_id, const char *text)
{
	gb_broker *b = ctx;

	gb_send_error(&b->to, peer, peer_len, err, request_id, 0, "%s", text);
}

static void requests_log(void *ctx, const char *line)
{
	(void)ctx;
	gb_log("%s", line);
}

static void zap_refused(void *ctx, const char *key_text)
{
	gb_broker *b = ctx;

	gb_audit_key_refused(b->audit, key_text);
}

/* ------------------------------------------------------------ reload */

static void broker_reload(gb_broker *b)
{
	gb_registry *next = NULL, *old;
	gb_config_error err;
	char text[1024];
	int rc = gb_config_load(b->config_path, (int64_t)gb_now_ns(), &next,
				&err);

	if (rc != 0) {
		gb_config_error_format(&err, text, sizeof text);
		gb_log("reload refused, the previous policy stays in force: %s",
		       text);
		gb_audit_policy_rejected(b->audit, text);
		return;
	}
	old = b->reg;
	b->reg = next;
	policy_in_force(b);
	gb_audit_policy_loaded(b->audit, b->reg, b->config_path);
	gb_requests_policy_loaded(b->requests, b->reg, gb_now_ns());
	gb_key_service_reloaded(b->keys, old, (int64_t)gb_now_ns());
	gb_registry_destroy(&old);
	gb_log("reloaded %s: %zu departments, %zu datasets, %zu grants",
	       b->config_path, gb_registry_department_count(b->reg),
	       gb_registry_dataset_count(b->reg),
	       gb_registry_grant_count(b->reg));
	/* The new policy applies to live subscriptions at once. */
	uint64_t t = gb_now_ns();
	gb_delivery_recheck(b->delivery, t);
	gb_delivery_plan_expiry(b->delivery, t);
}

/* ------------------------------------------------------------ signals */

void gb_broker_request_stop(gb_broker *b)
{
	char c = 's';
	if (write(b->signal_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a request is already pending */
	}
}

void gb_broker_request_reload(gb_broker *b)
{
	char c = 'r';
	if (write(b->signal_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a request is already pending */
	}
}

static void signals_handle(gb_broker *b)
{
	char buf[64];
	ssize_t n = read(b->signal_pipe[0], buf, sizeof buf);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == 's')
			b->stopping = true;
		else if (buf[i] == 'r')
			broker_reload(b);
	}
}

/* ------------------------------------------------------------ the loop */

/* How long the loop may sleep: until the next housekeeping second, or the
 * next grant expiry if that comes first, so a subscription ends at the
 * instant its grant does. */
static long poll_timeout_ms(const gb_broker *b, uint64_t t)
{
	uint64_t next = gb_delivery_next_expiry(b->delivery), left;

	if (next <= t)
		return 0;
	left = next - t;
	return left >= HOUSEKEEPING_NS ? (long)(HOUSEKEEPING_NS / 1000000)
				       : (long)((left + 999999) / 1000000);
}

static void housekeeping(gb_broker *b, uint64_t t)
{
	if (t >= gb_delivery_next_expiry(b->delivery)) { /* a grant ends now */
		gb_delivery_recheck(b->delivery, t);
		gb_key_service_reconcile(b->keys, (int64_t)t);
		gb_delivery_plan_expiry(b->delivery, t);
	}
	if (t < b->next_housekeeping_ns)
		return;
	b->next_housekeeping_ns = t + HOUSEKEEPING_NS;
	gb_delivery_tick(b->delivery, t);
	gb_sessions_expire(b->sessions, t);
	gb_key_service_reconcile(b->keys, (int64_t)t); /* grants expire while running */
	gb_delivery_plan_expiry(b->delivery, t);
	gb_audit_tick(b->audit, t); /* time-based checkpoints */
}

int gb_broker_run(gb_broker *b)
{
	bool blocked = false;

	while (!b->stopping) {
		zmq_pollitem_t items[4] = {
			{gb_zap_socket(b->zap), 0, ZMQ_POLLIN, 0},
			{gb_writer_socket(b->writer), 0, ZMQ_POLLIN, 0},
			{NULL, b->signal_pipe[0], ZMQ_POLLIN, 0},
			{b->router, 0, ZMQ_POLLIN, 0},
		};
		/* Above the pending limit, stop reading the ROUTER so that
		 * TCP pushes back on publishers instead of memory growing. */
		int nitems = gb_publish_saturated(b->publish) ? 3 : 4;
		long timeout = blocked ? 5 : poll_timeout_ms(b, gb_now_ns());

		if (zmq_poll(items, nitems, timeout) < 0) {
			if (errno == EINTR)
				continue;
			gb_log("poll failed: %s", zmq_strerror(errno));
			return GB_EIO;
		}
		if (items[0].revents & ZMQ_POLLIN)
			gb_zap_handle(b->zap, gb_now_ns());
		if (items[1].revents & ZMQ_POLLIN)
			gb_writer_results(b->writer);
		if (items[2].revents & ZMQ_POLLIN)
			signals_handle(b);
		if (nitems == 4 && (items[3].revents & ZMQ_POLLIN))
			for (int i = 0; i < FRAMES_PER_TURN; i++) {
				int ev = 0;
				size_t evlen = sizeof ev;
				router_handle(b);
				if (zmq_getsockopt(b->router, ZMQ_EVENTS, &ev,
						   &evlen) != 0 ||
				    !(ev & ZMQ_POLLIN) ||
				    gb_publish_saturated(b->publish))
					break;
			}
		blocked = gb_delivery_pump(b->delivery);
		housekeeping(b, gb_now_ns());
	}
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

/* Hold an exclusive lock on data_dir/broker.lock and write our pid into it,
 * so two brokers never share a log and `reload` finds the right process. */
static int lock_data_dir(gb_broker *b, const char *dir, char *why,
			 size_t why_len)
{
	char path[4200], pid[32];
	int n;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		(void)gb_why(why, why_len, 0, "cannot create data_dir %.200s: %s", dir,
			strerror(errno));
		return GB_EIO;
	}
	snprintf(path, sizeof path, "%s/broker.lock", dir);
	b->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (b->lock_fd < 0) {
		(void)gb_why(why, why_len, 0, "cannot open %.200s: %s", path,
			strerror(errno));
		return GB_EIO;
	}
	if (flock(b->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		n = (int)read(b->lock_fd, pid, sizeof pid - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		(void)gb_why(why, why_len, 0,
			"another broker (pid %s) is using data_dir %.200s",
			pid[0] ? pid : "?", dir);
		return GB_ECONFLICT;
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(b->lock_fd, 0) != 0 ||
	    pwrite(b->lock_fd, pid, (size_t)n, 0) != n) {
		(void)gb_why(why, why_len, 0, "cannot write %.200s", path);
		return GB_EIO;
	}
	return 0;
}

/* Bind ZAP, then the CURVE ROUTER: ZAP must be bound before any CURVE
 * socket accepts connections. */
static int setup_sockets(gb_broker *b, char *why, size_t why_len)
{
	const gb_broker_settings *bs = gb_registry_broker(b->reg);
	int one = 1, zero = 0, sndhwm = PEER_SNDHWM, rcvhwm = PEER_RCVHWM;
	int64_t maxmsg = 2 * (int64_t)GB_MAX_FRAME;

	b->ctx = zmq_ctx_new();
	if (!b->ctx || gb_zap_new(b->ctx, zap_refused, b, &b->zap) != 0)
		goto zmq_fail;
	b->router = zmq_socket(b->ctx, ZMQ_ROUTER);
	if (!b->router ||
	    zmq_setsockopt(b->router, ZMQ_CURVE_SERVER, &one, sizeof one) ||
	    zmq_setsockopt(b->router, ZMQ_CURVE_SECRETKEY,
			   gb_identity_box_sk(b->id), GB_BOX_SK_BYTES) ||
	    zmq_setsockopt(b->router, ZMQ_ZAP_DOMAIN, "govbus", 6) ||
	    zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) ||
	    zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
	    zmq_setsockopt(b->router, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) ||
	    zmq_setsockopt(b->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) ||
	    zmq_setsockopt(b->router, ZMQ_LINGER, &zero, sizeof zero))
		goto zmq_fail;
	b->to.send = gb_send_router;
	b->to.ctx = b->router;
	if (zmq_bind(b->router, bs->listen) != 0) {
		(void)gb_why(why, why_len, 0, "cannot listen on %.200s: %s", bs->listen,
			zmq_strerror(errno));
		return GB_EIO;
	}
	return 0;
zmq_fail:
	(void)gb_why(why, why_len, 0, "ZeroMQ setup failed: %s", zmq_strerror(errno));
	return GB_EIO;
}

/* Create the parts that answer frames, over the store, the writer, the
 * audit trail and the ROUTER; policy_in_force gives them the policy. */
static int parts_new(gb_broker *b)
{
	int rc;

	if (gb_heads_new(b->store, &b->heads) != 0 ||
	    !(b->sessions = gb_sessions_new()))
		return GB_ENOMEM;
	{
		gb_publish_deps d = {b->store, b->heads, b->writer, b->audit,
				     b->to};
		rc = gb_publish_new(&d, &b->publish);
	}
	if (rc == 0) {
		gb_delivery_deps d = {b->store, b->heads, b->writer, b->audit,
				      b->to};
		rc = gb_delivery_new(&d, &b->delivery);
	}
	if (rc == 0) {
		gb_key_service_deps d = {b->store, b->writer, b->sessions,
					 b->audit, b->to};
		rc = gb_key_service_new(&d, &b->keys);
	}
	return rc;
}

int gb_broker_new(const char *config_path, gb_broker **out, char *why,
		  size_t why_len)
{
	gb_broker *b = calloc(1, sizeof *b);
	gb_config_error err;
	const gb_broker_settings *bs;
	char sign_key[GB_SIGN_PK_TEXT];
	int rc;

	*out = NULL;
	if (!b)
		return GB_ENOMEM;
	b->lock_fd = -1;
	b->signal_pipe[0] = b->signal_pipe[1] = -1;
	snprintf(b->config_path, sizeof b->config_path, "%s", config_path);
	if (!zmq_has("curve")) {
		(void)gb_why(why, why_len, 0, "this libzmq was built without CURVE");
		rc = GB_EIO;
		goto err;
	}
	rc = gb_config_load(config_path, (int64_t)gb_now_ns(), &b->reg, &err);
	if (rc != 0) {
		gb_config_error_format(&err, why, why_len);
		goto err;
	}
	bs = gb_registry_broker(b->reg);
	rc = gb_identity_load(bs->key, &b->id, why, why_len);
	if (rc != 0)
		goto err;
	rc = lock_data_dir(b, bs->data_dir, why, why_len);
	if (rc != 0)
		goto err;
	rc = gb_store_open(bs->data_dir, bs->map_size, &b->store);
	if (rc != 0) {
		(void)gb_why(why, why_len, 0, "cannot open the log in %.200s: %s",
			bs->data_dir, gb_strerror(rc));
		goto err;
	}
	if (pipe2(b->signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		(void)gb_why(why, why_len, 0, "pipe: %s", strerror(errno));
		rc = GB_EIO;
		goto err;
	}
	rc = setup_sockets(b, why, why_len);
	if (rc != 0)
		goto err;
	rc = gb_writer_new(b->ctx, b->store, &b->writer, why, why_len);
	if (rc != 0)
		goto err;
	{ /* the audit trail; it records nothing until the policy is loaded */
		gb_audit_io io = {audit_submit, module_send, b};

		rc = gb_audit_new(b->store, b->id, bs, &io, &b->audit);
		if (rc != 0) {
			(void)gb_why(why, why_len, 0, "cannot start the audit trail: %s",
				gb_strerror(rc));
			goto err;
		}
	}
	rc = parts_new(b);
	if (rc != 0) {
		(void)gb_why(why, why_len, 0, "cannot start the broker: %s",
			     gb_strerror(rc));
		goto err;
	}
	policy_in_force(b);
	/* Revocations made while the broker was down take effect now. */
	gb_key_service_reconcile(b->keys, (int64_t)gb_now_ns());
	randombytes_buf(&b->instance, sizeof b->instance);

	/* The trail starts with the policy in force. */
	gb_audit_policy_loaded(b->audit, b->reg, b->config_path);
	gb_key_encode_sign(gb_identity_sign_pk(b->id), sign_key);
	{ /* access requests answered by the config in force */
		gb_requests_io io = {requests_submit, module_send, requests_fail,
				     requests_log, b};

		rc = gb_requests_new(b->store, b->audit, &io, &b->requests);
		if (rc != 0) {
			(void)gb_why(why, why_len, 0,
				     "cannot start the access requests: %s",
				     gb_strerror(rc));
			goto err;
		}
		gb_requests_policy_loaded(b->requests, b->reg, gb_now_ns());
	}
	gb_log("listening on %s (data in %s): %zu departments, %zu datasets, "
	       "%zu grants; checkpoints signed by broker sign key %s",
	       bs->listen, bs->data_dir, gb_registry_department_count(b->reg),
	       gb_registry_dataset_count(b->reg),
	       gb_registry_grant_count(b->reg), sign_key);
	*out = b;
	return 0;
err:
	gb_broker_destroy(&b);
	return rc;
}

void gb_broker_destroy(gb_broker **bp)
{
	gb_broker *b;

	if (!bp || !*bp)
		return;
	b = *bp;
	if (b->writer) {
		/* Let queued writes commit, then sign a checkpoint of every
		 * stream they extended, so a clean stop leaves each stream's
		 * head covered. */
		if (b->audit)
			gb_writer_drain(b->writer, STOP_DRAIN_NS);
		gb_audit_flush(b->audit);
		/* Commits what is queued and answers it; anything never
		 * answered is not acked, so agents will retry it. */
		gb_writer_destroy(&b->writer);
	}
	gb_delivery_destroy(&b->delivery);
	gb_publish_destroy(&b->publish);
	gb_key_service_destroy(&b->keys);
	gb_sessions_destroy(&b->sessions);
	gb_heads_destroy(&b->heads);
	if (b->router)
		zmq_close(b->router);
	gb_zap_destroy(&b->zap);
	if (b->ctx)
		zmq_ctx_term(b->ctx);
	gb_audit_destroy(&b->audit); /* after the last job is done */
	gb_requests_destroy(&b->requests); /* likewise */
	gb_store_close(&b->store);
	gb_identity_destroy(&b->id);
	gb_registry_destroy(&b->reg);
	if (b->signal_pipe[0] >= 0)
		close(b->signal_pipe[0]);
	if (b->signal_pipe[1] >= 0)
		close(b->signal_pipe[1]);
	if (b->lock_fd >= 0)
		close(b->lock_fd);
	free(b);
	*bp = NULL;
}
