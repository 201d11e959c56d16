/*
 * libkeygate's requests: argument checks, the Request message with a fresh
 * nonce and the hash of its exact bytes, one round trip through
 * transport.c, the checks of reply.c, and what happens after: a verified
 * update-check verdict is remembered (state.c) and, when no server answers
 * at all, kg_check falls back to it (offline.c). A reply signed by a key
 * the client does not trust yet makes it ask the same server for rotation
 * statements once (rotation.c) before the reply is refused. Also
 * kg_verify_offline, which needs no server.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keygate.pb-c.h"

#include "client_int.h"
#include "kgerr.h"
#include "license.h"

/*
 * The key text without whitespace, in a malloc'd string. KG_ERR_INVAL when
 * empty or longer than KG_KEY_TEXT_MAX.
 */
int
request_key_clean(const char *key, char **out)
{
	size_t	len, i, n = 0;
	char	*s;

	*out = NULL;
	if (key == NULL || (len = strnlen(key, KG_KEY_TEXT_MAX + 1)) > KG_KEY_TEXT_MAX)
		return KG_ERR_INVAL;
	if ((s = malloc(len + 1)) == NULL)
		return KG_ERR_NOMEM;
	for (i = 0; i < len; i++) {
		if (strchr(" \t\r\n\v\f", key[i]) == NULL)
			s[n++] = key[i];
	}
	s[n] = '\0';
	if (n == 0) {
		free(s);
		return KG_ERR_INVAL;
	}
	*out = s;
	return KG_OK;
}

/* A non-empty string of at most max bytes. */
static bool
request_text_ok(const char *s, size_t max)
{
	return s != NULL && s[0] != '\0' && strnlen(s, max + 1) <= max;
}

/* The serial of a key that decodes (not verified: for matching only). */
bool
request_key_serial(const char *key, uint64_t *serial)
{
	struct kg_key_blob	blob;
	struct kg_license	lic;

	if (license_key_decode(key, strlen(key), &blob) != KGE_OK ||
	    license_payload_unpack(blob.payload, blob.payload_len, &lic) != KGE_OK)
		return false;
	*serial = lic.serial;
	return true;
}

/*
 * Read what a stored Request asks about: an update check of which
 * license (serial of its key, decoded, not verified) and product. KG_OK or
 * KG_ERR_PROTOCOL. For indexing the state file only.
 */
int
request_check_info(const uint8_t *buf, size_t len, uint64_t *serial,
    char product[KG_CODE_MAX + 1])
{
	Keygate__Request	*req;
	int			 rc = KG_ERR_PROTOCOL;

	if ((req = keygate__request__unpack(NULL, len, buf)) == NULL)
		return KG_ERR_PROTOCOL;
	if (req->body_case == KEYGATE__REQUEST__BODY_CHECK &&
	    req->check->key != NULL && req->check->product != NULL &&
	    request_text_ok(req->check->product, KG_CODE_MAX) &&
	    request_key_serial(req->check->key, serial)) {
		memcpy(product, req->check->product,
		    strlen(req->check->product) + 1);
		rc = KG_OK;
	}
	keygate__request__free_unpacked(req, NULL);
	return rc;
}

/*
 * Pack req (its nonce filled in here) into rq: frame, nonce and hash.
 * KG_OK, KG_ERR_INVAL (too large) or KG_ERR_NOMEM.
 */
int
request_build(struct client_req *rq, Keygate__Request *req)
{
	size_t	len;

	rq->nonce_len = CLIENT_NONCE_LEN;
	randombytes_buf(rq->nonce, rq->nonce_len);
	req->protocol = KG_PROTOCOL_VERSION;
	req->nonce.data = rq->nonce;
	req->nonce.len = rq->nonce_len;
	len = keygate__request__get_packed_size(req);
	if (len == 0 || len > KG_FRAME_MAX)
		return KG_ERR_INVAL;
	if ((rq->frame = malloc(4 + len)) == NULL)
		return KG_ERR_NOMEM;
	rq->frame[0] = (uint8_t)(len >> 24);
	rq->frame[1] = (uint8_t)(len >> 16);
	rq->frame[2] = (uint8_t)(len >> 8);
	rq->frame[3] = (uint8_t)len;
	if (keygate__request__pack(req, rq->frame + 4) != len) {
		free(rq->frame);
		rq->frame = NULL;
		return KG_ERR_INVAL;
	}
	rq->frame_len = 4 + len;
	crypto_generichash(rq->hash, sizeof(rq->hash), rq->frame + 4, len, NULL, 0);
	return KG_OK;
}

