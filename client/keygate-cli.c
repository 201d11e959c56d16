/*
 * keygate: the product-side command line, a thin shell over libkeygate.
 * It parses options, reads key and public key files, calls one library
 * function per subcommand, prints the result (one readable line, or one
 * compact JSON object with --json) and maps it to the exit codes of SPEC
 * section 5. When the server hands back a re-signed key and the key came
 * from a file, the file is replaced atomically (same directory, same mode,
 * fsync, rename). With --state FILE the library keeps its replay mark and
 * the last verdicts in FILE, and a check that reaches no server prints the
 * last verdict marked offline. No protocol or verification logic lives
 * here.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "keygate.h"
#include "text.h"

#define CLI_DEFAULT_SERVER	"127.0.0.1:7447"
#define CLI_SERVERS_MAX		16
#define CLI_PUBKEYS_MAX		16
#define CLI_FILE_MAX		(64 * 1024)	/* key and public key files are small */

/* Exit codes (SPEC section 5). */
#define EXIT_OK_		0	/* update, current, renewed, valid */
#define EXIT_USAGE		1
#define EXIT_SERVER		2	/* cannot reach or trust the server */
#define EXIT_FALLBACK		10
#define EXIT_DEMO		11	/* also: verify of an invalid key */
#define EXIT_REFUSED		12

struct cli {
	const char	*server[CLI_SERVERS_MAX];
	size_t		 nserver;
	const char	*pubkey[CLI_PUBKEYS_MAX];
	size_t		 npubkey;
	bool		 json;
	int		 timeout_ms;	/* 0 = library defaults */
	int		 deadline_ms;	/* 0 = no total deadline */
	const char	*state;		/* --state FILE or NULL */
};

/* A --key argument: the key text and, when it came from a file, its path. */
struct cli_key {
	char		*text;
	const char	*path;		/* NULL when given as text */
};

struct cli_cmd {
	const char	*name;
	int		(*fn)(struct cli *, int, char **);
	const char	*usage;
};

static int	cmd_check(struct cli *, int, char **);
static int	cmd_status(struct cli *, int, char **);
static int	cmd_activate(struct cli *, int, char **);
static int	cmd_verify(struct cli *, int, char **);

static const struct cli_cmd cli_cmds[] = {
	{ "check", cmd_check,
	    "check --key FILE|TEXT --product CODE --version V [--target V]" },
	{ "status", cmd_status, "status --key FILE|TEXT" },
	{ "activate", cmd_activate, "activate --key FILE --act NUMBER" },
	{ "verify", cmd_verify, "verify --key FILE|TEXT --pubkey FILE" },
};

static void
usage(FILE *f)
{
	size_t	i;

	fprintf(f, "usage: keygate [--server HOST:PORT]... [--pubkey FILE]... "
	    "[--json] [--timeout MS]\n"
	    "               [--deadline MS] [--state FILE] COMMAND ...\n");
	for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		fprintf(f, "       keygate [options] %s\n", cli_cmds[i].usage);
	fprintf(f, "--server defaults to %s and may be given several times "
	    "(tried in order);\n--pubkey names a file of \"KGP1.\" lines "
	    "('keygated pubkey' prints them);\n--deadline bounds one request "
	    "across all servers; --state keeps the replay mark and the last\n"
	    "verdicts in FILE, and check answers from them, marked offline, "
	    "when no server answers.\n"
	    "check exits 0 update/current, 10 fallback, 11 demo, 1 usage, "
	    "2 server unreachable or untrusted.\n", CLI_DEFAULT_SERVER);
}

