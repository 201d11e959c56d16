/*
 * The admin socket's key.import: licenses moved in from a vendor's
 * customer list. keygate-admin reads and parses the CSV file (keygated
 * cannot read the vendor's files) and sends its rows here, in chunks below
 * the admin frame limit, into an import session; the last request says
 * "final" and the whole session is checked and then written in one store
 * transaction with one audit record, or not at all.
 *
 *   {"op":"key.import","file":NAME,"rows":[ROW...]}
 *	-> {"session":ID,"rows":N}		(N: rows received so far)
 *   {"op":"key.import","session":ID,"rows":[ROW...]}
 *	-> {"session":ID,"rows":N}
 *   {"op":"key.import","session":ID,"rows":[ROW...],"final":true
 *    [,"dry_run":true]}
 *	-> {"imported":N,"dry_run":false,"first_serial":...,"last_serial":...,
 *	    "first_regno":...,"last_regno":...}
 *	or {"ok":false,"reason":"bad_request","error":...,"rows":N,"bad":K,
 *	    "errors":[{"line":L,"error":TEXT},...]}	(sorted by line)
 *   A small file is one request with "final" and no session.
 *   ROW: {"line":L, "product":P, "edition":E, "licensee":NAME,
 *	"created":DATE, "support_expiry":DATE|"", "regno":R|"",
 *	"state":"active"|"revoked"|"suspended"|"", "license_expiry":DATE|"",
 *	"trial":true|false}; L is the row's first line in the file.
 *
 * Decisions made here:
 * - Nothing half-imported: every row is checked before anything is written
 *   (each bad row gets its own error naming its line; all of them are
 *   reported), then all rows go into the store in one transaction
 *   (license_import). So a file is limited to ADMIN_IMPORT_ROWS_MAX rows;
 *   a larger one is refused whole: split it, each part is all or nothing.
 *   The transaction (about a second per 100,000 rows) runs in a thread of
 *   its own (admin_bg), so update checks are answered meanwhile; the
 *   checks of the rows run in steps of ADMIN_STEP_MSEC.
 * - A row is checked as key.issue checks its arguments (codes, UTF-8
 *   licensee without control characters: a key cannot carry a line break,
 *   strict dates), and: the product and edition exist, support_expiry is
 *   not before created, and is given unless the edition counts support from
 *   activation (then it may stay empty until the first check) or the key is
 *   a trial; a license_expiry is not before created; a given registration
 *   number is of [A-Za-z0-9._/-], unique in the file and not in the store
 *   (an empty one gets the product's next number).
 * - The license gets the edition's support term, and, without a
 *   license_expiry in the row, the edition's rule: on-expiry demo editions
 *   and trial keys expire with support, others never. Revoked and
 *   suspended rows are stored so with the reason "imported". Imported
 *   licenses are revision 1 of a new serial, signed on demand with the
 *   active key (key show, key list, key export).
 * - Sessions: at most IMPORT_SESSIONS_MAX at once, each continued only by
 *   the admin user that started it, dropped after IMPORT_IDLE_SECONDS
 *   without a request, and when keygated stops.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "admin_ops_int.h"
#include "daemon.h"
#include "log.h"
#include "policy.h"
#include "signer.h"
#include "store.h"
#include "text.h"

#define IMPORT_SESSIONS_MAX	2
#define IMPORT_IDLE_SECONDS	600
#define IMPORT_ID_BYTES		16
#define IMPORT_ROW_ERROR_MAX	512
#define IMPORT_STATE_REASON	"imported"

/* Row flags. */
#define IMPORT_LEXP_GIVEN	0x01	/* license_expiry given in the row */

struct import_error {
	uint32_t	 line;
	char		*text;
};

