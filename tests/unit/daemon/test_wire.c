/*
 * Unit tests of daemon/wire.c (frame headers, request decoding under a
 * budget, signed replies) and of dispatch.c's answers to requests that never
 * reach a handler (unreadable frames, bad fields). Hostile inputs sit next to
 * the happy ones: zero length, 2^32-1, the limit and one above, truncated
 * messages, random bytes (fixed seed), an HTTP request as a frame header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "daemon.h"
#include "dispatch.h"
#include "keygate.pb-c.h"
#include "kgerr.h"
#include "keys.h"
#include "merkle.h"
#include "signer.h"
#include "wire.h"

#define FRAME_MAX	65536

static char		 tmpdir[] = "/tmp/kg-test-wire-XXXXXX";
static char		 keypath[sizeof(tmpdir) + 16];
static struct signer	*signer;
static uint8_t		 pk[KG_PUBKEY_LEN];

/* A fixed signing key in a temporary key file, opened as the daemon would. */
static int
setup(void **state)
{
	struct kg_keypair	*kp;
	uint8_t			 seed[32];
	char			 err[256];

	(void)state;
	if (sodium_init() < 0 || mkdtemp(tmpdir) == NULL)
		return -1;
	memset(seed, 0x42, sizeof(seed));
	if ((kp = keypair_from_seed_new(seed)) == NULL)
		return -1;
	memcpy(pk, kp->pk, sizeof(pk));
	snprintf(keypath, sizeof(keypath), "%s/signing.key", tmpdir);
	if (keyfile_write(keypath, kp, NULL, 0, 0) != KGE_OK) {
		keypair_free(kp);
		return -1;
	}
	keypair_free(kp);
	return signer_open(keypath, NULL, &signer, err, sizeof(err)) == KGE_OK ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	signer_close(signer);
	unlink(keypath);
	rmdir(tmpdir);
	return 0;
}

/* Pack a request; returns a malloc'd buffer of *len bytes. */
static uint8_t *
pack_request(const Keygate__Request *r, size_t *len)
{
	uint8_t	*buf;

	*len = keygate__request__get_packed_size(r);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	keygate__request__pack(r, buf);
	return buf;
}

/* A valid check request with a 16-byte nonce of 0xAB. */
static uint8_t *
check_request(uint32_t protocol, size_t nonce_len, const char *key,
    const char *product, const char *version, size_t *len)
{
	static uint8_t		nonce[128];
	Keygate__Request	r = KEYGATE__REQUEST__INIT;
	Keygate__CheckRequest	c = KEYGATE__CHECK_REQUEST__INIT;

	memset(nonce, 0xab, sizeof(nonce));
	r.protocol = protocol;
	r.nonce.data = nonce;
	r.nonce.len = nonce_len;
	c.key = (char *)key;
	c.product = (char *)product;
	c.version = (char *)version;
	r.body_case = KEYGATE__REQUEST__BODY_CHECK;
	r.check = &c;
	return pack_request(&r, len);
}

static void
test_frame_length(void **state)
{
	static const struct {
		uint8_t		hdr[4];
		size_t		avail;
		enum wire_frame	want;
		uint32_t	len;
	} cases[] = {
		{ { 0, 0, 0, 0 }, 4, WIRE_FRAME_EMPTY, 0 },
		{ { 0xff, 0xff, 0xff, 0xff }, 4, WIRE_FRAME_TOO_LARGE, 0xffffffffu },
		{ { 0x80, 0, 0, 0 }, 4, WIRE_FRAME_TOO_LARGE, 0x80000000u },
		{ { 0, 1, 0, 1 }, 4, WIRE_FRAME_TOO_LARGE, FRAME_MAX + 1 },
		{ { 0, 1, 0, 0 }, 4, WIRE_FRAME_OK, FRAME_MAX },
		{ { 0, 0, 0, 1 }, 4, WIRE_FRAME_OK, 1 },
		{ { 0, 0, 1, 2 }, 4, WIRE_FRAME_OK, 258 },
		{ { 0, 0, 0, 0 }, 0, WIRE_FRAME_NEED_MORE, 7 },
		{ { 0, 0, 1, 2 }, 3, WIRE_FRAME_NEED_MORE, 7 },
		/* "GET " of "GET / HTTP/1.0\r\n\r\n" */
		{ { 'G', 'E', 'T', ' ' }, 4, WIRE_FRAME_TOO_LARGE, 0x47455420u },
		/* "POST" */
		{ { 'P', 'O', 'S', 'T' }, 4, WIRE_FRAME_TOO_LARGE, 0x504f5354u },
	};
	size_t		i;
	uint32_t	len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = 7;
		assert_int_equal(wire_frame_length(cases[i].hdr, cases[i].avail,
		    FRAME_MAX, &len), cases[i].want);
		assert_int_equal(len, cases[i].len);
	}
}

