/* The client's table of requests waiting for their answer: KeyFetch,
 * KeyUpload, CatalogRequest, AccessRequest and AccessRequestQuery frames,
 * each answered by request_id (DESIGN §13). Internal to the library.
 *
 * Each request is kept encoded until its answer arrives, so that it can be
 * sent again after the connection is rebuilt (every one of them is safe to
 * repeat); the answer is kept until its caller takes it. The table only
 * keeps: sending and waiting are the client's (gb_client_request.c). */
#ifndef GB_REQUEST_TABLE_H
#define GB_REQUEST_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gb_codec.h"

typedef struct gb_request_table gb_request_table;

/* An empty table, or NULL when out of memory. */
gb_request_table *gb_request_table_new(void);

/* Free the table with every request and unread answer in it. Accepts NULL
 * and sets *t to NULL. */
void gb_request_table_destroy(gb_request_table **t);

/* Remember request `id` (not 0, not in the table) with its encoded frame;
 * takes ownership of `frame` on success. Returns 0 or GB_ENOMEM. */
int gb_request_table_add(gb_request_table *t, uint64_t id, uint8_t *frame,
			 size_t len);

/* Hand `answer` to request `id`: true when the request waits for it (the
 * table then owns the frame), false when there is no such request or it is
 * answered already (a late or repeated answer: the caller keeps it). */
bool gb_request_table_answer(gb_request_table *t, uint64_t id,
			     gb_server_frame *answer);

/* 1 with *answer (the caller frees it) once request `id` is answered,
 * which also forgets the request; 0 while it is pending or unknown. */
int gb_request_table_take(gb_request_table *t, uint64_t id,
			  gb_server_frame **answer);

/* Forget request `id` and any answer it has; a late answer is then
 * refused by gb_request_table_answer. */
void gb_request_table_cancel(gb_request_table *t, uint64_t id);

/* Call `fn` with the encoded frame of every request still unanswered,
 * newest first (to send them again). */
void gb_request_table_each_unanswered(const gb_request_table *t,
				      void (*fn)(void *arg,
						 const uint8_t *frame,
						 size_t len),
				      void *arg);

#endif
