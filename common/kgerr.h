/*
 * Error codes of the shared core (key format, key files, trust sets).
 * Functions return KGE_OK (0) or one of these negative codes.
 */
#ifndef KG_ERR_H
#define KG_ERR_H

enum kg_err {
	KGE_OK = 0,
	KGE_NOMEM = -1,			/* out of memory */
	KGE_INVAL = -2,			/* bad argument */
	KGE_IO = -3,			/* read/write failed (errno is kept) */
	/* license key text */
	KGE_KEY_PREFIX = -10,		/* does not start with "KG1." or lacks the second '.' */
	KGE_KEY_BASE64 = -11,		/* not base64url without padding */
	KGE_KEY_SIZE = -12,		/* payload or signature of the wrong size */
	KGE_KEY_DECODE = -13,		/* payload is not a valid LicensePayload */
	KGE_KEY_SIGNATURE = -14,	/* signature does not verify */
	KGE_KEY_UNKNOWN_SIGNER = -15,	/* signed by a key not in the trust set */
	KGE_KEY_COMPROMISED = -16,	/* signed by a key marked compromised */
	/* signing-key and public-key files */
	KGE_FILE_MODE = -20,		/* secret key file readable by group or others */
	KGE_FILE_FORMAT = -21,		/* not a keygate key file */
	KGE_FILE_TRUNCATED = -22,	/* shorter than its format */
	KGE_FILE_CORRUPT = -23,		/* checksum does not match: altered */
	KGE_PASSPHRASE = -24,		/* wrong passphrase */
	KGE_PASSPHRASE_REQUIRED = -25,	/* sealed file and no passphrase given */
	KGE_PUBKEY_MISMATCH = -26,	/* stored public key is not the seed's */
	KGE_PUBKEY_FORMAT = -27,	/* not a "KGP1.<base64url>" public key */
	KGE_EXISTS = -28,		/* file already exists */
};

/* One line, no trailing period, saying what went wrong and what to do. */
const char	*kge_strerror(int err);

#endif
