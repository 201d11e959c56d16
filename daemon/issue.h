/*
 * Building a new license from its edition's policy (SPEC R1-R3, R6, R13):
 * the dates and terms a freshly issued key carries, before the store gives it
 * a serial and a registration number and the signer signs it. A pure
 * function: no store, no clock, no keys.
 */
#ifndef KG_ISSUE_H
#define KG_ISSUE_H

#include <stdint.h>

#include "date.h"
#include "license.h"
#include "policy.h"

#define ISSUE_TRIAL_DAYS_MAX	3650	/* a "trial" of ten years is a typo */

/*
 * Fill *out with a new license (revision 1, serial 0, regno "", key_id
 * zeroed: the store and the signer set those) of product/edition for
 * licensee, created on created:
 * - basis creation: support_expiry = created + support_months calendar
 *   months (clamped to the month's last day);
 * - basis activation: support_expiry = KG_DATE_NONE until the first check
 *   or activation fixes it;
 * - on-expiry demo: license_expiry = support_expiry (so KG_DATE_NONE while
 *   support is not fixed); fallback: KG_DATE_NONE (perpetual);
 * - trial_days > 0: a trial key, support_expiry = license_expiry = created
 *   + trial_days days, whatever the basis.
 * support_months is the edition's term (0 for trial keys).
 *
 * Returns 0, or -1 with *out zeroed when an argument is invalid: a NULL
 * pointer, a string longer than its limit, created == KG_DATE_NONE,
 * support_months outside 1..KG_MONTHS_MAX, trial_days above
 * ISSUE_TRIAL_DAYS_MAX, or an expiry past 9999-12-31.
 */
int	issue_license_prepare(const struct kg_edition_policy *policy,
	    const char *product, const char *edition, const char *licensee,
	    kg_date created, uint32_t trial_days, struct kg_license *out);

#endif
