/*
 * The admin socket's audit log and backup ops. audit lists the hash-chained
 * audit records (SPEC section 6), optionally from a day on, or with verify
 * walks the whole chain and names the first record that does not match it
 * (reason audit_broken with bad_seq). backup makes a consistent compacted
 * copy of the store into a new file while keygated keeps serving.
 *
 * Decisions made here:
 * - audit since=DAY lists the records written on or after 00:00 UTC of
 *   that day. verify checks the whole chain from record 1 (a chain cannot
 *   be checked from the middle), so since and verify together are refused.
 * - A record's strings are shown as stored; bytes that are not UTF-8 (only
 *   a damaged or altered record has them) are shown as '?'.
 * - backup takes an absolute path that does not exist yet, in a directory
 *   keygated can write (it writes the file, as its own user, mode 0600).
 *   The copy runs in a thread of its own (admin_bg), so the event loop
 *   keeps serving checks and other admins meanwhile; a step looks whether
 *   it ended, without waiting. This relies on the store's backup op being
 *   safe to run beside the loop's own store calls: the LMDB store's is (it
 *   copies in its own read transaction, MDB_NOTLS, and uses no cached
 *   state). An admin connection that goes away during a backup waits for
 *   the copy to end when its op is freed (so does shutdown). A backup is
 *   not a change and writes no audit record; it is logged.
 */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "admin_ops_int.h"
#include "daemon.h"
#include "log.h"
#include "store.h"

/* ---- audit ---- */

/* s as a JSON string; bytes that are not UTF-8 become '?'. */
static json_t *
audit_string(const char *s)
{
	json_t	*v;
	char	*copy;
	size_t	 i;

	if ((v = json_string(s)) != NULL || (copy = strdup(s)) == NULL)
		return v;
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

static json_t *
audit_json(const struct store_audit *a)
{
	char	hash[KG_HASH_LEN * 2 + 1];

	sodium_bin2hex(hash, sizeof(hash), a->hash, sizeof(a->hash));
	return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:s}",
	    "seq", (json_int_t)a->seq, "time", admin_json_time(a->time),
	    "actor", audit_string(a->actor), "action", audit_string(a->action),
	    "object", audit_string(a->object), "detail", audit_string(a->detail),
	    "hash", hash);
}

static int
audit_list_cb(void *ctx, const struct store_audit *a)
{
	struct admin_op	*op = ctx;

	if (admin_reply_list_add(op, audit_json(a)) == -1) {
		admin_reply_list_too_long(op);
		return 1;
	}
	return 0;
}

static int
audit_count_cb(void *ctx, const struct store_audit *a)
{
	uint64_t	*n = ctx;

	(void)a;
	(*n)++;
	return 0;
}

/* audit verify: the whole chain, or the first record that breaks it. */
static void
audit_verify(struct admin_op *op)
{
	struct store	*st = op->d->store;
	uint64_t	 bad = 0, n = 0;
	int		 rc;

	rc = st->ops->audit_verify(st, &bad);
	if (rc == STORE_CONFLICT) {
		log_warn("admin: %s: audit verify: record %" PRIu64 " does not "
		    "match its hash chain", op->actor, bad);
		admin_reply_error_with(op, json_pack("{s:I}", "bad_seq",
		    (json_int_t)bad), "audit_broken", "audit record %" PRIu64
		    " does not match its hash chain: the log was altered", bad);
		return;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "verifying the audit log");
		return;
	}
	if ((rc = st->ops->audit_list(st, 0, audit_count_cb, &n)) != STORE_OK) {
		admin_reply_store_error(op, rc, "counting the audit records");
		return;
	}
	admin_reply_result(op, json_pack("{s:b,s:I}", "verified", 1,
	    "records", (json_int_t)n));
}

/* audit: the records (since a day), or with verify the chain's check. */
bool
admin_audit_list(struct admin_op *op)
{
	kg_date	since;
	bool	verify = false;
	int	has_since, rc;

	if ((has_since = admin_arg_date(op, "since", false, &since)) == -1 ||
	    admin_arg_bool(op, "verify", &verify) == -1)
		return false;
	if (verify) {
		if (has_since == 1) {
			admin_reply_error(op, "bad_request", "%s: verify "
			    "checks the whole log from record 1: leave out "
			    "since", op->entry->name);
			return false;
		}
		audit_verify(op);
		return false;
	}
	if (admin_reply_list_begin(op) == -1) {
		admin_reply_list_too_long(op);
		return false;
	}
	rc = op->d->store->ops->audit_list(op->d->store,
	    has_since == 1 ? (int64_t)date_to_time(since) : 0, audit_list_cb,
	    op);
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "listing the audit records");
		return false;
	}
	if (!op->done && admin_reply_list_end(op) == -1)
		admin_reply_list_too_long(op);
	return false;
}

