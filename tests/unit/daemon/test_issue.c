/*
 * Unit tests of daemon/issue.c: the terms of a new license for each basis
 * and on-expiry mode, trial keys, the calendar-month examples of SPEC
 * section 1 (month ends and leap years) and the refused arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "date.h"
#include "issue.h"
#include "license.h"
#include "policy.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static kg_date
day(const char *text)
{
	kg_date	d = KG_DATE_NONE;

	assert_int_equal(date_parse(text, &d), 0);
	return d;
}

/* "" for KG_DATE_NONE, else the date's text. */
static const char *
text_of(kg_date d, char buf[KG_DATE_TEXT_LEN])
{
	if (d == KG_DATE_NONE)
		return "";
	date_format(d, buf);
	return buf;
}

/* Support expiry of creation-basis keys: created + N calendar months, clamped. */
static void
test_issue_creation_months(void **state)
{
	static const struct {
		const char	*created;
		uint32_t	 months;
		const char	*support;
	} cases[] = {
		{ "2026-08-31", 6, "2027-02-28" },	/* SPEC: month end, common year */
		{ "2023-08-31", 6, "2024-02-29" },	/* month end into a leap February */
		{ "2024-01-31", 1, "2024-02-29" },	/* SPEC */
		{ "2026-01-31", 1, "2026-02-28" },	/* SPEC */
		{ "2024-02-29", 12, "2025-02-28" },	/* leap day + a year */
		{ "2024-02-29", 48, "2028-02-29" },	/* leap day + four years */
		{ "2026-03-15", 6, "2026-09-15" },	/* mid-month keeps the day */
		{ "2026-10-31", 1, "2026-11-30" },	/* 30-day month */
		{ "2026-12-31", 2, "2027-02-28" },	/* across a year end */
		{ "2026-07-01", 1200, "2126-07-01" },	/* the longest term */
		{ "1970-01-02", 3, "1970-04-02" },	/* the first day a key may name */
	};
	struct kg_edition_policy	p;
	struct kg_license		lic;
	char				buf[KG_DATE_TEXT_LEN];
	size_t				i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		policy_defaults(&p);
		p.support_months = cases[i].months;
		assert_int_equal(issue_license_prepare(&p, "ZHKH8", "PROF",
		    "ООО \"Ромашка\"", day(cases[i].created), 0, &lic), 0);
		assert_string_equal(text_of(lic.support_expiry, buf),
		    cases[i].support);
		assert_int_equal(lic.license_expiry, KG_DATE_NONE);
		assert_int_equal(lic.created, day(cases[i].created));
		assert_int_equal(lic.support_months, cases[i].months);
		assert_false(lic.trial);
		assert_int_equal(lic.revision, 1);
	}
}

/* Every combination of basis and on-expiry mode, with the defaults otherwise. */
static void
test_issue_basis_and_expiry(void **state)
{
	static const struct {
		enum kg_basis		 basis;
		enum kg_on_expiry	 on_expiry;
		const char		*support;	/* "" = KG_DATE_NONE */
		const char		*license;
	} cases[] = {
		{ KG_BASIS_CREATION, KG_ON_EXPIRY_FALLBACK, "2027-02-28", "" },
		{ KG_BASIS_CREATION, KG_ON_EXPIRY_DEMO, "2027-02-28", "2027-02-28" },
		{ KG_BASIS_ACTIVATION, KG_ON_EXPIRY_FALLBACK, "", "" },
		{ KG_BASIS_ACTIVATION, KG_ON_EXPIRY_DEMO, "", "" },
	};
	struct kg_edition_policy	p;
	struct kg_license		lic;
	char				b1[KG_DATE_TEXT_LEN], b2[KG_DATE_TEXT_LEN];
	size_t				i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		policy_defaults(&p);
		p.basis = cases[i].basis;
		p.on_expiry = cases[i].on_expiry;
		memset(&lic, 0xa5, sizeof(lic));
		assert_int_equal(issue_license_prepare(&p, "DEMO", "BASIC",
		    "Acme", day("2026-08-31"), 0, &lic), 0);
		assert_string_equal(text_of(lic.support_expiry, b1),
		    cases[i].support);
		assert_string_equal(text_of(lic.license_expiry, b2),
		    cases[i].license);
		assert_int_equal(lic.support_months, 6);
		assert_string_equal(lic.product, "DEMO");
		assert_string_equal(lic.edition, "BASIC");
		assert_string_equal(lic.licensee, "Acme");
		assert_string_equal(lic.regno, "");
		assert_int_equal(lic.serial, 0);
		assert_int_equal(lic.revision, 1);
		assert_false(lic.trial);
		for (size_t k = 0; k < sizeof(lic.key_id); k++)
			assert_int_equal(lic.key_id[k], 0);
	}
}