/* One line on stderr, prefixed with the program name. */
static void __attribute__((format(printf, 1, 2)))
cli_err(const char *fmt, ...)
{
	va_list	ap;

	fputs("keygate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The usage line of a subcommand as one error line; returns EXIT_USAGE. */
static int
cli_usage_err(const char *cmd, const char *what)
{
	size_t	i;

	for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++) {
		if (strcmp(cli_cmds[i].name, cmd) == 0)
			break;
	}
	cli_err("%s: usage: keygate %s", what,
	    i < sizeof(cli_cmds) / sizeof(cli_cmds[0]) ? cli_cmds[i].usage : cmd);
	return EXIT_USAGE;
}

/* Read a whole small file into a NUL-terminated malloc'd string. 0 or -1 (errno set). */
static int
cli_file_read(const char *path, char **out)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len = 0;
	int		 fd, saved;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if ((buf = malloc(CLI_FILE_MAX + 1)) == NULL)
		goto fail;
	if (text_fd_read(fd, buf, CLI_FILE_MAX, &len) == -1)
		goto fail;
	buf[len] = '\0';
	close(fd);
	*out = buf;
	return 0;
 fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Resolve a --key argument: the contents of the file it names when that is
 * readable, else the text itself when it looks like a key ("KG1." after
 * blanks). need_file: only a file will do (activate). EXIT_OK_ or EXIT_USAGE.
 */
static int
cli_key_load(const char *arg, bool need_file, struct cli_key *k)
{
	const char	*s = arg;
	int		 saved;

	k->text = NULL;
	k->path = NULL;
	if (cli_file_read(arg, &k->text) == 0) {
		k->path = arg;
		return EXIT_OK_;
	}
	saved = errno;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (need_file || strncmp(s, "KG1.", 4) != 0) {
		cli_err("cannot read key file %s: %s: give the file the vendor "
		    "sent%s", arg, strerror(saved),
		    need_file ? "" : ", or the key text itself (KG1....)");
		return EXIT_USAGE;
	}
	if ((k->text = strdup(arg)) == NULL) {
		cli_err("out of memory");
		return EXIT_USAGE;
	}
	return EXIT_OK_;
}

/*
 * Replace path with text + "\n" atomically: path.tmp in the same directory
 * with the same mode, fsync, rename over path, fsync the directory. A
 * symbolic link is followed: the file it names is replaced. 0 or -1.
 */
static int
cli_key_save(const char *path, const char *text)
{
	struct stat	 st;
	char		 real[PATH_MAX], tmp[PATH_MAX + 8], dir[PATH_MAX];
	size_t		 len = strlen(text), off = 0;
	ssize_t		 n;
	int		 fd = -1, dfd, saved;

	if (realpath(path, real) == NULL || stat(real, &st) == -1)
		return -1;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", real) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    st.st_mode & 07777);
	if (fd == -1)
		return -1;
	if (fchmod(fd, st.st_mode & 07777) == -1)
		goto fail;
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, real) == -1)
		goto fail;
	memcpy(dir, real, sizeof(dir));
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
 fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

