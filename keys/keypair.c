/*
 * Ed25519 keypairs in guarded memory, their 8-byte ids and the
 * domain-separated signatures made with them (SPEC section 3): every
 * signature covers prefix || '\0' || message, so a standard Ed25519 verifier
 * checks it against those exact bytes and a signature of one domain is never
 * accepted in another.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kgerr.h"
#include "keys.h"

static int
keypair_sodium_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

/*
 * The prefix of a domain, NUL included in *len; NULL for an unknown domain.
 */
static const char *
keys_domain_prefix(enum kg_domain domain, size_t *len)
{
	switch (domain) {
	case KG_DOMAIN_LICENSE:
		*len = sizeof(KG_DOMAIN_LICENSE_PREFIX);
		return KG_DOMAIN_LICENSE_PREFIX;
	case KG_DOMAIN_REPLY:
		*len = sizeof(KG_DOMAIN_REPLY_PREFIX);
		return KG_DOMAIN_REPLY_PREFIX;
	case KG_DOMAIN_ROTATION:
		*len = sizeof(KG_DOMAIN_ROTATION_PREFIX);
		return KG_DOMAIN_ROTATION_PREFIX;
	case KG_DOMAIN_REPLY_BATCH:
		*len = sizeof(KG_DOMAIN_REPLY_BATCH_PREFIX);
		return KG_DOMAIN_REPLY_BATCH_PREFIX;
	}
	return NULL;
}

/*
 * A malloc'd copy of prefix || '\0' || msg, its length in *outlen; NULL when
 * out of memory or the length overflows.
 */
static uint8_t *
keys_domain_message_new(const char *prefix, size_t plen, const uint8_t *msg,
    size_t len, size_t *outlen)
{
	uint8_t	*buf;

	if (len > SIZE_MAX - plen)
		return NULL;
	if ((buf = malloc(plen + len)) == NULL)
		return NULL;
	memcpy(buf, prefix, plen);	/* plen counts the NUL */
	if (len > 0)
		memcpy(buf + plen, msg, len);
	*outlen = plen + len;
	return buf;
}

/* Compute a key id: the first 8 bytes of BLAKE2b-256 of the public key. */
void
key_id_compute(const uint8_t pk[KG_PUBKEY_LEN], uint8_t id[KG_KEY_ID_LEN])
{
	uint8_t	h[KG_HASH_LEN];

	(void)keypair_sodium_init();
	crypto_generichash(h, sizeof(h), pk, KG_PUBKEY_LEN, NULL, 0);
	memcpy(id, h, KG_KEY_ID_LEN);
}

/* Generate a random keypair in sodium_malloc'd memory. */
struct kg_keypair *
keypair_generate_new(void)
{
	struct kg_keypair	*kp;

	if (keypair_sodium_init() == -1)
		return NULL;
	if ((kp = sodium_malloc(sizeof(*kp))) == NULL)
		return NULL;
	if (crypto_sign_keypair(kp->pk, kp->sk) != 0) {
		sodium_free(kp);
		return NULL;
	}
	key_id_compute(kp->pk, kp->id);
	return kp;
}

/* Derive the keypair of a 32-byte seed in sodium_malloc'd memory. */
struct kg_keypair *
keypair_from_seed_new(const uint8_t seed[32])
{
	struct kg_keypair	*kp;

	if (keypair_sodium_init() == -1)
		return NULL;
	if ((kp = sodium_malloc(sizeof(*kp))) == NULL)
		return NULL;
	if (crypto_sign_seed_keypair(kp->pk, kp->sk, seed) != 0) {
		sodium_free(kp);
		return NULL;
	}
	key_id_compute(kp->pk, kp->id);
	return kp;
}

/* Wipe and free a keypair; sodium_free zeroes the memory. */
void
keypair_free(struct kg_keypair *kp)
{
	if (kp == NULL)
		return;
	sodium_free(kp);
}

/* Sign prefix(domain) || '\0' || msg; sig is zeroed on failure. */
int
keys_sign(const struct kg_keypair *kp, enum kg_domain domain,
    const uint8_t *msg, size_t len, uint8_t sig[KG_SIG_LEN])
{
	const char	*prefix;
	uint8_t		*buf = NULL;
	size_t		 plen = 0, blen;
	int		 rc = KGE_NOMEM;

	if (kp == NULL || (msg == NULL && len > 0) ||
	    (prefix = keys_domain_prefix(domain, &plen)) == NULL) {
		rc = KGE_INVAL;
		goto fail;
	}
	if (keypair_sodium_init() == -1)
		goto fail;
	if ((buf = keys_domain_message_new(prefix, plen, msg, len,
	    &blen)) == NULL)
		goto fail;
	if (crypto_sign_detached(sig, NULL, buf, blen, kp->sk) != 0)
		goto fail;
	free(buf);
	return KGE_OK;

 fail:
	free(buf);
	sodium_memzero(sig, KG_SIG_LEN);
	return rc;
}

/* Check that sig is pk's signature of prefix(domain) || '\0' || msg. */
int
keys_verify(const uint8_t pk[KG_PUBKEY_LEN], enum kg_domain domain,
    const uint8_t *msg, size_t len, const uint8_t sig[KG_SIG_LEN])
{
	const char	*prefix;
	uint8_t		*buf;
	size_t		 plen = 0, blen;
	int		 rc;

	if (pk == NULL || sig == NULL || (msg == NULL && len > 0) ||
	    (prefix = keys_domain_prefix(domain, &plen)) == NULL)
		return KGE_KEY_SIGNATURE;
	if (keypair_sodium_init() == -1)
		return KGE_NOMEM;
	if ((buf = keys_domain_message_new(prefix, plen, msg, len,
	    &blen)) == NULL)
		return KGE_NOMEM;
	rc = crypto_sign_verify_detached(sig, buf, blen, pk) == 0 ?
	    KGE_OK : KGE_KEY_SIGNATURE;
	free(buf);
	return rc;
}
