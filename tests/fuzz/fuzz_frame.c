/*
 * Fuzz target: the bytes one client sends on one public TCP connection.
 * They are cut into frames the way conn.c cuts its input (wire_frame_length
 * on the 4-byte header, then the whole frame), and each frame's message goes
 * through dispatch_frame, conn.c's one call per frame: decode and validate
 * (wire.c), the real handlers (check.c, renew.c) against the fuzz daemon's
 * store, and the signed reply frame. A frame over the limit, and a last
 * frame that never completes (conn.c's read timeout), get dispatch's error
 * frame, as conn.c sends them. After an unreadable frame the connection is
 * over. conn.c's own loop is static and tied to a bufferevent, so it is
 * mirrored here rather than called.
 *
 * Every reply is checked as a client would check it: one frame within
 * KG_FRAME_MAX, a Reply signed by the signer's key over the domain-separated
 * body, the body carrying protocol 1, the request's nonce and hash, the
 * server time, and an Error with a reason or a Verdict whose fields fit the
 * request (a re-signed key verifies and names the same license), or for a
 * RotationsRequest its Rotations (none: the fuzz daemon never rotated). Each
 * request is also decoded once more with malloc hooks (under a sanitizer)
 * to check that everything protobuf-c allocates for it is charged to the
 * request's budget (wire.h), and that the budget is never exceeded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "keygate.pb-c.h"
#include "kgerr.h"
#include "license.h"
#include "pbarena.h"
#include "policy.h"
#include "signer.h"
#include "wire.h"

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_MALLOC_HOOKS	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_MALLOC_HOOKS	1
#endif
#endif

#ifdef FUZZ_MALLOC_HOOKS
/* From the sanitizers' allocator interface (sanitizer/allocator_interface.h). */
int	__sanitizer_install_malloc_and_free_hooks(
	    void (*)(const volatile void *, size_t),
	    void (*)(const volatile void *));
#endif

static struct fuzz_daemon	fdm;

/* Allocations seen while hook_on (only during one request's decode). */
static volatile int	hook_on;
static size_t		hook_bytes, hook_count;

#ifdef FUZZ_MALLOC_HOOKS
static void
hook_malloc(const volatile void *p, size_t n)
{
	(void)p;
	if (hook_on) {
		hook_bytes += n;
		hook_count++;
	}
}

static void
hook_free(const volatile void *p)
{
	(void)p;
}
#endif

static void
daemon_close(void)
{
	fuzz_daemon_close(&fdm);
}

/* Set up the fuzz daemon once per process. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t	a[KG_PUBKEY_LEN], b[KG_PUBKEY_LEN];

	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_corpus_pubkeys(a, b);
	fuzz_daemon_open(&fdm, fuzz_tmpdir("fuzz_frame"), a, b);
	FUZZ_CHECK(atexit(daemon_close) == 0);
#ifdef FUZZ_MALLOC_HOOKS
	FUZZ_CHECK(__sanitizer_install_malloc_and_free_hooks(hook_malloc,
	    hook_free) != 0);
#endif
	return 0;
}

/*
 * Decode msg as dispatch_frame will, counting what is allocated: all of it
 * goes through the request's budget, which it never exceeds.
 */
static enum wire_decode
budget_decode(const uint8_t *msg, size_t len, struct wire_request *req)
{
	size_t			budget = wire_budget_for(fdm.d.conf.frame_max);
	enum wire_decode	dec;

	hook_bytes = hook_count = 0;
	hook_on = 1;
	dec = wire_request_decode(msg, len, budget, req);
	hook_on = 0;
	FUZZ_CHECK(req->arena.total <= budget);
	FUZZ_CHECK(req->arena.total + req->arena.left == budget);
	/* Each heap block carries the arena's header, which is not charged. */
	FUZZ_CHECK(hook_bytes <= req->arena.total +
	    hook_count * PB_ARENA_BLOCK_HEADER);
	FUZZ_CHECK((dec == WIRE_DECODE_UNREADABLE) == (req->msg == NULL));
	FUZZ_CHECK((dec == WIRE_DECODE_OK) == (req->reason == KG_REASON_OK));
	return dec;
}

