/*
 * Bulk signing (signer.h, signer_many_*): license payloads signed many a
 * request (SIGNER_OP_SIGN_MANY, signer_proc.h), several requests
 * outstanding, for key.issue --count. This is the one place where the
 * signer process's socket carries more than one exchange at a time.
 *
 * Each request lives in one of SIGNER_MANY_SLOTS slots from submit to
 * collect (or cancel), with a ticket that increases in the order requests
 * are sent. The process answers in order, so a reply always belongs to the
 * lowest ticket sent and not yet answered. Replies are received:
 * - by signer_many_collect, waiting for its own (and keeping older ones);
 * - by signer.c's idle watch as soon as they come, while the event loop
 *   runs (signer_many_receive with no wait);
 * - before any other exchange with the process (signer_xfer_raw calls
 *   signer_many_drain), so that a signature or a rotation request never
 *   reads a sign-many reply as its own.
 * A reply is kept in its slot until collected; a cancelled request's reply
 * is dropped when it comes.
 *
 * Restarts: a process that dies, hangs (SIGNER_SIGN_TIMEOUT_MS without the
 * reply waited for) or answers garbage is restarted by signer_restart
 * (signer.c), which marks the requests it had (signer_many_requeue_mark)
 * and sends them to the new process (signer_many_requeue_send), in ticket
 * order. A request sent twice without a reply fails (as signer_sign asks
 * twice), and so does every request once the signer gives up.
 *
 * The parent's send buffer holds SIGNER_MANY_INFLIGHT full requests
 * (signer_spawn); sending more waits for room, SIGNER_SIGN_TIMEOUT_MS at
 * most, while the process reads.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kgerr.h"
#include "log.h"
#include "signer.h"
#include "signer_int.h"
#include "signer_proc.h"

#define MANY_SENDS_MAX	2	/* a request is sent this often at most */

#if SIGNER_MANY_BYTES_MAX < SIGNER_MSG_MAX - SIGNER_MANY_HEADER - \
    SIGNER_MANY_ENTRY_HEADER
#error "SIGNER_MANY_BYTES_MAX must hold what one request may carry"
#endif

enum many_state {
	MANY_FREE,
	MANY_QUEUED,	/* to be sent (again) to a restarted process */
	MANY_SENT,	/* sent to the current process, no reply yet */
	MANY_REPLIED,	/* the signatures are in sig */
	MANY_FAILED,
};

struct signer_many {
	enum many_state	 state;
	bool		 cancelled;	/* drop the reply, free the slot */
	unsigned	 sends;
	uint64_t	 ticket;
	int64_t		 sent_at;	/* signer_clock_msec, last sent */
	size_t		 n;		/* payloads */
	size_t		 len;		/* request bytes */
	uint8_t		 req[SIGNER_REQ_MAX];
	uint8_t		 sig[SIGNER_MANY_MAX * KG_SIG_LEN];
};

/* The slot of ticket, or NULL. */
static struct signer_many *
many_find(struct signer *s, uint64_t ticket)
{
	size_t	i;

	for (i = 0; s->many != NULL && i < SIGNER_MANY_SLOTS; i++)
		if (s->many[i].state != MANY_FREE && s->many[i].ticket == ticket)
			return &s->many[i];
	return NULL;
}

/* The lowest ticket in state st, or NULL. */
static struct signer_many *
many_oldest(struct signer *s, enum many_state st)
{
	struct signer_many	*m = NULL;
	size_t			 i;

	for (i = 0; s->many != NULL && i < SIGNER_MANY_SLOTS; i++)
		if (s->many[i].state == st &&
		    (m == NULL || s->many[i].ticket < m->ticket))
			m = &s->many[i];
	return m;
}

/* A request got its answer, or failed: keep it, or free a cancelled one. */
static void
many_settle(struct signer_many *m, enum many_state st)
{
	m->state = m->cancelled ? MANY_FREE : st;
}

/*
 * Send one packet, waiting SIGNER_SIGN_TIMEOUT_MS at most for room in the
 * socket's buffer (the process is still reading what came before).
 */
