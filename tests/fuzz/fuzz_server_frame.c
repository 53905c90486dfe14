/* Fuzz target: gb_codec_server_decode, what an agent does with every frame
 * a (possibly compromised) broker sends. Accepted frames must survive a
 * round trip; a Deliver's batch goes on to gb_envelope_parse as the
 * subscriber would. */
#include <stdlib.h>

#include "fuzz.h"
#include "gb_codec.h"
#include "gb_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gb_server_frame *f = NULL, *again = NULL;
	gb_envelope *env = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	char why[256];

	if (gb_codec_server_decode(data, size, &f, why, sizeof why) != 0)
		return 0;
	fuzz_strip_unknown(&f->base);
	if (gb_codec_server_encode(f, &buf, &len) != 0)
		abort();
	if (gb_codec_server_decode(buf, len, &again, why, sizeof why) != 0)
		abort();
	if (f->body_case == GOVBUS__V1__SERVER_FRAME__BODY_DELIVER &&
	    gb_envelope_parse(f->deliver->signed_batch.data,
			      f->deliver->signed_batch.len, &env, why,
			      sizeof why) == 0 &&
	    !gb_envelope_header(env))
		abort();
	gb_envelope_destroy(&env);
	gb_codec_server_free(&again);
	gb_codec_server_free(&f);
	free(buf);
	return 0;
}
