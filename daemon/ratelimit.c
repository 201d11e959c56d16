/*
 * The failure rate limiter behind R16: a fixed-size open-addressing table
 * of GCRA token buckets. Each entry holds a key's 64-bit keyed hash and its
 * theoretical arrival time (TAT) in milliseconds; nothing is allocated after
 * ratelimit_new, so a flood of distinct addresses costs no memory.
 *
 * GCRA, with T = period / budget (the emission interval): a failure at now
 * moves TAT to max(TAT, now) + T. A key may fail again while
 * max(TAT, now) + T <= now + budget * T, i.e. while TAT - now <= (budget - 1)
 * * T; otherwise it must wait TAT - now - (budget - 1) * T. A fresh key thus
 * has budget failures at once and earns one back every T (5 a minute: one
 * every 12 s).
 *
 * Decisions made here:
 * - A key is stored as its SipHash-2-4 (libsodium crypto_shorthash) under a
 *   per-table secret key: two keys sharing a hash (2^-64) share a bucket,
 *   and an attacker cannot choose addresses that collide in one slot.
 * - Each key has a probe window of RATELIMIT_PROBE slots from its hash;
 *   lookups scan the whole window, so slots are overwritten and never
 *   deleted (no tombstones). A new key takes a free slot of its window, or
 *   evicts the entry with the oldest TAT there (an entry whose TAT is past
 *   is a full budget anyway: evicting it loses nothing).
 * - A TAT never runs further ahead than now + budget * T: failures charged
 *   while locked out (a caller ignoring retry_after) do not lengthen the
 *   wait beyond one interval T, and a TAT left far ahead by a wall clock
 *   that stepped back is clamped the same way when read.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "ratelimit.h"

#define RATELIMIT_PROBE		8		/* slots scanned per key */
#define RATELIMIT_MIN_SLOTS	16
#define RATELIMIT_MAX_SLOTS	((size_t)1 << 24)

struct ratelimit_entry {
	uint64_t	id;		/* keyed hash of the key; 0 = free */
	int64_t		tat;		/* theoretical arrival time, ms */
};

struct ratelimit {
	struct ratelimit_entry	*slot;
	size_t			 mask;		/* slots - 1 */
	size_t			 used;
	int64_t			 interval;	/* T in ms */
	int64_t			 tolerance;	/* (budget - 1) * T in ms */
	int64_t			 horizon;	/* budget * T in ms */
	uint8_t			 hkey[crypto_shorthash_KEYBYTES];
};

/* A new table: see ratelimit.h. */
struct ratelimit *
ratelimit_new(size_t capacity, uint32_t budget, uint32_t period,
    const uint8_t *seed)
{
	struct ratelimit	*rl = NULL;
	size_t			 n = RATELIMIT_MIN_SLOTS;

	if (budget == 0 || period == 0 || capacity > RATELIMIT_MAX_SLOTS) {
		log_error("%s: bad limits: %u failures per %u s in %zu slots",
		    __func__, budget, period, capacity);
		goto fail;
	}
	while (n < capacity)
		n <<= 1;
	if ((rl = calloc(1, sizeof(*rl))) == NULL ||
	    (rl->slot = calloc(n, sizeof(*rl->slot))) == NULL) {
		log_error("%s: out of memory for %zu slots", __func__, n);
		goto fail;
	}
	rl->mask = n - 1;
	rl->interval = (int64_t)period * 1000 / budget;
	if (rl->interval == 0)
		rl->interval = 1;
	rl->tolerance = rl->interval * (budget - 1);
	rl->horizon = rl->interval * budget;
	if (seed != NULL)
		memcpy(rl->hkey, seed, sizeof(rl->hkey));
	else
		randombytes_buf(rl->hkey, sizeof(rl->hkey));
	return rl;
fail:
	ratelimit_free(rl);
	return NULL;
}

/* Free the table. */
void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->slot);
	sodium_memzero(rl->hkey, sizeof(rl->hkey));
	free(rl);
}

static uint64_t
ratelimit_hash(const struct ratelimit *rl, const char *key)
{
	uint8_t		out[crypto_shorthash_BYTES];
	uint64_t	h = 0;
	size_t		i;

	crypto_shorthash(out, (const unsigned char *)key, strlen(key), rl->hkey);
	for (i = 0; i < sizeof(h); i++)
		h = h << 8 | out[i];
	return h == 0 ? 1 : h;		/* 0 marks a free slot */
}

/* The entry of id in its probe window, or NULL. */
static struct ratelimit_entry *
ratelimit_find(struct ratelimit *rl, uint64_t id)
{
	size_t	i, s;

	for (i = 0; i < RATELIMIT_PROBE; i++) {
		s = (size_t)(id + i) & rl->mask;
		if (rl->slot[s].id == id)
			return &rl->slot[s];
	}
	return NULL;
}

/* A slot for a new id: a free one, else the oldest TAT of the window. */
static struct ratelimit_entry *
ratelimit_take(struct ratelimit *rl, uint64_t id)
{
	struct ratelimit_entry	*e, *victim = NULL;
	size_t			 i;

	for (i = 0; i < RATELIMIT_PROBE; i++) {
		e = &rl->slot[(size_t)(id + i) & rl->mask];
		if (e->id == 0) {
			rl->used++;
			return e;
		}
		if (victim == NULL || e->tat < victim->tat)
			victim = e;
	}
	return victim;
}

/* An entry's TAT at now_ms, clamped after a backward clock step. */
static int64_t
ratelimit_tat(const struct ratelimit *rl, const struct ratelimit_entry *e,
    int64_t now_ms)
{
	if (e->tat - now_ms > rl->horizon)
		return now_ms + rl->horizon;
	return e->tat;
}

/* May key fail once more at now? See ratelimit.h. */
enum ratelimit_result
ratelimit_check(struct ratelimit *rl, const char *key, int64_t now,
    uint32_t *retry_after)
{
	struct ratelimit_entry	*e;
	int64_t			 now_ms = now * 1000, wait;

	*retry_after = 0;
	if ((e = ratelimit_find(rl, ratelimit_hash(rl, key))) == NULL)
		return RATELIMIT_ALLOW;
	wait = ratelimit_tat(rl, e, now_ms) - now_ms - rl->tolerance;
	if (wait <= 0)
		return RATELIMIT_ALLOW;
	*retry_after = (uint32_t)((wait + 999) / 1000);
	return RATELIMIT_LIMITED;
}

/* Charge one failure to key at now. */
void
ratelimit_charge(struct ratelimit *rl, const char *key, int64_t now)
{
	struct ratelimit_entry	*e;
	uint64_t		 id = ratelimit_hash(rl, key);
	int64_t			 now_ms = now * 1000, tat;

	if ((e = ratelimit_find(rl, id)) == NULL) {
		e = ratelimit_take(rl, id);
		e->id = id;
		e->tat = now_ms;
	}
	tat = ratelimit_tat(rl, e, now_ms);
	tat = (tat > now_ms ? tat : now_ms) + rl->interval;
	e->tat = tat - now_ms > rl->horizon ? now_ms + rl->horizon : tat;
}

/* Entries in use. */
size_t
ratelimit_count(const struct ratelimit *rl)
{
	return rl->used;
}

/* Slots in the table. */
size_t
ratelimit_capacity(const struct ratelimit *rl)
{
	return rl->mask + 1;
}
