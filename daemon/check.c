/*
 * The update-check and status handlers (SPEC section 2). A request's key is
 * verified against the trust set and its license's current state fetched
 * from the store by serial (the store is authoritative; the key proves which
 * license it is). The product, its edition's policy, its releases and (for
 * an edition that requires one, R11) the licensee's subscription are
 * fetched, and policy_check decides. The daemon
 * computes nothing itself except the one state change a check may make:
 * fixing the support expiry of an activation-basis key on its first check
 * (R3), stored with a compare-and-swap on the license's revision.
 *
 * Decisions made here:
 * - Versions are parsed before the key is looked at: a malformed version is
 *   the caller's bug and gets an Error reply (bad_version) whatever the key.
 * - A key that verifies but whose serial is not in the store, or is stored
 *   under another registration number or product (a copy of the signing key
 *   in another data dir), is bad_key.
 * - The edition, releases and price are those of the key's own product; a
 *   check naming another product is wrong_product before anything else
 *   (policy_check's order).
 * - The first check fixes an activation-basis expiry only for an active
 *   license of the product asked about; a revoked, suspended or
 *   wrong-product check leaves it unfixed. The term is the key's
 *   support_months, or the edition's when the key carries none.
 * - Activating records the active signing key's id in the stored license,
 *   since the re-signed key handed out carries it.
 * - A status reply leaves Verdict.verdict empty (proto/keygate.proto) and
 *   says everything else a check would.
 * - Keys are verified through one process-wide verified-key cache
 *   (keycache.c, KEYCACHE_SETS sets in static storage), so a repeat
 *   check skips Ed25519 verification; the license's state still comes from
 *   the store and the signer's trust state from d->trust on every check.
 * - A key older than its license (renewed or activated since) gets the
 *   current key re-signed in the reply; signer_license_key_new keeps that
 *   text, so presenting the old key again costs no further signature.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "daemon.h"
#include "date.h"
#include "keycache.h"
#include "kgerr.h"
#include "license.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "signer.h"
#include "store.h"
#include "version.h"

/* A copy of s fit for a log line: printable ASCII only, at most max bytes. */
static void
log_safe(char *out, size_t outlen, const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (s[i] >= 0x21 && s[i] <= 0x7e) ? s[i] : '?';
	out[i] = '\0';
}

/* Copy the string s into out of outlen bytes, cut short when it must be. */
static void
text_copy(char *out, size_t outlen, const char *s)
{
	size_t	n = strnlen(s, outlen - 1);

	memcpy(out, s, n);
	out[n] = '\0';
}

/* A store error as an Error reply: storage_full or internal. */
void
check_store_error(struct handler_reply *out, int err, const char *what)
{
	if (err == STORE_FULL) {
		log_error("%s: %s: the store is full", __func__, what);
		handler_reply_error(out, "storage_full",
		    "the server's storage is full; try again later");
		return;
	}
	log_error("%s: %s: %s", __func__, what, store_strerror(err));
	handler_reply_error(out, "internal", "the server could not read its records");
}

/* The subscription a renewal needs: see check.h. */
int
check_subscription_load(struct store *st,
    const struct kg_edition_policy *policy, const char *licensee,
    kg_date *until, struct handler_reply *out)
{
	int	err;

	*until = KG_DATE_NONE;
	if (policy == NULL || !policy->requires_subscription)
		return 0;
	err = st->ops->subscription_get(st, licensee, until);
	if (err == STORE_NOTFOUND)
		*until = KG_DATE_NONE;
	else if (err != STORE_OK) {
		check_store_error(out, err, "subscription_get");
		return -1;
	}
	return 0;
}

/* Each set on a cache line of its own (keycache.h). */
static _Alignas(64) struct keycache_set	check_cache_set[KEYCACHE_SETS];
static struct keycache		check_cache;
static pthread_once_t		check_cache_once = PTHREAD_ONCE_INIT;
static int			check_cache_ok;

/* Set up the verified-key cache once per process. */
static void
check_cache_init(void)
{
	check_cache_ok = keycache_init(&check_cache, check_cache_set,
	    KEYCACHE_SETS) == 0;
}

/* license_key_parse through the verified-key cache: see check.h. */
int
check_key_parse(const char *text, const struct kg_trustset *ts,
    struct keycache_key *key)
{
	pthread_once(&check_cache_once, check_cache_init);
	return keycache_parse(check_cache_ok ? &check_cache : NULL, text,
	    strlen(text), ts, key);
}

