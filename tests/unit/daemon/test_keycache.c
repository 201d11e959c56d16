/*
 * Unit tests of daemon/keycache.c, the verified-key cache: a repeat key is a
 * hit that returns the same license as license_key_parse, the cache never
 * holds more than its slots and evicts the least recently used entry of a
 * set, the daemon's size holds 10,000 keys checked in turn without a miss,
 * a signer marked compromised (or gone from the trust set) is refused on a
 * hit, and other bytes of a key (whitespace, a changed signature or payload
 * character) are never taken for the cached key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keycache.h"
#include "kgerr.h"
#include "keys.h"
#include "license.h"

#define NKEYS	100

static const uint8_t test_seed[32] = {
	0x6b, 0x63, 0x61, 0x63, 0x68, 0x65, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
	9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24
};

struct fixture {
	struct kg_keypair	*kp;
	struct kg_trustset	 trust;
	char			*key[NKEYS];
	struct kg_license	 lic[NKEYS];
	struct keycache_set	 set[2];
	struct keycache		 kc;
};

static int
setup(void **state)
{
	struct fixture	*f;
	size_t		 i;

	assert_non_null(f = calloc(1, sizeof(*f)));
	assert_non_null(f->kp = keypair_from_seed_new(test_seed));
	trustset_init(&f->trust);
	assert_int_equal(trustset_add(&f->trust, f->kp->pk, KG_TRUST_ACTIVE),
	    KGE_OK);
	for (i = 0; i < NKEYS; i++) {
		struct kg_license	*l = &f->lic[i];

		l->serial = 1000 + i;
		snprintf(l->product, sizeof(l->product), "DEMO");
		snprintf(l->edition, sizeof(l->edition), "PRO");
		snprintf(l->regno, sizeof(l->regno), "ZHKH8-%06zu", 1000 + i);
		snprintf(l->licensee, sizeof(l->licensee), "Licensee %zu", i);
		l->created = date_from_ymd(2026, 1, 10);
		l->support_expiry = date_from_ymd(2027, 1, 10);
		l->license_expiry = KG_DATE_NONE;
		l->revision = 1;
		l->support_months = 12;
		memcpy(l->key_id, f->kp->id, KG_KEY_ID_LEN);
		assert_int_equal(license_key_new(l, f->kp, &f->key[i]), KGE_OK);
	}
	assert_int_equal(keycache_init(&f->kc, f->set, 2), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	size_t		 i;

	keycache_fini(&f->kc);
	for (i = 0; i < NKEYS; i++)
		free(f->key[i]);
	trustset_clear(&f->trust);
	keypair_free(f->kp);
	free(f);
	return 0;
}

static int
parse(struct fixture *f, const char *text, struct keycache_key *out)
{
	return keycache_parse(&f->kc, text, strlen(text), &f->trust, out);
}

/*
 * A first check is a miss, a repeat a hit; both give what the verified
 * license says: serial, revision, signer, registration number, product.
 */
static void
test_keycache_hit_miss(void **state)
{
	struct fixture		*f = *state;
	struct kg_license	 lic;
	struct keycache_key	 got, want;

	assert_int_equal(license_key_parse(f->key[0], strlen(f->key[0]),
	    &f->trust, &lic), KGE_OK);
	keycache_key_from(&lic, &want);
	assert_int_equal(want.serial, 1000);
	assert_int_equal(want.revision, 1);
	assert_memory_equal(want.key_id, f->kp->id, KG_KEY_ID_LEN);
	assert_string_equal(want.regno, "ZHKH8-001000");
	assert_string_equal(want.product, "DEMO");
	assert_int_equal(parse(f, f->key[0], &got), KGE_OK);
	assert_int_equal(f->kc.misses, 1);
	assert_int_equal(f->kc.hits, 0);
	assert_memory_equal(&got, &want, sizeof(got));
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(parse(f, f->key[0], &got), KGE_OK);
	assert_int_equal(f->kc.misses, 1);
	assert_int_equal(f->kc.hits, 1);
	assert_memory_equal(&got, &want, sizeof(got));
	assert_int_equal(got.serial, 1000);
	assert_string_equal(got.regno, "ZHKH8-001000");
	assert_int_equal(keycache_count(&f->kc), 1);
	/* No cache at all: the key is verified, the same answer. */
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(keycache_parse(NULL, f->key[0], strlen(f->key[0]),
	    &f->trust, &got), KGE_OK);
	assert_memory_equal(&got, &want, sizeof(got));
	assert_int_equal(f->kc.hits + f->kc.misses, 2);

	/* A second key is its own miss and does not disturb the first. */
	assert_int_equal(parse(f, f->key[1], &got), KGE_OK);
	assert_int_equal(got.serial, 1001);
	assert_int_equal(f->kc.misses, 2);
	assert_int_equal(parse(f, f->key[0], &got), KGE_OK);
	assert_int_equal(got.serial, 1000);
	assert_int_equal(f->kc.hits, 2);
	assert_int_equal(keycache_count(&f->kc), 2);
}

