/*
 * The embedded LMDB store behind the operations table of store.h (SPEC
 * section 6). This is the only file that includes lmdb.h. One environment
 * lives in the data dir itself (data.mdb and lock.mdb, mode 0600) with one
 * named database per record kind; the key layout is documented on top of
 * proto/store.proto. Records are protobuf (store.proto) so fields can be
 * added without a schema change; store_record.c converts them to and from
 * the C records of store.h and computes the audit chain's hash.
 *
 * Every change is one write transaction: the record(s), then the audit
 * record with its hash chain link, then mdb_txn_commit; an operation
 * returns STORE_OK only when the commit returned 0. MDB_MAP_FULL anywhere
 * aborts the transaction and returns STORE_FULL; other LMDB failures are
 * logged once, where they happen, with the operation's name, and return
 * STORE_IO. Reads use short read transactions and copy every value out
 * (protobuf unpack into the caller's C record) before the transaction ends.
 *
 * Map growth: with store_options.map_size_max above map_size, a write
 * that finds the map full (MDB_MAP_FULL) is aborted, the map doubled (capped
 * at the maximum) with mdb_env_set_mapsize and the write run once more; each
 * write operation in the table is its *_once body behind a wrapper whose
 * body is GROW_RETRY, which does this. LMDB allows mdb_env_set_mapsize only while the process has no
 * transaction active, and it does not check: so every transaction holds
 * ls->grow shared from begin to end, and the map grows under ls->grow
 * exclusive, after the failed write transaction was aborted, when the
 * growing thread has no transaction of its own open (a write made from
 * inside a list callback just returns STORE_FULL). Cached read transactions
 * of an older map generation are aborted, not renewed. Without a higher maximum a
 * full map is STORE_FULL and nothing was written, as before. The data file
 * grows as pages are used; a restart with a smaller map_size keeps the size
 * the data needs (LMDB never maps less than the file's used pages).
 *
 * Threads: keygated's worker threads share one store. The environment is
 * opened with MDB_NOTLS, so read transactions are not bound to a thread
 * and one thread may hold several (a list callback may call the store
 * again). Each thread keeps its own cached read transaction (reset when
 * idle, renewed for the next read: thread-local, tl_rtxn), which it must
 * abort with store_thread_end before it exits. Write transactions are
 * serialized by LMDB itself, also across processes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "log.h"
#include "store.h"
#include "store_cache.h"
#include "store_debug.h"
#include "store_record.h"
#include "version.h"

/* Map size when the options give 0: room for millions of licenses. */
#define STORE_MAP_SIZE_DEFAULT	((uint64_t)1 << 30)

#define META_SCHEMA		"schema"
#define META_SERIAL		"serial"
#define META_AUDIT		"audit"
#define META_REGNO_PREFIX	"regno:"
#define META_KEY_MAX		(sizeof(META_REGNO_PREFIX) + KG_CODE_MAX)

#define PAIR_KEY_MAX		(KG_CODE_MAX + 1 + KG_CODE_MAX)
#define RELEASE_KEY_MAX		(KG_CODE_MAX + 1 + 4 * KG_VERSION_PARTS_MAX)

/* A string field that fits its array, and one that is also not empty. */
#define STR_OK(a)	(memchr((a), '\0', sizeof(a)) != NULL)
#define STR_SET(a)	(STR_OK(a) && (a)[0] != '\0')

enum db {
	DB_META,
	DB_PRODUCTS,
	DB_EDITIONS,
	DB_RELEASES,
	DB_LICENSES,
	DB_REGNO,
	DB_ACTS,
	DB_SUBSCRIPTIONS,
	DB_SIGNING_KEYS,
	DB_AUDIT,
	DB__COUNT
};

static const char *const db_names[DB__COUNT] = {
	"meta", "products", "editions", "releases", "licenses", "regno", "acts",
	"subscriptions", "signing_keys", "audit",
};

struct lstore {
	struct store	 base;		/* first: a store * is an lstore * */
	MDB_env		*env;
	MDB_dbi		 dbi[DB__COUNT];
	pthread_rwlock_t grow;		/* shared by every transaction; exclusive to grow */
	_Atomic unsigned map_gen;	/* map growths so far */
	uint64_t	 map_max;	/* grow the map up to this (bytes) */
	uint64_t	 uid;		/* tags its snapshots in store_cache.c */
};

/* This thread's cached read transaction, and its transactions now open. */
static _Thread_local struct {
	struct lstore	*ls;		/* the store it belongs to */
	MDB_txn		*txn;		/* reset when idle */
	unsigned	 gen;		/* ls->map_gen when it began */
	bool		 busy;
	unsigned	 open;		/* transactions open in this thread */
	unsigned	 held;		/* store_read_hold depth: reads share txn */
} tl_rtxn;

/* One transaction and the operation it serves (for log lines). */
struct tx {
	struct lstore	*ls;
	MDB_txn		*txn;
	const char	*op;
	bool		 write;
	bool		 cached;
	bool		 held;		/* a read inside store_read_hold */
};

/* Visitor of db_each: rec is the decoded record (or the raw MDB_val). */
typedef int (*rec_visit)(void *arg, const MDB_val *key, const void *rec);

static const struct store_ops lmdb_ops;

static struct lstore *
lstore(struct store *st)
{
	return (struct lstore *)st;
}

/* A NUL-terminated string as an LMDB key (LMDB does not write keys). */
static MDB_val
val_str(const char *s)
{
	MDB_val	v;

	v.mv_size = strlen(s);
	v.mv_data = (void *)s;
	return v;
}

static MDB_val
val_bytes(const void *b, size_t len)
{
	MDB_val	v;

	v.mv_size = len;
	v.mv_data = (void *)b;
	return v;
}

/* A lookup key: NULL is a bad argument, "" or too long cannot exist. */
static int
key_check(const char *s, size_t max)
{
	if (s == NULL)
		return STORE_INVAL;
	if (s[0] == '\0' || strnlen(s, max + 1) > max)
		return STORE_NOTFOUND;
	return STORE_OK;
}

/* "PRODUCT\0CODE", or the prefix "PRODUCT\0" when code is NULL. */
static MDB_val
key_pair(uint8_t buf[PAIR_KEY_MAX], const char *product, const char *code)
{
	size_t	n, m;

	n = strlen(product);
	memcpy(buf, product, n);
	buf[n++] = '\0';
	if (code != NULL) {
		m = strlen(code);
		memcpy(buf + n, code, m);
		n += m;
	}
	return val_bytes(buf, n);
}

/* "PRODUCT\0" + 8 big-endian parts (zero padded), or just the prefix. */
static MDB_val
key_release(uint8_t buf[RELEASE_KEY_MAX], const char *product,
    const struct kg_version *v)
{
	size_t	n;

	n = strlen(product);
	memcpy(buf, product, n);
	buf[n++] = '\0';
	if (v != NULL) {
		for (int i = 0; i < KG_VERSION_PARTS_MAX; i++, n += 4)
			store_record_be32_put(buf + n,
			    i < v->n ? v->part[i] : 0);
	}
	return val_bytes(buf, n);
}

/* ---- argument checks (a caller's record before it is written) ---- */

static bool
audit_valid(const struct store_audit *a)
{
	return a != NULL && STR_OK(a->actor) && STR_SET(a->action) &&
	    STR_OK(a->object) && STR_OK(a->detail);
}

static bool
license_valid(const struct store_license *l)
{
	return l != NULL && STR_SET(l->lic.product) && STR_OK(l->lic.edition) &&
	    STR_OK(l->lic.regno) && STR_OK(l->lic.licensee) &&
	    STR_OK(l->status_reason) && l->status <= KG_STATUS_SUSPENDED;
}

static bool
act_valid(const struct store_act *a)
{
	return a != NULL && STR_SET(a->number) && STR_SET(a->product) &&
	    STR_OK(a->edition) && STR_OK(a->licensee) &&
	    STR_OK(a->registered_by) &&
	    a->state <= STORE_ACT_VOID && a->kind <= KG_RENEWAL_STANDARD;
}

/* ---- transactions and database access ---- */

/* Log an LMDB failure once and map it: MDB_MAP_FULL is STORE_FULL. */
static int
tx_fail(const struct tx *tx, const char *call, enum db d, int rc)
{
	const char	*sep = d < DB__COUNT ? " " : "";
	const char	*name = d < DB__COUNT ? db_names[d] : "";
	MDB_envinfo	 info;

	if (rc == MDB_MAP_FULL) {
		if (mdb_env_info(tx->ls->env, &info) == 0 &&
		    info.me_mapsize < tx->ls->map_max)
			log_info("%s: %s%s%s: store map is full; growing it",
			    tx->op, call, sep, name);
		else
			log_error("%s: %s%s%s: store map is full; nothing was "
			    "written (raise map_size_mb or map_size_max_mb)",
			    tx->op, call, sep, name);
		return STORE_FULL;
	}
	log_error("%s: %s%s%s: %s", tx->op, call, sep, name, mdb_strerror(rc));
	return STORE_IO;
}

/* Drop this thread's cached read transaction of ls (NULL: of any store). */
static void
tl_rtxn_drop(struct lstore *ls)
{
	if (tl_rtxn.txn != NULL && !tl_rtxn.busy &&
	    (ls == NULL || tl_rtxn.ls == ls)) {
		mdb_txn_abort(tl_rtxn.txn);
		tl_rtxn.txn = NULL;
		tl_rtxn.ls = NULL;
	}
}

/*
 * Another process grew the map (MDB_MAP_RESIZED): adopt its size, with no
 * transaction open in this process. Only when this thread has none open.
 */
static int
tx_adopt_size(struct lstore *ls)
{
	int	rc;

	if (tl_rtxn.open > 0)
		return MDB_MAP_RESIZED;
	(void)pthread_rwlock_wrlock(&ls->grow);
	tl_rtxn_drop(ls);
	rc = mdb_env_set_mapsize(ls->env, 0);
	atomic_fetch_add(&ls->map_gen, 1);
	(void)pthread_rwlock_unlock(&ls->grow);
	return rc;
}

