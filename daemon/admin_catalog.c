/*
 * The admin socket's catalog ops: products (product.add, product.list),
 * editions (edition.add, edition.list) and releases (release.publish,
 * release.list, release.withdraw). Each change is one store call with its
 * audit record; lists are streamed into the reply (admin_ops_int.h).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "admin_ops_int.h"
#include "daemon.h"
#include "log.h"
#include "policy.h"
#include "store.h"
#include "text.h"

#define ADMIN_PERCENT_MAX	1000

/* ---- results ---- */

static json_t *
product_json(const struct store_product *p)
{
	return json_pack("{s:s,s:s,s:o}", "code", p->code, "name", p->name,
	    "price", admin_json_money(p->price));
}

static json_t *
edition_json(const struct store_edition *e)
{
	const struct kg_edition_policy	*p = &e->policy;

	return json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:b}",
	    "product", e->product, "edition", e->code,
	    "support_months", (json_int_t)p->support_months,
	    "basis", policy_basis_name(p->basis),
	    "on_expiry", policy_on_expiry_name(p->on_expiry),
	    "renewal_months", (json_int_t)p->renewal_months,
	    "grace_months", (json_int_t)p->grace_months,
	    "grace_percent", (json_int_t)p->grace_percent,
	    "standard_percent", (json_int_t)p->standard_percent,
	    "requires_subscription", (int)p->requires_subscription);
}

static json_t *
release_json(const struct store_release *r)
{
	return json_pack("{s:s,s:s,s:o,s:s,s:o,s:o}", "product", r->product,
	    "version", r->version, "date", admin_json_date(r->rel.date),
	    "state", policy_release_state_name(r->rel.state),
	    "sha256", admin_json_text_or_null(r->sha256),
	    "url", admin_json_text_or_null(r->url));
}

static int
release_version_cmp(const void *a, const void *b)
{
	const struct store_release	*ra = a, *rb = b;

	return version_cmp(&ra->rel.version, &rb->rel.version);
}

/* The product's releases by version (*out malloc'd); -1 with a reply set. */
static int
releases_get(struct admin_op *op, const char *product,
    struct store_release **out, size_t *n)
{
	int	rc;

	*out = NULL;
	*n = 0;
	rc = op->d->store->ops->release_list(op->d->store, product, out, n);
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "reading the releases");
		return -1;
	}
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), release_version_cmp);
	return 0;
}

static const struct store_release *
releases_find(const struct store_release *r, size_t n,
    const struct kg_version *v)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (version_cmp(&r[i].rel.version, v) == 0)
			return &r[i];
	return NULL;
}

/* ---- products ---- */

/* product.add: add a product with its name and price. */
bool
admin_catalog_product_add(struct admin_op *op)
{
	struct store_product	p;
	struct store_audit	audit;
	char			price[KG_MONEY_TEXT_LEN];
	int			rc;

	memset(&p, 0, sizeof(p));
	if (admin_arg_code(op, "code", true, p.code) == -1 ||
	    admin_arg_text(op, "name", true, STORE_NAME_MAX, p.name) == -1 ||
	    admin_arg_money(op, "price", true, &p.price) == -1)
		return false;
	p.created_at = daemon_now(op->d);
	money_format(p.price, price);
	store_audit_fill(&audit, p.created_at, op->actor, "product.add", p.code,
	    "name=\"%s\" price=%s", p.name, price);
	rc = op->d->store->ops->product_add(op->d->store, &p, &audit);
	if (rc == STORE_EXISTS) {
		admin_reply_error(op, "exists", "product %s exists: see it "
		    "with 'keygate-admin product list'", p.code);
		return false;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "adding the product");
		return false;
	}
	log_info("admin: %s: product.add %s", op->actor, p.code);
	admin_reply_result(op, product_json(&p));
	return false;
}

static int
product_list_cb(void *ctx, const struct store_product *p)
{
	struct admin_op	*op = ctx;

	if (admin_reply_list_add(op, product_json(p)) == -1) {
		admin_reply_list_too_long(op);
		return 1;
	}
	return 0;
}

/* product.list: every product, by code. */
bool
admin_catalog_product_list(struct admin_op *op)
{
	int	rc;

	if (admin_reply_list_begin(op) == -1) {
		admin_reply_list_too_long(op);
		return false;
	}
	rc = op->d->store->ops->product_list(op->d->store, product_list_cb, op);
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "listing the products");
		return false;
	}
	if (!op->done && admin_reply_list_end(op) == -1)
		admin_reply_list_too_long(op);
	return false;
}

/* ---- editions ---- */

