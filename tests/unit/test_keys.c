/*
 * Unit tests of keys/: keypairs and ids, domain-separated signatures, public
 * key text, secret key files (plain and sealed) with every refusal, the
 * passphrase file and trust sets. Known answers come from RFC 8032 and from
 * PyNaCl/hashlib as independent oracles. Files live in a mkdtemp directory
 * removed at the end.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "kgerr.h"
#include "keys.h"

/* RFC 8032 section 7.1, TEST 1. */
#define RFC_SEED_HEX \
	"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define RFC_PK_HEX \
	"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
/* hashlib.blake2b(pk, digest_size=32).digest()[:8] */
#define RFC_ID_HEX	"7849ac3049680be1"
/* base64.urlsafe_b64encode(pk) without '=' */
#define RFC_PUBKEY_TEXT	"KGP1.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
/* PyNaCl: SigningKey(seed).sign(b"keygate-license-v1\0hello").signature */
#define RFC_LICENSE_HELLO_SIG_HEX \
	"a5237e5ebc7f878b77fe72c1c5675974b0ba06c15a1a947b17052d7c9528f654" \
	"485a8874231c075dffe14b1bff976f419518d13530f3f695c1488a0aa7f6a50c"

#define VARIANT		sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define PLAIN_BIN_LEN	96
#define SEALED_BIN_LEN	168
#define SEALED_OFF_OPS	16
#define SEALED_OFF_MEM	24
#define TEXT_MAX	1024

static char	g_dir[PATH_MAX];
static int	g_seq;

/* ---- helpers ---- */

static void
hex_decode(const char *hex, uint8_t *out, size_t len)
{
	size_t	got = 0;

	assert_int_equal(sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got,
	    NULL), 0);
	assert_int_equal(got, len);
}

static struct kg_keypair *
rfc_keypair(void)
{
	struct kg_keypair	*kp;
	uint8_t			 seed[32];

	hex_decode(RFC_SEED_HEX, seed, sizeof(seed));
	kp = keypair_from_seed_new(seed);
	assert_non_null(kp);
	return kp;
}

static struct kg_keypair *
seeded_keypair(uint8_t base)
{
	struct kg_keypair	*kp;
	uint8_t			 seed[32];
	size_t			 i;

	for (i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)(base + i * 7);
	kp = keypair_from_seed_new(seed);
	assert_non_null(kp);
	return kp;
}

/* A fresh path in the test directory. */
static void
path_new(char *out, size_t size, const char *what)
{
	int	n;

	n = snprintf(out, size, "%s/%s-%d", g_dir, what, ++g_seq);
	assert_true(n > 0 && (size_t)n < size);
}

static void
file_put(const char *path, const char *data, size_t len, mode_t mode)
{
	int	fd;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd != -1);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static size_t
file_get(const char *path, char *buf, size_t size)
{
	ssize_t	n;
	int	fd;

	fd = open(path, O_RDONLY);
	assert_true(fd != -1);
	n = read(fd, buf, size - 1);
	assert_true(n >= 0 && (size_t)n < size - 1);
	buf[n] = '\0';
	assert_int_equal(close(fd), 0);
	return (size_t)n;
}

/* Decode a key file's text ("KGx1.<b64>\n") into bin; returns its length. */
static size_t
keytext_decode(const char *text, uint8_t *bin, size_t size)
{
	size_t	len, got = 0;

	len = strlen(text);
	assert_true(len > 6 && text[len - 1] == '\n');
	assert_int_equal(sodium_base642bin(bin, size, text + 5, len - 6, NULL,
	    &got, NULL, VARIANT), 0);
	return got;
}

/* Encode prefix + b64(bin) + "\n" into text, recomputing the check first. */
static void
keytext_encode(const char *prefix, uint8_t *bin, size_t len, char *text,
    size_t size, int recheck)
{
	if (recheck)
		assert_int_equal(crypto_generichash(bin + len - 32, 32, bin,
		    len - 32, NULL, 0), 0);
	assert_true(size > 5 + sodium_base64_ENCODED_LEN(len, VARIANT));
	memcpy(text, prefix, 5);
	sodium_bin2base64(text + 5, size - 5, bin, len, VARIANT);
	strcat(text, "\n");
}