static void
test_frame_http_get(void **state)
{
	const char	*get = "GET / HTTP/1.0\r\n\r\n";
	uint32_t	 len = 0;

	(void)state;
	assert_int_equal(wire_frame_length((const uint8_t *)get, strlen(get),
	    FRAME_MAX, &len), WIRE_FRAME_TOO_LARGE);
	assert_int_equal(len, 1195725856u);
	/* Even a limit of 1 GiB refuses it: "GET " is more than 1.1e9. */
	assert_int_equal(wire_frame_length((const uint8_t *)get, strlen(get),
	    1u << 30, &len), WIRE_FRAME_TOO_LARGE);
}

static void
test_decode_valid(void **state)
{
	struct wire_request	 req;
	uint8_t			*buf, hash[KG_HASH_LEN], nonce[16];
	size_t			 len;

	(void)state;
	buf = check_request(KG_PROTOCOL_VERSION, 16, "KG1.abc.def", "PROD",
	    "2.0.10", &len);
	assert_int_equal(wire_request_decode(buf, len, wire_budget_for(FRAME_MAX),
	    &req), WIRE_DECODE_OK);
	assert_int_equal(req.reason, KG_REASON_OK);
	assert_non_null(req.msg);
	assert_int_equal(req.msg->body_case, KEYGATE__REQUEST__BODY_CHECK);
	assert_string_equal(req.msg->check->key, "KG1.abc.def");
	assert_string_equal(req.msg->check->product, "PROD");
	assert_string_equal(req.msg->check->version, "2.0.10");
	assert_string_equal(req.msg->check->target, "");
	assert_string_equal(wire_request_type(req.msg), "check");
	memset(nonce, 0xab, sizeof(nonce));
	assert_int_equal(req.nonce_len, 16);
	assert_memory_equal(req.nonce, nonce, 16);
	crypto_generichash(hash, sizeof(hash), buf, len, NULL, 0);
	assert_memory_equal(req.hash, hash, KG_HASH_LEN);
	/* A usual request is unpacked into the request's own arena. */
	assert_true(req.arena.total > 0);
	assert_true(req.arena.total < 1024);
	assert_true(req.arena.used >= req.arena.total);
	assert_true(req.arena.used <= sizeof(req.arena_buf));
	wire_request_clear(&req);
	assert_null(req.msg);
	wire_request_clear(&req);	/* twice is harmless */

	/* The budget bounds the unpack: one byte short of it fails. */
	assert_int_equal(wire_request_decode(buf, len, 16, &req),
	    WIRE_DECODE_UNREADABLE);
	assert_null(req.msg);
	wire_request_clear(&req);
	free(buf);
}

/* A request bigger than the arena spills to the heap and frees all of it. */
static void
test_decode_spills_to_heap(void **state)
{
	char			 key[KG_KEY_TEXT_MAX + 1];
	struct wire_request	 req;
	uint8_t			*buf;
	size_t			 len;

	(void)state;
	memset(key, 'K', KG_KEY_TEXT_MAX);
	key[KG_KEY_TEXT_MAX] = '\0';
	buf = check_request(1, 16, key, "PROD", "1.0", &len);
	assert_int_equal(wire_request_decode(buf, len, wire_budget_for(FRAME_MAX),
	    &req), WIRE_DECODE_OK);
	assert_true(req.arena.total > sizeof(req.arena_buf));
	assert_int_equal(strlen(req.msg->check->key), KG_KEY_TEXT_MAX);
	assert_string_equal(req.msg->check->product, "PROD");
	wire_request_clear(&req);	/* ASan: nothing leaks, nothing freed twice */

	/* Under a budget smaller than the key the unpack fails cleanly. */
	assert_int_equal(wire_request_decode(buf, len, KG_KEY_TEXT_MAX, &req),
	    WIRE_DECODE_UNREADABLE);
	wire_request_clear(&req);
	free(buf);
}

