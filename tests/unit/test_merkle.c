/*
 * Unit tests of common/merkle.c, the Merkle trees of batched reply
 * signatures: batches of 1, 2, 3 and 64 replies (every leaf's path leads to
 * the root, the root of 1-3 leaves recomputed by hand from the format in
 * merkle.h, and the root signed in the keygate-reply-batch-v1 domain
 * verifies), and forged paths (a wrong sibling, a wrong index, siblings in
 * swapped order, a path too short for its index, another leaf's path) that
 * never lead to the signed root; merkle_reply_verify accepts both reply
 * forms and neither signature in the other's place.
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
#include <sodium.h>

#include "kgerr.h"
#include "keys.h"
#include "merkle.h"

#define H	KG_MERKLE_HASH_LEN

static const uint8_t test_seed[32] = {
	0x6d, 0x65, 0x72, 0x6b, 0x6c, 0x65, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
	9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24
};

/* BLAKE2b-256 of tag || a || b (b may be NULL), straight from libsodium. */
static void
ref_hash(uint8_t tag, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen, uint8_t out[H])
{
	uint8_t	buf[1 + 256];

	assert_true(alen + blen <= 256);
	buf[0] = tag;
	memcpy(buf + 1, a, alen);
	if (b != NULL)
		memcpy(buf + 1 + alen, b, blen);
	assert_int_equal(crypto_generichash(out, H, buf, 1 + alen + blen, NULL, 0),
	    0);
}

/* Reply body i: distinct bytes of varying length. */
static size_t
body_of(size_t i, uint8_t body[64])
{
	size_t	len = 10 + i % 50, j;

	for (j = 0; j < len; j++)
		body[j] = (uint8_t)(i * 31 + j);
	return len;
}

/*
 * Build a batch of n, check every leaf's path leads to the root, sign the
 * root and check the signature; the root into root_out.
 */
static void
batch_check(size_t n, size_t want_depth, uint8_t root_out[H])
{
	static struct kg_merkle	t;
	static uint8_t		leaf[KG_MERKLE_LEAVES_MAX][H];
	uint8_t			path[KG_MERKLE_DEPTH_MAX][H], got[H], body[64];
	uint8_t			sig[KG_SIG_LEN];
	struct kg_keypair	*kp;
	size_t			i, len;

	for (i = 0; i < n; i++) {
		len = body_of(i, body);
		merkle_leaf_hash(body, len, leaf[i]);
		ref_hash(0x00, body, len, NULL, 0, got);
		assert_memory_equal(leaf[i], got, H);
	}
	assert_int_equal(merkle_build(&t, (const uint8_t (*)[H])leaf, n), 0);
	assert_int_equal(t.nleaves, n);
	assert_int_equal(t.depth, want_depth);
	for (i = 0; i < n; i++) {
		assert_int_equal(merkle_path(&t, i, path), (int)want_depth);
		assert_int_equal(merkle_root_from_path(leaf[i], (uint32_t)i,
		    (const uint8_t (*)[H])path, want_depth, got), 0);
		assert_memory_equal(got, merkle_root(&t), H);
	}
	assert_int_equal(merkle_path(&t, n, path), -1);
	memcpy(root_out, merkle_root(&t), H);

	assert_non_null(kp = keypair_from_seed_new(test_seed));
	assert_int_equal(keys_sign(kp, KG_DOMAIN_REPLY_BATCH, root_out, H, sig),
	    KGE_OK);
	assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_REPLY_BATCH, root_out, H,
	    sig), KGE_OK);
	/* Domain separation: not a single-reply signature of the root. */
	assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_REPLY, root_out, H, sig),
	    KGE_KEY_SIGNATURE);
	keypair_free(kp);
}

/* One reply: the root is its leaf, the path empty. */
static void
test_merkle_batch_1(void **state)
{
	uint8_t	root[H], body[64], want[H];
	size_t	len;

	(void)state;
	batch_check(1, 0, root);
	len = body_of(0, body);
	ref_hash(0x00, body, len, NULL, 0, want);
	assert_memory_equal(root, want, H);
}

