/*
 * The state the daemon's parts share: configuration, store, signer, trust
 * set, event base and clock.
 */
#ifndef KG_DAEMON_H
#define KG_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <time.h>

#include "conf.h"
#include "date.h"
#include "keys.h"

struct event_base;
struct store;
struct signer;
struct listener;
struct admin;

struct daemon {
	char			 datadir[PATH_MAX];
	struct config		 conf;
	struct store		*store;
	struct signer		*signer;
	struct kg_trustset	 trust;		/* public halves of signing keys */
	struct event_base	*base;
	struct listener		*listener;	/* public TCP */
	struct admin		*admin;		/* admin Unix socket */
	bool			 test_clock;	/* --test-clock: replies say so */
	time_t			 clock_offset;	/* added to the real time */
};

/* The daemon's clock: real time, or the test clock when started with one. */
time_t	daemon_now(const struct daemon *d);

/* daemon_now as a UTC calendar day. */
kg_date	daemon_today(const struct daemon *d);

#endif
