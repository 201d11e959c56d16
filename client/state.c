/*
 * libkeygate's state: the last verified update-check verdict per (license
 * serial, product) and the replay high-water mark, in memory and, when the
 * product names one, in a small file that survives restarts.
 *
 * The file is text, mode 0600, replaced atomically (a temporary file in the
 * same directory, fsync, rename, fsync of the directory):
 *
 *   keygate-state 1
 *   high-water 1795000000
 *   verdict <base64url(Request bytes)> <base64url(Reply bytes)>
 *   trusted KGP1.<new public key> <base64url(RotationStatement bytes)>
 *   ...
 *
 * "high-water" is the newest server time (Unix seconds) the client has
 * accepted. Each "verdict" line holds the exact request the client sent and
 * the exact signed reply that answered it, so a cached verdict is verified
 * again (signature, nonce, request hash, key) before it is used, never
 * trusted because it is in the file. The file is not secret but is not
 * signed either: whoever can write it can delete it, which loses the
 * offline verdicts and lowers the high-water mark; it cannot forge a
 * verdict. Before writing, the file on disk is read again and merged (the
 * higher mark, the newer verdict per license), so two processes sharing
 * one file do not lower the mark.
 *
 * A "trusted" line keeps a rotation statement that proved a signing key
 * (rotation.c) with, for people reading the file, the key it introduces.
 * The statement, not the key, is what counts: it is checked against the
 * trust set again before the key is trusted, so writing a key into the
 * file trusts nothing. At most ROTATION_STATEMENTS_MAX are kept, one per
 * key.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "keygate.pb-c.h"

#include "client_int.h"
#include "kgerr.h"

#define STATE_MAGIC		"keygate-state 1"
#define STATE_B64		sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* An empty state with no file. */
void
state_init(struct client_state *st)
{
	memset(st, 0, sizeof(*st));
	st->last_error = KG_OK;
}

static void
state_entry_free(struct state_entry *e)
{
	free(e->request);
	free(e->reply);
	memset(e, 0, sizeof(*e));
}

/* Free every entry and statement (the path stays). */
static void
state_entries_clear(struct client_state *st)
{
	size_t	i;

	for (i = 0; i < st->n; i++)
		state_entry_free(&st->entry[i]);
	free(st->entry);
	st->entry = NULL;
	st->n = 0;
	for (i = 0; i < st->nrot; i++)
		free(st->rot[i].buf);
	free(st->rot);
	st->rot = NULL;
	st->nrot = 0;
}

/*
 * Keep a copy of a rotation statement, unless one for the same key is
 * kept already or ROTATION_STATEMENTS_MAX are. KG_OK, KG_ERR_STATE (not a
 * statement) or KG_ERR_NOMEM.
 */
int
state_rotation_add(struct client_state *st, const uint8_t *buf, size_t len)
{
	struct client_rotation	*grown;
	uint8_t			 pk[KG_PUBKEY_LEN];
	size_t			 i;

	if (rotation_statement_key(buf, len, pk) == -1)
		return KG_ERR_STATE;
	for (i = 0; i < st->nrot; i++)
		if (memcmp(st->rot[i].pk, pk, KG_PUBKEY_LEN) == 0)
			return KG_OK;
	if (st->nrot == ROTATION_STATEMENTS_MAX)
		return KG_OK;
	if ((grown = reallocarray(st->rot, st->nrot + 1, sizeof(*grown))) == NULL)
		return KG_ERR_NOMEM;
	st->rot = grown;
	if ((grown[st->nrot].buf = malloc(len)) == NULL)
		return KG_ERR_NOMEM;
	memcpy(grown[st->nrot].buf, buf, len);
	grown[st->nrot].len = len;
	memcpy(grown[st->nrot].pk, pk, KG_PUBKEY_LEN);
	st->nrot++;
	return KG_OK;
}