static enum signer_xfer
many_send(struct signer *s, const uint8_t *buf, size_t len)
{
	struct pollfd	pfd = { .fd = s->fd, .events = POLLOUT };
	int64_t		deadline = signer_clock_msec() + SIGNER_SIGN_TIMEOUT_MS;
	int64_t		left;
	ssize_t		r;

	if (s->fd == -1)
		return XFER_DEAD;
	for (;;) {
		r = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r == (ssize_t)len)
			return XFER_OK;
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR))
			return XFER_DEAD;
		if ((left = deadline - signer_clock_msec()) <= 0)
			return XFER_HUNG;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			return XFER_DEAD;
	}
}

/* What signer_restart logs for x, and whether the process is killed. */
static int
many_restart(struct signer *s, enum signer_xfer x)
{
	switch (x) {
	case XFER_HUNG:
		return signer_restart(s, "did not answer within "
		    SIGNER_STR(SIGNER_SIGN_TIMEOUT_S) " s and was killed", true);
	case XFER_GARBLED:
		return signer_restart(s, "sent a malformed reply and was killed",
		    true);
	default:
		return signer_restart(s, "died", false);
	}
}

/* Whether n payloads of total bytes fit one sign-many request. */
bool
signer_many_fits(size_t n, size_t total)
{
	return n >= 1 && n <= SIGNER_MANY_MAX && total <= SIGNER_MSG_MAX -
	    SIGNER_MANY_HEADER - n * SIGNER_MANY_ENTRY_HEADER;
}

/* Requests submitted and neither collected nor cancelled. */
size_t
signer_many_outstanding(const struct signer *s)
{
	size_t	i, n = 0;

	for (i = 0; s->many != NULL && i < SIGNER_MANY_SLOTS; i++)
		if (s->many[i].state != MANY_FREE && !s->many[i].cancelled)
			n++;
	return n;
}

/* Whether a reply is due from the current process. */
bool
signer_many_expecting(const struct signer *s)
{
	size_t	i;

	for (i = 0; s->many != NULL && i < SIGNER_MANY_SLOTS; i++)
		if (s->many[i].state == MANY_SENT)
			return true;
	return false;
}

/*
 * Receive the reply of the oldest request sent, waiting timeout_ms at most:
 * 1, 0 when none came (timeout 0 only), -1 when the process failed and was
 * restarted (or the signer gave up).
 */
int
signer_many_receive(struct signer *s, int timeout_ms)
{
	struct signer_many	*m = many_oldest(s, MANY_SENT);
	enum signer_xfer	 x;
	uint32_t		 status, count;
	ssize_t			 r;
	int			 w;

	if (m == NULL)
		return 0;
	if (s->fd == -1)
		x = XFER_DEAD;
	else if ((w = signer_wait_readable(s->fd, timeout_ms)) == 0)
		x = timeout_ms == 0 ? XFER_OK : XFER_HUNG;
	else if (w == -1)
		x = XFER_DEAD;
	else {
		do
			r = recv(s->fd, s->many_reply, SIGNER_MANY_REPLY_MAX,
			    MSG_DONTWAIT | MSG_TRUNC);
		while (r == -1 && errno == EINTR);
		if (r == -1 && errno == EAGAIN)
			return 0;
		if (r <= 0)
			x = XFER_DEAD;
		else if (r < 4 || (size_t)r > SIGNER_MANY_REPLY_MAX)
			x = XFER_GARBLED;
		else {
			memcpy(&status, s->many_reply, 4);
			if (status != SIGNER_STATUS_OK &&
			    r == SIGNER_REPLY_LEN) {
				log_error("%s: the signer process refused a "
				    "request of %zu payloads", __func__, m->n);
				many_settle(m, MANY_FAILED);
				return 1;
			}
			count = 0;
			if (r >= SIGNER_MANY_REPLY_HEADER)
				memcpy(&count, s->many_reply + 4, 4);
			if (status != SIGNER_STATUS_OK || count != m->n ||
			    (size_t)r != SIGNER_MANY_REPLY_HEADER +
			    m->n * KG_SIG_LEN)
				x = XFER_GARBLED;
			else {
				memcpy(m->sig, s->many_reply +
				    SIGNER_MANY_REPLY_HEADER, m->n * KG_SIG_LEN);
				many_settle(m, MANY_REPLIED);
				s->many_reply_at = signer_clock_msec();
				return 1;
			}
		}
	}
	if (x == XFER_OK)
		return 0;
	(void)many_restart(s, x);
	return -1;
}

