/*
 * The one narrow interface through which everything in keygated is signed:
 * "sign these bytes in this domain with the active key". Only signer.c holds
 * the secret key, so it can move into a separate process without touching
 * the handlers.
 */
#ifndef KG_SIGNER_H
#define KG_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "license.h"

struct signer;

/*
 * Load the secret key file (passphrase_file NULL or "" when it is not
 * sealed). On failure returns a kge code (kgerr.h) and writes one line into err.
 */
int	signer_open(const char *key_file, const char *passphrase_file,
	    struct signer **out, char *err, size_t errlen);
void	signer_close(struct signer *s);

/* The active key's public half and id. */
const uint8_t	*signer_pubkey(const struct signer *s);
const uint8_t	*signer_key_id(const struct signer *s);

/* Sign prefix(domain) || msg. 0 or -1 (sig zeroed). */
int	signer_sign(struct signer *s, enum kg_domain domain, const uint8_t *msg,
	    size_t len, uint8_t sig[KG_SIG_LEN]) __attribute__((warn_unused_result));

/*
 * Set lic->key_id to the active key, sign lic and return its key text in a
 * malloc'd string. 0 or -1.
 */
int	signer_license_key_new(struct signer *s, struct kg_license *lic, char **text)
	    __attribute__((warn_unused_result));

#endif
