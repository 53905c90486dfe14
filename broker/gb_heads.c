/* govbus broker stream heads; see gb_heads.h.
 *
 * A flat array searched linearly: a broker serves tens of datasets, and
 * the pump asks about each subscription's stream once per turn. */
#include "gb_heads.h"

#include <stdlib.h>
#include <string.h>

#include "gb_broker_internal.h"
#include "gb_codec.h"
#include "gb_error.h"

struct stream_head {
	char dataset[GB_MAX_ID_LEN + 1];
	uint64_t next_offset;
};

struct gb_heads {
	gb_store *store;
	struct stream_head *heads;
	size_t count, cap;
};

int gb_heads_new(gb_store *store, gb_heads **out)
{
	gb_heads *h = calloc(1, sizeof *h);

	*out = NULL;
	if (!h)
		return GB_ENOMEM;
	h->store = store;
	*out = h;
	return 0;
}

void gb_heads_destroy(gb_heads **hp)
{
	if (!hp || !*hp)
		return;
	free((*hp)->heads);
	free(*hp);
	*hp = NULL;
}

static struct stream_head *head_find(gb_heads *h, const char *dataset)
{
	for (size_t i = 0; i < h->count; i++)
		if (!strcmp(h->heads[i].dataset, dataset))
			return &h->heads[i];
	return NULL;
}

int gb_heads_get(gb_heads *h, const char *dataset, uint64_t *next)
{
	struct stream_head *x = head_find(h, dataset);
	gb_stream_info info;
	int rc;

	if (x) {
		*next = x->next_offset;
		return 0;
	}
	rc = gb_store_stream_info(h->store, dataset, &info);
	if (rc != 0)
		return rc;
	if (h->count == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct stream_head *grown = realloc(h->heads, cap * sizeof *grown);
		if (!grown)
			return GB_ENOMEM;
		h->heads = grown;
		h->cap = cap;
	}
	x = &h->heads[h->count++];
	gb_copy_id(x->dataset, sizeof x->dataset, dataset);
	x->next_offset = info.next_offset;
	*next = info.next_offset;
	return 0;
}

void gb_heads_advance(gb_heads *h, const char *dataset, uint64_t next)
{
	struct stream_head *x = head_find(h, dataset);

	if (x && next > x->next_offset)
		x->next_offset = next;
}