static void
test_decode_status_and_activate(void **state)
{
	Keygate__Request		r = KEYGATE__REQUEST__INIT;
	Keygate__StatusRequest		s = KEYGATE__STATUS_REQUEST__INIT;
	Keygate__ActivateRequest	a = KEYGATE__ACTIVATE_REQUEST__INIT;
	struct wire_request		req;
	uint8_t				nonce[64], *buf;
	size_t				len;

	(void)state;
	memset(nonce, 7, sizeof(nonce));
	r.protocol = 1;
	r.nonce.data = nonce;
	r.nonce.len = 64;
	s.key = "KG1.x.y";
	r.body_case = KEYGATE__REQUEST__BODY_STATUS;
	r.status = &s;
	buf = pack_request(&r, &len);
	assert_int_equal(wire_request_decode(buf, len, wire_budget_for(FRAME_MAX),
	    &req), WIRE_DECODE_OK);
	assert_string_equal(wire_request_type(req.msg), "status");
	assert_int_equal(req.nonce_len, 64);
	wire_request_clear(&req);
	free(buf);

	a.key = "KG1.x.y";
	a.act = "";
	r.body_case = KEYGATE__REQUEST__BODY_ACTIVATE;
	r.activate = &a;
	buf = pack_request(&r, &len);
	assert_int_equal(wire_request_decode(buf, len, wire_budget_for(FRAME_MAX),
	    &req), WIRE_DECODE_INVALID);
	assert_int_equal(req.reason, KG_REASON_BAD_REQUEST);
	assert_string_equal(wire_request_type(req.msg), "activate");
	wire_request_clear(&req);
	free(buf);

	a.act = "ACT-2026-0001";
	buf = pack_request(&r, &len);
	assert_int_equal(wire_request_decode(buf, len, wire_budget_for(FRAME_MAX),
	    &req), WIRE_DECODE_OK);
	assert_string_equal(req.msg->activate->act, "ACT-2026-0001");
	wire_request_clear(&req);
	free(buf);
}

/* Readable requests with one bad field: each is INVALID with its reason. */
static void
test_decode_invalid_fields(void **state)
{
	char			 longkey[KG_KEY_TEXT_MAX + 2], longcode[KG_CODE_MAX + 2];
	char			 longver[KG_VERSION_TEXT_MAX + 1];
	struct {
		uint32_t	 protocol;
		size_t		 nonce_len;
		const char	*key, *product, *version;
		enum kg_reason	 reason;
		size_t		 echoed;
	} cases[] = {
		{ 2, 16, "k", "P", "1", KG_REASON_PROTOCOL_VERSION, 16 },
		{ 0, 16, "k", "P", "1", KG_REASON_PROTOCOL_VERSION, 16 },
		{ 0xffffffffu, 0, "k", "P", "1", KG_REASON_PROTOCOL_VERSION, 0 },
		/* protocol is checked first, even with a bad nonce */
		{ 7, 3, "k", "P", "1", KG_REASON_PROTOCOL_VERSION, 3 },
		{ 1, 0, "k", "P", "1", KG_REASON_BAD_REQUEST, 0 },
		{ 1, 15, "k", "P", "1", KG_REASON_BAD_REQUEST, 15 },
		{ 1, 65, "k", "P", "1", KG_REASON_BAD_REQUEST, 0 },
		{ 1, 16, "", "P", "1", KG_REASON_BAD_REQUEST, 16 },
		{ 1, 16, longkey, "P", "1", KG_REASON_BAD_REQUEST, 16 },
		{ 1, 16, "k", "", "1", KG_REASON_BAD_REQUEST, 16 },
		{ 1, 16, "k", longcode, "1", KG_REASON_BAD_REQUEST, 16 },
		{ 1, 16, "k", "P", "", KG_REASON_BAD_VERSION, 16 },
		{ 1, 16, "k", "P", longver, KG_REASON_BAD_VERSION, 16 },
	};
	struct wire_request	 req;
	uint8_t			*buf;
	size_t			 len, i;

	(void)state;
	memset(longkey, 'A', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';		/* 4097 bytes */
	memset(longcode, 'P', sizeof(longcode) - 1);
	longcode[sizeof(longcode) - 1] = '\0';		/* 33 bytes */
	memset(longver, '1', sizeof(longver) - 1);
	longver[sizeof(longver) - 1] = '\0';		/* 80 bytes */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf = check_request(cases[i].protocol, cases[i].nonce_len,
		    cases[i].key, cases[i].product, cases[i].version, &len);
		assert_int_equal(wire_request_decode(buf, len,
		    wire_budget_for(FRAME_MAX), &req), WIRE_DECODE_INVALID);
		assert_int_equal(req.reason, cases[i].reason);
		assert_int_equal(req.nonce_len, cases[i].echoed);
		assert_true(strlen(req.detail) > 0);
		assert_non_null(req.msg);
		wire_request_clear(&req);
		free(buf);
	}

	/* The limits themselves are fine: 4096-byte key, 32-byte product. */
	longkey[KG_KEY_TEXT_MAX] = '\0';
	longcode[KG_CODE_MAX] = '\0';
	buf = check_request(1, 16, longkey, longcode, "1", &len);
	assert_int_equal(wire_request_decode(buf, len, wire_budget_for(FRAME_MAX),
	    &req), WIRE_DECODE_OK);
	wire_request_clear(&req);
	free(buf);
}

