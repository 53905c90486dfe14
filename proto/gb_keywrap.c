/* Key wraps; see gb_keywrap.h.
 *
 * Trust: a wrap arriving from the broker (or the network, for the broker) is
 * untrusted: bounded, decoded, field-checked, signature-verified, and only
 * then opened. The opened key lives in the caller's secure memory and is
 * checked against the signed commitment before anyone uses it. */
#include "gb_keywrap.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_error.h"
#include "govbus.pb-c.h"

static const char wrap_domain[] = "govbus/v1/wrap";

static void wrap_digest(const uint8_t *wrap, size_t len,
			uint8_t out[GB_PAE_DIGEST_BYTES])
{
	const uint8_t *parts[1] = {wrap};
	size_t lens[1] = {len};
	gb_pae_digest(wrap_domain, parts, lens, 1, out);
}

int gb_keywrap_build(const char *dataset, uint32_t epoch, const char *owner,
		     const char *recipient, const uint8_t *recipient_box_pk,
		     const uint8_t *dataset_key, const uint8_t *owner_sign_sk,
		     uint64_t now_ns, uint8_t **out, size_t *out_len)
{
	Govbus__V1__KeyWrap w = GOVBUS__V1__KEY_WRAP__INIT;
	Govbus__V1__SignedWrap sw = GOVBUS__V1__SIGNED_WRAP__INIT;
	uint8_t sealed[crypto_box_SEALBYTES + GB_DATASET_KEY_BYTES];
	uint8_t commitment[GB_COMMITMENT_BYTES];
	uint8_t digest[GB_PAE_DIGEST_BYTES], sig[crypto_sign_BYTES];
	uint8_t *wbuf = NULL, *buf = NULL;
	size_t wlen, len;

	*out = NULL;
	if (epoch == 0 || !gb_id_valid(dataset) || !gb_id_valid(owner) ||
	    !gb_id_valid(recipient))
		return GB_EINVAL;
	if (crypto_box_seal(sealed, dataset_key, GB_DATASET_KEY_BYTES,
			    recipient_box_pk) != 0)
		return GB_EINVAL;
	gb_envelope_key_commitment(dataset_key, commitment);
	w.dataset = (char *)dataset;
	w.epoch = epoch;
	w.owner = (char *)owner;
	w.recipient = (char *)recipient;
	w.sealed_key.data = sealed;
	w.sealed_key.len = sizeof sealed;
	w.key_commitment.data = commitment;
	w.key_commitment.len = sizeof commitment;
	w.created_at_ns = now_ns;
	wlen = govbus__v1__key_wrap__get_packed_size(&w);
	wbuf = malloc(wlen);
	if (!wbuf)
		return GB_ENOMEM;
	govbus__v1__key_wrap__pack(&w, wbuf);
	wrap_digest(wbuf, wlen, digest);
	crypto_sign_detached(sig, NULL, digest, sizeof digest, owner_sign_sk);
	sw.wrap.data = wbuf;
	sw.wrap.len = wlen;
	sw.signature.data = sig;
	sw.signature.len = sizeof sig;
	len = govbus__v1__signed_wrap__get_packed_size(&sw);
	buf = malloc(len);
	if (!buf) {
		free(wbuf);
		return GB_ENOMEM;
	}
	*out_len = govbus__v1__signed_wrap__pack(&sw, buf);
	*out = buf;
	free(wbuf);
	return 0;
}

