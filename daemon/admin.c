/*
 * The admin listener: a Unix stream socket in the data dir through which
 * keygate-admin talks to keygated (protocol in admin.h). This file owns the
 * socket (replacing a stale one, mode 0600 from the moment it exists), the
 * peer check (SO_PEERCRED: root, our own uid and the configured admin_uids),
 * framing (a 4-byte big-endian length checked against ADMIN_FRAME_MAX before
 * anything is buffered, then a JSON object) and the connections. What an op
 * means is admin_ops.c's business; an op that takes several steps runs one
 * step per event-loop turn, and the connection reads its next request only
 * after the reply to the current one is queued. A streamed op (key.issue
 * with "stream") queues a partial frame after each step and waits while
 * more than ADMIN_OUTPUT_HIGH bytes are unsent.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "admin.h"
#include "admin_ops.h"
#include "daemon.h"
#include "log.h"
#include "store.h"

#define ADMIN_BACKLOG		16
#define ADMIN_CONNS_MAX		64	/* admin connections at once */
#define ADMIN_READ_TIMEOUT	60	/* seconds for a request to arrive */
#define ADMIN_WRITE_TIMEOUT	60	/* seconds without progress sending a reply */
#define ADMIN_ACCEPT_PAUSE	1	/* seconds to pause accepting after an error */
/*
 * A streamed reply (partial frames) is not stepped further while more
 * than ADMIN_OUTPUT_HIGH bytes wait for the client, until they are down
 * to ADMIN_OUTPUT_LOW: a slow reader slows the op, memory stays bounded,
 * and a reader that is slow for a moment does not stop it.
 */
#define ADMIN_OUTPUT_HIGH	(16 * 1024 * 1024)
#define ADMIN_OUTPUT_LOW	(8 * 1024 * 1024)
#define ADMIN_WRITE_MAX		(1024 * 1024)	/* bytes one loop turn writes */
#define ADMIN_SNDBUF		(1024 * 1024)	/* asked for; the kernel caps it */
#define ADMIN_PWBUF		16384

struct admin;

struct admin_conn {
	TAILQ_ENTRY(admin_conn)	 entry;
	struct admin		*a;
	struct bufferevent	*bev;
	struct event		*step;		/* runs the next step of op */
	struct admin_op		*op;		/* the request being answered */
	uid_t			 uid;
	char			 actor[STORE_ACTOR_MAX + 1];
	bool			 closing;	/* close once the output is sent */
	bool			 stalled;	/* op waits for the output to drain */
};

struct admin {
	struct daemon		*d;
	struct evconnlistener	*lev;
	struct event		*resume;	/* re-enables accepting */
	char			 path[PATH_MAX];
	dev_t			 dev;		/* of the socket we bound */
	ino_t			 ino;
	TAILQ_HEAD(, admin_conn) conns;
	size_t			 nconns;
};

static void	admin_conn_process(struct admin_conn *);

/* ---- connections ---- */

static void
admin_conn_free(struct admin_conn *c)
{
	struct admin	*a = c->a;

	TAILQ_REMOVE(&a->conns, c, entry);
	a->nconns--;
	admin_op_free(c->op);
	if (c->step != NULL)
		event_free(c->step);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
}

/* Queue one reply frame. -1 when out of memory (the connection is then useless). */
static int
admin_conn_send(struct admin_conn *c, const char *body, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	uint8_t		 hdr[4];

	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	if (evbuffer_add(out, hdr, sizeof(hdr)) == -1 ||
	    evbuffer_add(out, body, len) == -1) {
		log_error("%s: out of memory queueing %zu bytes", __func__, len);
		return -1;
	}
	return 0;
}

/* Reply with an error and close the connection once it is sent. */
static void
admin_conn_fail(struct admin_conn *c, const char *reason, const char *text)
{
	char	*body;
	size_t	 len = 0;

	log_debug("admin: %s: %s: %s; closing", c->actor, reason, text);
	bufferevent_disable(c->bev, EV_READ);
	c->closing = true;
	if ((body = admin_error_new(reason, text, &len)) == NULL ||
	    admin_conn_send(c, body, len) == -1) {
		free(body);
		admin_conn_free(c);
		return;
	}
	free(body);
}

/*
 * Step the current op; when it is finished queue its reply and free it.
 * A partial frame the step made is queued at once. Returns 1 while the op
 * needs more steps (reading stays off), 0 when the reply is queued, -1
 * when the connection was freed.
 */
