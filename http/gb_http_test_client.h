/* A small raw-socket HTTP/1.1 client for the HTTP module's tests: exact
 * control over what is sent and when the response is read (or not read),
 * which a library client hides. Waits are bounded (CLIENT_WAIT_MS) so a
 * broken server fails a test instead of hanging it; they are not
 * performance limits. Header-only: static functions for the test files. */
#ifndef GB_HTTP_TEST_CLIENT_H
#define GB_HTTP_TEST_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_WAIT_MS 30000

struct client {
	int fd;
	char *buf;                 /* received, not yet consumed */
	size_t len, cap;
};

struct response {
	unsigned status;
	char head[8192];           /* status line and headers */
	char *body;                /* NUL-terminated, malloc'd */
	size_t body_len;
};

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

/* Connect to a Unix socket path, or to 127.0.0.1:port when path is NULL. */
static int client_open(struct client *c, const char *path, uint16_t port)
{
	int rc;

	memset(c, 0, sizeof *c);
	if (path) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		rc = c->fd < 0 ? -1
			       : connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
	} else {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons(port)};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		rc = c->fd < 0 ? -1
			       : connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
	}
	if (rc != 0) {
		client_close(c);
		return -1;
	}
	return 0;
}

static int client_send(struct client *c, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int client_send_str(struct client *c, const char *s)
{
	return client_send(c, s, strlen(s));
}

/* Read what is there (waiting up to wait_ms for something).
 * @return bytes read; 0 at end of stream; -1 on error or timeout. */
static ssize_t client_fill(struct client *c, int wait_ms)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	ssize_t n;

	if (c->len + 65536 > c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 131072;
		char *grown;
		while (cap < c->len + 65536)
			cap *= 2;
		grown = realloc(c->buf, cap + 1);
		if (!grown)
			return -1;
		c->buf = grown;
		c->cap = cap;
	}
	if (poll(&p, 1, wait_ms) <= 0)
		return -1;
	n = read(c->fd, c->buf + c->len, 65536);
	if (n > 0) {
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	}
	return n;
}

static void client_consume(struct client *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	c->buf[c->len] = '\0';
}

/* Wait until the buffer holds the whole header block; its length. */
static size_t client_read_head(struct client *c)
{
	for (;;) {
		char *end = c->buf ? strstr(c->buf, "\r\n\r\n") : NULL;
		if (end)
			return (size_t)(end - c->buf) + 4;
		if (client_fill(c, CLIENT_WAIT_MS) <= 0)
			return 0;
	}
}

/* The value of header `name` in a header block, copied into out. */
static bool head_value(const char *head, const char *name, char *out,
		       size_t len)
{
	size_t n = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p, "\r\n")) {
		p += 2;
		if (!strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1;
			size_t vl;
			while (*v == ' ')
				v++;
			vl = strcspn(v, "\r");
			snprintf(out, len, "%.*s", (int)vl, v);
			return true;
		}
	}
	return false;
}

/* Decode complete chunks at the start of the buffer into out (appending);
 * true when the last chunk (size 0) was seen. */
static bool dechunk(struct client *c, char **out, size_t *out_len)
{
	for (;;) {
		char *eol = c->buf ? strstr(c->buf, "\r\n") : NULL;
		unsigned long size;
		size_t head;

		if (!eol)
			return false;
		size = strtoul(c->buf, NULL, 16);
		head = (size_t)(eol - c->buf) + 2;
		if (c->len < head + size + 2)
			return false;
		*out = realloc(*out, *out_len + size + 1);
		memcpy(*out + *out_len, c->buf + head, size);
		*out_len += size;
		(*out)[*out_len] = '\0';
		client_consume(c, head + size + 2);
		if (size == 0)
			return true;
	}
}

/* Read one whole response (Content-Length, chunked or to end of stream).
 * @return 0; -1 when the connection ended or timed out first. */
static int client_read_response(struct client *c, struct response *r)
{
	size_t head = client_read_head(c);
	char value[64];

	memset(r, 0, sizeof *r);
	if (!head)
		return -1;
	snprintf(r->head, sizeof r->head, "%.*s", (int)head, c->buf);
	r->status = (unsigned)strtoul(c->buf + 9, NULL, 10);
	client_consume(c, head);
	r->body = calloc(1, 1);
	if (head_value(r->head, "Content-Length", value, sizeof value)) {
		size_t want = strtoul(value, NULL, 10);
		while (c->len < want)
			if (client_fill(c, CLIENT_WAIT_MS) <= 0)
				return -1;
		r->body = realloc(r->body, want + 1);
		memcpy(r->body, c->buf, want);
		r->body[want] = '\0';
		r->body_len = want;
		client_consume(c, want);
	} else if (head_value(r->head, "Transfer-Encoding", value,
			      sizeof value)) {
		while (!dechunk(c, &r->body, &r->body_len))
			if (client_fill(c, CLIENT_WAIT_MS) <= 0)
				return -1;
	} else if (r->status >= 200 && r->status != 204 && r->status != 304) {
		ssize_t n;
		while ((n = client_fill(c, CLIENT_WAIT_MS)) > 0)
			;
		if (n < 0)
			return -1;
		r->body = realloc(r->body, c->len + 1);
		memcpy(r->body, c->buf ? c->buf : "", c->len);
		r->body[c->len] = '\0';
		r->body_len = c->len;
		client_consume(c, c->len);
	}
	return 0;
}

static void response_free(struct response *r)
{
	free(r->body);
	r->body = NULL;
}

/* One request on a new connection; the response in *r. */
static int http_once(const char *path, uint16_t port, const char *request,
		     struct response *r)
{
	struct client c;
	int rc;

	memset(r, 0, sizeof *r);
	if (client_open(&c, path, port) != 0)
		return -1;
	rc = client_send_str(&c, request) == 0 ? client_read_response(&c, r)
					       : -1;
	client_close(&c);
	return rc;
}

#endif
