/*
 * Unit tests of the store side of signing-key rotation: the store's
 * signing_key_rotate op (new key and old key in one transaction with the
 * audit record; the statement bytes kept; a new key that exists or is not
 * active, or has no statement, refused) and daemon/rotation.c, which picks
 * the statements to serve: oldest first along the chain whatever the key
 * ids and times, without those signed by or introducing a compromised key,
 * and reads a stored statement back. Keys come from fixed seeds.
 */
#include <sys/stat.h>

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
#include <sodium.h>

#include "keygate.pb-c.h"
#include "keys.h"
#include "kgerr.h"
#include "rotation.h"
#include "store.h"
#include "tmpdir.h"

#define T0	1700000000
#define NKEYS	4

struct fixture {
	char				 dir[PATH_MAX];
	struct store			*st;
	struct kg_keypair		*k[NKEYS];
	struct store_signing_key	 rec[NKEYS];	/* k[i] as stored, k[i-1] vouching */
};

/* rec: kp as an active key introduced at time t by a statement of prev (or none). */
static void
record_make(struct store_signing_key *rec, const struct kg_keypair *kp,
    const struct kg_keypair *prev, int64_t t)
{
	Keygate__RotationBody		body = KEYGATE__ROTATION_BODY__INIT;
	Keygate__RotationStatement	st = KEYGATE__ROTATION_STATEMENT__INIT;
	uint8_t				bbuf[128], sig[KG_SIG_LEN];

	memset(rec, 0, sizeof(*rec));
	memcpy(rec->pk, kp->pk, KG_PUBKEY_LEN);
	memcpy(rec->id, kp->id, KG_KEY_ID_LEN);
	rec->state = KG_TRUST_ACTIVE;
	rec->created_at = t;
	if (prev == NULL)
		return;
	body.new_public_key.data = (uint8_t *)kp->pk;
	body.new_public_key.len = KG_PUBKEY_LEN;
	body.old_key_id.data = (uint8_t *)prev->id;
	body.old_key_id.len = KG_KEY_ID_LEN;
	body.created = t;
	st.body.len = keygate__rotation_body__pack(&body, bbuf);
	st.body.data = bbuf;
	assert_int_equal(keys_sign(prev, KG_DOMAIN_ROTATION, bbuf, st.body.len,
	    sig), KGE_OK);
	st.signature.data = sig;
	st.signature.len = sizeof(sig);
	rec->rotation_len = keygate__rotation_statement__pack(&st, rec->rotation);
	assert_true(rec->rotation_len > 0 && rec->rotation_len <= STORE_ROTATION_MAX);
}

static int
setup(void **state)
{
	struct store_options	 opt = { .map_size = 0, .create = true };
	struct fixture		*f = calloc(1, sizeof(*f));
	uint8_t			 seed[32];
	int			 i;

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "rotstore"), 0);
	assert_int_equal(store_open_lmdb(f->dir, &opt, &f->st), STORE_OK);
	/* Seeds chosen so the ids do not sort in chain order. */
	for (i = 0; i < NKEYS; i++) {
		memset(seed, 0xa0 - 7 * i, sizeof(seed));
		assert_non_null(f->k[i] = keypair_from_seed_new(seed));
		/* All in the same second: the order must come from the chain. */
		record_make(&f->rec[i], f->k[i], i == 0 ? NULL : f->k[i - 1], T0);
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	int		 i;

	f->st->ops->close(f->st);
	(void)tmpdir_remove(f->dir);
	for (i = 0; i < NKEYS; i++)
		keypair_free(f->k[i]);
	free(f);
	return 0;
}

struct key_list {
	struct store_signing_key	k[NKEYS + 1];
	size_t				n;
};

static int
key_cb(void *ctx, const struct store_signing_key *k)
{
	struct key_list	*kl = ctx;

	if (kl->n == NKEYS + 1)
		return 1;
	kl->k[kl->n++] = *k;
	return 0;
}

/* The stored record of kp, or NULL. */
static const struct store_signing_key *
find(const struct key_list *kl, const struct kg_keypair *kp)
{
	size_t	i;

	for (i = 0; i < kl->n; i++)
		if (memcmp(kl->k[i].id, kp->id, KG_KEY_ID_LEN) == 0)
			return &kl->k[i];
	return NULL;
}

/* Rotate k[i-1] -> k[i] in the store. */
static int
rotate(struct fixture *f, int i)
{
	struct store_signing_key	prev = f->rec[i - 1];
	struct store_audit		a;

	prev.state = KG_TRUST_RETIRED;
	store_audit_fill(&a, T0, "test", "signing-key.rotate", "", "test");
	return f->st->ops->signing_key_rotate(f->st, &f->rec[i], &prev, &a);
}

/* The served statements' new keys, in order, as indexes into f->k. */
static size_t
served(struct fixture *f, int out[NKEYS])
{
	Keygate__Rotations	*r = NULL;
	struct rotation_info	 ri;
	uint8_t			 buf[STORE_ROTATION_MAX];
	size_t			 i, len;
	int			 j;

	assert_int_equal(rotation_statements_new(f->st, &r), 0);
	assert_non_null(r);
	assert_true(r->n_statements <= NKEYS);
	for (i = 0; i < r->n_statements; i++) {
		len = keygate__rotation_statement__get_packed_size(r->statements[i]);
		assert_true(len <= sizeof(buf));
		keygate__rotation_statement__pack(r->statements[i], buf);
		assert_int_equal(rotation_statement_read(buf, len, &ri), 0);
		out[i] = -1;
		for (j = 0; j < NKEYS; j++)
			if (memcmp(ri.new_pk, f->k[j]->pk, KG_PUBKEY_LEN) == 0)
				out[i] = j;
		/* Each is signed by the key before it in the chain. */
		assert_true(out[i] > 0);
		assert_memory_equal(ri.old_id, f->k[out[i] - 1]->id, KG_KEY_ID_LEN);
		assert_int_equal(ri.created, T0);
	}
	len = r->n_statements;
	rotation_statements_free(r);
	return len;
}

