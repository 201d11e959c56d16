/*
 * What renew.c and renew_group.c share: an activate request waiting for its
 * redemption (renew_job) and the loop's queue of them (renew_queue). Only
 * those two files include this.
 */
#ifndef KG_RENEW_INT_H
#define KG_RENEW_INT_H

#include <arpa/inet.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"
#include "keycache.h"
#include "kglimits.h"
#include "renew.h"
#include "store.h"

#define RENEW_LIMIT_KEY_MAX	(INET6_ADDRSTRLEN + 32)

/* What is read before the write transaction. */
struct renew_pre {
	bool				product_known;
	kg_money			price;
	struct store_edition		edition;
	bool				have_edition;
	kg_date				subscription_until;
};

/*
 * An activate request between its checks and its redemption: everything
 * renew_finish needs once the store has ruled, copied out of the request
 * (the connection may be gone by then).
 */
struct renew_job {
	struct dispatch_peer	 peer;
	char			 act[KG_CODE_MAX + 1];
	struct keycache_key	 key;
	struct store_license	 cur;
	struct renew_pre	 pre;
	struct renew_ctx	 ctx;
	char			 skey[RENEW_LIMIT_KEY_MAX];
	char			 akey[RENEW_LIMIT_KEY_MAX];
	int64_t			 now;
	char			*key_text;	/* renewed: its key, signed in the group */
	struct store_redeem	 r;		/* a deferred one's redemption */
	/* a deferred one's reply: */
	void			*owner;		/* NULL: gone (renew_forget) */
	uint8_t			 nonce[KG_NONCE_MAX];
	size_t			 nonce_len;
	uint8_t			 hash[KG_HASH_LEN];
};

/* Jobs in an array allocated once for the load (cap), n of them in use. */
struct renew_jobs {
	struct renew_job	*v;
	size_t			 n, cap;
};

/*
 * A loop's activate requests waiting for their group commit (renew_group.c).
 * They pass through five arrays, which trade places rather than copy:
 * - job, the loop's: filled during a turn;
 * - pub, under the committer's lock: published at the end of the turn
 *   (appended when the committer has not taken the last ones yet);
 * - run, the committer's: taken from pub when a round starts, without
 *   waiting for the loop, so the next group starts as soon as the last is
 *   durable;
 * - ripe, under the lock: committed, the done event made active (appended
 *   when the loop has not taken the last ones yet);
 * - fin, the loop's: taken from ripe and answered.
 */
struct renew_queue {
	struct daemon		*d;
	struct dispatch_loop	*loop;
	struct event		*turn;		/* the end of a turn with jobs */
	struct event		*done;		/* ripe has jobs */
	struct renew_jobs	 job;
	struct renew_jobs	 pub;
	struct renew_jobs	 run;
	struct renew_jobs	 ripe;
	struct renew_jobs	 fin;
	bool			 in_round;	/* run is at the committer (lock) */
	bool			 closing;	/* renew_queue_free (lock) */
	struct renew_queue	*next;		/* every queue (lock) */
	struct renew_queue	*round_next;	/* the committer's round */
};

/* job's redemption for the store, its pointers into job where it now lies. */
void	renew_job_request(struct daemon *d, struct renew_job *job,
	    struct store_redeem *r);

/* Everything after the redemption r of job: the answer into out. */
void	renew_finish(struct daemon *d, struct renew_job *job,
	    const struct store_redeem *r, struct handler_reply *out);

/*
 * Park job in the loop's queue with a place kept for its reply. 0, or -1
 * when it cannot wait (then it is redeemed at once).
 */
int	renew_defer(const struct request_ctx *rc, const struct renew_job *job);

#endif
