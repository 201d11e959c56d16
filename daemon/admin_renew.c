/*
 * The admin socket's renewal records, the vendor's side of R10 and R11:
 * acts (act.register, act.show, act.list, act.void) and the licensees'
 * prerequisite subscriptions (subscription.set, subscription.show).
 * Redeeming an act is renew.c's business (the public port); here the vendor
 * registers the acts it issued, looks at them and voids the ones it
 * cancelled. Each change is one store call with its audit record.
 *
 * Decisions made here:
 * - Act numbers are what redemption accepts (renew_act_number_valid):
 *   1..32 letters, digits, '_', '.', '/' or '-'.
 * - act.register refuses an unknown product or edition (not_found) before
 *   anything is stored. An act without an edition fits any edition of its
 *   product, one without a licensee any licensee (null in the result).
 * - An act's months are its own term: they override the edition's
 *   renewal_months at redemption.
 * - act.void of a redeemed act is refused (conflict: the renewal happened;
 *   revoke or correct the key instead); voiding a void act again changes
 *   nothing and writes no audit record.
 * - act.list is in act number order (bytewise); a product filter must name
 *   an existing product, like key.list's.
 * - subscription.set replaces the end date, earlier or later (a vendor
 *   cancelling a subscription sets it to a past day); the same date again
 *   changes nothing. A subscription is active through its end day, like
 *   support (R11 in renewal_compute).
 * - The audit record's object is the act number or the licensee; a
 *   licensee longer than an object holds is cut at a character boundary
 *   and written whole into the detail.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin_ops_int.h"
#include "daemon.h"
#include "log.h"
#include "policy.h"
#include "renew.h"
#include "store.h"
#include "text.h"

static const char *const act_state_names[] = {
	[STORE_ACT_OPEN] = "open",
	[STORE_ACT_REDEEMED] = "redeemed",
	[STORE_ACT_VOID] = "void",
};

static const char *
act_state_name(enum store_act_state s)
{
	return (size_t)s < sizeof(act_state_names) / sizeof(act_state_names[0]) ?
	    act_state_names[s] : "?";
}

static int
act_state_parse(const char *s, enum store_act_state *out)
{
	size_t	i;

	for (i = 0; i < sizeof(act_state_names) / sizeof(act_state_names[0]); i++)
		if (strcmp(s, act_state_names[i]) == 0) {
			*out = (enum store_act_state)i;
			return 0;
		}
	return -1;
}

/*
 * s cut to an audit object (STORE_OBJECT_MAX bytes) at a UTF-8 character
 * boundary; 1 when it was cut.
 */
static int
object_text(const char *s, char out[STORE_OBJECT_MAX + 1])
{
	size_t	n = text_utf8_cut(s, STORE_OBJECT_MAX);

	memcpy(out, s, n);
	out[n] = '\0';
	return s[n] != '\0';
}

/* ---- acts ---- */

/*
 * The act as a result object; a redeemed one names the license that
 * redeemed it (its regno read from the store) and the renewal applied.
 */
static json_t *
act_json(struct admin_op *op, const struct store_act *a)
{
	struct store_license	 sl;
	json_t			*v, *regno, *more;
	int			 rc;

	v = json_pack("{s:s,s:s,s:o,s:o,s:I,s:s,s:o,s:s}",
	    "number", a->number, "product", a->product,
	    "edition", admin_json_text_or_null(a->edition),
	    "licensee", admin_json_text_or_null(a->licensee),
	    "months", (json_int_t)a->months, "state", act_state_name(a->state),
	    "registered_at", admin_json_time(a->registered_at),
	    "registered_by", a->registered_by);
	if (v == NULL || a->state != STORE_ACT_REDEEMED)
		return v;
	rc = op->d->store->ops->license_get_serial(op->d->store, a->serial, &sl);
	if (rc == STORE_OK)
		regno = json_string(sl.lic.regno);
	else {
		if (rc != STORE_NOTFOUND)
			log_error("%s: act %s: license serial %" PRIu64 ": %s",
			    __func__, a->number, a->serial, store_strerror(rc));
		regno = json_null();
	}
	more = json_pack("{s:o,s:I,s:o,s:o,s:o,s:s,s:o}", "regno", regno,
	    "serial", (json_int_t)a->serial,
	    "redeemed_at", admin_json_time(a->redeemed_at),
	    "old_expiry", admin_json_date(a->old_expiry),
	    "new_expiry", admin_json_date(a->new_expiry),
	    "kind", policy_renewal_kind_name(a->kind),
	    "price", admin_json_money(a->price));
	if (more == NULL || json_object_update(v, more) == -1) {
		json_decref(more);
		json_decref(v);
		return NULL;
	}
	json_decref(more);
	return v;
}

/* The "number" argument: an act number. 0, or -1 with a reply set. */
static int
act_number_arg(struct admin_op *op, char out[KG_CODE_MAX + 1])
{
	const char	*s;
	size_t		 n;

	if (admin_arg_string(op, "number", true, KG_CODE_MAX, &s, &n) == -1)
		return -1;
	if (!renew_act_number_valid(s)) {
		admin_reply_error(op, "bad_request", "%s: number: expected 1 "
		    "to %d letters, digits, '_', '.', '/' or '-'",
		    op->entry->name, KG_CODE_MAX);
		return -1;
	}
	memcpy(out, s, n + 1);
	return 0;
}

