/* Tests for gb_format: line and delimited input framing
 * (last line without newline, empty lines, CR kept, over-long lines,
 * truncated prefixes, oversize lengths, EOF inside a record, reads across
 * buffer refills) and the output writers including JSON escaping. */
#include "gb_format.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gb_codec.h"
#include "gb_test.h"

/* A file descriptor that reads back `len` bytes of `data`. */
static int fd_with(const void *data, size_t len)
{
	FILE *f = tmpfile();
	int fd;

	if (!f)
		return -1;
	fd = dup(fileno(f));
	fclose(f);
	if (fd < 0)
		return -1;
	if (len && write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

struct collected {
	size_t n;
	char recs[16][64];
	size_t lens[16];
	int last_rc;
	char why[256];
};

/* Read every record of `data` in `fmt` with limit `max`. */
static void collect(const void *data, size_t len, gb_format fmt, size_t max,
		    struct collected *out)
{
	gb_reader *r = NULL;
	int fd = fd_with(data, len), rc;

	memset(out, 0, sizeof *out);
	CHECK(fd >= 0);
	CHECK_RC(gb_reader_new(fd, fmt, max, &r), 0);
	if (!r) {
		close(fd);
		return;
	}
	for (;;) {
		const uint8_t *rec;
		size_t n;
		rc = gb_reader_next(r, &rec, &n, out->why, sizeof out->why);
		if (rc != 1)
			break;
		if (out->n < 16 && n < 64) {
			memcpy(out->recs[out->n], rec, n);
			out->lens[out->n] = n;
		}
		out->n++;
	}
	out->last_rc = rc;
	gb_reader_destroy(&r);
	close(fd);
}

static void test_lines(void)
{
	struct collected c;
	static const char text[] = "a\nbb\n\nccc";

	collect(text, strlen(text), GB_FORMAT_LINES, 0, &c);
	CHECK(c.last_rc == 0);
	CHECK(c.n == 4);
	CHECK(c.lens[0] == 1 && !memcmp(c.recs[0], "a", 1));
	CHECK(c.lens[1] == 2 && !memcmp(c.recs[1], "bb", 2));
	CHECK(c.lens[2] == 0);                 /* empty line: empty record */
	CHECK(c.lens[3] == 3 && !memcmp(c.recs[3], "ccc", 3)); /* no '\n' */

	collect("x\r\ny\r\n", 6, GB_FORMAT_LINES, 0, &c);
	CHECK(c.last_rc == 0 && c.n == 2);
	CHECK(c.lens[0] == 2 && !memcmp(c.recs[0], "x\r", 2)); /* CR is data */

	collect("", 0, GB_FORMAT_LINES, 0, &c);
	CHECK(c.last_rc == 0 && c.n == 0);
	collect("\n", 1, GB_FORMAT_LINES, 0, &c);
	CHECK(c.last_rc == 0 && c.n == 1 && c.lens[0] == 0);
	collect("one\n", 4, GB_FORMAT_LINES, 0, &c);
	CHECK(c.last_rc == 0 && c.n == 1); /* no phantom record after '\n' */

	/* limit 4: a 4-byte line is fine, a 5-byte one names line 2 */
	collect("abcd\nabcde\nz\n", 13, GB_FORMAT_LINES, 4, &c);
	CHECK(c.n == 1);
	CHECK(c.last_rc == GB_ETOOBIG);
	CHECK_CONTAINS(c.why, "line 2 ");
	/* an over-long last line without newline */
	collect("ok\nabcdefgh", 11, GB_FORMAT_LINES, 4, &c);
	CHECK(c.n == 1 && c.last_rc == GB_ETOOBIG);
	CHECK_CONTAINS(c.why, "line 2 ");
	/* a NUL byte is data */
	collect("a\0b\n", 4, GB_FORMAT_LINES, 0, &c);
	CHECK(c.n == 1 && c.lens[0] == 3);
}

/* Many lines through a small buffer: refills, compaction and growth. */
static void test_lines_refill(size_t max, size_t count)
{
	size_t cap = count * (max + 1) + 1, len = 0, n = 0;
	char *text = malloc(cap);
	gb_reader *r = NULL;
	int fd, rc;
	char why[256];
	bool same = true;

	CHECK(text != NULL);
	if (!text)
		return;
	for (size_t i = 0; i < count; i++) {
		size_t l = (i * 7919) % (max + 1);
		for (size_t k = 0; k < l; k++)
			text[len++] = (char)('a' + (i + k) % 26);
		text[len++] = '\n';
	}
	fd = fd_with(text, len);
	CHECK_RC(gb_reader_new(fd, GB_FORMAT_LINES, max, &r), 0);
	if (!r) {
		free(text);
		close(fd);
		return;
	}
	for (;;) {
		const uint8_t *rec;
		size_t l;
		rc = gb_reader_next(r, &rec, &l, why, sizeof why);
		if (rc != 1)
			break;
		size_t want = (n * 7919) % (max + 1);
		if (l != want)
			same = false;
		for (size_t k = 0; k < l && same; k++)
			if (rec[k] != (uint8_t)('a' + (n + k) % 26))
				same = false;
		n++;
	}
	CHECK(rc == 0);
	CHECK(n == count);
	CHECK(same);
	CHECK(gb_reader_records(r) == count);
	gb_reader_destroy(&r);
	close(fd);
	free(text);
}

static size_t put_delimited(uint8_t *out, const void *rec, size_t len)
{
	size_t n = gb_varint_put(len, out);
	memcpy(out + n, rec, len);
	return n + len;
}

static void test_delimited(void)
{
	uint8_t buf[1024], big[300];
	size_t len = 0;
	struct collected c;

	memset(big, 'q', sizeof big);
	len += put_delimited(buf + len, "", 0);
	len += put_delimited(buf + len, "a", 1);
	len += put_delimited(buf + len, "\n\r\0x", 4);
	len += put_delimited(buf + len, big, sizeof big); /* 2-byte prefix */
	collect(buf, len, GB_FORMAT_DELIMITED, 0, &c);
	CHECK(c.last_rc == 0);
	CHECK(c.n == 4);
	CHECK(c.lens[0] == 0);
	CHECK(c.lens[1] == 1 && c.recs[1][0] == 'a');
	CHECK(c.lens[2] == 4 && !memcmp(c.recs[2], "\n\r\0x", 4));

	/* truncated varint: a continuation byte, then EOF */
	uint8_t trunc[] = {0x01, 'z', 0x80};
	collect(trunc, sizeof trunc, GB_FORMAT_DELIMITED, 0, &c);
	CHECK(c.n == 1 && c.last_rc == GB_EDECODE);
	CHECK_CONTAINS(c.why, "record 2 at byte 2");
	CHECK_CONTAINS(c.why, "inside the length prefix");

	/* oversize length (limit 10) */
	uint8_t over[] = {0x0b, 'x'};
	collect(over, sizeof over, GB_FORMAT_DELIMITED, 10, &c);
	CHECK(c.n == 0 && c.last_rc == GB_ETOOBIG);
	CHECK_CONTAINS(c.why, "length 11 exceeds");
	/* a length over the default limit (GB_MAX_RECORD_BYTES), no data */
	uint8_t huge[GB_VARINT_MAX_BYTES];
	size_t hn = gb_varint_put((uint64_t)GB_MAX_RECORD_BYTES + 1, huge);
	collect(huge, hn, GB_FORMAT_DELIMITED, 0, &c);
	CHECK(c.last_rc == GB_ETOOBIG);

	/* EOF in the middle of a record */
	uint8_t mid[] = {0x05, 'a', 'b'};
	collect(mid, sizeof mid, GB_FORMAT_DELIMITED, 0, &c);
	CHECK(c.n == 0 && c.last_rc == GB_EDECODE);
	CHECK_CONTAINS(c.why, "5 bytes announced, 2 present");

	/* not a varint at all: 11 continuation bytes */
	uint8_t bad[12];
	memset(bad, 0xff, sizeof bad);
	collect(bad, sizeof bad, GB_FORMAT_DELIMITED, 0, &c);
	CHECK(c.last_rc == GB_EDECODE);
	CHECK_CONTAINS(c.why, "not a valid varint");
}

/* Delimited records through a buffer that must grow and compact. */
static void test_delimited_refill(void)
{
	enum { COUNT = 5000, MAX = 700 };
	uint8_t *data = malloc((size_t)COUNT * (MAX + GB_VARINT_MAX_BYTES));
	uint8_t rec[MAX];
	size_t len = 0, n = 0;
	gb_reader *r = NULL;
	bool same = true;
	char why[256];
	int fd, rc;

	CHECK(data != NULL);
	if (!data)
		return;
	for (size_t i = 0; i < COUNT; i++) {
		size_t l = (i * 31) % (MAX + 1);
		for (size_t k = 0; k < l; k++)
			rec[k] = (uint8_t)(i + k);
		len += put_delimited(data + len, rec, l);
	}
	fd = fd_with(data, len);
	CHECK_RC(gb_reader_new(fd, GB_FORMAT_DELIMITED, MAX, &r), 0);
	while (r) {
		const uint8_t *p;
		size_t l;
		rc = gb_reader_next(r, &p, &l, why, sizeof why);
		if (rc != 1) {
			CHECK(rc == 0);
			break;
		}
		if (l != (n * 31) % (MAX + 1))
			same = false;
		for (size_t k = 0; k < l && same; k++)
			if (p[k] != (uint8_t)(n + k))
				same = false;
		n++;
	}
	CHECK(n == COUNT);
	CHECK(same);
	gb_reader_destroy(&r);
	close(fd);
	free(data);
}

static char *write_records(gb_format fmt, const gb_record *recs, size_t n,
			   size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	gb_writer *w = NULL;

	CHECK(f != NULL);
	CHECK_RC(gb_writer_new(f, fmt, &w), 0);
	for (size_t i = 0; i < n; i++)
		CHECK_RC(gb_writer_put(w, &recs[i]), 0);
	gb_writer_destroy(&w);
	fclose(f);
	return buf;
}

static void test_writers(void)
{
	gb_record recs[2] = {
		{.dataset = "tax.invoices", .offset = 7, .producer = "tax",
		 .produced_at_ns = 1764000000123456789ull,
		 .broker_time_ns = 18446744073709551615ull, .id = "",
		 .payload = (const uint8_t *)"hi", .len = 2},
		{.dataset = "tax.invoices", .offset = 8, .producer = "tax",
		 .id = "q\"b\\s\x01\xc3\xa9\xff", .payload = NULL, .len = 0},
	};
	size_t len = 0;
	char *out;

	out = write_records(GB_FORMAT_LINES, recs, 2, &len);
	CHECK(len == 4 && !memcmp(out, "hi\n\n", 4));
	free(out);

	out = write_records(GB_FORMAT_DELIMITED, recs, 2, &len);
	CHECK(len == 4 && !memcmp(out, "\x02hi\x00", 4));
	free(out);

	out = write_records(GB_FORMAT_JSON, recs, 2, &len);
	CHECK_STR(out,
		  "{\"dataset\":\"tax.invoices\",\"offset\":7,\"producer\":"
		  "\"tax\",\"produced_at_ns\":\"1764000000123456789\","
		  "\"broker_time_ns\":\"18446744073709551615\",\"id\":\"\","
		  "\"payload_base64\":\"aGk=\"}\n"
		  "{\"dataset\":\"tax.invoices\",\"offset\":8,\"producer\":"
		  "\"tax\",\"produced_at_ns\":\"0\",\"broker_time_ns\":\"0\","
		  "\"id\":\"q\\\"b\\\\s\\u0001\xc3\xa9\\ufffd\","
		  "\"payload_base64\":\"\"}\n");
	free(out);

	gb_format f;
	CHECK_RC(gb_format_from_name("lines", &f), 0);
	CHECK(f == GB_FORMAT_LINES);
	CHECK_RC(gb_format_from_name("json", &f), 0);
	CHECK_RC(gb_format_from_name("csv", &f), GB_EINVAL);
	gb_reader *r = NULL;
	CHECK_RC(gb_reader_new(0, GB_FORMAT_JSON, 0, &r), GB_EINVAL);
}

int main(void)
{
	test_lines();
	test_lines_refill(16, 20000);
	test_lines_refill(300, 12000); /* > 1 MiB: crosses READ_CHUNK */
	test_delimited();
	test_delimited_refill();
	test_writers();
	TEST_EXIT();
}
