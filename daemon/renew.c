/*
 * Renewal by act number (SPEC R7-R12, R16): the activate request's handler.
 * The presented key is verified, the caller's failure budget is checked,
 * the license's product price, edition policy and licensee subscription are
 * read, and the store redeems the act in one write transaction in which
 * renew_decide applies the rules to the act and the license as they are
 * then. Exactly-once redemption is the store's guarantee (its write
 * transaction), not a lock here, so the same rule holds with several
 * keygated nodes on one shared store.
 *
 * Decisions made here:
 * - Order: the act number's syntax (bad_request, an Error reply), the key
 *   (bad_key), then the rate limit, before anything is read from the
 *   store, then the license's state (revoked, suspended, trial), then the
 *   redemption. A locked-out caller costs one signature check and no store
 *   access.
 * - Group commit (renew_group.c): the activate requests that pass those
 *   checks wait in the loop's renew queue and are redeemed together in one
 *   write transaction by the committer thread, in the order they arrived
 *   (one transaction takes what every worker has waiting; the requests
 *   that come while it is written make the next); their
 *   renewed keys are sent to the signer process just before the commit, so
 *   signing overlaps the disk writes; each reply is built after the commit.
 *   The failure budgets are checked again, and failures charged, inside
 *   the transaction for each redemption in turn (renew_gate, renew_done),
 *   so guesses pipelined in one write are limited exactly like guesses sent
 *   one at a time. A commit that fails leaves its charges in place.
 * - Failure budgets (ratelimit.h: 5 a minute) are kept per license serial
 *   and per client address; either one spent answers rate_limited with
 *   Verdict.retry_after (the longer wait of the two). Only guesses are
 *   charged: act_unknown, act_void and act_wrong_*; a renewal, act_used,
 *   subscription_required, a repeat and a refusal of the key itself are
 *   not. An IPv6 client is counted by its /64 (one subscriber's prefix),
 *   an IPv4 client by its address.
 * - The rate limiter's tables are this module's state, created on the
 *   first activate request and shared by the worker threads under
 *   limit_lock; with several nodes the limit is per node.
 * - Product price, edition policy (the defaults when the edition record is
 *   missing) and subscription are read before the write transaction
 *   (renew_decide must not call the store); the act and the license, which
 *   a concurrent redemption could change, are judged inside it.
 * - A repeat (the act was redeemed by this same license) changes nothing and
 *   gets the stored result: kind, price, months and new expiry from the act
 *   record, and the stored license re-signed. Ed25519 is deterministic, so
 *   while nothing else changed the repeat's reply is the original's.
 * - Support that was never fixed (an activation-basis key never checked)
 *   renews as if it expired today (renewal_compute). The act's term is the
 *   one applied, not the edition's renewal_months.
 * - For on-expiry demo editions the license expiry moves with the support
 *   expiry; otherwise it is left as it was.
 * - Every reply that knows the license carries its current state like a
 *   status reply (support and license expiry, days left, eligible and
 *   latest, state, a quote for the next renewal); a success carries the
 *   re-signed key, a refusal the stored key only when it is newer than the
 *   presented one. Verdict.verdict is left empty.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "check.h"
#include "daemon.h"
#include "date.h"
#include "kgerr.h"
#include "license.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "policy.h"
#include "ratelimit.h"
#include "renew.h"
#include "renew_int.h"
#include "signer.h"
#include "store.h"
#include "wire.h"

/* The failure budgets: by license serial and by client address. */
static struct ratelimit	*limit_serial;
static struct ratelimit	*limit_addr;

/* The worker threads share the tables. */
static pthread_mutex_t	 limit_lock = PTHREAD_MUTEX_INITIALIZER;

/* Free the rate limiter's tables. */
void
renew_limits_free(void)
{
	pthread_mutex_lock(&limit_lock);
	ratelimit_free(limit_serial);
	ratelimit_free(limit_addr);
	limit_serial = NULL;
	limit_addr = NULL;
	pthread_mutex_unlock(&limit_lock);
}

