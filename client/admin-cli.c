/*
 * keygate-admin: the vendor's command-line client of keygated's admin socket
 * (protocol in daemon/admin.h, ops in daemon/admin_ops.c). A table of
 * subcommands, each of which checks its arguments here (a usage error never
 * reaches the daemon), builds one JSON request, and prints the reply: as
 * readable text (admin-cmd-print.c, admin-cmd-renew.c), or with --json as
 * one compact JSON object per result line. key issue, whose reply comes in
 * several frames, runs in admin-cmd-issue.c.
 *
 * Exit codes: 0 done, 1 usage error, 2 keygated cannot be reached (or did
 * not answer), 3 keygated refused the request (its error line is printed),
 * 4 audit --verify found the audit log altered (the first bad record is
 * named on stderr).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "admin-cmd.h"
#include "date.h"
#include "kglimits.h"
#include "money.h"
#include "text.h"
#include "version.h"

#include "../daemon/admin.h"
#include "../daemon/admin_ops.h"
#include "../daemon/issue.h"

#define ADMIN_TIMEOUT		60	/* seconds for keygated to answer */
#define ADMIN_BACKUP_TIMEOUT	3600	/* ... to copy the store for backup */
#define ADMIN_TIMEOUT_MAX	86400
#define ARGS_MAX		12	/* arguments of one subcommand */
#define PERCENT_MAX		1000
#define NAME_MAX_BYTES		256	/* a product's name (the store's limit) */
#define URL_MAX_BYTES		512
#define KEY_ID_TEXT_MAX		64	/* a signing key's hex id or KGP1 text */

static const char *progname = "keygate-admin";
static char cmd_name[64] = "keygate-admin";	/* "product add", for messages */

