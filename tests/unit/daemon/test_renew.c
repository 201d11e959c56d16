/*
 * Unit tests of daemon/renew.c: renew_handle against a real LMDB store in a
 * fresh temporary directory, a real signer (a fixed test seed) and a daemon
 * clock fixed to 2026-06-15 (noon), so every date below is exact. Covered:
 * the R7/R8 seed scenarios (grace, standard, early) with their prices, R9
 * (a release published while support lapsed becomes eligible), R10
 * (exactly once, the idempotent repeat, act_used, every act refusal), R11,
 * R12, trials, the R16 failure budgets, and renew_decide on constructed
 * records.
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
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "daemon.h"
#include "date.h"
#include "dispatch.h"
#include "keys.h"
#include "kgerr.h"
#include "license.h"
#include "log.h"
#include "policy.h"
#include "renew.h"
#include "signer.h"
#include "store.h"
#include "tmpdir.h"
#include "version.h"

#define PRICE	799000		/* 7990.00 */

static const uint8_t test_seed[32] = {
	0x6b, 0x67, 0x2d, 0x72, 0x65, 0x6e, 0x65, 0x77, 1, 2, 3, 4, 5, 6, 7, 8,
	9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24
};

struct fixture {
	char			 dir[PATH_MAX];
	struct daemon		 d;
	struct kg_keypair	*kp;
	kg_date			 today;
};

struct key {
	struct store_license	 sl;
	char			*text;
};

static struct store_audit
audit_admin(const char *action, const char *object)
{
	struct store_audit	a;

	store_audit_fill(&a, 1781510400, "admin uid=0 root", action, object,
	    "test");
	return a;
}

static void
product_add(struct fixture *f, const char *code, kg_money price)
{
	struct store		*st = f->d.store;
	struct store_product	 p;
	struct store_audit	 a = audit_admin("product.add", code);

	memset(&p, 0, sizeof(p));
	snprintf(p.code, sizeof(p.code), "%s", code);
	snprintf(p.name, sizeof(p.name), "Product %s", code);
	p.price = price;
	p.created_at = 1781510400;
	assert_int_equal(st->ops->product_add(st, &p, &a), STORE_OK);
}

static void
edition_add(struct fixture *f, const char *product, const char *code,
    bool subscription, enum kg_on_expiry on_expiry, enum kg_basis basis)
{
	struct store		*st = f->d.store;
	struct store_edition	 e;
	struct store_audit	 a = audit_admin("edition.add", code);

	memset(&e, 0, sizeof(e));
	snprintf(e.product, sizeof(e.product), "%s", product);
	snprintf(e.code, sizeof(e.code), "%s", code);
	policy_defaults(&e.policy);
	e.policy.requires_subscription = subscription;
	e.policy.on_expiry = on_expiry;
	e.policy.basis = basis;
	assert_int_equal(st->ops->edition_add(st, &e, &a), STORE_OK);
}

static void
release_add(struct fixture *f, const char *product, const char *version,
    kg_date date)
{
	struct store		*st = f->d.store;
	struct store_release	 r;
	struct store_audit	 a = audit_admin("release.publish", version);

	memset(&r, 0, sizeof(r));
	snprintf(r.product, sizeof(r.product), "%s", product);
	assert_int_equal(version_parse(version, &r.rel.version), 0);
	r.rel.date = date;
	r.rel.state = KG_RELEASE_PUBLISHED;
	r.published_at = 1781510400;
	assert_int_equal(st->ops->release_publish(st, &r, &a), STORE_OK);
}

/*
 * A stored license of product/edition for licensee whose support ends on
 * expiry (KG_DATE_NONE: not fixed), and its key text signed with the test key.
 */
static void
key_make(struct fixture *f, const char *product, const char *edition,
    const char *licensee, kg_date expiry, bool trial, struct key *k)
{
	struct store		*st = f->d.store;
	struct store_audit	 a = audit_admin("key.issue", "-");

	memset(k, 0, sizeof(*k));
	snprintf(k->sl.lic.product, sizeof(k->sl.lic.product), "%s", product);
	snprintf(k->sl.lic.edition, sizeof(k->sl.lic.edition), "%s", edition);
	snprintf(k->sl.lic.licensee, sizeof(k->sl.lic.licensee), "%s", licensee);
	k->sl.lic.created = date_from_ymd(2025, 1, 10);
	k->sl.lic.support_expiry = expiry;
	k->sl.lic.license_expiry = trial ? expiry : KG_DATE_NONE;
	k->sl.lic.trial = trial;
	k->sl.lic.revision = 1;
	k->sl.lic.support_months = trial ? 0 : 6;
	memcpy(k->sl.lic.key_id, f->kp->id, KG_KEY_ID_LEN);
	k->sl.status = KG_STATUS_ACTIVE;
	k->sl.updated_at = 1781510400;
	assert_int_equal(st->ops->license_create(st, &k->sl, &a), STORE_OK);
	assert_int_equal(license_key_new(&k->sl.lic, f->kp, &k->text), KGE_OK);
}

