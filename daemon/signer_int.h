/*
 * What daemon/signer.c and daemon/signer_many.c share (private to them):
 * the signer's state, the outcome of one exchange with the signer process,
 * and the helpers that wait for it and restart it. Everything else sees
 * only signer.h.
 */
#ifndef KG_SIGNER_INT_H
#define KG_SIGNER_INT_H

#include <sys/types.h>

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "signer.h"

#define SIGNER_SIGN_TIMEOUT_S	5	/* one signature (or one sign-many reply) */
#define SIGNER_SIGN_TIMEOUT_MS	(SIGNER_SIGN_TIMEOUT_S * 1000)
#define SIGNER_RESTARTS_MAX	5	/* restarts allowed in SIGNER_RESTART_WINDOW */
#define SIGNER_PIN_WAIT_US	250	/* a pinned process's answer before it is moved */
#define SIGNER_UNPIN_MS		10	/* ... and left there after its answer */

#define SIGNER_STR(x)		SIGNER_STR2(x)
#define SIGNER_STR2(x)		#x

struct event;
struct event_base;

enum signer_xfer {
	XFER_OK,
	XFER_REFUSED,	/* the process answered: it will not sign that */
	XFER_DEAD,	/* end of file or an error on the socket */
	XFER_HUNG,	/* no answer in time */
	XFER_GARBLED,	/* an answer of the wrong shape */
	XFER_AGAIN,	/* restarted meanwhile (for another exchange): ask again */
};

struct signer {
	/*
	 * Worker threads share the one socket: every entry point (signer.h)
	 * runs under this recursive lock; the idle watch only tries it.
	 */
	pthread_mutex_t		 lock;
	char			 key_file[PATH_MAX];
	char			 pass_file[PATH_MAX];	/* "" when none */
	pid_t			 pid;			/* -1 when none */
	cpu_set_t		 cpus;			/* keygated's CPUs, at open */
	int			 cpu;			/* its only CPU, or -1 (signer_place) */
	int64_t			 unpinned_until;	/* signer_clock_msec; 0: follows,
							   INT64_MAX: moved, answer due */
	int			 fd;			/* -1 when none */
	int			 pfd;			/* priority socket or -1 */
	uint8_t			 pk[KG_PUBKEY_LEN];	/* the key it must sign with */
	uint8_t			 id[KG_KEY_ID_LEN];
	bool			 has_pending;		/* the hello named ... */
	uint8_t			 pending[KG_PUBKEY_LEN];	/* ... this prepared key */
	_Atomic bool		 failed;
	int64_t			 restart_at[SIGNER_RESTARTS_MAX]; /* ring, seconds */
	size_t			 nrestarts;
	struct event_base	*base;
	struct event		*ev;			/* EOF while idle */
	void			(*stop)(void *);
	void			*stop_arg;
	/* Sign-many requests (signer_many.c), allocated on first use. */
	struct signer_many	*many;		/* SIGNER_MANY_SLOTS */
	uint8_t			*many_reply;	/* one reply packet */
	uint64_t		 many_ticket;	/* the last one given */
	int64_t			 many_reply_at;	/* signer_clock_msec, last reply */
};

/*
 * Where the signer process runs (signer.c): signer_place_follow keeps it
 * on the calling thread's CPU, for a synchronous request (the caller waits
 * for the answer), except for SIGNER_UNPIN_MS after it was moved off that
 * CPU for answering late there; signer_place_free gives it every CPU
 * again (s->cpus), for requests answered while the caller goes on working
 * (sign-many).
 */
void	signer_place_follow(struct signer *s);
void	signer_place_free(struct signer *s);

/*
 * The sign-many side of signer.c's work (signer_many.c):
 * - signer_many_expecting: a request was sent to the current process and
 *   its reply has not been received;
 * - signer_many_receive: receive the oldest such reply (waiting timeout_ms
 *   at most) and keep it: 1, 0 when none came (timeout 0 only), -1 when
 *   the process failed (it was restarted, or the signer gave up);
 * - signer_many_drain: receive every reply expected; 0, or -1 when the
 *   signer gave up (signer_xfer_raw calls it before its own exchange);
 * - signer_many_requeue_mark, at the start of a restart: the requests the
 *   old process had are to be sent again (once; then they fail);
 *   signer_many_requeue_send, once the new process is up, sends them;
 * - signer_many_fail_all: the signer gave up, every request fails;
 * - signer_many_free: at signer_close.
 */
struct signer_many;

bool	signer_many_expecting(const struct signer *s);
int	signer_many_receive(struct signer *s, int timeout_ms);
int	signer_many_drain(struct signer *s);
void	signer_many_requeue_mark(struct signer *s);
void	signer_many_requeue_send(struct signer *s);
void	signer_many_fail_all(struct signer *s);
void	signer_many_free(struct signer *s);

/* Milliseconds of the monotonic clock. */
int64_t	signer_clock_msec(void);

/* 1 when fd is readable (or at EOF), 0 on timeout, -1 on error. */
int	signer_wait_readable(int fd, int timeout_ms);

/*
 * The process "what" (died, hung...): reap it (killed at once when force)
 * and start another that must report the same public key. 0, or -1 when
 * the signer gave up.
 */
int	signer_restart(struct signer *s, const char *what, bool force);

#endif
