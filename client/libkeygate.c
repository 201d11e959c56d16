/*
 * libkeygate: the client handle (servers, trust set, timeouts, the open
 * connection, the replay high-water mark), the blocking transport with
 * poll() deadlines, and the checks every reply passes before a result is
 * handed out: signature by a trusted key over "keygate-reply-v1\0" || body,
 * our nonce, the hash of our exact request bytes, the protocol version and
 * a server time no older than one already accepted. Results are plain
 * copies of a verified reply, with dates and money already turned into text.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "keygate.pb-c.h"

#include "date.h"
#include "keygate.h"
#include "keys.h"
#include "kgerr.h"
#include "kglimits.h"
#include "license.h"
#include "money.h"
#include "version.h"

#ifndef KG_VERSION_TEXT
#define KG_VERSION_TEXT		"0.1.0"
#endif

#define CLIENT_NONCE_LEN	32		/* within KG_NONCE_MIN..KG_NONCE_MAX */
#define CLIENT_TIMEOUT_MAX	3600000		/* one hour, in ms */
#define CLIENT_HOST_MAX		255		/* DNS names are shorter */
#define CLIENT_TRUST_FILE_MAX	(1024 * 1024)

struct kg_server {
	char	*text;		/* as added, for kg_result_server */
	char	*host;
	char	 port[8];
};

struct kg_client {
	struct kg_server	*server;
	size_t			 nserver;
	struct kg_trustset	 trust;
	int			 connect_ms;
	int			 io_ms;
	int			 fd;		/* open connection or -1 */
	size_t			 fd_server;	/* index of its server */
	int64_t			 time_floor;	/* newest server time accepted */
};

struct kg_result {
	bool	 error;			/* an Error reply */
	bool	 offline;		/* kg_verify_offline */
	bool	 valid;
	char	*verdict, *reason, *detail, *eligible, *latest, *key;
	char	*regno, *licensee, *product, *edition, *state;
	char	*renewal_act, *error_reason, *server;
	char	 quote_kind[16], renewal_kind[16];
	char	 support_expiry[KG_DATE_TEXT_LEN], license_expiry[KG_DATE_TEXT_LEN];
	char	 created[KG_DATE_TEXT_LEN];
	char	 quote_new_expiry[KG_DATE_TEXT_LEN];
	char	 renewal_new_expiry[KG_DATE_TEXT_LEN];
	char	 quote_price[KG_MONEY_TEXT_LEN], renewal_price[KG_MONEY_TEXT_LEN];
	int64_t	 quote_price_minor, renewal_price_minor;
	bool	 has_quote, has_renewal, trial, test_clock;
	int	 days_left, retry_after, renewal_months;
	unsigned int revision, support_months;
	uint64_t serial;
	int64_t	 server_time;
};

/* One request on its way: the frame we send and what the reply must match. */
struct client_req {
	uint8_t	*frame;			/* 4-byte length + Request bytes */
	size_t	 frame_len;
	uint8_t	 nonce[CLIENT_NONCE_LEN];
	uint8_t	 hash[KG_HASH_LEN];	/* BLAKE2b-256 of the Request bytes */
	bool	 have_serial;		/* the key we sent decodes */
	uint64_t serial;		/* ... and names this license */
};

/* A short English sentence for a return code. */
const char *
kg_strerror(int code)
{
	switch (code) {
	case KG_OK:
		return "success";
	case KG_ERR_INVAL:
		return "invalid argument";
	case KG_ERR_NOMEM:
		return "out of memory";
	case KG_ERR_CONNECT:
		return "no keygate server could be reached";
	case KG_ERR_TIMEOUT:
		return "the keygate server did not answer in time";
	case KG_ERR_CLOSED:
		return "the keygate server closed the connection without answering";
	case KG_ERR_PROTOCOL:
		return "the reply is malformed (not a keygate reply frame)";
	case KG_ERR_UNTRUSTED:
		return "the reply is not signed by a trusted key (altered or forged reply, or the wrong public key)";
	case KG_ERR_NONCE:
		return "the reply does not carry this request's nonce (a replayed reply)";
	case KG_ERR_REQUEST_HASH:
		return "the reply answers another request (a swapped reply)";
	case KG_ERR_REPLAY:
		return "the reply is older than one already seen (a replayed reply or the server clock went back)";
	case KG_ERR_SERVER:
		return "the server answered with an error";
	case KG_ERR_KEY:
		return "the license key does not verify";
	case KG_ERR_TRUST:
		return "no usable trusted public key (expected \"KGP1.\" lines from 'keygated pubkey')";
	}
	return "unknown error";
}

/* The library's version text. */
const char *
kg_library_version(void)
{
	return KG_VERSION_TEXT;
}

/* ---- clients ---------------------------------------------------------- */

