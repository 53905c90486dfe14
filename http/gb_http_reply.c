/* Replies of the HTTP module: the one-answer rule, JSON and JSON errors,
 * static assets, Prometheus text; see gb_http.h.
 *
 * Every reply builds a libmicrohttpd response, adds the headers every
 * reply carries (nosniff; no-store unless an asset says otherwise) and the
 * ones the handler staged, and hands it to gb_http_answer, which stores it
 * for the server thread or resumes a parked connection. Error text is
 * made UTF-8 before it goes into JSON, since a message may quote input. */
#include "gb_http_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gb_error.h"
#include "gb_metrics.h"
#include "gb_wire.h"

#define MESSAGE_MAX 512

int gb_http_answer(gb_http_request *req, struct MHD_Response *resp,
		   unsigned status, gb_http_sse *sse)
{
	struct hub *hub = req->hub;
	bool drop_hold;
	int rc = 0;

	pthread_mutex_lock(&hub->mu);
	drop_hold = req->held;
	req->held = false;
	if (!resp) {
		/* No answer could be built. A handler's request gets the
		 * server's 500; a parked one is closed, so the client is not
		 * left waiting. */
		if (req->phase == PHASE_PARKED) {
			req->phase = PHASE_ABORTED;
			gb_http_suspension_remove(hub, &req->susp);
			MHD_resume_connection(req->conn);
		}
		rc = GB_ENOMEM;
	} else switch (req->phase) {
	case PHASE_HANDLING:
		req->answer = resp;
		req->answer_status = status;
		req->sse = sse;
		req->phase = PHASE_ANSWERED;
		break;
	case PHASE_PARKED:
		req->answer = resp;
		req->answer_status = status;
		req->sse = sse;
		req->phase = PHASE_RESUMING;
		gb_http_suspension_remove(hub, &req->susp);
		MHD_resume_connection(req->conn);
		break;
	default:
		rc = GB_ECLOSED;
		break;
	}
	pthread_mutex_unlock(&hub->mu);
	if (drop_hold)
		gb_http_request_unref(req);
	return rc;
}

int gb_http_add_common_headers(struct MHD_Response *resp)
{
	return MHD_add_response_header(resp, "X-Content-Type-Options",
				       "nosniff") == MHD_YES
		       ? 0
		       : GB_ENOMEM;
}

int gb_http_apply_reply_headers(gb_http_request *req,
				struct MHD_Response *resp)
{
	if (gb_http_add_common_headers(resp) != 0)
		return GB_ENOMEM;
	for (size_t i = 0; i < req->n_reply_headers; i++)
		if (MHD_add_response_header(resp, req->reply_headers[i].name,
					    req->reply_headers[i].value) !=
		    MHD_YES)
			return GB_ENOMEM;
	return 0;
}

/* A token per RFC 9110 (header names). */
static bool header_name_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

int gb_http_add_header(gb_http_request *req, const char *name,
		       const char *value)
{
	size_t i = req->n_reply_headers;

	if (!header_name_ok(name) || !value || strpbrk(value, "\r\n") ||
	    strlen(value) > 1024)
		return GB_EINVAL;
	if (i == GB_HTTP_MAX_REPLY_HEADERS)
		return GB_ETOOBIG;
	req->reply_headers[i].name = strdup(name);
	req->reply_headers[i].value = strdup(value);
	if (!req->reply_headers[i].name || !req->reply_headers[i].value) {
		free(req->reply_headers[i].name);
		free(req->reply_headers[i].value);
		return GB_ENOMEM;
	}
	req->n_reply_headers++;
	return 0;
}

/* Build a response from bytes (copied) with a content type, the common
 * and staged headers. NULL when out of memory. */
static struct MHD_Response *bytes_response(gb_http_request *req,
					   const char *content_type,
					   const void *body, size_t len,
					   const char *cache_control)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, (void *)body, MHD_RESPMEM_MUST_COPY);

	if (!resp)
		return NULL;
	if ((content_type &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				     content_type) != MHD_YES) ||
	    (cache_control &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				     cache_control) != MHD_YES) ||
	    (req ? gb_http_apply_reply_headers(req, resp)
		 : gb_http_add_common_headers(resp)) != 0) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* Answer with resp, or free it when the request cannot take it. A NULL
 * resp (out of memory, a bad argument) still ends a park hold. */
static int answer_or_free(gb_http_request *req, struct MHD_Response *resp,
			  unsigned status)
{
	int rc = gb_http_answer(req, resp, status, NULL);

	if (rc != 0 && resp)
		MHD_destroy_response(resp);
	return rc;
}

static bool status_ok(unsigned status)
{
	return status >= 100 && status <= 599;
}

int gb_http_reply(gb_http_request *req, unsigned status,
		  const char *content_type, const void *body, size_t len)
{
	if (!status_ok(status) || (len && !body)) {
		(void)answer_or_free(req, NULL, 500);
		return GB_EINVAL;
	}
	return answer_or_free(req, bytes_response(req, content_type, body, len,
						  "no-store"),
			      status);
}

int gb_http_reply_json(gb_http_request *req, unsigned status,
		       const json_t *json)
{
	char *text = json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY)
			  : NULL;
	struct MHD_Response *resp = NULL;

	if (!status_ok(status) || !json) {
		free(text);
		(void)answer_or_free(req, NULL, 500);
		return GB_EINVAL;
	}
	if (text)
		resp = bytes_response(req, "application/json", text,
				      strlen(text), "no-store");
	free(text);
	return answer_or_free(req, resp, status);
}

