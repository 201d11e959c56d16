/*
 * Unit tests of common/money.c: parsing, two-decimal text and the renewal
 * percentage of SPEC R8, as tables of cases with explicit expected values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "money.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static void
test_money_parse_ok(void **state)
{
	static const struct {
		const char	*text;
		kg_money	 minor;
		const char	*canonical;
	} cases[] = {
		{ "7990", 799000, "7990.00" },
		{ "7990.5", 799050, "7990.50" },
		{ "7990.50", 799050, "7990.50" },
		{ "7990.05", 799005, "7990.05" },
		{ "0", 0, "0.00" },
		{ "0.01", 1, "0.01" },
		{ "0.1", 10, "0.10" },
		{ "007", 700, "7.00" },
		{ "1998.00", 199800, "1998.00" },
		{ "1000000000000", KG_MONEY_MAX, "1000000000000.00" },
		{ "999999999999.99", KG_MONEY_MAX - 1, "999999999999.99" },
		{ "1000000000000.00", KG_MONEY_MAX, "1000000000000.00" },
	};
	char		text[KG_MONEY_TEXT_LEN];
	kg_money	m;
	size_t		i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		m = -7;
		assert_int_equal(money_parse(cases[i].text, &m), 0);
		assert_int_equal(m, cases[i].minor);
		money_format(m, text);
		assert_string_equal(text, cases[i].canonical);
	}
}

static void
test_money_parse_rejects(void **state)
{
	static const char *bad[] = {
		"-1", "1.234", "", "1e3", " 1", "1 ", "1,5", "+1", ".5", "5.",
		"1.2.3", "1..2", "0x10", "abc", "12a", "1.a", "1.-5", "1.\n",
		"1000000000000.01", "1000000000001", "99999999999999999999",
		"999999999999999999999999999999.00",
	};
	kg_money	m;
	size_t		i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		m = 4242;
		assert_int_equal(money_parse(bad[i], &m), -1);
		assert_int_equal(m, 4242);
	}
	assert_int_equal(money_parse(NULL, &m), -1);
	assert_int_equal(money_parse("1", NULL), -1);
}

static void
test_money_format(void **state)
{
	static const struct {
		kg_money	 minor;
		const char	*text;
	} cases[] = {
		{ 0, "0.00" },
		{ 1, "0.01" },
		{ 99, "0.99" },
		{ 100, "1.00" },
		{ 199800, "1998.00" },
		{ -500, "-5.00" },
		{ -1, "-0.01" },
		{ INT64_MAX, "92233720368547758.07" },
		{ INT64_MIN, "-92233720368547758.08" },
	};
	char	text[KG_MONEY_TEXT_LEN];
	size_t	i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		money_format(cases[i].minor, text);
		assert_string_equal(text, cases[i].text);
	}
}

static void
test_money_percent(void **state)
{
	static const struct {
		kg_money	price;
		uint32_t	percent;
		kg_money	result;
	} cases[] = {
		{ 799000, 25, 199800 },		/* SPEC R8: 7990 -> 1998 */
		{ 799000, 45, 359600 },		/* 3595.50 rounds up */
		{ 100, 50, 100 },		/* 0.50 rounds up to 1.00 */
		{ 0, 25, 0 },
		{ 799000, 0, 0 },
		{ 799000, 100, 799000 },
		{ 799050, 100, 799100 },	/* 7990.50 -> 7991.00 */
		{ 799049, 100, 799000 },	/* 7990.49 -> 7990.00 */
		{ 100, 49, 0 },			/* 0.49 rounds down */
		{ 199, 25, 0 },			/* 0.4975 */
		{ 200, 25, 100 },		/* 0.50 */
		{ 1000, 1000, 10000 },		/* 10 * 10.00 */
		{ 12345, 45, 5600 },		/* 55.5525 -> 56.00 */
		{ KG_MONEY_MAX, 1000, KG_MONEY_MAX * 10 },
		{ KG_MONEY_MAX, 45, 45000000000000 },
		{ KG_MONEY_MAX - 1, 25, 25000000000000 },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++)
		assert_int_equal(money_percent(cases[i].price, cases[i].percent),
		    cases[i].result);
}

static void
test_money_percent_out_of_range(void **state)
{
	(void)state;
	assert_int_equal(money_percent(-1, 25), -1);
	assert_int_equal(money_percent(KG_MONEY_MAX + 1, 25), -1);
	assert_int_equal(money_percent(INT64_MAX, 1000), -1);
	assert_int_equal(money_percent(100, 1001), -1);
	assert_int_equal(money_percent(100, UINT32_MAX), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_money_parse_ok),
		cmocka_unit_test(test_money_parse_rejects),
		cmocka_unit_test(test_money_format),
		cmocka_unit_test(test_money_percent),
		cmocka_unit_test(test_money_percent_out_of_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
