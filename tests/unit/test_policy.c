/*
 * Table-driven tests of common/policy.c: the verdict rows of SPEC section 2,
 * rules R1-R9, R11-R13 and R15 of section 1, renewal quotes (R7, R8, R11),
 * the effective license expiry (R6) and the names of every policy enum.
 * Each table row runs as its own named cmocka test. Dates are written as
 * "YYYY-MM-DD" and parsed here; every expected value is spelled out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "kgerr.h"
#include "license.h"
#include "money.h"
#include "policy.h"
#include "version.h"

#define PUB	KG_RELEASE_PUBLISHED
#define WDN	KG_RELEASE_WITHDRAWN
#define DRAFT	KG_RELEASE_DRAFT

#define PRICE		799000	/* 7990.00 */
#define RELEASES_MAX	16

struct rel_spec {
	const char		*version;	/* NULL ends the list */
	const char		*date;
	enum kg_release_state	 state;
};

/*
 * The SPEC example of a PROF-like edition: 6 months of support from
 * creation, key created 2025-08-15, so support ended 2026-02-15; one release
 * after that.
 */
static const struct rel_spec rels_prof[] = {
	{ "8.3.1.10", "2025-10-01", PUB },
	{ "8.3.1.11", "2026-01-20", PUB },	/* newest before expiry */
	{ "8.3.1.12", "2026-03-01", PUB },	/* after expiry */
	{ NULL, NULL, 0 },
};

/* A product history with a withdrawn, a draft and a scheduled release. */
static const struct rel_spec rels_std[] = {
	{ "1.0", "2025-06-01", PUB },
	{ "1.1", "2025-09-01", PUB },
	{ "1.2", "2025-12-01", PUB },
	{ "1.3", "2026-01-10", WDN },
	{ "2.0", "2026-02-01", PUB },
	{ "2.5", "2026-01-01", DRAFT },
	{ "2.1", "2026-04-01", PUB },		/* scheduled */
	{ NULL, NULL, 0 },
};

static const struct rel_spec rels_withdrawn[] = {
	{ "1.0", "2025-06-01", PUB },
	{ "1.1", "2025-09-01", WDN },
	{ NULL, NULL, 0 },
};

/* Numeric order: 2.0.10 is newer than 2.0.9 although dated earlier. */
static const struct rel_spec rels_numeric[] = {
	{ "2.0.10", "2026-02-01", PUB },
	{ "2.0.9", "2026-03-01", PUB },
	{ NULL, NULL, 0 },
};

/* A fix for the 1.1 branch published after the 1.2 release. */
static const struct rel_spec rels_backport[] = {
	{ "1.1", "2025-09-01", PUB },
	{ "1.2", "2025-12-01", PUB },
	{ "1.1.1", "2026-02-01", PUB },
	{ NULL, NULL, 0 },
};

/* Two releases that compare equal: the first one listed wins. */
static const struct rel_spec rels_tie[] = {
	{ "2.0.0", "2026-01-01", PUB },
	{ "2.0", "2026-02-01", PUB },
	{ NULL, NULL, 0 },
};

static const struct rel_spec rels_none[] = {
	{ NULL, NULL, 0 },
};

static const struct kg_edition_policy pol_demo = {
	.support_months = 6, .basis = KG_BASIS_CREATION,
	.on_expiry = KG_ON_EXPIRY_DEMO, .renewal_months = 12,
	.grace_months = 1, .grace_percent = 25, .standard_percent = 45,
};

static const struct kg_edition_policy pol_activation = {
	.support_months = 3, .basis = KG_BASIS_ACTIVATION,
	.on_expiry = KG_ON_EXPIRY_FALLBACK, .renewal_months = 12,
	.grace_months = 1, .grace_percent = 25, .standard_percent = 45,
};

static const struct kg_edition_policy pol_subscription = {
	.support_months = 6, .basis = KG_BASIS_CREATION,
	.on_expiry = KG_ON_EXPIRY_FALLBACK, .renewal_months = 12,
	.grace_months = 1, .grace_percent = 25, .standard_percent = 45,
	.requires_subscription = true,
};

static const struct kg_edition_policy pol_custom = {
	.support_months = 12, .basis = KG_BASIS_CREATION,
	.on_expiry = KG_ON_EXPIRY_FALLBACK, .renewal_months = 6,
	.grace_months = 2, .grace_percent = 30, .standard_percent = 50,
};

static const struct kg_edition_policy pol_no_grace = {
	.support_months = 6, .basis = KG_BASIS_CREATION,
	.on_expiry = KG_ON_EXPIRY_FALLBACK, .renewal_months = 12,
	.grace_months = 0, .grace_percent = 25, .standard_percent = 45,
};

static kg_date
day(const char *s)
{
	kg_date	d;

	if (s == NULL)
		return KG_DATE_NONE;
	if (date_parse(s, &d) != 0)
		fail_msg("bad date in test table: %s", s);
	return d;
}

static void
assert_date(const char *name, const char *what, kg_date got, const char *want)
{
	char	buf[KG_DATE_TEXT_LEN];

	if (want == NULL) {
		if (got != KG_DATE_NONE) {
			date_format(got, buf);
			fail_msg("%s: %s is %s, want none", name, what, buf);
		}
		return;
	}
	if (got == KG_DATE_NONE)
		fail_msg("%s: %s is none, want %s", name, what, want);
	date_format(got, buf);
	if (strcmp(buf, want) != 0)
		fail_msg("%s: %s is %s, want %s", name, what, buf, want);
}

/* ---------------------------------------------------------------------- */
/* policy_check */

struct check_case {
	const char			*name;
	/* the license (product "ACC" unless key_product says otherwise) */
	const char			*key_product;
	const char			*created;
	const char			*support;	/* NULL: not fixed */
	const char			*license;	/* NULL: perpetual */
	bool				 trial;
	/* the request and the store (ask_no_product: product NULL) */
	int				 key_error;
	bool				 ask_no_product;
	bool				 product_unknown;
	enum kg_license_status		 status;
	/* NULL: the defaults */
	const struct kg_edition_policy	*policy;
	const struct rel_spec		*rels;
	const char			*installed;	/* NULL: status */
	const char			*target;
	const char			*today;
	const char			*subscription;
	/* expected */
	enum kg_verdict_kind		 verdict;
	enum kg_reason			 reason;
	const char			*eligible;	/* NULL: none */
	const char			*latest;
	const char			*want_support;	/* NULL: none */
	const char			*want_license;	/* NULL: none */
	int32_t				 days_left;
	bool				 has_quote;
	enum kg_renewal_kind		 quote_kind;
	kg_money			 quote_price;
	const char			*quote_expiry;
};

