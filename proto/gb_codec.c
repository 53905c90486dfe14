/* Bounded frame decoding; see gb_codec.h.
 *
 * Trust: the input buffer is whatever a peer sent. Sizes are checked before
 * unpacking; after unpacking every field a later stage reads is validated
 * here, and errors say which field is wrong. */
#include "gb_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"

/* protobuf-c allocates while it unpacks, and a frame full of tiny unknown
 * fields costs far more memory than its size (about 28x measured). Each
 * decode gets an allocator with a budget proportional to the frame, so a
 * hostile frame fails to decode instead of exhausting memory. Decoded
 * frames are freed with the default allocator: the memory is malloc's. */
struct decode_budget {
	ProtobufCAllocator allocator;
	size_t left;
};

static void *budget_alloc(void *ctx, size_t size)
{
	struct decode_budget *b = ctx;

	if (size > b->left)
		return NULL;
	b->left -= size;
	return malloc(size);
}

static void budget_free(void *ctx, void *ptr)
{
	(void)ctx;
	free(ptr);
}

static void budget_init(struct decode_budget *b, size_t frame_len)
{
	b->allocator.alloc = budget_alloc;
	b->allocator.free = budget_free;
	b->allocator.allocator_data = b;
	b->left = GB_DECODE_BUDGET_FACTOR * frame_len + GB_DECODE_BUDGET_BASE;
}

bool gb_id_valid(const char *s)
{
	size_t n;
	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > GB_MAX_ID_LEN || s[0] < 'a' || s[0] > 'z')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

bool gb_name_valid(const char *s)
{
	size_t n;
	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > GB_MAX_NAME_LEN)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

const char *gb_text_problem(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n;

		if (s[i] < 0x80) {
			cp = s[i];
			n = 1;
		} else if ((s[i] & 0xe0) == 0xc0) {
			cp = s[i] & 0x1fu;
			n = 2;
		} else if ((s[i] & 0xf0) == 0xe0) {
			cp = s[i] & 0x0fu;
			n = 3;
		} else if ((s[i] & 0xf8) == 0xf0) {
			cp = s[i] & 0x07u;
			n = 4;
		} else {
			return "is not valid UTF-8";
		}
		if (len - i < n)
			return "is not valid UTF-8";
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return "is not valid UTF-8";
			cp = (cp << 6) | (s[i + k] & 0x3fu);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return "is not valid UTF-8";
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return "contains a control character";
		i += n;
	}
	return NULL;
}

static int check_dataset(const char *ds, char *why, size_t why_len,
			 const char *field)
{
	if (!gb_id_valid(ds))
		return gb_why(why, why_len, GB_EINVAL,
			    "%s: not a valid dataset id", field);
	return 0;
}

/* A stream name, i.e. a dataset id or the audit trail. */
bool gb_stream_name_valid(const char *s)
{
	return gb_id_valid(s) || (s && !strcmp(s, GB_AUDIT_STREAM));
}

static int check_stream(const char *name, char *why, size_t why_len,
			const char *field)
{
	if (!gb_stream_name_valid(name))
		return gb_why(why, why_len, GB_EINVAL,
			    "%s: not a valid dataset id", field);
	return 0;
}

