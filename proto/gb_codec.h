/* govbus frame codec: bounded decoding and validation of wire frames.
 *
 * Every byte from the network is untrusted. A frame's size is checked before
 * protobuf-c unpacks it, then every field it carries is checked against the
 * limits below, so code after the codec can rely on ids being short,
 * printable and non-empty and on oneofs being set. */
#ifndef GB_CODEC_H
#define GB_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "govbus.pb-c.h"

#define GB_MAX_FRAME (16u << 20)          /* largest frame on the wire */
#define GB_MAX_BATCH_BYTES (12u << 20)    /* largest serialized SignedBatch */
#define GB_MAX_BATCH_RECORDS 100000u      /* records in one batch */
#define GB_MAX_RECORD_BYTES (4u << 20)    /* one record's payload */
#define GB_MAX_ID_LEN 64                  /* department / dataset ids */
#define GB_MAX_NAME_LEN 128               /* durable cursor names, agent names */
#define GB_MAX_MESSAGE_LEN 1024           /* error sentences */
#define GB_MAX_CREDIT 65536u              /* batches granted at once */
#define GB_MAX_WRAPS 4096u                /* key wraps in one upload */
#define GB_DECODE_BUDGET_FACTOR 4u        /* memory one decode may allocate: */
#define GB_DECODE_BUDGET_BASE (64u << 10) /* factor x frame size + base */
#define GB_MAX_TEXT_LEN 1024              /* free text (purpose, reason...) */

typedef Govbus__V1__ClientFrame gb_client_frame;
typedef Govbus__V1__ServerFrame gb_server_frame;

/* True when s is a valid id: 1..GB_MAX_ID_LEN of [a-z0-9._-], starting with
 * a lowercase letter. The one definition used by config, codec and CLI. */
bool gb_id_valid(const char *s);

/* True when s is a valid durable cursor name: 1..GB_MAX_NAME_LEN of
 * [A-Za-z0-9._-]. */
bool gb_name_valid(const char *s);

/* NULL when s[0..len) is UTF-8 without control characters, else
 * a phrase saying why not ("is not valid UTF-8", "contains a control
 * character"). The one definition used by config, codec and CLI. */
const char *gb_text_problem(const char *s, size_t len);

/* The broker's audit trail is a stream named
 * GB_AUDIT_STREAM, which gb_id_valid refuses, so no dataset can take it.
 * True when s is a dataset id or that name: what may be subscribed to. */
#define GB_AUDIT_STREAM "_audit"
bool gb_stream_name_valid(const char *s);

/* ---------------------------------------------------------------- catalog
 * Catalog and access-request frames (gb_codec_access.c). */

/* Validate a ClientFrame carrying a CatalogRequest, AccessRequest or
 * AccessRequestQuery / a ServerFrame carrying a Catalog, AccessRequestAck
 * or AccessRequestList (called by the decoders; 0 or GB_EINVAL /
 * GB_EPROTO / GB_ETOOBIG with the field named in `why`). */
int gb_codec_check_access_client(const gb_client_frame *f, char *why,
				 size_t why_len);
int gb_codec_check_access_server(const gb_server_frame *f, char *why,
				 size_t why_len);

/* Check one AccessRequestInfo as the broker stores and sends it: ids,
 * rights (subscribe, replay), bounded UTF-8 texts, a known status. Also
 * used on values read back from the broker's data dir. */
int gb_codec_check_request_info(const Govbus__V1__AccessRequestInfo *info,
				char *why, size_t why_len);

/* Decode and validate one agent->broker frame. On failure *out is NULL and
 * `why` (may be NULL) names the problem. Free with gb_codec_client_free. */
int gb_codec_client_decode(const uint8_t *buf, size_t len,
			   gb_client_frame **out, char *why, size_t why_len);
void gb_codec_client_free(gb_client_frame **frame);

/* Decode and validate one broker->agent frame. */
int gb_codec_server_decode(const uint8_t *buf, size_t len,
			   gb_server_frame **out, char *why, size_t why_len);
void gb_codec_server_free(gb_server_frame **frame);

/* Serialize a frame into a new malloc'd buffer owned by the caller. */
int gb_codec_client_encode(const gb_client_frame *frame, uint8_t **out,
			   size_t *len);
int gb_codec_server_encode(const gb_server_frame *frame, uint8_t **out,
			   size_t *len);

#endif
