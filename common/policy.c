/*
 * The business rules of SPEC sections 1 and 2: edition defaults, the names
 * of every policy enum (the wire and JSON contract), the renewal of support
 * (R7, R8, R11) and the verdict of an update check. Everything here is a pure
 * function of its arguments: no I/O, no clock, no allocation. The daemon
 * fetches state, calls these, and stores the result; the clients use the
 * same code to explain a reply.
 *
 * Decisions the spec leaves open, made here:
 * - Support and subscriptions are valid through their whole end day:
 *   "expired" always means today > end.
 * - An early renewal (today <= expiry) costs the grace price, like a renewal
 *   in the grace window: in both cases support stays continuous.
 * - A license whose support expiry is not fixed yet (activation basis, never
 *   checked) renews as if it expired today: early, from today.
 * - eligible is the newest release by version that is published, dated on
 *   or before today and on or before the support expiry; latest is the newest
 *   published release dated on or before today. Scheduled releases (dated
 *   after today) are invisible, drafts and withdrawn releases never count.
 *   Of two releases that compare equal (2.0 and 2.0.0) the first one given
 *   wins. A key whose support expiry is not fixed has no eligible release.
 * - A version the caller runs is "covered" (row 2 does not apply) when it is
 *   a visible release (published or withdrawn, dated on or before today)
 *   dated on or before the support expiry, or when it is no visible release
 *   at all (a private build, a draft, a scheduled release) and
 *   either support still runs or it is not newer than eligible.
 * - A status request (no installed version) skips rows 2 to 4 for it and
 *   answers current with ok or support_expired.
 * - The product the caller asks about may be NULL (a status request): the
 *   key's own product is meant and wrong_product cannot apply.
 * - eligible and latest are filled for row-1 answers too whenever the key
 *   decoded (so a reply can say what the key may run); never for bad_key.
 * - A quote is offered only for a valid key of the product asked about, a
 *   known product, an active, non-trial license with a fixed support expiry,
 *   and only when renewal_compute accepts (a missing subscription means no
 *   quote).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "date.h"
#include "kgerr.h"
#include "license.h"
#include "money.h"
#include "policy.h"
#include "version.h"

#define POLICY_PERCENT_MAX	1000	/* money_percent's own limit */

static const char *const reason_names[KG_REASON__COUNT] = {
	[KG_REASON_OK] = "ok",
	[KG_REASON_SUPPORT_EXPIRED] = "support_expired",
	[KG_REASON_LICENSE_EXPIRED] = "license_expired",
	[KG_REASON_REVOKED] = "revoked",
	[KG_REASON_SUSPENDED] = "suspended",
	[KG_REASON_BAD_KEY] = "bad_key",
	[KG_REASON_WRONG_PRODUCT] = "wrong_product",
	[KG_REASON_UNKNOWN_PRODUCT] = "unknown_product",
	[KG_REASON_NOT_ELIGIBLE] = "not_eligible",
	[KG_REASON_NOT_ACTIVATED] = "not_activated",
	[KG_REASON_SUBSCRIPTION_REQUIRED] = "subscription_required",
	[KG_REASON_TRIAL_NOT_RENEWABLE] = "trial_not_renewable",
	[KG_REASON_ACT_UNKNOWN] = "act_unknown",
	[KG_REASON_ACT_USED] = "act_used",
	[KG_REASON_ACT_VOID] = "act_void",
	[KG_REASON_ACT_WRONG_PRODUCT] = "act_wrong_product",
	[KG_REASON_ACT_WRONG_EDITION] = "act_wrong_edition",
	[KG_REASON_ACT_WRONG_LICENSEE] = "act_wrong_licensee",
	[KG_REASON_RATE_LIMITED] = "rate_limited",
	[KG_REASON_BAD_VERSION] = "bad_version",
	[KG_REASON_BAD_REQUEST] = "bad_request",
	[KG_REASON_PROTOCOL_VERSION] = "protocol_version",
	[KG_REASON_FRAME_TOO_LARGE] = "frame_too_large",
	[KG_REASON_STORAGE_FULL] = "storage_full",
	[KG_REASON_INTERNAL] = "internal",
};

static const char *const basis_names[] = {
	[KG_BASIS_CREATION] = "creation",
	[KG_BASIS_ACTIVATION] = "activation",
};

static const char *const on_expiry_names[] = {
	[KG_ON_EXPIRY_FALLBACK] = "fallback",
	[KG_ON_EXPIRY_DEMO] = "demo",
};

static const char *const release_state_names[] = {
	[KG_RELEASE_DRAFT] = "draft",
	[KG_RELEASE_PUBLISHED] = "published",
	[KG_RELEASE_WITHDRAWN] = "withdrawn",
};

