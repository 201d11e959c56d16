/*
 * libkeygate without a server: every argument error of the public API,
 * kg_strerror for every code, the state file (format, mode, atomic
 * replacement, merge, corruption), the re-verification of a cached verdict
 * (a reply signed by an untrusted key, or whose nonce or request hash does
 * not match the cached request, is never used) and the offline rule as a
 * table. Signed fixtures come from fixed Ed25519 seeds, so every byte is
 * the same on every run. The calls against the real daemon are in
 * tests/integration/test_lib.sh.
 */
#include <sys/stat.h>

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

#include "keygate.pb-c.h"

#include "client_int.h"
#include "keys.h"
#include "kgerr.h"
#include "license.h"

#define NOW_DAY		"2026-06-01"

static const uint8_t seed_vendor[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t seed_other[32] = { 99, 98, 97 };

/* A vendor key, its KGP1 line, one license key of serial 77 and a temp dir. */
struct fixture {
	struct kg_keypair	*vendor, *other;
	char			 pub[KG_PUBKEY_TEXT_MAX];
	char			*key;
	char			 dir[64];
	char			 path[128];
	int64_t			 now;
};

static int
setup(void **state)
{
	struct fixture		*f = calloc(1, sizeof(*f));
	struct kg_license	 lic;

	assert_non_null(f);
	assert_int_equal(sodium_init() >= 0, 1);
	f->vendor = keypair_from_seed_new(seed_vendor);
	f->other = keypair_from_seed_new(seed_other);
	assert_non_null(f->vendor);
	assert_non_null(f->other);
	pubkey_format(f->vendor->pk, f->pub);
	memset(&lic, 0, sizeof(lic));
	lic.serial = 77;
	strcpy(lic.product, "DEMO");
	strcpy(lic.edition, "STD");
	strcpy(lic.regno, "DEMO-000077");
	strcpy(lic.licensee, "Test Co");
	assert_int_equal(date_parse("2026-01-10", &lic.created), 0);
	assert_int_equal(date_parse("2026-07-10", &lic.support_expiry), 0);
	lic.revision = 1;
	memcpy(lic.key_id, f->vendor->id, KG_KEY_ID_LEN);
	assert_int_equal(license_key_new(&lic, f->vendor, &f->key), KGE_OK);
	strcpy(f->dir, "/tmp/kg-libtest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/state", f->dir);
	f->now = (int64_t)time(NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[128];

	keypair_free(f->vendor);
	keypair_free(f->other);
	free(f->key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- fixtures: a cached request and its signed reply ----------------------- */

struct pair_spec {
	const char	*product;
	const char	*installed;
	const char	*target;
	const char	*verdict, *reason, *eligible, *latest;
	const char	*support_expiry, *license_expiry;
	int64_t		 server_time;
	bool		 untrusted;	/* sign with the other key */
	bool		 wrong_nonce;	/* reply carries another nonce */
	bool		 wrong_hash;	/* reply carries another request hash */
	bool		 error;		/* an Error reply instead of a Verdict */
};

static uint32_t
day_of(const char *s)
{
	kg_date	d;

	if (s == NULL)
		return 0;
	assert_int_equal(date_parse(s, &d), 0);
	return (uint32_t)d;
}

/* Request and Reply bytes (malloc'd) for spec, nonce fixed from server_time. */
static void
pair_make(const struct fixture *f, const struct pair_spec *sp, uint8_t **req,
    size_t *req_len, uint8_t **rep, size_t *rep_len)
{
	Keygate__Request	 rq = KEYGATE__REQUEST__INIT;
	Keygate__CheckRequest	 chk = KEYGATE__CHECK_REQUEST__INIT;
	Keygate__ReplyBody	 body = KEYGATE__REPLY_BODY__INIT;
	Keygate__Verdict	 v = KEYGATE__VERDICT__INIT;
	Keygate__Error		 e = KEYGATE__ERROR__INIT;
	Keygate__Reply		 reply = KEYGATE__REPLY__INIT;
	const struct kg_keypair	*kp = sp->untrusted ? f->other : f->vendor;
	uint8_t			 nonce[32], hash[KG_HASH_LEN], sig[KG_SIG_LEN];
	uint8_t			*bodybuf;
	size_t			 blen;

	memset(nonce, 0x5a, sizeof(nonce));
	memcpy(nonce, &sp->server_time, sizeof(sp->server_time));
	rq.protocol = KG_PROTOCOL_VERSION;
	rq.nonce.data = nonce;
	rq.nonce.len = sizeof(nonce);
	rq.body_case = KEYGATE__REQUEST__BODY_CHECK;
	rq.check = &chk;
	chk.key = f->key;
	chk.product = (char *)(sp->product ? sp->product : "DEMO");
	chk.version = (char *)sp->installed;
	if (sp->target != NULL)
		chk.target = (char *)sp->target;
	*req_len = keygate__request__get_packed_size(&rq);
	assert_non_null(*req = malloc(*req_len));
	keygate__request__pack(&rq, *req);
	crypto_generichash(hash, sizeof(hash), *req, *req_len, NULL, 0);

	if (sp->wrong_nonce)
		nonce[0] ^= 1;
	if (sp->wrong_hash)
		hash[0] ^= 1;
	body.protocol = KG_PROTOCOL_VERSION;
	body.nonce.data = nonce;
	body.nonce.len = sizeof(nonce);
	body.request_hash.data = hash;
	body.request_hash.len = sizeof(hash);
	body.server_time = sp->server_time;
	if (sp->error) {
		body.result_case = KEYGATE__REPLY_BODY__RESULT_ERROR;
		body.error = &e;
		e.reason = "internal";
	} else {
		body.result_case = KEYGATE__REPLY_BODY__RESULT_VERDICT;
		body.verdict = &v;
		v.verdict = (char *)sp->verdict;
		v.reason = (char *)sp->reason;
		v.eligible = (char *)(sp->eligible ? sp->eligible : "");
		v.latest = (char *)(sp->latest ? sp->latest : "");
		v.support_expiry = day_of(sp->support_expiry);
		v.license_expiry = day_of(sp->license_expiry);
		v.regno = "DEMO-000077";
		v.product = "DEMO";
		v.state = "active";
	}
	blen = keygate__reply_body__get_packed_size(&body);
	assert_non_null(bodybuf = malloc(blen));
	keygate__reply_body__pack(&body, bodybuf);
	assert_int_equal(keys_sign(kp, KG_DOMAIN_REPLY, bodybuf, blen, sig), KGE_OK);
	reply.body.data = bodybuf;
	reply.body.len = blen;
	reply.signature.data = sig;
	reply.signature.len = sizeof(sig);
	reply.key_id.data = (uint8_t *)kp->id;
	reply.key_id.len = KG_KEY_ID_LEN;
	*rep_len = keygate__reply__get_packed_size(&reply);
	assert_non_null(*rep = malloc(*rep_len));
	keygate__reply__pack(&reply, *rep);
	free(bodybuf);
}

/* A client trusting the vendor key, with spec's pair remembered. */
static kg_client *
client_with(const struct fixture *f, const struct pair_spec *sp)
{
	kg_client	*c;
	uint8_t		*req, *rep;
	size_t		 req_len, rep_len;

	assert_int_equal(kg_client_new(&c), KG_OK);
	assert_int_equal(kg_client_trust_text(c, f->pub), KG_OK);
	assert_int_equal(kg_client_add_server(c, "127.0.0.1:1"), KG_OK);
	pair_make(f, sp, &req, &req_len, &rep, &rep_len);
	assert_int_equal(state_remember(c, req, req_len, rep, rep_len), KG_OK);
	kg_client_set_time_floor(c, sp->server_time);
	free(req);
	free(rep);
	return c;
}

/* ---- the public API's argument errors ------------------------------------- */

static void
test_strerror_every_code(void **state)
{
	const char	*seen[15];
	int		 code, i;

	(void)state;
	for (code = 0; code >= -14; code--) {
		seen[-code] = kg_strerror(code);
		assert_non_null(seen[-code]);
		assert_string_not_equal(seen[-code], "unknown error");
		for (i = 0; i < -code; i++)
			assert_string_not_equal(seen[i], seen[-code]);
	}
	assert_string_equal(kg_strerror(-15), "unknown error");
	assert_string_equal(kg_strerror(1), "unknown error");
	assert_string_equal(kg_strerror(KG_ERR_STATE), "the state file cannot "
	    "be read or written, or is not a keygate state file");
	assert_non_null(kg_library_version());
	assert_int_equal(KG_API_VERSION, 2);
}

static void
test_client_arguments(void **state)
{
	struct fixture	*f = *state;
	kg_client	*c;
	kg_result	*r = (kg_result *)1;
	static const char *const bad_servers[] = { "", ":", "host:", "host:0",
	    "host:65536", "host:-1", "host:12a", "[::1", "[::1]x", "[]:80",
	    "host:123456" };
	size_t		 i;

	assert_int_equal(kg_client_new(NULL), KG_ERR_INVAL);
	assert_int_equal(kg_client_new(&c), KG_OK);
	for (i = 0; i < sizeof(bad_servers) / sizeof(bad_servers[0]); i++)
		assert_int_equal(kg_client_add_server(c, bad_servers[i]), KG_ERR_INVAL);
	assert_int_equal(kg_client_add_server(NULL, "h:1"), KG_ERR_INVAL);
	assert_int_equal(kg_client_add_server(c, NULL), KG_ERR_INVAL);

	/* No server yet: a request is a usage error. */
	assert_int_equal(kg_check(c, f->key, "DEMO", "1.0", NULL, &r), KG_ERR_INVAL);
	assert_null(r);
	assert_int_equal(kg_client_add_server(c, "127.0.0.1:1"), KG_OK);
	assert_int_equal(kg_client_add_server(c, "[::1]:7447"), KG_OK);
	assert_int_equal(kg_client_add_server(c, "localhost"), KG_OK);
	/* No trusted key: nothing can be believed. */
	assert_int_equal(kg_check(c, f->key, "DEMO", "1.0", NULL, &r), KG_ERR_TRUST);
	assert_int_equal(kg_status(c, f->key, &r), KG_ERR_TRUST);
	assert_int_equal(kg_activate(c, f->key, "A-1", &r), KG_ERR_TRUST);

	assert_int_equal(kg_client_trust_text(c, NULL), KG_ERR_INVAL);
	assert_int_equal(kg_client_trust_text(c, ""), KG_ERR_TRUST);
	assert_int_equal(kg_client_trust_text(c, "# only a comment\n"), KG_ERR_TRUST);
	assert_int_equal(kg_client_trust_text(c, "KGP1.AAAA\n"), KG_ERR_TRUST);
	assert_int_equal(kg_client_trust_file(c, "/nonexistent/pub"), KG_ERR_TRUST);
	assert_int_equal(kg_client_trust_file(c, NULL), KG_ERR_INVAL);
	assert_int_equal(kg_client_trust_text(c, f->pub), KG_OK);
	assert_int_equal(kg_client_trust_text(c, f->pub), KG_OK);	/* again: fine */

	assert_int_equal(kg_client_set_timeouts(c, 0, 1), KG_ERR_INVAL);
	assert_int_equal(kg_client_set_timeouts(c, 1, 0), KG_ERR_INVAL);
	assert_int_equal(kg_client_set_timeouts(c, 3600001, 1), KG_ERR_INVAL);
	assert_int_equal(kg_client_set_timeouts(NULL, 1, 1), KG_ERR_INVAL);
	assert_int_equal(kg_client_set_timeouts(c, 1, 3600000), KG_OK);
	assert_int_equal(kg_client_set_deadline(c, -1), KG_ERR_INVAL);
	assert_int_equal(kg_client_set_deadline(c, 3600001), KG_ERR_INVAL);
	assert_int_equal(kg_client_set_deadline(NULL, 1), KG_ERR_INVAL);
	assert_int_equal(kg_client_set_deadline(c, 0), KG_OK);
	assert_int_equal(kg_client_set_deadline(c, 500), KG_OK);
	assert_int_equal(kg_client_set_rollback_tolerance(c, -1), KG_ERR_INVAL);
	assert_int_equal(kg_client_set_rollback_tolerance(c, 366 * 86400 + 1),
	    KG_ERR_INVAL);
	assert_int_equal(kg_client_set_rollback_tolerance(NULL, 1), KG_ERR_INVAL);
	assert_int_equal(kg_client_set_rollback_tolerance(c, 0), KG_OK);

	/* Bad request arguments never reach the network. */
	assert_int_equal(kg_check(c, f->key, "DEMO", "1.0", NULL, NULL), KG_ERR_INVAL);
	assert_int_equal(kg_check(NULL, f->key, "DEMO", "1.0", NULL, &r), KG_ERR_INVAL);
	assert_int_equal(kg_check(c, "", "DEMO", "1.0", NULL, &r), KG_ERR_INVAL);
	assert_int_equal(kg_check(c, " \n\t", "DEMO", "1.0", NULL, &r), KG_ERR_INVAL);
	assert_int_equal(kg_check(c, NULL, "DEMO", "1.0", NULL, &r), KG_ERR_INVAL);
	assert_int_equal(kg_check(c, f->key, "", "1.0", NULL, &r), KG_ERR_INVAL);
	assert_int_equal(kg_check(c, f->key, "DEMO", "1.x", NULL, &r), KG_ERR_INVAL);
	assert_int_equal(kg_check(c, f->key, "DEMO", "1.0", "01.2", &r), KG_ERR_INVAL);
	assert_int_equal(kg_check(c, f->key,
	    "A-PRODUCT-CODE-LONGER-THAN-32-BYTES", "1.0", NULL, &r), KG_ERR_INVAL);
	assert_int_equal(kg_status(c, NULL, &r), KG_ERR_INVAL);
	assert_int_equal(kg_status(c, f->key, NULL), KG_ERR_INVAL);
	assert_int_equal(kg_activate(c, f->key, "", &r), KG_ERR_INVAL);
	assert_int_equal(kg_activate(c, f->key, NULL, &r), KG_ERR_INVAL);
	assert_int_equal(kg_activate(c, f->key,
	    "AN-ACT-NUMBER-LONGER-THAN-32-BYTES", &r), KG_ERR_INVAL);
	assert_null(r);

	assert_int_equal(kg_client_set_state_file(c, ""), KG_ERR_INVAL);
	assert_int_equal(kg_client_set_state_file(NULL, f->path), KG_ERR_INVAL);
	assert_int_equal(kg_client_state_error(NULL), KG_ERR_INVAL);
	assert_int_equal(kg_client_state_error(c), KG_OK);
	assert_int_equal(kg_client_time_floor(NULL), 0);
	assert_int_equal(kg_client_rollback(NULL), 0);
	kg_client_set_time_floor(NULL, 5);
	kg_client_set_time_floor(c, 100);
	kg_client_set_time_floor(c, 50);		/* never lowered */
	assert_int_equal(kg_client_time_floor(c), 100);
	kg_client_disconnect(NULL);
	kg_client_disconnect(c);
	kg_client_free(c);
	kg_client_free(NULL);
}

static void
test_verify_offline_arguments(void **state)
{
	struct fixture	*f = *state;
	kg_result	*r = NULL;

	assert_int_equal(kg_verify_offline(f->key, f->pub, NULL), KG_ERR_INVAL);
	assert_int_equal(kg_verify_offline(f->key, NULL, &r), KG_ERR_INVAL);
	assert_int_equal(kg_verify_offline(NULL, f->pub, &r), KG_ERR_INVAL);
	assert_int_equal(kg_verify_offline(f->key, "not a key\n", &r), KG_ERR_TRUST);
	assert_null(r);
	assert_int_equal(kg_verify_offline(f->key, f->pub, &r), KG_OK);
	assert_int_equal(kg_result_valid(r), 1);
	assert_int_equal(kg_result_serial(r), 77);
	assert_string_equal(kg_result_regno(r), "DEMO-000077");
	assert_string_equal(kg_result_support_expiry(r), "2026-07-10");
	assert_null(kg_result_license_expiry(r));
	assert_int_equal(kg_result_offline(r), 0);
	assert_null(kg_result_server(r));
	kg_result_free(r);
}

static void
test_result_accessors_null(void **state)
{
	(void)state;
	assert_null(kg_result_verdict(NULL));
	assert_null(kg_result_reason(NULL));
	assert_null(kg_result_detail(NULL));
	assert_null(kg_result_eligible(NULL));
	assert_null(kg_result_latest(NULL));
	assert_null(kg_result_support_expiry(NULL));
	assert_null(kg_result_license_expiry(NULL));
	assert_int_equal(kg_result_days_left(NULL), 0);
	assert_int_equal(kg_result_has_quote(NULL), 0);
	assert_null(kg_result_quote_kind(NULL));
	assert_null(kg_result_quote_price(NULL));
	assert_int_equal(kg_result_quote_price_minor(NULL), 0);
	assert_null(kg_result_quote_new_expiry(NULL));
	assert_null(kg_result_key(NULL));
	assert_null(kg_result_regno(NULL));
	assert_null(kg_result_licensee(NULL));
	assert_null(kg_result_product(NULL));
	assert_null(kg_result_edition(NULL));
	assert_null(kg_result_state(NULL));
	assert_int_equal(kg_result_has_renewal(NULL), 0);
	assert_null(kg_result_renewal_kind(NULL));
	assert_null(kg_result_renewal_price(NULL));
	assert_int_equal(kg_result_renewal_price_minor(NULL), 0);
	assert_null(kg_result_renewal_new_expiry(NULL));
	assert_int_equal(kg_result_renewal_months(NULL), 0);
	assert_null(kg_result_renewal_act(NULL));
	assert_int_equal(kg_result_retry_after(NULL), 0);
	assert_int_equal(kg_result_server_time(NULL), 0);
	assert_int_equal(kg_result_test_clock(NULL), 0);
	assert_null(kg_result_error_reason(NULL));
	assert_null(kg_result_server(NULL));
	assert_int_equal(kg_result_offline(NULL), 0);
	assert_int_equal(kg_result_age(NULL), 0);
	assert_int_equal(kg_result_rollback(NULL), 0);
	assert_int_equal(kg_result_valid(NULL), 0);
	assert_null(kg_result_created(NULL));
	assert_int_equal(kg_result_serial(NULL), 0);
	assert_int_equal(kg_result_revision(NULL), 0);
	assert_int_equal(kg_result_trial(NULL), 0);
	assert_int_equal(kg_result_support_months(NULL), 0);
	kg_result_free(NULL);
}

/* ---- the state file ---------------------------------------------------------- */

static const struct pair_spec spec_update = {
	.installed = "1.0", .verdict = "update", .reason = "ok",
	.eligible = "1.1", .latest = "1.2", .support_expiry = "2026-07-10",
};

/* Write text to f->path. */
static void
path_write(const struct fixture *f, const char *text)
{
	FILE	*fp = fopen(f->path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void
test_state_roundtrip(void **state)
{
	struct fixture		*f = *state;
	struct pair_spec	 sp = spec_update;
	struct stat		 sb;
	kg_client		*c, *c2;
	kg_result		*r = NULL;
	char			 line[64], buf[128];
	FILE			*fp;

	sp.server_time = f->now - 3600;
	c = client_with(f, &sp);
	unlink(f->path);
	assert_int_equal(kg_client_set_state_file(c, f->path), KG_OK);
	assert_int_equal(stat(f->path, &sb), -1);	/* created on first write */
	umask(022);
	assert_int_equal(state_save(c), KG_OK);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_non_null(fp = fopen(f->path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), fp));
	assert_string_equal(buf, "keygate-state 1\n");
	assert_non_null(fgets(buf, sizeof(buf), fp));
	snprintf(line, sizeof(line), "high-water %lld\n", (long long)sp.server_time);
	assert_string_equal(buf, line);
	fclose(fp);
	kg_client_free(c);

	/* A restarted client: the mark and the verdict come from the file. */
	assert_int_equal(kg_client_new(&c2), KG_OK);
	assert_int_equal(kg_client_trust_text(c2, f->pub), KG_OK);
	assert_int_equal(kg_client_set_state_file(c2, f->path), KG_OK);
	assert_int_equal(kg_client_time_floor(c2), sp.server_time);
	assert_int_equal(offline_answer(c2, f->key, "DEMO", "1.0", NULL, &r), KG_OK);
	assert_int_equal(kg_result_offline(r), 1);
	assert_string_equal(kg_result_verdict(r), "update");
	assert_string_equal(kg_result_eligible(r), "1.1");
	assert_int_equal(kg_result_server_time(r), sp.server_time);
	assert_true(kg_result_age(r) >= 3600 && kg_result_age(r) < 3600 + 60);
	assert_int_equal(kg_result_rollback(r), 0);
	assert_null(kg_result_server(r));
	kg_result_free(r);
	/* Another product of the same license: nothing cached. */
	assert_int_equal(offline_answer(c2, f->key, "OTHER", "1.0", NULL, &r),
	    KG_ERR_CONNECT);
	assert_null(r);
	kg_client_free(c2);
}

static void
test_state_bad_files(void **state)
{
	struct fixture	*f = *state;
	kg_client	*c;
	static const char *const bad[] = {
		"",
		"keygate-state 2\nhigh-water 1\n",
		"keygate-state 1\n",				/* no mark */
		"keygate-state 1\nhigh-water 1",		/* truncated */
		"keygate-state 1\nhigh-water -5\n",
		"keygate-state 1\nhigh-water 12x\n",
		"keygate-state 1\nhigh-water 1\nhigh-water 2\n",
		"keygate-state 1\nhigh-water 1\nverdict AAAA\n",
		"keygate-state 1\nhigh-water 1\nverdict AAAA BBBB\n",
		"keygate-state 1\nhigh-water 1\nverdict !!!! ????\n",
		"keygate-state 1\nhigh-water 1\nsomething else\n",
	};
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		path_write(f, bad[i]);
		assert_int_equal(kg_client_new(&c), KG_OK);
		kg_client_set_time_floor(c, 10);
		assert_int_equal(kg_client_set_state_file(c, f->path), KG_ERR_STATE);
		assert_int_equal(kg_client_time_floor(c), 10);
		kg_client_free(c);
	}
	/* A directory is not a state file. */
	assert_int_equal(kg_client_new(&c), KG_OK);
	assert_int_equal(kg_client_set_state_file(c, f->dir), KG_ERR_STATE);
	/* A file in a missing directory: loads empty, the write fails. */
	assert_int_equal(kg_client_set_state_file(c, "/nonexistent-dir/state"), KG_OK);
	assert_int_equal(state_save(c), KG_ERR_STATE);
	/* Detaching is fine. */
	assert_int_equal(kg_client_set_state_file(c, NULL), KG_OK);
	assert_int_equal(state_save(c), KG_OK);
	kg_client_free(c);
	unlink(f->path);
}

static void
test_state_merge_keeps_highest_mark(void **state)
{
	struct fixture		*f = *state;
	struct pair_spec	 sp = spec_update;
	kg_client		*a, *b;

	unlink(f->path);
	sp.server_time = f->now - 100;
	a = client_with(f, &sp);
	sp.server_time = f->now - 200;
	b = client_with(f, &sp);
	assert_int_equal(kg_client_set_state_file(a, f->path), KG_OK);
	assert_int_equal(kg_client_set_state_file(b, f->path), KG_OK);
	assert_int_equal(state_save(a), KG_OK);
	/* b saw an older time; writing after a must not lower the mark. */
	assert_int_equal(state_save(b), KG_OK);
	assert_int_equal(kg_client_time_floor(b), f->now - 100);
	kg_client_free(a);
	kg_client_free(b);
	assert_int_equal(kg_client_new(&a), KG_OK);
	assert_int_equal(kg_client_set_state_file(a, f->path), KG_OK);
	assert_int_equal(kg_client_time_floor(a), f->now - 100);
	kg_client_free(a);
	unlink(f->path);
}

static void
test_state_entries_bounded(void **state)
{
	struct fixture		*f = *state;
	struct client_state	 st;
	kg_client		*c;
	uint8_t			*req, *rep;
	size_t			 req_len, rep_len, i;
	struct pair_spec	 sp = spec_update;
	char			 product[8];

	/* 33 products of one license: the oldest verdict goes. */
	assert_int_equal(kg_client_new(&c), KG_OK);
	for (i = 0; i < STATE_ENTRIES_MAX + 1; i++) {
		snprintf(product, sizeof(product), "P%zu", i);
		sp.product = product;
		sp.server_time = f->now - 1000 + (int64_t)i;
		pair_make(f, &sp, &req, &req_len, &rep, &rep_len);
		assert_int_equal(state_remember(c, req, req_len, rep, rep_len), KG_OK);
		free(req);
		free(rep);
	}
	assert_int_equal(c->state.n, STATE_ENTRIES_MAX);
	assert_null(state_find(&c->state, 77, "P0"));
	assert_non_null(state_find(&c->state, 77, "P1"));
	assert_non_null(state_find(&c->state, 77, "P32"));
	/* The file round-trips all of them. */
	unlink(f->path);
	assert_int_equal(kg_client_set_state_file(c, f->path), KG_OK);
	assert_int_equal(state_save(c), KG_OK);
	state_init(&st);
	{
		int64_t	hw;

		assert_int_equal(state_read(f->path, &st, &hw), KG_OK);
	}
	assert_int_equal(st.n, STATE_ENTRIES_MAX);
	state_clear(&st);
	kg_client_free(c);
	unlink(f->path);
}

/* ---- cached verdicts are verified again ------------------------------------ */

static void
test_cached_reverified(void **state)
{
	struct fixture		*f = *state;
	struct pair_spec	 sp;
	kg_client		*c;
	kg_result		*r = NULL;
	static const struct {
		const char	*name;
		bool		 untrusted, wrong_nonce, wrong_hash, error;
	} bad[] = {
		{ "signed by an untrusted key", true, false, false, false },
		{ "nonce not the cached request's", false, true, false, false },
		{ "hash not the cached request's", false, false, true, false },
		{ "an Error reply", false, false, false, true },
	};
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp = spec_update;
		sp.server_time = f->now - 60;
		sp.untrusted = bad[i].untrusted;
		sp.wrong_nonce = bad[i].wrong_nonce;
		sp.wrong_hash = bad[i].wrong_hash;
		sp.error = bad[i].error;
		c = client_with(f, &sp);
		print_message("cached pair %s\n", bad[i].name);
		assert_int_equal(offline_answer(c, f->key, "DEMO", "1.0", NULL, &r),
		    KG_ERR_CONNECT);
		assert_null(r);
		kg_client_free(c);
	}
	/* The good pair answers; with the vendor key no longer trusted it does not. */
	sp = spec_update;
	sp.server_time = f->now - 60;
	c = client_with(f, &sp);
	assert_int_equal(offline_answer(c, f->key, "DEMO", "1.0", NULL, &r), KG_OK);
	kg_result_free(r);
	trustset_clear(&c->trust);
	assert_int_equal(trustset_add(&c->trust, f->other->pk, KG_TRUST_ACTIVE), KGE_OK);
	assert_int_equal(offline_answer(c, f->key, "DEMO", "1.0", NULL, &r),
	    KG_ERR_CONNECT);
	kg_client_free(c);
}

static void
test_offline_rollback(void **state)
{
	struct fixture		*f = *state;
	struct pair_spec	 sp = spec_update;
	kg_client		*c;
	kg_result		*r = NULL;

	/* The mark is 10 days ahead of the local clock: the clock was set back. */
	sp.server_time = f->now - 60;
	c = client_with(f, &sp);
	kg_client_set_time_floor(c, f->now + 10 * 86400);
	assert_int_equal(kg_client_rollback(c), 1);
	assert_int_equal(offline_answer(c, f->key, "DEMO", "1.0", NULL, &r), KG_OK);
	assert_int_equal(kg_result_rollback(r), 1);
	/* Age and dates from the mark, not the local clock. */
	assert_true(kg_result_age(r) >= 10 * 86400 + 60 &&
	    kg_result_age(r) < 10 * 86400 + 120);
	assert_string_equal(kg_result_verdict(r), "update");
	kg_result_free(r);
	/* Within the tolerance it is not a rollback. */
	assert_int_equal(kg_client_set_rollback_tolerance(c, 11 * 86400), KG_OK);
	assert_int_equal(kg_client_rollback(c), 0);
	assert_int_equal(offline_answer(c, f->key, "DEMO", "1.0", NULL, &r), KG_OK);
	assert_int_equal(kg_result_rollback(r), 0);
	kg_result_free(r);
	kg_client_free(c);
}

/* ---- the offline rule -------------------------------------------------------- */

struct rule_case {
	const char	*name;
	/* the cached verdict and the question it answered */
	const char	*verdict, *reason, *eligible, *latest, *sx, *lx;
	const char	*ci, *ct;
	/* the question now, and the day */
	const char	*installed, *target, *today;
	/* the answer */
	const char	*want_verdict, *want_reason;
	int		 want_days_left;
};

static const struct rule_case rule_cases[] = {
	{ "same question, update", "update", "ok", "1.1", "1.1", "2026-07-10", NULL,
	  "1.0", NULL, "1.0", NULL, NOW_DAY, "update", "ok", 39 },
	{ "installed the update since", "update", "ok", "1.1", "1.1", "2026-07-10", NULL,
	  "1.0", NULL, "1.1", NULL, NOW_DAY, "current", "ok", 39 },
	{ "newer than eligible is demo", "update", "ok", "1.1", "1.2", "2026-07-10", NULL,
	  "1.0", NULL, "1.2", NULL, NOW_DAY, "demo", "not_eligible", 39 },
	{ "target newer than eligible is demo", "current", "ok", "1.1", "1.1", "2026-07-10", NULL,
	  "1.1", NULL, "1.1", "1.3", NOW_DAY, "demo", "not_eligible", 39 },
	{ "an older release never judged is demo", "current", "ok", "1.1", "1.1", "2026-07-10", NULL,
	  "1.1", NULL, "1.0.5", NULL, NOW_DAY, "demo", "not_eligible", 39 },
	{ "2.0 equals 2.0.0", "current", "ok", "2.0", "2.0", "2026-07-10", NULL,
	  "2.0", NULL, "2.0.0", NULL, NOW_DAY, "current", "ok", 39 },
	{ "fallback stays fallback", "fallback", "support_expired", "1.0", "1.2", "2026-01-10", NULL,
	  "1.0", NULL, "1.0", NULL, NOW_DAY, "fallback", "support_expired", 0 },
	{ "support ran out since: reason changes", "current", "ok", "1.1", "1.1", "2026-05-01", NULL,
	  "1.1", NULL, "1.1", NULL, NOW_DAY, "current", "support_expired", 0 },
	{ "demo not_eligible: only eligible allowed", "demo", "not_eligible", "1.0", "1.2", "2026-01-10", NULL,
	  "1.2", NULL, "1.2", NULL, NOW_DAY, "demo", "not_eligible", 0 },
	{ "demo not_eligible: eligible runs as fallback", "demo", "not_eligible", "1.0", "1.2", "2026-01-10", NULL,
	  "1.2", NULL, "1.0", NULL, NOW_DAY, "fallback", "support_expired", 0 },
	{ "revoked stays revoked", "demo", "revoked", "1.1", "1.1", "2026-07-10", NULL,
	  "1.0", NULL, "1.1", NULL, NOW_DAY, "demo", "revoked", 39 },
	{ "license ended since", "current", "ok", "1.1", "1.1", "2026-05-31", "2026-05-31",
	  "1.1", NULL, "1.1", NULL, NOW_DAY, "demo", "license_expired", 0 },
	{ "license valid through its day", "current", "ok", "1.1", "1.1", "2026-06-01", "2026-06-01",
	  "1.1", NULL, "1.1", NULL, NOW_DAY, "current", "ok", 0 },
	{ "cached target is allowed too", "update", "ok", "1.2", "1.2", "2026-07-10", NULL,
	  "1.0", "1.1", "1.1", NULL, NOW_DAY, "update", "ok", 39 },
};

static void
test_offline_rule_table(void **state)
{
	const struct rule_case	*t;
	kg_result		*r;
	kg_date			 today;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		t = &rule_cases[i];
		print_message("offline rule: %s\n", t->name);
		assert_non_null(r = result_new());
		assert_int_equal(result_str(&r->verdict, t->verdict), 0);
		assert_int_equal(result_str(&r->reason, t->reason), 0);
		assert_int_equal(result_str(&r->eligible, t->eligible), 0);
		assert_int_equal(result_str(&r->latest, t->latest), 0);
		assert_int_equal(result_str(&r->key, "KG1.x.y"), 0);
		if (t->sx != NULL)
			strcpy(r->support_expiry, t->sx);
		if (t->lx != NULL)
			strcpy(r->license_expiry, t->lx);
		r->has_quote = true;
		assert_int_equal(date_parse(t->today, &today), 0);
		assert_int_equal(offline_rule(r, t->ci, t->ct, t->installed,
		    t->target, today), KG_OK);
		assert_string_equal(kg_result_verdict(r), t->want_verdict);
		assert_string_equal(kg_result_reason(r), t->want_reason);
		assert_int_equal(kg_result_days_left(r), t->want_days_left);
		assert_null(kg_result_key(r));
		assert_int_equal(kg_result_has_quote(r), 0);
		kg_result_free(r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_every_code),
		cmocka_unit_test(test_client_arguments),
		cmocka_unit_test(test_verify_offline_arguments),
		cmocka_unit_test(test_result_accessors_null),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_state_bad_files),
		cmocka_unit_test(test_state_merge_keeps_highest_mark),
		cmocka_unit_test(test_state_entries_bounded),
		cmocka_unit_test(test_cached_reverified),
		cmocka_unit_test(test_offline_rollback),
		cmocka_unit_test(test_offline_rule_table),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