/* Make the tables when there are none yet; limit_lock held. 0 or -1. */
static int
renew_limits_get(void)
{
	if (limit_serial == NULL)
		limit_serial = ratelimit_new(RATELIMIT_CAPACITY, RATELIMIT_BUDGET,
		    RATELIMIT_PERIOD, NULL);
	if (limit_addr == NULL)
		limit_addr = ratelimit_new(RATELIMIT_CAPACITY, RATELIMIT_BUDGET,
		    RATELIMIT_PERIOD, NULL);
	return limit_serial != NULL && limit_addr != NULL ? 0 : -1;
}

/*
 * Is the caller of these keys over either budget at now? *wait is the
 * longer wait then. -1 when the tables cannot be made (out of memory).
 */
static int
renew_limited(const char *skey, const char *akey, int64_t now, uint32_t *wait)
{
	uint32_t	ws = 0, wa = 0;
	int		rv = -1;

	pthread_mutex_lock(&limit_lock);
	if (renew_limits_get() == 0) {
		rv = ratelimit_check(limit_serial, skey, now, &ws) ==
		    RATELIMIT_LIMITED;
		if (ratelimit_check(limit_addr, akey, now, &wa) ==
		    RATELIMIT_LIMITED)
			rv = 1;
	}
	pthread_mutex_unlock(&limit_lock);
	*wait = ws > wa ? ws : wa;
	return rv;
}

/* Charge one failure to both keys. */
static void
renew_charge(const char *skey, const char *akey, int64_t now)
{
	pthread_mutex_lock(&limit_lock);
	if (renew_limits_get() == 0) {
		ratelimit_charge(limit_serial, skey, now);
		ratelimit_charge(limit_addr, akey, now);
	}
	pthread_mutex_unlock(&limit_lock);
}

/* The rate limiter's keys of a request: "serial N" and "addr A" (a /64 for IPv6). */
static void
renew_limit_keys(const char *host, uint64_t serial, char *skey, size_t slen,
    char *akey, size_t alen)
{
	struct in6_addr	a6;
	char		text[INET6_ADDRSTRLEN];

	snprintf(skey, slen, "serial %" PRIu64, serial);
	if (strchr(host, ':') != NULL && inet_pton(AF_INET6, host, &a6) == 1 &&
	    !IN6_IS_ADDR_V4MAPPED(&a6)) {
		memset(&a6.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &a6, text, sizeof(text)) != NULL) {
			snprintf(akey, alen, "addr %s/64", text);
			return;
		}
	}
	snprintf(akey, alen, "addr %s", host);
}

/* 1 when a refusal is a guess that the failure budgets are charged for. */
static int
renew_reason_charged(enum kg_reason r)
{
	switch (r) {
	case KG_REASON_ACT_UNKNOWN:
	case KG_REASON_ACT_VOID:
	case KG_REASON_ACT_WRONG_PRODUCT:
	case KG_REASON_ACT_WRONG_EDITION:
	case KG_REASON_ACT_WRONG_LICENSEE:
		return 1;
	default:
		return 0;
	}
}

/* 1 when number is an act number: [A-Za-z0-9_./-]{1,KG_CODE_MAX}. */
int
renew_act_number_valid(const char *number)
{
	size_t	i;
	char	c;

	if (number == NULL || number[0] == '\0')
		return 0;
	for (i = 0; number[i] != '\0'; i++) {
		if (i >= KG_CODE_MAX)
			return 0;
		c = number[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '/' ||
		    c == '-'))
			return 0;
	}
	return 1;
}

static void
renew_date_text(kg_date d, char out[KG_DATE_TEXT_LEN])
{
	if (d == KG_DATE_NONE)
		snprintf(out, KG_DATE_TEXT_LEN, "none");
	else
		date_format(d, out);
}