static int
edition_policy_args(struct admin_op *op, struct kg_edition_policy *p)
{
	const char	*s;
	size_t		 n;
	int		 rc;

	policy_defaults(p);
	if (admin_arg_uint(op, "support_months", false, 1, KG_MONTHS_MAX,
	    &p->support_months) == -1 ||
	    admin_arg_uint(op, "renewal_months", false, 1, KG_MONTHS_MAX,
	    &p->renewal_months) == -1 ||
	    admin_arg_uint(op, "grace_months", false, 0, KG_MONTHS_MAX,
	    &p->grace_months) == -1 ||
	    admin_arg_uint(op, "grace_percent", false, 0, ADMIN_PERCENT_MAX,
	    &p->grace_percent) == -1 ||
	    admin_arg_uint(op, "standard_percent", false, 0, ADMIN_PERCENT_MAX,
	    &p->standard_percent) == -1 ||
	    admin_arg_bool(op, "requires_subscription",
	    &p->requires_subscription) == -1)
		return -1;
	if ((rc = admin_arg_string(op, "basis", false, 16, &s, &n)) == -1)
		return -1;
	if (rc == 1 && policy_basis_parse(s, &p->basis) == -1) {
		admin_reply_error(op, "bad_request", "%s: basis: expected "
		    "creation or activation", op->entry->name);
		return -1;
	}
	if ((rc = admin_arg_string(op, "on_expiry", false, 16, &s, &n)) == -1)
		return -1;
	if (rc == 1 && policy_on_expiry_parse(s, &p->on_expiry) == -1) {
		admin_reply_error(op, "bad_request", "%s: on_expiry: expected "
		    "fallback or demo", op->entry->name);
		return -1;
	}
	return 0;
}

/* edition.add: add an edition of a product with its policy. */
bool
admin_catalog_edition_add(struct admin_op *op)
{
	struct store_edition		 e;
	struct store_product		 prod;
	struct store_audit		 audit;
	const struct kg_edition_policy	*p = &e.policy;
	int				 rc;

	memset(&e, 0, sizeof(e));
	if (admin_arg_code(op, "product", true, e.product) == -1 ||
	    admin_arg_code(op, "edition", true, e.code) == -1 ||
	    edition_policy_args(op, &e.policy) == -1 ||
	    admin_product_need(op, e.product, &prod) == -1)
		return false;
	store_audit_fill(&audit, daemon_now(op->d), op->actor, "edition.add",
	    e.code, "product=%s support_months=%" PRIu32 " basis=%s "
	    "on_expiry=%s renewal_months=%" PRIu32 " grace_months=%" PRIu32
	    " grace_percent=%" PRIu32 " standard_percent=%" PRIu32
	    " requires_subscription=%s", e.product, p->support_months,
	    policy_basis_name(p->basis), policy_on_expiry_name(p->on_expiry),
	    p->renewal_months, p->grace_months, p->grace_percent,
	    p->standard_percent, p->requires_subscription ? "yes" : "no");
	rc = op->d->store->ops->edition_add(op->d->store, &e, &audit);
	if (rc == STORE_EXISTS) {
		admin_reply_error(op, "exists", "edition %s of product %s "
		    "exists: see it with 'keygate-admin edition list %s'",
		    e.code, e.product, e.product);
		return false;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "adding the edition");
		return false;
	}
	log_info("admin: %s: edition.add %s %s", op->actor, e.product, e.code);
	admin_reply_result(op, edition_json(&e));
	return false;
}

static int
edition_list_cb(void *ctx, const struct store_edition *e)
{
	struct admin_op	*op = ctx;

	if (admin_reply_list_add(op, edition_json(e)) == -1) {
		admin_reply_list_too_long(op);
		return 1;
	}
	return 0;
}

/* edition.list: a product's editions. */
bool
admin_catalog_edition_list(struct admin_op *op)
{
	struct store_product	prod;
	char			code[KG_CODE_MAX + 1];
	int			rc;

	if (admin_arg_code(op, "product", true, code) == -1 ||
	    admin_product_need(op, code, &prod) == -1)
		return false;
	if (admin_reply_list_begin(op) == -1) {
		admin_reply_list_too_long(op);
		return false;
	}
	rc = op->d->store->ops->edition_list(op->d->store, code, edition_list_cb,
	    op);
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "listing the editions");
		return false;
	}
	if (!op->done && admin_reply_list_end(op) == -1)
		admin_reply_list_too_long(op);
	return false;
}

/* ---- releases ---- */

/* 64 hex digits (either case) into lowercase out. */
static int
sha256_text_valid(const char *s, size_t n, char out[65])
{
	uint8_t		 bin[32];
	size_t		 binlen = 0, i;
	const char	*end = NULL;

	if (n != 64 || sodium_hex2bin(bin, sizeof(bin), s, n, NULL, &binlen,
	    &end) != 0 || binlen != sizeof(bin) || end != s + n)
		return 0;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return 1;
}

