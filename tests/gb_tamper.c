/* gb_tamper: alter a broker's LMDB data file the way someone with disk
 * access would, so tests can check that verification catches it.
 *
 *   gb_tamper --data-dir DIR list             --dataset D
 *   gb_tamper --data-dir DIR flip             --dataset D --offset X [--at N]
 *   gb_tamper --data-dir DIR delete           --dataset D --offset X
 *   gb_tamper --data-dir DIR swap             --dataset D --offset X --with Y
 *   gb_tamper --data-dir DIR truncate         --dataset D --batches K
 *   gb_tamper --data-dir DIR alter-event      --offset X [--rechain]
 *   gb_tamper --data-dir DIR forge-checkpoint --dataset D [--offset N]
 *
 * flip         XOR one byte of the signed batch stored at X (byte N of it;
 *              default its middle).
 * delete       remove the entry at X.
 * swap         exchange the stored values of the entries at X and Y.
 * truncate     remove the last K entries and rewind the stream head (and
 *              the producer sequences) to match, hiding the cut.
 * alter-event  rewrite the audit-trail event at X as if department
 *              "nobody" had acted; with --rechain also recompute every
 *              later stored chain hash and the head, as a careful forger
 *              would, so only the broker's signed checkpoints give it away.
 * forge-checkpoint  replace the checkpoint at N (default the last) by one
 *              with the same content signed by a fresh key.
 *
 * It opens the environment with LMDB itself and knows the layout
 * documented in broker/store/gb_store.h; it is a test tool, it trusts its
 * input and stops at the first thing it cannot find. Prints one line
 * saying what it changed; exits 0 when it did, 1 when it could not, 2 on
 * usage. */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_chain.h"
#include "gb_checkpoint.h"
#include "gb_codec.h"
#include "govbus.pb-c.h"

#define STORED_HEADER 52           /* time, base, count, chain hash */
#define STREAM_VALUE 60            /* id, next, batches, time, head */
#define LOG_KEY 12

static const char usage[] =
	"usage: gb_tamper --data-dir DIR COMMAND [--dataset D] [--offset X]\n"
	"                 [--with Y] [--at N] [--batches K] [--rechain]\n"
	"commands: list flip delete swap truncate alter-event forge-checkpoint\n";

struct env {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi streams, log, pseq, checkpoints;
};

