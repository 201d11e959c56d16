/*
 * The catalog cache: each thread keeps the products, editions and release
 * lists it last decoded, each tagged with the snapshot it was read in (the
 * store's uid and the LMDB transaction id of the read). A read in a
 * snapshot with the same tag sees exactly the same records, so a hit is as
 * good as the read; every write commit makes a new transaction id, and an
 * entry of an older one is never used again. Only store.c calls this.
 */
#ifndef KG_STORE_CACHE_H
#define KG_STORE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A read snapshot: which store, which committed state. */
struct store_snap {
	uint64_t	uid;		/* the store's, unique in this process */
	size_t		txnid;		/* mdb_txn_id of the read transaction */
};

/* A fresh uid for a store being opened. */
uint64_t	store_cache_uid_new(void);

/* Copy the cached record into *out: true on a hit. */
bool	store_cache_product_get(const struct store_snap *s, const char *code,
	    struct store_product *out);
bool	store_cache_edition_get(const struct store_snap *s, const char *product,
	    const char *code, struct store_edition *out);

/* Remember a record read in snapshot s. */
void	store_cache_product_put(const struct store_snap *s,
	    const struct store_product *p);
void	store_cache_edition_put(const struct store_snap *s,
	    const struct store_edition *e);

/*
 * A copy of the cached release list of product into *out (malloc'd; NULL
 * when n is 0) and *n: true on a hit. False also when the copy cannot be
 * allocated (the caller then reads the store).
 */
bool	store_cache_releases_get(const struct store_snap *s, const char *product,
	    struct store_release **out, size_t *n);
/*
 * The cached release list of product, only its kg_release parts, into out
 * of room for max; *n is the list's length: true on a hit.
 */
bool	store_cache_release_versions(const struct store_snap *s,
	    const char *product, struct kg_release *out, size_t max, size_t *n);
/* Remember the n releases of product read in s (copied). */
void	store_cache_releases_put(const struct store_snap *s, const char *product,
	    const struct store_release *v, size_t n);

/*
 * Decoded license records, by the exact bytes they decoded from: a record
 * is kept with its raw bytes, and a later read of the same serial whose
 * bytes are identical gets the kept decoding (decoding is a function of
 * the bytes, so a hit is exactly what decoding would give, whatever was
 * written meanwhile). Each entry also names the last snapshot its bytes
 * were read in: a read in that same snapshot needs no store lookup at all
 * (store_cache_license_snap_get), as the snapshot holds those bytes. Per
 * thread, direct-mapped by serial; the table is allocated on the first put.
 */
bool	store_cache_license_snap_get(const struct store_snap *s,
	    uint64_t serial, struct store_license *out);
/* A hit also makes s the entry's snapshot. */
bool	store_cache_license_get(const struct store_snap *s, uint64_t serial,
	    const void *raw, size_t len, struct store_license *out);
void	store_cache_license_put(const struct store_snap *s, uint64_t serial,
	    const void *raw, size_t len, const struct store_license *l);

/*
 * Forget this thread's entries of store uid (0: all of them) and free them;
 * the decoded license records go whatever uid is given.
 */
void	store_cache_drop(uint64_t uid);

#endif
