/*
 * libkeygate's client handle: the servers to try, the trust set, the
 * timeouts and the rollback tolerance, the replay high-water mark and the
 * state file that keeps it between runs, plus kg_strerror(). Nothing here
 * talks to a server: transport.c does, for request.c.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "client_int.h"
#include "kgerr.h"
#include "text.h"

#ifndef KG_VERSION_TEXT
#define KG_VERSION_TEXT		"0.1.0"
#endif

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
	case KG_ERR_STATE:
		return "the state file cannot be read or written, or is not a keygate state file";
	}
	return "unknown error";
}

/* The library's version text. */
const char *
kg_library_version(void)
{
	return KG_VERSION_TEXT;
}

/* The local clock in Unix seconds. */
int64_t
client_clock_now(void)
{
	return (int64_t)time(NULL);
}

/*
 * Whether the local clock (now) is more than the tolerance behind the
 * newest server time this client has accepted: the clock was set back.
 */
bool
client_rollback(const kg_client *c, int64_t now)
{
	return c->time_floor > now && c->time_floor - now > c->tolerance;
}

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
	state_init(&c->state);
	c->connect_ms = KG_DEFAULT_CONNECT_MS;
	c->io_ms = KG_DEFAULT_IO_MS;
	c->tolerance = KG_DEFAULT_ROLLBACK_TOLERANCE;
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
	state_clear(&c->state);
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
	struct kg_trustset	 tmp, merged;
	size_t			 i;
	int			 rc;

	if (c == NULL || kgp1_lines == NULL)
		return KG_ERR_INVAL;
	trustset_init(&tmp);
	trustset_init(&merged);
	if ((rc = trustset_parse(&tmp, kgp1_lines, NULL)) != KGE_OK) {
		rc = rc == KGE_NOMEM ? KG_ERR_NOMEM : KG_ERR_TRUST;
		goto out;
	}
	if (tmp.n == 0) {
		rc = KG_ERR_TRUST;
		goto out;
	}
	/* Build the grown set aside, so a failure leaves c->trust as it was. */
	for (i = 0; i < c->trust.n; i++) {
		if (trustset_add(&merged, c->trust.entry[i].pk,
		    c->trust.entry[i].state) != KGE_OK) {
			rc = KG_ERR_NOMEM;
			goto out;
		}
	}
	for (i = 0; i < tmp.n; i++) {
		if (trustset_find(&merged, tmp.entry[i].id) != NULL)
			continue;	/* already trusted: keep its state */
		if (trustset_add(&merged, tmp.entry[i].pk,
		    KG_TRUST_ACTIVE) != KGE_OK) {
			rc = KG_ERR_NOMEM;
			goto out;
		}
	}
	trustset_clear(&c->trust);
	c->trust = merged;
	trustset_init(&merged);
	/* Keys proved by statements of the state file, if it came first. */
	rc = rotation_apply_state(c);
 out:
	trustset_clear(&merged);
	trustset_clear(&tmp);
	return rc;
}

/* Read a small text file into a malloc'd NUL-terminated string. 0 or -1. */
static int
client_file_read(const char *path, size_t max, char **out)
{
	char	*buf = NULL;
	size_t	 len = 0;
	int	 fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((buf = malloc(max + 1)) == NULL)
		goto fail;
	if (text_fd_read(fd, buf, max, &len) == -1)
		goto fail;
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
	errno = 0;
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

/* Set the deadline of one whole request across every server (0: none). */
int
kg_client_set_deadline(kg_client *c, int total_ms)
{
	if (c == NULL || total_ms < 0 || total_ms > CLIENT_TIMEOUT_MAX)
		return KG_ERR_INVAL;
	c->total_ms = total_ms;
	return KG_OK;
}

/* Set how far the local clock may lag the high-water mark before it counts as set back. */
int
kg_client_set_rollback_tolerance(kg_client *c, int64_t seconds)
{
	if (c == NULL || seconds < 0 || seconds > STATE_TOLERANCE_MAX)
		return KG_ERR_INVAL;
	c->tolerance = seconds;
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

/* Keep the high-water mark and the last verdicts in a file (NULL: stop). */
int
kg_client_set_state_file(kg_client *c, const char *path)
{
	if (c == NULL || (path != NULL && path[0] == '\0'))
		return KG_ERR_INVAL;
	return state_attach(c, path);
}

/* The outcome of the last write of the state file. */
int
kg_client_state_error(const kg_client *c)
{
	return c == NULL ? KG_ERR_INVAL : c->state.last_error;
}

/* Whether the local clock is behind the high-water mark by more than the tolerance. */
int
kg_client_rollback(const kg_client *c)
{
	return c != NULL && client_rollback(c, client_clock_now());
}