static void
test_decode_no_body(void **state)
{
	Keygate__Request	 r = KEYGATE__REQUEST__INIT;
	struct wire_request	 req;
	uint8_t			 nonce[16] = { 1 }, *buf;
	size_t			 len;

	(void)state;
	r.protocol = 1;
	r.nonce.data = nonce;
	r.nonce.len = sizeof(nonce);
	buf = pack_request(&r, &len);
	assert_int_equal(wire_request_decode(buf, len, wire_budget_for(FRAME_MAX),
	    &req), WIRE_DECODE_INVALID);
	assert_int_equal(req.reason, KG_REASON_BAD_REQUEST);
	assert_string_equal(wire_request_type(req.msg), "none");
	wire_request_clear(&req);
	free(buf);
}

static void
test_decode_empty_and_truncated(void **state)
{
	struct wire_request	 req;
	uint8_t			*buf, hash[KG_HASH_LEN];
	size_t			 len, cut;

	(void)state;
	assert_int_equal(wire_request_decode((const uint8_t *)"", 0,
	    wire_budget_for(FRAME_MAX), &req), WIRE_DECODE_UNREADABLE);
	assert_int_equal(req.reason, KG_REASON_BAD_REQUEST);
	assert_null(req.msg);
	assert_int_equal(req.nonce_len, 0);
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)"", 0, NULL, 0);
	assert_memory_equal(req.hash, hash, KG_HASH_LEN);
	wire_request_clear(&req);

	/*
	 * The check body is the last field: cutting the message anywhere
	 * inside it leaves a length-delimited field that runs past the end.
	 */
	buf = check_request(1, 16, "KG1.abcdefgh.ijkl", "PROD", "1.2.3", &len);
	for (cut = 1; cut <= 20; cut++) {
		assert_int_equal(wire_request_decode(buf, len - cut,
		    wire_budget_for(FRAME_MAX), &req), WIRE_DECODE_UNREADABLE);
		assert_int_equal(req.reason, KG_REASON_BAD_REQUEST);
		assert_null(req.msg);
		wire_request_clear(&req);
	}
	free(buf);
}

/* xorshift64*: a fixed-seed generator for reproducible random bytes. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void
test_decode_random(void **state)
{
	struct wire_request	 req;
	enum wire_decode	 dec;
	uint64_t		 seed = 0x6b657967617465ULL;	/* "keygate" */
	uint8_t			*buf;
	size_t			 i, j, len, counts[3] = { 0, 0, 0 };

	(void)state;
	buf = malloc(FRAME_MAX);
	assert_non_null(buf);
	for (i = 0; i < 2000; i++) {
		len = 1 + rng_next(&seed) % (i < 1990 ? 600 : FRAME_MAX);
		for (j = 0; j < len; j++)
			buf[j] = (uint8_t)rng_next(&seed);
		dec = wire_request_decode(buf, len, wire_budget_for(FRAME_MAX), &req);
		assert_true(dec == WIRE_DECODE_OK || dec == WIRE_DECODE_INVALID ||
		    dec == WIRE_DECODE_UNREADABLE);
		counts[dec]++;
		if (dec == WIRE_DECODE_OK)
			assert_int_equal(req.reason, KG_REASON_OK);
		else
			assert_int_not_equal(req.reason, KG_REASON_OK);
		assert_true(req.arena.total <= wire_budget_for(FRAME_MAX));
		assert_true(req.nonce_len <= KG_NONCE_MAX);
		wire_request_clear(&req);
	}
	/* Random bytes are practically never a valid request. */
	assert_int_equal(counts[WIRE_DECODE_OK], 0);
	assert_true(counts[WIRE_DECODE_UNREADABLE] > 1000);
	free(buf);
}

/*
 * 32768 two-byte unknown fields fit in one 64 KiB frame but would make
 * protobuf-c keep 32768 unknown-field records: the budget refuses that.
 */