static void
put_u64be(uint8_t *p, uint64_t v)
{
	int	i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static void
assert_same_keypair(const struct kg_keypair *a, const struct kg_keypair *b)
{
	assert_memory_equal(a->sk, b->sk, sizeof(a->sk));
	assert_memory_equal(a->pk, b->pk, sizeof(a->pk));
	assert_memory_equal(a->id, b->id, sizeof(a->id));
}

static int
read_code(const char *path, const char *passphrase)
{
	struct kg_keypair	*kp = (struct kg_keypair *)0x1;
	int			 rc;

	rc = keyfile_read(path, passphrase, &kp);
	if (rc != KGE_OK)
		assert_null(kp);
	keypair_free(kp);
	return rc;
}

/* Write a sealed file of kp with the cheapest Argon2id cost. */
static void
sealed_write(const char *path, const struct kg_keypair *kp, const char *pass)
{
	assert_int_equal(keyfile_write(path, kp, pass,
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN), KGE_OK);
}

/* ---- keypairs and signatures ---- */

static void
test_keypair_from_seed(void **state)
{
	struct kg_keypair	*kp, *again;
	uint8_t			 seed[32], pk[32], h[32], id[8];

	(void)state;
	hex_decode(RFC_SEED_HEX, seed, sizeof(seed));
	hex_decode(RFC_PK_HEX, pk, sizeof(pk));
	hex_decode(RFC_ID_HEX, id, sizeof(id));
	kp = rfc_keypair();
	assert_memory_equal(kp->pk, pk, 32);
	assert_memory_equal(kp->sk, seed, 32);
	assert_memory_equal(kp->sk + 32, pk, 32);

	assert_int_equal(crypto_generichash(h, sizeof(h), pk, sizeof(pk),
	    NULL, 0), 0);
	assert_memory_equal(kp->id, h, 8);
	assert_memory_equal(kp->id, id, 8);
	memset(h, 0, sizeof(h));
	key_id_compute(pk, h);
	assert_memory_equal(h, id, 8);
	assert_int_equal(h[8], 0);	/* writes exactly 8 bytes */

	again = rfc_keypair();
	assert_same_keypair(kp, again);
	keypair_free(again);
	keypair_free(kp);
	keypair_free(NULL);
}

static void
test_keypair_generate(void **state)
{
	struct kg_keypair	*a, *b;
	uint8_t			 pk[32], id[8], sig[64];

	(void)state;
	a = keypair_generate_new();
	b = keypair_generate_new();
	assert_non_null(a);
	assert_non_null(b);
	assert_memory_not_equal(a->pk, b->pk, 32);
	assert_int_equal(crypto_sign_ed25519_sk_to_pk(pk, a->sk), 0);
	assert_memory_equal(pk, a->pk, 32);
	key_id_compute(a->pk, id);
	assert_memory_equal(id, a->id, 8);
	assert_int_equal(keys_sign(a, KG_DOMAIN_REPLY, (const uint8_t *)"x", 1,
	    sig), KGE_OK);
	assert_int_equal(keys_verify(a->pk, KG_DOMAIN_REPLY,
	    (const uint8_t *)"x", 1, sig), KGE_OK);
	assert_int_equal(keys_verify(b->pk, KG_DOMAIN_REPLY,
	    (const uint8_t *)"x", 1, sig), KGE_KEY_SIGNATURE);
	keypair_free(a);
	keypair_free(b);
}

static void
test_sign_license_known_answer(void **state)
{
	struct kg_keypair	*kp;
	uint8_t			 sig[64], want[64], byhand[64], buf[64];
	const char		*msg = "hello";

	(void)state;
	assert_int_equal(sizeof(KG_DOMAIN_LICENSE_PREFIX), 19);
	assert_int_equal(sizeof(KG_DOMAIN_REPLY_PREFIX), 17);
	assert_int_equal(sizeof(KG_DOMAIN_ROTATION_PREFIX), 20);

	kp = rfc_keypair();
	assert_int_equal(keys_sign(kp, KG_DOMAIN_LICENSE,
	    (const uint8_t *)msg, 5, sig), KGE_OK);

	/* "keygate-license-v1" NUL "hello", built by hand. */
	memcpy(buf, "keygate-license-v1", 18);
	buf[18] = 0;
	memcpy(buf + 19, msg, 5);
	assert_int_equal(crypto_sign_detached(byhand, NULL, buf, 24, kp->sk),
	    0);
	assert_memory_equal(sig, byhand, 64);
	hex_decode(RFC_LICENSE_HELLO_SIG_HEX, want, sizeof(want));
	assert_memory_equal(sig, want, 64);
	assert_int_equal(crypto_sign_verify_detached(sig, buf, 24, kp->pk), 0);
	/* Not a signature of the bare message. */
	assert_int_not_equal(crypto_sign_verify_detached(sig,
	    (const uint8_t *)msg, 5, kp->pk), 0);

	/* The reply prefix, likewise. */
	assert_int_equal(keys_sign(kp, KG_DOMAIN_REPLY, (const uint8_t *)msg,
	    5, sig), KGE_OK);
	memcpy(buf, "keygate-reply-v1", 17);	/* with its NUL */
	memcpy(buf + 17, msg, 5);
	assert_int_equal(crypto_sign_detached(byhand, NULL, buf, 22, kp->sk),
	    0);
	assert_memory_equal(sig, byhand, 64);
	keypair_free(kp);
}

static void
test_sign_verify_domains(void **state)
{
	static const enum kg_domain domains[] = {
		KG_DOMAIN_LICENSE, KG_DOMAIN_REPLY, KG_DOMAIN_ROTATION,
	};
	static const struct {
		const char	*msg;
		size_t		 len;
	} msgs[] = {
		{ "", 0 },
		{ "payload", 7 },
		{ "with\0nul", 8 },
	};
	struct kg_keypair	*kp, *other;
	uint8_t			 sig[64], bad[64], altered[16];
	size_t			 d, e, m;

	(void)state;
	kp = seeded_keypair(1);
	other = seeded_keypair(2);
	for (m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
		const uint8_t	*msg = (const uint8_t *)msgs[m].msg;
		size_t		 len = msgs[m].len;

		for (d = 0; d < 3; d++) {
			assert_int_equal(keys_sign(kp, domains[d], msg, len,
			    sig), KGE_OK);
			assert_int_equal(keys_verify(kp->pk, domains[d], msg,
			    len, sig), KGE_OK);
			for (e = 0; e < 3; e++)
				if (e != d)
					assert_int_equal(keys_verify(kp->pk,
					    domains[e], msg, len, sig),
					    KGE_KEY_SIGNATURE);
			assert_int_equal(keys_verify(other->pk, domains[d],
			    msg, len, sig), KGE_KEY_SIGNATURE);
			memcpy(bad, sig, 64);
			bad[10] ^= 0x01;
			assert_int_equal(keys_verify(kp->pk, domains[d], msg,
			    len, bad), KGE_KEY_SIGNATURE);
			if (len > 0) {
				memcpy(altered, msg, len);
				altered[len - 1] ^= 0x20;
				assert_int_equal(keys_verify(kp->pk,
				    domains[d], altered, len, sig),
				    KGE_KEY_SIGNATURE);
			}
			/* A signature of the undecorated message is refused. */
			assert_int_equal(crypto_sign_detached(bad, NULL, msg,
			    len, kp->sk), 0);
			assert_int_equal(keys_verify(kp->pk, domains[d], msg,
			    len, bad), KGE_KEY_SIGNATURE);
		}
	}
	/* An unknown domain: no signature, output wiped. */
	memset(sig, 0xaa, sizeof(sig));
	assert_int_not_equal(keys_sign(kp, (enum kg_domain)99,
	    (const uint8_t *)"x", 1, sig), KGE_OK);
	memset(bad, 0, sizeof(bad));
	assert_memory_equal(sig, bad, 64);
	keypair_free(kp);
	keypair_free(other);
}

/* ---- public key text ---- */

static void
test_pubkey_text(void **state)
{
	struct kg_keypair	*kp;
	char			 text[KG_PUBKEY_TEXT_MAX], buf[128];
	uint8_t			 pk[32];

	(void)state;
	kp = rfc_keypair();
	memset(text, 'z', sizeof(text));
	pubkey_format(kp->pk, text);
	assert_string_equal(text, RFC_PUBKEY_TEXT);
	assert_int_equal(strlen(text), 48);

	memset(pk, 0, sizeof(pk));
	assert_int_equal(pubkey_parse(text, pk), KGE_OK);
	assert_memory_equal(pk, kp->pk, 32);

	snprintf(buf, sizeof(buf), " \t%s\r\n", RFC_PUBKEY_TEXT);
	memset(pk, 0, sizeof(pk));
	assert_int_equal(pubkey_parse(buf, pk), KGE_OK);
	assert_memory_equal(pk, kp->pk, 32);
	keypair_free(kp);
}

static void
test_pubkey_reject(void **state)
{
	static const char *bad[] = {
		"",
		"   \n",
		"KGP1.",
		"KGP2.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		"kgp1.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		"KGP1 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		/* 42 and 44 characters */
		"KGP1.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR",
		"KGP1.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURoA",
		/* padding */
		"KGP1.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		/* standard alphabet */
		"KGP1.11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		"KGP1.11qYAYKxCrfVS+7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		/* trailing junk, inner space */
		"KGP1.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo junk",
		"KGP1.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo#",
		"KGP1.11qYAYKxCrfVS_7Ty QHOg7hcvPapiMlrwIaaPcHURo",
		"KGP1.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\nKGP1.x",
		/* unused low bits set: not the canonical encoding */
		"KGP1.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURp",
		/* a byte >= 0x80 where '_' was: libsodium 1.0.18 would read it as '_' */
		"KGP1.11qYAYKxCrfVS\xdf" "7TyWQHOg7hcvPapiMlrwIaaPcHURo",
	};
	uint8_t	pk[32], zero[32];
	size_t	i;

	(void)state;
	memset(zero, 0, sizeof(zero));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(pk, 0, sizeof(pk));
		if (pubkey_parse(bad[i], pk) != KGE_PUBKEY_FORMAT)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_memory_equal(pk, zero, 32);	/* untouched */
	}
	assert_int_equal(pubkey_parse(NULL, pk), KGE_PUBKEY_FORMAT);
}

