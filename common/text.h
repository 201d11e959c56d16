/*
 * Checks of untrusted text that daemon and clients share: well-formed UTF-8,
 * one-line text without control characters, codes and URLs; and reading a
 * small file whole.
 */
#ifndef KG_TEXT_H
#define KG_TEXT_H

#include <stddef.h>

/* 1 when s[0..n) is well-formed UTF-8 (no overlong, surrogate, > U+10FFFF). */
int	text_utf8_valid(const char *s, size_t n);

/*
 * 1 when s[0..n) is well-formed UTF-8 without control characters (C0, DEL
 * and C1).
 */
int	text_line_valid(const char *s, size_t n);

/*
 * The length of s (NUL-terminated) cut to at most max bytes without
 * splitting a UTF-8 character.
 */
size_t	text_utf8_cut(const char *s, size_t max);

/* 1 when s[0..n) is 1..max of [A-Za-z0-9_.-] (and '/' when slash). */
int	text_code_valid(const char *s, size_t n, size_t max, int slash);

/* 1 when s[0..n) is printable ASCII without spaces (a URL). */
int	text_url_valid(const char *s, size_t n);

/*
 * Read an open file to its end into buf (max + 1 bytes), *len its length;
 * buf is not NUL-terminated. 0, or -1 with errno (EFBIG when the file is
 * longer than max bytes).
 */
int	text_fd_read(int fd, char *buf, size_t max, size_t *len);

#endif
