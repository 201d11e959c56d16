/*
 * Unit tests of daemon/signer.c and signer_proc.c: the signer process signs
 * exactly what an in-process key would (Ed25519 is deterministic, so the
 * bytes are compared), in every domain and at the size limits; it refuses
 * unknown domains and oversize messages; a killed signer is restarted and
 * signs again; a restart that finds another key, or keeps dying, gives up
 * for good (signer_failed, the stop callback once, nothing signed); start-up
 * errors come back with their kge code and one line; a sealed key opens with
 * its passphrase file or a systemd credential; no child outlives
 * signer_close; the process follows the caller's CPU, and one that does
 * not answer there in time is moved to the caller's other CPUs. Keys come
 * from fixed seeds.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "kgerr.h"
#include "keys.h"
#include "license.h"
#include "signer.h"
#include "signer_fixture.h"
#include "signer_int.h"
#include "signer_proc.h"

/*
 * The signer process signs what the key itself would, in the license and
 * reply domains (rotation statements come only from a rotation).
 */
static void
test_sign_matches_key(void **state)
{
	static const enum kg_domain	 domains[] = { KG_DOMAIN_LICENSE,
	    KG_DOMAIN_REPLY };
	static const size_t		 lens[] = { 0, 1, 100, SIGNER_MSG_MAX };
	struct kg_keypair		*kp = seed_keypair(0x42);
	struct signer			*s;
	uint8_t				*msg, sig[KG_SIG_LEN], want[KG_SIG_LEN];
	uint8_t				 id[KG_KEY_ID_LEN];
	size_t				 i, j;

	(void)state;
	key_write("plain.key", 0x42, NULL);
	s = open_ok("plain.key", NULL);
	assert_memory_equal(signer_pubkey(s), kp->pk, KG_PUBKEY_LEN);
	key_id_compute(kp->pk, id);
	assert_memory_equal(signer_key_id(s), id, KG_KEY_ID_LEN);
	assert_int_equal(signer_children(NULL), 1);
	assert_false(signer_failed(s));

	assert_non_null(msg = malloc(SIGNER_MSG_MAX));
	for (i = 0; i < SIGNER_MSG_MAX; i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			assert_int_equal(signer_sign(s, domains[i], msg, lens[j], sig), 0);
			assert_int_equal(keys_sign(kp, domains[i], msg, lens[j], want),
			    KGE_OK);
			assert_memory_equal(sig, want, KG_SIG_LEN);
			assert_int_equal(keys_verify(kp->pk, domains[i], msg, lens[j],
			    sig), KGE_OK);
		}
	}
	/* A reply signature is no license signature. */
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, 100, sig), 0);
	assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_LICENSE, msg, 100, sig),
	    KGE_KEY_SIGNATURE);
	free(msg);
	signer_close(s);
	keypair_free(kp);
	assert_int_equal(signer_children(NULL), 0);
	assert_no_children();
}

/* Over the limit, in an unknown or the rotation domain: refused, signature zeroed. */
static void
test_sign_refused(void **state)
{
	struct signer	*s;
	uint8_t		*msg, sig[KG_SIG_LEN], zero[KG_SIG_LEN];
	pid_t		 before = 0, after = 0;

	(void)state;
	memset(zero, 0, sizeof(zero));
	key_write("plain.key", 0x42, NULL);
	s = open_ok("plain.key", NULL);
	assert_int_equal(signer_children(&before), 1);
	assert_non_null(msg = calloc(1, SIGNER_MSG_MAX + 1));
	memset(sig, 0xee, sizeof(sig));
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, SIGNER_MSG_MAX + 1, sig),
	    -1);
	assert_memory_equal(sig, zero, KG_SIG_LEN);
	memset(sig, 0xee, sizeof(sig));
	assert_int_equal(signer_sign(s, (enum kg_domain)7, msg, 10, sig), -1);
	assert_memory_equal(sig, zero, KG_SIG_LEN);
	/* Given bytes are never signed in the rotation domain. */
	memset(sig, 0xee, sizeof(sig));
	assert_int_equal(signer_sign(s, KG_DOMAIN_ROTATION, msg, 10, sig), -1);
	assert_memory_equal(sig, zero, KG_SIG_LEN);
	/* Refusals are not failures: the same process still signs. */
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, 10, sig), 0);
	assert_int_equal(signer_children(&after), 1);
	assert_int_equal(before, after);
	assert_false(signer_failed(s));
	free(msg);
	signer_close(s);
	assert_no_children();
}

/*
 * signer_license_key_new gives the same key text as an in-process key, and
 * keeps it: the same payload again costs no signature.
 */
