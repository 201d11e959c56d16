/*
 * The admin socket's operations, the framework: the table of {op name, its
 * arguments, handler}, the request's argument checks (codes, UTF-8 text,
 * strict dates, integer ranges, money, versions; unknown arguments are
 * refused), the reply text and the stepping of long ops. The handlers live
 * by concern in admin_catalog.c, admin_issue.c, admin_keys.c, admin_renew.c
 * and admin_audit.c (admin_ops_int.h is what they share). Each handler
 * makes at most one store call per change with its audit record and writes
 * the reply: {"ok":true,"result":{...}}, {"ok":true,"results":[...]} or
 * {"ok":false,"reason":...,"error":...}. Result objects use the field names
 * of SPEC section 5.
 *
 * Long ops run in steps so the event loop keeps serving the public port:
 * key.issue issues keys for about ADMIN_STEP_MSEC per step (streamed in a
 * partial frame per step when asked to: admin_reply_list_end_with), key.list
 * re-signs that long per step, backup waits for its copying thread that
 * long per step. Lists are streamed into the reply text one result at a
 * time (each result dumped by jansson), so a reply of 100000 keys never
 * exists as one jansson tree.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "admin_ops_int.h"
#include "daemon.h"
#include "log.h"
#include "store.h"
#include "text.h"

#define ADMIN_ERROR_MAX		512
#define ADMIN_JSON_FLAGS	JSON_COMPACT

/* ---- reply text ---- */

static int
reply_append(struct admin_op *op, const char *s, size_t n)
{
	char	*p;
	size_t	 cap;

	if (n > ADMIN_REPLY_MAX - op->len)
		return -1;
	if (op->len + n + 1 > op->cap) {
		cap = op->cap == 0 ? 4096 : op->cap;
		while (cap < op->len + n + 1)
			cap *= 2;
		if ((p = realloc(op->buf, cap)) == NULL) {
			log_error("%s: out of memory (%zu bytes)", __func__,
			    cap);
			return -1;
		}
		op->buf = p;
		op->cap = cap;
	}
	memcpy(op->buf + op->len, s, n);
	op->len += n;
	op->buf[op->len] = '\0';
	return 0;
}

static void
reply_reset(struct admin_op *op)
{
	op->len = 0;
	op->nresults = 0;
	if (op->buf != NULL)
		op->buf[0] = '\0';
}

/* Dump v compactly (stealing the reference) at the end of the reply. */
static int
reply_append_json(struct admin_op *op, json_t *v)
{
	char	*s;
	int	 rc;

	if (v == NULL)
		return -1;
	s = json_dumps(v, ADMIN_JSON_FLAGS);
	json_decref(v);
	if (s == NULL)
		return -1;
	rc = reply_append(op, s, strlen(s));
	free(s);
	return rc;
}