/* signing_key_rotate: both records and the audit record, in one go. */
static void
test_store_rotate(void **state)
{
	struct fixture			*f = *state;
	struct store_signing_key	 bad;
	struct store_audit		 a;
	struct key_list			 kl;
	const struct store_signing_key	*k0, *k1;
	uint64_t			 bad_seq;

	store_audit_fill(&a, T0, "test", "signing-key.create", "", "init");
	assert_int_equal(f->st->ops->signing_key_put(f->st, &f->rec[0], &a),
	    STORE_OK);
	assert_int_equal(rotate(f, 1), STORE_OK);
	memset(&kl, 0, sizeof(kl));
	assert_int_equal(f->st->ops->signing_key_list(f->st, key_cb, &kl), STORE_OK);
	assert_int_equal(kl.n, 2);
	assert_non_null(k0 = find(&kl, f->k[0]));
	assert_non_null(k1 = find(&kl, f->k[1]));
	assert_int_equal(k0->state, KG_TRUST_RETIRED);
	assert_int_equal(k0->rotation_len, 0);
	assert_int_equal(k1->state, KG_TRUST_ACTIVE);
	assert_int_equal(k1->created_at, T0);
	assert_int_equal(k1->rotation_len, f->rec[1].rotation_len);
	assert_memory_equal(k1->rotation, f->rec[1].rotation, k1->rotation_len);
	assert_int_equal(f->st->ops->audit_verify(f->st, &bad_seq), STORE_OK);

	/* The same new key twice: exists, nothing changes. */
	assert_int_equal(rotate(f, 1), STORE_EXISTS);
	/* A new key that is not active, or has no statement: refused. */
	bad = f->rec[2];
	bad.state = KG_TRUST_RETIRED;
	store_audit_fill(&a, T0, "test", "signing-key.rotate", "", "test");
	assert_int_equal(f->st->ops->signing_key_rotate(f->st, &bad, &f->rec[1],
	    &a), STORE_INVAL);
	bad = f->rec[2];
	bad.rotation_len = 0;
	assert_int_equal(f->st->ops->signing_key_rotate(f->st, &bad, &f->rec[1],
	    &a), STORE_INVAL);
	/* An id that is not the key's: refused. */
	bad = f->rec[2];
	bad.id[0] ^= 1;
	assert_int_equal(f->st->ops->signing_key_rotate(f->st, &bad, &f->rec[1],
	    &a), STORE_INVAL);
	memset(&kl, 0, sizeof(kl));
	assert_int_equal(f->st->ops->signing_key_list(f->st, key_cb, &kl), STORE_OK);
	assert_int_equal(kl.n, 2);
}

/* The served statements: chain order, compromised keys left out. */
static void
test_served(void **state)
{
	struct fixture			*f = *state;
	struct store_signing_key	 k;
	struct store_audit		 a;
	int				 order[NKEYS];
	int				 i;

	assert_int_equal(served(f, order), 0);	/* no keys at all */
	store_audit_fill(&a, T0, "test", "signing-key.create", "", "init");
	assert_int_equal(f->st->ops->signing_key_put(f->st, &f->rec[0], &a),
	    STORE_OK);
	assert_int_equal(served(f, order), 0);	/* an original key only */
	for (i = 1; i < NKEYS; i++)
		assert_int_equal(rotate(f, i), STORE_OK);
	assert_int_equal(served(f, order), NKEYS - 1);
	for (i = 0; i < NKEYS - 1; i++)
		assert_int_equal(order[i], i + 1);

	/* k1 compromised: neither its statement (k0 -> k1) nor k1 -> k2. */
	k = f->rec[1];
	k.state = KG_TRUST_COMPROMISED;
	store_audit_fill(&a, T0, "test", "signing-key.compromise", "", "test");
	assert_int_equal(f->st->ops->signing_key_put(f->st, &k, &a), STORE_OK);
	assert_int_equal(served(f, order), 0);	/* k2 -> k3 hangs off nothing */

	/* k0 compromised instead: k1's chain starts nowhere either. */
	k = f->rec[1];
	k.state = KG_TRUST_RETIRED;
	assert_int_equal(f->st->ops->signing_key_put(f->st, &k, &a), STORE_OK);
	assert_int_equal(served(f, order), NKEYS - 1);
	k = f->rec[0];
	k.state = KG_TRUST_COMPROMISED;
	assert_int_equal(f->st->ops->signing_key_put(f->st, &k, &a), STORE_OK);
	assert_int_equal(served(f, order), 0);
}

/* A statement read back: what it says; junk is refused. */
static void
test_statement_read(void **state)
{
	struct fixture		*f = *state;
	struct rotation_info	 ri;
	uint8_t			 junk[] = { 0x0a, 0x05, 0x01 };

	assert_int_equal(rotation_statement_read(f->rec[2].rotation,
	    f->rec[2].rotation_len, &ri), 0);
	assert_memory_equal(ri.new_pk, f->k[2]->pk, KG_PUBKEY_LEN);
	assert_memory_equal(ri.old_id, f->k[1]->id, KG_KEY_ID_LEN);
	assert_int_equal(ri.created, T0);
	assert_int_equal(rotation_statement_read(junk, sizeof(junk), &ri), -1);
	assert_int_equal(rotation_statement_read(junk, 0, &ri), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_served, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statement_read, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
