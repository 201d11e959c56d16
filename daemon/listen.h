/*
 * The public TCP listener: accepts product connections (connection cap,
 * EMFILE pause), frames requests and answers each with a signed reply.
 */
#ifndef KG_LISTEN_H
#define KG_LISTEN_H

#include <stddef.h>

struct daemon;
struct listener;

/*
 * Bind d->conf.listen ("HOST:PORT", port 0 = any free port) on d->base and
 * start accepting. Writes the bound port (decimal and '\n') to
 * d->conf.port_file when it is set. -1 with one line in err on failure.
 */
int	listener_start(struct daemon *d, char *err, size_t errlen);

/* Stop accepting new connections; connections in flight finish. */
void	listener_stop_accepting(struct listener *l);

/* Number of open public connections. */
size_t	listener_connections(const struct listener *l);

/* Close everything and free. */
void	listener_free(struct listener *l);

#endif