static int
tx_begin(struct lstore *ls, struct tx *tx, bool write, const char *op)
{
	int	rc;

	memset(tx, 0, sizeof(*tx));
	tx->ls = ls;
	tx->op = op;
	tx->write = write;
	if (!write && tl_rtxn.held > 0 && tl_rtxn.ls == ls && tl_rtxn.busy) {
		/* Inside store_read_hold: the held snapshot serves this read. */
		tx->txn = tl_rtxn.txn;
		tx->held = true;
		return STORE_OK;
	}
	(void)pthread_rwlock_rdlock(&ls->grow);
	if (!write && !tl_rtxn.busy && (tl_rtxn.ls == ls || tl_rtxn.txn == NULL)) {
		if (tl_rtxn.txn != NULL &&
		    tl_rtxn.gen != atomic_load(&ls->map_gen))
			tl_rtxn_drop(ls);
		if (tl_rtxn.txn == NULL) {
			tl_rtxn.gen = atomic_load(&ls->map_gen);
			rc = mdb_txn_begin(ls->env, NULL, MDB_RDONLY,
			    &tl_rtxn.txn);
			if (rc != 0)
				tl_rtxn.txn = NULL;
		} else if ((rc = mdb_txn_renew(tl_rtxn.txn)) != 0) {
			mdb_txn_abort(tl_rtxn.txn);
			tl_rtxn.txn = NULL;
		}
		if (rc == 0) {
			tl_rtxn.ls = ls;
			tl_rtxn.busy = true;
			tl_rtxn.open++;
			tx->txn = tl_rtxn.txn;
			tx->cached = true;
			return STORE_OK;
		}
		if (rc != MDB_MAP_RESIZED) {
			(void)pthread_rwlock_unlock(&ls->grow);
			return tx_fail(tx, "mdb_txn_begin", DB__COUNT, rc);
		}
	}
	rc = mdb_txn_begin(ls->env, NULL, write ? 0 : MDB_RDONLY, &tx->txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map: adopt its size, retry once. */
		(void)pthread_rwlock_unlock(&ls->grow);
		rc = tx_adopt_size(ls);
		(void)pthread_rwlock_rdlock(&ls->grow);
		if (rc == 0)
			rc = mdb_txn_begin(ls->env, NULL,
			    write ? 0 : MDB_RDONLY, &tx->txn);
	}
	if (rc != 0) {
		tx->txn = NULL;
		(void)pthread_rwlock_unlock(&ls->grow);
		return tx_fail(tx, "mdb_txn_begin", DB__COUNT, rc);
	}
	tl_rtxn.open++;
	return STORE_OK;
}

/*
 * End a transaction: commit a write transaction when err is STORE_OK,
 * otherwise abort it; a read transaction is reset (the cached one) or
 * aborted. Returns err, or the commit's failure.
 */
static int
tx_finish(struct tx *tx, int err)
{
	MDB_txn	*txn = tx->txn;
	int	 rc;

	if (txn == NULL)
		return err;
	tx->txn = NULL;
	if (tx->held)
		return err;
	tl_rtxn.open--;
	if (tx->cached) {
		mdb_txn_reset(txn);
		tl_rtxn.busy = false;
	} else if (!tx->write || err != STORE_OK)
		mdb_txn_abort(txn);
	else if ((rc = mdb_txn_commit(txn)) != 0)
		err = tx_fail(tx, "mdb_txn_commit", DB__COUNT, rc);
	(void)pthread_rwlock_unlock(&tx->ls->grow);
	return err;
}

/*
 * The snapshot a read transaction sees, for store_cache.c: false for a
 * write transaction, whose reads may see its own uncommitted changes.
 */
static bool
tx_snap(const struct tx *tx, struct store_snap *s)
{
	if (tx->write)
		return false;
	s->uid = tx->ls->uid;
	s->txnid = mdb_txn_id(tx->txn);
	return true;
}

/* Reads share one snapshot until store_read_release: see store.h. */
void
store_read_hold(struct store *st)
{
	struct tx	tx;

	if (st == NULL)
		return;
	if (tl_rtxn.held > 0) {
		tl_rtxn.held++;
		return;
	}
	/* The cached read transaction, begun and left open. */
	if (tx_begin(lstore(st), &tx, false, __func__) == STORE_OK && tx.cached)
		tl_rtxn.held = 1;
	else
		(void)tx_finish(&tx, STORE_OK);
}

void
store_read_release(struct store *st)
{
	struct tx	tx;

	if (st == NULL || tl_rtxn.held == 0 || --tl_rtxn.held > 0)
		return;
	memset(&tx, 0, sizeof(tx));
	tx.ls = lstore(st);
	tx.txn = tl_rtxn.txn;
	tx.cached = true;
	(void)tx_finish(&tx, STORE_OK);
}

/* This thread is done with the store: see store.h. */
void
store_thread_end(struct store *st)
{
	if (st != NULL) {
		tl_rtxn_drop(lstore(st));
		store_cache_drop(lstore(st)->uid);
	}
}

/*
 * The map is full: double it, capped at map_max. Only between transactions
 * (see the top of the file): the caller's write transaction has ended, no
 * read transaction may be open, and the cached one is aborted so that
 * nothing refers to the old mapping. 0 when the map grew, -1 when it cannot.
 */
static int
map_grow(struct lstore *ls)
{
	MDB_envinfo	info;
	uint64_t	cur, next;
	int		rc;

	if ((rc = mdb_env_info(ls->env, &info)) != 0) {
		log_error("%s: mdb_env_info: %s", __func__, mdb_strerror(rc));
		return -1;
	}
	cur = info.me_mapsize;
	if (cur >= ls->map_max)
		return -1;
	if (tl_rtxn.open > 0) {
		log_warn("%s: the map is full but a read transaction is open: "
		    "not growing it now", __func__);
		return -1;
	}
	/* No transaction anywhere in the process while the map changes. */
	(void)pthread_rwlock_wrlock(&ls->grow);
	if (mdb_env_info(ls->env, &info) == 0 && info.me_mapsize > cur) {
		/* Another thread grew it meanwhile. */
		(void)pthread_rwlock_unlock(&ls->grow);
		return 0;
	}
	next = cur > ls->map_max / 2 ? ls->map_max : cur * 2;
	tl_rtxn_drop(ls);
	rc = mdb_env_set_mapsize(ls->env, (size_t)next);
	atomic_fetch_add(&ls->map_gen, 1);
	if (rc == 0 && mdb_env_info(ls->env, &info) == 0)
		next = info.me_mapsize;
	(void)pthread_rwlock_unlock(&ls->grow);
	if (rc != 0) {
		log_error("%s: mdb_env_set_mapsize %" PRIu64 ": %s", __func__,
		    next, mdb_strerror(rc));
		return -1;
	}
	log_info("store map grown from %" PRIu64 " KiB to %" PRIu64 " KiB "
	    "(map_size_max_mb allows %" PRIu64 " KiB)", cur >> 10, next >> 10,
	    ls->map_max >> 10);
	return next > cur ? 0 : -1;
}

/* True when err says the map was full and it has grown: run the write again. */
static bool
map_grown(struct store *st, int err)
{
	return err == STORE_FULL && map_grow(lstore(st)) == 0;
}

/*
 * The body of a write operation's wrapper: run call (the operation's _once
 * function, one write transaction), and when it found the map full and
 * the map could grow, run it once more (see the top of the file).
 */
#define GROW_RETRY(st, call) do {					\
	int	err_ = (call);						\
									\
	if (map_grown((st), err_))					\
		err_ = (call);						\
	return err_;							\
} while (0)

static int
db_get_raw(struct tx *tx, enum db d, const MDB_val *key, MDB_val *data)
{
	MDB_val	k = *key;
	int	rc;

	rc = mdb_get(tx->txn, tx->ls->dbi[d], &k, data);
	if (rc == MDB_NOTFOUND)
		return STORE_NOTFOUND;
	if (rc != 0)
		return tx_fail(tx, "mdb_get", d, rc);
	return STORE_OK;
}

/* Unpack and decode one value into rec; a bad value is a corrupt store. */
static int
rec_unpack(struct tx *tx, enum db d, const MDB_val *data,
    enum store_record_kind kind, void *rec)
{
	if (store_record_decode(kind, data->mv_data, data->mv_size, rec) != 0) {
		log_error("%s: corrupt record in database %s", tx->op,
		    db_names[d]);
		return STORE_IO;
	}
	return STORE_OK;
}

static int
db_get(struct tx *tx, enum db d, const MDB_val *key,
    enum store_record_kind kind, void *rec)
{
	MDB_val	data;
	int	err;

	if ((err = db_get_raw(tx, d, key, &data)) != STORE_OK)
		return err;
	return rec_unpack(tx, d, &data, kind, rec);
}

/* Write a raw value; flags may hold MDB_NOOVERWRITE (-> STORE_EXISTS). */
static int
db_put_raw(struct tx *tx, enum db d, const MDB_val *key, const void *b,
    size_t len, unsigned flags)
{
	MDB_val	k = *key, v = val_bytes(b, len);
	int	rc;

	rc = mdb_put(tx->txn, tx->ls->dbi[d], &k, &v, flags);
	if (rc == MDB_KEYEXIST)
		return STORE_EXISTS;
	if (rc != 0)
		return tx_fail(tx, "mdb_put", d, rc);
	return STORE_OK;
}

/* Pack the encoded record e straight into the map (MDB_RESERVE). */
static int
db_put(struct tx *tx, enum db d, const MDB_val *key,
    const struct store_record_enc *e, unsigned flags)
{
	MDB_val	k = *key, v;
	int	rc;

	v.mv_size = store_record_enc_size(e);
	v.mv_data = NULL;
	rc = mdb_put(tx->txn, tx->ls->dbi[d], &k, &v, flags | MDB_RESERVE);
	if (rc == MDB_KEYEXIST)
		return STORE_EXISTS;
	if (rc != 0)
		return tx_fail(tx, "mdb_put", d, rc);
	store_record_enc_pack(e, v.mv_data);
	return STORE_OK;
}

/*
 * A record the store itself keys uniquely (flags MDB_NOOVERWRITE), or
 * appends in increasing key order (MDB_APPEND: licenses by serial, audit by
 * seq; pages are filled instead of split in half): an existing key, or one
 * not above the last, is corruption.
 */
static int
db_put_assigned(struct tx *tx, enum db d, const MDB_val *key,
    const struct store_record_enc *e, unsigned flags)
{
	int	err;

	err = db_put(tx, d, key, e, flags);
	if (err == STORE_EXISTS) {
		log_error("%s: database %s already holds a key the store "
		    "assigns%s", tx->op, db_names[d], (flags & MDB_APPEND) ?
		    " (or one above it)" : "");
		err = STORE_IO;
	}
	return err;
}

static int
db_put_new(struct tx *tx, enum db d, const MDB_val *key,
    const struct store_record_enc *e)
{
	return db_put_assigned(tx, d, key, e, MDB_NOOVERWRITE);
}

/* Append a record the store keys in increasing order: see db_put_assigned. */
static int
db_put_append(struct tx *tx, enum db d, const MDB_val *key,
    const struct store_record_enc *e)
{
	return db_put_assigned(tx, d, key, e, MDB_APPEND);
}

/*
 * Call visit for every record whose key starts with prefix (all records
 * when plen is 0), in key order, until it returns nonzero. Each value is
 * decoded as kind into rec; with rec NULL nothing is decoded and the
 * visitor gets the raw MDB_val (still borrowed: copy before returning).
 */
