/*
 * keygated's metrics: counters the request path bumps (metrics_count_*) and
 * an optional HTTP listener (metrics_listen in keygated.conf, off by
 * default, loopback only unless metrics_allow_remote = yes) that serves them
 * at /metrics in the Prometheus text exposition format, and /healthz.
 *
 * The counters are one process-wide set owned by metrics.c; they count
 * whether or not the listener runs.
 */
#ifndef KG_METRICS_H
#define KG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct daemon;

/* Request types counted by keygate_requests_total{type}. */
enum metrics_request {
	METRICS_REQ_CHECK,
	METRICS_REQ_STATUS,
	METRICS_REQ_ACTIVATE,
	METRICS_REQ_ROTATIONS,
	METRICS_REQ_UNREADABLE,		/* a frame that named no request */
	METRICS_REQ__COUNT
};

/*
 * Check the metrics settings of c: metrics_listen empty (off), or
 * "HOST:PORT" / "[IPv6]:PORT" with a numeric address (or "localhost") that
 * is a loopback address unless metrics_allow_remote is set. -1 with one
 * line "path: what is wrong" in err.
 */
int	metrics_conf_check(const struct config *c, const char *path, char *err,
	    size_t errlen);

/*
 * Start the HTTP listener on d->base when d->conf.metrics_listen is set
 * (nothing to do otherwise) and write the bound port to
 * d->conf.metrics_port_file when that is set. -1 with one line in err.
 */
int	metrics_start(struct daemon *d, char *err, size_t errlen);

/* Stop the listener (if any) and close its connections. */
void	metrics_stop(void);

/* One request of type t arrived (or an unreadable frame). */
void	metrics_count_request(enum metrics_request t);

/*
 * One reply was signed: error says whether it is an Error reply (a
 * protocol or validation error) or a Verdict; reason is its reason code.
 */
void	metrics_count_reply(bool error, const char *reason);

/*
 * A check request was handled in nsec nanoseconds (handler only, signing
 * excluded); verdict is its verdict name, or NULL when it got an Error
 * reply.
 */
void	metrics_count_check(const char *verdict, uint64_t nsec);

/*
 * The outcome of one activate request: "renewed" (the store renewed the
 * key), "repeated" (the act was presented again by the key it renewed),
 * "error" (an Error reply) or the refusal's reason code.
 */
void	metrics_count_redemption(const char *result);

/* An activation-basis license had its support fixed by its first check. */
void	metrics_count_first_activation(void);

/* One reply signature signed n replies (1: directly; more: a Merkle batch). */
void	metrics_count_batch(size_t n);

/* One write transaction redeemed n acts (the group commit of a loop turn). */
void	metrics_count_group(size_t n);

#endif
