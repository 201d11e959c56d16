/*
 * The configuration file: a table of settings {name, kind, offset, limits}
 * with defaults, parsed line by line. A bad line stops the load with one
 * message naming the file, the line and what is wrong.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "metrics.h"

enum conf_kind {
	CONF_STRING,
	CONF_U32,
	CONF_U64,
	CONF_LOG_LEVEL,
	CONF_UIDS,
	CONF_BOOL,
};

struct conf_setting {
	const char	*name;
	enum conf_kind	 kind;
	size_t		 offset;
	size_t		 size;		/* strings: buffer size */
	uint64_t	 min, max;	/* numbers */
	const char	*help;
};

#define STR(f)	CONF_STRING, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0
#define U32(f)	CONF_U32, offsetof(struct config, f), 0
#define U64(f)	CONF_U64, offsetof(struct config, f), 0

static const struct conf_setting settings[] = {
	{ "listen", STR(listen), "HOST:PORT of the public TCP listener" },
	{ "admin_socket", STR(admin_socket), "admin Unix socket (default: <data dir>/admin.sock)" },
	{ "key_file", STR(key_file), "signing key file, relative to the data dir" },
	{ "passphrase_file", STR(passphrase_file), "passphrase of a sealed key file" },
	{ "port_file", STR(port_file), "write the bound TCP port here" },
	{ "max_connections", U32(max_connections), 1, 1000000, "public connections at once" },
	{ "workers", U32(workers), 0, CONF_WORKERS_MAX, "threads serving the public port (0: one per CPU)" },
	{ "frame_max", U32(frame_max), 256, 16777216, "bytes of one request" },
	{ "idle_timeout", U32(idle_timeout), 1, 86400, "seconds a connection may wait between requests" },
	{ "read_timeout", U32(read_timeout), 1, 3600, "seconds to receive one whole request" },
	{ "write_timeout", U32(write_timeout), 1, 3600, "seconds to send replies" },
	{ "output_highwater", U32(output_highwater), 4096, 1073741824, "unsent reply bytes before a client is cut off" },
	{ "map_size_mb", U64(map_size_mb), 1, 1048576, "LMDB map size in MiB" },
	{ "map_size_max_mb", U64(map_size_max_mb), 0, 1048576, "grow a full LMDB map up to this many MiB (0: never grow)" },
	{ "log_level", CONF_LOG_LEVEL, offsetof(struct config, log_level), 0, 0, 0, "error, warn, info or debug" },
	{ "admin_uids", CONF_UIDS, 0, 0, 0, 0, "uids besides root and keygated's own allowed on the admin socket" },
	{ "metrics_listen", STR(metrics_listen), "HOST:PORT of the metrics HTTP listener (default: none, off)" },
	{ "metrics_allow_remote", CONF_BOOL, offsetof(struct config, metrics_allow_remote), 0, 0, 0, "yes or no" },
	{ "metrics_port_file", STR(metrics_port_file), "write the bound metrics port here" },
};

/* Fill c with the defaults. */
void
conf_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:7447");
	snprintf(c->key_file, sizeof(c->key_file), "signing.key");
	c->max_connections = 4096;
	c->workers = 1;
	c->frame_max = 65536;
	c->idle_timeout = 60;
	c->read_timeout = 10;
	c->write_timeout = 10;
	c->output_highwater = 262144;
	c->map_size_mb = 1024;
	c->log_level = LOG_LEVEL_INFO;
}

