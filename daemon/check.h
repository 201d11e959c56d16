/*
 * The update-check and status handlers (SPEC section 2): the presented key's
 * license is looked up in the store, activation-basis support is fixed on the
 * first check (R3), and policy_check decides. The helpers below are shared
 * with the activation handler (renew.c).
 */
#ifndef KG_CHECK_H
#define KG_CHECK_H

#include "dispatch.h"
#include "keycache.h"
#include "keygate.pb-c.h"
#include "license.h"
#include "policy.h"
#include "store.h"

/* Answer a check request into out (a Verdict, or an Error such as bad_version). */
void	check_handle(const struct request_ctx *rc, const Keygate__CheckRequest *rq,
	    struct handler_reply *out);

/* Answer a status request: the key's own product, no installed version. */
void	check_status_handle(const struct request_ctx *rc,
	    const Keygate__StatusRequest *rq, struct handler_reply *out);

enum check_load {
	CHECK_LOAD_OK,		/* *key and *cur are filled */
	CHECK_LOAD_BAD_KEY,	/* the key does not verify or names no stored license */
	CHECK_LOAD_ERROR,	/* the store failed: out is an Error reply */
};

/*
 * license_key_parse through the verified-key cache (keycache.c; a plain
 * parse when the cache could not be set up): a key verified before skips
 * its Ed25519 verification. A kge code.
 */
int		check_key_parse(const char *text, const struct kg_trustset *ts,
		    struct keycache_key *key);

/*
 * Verify key text against the daemon's trust set and fetch its license's
 * current state by serial. A key whose serial is stored under another
 * registration number or product (a key of another data dir sharing the
 * signing key) is a bad key too. The precise reason is logged at debug.
 */
enum check_load	check_license_load(const struct request_ctx *rc, const char *text,
		    struct keycache_key *key, struct store_license *cur,
		    struct handler_reply *out);

/*
 * When the stored revision is newer than the presented key's (always when
 * key is NULL: a renewal), re-sign the stored license with the active key
 * and put its text in out->key. 0, or -1 with out an Error reply.
 */
int	check_key_resign(const struct request_ctx *rc, const struct keycache_key *key,
	    const struct store_license *cur, struct handler_reply *out);

/*
 * Fill out's Verdict from a policy verdict and the license it was decided
 * for (cur NULL for bad_key). status: leave Verdict.verdict empty.
 */
void	check_verdict_fill(struct handler_reply *out, bool status,
	    const struct store_license *cur, const struct kg_verdict *v);

/* A product's releases for policy_check (check_releases_load). */
#define CHECK_RELEASES_INLINE	32

struct check_releases {
	struct kg_release	*v;		/* inline, or malloc'd when more */
	size_t			 n;
	struct kg_release	 inline_v[CHECK_RELEASES_INLINE];
};

/*
 * Load product's releases (version, date, state) into rs: no allocation
 * for up to CHECK_RELEASES_INLINE of them. 0, or -1 with out an Error
 * reply. Release with check_releases_clear.
 */
int	check_releases_load(const struct request_ctx *rc, const char *product,
	    struct check_releases *rs, struct handler_reply *out);
void	check_releases_clear(struct check_releases *rs);

/* A store error as an Error reply: storage_full or internal. */
void	check_store_error(struct handler_reply *out, int err, const char *what);

/*
 * R11: the end of licensee's subscription into *until (KG_DATE_NONE: none),
 * read from the store only when policy (NULL: the defaults) requires one:
 * no other edition's answer depends on it. 0, or -1 with out an Error.
 */
int	check_subscription_load(struct store *st,
	    const struct kg_edition_policy *policy, const char *licensee,
	    kg_date *until, struct handler_reply *out);

#endif
