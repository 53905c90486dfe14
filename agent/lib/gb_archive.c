/* govbus audit archives; see gb_archive.h.
 *
 * Trust: an archive being read is untrusted input. gb_format's reader
 * bounds each item (GB_ARCHIVE_ITEM_MAX) before protobuf-c unpacks it and
 * an item without a body is refused here; what the items say is for
 * gb_verifier to judge. Framing is gb_format's varint pair, the one of the
 * agent; messages are packed and unpacked by protobuf-c only. */
#include "gb_archive.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gb_chain.h"
#include "gb_error.h"
#include "gb_format.h"
#include "gb_keys.h"

struct gb_archive_writer {
	gb_writer *out;
	uint64_t entries, checkpoints, policies;
};

struct gb_archive_reader {
	gb_reader *in;
};

/* ------------------------------------------------------------ writing */

int gb_archive_writer_new(FILE *out, gb_archive_writer **w)
{
	gb_archive_writer *a = calloc(1, sizeof *a);

	*w = NULL;
	if (!a || gb_writer_new(out, GB_FORMAT_DELIMITED, &a->out) != 0) {
		free(a);
		return GB_ENOMEM;
	}
	*w = a;
	return 0;
}

void gb_archive_writer_destroy(gb_archive_writer **w)
{
	if (!w || !*w)
		return;
	gb_writer_destroy(&(*w)->out);
	free(*w);
	*w = NULL;
}

/* Pack one item and write it delimited. */
static int put_item(gb_archive_writer *w, const Govbus__V1__ArchiveItem *item)
{
	size_t len = govbus__v1__archive_item__get_packed_size(item);
	uint8_t *buf = malloc(len ? len : 1);
	gb_record rec;
	int rc;

	if (!buf)
		return GB_ENOMEM;
	govbus__v1__archive_item__pack(item, buf);
	memset(&rec, 0, sizeof rec);
	rec.payload = buf;
	rec.len = len;
	rc = gb_writer_put(w->out, &rec);
	free(buf);
	return rc;
}

int gb_archive_put_header(gb_archive_writer *w, const char *stream,
			  const uint8_t *broker_pk, uint64_t exported_ns,
			  const char *source)
{
	Govbus__V1__ArchiveItem item = GOVBUS__V1__ARCHIVE_ITEM__INIT;
	Govbus__V1__ArchiveHeader h = GOVBUS__V1__ARCHIVE_HEADER__INIT;

	h.format = GB_ARCHIVE_FORMAT;
	h.dataset = (char *)stream;
	h.broker_sign_key.data = (uint8_t *)broker_pk;
	h.broker_sign_key.len = broker_pk ? GB_SIGN_PK_BYTES : 0;
	h.exported_ns = exported_ns;
	h.source = (char *)(source ? source : "");
	item.item_case = GOVBUS__V1__ARCHIVE_ITEM__ITEM_HEADER;
	item.header = &h;
	return put_item(w, &item);
}

int gb_archive_put_policy(gb_archive_writer *w, const uint8_t *hash,
			  const uint64_t *loaded_ns, size_t load_count,
			  const uint8_t *config, size_t config_len)
{
	Govbus__V1__ArchiveItem item = GOVBUS__V1__ARCHIVE_ITEM__INIT;
	Govbus__V1__PolicySnapshot p = GOVBUS__V1__POLICY_SNAPSHOT__INIT;

	p.hash.data = (uint8_t *)hash;
	p.hash.len = GB_HASH_BYTES;
	p.loaded_ns = (uint64_t *)loaded_ns;
	p.n_loaded_ns = load_count;
	p.config.data = (uint8_t *)config;
	p.config.len = config_len;
	item.item_case = GOVBUS__V1__ARCHIVE_ITEM__ITEM_POLICY;
	item.policy = &p;
	w->policies++;
	return put_item(w, &item);
}