/* ---- backup ---- */

struct backup_job {
	struct store	*st;
	char		 path[PATH_MAX];
	struct admin_bg	 bg;		/* the copying thread */
	int64_t		 start;		/* admin_clock_msec */
};

static int
backup_run(void *arg)
{
	struct backup_job	*job = arg;

	return job->st->ops->backup(job->st, job->path);
}

static void
backup_job_free_rest(void *arg)
{
	struct backup_job	*job = arg;

	admin_bg_fini(&job->bg);
	free(job);
}

/* Free job once the copy has ended (it cannot be stopped halfway). */
static void
backup_job_free(void *arg)
{
	struct backup_job	*job = arg;

	admin_bg_orphan(&job->bg, backup_job_free_rest, job);
}

/*
 * The "path" argument: absolute, not there yet, in a directory keygated
 * can write. 0, or -1 with a reply set.
 */
static int
backup_path_arg(struct admin_op *op, char out[PATH_MAX])
{
	struct stat	 sb;
	char		 dir[PATH_MAX], *slash;

	if (admin_arg_text(op, "path", true, PATH_MAX - 1, out) == -1)
		return -1;
	if (out[0] != '/') {
		admin_reply_error(op, "bad_request", "%s: path: expected an "
		    "absolute path (keygated resolves nothing against its own "
		    "working directory)", op->entry->name);
		return -1;
	}
	if (lstat(out, &sb) == 0) {
		admin_reply_error(op, "exists", "%s exists: a backup never "
		    "overwrites a file; give a new file name", out);
		return -1;
	}
	memcpy(dir, out, strlen(out) + 1);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		admin_reply_error(op, "bad_request", "%s: directory %s does "
		    "not exist: create it first", op->entry->name, dir);
		return -1;
	}
	if (access(dir, W_OK | X_OK) == -1) {
		admin_reply_error(op, "bad_request", "%s: keygated (uid %ld) "
		    "cannot write in %s: choose a directory it can write",
		    op->entry->name, (long)geteuid(), dir);
		return -1;
	}
	return 0;
}

/* backup, first step: check the path and start the copying thread. */
static int
backup_start(struct admin_op *op)
{
	struct backup_job	*job;
	int			 rc;

	if ((job = calloc(1, sizeof(*job))) == NULL) {
		admin_reply_error(op, "internal", "out of memory: see "
		    "keygated's log");
		return -1;
	}
	if (backup_path_arg(op, job->path) == -1) {
		free(job);
		return -1;
	}
	job->st = op->d->store;
	job->start = admin_clock_msec();
	admin_bg_init(&job->bg);
	if ((rc = admin_bg_start(&job->bg, job->st, backup_run, job)) != 0) {
		log_error("%s: pthread_create: %s", __func__, strerror(rc));
		admin_bg_fini(&job->bg);
		free(job);
		admin_reply_error(op, "internal", "cannot start the backup: "
		    "see keygated's log");
		return -1;
	}
	op->job = job;
	op->job_free = backup_job_free;
	log_info("admin: %s: backup to %s started", op->actor, job->path);
	return 0;
}

/* backup: a consistent compacted copy of the store into a new file. */
bool
admin_audit_backup(struct admin_op *op)
{
	struct backup_job	*job;
	struct stat		 sb;

	if (op->job == NULL && backup_start(op) == -1)
		return false;
	job = op->job;
	if (admin_bg_pending(op, &job->bg))
		return true;
	if (job->bg.rc == STORE_EXISTS) {
		admin_reply_error(op, "exists", "%s exists: a backup never "
		    "overwrites a file; give a new file name", job->path);
		return false;
	}
	if (job->bg.rc != STORE_OK) {
		admin_reply_store_error(op, job->bg.rc, "writing the backup");
		return false;
	}
	if (stat(job->path, &sb) == -1) {
		log_error("%s: stat %s: %s", __func__, job->path,
		    strerror(errno));
		admin_reply_error(op, "internal", "the backup was written but "
		    "%s cannot be read back: see keygated's log", job->path);
		return false;
	}
	log_info("admin: %s: backup to %s: %jd bytes in %" PRId64 " ms",
	    op->actor, job->path, (intmax_t)sb.st_size,
	    admin_clock_msec() - job->start);
	admin_reply_result(op, json_pack("{s:s,s:I}", "path", job->path,
	    "bytes", (json_int_t)sb.st_size));
	return false;
}
