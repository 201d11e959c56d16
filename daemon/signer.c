/*
 * The signer, daemon side (signer.h): keygated's only way to sign, and the
 * client of the signer process (signer_proc.h), which alone holds the secret
 * key. signer_open forks that process and waits until it has loaded the key
 * and reported the public half; signer_sign sends one request over the
 * socketpair and waits for its reply, SIGNER_SIGN_TIMEOUT_MS at most. This
 * process never reads the key file or its passphrase, so no bug in the
 * network code can leak them.
 *
 * When the signer process dies, hangs or talks out of turn it is reaped and
 * started again (at most SIGNER_RESTARTS_MAX times in SIGNER_RESTART_WINDOW
 * seconds), and the signature is asked for again. The new process reloads the
 * key file (a sealed one with its passphrase file, which must stay readable);
 * unless it reports the public key the daemon signs with (the one it started
 * with, or the one a rotation switched to), the signer gives up rather than
 * sign with another key. Giving up is final: it calls the stop
 * callback registered with signer_watch, and keygated stops with a log line
 * saying why. Restarting blocks the event loop while the key loads (a
 * second or so for a sealed key's Argon2id).
 *
 * One request is in flight at a time: every entry point runs under the
 * signer's recursive mutex (worker threads share the socket; the idle watch
 * only tries the mutex, see signer_watch_cb), and the admin backup thread
 * does not sign. The one exception is bulk signing
 * (signer_many.c): sign-many requests may be outstanding while the loop
 * runs; their replies are received by the idle watch or before the next
 * exchange on that socket (signer_xfer_raw) and kept until collected, and
 * a restarted process is sent them again. signer_int.h is what the two
 * files share.
 *
 * Single signatures (signer_sign: replies, a key) go over a second
 * socket, which the process serves first and looks at between the
 * signatures of a sign-many request (signer_proc.h): an update check's
 * reply waits for one license signature, not for the 27 ms of sign-many
 * requests a bulk issue keeps queued. Rotations stay on the first socket,
 * behind the sign-many requests sent before them, whose payloads name the
 * key that signs them.
 *
 * Placement (signer_place_*): a signature asked for with signer_sign leaves
 * its caller waiting in poll() for the answer, so caller and signer process
 * never run at once; the process is kept on the caller's CPU (its affinity
 * set again only when the caller's CPU changed). Woken there it costs a
 * context switch; woken on an idle CPU it costs an inter-processor
 * interrupt and that CPU's wake-up, several times more on a virtual
 * machine, and the process is woken for every reply batch. Sign-many
 * requests are answered while the caller goes on working, so before one is
 * sent the process gets back every CPU keygated may use, and keeps them
 * while one is outstanding. Placement is best effort: a failed
 * sched_setaffinity changes nothing but the speed.
 *
 * A pinned process can be kept off its one CPU while another is idle: a
 * thread the caller's poll() let run there first, or a kernel thread that
 * holds the CPU for milliseconds (seen: 4 ms every half second), and every
 * reply of the batch waits with it. So a caller whose pinned process has not
 * answered in SIGNER_PIN_WAIT_US moves it to keygated's other CPUs
 * (signer_place_elsewhere: a queued task leaves a CPU at once only when
 * that CPU is no longer allowed); it follows the caller again
 * SIGNER_UNPIN_MS after its answer. At 1,000 connections and half the
 * maximum rate (tests/bench, server latency), one series of eight paired
 * runs gave a p99 of 0.25 to 0.7 ms with the move and 0.3 to 9.4 ms
 * without; another gave one run of about 2.5 ms each: the machine's other
 * stalls remain.
 *
 * Rotation (signer_rotate_*): the signer process prepares a new key in
 * KEYFILE.new with its statement, the caller records it in the store, then
 * commits (the process renames KEYFILE.new over KEYFILE and signs with the
 * new key) or aborts. The public key a restarted process must report is
 * the new one from the moment the commit is asked for; a process that
 * reports the old key with the new one pending (it died before the rename)
 * is told to commit, and a pending key that is not the expected one is
 * removed. signer_rotate_recover does the same at start, with the store's
 * active key as the expected one. Preparing blocks the event loop while the
 * process writes the new key (a second or so of Argon2id when sealed).
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "kgerr.h"
#include "log.h"
#include "merkle.h"
#include "signer.h"
#include "signer_int.h"
#include "signer_proc.h"

#define SIGNER_LOAD_TIMEOUT_MS	120000	/* loading the key (Argon2id when sealed) */
#define SIGNER_EXIT_WAIT_MS	2000	/* for the process to exit on its own */
#define SIGNER_RESTART_WINDOW	60	/* ... in this many seconds */

static int	signer_lock_init(struct signer *);
static void	signer_place_elsewhere(struct signer *);
static void	signer_watch_cb(evutil_socket_t, short, void *);
static enum signer_xfer	signer_xfer_pending(struct signer *, uint32_t,
			    const uint8_t [KG_PUBKEY_LEN]);