/* The redemption rule, inside the store's write transaction: see renew.h. */
enum kg_reason
renew_decide(void *arg, const struct store_act *act,
    const struct store_license *cur, struct store_license *next_lic,
    struct store_act *next_act, struct store_audit *audit)
{
	struct renew_ctx		*c = arg;
	struct kg_edition_policy	 defaults;
	const struct kg_edition_policy	*p = c->policy;
	struct kg_quote			 q;
	enum kg_reason			 r;
	char				 actor[STORE_ACTOR_MAX + 1];
	char				 from[KG_DATE_TEXT_LEN], to[KG_DATE_TEXT_LEN];
	char				 price[KG_MONEY_TEXT_LEN];

	/* A store may run the rule more than once (a retried transaction). */
	c->repeat = false;
	c->months = 0;
	c->old_expiry = KG_DATE_NONE;
	memset(&c->quote, 0, sizeof(c->quote));
	memset(&c->next, 0, sizeof(c->next));
	if (p == NULL) {
		policy_defaults(&defaults);
		p = &defaults;
	}

	/* The license first: a revoked key learns nothing about acts. */
	if (cur->status == KG_STATUS_REVOKED)
		return KG_REASON_REVOKED;
	if (cur->status == KG_STATUS_SUSPENDED)
		return KG_REASON_SUSPENDED;
	if (cur->lic.trial)
		return KG_REASON_TRIAL_NOT_RENEWABLE;

	if (act->state == STORE_ACT_VOID)
		return KG_REASON_ACT_VOID;
	if (act->state == STORE_ACT_REDEEMED) {
		/* R10: the same key again gets the stored result, nothing new. */
		c->repeat = act->serial == cur->lic.serial;
		return KG_REASON_ACT_USED;
	}
	if (strcmp(act->product, cur->lic.product) != 0)
		return KG_REASON_ACT_WRONG_PRODUCT;
	if (act->edition[0] != '\0' && strcmp(act->edition, cur->lic.edition) != 0)
		return KG_REASON_ACT_WRONG_EDITION;
	if (act->licensee[0] != '\0' &&
	    strcmp(act->licensee, cur->lic.licensee) != 0)
		return KG_REASON_ACT_WRONG_LICENSEE;

	/* R7, R8, R11; an unfixed expiry counts as today. */
	r = renewal_compute(p, c->price, cur->lic.support_expiry, act->months,
	    c->today, c->subscription_until, &q);
	if (r != KG_REASON_OK)
		return r;

	*next_lic = *cur;
	next_lic->lic.support_expiry = q.new_expiry;
	if (p->on_expiry == KG_ON_EXPIRY_DEMO)
		next_lic->lic.license_expiry = q.new_expiry;
	next_lic->lic.revision = cur->lic.revision + 1;
	memcpy(next_lic->lic.key_id, c->key_id, KG_KEY_ID_LEN);
	if (next_lic->activated_at == 0)
		next_lic->activated_at = c->now;
	next_lic->updated_at = c->now;

	*next_act = *act;
	next_act->state = STORE_ACT_REDEEMED;
	next_act->serial = cur->lic.serial;
	next_act->redeemed_at = c->now;
	next_act->old_expiry = cur->lic.support_expiry;
	next_act->new_expiry = q.new_expiry;
	next_act->kind = q.kind;
	next_act->price = q.price;

	renew_date_text(cur->lic.support_expiry, from);
	renew_date_text(q.new_expiry, to);
	money_format(q.price, price);
	snprintf(actor, sizeof(actor), "tcp %s serial=%" PRIu64,
	    c->peer != NULL ? c->peer : "-", cur->lic.serial);
	store_audit_fill(audit, c->now, actor, "act.redeem", act->number,
	    "serial %" PRIu64 " %s: %s -> %s, %s, %s", cur->lic.serial,
	    cur->lic.regno, from, to, policy_renewal_kind_name(q.kind), price);