/* A text cut at the end of its buffer: drop a character cut in half. */
static void
text_cut_utf8(char *text)
{
	size_t		n = strlen(text), i = n, need;
	unsigned char	lead;

	while (i > 0 && ((unsigned char)text[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || (lead = (unsigned char)text[i - 1]) < 0xc0)
		return;
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	if (n - (i - 1) < need)
		text[i - 1] = '\0';
}

/*
 * The error reply: reason, the one-line text (what went wrong and what to
 * do) and the members of extra (stolen; NULL for none).
 */
static void
reply_error_v(struct admin_op *op, json_t *extra, const char *reason,
    const char *fmt, va_list ap)
{
	char	 text[ADMIN_ERROR_MAX];
	char	*s = NULL;
	json_t	*v;
	size_t	 n;

	vsnprintf(text, sizeof(text), fmt, ap);
	text_cut_utf8(text);
	reply_reset(op);
	op->done = true;
	if (extra == NULL)
		s = admin_error_new(reason, text, &n);
	else if ((v = json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", reason,
	    "error", text)) != NULL) {
		if (json_object_update_missing(v, extra) == 0)
			s = json_dumps(v, ADMIN_JSON_FLAGS);
		json_decref(v);
		if (s != NULL)
			n = strlen(s);
	}
	json_decref(extra);
	if (s == NULL || reply_append(op, s, n) == -1)
		reply_reset(op);	/* admin_op_reply falls back to a constant */
	free(s);
	log_debug("admin: %s %s: %s %s", op->actor,
	    op->entry != NULL ? op->entry->name : "?", reason, text);
}

/* The error reply {"ok":false,"reason":...,"error":...}. */
void
admin_reply_error(struct admin_op *op, const char *reason, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	reply_error_v(op, NULL, reason, fmt, ap);
	va_end(ap);
}

/* An error reply with extra members besides ok, reason and error. */
void
admin_reply_error_with(struct admin_op *op, json_t *extra, const char *reason,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	reply_error_v(op, extra, reason, fmt, ap);
	va_end(ap);
}

/* The reply {"ok":true,"result":v}; steals v. */
void
admin_reply_result(struct admin_op *op, json_t *v)
{
	json_t	*r;

	reply_reset(op);
	op->done = true;
	if (v == NULL ||
	    (r = json_pack("{s:b,s:o}", "ok", 1, "result", v)) == NULL ||
	    reply_append_json(op, r) == -1) {
		admin_reply_error(op, "internal",
		    "out of memory building the reply: see keygated's log");
		return;
	}
}

/* Start a list reply. */
int
admin_reply_list_begin(struct admin_op *op)
{
	static const char	head[] = "{\"ok\":true,\"results\":[";

	reply_reset(op);
	return reply_append(op, head, sizeof(head) - 1);
}

/* Add one result to the list reply; steals v. -1 when it does not fit. */
int
admin_reply_list_add(struct admin_op *op, json_t *v)
{
	if (v == NULL)
		return -1;
	if (op->nresults > 0 && reply_append(op, ",", 1) == -1) {
		json_decref(v);
		return -1;
	}
	op->nresults++;
	return reply_append_json(op, v);
}

/* Close a list reply; the op is done. */
int
admin_reply_list_end(struct admin_op *op)
{
	op->done = true;
	return reply_append(op, "]}", 2);
}

/* Add one result given as its JSON text (an object) to the list reply. */
int
admin_reply_list_add_text(struct admin_op *op, const char *s, size_t n)
{
	if (op->nresults > 0 && reply_append(op, ",", 1) == -1)
		return -1;
	op->nresults++;
	return reply_append(op, s, n);
}

/* Close a list reply as a partial frame or as the final one, with members. */
int
admin_reply_list_end_with(struct admin_op *op, bool partial,
    const char *members)
{
	static const char	part[] = "],\"partial\":true,";

	if (partial) {
		op->partial = true;
		if (reply_append(op, part, sizeof(part) - 1) == -1)
			return -1;
	} else {
		op->done = true;
		if (reply_append(op, "],", 2) == -1)
			return -1;
	}
	if (reply_append(op, members, strlen(members)) == -1)
		return -1;
	return reply_append(op, "}", 1);
}

/* The reply for a list that does not fit. */
void
admin_reply_list_too_long(struct admin_op *op)
{
	admin_reply_error(op, "bad_request", "%s: the reply would be longer "
	    "than %d MiB (or memory ran out): ask for fewer results (use the "
	    "filters)", op->entry->name, ADMIN_REPLY_MAX >> 20);
}

/* The reply for a store error. */
void
admin_reply_store_error(struct admin_op *op, int rc, const char *what)
{
	switch (rc) {
	case STORE_FULL:
		admin_reply_error(op, "storage_full", "%s: the store is full "
		    "and nothing was written: raise map_size_mb in "
		    "keygated.conf and restart keygated", what);
		break;
	default:
		log_error("admin: %s: %s: %s", op->entry->name, what,
		    store_strerror(rc));
		admin_reply_error(op, "internal", "%s: internal error (%s): "
		    "see keygated's log", what, store_strerror(rc));
		break;
	}
}

/* ---- argument checks ---- */

static json_t *
arg_get(struct admin_op *op, const char *name, bool required)
{
	json_t	*v;

	v = json_object_get(op->req, name);
	if (v == NULL || json_is_null(v)) {
		if (required)
			admin_reply_error(op, "bad_request", "%s: %s is "
			    "required", op->entry->name, name);
		return NULL;
	}
	return v;
}

/* A string argument of 1..max bytes without NULs; 1, 0 absent, -1 bad. */
int
admin_arg_string(struct admin_op *op, const char *name, bool required,
    size_t max, const char **s, size_t *n)
{
	json_t	*v;

	if ((v = arg_get(op, name, required)) == NULL)
		return required ? -1 : 0;
	if (!json_is_string(v)) {
		admin_reply_error(op, "bad_request", "%s: %s: expected a "
		    "string", op->entry->name, name);
		return -1;
	}
	*s = json_string_value(v);
	*n = json_string_length(v);
	if (*n == 0 || *n > max || strlen(*s) != *n) {
		admin_reply_error(op, "bad_request", "%s: %s: expected 1 to "
		    "%zu bytes", op->entry->name, name, max);
		return -1;
	}
	return 1;
}

/* A code [A-Za-z0-9_.-]{1,KG_CODE_MAX}. */
int
admin_arg_code(struct admin_op *op, const char *name, bool required,
    char out[KG_CODE_MAX + 1])
{
	const char	*s;
	size_t		 n;
	int		 rc;

	out[0] = '\0';
	if ((rc = admin_arg_string(op, name, required, KG_CODE_MAX, &s,
	    &n)) != 1)
		return rc;
	if (!text_code_valid(s, n, KG_CODE_MAX, 0)) {
		admin_reply_error(op, "bad_request", "%s: %s: expected 1 to "
		    "%d letters, digits, '_', '.' or '-'", op->entry->name,
		    name, KG_CODE_MAX);
		return -1;
	}
	memcpy(out, s, n + 1);
	return 1;
}

/* UTF-8 text without control characters, 1..max bytes, into out. */
int
admin_arg_text(struct admin_op *op, const char *name, bool required,
    size_t max, char *out)
{
	const char	*s;
	size_t		 n;
	int		 rc;

	out[0] = '\0';
	if ((rc = admin_arg_string(op, name, required, max, &s, &n)) != 1)
		return rc;
	if (!text_line_valid(s, n)) {
		admin_reply_error(op, "bad_request", "%s: %s: expected UTF-8 "
		    "text without control characters", op->entry->name, name);
		return -1;
	}
	memcpy(out, s, n + 1);
	return 1;
}

/* A strict date YYYY-MM-DD. */
int
admin_arg_date(struct admin_op *op, const char *name, bool required,
    kg_date *out)
{
	const char	*s;
	size_t		 n;
	int		 rc;

	*out = KG_DATE_NONE;
	if ((rc = admin_arg_string(op, name, required, KG_DATE_TEXT_LEN, &s,
	    &n)) != 1)
		return rc;
	if (date_parse(s, out) == -1 || *out == KG_DATE_NONE) {
		*out = KG_DATE_NONE;
		admin_reply_error(op, "bad_request", "%s: %s: expected a date "
		    "YYYY-MM-DD from 1970-01-02 to 9999-12-31", op->entry->name,
		    name);
		return -1;
	}
	return 1;
}

/* An integer min..max. */
int
admin_arg_uint(struct admin_op *op, const char *name, bool required,
    uint32_t min, uint32_t max, uint32_t *out)
{
	json_t		*v;
	json_int_t	 i;

	if ((v = arg_get(op, name, required)) == NULL)
		return required ? -1 : 0;
	if (!json_is_integer(v) || (i = json_integer_value(v)) < (json_int_t)min ||
	    i > (json_int_t)max) {
		admin_reply_error(op, "bad_request", "%s: %s: expected an "
		    "integer from %" PRIu32 " to %" PRIu32, op->entry->name,
		    name, min, max);
		return -1;
	}
	*out = (uint32_t)i;
	return 1;
}

/* true or false. */
int
admin_arg_bool(struct admin_op *op, const char *name, bool *out)
{
	json_t	*v;

	if ((v = arg_get(op, name, false)) == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		admin_reply_error(op, "bad_request", "%s: %s: expected true "
		    "or false", op->entry->name, name);
		return -1;
	}
	*out = json_is_true(v);
	return 1;
}

/* Money as a string "7990.50" or an integer of currency units. */
int
admin_arg_money(struct admin_op *op, const char *name, bool required,
    kg_money *out)
{
	json_t		*v;
	json_int_t	 i;

	if ((v = arg_get(op, name, required)) == NULL)
		return required ? -1 : 0;
	if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i >= 0 && i <= KG_MONEY_MAX / 100) {
			*out = (kg_money)i * 100;
			return 1;
		}
	} else if (json_is_string(v) &&
	    strlen(json_string_value(v)) == json_string_length(v) &&
	    money_parse(json_string_value(v), out) == 0)
		return 1;
	admin_reply_error(op, "bad_request", "%s: %s: expected an amount like "
	    "7990 or \"7990.50\" (at most 10^12)", op->entry->name, name);
	return -1;
}

