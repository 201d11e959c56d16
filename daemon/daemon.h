/*
 * The state the daemon's parts share: configuration, store, signer, trust
 * set, event base and clock.
 */
#ifndef KG_DAEMON_H
#define KG_DAEMON_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "date.h"
#include "keys.h"

struct event_base;
struct store;
struct signer;
struct admin;
struct worker;

struct daemon {
	char			 datadir[PATH_MAX];
	struct config		 conf;
	struct store		*store;
	struct signer		*signer;
	struct kg_trustset	 trust;		/* public halves of signing keys */
	struct event_base	*base;
	struct worker		*workers;	/* the public port's threads (worker.c) */
	size_t			 nworkers;
	/*
	 * What worker threads read and the main thread changes: conf, trust,
	 * the signer's active key. Workers hold it shared while they run a
	 * callback (daemon_shared_enter); the main thread holds it exclusive
	 * while it changes one of them (daemon_exclusive_enter). A zeroed
	 * struct daemon has a usable lock and turn (glibc's initializers are
	 * all zeros).
	 *
	 * glibc's rwlock lets readers in while a writer waits. The committer
	 * thread (renew_group.c) holds it shared for a whole commit and starts
	 * the next at once, so under a stream of activations the main thread
	 * might never get it: a writer holds turn while it waits for the
	 * lock, and the committer passes through turn (daemon_shared_turn)
	 * before each round.
	 */
	pthread_rwlock_t	 lock;
	pthread_mutex_t		 turn;
	struct admin		*admin;		/* admin Unix socket */
	bool			 test_clock;	/* --test-clock: replies say so */
	time_t			 clock_offset;	/* added to the real time */
};

/* Take d->lock shared (a worker's callback) or exclusive (the main thread). */
void	daemon_shared_enter(struct daemon *d);
void	daemon_shared_leave(struct daemon *d);
void	daemon_exclusive_enter(struct daemon *d);
void	daemon_exclusive_leave(struct daemon *d);
/* daemon_shared_enter after any writer that is waiting for the lock. */
void	daemon_shared_turn(struct daemon *d);

/* The daemon's clock: real time, or the test clock when started with one. */
time_t	daemon_now(const struct daemon *d);

/* daemon_now as a UTC calendar day. */
kg_date	daemon_today(const struct daemon *d);

#endif