	c->quote = q;
	c->old_expiry = cur->lic.support_expiry;
	c->months = act->months;
	c->next = *next_lic;
	return KG_REASON_OK;
}

/* Read price, policy and subscription of cur's license. 0, or -1 with out an Error. */
static int
renew_pre_read(const struct request_ctx *rc, const struct store_license *cur,
    struct renew_pre *pre, struct handler_reply *out)
{
	struct store		*st = rc->d->store;
	struct store_product	 prod;
	int			 err;

	memset(pre, 0, sizeof(*pre));
	err = st->ops->product_get(st, cur->lic.product, &prod);
	if (err == STORE_OK) {
		pre->product_known = true;
		pre->price = prod.price;
	} else if (err != STORE_NOTFOUND) {
		check_store_error(out, err, "product_get");
		return -1;
	}
	err = st->ops->edition_get(st, cur->lic.product, cur->lic.edition,
	    &pre->edition);
	if (err == STORE_OK)
		pre->have_edition = true;
	else if (err != STORE_NOTFOUND) {
		check_store_error(out, err, "edition_get");
		return -1;
	}
	return check_subscription_load(st, pre->have_edition ?
	    &pre->edition.policy : NULL, cur->lic.licensee,
	    &pre->subscription_until, out);
}

/*
 * The applied renewal for the reply: kind, price, new expiry, months, act.
 */
struct renew_applied {
	enum kg_renewal_kind	kind;
	kg_money		price;
	kg_date			new_expiry;
	uint32_t		months;
	const char		*act;
	const char		*key;	/* the renewed key, signed already, or NULL */
};

/*
 * Fill out's Verdict for the license cur with reason (and applied, for a
 * renewal): the license's state as a status reply says it, the key, the
 * renewal. A renewal always carries the stored license re-signed; a refusal
 * only when the stored revision is newer than the presented key's.
 */
static void
renew_reply(const struct request_ctx *rc, const struct keycache_key *key,
    const struct store_license *cur, const struct renew_pre *pre,
    enum kg_reason reason, const struct renew_applied *applied,
    struct handler_reply *out)
{
	struct check_releases	 rs;
	struct kg_check_input	 in;
	struct kg_verdict	 v;

	rs.v = rs.inline_v;
	rs.n = 0;
	if (applied != NULL && applied->key != NULL) {
		free(out->key);
		if ((out->key = strdup(applied->key)) == NULL) {
			handler_reply_error(out, "internal",
			    "the server is out of memory");
			return;
		}
	} else if (check_key_resign(rc, applied != NULL ? NULL : key, cur,
	    out) == -1)
		return;

	if (pre->product_known &&
	    check_releases_load(rc, cur->lic.product, &rs, out) == -1)
		return;

	memset(&in, 0, sizeof(in));
	in.key_error = KGE_OK;
	in.lic = &cur->lic;
	in.status = cur->status;
	in.product = NULL;		/* the key's own product */
	in.product_known = pre->product_known;
	in.policy = pre->have_edition ? &pre->edition.policy : NULL;
	in.price = pre->price;
	in.releases = rs.v;
	in.nreleases = rs.n;
	in.today = daemon_today(rc->d);
	in.subscription_until = pre->subscription_until;
	policy_check(&in, &v);
	check_verdict_fill(out, true, cur, &v);
	out->verdict.reason = (char *)reason_name(reason);

	if (applied != NULL) {
		snprintf(out->act, sizeof(out->act), "%s", applied->act);
		out->renewal.kind = (char *)policy_renewal_kind_name(applied->kind);
		out->renewal.price = applied->price;
		out->renewal.new_expiry = applied->new_expiry > 0 ?
		    (uint32_t)applied->new_expiry : 0;
		out->renewal.months = applied->months;
		out->renewal.act = out->act;
		out->verdict.renewal = &out->renewal;
	}
	check_releases_clear(&rs);
}