/* A version, parsed and in its canonical text. */
int
admin_arg_version(struct admin_op *op, const char *name,
    struct kg_version *v, char text[KG_VERSION_TEXT_MAX])
{
	const char	*s;
	size_t		 n;

	if (admin_arg_string(op, name, true, KG_VERSION_TEXT_MAX, &s, &n) != 1)
		return -1;
	if (version_parse(s, v) == -1) {
		admin_reply_error(op, "bad_request", "%s: %s: expected a "
		    "version like 2.0.1 (up to %d numbers without leading "
		    "zeros)", op->entry->name, name, KG_VERSION_PARTS_MAX);
		return -1;
	}
	version_format(v, text);
	return 1;
}

/* ---- results ---- */

/* "YYYY-MM-DD", or null for no date. */
json_t *
admin_json_date(kg_date d)
{
	char	text[KG_DATE_TEXT_LEN];

	if (d == KG_DATE_NONE)
		return json_null();
	date_format(d, text);
	return json_string(text);
}

/* Money as "1998.00". */
json_t *
admin_json_money(kg_money m)
{
	char	text[KG_MONEY_TEXT_LEN];

	money_format(m, text);
	return json_string(text);
}

/* Unix seconds as ISO 8601 UTC: "2026-05-15T09:30:00Z". */
json_t *
admin_json_time(int64_t t)
{
	struct tm	tm;
	time_t		tt = (time_t)t;
	char		text[32];

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(text);
}

