/*
 * libkeygate's reply checks: nothing in a reply is believed before it has
 * passed them, in this order:
 *   1. the Reply frame decodes (KG_ERR_PROTOCOL);
 *   2. it is signed, over "keygate-reply-v1\0" || body (or, in the batched
 *      form, over "keygate-reply-batch-v1\0" || the Merkle root its index
 *      and path lead to: proto/README.md), by a key of the trust set that is
 *      not marked compromised (KG_ERR_UNTRUSTED);
 *   3. the signed ReplyBody decodes (KG_ERR_PROTOCOL);
 *   4. its server time is not older than the high-water mark, the newest
 *      server time already accepted (KG_ERR_REPLAY);
 *   5. it carries our nonce (KG_ERR_NONCE) and
 *   6. the BLAKE2b-256 hash of our exact request bytes (KG_ERR_REQUEST_HASH);
 *   7. it speaks our protocol version and holds a result (KG_ERR_PROTOCOL);
 *   8. a re-signed key in it verifies and names our license (KG_ERR_UNTRUSTED,
 *      KG_ERR_PROTOCOL).
 * The time comes before the nonce because it is signed too: an old reply
 * replayed to a client that has seen a newer one is called what it is, a
 * replay. Only a reply that passed raises the high-water mark.
 *
 * The same checks, less the high-water mark, re-verify a verdict cached in
 * the state file before an offline answer is built from it.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keygate.pb-c.h"

#include "client_int.h"
#include "kgerr.h"
#include "license.h"
#include "merkle.h"

/* What a reply must match: our nonce, our request's hash, our license. */
struct reply_expect {
	const uint8_t	*nonce;
	size_t		 nonce_len;
	const uint8_t	*hash;
	bool		 have_serial;
	uint64_t	 serial;
	int64_t		 floor;		/* refuse older server times; -1: no check */
};

/* Format a wire day number into out ("" for 0). -1 when out of range. */
static int
reply_date(char out[KG_DATE_TEXT_LEN], uint32_t day)
{
	out[0] = '\0';
	if (day == 0)
		return 0;
	if (day > (uint32_t)date_from_ymd(KG_YEAR_MAX, 12, 31))
		return -1;
	date_format((kg_date)day, out);
	return 0;
}

/* Copy a short code (quote or renewal kind) into out; -1 when too long. */
static int
reply_code(char out[CLIENT_CODE_TEXT_LEN], const char *s)
{
	size_t	len = strlen(s);

	if (len >= CLIENT_CODE_TEXT_LEN)
		return -1;
	memcpy(out, s, len + 1);
	return 0;
}

/* Fill r from a verified Verdict. KG_OK, KG_ERR_PROTOCOL or KG_ERR_NOMEM. */
static int
reply_verdict_copy(kg_result *r, const Keygate__Verdict *v)
{
	if (reply_date(r->support_expiry, v->support_expiry) == -1 ||
	    reply_date(r->license_expiry, v->license_expiry) == -1)
		return KG_ERR_PROTOCOL;
	if (v->reason == NULL || v->reason[0] == '\0')
		return KG_ERR_PROTOCOL;
	r->days_left = v->days_left;
	r->retry_after = v->retry_after > INT32_MAX ? INT32_MAX : (int)v->retry_after;
	if (v->quote != NULL) {
		if (reply_code(r->quote_kind, v->quote->kind) == -1 ||
		    reply_date(r->quote_new_expiry, v->quote->new_expiry) == -1)
			return KG_ERR_PROTOCOL;
		r->has_quote = true;
		r->quote_price_minor = v->quote->price;
		money_format(v->quote->price, r->quote_price);
	}
	if (v->renewal != NULL) {
		if (reply_code(r->renewal_kind, v->renewal->kind) == -1 ||
		    reply_date(r->renewal_new_expiry, v->renewal->new_expiry) == -1 ||
		    v->renewal->months > KG_MONTHS_MAX)
			return KG_ERR_PROTOCOL;
		r->has_renewal = true;
		r->renewal_price_minor = v->renewal->price;
		money_format(v->renewal->price, r->renewal_price);
		r->renewal_months = (int)v->renewal->months;
		if (result_str(&r->renewal_act, v->renewal->act) == -1)
			return KG_ERR_NOMEM;
	}
	if (result_str(&r->verdict, v->verdict) == -1 ||
	    result_str(&r->reason, v->reason) == -1 ||
	    result_str(&r->detail, v->detail) == -1 ||
	    result_str(&r->eligible, v->eligible) == -1 ||
	    result_str(&r->latest, v->latest) == -1 ||
	    result_str(&r->key, v->key) == -1 ||
	    result_str(&r->regno, v->regno) == -1 ||
	    result_str(&r->licensee, v->licensee) == -1 ||
	    result_str(&r->product, v->product) == -1 ||
	    result_str(&r->edition, v->edition) == -1 ||
	    result_str(&r->state, v->state) == -1)
		return KG_ERR_NOMEM;
	return KG_OK;
}

