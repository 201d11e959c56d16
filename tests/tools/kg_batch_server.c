/*
 * kg_batch_server: a stand-in for keygated that answers every update check
 * in the batched form (proto/README.md, "Batched reply signatures"), so
 * that a test can show what libkeygate and the keygate CLI make of such a
 * reply whatever the real daemon's batches happen to be. Usage:
 *
 *	kg_batch_server DIR [--size N] [--index I] [--forge]
 *
 * It generates a signing key, writes its "KGP1." line to DIR/pub and a
 * license key (serial 1, product TEST) signed by it to DIR/key, listens
 * on 127.0.0.1 port 0 and writes the port to DIR/port. Each check on a
 * connection is answered with verdict "current" for the installed version,
 * its body one of a batch of N (default 3) bodies, the others checks of
 * the same license with other nonces, at index I (default N - 1), signed
 * once over the batch's Merkle root, with its path. --forge flips one bit
 * of the path's first hash (the signature then covers no tree the reply
 * leads to). N = 1 answers in the direct form. It serves at most 8
 * connections and exits 0 after the 8th, or after 30 s without one; exit
 * 1 on a usage error or failure (one line on stderr). Loopback only.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "keygate.pb-c.h"
#include "keys.h"
#include "kgerr.h"
#include "license.h"
#include "merkle.h"
#include "wire.h"

#define CONNS_MAX	8
#define IDLE_MS		30000
#define BODY_MAX	1024

struct opts {
	const char	*dir;
	size_t		 size, index;
	bool		 forge;
};

static struct kg_keypair	*kp;
static struct kg_merkle		 tree;

static int
fail(const char *what)
{
	fprintf(stderr, "kg_batch_server: %s\n", what);
	return 1;
}

/* Write text to DIR/name. 0 or -1. */
static int
file_write(const char *dir, const char *name, const char *text)
{
	char	path[512];
	FILE	*fp;
	int	rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	rc = fprintf(fp, "%s\n", text) < 0 ? -1 : 0;
	return fclose(fp) == 0 ? rc : -1;
}

/* A key pair, DIR/pub and DIR/key. 0 or -1. */
static int
identity_write(const char *dir)
{
	struct kg_license	lic;
	char			pub[KG_PUBKEY_TEXT_MAX], *key = NULL;
	int			rc;

	if ((kp = keypair_generate_new()) == NULL)
		return -1;
	pubkey_format(kp->pk, pub);
	memset(&lic, 0, sizeof(lic));
	lic.serial = 1;
	strcpy(lic.product, "TEST");
	strcpy(lic.edition, "STD");
	strcpy(lic.regno, "TEST-000001");
	strcpy(lic.licensee, "Batch Test");
	lic.created = date_from_time(time(NULL)) - 30;
	lic.support_expiry = lic.created + 365;
	lic.revision = 1;
	memcpy(lic.key_id, kp->id, KG_KEY_ID_LEN);
	if (license_key_new(&lic, kp, &key) != KGE_OK)
		return -1;
	rc = file_write(dir, "pub", pub) == 0 && file_write(dir, "key", key) == 0 ?
	    0 : -1;
	free(key);
	return rc;
}

/* Read exactly len bytes; 1, 0 at end of file, -1 on error or timeout. */
static int
read_full(int fd, uint8_t *buf, size_t len)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	size_t		got = 0;
	ssize_t		n;

	while (got < len) {
		if (poll(&pfd, 1, IDLE_MS) != 1)
			return -1;
		if ((n = read(fd, buf + got, len - got)) == 0 && got == 0)
			return 0;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 1;
}

