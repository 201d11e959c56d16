/*
 * kglib_drive: drives libkeygate's public API for tests/integration/
 * test_lib.sh, against the real keygated. Options set up one client (every
 * setter of keygate.h), then each operation word runs one API call on that
 * same client and prints one JSON line with the return code, its name, how
 * long the call took and every accessor of the result, so the script can
 * assert exact values:
 *
 *   kglib_drive [--server HOST:PORT]... [--trust FILE]... [--trust-text FILE]
 *       [--state FILE] [--timeouts CONNECT_MS,IO_MS] [--deadline MS]
 *       [--tolerance S] [--floor N] OP...
 *   OP: check,KEYFILE,PRODUCT,VERSION[,TARGET]  status,KEYFILE
 *       activate,KEYFILE,ACT (a renewed key is written back to KEYFILE)
 *       verify,KEYFILE,PUBFILE   disconnect   version   strerror,CODE
 *       loop,N,KEYFILE,PRODUCT,VERSION,ACT (N rounds of check, status and
 *       activate on fresh clients; prints a summary: for leak checks)
 *
 * A setter that fails prints {"setup":NAME,"rc":...} and exits 3. Exit 0
 * otherwise, whatever the operations returned.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "keygate.h"

#define DRIVE_ARGS_MAX	8

struct drive_opts {
	const char	*server[16];
	int		 nserver;
	const char	*trust[8];
	int		 ntrust;
	const char	*trust_text[8];
	int		 ntrust_text;
	const char	*state;
	int		 connect_ms, io_ms, deadline_ms;
	long long	 tolerance, floor;
};

static const char *
drive_code_name(int rc)
{
	static const char *const names[] = {
		"KG_OK", "KG_ERR_INVAL", "KG_ERR_NOMEM", "KG_ERR_CONNECT",
		"KG_ERR_TIMEOUT", "KG_ERR_CLOSED", "KG_ERR_PROTOCOL",
		"KG_ERR_UNTRUSTED", "KG_ERR_NONCE", "KG_ERR_REQUEST_HASH",
		"KG_ERR_REPLAY", "KG_ERR_SERVER", "KG_ERR_KEY", "KG_ERR_TRUST",
		"KG_ERR_STATE",
	};

	if (rc > 0 || -rc >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown";
	return names[-rc];
}

static long long
drive_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A whole small file, or NULL (reported). */
static char *
drive_file_read(const char *path)
{
	FILE	*f;
	char	*buf;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "kglib_drive: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(65537)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, 65536, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int
drive_file_write(const char *path, const char *text)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "%s\n", text);
	return fclose(f);
}

static void
drive_set_str(json_t *o, const char *name, const char *s)
{
	json_object_set_new(o, name, s != NULL ? json_string(s) : json_null());
}

static void
drive_print(json_t *o)
{
	char	*s;

	if ((s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) != NULL) {
		puts(s);
		free(s);
	}
	fflush(stdout);
	json_decref(o);
}

/* Every accessor of r into o. */
static void
drive_result(json_t *o, const kg_result *r)
{
	json_t	*q;

	drive_set_str(o, "verdict", kg_result_verdict(r));
	drive_set_str(o, "reason", kg_result_reason(r));
	drive_set_str(o, "detail", kg_result_detail(r));
	drive_set_str(o, "eligible", kg_result_eligible(r));
	drive_set_str(o, "latest", kg_result_latest(r));
	drive_set_str(o, "support_expiry", kg_result_support_expiry(r));
	drive_set_str(o, "license_expiry", kg_result_license_expiry(r));
	json_object_set_new(o, "days_left", json_integer(kg_result_days_left(r)));
	if (kg_result_has_quote(r)) {
		q = json_object();
		drive_set_str(q, "kind", kg_result_quote_kind(r));
		drive_set_str(q, "price", kg_result_quote_price(r));
		json_object_set_new(q, "price_minor",
		    json_integer(kg_result_quote_price_minor(r)));
		drive_set_str(q, "new_expiry", kg_result_quote_new_expiry(r));
		json_object_set_new(o, "quote", q);
	} else
		json_object_set_new(o, "quote", json_null());
	drive_set_str(o, "key", kg_result_key(r));
	drive_set_str(o, "regno", kg_result_regno(r));
	drive_set_str(o, "licensee", kg_result_licensee(r));
	drive_set_str(o, "product", kg_result_product(r));
	drive_set_str(o, "edition", kg_result_edition(r));
	drive_set_str(o, "state", kg_result_state(r));
	if (kg_result_has_renewal(r)) {
		q = json_object();
		drive_set_str(q, "kind", kg_result_renewal_kind(r));
		drive_set_str(q, "price", kg_result_renewal_price(r));
		json_object_set_new(q, "price_minor",
		    json_integer(kg_result_renewal_price_minor(r)));
		drive_set_str(q, "new_expiry", kg_result_renewal_new_expiry(r));
		json_object_set_new(q, "months",
		    json_integer(kg_result_renewal_months(r)));
		drive_set_str(q, "act", kg_result_renewal_act(r));
		json_object_set_new(o, "renewal", q);
	} else
		json_object_set_new(o, "renewal", json_null());
	json_object_set_new(o, "retry_after", json_integer(kg_result_retry_after(r)));
	json_object_set_new(o, "server_time",
	    json_integer((json_int_t)kg_result_server_time(r)));
	json_object_set_new(o, "test_clock", json_boolean(kg_result_test_clock(r)));
	drive_set_str(o, "error_reason", kg_result_error_reason(r));
	drive_set_str(o, "server", kg_result_server(r));
	json_object_set_new(o, "offline", json_boolean(kg_result_offline(r)));
	json_object_set_new(o, "age", json_integer((json_int_t)kg_result_age(r)));
	json_object_set_new(o, "rollback", json_boolean(kg_result_rollback(r)));
	json_object_set_new(o, "valid", json_boolean(kg_result_valid(r)));
	drive_set_str(o, "created", kg_result_created(r));
	json_object_set_new(o, "serial", json_integer((json_int_t)kg_result_serial(r)));
	json_object_set_new(o, "revision", json_integer(kg_result_revision(r)));
	json_object_set_new(o, "trial", json_boolean(kg_result_trial(r)));
	json_object_set_new(o, "support_months",
	    json_integer(kg_result_support_months(r)));
}

