/*
 * Messages for the shared core's error codes.
 */
#include "kgerr.h"

const char *
kge_strerror(int err)
{
	switch (err) {
	case KGE_OK:
		return "success";
	case KGE_NOMEM:
		return "out of memory";
	case KGE_INVAL:
		return "invalid argument";
	case KGE_IO:
		return "input/output error";
	case KGE_KEY_PREFIX:
		return "not a keygate license key: it must start with \"KG1.\" and have two parts after it";
	case KGE_KEY_BASE64:
		return "license key is damaged: not base64url text (copy the key again, whole)";
	case KGE_KEY_SIZE:
		return "license key is damaged: a part has the wrong length (copy the key again, whole)";
	case KGE_KEY_DECODE:
		return "license key is damaged: its contents cannot be decoded";
	case KGE_KEY_SIGNATURE:
		return "license key signature does not verify: the key was altered or not issued by this vendor";
	case KGE_KEY_UNKNOWN_SIGNER:
		return "license key was signed by a signing key that is not trusted (check the public key file)";
	case KGE_KEY_COMPROMISED:
		return "license key was signed by a compromised signing key: ask the vendor for a reissued key";
	case KGE_FILE_MODE:
		return "secret key file is readable by group or others: chmod 600 it";
	case KGE_FILE_FORMAT:
		return "not a keygate key file";
	case KGE_FILE_TRUNCATED:
		return "key file is truncated: restore it from a backup";
	case KGE_FILE_CORRUPT:
		return "key file is corrupted (checksum mismatch): restore it from a backup";
	case KGE_PASSPHRASE:
		return "wrong passphrase for the sealed secret key";
	case KGE_PASSPHRASE_REQUIRED:
		return "secret key is sealed: give the passphrase file (--passphrase-file)";
	case KGE_PUBKEY_MISMATCH:
		return "key file's public key does not match its secret key: the file was altered";
	case KGE_PUBKEY_FORMAT:
		return "not a keygate public key: expected a line \"KGP1.<base64url>\"";
	case KGE_EXISTS:
		return "file already exists: refusing to overwrite it";
	}
	return "unknown error";
}
