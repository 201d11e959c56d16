/*
 * libkeygate's rotation statements without a server (client/rotation.c,
 * the "trusted" lines of client/state.c): a chain of statements grows the
 * trust set whatever their order; a statement signed by an untrusted or
 * compromised key, in another domain, or altered after signing adds
 * nothing; the keys rotated away from become retired; only the first
 * ROTATION_STATEMENTS_MAX statements are looked at; the state file keeps a
 * statement per key and reads it back, refusing a line whose key is not
 * the one its statement introduces; statements from the state file are
 * checked against the trust set whichever of the two a product sets first.
 * Keys come from fixed seeds and statements carry fixed times, so every
 * byte is the same on every run.
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

#define NKEYS		4
#define CREATED		1795000000

/* Keys k[0..3] from fixed seeds and the chain k0 -> k1 -> k2 -> k3. */
struct fixture {
	struct kg_keypair	*k[NKEYS];
	struct kg_keypair	*stranger;
	struct client_rotation	 chain[NKEYS - 1];	/* chain[i]: k[i] vouches for k[i+1] */
	char			 dir[64];
};

/*
 * A serialized statement: new_pk vouched for as the successor of old_id,
 * signed by signer in domain. A malloc'd buffer in r.
 */
static void
statement_make(struct client_rotation *r, const struct kg_keypair *signer,
    const uint8_t old_id[KG_KEY_ID_LEN], const uint8_t new_pk[KG_PUBKEY_LEN],
    enum kg_domain domain)
{
	Keygate__RotationBody		body = KEYGATE__ROTATION_BODY__INIT;
	Keygate__RotationStatement	st = KEYGATE__ROTATION_STATEMENT__INIT;
	uint8_t				bbuf[128], sig[KG_SIG_LEN];
	size_t				blen;