/* Free the entries and the path. */
void
state_clear(struct client_state *st)
{
	state_entries_clear(st);
	free(st->path);
	st->path = NULL;
}

/* The entry of (serial, product), or NULL. */
const struct state_entry *
state_find(const struct client_state *st, uint64_t serial, const char *product)
{
	size_t	i;

	for (i = 0; i < st->n; i++) {
		if (st->entry[i].serial == serial &&
		    strcmp(st->entry[i].product, product) == 0)
			return &st->entry[i];
	}
	return NULL;
}

/* The (unverified) server time of a Reply's body. 0 or -1. */
static int
state_reply_time(const uint8_t *buf, size_t len, int64_t *t)
{
	Keygate__Reply		*rep;
	Keygate__ReplyBody	*body;
	int			 rc = -1;

	if ((rep = keygate__reply__unpack(NULL, len, buf)) == NULL)
		return -1;
	body = keygate__reply_body__unpack(NULL, rep->body.len, rep->body.data);
	if (body != NULL) {
		*t = body->server_time;
		rc = 0;
		keygate__reply_body__free_unpacked(body, NULL);
	}
	keygate__reply__free_unpacked(rep, NULL);
	return rc;
}

/*
 * A new entry from a request/reply pair: copies of both and the lookup
 * keys read from them. KG_OK, KG_ERR_STATE (not an update check and its
 * reply, or too large) or KG_ERR_NOMEM.
 */
static int
state_entry_make(struct state_entry *e, const uint8_t *request,
    size_t request_len, const uint8_t *reply, size_t reply_len)
{
	memset(e, 0, sizeof(*e));
	if (request_len == 0 || request_len > STATE_BLOB_MAX ||
	    reply_len == 0 || reply_len > STATE_BLOB_MAX ||
	    request_check_info(request, request_len, &e->serial,
	    e->product) != KG_OK ||
	    state_reply_time(reply, reply_len, &e->server_time) == -1)
		return KG_ERR_STATE;
	if ((e->request = malloc(request_len)) == NULL ||
	    (e->reply = malloc(reply_len)) == NULL) {
		state_entry_free(e);
		return KG_ERR_NOMEM;
	}
	memcpy(e->request, request, request_len);
	memcpy(e->reply, reply, reply_len);
	e->request_len = request_len;
	e->reply_len = reply_len;
	return KG_OK;
}

/*
 * Take e into st (st owns it afterwards, whatever happens): it replaces an
 * older entry of the same license and product (one of the same server time
 * too when fresh: a verdict just received beats one read back from the
 * file), is dropped otherwise, and pushes out the oldest entry when st is
 * full. KG_OK or KG_ERR_NOMEM.
 */
static int
state_entry_put(struct client_state *st, struct state_entry *e, bool fresh)
{
	struct state_entry	*grown;
	size_t			 i, oldest = 0;

	for (i = 0; i < st->n; i++) {
		if (st->entry[i].serial != e->serial ||
		    strcmp(st->entry[i].product, e->product) != 0)
			continue;
		if (st->entry[i].server_time > e->server_time ||
		    (!fresh && st->entry[i].server_time == e->server_time)) {
			state_entry_free(e);
			return KG_OK;
		}
		state_entry_free(&st->entry[i]);
		st->entry[i] = *e;
		return KG_OK;
	}
	if (st->n == STATE_ENTRIES_MAX) {
		for (i = 1; i < st->n; i++) {
			if (st->entry[i].server_time < st->entry[oldest].server_time)
				oldest = i;
		}
		if (st->entry[oldest].server_time > e->server_time) {
			state_entry_free(e);
			return KG_OK;
		}
		state_entry_free(&st->entry[oldest]);
		st->entry[oldest] = *e;
		return KG_OK;
	}
	if ((grown = reallocarray(st->entry, st->n + 1, sizeof(*grown))) == NULL) {
		state_entry_free(e);
		return KG_ERR_NOMEM;
	}
	st->entry = grown;
	st->entry[st->n++] = *e;
	return KG_OK;
}