static int validate_client(const gb_client_frame *f, char *why, size_t why_len)
{
	switch (f->body_case) {
	case GOVBUS__V1__CLIENT_FRAME__BODY_HELLO:
		if (!f->hello)
			break;
		if (strlen(f->hello->agent) > GB_MAX_NAME_LEN)
			return gb_why(why, why_len, GB_EINVAL,
				    "hello.agent: longer than %d bytes",
				    GB_MAX_NAME_LEN);
		return 0;
	case GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH:
		if (!f->publish)
			break;
		if (f->publish->signed_batch.len == 0)
			return gb_why(why, why_len, GB_EINVAL,
				    "publish.signed_batch: empty");
		if (f->publish->signed_batch.len > GB_MAX_BATCH_BYTES)
			return gb_why(why, why_len, GB_ETOOBIG,
				    "publish.signed_batch: %zu bytes, limit %u",
				    f->publish->signed_batch.len,
				    GB_MAX_BATCH_BYTES);
		return 0;
	case GOVBUS__V1__CLIENT_FRAME__BODY_SUBSCRIBE: {
		const Govbus__V1__Subscribe *s = f->subscribe;
		if (!s)
			break;
		if (check_stream(s->dataset, why, why_len,
				 "subscribe.dataset") != 0)
			return GB_EINVAL;
		if (s->start > GOVBUS__V1__SUBSCRIBE__START__START_TIME)
			return gb_why(why, why_len, GB_EINVAL,
				    "subscribe.start: unknown value %d",
				    (int)s->start);
		if (s->credit > GB_MAX_CREDIT)
			return gb_why(why, why_len, GB_EINVAL,
				    "subscribe.credit: above %u", GB_MAX_CREDIT);
		if (s->durable[0] && !gb_name_valid(s->durable))
			return gb_why(why, why_len, GB_EINVAL,
				    "subscribe.durable: not a valid cursor name");
		return 0;
	}
	case GOVBUS__V1__CLIENT_FRAME__BODY_CREDIT:
		if (!f->credit)
			break;
		if (f->credit->batches > GB_MAX_CREDIT)
			return gb_why(why, why_len, GB_EINVAL,
				    "credit.batches: above %u", GB_MAX_CREDIT);
		return 0;
	case GOVBUS__V1__CLIENT_FRAME__BODY_UNSUBSCRIBE:
		return f->unsubscribe ? 0 : GB_EPROTO;
	case GOVBUS__V1__CLIENT_FRAME__BODY_CURSOR_ACK:
		return f->cursor_ack ? 0 : GB_EPROTO;
	case GOVBUS__V1__CLIENT_FRAME__BODY_PING:
		return f->ping ? 0 : GB_EPROTO;
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH:
		if (!f->key_fetch)
			break;
		return check_dataset(f->key_fetch->dataset, why, why_len,
				     "key_fetch.dataset");
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_UPLOAD:
		if (!f->key_upload)
			break;
		if (check_dataset(f->key_upload->dataset, why, why_len,
				  "key_upload.dataset") != 0)
			return GB_EINVAL;
		if (f->key_upload->n_signed_wraps > GB_MAX_WRAPS)
			return gb_why(why, why_len, GB_ETOOBIG,
				    "key_upload.signed_wraps: more than %u",
				    GB_MAX_WRAPS);
		return 0;
	/* audit */
	case GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_REQUEST:
		if (!f->checkpoint_request)
			break;
		return check_stream(f->checkpoint_request->dataset, why,
				    why_len, "checkpoint_request.dataset");
	case GOVBUS__V1__CLIENT_FRAME__BODY_CHECKPOINT_LIST_REQUEST:
		if (!f->checkpoint_list_request)
			break;
		return check_stream(f->checkpoint_list_request->dataset, why,
				    why_len, "checkpoint_list_request.dataset");
	case GOVBUS__V1__CLIENT_FRAME__BODY_REGISTRY_REQUEST:
		return f->registry_request ? 0 : GB_EPROTO;
	/* catalog and access requests: gb_codec_access.c */
	case GOVBUS__V1__CLIENT_FRAME__BODY_CATALOG_REQUEST:
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST:
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST_QUERY:
		return gb_codec_check_access_client(f, why, why_len);
	default:
		return gb_why(why, why_len, GB_EPROTO,
			    "frame: empty or unknown body");
	}
	return gb_why(why, why_len, GB_EPROTO, "frame: body missing");
}

int gb_codec_client_decode(const uint8_t *buf, size_t len,
			   gb_client_frame **out, char *why, size_t why_len)
{
	struct decode_budget budget;
	gb_client_frame *f;
	int rc;

	*out = NULL;
	if (len > GB_MAX_FRAME)
		return gb_why(why, why_len, GB_ETOOBIG,
			    "frame: %zu bytes, limit %u", len, GB_MAX_FRAME);
	budget_init(&budget, len);
	f = govbus__v1__client_frame__unpack(&budget.allocator, len, buf);
	if (!f)
		return gb_why(why, why_len, GB_EDECODE,
			    "frame: not a govbus.v1.ClientFrame");
	rc = validate_client(f, why, why_len);
	if (rc != 0) {
		govbus__v1__client_frame__free_unpacked(f, NULL);
		return rc;
	}
	*out = f;
	return 0;
}

void gb_codec_client_free(gb_client_frame **frame)
{
	if (!frame || !*frame)
		return;
	govbus__v1__client_frame__free_unpacked(*frame, NULL);
	*frame = NULL;
}