static void
test_decode_budget(void **state)
{
	struct wire_request	 req;
	uint8_t			*buf;
	size_t			 i, len = FRAME_MAX;

	(void)state;
	buf = malloc(len);
	assert_non_null(buf);
	for (i = 0; i < len; i += 2) {
		buf[i] = (15 << 3) | 0;		/* field 15, varint */
		buf[i + 1] = 0;
	}
	assert_int_equal(wire_request_decode(buf, len, wire_budget_for(FRAME_MAX),
	    &req), WIRE_DECODE_UNREADABLE);
	assert_int_equal(req.reason, KG_REASON_BAD_REQUEST);
	assert_null(req.msg);
	assert_true(req.arena.total <= wire_budget_for(FRAME_MAX));
	wire_request_clear(&req);

	/* With a budget large enough protobuf-c reads it: a protocol-0 Request. */
	assert_int_equal(wire_request_decode(buf, len, 64u << 20, &req),
	    WIRE_DECODE_INVALID);
	assert_int_equal(req.reason, KG_REASON_PROTOCOL_VERSION);
	assert_true(req.arena.total > wire_budget_for(FRAME_MAX));
	wire_request_clear(&req);
	free(buf);

	assert_int_equal(wire_budget_for(65536), 262144);
	assert_int_equal(wire_budget_for(256), 16384);
}

/* Decode a reply frame, check its header and signature; caller frees. */
static Keygate__ReplyBody *
reply_open(const uint8_t *frame, size_t len)
{
	Keygate__Reply		*reply;
	Keygate__ReplyBody	*body;
	uint32_t		 flen;
	uint8_t			 id[KG_KEY_ID_LEN];

	assert_true(len > WIRE_HEADER_LEN);
	assert_int_equal(wire_frame_length(frame, len, 1u << 20, &flen), WIRE_FRAME_OK);
	assert_int_equal(flen, len - WIRE_HEADER_LEN);
	reply = keygate__reply__unpack(NULL, flen, frame + WIRE_HEADER_LEN);
	assert_non_null(reply);
	assert_int_equal(reply->signature.len, KG_SIG_LEN);
	assert_int_equal(reply->key_id.len, KG_KEY_ID_LEN);
	key_id_compute(pk, id);
	assert_memory_equal(reply->key_id.data, id, KG_KEY_ID_LEN);
	assert_int_equal(keys_verify(pk, KG_DOMAIN_REPLY, reply->body.data,
	    reply->body.len, reply->signature.data), KGE_OK);
	/* Domain separation: it is no license signature. */
	assert_int_equal(keys_verify(pk, KG_DOMAIN_LICENSE, reply->body.data,
	    reply->body.len, reply->signature.data), KGE_KEY_SIGNATURE);
	body = keygate__reply_body__unpack(NULL, reply->body.len, reply->body.data);
	assert_non_null(body);
	keygate__reply__free_unpacked(reply, NULL);
	return body;
}

static void
test_reply_encode(void **state)
{
	Keygate__Verdict	 v = KEYGATE__VERDICT__INIT;
	Keygate__ReplyBody	*body;
	struct wire_reply	 wr;
	uint8_t			 nonce[20], hash[KG_HASH_LEN], *frame;
	size_t			 len;

	(void)state;
	memset(nonce, 0x11, sizeof(nonce));
	memset(hash, 0x22, sizeof(hash));
	v.verdict = "fallback";
	v.reason = "support_expired";
	v.eligible = "2.0.9";
	v.latest = "2.0.10";
	v.support_expiry = 20000;
	v.days_left = 0;
	memset(&wr, 0, sizeof(wr));
	wr.nonce = nonce;
	wr.nonce_len = sizeof(nonce);
	wr.request_hash = hash;
	wr.server_time = 1767225600;
	wr.test_clock = true;
	wr.verdict = &v;
	assert_int_equal(wire_reply_encode(signer, &wr, &frame, &len), 0);
	body = reply_open(frame, len);
	assert_int_equal(body->protocol, KG_PROTOCOL_VERSION);
	assert_int_equal(body->nonce.len, sizeof(nonce));
	assert_memory_equal(body->nonce.data, nonce, sizeof(nonce));
	assert_int_equal(body->request_hash.len, KG_HASH_LEN);
	assert_memory_equal(body->request_hash.data, hash, KG_HASH_LEN);
	assert_int_equal(body->server_time, 1767225600);
	assert_true(body->test_clock);
	assert_int_equal(body->result_case, KEYGATE__REPLY_BODY__RESULT_VERDICT);
	assert_string_equal(body->verdict->verdict, "fallback");
	assert_string_equal(body->verdict->reason, "support_expired");
	assert_string_equal(body->verdict->eligible, "2.0.9");
	assert_string_equal(body->verdict->latest, "2.0.10");
	assert_int_equal(body->verdict->support_expiry, 20000);
	keygate__reply_body__free_unpacked(body, NULL);
	free(frame);

	/* An error reply to no request: empty nonce and hash. */
	memset(&wr, 0, sizeof(wr));
	wr.server_time = 5;
	wr.error_reason = "frame_too_large";
	wr.error_detail = "frame of 4294967295 bytes is over the limit";
	assert_int_equal(wire_reply_encode(signer, &wr, &frame, &len), 0);
	body = reply_open(frame, len);
	assert_int_equal(body->nonce.len, 0);
	assert_int_equal(body->request_hash.len, 0);
	assert_false(body->test_clock);
	assert_int_equal(body->result_case, KEYGATE__REPLY_BODY__RESULT_ERROR);
	assert_string_equal(body->error->reason, "frame_too_large");
	assert_string_equal(body->error->detail,
	    "frame of 4294967295 bytes is over the limit");
	keygate__reply_body__free_unpacked(body, NULL);
	free(frame);
}