/* A new client with no server, no trusted key and default timeouts. */
int
kg_client_new(kg_client **out)
{
	kg_client	*c;

	if (out == NULL)
		return KG_ERR_INVAL;
	*out = NULL;
	if (sodium_init() < 0)
		return KG_ERR_NOMEM;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KG_ERR_NOMEM;
	trustset_init(&c->trust);
	c->connect_ms = KG_DEFAULT_CONNECT_MS;
	c->io_ms = KG_DEFAULT_IO_MS;
	c->fd = -1;
	*out = c;
	return KG_OK;
}

/* Close the connection and free the client. */
void
kg_client_free(kg_client *c)
{
	size_t	i;

	if (c == NULL)
		return;
	kg_client_disconnect(c);
	for (i = 0; i < c->nserver; i++) {
		free(c->server[i].text);
		free(c->server[i].host);
	}
	free(c->server);
	trustset_clear(&c->trust);
	free(c);
}

/* Close the kept connection, if any. */
void
kg_client_disconnect(kg_client *c)
{
	if (c == NULL || c->fd == -1)
		return;
	close(c->fd);
	c->fd = -1;
}

/* Split "HOST:PORT", "[V6]:PORT" or "HOST" into host and port. 0 or -1. */
static int
client_hostport_split(const char *s, char *host, size_t hostlen, char port[8])
{
	const char	*h, *p = NULL, *colon;
	size_t		 hl;
	long		 n;
	char		*end;

	if (s[0] == '[') {
		h = s + 1;
		if ((colon = strchr(h, ']')) == NULL)
			return -1;
		hl = (size_t)(colon - h);
		if (colon[1] == ':')
			p = colon + 2;
		else if (colon[1] != '\0')
			return -1;
	} else {
		h = s;
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') == colon) {
			hl = (size_t)(colon - s);
			p = colon + 1;
		} else
			hl = strlen(s);	/* a name, or a bare IPv6 address */
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (p == NULL) {
		snprintf(port, 8, "%d", KG_DEFAULT_PORT);
		return 0;
	}
	if (*p < '0' || *p > '9' || strlen(p) > 5)
		return -1;
	errno = 0;
	n = strtol(p, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 65535)
		return -1;
	snprintf(port, 8, "%ld", n);
	return 0;
}

/* Add a server to try, after the ones already added. */
int
kg_client_add_server(kg_client *c, const char *host_port)
{
	struct kg_server	*s;
	char			 host[CLIENT_HOST_MAX + 1], port[8];

	if (c == NULL || host_port == NULL ||
	    client_hostport_split(host_port, host, sizeof(host), port) == -1)
		return KG_ERR_INVAL;
	if ((s = reallocarray(c->server, c->nserver + 1, sizeof(*s))) == NULL)
		return KG_ERR_NOMEM;
	c->server = s;
	s = &c->server[c->nserver];
	memset(s, 0, sizeof(*s));
	if ((s->text = strdup(host_port)) == NULL ||
	    (s->host = strdup(host)) == NULL) {
		free(s->text);
		return KG_ERR_NOMEM;
	}
	memcpy(s->port, port, sizeof(s->port));
	c->nserver++;
	return KG_OK;
}

/* Trust every public key line of a text (all or nothing). */
int
kg_client_trust_text(kg_client *c, const char *kgp1_lines)
{
	struct kg_trustset	 tmp;
	size_t			 i;
	int			 rc;

	if (c == NULL || kgp1_lines == NULL)
		return KG_ERR_INVAL;
	trustset_init(&tmp);
	if ((rc = trustset_parse(&tmp, kgp1_lines, NULL)) != KGE_OK) {
		rc = rc == KGE_NOMEM ? KG_ERR_NOMEM : KG_ERR_TRUST;
		goto out;
	}
	if (tmp.n == 0) {
		rc = KG_ERR_TRUST;
		goto out;
	}
	for (i = 0; i < tmp.n; i++) {
		if ((rc = trustset_add(&c->trust, tmp.entry[i].pk,
		    KG_TRUST_ACTIVE)) != KGE_OK) {
			/* Only a second key with a known key's id gets here. */
			rc = rc == KGE_NOMEM ? KG_ERR_NOMEM : KG_ERR_TRUST;
			goto out;
		}
	}
	rc = KG_OK;
 out:
	trustset_clear(&tmp);
	return rc;
}

/* Read a small text file into a malloc'd NUL-terminated string. 0 or -1. */
static int
client_file_read(const char *path, size_t max, char **out)
{
	char	*buf = NULL;
	size_t	 len = 0;
	ssize_t	 n;
	int	 fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((buf = malloc(max + 1)) == NULL)
		goto fail;
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			goto fail;
	}
	buf[len] = '\0';
	close(fd);
	*out = buf;
	return 0;
 fail:
	free(buf);
	close(fd);
	return -1;
}

