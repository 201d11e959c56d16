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

/* The active key's public half and id. */
const uint8_t	*signer_pubkey(const struct signer *s);
const uint8_t	*signer_key_id(const struct signer *s);

/*
 * Sign prefix(domain) || msg (len at most KG_FRAME_MAX + 1024). Blocks until
 * the signer process answers (5 s at most; a dead or hung one is restarted
 * and asked again). 0 or -1 (sig zeroed).
 */
int	signer_sign(struct signer *s, enum kg_domain domain, const uint8_t *msg,
	    size_t len, uint8_t sig[KG_SIG_LEN]) __attribute__((warn_unused_result));

/*
 * Set lic->key_id to the active key, sign lic and return its key text in a
 * malloc'd string. 0 or -1.
 */
int	signer_license_key_new(struct signer *s, struct kg_license *lic, char **text)
	    __attribute__((warn_unused_result));

#endif