/*
 * wire_reply_frame_max bounds the frame for every body length, index and
 * path depth, and wire_reply_frame_pack writes exactly protobuf-c's packing
 * of the Reply after the length header.
 */
static void
test_reply_frame_max(void **state)
{
	static const size_t	 bodylens[] = { 0, 1, 127, 128, 16383, 16384,
	    70000 };
	static const uint32_t	 indexes[] = { 0, 1, 127, 128, UINT32_MAX };
	Keygate__Reply		 r = KEYGATE__REPLY__INIT;
	ProtobufCBinaryData	 p[KG_MERKLE_DEPTH_MAX];
	struct wire_signed	 ws;
	uint8_t			 sig[KG_SIG_LEN], id[KG_KEY_ID_LEN], *body, *out;
	uint8_t			 path[KG_MERKLE_DEPTH_MAX][KG_MERKLE_HASH_LEN];
	size_t			 b, i, d, max, len, exact;

	(void)state;
	assert_non_null(body = malloc(70000));
	memset(body, 0x5a, 70000);
	memset(sig, 0x66, sizeof(sig));
	memset(id, 0x77, sizeof(id));
	memset(path, 0x88, sizeof(path));
	for (d = 0; d < KG_MERKLE_DEPTH_MAX; d++) {
		p[d].data = path[d];
		p[d].len = KG_MERKLE_HASH_LEN;
	}
	for (b = 0; b < sizeof(bodylens) / sizeof(bodylens[0]); b++)
	for (i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++)
	for (d = 0; d <= KG_MERKLE_DEPTH_MAX; d++) {
		memset(&ws, 0, sizeof(ws));
		ws.body = body;
		ws.bodylen = bodylens[b];
		ws.sig = sig;
		ws.key_id = id;
		ws.index = indexes[i];
		ws.path = (const uint8_t (*)[32])path;
		ws.depth = d;
		r.body.data = body;
		r.body.len = bodylens[b];
		r.signature.data = sig;
		r.signature.len = sizeof(sig);
		r.key_id.data = id;
		r.key_id.len = sizeof(id);
		r.batch_index = indexes[i];
		r.n_batch_path = d;
		r.batch_path = d > 0 ? p : NULL;
		exact = WIRE_HEADER_LEN + keygate__reply__get_packed_size(&r);
		max = wire_reply_frame_max(&ws);
		assert_true(max >= exact);
		assert_non_null(out = malloc(max));
		len = wire_reply_frame_pack(&ws, out);
		assert_int_equal(len, exact);
		assert_int_equal(((size_t)out[0] << 24 | (size_t)out[1] << 16 |
		    (size_t)out[2] << 8 | out[3]), exact - WIRE_HEADER_LEN);
		free(out);
	}
	free(body);
}

/* Fill text with n bytes of c (n < 300), or set it to NULL or "". */
static char *
body_text(char buf[300], int kind, char c)
{
	static const size_t	lens[] = { 0, 1, 127, 128, 299 };

	if (kind < 0)
		return NULL;
	memset(buf, c, lens[kind % 5]);
	buf[lens[kind % 5]] = '\0';
	return buf;
}

/*
 * wire_reply_body_max bounds the packed ReplyBody for every kind of result
 * and texts of every length (empty, 1, 127, 128, 299 bytes, NULL), with the
 * widest numbers; and it knows every field: a field added to one of these
 * messages in keygate.proto fails this until wire_reply_body_max counts it.
 */
