/*
 * The admin socket's operations (see admin.h for the protocol): a table of
 * {op name, handler}. admin.c owns sockets, frames and peers; this owns what
 * an op means: validating its arguments, calling the store (one store op
 * with its audit record per change) and writing the JSON reply.
 *
 * An op may take several steps (key.issue of many keys issues a batch per
 * step) so that the event loop keeps serving everyone else in between; a
 * streamed key.issue answers with a partial frame after each step and a
 * final one at the end.
 */
#ifndef KG_ADMIN_OPS_H
#define KG_ADMIN_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct daemon;
struct admin_op;

/*
 * Requests are at most ADMIN_FRAME_MAX bytes (admin.h); replies may be
 * longer, up to ADMIN_REPLY_MAX, because a list or a batch of keys is.
 */
#define ADMIN_REPLY_MAX		(256 * 1024 * 1024)
#define ADMIN_ISSUE_COUNT_MAX	1000000	/* keys in one key.issue */
/* ... in one key.issue without "stream": one reply holds them all */
#define ADMIN_ISSUE_UNSTREAMED_MAX	100000
#define ADMIN_IMPORT_ROWS_MAX	100000	/* licenses in one key.import session */

/*
 * Start answering the request req (a JSON object with a string "op"; the op
 * takes its own reference) on behalf of actor ("admin uid=0 root"). Never
 * NULL unless out of memory. Unknown ops and bad arguments are answered
 * with an error reply, not refused here.
 */
struct admin_op	*admin_op_new(struct daemon *d, const char *actor, json_t *req);

/* Do a bounded amount of work: true while more steps are needed. */
bool		 admin_op_step(struct admin_op *op);
/*
 * After admin_op_step returned true: 0 when the next step may come at
 * once, else the milliseconds to let pass first (the step found nothing
 * to do until the signer process or a store call in a thread of its own
 * answers; stepping sooner would only spin).
 */
int		 admin_op_wait_ms(const struct admin_op *op);

/*
 * The reply once admin_op_step returned false: *len bytes of JSON text, owned
 * by op (valid until admin_op_free).
 */
const char	*admin_op_reply(const struct admin_op *op, size_t *len);

/*
 * After admin_op_step returned true: the partial reply frame that step
 * made (a streamed key.issue), *len bytes owned by op until its next step,
 * to be sent before it; NULL when the step made none.
 */
const char	*admin_op_partial(const struct admin_op *op, size_t *len);

/*
 * Free op (NULL is fine); an op not finished stops where it is, except a
 * store transaction it started in a thread of its own, which runs to its
 * end there (see admin_bg_orphans_wait).
 */
void		 admin_op_free(struct admin_op *op);

/*
 * Wait until the store transactions of freed ops have ended (they run on
 * in their threads, which then free what they used); at shutdown, before
 * the store is closed.
 */
void		 admin_bg_orphans_wait(void);

/*
 * An error reply {"ok": false, "reason": reason, "error": error} as a
 * malloc'd string (*len bytes, NUL-terminated); NULL when out of memory.
 */
char		*admin_error_new(const char *reason, const char *error, size_t *len);

/* Free the key.import sessions still open (admin_csv.c); at shutdown. */
void		 admin_csv_sessions_free(void);

#endif
