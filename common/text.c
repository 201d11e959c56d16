/*
 * Checks of untrusted text that daemon and clients share: UTF-8 is decoded
 * here once (text_utf8_next) for both the plain check and the one that also
 * refuses control characters; text is cut at a character boundary; codes
 * and URLs are plain ASCII sets. Also the read loop of a small file (key
 * files, trust files, the CLI's inputs).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "text.h"

/*
 * Decode the character at s[*i] (of n bytes) into *cp and step *i past it.
 * 0, or -1 when it is not well-formed UTF-8.
 */
static int
text_utf8_next(const unsigned char *s, size_t n, size_t *i, uint32_t *cp)
{
	size_t		k, more;
	uint32_t	min;

	if (s[*i] < 0x80) {
		*cp = s[(*i)++];
		return 0;
	}
	if ((s[*i] & 0xe0) == 0xc0) {
		*cp = s[*i] & 0x1f;
		more = 1;
		min = 0x80;
	} else if ((s[*i] & 0xf0) == 0xe0) {
		*cp = s[*i] & 0x0f;
		more = 2;
		min = 0x800;
	} else if ((s[*i] & 0xf8) == 0xf0) {
		*cp = s[*i] & 0x07;
		more = 3;
		min = 0x10000;
	} else
		return -1;
	if (more > n - *i - 1)
		return -1;
	for (k = 1; k <= more; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		*cp = (*cp << 6) | (s[*i + k] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return -1;
	*i += more + 1;
	return 0;
}

/* 1 when s[0..n) is well-formed UTF-8. */
int
text_utf8_valid(const char *s, size_t n)
{
	size_t		i = 0;
	uint32_t	cp;

	while (i < n)
		if (text_utf8_next((const unsigned char *)s, n, &i, &cp) == -1)
			return 0;
	return 1;
}

/* 1 when s[0..n) is UTF-8 without C0, DEL or C1 control characters. */
int
text_line_valid(const char *s, size_t n)
{
	size_t		i = 0;
	uint32_t	cp;

	while (i < n) {
		if (text_utf8_next((const unsigned char *)s, n, &i,
		    &cp) == -1 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 0;
	}
	return 1;
}

/* strlen(s), cut to max bytes at a character boundary. */
size_t
text_utf8_cut(const char *s, size_t max)
{
	size_t	n = strlen(s);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* 1 when s[0..n) is 1..max of [A-Za-z0-9_.-] (and '/' when slash). */
int
text_code_valid(const char *s, size_t n, size_t max, int slash)
{
	size_t	i;

	if (n < 1 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '.' || s[i] == '-' || (slash && s[i] == '/')))
			return 0;
	return 1;
}

/* 1 when s[0..n) is printable ASCII without spaces. */
int
text_url_valid(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* Read fd to its end into buf (max + 1 bytes). 0, or -1 with errno. */
int
text_fd_read(int fd, char *buf, size_t max, size_t *len)
{
	ssize_t	n;
	size_t	off = 0;

	*len = 0;
	for (;;) {
		n = read(fd, buf + off, max + 1 - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > max) {
			errno = EFBIG;
			return -1;
		}
	}
	*len = off;
	return 0;
}
