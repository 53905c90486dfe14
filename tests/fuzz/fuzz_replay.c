/* fuzz_replay: run a fuzz target without libFuzzer, so any compiler can
 * build it and the normal suite exercises every target ('fuzz-smoke').
 *
 *   fuzz_replay [--mutations N] [--seed S] PATH...
 *
 * Feeds every regular file of each PATH (a file or a corpus directory) to
 * LLVMFuzzerTestOneInput, then N inputs made by mutating those files with a
 * deterministic generator seeded by S: a failing run is repeated exactly by
 * running the same command. A crash is the target aborting (or a sanitizer
 * report in a sanitized build); before each mutation the last input is
 * kept in $FUZZ_REPLAY_LAST (if set), so it can be added to the corpus. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define INPUT_MAX (1u << 20)   /* larger corpus files are skipped */

struct input {
	uint8_t *data;
	size_t len;
};

struct corpus {
	struct input *in;
	size_t n, cap;
};

static uint64_t rng_state;

/* xorshift64*: small, deterministic, good enough to pick mutations. */
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng_next() % n) : 0;
}

static int read_file(const char *path, struct input *out)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)INPUT_MAX) {
		close(fd);
		return -1;
	}
	out->len = (size_t)st.st_size;
	out->data = malloc(out->len ? out->len : 1);
	got = out->data ? read(fd, out->data, out->len) : -1;
	close(fd);
	if (got != (ssize_t)out->len) {
		free(out->data);
		return -1;
	}
	return 0;
}

static void corpus_add(struct corpus *c, const char *path)
{
	struct input in;

	if (read_file(path, &in) != 0)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct input *grown = realloc(c->in, cap * sizeof *grown);
		if (!grown) {
			free(in.data);
			return;
		}
		c->in = grown;
		c->cap = cap;
	}
	c->in[c->n++] = in;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add PATH, or every regular file in it, in name order (deterministic). */
static int corpus_load(struct corpus *c, const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		corpus_add(c, path);
		return 0;
	}
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof *names);
			if (!names)
				abort();
		}
		if (asprintf(&names[n++], "%s/%s", path, e->d_name) < 0)
			abort();
	}
	closedir(d);
	qsort(names, n, sizeof *names, name_cmp);
	for (size_t i = 0; i < n; i++) {
		corpus_add(c, names[i]);
		free(names[i]);
	}
	free(names);
	return 0;
}

/* Overwrite a few bytes with values fuzzers find useful. */
static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x08,
				      0x0a, 0x12, 0x1a, 0x22, 0x40, 0xfe};

/* Mutate `src` into `out` (capacity INPUT_MAX); returns the new length.
 * One to four edits: bit flip, byte set, insert, delete, duplicate a
 * block, truncate, or splice with another corpus input. */
static size_t mutate(const struct corpus *c, const struct input *src,
		     uint8_t *out)
{
	size_t len = src->len, edits = 1 + rng_below(4);

	memcpy(out, src->data, len);
	for (size_t k = 0; k < edits; k++) {
		size_t pos = rng_below(len + 1), n;
		switch (rng_below(7)) {
		case 0: /* flip a bit */
			if (len)
				out[rng_below(len)] ^= (uint8_t)(1u << rng_below(8));
			break;
		case 1: /* set a byte */
			if (len)
				out[rng_below(len)] = interesting[rng_below(
					sizeof interesting)];
			break;
		case 2: /* insert random bytes */
			n = 1 + rng_below(8);
			if (len + n > INPUT_MAX)
				break;
			memmove(out + pos + n, out + pos, len - pos);
			for (size_t i = 0; i < n; i++)
				out[pos + i] = (uint8_t)rng_next();
			len += n;
			break;
		case 3: /* delete a run */
			if (pos >= len)
				break;
			n = 1 + rng_below(len - pos);
			if (n > 16)
				n = 1 + rng_below(16);
			memmove(out + pos, out + pos + n, len - pos - n);
			len -= n;
			break;
		case 4: /* duplicate a block */
			if (pos >= len)
				break;
			n = 1 + rng_below(len - pos);
			if (len + n > INPUT_MAX)
				break;
			memmove(out + pos + n, out + pos, len - pos);
			len += n;
			break;
		case 5: /* truncate */
			len = pos;
			break;
		default: { /* splice: our head, another input's tail */
			const struct input *o = &c->in[rng_below(c->n)];
			size_t from = rng_below(o->len + 1);
			if (pos + (o->len - from) > INPUT_MAX)
				break;
			memcpy(out + pos, o->data + from, o->len - from);
			len = pos + (o->len - from);
			break;
		}
		}
	}
	return len;
}

/* Keep the input about to run, so a crash leaves it behind. */
static void save_last(const char *path, const uint8_t *data, size_t len)
{
	int fd;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, data, len) != (ssize_t)len)
		perror("fuzz_replay: saving the input");
	close(fd);
}

int main(int argc, char **argv)
{
	struct corpus c = {NULL, 0, 0};
	unsigned long mutations = 0;
	const char *last = getenv("FUZZ_REPLAY_LAST");
	uint8_t *buf;
	int paths = 0;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mutations") && i + 1 < argc)
			mutations = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			rng_state ^= strtoull(argv[++i], NULL, 10) * 0x2545f4914f6cdd1dull;
		else if (corpus_load(&c, argv[i]) == 0)
			paths++;
		else
			return 2;
	}
	if (!paths || !rng_state) {
		fprintf(stderr, "usage: fuzz_replay [--mutations N] [--seed S] "
				"PATH...\n");
		return 2;
	}
	for (size_t i = 0; i < c.n; i++) {
		/* Copies, so a target reading past the end is caught by ASan
		 * the way libFuzzer would catch it. */
		uint8_t *copy = malloc(c.in[i].len ? c.in[i].len : 1);
		memcpy(copy, c.in[i].data, c.in[i].len);
		save_last(last, copy, c.in[i].len);
		LLVMFuzzerTestOneInput(copy, c.in[i].len);
		free(copy);
	}
	if (c.n == 0 && mutations) {
		fprintf(stderr, "fuzz_replay: no inputs to mutate\n");
		return 2;
	}
	buf = malloc(INPUT_MAX);
	for (unsigned long m = 0; m < mutations; m++) {
		size_t len = mutate(&c, &c.in[m % c.n], buf);
		uint8_t *copy = malloc(len ? len : 1);
		memcpy(copy, buf, len);
		save_last(last, copy, len);
		LLVMFuzzerTestOneInput(copy, len);
		free(copy);
	}
	printf("fuzz_replay: %zu corpus inputs and %lu mutations ran, no "
	       "crash\n", c.n, mutations);
	free(buf);
	for (size_t i = 0; i < c.n; i++)
		free(c.in[i].data);
	free(c.in);
	return 0;
}