	body.new_public_key.data = (uint8_t *)new_pk;
	body.new_public_key.len = KG_PUBKEY_LEN;
	body.old_key_id.data = (uint8_t *)old_id;
	body.old_key_id.len = KG_KEY_ID_LEN;
	body.created = CREATED;
	blen = keygate__rotation_body__pack(&body, bbuf);
	assert_int_equal(keys_sign(signer, domain, bbuf, blen, sig), KGE_OK);
	st.body.data = bbuf;
	st.body.len = blen;
	st.signature.data = sig;
	st.signature.len = sizeof(sig);
	r->len = keygate__rotation_statement__get_packed_size(&st);
	assert_non_null(r->buf = malloc(r->len));
	assert_int_equal(keygate__rotation_statement__pack(&st, r->buf), r->len);
	memcpy(r->pk, new_pk, KG_PUBKEY_LEN);
}

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof(*f));
	uint8_t		 seed[32];
	int		 i;

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	for (i = 0; i < NKEYS; i++) {
		memset(seed, 0x30 + i, sizeof(seed));
		assert_non_null(f->k[i] = keypair_from_seed_new(seed));
	}
	memset(seed, 0x7f, sizeof(seed));
	assert_non_null(f->stranger = keypair_from_seed_new(seed));
	for (i = 0; i < NKEYS - 1; i++)
		statement_make(&f->chain[i], f->k[i], f->k[i]->id,
		    f->k[i + 1]->pk, KG_DOMAIN_ROTATION);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kg-test-rotation-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[128];
	int		 i;

	for (i = 0; i < NKEYS; i++)
		keypair_free(f->k[i]);
	keypair_free(f->stranger);
	for (i = 0; i < NKEYS - 1; i++)
		free(f->chain[i].buf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The state of pk in ts, or -1 when it is not there. */
static int
state_of(const struct kg_trustset *ts, const struct kg_keypair *kp)
{
	const struct kg_trust_entry	*e = trustset_find(ts, kp->id);

	return e == NULL ? -1 : (int)e->state;
}

/* The chain in any order proves every key; the old ones are retired. */
static void
test_chain_any_order(void **state)
{
	struct fixture		*f = *state;
	struct client_rotation	 rev[NKEYS - 1];
	struct kg_trustset	 ts;
	bool			 used[NKEYS - 1];
	int			 i;

	for (i = 0; i < NKEYS - 1; i++)
		rev[i] = f->chain[NKEYS - 2 - i];	/* newest first */
	trustset_init(&ts);
	assert_int_equal(trustset_add(&ts, f->k[0]->pk, KG_TRUST_ACTIVE), KGE_OK);
	assert_int_equal(rotation_chain_apply(&ts, rev, NKEYS - 1, used), 3);
	assert_int_equal(ts.n, NKEYS);
	for (i = 0; i < NKEYS - 1; i++) {
		assert_true(used[i]);
		assert_int_equal(state_of(&ts, f->k[i]), KG_TRUST_RETIRED);
	}
	assert_int_equal(state_of(&ts, f->k[NKEYS - 1]), KG_TRUST_ACTIVE);
	/* Again: nothing new. */
	assert_int_equal(rotation_chain_apply(&ts, rev, NKEYS - 1, used), 0);
	assert_false(used[0]);
	trustset_clear(&ts);

	/* Trusting a key half way proves only what follows it. */
	trustset_init(&ts);
	assert_int_equal(trustset_add(&ts, f->k[2]->pk, KG_TRUST_ACTIVE), KGE_OK);
	assert_int_equal(rotation_chain_apply(&ts, f->chain, NKEYS - 1, used), 1);
	assert_false(used[0]);
	assert_false(used[1]);
	assert_true(used[2]);
	assert_int_equal(state_of(&ts, f->k[0]), -1);
	assert_int_equal(state_of(&ts, f->k[1]), -1);
	assert_int_equal(state_of(&ts, f->k[3]), KG_TRUST_ACTIVE);
	trustset_clear(&ts);
}

/* Statements that prove nothing. */
static void
test_chain_refused(void **state)
{
	struct fixture		*f = *state;
	struct client_rotation	 bad[5];
	struct kg_trustset	 ts;
	bool			 used[5];
	size_t			 i;

	/* Names k0 as its signer but is signed by a stranger. */
	statement_make(&bad[0], f->stranger, f->k[0]->id, f->stranger->pk,
	    KG_DOMAIN_ROTATION);
	/* Signed by the stranger for itself. */
	statement_make(&bad[1], f->stranger, f->stranger->id, f->stranger->pk,
	    KG_DOMAIN_ROTATION);
	/* k0's signature, but in the reply domain. */
	statement_make(&bad[2], f->k[0], f->k[0]->id, f->stranger->pk,
	    KG_DOMAIN_REPLY);
	/* k0's genuine statement for k1, one byte of the body changed. */
	statement_make(&bad[3], f->k[0], f->k[0]->id, f->k[1]->pk,
	    KG_DOMAIN_ROTATION);
	bad[3].buf[6] ^= 0x01;		/* inside new_public_key */
	/* Not a statement at all. */
	assert_non_null(bad[4].buf = malloc(16));
	memset(bad[4].buf, 0xff, 16);
	bad[4].len = 16;
	trustset_init(&ts);
	assert_int_equal(trustset_add(&ts, f->k[0]->pk, KG_TRUST_ACTIVE), KGE_OK);
	assert_int_equal(rotation_chain_apply(&ts, bad, 5, used), 0);
	assert_int_equal(ts.n, 1);
	assert_int_equal(state_of(&ts, f->k[0]), KG_TRUST_ACTIVE);
	trustset_clear(&ts);

	/* A compromised key vouches for nothing, even genuinely. */
	trustset_init(&ts);
	assert_int_equal(trustset_add(&ts, f->k[0]->pk, KG_TRUST_COMPROMISED),
	    KGE_OK);
	assert_int_equal(rotation_chain_apply(&ts, f->chain, NKEYS - 1, used), 0);
	assert_int_equal(ts.n, 1);
	trustset_clear(&ts);

	/* A compromised key is not trusted again by a statement. */
	trustset_init(&ts);
	assert_int_equal(trustset_add(&ts, f->k[0]->pk, KG_TRUST_ACTIVE), KGE_OK);
	assert_int_equal(trustset_add(&ts, f->k[1]->pk, KG_TRUST_COMPROMISED),
	    KGE_OK);
	assert_int_equal(rotation_chain_apply(&ts, f->chain, 1, used), 0);
	assert_int_equal(state_of(&ts, f->k[1]), KG_TRUST_COMPROMISED);
	trustset_clear(&ts);
	for (i = 0; i < 5; i++)
		free(bad[i].buf);
}

/* Only the first ROTATION_STATEMENTS_MAX statements are looked at. */
static void
test_chain_bounded(void **state)
{
	struct fixture		*f = *state;
	struct client_rotation	 many[ROTATION_STATEMENTS_MAX + 1];
	struct kg_trustset	 ts;
	uint8_t			 junk[8];
	size_t			 i;

	memset(junk, 0xee, sizeof(junk));
	for (i = 0; i < ROTATION_STATEMENTS_MAX; i++) {
		many[i].buf = junk;
		many[i].len = sizeof(junk);
	}
	many[ROTATION_STATEMENTS_MAX] = f->chain[0];
	trustset_init(&ts);
	assert_int_equal(trustset_add(&ts, f->k[0]->pk, KG_TRUST_ACTIVE), KGE_OK);
	assert_int_equal(rotation_chain_apply(&ts, many,
	    ROTATION_STATEMENTS_MAX + 1, NULL), 0);
	many[ROTATION_STATEMENTS_MAX - 1] = f->chain[0];
	assert_int_equal(rotation_chain_apply(&ts, many,
	    ROTATION_STATEMENTS_MAX + 1, NULL), 1);
	assert_int_equal(state_of(&ts, f->k[1]), KG_TRUST_ACTIVE);
	trustset_clear(&ts);
}

/* Write text to path. */
static void
file_write(const char *path, const char *text)
{
	FILE	*fp;

	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

/* The "trusted" lines: one per key, written and read back byte for byte. */
static void
test_state_trusted_lines(void **state)
{
	struct fixture		*f = *state;
	struct client_state	 st, back;
	char			 path[128], pub[KG_PUBKEY_TEXT_MAX], *text;
	char			*line;
	int64_t			 hw;
	size_t			 len;

	state_init(&st);
	assert_int_equal(state_rotation_add(&st, f->chain[0].buf,
	    f->chain[0].len), KG_OK);
	assert_int_equal(state_rotation_add(&st, f->chain[1].buf,
	    f->chain[1].len), KG_OK);
	assert_int_equal(state_rotation_add(&st, f->chain[0].buf,
	    f->chain[0].len), KG_OK);		/* the same key: kept once */
	assert_int_equal(st.nrot, 2);
	assert_int_equal(state_rotation_add(&st, (const uint8_t *)"junk", 4),
	    KG_ERR_STATE);
	assert_int_equal(state_format_new(&st, 1795000000, &text, &len), KG_OK);
	pubkey_format(f->k[1]->pk, pub);
	assert_non_null(line = strstr(text, "\ntrusted "));
	assert_memory_equal(line + 9, pub, strlen(pub));
	snprintf(path, sizeof(path), "%s/state", f->dir);
	file_write(path, text);
	state_init(&back);
	assert_int_equal(state_read(path, &back, &hw), KG_OK);
	assert_int_equal(hw, 1795000000);
	assert_int_equal(back.nrot, 2);
	assert_int_equal(back.rot[0].len, f->chain[0].len);
	assert_memory_equal(back.rot[0].buf, f->chain[0].buf, f->chain[0].len);
	assert_memory_equal(back.rot[1].pk, f->k[2]->pk, KG_PUBKEY_LEN);
	state_clear(&back);

	/* A line whose key is not the one its statement introduces. */
	pubkey_format(f->stranger->pk, pub);
	memcpy(line + 9, pub, strlen(pub));
	file_write(path, text);
	state_init(&back);
	assert_int_equal(state_read(path, &back, &hw), KG_ERR_STATE);
	assert_int_equal(back.nrot, 0);
	state_clear(&back);
	free(text);
	state_clear(&st);
}

/*
 * Statements in the state file count only through the trust set, which a
 * product may give before or after the state file.
 */
static void
test_state_then_trust(void **state)
{
	struct fixture		*f = *state;
	struct client_state	 st;
	kg_client		*c;
	char			 path[128], pub[KG_PUBKEY_TEXT_MAX], *text;
	size_t			 len;
	int			 order;

	state_init(&st);
	assert_int_equal(state_rotation_add(&st, f->chain[0].buf,
	    f->chain[0].len), KG_OK);
	assert_int_equal(state_rotation_add(&st, f->chain[1].buf,
	    f->chain[1].len), KG_OK);
	assert_int_equal(state_format_new(&st, 1, &text, &len), KG_OK);
	snprintf(path, sizeof(path), "%s/state2", f->dir);
	file_write(path, text);
	free(text);
	state_clear(&st);
	pubkey_format(f->k[0]->pk, pub);
	for (order = 0; order < 2; order++) {
		assert_int_equal(kg_client_new(&c), KG_OK);
		if (order == 0) {
			assert_int_equal(kg_client_set_state_file(c, path), KG_OK);
			assert_int_equal(c->trust.n, 0);	/* nothing to chain to */
			assert_int_equal(kg_client_trust_text(c, pub), KG_OK);
		} else {
			assert_int_equal(kg_client_trust_text(c, pub), KG_OK);
			assert_int_equal(kg_client_set_state_file(c, path), KG_OK);
		}
		assert_int_equal(c->trust.n, 3);
		assert_int_equal(state_of(&c->trust, f->k[2]), KG_TRUST_ACTIVE);
		assert_int_equal(state_of(&c->trust, f->k[1]), KG_TRUST_RETIRED);
		assert_int_equal(state_of(&c->trust, f->k[3]), -1);
		kg_client_free(c);
	}
	/* Trusting only a stranger: the file's statements prove nothing. */
	pubkey_format(f->stranger->pk, pub);
	assert_int_equal(kg_client_new(&c), KG_OK);
	assert_int_equal(kg_client_set_state_file(c, path), KG_OK);
	assert_int_equal(kg_client_trust_text(c, pub), KG_OK);
	assert_int_equal(c->trust.n, 1);
	kg_client_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_any_order),
		cmocka_unit_test(test_chain_refused),
		cmocka_unit_test(test_chain_bounded),
		cmocka_unit_test(test_state_trusted_lines),
		cmocka_unit_test(test_state_then_trust),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