static void
test_reply_body_max(void **state)
{
	static const int64_t	 times[] = { 0, 1700000000, INT64_MIN };
	Keygate__Verdict	 v;
	Keygate__Quote		 q;
	Keygate__Renewal	 rn;
	Keygate__Rotations	 rot = KEYGATE__ROTATIONS__INIT;
	Keygate__RotationStatement st = KEYGATE__ROTATION_STATEMENT__INIT,
				*stp[3];
	struct wire_reply	 r;
	char			 t[17][300];
	uint8_t			 nonce[64], hash[KG_HASH_LEN], blob[100], *out;
	size_t			 max, len, exact, i;
	int			 kind, k, nonce_len;

	(void)state;
	assert_int_equal(keygate__reply_body__descriptor.n_fields, 8);
	assert_int_equal(keygate__verdict__descriptor.n_fields, 17);
	assert_int_equal(keygate__quote__descriptor.n_fields, 3);
	assert_int_equal(keygate__renewal__descriptor.n_fields, 5);
	assert_int_equal(keygate__error__descriptor.n_fields, 2);
	memset(nonce, 0x11, sizeof(nonce));
	memset(hash, 0x22, sizeof(hash));
	memset(blob, 0x33, sizeof(blob));
	st.body.data = blob;
	st.body.len = sizeof(blob);
	st.signature.data = blob;
	st.signature.len = 64;
	for (i = 0; i < 3; i++)
		stp[i] = &st;
	assert_non_null(out = malloc(1 << 16));
	for (kind = -1; kind < 10; kind++)
	for (k = 0; k < 4; k++) {
		memset(&r, 0, sizeof(r));
		nonce_len = kind < 0 ? 0 : kind % 2 == 0 ? 16 : 64;
		r.nonce = nonce_len > 0 ? nonce : NULL;
		r.nonce_len = (size_t)nonce_len;
		r.request_hash = kind % 3 != 0 ? hash : NULL;
		r.server_time = times[(size_t)(kind + 1) % 3];
		r.test_clock = kind % 2 != 0;
		keygate__verdict__init(&v);
		keygate__quote__init(&q);
		keygate__renewal__init(&rn);
		switch (k) {
		case 0:		/* a verdict with everything */
			v.verdict = body_text(t[0], kind, 'a');
			v.reason = body_text(t[1], kind + 1, 'b');
			v.eligible = body_text(t[2], kind + 2, 'c');
			v.latest = body_text(t[3], kind + 3, 'd');
			v.key = body_text(t[4], kind + 4, 'e');
			v.regno = body_text(t[5], kind, 'f');
			v.licensee = body_text(t[6], kind + 1, 'g');
			v.product = body_text(t[7], kind + 2, 'h');
			v.edition = body_text(t[8], kind + 3, 'i');
			v.state = body_text(t[9], kind + 4, 'j');
			v.detail = body_text(t[10], kind, 'k');
			v.support_expiry = UINT32_MAX;
			v.license_expiry = UINT32_MAX;
			v.days_left = kind % 2 == 0 ? INT32_MIN : INT32_MAX;
			v.retry_after = UINT32_MAX;
			q.kind = body_text(t[11], kind + 1, 'l');
			q.price = kind % 2 == 0 ? INT64_MIN : INT64_MAX;
			q.new_expiry = UINT32_MAX;
			v.quote = &q;
			rn.kind = body_text(t[12], kind + 2, 'm');
			rn.act = body_text(t[13], kind + 3, 'n');
			rn.price = INT64_MIN;
			rn.new_expiry = UINT32_MAX;
			rn.months = UINT32_MAX;
			v.renewal = &rn;
			r.verdict = &v;
			break;
		case 1:		/* a bare verdict */
			r.verdict = &v;
			break;
		case 2:		/* rotations */
			rot.n_statements = (size_t)(kind + 1) % 4;
			rot.statements = stp;
			r.rotations = &rot;
			break;
		default:	/* an error */
			r.error_reason = body_text(t[14], kind, 'o');
			r.error_detail = body_text(t[15], kind + 1, 'p');
			break;
		}
		exact = wire_reply_body_size(&r);
		max = wire_reply_body_max(&r);
		assert_true(max >= exact);
		assert_true(max < (1 << 16));
		len = wire_reply_body_pack(&r, out);
		assert_int_equal(len, exact);
	}
	free(out);
}

