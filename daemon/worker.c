/*
 * Worker threads on the public port: see worker.h.
 *
 * Why SO_REUSEPORT rather than one accepting thread handing connections
 * out: the kernel spreads connections among the listening sockets by the
 * hash of their addresses, with no thread in the middle and no queue to
 * lock, and a connection then lives its whole life on one event base.
 *
 * What the threads share, and how (see also daemon.h):
 * - the store: LMDB serialises writers itself; store.c keeps a read
 *   transaction per thread and a lock that lets the map grow only while no
 *   transaction is open;
 * - the signer: one socket to one signer process, behind a mutex
 *   (signer.c); each worker's batch makes one request per event-loop turn;
 * - conf, the trust set and the active key id: d->lock, held shared by a
 *   worker while it runs a callback and exclusive by the main thread while
 *   it changes them (SIGHUP, key rotation);
 * - counters (metrics.c), the connection cap (listen.c), the verified-key
 *   cache (keycache.c) and the failure budgets (renew.c) lock or are atomic.
 *
 * Signals are blocked in the worker threads, so that the main thread's
 * event loop gets them.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "daemon.h"
#include "listen.h"
#include "log.h"
#include "store.h"
#include "tcpaddr.h"
#include "worker.h"

struct worker {
	struct daemon		*d;
	size_t			 index;
	struct event_base	*base;		/* worker 0: d->base */
	struct listener		*listener;
	struct event		*stop;		/* made active by workers_stop */
	int			 grace_sec;
	pthread_t		 thread;
	bool			 running;	/* a thread was started */
};

/* How many workers: see worker.h. */
size_t
workers_count(unsigned configured)
{
	long	n;

	if (configured != 0)
		return configured > CONF_WORKERS_MAX ? CONF_WORKERS_MAX : configured;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > CONF_WORKERS_MAX ? CONF_WORKERS_MAX : (size_t)n;
}

/* In the worker's thread: stop accepting, finish, leave the loop. */
static void
worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	struct timeval	 grace = { w->grace_sec, 0 };

	(void)fd;
	(void)what;
	listener_stop_accepting(w->listener);
	event_base_loopexit(w->base, &grace);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;

	event_base_dispatch(w->base);
	store_thread_end(w->d->store);
	return NULL;
}

/* Start serving: see worker.h. */
int
workers_start(struct daemon *d, char *err, size_t errlen)
{
	struct worker	*w;
	sigset_t	 all, old;
	size_t		 n = workers_count(d->conf.workers), i;
	unsigned	 port = 0, bound;
	char		 name[32];	/* a thread name: 15 bytes at most */
	int		 rc;

	if ((d->workers = calloc(n, sizeof(*d->workers))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->nworkers = n;
	for (i = 0; i < n; i++) {
		w = &d->workers[i];
		w->d = d;
		w->index = i;
		if (i == 0)
			w->base = d->base;
		else if ((w->base = event_base_new()) == NULL) {
			snprintf(err, errlen, "cannot make an event base for "
			    "worker %zu", i);
			return -1;
		}
		if ((w->stop = event_new(w->base, -1, 0, worker_stop_cb, w)) ==
		    NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if ((w->listener = listener_new(d, w->base, port, n > 1, &bound,
		    err, errlen)) == NULL)
			return -1;
		port = bound;
	}

	/* The threads get no signals: the main loop handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 1; i < n; i++) {
		w = &d->workers[i];
		if ((rc = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			snprintf(err, errlen, "cannot start worker thread %zu: %s",
			    i, strerror(rc));
			return -1;
		}
		w->running = true;
		/* "keygated-w1": what ps -L and top -H show (best effort). */
		snprintf(name, sizeof(name), "keygated-w%zu", i);
		(void)pthread_setname_np(w->thread, name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (d->conf.port_file[0] != '\0' &&
	    tcpaddr_port_file_write(d->conf.port_file, port) == -1) {
		snprintf(err, errlen, "cannot write the port file %s: %s",
		    d->conf.port_file, strerror(errno));
		return -1;
	}
	log_info("public TCP listener on %s (port %u), %zu worker%s",
	    d->conf.listen, port, n, n == 1 ? "" : "s");
	return 0;
}

/* Tell every worker to stop: see worker.h. */
void
workers_stop(struct daemon *d, int grace_sec)
{
	struct worker	*w;
	size_t		 i;

	for (i = 0; i < d->nworkers; i++) {
		w = &d->workers[i];
		if (w->listener == NULL)
			continue;
		if (i == 0) {
			listener_stop_accepting(w->listener);
			continue;
		}
		w->grace_sec = grace_sec;
		if (w->stop != NULL)
			event_active(w->stop, 0, 0);
	}
}

/* Join and free: see worker.h. */
void
workers_free(struct daemon *d)
{
	struct worker	*w;
	size_t		 i;

	if (d->workers == NULL)
		return;
	workers_stop(d, 0);
	for (i = 1; i < d->nworkers; i++) {
		w = &d->workers[i];
		if (w->running)
			pthread_join(w->thread, NULL);
	}
	for (i = 0; i < d->nworkers; i++) {
		w = &d->workers[i];
		if (w->listener != NULL)
			listener_free(w->listener);
		if (w->stop != NULL)
			event_free(w->stop);
		if (i > 0 && w->base != NULL)
			event_base_free(w->base);
	}
	free(d->workers);
	d->workers = NULL;
	d->nworkers = 0;
}