struct stream {
	uint32_t id;
	uint64_t next, batches, last_time;
	uint8_t head[GB_HASH_BYTES];
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static int die(const char *what, int rc)
{
	fprintf(stderr, "gb_tamper: %s: %s\n", what,
		rc ? mdb_strerror(rc) : "not found");
	return 1;
}

static int env_open(const char *dir, struct env *e)
{
	int rc = mdb_env_create(&e->env);

	if (!rc)
		rc = mdb_env_set_maxdbs(e->env, 16);
	if (!rc)
		rc = mdb_env_open(e->env, dir, 0, 0600);
	if (!rc)
		rc = mdb_txn_begin(e->env, NULL, 0, &e->txn);
	if (!rc)
		rc = mdb_dbi_open(e->txn, "streams", 0, &e->streams);
	if (!rc)
		rc = mdb_dbi_open(e->txn, "log", 0, &e->log);
	if (!rc)
		rc = mdb_dbi_open(e->txn, "pseq", 0, &e->pseq);
	if (!rc)
		rc = mdb_dbi_open(e->txn, "checkpoints", 0, &e->checkpoints);
	return rc;
}

static int stream_get(struct env *e, const char *name, struct stream *st)
{
	MDB_val k = {strlen(name), (void *)name}, v;
	const uint8_t *p;
	int rc = mdb_get(e->txn, e->streams, &k, &v);

	if (rc)
		return rc;
	if (v.mv_size != STREAM_VALUE)
		return MDB_CORRUPTED;
	p = v.mv_data;
	st->id = get_be32(p);
	st->next = get_be64(p + 4);
	st->batches = get_be64(p + 12);
	st->last_time = get_be64(p + 20);
	memcpy(st->head, p + 28, GB_HASH_BYTES);
	return 0;
}

static int stream_put(struct env *e, const char *name, const struct stream *st)
{
	uint8_t val[STREAM_VALUE];
	MDB_val k = {strlen(name), (void *)name}, v = {sizeof val, val};

	put_be32(val, st->id);
	put_be64(val + 4, st->next);
	put_be64(val + 12, st->batches);
	put_be64(val + 20, st->last_time);
	memcpy(val + 28, st->head, GB_HASH_BYTES);
	return mdb_put(e->txn, e->streams, &k, &v, 0);
}

static void log_key(uint8_t k[LOG_KEY], uint32_t id, uint64_t offset)
{
	put_be32(k, id);
	put_be64(k + 4, offset);
}

/* A malloc'd copy of the value at (id, offset). */
static int entry_get(struct env *e, uint32_t id, uint64_t offset,
		     uint8_t **out, size_t *len)
{
	uint8_t kb[LOG_KEY];
	MDB_val k = {sizeof kb, kb}, v;
	int rc;

	log_key(kb, id, offset);
	rc = mdb_get(e->txn, e->log, &k, &v);
	if (rc)
		return rc;
	*out = malloc(v.mv_size);
	if (!*out)
		return ENOMEM;
	memcpy(*out, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return 0;
}

static int entry_put(struct env *e, uint32_t id, uint64_t offset,
		     const uint8_t *val, size_t len)
{
	uint8_t kb[LOG_KEY];
	MDB_val k = {sizeof kb, kb}, v = {len, (void *)val};

	log_key(kb, id, offset);
	return mdb_put(e->txn, e->log, &k, &v, 0);
}

/* The key offsets of every entry of stream `id`, in order. */
static int entry_offsets(struct env *e, uint32_t id, uint64_t **out,
			 size_t *n)
{
	uint8_t kb[LOG_KEY];
	MDB_val k = {sizeof kb, kb}, v;
	MDB_cursor *cur;
	size_t cap = 0;
	int rc = mdb_cursor_open(e->txn, e->log, &cur);

	*out = NULL;
	*n = 0;
	if (rc)
		return rc;
	log_key(kb, id, 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != LOG_KEY || get_be32(k.mv_data) != id)
			break;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*out = realloc(*out, cap * sizeof **out);
			if (!*out)
				return ENOMEM;
		}
		(*out)[(*n)++] = get_be64((const uint8_t *)k.mv_data + 4);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ------------------------------------------------------------ commands */

static int cmd_list(struct env *e, const char *ds, const struct stream *st)
{
	uint64_t *offs;
	size_t n;
	int rc = entry_offsets(e, st->id, &offs, &n);
	MDB_cursor *cur;
	MDB_val k, v;

	if (rc)
		return die("log", rc);
	printf("stream %s id %u next %" PRIu64 " batches %" PRIu64 "\n", ds,
	       st->id, st->next, st->batches);
	for (size_t i = 0; i < n; i++) {
		uint8_t *val;
		size_t len;

		if (entry_get(e, st->id, offs[i], &val, &len) == 0) {
			printf("entry %" PRIu64 " count %u bytes %zu\n", offs[i],
			       len > STORED_HEADER ? get_be32(val + 16) : 0, len);
			free(val);
		}
	}
	free(offs);
	if (mdb_cursor_open(e->txn, e->checkpoints, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			size_t nl = strlen(ds);

			if (k.mv_size == nl + 9 && !memcmp(k.mv_data, ds, nl))
				printf("checkpoint %" PRIu64 "\n",
				       get_be64((const uint8_t *)k.mv_data + nl + 1));
		}
		mdb_cursor_close(cur);
	}
	return 0;
}

static int cmd_flip(struct env *e, const struct stream *st, uint64_t off,
		    long at)
{
	uint8_t *val;
	size_t len, pos;
	int rc = entry_get(e, st->id, off, &val, &len);

	if (rc)
		return die("no entry at that offset", rc);
	if (len <= STORED_HEADER)
		return die("entry too short", 0);
	pos = at >= 0 ? (size_t)at : (len - STORED_HEADER) / 2;
	if (pos >= len - STORED_HEADER)
		return die("--at beyond the batch", 0);
	val[STORED_HEADER + pos] ^= 0x01;
	rc = entry_put(e, st->id, off, val, len);
	free(val);
	if (rc)
		return die("put", rc);
	printf("flipped byte %zu of the batch at offset %" PRIu64 "\n", pos, off);
	return 0;
}

static int cmd_delete(struct env *e, const struct stream *st, uint64_t off)
{
	uint8_t kb[LOG_KEY];
	MDB_val k = {sizeof kb, kb};
	int rc;

	log_key(kb, st->id, off);
	rc = mdb_del(e->txn, e->log, &k, NULL);
	if (rc)
		return die("no entry at that offset", rc);
	printf("deleted the entry at offset %" PRIu64 "\n", off);
	return 0;
}

static int cmd_swap(struct env *e, const struct stream *st, uint64_t a,
		    uint64_t b)
{
	uint8_t *va, *vb;
	size_t la, lb;
	int rc = entry_get(e, st->id, a, &va, &la);

	if (rc)
		return die("no entry at --offset", rc);
	rc = entry_get(e, st->id, b, &vb, &lb);
	if (rc)
		return die("no entry at --with", rc);
	rc = entry_put(e, st->id, a, vb, lb);
	if (!rc)
		rc = entry_put(e, st->id, b, va, la);
	free(va);
	free(vb);
	if (rc)
		return die("put", rc);
	printf("swapped the entries at offsets %" PRIu64 " and %" PRIu64 "\n",
	       a, b);
	return 0;
}

/* Drop producer sequences pointing at or beyond `next` (the forger hides
 * the cut from idempotent retries too). */
static int pseq_trim(struct env *e, const char *ds, uint64_t next)
{
	size_t nl = strlen(ds);
	MDB_cursor *cur;
	MDB_val k = {nl + 1, NULL}, v;
	char prefix[300];
	int rc;

	snprintf(prefix, sizeof prefix, "%s", ds);
	k.mv_data = prefix; /* "ds\0" */
	rc = mdb_cursor_open(e->txn, e->pseq, &cur);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= nl || memcmp(k.mv_data, ds, nl + 1) != 0)
			break;
		if (v.mv_size >= 8 && get_be64(v.mv_data) >= next) {
			rc = mdb_cursor_del(cur, 0);
			if (rc)
				break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int cmd_truncate(struct env *e, const char *ds, struct stream *st,
			uint64_t k_batches)
{
	uint64_t *offs;
	size_t n;
	int rc = entry_offsets(e, st->id, &offs, &n);

	if (rc)
		return die("log", rc);
	if (k_batches == 0 || k_batches > n)
		return die("--batches is more than the log holds", 0);
	for (size_t i = n - k_batches; i < n; i++) {
		uint8_t kb[LOG_KEY];
		MDB_val k = {sizeof kb, kb};

		log_key(kb, st->id, offs[i]);
		rc = mdb_del(e->txn, e->log, &k, NULL);
		if (rc)
			return die("delete", rc);
	}
	memset(st->head, 0, GB_HASH_BYTES);
	st->next = st->batches = st->last_time = 0;
	if (n > k_batches) {
		uint8_t *val;
		size_t len;

		rc = entry_get(e, st->id, offs[n - k_batches - 1], &val, &len);
		if (rc || len <= STORED_HEADER)
			return die("the new last entry", rc);
		st->last_time = get_be64(val);
		st->next = get_be64(val + 8) + get_be32(val + 16);
		memcpy(st->head, val + 20, GB_HASH_BYTES);
		st->batches = n - k_batches;
		free(val);
	}
	rc = stream_put(e, ds, st);
	if (!rc)
		rc = pseq_trim(e, ds, st->next);
	if (rc)
		return die("rewind", rc);
	printf("removed the last %" PRIu64 " entries of %s; the head now says "
	       "%" PRIu64 "\n",
	       k_batches, ds, st->next);
	free(offs);
	return 0;
}

/* Recompute the stored chain hashes of every entry from `off` on, and the
 * head, from the entry before it. */
static int rechain(struct env *e, const char *ds, struct stream *st,
		   uint64_t off)
{
	uint8_t prev[GB_HASH_BYTES] = {0};
	uint64_t *offs;
	size_t n;
	int rc = entry_offsets(e, st->id, &offs, &n);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		uint8_t *val;
		size_t len;

		rc = entry_get(e, st->id, offs[i], &val, &len);
		if (rc)
			break;
		if (offs[i] >= off) {
			gb_chain_next(prev, get_be64(val + 8), get_be64(val),
				      val + STORED_HEADER, len - STORED_HEADER,
				      val + 20);
			rc = entry_put(e, st->id, offs[i], val, len);
		}
		memcpy(prev, val + 20, GB_HASH_BYTES);
		free(val);
		if (rc)
			break;
	}
	free(offs);
	if (rc)
		return rc;
	memcpy(st->head, prev, GB_HASH_BYTES);
	return stream_put(e, ds, st);
}

static int cmd_alter_event(struct env *e, struct stream *st, uint64_t off,
			   bool do_rechain)
{
	Govbus__V1__AuditEvent *ev;
	uint8_t *val, *out;
	char *dept;
	size_t len, n;
	int rc = entry_get(e, st->id, off, &val, &len);

	if (rc)
		return die("no audit event at that offset", rc);
	ev = govbus__v1__audit_event__unpack(NULL, len - STORED_HEADER,
					     val + STORED_HEADER);
	if (!ev)
		return die("the entry is not an AuditEvent", 0);
	dept = ev->dept;
	ev->dept = (char *)"nobody";
	n = govbus__v1__audit_event__get_packed_size(ev);
	out = malloc(STORED_HEADER + n);
	if (!out)
		return die("memory", ENOMEM);
	memcpy(out, val, STORED_HEADER);
	govbus__v1__audit_event__pack(ev, out + STORED_HEADER);
	ev->dept = dept; /* free what was unpacked */
	govbus__v1__audit_event__free_unpacked(ev, NULL);
	rc = entry_put(e, st->id, off, out, STORED_HEADER + n);
	free(val);
	free(out);
	if (!rc && do_rechain)
		rc = rechain(e, GB_AUDIT_STREAM, st, off);
	if (rc)
		return die("put", rc);
	printf("rewrote the audit event at offset %" PRIu64 " as done by "
	       "nobody%s\n",
	       off, do_rechain ? ", and recomputed the chain after it" : "");
	return 0;
}

static int cmd_forge(struct env *e, const char *ds, bool have_off,
		     uint64_t off)
{
	uint8_t key[300], pk[crypto_sign_PUBLICKEYBYTES],
		sk[crypto_sign_SECRETKEYBYTES], *forged;
	size_t nl = strlen(ds), flen;
	MDB_cursor *cur;
	MDB_val k, v, found_k = {0, NULL};
	gb_checkpoint cp;
	char why[256];
	uint8_t *copy = NULL;
	size_t copy_len = 0;
	int rc;

	memcpy(key, ds, nl);
	key[nl] = 0;
	put_be64(key + nl + 1, have_off ? off : 0);
	rc = mdb_cursor_open(e->txn, e->checkpoints, &cur);
	if (rc)
		return die("checkpoints", rc);
	k = (MDB_val){nl + 9, key};
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != nl + 9 || memcmp(k.mv_data, key, nl + 1))
			break;
		free(copy);
		copy = malloc(v.mv_size);
		if (!copy)
			return die("memory", ENOMEM);
		memcpy(copy, v.mv_data, v.mv_size);
		copy_len = v.mv_size;
		found_k = k;
		memcpy(key + nl + 1, (uint8_t *)k.mv_data + nl + 1, 8);
		if (have_off)
			break;
	}
	mdb_cursor_close(cur);
	if (!found_k.mv_data || (have_off && get_be64(key + nl + 1) != off))
		return die("no such checkpoint", 0);
	if (gb_checkpoint_verify(copy, copy_len, NULL, &cp, why, sizeof why))
		return die(why, 0);
	crypto_sign_keypair(pk, sk);
	if (gb_checkpoint_sign(&cp, sk, &forged, &flen))
		return die("sign", 0);
	k = (MDB_val){nl + 9, key};
	v = (MDB_val){flen, forged};
	rc = mdb_put(e->txn, e->checkpoints, &k, &v, 0);
	free(forged);
	free(copy);
	if (rc)
		return die("put", rc);
	printf("replaced the checkpoint of %s at offset %" PRIu64 " with one "
	       "signed by another key\n",
	       ds, cp.next_offset);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *cmd = NULL, *ds = NULL;
	uint64_t off = 0, with = 0, batches = 0;
	bool have_off = false, have_with = false, do_rechain = false;
	long at = -1;
	struct env e = {0};
	struct stream st;
	int rc, status;

