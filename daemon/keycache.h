/*
 * The verified-key cache: remembers keys whose Ed25519 signature has been
 * verified, so a repeat check skips the verification (issue 7, item 2).
 */
#ifndef KG_KEYCACHE_H
#define KG_KEYCACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "license.h"

#define KEYCACHE_WAYS		16	/* entries per set */
#define KEYCACHE_SETS		2048	/* the daemon's cache: 32,768 entries (5 MB) */

/*
 * What a verified key says that a check needs: which license (the store
 * has the rest, and its state), which revision of it and which signer.
 */
struct keycache_key {
	uint64_t	serial;
	uint32_t	revision;
	uint8_t		key_id[KG_KEY_ID_LEN];
	char		regno[KG_REGNO_MAX + 1];
	char		product[KG_CODE_MAX + 1];
};

/*
 * One remembered key: BLAKE2b-256 of its exact text bytes and what it
 * says, with its last use (0: empty), read with the hash on a hit.
 */
struct keycache_entry {
	uint64_t		stamp;
	uint8_t			hash[32];
	struct keycache_key	key;
};

/*
 * A set: a key may live only in the KEYCACHE_WAYS entries of the set its
 * hash selects. Its 32-bit tags (4 more bytes of each entry's hash) fill
 * the first 64 bytes, so a lookup reads one cache line of tags and then
 * only the entry whose tag matches (in an array aligned to 64 bytes, as
 * the daemon's is, every set starts on a cache line: sizeof is 37 lines).
 */
struct keycache_set {
	uint32_t		tag[KEYCACHE_WAYS];
	struct keycache_entry	e[KEYCACHE_WAYS];
};

/*
 * A set-associative cache over caller-provided sets; a new key evicts the
 * least recently used entry of its set. Memory is fixed at init.
 */
struct keycache {
	pthread_mutex_t		 lock;
	struct keycache_set	*set;
	size_t			 nsets;
	uint64_t		 clock;
	uint64_t		 hits;
	uint64_t		 misses;
};

/*
 * Use nsets zeroed sets at set (at least one; static or calloc'd storage,
 * so pages never used are never touched) as an empty cache. 0, or -1 when
 * there is no set.
 */
int	keycache_init(struct keycache *kc, struct keycache_set *set,
	    size_t nsets);

/* Wipe every entry (zeroed again, fit for keycache_init) and release the lock. */
void	keycache_fini(struct keycache *kc);

/*
 * license_key_parse through the cache (kc NULL: none, every key verified),
 * into what the key says (*key). On a
 * hit the signature is not verified again, but the signer's trust state
 * is: a signer no longer in ts is KGE_KEY_UNKNOWN_SIGNER and a compromised
 * one KGE_KEY_COMPROMISED (and the entry is dropped). On a miss the key is
 * parsed and, when it verifies, remembered. Same results as
 * license_key_parse and keycache_key_from; *key zeroed on failure.
 */
int	keycache_parse(struct keycache *kc, const char *text, size_t len,
	    const struct kg_trustset *ts, struct keycache_key *key);

/* The keycache_key of a parsed license. */
void	keycache_key_from(const struct kg_license *lic, struct keycache_key *key);

/* The number of entries in use (for tests: at most nsets * KEYCACHE_WAYS). */
size_t	keycache_count(struct keycache *kc);

#endif
