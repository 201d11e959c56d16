/*
 * Unit tests of daemon/log.c: a message is one line, stamped and tagged
 * with its level, written to stderr with one write(2) however long it is
 * (so lines from threads and from the signer process, which shares stderr,
 * never interleave), and lines above the threshold are not written.
 *
 * stderr is pointed at a temporary file for each test; write(2) is counted
 * by a definition here that takes the place of libc's for this program.
 */
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "tmpdir.h"

#define THREADS		4
#define THREAD_LINES	500

static _Atomic int	counted_fd = -1;
static atomic_int	writes;		/* write(2) calls on counted_fd */

/* libc's write, counted when it goes to counted_fd. */
ssize_t
write(int fd, const void *buf, size_t len)
{
	if (fd == atomic_load(&counted_fd))
		atomic_fetch_add(&writes, 1);
	return syscall(SYS_write, fd, buf, len);
}

struct fixture {
	char	dir[256];
	char	path[300];
	int	saved;		/* the real stderr */
};

static int
setup(void **state)
{
	struct fixture	*f;
	int		 fd;

	assert_non_null(f = calloc(1, sizeof(*f)));
	assert_int_equal(tmpdir_make(f->dir, sizeof(f->dir), "log"), 0);
	snprintf(f->path, sizeof(f->path), "%s/stderr", f->dir);
	fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	assert_true((f->saved = dup(STDERR_FILENO)) >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	log_set_level(LOG_LEVEL_INFO);
	atomic_store(&writes, 0);
	atomic_store(&counted_fd, STDERR_FILENO);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	atomic_store(&counted_fd, -1);
	dup2(f->saved, STDERR_FILENO);
	close(f->saved);
	assert_int_equal(tmpdir_remove(f->dir), 0);
	free(f);
	return 0;
}

/* The file's whole text (NUL-terminated, the caller frees) and its length. */
static char *
slurp(const struct fixture *f, size_t *len)
{
	struct stat	 sb;
	char		*buf;
	int		 fd;

	assert_true((fd = open(f->path, O_RDONLY)) >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_non_null(buf = malloc((size_t)sb.st_size + 1));
	assert_int_equal(read(fd, buf, (size_t)sb.st_size), sb.st_size);
	buf[sb.st_size] = '\0';
	close(fd);
	*len = (size_t)sb.st_size;
	return buf;
}

/* line (without its newline) is a stamped line of level with text. */
static void
assert_line(const char *line, size_t len, const char *level, const char *text)
{
	regex_t		re;
	regmatch_t	m[2];
	char		*copy;

	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}Z keygated\\[([a-z]+)\\]: ", REG_EXTENDED), 0);
	assert_non_null(copy = strndup(line, len));
	assert_int_equal(regexec(&re, copy, 2, m, 0), 0);
	assert_int_equal(m[1].rm_eo - m[1].rm_so, (regoff_t)strlen(level));
	assert_memory_equal(copy + m[1].rm_so, level, strlen(level));
	assert_string_equal(copy + m[0].rm_eo, text);
	free(copy);
	regfree(&re);
}

static void
test_one_line_one_write(void **state)
{
	struct fixture	*f = *state;
	size_t		 len;
	char		*text;

	log_info("act %s redeemed by %s", "A-1", "Фирма \"Ромашка\"");
	log_warn("%d requests waiting", 3);
	assert_int_equal(atomic_load(&writes), 2);
	text = slurp(f, &len);
	assert_true(len > 0 && text[len - 1] == '\n');
	assert_line(text, (size_t)(strchr(text, '\n') - text), "info",
	    "act A-1 redeemed by Фирма \"Ромашка\"");
	assert_line(strchr(text, '\n') + 1, strlen(strchr(text, '\n') + 1) - 1,
	    "warn", "3 requests waiting");
	free(text);
}

/* Longer than the stack buffer: still whole, still one write. */
static void
test_long_line_whole(void **state)
{
	struct fixture	*f = *state;
	size_t		 n, len;
	char		*big, *text;

	for (n = 2000; n <= 2100; n += 5) {
		assert_non_null(big = malloc(n + 1));
		memset(big, 'x', n);
		big[n - 1] = 'y';
		big[n] = '\0';
		assert_int_equal(ftruncate(STDERR_FILENO, 0), 0);
		atomic_store(&writes, 0);
		log_error("%s", big);
		assert_int_equal(atomic_load(&writes), 1);
		text = slurp(f, &len);
		assert_true(len > n && text[len - 1] == '\n');
		assert_line(text, len - 1, "error", big);
		free(text);
		free(big);
	}
	assert_non_null(big = malloc(100001));
	memset(big, 'z', 100000);
	big[100000] = '\0';
	assert_int_equal(ftruncate(STDERR_FILENO, 0), 0);
	atomic_store(&writes, 0);
	log_info("%s", big);
	assert_int_equal(atomic_load(&writes), 1);
	text = slurp(f, &len);
	assert_line(text, len - 1, "info", big);
	free(text);
	free(big);
}

static void
test_threshold(void **state)
{
	struct fixture	*f = *state;
	size_t		 len;
	char		*text;

	log_debug("not shown %d", 1);
	assert_int_equal(atomic_load(&writes), 0);
	log_set_level(LOG_LEVEL_ERROR);
	log_warn("not shown %d", 2);
	log_info("not shown %d", 3);
	log_error("shown %d", 4);
	log_set_level(LOG_LEVEL_DEBUG);
	assert_true(log_debug_enabled());
	log_debug("shown %d", 5);
	assert_int_equal(atomic_load(&writes), 2);
	text = slurp(f, &len);
	assert_null(strstr(text, "not shown"));
	assert_non_null(strstr(text, "keygated[error]: shown 4\n"));
	assert_non_null(strstr(text, "keygated[debug]: shown 5\n"));
	free(text);
}

static void *
thread_main(void *arg)
{
	int	t = (int)(intptr_t)arg, i;

	for (i = 0; i < THREAD_LINES; i++)
		log_info("thread %d line %d %s", t, i,
		    "padding padding padding padding padding padding padding");
	return NULL;
}

/* Lines of threads logging at once come out whole, each exactly once. */
static void
test_threads_whole_lines(void **state)
{
	struct fixture	*f = *state;
	pthread_t	 th[THREADS];
	static char	 seen[THREADS][THREAD_LINES];
	char		*text, *line, *nl, want[128];
	size_t		 len;
	int		 t, i, lines = 0;

	for (t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, thread_main,
		    (void *)(intptr_t)t), 0);
	for (t = 0; t < THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	assert_int_equal(atomic_load(&writes), THREADS * THREAD_LINES);
	text = slurp(f, &len);
	for (line = text; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		assert_int_equal(sscanf(strstr(line, "]: ") + 3,
		    "thread %d line %d", &t, &i), 2);
		assert_true(t >= 0 && t < THREADS && i >= 0 &&
		    i < THREAD_LINES && !seen[t][i]);
		seen[t][i] = 1;
		snprintf(want, sizeof(want), "thread %d line %d %s", t, i,
		    "padding padding padding padding padding padding padding");
		assert_line(line, strlen(line), "info", want);
		lines++;
	}
	assert_int_equal(line - text, (ptrdiff_t)len);
	assert_int_equal(lines, THREADS * THREAD_LINES);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(test_one_line_one_write,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_whole,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_threshold, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_threads_whole_lines,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
