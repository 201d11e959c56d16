/*
 * Vendor signing keys: Ed25519 keypairs, their ids, domain-separated
 * signatures, the secret key file (sealed with a passphrase or plain 0600),
 * public key text ("KGP1.<base64url>") and trust sets.
 *
 * Secret material lives only in memory from sodium_malloc() (guarded, locked)
 * and is wiped on free.
 */
#ifndef KG_KEYS_H
#define KG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kglimits.h"

/* Domain-separation prefixes (SPEC section 3); the NUL is part of the prefix. */
#define KG_DOMAIN_LICENSE_PREFIX	"keygate-license-v1"	/* + '\0' */
#define KG_DOMAIN_REPLY_PREFIX		"keygate-reply-v1"	/* + '\0' */
#define KG_DOMAIN_ROTATION_PREFIX	"keygate-rotation-v1"	/* + '\0' */
#define KG_DOMAIN_REPLY_BATCH_PREFIX	"keygate-reply-batch-v1"	/* + '\0'; signs a Merkle root */

enum kg_domain {
	KG_DOMAIN_LICENSE,
	KG_DOMAIN_REPLY,
	KG_DOMAIN_ROTATION,
	KG_DOMAIN_REPLY_BATCH,
};

#define KG_PUBKEY_TEXT_MAX	64	/* "KGP1." + 43 chars + NUL fits */

/* An Ed25519 keypair; always allocated with sodium_malloc by keypair_*_new. */
struct kg_keypair {
	uint8_t	sk[64];			/* libsodium secret key: seed || pk */
	uint8_t	pk[KG_PUBKEY_LEN];
	uint8_t	id[KG_KEY_ID_LEN];
};

/* A fresh random keypair, or NULL when out of memory. */
struct kg_keypair	*keypair_generate_new(void);

/* The keypair of a 32-byte seed (deterministic; for test vectors). */
struct kg_keypair	*keypair_from_seed_new(const uint8_t seed[32]);

/* Wipe and free (NULL is fine). */
void			 keypair_free(struct kg_keypair *kp);

/* id = first 8 bytes of BLAKE2b-256(pk) (SPEC section 3). */
void	key_id_compute(const uint8_t pk[KG_PUBKEY_LEN], uint8_t id[KG_KEY_ID_LEN]);

/*
 * Sign prefix(domain) || msg with kp. Writes a 64-byte signature; on failure
 * sig is zeroed and KGE_NOMEM returned.
 */
int	keys_sign(const struct kg_keypair *kp, enum kg_domain domain,
	    const uint8_t *msg, size_t len, uint8_t sig[KG_SIG_LEN])
	    __attribute__((warn_unused_result));

/* KGE_OK when sig is pk's signature of prefix(domain) || msg, else KGE_KEY_SIGNATURE. */
int	keys_verify(const uint8_t pk[KG_PUBKEY_LEN], enum kg_domain domain,
	    const uint8_t *msg, size_t len, const uint8_t sig[KG_SIG_LEN])
	    __attribute__((warn_unused_result));

/* "KGP1.<base64url-nopad(pk)>" into out (KG_PUBKEY_TEXT_MAX bytes). */
void	pubkey_format(const uint8_t pk[KG_PUBKEY_LEN], char out[KG_PUBKEY_TEXT_MAX]);

/* Parse one "KGP1." line (surrounding whitespace ignored). KGE_OK or KGE_PUBKEY_FORMAT. */
int	pubkey_parse(const char *s, uint8_t pk[KG_PUBKEY_LEN]);

/*
 * Secret key files. Plain: one line "KGS1.<base64url(seed || pk || check)>".
 * Sealed: one line "KGE1.<base64url(salt || opslimit || memlimit || nonce ||
 * secretbox(seed || pk) || check)>" with the box key from Argon2id. "check"
 * is BLAKE2b-256 of the bytes before it, so an altered file is told apart
 * from a wrong passphrase. Both are created with mode 0600 and never
 * overwrite an existing file.
 *
 * opslimit/memlimit: Argon2id cost for sealing (libsodium's
 * crypto_pwhash_OPSLIMIT_* / MEMLIMIT_* constants); ignored when passphrase
 * is NULL.
 */
int	keyfile_write(const char *path, const struct kg_keypair *kp,
	    const char *passphrase, unsigned long long opslimit, size_t memlimit);

/*
 * Load a secret key file. passphrase may be NULL for plain files. Refuses a
 * file readable by group or others (KGE_FILE_MODE), a foreign format
 * (KGE_FILE_FORMAT), a short file (KGE_FILE_TRUNCATED), a checksum mismatch
 * (KGE_FILE_CORRUPT), a wrong passphrase (KGE_PASSPHRASE), a missing one
 * (KGE_PASSPHRASE_REQUIRED) and a public key that is not the seed's
 * (KGE_PUBKEY_MISMATCH). On success *out is the caller's (keypair_free).
 */
int	keyfile_read(const char *path, const char *passphrase, struct kg_keypair **out);

/*
 * Read a passphrase file: its first line, without the line break. Returns a
 * sodium_malloc'd string (free with passphrase_free) or NULL with errno set.
 */
char	*passphrase_read_new(const char *path);
void	 passphrase_free(char *p);

/* ---- trust sets ---- */

enum kg_trust_state {
	KG_TRUST_ACTIVE,	/* signs new keys and replies */
	KG_TRUST_RETIRED,	/* its signatures still verify */
	KG_TRUST_COMPROMISED,	/* its signatures are refused */
};

struct kg_trust_entry {
	uint8_t			pk[KG_PUBKEY_LEN];
	uint8_t			id[KG_KEY_ID_LEN];
	enum kg_trust_state	state;
};

struct kg_trustset {
	struct kg_trust_entry	*entry;
	size_t			 n;
	size_t			 cap;
};

void	trustset_init(struct kg_trustset *ts);
void	trustset_clear(struct kg_trustset *ts);

/* Add pk (or update its state when present). KGE_OK or KGE_NOMEM. */
int	trustset_add(struct kg_trustset *ts, const uint8_t pk[KG_PUBKEY_LEN],
	    enum kg_trust_state state);

/* The entry whose id is id, or NULL. */
const struct kg_trust_entry *trustset_find(const struct kg_trustset *ts,
	    const uint8_t id[KG_KEY_ID_LEN]);

/*
 * Add every "KGP1." line of a text (blank lines and lines starting with '#'
 * skipped) as KG_TRUST_ACTIVE. KGE_OK, KGE_PUBKEY_FORMAT (with *bad_line set
 * to its 1-based number when bad_line is not NULL) or KGE_NOMEM.
 */
int	trustset_parse(struct kg_trustset *ts, const char *text, int *bad_line);

/* trustset_parse of a file's contents; KGE_IO when it cannot be read. */
int	trustset_load_file(struct kg_trustset *ts, const char *path, int *bad_line);

#endif