/* ---- key files ---- */

static void
test_keyfile_plain_roundtrip(void **state)
{
	struct kg_keypair	*kp, *back = NULL;
	struct stat		 st;
	char			 path[PATH_MAX], text[TEXT_MAX];
	uint8_t			 bin[256], h[32];
	size_t			 len;

	(void)state;
	kp = rfc_keypair();
	path_new(path, sizeof(path), "plain");
	assert_int_equal(keyfile_write(path, kp, NULL, 0, 0), KGE_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	len = file_get(path, text, sizeof(text));
	assert_int_equal(len, 5 + 128 + 1);
	assert_memory_equal(text, "KGS1.", 5);
	assert_int_equal(text[len - 1], '\n');
	assert_int_equal(keytext_decode(text, bin, sizeof(bin)),
	    PLAIN_BIN_LEN);
	assert_memory_equal(bin, kp->sk, 32);
	assert_memory_equal(bin + 32, kp->pk, 32);
	assert_int_equal(crypto_generichash(h, 32, bin, 64, NULL, 0), 0);
	assert_memory_equal(bin + 64, h, 32);

	assert_int_equal(keyfile_read(path, NULL, &back), KGE_OK);
	assert_non_null(back);
	assert_same_keypair(kp, back);
	keypair_free(back);
	/* A passphrase is not needed, and not in the way, for a plain file. */
	assert_int_equal(keyfile_read(path, "unused", &back), KGE_OK);
	assert_same_keypair(kp, back);
	keypair_free(back);

	/* Without its final line break it still loads. */
	file_put(path, text, len - 1, 0600);
	assert_int_equal(read_code(path, NULL), KGE_OK);
	/* And with "\r\n". */
	memcpy(text + len - 1, "\r\n", 3);
	file_put(path, text, len + 1, 0600);
	assert_int_equal(read_code(path, NULL), KGE_OK);
	keypair_free(kp);
}

static void
test_keyfile_sealed_roundtrip(void **state)
{
	struct kg_keypair	*kp, *back = NULL;
	struct stat		 st;
	char			 path[PATH_MAX], path2[PATH_MAX];
	char			 text[TEXT_MAX], text2[TEXT_MAX];
	uint8_t			 bin[256];
	size_t			 len;

	(void)state;
	kp = seeded_keypair(3);
	path_new(path, sizeof(path), "sealed");
	sealed_write(path, kp, "correct horse");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	len = file_get(path, text, sizeof(text));
	assert_int_equal(len, 5 + 224 + 1);
	assert_memory_equal(text, "KGE1.", 5);
	assert_int_equal(keytext_decode(text, bin, sizeof(bin)),
	    SEALED_BIN_LEN);
	/* Cost stored big-endian; the seed appears nowhere in clear. */
	assert_int_equal(bin[SEALED_OFF_OPS + 7],
	    crypto_pwhash_OPSLIMIT_MIN & 0xff);
	assert_int_equal(bin[SEALED_OFF_MEM + 5],
	    (crypto_pwhash_MEMLIMIT_MIN >> 16) & 0xff);
	assert_int_equal(bin[SEALED_OFF_MEM + 6],
	    (crypto_pwhash_MEMLIMIT_MIN >> 8) & 0xff);
	assert_null(memmem(bin, SEALED_BIN_LEN, kp->sk, 32));

	assert_int_equal(keyfile_read(path, "correct horse", &back), KGE_OK);
	assert_non_null(back);
	assert_same_keypair(kp, back);
	keypair_free(back);

	/* Fresh salt and nonce each time. */
	path_new(path2, sizeof(path2), "sealed");
	sealed_write(path2, kp, "correct horse");
	file_get(path2, text2, sizeof(text2));
	assert_string_not_equal(text, text2);

	/* The empty passphrase is a passphrase. */
	path_new(path2, sizeof(path2), "sealed-empty");
	sealed_write(path2, kp, "");
	assert_int_equal(keyfile_read(path2, "", &back), KGE_OK);
	assert_same_keypair(kp, back);
	keypair_free(back);
	assert_int_equal(read_code(path2, "x"), KGE_PASSPHRASE);
	assert_int_equal(read_code(path2, NULL), KGE_PASSPHRASE_REQUIRED);

	/* A cost we would not read back is refused when writing. */
	path_new(path2, sizeof(path2), "sealed-cost");
	assert_int_equal(keyfile_write(path2, kp, "p", 0,
	    crypto_pwhash_MEMLIMIT_MIN), KGE_INVAL);
	assert_int_equal(keyfile_write(path2, kp, "p",
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN - 1),
	    KGE_INVAL);
	assert_int_equal(access(path2, F_OK), -1);
	keypair_free(kp);
}

/*
 * Every refusal, each with its own code; also checks that the codes and
 * their messages are distinct one-line strings.
 */
static void
test_keyfile_refusals(void **state)
{
	struct kg_keypair	*kp, *other;
	char			 sealed[PATH_MAX], plain[PATH_MAX], p[PATH_MAX];
	char			 text[TEXT_MAX], ptext[TEXT_MAX], buf[TEXT_MAX];
	uint8_t			 bin[256], seed[32];
	size_t			 len, plen, i, j;
	int			 codes[8], ncodes = 0;

	(void)state;
	kp = seeded_keypair(4);
	other = seeded_keypair(5);
	path_new(sealed, sizeof(sealed), "sealed");
	sealed_write(sealed, kp, "pass");
	len = file_get(sealed, text, sizeof(text));
	path_new(plain, sizeof(plain), "plain");
	assert_int_equal(keyfile_write(plain, kp, NULL, 0, 0), KGE_OK);
	plen = file_get(plain, ptext, sizeof(ptext));
	path_new(p, sizeof(p), "bad");

	/* Wrong passphrase. */
	assert_int_equal(read_code(sealed, "Pass"), KGE_PASSPHRASE);
	codes[ncodes++] = KGE_PASSPHRASE;

	/* Missing passphrase. */
	assert_int_equal(read_code(sealed, NULL), KGE_PASSPHRASE_REQUIRED);
	codes[ncodes++] = KGE_PASSPHRASE_REQUIRED;

	/* One character changed in the middle of the base64 text. */
	memcpy(buf, text, len + 1);
	buf[5 + 112] = buf[5 + 112] == 'A' ? 'B' : 'A';
	file_put(p, buf, len, 0600);
	assert_int_equal(read_code(p, "pass"), KGE_FILE_CORRUPT);
	assert_int_equal(read_code(p, NULL), KGE_FILE_CORRUPT);
	memcpy(buf, ptext, plen + 1);
	buf[5 + 64] = buf[5 + 64] == 'A' ? 'B' : 'A';
	file_put(p, buf, plen, 0600);
	assert_int_equal(read_code(p, NULL), KGE_FILE_CORRUPT);
	codes[ncodes++] = KGE_FILE_CORRUPT;

	/* One decoded bit flipped and re-encoded, at several places. */
	for (i = 0; i < SEALED_BIN_LEN; i += 23) {
		assert_int_equal(keytext_decode(text, bin, sizeof(bin)),
		    SEALED_BIN_LEN);
		bin[i] ^= 0x04;
		keytext_encode("KGE1.", bin, SEALED_BIN_LEN, buf, sizeof(buf),
		    0);
		file_put(p, buf, strlen(buf), 0600);
		assert_int_equal(read_code(p, "pass"), KGE_FILE_CORRUPT);
	}
	assert_int_equal(keytext_decode(ptext, bin, sizeof(bin)),
	    PLAIN_BIN_LEN);
	bin[0] ^= 0x80;		/* a seed bit */
	keytext_encode("KGS1.", bin, PLAIN_BIN_LEN, buf, sizeof(buf), 0);
	file_put(p, buf, strlen(buf), 0600);
	assert_int_equal(read_code(p, NULL), KGE_FILE_CORRUPT);

	/* Cut anywhere before its end: truncated. */
	for (i = 0; i < len - 1; i++) {
		file_put(p, text, i, 0600);
		if (read_code(p, "pass") != KGE_FILE_TRUNCATED)
			fail_msg("sealed file cut at %zu not truncated", i);
	}
	for (i = 0; i < plen - 1; i++) {
		file_put(p, ptext, i, 0600);
		if (read_code(p, NULL) != KGE_FILE_TRUNCATED)
			fail_msg("plain file cut at %zu not truncated", i);
	}
	codes[ncodes++] = KGE_FILE_TRUNCATED;

	/* Group or world readable. */
	for (i = 0; i < 3; i++) {
		static const mode_t modes[] = { 0644, 0640, 0604 };

		assert_int_equal(chmod(sealed, modes[i]), 0);
		assert_int_equal(read_code(sealed, "pass"), KGE_FILE_MODE);
		assert_int_equal(chmod(plain, modes[i]), 0);
		assert_int_equal(read_code(plain, NULL), KGE_FILE_MODE);
	}
	assert_int_equal(chmod(sealed, 0400), 0);
	assert_int_equal(read_code(sealed, "pass"), KGE_OK);
	assert_int_equal(chmod(plain, 0600), 0);
	assert_int_equal(read_code(plain, NULL), KGE_OK);
	codes[ncodes++] = KGE_FILE_MODE;

	/* A stored public key that is not the seed's, with a valid check. */
	memcpy(seed, kp->sk, 32);
	memcpy(bin, seed, 32);
	memcpy(bin + 32, other->pk, 32);
	keytext_encode("KGS1.", bin, PLAIN_BIN_LEN, buf, sizeof(buf), 1);
	file_put(p, buf, strlen(buf), 0600);
	assert_int_equal(read_code(p, NULL), KGE_PUBKEY_MISMATCH);
	codes[ncodes++] = KGE_PUBKEY_MISMATCH;

	/* Foreign formats and extra text. */
	{
		static const char *foreign[] = {
			"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA user@host\n",
			"-----BEGIN PRIVATE KEY-----\n",
			"KGP1.11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\n",
			"kgs1.AAAA\n",
			"X",
		};

		for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
			file_put(p, foreign[i], strlen(foreign[i]), 0600);
			assert_int_equal(read_code(p, NULL), KGE_FILE_FORMAT);
		}
	}
	memcpy(buf, ptext, plen - 1);			/* 4 chars too many */
	memcpy(buf + plen - 1, "AAAA\n", 6);
	file_put(p, buf, strlen(buf), 0600);
	assert_int_equal(read_code(p, NULL), KGE_FILE_FORMAT);
	memcpy(buf, ptext, plen + 1);			/* not base64url */
	buf[40] = '+';
	file_put(p, buf, plen, 0600);
	assert_int_equal(read_code(p, NULL), KGE_FILE_FORMAT);
	memcpy(buf, ptext, plen + 1);			/* a second line */
	memcpy(buf + plen, "more\n", 6);
	file_put(p, buf, strlen(buf), 0600);
	assert_int_equal(read_code(p, NULL), KGE_FILE_FORMAT);
	memcpy(buf, ptext, plen + 1);			/* swapped kind */
	buf[2] = 'E';
	file_put(p, buf, plen, 0600);
	assert_int_equal(read_code(p, NULL), KGE_FILE_TRUNCATED);
	/* Absurd Argon2 costs, with a recomputed check. */
	for (j = 0; j < 4; j++) {
		assert_int_equal(keytext_decode(text, bin, sizeof(bin)),
		    SEALED_BIN_LEN);
		if (j == 0)
			put_u64be(bin + SEALED_OFF_OPS,
			    crypto_pwhash_OPSLIMIT_SENSITIVE + 1);
		else if (j == 1)
			put_u64be(bin + SEALED_OFF_OPS, 0);
		else if (j == 2)
			put_u64be(bin + SEALED_OFF_MEM,
			    (uint64_t)crypto_pwhash_MEMLIMIT_SENSITIVE + 1);
		else
			put_u64be(bin + SEALED_OFF_MEM, UINT64_MAX);
		keytext_encode("KGE1.", bin, SEALED_BIN_LEN, buf, sizeof(buf),
		    1);
		file_put(p, buf, strlen(buf), 0600);
		assert_int_equal(read_code(p, "pass"), KGE_FILE_FORMAT);
		assert_int_equal(read_code(p, NULL), KGE_FILE_FORMAT);
	}
	codes[ncodes++] = KGE_FILE_FORMAT;

	/* Never overwrites. */
	assert_int_equal(keyfile_write(plain, other, NULL, 0, 0), KGE_EXISTS);
	assert_int_equal(keyfile_write(sealed, other, "pass",
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN),
	    KGE_EXISTS);
	file_get(plain, buf, sizeof(buf));
	assert_string_equal(buf, ptext);
	codes[ncodes++] = KGE_EXISTS;

	assert_int_equal(ncodes, 8);
	for (i = 0; i < (size_t)ncodes; i++) {
		const char	*s = kge_strerror(codes[i]);

		assert_true(codes[i] < 0);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_null(strchr(s, '\n'));
		assert_string_not_equal(s, kge_strerror(12345));
		for (j = 0; j < i; j++) {
			assert_int_not_equal(codes[i], codes[j]);
			assert_string_not_equal(s, kge_strerror(codes[j]));
		}
	}
	keypair_free(kp);
	keypair_free(other);
}