/*
 * Build, send and verify one request; the common path of the three
 * requests. *unreachable tells the caller that no server answered at all
 * (the only case in which kg_check may answer offline). A verified
 * update-check verdict is remembered; any verified reply is saved to the
 * state file when there is one (the high-water mark moved).
 */
static int
request_send(kg_client *c, Keygate__Request *req, const char *key,
    kg_result **out, bool *unreachable)
{
	struct client_req	 rq;
	uint8_t			*reply = NULL;
	size_t			 reply_len = 0, server = 0;
	int			 rc, src = KG_OK, save;

	memset(&rq, 0, sizeof(rq));
	*unreachable = false;
	if (c->nserver == 0)
		return KG_ERR_INVAL;
	if (c->trust.n == 0)
		return KG_ERR_TRUST;
	rq.have_serial = request_key_serial(key, &rq.serial);
	if ((rc = request_build(&rq, req)) != KG_OK)
		goto out;
	if ((rc = transport_transact(c, &rq, &reply, &reply_len, &server)) != 0) {
		*unreachable = transport_unreachable(rc);
		goto out;
	}
	rc = reply_verify(c, &rq, reply, reply_len, c->server[server].text, out);
	/* Signed by a key we do not know yet: learn it if a rotation proves it. */
	if (rc == KG_ERR_UNTRUSTED && rotation_learn(c, reply, reply_len) == KG_OK)
		rc = reply_verify(c, &rq, reply, reply_len,
		    c->server[server].text, out);
	if (rc != KG_OK && rc != KG_ERR_SERVER) {
		kg_client_disconnect(c);	/* the stream is not to be trusted */
		goto out;
	}
	if (rc == KG_OK && req->body_case == KEYGATE__REQUEST__BODY_CHECK &&
	    kg_result_verdict(*out) != NULL)
		src = state_remember(c, rq.frame + 4, rq.frame_len - 4, reply,
		    reply_len);
	if (c->state.path != NULL && (save = state_save(c)) != KG_OK &&
	    src == KG_OK)
		src = save;
	c->state.last_error = src;
 out:
	free(reply);
	free(rq.frame);
	return rc;
}

/* Ask whether key may install updates of product from version (or to target). */
int
kg_check(kg_client *c, const char *key, const char *product,
    const char *version, const char *target, kg_result **out)
{
	Keygate__Request	 req = KEYGATE__REQUEST__INIT;
	Keygate__CheckRequest	 chk = KEYGATE__CHECK_REQUEST__INIT;
	struct kg_version	 v;
	char			*k = NULL;
	bool			 unreachable;
	int			 rc, orc;

	if (out == NULL)
		return KG_ERR_INVAL;
	*out = NULL;
	if (c == NULL || !request_text_ok(product, KG_CODE_MAX) ||
	    !request_text_ok(version, KG_VERSION_TEXT_MAX) ||
	    version_parse(version, &v) == -1)
		return KG_ERR_INVAL;
	if (target != NULL && target[0] == '\0')
		target = NULL;
	if (target != NULL && (strlen(target) > KG_VERSION_TEXT_MAX ||
	    version_parse(target, &v) == -1))
		return KG_ERR_INVAL;
	if ((rc = request_key_clean(key, &k)) != KG_OK)
		return rc;
	chk.key = k;
	chk.product = (char *)product;
	chk.version = (char *)version;
	if (target != NULL)
		chk.target = (char *)target;
	req.body_case = KEYGATE__REQUEST__BODY_CHECK;
	req.check = &chk;
	rc = request_send(c, &req, k, out, &unreachable);
	if (unreachable) {
		orc = offline_answer(c, k, product, version, target, out);
		if (orc == KG_OK || orc == KG_ERR_NOMEM)
			rc = orc;
	}
	free(k);
	return rc;
}