static int
db_each(struct tx *tx, enum db d, const void *prefix, size_t plen,
    enum store_record_kind kind, void *rec, rec_visit visit, void *arg)
{
	MDB_cursor	*c;
	MDB_cursor_op	 op = MDB_FIRST;
	MDB_val		 key, data;
	int		 rc, err = STORE_OK;

	if ((rc = mdb_cursor_open(tx->txn, tx->ls->dbi[d], &c)) != 0)
		return tx_fail(tx, "mdb_cursor_open", d, rc);
	if (plen > 0) {
		key = val_bytes(prefix, plen);
		op = MDB_SET_RANGE;
	}
	for (;; op = MDB_NEXT) {
		rc = mdb_cursor_get(c, &key, &data, op);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0) {
			err = tx_fail(tx, "mdb_cursor_get", d, rc);
			break;
		}
		if (plen > 0 && (key.mv_size < plen ||
		    memcmp(key.mv_data, prefix, plen) != 0))
			break;
		if (rec != NULL) {
			err = rec_unpack(tx, d, &data, kind, rec);
			if (err != STORE_OK)
				break;
			if (visit(arg, &key, rec) != 0)
				break;
		} else if (visit(arg, &key, &data) != 0)
			break;
	}
	mdb_cursor_close(c);
	return err;
}

static int
meta_get(struct tx *tx, const char *name, struct store_record_meta *r)
{
	MDB_val	key = val_str(name);

	memset(r, 0, sizeof(*r));
	return db_get(tx, DB_META, &key, STORE_RECORD_META, r);
}

static int
meta_put(struct tx *tx, const char *name, uint64_t value, const uint8_t *hash)
{
	struct store_record_enc	m;
	MDB_val			key = val_str(name);

	store_record_meta_encode(value, hash, &m);
	return db_put(tx, DB_META, &key, &m, 0);
}

/* STORE_OK when the product exists, STORE_INVAL (a missing parent) if not. */
static int
product_require(struct tx *tx, const char *code)
{
	MDB_val	key = val_str(code), data;
	int	err;

	err = db_get_raw(tx, DB_PRODUCTS, &key, &data);
	return err == STORE_NOTFOUND ? STORE_INVAL : err;
}

/* ---- the audit chain ---- */

/*
 * Link a into the audit chain after head (its seq, prev_hash and hash),
 * store it (appended at the end of the table when append: the caller
 * knows it is the last key) and make it the new head; META_AUDIT is the
 * caller's to write. 0 or a store error.
 */
static int
audit_link(struct tx *tx, struct store_record_meta *head, struct store_audit *a,
    bool append)
{
	struct store_record_enc	 m;
	uint8_t			 kb[8];
	MDB_val			 key;
	int			 err;

	a->seq = head->value + 1;
	memcpy(a->prev_hash, head->hash, KG_HASH_LEN);
	store_record_audit_hash(a, a->hash);
	store_record_audit_encode(a, &m);
	store_record_be64_put(kb, a->seq);
	key = val_bytes(kb, sizeof(kb));
	err = append ? db_put_append(tx, DB_AUDIT, &key, &m) :
	    db_put_new(tx, DB_AUDIT, &key, &m);
	if (err != STORE_OK)
		return err;
	head->value = a->seq;
	memcpy(head->hash, a->hash, KG_HASH_LEN);
	return STORE_OK;
}

/* Append record in to the chain inside tx; seq and hashes are set here. */
static int
audit_put(struct tx *tx, const struct store_audit *in)
{
	struct store_audit		 a;
	struct store_record_meta	 head;
	int				 err;

	err = meta_get(tx, META_AUDIT, &head);
	if (err != STORE_OK && err != STORE_NOTFOUND)
		return err;
	memcpy(&a, in, sizeof(a));
	if ((err = audit_link(tx, &head, &a, false)) != STORE_OK)
		return err;
	return meta_put(tx, META_AUDIT, head.value, head.hash);
}

/*
 * The write op that stores one record: in one write transaction, check
 * that product exists (unless NULL), put key -> e in d (flags) and append
 * the audit record a. op names the caller in logs.
 */
static int
write_one(struct store *st, enum db d, const MDB_val *key,
    const struct store_record_enc *e, unsigned flags, const char *product,
    const struct store_audit *a, const char *op)
{
	struct tx	tx;
	int		err;

	if ((err = tx_begin(lstore(st), &tx, true, op)) != STORE_OK)
		return err;
	if (product != NULL &&
	    (err = product_require(&tx, product)) != STORE_OK)
		goto done;
	if ((err = db_put(&tx, d, key, e, flags)) == STORE_OK)
		err = audit_put(&tx, a);
done:
	return tx_finish(&tx, err);
}

/* ---- open and close ---- */

/* Open (and on a fresh env create) the named databases; check the schema. */
static int
store_dbs_open(struct lstore *ls, const char *dir, bool create)
{
	struct store_record_meta	 schema;
	struct tx			 tx;
	MDB_dbi				 main_dbi;
	MDB_cursor			*c;
	MDB_val				 k, v;
	bool				 fresh = false;
	int				 rc, err = STORE_OK;

	if ((err = tx_begin(ls, &tx, true, __func__)) != STORE_OK)
		return err;
	rc = mdb_dbi_open(tx.txn, db_names[DB_META], 0, &ls->dbi[DB_META]);
	if (rc == MDB_NOTFOUND) {
		/* No meta: a new environment, or not a keygate store at all. */
		if ((rc = mdb_dbi_open(tx.txn, NULL, 0, &main_dbi)) != 0 ||
		    (rc = mdb_cursor_open(tx.txn, main_dbi, &c)) != 0) {
			err = tx_fail(&tx, "mdb_dbi_open", DB__COUNT, rc);
			goto done;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		mdb_cursor_close(c);
		if (!create || rc != MDB_NOTFOUND) {
			log_error("%s: data dir has no store schema, this "
			    "keygated knows %d (%s)", __func__,
			    STORE_SCHEMA_VERSION, dir);
			err = STORE_SCHEMA;
			goto done;
		}
		fresh = true;
	} else if (rc != 0) {
		err = tx_fail(&tx, "mdb_dbi_open", DB_META, rc);
		goto done;
	} else {
		err = meta_get(&tx, META_SCHEMA, &schema);
		if (err == STORE_NOTFOUND) {
			log_error("%s: data dir has no store schema, this "
			    "keygated knows %d (%s)", __func__,
			    STORE_SCHEMA_VERSION, dir);
			err = STORE_SCHEMA;
		} else if (err == STORE_OK &&
		    schema.value != STORE_SCHEMA_VERSION) {
			log_error("%s: data dir has store schema %" PRIu64
			    ", this keygated knows %d (%s)", __func__,
			    schema.value, STORE_SCHEMA_VERSION, dir);
			err = STORE_SCHEMA;
		}
		if (err != STORE_OK)
			goto done;
	}
	for (int i = 0; i < DB__COUNT; i++) {
		rc = mdb_dbi_open(tx.txn, db_names[i], fresh ? MDB_CREATE : 0,
		    &ls->dbi[i]);
		if (rc != 0) {
			err = tx_fail(&tx, "mdb_dbi_open", (enum db)i, rc);
			goto done;
		}
	}
	if (fresh) {
		err = meta_put(&tx, META_SCHEMA, STORE_SCHEMA_VERSION, NULL);
		if (err != STORE_OK ||
		    (err = meta_put(&tx, META_SERIAL, 1, NULL)) != STORE_OK)
			goto done;
		log_info("new store in %s (schema %d)", dir,
		    STORE_SCHEMA_VERSION);
	}
done:
	return tx_finish(&tx, err);
}

/* Open (or with opt->create, make) the LMDB store in dir. */
int
store_open_lmdb(const char *dir, const struct store_options *opt,
    struct store **out)
{
	struct lstore	*ls = NULL;
	struct stat	 sb;
	char		 path[PATH_MAX];
	uint64_t	 map_size = STORE_MAP_SIZE_DEFAULT, map_max = 0;
	bool		 create = false;
	int		 rc, err, dead = 0;

	if (out == NULL || dir == NULL)
		return STORE_INVAL;
	*out = NULL;
	if (opt != NULL) {
		create = opt->create;
		if (opt->map_size != 0)
			map_size = opt->map_size;
		map_max = opt->map_size_max;
	}
	if (map_max < map_size)
		map_max = map_size;
	if (map_max > SIZE_MAX)
		return STORE_INVAL;
	if (!create) {
		/* Without create, a dir lacking data.mdb stays as it is. */
		if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >=
		    (int)sizeof(path))
			return STORE_INVAL;
		if (stat(path, &sb) == -1) {
			log_error("%s: no store in %s: %s", __func__, dir,
			    strerror(errno));
			return errno == ENOENT ? STORE_NOTFOUND : STORE_IO;
		}
	}
	if (sodium_init() < 0) {
		log_error("%s: sodium_init failed", __func__);
		return STORE_IO;
	}
	if ((ls = calloc(1, sizeof(*ls))) == NULL) {
		log_error("%s: out of memory", __func__);
		return STORE_IO;
	}
	ls->base.ops = &lmdb_ops;
	ls->map_max = map_max;
	ls->uid = store_cache_uid_new();
	pthread_rwlock_init(&ls->grow, NULL);
	if ((rc = mdb_env_create(&ls->env)) != 0) {
		ls->env = NULL;
		goto lmdb_fail;
	}
	if ((rc = mdb_env_set_maxdbs(ls->env, DB__COUNT)) != 0 ||
	    (rc = mdb_env_set_mapsize(ls->env, (size_t)map_size)) != 0 ||
	    (rc = mdb_env_open(ls->env, dir, MDB_NOTLS, 0600)) != 0)
		goto lmdb_fail;
	/* Reader slots of processes that died (kill -9) would pin old pages. */
	if ((rc = mdb_reader_check(ls->env, &dead)) != 0)
		goto lmdb_fail;
	if (dead > 0)
		log_info("%s: cleared %d stale reader slot(s)", __func__, dead);
	if ((err = store_dbs_open(ls, dir, create)) != STORE_OK)
		goto fail;
	*out = &ls->base;
	return STORE_OK;

lmdb_fail:
	log_error("%s: %s: %s", __func__, dir, mdb_strerror(rc));
	err = rc == MDB_MAP_FULL ? STORE_FULL : STORE_IO;
fail:
	tl_rtxn_drop(ls);
	if (ls->env != NULL)
		mdb_env_close(ls->env);
	pthread_rwlock_destroy(&ls->grow);
	free(ls);
	return err;
}

static void
lmdb_close(struct store *st)
{
	struct lstore	*ls = lstore(st);

	if (ls == NULL)
		return;
	tl_rtxn_drop(ls);
	store_cache_drop(ls->uid);
	mdb_env_close(ls->env);
	pthread_rwlock_destroy(&ls->grow);
	free(ls);
}

