/*
 * The store: keygate's authoritative state behind one table of operations
 * (SPEC section 6). Handlers see only the C records below, never LMDB types;
 * store.c, the embedded LMDB backend, is the only file that includes lmdb.h.
 * A later backend (PostgreSQL) implements the same table.
 *
 * Every state change is one write transaction that also appends its audit
 * record; a function returns STORE_OK only after the commit succeeded.
 * Records returned to callers are copies (nothing borrowed from the backend).
 */
#ifndef KG_STORE_H
#define KG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "date.h"
#include "keys.h"
#include "kglimits.h"
#include "license.h"
#include "money.h"
#include "policy.h"

#define STORE_SCHEMA_VERSION	1
#define STORE_NAME_MAX		256
#define STORE_URL_MAX		512
#define STORE_ACTOR_MAX		128
#define STORE_ACTION_MAX	32
#define STORE_OBJECT_MAX	96
#define STORE_DETAIL_MAX	1024

enum store_err {
	STORE_OK = 0,
	STORE_NOTFOUND = -1,	/* no such record */
	STORE_EXISTS = -2,	/* a record with that key exists */
	STORE_FULL = -3,	/* the map is full: nothing was written */
	STORE_CONFLICT = -4,	/* the record changed since it was read */
	STORE_SCHEMA = -5,	/* data dir of another schema version */
	STORE_IO = -6,		/* backend failure (logged where it happened) */
	STORE_INVAL = -7,	/* bad argument or a missing parent record */
	STORE_REFUSED = -8,	/* a decide callback refused the change */
};

const char	*store_strerror(int err);

struct store_product {
	char		code[KG_CODE_MAX + 1];
	char		name[STORE_NAME_MAX + 1];
	kg_money	price;			/* current price, minor units */
	int64_t		created_at;		/* Unix seconds */
};

struct store_edition {
	char				product[KG_CODE_MAX + 1];
	char				code[KG_CODE_MAX + 1];
	struct kg_edition_policy	policy;
};

struct store_release {
	char			product[KG_CODE_MAX + 1];
	char			version[KG_VERSION_TEXT_MAX];	/* canonical text */
	struct kg_release	rel;			/* parsed version, date, state */
	char			sha256[65];		/* hex or "" */
	char			url[STORE_URL_MAX + 1];
	int64_t			published_at;
};

struct store_license {
	struct kg_license	lic;		/* what the current key revision says */
	enum kg_license_status	status;
	char			status_reason[KG_REASON_TEXT_MAX + 1];
	int64_t			activated_at;	/* first check/activation, 0 = never */
	int64_t			updated_at;
};

enum store_act_state {
	STORE_ACT_OPEN,
	STORE_ACT_REDEEMED,
	STORE_ACT_VOID,
};

struct store_act {
	char			number[KG_CODE_MAX + 1];
	char			product[KG_CODE_MAX + 1];
	char			edition[KG_CODE_MAX + 1];	/* "" = any */
	char			licensee[KG_LICENSEE_MAX + 1];	/* "" = any */
	uint32_t		months;
	enum store_act_state	state;
	int64_t			registered_at;
	char			registered_by[STORE_ACTOR_MAX + 1];
	/* once redeemed: */
	uint64_t		serial;
	int64_t			redeemed_at;
	kg_date			old_expiry;
	kg_date			new_expiry;
	enum kg_renewal_kind	kind;
	kg_money		price;
};

/* What license_create_many assigned to one license. */
struct store_issued {
	uint64_t	serial;
	char		regno[KG_REGNO_MAX + 1];
};

/* Licenses in one license_create_many transaction at most. */
#define STORE_CREATE_MANY_MAX	100000

/* A serialized RotationStatement (keygate.proto) is far shorter than this. */
#define STORE_ROTATION_MAX	256

struct store_signing_key {
	uint8_t			pk[KG_PUBKEY_LEN];
	uint8_t			id[KG_KEY_ID_LEN];
	enum kg_trust_state	state;
	int64_t			created_at;
	/* The statement that introduced the key (rotation); 0 bytes for init's key. */
	uint8_t			rotation[STORE_ROTATION_MAX];
	size_t			rotation_len;
};

/*
 * An audit record. Callers fill time, actor, action, object and detail
 * (a short text, typically "before -> after"); the store assigns seq and the
 * hash chain: hash = BLAKE2b-256(prev_hash || the record's other fields).
 */
struct store_audit {
	uint64_t	seq;			/* 1, 2, ... assigned by the store */
	int64_t		time;
	char		actor[STORE_ACTOR_MAX + 1];	/* "admin uid=0 root" or "tcp 127.0.0.1 serial=5" */
	char		action[STORE_ACTION_MAX + 1];	/* "key.issue", "release.publish"... */
	char		object[STORE_OBJECT_MAX + 1];	/* "ZHKH8-000123", "PROD 2.0.1"... */
	char		detail[STORE_DETAIL_MAX + 1];
	uint8_t		prev_hash[KG_HASH_LEN];
	uint8_t		hash[KG_HASH_LEN];
};

