/*
 * libkeygate's offline answers: when no server answers an update check,
 * kg_check answers from the last verified verdict for that license and
 * product (state.c keeps it; reply.c verifies it again first), marked
 * offline, with its age. An offline answer never allows a release the
 * cached verdict did not allow. The rule, in order:
 *
 *   1. A cached demo verdict about the key itself (revoked, suspended,
 *      bad_key, license_expired, wrong_product, ...: every reason but
 *      not_eligible) is returned as it is, whatever the versions asked.
 *   2. A license expiry in the cached verdict that has passed by the
 *      effective clock gives demo / license_expired.
 *   3. The versions the cached verdict allowed are its eligible version
 *      and, unless it was demo, the installed and target versions it was
 *      asked about. When the installed version or the target asked now is
 *      not one of them (compared as versions, so 2.0 == 2.0.0): demo /
 *      not_eligible. Everything newer than the cached eligible version is
 *      therefore demo offline, and so is an older release the server never
 *      judged (it may be a maintenance release dated after support ended).
 *   4. Otherwise rows 3 to 5 of SPEC section 2 with the cached eligible
 *      and latest versions: update when eligible is newer than the
 *      installed version, fallback when latest is, else current; reason
 *      support_expired once the cached support expiry has passed, else ok.
 *
 * The effective clock is the later of the local clock and the high-water
 * mark, so setting the clock back neither makes a verdict look younger nor
 * un-expires a license; kg_result_rollback() says when the local clock is
 * behind the mark by more than the tolerance. days_left is recomputed from
 * the cached support expiry; a quote and a re-signed key are never handed
 * out offline (a quote is the server's offer at a time).
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "kgerr.h"
#include "license.h"

/* A version text is one of the allowed ones. */
static bool
offline_allowed(const struct kg_version *v, const char *const *allowed,
    size_t n)
{
	struct kg_version	a;
	size_t			i;

	for (i = 0; i < n; i++) {
		if (allowed[i] != NULL && allowed[i][0] != '\0' &&
		    version_parse(allowed[i], &a) == 0 && version_cmp(&a, v) == 0)
			return true;
	}
	return false;
}

/* a is a version newer than b. */
static bool
offline_newer(const char *a, const struct kg_version *b)
{
	struct kg_version	v;

	return a != NULL && version_parse(a, &v) == 0 && version_cmp(&v, b) > 0;
}

/* Turn r into demo with reason and detail. KG_OK or KG_ERR_NOMEM. */
static int
offline_demo(kg_result *r, const char *reason, const char *detail)
{
	if (result_set(&r->verdict, "demo") == -1 ||
	    result_set(&r->reason, reason) == -1 ||
	    result_set(&r->detail, detail) == -1)
		return KG_ERR_NOMEM;
	return KG_OK;
}

/*
 * Apply the offline rule at the top of this file to r, the cached verdict
 * that answered (cached_installed, cached_target: "" or NULL when none),
 * for the question (installed, target: NULL when none) on day today.
 * KG_OK, KG_ERR_INVAL (a version that does not parse) or KG_ERR_NOMEM.
 */
int
offline_rule(kg_result *r, const char *cached_installed,
    const char *cached_target, const char *installed, const char *target,
    kg_date today)
{
	struct kg_version	 vi, vt;
	const char		*allowed[3];
	kg_date			 sx = KG_DATE_NONE, lx = KG_DATE_NONE;
	size_t			 nallowed = 0;
	bool			 demo;

	if (version_parse(installed, &vi) == -1 ||
	    (target != NULL && version_parse(target, &vt) == -1))
		return KG_ERR_INVAL;
	free(r->key);
	r->key = NULL;
	free(r->server);
	r->server = NULL;
	r->has_quote = false;
	r->quote_price_minor = 0;
	r->has_renewal = false;
	r->retry_after = 0;
	if (r->support_expiry[0] != '\0')
		(void)date_parse(r->support_expiry, &sx);
	if (r->license_expiry[0] != '\0')
		(void)date_parse(r->license_expiry, &lx);
	r->days_left = sx != KG_DATE_NONE && sx > today ?
	    date_days_between(today, sx) : 0;

	demo = r->verdict == NULL || strcmp(r->verdict, "demo") == 0;
	if (r->verdict == NULL || (demo && (r->reason == NULL ||
	    strcmp(r->reason, "not_eligible") != 0)))
		return KG_OK;					/* 1 */
	if (lx != KG_DATE_NONE && today > lx)			/* 2 */
		return offline_demo(r, "license_expired", "offline: the "
		    "license has ended since the last verdict");

	allowed[nallowed++] = r->eligible;			/* 3 */
	if (!demo) {
		allowed[nallowed++] = cached_installed;
		allowed[nallowed++] = cached_target;
	}
	if (!offline_allowed(&vi, allowed, nallowed) ||
	    (target != NULL && !offline_allowed(&vt, allowed, nallowed)))
		return offline_demo(r, "not_eligible", "offline: the last "
		    "verdict from the server did not allow this version");

	if (result_set(&r->detail, NULL) == -1 ||		/* 4 */
	    result_set(&r->reason, sx != KG_DATE_NONE && today > sx ?
	    "support_expired" : "ok") == -1)
		return KG_ERR_NOMEM;
	if (offline_newer(r->eligible, &vi))
		return result_set(&r->verdict, "update") == -1 ?
		    KG_ERR_NOMEM : KG_OK;
	if (offline_newer(r->latest, &vi))
		return result_set(&r->verdict, "fallback") == -1 ?
		    KG_ERR_NOMEM : KG_OK;
	return result_set(&r->verdict, "current") == -1 ? KG_ERR_NOMEM : KG_OK;
}

/*
 * The offline answer to an update check of key (whitespace removed) for
 * product: the cached verdict of the key's license, verified again and
 * passed through offline_rule(). KG_OK with *out set; KG_ERR_CONNECT when
 * there is no usable cached verdict (the key does not verify, none is
 * cached, or the cached one no longer verifies); KG_ERR_NOMEM.
 */
int
offline_answer(kg_client *c, const char *key, const char *product,
    const char *version, const char *target, kg_result **out)
{
	const struct state_entry	*e;
	struct kg_license		 lic;
	kg_result			*r = NULL;
	char				 ci[KG_VERSION_TEXT_MAX], ct[KG_VERSION_TEXT_MAX];
	int64_t				 now, eff;
	int				 rc;

	*out = NULL;
	rc = license_key_parse(key, strlen(key), &c->trust, &lic);
	if (rc != KGE_OK)
		return rc == KGE_NOMEM ? KG_ERR_NOMEM : KG_ERR_CONNECT;
	if ((e = state_find(&c->state, lic.serial, product)) == NULL)
		return KG_ERR_CONNECT;
	if ((rc = reply_verify_cached(c, e, &r, ci, ct)) != KG_OK)
		return rc == KG_ERR_NOMEM ? KG_ERR_NOMEM : KG_ERR_CONNECT;
	now = client_clock_now();
	eff = now > c->time_floor ? now : c->time_floor;
	r->offline = true;
	r->rollback = client_rollback(c, now);
	r->age = eff > r->server_time ? eff - r->server_time : 0;
	rc = offline_rule(r, ci, ct, version, target, date_from_time((time_t)eff));
	if (rc != KG_OK) {
		kg_result_free(r);
		return rc == KG_ERR_NOMEM ? KG_ERR_NOMEM : KG_ERR_CONNECT;
	}
	*out = r;
	return KG_OK;
}
