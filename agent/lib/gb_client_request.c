/* Requests the broker answers by request_id (KeyFetch, KeyUpload,
 * CatalogRequest, AccessRequest, AccessRequestQuery): started, remembered
 * in the client's table (gb_request_table.h) until answered, and waited
 * for; see gb_client_internal.h.
 *
 * Trust: answers are matched by request_id only; what they say is checked
 * by the caller, except that gb_client_ask insists on the expected frame
 * type and turns a broker Error into its code and sentence. */
#include "gb_client_internal.h"

#include <stdlib.h>

/* How long a request may go unanswered while the connection is alive. */
#define REQUEST_TIMEOUT_MIN_MS 30000

/* Set the request_id field of `frame`; false when it is not a request. */
static bool set_request_id(gb_client_frame *frame, uint64_t id)
{
	switch (frame->body_case) {
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_FETCH:
		frame->key_fetch->request_id = id;
		return true;
	case GOVBUS__V1__CLIENT_FRAME__BODY_KEY_UPLOAD:
		frame->key_upload->request_id = id;
		return true;
	/* catalog and access requests are safe to repeat as well (a
	 * repeated AccessRequest returns the pending one) */
	case GOVBUS__V1__CLIENT_FRAME__BODY_CATALOG_REQUEST:
		frame->catalog_request->request_id = id;
		return true;
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST:
		frame->access_request->request_id = id;
		return true;
	case GOVBUS__V1__CLIENT_FRAME__BODY_ACCESS_REQUEST_QUERY:
		frame->access_request_query->request_id = id;
		return true;
	default:
		return false;
	}
}

int gb_client_request_start(gb_client *c, gb_client_frame *frame,
			    uint64_t *request_id)
{
	uint64_t id = gb_client_next_request_id(c);
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	*request_id = 0;
	if (!set_request_id(frame, id))
		return gb_client_fail(c, GB_EINVAL, 0, "not a request frame");
	rc = gb_codec_client_encode(frame, &buf, &len);
	if (rc != 0)
		return gb_client_fail(c, rc, 0, "out of memory encoding a "
				      "key request");
	if (gb_request_table_add(gb_client_request_table(c), id, buf, len) !=
	    0) {
		free(buf);
		return gb_client_fail(c, GB_ENOMEM, 0, "out of memory");
	}
	*request_id = id;
	return gb_client_send_raw(c, buf, len);
}

int gb_client_request_take(gb_client *c, uint64_t request_id,
			   gb_server_frame **answer)
{
	return gb_request_table_take(gb_client_request_table(c), request_id,
				     answer);
}

void gb_client_request_cancel(gb_client *c, uint64_t request_id)
{
	gb_request_table_cancel(gb_client_request_table(c), request_id);
}

int gb_client_request(gb_client *c, gb_client_frame *frame,
		      gb_server_frame **answer)
{
	int64_t wait_ms = 10 * (int64_t)gb_client_timeout_ms(c), deadline;
	uint64_t id;
	int rc;

	*answer = NULL;
	if (wait_ms < REQUEST_TIMEOUT_MIN_MS)
		wait_ms = REQUEST_TIMEOUT_MIN_MS;
	rc = gb_client_request_start(c, frame, &id);
	if (rc != 0)
		return rc;
	deadline = gb_agent_now_ms() + wait_ms;
	while (!gb_client_request_take(c, id, answer)) {
		rc = gb_client_wait(c, deadline);
		if (rc == GB_ETIMEOUT && gb_agent_now_ms() >= deadline) {
			gb_client_request_cancel(c, id);
			return gb_client_fail(c, GB_ETIMEOUT, 0,
					      "the broker did not answer a "
					      "request within %lld s",
					      (long long)(wait_ms / 1000));
		}
		if (rc != 0 && rc != GB_ETIMEOUT) {
			gb_client_request_cancel(c, id);
			return rc;
		}
	}
	return 0;
}

/* The answer must be `want`; a broker Error becomes its code and sentence. */
static int answer_expect(gb_client *c, const gb_server_frame *a, int want,
			 const char *what)
{
	if ((int)a->body_case == want)
		return 0;
	if (a->body_case == GOVBUS__V1__SERVER_FRAME__BODY_ERROR)
		return gb_client_fail(c, gb_error_from_status(a->error->status),
				      a->error->status, "%s", a->error->message);
	return gb_client_fail(c, GB_EPROTO, 0,
			      "the broker answered a %s with an unexpected "
			      "frame", what);
}

int gb_client_ask(gb_client *c, gb_client_frame *frame, int want,
		  const char *what, gb_server_frame **answer)
{
	int rc = gb_client_request(c, frame, answer);

	if (rc == 0)
		rc = answer_expect(c, *answer, want, what);
	if (rc != 0)
		gb_codec_server_free(answer);
	return rc;
}
