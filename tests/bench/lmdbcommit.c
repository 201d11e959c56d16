/*
 * lmdbcommit: the rate of single durable LMDB commits on this machine, the
 * baseline for act redemptions (tests/bench/run). It opens a fresh LMDB
 * environment in an empty directory with LMDB's default (fully synchronous)
 * flags, plus MDB_NOTLS as keygated uses, and makes N write transactions in a
 * row, each putting one record of about an act's size and committing.
 *
 * usage: lmdbcommit --dir DIR [--count N]
 * DIR must exist and hold no LMDB files yet. Output: "name: value" lines.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>

#define COMMIT_VALUE_LEN	200
#define COMMIT_MAP_SIZE		(256UL * 1024 * 1024)
#define COMMIT_COUNT_MAX	10000000UL

static double
now_seconds(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: lmdbcommit --dir DIR [--count N]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	static const struct option	lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	MDB_env		*env = NULL;
	MDB_txn		*txn;
	MDB_dbi		 dbi;
	MDB_val		 k, v;
	uint8_t		 key[8], value[COMMIT_VALUE_LEN];
	const char	*dir = NULL;
	unsigned long	 count = 1000, i;
	double		 t0, t1;
	char		*end;
	int		 ch, rc, j;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			count = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *optarg == '-' || *end != '\0' ||
			    count < 1 || count > COMMIT_COUNT_MAX)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || dir == NULL)
		usage();
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, COMMIT_MAP_SIZE)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) != 0)
		goto fail;
	/* The database handle, opened once in its own transaction. */
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	memset(value, 0xa5, sizeof(value));
	t0 = now_seconds();
	for (i = 0; i < count; i++) {
		for (j = 0; j < 8; j++)
			key[j] = (uint8_t)(i >> (56 - 8 * j));
		k.mv_data = key;
		k.mv_size = sizeof(key);
		v.mv_data = value;
		v.mv_size = sizeof(value);
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			goto fail;
		if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0) {
			mdb_txn_abort(txn);
			goto fail;
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			goto fail;
	}
	t1 = now_seconds();
	printf("lmdb_commits: %lu\n", count);
	printf("lmdb_commit_s: %.3f\n", t1 - t0);
	printf("lmdb_commit_us: %.1f\n", (t1 - t0) * 1e6 / (double)count);
	printf("lmdb_commits_per_s: %.1f\n", (double)count / (t1 - t0));
	mdb_env_close(env);
	return 0;
fail:
	fprintf(stderr, "lmdbcommit: %s: %s\n", dir, mdb_strerror(rc));
	if (env != NULL)
		mdb_env_close(env);
	return 1;
}
