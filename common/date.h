/*
 * Calendar dates as day numbers (days since 1970-01-01, UTC), with the
 * calendar-month arithmetic of SPEC section 1: adding N months keeps the day
 * of month and clamps to the month's last day.
 */
#ifndef KG_DATE_H
#define KG_DATE_H

#include <stdint.h>
#include <time.h>

#include "kglimits.h"

/* Days since 1970-01-01. 0 stands for "no date" in stored records. */
typedef int32_t kg_date;

#define KG_DATE_NONE	0
#define KG_YEAR_MIN	1970
#define KG_YEAR_MAX	9999

/* Parse strict "YYYY-MM-DD" (years 1970..9999, a real calendar day). 0 or -1. */
int	date_parse(const char *s, kg_date *out);

/* Write "YYYY-MM-DD" into out (KG_DATE_TEXT_LEN bytes). */
void	date_format(kg_date d, char out[KG_DATE_TEXT_LEN]);

/* Day number of a calendar day; month 1..12, day 1..31 (not validated). */
kg_date	date_from_ymd(int year, int month, int day);

/* Calendar day of a day number. */
void	date_to_ymd(kg_date d, int *year, int *month, int *day);

/* d + months calendar months, day clamped to the month's last day (months may be negative). */
kg_date	date_add_months(kg_date d, int months);

/* The UTC calendar day containing Unix time t. */
kg_date	date_from_time(time_t t);

/* Unix time of 00:00:00 UTC on day d. */
time_t	date_to_time(kg_date d);

/* b - a in days (negative when b is before a). */
int32_t	date_days_between(kg_date a, kg_date b);

/* -1, 0 or 1 as a is before, equal to or after b. */
int	date_cmp(kg_date a, kg_date b);

/* 1 for leap years (proleptic Gregorian), else 0. */
int	date_is_leap(int year);

/* Days in the month (1..12) of year. */
int	date_days_in_month(int year, int month);

#endif
