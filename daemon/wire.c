/*
 * The public wire's bytes (SPEC section 4): frame headers, request decoding
 * under an allocation budget, request validation and signed reply frames.
 * Nothing here touches a socket or the daemon's state, so a fuzzer or a unit
 * test can drive every function with arbitrary bytes.
 *
 * Decisions made here:
 * - A zero-length frame carries no request at all: it is unreadable
 *   (bad_request, then close), not a Request with every field unset.
 * - The protocol version is checked before every other field, so a client
 *   of another protocol version always learns that first.
 * - A nonce of at most KG_NONCE_MAX bytes is echoed even in an Error reply
 *   about that very nonce (too short), so the client can match the reply.
 * - Error replies to a request that was read carry its request_hash; only a
 *   frame that was never read (too large) gets an empty one.
 */
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keygate.pb-c.h"
#include "keys.h"
#include "kglimits.h"
#include "log.h"
#include "merkle.h"
#include "signer.h"
#include "wire.h"

#define WIRE_BUDGET_MIN		(16 * 1024)

/* Read a frame header: see wire.h. */
enum wire_frame
wire_frame_length(const uint8_t *buf, size_t avail, uint32_t frame_max,
    uint32_t *len)
{
	uint32_t	n;

	if (avail < WIRE_HEADER_LEN)
		return WIRE_FRAME_NEED_MORE;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	    (uint32_t)buf[2] << 8 | (uint32_t)buf[3];
	*len = n;
	if (n == 0)
		return WIRE_FRAME_EMPTY;
	if (n > frame_max)
		return WIRE_FRAME_TOO_LARGE;
	return WIRE_FRAME_OK;
}

/* The allocation budget for frames of at most frame_max bytes. */
size_t
wire_budget_for(uint32_t frame_max)
{
	size_t	b = (size_t)frame_max * 4;

	return b < WIRE_BUDGET_MIN ? WIRE_BUDGET_MIN : b;
}

/* A string field present and at most max bytes (empty allowed when min is 0). */
static bool
field_ok(const char *s, size_t min, size_t max)
{
	size_t	n;

	if (s == NULL)
		return min == 0;
	n = strnlen(s, max + 1);
	return n >= min && n <= max;
}

static enum wire_decode
request_invalid(struct wire_request *req, enum kg_reason reason,
    const char *detail)
{
	req->reason = reason;
	req->detail = detail;
	return WIRE_DECODE_INVALID;
}

/* The body's fields within their limits; versions are parsed by the handler. */
static enum wire_decode
request_body_check(struct wire_request *req)
{
	const Keygate__Request	*m = req->msg;

	switch (m->body_case) {
	case KEYGATE__REQUEST__BODY_CHECK:
		if (m->check == NULL || !field_ok(m->check->key, 1, KG_KEY_TEXT_MAX))
			return request_invalid(req, KG_REASON_BAD_REQUEST,
			    "check: key must be 1 to 4096 bytes of key text");
		if (!field_ok(m->check->product, 1, KG_CODE_MAX))
			return request_invalid(req, KG_REASON_BAD_REQUEST,
			    "check: product must be a code of 1 to 32 bytes");
		if (!field_ok(m->check->version, 1, KG_VERSION_TEXT_MAX - 1))
			return request_invalid(req, KG_REASON_BAD_VERSION,
			    "check: version must be the installed version, e.g. 2.0.10");
		if (!field_ok(m->check->target, 0, KG_VERSION_TEXT_MAX - 1))
			return request_invalid(req, KG_REASON_BAD_VERSION,
			    "check: target is too long to be a version");
		break;
	case KEYGATE__REQUEST__BODY_STATUS:
		if (m->status == NULL || !field_ok(m->status->key, 1, KG_KEY_TEXT_MAX))
			return request_invalid(req, KG_REASON_BAD_REQUEST,
			    "status: key must be 1 to 4096 bytes of key text");
		break;
	case KEYGATE__REQUEST__BODY_ACTIVATE:
		if (m->activate == NULL ||
		    !field_ok(m->activate->key, 1, KG_KEY_TEXT_MAX))
			return request_invalid(req, KG_REASON_BAD_REQUEST,
			    "activate: key must be 1 to 4096 bytes of key text");
		if (!field_ok(m->activate->act, 1, KG_CODE_MAX))
			return request_invalid(req, KG_REASON_BAD_REQUEST,
			    "activate: act must be a number of 1 to 32 bytes");
		break;
	case KEYGATE__REQUEST__BODY_ROTATIONS:
		break;		/* no fields */
	default:
		return request_invalid(req, KG_REASON_BAD_REQUEST,
		    "request has no body: send one of check, status, activate, "
		    "rotations");
	}
	return WIRE_DECODE_OK;
}

