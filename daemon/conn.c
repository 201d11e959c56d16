/*
 * One public TCP connection (SPEC section 4). Bytes arrive in a bufferevent's
 * input; every complete frame is answered as soon as it is there, in order,
 * many per connection. Nothing beyond one frame is ever buffered: a header is
 * checked against conf.frame_max from its 4 bytes, and reading stops while
 * the input holds one maximal frame.
 *
 * The socket is read here (conn_recv, from an event of our own), not by the
 * bufferevent, whose reads ask the kernel how much is waiting (an ioctl)
 * before every read: a syscall per request for nothing, since a frame is
 * read whole or in 4 KiB steps anyway. The bufferevent writes what the
 * kernel did not take at once, with its write timeout.
 *
 * Replies are signed in batches (batch.c): a request's reply is queued in
 * the listener's batch, which signs the replies of one event-loop turn
 * together and hands each back here (conn_batch_deliver) to be written
 * (an activate request's reply after its group commit, renew.c).
 * A reply with nothing queued before it is sent straight to the socket
 * (conn_send_now); only what the kernel does not take waits in the output.
 * c->pending counts this connection's replies still in the batch: a
 * connection with pending replies is "replies still on their way" exactly
 * like one with unsent output, and error replies go through the batch too,
 * so replies keep the order of their requests. While an activate request
 * waits for its commit the connection is held (c->held): further activate
 * requests are taken (they join the group in order), anything else waits
 * in the input until the activation is answered, so that it sees the
 * renewal and its reply comes after (dispatch_frame_batch).
 *
 * Timers: while no frame is pending the connection may stay silent for
 * conf.idle_timeout seconds (then it is closed without a word: the client
 * asked nothing); a frame once started must be complete within
 * conf.read_timeout seconds (then an Error reply "bad_request" and close);
 * replies that make no progress for conf.write_timeout seconds close it.
 *
 * Back-pressure: when unsent replies pass conf.output_highwater, reading and
 * answering pause (the pending input stays bounded by one frame) until the
 * peer has read half of them; a peer that stops reading altogether is cut off
 * by the write timeout. So a connection never holds more than the high-water
 * mark plus one reply of output.
 *
 * Errors: an oversize frame gets Error "frame_too_large", an unreadable one
 * "bad_request"; both close the connection once the reply is flushed, and
 * further input is discarded. A readable request with a bad field is answered
 * and the connection stays open.
 *
 * active_at is the monotonic time of the accept or of the last complete
 * request: the listener, at its connection cap, closes the connection whose
 * active_at is oldest to make room (listen.c).
 *
 * Closing after an error reply is a lingering close: once the reply is
 * flushed the write side is shut down and input is read and discarded for at
 * most CONN_LINGER_SECONDS, so that unread input does not make the kernel
 * reset the connection and destroy the reply before the peer has read it.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "batch.h"
#include "conn.h"
#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "renew.h"
#include "wire.h"

#define CONN_LINGER_SECONDS	2
#define CONN_READ_STEP		4096	/* bytes asked of the kernel at a time */

static void	conn_recv_cb(evutil_socket_t, short, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb_locked(struct bufferevent *, short, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_timer_cb(evutil_socket_t, short, void *);

/* Monotonic nanoseconds, for active_at. */
static uint64_t
conn_clock(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "host" and "host:port" / "[host]:port" of a peer address. */
static void
conn_peer_format(const struct sockaddr *sa, struct dispatch_peer *p)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	unsigned			 port = 0;

	snprintf(p->host, sizeof(p->host), "?");
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, p->host, sizeof(p->host));
		port = ntohs(sin->sin_port);
		snprintf(p->text, sizeof(p->text), "%s:%u", p->host, port);
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, p->host, sizeof(p->host));
		port = ntohs(sin6->sin6_port);
		snprintf(p->text, sizeof(p->text), "[%s]:%u", p->host, port);
	} else
		snprintf(p->text, sizeof(p->text), "%s", p->host);
}