/* The --server list as one text for messages. */
static void
cli_servers_text(const struct cli *cli, char *buf, size_t len)
{
	size_t	i, off = 0;
	int	n;

	buf[0] = '\0';
	for (i = 0; i < cli->nserver && off < len; i++) {
		n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
		    cli->server[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/*
 * One line on stderr for a library failure of a server request, saying
 * what to do. Returns the exit code: EXIT_USAGE for bad arguments,
 * EXIT_SERVER otherwise.
 */
static int
cli_request_err(const struct cli *cli, const char *cmd, int rc)
{
	char	srv[512];

	cli_servers_text(cli, srv, sizeof(srv));
	switch (rc) {
	case KG_ERR_INVAL:
		return cli_usage_err(cmd, "invalid argument (check the key, "
		    "product code, versions and act number)");
	case KG_ERR_NOMEM:
		cli_err("%s", kg_strerror(rc));
		return EXIT_SERVER;
	case KG_ERR_TRUST:
		cli_err("%s: check the --pubkey file", kg_strerror(rc));
		return EXIT_USAGE;
	case KG_ERR_CONNECT:
	case KG_ERR_TIMEOUT:
	case KG_ERR_CLOSED:
		cli_err("cannot reach the keygate server (%s): %s: check --server, "
		    "the network, and that keygated is running", srv,
		    kg_strerror(rc));
		return EXIT_SERVER;
	case KG_ERR_UNTRUSTED:
		cli_err("cannot trust the reply from %s: %s: check that --pubkey "
		    "holds the vendor's public key ('keygated pubkey')", srv,
		    kg_strerror(rc));
		return EXIT_SERVER;
	default:
		cli_err("refusing the reply from %s: %s: something between this "
		    "machine and the server alters traffic; check --server", srv,
		    kg_strerror(rc));
		return EXIT_SERVER;
	}
}

/* A client with the --server, --pubkey and --timeout options applied, or NULL. */
static kg_client *
cli_client_new(const struct cli *cli, int *exitcode)
{
	kg_client	*c = NULL;
	size_t		 i;
	int		 rc;

	*exitcode = EXIT_USAGE;
	if (cli->npubkey == 0) {
		cli_err("no --pubkey FILE given: the vendor's public key is "
		    "needed to trust the server ('keygated pubkey' prints it)");
		return NULL;
	}
	if ((rc = kg_client_new(&c)) != KG_OK) {
		cli_err("%s", kg_strerror(rc));
		*exitcode = EXIT_SERVER;
		return NULL;
	}
	for (i = 0; i < cli->nserver; i++) {
		if (kg_client_add_server(c, cli->server[i]) != KG_OK) {
			cli_err("bad --server %s: give HOST:PORT or [IPV6]:PORT",
			    cli->server[i]);
			goto fail;
		}
	}
	for (i = 0; i < cli->npubkey; i++) {
		if ((rc = kg_client_trust_file(c, cli->pubkey[i])) != KG_OK) {
			cli_err("cannot use --pubkey %s: %s", cli->pubkey[i],
			    kg_strerror(rc));
			goto fail;
		}
	}
	if (cli->timeout_ms > 0 &&
	    kg_client_set_timeouts(c, cli->timeout_ms, cli->timeout_ms) != KG_OK) {
		cli_err("bad --timeout: give milliseconds, 1 to 3600000");
		goto fail;
	}
	if (cli->deadline_ms > 0 &&
	    kg_client_set_deadline(c, cli->deadline_ms) != KG_OK) {
		cli_err("bad --deadline: give milliseconds, 1 to 3600000");
		goto fail;
	}
	if (cli->state != NULL &&
	    (rc = kg_client_set_state_file(c, cli->state)) != KG_OK) {
		cli_err("cannot use --state %s: %s: remove the file to start "
		    "afresh", cli->state, kg_strerror(rc));
		goto fail;
	}
	return c;
 fail:
	kg_client_free(c);
	return NULL;
}

/* ---- output ------------------------------------------------------------- */

static void
json_set_str(json_t *o, const char *name, const char *s)
{
	json_object_set_new(o, name, s != NULL ? json_string(s) : json_null());
}

/* Print o as one compact line on stdout and drop it. */
static void
json_print(json_t *o)
{
	char	*s;

	if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
		puts(s);
		free(s);
	} else
		cli_err("out of memory");
	json_decref(o);
}

/* The quote of r as an object, or null. */
static json_t *
json_quote(const kg_result *r)
{
	json_t	*q;

	if (!kg_result_has_quote(r))
		return json_null();
	q = json_object();
	json_set_str(q, "kind", kg_result_quote_kind(r));
	json_set_str(q, "price", kg_result_quote_price(r));
	json_set_str(q, "new_expiry", kg_result_quote_new_expiry(r));
	return q;
}

/* Fields present only when set: detail, retry_after, test_clock, offline, age, rollback. */
static void
json_extras(json_t *o, const kg_result *r)
{
	if (kg_result_offline(r)) {
		json_object_set_new(o, "offline", json_true());
		json_object_set_new(o, "age",
		    json_integer((json_int_t)kg_result_age(r)));
	}
	if (kg_result_rollback(r))
		json_object_set_new(o, "rollback", json_true());
	if (kg_result_detail(r) != NULL)
		json_set_str(o, "detail", kg_result_detail(r));
	if (kg_result_retry_after(r) > 0)
		json_object_set_new(o, "retry_after",
		    json_integer(kg_result_retry_after(r)));
	if (kg_result_test_clock(r))
		json_object_set_new(o, "test_clock", json_true());
}

/* A warning when the server runs on a test clock (its dates are not real). */
static void
cli_test_clock_warn(const kg_result *r)
{
	if (kg_result_test_clock(r))
		cli_err("warning: the server runs on a test clock: its dates are "
		    "not real ones");
}

/*
 * Warnings about the library's state: an offline answer (no server
 * answered), a clock set back, a state file that could not be written.
 */
static void
cli_state_warn(const struct cli *cli, const kg_client *c, const kg_result *r)
{
	char	srv[512];
	int	rc;

	if (kg_result_offline(r)) {
		cli_servers_text(cli, srv, sizeof(srv));
		cli_err("warning: no keygate server answered (%s): offline answer "
		    "from the last verdict, %lld seconds old", srv,
		    (long long)kg_result_age(r));
	}
	if (kg_result_rollback(r))
		cli_err("warning: this machine's clock is behind the newest "
		    "server time seen: the clock was set back%s",
		    kg_result_offline(r) ? "; the offline answer uses that "
		    "server time" : "");
	if (cli->state != NULL && (rc = kg_client_state_error(c)) != KG_OK)
		cli_err("warning: could not write --state %s: %s: check the "
		    "directory", cli->state, kg_strerror(rc));
}

/* " (renewal: grace 1998.00 extends support to 2027-05-10)" or "". */
static void
cli_quote_text(const kg_result *r, char *buf, size_t len)
{
	buf[0] = '\0';
	if (kg_result_has_quote(r))
		snprintf(buf, len, "; renewal: %s %s extends support to %s",
		    kg_result_quote_kind(r), kg_result_quote_price(r),
		    kg_result_quote_new_expiry(r) ? kg_result_quote_new_expiry(r) : "?");
}

/* What a demo reason means for the user, as the rest of a line. */
static void
cli_demo_text(const kg_result *r, char *buf, size_t len)
{
	const char	*reason = kg_result_reason(r), *detail = kg_result_detail(r);
	const char	*eligible = kg_result_eligible(r);
	const char	*lexp = kg_result_license_expiry(r);

	if (strcmp(reason, "not_eligible") == 0) {
		if (eligible != NULL)
			snprintf(buf, len, "this key may run up to %s", eligible);
		else
			snprintf(buf, len, "this key may run no release yet");
	} else if (strcmp(reason, "license_expired") == 0)
		snprintf(buf, len, "the license ended %s: have the key extended "
		    "to keep working", lexp ? lexp : "");
	else if (strcmp(reason, "revoked") == 0 || strcmp(reason, "suspended") == 0)
		snprintf(buf, len, "the license is %s%s%s: contact the vendor",
		    reason, detail ? ": " : "", detail ? detail : "");
	else if (strcmp(reason, "bad_key") == 0)
		snprintf(buf, len, "the key is invalid%s%s", detail ? ": " : "",
		    detail ? detail : "");
	else if (strcmp(reason, "wrong_product") == 0)
		snprintf(buf, len, "this key is for another product");
	else if (strcmp(reason, "unknown_product") == 0)
		snprintf(buf, len, "the server does not know this product");
	else if (strcmp(reason, "not_activated") == 0)
		snprintf(buf, len, "the key is not activated yet");
	else
		snprintf(buf, len, "%s", detail ? detail : "run in demo mode");
}

/* The check verdict as one readable line on stdout. */
static void
cli_check_print(const kg_result *r, const char *version)
{
	const char	*verdict = kg_result_verdict(r);
	const char	*eligible = kg_result_eligible(r);
	const char	*latest = kg_result_latest(r);
	const char	*sexp = kg_result_support_expiry(r);
	char		 quote[160], demo[512];

	cli_quote_text(r, quote, sizeof(quote));
	if (strcmp(verdict, "update") == 0) {
		if (latest != NULL && eligible != NULL && strcmp(latest, eligible) != 0)
			printf("update: install %s; %s needs renewed support "
			    "(support ended %s)%s\n", eligible, latest,
			    sexp ? sexp : "?", quote);
		else
			printf("update: install %s\n", eligible ? eligible : "?");
	} else if (strcmp(verdict, "current") == 0)
		printf("current: %s is the newest release\n", version);
	else if (strcmp(verdict, "fallback") == 0)
		printf("fallback: stay on %s; %s needs renewed support "
		    "(support ended %s)%s\n", version, latest ? latest : "?",
		    sexp ? sexp : "?", quote);
	else {
		cli_demo_text(r, demo, sizeof(demo));
		printf("demo: %s \xe2\x80\x94 %s%s\n", kg_result_reason(r), demo,
		    quote);
	}
}

/*
 * Handle a re-signed key: save it over the key file, or show it when the
 * key was given as text. The library has verified it already.
 */
static void
cli_key_update(const struct cli *cli, const struct cli_key *k,
    const kg_result *r)
{
	const char	*key = kg_result_key(r);

	if (key == NULL)
		return;
	if (k->path == NULL) {
		if (!cli->json)
			cli_err("the server re-signed this key; keep the new "
			    "key: %s", key);
		return;
	}
	if (cli_key_save(k->path, key) == -1)
		cli_err("could not save the re-signed key to %s: %s; the server "
		    "has recorded it; save this key by hand: %s", k->path,
		    strerror(errno), key);
	else if (!cli->json)
		cli_err("saved the re-signed key to %s", k->path);
}

/* ---- subcommands -------------------------------------------------------- */

/* The reasons an Error reply gives that are protocol failures, not refusals. */
static bool
cli_reason_is_failure(const char *reason)
{
	static const char	*const failures[] = { "bad_request",
	    "protocol_version", "frame_too_large", "storage_full", "internal",
	    "bad_version" };
	size_t			 i;

	for (i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
		if (strcmp(reason, failures[i]) == 0)
			return true;
	}
	return false;
}

/* An Error reply as one line on stderr; EXIT_SERVER. */
static int
cli_server_err(const kg_result *r)
{
	const char	*detail = kg_result_detail(r);

	cli_err("the server refused the request: %s%s%s",
	    kg_result_error_reason(r), detail ? ": " : "", detail ? detail : "");
	return EXIT_SERVER;
}

static int
cmd_check(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "product", required_argument, NULL, 'p' },
		{ "version", required_argument, NULL, 'v' },
		{ "target", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_key	 k = { NULL, NULL };
	kg_client	*c = NULL;
	kg_result	*r = NULL;
	const char	*key = NULL, *product = NULL, *version = NULL;
	const char	*target = NULL, *verdict;
	json_t		*o;
	int		 ch, rc, ex;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': key = optarg; break;
		case 'p': product = optarg; break;
		case 'v': version = optarg; break;
		case 't': target = optarg; break;
		default:
			return cli_usage_err("check", "unknown option");
		}
	}
	if (optind != argc || key == NULL || product == NULL || version == NULL)
		return cli_usage_err("check", "check needs --key, --product and "
		    "--version");
	if ((ex = cli_key_load(key, false, &k)) != EXIT_OK_)
		return ex;
	if ((c = cli_client_new(cli, &ex)) == NULL)
		goto out;
	rc = kg_check(c, k.text, product, version, target, &r);
	if (rc == KG_ERR_SERVER) {
		ex = cli_server_err(r);
		goto out;
	}
	if (rc != KG_OK) {
		ex = cli_request_err(cli, "check", rc);
		goto out;
	}
	cli_test_clock_warn(r);
	cli_state_warn(cli, c, r);
	verdict = kg_result_verdict(r);
	if (verdict == NULL)
		verdict = "";
	if (strcmp(verdict, "update") == 0 || strcmp(verdict, "current") == 0)
		ex = EXIT_OK_;
	else if (strcmp(verdict, "fallback") == 0)
		ex = EXIT_FALLBACK;
	else if (strcmp(verdict, "demo") == 0)
		ex = EXIT_DEMO;
	else {
		cli_err("the server answered with no known verdict (\"%s\"): "
		    "update keygate", verdict);
		ex = EXIT_SERVER;
		goto out;
	}
	cli_key_update(cli, &k, r);
	if (cli->json) {
		o = json_object();
		json_set_str(o, "verdict", verdict);
		json_set_str(o, "reason", kg_result_reason(r));
		json_set_str(o, "eligible", kg_result_eligible(r));
		json_set_str(o, "latest", kg_result_latest(r));
		json_set_str(o, "support_expiry", kg_result_support_expiry(r));
		json_set_str(o, "license_expiry", kg_result_license_expiry(r));
		json_object_set_new(o, "days_left",
		    json_integer(kg_result_days_left(r)));
		json_object_set_new(o, "quote", json_quote(r));
		json_set_str(o, "regno", kg_result_regno(r));
		if (kg_result_key(r) != NULL)
			json_set_str(o, "key", kg_result_key(r));
		json_extras(o, r);
		json_print(o);
	} else
		cli_check_print(r, target != NULL ? target : version);
 out:
	kg_result_free(r);
	kg_client_free(c);
	free(k.text);
	return ex;
}

