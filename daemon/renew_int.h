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
	size_t			 slot;
	uint8_t			 nonce[KG_NONCE_MAX];
	size_t			 nonce_len;
	uint8_t			 hash[KG_HASH_LEN];
};

/* The activate requests of one loop turn, redeemed in one transaction. */
struct renew_queue {
	struct daemon		*d;
	struct batch		*batch;
	struct renew_job	*job;
	size_t			 n, cap;
	struct renew_queue	*next;		/* waiting for a group commit */
	bool			 committed;	/* ... which is done */
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