/* The line of one operation: op, rc, its name and message, time, client state. */
static json_t *
drive_line(const char *op, int rc, long long ms, const kg_client *c,
    const kg_result *r)
{
	json_t	*o = json_object();

	json_object_set_new(o, "op", json_string(op));
	json_object_set_new(o, "rc", json_integer(rc));
	json_object_set_new(o, "err", json_string(drive_code_name(rc)));
	json_object_set_new(o, "msg", json_string(kg_strerror(rc)));
	json_object_set_new(o, "ms", json_integer(ms));
	if (c != NULL) {
		json_object_set_new(o, "floor",
		    json_integer((json_int_t)kg_client_time_floor(c)));
		json_object_set_new(o, "state_error",
		    json_string(drive_code_name(kg_client_state_error(c))));
		json_object_set_new(o, "client_rollback",
		    json_boolean(kg_client_rollback(c)));
	}
	json_object_set_new(o, "result", json_boolean(r != NULL));
	if (r != NULL)
		drive_result(o, r);
	return o;
}

static void
drive_setup_fail(const char *what, int rc)
{
	json_t	*o = json_object();

	json_object_set_new(o, "setup", json_string(what));
	json_object_set_new(o, "rc", json_integer(rc));
	json_object_set_new(o, "err", json_string(drive_code_name(rc)));
	drive_print(o);
	exit(3);
}

/* A client set up from the options; exits on failure. */
static kg_client *
drive_client_new(const struct drive_opts *o)
{
	kg_client	*c;
	char		*text;
	int		 i, rc;

	if ((rc = kg_client_new(&c)) != KG_OK)
		drive_setup_fail("new", rc);
	for (i = 0; i < o->nserver; i++) {
		if ((rc = kg_client_add_server(c, o->server[i])) != KG_OK)
			drive_setup_fail("server", rc);
	}
	for (i = 0; i < o->ntrust; i++) {
		if ((rc = kg_client_trust_file(c, o->trust[i])) != KG_OK)
			drive_setup_fail("trust", rc);
	}
	for (i = 0; i < o->ntrust_text; i++) {
		if ((text = drive_file_read(o->trust_text[i])) == NULL)
			drive_setup_fail("trust-text", KG_ERR_INVAL);
		rc = kg_client_trust_text(c, text);
		free(text);
		if (rc != KG_OK)
			drive_setup_fail("trust-text", rc);
	}
	if (o->connect_ms > 0 &&
	    (rc = kg_client_set_timeouts(c, o->connect_ms, o->io_ms)) != KG_OK)
		drive_setup_fail("timeouts", rc);
	if (o->deadline_ms > 0 &&
	    (rc = kg_client_set_deadline(c, o->deadline_ms)) != KG_OK)
		drive_setup_fail("deadline", rc);
	if (o->tolerance >= 0 &&
	    (rc = kg_client_set_rollback_tolerance(c, o->tolerance)) != KG_OK)
		drive_setup_fail("tolerance", rc);
	if (o->floor > 0)
		kg_client_set_time_floor(c, o->floor);
	if (o->state != NULL && (rc = kg_client_set_state_file(c, o->state)) != KG_OK)
		drive_setup_fail("state", rc);
	return c;
}

/* Split a comma-separated op word into at most DRIVE_ARGS_MAX fields (in place). */
static int
drive_split(char *s, char **f)
{
	int	n = 0;

	while (n < DRIVE_ARGS_MAX) {
		f[n++] = s;
		if ((s = strchr(s, ',')) == NULL)
			break;
		*s++ = '\0';
	}
	return n;
}

