/* gb_probe internals shared by gb_probe.c (connection, well-formed
 * publishes) and gb_probe_cases.c (crafted bad input). */
#ifndef GB_PROBE_H
#define GB_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "gb_codec.h"
#include "gb_keys.h"

struct probe {
	void *ctx, *sock;
	int timeout_ms;
};

/* Encode and send one frame. */
int probe_send(struct probe *p, const gb_client_frame *f);

/* Wait up to p->timeout_ms for one server frame; NULL on timeout. */
gb_server_frame *probe_recv(struct probe *p);

/* The key and epoch a publish of `dataset` by `dept` should be sealed
 * under, obtained as the owner's agent would (a random key under epoch 1
 * when `dept` cannot get the real one). */
void probe_dataset_key(struct probe *p, gb_identity *id, const char *dept,
		       const char *dataset, uint8_t key[32], uint32_t *epoch);

/* What `gb_probe ... craft CASE` was given. */
struct craft_args {
	const char *name;             /* the case */
	const char *dept;             /* our department (the connection's) */
	const char *dataset;          /* default tax.invoices */
	uint64_t seq;                 /* producer_seq for publish cases */
	gb_identity *id;              /* our keys */
	gb_identity *signer;          /* --signer-key: another department's */
};

/* Send the crafted input of case a->name, print every answer up to the
 * answer to a Ping sent after it ("pong"), or "silent" when the Pong is
 * the only answer, or "dropped" when nothing came back. Returns 0 when the
 * case ran (whatever the broker said), 2 for an unknown case. */
int probe_craft(struct probe *p, const struct craft_args *a);

/* Print the list of cases. */
void probe_craft_list(void);

#endif
