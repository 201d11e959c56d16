/*
 * Merkle trees over reply bodies for batched reply signatures (issue 7 item
 * 3, proto/README.md "Batched reply signatures"): one Ed25519 signature over
 * the root of a tree of BLAKE2b-256 hashes signs many replies, each reply
 * carrying its leaf index and the sibling hashes up to the root.
 *
 *   leaf = BLAKE2b-256(0x00 || body)
 *   node = BLAKE2b-256(0x01 || left || right)
 *
 * A tree of n leaves is padded to the next power of two with all-zero
 * 32-byte nodes, so every path has depth ceil(log2(n)) siblings and bit i of
 * the leaf index tells whether the node at level i is a right child (1) or a
 * left one (0).
 */
#ifndef KG_MERKLE_H
#define KG_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "kglimits.h"

#define KG_MERKLE_HASH_LEN	32
#define KG_MERKLE_DEPTH_MAX	10			/* paths of at most 10 */
#define KG_MERKLE_LEAVES_MAX	(1u << KG_MERKLE_DEPTH_MAX)	/* 1024 */

/* A whole tree, every level; fixed size (64 KiB), reusable. */
struct kg_merkle {
	uint8_t	node[2 * KG_MERKLE_LEAVES_MAX][KG_MERKLE_HASH_LEN];
	size_t	nleaves;
	size_t	width;		/* leaves after padding: a power of two */
	size_t	depth;		/* log2(width) */
};

/* leaf = BLAKE2b-256(0x00 || body). */
void	merkle_leaf_hash(const uint8_t *body, size_t len,
	    uint8_t out[KG_MERKLE_HASH_LEN]);

/*
 * Build the tree of n leaf hashes (1 <= n <= KG_MERKLE_LEAVES_MAX) into t.
 * 0, or -1 when n is out of range.
 */
int	merkle_build(struct kg_merkle *t, const uint8_t (*leaf)[KG_MERKLE_HASH_LEN],
	    size_t n);

/* The root of a built tree. */
const uint8_t	*merkle_root(const struct kg_merkle *t);

/*
 * The path of leaf index: t->depth sibling hashes, bottom first, into path.
 * Returns the depth, or -1 when index is not a leaf of t.
 */
int	merkle_path(const struct kg_merkle *t, size_t index,
	    uint8_t (*path)[KG_MERKLE_HASH_LEN]);

/*
 * The root that leaf, at index, and its path of depth siblings lead to. -1
 * when depth exceeds KG_MERKLE_DEPTH_MAX or index does not fit in depth
 * bits (a path too short for its index), else 0.
 */
int	merkle_root_from_path(const uint8_t leaf[KG_MERKLE_HASH_LEN],
	    uint32_t index, const uint8_t (*path)[KG_MERKLE_HASH_LEN], size_t depth,
	    uint8_t root[KG_MERKLE_HASH_LEN]);

/*
 * Verify a reply signature in either form: depth 0 (no path, index 0) is the
 * direct form, sig over "keygate-reply-v1\0" || body; otherwise sig is over
 * "keygate-reply-batch-v1\0" || the root that BLAKE2b-256(0x00 || body) at
 * index with path leads to. KGE_OK, KGE_KEY_SIGNATURE (a bad signature or
 * an impossible path) or KGE_NOMEM.
 */
int	merkle_reply_verify(const uint8_t pk[KG_PUBKEY_LEN], const uint8_t *body,
	    size_t len, const uint8_t sig[KG_SIG_LEN], uint32_t index,
	    const uint8_t (*path)[KG_MERKLE_HASH_LEN], size_t depth)
	    __attribute__((warn_unused_result));

#endif
