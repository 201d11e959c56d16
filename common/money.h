/*
 * Money as integer minor units (1/100 of the currency unit); no floating point.
 */
#ifndef KG_MONEY_H
#define KG_MONEY_H

#include <stdint.h>

#include "kglimits.h"

typedef int64_t kg_money;	/* minor units */

#define KG_MONEY_MAX	((kg_money)100000000000000)	/* 10^12 currency units */

/* Parse "7990", "7990.5" or "7990.50" (non-negative, at most two decimals). 0 or -1. */
int	money_parse(const char *s, kg_money *out);

/* Write "1998.00" (or "-5.00") into out (KG_MONEY_TEXT_LEN bytes). */
void	money_format(kg_money m, char out[KG_MONEY_TEXT_LEN]);

/*
 * percent % of price, rounded half up to whole currency units (SPEC R8):
 * 799000 (7990.00) at 25 -> 199800 (1998.00); at 45 -> 359600 (3596.00).
 * price must be 0..KG_MONEY_MAX and percent 0..1000.
 */
kg_money money_percent(kg_money price, uint32_t percent);

#endif