static void
test_keyfile_exclusive(void **state)
{
	struct kg_keypair	*kp, *other, *back = NULL;
	char			 path[PATH_MAX], target[PATH_MAX];

	(void)state;
	kp = seeded_keypair(6);
	other = seeded_keypair(7);
	path_new(path, sizeof(path), "excl");
	assert_int_equal(keyfile_write(path, kp, NULL, 0, 0), KGE_OK);
	assert_int_equal(keyfile_write(path, other, NULL, 0, 0), KGE_EXISTS);
	assert_int_equal(keyfile_read(path, NULL, &back), KGE_OK);
	assert_same_keypair(kp, back);
	keypair_free(back);

	/* A symlink is not followed. */
	path_new(path, sizeof(path), "link");
	path_new(target, sizeof(target), "target");
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(keyfile_write(path, kp, NULL, 0, 0), KGE_EXISTS);
	assert_int_equal(access(target, F_OK), -1);

	/* A file that is not there; a directory that is not there. */
	path_new(path, sizeof(path), "missing");
	errno = 0;
	assert_int_equal(read_code(path, NULL), KGE_IO);
	assert_int_equal(errno, ENOENT);
	assert_true(snprintf(target, sizeof(target), "%s/no/such/dir",
	    g_dir) < (int)sizeof(target));
	assert_int_equal(keyfile_write(target, kp, NULL, 0, 0), KGE_IO);
	assert_int_equal(errno, ENOENT);
	keypair_free(kp);
	keypair_free(other);
}

