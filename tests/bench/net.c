/*
 * kgbench's connections: opening many non-blocking connections to
 * 127.0.0.1 (never another host) a batch at a time, so that thousands of
 * them do not overflow the server's accept queue, and the descriptor limit
 * that so many need.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define NET_CONNECT_BATCH	256		/* connects in flight at once */
#define NET_CONNECT_NS		(20 * NS_PER_S)	/* for all of them, at most */
#define NET_EVENTS		256

static uint64_t
net_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Count one failure; tell the first one. */
static void
net_fail(uint32_t *failed, const char *what, int err)
{
	if ((*failed)++ == 0)
		fprintf(stderr, "kgbench: %s: %s\n", what, strerror(err));
}

/* A new non-blocking socket connecting to sin, or -1. */
static int
net_connect_start(const struct sockaddr_in *sin, uint32_t *failed)
{
	int	fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		net_fail(failed, "socket", errno);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) == -1 &&
	    errno != EINPROGRESS) {
		net_fail(failed, "connect", errno);
		close(fd);
		return -1;
	}
	return fd;
}

/* Open n connections to 127.0.0.1:port; fds[i] = -1 for each failure. */
uint32_t
net_conns_open(int *fds, uint32_t n, uint16_t port)
{
	struct sockaddr_in	 sin;
	struct epoll_event	 ev, evs[NET_EVENTS];
	uint64_t		 deadline = net_now_ns() + NET_CONNECT_NS;
	uint32_t		 i, started = 0, inflight = 0, failed = 0;
	int			 ep, fd, k, m, err;
	socklen_t		 elen;

	for (i = 0; i < n; i++)
		fds[i] = -1;
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		fprintf(stderr, "kgbench: epoll_create1: %s\n", strerror(errno));
		return n;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (started < n || inflight > 0) {
		while (started < n && inflight < NET_CONNECT_BATCH) {
			i = started++;
			if ((fd = net_connect_start(&sin, &failed)) == -1)
				continue;
			ev.events = EPOLLOUT;
			ev.data.u32 = i;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
				net_fail(&failed, "epoll_ctl", errno);
				close(fd);
				continue;
			}
			fds[i] = fd;
			inflight++;
		}
		if (inflight == 0)
			continue;
		if (net_now_ns() > deadline)
			break;
		if ((m = epoll_wait(ep, evs, NET_EVENTS, 100)) == -1) {
			if (errno == EINTR)
				continue;
			net_fail(&failed, "epoll_wait", errno);
			break;
		}
		for (k = 0; k < m; k++) {
			i = evs[k].data.u32;
			err = 0;
			elen = sizeof(err);
			epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
			inflight--;
			if (getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err,
			    &elen) == -1 || err != 0) {
				net_fail(&failed, "connect", err);
				close(fds[i]);
				fds[i] = -1;
			}
		}
	}
	/* Those still in flight at the deadline failed. */
	for (i = 0; i < n && inflight > 0; i++) {
		struct sockaddr_in	peer;
		socklen_t		plen = sizeof(peer);

		if (fds[i] == -1 || getpeername(fds[i],
		    (struct sockaddr *)&peer, &plen) == 0)
			continue;
		net_fail(&failed, "connect", ETIMEDOUT);
		close(fds[i]);
		fds[i] = -1;
		inflight--;
	}
	close(ep);
	return failed;
}

/* Raise the soft descriptor limit to the hard one; -1 when need + 64 do not fit. */
int
net_nofile_raise(uint32_t need)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 &&
		    getrlimit(RLIMIT_NOFILE, &rl) == -1)
			return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need + 64) {
		fprintf(stderr, "kgbench: %u connections need %u file "
		    "descriptors; the limit is %llu: raise it with 'ulimit -n'\n",
		    need, need + 64, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}
