/*
 * Fuzz target: libkeygate's checks of a server's reply. libkeygate reads and
 * verifies a reply only inside kg_check, kg_status and kg_activate, so this
 * target drives that public path: a fake server on 127.0.0.1 (a thread of
 * this process, port 0) answers each request with a reply made from the
 * input, and closes the connection. The product's key is corpus key A's key
 * of license 1 (corpus_keys.h); the client trusts the fake server's reply
 * key (generated at start) and corpus key A.
 *
 * The first input byte says how the rest becomes the reply and which
 * request the client makes:
 *   bits 0-1: 0 the bytes are the whole reply as sent (header included);
 *             1 they are a ReplyBody, to which the server appends the
 *               request's protocol, nonce and hash (the last occurrence of
 *               a field wins) before signing it with the reply key;
 *             2 they are a ReplyBody signed as it is;
 *             3 they are a Reply message, framed as it is.
 *   bits 2-3: 0 check, 1 check with a target, 2 status, 3 activate.
 *   bit 4:    modes 1 and 2 sign with the server's new key, which the client
 *             does not trust yet: it asks for rotation statements on the
 *             same connection (client/rotation.c).
 *   bit 5:    the Rotations reply starts with a valid statement: the reply
 *             key introducing the new key.
 * After modes 1 and 2 the server keeps the connection open for a
 * RotationsRequest, and answers it with a ReplyBody it builds (protocol,
 * nonce, hash, server time) around a Rotations message, signed by the new
 * key: the statement of bit 5, then the statements of the input's bytes
 * after the separator "\0KGROT\0" (a serialized Rotations; what precedes
 * the separator is the first reply's material). Modes 0 and 3 close the
 * connection after the reply.
 *
 * Checked: a reply is accepted (KG_OK or KG_ERR_SERVER) only when the
 * server added the request's nonce (mode 1), since the client's nonce is
 * random, and one signed by the new key only when the valid statement of
 * bit 5 proved it (the trust set grows only through statements signed by a
 * trusted key); a result comes exactly with those two codes; its dates are
 * "YYYY-MM-DD", its money "N.NN"; a re-signed key verifies against the
 * client's trust and names license 1; the return code is one a reply can
 * cause (never "cannot connect" or a bad-argument code).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "corpus_keys.h"
#include "fuzz.h"
#include "keygate.h"
#include "keygate.pb-c.h"
#include "kgerr.h"

#define REPLY_MODE_RAW		0
#define REPLY_MODE_BODY_FIXED	1
#define REPLY_MODE_BODY		2
#define REPLY_MODE_REPLY	3
#define REPLY_NEW_KEY		0x10
#define REPLY_VALID_STATEMENT	0x20
#define ROTATION_SEPARATOR	"\0KGROT\0"
#define ROTATION_SEPARATOR_LEN	7
#define SERVE_REQUESTS_MAX	4
#define STATEMENT_CREATED	1781524800	/* 2026-06-15 12:00 UTC */

static int			 listen_fd = -1;
static char			 server[32];
static char			 trust_text[2 * KG_PUBKEY_TEXT_MAX + 2];
static struct kg_keypair	*reply_key;	/* trusted by the client */
static struct kg_keypair	*new_key;	/* introduced by a rotation */
static uint8_t			*valid_rot;	/* Rotations{reply_key -> new_key} */
static size_t			 valid_rot_len;

/* The reply for the request in flight (set by the fuzzer's thread). */
static pthread_mutex_t		 spec_lock = PTHREAD_MUTEX_INITIALIZER;
static const uint8_t		*spec_data;
static size_t			 spec_size;

struct buf {
	uint8_t	*p;
	size_t	 len, cap;
};

static void
buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		FUZZ_CHECK((b->p = realloc(b->p, b->cap)) != NULL);
	}
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void
buf_be32(struct buf *b, uint32_t n)
{
	uint8_t	h[4] = { n >> 24, n >> 16, n >> 8, n };

	buf_add(b, h, sizeof(h));
}

