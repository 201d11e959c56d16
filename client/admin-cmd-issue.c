/*
 * keygate-admin key issue: the request asks for "stream" and keygated
 * answers in frames, a partial one after each of its steps and a final one
 * (proto/README.md, "Admin socket"), so each key is printed as soon as its
 * frame arrives and a million keys never sit in either process. A frame's
 * results carry key, regno and serial, and what all the keys share comes
 * once a frame ("common"): every key is printed as print_key_issued prints
 * one (with --json, the object key.show prints for it, one a line), in the
 * order of their registration numbers.
 *
 * On a terminal (stderr), an issue of ISSUE_PROGRESS_MIN keys or more shows
 * "issued N of M keys", updated in place as frames arrive, instead of one
 * "issued REGNO, ..." line a key (none with --json), and ends with one
 * summary line; keys go to stdout as usual (a terminal too: the progress
 * line is cleared before keys are printed and drawn again after them).
 * Piped or written to a file, stderr gets the per-key lines, buffered.
 *
 * Each frame must come within the timeout (--timeout, 60 s by default); a
 * connection lost in the middle is reported with the number of keys that
 * arrived and how to list every issued one (keygated may have stored more).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "admin-cmd.h"
#include "kglimits.h"

#define ISSUE_PROGRESS_MIN	1000	/* keys that get a progress line */
#define ISSUE_STDIO_BUF		(64 * 1024)

struct issue_run {
	const struct opts	*o;
	const char		*product;
	unsigned long		 count;
	unsigned long		 got;
	bool			 progress;
	char			 first[KG_REGNO_MAX + 1];
	char			 last[KG_REGNO_MAX + 1];
	json_t			*common;	/* what the keys share, for the summary */
};

static void
progress_clear(const struct issue_run *r)
{
	if (r->progress) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

static void
progress_draw(const struct issue_run *r)
{
	if (r->progress) {
		fprintf(stderr, "\r\033[Kkeygate-admin: key issue: issued %lu "
		    "of %lu keys", r->got, r->count);
		fflush(stderr);
	}
}

/*
 * One key as a JSON line: its own members (key, regno, serial), then the
 * frame's common ones (their text, without its braces): the object
 * key.show prints for it, members in the same order.
 */
static void
print_json_key(json_t *k, const char *common)
{
	char	*s;
	size_t	 n;

	if (common == NULL || (s = json_dumps(k, JSON_COMPACT)) == NULL) {
		print_json_line(k);
		return;
	}
	n = strlen(s);
	if (n >= 2 && s[n - 1] == '}')
		printf("%.*s%s%s\n", (int)(n - 1), s, n > 2 ? "," : "",
		    common + 1);
	free(s);
}

/* Print the keys of one frame's "results" (with its "common" members). */
static void
issue_print(struct issue_run *r, json_t *frame)
{
	json_t		*k, *common = json_object_get(frame, "common");
	const char	*regno;
	char		*ctext = NULL;
	size_t		 i;

	if (!json_is_object(common))
		common = NULL;
	else if (r->o->json && (ctext = json_dumps(common,
	    JSON_COMPACT)) != NULL && ctext[0] != '{') {
		free(ctext);
		ctext = NULL;
	}
	progress_clear(r);
	json_array_foreach(json_object_get(frame, "results"), i, k) {
		if (r->o->json)
			print_json_key(k, ctext);
		else if (r->progress)
			printf("%s\n", str_of(k, "key", ""));
		else
			print_key_issued_in(r->o, k, common);
		regno = str_of(k, "regno", "?");
		if (r->got++ == 0)
			snprintf(r->first, sizeof(r->first), "%s", regno);
		snprintf(r->last, sizeof(r->last), "%s", regno);
	}
	if (common != NULL) {
		json_decref(r->common);
		r->common = json_incref(common);
	}
	free(ctext);
	if (r->progress)
		fflush(stdout);
	progress_draw(r);
}

/* The line that replaces the per-key lines on a terminal. */
static void
issue_summary(const struct issue_run *r)
{
	json_t		*k = r->common;
	const char	*sx = str_of(k, "support_expiry", NULL);

	if (!r->progress || r->got == 0)
		return;
	if (json_is_true(json_object_get(k, "trial")))
		fprintf(stderr, "issued %lu trial keys, %s to %s, trial until "
		    "%s\n", r->got, r->first, r->last, sx != NULL ? sx : "?");
	else if (sx != NULL)
		fprintf(stderr, "issued %lu keys, %s to %s, support until %s\n",
		    r->got, r->first, r->last, sx);
	else
		fprintf(stderr, "issued %lu keys, %s to %s, support for %lld "
		    "months from their first activation\n", r->got, r->first,
		    r->last, int_of(k, "support_months"));
}

/* key issue with the request req (its arguments checked); the exit code. */
int
issue_run(const struct opts *o, json_t *req, unsigned timeout)
{
	struct issue_run	 r;
	json_t			*frame = NULL;
	char			 why[256];
	int			 fd = -1, ret;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.product = json_string_value(json_object_get(req, "product"));
	r.count = json_is_integer(json_object_get(req, "count")) ?
	    (unsigned long)json_integer_value(json_object_get(req, "count")) : 1;
	r.progress = r.count >= ISSUE_PROGRESS_MIN && isatty(STDERR_FILENO);
	/* Per-key lines into a file or pipe: one write a buffer, not a line. */
	if (!r.progress && !isatty(STDERR_FILENO))
		setvbuf(stderr, NULL, _IOFBF, ISSUE_STDIO_BUF);
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOFBF, ISSUE_STDIO_BUF);
	if (json_object_set_new(req, "stream", json_true()) == -1) {
		usage_error("out of memory");
		return EXIT_USAGE;
	}
	if ((ret = admin_request_send(o, req, timeout, &fd)) != 0)
		return ret;
	progress_draw(&r);
	for (;;) {
		if ((ret = admin_reply_read(fd, timeout, &frame, why,
		    sizeof(why))) != 0) {
			progress_clear(&r);
			if (r.got == 0)
				admin_unreachable(o, why);
			else
				fprintf(stderr, "keygate-admin: key issue: lost "
				    "keygated at %s after %lu of %lu keys (%s): "
				    "every issued key is in 'keygate-admin key "
				    "list --product %s'\n", o->sockpath, r.got,
				    r.count, why, r.product != NULL ? r.product :
				    "PRODUCT");
			break;
		}
		if (!json_is_true(json_object_get(frame, "ok"))) {
			progress_clear(&r);
			fprintf(stderr, "keygate-admin: %s\n", str_of(frame,
			    "error", "keygated refused the request without "
			    "saying why"));
			if (o->json)
				print_json_line(frame);
			ret = EXIT_REFUSED;
			break;
		}
		issue_print(&r, frame);
		if (!json_is_true(json_object_get(frame, "partial")))
			break;
		json_decref(frame);
		frame = NULL;
	}
	if (ret == 0) {
		progress_clear(&r);
		issue_summary(&r);
	}
	json_decref(frame);
	json_decref(r.common);
	close(fd);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "keygate-admin: cannot write the output: %s\n",
		    strerror(errno));
		return EXIT_USAGE;
	}
	return ret;
}