/* Verify a key and fetch its license: see check.h. */
enum check_load
check_license_load(const struct request_ctx *rc, const char *text,
    struct keycache_key *key, struct store_license *cur,
    struct handler_reply *out)
{
	struct store	*st = rc->d->store;
	int		 err;

	memset(cur, 0, sizeof(*cur));
	err = check_key_parse(text, &rc->d->trust, key);
	if (err != KGE_OK) {
		log_debug("peer %s: key rejected: %s", rc->peer->text,
		    kge_strerror(err));
		return CHECK_LOAD_BAD_KEY;
	}
	err = st->ops->license_get_serial(st, key->serial, cur);
	if (err == STORE_NOTFOUND) {
		log_debug("peer %s: key serial=%" PRIu64 " verifies but no such "
		    "license is stored", rc->peer->text, key->serial);
		return CHECK_LOAD_BAD_KEY;
	}
	if (err != STORE_OK) {
		check_store_error(out, err, "license_get_serial");
		return CHECK_LOAD_ERROR;
	}
	if (strcmp(cur->lic.regno, key->regno) != 0 ||
	    strcmp(cur->lic.product, key->product) != 0) {
		log_debug("peer %s: key serial=%" PRIu64 " names %s, the store "
		    "has %s under that serial", rc->peer->text, key->serial,
		    key->regno, cur->lic.regno);
		memset(cur, 0, sizeof(*cur));
		return CHECK_LOAD_BAD_KEY;
	}
	return CHECK_LOAD_OK;
}

/* A product's releases without allocating: see check.h. */
int
check_releases_load(const struct request_ctx *rc, const char *product,
    struct check_releases *rs, struct handler_reply *out)
{
	struct store	*st = rc->d->store;
	size_t		 n, room = CHECK_RELEASES_INLINE;
	int		 err;

	rs->v = rs->inline_v;
	rs->n = 0;
	err = st->ops->release_versions(st, product, rs->v, room, &n);
	if (err == STORE_OK && n > room) {
		/* More than fit: ask again with room for them all. */
		if ((rs->v = calloc(n, sizeof(*rs->v))) == NULL) {
			rs->v = rs->inline_v;
			log_error("%s: out of memory", __func__);
			handler_reply_error(out, "internal",
			    "the server is out of memory");
			return -1;
		}
		room = n;
		err = st->ops->release_versions(st, product, rs->v, room, &n);
	}
	if (err != STORE_OK) {
		check_releases_clear(rs);
		check_store_error(out, err, "release_versions");
		return -1;
	}
	/* A list that grew between the two reads is taken as far as it fits. */
	rs->n = n < room ? n : room;
	return 0;
}

void
check_releases_clear(struct check_releases *rs)
{
	if (rs->v != rs->inline_v)
		free(rs->v);
	rs->v = rs->inline_v;
	rs->n = 0;
}

/* Re-sign the stored license when it is newer than the presented key. */
int
check_key_resign(const struct request_ctx *rc, const struct keycache_key *key,
    const struct store_license *cur, struct handler_reply *out)
{
	struct kg_license	lic;
	bool			kept;

	if (key != NULL && cur->lic.revision <= key->revision)
		return 0;
	free(out->key);
	out->key = NULL;
	/* The active key cannot change meanwhile: d->lock is held shared. */
	lic = cur->lic;
	if (signer_license_key_new(rc->d->signer, &lic, &out->key, &kept) != 0)
		goto fail;
	if (key != NULL)
		log_debug("peer %s: serial=%" PRIu64 " presented revision %"
		    PRIu32 " of %" PRIu32 ": %s", rc->peer->text, lic.serial,
		    key->revision, lic.revision, kept ? "the current key, as "
		    "re-signed before" : "the current key re-signed");
	return 0;
fail:
	log_error("%s: cannot re-sign license serial=%" PRIu64, __func__,
	    lic.serial);
	free(out->key);
	out->key = NULL;
	handler_reply_error(out, "internal", "the server could not sign the key");
	return -1;
}