/* A refusal that knows no license: only the reason (and retry_after). */
static void
renew_refuse_bare(struct handler_reply *out, enum kg_reason reason,
    uint32_t retry_after)
{
	out->verdict.verdict = (char *)"";
	out->verdict.reason = (char *)reason_name(reason);
	out->verdict.retry_after = retry_after;
}

/* A repeat by the license that redeemed the act: answer the stored result. */
static void
renew_repeat(const struct request_ctx *rc, const char *number,
    const struct keycache_key *key, const struct renew_pre *pre,
    struct handler_reply *out)
{
	struct store		*st = rc->d->store;
	struct store_act	 act;
	struct store_license	 cur;
	struct renew_applied	 applied;
	int			 err;

	if ((err = st->ops->act_get(st, number, &act)) != STORE_OK) {
		check_store_error(out, err, "act_get");
		return;
	}
	if ((err = st->ops->license_get_serial(st, key->serial, &cur)) != STORE_OK) {
		check_store_error(out, err, "license_get_serial");
		return;
	}
	if (act.state != STORE_ACT_REDEEMED || act.serial != cur.lic.serial) {
		/* Only the vendor can change a redeemed act; it did not. */
		log_error("%s: act %s changed between redemption and re-read",
		    __func__, number);
		handler_reply_error(out, "internal", "the server's records changed; "
		    "try again");
		return;
	}
	applied.kind = act.kind;
	applied.price = act.price;
	applied.new_expiry = act.new_expiry;
	applied.months = act.months;
	applied.act = act.number;
	applied.key = NULL;
	log_debug("peer %s: act %s presented again by %s: same result",
	    rc->peer->text, number, cur.lic.regno);
	metrics_count_redemption("repeated");
	renew_reply(rc, key, &cur, pre, KG_REASON_OK, &applied, out);
}

/*
 * Everything before the redemption: the act number's syntax, the key, the
 * rate limit, the license and what the decision reads. 1 when job is ready
 * to be redeemed, 0 when out is the answer already.
 */
static int
renew_begin(const struct request_ctx *rc, const Keygate__ActivateRequest *rq,
    struct renew_job *job, struct handler_reply *out)
{
	struct daemon		*d = rc->d;
	enum kg_reason		 reason;
	enum check_load		 load;
	uint32_t		 wait;
	int			 err, limited;

	memset(job, 0, sizeof(*job));
	job->now = daemon_now(d);
	job->peer = *rc->peer;
	if (!renew_act_number_valid(rq->act)) {
		handler_reply_error(out, "bad_request", "an act number is 1 to %d "
		    "letters, digits, '_', '.', '/' or '-'", KG_CODE_MAX);
		return 0;
	}
	memcpy(job->act, rq->act, strlen(rq->act) + 1);
	snprintf(out->log, sizeof(out->log), "act=%s", rq->act);

	if ((err = check_key_parse(rq->key, &d->trust, &job->key)) != KGE_OK) {
		log_debug("peer %s: key rejected: %s", rc->peer->text,
		    kge_strerror(err));
		renew_refuse_bare(out, KG_REASON_BAD_KEY, 0);
		return 0;
	}
	snprintf(out->log + strlen(out->log), sizeof(out->log) - strlen(out->log),
	    " serial=%" PRIu64, job->key.serial);

	/* R16: a spent budget is answered before the store is touched. */
	renew_limit_keys(rc->peer->host, job->key.serial, job->skey,
	    sizeof(job->skey), job->akey, sizeof(job->akey));
	if ((limited = renew_limited(job->skey, job->akey, job->now,
	    &wait)) == -1) {
		handler_reply_error(out, "internal", "the server is out of memory");
		return 0;
	}
	if (limited) {
		log_debug("peer %s: act redemption by serial=%" PRIu64 " rate "
		    "limited for %" PRIu32 " s", rc->peer->text, job->key.serial,
		    wait);
		renew_refuse_bare(out, KG_REASON_RATE_LIMITED, wait);
		return 0;
	}