/* 100 keys through 32 entries: never more than 32 held, all still verify. */
static void
test_keycache_eviction_bound(void **state)
{
	struct fixture		*f = *state;
	struct keycache_key	 got;
	size_t			 i, round;

	for (round = 0; round < 2; round++) {
		for (i = 0; i < NKEYS; i++) {
			assert_int_equal(parse(f, f->key[i], &got), KGE_OK);
			assert_int_equal(got.serial, 1000 + i);
			assert_true(keycache_count(&f->kc) <= 2 * KEYCACHE_WAYS);
		}
	}
	assert_int_equal(keycache_count(&f->kc), 2 * KEYCACHE_WAYS);
	assert_int_equal(f->kc.hits + f->kc.misses, 2 * NKEYS);
	assert_true(f->kc.misses >= 2 * NKEYS - 2 * KEYCACHE_WAYS);
	assert_int_equal(keycache_init(&f->kc, f->set, 0), -1);
	assert_int_equal(keycache_init(&f->kc, NULL, 1), -1);
}

/* A full set evicts its least recently used entry. */
static void
test_keycache_evicts_oldest(void **state)
{
	struct fixture		*f = *state;
	struct keycache_key	 got;
	size_t			 i;
	uint64_t		 misses;

	keycache_fini(&f->kc);
	assert_int_equal(keycache_init(&f->kc, f->set, 1), 0);
	for (i = 0; i <= KEYCACHE_WAYS - 1; i++)
		assert_int_equal(parse(f, f->key[i], &got), KGE_OK);
	assert_int_equal(f->kc.misses, KEYCACHE_WAYS);
	assert_int_equal(parse(f, f->key[0], &got), KGE_OK);	/* key 0 now newest */
	assert_int_equal(f->kc.hits, 1);
	assert_int_equal(parse(f, f->key[KEYCACHE_WAYS], &got), KGE_OK);
	assert_int_equal(keycache_count(&f->kc), KEYCACHE_WAYS);
	misses = f->kc.misses;
	assert_int_equal(parse(f, f->key[0], &got), KGE_OK);	/* kept */
	assert_int_equal(f->kc.misses, misses);
	assert_int_equal(parse(f, f->key[1], &got), KGE_OK);	/* evicted */
	assert_int_equal(f->kc.misses, misses + 1);
	assert_int_equal(got.serial, 1001);
}

/*
 * The daemon's cache (KEYCACHE_SETS sets) holds 10,000 keys checked in turn,
 * as the benchmark checks them: after one pass, every check is a hit. With
 * 8 ways of 4,096 sets a few sets overflow and their keys, checked in turn,
 * would miss every time (LRU).
 */
static void
test_keycache_holds_10000(void **state)
{
	struct fixture		*f = *state;
	struct keycache_set	*set;
	struct keycache		 kc;
	struct kg_license	 l = f->lic[0];
	struct keycache_key	 got;
	char			**key;
	size_t			 i, n = 10000;

	assert_non_null(key = calloc(n, sizeof(*key)));
	assert_non_null(set = calloc(KEYCACHE_SETS, sizeof(*set)));
	for (i = 0; i < n; i++) {
		l.serial = 100000 + i;
		snprintf(l.regno, sizeof(l.regno), "ZHKH8-%06zu", 100000 + i);
		assert_int_equal(license_key_new(&l, f->kp, &key[i]), KGE_OK);
	}
	assert_int_equal(keycache_init(&kc, set, KEYCACHE_SETS), 0);
	for (i = 0; i < 2 * n; i++) {
		assert_int_equal(keycache_parse(&kc, key[i % n],
		    strlen(key[i % n]), &f->trust, &got), KGE_OK);
		assert_int_equal(got.serial, 100000 + i % n);
	}
	assert_int_equal(kc.misses, n);
	assert_int_equal(kc.hits, n);
	assert_int_equal(keycache_count(&kc), n);
	keycache_fini(&kc);
	for (i = 0; i < n; i++)
		free(key[i]);
	free(key);
	free(set);
}