int64_t
signer_clock_msec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when fd is readable (or at EOF), 0 on timeout, -1 on error. */
int
signer_wait_readable(int fd, int timeout_ms)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	int64_t		deadline = signer_clock_msec() + timeout_ms, left;
	int		n;

	for (;;) {
		left = deadline - signer_clock_msec();
		if (left < 0)
			left = 0;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * Close our end and reap the process: give it SIGNER_EXIT_WAIT_MS to exit on
 * its own unless force, then SIGKILL. Describes how it ended in how.
 */
static void
signer_child_reap(struct signer *s, bool force, char *how, size_t howlen)
{
	struct timespec	 tick = { 0, 10 * 1000000 };
	int64_t		 deadline;
	pid_t		 r = 0;
	int		 st = 0;

	if (s->fd != -1) {
		close(s->fd);
		s->fd = -1;
	}
	if (s->pfd != -1) {
		close(s->pfd);
		s->pfd = -1;
	}
	if (s->pid == -1)
		return;
	if (!force) {
		deadline = signer_clock_msec() + SIGNER_EXIT_WAIT_MS;
		while ((r = waitpid(s->pid, &st, WNOHANG)) == 0 &&
		    signer_clock_msec() < deadline)
			nanosleep(&tick, NULL);
	}
	if (r == 0) {
		(void)kill(s->pid, SIGKILL);
		while ((r = waitpid(s->pid, &st, 0)) == -1 && errno == EINTR)
			;
	}
	if (how != NULL) {
		if (r == -1)
			snprintf(how, howlen, "exit status unknown: %s", strerror(errno));
		else if (WIFSIGNALED(st))
			snprintf(how, howlen, "killed by SIG%s",
			    sigabbrev_np(WTERMSIG(st)) != NULL ?
			    sigabbrev_np(WTERMSIG(st)) : "?");
		else
			snprintf(how, howlen, "exit status %d", WEXITSTATUS(st));
	}
	s->pid = -1;
}

/*
 * Read the hello: KGE_OK, the public key and in pending the key of a
 * prepared rotation (all zero when none), or a kge code and err.
 */
static int
signer_hello_read(struct signer *s, uint8_t pk[KG_PUBKEY_LEN],
    uint8_t pending[KG_PUBKEY_LEN], char *err, size_t errlen)
{
	uint8_t		 buf[SIGNER_HELLO_MAX + 1];
	int32_t		 status;
	ssize_t		 n;
	size_t		 i, tlen;
	int		 r;

	if ((r = signer_wait_readable(s->fd, SIGNER_LOAD_TIMEOUT_MS)) != 1) {
		snprintf(err, errlen, "the signer process did not load %s within %d s",
		    s->key_file, SIGNER_LOAD_TIMEOUT_MS / 1000);
		return KGE_IO;
	}
	do
		n = recv(s->fd, buf, sizeof(buf), 0);
	while (n == -1 && errno == EINTR);
	if (n <= 0) {
		snprintf(err, errlen, "the signer process exited before loading %s",
		    s->key_file);
		return KGE_IO;
	}
	if ((size_t)n < SIGNER_HELLO_HEADER || (size_t)n > SIGNER_HELLO_MAX) {
		snprintf(err, errlen, "the signer process sent a malformed hello");
		return KGE_IO;
	}
	memcpy(&status, buf, sizeof(status));
	if (status == KGE_OK) {
		memcpy(pk, buf + 4, KG_PUBKEY_LEN);
		memcpy(pending, buf + 4 + KG_PUBKEY_LEN, KG_PUBKEY_LEN);
		return KGE_OK;
	}
	/* One printable line, whatever the process sent. */
	tlen = (size_t)n - SIGNER_HELLO_HEADER;
	if (tlen >= errlen)
		tlen = errlen - 1;
	for (i = 0; i < tlen; i++) {
		uint8_t	c = buf[SIGNER_HELLO_HEADER + i];

		err[i] = (c >= 0x20 && c != 0x7f) ? (char)c : '?';
	}
	err[tlen] = '\0';
	return status < 0 && status > -100 ? status : KGE_IO;
}

/* Whether the 32 bytes at pk are all zero (no key). */
static bool
signer_pk_zero(const uint8_t pk[KG_PUBKEY_LEN])
{
	return sodium_is_zero(pk, KG_PUBKEY_LEN) == 1;
}

/*
 * Fork the signer process and wait for its hello: its key in pk, a pending
 * one in s->pending (s->has_pending). A kge code.
 */
static int
signer_spawn(struct signer *s, uint8_t pk[KG_PUBKEY_LEN], char *err, size_t errlen)
{
	int	sv[2], pv[2], rc;
	/* Room for SIGNER_MANY_INFLIGHT full sign-many requests. */
	int	sndbuf = SIGNER_MANY_INFLIGHT * (SIGNER_REQ_MAX + 4096);
	pid_t	pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, errlen, "cannot start the signer process: socketpair: %s",
		    strerror(errno));
		return KGE_IO;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pv) == -1) {
		snprintf(err, errlen, "cannot start the signer process: "
		    "socketpair: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return KGE_IO;
	}
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "cannot start the signer process: fork: %s",
		    strerror(errno));
		close(sv[0]);
		close(sv[1]);
		close(pv[0]);
		close(pv[1]);
		return KGE_IO;
	}
	if (pid == 0) {
		close(sv[0]);
		close(pv[0]);
		signer_proc_main(sv[1], pv[1], s->key_file, s->pass_file);
	}
	close(sv[1]);
	close(pv[1]);
	s->pid = pid;
	s->cpu = -1;		/* it inherited keygated's affinity */
	s->unpinned_until = 0;
	s->fd = sv[0];
	s->pfd = pv[0];
	s->has_pending = false;
	if ((rc = signer_hello_read(s, pk, s->pending, err, errlen)) != KGE_OK)
		signer_child_reap(s, false, NULL, 0);
	else
		s->has_pending = !signer_pk_zero(s->pending);
	return rc;
}

