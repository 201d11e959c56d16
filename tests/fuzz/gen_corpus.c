/*
 * The seed corpora's generator, run once by hand (not by ctest):
 *
 *	build/tests/fuzz/fuzz_gen_corpus tests/fuzz
 *
 * makes two throwaway corpus keys (A, to be trusted as a retired signing
 * key, and B, to be marked compromised), writes their public halves and one
 * key text into DIR/corpus_keys.h, and writes the seeds of every target
 * into DIR/corpus/<target>/. The keys' secret halves exist only in this
 * process's memory and are wiped at exit: a corpus key signs nothing real.
 * Key texts in the seeds name the licenses fuzz_daemon_open creates (the
 * generator sets up the same store to read their serials and registration
 * numbers). Nonces are fixed bytes, so the output depends only on the two
 * corpus keys.
 *
 * A second run makes new corpus keys: start from empty corpus directories
 * then, or inputs merged in by tests/fuzz/run keep key texts of the old ones.
 * With --no-keys it writes only the seeds that carry no key text (and
 * leaves corpus_keys.h alone): the way to add such seeds later.
 */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "keygate.pb-c.h"
#include "kgerr.h"
#include "license.h"
#include "store.h"

#define TARGETS_N	5

static const char	*outdir;
static struct fuzz_daemon fdm;
static struct kg_keypair *key_a, *key_b;
static char		*keytext[FUZZ_LICENSES + 1];	/* by serial, signed by A */
static struct kg_license lic[FUZZ_LICENSES + 1];

/* A growing byte string. */
struct blob {
	uint8_t	*p;
	size_t	 len, cap;
};

