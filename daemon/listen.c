/*
 * The public TCP listener (SPEC section 4): binds conf.listen ("HOST:PORT" or
 * "[IPv6]:PORT", port 0 for any free port), writes the bound port to
 * conf.port_file, accepts product connections and keeps their list.
 *
 * The connection cap: at conf.max_connections open connections, a new one
 * is not simply refused, since attackers holding the cap with idle or
 * trickling connections would then starve every honest client. Instead the
 * connection that has been idle longest without a complete request (the
 * oldest conn.active_at: accept time, or its last complete request) is
 * closed at once and the new one takes its place; the new one is refused
 * (accepted and closed at once) only when every connection is already
 * closing. An honest client sends its request right after connecting, so it
 * is served unless max_connections newer connections arrive before its
 * request does; holding the cap now costs an attacker a constant stream of
 * new connections rather than a one-off batch. A connection that has
 * been answered and then idles is as evictable as one that never asked.
 *
 * Accepting yields to the rest of the event loop every LISTEN_ACCEPT_BURST
 * connections: libevent's listener accepts in a loop until the backlog is
 * empty, and a flood that refills the backlog as fast as it is drained (each
 * accept at the cap closes a connection, whose owner reconnects at once)
 * would otherwise keep the loop from ever reading a request, so the honest
 * client's request would wait while newer connections displace it.
 *
 * When accept fails for lack of descriptors or memory (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM) the listener pauses instead of spinning on the pending
 * connection, and resumes after a second or as soon as a connection closes.
 * Stopping (SIGTERM) stops accepting and lets connections finish their
 * in-flight replies.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "batch.h"
#include "conn.h"
#include "daemon.h"
#include "listen.h"
#include "log.h"
#include "tcpaddr.h"

#define LISTEN_BACKLOG		511
#define LISTEN_RESUME_SECONDS	1
#define LISTEN_CAP_LOG_SECONDS	60	/* one warning a minute at the cap */
#define LISTEN_ACCEPT_BURST	32	/* accepts before yielding to other events */

struct listener {
	struct daemon		*d;
	struct evconnlistener	*evl;
	struct batch		*batch;		/* signs the replies of a turn */
	struct event		*resume;	/* after an EMFILE pause */
	struct event		*turn;		/* after LISTEN_ACCEPT_BURST accepts */
	unsigned		 burst;		/* accepts since the last yield */
	struct conn_list	 conns;
	size_t			 nconns;
	bool			 paused;	/* accept failed for lack of resources */
	bool			 exhausted;	/* ... and has not succeeded since */
	bool			 stopped;	/* listener_stop_accepting */
	bool			 freeing;
	time_t			 cap_logged;	/* last warning about the cap */
	unsigned long		 evicted;	/* closed to make room since then */
};

static void
listen_resume(struct listener *l)
{
	if (!l->paused || l->stopped || l->freeing)
		return;
	l->paused = false;
	evtimer_del(l->resume);
	if (evconnlistener_enable(l->evl) == -1)
		log_warn("%s: cannot resume accepting", __func__);
}

static void
listen_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	listen_resume(arg);
}

/* The other events have had their turn: accept again. */
static void
listen_turn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;

	(void)fd;
	(void)what;
	if (l->paused || l->stopped || l->freeing)
		return;
	if (evconnlistener_enable(l->evl) == -1)
		log_warn("%s: cannot resume accepting", __func__);
}

/*
 * Count an accept; after LISTEN_ACCEPT_BURST of them stop accepting until
 * the event loop's next turn, so that pending reads run first.
 */
static void
listen_burst_count(struct listener *l)
{
	struct timeval	now = { 0, 0 };

	if (++l->burst < LISTEN_ACCEPT_BURST)
		return;
	l->burst = 0;
	evconnlistener_disable(l->evl);
	evtimer_add(l->turn, &now);
}

/* A connection closed: drop it from the list; there is room again. */
static void
listen_conn_gone(void *arg, struct conn *c)
{
	struct listener	*l = arg;

	TAILQ_REMOVE(&l->conns, c, entry);
	l->nconns--;
	listen_resume(l);
}

/*
 * At the cap: close the connection idle longest without a complete request
 * to make room for a new one (a scan of the list, once per accept at the
 * cap). -1 when none may be closed.
 */
static int
listen_make_room(struct listener *l)
{
	struct conn	*c, *victim = NULL;
	time_t		 now;

	TAILQ_FOREACH(c, &l->conns, entry) {
		if (conn_evictable(c) &&
		    (victim == NULL || c->active_at < victim->active_at))
			victim = c;
	}
	if (victim == NULL)
		return -1;
	log_debug("peer %s: closed to make room: %zu connections open "
	    "(limit %u) and it has been idle longest", victim->peer.text,
	    l->nconns, l->d->conf.max_connections);
	l->evicted++;
	now = time(NULL);
	if (now - l->cap_logged >= LISTEN_CAP_LOG_SECONDS) {
		log_warn("connection limit of %u reached: closed %lu idle "
		    "connection%s to make room for new ones (raise "
		    "max_connections if these are real clients)",
		    l->d->conf.max_connections, l->evicted,
		    l->evicted == 1 ? "" : "s");
		l->cap_logged = now;
		l->evicted = 0;
	}
	conn_free(victim);	/* listen_conn_gone drops it from the list */
	return 0;
}