static void
key_free(struct key *k)
{
	free(k->text);
	k->text = NULL;
}

static void
act_add(struct fixture *f, const char *number, const char *product,
    uint32_t months, const char *edition, const char *licensee)
{
	struct store		*st = f->d.store;
	struct store_act	 act;
	struct store_audit	 a = audit_admin("act.register", number);

	memset(&act, 0, sizeof(act));
	snprintf(act.number, sizeof(act.number), "%s", number);
	snprintf(act.product, sizeof(act.product), "%s", product);
	snprintf(act.edition, sizeof(act.edition), "%s", edition);
	snprintf(act.licensee, sizeof(act.licensee), "%s", licensee);
	snprintf(act.registered_by, sizeof(act.registered_by), "admin uid=0 root");
	act.months = months;
	act.state = STORE_ACT_OPEN;
	act.registered_at = 1781510400;
	assert_int_equal(st->ops->act_register(st, &act, &a), STORE_OK);
}

/* Present key text with act number from peer host; out is the caller's. */
static void
activate(struct fixture *f, const char *host, const char *key, const char *act,
    struct handler_reply *out)
{
	Keygate__ActivateRequest	rq = KEYGATE__ACTIVATE_REQUEST__INIT;
	struct dispatch_peer		peer;
	struct request_ctx		rc = { .d = &f->d, .peer = &peer };

	memset(&peer, 0, sizeof(peer));
	assert_true(strlen(host) < sizeof(peer.host));
	memcpy(peer.host, host, strlen(host) + 1);
	snprintf(peer.text, sizeof(peer.text), "%s:40000", peer.host);
	rq.key = (char *)key;
	rq.act = (char *)act;
	handler_reply_init(out);
	renew_handle(&rc, &rq, out);
}

static const char *
reason_of(const struct handler_reply *out)
{
	return out->error != NULL ? out->error : out->verdict.reason;
}

static kg_date
ymd(int y, int m, int d)
{
	return date_from_ymd(y, m, d);
}

static void
license_load(struct fixture *f, uint64_t serial, struct store_license *sl)
{
	assert_int_equal(f->d.store->ops->license_get_serial(f->d.store, serial,
	    sl), STORE_OK);
}

struct audit_last {
	struct store_audit	last;
	size_t			n;
};

static int
audit_visit(void *ctx, const struct store_audit *a)
{
	struct audit_last	*al = ctx;

	al->last = *a;
	al->n++;
	return 0;
}

static size_t
audit_tail(struct fixture *f, struct store_audit *last)
{
	struct audit_last	al;

	memset(&al, 0, sizeof(al));
	assert_int_equal(f->d.store->ops->audit_list(f->d.store, 0, audit_visit,
	    &al), STORE_OK);
	if (last != NULL)
		*last = al.last;
	return al.n;
}

static int
setup(void **state)
{
	struct fixture		*f;
	struct store_options	 opt = { .map_size = 0, .create = true };
	char			 path[PATH_MAX + 32], err[256];

	assert_non_null(f = calloc(1, sizeof(*f)));
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "renew"), 0);
	assert_int_equal(store_open_lmdb(f->dir, &opt, &f->d.store), STORE_OK);
	assert_non_null(f->kp = keypair_from_seed_new(test_seed));
	snprintf(path, sizeof(path), "%s/signing.key", f->dir);
	assert_int_equal(keyfile_write(path, f->kp, NULL, 0, 0), KGE_OK);
	assert_int_equal(signer_open(path, NULL, &f->d.signer, err, sizeof(err)),
	    KGE_OK);
	trustset_init(&f->d.trust);
	assert_int_equal(trustset_add(&f->d.trust, f->kp->pk, KG_TRUST_ACTIVE),
	    KGE_OK);
	/* The test clock: 2026-06-15, noon, so no test crosses midnight. */
	f->today = ymd(2026, 6, 15);
	f->d.test_clock = true;
	f->d.clock_offset = date_to_time(f->today) + 43200 - time(NULL);
	assert_int_equal(daemon_today(&f->d), f->today);

	product_add(f, "ZHKH8", PRICE);
	product_add(f, "OTHER", 100000);
	edition_add(f, "ZHKH8", "PROF", false, KG_ON_EXPIRY_FALLBACK,
	    KG_BASIS_CREATION);
	edition_add(f, "ZHKH8", "CORP", true, KG_ON_EXPIRY_FALLBACK,
	    KG_BASIS_CREATION);
	edition_add(f, "ZHKH8", "BASIC", false, KG_ON_EXPIRY_DEMO,
	    KG_BASIS_CREATION);
	edition_add(f, "ZHKH8", "CASH", false, KG_ON_EXPIRY_FALLBACK,
	    KG_BASIS_ACTIVATION);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	renew_limits_free();
	f->d.store->ops->close(f->d.store);
	signer_close(f->d.signer);
	trustset_clear(&f->d.trust);
	keypair_free(f->kp);
	(void)tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* The renewed key in a reply verifies and says what the store says. */