	if (sodium_init() < 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--rechain")) {
			do_rechain = true;
			continue;
		}
		if (o[0] != '-') {
			cmd = o;
			continue;
		}
		if (!v) {
			fputs(usage, stderr);
			return 2;
		}
		i++;
		if (!strcmp(o, "--data-dir"))
			dir = v;
		else if (!strcmp(o, "--dataset"))
			ds = v;
		else if (!strcmp(o, "--offset"))
			off = strtoull(v, NULL, 10), have_off = true;
		else if (!strcmp(o, "--with"))
			with = strtoull(v, NULL, 10), have_with = true;
		else if (!strcmp(o, "--at"))
			at = strtol(v, NULL, 10);
		else if (!strcmp(o, "--batches"))
			batches = strtoull(v, NULL, 10);
		else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (cmd && !strcmp(cmd, "alter-event"))
		ds = GB_AUDIT_STREAM;
	if (!dir || !cmd || !ds) {
		fputs(usage, stderr);
		return 2;
	}
	rc = env_open(dir, &e);
	if (rc) {
		status = die(dir, rc);
		goto out;
	}
	rc = stream_get(&e, ds, &st);
	if (rc) {
		status = die(ds, rc == MDB_NOTFOUND ? 0 : rc);
		goto out;
	}
	if (!strcmp(cmd, "list"))
		status = cmd_list(&e, ds, &st);
	else if (!strcmp(cmd, "flip") && have_off)
		status = cmd_flip(&e, &st, off, at);
	else if (!strcmp(cmd, "delete") && have_off)
		status = cmd_delete(&e, &st, off);
	else if (!strcmp(cmd, "swap") && have_off && have_with)
		status = cmd_swap(&e, &st, off, with);
	else if (!strcmp(cmd, "truncate"))
		status = cmd_truncate(&e, ds, &st, batches);
	else if (!strcmp(cmd, "alter-event") && have_off)
		status = cmd_alter_event(&e, &st, off, do_rechain);
	else if (!strcmp(cmd, "forge-checkpoint"))
		status = cmd_forge(&e, ds, have_off, off);
	else {
		fputs(usage, stderr);
		status = 2;
	}
	if (status == 0) {
		rc = mdb_txn_commit(e.txn);
		e.txn = NULL;
		if (rc)
			status = die("commit", rc);
	}
out:
	if (e.txn)
		mdb_txn_abort(e.txn);
	if (e.env)
		mdb_env_close(e.env);
	return status;
}
