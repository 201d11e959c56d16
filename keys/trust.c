/*
 * Trust sets: the public keys a verifier accepts, each with its id and its
 * state (active, retired, compromised), in a growable array. A trust file
 * holds one "KGP1." line per key; blank lines and '#' comments are skipped.
 * Parsing is all or nothing: a bad line leaves the set as it was.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kgerr.h"
#include "keys.h"
#include "text.h"

#define TRUST_FILE_MAX	(1024 * 1024)	/* a trust file is a few lines */
#define TRUST_LINE_MAX	256		/* longer is not a public key line */

static int
trust_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Make room for at least want entries. KGE_OK or KGE_NOMEM. */
static int
trustset_reserve(struct kg_trustset *ts, size_t want)
{
	struct kg_trust_entry	*e;
	size_t			 cap;

	if (want <= ts->cap)
		return KGE_OK;
	cap = ts->cap == 0 ? 4 : ts->cap;
	while (cap < want) {
		if (cap > SIZE_MAX / 2)
			return KGE_NOMEM;
		cap *= 2;
	}
	if (cap > SIZE_MAX / sizeof(*e))
		return KGE_NOMEM;
	if ((e = realloc(ts->entry, cap * sizeof(*e))) == NULL)
		return KGE_NOMEM;
	ts->entry = e;
	ts->cap = cap;
	return KGE_OK;
}

/* Initialise an empty trust set. */
void
trustset_init(struct kg_trustset *ts)
{
	ts->entry = NULL;
	ts->n = 0;
	ts->cap = 0;
}

/* Free a trust set's entries and leave it empty. */
void
trustset_clear(struct kg_trustset *ts)
{
	if (ts == NULL)
		return;
	free(ts->entry);
	trustset_init(ts);
}

/*
 * Add pk with state, or set the state of pk when it is already present.
 * A different key with the same id is refused with KGE_INVAL: ids name
 * keys, so two keys may not share one.
 */
int
trustset_add(struct kg_trustset *ts, const uint8_t pk[KG_PUBKEY_LEN],
    enum kg_trust_state state)
{
	struct kg_trust_entry	*e;
	uint8_t			 id[KG_KEY_ID_LEN];
	size_t			 i;
	int			 rc;

	if (ts == NULL || pk == NULL)
		return KGE_INVAL;
	key_id_compute(pk, id);
	for (i = 0; i < ts->n; i++) {
		e = &ts->entry[i];
		if (memcmp(e->id, id, KG_KEY_ID_LEN) != 0)
			continue;
		if (memcmp(e->pk, pk, KG_PUBKEY_LEN) != 0)
			return KGE_INVAL;
		e->state = state;
		return KGE_OK;
	}
	if ((rc = trustset_reserve(ts, ts->n + 1)) != KGE_OK)
		return rc;
	e = &ts->entry[ts->n++];
	memcpy(e->pk, pk, KG_PUBKEY_LEN);
	memcpy(e->id, id, KG_KEY_ID_LEN);
	e->state = state;
	return KGE_OK;
}

/* The entry whose id is id, or NULL. */
const struct kg_trust_entry *
trustset_find(const struct kg_trustset *ts, const uint8_t id[KG_KEY_ID_LEN])
{
	size_t	i;

	if (ts == NULL || id == NULL)
		return NULL;
	for (i = 0; i < ts->n; i++)
		if (memcmp(ts->entry[i].id, id, KG_KEY_ID_LEN) == 0)
			return &ts->entry[i];
	return NULL;
}

/*
 * Parse one line (len bytes at line, no '\n') into pk. *skip is set for a
 * blank or comment line. KGE_OK or KGE_PUBKEY_FORMAT.
 */
static int
trust_line_parse(const char *line, size_t len, uint8_t pk[KG_PUBKEY_LEN],
    int *skip)
{
	char	buf[TRUST_LINE_MAX + 1];
	size_t	i = 0;

	while (i < len && trust_is_space(line[i]))
		i++;
	*skip = (i == len || line[i] == '#');
	if (*skip)
		return KGE_OK;
	if (len > TRUST_LINE_MAX || memchr(line, '\0', len) != NULL)
		return KGE_PUBKEY_FORMAT;
	memcpy(buf, line, len);
	buf[len] = '\0';
	return pubkey_parse(buf, pk);
}

/*
 * Walk the lines of text; with add set, add each key, otherwise only check
 * them and count them in *count.
 */
static int
trust_text_walk(struct kg_trustset *ts, const char *text, int add,
    size_t *count, int *bad_line)
{
	const char	*p = text, *nl;
	uint8_t		 pk[KG_PUBKEY_LEN];
	size_t		 len;
	int		 lineno = 0, skip, rc;

	*count = 0;
	while (*p != '\0') {
		lineno++;
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if ((rc = trust_line_parse(p, len, pk, &skip)) != KGE_OK) {
			if (bad_line != NULL)
				*bad_line = lineno;
			return rc;
		}
		if (!skip) {
			(*count)++;
			if (add && (rc = trustset_add(ts, pk,
			    KG_TRUST_ACTIVE)) != KGE_OK)
				return rc;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return KGE_OK;
}

/* Add every "KGP1." line of text as KG_TRUST_ACTIVE (all or nothing). */
int
trustset_parse(struct kg_trustset *ts, const char *text, int *bad_line)
{
	size_t	count;
	int	rc;

	if (ts == NULL || text == NULL)
		return KGE_INVAL;
	if (sodium_init() < 0)
		return KGE_NOMEM;
	/* First check every line and make room, so adding cannot fail. */
	if ((rc = trust_text_walk(ts, text, 0, &count, bad_line)) != KGE_OK)
		return rc;
	if (count > SIZE_MAX - ts->n)
		return KGE_NOMEM;
	if ((rc = trustset_reserve(ts, ts->n + count)) != KGE_OK)
		return rc;
	return trust_text_walk(ts, text, 1, &count, bad_line);
}

/*
 * trustset_parse of a file of at most TRUST_FILE_MAX bytes. KGE_IO (errno
 * kept, EFBIG when too long) when it cannot be read; a NUL byte in it is
 * KGE_PUBKEY_FORMAT on its line.
 */
int
trustset_load_file(struct kg_trustset *ts, const char *path, int *bad_line)
{
	struct stat	 st;
	char		*buf = NULL, *nul;
	const char	*p;
	size_t		 len = 0;
	int		 fd = -1, rc = KGE_IO, saved, lineno;

	if (ts == NULL || path == NULL)
		return KGE_INVAL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (st.st_size > TRUST_FILE_MAX) {
		errno = EFBIG;
		goto fail;
	}
	if ((buf = malloc(TRUST_FILE_MAX + 2)) == NULL) {
		rc = KGE_NOMEM;
		goto fail;
	}
	if (text_fd_read(fd, buf, TRUST_FILE_MAX, &len) == -1)
		goto fail;
	close(fd);
	fd = -1;
	buf[len] = '\0';
	if ((nul = memchr(buf, '\0', len)) != NULL) {
		lineno = 1;
		for (p = buf; p < nul; p++)
			if (*p == '\n')
				lineno++;
		if (bad_line != NULL)
			*bad_line = lineno;
		rc = KGE_PUBKEY_FORMAT;
		goto fail;
	}
	rc = trustset_parse(ts, buf, bad_line);
	free(buf);
	return rc;

 fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	free(buf);
	errno = saved;
	return rc;
}
