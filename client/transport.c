/*
 * libkeygate's transport: blocking request/reply exchanges over TCP with
 * poll() deadlines. Three limits apply to every request: the connect
 * timeout (each address of each server), the I/O timeout (sending one
 * request and reading its whole reply) and the optional total deadline
 * across every server tried. Servers are tried in the order they were
 * added; only "nobody answered" failures (connect, timeout, closed) move on
 * to the next one. A reply frame's length is checked against KG_FRAME_MAX
 * before anything is allocated. What the reply says is reply.c's business.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"

#define TRANSPORT_NO_DEADLINE	INT64_MAX

static int64_t
transport_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The earlier of now + ms and limit. */
static int64_t
transport_deadline(int ms, int64_t limit)
{
	int64_t	d = transport_now_ms() + ms;

	return d < limit ? d : limit;
}

/* poll fd for events until deadline (ms). 0 ready, KG_ERR_TIMEOUT, or KG_ERR_CLOSED. */
static int
transport_wait(int fd, short events, int64_t deadline)
{
	struct pollfd	pfd;
	int64_t		left;
	int		n;

	for (;;) {
		if ((left = deadline - transport_now_ms()) <= 0)
			return KG_ERR_TIMEOUT;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return KG_ERR_CLOSED;
		if (n == 0)
			return KG_ERR_TIMEOUT;
		return 0;
	}
}

/* Connect to one address before deadline. The socket, or a negative code. */
static int
transport_connect_addr(const struct addrinfo *ai, int64_t deadline)
{
	socklen_t	slen;
	int		fd, err, rc;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd == -1)
		return KG_ERR_CONNECT;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		rc = KG_ERR_CONNECT;
		goto fail;
	}
	if ((rc = transport_wait(fd, POLLOUT, deadline)) != 0)
		goto fail;
	slen = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &slen) == -1 || err != 0) {
		rc = KG_ERR_CONNECT;
		goto fail;
	}
	return fd;
 fail:
	close(fd);
	return rc == KG_ERR_TIMEOUT ? KG_ERR_TIMEOUT : KG_ERR_CONNECT;
}

/*
 * Connect to server s, trying each of its addresses with the connect
 * timeout, none past limit. The socket or a negative code. Name lookup
 * (getaddrinfo) is not bounded by the timeouts: give addresses, or a
 * resolver that answers, where that matters.
 */
static int
transport_connect(const kg_client *c, const struct kg_server *s, int64_t limit)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	int		 fd = KG_ERR_CONNECT;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(s->host, s->port, &hints, &res) != 0)
		return KG_ERR_CONNECT;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (transport_now_ms() >= limit) {
			fd = KG_ERR_TIMEOUT;
			break;
		}
		fd = transport_connect_addr(ai, transport_deadline(c->connect_ms,
		    limit));
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * Send all of out (when it is not NULL), or else receive exactly len bytes
 * into in, before deadline. 0 or a negative code.
 */
static int
transport_io_all(int fd, const uint8_t *out, uint8_t *in, size_t len,
    int64_t deadline)
{
	ssize_t	n;
	int	rc;

	while (len > 0) {
		n = out != NULL ? send(fd, out, len, MSG_NOSIGNAL) :
		    recv(fd, in, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = transport_wait(fd, out != NULL ? POLLOUT :
			    POLLIN, deadline)) != 0)
				return rc;
			continue;
		}
		if (n <= 0)
			return KG_ERR_CLOSED;
		if (out != NULL)
			out += n;
		else
			in += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Send one request frame on fd and read one reply frame, all before
 * deadline. On 0 *reply is malloc'd (caller frees).
 */
static int
transport_exchange(int fd, const struct client_req *rq, int64_t deadline,
    uint8_t **reply, size_t *reply_len)
{
	uint8_t	 hdr[4], *buf;
	uint32_t n;
	int	 rc;

	*reply = NULL;
	if ((rc = transport_io_all(fd, rq->frame, NULL, rq->frame_len,
	    deadline)) != 0)
		return rc;
	if ((rc = transport_io_all(fd, NULL, hdr, sizeof(hdr), deadline)) != 0)
		return rc;
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > KG_FRAME_MAX)
		return KG_ERR_PROTOCOL;
	if ((buf = malloc(n)) == NULL)
		return KG_ERR_NOMEM;
	if ((rc = transport_io_all(fd, NULL, buf, n, deadline)) != 0) {
		free(buf);
		return rc;
	}
	*reply = buf;
	*reply_len = n;
	return 0;
}

/* Failures after which another server is worth trying: nobody answered. */
bool
transport_unreachable(int rc)
{
	return rc == KG_ERR_CONNECT || rc == KG_ERR_TIMEOUT || rc == KG_ERR_CLOSED;
}

/*
 * Get a reply to rq: on the kept connection first (then once more on a
 * fresh connection to the same server when it had been closed), then on
 * each server in order, all within the total deadline when one is set.
 * *server gets the index of the server that answered. The connection that
 * answered is kept open for the next request.
 */
int
transport_transact(kg_client *c, const struct client_req *rq, uint8_t **reply,
    size_t *reply_len, size_t *server)
{
	int64_t	limit = TRANSPORT_NO_DEADLINE;
	size_t	i;
	int	rc = KG_ERR_CONNECT, fd;

	if (c->total_ms > 0)
		limit = transport_now_ms() + c->total_ms;
	if (c->fd != -1) {
		*server = c->fd_server;
		rc = transport_exchange(c->fd, rq, transport_deadline(c->io_ms,
		    limit), reply, reply_len);
		if (rc == 0)
			return 0;
		kg_client_disconnect(c);
		if (!transport_unreachable(rc))
			return rc;
	}
	for (i = 0; i < c->nserver; i++) {
		if (transport_now_ms() >= limit)
			return KG_ERR_TIMEOUT;
		if ((fd = transport_connect(c, &c->server[i], limit)) < 0) {
			rc = fd;
			continue;
		}
		c->fd = fd;
		c->fd_server = i;
		*server = i;
		rc = transport_exchange(fd, rq, transport_deadline(c->io_ms,
		    limit), reply, reply_len);
		if (rc == 0)
			return 0;
		kg_client_disconnect(c);
		if (!transport_unreachable(rc))
			return rc;
	}
	return rc;
}

/*
 * One more exchange on the connection the last request left open (the
 * server that just answered), without trying another: a rotation
 * statement is asked of the server whose reply needs it. KG_ERR_CLOSED
 * when no connection is open.
 */
int
transport_transact_kept(kg_client *c, const struct client_req *rq,
    uint8_t **reply, size_t *reply_len)
{
	int	rc;

	*reply = NULL;
	if (c->fd == -1)
		return KG_ERR_CLOSED;
	rc = transport_exchange(c->fd, rq, transport_deadline(c->io_ms,
	    TRANSPORT_NO_DEADLINE), reply, reply_len);
	if (rc != 0)
		kg_client_disconnect(c);
	return rc;
}