/* ---- passphrase files ---- */

static void
test_passphrase_file(void **state)
{
	static const struct {
		const char	*data;
		size_t		 len;
		const char	*want;
	} cases[] = {
		{ "secret\n", 7, "secret" },
		{ "secret\r\nsecond line\n", 20, "secret" },
		{ "no line break", 13, "no line break" },
		{ " spaces kept \n", 14, " spaces kept " },
		{ "", 0, "" },
		{ "\n", 1, "" },
		{ "\r\n", 2, "" },
	};
	char	path[PATH_MAX], *p, *big;
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		path_new(path, sizeof(path), "pass");
		file_put(path, cases[i].data, cases[i].len, 0600);
		p = passphrase_read_new(path);
		assert_non_null(p);
		assert_string_equal(p, cases[i].want);
		passphrase_free(p);
	}
	passphrase_free(NULL);

	path_new(path, sizeof(path), "pass-missing");
	errno = 0;
	assert_null(passphrase_read_new(path));
	assert_int_equal(errno, ENOENT);

	/* A NUL byte would silently shorten the passphrase. */
	path_new(path, sizeof(path), "pass-nul");
	file_put(path, "ab\0cd\n", 6, 0600);
	errno = 0;
	assert_null(passphrase_read_new(path));
	assert_int_equal(errno, EINVAL);

	/* A first line of 64 KiB is not a passphrase. */
	big = malloc(65536);
	assert_non_null(big);
	memset(big, 'a', 65536);
	path_new(path, sizeof(path), "pass-big");
	file_put(path, big, 65536, 0600);
	errno = 0;
	assert_null(passphrase_read_new(path));
	assert_int_equal(errno, E2BIG);
	free(big);
}