/* The string, or null when it is empty. */
json_t *
admin_json_text_or_null(const char *s)
{
	return s[0] == '\0' ? json_null() : json_string(s);
}

/* Milliseconds of the monotonic clock. */
int64_t
admin_clock_msec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- lookups with their not-found replies ---- */

/* Read product code into p; -1 with a not_found (or store error) reply. */
int
admin_product_need(struct admin_op *op, const char *code,
    struct store_product *p)
{
	int	rc;

	rc = op->d->store->ops->product_get(op->d->store, code, p);
	if (rc == STORE_NOTFOUND) {
		admin_reply_error(op, "not_found", "product %s does not "
		    "exist: add it first with 'keygate-admin product add %s "
		    "--name NAME --price AMOUNT'", code, code);
		return -1;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "reading the product");
		return -1;
	}
	return 0;
}

/* Read edition code of product into e; -1 with a not_found reply. */
int
admin_edition_need(struct admin_op *op, const char *product, const char *code,
    struct store_edition *e)
{
	int	rc;

	rc = op->d->store->ops->edition_get(op->d->store, product, code, e);
	if (rc == STORE_NOTFOUND) {
		admin_reply_error(op, "not_found", "edition %s of product %s "
		    "does not exist: add it first with 'keygate-admin edition "
		    "add %s %s'", code, product, product, code);
		return -1;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "reading the edition");
		return -1;
	}
	return 0;
}

/* ---- the table ---- */

static const struct admin_op_entry admin_ops[] = {
	/* admin_catalog.c */
	{ "product.add", admin_catalog_product_add, { "code", "name",
	    "price" } },
	{ "product.list", admin_catalog_product_list, { NULL } },
	{ "edition.add", admin_catalog_edition_add, { "product", "edition",
	    "support_months", "basis", "on_expiry", "renewal_months",
	    "grace_months", "grace_percent", "standard_percent",
	    "requires_subscription" } },
	{ "edition.list", admin_catalog_edition_list, { "product" } },
	{ "release.publish", admin_catalog_release_publish, { "product",
	    "version", "date", "sha256", "url" } },
	{ "release.list", admin_catalog_release_list, { "product" } },
	{ "release.withdraw", admin_catalog_release_withdraw, { "product",
	    "version" } },
	/* admin_issue.c */
	{ "key.issue", admin_issue_keys, { "product", "edition", "licensee",
	    "created", "trial_days", "count", "stream" } },
	/* admin_keys.c */
	{ "key.show", admin_keys_show, { "regno", "key" } },
	{ "key.list", admin_keys_list, { "product", "edition", "licensee",
	    "state" } },
	{ "key.extend", admin_keys_extend, { "regno", "months" } },
	{ "key.revoke", admin_keys_revoke, { "regno", "reason" } },
	{ "key.suspend", admin_keys_suspend, { "regno", "reason" } },
	{ "key.reinstate", admin_keys_reinstate, { "regno", "reason" } },
	{ "key.reissue", admin_keys_reissue, { "regno" } },
	/* admin_renew.c */
	{ "act.register", admin_renew_act_register, { "number", "product",
	    "months", "edition", "licensee" } },
	{ "act.show", admin_renew_act_show, { "number" } },
	{ "act.list", admin_renew_act_list, { "product", "state" } },
	{ "act.void", admin_renew_act_void, { "number" } },
	{ "subscription.set", admin_renew_subscription_set, { "licensee",
	    "until" } },
	{ "subscription.show", admin_renew_subscription_show, { "licensee" } },
	/* admin_audit.c */
	{ "audit", admin_audit_list, { "since", "verify" } },
	{ "backup", admin_audit_backup, { "path" } },
	/* admin_signing.c */
	{ "signing_key.list", admin_signing_list, { NULL } },
	{ "signing_key.rotate", admin_signing_rotate, { NULL } },
	{ "signing_key.compromise", admin_signing_compromise, { "id" } },
	/* admin_csv.c */
	{ "key.import", admin_csv_import, { "session", "rows", "final",
	    "dry_run", "file" } },
};

