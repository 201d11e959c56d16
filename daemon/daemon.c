/*
 * The daemon's clock. With --test-clock keygated runs shifted to a chosen
 * date (tests and demos only); replies then carry the test_clock flag.
 */
#include <time.h>

#include "daemon.h"

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
