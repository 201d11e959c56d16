/*
 * The business rules of SPEC sections 1 and 2 as pure functions: an edition's
 * policy, the verdict of an update check, and the renewal of support. No I/O,
 * no clock: "today" is an argument.
 */
#ifndef KG_POLICY_H
#define KG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "date.h"
#include "license.h"
#include "money.h"
#include "version.h"

enum kg_basis {
	KG_BASIS_CREATION,	/* support counts from the key's creation date */
	KG_BASIS_ACTIVATION,	/* ... from its first check or activation */
};

enum kg_on_expiry {
	KG_ON_EXPIRY_FALLBACK,	/* keep working on the last eligible release */
	KG_ON_EXPIRY_DEMO,	/* the license expires with support (R6) */
};

/* One edition's terms (SPEC section 5, "edition add"). */
struct kg_edition_policy {
	uint32_t		support_months;		/* R2, default 6 */
	enum kg_basis		basis;			/* R3, default creation */
	enum kg_on_expiry	on_expiry;		/* R6, default fallback */
	uint32_t		renewal_months;		/* R7, default 12 */
	uint32_t		grace_months;		/* R7, default 1 */
	uint32_t		grace_percent;		/* R8, default 25 */
	uint32_t		standard_percent;	/* R8, default 45 */
	bool			requires_subscription;	/* R11, default off */
};

/* Fill p with SPEC section 1's defaults. */
void	policy_defaults(struct kg_edition_policy *p);

/* "creation"/"activation", "fallback"/"demo" and back. Parsers return 0 or -1. */
const char	*policy_basis_name(enum kg_basis b);
int		 policy_basis_parse(const char *s, enum kg_basis *out);
const char	*policy_on_expiry_name(enum kg_on_expiry e);
int		 policy_on_expiry_parse(const char *s, enum kg_on_expiry *out);

enum kg_release_state {
	KG_RELEASE_DRAFT,
	KG_RELEASE_PUBLISHED,
	KG_RELEASE_WITHDRAWN,
};

struct kg_release {
	struct kg_version	version;
	kg_date			date;
	enum kg_release_state	state;
};

const char	*policy_release_state_name(enum kg_release_state s);

enum kg_license_status {
	KG_STATUS_ACTIVE,
	KG_STATUS_REVOKED,
	KG_STATUS_SUSPENDED,
};

const char	*policy_status_name(enum kg_license_status s);
int		 policy_status_parse(const char *s, enum kg_license_status *out);

enum kg_verdict_kind {
	KG_VERDICT_UPDATE,
	KG_VERDICT_FALLBACK,
	KG_VERDICT_CURRENT,
	KG_VERDICT_DEMO,
};

const char	*policy_verdict_name(enum kg_verdict_kind v);

/* Reason codes; their names (reason_name) are the wire and JSON contract. */
enum kg_reason {
	KG_REASON_OK,
	KG_REASON_SUPPORT_EXPIRED,
	KG_REASON_LICENSE_EXPIRED,
	KG_REASON_REVOKED,
	KG_REASON_SUSPENDED,
	KG_REASON_BAD_KEY,
	KG_REASON_WRONG_PRODUCT,
	KG_REASON_UNKNOWN_PRODUCT,
	KG_REASON_NOT_ELIGIBLE,
	KG_REASON_NOT_ACTIVATED,
	KG_REASON_SUBSCRIPTION_REQUIRED,
	KG_REASON_TRIAL_NOT_RENEWABLE,
	KG_REASON_ACT_UNKNOWN,
	KG_REASON_ACT_USED,
	KG_REASON_ACT_VOID,
	KG_REASON_ACT_WRONG_PRODUCT,
	KG_REASON_ACT_WRONG_EDITION,
	KG_REASON_ACT_WRONG_LICENSEE,
	KG_REASON_RATE_LIMITED,
	KG_REASON_BAD_VERSION,
	KG_REASON_BAD_REQUEST,
	KG_REASON_PROTOCOL_VERSION,
	KG_REASON_FRAME_TOO_LARGE,
	KG_REASON_STORAGE_FULL,
	KG_REASON_INTERNAL,
	KG_REASON__COUNT
};

const char	*reason_name(enum kg_reason r);
int		 reason_parse(const char *s, enum kg_reason *out);

enum kg_renewal_kind {
	KG_RENEWAL_EARLY,	/* before expiry: from the current expiry */
	KG_RENEWAL_GRACE,	/* within the grace window: from the old expiry */
	KG_RENEWAL_STANDARD,	/* after it: from today */
};

const char	*policy_renewal_kind_name(enum kg_renewal_kind k);

struct kg_quote {
	enum kg_renewal_kind	kind;
	kg_money		price;		/* minor units */
	kg_date			new_expiry;
};

/*
 * R7, R8, R11: renew support that expires on expiry by months, today.
 * Early renewals (today <= expiry) and grace renewals (today <= expiry +
 * grace_months) extend from expiry at grace_percent of price; later ones
 * extend from today at standard_percent. subscription_until is the
 * licensee's prerequisite subscription end (KG_DATE_NONE: none); when the
 * edition requires one that is not valid today, returns
 * KG_REASON_SUBSCRIPTION_REQUIRED and leaves *out zeroed. Otherwise
 * KG_REASON_OK.
 */
enum kg_reason	renewal_compute(const struct kg_edition_policy *p, kg_money price,
		    kg_date expiry, uint32_t months, kg_date today,
		    kg_date subscription_until, struct kg_quote *out);

/* Everything an update check is decided from. */
struct kg_check_input {
	int				 key_error;	/* KGE_OK or the key parse error */
	const struct kg_license		*lic;		/* current state from the store (or the key) */
	enum kg_license_status		 status;
	const char			*product;	/* product the caller asked about */
	bool				 product_known;	/* the product exists */
	const struct kg_edition_policy	*policy;	/* NULL: defaults */
	kg_money			 price;		/* product's current price */
	const struct kg_release		*releases;
	size_t				 nreleases;
	const struct kg_version		*installed;	/* NULL: not given (status) */
	const struct kg_version		*target;	/* NULL: not given */
	kg_date				 today;
	kg_date				 subscription_until;
};

struct kg_verdict {
	enum kg_verdict_kind	 verdict;
	enum kg_reason		 reason;
	const struct kg_release	*eligible;	/* points into input releases, or NULL */
	const struct kg_release	*latest;
	kg_date			 support_expiry;
	kg_date			 license_expiry;	/* effective: KG_DATE_NONE = perpetual */
	int32_t			 days_left;		/* >= 0 */
	bool			 has_quote;
	struct kg_quote		 quote;
};

/*
 * SPEC section 2: the first verdict row that applies. Row 1 (demo) reasons in
 * order: bad_key, wrong_product, unknown_product, revoked, suspended,
 * not_activated, license_expired. See common/policy.c for the decisions the
 * spec leaves open.
 */
void	policy_check(const struct kg_check_input *in, struct kg_verdict *out);

/* The effective license expiry: on-expiry demo editions expire with support (R6). */
kg_date	policy_license_expiry(const struct kg_license *lic,
	    const struct kg_edition_policy *p);

#endif