/* Replace bytes that are not UTF-8 with '?', in place. */
static void make_utf8(char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		size_t k = gb_utf8_seq((const uint8_t *)s + i, n - i);
		if (k == 0) {
			s[i++] = '?';
			continue;
		}
		i += k;
	}
}

struct MHD_Response *gb_http_error_response(unsigned status, int rc,
					    const char *message,
					    const json_t *extra)
{
	char text[MESSAGE_MAX];
	json_t *obj;
	char *body = NULL;
	struct MHD_Response *resp = NULL;

	snprintf(text, sizeof text, "%s", message ? message : gb_strerror(rc));
	make_utf8(text);
	obj = json_pack("{s:s, s:I, s:s}", "code", gb_error_name(rc), "status",
			(json_int_t)status, "message", text);
	if (obj && extra && json_object_update(obj, (json_t *)extra) != 0) {
		json_decref(obj);
		obj = NULL;
	}
	if (obj)
		body = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (body)
		resp = bytes_response(NULL, "application/json", body,
				      strlen(body), "no-store");
	free(body);
	return resp;
}

/* An error reply with the request's staged headers plus one more. */
static int reply_error_full(gb_http_request *req, unsigned status, int rc,
			    const char *header, const char *value,
			    const char *message, const json_t *extra)
{
	struct MHD_Response *resp =
		gb_http_error_response(status, rc, message, extra);

	if (resp && ((header && MHD_add_response_header(resp, header, value) !=
					MHD_YES) ||
		     gb_http_apply_reply_headers(req, resp) != 0)) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	return answer_or_free(req, resp, status);
}

int gb_http_reply_error_status(gb_http_request *req, unsigned status, int rc,
			       const char *header, const char *value,
			       const char *message)
{
	return reply_error_full(req, status, rc, header, value, message, NULL);
}

int gb_http_reply_error(gb_http_request *req, int rc, const char *fmt, ...)
{
	char message[MESSAGE_MAX];
	va_list ap;

	if (rc >= 0)
		rc = GB_EINVAL; /* an error reply needs an error */
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	return reply_error_full(req, gb_error_status(rc), rc, NULL, NULL,
				message, NULL);
}

int gb_http_body_json(gb_http_request *req, json_t **out)
{
	json_error_t err;
	json_t *extra;
	char message[MESSAGE_MAX];

	/* "" for no body: jansson then says what an empty document lacks */
	*out = json_loadb(req->body ? (const char *)req->body : "",
			  req->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
			  &err);
	if (*out)
		return 0;
	snprintf(message, sizeof message,
		 "the request body is not valid JSON: line %d, column %d: %s",
		 err.line, err.column, err.text);
	extra = json_pack("{s:i, s:i}", "line", err.line, "column",
			  err.column);
	(void)reply_error_full(req, 400, GB_EDECODE, NULL, NULL, message,
			       extra);
	json_decref(extra);
	return GB_EDECODE;
}

int gb_http_reply_metrics(gb_http_request *req, gb_metrics *m)
{
	char *text = NULL;
	size_t len = 0;
	int rc = gb_metrics_render(m, &text, &len);

	if (rc != 0) {
		(void)answer_or_free(req, NULL, 500);
		return rc;
	}
	rc = answer_or_free(req, bytes_response(req, GB_METRICS_CONTENT_TYPE,
						text, len, "no-store"),
			    200);
	free(text);
	return rc;
}

/* ------------------------------------------------------------- assets */

static const struct {
	const char *ext;
	const char *type;
} content_types[] = {
	{"html", "text/html; charset=utf-8"},
	{"css", "text/css; charset=utf-8"},
	{"js", "text/javascript; charset=utf-8"},
	{"mjs", "text/javascript; charset=utf-8"},
	{"json", "application/json"},
	{"map", "application/json"},
	{"svg", "image/svg+xml"},
	{"png", "image/png"},
	{"ico", "image/vnd.microsoft.icon"},
	{"woff2", "font/woff2"},
	{"txt", "text/plain; charset=utf-8"},
	{"wasm", "application/wasm"},
};

const char *gb_http_content_type(const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;

	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof content_types /
					       sizeof content_types[0];
		     i++)
			if (!strcasecmp(dot + 1, content_types[i].ext))
				return content_types[i].type;
	return "application/octet-stream";
}

/* Whether an If-None-Match value ("a", W/"a", *) names `etag`. */
static bool etag_listed(const char *list, const char *etag)
{
	size_t n = strlen(etag);

	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (*p == '*' || (!strncmp(p, etag, n) &&
				  (p[n] == '\0' || p[n] == ',' || p[n] == ' ')))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

int gb_http_reply_asset(gb_http_request *req, const gb_http_asset *asset)
{
	unsigned char digest[16];
	char hex[2 * sizeof digest + 1], etag[sizeof hex + 2];
	const char *inm = gb_http_header(req, "If-None-Match");
	const char *cache = asset->immutable
				    ? "public, max-age=31536000, immutable"
				    : "no-cache";
	bool fresh = false;
	struct MHD_Response *resp;

	crypto_generichash(digest, sizeof digest, asset->data, asset->len,
			   NULL, 0);
	sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
	snprintf(etag, sizeof etag, "\"%s\"", hex);
	fresh = inm && etag_listed(inm, etag);
	resp = bytes_response(req,
			      asset->content_type ? asset->content_type
						  : gb_http_content_type(asset->path),
			      asset->data, fresh ? 0 : asset->len, cache);
	if (resp && MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag) !=
			    MHD_YES) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	return answer_or_free(req, resp, fresh ? 304 : 200);
}
