/* govbus error codes.
 *
 * Every govbus function returns 0 on success or a negative GB_E... code.
 * Each code maps to one wire status (4xx: the caller's fault, 5xx: the
 * broker's) so an error can travel in an Error frame and come back as the
 * same code. gb_strerror() is the one place that describes a code. */
#ifndef GB_ERROR_H
#define GB_ERROR_H

enum gb_error {
	GB_OK = 0,
	GB_EINVAL = -1,      /* malformed argument or input field (400) */
	GB_EDECODE = -2,     /* bytes do not decode as the expected message (400) */
	GB_ETOOBIG = -3,     /* input larger than its limit (413) */
	GB_EAUTH = -4,       /* unknown key or failed authentication (401) */
	GB_ESIG = -5,        /* signature does not verify (401) */
	GB_EPERM = -6,       /* the policy denies the action (403) */
	GB_ENOTFOUND = -7,   /* unknown dataset, department or object (404) */
	GB_ECONFLICT = -8,   /* sequence or state conflict (409) */
	GB_EEXPIRED = -9,    /* the grant has expired (410) */
	GB_ECONFIG = -10,    /* configuration file invalid (400) */
	GB_EKEYFILE = -11,   /* key file missing, malformed or too permissive */
	GB_ECRYPTO = -12,    /* authentication tag, commitment or count mismatch */
	GB_ETIMEOUT = -13,   /* no answer in time (504) */
	GB_ENOMEM = -14,     /* out of memory (500) */
	GB_EIO = -15,        /* I/O or storage failure (500) */
	GB_ENOSPC = -16,     /* storage full (507) */
	GB_EPROTO = -17,     /* the peer broke the protocol (400) */
	GB_EUNAVAIL = -18,   /* service unavailable, try again (503) */
	GB_ECORRUPT = -19,   /* stored data fails validation (500) */
	GB_ECLOSED = -20,    /* the connection or subscription ended */
	GB_EEPOCH = -21,     /* key epoch unknown, retired or mismatched (412) */
	GB_EDUPLICATE = -22, /* some records of a batch were stored before,
			      * by record id, inside the dedupe window (409) */
};

/* Wire status codes, grouped by class as in HTTP. */
enum gb_status {
	GB_STATUS_BAD_REQUEST = 400,
	GB_STATUS_UNAUTHENTICATED = 401,
	GB_STATUS_FORBIDDEN = 403,
	GB_STATUS_NOT_FOUND = 404,
	GB_STATUS_CONFLICT = 409,
	GB_STATUS_GONE = 410,
	GB_STATUS_PRECONDITION = 412,
	GB_STATUS_TOO_LARGE = 413,
	GB_STATUS_INTERNAL = 500,
	GB_STATUS_UNAVAILABLE = 503,
	GB_STATUS_TIMEOUT = 504,
	GB_STATUS_INSUFFICIENT_STORAGE = 507,
};

/* Return a static, human description of a GB_E... code. */
const char *gb_strerror(int err);

/* Return the code's symbolic name without the GB_ prefix ("EPERM", "OK";
 * "EUNKNOWN" for unknown codes), as JSON error replies carry it. */
const char *gb_error_name(int err);

/* Return the wire status for a GB_E... code (500 for unknown codes). */
unsigned gb_error_status(int err);

/* Return the GB_E... code a wire status stands for (GB_EIO if unknown). */
int gb_error_from_status(unsigned status);

#include <stddef.h>

/* Format one sentence into why[why_len] (either may be 0/NULL: nothing is
 * written) and return rc, so a failure path reads
 *     return gb_why(why, why_len, GB_EINVAL, "field: bad");            */
int gb_why(char *why, size_t why_len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
