/* The client's pending requests; see gb_request_table.h.
 *
 * A handful of requests is in flight at a time (key work, a catalog
 * query), so a list is all the table needs. Answers come from the broker,
 * already decoded and bounded by gb_codec; the table only matches their
 * request_id. */
#include "gb_request_table.h"

#include <stdlib.h>

#include "gb_error.h"

struct request {
	struct request *next;
	uint64_t id;
	uint8_t *frame;               /* encoded, sent again after a rebuild */
	size_t frame_len;
	gb_server_frame *answer;      /* NULL until answered */
};

struct gb_request_table {
	struct request *head;         /* newest first */
};

gb_request_table *gb_request_table_new(void)
{
	return calloc(1, sizeof(gb_request_table));
}

static void request_free(struct request *r)
{
	free(r->frame);
	gb_codec_server_free(&r->answer);
	free(r);
}

void gb_request_table_destroy(gb_request_table **tp)
{
	if (!tp || !*tp)
		return;
	while ((*tp)->head) {
		struct request *r = (*tp)->head;
		(*tp)->head = r->next;
		request_free(r);
	}
	free(*tp);
	*tp = NULL;
}

static struct request *find(const gb_request_table *t, uint64_t id)
{
	for (struct request *r = t->head; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

int gb_request_table_add(gb_request_table *t, uint64_t id, uint8_t *frame,
			 size_t len)
{
	struct request *r = calloc(1, sizeof *r);

	if (!r)
		return GB_ENOMEM;
	r->id = id;
	r->frame = frame;
	r->frame_len = len;
	r->next = t->head;
	t->head = r;
	return 0;
}

bool gb_request_table_answer(gb_request_table *t, uint64_t id,
			     gb_server_frame *answer)
{
	struct request *r = find(t, id);

	if (!r || r->answer)
		return false; /* late or repeated: the request is done */
	r->answer = answer;
	return true;
}

int gb_request_table_take(gb_request_table *t, uint64_t id,
			  gb_server_frame **answer)
{
	struct request *r = find(t, id);

	*answer = NULL;
	if (!r || !r->answer)
		return 0;
	*answer = r->answer;
	r->answer = NULL;
	gb_request_table_cancel(t, id);
	return 1;
}

void gb_request_table_cancel(gb_request_table *t, uint64_t id)
{
	for (struct request **rp = &t->head; *rp; rp = &(*rp)->next)
		if ((*rp)->id == id) {
			struct request *r = *rp;
			*rp = r->next;
			request_free(r);
			return;
		}
}

void gb_request_table_each_unanswered(const gb_request_table *t,
				      void (*fn)(void *arg,
						 const uint8_t *frame,
						 size_t len),
				      void *arg)
{
	for (const struct request *r = t->head; r; r = r->next)
		if (!r->answer)
			fn(arg, r->frame, r->frame_len);
}
