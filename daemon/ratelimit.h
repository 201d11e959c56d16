/*
 * Rate limiting of failed act redemptions (SPEC R16): a bounded table of
 * token buckets, one per key (a license serial or a client address), kept
 * with GCRA (a theoretical arrival time per key). Only failures are charged;
 * a caller is locked out once it has spent its budget and gets the seconds
 * until it may try again. Time is an argument, so the table can be tested
 * without a clock.
 *
 * The table lives in one keygated process: with several keygated nodes
 * sharing one store (a later PostgreSQL backend) the limit is per node.
 */
#ifndef KG_RATELIMIT_H
#define KG_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The limits, in one place (the configuration may get settings for them
 * later): RATELIMIT_BUDGET failures per RATELIMIT_PERIOD seconds, for each
 * key and each client address, in tables of RATELIMIT_CAPACITY entries.
 */
#define RATELIMIT_BUDGET	5
#define RATELIMIT_PERIOD	60		/* seconds */
#define RATELIMIT_CAPACITY	65536		/* entries per table */
#define RATELIMIT_SEED_LEN	16		/* bytes of hash key */

struct ratelimit;

enum ratelimit_result {
	RATELIMIT_ALLOW,	/* the key may fail once more */
	RATELIMIT_LIMITED,	/* budget spent: *retry_after says for how long */
};

/*
 * A table of at least capacity entries (rounded up to a power of two, at
 * least 16) allowing budget failures per period seconds (both >= 1). Keys
 * are hashed with SipHash keyed by seed (RATELIMIT_SEED_LEN bytes), or by
 * random bytes when seed is NULL, so a caller cannot aim its keys at one
 * slot. Returns NULL (logged) when out of memory or given bad limits. Free
 * with ratelimit_free.
 */
struct ratelimit	*ratelimit_new(size_t capacity, uint32_t budget,
			    uint32_t period, const uint8_t *seed);

/* Free the table (NULL is fine). */
void	ratelimit_free(struct ratelimit *rl);

/*
 * May key (a NUL-terminated string) fail once more at now (Unix seconds)?
 * RATELIMIT_ALLOW with *retry_after 0, or RATELIMIT_LIMITED with
 * *retry_after the whole seconds (>= 1) until it may. Changes nothing.
 */
enum ratelimit_result	ratelimit_check(struct ratelimit *rl, const char *key,
			    int64_t now, uint32_t *retry_after);

/*
 * Charge one failure to key at now. When the key has no entry and its
 * probe window is full, the entry nearest to a full budget (the oldest
 * theoretical arrival time) is evicted: that key starts afresh.
 */
void	ratelimit_charge(struct ratelimit *rl, const char *key, int64_t now);

/* Entries in use (tests and debugging). */
size_t	ratelimit_count(const struct ratelimit *rl);

/* Slots in the table (the capacity after rounding). */
size_t	ratelimit_capacity(const struct ratelimit *rl);

#endif
