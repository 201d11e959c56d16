/*
 * Fuzz target: keygated's configuration file. Each input is written to one
 * file in a temporary directory and read with conf_load on top of the
 * defaults, as keygated run and keygated --check do.
 *
 * Checked: a failed load says so in one line that starts with the file's
 * name; a successful one leaves every setting within the limits of conf.c's
 * table, every text setting NUL-terminated inside its buffer, and at most
 * CONF_ADMIN_UIDS_MAX admin uids.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

static char	path[PATH_MAX];

/* The file every input is written to. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	snprintf(path, sizeof(path), "%s/%s", fuzz_tmpdir("fuzz_config"),
	    CONF_FILE_NAME);
	return 0;
}

static bool
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* The limits of conf.c's table of settings. */
static void
config_check(const struct config *c)
{
	FUZZ_CHECK(terminated(c->listen, sizeof(c->listen)));
	FUZZ_CHECK(terminated(c->admin_socket, sizeof(c->admin_socket)));
	FUZZ_CHECK(terminated(c->key_file, sizeof(c->key_file)));
	FUZZ_CHECK(terminated(c->passphrase_file, sizeof(c->passphrase_file)));
	FUZZ_CHECK(terminated(c->port_file, sizeof(c->port_file)));
	FUZZ_CHECK(c->max_connections >= 1 && c->max_connections <= 1000000);
	FUZZ_CHECK(c->frame_max >= 256 && c->frame_max <= 16777216);
	FUZZ_CHECK(c->idle_timeout >= 1 && c->idle_timeout <= 86400);
	FUZZ_CHECK(c->read_timeout >= 1 && c->read_timeout <= 3600);
	FUZZ_CHECK(c->write_timeout >= 1 && c->write_timeout <= 3600);
	FUZZ_CHECK(c->output_highwater >= 4096 &&
	    c->output_highwater <= 1073741824);
	FUZZ_CHECK(c->map_size_mb >= 1 && c->map_size_mb <= 1048576);
	FUZZ_CHECK(c->map_size_max_mb == 0 ||
	    (c->map_size_max_mb >= c->map_size_mb &&
	    c->map_size_max_mb <= 1048576));
	FUZZ_CHECK(c->log_level >= LOG_LEVEL_ERROR &&
	    c->log_level <= LOG_LEVEL_DEBUG);
	FUZZ_CHECK(c->n_admin_uids <= CONF_ADMIN_UIDS_MAX);
}

/* One configuration file. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	c;
	char		err[256];
	int		fd;

	FUZZ_CHECK((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) != -1);
	FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	FUZZ_CHECK(close(fd) == 0);

	conf_defaults(&c);
	config_check(&c);
	memset(err, 0, sizeof(err));
	if (conf_load(path, &c, err, sizeof(err)) == 0) {
		config_check(&c);
		return 0;
	}
	FUZZ_CHECK(err[0] != '\0' && terminated(err, sizeof(err)));
	FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0);
	FUZZ_CHECK(strchr(err, '\n') == NULL);
	return 0;
}
