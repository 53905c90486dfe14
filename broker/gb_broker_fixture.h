/* Fixtures for the unit tests of the broker's parts (gb_*_test.c beside
 * each): a temporary directory removed at the end, stores and registries
 * in it, an outbox that records every frame a part sends, and a wait for
 * the writer. Each part is tested on its own with these and with the real
 * parts it depends on (store, writer), never with a running broker.
 *
 * The functions here report trouble on stderr and by their result, which
 * the tests check (gb_test.h counts failures per test file). */
#ifndef GB_BROKER_FIXTURE_H
#define GB_BROKER_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "gb_broker_internal.h"
#include "gb_codec.h"
#include "gb_config.h"
#include "gb_heads.h"
#include "gb_keys.h"
#include "gb_send.h"
#include "gb_store.h"
#include "gb_writer.h"

#define GB_OUTBOX_MAX 1024

/* Frames sent through gb_outbox_sender, each packed and decoded again
 * with gb_codec (so it is also a frame an agent accepts), with the
 * routing id it went to. While `refuse` is non-zero, sends fail with it
 * (GB_EUNAVAIL: queue full, GB_ECLOSED: peer gone) and are only counted. */
typedef struct gb_outbox {
	size_t n;
	gb_server_frame *frames[GB_OUTBOX_MAX];
	uint8_t peers[GB_OUTBOX_MAX][GB_PEER_ID_MAX];
	size_t peer_lens[GB_OUTBOX_MAX];
	int refuse;
	size_t refused;
} gb_outbox;

gb_sender gb_outbox_sender(gb_outbox *o);

/* Free the recorded frames and start again (refuse is kept). */
void gb_outbox_clear(gb_outbox *o);

/* The first recorded frame at index >= `from` with `body_case`, or NULL. */
const gb_server_frame *gb_outbox_find(const gb_outbox *o, size_t from,
				      Govbus__V1__ServerFrame__BodyCase body_case);

/* How many recorded frames have `body_case`. */
size_t gb_outbox_count(const gb_outbox *o,
		       Govbus__V1__ServerFrame__BodyCase body_case);

/* What the tests of the parts run on: a ZeroMQ context, a store in the
 * temporary directory, the writer over it, stream heads and an outbox.
 * Big (the outbox): keep it static. */
typedef struct gb_fixture_rig {
	void *ctx;
	gb_store *store;
	gb_writer *writer;
	gb_heads *heads;
	gb_outbox box;
} gb_fixture_rig;

/* Open all of it, the store named `name`; 0 or the first error. */
int gb_fixture_rig_open(gb_fixture_rig *r, const char *name);

/* Stop the writer (running the done functions of what it holds), then
 * close the rest. A part under test is destroyed after this. */
void gb_fixture_rig_close(gb_fixture_rig *r);

/* Commit `n` writes through the rig's writer (the store has one writer
 * thread) and wait for them; 0, or the first item's or the wait's error. */
int gb_fixture_write(gb_fixture_rig *r, gb_write *ws, size_t n);

/* A fresh temporary directory for this process (created on first use),
 * and its removal with everything in it. */
const char *gb_fixture_dir(void);
void gb_fixture_cleanup(void);

/* A store in gb_fixture_dir()/name, or NULL (after a message). */
gb_store *gb_fixture_store(const char *name);

/* A registry loaded from `yaml` at `now_ns`, or NULL (after printing the
 * located error). */
gb_registry *gb_fixture_registry(const char *yaml, int64_t now_ns);

/* One departments list item for `dept` with the public keys of `id`. */
void gb_fixture_dept_yaml(const gb_identity *id, const char *dept, char *buf,
			  size_t len);

/* Run the writer's results until nothing is pending (at most 10 s);
 * returns 0, or GB_ETIMEOUT. */
int gb_fixture_settle(gb_writer *w);

/* A heap copy of `f` (encoded and decoded with gb_codec, so it is also a
 * frame the broker would accept), for handlers that take ownership;
 * NULL when gb_codec refuses it. */
gb_client_frame *gb_fixture_client_frame(const gb_client_frame *f);

/* A caller for handlers: routing id `peer` (a string), department `dept`,
 * time `t`. */
gb_caller gb_fixture_caller(const char *peer, const char *dept, uint64_t t);

#endif