static int
lmdb_schema_version(struct store *st, uint32_t *version)
{
	struct store_record_meta	 r;
	struct tx			 tx;
	int				 err;

	if (version == NULL)
		return STORE_INVAL;
	if ((err = tx_begin(lstore(st), &tx, false, __func__)) != STORE_OK)
		return err;
	if ((err = meta_get(&tx, META_SCHEMA, &r)) == STORE_OK)
		*version = (uint32_t)r.value;
	return tx_finish(&tx, err);
}

/* ---- products and editions ---- */

static int
lmdb_product_add_once(struct store *st, const struct store_product *p,
    const struct store_audit *a)
{
	struct store_record_enc	 m;
	MDB_val			 key;

	if (p == NULL || !STR_SET(p->code) || !STR_OK(p->name) ||
	    !audit_valid(a))
		return STORE_INVAL;
	store_record_product_encode(p, &m);
	key = val_str(p->code);
	return write_one(st, DB_PRODUCTS, &key, &m, MDB_NOOVERWRITE, NULL, a,
	    __func__);
}

static int
lmdb_product_get(struct store *st, const char *code, struct store_product *p)
{
	struct store_snap	snap;
	struct tx	tx;
	MDB_val		key;
	int		err;

	if (p == NULL)
		return STORE_INVAL;
	if ((err = key_check(code, KG_CODE_MAX)) != STORE_OK)
		return err;
	if ((err = tx_begin(lstore(st), &tx, false, __func__)) != STORE_OK)
		return err;
	if (tx_snap(&tx, &snap) && store_cache_product_get(&snap, code, p))
		return tx_finish(&tx, STORE_OK);
	key = val_str(code);
	err = db_get(&tx, DB_PRODUCTS, &key, STORE_RECORD_PRODUCT, p);
	if (err == STORE_OK && tx_snap(&tx, &snap))
		store_cache_product_put(&snap, p);
	return tx_finish(&tx, err);
}

/* The user's typed callback behind db_each's generic visitor. */
struct visit_user {
	union {
		store_product_cb	product;
		store_edition_cb	edition;
		store_license_cb	license;
		store_act_cb		act;
		store_audit_cb		audit;
		store_signing_key_cb	signing_key;
	}		 cb;
	void			*ctx;
	enum store_record_kind	 kind;		/* which of cb */
	int64_t			 since;		/* audit_list */
};

/* db_each's visitor: the user's callback of v->kind with the record. */
static int
visit_user_call(void *arg, const MDB_val *key, const void *rec)
{
	struct visit_user		*v = arg;
	const struct store_audit	*a;

	(void)key;
	switch (v->kind) {
	case STORE_RECORD_PRODUCT:
		return v->cb.product(v->ctx, rec);
	case STORE_RECORD_EDITION:
		return v->cb.edition(v->ctx, rec);
	case STORE_RECORD_LICENSE:
		return v->cb.license(v->ctx, rec);
	case STORE_RECORD_ACT:
		return v->cb.act(v->ctx, rec);
	case STORE_RECORD_SIGNING_KEY:
		return v->cb.signing_key(v->ctx, rec);
	case STORE_RECORD_AUDIT:
		a = rec;
		return a->time < v->since ? 0 : v->cb.audit(v->ctx, a);
	default:
		return 1;
	}
}

/*
 * The list op: v's callback on each record of d under prefix (every record
 * when NULL), decoded into rec, in one read transaction. op names the
 * caller in logs.
 */
static int
read_each(struct store *st, enum db d, const MDB_val *prefix, void *rec,
    struct visit_user *v, const char *op)
{
	struct tx	tx;
	int		err;

	if ((err = tx_begin(lstore(st), &tx, false, op)) != STORE_OK)
		return err;
	err = db_each(&tx, d, prefix != NULL ? prefix->mv_data : NULL,
	    prefix != NULL ? prefix->mv_size : 0, v->kind, rec,
	    visit_user_call, v);
	return tx_finish(&tx, err);
}

static int
lmdb_product_list(struct store *st, store_product_cb cb, void *ctx)
{
	struct store_product	 rec;
	struct visit_user	 v = { .cb.product = cb, .ctx = ctx,
	    .kind = STORE_RECORD_PRODUCT };

	if (cb == NULL)
		return STORE_INVAL;
	return read_each(st, DB_PRODUCTS, NULL, &rec, &v, __func__);
}

static int
lmdb_edition_add_once(struct store *st, const struct store_edition *e,
    const struct store_audit *a)
{
	struct store_record_enc	 m;
	uint8_t			 kb[PAIR_KEY_MAX];
	MDB_val			 key;

	if (e == NULL || !STR_SET(e->product) || !STR_SET(e->code) ||
	    e->policy.basis > KG_BASIS_ACTIVATION ||
	    e->policy.on_expiry > KG_ON_EXPIRY_DEMO || !audit_valid(a))
		return STORE_INVAL;
	store_record_edition_encode(e, &m);
	key = key_pair(kb, e->product, e->code);
	return write_one(st, DB_EDITIONS, &key, &m, MDB_NOOVERWRITE, e->product,
	    a, __func__);
}

static int
lmdb_edition_get(struct store *st, const char *product, const char *code,
    struct store_edition *e)
{
	struct store_snap	snap;
	struct tx	tx;
	uint8_t		kb[PAIR_KEY_MAX];
	MDB_val		key;
	int		err;

	if (e == NULL)
		return STORE_INVAL;
	if ((err = key_check(product, KG_CODE_MAX)) != STORE_OK ||
	    (err = key_check(code, KG_CODE_MAX)) != STORE_OK)
		return err;
	if ((err = tx_begin(lstore(st), &tx, false, __func__)) != STORE_OK)
		return err;
	if (tx_snap(&tx, &snap) &&
	    store_cache_edition_get(&snap, product, code, e))
		return tx_finish(&tx, STORE_OK);
	key = key_pair(kb, product, code);
	err = db_get(&tx, DB_EDITIONS, &key, STORE_RECORD_EDITION, e);
	if (err == STORE_OK && tx_snap(&tx, &snap))
		store_cache_edition_put(&snap, e);
	return tx_finish(&tx, err);
}

/* A product's editions in code order; product NULL lists every edition. */
static int
lmdb_edition_list(struct store *st, const char *product, store_edition_cb cb,
    void *ctx)
{
	struct store_edition	 rec;
	struct visit_user	 v = { .cb.edition = cb, .ctx = ctx,
	    .kind = STORE_RECORD_EDITION };
	uint8_t			 kb[PAIR_KEY_MAX];
	MDB_val			 prefix = { 0, NULL };
	int			 err;

	if (cb == NULL)
		return STORE_INVAL;
	if (product != NULL) {
		if ((err = key_check(product, KG_CODE_MAX)) != STORE_OK)
			return err == STORE_NOTFOUND ? STORE_OK : err;
		prefix = key_pair(kb, product, NULL);
	}
	return read_each(st, DB_EDITIONS, &prefix, &rec, &v, __func__);
}

/* ---- releases ---- */

static int
lmdb_release_publish_once(struct store *st, const struct store_release *r,
    const struct store_audit *a)
{
	struct store_record_enc	 m;
	struct store_release	 rec;
	struct tx		 tx;
	uint8_t			 kb[RELEASE_KEY_MAX];
	MDB_val			 key;
	int			 err;

	if (r == NULL || !STR_SET(r->product) || !STR_OK(r->sha256) ||
	    !STR_OK(r->url) || r->rel.version.n < 1 ||
	    r->rel.version.n > KG_VERSION_PARTS_MAX ||
	    r->rel.state > KG_RELEASE_WITHDRAWN || !audit_valid(a))
		return STORE_INVAL;
	memcpy(&rec, r, sizeof(rec));
	version_format(&rec.rel.version, rec.version);
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK)
		return err;
	if ((err = product_require(&tx, rec.product)) != STORE_OK)
		goto done;
	store_record_release_encode(&rec, &m);
	key = key_release(kb, rec.product, &rec.rel.version);
	err = db_put(&tx, DB_RELEASES, &key, &m, MDB_NOOVERWRITE);
	if (err == STORE_OK)
		err = audit_put(&tx, a);
done:
	return tx_finish(&tx, err);
}

static int
lmdb_release_withdraw_once(struct store *st, const char *product,
    const struct kg_version *version, const struct store_audit *a)
{
	struct store_record_enc	 m;
	struct store_release	 rec;
	struct tx		 tx;
	uint8_t			 kb[RELEASE_KEY_MAX];
	MDB_val			 key;
	int			 err;

	if (version == NULL || version->n < 1 ||
	    version->n > KG_VERSION_PARTS_MAX || !audit_valid(a))
		return STORE_INVAL;
	if ((err = key_check(product, KG_CODE_MAX)) != STORE_OK)
		return err;
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK)
		return err;
	key = key_release(kb, product, version);
	err = db_get(&tx, DB_RELEASES, &key, STORE_RECORD_RELEASE, &rec);
	if (err != 0)
		goto done;
	rec.rel.state = KG_RELEASE_WITHDRAWN;
	store_record_release_encode(&rec, &m);
	if ((err = db_put(&tx, DB_RELEASES, &key, &m, 0)) == STORE_OK)
		err = audit_put(&tx, a);
done:
	return tx_finish(&tx, err);
}

struct release_acc {
	struct store_release	*v;
	size_t			 n, cap;
	bool			 nomem;
};

static int
visit_release(void *arg, const MDB_val *key, const void *rec)
{
	struct release_acc	*acc = arg;
	struct store_release	*nv;
	size_t			 cap;

	(void)key;
	if (acc->n == acc->cap) {
		cap = acc->cap ? acc->cap * 2 : 16;
		if ((nv = reallocarray(acc->v, cap, sizeof(*nv))) == NULL) {
			acc->nomem = true;
			return 1;
		}
		acc->v = nv;
		acc->cap = cap;
	}
	memcpy(&acc->v[acc->n++], rec, sizeof(*acc->v));
	return 0;
}

static int
lmdb_release_list(struct store *st, const char *product,
    struct store_release **out, size_t *n)
{
	struct release_acc	 acc = { NULL, 0, 0, false };
	struct store_release	 rec;
	struct store_snap	 snap;
	struct tx		 tx;
	uint8_t			 kb[RELEASE_KEY_MAX];
	MDB_val			 prefix;
	int			 err;

