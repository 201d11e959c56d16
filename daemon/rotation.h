/*
 * Rotation statements on the public port (proto/README.md, "Signing-key
 * rotation"): the handler of RotationsRequest, which answers with every
 * statement the store holds that may be served, oldest first, and the
 * list of signing keys and decoding of one stored statement, which the
 * admin ops share.
 */
#ifndef KG_ROTATION_H
#define KG_ROTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate.pb-c.h"
#include "kglimits.h"

#define ROTATION_PUBKEY_FILE	"signing.pub"	/* in the data dir: what 'keygated pubkey' prints */

struct handler_reply;
struct request_ctx;
struct store;
struct store_signing_key;

/* Signing keys beyond this many are not listed (a rotation a week for decades). */
#define ROTATION_KEYS_MAX	4096

/* The store's signing keys, copied (the admin ops share the list). */
struct rotation_keys {
	struct store_signing_key	*k;	/* free() */
	size_t				 n, cap;
	bool				 nomem;	/* out of memory: k is incomplete */
};

/*
 * Copy the store's first ROTATION_KEYS_MAX signing keys into ks (zeroed
 * first; free ks->k also on failure). A store code; check ks->nomem too.
 */
int	rotation_keys_load(struct store *st, struct rotation_keys *ks);

/* What a stored RotationStatement says (its signature is not checked here). */
struct rotation_info {
	uint8_t	old_id[KG_KEY_ID_LEN];	/* the key that signed it */
	uint8_t	new_pk[KG_PUBKEY_LEN];	/* the key it introduces */
	int64_t	created;		/* Unix seconds */
};

/* Decode a serialized RotationStatement and its body. 0, or -1 when malformed. */
int	rotation_statement_read(const uint8_t *buf, size_t len,
	    struct rotation_info *out);

/*
 * The statements to serve, in *out (free with rotation_statements_free):
 * every stored one whose old key and new key are both known and not
 * compromised, each after the statement that introduced its old key
 * (oldest first). 0, or -1 (logged) on a store error or out of memory.
 */
int	rotation_statements_new(struct store *st, Keygate__Rotations **out);
void	rotation_statements_free(Keygate__Rotations *r);

/*
 * Make DATADIR/signing.pub say pk ("KGP1..." and a line break), replacing
 * it atomically (temporary file, fsync, rename, fsync of the directory) when
 * it says anything else. 0, or -1 (logged).
 */
int	rotation_pubkey_sync(const char *datadir, const uint8_t pk[KG_PUBKEY_LEN]);

/* Answer a RotationsRequest: out->rotations, or an Error reply. */
void	rotation_handle(const struct request_ctx *rc, struct handler_reply *out);

#endif