static void
conn_timer_arm(struct conn *c, enum conn_timer kind)
{
	struct timeval	tv = { 0, 0 };

	c->timer_kind = kind;
	switch (kind) {
	case CONN_TIMER_IDLE:
		tv.tv_sec = c->d->conf.idle_timeout;
		break;
	case CONN_TIMER_READ:
		tv.tv_sec = c->d->conf.read_timeout;
		break;
	case CONN_TIMER_LINGER:
		tv.tv_sec = CONN_LINGER_SECONDS;
		break;
	}
	evtimer_add(c->timer, &tv);
}

/*
 * Read from the socket (true) or not: reading stops while replies wait
 * (paused), when the input holds a maximal frame, after the peer's EOF and
 * when the connection is given up.
 */
static void
conn_reading(struct conn *c, bool on)
{
	if (on == c->reading)
		return;
	if (on ? event_add(c->rev, NULL) == 0 : event_del(c->rev) == 0)
		c->reading = on;
}

/*
 * Read again when it may: not paused, no EOF yet, not given up, room in
 * the input.
 */
static void
conn_read_more(struct conn *c)
{
	if (!c->reading && !c->paused && !c->eof && !c->dropped &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) < c->in_max)
		conn_reading(c, true);
}

/* Start serving an accepted socket: see conn.h. */
struct conn *
conn_new(struct daemon *d, struct event_base *base, struct dispatch_loop *loop,
    evutil_socket_t fd, const struct sockaddr *sa, socklen_t salen,
    conn_gone_fn gone, void *arg)
{
	struct conn	*c;
	struct timeval	 wt = { 0, 0 };
	int		 one = 1;

	(void)salen;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_error("%s: out of memory", __func__);
		evutil_closesocket(fd);
		return NULL;
	}
	c->d = d;
	c->loop = loop;
	c->gone = gone;
	c->gone_arg = arg;
	c->active_at = conn_clock();
	conn_peer_format(sa, &c->peer);
	/* Replies are one write each; do not hold them back. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_error("%s: bufferevent_socket_new failed", __func__);
		evutil_closesocket(fd);
		free(c);
		return NULL;
	}
	if ((c->timer = evtimer_new(base, conn_timer_cb, c)) == NULL ||
	    (c->rev = event_new(base, fd, EV_READ | EV_PERSIST, conn_recv_cb,
	    c)) == NULL) {
		log_error("%s: event_new failed", __func__);
		if (c->timer != NULL)
			event_free(c->timer);
		bufferevent_free(c->bev);
		free(c);
		return NULL;
	}
	/*
	 * The input is ours to fill (conn_recv): a socket bufferevent keeps
	 * its end frozen except while it reads, which it never does here.
	 * Never read more than one maximal frame ahead.
	 */
	evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
	c->in_max = (size_t)d->conf.frame_max + WIRE_HEADER_LEN;
	bufferevent_setcb(c->bev, NULL, conn_write_cb, conn_event_cb, c);
	/* The write callback runs once half the high-water mark is left. */
	bufferevent_setwatermark(c->bev, EV_WRITE, d->conf.output_highwater / 2, 0);
	wt.tv_sec = d->conf.write_timeout;
	bufferevent_set_timeouts(c->bev, NULL, &wt);
	bufferevent_enable(c->bev, EV_WRITE);
	conn_reading(c, true);
	conn_timer_arm(c, CONN_TIMER_IDLE);
	log_debug("peer %s: connected", c->peer.text);
	return c;
}

/* Close now, tell the listener, free. */
void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	log_debug("peer %s: closed", c->peer.text);
	if (c->pending > 0)
		batch_forget(c->loop->batch, c);
	if (c->held > 0)
		renew_forget(c->loop->renew, c);
	if (c->gone != NULL)
		c->gone(c->gone_arg, c);
	event_free(c->rev);
	event_free(c->timer);
	bufferevent_free(c->bev);
	free(c);
}

/* True while replies are queued in the batch or unsent in the output. */
static bool
conn_replies_in_flight(struct conn *c)
{
	return c->pending > 0 ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0;
}

/*
 * Everything is sent: shut down the write side and discard input until the
 * peer closes or CONN_LINGER_SECONDS pass. Returns -1 when c was freed.
 */