	if (out == NULL || n == NULL)
		return STORE_INVAL;
	*out = NULL;
	*n = 0;
	if ((err = key_check(product, KG_CODE_MAX)) != STORE_OK)
		return err == STORE_NOTFOUND ? STORE_OK : err;
	if ((err = tx_begin(lstore(st), &tx, false, __func__)) != STORE_OK)
		return err;
	if (tx_snap(&tx, &snap) &&
	    store_cache_releases_get(&snap, product, out, n))
		return tx_finish(&tx, STORE_OK);
	prefix = key_release(kb, product, NULL);
	err = db_each(&tx, DB_RELEASES, prefix.mv_data, prefix.mv_size,
	    STORE_RECORD_RELEASE, &rec, visit_release, &acc);
	if (err == STORE_OK && acc.nomem) {
		log_error("%s: out of memory", __func__);
		err = STORE_IO;
	}
	if (err == STORE_OK && tx_snap(&tx, &snap))
		store_cache_releases_put(&snap, product, acc.v, acc.n);
	err = tx_finish(&tx, err);
	if (err != STORE_OK) {
		free(acc.v);
		return err;
	}
	*out = acc.v;
	*n = acc.n;
	return STORE_OK;
}

static int
lmdb_release_versions(struct store *st, const char *product,
    struct kg_release *out, size_t max, size_t *n)
{
	struct store_release	*v;
	struct store_snap	 snap;
	struct tx		 tx;
	size_t			 k, i;
	int			 err;

	if (n == NULL || (out == NULL && max > 0))
		return STORE_INVAL;
	*n = 0;
	if ((err = key_check(product, KG_CODE_MAX)) != STORE_OK)
		return err == STORE_NOTFOUND ? STORE_OK : err;
	if ((err = tx_begin(lstore(st), &tx, false, __func__)) != STORE_OK)
		return err;
	if (tx_snap(&tx, &snap) &&
	    store_cache_release_versions(&snap, product, out, max, n))
		return tx_finish(&tx, STORE_OK);
	(void)tx_finish(&tx, STORE_OK);
	/* Not cached: the whole list, which caches it. */
	if ((err = lmdb_release_list(st, product, &v, &k)) != STORE_OK)
		return err;
	for (i = 0; i < k && i < max; i++)
		out[i] = v[i].rel;
	*n = k;
	free(v);
	return STORE_OK;
}

/* ---- licenses ---- */

/*
 * Before licenses are created: the product exists, the next serial
 * (serial, 1 in a new store) and the product's regno counter (counter, 0
 * when none yet; its meta key into mk).
 */
static int
license_counters_get(struct tx *tx, const char *product, char mk[META_KEY_MAX],
    struct store_record_meta *serial, struct store_record_meta *counter)
{
	int	err;

	snprintf(mk, META_KEY_MAX, "%s%s", META_REGNO_PREFIX, product);
	if ((err = product_require(tx, product)) != STORE_OK)
		return err;
	if ((err = meta_get(tx, META_SERIAL, serial)) == STORE_NOTFOUND)
		serial->value = 1;
	else if (err != STORE_OK)
		return err;
	if ((err = meta_get(tx, mk, counter)) != STORE_OK &&
	    err != STORE_NOTFOUND)
		return err;
	return STORE_OK;
}

/*
 * Store rec (its serial set) as license number counter of its product:
 * its regno ("<PRODUCT>-<000001>"), its record (put with flags:
 * MDB_NOOVERWRITE, or MDB_APPEND in a bulk issue) and its regno index
 * entry. kb gets the record's key (the serial, big-endian).
 */
static int
license_put_new(struct tx *tx, struct store_license *rec, uint64_t counter,
    unsigned flags, uint8_t kb[8])
{
	struct store_record_enc	m;
	MDB_val			key;
	int			len, err;

	len = snprintf(rec->lic.regno, sizeof(rec->lic.regno), "%s-%06" PRIu64,
	    rec->lic.product, counter);
	if (len < 0 || (size_t)len >= sizeof(rec->lic.regno)) {
		log_error("%s: regno counter of %s overflows", tx->op,
		    rec->lic.product);
		return STORE_IO;
	}
	store_record_license_encode(rec, &m);
	store_record_be64_put(kb, rec->lic.serial);
	key = val_bytes(kb, 8);
	if ((err = db_put_assigned(tx, DB_LICENSES, &key, &m, flags)) !=
	    STORE_OK)
		return err;
	key = val_str(rec->lic.regno);
	err = db_put_raw(tx, DB_REGNO, &key, kb, 8, MDB_NOOVERWRITE);
	if (err == STORE_EXISTS) {
		log_error("%s: regno %s is already indexed", tx->op,
		    rec->lic.regno);
		err = STORE_IO;
	}
	return err;
}

/*
 * Assign the next serial and the product's next registration number and
 * write license, regno index and audit record in one transaction. The
 * audit record's object is always set to the new regno: the caller cannot
 * know it before, and the regno names the product too.
 */
static int
lmdb_license_create_once(struct store *st, struct store_license *l,
    const struct store_audit *a)
{
	struct store_license		 rec;
	struct store_audit		 au;
	struct store_record_meta	 serial, counter;
	struct tx			 tx;
	char				 mk[META_KEY_MAX];
	uint8_t				 kb[8];
	int				 err;

	if (!license_valid(l) || !audit_valid(a))
		return STORE_INVAL;
	memcpy(&rec, l, sizeof(rec));
	memcpy(&au, a, sizeof(au));
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK)
		return err;
	if ((err = license_counters_get(&tx, rec.lic.product, mk, &serial,
	    &counter)) != STORE_OK)
		goto done;
	counter.value++;
	rec.lic.serial = serial.value;
	if ((err = license_put_new(&tx, &rec, counter.value, MDB_NOOVERWRITE,
	    kb)) != STORE_OK)
		goto done;
	snprintf(au.object, sizeof(au.object), "%s", rec.lic.regno);
	if ((err = meta_put(&tx, META_SERIAL, serial.value + 1, NULL)) == 0 &&
	    (err = meta_put(&tx, mk, counter.value, NULL)) == 0)
		err = audit_put(&tx, &au);
done:
	if ((err = tx_finish(&tx, err)) == STORE_OK) {
		l->lic.serial = rec.lic.serial;
		memcpy(l->lic.regno, rec.lic.regno, sizeof(l->lic.regno));
	}
	return err;
}

/*
 * The counter meta key and number of a registration number of the store's
 * form "<PREFIX>-<digits>" (PREFIX a code); -1 for any other form.
 */
static int
regno_counter_parse(const char *regno, char mk[META_KEY_MAX], uint64_t *num)
{
	const char	*dash = strrchr(regno, '-');
	size_t		 plen, dlen;

	if (dash == NULL)
		return -1;
	plen = (size_t)(dash - regno);
	dlen = strlen(dash + 1);
	if (plen == 0 || plen > KG_CODE_MAX || dlen == 0 || dlen > 19 ||
	    strspn(dash + 1, "0123456789") != dlen)
		return -1;
	snprintf(mk, META_KEY_MAX, "%s%.*s", META_REGNO_PREFIX, (int)plen,
	    regno);
	*num = strtoull(dash + 1, NULL, 10);
	return 0;
}

/*
 * Import n licenses in one transaction (see store.h). Given registration
 * numbers are indexed first (moving their counters past them), then the
 * others are numbered, so an assigned number never meets a given one.
 */
static int
lmdb_license_import_once(struct store *st, struct store_license *l, size_t n,
    const struct store_audit *a, size_t *bad)
{
	struct store_record_enc		 m;
	struct store_record_meta	 serial, counter;
	struct tx			 tx;
	char				 mk[META_KEY_MAX];
	uint8_t				 kb[8], *assigned;
	uint64_t			 base, num;
	MDB_val				 key;
	size_t				 i;
	int				 err = STORE_OK, len, pass;
	bool				 given;

	*bad = n;
	if (l == NULL || n == 0 || !audit_valid(a))
		return STORE_INVAL;
	for (i = 0; i < n; i++)
		if (!license_valid(&l[i])) {
			*bad = i;
			return STORE_INVAL;
		}
	if ((assigned = calloc(n, 1)) == NULL) {
		log_error("%s: out of memory", __func__);
		return STORE_IO;
	}
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK) {
		free(assigned);
		return err;
	}
	if ((err = meta_get(&tx, META_SERIAL, &serial)) == STORE_NOTFOUND) {
		serial.value = 1;
		err = STORE_OK;
	} else if (err != STORE_OK)
		goto done;
	base = serial.value;
	for (pass = 0; pass < 2 && err == STORE_OK; pass++) {
		for (i = 0; i < n; i++) {
			given = l[i].lic.regno[0] != '\0' && !assigned[i];
			if (given != (pass == 0))
				continue;
			*bad = i;
			if ((err = product_require(&tx, l[i].lic.product)) !=
			    STORE_OK)
				goto done;
			if (given) {
				if (regno_counter_parse(l[i].lic.regno, mk,
				    &num) == 0) {
					if ((err = meta_get(&tx, mk, &counter)) ==
					    STORE_NOTFOUND)
						counter.value = 0;
					else if (err != STORE_OK)
						goto done;
					if (counter.value < num &&
					    (err = meta_put(&tx, mk, num,
					    NULL)) != STORE_OK)
						goto done;
				}
			} else {
				snprintf(mk, sizeof(mk), "%s%s",
				    META_REGNO_PREFIX, l[i].lic.product);
				if ((err = meta_get(&tx, mk, &counter)) !=
				    STORE_OK && err != STORE_NOTFOUND)
					goto done;
				counter.value++;
				len = snprintf(l[i].lic.regno,
				    sizeof(l[i].lic.regno), "%s-%06" PRIu64,
				    l[i].lic.product, counter.value);
				assigned[i] = 1;
				if (len < 0 ||
				    (size_t)len >= sizeof(l[i].lic.regno)) {
					log_error("%s: regno counter of %s "
					    "overflows", __func__,
					    l[i].lic.product);
					err = STORE_IO;
					goto done;
				}
				if ((err = meta_put(&tx, mk, counter.value,
				    NULL)) != STORE_OK)
					goto done;
			}
			l[i].lic.serial = base + i;
			store_record_license_encode(&l[i], &m);
			store_record_be64_put(kb, l[i].lic.serial);
			key = val_bytes(kb, sizeof(kb));
			if ((err = db_put_new(&tx, DB_LICENSES, &key, &m)) !=
			    STORE_OK)
				goto done;
			key = val_str(l[i].lic.regno);
			err = db_put_raw(&tx, DB_REGNO, &key, kb, sizeof(kb),
			    MDB_NOOVERWRITE);
			if (err == STORE_EXISTS && !given) {
				log_error("%s: regno %s is already indexed",
				    __func__, l[i].lic.regno);
				err = STORE_IO;
			}
			if (err != STORE_OK)
				goto done;
		}
	}
	*bad = n;
	if ((err = meta_put(&tx, META_SERIAL, base + n, NULL)) == STORE_OK)
		err = audit_put(&tx, a);
