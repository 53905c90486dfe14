/* Signed batch envelope; see gb_envelope.h.
 *
 * Trust: gb_envelope_parse and gb_envelope_open take bytes from the network
 * or the data directory. Nothing is believed until its size, fields,
 * signature, commitment and tag have been checked, in that order. */
#include "gb_envelope.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_codec.h"
#include "gb_error.h"

static const char pae_domain[] = "govbus/v1/batch";
static const char commit_domain[] = "govbus/v1/key-commitment";
static const char tag_domain[] = "govbus/v1/record-id";

struct gb_envelope {
	Govbus__V1__SignedBatch *sb;
	Govbus__V1__BatchHeader *hdr;
};

static void put_u64le(uint8_t out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

void gb_pae_digest(const char *domain, const uint8_t *const *parts,
		   const size_t *lens, size_t n, uint8_t out[GB_PAE_DIGEST_BYTES])
{
	crypto_generichash_state st;
	uint8_t le[8];

	crypto_generichash_init(&st, NULL, 0, GB_PAE_DIGEST_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain));
	for (size_t i = 0; i < n; i++) {
		put_u64le(le, lens[i]);
		crypto_generichash_update(&st, le, sizeof le);
		crypto_generichash_update(&st, parts[i], lens[i]);
	}
	crypto_generichash_final(&st, out, GB_PAE_DIGEST_BYTES);
}

void gb_record_tag_begin(crypto_generichash_state *base,
			 const uint8_t key[GB_DEDUPE_KEY_BYTES],
			 const char *dataset)
{
	uint8_t le[8];
	size_t len = strlen(dataset);

	crypto_generichash_init(base, key, GB_DEDUPE_KEY_BYTES,
				GB_RECORD_TAG_BYTES);
	crypto_generichash_update(base, (const uint8_t *)tag_domain,
				  sizeof tag_domain - 1);
	put_u64le(le, len);
	crypto_generichash_update(base, le, sizeof le);
	crypto_generichash_update(base, (const uint8_t *)dataset, len);
}

void gb_record_tag(const crypto_generichash_state *base, const char *id,
		   size_t id_len, uint8_t out[GB_RECORD_TAG_BYTES])
{
	crypto_generichash_state st = *base;
	uint8_t le[8];

	put_u64le(le, id_len);
	crypto_generichash_update(&st, le, sizeof le);
	crypto_generichash_update(&st, (const uint8_t *)id, id_len);
	crypto_generichash_final(&st, out, GB_RECORD_TAG_BYTES);
	if (sodium_is_zero(out, GB_RECORD_TAG_BYTES))
		out[GB_RECORD_TAG_BYTES - 1] = 1; /* all zero means "no id" */
	sodium_memzero(&st, sizeof st);
}

/* The batch signature's message: PAE of header and ciphertext. */
static void pae_digest(const uint8_t *hdr, size_t hdr_len, const uint8_t *ct,
		       size_t ct_len, uint8_t out[GB_PAE_DIGEST_BYTES])
{
	const uint8_t *parts[2] = {hdr, ct};
	size_t lens[2] = {hdr_len, ct_len};
	gb_pae_digest(pae_domain, parts, lens, 2, out);
}

void gb_envelope_key_commitment(const uint8_t *dataset_key,
				uint8_t out[GB_COMMITMENT_BYTES])
{
	crypto_generichash(out, GB_COMMITMENT_BYTES,
			   (const uint8_t *)commit_domain,
			   sizeof commit_domain - 1, dataset_key,
			   GB_DATASET_KEY_BYTES);
}

