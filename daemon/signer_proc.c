/*
 * The signer process (signer_proc.h): what keygated's child runs after
 * fork(). It drops what it does not need (every descriptor but its socket
 * and stderr, the signal handlers inherited from libevent, core dumps,
 * ptrace attach, new files and processes once the key is loaded), loads the
 * secret key into sodium_malloc'd, locked memory, reports the public half and
 * then signs requests, one packet in and one packet out, until its parent
 * closes the socket or SIGTERM arrives.
 *
 * The parent may have had other threads when it forked, so the child uses no
 * stdio and no lock such a thread could have held: system calls, libsodium
 * and the shared core only, and its own log line writer.
 *
 * A rotation (signer_proc.h) is made here, because only this process may
 * hold secret keys: the new keypair is generated here, written to
 * KEYFILE.new (when KEYFILE is sealed, sealed with the passphrase file read
 * again and checked to open KEYFILE still; it is wiped right after, as at
 * start), and the statement that
 * vouches for it is signed here with the old key. The parent can ask for
 * a rotation but never for a signature in the rotation domain over bytes
 * of its choosing: a bug in the network process cannot make the old key
 * vouch for a key someone else holds. Committing renames KEYFILE.new over
 * KEYFILE, so the retired secret key is deleted, not kept: its public half
 * (in the store) is all that verifying old signatures needs.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "date.h"
#include "keygate.pb-c.h"
#include "kgerr.h"
#include "merkle.h"
#include "signer_proc.h"

#define PROC_FD		3	/* where the socket moves to */
#define PROC_PRIO_FD	4	/* ... and the priority socket */
#define PROC_PRIO_EVERY	4	/* sign-many signatures between looks at it */
#define PROC_REPLY_SMALL (SIGNER_ROTATE_REPLY_MAX > SIGNER_REPLY_LEN ? \
			    SIGNER_ROTATE_REPLY_MAX : SIGNER_REPLY_LEN)
#define PROC_REPLY_MAX	(SIGNER_MANY_REPLY_MAX > PROC_REPLY_SMALL ? \
			    SIGNER_MANY_REPLY_MAX : PROC_REPLY_SMALL)

/* Argon2id cost of a key sealed by a rotation: keygated init's. */
#define PROC_SEAL_OPSLIMIT	crypto_pwhash_OPSLIMIT_MODERATE
#define PROC_SEAL_MEMLIMIT	crypto_pwhash_MEMLIMIT_MODERATE

/* Everything the process holds. */
struct proc {
	int			 fd;
	int			 pfd;		/* priority socket, or -1 */
	const char		*key_file;
	char			 pending_file[PATH_MAX];	/* KEYFILE.new */
	struct kg_keypair	*kp;		/* the active key */
	struct kg_keypair	*pending;	/* prepared by a rotation, or NULL */
	const char		*pass_file;	/* NULL or "" when none */
	bool			 sealed;	/* the key file needs the passphrase */
	uint8_t			*req;
	uint8_t			*preq;		/* a priority request */
	bool			 gone;		/* the parent closed a socket */
};

static volatile sig_atomic_t	proc_terminate;

static void	proc_prio_serve(struct proc *);

