/* govbus log store: the interface of gb_store.h over its backends.
 *
 * Opens a store by backend name and passes every call to that backend's
 * operations (gb_store_backend.h), after checking the arguments that do
 * not depend on the engine, so every backend refuses them alike and
 * relies on them. Also keeps what is the same for every backend: the
 * dedupe window and the old LMDB-shaped entry points (gb_store_open,
 * gb_store_open_readonly, gb_store_map_size), which are thin wrappers.
 *
 * Trust: callers are the broker's own threads and tools, trusted to pass
 * NUL-terminated strings, not to pass valid names or non-NULL pointers. */
#include "gb_store.h"

#include <stdio.h>
#include <string.h>

#include "gb_error.h"
#include "gb_store_backend.h"
#include "gb_store_item.h"

static const struct gb_store_ops *const backends[] = {
	&gb_lmdb_ops,
};

#define BACKEND_COUNT (sizeof backends / sizeof backends[0])

static bool name_ok(const char *name)
{
	size_t n;

	return gb_store_name_length(name, &n) == 0;
}

/* ------------------------------------------------------------ open/close */

void gb_store_init(gb_store *s, const struct gb_store_ops *ops)
{
	s->ops = ops;
	s->dedupe_window_ns = 0;
}

int gb_store_open_with(const gb_store_options *opt, gb_store **out)
{
	const char *name;

	if (!out)
		return GB_EINVAL;
	*out = NULL;
	if (!opt)
		return GB_EINVAL;
	name = opt->backend && *opt->backend ? opt->backend : "lmdb";
	for (size_t i = 0; i < BACKEND_COUNT; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i]->open(opt, out);
	fprintf(stderr, "govbus store: unknown backend \"%.40s\" (known: lmdb)\n",
		name);
	return GB_EINVAL;
}

int gb_store_open(const char *dir, uint64_t map_size, gb_store **out)
{
	gb_store_options opt = {0};

	opt.lmdb.dir = dir;
	opt.lmdb.map_size = map_size;
	return gb_store_open_with(&opt, out);
}

int gb_store_open_readonly(const char *dir, gb_store **out)
{
	gb_store_options opt = {0};

	opt.readonly = true;
	opt.lmdb.dir = dir;
	return gb_store_open_with(&opt, out);
}

void gb_store_close(gb_store **sp)
{
	if (!sp || !*sp)
		return;
	(*sp)->ops->close(*sp);
	*sp = NULL;
}

/* ------------------------------------------------------------ writing */

int gb_store_write_group(gb_store *s, gb_write *items, size_t n)
{
	if (!s || (!items && n > 0))
		return GB_EINVAL;
	if (n == 0)
		return 0;
	return s->ops->write_group(s, items, n);
}

void gb_store_set_dedupe_window(gb_store *s, uint64_t window_ns)
{
	__atomic_store_n(&s->dedupe_window_ns, window_ns, __ATOMIC_RELAXED);
}

uint64_t gb_store_dedupe_window(const gb_store *s)
{
	return __atomic_load_n(&s->dedupe_window_ns, __ATOMIC_RELAXED);
}

void gb_store_stats_get(const gb_store *s, gb_store_stats *out)
{
	memset(out, 0, sizeof *out);
	s->ops->stats(s, out);
}

uint64_t gb_store_map_size(const gb_store *s)
{
	gb_store_stats st;

	gb_store_stats_get(s, &st);
	return st.capacity_bytes;
}

/* ------------------------------------------------------------ reading */

int gb_store_stream_info(gb_store *s, const char *dataset, gb_stream_info *out)
{
	if (!s || !out || !name_ok(dataset))
		return GB_EINVAL;
	return s->ops->stream_info(s, dataset, out);
}

int gb_store_last_seq(gb_store *s, const char *dataset, const char *producer,
		      uint64_t *seq)
{
	if (!s || !seq || !name_ok(dataset) || !name_ok(producer))
		return GB_EINVAL;
	return s->ops->last_seq(s, dataset, producer, seq);
}

int gb_store_offset_for_time(gb_store *s, const char *dataset,
			     uint64_t time_ns, uint64_t *offset)
{
	if (!s || !offset || !name_ok(dataset))
		return GB_EINVAL;
	return s->ops->offset_for_time(s, dataset, time_ns, offset);
}

int gb_store_read(gb_store *s, const char *dataset, uint64_t offset,
		  size_t max_batches, gb_store_batch_fn fn, void *ctx)
{
	if (!s || !fn || !name_ok(dataset))
		return GB_EINVAL;
	return s->ops->read(s, dataset, offset, max_batches, fn, ctx);
}

int gb_store_cursor_get(gb_store *s, const char *dept, const char *dataset,
			const char *name, uint64_t *next_offset)
{
	if (!s || !next_offset || !name_ok(dept) || !name_ok(dataset) ||
	    !name_ok(name))
		return GB_EINVAL;
	return s->ops->cursor_get(s, dept, dataset, name, next_offset);
}

int gb_store_epoch_get(gb_store *s, const char *dataset, gb_epoch_state *out)
{
	memset(out, 0, sizeof *out);
	if (!s || !name_ok(dataset))
		return GB_EINVAL;
	return s->ops->epoch_get(s, dataset, out);
}

int gb_store_wrap_get(gb_store *s, const char *dataset, uint32_t epoch,
		      const char *recipient, uint8_t **out, size_t *len)
{
	if (out)
		*out = NULL;
	if (!s || !name_ok(dataset) || !name_ok(recipient))
		return GB_EINVAL;
	return s->ops->wrap_get(s, dataset, epoch, recipient, out, len);
}

int gb_store_wrap_holders(gb_store *s, const char *dataset, uint32_t epoch,
			  gb_store_name_fn fn, void *ctx)
{
	if (!s || !fn || !name_ok(dataset))
		return GB_EINVAL;
	return s->ops->wrap_holders(s, dataset, epoch, fn, ctx);
}

int gb_store_verify_stream(gb_store *s, const char *dataset,
			   uint64_t *bad_offset)
{
	if (!s || !name_ok(dataset))
		return GB_EINVAL;
	return s->ops->verify_stream(s, dataset, bad_offset);
}

/* ------------------------------------------------------------ audit */

int gb_store_read_raw(gb_store *s, const char *stream, gb_stream_info *head,
		      gb_store_value_fn fn, void *ctx)
{
	if (!s || !fn || !head || !name_ok(stream))
		return GB_EINVAL;
	return s->ops->read_raw(s, stream, head, fn, ctx);
}

int gb_store_checkpoints_read(gb_store *s, const char *stream, uint64_t from,
			      size_t max, gb_store_value_fn fn, void *ctx)
{
	if (!s || !fn || !name_ok(stream))
		return GB_EINVAL;
	return s->ops->checkpoints_read(s, stream, from, max, fn, ctx);
}

int gb_store_policies_read(gb_store *s, gb_store_policy_fn fn, void *ctx)
{
	if (!s || !fn)
		return GB_EINVAL;
	return s->ops->policies_read(s, fn, ctx);
}

/* ------------------------------------------------------------ access requests */

int gb_store_requests_read(gb_store *s, gb_store_value_fn fn, void *ctx)
{
	if (!s || !fn)
		return GB_EINVAL;
	return s->ops->requests_read(s, fn, ctx);
}

int gb_store_request_next_id(gb_store *s, uint64_t *next)
{
	if (!s || !next)
		return GB_EINVAL;
	*next = 1;
	return s->ops->request_next_id(s, next);
}