/* Watch the current process's socket for EOF while idle. 0 or -1. */
static int
signer_watch_add(struct signer *s)
{
	if (s->base == NULL)
		return 0;
	/*
	 * Edge-triggered: a reply a worker thread is about to read itself
	 * wakes the watch once, not on every turn until it is read.
	 */
	if ((s->ev = event_new(s->base, s->fd, EV_READ | EV_PERSIST | EV_ET,
	    signer_watch_cb, s)) == NULL || event_add(s->ev, NULL) == -1) {
		log_error("%s: cannot watch the signer process", __func__);
		return -1;
	}
	return 0;
}

static void
signer_watch_del(struct signer *s)
{
	if (s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
}

/* Give up for good: sign nothing more and tell the daemon to stop. */
static void
signer_fail(struct signer *s)
{
	if (s->failed)
		return;
	s->failed = true;
	signer_watch_del(s);
	signer_child_reap(s, true, NULL, 0);
	signer_many_fail_all(s);
	if (s->stop != NULL)
		s->stop(s->stop_arg);
}

/*
 * The process "what" (died, hung...): reap it and start another that must
 * report the same public key. 0, or -1 when the signer gave up.
 */
int
signer_restart(struct signer *s, const char *what, bool force)
{
	char	 how[64], err[SIGNER_TEXT_MAX + 64];
	char	 was[KG_PUBKEY_TEXT_MAX], now_pk[KG_PUBKEY_TEXT_MAX];
	uint8_t	 pk[KG_PUBKEY_LEN];
	int64_t	 now;
	long	 old = (long)s->pid;
	size_t	 i, recent = 0;

	signer_watch_del(s);
	signer_child_reap(s, force, how, sizeof(how));
	/* Sign-many requests the dead process took go to the next one. */
	signer_many_requeue_mark(s);
	now = signer_clock_msec() / 1000;
	for (i = 0; i < s->nrestarts && i < SIGNER_RESTARTS_MAX; i++)
		if (now - s->restart_at[i] < SIGNER_RESTART_WINDOW)
			recent++;
	if (recent >= SIGNER_RESTARTS_MAX) {
		log_error("signer process %ld %s (%s); it was restarted %zu times in "
		    "the last %d s: stopping keygated", old, what, how, recent,
		    SIGNER_RESTART_WINDOW);
		signer_fail(s);
		return -1;
	}
	log_error("signer process %ld %s (%s): restarting it", old, what, how);
	s->restart_at[s->nrestarts++ % SIGNER_RESTARTS_MAX] = now;
	if (signer_spawn(s, pk, err, sizeof(err)) != KGE_OK) {
		log_error("cannot restart the signer process: %s: stopping keygated", err);
		signer_fail(s);
		return -1;
	}
	/* A rotation cut short by the death: finish or undo it (see the top). */
	if (s->has_pending && sodium_memcmp(pk, s->pk, KG_PUBKEY_LEN) != 0 &&
	    sodium_memcmp(s->pending, s->pk, KG_PUBKEY_LEN) == 0) {
		if (signer_xfer_pending(s, SIGNER_OP_ROTATE_COMMIT, s->pending) !=
		    XFER_OK) {
			log_error("the restarted signer process could not switch "
			    "to the new signing key: stopping keygated; restart "
			    "it to finish the rotation");
			signer_fail(s);
			return -1;
		}
		memcpy(pk, s->pk, KG_PUBKEY_LEN);
		log_warn("the restarted signer process finished the rotation "
		    "to the new signing key");
	} else if (s->has_pending &&
	    signer_xfer_pending(s, SIGNER_OP_ROTATE_ABORT, s->pending) != XFER_OK)
		log_warn("the restarted signer process could not remove %s%s, "
		    "left by a rotation that did not happen; the next rotation "
		    "removes it", s->key_file, SIGNER_PENDING_SUFFIX);
	if (sodium_memcmp(pk, s->pk, KG_PUBKEY_LEN) != 0) {
		pubkey_format(pk, now_pk);
		pubkey_format(s->pk, was);
		log_error("the restarted signer process loaded another key from %s "
		    "(%s, not %s, which keygated started with): stopping keygated "
		    "rather than sign with it; restart keygated to use the new key",
		    s->key_file, now_pk, was);
		signer_fail(s);
		return -1;
	}
	if (signer_watch_add(s) == -1) {
		signer_fail(s);
		return -1;
	}
	log_warn("signer process restarted as pid %ld, with the same signing key",
	    (long)s->pid);
	signer_many_requeue_send(s);
	return 0;
}

/* The recursive lock of the entry points. 0 or -1. */
static int
signer_lock_init(struct signer *s)
{
	pthread_mutexattr_t	a;
	int			rc;

	if (pthread_mutexattr_init(&a) != 0)
		return -1;
	rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE) == 0 &&
	    pthread_mutex_init(&s->lock, &a) == 0 ? 0 : -1;
	pthread_mutexattr_destroy(&a);
	return rc;
}