static void
reply_key_check(struct fixture *f, const struct handler_reply *out,
    uint64_t serial, uint32_t revision, kg_date support_expiry)
{
	struct kg_license	lic;

	assert_non_null(out->verdict.key);
	assert_int_equal(license_key_parse(out->verdict.key,
	    strlen(out->verdict.key), &f->d.trust, &lic), KGE_OK);
	assert_int_equal(lic.serial, serial);
	assert_int_equal(lic.revision, revision);
	assert_int_equal(lic.support_expiry, support_expiry);
}

/* (a) 20 days after expiry: grace, from the old expiry, 25% = 1998.00. */
static void
test_grace(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 out;
	struct store_license	 sl;
	struct store_act	 act;
	struct store_audit	 last;
	struct key		 k;
	kg_date			 old = ymd(2026, 5, 26);	/* today - 20 days */

	assert_int_equal(date_days_between(old, f->today), 20);
	key_make(f, "ZHKH8", "PROF", "Acme", old, false, &k);
	act_add(f, "A-2026/001", "ZHKH8", 12, "", "");
	activate(f, "127.0.0.1", k.text, "A-2026/001", &out);
	assert_null(out.error);
	assert_string_equal(out.verdict.reason, "ok");
	assert_string_equal(out.verdict.verdict, "");
	assert_non_null(out.verdict.renewal);
	assert_string_equal(out.verdict.renewal->kind, "grace");
	assert_int_equal(out.verdict.renewal->price, 199800);
	assert_int_equal(out.verdict.renewal->new_expiry, ymd(2027, 5, 26));
	assert_int_equal(out.verdict.renewal->months, 12);
	assert_string_equal(out.verdict.renewal->act, "A-2026/001");
	assert_int_equal(out.verdict.support_expiry, ymd(2027, 5, 26));
	assert_int_equal(out.verdict.license_expiry, 0);
	assert_int_equal(out.verdict.days_left,
	    date_days_between(f->today, ymd(2027, 5, 26)));
	assert_string_equal(out.verdict.regno, "ZHKH8-000001");
	assert_string_equal(out.verdict.state, "active");
	assert_int_equal(out.verdict.retry_after, 0);
	reply_key_check(f, &out, k.sl.lic.serial, 2, ymd(2027, 5, 26));

	license_load(f, k.sl.lic.serial, &sl);
	assert_int_equal(sl.lic.support_expiry, ymd(2027, 5, 26));
	assert_int_equal(sl.lic.license_expiry, KG_DATE_NONE);
	assert_int_equal(sl.lic.revision, 2);
	assert_in_range(sl.activated_at, daemon_now(&f->d) - 2, daemon_now(&f->d));
	assert_int_equal(f->d.store->ops->act_get(f->d.store, "A-2026/001", &act),
	    STORE_OK);
	assert_int_equal(act.state, STORE_ACT_REDEEMED);
	assert_int_equal(act.serial, k.sl.lic.serial);
	assert_int_equal(act.old_expiry, old);
	assert_int_equal(act.new_expiry, ymd(2027, 5, 26));
	assert_int_equal(act.kind, KG_RENEWAL_GRACE);
	assert_int_equal(act.price, 199800);
	assert_true(act.redeemed_at > 0);

	audit_tail(f, &last);
	assert_string_equal(last.action, "act.redeem");
	assert_string_equal(last.object, "A-2026/001");
	assert_string_equal(last.actor, "tcp 127.0.0.1 serial=1");
	assert_string_equal(last.detail,
	    "serial 1 ZHKH8-000001: 2026-05-26 -> 2027-05-26, grace, 1998.00");
	handler_reply_clear(&out);
	key_free(&k);
}