struct import_session {
	char			 id[IMPORT_ID_BYTES * 2 + 1];
	char			 actor[STORE_ACTOR_MAX + 1];
	char			 file[STORE_OBJECT_MAX + 1];
	int64_t			 touched;	/* admin_clock_msec */
	bool			 dry_run;
	/* rows that passed the format checks, in file order */
	struct store_license	*lic;
	uint32_t		*line;
	uint8_t			*flags;
	size_t			 n, cap;
	size_t			 nrows;		/* rows received, bad ones too */
	struct import_error	*err;
	size_t			 nerr, errcap;
	size_t			 next;		/* the checks' cursor */
	/* the last edition looked up */
	char			 ed_product[KG_CODE_MAX + 1];
	char			 ed_code[KG_CODE_MAX + 1];
	int			 ed_rc;
	struct store_edition	 ed;
	/* the transaction, in a thread of its own (admin_bg) */
	struct admin_bg		 bg;
	struct store		*st;
	struct store_audit	 audit;
	size_t			 bad;		/* license_import's */
};

static struct import_session	*sessions[IMPORT_SESSIONS_MAX];

/* What session_free leaves until the transaction has ended. */
static void
session_free_rest(void *arg)
{
	struct import_session	*s = arg;
	size_t			 i;

	admin_bg_fini(&s->bg);
	for (i = 0; i < s->nerr; i++)
		free(s->err[i].text);
	free(s->err);
	free(s->lic);
	free(s->line);
	free(s->flags);
	free(s);
}

/* Free s; a transaction runs to its end first, in its own thread. */
static void
session_free(void *arg)
{
	struct import_session	*s = arg;

	if (s != NULL)
		admin_bg_orphan(&s->bg, session_free_rest, s);
}

/* Free the key.import sessions still open; at shutdown. */
void
admin_csv_sessions_free(void)
{
	size_t	i;

	for (i = 0; i < IMPORT_SESSIONS_MAX; i++) {
		session_free(sessions[i]);
		sessions[i] = NULL;
	}
}

/* Drop the sessions idle too long. */
static void
sessions_expire(void)
{
	int64_t	now = admin_clock_msec();
	size_t	i;

	for (i = 0; i < IMPORT_SESSIONS_MAX; i++)
		if (sessions[i] != NULL &&
		    now - sessions[i]->touched > IMPORT_IDLE_SECONDS * 1000) {
			log_info("admin: key.import session of %s (%s) idle for "
			    "%d s: dropped", sessions[i]->actor,
			    sessions[i]->file, IMPORT_IDLE_SECONDS);
			session_free(sessions[i]);
			sessions[i] = NULL;
		}
}

/* The open session id, or NULL; *slot gets its index. */
static struct import_session *
session_find(const char *id, size_t *slot)
{
	size_t	i;

	for (i = 0; i < IMPORT_SESSIONS_MAX; i++)
		if (sessions[i] != NULL && strcmp(sessions[i]->id, id) == 0) {
			*slot = i;
			return sessions[i];
		}
	return NULL;
}

