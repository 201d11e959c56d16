/*
 * kgbench's input files: license keys, one a line, as `keygate-admin key
 * issue --count K` prints them; or, for activations, "KEY ACT" lines. The
 * file is read once into memory and the keys point into it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* The whole file in a NUL-terminated malloc'd buffer, or NULL (told on stderr). */
static char *
workload_file_read_new(const char *path)
{
	FILE	*f;
	char	*buf = NULL;
	long	 size;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "kgbench: cannot open %s: %s\n", path,
		    strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == -1 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1 ||
	    (buf = malloc((size_t)size + 1)) == NULL ||
	    fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "kgbench: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[size] = '\0';
	fclose(f);
	return buf;
}

/* Read keys, or "KEY ACT" pairs; 0 or -1 (told on stderr). */
int
workload_load(struct workload *wl, const char *path, bool pairs)
{
	char	*line, *next, *sp, *a, **tmp;
	size_t	 cap = 0;

	memset(wl, 0, sizeof(*wl));
	if ((wl->text = workload_file_read_new(path)) == NULL)
		return -1;
	for (line = wl->text; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		line[strcspn(line, "\r")] = '\0';
		line += strspn(line, " \t");
		if (*line == '\0')
			continue;
		a = NULL;
		if ((sp = strpbrk(line, " \t")) != NULL) {
			*sp++ = '\0';
			a = sp + strspn(sp, " \t");
			a[strcspn(a, " \t")] = '\0';
		}
		if (pairs && (a == NULL || *a == '\0')) {
			fprintf(stderr, "kgbench: %s: expected \"KEY ACT\" "
			    "lines\n", path);
			goto fail;
		}
		if (strlen(line) > KG_KEY_TEXT_MAX) {
			fprintf(stderr, "kgbench: %s: a key longer than %d "
			    "bytes\n", path, KG_KEY_TEXT_MAX);
			goto fail;
		}
		if (wl->n == cap) {
			cap = cap == 0 ? 1024 : cap * 2;
			if ((tmp = reallocarray(wl->key, cap,
			    sizeof(*wl->key))) == NULL)
				goto nomem;
			wl->key = tmp;
			if (pairs) {
				if ((tmp = reallocarray(wl->act, cap,
				    sizeof(*wl->act))) == NULL)
					goto nomem;
				wl->act = tmp;
			}
		}
		wl->key[wl->n] = line;
		if (pairs)
			wl->act[wl->n] = a;
		wl->n++;
	}
	if (wl->n == 0) {
		fprintf(stderr, "kgbench: %s: no keys in it\n", path);
		goto fail;
	}
	return 0;
nomem:
	fprintf(stderr, "kgbench: out of memory\n");
fail:
	workload_clear(wl);
	return -1;
}

/* Free what workload_load read. */
void
workload_clear(struct workload *wl)
{
	free(wl->key);
	free(wl->act);
	free(wl->text);
	memset(wl, 0, sizeof(*wl));
}