/*
 * (b) 2 months after expiry: standard, from today, 45% = 3596.00; and (d)
 * a release published while support had lapsed is eligible afterwards.
 */
static void
test_standard_and_lapsed_release(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 out;
	struct key		 k;
	kg_date			 old = ymd(2026, 4, 15);

	release_add(f, "ZHKH8", "1.0", ymd(2026, 3, 1));
	release_add(f, "ZHKH8", "2.0", ymd(2026, 5, 1));	/* while lapsed */
	key_make(f, "ZHKH8", "PROF", "Acme", old, false, &k);
	act_add(f, "A2", "ZHKH8", 12, "", "");
	activate(f, "127.0.0.1", k.text, "A2", &out);
	assert_string_equal(reason_of(&out), "ok");
	assert_string_equal(out.verdict.renewal->kind, "standard");
	assert_int_equal(out.verdict.renewal->price, 359600);
	assert_int_equal(out.verdict.renewal->new_expiry, ymd(2027, 6, 15));
	assert_int_equal(out.verdict.support_expiry, ymd(2027, 6, 15));
	assert_string_equal(out.verdict.eligible, "2.0");
	assert_string_equal(out.verdict.latest, "2.0");
	reply_key_check(f, &out, k.sl.lic.serial, 2, ymd(2027, 6, 15));
	handler_reply_clear(&out);
	key_free(&k);
}

/* (c) before expiry: early, from the old expiry, at the grace price. */
static void
test_early(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 out;
	struct key		 k;

	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 7, 31), false, &k);
	act_add(f, "A3", "ZHKH8", 12, "PROF", "Acme");
	activate(f, "127.0.0.1", k.text, "A3", &out);
	assert_string_equal(reason_of(&out), "ok");
	assert_string_equal(out.verdict.renewal->kind, "early");
	assert_int_equal(out.verdict.renewal->price, 199800);
	assert_int_equal(out.verdict.renewal->new_expiry, ymd(2027, 7, 31));
	handler_reply_clear(&out);
	key_free(&k);
}

/* R10: the same key again gets the identical reply and no second extension. */
static void
test_repeat_and_used(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 first, again, old_key, other;
	struct store_license	 sl;
	struct key		 k, k2;
	size_t			 naudit;
	int			 i;

	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 5, 26), false, &k);
	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 5, 26), false, &k2);
	act_add(f, "A4", "ZHKH8", 12, "", "");
	activate(f, "127.0.0.1", k.text, "A4", &first);
	assert_string_equal(reason_of(&first), "ok");
	naudit = audit_tail(f, NULL);

	/* The renewed key presents the act again. */
	activate(f, "127.0.0.1", first.verdict.key, "A4", &again);
	assert_string_equal(reason_of(&again), "ok");
	assert_string_equal(again.verdict.key, first.verdict.key);
	assert_string_equal(again.verdict.renewal->kind, "grace");
	assert_int_equal(again.verdict.renewal->price, 199800);
	assert_int_equal(again.verdict.renewal->new_expiry, ymd(2027, 5, 26));
	assert_int_equal(again.verdict.renewal->months, 12);
	assert_string_equal(again.verdict.renewal->act, "A4");
	assert_int_equal(again.verdict.support_expiry, ymd(2027, 5, 26));
	assert_int_equal(again.verdict.days_left, first.verdict.days_left);

	/* So does the old copy of the key (revision 1): same answer. */
	activate(f, "127.0.0.1", k.text, "A4", &old_key);
	assert_string_equal(reason_of(&old_key), "ok");
	assert_string_equal(old_key.verdict.key, first.verdict.key);
	assert_int_equal(old_key.verdict.renewal->new_expiry, ymd(2027, 5, 26));

	license_load(f, k.sl.lic.serial, &sl);
	assert_int_equal(sl.lic.revision, 2);
	assert_int_equal(sl.lic.support_expiry, ymd(2027, 5, 26));
	assert_int_equal(audit_tail(f, NULL), naudit);

	/* Another key: act_used, as often as it likes (not charged). */
	for (i = 0; i < 8; i++) {
		activate(f, "127.0.0.1", k2.text, "A4", &other);
		assert_string_equal(reason_of(&other), "act_used");
		assert_null(other.verdict.renewal);
		assert_string_equal(other.verdict.key, "");
		assert_int_equal(other.verdict.support_expiry, ymd(2026, 5, 26));
		assert_string_equal(other.verdict.regno, "ZHKH8-000002");
		handler_reply_clear(&other);
	}
	license_load(f, k2.sl.lic.serial, &sl);
	assert_int_equal(sl.lic.revision, 1);
	assert_int_equal(audit_tail(f, NULL), naudit);
	handler_reply_clear(&first);
	handler_reply_clear(&again);
	handler_reply_clear(&old_key);
	key_free(&k);
	key_free(&k2);
}