static int validate_server(const gb_server_frame *f, char *why, size_t why_len)
{
	switch (f->body_case) {
	case GOVBUS__V1__SERVER_FRAME__BODY_WELCOME:
		if (!f->welcome)
			break;
		if (!gb_id_valid(f->welcome->dept))
			return gb_why(why, why_len, GB_EINVAL,
				    "welcome.dept: not a valid id");
		for (size_t i = 0; i < f->welcome->n_positions; i++)
			if (check_dataset(f->welcome->positions[i]->dataset,
					  why, why_len,
					  "welcome.positions.dataset") != 0)
				return GB_EINVAL;
		return 0;
	case GOVBUS__V1__SERVER_FRAME__BODY_PUBLISH_ACK:
		return f->publish_ack ? 0 : GB_EPROTO;
	case GOVBUS__V1__SERVER_FRAME__BODY_SUBSCRIBE_OK:
		return f->subscribe_ok ? 0 : GB_EPROTO;
	case GOVBUS__V1__SERVER_FRAME__BODY_DELIVER: {
		const Govbus__V1__Deliver *d = f->deliver;
		if (!d)
			break;
		if (d->chain_hash.len != 32)
			return gb_why(why, why_len, GB_EINVAL,
				    "deliver.chain_hash: not 32 bytes");
		if (d->signed_batch.len == 0 ||
		    d->signed_batch.len > GB_MAX_BATCH_BYTES)
			return gb_why(why, why_len, GB_EINVAL,
				    "deliver.signed_batch: bad size %zu",
				    d->signed_batch.len);
		if (d->record_count == 0 ||
		    d->record_count > GB_MAX_BATCH_RECORDS)
			return gb_why(why, why_len, GB_EINVAL,
				    "deliver.record_count: %u out of range",
				    d->record_count);
		return 0;
	}
	case GOVBUS__V1__SERVER_FRAME__BODY_PONG:
		return f->pong ? 0 : GB_EPROTO;
	case GOVBUS__V1__SERVER_FRAME__BODY_KEY_INFO:
		if (!f->key_info)
			break;
		return check_dataset(f->key_info->dataset, why, why_len,
				     "key_info.dataset");
	case GOVBUS__V1__SERVER_FRAME__BODY_KEY_UPLOAD_ACK:
		return f->key_upload_ack ? 0 : GB_EPROTO;
	/* The agent bounds and checks the contents */
	case GOVBUS__V1__SERVER_FRAME__BODY_CHECKPOINT_REPLY:
		return f->checkpoint_reply ? 0 : GB_EPROTO;
	case GOVBUS__V1__SERVER_FRAME__BODY_CHECKPOINT_LIST:
		if (!f->checkpoint_list)
			break;
		return check_stream(f->checkpoint_list->dataset, why, why_len,
				    "checkpoint_list.dataset");
	case GOVBUS__V1__SERVER_FRAME__BODY_REGISTRY:
		return f->registry ? 0 : GB_EPROTO;
	/* catalog and access requests: gb_codec_access.c */
	case GOVBUS__V1__SERVER_FRAME__BODY_CATALOG:
	case GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_ACK:
	case GOVBUS__V1__SERVER_FRAME__BODY_ACCESS_REQUEST_LIST:
		return gb_codec_check_access_server(f, why, why_len);
	case GOVBUS__V1__SERVER_FRAME__BODY_ERROR:
		if (!f->error)
			break;
		if (strlen(f->error->message) > GB_MAX_MESSAGE_LEN)
			return gb_why(why, why_len, GB_EINVAL,
				    "error.message: too long");
		/* dedupe: indexes of a batch, ascending */
		if (f->error->n_duplicate_records > GB_MAX_BATCH_RECORDS)
			return gb_why(why, why_len, GB_ETOOBIG,
				    "error.duplicate_records: more than a "
				    "batch holds");
		for (size_t i = 1; i < f->error->n_duplicate_records; i++)
			if (f->error->duplicate_records[i] <=
			    f->error->duplicate_records[i - 1])
				return gb_why(why, why_len, GB_EINVAL,
					    "error.duplicate_records: not "
					    "ascending");
		return 0;
	default:
		return gb_why(why, why_len, GB_EPROTO,
			    "frame: empty or unknown body");
	}
	return gb_why(why, why_len, GB_EPROTO, "frame: body missing");
}

int gb_codec_server_decode(const uint8_t *buf, size_t len,
			   gb_server_frame **out, char *why, size_t why_len)
{
	struct decode_budget budget;
	gb_server_frame *f;
	int rc;

	*out = NULL;
	if (len > GB_MAX_FRAME)
		return gb_why(why, why_len, GB_ETOOBIG,
			    "frame: %zu bytes, limit %u", len, GB_MAX_FRAME);
	budget_init(&budget, len);
	f = govbus__v1__server_frame__unpack(&budget.allocator, len, buf);
	if (!f)
		return gb_why(why, why_len, GB_EDECODE,
			    "frame: not a govbus.v1.ServerFrame");
	rc = validate_server(f, why, why_len);
	if (rc != 0) {
		govbus__v1__server_frame__free_unpacked(f, NULL);
		return rc;
	}
	*out = f;
	return 0;
}

void gb_codec_server_free(gb_server_frame **frame)
{
	if (!frame || !*frame)
		return;
	govbus__v1__server_frame__free_unpacked(*frame, NULL);
	*frame = NULL;
}

int gb_codec_client_encode(const gb_client_frame *frame, uint8_t **out,
			   size_t *len)
{
	size_t n = govbus__v1__client_frame__get_packed_size(frame);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return GB_ENOMEM;
	*len = govbus__v1__client_frame__pack(frame, buf);
	*out = buf;
	return 0;
}

int gb_codec_server_encode(const gb_server_frame *frame, uint8_t **out,
			   size_t *len)
{
	size_t n = govbus__v1__server_frame__get_packed_size(frame);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return GB_ENOMEM;
	*len = govbus__v1__server_frame__pack(frame, buf);
	*out = buf;
	return 0;
}