/* ---- trust sets ---- */

static void
test_trustset_parse(void **state)
{
	struct kg_keypair		*a, *b, *c;
	struct kg_trustset		 ts;
	const struct kg_trust_entry	*e;
	char				 ta[KG_PUBKEY_TEXT_MAX];
	char				 tb[KG_PUBKEY_TEXT_MAX], text[1024];
	uint8_t				 unknown[8];
	int				 bad = 0;

	(void)state;
	a = rfc_keypair();
	b = seeded_keypair(8);
	c = seeded_keypair(9);
	pubkey_format(a->pk, ta);
	pubkey_format(b->pk, tb);
	snprintf(text, sizeof(text),
	    "# keygate trust file\r\n"
	    "\r\n"
	    "%s\r\n"
	    "   # indented comment\n"
	    "  \t\n"
	    "\t%s  \n"
	    "%s",				/* a again, no final break */
	    ta, tb, ta);

	trustset_init(&ts);
	assert_int_equal(trustset_parse(&ts, text, &bad), KGE_OK);
	assert_int_equal(ts.n, 2);
	e = trustset_find(&ts, a->id);
	assert_non_null(e);
	assert_memory_equal(e->pk, a->pk, 32);
	assert_memory_equal(e->id, a->id, 8);
	assert_int_equal(e->state, KG_TRUST_ACTIVE);
	e = trustset_find(&ts, b->id);
	assert_non_null(e);
	assert_memory_equal(e->pk, b->pk, 32);
	assert_null(trustset_find(&ts, c->id));
	memset(unknown, 0, sizeof(unknown));
	assert_null(trustset_find(&ts, unknown));

	/* A bad line: its number, and the set is unchanged. */
	snprintf(text, sizeof(text),
	    "# comment\n"
	    "%s\n"
	    "\n"
	    "%s\n"
	    "KGP1.not-a-key\n"
	    "%s\n",
	    ta, tb, ta);
	pubkey_format(c->pk, ta);
	bad = 0;
	assert_int_equal(trustset_parse(&ts, text, &bad), KGE_PUBKEY_FORMAT);
	assert_int_equal(bad, 5);
	assert_int_equal(ts.n, 2);
	/* bad_line may be NULL. */
	assert_int_equal(trustset_parse(&ts, "\n\nKGP1.x\n", NULL),
	    KGE_PUBKEY_FORMAT);
	bad = 0;
	assert_int_equal(trustset_parse(&ts, "\n\n\nKGP1.x", &bad),
	    KGE_PUBKEY_FORMAT);
	assert_int_equal(bad, 4);
	/* A key with a trailing comment is not a key line. */
	snprintf(text, sizeof(text), "%s # vendor key 2025\n", ta);
	bad = 0;
	assert_int_equal(trustset_parse(&ts, text, &bad), KGE_PUBKEY_FORMAT);
	assert_int_equal(bad, 1);
	assert_int_equal(ts.n, 2);

	/* An empty text adds nothing. */
	assert_int_equal(trustset_parse(&ts, "", &bad), KGE_OK);
	assert_int_equal(trustset_parse(&ts, "# only\n\n", &bad), KGE_OK);
	assert_int_equal(ts.n, 2);

	trustset_clear(&ts);
	assert_int_equal(ts.n, 0);
	assert_null(ts.entry);
	trustset_clear(&ts);		/* twice is fine */
	keypair_free(a);
	keypair_free(b);
	keypair_free(c);
}