static void
listen_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener	*l = arg;
	struct conn	*c;

	(void)evl;
	if (l->exhausted) {
		l->exhausted = false;
		log_info("accepting connections again (%zu open)", l->nconns);
	}
	listen_burst_count(l);
	if (!l->stopped && l->nconns >= l->d->conf.max_connections)
		(void)listen_make_room(l);
	if (l->stopped || l->nconns >= l->d->conf.max_connections) {
		log_debug("connection refused: %zu connections open (limit %u)",
		    l->nconns, l->d->conf.max_connections);
		evutil_closesocket(fd);
		return;
	}
	c = conn_new(l->d, l->batch, fd, sa, (socklen_t)salen, listen_conn_gone, l);
	if (c == NULL)
		return;
	TAILQ_INSERT_TAIL(&l->conns, c, entry);
	l->nconns++;
}

static void
listen_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener	*l = arg;
	struct timeval	 tv = { LISTEN_RESUME_SECONDS, 0 };
	int		 err = EVUTIL_SOCKET_ERROR();

	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		/* Warn once per shortage, not on every retry. */
		if (!l->exhausted)
			log_warn("accept: %s; pausing the listener (%zu "
			    "connections open), retrying every second",
			    strerror(err), l->nconns);
		else
			log_debug("accept: %s; still paused", strerror(err));
		l->exhausted = true;
		evconnlistener_disable(evl);
		l->paused = true;
		evtimer_add(l->resume, &tv);
		return;
	}
	log_warn("accept: %s", strerror(err));
}

/* Free the listener's socket and timers, and l. */
static void
listen_release(struct listener *l)
{
	if (l->evl != NULL)
		evconnlistener_free(l->evl);
	if (l->resume != NULL)
		event_free(l->resume);
	if (l->turn != NULL)
		event_free(l->turn);
	batch_free(l->batch);
	free(l);
}

/* Bind and start accepting: see listen.h. */
int
listener_start(struct daemon *d, char *err, size_t errlen)
{
	struct listener		*l;
	struct addrinfo		 hints, *res = NULL;
	struct sockaddr_storage	 ss;
	char			 host[256], port[8];
	unsigned		 bound = 0;
	int			 rc;

	if (tcpaddr_split(d->conf.listen, host, sizeof(host), port,
	    sizeof(port)) == -1) {
		snprintf(err, errlen, "listen = %s: expected HOST:PORT or "
		    "[IPv6]:PORT, e.g. 127.0.0.1:7447", d->conf.listen);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "listen = %s: %s", d->conf.listen,
		    gai_strerror(rc));
		return -1;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		freeaddrinfo(res);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->d = d;
	TAILQ_INIT(&l->conns);
	if ((l->resume = evtimer_new(d->base, listen_resume_cb, l)) == NULL ||
	    (l->turn = evtimer_new(d->base, listen_turn_cb, l)) == NULL) {
		snprintf(err, errlen, "cannot create a timer");
		goto fail;
	}
	if ((l->batch = batch_new(d->base, d->signer, conn_batch_deliver)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	l->evl = evconnlistener_new_bind(d->base, listen_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    LISTEN_BACKLOG, res->ai_addr, (int)res->ai_addrlen);
	if (l->evl == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", d->conf.listen,
		    strerror(errno));
		goto fail;
	}
	evconnlistener_set_error_cb(l->evl, listen_error_cb);
	bound = tcpaddr_bound_port(evconnlistener_get_fd(l->evl), &ss);
	if (d->conf.port_file[0] != '\0' &&
	    tcpaddr_port_file_write(d->conf.port_file, bound) == -1) {
		snprintf(err, errlen, "cannot write the port file %s: %s",
		    d->conf.port_file, strerror(errno));
		goto fail;
	}
	freeaddrinfo(res);
	log_info("public TCP listener on %s (port %u)", d->conf.listen, bound);
	d->listener = l;
	return 0;
fail:
	freeaddrinfo(res);
	listen_release(l);
	return -1;
}

/* Stop accepting; connections in flight finish. */
void
listener_stop_accepting(struct listener *l)
{
	struct conn	*c, *next;

	if (l == NULL || l->stopped)
		return;
	l->stopped = true;
	evconnlistener_disable(l->evl);
	evtimer_del(l->resume);
	evtimer_del(l->turn);
	for (c = TAILQ_FIRST(&l->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_drain(c);
	}
}

/* Number of open public connections. */
size_t
listener_connections(const struct listener *l)
{
	return l == NULL ? 0 : l->nconns;
}

/* Close everything and free. */
void
listener_free(struct listener *l)
{
	struct conn	*c;

	if (l == NULL)
		return;
	l->freeing = true;
	while ((c = TAILQ_FIRST(&l->conns)) != NULL)
		conn_free(c);
	if (l->d->listener == l)
		l->d->listener = NULL;
	listen_release(l);
}
