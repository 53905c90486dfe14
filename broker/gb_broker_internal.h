/* What the parts of govbus-broker share, and nothing more: the bound on a
 * peer's routing id, who sent the frame a handler is answering, and how an
 * id is copied into a fixed buffer. Each part (gb_send, gb_writer,
 * gb_heads, gb_zap, gb_sessions, gb_delivery, gb_publish, gb_key_service)
 * owns its own state behind its own header; gb_broker.c creates them,
 * feeds them frames from the ROUTER and swaps the policy they decide on. */
#ifndef GB_BROKER_INTERNAL_H
#define GB_BROKER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GB_PEER_ID_MAX 256        /* ZeroMQ routing ids are at most 255 bytes */

/* The frame being handled: the routing id of the connection it came on,
 * the department that connection authenticated as (ZAP's User-Id, checked
 * against the policy in force) and when it was read (gb_now_ns). All
 * borrowed for the handler's call; a handler that keeps any of it copies. */
typedef struct gb_caller {
	const uint8_t *peer;
	size_t peer_len;            /* 1..GB_PEER_ID_MAX */
	const char *dept;
	uint64_t t;
} gb_caller;

/* Copy an id (or "" for NULL) into dst[cap], truncating. */
static inline void gb_copy_id(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

#endif
