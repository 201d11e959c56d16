/*
 * The admin socket's key ops (key.issue is admin_issue.c's): key.show,
 * key.list (re-signed a batch per step), key.extend (the vendor renews
 * support by the R7/R8 rules) and the state changes key.revoke,
 * key.suspend and key.reinstate (R12). Each change is one store call with
 * its audit record; a license is replaced only at the revision it was read
 * at (license_update), retried once when something changed it meanwhile.
 *
 * Decisions made here:
 * - key.extend applies renewal_compute with the product's current price and
 *   the edition's policy (the defaults when the edition record is missing,
 *   as redemption does), the term being the months given. The vendor's own
 *   extension does not check the licensee's prerequisite subscription
 *   (R11): that rule guards renewals the user buys with an act; the vendor
 *   decides for itself (a goodwill extension, a correction). The result
 *   says so: renewal.subscription_checked is false.
 * - key.extend refuses trial keys (trial_not_renewable) and revoked or
 *   suspended keys (revoked, suspended: reinstate first); it re-signs the
 *   key (revision + 1) with the active signing key, moves the license
 *   expiry with support for on-expiry demo editions, and fixes the
 *   activation time of a key that was never activated.
 * - The state lives in the store, so key.revoke, key.suspend and
 *   key.reinstate leave the key's revision (and text) alone: every copy of
 *   the key gets the new state. Revoking a suspended key revokes it;
 *   suspending a revoked key is refused (conflict: reinstate it first);
 *   reinstating works only from revoked or suspended and clears the stored
 *   reason (the reason given is kept in the audit record). The same state
 *   with the same reason again changes nothing and writes no audit record;
 *   with another reason it records the new reason.
 * - key.reissue re-signs a license with the active signing key (revision
 *   + 1, the stored key id becomes the active key's), whatever its state
 *   and whichever key signed it: after a signing key is compromised, the
 *   vendor reissues the licenses it signed and sends the new key texts to
 *   their licensees. The state and the dates do not change.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "admin_ops_int.h"
#include "daemon.h"
#include "kgerr.h"
#include "log.h"
#include "policy.h"
#include "signer.h"
#include "store.h"

/* key.list in progress: the matching serials, re-signed a batch per step. */
struct list_job {
	uint64_t	*serial;
	size_t		 n, cap, next;
};

static void
list_job_free(void *arg)
{
	struct list_job	*job = arg;

	if (job != NULL)
		free(job->serial);
	free(job);
}

/* key.show's members after key, regno and serial: see admin_ops_int.h. */
json_t *
admin_json_license_members(const struct kg_license *lic,
    enum kg_license_status status, const char *status_reason)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:b,s:I,s:s,s:o}",
	    "product", lic->product, "edition", lic->edition,
	    "licensee", lic->licensee, "created", admin_json_date(lic->created),
	    "support_expiry", admin_json_date(lic->support_expiry),
	    "license_expiry", admin_json_date(lic->license_expiry),
	    "support_months", (json_int_t)lic->support_months,
	    "trial", (int)lic->trial, "revision", (json_int_t)lic->revision,
	    "state", policy_status_name(status),
	    "state_reason", admin_json_text_or_null(status_reason));
}

/* The license as it stands, with its current key text re-signed from it. */
static json_t *
license_json(struct daemon *d, const struct store_license *sl)
{
	struct kg_license	 lic = sl->lic;
	json_t			*v, *members;
	char			*key = NULL;

	if (signer_license_key_new(d->signer, &lic, &key, NULL) != 0) {
		log_error("%s: cannot sign license serial %" PRIu64, __func__,
		    sl->lic.serial);
		return NULL;
	}
	v = json_pack("{s:s,s:s,s:I}", "key", key, "regno", lic.regno,
	    "serial", (json_int_t)lic.serial);
	free(key);
	members = admin_json_license_members(&lic, sl->status,
	    sl->status_reason);
	/* Objects keep their insertion order: key, regno, serial, the rest. */
	if (v == NULL || members == NULL ||
	    json_object_update(v, members) == -1) {
		json_decref(v);
		v = NULL;
	}
	json_decref(members);
	return v;
}

