/*
 * The daemon's clock. With --test-clock keygated runs shifted to a chosen
 * date (tests and demos only); replies then carry the test_clock flag. And
 * the lock on what the worker threads share.
 */
#include <time.h>

#include "daemon.h"

/* d->lock: see daemon.h. */
void
daemon_shared_enter(struct daemon *d)
{
	(void)pthread_rwlock_rdlock(&d->lock);
}

void
daemon_shared_leave(struct daemon *d)
{
	(void)pthread_rwlock_unlock(&d->lock);
}

void
daemon_exclusive_enter(struct daemon *d)
{
	(void)pthread_mutex_lock(&d->turn);
	(void)pthread_rwlock_wrlock(&d->lock);
	(void)pthread_mutex_unlock(&d->turn);
}

void
daemon_shared_turn(struct daemon *d)
{
	(void)pthread_mutex_lock(&d->turn);
	(void)pthread_mutex_unlock(&d->turn);
	(void)pthread_rwlock_rdlock(&d->lock);
}

void
daemon_exclusive_leave(struct daemon *d)
{
	(void)pthread_rwlock_unlock(&d->lock);
}

/* Real time, shifted by the test clock's offset when there is one. */
time_t
daemon_now(const struct daemon *d)
{
	return time(NULL) + d->clock_offset;
}

/* daemon_now as a UTC calendar day. */
kg_date
daemon_today(const struct daemon *d)
{
	return date_from_time(daemon_now(d));
}