/* Record an error of the row on line (printf text). -1 when out of memory. */
static int
session_error(struct import_session *s, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
session_error(struct import_session *s, uint32_t line, const char *fmt, ...)
{
	struct import_error	*p;
	char			 text[IMPORT_ROW_ERROR_MAX];
	size_t			 cap;
	va_list			 ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (s->nerr == s->errcap) {
		cap = s->errcap == 0 ? 64 : s->errcap * 2;
		if ((p = reallocarray(s->err, cap, sizeof(*p))) == NULL)
			return -1;
		s->err = p;
		s->errcap = cap;
	}
	if ((s->err[s->nerr].text = strdup(text)) == NULL)
		return -1;
	s->err[s->nerr++].line = line;
	return 0;
}

/* Room for one more row. -1 when out of memory. */
static int
session_grow(struct import_session *s)
{
	struct store_license	*lic;
	uint32_t		*line;
	uint8_t			*flags;
	size_t			 cap;

	if (s->n < s->cap)
		return 0;
	cap = s->cap == 0 ? 1024 : s->cap * 2;
	if ((lic = reallocarray(s->lic, cap, sizeof(*lic))) == NULL)
		return -1;
	s->lic = lic;
	if ((line = reallocarray(s->line, cap, sizeof(*line))) == NULL)
		return -1;
	s->line = line;
	if ((flags = reallocarray(s->flags, cap, sizeof(*flags))) == NULL)
		return -1;
	s->flags = flags;
	s->cap = cap;
	return 0;
}

/* ---- one row's format ---- */

/* What a row says, collected while its members are checked. */
struct row_check {
	char	text[IMPORT_ROW_ERROR_MAX];	/* "; "-separated problems */
};

static void
row_problem(struct row_check *rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
row_problem(struct row_check *rc, const char *fmt, ...)
{
	size_t	len = strlen(rc->text);
	va_list	ap;

	if (len > 0 && len + 2 < sizeof(rc->text)) {
		memcpy(rc->text + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(rc->text + len, sizeof(rc->text) - len, fmt, ap);
	va_end(ap);
}

/* A value for a message: printable ASCII, '?' for the rest, 32 at most. */
static void
row_value_safe(const char *v, char out[40])
{
	size_t	i, n = strlen(v);

	for (i = 0; i < n && i < 32; i++)
		out[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
	if (n > 32)
		memcpy(out + i, "...", 4);
	else
		out[i] = '\0';
}

/* A member's string (NULL when absent or null; "" for a non-string). */
static const char *
row_str(json_t *row, const char *name, bool *bad)
{
	json_t	*v = json_object_get(row, name);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		*bad = true;
		return NULL;
	}
	return json_string_value(v);
}

static void
row_code(struct row_check *rc, const char *name, const char *v, char *out)
{
	char	safe[40];

	if (v == NULL || v[0] == '\0') {
		row_problem(rc, "%s is empty", name);
		return;
	}
	if (!text_code_valid(v, strlen(v), KG_CODE_MAX, 0)) {
		row_value_safe(v, safe);
		row_problem(rc, "%s \"%s\": expected 1 to %d letters, digits, "
		    "'_', '.' or '-'", name, safe, KG_CODE_MAX);
		return;
	}
	memcpy(out, v, strlen(v) + 1);
}

/* A date member: KG_DATE_NONE when empty and allowed. */
static kg_date
row_date(struct row_check *rc, const char *name, const char *v, bool required)
{
	kg_date	d;
	char	safe[40];

	if (v == NULL || v[0] == '\0') {
		if (required)
			row_problem(rc, "%s is empty: expected a date "
			    "YYYY-MM-DD", name);
		return KG_DATE_NONE;
	}
	if (date_parse(v, &d) == -1 || d == KG_DATE_NONE) {
		row_value_safe(v, safe);
		row_problem(rc, "%s \"%s\": expected a date YYYY-MM-DD from "
		    "1970-01-02 to 9999-12-31", name, safe);
		return KG_DATE_NONE;
	}
	return d;
}

static const char *const row_members[] = {
	"line", "product", "edition", "licensee", "created", "support_expiry",
	"regno", "state", "license_expiry", "trial",
};

/*
 * Check one row's format and keep it when good: 0, or -1 with a reply set
 * (a malformed request, or out of memory). A bad row is an error of the
 * session, not of the request.
 */
static int
row_add(struct admin_op *op, struct import_session *s, json_t *row, size_t i)
{
	struct store_license	*sl;
	struct row_check	 rc;
	const char		*key, *v, *lx;
	json_t			*m;
	json_int_t		 line;
	char			 sx[KG_DATE_TEXT_LEN], cx[KG_DATE_TEXT_LEN];
	size_t			 k, n;
	bool			 bad = false, known;

	if (!json_is_object(row) ||
	    !json_is_integer(m = json_object_get(row, "line")) ||
	    (line = json_integer_value(m)) < 1 || line > UINT32_MAX) {
		admin_reply_error(op, "bad_request", "%s: rows[%zu]: expected "
		    "an object with a line number", op->entry->name, i);
		return -1;
	}
	json_object_foreach(row, key, m) {
		for (k = 0, known = false; k < sizeof(row_members) /
		    sizeof(row_members[0]) && !known; k++)
			known = strcmp(key, row_members[k]) == 0;
		if (!known) {
			admin_reply_error(op, "bad_request", "%s: rows[%zu]: "
			    "unknown member \"%.32s\"", op->entry->name, i, key);
			return -1;
		}
	}
	s->nrows++;
	if (session_grow(s) == -1)
		goto nomem;
	sl = &s->lic[s->n];
	memset(sl, 0, sizeof(*sl));
	memset(&rc, 0, sizeof(rc));
	s->flags[s->n] = 0;

	row_code(&rc, "product", row_str(row, "product", &bad),
	    sl->lic.product);
	row_code(&rc, "edition", row_str(row, "edition", &bad),
	    sl->lic.edition);
	v = row_str(row, "licensee", &bad);
	if (v == NULL || v[0] == '\0')
		row_problem(&rc, "licensee is empty");
	else if ((n = strlen(v)) > KG_LICENSEE_MAX)
		row_problem(&rc, "licensee is %zu bytes long: at most %d", n,
		    KG_LICENSEE_MAX);
	else if (strpbrk(v, "\r\n") != NULL)
		row_problem(&rc, "licensee contains a line break, which a key "
		    "cannot carry: put the name on one line");
	else if (!text_line_valid(v, n))
		row_problem(&rc, "licensee contains a control character or is "
		    "not UTF-8 text");
	else
		memcpy(sl->lic.licensee, v, n + 1);
	sl->lic.created = row_date(&rc, "created", row_str(row, "created",
	    &bad), true);
	sl->lic.support_expiry = row_date(&rc, "support_expiry",
	    row_str(row, "support_expiry", &bad), false);
	if (sl->lic.created != KG_DATE_NONE &&
	    sl->lic.support_expiry != KG_DATE_NONE &&
	    sl->lic.support_expiry < sl->lic.created) {
		date_format(sl->lic.support_expiry, sx);
		date_format(sl->lic.created, cx);
		row_problem(&rc, "support_expiry %s is before created %s", sx,
		    cx);
	}
	lx = row_str(row, "license_expiry", &bad);
	if (lx != NULL && lx[0] != '\0') {
		s->flags[s->n] |= IMPORT_LEXP_GIVEN;
		sl->lic.license_expiry = row_date(&rc, "license_expiry", lx,
		    false);
		if (sl->lic.created != KG_DATE_NONE &&
		    sl->lic.license_expiry != KG_DATE_NONE &&
		    sl->lic.license_expiry < sl->lic.created) {
			date_format(sl->lic.license_expiry, sx);
			date_format(sl->lic.created, cx);
			row_problem(&rc, "license_expiry %s is before created %s",
			    sx, cx);
		}
	}
	v = row_str(row, "regno", &bad);
	if (v != NULL && v[0] != '\0') {
		if (text_code_valid(v, strlen(v), KG_REGNO_MAX, 1))
			memcpy(sl->lic.regno, v, strlen(v) + 1);
		else {
			char	safe[40];

			row_value_safe(v, safe);
			row_problem(&rc, "regno \"%s\": expected 1 to %d letters, "
			    "digits, '.', '_', '/' or '-' (or nothing, for the "
			    "next number)", safe, KG_REGNO_MAX);
		}
	}
	v = row_str(row, "state", &bad);
	sl->status = KG_STATUS_ACTIVE;
	if (v != NULL && v[0] != '\0' &&
	    policy_status_parse(v, &sl->status) == -1) {
		char	safe[40];

		row_value_safe(v, safe);
		row_problem(&rc, "state \"%s\": expected active, revoked or "
		    "suspended (or nothing: active)", safe);
	}
	m = json_object_get(row, "trial");
	if (m != NULL && !json_is_null(m)) {
		if (json_is_boolean(m))
			sl->lic.trial = json_is_true(m);
		else
			bad = true;
	}
	if (bad) {
		admin_reply_error(op, "bad_request", "%s: rows[%zu]: a member "
		    "has the wrong type (strings, and trial true or false)",
		    op->entry->name, i);
		return -1;
	}
	if (rc.text[0] != '\0') {
		if (session_error(s, (uint32_t)line, "%s", rc.text) == -1)
			goto nomem;
		return 0;
	}
	s->line[s->n++] = (uint32_t)line;
	return 0;
nomem:
	admin_reply_error(op, "internal", "out of memory reading the rows: "
	    "see keygated's log");
	log_error("%s: out of memory at %zu rows", __func__, s->nrows);
	return -1;
}

/* ---- the checks against the store ---- */

/*
 * The edition of row i (cached); 0, 1 when the row is bad (recorded), -1
 * with a reply set.
 */
static int
row_edition(struct admin_op *op, struct import_session *s, size_t i)
{
	struct store		*st = op->d->store;
	struct store_product	 prod;
	const struct kg_license	*lic = &s->lic[i].lic;
	int			 rc;

	if (strcmp(s->ed_product, lic->product) != 0 ||
	    strcmp(s->ed_code, lic->edition) != 0) {
		memcpy(s->ed_product, lic->product, sizeof(s->ed_product));
		memcpy(s->ed_code, lic->edition, sizeof(s->ed_code));
		s->ed_rc = st->ops->edition_get(st, lic->product,
		    lic->edition, &s->ed);
	}
	if (s->ed_rc == STORE_OK)
		return 0;
	if (s->ed_rc != STORE_NOTFOUND) {
		s->ed_product[0] = '\0';
		admin_reply_store_error(op, s->ed_rc, "reading the edition");
		return -1;
	}
	rc = st->ops->product_get(st, lic->product, &prod);
	if (rc == STORE_NOTFOUND)
		rc = session_error(s, s->line[i], "product %s does not exist: "
		    "add it first with 'keygate-admin product add %s --name "
		    "NAME --price AMOUNT'", lic->product, lic->product);
	else if (rc == STORE_OK)
		rc = session_error(s, s->line[i], "edition %s of product %s "
		    "does not exist: add it first with 'keygate-admin edition "
		    "add %s %s'", lic->edition, lic->product, lic->product,
		    lic->edition);
	else {
		admin_reply_store_error(op, rc, "reading the product");
		return -1;
	}
	if (rc == -1) {
		admin_reply_error(op, "internal", "out of memory: see "
		    "keygated's log");
		return -1;
	}
	return 1;
}

/*
 * Check row i against the store and complete its license. 0 (good or
 * recorded as bad), or -1 with a reply set.
 */
static int
row_check_store(struct admin_op *op, struct import_session *s, size_t i)
{
	struct store			*st = op->d->store;
	struct store_license		*sl = &s->lic[i], other;
	const struct kg_edition_policy	*p;
	int				 rc, bad;

	if ((bad = row_edition(op, s, i)) != 0)
		return bad == 1 ? 0 : -1;
	p = &s->ed.policy;
	rc = 0;
	if (sl->lic.support_expiry == KG_DATE_NONE) {
		if (sl->lic.trial)
			rc = session_error(s, s->line[i], "support_expiry is "
			    "empty: a trial key needs it");
		else if (p->basis != KG_BASIS_ACTIVATION)
			rc = session_error(s, s->line[i], "support_expiry is "
			    "empty, but edition %s of %s counts support from "
			    "creation: give the date", sl->lic.edition,
			    sl->lic.product);
		if (rc == -1)
			goto nomem;
		if (sl->lic.trial || p->basis != KG_BASIS_ACTIVATION)
			return 0;
	}
	if (sl->lic.regno[0] != '\0') {
		rc = st->ops->license_get_regno(st, sl->lic.regno, &other);
		if (rc == STORE_OK) {
			if (session_error(s, s->line[i], "regno %s is taken "
			    "by a license in the store (see 'keygate-admin key "
			    "show %s'): leave the regno empty for a new one",
			    sl->lic.regno, sl->lic.regno) == -1)
				goto nomem;
			return 0;
		}
		if (rc != STORE_NOTFOUND) {
			admin_reply_store_error(op, rc, "reading a license");
			return -1;
		}
	}
	sl->lic.revision = 1;
	sl->lic.support_months = sl->lic.trial ? 0 : p->support_months;
	if (!(s->flags[i] & IMPORT_LEXP_GIVEN))
		sl->lic.license_expiry = sl->lic.trial ||
		    p->on_expiry == KG_ON_EXPIRY_DEMO ?
		    sl->lic.support_expiry : KG_DATE_NONE;
	memcpy(sl->lic.key_id, signer_key_id(op->d->signer), KG_KEY_ID_LEN);
	if (sl->status != KG_STATUS_ACTIVE)
		snprintf(sl->status_reason, sizeof(sl->status_reason), "%s",
		    IMPORT_STATE_REASON);
	sl->updated_at = daemon_now(op->d);
	return 0;
nomem:
	admin_reply_error(op, "internal", "out of memory: see keygated's log");
	return -1;
}

static const struct import_session	*sort_session;

static int
regno_cmp(const void *a, const void *b)
{
	size_t	i = *(const size_t *)a, j = *(const size_t *)b;
	int	c;

	c = strcmp(sort_session->lic[i].lic.regno,
	    sort_session->lic[j].lic.regno);
	if (c != 0)
		return c;
	return (sort_session->line[i] > sort_session->line[j]) -
	    (sort_session->line[i] < sort_session->line[j]);
}

/* Record every row whose given regno an earlier row has. 0 or -1 (memory). */
static int
rows_duplicates(struct import_session *s)
{
	size_t	*idx, n = 0, i, first = 0;
	int	 rc = 0;

	if (s->n == 0)
		return 0;
	if ((idx = calloc(s->n, sizeof(*idx))) == NULL)
		return -1;
	for (i = 0; i < s->n; i++)
		if (s->lic[i].lic.regno[0] != '\0')
			idx[n++] = i;
	sort_session = s;
	qsort(idx, n, sizeof(*idx), regno_cmp);
	sort_session = NULL;
	for (i = 1; i < n && rc == 0; i++) {
		if (strcmp(s->lic[idx[i]].lic.regno,
		    s->lic[idx[first]].lic.regno) != 0) {
			first = i;
			continue;
		}
		rc = session_error(s, s->line[idx[i]], "regno %s is also on "
		    "line %" PRIu32 ": each registration number must be unique",
		    s->lic[idx[i]].lic.regno, s->line[idx[first]]);
	}
	free(idx);
	return rc;
}

static int
error_cmp(const void *a, const void *b)
{
	const struct import_error	*x = a, *y = b;

	return (x->line > y->line) - (x->line < y->line);
}

/* The error reply listing every bad row by line (several errors joined). */
static void
import_reply_errors(struct admin_op *op, struct import_session *s)
{
	json_t	*errors, *extra;
	size_t	 i, j, nlines = 0;
	char	*joined;
	int	 fail = 0;

	qsort(s->err, s->nerr, sizeof(*s->err), error_cmp);
	if ((errors = json_array()) == NULL)
		goto nomem;
	for (i = 0; i < s->nerr && !fail; i = j) {
		/* The errors of one line, joined with "; ". */
		size_t	len = strlen(s->err[i].text);

		for (j = i + 1; j < s->nerr && s->err[j].line == s->err[i].line;
		    j++)
			len += 2 + strlen(s->err[j].text);
		if ((joined = malloc(len + 1)) == NULL) {
			fail = 1;
			break;
		}
		snprintf(joined, len + 1, "%s", s->err[i].text);
		for (j = i + 1; j < s->nerr && s->err[j].line == s->err[i].line;
		    j++) {
			strcat(joined, "; ");
			strcat(joined, s->err[j].text);
		}
		fail = json_array_append_new(errors, json_pack("{s:I,s:s}",
		    "line", (json_int_t)s->err[i].line, "error", joined)) == -1;
		free(joined);
		nlines++;
	}
	if (fail) {
		json_decref(errors);
		goto nomem;
	}
	extra = json_pack("{s:o,s:I,s:I}", "errors", errors,
	    "rows", (json_int_t)s->nrows, "bad", (json_int_t)nlines);
	if (extra == NULL)
		goto nomem;
	log_info("admin: %s: key.import %s: %zu of %zu rows are bad; nothing "
	    "imported", op->actor, s->file, nlines, s->nrows);
	admin_reply_error_with(op, extra, "bad_request", "%zu of %zu rows %s "
	    "bad: nothing was imported; correct %s and run the import again",
	    nlines, s->nrows, nlines == 1 ? "is" : "are",
	    nlines == 1 ? "it" : "them");
	return;
nomem:
	admin_reply_error(op, "internal", "out of memory listing the bad rows: "
	    "see keygated's log");
}

/* The transaction's thread: all rows in one license_import. */
static int
import_run(void *arg)
{
	struct import_session	*s = arg;

	return s->st->ops->license_import(s->st, s->lic, s->n, &s->audit,
	    &s->bad);
}

/*
 * Everything checked and good: write all rows in one transaction, in a
 * thread of its own (import_commit_end answers once it is done). true
 * while it runs, false when the reply is made.
 */
static bool
import_commit(struct admin_op *op, struct import_session *s)
{
	size_t	given = 0, i;
	int	rc;

	if (s->dry_run) {
		log_info("admin: %s: key.import %s --dry-run: %zu rows are "
		    "good", op->actor, s->file, s->n);
		admin_reply_result(op, json_pack("{s:I,s:I,s:b}", "imported",
		    (json_int_t)0, "rows", (json_int_t)s->n, "dry_run", 1));
		return false;
	}
	for (i = 0; i < s->n; i++)
		if (s->lic[i].lic.regno[0] != '\0')
			given++;
	store_audit_fill(&s->audit, daemon_now(op->d), op->actor,
	    "key.import", s->file, "%zu licenses from the file %s (%zu with "
	    "their own registration numbers); one transaction", s->n,
	    s->file, given);
	s->st = op->d->store;
	s->bad = s->n;
	if ((rc = admin_bg_start(&s->bg, s->st, import_run, s)) != 0) {
		log_error("%s: pthread_create: %s", __func__, strerror(rc));
		admin_reply_error(op, "internal", "cannot start the import: "
		    "see keygated's log");
		return false;
	}
	op->wait_ms = ADMIN_LOOK_MSEC;
	return true;
}

/* The transaction is done: the reply. */
static void
import_commit_end(struct admin_op *op, struct import_session *s)
{
	json_t	*v, *errors;
	size_t	 bad = s->bad;
	int	 rc = s->bg.rc;

	if (rc == STORE_EXISTS && bad < s->n) {
		errors = json_pack("{s:[{s:I,s:s}],s:I,s:I}", "errors", "line",
		    (json_int_t)s->line[bad], "error", "regno was stored "
		    "meanwhile by another import: leave it empty or remove the "
		    "line", "rows", (json_int_t)s->nrows, "bad", (json_int_t)1);
		admin_reply_error_with(op, errors, "conflict", "line %" PRIu32
		    ": regno %s was stored meanwhile: nothing was imported",
		    s->line[bad], s->lic[bad].lic.regno);
		return;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "importing the licenses "
		    "(nothing was imported)");
		return;
	}
	log_info("admin: %s: key.import %s: %zu licenses, serials %" PRIu64
	    "-%" PRIu64 ", %s .. %s", op->actor, s->file, s->n,
	    s->lic[0].lic.serial, s->lic[s->n - 1].lic.serial,
	    s->lic[0].lic.regno, s->lic[s->n - 1].lic.regno);
	v = json_pack("{s:I,s:I,s:b,s:I,s:I,s:s,s:s}", "imported",
	    (json_int_t)s->n, "rows", (json_int_t)s->n, "dry_run", 0,
	    "first_serial", (json_int_t)s->lic[0].lic.serial,
	    "last_serial", (json_int_t)s->lic[s->n - 1].lic.serial,
	    "first_regno", s->lic[0].lic.regno,
	    "last_regno", s->lic[s->n - 1].lic.regno);
	admin_reply_result(op, v);
}

/* A final request's later steps: check rows for ADMIN_STEP_MSEC, then end. */
static bool
import_step(struct admin_op *op, struct import_session *s)
{
	int64_t	start = admin_clock_msec();

	if (s->bg.running) {
		if (admin_bg_pending(op, &s->bg))
			return true;
		import_commit_end(op, s);
		return false;
	}
	while (s->next < s->n) {
		if (row_check_store(op, s, s->next++) == -1)
			return false;
		if (admin_clock_msec() - start >= ADMIN_STEP_MSEC)
			return true;
	}
	if (rows_duplicates(s) == -1) {
		admin_reply_error(op, "internal", "out of memory: see "
		    "keygated's log");
		return false;
	}
	if (s->nerr > 0)
		import_reply_errors(op, s);
	else if (s->n == 0)
		admin_reply_error(op, "bad_request", "%s: no rows to import",
		    op->entry->name);
	else
		return import_commit(op, s);
	return false;
}

/* A new session for op's actor; NULL with a reply set. */
static struct import_session *
session_new(struct admin_op *op, size_t *slot)
{
	struct import_session	*s;
	uint8_t			 id[IMPORT_ID_BYTES];
	size_t			 i;

	for (i = 0; i < IMPORT_SESSIONS_MAX && sessions[i] != NULL; i++)
		;
	if (i == IMPORT_SESSIONS_MAX) {
		admin_reply_error(op, "busy", "%d imports are in progress: "
		    "wait until they end (or for %d minutes)",
		    IMPORT_SESSIONS_MAX, IMPORT_IDLE_SECONDS / 60);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		admin_reply_error(op, "internal", "out of memory: see "
		    "keygated's log");
		return NULL;
	}
	admin_bg_init(&s->bg);
	randombytes_buf(id, sizeof(id));
	sodium_bin2hex(s->id, sizeof(s->id), id, sizeof(id));
	snprintf(s->actor, sizeof(s->actor), "%s", op->actor);
	snprintf(s->file, sizeof(s->file), "-");
	sessions[i] = s;
	*slot = i;
	return s;
}

/* key.import: see the top of the file. */
bool
admin_csv_import(struct admin_op *op)
{
	struct import_session	*s;
	const char		*id;
	json_t			*rows, *row;
	size_t			 idlen, slot = 0, i;
	bool			 final = false, dry_run = false;
	int			 has_id;

	if (op->job != NULL)
		return import_step(op, op->job);
	sessions_expire();
	if ((has_id = admin_arg_string(op, "session", false,
	    IMPORT_ID_BYTES * 2, &id, &idlen)) == -1 ||
	    admin_arg_bool(op, "final", &final) == -1 ||
	    admin_arg_bool(op, "dry_run", &dry_run) == -1)
		return false;
	rows = json_object_get(op->req, "rows");
	if (!json_is_array(rows)) {
		admin_reply_error(op, "bad_request", "%s: rows: expected an "
		    "array of rows", op->entry->name);
		return false;
	}
	if (has_id == 1) {
		if ((s = session_find(id, &slot)) == NULL) {
			admin_reply_error(op, "not_found", "%s: the import "
			    "session is unknown or was dropped (idle for %d "
			    "minutes, or keygated restarted): run the import "
			    "again", op->entry->name, IMPORT_IDLE_SECONDS / 60);
			return false;
		}
		if (strcmp(s->actor, op->actor) != 0) {
			admin_reply_error(op, "conflict", "%s: the import "
			    "session belongs to %s", op->entry->name, s->actor);
			return false;
		}
		if (json_object_get(op->req, "file") != NULL) {
			admin_reply_error(op, "bad_request", "%s: file: only "
			    "the first request of a session names the file",
			    op->entry->name);
			return false;
		}
	} else {
		if ((s = session_new(op, &slot)) == NULL)
			return false;
		if (admin_arg_text(op, "file", false, STORE_OBJECT_MAX,
		    s->file) == -1) {
			sessions[slot] = NULL;
			session_free(s);
			return false;
		}
		if (s->file[0] == '\0')
			snprintf(s->file, sizeof(s->file), "-");
	}
	s->touched = admin_clock_msec();
	if (s->nrows + json_array_size(rows) > ADMIN_IMPORT_ROWS_MAX) {
		admin_reply_error(op, "bad_request", "%s: more than %d rows: "
		    "split the file (each part is imported whole or not at "
		    "all)", op->entry->name, ADMIN_IMPORT_ROWS_MAX);
		goto drop;
	}
	json_array_foreach(rows, i, row)
		if (row_add(op, s, row, i) == -1)
			goto drop;
	if (!final) {
		admin_reply_result(op, json_pack("{s:s,s:I}", "session", s->id,
		    "rows", (json_int_t)s->nrows));
		return false;
	}
	/* The op owns the session from now on; nobody else may add to it. */
	sessions[slot] = NULL;
	s->dry_run = dry_run;
	op->job = s;
	op->job_free = session_free;
	return import_step(op, s);
drop:
	sessions[slot] = NULL;
	session_free(s);
	return false;
}
