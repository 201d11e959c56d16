/*
 * The signer process: a child of keygated that alone loads the secret
 * signing key and signs fixed-format requests received over a socketpair
 * (as OpenSMTPD's "ca" process). daemon/signer.c starts it and speaks to it;
 * nothing else includes this header.
 *
 * The socket is AF_UNIX SOCK_SEQPACKET: one message per packet, so the
 * framing is the packet. Integers are 32-bit in host byte order (both ends
 * are one program on one machine).
 *
 *   hello (child -> parent, once, after loading the key)
 *	i32 status	0, or the kge code (kgerr.h) of the failed load
 *	u8  pk[32]	the public key (zero on failure)
 *	u8  pending[32]	the public key of KEYFILE.new, a rotation that was
 *			prepared and neither committed nor aborted (zero when
 *			there is none)
 *	text		on failure, one line saying what is wrong and what
 *			to do (no NUL; at most SIGNER_TEXT_MAX bytes)
 *
 *   request (parent -> child)
 *	u32 type	an enum kg_domain: sign msg in that domain (never
 *			KG_DOMAIN_ROTATION, which only a rotation signs), or
 *			a SIGNER_OP_* below
 *	u32 length	bytes that follow, at most SIGNER_MSG_MAX
 *	u8  msg[length]
 *
 *   reply (child -> parent)
 *	u32 status	SIGNER_STATUS_*
 *	u8  sig[64]	Ed25519 signature of prefix(domain) || msg (zero
 *			unless status is SIGNER_STATUS_OK)
 *
 * Rotation (issue 6; the order and why it survives a crash are in
 * daemon/admin_signing.c):
 *
 *   SIGNER_OP_ROTATE_PREPARE, msg = i64 created (Unix seconds): make a new
 *   keypair, write it to KEYFILE.new (0600, O_EXCL; when KEYFILE is
 *   sealed, sealed with the passphrase file read again, which must still
 *   open KEYFILE; a stale KEYFILE.new is removed first), and sign RotationBody{new_public_key, old_key_id =
 *   the active key's id, created} in KG_DOMAIN_ROTATION with the active
 *   key. The new key is pending: the active key does not change. Reply:
 *	u32 status, u8 pk[32] (the new key), u8 sig[64], u8 body[n]
 *	(the serialized RotationBody, n <= SIGNER_ROTATION_BODY_MAX).
 *
 *   SIGNER_OP_ROTATE_COMMIT, msg = the pending pk[32]: rename KEYFILE.new
 *   over KEYFILE and sign with the new key from now on; the old secret
 *   key is wiped from memory and its file is gone (replaced). Reply as a
 *   signature's, sig zero.
 *
 *   SIGNER_OP_ROTATE_ABORT, msg = the pending pk[32]: forget the pending
 *   key and remove KEYFILE.new. Reply as a signature's, sig zero.
 *
 * Bulk issuance (issue 7, key.issue --count):
 *
 *   SIGNER_OP_SIGN_MANY, msg = u32 count, then count times { u32 length,
 *   u8 payload[length] }, filling msg exactly: 1 to SIGNER_MANY_MAX
 *   license payloads of 1 to KG_PAYLOAD_MAX bytes each, every one signed
 *   in KG_DOMAIN_LICENSE, the only domain signed many at a time (replies
 *   are batched under one Merkle root instead). Reply:
 *	u32 status, u32 count, u8 sig[64] times count, in the request's
 *	order (SIGNER_MANY_REPLY_HEADER + 64 * count bytes, at most
 *	SIGNER_MANY_REPLY_MAX); on a refusal or failure a signature's reply,
 *	sig zero: all the payloads are signed or none.
 *   The parent may send up to SIGNER_MANY_SLOTS of these before it reads
 *   the first reply, so this process signs while keygated stores and
 *   encodes other keys: requests are served one after another and
 *   answered in order. A request is at most SIGNER_REQ_MAX bytes like any
 *   other; the parent's send buffer holds SIGNER_MANY_INFLIGHT of them.
 *
 * The priority socket: a second socketpair of the same framing, for
 * single signatures only (a request of another type is refused there).
 * Whatever waits on it is served before the next request of the first
 * socket, and between the signatures of a sign-many request, every
 * PROC_PRIO_EVERY of them: an update check's reply signature waits for the
 * signature being made, not for a bulk issue's queue of sign-many requests
 * (27 ms of signing, daemon/admin_issue.c). A priority request is answered
 * on the priority socket.
 *
 * Each rotation op needs one descriptor at a time for a moment (the
 * passphrase file, KEYFILE, KEYFILE.new, the directory for fsync), so
 * RLIMIT_NOFILE is PROC_PRIO_FD + 2: one number above the fixed ones, free
 * while no rotation runs.
 */
