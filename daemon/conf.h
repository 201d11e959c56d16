/*
 * keygated's configuration: the file <data dir>/keygated.conf, lines of
 * "name = value" ('#' starts a comment). Every setting has a default; the
 * table of settings lives in conf.c.
 */
#ifndef KG_CONF_H
#define KG_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"

#define CONF_FILE_NAME		"keygated.conf"
#define CONF_ADMIN_UIDS_MAX	16
#define CONF_WORKERS_MAX	64

struct config {
	char		listen[128];		/* HOST:PORT of the public TCP listener */
	char		admin_socket[PATH_MAX];	/* "" = <data dir>/admin.sock */
	char		key_file[PATH_MAX];	/* relative to the data dir unless absolute */
	char		passphrase_file[PATH_MAX]; /* "" = key file is not sealed */
	char		port_file[PATH_MAX];	/* "" = none; the bound port is written here */
	uint32_t	max_connections;	/* public connections at once */
	uint32_t	workers;		/* threads on the public port (1); 0 = one per CPU */
	uint32_t	frame_max;		/* bytes of one frame's message */
	uint32_t	idle_timeout;		/* seconds without a request */
	uint32_t	read_timeout;		/* seconds to receive one whole frame */
	uint32_t	write_timeout;		/* seconds to send replies */
	uint32_t	output_highwater;	/* bytes of unsent replies before cut-off */
	uint64_t	map_size_mb;		/* LMDB map size in MiB */
	uint64_t	map_size_max_mb;	/* grow the map up to this; 0 = never */
	enum log_level	log_level;
	uid_t		admin_uids[CONF_ADMIN_UIDS_MAX]; /* besides root and our own uid */
	size_t		n_admin_uids;
	char		metrics_listen[128];	/* "" = no metrics HTTP listener */
	bool		metrics_allow_remote;	/* metrics on a non-loopback address */
	char		metrics_port_file[PATH_MAX]; /* "" = none; the bound metrics port */
};

/* Fill c with the defaults. */
void	conf_defaults(struct config *c);

/*
 * Read path into c (on top of the defaults). On error returns -1 and writes
 * one line "path:LINE: what is wrong" (or "path: what is wrong" for settings
 * that contradict each other) into err.
 */
int	conf_load(const char *path, struct config *c, char *err, size_t errlen);

/* Write a commented default configuration file (mode 0644, O_EXCL). 0 or -1. */
int	conf_write_default(const char *path);

#endif
