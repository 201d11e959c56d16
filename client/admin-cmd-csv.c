/*
 * keygate-admin key import and key export: licenses to and from CSV files.
 *
 * The format (RFC 4180 quoting): UTF-8 text (a byte order mark at the start
 * is skipped), a header line naming the columns, then one license per
 * record; fields are separated by commas, and a field holding a comma, a
 * quote or a line break is enclosed in quotes with each quote doubled.
 * Records end with LF or CRLF; export writes LF. Blank lines are skipped.
 *
 * Columns (header names, any order, case ignored):
 *   product, edition, licensee, created, support_expiry, regno   required
 *   state, license_expiry, trial                                 optional
 *   serial, key                                                  ignored
 * key export writes all of them in that order (serial and key are the
 * license's in this keygated, for mailing keys to customers), so its
 * output imports as it is. Empty support_expiry: support counts from the
 * first check (activation-basis editions only). Empty regno: the store
 * assigns the product's next number. Empty state: active. Empty
 * license_expiry: the edition's rule. trial: yes or no (empty: no).
 *
 * key import reads and parses the whole file here (keygated cannot read
 * the vendor's files), reports every record it cannot parse, and sends the
 * others to keygated's key.import (daemon/admin_csv.c) in chunks below the
 * admin frame limit; keygated checks them all and imports all of them in
 * one transaction, or nothing. A bad line in the file makes the last
 * request a dry run, so that keygated still reports what is wrong with the
 * other lines: every bad line is printed as "FILE:LINE: what is wrong"
 * (LINE: the line its record starts on), and nothing is imported.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "admin-cmd.h"
#include "kglimits.h"
#include "text.h"

#include "../daemon/admin.h"
#include "../daemon/admin_ops.h"

#define CSV_FILE_MAX		(512UL << 20)	/* bytes of a file to import */
#define CSV_FIELD_MAX		(64 * 1024)	/* bytes of one field */
#define CSV_CHUNK_MAX		(ADMIN_FRAME_MAX - 16 * 1024)
#define CSV_PROGRESS_MIN	2000	/* rows that get a progress line */
#define CSV_FILE_NAME_MAX	96	/* the audit record's object */
#define CSV_TIMEOUT		60	/* seconds for one chunk */
#define CSV_EXPORT_TIMEOUT	3600	/* ... for key.list (it re-signs) */
#define CSV_ROWS_PER_SEC	2000	/* slowest checking rate allowed for */

enum csv_col {
	COL_PRODUCT,
	COL_EDITION,
	COL_LICENSEE,
	COL_CREATED,
	COL_SUPPORT_EXPIRY,
	COL_REGNO,		/* the last required column */
	COL_STATE,
	COL_LICENSE_EXPIRY,
	COL_TRIAL,
	COL_SERIAL,		/* ignored by import */
	COL_KEY,		/* ignored by import */
	COL__COUNT
};

static const char *const col_names[COL__COUNT] = {
	"product", "edition", "licensee", "created", "support_expiry",
	"regno", "state", "license_expiry", "trial", "serial", "key",
};

/* The JSON member of each column sent to keygated (NULL: not sent). */
static const char *const col_members[COL__COUNT] = {
	"product", "edition", "licensee", "created", "support_expiry",
	"regno", "state", "license_expiry", "trial", NULL, NULL,
};

/* A parser over the whole file in memory. */
struct csv {
	const char	*p, *end;
	unsigned long	 line;		/* of *p */
	char		*buf;		/* the field being read */
	size_t		 len, cap;
};

/* One record's fields (malloc'd strings). */
struct record {
	char	**f;
	size_t	 n, cap;
	bool	 quoted;		/* a field was quoted: not a blank line */
};

struct line_error {
	unsigned long	 line;
	size_t		 seq;		/* order of arrival, for a stable sort */
	char		*text;
};