/*
 * The process's socket became readable while idle: it died or misbehaves.
 * Or a worker thread is in an exchange and its reply is there: then the
 * lock is taken and the worker reads the reply itself (waiting for the lock
 * here could deadlock: the worker may be freeing this very event).
 */
static void
signer_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct signer	*s = arg;
	uint8_t		 b;
	ssize_t		 n;

	(void)what;
	if (pthread_mutex_trylock(&s->lock) != 0)
		return;
	/* Sign-many replies: kept until their requests are collected. */
	while (signer_many_expecting(s) && signer_many_receive(s, 0) == 1)
		;
	if (!signer_many_expecting(s) && s->fd == fd && !s->failed) {
		n = recv(fd, &b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
		if (n != -1 || (errno != EAGAIN && errno != EINTR))
			(void)signer_restart(s, n > 0 ? "sent a message nobody "
			    "asked for and was killed" : "died", n > 0);
	}
	pthread_mutex_unlock(&s->lock);
}

/*
 * Wait timeout_ms at most for the priority socket to be readable, taking
 * the sign-many replies that come on the first socket meanwhile: with its
 * buffer full of replies nobody reads (the lock held here keeps the idle
 * watch out), the process would block sending one and never answer. 1
 * readable, 0 timeout, -1 error, 2 the process was restarted meanwhile (a
 * sign-many reply showed it dead or garbled).
 */
static int
signer_wait_prio(struct signer *s, int timeout_ms)
{
	static const struct timespec	pin_wait = { 0,
	    SIGNER_PIN_WAIT_US * 1000 };
	struct pollfd			pfd[2];
	int64_t				deadline = signer_clock_msec() +
	    timeout_ms, left;
	pid_t				pid = s->pid;
	bool				pinned = s->cpu >= 0;
	int				n;

	for (;;) {
		pfd[0].fd = s->pfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = signer_many_expecting(s) ? s->fd : -1;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (pinned) {
			/* A short wait first: see "Placement" at the top. */
			n = ppoll(pfd, 2, &pin_wait, NULL);
			if (n == -1 && errno == EINTR)
				continue;
			pinned = false;
			if (n == 0) {
				signer_place_elsewhere(s);
				continue;
			}
		} else {
			left = deadline - signer_clock_msec();
			if (left < 0)
				left = 0;
			n = poll(pfd, 2, (int)left);
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		if (pfd[0].revents != 0) {
			/* Moved away: it stays away a while from now on. */
			if (s->unpinned_until == INT64_MAX)
				s->unpinned_until = signer_clock_msec() +
				    SIGNER_UNPIN_MS;
			return 1;
		}
		(void)signer_many_receive(s, 0);
		if (s->pid != pid || s->failed)
			return 2;
	}
}

/*
 * One request of type (a domain or a SIGNER_OP_*) and its reply packet,
 * waiting timeout_ms at most, on the priority socket (prio: a single
 * signature) or the first one. XFER_OK with the packet in buf (at most cap
 * bytes) and its length in *n when its status is SIGNER_STATUS_OK;
 * XFER_REFUSED for another status.
 */
static enum signer_xfer
signer_xfer_raw(struct signer *s, bool prio, uint32_t type, const uint8_t *msg,
    size_t len, int timeout_ms, uint8_t *buf, size_t cap, size_t *n)
{
	uint32_t	 hdr[2] = { type, (uint32_t)len };
	struct iovec	 iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)(uintptr_t)msg, .iov_len = len },
	};
	struct msghdr	 mh = { .msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1 };
	uint32_t	 status;
	ssize_t		 r;
	int		 fd, w;

	*n = 0;
	/*
	 * On the first socket sign-many replies come first: receive and keep
	 * them (a restart may give the process new sockets). The priority
	 * socket carries nothing else.
	 */
	if (!prio && signer_many_drain(s) == -1)
		return XFER_DEAD;
	if ((fd = prio ? s->pfd : s->fd) == -1)
		return XFER_DEAD;
	do
		r = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (r == -1 && errno == EINTR);
	if (r != (ssize_t)(sizeof(hdr) + len))
		return XFER_DEAD;
	w = prio ? signer_wait_prio(s, timeout_ms) :
	    signer_wait_readable(fd, timeout_ms);
	if (w == 0)
		return XFER_HUNG;
	if (w == 2)
		return XFER_AGAIN;
	if (w == -1)
		return XFER_DEAD;
	do
		r = recv(fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC);
	while (r == -1 && errno == EINTR);
	if (r <= 0)
		return XFER_DEAD;
	if ((size_t)r > cap || r < 4)
		return XFER_GARBLED;
	memcpy(&status, buf, sizeof(status));
	if (status != SIGNER_STATUS_OK)
		return r == SIGNER_REPLY_LEN ? XFER_REFUSED : XFER_GARBLED;
	*n = (size_t)r;
	return XFER_OK;
}

