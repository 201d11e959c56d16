/*
 * The terms of a freshly issued license, from its edition's policy: support
 * counted from creation or left open until activation (R3), the license
 * expiring with support for on-expiry demo editions (R6), and trial keys
 * (R13). Nothing here touches the store or the signer; admin_ops.c calls
 * this, lets the store assign the serial and registration number, and signs.
 */
#include <string.h>

#include "issue.h"

static int
issue_string_fits(const char *s, size_t max)
{
	return s != NULL && strnlen(s, max + 1) <= max;
}

/* Copy s, which issue_string_fits checked, into dst. */
static void
issue_string_copy(char *dst, const char *s)
{
	memcpy(dst, s, strlen(s) + 1);
}

/* 1 when d is a day a key may name (1970-01-02 .. 9999-12-31). */
static int
issue_date_valid(kg_date d)
{
	int	y, m, day;

	if (d <= KG_DATE_NONE)
		return 0;
	date_to_ymd(d, &y, &m, &day);
	return y <= KG_YEAR_MAX;
}

/* Fill *out with a new license of the edition's terms (see issue.h). */
int
issue_license_prepare(const struct kg_edition_policy *policy,
    const char *product, const char *edition, const char *licensee,
    kg_date created, uint32_t trial_days, struct kg_license *out)
{
	struct kg_license	lic;

	memset(&lic, 0, sizeof(lic));
	if (out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	if (policy == NULL || !issue_string_fits(product, KG_CODE_MAX) ||
	    !issue_string_fits(edition, KG_CODE_MAX) ||
	    !issue_string_fits(licensee, KG_LICENSEE_MAX))
		return -1;
	if (!issue_date_valid(created) || trial_days > ISSUE_TRIAL_DAYS_MAX)
		return -1;
	if (policy->support_months < 1 || policy->support_months > KG_MONTHS_MAX)
		return -1;

	issue_string_copy(lic.product, product);
	issue_string_copy(lic.edition, edition);
	issue_string_copy(lic.licensee, licensee);
	lic.created = created;
	lic.revision = 1;

	if (trial_days > 0) {
		/* R13: a short term from creation, whatever the edition says. */
		lic.trial = true;
		lic.support_expiry = created + (kg_date)trial_days;
		lic.license_expiry = lic.support_expiry;
		lic.support_months = 0;
	} else {
		lic.support_months = policy->support_months;
		if (policy->basis == KG_BASIS_CREATION)
			lic.support_expiry = date_add_months(created,
			    (int)policy->support_months);
		else
			lic.support_expiry = KG_DATE_NONE;
		if (policy->on_expiry == KG_ON_EXPIRY_DEMO)
			lic.license_expiry = lic.support_expiry;
		else
			lic.license_expiry = KG_DATE_NONE;
	}
	if (lic.support_expiry != KG_DATE_NONE &&
	    !issue_date_valid(lic.support_expiry))
		return -1;

	*out = lic;
	return 0;
}