static int
admin_conn_run(struct admin_conn *c)
{
	struct timeval			 next = { 0, 0 };
	const char			*reply;
	size_t				 len;

	if (admin_op_step(c->op)) {
		bufferevent_disable(c->bev, EV_READ);
		if ((reply = admin_op_partial(c->op, &len)) != NULL &&
		    admin_conn_send(c, reply, len) == -1) {
			admin_conn_free(c);
			return -1;
		}
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
		    ADMIN_OUTPUT_HIGH) {
			/* admin_conn_write_cb steps it once the client read. */
			c->stalled = true;
			return 1;
		}
		/* A zero timer runs after the loop has polled for I/O again. */
		next.tv_usec = (suseconds_t)admin_op_wait_ms(c->op) * 1000;
		evtimer_add(c->step, &next);
		return 1;
	}
	reply = admin_op_reply(c->op, &len);
	if (admin_conn_send(c, reply, len) == -1) {
		admin_conn_free(c);
		return -1;
	}
	admin_op_free(c->op);
	c->op = NULL;
	if (!c->closing)
		bufferevent_enable(c->bev, EV_READ);
	return 0;
}

static void
admin_conn_step_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin_conn	*c = arg;

	(void)fd;
	(void)what;
	if (c->op == NULL || admin_conn_run(c) != 0)
		return;
	/* Requests that arrived meanwhile are already buffered. */
	admin_conn_process(c);
}

/* Answer every whole request frame in the input, one at a time. */
static void
admin_conn_process(struct admin_conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	json_error_t	 jerr;
	json_t		*req;
	uint8_t		 hdr[4], *data;
	uint32_t	 len;
	char		 text[256];

	while (!c->closing && c->op == NULL) {
		if (evbuffer_copyout(in, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
			return;
		len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		    (uint32_t)hdr[2] << 8 | hdr[3];
		if (len == 0 || len > ADMIN_FRAME_MAX) {
			snprintf(text, sizeof(text), "a request frame of %u bytes "
			    "(1 to %d allowed): send 4-byte big-endian length "
			    "frames of one JSON object", len, ADMIN_FRAME_MAX);
			admin_conn_fail(c, "bad_request", text);
			return;
		}
		if (evbuffer_get_length(in) < sizeof(hdr) + len)
			return;
		evbuffer_drain(in, sizeof(hdr));
		if ((data = evbuffer_pullup(in, len)) == NULL) {
			admin_conn_fail(c, "internal", "out of memory: see "
			    "keygated's log");
			return;
		}
		req = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES,
		    &jerr);
		evbuffer_drain(in, len);
		if (req == NULL || !json_is_object(req) ||
		    !json_is_string(json_object_get(req, "op"))) {
			if (req == NULL)
				snprintf(text, sizeof(text), "the request is not "
				    "JSON (%.80s at byte %d): send one JSON object "
				    "with an \"op\"", jerr.text, jerr.position);
			else
				snprintf(text, sizeof(text), "the request is not "
				    "a JSON object with a string \"op\"");
			json_decref(req);
			admin_conn_fail(c, "bad_request", text);
			return;
		}
		log_debug("admin: %s: %s", c->actor,
		    json_string_value(json_object_get(req, "op")));
		c->op = admin_op_new(c->a->d, c->actor, req);
		json_decref(req);
		if (c->op == NULL) {
			admin_conn_fail(c, "internal", "out of memory: see "
			    "keygated's log");
			return;
		}
		if (admin_conn_run(c) != 0)
			return;
	}
}

static void
admin_conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	admin_conn_process(arg);
}

/* Called whenever the output went down to ADMIN_OUTPUT_LOW bytes or less. */
static void
admin_conn_write_cb(struct bufferevent *bev, void *arg)
{
	static const struct timeval	 now = { 0, 0 };
	struct admin_conn		*c = arg;

	if (c->stalled && c->op != NULL) {
		c->stalled = false;
		evtimer_add(c->step, &now);
	}
	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		admin_conn_free(c);
}

