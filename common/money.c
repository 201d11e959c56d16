/*
 * Money as integer minor units (1/100 of the currency unit): strict decimal
 * parsing, two-decimal text, and the renewal-price percentage of SPEC R8,
 * rounded half up to whole currency units. No floating point anywhere.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "money.h"

#define MONEY_PERCENT_MAX	1000

/*
 * Parse "7990", "7990.5" or "7990.50": one or more digits, then optionally a
 * '.' and one or two digits; at most KG_MONEY_MAX. 0 or -1.
 */
int
money_parse(const char *s, kg_money *out)
{
	kg_money	units = 0, cents = 0;
	int		n;

	if (s == NULL || out == NULL)
		return -1;
	for (n = 0; *s >= '0' && *s <= '9'; s++, n++) {
		units = units * 10 + (*s - '0');
		if (units > KG_MONEY_MAX / 100)
			return -1;	/* stops long before overflow */
	}
	if (n == 0)
		return -1;
	if (*s == '.') {
		s++;
		for (n = 0; *s >= '0' && *s <= '9'; s++, n++) {
			if (n == 2)
				return -1;
			cents = cents * 10 + (*s - '0');
		}
		if (n == 0)
			return -1;
		if (n == 1)
			cents *= 10;
	}
	if (*s != '\0' || units * 100 + cents > KG_MONEY_MAX)
		return -1;
	*out = units * 100 + cents;
	return 0;
}

/* Write "1998.00" (or "-5.00") into out. */
void
money_format(kg_money m, char out[KG_MONEY_TEXT_LEN])
{
	uint64_t	mag;

	/* The magnitude in unsigned arithmetic: INT64_MIN has no positive. */
	mag = m < 0 ? 0 - (uint64_t)m : (uint64_t)m;
	snprintf(out, KG_MONEY_TEXT_LEN, "%s%" PRIu64 ".%02u", m < 0 ? "-" : "",
	    mag / 100, (unsigned)(mag % 100));
}

/*
 * percent % of price rounded half up to whole currency units. In the
 * documented ranges price * percent is at most 10^17, well inside int64_t.
 * Out-of-range arguments give -1, which no valid result equals.
 */
kg_money
money_percent(kg_money price, uint32_t percent)
{
	int64_t	scaled;

	if (price < 0 || price > KG_MONEY_MAX || percent > MONEY_PERCENT_MAX)
		return -1;
	/* price * percent / 100 minor units, / 100 again for whole units. */
	scaled = price * (int64_t)percent;
	return (scaled + 5000) / 10000 * 100;
}