/* Trust every public key line of a file. */
int
kg_client_trust_file(kg_client *c, const char *path)
{
	char	*text;
	int	 rc;

	if (c == NULL || path == NULL)
		return KG_ERR_INVAL;
	if (client_file_read(path, CLIENT_TRUST_FILE_MAX, &text) == -1)
		return errno == ENOMEM ? KG_ERR_NOMEM : KG_ERR_TRUST;
	rc = kg_client_trust_text(c, text);
	free(text);
	return rc;
}

/* Set the connect and per-request I/O timeouts. */
int
kg_client_set_timeouts(kg_client *c, int connect_ms, int io_ms)
{
	if (c == NULL || connect_ms < 1 || connect_ms > CLIENT_TIMEOUT_MAX ||
	    io_ms < 1 || io_ms > CLIENT_TIMEOUT_MAX)
		return KG_ERR_INVAL;
	c->connect_ms = connect_ms;
	c->io_ms = io_ms;
	return KG_OK;
}

/* Raise the replay high-water mark to server_time. */
void
kg_client_set_time_floor(kg_client *c, int64_t server_time)
{
	if (c != NULL && server_time > c->time_floor)
		c->time_floor = server_time;
}

/* The newest server time accepted so far (0 = none). */
int64_t
kg_client_time_floor(const kg_client *c)
{
	return c == NULL ? 0 : c->time_floor;
}

/* ---- transport ---------------------------------------------------------- */

static int64_t
client_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll fd for events until deadline (ms). 0 ready, KG_ERR_TIMEOUT, or KG_ERR_CLOSED. */
static int
client_wait(int fd, short events, int64_t deadline)
{
	struct pollfd	pfd;
	int64_t		left;
	int		n;

	for (;;) {
		if ((left = deadline - client_now_ms()) <= 0)
			return KG_ERR_TIMEOUT;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return KG_ERR_CLOSED;
		if (n == 0)
			return KG_ERR_TIMEOUT;
		return 0;
	}
}

/* Connect to one address with a deadline. The socket, or a negative code. */
static int
client_connect_addr(const struct addrinfo *ai, int timeout_ms)
{
	socklen_t	slen;
	int		fd, err, rc;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd == -1)
		return KG_ERR_CONNECT;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		rc = KG_ERR_CONNECT;
		goto fail;
	}
	if ((rc = client_wait(fd, POLLOUT, client_now_ms() + timeout_ms)) != 0)
		goto fail;
	slen = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &slen) == -1 || err != 0) {
		rc = KG_ERR_CONNECT;
		goto fail;
	}
	return fd;
 fail:
	close(fd);
	return rc == KG_ERR_TIMEOUT ? KG_ERR_TIMEOUT : KG_ERR_CONNECT;
}

/* Connect to server s, trying each of its addresses. The socket or a negative code. */
static int
client_connect(const kg_client *c, const struct kg_server *s)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	int		 fd = KG_ERR_CONNECT;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(s->host, s->port, &hints, &res) != 0)
		return KG_ERR_CONNECT;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = client_connect_addr(ai, c->connect_ms)) >= 0)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

/* Write all of buf before deadline. 0 or a negative code. */
static int
client_write_all(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
	ssize_t	n;
	int	rc;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = client_wait(fd, POLLOUT, deadline)) != 0)
				return rc;
			continue;
		}
		if (n <= 0)
			return KG_ERR_CLOSED;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes before deadline. 0 or a negative code. */
static int
client_read_all(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
	ssize_t	n;
	int	rc;

	while (len > 0) {
		n = recv(fd, buf, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = client_wait(fd, POLLIN, deadline)) != 0)
				return rc;
			continue;
		}
		if (n <= 0)
			return KG_ERR_CLOSED;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Send one request frame on fd and read one reply frame: the 4-byte length
 * is checked against KG_FRAME_MAX before anything is allocated. On 0 *reply
 * is malloc'd (caller frees).
 */
static int
client_exchange(const kg_client *c, int fd, const struct client_req *rq,
    uint8_t **reply, size_t *reply_len)
{
	uint8_t	 hdr[4], *buf;
	uint32_t n;
	int64_t	 deadline = client_now_ms() + c->io_ms;
	int	 rc;

	*reply = NULL;
	if ((rc = client_write_all(fd, rq->frame, rq->frame_len, deadline)) != 0)
		return rc;
	if ((rc = client_read_all(fd, hdr, sizeof(hdr), deadline)) != 0)
		return rc;
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > KG_FRAME_MAX)
		return KG_ERR_PROTOCOL;
	if ((buf = malloc(n)) == NULL)
		return KG_ERR_NOMEM;
	if ((rc = client_read_all(fd, buf, n, deadline)) != 0) {
		free(buf);
		return rc;
	}
	*reply = buf;
	*reply_len = n;
	return 0;
}