/* release.publish: publish a release of a product. */
bool
admin_catalog_release_publish(struct admin_op *op)
{
	struct store_release		 r, *all = NULL;
	const struct store_release	*old;
	struct store_product		 prod;
	struct store_audit		 audit;
	char				 date[KG_DATE_TEXT_LEN];
	const char			*s;
	size_t				 n, nall;
	int				 rc;

	memset(&r, 0, sizeof(r));
	if (admin_arg_code(op, "product", true, r.product) == -1 ||
	    admin_arg_version(op, "version", &r.rel.version, r.version) == -1 ||
	    admin_arg_date(op, "date", true, &r.rel.date) == -1)
		return false;
	if ((rc = admin_arg_string(op, "sha256", false, 64, &s, &n)) == -1)
		return false;
	if (rc == 1 && !sha256_text_valid(s, n, r.sha256)) {
		admin_reply_error(op, "bad_request", "%s: sha256: expected 64 "
		    "hex digits", op->entry->name);
		return false;
	}
	if ((rc = admin_arg_string(op, "url", false, STORE_URL_MAX, &s,
	    &n)) == -1)
		return false;
	if (rc == 1) {
		if (!text_url_valid(s, n)) {
			admin_reply_error(op, "bad_request", "%s: url: "
			    "expected printable ASCII without spaces "
			    "(percent-encode the rest)", op->entry->name);
			return false;
		}
		memcpy(r.url, s, n + 1);
	}
	if (admin_product_need(op, r.product, &prod) == -1 ||
	    releases_get(op, r.product, &all, &nall) == -1)
		goto done;
	if ((old = releases_find(all, nall, &r.rel.version)) != NULL) {
		admin_reply_error(op, "exists", "release %s %s exists (%s, "
		    "dated %s): see 'keygate-admin release list %s'", r.product,
		    old->version, policy_release_state_name(old->rel.state),
		    (date_format(old->rel.date, date), date), r.product);
		goto done;
	}
	r.rel.state = KG_RELEASE_PUBLISHED;
	r.published_at = daemon_now(op->d);
	date_format(r.rel.date, date);
	store_audit_fill(&audit, r.published_at, op->actor, "release.publish",
	    r.product, "version=%s date=%s sha256=%s url=%s", r.version, date,
	    r.sha256[0] != '\0' ? r.sha256 : "-",
	    r.url[0] != '\0' ? r.url : "-");
	rc = op->d->store->ops->release_publish(op->d->store, &r, &audit);
	if (rc == STORE_EXISTS) {
		admin_reply_error(op, "exists", "release %s %s exists: see "
		    "'keygate-admin release list %s'", r.product, r.version,
		    r.product);
		goto done;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "publishing the release");
		goto done;
	}
	log_info("admin: %s: release.publish %s %s dated %s", op->actor,
	    r.product, r.version, date);
	admin_reply_result(op, release_json(&r));
done:
	free(all);
	return false;
}

/* release.list: a product's releases, by version. */
bool
admin_catalog_release_list(struct admin_op *op)
{
	struct store_product	 prod;
	struct store_release	*all = NULL;
	char			 code[KG_CODE_MAX + 1];
	size_t			 i, n;

	if (admin_arg_code(op, "product", true, code) == -1 ||
	    admin_product_need(op, code, &prod) == -1 ||
	    releases_get(op, code, &all, &n) == -1)
		goto done;
	if (admin_reply_list_begin(op) == -1)
		goto too_long;
	for (i = 0; i < n; i++)
		if (admin_reply_list_add(op, release_json(&all[i])) == -1)
			goto too_long;
	if (admin_reply_list_end(op) == -1)
		goto too_long;
	goto done;
too_long:
	admin_reply_list_too_long(op);
done:
	free(all);
	return false;
}

/* release.withdraw: withdraw a release (twice changes nothing). */
bool
admin_catalog_release_withdraw(struct admin_op *op)
{
	struct store_product		 prod;
	struct store_release		*all = NULL, r;
	const struct store_release	*old;
	struct store_audit		 audit;
	struct kg_version		 v;
	char				 code[KG_CODE_MAX + 1];
	char				 text[KG_VERSION_TEXT_MAX];
	size_t				 n;
	int				 rc;

	if (admin_arg_code(op, "product", true, code) == -1 ||
	    admin_arg_version(op, "version", &v, text) == -1 ||
	    admin_product_need(op, code, &prod) == -1 ||
	    releases_get(op, code, &all, &n) == -1)
		goto done;
	if ((old = releases_find(all, n, &v)) == NULL) {
		admin_reply_error(op, "not_found", "release %s %s does not "
		    "exist: see 'keygate-admin release list %s'", code, text,
		    code);
		goto done;
	}
	r = *old;
	if (r.rel.state == KG_RELEASE_WITHDRAWN) {
		/* Withdrawing twice changes nothing. */
		admin_reply_result(op, release_json(&r));
		goto done;
	}
	store_audit_fill(&audit, daemon_now(op->d), op->actor,
	    "release.withdraw", code, "version=%s %s -> withdrawn", r.version,
	    policy_release_state_name(r.rel.state));
	rc = op->d->store->ops->release_withdraw(op->d->store, code,
	    &r.rel.version, &audit);
	if (rc == STORE_NOTFOUND) {
		admin_reply_error(op, "not_found", "release %s %s does not "
		    "exist: see 'keygate-admin release list %s'", code, text,
		    code);
		goto done;
	}
	if (rc != STORE_OK) {
		admin_reply_store_error(op, rc, "withdrawing the release");
		goto done;
	}
	log_info("admin: %s: release.withdraw %s %s", op->actor, code,
	    r.version);
	r.rel.state = KG_RELEASE_WITHDRAWN;
	admin_reply_result(op, release_json(&r));
done:
	free(all);
	return false;
}
