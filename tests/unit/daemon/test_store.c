/*
 * Unit tests of the LMDB store (daemon/store.c): every test opens a fresh
 * store in its own mkdtemp directory and checks the operations of store.h
 * against explicit expected records, counts and error codes.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "log.h"
#include "store.h"
#include "store_debug.h"
#include "version.h"
#include "tmpdir.h"

#define T0	1700000000	/* a fixed "now" for records and audit times */

struct fixture {
	char		 dir[PATH_MAX];
	struct store	*st;
};

static void
dir_make(char out[PATH_MAX])
{
	assert_int_equal(tmpdir_make(out, PATH_MAX, "store"), 0);
}

static void
dir_remove(const char *dir)
{
	(void)tmpdir_remove(dir);
}

static struct store *
store_open_ok(const char *dir, uint64_t map_size, bool create)
{
	struct store_options	 opt = { .map_size = map_size, .create = create };
	struct store		*st = NULL;

	assert_int_equal(store_open_lmdb(dir, &opt, &st), STORE_OK);
	assert_non_null(st);
	return st;
}

static int
setup(void **state)
{
	struct fixture	*f;

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	dir_make(f->dir);
	f->st = store_open_ok(f->dir, 0, true);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	if (f->st != NULL)
		f->st->ops->close(f->st);
	dir_remove(f->dir);
	free(f);
	return 0;
}

static struct store_audit
audit_make(const char *action, const char *object)
{
	struct store_audit	a;

	store_audit_fill(&a, T0, "admin uid=0 root", action, object, "test %s",
	    object);
	return a;
}

static void
product_add(struct store *st, const char *code, kg_money price)
{
	struct store_product	p;
	struct store_audit	a = audit_make("product.add", code);

	memset(&p, 0, sizeof(p));
	snprintf(p.code, sizeof(p.code), "%s", code);
	snprintf(p.name, sizeof(p.name), "Product %s", code);
	p.price = price;
	p.created_at = T0;
	assert_int_equal(st->ops->product_add(st, &p, &a), STORE_OK);
}

static int
release_publish(struct store *st, const char *product, const char *version,
    kg_date date, const char *url)
{
	struct store_release	r;
	struct store_audit	a = audit_make("release.publish", version);

	memset(&r, 0, sizeof(r));
	snprintf(r.product, sizeof(r.product), "%s", product);
	assert_int_equal(version_parse(version, &r.rel.version), 0);
	r.rel.date = date;
	r.rel.state = KG_RELEASE_PUBLISHED;
	snprintf(r.url, sizeof(r.url), "%s", url);
	r.published_at = T0;
	return st->ops->release_publish(st, &r, &a);
}

static struct store_license
license_make(const char *product, const char *licensee)
{
	struct store_license	l;

	memset(&l, 0, sizeof(l));
	snprintf(l.lic.product, sizeof(l.lic.product), "%s", product);
	snprintf(l.lic.edition, sizeof(l.lic.edition), "PROF");
	snprintf(l.lic.licensee, sizeof(l.lic.licensee), "%s", licensee);
	l.lic.created = date_from_ymd(2024, 3, 1);
	l.lic.support_expiry = date_from_ymd(2024, 9, 1);
	l.lic.revision = 1;
	l.lic.support_months = 6;
	memcpy(l.lic.key_id, "\x01\x02\x03\x04\x05\x06\x07\x08", KG_KEY_ID_LEN);
	l.status = KG_STATUS_ACTIVE;
	l.updated_at = T0;
	return l;
}

static int
count_cb(void *ctx, const struct store_audit *a)
{
	(void)a;
	(*(size_t *)ctx)++;
	return 0;
}

static size_t
audit_count(struct store *st)
{
	size_t	n = 0;

	assert_int_equal(st->ops->audit_list(st, INT64_MIN, count_cb, &n), STORE_OK);
	return n;
}

static size_t
release_count(struct store *st, const char *product)
{
	struct store_release	*r;
	size_t			 n;

	assert_int_equal(st->ops->release_list(st, product, &r, &n), STORE_OK);
	free(r);
	return n;
}

/* ---- open, create, reopen, schema ---- */

static void
test_open_create_reopen(void **state)
{
	struct store_options	 opt = { .map_size = 0, .create = false };
	struct store_product	 p;
	struct store		*st = NULL;
	struct stat		 sb;
	char			 dir[PATH_MAX], path[PATH_MAX + 16];
	uint32_t		 v = 0;

	(void)state;
	dir_make(dir);
	/* Without create, an empty dir is not made into a store. */
	assert_int_equal(store_open_lmdb(dir, &opt, &st), STORE_NOTFOUND);
	assert_null(st);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_equal(stat(path, &sb), -1);

	st = store_open_ok(dir, 0, true);
	assert_int_equal(st->ops->schema_version(st, &v), STORE_OK);
	assert_int_equal(v, STORE_SCHEMA_VERSION);
	product_add(st, "ZHKH8", 799000);
	st->ops->close(st);

	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	/* Reopen (without and with create): the data is still there. */
	st = store_open_ok(dir, 0, false);
	assert_int_equal(st->ops->product_get(st, "ZHKH8", &p), STORE_OK);
	assert_string_equal(p.name, "Product ZHKH8");
	assert_int_equal(p.price, 799000);
	assert_int_equal(p.created_at, T0);
	st->ops->close(st);
	st = store_open_ok(dir, 0, true);
	assert_int_equal(st->ops->product_get(st, "ZHKH8", &p), STORE_OK);
	assert_int_equal(audit_count(st), 1);
	st->ops->close(st);
	dir_remove(dir);
}

static void
test_open_missing_dir(void **state)
{
	struct store_options	 opt = { .map_size = 0, .create = true };
	struct store		*st = NULL;
	char			 dir[PATH_MAX + 16];

	(void)state;
	dir_make(dir);
	dir_remove(dir);
	strcat(dir, "/nonexistent");
	assert_int_equal(store_open_lmdb(dir, &opt, &st), STORE_IO);
	assert_null(st);
}

static void
test_schema_mismatch(void **state)
{
	struct fixture		*f = *state;
	struct store_options	 opt = { .map_size = 0, .create = false };
	struct store		*st = NULL;

	assert_int_equal(store_lmdb_debug_set_schema(f->st, 99), STORE_OK);
	f->st->ops->close(f->st);
	f->st = NULL;
	assert_int_equal(store_open_lmdb(f->dir, &opt, &st), STORE_SCHEMA);
	assert_null(st);
	opt.create = true;
	assert_int_equal(store_open_lmdb(f->dir, &opt, &st), STORE_SCHEMA);
	assert_null(st);
}

/* ---- products and editions ---- */

struct names {
	char	v[8][2 * KG_CODE_MAX + 2];
	size_t	n;
};

static int
product_name_cb(void *ctx, const struct store_product *p)
{
	struct names	*nm = ctx;

	snprintf(nm->v[nm->n++], sizeof(nm->v[0]), "%s", p->code);
	return 0;
}

static int
edition_name_cb(void *ctx, const struct store_edition *e)
{
	struct names	*nm = ctx;

	snprintf(nm->v[nm->n++], sizeof(nm->v[0]), "%s/%s", e->product, e->code);
	return 0;
}