done:
	if ((err = tx_finish(&tx, err)) != STORE_OK) {
		for (i = 0; i < n; i++) {
			l[i].lic.serial = 0;
			if (assigned[i])
				l[i].lic.regno[0] = '\0';
		}
	}
	free(assigned);
	return err;
}

/*
 * A bulk issue (see store.h): n licenses like *l, each with its license
 * record, regno index entry and audit record, in one transaction. The
 * counters and the audit chain's head are read once, carried in memory
 * through the n licenses and written once at the end, leaving exactly
 * what n calls of license_create would have left.
 */
static int
lmdb_license_create_many_once(struct store *st, const struct store_license *l,
    size_t n, const struct store_audit *a, struct store_issued *out)
{
	struct store_license		 rec;
	struct store_audit		 au;
	struct store_record_meta	 serial, counter, head;
	struct tx			 tx;
	char				 mk[META_KEY_MAX];
	uint8_t				 kb[8];
	size_t				 i;
	int				 err;

	if (!license_valid(l) || !audit_valid(a) || out == NULL || n == 0 ||
	    n > STORE_CREATE_MANY_MAX)
		return STORE_INVAL;
	memcpy(&rec, l, sizeof(rec));
	memcpy(&au, a, sizeof(au));
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK)
		return err;
	if ((err = license_counters_get(&tx, rec.lic.product, mk, &serial,
	    &counter)) != STORE_OK)
		goto done;
	if ((err = meta_get(&tx, META_AUDIT, &head)) != STORE_OK &&
	    err != STORE_NOTFOUND)
		goto done;
	err = STORE_OK;
	for (i = 0; i < n && err == STORE_OK; i++) {
		rec.lic.serial = serial.value + i;
		counter.value++;
		if ((err = license_put_new(&tx, &rec, counter.value, MDB_APPEND,
		    kb)) != STORE_OK)
			break;
		snprintf(au.object, sizeof(au.object), "%s", rec.lic.regno);
		if ((err = audit_link(&tx, &head, &au, true)) != STORE_OK)
			break;
		out[i].serial = rec.lic.serial;
		memcpy(out[i].regno, rec.lic.regno, sizeof(out[i].regno));
	}
	if (err == STORE_OK &&
	    (err = meta_put(&tx, META_SERIAL, serial.value + n, NULL)) ==
	    STORE_OK &&
	    (err = meta_put(&tx, mk, counter.value, NULL)) == STORE_OK)
		err = meta_put(&tx, META_AUDIT, head.value, head.hash);
done:
	if ((err = tx_finish(&tx, err)) != STORE_OK)
		memset(out, 0, n * sizeof(*out));
	return err;
}

static int
license_get_tx(struct tx *tx, uint64_t serial, struct store_license *l)
{
	struct store_snap	snap;
	uint8_t			kb[8];
	MDB_val			key, data;
	bool			read_only;
	int			err;

	/*
	 * Read in this snapshot before: no lookup (store_cache.h). Only
	 * read transactions (the checks') keep decodings: the reads of a
	 * write, the committer's among them, do not fill a table.
	 */
	if ((read_only = tx_snap(tx, &snap)) &&
	    store_cache_license_snap_get(&snap, serial, l))
		return STORE_OK;
	store_record_be64_put(kb, serial);
	key = val_bytes(kb, sizeof(kb));
	if ((err = db_get_raw(tx, DB_LICENSES, &key, &data)) != STORE_OK)
		return err;
	/* The same bytes as last time: the same decoding. */
	if (read_only && store_cache_license_get(&snap, serial, data.mv_data,
	    data.mv_size, l))
		return STORE_OK;
	err = rec_unpack(tx, DB_LICENSES, &data, STORE_RECORD_LICENSE, l);
	if (err == STORE_OK && read_only)
		store_cache_license_put(&snap, serial, data.mv_data,
		    data.mv_size, l);
	return err;
}

static int
lmdb_license_get_serial(struct store *st, uint64_t serial,
    struct store_license *l)
{
	struct tx	tx;
	int		err;

	if (l == NULL)
		return STORE_INVAL;
	if ((err = tx_begin(lstore(st), &tx, false, __func__)) != STORE_OK)
		return err;
	err = license_get_tx(&tx, serial, l);
	return tx_finish(&tx, err);
}

static int
lmdb_license_get_regno(struct store *st, const char *regno,
    struct store_license *l)
{
	struct tx	tx;
	MDB_val		key, data;
	int		err;

	if (l == NULL)
		return STORE_INVAL;
	if ((err = key_check(regno, KG_REGNO_MAX)) != STORE_OK)
		return err;
	if ((err = tx_begin(lstore(st), &tx, false, __func__)) != STORE_OK)
		return err;
	key = val_str(regno);
	if ((err = db_get_raw(&tx, DB_REGNO, &key, &data)) != STORE_OK)
		goto done;
	if (data.mv_size != 8) {
		log_error("%s: corrupt regno index entry %s", __func__, regno);
		err = STORE_IO;
		goto done;
	}
	err = license_get_tx(&tx, store_record_be64_get(data.mv_data), l);
	if (err == STORE_NOTFOUND) {
		log_error("%s: regno %s indexes a missing license", __func__,
		    regno);
		err = STORE_IO;
	}
done:
	return tx_finish(&tx, err);
}

/*
 * Replace a license whose stored revision is expect_revision. Serial,
 * product and regno identify the license and must not change (STORE_INVAL).
 */
static int
lmdb_license_update_once(struct store *st, const struct store_license *l,
    uint32_t expect_revision, const struct store_audit *a)
{
	struct store_record_enc	 m;
	struct store_license	 cur;
	struct tx		 tx;
	uint8_t			 kb[8];
	MDB_val			 key;
	int			 err;

	if (!license_valid(l) || !audit_valid(a))
		return STORE_INVAL;
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK)
		return err;
	if ((err = license_get_tx(&tx, l->lic.serial, &cur)) != STORE_OK)
		goto done;
	if (cur.lic.revision != expect_revision) {
		err = STORE_CONFLICT;
		goto done;
	}
	if (strcmp(cur.lic.regno, l->lic.regno) != 0 ||
	    strcmp(cur.lic.product, l->lic.product) != 0) {
		err = STORE_INVAL;
		goto done;
	}
	store_record_license_encode(l, &m);
	store_record_be64_put(kb, l->lic.serial);
	key = val_bytes(kb, sizeof(kb));
	if ((err = db_put(&tx, DB_LICENSES, &key, &m, 0)) == STORE_OK)
		err = audit_put(&tx, a);
done:
	return tx_finish(&tx, err);
}

static int
lmdb_license_list(struct store *st, store_license_cb cb, void *ctx)
{
	struct store_license	 rec;
	struct visit_user	 v = { .cb.license = cb, .ctx = ctx,
	    .kind = STORE_RECORD_LICENSE };

	if (cb == NULL)
		return STORE_INVAL;
	return read_each(st, DB_LICENSES, NULL, &rec, &v, __func__);
}

/* ---- acts ---- */

static int
lmdb_act_register_once(struct store *st, const struct store_act *act,
    const struct store_audit *a)
{
	struct store_record_enc	 m;
	MDB_val			 key;

	if (!act_valid(act) || !audit_valid(a))
		return STORE_INVAL;
	store_record_act_encode(act, &m);
	key = val_str(act->number);
	return write_one(st, DB_ACTS, &key, &m, MDB_NOOVERWRITE, act->product,
	    a, __func__);
}

static int
lmdb_act_get(struct store *st, const char *number, struct store_act *act)
{
	struct tx	tx;
	MDB_val		key;
	int		err;

	if (act == NULL)
		return STORE_INVAL;
	if ((err = key_check(number, KG_CODE_MAX)) != STORE_OK)
		return err;
	if ((err = tx_begin(lstore(st), &tx, false, __func__)) != STORE_OK)
		return err;
	key = val_str(number);
	err = db_get(&tx, DB_ACTS, &key, STORE_RECORD_ACT, act);
	return tx_finish(&tx, err);
}

/*
 * Void an open act. A redeemed act cannot be voided (STORE_CONFLICT); an
 * act already void is left alone (STORE_OK, no audit record: no change).
 */
static int
lmdb_act_void_once(struct store *st, const char *number,
    const struct store_audit *a)
{
	struct store_record_enc	 m;
	struct store_act	 act;
	struct tx		 tx;
	MDB_val			 key;
	int			 err;

	if (!audit_valid(a))
		return STORE_INVAL;
	if ((err = key_check(number, KG_CODE_MAX)) != STORE_OK)
		return err;
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK)
		return err;
	key = val_str(number);
	err = db_get(&tx, DB_ACTS, &key, STORE_RECORD_ACT, &act);
	if (err != STORE_OK || act.state == STORE_ACT_VOID)
		goto done;
	if (act.state == STORE_ACT_REDEEMED) {
		err = STORE_CONFLICT;
		goto done;
	}
	act.state = STORE_ACT_VOID;
	store_record_act_encode(&act, &m);
	if ((err = db_put(&tx, DB_ACTS, &key, &m, 0)) == STORE_OK)
		err = audit_put(&tx, a);
done:
	return tx_finish(&tx, err);
}

static int
lmdb_act_list(struct store *st, store_act_cb cb, void *ctx)
{
	struct store_act	 rec;
	struct visit_user	 v = { .cb.act = cb, .ctx = ctx,
	    .kind = STORE_RECORD_ACT };

	if (cb == NULL)
		return STORE_INVAL;
	return read_each(st, DB_ACTS, NULL, &rec, &v, __func__);
}

/*
 * Redeem one act inside the write transaction tx: read act and license, let
 * decide rule, and on KG_REASON_OK write what it changed. The license and
 * the act are written only when decide changed them; the audit record when
 * decide filled one (an action). A change without an audit record is
 * refused (STORE_INVAL). decide must not call the store: it runs inside the
 * write transaction. Sets r->err and r->reason for this redemption alone
 * (STORE_REFUSED with decide's reason, STORE_NOTFOUND or STORE_INVAL write
 * nothing) and returns 0, or returns the error (STORE_IO, STORE_FULL) that
 * must abort the whole transaction.
 */
