/* Fuzz target: gb_codec_client_decode, the first thing the broker does with
 * every frame from the network. A frame the codec accepts must re-encode to
 * one it accepts again, and a publish's batch goes on to gb_envelope_parse
 * as the broker would send it. */
#include <stdlib.h>

#include "fuzz.h"
#include "gb_codec.h"
#include "gb_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gb_client_frame *f = NULL, *again = NULL;
	gb_envelope *env = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	char why[256];

	if (gb_codec_client_decode(data, size, &f, why, sizeof why) != 0)
		return 0;
	fuzz_strip_unknown(&f->base);
	if (gb_codec_client_encode(f, &buf, &len) != 0)
		abort();
	if (gb_codec_client_decode(buf, len, &again, why, sizeof why) != 0)
		abort(); /* accepted once, refused after a round trip */
	if (f->body_case == GOVBUS__V1__CLIENT_FRAME__BODY_PUBLISH &&
	    gb_envelope_parse(f->publish->signed_batch.data,
			      f->publish->signed_batch.len, &env, why,
			      sizeof why) == 0 &&
	    !gb_envelope_header(env))
		abort();
	gb_envelope_destroy(&env);
	gb_codec_client_free(&again);
	gb_codec_client_free(&f);
	free(buf);
	return 0;
}
