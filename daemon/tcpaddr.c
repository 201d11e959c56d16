/*
 * What the public listener (listen.c) and the metrics listener (metrics.c)
 * share: the "HOST:PORT" syntax of their settings, reading back the port
 * the kernel chose (port 0 in the setting) and publishing it in a port file
 * that readers never see half-written.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcpaddr.h"

/* Split "HOST:PORT" or "[HOST]:PORT" into host and port. 0 or -1. */
int
tcpaddr_split(const char *s, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char	*colon, *end;
	size_t		 n;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -1;
		n = (size_t)(end - s - 1);
		if (n == 0 || n >= hostlen)
			return -1;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		n = (size_t)(colon - s);
		/* A bare IPv6 address needs brackets. */
		if (n >= hostlen || memchr(s, ':', n) != NULL)
			return -1;
		memcpy(host, s, n);
		host[n] = '\0';
		if (n == 0 || strcmp(host, "*") == 0)
			snprintf(host, hostlen, "0.0.0.0");
	}
	n = strlen(colon + 1);
	if (n == 0 || n > 5 || n >= portlen ||
	    strspn(colon + 1, "0123456789") != n || atoi(colon + 1) > 65535)
		return -1;
	memcpy(port, colon + 1, n + 1);
	return 0;
}

/* The port fd is bound to, or 0. */
unsigned
tcpaddr_bound_port(int fd, struct sockaddr_storage *ss)
{
	socklen_t	sslen = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	if (getsockname(fd, (struct sockaddr *)ss, &sslen) == -1)
		return 0;
	if (ss->ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

/* Write "PORT\n" to path through a temporary file. 0, or -1 with errno. */
int
tcpaddr_port_file_write(const char *path, unsigned port)
{
	char	tmp[PATH_MAX + 16], line[16];
	int	fd, n;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	n = snprintf(line, sizeof(line), "%u\n", port);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		return -1;
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
}