static void
admin_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct admin_conn	*c = arg;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    (c->op != NULL ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)) {
		/* The peer is done sending: finish the replies it asked for. */
		bufferevent_disable(bev, EV_READ);
		c->closing = true;
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("admin: %s: timed out; closing", c->actor);
	else if (what & BEV_EVENT_ERROR)
		log_debug("admin: %s: %s; closing", c->actor,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	admin_conn_free(c);
}

/* ---- peers ---- */

static bool
admin_uid_allowed(const struct admin *a, uid_t uid)
{
	size_t	i;

	if (uid == 0 || uid == geteuid())
		return true;
	for (i = 0; i < a->d->conf.n_admin_uids && i < CONF_ADMIN_UIDS_MAX; i++)
		if (a->d->conf.admin_uids[i] == uid)
			return true;
	return false;
}

/* "admin uid=1000 alice" (just "admin uid=1000" when the uid has no name). */
static void
admin_actor_format(uid_t uid, char *out, size_t len)
{
	struct passwd	 pw, *res = NULL;
	char		*buf;

	if ((buf = malloc(ADMIN_PWBUF)) != NULL &&
	    getpwuid_r(uid, &pw, buf, ADMIN_PWBUF, &res) == 0 && res != NULL)
		snprintf(out, len, "admin uid=%lu %.64s", (unsigned long)uid,
		    pw.pw_name);
	else
		snprintf(out, len, "admin uid=%lu", (unsigned long)uid);
	free(buf);
}

/*
 * Refuse a peer: one error frame, written without blocking into the fresh
 * socket's empty buffer (it always fits), then close.
 */
static void
admin_refuse(evutil_socket_t fd, const char *reason, const char *text)
{
	char	*body, *frame;
	size_t	 len = 0;

	if ((body = admin_error_new(reason, text, &len)) != NULL &&
	    (frame = malloc(len + 4)) != NULL) {
		frame[0] = (char)(len >> 24);
		frame[1] = (char)(len >> 16);
		frame[2] = (char)(len >> 8);
		frame[3] = (char)len;
		memcpy(frame + 4, body, len);
		if (send(fd, frame, len + 4, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
			log_debug("admin: refusal not sent: %s", strerror(errno));
		free(frame);
	}
	free(body);
	evutil_closesocket(fd);
}

static void
admin_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct admin		*a = arg;
	struct admin_conn	*c;
	struct ucred		 cred;
	socklen_t		 credlen = sizeof(cred);
	struct timeval		 rtv = { ADMIN_READ_TIMEOUT, 0 };
	struct timeval		 wtv = { ADMIN_WRITE_TIMEOUT, 0 };
	char			 text[256];
	int			 sndbuf = ADMIN_SNDBUF;

	(void)lev;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == -1 ||
	    credlen != sizeof(cred)) {
		log_warn("admin: cannot read the peer's credentials: %s",
		    strerror(errno));
		evutil_closesocket(fd);
		return;
	}
	if (!admin_uid_allowed(a, cred.uid)) {
		log_warn("admin: refused uid %lu (pid %ld): not root, not uid %lu "
		    "and not in admin_uids", (unsigned long)cred.uid,
		    (long)cred.pid, (unsigned long)geteuid());
		snprintf(text, sizeof(text), "uid %lu may not administer this "
		    "keygated: run keygate-admin as root or uid %lu, or add the "
		    "uid to admin_uids in keygated.conf",
		    (unsigned long)cred.uid, (unsigned long)geteuid());
		admin_refuse(fd, "forbidden", text);
		return;
	}
	if (a->nconns >= ADMIN_CONNS_MAX) {
		log_warn("admin: %d admin connections open; refusing uid %lu",
		    ADMIN_CONNS_MAX, (unsigned long)cred.uid);
		admin_refuse(fd, "busy", "too many admin connections at once: "
		    "try again when the others are done");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_error("%s: out of memory", __func__);
		evutil_closesocket(fd);
		return;
	}
	c->a = a;
	c->uid = cred.uid;
	admin_actor_format(cred.uid, c->actor, sizeof(c->actor));
	c->bev = bufferevent_socket_new(a->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->step = evtimer_new(a->d->base, admin_conn_step_cb, c);
	TAILQ_INSERT_TAIL(&a->conns, c, entry);
	a->nconns++;
	if (c->bev == NULL || c->step == NULL) {
		log_error("%s: cannot set up the connection", __func__);
		if (c->bev == NULL)
			evutil_closesocket(fd);
		admin_conn_free(c);
		return;
	}
	bufferevent_setcb(c->bev, admin_conn_read_cb, admin_conn_write_cb,
	    admin_conn_event_cb, c);
	/* Never buffer more than one whole frame of unread input. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 4 + ADMIN_FRAME_MAX);
	bufferevent_setwatermark(c->bev, EV_WRITE, ADMIN_OUTPUT_LOW, 0);
	/*
	 * A streamed reply goes out between steps: more than libevent's 16
	 * KiB a turn, and as much as the socket takes (net.core.wmem_max).
	 */
	bufferevent_set_max_single_write(c->bev, ADMIN_WRITE_MAX);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	bufferevent_set_timeouts(c->bev, &rtv, &wtv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_debug("admin: connection from %s (pid %ld)", c->actor,
	    (long)cred.pid);
}

static void
admin_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin	*a = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(a->lev);
}

/* accept() failed (EMFILE and such): pause instead of spinning. */
static void
admin_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct admin	*a = arg;
	struct timeval	 tv = { ADMIN_ACCEPT_PAUSE, 0 };
	int		 err = EVUTIL_SOCKET_ERROR();

	log_warn("admin: accept: %s; pausing for %d s",
	    evutil_socket_error_to_string(err), ADMIN_ACCEPT_PAUSE);
	evconnlistener_disable(lev);
	evtimer_add(a->resume, &tv);
}

/* ---- the socket ---- */

/*
 * Remove a stale socket at path: one nobody accepts on. A live one (another
 * keygated) and anything that is not a socket are left alone (-1).
 */
static int
admin_socket_clear(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un	sun;
	struct stat		st;
	int			fd, rc;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket: remove it "
		    "or set admin_socket in keygated.conf", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another keygated is serving %s: stop it "
		    "first", path);
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove the stale socket %s: %s",
		    path, strerror(errno));
		return -1;
	}
	log_info("admin: removed a stale socket %s", path);
	return 0;
}