/* dispatch_frame's own answers: these never reach a handler or the store. */
static void
test_dispatch_errors(void **state)
{
	struct daemon		 d;
	struct dispatch_peer	 peer = { "127.0.0.1", "127.0.0.1:9" };
	Keygate__ReplyBody	*body;
	uint8_t			*req, *frame, hash[KG_HASH_LEN];
	size_t			 len, flen;
	bool			 close_after;
	const char		*http = "GET / HTTP/1.0\r\n\r\n";

	(void)state;
	memset(&d, 0, sizeof(d));
	d.signer = signer;
	d.conf.frame_max = FRAME_MAX;
	d.test_clock = true;
	d.clock_offset = 86400 * 365;

	/* Wrong protocol version: answered, connection stays open. */
	req = check_request(9, 16, "k", "P", "1", &len);
	assert_int_equal(dispatch_frame(&d, &peer, req, len, &frame, &flen,
	    &close_after), 0);
	assert_false(close_after);
	body = reply_open(frame, flen);
	assert_int_equal(body->result_case, KEYGATE__REPLY_BODY__RESULT_ERROR);
	assert_string_equal(body->error->reason, "protocol_version");
	assert_int_equal(body->nonce.len, 16);
	crypto_generichash(hash, sizeof(hash), req, len, NULL, 0);
	assert_memory_equal(body->request_hash.data, hash, KG_HASH_LEN);
	assert_true(body->test_clock);
	assert_true(body->server_time > (int64_t)time(NULL) + 86400 * 364);
	keygate__reply_body__free_unpacked(body, NULL);
	free(frame);
	free(req);

	/* Short nonce: bad_request, stays open. */
	req = check_request(1, 8, "k", "P", "1", &len);
	assert_int_equal(dispatch_frame(&d, &peer, req, len, &frame, &flen,
	    &close_after), 0);
	assert_false(close_after);
	body = reply_open(frame, flen);
	assert_string_equal(body->error->reason, "bad_request");
	keygate__reply_body__free_unpacked(body, NULL);
	free(frame);
	free(req);

	/*
	 * A status request with a key that does not verify reaches check.c,
	 * which answers bad_key before it needs the store (there is none here).
	 */
	{
		Keygate__Request	r = KEYGATE__REQUEST__INIT;
		Keygate__StatusRequest	st = KEYGATE__STATUS_REQUEST__INIT;
		uint8_t			nonce[16] = { 3 };

		r.protocol = 1;
		r.nonce.data = nonce;
		r.nonce.len = sizeof(nonce);
		st.key = "KG1.not-a-key.at-all";
		r.body_case = KEYGATE__REQUEST__BODY_STATUS;
		r.status = &st;
		req = pack_request(&r, &len);
	}
	assert_int_equal(dispatch_frame(&d, &peer, req, len, &frame, &flen,
	    &close_after), 0);
	assert_false(close_after);
	body = reply_open(frame, flen);
	assert_int_equal(body->result_case, KEYGATE__REPLY_BODY__RESULT_VERDICT);
	assert_string_equal(body->verdict->verdict, "");
	assert_string_equal(body->verdict->reason, "bad_key");
	assert_string_equal(body->verdict->regno, "");
	assert_int_equal(body->verdict->support_expiry, 0);
	keygate__reply_body__free_unpacked(body, NULL);
	free(frame);
	free(req);

	/* Unreadable (the body of an HTTP request): answered, then close. */
	assert_int_equal(dispatch_frame(&d, &peer, (const uint8_t *)http + 4,
	    strlen(http) - 4, &frame, &flen, &close_after), 0);
	assert_true(close_after);
	body = reply_open(frame, flen);
	assert_string_equal(body->error->reason, "bad_request");
	assert_int_equal(body->nonce.len, 0);
	assert_int_equal(body->request_hash.len, KG_HASH_LEN);
	keygate__reply_body__free_unpacked(body, NULL);
	free(frame);

	/* Zero-length frame: unreadable. */
	assert_int_equal(dispatch_frame(&d, &peer, (const uint8_t *)"", 0,
	    &frame, &flen, &close_after), 0);
	assert_true(close_after);
	body = reply_open(frame, flen);
	assert_string_equal(body->error->reason, "bad_request");
	keygate__reply_body__free_unpacked(body, NULL);
	free(frame);

	/* An error to no request at all. */
	assert_int_equal(dispatch_error_frame(&d, &peer, "frame_too_large",
	    "too big", &frame, &flen), 0);
	body = reply_open(frame, flen);
	assert_string_equal(body->error->reason, "frame_too_large");
	assert_int_equal(body->nonce.len, 0);
	assert_int_equal(body->request_hash.len, 0);
	keygate__reply_body__free_unpacked(body, NULL);
	free(frame);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_length),
		cmocka_unit_test(test_frame_http_get),
		cmocka_unit_test(test_decode_valid),
		cmocka_unit_test(test_decode_spills_to_heap),
		cmocka_unit_test(test_decode_status_and_activate),
		cmocka_unit_test(test_decode_invalid_fields),
		cmocka_unit_test(test_decode_no_body),
		cmocka_unit_test(test_decode_empty_and_truncated),
		cmocka_unit_test(test_decode_random),
		cmocka_unit_test(test_decode_budget),
		cmocka_unit_test(test_reply_encode),
		cmocka_unit_test(test_reply_frame_max),
		cmocka_unit_test(test_reply_body_max),
		cmocka_unit_test(test_dispatch_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