/* One round of check, status and activate on a fresh client. Failures counted. */
static int
drive_round(const struct drive_opts *o, char **f)
{
	kg_client	*c = drive_client_new(o);
	kg_result	*r = NULL;
	char		*key;
	int		 bad = 0, rc;

	if ((key = drive_file_read(f[2])) == NULL) {
		kg_client_free(c);
		return 1;
	}
	if ((rc = kg_check(c, key, f[3], f[4], NULL, &r)) != KG_OK)
		bad++;
	kg_result_free(r);
	if ((rc = kg_status(c, key, &r)) != KG_OK)
		bad++;
	kg_result_free(r);
	rc = kg_activate(c, key, f[5], &r);
	if (rc != KG_OK)
		bad++;
	kg_result_free(r);
	kg_client_disconnect(c);
	kg_client_free(c);
	free(key);
	return bad;
}

/* Run one operation word on c. */
static void
drive_op(kg_client *c, const struct drive_opts *o, char *word)
{
	char		*f[DRIVE_ARGS_MAX] = { NULL }, *key = NULL, *pub = NULL;
	kg_result	*r = NULL;
	json_t		*line;
	long long	 t0;
	int		 n, rc = KG_ERR_INVAL, i, count, bad = 0;

	n = drive_split(word, f);
	t0 = drive_now_ms();
	if (strcmp(f[0], "check") == 0 && (n == 4 || n == 5)) {
		if ((key = drive_file_read(f[1])) != NULL)
			rc = kg_check(c, key, f[2], f[3], n == 5 ? f[4] : NULL, &r);
	} else if (strcmp(f[0], "status") == 0 && n == 2) {
		if ((key = drive_file_read(f[1])) != NULL)
			rc = kg_status(c, key, &r);
	} else if (strcmp(f[0], "activate") == 0 && n == 3) {
		if ((key = drive_file_read(f[1])) != NULL)
			rc = kg_activate(c, key, f[2], &r);
		if (rc == KG_OK && kg_result_key(r) != NULL)
			drive_file_write(f[1], kg_result_key(r));
	} else if (strcmp(f[0], "verify") == 0 && n == 3) {
		if ((key = drive_file_read(f[1])) != NULL &&
		    (pub = drive_file_read(f[2])) != NULL)
			rc = kg_verify_offline(key, pub, &r);
	} else if (strcmp(f[0], "disconnect") == 0 && n == 1) {
		kg_client_disconnect(c);
		rc = KG_OK;
	} else if (strcmp(f[0], "version") == 0 && n == 1) {
		line = drive_line("version", KG_OK, 0, NULL, NULL);
		json_object_set_new(line, "version",
		    json_string(kg_library_version()));
		json_object_set_new(line, "api", json_integer(KG_API_VERSION));
		drive_print(line);
		return;
	} else if (strcmp(f[0], "strerror") == 0 && n == 2) {
		drive_print(drive_line("strerror", atoi(f[1]), 0, NULL, NULL));
		return;
	} else if (strcmp(f[0], "loop") == 0 && n == 6) {
		count = atoi(f[1]);
		for (i = 0; i < count; i++)
			bad += drive_round(o, f);
		line = drive_line("loop", bad == 0 ? KG_OK : KG_ERR_INVAL,
		    drive_now_ms() - t0, NULL, NULL);
		json_object_set_new(line, "rounds", json_integer(count));
		json_object_set_new(line, "failed", json_integer(bad));
		drive_print(line);
		return;
	} else {
		fprintf(stderr, "kglib_drive: bad operation %s\n", f[0]);
		exit(2);
	}
	line = drive_line(f[0], rc, drive_now_ms() - t0, c, r);
	drive_print(line);
	kg_result_free(r);
	free(key);
	free(pub);
}

int
main(int argc, char **argv)
{
	struct drive_opts	 o;
	kg_client		*c;
	int			 i;

	memset(&o, 0, sizeof(o));
	o.tolerance = -1;
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "kglib_drive: %s needs a value\n", argv[i]);
			return 2;
		}
		if (strcmp(argv[i], "--server") == 0 && o.nserver < 16)
			o.server[o.nserver++] = argv[i + 1];
		else if (strcmp(argv[i], "--trust") == 0 && o.ntrust < 8)
			o.trust[o.ntrust++] = argv[i + 1];
		else if (strcmp(argv[i], "--trust-text") == 0 && o.ntrust_text < 8)
			o.trust_text[o.ntrust_text++] = argv[i + 1];
		else if (strcmp(argv[i], "--state") == 0)
			o.state = argv[i + 1];
		else if (strcmp(argv[i], "--timeouts") == 0 &&
		    sscanf(argv[i + 1], "%d,%d", &o.connect_ms, &o.io_ms) == 2)
			;
		else if (strcmp(argv[i], "--deadline") == 0)
			o.deadline_ms = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--tolerance") == 0)
			o.tolerance = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--floor") == 0)
			o.floor = atoll(argv[i + 1]);
		else {
			fprintf(stderr, "kglib_drive: bad option %s\n", argv[i]);
			return 2;
		}
	}
	c = drive_client_new(&o);
	for (; i < argc; i++)
		drive_op(c, &o, argv[i]);
	kg_client_free(c);
	return 0;
}
