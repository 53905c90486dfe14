/* The HTTP module's listening socket and TLS files.
 *
 * The module binds its socket itself and hands it to libmicrohttpd
 * (MHD_OPTION_LISTEN_SOCKET), so a Unix socket gets its mode before anyone
 * can connect, and a TCP address is checked before it is bound.
 *
 * Trust: the listen string and the file names come from the operator's
 * config or command line; they are parsed strictly (numeric hosts only, so
 * no name can resolve to a public address behind the loopback check). A
 * socket path where a live server answers is never taken over; a stale
 * socket file (nobody listening) is replaced; any other file is left
 * alone. The TLS private key is read like a key file (mode 0600). */
#include "gb_http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gb_error.h"
#include "gb_keys.h"

#define LISTEN_BACKLOG 128
#define TLS_FILE_MAX (64u << 10)

/* Whether a listen string names a Unix socket. */
static bool is_unix_listen(const char *listen, const char **path)
{
	if (!strncmp(listen, "unix:", 5)) {
		*path = listen + 5;
		return true;
	}
	*path = listen;
	return strchr(listen, '/') != NULL && listen[0] != '[';
}

static bool ipv4_loopback(const struct in_addr *a)
{
	return (ntohl(a->s_addr) >> 24) == 127;
}

static bool ipv6_loopback(const struct in6_addr *a)
{
	struct in_addr v4;

	if (IN6_IS_ADDR_LOOPBACK(a))
		return true;
	if (!IN6_IS_ADDR_V4MAPPED(a))
		return false;
	memcpy(&v4, &a->s6_addr[12], sizeof v4);
	return ipv4_loopback(&v4);
}