#define PROF_KEY \
	.created = "2025-08-15", .support = "2026-02-15", \
	.rels = rels_prof, .today = "2026-03-15", \
	.want_support = "2026-02-15"
/* Support ended a month ago today: the last day of the grace window. */
#define PROF_QUOTE \
	.has_quote = true, .quote_kind = KG_RENEWAL_GRACE, \
	.quote_price = 199800, .quote_expiry = "2027-02-15"

/* A key with support running until 2026-09-15, checked on 2026-03-15. */
#define RUNNING_KEY(r) \
	.created = "2025-09-15", .support = "2026-09-15", \
	.rels = (r), .today = "2026-03-15", \
	.want_support = "2026-09-15", .days_left = 184
#define RUNNING_QUOTE \
	.has_quote = true, .quote_kind = KG_RENEWAL_EARLY, \
	.quote_price = 199800, .quote_expiry = "2027-09-15"

/* A key whose support ended 2026-01-15, checked 2026-03-15 (past grace). */
#define LAPSED_KEY(r) \
	.created = "2025-07-15", .support = "2026-01-15", \
	.rels = (r), .today = "2026-03-15", \
	.want_support = "2026-01-15"
#define STANDARD_QUOTE \
	.has_quote = true, .quote_kind = KG_RENEWAL_STANDARD, \
	.quote_price = 359600, .quote_expiry = "2027-03-15"