/* One signature request and its reply. */
static enum signer_xfer
signer_xfer(struct signer *s, enum kg_domain domain, const uint8_t *msg,
    size_t len, uint8_t sig[KG_SIG_LEN])
{
	uint8_t			reply[SIGNER_REPLY_LEN];
	enum signer_xfer	x;
	size_t			n;

	x = signer_xfer_raw(s, true, (uint32_t)domain, msg, len,
	    SIGNER_SIGN_TIMEOUT_MS, reply, sizeof(reply), &n);
	if (x != XFER_OK)
		return x;
	if (n != SIGNER_REPLY_LEN)
		return XFER_GARBLED;
	memcpy(sig, reply + 4, KG_SIG_LEN);
	return XFER_OK;
}

/* Commit or abort (op) the process's pending key pk. */
static enum signer_xfer
signer_xfer_pending(struct signer *s, uint32_t op, const uint8_t pk[KG_PUBKEY_LEN])
{
	uint8_t			reply[SIGNER_REPLY_LEN];
	enum signer_xfer	x;
	size_t			n;

	x = signer_xfer_raw(s, false, op, pk, KG_PUBKEY_LEN,
	    SIGNER_SIGN_TIMEOUT_MS, reply, sizeof(reply), &n);
	if (x == XFER_OK && n != SIGNER_REPLY_LEN)
		return XFER_GARBLED;
	if (x == XFER_OK)
		s->has_pending = false;
	return x;
}

/* Start the signer process; see signer.h. */
int
signer_open(const char *key_file, const char *passphrase_file, struct signer **out,
    char *err, size_t errlen)
{
	struct signer	*s = NULL;
	const char	*cred;
	char		 path[PATH_MAX];
	int		 rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		rc = KGE_NOMEM;
		snprintf(err, errlen, "%s", kge_strerror(rc));
		goto fail;
	}
	s->pid = -1;
	s->cpu = -1;
	if (sched_getaffinity(0, sizeof(s->cpus), &s->cpus) != 0)
		CPU_ZERO(&s->cpus);	/* placement then does nothing */
	s->fd = -1;
	s->pfd = -1;
	if (signer_lock_init(s) == -1) {
		free(s);
		s = NULL;
		rc = KGE_NOMEM;
		snprintf(err, errlen, "cannot make the signer's mutex");
		goto fail;
	}
	if (key_file == NULL ||
	    (size_t)snprintf(s->key_file, sizeof(s->key_file), "%s", key_file) >=
	    sizeof(s->key_file)) {
		rc = KGE_INVAL;
		snprintf(err, errlen, "the secret key file's path is too long");
		goto fail;
	}
	if (passphrase_file != NULL && *passphrase_file != '\0')
		snprintf(s->pass_file, sizeof(s->pass_file), "%s", passphrase_file);
	else if ((cred = getenv("CREDENTIALS_DIRECTORY")) != NULL && *cred != '\0' &&
	    (size_t)snprintf(path, sizeof(path), "%s/%s", cred,
	    SIGNER_CREDENTIAL_NAME) < sizeof(path) && access(path, F_OK) == 0)
		snprintf(s->pass_file, sizeof(s->pass_file), "%s", path);
	if ((rc = signer_spawn(s, s->pk, err, errlen)) != KGE_OK)
		goto fail;
	key_id_compute(s->pk, s->id);
	*out = s;
	return KGE_OK;
fail:
	if (s != NULL)
		pthread_mutex_destroy(&s->lock);
	free(s);
	return rc;
}

