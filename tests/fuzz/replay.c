/*
 * The replay driver: a main() for a fuzz target without libFuzzer, so every
 * build (gcc, normal and sanitizer) runs the committed corpora as ctest
 * cases. Usage: replay_<target> PATH... where each PATH is a corpus
 * directory (its files, in name order; names starting with '.' skipped) or
 * one input file. Each input is passed once to LLVMFuzzerTestOneInput in a
 * buffer of exactly its size, after LLVMFuzzerInitialize. A broken
 * invariant aborts (the input's name is printed first); exit 1 when no
 * input was found.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define REPLAY_INPUT_MAX	(16 * 1024 * 1024)

/* Run one input file; -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	struct stat	 sb;
	uint8_t		*buf;
	size_t		 len;
	FILE		*f;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &sb) == -1 ||
	    sb.st_size > REPLAY_INPUT_MAX) {
		fprintf(stderr, "replay: %s: %s\n", path, f == NULL ||
		    sb.st_size <= REPLAY_INPUT_MAX ? strerror(errno) :
		    "larger than 16 MiB");
		if (f != NULL)
			fclose(f);
		return -1;
	}
	len = (size_t)sb.st_size;
	/* Exactly len bytes, so reading past the input is caught. */
	if ((buf = malloc(len == 0 ? 1 : len)) == NULL ||
	    fread(buf, 1, len, f) != len) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int
name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
visible(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* Run every file of dir in name order; the count, or -1. */
static int
replay_dir(const char *dir)
{
	struct dirent	**names;
	struct stat	  sb;
	char		  path[PATH_MAX];
	int		  n, i, count = 0, rc = 0;

	if ((n = scandir(dir, &names, visible, name_cmp)) == -1) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			if (replay_file(path) == -1)
				rc = -1;
			else
				count++;
		}
		free(names[i]);
	}
	free(names);
	return rc == -1 ? -1 : count;
}

/* Replay every input named on the command line. */
int
main(int argc, char **argv)
{
	struct stat	sb;
	int		i, n, total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 1;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) == 0 ? 1 : -1;
		if (n == -1)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no inputs\n");
		return 1;
	}
	printf("replay: %d inputs, no failures\n", total);
	return 0;
}