static const struct check_case check_cases[] = {
	/* The SPEC example of a PROF-like edition. */
	{ .name = "SPEC PROF installed newest before expiry -> fallback",
	  PROF_KEY, .installed = "8.3.1.11",
	  .verdict = KG_VERDICT_FALLBACK, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "8.3.1.11", .latest = "8.3.1.12", PROF_QUOTE },
	{ .name = "SPEC PROF installed older -> update, support_expired",
	  PROF_KEY, .installed = "8.3.1.10",
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "8.3.1.11", .latest = "8.3.1.12", PROF_QUOTE },
	{ .name = "SPEC PROF installed after expiry -> demo not_eligible",
	  PROF_KEY, .installed = "8.3.1.12",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ELIGIBLE,
	  .eligible = "8.3.1.11", .latest = "8.3.1.12", PROF_QUOTE },
	{ .name = "SPEC PROF target after expiry -> demo not_eligible",
	  PROF_KEY, .installed = "8.3.1.11", .target = "8.3.1.12",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ELIGIBLE,
	  .eligible = "8.3.1.11", .latest = "8.3.1.12", PROF_QUOTE },
	{ .name = "SPEC PROF target before expiry -> update",
	  PROF_KEY, .installed = "8.3.1.10", .target = "8.3.1.11",
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "8.3.1.11", .latest = "8.3.1.12", PROF_QUOTE },

	/* Row 1, each reason on its own. */
	{ .name = "row 1 bad_key: nothing else is said",
	  .created = "2025-09-15", .support = "2026-09-15", .rels = rels_std,
	  .today = "2026-03-15", .key_error = KGE_KEY_SIGNATURE,
	  .installed = "2.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_BAD_KEY },
	{ .name = "row 1 wrong_product",
	  RUNNING_KEY(rels_std), .key_product = "OTHER", .installed = "2.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_WRONG_PRODUCT,
	  .eligible = "2.0", .latest = "2.0" },
	{ .name = "row 1 unknown_product",
	  RUNNING_KEY(rels_none), .product_unknown = true, .installed = "2.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_UNKNOWN_PRODUCT },
	{ .name = "R12 revoked -> demo revoked",
	  RUNNING_KEY(rels_std), .status = KG_STATUS_REVOKED,
	  .installed = "2.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_REVOKED,
	  .eligible = "2.0", .latest = "2.0" },
	{ .name = "R12 suspended -> demo suspended",
	  RUNNING_KEY(rels_std), .status = KG_STATUS_SUSPENDED,
	  .installed = "2.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_SUSPENDED,
	  .eligible = "2.0", .latest = "2.0" },
	{ .name = "R3 activation basis not activated",
	  .created = "2026-01-10", .policy = &pol_activation,
	  .rels = rels_std, .today = "2026-03-15", .installed = "2.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ACTIVATED,
	  .latest = "2.0" },
	{ .name = "row 1 license_expired: license expiry passed",
	  RUNNING_KEY(rels_std), .license = "2026-03-14", .installed = "2.0",
	  .want_license = "2026-03-14",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_LICENSE_EXPIRED,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },
	{ .name = "row 1 license valid through its expiry day",
	  RUNNING_KEY(rels_std), .license = "2026-03-15", .installed = "2.0",
	  .want_license = "2026-03-15",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },
	{ .name = "row 1 order: bad_key before wrong_product",
	  .created = "2025-09-15", .support = "2026-09-15", .rels = rels_std,
	  .today = "2026-03-15", .key_error = KGE_KEY_DECODE,
	  .key_product = "OTHER", .status = KG_STATUS_REVOKED,
	  .installed = "2.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_BAD_KEY },
	{ .name = "row 1 order: wrong_product before unknown_product",
	  RUNNING_KEY(rels_none), .key_product = "OTHER",
	  .product_unknown = true, .installed = "2.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_WRONG_PRODUCT },
	{ .name = "row 1 order: revoked before license_expired",
	  RUNNING_KEY(rels_std), .status = KG_STATUS_REVOKED,
	  .license = "2026-01-01", .installed = "2.0",
	  .want_license = "2026-01-01",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_REVOKED,
	  .eligible = "2.0", .latest = "2.0" },
	{ .name = "row 1 order: not_activated before license_expired",
	  .created = "2026-01-10", .license = "2026-02-01",
	  .policy = &pol_activation, .rels = rels_std, .today = "2026-03-15",
	  .installed = "2.0", .want_license = "2026-02-01",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ACTIVATED,
	  .latest = "2.0" },

	/* Row 2. */
	{ .name = "row 2 installed release after expiry -> demo not_eligible",
	  LAPSED_KEY(rels_std), .installed = "2.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ELIGIBLE,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "row 2 2.0.0 is release 2.0 -> demo not_eligible",
	  LAPSED_KEY(rels_std), .installed = "2.0.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ELIGIBLE,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "row 2 unlisted build newer than eligible after expiry",
	  LAPSED_KEY(rels_std), .installed = "1.2.1",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ELIGIBLE,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "row 2 unlisted build older than eligible -> update",
	  LAPSED_KEY(rels_std), .installed = "1.0.1",
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "row 2 unlisted build covered while support runs",
	  RUNNING_KEY(rels_std), .installed = "9.9",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },
	{ .name = "row 2 target after expiry, installed eligible",
	  LAPSED_KEY(rels_std), .installed = "1.2", .target = "2.0",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ELIGIBLE,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },

	/* Rows 3 to 5. */
	{ .name = "row 3 update while support runs (R4)",
	  RUNNING_KEY(rels_std), .installed = "1.0",
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },
	{ .name = "row 4 fallback on eligible after expiry (R5)",
	  LAPSED_KEY(rels_std), .installed = "1.2",
	  .verdict = KG_VERDICT_FALLBACK, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "row 5 current: installed is the newest release",
	  RUNNING_KEY(rels_std), .installed = "2.0",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },
	{ .name = "row 5 current with no releases at all",
	  RUNNING_KEY(rels_none), .installed = "1.0",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  RUNNING_QUOTE },

	/* Status requests: no installed version. */
	{ .name = "status while support runs -> current ok",
	  RUNNING_KEY(rels_std),
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },
	{ .name = "status after expiry -> current support_expired",
	  LAPSED_KEY(rels_std),
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "status without a product names the key's own",
	  RUNNING_KEY(rels_std), .ask_no_product = true, .key_product = "OTHER",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },

	/* The rules. */
	{ .name = "R1 verdict carries support expiry and days left",
	  RUNNING_KEY(rels_std), .installed = "1.2",
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },
	{ .name = "R2 support valid through the last day of the 6-month term",
	  .created = "2025-09-15", .support = "2026-03-15", .rels = rels_std,
	  .today = "2026-03-15", .installed = "1.2",
	  .want_support = "2026-03-15", .days_left = 0,
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0",
	  .has_quote = true, .quote_kind = KG_RENEWAL_EARLY,
	  .quote_price = 199800, .quote_expiry = "2027-03-15" },
	{ .name = "R2 the day after the term -> support_expired",
	  .created = "2025-09-15", .support = "2026-03-15", .rels = rels_std,
	  .today = "2026-03-16", .installed = "2.0",
	  .want_support = "2026-03-15", .days_left = 0,
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "2.0", .latest = "2.0",
	  .has_quote = true, .quote_kind = KG_RENEWAL_GRACE,
	  .quote_price = 199800, .quote_expiry = "2027-03-15" },
	{ .name = "R3 activation basis after activation",
	  .created = "2025-10-01", .support = "2026-06-20",
	  .policy = &pol_activation, .rels = rels_std, .today = "2026-03-15",
	  .installed = "1.1", .want_support = "2026-06-20", .days_left = 97,
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0",
	  .has_quote = true, .quote_kind = KG_RENEWAL_EARLY,
	  .quote_price = 199800, .quote_expiry = "2027-06-20" },
	{ .name = "R4 every published release while support runs",
	  RUNNING_KEY(rels_std), .installed = "1.0", .target = "2.0",
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },
	{ .name = "R5 fallback to last release before expiry",
	  LAPSED_KEY(rels_std), .installed = "1.2",
	  .verdict = KG_VERDICT_FALLBACK, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "R5 release dated on the expiry day is eligible",
	  .created = "2025-08-01", .support = "2026-02-01", .rels = rels_std,
	  .today = "2026-03-15", .installed = "1.2",
	  .want_support = "2026-02-01",
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "2.0", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "R5 installed release dated on the expiry day is covered",
	  .created = "2025-08-01", .support = "2026-02-01", .rels = rels_std,
	  .today = "2026-03-15", .installed = "2.0",
	  .want_support = "2026-02-01",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "2.0", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "R5 release dated the day after expiry is not",
	  .created = "2025-07-31", .support = "2026-01-31", .rels = rels_std,
	  .today = "2026-03-15", .installed = "1.2",
	  .want_support = "2026-01-31",
	  .verdict = KG_VERDICT_FALLBACK, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "R6 on-expiry demo -> license_expired",
	  .created = "2025-08-15", .support = "2026-02-15", .policy = &pol_demo,
	  .rels = rels_std, .today = "2026-03-15", .installed = "2.0",
	  .want_support = "2026-02-15", .want_license = "2026-02-15",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_LICENSE_EXPIRED,
	  .eligible = "2.0", .latest = "2.0", PROF_QUOTE },
	{ .name = "R6 on-expiry demo while support runs",
	  .created = "2025-10-15", .support = "2026-04-15", .policy = &pol_demo,
	  .rels = rels_std, .today = "2026-03-15", .installed = "1.2",
	  .want_support = "2026-04-15", .want_license = "2026-04-15",
	  .days_left = 31,
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0",
	  .has_quote = true, .quote_kind = KG_RENEWAL_EARLY,
	  .quote_price = 199800, .quote_expiry = "2027-04-15" },
	{ .name = "R6 on-expiry demo valid through the expiry day",
	  .created = "2025-09-15", .support = "2026-03-15", .policy = &pol_demo,
	  .rels = rels_std, .today = "2026-03-15", .installed = "2.0",
	  .want_support = "2026-03-15", .want_license = "2026-03-15",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0",
	  .has_quote = true, .quote_kind = KG_RENEWAL_EARLY,
	  .quote_price = 199800, .quote_expiry = "2027-03-15" },
	{ .name = "R6 on-expiry fallback keeps working after expiry",
	  .created = "2025-08-15", .support = "2026-02-15", .rels = rels_std,
	  .today = "2026-03-15", .installed = "2.0",
	  .want_support = "2026-02-15",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "2.0", .latest = "2.0", PROF_QUOTE },
	{ .name = "R7 quote in the grace window renews from the old expiry",
	  PROF_KEY, .installed = "8.3.1.11",
	  .verdict = KG_VERDICT_FALLBACK, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "8.3.1.11", .latest = "8.3.1.12", PROF_QUOTE },
	{ .name = "R8 quote after grace at the standard price",
	  LAPSED_KEY(rels_std), .installed = "1.2",
	  .verdict = KG_VERDICT_FALLBACK, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "R9 lapsed releases eligible after renewal",
	  .created = "2025-08-15", .support = "2027-02-15", .rels = rels_prof,
	  .today = "2026-03-15", .installed = "8.3.1.11",
	  .want_support = "2027-02-15", .days_left = 337,
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_OK,
	  .eligible = "8.3.1.12", .latest = "8.3.1.12",
	  .has_quote = true, .quote_kind = KG_RENEWAL_EARLY,
	  .quote_price = 199800, .quote_expiry = "2028-02-15" },
	{ .name = "R9 release run in demo before renewal is covered after",
	  .created = "2025-08-15", .support = "2027-02-15", .rels = rels_prof,
	  .today = "2026-03-15", .installed = "8.3.1.12",
	  .want_support = "2027-02-15", .days_left = 337,
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "8.3.1.12", .latest = "8.3.1.12",
	  .has_quote = true, .quote_kind = KG_RENEWAL_EARLY,
	  .quote_price = 199800, .quote_expiry = "2028-02-15" },
	{ .name = "R11 no quote without the required subscription",
	  .created = "2025-08-15", .support = "2026-02-15",
	  .policy = &pol_subscription, .rels = rels_std,
	  .today = "2026-03-15", .installed = "2.0",
	  .want_support = "2026-02-15",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "2.0", .latest = "2.0" },
	{ .name = "R11 quote with a valid subscription",
	  .created = "2025-08-15", .support = "2026-02-15",
	  .policy = &pol_subscription, .rels = rels_std,
	  .today = "2026-03-15", .installed = "2.0",
	  .subscription = "2026-12-31", .want_support = "2026-02-15",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "2.0", .latest = "2.0", PROF_QUOTE },
	{ .name = "R13 trial all releases while valid",
	  .created = "2026-03-01", .support = "2026-03-31",
	  .license = "2026-03-31", .trial = true, .rels = rels_std,
	  .today = "2026-03-15", .installed = "1.0",
	  .want_support = "2026-03-31", .want_license = "2026-03-31",
	  .days_left = 16,
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0" },
	{ .name = "R13 trial valid through its last day",
	  .created = "2026-03-01", .support = "2026-03-31",
	  .license = "2026-03-31", .trial = true, .rels = rels_std,
	  .today = "2026-03-31", .installed = "2.0",
	  .want_support = "2026-03-31", .want_license = "2026-03-31",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0" },
	{ .name = "R13 trial expired",
	  .created = "2026-03-01", .support = "2026-03-31",
	  .license = "2026-03-31", .trial = true, .rels = rels_std,
	  .today = "2026-04-01", .installed = "2.0",
	  .want_support = "2026-03-31", .want_license = "2026-03-31",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_LICENSE_EXPIRED,
	  .eligible = "2.0", .latest = "2.1" },
	{ .name = "R15 scheduled release invisible",
	  RUNNING_KEY(rels_std), .installed = "2.0",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },
	{ .name = "R15 scheduled release visible from its date",
	  .created = "2025-09-15", .support = "2026-09-15", .rels = rels_std,
	  .today = "2026-04-01", .installed = "2.0",
	  .want_support = "2026-09-15", .days_left = 167,
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_OK,
	  .eligible = "2.1", .latest = "2.1", RUNNING_QUOTE },
	{ .name = "R15 withdrawn never offered",
	  RUNNING_KEY(rels_withdrawn), .installed = "1.0",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "1.0", .latest = "1.0", RUNNING_QUOTE },
	{ .name = "R15 draft never offered, a draft build is like any build",
	  RUNNING_KEY(rels_std), .installed = "2.5",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0", .latest = "2.0", RUNNING_QUOTE },
	{ .name = "R15 withdrawn release dated within support stays covered",
	  LAPSED_KEY(rels_std), .installed = "1.3",
	  .verdict = KG_VERDICT_FALLBACK, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "R15 withdrawn release dated after expiry -> not_eligible",
	  .created = "2025-07-05", .support = "2026-01-05", .rels = rels_std,
	  .today = "2026-03-15", .installed = "1.3",
	  .want_support = "2026-01-05",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ELIGIBLE,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },
	{ .name = "R15 scheduled version after expiry is newer than eligible",
	  LAPSED_KEY(rels_std), .installed = "2.1",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ELIGIBLE,
	  .eligible = "1.2", .latest = "2.0", STANDARD_QUOTE },

	{ .name = "R5 backport released after expiry is not eligible",
	  LAPSED_KEY(rels_backport), .installed = "1.1.1",
	  .verdict = KG_VERDICT_DEMO, .reason = KG_REASON_NOT_ELIGIBLE,
	  .eligible = "1.2", .latest = "1.2", STANDARD_QUOTE },
	{ .name = "R5 backport released after expiry: no update to it",
	  LAPSED_KEY(rels_backport), .installed = "1.1",
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_SUPPORT_EXPIRED,
	  .eligible = "1.2", .latest = "1.2", STANDARD_QUOTE },

	/* Version order. */
	{ .name = "version order 2.0.10 newer than 2.0.9 -> update",
	  RUNNING_KEY(rels_numeric), .installed = "2.0.9",
	  .verdict = KG_VERDICT_UPDATE, .reason = KG_REASON_OK,
	  .eligible = "2.0.10", .latest = "2.0.10", RUNNING_QUOTE },
	{ .name = "version order 2.0.10 installed -> current",
	  RUNNING_KEY(rels_numeric), .installed = "2.0.10",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0.10", .latest = "2.0.10", RUNNING_QUOTE },
	{ .name = "version order: of equal versions the first listed wins",
	  RUNNING_KEY(rels_tie), .installed = "2.0",
	  .verdict = KG_VERDICT_CURRENT, .reason = KG_REASON_OK,
	  .eligible = "2.0.0", .latest = "2.0.0", RUNNING_QUOTE },
};

static void
assert_release(const char *name, const char *what,
    const struct kg_release *got, const char *want)
{
	char	buf[KG_VERSION_TEXT_MAX];

	if (want == NULL) {
		if (got != NULL) {
			version_format(&got->version, buf);
			fail_msg("%s: %s is %s, want none", name, what, buf);
		}
		return;
	}
	if (got == NULL)
		fail_msg("%s: %s is none, want %s", name, what, want);
	version_format(&got->version, buf);
	if (strcmp(buf, want) != 0)
		fail_msg("%s: %s is %s, want %s", name, what, buf, want);
}

static void
test_check_case(void **state)
{
	const struct check_case	*c = *state;
	struct kg_release	 rel[RELEASES_MAX];
	struct kg_license	 lic;
	struct kg_check_input	 in;
	struct kg_verdict	 v;
	struct kg_version	 installed, target;
	size_t			 n;

	memset(&lic, 0, sizeof(lic));
	snprintf(lic.product, sizeof(lic.product), "%s",
	    c->key_product != NULL ? c->key_product : "ACC");
	snprintf(lic.regno, sizeof(lic.regno), "ACC01-000123");
	snprintf(lic.licensee, sizeof(lic.licensee), "Test Licensee");
	lic.serial = 123;
	lic.created = day(c->created);
	lic.support_expiry = day(c->support);
	lic.license_expiry = day(c->license);
	lic.trial = c->trial;

	memset(rel, 0, sizeof(rel));
	for (n = 0; c->rels[n].version != NULL; n++) {
		assert_true(n < RELEASES_MAX);
		assert_int_equal(version_parse(c->rels[n].version,
		    &rel[n].version), 0);
		rel[n].date = day(c->rels[n].date);
		rel[n].state = c->rels[n].state;
	}

	memset(&in, 0, sizeof(in));
	in.key_error = c->key_error;
	in.lic = &lic;
	in.status = c->status;
	in.product = c->ask_no_product ? NULL : "ACC";
	in.product_known = !c->product_unknown;
	in.policy = c->policy;
	in.price = PRICE;
	in.releases = rel;
	in.nreleases = n;
	if (c->installed != NULL) {
		assert_int_equal(version_parse(c->installed, &installed), 0);
		in.installed = &installed;
	}
	if (c->target != NULL) {
		assert_int_equal(version_parse(c->target, &target), 0);
		in.target = &target;
	}
	in.today = day(c->today);
	in.subscription_until = day(c->subscription);

	/* Garbage in the output must not survive. */
	memset(&v, 0xa5, sizeof(v));
	policy_check(&in, &v);

	if (v.verdict != c->verdict)
		fail_msg("%s: verdict %s, want %s", c->name,
		    policy_verdict_name(v.verdict),
		    policy_verdict_name(c->verdict));
	if (v.reason != c->reason)
		fail_msg("%s: reason %s, want %s", c->name,
		    reason_name(v.reason), reason_name(c->reason));
	assert_release(c->name, "eligible", v.eligible, c->eligible);
	assert_release(c->name, "latest", v.latest, c->latest);
	assert_date(c->name, "support_expiry", v.support_expiry,
	    c->want_support);
	assert_date(c->name, "license_expiry", v.license_expiry,
	    c->want_license);
	if (v.days_left != c->days_left)
		fail_msg("%s: days_left %d, want %d", c->name,
		    (int)v.days_left, (int)c->days_left);
	if (v.has_quote != c->has_quote)
		fail_msg("%s: has_quote %d, want %d", c->name,
		    (int)v.has_quote, (int)c->has_quote);
	if (!c->has_quote) {
		assert_int_equal(v.quote.price, 0);
		assert_int_equal(v.quote.new_expiry, KG_DATE_NONE);
		return;
	}
	if (v.quote.kind != c->quote_kind)
		fail_msg("%s: quote kind %s, want %s", c->name,
		    policy_renewal_kind_name(v.quote.kind),
		    policy_renewal_kind_name(c->quote_kind));
	if (v.quote.price != c->quote_price)
		fail_msg("%s: quote price %lld, want %lld", c->name,
		    (long long)v.quote.price, (long long)c->quote_price);
	assert_date(c->name, "quote new_expiry", v.quote.new_expiry,
	    c->quote_expiry);
}

/* A NULL policy in policy_check means the defaults. */
static void
test_check_null_policy_is_defaults(void **state)
{
	struct kg_edition_policy	 p;
	struct kg_license		 lic;
	struct kg_release		 rel[1];
	struct kg_check_input		 in;
	struct kg_verdict		 a, b;
	struct kg_version		 installed;

	(void)state;
	memset(&lic, 0, sizeof(lic));
	strcpy(lic.product, "ACC");
	lic.created = day("2025-08-15");
	lic.support_expiry = day("2026-02-15");
	assert_int_equal(version_parse("1.0", &rel[0].version), 0);
	rel[0].date = day("2025-09-01");
	rel[0].state = KG_RELEASE_PUBLISHED;
	assert_int_equal(version_parse("1.0", &installed), 0);
	memset(&in, 0, sizeof(in));
	in.lic = &lic;
	in.product = "ACC";
	in.product_known = true;
	in.price = PRICE;
	in.releases = rel;
	in.nreleases = 1;
	in.installed = &installed;
	in.today = day("2026-04-20");

	policy_check(&in, &a);
	policy_defaults(&p);
	in.policy = &p;
	policy_check(&in, &b);
	assert_int_equal(a.verdict, KG_VERDICT_CURRENT);
	assert_int_equal(a.reason, KG_REASON_SUPPORT_EXPIRED);
	assert_true(a.has_quote);
	assert_int_equal(a.quote.kind, KG_RENEWAL_STANDARD);
	assert_int_equal(a.quote.price, 359600);
	assert_int_equal(a.quote.new_expiry, day("2027-04-20"));
	assert_int_equal(b.verdict, a.verdict);
	assert_int_equal(b.reason, a.reason);
	assert_int_equal(b.quote.kind, a.quote.kind);
	assert_int_equal(b.quote.price, a.quote.price);
	assert_int_equal(b.quote.new_expiry, a.quote.new_expiry);
}

/* ---------------------------------------------------------------------- */
/* renewal_compute */

struct renew_case {
	const char			*name;
	/* NULL: the defaults */
	const struct kg_edition_policy	*policy;
	kg_money			 price;
	const char			*expiry;	/* NULL: unfixed */
	uint32_t			 months;
	const char			*today;
	const char			*subscription;	/* NULL: none */
	/* expected */
	enum kg_reason			 reason;
	enum kg_renewal_kind		 kind;
	kg_money			 want_price;
	const char			*new_expiry;	/* NULL: none */
};

static const struct renew_case renew_cases[] = {
	{ "R7 grace 20 days after expiry", NULL, 799000, "2026-02-15", 12,
	  "2026-03-07", NULL,
	  KG_REASON_OK, KG_RENEWAL_GRACE, 199800, "2027-02-15" },
	{ "R7 standard 2 months after expiry", NULL, 799000, "2026-02-15", 12,
	  "2026-04-15", NULL,
	  KG_REASON_OK, KG_RENEWAL_STANDARD, 359600, "2027-04-15" },
	{ "R7 early before expiry", NULL, 799000, "2026-02-15", 12,
	  "2026-01-10", NULL,
	  KG_REASON_OK, KG_RENEWAL_EARLY, 199800, "2027-02-15" },
	{ "R7 early exactly on the expiry day", NULL, 799000, "2026-02-15", 12,
	  "2026-02-15", NULL,
	  KG_REASON_OK, KG_RENEWAL_EARLY, 199800, "2027-02-15" },
	{ "R7 grace the day after expiry", NULL, 799000, "2026-02-15", 12,
	  "2026-02-16", NULL,
	  KG_REASON_OK, KG_RENEWAL_GRACE, 199800, "2027-02-15" },
	{ "R7 grace on the last day of the grace window", NULL, 799000,
	  "2026-02-15", 12, "2026-03-15", NULL,
	  KG_REASON_OK, KG_RENEWAL_GRACE, 199800, "2027-02-15" },
	{ "R7 standard the day after the grace window", NULL, 799000,
	  "2026-02-15", 12, "2026-03-16", NULL,
	  KG_REASON_OK, KG_RENEWAL_STANDARD, 359600, "2027-03-16" },
	{ "R7 grace window clamps at month end: last day", NULL, 799000,
	  "2026-01-31", 12, "2026-02-28", NULL,
	  KG_REASON_OK, KG_RENEWAL_GRACE, 199800, "2027-01-31" },
	{ "R7 grace window clamps at month end: day after", NULL, 799000,
	  "2026-01-31", 12, "2026-03-01", NULL,
	  KG_REASON_OK, KG_RENEWAL_STANDARD, 359600, "2027-03-01" },
	{ "R7 month-end clamping in the new expiry", NULL, 799000,
	  "2026-08-31", 6, "2026-08-01", NULL,
	  KG_REASON_OK, KG_RENEWAL_EARLY, 199800, "2027-02-28" },
	{ "R7 leap day clamping from a standard renewal", NULL, 799000,
	  "2023-12-01", 12, "2024-02-29", NULL,
	  KG_REASON_OK, KG_RENEWAL_STANDARD, 359600, "2025-02-28" },
	{ "R7 custom term, grace window and percents (grace)", &pol_custom,
	  799000, "2026-02-15", 6, "2026-04-15", NULL,
	  KG_REASON_OK, KG_RENEWAL_GRACE, 239700, "2026-08-15" },
	{ "R7 custom term, grace window and percents (standard)", &pol_custom,
	  799000, "2026-02-15", 6, "2026-04-16", NULL,
	  KG_REASON_OK, KG_RENEWAL_STANDARD, 399500, "2026-10-16" },
	{ "R7 no grace window: the day after expiry is standard", &pol_no_grace,
	  799000, "2026-02-15", 12, "2026-02-16", NULL,
	  KG_REASON_OK, KG_RENEWAL_STANDARD, 359600, "2027-02-16" },
	{ "R3 never activated renews as early from today", NULL, 799000, NULL,
	  12, "2026-03-15", NULL,
	  KG_REASON_OK, KG_RENEWAL_EARLY, 199800, "2027-03-15" },
	{ "R8 grace price 25% of 7990.00 is 1998.00", NULL, 799000,
	  "2026-02-15", 12, "2026-02-20", NULL,
	  KG_REASON_OK, KG_RENEWAL_GRACE, 199800, "2027-02-15" },
	{ "R8 standard price 45% of 7990.00 is 3596.00", NULL, 799000,
	  "2026-02-15", 12, "2026-06-01", NULL,
	  KG_REASON_OK, KG_RENEWAL_STANDARD, 359600, "2027-06-01" },
	{ "R8 rounds half up to whole units (10.00 at 25% = 3.00)", NULL,
	  1000, "2026-02-15", 12, "2026-02-20", NULL,
	  KG_REASON_OK, KG_RENEWAL_GRACE, 300, "2027-02-15" },
	{ "R8 rounds half up at 45% (10.00 -> 5.00)", NULL, 1000,
	  "2026-02-15", 12, "2026-06-01", NULL,
	  KG_REASON_OK, KG_RENEWAL_STANDARD, 500, "2027-06-01" },
	{ "R8 rounds down below half (12.00 at 45% = 5.00)", NULL, 1200,
	  "2026-02-15", 12, "2026-06-01", NULL,
	  KG_REASON_OK, KG_RENEWAL_STANDARD, 500, "2027-06-01" },
	{ "R8 free product renews free", NULL, 0, "2026-02-15", 12,
	  "2026-06-01", NULL,
	  KG_REASON_OK, KG_RENEWAL_STANDARD, 0, "2027-06-01" },
	{ "R11 subscription required: none -> subscription_required",
	  &pol_subscription, 799000, "2026-02-15", 12, "2026-03-01", NULL,
	  KG_REASON_SUBSCRIPTION_REQUIRED, 0, 0, NULL },
	{ "R11 subscription expired yesterday -> refused",
	  &pol_subscription, 799000, "2026-02-15", 12, "2026-03-01",
	  "2026-02-28",
	  KG_REASON_SUBSCRIPTION_REQUIRED, 0, 0, NULL },
	{ "R11 subscription valid through today -> ok",
	  &pol_subscription, 799000, "2026-02-15", 12, "2026-03-01",
	  "2026-03-01",
	  KG_REASON_OK, KG_RENEWAL_GRACE, 199800, "2027-02-15" },
	{ "R11 subscription not required: none is fine", NULL, 799000,
	  "2026-02-15", 12, "2026-03-01", NULL,
	  KG_REASON_OK, KG_RENEWAL_GRACE, 199800, "2027-02-15" },
	{ "renewal of 0 months is refused as internal", NULL, 799000,
	  "2026-02-15", 0, "2026-03-01", NULL,
	  KG_REASON_INTERNAL, 0, 0, NULL },
	{ "renewal over KG_MONTHS_MAX is refused as internal", NULL, 799000,
	  "2026-02-15", KG_MONTHS_MAX + 1, "2026-03-01", NULL,
	  KG_REASON_INTERNAL, 0, 0, NULL },
	{ "renewal at a negative price is refused as internal", NULL, -1,
	  "2026-02-15", 12, "2026-03-01", NULL,
	  KG_REASON_INTERNAL, 0, 0, NULL },
	{ "renewal past year 9999 is refused as internal", NULL, 799000,
	  "9999-06-30", 12, "9999-06-01", NULL,
	  KG_REASON_INTERNAL, 0, 0, NULL },
};

static void
test_renew_case(void **state)
{
	const struct renew_case	*c = *state;
	struct kg_quote		 q;
	enum kg_reason		 r;

	memset(&q, 0xa5, sizeof(q));
	r = renewal_compute(c->policy, c->price, day(c->expiry), c->months,
	    day(c->today), day(c->subscription), &q);
	if (r != c->reason)
		fail_msg("%s: reason %s, want %s", c->name, reason_name(r),
		    reason_name(c->reason));
	if (r != KG_REASON_OK) {
		/* Refusals leave the quote zeroed. */
		assert_int_equal(q.kind, 0);
		assert_int_equal(q.price, 0);
		assert_int_equal(q.new_expiry, KG_DATE_NONE);
		return;
	}
	if (q.kind != c->kind)
		fail_msg("%s: kind %s, want %s", c->name,
		    policy_renewal_kind_name(q.kind),
		    policy_renewal_kind_name(c->kind));
	if (q.price != c->want_price)
		fail_msg("%s: price %lld, want %lld", c->name,
		    (long long)q.price, (long long)c->want_price);
	assert_date(c->name, "new_expiry", q.new_expiry, c->new_expiry);
}

/* ---------------------------------------------------------------------- */
/* policy_license_expiry */

struct lx_case {
	const char			*name;
	const struct kg_edition_policy	*policy;
	const char			*support;
	const char			*license;
	const char			*want;	/* NULL: perpetual */
};

static const struct lx_case lx_cases[] = {
	{ "fallback edition: perpetual", NULL, "2026-02-15", NULL, NULL },
	{ "fallback edition: own license expiry", NULL, "2026-02-15",
	  "2026-12-31", "2026-12-31" },
	{ "R6 demo edition: expires with support", &pol_demo, "2026-02-15",
	  NULL, "2026-02-15" },
	{ "R6 demo edition: earlier support wins", &pol_demo, "2026-02-15",
	  "2026-12-31", "2026-02-15" },
	{ "R6 demo edition: earlier license wins", &pol_demo, "2026-12-31",
	  "2026-02-15", "2026-02-15" },
	{ "R6 demo edition, support not fixed: perpetual", &pol_demo, NULL,
	  NULL, NULL },
	{ "R6 demo edition, support not fixed: own license expiry", &pol_demo,
	  NULL, "2026-12-31", "2026-12-31" },
	{ "R13 trial: the short term", NULL, "2026-03-31", "2026-03-31",
	  "2026-03-31" },
};

static void
test_lx_case(void **state)
{
	const struct lx_case	*c = *state;
	struct kg_license	 lic;

	memset(&lic, 0, sizeof(lic));
	lic.support_expiry = day(c->support);
	lic.license_expiry = day(c->license);
	assert_date(c->name, "license_expiry",
	    policy_license_expiry(&lic, c->policy), c->want);
}

/* ---------------------------------------------------------------------- */
/* Defaults and names */

static void
test_defaults(void **state)
{
	struct kg_edition_policy	p;

	(void)state;
	memset(&p, 0xa5, sizeof(p));
	policy_defaults(&p);
	assert_int_equal(p.support_months, 6);
	assert_int_equal(p.basis, KG_BASIS_CREATION);
	assert_int_equal(p.on_expiry, KG_ON_EXPIRY_FALLBACK);
	assert_int_equal(p.renewal_months, 12);
	assert_int_equal(p.grace_months, 1);
	assert_int_equal(p.grace_percent, 25);
	assert_int_equal(p.standard_percent, 45);
	assert_false(p.requires_subscription);
	/* R2: the default term from a creation date, clamped at month end. */
	assert_int_equal(date_add_months(day("2025-09-15"),
	    (int)p.support_months), day("2026-03-15"));
	assert_int_equal(date_add_months(day("2026-08-31"),
	    (int)p.support_months), day("2027-02-28"));
}

static const struct {
	enum kg_reason	 r;
	const char	*name;
} reason_table[] = {
	{ KG_REASON_OK, "ok" },
	{ KG_REASON_SUPPORT_EXPIRED, "support_expired" },
	{ KG_REASON_LICENSE_EXPIRED, "license_expired" },
	{ KG_REASON_REVOKED, "revoked" },
	{ KG_REASON_SUSPENDED, "suspended" },
	{ KG_REASON_BAD_KEY, "bad_key" },
	{ KG_REASON_WRONG_PRODUCT, "wrong_product" },
	{ KG_REASON_UNKNOWN_PRODUCT, "unknown_product" },
	{ KG_REASON_NOT_ELIGIBLE, "not_eligible" },
	{ KG_REASON_NOT_ACTIVATED, "not_activated" },
	{ KG_REASON_SUBSCRIPTION_REQUIRED, "subscription_required" },
	{ KG_REASON_TRIAL_NOT_RENEWABLE, "trial_not_renewable" },
	{ KG_REASON_ACT_UNKNOWN, "act_unknown" },
	{ KG_REASON_ACT_USED, "act_used" },
	{ KG_REASON_ACT_VOID, "act_void" },
	{ KG_REASON_ACT_WRONG_PRODUCT, "act_wrong_product" },
	{ KG_REASON_ACT_WRONG_EDITION, "act_wrong_edition" },
	{ KG_REASON_ACT_WRONG_LICENSEE, "act_wrong_licensee" },
	{ KG_REASON_RATE_LIMITED, "rate_limited" },
	{ KG_REASON_BAD_VERSION, "bad_version" },
	{ KG_REASON_BAD_REQUEST, "bad_request" },
	{ KG_REASON_PROTOCOL_VERSION, "protocol_version" },
	{ KG_REASON_FRAME_TOO_LARGE, "frame_too_large" },
	{ KG_REASON_STORAGE_FULL, "storage_full" },
	{ KG_REASON_INTERNAL, "internal" },
};

static const char *const bad_names[] = {
	"", "OK", "Ok", " ok", "ok ", "unknown", "ok_", "support-expired",
	"demo!", "1", "creationx", "activ",
};

static void
test_reason_names(void **state)
{
	enum kg_reason	r;
	size_t		i;

	(void)state;
	/* Every code is in the table, once, with its contract name. */
	assert_int_equal(sizeof(reason_table) / sizeof(reason_table[0]),
	    KG_REASON__COUNT);
	for (i = 0; i < sizeof(reason_table) / sizeof(reason_table[0]); i++) {
		assert_int_equal(reason_table[i].r, (enum kg_reason)i);
		assert_string_equal(reason_name(reason_table[i].r),
		    reason_table[i].name);
		r = KG_REASON__COUNT;
		assert_int_equal(reason_parse(reason_table[i].name, &r), 0);
		assert_int_equal(r, reason_table[i].r);
	}
	assert_string_equal(reason_name(KG_REASON__COUNT), "unknown");
	assert_string_equal(reason_name((enum kg_reason)-1), "unknown");
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		r = KG_REASON__COUNT;
		assert_int_equal(reason_parse(bad_names[i], &r), -1);
		assert_int_equal(r, KG_REASON__COUNT);
	}
	assert_int_equal(reason_parse(NULL, &r), -1);
}

static void
test_enum_names(void **state)
{
	enum kg_basis		b;
	enum kg_on_expiry	e;
	enum kg_license_status	s;
	size_t			i;

	(void)state;
	assert_string_equal(policy_basis_name(KG_BASIS_CREATION), "creation");
	assert_string_equal(policy_basis_name(KG_BASIS_ACTIVATION),
	    "activation");
	assert_int_equal(policy_basis_parse("creation", &b), 0);
	assert_int_equal(b, KG_BASIS_CREATION);
	assert_int_equal(policy_basis_parse("activation", &b), 0);
	assert_int_equal(b, KG_BASIS_ACTIVATION);

	assert_string_equal(policy_on_expiry_name(KG_ON_EXPIRY_FALLBACK),
	    "fallback");
	assert_string_equal(policy_on_expiry_name(KG_ON_EXPIRY_DEMO), "demo");
	assert_int_equal(policy_on_expiry_parse("fallback", &e), 0);
	assert_int_equal(e, KG_ON_EXPIRY_FALLBACK);
	assert_int_equal(policy_on_expiry_parse("demo", &e), 0);
	assert_int_equal(e, KG_ON_EXPIRY_DEMO);

	assert_string_equal(policy_status_name(KG_STATUS_ACTIVE), "active");
	assert_string_equal(policy_status_name(KG_STATUS_REVOKED), "revoked");
	assert_string_equal(policy_status_name(KG_STATUS_SUSPENDED),
	    "suspended");
	assert_int_equal(policy_status_parse("active", &s), 0);
	assert_int_equal(s, KG_STATUS_ACTIVE);
	assert_int_equal(policy_status_parse("revoked", &s), 0);
	assert_int_equal(s, KG_STATUS_REVOKED);
	assert_int_equal(policy_status_parse("suspended", &s), 0);
	assert_int_equal(s, KG_STATUS_SUSPENDED);

	/* Round trips: name then parse gives the value back. */
	for (b = KG_BASIS_CREATION; b <= KG_BASIS_ACTIVATION; b++) {
		enum kg_basis	got = (enum kg_basis)99;

		assert_int_equal(policy_basis_parse(policy_basis_name(b),
		    &got), 0);
		assert_int_equal(got, b);
	}
	for (e = KG_ON_EXPIRY_FALLBACK; e <= KG_ON_EXPIRY_DEMO; e++) {
		enum kg_on_expiry	got = (enum kg_on_expiry)99;

		assert_int_equal(policy_on_expiry_parse(
		    policy_on_expiry_name(e), &got), 0);
		assert_int_equal(got, e);
	}
	for (s = KG_STATUS_ACTIVE; s <= KG_STATUS_SUSPENDED; s++) {
		enum kg_license_status	got = (enum kg_license_status)99;

		assert_int_equal(policy_status_parse(policy_status_name(s),
		    &got), 0);
		assert_int_equal(got, s);
	}

	/* Refusals leave the output alone. */
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		b = (enum kg_basis)99;
		e = (enum kg_on_expiry)99;
		s = (enum kg_license_status)99;
		assert_int_equal(policy_basis_parse(bad_names[i], &b), -1);
		assert_int_equal(policy_on_expiry_parse(bad_names[i], &e), -1);
		assert_int_equal(policy_status_parse(bad_names[i], &s), -1);
		assert_int_equal(b, 99);
		assert_int_equal(e, 99);
		assert_int_equal(s, 99);
	}
	assert_int_equal(policy_basis_parse(NULL, &b), -1);
	assert_int_equal(policy_on_expiry_parse(NULL, &e), -1);
	assert_int_equal(policy_status_parse(NULL, &s), -1);
	assert_int_equal(policy_basis_parse("Creation", &b), -1);
	assert_int_equal(policy_on_expiry_parse("DEMO", &e), -1);
	assert_int_equal(policy_status_parse("Active", &s), -1);

	/* Names without parsers. */
	assert_string_equal(policy_verdict_name(KG_VERDICT_UPDATE), "update");
	assert_string_equal(policy_verdict_name(KG_VERDICT_FALLBACK),
	    "fallback");
	assert_string_equal(policy_verdict_name(KG_VERDICT_CURRENT),
	    "current");
	assert_string_equal(policy_verdict_name(KG_VERDICT_DEMO), "demo");
	assert_string_equal(policy_renewal_kind_name(KG_RENEWAL_EARLY),
	    "early");
	assert_string_equal(policy_renewal_kind_name(KG_RENEWAL_GRACE),
	    "grace");
	assert_string_equal(policy_renewal_kind_name(KG_RENEWAL_STANDARD),
	    "standard");
	assert_string_equal(policy_release_state_name(KG_RELEASE_DRAFT),
	    "draft");
	assert_string_equal(policy_release_state_name(KG_RELEASE_PUBLISHED),
	    "published");
	assert_string_equal(policy_release_state_name(KG_RELEASE_WITHDRAWN),
	    "withdrawn");

	/* Out-of-range values get a name no parser accepts. */
	assert_string_equal(policy_basis_name((enum kg_basis)7), "unknown");
	assert_string_equal(policy_on_expiry_name((enum kg_on_expiry)7),
	    "unknown");
	assert_string_equal(policy_status_name((enum kg_license_status)7),
	    "unknown");
	assert_string_equal(policy_verdict_name((enum kg_verdict_kind)7),
	    "unknown");
	assert_string_equal(policy_renewal_kind_name((enum kg_renewal_kind)7),
	    "unknown");
	assert_string_equal(policy_release_state_name(
	    (enum kg_release_state)7), "unknown");
}

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int
run_table(const char *group, void (*fn)(void **), const void *rows,
    size_t rowsize, size_t n, const char *(*name)(const void *))
{
	struct CMUnitTest	*tests;
	size_t			 i;
	int			 rc;

	if ((tests = calloc(n, sizeof(*tests))) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		const void	*row = (const char *)rows + i * rowsize;

		tests[i].name = name(row);
		tests[i].test_func = fn;
		tests[i].initial_state = (void *)(uintptr_t)row;
	}
	rc = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	free(tests);
	return rc;
}

static const char *
check_case_name(const void *row)
{
	return ((const struct check_case *)row)->name;
}

static const char *
renew_case_name(const void *row)
{
	return ((const struct renew_case *)row)->name;
}

static const char *
lx_case_name(const void *row)
{
	return ((const struct lx_case *)row)->name;
}

int
main(void)
{
	const struct CMUnitTest	misc[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_reason_names),
		cmocka_unit_test(test_enum_names),
		cmocka_unit_test(test_check_null_policy_is_defaults),
	};
	int			rc = 0;

	rc |= cmocka_run_group_tests_name("policy names and defaults", misc,
	    NULL, NULL);
	rc |= run_table("policy_check", test_check_case, check_cases,
	    sizeof(check_cases[0]), NELEM(check_cases), check_case_name);
	rc |= run_table("renewal_compute", test_renew_case, renew_cases,
	    sizeof(renew_cases[0]), NELEM(renew_cases), renew_case_name);
	rc |= run_table("policy_license_expiry", test_lx_case, lx_cases,
	    sizeof(lx_cases[0]), NELEM(lx_cases), lx_case_name);
	return rc != 0;
}
