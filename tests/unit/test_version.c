/*
 * Unit tests of common/version.c: strict parsing, numeric ordering and
 * canonical text, as tables of cases with explicit expected values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "version.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static void
test_version_parse_ok(void **state)
{
	static const struct {
		const char	*text;
		uint8_t		 n;
		uint32_t	 part[KG_VERSION_PARTS_MAX];
	} cases[] = {
		{ "0", 1, { 0 } },
		{ "7", 1, { 7 } },
		{ "2.0", 2, { 2, 0 } },
		{ "2.0.10", 3, { 2, 0, 10 } },
		{ "8.3.1.12", 4, { 8, 3, 1, 12 } },
		{ "10.0.0.0", 4, { 10, 0, 0, 0 } },
		{ "999999999", 1, { 999999999 } },
		{ "1.2.3.4.5.6.7.8", 8, { 1, 2, 3, 4, 5, 6, 7, 8 } },
		{ "0.0.0.0.0.0.0.0", 8, { 0 } },
	};
	struct kg_version	v;
	char			text[KG_VERSION_TEXT_MAX];
	size_t			i;
	int			j;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		assert_int_equal(version_parse(cases[i].text, &v), 0);
		assert_int_equal(v.n, cases[i].n);
		for (j = 0; j < v.n; j++)
			assert_int_equal(v.part[j], cases[i].part[j]);
		version_format(&v, text);
		assert_string_equal(text, cases[i].text);
	}
}

static void
test_version_parse_rejects(void **state)
{
	static const char *bad[] = {
		"", ".", "1.", ".1", "1..2", "a", "1.2a", "01", "1.02", "00",
		"-1", "+1", "1 .2", " 1", "1 ", "1.2.", "v1.2", "1,2", "1.2-rc1",
		"1.2.3.4.5.6.7.8.9", "1234567890", "1.4294967296",
		"0x10", "1.\n", "1.2\t",
	};
	struct kg_version	v;
	size_t			i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		memset(&v, 0xa5, sizeof(v));
		assert_int_equal(version_parse(bad[i], &v), -1);
		assert_int_equal(v.n, 0xa5);	/* untouched on failure */
	}
	assert_int_equal(version_parse(NULL, &v), -1);
	assert_int_equal(version_parse("1.2", NULL), -1);
}

static void
test_version_cmp(void **state)
{
	static const struct {
		const char	*a, *b;
		int		 cmp;
	} cases[] = {
		{ "2.0.10", "2.0.9", 1 },
		{ "2.0.9", "2.0.10", -1 },
		{ "8.3.1.12", "8.3.1.9", 1 },
		{ "8.3.1.9", "8.3.1.12", -1 },
		{ "2.0", "2.0.0", 0 },
		{ "2.0.0", "2.0", 0 },
		{ "2", "2.0.0.0.0.0.0.0", 0 },
		{ "10.0", "9.9", 1 },
		{ "9.9", "10.0", -1 },
		{ "1.0", "1.0.1", -1 },
		{ "1.0.1", "1", 1 },
		{ "0", "0.0", 0 },
		{ "1.2.3", "1.2.3", 0 },
		{ "999999999", "999999998.999999999", 1 },
		{ "1.10", "1.9.9.9", 1 },
	};
	struct kg_version	a, b;
	size_t			i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		assert_int_equal(version_parse(cases[i].a, &a), 0);
		assert_int_equal(version_parse(cases[i].b, &b), 0);
		assert_int_equal(version_cmp(&a, &b), cases[i].cmp);
	}
}

static void
test_version_format_limits(void **state)
{
	struct kg_version	v;
	char			text[KG_VERSION_TEXT_MAX];
	int			i;

	(void)state;
	/* The longest parseable version fills the buffer exactly. */
	assert_int_equal(version_parse("999999999.999999999.999999999."
	    "999999999.999999999.999999999.999999999.999999999", &v), 0);
	version_format(&v, text);
	assert_int_equal(strlen(text), KG_VERSION_TEXT_MAX - 1);
	assert_string_equal(text, "999999999.999999999.999999999."
	    "999999999.999999999.999999999.999999999.999999999");
	/* Hand-built values beyond the parser's are truncated, not overrun. */
	memset(&v, 0, sizeof(v));
	v.n = KG_VERSION_PARTS_MAX;
	for (i = 0; i < KG_VERSION_PARTS_MAX; i++)
		v.part[i] = UINT32_MAX;
	version_format(&v, text);
	assert_int_equal(strlen(text), KG_VERSION_TEXT_MAX - 1);
	assert_memory_equal(text, "4294967295.4294967295.", 22);
	/* No components reads as "0"; too many are capped. */
	v.n = 0;
	version_format(&v, text);
	assert_string_equal(text, "0");
	v.n = 200;
	for (i = 0; i < KG_VERSION_PARTS_MAX; i++)
		v.part[i] = (uint32_t)i;
	version_format(&v, text);
	assert_string_equal(text, "0.1.2.3.4.5.6.7");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_parse_ok),
		cmocka_unit_test(test_version_parse_rejects),
		cmocka_unit_test(test_version_cmp),
		cmocka_unit_test(test_version_format_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
