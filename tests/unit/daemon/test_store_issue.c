/*
 * Unit tests of the store's bulk issue (license_create_many, store.h): n
 * licenses like a template in one transaction, numbered as n calls of
 * license_create would number them, each with its own audit record in an
 * unbroken hash chain; all or nothing on bad arguments, a missing product
 * and a full map (also across a reopen); a map allowed to grow grows.
 * Every test opens a fresh store in its own mkdtemp directory.
 */
#include <sys/stat.h>

#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "store_debug.h"
#include "tmpdir.h"

#define T0		1700000000
#define MAP_TINY	(256 * 1024)
#define ACTOR		"admin uid=0 root"
#define DETAIL		"product=P edition=PROF licensee=\"Bulk Ltd\""

static struct store *
store_make(char dir[PATH_MAX], uint64_t map_size, uint64_t map_max)
{
	struct store_options	 opt = { .map_size = map_size,
	    .map_size_max = map_max, .create = true };
	struct store		*st = NULL;

	assert_int_equal(tmpdir_make(dir, PATH_MAX, "store-issue"), 0);
	assert_int_equal(store_open_lmdb(dir, &opt, &st), STORE_OK);
	return st;
}

static void
store_drop(struct store *st, const char *dir)
{
	if (st != NULL)
		st->ops->close(st);
	(void)tmpdir_remove(dir);
}

static void
product_add(struct store *st, const char *code)
{
	struct store_product	p;
	struct store_audit	a;

	memset(&p, 0, sizeof(p));
	snprintf(p.code, sizeof(p.code), "%s", code);
	snprintf(p.name, sizeof(p.name), "Product %s", code);
	p.price = 7990;
	p.created_at = T0;
	store_audit_fill(&a, T0, ACTOR, "product.add", code, "test");
	assert_int_equal(st->ops->product_add(st, &p, &a), STORE_OK);
}

static struct store_license
license_make(const char *product)
{
	struct store_license	l;

	memset(&l, 0, sizeof(l));
	snprintf(l.lic.product, sizeof(l.lic.product), "%s", product);
	snprintf(l.lic.edition, sizeof(l.lic.edition), "PROF");
	snprintf(l.lic.licensee, sizeof(l.lic.licensee), "Bulk Ltd");
	l.lic.created = date_from_ymd(2026, 3, 1);
	l.lic.support_expiry = date_from_ymd(2026, 9, 1);
	l.lic.revision = 1;
	l.lic.support_months = 6;
	memcpy(l.lic.key_id, "\x01\x02\x03\x04\x05\x06\x07\x08", KG_KEY_ID_LEN);
	l.status = KG_STATUS_ACTIVE;
	l.updated_at = T0;
	/* Ignored by license_create_many: the store assigns them. */
	l.lic.serial = 999;
	snprintf(l.lic.regno, sizeof(l.lic.regno), "IGNORED-1");
	return l;
}

static struct store_audit
issue_audit(void)
{
	struct store_audit	a;

	store_audit_fill(&a, T0, ACTOR, "key.issue", "", DETAIL);
	return a;
}

/* One license the ordinary way: its serial and regno. */
static struct store_license
create_one(struct store *st, const char *product)
{
	struct store_license	l = license_make(product);
	struct store_audit	a = issue_audit();

	l.lic.regno[0] = '\0';
	assert_int_equal(st->ops->license_create(st, &l, &a), STORE_OK);
	return l;
}

struct audit_acc {
	size_t			 n;
	struct store_audit	 last[64];	/* the last ones, a ring */
};

static int
audit_cb(void *ctx, const struct store_audit *a)
{
	struct audit_acc	*acc = ctx;

	acc->last[acc->n++ % 64] = *a;
	return 0;
}

static size_t
audit_count(struct store *st, struct audit_acc *acc)
{
	memset(acc, 0, sizeof(*acc));
	assert_int_equal(st->ops->audit_list(st, INT64_MIN, audit_cb, acc),
	    STORE_OK);
	return acc->n;
}

static int
license_count_cb(void *ctx, const struct store_license *l)
{
	(void)l;
	(*(size_t *)ctx)++;
	return 0;
}