/* Parse "HOST:PORT" (IPv4) or "[HOST]:PORT" (IPv6) into ss. */
static int parse_host_port(const char *listen, struct sockaddr_storage *ss,
			   socklen_t *len, bool *loopback, char *why,
			   size_t why_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = listen;
	size_t hlen;
	uint64_t port;

	memset(ss, 0, sizeof *ss);
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':')
			goto bad;
		h = listen + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - listen);
	}
	if (hlen == 0 || hlen >= sizeof host ||
	    gb_http_parse_u64(colon + 1, &port) != 0 || port > 65535)
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (listen[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof *a;
		*loopback = ipv6_loopback(&a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof *a;
		*loopback = ipv4_loopback(&a->sin_addr);
	}
	return 0;
bad:
	return gb_why(why, why_len, GB_EINVAL,
		      "listen address %.200s is not HOST:PORT with a numeric "
		      "IPv4 host, [IPv6]:PORT, or a socket path (unix:PATH)",
		      listen);
}

/* Remove a socket file nobody listens on; refuse a live one or a file of
 * another kind. */
static int clear_socket_path(const char *path, const struct sockaddr_un *sa,
			     char *why, size_t why_len)
{
	struct stat st;
	int probe, connected;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0
				       : gb_why(why, why_len, GB_EIO,
						"cannot inspect %.200s: %s",
						path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return gb_why(why, why_len, GB_EIO,
			      "%.200s exists and is not a socket; remove it or "
			      "choose another path", path);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return gb_why(why, why_len, GB_EIO, "socket: %s",
			      strerror(errno));
	connected = connect(probe, (const struct sockaddr *)sa, sizeof *sa);
	close(probe);
	if (connected == 0)
		return gb_why(why, why_len, GB_EIO,
			      "a server is already listening on %.200s", path);
	if (unlink(path) != 0)
		return gb_why(why, why_len, GB_EIO,
			      "cannot remove the stale socket %.200s: %s", path,
			      strerror(errno));
	return 0;
}

static int listen_unix(gb_http_server *s, const char *path, unsigned mode,
		       int *out, char *why, size_t why_len)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, rc;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (!path[0] || strlen(path) >= sizeof sa.sun_path)
		return gb_why(why, why_len, GB_EINVAL,
			      "socket path %.200s is empty or longer than %zu "
			      "bytes", path, sizeof sa.sun_path - 1);
	if (mode != 0600 && mode != 0660)
		return gb_why(why, why_len, GB_EINVAL,
			      "socket mode %04o is neither 0600 nor 0660", mode);
	memcpy(sa.sun_path, path, strlen(path));
	rc = clear_socket_path(path, &sa, why, why_len);
	if (rc != 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return gb_why(why, why_len, GB_EIO, "socket: %s", strerror(errno));
	/* Nobody can connect before listen(), so the file's mode is set
	 * between bind and listen without a window. */
	if (bind(fd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
		rc = gb_why(why, why_len, GB_EIO, "cannot bind %.200s: %s",
			    path, strerror(errno));
		goto fail;
	}
	s->unix_path = strdup(path);
	if (!s->unix_path || chmod(path, (mode_t)mode) != 0 ||
	    lstat(path, &st) != 0) {
		rc = gb_why(why, why_len, GB_EIO, "cannot set the mode of "
			    "%.200s: %s", path, strerror(errno));
		goto fail;
	}
	s->unix_ino = (uint64_t)st.st_ino;
	if (listen(fd, LISTEN_BACKLOG) != 0) {
		rc = gb_why(why, why_len, GB_EIO, "cannot listen on %.200s: %s",
			    path, strerror(errno));
		goto fail;
	}
	*out = fd;
	return 0;
fail:
	close(fd);
	if (s->unix_path)
		unlink(path);
	free(s->unix_path);
	s->unix_path = NULL;
	return rc;
}

static int listen_tcp(gb_http_server *s, const struct sockaddr_storage *ss,
		      socklen_t len, const char *listen_text, int *out,
		      char *why, size_t why_len)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof bound;
	int fd, one = 1, rc;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return gb_why(why, why_len, GB_EIO, "socket: %s", strerror(errno));
	/* SO_REUSEADDR: a restart binds again while old connections sit in
	 * TIME_WAIT; IPV6_V6ONLY: [::]:P means IPv6 only, as written. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)) {
		rc = gb_why(why, why_len, GB_EIO, "setsockopt: %s",
			    strerror(errno));
		goto fail;
	}
	if (bind(fd, (const struct sockaddr *)ss, len) != 0) {
		rc = gb_why(why, why_len, GB_EIO, "cannot bind %.200s: %s",
			    listen_text, strerror(errno));
		goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
		rc = gb_why(why, why_len, GB_EIO, "cannot listen on %.200s: %s",
			    listen_text, strerror(errno));
		goto fail;
	}
	s->port = ntohs(bound.ss_family == AF_INET6
				? ((struct sockaddr_in6 *)&bound)->sin6_port
				: ((struct sockaddr_in *)&bound)->sin_port);
	*out = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

int gb_http_listen(gb_http_server *s, const gb_http_config *cfg, int *fd,
		   bool *ipv6, char *why, size_t why_len)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	bool loopback = false, tls = cfg->tls_cert_file || cfg->tls_key_file;
	const char *path;
	int rc;

	*fd = -1;
	*ipv6 = false;
	if (!cfg->listen || !cfg->listen[0])
		return gb_why(why, why_len, GB_EINVAL, "no listen address");
	if (is_unix_listen(cfg->listen, &path))
		return listen_unix(s, path, cfg->socket_mode ? cfg->socket_mode
							     : 0600,
				   fd, why, why_len);
	rc = parse_host_port(cfg->listen, &ss, &len, &loopback, why, why_len);
	if (rc != 0)
		return rc;
	if (!loopback && !cfg->allow_public)
		return gb_why(why, why_len, GB_EPERM,
			      "%.200s is not a loopback address: serving other "
			      "hosts needs the public setting and TLS",
			      cfg->listen);
	if (!loopback && !tls)
		return gb_why(why, why_len, GB_EPERM,
			      "%.200s is public: it needs a TLS certificate and "
			      "key", cfg->listen);
	*ipv6 = ss.ss_family == AF_INET6;
	return listen_tcp(s, &ss, len, cfg->listen, fd, why, why_len);
}

int gb_http_tls_load(const gb_http_config *cfg, char **cert, char **key,
		     char *why, size_t why_len)
{
	uint8_t *c = NULL, *k = NULL;
	size_t clen, klen;
	int rc;

	*cert = *key = NULL;
	if (!cfg->tls_cert_file || !cfg->tls_key_file)
		return gb_why(why, why_len, GB_EINVAL,
			      "TLS needs both a certificate and a key file");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return gb_why(why, why_len, GB_EUNAVAIL,
			      "this libmicrohttpd was built without TLS");
	rc = gb_file_read_secret(cfg->tls_cert_file, "certificate file",
				 TLS_FILE_MAX, 0, &c, &clen, why, why_len);
	if (rc == 0)
		rc = gb_file_read_secret(cfg->tls_key_file, "TLS key file",
					 TLS_FILE_MAX, GB_FILE_PRIVATE, &k,
					 &klen, why, why_len);
	/* libmicrohttpd takes NUL-terminated PEM text */
	if (rc == 0 && (memchr(c, '\0', clen) || memchr(k, '\0', klen)))
		rc = gb_why(why, why_len, GB_EKEYFILE,
			    "certificate or key file is not PEM text");
	if (rc != 0) {
		sodium_free(c);
		sodium_free(k);
		return rc;
	}
	*cert = (char *)c;
	*key = (char *)k;
	return 0;
}
