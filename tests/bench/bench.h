/*
 * What kgbench's files share: the latency histogram (hist.c), the /proc
 * readers that measure the server (proc.c), opening many connections to
 * 127.0.0.1 (net.c), the key and act files (workload.c) and the checks of
 * one reply (reply.c).
 */
#ifndef KG_BENCH_H
#define KG_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "kglimits.h"

#define NS_PER_S		1000000000ULL
#define BENCH_REASON_LEN	48

/* ---- hist.c: latencies in ns, log-linear buckets (HDR style) ---- */

/* Below HIST_SUB exact, then HIST_HALF buckets per power of two (< 1.6% off). */
#define HIST_SUB_BITS		7
#define HIST_SUB		(1U << HIST_SUB_BITS)
#define HIST_HALF		(HIST_SUB / 2)
#define HIST_BUCKETS		(HIST_SUB + (64 - HIST_SUB_BITS) * HIST_HALF)

struct hist {
	uint64_t	count[HIST_BUCKETS];
	uint64_t	n;
	uint64_t	max;
};

/* Count one value. */
void		hist_add(struct hist *h, uint64_t v);

/* Add h's counts to into's. */
void		hist_merge(struct hist *into, const struct hist *h);

/* The value at quantile q (0..1): its bucket's top, never above the max; 0 when empty. */
uint64_t	hist_quantile(const struct hist *h, double q);

/* ---- proc.c: the server as /proc sees it ---- */

#define PROC_TREE_MAX		64	/* server processes followed */

/* pid and its descendants (keygated forks a signer), at most max; returns how many. */
size_t	proc_tree(long pid, long *tree, size_t max);

/* CPU seconds (user + system, reaped children included) of pid and its descendants, or -1. */
double	proc_cpu_seconds(long pid);

/* A "Name: N kB" line of /proc/PID/status (VmRSS, VmHWM), in kB, or -1. */
long	proc_status_kb(long pid, const char *name);

/* VmRSS of pid and its descendants together, in kB, or -1. */
long	proc_tree_rss_kb(long pid);

/* Open file descriptors of pid, or -1. */
long	proc_fd_count(long pid);

/* ---- net.c ---- */

/*
 * Open n non-blocking TCP_NODELAY connections to 127.0.0.1:port, a few
 * hundred in flight at a time, for 20 s at most. fds[i] is -1 for one that
 * failed (the first failure is told on stderr). Returns how many failed.
 */
uint32_t	net_conns_open(int *fds, uint32_t n, uint16_t port);

/* Raise the descriptor limit to the hard limit; -1 when need + 64 do not fit. */
int		net_nofile_raise(uint32_t need);

/* ---- workload.c ---- */

/* License keys (one a line), or "KEY ACT" pairs for activations. */
struct workload {
	char		**key;
	char		**act;		/* NULL unless pairs */
	size_t		  n;
	char		 *text;		/* the file's bytes, which key and act point into */
};

/*
 * Read path: keys, one a line, or with pairs "KEY ACT" lines; blank lines
 * skipped. 0, or -1 with the reason on stderr (unreadable, a bad line, a key
 * over KG_KEY_TEXT_MAX, no key at all).
 */
int	workload_load(struct workload *wl, const char *path, bool pairs);
void	workload_clear(struct workload *wl);

/* ---- reply.c ---- */

enum reply_result {
	REPLY_VERDICT,		/* a Verdict for this request */
	REPLY_ERROR,		/* an Error result for this request */
	REPLY_BAD,		/* not a Reply, or one for another request (nonce) */
};

/* What one reply said. */
struct reply_info {
	enum reply_result	result;
	bool			demo;		/* verdict "demo" */
	bool			renewed;	/* a renewal was applied */
	bool			verified;	/* signature and request hash good (when asked) */
	bool			batched;	/* signed in a batch (a Merkle path) */
	char			reason[BENCH_REASON_LEN]; /* error or verdict reason */
};

/*
 * Decode the Reply message buf (the frame without its length) and check it
 * answers the request with this nonce. With hash (BLAKE2b-256 of the Request
 * bytes) not NULL, also verify the reply's Ed25519 signature over
 * "keygate-reply-v1\0" || body with the trusted key it names, and its
 * request hash; info->verified tells the outcome.
 */
void	reply_inspect(const struct kg_trustset *ts, const uint8_t *buf,
	    size_t len, const uint8_t *nonce, size_t nonce_len,
	    const uint8_t *hash, struct reply_info *info);

#endif