#ifndef KG_SIGNER_PROC_H
#define KG_SIGNER_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "signer.h"

#define SIGNER_PROC_NAME	"keygated-signer"	/* comm, as ps shows it */
#define SIGNER_MSG_MAX		(KG_FRAME_MAX + 1024)	/* bytes one request may sign */
#define SIGNER_REQ_HEADER	8
#define SIGNER_REQ_MAX		(SIGNER_REQ_HEADER + SIGNER_MSG_MAX)
#define SIGNER_REPLY_LEN	(4 + KG_SIG_LEN)
#define SIGNER_TEXT_MAX		1024
#define SIGNER_HELLO_HEADER	(4 + 2 * KG_PUBKEY_LEN)
#define SIGNER_HELLO_MAX	(SIGNER_HELLO_HEADER + SIGNER_TEXT_MAX)
#define SIGNER_ROTATE_HEADER	(4 + KG_PUBKEY_LEN + KG_SIG_LEN)
#define SIGNER_ROTATE_REPLY_MAX	(SIGNER_ROTATE_HEADER + SIGNER_ROTATION_BODY_MAX)
#define SIGNER_PENDING_SUFFIX	".new"		/* KEYFILE.new: a prepared key */

/* Request types beyond the domains (enum kg_domain is 0, 1, 2). */
#define SIGNER_OP_ROTATE_PREPARE	0x100
#define SIGNER_OP_ROTATE_COMMIT		0x101
#define SIGNER_OP_ROTATE_ABORT		0x102
#define SIGNER_OP_SIGN_MANY		0x103

/* SIGNER_OP_SIGN_MANY (SIGNER_MANY_MAX, _SLOTS and _INFLIGHT: signer.h). */
#define SIGNER_MANY_HEADER	4			/* u32 count */
#define SIGNER_MANY_ENTRY_HEADER	4		/* u32 length */
#define SIGNER_MANY_REPLY_HEADER	8		/* u32 status, u32 count */
#define SIGNER_MANY_REPLY_MAX	(SIGNER_MANY_REPLY_HEADER + \
				    SIGNER_MANY_MAX * KG_SIG_LEN)

/* The systemd credential that holds the passphrase of a sealed key. */
#define SIGNER_CREDENTIAL_NAME	"keygated-passphrase"

enum signer_status {
	SIGNER_STATUS_OK = 0,
	SIGNER_STATUS_REFUSED = 1,	/* unknown type, bad length, no such pending key */
	SIGNER_STATUS_FAILED = 2,	/* signing or a file operation failed (logged) */
};

/*
 * The child's whole life after fork(): shield itself from ptrace and core
 * dumps, close every descriptor but fd, pfd (the priority socket, or -1
 * for none) and stderr, load key_file (sealed: with the first line of
 * pass_file, NULL or "" when none) and a pending key_file.new when there
 * is one, send the hello on fd and serve requests until fd reaches end of
 * file or SIGTERM arrives. The passphrase is wiped once the keys are
 * loaded; a rotation reads it again. Never returns; the keys are wiped
 * before a normal exit.
 */
void	signer_proc_main(int fd, int pfd, const char *key_file,
	    const char *pass_file) __attribute__((noreturn));

#endif