static void
test_trustset_add(void **state)
{
	struct kg_trustset		 ts;
	const struct kg_trust_entry	*e;
	struct kg_keypair		*kp;
	uint8_t				 pks[100][32];
	size_t				 i;

	(void)state;
	trustset_init(&ts);
	for (i = 0; i < 100; i++) {
		kp = seeded_keypair((uint8_t)(20 + i));
		memcpy(pks[i], kp->pk, 32);
		keypair_free(kp);
		assert_int_equal(trustset_add(&ts, pks[i], i % 3 == 0 ?
		    KG_TRUST_RETIRED : KG_TRUST_ACTIVE), KGE_OK);
	}
	assert_int_equal(ts.n, 100);
	assert_true(ts.cap >= 100);
	for (i = 0; i < 100; i++) {
		uint8_t	id[8];

		key_id_compute(pks[i], id);
		e = trustset_find(&ts, id);
		assert_non_null(e);
		assert_memory_equal(e->pk, pks[i], 32);
		assert_int_equal(e->state, i % 3 == 0 ? KG_TRUST_RETIRED :
		    KG_TRUST_ACTIVE);
	}
	/* Adding again updates the state, no duplicate. */
	assert_int_equal(trustset_add(&ts, pks[42], KG_TRUST_COMPROMISED),
	    KGE_OK);
	assert_int_equal(ts.n, 100);
	e = &ts.entry[42];
	assert_memory_equal(e->pk, pks[42], 32);
	assert_int_equal(e->state, KG_TRUST_COMPROMISED);
	assert_int_equal(trustset_add(&ts, pks[42], KG_TRUST_RETIRED), KGE_OK);
	assert_int_equal(ts.entry[42].state, KG_TRUST_RETIRED);
	assert_int_equal(ts.n, 100);
	trustset_clear(&ts);
}