	load = check_license_load(rc, rq->key, &job->key, &job->cur, out);
	if (load == CHECK_LOAD_ERROR)
		return 0;
	if (load == CHECK_LOAD_BAD_KEY) {
		renew_refuse_bare(out, KG_REASON_BAD_KEY, 0);
		return 0;
	}
	if (renew_pre_read(rc, &job->cur, &job->pre, out) == -1)
		return 0;
	if (job->cur.status != KG_STATUS_ACTIVE || job->cur.lic.trial) {
		reason = job->cur.status == KG_STATUS_REVOKED ? KG_REASON_REVOKED :
		    job->cur.status == KG_STATUS_SUSPENDED ? KG_REASON_SUSPENDED :
		    KG_REASON_TRIAL_NOT_RENEWABLE;
		renew_reply(rc, &job->key, &job->cur, &job->pre, reason, NULL, out);
		return 0;
	}
	if (!job->pre.product_known) {
		renew_reply(rc, &job->key, &job->cur, &job->pre,
		    KG_REASON_UNKNOWN_PRODUCT, NULL, out);
		return 0;
	}
	job->ctx.price = job->pre.price;
	job->ctx.subscription_until = job->pre.subscription_until;
	job->ctx.today = daemon_today(d);
	job->ctx.now = job->now;
	return 1;
}

/*
 * R16 inside the group's transaction (store_redeem.gate and .done): each
 * redemption is checked against the failure budgets as they stand after the
 * redemptions before it in the group, and its failure is charged at once,
 * so that requests pipelined in one write get no more guesses than requests
 * sent one at a time. A retried transaction keeps the first verdict and
 * charges nothing twice.
 */
static enum kg_reason
renew_gate(void *arg)
{
	struct renew_ctx	*c = arg;
	uint32_t		 wait;

	if (c->judged)
		return c->gate_reason;
	c->judged = true;
	c->gate_reason = KG_REASON_OK;
	c->retry_after = 0;
	if (c->limit_serial_key == NULL)
		return KG_REASON_OK;
	if (renew_limited(c->limit_serial_key, c->limit_addr_key, c->now,
	    &wait) == 1) {
		c->gate_reason = KG_REASON_RATE_LIMITED;
		c->retry_after = wait;
	}
	return c->gate_reason;
}

static void
renew_done(void *arg, enum kg_reason reason)
{
	struct renew_ctx	*c = arg;

	if (c->charged || !renew_reason_charged(reason) ||
	    c->limit_serial_key == NULL)
		return;
	c->charged = true;
	renew_charge(c->limit_serial_key, c->limit_addr_key, c->now);
}

/* job's redemption for the store: see renew_int.h. */
void
renew_job_request(struct daemon *d, struct renew_job *job,
    struct store_redeem *r)
{
	job->ctx.policy = job->pre.have_edition ? &job->pre.edition.policy : NULL;
	job->ctx.peer = job->peer.host;
	job->ctx.limit_serial_key = job->skey;
	job->ctx.limit_addr_key = job->akey;
	job->ctx.judged = false;
	job->ctx.charged = false;
	/* The active key at the redemption: a rotation may have come. */
	memcpy(job->ctx.key_id, signer_key_id(d->signer), KG_KEY_ID_LEN);
	memset(r, 0, sizeof(*r));
	r->number = job->act;
	r->serial = job->key.serial;
	r->decide = renew_decide;
	r->gate = renew_gate;
	r->done = renew_done;
	r->ctx = &job->ctx;
}