/* The license with registration number regno; -1 with a reply set. */
static int
license_need(struct admin_op *op, const char *regno, struct store_license *sl)
{
	int	rc;

	rc = op->d->store->ops->license_get_regno(op->d->store, regno, sl);
	if (rc == STORE_NOTFOUND) {
		admin_reply_error(op, "not_found", "no license has "
		    "registration number %s: see 'keygate-admin key list'",
		    regno);
		return -1;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "reading the license");
		return -1;
	}
	return 0;
}

/* key.show: a license by regno or by its key text. */
bool
admin_keys_show(struct admin_op *op)
{
	struct store_license	 sl;
	struct kg_license	 lic;
	char			 regno[KG_REGNO_MAX + 1];
	const char		*text;
	size_t			 n;
	int			 has_regno, has_key, rc;

	if ((has_regno = admin_arg_text(op, "regno", false, KG_REGNO_MAX,
	    regno)) == -1 ||
	    (has_key = admin_arg_string(op, "key", false, KG_KEY_TEXT_MAX,
	    &text, &n)) == -1)
		return false;
	if (has_regno + has_key != 1) {
		admin_reply_error(op, "bad_request", "%s: give either regno "
		    "or key", op->entry->name);
		return false;
	}
	if (has_key) {
		rc = license_key_parse(text, n, &op->d->trust, &lic);
		if (rc != KGE_OK) {
			admin_reply_error(op, "bad_request", "%s: the key "
			    "does not verify: %s", op->entry->name,
			    kge_strerror(rc));
			return false;
		}
		rc = op->d->store->ops->license_get_serial(op->d->store,
		    lic.serial, &sl);
		if (rc == STORE_NOTFOUND) {
			admin_reply_error(op, "not_found", "license serial %"
			    PRIu64 " (%s) is not in this store: was it issued "
			    "by another keygated?", lic.serial, lic.regno);
			return false;
		}
		if (rc != STORE_OK) {
			admin_reply_store_error(op, rc, "reading the license");
			return false;
		}
	} else if (license_need(op, regno, &sl) == -1)
		return false;
	admin_reply_result(op, license_json(op->d, &sl));
	return false;
}

struct key_filter {
	struct admin_op		*op;
	struct list_job		*job;
	char			 product[KG_CODE_MAX + 1];
	char			 edition[KG_CODE_MAX + 1];
	char			 licensee[KG_LICENSEE_MAX + 1];
	bool			 has_state;
	enum kg_license_status	 state;
	bool			 nomem;
};

static int
key_list_cb(void *ctx, const struct store_license *sl)
{
	struct key_filter	*f = ctx;
	struct list_job		*job = f->job;
	uint64_t		*p;
	size_t			 cap;

	if ((f->product[0] != '\0' && strcmp(f->product, sl->lic.product) != 0) ||
	    (f->edition[0] != '\0' && strcmp(f->edition, sl->lic.edition) != 0) ||
	    (f->licensee[0] != '\0' &&
	    strcmp(f->licensee, sl->lic.licensee) != 0) ||
	    (f->has_state && f->state != sl->status))
		return 0;
	if (job->n == job->cap) {
		cap = job->cap == 0 ? 256 : job->cap * 2;
		if ((p = reallocarray(job->serial, cap, sizeof(*p))) == NULL) {
			f->nomem = true;
			return 1;
		}
		job->serial = p;
		job->cap = cap;
	}
	job->serial[job->n++] = sl->lic.serial;
	return 0;
}