int gb_archive_put_checkpoint(gb_archive_writer *w, const uint8_t *bytes,
			      size_t len)
{
	Govbus__V1__ArchiveItem item = GOVBUS__V1__ARCHIVE_ITEM__INIT;

	item.item_case = GOVBUS__V1__ARCHIVE_ITEM__ITEM_SIGNED_CHECKPOINT;
	item.signed_checkpoint.data = (uint8_t *)bytes;
	item.signed_checkpoint.len = len;
	w->checkpoints++;
	return put_item(w, &item);
}

int gb_archive_put_entry(gb_archive_writer *w, const gb_verifier_entry *e)
{
	Govbus__V1__ArchiveItem item = GOVBUS__V1__ARCHIVE_ITEM__INIT;
	Govbus__V1__ArchiveEntry a = GOVBUS__V1__ARCHIVE_ENTRY__INIT;

	a.offset = e->offset;
	a.base_offset = e->base_offset;
	a.broker_time_ns = e->broker_time_ns;
	a.record_count = e->record_count;
	a.chain_hash.data = (uint8_t *)e->chain_hash;
	a.chain_hash.len = e->chain_hash_len;
	a.signed_batch.data = (uint8_t *)e->batch;
	a.signed_batch.len = e->batch_len;
	item.item_case = GOVBUS__V1__ARCHIVE_ITEM__ITEM_ENTRY;
	item.entry = &a;
	w->entries++;
	return put_item(w, &item);
}

int gb_archive_put_end(gb_archive_writer *w, const gb_verifier_head *head)
{
	Govbus__V1__ArchiveItem item = GOVBUS__V1__ARCHIVE_ITEM__INIT;
	Govbus__V1__ArchiveEnd end = GOVBUS__V1__ARCHIVE_END__INIT;

	if (head) {
		end.head_next_offset = head->next_offset;
		end.head_batch_count = head->batch_count;
		end.head_chain_hash.data = (uint8_t *)head->chain_hash;
		end.head_chain_hash.len = head->chain_hash_len;
	}
	end.entries = w->entries;
	end.checkpoints = w->checkpoints;
	end.policies = w->policies;
	item.item_case = GOVBUS__V1__ARCHIVE_ITEM__ITEM_END;
	item.end = &end;
	return put_item(w, &item);
}

/* ------------------------------------------------------------ reading */

int gb_archive_reader_new(int fd, gb_archive_reader **r)
{
	gb_archive_reader *a = calloc(1, sizeof *a);

	*r = NULL;
	if (!a || gb_reader_new(fd, GB_FORMAT_DELIMITED, GB_ARCHIVE_ITEM_MAX,
				&a->in) != 0) {
		free(a);
		return GB_ENOMEM;
	}
	*r = a;
	return 0;
}

void gb_archive_reader_destroy(gb_archive_reader **r)
{
	if (!r || !*r)
		return;
	gb_reader_destroy(&(*r)->in);
	free(*r);
	*r = NULL;
}

int gb_archive_next(gb_archive_reader *r, Govbus__V1__ArchiveItem **item,
		    char *why, size_t why_len)
{
	const uint8_t *buf;
	size_t len;
	char inner[256];
	int rc;

	*item = NULL;
	rc = gb_reader_next(r->in, &buf, &len, inner, sizeof inner);
	if (rc <= 0) {
		if (rc < 0)
			snprintf(why, why_len, "archive: %s", inner);
		return rc;
	}
	*item = govbus__v1__archive_item__unpack(NULL, len, buf);
	if (!*item || (*item)->item_case == GOVBUS__V1__ARCHIVE_ITEM__ITEM__NOT_SET) {
		if (*item)
			govbus__v1__archive_item__free_unpacked(*item, NULL);
		*item = NULL;
		snprintf(why, why_len,
			 "archive: item %" PRIu64 " is not a govbus.v1.ArchiveItem",
			 gb_reader_records(r->in));
		return GB_EDECODE;
	}
	return 1;
}

uint64_t gb_archive_items(const gb_archive_reader *r)
{
	return gb_reader_records(r->in);
}