int gb_envelope_build(const gb_batch_meta *meta, const uint8_t *records,
		      size_t records_len, const uint8_t *dataset_key,
		      const uint8_t *sign_sk, uint8_t **out, size_t *out_len)
{
	Govbus__V1__BatchHeader hdr = GOVBUS__V1__BATCH_HEADER__INIT;
	Govbus__V1__SignedBatch sb = GOVBUS__V1__SIGNED_BATCH__INIT;
	uint8_t nonce[GB_NONCE_BYTES], commitment[GB_COMMITMENT_BYTES];
	uint8_t digest[GB_PAE_DIGEST_BYTES];
	uint8_t sig[crypto_sign_BYTES];
	uint8_t *hdr_buf = NULL, *ct = NULL, *buf = NULL;
	size_t hdr_len, ct_len = 0, len;
	int rc = GB_ENOMEM;

	*out = NULL;
	if ((meta->key_epoch == 0) != (dataset_key == NULL) ||
	    meta->record_count == 0 ||
	    meta->record_count > GB_MAX_BATCH_RECORDS)
		return GB_EINVAL;

	hdr.producer = (char *)meta->producer;
	hdr.dataset = (char *)meta->dataset;
	hdr.producer_seq = meta->producer_seq;
	hdr.created_at_ns = meta->created_at_ns;
	hdr.key_epoch = meta->key_epoch;
	hdr.record_count = meta->record_count;
	if (meta->record_tags) {
		hdr.record_tags.data = (uint8_t *)meta->record_tags;
		hdr.record_tags.len = (size_t)meta->record_count *
				      GB_RECORD_TAG_BYTES;
	}
	if (dataset_key) {
		randombytes_buf(nonce, sizeof nonce);
		gb_envelope_key_commitment(dataset_key, commitment);
		hdr.nonce.data = nonce;
		hdr.nonce.len = sizeof nonce;
		hdr.key_commitment.data = commitment;
		hdr.key_commitment.len = sizeof commitment;
	}
	hdr_len = govbus__v1__batch_header__get_packed_size(&hdr);
	hdr_buf = malloc(hdr_len);
	if (!hdr_buf)
		goto out;
	govbus__v1__batch_header__pack(&hdr, hdr_buf);

	if (dataset_key) {
		unsigned long long clen = 0;
		ct = malloc(records_len + crypto_aead_xchacha20poly1305_ietf_ABYTES);
		if (!ct)
			goto out;
		crypto_aead_xchacha20poly1305_ietf_encrypt(
			ct, &clen, records, records_len, hdr_buf, hdr_len, NULL,
			nonce, dataset_key);
		ct_len = (size_t)clen;
		sb.ciphertext.data = ct;
	} else {
		sb.ciphertext.data = (uint8_t *)records;
		ct_len = records_len;
	}
	sb.ciphertext.len = ct_len;

	pae_digest(hdr_buf, hdr_len, sb.ciphertext.data, ct_len, digest);
	crypto_sign_detached(sig, NULL, digest, sizeof digest, sign_sk);
	sb.header.data = hdr_buf;
	sb.header.len = hdr_len;
	sb.signature.data = sig;
	sb.signature.len = sizeof sig;

	len = govbus__v1__signed_batch__get_packed_size(&sb);
	if (len > GB_MAX_BATCH_BYTES) {
		rc = GB_ETOOBIG;
		goto out;
	}
	buf = malloc(len);
	if (!buf)
		goto out;
	*out_len = govbus__v1__signed_batch__pack(&sb, buf);
	*out = buf;
	rc = 0;
out:
	free(hdr_buf);
	free(ct);
	return rc;
}

