/*
 * Test-only hooks into the LMDB store (daemon/store.c): they write past the
 * store's own rules, to prove that the rules are checked. Nothing in the
 * daemon calls them; unit tests and the integration tests' helper tools do.
 */
#ifndef KG_STORE_DEBUG_H
#define KG_STORE_DEBUG_H

#include <stdint.h>

struct store;

/*
 * Overwrite the schema version in the store's meta database (no audit
 * record). STORE_OK, STORE_INVAL (not an LMDB store) or STORE_IO.
 */
int	store_lmdb_debug_set_schema(struct store *st, uint32_t version);

/*
 * Rewrite audit record seq with detail new_detail, keeping its stored
 * prev_hash and hash, so audit_verify must report it. STORE_OK,
 * STORE_NOTFOUND, STORE_INVAL or STORE_IO.
 */
int	store_lmdb_debug_audit_tamper(struct store *st, uint64_t seq,
	    const char *new_detail);

#endif
