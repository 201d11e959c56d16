/*
 * Unit tests of daemon/ratelimit.c: the GCRA failure budget (5 a minute by
 * default), retry_after, refill over time, independent keys, and a full
 * table evicting without losing its bound. Time is passed in; the hash key
 * is a fixed seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <sodium.h>

#include "ratelimit.h"

static const uint8_t seed[RATELIMIT_SEED_LEN] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
};

#define T0	1800000000	/* an arbitrary Unix time */

static struct ratelimit *
table_new(size_t capacity)
{
	struct ratelimit	*rl;

	rl = ratelimit_new(capacity, RATELIMIT_BUDGET, RATELIMIT_PERIOD, seed);
	assert_non_null(rl);
	return rl;
}

static void
test_budget_exhausted_after_five(void **state)
{
	struct ratelimit	*rl = table_new(64);
	uint32_t		 wait = 99;
	int			 i;

	(void)state;
	/* The defaults are the spec's: 5 failures a minute. */
	assert_int_equal(RATELIMIT_BUDGET, 5);
	assert_int_equal(RATELIMIT_PERIOD, 60);
	for (i = 0; i < 5; i++) {
		assert_int_equal(ratelimit_check(rl, "addr 10.0.0.1", T0, &wait),
		    RATELIMIT_ALLOW);
		assert_int_equal(wait, 0);
		ratelimit_charge(rl, "addr 10.0.0.1", T0);
	}
	assert_int_equal(ratelimit_check(rl, "addr 10.0.0.1", T0, &wait),
	    RATELIMIT_LIMITED);
	/* Five failures at once: one comes back after 60 / 5 = 12 s. */
	assert_int_equal(wait, 12);
	assert_int_equal(ratelimit_count(rl), 1);
	ratelimit_free(rl);
}

static void
test_retry_after_counts_down(void **state)
{
	struct ratelimit	*rl = table_new(64);
	uint32_t		 wait;
	int			 i;

	(void)state;
	for (i = 0; i < 5; i++)
		ratelimit_charge(rl, "serial 7", T0);
	assert_int_equal(ratelimit_check(rl, "serial 7", T0 + 1, &wait),
	    RATELIMIT_LIMITED);
	assert_int_equal(wait, 11);
	assert_int_equal(ratelimit_check(rl, "serial 7", T0 + 11, &wait),
	    RATELIMIT_LIMITED);
	assert_int_equal(wait, 1);
	assert_int_equal(ratelimit_check(rl, "serial 7", T0 + 12, &wait),
	    RATELIMIT_ALLOW);
	assert_int_equal(wait, 0);
	/* One failure later it is locked again, for a full interval. */
	ratelimit_charge(rl, "serial 7", T0 + 12);
	assert_int_equal(ratelimit_check(rl, "serial 7", T0 + 12, &wait),
	    RATELIMIT_LIMITED);
	assert_int_equal(wait, 12);
	/* Charging while locked (a caller ignoring retry_after) adds no debt. */
	ratelimit_charge(rl, "serial 7", T0 + 12);
	ratelimit_charge(rl, "serial 7", T0 + 13);
	assert_int_equal(ratelimit_check(rl, "serial 7", T0 + 13, &wait),
	    RATELIMIT_LIMITED);
	assert_int_equal(wait, 12);
	assert_int_equal(ratelimit_check(rl, "serial 7", T0 + 25, &wait),
	    RATELIMIT_ALLOW);
	ratelimit_free(rl);
}

static void
test_refill_over_time(void **state)
{
	struct ratelimit	*rl = table_new(64);
	uint32_t		 wait;
	int			 i, allowed;

	(void)state;
	for (i = 0; i < 5; i++)
		ratelimit_charge(rl, "addr 10.0.0.2", T0);
	/* After a whole minute the full budget is back: 5 more, not 6. */
	for (allowed = 0; allowed < 10; allowed++) {
		if (ratelimit_check(rl, "addr 10.0.0.2", T0 + 60, &wait) !=
		    RATELIMIT_ALLOW)
			break;
		ratelimit_charge(rl, "addr 10.0.0.2", T0 + 60);
	}
	assert_int_equal(allowed, 5);
	assert_int_equal(wait, 12);

	/* A steady 1 failure per 12 s is never limited. */
	for (i = 1; i <= 20; i++) {
		assert_int_equal(ratelimit_check(rl, "addr 10.0.0.3",
		    T0 + 12 * i, &wait), RATELIMIT_ALLOW);
		ratelimit_charge(rl, "addr 10.0.0.3", T0 + 12 * i);
	}
	/* 1 per 6 s is: 5 at the start, then the debt grows 6 s each time. */
	for (i = 0, allowed = 0; i < 20; i++) {
		if (ratelimit_check(rl, "addr 10.0.0.4", T0 + 6 * i, &wait) ==
		    RATELIMIT_ALLOW) {
			allowed++;
			ratelimit_charge(rl, "addr 10.0.0.4", T0 + 6 * i);
		}
	}
	/* In 114 s: the budget of 5 plus one per 12 s earned meanwhile. */
	assert_int_equal(allowed, 5 + 114 / 12);
	ratelimit_free(rl);
}