/* Decode and validate one request message: see wire.h. */
enum wire_decode
wire_request_decode(const uint8_t *buf, size_t len, size_t budget,
    struct wire_request *req)
{
	/* Not arena_buf: the arena hands out its bytes, protobuf-c sets them. */
	memset(req, 0, offsetof(struct wire_request, arena_buf));
	req->reason = KG_REASON_OK;
	req->detail = "";
	pb_arena_init(&req->arena, req->arena_buf, sizeof(req->arena_buf),
	    budget);
	crypto_generichash(req->hash, sizeof(req->hash), buf, len, NULL, 0);

	if (len == 0) {
		req->reason = KG_REASON_BAD_REQUEST;
		req->detail = "empty frame: expected a keygate Request message";
		return WIRE_DECODE_UNREADABLE;
	}
	req->msg = keygate__request__unpack(&req->arena.alloc, len, buf);
	if (req->msg == NULL) {
		req->reason = KG_REASON_BAD_REQUEST;
		req->detail = "frame is not a keygate Request message";
		return WIRE_DECODE_UNREADABLE;
	}
	if (req->msg->nonce.len <= KG_NONCE_MAX && req->msg->nonce.data != NULL) {
		memcpy(req->nonce, req->msg->nonce.data, req->msg->nonce.len);
		req->nonce_len = req->msg->nonce.len;
	}
	if (req->msg->protocol != KG_PROTOCOL_VERSION)
		return request_invalid(req, KG_REASON_PROTOCOL_VERSION,
		    "unsupported protocol version: this keygated speaks protocol 1");
	if (req->msg->nonce.len < KG_NONCE_MIN || req->msg->nonce.len > KG_NONCE_MAX)
		return request_invalid(req, KG_REASON_BAD_REQUEST,
		    "nonce must be 16 to 64 random bytes");
	return request_body_check(req);
}

/* Free what wire_request_decode unpacked. */
void
wire_request_clear(struct wire_request *req)
{
	/* Everything unpacked came from the arena: give it back whole. */
	if (req->msg != NULL)
		pb_arena_release(&req->arena);
	req->msg = NULL;
}

/* The request's type for logs. */
const char *
wire_request_type(const Keygate__Request *msg)
{
	if (msg == NULL)
		return "none";
	switch (msg->body_case) {
	case KEYGATE__REQUEST__BODY_CHECK:
		return "check";
	case KEYGATE__REQUEST__BODY_STATUS:
		return "status";
	case KEYGATE__REQUEST__BODY_ACTIVATE:
		return "activate";
	case KEYGATE__REQUEST__BODY_ROTATIONS:
		return "rotations";
	default:
		return "none";
	}
}