static int
serial_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* key.list, first step: the serials of the matching licenses. */
static int
key_list_start(struct admin_op *op)
{
	struct key_filter	f;
	struct store_product	prod;
	const char		*s;
	size_t			n;
	int			rc;

	memset(&f, 0, sizeof(f));
	f.op = op;
	if (admin_arg_code(op, "product", false, f.product) == -1 ||
	    admin_arg_code(op, "edition", false, f.edition) == -1 ||
	    admin_arg_text(op, "licensee", false, KG_LICENSEE_MAX,
	    f.licensee) == -1 ||
	    (rc = admin_arg_string(op, "state", false, 16, &s, &n)) == -1)
		return -1;
	if (rc == 1) {
		if (policy_status_parse(s, &f.state) == -1) {
			admin_reply_error(op, "bad_request", "%s: state: "
			    "expected active, revoked or suspended",
			    op->entry->name);
			return -1;
		}
		f.has_state = true;
	}
	if (f.product[0] != '\0' &&
	    admin_product_need(op, f.product, &prod) == -1)
		return -1;
	if ((f.job = calloc(1, sizeof(*f.job))) == NULL) {
		admin_reply_error(op, "internal", "out of memory: see "
		    "keygated's log");
		return -1;
	}
	op->job = f.job;
	op->job_free = list_job_free;
	rc = op->d->store->ops->license_list(op->d->store, key_list_cb, &f);
	if (f.nomem) {
		admin_reply_list_too_long(op);
		return -1;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "listing the licenses");
		return -1;
	}
	if (f.job->n > 1)
		qsort(f.job->serial, f.job->n, sizeof(uint64_t),
		    serial_cmp);
	if (admin_reply_list_begin(op) == -1) {
		admin_reply_list_too_long(op);
		return -1;
	}
	return 0;
}

/* key.list: re-sign and add listed licenses for up to ADMIN_STEP_MSEC a step. */
bool
admin_keys_list(struct admin_op *op)
{
	struct list_job		*job;
	struct store_license	 sl;
	int64_t			 start;
	int			 rc;

	if (op->job == NULL && key_list_start(op) == -1)
		return false;
	job = op->job;
	start = admin_clock_msec();
	while (job->next < job->n) {
		rc = op->d->store->ops->license_get_serial(op->d->store,
		    job->serial[job->next++], &sl);
		if (rc == STORE_NOTFOUND)
			continue;
		if (rc != STORE_OK) {
			admin_reply_store_error(op, rc, "reading a license");
			return false;
		}
		if (admin_reply_list_add(op, license_json(op->d, &sl)) == -1) {
			admin_reply_list_too_long(op);
			return false;
		}
		if (admin_clock_msec() - start >= ADMIN_STEP_MSEC)
			break;
	}
	if (job->next < job->n)
		return true;
	if (admin_reply_list_end(op) == -1)
		admin_reply_list_too_long(op);
	return false;
}

/* ---- key.extend ---- */

/* "active", "revoked (refund)" */
static void
state_text(const struct store_license *sl, char *out, size_t len)
{
	if (sl->status_reason[0] == '\0')
		snprintf(out, len, "%s", policy_status_name(sl->status));
	else
		snprintf(out, len, "%s (%s)", policy_status_name(sl->status),
		    sl->status_reason);
}

static void
date_text(kg_date d, char out[KG_DATE_TEXT_LEN])
{
	if (d == KG_DATE_NONE)
		snprintf(out, KG_DATE_TEXT_LEN, "none");
	else
		date_format(d, out);
}

/*
 * Plan the extension of cur by months as of today into *next and *q.
 * 0, or -1 with a reply set (trial, revoked, suspended, out of range).
 */