static void
test_license_key(void **state)
{
	struct kg_keypair	*kp = seed_keypair(0x42);
	struct kg_license	 lic;
	struct signer		*s;
	char			*text = NULL, *want = NULL;
	bool			 kept;

	(void)state;
	key_write("plain.key", 0x42, NULL);
	s = open_ok("plain.key", NULL);
	memset(&lic, 0, sizeof(lic));
	lic.serial = 123;
	strcpy(lic.product, "DEMO");
	strcpy(lic.edition, "STD");
	strcpy(lic.regno, "DEMO-000123");
	strcpy(lic.licensee, "Test Ltd");
	lic.created = date_from_ymd(2026, 1, 15);
	lic.support_expiry = date_from_ymd(2026, 7, 15);
	lic.revision = 1;
	assert_int_equal(signer_license_key_new(s, &lic, &text, &kept), 0);
	assert_false(kept);
	assert_memory_equal(lic.key_id, signer_key_id(s), KG_KEY_ID_LEN);
	assert_int_equal(license_key_new(&lic, kp, &want), KGE_OK);
	assert_string_equal(text, want);
	free(text);
	/* The same payload again: the kept text, no second signature. */
	assert_int_equal(signer_license_key_new(s, &lic, &text, &kept), 0);
	assert_true(kept);
	assert_string_equal(text, want);
	free(text);
	/* Another revision is another payload: signed. */
	lic.revision = 2;
	assert_int_equal(signer_license_key_new(s, &lic, &text, &kept), 0);
	assert_false(kept);
	free(text);
	free(want);
	signer_close(s);
	keypair_free(kp);
	assert_no_children();
}

/* SIGKILL and SIGSTOP: the next signature comes from a new process. */
static void
test_restart(void **state)
{
	struct kg_keypair	*kp = seed_keypair(0x42);
	struct signer		*s;
	uint8_t			 msg[32], sig[KG_SIG_LEN];
	pid_t			 p1 = 0, p2 = 0, p3 = 0;

	(void)state;
	memset(msg, 0x5a, sizeof(msg));
	key_write("plain.key", 0x42, NULL);
	s = open_ok("plain.key", NULL);
	assert_int_equal(signer_children(&p1), 1);
	assert_int_equal(kill(p1, SIGKILL), 0);
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), sig), 0);
	assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_REPLY, msg, sizeof(msg), sig),
	    KGE_OK);
	assert_int_equal(signer_children(&p2), 1);
	assert_true(p2 != p1);
	assert_int_equal(kill(p1, 0), -1);	/* reaped */

	assert_int_equal(kill(p2, SIGSTOP), 0);
	assert_int_equal(signer_sign(s, KG_DOMAIN_LICENSE, msg, sizeof(msg), sig), 0);
	assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_LICENSE, msg, sizeof(msg),
	    sig), KGE_OK);
	assert_int_equal(signer_children(&p3), 1);
	assert_true(p3 != p2);
	assert_false(signer_failed(s));
	signer_close(s);
	keypair_free(kp);
	assert_no_children();
}

/* A thread that sends SIGCONT to pid after ms milliseconds. */
struct cont_later {
	pid_t		pid;
	unsigned	ms;
};

static void *
cont_later(void *arg)
{
	const struct cont_later	*cl = arg;
	struct timespec		 ts = { 0, (long)cl->ms * 1000000L };

	nanosleep(&ts, NULL);
	kill(cl->pid, SIGCONT);
	return NULL;
}

static void
affinity_of(pid_t pid, cpu_set_t *set)
{
	CPU_ZERO(set);
	assert_int_equal(sched_getaffinity(pid, sizeof(*set), set), 0);
}

static void
sleep_ms(unsigned ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Sign until pid runs on want alone (a slow machine may make an answer
 * late, which moves the process for a while): 50 tries at most.
 */
static void
sign_until_on(struct signer *s, const struct kg_keypair *kp, pid_t pid,
    const cpu_set_t *want)
{
	uint8_t		msg[32], sig[KG_SIG_LEN];
	cpu_set_t	got;
	int		i;

	memset(msg, 0x33, sizeof(msg));
	for (i = 0; i < 50; i++) {
		assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg,
		    sizeof(msg), sig), 0);
		assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_REPLY, msg,
		    sizeof(msg), sig), KGE_OK);
		affinity_of(pid, &got);
		if (CPU_EQUAL(&got, want))
			return;
		sleep_ms(2 * SIGNER_UNPIN_MS);
	}
	fail_msg("the signer process never ran on the caller's CPU alone");
}

/*
 * Placement: the process runs on the caller's CPU alone. Stopped there (as
 * a kernel thread holding that CPU would keep it), it is moved to the
 * caller's other CPUs once SIGNER_PIN_WAIT_US have passed without an
 * answer; the answer then comes from the same process, which stays away
 * for SIGNER_UNPIN_MS and then follows the caller again.
 */
