/*
 * libkgmalloccount: counts a process's heap allocations, for tests that
 * show a hot path allocates nothing per request. LD_PRELOAD it; each
 * SIGUSR2 writes the number of malloc, calloc and realloc calls so far
 * (one decimal line) over the file $KG_MALLOC_COUNT_FILE. Not for
 * sanitizer builds, which interpose the allocator themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void	*__libc_malloc(size_t);
void	*__libc_calloc(size_t, size_t);
void	*__libc_realloc(void *, size_t);

static atomic_ulong	calls;
static const char	*path;

void *
malloc(size_t n)
{
	atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
	atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
	atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}

/* Async-signal-safe: the count in decimal, by write(2). */
static void
on_usr2(int sig)
{
	char		buf[32];
	unsigned long	v = atomic_load(&calls);
	size_t		i = sizeof(buf);
	ssize_t		n;
	int		fd, saved = errno;

	(void)sig;
	buf[--i] = '\n';
	do
		buf[--i] = (char)('0' + v % 10);
	while ((v /= 10) > 0 && i > 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd != -1) {
		n = write(fd, buf + i, sizeof(buf) - i);
		(void)n;
		close(fd);
	}
	errno = saved;
}

__attribute__((constructor)) static void
malloccount_init(void)
{
	struct sigaction	sa;

	if ((path = getenv("KG_MALLOC_COUNT_FILE")) == NULL)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}
