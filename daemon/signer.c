/*
 * The signer: the only holder of the secret signing key in keygated. Every
 * signature the daemon makes (license keys, replies) goes through
 * signer_sign, which applies the domain-separation prefix. The key lives in
 * sodium_malloc'd memory and is wiped when the signer closes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kgerr.h"
#include "signer.h"

struct signer {
	struct kg_keypair	*kp;
};

/* Load the secret key file (sealed when passphrase_file is given). */
int
signer_open(const char *key_file, const char *passphrase_file, struct signer **out,
    char *err, size_t errlen)
{
	struct signer	*s = NULL;
	char		*pass = NULL;
	int		 rc;

	*out = NULL;
	if (passphrase_file != NULL && *passphrase_file != '\0' &&
	    (pass = passphrase_read_new(passphrase_file)) == NULL) {
		snprintf(err, errlen, "cannot read passphrase file %s: %s", passphrase_file,
		    strerror(errno));
		return KGE_IO;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		rc = KGE_NOMEM;
		snprintf(err, errlen, "%s", kge_strerror(rc));
		goto fail;
	}
	if ((rc = keyfile_read(key_file, pass, &s->kp)) != KGE_OK) {
		snprintf(err, errlen, "%s: %s", key_file, kge_strerror(rc));
		goto fail;
	}
	passphrase_free(pass);
	*out = s;
	return KGE_OK;
fail:
	passphrase_free(pass);
	free(s);
	return rc;
}

/* Wipe the key and free. */
void
signer_close(struct signer *s)
{
	if (s == NULL)
		return;
	keypair_free(s->kp);
	free(s);
}

/* The active key's public half. */
const uint8_t *
signer_pubkey(const struct signer *s)
{
	return s->kp->pk;
}

/* The active key's id. */
const uint8_t *
signer_key_id(const struct signer *s)
{
	return s->kp->id;
}

/* Sign prefix(domain) || msg with the active key. */
int
signer_sign(struct signer *s, enum kg_domain domain, const uint8_t *msg, size_t len,
    uint8_t sig[KG_SIG_LEN])
{
	return keys_sign(s->kp, domain, msg, len, sig) == KGE_OK ? 0 : -1;
}

/* Set lic's key id to the active key, sign it and return the key text. */
int
signer_license_key_new(struct signer *s, struct kg_license *lic, char **text)
{
	uint8_t	payload[KG_PAYLOAD_MAX], sig[KG_SIG_LEN];
	size_t	len;

	*text = NULL;
	memcpy(lic->key_id, s->kp->id, KG_KEY_ID_LEN);
	if (license_payload_pack(lic, payload, sizeof(payload), &len) != KGE_OK)
		return -1;
	if (signer_sign(s, KG_DOMAIN_LICENSE, payload, len, sig) == -1)
		return -1;
	return license_key_format(payload, len, sig, text) == KGE_OK ? 0 : -1;
}