/* Unknown, void, wrong-product, wrong-edition, wrong-licensee: own reasons. */
static void
test_act_refusals(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 out;
	struct store_audit	 a = audit_admin("act.void", "V1");
	struct store_license	 sl;
	struct key		 k;
	static const struct {
		const char	*act;
		const char	*reason;
		const char	*host;
	} cases[] = {
		{ "NOPE-1", "act_unknown", "10.0.0.1" },
		{ "V1", "act_void", "10.0.0.2" },
		{ "WP1", "act_wrong_product", "10.0.0.3" },
		{ "WE1", "act_wrong_edition", "10.0.0.4" },
		{ "WL1", "act_wrong_licensee", "10.0.0.5" },
	};
	size_t			 i, naudit;

	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 5, 26), false, &k);
	act_add(f, "V1", "ZHKH8", 12, "", "");
	assert_int_equal(f->d.store->ops->act_void(f->d.store, "V1", &a), STORE_OK);
	act_add(f, "WP1", "OTHER", 12, "", "");
	act_add(f, "WE1", "ZHKH8", 12, "CORP", "");
	act_add(f, "WL1", "ZHKH8", 12, "PROF", "Someone Else");
	naudit = audit_tail(f, NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		activate(f, cases[i].host, k.text, cases[i].act, &out);
		assert_null(out.error);
		assert_string_equal(out.verdict.reason, cases[i].reason);
		assert_null(out.verdict.renewal);
		assert_string_equal(out.verdict.state, "active");
		assert_int_equal(out.verdict.support_expiry, ymd(2026, 5, 26));
		handler_reply_clear(&out);
	}
	license_load(f, k.sl.lic.serial, &sl);
	assert_int_equal(sl.lic.revision, 1);
	assert_int_equal(audit_tail(f, NULL), naudit);

	/* Malformed act numbers are a bad request, before anything else. */
	activate(f, "10.0.0.6", k.text, "", &out);
	assert_string_equal(out.error, "bad_request");
	handler_reply_clear(&out);
	activate(f, "10.0.0.6", k.text, "A B", &out);
	assert_string_equal(out.error, "bad_request");
	handler_reply_clear(&out);
	activate(f, "10.0.0.6", k.text, "123456789012345678901234567890123", &out);
	assert_string_equal(out.error, "bad_request");
	handler_reply_clear(&out);
	key_free(&k);
}

/* R11: subscription required: none, expired, valid today. */
static void
test_subscription(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 out;
	struct store_audit	 a = audit_admin("subscription.set", "Corp Ltd");
	struct key		 k;
	int			 i;

	key_make(f, "ZHKH8", "CORP", "Corp Ltd", ymd(2026, 5, 26), false, &k);
	act_add(f, "S1", "ZHKH8", 12, "", "");
	/* Refusals for a missing subscription are not charged: 7 in a row. */
	for (i = 0; i < 7; i++) {
		activate(f, "127.0.0.1", k.text, "S1", &out);
		assert_string_equal(reason_of(&out), "subscription_required");
		handler_reply_clear(&out);
	}
	assert_int_equal(f->d.store->ops->subscription_set(f->d.store, "Corp Ltd",
	    ymd(2026, 6, 14), &a), STORE_OK);
	activate(f, "127.0.0.1", k.text, "S1", &out);
	assert_string_equal(reason_of(&out), "subscription_required");
	handler_reply_clear(&out);
	assert_int_equal(f->d.store->ops->subscription_set(f->d.store, "Corp Ltd",
	    f->today, &a), STORE_OK);
	activate(f, "127.0.0.1", k.text, "S1", &out);
	assert_string_equal(reason_of(&out), "ok");
	assert_string_equal(out.verdict.renewal->kind, "grace");
	assert_int_equal(out.verdict.renewal->new_expiry, ymd(2027, 5, 26));
	handler_reply_clear(&out);
	key_free(&k);
}