int gb_keywrap_verify(const uint8_t *buf, size_t len,
		      const uint8_t *owner_sign_pk, gb_keywrap_info *info,
		      char *why, size_t why_len)
{
	Govbus__V1__SignedWrap *sw = NULL;
	Govbus__V1__KeyWrap *w = NULL;
	uint8_t digest[GB_PAE_DIGEST_BYTES];
	int rc;

	memset(info, 0, sizeof *info);
	if (len == 0 || len > GB_MAX_WRAP_BYTES)
		return gb_why(why, why_len, GB_EINVAL,
			    "key wrap: %zu bytes, expected 1..%d", len,
			    GB_MAX_WRAP_BYTES);
	sw = govbus__v1__signed_wrap__unpack(NULL, len, buf);
	if (!sw)
		return gb_why(why, why_len, GB_EDECODE,
			    "key wrap: not a govbus.v1.SignedWrap");
	if (sw->signature.len != crypto_sign_BYTES) {
		rc = gb_why(why, why_len, GB_ESIG,
			  "key wrap: unsigned or malformed signature");
		goto out;
	}
	w = govbus__v1__key_wrap__unpack(NULL, sw->wrap.len, sw->wrap.data);
	if (!w) {
		rc = gb_why(why, why_len, GB_EDECODE,
			  "key wrap: body is not a govbus.v1.KeyWrap");
		goto out;
	}
	if (!gb_id_valid(w->dataset) || !gb_id_valid(w->owner) ||
	    !gb_id_valid(w->recipient) || w->epoch == 0 ||
	    w->sealed_key.len != crypto_box_SEALBYTES + GB_DATASET_KEY_BYTES ||
	    w->key_commitment.len != GB_COMMITMENT_BYTES) {
		rc = gb_why(why, why_len, GB_EINVAL,
			  "key wrap: malformed fields");
		goto out;
	}
	wrap_digest(sw->wrap.data, sw->wrap.len, digest);
	if (crypto_sign_verify_detached(sw->signature.data, digest,
					sizeof digest, owner_sign_pk) != 0) {
		rc = gb_why(why, why_len, GB_ESIG,
			  "key wrap of %s epoch %u is not signed by its owner "
			  "%s",
			  w->dataset, w->epoch, w->owner);
		goto out;
	}
	snprintf(info->dataset, sizeof info->dataset, "%s", w->dataset);
	snprintf(info->owner, sizeof info->owner, "%s", w->owner);
	snprintf(info->recipient, sizeof info->recipient, "%s", w->recipient);
	info->epoch = w->epoch;
	info->created_at_ns = w->created_at_ns;
	memcpy(info->commitment, w->key_commitment.data, GB_COMMITMENT_BYTES);
	rc = 0;
out:
	if (w)
		govbus__v1__key_wrap__free_unpacked(w, NULL);
	govbus__v1__signed_wrap__free_unpacked(sw, NULL);
	return rc;
}

int gb_keywrap_open(const uint8_t *buf, size_t len, const char *dataset,
		    uint32_t epoch, const char *recipient,
		    const uint8_t *owner_sign_pk, const uint8_t *box_pk,
		    const uint8_t *box_sk, uint8_t *key_out,
		    gb_keywrap_info *info, char *why, size_t why_len)
{
	Govbus__V1__SignedWrap *sw = NULL;
	Govbus__V1__KeyWrap *w = NULL;
	uint8_t commitment[GB_COMMITMENT_BYTES];
	int rc = gb_keywrap_verify(buf, len, owner_sign_pk, info, why, why_len);

	if (rc != 0)
		return rc;
	if (strcmp(info->dataset, dataset) != 0 || info->epoch != epoch ||
	    strcmp(info->recipient, recipient) != 0)
		return gb_why(why, why_len, GB_ECRYPTO,
			    "key wrap is for %s epoch %u to %s, expected %s "
			    "epoch %u to %s",
			    info->dataset, info->epoch, info->recipient,
			    dataset, epoch, recipient);
	/* Verified above; decode again to reach the sealed bytes. */
	sw = govbus__v1__signed_wrap__unpack(NULL, len, buf);
	w = sw ? govbus__v1__key_wrap__unpack(NULL, sw->wrap.len, sw->wrap.data)
	       : NULL;
	if (!w) {
		rc = GB_ENOMEM;
		goto out;
	}
	if (crypto_box_seal_open(key_out, w->sealed_key.data,
				 w->sealed_key.len, box_pk, box_sk) != 0) {
		rc = gb_why(why, why_len, GB_ECRYPTO,
			  "key wrap of %s epoch %u does not open with %s's key",
			  dataset, epoch, recipient);
		goto out;
	}
	gb_envelope_key_commitment(key_out, commitment);
	if (sodium_memcmp(commitment, info->commitment, GB_COMMITMENT_BYTES) != 0) {
		sodium_memzero(key_out, GB_DATASET_KEY_BYTES);
		rc = gb_why(why, why_len, GB_ECRYPTO,
			  "key wrap of %s epoch %u holds a key that does not "
			  "match its commitment",
			  dataset, epoch);
		goto out;
	}
	rc = 0;
out:
	if (w)
		govbus__v1__key_wrap__free_unpacked(w, NULL);
	if (sw)
		govbus__v1__signed_wrap__free_unpacked(sw, NULL);
	return rc;
}
