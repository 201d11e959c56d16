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
 * - Failure budgets (ratelimit.h: 5 a minute) are kept per license serial
 *   and per client address; either one spent answers rate_limited with
 *   Verdict.retry_after (the longer wait of the two). Only guesses are
 *   charged: act_unknown, act_void and act_wrong_*; a renewal, act_used,
 *   subscription_required, a repeat and a refusal of the key itself are
 *   not. An IPv6 client is counted by its /64 (one subscriber's prefix),
 *   an IPv4 client by its address.
 * - The rate limiter's tables are this module's state, created on the
 *   first activate request (keygated serves requests on one thread); with
 *   several nodes the limit is per node.
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#include "signer.h"
#include "store.h"

#define RENEW_LIMIT_KEY_MAX	(INET6_ADDRSTRLEN + 32)

/* The failure budgets: by license serial and by client address. */
static struct ratelimit	*limit_serial;
static struct ratelimit	*limit_addr;

/* Free the rate limiter's tables. */
void
renew_limits_free(void)
{
	ratelimit_free(limit_serial);
	ratelimit_free(limit_addr);
	limit_serial = NULL;
	limit_addr = NULL;
}

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

/* What is read before the write transaction. */
struct renew_pre {
	bool				product_known;
	kg_money			price;
	struct store_edition		edition;
	bool				have_edition;
	kg_date				subscription_until;
};

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
	err = st->ops->subscription_get(st, cur->lic.licensee,
	    &pre->subscription_until);
	if (err == STORE_NOTFOUND)
		pre->subscription_until = KG_DATE_NONE;
	else if (err != STORE_OK) {
		check_store_error(out, err, "subscription_get");
		return -1;
	}
	return 0;
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
};

/*
 * Fill out's Verdict for the license cur with reason (and applied, for a
 * renewal): the license's state as a status reply says it, the key, the
 * renewal. A renewal always carries the stored license re-signed; a refusal
 * only when the stored revision is newer than the presented key's.
 */
static void
renew_reply(const struct request_ctx *rc, const struct kg_license *key,
    const struct store_license *cur, const struct renew_pre *pre,
    enum kg_reason reason, const struct renew_applied *applied,
    struct handler_reply *out)
{
	struct store		*st = rc->d->store;
	struct store_release	*rels = NULL;
	struct kg_release	*rel = NULL;
	struct kg_check_input	 in;
	struct kg_verdict	 v;
	struct kg_license	 lic;
	size_t			 nrels = 0, i;
	int			 err;

	if (applied != NULL) {
		lic = cur->lic;
		free(out->key);
		out->key = NULL;
		if (signer_license_key_new(rc->d->signer, &lic, &out->key) != 0) {
			log_error("%s: cannot re-sign license serial=%" PRIu64,
			    __func__, lic.serial);
			out->key = NULL;
			handler_reply_error(out, "internal",
			    "the server could not sign the key");
			return;
		}
	} else if (check_key_resign(rc, key, cur, out) == -1)
		return;

	if (pre->product_known) {
		err = st->ops->release_list(st, cur->lic.product, &rels, &nrels);
		if (err == STORE_NOTFOUND) {
			rels = NULL;
			nrels = 0;
		} else if (err != STORE_OK) {
			check_store_error(out, err, "release_list");
			return;
		}
	}
	if (nrels > 0 && (rel = calloc(nrels, sizeof(*rel))) == NULL) {
		log_error("%s: out of memory", __func__);
		handler_reply_error(out, "internal", "the server is out of memory");
		goto done;
	}
	for (i = 0; i < nrels; i++)
		rel[i] = rels[i].rel;

	memset(&in, 0, sizeof(in));
	in.key_error = KGE_OK;
	in.lic = &cur->lic;
	in.status = cur->status;
	in.product = NULL;		/* the key's own product */
	in.product_known = pre->product_known;
	in.policy = pre->have_edition ? &pre->edition.policy : NULL;
	in.price = pre->price;
	in.releases = rel;
	in.nreleases = nrels;
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
done:
	free(rel);
	free(rels);
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
    const struct kg_license *key, const struct renew_pre *pre,
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
	log_debug("peer %s: act %s presented again by %s: same result",
	    rc->peer->text, number, cur.lic.regno);
	metrics_count_redemption("repeated");
	renew_reply(rc, key, &cur, pre, KG_REASON_OK, &applied, out);
}

/* Answer an activate request: see renew.h. */
void
renew_handle(const struct request_ctx *rc, const Keygate__ActivateRequest *rq,
    struct handler_reply *out)
{
	struct daemon		*d = rc->d;
	struct store		*st = d->store;
	struct store_license	 cur;
	struct kg_license	 key;
	struct renew_pre	 pre;
	struct renew_ctx	 ctx;
	struct renew_applied	 applied;
	enum kg_reason		 reason;
	enum check_load		 load;
	char			 skey[RENEW_LIMIT_KEY_MAX], akey[RENEW_LIMIT_KEY_MAX];
	char			 from[KG_DATE_TEXT_LEN], to[KG_DATE_TEXT_LEN];
	char			 price[KG_MONEY_TEXT_LEN];
	uint32_t		 wait_serial, wait_addr;
	int64_t			 now = daemon_now(d);
	bool			 limited;
	int			 err;

	if (!renew_act_number_valid(rq->act)) {
		handler_reply_error(out, "bad_request", "an act number is 1 to %d "
		    "letters, digits, '_', '.', '/' or '-'", KG_CODE_MAX);
		return;
	}
	snprintf(out->log, sizeof(out->log), "act=%s", rq->act);

