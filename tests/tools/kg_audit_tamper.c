/*
 * kg_audit_tamper: alters one audit record directly in a data dir's LMDB
 * store, past the store's rules, so a test can prove that
 * `keygate-admin audit --verify` notices. Usage:
 *
 *	kg_audit_tamper DATADIR SEQ [DETAIL]
 *
 * rewrites record SEQ's detail to DETAIL (default "altered") and keeps its
 * stored hashes (store_lmdb_debug_audit_tamper). Run it while keygated is
 * stopped. Exit status 0 done, 1 usage error or failure (one line on
 * stderr).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_debug.h"

/* SEQ: a whole number from 1. 0 or -1. */
static int
tamper_seq_parse(const char *s, uint64_t *out)
{
	char			*end;
	unsigned long long	 n;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	n = strtoull(s, &end, 10);
	if (*end != '\0' || n == 0)
		return -1;
	*out = (uint64_t)n;
	return 0;
}

int
main(int argc, char *argv[])
{
	struct store_options	 opt;
	struct store		*st = NULL;
	const char		*detail = "altered";
	uint64_t		 seq;
	int			 rc;

	if (argc < 3 || argc > 4 || tamper_seq_parse(argv[2], &seq) == -1) {
		fprintf(stderr, "usage: kg_audit_tamper DATADIR SEQ [DETAIL]\n");
		return 1;
	}
	if (argc == 4)
		detail = argv[3];
	memset(&opt, 0, sizeof(opt));
	opt.create = false;
	if ((rc = store_open_lmdb(argv[1], &opt, &st)) != STORE_OK) {
		fprintf(stderr, "kg_audit_tamper: cannot open the store in %s: "
		    "%s\n", argv[1], store_strerror(rc));
		return 1;
	}
	rc = store_lmdb_debug_audit_tamper(st, seq, detail);
	st->ops->close(st);
	if (rc != STORE_OK) {
		fprintf(stderr, "kg_audit_tamper: record %" PRIu64 ": %s\n", seq,
		    store_strerror(rc));
		return 1;
	}
	printf("audit record %" PRIu64 " now says \"%s\"\n", seq, detail);
	return 0;
}
