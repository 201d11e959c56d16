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
	struct kg_license	 key;
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
 * A loop's activate requests waiting for their group commit (renew_group.c):
 * job fills in the loop's thread; at the end of a turn, when the loop has
 * no group at the committer, they move to run and go to the committer
 * thread, which owns run until it sets committed and makes done active;
 * then they move to fin to be answered while the next group commits. The
 * three arrays trade places.
 */
struct renew_queue {
	struct daemon		*d;
	struct dispatch_loop	*loop;
	struct event		*turn;		/* the end of a turn with jobs */
	struct event		*done;		/* the committer is done with run */
	struct renew_jobs	 job;		/* waiting for the next group */
	struct renew_jobs	 run;		/* at the committer */
	struct renew_jobs	 fin;		/* committed, being answered */
	bool			 busy;		/* run is at the committer */
	bool			 committed;	/* ... and done (under its lock) */
	struct renew_queue	*next;		/* the committer's list */
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