static int
conn_linger(struct conn *c)
{
	if (c->eof || shutdown(bufferevent_getfd(c->bev), SHUT_WR) == -1) {
		conn_free(c);
		return -1;
	}
	c->lingering = true;
	conn_timer_arm(c, CONN_TIMER_LINGER);
	return 0;
}

/*
 * Answer nothing more: discard input (requests already in it included) and
 * close once the queued output is flushed. Returns -1 when c was freed.
 */
static int
conn_close_after_flush(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);

	c->closing = true;
	evbuffer_drain(in, evbuffer_get_length(in));
	if (!conn_replies_in_flight(c) && conn_linger(c) == -1)
		return -1;
	conn_read_more(c);	/* discard what still comes, see EOF */
	return 0;
}

/*
 * Give up on c from inside another callback: stop its events and free it
 * from its own timer, once the caller is done with it.
 */
static void
conn_close_soon(struct conn *c)
{
	struct timeval	now = { 0, 0 };

	c->closing = true;
	c->lingering = true;
	c->dropped = true;
	conn_reading(c, false);
	bufferevent_disable(c->bev, EV_WRITE);
	c->timer_kind = CONN_TIMER_LINGER;
	evtimer_add(c->timer, &now);
}

/*
 * Send what the kernel takes of a reply at once, when nothing is queued
 * before it and the connection is in its plain serving state; the rest (all
 * of it when the socket is full or in error) goes to the bufferevent's
 * output as before, whose write event, timeout and callbacks then take over.
 * A reply sent here whole costs no write event: no epoll change to add it,
 * no loop turn to run it, no change to remove it. Returns how many bytes
 * were sent.
 */