static void
blob_add(struct blob *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		FUZZ_CHECK((b->p = realloc(b->p, b->cap)) != NULL);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void
blob_str(struct blob *b, const char *s)
{
	blob_add(b, s, strlen(s));
}

static void
blob_be32(struct blob *b, uint32_t n)
{
	uint8_t	h[4] = { n >> 24, n >> 16, n >> 8, n };

	blob_add(b, h, sizeof(h));
}

static void
blob_free(struct blob *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void
dir_make(const char *path)
{
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "gen_corpus: mkdir %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* Write one seed: DIR/corpus/<target>/<name>. */
static void
seed_write(const char *target, const char *name, const void *data, size_t len)
{
	char	 path[PATH_MAX];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/corpus/%s/%s", outdir, target, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void
seed_text(const char *target, const char *name, const char *text)
{
	seed_write(target, name, text, strlen(text));
}

/* ---- keys ---- */

/* lic signed by kp (key id set from kp), as key text. */
static char *
key_sign(const struct kg_license *l, const struct kg_keypair *kp)
{
	struct kg_license	 c = *l;
	char			*text;

	memcpy(c.key_id, kp->id, KG_KEY_ID_LEN);
	FUZZ_CHECK(license_key_new(&c, kp, &text) == KGE_OK);
	return text;
}

static void
keys_make(void)
{
	struct store_license	sl;
	struct store		*st = fdm.d.store;
	uint64_t		serial;

	for (serial = 1; serial <= FUZZ_LICENSES; serial++) {
		FUZZ_CHECK(st->ops->license_get_serial(st, serial, &sl) ==
		    STORE_OK);
		lic[serial] = sl.lic;
		/* License 10 is stored at revision 2: its key is the older one. */
		if (serial == 10)
			lic[serial].revision = 1;
		keytext[serial] = key_sign(&lic[serial], key_a);
	}
}

static void
header_write(void)
{
	char	 path[PATH_MAX], a[KG_PUBKEY_TEXT_MAX], b[KG_PUBKEY_TEXT_MAX];
	FILE	*f;

	pubkey_format(key_a->pk, a);
	pubkey_format(key_b->pk, b);
	snprintf(path, sizeof(path), "%s/corpus_keys.h", outdir);
	if ((f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fprintf(f, "/*\n"
	    " * Written by gen_corpus.c: the public halves of the throwaway corpus keys\n"
	    " * that signed the key texts in tests/fuzz/corpus (their secret halves were\n"
	    " * never written anywhere), and the key text of license serial 1 signed by\n"
	    " * corpus key A, which fuzz_reply sends with its requests.\n"
	    " */\n"
	    "#ifndef KG_FUZZ_CORPUS_KEYS_H\n"
	    "#define KG_FUZZ_CORPUS_KEYS_H\n\n"
	    "#define FUZZ_CORPUS_PUBKEY_A\t\"%s\"\t/* retired */\n"
	    "#define FUZZ_CORPUS_PUBKEY_B\t\"%s\"\t/* compromised */\n"
	    "#define FUZZ_CORPUS_KEY1 \\\n    \"%s\"\n\n"
	    "#endif\n", a, b, keytext[1]);
	if (fclose(f) != 0) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* ---- fuzz_frame: request frames ---- */

/* A fixed nonce of len bytes. */
static void
nonce_fill(uint8_t *n, size_t len, uint8_t tag)
{
	size_t	i;

	for (i = 0; i < len; i++)
		n[i] = (uint8_t)(tag * 31 + i);
}

/* Append one framed Request to b. */
static void
frame_add(struct blob *b, Keygate__Request *req)
{
	size_t	 len = keygate__request__get_packed_size(req);
	uint8_t	*buf;

	FUZZ_CHECK((buf = malloc(len + 1)) != NULL);
	FUZZ_CHECK(keygate__request__pack(req, buf) == len);
	blob_be32(b, (uint32_t)len);
	blob_add(b, buf, len);
	free(buf);
}

static uint8_t	frame_tag;

static void
request_init(Keygate__Request *req, uint8_t *nonce, size_t nonce_len)
{
	keygate__request__init(req);
	req->protocol = KG_PROTOCOL_VERSION;
	nonce_fill(nonce, nonce_len, ++frame_tag);
	req->nonce.data = nonce;
	req->nonce.len = nonce_len;
}

static void
frame_check(struct blob *b, const char *key, const char *product,
    const char *version, const char *target)
{
	Keygate__Request	req;
	Keygate__CheckRequest	chk = KEYGATE__CHECK_REQUEST__INIT;
	uint8_t			nonce[32];

	request_init(&req, nonce, sizeof(nonce));
	chk.key = (char *)key;
	chk.product = (char *)product;
	chk.version = (char *)version;
	if (target != NULL)
		chk.target = (char *)target;
	req.body_case = KEYGATE__REQUEST__BODY_CHECK;
	req.check = &chk;
	frame_add(b, &req);
}

static void
frame_status(struct blob *b, const char *key)
{
	Keygate__Request	req;
	Keygate__StatusRequest	st = KEYGATE__STATUS_REQUEST__INIT;
	uint8_t			nonce[16];

	request_init(&req, nonce, sizeof(nonce));
	st.key = (char *)key;
	req.body_case = KEYGATE__REQUEST__BODY_STATUS;
	req.status = &st;
	frame_add(b, &req);
}

static void
frame_activate(struct blob *b, const char *key, const char *act)
{
	Keygate__Request		req;
	Keygate__ActivateRequest	ar = KEYGATE__ACTIVATE_REQUEST__INIT;
	uint8_t				nonce[64];

	request_init(&req, nonce, sizeof(nonce));
	ar.key = (char *)key;
	ar.act = (char *)act;
	req.body_case = KEYGATE__REQUEST__BODY_ACTIVATE;
	req.activate = &ar;
	frame_add(b, &req);
}

static void
seed_blob(const char *target, const char *name, struct blob *b)
{
	seed_write(target, name, b->p, b->len);
	blob_free(b);
}

static const char *
product_version(uint64_t serial)
{
	return strcmp(lic[serial].product, "KKT5") == 0 ? "5.0" : "1.0";
}

static void
frames_valid(void)
{
	static const char	*acts[][3] = {
		{ "1", "A-1001", "activate-01-grace" },
		{ "3", "A-1006", "activate-03-corp-subscription" },
		{ "4", "A-1001", "activate-04-subscription-required" },
		{ "6", "A-1003", "activate-06-activation-basis" },
		{ "7", "A-1005", "activate-07-trial" },
		{ "1", "A-1004", "activate-01-void-act" },
		{ "1", "X-9999", "activate-01-unknown-act" },
		{ "2", "A-1003", "activate-02-wrong-product" },
		{ "1", "bad act!", "activate-01-act-syntax" },
		{ "8", "A-1001", "activate-08-revoked" },
		{ "10", "A-1003", "activate-10-newer-revision" },
	};
	struct blob	b = { 0 };
	char		name[64];
	uint64_t	s;
	size_t		i;

	for (s = 1; s <= FUZZ_LICENSES; s++) {
		frame_check(&b, keytext[s], lic[s].product, product_version(s),
		    NULL);
		snprintf(name, sizeof(name), "check-%02" PRIu64 "-%s", s,
		    lic[s].edition);
		seed_blob("fuzz_frame", name, &b);
	}
	frame_check(&b, keytext[1], "ZHKH8", "2.0", "2.1");
	seed_blob("fuzz_frame", "check-01-target-scheduled", &b);
	frame_check(&b, keytext[2], "ZHKH8", "2.0.1", NULL);
	seed_blob("fuzz_frame", "check-02-withdrawn", &b);
	frame_check(&b, keytext[1], "KKT5", "5.1", NULL);
	seed_blob("fuzz_frame", "check-01-wrong-product", &b);
	frame_check(&b, keytext[1], "NOPE", "1.0", NULL);
	seed_blob("fuzz_frame", "check-01-unknown-product", &b);
	frame_check(&b, keytext[1], "ZHKH8", "1..2", NULL);
	seed_blob("fuzz_frame", "check-01-bad-version", &b);
	frame_check(&b, keytext[3], "ZHKH8", "1.1", "2.0");
	seed_blob("fuzz_frame", "check-03-target", &b);
	for (s = 1; s <= FUZZ_LICENSES; s += 3) {
		frame_status(&b, keytext[s]);
		snprintf(name, sizeof(name), "status-%02" PRIu64, s);
		seed_blob("fuzz_frame", name, &b);
	}
	for (i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
		frame_activate(&b, keytext[atoi(acts[i][0])], acts[i][1]);
		seed_blob("fuzz_frame", acts[i][2], &b);
	}
	/* Several requests on one connection, and a guesser hitting the limit. */
	frame_check(&b, keytext[2], "ZHKH8", "1.1", NULL);
	frame_status(&b, keytext[6]);
	frame_activate(&b, keytext[1], "A-1001");
	frame_activate(&b, keytext[1], "A-1001");
	frame_check(&b, keytext[1], "ZHKH8", "2.0", NULL);
	seed_blob("fuzz_frame", "pipeline-check-status-activate-repeat", &b);
	for (i = 0; i < 7; i++)
		frame_activate(&b, keytext[2], "GUESS-1");
	seed_blob("fuzz_frame", "pipeline-rate-limited", &b);
}

static void
frames_bad(void)
{
	Keygate__Request	req;
	Keygate__StatusRequest	st = KEYGATE__STATUS_REQUEST__INIT;
	struct kg_license	l;
	struct blob		b = { 0 }, m = { 0 };
	uint8_t			nonce[64];
	char			*text;
	size_t			i;

	request_init(&req, nonce, 32);
	req.protocol = 2;
	req.body_case = KEYGATE__REQUEST__BODY_STATUS;
	st.key = keytext[1];
	req.status = &st;
	frame_add(&b, &req);
	seed_blob("fuzz_frame", "bad-protocol-2", &b);

	request_init(&req, nonce, 8);
	req.body_case = KEYGATE__REQUEST__BODY_STATUS;
	req.status = &st;
	frame_add(&b, &req);
	seed_blob("fuzz_frame", "bad-nonce-short", &b);

	request_init(&req, nonce, 32);
	frame_add(&b, &req);
	seed_blob("fuzz_frame", "bad-no-body", &b);

	frame_check(&b, "", "ZHKH8", "1.0", NULL);
	seed_blob("fuzz_frame", "bad-empty-key", &b);

	frame_check(&b, keytext[1], "ZHKH8-THIS-PRODUCT-CODE-IS-FAR-TOO-LONG",
	    "1.0", NULL);
	seed_blob("fuzz_frame", "bad-long-product", &b);

	/* A frame whose header promises more than arrives. */
	frame_check(&m, keytext[1], "ZHKH8", "1.0", NULL);
	blob_add(&b, m.p, m.len / 2);
	blob_free(&m);
	seed_blob("fuzz_frame", "bad-truncated", &b);

	blob_be32(&b, KG_FRAME_MAX + 1);
	blob_str(&b, "0123456789");
	seed_blob("fuzz_frame", "bad-oversize-header", &b);

	blob_be32(&b, 0);
	seed_blob("fuzz_frame", "bad-zero-length", &b);

	blob_str(&b, "GET / HTTP/1.1\r\nHost: keygate.example\r\n\r\n");
	seed_blob("fuzz_frame", "bad-http-get", &b);

	blob_be32(&b, 16);
	for (i = 0; i < 16; i++)
		blob_add(&b, "\xff", 1);
	seed_blob("fuzz_frame", "bad-not-protobuf", &b);

	text = key_sign(&lic[2], key_b);
	frame_check(&b, text, "ZHKH8", "1.0", NULL);
	free(text);
	seed_blob("fuzz_frame", "key-compromised-signer", &b);

	l = lic[1];
	l.serial = 99;
	text = key_sign(&l, key_a);
	frame_check(&b, text, "ZHKH8", "1.0", NULL);
	free(text);
	seed_blob("fuzz_frame", "key-unknown-serial", &b);

	l = lic[1];
	snprintf(l.regno, sizeof(l.regno), "ZHKH8-999999");
	text = key_sign(&l, key_a);
	frame_status(&b, text);
	free(text);
	seed_blob("fuzz_frame", "key-regno-mismatch", &b);

	frame_check(&b, "KG1.CMDEBxIFWkhLSDgaBFBST0YiDFpIS0g4LTAwMDEyMyoX0J7QntCe"
	    "ICLQoNC-0LzQsNGI0LrQsCIwhKABOLmhAVIInSTi7q8nwqBYAQ.mtKRWiDkT98ZG3Wj7"
	    "YplYZjfqSCGaejnI6u7IqXfbo4tV1fbbpeWwm4jK8H7SKakmR_Ev2imvs_z2KtSJnoMCQ",
	    "ZHKH8", "1.0", NULL);
	seed_blob("fuzz_frame", "key-unknown-signer", &b);

	/*
	 * Many tiny unknown fields: protobuf-c allocates for each. 2048 fit
	 * the request's allocation budget; 20480 do not.
	 */
	request_init(&req, nonce, 32);
	req.body_case = KEYGATE__REQUEST__BODY_STATUS;
	req.status = &st;
	for (i = 0; i < 2; i++) {
		size_t	n = i == 0 ? 2048 : 20480, k, len;
		uint8_t	*buf;

		len = keygate__request__get_packed_size(&req);
		FUZZ_CHECK((buf = malloc(len)) != NULL);
		keygate__request__pack(&req, buf);
		blob_be32(&b, (uint32_t)(len + 2 * n));
		blob_add(&b, buf, len);
		free(buf);
		for (k = 0; k < n; k++)
			blob_add(&b, "\x78\x00", 2);	/* field 15, varint 0 */
		seed_blob("fuzz_frame", i == 0 ? "budget-unknown-fields-fit" :
		    "budget-unknown-fields-over", &b);
	}
}

/* Requests that carry no key: the RotationsRequest. */
static void
frames_keyless(void)
{
	Keygate__Request		req;
	Keygate__RotationsRequest	rr = KEYGATE__ROTATIONS_REQUEST__INIT;
	struct blob			b = { 0 };
	uint8_t				nonce[32];

	request_init(&req, nonce, sizeof(nonce));
	req.body_case = KEYGATE__REQUEST__BODY_ROTATIONS;
	req.rotations = &rr;
	frame_add(&b, &req);
	seed_blob("fuzz_frame", "rotations-request", &b);
	frame_add(&b, &req);
	frame_add(&b, &req);
	seed_blob("fuzz_frame", "rotations-request-twice", &b);
}

/* ---- fuzz_key: key texts ---- */

static void
keys_seeds(void)
{
	char		 line[1024], name[64], *text, *p;
	struct blob	 b = { 0 };
	FILE		*f;
	size_t		 n = 0, len;
	int		 i;

	f = fopen(KG_VECTORS_DIR "/license-v1.txt", "r");
	FUZZ_CHECK(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "key: ", 5) != 0 && strncmp(line, "pubkey: ", 8) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(name, sizeof(name), "vector-%s-%zu",
		    line[0] == 'k' ? "key" : "pubkey", ++n);
		seed_text("fuzz_key", name, strchr(line, ' ') + 1);
	}
	fclose(f);

	for (i = 1; i <= FUZZ_LICENSES; i += 3) {
		snprintf(name, sizeof(name), "corpus-a-serial-%02d", i);
		seed_text("fuzz_key", name, keytext[i]);
	}
	text = key_sign(&lic[2], key_b);
	seed_text("fuzz_key", "corpus-b-compromised", text);
	free(text);

	text = keytext[1];
	len = strlen(text);
	seed_write("fuzz_key", "broken-truncated-payload", text, 40);
	seed_write("fuzz_key", "broken-truncated-signature", text, len - 10);
	blob_str(&b, "KG2.");
	blob_str(&b, text + 4);
	seed_blob("fuzz_key", "broken-prefix", &b);
	blob_str(&b, text);
	*(strchr((char *)b.p + 4, '.')) = '_';
	seed_blob("fuzz_key", "broken-no-dot", &b);
	blob_str(&b, text);
	blob_str(&b, ".AAAA");
	seed_blob("fuzz_key", "broken-extra-part", &b);
	blob_str(&b, text);
	b.p[10] = '+';
	seed_blob("fuzz_key", "broken-base64-char", &b);
	blob_str(&b, text);
	blob_str(&b, "==");
	seed_blob("fuzz_key", "broken-padding", &b);
	blob_str(&b, text);
	b.p[len - 5] = b.p[len - 5] == 'A' ? 'B' : 'A';
	seed_blob("fuzz_key", "broken-signature-altered", &b);
	blob_str(&b, text);
	b.p[20] = b.p[20] == 'A' ? 'B' : 'A';
	seed_blob("fuzz_key", "broken-payload-altered", &b);
	/* Whitespace and line breaks anywhere are ignored: still valid. */
	for (p = text; *p != '\0'; p++) {
		blob_add(&b, p, 1);
		if ((p - text) % 64 == 63)
			blob_str(&b, "\r\n  \t");
	}
	seed_blob("fuzz_key", "valid-wrapped-lines", &b);
	blob_str(&b, "KG1.");
	for (i = 0; i < 1400; i++)
		blob_str(&b, "A");
	blob_str(&b, ".");
	blob_str(&b, strrchr(text, '.') + 1);
	seed_blob("fuzz_key", "broken-payload-too-long", &b);
	seed_text("fuzz_key", "broken-empty-parts", "KG1..");
	seed_text("fuzz_key", "broken-prefix-only", "KG1.");
}

/* ---- fuzz_config ---- */

static void
config_seeds(void)
{
	static const char	*seeds[][2] = {
		{ "listen", "listen = 0.0.0.0:7447\n" },
		{ "all-settings",
		    "listen = [::1]:7447\nadmin_socket = /run/keygate/admin.sock\n"
		    "key_file = signing.key\npassphrase_file = /run/credentials/p\n"
		    "port_file = /tmp/port\nmax_connections = 1\nframe_max = 256\n"
		    "idle_timeout = 86400\nread_timeout = 3600\nwrite_timeout = 1\n"
		    "output_highwater = 4096\nmap_size_mb = 1048576\n"
		    "log_level = debug\nadmin_uids = 1000, 1001 1002\n" },
		{ "comments-blank", "# comment only\n\n   \t\n# another\n"
		    "log_level = warn # trailing comment\n" },
		{ "crlf", "frame_max = 65536\r\nlog_level = error\r\n" },
		{ "no-final-newline", "idle_timeout = 60" },
		{ "uids-max", "admin_uids = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n" },
		{ "bad-uids-too-many",
		    "admin_uids = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n" },
		{ "bad-uids-text", "admin_uids = root\n" },
		{ "bad-unknown", "listen_port = 7447\n" },
		{ "bad-no-equals", "listen 127.0.0.1:7447\n" },
		{ "bad-empty-name", " = 5\n" },
		{ "bad-range-low", "frame_max = 255\n" },
		{ "bad-range-high", "map_size_mb = 1048577\n" },
		{ "bad-number", "max_connections = 12abc\n" },
		{ "bad-negative", "read_timeout = -1\n" },
		{ "bad-overflow", "map_size_mb = 184467440737095516160\n" },
		{ "bad-level", "log_level = verbose\n" },
		{ "bad-empty-value", "listen =\n" },
		{ "twice", "log_level = info\nlog_level = debug\n" },
	};
	struct blob	b = { 0 };
	char		path[PATH_MAX];
	size_t		i;
	FILE		*f;
	int		c;

	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		seed_text("fuzz_config", seeds[i][0], seeds[i][1]);
	/* What keygated init writes. */
	snprintf(path, sizeof(path), "%s/keygated.conf", fuzz_tmpdir("gen"));
	FUZZ_CHECK(conf_write_default(path) == 0);
	FUZZ_CHECK((f = fopen(path, "r")) != NULL);
	while ((c = fgetc(f)) != EOF) {
		uint8_t	ch = (uint8_t)c;

		blob_add(&b, &ch, 1);
	}
	fclose(f);
	seed_blob("fuzz_config", "default", &b);
	blob_str(&b, "listen = ");
	for (i = 0; i < 200; i++)
		blob_str(&b, "x");
	blob_str(&b, "\n");
	seed_blob("fuzz_config", "bad-string-too-long", &b);
	for (i = 0; i < 1100; i++)
		blob_str(&b, "#");
	blob_str(&b, "\n");
	seed_blob("fuzz_config", "bad-line-too-long", &b);
	blob_add(&b, "log_level = info\0debug\n", 23);
	seed_blob("fuzz_config", "nul-byte", &b);
}

/* ---- fuzz_admin: requests, one JSON object per line ---- */

static void
admin_seeds(void)
{
	static const char	*seeds[][2] = {
		{ "product-add", "{\"op\":\"product.add\",\"code\":\"NEW1\","
		    "\"name\":\"New product\",\"price\":\"7990.50\"}" },
		{ "product-add-exists", "{\"op\":\"product.add\",\"code\":\"ZHKH8\","
		    "\"name\":\"Again\",\"price\":7990}" },
		{ "product-list", "{\"op\":\"product.list\"}" },
		{ "edition-add", "{\"op\":\"edition.add\",\"product\":\"ZHKH8\","
		    "\"edition\":\"CASH\",\"support_months\":3,\"basis\":"
		    "\"activation\",\"on_expiry\":\"demo\",\"renewal_months\":12,"
		    "\"grace_months\":1,\"grace_percent\":25,\"standard_percent\":45,"
		    "\"requires_subscription\":true}" },
		{ "edition-list", "{\"op\":\"edition.list\",\"product\":\"ZHKH8\"}" },
		{ "release-publish", "{\"op\":\"release.publish\",\"product\":"
		    "\"ZHKH8\",\"version\":\"2.2\",\"date\":\"2026-06-10\","
		    "\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
		    "a495991b7852b855\",\"url\":\"https://example.com/zhkh8-2.2\"}" },
		{ "release-list", "{\"op\":\"release.list\",\"product\":\"KKT5\"}" },
		{ "release-withdraw", "{\"op\":\"release.withdraw\",\"product\":"
		    "\"ZHKH8\",\"version\":\"2.0\"}" },
		{ "key-issue", "{\"op\":\"key.issue\",\"product\":\"ZHKH8\","
		    "\"edition\":\"PROF\",\"licensee\":\"Example Ltd\","
		    "\"created\":\"2025-11-01\",\"count\":2}" },
		{ "key-issue-trial", "{\"op\":\"key.issue\",\"product\":\"NGW1\","
		    "\"edition\":\"TRIAL\",\"licensee\":\"Lab\",\"trial_days\":30}" },
		{ "key-show-regno", "{\"op\":\"key.show\",\"regno\":\"ZHKH8-000001\"}" },
		{ "key-list", "{\"op\":\"key.list\",\"product\":\"ZHKH8\","
		    "\"state\":\"active\"}" },
		{ "key-list-all", "{\"op\":\"key.list\"}" },
		{ "key-extend", "{\"op\":\"key.extend\",\"regno\":\"ZHKH8-000002\","
		    "\"months\":12}" },
		{ "key-revoke", "{\"op\":\"key.revoke\",\"regno\":\"ZHKH8-000001\","
		    "\"reason\":\"refund\"}" },
		{ "key-suspend", "{\"op\":\"key.suspend\",\"regno\":\"ZHKH8-000002\","
		    "\"reason\":\"unpaid\"}" },
		{ "key-reinstate", "{\"op\":\"key.reinstate\",\"regno\":"
		    "\"ZHKH8-000006\",\"reason\":\"paid\"}" },
		{ "act-register", "{\"op\":\"act.register\",\"number\":\"B-2001\","
		    "\"product\":\"ZHKH8\",\"months\":12,\"edition\":\"PROF\","
		    "\"licensee\":\"Example Ltd\"}" },
		{ "act-show", "{\"op\":\"act.show\",\"number\":\"A-1001\"}" },
		{ "act-list", "{\"op\":\"act.list\",\"product\":\"ZHKH8\","
		    "\"state\":\"open\"}" },
		{ "act-void", "{\"op\":\"act.void\",\"number\":\"A-1002\"}" },
		{ "subscription-set", "{\"op\":\"subscription.set\",\"licensee\":"
		    "\"Example Ltd\",\"until\":\"2027-06-30\"}" },
		{ "subscription-show", "{\"op\":\"subscription.show\",\"licensee\":"
		    "\"Corp Ltd\"}" },
		{ "audit", "{\"op\":\"audit\",\"since\":\"2026-01-01\"}" },
		{ "audit-verify", "{\"op\":\"audit\",\"verify\":true}" },
		{ "backup", "{\"op\":\"backup\",\"path\":\"/backup.mdb\"}" },
		{ "backup-relative", "{\"op\":\"backup\",\"path\":\"backup.mdb\"}" },
		{ "sequence", "{\"op\":\"product.add\",\"code\":\"SEQ\",\"name\":"
		    "\"Seq\",\"price\":100}\n{\"op\":\"edition.add\",\"product\":"
		    "\"SEQ\",\"edition\":\"E\"}\n{\"op\":\"key.issue\",\"product\":"
		    "\"SEQ\",\"edition\":\"E\",\"licensee\":\"L\"}\n{\"op\":"
		    "\"key.list\",\"product\":\"SEQ\"}" },
		{ "bad-unknown-op", "{\"op\":\"product.delete\",\"code\":\"ZHKH8\"}" },
		{ "bad-unknown-arg", "{\"op\":\"product.list\",\"all\":true}" },
		{ "bad-no-op", "{\"code\":\"ZHKH8\"}" },
		{ "bad-op-type", "{\"op\":5}" },
		{ "bad-not-object", "[\"product.list\"]" },
		{ "bad-not-json", "product.list" },
		{ "bad-duplicate-key", "{\"op\":\"product.list\",\"op\":\"audit\"}" },
		{ "bad-code", "{\"op\":\"edition.list\",\"product\":\"ZH KH8\"}" },
		{ "bad-date", "{\"op\":\"subscription.set\",\"licensee\":\"X\","
		    "\"until\":\"2026-02-30\"}" },
		{ "bad-money", "{\"op\":\"product.add\",\"code\":\"M\",\"name\":"
		    "\"M\",\"price\":\"12.345\"}" },
		{ "bad-text-control", "{\"op\":\"key.issue\",\"product\":\"ZHKH8\","
		    "\"edition\":\"PROF\",\"licensee\":\"a\\u0001b\"}" },
		{ "bad-text-nul", "{\"op\":\"key.issue\",\"product\":\"ZHKH8\","
		    "\"edition\":\"PROF\",\"licensee\":\"a\\u0000b\"}" },
		{ "bad-months", "{\"op\":\"key.extend\",\"regno\":\"ZHKH8-000002\","
		    "\"months\":0}" },
		{ "bad-version", "{\"op\":\"release.publish\",\"product\":\"ZHKH8\","
		    "\"version\":\"2.01\",\"date\":\"2026-06-10\"}" },
	};
	size_t	i;

	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		seed_text("fuzz_admin", seeds[i][0], seeds[i][1]);
	/* key.show by key text: the corpus key of license 1. */
	{
		struct blob	b = { 0 };

		blob_str(&b, "{\"op\":\"key.show\",\"key\":\"");
		blob_str(&b, keytext[1]);
		blob_str(&b, "\"}");
		seed_blob("fuzz_admin", "key-show-key", &b);
	}
}

/* ---- fuzz_reply: replies (see fuzz_reply.c for the first byte) ---- */

static void
reply_seed(const char *name, uint8_t mode, Keygate__ReplyBody *body)
{
	struct blob	 b = { 0 };
	uint8_t		*buf;
	size_t		 len = keygate__reply_body__get_packed_size(body);

	FUZZ_CHECK((buf = malloc(len + 1)) != NULL);
	keygate__reply_body__pack(body, buf);
	blob_add(&b, &mode, 1);
	blob_add(&b, buf, len);
	free(buf);
	seed_blob("fuzz_reply", name, &b);
}

static void
reply_seeds(void)
{
	Keygate__ReplyBody	body = KEYGATE__REPLY_BODY__INIT;
	Keygate__Verdict	v = KEYGATE__VERDICT__INIT;
	Keygate__Quote		q = KEYGATE__QUOTE__INIT;
	Keygate__Renewal	r = KEYGATE__RENEWAL__INIT;
	Keygate__Error		e = KEYGATE__ERROR__INIT;
	Keygate__Reply		rep = KEYGATE__REPLY__INIT;
	struct kg_license	l;
	struct blob		b = { 0 };
	uint8_t			sig[KG_SIG_LEN], *buf, mode;
	char			*text;
	size_t			len;

	/* Mode 1 (the harness adds nonce, hash and protocol, and signs). */
	body.server_time = 1781524800;
	body.result_case = KEYGATE__REPLY_BODY__RESULT_VERDICT;
	body.verdict = &v;
	v.verdict = "update";
	v.reason = "support_expired";
	v.eligible = "2.0";
	v.latest = "2.1";
	v.support_expiry = 20574;
	v.days_left = 0;
	v.regno = "ZHKH8-000001";
	v.licensee = "Example Ltd";
	v.product = "ZHKH8";
	v.edition = "PROF";
	v.state = "active";
	q.kind = "grace";
	q.price = 199800;
	q.new_expiry = 20939;
	v.quote = &q;
	reply_seed("check-update-quote", 0x01, &body);
	v.verdict = "demo";
	v.reason = "revoked";
	v.detail = "refund";
	v.state = "revoked";
	v.quote = NULL;
	v.license_expiry = 20574;
	reply_seed("check-demo-revoked", 0x01, &body);
	v.verdict = "";
	v.reason = "ok";
	v.detail = "";
	v.state = "active";
	v.license_expiry = 0;
	v.days_left = 78;
	reply_seed("status-ok", 0x09, &body);
	/* A renewal with the re-signed key of license 1 (revision 2). */
	l = lic[1];
	l.revision = 2;
	l.support_expiry = 20939;
	text = key_sign(&l, key_a);
	v.key = text;
	r.kind = "grace";
	r.price = 199800;
	r.new_expiry = 20939;
	r.months = 12;
	r.act = "A-1001";
	v.renewal = &r;
	reply_seed("activate-renewed-key", 0x0d, &body);
	free(text);
	/* A key of another license: refused. */
	text = keytext[2];
	v.key = text;
	reply_seed("activate-other-license-key", 0x0d, &body);
	v.key = "KG1.not-a-key";
	reply_seed("activate-bad-key", 0x0d, &body);
	v.key = NULL;
	v.renewal = NULL;
	v.reason = "rate_limited";
	v.retry_after = 42;
	reply_seed("activate-rate-limited", 0x0d, &body);
	v.retry_after = 0;
	v.reason = "ok";
	v.support_expiry = 0xffffffff;
	v.license_expiry = 0x80000000;
	v.days_left = -2147483647 - 1;
	q.new_expiry = 0xffffffff;
	q.price = INT64_MIN;
	v.quote = &q;
	reply_seed("extreme-dates-money", 0x01, &body);
	v.reason = "";
	reply_seed("verdict-no-reason", 0x01, &body);
	body.result_case = KEYGATE__REPLY_BODY__RESULT_ERROR;
	body.error = &e;
	e.reason = "bad_request";
	e.detail = "nonce must be 16 to 64 random bytes";
	reply_seed("error-bad-request", 0x01, &body);
	e.reason = "";
	reply_seed("error-no-reason", 0x05, &body);
	body.result_case = KEYGATE__REPLY_BODY__RESULT__NOT_SET;
	reply_seed("no-result", 0x01, &body);
	body.test_clock = true;
	body.result_case = KEYGATE__REPLY_BODY__RESULT_ERROR;
	e.reason = "protocol_version";
	reply_seed("error-test-clock", 0x01, &body);

	/* Mode 2: signed as given, so nonce and hash do not match. */
	body.nonce.data = (uint8_t *)"0123456789abcdef0123456789abcdef";
	body.nonce.len = 32;
	body.protocol = 1;
	reply_seed("mode2-wrong-nonce", 0x02, &body);

	/* Mode 3: a whole Reply signed by corpus key A (a trusted key). */
	len = keygate__reply_body__get_packed_size(&body);
	FUZZ_CHECK((buf = malloc(len)) != NULL);
	keygate__reply_body__pack(&body, buf);
	FUZZ_CHECK(keys_sign(key_a, KG_DOMAIN_REPLY, buf, len, sig) == KGE_OK);
	rep.body.data = buf;
	rep.body.len = len;
	rep.signature.data = sig;
	rep.signature.len = sizeof(sig);
	rep.key_id.data = key_a->id;
	rep.key_id.len = KG_KEY_ID_LEN;
	{
		size_t	 rlen = keygate__reply__get_packed_size(&rep);
		uint8_t	*rbuf;

		FUZZ_CHECK((rbuf = malloc(rlen)) != NULL);
		keygate__reply__pack(&rep, rbuf);
		mode = 0x03;
		blob_add(&b, &mode, 1);
		blob_add(&b, rbuf, rlen);
		seed_blob("fuzz_reply", "mode3-signed-by-a", &b);
		/* Mode 0: the same Reply framed by hand. */
		mode = 0x00;
		blob_add(&b, &mode, 1);
		blob_be32(&b, (uint32_t)rlen);
		blob_add(&b, rbuf, rlen);
		seed_blob("fuzz_reply", "mode0-framed", &b);
		mode = 0x00;
		blob_add(&b, &mode, 1);
		blob_be32(&b, (uint32_t)rlen + 100);
		blob_add(&b, rbuf, rlen);
		seed_blob("fuzz_reply", "mode0-truncated", &b);
		free(rbuf);
	}
	rep.key_id.data = key_b->id;
	{
		size_t	 rlen = keygate__reply__get_packed_size(&rep);
		uint8_t	*rbuf;

		FUZZ_CHECK((rbuf = malloc(rlen)) != NULL);
		keygate__reply__pack(&rep, rbuf);
		mode = 0x03;
		blob_add(&b, &mode, 1);
		blob_add(&b, rbuf, rlen);
		seed_blob("fuzz_reply", "mode3-unknown-key-id", &b);
		free(rbuf);
	}
	free(buf);
	mode = 0x00;
	blob_add(&b, &mode, 1);
	blob_be32(&b, KG_FRAME_MAX + 1);
	seed_blob("fuzz_reply", "mode0-oversize", &b);
	blob_add(&b, &mode, 1);
	blob_be32(&b, 0);
	seed_blob("fuzz_reply", "mode0-zero-length", &b);
	blob_add(&b, &mode, 1);
	blob_str(&b, "HTTP/1.1 400 Bad Request\r\n\r\n");
	seed_blob("fuzz_reply", "mode0-http", &b);
	mode = 0x03;
	blob_add(&b, &mode, 1);
	blob_add(&b, "\x0a\x02\x08\x01\x12\x01\x00\x1a\x01\x00", 10);
	seed_blob("fuzz_reply", "mode3-short-signature", &b);
}

/*
 * fuzz_reply's rotation seeds (see fuzz_reply.c): a reply signed by the
 * server's new key, with and without the harness's valid statement, and
 * with statements of the input's own after the separator.
 */
static void
reply_rotation_seeds(void)
{
	static const uint8_t		 sep[] = { 0, 'K', 'G', 'R', 'O', 'T', 0 };
	Keygate__ReplyBody		 body = KEYGATE__REPLY_BODY__INIT;
	Keygate__Verdict		 v = KEYGATE__VERDICT__INIT;
	Keygate__RotationBody		 rb = KEYGATE__ROTATION_BODY__INIT;
	Keygate__RotationStatement	 st[3], *stp[3];
	Keygate__Rotations		 rots = KEYGATE__ROTATIONS__INIT;
	struct blob			 b = { 0 };
	uint8_t				 pk[KG_PUBKEY_LEN], id[KG_KEY_ID_LEN];
	uint8_t				 sig[KG_SIG_LEN], rbuf[128], *buf, mode;
	size_t				 len, rlen, i;

	body.server_time = 1781524800;
	body.result_case = KEYGATE__REPLY_BODY__RESULT_VERDICT;
	body.verdict = &v;
	v.verdict = "current";
	v.reason = "ok";
	v.regno = "ZHKH8-000001";
	v.product = "ZHKH8";
	v.state = "active";
	len = keygate__reply_body__get_packed_size(&body);
	FUZZ_CHECK((buf = malloc(len)) != NULL);
	keygate__reply_body__pack(&body, buf);

	/* Statements the client must refuse: bad signature, garbage body. */
	memset(pk, 0x42, sizeof(pk));
	memset(id, 0x17, sizeof(id));
	memset(sig, 0, sizeof(sig));
	rb.new_public_key.data = pk;
	rb.new_public_key.len = sizeof(pk);
	rb.old_key_id.data = id;
	rb.old_key_id.len = sizeof(id);
	rb.created = 1781524800;
	rlen = keygate__rotation_body__pack(&rb, rbuf);
	for (i = 0; i < 3; i++) {
		keygate__rotation_statement__init(&st[i]);
		stp[i] = &st[i];
	}
	st[0].body.data = rbuf;
	st[0].body.len = rlen;
	st[0].signature.data = sig;
	st[0].signature.len = sizeof(sig);
	st[1].body.data = (uint8_t *)"\xff\xff\xff";
	st[1].body.len = 3;
	st[1].signature.data = sig;
	st[1].signature.len = 10;
	st[2].body.data = rbuf;
	st[2].body.len = rlen - 4;
	rots.statements = stp;
	rots.n_statements = 3;

	mode = 0x31;	/* body with nonce and hash, new key, valid statement */
	blob_add(&b, &mode, 1);
	blob_add(&b, buf, len);
	seed_blob("fuzz_reply", "rotation-valid-statement", &b);
	mode = 0x11;	/* new key, no statement proves it */
	blob_add(&b, &mode, 1);
	blob_add(&b, buf, len);
	seed_blob("fuzz_reply", "rotation-no-statement", &b);
	for (i = 0; i < 2; i++) {
		size_t	 n = keygate__rotations__get_packed_size(&rots);
		uint8_t	*r;

		FUZZ_CHECK((r = malloc(n)) != NULL);
		keygate__rotations__pack(&rots, r);
		mode = i == 0 ? 0x31 : 0x11;
		blob_add(&b, &mode, 1);
		blob_add(&b, buf, len);
		blob_add(&b, sep, sizeof(sep));
		blob_add(&b, r, n);
		seed_blob("fuzz_reply", i == 0 ? "rotation-valid-and-forged" :
		    "rotation-forged-only", &b);
		free(r);
	}
	mode = 0x12;	/* body signed as given by the new key */
	blob_add(&b, &mode, 1);
	blob_add(&b, buf, len);
	seed_blob("fuzz_reply", "rotation-mode2", &b);
	free(buf);
}

/* Write corpus_keys.h and every target's seeds into the directory argv[1]. */
int
main(int argc, char **argv)
{
	static const char	*targets[TARGETS_N] = { "fuzz_frame", "fuzz_key",
	    "fuzz_config", "fuzz_admin", "fuzz_reply" };
	char			 path[PATH_MAX];
	int			 i;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--no-keys") != 0)) {
		fprintf(stderr, "usage: fuzz_gen_corpus DIR [--no-keys] (DIR: the "
		    "tests/fuzz source directory)\n");
		return 1;
	}
	outdir = argv[1];
	fuzz_setup();
	snprintf(path, sizeof(path), "%s/corpus", outdir);
	dir_make(path);
	for (i = 0; i < TARGETS_N; i++) {
		snprintf(path, sizeof(path), "%s/corpus/%s", outdir, targets[i]);
		dir_make(path);
	}
	frames_keyless();
	reply_rotation_seeds();
	if (argc == 3) {
		printf("gen_corpus: wrote the seeds that need no corpus key in "
		    "%s/corpus\n", outdir);
		return 0;
	}
	FUZZ_CHECK((key_a = keypair_generate_new()) != NULL);
	FUZZ_CHECK((key_b = keypair_generate_new()) != NULL);
	fuzz_daemon_open(&fdm, fuzz_tmpdir("gen"), key_a->pk, key_b->pk);
	keys_make();
	header_write();
	frames_valid();
	frames_bad();
	keys_seeds();
	config_seeds();
	admin_seeds();
	reply_seeds();

	for (i = 1; i <= FUZZ_LICENSES; i++)
		free(keytext[i]);
	fuzz_daemon_close(&fdm);
	keypair_free(key_a);
	keypair_free(key_b);
	printf("gen_corpus: wrote %s/corpus_keys.h and the seeds in %s/corpus\n",
	    outdir, outdir);
	return 0;
}
