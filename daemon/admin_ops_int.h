/*
 * What the admin socket's op files share (private to daemon/admin_*.c):
 * the op in progress, the framework's reply and argument helpers
 * (admin_ops.c) and the handlers the op table names:
 *   admin_catalog.c	products, editions, releases
 *   admin_issue.c	key.issue: keys issued in batches, streamed
 *   admin_keys.c	keys: show, list, extend, revoke, suspend,
 *			reinstate, reissue
 *   admin_renew.c	acts and subscriptions
 *   admin_audit.c	the audit log and backups
 *   admin_signing.c	signing keys: list, rotate, compromise
 *   admin_csv.c		key.import: licenses imported from a CSV file
 *
 * A handler validates its arguments with admin_arg_*, makes at most one
 * store call per change with its audit record, and answers exactly once
 * with admin_reply_* (which marks the op done). It returns true only when
 * it needs another step; then it keeps its state in op->job.
 */
#ifndef KG_ADMIN_OPS_INT_H
#define KG_ADMIN_OPS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "admin_ops.h"
#include "date.h"
#include "money.h"
#include "store.h"
#include "version.h"

#define ADMIN_STEP_MSEC		10	/* work per step before yielding */
#define ADMIN_LOOK_MSEC		1	/* a step with nothing to do: next look */
#define ADMIN_ARGS_MAX		12

struct admin_op;
typedef bool (*admin_handler)(struct admin_op *);

struct admin_op_entry {
	const char	*name;
	admin_handler	 fn;
	const char	*args[ADMIN_ARGS_MAX];	/* allowed arguments besides "op" */
};

struct admin_op {
	struct daemon			*d;
	char				 actor[STORE_ACTOR_MAX + 1];
	json_t				*req;
	const struct admin_op_entry	*entry;
	bool				 done;
	/* the reply text */
	char				*buf;
	size_t				 len, cap;
	size_t				 nresults;
	bool				 partial;	/* buf is a partial frame */
	/*
	 * Set by a step that found nothing to do until the signer or a
	 * background store call answers (ADMIN_LOOK_MSEC): the next step
	 * comes after this many milliseconds, not at once.
	 */
	int				 wait_ms;
	/* a multi-step op's state, freed with job_free by admin_op_free */
	void				*job;
	void				(*job_free)(void *);
};

/* ---- replies (admin_ops.c); each one finishes the op ---- */

