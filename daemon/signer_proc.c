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
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
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
#include "kgerr.h"
#include "signer_proc.h"

#define PROC_FD		3	/* where the socket moves to */

static volatile sig_atomic_t	proc_terminate;

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

/* Keep the socket (moved to PROC_FD) and stderr; /dev/null on 0 and 1. */
static int
proc_fds_close(int *fd)
{
	int	orig = *fd, null;

	if (orig != PROC_FD) {
		if (dup2(orig, PROC_FD) == -1)
			return -1;
		*fd = PROC_FD;
	}
	if (close_range(PROC_FD + 1, ~0U, 0) == -1) {
		long	max = sysconf(_SC_OPEN_MAX);

		for (long i = PROC_FD + 1; i < (max > 0 ? max : 1024); i++)
			(void)close((int)i);
	}
	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	if (dup2(null, STDIN_FILENO) == -1 || dup2(null, STDOUT_FILENO) == -1 ||
	    (orig == STDERR_FILENO && dup2(null, STDERR_FILENO) == -1))
		return -1;
	if (null > STDERR_FILENO && null != PROC_FD)
		(void)close(null);
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
 * Once the key is loaded: no new descriptors (0 to PROC_FD are all open, and
 * poll needs a limit above its one descriptor), no new processes.
 */
static void
proc_limits_drop(void)
{
	const struct rlimit	zero = { 0, 0 };
	const struct rlimit	nofile = { PROC_FD + 1, PROC_FD + 1 };

	(void)setrlimit(RLIMIT_NOFILE, &nofile);
	(void)setrlimit(RLIMIT_NPROC, &zero);
}

/* Load the key; on failure a kge code and one line in text. */
static int
proc_key_load(const char *key_file, const char *pass_file, struct kg_keypair **kp,
    char *text, size_t textlen)
{
	char	*pass = NULL;
	int	 rc, saved;

	if (pass_file != NULL && *pass_file != '\0' &&
	    (pass = passphrase_read_new(pass_file)) == NULL) {
		snprintf(text, textlen, "cannot read the passphrase file %s: %s: "
		    "make it readable by keygated's user or fix passphrase_file",
		    pass_file, strerrordesc_np(errno));
		return KGE_IO;
	}
	rc = keyfile_read(key_file, pass, kp);
	saved = errno;
	passphrase_free(pass);
	switch (rc) {
	case KGE_OK:
		break;
	case KGE_IO:
		snprintf(text, textlen, "%s: cannot read the secret key file: %s",
		    key_file, strerrordesc_np(saved));
		break;
	case KGE_PASSPHRASE:
		snprintf(text, textlen, "%s: %s: check the passphrase file %s",
		    key_file, kge_strerror(rc), pass_file);
		break;
	default:
		snprintf(text, textlen, "%s: %s", key_file, kge_strerror(rc));
		break;
	}
	return rc;
}

/* The hello packet: status, public key, and on failure the line. */
static int
proc_hello_send(int fd, int status, const struct kg_keypair *kp, const char *text)
{
	uint8_t	 buf[SIGNER_HELLO_MAX];
	int32_t	 st = status;
	size_t	 len = SIGNER_HELLO_HEADER, tlen;
	ssize_t	 n;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, &st, sizeof(st));
	if (status == KGE_OK)
		memcpy(buf + 4, kp->pk, KG_PUBKEY_LEN);
	else {
		tlen = strnlen(text, SIGNER_TEXT_MAX);
		memcpy(buf + SIGNER_HELLO_HEADER, text, tlen);
		len += tlen;
	}
	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

/* Check one request and sign it; a SIGNER_STATUS_* code. */
static uint32_t
proc_request_sign(const struct kg_keypair *kp, const uint8_t *req, size_t n,
    uint8_t sig[KG_SIG_LEN])
{
	uint32_t	domain, len;

	memset(sig, 0, KG_SIG_LEN);
	if (n < SIGNER_REQ_HEADER || n > SIGNER_REQ_MAX) {
		proc_log("refused a request of %zu bytes (from %d to %d are fine)", n,
		    SIGNER_REQ_HEADER, SIGNER_REQ_MAX);
		return SIGNER_STATUS_REFUSED;
	}
	memcpy(&domain, req, 4);
	memcpy(&len, req + 4, 4);
	if (domain != KG_DOMAIN_LICENSE && domain != KG_DOMAIN_REPLY &&
	    domain != KG_DOMAIN_ROTATION) {
		proc_log("refused a request in unknown domain %u", domain);
		return SIGNER_STATUS_REFUSED;
	}
	if ((size_t)len != n - SIGNER_REQ_HEADER) {
		proc_log("refused a request that says %u bytes and has %zu", len,
		    n - SIGNER_REQ_HEADER);
		return SIGNER_STATUS_REFUSED;
	}
	if (keys_sign(kp, (enum kg_domain)domain, req + SIGNER_REQ_HEADER, len,
	    sig) != KGE_OK) {
		proc_log("signing failed: out of memory");
		return SIGNER_STATUS_FAILED;
	}
	return SIGNER_STATUS_OK;
}

/* Serve until end of file, an error or SIGTERM. */
static void
proc_serve(int fd, const struct kg_keypair *kp, uint8_t *req)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	uint8_t		 reply[SIGNER_REPLY_LEN];
	uint32_t	 status;
	sigset_t	 blocked, waiting;
	ssize_t		 n;

	/* SIGTERM is only delivered inside ppoll, so it is never missed. */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	(void)sigprocmask(SIG_BLOCK, &blocked, &waiting);
	sigdelset(&waiting, SIGTERM);
	while (!proc_terminate) {
		if (ppoll(&pfd, 1, NULL, &waiting) == -1) {
			if (errno == EINTR)
				continue;
			proc_log("poll: %s", strerrordesc_np(errno));
			return;
		}
		n = recv(fd, req, SIGNER_REQ_MAX, MSG_TRUNC | MSG_DONTWAIT);
		if (n == 0)
			return;		/* the parent closed the socket */
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			proc_log("recv: %s", strerrordesc_np(errno));
			return;
		}
		status = proc_request_sign(kp, req, (size_t)n, reply + 4);
		memcpy(reply, &status, 4);
		do
			n = send(fd, reply, sizeof(reply), MSG_NOSIGNAL);
		while (n == -1 && errno == EINTR);
		if (n != (ssize_t)sizeof(reply))
			return;
	}
}