static size_t
license_count(struct store *st)
{
	size_t	n = 0;

	assert_int_equal(st->ops->license_list(st, license_count_cb, &n),
	    STORE_OK);
	return n;
}

static void
chain_verifies(struct store *st)
{
	uint64_t	bad = 99;

	assert_int_equal(st->ops->audit_verify(st, &bad), STORE_OK);
	assert_int_equal(bad, 0);
}

/* Numbered as license_create numbers, each license stored whole. */
static void
test_create_many(void **state)
{
	struct store		*st;
	struct store_license	 tmpl = license_make("P"), got, one;
	struct store_audit	 a = issue_audit();
	struct store_issued	 out[25];
	struct audit_acc	 acc;
	char			 dir[PATH_MAX], want[KG_REGNO_MAX + 1];
	size_t			 i, before;

	(void)state;
	st = store_make(dir, 0, 0);
	product_add(st, "P");
	product_add(st, "Q");
	one = create_one(st, "P");
	assert_int_equal(one.lic.serial, 1);
	assert_string_equal(one.lic.regno, "P-000001");
	one = create_one(st, "Q");
	before = audit_count(st, &acc);

	assert_int_equal(st->ops->license_create_many(st, &tmpl, 25, &a, out),
	    STORE_OK);
	for (i = 0; i < 25; i++) {
		snprintf(want, sizeof(want), "P-%06zu", i + 2);
		assert_int_equal(out[i].serial, 3 + i);
		assert_string_equal(out[i].regno, want);
		assert_int_equal(st->ops->license_get_regno(st, want, &got),
		    STORE_OK);
		assert_int_equal(got.lic.serial, 3 + i);
		assert_string_equal(got.lic.regno, want);
		assert_string_equal(got.lic.licensee, "Bulk Ltd");
		assert_string_equal(got.lic.edition, "PROF");
		assert_int_equal(got.lic.support_expiry,
		    tmpl.lic.support_expiry);
		assert_memory_equal(got.lic.key_id, tmpl.lic.key_id,
		    KG_KEY_ID_LEN);
		assert_int_equal(got.status, KG_STATUS_ACTIVE);
		assert_int_equal(st->ops->license_get_serial(st, 3 + i, &got),
		    STORE_OK);
		assert_string_equal(got.lic.regno, want);
	}
	/* *l is only read. */
	assert_int_equal(tmpl.lic.serial, 999);
	assert_string_equal(tmpl.lic.regno, "IGNORED-1");
	/* One audit record per license, named by its regno, chained. */
	assert_int_equal(audit_count(st, &acc), before + 25);
	for (i = 0; i < 25; i++) {
		const struct store_audit *r = &acc.last[(before + i) % 64];

		snprintf(want, sizeof(want), "P-%06zu", i + 2);
		assert_int_equal(r->seq, before + i + 1);
		assert_string_equal(r->object, want);
		assert_string_equal(r->action, "key.issue");
		assert_string_equal(r->actor, ACTOR);
		assert_string_equal(r->detail, DETAIL);
	}
	chain_verifies(st);
	/* The counters moved past them; the other product's did not. */
	one = create_one(st, "P");
	assert_int_equal(one.lic.serial, 28);
	assert_string_equal(one.lic.regno, "P-000027");
	one = create_one(st, "Q");
	assert_string_equal(one.lic.regno, "Q-000002");
	chain_verifies(st);
	/* A record changed afterwards is caught at its seq. */
	assert_int_equal(store_lmdb_debug_audit_tamper(st, before + 10,
	    "product=P licensee=\"Someone else\""), STORE_OK);
	{
		uint64_t	bad = 0;

		assert_int_equal(st->ops->audit_verify(st, &bad),
		    STORE_CONFLICT);
		assert_int_equal(bad, before + 10);
	}
	store_drop(st, dir);
}