/* Fill the Verdict: see check.h. */
void
check_verdict_fill(struct handler_reply *out, bool status,
    const struct store_license *cur, const struct kg_verdict *v)
{
	Keygate__Verdict	*m = &out->verdict;

	m->verdict = (char *)(status ? "" : policy_verdict_name(v->verdict));
	m->reason = (char *)reason_name(v->reason);
	if (cur == NULL)
		return;
	if (v->eligible != NULL) {
		version_format(&v->eligible->version, out->eligible);
		m->eligible = out->eligible;
	}
	if (v->latest != NULL) {
		version_format(&v->latest->version, out->latest);
		m->latest = out->latest;
	}
	m->support_expiry = v->support_expiry > 0 ? (uint32_t)v->support_expiry : 0;
	m->license_expiry = v->license_expiry > 0 ? (uint32_t)v->license_expiry : 0;
	m->days_left = v->days_left;
	if (v->has_quote) {
		out->quote.kind = (char *)policy_renewal_kind_name(v->quote.kind);
		out->quote.price = v->quote.price;
		out->quote.new_expiry = v->quote.new_expiry > 0 ?
		    (uint32_t)v->quote.new_expiry : 0;
		m->quote = &out->quote;
	}
	if (out->key != NULL)
		m->key = out->key;
	text_copy(out->regno, sizeof(out->regno), cur->lic.regno);
	text_copy(out->licensee, sizeof(out->licensee), cur->lic.licensee);
	text_copy(out->product, sizeof(out->product), cur->lic.product);
	text_copy(out->edition, sizeof(out->edition), cur->lic.edition);
	m->regno = out->regno;
	m->licensee = out->licensee;
	m->product = out->product;
	m->edition = out->edition;
	m->state = (char *)policy_status_name(cur->status);
	if (cur->status != KG_STATUS_ACTIVE) {
		text_copy(out->detail, sizeof(out->detail), cur->status_reason);
		m->detail = out->detail;
	}
}

/*
 * R3: fix the support expiry of an activation-basis license on its first
 * check. On a lost race (STORE_CONFLICT) the stored state wins. 0, or -1
 * with out an Error reply.
 */
static int
check_activate(const struct request_ctx *rc, struct store_license *cur,
    const struct kg_edition_policy *p, struct handler_reply *out)
{
	struct store		*st = rc->d->store;
	struct store_license	 next;
	struct store_audit	 audit;
	char			 actor[STORE_ACTOR_MAX + 1], day[KG_DATE_TEXT_LEN];
	uint32_t		 months;
	kg_date			 today = daemon_today(rc->d);
	int64_t			 now = daemon_now(rc->d);
	int			 err;

	months = cur->lic.support_months != 0 ? cur->lic.support_months :
	    p->support_months;
	if (months == 0 || months > KG_MONTHS_MAX) {
		log_error("%s: license serial=%" PRIu64 " has a support term of "
		    "%" PRIu32 " months", __func__, cur->lic.serial, months);
		handler_reply_error(out, "internal",
		    "the license's support term is out of range");
		return -1;
	}
	next = *cur;
	next.lic.support_expiry = date_add_months(today, (int)months);
	if (p->on_expiry == KG_ON_EXPIRY_DEMO &&
	    (next.lic.license_expiry == KG_DATE_NONE ||
	    next.lic.license_expiry > next.lic.support_expiry))
		next.lic.license_expiry = next.lic.support_expiry;
	next.lic.revision = cur->lic.revision + 1;
	next.lic.support_months = months;
	memcpy(next.lic.key_id, signer_key_id(rc->d->signer), KG_KEY_ID_LEN);
	next.activated_at = now;
	next.updated_at = now;

	date_format(next.lic.support_expiry, day);
	snprintf(actor, sizeof(actor), "tcp %s serial=%" PRIu64,
	    rc->peer->host, cur->lic.serial);
	store_audit_fill(&audit, now, actor, "license.activate", cur->lic.regno,
	    "support_expiry none -> %s (%" PRIu32 " months from the first check), "
	    "revision %" PRIu32 " -> %" PRIu32, day, months, cur->lic.revision,
	    next.lic.revision);

	err = st->ops->license_update(st, &next, cur->lic.revision, &audit);
	if (err == STORE_OK) {
		log_info("license %s activated by %s: support until %s",
		    cur->lic.regno, rc->peer->host, day);
		metrics_count_first_activation();
		*cur = next;
		return 0;
	}
	if (err == STORE_CONFLICT) {
		log_debug("%s: license serial=%" PRIu64 " changed meanwhile; "
		    "using the stored state", __func__, cur->lic.serial);
		err = st->ops->license_get_serial(st, cur->lic.serial, cur);
		if (err == STORE_OK)
			return 0;
	}
	check_store_error(out, err, "license_update");
	return -1;
}

/*
 * check_activate outside a read hold (store_read_hold, which dispatch.c
 * keeps around a check): the write sees the store as it is and may grow
 * the map; the reads after it see the write.
 */
static int
check_activate_write(const struct request_ctx *rc, struct store_license *cur,
    const struct kg_edition_policy *policy, struct handler_reply *out)
{
	int	rv;

	store_read_release(rc->d->store);
	rv = check_activate(rc, cur, policy, out);
	store_read_hold(rc->d->store);
	return rv;
}