static int validate_header(const Govbus__V1__BatchHeader *h, char *why,
			   size_t why_len)
{
	if (!gb_id_valid(h->producer))
		return gb_why(why, why_len, GB_EINVAL,
			    "header.producer: not a valid department id");
	if (!gb_id_valid(h->dataset))
		return gb_why(why, why_len, GB_EINVAL,
			    "header.dataset: not a valid dataset id");
	if (h->producer_seq == 0)
		return gb_why(why, why_len, GB_EINVAL,
			    "header.producer_seq: must be at least 1");
	if (h->record_count == 0)
		return gb_why(why, why_len, GB_EINVAL,
			    "header.record_count: zero records");
	if (h->record_count > GB_MAX_BATCH_RECORDS)
		return gb_why(why, why_len, GB_ETOOBIG,
			    "header.record_count: %u, limit %u",
			    h->record_count, GB_MAX_BATCH_RECORDS);
	if (h->record_tags.len &&
	    h->record_tags.len != (size_t)h->record_count * GB_RECORD_TAG_BYTES)
		return gb_why(why, why_len, GB_EINVAL,
			    "header.record_tags: %zu bytes, expected none or "
			    "%d per record (%zu)",
			    h->record_tags.len, GB_RECORD_TAG_BYTES,
			    (size_t)h->record_count * GB_RECORD_TAG_BYTES);
	if (h->key_epoch == 0) {
		if (h->nonce.len || h->key_commitment.len)
			return gb_why(why, why_len, GB_EINVAL,
				    "header.nonce: set in clear epoch 0");
	} else {
		if (h->nonce.len != GB_NONCE_BYTES)
			return gb_why(why, why_len, GB_EINVAL,
				    "header.nonce: %zu bytes, expected %d",
				    h->nonce.len, GB_NONCE_BYTES);
		if (h->key_commitment.len != GB_COMMITMENT_BYTES)
			return gb_why(why, why_len, GB_EINVAL,
				    "header.key_commitment: %zu bytes, "
				    "expected %d",
				    h->key_commitment.len, GB_COMMITMENT_BYTES);
	}
	return 0;
}

int gb_envelope_parse(const uint8_t *buf, size_t len, gb_envelope **out,
		      char *why, size_t why_len)
{
	gb_envelope *e;
	int rc;

	*out = NULL;
	if (len == 0)
		return gb_why(why, why_len, GB_EINVAL, "signed batch: empty");
	if (len > GB_MAX_BATCH_BYTES)
		return gb_why(why, why_len, GB_ETOOBIG,
			    "signed batch: %zu bytes, limit %u", len,
			    GB_MAX_BATCH_BYTES);
	e = calloc(1, sizeof *e);
	if (!e)
		return GB_ENOMEM;
	e->sb = govbus__v1__signed_batch__unpack(NULL, len, buf);
	if (!e->sb) {
		rc = gb_why(why, why_len, GB_EDECODE,
			  "signed batch: not a govbus.v1.SignedBatch");
		goto err;
	}
	if (e->sb->signature.len != crypto_sign_BYTES) {
		rc = gb_why(why, why_len, GB_ESIG,
			  "signed batch.signature: %zu bytes, expected %d",
			  e->sb->signature.len, crypto_sign_BYTES);
		goto err;
	}
	if (e->sb->ciphertext.len == 0) {
		rc = gb_why(why, why_len, GB_EINVAL,
			  "signed batch.ciphertext: empty");
		goto err;
	}
	e->hdr = govbus__v1__batch_header__unpack(NULL, e->sb->header.len,
						  e->sb->header.data);
	if (!e->hdr) {
		rc = gb_why(why, why_len, GB_EDECODE,
			  "signed batch.header: not a govbus.v1.BatchHeader");
		goto err;
	}
	rc = validate_header(e->hdr, why, why_len);
	if (rc != 0)
		goto err;
	*out = e;
	return 0;
err:
	gb_envelope_destroy(&e);
	return rc;
}

void gb_envelope_destroy(gb_envelope **e)
{
	if (!e || !*e)
		return;
	if ((*e)->hdr)
		govbus__v1__batch_header__free_unpacked((*e)->hdr, NULL);
	if ((*e)->sb)
		govbus__v1__signed_batch__free_unpacked((*e)->sb, NULL);
	free(*e);
	*e = NULL;
}

const Govbus__V1__BatchHeader *gb_envelope_header(const gb_envelope *e)
{
	return e->hdr;
}

int gb_envelope_verify(const gb_envelope *e, const uint8_t *sign_pk)
{
	uint8_t digest[GB_PAE_DIGEST_BYTES];

	pae_digest(e->sb->header.data, e->sb->header.len,
		   e->sb->ciphertext.data, e->sb->ciphertext.len, digest);
	if (crypto_sign_verify_detached(e->sb->signature.data, digest,
					sizeof digest, sign_pk) != 0)
		return GB_ESIG;
	return 0;
}