/* Trial keys: N days from creation for support and license, whatever the policy. */
static void
test_issue_trial(void **state)
{
	static const struct {
		enum kg_basis		 basis;
		enum kg_on_expiry	 on_expiry;
		const char		*created;
		uint32_t		 days;
		const char		*expiry;
	} cases[] = {
		{ KG_BASIS_CREATION, KG_ON_EXPIRY_FALLBACK, "2026-03-01", 30, "2026-03-31" },
		{ KG_BASIS_ACTIVATION, KG_ON_EXPIRY_FALLBACK, "2024-02-15", 14, "2024-02-29" },
		{ KG_BASIS_CREATION, KG_ON_EXPIRY_DEMO, "2026-12-25", 7, "2027-01-01" },
		{ KG_BASIS_ACTIVATION, KG_ON_EXPIRY_DEMO, "2026-01-01", 1, "2026-01-02" },
		{ KG_BASIS_CREATION, KG_ON_EXPIRY_FALLBACK, "2026-01-01",
		    ISSUE_TRIAL_DAYS_MAX, "2035-12-30" },
	};
	struct kg_edition_policy	p;
	struct kg_license		lic;
	char				b1[KG_DATE_TEXT_LEN], b2[KG_DATE_TEXT_LEN];
	size_t				i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		policy_defaults(&p);
		p.basis = cases[i].basis;
		p.on_expiry = cases[i].on_expiry;
		assert_int_equal(issue_license_prepare(&p, "NETGW", "DEMO",
		    "Tester", day(cases[i].created), cases[i].days, &lic), 0);
		assert_true(lic.trial);
		assert_string_equal(text_of(lic.support_expiry, b1),
		    cases[i].expiry);
		assert_string_equal(text_of(lic.license_expiry, b2),
		    cases[i].expiry);
		assert_int_equal(lic.support_months, 0);
		assert_int_equal(lic.revision, 1);
	}
}

/* The prepared license packs into a payload: every field is in range. */
static void
test_issue_packs(void **state)
{
	struct kg_edition_policy	p;
	struct kg_license		lic, back;
	uint8_t				buf[KG_PAYLOAD_MAX];
	char				licensee[KG_LICENSEE_MAX + 1];
	size_t				len;

	(void)state;
	memset(licensee, 'x', KG_LICENSEE_MAX);
	licensee[KG_LICENSEE_MAX] = '\0';
	policy_defaults(&p);
	p.on_expiry = KG_ON_EXPIRY_DEMO;
	assert_int_equal(issue_license_prepare(&p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
	    "E", licensee, day("2026-01-31"), 0, &lic), 0);
	memcpy(lic.regno, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345-000001", 40);
	lic.serial = 1;
	assert_int_equal(license_payload_pack(&lic, buf, sizeof(buf), &len), 0);
	assert_int_equal(license_payload_unpack(buf, len, &back), 0);
	assert_int_equal(back.serial, 1);
	assert_string_equal(back.product, lic.product);
	assert_string_equal(back.edition, "E");
	assert_string_equal(back.regno, lic.regno);
	assert_string_equal(back.licensee, licensee);
	assert_int_equal(back.created, day("2026-01-31"));
	assert_int_equal(back.support_months, 6);
	assert_int_equal(back.revision, 1);
	assert_false(back.trial);
	assert_int_equal(back.support_expiry, day("2026-07-31"));
	assert_int_equal(back.license_expiry, day("2026-07-31"));
}

/* Refused arguments leave *out zeroed. */
static void
test_issue_refused(void **state)
{
	struct kg_edition_policy	p, big, zero;
	struct kg_license		lic, zeroed;
	char				long_code[KG_CODE_MAX + 2];
	char				long_name[KG_LICENSEE_MAX + 2];
	const kg_date			created = day("2026-01-01");

	(void)state;
	memset(long_code, 'A', sizeof(long_code) - 1);
	long_code[sizeof(long_code) - 1] = '\0';
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	memset(&zeroed, 0, sizeof(zeroed));
	policy_defaults(&p);
	big = p;
	big.support_months = KG_MONTHS_MAX + 1;
	zero = p;
	zero.support_months = 0;

#define REFUSED(call) do {						\
	memset(&lic, 0x5a, sizeof(lic));				\
	assert_int_equal((call), -1);					\
	assert_memory_equal(&lic, &zeroed, sizeof(lic));		\
} while (0)
	REFUSED(issue_license_prepare(NULL, "P", "E", "L", created, 0, &lic));
	REFUSED(issue_license_prepare(&p, NULL, "E", "L", created, 0, &lic));
	REFUSED(issue_license_prepare(&p, "P", NULL, "L", created, 0, &lic));
	REFUSED(issue_license_prepare(&p, "P", "E", NULL, created, 0, &lic));
	REFUSED(issue_license_prepare(&p, long_code, "E", "L", created, 0, &lic));
	REFUSED(issue_license_prepare(&p, "P", long_code, "L", created, 0, &lic));
	REFUSED(issue_license_prepare(&p, "P", "E", long_name, created, 0, &lic));
	REFUSED(issue_license_prepare(&p, "P", "E", "L", KG_DATE_NONE, 0, &lic));
	REFUSED(issue_license_prepare(&p, "P", "E", "L", -5, 0, &lic));
	REFUSED(issue_license_prepare(&p, "P", "E", "L", created,
	    ISSUE_TRIAL_DAYS_MAX + 1, &lic));
	REFUSED(issue_license_prepare(&big, "P", "E", "L", created, 0, &lic));
	REFUSED(issue_license_prepare(&zero, "P", "E", "L", created, 0, &lic));
	/* Support would end after 9999-12-31. */
	REFUSED(issue_license_prepare(&p, "P", "E", "L", day("9999-08-01"), 0,
	    &lic));
	REFUSED(issue_license_prepare(&p, "P", "E", "L", day("9999-12-31"), 1,
	    &lic));
#undef REFUSED
	assert_int_equal(issue_license_prepare(&p, "P", "E", "L", created, 0,
	    NULL), -1);
	/* The last day that still fits is fine. */
	assert_int_equal(issue_license_prepare(&p, "P", "E", "L",
	    day("9999-06-30"), 0, &lic), 0);
	assert_int_equal(lic.support_expiry, day("9999-12-30"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_creation_months),
		cmocka_unit_test(test_issue_basis_and_expiry),
		cmocka_unit_test(test_issue_trial),
		cmocka_unit_test(test_issue_packs),
		cmocka_unit_test(test_issue_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