/* Receive every reply due: 0, or -1 when the signer gave up. */
int
signer_many_drain(struct signer *s)
{
	while (!s->failed && signer_many_expecting(s))
		(void)signer_many_receive(s, SIGNER_SIGN_TIMEOUT_MS);
	return s->failed ? -1 : 0;
}

/* A restart begins: what the old process had goes to the new one. */
void
signer_many_requeue_mark(struct signer *s)
{
	size_t	i;

	for (i = 0; s->many != NULL && i < SIGNER_MANY_SLOTS; i++) {
		if (s->many[i].state != MANY_SENT)
			continue;
		if (s->many[i].sends >= MANY_SENDS_MAX) {
			log_error("%s: a request of %zu payloads failed twice",
			    __func__, s->many[i].n);
			many_settle(&s->many[i], MANY_FAILED);
		} else
			s->many[i].state = s->many[i].cancelled ? MANY_FREE :
			    MANY_QUEUED;
	}
}

/* The new process is up: send it the requests marked, in ticket order. */
void
signer_many_requeue_send(struct signer *s)
{
	struct signer_many	*m;

	while ((m = many_oldest(s, MANY_QUEUED)) != NULL) {
		if (many_send(s, m->req, m->len) != XFER_OK) {
			/* The next exchange finds it dead: no loop here. */
			log_error("%s: the restarted signer process does not "
			    "take requests", __func__);
			signer_many_fail_all(s);
			return;
		}
		m->sends++;
		m->state = MANY_SENT;
		m->sent_at = signer_clock_msec();
	}
}

/* Every request not answered fails (the signer gave up, or cannot send). */
void
signer_many_fail_all(struct signer *s)
{
	size_t	i;

	for (i = 0; s->many != NULL && i < SIGNER_MANY_SLOTS; i++)
		if (s->many[i].state == MANY_QUEUED ||
		    s->many[i].state == MANY_SENT)
			many_settle(&s->many[i], MANY_FAILED);
}

/* At signer_close. */
void
signer_many_free(struct signer *s)
{
	free(s->many);
	free(s->many_reply);
	s->many = NULL;
	s->many_reply = NULL;
}

/* Send payload[0..n) to be signed in the license domain; see signer.h. */
static int
signer_many_submit_locked(struct signer *s, const uint8_t *const payload[],
    const size_t len[], size_t n, uint64_t *ticket)
{
	struct signer_many	*m = NULL;
	enum signer_xfer	 x;
	uint32_t		 v;
	size_t			 i, off, total = 0;

	*ticket = 0;
	if (s->failed) {
		log_error("%s: the signer process is gone: keygated is stopping",
		    __func__);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (payload[i] == NULL || len[i] < 1 || len[i] > KG_PAYLOAD_MAX)
			break;
		total += len[i];
	}
	if (i < n || !signer_many_fits(n, total)) {
		log_error("%s: refusing %zu payloads of %zu bytes", __func__, n,
		    total);
		return -1;
	}
	signer_place_free(s);	/* it signs while the caller works */
	if (s->many == NULL &&
	    ((s->many = calloc(SIGNER_MANY_SLOTS, sizeof(*s->many))) == NULL ||
	    (s->many_reply = malloc(SIGNER_MANY_REPLY_MAX)) == NULL)) {
		log_error("%s: out of memory", __func__);
		signer_many_free(s);
		return -1;
	}
	for (i = 0; i < SIGNER_MANY_SLOTS && m == NULL; i++)
		if (s->many[i].state == MANY_FREE)
			m = &s->many[i];
	if (m == NULL)
		return 1;
	v = SIGNER_OP_SIGN_MANY;
	memcpy(m->req, &v, 4);
	v = (uint32_t)(SIGNER_MANY_HEADER + n * SIGNER_MANY_ENTRY_HEADER +
	    total);
	memcpy(m->req + 4, &v, 4);
	v = (uint32_t)n;
	memcpy(m->req + SIGNER_REQ_HEADER, &v, 4);
	off = SIGNER_REQ_HEADER + SIGNER_MANY_HEADER;
	for (i = 0; i < n; i++) {
		v = (uint32_t)len[i];
		memcpy(m->req + off, &v, 4);
		memcpy(m->req + off + 4, payload[i], len[i]);
		off += 4 + len[i];
	}
	m->len = off;
	m->n = n;
	m->sends = 1;
	m->cancelled = false;
	m->ticket = ++s->many_ticket;
	m->state = MANY_SENT;
	m->sent_at = signer_clock_msec();
	*ticket = m->ticket;
	if ((x = many_send(s, m->req, m->len)) != XFER_OK)
		/* Restarted: the new process gets this one too. */
		(void)many_restart(s, x);
	return 0;
}