/* Failures after which another server is worth trying. */
static bool
client_err_unreachable(int rc)
{
	return rc == KG_ERR_CONNECT || rc == KG_ERR_TIMEOUT || rc == KG_ERR_CLOSED;
}

/*
 * Get a reply to rq: on the kept connection first (once more on a fresh
 * connection to the same server when it had been closed), then on each
 * server in order. *server gets the index of the server that answered.
 */
static int
client_transact(kg_client *c, const struct client_req *rq, uint8_t **reply,
    size_t *reply_len, size_t *server)
{
	size_t	i;
	int	rc = KG_ERR_CONNECT, fd;

	if (c->fd != -1) {
		*server = c->fd_server;
		if ((rc = client_exchange(c, c->fd, rq, reply, reply_len)) == 0)
			return 0;
		kg_client_disconnect(c);
		if (!client_err_unreachable(rc))
			return rc;
	}
	for (i = 0; i < c->nserver; i++) {
		if ((fd = client_connect(c, &c->server[i])) < 0) {
			rc = fd;
			continue;
		}
		c->fd = fd;
		c->fd_server = i;
		*server = i;
		if ((rc = client_exchange(c, fd, rq, reply, reply_len)) == 0)
			return 0;
		kg_client_disconnect(c);
		if (!client_err_unreachable(rc))
			return rc;
	}
	return rc;
}

/* ---- results ------------------------------------------------------------ */

static kg_result *
result_new(void)
{
	return calloc(1, sizeof(kg_result));
}

/* Free a result and its strings. */
void
kg_result_free(kg_result *r)
{
	if (r == NULL)
		return;
	free(r->verdict);
	free(r->reason);
	free(r->detail);
	free(r->eligible);
	free(r->latest);
	free(r->key);
	free(r->regno);
	free(r->licensee);
	free(r->product);
	free(r->edition);
	free(r->state);
	free(r->renewal_act);
	free(r->error_reason);
	free(r->server);
	free(r);
}

/* *dst = copy of s, or NULL when s is NULL or empty. 0 or -1 (no memory). */
static int
result_str(char **dst, const char *s)
{
	*dst = NULL;
	if (s == NULL || *s == '\0')
		return 0;
	return (*dst = strdup(s)) == NULL ? -1 : 0;
}

/* Format a wire day number into out ("" for 0). -1 when out of range. */
static int
result_date(char out[KG_DATE_TEXT_LEN], uint32_t day)
{
	out[0] = '\0';
	if (day == 0)
		return 0;
	if (day > (uint32_t)date_from_ymd(KG_YEAR_MAX, 12, 31))
		return -1;
	date_format((kg_date)day, out);
	return 0;
}