static size_t
conn_send_now(struct conn *c, const uint8_t *frame, size_t len)
{
	ssize_t	n;

	if (c->closing || c->draining || c->paused ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return 0;
	do
		n = send(bufferevent_getfd(c->bev), frame, len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	return n > 0 ? (size_t)n : 0;
}

/* The batch signed one of c's replies: see conn.h. */
void
conn_batch_deliver(void *owner, const uint8_t *frame, size_t len)
{
	struct conn	*c = owner;
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	size_t		 sent;

	c->pending--;
	if (c->lingering)
		return;
	if (frame != NULL) {
		sent = conn_send_now(c, frame, len);
		frame += sent;
		len -= sent;
		if (len == 0)
			return;
	}
	if (frame == NULL || bufferevent_write(c->bev, frame, len) == -1) {
		log_warn("peer %s: cannot %s a reply; closing", c->peer.text,
		    frame == NULL ? "sign" : "queue");
		conn_close_soon(c);
		return;
	}
	if (!c->paused && !c->closing &&
	    evbuffer_get_length(out) > c->d->conf.output_highwater) {
		log_debug("peer %s: %zu bytes of replies unsent; pausing",
		    c->peer.text, evbuffer_get_length(out));
		c->paused = true;
		conn_reading(c, false);
	}
}

/* An activate request of c's is answered: see conn.h. */
void
conn_unhold(void *owner)
{
	struct conn	*c = owner;

	if (c->held == 0 || --c->held > 0 || c->closing || c->lingering)
		return;
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 || c->eof)
		event_active(c->rev, EV_READ, 0);	/* conn_recv_cb, later */
}

/* Answer the frame at the head of the input (an error reply; close after). */
static int
conn_reply_error(struct conn *c, const char *reason, const char *detail)
{
	if (dispatch_error_batch(c->d, &c->peer, reason, detail, c->loop,
	    c) == -1) {
		conn_free(c);
		return -1;
	}
	c->pending++;
	return conn_close_after_flush(c);
}

/*
 * Answer every complete frame in the input, in order. Returns -1 when c was
 * freed, else 0.
 */
static int
conn_process(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*outbuf = bufferevent_get_output(c->bev);
	uint8_t		 hdr[WIRE_HEADER_LEN], *msg;
	char		 detail[96];
	size_t		 avail;
	uint32_t	 len;
	bool		 close_after, deferred, answered = false;
	ev_ssize_t	 n;
	int		 rv;

	while (!c->closing && !c->paused) {
		avail = evbuffer_get_length(in);
		n = evbuffer_copyout(in, hdr, sizeof(hdr));
		switch (wire_frame_length(hdr, n < 0 ? 0 : (size_t)n,
		    c->d->conf.frame_max, &len)) {
		case WIRE_FRAME_NEED_MORE:
			goto partial;
		case WIRE_FRAME_TOO_LARGE:
			if (c->held > 0)
				return 0;	/* answered after the activation */
			snprintf(detail, sizeof(detail), "frame of %u bytes is "
			    "over this server's limit of %u bytes", len,
			    c->d->conf.frame_max);
			return conn_reply_error(c, "frame_too_large", detail);
		case WIRE_FRAME_EMPTY:
		case WIRE_FRAME_OK:
			break;
		}
		if (avail < (size_t)len + WIRE_HEADER_LEN)
			goto partial;
		if ((msg = evbuffer_pullup(in, (ev_ssize_t)len +
		    WIRE_HEADER_LEN)) == NULL) {
			log_error("%s: evbuffer_pullup failed", __func__);
			conn_free(c);
			return -1;
		}
		rv = dispatch_frame_batch(c->d, &c->peer, msg + WIRE_HEADER_LEN,
		    len, c->loop, c, c->held > 0, &close_after, &deferred);
		if (rv == -1) {
			conn_free(c);
			return -1;
		}
		if (rv == 1)
			return 0;	/* held: conn_unhold comes back for it */
		c->pending++;
		if (deferred)
			c->held++;
		evbuffer_drain(in, (size_t)len + WIRE_HEADER_LEN);
		answered = true;
		c->active_at = conn_clock();
		if (c->lingering)
			return 0;	/* a full batch was signed and failed */
		if (close_after)
			return conn_close_after_flush(c);
		if (evbuffer_get_length(outbuf) > c->d->conf.output_highwater) {
			log_debug("peer %s: %zu bytes of replies unsent; pausing",
			    c->peer.text, evbuffer_get_length(outbuf));
			c->paused = true;
			conn_reading(c, false);
		}
	}
	return 0;
partial:
	/* The peer shut down after requests that waited for an activation. */
	if (c->eof && c->held == 0)
		return conn_close_after_flush(c);
	/* A frame started: it must finish within read_timeout. */
	if (evbuffer_get_length(in) > 0) {
		if (answered || c->timer_kind != CONN_TIMER_READ)
			conn_timer_arm(c, CONN_TIMER_READ);
	} else
		conn_timer_arm(c, CONN_TIMER_IDLE);
	if (c->draining && evbuffer_get_length(in) == 0 &&
	    !conn_replies_in_flight(c)) {
		conn_free(c);
		return -1;
	}
	return 0;
}

/*
 * Read what the socket has, at most CONN_READ_STEP bytes and never past
 * c->in_max in the input. 1 when bytes came, 0 when none (none waiting, or
 * the input is full), -1 after the peer's EOF or a socket error, which go
 * to the bufferevent's event callback as its own reads would send them (c
 * may be freed there).
 */
static int
conn_recv(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec	 v[2];
	size_t			 have = evbuffer_get_length(in), want, got, i;
	ssize_t			 n;
	int			 nv, err;

	if (c->eof || !c->reading)
		return 0;	/* conn_unhold's turn, or paused meanwhile */
	if (have >= c->in_max) {
		conn_reading(c, false);		/* conn_process drains it */
		return 0;
	}
	want = c->in_max - have < CONN_READ_STEP ? c->in_max - have :
	    CONN_READ_STEP;
	if ((nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2)) <= 0) {
		log_error("%s: out of memory", __func__);
		conn_free(c);
		return -1;
	}
	for (i = 0, got = 0; i < (size_t)nv; i++) {
		if (v[i].iov_len > want - got)
			v[i].iov_len = want - got;
		got += v[i].iov_len;
	}
	do
		n = readv(event_get_fd(c->rev), (struct iovec *)v, nv);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		for (i = 0, got = 0; i < (size_t)nv; i++) {
			if (v[i].iov_len > (size_t)n - got)
				v[i].iov_len = (size_t)n - got;
			got += v[i].iov_len;
		}
		evbuffer_commit_space(in, v, nv);
		return 1;
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	err = errno;
	conn_reading(c, false);
	errno = err;		/* for the callback's log line */
	conn_event_cb_locked(c->bev, BEV_EVENT_READING |
	    (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
	return -1;
}

/* The socket is readable, or conn_unhold asks for the input again. */
static void
conn_recv_cb_locked(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);

	if (conn_recv(c) == -1)
		return;
	if (c->closing)
		evbuffer_drain(in, evbuffer_get_length(in));
	else if (conn_process(c) == -1)
		return;
	conn_read_more(c);
}

/* The output fell to half the high-water mark (or is empty). */
static void
conn_write_cb_locked(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->closing) {
		/* Nothing more is answered: a pause only held back input. */
		c->paused = false;
		if (!conn_replies_in_flight(c) && !c->lingering &&
		    conn_linger(c) == -1)
			return;
		conn_read_more(c);	/* discard what comes, see EOF */
		return;
	}
	if (c->paused) {
		c->paused = false;
		if (conn_process(c) == -1)
			return;
		conn_read_more(c);
	}
	if (c->draining && !c->paused && !conn_replies_in_flight(c) &&
	    evbuffer_get_length(bufferevent_get_input(bev)) == 0)
		conn_free(c);
}

