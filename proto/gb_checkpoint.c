/* Signed checkpoints; see gb_checkpoint.h.
 *
 * Trust: a checkpoint being verified comes from a data file, an archive or
 * the network. Its size is bounded before protobuf-c unpacks it, each field
 * is validated, and the signature is checked over the exact bytes carried,
 * so no canonical encoding is needed. */
#include "gb_checkpoint.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_envelope.h"
#include "gb_error.h"

static const char checkpoint_domain[] = "govbus/v1/checkpoint";

static void checkpoint_digest(const uint8_t *bytes, size_t len,
			      uint8_t out[GB_PAE_DIGEST_BYTES])
{
	const uint8_t *parts[1] = {bytes};
	size_t lens[1] = {len};

	gb_pae_digest(checkpoint_domain, parts, lens, 1, out);
}

int gb_checkpoint_sign(const gb_checkpoint *cp, const uint8_t *sign_sk,
		       uint8_t **out, size_t *out_len)
{
	Govbus__V1__Checkpoint c = GOVBUS__V1__CHECKPOINT__INIT;
	Govbus__V1__SignedCheckpoint sc = GOVBUS__V1__SIGNED_CHECKPOINT__INIT;
	uint8_t digest[GB_PAE_DIGEST_BYTES], sig[crypto_sign_BYTES];
	uint8_t *cbuf = NULL, *buf = NULL;
	size_t clen, len;

	*out = NULL;
	if (!gb_stream_name_valid(cp->dataset) ||
	    cp->batch_count > cp->next_offset ||
	    (cp->batch_count == 0) != (cp->next_offset == 0))
		return GB_EINVAL;
	c.dataset = (char *)cp->dataset;
	c.next_offset = cp->next_offset;
	c.chain_hash.data = (uint8_t *)cp->chain_hash;
	c.chain_hash.len = GB_HASH_BYTES;
	c.broker_time_ns = cp->broker_time_ns;
	c.batch_count = cp->batch_count;
	clen = govbus__v1__checkpoint__get_packed_size(&c);
	cbuf = malloc(clen);
	if (!cbuf)
		return GB_ENOMEM;
	govbus__v1__checkpoint__pack(&c, cbuf);
	checkpoint_digest(cbuf, clen, digest);
	crypto_sign_detached(sig, NULL, digest, sizeof digest, sign_sk);
	sc.checkpoint.data = cbuf;
	sc.checkpoint.len = clen;
	sc.signature.data = sig;
	sc.signature.len = sizeof sig;
	len = govbus__v1__signed_checkpoint__get_packed_size(&sc);
	buf = malloc(len);
	if (buf)
		*out_len = govbus__v1__signed_checkpoint__pack(&sc, buf);
	free(cbuf);
	*out = buf;
	return buf ? 0 : GB_ENOMEM;
}

int gb_checkpoint_verify(const uint8_t *buf, size_t len,
			 const uint8_t *sign_pk, gb_checkpoint *cp, char *why,
			 size_t why_len)
{
	Govbus__V1__SignedCheckpoint *sc = NULL;
	Govbus__V1__Checkpoint *c = NULL;
	uint8_t digest[GB_PAE_DIGEST_BYTES];
	int rc = 0;

	memset(cp, 0, sizeof *cp);
	if (len > GB_MAX_CHECKPOINT_BYTES)
		return gb_why(why, why_len, GB_ETOOBIG,
			    "checkpoint: %zu bytes, limit %u", len,
			    GB_MAX_CHECKPOINT_BYTES);
	sc = govbus__v1__signed_checkpoint__unpack(NULL, len, buf);
	if (!sc)
		return gb_why(why, why_len, GB_EDECODE,
			    "checkpoint: not a govbus.v1.SignedCheckpoint");
	if (sc->signature.len != crypto_sign_BYTES) {
		rc = gb_why(why, why_len, GB_ESIG,
			  "checkpoint: unsigned or malformed signature");
		goto out;
	}
	c = govbus__v1__checkpoint__unpack(NULL, sc->checkpoint.len,
					   sc->checkpoint.data);
	if (!c) {
		rc = gb_why(why, why_len, GB_EDECODE,
			  "checkpoint: body is not a govbus.v1.Checkpoint");
		goto out;
	}
	if (!gb_stream_name_valid(c->dataset) ||
	    c->chain_hash.len != GB_HASH_BYTES ||
	    c->batch_count > c->next_offset ||
	    (c->batch_count == 0) != (c->next_offset == 0)) {
		rc = gb_why(why, why_len, GB_EINVAL,
			  "checkpoint: malformed fields (stream, hash size or "
			  "counts)");
		goto out;
	}
	snprintf(cp->dataset, sizeof cp->dataset, "%s", c->dataset);
	cp->next_offset = c->next_offset;
	memcpy(cp->chain_hash, c->chain_hash.data, GB_HASH_BYTES);
	cp->broker_time_ns = c->broker_time_ns;
	cp->batch_count = c->batch_count;
	if (!sign_pk)
		goto out;
	checkpoint_digest(sc->checkpoint.data, sc->checkpoint.len, digest);
	if (crypto_sign_verify_detached(sc->signature.data, digest,
					sizeof digest, sign_pk) != 0)
		rc = gb_why(why, why_len, GB_ESIG,
			  "checkpoint of %s at offset %llu is not signed by the "
			  "broker key",
			  cp->dataset, (unsigned long long)cp->next_offset);
out:
	if (c)
		govbus__v1__checkpoint__free_unpacked(c, NULL);
	govbus__v1__signed_checkpoint__free_unpacked(sc, NULL);
	return rc;
}
