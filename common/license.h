/*
 * The license: its C form, its protobuf payload, and the key text
 * "KG1.<base64url(payload)>.<base64url(signature)>" (SPEC section 3).
 */
#ifndef KG_LICENSE_H
#define KG_LICENSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "date.h"
#include "kglimits.h"

struct kg_keypair;
struct kg_trustset;

#define KG_KEY_PREFIX	"KG1."

/* A license as signed into a key. Strings are NUL-terminated UTF-8. */
struct kg_license {
	uint64_t	serial;
	char		product[KG_CODE_MAX + 1];
	char		edition[KG_CODE_MAX + 1];
	char		regno[KG_REGNO_MAX + 1];
	char		licensee[KG_LICENSEE_MAX + 1];
	kg_date		created;
	kg_date		support_expiry;		/* KG_DATE_NONE until fixed (activation basis) */
	kg_date		license_expiry;		/* KG_DATE_NONE = perpetual */
	bool		trial;
	uint8_t		key_id[KG_KEY_ID_LEN];	/* signing key */
	uint32_t	revision;
	uint32_t	support_months;		/* term when support counts from activation */
};

/*
 * Serialize lic as a LicensePayload into buf (cap bytes). *len gets the size.
 * KGE_OK, KGE_INVAL (a string too long, a field out of range) or KGE_KEY_SIZE
 * (does not fit).
 */
int	license_payload_pack(const struct kg_license *lic, uint8_t *buf, size_t cap,
	    size_t *len);

/*
 * Decode a LicensePayload. KGE_OK or KGE_KEY_DECODE (not protobuf, a string
 * over its limit or not UTF-8-safe, key_id not 8 bytes, a date out of range).
 * *lic is zeroed on failure.
 */
int	license_payload_unpack(const uint8_t *buf, size_t len, struct kg_license *lic);

/*
 * Sign lic with kp (setting lic->key_id from kp first is the caller's job:
 * KGE_INVAL when they differ) and return the key text in a malloc'd string
 * (*text, caller frees).
 */
int	license_key_new(const struct kg_license *lic, const struct kg_keypair *kp,
	    char **text);

/* A key text split into its two decoded parts, before any verification. */
struct kg_key_blob {
	uint8_t	payload[KG_PAYLOAD_MAX];
	size_t	payload_len;
	uint8_t	sig[KG_SIG_LEN];
};

/*
 * Split and base64url-decode a key text of len bytes (need not be NUL
 * terminated). Whitespace anywhere is ignored. Errors: KGE_KEY_PREFIX,
 * KGE_KEY_BASE64, KGE_KEY_SIZE. Never reads past text[len - 1].
 */
int	license_key_decode(const char *text, size_t len, struct kg_key_blob *blob);

/*
 * Decode, unpack and verify a key against a trust set. Errors in the order
 * checked: KGE_KEY_PREFIX, KGE_KEY_BASE64, KGE_KEY_SIZE, KGE_KEY_DECODE,
 * KGE_KEY_UNKNOWN_SIGNER, KGE_KEY_COMPROMISED, KGE_KEY_SIGNATURE. *lic is
 * filled only on KGE_OK (zeroed otherwise).
 */
int	license_key_parse(const char *text, size_t len, const struct kg_trustset *ts,
	    struct kg_license *lic) __attribute__((warn_unused_result));

/*
 * Write "KG1." + b64(payload) + "." + b64(sig) into a malloc'd string.
 * Used by license_key_new and by re-signing; KGE_NOMEM on failure.
 */
int	license_key_format(const uint8_t *payload, size_t len,
	    const uint8_t sig[KG_SIG_LEN], char **text);

#endif
