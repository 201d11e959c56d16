/*
 * What kgbench reads about the server from /proc: CPU time (utime + stime
 * of /proc/PID/stat) and RSS (VmRSS of /proc/PID/status) of keygated and
 * the processes it forked (its signer), and how many descriptors it holds.
 * Only processes of the user running kgbench can be read.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/*
 * The fields after the command name of /proc/PID/stat (the name may hold
 * anything, so they start after the last ')'), into buf. 0 or -1.
 */
static int
proc_stat_fields(long pid, char *buf, size_t len, char **fields)
{
	char	 path[64], *p;
	FILE	*f;
	size_t	 n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	*fields = p + 1;
	return 0;
}

/* pid and its descendants (keygated forks a signer), at most max; returns how many. */
size_t
proc_tree(long pid, long *tree, size_t max)
{
	struct proc_pp {
		long	pid, ppid;
	}		*all = NULL, *tmp;
	struct dirent	*de;
	DIR		*dir;
	char		 buf[1024], *fields, *end;
	size_t		 nall = 0, cap = 0, n = 0, i, j;
	long		 p, pp;

	tree[n++] = pid;
	if ((dir = opendir("/proc")) == NULL)
		return n;
	while ((de = readdir(dir)) != NULL) {
		p = strtol(de->d_name, &end, 10);
		if (*end != '\0' || p <= 0 || p == pid)
			continue;
		if (proc_stat_fields(p, buf, sizeof(buf), &fields) == -1 ||
		    sscanf(fields, " %*c %ld", &pp) != 1)
			continue;
		if (nall == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			if ((tmp = reallocarray(all, cap, sizeof(*all))) == NULL)
				break;
			all = tmp;
		}
		all[nall].pid = p;
		all[nall++].ppid = pp;
	}
	closedir(dir);
	/* Breadth first: the children of every process already in the tree. */
	for (i = 0; i < n; i++)
		for (j = 0; j < nall && n < max; j++)
			if (all[j].ppid == tree[i])
				tree[n++] = all[j].pid;
	free(all);
	return n;
}

/*
 * CPU seconds of pid and its descendants: utime + stime, plus cutime +
 * cstime (children already reaped), from /proc/N/stat; or -1.
 */
double
proc_cpu_seconds(long pid)
{
	unsigned long long	 ut, st, cut, cst, sum = 0;
	char			 buf[2048], *fields;
	long			 tree[PROC_TREE_MAX];
	size_t			 n, i;

	n = proc_tree(pid, tree, PROC_TREE_MAX);
	for (i = 0; i < n; i++) {
		if (proc_stat_fields(tree[i], buf, sizeof(buf), &fields) == -1) {
			if (i == 0)
				return -1;
			continue;
		}
		/* Fields 3..13 (state .. cmajflt), then 14..17. */
		if (sscanf(fields, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u"
		    " %llu %llu %llu %llu", &ut, &st, &cut, &cst) != 4)
			return -1;
		sum += ut + st + cut + cst;
	}
	return (double)sum / (double)sysconf(_SC_CLK_TCK);
}

/* A "Name: N kB" line of /proc/PID/status (VmRSS, VmHWM), in kB, or -1. */
long
proc_status_kb(long pid, const char *name)
{
	char	 path[64], line[256];
	size_t	 nlen = strlen(name);
	long	 v = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, name, nlen) == 0 && line[nlen] == ':') {
			v = strtol(line + nlen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* VmRSS of pid and its descendants together, in kB, or -1. */
long
proc_tree_rss_kb(long pid)
{
	long	tree[PROC_TREE_MAX], v, sum = 0;
	size_t	n, i;

	n = proc_tree(pid, tree, PROC_TREE_MAX);
	for (i = 0; i < n; i++) {
		if ((v = proc_status_kb(tree[i], "VmRSS")) < 0) {
			if (i == 0)
				return -1;
			continue;
		}
		sum += v;
	}
	return sum;
}

/* Open file descriptors of pid, or -1. */
long
proc_fd_count(long pid)
{
	char		 path[64];
	struct dirent	*de;
	DIR		*dir;
	long		 n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