static int
extend_plan(struct admin_op *op, const struct store_license *cur,
    uint32_t months, struct store_license *next, struct kg_quote *q)
{
	struct store_product		prod;
	struct store_edition		ed;
	struct kg_edition_policy	policy;
	enum kg_reason			r;
	char				state[KG_REASON_TEXT_MAX + 32];
	int				rc;

	if (cur->lic.trial) {
		admin_reply_error(op, "trial_not_renewable", "%s is a trial "
		    "key and cannot be extended: issue a full key with "
		    "'keygate-admin key issue %s %s --licensee NAME'",
		    cur->lic.regno, cur->lic.product, cur->lic.edition);
		return -1;
	}
	if (cur->status != KG_STATUS_ACTIVE) {
		/* The reason code is the state: revoked or suspended. */
		state_text(cur, state, sizeof(state));
		admin_reply_error(op, policy_status_name(cur->status), "%s is "
		    "%s: reinstate it first with 'keygate-admin key reinstate "
		    "%s --reason TEXT'", cur->lic.regno, state, cur->lic.regno);
		return -1;
	}
	if (admin_product_need(op, cur->lic.product, &prod) == -1)
		return -1;
	rc = op->d->store->ops->edition_get(op->d->store, cur->lic.product,
	    cur->lic.edition, &ed);
	if (rc == STORE_OK)
		policy = ed.policy;
	else if (rc == STORE_NOTFOUND)
		policy_defaults(&policy);
	else {
		admin_reply_store_error(op, rc, "reading the edition");
		return -1;
	}
	/* R11 is not checked for the vendor's own extension: see the top. */
	policy.requires_subscription = false;
	r = renewal_compute(&policy, prod.price, cur->lic.support_expiry, months,
	    daemon_today(op->d), KG_DATE_NONE, q);
	if (r != KG_REASON_OK) {
		admin_reply_error(op, "bad_request", "%s: support of %s "
		    "extended by %" PRIu32 " months would end after "
		    "9999-12-31 (or the product's price is out of range): "
		    "give fewer months", op->entry->name, cur->lic.regno,
		    months);
		return -1;
	}
	*next = *cur;
	next->lic.support_expiry = q->new_expiry;
	if (policy.on_expiry == KG_ON_EXPIRY_DEMO)
		next->lic.license_expiry = q->new_expiry;
	next->lic.revision = cur->lic.revision + 1;
	memcpy(next->lic.key_id, signer_key_id(op->d->signer), KG_KEY_ID_LEN);
	next->updated_at = daemon_now(op->d);
	if (next->activated_at == 0)
		next->activated_at = next->updated_at;
	return 0;
}

/* key.extend: renew a key's support by months (R7, R8; R11 not checked). */
bool
admin_keys_extend(struct admin_op *op)
{
	struct store_license	 cur, next;
	struct store_audit	 audit;
	struct kg_quote		 q;
	json_t			*v, *renewal;
	char			 regno[KG_REGNO_MAX + 1];
	char			 from[KG_DATE_TEXT_LEN], to[KG_DATE_TEXT_LEN];
	char			 price[KG_MONEY_TEXT_LEN];
	uint32_t		 months;
	int			 attempt, rc;

	if (admin_arg_text(op, "regno", true, KG_REGNO_MAX, regno) == -1 ||
	    admin_arg_uint(op, "months", true, 1, KG_MONTHS_MAX, &months) == -1)
		return false;
	for (attempt = 0;; attempt++) {
		if (license_need(op, regno, &cur) == -1 ||
		    extend_plan(op, &cur, months, &next, &q) == -1)
			return false;
		date_text(cur.lic.support_expiry, from);
		date_format(q.new_expiry, to);
		money_format(q.price, price);
		store_audit_fill(&audit, next.updated_at, op->actor, "key.extend",
		    cur.lic.regno, "support %s -> %s, %s, %s, %" PRIu32 " months, "
		    "revision %" PRIu32 " -> %" PRIu32 ", subscription not "
		    "checked", from, to, policy_renewal_kind_name(q.kind), price,
		    months, cur.lic.revision, next.lic.revision);
		rc = op->d->store->ops->license_update(op->d->store, &next,
		    cur.lic.revision, &audit);
		if (rc != STORE_CONFLICT || attempt > 0)
			break;
		log_debug("admin: %s: key.extend %s: changed meanwhile; again",
		    op->actor, regno);
	}
	if (rc == STORE_CONFLICT) {
		admin_reply_error(op, "conflict", "%s changed twice while it "
		    "was being extended (renewals or checks at the same "
		    "moment): see 'keygate-admin key show %s' and try again",
		    regno, regno);
		return false;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "extending the key");
		return false;
	}
	log_info("admin: %s: key.extend %s by %" PRIu32 " months: support %s "
	    "-> %s, %s, %s", op->actor, regno, months, from, to,
	    policy_renewal_kind_name(q.kind), price);
	renewal = json_pack("{s:s,s:o,s:o,s:o,s:I,s:b}",
	    "kind", policy_renewal_kind_name(q.kind),
	    "price", admin_json_money(q.price),
	    "new_expiry", admin_json_date(q.new_expiry),
	    "old_expiry", admin_json_date(cur.lic.support_expiry),
	    "months", (json_int_t)months, "subscription_checked", 0);
	v = license_json(op->d, &next);
	if (v == NULL || renewal == NULL ||
	    json_object_set_new(v, "renewal", renewal) == -1) {
		json_decref(v);
		admin_reply_error(op, "internal", "%s was extended but the "
		    "reply could not be built: see it with 'keygate-admin key "
		    "show %s'", regno, regno);
		return false;
	}
	admin_reply_result(op, v);
	return false;
}