/* R12 and R13: revoked, suspended and trial keys are refused. */
static void
test_revoked_suspended_trial(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 out;
	struct store_license	 sl;
	struct store_audit	 a = audit_admin("key.revoke", "ZHKH8-000001");
	struct store_act	 act;
	struct key		 k, k2, t;

	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 5, 26), false, &k);
	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 5, 26), false, &k2);
	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 7, 1), true, &t);
	act_add(f, "R1", "ZHKH8", 12, "", "");

	sl = k.sl;
	sl.status = KG_STATUS_REVOKED;
	snprintf(sl.status_reason, sizeof(sl.status_reason), "refund");
	assert_int_equal(f->d.store->ops->license_update(f->d.store, &sl, 1, &a),
	    STORE_OK);
	activate(f, "127.0.0.1", k.text, "R1", &out);
	assert_string_equal(reason_of(&out), "revoked");
	assert_string_equal(out.verdict.state, "revoked");
	assert_string_equal(out.verdict.detail, "refund");
	assert_null(out.verdict.renewal);
	handler_reply_clear(&out);

	sl = k2.sl;
	sl.status = KG_STATUS_SUSPENDED;
	snprintf(sl.status_reason, sizeof(sl.status_reason), "fraud check");
	assert_int_equal(f->d.store->ops->license_update(f->d.store, &sl, 1, &a),
	    STORE_OK);
	activate(f, "127.0.0.1", k2.text, "R1", &out);
	assert_string_equal(reason_of(&out), "suspended");
	handler_reply_clear(&out);

	activate(f, "127.0.0.1", t.text, "R1", &out);
	assert_string_equal(reason_of(&out), "trial_not_renewable");
	handler_reply_clear(&out);

	/* Nothing changed: the key is not extended, the act is still open. */
	license_load(f, k.sl.lic.serial, &sl);
	assert_int_equal(sl.lic.support_expiry, ymd(2026, 5, 26));
	assert_int_equal(f->d.store->ops->act_get(f->d.store, "R1", &act),
	    STORE_OK);
	assert_int_equal(act.state, STORE_ACT_OPEN);
	key_free(&k);
	key_free(&k2);
	key_free(&t);
}

/* A key that does not verify, or verifies but is not stored: bad_key. */
static void
test_bad_key(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 out;
	struct key		 k;
	struct kg_license	 lic;
	char			*text = NULL;

	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 5, 26), false, &k);
	act_add(f, "B1", "ZHKH8", 12, "", "");
	activate(f, "127.0.0.1", "KG1.AAAA.BBBB", "B1", &out);
	assert_null(out.error);
	assert_string_equal(out.verdict.reason, "bad_key");
	assert_string_equal(out.verdict.key, "");
	assert_null(out.verdict.renewal);
	handler_reply_clear(&out);

	/* Signed by the right key but with a serial the store never issued. */
	lic = k.sl.lic;
	lic.serial = 999;
	assert_int_equal(license_key_new(&lic, f->kp, &text), KGE_OK);
	activate(f, "127.0.0.1", text, "B1", &out);
	assert_string_equal(reason_of(&out), "bad_key");
	handler_reply_clear(&out);
	free(text);
	key_free(&k);
}

/* R6: an on-expiry demo edition's license expiry moves with support. */
static void
test_demo_edition_license_expiry(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 out;
	struct store_license	 sl;
	struct key		 k;

	key_make(f, "ZHKH8", "BASIC", "Acme", ymd(2026, 5, 26), false, &k);
	act_add(f, "D1", "ZHKH8", 12, "BASIC", "");
	activate(f, "127.0.0.1", k.text, "D1", &out);
	assert_string_equal(reason_of(&out), "ok");
	assert_int_equal(out.verdict.license_expiry, ymd(2027, 5, 26));
	license_load(f, k.sl.lic.serial, &sl);
	assert_int_equal(sl.lic.license_expiry, ymd(2027, 5, 26));
	handler_reply_clear(&out);
	key_free(&k);
}

/* Support never fixed (activation basis, never checked): from today, early. */
static void
test_unfixed_expiry(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 out;
	struct key		 k;
	struct store_audit	 last;

	key_make(f, "ZHKH8", "CASH", "Shop", KG_DATE_NONE, false, &k);
	act_add(f, "C1", "ZHKH8", 3, "", "");
	activate(f, "127.0.0.1", k.text, "C1", &out);
	assert_string_equal(reason_of(&out), "ok");
	assert_string_equal(out.verdict.renewal->kind, "early");
	assert_int_equal(out.verdict.renewal->new_expiry, ymd(2026, 9, 15));
	assert_int_equal(out.verdict.renewal->months, 3);
	audit_tail(f, &last);
	assert_string_equal(last.detail,
	    "serial 1 ZHKH8-000001: none -> 2026-09-15, early, 1998.00");
	handler_reply_clear(&out);
	key_free(&k);
}

