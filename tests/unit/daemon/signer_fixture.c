/* The signer unit tests' shared fixture: see signer_fixture.h. */
#include <sys/wait.h>

#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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
#include "signer_fixture.h"
#include "signer_proc.h"
#include "tmpdir.h"

char	tmpdir[128];	/* a short path: key file names are appended */

void
tpath(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", tmpdir, name);
}

struct kg_keypair *
seed_keypair(uint8_t byte)
{
	uint8_t	seed[32];

	memset(seed, byte, sizeof(seed));
	return keypair_from_seed_new(seed);
}

void
key_write(const char *name, uint8_t byte, const char *pass)
{
	struct kg_keypair	*kp = seed_keypair(byte);
	char			 path[256];

	assert_non_null(kp);
	tpath(path, sizeof(path), name);
	unlink(path);
	assert_int_equal(keyfile_write(path, kp, pass, crypto_pwhash_OPSLIMIT_MIN,
	    crypto_pwhash_MEMLIMIT_MIN), KGE_OK);
	keypair_free(kp);
}

void
text_write(const char *name, const char *text)
{
	char	 path[256];
	FILE	*f;

	tpath(path, sizeof(path), name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

struct signer *
open_ok(const char *name, const char *pass_file)
{
	struct signer	*s = NULL;
	char		 path[256], err[1024];

	tpath(path, sizeof(path), name);
	if (signer_open(path, pass_file, &s, err, sizeof(err)) != KGE_OK)
		fail_msg("signer_open: %s", err);
	return s;
}

/* Our signer children (live only, or zombies too): count, the last pid. */
static int
signer_scan(pid_t *last, bool live_only)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[300], buf[512], *p, st;
	FILE		*f;
	int		 n = 0;
	long		 ppid;

	assert_non_null(d = opendir("/proc"));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%c %ld", &st, &ppid) == 2 &&
		    ppid == (long)getpid() && (!live_only || st != 'Z') &&
		    strstr(buf, "(" SIGNER_PROC_NAME ")") != NULL) {
			n++;
			if (last != NULL)
				*last = (pid_t)atol(e->d_name);
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

int
signer_children(pid_t *last)
{
	return signer_scan(last, false);
}

pid_t
signer_child(void)
{
	pid_t	pid = -1;

	assert_int_equal(signer_scan(&pid, true), 1);
	return pid;
}

void
wait_state(pid_t pid, char st)
{
	struct timespec	 tick = { 0, 5 * 1000000 };
	char		 path[64], buf[512], *p;
	FILE		*f;
	int		 i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (i = 0; i < 2000; i++) {
		assert_non_null(f = fopen(path, "r"));
		p = fgets(buf, sizeof(buf), f) != NULL ? strrchr(buf, ')') : NULL;
		fclose(f);
		if (p != NULL && p[2] == st)
			return;
		nanosleep(&tick, NULL);
	}
	fail_msg("process %d did not reach state %c", (int)pid, st);
}

void
assert_no_children(void)
{
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

int
signer_fixture_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0 ||
	    tmpdir_make(tmpdir, sizeof(tmpdir), "test-signer") == -1)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int
signer_fixture_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(tmpdir);
}
