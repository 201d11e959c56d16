/*
 * The admin listener: a Unix socket in the data dir (mode 0600) through which
 * keygate-admin manages products, editions, releases, keys, acts,
 * subscriptions and the audit log. Peers are checked by uid (SO_PEERCRED):
 * root, the daemon's own uid, and admin_uids from the config.
 *
 * Protocol: frames of a 4-byte big-endian length and a UTF-8 JSON object
 * (max 1 MiB). Request: {"op": "product.add", ...arguments}. Reply:
 *   {"ok": true, "result": {...}}  or  {"ok": true, "results": [{...}, ...]}
 *   {"ok": false, "reason": "<reason code>", "error": "<one line, what to do>"}
 * key.issue with "stream": true answers in several frames: lists with
 * "partial": true, then the final reply (proto/README.md, "Admin socket").
 * Ops and their arguments are listed in proto/README.md ("Admin socket").
 */
#ifndef KG_ADMIN_H
#define KG_ADMIN_H

#include <stddef.h>

struct daemon;
struct admin;

#define ADMIN_SOCKET_NAME	"admin.sock"
#define ADMIN_FRAME_MAX		(1024 * 1024)

/* Create the socket (replacing a stale one), mode 0600, and start serving. */
int	admin_start(struct daemon *d, char *err, size_t errlen);

/* Stop accepting; close connections; unlink the socket. */
void	admin_free(struct admin *a);

#endif
