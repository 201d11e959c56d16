/*
 * The public TCP listener (SPEC section 4): binds conf.listen ("HOST:PORT" or
 * "[IPv6]:PORT", port 0 for any free port), accepts product connections and
 * keeps their list. worker.c makes one per worker thread and writes the
 * port file once all are bound.
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
 *
 * Worker threads (worker.c): each has a listener of its own on its own event
 * base, all bound to the one port with SO_REUSEPORT, so the kernel spreads
 * new connections among them; a connection stays with the thread that
 * accepted it. The cap counts every worker's connections (an atomic
 * counter); a worker at the cap closes the idlest of its own connections.
 * Two workers accepting at the same instant may pass the cap by one each.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdatomic.h>
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
#include "renew.h"
#include "tcpaddr.h"

#define LISTEN_BACKLOG		511
#define LISTEN_RESUME_SECONDS	1
#define LISTEN_CAP_LOG_SECONDS	60	/* one warning a minute at the cap */
#define LISTEN_ACCEPT_BURST	32	/* accepts before yielding to other events */

struct listener {
	struct daemon		*d;
	struct event_base	*base;
	struct evconnlistener	*evl;
	struct dispatch_loop	 loop;		/* signs the replies of a turn */
	struct event		*resume;	/* after an EMFILE pause */
	struct event		*turn;		/* after LISTEN_ACCEPT_BURST accepts */
	unsigned		 burst;		/* accepts since the last yield */
	struct conn_list	 conns;
	bool			 paused;	/* accept failed for lack of resources */
	bool			 exhausted;	/* ... and has not succeeded since */
	bool			 stopped;	/* listener_stop_accepting */
	bool			 freeing;
	time_t			 cap_logged;	/* last warning about the cap */
	unsigned long		 evicted;	/* closed to make room since then */
};

/* Open public connections, every worker's. */
static _Atomic size_t	listen_open;

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
	atomic_fetch_sub(&listen_open, 1);
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
	    atomic_load(&listen_open), l->d->conf.max_connections);
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
listen_accept_cb_locked(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener	*l = arg;
	struct conn	*c;

	(void)evl;
	if (l->exhausted) {
		l->exhausted = false;
		log_info("accepting connections again (%zu open)",
		    atomic_load(&listen_open));
	}
	listen_burst_count(l);
	if (!l->stopped && atomic_load(&listen_open) >= l->d->conf.max_connections)
		(void)listen_make_room(l);
	if (l->stopped || atomic_load(&listen_open) >= l->d->conf.max_connections) {
		log_debug("connection refused: %zu connections open (limit %u)",
		    atomic_load(&listen_open), l->d->conf.max_connections);
		evutil_closesocket(fd);
		return;
	}
	c = conn_new(l->d, l->base, &l->loop, fd, sa, (socklen_t)salen,
	    listen_conn_gone, l);
	if (c == NULL)
		return;
	TAILQ_INSERT_TAIL(&l->conns, c, entry);
	atomic_fetch_add(&listen_open, 1);
}

/* Accept with the daemon's shared state held shared (daemon.h). */
static void
listen_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener	*l = arg;

	daemon_shared_enter(l->d);
	listen_accept_cb_locked(evl, fd, sa, salen, arg);
	daemon_shared_leave(l->d);
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
			    strerror(err), atomic_load(&listen_open));
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
	renew_queue_free(l->loop.renew);	/* waits for its commit */
	batch_free(l->loop.batch);
	free(l);
}

/* Bind and start accepting: see listen.h. */
struct listener *
listener_new(struct daemon *d, struct event_base *base, unsigned port_override,
    bool reuseport, unsigned *bound_port, char *err, size_t errlen)
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
		return NULL;
	}
	if (port_override != 0)
		snprintf(port, sizeof(port), "%u", port_override & 0xffff);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "listen = %s: %s", d->conf.listen,
		    gai_strerror(rc));
		return NULL;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		freeaddrinfo(res);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->d = d;
	l->base = base;
	TAILQ_INIT(&l->conns);
	if ((l->resume = evtimer_new(base, listen_resume_cb, l)) == NULL ||
	    (l->turn = evtimer_new(base, listen_turn_cb, l)) == NULL) {
		snprintf(err, errlen, "cannot create a timer");
		goto fail;
	}
	l->loop.unhold = conn_unhold;
	if ((l->loop.batch = batch_new(d, base, conn_batch_deliver)) == NULL ||
	    (l->loop.renew = renew_queue_new(d, &l->loop, base)) == NULL) {
		snprintf(err, errlen, "out of memory, or no committer thread");
		goto fail;
	}
	l->evl = evconnlistener_new_bind(base, listen_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
	    (reuseport ? LEV_OPT_REUSEABLE_PORT : 0),
	    LISTEN_BACKLOG, res->ai_addr, (int)res->ai_addrlen);
	if (l->evl == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", d->conf.listen,
		    strerror(errno));
		goto fail;
	}
	evconnlistener_set_error_cb(l->evl, listen_error_cb);
	bound = tcpaddr_bound_port(evconnlistener_get_fd(l->evl), &ss);
	freeaddrinfo(res);
	*bound_port = bound;
	return l;
fail:
	freeaddrinfo(res);
	listen_release(l);
	return NULL;
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

/* Number of open public connections, every worker's. */
size_t
listener_connections(void)
{
	return atomic_load(&listen_open);
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
	listen_release(l);
}
