/*
 * kgbench: a load generator for keygated's public TCP port, and for the
 * transport baseline tests/bench/echo.c with the same frames.
 *
 * It opens C connections to 127.0.0.1:PORT (never another host) and sends
 * real Request frames, each with a fresh random 32-byte nonce: update checks
 * that cycle through K distinct license keys (one key a line in a file), or,
 * with --acts, activations that each redeem the next "KEY ACT" pair of a
 * file once. A run ends after --duration seconds or --count requests,
 * whichever comes first; replies still missing after a drain of a few
 * seconds count as errors.
 *
 * Load: with --rate 0 every connection keeps --depth requests outstanding
 * (closed loop, as fast as the server answers); with --rate R requests are
 * scheduled at R per second in total (open loop) and each one's latency runs
 * from its scheduled time, so a server that falls behind is charged for the
 * queueing it causes (no coordinated omission).
 *
 * Replies: every reply is decoded and must carry its request's nonce; an
 * Error reply counts as an error. One reply in --verify-every has its
 * Ed25519 signature checked with the daemon's public key (--pubkey, the
 * domain "keygate-reply-v1\0") and its request hash compared, so a daemon
 * that answers garbage or unsigned replies cannot look fast. With --echo
 * replies are opaque frames and nothing is verified.
 *
 * Server latency (open loop only): the client shares the machine, and a
 * client thread kept off its CPU for a few milliseconds (by a kernel thread,
 * say) charges that to every request it should have sent or read meanwhile.
 * So each open-loop reply also has a server latency: from the moment its
 * request was written to the socket to the moment the kernel received the
 * reply (SO_TIMESTAMPNS), which leaves out only the client's own delays. A
 * request that waited because every connection's slots were taken (the
 * server holding them all) is charged from its scheduled time there too.
 *
 * Latency goes into a log-linear histogram (HDR style: 64 sub-buckets per
 * power of two, under 1.6% error, fixed memory); kgbench prints throughput,
 * p50/p99/p999, error counts and, with --pid, the server's CPU time per reply
 * from /proc/PID/stat (utime + stime over the run).
 *
 * --idle N opens N connections and, with --pid, prints the server's VmRSS
 * once they are all accepted and again after one check on each.
 *
 * Output: one "name: value" line per figure on stdout. Exit status 0 when
 * the run had no errors, 2 when it had some, 1 for bad usage.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>


#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "keygate.pb-c.h"

#include "bench.h"
#include "kgerr.h"

#define BENCH_NONCE_LEN		32
#define BENCH_CONN_MAX		200000
#define BENCH_THREADS_MAX	64
#define BENCH_DEPTH_MAX		128
#define BENCH_DURATION_MAX	3600.0
#define BENCH_DRAIN_NS		(5 * NS_PER_S)	/* wait for late replies */
#define BENCH_PRIME_NS		(30 * NS_PER_S)	/* first request on every connection */
#define BENCH_IDLE_NS		(30 * NS_PER_S)	/* the server accepting --idle N */
#define BENCH_EVENTS		256
#define BENCH_READ_CHUNK	16384
#define BENCH_NONCE_POOL	256		/* nonces drawn per getrandom */

enum bench_mode {
	MODE_CHECK,
	MODE_ACTIVATE,
	MODE_ECHO,
	MODE_IDLE,
};

struct opts {
	uint16_t	 port;
	uint32_t	 conns;
	uint32_t	 threads;
	uint32_t	 depth;
	double		 duration;
	uint64_t	 count;
	double		 rate;
	uint32_t	 verify_every;
	long		 pid;
	const char	*keys_path;
	const char	*acts_path;
	const char	*pubkey_path;
	const char	*product;
	const char	*version;
	enum bench_mode	 mode;
	uint32_t	 idle;
};

/* Counters of one worker; summed at the end. */
struct tally {
	uint64_t	sent;
	uint64_t	replies;
	uint64_t	connect_err;
	uint64_t	closed;		/* connections lost during the run */
	uint64_t	error_replies;	/* Error results */
	uint64_t	bad_replies;	/* undecodable, wrong nonce, unsolicited */
	uint64_t	verify_failed;
	uint64_t	timeouts;	/* no reply by the end of the drain */
	uint64_t	verified;
	uint64_t	batched;	/* replies signed in a batch */
	uint64_t	demo;		/* check: verdict "demo" */
	uint64_t	renewed;	/* activate: a renewal applied */
	uint64_t	refused;	/* activate: a verdict without a renewal */
	uint64_t	req_bytes;
	uint64_t	reply_bytes;
	char		first_error[BENCH_REASON_LEN];
};

/* One request on its way. */
struct pending {
	uint64_t	t_start;	/* ns: scheduled (open loop) or sent */
	uint64_t	t_server;	/* ns: sent, or scheduled when it waited for a slot */
	bool		verify;
	uint8_t		nonce[BENCH_NONCE_LEN];
	uint8_t		hash[KG_HASH_LEN];	/* only when verify */
};

struct worker;

struct conn {
	int		 fd;
	bool		 dead;
	bool		 want_out;	/* EPOLLOUT registered */
	struct worker	*w;
	uint8_t		*rbuf;
	size_t		 rlen, rcap;
	uint8_t		*wbuf;
	size_t		 woff, wlen, wcap;
	struct pending	*pend;		/* ring of depth entries */
	uint32_t	 phead, npend;
};