static void
conn_event_cb_locked(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		log_debug("peer %s: replies not read within %u seconds; closing",
		    c->peer.text, c->d->conf.write_timeout);
		conn_free(c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		log_debug("peer %s: %s; closing", c->peer.text,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		conn_free(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* The peer is done sending; let it have the replies it asked for. */
		c->eof = true;
		conn_reading(c, false);
		if (!c->lingering && conn_replies_in_flight(c)) {
			if (c->paused)
				return;		/* conn_write_cb resumes */
			if (c->held > 0)
				return;		/* conn_process, once unheld */
			(void)conn_close_after_flush(c);
			return;
		}
		conn_free(c);
	}
}

static void
conn_timer_cb_locked(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	char		 detail[96];

	(void)fd;
	(void)what;
	if (c->timer_kind == CONN_TIMER_LINGER) {
		conn_free(c);
		return;
	}
	/* Replies still on their way, or paused for them: the write timeout rules. */
	if (c->closing || c->paused || conn_replies_in_flight(c)) {
		conn_timer_arm(c, c->timer_kind);
		return;
	}
	if (c->timer_kind == CONN_TIMER_IDLE) {
		log_debug("peer %s: idle for %u seconds; closing", c->peer.text,
		    c->d->conf.idle_timeout);
		conn_free(c);
		return;
	}
	log_debug("peer %s: frame not complete within %u seconds; closing",
	    c->peer.text, c->d->conf.read_timeout);
	snprintf(detail, sizeof(detail), "incomplete frame: a request must "
	    "arrive within %u seconds", c->d->conf.read_timeout);
	(void)conn_reply_error(c, "bad_request", detail);
}

/*
 * libevent's entry points: each runs with the daemon's shared state held
 * shared (daemon.h), so the main thread changes none of it meanwhile. c may
 * be freed inside: d is read first.
 */
static void
conn_recv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = ((struct conn *)arg)->d;

	(void)fd;
	(void)what;
	daemon_shared_enter(d);
	conn_recv_cb_locked(arg);
	daemon_shared_leave(d);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct daemon	*d = ((struct conn *)arg)->d;

	daemon_shared_enter(d);
	conn_write_cb_locked(bev, arg);
	daemon_shared_leave(d);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct daemon	*d = ((struct conn *)arg)->d;

	daemon_shared_enter(d);
	conn_event_cb_locked(bev, what, arg);
	daemon_shared_leave(d);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = ((struct conn *)arg)->d;

	daemon_shared_enter(d);
	conn_timer_cb_locked(fd, what, arg);
	daemon_shared_leave(d);
}

/* The listener is stopping: see conn.h. */
void
conn_drain(struct conn *c)
{
	c->draining = true;
	if (!c->closing && !c->paused &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
	    !conn_replies_in_flight(c))
		conn_free(c);
}

/* May c be closed to make room at the connection cap: see conn.h. */
bool
conn_evictable(const struct conn *c)
{
	return !c->closing && !c->lingering;
}
