/*
 * libkeygate's side of signing-key rotation (proto/README.md, "Signing-key
 * rotation"): the trust set grows only through rotation statements, each
 * signed by a key the client already trusts.
 *
 * When a reply names a signing key that is not in the trust set, the
 * client asks the same server, on the same connection, for its rotation
 * statements (one RotationsRequest) and applies them as a chain: a
 * statement whose signature verifies, over "keygate-rotation-v1\0" || body,
 * with a trusted key that is not compromised adds the key it introduces
 * (active) and marks the key that signed it retired (its signatures still
 * verify). Statements are applied again until a round adds nothing, so
 * their order does not matter; at most ROTATION_STATEMENTS_MAX are looked
 * at, and a round adds at least one key or ends it, so the work is bounded.
 * A statement signed by an untrusted key adds nothing, whoever relays it.
 *
 * The Rotations reply itself is signed by the server's current key, which
 * the client can check only after the chain has proved it: the chain is
 * built on a copy of the trust set, and the copy replaces the trust set
 * only when that reply then verifies with it and carries our nonce and
 * request hash. The statements that added a key are kept in the client's
 * state (and its file, as "trusted" lines), so the next run trusts the new
 * key without asking again; statements read back from the file are checked
 * against the trust set like fresh ones, never believed because they are
 * there.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keygate.pb-c.h"

#include "client_int.h"
#include "kgerr.h"

/* The new key a serialized statement introduces (not verified). 0 or -1. */
int
rotation_statement_key(const uint8_t *buf, size_t len, uint8_t pk[KG_PUBKEY_LEN])
{
	Keygate__RotationStatement	*st;
	Keygate__RotationBody		*body = NULL;
	int				 rc = -1;

	if (len == 0 || len > ROTATION_STATEMENT_MAX ||
	    (st = keygate__rotation_statement__unpack(NULL, len, buf)) == NULL)
		return -1;
	if (st->signature.len == KG_SIG_LEN &&
	    (body = keygate__rotation_body__unpack(NULL, st->body.len,
	    st->body.data)) != NULL &&
	    body->new_public_key.len == KG_PUBKEY_LEN &&
	    body->old_key_id.len == KG_KEY_ID_LEN) {
		memcpy(pk, body->new_public_key.data, KG_PUBKEY_LEN);
		rc = 0;
	}
	if (body != NULL)
		keygate__rotation_body__free_unpacked(body, NULL);
	keygate__rotation_statement__free_unpacked(st, NULL);
	return rc;
}

/*
 * Apply one statement to ts: 1 when it added its key, 0 when it proves
 * nothing new (or nothing at all), KG_ERR_NOMEM.
 */
static int
rotation_statement_apply(struct kg_trustset *ts, const uint8_t *buf, size_t len)
{
	Keygate__RotationStatement	*st = NULL;
	Keygate__RotationBody		*body = NULL;
	const struct kg_trust_entry	*old;
	uint8_t				 old_pk[KG_PUBKEY_LEN], new_id[KG_KEY_ID_LEN];
	int				 rc = 0, err;

	if (len == 0 || len > ROTATION_STATEMENT_MAX ||
	    (st = keygate__rotation_statement__unpack(NULL, len, buf)) == NULL)
		return 0;
	if (st->signature.len != KG_SIG_LEN ||
	    (body = keygate__rotation_body__unpack(NULL, st->body.len,
	    st->body.data)) == NULL ||
	    body->new_public_key.len != KG_PUBKEY_LEN ||
	    body->old_key_id.len != KG_KEY_ID_LEN)
		goto done;
	key_id_compute(body->new_public_key.data, new_id);
	if (trustset_find(ts, new_id) != NULL)
		goto done;			/* known already (or compromised) */
	if ((old = trustset_find(ts, body->old_key_id.data)) == NULL ||
	    old->state == KG_TRUST_COMPROMISED)
		goto done;			/* vouched for by nobody we trust */
	memcpy(old_pk, old->pk, sizeof(old_pk));
	err = keys_verify(old_pk, KG_DOMAIN_ROTATION, st->body.data,
	    st->body.len, st->signature.data);
	if (err == KGE_NOMEM) {
		rc = KG_ERR_NOMEM;
		goto done;
	}
	if (err != KGE_OK)
		goto done;
	if ((err = trustset_add(ts, body->new_public_key.data,
	    KG_TRUST_ACTIVE)) == KGE_NOMEM ||
	    (err == KGE_OK && trustset_add(ts, old_pk,
	    KG_TRUST_RETIRED) == KGE_NOMEM)) {
		rc = KG_ERR_NOMEM;
		goto done;
	}
	rc = err == KGE_OK ? 1 : 0;
 done:
	if (body != NULL)
		keygate__rotation_body__free_unpacked(body, NULL);
	if (st != NULL)
		keygate__rotation_statement__free_unpacked(st, NULL);
	return rc;
}