	if ((err = license_key_parse(rq->key, strlen(rq->key), &d->trust,
	    &key)) != KGE_OK) {
		log_debug("peer %s: key rejected: %s", rc->peer->text,
		    kge_strerror(err));
		renew_refuse_bare(out, KG_REASON_BAD_KEY, 0);
		return;
	}
	snprintf(out->log + strlen(out->log), sizeof(out->log) - strlen(out->log),
	    " serial=%" PRIu64, key.serial);

	/* R16: a spent budget is answered before the store is touched. */
	if (renew_limits_get() == -1) {
		handler_reply_error(out, "internal", "the server is out of memory");
		return;
	}
	renew_limit_keys(rc->peer->host, key.serial, skey, sizeof(skey), akey,
	    sizeof(akey));
	limited = ratelimit_check(limit_serial, skey, now, &wait_serial) ==
	    RATELIMIT_LIMITED;
	if (ratelimit_check(limit_addr, akey, now, &wait_addr) ==
	    RATELIMIT_LIMITED)
		limited = true;
	if (limited) {
		log_debug("peer %s: act redemption by serial=%" PRIu64 " rate "
		    "limited for %" PRIu32 " s", rc->peer->text, key.serial,
		    wait_serial > wait_addr ? wait_serial : wait_addr);
		renew_refuse_bare(out, KG_REASON_RATE_LIMITED,
		    wait_serial > wait_addr ? wait_serial : wait_addr);
		return;
	}

	load = check_license_load(rc, rq->key, &key, &cur, out);
	if (load == CHECK_LOAD_ERROR)
		return;
	if (load == CHECK_LOAD_BAD_KEY) {
		renew_refuse_bare(out, KG_REASON_BAD_KEY, 0);
		return;
	}
	if (renew_pre_read(rc, &cur, &pre, out) == -1)
		return;
	if (cur.status != KG_STATUS_ACTIVE || cur.lic.trial) {
		reason = cur.status == KG_STATUS_REVOKED ? KG_REASON_REVOKED :
		    cur.status == KG_STATUS_SUSPENDED ? KG_REASON_SUSPENDED :
		    KG_REASON_TRIAL_NOT_RENEWABLE;
		renew_reply(rc, &key, &cur, &pre, reason, NULL, out);
		return;
	}
	if (!pre.product_known) {
		renew_reply(rc, &key, &cur, &pre, KG_REASON_UNKNOWN_PRODUCT, NULL,
		    out);
		return;
	}

	memset(&ctx, 0, sizeof(ctx));
	ctx.policy = pre.have_edition ? &pre.edition.policy : NULL;
	ctx.price = pre.price;
	ctx.subscription_until = pre.subscription_until;
	ctx.today = daemon_today(d);
	ctx.now = now;
	ctx.peer = rc->peer->host;
	memcpy(ctx.key_id, signer_key_id(d->signer), KG_KEY_ID_LEN);
	err = st->ops->act_redeem(st, rq->act, key.serial, renew_decide, &ctx,
	    &reason);

	if (err == STORE_OK) {
		renew_date_text(ctx.old_expiry, from);
		date_format(ctx.quote.new_expiry, to);
		money_format(ctx.quote.price, price);
		log_info("act %s redeemed by %s (serial=%" PRIu64 ") from %s: "
		    "support %s -> %s, %s, %s", rq->act, cur.lic.regno,
		    key.serial, rc->peer->host, from, to,
		    policy_renewal_kind_name(ctx.quote.kind), price);
		metrics_count_redemption("renewed");
		applied.kind = ctx.quote.kind;
		applied.price = ctx.quote.price;
		applied.new_expiry = ctx.quote.new_expiry;
		applied.months = ctx.months;
		applied.act = rq->act;
		renew_reply(rc, &key, &ctx.next, &pre, KG_REASON_OK, &applied, out);
		return;
	}
	if (err != STORE_REFUSED) {
		check_store_error(out, err, "act_redeem");
		return;
	}
	if (ctx.repeat) {
		renew_repeat(rc, rq->act, &key, &pre, out);
		return;
	}
	if (reason == KG_REASON_INTERNAL) {
		log_error("%s: act %s for serial=%" PRIu64 ": the renewal cannot "
		    "be computed (term or price out of range)", __func__, rq->act,
		    key.serial);
		handler_reply_error(out, "internal",
		    "the act's term cannot be applied to this key");
		return;
	}
	if (renew_reason_charged(reason)) {
		ratelimit_charge(limit_serial, skey, now);
		ratelimit_charge(limit_addr, akey, now);
		/* Say it once, when a caller runs out (not per locked-out try). */
		if (ratelimit_check(limit_serial, skey, now, &wait_serial) ==
		    RATELIMIT_LIMITED ||
		    ratelimit_check(limit_addr, akey, now, &wait_addr) ==
		    RATELIMIT_LIMITED)
			log_warn("peer %s: failure budget for act numbers spent "
			    "(%s, %s; last refusal %s): further tries are "
			    "answered rate_limited", rc->peer->text, akey, skey,
			    reason_name(reason));
	}
	log_debug("peer %s: act %s refused for serial=%" PRIu64 ": %s",
	    rc->peer->text, rq->act, key.serial, reason_name(reason));
	/* A refusal made inside the transaction: the license as it is now. */
	if ((err = st->ops->license_get_serial(st, key.serial, &cur)) != STORE_OK) {
		check_store_error(out, err, "license_get_serial");
		return;
	}
	renew_reply(rc, &key, &cur, &pre, reason, NULL, out);
}