static int
write_full(int fd, const uint8_t *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A check's verdict body for req with nonce (nonce_len bytes). Its length. */
static size_t
body_make(const struct wire_request *req, const uint8_t *nonce,
    size_t nonce_len, uint8_t out[BODY_MAX])
{
	const Keygate__CheckRequest	*chk = req->msg->check;
	Keygate__Verdict		 v = KEYGATE__VERDICT__INIT;
	struct wire_reply		 r;

	v.verdict = "current";
	v.reason = "ok";
	v.eligible = chk->version;
	v.latest = chk->version;
	v.support_expiry = (uint32_t)(date_from_time(time(NULL)) + 300);
	v.days_left = 300;
	v.regno = "TEST-000001";
	v.licensee = "Batch Test";
	v.product = chk->product;
	v.edition = "STD";
	v.state = "active";
	memset(&r, 0, sizeof(r));
	r.nonce = nonce;
	r.nonce_len = nonce_len;
	r.request_hash = req->hash;
	r.server_time = (int64_t)time(NULL);
	r.verdict = &v;
	if (wire_reply_body_max(&r) > BODY_MAX)
		return 0;
	return wire_reply_body_pack(&r, out);
}

/* Answer one check request (msg, len bytes) on fd. 0 or -1. */
static int
answer(int fd, const struct opts *o, const uint8_t *msg, size_t len)
{
	static uint8_t		 body[KG_MERKLE_LEAVES_MAX][BODY_MAX];
	static uint8_t		 leaf[KG_MERKLE_LEAVES_MAX][KG_MERKLE_HASH_LEN];
	static size_t		 blen[KG_MERKLE_LEAVES_MAX];
	static struct wire_request req;
	uint8_t			 path[KG_MERKLE_DEPTH_MAX][KG_MERKLE_HASH_LEN];
	uint8_t			 sig[KG_SIG_LEN], other[32], *frame;
	size_t			 i, flen;
	struct wire_signed	 ws;
	int			 depth = 0, rc = -1;

	if (wire_request_decode(msg, len, 65536, &req) != WIRE_DECODE_OK ||
	    req.msg->body_case != KEYGATE__REQUEST__BODY_CHECK)
		goto out;
	for (i = 0; i < o->size; i++) {
		randombytes_buf(other, sizeof(other));
		blen[i] = i == o->index ?
		    body_make(&req, req.nonce, req.nonce_len, body[i]) :
		    body_make(&req, other, sizeof(other), body[i]);
		if (blen[i] == 0)
			goto out;
		merkle_leaf_hash(body[i], blen[i], leaf[i]);
	}
	memset(&ws, 0, sizeof(ws));
	ws.body = body[o->index];
	ws.bodylen = blen[o->index];
	ws.sig = sig;
	ws.key_id = kp->id;
	if (o->size == 1) {
		if (keys_sign(kp, KG_DOMAIN_REPLY, ws.body, ws.bodylen, sig) !=
		    KGE_OK)
			goto out;
	} else {
		if (merkle_build(&tree, (const uint8_t (*)[KG_MERKLE_HASH_LEN])
		    leaf, o->size) == -1 ||
		    keys_sign(kp, KG_DOMAIN_REPLY_BATCH, merkle_root(&tree),
		    KG_MERKLE_HASH_LEN, sig) != KGE_OK ||
		    (depth = merkle_path(&tree, o->index, path)) < 1)
			goto out;
		if (o->forge)
			path[0][0] ^= 1;
		ws.index = (uint32_t)o->index;
		ws.path = (const uint8_t (*)[KG_MERKLE_HASH_LEN])path;
		ws.depth = (size_t)depth;
	}
	if ((frame = malloc(wire_reply_frame_max(&ws))) == NULL)
		goto out;
	flen = wire_reply_frame_pack(&ws, frame);
	rc = write_full(fd, frame, flen);
	free(frame);
out:
	wire_request_clear(&req);
	return rc;
}

/* Answer the checks of one connection until it closes. */
static void
serve(int fd, const struct opts *o)
{
	uint8_t		hdr[4], *msg;
	uint32_t	len;

	while (read_full(fd, hdr, sizeof(hdr)) == 1) {
		len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		    (uint32_t)hdr[2] << 8 | hdr[3];
		if (len == 0 || len > 65536 || (msg = malloc(len)) == NULL)
			return;
		if (read_full(fd, msg, len) != 1 ||
		    answer(fd, o, msg, len) == -1) {
			free(msg);
			return;
		}
		free(msg);
	}
}

static int
opts_parse(int argc, char *argv[], struct opts *o)
{
	int	i;

	if (argc < 2)
		return -1;
	o->dir = argv[1];
	o->size = 3;
	o->index = SIZE_MAX;
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--forge") == 0)
			o->forge = true;
		else if (i + 1 < argc && strcmp(argv[i], "--size") == 0)
			o->size = strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--index") == 0)
			o->index = strtoul(argv[++i], NULL, 10);
		else
			return -1;
	}
	if (o->index == SIZE_MAX)
		o->index = o->size - 1;
	if (o->size == 0 || o->size > KG_MERKLE_LEAVES_MAX || o->index >= o->size ||
	    (o->forge && o->size == 1))
		return -1;
	return 0;
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	struct pollfd		pfd;
	struct opts		o;
	char			port[16];
	int			lfd, fd, conns;

	memset(&o, 0, sizeof(o));
	if (opts_parse(argc, argv, &o) == -1)
		return fail("usage: kg_batch_server DIR [--size N] [--index I] "
		    "[--forge]");
	if (sodium_init() < 0 || identity_write(o.dir) == -1)
		return fail("cannot make the key pair and write DIR/pub, DIR/key");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, CONNS_MAX) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1)
		return fail("cannot listen on 127.0.0.1");
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	if (file_write(o.dir, "port", port) == -1)
		return fail("cannot write DIR/port");
	pfd.fd = lfd;
	pfd.events = POLLIN;
	for (conns = 0; conns < CONNS_MAX; conns++) {
		if (poll(&pfd, 1, IDLE_MS) != 1)
			break;
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			return fail("accept failed");
		serve(fd, &o);
		close(fd);
	}
	close(lfd);
	keypair_free(kp);
	return 0;
}