/*
 * Apply the n statements of rot to ts as a chain, round after round until a
 * round adds no key (see the top). used[i] (when used is not NULL) says
 * whether statement i added a key. The number of keys added, or
 * KG_ERR_NOMEM (ts may then hold some of them).
 */
int
rotation_chain_apply(struct kg_trustset *ts, const struct client_rotation *rot,
    size_t n, bool *used)
{
	size_t	i, round;
	int	added = 0, r, more;

	if (n > ROTATION_STATEMENTS_MAX)
		n = ROTATION_STATEMENTS_MAX;
	if (used != NULL)
		memset(used, 0, n * sizeof(*used));
	for (round = 0, more = 1; more && round <= n; round++) {
		more = 0;
		for (i = 0; i < n; i++) {
			if (used != NULL && used[i])
				continue;
			if ((r = rotation_statement_apply(ts, rot[i].buf,
			    rot[i].len)) < 0)
				return r;
			if (r == 1) {
				if (used != NULL)
					used[i] = true;
				added++;
				more = 1;
			}
		}
	}
	return added;
}

/* Apply the statements kept in the state to the trust set. KG_OK or KG_ERR_NOMEM. */
int
rotation_apply_state(kg_client *c)
{
	int	r;

	if (c->state.nrot == 0 || c->trust.n == 0)
		return KG_OK;
	r = rotation_chain_apply(&c->trust, c->state.rot, c->state.nrot, NULL);
	return r < 0 ? r : KG_OK;
}

/* Whether the reply in buf is signed by a key id that is not in ts. */
static bool
rotation_key_unknown(const struct kg_trustset *ts, const uint8_t *buf, size_t len)
{
	Keygate__Reply	*rep;
	bool		 unknown;

	if ((rep = keygate__reply__unpack(NULL, len, buf)) == NULL)
		return false;
	unknown = rep->key_id.len == KG_KEY_ID_LEN &&
	    trustset_find(ts, rep->key_id.data) == NULL;
	keygate__reply__free_unpacked(rep, NULL);
	return unknown;
}

/*
 * Check the Rotations reply in buf against rq, with ts (the trust set
 * grown by its statements): signed by a trusted key that is not
 * compromised, our nonce and request hash, our protocol, not older than
 * floor. KG_OK or KG_ERR_UNTRUSTED.
 */
static int
rotation_reply_check(const struct kg_trustset *ts, const struct client_req *rq,
    const Keygate__Reply *rep, const Keygate__ReplyBody *body, int64_t floor)
{
	const struct kg_trust_entry	*te;

	if (rep->key_id.len != KG_KEY_ID_LEN || rep->signature.len != KG_SIG_LEN ||
	    (te = trustset_find(ts, rep->key_id.data)) == NULL ||
	    te->state == KG_TRUST_COMPROMISED ||
	    reply_signature_verify(te->pk, rep) != KGE_OK ||
	    body->nonce.len != rq->nonce_len ||
	    sodium_memcmp(body->nonce.data, rq->nonce, rq->nonce_len) != 0 ||
	    body->request_hash.len != KG_HASH_LEN ||
	    sodium_memcmp(body->request_hash.data, rq->hash, KG_HASH_LEN) != 0 ||
	    body->protocol != KG_PROTOCOL_VERSION || body->server_time < floor)
		return KG_ERR_UNTRUSTED;
	return KG_OK;
}