static void
test_pinned_moves(void **state)
{
	struct kg_keypair	*kp = seed_keypair(0x42);
	struct cont_later	 cl;
	struct signer		*s;
	pthread_t		 th;
	cpu_set_t		 mine, one, others, got;
	uint8_t			 msg[32], sig[KG_SIG_LEN];
	int64_t			 t0;
	pid_t			 pid;
	int			 cpu;

	(void)state;
	affinity_of(0, &mine);
	if (CPU_COUNT(&mine) < 2) {
		keypair_free(kp);
		skip();		/* nowhere else to go */
	}
	key_write("plain.key", 0x42, NULL);
	s = open_ok("plain.key", NULL);		/* keygated's CPUs: mine */
	pid = signer_child();
	/* The caller stays on one CPU, so "the caller's CPU" is that one. */
	for (cpu = 0; !CPU_ISSET(cpu, &mine); cpu++)
		;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	others = mine;
	CPU_CLR(cpu, &others);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	sign_until_on(s, kp, pid, &one);

	/* No answer for 100 ms: moved after SIGNER_PIN_WAIT_US. */
	assert_int_equal(kill(pid, SIGSTOP), 0);
	wait_state(pid, 'T');
	cl.pid = pid;
	cl.ms = 100;
	assert_int_equal(pthread_create(&th, NULL, cont_later, &cl), 0);
	memset(msg, 0x44, sizeof(msg));
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), sig),
	    0);
	t0 = signer_clock_msec();
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_REPLY, msg, sizeof(msg),
	    sig), KGE_OK);
	assert_int_equal(signer_child(), pid);		/* not restarted */
	affinity_of(pid, &got);
	assert_true(CPU_EQUAL(&got, &others));

	/* Right after the answer it stays where it went. */
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), sig),
	    0);
	affinity_of(pid, &got);
	if (signer_clock_msec() - t0 < SIGNER_UNPIN_MS)
		assert_false(CPU_ISSET(cpu, &got));

	/* Later it follows the caller again. */
	sleep_ms(2 * SIGNER_UNPIN_MS);
	sign_until_on(s, kp, pid, &one);
	assert_false(signer_failed(s));
	signer_close(s);
	keypair_free(kp);
	assert_int_equal(sched_setaffinity(0, sizeof(mine), &mine), 0);
	assert_no_children();
}

static void
count_stop(void *arg)
{
	(*(int *)arg)++;
}

/* The key file now holds another key: give up, sign nothing, stop once. */
static void
test_restart_other_key(void **state)
{
	struct signer	*s;
	uint8_t		 msg[32], sig[KG_SIG_LEN], zero[KG_SIG_LEN];
	pid_t		 p = 0;
	int		 stops = 0;

	(void)state;
	memset(msg, 0x5a, sizeof(msg));
	memset(zero, 0, sizeof(zero));
	key_write("plain.key", 0x42, NULL);
	s = open_ok("plain.key", NULL);
	assert_int_equal(signer_watch(s, NULL, count_stop, &stops), 0);
	key_write("plain.key", 0x43, NULL);
	assert_int_equal(signer_children(&p), 1);
	assert_int_equal(kill(p, SIGKILL), 0);
	memset(sig, 0xee, sizeof(sig));
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), sig), -1);
	assert_memory_equal(sig, zero, KG_SIG_LEN);
	assert_true(signer_failed(s));
	assert_int_equal(stops, 1);
	assert_int_equal(signer_children(NULL), 0);
	assert_no_children();
	/* Final: no further attempt, no second stop. */
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), sig), -1);
	assert_int_equal(stops, 1);
	assert_int_equal(signer_children(NULL), 0);
	signer_close(s);
}

/* The key file was altered: the restart fails and the signer gives up. */
static void
test_restart_corrupt(void **state)
{
	struct signer	*s;
	uint8_t		 msg[32], sig[KG_SIG_LEN];
	pid_t		 p = 0;
	int		 stops = 0;

	(void)state;
	memset(msg, 0x5a, sizeof(msg));
	key_write("plain.key", 0x42, NULL);
	s = open_ok("plain.key", NULL);
	assert_int_equal(signer_watch(s, NULL, count_stop, &stops), 0);
	text_write("plain.key", "KGS1.AAAA");
	assert_int_equal(signer_children(&p), 1);
	assert_int_equal(kill(p, SIGKILL), 0);
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), sig), -1);
	assert_true(signer_failed(s));
	assert_int_equal(stops, 1);
	signer_close(s);
	assert_no_children();
}