int gb_envelope_open(const gb_envelope *e, const uint8_t *dataset_key,
		     Govbus__V1__RecordList **out, char *why, size_t why_len)
{
	const Govbus__V1__BatchHeader *h = e->hdr;
	const uint8_t *plain = e->sb->ciphertext.data;
	size_t plain_len = e->sb->ciphertext.len;
	uint8_t *buf = NULL;
	Govbus__V1__RecordList *list;
	int rc;

	*out = NULL;
	if (h->key_epoch != 0) {
		uint8_t commitment[GB_COMMITMENT_BYTES];
		unsigned long long mlen = 0;

		if (!dataset_key)
			return gb_why(why, why_len, GB_ECRYPTO,
				    "no key for epoch %u", h->key_epoch);
		gb_envelope_key_commitment(dataset_key, commitment);
		if (sodium_memcmp(commitment, h->key_commitment.data,
				  GB_COMMITMENT_BYTES) != 0)
			return gb_why(why, why_len, GB_ECRYPTO,
				    "key commitment does not match the key "
				    "of epoch %u",
				    h->key_epoch);
		if (plain_len < crypto_aead_xchacha20poly1305_ietf_ABYTES)
			return gb_why(why, why_len, GB_ECRYPTO,
				    "ciphertext shorter than its tag");
		buf = malloc(plain_len);
		if (!buf)
			return GB_ENOMEM;
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(
			    buf, &mlen, NULL, plain, plain_len,
			    e->sb->header.data, e->sb->header.len,
			    h->nonce.data, dataset_key) != 0) {
			free(buf);
			return gb_why(why, why_len, GB_ECRYPTO,
				    "ciphertext fails authentication "
				    "(tampered or wrong key)");
		}
		plain = buf;
		plain_len = (size_t)mlen;
	}
	list = govbus__v1__record_list__unpack(NULL, plain_len, plain);
	if (buf) {
		sodium_memzero(buf, plain_len);
		free(buf);
	}
	if (!list)
		return gb_why(why, why_len, GB_EDECODE,
			    "records do not decode as a govbus.v1.RecordList");
	if (list->n_records != h->record_count) {
		rc = gb_why(why, why_len, GB_ECRYPTO,
			  "record_count mismatch: header says %u, batch "
			  "holds %zu",
			  h->record_count, list->n_records);
		govbus__v1__record_list__free_unpacked(list, NULL);
		return rc;
	}
	*out = list;
	return 0;
}

int gb_envelope_append_record(uint8_t **buf, size_t *len, size_t *cap,
			      const uint8_t *payload, size_t payload_len,
			      uint64_t produced_at_ns, const char *id)
{
	Govbus__V1__Record rec = GOVBUS__V1__RECORD__INIT;
	Govbus__V1__RecordList one = GOVBUS__V1__RECORD_LIST__INIT;
	Govbus__V1__Record *recs[1] = {&rec};
	size_t need;

	rec.payload.data = (uint8_t *)payload;
	rec.payload.len = payload_len;
	rec.produced_at_ns = produced_at_ns;
	rec.id = (char *)(id ? id : "");
	/* A one-element RecordList serializes as exactly one list element
	 * (tag, length, record), and concatenated lists merge, so protobuf-c
	 * writes the framing and no varint code lives here. */
	one.n_records = 1;
	one.records = recs;
	need = *len + govbus__v1__record_list__get_packed_size(&one);
	if (need > *cap) {
		size_t ncap = *cap ? *cap : 4096;
		uint8_t *p;
		while (ncap < need)
			ncap *= 2;
		p = realloc(*buf, ncap);
		if (!p)
			return GB_ENOMEM;
		*buf = p;
		*cap = ncap;
	}
	*len += govbus__v1__record_list__pack(&one, *buf + *len);
	return 0;
}
