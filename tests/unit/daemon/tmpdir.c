/*
 * Temporary directories for the daemon's unit tests: see tmpdir.h.
 */
#include <sys/stat.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "tmpdir.h"

int
tmpdir_make(char *out, size_t len, const char *name)
{
	const char	*tmp = getenv("TMPDIR");
	int		 n;

	n = snprintf(out, len, "%s/kg-%s-XXXXXX", tmp != NULL ? tmp : "/tmp",
	    name);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return mkdtemp(out) != NULL ? 0 : -1;
}

static int
tmpdir_remove_entry(const char *path, const struct stat *sb, int type,
    struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

int
tmpdir_remove(const char *dir)
{
	return nftw(dir, tmpdir_remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0 ?
	    0 : -1;
}