/* Five restarts a minute are fine; the sixth death gives up. */
static void
test_restart_limit(void **state)
{
	struct signer	*s;
	uint8_t		 msg[32], sig[KG_SIG_LEN];
	pid_t		 p = 0;
	int		 i, stops = 0;

	(void)state;
	memset(msg, 0x5a, sizeof(msg));
	key_write("plain.key", 0x42, NULL);
	s = open_ok("plain.key", NULL);
	assert_int_equal(signer_watch(s, NULL, count_stop, &stops), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(signer_children(&p), 1);
		assert_int_equal(kill(p, SIGKILL), 0);
		assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), sig),
		    0);
	}
	assert_false(signer_failed(s));
	assert_int_equal(signer_children(&p), 1);
	assert_int_equal(kill(p, SIGKILL), 0);
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), sig), -1);
	assert_true(signer_failed(s));
	assert_int_equal(stops, 1);
	signer_close(s);
	assert_no_children();
}

/* Start-up errors: the kge code and one line; no process left behind. */
static void
test_open_errors(void **state)
{
	static const struct {
		const char	*content;	/* NULL: a valid key of seed 0x42 */
		mode_t		 mode;
		int		 rc;
	} cases[] = {
		{ NULL, 0644, KGE_FILE_MODE },
		{ "KGS1.AAAAAAAA\n", 0600, KGE_FILE_TRUNCATED },
		{ "hello, world\n", 0600, KGE_FILE_FORMAT },
	};
	struct signer	*s = NULL;
	char		 path[256], err[1024], want[1400];
	size_t		 i;

	(void)state;
	tpath(path, sizeof(path), "bad.key");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].content == NULL)
			key_write("bad.key", 0x42, NULL);
		else {
			unlink(path);
			text_write("bad.key", cases[i].content);
		}
		assert_int_equal(chmod(path, cases[i].mode), 0);
		assert_int_equal(signer_open(path, NULL, &s, err, sizeof(err)),
		    cases[i].rc);
		assert_null(s);
		snprintf(want, sizeof(want), "%s: %s", path, kge_strerror(cases[i].rc));
		assert_string_equal(err, want);
		assert_no_children();
	}
	unlink(path);
	assert_int_equal(signer_open(path, NULL, &s, err, sizeof(err)), KGE_IO);
	snprintf(want, sizeof(want), "%s: cannot read the secret key file: "
	    "No such file or directory", path);
	assert_string_equal(err, want);
	assert_no_children();
}

/* A sealed key: passphrase file, wrong one, none, systemd credential. */
static void
test_sealed(void **state)
{
	struct signer	*s = NULL;
	char		 path[256], pass[256], wrong[256], cred[256], err[1024];
	char		 want[1400];
	uint8_t		 msg[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, sig[KG_SIG_LEN];

	(void)state;
	key_write("sealed.key", 0x44, "open sesame");
	tpath(path, sizeof(path), "sealed.key");
	tpath(pass, sizeof(pass), "pass");
	tpath(wrong, sizeof(wrong), "wrong");
	tpath(cred, sizeof(cred), "keygated-passphrase");
	text_write("pass", "open sesame\n");
	text_write("wrong", "open sesame!\n");
	text_write("keygated-passphrase", "open sesame\n");

	s = open_ok("sealed.key", pass);
	assert_int_equal(signer_sign(s, KG_DOMAIN_LICENSE, msg, sizeof(msg), sig), 0);
	assert_int_equal(keys_verify(signer_pubkey(s), KG_DOMAIN_LICENSE, msg,
	    sizeof(msg), sig), KGE_OK);
	signer_close(s);

	assert_int_equal(signer_open(path, wrong, &s, err, sizeof(err)), KGE_PASSPHRASE);
	snprintf(want, sizeof(want), "%s: %s: check the passphrase file %s", path,
	    kge_strerror(KGE_PASSPHRASE), wrong);
	assert_string_equal(err, want);

	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(signer_open(path, "", &s, err, sizeof(err)),
	    KGE_PASSPHRASE_REQUIRED);

	/* No passphrase file given: the systemd credential, when present. */
	setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
	s = open_ok("sealed.key", NULL);
	signer_close(s);
	/* A passphrase file given wins over the credential. */
	assert_int_equal(signer_open(path, wrong, &s, err, sizeof(err)), KGE_PASSPHRASE);
	unlink(cred);
	assert_int_equal(signer_open(path, NULL, &s, err, sizeof(err)),
	    KGE_PASSPHRASE_REQUIRED);
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_no_children();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_matches_key),
		cmocka_unit_test(test_sign_refused),
		cmocka_unit_test(test_license_key),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_pinned_moves),
		cmocka_unit_test(test_restart_other_key),
		cmocka_unit_test(test_restart_corrupt),
		cmocka_unit_test(test_restart_limit),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_sealed),
	};

	return cmocka_run_group_tests(tests, signer_fixture_setup,
	    signer_fixture_teardown);
}