static int
redeem_rule_in_tx(struct tx *tx, struct store_redeem *r)
{
	struct store_record_enc	 lm, lm0, am, am0;
	struct store_license	 cur, next_lic;
	struct store_act	 act, next_act;
	struct store_audit	 audit;
	enum kg_reason		 why;
	uint8_t			 kb[8];
	MDB_val			 key;
	int			 err, lic_changed, act_changed;

	r->reason = KG_REASON_INTERNAL;
	r->err = STORE_INVAL;
	if (r->decide == NULL)
		return 0;
	if ((err = key_check(r->number, KG_CODE_MAX)) != STORE_OK) {
		r->err = err;
		if (err == STORE_NOTFOUND) {
			r->reason = KG_REASON_ACT_UNKNOWN;
			r->err = STORE_REFUSED;
		}
		return 0;
	}
	key = val_str(r->number);
	err = db_get(tx, DB_ACTS, &key, STORE_RECORD_ACT, &act);
	if (err == STORE_NOTFOUND) {
		r->reason = KG_REASON_ACT_UNKNOWN;
		r->err = STORE_REFUSED;
		return 0;
	}
	if (err == STORE_OK)
		err = license_get_tx(tx, r->serial, &cur);
	if (err == STORE_NOTFOUND || err == STORE_INVAL) {
		r->err = err;
		return 0;
	}
	if (err != STORE_OK)
		return err;
	memcpy(&next_lic, &cur, sizeof(next_lic));
	memcpy(&next_act, &act, sizeof(next_act));
	memset(&audit, 0, sizeof(audit));
	if ((why = r->decide(r->ctx, &act, &cur, &next_lic, &next_act,
	    &audit)) != KG_REASON_OK) {
		r->reason = why;
		r->err = STORE_REFUSED;
		return 0;
	}
	if (!license_valid(&next_lic) || !act_valid(&next_act) ||
	    next_lic.lic.serial != cur.lic.serial ||
	    strcmp(next_lic.lic.regno, cur.lic.regno) != 0 ||
	    strcmp(next_act.number, act.number) != 0 ||
	    (audit.action[0] != '\0' && !audit_valid(&audit))) {
		log_error("%s: decide returned an invalid change", __func__);
		return 0;
	}
	store_record_license_encode(&cur, &lm0);
	store_record_license_encode(&next_lic, &lm);
	store_record_act_encode(&act, &am0);
	store_record_act_encode(&next_act, &am);
	lic_changed = store_record_enc_differ(&lm0, &lm);
	act_changed = store_record_enc_differ(&am0, &am);
	if (lic_changed < 0 || act_changed < 0) {
		log_error("%s: out of memory", __func__);
		return STORE_IO;
	}
	if ((lic_changed || act_changed) && audit.action[0] == '\0') {
		log_error("%s: decide changed records without an audit record",
		    __func__);
		return 0;
	}
	if (lic_changed) {
		store_record_be64_put(kb, r->serial);
		key = val_bytes(kb, sizeof(kb));
		if ((err = db_put(tx, DB_LICENSES, &key, &lm, 0)) != 0)
			return err;
	}
	if (act_changed) {
		key = val_str(r->number);
		if ((err = db_put(tx, DB_ACTS, &key, &am, 0)) != 0)
			return err;
	}
	if (audit.action[0] != '\0' && (err = audit_put(tx, &audit)) != 0)
		return err;
	r->err = STORE_OK;
	r->reason = KG_REASON_OK;
	return 0;
}

/* One redemption with its gate and done (store.h), inside tx. */
static int
redeem_in_tx(struct tx *tx, struct store_redeem *r)
{
	enum kg_reason	why;
	int		err;

	if (r->gate != NULL && (why = r->gate(r->ctx)) != KG_REASON_OK) {
		r->reason = why;
		r->err = STORE_REFUSED;
		return 0;
	}
	if ((err = redeem_rule_in_tx(tx, r)) == 0 && r->done != NULL)
		r->done(r->ctx, r->reason);
	return err;
}

/*
 * Redeem n acts in one write transaction, in order, each seeing the ones
 * before it (group commit: one durable commit for all). See store.h.
 */
static int
lmdb_act_redeem_many_once(struct store *st, struct store_redeem *r, size_t n,
    void (*before_commit)(void *), void *arg)
{
	struct tx	tx;
	size_t		i;
	int		err;

	if ((err = tx_begin(lstore(st), &tx, true, __func__)) == STORE_OK) {
		for (i = 0; i < n && err == STORE_OK; i++)
			err = redeem_in_tx(&tx, &r[i]);
		if (err == STORE_OK && before_commit != NULL)
			before_commit(arg);
		err = tx_finish(&tx, err);
	}
	if (err != STORE_OK) {
		for (i = 0; i < n; i++) {
			r[i].err = err;
			r[i].reason = err == STORE_FULL ?
			    KG_REASON_STORAGE_FULL : KG_REASON_INTERNAL;
		}
	}
	return err;
}

/* ---- subscriptions and signing keys ---- */

static int
lmdb_subscription_set_once(struct store *st, const char *licensee,
    kg_date until, const struct store_audit *a)
{
	struct store_record_enc	 m;
	MDB_val			 key;

	if (licensee == NULL || licensee[0] == '\0' ||
	    strnlen(licensee, KG_LICENSEE_MAX + 1) > KG_LICENSEE_MAX ||
	    !audit_valid(a))
		return STORE_INVAL;
	store_record_sub_encode(licensee, until, &m);
	key = val_str(licensee);
	return write_one(st, DB_SUBSCRIPTIONS, &key, &m, 0, NULL, a, __func__);
}

static int
lmdb_subscription_get(struct store *st, const char *licensee, kg_date *until)
{
	struct store_record_sub	rec;
	struct tx		tx;
	MDB_val			key;
	int			err;

	if (until == NULL)
		return STORE_INVAL;
	if ((err = key_check(licensee, KG_LICENSEE_MAX)) != STORE_OK)
		return err;
	if ((err = tx_begin(lstore(st), &tx, false, __func__)) != STORE_OK)
		return err;
	key = val_str(licensee);
	err = db_get(&tx, DB_SUBSCRIPTIONS, &key, STORE_RECORD_SUB, &rec);
	if (err == 0)
		*until = rec.until;
	return tx_finish(&tx, err);
}

/* Add or replace a signing key (by id); id must be the key id of pk. */
static int
lmdb_signing_key_put_once(struct store *st, const struct store_signing_key *k,
    const struct store_audit *a)
{
	struct store_record_enc	 m;
	uint8_t			 id[KG_KEY_ID_LEN];
	MDB_val			 key;

	if (k == NULL || k->state > KG_TRUST_COMPROMISED || !audit_valid(a))
		return STORE_INVAL;
	key_id_compute(k->pk, id);
	if (memcmp(id, k->id, KG_KEY_ID_LEN) != 0)
		return STORE_INVAL;
	store_record_signing_key_encode(k, &m);
	key = val_bytes(k->id, KG_KEY_ID_LEN);
	return write_one(st, DB_SIGNING_KEYS, &key, &m, 0, NULL, a, __func__);
}

/* A signing key record that may be stored: a known state, id of pk. */
static bool
signing_key_valid(const struct store_signing_key *k)
{
	uint8_t	id[KG_KEY_ID_LEN];

	if (k == NULL || k->state > KG_TRUST_COMPROMISED ||
	    k->rotation_len > STORE_ROTATION_MAX)
		return false;
	key_id_compute(k->pk, id);
	return memcmp(id, k->id, KG_KEY_ID_LEN) == 0;
}

/*
 * A rotation in one write transaction: the new key (which must not be
 * stored yet), the old one replaced, and the audit record.
 */
static int
lmdb_signing_key_rotate_once(struct store *st,
    const struct store_signing_key *next, const struct store_signing_key *prev,
    const struct store_audit *a)
{
	struct store_record_enc	 m;
	struct tx		 tx;
	MDB_val			 key;
	int			 err;

	if (!signing_key_valid(next) || !signing_key_valid(prev) ||
	    next->state != KG_TRUST_ACTIVE || next->rotation_len == 0 ||
	    memcmp(next->id, prev->id, KG_KEY_ID_LEN) == 0 || !audit_valid(a))
		return STORE_INVAL;
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK)
		return err;
	store_record_signing_key_encode(next, &m);
	key = val_bytes(next->id, KG_KEY_ID_LEN);
	if ((err = db_put(&tx, DB_SIGNING_KEYS, &key, &m, MDB_NOOVERWRITE)) != 0)
		goto done;
	store_record_signing_key_encode(prev, &m);
	key = val_bytes(prev->id, KG_KEY_ID_LEN);
	if ((err = db_put(&tx, DB_SIGNING_KEYS, &key, &m, 0)) == 0)
		err = audit_put(&tx, a);
done:
	return tx_finish(&tx, err);
}

static int
lmdb_signing_key_list(struct store *st, store_signing_key_cb cb, void *ctx)
{
	struct store_signing_key	 rec;
	struct visit_user		 v = { .cb.signing_key = cb, .ctx = ctx,
	    .kind = STORE_RECORD_SIGNING_KEY };

	if (cb == NULL)
		return STORE_INVAL;
	return read_each(st, DB_SIGNING_KEYS, NULL, &rec, &v, __func__);
}

/* ---- audit ---- */

static int
lmdb_audit_append_once(struct store *st, const struct store_audit *a)
{
	struct tx	tx;
	int		err;

	if (!audit_valid(a))
		return STORE_INVAL;
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK)
		return err;
	err = audit_put(&tx, a);
	return tx_finish(&tx, err);
}

/* Audit records with time >= since, in seq order. */
static int
lmdb_audit_list(struct store *st, int64_t since, store_audit_cb cb, void *ctx)
{
	struct store_audit	 rec;
	struct visit_user	 v = { .cb.audit = cb, .ctx = ctx,
	    .kind = STORE_RECORD_AUDIT, .since = since };

	if (cb == NULL)
		return STORE_INVAL;
	return read_each(st, DB_AUDIT, NULL, &rec, &v, __func__);
}

struct verify_ctx {
	uint64_t	expect;			/* next seq */
	uint8_t		prev[KG_HASH_LEN];	/* hash of the record before */
	uint64_t	bad;			/* first bad seq, 0 = none */
};

static int
visit_verify(void *arg, const MDB_val *key, const void *raw)
{
	struct verify_ctx	*v = arg;
	const MDB_val		*data = raw;
	struct store_audit	 a;
	uint8_t			 h[KG_HASH_LEN];
	uint64_t		 seq;
	int			 bad;

	if (key->mv_size != 8) {
		v->bad = v->expect;
		return 1;
	}
	seq = store_record_be64_get(key->mv_data);
	if (seq != v->expect) {
		/* A gap (or a stray key): the expected record is missing. */
		v->bad = v->expect;
		return 1;
	}
	bad = store_record_decode(STORE_RECORD_AUDIT, data->mv_data,
	    data->mv_size, &a) != 0;
	if (!bad) {
		store_record_audit_hash(&a, h);
		bad = a.seq != seq ||
		    memcmp(a.prev_hash, v->prev, KG_HASH_LEN) != 0 ||
		    memcmp(a.hash, h, KG_HASH_LEN) != 0;
	}
	if (bad) {
		v->bad = seq;
		return 1;
	}
	/* The chain continues from the stored hash, now known to be right. */
	memcpy(v->prev, a.hash, KG_HASH_LEN);
	v->expect++;
	return 0;
}