static void
test_keys_independent(void **state)
{
	struct ratelimit	*rl = table_new(64);
	uint32_t		 wait;
	int			 i;

	(void)state;
	for (i = 0; i < 5; i++)
		ratelimit_charge(rl, "addr 192.0.2.1", T0);
	assert_int_equal(ratelimit_check(rl, "addr 192.0.2.1", T0, &wait),
	    RATELIMIT_LIMITED);
	assert_int_equal(ratelimit_check(rl, "addr 192.0.2.2", T0, &wait),
	    RATELIMIT_ALLOW);
	assert_int_equal(ratelimit_check(rl, "serial 1", T0, &wait),
	    RATELIMIT_ALLOW);
	ratelimit_charge(rl, "addr 192.0.2.2", T0);
	assert_int_equal(ratelimit_check(rl, "addr 192.0.2.1", T0, &wait),
	    RATELIMIT_LIMITED);
	assert_int_equal(wait, 12);
	assert_int_equal(ratelimit_count(rl), 2);
	ratelimit_free(rl);
}

static void
test_table_full_evicts(void **state)
{
	struct ratelimit	*rl = table_new(16);
	char			 key[32];
	uint32_t		 wait;
	int			 i, limited;

	(void)state;
	assert_int_equal(ratelimit_capacity(rl), 16);
	/* 1000 distinct keys through 16 slots: no crash, the count is bounded. */
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "addr 198.51.%d.%d", i / 256, i % 256);
		ratelimit_charge(rl, key, T0 + i);
		assert_true(ratelimit_count(rl) <= 16);
	}
	assert_int_equal(ratelimit_count(rl), 16);
	/* The newest keys are still known (one failure each: not limited). */
	snprintf(key, sizeof(key), "addr 198.51.%d.%d", 999 / 256, 999 % 256);
	assert_int_equal(ratelimit_check(rl, key, T0 + 999, &wait),
	    RATELIMIT_ALLOW);
	/* A key whose budget is spent survives a stream of newer entries... */
	for (i = 0; i < 5; i++)
		ratelimit_charge(rl, "addr 203.0.113.9", T0 + 1000);
	for (i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "addr 198.18.0.%d", i);
		ratelimit_charge(rl, key, T0 + 1000);
	}
	assert_int_equal(ratelimit_check(rl, "addr 203.0.113.9", T0 + 1000,
	    &wait), RATELIMIT_LIMITED);
	/*
	 * ... while its window holds older entries to evict; a full table of
	 * locked-out keys still answers, and every check is bounded.
	 */
	for (i = 0, limited = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "addr 100.64.0.%d", i);
		ratelimit_charge(rl, key, T0 + 1000);
		if (ratelimit_check(rl, key, T0 + 1000, &wait) == RATELIMIT_LIMITED)
			limited++;
	}
	assert_int_equal(limited, 0);
	assert_int_equal(ratelimit_count(rl), 16);
	assert_int_equal(ratelimit_check(rl, "addr 203.0.113.9", T0 + 1000,
	    &wait), RATELIMIT_LIMITED);
	assert_int_equal(wait, 12);
	ratelimit_free(rl);
}

static void
test_clock_step_back_clamped(void **state)
{
	struct ratelimit	*rl = table_new(64);
	uint32_t		 wait;
	int			 i;

	(void)state;
	for (i = 0; i < 50; i++)
		ratelimit_charge(rl, "serial 9", T0);
	/* Fifty failures at once still lock out for at most one period. */
	assert_int_equal(ratelimit_check(rl, "serial 9", T0, &wait),
	    RATELIMIT_LIMITED);
	assert_int_equal(wait, 12);
	/* The clock stepping back an hour does not lengthen the wait. */
	assert_int_equal(ratelimit_check(rl, "serial 9", T0 - 3600, &wait),
	    RATELIMIT_LIMITED);
	assert_int_equal(wait, 12);
	ratelimit_free(rl);
}

static void
test_bad_limits(void **state)
{
	struct ratelimit	*rl;

	(void)state;
	assert_null(ratelimit_new(16, 0, 60, seed));
	assert_null(ratelimit_new(16, 5, 0, seed));
	rl = ratelimit_new(0, 5, 60, NULL);
	assert_non_null(rl);
	assert_int_equal(ratelimit_capacity(rl), 16);
	ratelimit_free(rl);
	rl = ratelimit_new(RATELIMIT_CAPACITY, 5, 60, seed);
	assert_non_null(rl);
	assert_int_equal(ratelimit_capacity(rl), 65536);
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_exhausted_after_five),
		cmocka_unit_test(test_retry_after_counts_down),
		cmocka_unit_test(test_refill_over_time),
		cmocka_unit_test(test_keys_independent),
		cmocka_unit_test(test_table_full_evicts),
		cmocka_unit_test(test_clock_step_back_clamped),
		cmocka_unit_test(test_bad_limits),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