struct worker {
	uint32_t	 id;
	pthread_t	 thread;
	int		 epfd;
	struct conn	*conn;
	uint32_t	 nconn;
	uint32_t	 rr;		/* round-robin cursor for open-loop sends */
	uint64_t	 free_slots;	/* sum over live conns of depth - npend */
	uint64_t	 pending;	/* requests outstanding */
	double		 rate;		/* this worker's share, per second */
	uint64_t	 next_sched;	/* open loop: index of the next request */
	uint64_t	 key_seq;
	bool		 stop_sending;
	uint8_t		 nonce_pool[BENCH_NONCE_POOL * BENCH_NONCE_LEN];
	size_t		 nonce_off;	/* next unused byte of nonce_pool */
	bool		 starved;	/* open loop: due requests, no free slot */
	struct hist	 hist;		/* from t_start to the reply read */
	struct hist	 shist;		/* from t_server to the reply's arrival */
	struct tally	 t;
	Keygate__Request	req;
	Keygate__CheckRequest	check;
	Keygate__ActivateRequest activate;
};

static struct opts		 opt;
static struct workload		 load;
static struct kg_trustset	 trust;
static uint64_t			 t_begin, t_end;	/* ns, CLOCK_MONOTONIC */
static int64_t			 rt_minus_mono;	/* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
static uint64_t			 send_limit;
static atomic_uint_fast64_t	 send_seq;
static pthread_barrier_t	 start_barrier;

static void	usage(FILE *) __attribute__((noreturn));

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/*
 * CLOCK_REALTIME - CLOCK_MONOTONIC in ns, for the kernel's receive
 * timestamps (realtime): the narrowest of a few readings.
 */
static int64_t
clock_offset_ns(void)
{
	struct timespec	m0, r, m1;
	int64_t		best = 0, off;
	uint64_t	span, best_span = UINT64_MAX;
	int		i;

	for (i = 0; i < 5; i++) {
		clock_gettime(CLOCK_MONOTONIC, &m0);
		clock_gettime(CLOCK_REALTIME, &r);
		clock_gettime(CLOCK_MONOTONIC, &m1);
		span = (uint64_t)((m1.tv_sec - m0.tv_sec) * (int64_t)NS_PER_S +
		    (m1.tv_nsec - m0.tv_nsec));
		off = r.tv_sec * (int64_t)NS_PER_S + r.tv_nsec -
		    (m0.tv_sec * (int64_t)NS_PER_S + m0.tv_nsec + (int64_t)span / 2);
		if (span < best_span) {
			best_span = span;
			best = off;
		}
	}
	return best;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: kgbench --port PORT [options]\n"
	    "  --keys FILE          license keys, one a line (check and echo modes)\n"
	    "  --acts FILE          \"KEY ACT\" lines: activations, each pair once\n"
	    "  --echo               drive tests/bench/echo.c: opaque replies, no verification\n"
	    "  --idle N             open N idle connections, report the server's RSS (--pid)\n"
	    "  --pubkey FILE        the daemon's public key (KGP1 lines) to verify replies\n"
	    "  --connections C      connections (default 32)\n"
	    "  --threads N          client threads, one event loop each (default 1)\n"
	    "  --depth D            requests outstanding per connection (default 1)\n"
	    "  --duration SECONDS   run time bound (default 5)\n"
	    "  --count N            request count bound (default 100000000)\n"
	    "  --rate R             requests/s in total, open loop (default 0: closed loop)\n"
	    "  --verify-every N     verify the signature of one reply in N (default 100)\n"
	    "  --pid PID            the server's pid: CPU time per reply, RSS\n"
	    "  --product CODE       check requests' product (default BENCH)\n"
	    "  --version V          check requests' installed version (default 1.0)\n");
	exit(f == stdout ? 0 : 1);
}

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list	ap;

	fputs("kgbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static unsigned long long
arg_uint(const char *name, const char *s, unsigned long long lo,
    unsigned long long hi)
{
	unsigned long long	 v;
	char			*end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] == '\0' || s[0] == '-' || *end != '\0' || errno != 0 ||
	    v < lo || v > hi)
		die("--%s: expected a whole number from %llu to %llu, not '%s'",
		    name, lo, hi, s);
	return v;
}

static double
arg_double(const char *name, const char *s, double lo, double hi)
{
	double	 v;
	char	*end;

	errno = 0;
	v = strtod(s, &end);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || !(v >= lo && v <= hi))
		die("--%s: expected a number from %g to %g, not '%s'", name, lo,
		    hi, s);
	return v;
}

/* ---- connections ---- */

static void
tally_error(struct tally *t, const char *what)
{
	if (t->first_error[0] == '\0')
		snprintf(t->first_error, sizeof(t->first_error), "%s", what);
}

static void
conn_init(struct conn *c, struct worker *w, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->w = w;
	c->dead = fd == -1;
	c->rcap = BENCH_READ_CHUNK;
	c->wcap = 1024;
	if ((c->rbuf = malloc(c->rcap)) == NULL ||
	    (c->wbuf = malloc(c->wcap)) == NULL ||
	    (c->pend = calloc(opt.depth, sizeof(*c->pend))) == NULL)
		die("out of memory");
}

