/*
 * The verified-key cache. A key text's exact bytes (whitespace included: the
 * same key spelt with other whitespace is another entry, verified once more)
 * are hashed with BLAKE2b-256; the hash picks one of nsets sets of
 * KEYCACHE_WAYS entries and a tag (a lookup compares whole hashes only
 * where the tag matches), and an entry whose hash matches holds what that
 * key's verified payload says a check needs (struct keycache_key: about
 * 100 bytes, so a hit reads three cache lines, not the 400-odd bytes of a
 * whole kg_license). A miss runs license_key_parse and
 * remembers the result only when the key verified; a full set evicts its
 * least recently used entry, so memory stays what the caller gave at init
 * and nothing is allocated per request.
 *
 * The cache replaces signature verification only. The license's state
 * (revocation, renewal) always comes from the store, and the signer's trust
 * state is read from the trust set on every hit, so a key signed by a key
 * later marked compromised is refused at once. A mutex makes the cache safe
 * to share between threads; it is held for a hash compare and a copy.
 */
#include <string.h>

#include <sodium.h>

#include "keycache.h"
#include "kgerr.h"

/* Sets in an array aligned to 64 bytes each start a cache line. */
_Static_assert(sizeof(struct keycache_set) % 64 == 0,
    "a keycache_set is not a whole number of cache lines");

/* Set up an empty cache over caller-provided sets: see keycache.h. */
int
keycache_init(struct keycache *kc, struct keycache_set *set, size_t nsets)
{
	if (set == NULL || nsets == 0)
		return -1;
	memset(kc, 0, sizeof(*kc));
	if (pthread_mutex_init(&kc->lock, NULL) != 0)
		return -1;
	kc->set = set;		/* zeroed by the caller: untouched pages stay unmapped */
	kc->nsets = nsets;
	return 0;
}

/* Forget every entry: see keycache.h. */
void
keycache_fini(struct keycache *kc)
{
	if (kc->set == NULL)
		return;
	sodium_memzero(kc->set, kc->nsets * sizeof(*kc->set));
	pthread_mutex_destroy(&kc->lock);
	kc->set = NULL;
	kc->nsets = 0;
}

/* The set of hash h (its first 8 bytes) and its tag (the next 4). */
static struct keycache_set *
keycache_set(const struct keycache *kc, const uint8_t h[32], uint32_t *tag)
{
	uint64_t	v;

	memcpy(&v, h, sizeof(v));
	memcpy(tag, h + sizeof(v), sizeof(*tag));
	return &kc->set[v % kc->nsets];
}

/*
 * Look h up with the lock held: KGE_OK with *key filled, 1 for a miss, or a
 * signer error (the entry then dropped).
 */
static int
keycache_find_locked(struct keycache *kc, const uint8_t h[32],
    const struct kg_trustset *ts, struct keycache_key *key)
{
	struct keycache_set		*set;
	struct keycache_entry		*e;
	const struct kg_trust_entry	*te;
	uint32_t			 tag;
	size_t				 i;

	set = keycache_set(kc, h, &tag);
	/* Hashes of key text the client sent: nothing secret, a plain memcmp. */
	for (i = 0; i < KEYCACHE_WAYS; i++) {
		if (set->tag[i] != tag)
			continue;
		e = &set->e[i];
		if (e->stamp == 0 || memcmp(e->hash, h, 32) != 0)
			continue;
		te = trustset_find(ts, e->key.key_id);
		if (te == NULL || te->state == KG_TRUST_COMPROMISED) {
			set->tag[i] = 0;
			memset(e, 0, sizeof(*e));
			return te == NULL ? KGE_KEY_UNKNOWN_SIGNER :
			    KGE_KEY_COMPROMISED;
		}
		e->stamp = ++kc->clock;
		*key = e->key;
		return KGE_OK;
	}
	return 1;
}

/* Remember a verified key with the lock held, evicting its set's oldest. */
static void
keycache_insert_locked(struct keycache *kc, const uint8_t h[32],
    const struct keycache_key *key)
{
	struct keycache_set	*set;
	struct keycache_entry	*e;
	uint32_t		 tag;
	size_t			 i, victim = 0;

	set = keycache_set(kc, h, &tag);
	for (i = 0; i < KEYCACHE_WAYS; i++) {
		e = &set->e[i];
		if (e->stamp != 0 && set->tag[i] == tag &&
		    memcmp(e->hash, h, 32) == 0) {
			victim = i;	/* verified twice at once */
			break;
		}
		if (e->stamp < set->e[victim].stamp)
			victim = i;
	}
	e = &set->e[victim];
	memcpy(e->hash, h, 32);
	e->key = *key;
	e->stamp = ++kc->clock;
	set->tag[victim] = tag;
}

/* The keycache_key of a parsed license: see keycache.h. */
void
keycache_key_from(const struct kg_license *lic, struct keycache_key *key)
{
	memset(key, 0, sizeof(*key));
	key->serial = lic->serial;
	key->revision = lic->revision;
	memcpy(key->key_id, lic->key_id, KG_KEY_ID_LEN);
	memcpy(key->regno, lic->regno, sizeof(key->regno));
	memcpy(key->product, lic->product, sizeof(key->product));
}

/* license_key_parse, and on success its keycache_key. */
static int
keycache_parse_uncached(const char *text, size_t len,
    const struct kg_trustset *ts, struct keycache_key *key)
{
	struct kg_license	lic;
	int			rc;

	rc = license_key_parse(text, len, ts, &lic);
	if (rc == KGE_OK)
		keycache_key_from(&lic, key);
	else
		memset(key, 0, sizeof(*key));
	return rc;
}

/* license_key_parse through the cache: see keycache.h. */
int
keycache_parse(struct keycache *kc, const char *text, size_t len,
    const struct kg_trustset *ts, struct keycache_key *key)
{
	uint8_t	h[32];
	int	rc;

	if (key == NULL)
		return KGE_INVAL;
	if (kc == NULL || text == NULL || ts == NULL || len > KG_KEY_TEXT_MAX)
		return keycache_parse_uncached(text, len, ts, key);
	crypto_generichash(h, sizeof(h), (const unsigned char *)text, len,
	    NULL, 0);
	pthread_mutex_lock(&kc->lock);
	rc = keycache_find_locked(kc, h, ts, key);
	if (rc == 1)
		kc->misses++;
	else
		kc->hits++;
	pthread_mutex_unlock(&kc->lock);
	if (rc != 1) {
		if (rc != KGE_OK)
			memset(key, 0, sizeof(*key));
		return rc;
	}

	/* A miss: verify without the lock, then remember. */
	rc = keycache_parse_uncached(text, len, ts, key);
	if (rc != KGE_OK)
		return rc;
	pthread_mutex_lock(&kc->lock);
	keycache_insert_locked(kc, h, key);
	pthread_mutex_unlock(&kc->lock);
	return KGE_OK;
}

/* The number of entries in use: see keycache.h. */
size_t
keycache_count(struct keycache *kc)
{
	size_t	i, n = 0;

	pthread_mutex_lock(&kc->lock);
	for (i = 0; i < kc->nsets * KEYCACHE_WAYS; i++)
		if (kc->set[i / KEYCACHE_WAYS].e[i % KEYCACHE_WAYS].stamp != 0)
			n++;
	pthread_mutex_unlock(&kc->lock);
	return n;
}