/* One line on stderr: "keygate-admin: ..." */
void
usage_error(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- arguments ---- */

/*
 * How one argument is checked and put into the request. A spec with an
 * option name is an option ("--name"); one without is the next positional
 * argument.
 */
enum arg_kind {
	ARG_CODE,	/* [A-Za-z0-9_.-]{1,32} */
	ARG_TEXT,	/* UTF-8 without control characters, 1..max bytes */
	ARG_DATE,	/* YYYY-MM-DD */
	ARG_UINT,	/* min..max, sent as a JSON integer */
	ARG_MONEY,	/* "7990" or "7990.50", sent as a string */
	ARG_VERSION,	/* 2.0.1 */
	ARG_CHOICE,	/* one of the '|'-separated words in choices */
	ARG_FLAG,	/* no value: true */
	ARG_SHA256,	/* 64 hex digits */
	ARG_URL,	/* printable ASCII without spaces, 1..max bytes */
	ARG_KEY_OR_REGNO, /* "KG1..." sets key, anything else regno */
	ARG_ACT,	/* an act number: [A-Za-z0-9_./-]{1,32} */
	ARG_PATH,	/* a file name, made absolute against the cwd */
};

struct arg_spec {
	const char	*opt;		/* "name" for --name; NULL: positional */
	const char	*field;		/* JSON member */
	enum arg_kind	 kind;
	unsigned long	 min, max;	/* ARG_UINT; max bytes for ARG_TEXT/ARG_URL */
	const char	*choices;	/* ARG_CHOICE */
	bool		 required;	/* options only; positionals always are */
	const char	*example;	/* for "--x is required" messages */
};

static int
set_str(json_t *req, const char *name, const char *v)
{
	json_t	*s;

	/* json_string refuses text that is not UTF-8. */
	if ((s = json_string(v)) == NULL) {
		usage_error("%s: %s: expected UTF-8 text", cmd_name, name);
		return -1;
	}
	return json_object_set_new(req, name, s);
}

static int
parse_uint(const char *what, const char *s, unsigned long min,
    unsigned long max, unsigned long *out)
{
	unsigned long	 n = 0;
	const char	*p;

	for (p = s; *p >= '0' && *p <= '9' && n <= max; p++)
		n = n * 10 + (unsigned long)(*p - '0');
	if (p == s || *p != '\0' || n < min || n > max) {
		usage_error("%s '%s': expected a whole number from %lu to %lu",
		    what, s, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

static bool
text_valid(const char *s, size_t max)
{
	size_t	i, n = strlen(s);

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return n >= 1 && n <= max;
}

static bool
choice_valid(const char *choices, const char *s)
{
	size_t		 n = strlen(s);
	const char	*p = choices;

	while (p != NULL) {
		if (strncmp(p, s, n) == 0 && (p[n] == '|' || p[n] == '\0'))
			return n > 0;
		if ((p = strchr(p, '|')) != NULL)
			p++;
	}
	return false;
}

static bool
sha256_valid(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0' && isxdigit((unsigned char)s[i]); i++)
		;
	return i == 64 && s[i] == '\0';
}

static bool
url_valid(const char *s, size_t max)
{
	size_t	n = strlen(s);

	return n >= 1 && n <= max && text_url_valid(s, n);
}

/*
 * A file name for keygated, which runs elsewhere (another working
 * directory, maybe another user): a relative one is made absolute here.
 */
static int
set_path(json_t *req, const char *field, const char *what, const char *s)
{
	char	cwd[PATH_MAX], path[PATH_MAX];
	int	n;

	if (!text_valid(s, PATH_MAX - 1)) {
		usage_error("%s: expected a file name without control "
		    "characters", what);
		return -1;
	}
	if (s[0] == '/')
		return set_str(req, field, s);
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		usage_error("%s: cannot tell the current directory (%s): give "
		    "an absolute path", what, strerror(errno));
		return -1;
	}
	n = snprintf(path, sizeof(path), "%s/%s", strcmp(cwd, "/") == 0 ? "" :
	    cwd, s);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		usage_error("%s: the path is longer than %d bytes", what,
		    PATH_MAX - 1);
		return -1;
	}
	return set_str(req, field, path);
}

/* A key pasted with line breaks: only its non-space characters. */
static int
set_key_or_regno(json_t *req, const char *s)
{
	char	*key, *p;
	int	 rc;

	while (isspace((unsigned char)*s))
		s++;
	if (strncmp(s, "KG1.", 4) != 0) {
		if (!text_valid(s, KG_REGNO_MAX)) {
			usage_error("%s: '%s' is neither a key (KG1...) nor a "
			    "registration number", cmd_name, s);
			return -1;
		}
		return set_str(req, "regno", s);
	}
	if (strlen(s) > KG_KEY_TEXT_MAX || (key = strdup(s)) == NULL) {
		usage_error("%s: the key is longer than %d bytes", cmd_name,
		    KG_KEY_TEXT_MAX);
		return -1;
	}
	for (p = key; *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			*p++ = *s;
	*p = '\0';
	rc = set_str(req, "key", key);
	free(key);
	return rc;
}

struct command {
	const char	*group;
	const char	*name;
	const char	*op;
	struct arg_spec	 args[ARGS_MAX];	/* ends at the first without a field */
	print_fn	 print;		/* prints one result */
	print_fn	 print_list;	/* prints a list of results (or NULL) */
	const char	*usage;
};

/* Check value against its spec and put it into req. 0 or -1 (message printed). */
static int
arg_set(const struct arg_spec *a, const char *value, json_t *req)
{
	char		 what[sizeof(cmd_name) + 48];
	struct kg_version v;
	unsigned long	 n;
	kg_money	 m;
	kg_date		 d;

	if (a->opt != NULL)
		snprintf(what, sizeof(what), "%s: --%s", cmd_name, a->opt);
	else
		snprintf(what, sizeof(what), "%s: %s", cmd_name, a->field);
	switch (a->kind) {
	case ARG_CODE:
		if (text_code_valid(value, strlen(value), KG_CODE_MAX, 0))
			return set_str(req, a->field, value);
		usage_error("%s '%s': expected 1 to %d letters, digits, '_', "
		    "'.' or '-'", what, value, KG_CODE_MAX);
		return -1;
	case ARG_TEXT:
		if (text_valid(value, a->max))
			return set_str(req, a->field, value);
		usage_error("%s: expected 1 to %lu bytes without control "
		    "characters", what, a->max);
		return -1;
	case ARG_DATE:
		if (date_parse(value, &d) == 0 && d != KG_DATE_NONE)
			return set_str(req, a->field, value);
		usage_error("%s '%s': expected a date YYYY-MM-DD from "
		    "1970-01-02 to 9999-12-31", what, value);
		return -1;
	case ARG_UINT:
		if (parse_uint(what, value, a->min, a->max, &n) == -1)
			return -1;
		return json_object_set_new(req, a->field,
		    json_integer((json_int_t)n));
	case ARG_MONEY:
		if (money_parse(value, &m) == 0)
			return set_str(req, a->field, value);
		usage_error("%s '%s': expected an amount like 7990 or 7990.50",
		    what, value);
		return -1;
	case ARG_VERSION:
		if (version_parse(value, &v) == 0)
			return set_str(req, a->field, value);
		usage_error("%s '%s': expected numbers separated by dots like "
		    "2.0.1 (no leading zeros, at most %d numbers)", what, value,
		    KG_VERSION_PARTS_MAX);
		return -1;
	case ARG_CHOICE:
		if (choice_valid(a->choices, value))
			return set_str(req, a->field, value);
		usage_error("%s '%s': expected %s", what, value, a->choices);
		return -1;
	case ARG_FLAG:
		return json_object_set_new(req, a->field, json_true());
	case ARG_SHA256:
		if (sha256_valid(value))
			return set_str(req, a->field, value);
		usage_error("%s: expected 64 hex digits (as sha256sum prints)",
		    what);
		return -1;
	case ARG_URL:
		if (url_valid(value, a->max))
			return set_str(req, a->field, value);
		usage_error("%s: expected 1 to %lu bytes of printable ASCII "
		    "without spaces (percent-encode the rest)", what, a->max);
		return -1;
	case ARG_KEY_OR_REGNO:
		return set_key_or_regno(req, value);
	case ARG_ACT:
		if (text_code_valid(value, strlen(value), KG_CODE_MAX, 1))
			return set_str(req, a->field, value);
		usage_error("%s '%s': expected 1 to %d letters, digits, '_', "
		    "'.', '/' or '-'", what, value, KG_CODE_MAX);
		return -1;
	case ARG_PATH:
		return set_path(req, a->field, what, value);
	}
	return -1;
}

/* getopt_long returned ':' or '?' (opterr is 0: the message is ours). */
static void
bad_option(char **argv, int ch)
{
	const char	*arg = optind > 0 ? argv[optind - 1] : "?";

	if (ch == ':')
		usage_error("%s: option '%s' needs a value", cmd_name, arg);
	else
		usage_error("%s: unknown option '%s' (see '%s --help')",
		    cmd_name, arg, progname);
}

/*
 * Parse a subcommand's arguments (argv[0] is its name) by its specs into
 * req. 0, or -1 with one line printed.
 */
static int
args_build(const struct arg_spec *specs, int argc, char **argv, json_t *req)
{
	struct option	lo[ARGS_MAX + 1];
	bool		seen[ARGS_MAX] = { false };
	size_t		i, nlo = 0, npos = 0, pos;
	int		ch;

	memset(lo, 0, sizeof(lo));
	for (i = 0; i < ARGS_MAX && specs[i].field != NULL; i++) {
		if (specs[i].opt == NULL) {
			npos++;
			continue;
		}
		lo[nlo].name = specs[i].opt;
		lo[nlo].has_arg = specs[i].kind == ARG_FLAG ? no_argument :
		    required_argument;
		lo[nlo].val = 256 + (int)i;
		nlo++;
	}
	while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (ch < 256) {
			bad_option(argv, ch);
			return -1;
		}
		i = (size_t)(ch - 256);
		seen[i] = true;
		if (arg_set(&specs[i], optarg, req) == -1)
			return -1;
	}
	if ((size_t)(argc - optind) != npos) {
		if ((size_t)(argc - optind) > npos)
			usage_error("%s: unexpected argument '%s' (see '%s "
			    "--help')", cmd_name, argv[optind + (int)npos],
			    progname);
		else
			usage_error("%s: %zu argument%s expected (see '%s "
			    "--help')", cmd_name, npos, npos == 1 ? "" : "s",
			    progname);
		return -1;
	}
	for (i = 0, pos = 0; i < ARGS_MAX && specs[i].field != NULL; i++) {
		if (specs[i].opt == NULL) {
			if (arg_set(&specs[i], argv[optind + (int)pos++], req) == -1)
				return -1;
		} else if (specs[i].required && !seen[i]) {
			usage_error("%s: --%s is required (e.g. --%s %s)",
			    cmd_name, specs[i].opt, specs[i].opt,
			    specs[i].example);
			return -1;
		}
	}
	return 0;
}

/* ---- the table of subcommands ---- */

#define POS(field, kind)		{ NULL, field, kind, 0, 0, NULL, true, NULL }
#define OPT(o, field, kind, req, ex)	{ o, field, kind, 0, 0, NULL, req, ex }
#define NUM(o, field, lo, hi)		{ o, field, ARG_UINT, lo, hi, NULL, false, NULL }
#define TEXT(o, field, max, req, ex)	{ o, field, ARG_TEXT, 0, max, NULL, req, ex }
#define CHOICE(o, field, words)		{ o, field, ARG_CHOICE, 0, 0, words, false, NULL }
#define POSTEXT(field, max)		{ NULL, field, ARG_TEXT, 0, max, NULL, true, NULL }
#define MONTHS(ex)	{ "months", "months", ARG_UINT, 1, KG_MONTHS_MAX, NULL, true, ex }
#define REASON		TEXT("reason", "reason", KG_REASON_TEXT_MAX, true, "'refund'")

static const struct command commands[] = {
	{ "product", "add", "product.add", {
	    POS("code", ARG_CODE),
	    TEXT("name", "name", NAME_MAX_BYTES, true, "'My Product'"),
	    OPT("price", "price", ARG_MONEY, true, "7990") },
	    print_product_added, NULL,
	    "product add CODE --name NAME --price AMOUNT" },
	{ "product", "list", "product.list", { { .field = NULL } }, NULL, print_products,
	    "product list" },
	{ "edition", "add", "edition.add", {
	    POS("product", ARG_CODE), POS("edition", ARG_CODE),
	    NUM("support-months", "support_months", 1, KG_MONTHS_MAX),
	    CHOICE("basis", "basis", "creation|activation"),
	    CHOICE("on-expiry", "on_expiry", "fallback|demo"),
	    NUM("renewal-months", "renewal_months", 1, KG_MONTHS_MAX),
	    NUM("grace-months", "grace_months", 0, KG_MONTHS_MAX),
	    NUM("grace-percent", "grace_percent", 0, PERCENT_MAX),
	    NUM("standard-percent", "standard_percent", 0, PERCENT_MAX),
	    OPT("requires-subscription", "requires_subscription", ARG_FLAG,
	    false, NULL) },
	    print_edition_added, NULL,
	    "edition add PRODUCT EDITION [--support-months 6] "
	    "[--basis creation|activation]\n"
	    "              [--on-expiry fallback|demo] [--renewal-months 12] "
	    "[--grace-months 1]\n"
	    "              [--grace-percent 25] [--standard-percent 45] "
	    "[--requires-subscription]" },
	{ "edition", "list", "edition.list", { POS("product", ARG_CODE) },
	    NULL, print_editions, "edition list PRODUCT" },
	{ "release", "publish", "release.publish", {
	    POS("product", ARG_CODE), POS("version", ARG_VERSION),
	    OPT("date", "date", ARG_DATE, true, "2026-03-01"),
	    OPT("sha256", "sha256", ARG_SHA256, false, NULL),
	    { "url", "url", ARG_URL, 0, URL_MAX_BYTES, NULL, false, NULL } },
	    print_release_published, NULL,
	    "release publish PRODUCT VERSION --date YYYY-MM-DD [--sha256 HEX] "
	    "[--url URL]" },
	{ "release", "list", "release.list", { POS("product", ARG_CODE) },
	    NULL, print_releases, "release list PRODUCT" },
	{ "release", "withdraw", "release.withdraw", {
	    POS("product", ARG_CODE), POS("version", ARG_VERSION) },
	    print_release_withdrawn, NULL, "release withdraw PRODUCT VERSION" },
	{ "key", "issue", "key.issue", {
	    POS("product", ARG_CODE), POS("edition", ARG_CODE),
	    TEXT("licensee", "licensee", KG_LICENSEE_MAX, true, "'Acme Ltd'"),
	    OPT("created", "created", ARG_DATE, false, NULL),
	    NUM("trial-days", "trial_days", 1, ISSUE_TRIAL_DAYS_MAX),
	    NUM("count", "count", 1, ADMIN_ISSUE_COUNT_MAX) },
	    print_key_issued, print_keys_issued,
	    "key issue PRODUCT EDITION --licensee NAME [--created YYYY-MM-DD]\n"
	    "              [--trial-days N] [--count N]" },
	/* These two run themselves (admin-cmd-csv.c): csv_command_find. */
	{ "key", "import", "key.import", { { .field = NULL } }, NULL, NULL,
	    "key import FILE.csv [--dry-run]" },
	{ "key", "export", "key.export", { { .field = NULL } }, NULL, NULL,
	    "key export [--product P] [FILE|-]" },
	{ "key", "show", "key.show", { POS("key", ARG_KEY_OR_REGNO) },
	    print_key, NULL, "key show KEY|REGNO" },
	{ "key", "list", "key.list", {
	    OPT("product", "product", ARG_CODE, false, NULL),
	    OPT("edition", "edition", ARG_CODE, false, NULL),
	    TEXT("licensee", "licensee", KG_LICENSEE_MAX, false, NULL),
	    CHOICE("state", "state", "active|revoked|suspended") },
	    NULL, print_keys,
	    "key list [--product P] [--edition E] [--licensee L] "
	    "[--state active|revoked|suspended]" },
	{ "key", "extend", "key.extend", {
	    POSTEXT("regno", KG_REGNO_MAX), MONTHS("12") },
	    print_key_extended, NULL, "key extend REGNO --months N" },
	{ "key", "revoke", "key.revoke", {
	    POSTEXT("regno", KG_REGNO_MAX), REASON },
	    print_key_state, NULL, "key revoke REGNO --reason TEXT" },
	{ "key", "suspend", "key.suspend", {
	    POSTEXT("regno", KG_REGNO_MAX), REASON },
	    print_key_state, NULL, "key suspend REGNO --reason TEXT" },
	{ "key", "reinstate", "key.reinstate", {
	    POSTEXT("regno", KG_REGNO_MAX), REASON },
	    print_key_state, NULL, "key reinstate REGNO --reason TEXT" },
	{ "key", "reissue", "key.reissue", { POSTEXT("regno", KG_REGNO_MAX) },
	    print_key, NULL, "key reissue REGNO" },
	{ "act", "register", "act.register", {
	    POS("number", ARG_ACT),
	    OPT("product", "product", ARG_CODE, true, "ZHKH8"), MONTHS("12"),
	    OPT("edition", "edition", ARG_CODE, false, NULL),
	    TEXT("licensee", "licensee", KG_LICENSEE_MAX, false, NULL) },
	    print_act_registered, NULL,
	    "act register NUMBER --product CODE --months N [--edition E] "
	    "[--licensee NAME]" },
	{ "act", "show", "act.show", { POS("number", ARG_ACT) },
	    print_act, NULL, "act show NUMBER" },
	{ "act", "list", "act.list", {
	    OPT("product", "product", ARG_CODE, false, NULL),
	    CHOICE("state", "state", "open|redeemed|void") },
	    NULL, print_acts,
	    "act list [--product P] [--state open|redeemed|void]" },
	{ "act", "void", "act.void", { POS("number", ARG_ACT) },
	    print_act_voided, NULL, "act void NUMBER" },
	{ "subscription", "set", "subscription.set", {
	    POSTEXT("licensee", KG_LICENSEE_MAX),
	    OPT("until", "until", ARG_DATE, true, "2027-01-31") },
	    print_subscription, NULL,
	    "subscription set LICENSEE --until YYYY-MM-DD" },
	{ "subscription", "show", "subscription.show", {
	    POSTEXT("licensee", KG_LICENSEE_MAX) },
	    print_subscription, NULL, "subscription show LICENSEE" },
	{ "audit", NULL, "audit", {
	    OPT("since", "since", ARG_DATE, false, NULL),
	    OPT("verify", "verify", ARG_FLAG, false, NULL) },
	    print_audit_verified, print_audit,
	    "audit [--since YYYY-MM-DD] [--verify]" },
	{ "backup", NULL, "backup", { POS("path", ARG_PATH) },
	    print_backup, NULL, "backup FILE" },
	{ "signing-key", "list", "signing_key.list", { { .field = NULL } }, NULL,
	    print_signing_keys, "signing-key list" },
	{ "signing-key", "rotate", "signing_key.rotate", { { .field = NULL } },
	    print_signing_key_rotated, NULL, "signing-key rotate" },
	{ "signing-key", "compromise", "signing_key.compromise", {
	    POSTEXT("id", KEY_ID_TEXT_MAX) },
	    print_signing_key_compromised, NULL, "signing-key compromise ID" },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	size_t	i;

	fprintf(f, "usage: %s [--data DIR | --socket PATH] [--json] "
	    "[--timeout SECONDS] COMMAND ...\n", progname);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f, "--data DIR finds the admin socket in DIR (default %s); "
	    "--json prints one JSON object per result line.\n",
	    KG_DEFAULT_DATA_DIR);
	fprintf(f, "exit status: 0 done, 1 usage error, 2 keygated cannot be "
	    "reached, 3 keygated refused the request,\n"
	    "  4 audit --verify: the audit log was altered (the first bad "
	    "record is named on stderr)\n");
}

/* ---- talking to keygated ---- */

/*
 * admin_socket from DIR/keygated.conf when it is set there to an absolute
 * path; otherwise DIR/admin.sock. An unreadable config means the default.
 */
static void
socket_path_find(const char *dir, char *out, size_t len)
{
	FILE	*f;
	char	 path[PATH_MAX], line[PATH_MAX + 64], *p, *v, *end;

	snprintf(out, len, "%s/%s", dir, ADMIN_SOCKET_NAME);
	snprintf(path, sizeof(path), "%s/keygated.conf", dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (strncmp(p, "admin_socket", 12) != 0)
			continue;
		for (p += 12; isspace((unsigned char)*p); p++)
			;
		if (*p != '=')
			continue;
		for (v = p + 1; isspace((unsigned char)*v); v++)
			;
		end = v + strlen(v);
		while (end > v && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (v[0] == '/')
			snprintf(out, len, "%s", v);
	}
	fclose(f);
}

/* "cannot reach keygated at PATH: why" on stderr; EXIT_UNREACHABLE. */
int
admin_unreachable(const struct opts *o, const char *why)
{
	if (why != NULL)
		fprintf(stderr, "%s: cannot reach keygated at %s: %s\n", progname,
		    o->sockpath, why);
	else
		fprintf(stderr, "%s: cannot reach keygated at %s: is it running? "
		    "(keygated run --data %s)\n", progname, o->sockpath, o->data);
	return EXIT_UNREACHABLE;
}

static int
read_full(int fd, void *buf, size_t len)
{
	uint8_t	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		n = recv(fd, p, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

/*
 * Connect to keygated and send req; each later read waits timeout seconds
 * at most. 0 with *fd set, or an exit code with its message printed.
 */
int
admin_request_send(const struct opts *o, json_t *req, unsigned timeout,
    int *fd)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { (time_t)timeout, 0 };
	uint8_t			 hdr[4];
	char			*body = NULL, msg[256];
	size_t			 len, off;
	ssize_t			 n;
	int			 ret = EXIT_UNREACHABLE;

	*fd = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(o->sockpath) >= sizeof(sun.sun_path)) {
		usage_error("the socket path %s is too long (at most %zu "
		    "bytes)", o->sockpath, sizeof(sun.sun_path) - 1);
		return EXIT_USAGE;
	}
	memcpy(sun.sun_path, o->sockpath, strlen(o->sockpath) + 1);
	if ((body = json_dumps(req, JSON_COMPACT)) == NULL) {
		usage_error("out of memory");
		return EXIT_USAGE;
	}
	len = strlen(body);
	if (len > ADMIN_FRAME_MAX) {
		usage_error("the request is longer than %d bytes",
		    ADMIN_FRAME_MAX);
		ret = EXIT_USAGE;
		goto done;
	}
	if ((*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		ret = admin_unreachable(o, strerror(errno));
		goto done;
	}
	setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(*fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == EACCES || errno == EPERM) {
			snprintf(msg, sizeof(msg), "permission denied: run as "
			    "keygated's user or root, or ask for your uid in "
			    "admin_uids");
			ret = admin_unreachable(o, msg);
		} else
			ret = admin_unreachable(o, NULL);
		goto done;
	}
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	/* A refusal may close before reading: on EPIPE read its reply anyway. */
	for (off = 0; off < len + 4; off += (size_t)n) {
		if (off < 4)
			n = send(*fd, hdr + off, 4 - off, MSG_NOSIGNAL);
		else
			n = send(*fd, body + off - 4, len + 4 - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n == -1)
			break;
	}
	ret = 0;
done:
	if (ret != 0 && *fd != -1) {
		close(*fd);
		*fd = -1;
	}
	free(body);
	return ret;
}

/*
 * Read one reply frame (a JSON object) from fd into *reply. 0, or
 * EXIT_UNREACHABLE with what went wrong in why (nothing printed).
 */
int
admin_reply_read(int fd, unsigned timeout, json_t **reply, char *why,
    size_t whylen)
{
	json_error_t	 jerr;
	uint8_t		 hdr[4];
	char		*buf = NULL;
	uint32_t	 rlen;
	int		 rc, ret = EXIT_UNREACHABLE;

	*reply = NULL;
	if ((rc = read_full(fd, hdr, 4)) != 1) {
		if (rc == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			snprintf(why, whylen, "no reply within %u s (raise "
			    "--timeout, or see keygated's log)", timeout);
		else
			snprintf(why, whylen, "the connection closed without a "
			    "reply: see keygated's log");
		return ret;
	}
	rlen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (rlen == 0 || rlen > ADMIN_REPLY_MAX || (buf = malloc(rlen)) == NULL) {
		snprintf(why, whylen, "a reply of a size this client cannot take");
		return ret;
	}
	if (read_full(fd, buf, rlen) != 1) {
		snprintf(why, whylen, "the reply was cut short: see keygated's "
		    "log");
		goto done;
	}
	if ((*reply = json_loadb(buf, rlen, 0, &jerr)) == NULL ||
	    !json_is_object(*reply)) {
		json_decref(*reply);
		*reply = NULL;
		snprintf(why, whylen, "the reply is not a JSON object: is that "
		    "keygated's admin socket?");
		goto done;
	}
	ret = 0;
done:
	free(buf);
	return ret;
}

/*
 * Send req and read the reply into *reply. 0, or an exit code with its
 * message printed.
 */
int
admin_call(const struct opts *o, json_t *req, unsigned timeout, json_t **reply)
{
	char	why[256];
	int	fd, ret;

	*reply = NULL;
	if ((ret = admin_request_send(o, req, timeout, &fd)) != 0)
		return ret;
	if ((ret = admin_reply_read(fd, timeout, reply, why,
	    sizeof(why))) != 0)
		admin_unreachable(o, why);
	close(fd);
	return ret;
}

/* One JSON value on a line of its own: see admin-cmd.h. */
void
print_json_line(json_t *v)
{
	char	*s;

	if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
		puts(s);
		free(s);
	}
}

/* Print the reply; the exit code. */
static int
reply_print(const struct opts *o, const struct command *c, json_t *reply)
{
	json_t	*result, *results, *v;
	size_t	 i;

	if (!json_is_true(json_object_get(reply, "ok"))) {
		fprintf(stderr, "%s: %s\n", progname, str_of(reply, "error",
		    "keygated refused the request without saying why"));
		if (o->json)
			print_json_line(reply);
		if (strcmp(str_of(reply, "reason", ""), "audit_broken") == 0)
			return EXIT_AUDIT_BROKEN;
		return EXIT_REFUSED;
	}
	result = json_object_get(reply, "result");
	results = json_object_get(reply, "results");
	if (o->json) {
		if (json_is_object(result))
			print_json_line(result);
		json_array_foreach(results, i, v)
			print_json_line(v);
	} else if (json_is_object(result)) {
		if (c->print != NULL)
			c->print(o, result);
		else
			print_json_line(result);
	} else if (json_is_array(results)) {
		if (c->print_list != NULL)
			c->print_list(o, results);
		else
			json_array_foreach(results, i, v)
				c->print(o, v);
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write the output: %s\n", progname,
		    strerror(errno));
		return EXIT_USAGE;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option	lo[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts		 o;
	const struct command	*c = NULL;
	json_t			*req = NULL, *reply = NULL;
	unsigned long		 n;
	unsigned		 timeout;
	size_t			 i;
	int			 ch, words = 0, ret = EXIT_USAGE;
	bool			 group_known = false;

	memset(&o, 0, sizeof(o));
	o.data = KG_DEFAULT_DATA_DIR;
	/* "+": global options end at the command. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o.data = optarg;
			break;
		case 's':
			o.socket = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 't':
			if (parse_uint("--timeout", optarg, 1, ADMIN_TIMEOUT_MAX,
			    &n) == -1)
				return EXIT_USAGE;
			o.timeout = (unsigned)n;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			bad_option(argv, ch);
			return EXIT_USAGE;
		}
	}
	if (argc - optind < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* "product add": a group and a name; "audit": a group alone. */
	for (i = 0; i < NCOMMANDS && c == NULL; i++) {
		if (strcmp(commands[i].group, argv[optind]) != 0)
			continue;
		group_known = true;
		if (commands[i].name == NULL)
			words = 1;
		else if (argc - optind >= 2 &&
		    strcmp(commands[i].name, argv[optind + 1]) == 0)
			words = 2;
		else
			continue;
		c = &commands[i];
	}
	if (c == NULL) {
		if (group_known && argc - optind == 1) {
			usage_error("%s: which one? see '%s --help'",
			    argv[optind], progname);
			return EXIT_USAGE;
		}
		if (group_known)
			usage_error("unknown command '%s %s'", argv[optind],
			    argv[optind + 1]);
		else
			usage_error("unknown command '%s'", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o.socket != NULL) {
		if (strlen(o.socket) >= sizeof(o.sockpath)) {
			usage_error("--socket: the path is too long");
			return EXIT_USAGE;
		}
		snprintf(o.sockpath, sizeof(o.sockpath), "%s", o.socket);
	} else
		socket_path_find(o.data, o.sockpath, sizeof(o.sockpath));

	if (c->name != NULL)
		snprintf(cmd_name, sizeof(cmd_name), "%s %s", c->group,
		    c->name);
	else
		snprintf(cmd_name, sizeof(cmd_name), "%s", c->group);
	/* The subcommand parses its own arguments; argv[0] is its last word. */
	argc -= optind + words - 1;
	argv += optind + words - 1;
	optind = 0;
	if (csv_command_find(c->op) != NULL) {
		ret = csv_command_find(c->op)(&o, argc, argv);
		goto done;
	}
	if ((req = json_object()) == NULL ||
	    json_object_set_new(req, "op", json_string(c->op)) == -1) {
		usage_error("out of memory");
		goto done;
	}
	if (args_build(c->args, argc, argv, req) == -1)
		goto done;

	timeout = o.timeout;
	if (timeout == 0)
		timeout = strcmp(c->op, "backup") == 0 ?
		    ADMIN_BACKUP_TIMEOUT : ADMIN_TIMEOUT;
	/* Its keys come in frames, each within the timeout. */
	if (strcmp(c->op, "key.issue") == 0) {
		ret = issue_run(&o, req, timeout);
		goto done;
	}
	if ((ret = admin_call(&o, req, timeout, &reply)) != 0)
		goto done;
	ret = reply_print(&o, c, reply);
done:
	json_decref(req);
	json_decref(reply);
	return ret;
}