/* Copy ts into a new set. KG_OK or KG_ERR_NOMEM. */
static int
rotation_trust_copy(struct kg_trustset *to, const struct kg_trustset *ts)
{
	size_t	i;

	trustset_init(to);
	for (i = 0; i < ts->n; i++)
		if (trustset_add(to, ts->entry[i].pk, ts->entry[i].state) !=
		    KGE_OK) {
			trustset_clear(to);
			return KG_ERR_NOMEM;
		}
	return KG_OK;
}

/*
 * The reply in buf did not verify. When it names a signing key we do not
 * trust, ask the server for its rotation statements on the kept connection
 * and trust what they prove (see the top). KG_OK when the trust set grew
 * (verify the reply again); KG_ERR_UNTRUSTED when nothing was learned
 * (whatever went wrong: the caller reports the reply as untrusted);
 * KG_ERR_NOMEM.
 */
int
rotation_learn(kg_client *c, const uint8_t *buf, size_t len)
{
	Keygate__Request		 req = KEYGATE__REQUEST__INIT;
	Keygate__RotationsRequest	 rr = KEYGATE__ROTATIONS_REQUEST__INIT;
	Keygate__Reply			*rep = NULL;
	Keygate__ReplyBody		*body = NULL;
	struct client_rotation		 rot[ROTATION_STATEMENTS_MAX];
	struct client_req		 rq;
	struct kg_trustset		 grown;
	bool				 used[ROTATION_STATEMENTS_MAX];
	uint8_t				*reply = NULL;
	size_t				 reply_len = 0, i, n = 0;
	int				 rc = KG_ERR_UNTRUSTED, r;

	memset(&rq, 0, sizeof(rq));
	trustset_init(&grown);
	if (!rotation_key_unknown(&c->trust, buf, len) || c->fd == -1)
		return KG_ERR_UNTRUSTED;
	req.body_case = KEYGATE__REQUEST__BODY_ROTATIONS;
	req.rotations = &rr;
	if ((r = request_build(&rq, &req)) != KG_OK) {
		rc = r == KG_ERR_NOMEM ? r : KG_ERR_UNTRUSTED;
		goto out;
	}
	if (transport_transact_kept(c, &rq, &reply, &reply_len) != 0)
		goto out;
	if ((rep = keygate__reply__unpack(NULL, reply_len, reply)) == NULL ||
	    (body = keygate__reply_body__unpack(NULL, rep->body.len,
	    rep->body.data)) == NULL ||
	    body->result_case != KEYGATE__REPLY_BODY__RESULT_ROTATIONS)
		goto out;
	for (i = 0; i < body->rotations->n_statements &&
	    n < ROTATION_STATEMENTS_MAX; i++) {
		Keygate__RotationStatement	*s = body->rotations->statements[i];
		size_t				 sl;

		sl = keygate__rotation_statement__get_packed_size(s);
		if (sl == 0 || sl > ROTATION_STATEMENT_MAX)
			continue;
		if ((rot[n].buf = malloc(sl)) == NULL) {
			rc = KG_ERR_NOMEM;
			goto out;
		}
		rot[n].len = keygate__rotation_statement__pack(s, rot[n].buf);
		n++;
	}
	if ((r = rotation_trust_copy(&grown, &c->trust)) != KG_OK) {
		rc = r;
		goto out;
	}
	if ((r = rotation_chain_apply(&grown, rot, n, used)) < 0) {
		rc = r;
		goto out;
	}
	if (r == 0 || rotation_reply_check(&grown, &rq, rep, body,
	    c->time_floor) != KG_OK)
		goto out;
	/* Proved: the grown set replaces the trust set; keep the proofs. */
	trustset_clear(&c->trust);
	c->trust = grown;
	trustset_init(&grown);
	for (i = 0; i < n; i++)
		if (used[i] && state_rotation_add(&c->state, rot[i].buf,
		    rot[i].len) == KG_ERR_NOMEM) {
			rc = KG_ERR_NOMEM;
			goto out;
		}
	rc = KG_OK;
 out:
	for (i = 0; i < n; i++)
		free(rot[i].buf);
	trustset_clear(&grown);
	if (body != NULL)
		keygate__reply_body__free_unpacked(body, NULL);
	if (rep != NULL)
		keygate__reply__free_unpacked(rep, NULL);
	free(reply);
	free(rq.frame);
	return rc;
}