static int
cmd_status(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_key	 k = { NULL, NULL };
	kg_client	*c = NULL;
	kg_result	*r = NULL;
	const char	*key = NULL, *sexp, *lexp, *state;
	char		 quote[160], demo[512];
	json_t		*o;
	int		 ch, rc, ex;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'k')
			return cli_usage_err("status", "unknown option");
		key = optarg;
	}
	if (optind != argc || key == NULL)
		return cli_usage_err("status", "status needs --key");
	if ((ex = cli_key_load(key, false, &k)) != EXIT_OK_)
		return ex;
	if ((c = cli_client_new(cli, &ex)) == NULL)
		goto out;
	rc = kg_status(c, k.text, &r);
	if (rc == KG_ERR_SERVER) {
		ex = cli_server_err(r);
		goto out;
	}
	if (rc != KG_OK) {
		ex = cli_request_err(cli, "status", rc);
		goto out;
	}
	cli_test_clock_warn(r);
	cli_state_warn(cli, c, r);
	ex = EXIT_OK_;
	cli_key_update(cli, &k, r);
	sexp = kg_result_support_expiry(r);
	lexp = kg_result_license_expiry(r);
	state = kg_result_state(r);
	if (cli->json) {
		o = json_object();
		json_set_str(o, "state", state);
		json_set_str(o, "reason", kg_result_reason(r));
		json_set_str(o, "support_expiry", sexp);
		json_set_str(o, "license_expiry", lexp);
		json_object_set_new(o, "days_left",
		    json_integer(kg_result_days_left(r)));
		json_object_set_new(o, "quote", json_quote(r));
		json_set_str(o, "regno", kg_result_regno(r));
		json_set_str(o, "product", kg_result_product(r));
		json_set_str(o, "edition", kg_result_edition(r));
		json_set_str(o, "licensee", kg_result_licensee(r));
		if (kg_result_key(r) != NULL)
			json_set_str(o, "key", kg_result_key(r));
		json_extras(o, r);
		json_print(o);
	} else {
		cli_quote_text(r, quote, sizeof(quote));
		if (state == NULL) {
			cli_demo_text(r, demo, sizeof(demo));
			printf("%s \xe2\x80\x94 %s\n", kg_result_reason(r), demo);
		} else if (sexp == NULL)
			printf("%s: %s; support not started yet%s\n",
			    state ? state : "unknown", kg_result_reason(r), quote);
		else
			printf("%s: %s; support %s %s (%d days left); license %s%s%s\n",
			    state ? state : "unknown", kg_result_reason(r),
			    kg_result_days_left(r) < 0 ? "ended" : "until", sexp,
			    kg_result_days_left(r) < 0 ? 0 : kg_result_days_left(r),
			    lexp ? "until " : "perpetual", lexp ? lexp : "", quote);
	}
 out:
	kg_result_free(r);
	kg_client_free(c);
	free(k.text);
	return ex;
}