static void
test_trustset_load_file(void **state)
{
	struct kg_trustset		 ts;
	struct kg_keypair		*kp;
	char				 path[PATH_MAX], t[KG_PUBKEY_TEXT_MAX];
	char				 text[256], *big;
	int				 bad = 0;
	size_t				 n;

	(void)state;
	kp = seeded_keypair(10);
	pubkey_format(kp->pk, t);
	n = (size_t)snprintf(text, sizeof(text), "# trust\n%s\n", t);
	path_new(path, sizeof(path), "trust");
	file_put(path, text, n, 0644);

	trustset_init(&ts);
	assert_int_equal(trustset_load_file(&ts, path, &bad), KGE_OK);
	assert_int_equal(ts.n, 1);
	assert_non_null(trustset_find(&ts, kp->id));

	/* Bad line number from a file. */
	n = (size_t)snprintf(text, sizeof(text), "%s\n\n# x\nKGP1.\n", t);
	file_put(path, text, n, 0644);
	bad = 0;
	assert_int_equal(trustset_load_file(&ts, path, &bad),
	    KGE_PUBKEY_FORMAT);
	assert_int_equal(bad, 4);

	/* A NUL byte is refused on its line, not read past. */
	n = (size_t)snprintf(text, sizeof(text), "%s\n", t);
	memcpy(text + n, "#\0junk\n", 7);
	file_put(path, text, n + 7, 0644);
	bad = 0;
	assert_int_equal(trustset_load_file(&ts, path, &bad),
	    KGE_PUBKEY_FORMAT);
	assert_int_equal(bad, 2);

	/* Missing, and over 1 MiB. */
	path_new(path, sizeof(path), "trust-missing");
	errno = 0;
	assert_int_equal(trustset_load_file(&ts, path, &bad), KGE_IO);
	assert_int_equal(errno, ENOENT);
	big = malloc(1024 * 1024 + 1);
	assert_non_null(big);
	memset(big, '\n', 1024 * 1024 + 1);
	path_new(path, sizeof(path), "trust-big");
	file_put(path, big, 1024 * 1024 + 1, 0644);
	errno = 0;
	assert_int_equal(trustset_load_file(&ts, path, &bad), KGE_IO);
	assert_int_equal(errno, EFBIG);
	/* Exactly 1 MiB of blank lines is fine. */
	file_put(path, big, 1024 * 1024, 0644);
	assert_int_equal(trustset_load_file(&ts, path, &bad), KGE_OK);
	free(big);
	assert_int_equal(ts.n, 1);
	trustset_clear(&ts);
	keypair_free(kp);
}

/* ---- fixture ---- */

static int
group_setup(void **state)
{
	const char	*tmp;
	int		 n;

	(void)state;
	if (sodium_init() < 0)
		return -1;
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	n = snprintf(g_dir, sizeof(g_dir), "%s/test_keys.XXXXXX", tmp);
	if (n < 0 || (size_t)n >= sizeof(g_dir))
		return -1;
	return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	struct dirent	*de;
	DIR		*d;
	char		 path[PATH_MAX];

	(void)state;
	if ((d = opendir(g_dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", g_dir,
		    de->d_name) >= (int)sizeof(path))
			continue;
		(void)unlink(path);
	}
	closedir(d);
	return rmdir(g_dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keypair_from_seed),
		cmocka_unit_test(test_keypair_generate),
		cmocka_unit_test(test_sign_license_known_answer),
		cmocka_unit_test(test_sign_verify_domains),
		cmocka_unit_test(test_pubkey_text),
		cmocka_unit_test(test_pubkey_reject),
		cmocka_unit_test(test_keyfile_plain_roundtrip),
		cmocka_unit_test(test_keyfile_sealed_roundtrip),
		cmocka_unit_test(test_keyfile_refusals),
		cmocka_unit_test(test_keyfile_exclusive),
		cmocka_unit_test(test_passphrase_file),
		cmocka_unit_test(test_trustset_parse),
		cmocka_unit_test(test_trustset_add),
		cmocka_unit_test(test_trustset_load_file),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