/* Two replies: root = H(0x01 || leaf0 || leaf1). */
static void
test_merkle_batch_2(void **state)
{
	uint8_t	root[H], body[64], l0[H], l1[H], want[H];
	size_t	len;

	(void)state;
	batch_check(2, 1, root);
	len = body_of(0, body);
	ref_hash(0x00, body, len, NULL, 0, l0);
	len = body_of(1, body);
	ref_hash(0x00, body, len, NULL, 0, l1);
	ref_hash(0x01, l0, H, l1, H, want);
	assert_memory_equal(root, want, H);
}

/* Three replies: padded with a zero node, depth 2. */
static void
test_merkle_batch_3(void **state)
{
	uint8_t	root[H], body[64], l[3][H], zero[H], a[H], b[H], want[H];
	size_t	i, len;

	(void)state;
	batch_check(3, 2, root);
	for (i = 0; i < 3; i++) {
		len = body_of(i, body);
		ref_hash(0x00, body, len, NULL, 0, l[i]);
	}
	memset(zero, 0, sizeof(zero));
	ref_hash(0x01, l[0], H, l[1], H, a);
	ref_hash(0x01, l[2], H, zero, H, b);
	ref_hash(0x01, a, H, b, H, want);
	assert_memory_equal(root, want, H);
}

/* 64 replies: depth 6; and the largest batch, depth 10. */
static void
test_merkle_batch_64(void **state)
{
	uint8_t	root64[H], root65[H], rootmax[H];

	(void)state;
	batch_check(64, 6, root64);
	batch_check(65, 7, root65);
	assert_memory_not_equal(root64, root65, H);
	batch_check(KG_MERKLE_LEAVES_MAX, KG_MERKLE_DEPTH_MAX, rootmax);
}

/* Forged paths never lead to the root. */
static void
test_merkle_forged_path(void **state)
{
	static struct kg_merkle	t;
	uint8_t			leaf[64][H], path[KG_MERKLE_DEPTH_MAX][H];
	uint8_t			forged[KG_MERKLE_DEPTH_MAX][H], got[H], body[64];
	size_t			i, len;
	int			depth;

	(void)state;
	for (i = 0; i < 64; i++) {
		len = body_of(i, body);
		merkle_leaf_hash(body, len, leaf[i]);
	}
	assert_int_equal(merkle_build(&t, (const uint8_t (*)[H])leaf, 64), 0);
	assert_int_equal(depth = merkle_path(&t, 37, path), 6);

	/* The genuine path. */
	assert_int_equal(merkle_root_from_path(leaf[37], 37,
	    (const uint8_t (*)[H])path, 6, got), 0);
	assert_memory_equal(got, merkle_root(&t), H);

	/* A wrong sibling, at each level. */
	for (i = 0; i < 6; i++) {
		memcpy(forged, path, sizeof(path));
		forged[i][5] ^= 0x01;
		assert_int_equal(merkle_root_from_path(leaf[37], 37,
		    (const uint8_t (*)[H])forged, 6, got), 0);
		assert_memory_not_equal(got, merkle_root(&t), H);
	}

	/* A wrong index: every other index with the same path. */
	for (i = 0; i < 64; i++) {
		if (i == 37)
			continue;
		assert_int_equal(merkle_root_from_path(leaf[37], (uint32_t)i,
		    (const uint8_t (*)[H])path, 6, got), 0);
		assert_memory_not_equal(got, merkle_root(&t), H);
	}

	/* Siblings in swapped order. */
	memcpy(forged, path, sizeof(path));
	memcpy(forged[0], path[1], H);
	memcpy(forged[1], path[0], H);
	assert_int_equal(merkle_root_from_path(leaf[37], 37,
	    (const uint8_t (*)[H])forged, 6, got), 0);
	assert_memory_not_equal(got, merkle_root(&t), H);

	/* Another leaf presented with leaf 37's index and path. */
	assert_int_equal(merkle_root_from_path(leaf[36], 37,
	    (const uint8_t (*)[H])path, 6, got), 0);
	assert_memory_not_equal(got, merkle_root(&t), H);

	/* A path too short for its index, or longer than any tree. */
	assert_int_equal(merkle_root_from_path(leaf[37], 37,
	    (const uint8_t (*)[H])path, 5, got), -1);
	assert_int_equal(merkle_root_from_path(leaf[37], 64,
	    (const uint8_t (*)[H])path, 6, got), -1);
	assert_int_equal(merkle_root_from_path(leaf[37], 0,
	    (const uint8_t (*)[H])path, KG_MERKLE_DEPTH_MAX + 1, got), -1);

	/* Batches of no leaves or more than the largest are refused. */
	assert_int_equal(merkle_build(&t, (const uint8_t (*)[H])leaf, 0), -1);
	assert_int_equal(merkle_build(&t, (const uint8_t (*)[H])leaf,
	    KG_MERKLE_LEAVES_MAX + 1), -1);
}

