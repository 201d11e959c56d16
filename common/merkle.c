/*
 * Merkle trees for batched reply signatures (see merkle.h for the format).
 * The tree is kept level after level in one fixed array: level 0 (the
 * padded leaves) at node[0 .. width-1], level 1 after it, and so on up to
 * the root, so building allocates nothing and a path is read off by index.
 * Everything is BLAKE2b-256 from libsodium; the leaf and node prefixes
 * (0x00 and 0x01) keep a leaf from ever being taken for an inner node.
 */
#include <string.h>

#include <sodium.h>

#include "keys.h"
#include "kgerr.h"
#include "merkle.h"

/* leaf = BLAKE2b-256(0x00 || body): see merkle.h. */
void
merkle_leaf_hash(const uint8_t *body, size_t len, uint8_t out[KG_MERKLE_HASH_LEN])
{
	crypto_generichash_state	st;
	static const uint8_t		tag = 0x00;

	crypto_generichash_init(&st, NULL, 0, KG_MERKLE_HASH_LEN);
	crypto_generichash_update(&st, &tag, 1);
	if (len > 0)
		crypto_generichash_update(&st, body, len);
	crypto_generichash_final(&st, out, KG_MERKLE_HASH_LEN);
}

/* node = BLAKE2b-256(0x01 || left || right). */
static void
merkle_node_hash(const uint8_t left[KG_MERKLE_HASH_LEN],
    const uint8_t right[KG_MERKLE_HASH_LEN], uint8_t out[KG_MERKLE_HASH_LEN])
{
	uint8_t	buf[1 + 2 * KG_MERKLE_HASH_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, KG_MERKLE_HASH_LEN);
	memcpy(buf + 1 + KG_MERKLE_HASH_LEN, right, KG_MERKLE_HASH_LEN);
	crypto_generichash(out, KG_MERKLE_HASH_LEN, buf, sizeof(buf), NULL, 0);
}

/* Build the tree of n leaves: see merkle.h. */
int
merkle_build(struct kg_merkle *t, const uint8_t (*leaf)[KG_MERKLE_HASH_LEN],
    size_t n)
{
	size_t	base, next, w, i;

	if (n < 1 || n > KG_MERKLE_LEAVES_MAX)
		return -1;
	t->nleaves = n;
	t->width = 1;
	t->depth = 0;
	while (t->width < n) {
		t->width <<= 1;
		t->depth++;
	}
	memcpy(t->node[0], leaf, n * KG_MERKLE_HASH_LEN);
	memset(t->node[n], 0, (t->width - n) * KG_MERKLE_HASH_LEN);
	for (base = 0, w = t->width; w > 1; base = next, w >>= 1) {
		next = base + w;
		for (i = 0; i < w / 2; i++)
			merkle_node_hash(t->node[base + 2 * i],
			    t->node[base + 2 * i + 1], t->node[next + i]);
	}
	return 0;
}

/* The root of a built tree: the last node written. */
const uint8_t *
merkle_root(const struct kg_merkle *t)
{
	return t->node[2 * t->width - 2];
}

/* The path of a leaf: see merkle.h. */
int
merkle_path(const struct kg_merkle *t, size_t index,
    uint8_t (*path)[KG_MERKLE_HASH_LEN])
{
	size_t	base, w, lvl, pos;

	if (index >= t->nleaves)
		return -1;
	for (lvl = 0, base = 0, w = t->width, pos = index; lvl < t->depth;
	    lvl++, base += w, w >>= 1, pos >>= 1)
		memcpy(path[lvl], t->node[base + (pos ^ 1)], KG_MERKLE_HASH_LEN);
	return (int)t->depth;
}

/* The root a leaf's path leads to: see merkle.h. */
int
merkle_root_from_path(const uint8_t leaf[KG_MERKLE_HASH_LEN], uint32_t index,
    const uint8_t (*path)[KG_MERKLE_HASH_LEN], size_t depth,
    uint8_t root[KG_MERKLE_HASH_LEN])
{
	uint8_t	h[KG_MERKLE_HASH_LEN];
	size_t	lvl;

	if (depth > KG_MERKLE_DEPTH_MAX || (depth < 32 && (index >> depth) != 0))
		return -1;
	memcpy(h, leaf, KG_MERKLE_HASH_LEN);
	for (lvl = 0; lvl < depth; lvl++) {
		if ((index >> lvl) & 1)
			merkle_node_hash(path[lvl], h, h);
		else
			merkle_node_hash(h, path[lvl], h);
	}
	memcpy(root, h, KG_MERKLE_HASH_LEN);
	return 0;
}

/* Verify a reply signature, direct or batched: see merkle.h. */
int
merkle_reply_verify(const uint8_t pk[KG_PUBKEY_LEN], const uint8_t *body,
    size_t len, const uint8_t sig[KG_SIG_LEN], uint32_t index,
    const uint8_t (*path)[KG_MERKLE_HASH_LEN], size_t depth)
{
	uint8_t	leaf[KG_MERKLE_HASH_LEN], root[KG_MERKLE_HASH_LEN];

	if (depth == 0) {
		if (index != 0)
			return KGE_KEY_SIGNATURE;
		return keys_verify(pk, KG_DOMAIN_REPLY, body, len, sig);
	}
	merkle_leaf_hash(body, len, leaf);
	if (merkle_root_from_path(leaf, index, path, depth, root) == -1)
		return KGE_KEY_SIGNATURE;
	return keys_verify(pk, KG_DOMAIN_REPLY_BATCH, root, sizeof(root), sig);
}