/*
 * R16: 5 guesses a minute per address and per key; a locked-out caller
 * gets rate_limited and the wait; other addresses with other keys go on.
 */
static void
test_rate_limit(void **state)
{
	struct fixture		*f = *state;
	struct handler_reply	 out;
	struct key		 k1, k2, k3;
	char			 act[32], host[64];
	int			 i;

	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 5, 26), false, &k1);
	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 5, 26), false, &k2);
	key_make(f, "ZHKH8", "PROF", "Acme", ymd(2026, 5, 26), false, &k3);
	act_add(f, "GOOD-1", "ZHKH8", 12, "", "");
	act_add(f, "GOOD-2", "ZHKH8", 12, "", "");

	for (i = 0; i < 5; i++) {
		snprintf(act, sizeof(act), "GUESS-%d", i);
		activate(f, "192.0.2.10", k1.text, act, &out);
		assert_string_equal(reason_of(&out), "act_unknown");
		handler_reply_clear(&out);
	}
	/* The 6th guess, and even a right act, are answered rate_limited. */
	activate(f, "192.0.2.10", k1.text, "GUESS-5", &out);
	assert_string_equal(reason_of(&out), "rate_limited");
	assert_in_range(out.verdict.retry_after, 11, 12);
	handler_reply_clear(&out);
	activate(f, "192.0.2.10", k1.text, "GOOD-1", &out);
	assert_string_equal(reason_of(&out), "rate_limited");
	handler_reply_clear(&out);

	/* Per address: another key from the same address is locked out too. */
	activate(f, "192.0.2.10", k2.text, "GOOD-1", &out);
	assert_string_equal(reason_of(&out), "rate_limited");
	handler_reply_clear(&out);
	/* Per key: the same key from another address is locked out too. */
	activate(f, "192.0.2.11", k1.text, "GOOD-1", &out);
	assert_string_equal(reason_of(&out), "rate_limited");
	handler_reply_clear(&out);
	/* Another key from another address succeeds meanwhile. */
	activate(f, "192.0.2.12", k2.text, "GOOD-1", &out);
	assert_string_equal(reason_of(&out), "ok");
	handler_reply_clear(&out);

	/* 12 seconds later the first key may try once more (and succeeds). */
	f->d.clock_offset += 13;
	activate(f, "192.0.2.10", k1.text, "GOOD-2", &out);
	assert_string_equal(reason_of(&out), "ok");
	handler_reply_clear(&out);

	/* IPv6 clients are counted by their /64. */
	for (i = 0; i < 5; i++) {
		snprintf(act, sizeof(act), "GUESS6-%d", i);
		snprintf(host, sizeof(host), "2001:db8:1:2::%d", i + 1);
		activate(f, host, k3.text, act, &out);
		assert_string_equal(reason_of(&out), "act_unknown");
		handler_reply_clear(&out);
	}
	activate(f, "2001:db8:1:2:ffff::9", k2.text, "GUESS6-x", &out);
	assert_string_equal(reason_of(&out), "rate_limited");
	handler_reply_clear(&out);
	activate(f, "2001:db8:1:3::1", k2.text, "GUESS6-y", &out);
	assert_string_equal(reason_of(&out), "act_unknown");
	handler_reply_clear(&out);
	key_free(&k1);
	key_free(&k2);
	key_free(&k3);
}