/* The ticket's n signatures, waiting for them; see signer.h. */
static int
signer_many_collect_locked(struct signer *s, uint64_t ticket,
    uint8_t (*sig)[KG_SIG_LEN], size_t n)
{
	struct signer_many	*m = many_find(s, ticket);

	if (m == NULL || m->cancelled || m->n != n) {
		log_error("%s: no request %llu of %zu payloads is outstanding",
		    __func__, (unsigned long long)ticket, n);
		memset(sig, 0, n * KG_SIG_LEN);
		return -1;
	}
	while (m->state == MANY_SENT && !s->failed)
		(void)signer_many_receive(s, SIGNER_SIGN_TIMEOUT_MS);
	if (m->state == MANY_REPLIED) {
		memcpy(sig, m->sig, n * KG_SIG_LEN);
		m->state = MANY_FREE;
		return 0;
	}
	log_error("%s: signing %zu payloads failed", __func__, n);
	m->state = MANY_FREE;
	memset(sig, 0, n * KG_SIG_LEN);
	return -1;
}

/* Give ticket up: its reply is dropped when it comes. */
static void
signer_many_cancel_locked(struct signer *s, uint64_t ticket)
{
	struct signer_many	*m = many_find(s, ticket);

	if (m == NULL)
		return;
	if (m->state == MANY_SENT || m->state == MANY_QUEUED)
		m->cancelled = true;
	else
		m->state = MANY_FREE;
}

/*
 * Collecting ticket would not wait; see signer.h. Its caller never waits,
 * so the process's silence is timed here: when the oldest request sent has
 * had no reply for SIGNER_SIGN_TIMEOUT_MS since it was sent or since the
 * last reply (the process answers in order), the process hangs: it is
 * restarted, as a wait in signer_many_collect would have found.
 */
static bool
signer_many_ready_locked(struct signer *s, uint64_t ticket)
{
	struct signer_many	*m = many_find(s, ticket), *old;
	int64_t			 since;

	while (m != NULL && m->state == MANY_SENT && !s->failed &&
	    signer_many_receive(s, 0) == 1)
		;
	if (m != NULL && m->state == MANY_SENT && !s->failed &&
	    (old = many_oldest(s, MANY_SENT)) != NULL) {
		since = old->sent_at > s->many_reply_at ? old->sent_at :
		    s->many_reply_at;
		if (signer_clock_msec() - since > SIGNER_SIGN_TIMEOUT_MS)
			(void)many_restart(s, XFER_HUNG);
	}
	return m == NULL || s->failed ||
	    (m->state != MANY_SENT && m->state != MANY_QUEUED);
}

/* ---- the entry points, each under the signer's lock (threads) ---- */

int
signer_many_submit(struct signer *s, const uint8_t *const payload[],
    const size_t len[], size_t n, uint64_t *ticket)
{
	int	rv;

	pthread_mutex_lock(&s->lock);
	rv = signer_many_submit_locked(s, payload, len, n, ticket);
	pthread_mutex_unlock(&s->lock);
	return rv;
}

int
signer_many_collect(struct signer *s, uint64_t ticket,
    uint8_t (*sig)[KG_SIG_LEN], size_t n)
{
	int	rv;

	pthread_mutex_lock(&s->lock);
	rv = signer_many_collect_locked(s, ticket, sig, n);
	pthread_mutex_unlock(&s->lock);
	return rv;
}

bool
signer_many_ready(struct signer *s, uint64_t ticket)
{
	bool	rv;

	pthread_mutex_lock(&s->lock);
	rv = signer_many_ready_locked(s, ticket);
	pthread_mutex_unlock(&s->lock);
	return rv;
}

void
signer_many_cancel(struct signer *s, uint64_t ticket)
{
	pthread_mutex_lock(&s->lock);
	signer_many_cancel_locked(s, ticket);
	pthread_mutex_unlock(&s->lock);
}
