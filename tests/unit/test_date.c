/*
 * Unit tests of common/date.c: parsing and formatting, leap years, month
 * lengths, calendar-month arithmetic (SPEC section 1) and Unix-time
 * conversions, each a table of cases with explicit expected values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "date.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static void
test_date_round_trip(void **state)
{
	static const struct {
		const char	*text;
		kg_date		 day;
	} cases[] = {
		{ "1970-01-01", 0 },
		{ "1970-01-02", 1 },
		{ "1970-12-31", 364 },
		{ "1971-01-01", 365 },
		{ "1972-02-29", 789 },
		{ "2000-01-01", 10957 },
		{ "2000-02-29", 11016 },
		{ "2000-03-01", 11017 },
		{ "2024-02-29", 19782 },
		{ "2026-01-31", 20484 },
		{ "2038-01-19", 24855 },
		{ "2100-03-01", 47541 },
		{ "9999-12-31", 2932896 },
	};
	char	text[KG_DATE_TEXT_LEN];
	kg_date	d;
	size_t	i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		d = -1;
		assert_int_equal(date_parse(cases[i].text, &d), 0);
		assert_int_equal(d, cases[i].day);
		date_format(cases[i].day, text);
		assert_string_equal(text, cases[i].text);
	}
}

static void
test_date_every_day(void **state)
{
	char	text[KG_DATE_TEXT_LEN];
	kg_date	d, back, end;
	int	y, m, day, py = 1969, pm = 12, pday = 31;

	(void)state;
	/* Every day from 1970 to 2200 parses back to itself and follows the last. */
	end = date_from_ymd(2200, 12, 31);
	for (d = 0; d <= end; d++) {
		date_to_ymd(d, &y, &m, &day);
		if (day == 1) {
			assert_int_equal(pday, date_days_in_month(py, pm));
			assert_int_equal(y * 12 + m, py * 12 + pm + 1);
		} else {
			assert_int_equal(y, py);
			assert_int_equal(m, pm);
			assert_int_equal(day, pday + 1);
		}
		assert_int_equal(date_from_ymd(y, m, day), d);
		date_format(d, text);
		assert_int_equal(date_parse(text, &back), 0);
		assert_int_equal(back, d);
		py = y;
		pm = m;
		pday = day;
	}
}

static void
test_date_parse_rejects(void **state)
{
	static const char *bad[] = {
		"", "2026", "2026-02-29", "2026-2-1", "2026-02-1", "2026-02-01x",
		"2026-02-01 ", " 2026-02-01", "2026/02/01", "2026-13-01",
		"2026-00-10", "2026-01-00", "2026-01-32", "2026-04-31",
		"1900-02-29", "2100-02-29", "1969-12-31", "0000-01-01",
		"+026-01-01", "2026-+1-01", "2026-01--1", "2026-01-1\xff",
		"2026-01-0a", "20260101", "2026-01-01\n", "10000-01-01",
	};
	kg_date	d;
	size_t	i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		d = 12345;
		assert_int_equal(date_parse(bad[i], &d), -1);
		assert_int_equal(d, 12345);
	}
	assert_int_equal(date_parse(NULL, &d), -1);
	assert_int_equal(date_parse("2026-01-01", NULL), -1);
}

static void
test_date_leap(void **state)
{
	static const struct {
		int	year, leap;
	} cases[] = {
		{ 1900, 0 }, { 1970, 0 }, { 1972, 1 }, { 1996, 1 }, { 2000, 1 },
		{ 2023, 0 }, { 2024, 1 }, { 2026, 0 }, { 2100, 0 }, { 2400, 1 },
		{ 9996, 1 }, { 9999, 0 },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		assert_int_equal(date_is_leap(cases[i].year), cases[i].leap);
		assert_int_equal(date_days_in_month(cases[i].year, 2),
		    cases[i].leap ? 29 : 28);
	}
}

static void
test_date_days_in_month(void **state)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int	m;

	(void)state;
	for (m = 1; m <= 12; m++)
		assert_int_equal(date_days_in_month(2026, m), days[m - 1]);
	assert_int_equal(date_days_in_month(2026, 0), 0);
	assert_int_equal(date_days_in_month(2026, 13), 0);
}

static void
test_date_add_months(void **state)
{
	static const struct {
		const char	*from;
		int		 months;
		const char	*to;
	} cases[] = {
		/* SPEC section 1 */
		{ "2026-01-31", 1, "2026-02-28" },
		{ "2024-01-31", 1, "2024-02-29" },
		{ "2026-08-31", 6, "2027-02-28" },
		/* ordinary days keep their day of month */
		{ "2026-01-15", 1, "2026-02-15" },
		{ "2026-03-10", 6, "2026-09-10" },
		{ "2026-11-30", 2, "2027-01-30" },
		{ "2026-12-01", 1, "2027-01-01" },
		{ "2026-05-20", 12, "2027-05-20" },
		{ "2026-05-20", 0, "2026-05-20" },
		{ "2026-05-20", 1200, "2126-05-20" },
		/* month ends */
		{ "2026-03-31", 1, "2026-04-30" },
		{ "2026-05-31", 1, "2026-06-30" },
		{ "2026-04-30", 1, "2026-05-30" },
		{ "2026-01-29", 1, "2026-02-28" },
		{ "2026-01-30", 1, "2026-02-28" },
		{ "2028-01-30", 1, "2028-02-29" },
		{ "2026-10-31", 4, "2027-02-28" },
		/* leap days */
		{ "2024-02-29", 12, "2025-02-28" },
		{ "2024-02-29", 48, "2028-02-29" },
		{ "2096-02-29", 48, "2100-02-28" },
		{ "1996-02-29", 48, "2000-02-29" },
		{ "2024-02-29", 1, "2024-03-29" },
		/* negative months */
		{ "2026-03-31", -1, "2026-02-28" },
		{ "2024-03-31", -1, "2024-02-29" },
		{ "2026-01-15", -1, "2025-12-15" },
		{ "2027-02-28", -6, "2026-08-28" },
		{ "2026-01-31", -13, "2024-12-31" },
		{ "2026-05-31", -24, "2024-05-31" },
		{ "1970-02-01", -1, "1970-01-01" },
		/* Y10K edge */
		{ "9999-11-30", 1, "9999-12-30" },
	};
	char	text[KG_DATE_TEXT_LEN];
	kg_date	d;
	size_t	i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		assert_int_equal(date_parse(cases[i].from, &d), 0);
		date_format(date_add_months(d, cases[i].months), text);
		assert_string_equal(text, cases[i].to);
	}
}