/* renew_decide on constructed records, without a store. */
static void
test_decide_records(void **state)
{
	struct renew_ctx	 c;
	struct store_act	 act, next_act;
	struct store_license	 cur, next;
	struct store_audit	 audit;
	struct kg_edition_policy p;

	(void)state;
	policy_defaults(&p);
	memset(&c, 0, sizeof(c));
	c.policy = &p;
	c.price = PRICE;
	c.today = ymd(2026, 6, 15);
	c.now = date_to_time(c.today) + 3600;
	c.peer = "198.51.100.7";

	memset(&cur, 0, sizeof(cur));
	cur.lic.serial = 42;
	snprintf(cur.lic.product, sizeof(cur.lic.product), "ZHKH8");
	snprintf(cur.lic.edition, sizeof(cur.lic.edition), "PROF");
	snprintf(cur.lic.regno, sizeof(cur.lic.regno), "ZHKH8-000042");
	snprintf(cur.lic.licensee, sizeof(cur.lic.licensee), "Acme");
	cur.lic.support_expiry = ymd(2026, 5, 26);
	cur.lic.revision = 3;
	cur.activated_at = 1700000000;
	memset(&act, 0, sizeof(act));
	snprintf(act.number, sizeof(act.number), "X1");
	snprintf(act.product, sizeof(act.product), "ZHKH8");
	act.months = 12;

	/* Redeemed by this license: a repeat; by another: act_used. */
	act.state = STORE_ACT_REDEEMED;
	act.serial = 42;
	next = cur;
	next_act = act;
	memset(&audit, 0, sizeof(audit));
	assert_int_equal(renew_decide(&c, &act, &cur, &next, &next_act, &audit),
	    KG_REASON_ACT_USED);
	assert_true(c.repeat);
	act.serial = 41;
	assert_int_equal(renew_decide(&c, &act, &cur, &next, &next_act, &audit),
	    KG_REASON_ACT_USED);
	assert_false(c.repeat);
	assert_string_equal(audit.action, "");

	/* Open: renewed; the records and audit say so. */
	act.state = STORE_ACT_OPEN;
	act.serial = 0;
	assert_int_equal(renew_decide(&c, &act, &cur, &next, &next_act, &audit),
	    KG_REASON_OK);
	assert_false(c.repeat);
	assert_int_equal(next.lic.support_expiry, ymd(2027, 5, 26));
	assert_int_equal(next.lic.revision, 4);
	assert_int_equal(next.activated_at, 1700000000);
	assert_int_equal(next.updated_at, c.now);
	assert_int_equal(next_act.state, STORE_ACT_REDEEMED);
	assert_int_equal(next_act.serial, 42);
	assert_int_equal(next_act.redeemed_at, c.now);
	assert_int_equal(next_act.old_expiry, ymd(2026, 5, 26));
	assert_int_equal(next_act.kind, KG_RENEWAL_GRACE);
	assert_int_equal(next_act.price, 199800);
	assert_int_equal(c.months, 12);
	assert_int_equal(c.old_expiry, ymd(2026, 5, 26));
	assert_int_equal(c.quote.new_expiry, ymd(2027, 5, 26));
	assert_int_equal(c.next.lic.revision, 4);
	assert_string_equal(audit.actor, "tcp 198.51.100.7 serial=42");
	assert_string_equal(audit.detail,
	    "serial 42 ZHKH8-000042: 2026-05-26 -> 2027-05-26, grace, 1998.00");

	/* The edition's policy decides the percentages. */
	p.grace_percent = 10;
	assert_int_equal(renew_decide(&c, &act, &cur, &next, &next_act, &audit),
	    KG_REASON_OK);
	assert_int_equal(next_act.price, 79900);
	/* Without a grace window 20 days late is a standard renewal. */
	p.grace_months = 0;
	assert_int_equal(renew_decide(&c, &act, &cur, &next, &next_act, &audit),
	    KG_REASON_OK);
	assert_int_equal(next_act.kind, KG_RENEWAL_STANDARD);
	assert_int_equal(next.lic.support_expiry, ymd(2027, 6, 15));
	assert_int_equal(next_act.price, 359600);

	/* An act of zero months cannot be applied. */
	act.months = 0;
	assert_int_equal(renew_decide(&c, &act, &cur, &next, &next_act, &audit),
	    KG_REASON_INTERNAL);
	assert_false(c.repeat);
}

static void
test_act_number_syntax(void **state)
{
	(void)state;
	assert_true(renew_act_number_valid("A"));
	assert_true(renew_act_number_valid("AKT-2026/00017.b_1"));
	assert_true(renew_act_number_valid("12345678901234567890123456789012"));
	assert_false(renew_act_number_valid("123456789012345678901234567890123"));
	assert_false(renew_act_number_valid(""));
	assert_false(renew_act_number_valid(NULL));
	assert_false(renew_act_number_valid("A B"));
	assert_false(renew_act_number_valid("A\nB"));
	assert_false(renew_act_number_valid("Akt\xc3\xa9"));
	assert_false(renew_act_number_valid("a:b"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_standard_and_lapsed_release,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_early, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeat_and_used, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_act_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscription, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_suspended_trial, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_demo_edition_license_expiry,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unfixed_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
		cmocka_unit_test(test_decide_records),
		cmocka_unit_test(test_act_number_syntax),
	};

	if (sodium_init() < 0)
		return 1;
	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