/* Remember a verified update-check verdict: our request bytes and its reply bytes. */
int
state_remember(kg_client *c, const uint8_t *request, size_t request_len,
    const uint8_t *reply, size_t reply_len)
{
	struct state_entry	e;
	int			rc;

	rc = state_entry_make(&e, request, request_len, reply, reply_len);
	if (rc == KG_ERR_STATE)
		return KG_OK;		/* too large to keep: nothing to remember */
	if (rc != KG_OK)
		return rc;
	return state_entry_put(&c->state, &e, true);
}

/* Decode one base64url word of len bytes into a malloc'd buffer. KG_OK, KG_ERR_STATE or KG_ERR_NOMEM. */
static int
state_b64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t		*buf;
	const char	*end;
	size_t		 cap = len / 4 * 3 + 3;

	*out = NULL;
	if (len == 0 || cap > STATE_BLOB_MAX + 3)
		return KG_ERR_STATE;
	if ((buf = malloc(cap)) == NULL)
		return KG_ERR_NOMEM;
	if (sodium_base642bin(buf, cap, s, len, NULL, outlen, &end,
	    STATE_B64) != 0 || end != s + len) {
		free(buf);
		return KG_ERR_STATE;
	}
	*out = buf;
	return KG_OK;
}

/* Parse a non-negative decimal int64 that fills s[0..len). 0 or -1. */
static int
state_int_parse(const char *s, size_t len, int64_t *out)
{
	int64_t	v = 0;
	size_t	i;

	if (len == 0 || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* One "verdict REQ REP" line's words (after "verdict "), into st. */
static int
state_verdict_parse(struct client_state *st, const char *s, size_t len)
{
	struct state_entry	 e;
	const char		*sp;
	uint8_t			*req = NULL, *rep = NULL;
	size_t			 req_len, rep_len;
	int			 rc;

	if ((sp = memchr(s, ' ', len)) == NULL)
		return KG_ERR_STATE;
	if ((rc = state_b64_decode(s, (size_t)(sp - s), &req, &req_len)) != KG_OK)
		goto out;
	if ((rc = state_b64_decode(sp + 1, len - (size_t)(sp + 1 - s), &rep,
	    &rep_len)) != KG_OK)
		goto out;
	if ((rc = state_entry_make(&e, req, req_len, rep, rep_len)) != KG_OK)
		goto out;
	rc = state_entry_put(st, &e, false);
 out:
	free(req);
	free(rep);
	return rc;
}

/* One "trusted KGP1... STATEMENT" line's words (after "trusted "), into st. */
static int
state_trusted_parse(struct client_state *st, const char *s, size_t len)
{
	const char	*sp;
	char		 text[KG_PUBKEY_TEXT_MAX];
	uint8_t		 pk[KG_PUBKEY_LEN], said[KG_PUBKEY_LEN], *buf = NULL;
	size_t		 n, blen;
	int		 rc;

	if ((sp = memchr(s, ' ', len)) == NULL ||
	    (n = (size_t)(sp - s)) >= sizeof(text))
		return KG_ERR_STATE;
	memcpy(text, s, n);
	text[n] = '\0';
	if (pubkey_parse(text, said) != KGE_OK)
		return KG_ERR_STATE;
	if ((rc = state_b64_decode(sp + 1, len - n - 1, &buf, &blen)) != KG_OK)
		return rc;
	if (blen > ROTATION_STATEMENT_MAX ||
	    rotation_statement_key(buf, blen, pk) == -1 ||
	    memcmp(pk, said, KG_PUBKEY_LEN) != 0)
		rc = KG_ERR_STATE;
	else
		rc = state_rotation_add(st, buf, blen);
	free(buf);
	return rc;
}

/* Parse a state file's text into st (empty) and *high_water. */
static int
state_parse(const char *text, size_t len, struct client_state *st,
    int64_t *high_water)
{
	const char	*p = text, *end = text + len, *nl;
	size_t		 n;
	bool		 first = true, have_hw = false;
	int		 rc;

	*high_water = 0;
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return KG_ERR_STATE;	/* every line ends: not truncated */
		n = (size_t)(nl - p);
		if (first) {
			if (n != strlen(STATE_MAGIC) || memcmp(p, STATE_MAGIC, n) != 0)
				return KG_ERR_STATE;
			first = false;
		} else if (n > 11 && memcmp(p, "high-water ", 11) == 0 && !have_hw) {
			if (state_int_parse(p + 11, n - 11, high_water) == -1)
				return KG_ERR_STATE;
			have_hw = true;
		} else if (n > 8 && memcmp(p, "verdict ", 8) == 0) {
			if ((rc = state_verdict_parse(st, p + 8, n - 8)) != KG_OK)
				return rc;
		} else if (n > 8 && memcmp(p, "trusted ", 8) == 0) {
			if ((rc = state_trusted_parse(st, p + 8, n - 8)) != KG_OK)
				return rc;
		} else
			return KG_ERR_STATE;
		p = nl + 1;
	}
	return have_hw ? KG_OK : KG_ERR_STATE;
}

/*
 * Read the state file at path into st (which must be empty) and
 * *high_water. A missing file is an empty state (KG_OK). KG_ERR_STATE when
 * the file cannot be read or is not a state file; KG_ERR_NOMEM.
 */
int
state_read(const char *path, struct client_state *st, int64_t *high_water)
{
	struct stat	 sb;
	char		*buf = NULL;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, rc;

	*high_water = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? KG_OK : KG_ERR_STATE;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > STATE_FILE_MAX) {
		rc = KG_ERR_STATE;
		goto out;
	}
	if ((buf = malloc(STATE_FILE_MAX + 1)) == NULL) {
		rc = KG_ERR_NOMEM;
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, STATE_FILE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = KG_ERR_STATE;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > STATE_FILE_MAX) {
			rc = KG_ERR_STATE;
			goto out;
		}
	}
	if ((rc = state_parse(buf, len, st, high_water)) != KG_OK)
		state_entries_clear(st);
 out:
	free(buf);
	close(fd);
	return rc;
}