/* A cached key whose signer is then compromised or forgotten is refused. */
static void
test_keycache_compromised_signer(void **state)
{
	struct fixture		*f = *state;
	struct keycache_key	 got;
	struct kg_trustset	 empty;

	assert_int_equal(parse(f, f->key[3], &got), KGE_OK);
	assert_int_equal(parse(f, f->key[4], &got), KGE_OK);
	assert_int_equal(keycache_count(&f->kc), 2);

	trustset_init(&empty);
	assert_int_equal(keycache_parse(&f->kc, f->key[4], strlen(f->key[4]),
	    &empty, &got), KGE_KEY_UNKNOWN_SIGNER);
	assert_int_equal(got.serial, 0);
	assert_int_equal(f->kc.hits, 1);
	assert_int_equal(keycache_count(&f->kc), 1);
	trustset_clear(&empty);

	assert_int_equal(trustset_add(&f->trust, f->kp->pk,
	    KG_TRUST_COMPROMISED), KGE_OK);
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(parse(f, f->key[3], &got), KGE_KEY_COMPROMISED);
	assert_int_equal(got.serial, 0);
	assert_int_equal(got.regno[0], '\0');
	assert_int_equal(f->kc.hits, 2);	/* found, then refused */
	assert_int_equal(keycache_count(&f->kc), 0);
	/* Not cached again: the uncached path refuses it the same way. */
	assert_int_equal(parse(f, f->key[3], &got), KGE_KEY_COMPROMISED);
	assert_int_equal(keycache_count(&f->kc), 0);

	/* Retired signers still verify, from the cache as before. */
	assert_int_equal(trustset_add(&f->trust, f->kp->pk, KG_TRUST_RETIRED),
	    KGE_OK);
	assert_int_equal(parse(f, f->key[3], &got), KGE_OK);
	assert_int_equal(parse(f, f->key[3], &got), KGE_OK);
	assert_int_equal(got.serial, 1003);
	assert_int_equal(f->kc.hits, 3);
}

/* Other bytes of a cached key are never answered from its entry. */
static void
test_keycache_other_bytes(void **state)
{
	struct fixture		*f = *state;
	struct keycache_key	 got;
	char			 buf[KG_KEY_TEXT_MAX + 1];
	size_t			 len = strlen(f->key[5]);
	char			*dot;

	assert_int_equal(parse(f, f->key[5], &got), KGE_OK);
	assert_int_equal(f->kc.misses, 1);

	/* The same key with a trailing newline: verified again, own entry. */
	snprintf(buf, sizeof(buf), "%s\n", f->key[5]);
	assert_int_equal(parse(f, buf, &got), KGE_OK);
	assert_int_equal(got.serial, 1005);
	assert_int_equal(f->kc.misses, 2);
	assert_int_equal(f->kc.hits, 0);
	assert_int_equal(keycache_count(&f->kc), 2);

	/* The last signature character changed: a bad signature, not a hit. */
	memcpy(buf, f->key[5], len + 1);
	buf[len - 2] = buf[len - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(parse(f, buf, &got), KGE_KEY_SIGNATURE);
	assert_int_equal(got.serial, 0);
	assert_int_equal(parse(f, buf, &got), KGE_KEY_SIGNATURE);
	assert_int_equal(f->kc.hits, 0);
	assert_int_equal(keycache_count(&f->kc), 2);

	/* A payload character changed: refused (decode or signature). */
	memcpy(buf, f->key[5], len + 1);
	assert_non_null(dot = strchr(buf + strlen(KG_KEY_PREFIX), '.'));
	dot[-3] = dot[-3] == 'A' ? 'B' : 'A';
	assert_int_not_equal(parse(f, buf, &got), KGE_OK);
	assert_int_equal(f->kc.hits, 0);
	assert_int_equal(keycache_count(&f->kc), 2);

	/* A truncated key (a prefix of the cached bytes) is no hit either. */
	memcpy(buf, f->key[5], len + 1);
	buf[len - 1] = '\0';
	assert_int_not_equal(parse(f, buf, &got), KGE_OK);
	assert_int_equal(f->kc.hits, 0);

	/* The original still hits. */
	assert_int_equal(parse(f, f->key[5], &got), KGE_OK);
	assert_int_equal(f->kc.hits, 1);
	assert_int_equal(got.serial, 1005);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keycache_hit_miss, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_keycache_eviction_bound,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_keycache_evicts_oldest,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_keycache_holds_10000,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_keycache_compromised_signer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_keycache_other_bytes,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
