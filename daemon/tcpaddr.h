/*
 * What the two TCP listeners (the public port and the metrics port) share:
 * splitting "HOST:PORT", the port a socket was bound to, and the port file.
 */
#ifndef KG_TCPADDR_H
#define KG_TCPADDR_H

#include <sys/socket.h>

#include <stddef.h>

/*
 * Split "HOST:PORT" or "[HOST]:PORT" into host and port (1 to 5 digits, at
 * most 65535). "*:PORT" and ":PORT" mean every IPv4 address ("0.0.0.0").
 * 0, or -1 when s does not parse or a part does not fit.
 */
int	tcpaddr_split(const char *s, char *host, size_t hostlen, char *port,
	    size_t portlen);

/* The port fd is bound to (0 when unknown); its address in *ss. */
unsigned	tcpaddr_bound_port(int fd, struct sockaddr_storage *ss);

/*
 * Write "PORT\n" to path through a temporary file, so readers never see
 * half. 0, or -1 with errno.
 */
int	tcpaddr_port_file_write(const char *path, unsigned port);

#endif
