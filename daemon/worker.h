/*
 * The public port's worker threads: conf.workers event loops (0: one per
 * CPU), each with its own listener on the one port (SO_REUSEPORT), its own
 * connections, reply batch and group commit, sharing the store, the signer
 * and the trust set. Worker 0 is the main thread's loop (which also runs the
 * admin socket, the metrics listener and the signals); the others run in
 * threads of their own.
 */
#ifndef KG_WORKER_H
#define KG_WORKER_H

#include <stddef.h>

struct daemon;

/*
 * Bind every worker's listener (the first one picks the port when the
 * configured one is 0), start the threads, and then write the bound port to
 * conf.port_file when it is set: the file appears once every worker
 * accepts. -1 with one line in err.
 */
int	workers_start(struct daemon *d, char *err, size_t errlen);

/*
 * From the main thread: every worker stops accepting, lets its connections
 * finish and leaves its loop after grace_sec seconds at most (0: at once).
 * Worker 0 stops accepting here; the caller ends the main loop.
 */
void	workers_stop(struct daemon *d, int grace_sec);

/* After the main loop ended: stop and join the threads, free everything. */
void	workers_free(struct daemon *d);

/* How many workers conf.workers means on this machine (1 to CONF_WORKERS_MAX). */
size_t	workers_count(unsigned configured);

#endif
