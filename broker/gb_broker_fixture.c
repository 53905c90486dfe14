/* Fixtures for the unit tests of the broker's parts; see
 * gb_broker_fixture.h. */
#include "gb_broker_fixture.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "gb_error.h"
#include "gb_log.h"

static char fixture_dir[64];

static int outbox_send(void *ctx, const uint8_t *peer, size_t peer_len,
		       const gb_server_frame *frame)
{
	gb_outbox *o = ctx;
	uint8_t *bytes = NULL;
	size_t len = 0;
	gb_server_frame *copy = NULL;
	char why[256];
	int rc;

	if (o->refuse) {
		o->refused++;
		return o->refuse;
	}
	rc = gb_codec_server_encode(frame, &bytes, &len);
	if (rc == 0)
		rc = gb_codec_server_decode(bytes, len, &copy, why, sizeof why);
	free(bytes);
	if (rc != 0) {
		fprintf(stderr, "outbox: a frame does not pass gb_codec: %s\n",
			gb_strerror(rc));
		return rc;
	}
	if (o->n == GB_OUTBOX_MAX || peer_len > GB_PEER_ID_MAX) {
		fprintf(stderr, "outbox: full\n");
		gb_codec_server_free(&copy);
		return GB_ENOMEM;
	}
	memcpy(o->peers[o->n], peer, peer_len);
	o->peer_lens[o->n] = peer_len;
	o->frames[o->n++] = copy;
	return 0;
}

gb_sender gb_outbox_sender(gb_outbox *o)
{
	gb_sender s = {outbox_send, o};
	return s;
}

void gb_outbox_clear(gb_outbox *o)
{
	for (size_t i = 0; i < o->n; i++)
		gb_codec_server_free(&o->frames[i]);
	o->n = 0;
	o->refused = 0;
}

const gb_server_frame *gb_outbox_find(const gb_outbox *o, size_t from,
				      Govbus__V1__ServerFrame__BodyCase body_case)
{
	for (size_t i = from; i < o->n; i++)
		if (o->frames[i]->body_case == body_case)
			return o->frames[i];
	return NULL;
}

size_t gb_outbox_count(const gb_outbox *o,
		       Govbus__V1__ServerFrame__BodyCase body_case)
{
	size_t n = 0;

	for (size_t i = 0; i < o->n; i++)
		n += o->frames[i]->body_case == body_case;
	return n;
}

const char *gb_fixture_dir(void)
{
	if (!fixture_dir[0]) {
		snprintf(fixture_dir, sizeof fixture_dir,
			 "/tmp/gb-broker-test.XXXXXX");
		if (!mkdtemp(fixture_dir)) {
			perror("mkdtemp");
			exit(2);
		}
	}
	return fixture_dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void gb_fixture_cleanup(void)
{
	if (fixture_dir[0])
		nftw(fixture_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	fixture_dir[0] = '\0';
}

gb_store *gb_fixture_store(const char *name)
{
	char dir[256];
	gb_store *s = NULL;
	int rc;

	snprintf(dir, sizeof dir, "%s/%s", gb_fixture_dir(), name);
	rc = gb_store_open(dir, 64u << 20, &s);
	if (rc != 0)
		fprintf(stderr, "cannot open a store in %s: %s\n", dir,
			gb_strerror(rc));
	return s;
}

gb_registry *gb_fixture_registry(const char *yaml, int64_t now_ns)
{
	char name[256], msg[1024];
	gb_registry *reg = NULL;
	gb_config_error err;

	snprintf(name, sizeof name, "%s/govbus.yaml", gb_fixture_dir());
	if (gb_config_load_buffer(name, (const uint8_t *)yaml, strlen(yaml),
				  now_ns, &reg, &err) != 0) {
		gb_config_error_format(&err, msg, sizeof msg);
		fprintf(stderr, "test config: %s\n", msg);
	}
	return reg;
}

void gb_fixture_dept_yaml(const gb_identity *id, const char *dept, char *buf,
			  size_t len)
{
	char sign[GB_SIGN_PK_TEXT], box[GB_BOX_PK_TEXT];

	gb_key_encode_sign(gb_identity_sign_pk(id), sign);
	gb_key_encode_box(gb_identity_box_pk(id), box);
	snprintf(buf, len,
		 "  - { id: %s, name: %s, sign_key: \"%s\", box_key: \"%s\" }\n",
		 dept, dept, sign, box);
}

int gb_fixture_settle(gb_writer *w)
{
	gb_writer_drain(w, 10000000000ull);
	if (gb_writer_pending(w) != 0) {
		fprintf(stderr, "the writer did not finish in 10 s\n");
		return GB_ETIMEOUT;
	}
	return 0;
}

gb_caller gb_fixture_caller(const char *peer, const char *dept, uint64_t t)
{
	gb_caller c = {(const uint8_t *)peer, strlen(peer), dept, t};
	return c;
}

gb_client_frame *gb_fixture_client_frame(const gb_client_frame *f)
{
	uint8_t *bytes = NULL;
	size_t len = 0;
	gb_client_frame *copy = NULL;
	char why[256] = "";
	int rc = gb_codec_client_encode(f, &bytes, &len);

	if (rc == 0)
		rc = gb_codec_client_decode(bytes, len, &copy, why, sizeof why);
	free(bytes);
	if (rc != 0)
		fprintf(stderr, "test frame refused: %s %s\n", gb_strerror(rc),
			why);
	return copy;
}

int gb_fixture_rig_open(gb_fixture_rig *r, const char *name)
{
	char why[256] = "";
	int rc;

	r->ctx = zmq_ctx_new();
	r->store = gb_fixture_store(name);
	if (!r->ctx || !r->store)
		return GB_EIO;
	rc = gb_writer_new(r->ctx, r->store, &r->writer, why, sizeof why);
	if (rc != 0) {
		fprintf(stderr, "cannot start the writer: %s\n", why);
		return rc;
	}
	return gb_heads_new(r->store, &r->heads);
}

void gb_fixture_rig_close(gb_fixture_rig *r)
{
	gb_writer_destroy(&r->writer);
	gb_heads_destroy(&r->heads);
	gb_outbox_clear(&r->box);
	gb_store_close(&r->store);
	if (r->ctx)
		zmq_ctx_term(r->ctx);
	r->ctx = NULL;
}

static void written(void *arg)
{
	(void)arg;
}

int gb_fixture_write(gb_fixture_rig *r, gb_write *ws, size_t n)
{
	int rc = gb_writer_submit(r->writer, ws, n, written, NULL);

	if (rc == 0)
		rc = gb_fixture_settle(r->writer);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = ws[i].result;
	return rc;
}