/* Close c after a failure: a lost connection, its pending requests lost too. */
static void
conn_kill(struct conn *c)
{
	struct worker	*w = c->w;

	if (c->dead)
		return;
	c->dead = true;
	w->t.closed++;
	w->free_slots -= opt.depth - c->npend;
	w->pending -= c->npend;
	c->npend = 0;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

static void
conn_free(struct conn *c)
{
	if (!c->dead) {
		close(c->fd);
		c->dead = true;
	}
	free(c->rbuf);
	free(c->wbuf);
	free(c->pend);
}

/* Write what is buffered; watch for EPOLLOUT when the socket is full. */
static void
conn_flush(struct conn *c)
{
	struct epoll_event	ev;
	ssize_t			n;

	while (c->woff < c->wlen) {
		n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			tally_error(&c->w->t, "write failed");
			conn_kill(c);
			return;
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	if ((c->woff < c->wlen) != c->want_out) {
		c->want_out = c->woff < c->wlen;
		ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
		ev.data.ptr = c;
		epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

/* A sequence number for the next request, or false when the run is over. */
static bool
send_permit(struct worker *w, uint64_t *seq)
{
	if (w->stop_sending)
		return false;
	*seq = atomic_fetch_add(&send_seq, 1);
	if (*seq >= send_limit) {
		w->stop_sending = true;
		return false;
	}
	return true;
}

/*
 * Queue one request on c (which has a free slot), started at t_start, its
 * server latency from t_server.
 */
static void
conn_request(struct conn *c, uint64_t seq, uint64_t t_start, uint64_t t_server)
{
	struct worker	*w = c->w;
	struct pending	*p;
	size_t		 len, need;
	uint8_t		*msg;

	p = &c->pend[(c->phead + c->npend) % opt.depth];
	p->t_start = t_start;
	p->t_server = t_server;
	p->verify = opt.mode != MODE_ECHO && seq % opt.verify_every == 0;
	if (w->nonce_off == 0 || w->nonce_off == sizeof(w->nonce_pool)) {
		randombytes_buf(w->nonce_pool, sizeof(w->nonce_pool));
		w->nonce_off = 0;
	}
	memcpy(p->nonce, w->nonce_pool + w->nonce_off, BENCH_NONCE_LEN);
	w->nonce_off += BENCH_NONCE_LEN;
	w->req.nonce.data = p->nonce;
	w->req.nonce.len = sizeof(p->nonce);
	if (opt.mode == MODE_ACTIVATE) {
		w->activate.key = load.key[seq % load.n];
		w->activate.act = load.act[seq % load.n];
	} else {
		w->check.key = load.key[(w->id + (uint64_t)opt.threads *
		    w->key_seq++) % load.n];
	}
	len = keygate__request__get_packed_size(&w->req);
	need = c->wlen + 4 + len;
	if (need > c->wcap) {
		while (c->wcap < need)
			c->wcap *= 2;
		if ((c->wbuf = realloc(c->wbuf, c->wcap)) == NULL)
			die("out of memory");
	}
	msg = c->wbuf + c->wlen + 4;
	c->wbuf[c->wlen] = (uint8_t)(len >> 24);
	c->wbuf[c->wlen + 1] = (uint8_t)(len >> 16);
	c->wbuf[c->wlen + 2] = (uint8_t)(len >> 8);
	c->wbuf[c->wlen + 3] = (uint8_t)len;
	keygate__request__pack(&w->req, msg);
	if (p->verify)
		crypto_generichash(p->hash, sizeof(p->hash), msg, len, NULL, 0);
	c->wlen += 4 + len;
	c->npend++;
	w->free_slots--;
	w->pending++;
	w->t.sent++;
	w->t.req_bytes += 4 + len;
}

/*
 * Count one reply to the request p. Returns false when it is not a reply to
 * p at all (the connection cannot be trusted after it).
 */
static bool
reply_count(struct worker *w, const struct pending *p, const uint8_t *buf,
    size_t len)
{
	struct reply_info	info;

	if (opt.mode == MODE_ECHO)
		return true;
	reply_inspect(&trust, buf, len, p->nonce, sizeof(p->nonce),
	    p->verify ? p->hash : NULL, &info);
	switch (info.result) {
	case REPLY_BAD:
		w->t.bad_replies++;
		tally_error(&w->t, info.reason);
		return false;
	case REPLY_ERROR:
		w->t.error_replies++;
		tally_error(&w->t, info.reason);
		break;
	case REPLY_VERDICT:
		if (opt.mode == MODE_ACTIVATE && info.renewed)
			w->t.renewed++;
		else if (opt.mode == MODE_ACTIVATE) {
			w->t.refused++;
			tally_error(&w->t, info.reason);
		} else if (info.demo) {
			w->t.demo++;
			tally_error(&w->t, info.reason);
		}
		break;
	}
	if (info.batched)
		w->t.batched++;
	if (p->verify && info.verified)
		w->t.verified++;
	else if (p->verify) {
		w->t.verify_failed++;
		tally_error(&w->t, "reply signature does not verify");
	}
	return true;
}

/*
 * The CLOCK_MONOTONIC time of the kernel's receive timestamp in mh (the
 * arrival of the last segment this read returned), or now when there is
 * none; never later than now.
 */
static uint64_t
rx_time(struct msghdr *mh, uint64_t now)
{
	struct cmsghdr	*cm;
	struct timespec	 ts;
	int64_t		 t;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
		t = (int64_t)ts.tv_sec * (int64_t)NS_PER_S + ts.tv_nsec -
		    rt_minus_mono;
		return t > 0 && (uint64_t)t < now ? (uint64_t)t : now;
	}
	return now;
}

/* Read what c has and handle every complete reply frame. */
static void
conn_read(struct conn *c, uint64_t now)
{
	union {
		char		buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr	align;
	}		 ctl;
	struct worker	*w = c->w;
	struct pending	*p;
	struct iovec	 iov;
	struct msghdr	 mh;
	uint64_t	 rx = now;
	size_t		 off = 0;
	uint32_t	 flen;
	ssize_t		 n;

	for (;;) {
		if (c->rcap - c->rlen < BENCH_READ_CHUNK / 2) {
			c->rcap *= 2;
			if ((c->rbuf = realloc(c->rbuf, c->rcap)) == NULL)
				die("out of memory");
		}
		iov.iov_base = c->rbuf + c->rlen;
		iov.iov_len = c->rcap - c->rlen;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(c->fd, &mh, 0);
		if (n > 0)
			rx = rx_time(&mh, now);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			tally_error(&w->t, n == 0 ? "server closed a connection" :
			    "read failed");
			conn_kill(c);
			return;
		}
		c->rlen += (size_t)n;
		if (c->rlen < c->rcap)
			break;
	}
	while (c->rlen - off >= 4) {
		flen = (uint32_t)c->rbuf[off] << 24 |
		    (uint32_t)c->rbuf[off + 1] << 16 |
		    (uint32_t)c->rbuf[off + 2] << 8 | c->rbuf[off + 3];
		if (flen > KG_FRAME_MAX || c->npend == 0) {
			w->t.bad_replies++;
			tally_error(&w->t, c->npend == 0 ? "unsolicited reply" :
			    "oversize reply frame");
			conn_kill(c);
			return;
		}
		if (c->rlen - off < 4 + (size_t)flen)
			break;
		p = &c->pend[c->phead];
		hist_add(&w->hist, now > p->t_start ? now - p->t_start : 0);
		hist_add(&w->shist, rx > p->t_server ? rx - p->t_server : 0);
		w->t.replies++;
		w->t.reply_bytes += 4 + flen;
		c->phead = (c->phead + 1) % opt.depth;
		c->npend--;
		w->free_slots++;
		w->pending--;
		if (!reply_count(w, p, c->rbuf + off + 4, flen)) {
			conn_kill(c);
			return;
		}
		off += 4 + flen;
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	/* A frame larger than the buffer: make room for all of it. */
	if (c->rlen >= 4) {
		flen = (uint32_t)c->rbuf[0] << 24 | (uint32_t)c->rbuf[1] << 16 |
		    (uint32_t)c->rbuf[2] << 8 | c->rbuf[3];
		while (c->rcap < 4 + (size_t)flen + BENCH_READ_CHUNK / 2) {
			c->rcap *= 2;
			if ((c->rbuf = realloc(c->rbuf, c->rcap)) == NULL)
				die("out of memory");
		}
	}
}

/* Closed loop: top c up to depth outstanding requests. */
static void
conn_refill(struct conn *c, uint64_t now)
{
	uint64_t	seq;

	while (!c->dead && c->npend < opt.depth && send_permit(c->w, &seq))
		conn_request(c, seq, now, now);
}

/* Open loop: send every request scheduled by now, on connections with room. */
static void
worker_dispatch(struct worker *w, uint64_t now)
{
	struct conn	*c;
	uint64_t	 due, seq, sched;
	uint32_t	 tries;

	due = (uint64_t)((double)(now - t_begin) * w->rate / 1e9) + 1;
	while (w->next_sched < due && !w->stop_sending) {
		/* Find a connection with room; free_slots > 0 says there is one. */
		for (tries = 0; tries < w->nconn && w->free_slots > 0; tries++) {
			c = &w->conn[w->rr];
			w->rr = (w->rr + 1) % w->nconn;
			if (!c->dead && c->npend < opt.depth)
				break;
		}
		if (w->free_slots == 0 || tries == w->nconn) {
			w->starved = true;	/* the server holds every slot */
			break;
		}
		if (!send_permit(w, &seq))
			break;
		sched = t_begin + (uint64_t)((double)w->next_sched * 1e9 /
		    w->rate);
		conn_request(c, seq, sched, w->starved ? sched : now_ns());
		conn_flush(c);
		w->next_sched++;
	}
	if (w->next_sched >= due)
		w->starved = false;
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct epoll_event	 evs[BENCH_EVENTS];
	struct timespec		 ts;
	struct conn		*c;
	uint64_t		 now, wait, drain_end = 0, next;
	uint32_t		 i;
	int			 m, k;

	pthread_barrier_wait(&start_barrier);
	now = now_ns();
	if (opt.rate == 0) {
		for (i = 0; i < w->nconn; i++) {
			conn_refill(&w->conn[i], now);
			if (!w->conn[i].dead)
				conn_flush(&w->conn[i]);
		}
	}
	for (;;) {
		now = now_ns();
		if (!w->stop_sending && now >= t_end)
			w->stop_sending = true;
		if (w->stop_sending) {
			if (drain_end == 0)
				drain_end = now + BENCH_DRAIN_NS;
			if (w->pending == 0 || now >= drain_end)
				break;
		}
		if (opt.rate > 0 && !w->stop_sending) {
			worker_dispatch(w, now);
			next = t_begin + (uint64_t)((double)w->next_sched *
			    1e9 / w->rate);
			wait = next > now ? next - now : 0;
			if (w->free_slots == 0)
				wait = 10 * 1000 * 1000;
		} else
			wait = 50 * 1000 * 1000;
		if (!w->stop_sending && t_end > now && t_end - now < wait)
			wait = t_end - now;
		if (w->stop_sending && drain_end - now < wait)
			wait = drain_end - now;
		ts.tv_sec = (time_t)(wait / NS_PER_S);
		ts.tv_nsec = (long)(wait % NS_PER_S);
		m = epoll_pwait2(w->epfd, evs, BENCH_EVENTS, &ts, NULL);
		if (m == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_pwait2: %s", strerror(errno));
		}
		now = now_ns();
		for (k = 0; k < m; k++) {
			c = evs[k].data.ptr;
			if (c->dead)
				continue;
			if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_read(c, now);
			if (c->dead)
				continue;
			if (opt.rate == 0)
				conn_refill(c, now);
			conn_flush(c);
		}
	}
	/* Requests without a reply by now are lost. */
	w->t.timeouts += w->pending;
	if (w->pending > 0)
		tally_error(&w->t, "no reply before the drain ended");
	return NULL;
}

/*
 * One request on every live connection of w, then wait for every reply
 * (BENCH_PRIME_NS at most): afterwards the server has accepted and served
 * each connection once. Counted like any other request.
 */
static void
worker_prime(struct worker *w)
{
	struct epoll_event	 evs[BENCH_EVENTS];
	struct conn		*c;
	uint64_t		 now, deadline;
	uint32_t		 i;
	int			 m, k;

	now = now_ns();
	for (i = 0; i < w->nconn; i++) {
		c = &w->conn[i];
		if (c->dead)
			continue;
		conn_request(c, w->t.sent, now, now);
		conn_flush(c);
	}
	deadline = now_ns() + BENCH_PRIME_NS;
	while (w->pending > 0 && now_ns() < deadline) {
		if ((m = epoll_wait(w->epfd, evs, BENCH_EVENTS, 100)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (k = 0; k < m; k++) {
			c = evs[k].data.ptr;
			if (c->dead)
				continue;
			if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_read(c, now_ns());
			if (!c->dead)
				conn_flush(c);
		}
	}
}

/*
 * Forget what the warm-up measured (latencies, counts, bytes); its errors
 * stay counted.
 */
static void
worker_reset(struct worker *w)
{
	memset(&w->hist, 0, sizeof(w->hist));
	memset(&w->shist, 0, sizeof(w->shist));
	w->t.sent = w->t.replies = w->t.verified = w->t.batched = 0;
	w->t.req_bytes = w->t.reply_bytes = 0;
}

static void
worker_setup(struct worker *w, uint32_t id, const int *fds, uint32_t n)
{
	struct epoll_event	ev;
	uint32_t		i;
	int			one = 1;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->nconn = n;
	if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	if ((w->conn = calloc(n > 0 ? n : 1, sizeof(*w->conn))) == NULL)
		die("out of memory");
	for (i = 0; i < n; i++) {
		conn_init(&w->conn[i], w, fds[i]);
		if (fds[i] == -1)
			continue;
		/*
		 * Open loop: the kernel stamps each reply's arrival (server
		 * latency). Not in closed loop: stamping turns on a timestamp
		 * for every packet the machine receives, keygated's included,
		 * which would weigh on the CPU figures.
		 */
		if (opt.rate > 0)
			setsockopt(fds[i], SOL_SOCKET, SO_TIMESTAMPNS, &one,
			    sizeof(one));
		w->free_slots += opt.depth;
		ev.events = EPOLLIN;
		ev.data.ptr = &w->conn[i];
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fds[i], &ev) == -1)
			die("epoll_ctl: %s", strerror(errno));
	}
	w->rate = opt.rate / opt.threads;
	keygate__request__init(&w->req);
	w->req.protocol = KG_PROTOCOL_VERSION;
	if (opt.mode == MODE_ACTIVATE) {
		keygate__activate_request__init(&w->activate);
		w->req.body_case = KEYGATE__REQUEST__BODY_ACTIVATE;
		w->req.activate = &w->activate;
	} else {
		keygate__check_request__init(&w->check);
		w->check.product = (char *)opt.product;
		w->check.version = (char *)opt.version;
		w->req.body_case = KEYGATE__REQUEST__BODY_CHECK;
		w->req.check = &w->check;
	}
}

static void
tally_add(struct tally *into, const struct tally *t)
{
	into->sent += t->sent;
	into->replies += t->replies;
	into->connect_err += t->connect_err;
	into->closed += t->closed;
	into->error_replies += t->error_replies;
	into->bad_replies += t->bad_replies;
	into->verify_failed += t->verify_failed;
	into->timeouts += t->timeouts;
	into->verified += t->verified;
	into->batched += t->batched;
	into->demo += t->demo;
	into->renewed += t->renewed;
	into->refused += t->refused;
	into->req_bytes += t->req_bytes;
	into->reply_bytes += t->reply_bytes;
	if (into->first_error[0] == '\0')
		memcpy(into->first_error, t->first_error, sizeof(t->first_error));
}

static double
rusage_seconds(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static const char *
mode_name(enum bench_mode m)
{
	switch (m) {
	case MODE_CHECK:
		return "check";
	case MODE_ACTIVATE:
		return "activate";
	case MODE_ECHO:
		return "echo";
	case MODE_IDLE:
		return "idle";
	}
	return "?";
}

/* The load run: connect, start the workers together, sum what they saw. */
static int
bench_run(void)
{
	struct worker	*w;
	struct hist	*all, *sall;
	struct tally	 t;
	double		 cpu0 = -1, cpu1 = -1, ucpu0, ucpu1, elapsed;
	long		 tree[PROC_TREE_MAX];
	uint64_t	 errors, t_done, warm = 0;
	uint32_t	 i, off, n, failed;
	int		*fds;

	if ((fds = calloc(opt.conns, sizeof(*fds))) == NULL ||
	    (w = calloc(opt.threads, sizeof(*w))) == NULL ||
	    (all = calloc(1, sizeof(*all))) == NULL ||
	    (sall = calloc(1, sizeof(*sall))) == NULL)
		die("out of memory");
	rt_minus_mono = clock_offset_ns();
	failed = net_conns_open(fds, opt.conns, opt.port);
	if (failed == opt.conns)
		die("no connection to 127.0.0.1:%u could be opened", opt.port);
	for (i = 0, off = 0; i < opt.threads; i++, off += n) {
		n = opt.conns / opt.threads + (i < opt.conns % opt.threads);
		worker_setup(&w[i], i, fds + off, n);
	}
	/*
	 * Warm-up: every connection accepted and served once before the clock
	 * starts (activations would spend acts, so they start cold).
	 */
	if (opt.mode != MODE_ACTIVATE) {
		for (i = 0; i < opt.threads; i++) {
			worker_prime(&w[i]);
			warm += w[i].t.replies;
			worker_reset(&w[i]);
		}
	}
	if (pthread_barrier_init(&start_barrier, NULL, opt.threads + 1) != 0)
		die("pthread_barrier_init failed");
	for (i = 0; i < opt.threads; i++)
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
			die("pthread_create failed");
	if (opt.pid > 0)
		cpu0 = proc_cpu_seconds(opt.pid);
	ucpu0 = rusage_seconds();
	t_begin = now_ns();
	t_end = t_begin + (uint64_t)(opt.duration * 1e9);
	pthread_barrier_wait(&start_barrier);
	memset(&t, 0, sizeof(t));
	for (i = 0; i < opt.threads; i++) {
		pthread_join(w[i].thread, NULL);
		tally_add(&t, &w[i].t);
		hist_merge(all, &w[i].hist);
		hist_merge(sall, &w[i].shist);
	}
	t_done = now_ns();
	if (opt.pid > 0)
		cpu1 = proc_cpu_seconds(opt.pid);
	ucpu1 = rusage_seconds();
	elapsed = (double)(t_done - t_begin) / 1e9;
	t.connect_err = failed;
	if (failed > 0)
		tally_error(&t, "connect failed");
	errors = t.connect_err + t.closed + t.error_replies + t.bad_replies +
	    t.verify_failed + t.timeouts;

	printf("mode: %s\n", mode_name(opt.mode));
	printf("connections: %u\n", opt.conns);
	printf("threads: %u\n", opt.threads);
	printf("depth: %u\n", opt.depth);
	printf("target_rate: %.0f\n", opt.rate);
	printf("keys: %zu\n", load.n);
	printf("warmup_replies: %" PRIu64 "\n", warm);
	printf("elapsed_s: %.3f\n", elapsed);
	printf("requests: %" PRIu64 "\n", t.sent);
	printf("replies: %" PRIu64 "\n", t.replies);
	printf("throughput_rps: %.1f\n", elapsed > 0 ? t.replies / elapsed : 0);
	printf("latency_us_p50: %.1f\n", hist_quantile(all, 0.50) / 1e3);
	printf("latency_us_p99: %.1f\n", hist_quantile(all, 0.99) / 1e3);
	printf("latency_us_p999: %.1f\n", hist_quantile(all, 0.999) / 1e3);
	printf("latency_us_max: %.1f\n", all->max / 1e3);
	if (opt.rate > 0) {
		printf("server_latency_us_p50: %.1f\n",
		    hist_quantile(sall, 0.50) / 1e3);
		printf("server_latency_us_p99: %.1f\n",
		    hist_quantile(sall, 0.99) / 1e3);
		printf("server_latency_us_p999: %.1f\n",
		    hist_quantile(sall, 0.999) / 1e3);
		printf("server_latency_us_max: %.1f\n", sall->max / 1e3);
	}
	printf("request_bytes: %.1f\n", t.sent ? (double)t.req_bytes / t.sent : 0);
	printf("reply_bytes: %.1f\n",
	    t.replies ? (double)t.reply_bytes / t.replies : 0);
	printf("errors: %" PRIu64 "\n", errors);
	printf("errors_detail: connect=%" PRIu64 " closed=%" PRIu64
	    " error_replies=%" PRIu64 " bad_replies=%" PRIu64
	    " verify_failed=%" PRIu64 " timeouts=%" PRIu64 "\n",
	    t.connect_err, t.closed, t.error_replies, t.bad_replies,
	    t.verify_failed, t.timeouts);
	if (t.first_error[0] != '\0')
		printf("first_error: %s\n", t.first_error);
	if (opt.mode != MODE_ECHO) {
		printf("verified: %" PRIu64 "\n", t.verified);
		printf("batched: %" PRIu64 "\n", t.batched);
		printf("verify_failed: %" PRIu64 "\n", t.verify_failed);
		printf("verify_every: %u\n", opt.verify_every);
	}
	if (opt.mode == MODE_CHECK)
		printf("demo_replies: %" PRIu64 "\n", t.demo);
	if (opt.mode == MODE_ACTIVATE) {
		printf("renewed: %" PRIu64 "\n", t.renewed);
		printf("refused: %" PRIu64 "\n", t.refused);
		printf("renewed_per_s: %.1f\n",
		    elapsed > 0 ? t.renewed / elapsed : 0);
	}
	if (cpu0 >= 0 && cpu1 >= 0) {
		printf("server_cpu_s: %.2f\n", cpu1 - cpu0);
		printf("server_cpu_us_per_reply: %.2f\n",
		    t.replies ? (cpu1 - cpu0) * 1e6 / t.replies : 0);
		printf("server_processes: %zu\n", proc_tree(opt.pid, tree,
		    PROC_TREE_MAX));
		printf("server_rss_kb: %ld\n", proc_tree_rss_kb(opt.pid));
	}
	printf("client_cpu_us_per_reply: %.2f\n",
	    t.replies ? (ucpu1 - ucpu0) * 1e6 / t.replies : 0);

	for (i = 0; i < opt.threads; i++) {
		for (n = 0; n < w[i].nconn; n++)
			conn_free(&w[i].conn[n]);
		free(w[i].conn);
		close(w[i].epfd);
	}
	pthread_barrier_destroy(&start_barrier);
	free(all);
	free(sall);
	free(w);
	free(fds);
	if (opt.mode == MODE_ACTIVATE && t.refused > 0)
		errors++;
	return errors == 0 ? 0 : 2;
}

/*
 * --idle N: open N connections, wait until the server holds them all, read
 * its RSS; then one check on each (so each is a live, used connection) and
 * read it again; then close them all.
 */
static int
bench_idle(void)
{
	struct worker	*w;
	uint64_t	 deadline;
	long		 fd0, fdn, rss0, rss1, rss2, hwm, rsst;
	uint32_t	 i, failed;
	int		*fds, ret = 0;

	if ((fds = calloc(opt.idle, sizeof(*fds))) == NULL ||
	    (w = calloc(1, sizeof(*w))) == NULL)
		die("out of memory");
	fd0 = proc_fd_count(opt.pid);
	rss0 = proc_status_kb(opt.pid, "VmRSS");
	if (fd0 < 0 || rss0 < 0)
		die("cannot read /proc/%ld: is --pid right?", opt.pid);
	failed = net_conns_open(fds, opt.idle, opt.port);
	/* The server has them all once its fd count grew by as many. */
	deadline = now_ns() + BENCH_IDLE_NS;
	while ((fdn = proc_fd_count(opt.pid)) >= 0 &&
	    fdn < fd0 + (long)(opt.idle - failed) && now_ns() < deadline)
		usleep(20000);
	rss1 = proc_status_kb(opt.pid, "VmRSS");

	opt.depth = 1;
	opt.threads = 1;
	worker_setup(w, 0, fds, opt.idle);
	worker_prime(w);
	w->t.timeouts = w->pending;
	rss2 = proc_status_kb(opt.pid, "VmRSS");
	hwm = proc_status_kb(opt.pid, "VmHWM");
	rsst = proc_tree_rss_kb(opt.pid);
	w->t.connect_err = failed;

	printf("mode: idle\n");
	printf("idle_connections: %u\n", opt.idle - failed);
	printf("connect_failed: %u\n", failed);
	printf("server_fds: %ld\n", fdn);
	printf("rss_kb_before: %ld\n", rss0);
	printf("rss_kb_connected: %ld\n", rss1);
	printf("rss_kb_after_one_check: %ld\n", rss2);
	printf("rss_kb_peak: %ld\n", hwm);
	/* With the processes keygated forked (the signer): */
	printf("rss_kb_tree_after_one_check: %ld\n", rsst);
	printf("replies: %" PRIu64 "\n", w->t.replies);
	printf("verified: %" PRIu64 "\n", w->t.verified);
	printf("errors: %" PRIu64 "\n", w->t.connect_err + w->t.closed +
	    w->t.error_replies + w->t.bad_replies + w->t.verify_failed +
	    w->t.timeouts);
	if (w->t.first_error[0] != '\0')
		printf("first_error: %s\n", w->t.first_error);
	if (failed > 0 || w->t.replies != opt.idle - failed ||
	    w->t.verify_failed > 0)
		ret = 2;
	for (i = 0; i < w->nconn; i++)
		conn_free(&w->conn[i]);
	free(w->conn);
	close(w->epfd);
	free(w);
	free(fds);
	return ret;
}

int
main(int argc, char *argv[])
{
	static const struct option	lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "keys", required_argument, NULL, 'k' },
		{ "acts", required_argument, NULL, 'a' },
		{ "echo", no_argument, NULL, 'e' },
		{ "idle", required_argument, NULL, 'i' },
		{ "pubkey", required_argument, NULL, 'P' },
		{ "connections", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "depth", required_argument, NULL, 'D' },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "verify-every", required_argument, NULL, 'V' },
		{ "pid", required_argument, NULL, 'x' },
		{ "product", required_argument, NULL, 'R' },
		{ "version", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int	ch, bad_line, rv;
	bool	echo = false;

	opt.conns = 32;
	opt.threads = 1;
	opt.depth = 1;
	opt.duration = 5;
	opt.count = 100000000;
	opt.verify_every = 100;
	opt.product = "BENCH";
	opt.version = "1.0";
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'p':
			opt.port = (uint16_t)arg_uint("port", optarg, 1, 65535);
			break;
		case 'k':
			opt.keys_path = optarg;
			break;
		case 'a':
			opt.acts_path = optarg;
			break;
		case 'e':
			echo = true;
			break;
		case 'i':
			opt.idle = (uint32_t)arg_uint("idle", optarg, 1,
			    BENCH_CONN_MAX);
			break;
		case 'P':
			opt.pubkey_path = optarg;
			break;
		case 'c':
			opt.conns = (uint32_t)arg_uint("connections", optarg, 1,
			    BENCH_CONN_MAX);
			break;
		case 't':
			opt.threads = (uint32_t)arg_uint("threads", optarg, 1,
			    BENCH_THREADS_MAX);
			break;
		case 'D':
			opt.depth = (uint32_t)arg_uint("depth", optarg, 1,
			    BENCH_DEPTH_MAX);
			break;
		case 'd':
			opt.duration = arg_double("duration", optarg, 0.01,
			    BENCH_DURATION_MAX);
			break;
		case 'n':
			opt.count = arg_uint("count", optarg, 1, UINT64_MAX / 2);
			break;
		case 'r':
			opt.rate = arg_double("rate", optarg, 0, 1e8);
			break;
		case 'V':
			opt.verify_every = (uint32_t)arg_uint("verify-every",
			    optarg, 1, UINT32_MAX);
			break;
		case 'x':
			opt.pid = (long)arg_uint("pid", optarg, 1, INT_MAX);
			break;
		case 'R':
			opt.product = optarg;
			break;
		case 'v':
			opt.version = optarg;
			break;
		case 'h':
			usage(stdout);
		default:
			usage(stderr);
		}
	}
	if (optind != argc || opt.port == 0)
		usage(stderr);
	if ((opt.acts_path != NULL) + (opt.idle > 0) + echo > 1)
		die("--acts, --idle and --echo exclude each other");
	if (opt.acts_path != NULL) {
		opt.mode = MODE_ACTIVATE;
		if (opt.keys_path != NULL)
			die("--acts names the keys: drop --keys");
	} else if (opt.idle > 0) {
		opt.mode = MODE_IDLE;
		if (opt.pid == 0)
			die("--idle needs --pid: the server whose RSS to read");
	} else
		opt.mode = echo ? MODE_ECHO : MODE_CHECK;
	if (opt.mode != MODE_ACTIVATE && opt.keys_path == NULL)
		die("--keys FILE is needed (keys issued by keygate-admin)");
	if (opt.mode != MODE_ECHO && opt.pubkey_path == NULL)
		die("--pubkey FILE is needed to verify replies (keygated pubkey)");
	if (opt.threads > opt.conns)
		opt.threads = opt.conns;
	if (sodium_init() == -1)
		die("sodium_init failed");
	trustset_init(&trust);
	if (opt.pubkey_path != NULL &&
	    (rv = trustset_load_file(&trust, opt.pubkey_path, &bad_line)) != KGE_OK)
		die("%s: %s", opt.pubkey_path, kge_strerror(rv));
	if (opt.pubkey_path != NULL && trust.n == 0)
		die("%s: no KGP1 public key in it", opt.pubkey_path);
	if (workload_load(&load, opt.acts_path != NULL ? opt.acts_path :
	    opt.keys_path, opt.mode == MODE_ACTIVATE) == -1 ||
	    net_nofile_raise(opt.mode == MODE_IDLE ? opt.idle : opt.conns) == -1)
		return 1;

	send_limit = opt.count;
	if (opt.mode == MODE_ACTIVATE && load.n < send_limit)
		send_limit = load.n;
	rv = opt.mode == MODE_IDLE ? bench_idle() : bench_run();
	if (fflush(stdout) == EOF)
		rv = 1;
	trustset_clear(&trust);
	workload_clear(&load);
	return rv;
}