static char *
conf_trim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int
conf_number(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	char			*end;
	unsigned long long	 n;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static int
conf_uids(const char *v, struct config *c)
{
	char	 buf[512], *tok, *save;
	uint64_t uid;

	if (strlen(v) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", v);
	c->n_admin_uids = 0;
	for (tok = strtok_r(buf, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		if (c->n_admin_uids == CONF_ADMIN_UIDS_MAX ||
		    conf_number(tok, 0, UINT32_MAX - 1, &uid) == -1)
			return -1;
		c->admin_uids[c->n_admin_uids++] = (uid_t)uid;
	}
	return 0;
}

static int
conf_set(const struct conf_setting *s, const char *v, struct config *c)
{
	char		*base = (char *)c;
	uint64_t	 n;

	switch (s->kind) {
	case CONF_STRING:
		if (strlen(v) >= s->size)
			return -1;
		memcpy(base + s->offset, v, strlen(v) + 1);
		return 0;
	case CONF_U32:
		if (conf_number(v, s->min, s->max, &n) == -1)
			return -1;
		*(uint32_t *)(void *)(base + s->offset) = (uint32_t)n;
		return 0;
	case CONF_U64:
		if (conf_number(v, s->min, s->max, &n) == -1)
			return -1;
		*(uint64_t *)(void *)(base + s->offset) = n;
		return 0;
	case CONF_LOG_LEVEL:
		return log_level_parse(v, &c->log_level);
	case CONF_UIDS:
		return conf_uids(v, c);
	case CONF_BOOL:
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return -1;
		*(bool *)(void *)(base + s->offset) = strcmp(v, "yes") == 0;
		return 0;
	}
	return -1;
}

static const char *
conf_expect(const struct conf_setting *s, char *buf, size_t len)
{
	switch (s->kind) {
	case CONF_U32:
	case CONF_U64:
		snprintf(buf, len, "a whole number from %" PRIu64 " to %" PRIu64, s->min, s->max);
		return buf;
	case CONF_STRING:
		snprintf(buf, len, "text shorter than %zu bytes", s->size);
		return buf;
	default:
		return s->help;
	}
}

/* Read path into c (on top of the defaults); one line into err on failure. */
int
conf_load(const char *path, struct config *c, char *err, size_t errlen)
{
	FILE	*f;
	char	 line[1024], expect[96], *name, *value, *eq, *hash;
	int	 lineno = 0, rc = -1;
	size_t	 i;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		name = conf_trim(line);
		if (*name == '\0')
			continue;
		if ((eq = strchr(name, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected \"name = value\"", path, lineno);
			goto fail;
		}
		*eq = '\0';
		name = conf_trim(name);
		value = conf_trim(eq + 1);
		for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
			if (strcmp(settings[i].name, name) == 0)
				break;
		if (i == sizeof(settings) / sizeof(settings[0])) {
			snprintf(err, errlen, "%s:%d: unknown setting \"%s\"", path, lineno, name);
			goto fail;
		}
		if (conf_set(&settings[i], value, c) == -1) {
			snprintf(err, errlen, "%s:%d: %s: expected %s", path, lineno, name,
			    conf_expect(&settings[i], expect, sizeof(expect)));
			goto fail;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	if (c->map_size_max_mb != 0 && c->map_size_max_mb < c->map_size_mb) {
		snprintf(err, errlen, "%s: map_size_max_mb (%" PRIu64 ") is below "
		    "map_size_mb (%" PRIu64 "): raise it, or set 0 to never grow "
		    "the map", path, c->map_size_max_mb, c->map_size_mb);
		goto fail;
	}
	if (metrics_conf_check(c, path, err, errlen) == -1)
		goto fail;
	rc = 0;
fail:
	fclose(f);
	return rc;
}

/* Write a commented default configuration (O_EXCL, 0644). */
int
conf_write_default(const char *path)
{
	struct config	 c;
	FILE		*f;
	int		 fd;

	conf_defaults(&c);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)) == -1)
		return -1;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return -1;
	}
	fprintf(f, "# keygated configuration; see keygate.conf(5). Lines are \"name = value\".\n"
	    "listen = %s\n"
	    "key_file = %s\n"
	    "# passphrase_file = /run/credentials/keygated.service/passphrase\n"
	    "# admin_socket = (default: admin.sock in the data dir)\n"
	    "# admin_uids = 1000\n"
	    "max_connections = %u\n"
	    "# workers = 1 (threads serving the public port; 0: one per CPU)\n"
	    "frame_max = %u\n"
	    "idle_timeout = %u\n"
	    "read_timeout = %u\n"
	    "write_timeout = %u\n"
	    "output_highwater = %u\n"
	    "map_size_mb = %llu\n"
	    "# map_size_max_mb = 0 (grow a full map up to this many MiB; 0: never)\n"
	    "log_level = info\n"
	    "# metrics_listen = 127.0.0.1:9447 (Prometheus /metrics and /healthz; default off)\n",
	    c.listen, c.key_file, c.max_connections, c.frame_max, c.idle_timeout,
	    c.read_timeout, c.write_timeout, c.output_highwater,
	    (unsigned long long)c.map_size_mb);
	if (fflush(f) != 0 || fsync(fd) != 0) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}