/*
 * Move every entry of from into to (the newer per license wins) and add
 * its statements; from ends empty.
 */
static int
state_merge(struct client_state *to, struct client_state *from)
{
	size_t	i;
	int	rc = KG_OK;

	for (i = 0; i < from->n; i++) {
		if (rc == KG_OK)
			rc = state_entry_put(to, &from->entry[i], false);
		else
			state_entry_free(&from->entry[i]);
	}
	free(from->entry);
	from->entry = NULL;
	from->n = 0;
	for (i = 0; i < from->nrot && rc == KG_OK; i++)
		rc = state_rotation_add(to, from->rot[i].buf, from->rot[i].len);
	state_entries_clear(from);
	return rc;
}

/* Attach the state file at path (NULL: detach): load it and merge it in. */
int
state_attach(kg_client *c, const char *path)
{
	struct client_state	 disk;
	int64_t			 hw;
	char			*copy;
	int			 rc;

	if (path == NULL) {
		free(c->state.path);
		c->state.path = NULL;
		return KG_OK;
	}
	if ((copy = strdup(path)) == NULL)
		return KG_ERR_NOMEM;
	state_init(&disk);
	if ((rc = state_read(path, &disk, &hw)) != KG_OK) {
		free(copy);
		return rc;
	}
	if ((rc = state_merge(&c->state, &disk)) != KG_OK) {
		free(copy);
		return rc;
	}
	kg_client_set_time_floor(c, hw);
	free(c->state.path);
	c->state.path = copy;
	return rotation_apply_state(c);
}