static void
test_products(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_product	 p;
	struct store_audit	 a = audit_make("product.add", "B");
	struct names		 nm = { .n = 0 };

	product_add(st, "B", 100);
	product_add(st, "A", 200);
	memset(&p, 0, sizeof(p));
	strcpy(p.code, "B");
	assert_int_equal(st->ops->product_add(st, &p, &a), STORE_EXISTS);
	p.code[0] = '\0';
	assert_int_equal(st->ops->product_add(st, &p, &a), STORE_INVAL);
	assert_int_equal(st->ops->product_get(st, "C", &p), STORE_NOTFOUND);
	assert_int_equal(st->ops->product_get(st, "", &p), STORE_NOTFOUND);
	assert_int_equal(st->ops->product_get(st, "B", &p), STORE_OK);
	assert_int_equal(p.price, 100);
	assert_int_equal(st->ops->product_list(st, product_name_cb, &nm), STORE_OK);
	assert_int_equal(nm.n, 2);
	assert_string_equal(nm.v[0], "A");
	assert_string_equal(nm.v[1], "B");
	/* The failed adds wrote no audit record. */
	assert_int_equal(audit_count(st), 2);
}

static void
test_editions(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_edition	 e, g;
	struct store_audit	 a = audit_make("edition.add", "A PROF");
	struct names		 nm = { .n = 0 };

	memset(&e, 0, sizeof(e));
	strcpy(e.product, "A");
	strcpy(e.code, "PROF");
	policy_defaults(&e.policy);
	e.policy.support_months = 3;
	e.policy.basis = KG_BASIS_ACTIVATION;
	e.policy.on_expiry = KG_ON_EXPIRY_DEMO;
	e.policy.renewal_months = 24;
	e.policy.grace_months = 2;
	e.policy.grace_percent = 30;
	e.policy.standard_percent = 50;
	e.policy.requires_subscription = true;
	/* The product does not exist yet. */
	assert_int_equal(st->ops->edition_add(st, &e, &a), STORE_INVAL);
	product_add(st, "A", 100);
	product_add(st, "AB", 100);
	assert_int_equal(st->ops->edition_add(st, &e, &a), STORE_OK);
	assert_int_equal(st->ops->edition_add(st, &e, &a), STORE_EXISTS);
	strcpy(e.code, "BASIC");
	policy_defaults(&e.policy);
	assert_int_equal(st->ops->edition_add(st, &e, &a), STORE_OK);
	strcpy(e.product, "AB");
	strcpy(e.code, "CORP");
	assert_int_equal(st->ops->edition_add(st, &e, &a), STORE_OK);

	assert_int_equal(st->ops->edition_get(st, "A", "PROF", &g), STORE_OK);
	assert_string_equal(g.product, "A");
	assert_string_equal(g.code, "PROF");
	assert_int_equal(g.policy.support_months, 3);
	assert_int_equal(g.policy.basis, KG_BASIS_ACTIVATION);
	assert_int_equal(g.policy.on_expiry, KG_ON_EXPIRY_DEMO);
	assert_int_equal(g.policy.renewal_months, 24);
	assert_int_equal(g.policy.grace_months, 2);
	assert_int_equal(g.policy.grace_percent, 30);
	assert_int_equal(g.policy.standard_percent, 50);
	assert_true(g.policy.requires_subscription);
	assert_int_equal(st->ops->edition_get(st, "A", "BASIC", &g), STORE_OK);
	assert_int_equal(g.policy.support_months, 6);
	assert_int_equal(g.policy.basis, KG_BASIS_CREATION);
	assert_false(g.policy.requires_subscription);
	assert_int_equal(st->ops->edition_get(st, "A", "CORP", &g), STORE_NOTFOUND);
	assert_int_equal(st->ops->edition_get(st, "B", "PROF", &g), STORE_NOTFOUND);

	/* Product isolation: "A" lists its two, not AB's. */
	assert_int_equal(st->ops->edition_list(st, "A", edition_name_cb, &nm),
	    STORE_OK);
	assert_int_equal(nm.n, 2);
	assert_string_equal(nm.v[0], "A/BASIC");
	assert_string_equal(nm.v[1], "A/PROF");
	nm.n = 0;
	assert_int_equal(st->ops->edition_list(st, NULL, edition_name_cb, &nm),
	    STORE_OK);
	assert_int_equal(nm.n, 3);
	assert_string_equal(nm.v[2], "AB/CORP");
	nm.n = 0;
	assert_int_equal(st->ops->edition_list(st, "X", edition_name_cb, &nm),
	    STORE_OK);
	assert_int_equal(nm.n, 0);
}

/* ---- releases ---- */