/*
 * The shared body of check and status. product and installed are NULL for
 * status; target may be NULL or "".
 */
static void
check_common(const struct request_ctx *rc, const char *text, const char *product,
    const char *installed, const char *target, struct handler_reply *out)
{
	struct store			*st = rc->d->store;
	struct store_license		 cur;
	struct store_product		 prod;
	struct store_edition		 ed;
	struct check_releases		 rs;
	struct keycache_key		 key;
	struct kg_version		 vi, vt;
	struct kg_check_input		 in;
	struct kg_verdict		 v;
	const struct kg_edition_policy	*policy = NULL;
	char				 safe[KG_CODE_MAX + 1];
	bool				 status = product == NULL, have_target;
	enum check_load			 load;
	int				 err;

	rs.v = rs.inline_v;
	rs.n = 0;
	memset(&in, 0, sizeof(in));
	in.today = daemon_today(rc->d);
	in.subscription_until = KG_DATE_NONE;
	have_target = target != NULL && target[0] != '\0';

	if (!status) {
		if (version_parse(installed, &vi) == -1) {
			handler_reply_error(out, "bad_version", "installed version "
			    "is not a dotted decimal version such as 2.0.10");
			return;
		}
		if (have_target && version_parse(target, &vt) == -1) {
			handler_reply_error(out, "bad_version", "target version "
			    "is not a dotted decimal version such as 2.0.10");
			return;
		}
		in.installed = &vi;
		in.target = have_target ? &vt : NULL;
		/* The request's summary for the debug log line, when it is on. */
		if (log_debug_enabled()) {
			log_safe(safe, sizeof(safe), product);
			snprintf(out->log, sizeof(out->log), "product=%s "
			    "version=%s%s%s", safe, installed, have_target ?
			    " target=" : "", have_target ? target : "");
		}
	}

	load = check_license_load(rc, text, &key, &cur, out);
	if (load == CHECK_LOAD_ERROR)
		return;
	if (load == CHECK_LOAD_BAD_KEY) {
		in.key_error = KGE_KEY_SIGNATURE;
		policy_check(&in, &v);
		check_verdict_fill(out, status, NULL, &v);
		return;
	}
	if (log_debug_enabled())
		snprintf(out->log + strlen(out->log), sizeof(out->log) -
		    strlen(out->log), "%sserial=%" PRIu64, out->log[0] ? " " : "",
		    cur.lic.serial);

	/* The key's own product: its price, edition and releases. */
	err = st->ops->product_get(st, cur.lic.product, &prod);
	if (err == STORE_OK) {
		in.product_known = true;
		in.price = prod.price;
	} else if (err != STORE_NOTFOUND) {
		check_store_error(out, err, "product_get");
		return;
	}
	err = st->ops->edition_get(st, cur.lic.product, cur.lic.edition, &ed);
	if (err == STORE_OK)
		policy = &ed.policy;
	else if (err != STORE_NOTFOUND) {
		check_store_error(out, err, "edition_get");
		return;
	}
	if (check_subscription_load(st, policy, cur.lic.licensee,
	    &in.subscription_until, out) == -1)
		return;

	/* R3: the first check of an activation-basis key fixes its expiry. */
	if (cur.lic.support_expiry == KG_DATE_NONE && policy != NULL &&
	    policy->basis == KG_BASIS_ACTIVATION && cur.status == KG_STATUS_ACTIVE &&
	    in.product_known && (status || strcmp(product, cur.lic.product) == 0) &&
	    check_activate_write(rc, &cur, policy, out) == -1)
		return;
	if (check_key_resign(rc, &key, &cur, out) == -1)
		return;

	if (in.product_known &&
	    check_releases_load(rc, cur.lic.product, &rs, out) == -1)
		return;

	in.lic = &cur.lic;
	in.status = cur.status;
	in.product = product;
	in.policy = policy;
	in.releases = rs.v;
	in.nreleases = rs.n;
	policy_check(&in, &v);
	check_verdict_fill(out, status, &cur, &v);
	check_releases_clear(&rs);
}

/* Answer a check request. */
void
check_handle(const struct request_ctx *rc, const Keygate__CheckRequest *rq,
    struct handler_reply *out)
{
	check_common(rc, rq->key, rq->product, rq->version, rq->target, out);
}

/* Answer a status request. */
void
check_status_handle(const struct request_ctx *rc,
    const Keygate__StatusRequest *rq, struct handler_reply *out)
{
	check_common(rc, rq->key, NULL, NULL, NULL, out);
}