/* Fill body (and error, which it may point to) from r. */
static void
wire_reply_body_fill(const struct wire_reply *r, Keygate__ReplyBody *body,
    Keygate__Error *error)
{
	keygate__reply_body__init(body);
	keygate__error__init(error);
	body->protocol = KG_PROTOCOL_VERSION;
	if (r->nonce != NULL && r->nonce_len > 0) {
		body->nonce.data = (uint8_t *)r->nonce;
		body->nonce.len = r->nonce_len;
	}
	if (r->request_hash != NULL) {
		body->request_hash.data = (uint8_t *)r->request_hash;
		body->request_hash.len = KG_HASH_LEN;
	}
	body->server_time = r->server_time;
	body->test_clock = r->test_clock;
	if (r->verdict != NULL) {
		body->result_case = KEYGATE__REPLY_BODY__RESULT_VERDICT;
		body->verdict = r->verdict;
	} else if (r->rotations != NULL) {
		body->result_case = KEYGATE__REPLY_BODY__RESULT_ROTATIONS;
		body->rotations = r->rotations;
	} else {
		error->reason = (char *)(r->error_reason != NULL ?
		    r->error_reason : "internal");
		if (r->error_detail != NULL)
			error->detail = (char *)r->error_detail;
		body->result_case = KEYGATE__REPLY_BODY__RESULT_ERROR;
		body->error = error;
	}
}

/*
 * Bounds of packed fields: a tag of up to 2 bytes (field numbers to 2047)
 * and a varint or length prefix of up to 10, then the text itself.
 */
#define WIRE_FIELD_MAX	(2 + 10)

static size_t
wire_text_max(const char *s)
{
	return WIRE_FIELD_MAX + (s != NULL ? strlen(s) : 0);
}

/* Every field of a Verdict, with its Quote and Renewal (see wire.h). */
static size_t
wire_verdict_max(const Keygate__Verdict *v)
{
	size_t	n;

	n = wire_text_max(v->verdict) + wire_text_max(v->reason) +
	    wire_text_max(v->eligible) + wire_text_max(v->latest) +
	    wire_text_max(v->key) + wire_text_max(v->regno) +
	    wire_text_max(v->licensee) + wire_text_max(v->product) +
	    wire_text_max(v->edition) + wire_text_max(v->state) +
	    wire_text_max(v->detail);
	/* support_expiry, license_expiry, days_left, retry_after */
	n += 4 * WIRE_FIELD_MAX;
	if (v->quote != NULL)	/* kind, price, new_expiry */
		n += WIRE_FIELD_MAX + wire_text_max(v->quote->kind) +
		    2 * WIRE_FIELD_MAX;
	if (v->renewal != NULL)	/* kind, act, price, new_expiry, months */
		n += WIRE_FIELD_MAX + wire_text_max(v->renewal->kind) +
		    wire_text_max(v->renewal->act) + 3 * WIRE_FIELD_MAX;
	return n;
}

/* At least the packed size of r's ReplyBody: see wire.h. */
size_t
wire_reply_body_max(const struct wire_reply *r)
{
	size_t	n;

	/* protocol, nonce, request_hash, server_time, test_clock, the result */
	n = 6 * WIRE_FIELD_MAX + r->nonce_len + KG_HASH_LEN;
	if (r->verdict != NULL)
		n += wire_verdict_max(r->verdict);
	else if (r->rotations != NULL)
		n += keygate__rotations__get_packed_size(r->rotations);
	else
		n += wire_text_max(r->error_reason != NULL ? r->error_reason :
		    "internal") + wire_text_max(r->error_detail);
	return n;
}

/* The packed size of r's ReplyBody: see wire.h. */
size_t
wire_reply_body_size(const struct wire_reply *r)
{
	Keygate__ReplyBody	body;
	Keygate__Error		error;

	wire_reply_body_fill(r, &body, &error);
	return keygate__reply_body__get_packed_size(&body);
}

/* Pack r's ReplyBody: see wire.h. */
size_t
wire_reply_body_pack(const struct wire_reply *r, uint8_t *out)
{
	Keygate__ReplyBody	body;
	Keygate__Error		error;

	wire_reply_body_fill(r, &body, &error);
	return keygate__reply_body__pack(&body, out);
}

