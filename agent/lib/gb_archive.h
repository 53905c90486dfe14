/* govbus audit archives: the self-contained evidence file `govbus-audit
 * export` and `govbus-agent audit export` write and `govbus-audit verify`
 * checks.
 *
 * An archive is a stream of varint-delimited ArchiveItem messages
 * (proto/govbus.proto; protobuf's writeDelimitedTo framing, through
 * gb_format): one ArchiveHeader, every PolicySnapshot, every signed
 * checkpoint, the entries in offset order, one ArchiveEnd. Reading bounds
 * every item before protobuf-c unpacks it; the contents are checked by
 * gb_verifier, not here. */
#ifndef GB_ARCHIVE_H
#define GB_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gb_verifier.h"
#include "govbus.pb-c.h"

#define GB_ARCHIVE_FORMAT 1
#define GB_ARCHIVE_ITEM_MAX (20u << 20) /* a batch (12 MiB) with its framing */

typedef struct gb_archive_writer gb_archive_writer;

/* Write an archive to `out` (borrowed; the caller flushes and closes it).
 * Returns 0 or GB_ENOMEM. */
int gb_archive_writer_new(FILE *out, gb_archive_writer **w);
void gb_archive_writer_destroy(gb_archive_writer **w);

/* Each returns 0, GB_EIO (write failed) or GB_ENOMEM. */
int gb_archive_put_header(gb_archive_writer *w, const char *stream,
			  const uint8_t *broker_pk, uint64_t exported_ns,
			  const char *source);
int gb_archive_put_policy(gb_archive_writer *w, const uint8_t *hash,
			  const uint64_t *loaded_ns, size_t load_count,
			  const uint8_t *config, size_t config_len);
int gb_archive_put_checkpoint(gb_archive_writer *w, const uint8_t *bytes,
			      size_t len);
int gb_archive_put_entry(gb_archive_writer *w, const gb_verifier_entry *e);
/* The last item; counts what was put before. `head` may be NULL. */
int gb_archive_put_end(gb_archive_writer *w, const gb_verifier_head *head);

typedef struct gb_archive_reader gb_archive_reader;

/* Read an archive from `fd` (borrowed). Returns 0 or GB_ENOMEM. */
int gb_archive_reader_new(int fd, gb_archive_reader **r);
void gb_archive_reader_destroy(gb_archive_reader **r);

/* The next item: 1 with *item set (free it with
 * govbus__v1__archive_item__free_unpacked(item, NULL)), 0 at the end of
 * the file, or GB_EDECODE / GB_ETOOBIG / GB_EIO with a sentence naming the
 * item number in `why`. */
int gb_archive_next(gb_archive_reader *r, Govbus__V1__ArchiveItem **item,
		    char *why, size_t why_len);

/* Items read so far. */
uint64_t gb_archive_items(const gb_archive_reader *r);

#endif
