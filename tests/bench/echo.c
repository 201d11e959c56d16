/*
 * kgecho: the transport baseline for tests/bench. A bare libevent server on
 * 127.0.0.1 that speaks keygate's framing (a 4-byte big-endian length, then
 * that many bytes) and answers every request frame with one reply frame of a
 * fixed size, without looking inside either. It does what keygated's
 * connections do for the transport (an evconnlistener, a bufferevent per
 * connection, frames cut from the input and written to the output) and
 * nothing else: no decoding, no store, no signature. kgbench --echo drives
 * it with keygated's own request frames, so the CPU time per echo is the
 * floor a signed check can approach.
 *
 * usage: kgecho --port-file FILE [--reply-size BYTES] [--port PORT]
 * It listens on 127.0.0.1:PORT (default 0: any free port), writes the bound
 * port to FILE and serves until SIGTERM or SIGINT.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define ECHO_FRAME_MAX		65536	/* keygated's default frame_max */
#define ECHO_REPLY_DEFAULT	150
#define ECHO_BACKLOG		4096

static uint8_t	*reply_frame;
static size_t	 reply_len;

static void
echo_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	uint8_t		 hdr[4];
	uint32_t	 len;

	(void)arg;
	while (evbuffer_copyout(in, hdr, sizeof(hdr)) == (ev_ssize_t)sizeof(hdr)) {
		len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		    (uint32_t)hdr[2] << 8 | hdr[3];
		if (len == 0 || len > ECHO_FRAME_MAX) {
			bufferevent_free(bev);
			return;
		}
		if (evbuffer_get_length(in) < sizeof(hdr) + len)
			break;
		evbuffer_drain(in, sizeof(hdr) + len);
		if (bufferevent_write(bev, reply_frame, reply_len) == -1) {
			bufferevent_free(bev);
			return;
		}
	}
}

static void
echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void
echo_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct bufferevent	*bev;
	int			 one = 1;

	(void)sa;
	(void)salen;
	(void)arg;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, echo_read_cb, NULL, echo_event_cb, NULL);
	bufferevent_setwatermark(bev, EV_READ, 0, ECHO_FRAME_MAX + 4);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
echo_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static void
usage(void)
{
	fprintf(stderr, "usage: kgecho --port-file FILE [--reply-size BYTES] "
	    "[--port PORT]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	static const struct option	lo[] = {
		{ "port-file", required_argument, NULL, 'f' },
		{ "reply-size", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	struct event_base	*base;
	struct evconnlistener	*l;
	struct event		*sigterm, *sigint;
	const char		*port_file = NULL;
	char			*end, tmp[4096];
	unsigned long		 size = ECHO_REPLY_DEFAULT, port = 0;
	FILE			*f;
	int			 ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'f':
			port_file = optarg;
			break;
		case 's':
			size = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || size < 1 ||
			    size > ECHO_FRAME_MAX)
				usage();
			break;
		case 'p':
			port = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port > 65535)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || port_file == NULL)
		usage();

	/* The reply: a frame header and a fixed payload (its bytes do not matter). */
	reply_len = 4 + size;
	if ((reply_frame = malloc(reply_len)) == NULL)
		return 1;
	reply_frame[0] = (uint8_t)(size >> 24);
	reply_frame[1] = (uint8_t)(size >> 16);
	reply_frame[2] = (uint8_t)(size >> 8);
	reply_frame[3] = (uint8_t)size;
	memset(reply_frame + 4, 0x5a, size);

	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		return 1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = evconnlistener_new_bind(base, echo_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    ECHO_BACKLOG, (struct sockaddr *)&sin, sizeof(sin));
	if (l == NULL) {
		fprintf(stderr, "kgecho: cannot listen: %s\n", strerror(errno));
		return 1;
	}
	if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin,
	    &slen) == -1)
		return 1;
	/* Written whole, then renamed: a reader never sees half a port. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
	if ((f = fopen(tmp, "w")) == NULL ||
	    fprintf(f, "%u\n", ntohs(sin.sin_port)) < 0 || fclose(f) == EOF ||
	    rename(tmp, port_file) == -1) {
		fprintf(stderr, "kgecho: cannot write %s: %s\n", port_file,
		    strerror(errno));
		return 1;
	}
	sigterm = evsignal_new(base, SIGTERM, echo_signal_cb, base);
	sigint = evsignal_new(base, SIGINT, echo_signal_cb, base);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) ||
	    evsignal_add(sigint, NULL))
		return 1;
	event_base_dispatch(base);
	event_free(sigterm);
	event_free(sigint);
	evconnlistener_free(l);
	event_base_free(base);
	free(reply_frame);
	return 0;
}