static const char *const status_names[] = {
	[KG_STATUS_ACTIVE] = "active",
	[KG_STATUS_REVOKED] = "revoked",
	[KG_STATUS_SUSPENDED] = "suspended",
};

static const char *const verdict_names[] = {
	[KG_VERDICT_UPDATE] = "update",
	[KG_VERDICT_FALLBACK] = "fallback",
	[KG_VERDICT_CURRENT] = "current",
	[KG_VERDICT_DEMO] = "demo",
};

static const char *const renewal_kind_names[] = {
	[KG_RENEWAL_EARLY] = "early",
	[KG_RENEWAL_GRACE] = "grace",
	[KG_RENEWAL_STANDARD] = "standard",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Out-of-range enum values get this name, which no parser accepts. */
static const char unknown_name[] = "unknown";

static const char *
table_name(const char *const *names, size_t n, int v)
{
	if (v < 0 || (size_t)v >= n || names[v] == NULL)
		return unknown_name;
	return names[v];
}

static int
table_parse(const char *const *names, size_t n, const char *s, int *out)
{
	size_t	i;

	if (s == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (names[i] != NULL && strcmp(names[i], s) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return -1;
}

/* Fill p with SPEC section 1's defaults. */
void
policy_defaults(struct kg_edition_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->support_months = 6;			/* R2 */
	p->basis = KG_BASIS_CREATION;		/* R3 */
	p->on_expiry = KG_ON_EXPIRY_FALLBACK;	/* R6 */
	p->renewal_months = 12;			/* R7 */
	p->grace_months = 1;			/* R7 */
	p->grace_percent = 25;			/* R8 */
	p->standard_percent = 45;		/* R8 */
	p->requires_subscription = false;	/* R11 */
}

/* "creation" or "activation". */
const char *
policy_basis_name(enum kg_basis b)
{
	return table_name(basis_names, NELEM(basis_names), (int)b);
}

/* Parse a basis name; 0 or -1. */
int
policy_basis_parse(const char *s, enum kg_basis *out)
{
	int	v;

	if (table_parse(basis_names, NELEM(basis_names), s, &v) == -1)
		return -1;
	*out = (enum kg_basis)v;
	return 0;
}

/* "fallback" or "demo". */
const char *
policy_on_expiry_name(enum kg_on_expiry e)
{
	return table_name(on_expiry_names, NELEM(on_expiry_names), (int)e);
}

/* Parse an on-expiry name; 0 or -1. */
int
policy_on_expiry_parse(const char *s, enum kg_on_expiry *out)
{
	int	v;

	if (table_parse(on_expiry_names, NELEM(on_expiry_names), s, &v) == -1)
		return -1;
	*out = (enum kg_on_expiry)v;
	return 0;
}

/* "draft", "published" or "withdrawn". */
const char *
policy_release_state_name(enum kg_release_state s)
{
	return table_name(release_state_names, NELEM(release_state_names),
	    (int)s);
}

/* "active", "revoked" or "suspended". */
const char *
policy_status_name(enum kg_license_status s)
{
	return table_name(status_names, NELEM(status_names), (int)s);
}

/* Parse a license status name; 0 or -1. */
int
policy_status_parse(const char *s, enum kg_license_status *out)
{
	int	v;

	if (table_parse(status_names, NELEM(status_names), s, &v) == -1)
		return -1;
	*out = (enum kg_license_status)v;
	return 0;
}

/* "update", "fallback", "current" or "demo". */
const char *
policy_verdict_name(enum kg_verdict_kind v)
{
	return table_name(verdict_names, NELEM(verdict_names), (int)v);
}

/* The snake_case wire name of a reason code. */
const char *
reason_name(enum kg_reason r)
{
	return table_name(reason_names, NELEM(reason_names), (int)r);
}

/* Parse a reason code's wire name; 0 or -1. */
int
reason_parse(const char *s, enum kg_reason *out)
{
	int	v;

	if (table_parse(reason_names, NELEM(reason_names), s, &v) == -1)
		return -1;
	*out = (enum kg_reason)v;
	return 0;
}

/* "early", "grace" or "standard". */
const char *
policy_renewal_kind_name(enum kg_renewal_kind k)
{
	return table_name(renewal_kind_names, NELEM(renewal_kind_names),
	    (int)k);
}

/*
 * Renew support that expires on expiry by months, today (R7, R8, R11).
 * Arguments out of range (price outside 0..KG_MONEY_MAX, a percent above
 * 1000, months 0 or above KG_MONTHS_MAX, a new expiry past year 9999) are a
 * caller's bug or a corrupt record, never user input: KG_REASON_INTERNAL,
 * *out zeroed. A NULL policy means the defaults.
 */
enum kg_reason
renewal_compute(const struct kg_edition_policy *p, kg_money price,
    kg_date expiry, uint32_t months, kg_date today,
    kg_date subscription_until, struct kg_quote *out)
{
	struct kg_edition_policy	 defaults;
	uint32_t			 percent;
	kg_date				 base, grace_end;

	memset(out, 0, sizeof(*out));
	if (p == NULL) {
		policy_defaults(&defaults);
		p = &defaults;
	}
	if (price < 0 || price > KG_MONEY_MAX || months == 0 ||
	    months > KG_MONTHS_MAX || p->grace_months > KG_MONTHS_MAX ||
	    p->grace_percent > POLICY_PERCENT_MAX ||
	    p->standard_percent > POLICY_PERCENT_MAX)
		return KG_REASON_INTERNAL;

	/*
	 * R11: the prerequisite subscription must be valid today; it is
	 * valid through its end day.
	 */
	if (p->requires_subscription &&
	    (subscription_until == KG_DATE_NONE || subscription_until < today))
		return KG_REASON_SUBSCRIPTION_REQUIRED;

	/* Support never fixed (never activated) counts as expiring today. */
	if (expiry == KG_DATE_NONE)
		expiry = today;

	grace_end = date_add_months(expiry, (int)p->grace_months);
	if (today <= expiry) {
		/*
		 * Early: from the current expiry, at the grace price (support
		 * stays continuous, as in the grace window).
		 */
		out->kind = KG_RENEWAL_EARLY;
		base = expiry;
		percent = p->grace_percent;
	} else if (today <= grace_end) {
		/* Grace: still from the old expiry, at the grace price. */
		out->kind = KG_RENEWAL_GRACE;
		base = expiry;
		percent = p->grace_percent;
	} else {
		/* Standard: from today, at the standard price. */
		out->kind = KG_RENEWAL_STANDARD;
		base = today;
		percent = p->standard_percent;
	}
	out->new_expiry = date_add_months(base, (int)months);
	if (out->new_expiry > date_from_ymd(KG_YEAR_MAX, 12, 31)) {
		memset(out, 0, sizeof(*out));
		return KG_REASON_INTERNAL;
	}
	out->price = money_percent(price, percent);
	return KG_REASON_OK;
}

/*
 * The effective license expiry (R6, R13): the license's own expiry when
 * set; for on-expiry demo editions the support expiry, or the earlier of the
 * two when both are set; KG_DATE_NONE (perpetual) when neither is fixed.
 */
kg_date
policy_license_expiry(const struct kg_license *lic,
    const struct kg_edition_policy *p)
{
	kg_date	lx, sx;

	lx = lic->license_expiry;
	if (p == NULL || p->on_expiry != KG_ON_EXPIRY_DEMO)
		return lx;
	sx = lic->support_expiry;
	if (sx == KG_DATE_NONE)
		return lx;
	if (lx == KG_DATE_NONE || sx < lx)
		return sx;
	return lx;
}

/* A release products may see today: published or withdrawn, not scheduled. */
static bool
release_visible(const struct kg_release *r, kg_date today)
{
	return (r->state == KG_RELEASE_PUBLISHED ||
	    r->state == KG_RELEASE_WITHDRAWN) && r->date <= today;
}

/*
 * The newest published release dated on or before today and, when limit is
 * not KG_DATE_NONE, on or before limit. NULL when there is none.
 */
static const struct kg_release *
release_newest(const struct kg_release *rel, size_t n, kg_date today,
    kg_date limit)
{
	const struct kg_release	*best = NULL;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (rel[i].state != KG_RELEASE_PUBLISHED || rel[i].date > today)
			continue;
		if (limit != KG_DATE_NONE && rel[i].date > limit)
			continue;
		if (best == NULL || version_cmp(&rel[i].version,
		    &best->version) > 0)
			best = &rel[i];
	}
	return best;
}

/*
 * Whether the key may run version v (the negation of verdict row 2): v is
 * a visible release dated on or before the support expiry, or v is no
 * visible release and either support still runs or v is not newer than
 * eligible.
 */
static bool
version_covered(const struct kg_version *v, const struct kg_release *rel,
    size_t n, kg_date today, kg_date support,
    const struct kg_release *eligible)
{
	bool	matched = false;
	size_t	i;

	for (i = 0; i < n; i++) {
		if (!release_visible(&rel[i], today) ||
		    version_cmp(&rel[i].version, v) != 0)
			continue;
		if (rel[i].date <= support)
			return true;
		matched = true;
	}
	if (matched)
		return false;
	if (today <= support)
		return true;
	return eligible != NULL && version_cmp(v, &eligible->version) <= 0;
}

static void
verdict_demo(struct kg_verdict *out, enum kg_reason reason)
{
	out->verdict = KG_VERDICT_DEMO;
	out->reason = reason;
}

/*
 * SPEC section 2: the verdict of an update check, the first row that
 * applies. See the top of this file for the decisions the spec leaves open.
 */
void
policy_check(const struct kg_check_input *in, struct kg_verdict *out)
{
	struct kg_edition_policy	 defaults;
	const struct kg_edition_policy	*p = in->policy;
	const struct kg_license		*lic = in->lic;
	kg_date				 today = in->today, support, lx;
	bool				 product_match;
	enum kg_reason			 support_reason;

	memset(out, 0, sizeof(*out));
	if (p == NULL) {
		policy_defaults(&defaults);
		p = &defaults;
	}

	/* Row 1: a key that did not decode says nothing more. */
	if (in->key_error != KGE_OK || lic == NULL) {
		verdict_demo(out, KG_REASON_BAD_KEY);
		return;
	}

	support = lic->support_expiry;
	lx = policy_license_expiry(lic, p);
	out->support_expiry = support;
	out->license_expiry = lx;
	/* days_left = max(0, support - today); 0 while support is not fixed. */
	if (support != KG_DATE_NONE && support > today)
		out->days_left = date_days_between(today, support);

	/* What the key may run; filled for row-1 answers too. */
	out->latest = release_newest(in->releases, in->nreleases, today,
	    KG_DATE_NONE);
	if (support != KG_DATE_NONE)
		out->eligible = release_newest(in->releases, in->nreleases,
		    today, support);

	/* A NULL product asks about the key's own product (status). */
	product_match = in->product == NULL ||
	    strcmp(lic->product, in->product) == 0;

	/*
	 * Quote: a valid key of this product, known, active, not a trial,
	 * support fixed, and a renewal renewal_compute accepts (a missing
	 * subscription means no quote). It is filled whatever the verdict:
	 * renewing is how a lapsed or expired key gets out of demo mode.
	 */
	if (product_match && in->product_known &&
	    in->status == KG_STATUS_ACTIVE && !lic->trial &&
	    support != KG_DATE_NONE &&
	    renewal_compute(p, in->price, support, p->renewal_months, today,
	    in->subscription_until, &out->quote) == KG_REASON_OK)
		out->has_quote = true;

	/* Row 1, in the order of policy.h. */
	if (!product_match) {
		verdict_demo(out, KG_REASON_WRONG_PRODUCT);
		return;
	}
	if (!in->product_known) {
		verdict_demo(out, KG_REASON_UNKNOWN_PRODUCT);
		return;
	}
	if (in->status == KG_STATUS_REVOKED) {
		verdict_demo(out, KG_REASON_REVOKED);
		return;
	}
	if (in->status == KG_STATUS_SUSPENDED) {
		verdict_demo(out, KG_REASON_SUSPENDED);
		return;
	}
	if (support == KG_DATE_NONE) {
		verdict_demo(out, KG_REASON_NOT_ACTIVATED);
		return;
	}
	/*
	 * The license is valid through its whole expiry day (R6). Trial keys
	 * (R13) need nothing of their own here: the issuer sets their license
	 * expiry to the short term and their support expiry to the same day,
	 * so they get every release while valid and license_expired after.
	 */
	if (lx != KG_DATE_NONE && today > lx) {
		verdict_demo(out, KG_REASON_LICENSE_EXPIRED);
		return;
	}

	/* Row 2: running a release the key is not entitled to (R5). */
	if ((in->installed != NULL && !version_covered(in->installed,
	    in->releases, in->nreleases, today, support, out->eligible)) ||
	    (in->target != NULL && !version_covered(in->target,
	    in->releases, in->nreleases, today, support, out->eligible))) {
		verdict_demo(out, KG_REASON_NOT_ELIGIBLE);
		return;
	}

	/* Rows 3 to 5 say whether support lapsed (valid through its day). */
	support_reason = today > support ? KG_REASON_SUPPORT_EXPIRED :
	    KG_REASON_OK;
	out->reason = support_reason;

	/* A status request (no installed version) answers current. */
	if (in->installed == NULL) {
		out->verdict = KG_VERDICT_CURRENT;
		return;
	}
	if (out->eligible != NULL &&
	    version_cmp(&out->eligible->version, in->installed) > 0)
		out->verdict = KG_VERDICT_UPDATE;		/* row 3 */
	else if (out->latest != NULL &&
	    version_cmp(&out->latest->version, in->installed) > 0)
		out->verdict = KG_VERDICT_FALLBACK;		/* row 4 */
	else
		out->verdict = KG_VERDICT_CURRENT;		/* row 5 */
}
