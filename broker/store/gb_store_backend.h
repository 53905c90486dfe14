/* The store's backend operations table, internal to broker/store: what a
 * backend (lmdb/, later jetstream/) implements behind gb_store.h.
 *
 * gb_store.c checks every public call's arguments that do not depend on
 * the engine (NULL pointers, names of 1..255 bytes, an empty group) before
 * it dispatches, so an operation may rely on them; each operation then has
 * exactly the contract of the gb_store_... function of the same name in
 * gb_store.h, including the guarantees listed at its top. Engine limits on
 * top of those (lmdb: the key size) are the backend's to check.
 *
 * A backend's handle starts with a struct gb_store, so the common code can
 * reach the operations and the dedupe window from any handle and the
 * backend can convert the pointer back (it allocates the whole). Pieces
 * every backend shares live beside this header: gb_store_item (argument
 * rules and results of write items, units), gb_store_entry (the stored
 * entry form and the chain over entries), gb_store_dedupe (which records
 * of a batch are duplicates). */
#ifndef GB_STORE_BACKEND_H
#define GB_STORE_BACKEND_H

#include "gb_store.h"

struct gb_store_ops;

struct gb_store {
	const struct gb_store_ops *ops;
	uint64_t dedupe_window_ns;      /* atomic; 0: dedupe off */
};

struct gb_store_ops {
	const char *name;               /* gb_store_options.backend */
	/* Open the store `opt` describes (opt->backend is this one); fill
	 * *out with the backend's handle, whose struct gb_store the backend
	 * sets up with gb_store_init. */
	int (*open)(const gb_store_options *opt, gb_store **out);
	/* Free everything of `s`, which is not NULL. */
	void (*close)(gb_store *s);
	/* items != NULL, n > 0. */
	int (*write_group)(gb_store *s, gb_write *items, size_t n);
	void (*stats)(const gb_store *s, gb_store_stats *out);
	int (*stream_info)(gb_store *s, const char *dataset,
			   gb_stream_info *out);
	int (*last_seq)(gb_store *s, const char *dataset, const char *producer,
			uint64_t *seq);
	int (*offset_for_time)(gb_store *s, const char *dataset,
			       uint64_t time_ns, uint64_t *offset);
	int (*read)(gb_store *s, const char *dataset, uint64_t offset,
		    size_t max_batches, gb_store_batch_fn fn, void *ctx);
	int (*cursor_get)(gb_store *s, const char *dept, const char *dataset,
			  const char *name, uint64_t *next_offset);
	/* *out is zeroed before the call. */
	int (*epoch_get)(gb_store *s, const char *dataset, gb_epoch_state *out);
	/* out may be NULL; *out is NULL before the call when it is not. */
	int (*wrap_get)(gb_store *s, const char *dataset, uint32_t epoch,
			const char *recipient, uint8_t **out, size_t *len);
	int (*wrap_holders)(gb_store *s, const char *dataset, uint32_t epoch,
			    gb_store_name_fn fn, void *ctx);
	int (*verify_stream)(gb_store *s, const char *dataset,
			     uint64_t *bad_offset);
	int (*read_raw)(gb_store *s, const char *stream, gb_stream_info *head,
			gb_store_value_fn fn, void *ctx);
	int (*checkpoints_read)(gb_store *s, const char *stream, uint64_t from,
				size_t max, gb_store_value_fn fn, void *ctx);
	int (*policies_read)(gb_store *s, gb_store_policy_fn fn, void *ctx);
	int (*requests_read)(gb_store *s, gb_store_value_fn fn, void *ctx);
	/* *next is 1 before the call. */
	int (*request_next_id)(gb_store *s, uint64_t *next);
};

/* The backends gb_store_open_with knows. */
extern const struct gb_store_ops gb_lmdb_ops;

/* Set up the common part of a new backend handle. */
void gb_store_init(gb_store *s, const struct gb_store_ops *ops);

/* The dedupe window now (gb_store_set_dedupe_window); 0: off. */
uint64_t gb_store_dedupe_window(const gb_store *s);

#endif
