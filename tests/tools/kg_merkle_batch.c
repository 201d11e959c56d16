/*
 * kg_merkle_batch N: sign a batch of N made-up reply bodies as keygated's
 * batched form would (proto/README.md "Batched reply signatures"; one reply
 * alone in the direct form) with a fixed test key, and print, for the
 * oracle test: "pk HEX", then per reply "reply INDEX BODY SIG PATH" (hex;
 * PATH the sibling hashes joined with ',' or '-' when empty).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keys.h"
#include "kgerr.h"
#include "merkle.h"

static const uint8_t seed[32] = {
	0x6b, 0x67, 0x2d, 0x62, 0x61, 0x74, 0x63, 0x68, 1, 2, 3, 4, 5, 6, 7, 8,
	9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24
};

static struct kg_merkle	tree;
static uint8_t		leaf[KG_MERKLE_LEAVES_MAX][KG_MERKLE_HASH_LEN];
static uint8_t		body[KG_MERKLE_LEAVES_MAX][40];

static void
hex_print(const uint8_t *b, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		printf("%02x", b[i]);
}

int
main(int argc, char **argv)
{
	struct kg_keypair	*kp;
	uint8_t			 sig[KG_SIG_LEN];
	uint8_t			 path[KG_MERKLE_DEPTH_MAX][KG_MERKLE_HASH_LEN];
	size_t			 n, i, j, blen;
	int			 depth;

	if (argc != 2 || (n = strtoul(argv[1], NULL, 10)) < 1 ||
	    n > KG_MERKLE_LEAVES_MAX) {
		fprintf(stderr, "usage: kg_merkle_batch N (1 to %u)\n",
		    KG_MERKLE_LEAVES_MAX);
		return 2;
	}
	if (sodium_init() < 0 || (kp = keypair_from_seed_new(seed)) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		for (j = 0; j < sizeof(body[i]); j++)
			body[i][j] = (uint8_t)(i * 7 + j * 13);
		blen = 8 + i % 32;
		merkle_leaf_hash(body[i], blen, leaf[i]);
	}
	printf("pk ");
	hex_print(kp->pk, KG_PUBKEY_LEN);
	printf("\n");
	if (n == 1) {
		if (keys_sign(kp, KG_DOMAIN_REPLY, body[0], 8, sig) != KGE_OK)
			return 1;
		printf("reply 0 ");
		hex_print(body[0], 8);
		printf(" ");
		hex_print(sig, sizeof(sig));
		printf(" -\n");
		keypair_free(kp);
		return 0;
	}
	if (merkle_build(&tree, (const uint8_t (*)[KG_MERKLE_HASH_LEN])leaf,
	    n) == -1 || keys_sign(kp, KG_DOMAIN_REPLY_BATCH, merkle_root(&tree),
	    KG_MERKLE_HASH_LEN, sig) != KGE_OK)
		return 1;
	for (i = 0; i < n; i++) {
		depth = merkle_path(&tree, i, path);
		printf("reply %zu ", i);
		hex_print(body[i], 8 + i % 32);
		printf(" ");
		hex_print(sig, sizeof(sig));
		printf(" ");
		for (j = 0; j < (size_t)depth; j++) {
			if (j > 0)
				printf(",");
			hex_print(path[j], KG_MERKLE_HASH_LEN);
		}
		printf("\n");
	}
	keypair_free(kp);
	return 0;
}