/* Create the socket (replacing a stale one), mode 0600, and start serving. */
int
admin_start(struct daemon *d, char *err, size_t errlen)
{
	struct admin		*a;
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old;
	int			 fd = -1, rc;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->d = d;
	TAILQ_INIT(&a->conns);
	if (d->conf.admin_socket[0] != '\0')
		rc = snprintf(a->path, sizeof(a->path), "%s",
		    d->conf.admin_socket);
	else
		rc = snprintf(a->path, sizeof(a->path), "%s/%s", d->datadir,
		    ADMIN_SOCKET_NAME);
	memset(&sun, 0, sizeof(sun));
	if (rc < 0 || (size_t)rc >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "the socket path %.200s is longer than %zu "
		    "bytes: set a shorter admin_socket in keygated.conf", a->path,
		    sizeof(sun.sun_path) - 1);
		goto fail;
	}
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, a->path, (size_t)rc + 1);
	if (admin_socket_clear(a->path, err, errlen) == -1)
		goto fail;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	/* Mode 0600 from the moment the socket exists; chmod says it again. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1) {
		snprintf(err, errlen, "bind %s: %s", a->path, strerror(errno));
		goto fail;
	}
	if (chmod(a->path, 0600) == -1 || stat(a->path, &st) == -1) {
		snprintf(err, errlen, "chmod %s: %s", a->path, strerror(errno));
		unlink(a->path);
		goto fail;
	}
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->lev = evconnlistener_new(d->base, admin_accept_cb, a,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, ADMIN_BACKLOG, fd);
	a->resume = evtimer_new(d->base, admin_resume_cb, a);
	if (a->lev == NULL || a->resume == NULL) {
		snprintf(err, errlen, "listen %s: %s", a->path, strerror(errno));
		unlink(a->path);
		goto fail;
	}
	fd = -1;	/* the listener owns it */
	evconnlistener_set_error_cb(a->lev, admin_accept_error_cb);
	d->admin = a;
	log_info("admin: listening on %s", a->path);
	return 0;
fail:
	if (a->lev != NULL)
		evconnlistener_free(a->lev);
	else if (fd != -1)
		close(fd);
	if (a->resume != NULL)
		event_free(a->resume);
	free(a);
	return -1;
}

/* Stop accepting; close connections; unlink the socket. */
void
admin_free(struct admin *a)
{
	struct stat	st;

	if (a == NULL)
		return;
	while (!TAILQ_EMPTY(&a->conns))
		admin_conn_free(TAILQ_FIRST(&a->conns));
	if (a->lev != NULL)
		evconnlistener_free(a->lev);
	if (a->resume != NULL)
		event_free(a->resume);
	/* Only our own socket: another keygated may have replaced it. */
	if (stat(a->path, &st) == 0 && st.st_dev == a->dev &&
	    st.st_ino == a->ino)
		unlink(a->path);
	if (a->d != NULL && a->d->admin == a)
		a->d->admin = NULL;
	free(a);
}