static void
test_date_add_months_extremes(void **state)
{
	char	text[KG_DATE_TEXT_LEN];
	int	y, m, day;

	(void)state;
	/* Before 1970 the arithmetic still works; only the parser is limited. */
	date_format(date_add_months(0, -1), text);
	assert_string_equal(text, "1969-12-01");
	date_to_ymd(date_add_months(date_from_ymd(1970, 3, 31), -1200),
	    &y, &m, &day);
	assert_int_equal(y, 1870);
	assert_int_equal(m, 3);
	assert_int_equal(day, 31);
	/* Absurd terms saturate instead of overflowing. */
	assert_int_equal(date_add_months(0, INT32_MAX), INT32_MAX);
	assert_int_equal(date_add_months(0, INT32_MIN), INT32_MIN);
	assert_int_equal(date_add_months(INT32_MAX, INT32_MAX), INT32_MAX);
	/* Days outside years 0000..9999 have no text. */
	date_format(INT32_MAX, text);
	assert_string_equal(text, "0000-00-00");
	date_format(date_from_ymd(10000, 1, 1), text);
	assert_string_equal(text, "0000-00-00");
	date_format(date_from_ymd(0, 1, 1), text);
	assert_string_equal(text, "0000-01-01");
}

static void
test_date_days_between(void **state)
{
	static const struct {
		const char	*a, *b;
		int32_t		 days;
	} cases[] = {
		{ "2026-01-01", "2026-01-01", 0 },
		{ "2026-01-01", "2026-01-02", 1 },
		{ "2026-01-02", "2026-01-01", -1 },
		{ "2026-01-01", "2027-01-01", 365 },
		{ "2024-01-01", "2025-01-01", 366 },
		{ "2026-02-01", "2026-03-01", 28 },
		{ "2024-02-01", "2024-03-01", 29 },
		{ "1970-01-01", "9999-12-31", 2932896 },
	};
	kg_date	a, b;
	size_t	i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		assert_int_equal(date_parse(cases[i].a, &a), 0);
		assert_int_equal(date_parse(cases[i].b, &b), 0);
		assert_int_equal(date_days_between(a, b), cases[i].days);
		assert_int_equal(date_cmp(a, b),
		    cases[i].days > 0 ? -1 : cases[i].days < 0 ? 1 : 0);
	}
	assert_int_equal(date_days_between(INT32_MIN, INT32_MAX), INT32_MAX);
	assert_int_equal(date_days_between(INT32_MAX, INT32_MIN), INT32_MIN);
	assert_int_equal(date_cmp(INT32_MIN, INT32_MAX), -1);
}

static void
test_date_time(void **state)
{
	static const struct {
		time_t	t;
		kg_date	day;
	} cases[] = {
		{ 0, 0 },
		{ 86399, 0 },
		{ 86400, 1 },
		{ -1, -1 },
		{ -86400, -1 },
		{ -86401, -2 },
		{ 1767225599, 20453 },	/* 2025-12-31 23:59:59 */
		{ 1767225600, 20454 },	/* 2026-01-01 00:00:00 */
		{ 2147483647, 24855 },	/* 2038-01-19 03:14:07 */
		{ 4102444800, 47482 },	/* 2100-01-01 */
	};
	char	text[KG_DATE_TEXT_LEN];
	size_t	i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		assert_int_equal(date_from_time(cases[i].t), cases[i].day);
		assert_true(date_to_time(cases[i].day) <= cases[i].t);
		assert_true(cases[i].t - date_to_time(cases[i].day) < 86400);
	}
	date_format(date_from_time(-1), text);
	assert_string_equal(text, "1969-12-31");
	date_format(date_from_time(1767225600), text);
	assert_string_equal(text, "2026-01-01");
	assert_true(date_to_time(20454) == 1767225600);
	assert_true(date_to_time(date_from_ymd(9999, 12, 31)) == 253402214400);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date_round_trip),
		cmocka_unit_test(test_date_every_day),
		cmocka_unit_test(test_date_parse_rejects),
		cmocka_unit_test(test_date_leap),
		cmocka_unit_test(test_date_days_in_month),
		cmocka_unit_test(test_date_add_months),
		cmocka_unit_test(test_date_add_months_extremes),
		cmocka_unit_test(test_date_days_between),
		cmocka_unit_test(test_date_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
