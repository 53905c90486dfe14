/* One table of govbus error codes: their name, text and wire status. */
#include "gb_error.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct error_entry {
	int code;
	unsigned status;
	const char *name;
	const char *text;
};

static const struct error_entry error_table[] = {
	{GB_OK, 200, "OK", "success"},
	{GB_EINVAL, GB_STATUS_BAD_REQUEST, "EINVAL", "invalid argument"},
	{GB_EDECODE, GB_STATUS_BAD_REQUEST, "EDECODE", "message does not decode"},
	{GB_ETOOBIG, GB_STATUS_TOO_LARGE, "ETOOBIG", "input exceeds its size limit"},
	{GB_EAUTH, GB_STATUS_UNAUTHENTICATED, "EAUTH", "authentication failed"},
	{GB_ESIG, GB_STATUS_UNAUTHENTICATED, "ESIG", "signature does not verify"},
	{GB_EPERM, GB_STATUS_FORBIDDEN, "EPERM", "denied by the access policy"},
	{GB_ENOTFOUND, GB_STATUS_NOT_FOUND, "ENOTFOUND", "not found"},
	{GB_ECONFLICT, GB_STATUS_CONFLICT, "ECONFLICT", "conflicts with stored state"},
	{GB_EEXPIRED, GB_STATUS_GONE, "EEXPIRED", "grant expired"},
	{GB_ECONFIG, GB_STATUS_BAD_REQUEST, "ECONFIG", "invalid configuration"},
	{GB_EKEYFILE, GB_STATUS_BAD_REQUEST, "EKEYFILE", "unusable key file"},
	{GB_ECRYPTO, GB_STATUS_BAD_REQUEST, "ECRYPTO", "cryptographic check failed"},
	{GB_ETIMEOUT, GB_STATUS_TIMEOUT, "ETIMEOUT", "timed out"},
	{GB_ENOMEM, GB_STATUS_INTERNAL, "ENOMEM", "out of memory"},
	{GB_EIO, GB_STATUS_INTERNAL, "EIO", "input/output error"},
	{GB_ENOSPC, GB_STATUS_INSUFFICIENT_STORAGE, "ENOSPC", "storage full"},
	{GB_EPROTO, GB_STATUS_BAD_REQUEST, "EPROTO", "protocol violation"},
	{GB_EUNAVAIL, GB_STATUS_UNAVAILABLE, "EUNAVAIL", "service unavailable"},
	{GB_ECORRUPT, GB_STATUS_INTERNAL, "ECORRUPT", "stored data is corrupt"},
	{GB_ECLOSED, GB_STATUS_GONE, "ECLOSED", "closed"},
	{GB_EEPOCH, GB_STATUS_PRECONDITION, "EEPOCH", "key epoch is not the dataset's current one"},
	{GB_EDUPLICATE, GB_STATUS_CONFLICT, "EDUPLICATE", "some records were already stored (record ids)"},
};

#define ERROR_COUNT (sizeof error_table / sizeof error_table[0])

static const struct error_entry *error_lookup(int code)
{
	for (size_t i = 0; i < ERROR_COUNT; i++)
		if (error_table[i].code == code)
			return &error_table[i];
	return NULL;
}

const char *gb_strerror(int err)
{
	const struct error_entry *e = error_lookup(err);
	return e ? e->text : "unknown error";
}

const char *gb_error_name(int err)
{
	const struct error_entry *e = error_lookup(err);
	return e ? e->name : "EUNKNOWN";
}

unsigned gb_error_status(int err)
{
	const struct error_entry *e = error_lookup(err);
	return e ? e->status : GB_STATUS_INTERNAL;
}

int gb_error_from_status(unsigned status)
{
	/* Several codes share a status; the first in the table is the
	 * canonical one, except where a status has a sharper meaning. */
	switch (status) {
	case GB_STATUS_GONE:
		return GB_EEXPIRED;
	case GB_STATUS_BAD_REQUEST:
		return GB_EINVAL;
	case GB_STATUS_UNAUTHENTICATED:
		return GB_EAUTH;
	default:
		break;
	}
	for (size_t i = 1; i < ERROR_COUNT; i++)
		if (error_table[i].status == status)
			return error_table[i].code;
	return GB_EIO;
}

int gb_why(char *why, size_t why_len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}