/* Fill reply from a signed body; path points into the caller's array. */
static void
wire_reply_fill(Keygate__Reply *reply, const struct wire_signed *ws,
    ProtobufCBinaryData path[KG_MERKLE_DEPTH_MAX])
{
	size_t	i;

	keygate__reply__init(reply);
	reply->body.data = (uint8_t *)ws->body;
	reply->body.len = ws->bodylen;
	reply->signature.data = (uint8_t *)ws->sig;
	reply->signature.len = KG_SIG_LEN;
	reply->key_id.data = (uint8_t *)ws->key_id;
	reply->key_id.len = KG_KEY_ID_LEN;
	reply->batch_index = ws->index;
	for (i = 0; i < ws->depth && i < KG_MERKLE_DEPTH_MAX; i++) {
		path[i].data = (uint8_t *)ws->path[i];
		path[i].len = KG_MERKLE_HASH_LEN;
	}
	reply->n_batch_path = i;
	reply->batch_path = i > 0 ? path : NULL;
}

/*
 * At least the size of a signed reply's frame: see wire.h. Each field of
 * Reply is a one-byte tag, a length (a varint of at most 10 bytes; 1 byte
 * for the fixed sizes under 128) and its bytes; batch_index is a tag and a
 * varint of at most 5 bytes.
 */
size_t
wire_reply_frame_max(const struct wire_signed *ws)
{
	size_t	depth = ws->depth < KG_MERKLE_DEPTH_MAX ? ws->depth :
	    KG_MERKLE_DEPTH_MAX;

	return WIRE_HEADER_LEN + (1 + 10 + ws->bodylen) + (2 + KG_SIG_LEN) +
	    (2 + KG_KEY_ID_LEN) + (1 + 5) + depth * (2 + KG_MERKLE_HASH_LEN);
}

/* Pack a signed reply's frame: see wire.h. */
size_t
wire_reply_frame_pack(const struct wire_signed *ws, uint8_t *out)
{
	Keygate__Reply		reply;
	ProtobufCBinaryData	path[KG_MERKLE_DEPTH_MAX];
	size_t			len;
	uint32_t		nbo;

	wire_reply_fill(&reply, ws, path);
	len = keygate__reply__pack(&reply, out + WIRE_HEADER_LEN);
	nbo = htonl((uint32_t)len);
	memcpy(out, &nbo, WIRE_HEADER_LEN);
	return WIRE_HEADER_LEN + len;
}

/* Build, sign and frame one reply: see wire.h. */
int
wire_reply_encode(struct signer *s, const struct wire_reply *r,
    uint8_t **frame, size_t *len)
{
	struct wire_signed	 ws;
	uint8_t			 sig[KG_SIG_LEN];
	uint8_t			*bodybuf = NULL, *out = NULL;
	size_t			 bodylen, flen;

	*frame = NULL;
	*len = 0;
	bodylen = wire_reply_body_size(r);
	if ((bodybuf = malloc(bodylen == 0 ? 1 : bodylen)) == NULL) {
		log_error("%s: out of memory", __func__);
		goto fail;
	}
	wire_reply_body_pack(r, bodybuf);
	if (signer_sign(s, KG_DOMAIN_REPLY, bodybuf, bodylen, sig) != 0) {
		log_error("%s: cannot sign the reply", __func__);
		goto fail;
	}
	memset(&ws, 0, sizeof(ws));
	ws.body = bodybuf;
	ws.bodylen = bodylen;
	ws.sig = sig;
	ws.key_id = signer_key_id(s);
	flen = wire_reply_frame_max(&ws);
	if (flen - WIRE_HEADER_LEN > UINT32_MAX || (out = malloc(flen)) == NULL) {
		log_error("%s: out of memory", __func__);
		goto fail;
	}
	flen = wire_reply_frame_pack(&ws, out);
	free(bodybuf);
	*frame = out;
	*len = flen;
	return 0;
fail:
	free(bodybuf);
	free(out);
	return -1;
}