/* The act number, or a not_found reply. 0 or -1. */
static int
act_need(struct admin_op *op, const char *number, struct store_act *act)
{
	int	rc;

	rc = op->d->store->ops->act_get(op->d->store, number, act);
	if (rc == STORE_NOTFOUND) {
		admin_reply_error(op, "not_found", "act %s is not registered: "
		    "see 'keygate-admin act list', or register it with "
		    "'keygate-admin act register %s --product CODE --months N'",
		    number, number);
		return -1;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "reading the act");
		return -1;
	}
	return 0;
}

/* act.register: record an act the vendor issued (R10). */
bool
admin_renew_act_register(struct admin_op *op)
{
	struct store_act	act;
	struct store_product	prod;
	struct store_edition	ed;
	struct store_audit	audit;
	int			rc;

	memset(&act, 0, sizeof(act));
	if (act_number_arg(op, act.number) == -1 ||
	    admin_arg_code(op, "product", true, act.product) == -1 ||
	    admin_arg_uint(op, "months", true, 1, KG_MONTHS_MAX,
	    &act.months) == -1 ||
	    admin_arg_code(op, "edition", false, act.edition) == -1 ||
	    admin_arg_text(op, "licensee", false, KG_LICENSEE_MAX,
	    act.licensee) == -1)
		return false;
	if (admin_product_need(op, act.product, &prod) == -1 ||
	    (act.edition[0] != '\0' &&
	    admin_edition_need(op, act.product, act.edition, &ed) == -1))
		return false;
	act.state = STORE_ACT_OPEN;
	act.registered_at = daemon_now(op->d);
	snprintf(act.registered_by, sizeof(act.registered_by), "%s", op->actor);
	store_audit_fill(&audit, act.registered_at, op->actor, "act.register",
	    act.number, "none -> open: product=%s edition=%s licensee=%s%s%s "
	    "months=%" PRIu32, act.product,
	    act.edition[0] != '\0' ? act.edition : "any",
	    act.licensee[0] != '\0' ? "\"" : "",
	    act.licensee[0] != '\0' ? act.licensee : "any",
	    act.licensee[0] != '\0' ? "\"" : "", act.months);
	rc = op->d->store->ops->act_register(op->d->store, &act, &audit);
	if (rc == STORE_EXISTS) {
		admin_reply_error(op, "exists", "act %s exists: see it with "
		    "'keygate-admin act show %s'", act.number, act.number);
		return false;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "registering the act");
		return false;
	}
	log_info("admin: %s: act.register %s: %s, %" PRIu32 " months",
	    op->actor, act.number, act.product, act.months);
	admin_reply_result(op, act_json(op, &act));
	return false;
}

/* act.show: one act. */
bool
admin_renew_act_show(struct admin_op *op)
{
	struct store_act	act;
	char			number[KG_CODE_MAX + 1];

	if (act_number_arg(op, number) == -1 || act_need(op, number, &act) == -1)
		return false;
	admin_reply_result(op, act_json(op, &act));
	return false;
}

struct act_filter {
	struct admin_op		*op;
	char			 product[KG_CODE_MAX + 1];
	bool			 has_state;
	enum store_act_state	 state;
};

static int
act_list_cb(void *ctx, const struct store_act *a)
{
	struct act_filter	*f = ctx;

	if ((f->product[0] != '\0' && strcmp(f->product, a->product) != 0) ||
	    (f->has_state && f->state != a->state))
		return 0;
	if (admin_reply_list_add(f->op, act_json(f->op, a)) == -1) {
		admin_reply_list_too_long(f->op);
		return 1;
	}
	return 0;
}

/* act.list: the acts, by number, filtered by product and state. */
bool
admin_renew_act_list(struct admin_op *op)
{
	struct act_filter	f;
	struct store_product	prod;
	const char		*s;
	size_t			 n;
	int			 rc;

	memset(&f, 0, sizeof(f));
	f.op = op;
	if (admin_arg_code(op, "product", false, f.product) == -1 ||
	    (rc = admin_arg_string(op, "state", false, 16, &s, &n)) == -1)
		return false;
	if (rc == 1) {
		if (act_state_parse(s, &f.state) == -1) {
			admin_reply_error(op, "bad_request", "%s: state: "
			    "expected open, redeemed or void", op->entry->name);
			return false;
		}
		f.has_state = true;
	}
	if (f.product[0] != '\0' &&
	    admin_product_need(op, f.product, &prod) == -1)
		return false;
	if (admin_reply_list_begin(op) == -1) {
		admin_reply_list_too_long(op);
		return false;
	}
	rc = op->d->store->ops->act_list(op->d->store, act_list_cb, &f);
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "listing the acts");
		return false;
	}
	if (!op->done && admin_reply_list_end(op) == -1)
		admin_reply_list_too_long(op);
	return false;
}

