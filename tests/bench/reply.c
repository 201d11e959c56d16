/*
 * kgbench's checks of one reply from keygated (SPEC section 4,
 * proto/keygate.proto): a Reply whose body is a ReplyBody that carries the
 * request's nonce, and, for the sampled replies, an Ed25519 signature by a
 * trusted key (directly over "keygate-reply-v1\0" || body, or over the root
 * of a batch's Merkle tree that the reply's index and path lead to:
 * merkle_reply_verify) and the BLAKE2b-256 of the request's bytes. This is the one place that knows how a reply is signed:
 * when the daemon signs replies differently, this is what must follow.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "keygate.pb-c.h"

#include "bench.h"
#include "kgerr.h"
#include "merkle.h"

/* Is r's signature good and does b answer the request of hash? */
static bool
reply_signature_ok(const struct kg_trustset *ts, const Keygate__Reply *r,
    const Keygate__ReplyBody *b, const uint8_t *hash)
{
	const struct kg_trust_entry	*te;
	uint8_t				 path[KG_MERKLE_DEPTH_MAX][KG_MERKLE_HASH_LEN];
	size_t				 i;

	if (r->n_batch_path > KG_MERKLE_DEPTH_MAX)
		return false;
	for (i = 0; i < r->n_batch_path; i++) {
		if (r->batch_path[i].len != KG_MERKLE_HASH_LEN)
			return false;
		memcpy(path[i], r->batch_path[i].data, KG_MERKLE_HASH_LEN);
	}
	if (r->key_id.len != KG_KEY_ID_LEN ||
	    (te = trustset_find(ts, r->key_id.data)) == NULL ||
	    te->state == KG_TRUST_COMPROMISED ||
	    r->signature.len != KG_SIG_LEN)
		return false;
	if (merkle_reply_verify(te->pk, r->body.data, r->body.len,
	    r->signature.data, r->batch_index,
	    (const uint8_t (*)[KG_MERKLE_HASH_LEN])path, r->n_batch_path) != KGE_OK)
		return false;
	return b->request_hash.len == KG_HASH_LEN &&
	    sodium_memcmp(b->request_hash.data, hash, KG_HASH_LEN) == 0;
}

/* Decode a reply, check its nonce and, with hash, its signature. */
void
reply_inspect(const struct kg_trustset *ts, const uint8_t *buf, size_t len,
    const uint8_t *nonce, size_t nonce_len, const uint8_t *hash,
    struct reply_info *info)
{
	Keygate__Reply		*r = NULL;
	Keygate__ReplyBody	*b = NULL;
	const char		*reason = "";

	memset(info, 0, sizeof(*info));
	info->result = REPLY_BAD;
	if ((r = keygate__reply__unpack(NULL, len, buf)) == NULL ||
	    (b = keygate__reply_body__unpack(NULL, r->body.len,
	    r->body.data)) == NULL) {
		reason = "undecodable reply";
		goto done;
	}
	if (b->nonce.len != nonce_len ||
	    memcmp(b->nonce.data, nonce, nonce_len) != 0) {
		reason = "reply with another nonce";
		goto done;
	}
	if (b->result_case == KEYGATE__REPLY_BODY__RESULT_VERDICT &&
	    b->verdict != NULL) {
		info->result = REPLY_VERDICT;
		info->demo = strcmp(b->verdict->verdict, "demo") == 0;
		info->renewed = b->verdict->renewal != NULL;
		reason = b->verdict->reason;
	} else {
		info->result = REPLY_ERROR;
		reason = b->result_case == KEYGATE__REPLY_BODY__RESULT_ERROR &&
		    b->error != NULL ? b->error->reason : "reply without a result";
	}
	info->batched = r->n_batch_path > 0;
	if (hash != NULL)
		info->verified = reply_signature_ok(ts, r, b, hash);
done:
	snprintf(info->reason, sizeof(info->reason), "%s", reason);
	if (b != NULL)
		keygate__reply_body__free_unpacked(b, NULL);
	if (r != NULL)
		keygate__reply__free_unpacked(r, NULL);
}