/* One line on stderr, in log.c's format, without stdio. */
static void __attribute__((format(printf, 1, 2)))
proc_log(const char *fmt, ...)
{
	char		 line[1024], day[KG_DATE_TEXT_LEN];
	time_t		 now = time(NULL);
	long		 sec = (long)(now % 86400);
	va_list		 ap;
	size_t		 len;
	int		 n;

	date_format(date_from_time(now), day);
	n = snprintf(line, sizeof(line), "%sT%02ld:%02ld:%02ldZ %s[error]: ", day,
	    sec / 3600, sec / 60 % 60, sec % 60, SIGNER_PROC_NAME);
	if (n < 0)
		return;
	len = (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	len += (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	(void)!write(STDERR_FILENO, line, len);
}

static void
proc_on_sigterm(int sig)
{
	(void)sig;
	proc_terminate = 1;
}

/*
 * Signals: follow the parent rather than the terminal (SIGINT, SIGHUP and
 * SIGQUIT are the parent's to handle; the child ends when its socket
 * closes), end on SIGTERM, and drop libevent's inherited handlers.
 */
static void
proc_signals_reset(void)
{
	static const int	 ignored[] = { SIGINT, SIGHUP, SIGQUIT, SIGPIPE };
	static const int	 dfl[] = { SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM };
	struct sigaction	 sa;
	sigset_t		 none;
	size_t			 i;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		(void)sigaction(ignored[i], &sa, NULL);
	sa.sa_handler = SIG_DFL;
	for (i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
		(void)sigaction(dfl[i], &sa, NULL);
	sa.sa_handler = proc_on_sigterm;	/* no SA_RESTART: ppoll returns */
	(void)sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * Keep the sockets (moved to PROC_FD and PROC_PRIO_FD; *pfd may be -1) and
 * stderr; /dev/null on 0 and 1.
 */
static int
proc_fds_close(int *fd, int *pfd)
{
	int	a, b = -1, null;

	/* Above the fixed numbers first, so one move cannot undo the other. */
	if ((a = fcntl(*fd, F_DUPFD, PROC_PRIO_FD + 1)) == -1 ||
	    (*pfd != -1 && (b = fcntl(*pfd, F_DUPFD, PROC_PRIO_FD + 1)) == -1))
		return -1;
	if (dup2(a, PROC_FD) == -1 || (b != -1 && dup2(b, PROC_PRIO_FD) == -1))
		return -1;
	if (close_range(b != -1 ? PROC_PRIO_FD + 1 : PROC_FD + 1, ~0U, 0) ==
	    -1) {
		long	max = sysconf(_SC_OPEN_MAX);

		for (long i = b != -1 ? PROC_PRIO_FD + 1 : PROC_FD + 1;
		    i < (max > 0 ? max : 1024); i++)
			(void)close((int)i);
	}
	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	if (dup2(null, STDIN_FILENO) == -1 || dup2(null, STDOUT_FILENO) == -1 ||
	    ((*fd == STDERR_FILENO || *pfd == STDERR_FILENO) &&
	    dup2(null, STDERR_FILENO) == -1))
		return -1;
	if (null > STDERR_FILENO && null != PROC_FD && null != PROC_PRIO_FD)
		(void)close(null);
	*fd = PROC_FD;
	if (b != -1)
		*pfd = PROC_PRIO_FD;
	return 0;
}

/* No core dumps, no ptrace attach (same uid), no privileges gained by exec. */
static int
proc_harden(void)
{
	const struct rlimit	zero = { 0, 0 };

	(void)prctl(PR_SET_NAME, SIGNER_PROC_NAME, 0, 0, 0);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1 ||
	    setrlimit(RLIMIT_CORE, &zero) == -1)
		return -1;
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}

/*
 * Once the key is loaded: no new processes, and no descriptor numbers but
 * 0 to PROC_PRIO_FD (open, but for the priority socket when there is none;
 * poll needs a limit above its descriptors) and one more, which a rotation
 * uses for a moment (signer_proc.h). The hard limit goes down too, so it
 * cannot be raised again.
 */
static void
proc_limits_drop(void)
{
	const struct rlimit	zero = { 0, 0 };
	const struct rlimit	nofile = { PROC_PRIO_FD + 2, PROC_PRIO_FD + 2 };

	(void)setrlimit(RLIMIT_NOFILE, &nofile);
	(void)setrlimit(RLIMIT_NPROC, &zero);
}

/*
 * A pending key left by a rotation that was neither committed nor aborted
 * (keygated stopped in between): load it with pass (the key file's
 * passphrase or NULL), so the parent can decide. One that cannot be loaded
 * is ignored (the next rotation removes it).
 */
static void
proc_pending_load(struct proc *p, const char *pass)
{
	int	rc;

	if ((size_t)snprintf(p->pending_file, sizeof(p->pending_file), "%s%s",
	    p->key_file, SIGNER_PENDING_SUFFIX) >= sizeof(p->pending_file)) {
		p->pending_file[0] = '\0';
		return;
	}
	rc = keyfile_read(p->pending_file, pass, &p->pending);
	if (rc == KGE_IO && errno == ENOENT)
		return;
	if (rc != KGE_OK) {
		proc_log("ignoring %s, left by an unfinished rotation: %s",
		    p->pending_file, kge_strerror(rc));
		return;
	}
	if (sodium_memcmp(p->pending->pk, p->kp->pk, KG_PUBKEY_LEN) == 0) {
		keypair_free(p->pending);	/* the active key itself */
		p->pending = NULL;
	}
}

/*
 * Load the key (and a pending one); on failure a kge code and one line in
 * text. p->sealed says whether the key file needs its passphrase, which is
 * wiped before this returns.
 */
static int
proc_key_load(struct proc *p, char *text, size_t textlen)
{
	struct kg_keypair	*probe = NULL;
	char			*pass = NULL;
	int			 rc, saved;

	if (p->pass_file != NULL && *p->pass_file != '\0' &&
	    (pass = passphrase_read_new(p->pass_file)) == NULL) {
		snprintf(text, textlen, "cannot read the passphrase file %s: %s: "
		    "make it readable by keygated's user or fix passphrase_file",
		    p->pass_file, strerrordesc_np(errno));
		return KGE_IO;
	}
	rc = keyfile_read(p->key_file, pass, &p->kp);
	saved = errno;
	if (rc == KGE_OK) {
		/* Sealed when it cannot be opened without it (no Argon2id). */
		p->sealed = pass != NULL && keyfile_read(p->key_file, NULL,
		    &probe) == KGE_PASSPHRASE_REQUIRED;
		keypair_free(probe);
		proc_pending_load(p, p->sealed ? pass : NULL);
	}
	passphrase_free(pass);
	switch (rc) {
	case KGE_OK:
		break;
	case KGE_IO:
		snprintf(text, textlen, "%s: cannot read the secret key file: %s",
		    p->key_file, strerrordesc_np(saved));
		break;
	case KGE_PASSPHRASE:
		snprintf(text, textlen, "%s: %s: check the passphrase file %s",
		    p->key_file, kge_strerror(rc), p->pass_file);
		break;
	default:
		snprintf(text, textlen, "%s: %s", p->key_file, kge_strerror(rc));
		break;
	}
	return rc;
}

/* The hello packet: status, public key, pending key, and on failure the line. */
static int
proc_hello_send(int fd, int status, const struct kg_keypair *kp,
    const struct kg_keypair *pending, const char *text)
{
	uint8_t	 buf[SIGNER_HELLO_MAX];
	int32_t	 st = status;
	size_t	 len = SIGNER_HELLO_HEADER, tlen;
	ssize_t	 n;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, &st, sizeof(st));
	if (status == KGE_OK) {
		memcpy(buf + 4, kp->pk, KG_PUBKEY_LEN);
		if (pending != NULL)
			memcpy(buf + 4 + KG_PUBKEY_LEN, pending->pk,
			    KG_PUBKEY_LEN);
	} else {
		tlen = strnlen(text, SIGNER_TEXT_MAX);
		memcpy(buf + SIGNER_HELLO_HEADER, text, tlen);
		len += tlen;
	}
	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

/* Sign msg in domain with the active key; a SIGNER_STATUS_* code. */
static uint32_t
proc_request_sign(const struct kg_keypair *kp, uint32_t domain,
    const uint8_t *msg, size_t len, uint8_t sig[KG_SIG_LEN])
{
	if (domain == KG_DOMAIN_ROTATION) {
		proc_log("refused to sign given bytes in the rotation domain "
		    "(only a rotation signs there)");
		return SIGNER_STATUS_REFUSED;
	}
	if (domain == KG_DOMAIN_REPLY_BATCH && len != KG_MERKLE_HASH_LEN) {
		proc_log("refused a batch signature over %zu bytes: a batch "
		    "signs one Merkle root of %d bytes", len, KG_MERKLE_HASH_LEN);
		return SIGNER_STATUS_REFUSED;
	}
	if (domain != KG_DOMAIN_LICENSE && domain != KG_DOMAIN_REPLY &&
	    domain != KG_DOMAIN_REPLY_BATCH) {
		proc_log("refused a request of unknown type %u", domain);
		return SIGNER_STATUS_REFUSED;
	}
	if (keys_sign(kp, (enum kg_domain)domain, msg, len, sig) != KGE_OK) {
		proc_log("signing failed: out of memory");
		return SIGNER_STATUS_FAILED;
	}
	return SIGNER_STATUS_OK;
}

/* fsync the directory that holds path (a descriptor for a moment). 0 or -1. */
static int
proc_dir_sync(const char *path)
{
	char	dir[PATH_MAX];
	size_t	len = strlen(path);
	int	dfd, rc;

	if (len >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, len + 1);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(dfd);
	close(dfd);
	return rc;
}

/* Forget the pending key and remove KEYFILE.new. 0 or -1 (logged). */
static int
proc_pending_drop(struct proc *p)
{
	keypair_free(p->pending);
	p->pending = NULL;
	if (unlink(p->pending_file) == -1 && errno != ENOENT) {
		proc_log("cannot remove %s: %s", p->pending_file,
		    strerrordesc_np(errno));
		return -1;
	}
	return 0;
}

/*
 * The passphrase to seal a rotation's new key with: the passphrase file
 * read again, and only when it still opens the key file as the active key
 * (the same passphrase, so a restart can open the new key with it). 0 with
 * *pass (passphrase_free), or -1 (logged).
 */
static int
proc_pass_check(struct proc *p, char **pass)
{
	struct kg_keypair	*kp = NULL;
	int			 rc;

	if (p->pass_file == NULL || *p->pass_file == '\0' ||
	    (*pass = passphrase_read_new(p->pass_file)) == NULL) {
		proc_log("rotation: cannot read the passphrase file %s: %s",
		    p->pass_file != NULL ? p->pass_file : "(none)",
		    strerrordesc_np(errno));
		return -1;
	}
	rc = keyfile_read(p->key_file, *pass, &kp);
	if (rc != KGE_OK ||
	    sodium_memcmp(kp->pk, p->kp->pk, KG_PUBKEY_LEN) != 0) {
		proc_log("rotation: the passphrase file %s no longer opens %s "
		    "(%s): fix it first, or a restart could not load the new key",
		    p->pass_file, p->key_file, rc != KGE_OK ? kge_strerror(rc) :
		    "another key");
		keypair_free(kp);
		passphrase_free(*pass);
		*pass = NULL;
		return -1;
	}
	keypair_free(kp);
	return 0;
}

/*
 * SIGNER_OP_ROTATE_PREPARE: a new key in KEYFILE.new (written and its
 * directory entry synced before anything is signed for it) and its
 * statement, signed by the active key. On success the reply is *rlen bytes.
 */
static uint32_t
proc_rotate_prepare(struct proc *p, const uint8_t *msg, size_t len,
    uint8_t *reply, size_t *rlen)
{
	Keygate__RotationBody	 body = KEYGATE__ROTATION_BODY__INIT;
	struct kg_keypair	*kp = NULL;
	char			*pass = NULL;
	uint8_t			*out = reply + SIGNER_ROTATE_HEADER;
	int64_t			 created;
	size_t			 blen;
	int			 rc, saved;

	if (len != sizeof(created) || p->pending_file[0] == '\0') {
		proc_log("refused a rotation request of %zu bytes", len);
		return SIGNER_STATUS_REFUSED;
	}
	memcpy(&created, msg, sizeof(created));
	if (proc_pending_drop(p) == -1)
		return SIGNER_STATUS_FAILED;
	if ((kp = keypair_generate_new()) == NULL) {
		proc_log("rotation: out of memory");
		return SIGNER_STATUS_FAILED;
	}
	if (p->sealed && proc_pass_check(p, &pass) == -1)
		goto fail;
	rc = keyfile_write(p->pending_file, kp, pass, PROC_SEAL_OPSLIMIT,
	    PROC_SEAL_MEMLIMIT);
	saved = errno;
	passphrase_free(pass);
	pass = NULL;
	if (rc != KGE_OK) {
		proc_log("rotation: cannot write %s: %s%s%s", p->pending_file,
		    kge_strerror(rc), rc == KGE_IO ? ": " : "",
		    rc == KGE_IO ? strerrordesc_np(saved) : "");
		goto fail;
	}
	if (proc_dir_sync(p->pending_file) == -1) {
		proc_log("rotation: cannot sync the directory of %s: %s",
		    p->pending_file, strerrordesc_np(errno));
		goto fail;
	}
	body.new_public_key.data = kp->pk;
	body.new_public_key.len = KG_PUBKEY_LEN;
	body.old_key_id.data = p->kp->id;
	body.old_key_id.len = KG_KEY_ID_LEN;
	body.created = created;
	if ((blen = keygate__rotation_body__get_packed_size(&body)) >
	    SIGNER_ROTATION_BODY_MAX ||
	    keygate__rotation_body__pack(&body, out) != blen ||
	    keys_sign(p->kp, KG_DOMAIN_ROTATION, out, blen,
	    reply + 4 + KG_PUBKEY_LEN) != KGE_OK) {
		proc_log("rotation: cannot sign the statement");
		goto fail;
	}
	memcpy(reply + 4, kp->pk, KG_PUBKEY_LEN);
	p->pending = kp;
	*rlen = SIGNER_ROTATE_HEADER + blen;
	return SIGNER_STATUS_OK;
fail:
	passphrase_free(pass);
	keypair_free(kp);
	(void)proc_pending_drop(p);
	return SIGNER_STATUS_FAILED;
}

/* The pending key, when msg names it; else NULL (logged). */
static struct kg_keypair *
proc_pending_named(struct proc *p, const uint8_t *msg, size_t len,
    const char *what)
{
	if (len != KG_PUBKEY_LEN || p->pending == NULL ||
	    sodium_memcmp(msg, p->pending->pk, KG_PUBKEY_LEN) != 0) {
		proc_log("refused to %s a rotation: no such pending key", what);
		return NULL;
	}
	return p->pending;
}

/* SIGNER_OP_ROTATE_COMMIT: KEYFILE.new replaces KEYFILE; sign with it. */
static uint32_t
proc_rotate_commit(struct proc *p, const uint8_t *msg, size_t len)
{
	if (proc_pending_named(p, msg, len, "commit") == NULL)
		return SIGNER_STATUS_REFUSED;
	if (rename(p->pending_file, p->key_file) == -1) {
		proc_log("rotation: cannot rename %s to %s: %s", p->pending_file,
		    p->key_file, strerrordesc_np(errno));
		return SIGNER_STATUS_FAILED;
	}
	/* The rename is done; a crash before this sync may undo it (recovered). */
	if (proc_dir_sync(p->key_file) == -1)
		proc_log("rotation: cannot sync the directory of %s: %s",
		    p->key_file, strerrordesc_np(errno));
	keypair_free(p->kp);
	p->kp = p->pending;
	p->pending = NULL;
	return SIGNER_STATUS_OK;
}

/* SIGNER_OP_ROTATE_ABORT: forget the pending key, remove KEYFILE.new. */
static uint32_t
proc_rotate_abort(struct proc *p, const uint8_t *msg, size_t len)
{
	if (proc_pending_named(p, msg, len, "abort") == NULL)
		return SIGNER_STATUS_REFUSED;
	return proc_pending_drop(p) == 0 ? SIGNER_STATUS_OK :
	    SIGNER_STATUS_FAILED;
}

/*
 * SIGNER_OP_SIGN_MANY: sign every payload of msg in the license domain;
 * the signatures go after the reply's header, in order (signer_proc.h).
 */
static uint32_t
proc_sign_many(struct proc *p, const uint8_t *msg, size_t len,
    uint8_t *reply, size_t *rlen)
{
	uint32_t	count, plen, i;
	size_t		off = SIGNER_MANY_HEADER;

	if (len < SIGNER_MANY_HEADER) {
		proc_log("refused a sign-many request of %zu bytes", len);
		return SIGNER_STATUS_REFUSED;
	}
	memcpy(&count, msg, 4);
	if (count < 1 || count > SIGNER_MANY_MAX) {
		proc_log("refused a sign-many request of %u payloads (1 to %d)",
		    count, SIGNER_MANY_MAX);
		return SIGNER_STATUS_REFUSED;
	}
	for (i = 0; i < count; i++) {
		if (len - off < SIGNER_MANY_ENTRY_HEADER)
			break;
		memcpy(&plen, msg + off, 4);
		off += SIGNER_MANY_ENTRY_HEADER;
		if (plen < 1 || plen > KG_PAYLOAD_MAX || plen > len - off)
			break;
		if (i % PROC_PRIO_EVERY == PROC_PRIO_EVERY - 1)
			proc_prio_serve(p);
		if (keys_sign(p->kp, KG_DOMAIN_LICENSE, msg + off, plen,
		    reply + SIGNER_MANY_REPLY_HEADER + (size_t)i * KG_SIG_LEN) !=
		    KGE_OK) {
			proc_log("signing failed: out of memory");
			return SIGNER_STATUS_FAILED;
		}
		off += plen;
	}
	if (i < count || off != len) {
		proc_log("refused a malformed sign-many request (%u payloads "
		    "announced in %zu bytes)", count, len);
		return SIGNER_STATUS_REFUSED;
	}
	memcpy(reply + 4, &count, 4);
	*rlen = SIGNER_MANY_REPLY_HEADER + (size_t)count * KG_SIG_LEN;
	return SIGNER_STATUS_OK;
}

/*
 * Check one request of n bytes in p->req and carry it out: a
 * SIGNER_STATUS_* code, with the reply's bytes after the status in reply
 * (PROC_REPLY_MAX bytes) and the reply's length in *rlen.
 */
static uint32_t
proc_request(struct proc *p, const uint8_t *req, size_t n, bool prio,
    uint8_t *reply, size_t *rlen)
{
	const uint8_t	*msg = req + SIGNER_REQ_HEADER;
	uint32_t	 type, len, status;

	/* The small replies' part: a sign-many reply writes all of its own. */
	memset(reply, 0, PROC_REPLY_SMALL);
	*rlen = SIGNER_REPLY_LEN;
	if (n < SIGNER_REQ_HEADER || n > SIGNER_REQ_MAX) {
		proc_log("refused a request of %zu bytes (from %d to %d are fine)", n,
		    SIGNER_REQ_HEADER, SIGNER_REQ_MAX);
		return SIGNER_STATUS_REFUSED;
	}
	memcpy(&type, req, 4);
	memcpy(&len, req + 4, 4);
	if ((size_t)len != n - SIGNER_REQ_HEADER) {
		proc_log("refused a request that says %u bytes and has %zu", len,
		    n - SIGNER_REQ_HEADER);
		return SIGNER_STATUS_REFUSED;
	}
	/* Every SIGNER_OP_* is 0x100 or above; domains are below. */
	if (prio && type >= SIGNER_OP_ROTATE_PREPARE) {
		proc_log("refused request type %#x on the priority socket "
		    "(single signatures only)", type);
		return SIGNER_STATUS_REFUSED;
	}
	switch (type) {
	case SIGNER_OP_ROTATE_PREPARE:
		status = proc_rotate_prepare(p, msg, len, reply, rlen);
		break;
	case SIGNER_OP_ROTATE_COMMIT:
		status = proc_rotate_commit(p, msg, len);
		break;
	case SIGNER_OP_ROTATE_ABORT:
		status = proc_rotate_abort(p, msg, len);
		break;
	case SIGNER_OP_SIGN_MANY:
		status = proc_sign_many(p, msg, len, reply, rlen);
		break;
	default:
		status = proc_request_sign(p->kp, type, msg, len, reply + 4);
		break;
	}
	if (status != SIGNER_STATUS_OK) {
		memset(reply, 0, prio ? PROC_REPLY_SMALL : PROC_REPLY_MAX);
		*rlen = SIGNER_REPLY_LEN;
	}
	return status;
}

/*
 * Receive one request from fd into buf and answer it on fd (reply has room
 * for the replies prio allows): 1 when one was served, 0 when none was
 * waiting, -1 when the socket is at its end or broken (p->gone).
 */
static int
proc_serve_one(struct proc *p, int fd, uint8_t *buf, bool prio,
    uint8_t *reply)
{
	uint32_t	status;
	size_t		rlen;
	ssize_t		n;

	n = recv(fd, buf, SIGNER_REQ_MAX, MSG_TRUNC | MSG_DONTWAIT);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		if (n == -1)
			proc_log("recv: %s", strerrordesc_np(errno));
		p->gone = true;
		return -1;
	}
	status = proc_request(p, buf, (size_t)n, prio, reply, &rlen);
	memcpy(reply, &status, 4);
	do
		n = send(fd, reply, rlen, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)rlen) {
		p->gone = true;
		return -1;
	}
	return 1;
}

/* Answer every request waiting on the priority socket (see the top). */
static void
proc_prio_serve(struct proc *p)
{
	uint8_t	reply[PROC_REPLY_SMALL];

	while (p->pfd != -1 && !p->gone &&
	    proc_serve_one(p, p->pfd, p->preq, true, reply) == 1)
		;
}

/*
 * Serve until end of file, an error or SIGTERM: the priority socket's
 * requests first, then one of the other socket's at a time.
 */
static void
proc_serve(struct proc *p)
{
	struct pollfd	 pfd[2] = {
		{ .fd = p->fd, .events = POLLIN },
		{ .fd = p->pfd, .events = POLLIN },	/* -1: ignored */
	};
	uint8_t		 reply[PROC_REPLY_MAX];
	sigset_t	 blocked, waiting;

	/* SIGTERM is only delivered inside ppoll, so it is never missed. */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	(void)sigprocmask(SIG_BLOCK, &blocked, &waiting);
	sigdelset(&waiting, SIGTERM);
	while (!proc_terminate && !p->gone) {
		if (ppoll(pfd, 2, NULL, &waiting) == -1) {
			if (errno == EINTR)
				continue;
			proc_log("poll: %s", strerrordesc_np(errno));
			return;
		}
		if (pfd[1].revents != 0)
			proc_prio_serve(p);
		if (pfd[0].revents != 0 && !p->gone)
			(void)proc_serve_one(p, p->fd, p->req, false, reply);
	}
}

/* Wipe and free everything the process holds. */
static void
proc_free(struct proc *p)
{
	keypair_free(p->kp);
	keypair_free(p->pending);
	free(p->req);
	free(p->preq);
}

/* The signer process: never returns. */
void
signer_proc_main(int fd, int pfd, const char *key_file, const char *pass_file)
{
	struct proc	 p;
	char		 text[SIGNER_TEXT_MAX];
	int		 rc;

	memset(&p, 0, sizeof(p));
	p.key_file = key_file;
	p.pass_file = pass_file;
	proc_signals_reset();
	text[0] = '\0';
	if (proc_harden() == -1) {
		snprintf(text, sizeof(text), "cannot disable core dumps and ptrace "
		    "for the signer process: %s", strerrordesc_np(errno));
		rc = KGE_IO;
	} else if (proc_fds_close(&fd, &pfd) == -1) {
		snprintf(text, sizeof(text), "cannot close the signer process's "
		    "descriptors: %s", strerrordesc_np(errno));
		rc = KGE_IO;
	} else if ((p.req = malloc(SIGNER_REQ_MAX)) == NULL ||
	    (p.preq = malloc(SIGNER_REQ_MAX)) == NULL) {
		snprintf(text, sizeof(text), "%s", kge_strerror(KGE_NOMEM));
		rc = KGE_NOMEM;
	} else
		rc = proc_key_load(&p, text, sizeof(text));
	p.fd = fd;
	p.pfd = pfd;
	proc_limits_drop();
	if (proc_hello_send(fd, rc, p.kp, p.pending, text) == -1 || rc != KGE_OK) {
		proc_free(&p);
		_exit(1);
	}
	proc_serve(&p);
	proc_free(&p);
	_exit(0);
}
