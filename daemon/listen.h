/*
 * The public TCP listener: accepts product connections (connection cap,
 * EMFILE pause), frames requests and answers each with a signed reply.
 */
#ifndef KG_LISTEN_H
#define KG_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

struct daemon;
struct event_base;
struct listener;

/*
 * Bind d->conf.listen ("HOST:PORT", port 0 = any free port) on base and
 * start accepting; port_override, when not 0, replaces the configured
 * port (the port the first worker got). reuseport sets SO_REUSEPORT so that
 * every worker's listener can bind the one port. *bound_port is the bound
 * port. NULL with one line in err on failure. Use the listener only from
 * base's thread.
 */
struct listener	*listener_new(struct daemon *d, struct event_base *base,
		    unsigned port_override, bool reuseport, unsigned *bound_port,
		    char *err, size_t errlen);

/* Stop accepting new connections; connections in flight finish. */
void	listener_stop_accepting(struct listener *l);

/* Number of open public connections, every worker's (any thread). */
size_t	listener_connections(void);

/* Close everything and free. */
void	listener_free(struct listener *l);

#endif