/* Append a base64url word of buf to out at *off (room checked by the caller). */
static void
state_b64_put(char *out, size_t cap, size_t *off, const uint8_t *buf, size_t len)
{
	sodium_bin2base64(out + *off, cap - *off, buf, len, STATE_B64);
	*off += strlen(out + *off);
}

/* The text of a state file in a malloc'd buffer. KG_OK or KG_ERR_NOMEM. */
int
state_format_new(const struct client_state *st, int64_t high_water,
    char **out, size_t *len)
{
	char	*buf;
	size_t	 cap = 64, off, i;
	int	 n;

	*out = NULL;
	for (i = 0; i < st->n; i++)
		cap += 16 + sodium_base64_ENCODED_LEN(st->entry[i].request_len,
		    STATE_B64) + sodium_base64_ENCODED_LEN(st->entry[i].reply_len,
		    STATE_B64);
	for (i = 0; i < st->nrot; i++)
		cap += 16 + KG_PUBKEY_TEXT_MAX +
		    sodium_base64_ENCODED_LEN(st->rot[i].len, STATE_B64);
	if ((buf = malloc(cap)) == NULL)
		return KG_ERR_NOMEM;
	n = snprintf(buf, cap, "%s\nhigh-water %" PRId64 "\n", STATE_MAGIC,
	    high_water < 0 ? 0 : high_water);
	off = (size_t)n;
	for (i = 0; i < st->n; i++) {
		memcpy(buf + off, "verdict ", 8);
		off += 8;
		state_b64_put(buf, cap, &off, st->entry[i].request,
		    st->entry[i].request_len);
		buf[off++] = ' ';
		state_b64_put(buf, cap, &off, st->entry[i].reply,
		    st->entry[i].reply_len);
		buf[off++] = '\n';
	}
	for (i = 0; i < st->nrot; i++) {
		memcpy(buf + off, "trusted ", 8);
		off += 8;
		pubkey_format(st->rot[i].pk, buf + off);
		off += strlen(buf + off);
		buf[off++] = ' ';
		state_b64_put(buf, cap, &off, st->rot[i].buf, st->rot[i].len);
		buf[off++] = '\n';
	}
	buf[off] = '\0';
	*out = buf;
	*len = off;
	return KG_OK;
}

/* Write len bytes of buf to fd. 0 or -1. */
static int
state_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replace path with text atomically, mode 0600. KG_OK or KG_ERR_STATE. */
static int
state_file_replace(const char *path, const char *text, size_t len)
{
	char	tmp[PATH_MAX], dir[PATH_MAX];
	int	fd, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp) ||
	    strlen(path) >= sizeof(dir))
		return KG_ERR_STATE;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return KG_ERR_STATE;
	if (fchmod(fd, 0600) == -1 || state_write_all(fd, text, len) == -1 ||
	    fsync(fd) == -1) {
		close(fd);
		goto fail;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1)
		goto fail;
	memcpy(dir, path, strlen(path) + 1);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return KG_OK;
 fail:
	unlink(tmp);
	return KG_ERR_STATE;
}

/*
 * Write the state to its file: read the file again and merge it in first
 * (a file that is no longer a state file is simply replaced), then replace
 * it atomically. KG_OK, KG_ERR_STATE or KG_ERR_NOMEM.
 */
int
state_save(kg_client *c)
{
	struct client_state	 disk;
	int64_t			 hw = 0;
	char			*text = NULL;
	size_t			 len;
	int			 rc;

	if (c->state.path == NULL)
		return KG_OK;
	state_init(&disk);
	rc = state_read(c->state.path, &disk, &hw);
	if (rc == KG_ERR_NOMEM)
		return rc;
	if (rc == KG_OK) {
		if ((rc = state_merge(&c->state, &disk)) != KG_OK)
			return rc;
		kg_client_set_time_floor(c, hw);
	}
	if ((rc = state_format_new(&c->state, c->time_floor, &text,
	    &len)) != KG_OK)
		return rc;
	rc = state_file_replace(c->state.path, text, len);
	free(text);
	return rc;
}