static const struct admin_op_entry *
admin_op_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(admin_ops) / sizeof(admin_ops[0]); i++)
		if (strcmp(admin_ops[i].name, name) == 0)
			return &admin_ops[i];
	return NULL;
}

/* 0 when every member of the request is "op" or one of the op's arguments. */
static int
admin_op_args_known(struct admin_op *op)
{
	const char	*key;
	json_t		*v;
	size_t		 i;
	bool		 known;

	json_object_foreach(op->req, key, v) {
		(void)v;
		known = strcmp(key, "op") == 0;
		for (i = 0; !known && i < ADMIN_ARGS_MAX &&
		    op->entry->args[i] != NULL; i++)
			known = strcmp(key, op->entry->args[i]) == 0;
		if (!known) {
			admin_reply_error(op, "bad_request", "%s: unknown "
			    "argument \"%.64s\"", op->entry->name, key);
			return -1;
		}
	}
	return 0;
}

/* Start answering req on behalf of actor. */
struct admin_op *
admin_op_new(struct daemon *d, const char *actor, json_t *req)
{
	struct admin_op	*op;
	const char	*name;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		log_error("%s: out of memory", __func__);
		return NULL;
	}
	op->d = d;
	snprintf(op->actor, sizeof(op->actor), "%s", actor);
	op->req = json_incref(req);
	name = json_string_value(json_object_get(req, "op"));
	if (name == NULL) {
		admin_reply_error(op, "bad_request", "the request has no "
		    "\"op\": see \"Admin socket\" in proto/README.md");
		return op;
	}
	if ((op->entry = admin_op_find(name)) == NULL) {
		admin_reply_error(op, "bad_request", "unknown op \"%.64s\": "
		    "this keygated is version %s; see \"Admin socket\" in "
		    "proto/README.md", name, KG_VERSION_TEXT);
		return op;
	}
	admin_op_args_known(op);
	return op;
}

/* Do a bounded amount of work: true while more steps are needed. */
bool
admin_op_step(struct admin_op *op)
{
	bool	more;

	if (op->done)
		return false;
	if (op->partial) {
		/* admin.c sent it: the next frame starts empty. */
		op->partial = false;
		reply_reset(op);
	}
	op->wait_ms = 0;
	more = op->entry->fn(op);
	if (!more && !op->done)
		admin_reply_error(op, "internal", "%s gave no reply: see "
		    "keygated's log", op->entry->name);
	return more && !op->done;
}

/* ---- store work beside the event loop: see admin_ops_int.h ---- */

/* Orphaned threads still running (admin_bg_orphan), for keygated's exit. */
static pthread_mutex_t	orphans_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	orphans_cond = PTHREAD_COND_INITIALIZER;
static unsigned		orphans;

static void *
admin_bg_run(void *arg)
{
	struct admin_bg	*bg = arg;
	void		(*rest)(void *);
	void		*rest_arg;
	int		 rc;

	rc = bg->fn(bg->arg);
	store_thread_end(bg->st);
	pthread_mutex_lock(&bg->lock);
	bg->rc = rc;
	bg->done = true;
	rest = bg->orphan;
	rest_arg = bg->orphan_arg;
	pthread_mutex_unlock(&bg->lock);
	if (rest != NULL) {
		/* Nobody will join this thread: its op is gone. */
		pthread_detach(pthread_self());
		bg->running = false;
		rest(rest_arg);		/* frees bg */
		pthread_mutex_lock(&orphans_lock);
		if (--orphans == 0)
			pthread_cond_broadcast(&orphans_cond);
		pthread_mutex_unlock(&orphans_lock);
	}
	return NULL;
}