/* Verify rep's signature by pk, direct or batched: see client_int.h. */
int
reply_signature_verify(const uint8_t pk[KG_PUBKEY_LEN],
    const Keygate__Reply *rep)
{
	uint8_t	path[KG_MERKLE_DEPTH_MAX][KG_MERKLE_HASH_LEN];
	size_t	i;

	if (rep->signature.len != KG_SIG_LEN ||
	    rep->n_batch_path > KG_MERKLE_DEPTH_MAX)
		return KGE_KEY_SIGNATURE;
	for (i = 0; i < rep->n_batch_path; i++) {
		if (rep->batch_path[i].len != KG_MERKLE_HASH_LEN)
			return KGE_KEY_SIGNATURE;
		memcpy(path[i], rep->batch_path[i].data, KG_MERKLE_HASH_LEN);
	}
	return merkle_reply_verify(pk, rep->body.data, rep->body.len,
	    rep->signature.data, rep->batch_index,
	    (const uint8_t (*)[KG_MERKLE_HASH_LEN])path, rep->n_batch_path);
}

/*
 * A re-signed key must verify against the trust set and name the license
 * of the key we sent: a reply that would make a product overwrite its key
 * with another license's is refused.
 */
static int
reply_key_check(const kg_client *c, const struct reply_expect *ex,
    const char *key)
{
	struct kg_license	lic;
	int			rc;

	rc = license_key_parse(key, strlen(key), &c->trust, &lic);
	if (rc == KGE_NOMEM)
		return KG_ERR_NOMEM;
	if (rc != KGE_OK)
		return KG_ERR_UNTRUSTED;
	if (!ex->have_serial || lic.serial != ex->serial)
		return KG_ERR_PROTOCOL;
	return KG_OK;
}

/*
 * Checks 1 to 8 of the top of this file on buf. On KG_OK or KG_ERR_SERVER
 * *out is the result and *server_time its signed server time.
 */
static int
reply_check(const kg_client *c, const struct reply_expect *ex,
    const uint8_t *buf, size_t len, kg_result **out, int64_t *server_time)
{
	Keygate__Reply			*rep = NULL;
	Keygate__ReplyBody		*body = NULL;
	const struct kg_trust_entry	*te;
	kg_result			*r = NULL;
	int				 rc;

	*out = NULL;
	if ((rep = keygate__reply__unpack(NULL, len, buf)) == NULL) {
		rc = KG_ERR_PROTOCOL;
		goto fail;
	}
	if (rep->key_id.len != KG_KEY_ID_LEN || rep->signature.len != KG_SIG_LEN ||
	    (te = trustset_find(&c->trust, rep->key_id.data)) == NULL ||
	    te->state == KG_TRUST_COMPROMISED) {
		rc = KG_ERR_UNTRUSTED;
		goto fail;
	}
	rc = reply_signature_verify(te->pk, rep);
	if (rc != KGE_OK) {
		rc = rc == KGE_NOMEM ? KG_ERR_NOMEM : KG_ERR_UNTRUSTED;
		goto fail;
	}
	if ((body = keygate__reply_body__unpack(NULL, rep->body.len,
	    rep->body.data)) == NULL) {
		rc = KG_ERR_PROTOCOL;
		goto fail;
	}
	if (ex->floor >= 0 && body->server_time < ex->floor) {
		rc = KG_ERR_REPLAY;
		goto fail;
	}
	if (body->nonce.len != ex->nonce_len || ex->nonce_len == 0 ||
	    sodium_memcmp(body->nonce.data, ex->nonce, ex->nonce_len) != 0) {
		rc = KG_ERR_NONCE;
		goto fail;
	}
	if (body->request_hash.len != KG_HASH_LEN ||
	    sodium_memcmp(body->request_hash.data, ex->hash, KG_HASH_LEN) != 0) {
		rc = KG_ERR_REQUEST_HASH;
		goto fail;
	}
	if (body->protocol != KG_PROTOCOL_VERSION) {
		rc = KG_ERR_PROTOCOL;
		goto fail;
	}
	if ((r = result_new()) == NULL) {
		rc = KG_ERR_NOMEM;
		goto fail;
	}
	r->server_time = body->server_time;
	r->test_clock = body->test_clock;
	switch (body->result_case) {
	case KEYGATE__REPLY_BODY__RESULT_ERROR:
		r->error = true;
		if (body->error->reason == NULL || body->error->reason[0] == '\0') {
			rc = KG_ERR_PROTOCOL;
			goto fail;
		}
		if (result_str(&r->error_reason, body->error->reason) == -1 ||
		    result_str(&r->reason, body->error->reason) == -1 ||
		    result_str(&r->detail, body->error->detail) == -1) {
			rc = KG_ERR_NOMEM;
			goto fail;
		}
		rc = KG_ERR_SERVER;
		break;
	case KEYGATE__REPLY_BODY__RESULT_VERDICT:
		if ((rc = reply_verdict_copy(r, body->verdict)) != KG_OK)
			goto fail;
		if (r->key != NULL && (rc = reply_key_check(c, ex, r->key)) != KG_OK)
			goto fail;
		break;
	default:
		rc = KG_ERR_PROTOCOL;
		goto fail;
	}
	*server_time = body->server_time;
	keygate__reply_body__free_unpacked(body, NULL);
	keygate__reply__free_unpacked(rep, NULL);
	*out = r;
	return rc;
 fail:
	kg_result_free(r);
	if (body != NULL)
		keygate__reply_body__free_unpacked(body, NULL);
	if (rep != NULL)
		keygate__reply__free_unpacked(rep, NULL);
	return rc;
}

