/*
 * Renewal by act number over the public TCP port (SPEC R7, R8, R10, R11,
 * R12, R16): the activate request's handler and the redemption rule the
 * store runs inside its write transaction.
 */
#ifndef KG_RENEW_H
#define KG_RENEW_H

#include <stdbool.h>
#include <stdint.h>

#include "date.h"
#include "dispatch.h"
#include "keygate.pb-c.h"
#include "kglimits.h"
#include "money.h"
#include "policy.h"
#include "store.h"

/*
 * Answer an activate request into out: a Verdict whose reason is ok (with
 * Verdict.renewal and the re-signed key) or the refusal reason (bad_key,
 * revoked, suspended, trial_not_renewable, unknown_product, act_unknown,
 * act_used, act_void, act_wrong_product, act_wrong_edition,
 * act_wrong_licensee, subscription_required, rate_limited with
 * Verdict.retry_after); or an Error reply (bad_request for a malformed act
 * number, storage_full, internal). Verdict.verdict stays empty.
 */
void	renew_handle(const struct request_ctx *rc,
	    const Keygate__ActivateRequest *rq, struct handler_reply *out);

struct event_base;
struct renew_queue;

/*
 * Group commit: activate requests answered through a dispatch_loop whose
 * renew queue is set wait there and are redeemed together in one durable
 * write transaction (act_redeem_many) by the committer thread, which takes
 * what every loop has waiting whenever it is free; a loop goes on serving
 * meanwhile, and the requests that come during one commit make the next
 * group. Each reply is built after its commit and goes into the loop's
 * batch for its owner, and loop->unhold(owner) is called, so an
 * acknowledged renewal is durable. Without a queue (dispatch_frame) an
 * activate request is redeemed at once.
 * renew_queue_new makes the queue of loop, whose events run on base (the
 * first queue starts the committer thread); renew_queue_free waits for the
 * queue's group at the committer, drops what still waits (call it after
 * the loop has stopped) and stops the committer with the last queue.
 * NULL (logged) when out of memory or no thread can be started.
 */
struct renew_queue	*renew_queue_new(struct daemon *d, struct dispatch_loop *loop,
			    struct event_base *base);
void			 renew_queue_free(struct renew_queue *q);

/* owner is gone: its waiting activate requests are redeemed, not answered. */
void			 renew_forget(struct renew_queue *q, const void *owner);

/*
 * Free the failure rate limiter's tables (created on the first activate
 * request); the next request starts with empty ones. For shutdown and tests.
 */
void	renew_limits_free(void);

/*
 * 1 when number is an act number: 1..KG_CODE_MAX characters of
 * [A-Za-z0-9_./-]; else 0.
 */
int	renew_act_number_valid(const char *number);

/*
 * What renew_decide is given and gives back. The handler reads product,
 * edition and subscription before the store's write transaction and fills
 * the inputs; renew_decide (re)sets the outputs on every call.
 */
struct renew_ctx {
	/* in */
	const struct kg_edition_policy	*policy;	/* NULL: defaults */
	kg_money			 price;		/* product's current price */
	kg_date				 subscription_until;	/* KG_DATE_NONE: none */
	kg_date				 today;
	int64_t				 now;		/* Unix seconds */
	const char			*peer;		/* client address, for the audit actor */
	uint8_t				 key_id[KG_KEY_ID_LEN];	/* active signing key */
	const char			*limit_serial_key;	/* R16 budgets (NULL: none) */
	const char			*limit_addr_key;
	/* out */
	bool				 judged;	/* the budgets were checked (a retry keeps it) */
	enum kg_reason			 gate_reason;	/* ... KG_REASON_OK or rate_limited */
	uint32_t			 retry_after;	/* ... when rate_limited */
	bool				 charged;	/* a failure was charged */
	bool				 repeat;	/* the act was redeemed by this license */
	struct kg_quote			 quote;		/* the renewal applied */
	kg_date				 old_expiry;	/* support expiry before it */
	uint32_t			 months;
	struct store_license		 next;		/* the license as renewed */
};

/*
 * The redemption rule (a store_redeem_fn; ctx is a struct renew_ctx), run
 * by the store inside its write transaction with the act and the license as
 * they are now. Refuses, changing nothing: revoked, suspended,
 * trial_not_renewable, act_void, act_used (with ctx->repeat set when this
 * license redeemed the act: the caller answers the stored result),
 * act_wrong_product, act_wrong_edition, act_wrong_licensee, and whatever
 * renewal_compute refuses (subscription_required, internal). Otherwise
 * fills the renewed license (support expiry, license expiry for on-expiry
 * demo editions, revision + 1, key id, activated_at when unset), the
 * redeemed act and the audit record, and returns KG_REASON_OK.
 */
enum kg_reason	renew_decide(void *ctx, const struct store_act *act,
		    const struct store_license *cur, struct store_license *next_lic,
		    struct store_act *next_act, struct store_audit *audit);

#endif