void
admin_bg_init(struct admin_bg *bg)
{
	memset(bg, 0, sizeof(*bg));
	pthread_mutex_init(&bg->lock, NULL);
}

int
admin_bg_start(struct admin_bg *bg, struct store *st, int (*fn)(void *),
    void *arg)
{
	int	rc;

	if (bg->running)
		return EBUSY;
	bg->fn = fn;
	bg->arg = arg;
	bg->st = st;
	bg->done = false;
	if ((rc = pthread_create(&bg->thread, NULL, admin_bg_run, bg)) != 0)
		return rc;
	(void)pthread_setname_np(bg->thread, "keygated-store");
	bg->running = true;
	return 0;
}

bool
admin_bg_done(struct admin_bg *bg)
{
	bool	done;

	if (!bg->running)
		return true;
	pthread_mutex_lock(&bg->lock);
	done = bg->done;
	pthread_mutex_unlock(&bg->lock);
	if (done) {
		pthread_join(bg->thread, NULL);
		bg->running = false;
	}
	return done;
}

bool
admin_bg_pending(struct admin_op *op, struct admin_bg *bg)
{
	if (admin_bg_done(bg))
		return false;
	op->wait_ms = ADMIN_LOOK_MSEC;
	return true;
}

void
admin_bg_fini(struct admin_bg *bg)
{
	if (bg->running) {
		pthread_join(bg->thread, NULL);
		bg->running = false;
	}
	pthread_mutex_destroy(&bg->lock);
}

void
admin_bg_orphan(struct admin_bg *bg, void (*rest)(void *), void *arg)
{
	if (bg->running) {
		pthread_mutex_lock(&bg->lock);
		if (!bg->done) {
			/* Counted before the thread can see it. */
			pthread_mutex_lock(&orphans_lock);
			orphans++;
			pthread_mutex_unlock(&orphans_lock);
			bg->orphan = rest;
			bg->orphan_arg = arg;
			pthread_mutex_unlock(&bg->lock);
			return;
		}
		pthread_mutex_unlock(&bg->lock);
	}
	rest(arg);
}

/* Wait until every orphaned thread has ended: see admin_ops.h. */
void
admin_bg_orphans_wait(void)
{
	pthread_mutex_lock(&orphans_lock);
	if (orphans > 0)
		log_info("admin: waiting for %u store transaction%s of "
		    "disconnected admin clients to end", orphans,
		    orphans == 1 ? "" : "s");
	while (orphans > 0)
		pthread_cond_wait(&orphans_cond, &orphans_lock);
	pthread_mutex_unlock(&orphans_lock);
}

/* How long to wait before the next step: see admin_ops.h. */
int
admin_op_wait_ms(const struct admin_op *op)
{
	return op->wait_ms;
}

/* The reply text, owned by op. */
const char *
admin_op_reply(const struct admin_op *op, size_t *len)
{
	static const char	fallback[] = "{\"ok\":false,\"reason\":\"internal\","
	    "\"error\":\"out of memory: see keygated's log\"}";

	if (op->buf == NULL || op->len == 0) {
		*len = sizeof(fallback) - 1;
		return fallback;
	}
	*len = op->len;
	return op->buf;
}

/* The partial frame the last step made, or NULL. */
const char *
admin_op_partial(const struct admin_op *op, size_t *len)
{
	if (!op->partial || op->done || op->len == 0)
		return NULL;
	*len = op->len;
	return op->buf;
}

/* Free op and whatever it still holds. */
void
admin_op_free(struct admin_op *op)
{
	if (op == NULL)
		return;
	json_decref(op->req);
	free(op->buf);
	if (op->job != NULL && op->job_free != NULL)
		op->job_free(op->job);
	free(op);
}

/* An error reply as a malloc'd string. */
char *
admin_error_new(const char *reason, const char *error, size_t *len)
{
	json_t	*v;
	char	*s;

	if ((v = json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", reason, "error",
	    error)) == NULL)
		return NULL;
	s = json_dumps(v, ADMIN_JSON_FLAGS);
	json_decref(v);
	if (s != NULL)
		*len = strlen(s);
	return s;
}