/* What to do about an activation refusal, as the rest of a line. */
static void
cli_refusal_text(const kg_result *r, char *buf, size_t len)
{
	const char	*reason = kg_result_reason(r), *detail = kg_result_detail(r);
	static const struct {
		const char	*reason;
		const char	*text;
	} texts[] = {
		{ "act_unknown", "the vendor has not registered this act number: check it, or ask the vendor" },
		{ "act_used", "this act number was already used to renew another key: ask the vendor for a new act" },
		{ "act_void", "the vendor has voided this act: ask the vendor" },
		{ "act_wrong_product", "this act is for another product" },
		{ "act_wrong_edition", "this act is for another edition" },
		{ "act_wrong_licensee", "this act is for another licensee" },
		{ "subscription_required", "renewal needs an active subscription of the licensee: renew it first" },
		{ "trial_not_renewable", "a trial key cannot be renewed: buy a license" },
		{ "revoked", "the license is revoked: contact the vendor" },
		{ "suspended", "the license is suspended: contact the vendor" },
		{ "bad_key", "the key is invalid: use the key file the vendor sent" },
	};
	size_t		 i;

	if (strcmp(reason, "rate_limited") == 0) {
		snprintf(buf, len, "too many unknown act numbers: try again in "
		    "%d seconds", kg_result_retry_after(r));
		return;
	}
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (strcmp(reason, texts[i].reason) == 0) {
			snprintf(buf, len, "%s", texts[i].text);
			return;
		}
	}
	snprintf(buf, len, "%s", detail ? detail : "ask the vendor");
}