/* Close the socket, reap the signer process and free. */
void
signer_close(struct signer *s)
{
	if (s == NULL)
		return;
	signer_watch_del(s);
	signer_child_reap(s, false, NULL, 0);
	signer_many_free(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Watch the signer process from base; stop(arg) when it gives up. */
int
signer_watch(struct signer *s, struct event_base *base, void (*stop)(void *),
    void *arg)
{
	signer_watch_del(s);
	s->base = base;
	s->stop = stop;
	s->stop_arg = arg;
	if (s->failed)
		return -1;
	return signer_watch_add(s);
}

/* True once the signer gave up. */
bool
signer_failed(const struct signer *s)
{
	return s != NULL && s->failed;
}

/* The active key's public half. */
const uint8_t *
signer_pubkey(const struct signer *s)
{
	return s->pk;
}

/* The active key's id. */
const uint8_t *
signer_key_id(const struct signer *s)
{
	return s->id;
}

/* Keep the signer process on the caller's CPU: see the top of the file. */
void
signer_place_follow(struct signer *s)
{
	cpu_set_t	set;
	int		cpu;

	if (s->unpinned_until != 0) {
		if (signer_clock_msec() < s->unpinned_until)
			return;
		s->unpinned_until = 0;
	}
	if (s->pid <= 0 || (cpu = sched_getcpu()) < 0 || cpu == s->cpu ||
	    cpu >= CPU_SETSIZE)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(s->pid, sizeof(set), &set) == 0)
		s->cpu = cpu;
}

/*
 * The pinned process has not answered in SIGNER_PIN_WAIT_US: let it run on
 * any of keygated's CPUs but the one it was pinned to (see the top). It
 * does not follow the caller again until its answer has come (the caller
 * then sets unpinned_until).
 */
static void
signer_place_elsewhere(struct signer *s)
{
	cpu_set_t	set = s->cpus;

	if (s->pid <= 0 || s->cpu < 0)
		return;
	CPU_CLR(s->cpu, &set);
	if (CPU_COUNT(&set) == 0)
		return;		/* keygated has no other CPU */
	if (sched_setaffinity(s->pid, sizeof(set), &set) == 0) {
		s->cpu = -1;
		s->unpinned_until = INT64_MAX;
	}
}

/* Let the signer process run on any CPU keygated may use. */
void
signer_place_free(struct signer *s)
{
	/* Nothing to do unless pinned or moved (signer_place_elsewhere). */
	if (s->pid <= 0 || (s->cpu < 0 && s->unpinned_until == 0) ||
	    CPU_COUNT(&s->cpus) == 0)
		return;
	if (sched_setaffinity(s->pid, sizeof(s->cpus), &s->cpus) == 0) {
		s->cpu = -1;
		s->unpinned_until = 0;
	}
}

/* Sign prefix(domain) || msg in the signer process, restarting it when needed. */
static int
signer_sign_locked(struct signer *s, enum kg_domain domain, const uint8_t *msg, size_t len,
    uint8_t sig[KG_SIG_LEN])
{
	const char	*what;
	bool		 force;
	int		 attempt;

	memset(sig, 0, KG_SIG_LEN);
	if (s->failed) {
		log_error("%s: the signer process is gone: keygated is stopping",
		    __func__);
		return -1;
	}
	if ((domain != KG_DOMAIN_LICENSE && domain != KG_DOMAIN_REPLY &&
	    domain != KG_DOMAIN_REPLY_BATCH) ||
	    (domain == KG_DOMAIN_REPLY_BATCH && len != KG_MERKLE_HASH_LEN) ||
	    len > SIGNER_MSG_MAX || (msg == NULL && len > 0)) {
		log_error("%s: refusing to sign %zu bytes in domain %d", __func__, len,
		    (int)domain);
		return -1;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		/* Sign-many work in the process: leave it every CPU. */
		if (!signer_many_expecting(s))
			signer_place_follow(s);
		switch (signer_xfer(s, domain, msg, len, sig)) {
		case XFER_OK:
			return 0;
		case XFER_AGAIN:
			continue;	/* a new process: the next attempt */
		case XFER_REFUSED:
			log_error("%s: the signer process refused the request", __func__);
			memset(sig, 0, KG_SIG_LEN);
			return -1;
		case XFER_HUNG:
			what = "did not answer within "
			    SIGNER_STR(SIGNER_SIGN_TIMEOUT_S) " s and was killed";
			force = true;
			break;
		case XFER_GARBLED:
			what = "sent a malformed reply and was killed";
			force = true;
			break;
		case XFER_DEAD:
		default:
			what = "died";
			force = false;
			break;
		}
		if (signer_restart(s, what, force) == -1)
			return -1;
	}
	memset(sig, 0, KG_SIG_LEN);
	return -1;
}

/*
 * Key texts signed by signer_license_key_new, kept. A client that still
 * presents a key its license has moved past (renewed or activated since)
 * is sent the stored license signed anew on every check, a repeated
 * activation gets its renewed key again, key.show signs the stored
 * license: the text depends only on the payload, which names the active
 * signing key, and Ed25519 signatures are deterministic, so it is kept
 * under the BLAKE2b-256 of the payload and a license at one revision under
 * one active key costs one signature. Direct-mapped, KEY_KEPT_SLOTS
 * entries, shared by every signer of the process (a payload names its key).
 */
#define KEY_KEPT_SLOTS	8192	/* at most about 1.5 MiB of key text */

static struct {
	uint8_t	 hash[32];
	char	*text;			/* NULL: empty */
} key_kept[KEY_KEPT_SLOTS];
static pthread_mutex_t	key_kept_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t
key_kept_slot(const uint8_t h[32])
{
	return ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16) %
	    KEY_KEPT_SLOTS;
}