/* Ask for key's support status. */
int
kg_status(kg_client *c, const char *key, kg_result **out)
{
	Keygate__Request	 req = KEYGATE__REQUEST__INIT;
	Keygate__StatusRequest	 st = KEYGATE__STATUS_REQUEST__INIT;
	char			*k = NULL;
	bool			 unreachable;
	int			 rc;

	if (out == NULL)
		return KG_ERR_INVAL;
	*out = NULL;
	if (c == NULL)
		return KG_ERR_INVAL;
	if ((rc = request_key_clean(key, &k)) != KG_OK)
		return rc;
	st.key = k;
	req.body_case = KEYGATE__REQUEST__BODY_STATUS;
	req.status = &st;
	rc = request_send(c, &req, k, out, &unreachable);
	free(k);
	return rc;
}

/* Renew key's support with an act number. */
int
kg_activate(kg_client *c, const char *key, const char *act, kg_result **out)
{
	Keygate__Request		 req = KEYGATE__REQUEST__INIT;
	Keygate__ActivateRequest	 ar = KEYGATE__ACTIVATE_REQUEST__INIT;
	char				*k = NULL;
	bool				 unreachable;
	int				 rc;

	if (out == NULL)
		return KG_ERR_INVAL;
	*out = NULL;
	if (c == NULL || !request_text_ok(act, KG_CODE_MAX))
		return KG_ERR_INVAL;
	if ((rc = request_key_clean(key, &k)) != KG_OK)
		return rc;
	ar.key = k;
	ar.act = (char *)act;
	req.body_case = KEYGATE__REQUEST__BODY_ACTIVATE;
	req.activate = &ar;
	rc = request_send(c, &req, k, out, &unreachable);
	free(k);
	return rc;
}

/* Fill r from a verified license. KG_OK or KG_ERR_NOMEM. */
static int
request_license_copy(kg_result *r, const struct kg_license *lic)
{
	r->valid = true;
	r->serial = lic->serial;
	r->revision = lic->revision;
	r->trial = lic->trial;
	r->support_months = lic->support_months;
	if (lic->created != KG_DATE_NONE)
		date_format(lic->created, r->created);
	if (lic->support_expiry != KG_DATE_NONE)
		date_format(lic->support_expiry, r->support_expiry);
	if (lic->license_expiry != KG_DATE_NONE)
		date_format(lic->license_expiry, r->license_expiry);
	if (result_str(&r->reason, "ok") == -1 ||
	    result_str(&r->product, lic->product) == -1 ||
	    result_str(&r->edition, lic->edition) == -1 ||
	    result_str(&r->regno, lic->regno) == -1 ||
	    result_str(&r->licensee, lic->licensee) == -1)
		return KG_ERR_NOMEM;
	return KG_OK;
}

/* Verify a key against the public keys of a text, without a server. */
int
kg_verify_offline(const char *key, const char *kgp1_lines, kg_result **out)
{
	struct kg_trustset	 ts;
	struct kg_license	 lic;
	kg_result		*r = NULL;
	char			*k = NULL;
	int			 rc;

	if (out == NULL)
		return KG_ERR_INVAL;
	*out = NULL;
	trustset_init(&ts);
	if (kgp1_lines == NULL) {
		rc = KG_ERR_INVAL;
		goto fail;
	}
	if (sodium_init() < 0) {
		rc = KG_ERR_NOMEM;
		goto fail;
	}
	if ((rc = trustset_parse(&ts, kgp1_lines, NULL)) != KGE_OK || ts.n == 0) {
		rc = rc == KGE_NOMEM ? KG_ERR_NOMEM : KG_ERR_TRUST;
		goto fail;
	}
	if ((rc = request_key_clean(key, &k)) != KG_OK)
		goto fail;
	if ((r = result_new()) == NULL) {
		rc = KG_ERR_NOMEM;
		goto fail;
	}
	rc = license_key_parse(k, strlen(k), &ts, &lic);
	if (rc == KGE_NOMEM) {
		rc = KG_ERR_NOMEM;
		goto fail;
	}
	if (rc != KGE_OK) {
		if (result_str(&r->reason, "bad_key") == -1 ||
		    result_str(&r->detail, kge_strerror(rc)) == -1) {
			rc = KG_ERR_NOMEM;
			goto fail;
		}
		rc = KG_ERR_KEY;
	} else if ((rc = request_license_copy(r, &lic)) != KG_OK)
		goto fail;
	free(k);
	trustset_clear(&ts);
	*out = r;
	return rc;
 fail:
	kg_result_free(r);
	free(k);
	trustset_clear(&ts);
	return rc;
}