/* ---- key.revoke, key.suspend, key.reinstate ---- */

/*
 * Whether cur may move to state to; -1 with a conflict reply when not
 * (see the top of the file).
 */
static int
state_allowed(struct admin_op *op, const struct store_license *cur,
    enum kg_license_status to)
{
	const char	*regno = cur->lic.regno;
	char		 state[KG_REASON_TEXT_MAX + 32];

	if (to == KG_STATUS_ACTIVE && cur->status == KG_STATUS_ACTIVE) {
		admin_reply_error(op, "conflict", "%s is active: only a "
		    "revoked or suspended key can be reinstated", regno);
		return -1;
	}
	if (to == KG_STATUS_SUSPENDED && cur->status == KG_STATUS_REVOKED) {
		state_text(cur, state, sizeof(state));
		admin_reply_error(op, "conflict", "%s is %s: a revoked key "
		    "cannot be suspended; reinstate it first with "
		    "'keygate-admin key reinstate %s --reason TEXT'", regno,
		    state, regno);
		return -1;
	}
	return 0;
}

/* Move the key named by the "regno" argument to state to, with "reason". */
static bool
key_state_set(struct admin_op *op, enum kg_license_status to,
    const char *action)
{
	struct store_license	cur, next;
	struct store_audit	audit;
	char			regno[KG_REGNO_MAX + 1];
	char			reason[KG_REASON_TEXT_MAX + 1];
	char			before[KG_REASON_TEXT_MAX + 32];
	int			attempt, rc;

	if (admin_arg_text(op, "regno", true, KG_REGNO_MAX, regno) == -1 ||
	    admin_arg_text(op, "reason", true, KG_REASON_TEXT_MAX,
	    reason) == -1)
		return false;
	for (attempt = 0;; attempt++) {
		if (license_need(op, regno, &cur) == -1 ||
		    state_allowed(op, &cur, to) == -1)
			return false;
		next = cur;
		next.status = to;
		/* An active key has no state reason; the audit keeps it. */
		snprintf(next.status_reason, sizeof(next.status_reason), "%s",
		    to == KG_STATUS_ACTIVE ? "" : reason);
		if (next.status == cur.status &&
		    strcmp(next.status_reason, cur.status_reason) == 0) {
			/* Nothing changes: no store call, no audit record. */
			admin_reply_result(op, license_json(op->d, &cur));
			return false;
		}
		/* The revision stays: the state lives in the store. */
		next.updated_at = daemon_now(op->d);
		state_text(&cur, before, sizeof(before));
		store_audit_fill(&audit, next.updated_at, op->actor, action,
		    cur.lic.regno, "%s -> %s: %s", before,
		    policy_status_name(to), reason);
		rc = op->d->store->ops->license_update(op->d->store, &next,
		    cur.lic.revision, &audit);
		if (rc != STORE_CONFLICT || attempt > 0)
			break;
		log_debug("admin: %s: %s %s: changed meanwhile; again",
		    op->actor, action, regno);
	}
	if (rc == STORE_CONFLICT) {
		admin_reply_error(op, "conflict", "%s changed twice meanwhile "
		    "(renewals or checks at the same moment): see "
		    "'keygate-admin key show %s' and try again", regno, regno);
		return false;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "changing the key's state");
		return false;
	}
	log_info("admin: %s: %s %s: %s -> %s: %s", op->actor, action, regno,
	    before, policy_status_name(to), reason);
	admin_reply_result(op, license_json(op->d, &next));
	return false;
}