/* The kept text for payload hash h (a copy), or NULL. */
static char *
key_kept_find(const uint8_t h[32])
{
	size_t	i = key_kept_slot(h);
	char	*text = NULL;

	pthread_mutex_lock(&key_kept_lock);
	if (key_kept[i].text != NULL && memcmp(key_kept[i].hash, h, 32) == 0)
		text = strdup(key_kept[i].text);
	pthread_mutex_unlock(&key_kept_lock);
	return text;
}

/* Keep text for payload hash h (best effort). */
static void
key_kept_put(const uint8_t h[32], const char *text)
{
	size_t	i = key_kept_slot(h);
	char	*copy;

	if ((copy = strdup(text)) == NULL)
		return;
	pthread_mutex_lock(&key_kept_lock);
	free(key_kept[i].text);
	key_kept[i].text = copy;
	memcpy(key_kept[i].hash, h, 32);
	pthread_mutex_unlock(&key_kept_lock);
}

/* Set lic's key id to the active key, sign it and return the key text. */
int
signer_license_key_new(struct signer *s, struct kg_license *lic, char **text,
    bool *kept)
{
	uint8_t	payload[KG_PAYLOAD_MAX], sig[KG_SIG_LEN], h[32];
	size_t	len;

	*text = NULL;
	if (kept != NULL)
		*kept = false;
	memcpy(lic->key_id, s->id, KG_KEY_ID_LEN);
	if (license_payload_pack(lic, payload, sizeof(payload), &len) != KGE_OK)
		return -1;
	crypto_generichash(h, sizeof(h), payload, len, NULL, 0);
	if ((*text = key_kept_find(h)) != NULL) {
		if (kept != NULL)
			*kept = true;
		return 0;
	}
	if (signer_sign(s, KG_DOMAIN_LICENSE, payload, len, sig) == -1 ||
	    license_key_format(payload, len, sig, text) != KGE_OK)
		return -1;
	key_kept_put(h, *text);
	return 0;
}

/*
 * A failed rotation exchange (what the process did): restart the process
 * for everything but a refusal. -1 always.
 */
static int
signer_rotate_failed(struct signer *s, enum signer_xfer x, const char *step)
{
	switch (x) {
	case XFER_REFUSED:
		log_error("%s: the signer process could not %s the rotation "
		    "(its log line says why)", __func__, step);
		break;
	case XFER_HUNG:
		(void)signer_restart(s, "did not answer a rotation request in "
		    "time and was killed", true);
		break;
	case XFER_GARBLED:
		(void)signer_restart(s, "sent a malformed rotation reply and "
		    "was killed", true);
		break;
	default:
		(void)signer_restart(s, "died", false);
		break;
	}
	return -1;
}

/* Rotation, step 1: a new pending key and its statement; see signer.h. */
static int
signer_rotate_prepare_locked(struct signer *s, int64_t created,
    uint8_t new_pk[KG_PUBKEY_LEN], uint8_t body[SIGNER_ROTATION_BODY_MAX],
    size_t *bodylen, uint8_t sig[KG_SIG_LEN])
{
	uint8_t			reply[SIGNER_ROTATE_REPLY_MAX];
	enum signer_xfer	x;
	size_t			n;

	*bodylen = 0;
	memset(sig, 0, KG_SIG_LEN);
	if (s->failed) {
		log_error("%s: the signer process is gone: keygated is stopping",
		    __func__);
		return -1;
	}
	x = signer_xfer_raw(s, false, SIGNER_OP_ROTATE_PREPARE,
	    (const uint8_t *)&created, sizeof(created), SIGNER_LOAD_TIMEOUT_MS,
	    reply, sizeof(reply), &n);
	if (x == XFER_OK && n <= SIGNER_ROTATE_HEADER)
		x = XFER_GARBLED;
	if (x != XFER_OK)
		return signer_rotate_failed(s, x, "prepare");
	memcpy(new_pk, reply + 4, KG_PUBKEY_LEN);
	memcpy(sig, reply + 4 + KG_PUBKEY_LEN, KG_SIG_LEN);
	*bodylen = n - SIGNER_ROTATE_HEADER;
	memcpy(body, reply + SIGNER_ROTATE_HEADER, *bodylen);
	memcpy(s->pending, new_pk, KG_PUBKEY_LEN);
	s->has_pending = true;
	return 0;
}