/* The signer process: never returns. */
void
signer_proc_main(int fd, const char *key_file, const char *pass_file)
{
	struct kg_keypair	*kp = NULL;
	uint8_t			*req = NULL;
	char			 text[SIGNER_TEXT_MAX];
	int			 rc;

	proc_signals_reset();
	text[0] = '\0';
	if (proc_harden() == -1) {
		snprintf(text, sizeof(text), "cannot disable core dumps and ptrace "
		    "for the signer process: %s", strerrordesc_np(errno));
		rc = KGE_IO;
	} else if (proc_fds_close(&fd) == -1) {
		snprintf(text, sizeof(text), "cannot close the signer process's "
		    "descriptors: %s", strerrordesc_np(errno));
		rc = KGE_IO;
	} else if ((req = malloc(SIGNER_REQ_MAX)) == NULL) {
		snprintf(text, sizeof(text), "%s", kge_strerror(KGE_NOMEM));
		rc = KGE_NOMEM;
	} else
		rc = proc_key_load(key_file, pass_file, &kp, text, sizeof(text));
	proc_limits_drop();
	if (proc_hello_send(fd, rc, kp, text) == -1 || rc != KGE_OK) {
		keypair_free(kp);
		_exit(1);
	}
	proc_serve(fd, kp, req);
	keypair_free(kp);
	free(req);
	_exit(0);
}