/* key.revoke: the key gets demo mode with reason revoked (R12). */
bool
admin_keys_revoke(struct admin_op *op)
{
	return key_state_set(op, KG_STATUS_REVOKED, "key.revoke");
}

/* key.suspend: demo mode with reason suspended until reinstated. */
bool
admin_keys_suspend(struct admin_op *op)
{
	return key_state_set(op, KG_STATUS_SUSPENDED, "key.suspend");
}

/* key.reinstate: a revoked or suspended key becomes active again. */
bool
admin_keys_reinstate(struct admin_op *op)
{
	return key_state_set(op, KG_STATUS_ACTIVE, "key.reinstate");
}

/* ---- key.reissue ---- */

/* key.reissue: re-sign a license with the active signing key. */
bool
admin_keys_reissue(struct admin_op *op)
{
	struct store_license	cur, next;
	struct store_audit	audit;
	char			regno[KG_REGNO_MAX + 1];
	char			was[2 * KG_KEY_ID_LEN + 1];
	char			now[2 * KG_KEY_ID_LEN + 1];
	int			attempt, rc;

	if (admin_arg_text(op, "regno", true, KG_REGNO_MAX, regno) == -1)
		return false;
	for (attempt = 0;; attempt++) {
		if (license_need(op, regno, &cur) == -1)
			return false;
		next = cur;
		next.lic.revision = cur.lic.revision + 1;
		memcpy(next.lic.key_id, signer_key_id(op->d->signer),
		    KG_KEY_ID_LEN);
		next.updated_at = daemon_now(op->d);
		sodium_bin2hex(was, sizeof(was), cur.lic.key_id, KG_KEY_ID_LEN);
		sodium_bin2hex(now, sizeof(now), next.lic.key_id, KG_KEY_ID_LEN);
		store_audit_fill(&audit, next.updated_at, op->actor, "key.reissue",
		    cur.lic.regno, "revision %" PRIu32 " -> %" PRIu32 ", signing "
		    "key %s -> %s", cur.lic.revision, next.lic.revision, was, now);
		rc = op->d->store->ops->license_update(op->d->store, &next,
		    cur.lic.revision, &audit);
		if (rc != STORE_CONFLICT || attempt > 0)
			break;
		log_debug("admin: %s: key.reissue %s: changed meanwhile; again",
		    op->actor, regno);
	}
	if (rc == STORE_CONFLICT) {
		admin_reply_error(op, "conflict", "%s changed twice while it was "
		    "being reissued (renewals or checks at the same moment): try "
		    "again", regno);
		return false;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "reissuing the key");
		return false;
	}
	log_info("admin: %s: key.reissue %s: revision %" PRIu32 ", signing key "
	    "%s", op->actor, regno, next.lic.revision, now);
	admin_reply_result(op, license_json(op->d, &next));
	return false;
}