/* Rotation, step 3: switch to the prepared key; see signer.h. */
static int
signer_rotate_commit_locked(struct signer *s, const uint8_t new_pk[KG_PUBKEY_LEN])
{
	uint8_t			old[KG_PUBKEY_LEN], old_id[KG_KEY_ID_LEN];
	enum signer_xfer	x;

	if (s->failed)
		return -1;
	/* From now on a restarted process must come back with the new key. */
	memcpy(old, s->pk, sizeof(old));
	memcpy(old_id, s->id, sizeof(old_id));
	memcpy(s->pk, new_pk, KG_PUBKEY_LEN);
	key_id_compute(s->pk, s->id);
	x = signer_xfer_pending(s, SIGNER_OP_ROTATE_COMMIT, new_pk);
	if (x == XFER_OK)
		return 0;
	if (x == XFER_REFUSED) {
		/* It still signs with the old key: nothing may be signed now. */
		memcpy(s->pk, old, sizeof(old));
		memcpy(s->id, old_id, sizeof(old_id));
		log_error("the signer process could not replace %s with the new "
		    "signing key: stopping keygated; fix the cause (see the line "
		    "above) and start it again to finish the rotation",
		    s->key_file);
		signer_fail(s);
		return -1;
	}
	/* Died or hung: the restart commits the pending key (signer_restart). */
	(void)signer_rotate_failed(s, x, "commit");
	return s->failed ? -1 : 0;
}

/* Rotation, instead of step 3: forget the prepared key; see signer.h. */
static int
signer_rotate_abort_locked(struct signer *s, const uint8_t new_pk[KG_PUBKEY_LEN])
{
	enum signer_xfer	x;

	if (s->failed || !s->has_pending ||
	    sodium_memcmp(s->pending, new_pk, KG_PUBKEY_LEN) != 0)
		return -1;
	x = signer_xfer_pending(s, SIGNER_OP_ROTATE_ABORT, new_pk);
	if (x == XFER_OK)
		return 0;
	/* A restart removes a pending key that is not the expected one. */
	return signer_rotate_failed(s, x, "abort");
}

/* At start: finish or undo a rotation cut short; see signer.h. */
static int
signer_rotate_recover_locked(struct signer *s, const uint8_t *active_pk)
{
	char	text[KG_PUBKEY_TEXT_MAX];
	uint8_t	pending[KG_PUBKEY_LEN];

	if (!s->has_pending)
		return 0;
	memcpy(pending, s->pending, sizeof(pending));
	pubkey_format(pending, text);
	if (active_pk != NULL &&
	    sodium_memcmp(s->pk, active_pk, KG_PUBKEY_LEN) != 0 &&
	    sodium_memcmp(pending, active_pk, KG_PUBKEY_LEN) == 0) {
		if (signer_rotate_commit(s, pending) == -1)
			return -1;
		log_warn("finished a signing-key rotation that was cut short: "
		    "%s%s replaced %s; signing with %s", s->key_file,
		    SIGNER_PENDING_SUFFIX, s->key_file, text);
		return 0;
	}
	if (signer_rotate_abort(s, pending) == -1)
		return s->failed ? -1 : 0;
	log_warn("removed %s%s (%s): a signing-key rotation that never reached "
	    "the store", s->key_file, SIGNER_PENDING_SUFFIX, text);
	return 0;
}

/* ---- the entry points, each under the signer's lock (threads) ---- */

int
signer_sign(struct signer *s, enum kg_domain domain, const uint8_t *msg, size_t len,
    uint8_t sig[KG_SIG_LEN])
{
	int	rv;

	pthread_mutex_lock(&s->lock);
	rv = signer_sign_locked(s, domain, msg, len, sig);
	pthread_mutex_unlock(&s->lock);
	return rv;
}

int
signer_rotate_prepare(struct signer *s, int64_t created,
    uint8_t new_pk[KG_PUBKEY_LEN], uint8_t body[SIGNER_ROTATION_BODY_MAX],
    size_t *bodylen, uint8_t sig[KG_SIG_LEN])
{
	int	rv;

	pthread_mutex_lock(&s->lock);
	rv = signer_rotate_prepare_locked(s, created, new_pk, body, bodylen, sig);
	pthread_mutex_unlock(&s->lock);
	return rv;
}

int
signer_rotate_commit(struct signer *s, const uint8_t new_pk[KG_PUBKEY_LEN])
{
	int	rv;

	pthread_mutex_lock(&s->lock);
	rv = signer_rotate_commit_locked(s, new_pk);
	pthread_mutex_unlock(&s->lock);
	return rv;
}

int
signer_rotate_abort(struct signer *s, const uint8_t new_pk[KG_PUBKEY_LEN])
{
	int	rv;

	pthread_mutex_lock(&s->lock);
	rv = signer_rotate_abort_locked(s, new_pk);
	pthread_mutex_unlock(&s->lock);
	return rv;
}

int
signer_rotate_recover(struct signer *s, const uint8_t *active_pk)
{
	int	rv;

	pthread_mutex_lock(&s->lock);
	rv = signer_rotate_recover_locked(s, active_pk);
	pthread_mutex_unlock(&s->lock);
	return rv;
}