/*
 * Check a reply frame from a server against rq and turn it into a result
 * (*out on KG_OK and KG_ERR_SERVER). A reply that passed raises the
 * high-water mark and says whether the local clock lags it.
 */
int
reply_verify(kg_client *c, const struct client_req *rq, const uint8_t *buf,
    size_t len, const char *server, kg_result **out)
{
	struct reply_expect	 ex;
	kg_result		*r;
	int64_t			 t = 0;
	int			 rc;

	memset(&ex, 0, sizeof(ex));
	ex.nonce = rq->nonce;
	ex.nonce_len = rq->nonce_len;
	ex.hash = rq->hash;
	ex.have_serial = rq->have_serial;
	ex.serial = rq->serial;
	ex.floor = c->time_floor;
	rc = reply_check(c, &ex, buf, len, &r, &t);
	if (rc != KG_OK && rc != KG_ERR_SERVER)
		return rc;
	if (result_str(&r->server, server) == -1) {
		kg_result_free(r);
		return KG_ERR_NOMEM;
	}
	if (t > c->time_floor)
		c->time_floor = t;
	r->rollback = client_rollback(c, client_clock_now());
	*out = r;
	return rc;
}

/*
 * Verify a cached pair again, as if it had just arrived: the reply must
 * pass the checks against the cached request (its nonce, the hash of its
 * bytes), hold a Verdict, and the request must be an update check whose
 * key verifies against the trust set and is the entry's license and
 * product. On KG_OK *out is the verdict, and installed/target (each
 * KG_VERSION_TEXT_MAX bytes) the versions the cached request asked about
 * (target "" when none). Any failure means: do not use this entry.
 */
int
reply_verify_cached(const kg_client *c, const struct state_entry *e,
    kg_result **out, char *installed, char *target)
{
	Keygate__Request	*req = NULL;
	struct reply_expect	 ex;
	struct kg_license	 lic;
	uint8_t			 hash[KG_HASH_LEN];
	int64_t			 t;
	int			 rc;

	*out = NULL;
	memset(&ex, 0, sizeof(ex));
	if ((req = keygate__request__unpack(NULL, e->request_len,
	    e->request)) == NULL || req->body_case != KEYGATE__REQUEST__BODY_CHECK ||
	    req->check->key == NULL || req->check->product == NULL ||
	    req->check->version == NULL ||
	    strlen(req->check->version) >= KG_VERSION_TEXT_MAX ||
	    (req->check->target != NULL &&
	    strlen(req->check->target) >= KG_VERSION_TEXT_MAX) ||
	    strcmp(req->check->product, e->product) != 0) {
		rc = KG_ERR_PROTOCOL;
		goto out;
	}
	rc = license_key_parse(req->check->key, strlen(req->check->key),
	    &c->trust, &lic);
	if (rc != KGE_OK || lic.serial != e->serial) {
		rc = rc == KGE_NOMEM ? KG_ERR_NOMEM : KG_ERR_UNTRUSTED;
		goto out;
	}
	crypto_generichash(hash, sizeof(hash), e->request, e->request_len,
	    NULL, 0);
	ex.nonce = req->nonce.data;
	ex.nonce_len = req->nonce.len;
	ex.hash = hash;
	ex.have_serial = true;
	ex.serial = lic.serial;
	ex.floor = -1;
	if ((rc = reply_check(c, &ex, e->reply, e->reply_len, out, &t)) != KG_OK) {
		if (rc == KG_ERR_SERVER)
			rc = KG_ERR_PROTOCOL;
		goto out;
	}
	if ((*out)->verdict == NULL) {
		rc = KG_ERR_PROTOCOL;
		goto out;
	}
	memcpy(installed, req->check->version, strlen(req->check->version) + 1);
	target[0] = '\0';
	if (req->check->target != NULL)
		memcpy(target, req->check->target, strlen(req->check->target) + 1);
 out:
	if (rc != KG_OK) {
		kg_result_free(*out);
		*out = NULL;
	}
	if (req != NULL)
		keygate__request__free_unpacked(req, NULL);
	return rc;
}