static void
test_releases(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_release	*r;
	struct store_audit	 a = audit_make("release.withdraw", "A 2.0.9");
	struct kg_version	 v;
	size_t			 n;

	assert_int_equal(release_publish(st, "A", "1.0", 19000, ""), STORE_INVAL);
	product_add(st, "A", 100);
	product_add(st, "AB", 100);
	assert_int_equal(release_publish(st, "A", "2.0.10", 19010, "u10"), STORE_OK);
	assert_int_equal(release_publish(st, "A", "2.0.9", 19009, "u9"), STORE_OK);
	assert_int_equal(release_publish(st, "A", "1.5", 19001, ""), STORE_OK);
	assert_int_equal(release_publish(st, "AB", "0.1", 19002, ""), STORE_OK);
	assert_int_equal(release_publish(st, "AB", "9.9", 19003, ""), STORE_OK);
	/* version_cmp equal: 2.0.9.0 is 2.0.9, and 1.5.0 is 1.5. */
	assert_int_equal(release_publish(st, "A", "2.0.9.0", 19011, ""), STORE_EXISTS);
	assert_int_equal(release_publish(st, "A", "1.5.0", 19011, ""), STORE_EXISTS);

	assert_int_equal(st->ops->release_list(st, "A", &r, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_string_equal(r[0].version, "1.5");
	assert_string_equal(r[1].version, "2.0.9");
	assert_string_equal(r[2].version, "2.0.10");
	assert_string_equal(r[0].product, "A");
	assert_int_equal(r[1].rel.date, 19009);
	assert_int_equal(r[1].rel.state, KG_RELEASE_PUBLISHED);
	assert_string_equal(r[1].url, "u9");
	assert_int_equal(r[2].rel.version.n, 3);
	assert_int_equal(r[2].rel.version.part[2], 10);
	assert_int_equal(r[2].published_at, T0);
	free(r);
	assert_int_equal(st->ops->release_list(st, "AB", &r, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].version, "0.1");
	assert_string_equal(r[1].version, "9.9");
	free(r);
	assert_int_equal(st->ops->release_list(st, "B", &r, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_null(r);

	assert_int_equal(version_parse("2.0.9", &v), 0);
	assert_int_equal(st->ops->release_withdraw(st, "A", &v, &a), STORE_OK);
	assert_int_equal(version_parse("3.0", &v), 0);
	assert_int_equal(st->ops->release_withdraw(st, "A", &v, &a), STORE_NOTFOUND);
	assert_int_equal(st->ops->release_withdraw(st, "AB", &v, &a), STORE_NOTFOUND);
	assert_int_equal(st->ops->release_list(st, "A", &r, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].rel.state, KG_RELEASE_PUBLISHED);
	assert_int_equal(r[1].rel.state, KG_RELEASE_WITHDRAWN);
	assert_int_equal(r[1].rel.date, 19009);
	assert_int_equal(r[2].rel.state, KG_RELEASE_PUBLISHED);
	free(r);
	/* 2 products, 5 releases, 1 withdrawal. */
	assert_int_equal(audit_count(st), 8);
}

/* ---- licenses ---- */

static int
license_serial_cb(void *ctx, const struct store_license *l)
{
	uint64_t	*serials = ctx;

	serials[serials[0]++ + 1] = l->lic.serial;
	return 0;
}

static int
audit_last_cb(void *ctx, const struct store_audit *a)
{
	memcpy(ctx, a, sizeof(*a));
	return 0;
}

static void
test_licenses(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_license	 l, g;
	struct store_audit	 a, last;
	uint64_t		 serials[8] = { 0 };
	char			 want[KG_REGNO_MAX + 1];

	l = license_make("ZHKH8", "Acme");
	a = audit_make("key.issue", "ZHKH8");
	assert_int_equal(st->ops->license_create(st, &l, &a), STORE_INVAL);
	assert_int_equal(audit_count(st), 0);
	product_add(st, "ZHKH8", 799000);
	product_add(st, "OTHER", 100);
	for (uint64_t i = 1; i <= 3; i++) {
		l = license_make("ZHKH8", "Acme");
		assert_int_equal(st->ops->license_create(st, &l, &a), STORE_OK);
		assert_int_equal(l.lic.serial, i);
		snprintf(want, sizeof(want), "ZHKH8-%06" PRIu64, i);
		assert_string_equal(l.lic.regno, want);
	}
	/* The audit record's object is the new regno. */
	assert_int_equal(st->ops->audit_list(st, 0, audit_last_cb, &last), STORE_OK);
	assert_string_equal(last.action, "key.issue");
	assert_string_equal(last.object, "ZHKH8-000003");

	/* Serial is global, the regno counter per product. */
	l = license_make("OTHER", "Beta");
	assert_int_equal(st->ops->license_create(st, &l, &a), STORE_OK);
	assert_int_equal(l.lic.serial, 4);
	assert_string_equal(l.lic.regno, "OTHER-000001");

	assert_int_equal(st->ops->license_get_serial(st, 2, &g), STORE_OK);
	assert_string_equal(g.lic.regno, "ZHKH8-000002");
	assert_string_equal(g.lic.licensee, "Acme");
	assert_string_equal(g.lic.edition, "PROF");
	assert_int_equal(g.lic.created, date_from_ymd(2024, 3, 1));
	assert_int_equal(g.lic.support_expiry, date_from_ymd(2024, 9, 1));
	assert_int_equal(g.lic.revision, 1);
	assert_int_equal(g.lic.support_months, 6);
	assert_memory_equal(g.lic.key_id, "\x01\x02\x03\x04\x05\x06\x07\x08",
	    KG_KEY_ID_LEN);
	assert_int_equal(g.status, KG_STATUS_ACTIVE);
	assert_int_equal(g.updated_at, T0);
	assert_int_equal(st->ops->license_get_regno(st, "OTHER-000001", &g), STORE_OK);
	assert_int_equal(g.lic.serial, 4);
	assert_string_equal(g.lic.licensee, "Beta");
	assert_int_equal(st->ops->license_get_serial(st, 99, &g), STORE_NOTFOUND);
	assert_int_equal(st->ops->license_get_regno(st, "ZHKH8-000009", &g),
	    STORE_NOTFOUND);

	/* Update: right revision, then a stale one. */
	assert_int_equal(st->ops->license_get_regno(st, "ZHKH8-000001", &g), STORE_OK);
	g.lic.revision = 2;
	g.lic.support_expiry = date_from_ymd(2025, 9, 1);
	g.status = KG_STATUS_SUSPENDED;
	strcpy(g.status_reason, "refund pending");
	a = audit_make("key.extend", "ZHKH8-000001");
	assert_int_equal(st->ops->license_update(st, &g, 1, &a), STORE_OK);
	g.lic.revision = 3;
	assert_int_equal(st->ops->license_update(st, &g, 1, &a), STORE_CONFLICT);
	assert_int_equal(st->ops->license_get_serial(st, 1, &l), STORE_OK);
	assert_int_equal(l.lic.revision, 2);
	assert_int_equal(l.lic.support_expiry, date_from_ymd(2025, 9, 1));
	assert_int_equal(l.status, KG_STATUS_SUSPENDED);
	assert_string_equal(l.status_reason, "refund pending");
	/* The regno never changes; a missing license is NOTFOUND. */
	strcpy(g.lic.regno, "ZHKH8-000777");
	assert_int_equal(st->ops->license_update(st, &g, 2, &a), STORE_INVAL);
	g = license_make("ZHKH8", "Acme");
	g.lic.serial = 42;
	assert_int_equal(st->ops->license_update(st, &g, 1, &a), STORE_NOTFOUND);
	assert_int_equal(st->ops->license_get_regno(st, "ZHKH8-000001", &g), STORE_OK);
	assert_int_equal(g.lic.serial, 1);
	assert_int_equal(g.lic.revision, 2);

	assert_int_equal(st->ops->license_list(st, license_serial_cb, serials),
	    STORE_OK);
	assert_int_equal(serials[0], 4);
	for (uint64_t i = 1; i <= 4; i++)
		assert_int_equal(serials[i], i);
	/* 2 products, 4 licenses, 1 update. */
	assert_int_equal(audit_count(st), 7);
}

/*
 * Reads of a license go through the thread's decoded-record cache, which
 * serves only the very bytes it decoded, or what it read in the same
 * snapshot: a license of the same serial in another store, a renewed
 * license and a record too large to keep all read as stored, in any order;
 * a snapshot held across a write keeps seeing what it saw, and the next
 * one sees the write.
 */
static void
test_license_cache(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st, *st2;
	struct store_license	 l, g;
	struct store_audit	 a = audit_make("key.issue", "ZHKH8");
	char			 dir2[PATH_MAX], longname[KG_LICENSEE_MAX + 1];
	int			 round;

	dir_make(dir2);
	st2 = store_open_ok(dir2, 0, true);
	product_add(st, "ZHKH8", 100);
	product_add(st2, "ZHKH8", 100);
	l = license_make("ZHKH8", "Acme");
	assert_int_equal(st->ops->license_create(st, &l, &a), STORE_OK);
	l = license_make("ZHKH8", "Other Store Ltd");
	assert_int_equal(st2->ops->license_create(st2, &l, &a), STORE_OK);
	assert_int_equal(l.lic.serial, 1);
	memset(longname, 'n', KG_LICENSEE_MAX);
	longname[KG_LICENSEE_MAX] = '\0';
	l = license_make("ZHKH8", longname);
	assert_int_equal(st->ops->license_create(st, &l, &a), STORE_OK);
	assert_int_equal(l.lic.serial, 2);

	/* A kept decoding is exactly the decoding: every field, every byte. */
	assert_int_equal(st->ops->license_get_serial(st, 1, &l), STORE_OK);
	assert_int_equal(st->ops->license_get_serial(st, 1, &g), STORE_OK);
	assert_memory_equal(&l, &g, sizeof(l));
	for (round = 0; round < 2; round++) {
		assert_int_equal(st->ops->license_get_serial(st, 1, &g), STORE_OK);
		assert_string_equal(g.lic.licensee, "Acme");
		assert_int_equal(st2->ops->license_get_serial(st2, 1, &g),
		    STORE_OK);
		assert_string_equal(g.lic.licensee, "Other Store Ltd");
		assert_int_equal(st->ops->license_get_serial(st, 2, &g), STORE_OK);
		assert_string_equal(g.lic.licensee, longname);
	}

	/* Renewed and revoked: the next read sees it, then keeps seeing it. */
	assert_int_equal(st->ops->license_get_serial(st, 1, &g), STORE_OK);
	g.lic.revision = 2;
	g.lic.support_expiry = date_from_ymd(2025, 9, 1);
	g.status = KG_STATUS_REVOKED;
	strcpy(g.status_reason, "chargeback");
	g.lic.trial = true;
	g.lic.license_expiry = date_from_ymd(2026, 1, 1);
	g.activated_at = T0 + 7;
	g.updated_at = T0 + 9;
	assert_int_equal(st->ops->license_update(st, &g, 1, &a), STORE_OK);
	for (round = 0; round < 2; round++) {
		assert_int_equal(st->ops->license_get_serial(st, 1, &l), STORE_OK);
		assert_int_equal(l.lic.revision, 2);
		assert_int_equal(l.lic.support_expiry, date_from_ymd(2025, 9, 1));
		assert_int_equal(l.status, KG_STATUS_REVOKED);
		assert_string_equal(l.status_reason, "chargeback");
		assert_int_equal(st->ops->license_get_serial(st, 1, &g), STORE_OK);
		assert_memory_equal(&l, &g, sizeof(l));
		assert_int_equal(st2->ops->license_get_serial(st2, 1, &g),
		    STORE_OK);
		assert_int_equal(g.lic.revision, 1);
		assert_int_equal(g.status, KG_STATUS_ACTIVE);
	}

	/* One snapshot held while the license is written again. */
	store_read_hold(st);
	assert_int_equal(st->ops->license_get_serial(st, 1, &l), STORE_OK);
	assert_int_equal(l.lic.revision, 2);
	g = l;
	g.lic.revision = 3;
	g.status = KG_STATUS_ACTIVE;
	g.status_reason[0] = '\0';
	assert_int_equal(st->ops->license_update(st, &g, 2, &a), STORE_OK);
	for (round = 0; round < 2; round++) {
		assert_int_equal(st->ops->license_get_serial(st, 1, &g),
		    STORE_OK);
		assert_memory_equal(&l, &g, sizeof(l));	/* what it saw */
	}
	store_read_release(st);
	for (round = 0; round < 2; round++) {
		store_read_hold(st);
		assert_int_equal(st->ops->license_get_serial(st, 1, &g),
		    STORE_OK);
		assert_int_equal(g.lic.revision, 3);
		assert_int_equal(g.status, KG_STATUS_ACTIVE);
		assert_string_equal(g.status_reason, "");
		store_read_release(st);
	}
	/* Another license written: this one's bytes, and its read, stay. */
	assert_int_equal(st->ops->license_get_serial(st, 2, &l), STORE_OK);
	l.updated_at = T0 + 11;
	assert_int_equal(st->ops->license_update(st, &l, 1, &a), STORE_OK);
	assert_int_equal(st->ops->license_get_serial(st, 1, &l), STORE_OK);
	assert_int_equal(l.lic.revision, 3);
	assert_int_equal(st->ops->license_get_serial(st, 2, &l), STORE_OK);
	assert_int_equal(l.updated_at, T0 + 11);
	st2->ops->close(st2);
	dir_remove(dir2);
}

struct nested {
	struct store	*st;
	size_t		 seen;
};

/* A list callback that reads the store again (a nested read transaction). */
static int
nested_cb(void *ctx, const struct store_license *l)
{
	struct nested		*n = ctx;
	struct store_product	 p;

	assert_int_equal(n->st->ops->product_get(n->st, l->lic.product, &p),
	    STORE_OK);
	assert_string_equal(p.code, l->lic.product);
	n->seen++;
	return n->seen == 2;	/* stop after two */
}

static void
test_nested_read(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_license	 l;
	struct store_audit	 a = audit_make("key.issue", "");
	struct nested		 n = { st, 0 };

	product_add(st, "P", 100);
	for (int i = 0; i < 3; i++) {
		l = license_make("P", "x");
		assert_int_equal(st->ops->license_create(st, &l, &a), STORE_OK);
	}
	assert_int_equal(st->ops->license_list(st, nested_cb, &n), STORE_OK);
	assert_int_equal(n.seen, 2);
	/* The cached read transaction is usable again afterwards. */
	assert_int_equal(st->ops->license_get_serial(st, 3, &l), STORE_OK);
}

/* ---- the catalog cache (store_cache.c) ---- */

struct writer {
	struct store	*st;
	int		 what;		/* 0: publish C 2.0, 1: add product D */
};

static void *
writer_main(void *arg)
{
	struct writer	*w = arg;

	if (w->what == 0)
		assert_int_equal(release_publish(w->st, "C", "2.0", 19020, ""),
		    STORE_OK);
	else
		product_add(w->st, "D", 300);
	store_thread_end(w->st);
	return NULL;
}

/* Run a writer thread to its end. */
static void
write_in_thread(struct store *st, int what)
{
	struct writer	w = { st, what };
	pthread_t	t;

	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

/*
 * Products, editions and release lists are served from this thread's cache
 * within one snapshot only: every commit, this thread's or another's, is
 * seen by the next read, and a held snapshot keeps seeing its own state.
 */
static void
test_catalog_cache(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_product	 p;
	struct store_edition	 e;
	struct store_release	*r;
	struct store_audit	 a = audit_make("release.withdraw", "C 1.0");
	struct kg_version	 v;
	size_t			 n;
	int			 i;

	product_add(st, "C", 100);
	memset(&e, 0, sizeof(e));
	strcpy(e.product, "C");
	strcpy(e.code, "STD");
	policy_defaults(&e.policy);
	e.policy.support_months = 12;
	assert_int_equal(st->ops->edition_add(st, &e, &a), STORE_OK);
	assert_int_equal(release_publish(st, "C", "1.0", 19010, "u1"), STORE_OK);
	for (i = 0; i < 3; i++) {	/* the first read fills, the others hit */
		assert_int_equal(st->ops->product_get(st, "C", &p), STORE_OK);
		assert_int_equal(p.price, 100);
		assert_string_equal(p.name, "Product C");
		assert_int_equal(st->ops->edition_get(st, "C", "STD", &e), STORE_OK);
		assert_int_equal(e.policy.support_months, 12);
		assert_int_equal(release_count(st, "C"), 1);
	}
	/* Not cached: a miss stays a miss until the record is written. */
	assert_int_equal(st->ops->product_get(st, "D", &p), STORE_NOTFOUND);
	assert_int_equal(st->ops->edition_get(st, "C", "PRO", &e), STORE_NOTFOUND);

	/* Another thread commits while this one holds a snapshot. */
	store_read_hold(st);
	assert_int_equal(release_count(st, "C"), 1);
	write_in_thread(st, 0);
	assert_int_equal(release_count(st, "C"), 1);	/* the held snapshot */
	store_read_release(st);
	assert_int_equal(st->ops->release_list(st, "C", &r, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].version, "1.0");
	assert_string_equal(r[0].url, "u1");
	assert_string_equal(r[1].version, "2.0");
	free(r);

	/* release_versions: the same list, into the caller's room, cached or not. */
	{
		struct kg_release	rv[3];
		size_t			k;

		for (i = 0; i < 2; i++) {	/* a miss that fills, then a hit */
			memset(rv, 0, sizeof(rv));
			assert_int_equal(st->ops->release_versions(st, "C", rv, 1,
			    &k), STORE_OK);
			assert_int_equal(k, 2);		/* two, room for one */
			assert_int_equal(rv[0].version.part[0], 1);
			assert_int_equal(rv[1].version.n, 0);	/* untouched */
			assert_int_equal(st->ops->release_versions(st, "C", rv, 3,
			    &k), STORE_OK);
			assert_int_equal(k, 2);
			assert_int_equal(rv[1].version.part[0], 2);
			assert_int_equal(rv[1].date, 19020);
		}
		assert_int_equal(st->ops->release_versions(st, "NONE", rv, 3, &k),
		    STORE_OK);
		assert_int_equal(k, 0);
	}

	/* This thread's own write: the state of a cached release changes. */
	assert_int_equal(version_parse("1.0", &v), 0);
	assert_int_equal(st->ops->release_withdraw(st, "C", &v, &a), STORE_OK);
	assert_int_equal(st->ops->release_list(st, "C", &r, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].rel.state, KG_RELEASE_WITHDRAWN);
	assert_int_equal(r[1].rel.state, KG_RELEASE_PUBLISHED);
	free(r);
	{
		struct kg_release	rv[2];
		size_t			k;

		assert_int_equal(st->ops->release_versions(st, "C", rv, 2, &k),
		    STORE_OK);
		assert_int_equal(k, 2);
		assert_int_equal(rv[0].state, KG_RELEASE_WITHDRAWN);
		assert_int_equal(rv[1].state, KG_RELEASE_PUBLISHED);
	}

	/* A product another thread adds is there for the next read. */
	write_in_thread(st, 1);
	assert_int_equal(st->ops->product_get(st, "D", &p), STORE_OK);
	assert_int_equal(p.price, 300);
	assert_int_equal(st->ops->product_get(st, "C", &p), STORE_OK);
	assert_int_equal(p.price, 100);

	/* More products than the cache has slots: each read is still right. */
	for (i = 0; i < 12; i++) {
		char	code[8];

		snprintf(code, sizeof(code), "M%d", i);
		product_add(st, code, 1000 + i);
	}
	for (i = 0; i < 36; i++) {
		char	code[8];

		snprintf(code, sizeof(code), "M%d", i % 12);
		assert_int_equal(st->ops->product_get(st, code, &p), STORE_OK);
		assert_int_equal(p.price, 1000 + i % 12);
	}

	/* A store opened again (same file, same transaction ids) is not confused. */
	st->ops->close(st);
	f->st = st = store_open_ok(f->dir, 0, false);
	assert_int_equal(st->ops->product_get(st, "D", &p), STORE_OK);
	assert_int_equal(p.price, 300);
	assert_int_equal(release_count(st, "C"), 2);
}

/* ---- acts ---- */

static struct store_act
act_make(const char *number, const char *product, uint32_t months)
{
	struct store_act	act;

	memset(&act, 0, sizeof(act));
	snprintf(act.number, sizeof(act.number), "%s", number);
	snprintf(act.product, sizeof(act.product), "%s", product);
	act.months = months;
	act.state = STORE_ACT_OPEN;
	act.registered_at = T0;
	strcpy(act.registered_by, "admin uid=0 root");
	return act;
}

static int
act_number_cb(void *ctx, const struct store_act *act)
{
	struct names	*nm = ctx;

	snprintf(nm->v[nm->n++], sizeof(nm->v[0]), "%s", act->number);
	return 0;
}

struct decide_ctx {
	int		calls;
	kg_date		new_expiry;
	bool		noop;		/* accept without changing anything */
	bool		no_audit;	/* change records but fill no audit record */
};

/* Accept an open act once; refuse a redeemed or void one. */
static enum kg_reason
decide_once(void *ctx, const struct store_act *act, const struct store_license *cur,
    struct store_license *next_lic, struct store_act *next_act,
    struct store_audit *audit)
{
	struct decide_ctx	*d = ctx;

	d->calls++;
	if (d->noop)
		return KG_REASON_OK;
	if (act->state == STORE_ACT_REDEEMED)
		return KG_REASON_ACT_USED;
	if (act->state == STORE_ACT_VOID)
		return KG_REASON_ACT_VOID;
	next_lic->lic.support_expiry = d->new_expiry;
	next_lic->lic.revision = cur->lic.revision + 1;
	next_lic->updated_at = T0 + 10;
	next_act->state = STORE_ACT_REDEEMED;
	next_act->serial = cur->lic.serial;
	next_act->redeemed_at = T0 + 10;
	next_act->old_expiry = cur->lic.support_expiry;
	next_act->new_expiry = d->new_expiry;
	next_act->kind = KG_RENEWAL_GRACE;
	next_act->price = 199800;
	if (d->no_audit)
		return KG_REASON_OK;
	store_audit_fill(audit, T0 + 10, "tcp 127.0.0.1 serial=1", "act.redeem",
	    act->number, "support %d -> %d", cur->lic.support_expiry,
	    d->new_expiry);
	return KG_REASON_OK;
}

static void
test_acts(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_act	 act, g;
	struct store_audit	 a = audit_make("act.register", "A-1");
	struct names		 nm = { .n = 0 };

	act = act_make("A-1", "P", 12);
	assert_int_equal(st->ops->act_register(st, &act, &a), STORE_INVAL);
	product_add(st, "P", 100);
	assert_int_equal(st->ops->act_register(st, &act, &a), STORE_OK);
	assert_int_equal(st->ops->act_register(st, &act, &a), STORE_EXISTS);
	act = act_make("A-0", "P", 6);
	strcpy(act.edition, "PROF");
	strcpy(act.licensee, "Acme");
	assert_int_equal(st->ops->act_register(st, &act, &a), STORE_OK);

	assert_int_equal(st->ops->act_get(st, "A-0", &g), STORE_OK);
	assert_string_equal(g.product, "P");
	assert_string_equal(g.edition, "PROF");
	assert_string_equal(g.licensee, "Acme");
	assert_int_equal(g.months, 6);
	assert_int_equal(g.state, STORE_ACT_OPEN);
	assert_int_equal(g.registered_at, T0);
	assert_string_equal(g.registered_by, "admin uid=0 root");
	assert_int_equal(st->ops->act_get(st, "A-9", &g), STORE_NOTFOUND);
	assert_int_equal(st->ops->act_list(st, act_number_cb, &nm), STORE_OK);
	assert_int_equal(nm.n, 2);
	assert_string_equal(nm.v[0], "A-0");
	assert_string_equal(nm.v[1], "A-1");

	a = audit_make("act.void", "A-0");
	assert_int_equal(st->ops->act_void(st, "A-0", &a), STORE_OK);
	assert_int_equal(st->ops->act_get(st, "A-0", &g), STORE_OK);
	assert_int_equal(g.state, STORE_ACT_VOID);
	/* Voiding again changes nothing and writes no audit record. */
	assert_int_equal(st->ops->act_void(st, "A-0", &a), STORE_OK);
	assert_int_equal(st->ops->act_void(st, "A-9", &a), STORE_NOTFOUND);
	/* product, 2 registrations, 1 void. */
	assert_int_equal(audit_count(st), 4);
}

static void
test_act_redeem(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_license	 l;
	struct store_act	 act, g;
	struct store_audit	 a = audit_make("act.register", "R-1"), last;
	struct decide_ctx	 d = { 0, 0, false, false };
	enum kg_reason		 reason;
	size_t			 n0;

	d.new_expiry = date_from_ymd(2025, 9, 1);
	product_add(st, "P", 100);
	l = license_make("P", "Acme");
	assert_int_equal(st->ops->license_create(st, &l, &a), STORE_OK);
	act = act_make("R-1", "P", 12);
	assert_int_equal(st->ops->act_register(st, &act, &a), STORE_OK);
	n0 = audit_count(st);

	/* An unknown act: refused before decide runs. */
	assert_int_equal(st->ops->act_redeem(st, "R-404", 1, decide_once, &d,
	    &reason), STORE_REFUSED);
	assert_int_equal(reason, KG_REASON_ACT_UNKNOWN);
	assert_int_equal(d.calls, 0);
	/* A missing license. */
	assert_int_equal(st->ops->act_redeem(st, "R-1", 77, decide_once, &d,
	    &reason), STORE_NOTFOUND);
	assert_int_equal(d.calls, 0);

	assert_int_equal(st->ops->act_redeem(st, "R-1", 1, decide_once, &d,
	    &reason), STORE_OK);
	assert_int_equal(reason, KG_REASON_OK);
	assert_int_equal(d.calls, 1);
	assert_int_equal(st->ops->act_redeem(st, "R-1", 1, decide_once, &d,
	    &reason), STORE_REFUSED);
	assert_int_equal(reason, KG_REASON_ACT_USED);
	assert_int_equal(d.calls, 2);

	/* The writes and the audit record happened exactly once. */
	assert_int_equal(audit_count(st), n0 + 1);
	assert_int_equal(st->ops->audit_list(st, 0, audit_last_cb, &last), STORE_OK);
	assert_string_equal(last.action, "act.redeem");
	assert_string_equal(last.object, "R-1");
	assert_int_equal(last.seq, n0 + 1);
	assert_int_equal(st->ops->license_get_serial(st, 1, &l), STORE_OK);
	assert_int_equal(l.lic.revision, 2);
	assert_int_equal(l.lic.support_expiry, d.new_expiry);
	assert_int_equal(l.updated_at, T0 + 10);
	assert_int_equal(st->ops->act_get(st, "R-1", &g), STORE_OK);
	assert_int_equal(g.state, STORE_ACT_REDEEMED);
	assert_int_equal(g.serial, 1);
	assert_int_equal(g.old_expiry, date_from_ymd(2024, 9, 1));
	assert_int_equal(g.new_expiry, d.new_expiry);
	assert_int_equal(g.kind, KG_RENEWAL_GRACE);
	assert_int_equal(g.price, 199800);

	/* A change without an audit record is refused and writes nothing. */
	act = act_make("R-2", "P", 12);
	assert_int_equal(st->ops->act_register(st, &act, &a), STORE_OK);
	n0++;
	d.no_audit = true;
	assert_int_equal(st->ops->act_redeem(st, "R-2", 1, decide_once, &d,
	    &reason), STORE_INVAL);
	assert_int_equal(reason, KG_REASON_INTERNAL);
	assert_int_equal(d.calls, 3);
	assert_int_equal(audit_count(st), n0 + 1);
	assert_int_equal(st->ops->act_get(st, "R-2", &g), STORE_OK);
	assert_int_equal(g.state, STORE_ACT_OPEN);
	assert_int_equal(st->ops->license_get_serial(st, 1, &l), STORE_OK);
	assert_int_equal(l.lic.revision, 2);
	d.no_audit = false;

	/* A decide that accepts without changes writes nothing. */
	d.noop = true;
	assert_int_equal(st->ops->act_redeem(st, "R-1", 1, decide_once, &d,
	    &reason), STORE_OK);
	assert_int_equal(reason, KG_REASON_OK);
	assert_int_equal(audit_count(st), n0 + 1);

	/* A redeemed act cannot be voided. */
	a = audit_make("act.void", "R-1");
	assert_int_equal(st->ops->act_void(st, "R-1", &a), STORE_CONFLICT);
	assert_int_equal(audit_count(st), n0 + 1);
}

/* ---- subscriptions and signing keys ---- */

static void
test_subscriptions(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_audit	 a = audit_make("subscription.set", "Acme");
	kg_date			 until = 0;

	assert_int_equal(st->ops->subscription_get(st, "Acme", &until),
	    STORE_NOTFOUND);
	assert_int_equal(st->ops->subscription_set(st, "Acme",
	    date_from_ymd(2025, 1, 31), &a), STORE_OK);
	assert_int_equal(st->ops->subscription_get(st, "Acme", &until), STORE_OK);
	assert_int_equal(until, date_from_ymd(2025, 1, 31));
	assert_int_equal(st->ops->subscription_set(st, "Acme",
	    date_from_ymd(2026, 1, 31), &a), STORE_OK);
	assert_int_equal(st->ops->subscription_get(st, "Acme", &until), STORE_OK);
	assert_int_equal(until, date_from_ymd(2026, 1, 31));
	assert_int_equal(st->ops->subscription_get(st, "Acme Ltd", &until),
	    STORE_NOTFOUND);
	assert_int_equal(st->ops->subscription_set(st, "", 1, &a), STORE_INVAL);
	assert_int_equal(audit_count(st), 2);
}

struct key_list {
	struct store_signing_key	k[4];
	size_t				n;
};

static int
key_cb(void *ctx, const struct store_signing_key *k)
{
	struct key_list	*kl = ctx;

	memcpy(&kl->k[kl->n++], k, sizeof(*k));
	return 0;
}

static void
test_signing_keys(void **state)
{
	struct fixture			*f = *state;
	struct store			*st = f->st;
	struct store_signing_key	 k1, k2;
	struct store_audit		 a = audit_make("key.rotate", "");
	struct key_list			 kl = { .n = 0 };

	memset(&k1, 0, sizeof(k1));
	memset(&k2, 0, sizeof(k2));
	for (int i = 0; i < KG_PUBKEY_LEN; i++) {
		k1.pk[i] = (uint8_t)i;
		k2.pk[i] = (uint8_t)(0xa0 + i);
	}
	key_id_compute(k1.pk, k1.id);
	key_id_compute(k2.pk, k2.id);
	k1.state = KG_TRUST_ACTIVE;
	k1.created_at = T0;
	k2.state = KG_TRUST_ACTIVE;
	k2.created_at = T0 + 1;
	assert_int_equal(st->ops->signing_key_put(st, &k1, &a), STORE_OK);
	k1.state = KG_TRUST_RETIRED;
	assert_int_equal(st->ops->signing_key_put(st, &k1, &a), STORE_OK);
	assert_int_equal(st->ops->signing_key_put(st, &k2, &a), STORE_OK);
	/* An id that is not the key's. */
	k2.id[0] ^= 1;
	assert_int_equal(st->ops->signing_key_put(st, &k2, &a), STORE_INVAL);
	k2.id[0] ^= 1;

	assert_int_equal(st->ops->signing_key_list(st, key_cb, &kl), STORE_OK);
	assert_int_equal(kl.n, 2);
	for (size_t i = 0; i < kl.n; i++) {
		const struct store_signing_key	*want;

		want = memcmp(kl.k[i].id, k1.id, KG_KEY_ID_LEN) == 0 ? &k1 : &k2;
		assert_memory_equal(kl.k[i].pk, want->pk, KG_PUBKEY_LEN);
		assert_memory_equal(kl.k[i].id, want->id, KG_KEY_ID_LEN);
		assert_int_equal(kl.k[i].state, want->state);
		assert_int_equal(kl.k[i].created_at, want->created_at);
	}
	assert_int_not_equal(memcmp(kl.k[0].id, kl.k[1].id, KG_KEY_ID_LEN), 0);
	assert_int_equal(audit_count(st), 3);
}

/* ---- audit chain ---- */

struct audit_all {
	struct store_audit	a[8];
	size_t			n;
};

static int
audit_all_cb(void *ctx, const struct store_audit *a)
{
	struct audit_all	*aa = ctx;

	if (aa->n < 8)
		memcpy(&aa->a[aa->n], a, sizeof(*a));
	aa->n++;
	return 0;
}

static void
hash_str(crypto_generichash_state *h, const char *s)
{
	uint32_t	n = (uint32_t)strlen(s);
	uint8_t		len[4] = { n >> 24, n >> 16, n >> 8, n };

	crypto_generichash_update(h, len, 4);
	crypto_generichash_update(h, (const uint8_t *)s, n);
}

/* The canonical bytes documented in store.c, computed independently. */
static void
hash_expected(const struct store_audit *a, const uint8_t prev[KG_HASH_LEN],
    uint8_t out[KG_HASH_LEN])
{
	crypto_generichash_state	h;
	uint8_t				b[16];

	for (int i = 0; i < 8; i++) {
		b[i] = (uint8_t)(a->seq >> (56 - 8 * i));
		b[8 + i] = (uint8_t)((uint64_t)a->time >> (56 - 8 * i));
	}
	crypto_generichash_init(&h, NULL, 0, KG_HASH_LEN);
	crypto_generichash_update(&h, prev, KG_HASH_LEN);
	crypto_generichash_update(&h, b, 16);
	hash_str(&h, a->actor);
	hash_str(&h, a->action);
	hash_str(&h, a->object);
	hash_str(&h, a->detail);
	crypto_generichash_final(&h, out, KG_HASH_LEN);
}

static void
test_audit_chain(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_license	 l;
	struct store_act	 act;
	struct store_audit	 a;
	struct audit_all	 aa = { .n = 0 };
	uint8_t			 prev[KG_HASH_LEN] = { 0 }, h[KG_HASH_LEN];
	uint64_t		 bad = 99;

	assert_int_equal(st->ops->audit_verify(st, &bad), STORE_OK);
	assert_int_equal(bad, 0);
	/* Five changes of five kinds. */
	product_add(st, "P", 100);
	assert_int_equal(release_publish(st, "P", "1.0", 19000, ""), STORE_OK);
	l = license_make("P", "Acme");
	a = audit_make("key.issue", "");
	assert_int_equal(st->ops->license_create(st, &l, &a), STORE_OK);
	act = act_make("A-1", "P", 12);
	a = audit_make("act.register", "A-1");
	assert_int_equal(st->ops->act_register(st, &act, &a), STORE_OK);
	store_audit_fill(&a, T0 + 4, "admin uid=0 root", "subscription.set",
	    "Acme", "until %s", "2025-01-31");
	assert_int_equal(st->ops->subscription_set(st, "Acme", 20119, &a),
	    STORE_OK);
	/* Failed changes append nothing. */
	assert_int_equal(release_publish(st, "P", "1.0", 19000, ""), STORE_EXISTS);
	assert_int_equal(st->ops->act_register(st, &act, &a), STORE_EXISTS);

	assert_int_equal(st->ops->audit_list(st, INT64_MIN, audit_all_cb, &aa),
	    STORE_OK);
	assert_int_equal(aa.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(aa.a[i].seq, i + 1);
		assert_memory_equal(aa.a[i].prev_hash, prev, KG_HASH_LEN);
		hash_expected(&aa.a[i], prev, h);
		assert_memory_equal(aa.a[i].hash, h, KG_HASH_LEN);
		memcpy(prev, h, KG_HASH_LEN);
	}
	assert_string_equal(aa.a[0].action, "product.add");
	assert_string_equal(aa.a[1].action, "release.publish");
	assert_string_equal(aa.a[2].action, "key.issue");
	assert_string_equal(aa.a[2].object, "P-000001");
	assert_string_equal(aa.a[3].action, "act.register");
	assert_string_equal(aa.a[4].action, "subscription.set");
	assert_string_equal(aa.a[4].detail, "until 2025-01-31");
	assert_int_equal(aa.a[4].time, T0 + 4);
	assert_int_equal(st->ops->audit_verify(st, &bad), STORE_OK);
	assert_int_equal(bad, 0);

	assert_int_equal(store_lmdb_debug_audit_tamper(st, 3, "edition=BASIC"),
	    STORE_OK);
	aa.n = 0;
	assert_int_equal(st->ops->audit_list(st, INT64_MIN, audit_all_cb, &aa),
	    STORE_OK);
	assert_string_equal(aa.a[2].detail, "edition=BASIC");
	assert_int_equal(st->ops->audit_verify(st, &bad), STORE_CONFLICT);
	assert_int_equal(bad, 3);
	assert_int_equal(store_lmdb_debug_audit_tamper(st, 9, "x"), STORE_NOTFOUND);
}

static void
test_audit_list_since(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st;
	struct store_audit	 a;
	struct audit_all	 aa = { .n = 0 };
	static const int64_t	 times[] = { 100, 300, 200, 400 };

	for (size_t i = 0; i < 4; i++) {
		store_audit_fill(&a, times[i], "t", "note", "x", "%zu", i);
		assert_int_equal(st->ops->audit_append(st, &a), STORE_OK);
	}
	assert_int_equal(st->ops->audit_list(st, 200, audit_all_cb, &aa), STORE_OK);
	assert_int_equal(aa.n, 3);
	/* seq order, not time order */
	assert_int_equal(aa.a[0].seq, 2);
	assert_int_equal(aa.a[0].time, 300);
	assert_int_equal(aa.a[1].seq, 3);
	assert_int_equal(aa.a[1].time, 200);
	assert_int_equal(aa.a[2].seq, 4);
	aa.n = 0;
	assert_int_equal(st->ops->audit_list(st, 401, audit_all_cb, &aa), STORE_OK);
	assert_int_equal(aa.n, 0);
}

/* ---- a full map ---- */

/*
 * A map this small fills after a few dozen records: LMDB needs room for the
 * live pages, the pages a transaction copies and those the previous
 * transaction freed, so at 64 KiB only one release fits.
 */
#define MAP_TINY	(256 * 1024)

static void
test_map_full(void **state)
{
	struct store		*st;
	struct store_release	*r;
	char			 dir[PATH_MAX], version[32], url[STORE_URL_MAX + 1];
	uint64_t		 bad = 99;
	size_t			 n, ok = 0, audits;
	int			 err = STORE_OK;

	(void)state;
	memset(url, 'u', STORE_URL_MAX);
	url[STORE_URL_MAX] = '\0';
	dir_make(dir);
	st = store_open_ok(dir, MAP_TINY, true);
	product_add(st, "P", 100);
	for (int i = 1; i <= 100000; i++) {
		snprintf(version, sizeof(version), "1.%d", i);
		if ((err = release_publish(st, "P", version, 19000, url)) != STORE_OK)
			break;
		ok++;
	}
	assert_int_equal(err, STORE_FULL);
	print_message("%zu releases fit a %d KiB map\n", ok, MAP_TINY / 1024);
	assert_true(ok >= 10);

	/* Reads work; exactly the acknowledged records are there. */
	assert_int_equal(st->ops->release_list(st, "P", &r, &n), STORE_OK);
	assert_int_equal(n, ok);
	snprintf(version, sizeof(version), "1.%zu", ok);
	assert_string_equal(r[n - 1].version, version);
	assert_string_equal(r[n - 1].url, url);
	free(r);
	audits = audit_count(st);
	assert_int_equal(audits, ok + 1);
	assert_int_equal(st->ops->audit_verify(st, &bad), STORE_OK);

	/* Another failed write leaves the counts as they were. */
	snprintf(version, sizeof(version), "2.%zu", ok);
	assert_int_equal(release_publish(st, "P", version, 19000, url), STORE_FULL);
	assert_int_equal(release_count(st, "P"), ok);
	assert_int_equal(audit_count(st), audits);
	st->ops->close(st);

	/* ... and after reopening. */
	st = store_open_ok(dir, MAP_TINY, false);
	assert_int_equal(release_count(st, "P"), ok);
	assert_int_equal(audit_count(st), audits);
	st->ops->close(st);
	dir_remove(dir);
}

/* ---- backup ---- */

static void
file_copy(const char *from, const char *to)
{
	char	buf[65536];
	ssize_t	n;
	int	in, out;

	in = open(from, O_RDONLY);
	assert_true(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

static void
test_backup(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = f->st, *copy;
	struct store_license	 l;
	struct store_audit	 a = audit_make("key.issue", "");
	struct stat		 sb;
	char			 path[PATH_MAX + 16], dir[PATH_MAX];
	char			 data[PATH_MAX + 16];
	uint64_t		 bad = 99;
	size_t			 audits;

	product_add(st, "P", 100);
	assert_int_equal(release_publish(st, "P", "1.0", 19000, ""), STORE_OK);
	for (int i = 0; i < 3; i++) {
		l = license_make("P", "Acme");
		assert_int_equal(st->ops->license_create(st, &l, &a), STORE_OK);
	}
	audits = audit_count(st);
	assert_int_equal(audits, 5);

	snprintf(path, sizeof(path), "%s/backup.mdb", f->dir);
	assert_int_equal(st->ops->backup(st, path), STORE_OK);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(st->ops->backup(st, path), STORE_EXISTS);

	/* A change after the backup is not in it. */
	l = license_make("P", "Late");
	assert_int_equal(st->ops->license_create(st, &l, &a), STORE_OK);

	dir_make(dir);
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	file_copy(path, data);
	copy = store_open_ok(dir, 0, false);
	assert_int_equal(audit_count(copy), audits);
	assert_int_equal(copy->ops->audit_verify(copy, &bad), STORE_OK);
	assert_int_equal(release_count(copy, "P"), 1);
	assert_int_equal(copy->ops->license_get_regno(copy, "P-000003", &l), STORE_OK);
	assert_int_equal(l.lic.serial, 3);
	assert_int_equal(copy->ops->license_get_serial(copy, 4, &l), STORE_NOTFOUND);
	/* The copy continues the counters where the backup stopped. */
	l = license_make("P", "Other");
	assert_int_equal(copy->ops->license_create(copy, &l, &a), STORE_OK);
	assert_int_equal(l.lic.serial, 4);
	assert_string_equal(l.lic.regno, "P-000004");
	copy->ops->close(copy);
	dir_remove(dir);
}

static void
test_strerror_and_fill(void **state)
{
	struct store_audit	a;
	char			long_actor[STORE_ACTOR_MAX + 20];

	(void)state;
	assert_string_equal(store_strerror(STORE_OK), "success");
	assert_string_equal(store_strerror(STORE_NOTFOUND), "no such record");
	assert_string_equal(store_strerror(-100), "unknown store error");
	memset(long_actor, 'a', sizeof(long_actor) - 1);
	long_actor[sizeof(long_actor) - 1] = '\0';
	memset(&a, 0x5a, sizeof(a));
	store_audit_fill(&a, 5, long_actor, "x.y", NULL, "%d -> %d", 1, 2);
	assert_int_equal(a.seq, 0);
	assert_int_equal(a.time, 5);
	assert_int_equal(strlen(a.actor), STORE_ACTOR_MAX);
	assert_string_equal(a.action, "x.y");
	assert_string_equal(a.object, "");
	assert_string_equal(a.detail, "1 -> 2");
}

/* A test on a fresh store (setup) that teardown closes and removes. */
#define FRESH(t)	cmocka_unit_test_setup_teardown(t, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_create_reopen),
		cmocka_unit_test(test_open_missing_dir),
		FRESH(test_schema_mismatch),
		FRESH(test_products),
		FRESH(test_editions),
		FRESH(test_releases),
		FRESH(test_licenses),
		FRESH(test_license_cache),
		FRESH(test_nested_read),
		FRESH(test_catalog_cache),
		FRESH(test_acts),
		FRESH(test_act_redeem),
		FRESH(test_subscriptions),
		FRESH(test_signing_keys),
		FRESH(test_audit_chain),
		FRESH(test_audit_list_since),
		cmocka_unit_test(test_map_full),
		FRESH(test_backup),
		cmocka_unit_test(test_strerror_and_fill),
	};

	/* Keep the expected error lines, drop the "new store" ones. */
	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
