/*
 * Calendar dates as day numbers since 1970-01-01 (UTC), their "YYYY-MM-DD"
 * text, and calendar-month arithmetic with end-of-month clamping (SPEC
 * section 1). Conversions use Howard Hinnant's days_from_civil and
 * civil_from_days algorithms on the proleptic Gregorian calendar: integer
 * only, no dependence on the time zone or on the C library's time functions.
 * Arithmetic is done in 64 bits and saturated to the range of kg_date, so
 * no input can overflow.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "date.h"

#define DAYS_0000_TO_1970	719468	/* days from 0000-03-01 to 1970-01-01 */
#define DAYS_PER_ERA		146097	/* days in 400 Gregorian years */
#define SECS_PER_DAY		86400

static kg_date
date_saturate(int64_t v)
{
	if (v < INT32_MIN)
		return INT32_MIN;
	if (v > INT32_MAX)
		return INT32_MAX;
	return (kg_date)v;
}

/* Floor division for a positive divisor. */
static int64_t
date_floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/* Day number of (year, month, day); month may lie outside 1..12. */
static int64_t
date_days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t	ym, era, yoe, doy, doe;

	ym = y * 12 + (m - 1);
	y = date_floor_div(ym, 12);
	m = ym - y * 12 + 1;
	y -= m <= 2;
	era = date_floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * DAYS_PER_ERA + doe - DAYS_0000_TO_1970;
}

/* Day number of a calendar day; month 1..12, day 1..31 (not validated). */
kg_date
date_from_ymd(int year, int month, int day)
{
	return date_saturate(date_days_from_civil(year, month, day));
}

/* Calendar day of a day number. */
void
date_to_ymd(kg_date d, int *year, int *month, int *day)
{
	int64_t	z, era, doe, yoe, doy, mp, m;

	z = (int64_t)d + DAYS_0000_TO_1970;
	era = date_floor_div(z, DAYS_PER_ERA);
	doe = z - era * DAYS_PER_ERA;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = mp < 10 ? mp + 3 : mp - 9;
	*year = (int)(yoe + era * 400 + (m <= 2));
	*month = (int)m;
	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
}

/* 1 for leap years (proleptic Gregorian), else 0. */
int
date_is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Days in the month (1..12) of year; 0 for a month outside 1..12. */
int
date_days_in_month(int year, int month)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (month < 1 || month > 12)
		return 0;
	if (month == 2 && date_is_leap(year))
		return 29;
	return days[month - 1];
}

static int
date_digits(const char *s, int n)
{
	int	i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Parse strict "YYYY-MM-DD" (years 1970..9999, a real calendar day). 0 or -1. */
int
date_parse(const char *s, kg_date *out)
{
	int	y, m, d;

	if (s == NULL || out == NULL || strlen(s) != KG_DATE_TEXT_LEN - 1)
		return -1;
	if (s[4] != '-' || s[7] != '-')
		return -1;
	y = date_digits(s, 4);
	m = date_digits(s + 5, 2);
	d = date_digits(s + 8, 2);
	if (y < KG_YEAR_MIN || y > KG_YEAR_MAX || m < 1 || m > 12)
		return -1;
	if (d < 1 || d > date_days_in_month(y, m))
		return -1;
	*out = date_from_ymd(y, m, d);
	return 0;
}

/*
 * Write "YYYY-MM-DD" into out. A day outside years 0000..9999 has no such
 * text and is written as "0000-00-00", which date_parse refuses.
 */
void
date_format(kg_date d, char out[KG_DATE_TEXT_LEN])
{
	int	y, m, day;

	date_to_ymd(d, &y, &m, &day);
	if (y < 0 || y > 9999)
		y = m = day = 0;
	/* Unsigned remainders let the compiler see the text fits. */
	snprintf(out, KG_DATE_TEXT_LEN, "%04u-%02u-%02u", (unsigned)y % 10000,
	    (unsigned)m % 100, (unsigned)day % 100);
}

/* d + months calendar months, day clamped to the month's last day (months may be negative). */
kg_date
date_add_months(kg_date d, int months)
{
	int64_t	ym, y64;
	int	y, m, day, last;

	date_to_ymd(d, &y, &m, &day);
	ym = (int64_t)y * 12 + (m - 1) + months;
	y64 = date_floor_div(ym, 12);
	m = (int)(ym - y64 * 12 + 1);
	y = (int)y64;	/* |y64| < 2^31: kg_date's years plus INT_MAX / 12 */
	last = date_days_in_month(y, m);
	if (day > last)
		day = last;
	return date_saturate(date_days_from_civil(y, m, day));
}

/* The UTC calendar day containing Unix time t. */
kg_date
date_from_time(time_t t)
{
	return date_saturate(date_floor_div((int64_t)t, SECS_PER_DAY));
}

/* Unix time of 00:00:00 UTC on day d. */
time_t
date_to_time(kg_date d)
{
	return (time_t)d * SECS_PER_DAY;
}

/* b - a in days (negative when b is before a), saturated to kg_date's range. */
int32_t
date_days_between(kg_date a, kg_date b)
{
	return date_saturate((int64_t)b - a);
}

/* -1, 0 or 1 as a is before, equal to or after b. */
int
date_cmp(kg_date a, kg_date b)
{
	return (a > b) - (a < b);
}