static int
cmd_activate(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "act", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_key	 k = { NULL, NULL };
	kg_client	*c = NULL;
	kg_result	*r = NULL;
	const char	*key = NULL, *act = NULL, *reason;
	char		 why[256];
	json_t		*o, *rn;
	int		 ch, rc, ex;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': key = optarg; break;
		case 'a': act = optarg; break;
		default:
			return cli_usage_err("activate", "unknown option");
		}
	}
	if (optind != argc || key == NULL || act == NULL)
		return cli_usage_err("activate", "activate needs --key and --act");
	if ((ex = cli_key_load(key, true, &k)) != EXIT_OK_)
		return ex;
	if ((c = cli_client_new(cli, &ex)) == NULL)
		goto out;
	rc = kg_activate(c, k.text, act, &r);
	if (rc == KG_ERR_SERVER && cli_reason_is_failure(kg_result_reason(r))) {
		ex = cli_server_err(r);
		goto out;
	}
	if (rc != KG_OK && rc != KG_ERR_SERVER) {
		ex = cli_request_err(cli, "activate", rc);
		goto out;
	}
	cli_test_clock_warn(r);
	cli_state_warn(cli, c, r);
	reason = kg_result_reason(r);
	ex = rc == KG_OK && strcmp(reason, "ok") == 0 ? EXIT_OK_ : EXIT_REFUSED;
	if (ex == EXIT_OK_)
		cli_key_update(cli, &k, r);
	else {
		cli_refusal_text(r, why, sizeof(why));
		cli_err("renewal refused (%s): %s", reason, why);
	}
	if (cli->json) {
		o = json_object();
		json_set_str(o, "reason", reason);
		json_set_str(o, "support_expiry", kg_result_support_expiry(r));
		json_set_str(o, "license_expiry", kg_result_license_expiry(r));
		if (kg_result_has_renewal(r)) {
			rn = json_object();
			json_set_str(rn, "kind", kg_result_renewal_kind(r));
			json_set_str(rn, "price", kg_result_renewal_price(r));
			json_set_str(rn, "new_expiry", kg_result_renewal_new_expiry(r));
			json_object_set_new(rn, "months",
			    json_integer(kg_result_renewal_months(r)));
			json_set_str(rn, "act", kg_result_renewal_act(r));
		} else
			rn = json_null();
		json_object_set_new(o, "renewal", rn);
		json_set_str(o, "regno", kg_result_regno(r));
		if (kg_result_key(r) != NULL)
			json_set_str(o, "key", kg_result_key(r));
		json_extras(o, r);
		json_print(o);
	} else if (ex == EXIT_OK_) {
		if (kg_result_has_renewal(r))
			printf("renewed: support until %s (%s renewal, %s)\n",
			    kg_result_support_expiry(r) ? kg_result_support_expiry(r) : "?",
			    kg_result_renewal_kind(r), kg_result_renewal_price(r));
		else
			printf("renewed: support until %s\n",
			    kg_result_support_expiry(r) ? kg_result_support_expiry(r) : "?");
	}
 out:
	kg_result_free(r);
	kg_client_free(c);
	free(k.text);
	return ex;
}