/*
 * Walk the chain from seq 1: each record's key and seq must be the next
 * number, its prev_hash the hash of the record before (zeros for seq 1)
 * and its hash the recomputed one. Finally the head in meta must name the
 * last record, so a truncated log is caught too.
 */
static int
lmdb_audit_verify(struct store *st, uint64_t *bad_seq)
{
	struct verify_ctx		 v;
	struct store_record_meta	 head;
	struct tx			 tx;
	uint64_t			 last;
	int				 err;

	if (bad_seq == NULL)
		return STORE_INVAL;
	*bad_seq = 0;
	memset(&v, 0, sizeof(v));
	v.expect = 1;
	if ((err = tx_begin(lstore(st), &tx, false, __func__)) != STORE_OK)
		return err;
	if ((err = db_each(&tx, DB_AUDIT, NULL, 0, STORE_RECORD_AUDIT, NULL,
	    visit_verify, &v)) != STORE_OK)
		goto done;
	if ((err = meta_get(&tx, META_AUDIT, &head)) == STORE_NOTFOUND)
		err = STORE_OK;
	else if (err != STORE_OK)
		goto done;
	last = v.expect - 1;
	if (v.bad == 0 && head.value != last)
		v.bad = (head.value < last ? head.value : last) + 1;
	else if (v.bad == 0 && last > 0 &&
	    memcmp(head.hash, v.prev, KG_HASH_LEN) != 0)
		v.bad = last;
	if (v.bad != 0) {
		*bad_seq = v.bad;
		err = STORE_CONFLICT;
	}
done:
	return tx_finish(&tx, err);
}

/* ---- backup ---- */

/*
 * A consistent, compacted copy of the environment into a new file (O_EXCL,
 * mode 0600; STORE_EXISTS when path exists). The backup is a single LMDB
 * data file: to open it as a store, copy it to DIR/data.mdb in an empty
 * directory DIR (LMDB creates DIR/lock.mdb on open).
 */
static int
lmdb_backup(struct store *st, const char *path)
{
	struct lstore	*ls = lstore(st);
	int		 fd, rc, err = STORE_OK;

	if (path == NULL || path[0] == '\0')
		return STORE_INVAL;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (errno == EEXIST)
			return STORE_EXISTS;
		log_error("%s: %s: %s", __func__, path, strerror(errno));
		return STORE_IO;
	}
	if ((rc = mdb_env_copyfd2(ls->env, fd, MDB_CP_COMPACT)) != 0) {
		log_error("%s: mdb_env_copyfd2 %s: %s", __func__, path,
		    mdb_strerror(rc));
		err = STORE_IO;
	} else if (fsync(fd) == -1) {
		log_error("%s: fsync %s: %s", __func__, path, strerror(errno));
		err = STORE_IO;
	}
	if (close(fd) == -1 && err == STORE_OK) {
		log_error("%s: close %s: %s", __func__, path, strerror(errno));
		err = STORE_IO;
	}
	if (err != STORE_OK)
		(void)unlink(path);
	return err;
}

/* ---- write operations: grow a full map and retry once ---- */

static int
lmdb_product_add(struct store *st, const struct store_product *p,
    const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_product_add_once(st, p, a));
}

static int
lmdb_edition_add(struct store *st, const struct store_edition *e,
    const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_edition_add_once(st, e, a));
}

static int
lmdb_release_publish(struct store *st, const struct store_release *r,
    const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_release_publish_once(st, r, a));
}

static int
lmdb_release_withdraw(struct store *st, const char *product,
    const struct kg_version *version, const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_release_withdraw_once(st, product, version, a));
}

static int
lmdb_license_create(struct store *st, struct store_license *l,
    const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_license_create_once(st, l, a));
}

static int
lmdb_license_update(struct store *st, const struct store_license *l,
    uint32_t expect_revision, const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_license_update_once(st, l, expect_revision, a));
}

static int
lmdb_license_import(struct store *st, struct store_license *l, size_t n,
    const struct store_audit *a, size_t *bad)
{
	GROW_RETRY(st, lmdb_license_import_once(st, l, n, a, bad));
}

/* A batch may need more than one doubling: grow until it fits or cannot. */
static int
lmdb_license_create_many(struct store *st, const struct store_license *l,
    size_t n, const struct store_audit *a, struct store_issued *out)
{
	int	err = lmdb_license_create_many_once(st, l, n, a, out);

	while (map_grown(st, err))
		err = lmdb_license_create_many_once(st, l, n, a, out);
	return err;
}

static int
lmdb_act_register(struct store *st, const struct store_act *act,
    const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_act_register_once(st, act, a));
}

static int
lmdb_act_void(struct store *st, const char *number,
    const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_act_void_once(st, number, a));
}

/* decide runs again on the retry: renew_decide allows that (renew.c). */
static int
lmdb_act_redeem_many(struct store *st, struct store_redeem *r, size_t n,
    void (*before_commit)(void *), void *arg)
{
	GROW_RETRY(st, lmdb_act_redeem_many_once(st, r, n, before_commit, arg));
}

/* One redemption: a group of one. */
static int
lmdb_act_redeem(struct store *st, const char *number, uint64_t serial,
    store_redeem_fn decide, void *ctx, enum kg_reason *reason)
{
	struct store_redeem	r = { .number = number, .serial = serial,
				    .decide = decide, .ctx = ctx };
	int			err;

	if ((err = lmdb_act_redeem_many(st, &r, 1, NULL, NULL)) == STORE_OK)
		err = r.err;
	if (reason != NULL)
		*reason = r.reason;
	return err;
}

static int
lmdb_subscription_set(struct store *st, const char *licensee, kg_date until,
    const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_subscription_set_once(st, licensee, until, a));
}

static int
lmdb_signing_key_put(struct store *st, const struct store_signing_key *k,
    const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_signing_key_put_once(st, k, a));
}

static int
lmdb_signing_key_rotate(struct store *st, const struct store_signing_key *next,
    const struct store_signing_key *prev, const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_signing_key_rotate_once(st, next, prev, a));
}

static int
lmdb_audit_append(struct store *st, const struct store_audit *a)
{
	GROW_RETRY(st, lmdb_audit_append_once(st, a));
}

static const struct store_ops lmdb_ops = {
	.close = lmdb_close,
	.schema_version = lmdb_schema_version,
	.product_add = lmdb_product_add,
	.product_get = lmdb_product_get,
	.product_list = lmdb_product_list,
	.edition_add = lmdb_edition_add,
	.edition_get = lmdb_edition_get,
	.edition_list = lmdb_edition_list,
	.release_publish = lmdb_release_publish,
	.release_withdraw = lmdb_release_withdraw,
	.release_list = lmdb_release_list,
	.release_versions = lmdb_release_versions,
	.license_create = lmdb_license_create,
	.license_get_serial = lmdb_license_get_serial,
	.license_get_regno = lmdb_license_get_regno,
	.license_update = lmdb_license_update,
	.license_list = lmdb_license_list,
	.license_import = lmdb_license_import,
	.license_create_many = lmdb_license_create_many,
	.act_register = lmdb_act_register,
	.act_get = lmdb_act_get,
	.act_void = lmdb_act_void,
	.act_list = lmdb_act_list,
	.act_redeem = lmdb_act_redeem,
	.act_redeem_many = lmdb_act_redeem_many,
	.subscription_set = lmdb_subscription_set,
	.subscription_get = lmdb_subscription_get,
	.signing_key_put = lmdb_signing_key_put,
	.signing_key_list = lmdb_signing_key_list,
	.signing_key_rotate = lmdb_signing_key_rotate,
	.audit_append = lmdb_audit_append,
	.audit_list = lmdb_audit_list,
	.audit_verify = lmdb_audit_verify,
	.backup = lmdb_backup,
};

/* ---- helpers outside the table ---- */

/* One line per store error code. */
const char *
store_strerror(int err)
{
	switch (err) {
	case STORE_OK:
		return "success";
	case STORE_NOTFOUND:
		return "no such record";
	case STORE_EXISTS:
		return "a record with that key already exists";
	case STORE_FULL:
		return "the store is full (nothing was written): raise its "
		    "map size";
	case STORE_CONFLICT:
		return "the record changed since it was read";
	case STORE_SCHEMA:
		return "the data dir holds a store of another schema version";
	case STORE_IO:
		return "store failure (see the daemon log)";
	case STORE_INVAL:
		return "bad argument or a missing parent record";
	case STORE_REFUSED:
		return "the change was refused";
	default:
		return "unknown store error";
	}
}

/* Zero a and fill its caller fields; strings are truncated to fit. */
void
store_audit_fill(struct store_audit *a, int64_t time, const char *actor,
    const char *action, const char *object, const char *detail_fmt, ...)
{
	va_list	ap;

	memset(a, 0, sizeof(*a));
	a->time = time;
	snprintf(a->actor, sizeof(a->actor), "%s", actor ? actor : "");
	snprintf(a->action, sizeof(a->action), "%s", action ? action : "");
	snprintf(a->object, sizeof(a->object), "%s", object ? object : "");
	if (detail_fmt != NULL) {
		va_start(ap, detail_fmt);
		vsnprintf(a->detail, sizeof(a->detail), detail_fmt, ap);
		va_end(ap);
	}
}

/* Test hook: overwrite the stored schema version (store_debug.h). */
int
store_lmdb_debug_set_schema(struct store *st, uint32_t version)
{
	struct tx	tx;
	int		err;

	if (st == NULL || st->ops != &lmdb_ops)
		return STORE_INVAL;
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK)
		return err;
	err = meta_put(&tx, META_SCHEMA, version, NULL);
	return tx_finish(&tx, err);
}

/* Test hook: rewrite one audit record's detail, keeping its hashes. */
int
store_lmdb_debug_audit_tamper(struct store *st, uint64_t seq,
    const char *new_detail)
{
	struct store_record_enc	 m;
	struct store_audit	 a;
	struct tx		 tx;
	uint8_t			 kb[8];
	MDB_val			 key;
	int			 err;

	if (st == NULL || st->ops != &lmdb_ops || new_detail == NULL)
		return STORE_INVAL;
	if ((err = tx_begin(lstore(st), &tx, true, __func__)) != STORE_OK)
		return err;
	store_record_be64_put(kb, seq);
	key = val_bytes(kb, sizeof(kb));
	err = db_get(&tx, DB_AUDIT, &key, STORE_RECORD_AUDIT, &a);
	if (err != STORE_OK)
		goto done;
	snprintf(a.detail, sizeof(a.detail), "%s", new_detail);
	store_record_audit_encode(&a, &m);
	err = db_put(&tx, DB_AUDIT, &key, &m, 0);
done:
	return tx_finish(&tx, err);
}