static int
read_all(int fd, uint8_t *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = read(fd, p, len)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return;		/* the client gave up: fine */
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Sign body with kp, wrap it in a Reply and frame it into out. */
static void
reply_wrap(const struct kg_keypair *kp, const uint8_t *body, size_t len,
    struct buf *out)
{
	Keygate__Reply	 rep = KEYGATE__REPLY__INIT;
	uint8_t		 sig[KG_SIG_LEN], *packed;
	size_t		 n;

	FUZZ_CHECK(keys_sign(kp, KG_DOMAIN_REPLY, body, len, sig) == KGE_OK);
	rep.body.data = (uint8_t *)body;
	rep.body.len = len;
	rep.signature.data = sig;
	rep.signature.len = sizeof(sig);
	rep.key_id.data = (uint8_t *)kp->id;
	rep.key_id.len = KG_KEY_ID_LEN;
	n = keygate__reply__get_packed_size(&rep);
	FUZZ_CHECK((packed = malloc(n == 0 ? 1 : n)) != NULL);
	keygate__reply__pack(&rep, packed);
	buf_be32(out, (uint32_t)n);
	buf_add(out, packed, n);
	free(packed);
}

static void
buf_varint(struct buf *b, uint64_t v)
{
	uint8_t	byte;

	do {
		byte = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			byte |= 0x80;
		buf_add(b, &byte, 1);
	} while (v != 0);
}

/* ReplyBody fields 1-3: protocol 1, the request's nonce and hash. */
static void
body_request_fields(struct buf *body, const uint8_t *nonce, size_t nonce_len,
    const uint8_t hash[KG_HASH_LEN])
{
	buf_add(body, "\x08\x01", 2);		/* protocol = 1 */
	buf_add(body, "\x12", 1);		/* nonce */
	buf_varint(body, nonce_len);
	buf_add(body, nonce, nonce_len);
	buf_add(body, "\x1a\x20", 2);		/* request_hash, 32 bytes */
	buf_add(body, hash, KG_HASH_LEN);
}

/*
 * The input's two parts: the first reply's material and the Rotations
 * bytes after the separator (none without one). Called with spec_lock held.
 */
static void
spec_split(const uint8_t **first, size_t *first_len, const uint8_t **rot,
    size_t *rot_len)
{
	const uint8_t	*p = spec_data + 1, *sep;
	size_t		 n = spec_size - 1;

	*first = p;
	*first_len = n;
	*rot = NULL;
	*rot_len = 0;
	if ((sep = memmem(p, n, ROTATION_SEPARATOR,
	    ROTATION_SEPARATOR_LEN)) != NULL) {
		*first_len = (size_t)(sep - p);
		*rot = sep + ROTATION_SEPARATOR_LEN;
		*rot_len = n - *first_len - ROTATION_SEPARATOR_LEN;
	}
}

/*
 * The reply to a request whose nonce and hash are given, per the spec.
 * True when the connection stays open for a RotationsRequest.
 */
static bool
reply_build(const uint8_t *nonce, size_t nonce_len,
    const uint8_t hash[KG_HASH_LEN], struct buf *out)
{
	const struct kg_keypair	*kp;
	struct buf		 body = { 0 };
	const uint8_t		*p, *rot;
	size_t			 n, rot_len;
	int			 mode;

	pthread_mutex_lock(&spec_lock);
	FUZZ_CHECK(spec_data != NULL && spec_size >= 1);
	spec_split(&p, &n, &rot, &rot_len);
	mode = spec_data[0] & 3;
	kp = (spec_data[0] & REPLY_NEW_KEY) ? new_key : reply_key;
	switch (mode) {
	case REPLY_MODE_RAW:
		buf_add(out, p, n);
		break;
	case REPLY_MODE_BODY_FIXED:
		buf_add(&body, p, n);
		body_request_fields(&body, nonce, nonce_len, hash);
		reply_wrap(kp, body.p, body.len, out);
		break;
	case REPLY_MODE_BODY:
		reply_wrap(kp, p, n, out);
		break;
	case REPLY_MODE_REPLY:
		buf_be32(out, (uint32_t)n);
		buf_add(out, p, n);
		break;
	}
	pthread_mutex_unlock(&spec_lock);
	free(body.p);
	return mode == REPLY_MODE_BODY_FIXED || mode == REPLY_MODE_BODY;
}

/* The Rotations reply (see the top of the file), signed by the new key. */
static void
rotations_build(const uint8_t *nonce, size_t nonce_len,
    const uint8_t hash[KG_HASH_LEN], struct buf *out)
{
	struct buf	 body = { 0 }, rots = { 0 };
	const uint8_t	*p, *rot;
	size_t		 n, rot_len;

	pthread_mutex_lock(&spec_lock);
	FUZZ_CHECK(spec_data != NULL && spec_size >= 1);
	spec_split(&p, &n, &rot, &rot_len);
	/* Serialized messages concatenated: their repeated fields joined. */
	if (spec_data[0] & REPLY_VALID_STATEMENT)
		buf_add(&rots, valid_rot, valid_rot_len);
	buf_add(&rots, rot, rot_len);
	pthread_mutex_unlock(&spec_lock);

	body_request_fields(&body, nonce, nonce_len, hash);
	buf_add(&body, "\x20", 1);		/* server_time */
	buf_varint(&body, (uint64_t)time(NULL));
	buf_add(&body, "\x62", 1);		/* rotations (field 12) */
	buf_varint(&body, rots.len);
	buf_add(&body, rots.p, rots.len);
	reply_wrap(new_key, body.p, body.len, out);
	free(body.p);
	free(rots.p);
}

/*
 * Answer one request frame from the client. True when the connection stays
 * open for another (a RotationsRequest after the first reply).
 */
static bool
serve_one(int fd, int nth)
{
	Keygate__Request	*req;
	struct buf		 out = { 0 };
	uint8_t			 hdr[4], hash[KG_HASH_LEN], *msg;
	uint32_t		 len;
	bool			 more = false;

	if (read_all(fd, hdr, sizeof(hdr)) == -1)
		return false;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	FUZZ_CHECK(len >= 1 && len <= KG_FRAME_MAX);
	FUZZ_CHECK((msg = malloc(len)) != NULL);
	if (read_all(fd, msg, len) == -1) {
		free(msg);
		return false;
	}
	req = keygate__request__unpack(NULL, len, msg);
	FUZZ_CHECK(req != NULL && req->protocol == KG_PROTOCOL_VERSION);
	FUZZ_CHECK(req->nonce.len >= KG_NONCE_MIN &&
	    req->nonce.len <= KG_NONCE_MAX);
	crypto_generichash(hash, sizeof(hash), msg, len, NULL, 0);
	if (req->body_case == KEYGATE__REQUEST__BODY_ROTATIONS) {
		/* Only after a reply the client could not trust. */
		FUZZ_CHECK(nth > 0);
		rotations_build(req->nonce.data, req->nonce.len, hash, &out);
	} else
		more = reply_build(req->nonce.data, req->nonce.len, hash, &out);
	keygate__request__free_unpacked(req, NULL);
	free(msg);
	write_all(fd, out.p, out.len);
	free(out.p);
	return more;
}

static void
serve(int fd)
{
	int	i;

	for (i = 0; i < SERVE_REQUESTS_MAX; i++)
		if (!serve_one(fd, i))
			return;
}

static void *
server_main(void *arg)
{
	int	fd;

	(void)arg;
	for (;;) {
		if ((fd = accept(listen_fd, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		serve(fd);
		close(fd);
	}
}

static void
keys_free(void)
{
	keypair_free(reply_key);
	keypair_free(new_key);
	reply_key = new_key = NULL;
	free(valid_rot);
	valid_rot = NULL;
}

/* Rotations{[statement: reply_key introduces new_key]}, serialized. */
static void
valid_rotation_make(void)
{
	Keygate__RotationBody		 body = KEYGATE__ROTATION_BODY__INIT;
	Keygate__RotationStatement	 st = KEYGATE__ROTATION_STATEMENT__INIT;
	Keygate__RotationStatement	*stp = &st;
	Keygate__Rotations		 rots = KEYGATE__ROTATIONS__INIT;
	uint8_t				 sig[KG_SIG_LEN], *buf;
	size_t				 len;

	body.new_public_key.data = new_key->pk;
	body.new_public_key.len = KG_PUBKEY_LEN;
	body.old_key_id.data = reply_key->id;
	body.old_key_id.len = KG_KEY_ID_LEN;
	body.created = STATEMENT_CREATED;
	len = keygate__rotation_body__get_packed_size(&body);
	FUZZ_CHECK((buf = malloc(len)) != NULL);
	keygate__rotation_body__pack(&body, buf);
	FUZZ_CHECK(keys_sign(reply_key, KG_DOMAIN_ROTATION, buf, len, sig) ==
	    KGE_OK);
	st.body.data = buf;
	st.body.len = len;
	st.signature.data = sig;
	st.signature.len = sizeof(sig);
	rots.statements = &stp;
	rots.n_statements = 1;
	valid_rot_len = keygate__rotations__get_packed_size(&rots);
	FUZZ_CHECK((valid_rot = malloc(valid_rot_len)) != NULL);
	keygate__rotations__pack(&rots, valid_rot);
	free(buf);
}

/* Start the fake server and make its keys and the valid statement. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	pthread_t		thread;
	char			pk[KG_PUBKEY_TEXT_MAX];

	(void)argc;
	(void)argv;
	fuzz_setup();
	FUZZ_CHECK((reply_key = keypair_generate_new()) != NULL);
	FUZZ_CHECK((new_key = keypair_generate_new()) != NULL);
	FUZZ_CHECK(atexit(keys_free) == 0);
	valid_rotation_make();
	pubkey_format(reply_key->pk, pk);
	snprintf(trust_text, sizeof(trust_text), "%s\n%s\n", pk,
	    FUZZ_CORPUS_PUBKEY_A);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	FUZZ_CHECK((listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) != -1);
	FUZZ_CHECK(bind(listen_fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	FUZZ_CHECK(listen(listen_fd, 16) == 0);
	FUZZ_CHECK(getsockname(listen_fd, (struct sockaddr *)&sin, &slen) == 0);
	snprintf(server, sizeof(server), "127.0.0.1:%u",
	    (unsigned)ntohs(sin.sin_port));
	FUZZ_CHECK(pthread_create(&thread, NULL, server_main, NULL) == 0);
	FUZZ_CHECK(pthread_detach(thread) == 0);
	return 0;
}

/* NULL, or "YYYY-MM-DD". */
static void
date_check(const char *s)
{
	int	i;

	if (s == NULL)
		return;
	FUZZ_CHECK(strlen(s) == 10 && s[4] == '-' && s[7] == '-');
	for (i = 0; i < 10; i++)
		FUZZ_CHECK(i == 4 || i == 7 || isdigit((unsigned char)s[i]));
}

/* NULL, or [-]digits.two digits, within KG_MONEY_TEXT_LEN. */
static void
money_check(const char *s)
{
	size_t	n, i;

	if (s == NULL)
		return;
	n = strlen(s);
	FUZZ_CHECK(n >= 4 && n < KG_MONEY_TEXT_LEN && s[n - 3] == '.');
	for (i = s[0] == '-' ? 1 : 0; i < n; i++)
		FUZZ_CHECK(i == n - 3 || isdigit((unsigned char)s[i]));
}

static void
result_check(const kg_result *r, int rc)
{
	const char	*s[] = { kg_result_verdict(r), kg_result_reason(r),
	    kg_result_detail(r), kg_result_eligible(r), kg_result_latest(r),
	    kg_result_regno(r), kg_result_licensee(r), kg_result_product(r),
	    kg_result_edition(r), kg_result_state(r),
	    kg_result_error_reason(r), kg_result_renewal_act(r),
	    kg_result_quote_kind(r), kg_result_renewal_kind(r) };
	kg_result	*v = NULL;
	const char	*key;
	size_t		 i, n = 0;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (s[i] != NULL)
			n += strlen(s[i]);
	(void)n;
	FUZZ_CHECK(kg_result_server(r) != NULL &&
	    strcmp(kg_result_server(r), server) == 0);
	if (rc == KG_ERR_SERVER)
		FUZZ_CHECK(kg_result_error_reason(r) != NULL &&
		    kg_result_error_reason(r)[0] != '\0');
	date_check(kg_result_support_expiry(r));
	date_check(kg_result_license_expiry(r));
	date_check(kg_result_quote_new_expiry(r));
	date_check(kg_result_renewal_new_expiry(r));
	money_check(kg_result_quote_price(r));
	money_check(kg_result_renewal_price(r));
	(void)kg_result_days_left(r);
	(void)kg_result_retry_after(r);
	(void)kg_result_server_time(r);
	if ((key = kg_result_key(r)) != NULL) {
		FUZZ_CHECK(kg_verify_offline(key, trust_text, &v) == KG_OK);
		FUZZ_CHECK(kg_result_serial(v) == 1);
		kg_result_free(v);
	}
}

/* One reply to one request. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kg_client	*c = NULL;
	kg_result	*r = NULL;
	int		 rc, mode;

	if (size < 1)
		return 0;
	mode = data[0] & 3;
	FUZZ_CHECK(kg_client_new(&c) == KG_OK);
	FUZZ_CHECK(kg_client_trust_text(c, trust_text) == KG_OK);
	FUZZ_CHECK(kg_client_add_server(c, server) == KG_OK);
	FUZZ_CHECK(kg_client_set_timeouts(c, 2000, 5000) == KG_OK);

	pthread_mutex_lock(&spec_lock);
	spec_data = data;
	spec_size = size;
	pthread_mutex_unlock(&spec_lock);
	switch ((data[0] >> 2) & 3) {
	case 0:
		rc = kg_check(c, FUZZ_CORPUS_KEY1, "ZHKH8", "1.0", NULL, &r);
		break;
	case 1:
		rc = kg_check(c, FUZZ_CORPUS_KEY1, "ZHKH8", "1.0", "2.0", &r);
		break;
	case 2:
		rc = kg_status(c, FUZZ_CORPUS_KEY1, &r);
		break;
	default:
		rc = kg_activate(c, FUZZ_CORPUS_KEY1, "A-1001", &r);
		break;
	}
	pthread_mutex_lock(&spec_lock);
	spec_data = NULL;
	spec_size = 0;
	pthread_mutex_unlock(&spec_lock);

	FUZZ_CHECK(rc == KG_OK || rc == KG_ERR_NOMEM || rc == KG_ERR_CLOSED ||
	    rc == KG_ERR_PROTOCOL || rc == KG_ERR_UNTRUSTED ||
	    rc == KG_ERR_NONCE || rc == KG_ERR_REQUEST_HASH ||
	    rc == KG_ERR_REPLAY || rc == KG_ERR_SERVER);
	FUZZ_CHECK((rc == KG_OK || rc == KG_ERR_SERVER) == (r != NULL));
	/* Only a reply carrying the client's random nonce can pass. */
	if (mode != REPLY_MODE_BODY_FIXED)
		FUZZ_CHECK(r == NULL);
	/* The new key is trusted only through the valid statement. */
	if ((data[0] & REPLY_NEW_KEY) && !(data[0] & REPLY_VALID_STATEMENT))
		FUZZ_CHECK(r == NULL);
	if (r != NULL)
		result_check(r, rc);
	kg_result_free(r);
	kg_client_free(c);
	return 0;
}
