/*
 * kg_store_hold: holds the write lock of a data dir's LMDB store, as a
 * long write transaction of another process would, so that a test can
 * show what keygated still answers while its own writes wait. Usage:
 *
 *	kg_store_hold DATADIR
 *
 * It begins a write transaction, prints "held" on stdout (a line, flushed)
 * and keeps it until its standard input reaches end of file, then aborts
 * it (nothing is written) and exits 0. Exit status 1 on a usage error or
 * failure (one line on stderr). Talks to LMDB directly: keygated may run.
 */
#include <stdio.h>
#include <unistd.h>

#include <lmdb.h>

int
main(int argc, char *argv[])
{
	MDB_env	*env = NULL;
	MDB_txn	*txn = NULL;
	char	 buf[256];
	int	 rc;

	if (argc != 2) {
		fprintf(stderr, "usage: kg_store_hold DATADIR\n");
		return 1;
	}
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 64)) != 0 ||
	    (rc = mdb_env_open(env, argv[1], MDB_NOTLS, 0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
		fprintf(stderr, "kg_store_hold: %s: %s\n", argv[1],
		    mdb_strerror(rc));
		if (env != NULL)
			mdb_env_close(env);
		return 1;
	}
	printf("held\n");
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return 0;
}
