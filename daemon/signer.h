/*
 * The one narrow interface through which everything in keygated is signed:
 * "sign these bytes in this domain with the active key". The secret key
 * lives in a separate signer process (signer_proc.h) that signer_open
 * starts; keygated itself never holds it.
 */
#ifndef KG_SIGNER_H
#define KG_SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "license.h"

struct event_base;
struct signer;

/*
 * Start the signer process and have it load the secret key file
 * (passphrase_file NULL or "" when it is not sealed; then the systemd
 * credential $CREDENTIALS_DIRECTORY/keygated-passphrase is used when it
 * exists). Waits until the key is loaded. On failure returns a kge code
 * (kgerr.h) and writes one line into err saying what to fix.
 */
int	signer_open(const char *key_file, const char *passphrase_file,
	    struct signer **out, char *err, size_t errlen);

/* Close the socket (the signer process wipes the key and exits), reap it, free. */
void	signer_close(struct signer *s);

/*
 * Watch the signer process from base's loop, so that one that dies while
 * idle is restarted at once. When the signer gives up (a restart failed, the
 * key file now holds another key, or it had to restart too often), it signs
 * nothing more and calls stop(arg) once. base may be NULL (no watching: a
 * dead signer is found at the next signature). 0 or -1. Call signer_close
 * before freeing base.
 */
int	signer_watch(struct signer *s, struct event_base *base,
	    void (*stop)(void *), void *arg);

/* True once the signer gave up (see signer_watch). */
bool	signer_failed(const struct signer *s);

/* A serialized RotationBody (keygate.proto) is 55 bytes at most. */
#define SIGNER_ROTATION_BODY_MAX	128

/* The active key's public half and id. */
const uint8_t	*signer_pubkey(const struct signer *s);
const uint8_t	*signer_key_id(const struct signer *s);

/*
 * Sign prefix(domain) || msg (len at most KG_FRAME_MAX + 1024; domain
 * KG_DOMAIN_LICENSE, KG_DOMAIN_REPLY, or KG_DOMAIN_REPLY_BATCH over exactly
 * one Merkle root of KG_MERKLE_HASH_LEN bytes: rotation statements come only
 * from signer_rotate_prepare). Blocks until
 * the signer process answers (5 s at most; a dead or hung one is restarted
 * and asked again). 0 or -1 (sig zeroed).
 */
int	signer_sign(struct signer *s, enum kg_domain domain, const uint8_t *msg,
	    size_t len, uint8_t sig[KG_SIG_LEN]) __attribute__((warn_unused_result));

/*
 * Set lic->key_id to the active key, sign lic and return its key text in a
 * malloc'd string. A text signed before for the same payload is kept and
 * given again without a signature (*kept true; kept may be NULL). 0 or -1.
 */
int	signer_license_key_new(struct signer *s, struct kg_license *lic, char **text,
	    bool *kept) __attribute__((warn_unused_result));

/*
 * Bulk signing of license payloads (key.issue --count): many payloads a
 * request, several requests outstanding, so that keygated stores and
 * encodes keys, and runs its event loop, while the signer process signs.
 *
 * signer_many_submit sends payload[0..n) (n from 1 to SIGNER_MANY_MAX,
 * each 1 to KG_PAYLOAD_MAX bytes, as many as signer_many_fits allows in
 * one request) to be signed in KG_DOMAIN_LICENSE and returns at once with
 * a ticket: 0, 1 when SIGNER_MANY_SLOTS requests are outstanding already
 * (collect first, or sign another way), -1 on failure (logged). The
 * socket's buffer holds SIGNER_MANY_INFLIGHT requests of
 * SIGNER_MANY_BYTES_MAX (sending more waits while the process reads).
 * signer_many_collect waits for the ticket's n signatures (n as submitted)
 * into sig: 0, or -1 (logged; sig zeroed). Requests may stay outstanding
 * while the event loop runs: their replies are received by the signer's
 * watch (signer_watch) or before any other exchange, and kept until they
 * are collected. A signer process that dies, hangs (5 s without an answer)
 * or answers garbage is restarted as for signer_sign and sent the
 * outstanding requests again; a request that failed twice fails.
 * signer_many_cancel gives a ticket up (its reply is dropped when it
 * comes). Every ticket must be collected or cancelled.
 * signer_many_ready says, without waiting, whether collecting the ticket
 * would not wait: its reply is in (replies already sent by the process
 * are received first), it failed, or it is unknown.
 */
#define SIGNER_MANY_MAX		512	/* payloads in one request */
#define SIGNER_MANY_SLOTS	12	/* requests outstanding, all callers */
#define SIGNER_MANY_INFLIGHT	3	/* full requests the socket buffers */
/* Payload bytes of one request: signer_many_fits never allows more. */
#define SIGNER_MANY_BYTES_MAX	(KG_FRAME_MAX + 1024)

int	signer_many_submit(struct signer *s, const uint8_t *const payload[],
	    const size_t len[], size_t n, uint64_t *ticket)
	    __attribute__((warn_unused_result));
int	signer_many_collect(struct signer *s, uint64_t ticket,
	    uint8_t (*sig)[KG_SIG_LEN], size_t n)
	    __attribute__((warn_unused_result));
void	signer_many_cancel(struct signer *s, uint64_t ticket);
bool	signer_many_ready(struct signer *s, uint64_t ticket);
/* Requests submitted and neither collected nor cancelled yet. */
size_t	signer_many_outstanding(const struct signer *s);
/* Whether n payloads of total bytes (lengths summed) fit one request. */
bool	signer_many_fits(size_t n, size_t total);

/*
 * Signing-key rotation, in three steps (the order, and what a crash between
 * them leaves, is documented in daemon/admin_signing.c):
 *
 * 1. signer_rotate_prepare: the signer process makes a new keypair, writes
 *    it to KEYFILE.new (sealed with the passphrase of the current key file
 *    when that is sealed) and signs RotationBody{new_public_key, old_key_id,
 *    created} with the active key over "keygate-rotation-v1\0" || body.
 *    Out: the new public key, the body bytes (*bodylen of them) and the
 *    signature. The active key does not change. 0 or -1 (logged).
 * 2. The caller records the new key and its statement in the store.
 * 3. signer_rotate_commit: KEYFILE.new replaces KEYFILE and the new key
 *    signs everything from now on (signer_pubkey and signer_key_id say so).
 *    -1 when the process could not switch: then the signer has given up
 *    (signer_failed; keygated stops and finishes the rotation at its next
 *    start). Or instead signer_rotate_abort: KEYFILE.new is removed. 0 or -1.
 *
 * The signer itself never signs given bytes in KG_DOMAIN_ROTATION: only
 * step 1, over a body it built for a key it made.
 */
int	signer_rotate_prepare(struct signer *s, int64_t created,
	    uint8_t new_pk[KG_PUBKEY_LEN], uint8_t body[SIGNER_ROTATION_BODY_MAX],
	    size_t *bodylen, uint8_t sig[KG_SIG_LEN])
	    __attribute__((warn_unused_result));
int	signer_rotate_commit(struct signer *s, const uint8_t new_pk[KG_PUBKEY_LEN])
	    __attribute__((warn_unused_result));
int	signer_rotate_abort(struct signer *s, const uint8_t new_pk[KG_PUBKEY_LEN]);

/*
 * At start, once the store is open: a KEYFILE.new the signer process found
 * (a rotation cut short) is committed when it is active_pk, the store's
 * active key (NULL: none known), and the key file is not; otherwise it is
 * removed. 0, or -1 when the signer gave up (logged).
 */
int	signer_rotate_recover(struct signer *s, const uint8_t *active_pk);

#endif