/* Concatenate the --pubkey files into one text. NULL on failure (reported). */
static char *
cli_pubkeys_read(const struct cli *cli)
{
	char	*all = NULL, *one, *p;
	size_t	 len = 0, n, i;

	for (i = 0; i < cli->npubkey; i++) {
		if (cli_file_read(cli->pubkey[i], &one) == -1) {
			cli_err("cannot read --pubkey %s: %s", cli->pubkey[i],
			    strerror(errno));
			free(all);
			return NULL;
		}
		n = strlen(one);
		if ((p = realloc(all, len + n + 2)) == NULL) {
			cli_err("out of memory");
			free(one);
			free(all);
			return NULL;
		}
		all = p;
		memcpy(all + len, one, n);
		all[len + n] = '\n';
		all[len + n + 1] = '\0';
		len += n + 1;
		free(one);
	}
	return all;
}

static int
cmd_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "pubkey", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_key	 k = { NULL, NULL };
	kg_result	*r = NULL;
	const char	*key = NULL, *sexp, *lexp;
	char		*pub = NULL;
	json_t		*o;
	int		 ch, rc, ex;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			key = optarg;
			break;
		case 'P':
			if (cli->npubkey == CLI_PUBKEYS_MAX)
				return cli_usage_err("verify", "too many --pubkey");
			cli->pubkey[cli->npubkey++] = optarg;
			break;
		default:
			return cli_usage_err("verify", "unknown option");
		}
	}
	if (optind != argc || key == NULL || cli->npubkey == 0)
		return cli_usage_err("verify", "verify needs --key and --pubkey");
	if ((ex = cli_key_load(key, false, &k)) != EXIT_OK_)
		return ex;
	ex = EXIT_USAGE;
	if ((pub = cli_pubkeys_read(cli)) == NULL)
		goto out;
	rc = kg_verify_offline(k.text, pub, &r);
	if (rc == KG_ERR_KEY) {
		cli_err("the key is invalid: %s", kg_result_detail(r));
		if (cli->json) {
			o = json_object();
			json_object_set_new(o, "valid", json_false());
			json_set_str(o, "reason", kg_result_reason(r));
			json_set_str(o, "detail", kg_result_detail(r));
			json_print(o);
		}
		ex = EXIT_DEMO;
		goto out;
	}
	if (rc == KG_ERR_TRUST) {
		cli_err("%s: check the --pubkey file", kg_strerror(rc));
		goto out;
	}
	if (rc != KG_OK) {
		cli_err("%s", kg_strerror(rc));
		goto out;
	}
	ex = EXIT_OK_;
	sexp = kg_result_support_expiry(r);
	lexp = kg_result_license_expiry(r);
	if (cli->json) {
		o = json_object();
		json_object_set_new(o, "valid", json_true());
		json_set_str(o, "product", kg_result_product(r));
		json_set_str(o, "edition", kg_result_edition(r));
		json_set_str(o, "regno", kg_result_regno(r));
		json_set_str(o, "licensee", kg_result_licensee(r));
		json_object_set_new(o, "serial",
		    json_integer((json_int_t)kg_result_serial(r)));
		json_set_str(o, "created", kg_result_created(r));
		json_set_str(o, "support_expiry", sexp);
		if (sexp == NULL)
			json_object_set_new(o, "support_months",
			    json_integer(kg_result_support_months(r)));
		json_set_str(o, "license_expiry", lexp);
		json_object_set_new(o, "trial", json_boolean(kg_result_trial(r)));
		json_object_set_new(o, "revision",
		    json_integer(kg_result_revision(r)));
		json_print(o);
	} else {
		printf("valid: %s %s, regno %s, licensee %s, created %s; ",
		    kg_result_product(r), kg_result_edition(r) ?
		    kg_result_edition(r) : "", kg_result_regno(r) ?
		    kg_result_regno(r) : "-", kg_result_licensee(r) ?
		    kg_result_licensee(r) : "-", kg_result_created(r) ?
		    kg_result_created(r) : "-");
		if (sexp != NULL)
			printf("support until %s", sexp);
		else
			printf("support for %u months from first activation",
			    kg_result_support_months(r));
		printf("; license %s%s%s\n", lexp ? "until " : "perpetual",
		    lexp ? lexp : "", kg_result_trial(r) ? "; trial" : "");
	}
 out:
	kg_result_free(r);
	free(pub);
	free(k.text);
	return ex;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "pubkey", required_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "deadline", required_argument, NULL, 'D' },
		{ "state", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli	 cli;
	char		*end;
	long		 ms;
	size_t		 i;
	int		 ch;

	memset(&cli, 0, sizeof(cli));
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (cli.nserver == CLI_SERVERS_MAX) {
				cli_err("too many --server options (%d at most)",
				    CLI_SERVERS_MAX);
				return EXIT_USAGE;
			}
			cli.server[cli.nserver++] = optarg;
			break;
		case 'P':
			if (cli.npubkey == CLI_PUBKEYS_MAX) {
				cli_err("too many --pubkey options (%d at most)",
				    CLI_PUBKEYS_MAX);
				return EXIT_USAGE;
			}
			cli.pubkey[cli.npubkey++] = optarg;
			break;
		case 'j':
			cli.json = true;
			break;
		case 'T':
			errno = 0;
			ms = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    ms < 1 || ms > 3600000) {
				cli_err("bad --timeout %s: give milliseconds, "
				    "1 to 3600000", optarg);
				return EXIT_USAGE;
			}
			cli.timeout_ms = (int)ms;
			break;
		case 'D':
			errno = 0;
			ms = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    ms < 1 || ms > 3600000) {
				cli_err("bad --deadline %s: give milliseconds, "
				    "1 to 3600000", optarg);
				return EXIT_USAGE;
			}
			cli.deadline_ms = (int)ms;
			break;
		case 'S':
			cli.state = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK_;
		default:
			cli_err("unknown or incomplete option %s: see 'keygate "
			    "--help'", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_err("no command given: see 'keygate --help'");
		return EXIT_USAGE;
	}
	if (cli.nserver == 0)
		cli.server[cli.nserver++] = CLI_DEFAULT_SERVER;
	argc -= optind;
	argv += optind;
	for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++) {
		if (strcmp(argv[0], cli_cmds[i].name) == 0) {
			optind = 0;	/* glibc: restart scanning at argv[1] */
			return cli_cmds[i].fn(&cli, argc, argv);
		}
	}
	cli_err("unknown command %s: see 'keygate --help'", argv[0]);
	return EXIT_USAGE;
}
