/*
 * What keygate-admin's files share (private to client/admin-*.c): the
 * global options, the one-line error helper, and the printers of results
 * as readable text. admin-cli.c owns main, the subcommand table, argument
 * checks and the socket client; admin-cmd-print.c prints the catalog and
 * keys; admin-cmd-renew.c prints acts, subscriptions, renewals and state
 * changes of keys, the audit log and backups; admin-cmd-csv.c runs key
 * import and key export (CSV files), which take more than one request;
 * admin-cmd-signing.c prints signing keys, rotations and compromises;
 * admin-cmd-issue.c runs key issue, whose keys come in several frames.
 */
#ifndef KG_ADMIN_CMD_H
#define KG_ADMIN_CMD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Exit codes (see admin-cli.c). */
#define EXIT_USAGE		1
#define EXIT_UNREACHABLE	2
#define EXIT_REFUSED		3
#define EXIT_AUDIT_BROKEN	4

struct opts {
	const char	*data;
	const char	*socket;
	char		 sockpath[PATH_MAX];
	bool		 json;
	unsigned	 timeout;	/* 0: the default for the command */
};

/* Prints one result (or, for list printers, an array of results). */
typedef void	(*print_fn)(const struct opts *, json_t *);

/* One line on stderr: "keygate-admin: ..." */
void	usage_error(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/*
 * Send req to keygated and read the reply into *reply (admin-cli.c). 0, or
 * an exit code with its message printed.
 */
int	admin_call(const struct opts *o, json_t *req, unsigned timeout,
	    json_t **reply);

/*
 * admin_call in two halves, for replies of several frames (admin-cli.c):
 * admin_request_send connects and sends req (0 with *fd, or an exit code
 * with its message printed); admin_reply_read reads one frame into *reply
 * within timeout seconds (0, or EXIT_UNREACHABLE with why set and nothing
 * printed); admin_unreachable prints "cannot reach keygated at PATH: why"
 * and returns EXIT_UNREACHABLE.
 */
int	admin_request_send(const struct opts *o, json_t *req, unsigned timeout,
	    int *fd);
int	admin_reply_read(int fd, unsigned timeout, json_t **reply, char *why,
	    size_t whylen);
int	admin_unreachable(const struct opts *o, const char *why);

/*
 * admin-cmd-issue.c: key issue, its request req built and checked; the
 * keys are streamed, printed as they arrive. Returns the exit code.
 */
int	issue_run(const struct opts *o, json_t *req, unsigned timeout);

/*
 * A command that runs itself (its own arguments, requests and output):
 * argv[0] is its last word. Returns the exit code.
 */
typedef int	(*csv_run_fn)(const struct opts *, int argc, char **argv);

/* admin-cmd-csv.c: the runner of key import and key export, by op name. */
csv_run_fn	csv_command_find(const char *op);

/* A string member of o, or none when it is missing or not a string. */
const char	*str_of(json_t *o, const char *name, const char *none);

/* An integer member of o (0 when missing). */
long long	 int_of(json_t *o, const char *name);

/* Rows of text printed in columns two spaces apart (at most TABLE_COLS_MAX). */
#define TABLE_COLS_MAX		10

struct table {
	size_t	  ncols;
	size_t	  nrows;	/* the header included */
	size_t	  cap;
	char	**cell;		/* nrows * ncols strings */
};

/* Add a row of t->ncols strings (copied); exits on out of memory. */
void	table_row(struct table *t, const char *const *cols);

/* Print the rows, the last column unpadded, and empty t. */
void	table_print(struct table *t);

/* admin-cmd-print.c: products, editions, releases, keys */
void	print_product_added(const struct opts *, json_t *);
void	print_products(const struct opts *, json_t *);
void	print_edition_added(const struct opts *, json_t *);
void	print_editions(const struct opts *, json_t *);
void	print_release_published(const struct opts *, json_t *);
void	print_release_withdrawn(const struct opts *, json_t *);
void	print_releases(const struct opts *, json_t *);
void	print_key_issued(const struct opts *, json_t *);
void	print_key_issued_in(const struct opts *, json_t *k, json_t *common);
void	print_keys_issued(const struct opts *, json_t *);
void	print_key(const struct opts *, json_t *);
void	print_keys(const struct opts *, json_t *);

/* admin-cmd-renew.c: acts, subscriptions, key extend/state, audit, backup */
void	print_act_registered(const struct opts *, json_t *);
void	print_act(const struct opts *, json_t *);
void	print_acts(const struct opts *, json_t *);
void	print_act_voided(const struct opts *, json_t *);
void	print_key_extended(const struct opts *, json_t *);
void	print_key_state(const struct opts *, json_t *);
void	print_subscription(const struct opts *, json_t *);
void	print_audit_verified(const struct opts *, json_t *);
void	print_audit(const struct opts *, json_t *);
void	print_backup(const struct opts *, json_t *);

/* admin-cmd-signing.c: signing keys */
void	print_signing_keys(const struct opts *, json_t *);
void	print_signing_key_rotated(const struct opts *, json_t *);
void	print_signing_key_compromised(const struct opts *, json_t *);

/* v compact on one line of stdout (--json output). */
void	print_json_line(json_t *v);

#endif