struct store_options {
	uint64_t	map_size;		/* bytes */
	/*
	 * Bytes the map may grow to when a write finds it full (doubling each
	 * time); 0 or at most map_size: never grow (a full map is STORE_FULL).
	 */
	uint64_t	map_size_max;
	bool		create;			/* make a new store when none exists */
};

struct store;

/*
 * Redemption decision, called inside the store's write transaction with the
 * act and the license as they are now. It fills *next_lic and *next_act (the
 * act with its redemption fields) and returns KG_REASON_OK to commit them, or
 * another reason to change nothing (STORE_REFUSED with *reason set).
 */
typedef enum kg_reason (*store_redeem_fn)(void *ctx, const struct store_act *act,
    const struct store_license *cur, struct store_license *next_lic,
    struct store_act *next_act, struct store_audit *audit);

/*
 * One redemption of act_redeem_many. gate and done (either may be NULL) run
 * inside the transaction too, in order with the other redemptions: gate
 * before anything is read (another reason than KG_REASON_OK refuses the
 * redemption with it: a caller over its failure budget), done with the
 * ruling (any reason, act_unknown included) once it is made, so that a
 * failure is counted before the next redemption of the group is gated.
 * Like decide they may run again when the transaction is retried, and
 * must not call the store.
 */
struct store_redeem {
	const char		*number;	/* the act */
	uint64_t		 serial;	/* the license that presents it */
	store_redeem_fn		 decide;
	enum kg_reason		(*gate)(void *ctx);
	void			(*done)(void *ctx, enum kg_reason reason);
	void			*ctx;		/* decide's, gate's and done's */
	int			 err;		/* out: as act_redeem returns */
	enum kg_reason		 reason;	/* out: as act_redeem's *reason */
};

/*
 * A thread that used st and is about to exit (keygated's worker threads)
 * drops its cached read transaction. The thread that closes the store need
 * not: close does it.
 */
void	store_thread_end(struct store *st);

/*
 * Reads from here to the matching store_read_release (which nest) share
 * one read transaction, so one request's several reads see one snapshot
 * and cost one transaction. Writes are not affected, but a write that
 * finds the map full cannot grow it meanwhile (STORE_FULL): release before
 * writing. A hold that cannot begin leaves every read on its own.
 */
void	store_read_hold(struct store *st);
void	store_read_release(struct store *st);

/* Called once per record by list functions; return nonzero to stop. */
typedef int (*store_product_cb)(void *ctx, const struct store_product *p);
typedef int (*store_edition_cb)(void *ctx, const struct store_edition *e);
typedef int (*store_license_cb)(void *ctx, const struct store_license *l);
typedef int (*store_act_cb)(void *ctx, const struct store_act *a);
typedef int (*store_audit_cb)(void *ctx, const struct store_audit *a);
typedef int (*store_signing_key_cb)(void *ctx, const struct store_signing_key *k);

/* The table of operations a backend implements. */
struct store_ops {
	void	(*close)(struct store *);
	int	(*schema_version)(struct store *, uint32_t *version);

	int	(*product_add)(struct store *, const struct store_product *,
		    const struct store_audit *);
	int	(*product_get)(struct store *, const char *code, struct store_product *);
	int	(*product_list)(struct store *, store_product_cb, void *ctx);

	int	(*edition_add)(struct store *, const struct store_edition *,
		    const struct store_audit *);
	int	(*edition_get)(struct store *, const char *product, const char *code,
		    struct store_edition *);
	int	(*edition_list)(struct store *, const char *product, store_edition_cb,
		    void *ctx);

	int	(*release_publish)(struct store *, const struct store_release *,
		    const struct store_audit *);
	int	(*release_withdraw)(struct store *, const char *product,
		    const struct kg_version *, const struct store_audit *);
	/* All of a product's releases (any state) in *out (malloc'd, caller frees). */
	int	(*release_list)(struct store *, const char *product,
		    struct store_release **out, size_t *n);
	/*
	 * The same, only what policy_check needs (version, date, state), into
	 * the caller's out of room for max: *n is how many there are (more
	 * than max: ask again with room for *n). STORE_OK with *n 0 for a
	 * product without releases. No allocation when the list is cached.
	 */
	int	(*release_versions)(struct store *, const char *product,
		    struct kg_release *out, size_t max, size_t *n);