/* The key text the request presented, or NULL. */
static const char *
request_key(const Keygate__Request *m)
{
	if (m == NULL)
		return NULL;
	switch (m->body_case) {
	case KEYGATE__REQUEST__BODY_CHECK:
		return m->check->key;
	case KEYGATE__REQUEST__BODY_STATUS:
		return m->status->key;
	case KEYGATE__REQUEST__BODY_ACTIVATE:
		return m->activate->key;
	default:
		return NULL;
	}
}

static void
verdict_check(const Keygate__Verdict *v, const struct wire_request *req)
{
	static const char	*verdicts[] = { "update", "fallback", "current",
	    "demo" };
	struct kg_license	 key, asked;
	const char		*text;
	bool			 known = false;
	size_t			 i;

	FUZZ_CHECK(v->reason != NULL && v->reason[0] != '\0');
	FUZZ_CHECK(req != NULL && req->msg != NULL);
	if (req->msg->body_case == KEYGATE__REQUEST__BODY_CHECK) {
		for (i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
			known = known || strcmp(v->verdict, verdicts[i]) == 0;
		FUZZ_CHECK(known);
	} else
		FUZZ_CHECK(v->verdict[0] == '\0');
	if (v->key == NULL || v->key[0] == '\0')
		return;
	/* A re-signed key: the signer's, and the license that was presented. */
	FUZZ_CHECK(license_key_parse(v->key, strlen(v->key), &fdm.d.trust,
	    &key) == KGE_OK);
	FUZZ_CHECK(memcmp(key.key_id, signer_key_id(fdm.d.signer),
	    KG_KEY_ID_LEN) == 0);
	text = request_key(req->msg);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(license_key_parse(text, strlen(text), &fdm.d.trust,
	    &asked) == KGE_OK);
	FUZZ_CHECK(key.serial == asked.serial);
	FUZZ_CHECK(strcmp(key.regno, asked.regno) == 0);
	FUZZ_CHECK(key.revision > asked.revision);
}

/*
 * Check one reply frame. req is the request it answers (NULL for an error
 * frame about no request), msg its bytes; reason, when not NULL, the Error
 * reason it must carry.
 */
static void
reply_check(const uint8_t *frame, size_t framelen, const uint8_t *msg,
    size_t msglen, const struct wire_request *req, const char *reason)
{
	Keygate__Reply		*rep;
	Keygate__ReplyBody	*body;
	uint8_t			 hash[KG_HASH_LEN];
	uint32_t		 len;
	int64_t			 now = daemon_now(&fdm.d);

	FUZZ_CHECK(wire_frame_length(frame, framelen, KG_FRAME_MAX, &len) ==
	    WIRE_FRAME_OK);
	FUZZ_CHECK(len == framelen - WIRE_HEADER_LEN);
	rep = keygate__reply__unpack(NULL, len, frame + WIRE_HEADER_LEN);
	FUZZ_CHECK(rep != NULL);
	FUZZ_CHECK(rep->key_id.len == KG_KEY_ID_LEN && memcmp(rep->key_id.data,
	    signer_key_id(fdm.d.signer), KG_KEY_ID_LEN) == 0);
	FUZZ_CHECK(rep->signature.len == KG_SIG_LEN);
	FUZZ_CHECK(keys_verify(signer_pubkey(fdm.d.signer), KG_DOMAIN_REPLY,
	    rep->body.data, rep->body.len, rep->signature.data) == KGE_OK);
	body = keygate__reply_body__unpack(NULL, rep->body.len, rep->body.data);
	FUZZ_CHECK(body != NULL);
	FUZZ_CHECK(body->protocol == KG_PROTOCOL_VERSION);
	FUZZ_CHECK(body->test_clock);
	FUZZ_CHECK(body->server_time >= now - 5 && body->server_time <= now + 5);
	if (req != NULL) {
		crypto_generichash(hash, sizeof(hash), msg, msglen, NULL, 0);
		FUZZ_CHECK(body->request_hash.len == KG_HASH_LEN &&
		    memcmp(body->request_hash.data, hash, KG_HASH_LEN) == 0);
		FUZZ_CHECK(body->nonce.len == req->nonce_len);
		FUZZ_CHECK(req->nonce_len == 0 ||
		    memcmp(body->nonce.data, req->nonce, req->nonce_len) == 0);
	} else
		FUZZ_CHECK(body->request_hash.len == 0 && body->nonce.len == 0);

	switch (body->result_case) {
	case KEYGATE__REPLY_BODY__RESULT_ERROR:
		FUZZ_CHECK(body->error->reason != NULL &&
		    body->error->reason[0] != '\0');
		if (reason != NULL)
			FUZZ_CHECK(strcmp(body->error->reason, reason) == 0);
		break;
	case KEYGATE__REPLY_BODY__RESULT_VERDICT:
		FUZZ_CHECK(reason == NULL);
		verdict_check(body->verdict, req);
		break;
	case KEYGATE__REPLY_BODY__RESULT_ROTATIONS:
		/* Only a RotationsRequest; the fuzz daemon has no rotation. */
		FUZZ_CHECK(reason == NULL && req != NULL && req->msg != NULL &&
		    req->msg->body_case == KEYGATE__REQUEST__BODY_ROTATIONS);
		FUZZ_CHECK(body->rotations->n_statements == 0);
		break;
	default:
		FUZZ_CHECK(!"a reply without a result");
	}
	keygate__reply_body__free_unpacked(body, NULL);
	keygate__reply__free_unpacked(rep, NULL);
}

/* dispatch_error_frame, as conn.c sends it, and its check. */
static void
error_frame(const char *reason, const char *detail)
{
	uint8_t	*frame;
	size_t	 framelen;

	FUZZ_CHECK(dispatch_error_frame(&fdm.d, &fdm.peer, reason, detail,
	    &frame, &framelen) == 0);
	reply_check(frame, framelen, NULL, 0, NULL, reason);
	free(frame);
}

/* One complete frame's message: dispatch it and check the reply. Close? */
static bool
frame_answer(const uint8_t *data, size_t len)
{
	struct wire_request	 req;
	enum wire_decode	 dec;
	uint8_t			*msg, *frame;
	size_t			 framelen;
	bool			 close_after;

	/* An exact copy, so reading past the message is caught. */
	FUZZ_CHECK((msg = malloc(len == 0 ? 1 : len)) != NULL);
	if (len > 0)
		memcpy(msg, data, len);
	dec = budget_decode(msg, len, &req);
	FUZZ_CHECK(dispatch_frame(&fdm.d, &fdm.peer, msg, len, &frame,
	    &framelen, &close_after) == 0);
	reply_check(frame, framelen, msg, len, &req,
	    dec == WIRE_DECODE_OK ? NULL : reason_name(req.reason));
	FUZZ_CHECK(close_after == (dec == WIRE_DECODE_UNREADABLE));
	free(frame);
	wire_request_clear(&req);
	free(msg);
	return close_after;
}

/* One connection's bytes. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		off = 0;
	uint32_t	len = 0;

	for (;;) {
		switch (wire_frame_length(data + off, size - off,
		    fdm.d.conf.frame_max, &len)) {
		case WIRE_FRAME_NEED_MORE:
			if (off < size)
				error_frame("bad_request", "incomplete frame: a "
				    "request must arrive within 10 seconds");
			goto done;
		case WIRE_FRAME_TOO_LARGE:
			error_frame("frame_too_large", "frame over this "
			    "server's limit");
			goto done;
		case WIRE_FRAME_EMPTY:
		case WIRE_FRAME_OK:
			break;
		}
		if (size - off - WIRE_HEADER_LEN < len) {
			error_frame("bad_request", "incomplete frame: a request "
			    "must arrive within 10 seconds");
			goto done;
		}
		if (frame_answer(data + off + WIRE_HEADER_LEN, len))
			goto done;
		off += WIRE_HEADER_LEN + len;
	}
done:
	fuzz_daemon_reset(&fdm);
	return 0;
}