/* The refusal of voiding act, which was redeemed. */
static void
act_void_refuse(struct admin_op *op, const struct store_act *act)
{
	struct store_license	sl;
	char			day[KG_DATE_TEXT_LEN];
	const char		*regno = "a key";

	if (op->d->store->ops->license_get_serial(op->d->store, act->serial,
	    &sl) == STORE_OK)
		regno = sl.lic.regno;
	date_format(date_from_time((time_t)act->redeemed_at), day);
	admin_reply_error(op, "conflict", "act %s was redeemed by %s on %s and "
	    "cannot be voided: to take the renewal back, revoke the key or "
	    "extend it by other terms", act->number, regno, day);
}

/* act.void: cancel an open act; it can no longer be redeemed. */
bool
admin_renew_act_void(struct admin_op *op)
{
	struct store_act	act;
	struct store_audit	audit;
	char			number[KG_CODE_MAX + 1];
	int			rc;

	if (act_number_arg(op, number) == -1 || act_need(op, number, &act) == -1)
		return false;
	if (act.state == STORE_ACT_REDEEMED) {
		act_void_refuse(op, &act);
		return false;
	}
	if (act.state == STORE_ACT_VOID) {
		/* Voiding twice changes nothing. */
		admin_reply_result(op, act_json(op, &act));
		return false;
	}
	store_audit_fill(&audit, daemon_now(op->d), op->actor, "act.void",
	    number, "open -> void");
	rc = op->d->store->ops->act_void(op->d->store, number, &audit);
	if (rc == STORE_CONFLICT) {
		/* Redeemed since it was read. */
		if (act_need(op, number, &act) == 0)
			act_void_refuse(op, &act);
		return false;
	}
	if (rc == STORE_NOTFOUND) {
		act_need(op, number, &act);
		return false;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "voiding the act");
		return false;
	}
	log_info("admin: %s: act.void %s", op->actor, number);
	act.state = STORE_ACT_VOID;
	admin_reply_result(op, act_json(op, &act));
	return false;
}

/* ---- subscriptions ---- */

static json_t *
subscription_json(struct admin_op *op, const char *licensee, kg_date until)
{
	return json_pack("{s:s,s:o,s:b}", "licensee", licensee,
	    "until", admin_json_date(until),
	    "active", (int)(until != KG_DATE_NONE &&
	    until >= daemon_today(op->d)));
}

/* subscription.set: record the end of a licensee's subscription (R11). */
bool
admin_renew_subscription_set(struct admin_op *op)
{
	struct store_audit	audit;
	char			licensee[KG_LICENSEE_MAX + 1];
	char			object[STORE_OBJECT_MAX + 1];
	char			from[KG_DATE_TEXT_LEN], to[KG_DATE_TEXT_LEN];
	kg_date			until, before;
	int			rc;

	if (admin_arg_text(op, "licensee", true, KG_LICENSEE_MAX,
	    licensee) == -1 || admin_arg_date(op, "until", true, &until) == -1)
		return false;
	rc = op->d->store->ops->subscription_get(op->d->store, licensee,
	    &before);
	if (rc == STORE_NOTFOUND)
		before = KG_DATE_NONE;
	else if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "reading the subscription");
		return false;
	}
	if (before == until) {
		/* The same date again changes nothing. */
		admin_reply_result(op, subscription_json(op, licensee, until));
		return false;
	}
	if (before == KG_DATE_NONE)
		snprintf(from, sizeof(from), "none");
	else
		date_format(before, from);
	date_format(until, to);
	if (object_text(licensee, object))
		store_audit_fill(&audit, daemon_now(op->d), op->actor,
		    "subscription.set", object, "licensee \"%s\": %s -> %s",
		    licensee, from, to);
	else
		store_audit_fill(&audit, daemon_now(op->d), op->actor,
		    "subscription.set", object, "%s -> %s", from, to);
	rc = op->d->store->ops->subscription_set(op->d->store, licensee, until,
	    &audit);
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "recording the subscription");
		return false;
	}
	log_info("admin: %s: subscription.set \"%s\": %s -> %s", op->actor,
	    licensee, from, to);
	admin_reply_result(op, subscription_json(op, licensee, until));
	return false;
}

/* subscription.show: a licensee's subscription, active today or not. */
bool
admin_renew_subscription_show(struct admin_op *op)
{
	char	licensee[KG_LICENSEE_MAX + 1];
	kg_date	until;
	int	rc;

	if (admin_arg_text(op, "licensee", true, KG_LICENSEE_MAX,
	    licensee) == -1)
		return false;
	rc = op->d->store->ops->subscription_get(op->d->store, licensee, &until);
	if (rc == STORE_NOTFOUND) {
		admin_reply_error(op, "not_found", "licensee \"%s\" has no "
		    "subscription: record one with 'keygate-admin subscription "
		    "set LICENSEE --until YYYY-MM-DD'", licensee);
		return false;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "reading the subscription");
		return false;
	}
	admin_reply_result(op, subscription_json(op, licensee, until));
	return false;
}