	/* Assign lic.serial (global counter) and lic.regno ("<PRODUCT>-<000001>"). */
	int	(*license_create)(struct store *, struct store_license *,
		    const struct store_audit *);
	int	(*license_get_serial)(struct store *, uint64_t serial,
		    struct store_license *);
	int	(*license_get_regno)(struct store *, const char *regno,
		    struct store_license *);
	/* Replace the license when its stored lic.revision equals expect_revision. */
	int	(*license_update)(struct store *, const struct store_license *,
		    uint32_t expect_revision, const struct store_audit *);
	int	(*license_list)(struct store *, store_license_cb, void *ctx);
	/*
	 * An import: n new licenses and one audit record in one transaction,
	 * all or nothing. Serials follow the array's order. An empty
	 * lic.regno gets its product's next registration number; a given one
	 * is kept, and the counter of its "<PREFIX>-<digits>" form moves past
	 * it so the store never assigns it again. Serials and assigned regnos
	 * are written back only on STORE_OK. A given regno already stored is
	 * STORE_EXISTS, a license of no stored product STORE_INVAL, each with
	 * *bad set to the license's index (n when no license is to blame).
	 */
	int	(*license_import)(struct store *, struct store_license *, size_t n,
		    const struct store_audit *, size_t *bad);
	/*
	 * A bulk issue: n licenses like *l (its serial and regno are not read),
	 * each with its own audit record (*a with object set to the license's
	 * regno, as license_create does), in one transaction: all or nothing.
	 * Serials and the product's registration numbers are assigned in order,
	 * as n calls of license_create would assign them; out[0..n) gets them
	 * on STORE_OK only. n is 1 to STORE_CREATE_MANY_MAX. STORE_INVAL also
	 * when the product is not stored.
	 */
	int	(*license_create_many)(struct store *, const struct store_license *l,
		    size_t n, const struct store_audit *a, struct store_issued *out);

	int	(*act_register)(struct store *, const struct store_act *,
		    const struct store_audit *);
	int	(*act_get)(struct store *, const char *number, struct store_act *);
	int	(*act_void)(struct store *, const char *number, const struct store_audit *);
	int	(*act_list)(struct store *, store_act_cb, void *ctx);
	/* Atomically: read act and license, decide, write both and the audit record. */
	int	(*act_redeem)(struct store *, const char *number, uint64_t serial,
		    store_redeem_fn decide, void *ctx, enum kg_reason *reason);
	/*
	 * Group commit: the n redemptions of r, in order, in one write
	 * transaction, each as act_redeem would do it and seeing the ones
	 * before it; a refused one writes nothing of its own. STORE_OK when
	 * the transaction committed (then each r[i].err and r[i].reason say
	 * how its redemption went: STORE_OK, STORE_REFUSED, ...), else the
	 * error that aborted it, which is then every r[i].err as well.
	 * before_commit (may be NULL) is called with arg once every
	 * redemption has been ruled and written, just before the commit
	 * (r[i].err as they will be if it succeeds): work that can overlap
	 * the commit's disk writes starts there. It must not call the store.
	 */
	int	(*act_redeem_many)(struct store *, struct store_redeem *r, size_t n,
		    void (*before_commit)(void *), void *arg);

	int	(*subscription_set)(struct store *, const char *licensee, kg_date until,
		    const struct store_audit *);
	int	(*subscription_get)(struct store *, const char *licensee, kg_date *until);

	int	(*signing_key_put)(struct store *, const struct store_signing_key *,
		    const struct store_audit *);
	int	(*signing_key_list)(struct store *, store_signing_key_cb, void *ctx);
	/*
	 * A rotation: next (the new active key, with its statement) and prev
	 * (the key it replaces, now retired) and the audit record in one
	 * transaction. STORE_EXISTS when next's id is already stored.
	 */
	int	(*signing_key_rotate)(struct store *,
		    const struct store_signing_key *next,
		    const struct store_signing_key *prev,
		    const struct store_audit *);

	int	(*audit_append)(struct store *, const struct store_audit *);
	int	(*audit_list)(struct store *, int64_t since, store_audit_cb, void *ctx);
	/* Walk the chain; on a broken link STORE_CONFLICT with *bad_seq set. */
	int	(*audit_verify)(struct store *, uint64_t *bad_seq);

	/* Consistent compacted copy of the store into the file path. */
	int	(*backup)(struct store *, const char *path);
};

struct store {
	const struct store_ops	*ops;
};

/*
 * Open (or with opt->create, make) the LMDB store in dir. Refuses a store of
 * another schema version (STORE_SCHEMA) with a log line naming both versions.
 */
int	store_open_lmdb(const char *dir, const struct store_options *opt,
	    struct store **out);

/* Convenience: fill an audit record's time/actor/action/object/detail. */
void	store_audit_fill(struct store_audit *a, int64_t time, const char *actor,
	    const char *action, const char *object, const char *detail_fmt, ...)
	    __attribute__((format(printf, 6, 7)));

#endif