/* Everything after the redemption r of job: see renew_int.h. */
void
renew_finish(struct daemon *d, struct renew_job *job,
    const struct store_redeem *r, struct handler_reply *out)
{
	struct request_ctx	 rc = { .d = d, .peer = &job->peer };
	struct store		*st = d->store;
	struct renew_applied	 applied;
	uint32_t		 wait;
	char			 from[KG_DATE_TEXT_LEN], to[KG_DATE_TEXT_LEN];
	char			 price[KG_MONEY_TEXT_LEN];
	int			 err;

	if (r->err == STORE_OK) {
		renew_date_text(job->ctx.old_expiry, from);
		date_format(job->ctx.quote.new_expiry, to);
		money_format(job->ctx.quote.price, price);
		log_info("act %s redeemed by %s (serial=%" PRIu64 ") from %s: "
		    "support %s -> %s, %s, %s", job->act, job->cur.lic.regno,
		    job->key.serial, job->peer.host, from, to,
		    policy_renewal_kind_name(job->ctx.quote.kind), price);
		metrics_count_redemption("renewed");
		applied.kind = job->ctx.quote.kind;
		applied.price = job->ctx.quote.price;
		applied.new_expiry = job->ctx.quote.new_expiry;
		applied.months = job->ctx.months;
		applied.act = job->act;
		applied.key = job->key_text;
		renew_reply(&rc, &job->key, &job->ctx.next, &job->pre,
		    KG_REASON_OK, &applied, out);
		return;
	}
	if (r->err != STORE_REFUSED) {
		check_store_error(out, r->err, "act_redeem");
		return;
	}
	if (r->reason == KG_REASON_RATE_LIMITED) {
		log_debug("peer %s: act redemption by serial=%" PRIu64 " rate "
		    "limited for %" PRIu32 " s", job->peer.text, job->key.serial,
		    job->ctx.retry_after);
		renew_refuse_bare(out, KG_REASON_RATE_LIMITED,
		    job->ctx.retry_after);
		return;
	}
	if (job->ctx.repeat) {
		renew_repeat(&rc, job->act, &job->key, &job->pre, out);
		return;
	}
	if (r->reason == KG_REASON_INTERNAL) {
		log_error("%s: act %s for serial=%" PRIu64 ": the renewal cannot "
		    "be computed (term or price out of range)", __func__, job->act,
		    job->key.serial);
		handler_reply_error(out, "internal",
		    "the act's term cannot be applied to this key");
		return;
	}
	if (job->ctx.charged) {
		/* Say it once, when a caller runs out (not per locked-out try). */
		if (renew_limited(job->skey, job->akey, job->now, &wait) == 1)
			log_warn("peer %s: failure budget for act numbers spent "
			    "(%s, %s; last refusal %s): further tries are "
			    "answered rate_limited", job->peer.text, job->akey,
			    job->skey, reason_name(r->reason));
	}
	log_debug("peer %s: act %s refused for serial=%" PRIu64 ": %s",
	    job->peer.text, job->act, job->key.serial, reason_name(r->reason));
	/* A refusal made inside the transaction: the license as it is now. */
	if ((err = st->ops->license_get_serial(st, job->key.serial,
	    &job->cur)) != STORE_OK) {
		check_store_error(out, err, "license_get_serial");
		return;
	}
	renew_reply(&rc, &job->key, &job->cur, &job->pre, r->reason, NULL, out);
}

/* Answer an activate request: see renew.h. */
void
renew_handle(const struct request_ctx *rc, const Keygate__ActivateRequest *rq,
    struct handler_reply *out)
{
	struct renew_job	job;
	struct store_redeem	r;
	struct store		*st = rc->d->store;

	/* renew_begin's reads share one read transaction. */
	store_read_hold(st);
	if (renew_begin(rc, rq, &job, out) == 0) {
		store_read_release(st);
		return;
	}
	store_read_release(st);
	if (rc->loop != NULL && rc->loop->renew != NULL && rc->req != NULL &&
	    renew_defer(rc, &job) == 0) {
		out->deferred = true;
		return;
	}
	renew_job_request(rc->d, &job, &r);
	(void)st->ops->act_redeem_many(st, &r, 1, NULL, NULL);
	renew_finish(rc->d, &job, &r, out);
}
