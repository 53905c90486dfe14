/* Helpers shared by the store's tests (the contract test and the lmdb
 * tests), prefix st_: a mkdtemp root with one folder per test case,
 * deterministic batch bytes, write items of each kind, and a model of what
 * a stream should hold, built independently of the store, that reads are
 * checked against. Tests only; every check counts in gb_test.h's tally of
 * the test binary (CHECK failures here are reported with this file's
 * line). */
#ifndef GB_STORE_TEST_UTIL_H
#define GB_STORE_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_store.h"

#define ST_MODEL_BATCHES 512

/* Make the root folder /tmp/PREFIX.XXXXXX; false (with perror) on failure. */
bool st_root_init(const char *prefix);
/* ROOT/name, the folder of one test case. */
void st_case_dir(char *out, size_t out_len, const char *name);
/* Remove the root and everything below it. */
void st_root_remove(void);

/* Failed checks so far, in this file's helpers; add to the binary's. */
int st_failures(void);

/* Deterministic batch bytes, different for every (tag, seq, index). */
void st_fill_batch(uint8_t *buf, size_t len, char tag, uint64_t seq);

/* Write items; result is preset to 12345 so a test sees it overwritten. */
gb_write st_append_item(const char *dataset, const char *producer,
			uint64_t seq, uint32_t count, const uint8_t *data,
			size_t len, uint64_t now_ns);
gb_write st_cursor_item(const char *dept, const char *dataset,
			const char *name, uint64_t next);
gb_write st_key_item(gb_write_kind kind, const char *dataset, uint32_t epoch,
		     const uint8_t *commitment, uint64_t now_ns);
gb_write st_wrap_item(const char *dataset, uint32_t epoch,
		      const char *recipient, const uint8_t *wrap, size_t len);
gb_write st_audit_item(const char *stream, const uint8_t *bytes, size_t len,
		       uint64_t now);
gb_write st_request_item(uint64_t id, const char *value);

/* What a gb_store_value_fn was handed: the first 16 offsets and lengths,
 * and how many values in all. */
struct st_seen {
	uint64_t offsets[16];
	size_t lens[16];
	size_t n;
};

int st_remember(void *arg, uint64_t offset, const uint8_t *value, size_t len);

/* What a gb_store_policy_fn was handed: how many policies, and the load
 * count, config length and last load time of the last one. */
struct st_policy_seen {
	size_t n, loads, len;
	uint64_t last;
};

int st_count_policy(void *arg, const gb_stored_policy *p);

/* Write one item in its own group: the group's error, else the item's. */
int st_write_one(gb_store *s, gb_write *w);

/* What a stream should hold. */
struct st_model_batch {
	uint64_t seq;
	uint64_t base;
	uint32_t count;
	size_t len;
	uint64_t time;
	uint8_t hash[GB_HASH_BYTES];
};

struct st_model {
	const char *dataset;
	char tag;                       /* batch bytes of this stream */
	struct st_model_batch b[ST_MODEL_BATCHES];
	size_t n;
	uint64_t next;
	uint64_t last_time;
	uint8_t head[GB_HASH_BYTES];
};

void st_model_init(struct st_model *m, const char *dataset, char tag);

/* Check a freshly stored (not duplicate) item against the model and add
 * it: its offset, broker time and chain hash must be the ones that follow. */
void st_model_accept(struct st_model *m, const gb_write *w);

/* First offset whose batch is at least `t` new, from the model. */
uint64_t st_model_offset_for_time(const struct st_model *m, uint64_t t);

/* Callback state of st_check_batch: checks each visited batch against the
 * model in order. */
struct st_read_check {
	const struct st_model *m;
	size_t next_index;              /* model batch expected next */
	size_t visited;
	int stop_after;                 /* return 1 after this many, 0: never */
	int fail_with;                  /* return this on the first batch */
	int mismatches;
};

int st_check_batch(void *ctx, const gb_stored_batch *sb);

/* Read the stream from `offset` to its end and compare with the model,
 * head included. */
void st_check_stream(gb_store *s, const struct st_model *m, uint64_t offset);

/* Append one batch of `len` bytes to the model's stream in its own group. */
int st_append_one(gb_store *s, struct st_model *m, const char *producer,
		  uint64_t seq, uint32_t count, size_t len, uint64_t now);

/* An APPEND of seq `seq` (one record) to the model's stream by producer
 * "p" under `epoch` with `commitment`. Its batch bytes live in a ring of
 * 16 buffers, as long as the items of one group need them. */
gb_write st_epoch_append(const struct st_model *m, uint64_t seq,
			 uint32_t epoch, const uint8_t *commitment,
			 uint64_t now_ns);

/* The stored key state of `dataset` is exactly this (commitment NULL:
 * all zero). */
bool st_epoch_is(gb_store *s, const char *dataset, uint32_t current,
		 bool retired, const uint8_t *commitment, uint64_t created);

/* The stored wrap of (dataset, epoch, recipient) is exactly `want`. */
bool st_wrap_is(gb_store *s, const char *dataset, uint32_t epoch,
		const char *recipient, const uint8_t *want, size_t len);

/* A writer thread (200 groups of two appends, batches of `len` bytes, to
 * t.one and t.two) beside a reader thread that reads, searches and
 * verifies the whole time; then checks both saw no error. */
void st_writer_beside_reader(gb_store *s, size_t len);

#endif