/* merkle_reply_verify: the direct and the batched form, and their mix-ups. */
static void
test_merkle_reply_verify(void **state)
{
	static struct kg_merkle	t;
	uint8_t			leaf[3][H], path[KG_MERKLE_DEPTH_MAX][H];
	uint8_t			body[3][64], sig[KG_SIG_LEN], dsig[KG_SIG_LEN];
	size_t			len[3], i;
	struct kg_keypair	*kp;

	(void)state;
	assert_non_null(kp = keypair_from_seed_new(test_seed));
	for (i = 0; i < 3; i++) {
		len[i] = body_of(i, body[i]);
		merkle_leaf_hash(body[i], len[i], leaf[i]);
	}
	assert_int_equal(merkle_build(&t, (const uint8_t (*)[H])leaf, 3), 0);
	assert_int_equal(keys_sign(kp, KG_DOMAIN_REPLY_BATCH, merkle_root(&t), H,
	    sig), KGE_OK);
	for (i = 0; i < 3; i++) {
		assert_int_equal(merkle_path(&t, i, path), 2);
		assert_int_equal(merkle_reply_verify(kp->pk, body[i], len[i], sig,
		    (uint32_t)i, (const uint8_t (*)[H])path, 2), KGE_OK);
		/* The batch signature is no direct signature of the body. */
		assert_int_equal(merkle_reply_verify(kp->pk, body[i], len[i], sig,
		    0, NULL, 0), KGE_KEY_SIGNATURE);
	}
	/* Another body under leaf 2's path. */
	assert_int_equal(merkle_reply_verify(kp->pk, body[1], len[1], sig, 2,
	    (const uint8_t (*)[H])path, 2), KGE_KEY_SIGNATURE);
	/* The phantom padding leaf 3 has no body. */
	assert_int_equal(merkle_reply_verify(kp->pk, body[2], len[2], sig, 3,
	    (const uint8_t (*)[H])path, 2), KGE_KEY_SIGNATURE);

	/* The direct form; with an index but no path it is refused. */
	assert_int_equal(keys_sign(kp, KG_DOMAIN_REPLY, body[0], len[0], dsig),
	    KGE_OK);
	assert_int_equal(merkle_reply_verify(kp->pk, body[0], len[0], dsig, 0,
	    NULL, 0), KGE_OK);
	assert_int_equal(merkle_reply_verify(kp->pk, body[0], len[0], dsig, 1,
	    NULL, 0), KGE_KEY_SIGNATURE);
	assert_int_equal(merkle_path(&t, 0, path), 2);
	assert_int_equal(merkle_reply_verify(kp->pk, body[0], len[0], dsig, 0,
	    (const uint8_t (*)[H])path, 2), KGE_KEY_SIGNATURE);
	keypair_free(kp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merkle_batch_1),
		cmocka_unit_test(test_merkle_batch_2),
		cmocka_unit_test(test_merkle_batch_3),
		cmocka_unit_test(test_merkle_batch_64),
		cmocka_unit_test(test_merkle_forged_path),
		cmocka_unit_test(test_merkle_reply_verify),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
