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
 *	text		on failure, one line saying what is wrong and what
 *			to do (no NUL; at most SIGNER_TEXT_MAX bytes)
 *
 *   request (parent -> child)
 *	u32 domain	enum kg_domain
 *	u32 length	bytes that follow, at most SIGNER_MSG_MAX
 *	u8  msg[length]
 *
 *   reply (child -> parent)
 *	u32 status	SIGNER_STATUS_*
 *	u8  sig[64]	Ed25519 signature of prefix(domain) || msg (zero
 *			unless status is SIGNER_STATUS_OK)
 */
#ifndef KG_SIGNER_PROC_H
#define KG_SIGNER_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define SIGNER_PROC_NAME	"keygated-signer"	/* comm, as ps shows it */
#define SIGNER_MSG_MAX		(KG_FRAME_MAX + 1024)	/* bytes one request may sign */
#define SIGNER_REQ_HEADER	8
#define SIGNER_REQ_MAX		(SIGNER_REQ_HEADER + SIGNER_MSG_MAX)
#define SIGNER_REPLY_LEN	(4 + KG_SIG_LEN)
#define SIGNER_TEXT_MAX		1024
#define SIGNER_HELLO_HEADER	(4 + KG_PUBKEY_LEN)
#define SIGNER_HELLO_MAX	(SIGNER_HELLO_HEADER + SIGNER_TEXT_MAX)

/* The systemd credential that holds the passphrase of a sealed key. */
#define SIGNER_CREDENTIAL_NAME	"keygated-passphrase"

enum signer_status {
	SIGNER_STATUS_OK = 0,
	SIGNER_STATUS_REFUSED = 1,	/* unknown domain or bad length */
	SIGNER_STATUS_FAILED = 2,	/* signing failed (out of memory) */
};

/*
 * The child's whole life after fork(): shield itself from ptrace and core
 * dumps, close every descriptor but fd and stderr, load key_file (sealed:
 * with the first line of pass_file, NULL or "" when none), send the hello and
 * serve requests until fd reaches end of file or SIGTERM arrives. Never
 * returns; the key is wiped before a normal exit.
 */
void	signer_proc_main(int fd, const char *key_file, const char *pass_file)
	    __attribute__((noreturn));

#endif
