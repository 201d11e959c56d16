/*
 * kg_store_schema: overwrites the schema version stored in a data dir's
 * LMDB store, so a test can prove that keygated refuses a data dir of a
 * version it does not know. Usage:
 *
 *	kg_store_schema DATADIR VERSION
 *
 * Run it while keygated is stopped. Exit status 0 done, 1 usage error or
 * failure (one line on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_debug.h"

int
main(int argc, char *argv[])
{
	struct store_options	 opt;
	struct store		*st = NULL;
	char			*end;
	unsigned long		 version;
	int			 rc;

	if (argc != 3 || argv[2][0] < '0' || argv[2][0] > '9' ||
	    (version = strtoul(argv[2], &end, 10)) > UINT32_MAX || *end != '\0') {
		fprintf(stderr, "usage: kg_store_schema DATADIR VERSION\n");
		return 1;
	}
	memset(&opt, 0, sizeof(opt));
	if ((rc = store_open_lmdb(argv[1], &opt, &st)) != STORE_OK) {
		fprintf(stderr, "kg_store_schema: cannot open the store in %s: %s\n",
		    argv[1], store_strerror(rc));
		return 1;
	}
	rc = store_lmdb_debug_set_schema(st, (uint32_t)version);
	st->ops->close(st);
	if (rc != STORE_OK) {
		fprintf(stderr, "kg_store_schema: %s\n", store_strerror(rc));
		return 1;
	}
	return 0;
}