/* The error reply {"ok":false,"reason":...,"error":<one line>}. */
void	admin_reply_error(struct admin_op *op, const char *reason,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * An error reply with extra members (an object, stolen; NULL for none)
 * besides ok, reason and error.
 */
void	admin_reply_error_with(struct admin_op *op, json_t *extra,
	    const char *reason, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/* The reply {"ok":true,"result":v}; steals v (NULL: an internal error). */
void	admin_reply_result(struct admin_op *op, json_t *v);

/*
 * A list reply {"ok":true,"results":[...]} streamed one result at a time:
 * begin, add (steals v), end. Each returns -1 when the reply would be too
 * long or memory ran out; answer that with admin_reply_list_too_long.
 */
int	admin_reply_list_begin(struct admin_op *op);
int	admin_reply_list_add(struct admin_op *op, json_t *v);
int	admin_reply_list_end(struct admin_op *op);
void	admin_reply_list_too_long(struct admin_op *op);

/*
 * A streamed list reply (key.issue with "stream", see "Admin socket" in
 * proto/README.md) is sent in frames: each step begins a list, adds its
 * results (admin_reply_list_add_text takes one result's JSON text, n bytes,
 * an object) and closes it with admin_reply_list_end_with: with partial,
 * {"ok":true,"results":[...],"partial":true,<members>}, which admin.c sends
 * after the step (the next step starts a new frame); otherwise the final
 * frame {"ok":true,"results":[...],<members>}, and the op is done. members
 * is JSON object members without braces ("\"issued\":5,\"of\":9").
 * Each returns -1 as the list functions do.
 */
int	admin_reply_list_add_text(struct admin_op *op, const char *s, size_t n);
int	admin_reply_list_end_with(struct admin_op *op, bool partial,
	    const char *members);

/* The reply for a store error rc while doing what ("adding the product"). */
void	admin_reply_store_error(struct admin_op *op, int rc, const char *what);

/* ---- store work beside the event loop (admin_ops.c) ----
 * A store call too long to make in the event loop (a backup, a key.issue
 * batch, a key.import's transaction) runs in a thread of its own while the
 * op's steps look whether it is done without waiting. The thread runs at
 * the loop's priority: a lower one could keep the store's write lock from
 * the loop's own writes and the group commit under load (LMDB's writer
 * mutex does not lend priority). fn(arg) must only call the store
 * (thread-safe) and touch what no step touches until admin_bg_done said
 * true.
 * admin_bg_start: 0, or an errno when no thread could start (nothing runs);
 * admin_bg_done: true once fn returned and the thread is joined (bg->rc is
 * its result, running false); admin_bg_pending: the opposite, and then
 * op's next step comes ADMIN_LOOK_MSEC later; admin_bg_fini waits for a
 * running fn and releases bg. Between init and fini a bg may run one fn
 * after another.
 * admin_bg_orphan is for an op freed in the middle (its client gone): a
 * transaction cannot stop halfway, and waiting for it would hold the loop,
 * so rest(arg) (which calls admin_bg_fini and frees what fn uses, bg
 * included) runs at once when no fn runs, else in bg's thread once fn
 * returned. rest may not touch the loop's state. keygated's exit waits for
 * such threads before it closes the store: admin_bg_orphans_wait.
 */
struct admin_bg {
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	bool		 running;	/* started, not joined */
	void		(*orphan)(void *);	/* under lock: rest, once orphaned */
	void		*orphan_arg;
	bool		 done;		/* under lock */
	int		 rc;		/* fn's result, once joined */
	int		(*fn)(void *);
	void		*arg;
	struct store	*st;
};

void	admin_bg_init(struct admin_bg *bg);
int	admin_bg_start(struct admin_bg *bg, struct store *st,
	    int (*fn)(void *), void *arg);
bool	admin_bg_done(struct admin_bg *bg);
bool	admin_bg_pending(struct admin_op *op, struct admin_bg *bg);
void	admin_bg_fini(struct admin_bg *bg);
void	admin_bg_orphan(struct admin_bg *bg, void (*rest)(void *), void *arg);

/* ---- arguments (admin_ops.c) ----
 * Each returns 1 when the argument is present and valid, 0 when it is absent
 * and optional, -1 with an error reply set when it is bad or missing.
 */

/* A string of 1..max bytes without NULs; *s borrows from the request. */
int	admin_arg_string(struct admin_op *op, const char *name, bool required,
	    size_t max, const char **s, size_t *n);
/* A code [A-Za-z0-9_.-]{1,KG_CODE_MAX} into out. */
int	admin_arg_code(struct admin_op *op, const char *name, bool required,
	    char out[KG_CODE_MAX + 1]);
/* UTF-8 text without control characters, 1..max bytes, into out (max + 1). */
int	admin_arg_text(struct admin_op *op, const char *name, bool required,
	    size_t max, char *out);
/* A strict date YYYY-MM-DD (1970-01-02..9999-12-31); KG_DATE_NONE if absent. */
int	admin_arg_date(struct admin_op *op, const char *name, bool required,
	    kg_date *out);
/* An integer min..max. */
int	admin_arg_uint(struct admin_op *op, const char *name, bool required,
	    uint32_t min, uint32_t max, uint32_t *out);
/* true or false (always optional). */
int	admin_arg_bool(struct admin_op *op, const char *name, bool *out);
/* Money: a string "7990.50" or an integer of currency units. */
int	admin_arg_money(struct admin_op *op, const char *name, bool required,
	    kg_money *out);
/* A required version, parsed into v and its canonical text. */
int	admin_arg_version(struct admin_op *op, const char *name,
	    struct kg_version *v, char text[KG_VERSION_TEXT_MAX]);

/* ---- result values (admin_ops.c); NULL only when out of memory ---- */

/* "YYYY-MM-DD", or null for KG_DATE_NONE. */
json_t	*admin_json_date(kg_date d);
/* "1998.00" */
json_t	*admin_json_money(kg_money m);
/* Unix seconds as ISO 8601 UTC, "2026-05-15T09:30:00Z". */
json_t	*admin_json_time(int64_t t);
/* The string, or null when it is empty. */
json_t	*admin_json_text_or_null(const char *s);
/*
 * What key.show says of a license after its key, regno and serial
 * (admin_keys.c): product, edition, licensee, dates, support_months, trial,
 * revision, state and state_reason, in that order.
 */
json_t	*admin_json_license_members(const struct kg_license *lic,
	    enum kg_license_status status, const char *status_reason);

/* ---- lookups with their not-found replies (admin_ops.c): 0 or -1 ---- */

int	admin_product_need(struct admin_op *op, const char *code,
	    struct store_product *p);
int	admin_edition_need(struct admin_op *op, const char *product,
	    const char *code, struct store_edition *e);

/* Milliseconds of a monotonic clock, for bounding a step's work. */
int64_t	admin_clock_msec(void);

/* ---- the handlers of the op table ---- */

/* admin_catalog.c */
bool	admin_catalog_product_add(struct admin_op *op);
bool	admin_catalog_product_list(struct admin_op *op);
bool	admin_catalog_edition_add(struct admin_op *op);
bool	admin_catalog_edition_list(struct admin_op *op);
bool	admin_catalog_release_publish(struct admin_op *op);
bool	admin_catalog_release_list(struct admin_op *op);
bool	admin_catalog_release_withdraw(struct admin_op *op);

/* admin_issue.c */
bool	admin_issue_keys(struct admin_op *op);

/* admin_keys.c */
bool	admin_keys_show(struct admin_op *op);
bool	admin_keys_list(struct admin_op *op);
bool	admin_keys_extend(struct admin_op *op);
bool	admin_keys_revoke(struct admin_op *op);
bool	admin_keys_suspend(struct admin_op *op);
bool	admin_keys_reinstate(struct admin_op *op);
bool	admin_keys_reissue(struct admin_op *op);

/* admin_renew.c */
bool	admin_renew_act_register(struct admin_op *op);
bool	admin_renew_act_show(struct admin_op *op);
bool	admin_renew_act_list(struct admin_op *op);
bool	admin_renew_act_void(struct admin_op *op);
bool	admin_renew_subscription_set(struct admin_op *op);
bool	admin_renew_subscription_show(struct admin_op *op);

/* admin_audit.c */
bool	admin_audit_list(struct admin_op *op);
bool	admin_audit_backup(struct admin_op *op);

/* admin_signing.c */
bool	admin_signing_list(struct admin_op *op);
bool	admin_signing_rotate(struct admin_op *op);
bool	admin_signing_compromise(struct admin_op *op);

/* admin_csv.c */
bool	admin_csv_import(struct admin_op *op);

#endif
