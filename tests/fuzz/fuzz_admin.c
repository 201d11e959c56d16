/*
 * Fuzz target: admin requests, the JSON an admin socket frame carries
 * (admin.h). Each line of the input is one frame's bytes, answered the way
 * admin.c answers a frame (its reading loop is static and tied to a
 * bufferevent, so it is mirrored here): json_loadb with duplicate keys
 * refused; anything but an object with a string "op" ends the connection;
 * otherwise admin_op_new validates the op and its arguments and
 * admin_op_step runs it to the end against the fuzz daemon's store, changes
 * included (the store is put back after each input that changed it).
 *
 * Two requests are tamed so that an input cannot escape the sandbox or
 * stall the fuzzer: a backup's absolute path is moved into the temporary
 * directory (its other checks still run; a path too long for that is
 * skipped), and a key.issue of more than FUZZ_ISSUE_MAX keys is skipped.
 *
 * Checked: every reply is a JSON object {"ok":true,"result":{...}},
 * {"ok":true,"results":[...]} or {"ok":false,"reason":"<code>","error":
 * "<text>"} with a non-empty reason.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "admin_ops.h"
#include "fuzz.h"

#define FUZZ_ISSUE_MAX		20
#define FUZZ_REQUESTS_MAX	16
#define FUZZ_ACTOR		"admin uid=0 root"

static struct fuzz_daemon	fdm;
static char			backup_dir[PATH_MAX];

static void
daemon_close(void)
{
	fuzz_daemon_close(&fdm);
}

/* The fuzz daemon and a directory for backups. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*dir;
	uint8_t		 a[KG_PUBKEY_LEN], b[KG_PUBKEY_LEN];

	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_corpus_pubkeys(a, b);
	dir = fuzz_tmpdir("fuzz_admin");
	fuzz_daemon_open(&fdm, dir, a, b);
	FUZZ_CHECK(atexit(daemon_close) == 0);
	snprintf(backup_dir, sizeof(backup_dir), "%s/backups", dir);
	FUZZ_CHECK(mkdir(backup_dir, 0700) == 0);
	return 0;
}

/*
 * Tame req (see the top of the file): false to skip it. A backup's new
 * path is written to path ("" when unchanged).
 */
static bool
request_tame(json_t *req, char path[PATH_MAX])
{
	const char	*op, *s;
	json_t		*v;
	size_t		 i, n;

	path[0] = '\0';
	op = json_string_value(json_object_get(req, "op"));
	if (strcmp(op, "key.issue") == 0) {
		v = json_object_get(req, "count");
		return !json_is_integer(v) ||
		    json_integer_value(v) <= FUZZ_ISSUE_MAX;
	}
	if (strcmp(op, "backup") != 0)
		return true;
	v = json_object_get(req, "path");
	if (!json_is_string(v) || (s = json_string_value(v))[0] != '/' ||
	    strlen(s) != json_string_length(v))
		return true;
	/* "/a/b" becomes "<backup_dir>/a_b": never outside backup_dir. */
	n = (size_t)snprintf(path, PATH_MAX, "%s/", backup_dir);
	if (n + strlen(s) >= PATH_MAX) {
		path[0] = '\0';
		return false;
	}
	for (i = 1; s[i] != '\0'; i++)
		path[n++] = s[i] == '/' ? '_' : s[i];
	path[n] = '\0';
	FUZZ_CHECK(json_object_set_new(req, "path", json_string(path)) == 0);
	return true;
}

/* The reply's shape (admin.h). */
static void
reply_check(const char *text, size_t len)
{
	json_error_t	 jerr;
	json_t		*r, *ok, *reason;

	r = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	FUZZ_CHECK(r != NULL && json_is_object(r));
	ok = json_object_get(r, "ok");
	FUZZ_CHECK(json_is_boolean(ok));
	if (json_is_true(ok)) {
		FUZZ_CHECK(json_is_object(json_object_get(r, "result")) ||
		    json_is_array(json_object_get(r, "results")));
	} else {
		reason = json_object_get(r, "reason");
		FUZZ_CHECK(json_is_string(reason) &&
		    json_string_length(reason) > 0);
		FUZZ_CHECK(json_is_string(json_object_get(r, "error")));
	}
	json_decref(r);
}

/* One frame's bytes; false when admin.c would close the connection. */
static bool
request_answer(const char *data, size_t len)
{
	struct admin_op	*op;
	json_error_t	 jerr;
	json_t		*req;
	const char	*reply;
	char		*copy, path[PATH_MAX];
	size_t		 rlen;

	if (len == 0 || len > ADMIN_FRAME_MAX)
		return false;
	/* An exact copy, so reading past the frame is caught. */
	FUZZ_CHECK((copy = malloc(len)) != NULL);
	memcpy(copy, data, len);
	req = json_loadb(copy, len, JSON_REJECT_DUPLICATES, &jerr);
	free(copy);
	if (req == NULL || !json_is_object(req) ||
	    !json_is_string(json_object_get(req, "op"))) {
		json_decref(req);
		return false;
	}
	if (!request_tame(req, path)) {
		json_decref(req);
		return true;
	}
	FUZZ_CHECK((op = admin_op_new(&fdm.d, FUZZ_ACTOR, req)) != NULL);
	json_decref(req);
	while (admin_op_step(op))
		;
	reply = admin_op_reply(op, &rlen);
	FUZZ_CHECK(reply != NULL && rlen > 0);
	reply_check(reply, rlen);
	admin_op_free(op);
	if (path[0] != '\0')
		(void)unlink(path);
	return true;
}

/* The requests of one admin connection, one per line. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data, *end = p + size, *nl;
	int		 n = 0;

	while (p < end && n++ < FUZZ_REQUESTS_MAX) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (!request_answer(p, (size_t)(nl - p)))
			break;
		p = nl + 1;
	}
	fuzz_daemon_reset(&fdm);
	return 0;
}