/* Copy a short code (quote or renewal kind) into out; -1 when too long. */
static int
result_code(char out[16], const char *s)
{
	if (strlen(s) >= 16)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* Fill r from a verified Verdict. KG_OK, KG_ERR_PROTOCOL or KG_ERR_NOMEM. */
static int
result_from_verdict(kg_result *r, const Keygate__Verdict *v)
{
	if (result_date(r->support_expiry, v->support_expiry) == -1 ||
	    result_date(r->license_expiry, v->license_expiry) == -1)
		return KG_ERR_PROTOCOL;
	if (v->reason == NULL || v->reason[0] == '\0')
		return KG_ERR_PROTOCOL;
	r->days_left = v->days_left;
	r->retry_after = v->retry_after > INT32_MAX ? INT32_MAX : (int)v->retry_after;
	if (v->quote != NULL) {
		if (result_code(r->quote_kind, v->quote->kind) == -1 ||
		    result_date(r->quote_new_expiry, v->quote->new_expiry) == -1)
			return KG_ERR_PROTOCOL;
		r->has_quote = true;
		r->quote_price_minor = v->quote->price;
		money_format(v->quote->price, r->quote_price);
	}
	if (v->renewal != NULL) {
		if (result_code(r->renewal_kind, v->renewal->kind) == -1 ||
		    result_date(r->renewal_new_expiry, v->renewal->new_expiry) == -1 ||
		    v->renewal->months > KG_MONTHS_MAX)
			return KG_ERR_PROTOCOL;
		r->has_renewal = true;
		r->renewal_price_minor = v->renewal->price;
		money_format(v->renewal->price, r->renewal_price);
		r->renewal_months = (int)v->renewal->months;
		if (result_str(&r->renewal_act, v->renewal->act) == -1)
			return KG_ERR_NOMEM;
	}
	if (result_str(&r->verdict, v->verdict) == -1 ||
	    result_str(&r->reason, v->reason) == -1 ||
	    result_str(&r->detail, v->detail) == -1 ||
	    result_str(&r->eligible, v->eligible) == -1 ||
	    result_str(&r->latest, v->latest) == -1 ||
	    result_str(&r->key, v->key) == -1 ||
	    result_str(&r->regno, v->regno) == -1 ||
	    result_str(&r->licensee, v->licensee) == -1 ||
	    result_str(&r->product, v->product) == -1 ||
	    result_str(&r->edition, v->edition) == -1 ||
	    result_str(&r->state, v->state) == -1)
		return KG_ERR_NOMEM;
	return KG_OK;
}

/*
 * A re-signed key must verify against the trust set and name the license
 * of the key we sent: a reply that would make a product overwrite its key
 * with another license's is refused.
 */
static int
result_key_check(const kg_client *c, const struct client_req *rq, const char *key)
{
	struct kg_license	lic;
	int			rc;

	rc = license_key_parse(key, strlen(key), &c->trust, &lic);
	if (rc == KGE_NOMEM)
		return KG_ERR_NOMEM;
	if (rc != KGE_OK)
		return KG_ERR_UNTRUSTED;
	if (!rq->have_serial || lic.serial != rq->serial)
		return KG_ERR_PROTOCOL;
	return KG_OK;
}

/*
 * Check a reply frame against rq and turn it into a result, in this order:
 * Reply decodes; signed by a trusted, uncompromised key; ReplyBody decodes;
 * nonce; request hash; protocol; server time not older than the floor; a
 * result is present. The floor is raised only for a reply that passed.
 */
static int
client_reply_verify(kg_client *c, const struct client_req *rq,
    const uint8_t *buf, size_t len, const char *server, kg_result **out)
{
	Keygate__Reply			*rep = NULL;
	Keygate__ReplyBody		*body = NULL;
	const struct kg_trust_entry	*te;
	kg_result			*r = NULL;
	int				 rc;

	if ((rep = keygate__reply__unpack(NULL, len, buf)) == NULL) {
		rc = KG_ERR_PROTOCOL;
		goto fail;
	}
	if (rep->key_id.len != KG_KEY_ID_LEN || rep->signature.len != KG_SIG_LEN ||
	    (te = trustset_find(&c->trust, rep->key_id.data)) == NULL ||
	    te->state == KG_TRUST_COMPROMISED) {
		rc = KG_ERR_UNTRUSTED;
		goto fail;
	}
	rc = keys_verify(te->pk, KG_DOMAIN_REPLY, rep->body.data, rep->body.len,
	    rep->signature.data);
	if (rc != KGE_OK) {
		rc = rc == KGE_NOMEM ? KG_ERR_NOMEM : KG_ERR_UNTRUSTED;
		goto fail;
	}
	if ((body = keygate__reply_body__unpack(NULL, rep->body.len,
	    rep->body.data)) == NULL) {
		rc = KG_ERR_PROTOCOL;
		goto fail;
	}
	if (body->nonce.len != sizeof(rq->nonce) ||
	    sodium_memcmp(body->nonce.data, rq->nonce, sizeof(rq->nonce)) != 0) {
		rc = KG_ERR_NONCE;
		goto fail;
	}
	if (body->request_hash.len != KG_HASH_LEN ||
	    sodium_memcmp(body->request_hash.data, rq->hash, KG_HASH_LEN) != 0) {
		rc = KG_ERR_REQUEST_HASH;
		goto fail;
	}
	if (body->protocol != KG_PROTOCOL_VERSION) {
		rc = KG_ERR_PROTOCOL;
		goto fail;
	}
	if (body->server_time < c->time_floor) {
		rc = KG_ERR_REPLAY;
		goto fail;
	}
	if ((r = result_new()) == NULL || result_str(&r->server, server) == -1) {
		rc = KG_ERR_NOMEM;
		goto fail;
	}
	r->server_time = body->server_time;
	r->test_clock = body->test_clock;
	switch (body->result_case) {
	case KEYGATE__REPLY_BODY__RESULT_ERROR:
		r->error = true;
		if (body->error->reason == NULL || body->error->reason[0] == '\0') {
			rc = KG_ERR_PROTOCOL;
			goto fail;
		}
		if (result_str(&r->error_reason, body->error->reason) == -1 ||
		    result_str(&r->reason, body->error->reason) == -1 ||
		    result_str(&r->detail, body->error->detail) == -1) {
			rc = KG_ERR_NOMEM;
			goto fail;
		}
		rc = KG_ERR_SERVER;
		break;
	case KEYGATE__REPLY_BODY__RESULT_VERDICT:
		if ((rc = result_from_verdict(r, body->verdict)) != KG_OK)
			goto fail;
		if (r->key != NULL && (rc = result_key_check(c, rq, r->key)) != KG_OK)
			goto fail;
		break;
	default:
		rc = KG_ERR_PROTOCOL;
		goto fail;
	}
	c->time_floor = body->server_time;
	keygate__reply_body__free_unpacked(body, NULL);
	keygate__reply__free_unpacked(rep, NULL);
	*out = r;
	return rc;
 fail:
	kg_result_free(r);
	if (body != NULL)
		keygate__reply_body__free_unpacked(body, NULL);
	if (rep != NULL)
		keygate__reply__free_unpacked(rep, NULL);
	return rc;
}

/* ---- requests ----------------------------------------------------------- */

/*
 * The key text without whitespace, in a malloc'd string. KG_ERR_INVAL when
 * empty or longer than KG_KEY_TEXT_MAX.
 */
static int
client_key_clean(const char *key, char **out)
{
	size_t	len, i, n = 0;
	char	*s;

	*out = NULL;
	if (key == NULL || (len = strnlen(key, KG_KEY_TEXT_MAX + 1)) > KG_KEY_TEXT_MAX)
		return KG_ERR_INVAL;
	if ((s = malloc(len + 1)) == NULL)
		return KG_ERR_NOMEM;
	for (i = 0; i < len; i++) {
		if (strchr(" \t\r\n\v\f", key[i]) == NULL)
			s[n++] = key[i];
	}
	s[n] = '\0';
	if (n == 0) {
		free(s);
		return KG_ERR_INVAL;
	}
	*out = s;
	return KG_OK;
}

/* A non-empty string of at most max bytes. */
static bool
client_text_ok(const char *s, size_t max)
{
	return s != NULL && s[0] != '\0' && strnlen(s, max + 1) <= max;
}

/* The serial of a key that decodes (not verified: for matching only). */
static bool
client_key_serial(const char *key, uint64_t *serial)
{
	struct kg_key_blob	blob;
	struct kg_license	lic;

	if (license_key_decode(key, strlen(key), &blob) != KGE_OK ||
	    license_payload_unpack(blob.payload, blob.payload_len, &lic) != KGE_OK)
		return false;
	*serial = lic.serial;
	return true;
}

/*
 * Pack req (its nonce filled in here) into rq: frame, nonce and hash.
 * KG_OK, KG_ERR_INVAL (too large) or KG_ERR_NOMEM.
 */
static int
client_req_build(struct client_req *rq, Keygate__Request *req)
{
	size_t	len;

	randombytes_buf(rq->nonce, sizeof(rq->nonce));
	req->protocol = KG_PROTOCOL_VERSION;
	req->nonce.data = rq->nonce;
	req->nonce.len = sizeof(rq->nonce);
	len = keygate__request__get_packed_size(req);
	if (len == 0 || len > KG_FRAME_MAX)
		return KG_ERR_INVAL;
	if ((rq->frame = malloc(4 + len)) == NULL)
		return KG_ERR_NOMEM;
	rq->frame[0] = (uint8_t)(len >> 24);
	rq->frame[1] = (uint8_t)(len >> 16);
	rq->frame[2] = (uint8_t)(len >> 8);
	rq->frame[3] = (uint8_t)len;
	if (keygate__request__pack(req, rq->frame + 4) != len) {
		free(rq->frame);
		rq->frame = NULL;
		return KG_ERR_INVAL;
	}
	rq->frame_len = 4 + len;
	crypto_generichash(rq->hash, sizeof(rq->hash), rq->frame + 4, len, NULL, 0);
	return KG_OK;
}

/* Build, send and verify one request; the common path of the three requests. */
static int
client_request(kg_client *c, Keygate__Request *req, const char *key,
    kg_result **out)
{
	struct client_req	 rq;
	uint8_t			*reply = NULL;
	size_t			 reply_len = 0, server = 0;
	int			 rc;

	memset(&rq, 0, sizeof(rq));
	if (c->nserver == 0)
		return KG_ERR_INVAL;
	if (c->trust.n == 0)
		return KG_ERR_TRUST;
	rq.have_serial = client_key_serial(key, &rq.serial);
	if ((rc = client_req_build(&rq, req)) != KG_OK)
		goto out;
	if ((rc = client_transact(c, &rq, &reply, &reply_len, &server)) != 0)
		goto out;
	rc = client_reply_verify(c, &rq, reply, reply_len,
	    c->server[server].text, out);
	if (rc != KG_OK && rc != KG_ERR_SERVER)
		kg_client_disconnect(c);	/* the stream is not to be trusted */
 out:
	free(reply);
	free(rq.frame);
	return rc;
}

/* Ask whether key may install updates of product from version (or to target). */
int
kg_check(kg_client *c, const char *key, const char *product,
    const char *version, const char *target, kg_result **out)
{
	Keygate__Request	 req = KEYGATE__REQUEST__INIT;
	Keygate__CheckRequest	 chk = KEYGATE__CHECK_REQUEST__INIT;
	struct kg_version	 v;
	char			*k = NULL;
	int			 rc;

	if (out == NULL)
		return KG_ERR_INVAL;
	*out = NULL;
	if (c == NULL || !client_text_ok(product, KG_CODE_MAX) ||
	    !client_text_ok(version, KG_VERSION_TEXT_MAX) ||
	    version_parse(version, &v) == -1)
		return KG_ERR_INVAL;
	if (target != NULL && target[0] != '\0' &&
	    (strlen(target) > KG_VERSION_TEXT_MAX || version_parse(target, &v) == -1))
		return KG_ERR_INVAL;
	if ((rc = client_key_clean(key, &k)) != KG_OK)
		return rc;
	chk.key = k;
	chk.product = (char *)product;
	chk.version = (char *)version;
	if (target != NULL)
		chk.target = (char *)target;
	req.body_case = KEYGATE__REQUEST__BODY_CHECK;
	req.check = &chk;
	rc = client_request(c, &req, k, out);
	free(k);
	return rc;
}

/* Ask for key's support status. */
int
kg_status(kg_client *c, const char *key, kg_result **out)
{
	Keygate__Request	 req = KEYGATE__REQUEST__INIT;
	Keygate__StatusRequest	 st = KEYGATE__STATUS_REQUEST__INIT;
	char			*k = NULL;
	int			 rc;

	if (out == NULL)
		return KG_ERR_INVAL;
	*out = NULL;
	if (c == NULL)
		return KG_ERR_INVAL;
	if ((rc = client_key_clean(key, &k)) != KG_OK)
		return rc;
	st.key = k;
	req.body_case = KEYGATE__REQUEST__BODY_STATUS;
	req.status = &st;
	rc = client_request(c, &req, k, out);
	free(k);
	return rc;
}

/* Renew key's support with an act number. */
int
kg_activate(kg_client *c, const char *key, const char *act, kg_result **out)
{
	Keygate__Request		 req = KEYGATE__REQUEST__INIT;
	Keygate__ActivateRequest	 ar = KEYGATE__ACTIVATE_REQUEST__INIT;
	char				*k = NULL;
	int				 rc;

	if (out == NULL)
		return KG_ERR_INVAL;
	*out = NULL;
	if (c == NULL || !client_text_ok(act, KG_CODE_MAX))
		return KG_ERR_INVAL;
	if ((rc = client_key_clean(key, &k)) != KG_OK)
		return rc;
	ar.key = k;
	ar.act = (char *)act;
	req.body_case = KEYGATE__REQUEST__BODY_ACTIVATE;
	req.activate = &ar;
	rc = client_request(c, &req, k, out);
	free(k);
	return rc;
}

/* Fill r from a verified license. KG_OK or KG_ERR_NOMEM. */
static int
result_from_license(kg_result *r, const struct kg_license *lic)
{
	r->valid = true;
	r->serial = lic->serial;
	r->revision = lic->revision;
	r->trial = lic->trial;
	r->support_months = lic->support_months;
	if (lic->created != KG_DATE_NONE)
		date_format(lic->created, r->created);
	if (lic->support_expiry != KG_DATE_NONE)
		date_format(lic->support_expiry, r->support_expiry);
	if (lic->license_expiry != KG_DATE_NONE)
		date_format(lic->license_expiry, r->license_expiry);
	if (result_str(&r->reason, "ok") == -1 ||
	    result_str(&r->product, lic->product) == -1 ||
	    result_str(&r->edition, lic->edition) == -1 ||
	    result_str(&r->regno, lic->regno) == -1 ||
	    result_str(&r->licensee, lic->licensee) == -1)
		return KG_ERR_NOMEM;
	return KG_OK;
}

/* Verify a key against the public keys of a text, without a server. */
int
kg_verify_offline(const char *key, const char *kgp1_lines, kg_result **out)
{
	struct kg_trustset	 ts;
	struct kg_license	 lic;
	kg_result		*r = NULL;
	char			*k = NULL;
	int			 rc;

	if (out == NULL)
		return KG_ERR_INVAL;
	*out = NULL;
	trustset_init(&ts);
	if (kgp1_lines == NULL) {
		rc = KG_ERR_INVAL;
		goto fail;
	}
	if (sodium_init() < 0) {
		rc = KG_ERR_NOMEM;
		goto fail;
	}
	if ((rc = trustset_parse(&ts, kgp1_lines, NULL)) != KGE_OK || ts.n == 0) {
		rc = rc == KGE_NOMEM ? KG_ERR_NOMEM : KG_ERR_TRUST;
		goto fail;
	}
	if ((rc = client_key_clean(key, &k)) != KG_OK)
		goto fail;
	if ((r = result_new()) == NULL) {
		rc = KG_ERR_NOMEM;
		goto fail;
	}
	r->offline = true;
	rc = license_key_parse(k, strlen(k), &ts, &lic);
	if (rc == KGE_NOMEM) {
		rc = KG_ERR_NOMEM;
		goto fail;
	}
	if (rc != KGE_OK) {
		if (result_str(&r->reason, "bad_key") == -1 ||
		    result_str(&r->detail, kge_strerror(rc)) == -1) {
			rc = KG_ERR_NOMEM;
			goto fail;
		}
		rc = KG_ERR_KEY;
	} else if ((rc = result_from_license(r, &lic)) != KG_OK)
		goto fail;
	free(k);
	trustset_clear(&ts);
	*out = r;
	return rc;
 fail:
	kg_result_free(r);
	free(k);
	trustset_clear(&ts);
	return rc;
}

/* ---- result accessors -------------------------------------------------- */

/* NULL for an empty text buffer. */
static const char *
result_text(const kg_result *r, const char *s)
{
	return r == NULL || s[0] == '\0' ? NULL : s;
}

const char *
kg_result_verdict(const kg_result *r)
{
	return r ? r->verdict : NULL;
}

const char *
kg_result_reason(const kg_result *r)
{
	return r ? r->reason : NULL;
}

const char *
kg_result_detail(const kg_result *r)
{
	return r ? r->detail : NULL;
}

const char *
kg_result_eligible(const kg_result *r)
{
	return r ? r->eligible : NULL;
}

const char *
kg_result_latest(const kg_result *r)
{
	return r ? r->latest : NULL;
}

const char *
kg_result_key(const kg_result *r)
{
	return r ? r->key : NULL;
}

const char *
kg_result_regno(const kg_result *r)
{
	return r ? r->regno : NULL;
}

const char *
kg_result_licensee(const kg_result *r)
{
	return r ? r->licensee : NULL;
}

const char *
kg_result_product(const kg_result *r)
{
	return r ? r->product : NULL;
}

const char *
kg_result_edition(const kg_result *r)
{
	return r ? r->edition : NULL;
}

const char *
kg_result_state(const kg_result *r)
{
	return r ? r->state : NULL;
}

const char *
kg_result_error_reason(const kg_result *r)
{
	return r ? r->error_reason : NULL;
}

const char *
kg_result_server(const kg_result *r)
{
	return r ? r->server : NULL;
}

const char *
kg_result_renewal_act(const kg_result *r)
{
	return r ? r->renewal_act : NULL;
}

int
kg_result_days_left(const kg_result *r)
{
	return r ? r->days_left : 0;
}

int
kg_result_has_quote(const kg_result *r)
{
	return r ? r->has_quote : 0;
}

int
kg_result_has_renewal(const kg_result *r)
{
	return r ? r->has_renewal : 0;
}

int
kg_result_renewal_months(const kg_result *r)
{
	return r ? r->renewal_months : 0;
}

int
kg_result_retry_after(const kg_result *r)
{
	return r ? r->retry_after : 0;
}

int64_t
kg_result_server_time(const kg_result *r)
{
	return r ? r->server_time : 0;
}

int
kg_result_test_clock(const kg_result *r)
{
	return r ? r->test_clock : 0;
}

int
kg_result_valid(const kg_result *r)
{
	return r ? r->valid : 0;
}

uint64_t
kg_result_serial(const kg_result *r)
{
	return r ? r->serial : 0;
}

unsigned int
kg_result_revision(const kg_result *r)
{
	return r ? r->revision : 0;
}

int
kg_result_trial(const kg_result *r)
{
	return r ? r->trial : 0;
}

unsigned int
kg_result_support_months(const kg_result *r)
{
	return r ? r->support_months : 0;
}

int64_t
kg_result_quote_price_minor(const kg_result *r)
{
	return r ? r->quote_price_minor : 0;
}

int64_t
kg_result_renewal_price_minor(const kg_result *r)
{
	return r ? r->renewal_price_minor : 0;
}


const char *
kg_result_support_expiry(const kg_result *r)
{
	return r ? result_text(r, r->support_expiry) : NULL;
}

const char *
kg_result_license_expiry(const kg_result *r)
{
	return r ? result_text(r, r->license_expiry) : NULL;
}

const char *
kg_result_created(const kg_result *r)
{
	return r ? result_text(r, r->created) : NULL;
}

const char *
kg_result_quote_kind(const kg_result *r)
{
	return r && r->has_quote ? result_text(r, r->quote_kind) : NULL;
}

const char *
kg_result_quote_price(const kg_result *r)
{
	return r && r->has_quote ? r->quote_price : NULL;
}

const char *
kg_result_quote_new_expiry(const kg_result *r)
{
	return r && r->has_quote ? result_text(r, r->quote_new_expiry) : NULL;
}

const char *
kg_result_renewal_kind(const kg_result *r)
{
	return r && r->has_renewal ? result_text(r, r->renewal_kind) : NULL;
}

const char *
kg_result_renewal_price(const kg_result *r)
{
	return r && r->has_renewal ? r->renewal_price : NULL;
}

const char *
kg_result_renewal_new_expiry(const kg_result *r)
{
	return r && r->has_renewal ? result_text(r, r->renewal_new_expiry) : NULL;
}
