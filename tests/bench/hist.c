/*
 * kgbench's latency histogram, in the manner of HdrHistogram: values below
 * HIST_SUB are counted exactly, above that every power of two is split into
 * HIST_HALF buckets, so a quantile is off by less than 1/HIST_HALF of its
 * value while the memory stays fixed (HIST_BUCKETS counters) for any run.
 */
#include <math.h>

#include "bench.h"

/* The bucket of value v. */
static uint32_t
hist_index(uint64_t v)
{
	uint32_t	msb, shift;

	if (v < HIST_SUB)
		return (uint32_t)v;
	msb = 63 - (uint32_t)__builtin_clzll(v);
	shift = msb - (HIST_SUB_BITS - 1);
	return HIST_SUB + (shift - 1) * HIST_HALF +
	    (uint32_t)((v >> shift) - HIST_HALF);
}

/* The highest value that falls into bucket i. */
static uint64_t
hist_bucket_top(uint32_t i)
{
	uint32_t	j, shift;
	uint64_t	sub;

	if (i < HIST_SUB)
		return i;
	j = i - HIST_SUB;
	shift = j / HIST_HALF + 1;
	sub = j % HIST_HALF + HIST_HALF;
	return ((sub + 1) << shift) - 1;
}

/* Count one value. */
void
hist_add(struct hist *h, uint64_t v)
{
	h->count[hist_index(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

/* Add h's counts to into's. */
void
hist_merge(struct hist *into, const struct hist *h)
{
	uint32_t	i;

	for (i = 0; i < HIST_BUCKETS; i++)
		into->count[i] += h->count[i];
	into->n += h->n;
	if (h->max > into->max)
		into->max = h->max;
}

/* The value at quantile q (0..1), as its bucket's top (never above max). */
uint64_t
hist_quantile(const struct hist *h, double q)
{
	uint64_t	target, seen = 0, top;
	uint32_t	i;

	if (h->n == 0)
		return 0;
	target = (uint64_t)ceil(q * (double)h->n);
	if (target == 0)
		target = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= target) {
			top = hist_bucket_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
