/*
 * The log API of log.h: one line per message on stderr, prefixed with the
 * UTC time and the level. libevent's messages are routed here too.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

static _Atomic enum log_level	log_threshold = LOG_LEVEL_INFO;	/* SIGHUP changes it */

/* A line longer than this is formatted on the heap. */
#define LOG_LINE_STACK	2048

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

bool
log_debug_enabled(void)
{
	return log_threshold >= LOG_LEVEL_DEBUG;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/*
 * The stamp of second now, kept per thread: it changes once a second, and
 * gmtime_r plus strftime on every line was a visible share of a busy log.
 */
static const char *
log_stamp(time_t now)
{
	static _Thread_local time_t	at = (time_t)-1;
	static _Thread_local char	stamp[32];
	struct tm			tm;

	if (now != at) {
		gmtime_r(&now, &tm);
		if (strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ",
		    &tm) == 0)
			stamp[0] = '\0';
		at = now;
	}
	return stamp;
}

/* All of buf to fd, across short writes and signals; gives up on an error. */
static void
log_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * One message as one write(2) of the whole line: lines from the threads
 * and from the signer process (which shares stderr) do not interleave in a
 * file or the journal (on a pipe, only lines of up to PIPE_BUF are sure
 * not to), and a line costs one system call, not three. A line longer than
 * the stack buffer is formatted on the heap, or cut short when memory is
 * out.
 */
static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char	 buf[LOG_LINE_STACK], *line = buf, *big = NULL;
	size_t	 room = sizeof(buf), len;
	va_list	 again;
	int	 head, body;

	if (level > log_threshold)
		return;
	head = snprintf(buf, sizeof(buf), "%s keygated[%s]: ",
	    log_stamp(time(NULL)), level_names[level]);
	if (head < 0 || (size_t)head >= sizeof(buf))
		return;
	va_copy(again, ap);
	body = vsnprintf(buf + head, room - (size_t)head - 1, fmt, ap);
	if (body < 0)
		body = 0;
	else if ((size_t)body >= room - (size_t)head - 1 &&
	    (big = malloc((size_t)head + (size_t)body + 2)) != NULL) {
		memcpy(big, buf, (size_t)head);
		(void)vsnprintf(big + head, (size_t)body + 1, fmt, again);
		line = big;
		room = (size_t)head + (size_t)body + 2;
	}
	va_end(again);
	len = (size_t)head + (size_t)body;
	if (len > room - 2)
		len = room - 2;		/* out of memory: the line cut short */
	line[len++] = '\n';
	log_write_all(STDERR_FILENO, line, len);
	free(big);
}

#define LOG_FN(name, level)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	log_vwrite(level, fmt, ap);			\
	va_end(ap);					\
}

LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

static void
log_libevent(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warn("libevent: %s", msg);
		break;
	default:
		log_error("libevent: %s", msg);
		break;
	}
}

void
log_route_libevent(void)
{
	event_set_log_callback(log_libevent);
}