struct import {
	const struct opts	*o;
	const char		*path;		/* as given, for messages */
	char			 name[CSV_FILE_NAME_MAX + 1];	/* for the audit */
	int			 col[COL__COUNT];	/* field index, or -1 */
	size_t			 ncols;
	json_t			*rows;		/* good rows, each an object */
	size_t			 nrows;		/* records after the header */
	struct line_error	*err;
	size_t			 nerr, errcap;
	char			 session[64];
	bool			 dry_run;
	bool			 progress;
};

static void
oom(void)
{
	usage_error("out of memory");
	exit(EXIT_USAGE);
}

/* ---- errors by line ---- */

static void
line_error(struct import *im, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
line_error(struct import *im, unsigned long line, const char *fmt, ...)
{
	struct line_error	*p;
	char			 text[640];
	va_list			 ap;
	size_t			 cap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (im->nerr == im->errcap) {
		cap = im->errcap == 0 ? 32 : im->errcap * 2;
		if ((p = reallocarray(im->err, cap, sizeof(*p))) == NULL)
			oom();
		im->err = p;
		im->errcap = cap;
	}
	if ((im->err[im->nerr].text = strdup(text)) == NULL)
		oom();
	im->err[im->nerr].line = line;
	im->err[im->nerr].seq = im->nerr;
	im->nerr++;
}

static int
line_error_cmp(const void *a, const void *b)
{
	const struct line_error	*x = a, *y = b;

	if (x->line != y->line)
		return (x->line > y->line) - (x->line < y->line);
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Lines with an error (each counted once). */
static size_t
line_errors_lines(struct import *im)
{
	size_t	i, n = 0;

	for (i = 0; i < im->nerr; i++)
		if (i == 0 || im->err[i].line != im->err[i - 1].line)
			n++;
	return n;
}

/* ---- the parser ---- */

static void
csv_putc(struct csv *c, char ch)
{
	char	*p;
	size_t	 cap;

	if (c->len + 2 > c->cap) {
		cap = c->cap == 0 ? 256 : c->cap * 2;
		if ((p = realloc(c->buf, cap)) == NULL)
			oom();
		c->buf = p;
		c->cap = cap;
	}
	c->buf[c->len++] = ch;
	c->buf[c->len] = '\0';
}

static void
record_clear(struct record *r)
{
	size_t	i;

	for (i = 0; i < r->n; i++)
		free(r->f[i]);
	r->n = 0;
	r->quoted = false;
}

static void
record_add(struct record *r, const char *s, size_t len)
{
	char	**p;
	size_t	  cap;

	if (r->n == r->cap) {
		cap = r->cap == 0 ? 16 : r->cap * 2;
		if ((p = reallocarray(r->f, cap, sizeof(*p))) == NULL)
			oom();
		r->f = p;
		r->cap = cap;
	}
	if ((r->f[r->n] = malloc(len + 1)) == NULL)
		oom();
	memcpy(r->f[r->n], s, len);
	r->f[r->n][len] = '\0';
	r->n++;
}

/* Skip the rest of the physical line after an error. */
static void
csv_skip_line(struct csv *c)
{
	while (c->p < c->end && *c->p != '\n')
		c->p++;
	if (c->p < c->end) {
		c->p++;
		c->line++;
	}
}

/* True at a CRLF or LF that ends a record. */
static bool
csv_at_eol(const struct csv *c)
{
	return c->p < c->end && (*c->p == '\n' ||
	    (*c->p == '\r' && (c->p + 1 == c->end || c->p[1] == '\n')));
}

/*
 * Read one record into r. 1: a record; 0: the end of the file; -1: a bad
 * record, with why in err (the parser is past it); -2: a bad record that
 * runs to the end of the file (an unclosed quote).
 */
static int
csv_record(struct csv *c, struct record *r, char *err, size_t errlen)
{
	size_t	nfield;

	record_clear(r);
	if (c->p >= c->end)
		return 0;
	for (nfield = 1;; nfield++) {
		/* An empty field still needs a buffer. */
		c->len = 0;
		csv_putc(c, '\0');
		c->len = 0;
		if (c->p < c->end && *c->p == '"') {
			r->quoted = true;
			for (c->p++;;) {
				if (c->p >= c->end) {
					snprintf(err, errlen, "field %zu: its "
					    "opening quote is never closed (a "
					    "quote inside a quoted field is "
					    "written twice: \"\")", nfield);
					return -2;
				}
				if (*c->p == '"') {
					if (c->p + 1 < c->end && c->p[1] == '"') {
						csv_putc(c, '"');
						c->p += 2;
						continue;
					}
					c->p++;
					break;
				}
				if (*c->p == '\n')
					c->line++;
				if (*c->p == '\0')
					goto nul;
				csv_putc(c, *c->p++);
				if (c->len > CSV_FIELD_MAX)
					goto toolong;
			}
			if (c->p < c->end && *c->p != ',' && !csv_at_eol(c)) {
				snprintf(err, errlen, "field %zu: text after "
				    "its closing quote (a quote inside a quoted "
				    "field is written twice: \"\")", nfield);
				csv_skip_line(c);
				return -1;
			}
		} else {
			while (c->p < c->end && *c->p != ',' && !csv_at_eol(c)) {
				if (*c->p == '"') {
					snprintf(err, errlen, "field %zu: a "
					    "quote inside a field that does not "
					    "start with one: enclose the field in "
					    "quotes and write the quote twice",
					    nfield);
					csv_skip_line(c);
					return -1;
				}
				if (*c->p == '\0')
					goto nul;
				csv_putc(c, *c->p++);
				if (c->len > CSV_FIELD_MAX)
					goto toolong;
			}
		}
		record_add(r, c->buf, c->len);
		if (c->p >= c->end)
			return 1;
		if (*c->p == ',') {
			c->p++;
			continue;
		}
		if (*c->p == '\r')
			c->p++;
		c->p++;		/* the '\n' */
		c->line++;
		return 1;
	}
nul:
	snprintf(err, errlen, "field %zu: a NUL byte: is this a text file?",
	    nfield);
	csv_skip_line(c);
	return -1;
toolong:
	snprintf(err, errlen, "field %zu is longer than %d bytes", nfield,
	    CSV_FIELD_MAX);
	csv_skip_line(c);
	return -1;
}

static bool
record_blank(const struct record *r)
{
	return r->n == 1 && r->f[0][0] == '\0' && !r->quoted;
}

/* ---- import ---- */

/* The header: which field holds which column. 0, or -1 (errors recorded). */
static int
import_header(struct import *im, const struct record *r, unsigned long line)
{
	char	name[64];
	size_t	i, k, n;
	int	bad = 0;

	for (k = 0; k < COL__COUNT; k++)
		im->col[k] = -1;
	im->ncols = r->n;
	for (i = 0; i < r->n; i++) {
		/* Blanks around a name and its case do not matter. */
		const char	*s = r->f[i];

		while (*s == ' ' || *s == '\t')
			s++;
		snprintf(name, sizeof(name), "%s", s);
		n = strlen(name);
		while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
			name[--n] = '\0';
		for (k = 0; k < COL__COUNT; k++)
			if (strcasecmp(name, col_names[k]) == 0)
				break;
		if (k == COL__COUNT) {
			line_error(im, line, "unknown column \"%.40s\" in the "
			    "header: the columns are product, edition, "
			    "licensee, created, support_expiry, regno, and "
			    "optionally state, license_expiry, trial (serial "
			    "and key are ignored)", name);
			bad = -1;
		} else if (im->col[k] != -1) {
			line_error(im, line, "the column %s is in the header "
			    "twice", col_names[k]);
			bad = -1;
		} else
			im->col[k] = (int)i;
	}
	for (k = 0; k <= COL_REGNO; k++)
		if (im->col[k] == -1) {
			line_error(im, line, "the header has no column %s (the "
			    "first line must name the columns: product, "
			    "edition, licensee, created, support_expiry, "
			    "regno)", col_names[k]);
			bad = -1;
		}
	return bad;
}

/* A record as a row object; NULL with the error recorded. */
static json_t *
import_row(struct import *im, const struct record *r, unsigned long line)
{
	json_t		*row, *v;
	const char	*s;
	size_t		 k;

	if (r->n != im->ncols) {
		line_error(im, line, "%zu field%s, but the header has %zu (a "
		    "value with a comma needs quotes)", r->n,
		    r->n == 1 ? "" : "s", im->ncols);
		return NULL;
	}
	if ((row = json_object()) == NULL ||
	    json_object_set_new(row, "line", json_integer(
	    (json_int_t)line)) == -1)
		oom();
	for (k = 0; k < COL__COUNT; k++) {
		if (im->col[k] == -1 || col_members[k] == NULL)
			continue;
		s = r->f[im->col[k]];
		if (k == COL_TRIAL) {
			if (s[0] == '\0' || strcasecmp(s, "no") == 0)
				v = json_false();
			else if (strcasecmp(s, "yes") == 0)
				v = json_true();
			else {
				line_error(im, line, "trial \"%.20s\": expected "
				    "yes or no", s);
				json_decref(row);
				return NULL;
			}
		} else if ((v = json_string(s)) == NULL) {
			/* jansson refuses text that is not UTF-8. */
			line_error(im, line, "%s is not UTF-8 text (save the "
			    "file as UTF-8)", col_names[k]);
			json_decref(row);
			return NULL;
		}
		if (json_object_set_new(row, col_members[k], v) == -1)
			oom();
	}
	return row;
}

/* Read the file (or standard input for "-") into memory. */
static char *
import_read(const char *path, size_t *len)
{
	FILE		*f;
	char		*buf = NULL, *p;
	size_t		 cap = 0, n = 0, got;

	if (strcmp(path, "-") == 0)
		f = stdin;
	else if ((f = fopen(path, "rb")) == NULL) {
		usage_error("key import: cannot read %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - n < 65536) {
			cap = cap == 0 ? 1 << 20 : cap * 2;
			if (cap > CSV_FILE_MAX + 65536)
				cap = CSV_FILE_MAX + 65536;
			if ((p = realloc(buf, cap)) == NULL)
				oom();
			buf = p;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n > CSV_FILE_MAX) {
			usage_error("key import: %s is larger than %lu MiB: "
			    "split it", path, CSV_FILE_MAX >> 20);
			goto fail;
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		usage_error("key import: cannot read %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
fail:
	if (f != stdin)
		fclose(f);
	free(buf);
	return NULL;
}

/*
 * Parse buf into im->rows and the errors. 0, or -1 when the file cannot be
 * imported at all (no header; errors recorded).
 */
static int
import_parse(struct import *im, const char *buf, size_t len)
{
	struct csv	 c;
	struct record	 r;
	json_t		*row;
	char		 err[256];
	unsigned long	 line;
	int		 rc, have_header = 0;

	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	c.p = buf;
	c.end = buf + len;
	c.line = 1;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		c.p += 3;
	if ((im->rows = json_array()) == NULL)
		oom();
	for (;;) {
		line = c.line;
		rc = csv_record(&c, &r, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc == 1 && record_blank(&r))
			continue;
		if (!have_header) {
			if (rc < 0) {
				line_error(im, line, "the header: %s", err);
				rc = -1;
				goto done;
			}
			if (import_header(im, &r, line) == -1) {
				rc = -1;
				goto done;
			}
			have_header = 1;
			continue;
		}
		im->nrows++;
		if (rc < 0) {
			line_error(im, line, "%s", err);
			if (rc == -2)
				break;
			continue;
		}
		if ((row = import_row(im, &r, line)) != NULL &&
		    json_array_append_new(im->rows, row) == -1)
			oom();
	}
	if (!have_header) {
		line_error(im, 1, "the file is empty: the first line must name "
		    "the columns");
		rc = -1;
		goto done;
	}
	rc = 0;
done:
	record_clear(&r);
	free(r.f);
	free(c.buf);
	return rc;
}

/* The file's last name, cut to CSV_FILE_NAME_MAX bytes of whole characters. */
static void
import_name(struct import *im)
{
	const char	*base = strrchr(im->path, '/');
	size_t		 n, i;

	base = base != NULL ? base + 1 : im->path;
	if (strcmp(im->path, "-") == 0 || base[0] == '\0')
		base = "stdin";
	n = text_utf8_cut(base, CSV_FILE_NAME_MAX);
	memcpy(im->name, base, n);
	im->name[n] = '\0';
	for (i = 0; i < n; i++)
		if ((unsigned char)im->name[i] < 0x20 || im->name[i] == 0x7f)
			im->name[i] = '?';
}

static void
import_progress(struct import *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
import_progress(struct import *im, const char *fmt, ...)
{
	va_list	ap;

	if (!im->progress)
		return;
	fprintf(stderr, "\r\033[Kkeygate-admin: %s: ", im->path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static void
import_progress_end(struct import *im)
{
	if (im->progress)
		fprintf(stderr, "\r\033[K");
}

/*
 * Send rows[from..to) to keygated's key.import. 0 with *reply set, or an
 * exit code (message printed).
 */
static int
import_send(struct import *im, size_t from, size_t to, bool final,
    json_t **reply)
{
	json_t		*req, *rows;
	size_t		 i;
	unsigned	 timeout;
	int		 rc;

	if ((req = json_object()) == NULL || (rows = json_array()) == NULL)
		oom();
	for (i = from; i < to; i++)
		if (json_array_append(rows, json_array_get(im->rows, i)) == -1)
			oom();
	if (json_object_set_new(req, "op", json_string("key.import")) == -1 ||
	    json_object_set_new(req, "rows", rows) == -1)
		oom();
	if (im->session[0] != '\0') {
		if (json_object_set_new(req, "session",
		    json_string(im->session)) == -1)
			oom();
	} else if (im->name[0] != '\0' && json_object_set_new(req, "file",
	    json_string(im->name)) == -1)
		oom();
	if (final && (json_object_set_new(req, "final", json_true()) == -1 ||
	    (im->dry_run && json_object_set_new(req, "dry_run",
	    json_true()) == -1)))
		oom();
	timeout = im->o->timeout;
	if (timeout == 0)
		timeout = CSV_TIMEOUT + (final ? (unsigned)(json_array_size(
		    im->rows) / CSV_ROWS_PER_SEC) : 0);
	rc = admin_call(im->o, req, timeout, reply);
	json_decref(req);
	return rc;
}

/*
 * Send every good row, in chunks below the frame limit; the last request is
 * final. 0 with *reply set to the final reply (or NULL when there were no
 * good rows), or an exit code.
 */
static int
import_send_all(struct import *im, json_t **reply)
{
	json_t		*r = NULL;
	const char	*id;
	size_t		 total = json_array_size(im->rows), from = 0, to;
	size_t		 size, rowlen;
	char		*s;
	int		 rc;

	*reply = NULL;
	if (total == 0)
		return 0;
	while (from < total) {
		/* As many rows as fit one frame. */
		for (to = from, size = 0; to < total; to++) {
			if ((s = json_dumps(json_array_get(im->rows, to),
			    JSON_COMPACT)) == NULL)
				oom();
			rowlen = strlen(s) + 1;
			free(s);
			if (to > from && size + rowlen > CSV_CHUNK_MAX)
				break;
			size += rowlen;
		}
		import_progress(im, to < total ? "sending rows: %zu of %zu" :
		    "checking %zu of %zu rows%s", to, total, to < total ? "" :
		    im->dry_run ? " (dry run)" : " and importing them");
		if ((rc = import_send(im, from, to, to == total, &r)) != 0)
			return rc;
		if (to == total)
			break;
		if (!json_is_true(json_object_get(r, "ok"))) {
			*reply = r;
			return 0;
		}
		id = json_string_value(json_object_get(json_object_get(r,
		    "result"), "session"));
		if (id == NULL || strlen(id) >= sizeof(im->session)) {
			json_decref(r);
			usage_error("key import: keygated did not open an import "
			    "session: see keygated's log");
			return EXIT_UNREACHABLE;
		}
		snprintf(im->session, sizeof(im->session), "%s", id);
		json_decref(r);
		r = NULL;
		from = to;
	}
	*reply = r;
	return 0;
}

/* Print every bad line and the summary; exit code EXIT_REFUSED. */
static int
import_report(struct import *im)
{
	json_t	*errs, *v;
	size_t	 i, nlines;
	char	 summary[256];

	qsort(im->err, im->nerr, sizeof(*im->err), line_error_cmp);
	nlines = line_errors_lines(im);
	for (i = 0; i < im->nerr; i++)
		fprintf(stderr, "%s:%lu: %s\n", im->path, im->err[i].line,
		    im->err[i].text);
	if (im->nrows > 0)
		snprintf(summary, sizeof(summary), "%s: %zu of %zu rows %s "
		    "bad: nothing was imported", im->path, nlines, im->nrows,
		    nlines == 1 ? "is" : "are");
	else
		snprintf(summary, sizeof(summary), "%s: nothing was imported",
		    im->path);
	usage_error("%s", summary);
	if (im->o->json) {
		if ((errs = json_array()) == NULL)
			oom();
		for (i = 0; i < im->nerr; i++)
			if (json_array_append_new(errs, json_pack("{s:I,s:s}",
			    "line", (json_int_t)im->err[i].line, "error",
			    im->err[i].text)) == -1)
				oom();
		v = json_pack("{s:b,s:s,s:s,s:I,s:I,s:o}", "ok", 0, "reason",
		    "bad_request", "error", summary, "rows",
		    (json_int_t)im->nrows, "bad", (json_int_t)nlines, "errors",
		    errs);
		if (v != NULL)
			print_json_line(v);
		json_decref(v);
	}
	return EXIT_REFUSED;
}

static void
import_free(struct import *im)
{
	size_t	i;

	for (i = 0; i < im->nerr; i++)
		free(im->err[i].text);
	free(im->err);
	json_decref(im->rows);
}

/* key import FILE.csv [--dry-run] */
static int
csv_import_run(const struct opts *o, int argc, char **argv)
{
	static const struct option	lo[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct import	 im;
	json_t		*reply = NULL, *result, *errs, *e;
	char		*buf;
	size_t		 len, i;
	int		 ch, rc;

	memset(&im, 0, sizeof(im));
	im.o = o;
	while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (ch == 'n') {
			im.dry_run = true;
			continue;
		}
		usage_error("key import: %s '%s' (see 'keygate-admin --help')",
		    ch == ':' ? "option needs a value:" : "unknown option",
		    argv[optind - 1]);
		return EXIT_USAGE;
	}
	if (argc - optind != 1) {
		usage_error("key import: expected one FILE.csv (see "
		    "'keygate-admin --help')");
		return EXIT_USAGE;
	}
	im.path = argv[optind];
	if ((buf = import_read(im.path, &len)) == NULL)
		return EXIT_USAGE;
	import_name(&im);
	rc = import_parse(&im, buf, len);
	free(buf);
	if (rc == -1) {
		rc = import_report(&im);
		goto done;
	}
	if (im.nrows == 0) {
		usage_error("key import: %s has no rows after the header: "
		    "nothing to import", im.path);
		rc = EXIT_REFUSED;
		goto done;
	}
	if (im.nrows > ADMIN_IMPORT_ROWS_MAX) {
		usage_error("key import: %s has %zu rows, more than %d: split "
		    "it (each part is imported whole or not at all)", im.path,
		    im.nrows, ADMIN_IMPORT_ROWS_MAX);
		rc = EXIT_REFUSED;
		goto done;
	}
	im.progress = isatty(STDERR_FILENO) && im.nrows >= CSV_PROGRESS_MIN;
	/* With bad lines here, keygated only checks the others. */
	if (im.nerr > 0)
		im.dry_run = true;
	rc = import_send_all(&im, &reply);
	import_progress_end(&im);
	if (rc != 0) {
		if (im.nerr > 0)
			import_report(&im);
		goto done;
	}
	if (reply != NULL && !json_is_true(json_object_get(reply, "ok"))) {
		errs = json_object_get(reply, "errors");
		if (!json_is_array(errs)) {
			/* Not about lines: keygated's one-line error. */
			usage_error("key import: %s", str_of(reply, "error",
			    "keygated refused the import without saying why"));
			if (im.nerr > 0)
				import_report(&im);
			else if (o->json)
				print_json_line(reply);
			rc = EXIT_REFUSED;
			goto done;
		}
		json_array_foreach(errs, i, e)
			line_error(&im, (unsigned long)int_of(e, "line"), "%s",
			    str_of(e, "error", "bad"));
	}
	if (im.nerr > 0) {
		rc = import_report(&im);
		goto done;
	}
	result = json_object_get(reply, "result");
	if (o->json)
		print_json_line(result);
	else if (im.dry_run)
		printf("%s: %lld rows are good; nothing was imported "
		    "(--dry-run)\n", im.path, int_of(result, "rows"));
	else
		printf("imported %lld licenses from %s (%s .. %s); see them "
		    "with 'keygate-admin key export'\n",
		    int_of(result, "imported"), im.path,
		    str_of(result, "first_regno", "?"),
		    str_of(result, "last_regno", "?"));
	rc = 0;
	if (fflush(stdout) == EOF || ferror(stdout)) {
		usage_error("cannot write the output: %s", strerror(errno));
		rc = EXIT_USAGE;
	}
done:
	json_decref(reply);
	import_free(&im);
	return rc;
}

/* ---- export ---- */

/* One field, quoted when it holds a comma, a quote, a line break or edge blanks. */
static void
csv_put_field(FILE *f, const char *s, bool last)
{
	size_t	n = strlen(s);

	if (strpbrk(s, ",\"\r\n") != NULL ||
	    (n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' ||
	    s[n - 1] == '\t'))) {
		fputc('"', f);
		for (; *s != '\0'; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else
		fputs(s, f);
	fputc(last ? '\n' : ',', f);
}

static void
csv_put_license(FILE *f, json_t *k)
{
	char	serial[24];

	snprintf(serial, sizeof(serial), "%lld", int_of(k, "serial"));
	csv_put_field(f, str_of(k, "product", ""), false);
	csv_put_field(f, str_of(k, "edition", ""), false);
	csv_put_field(f, str_of(k, "licensee", ""), false);
	csv_put_field(f, str_of(k, "created", ""), false);
	csv_put_field(f, str_of(k, "support_expiry", ""), false);
	csv_put_field(f, str_of(k, "regno", ""), false);
	csv_put_field(f, str_of(k, "state", ""), false);
	csv_put_field(f, str_of(k, "license_expiry", ""), false);
	csv_put_field(f, json_is_true(json_object_get(k, "trial")) ? "yes" :
	    "no", false);
	csv_put_field(f, serial, false);
	csv_put_field(f, str_of(k, "key", ""), true);
}

/* key export [--product P] [FILE|-] */
static int
csv_export_run(const struct opts *o, int argc, char **argv)
{
	static const struct option	lo[] = {
		{ "product", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*product = NULL, *path = "-";
	json_t		*req, *reply = NULL, *list, *k;
	FILE		*f = stdout;
	char		 tmp[PATH_MAX];
	size_t		 i, k_col;
	int		 ch, fd = -1, rc;

	while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (ch == 'p') {
			product = optarg;
			continue;
		}
		usage_error("key export: %s '%s' (see 'keygate-admin --help')",
		    ch == ':' ? "option needs a value:" : "unknown option",
		    argv[optind - 1]);
		return EXIT_USAGE;
	}
	if (argc - optind > 1) {
		usage_error("key export: unexpected argument '%s' (see "
		    "'keygate-admin --help')", argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (argc - optind == 1)
		path = argv[optind];
	if (product != NULL && !text_code_valid(product, strlen(product), KG_CODE_MAX, 0)) {
		usage_error("key export: --product '%s': expected 1 to %d "
		    "letters, digits, '_', '.' or '-'", product, KG_CODE_MAX);
		return EXIT_USAGE;
	}
	if (strcmp(path, "-") != 0 && snprintf(tmp, sizeof(tmp),
	    "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		usage_error("key export: the file name is too long");
		return EXIT_USAGE;
	}
	if ((req = json_pack("{s:s}", "op", "key.list")) == NULL ||
	    (product != NULL && json_object_set_new(req, "product",
	    json_string(product)) == -1))
		oom();
	rc = admin_call(o, req, o->timeout != 0 ? o->timeout :
	    CSV_EXPORT_TIMEOUT, &reply);
	json_decref(req);
	if (rc != 0)
		return rc;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		usage_error("key export: %s", str_of(reply, "error",
		    "keygated refused the request without saying why"));
		if (o->json)
			print_json_line(reply);
		json_decref(reply);
		return EXIT_REFUSED;
	}
	list = json_object_get(reply, "results");
	if (strcmp(path, "-") != 0) {
		/* Keys inside: mode 0600, and a whole file or none. */
		if ((fd = mkstemp(tmp)) == -1 || (f = fdopen(fd, "w")) == NULL) {
			usage_error("key export: cannot create %s: %s", tmp,
			    strerror(errno));
			if (fd != -1) {
				close(fd);
				unlink(tmp);
			}
			json_decref(reply);
			return EXIT_USAGE;
		}
	}
	for (k_col = 0; k_col < COL__COUNT; k_col++)
		fprintf(f, "%s%c", col_names[k_col],
		    k_col + 1 == COL__COUNT ? '\n' : ',');
	json_array_foreach(list, i, k)
		csv_put_license(f, k);
	rc = 0;
	if (fflush(f) == EOF || ferror(f) || (fd != -1 && fsync(fd) == -1)) {
		usage_error("key export: cannot write %s: %s",
		    fd != -1 ? tmp : "the output", strerror(errno));
		rc = EXIT_USAGE;
	}
	if (fd != -1) {
		if (fclose(f) == EOF && rc == 0) {
			usage_error("key export: cannot write %s: %s", tmp,
			    strerror(errno));
			rc = EXIT_USAGE;
		}
		if (rc == 0 && rename(tmp, path) == -1) {
			usage_error("key export: cannot rename %s to %s: %s",
			    tmp, path, strerror(errno));
			rc = EXIT_USAGE;
		}
		if (rc != 0)
			unlink(tmp);
		else if (o->json) {
			json_t	*v = json_pack("{s:I,s:s}", "exported",
			    (json_int_t)json_array_size(list), "path", path);

			if (v != NULL)
				print_json_line(v);
			json_decref(v);
		} else
			fprintf(stderr, "exported %zu licenses to %s\n",
			    json_array_size(list), path);
	}
	json_decref(reply);
	return rc;
}

/* The runner of a command that is more than one request, by its op name. */
csv_run_fn
csv_command_find(const char *op)
{
	if (strcmp(op, "key.import") == 0)
		return csv_import_run;
	if (strcmp(op, "key.export") == 0)
		return csv_export_run;
	return NULL;
}