/* Bad arguments and a missing product: STORE_INVAL, nothing written. */
static void
test_create_many_refused(void **state)
{
	struct store		*st;
	struct store_license	 tmpl = license_make("P"), bad;
	struct store_audit	 a = issue_audit(), noaction;
	struct store_issued	 out[4];
	struct audit_acc	 acc;
	char			 dir[PATH_MAX];
	size_t			 before;

	(void)state;
	st = store_make(dir, 0, 0);
	product_add(st, "P");
	before = audit_count(st, &acc);
	assert_int_equal(st->ops->license_create_many(st, &tmpl, 0, &a, out),
	    STORE_INVAL);
	assert_int_equal(st->ops->license_create_many(st, &tmpl,
	    STORE_CREATE_MANY_MAX + 1, &a, out), STORE_INVAL);
	assert_int_equal(st->ops->license_create_many(st, &tmpl, 4, &a, NULL),
	    STORE_INVAL);
	assert_int_equal(st->ops->license_create_many(st, NULL, 4, &a, out),
	    STORE_INVAL);
	noaction = a;
	noaction.action[0] = '\0';
	assert_int_equal(st->ops->license_create_many(st, &tmpl, 4, &noaction,
	    out), STORE_INVAL);
	bad = license_make("NOPE");
	memset(out, 0x55, sizeof(out));
	assert_int_equal(st->ops->license_create_many(st, &bad, 4, &a, out),
	    STORE_INVAL);
	assert_int_equal(out[3].serial, 0);
	assert_string_equal(out[3].regno, "");
	assert_int_equal(audit_count(st, &acc), before);
	assert_int_equal(license_count(st), 0);
	assert_int_equal(create_one(st, "P").lic.serial, 1);
	chain_verifies(st);
	store_drop(st, dir);
}

/* A full map: the whole batch is refused; smaller ones still fit. */
static void
test_create_many_full(void **state)
{
	struct store		*st;
	struct store_options	 opt = { .map_size = MAP_TINY };
	struct store_license	 tmpl = license_make("P");
	struct store_audit	 a = issue_audit();
	struct store_issued	*out;
	struct audit_acc	 acc;
	char			 dir[PATH_MAX];
	size_t			 before, ok = 0, n = 5000;
	int			 err;

	(void)state;
	assert_non_null(out = calloc(n, sizeof(*out)));
	st = store_make(dir, MAP_TINY, 0);
	product_add(st, "P");
	before = audit_count(st, &acc);
	assert_int_equal(st->ops->license_create_many(st, &tmpl, n, &a, out),
	    STORE_FULL);
	assert_int_equal(out[0].serial, 0);
	assert_int_equal(license_count(st), 0);
	assert_int_equal(audit_count(st, &acc), before);
	chain_verifies(st);
	/* Batches of 10 until the map is full: whole batches only. */
	while ((err = st->ops->license_create_many(st, &tmpl, 10, &a,
	    out)) == STORE_OK)
		ok += 10;
	assert_int_equal(err, STORE_FULL);
	print_message("%zu licenses fit a %d KiB map in batches of 10\n", ok,
	    MAP_TINY / 1024);
	assert_true(ok >= 10);
	assert_int_equal(license_count(st), ok);
	assert_int_equal(audit_count(st, &acc), before + ok);
	chain_verifies(st);
	st->ops->close(st);
	/* ... and after reopening. */
	st = NULL;
	assert_int_equal(store_open_lmdb(dir, &opt, &st), STORE_OK);
	assert_int_equal(license_count(st), ok);
	assert_int_equal(audit_count(st, &acc), before + ok);
	chain_verifies(st);
	store_drop(st, dir);
	free(out);
}

/* A map allowed to grow grows for a batch that does not fit. */
static void
test_create_many_grows(void **state)
{
	struct store		*st;
	struct store_license	 tmpl = license_make("P");
	struct store_audit	 a = issue_audit();
	struct store_issued	*out;
	char			 dir[PATH_MAX];
	size_t			 n = 5000;

	(void)state;
	assert_non_null(out = calloc(n, sizeof(*out)));
	st = store_make(dir, MAP_TINY, 64 * 1024 * 1024);
	product_add(st, "P");
	assert_int_equal(st->ops->license_create_many(st, &tmpl, n, &a, out),
	    STORE_OK);
	assert_int_equal(out[n - 1].serial, n);
	assert_string_equal(out[n - 1].regno, "P-005000");
	assert_int_equal(license_count(st), n);
	chain_verifies(st);
	store_drop(st, dir);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_many),
		cmocka_unit_test(test_create_many_refused),
		cmocka_unit_test(test_create_many_full),
		cmocka_unit_test(test_create_many_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
