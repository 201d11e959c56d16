/*
 * Unit tests of the license key format (common/license.c): round trips, the
 * golden vectors in tests/vectors/license-v1.txt, and every way a key text
 * can be damaged or forged, each with the exact error code expected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "keygate.pb-c.h"

#include "date.h"
#include "kgerr.h"
#include "keys.h"
#include "license.h"

#define VECTOR_FILE	KG_VECTORS_DIR "/license-v1.txt"
#define VECTORS_MAX	8
#define DAY_MAX		2932896		/* 9999-12-31 */

struct vector {
	char	name[64];
	char	fields[16][2][512];	/* name, value */
	int	nfields;
};

struct vectors {
	char		seed[128];
	char		pubkey[128];
	char		key_id[64];
	struct vector	v[VECTORS_MAX];
	int		n;
};

/* The fixed test seed 0x00..0x1f, also stored in the vector file. */
static struct kg_keypair *
test_keypair_new(void)
{
	uint8_t			 seed[32];
	struct kg_keypair	*kp;
	int			 i;

	for (i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;
	kp = keypair_from_seed_new(seed);
	assert_non_null(kp);
	return kp;
}

/* A second, unrelated signer. */
static struct kg_keypair *
other_keypair_new(void)
{
	uint8_t			 seed[32];
	struct kg_keypair	*kp;

	memset(seed, 0xa5, sizeof(seed));
	kp = keypair_from_seed_new(seed);
	assert_non_null(kp);
	return kp;
}

/* The license of vector "perpetual", signed by kp. */
static void
test_license_fill(struct kg_license *lic, const struct kg_keypair *kp)
{
	memset(lic, 0, sizeof(*lic));
	lic->serial = 123456;
	strcpy(lic->product, "ZHKH8");
	strcpy(lic->edition, "PROF");
	strcpy(lic->regno, "ZHKH8-000123");
	strcpy(lic->licensee, "ООО \"Ромашка\"");
	lic->created = date_from_ymd(2026, 1, 31);
	lic->support_expiry = date_from_ymd(2026, 7, 31);
	lic->license_expiry = KG_DATE_NONE;
	lic->trial = false;
	memcpy(lic->key_id, kp->id, KG_KEY_ID_LEN);
	lic->revision = 1;
	lic->support_months = 0;
}

static void
license_assert_equal(const struct kg_license *a, const struct kg_license *b)
{
	assert_int_equal(a->serial, b->serial);
	assert_string_equal(a->product, b->product);
	assert_string_equal(a->edition, b->edition);
	assert_string_equal(a->regno, b->regno);
	assert_string_equal(a->licensee, b->licensee);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->support_expiry, b->support_expiry);
	assert_int_equal(a->license_expiry, b->license_expiry);
	assert_int_equal(a->trial, b->trial);
	assert_memory_equal(a->key_id, b->key_id, KG_KEY_ID_LEN);
	assert_int_equal(a->revision, b->revision);
	assert_int_equal(a->support_months, b->support_months);
}

static void
license_assert_zero(const struct kg_license *lic)
{
	struct kg_license	zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(lic, &zero, sizeof(zero));
}

/* Per-test state: the test keypair, a trust set holding it, and its key text. */
struct fixture {
	struct kg_keypair	*kp;
	struct kg_trustset	 ts;
	struct kg_license	 lic;
	char			*key;
	size_t			 keylen;
};

static int
setup(void **state)
{
	struct fixture	*f;

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->kp = test_keypair_new();
	trustset_init(&f->ts);
	assert_int_equal(trustset_add(&f->ts, f->kp->pk, KG_TRUST_ACTIVE), KGE_OK);
	test_license_fill(&f->lic, f->kp);
	assert_int_equal(license_key_new(&f->lic, f->kp, &f->key), KGE_OK);
	assert_non_null(f->key);
	f->keylen = strlen(f->key);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	free(f->key);
	trustset_clear(&f->ts);
	keypair_free(f->kp);
	free(f);
	return 0;
}

/* Parse len bytes of s (copied into an exact-size buffer: no NUL to lean on). */
static int
parse_exact(const char *s, size_t len, const struct kg_trustset *ts,
    struct kg_license *lic)
{
	char	*copy;
	int	 rc;

	copy = malloc(len == 0 ? 1 : len);
	assert_non_null(copy);
	memcpy(copy, s, len);
	rc = license_key_parse(copy, len, ts, lic);
	free(copy);
	return rc;
}

static int
parse_str(const char *s, const struct kg_trustset *ts)
{
	struct kg_license	lic;
	int			rc;

	memset(&lic, 0x5a, sizeof(lic));
	rc = parse_exact(s, strlen(s), ts, &lic);
	if (rc != KGE_OK)
		license_assert_zero(&lic);
	return rc;
}

/* ---- round trip ---- */

static void
test_roundtrip(void **state)
{
	struct fixture		*f = *state;
	struct kg_license	 got;
	uint8_t			 buf[KG_PAYLOAD_MAX];
	size_t			 len;

	assert_memory_equal(f->key, "KG1.", 4);
	assert_int_equal(parse_exact(f->key, f->keylen, &f->ts, &got), KGE_OK);
	license_assert_equal(&got, &f->lic);

	assert_int_equal(license_payload_pack(&f->lic, buf, sizeof(buf), &len),
	    KGE_OK);
	assert_true(len > 0);
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(license_payload_unpack(buf, len, &got), KGE_OK);
	license_assert_equal(&got, &f->lic);
}

static void
test_roundtrip_extremes(void **state)
{
	struct fixture		*f = *state;
	struct kg_license	 lic, got;
	char			*key = NULL;

	memset(&lic, 0, sizeof(lic));
	lic.serial = UINT64_MAX;
	memset(lic.product, 'P', KG_CODE_MAX);
	memset(lic.edition, 'E', KG_CODE_MAX);
	memset(lic.regno, 'R', KG_REGNO_MAX);
	/* 128 two-byte characters: exactly KG_LICENSEE_MAX bytes. */
	for (int i = 0; i < KG_LICENSEE_MAX / 2; i++)
		memcpy(lic.licensee + 2 * i, "Ж", 2);
	lic.created = 1;
	lic.support_expiry = DAY_MAX;
	lic.license_expiry = DAY_MAX;
	lic.trial = true;
	memcpy(lic.key_id, f->kp->id, KG_KEY_ID_LEN);
	lic.revision = UINT32_MAX;
	lic.support_months = KG_MONTHS_MAX;
	assert_int_equal(license_key_new(&lic, f->kp, &key), KGE_OK);
	assert_int_equal(parse_exact(key, strlen(key), &f->ts, &got), KGE_OK);
	license_assert_equal(&got, &lic);
	free(key);
}

static void
test_day_max(void **state)
{
	(void)state;
	assert_int_equal(date_from_ymd(9999, 12, 31), DAY_MAX);
	assert_int_equal(date_from_ymd(2026, 1, 31), 20484);
}

/* ---- golden vectors ---- */

static void
vectors_load(struct vectors *vs)
{
	FILE		*fp;
	char		 line[1024], *sep, *val;
	struct vector	*cur = NULL;
	size_t		 n;

	memset(vs, 0, sizeof(*vs));
	fp = fopen(VECTOR_FILE, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		n = strlen(line);
		if (n == 0 || line[n - 1] != '\n') {
			fail_msg("%s: line without a line break", VECTOR_FILE);
			break;
		}
		line[n - 1] = '\0';
		n--;
		if (n == 0 || line[0] == '#')
			continue;
		sep = strstr(line, ": ");
		assert_non_null(sep);
		*sep = '\0';
		val = sep + 2;
		if (strcmp(line, "vector") == 0) {
			assert_true(vs->n < VECTORS_MAX);
			cur = &vs->v[vs->n++];
			snprintf(cur->name, sizeof(cur->name), "%s", val);
		} else if (cur == NULL && strcmp(line, "seed") == 0)
			snprintf(vs->seed, sizeof(vs->seed), "%s", val);
		else if (cur == NULL && strcmp(line, "pubkey") == 0)
			snprintf(vs->pubkey, sizeof(vs->pubkey), "%s", val);
		else if (cur == NULL && strcmp(line, "key_id") == 0)
			snprintf(vs->key_id, sizeof(vs->key_id), "%s", val);
		else {
			assert_non_null(cur);
			assert_true(cur->nfields < 16);
			assert_true(strlen(val) < sizeof(cur->fields[0][1]));
			strcpy(cur->fields[cur->nfields][0], line);
			strcpy(cur->fields[cur->nfields][1], val);
			cur->nfields++;
		}
	}
	fclose(fp);
}

static const char *
vector_get(const struct vector *v, const char *name)
{
	for (int i = 0; i < v->nfields; i++)
		if (strcmp(v->fields[i][0], name) == 0)
			return v->fields[i][1];
	fail_msg("vector %s lacks %s", v->name, name);
	return NULL;
}

static kg_date
vector_date(const struct vector *v, const char *name)
{
	const char	*s = vector_get(v, name);
	kg_date		 d;

	if (strcmp(s, "none") == 0)
		return KG_DATE_NONE;
	assert_int_equal(date_parse(s, &d), 0);
	return d;
}

static bool
vector_bool(const struct vector *v, const char *name)
{
	const char	*s = vector_get(v, name);

	if (strcmp(s, "true") == 0)
		return true;
	assert_string_equal(s, "false");
	return false;
}

static void
vector_license(const struct vector *v, const struct kg_keypair *kp,
    struct kg_license *lic)
{
	memset(lic, 0, sizeof(*lic));
	lic->serial = strtoull(vector_get(v, "serial"), NULL, 10);
	snprintf(lic->product, sizeof(lic->product), "%s", vector_get(v, "product"));
	snprintf(lic->edition, sizeof(lic->edition), "%s", vector_get(v, "edition"));
	snprintf(lic->regno, sizeof(lic->regno), "%s", vector_get(v, "regno"));
	snprintf(lic->licensee, sizeof(lic->licensee), "%s",
	    vector_get(v, "licensee"));
	lic->created = vector_date(v, "created");
	lic->support_expiry = vector_date(v, "support_expiry");
	lic->license_expiry = vector_date(v, "license_expiry");
	lic->trial = vector_bool(v, "trial");
	memcpy(lic->key_id, kp->id, KG_KEY_ID_LEN);
	lic->revision = (uint32_t)strtoul(vector_get(v, "revision"), NULL, 10);
	lic->support_months = (uint32_t)strtoul(vector_get(v, "support_months"),
	    NULL, 10);
}

static void
test_golden(void **state)
{
	struct vectors		*vs;
	struct kg_keypair	*kp;
	struct kg_trustset	 ts;
	struct kg_license	 lic, got;
	uint8_t			 seed[32], payload[KG_PAYLOAD_MAX];
	char			 pktext[KG_PUBKEY_TEXT_MAX];
	char			 hex[2 * KG_PAYLOAD_MAX + 1], *key;
	size_t			 seedlen, len;
	int			 i;

	(void)state;
	vs = malloc(sizeof(*vs));
	assert_non_null(vs);
	vectors_load(vs);
	assert_int_equal(vs->n, 3);
	assert_string_equal(vs->v[0].name, "perpetual");
	assert_string_equal(vs->v[1].name, "activation");
	assert_string_equal(vs->v[2].name, "trial");

	assert_string_equal(vs->seed,
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
	assert_int_equal(sodium_hex2bin(seed, sizeof(seed), vs->seed,
	    strlen(vs->seed), NULL, &seedlen, NULL), 0);
	assert_int_equal(seedlen, 32);
	kp = keypair_from_seed_new(seed);
	assert_non_null(kp);
	pubkey_format(kp->pk, pktext);
	assert_string_equal(pktext, vs->pubkey);
	sodium_bin2hex(hex, sizeof(hex), kp->id, KG_KEY_ID_LEN);
	assert_string_equal(hex, vs->key_id);
	trustset_init(&ts);
	assert_int_equal(trustset_add(&ts, kp->pk, KG_TRUST_ACTIVE), KGE_OK);

	for (i = 0; i < vs->n; i++) {
		const struct vector	*v = &vs->v[i];

		vector_license(v, kp, &lic);
		assert_int_equal(license_payload_pack(&lic, payload,
		    sizeof(payload), &len), KGE_OK);
		sodium_bin2hex(hex, sizeof(hex), payload, len);
		assert_string_equal(hex, vector_get(v, "payload"));

		assert_int_equal(license_key_new(&lic, kp, &key), KGE_OK);
		assert_string_equal(key, vector_get(v, "key"));
		free(key);

		key = (char *)vector_get(v, "key");
		memset(&got, 0x5a, sizeof(got));
		assert_int_equal(parse_exact(key, strlen(key), &ts, &got), KGE_OK);
		license_assert_equal(&got, &lic);
	}

	/* What the vectors promise to cover. */
	vector_license(&vs->v[0], kp, &lic);
	assert_int_equal(lic.serial, 123456);
	assert_string_equal(lic.licensee, "ООО \"Ромашка\"");
	assert_int_equal(lic.license_expiry, KG_DATE_NONE);
	vector_license(&vs->v[1], kp, &lic);
	assert_int_equal(lic.support_expiry, KG_DATE_NONE);
	assert_int_equal(lic.support_months, 3);
	vector_license(&vs->v[2], kp, &lic);
	assert_true(lic.trial);
	assert_true(lic.license_expiry != KG_DATE_NONE);

	trustset_clear(&ts);
	keypair_free(kp);
	free(vs);
}

/* ---- damaged text ---- */

static void
test_text_bitflips(void **state)
{
	struct fixture	*f = *state;
	char		*t;
	size_t		 i;
	int		 bit, n = 0;

	t = strdup(f->key);
	assert_non_null(t);
	for (i = 0; i < f->keylen; i++) {
		for (bit = 0; bit < 8; bit++) {
			t[i] ^= (char)(1 << bit);
			assert_int_not_equal(parse_exact(t, f->keylen, &f->ts,
			    &(struct kg_license){ 0 }), KGE_OK);
			t[i] ^= (char)(1 << bit);
			n++;
		}
	}
	assert_int_equal(n, (int)f->keylen * 8);
	assert_int_equal(parse_exact(t, f->keylen, &f->ts,
	    &(struct kg_license){ 0 }), KGE_OK);
	free(t);
}

static void
test_payload_bitflips(void **state)
{
	struct fixture		*f = *state;
	struct kg_key_blob	 blob;
	char			*t;
	size_t			 i;
	int			 bit;

	assert_int_equal(license_key_decode(f->key, f->keylen, &blob), KGE_OK);
	assert_true(blob.payload_len > 40);
	for (i = 0; i < blob.payload_len; i++) {
		for (bit = 0; bit < 8; bit++) {
			blob.payload[i] ^= (uint8_t)(1 << bit);
			assert_int_equal(license_key_format(blob.payload,
			    blob.payload_len, blob.sig, &t), KGE_OK);
			assert_int_not_equal(parse_str(t, &f->ts), KGE_OK);
			free(t);
			blob.payload[i] ^= (uint8_t)(1 << bit);
		}
	}
	/* Restored bytes re-encode to the original key. */
	assert_int_equal(license_key_format(blob.payload, blob.payload_len,
	    blob.sig, &t), KGE_OK);
	assert_string_equal(t, f->key);
	free(t);
}

static void
test_signature_bitflips(void **state)
{
	struct fixture		*f = *state;
	struct kg_key_blob	 blob;
	char			*t;
	size_t			 i;
	int			 bit;

	assert_int_equal(license_key_decode(f->key, f->keylen, &blob), KGE_OK);
	for (i = 0; i < KG_SIG_LEN; i++) {
		for (bit = 0; bit < 8; bit++) {
			blob.sig[i] ^= (uint8_t)(1 << bit);
			assert_int_equal(license_key_format(blob.payload,
			    blob.payload_len, blob.sig, &t), KGE_OK);
			assert_int_equal(parse_str(t, &f->ts), KGE_KEY_SIGNATURE);
			free(t);
			blob.sig[i] ^= (uint8_t)(1 << bit);
		}
	}
}

static int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	fail_msg("not base64url: %c", c);
	return -1;
}

/*
 * The error a prefix of n characters of a valid key must give: no second
 * part yet is PREFIX; a signature part of 4k+1 characters, or whose last
 * character carries bits past the end, is BASE64; anything else decodes to
 * a short signature: SIZE.
 */
static int
truncated_expect(const char *key, size_t keylen, size_t n)
{
	const char	*dot;
	size_t		 d, m;
	int		 last;

	if (n == keylen)
		return KGE_OK;
	dot = strchr(key + 4, '.');
	assert_non_null(dot);
	d = (size_t)(dot - key);
	if (n <= d + 1)
		return KGE_KEY_PREFIX;
	m = n - (d + 1);
	last = b64url_value(key[n - 1]);
	switch (m % 4) {
	case 1:
		return KGE_KEY_BASE64;
	case 2:
		return (last & 0x0f) != 0 ? KGE_KEY_BASE64 : KGE_KEY_SIZE;
	case 3:
		return (last & 0x03) != 0 ? KGE_KEY_BASE64 : KGE_KEY_SIZE;
	default:
		return KGE_KEY_SIZE;
	}
}

static void
test_truncated(void **state)
{
	struct fixture		*f = *state;
	struct kg_license	 lic;
	size_t			 n;
	int			 seen_base64 = 0, seen_size = 0, rc;

	for (n = 0; n <= f->keylen; n++) {
		memset(&lic, 0x5a, sizeof(lic));
		rc = parse_exact(f->key, n, &f->ts, &lic);
		assert_int_equal(rc, truncated_expect(f->key, f->keylen, n));
		if (rc != KGE_OK)
			license_assert_zero(&lic);
		seen_base64 += rc == KGE_KEY_BASE64;
		seen_size += rc == KGE_KEY_SIZE;
	}
	/* Both kinds of damage occurred among the prefixes. */
	assert_true(seen_base64 > 0);
	assert_true(seen_size > 0);
	/* The first few, spelled out. */
	assert_int_equal(parse_exact(f->key, 0, &f->ts, &lic), KGE_KEY_PREFIX);
	assert_int_equal(parse_exact(f->key, 3, &f->ts, &lic), KGE_KEY_PREFIX);
	assert_int_equal(parse_exact(f->key, 4, &f->ts, &lic), KGE_KEY_PREFIX);
	assert_int_equal(parse_exact(f->key, f->keylen - 1, &f->ts, &lic),
	    truncated_expect(f->key, f->keylen, f->keylen - 1));
}

static void
test_padding(void **state)
{
	struct fixture	*f = *state;
	char		 t[KG_KEY_TEXT_MAX];

	snprintf(t, sizeof(t), "%s=", f->key);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_BASE64);
	snprintf(t, sizeof(t), "%s==", f->key);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_BASE64);
	/* Padding on the payload part too. */
	snprintf(t, sizeof(t), "%s", f->key);
	{
		char	*dot = strchr(t + 4, '.');
		char	 rest[KG_KEY_TEXT_MAX];

		snprintf(rest, sizeof(rest), "%s", dot);
		snprintf(dot, sizeof(t) - (size_t)(dot - t), "=%s", rest);
	}
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_BASE64);
}

/*
 * Every non-ASCII byte in place of a character of either part is refused as
 * BASE64 (libsodium 1.0.18 alone would read them all as '_').
 */
static void
test_non_ascii(void **state)
{
	struct fixture	*f = *state;
	char		*t;
	size_t		 dot, pos[4];
	int		 c, i;

	t = strdup(f->key);
	assert_non_null(t);
	dot = (size_t)(strchr(f->key + 4, '.') - f->key);
	pos[0] = 4;
	pos[1] = dot - 1;
	pos[2] = dot + 1;
	pos[3] = f->keylen - 1;
	for (i = 0; i < 4; i++) {
		for (c = 0x80; c <= 0xff; c++) {
			t[pos[i]] = (char)c;
			assert_int_equal(parse_str(t, &f->ts), KGE_KEY_BASE64);
		}
		t[pos[i]] = f->key[pos[i]];
	}
	/* An '_' of the key, swapped for 0xdf: the case that slipped through. */
	assert_non_null(strchr(t, '_'));
	*strchr(t, '_') = (char)0xdf;
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_BASE64);
	free(t);
}

static void
test_standard_base64(void **state)
{
	struct fixture	*f = *state;
	char		*t;
	size_t		 i;
	int		 changed = 0;

	t = strdup(f->key);
	assert_non_null(t);
	for (i = 0; t[i] != '\0'; i++) {
		if (t[i] == '-') {
			t[i] = '+';
			changed++;
		} else if (t[i] == '_') {
			t[i] = '/';
			changed++;
		}
	}
	assert_true(changed > 0);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_BASE64);
	free(t);
}

static void
test_trailing_data(void **state)
{
	struct fixture	*f = *state;
	char		 t[KG_KEY_TEXT_MAX];

	snprintf(t, sizeof(t), "%s.AAAA", f->key);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_PREFIX);
	snprintf(t, sizeof(t), "%s.", f->key);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_PREFIX);
	snprintf(t, sizeof(t), "%s%s", f->key, f->key);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_PREFIX);
	/* Trailing base64 characters make the signature too long, or ragged. */
	snprintf(t, sizeof(t), "%sAAAA", f->key);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_SIZE);
	snprintf(t, sizeof(t), "%sB", f->key);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_BASE64);
}

static void
test_wrong_prefix(void **state)
{
	struct fixture	*f = *state;
	char		 t[KG_KEY_TEXT_MAX];

	snprintf(t, sizeof(t), "KG2.%s", f->key + 4);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_PREFIX);
	snprintf(t, sizeof(t), "kg1.%s", f->key + 4);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_PREFIX);
	snprintf(t, sizeof(t), "%s", f->key + 4);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_PREFIX);
	snprintf(t, sizeof(t), "KG1%s", f->key + 4);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_PREFIX);
	snprintf(t, sizeof(t), "KG1..%s", f->key + 4);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_PREFIX);
	assert_int_equal(parse_str("KG1..", &f->ts), KGE_KEY_PREFIX);
	assert_int_equal(parse_str("KG1.", &f->ts), KGE_KEY_PREFIX);
	assert_int_equal(parse_str("KG1.AAAA.", &f->ts), KGE_KEY_PREFIX);
	assert_int_equal(parse_str("KG1..AAAA", &f->ts), KGE_KEY_PREFIX);
	assert_int_equal(parse_str("GET / HTTP/1.1\r\n\r\n", &f->ts),
	    KGE_KEY_PREFIX);
}

static void
test_empty(void **state)
{
	struct fixture		*f = *state;
	struct kg_license	 lic;
	struct kg_key_blob	 blob;

	assert_int_equal(parse_str("", &f->ts), KGE_KEY_PREFIX);
	assert_int_equal(parse_str(" \t\r\n\v\f", &f->ts), KGE_KEY_PREFIX);
	memset(&lic, 0x5a, sizeof(lic));
	assert_int_equal(license_key_parse(NULL, 0, &f->ts, &lic),
	    KGE_KEY_PREFIX);
	license_assert_zero(&lic);
	assert_int_equal(license_key_decode(NULL, 0, &blob), KGE_KEY_PREFIX);
}

static void
test_oversize(void **state)
{
	struct fixture	*f = *state;
	char		*t;
	size_t		 big = 64 * 1024;

	t = malloc(big);
	assert_non_null(t);
	memset(t, 'A', big);
	memcpy(t, f->key, f->keylen);
	assert_int_equal(parse_exact(t, big, &f->ts, &(struct kg_license){ 0 }),
	    KGE_KEY_SIZE);

	/* Whitespace counts toward the limit: exactly at it parses, one over does not. */
	memset(t, ' ', big);
	memcpy(t + KG_KEY_TEXT_MAX - f->keylen, f->key, f->keylen);
	assert_int_equal(parse_exact(t, KG_KEY_TEXT_MAX, &f->ts,
	    &(struct kg_license){ 0 }), KGE_OK);
	memset(t, ' ', big);
	memcpy(t + KG_KEY_TEXT_MAX + 1 - f->keylen, f->key, f->keylen);
	assert_int_equal(parse_exact(t, KG_KEY_TEXT_MAX + 1, &f->ts,
	    &(struct kg_license){ 0 }), KGE_KEY_SIZE);
	free(t);
}

/* A payload or signature of the wrong length, encoded correctly. */
static void
test_part_sizes(void **state)
{
	struct fixture		*f = *state;
	struct kg_key_blob	 blob;
	uint8_t			 big[KG_PAYLOAD_MAX + 1];
	char			 t[KG_KEY_TEXT_MAX], p64[2000], s64[200];

	assert_int_equal(license_key_decode(f->key, f->keylen, &blob), KGE_OK);

	/* Signature of 63 and 65 bytes. */
	sodium_bin2base64(p64, sizeof(p64), blob.payload, blob.payload_len,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_bin2base64(s64, sizeof(s64), blob.sig, 63,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(t, sizeof(t), "KG1.%s.%s", p64, s64);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_SIZE);
	assert_int_equal(license_key_decode(t, strlen(t), &blob), KGE_KEY_SIZE);
	memset(big, 7, sizeof(big));
	sodium_bin2base64(s64, sizeof(s64), big, 65,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(t, sizeof(t), "KG1.%s.%s", p64, s64);
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_SIZE);

	/* Payload of KG_PAYLOAD_MAX + 1 bytes, and of exactly KG_PAYLOAD_MAX. */
	sodium_bin2base64(s64, sizeof(s64), big, 64,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_bin2base64(p64, sizeof(p64), big, KG_PAYLOAD_MAX + 1,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(t, sizeof(t), "KG1.%s.%s", p64, s64);
	assert_int_equal(license_key_decode(t, strlen(t), &blob), KGE_KEY_SIZE);
	sodium_bin2base64(p64, sizeof(p64), big, KG_PAYLOAD_MAX,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(t, sizeof(t), "KG1.%s.%s", p64, s64);
	assert_int_equal(license_key_decode(t, strlen(t), &blob), KGE_OK);
	assert_int_equal(blob.payload_len, KG_PAYLOAD_MAX);
	assert_memory_equal(blob.payload, big, KG_PAYLOAD_MAX);
	/* ... which is not a LicensePayload. */
	assert_int_equal(parse_str(t, &f->ts), KGE_KEY_DECODE);
}

static void
test_whitespace(void **state)
{
	static const char	 ws[] = " \t\r\n\v\f";
	struct fixture		*f = *state;
	struct kg_license	 got;
	char			*t;
	size_t			 pos, i, j, k;

	t = malloc(2 * f->keylen + 64);
	assert_non_null(t);
	for (pos = 0; pos <= f->keylen; pos++) {
		for (i = 0; i < sizeof(ws) - 1; i++) {
			memcpy(t, f->key, pos);
			t[pos] = ws[i];
			memcpy(t + pos + 1, f->key + pos, f->keylen - pos);
			memset(&got, 0, sizeof(got));
			assert_int_equal(parse_exact(t, f->keylen + 1, &f->ts,
			    &got), KGE_OK);
			license_assert_equal(&got, &f->lic);
		}
	}

	/* Wrapped at 20 columns with CRLF, indented, and a trailing newline. */
	for (i = 0, j = 0; i < f->keylen; i++) {
		if (i % 20 == 0) {
			if (i > 0) {
				t[j++] = '\r';
				t[j++] = '\n';
			}
			t[j++] = ' ';
			t[j++] = ' ';
		}
		t[j++] = f->key[i];
	}
	t[j++] = '\n';
	k = j;
	assert_int_equal(parse_exact(t, k, &f->ts, &got), KGE_OK);
	license_assert_equal(&got, &f->lic);
	free(t);
}

/* ---- signers ---- */

static void
test_unknown_signer(void **state)
{
	struct fixture		*f = *state;
	struct kg_keypair	*other;
	struct kg_license	 lic;
	struct kg_trustset	 empty;
	char			*key;

	other = other_keypair_new();
	test_license_fill(&lic, other);
	assert_int_equal(license_key_new(&lic, other, &key), KGE_OK);
	assert_int_equal(parse_str(key, &f->ts), KGE_KEY_UNKNOWN_SIGNER);

	/* The same key verifies once its signer is trusted, */
	assert_int_equal(trustset_add(&f->ts, other->pk, KG_TRUST_RETIRED),
	    KGE_OK);
	assert_int_equal(parse_str(key, &f->ts), KGE_OK);
	/* and nothing verifies against an empty trust set. */
	trustset_init(&empty);
	assert_int_equal(parse_str(f->key, &empty), KGE_KEY_UNKNOWN_SIGNER);
	trustset_clear(&empty);
	free(key);
	keypair_free(other);
}

/* A key naming one trusted signer's id but signed by another. */
static void
test_forged_key_id(void **state)
{
	struct fixture		*f = *state;
	struct kg_keypair	*other;
	struct kg_license	 lic;
	uint8_t			 payload[KG_PAYLOAD_MAX], sig[KG_SIG_LEN];
	size_t			 len;
	char			*key;

	other = other_keypair_new();
	assert_int_equal(trustset_add(&f->ts, other->pk, KG_TRUST_ACTIVE), KGE_OK);
	test_license_fill(&lic, f->kp);		/* names the test key's id */
	assert_int_equal(license_payload_pack(&lic, payload, sizeof(payload),
	    &len), KGE_OK);
	assert_int_equal(keys_sign(other, KG_DOMAIN_LICENSE, payload, len, sig),
	    KGE_OK);
	assert_int_equal(license_key_format(payload, len, sig, &key), KGE_OK);
	assert_int_equal(parse_str(key, &f->ts), KGE_KEY_SIGNATURE);
	free(key);
	keypair_free(other);
}

static void
test_compromised(void **state)
{
	struct fixture	*f = *state;

	assert_int_equal(parse_str(f->key, &f->ts), KGE_OK);
	assert_int_equal(trustset_add(&f->ts, f->kp->pk, KG_TRUST_RETIRED), KGE_OK);
	assert_int_equal(parse_str(f->key, &f->ts), KGE_OK);
	assert_int_equal(trustset_add(&f->ts, f->kp->pk, KG_TRUST_COMPROMISED),
	    KGE_OK);
	assert_int_equal(parse_str(f->key, &f->ts), KGE_KEY_COMPROMISED);
}

static void
test_other_domains(void **state)
{
	struct fixture		*f = *state;
	struct kg_key_blob	 blob;
	uint8_t			 sig[KG_SIG_LEN];
	char			*key;

	assert_int_equal(license_key_decode(f->key, f->keylen, &blob), KGE_OK);

	assert_int_equal(keys_sign(f->kp, KG_DOMAIN_REPLY, blob.payload,
	    blob.payload_len, sig), KGE_OK);
	assert_memory_not_equal(sig, blob.sig, KG_SIG_LEN);
	assert_int_equal(license_key_format(blob.payload, blob.payload_len, sig,
	    &key), KGE_OK);
	assert_int_equal(parse_str(key, &f->ts), KGE_KEY_SIGNATURE);
	free(key);

	assert_int_equal(keys_sign(f->kp, KG_DOMAIN_ROTATION, blob.payload,
	    blob.payload_len, sig), KGE_OK);
	assert_int_equal(license_key_format(blob.payload, blob.payload_len, sig,
	    &key), KGE_OK);
	assert_int_equal(parse_str(key, &f->ts), KGE_KEY_SIGNATURE);
	free(key);

	/* A bare Ed25519 signature of the payload, with no domain, is refused too. */
	assert_int_equal(crypto_sign_detached(sig, NULL, blob.payload,
	    blob.payload_len, f->kp->sk), 0);
	assert_int_equal(license_key_format(blob.payload, blob.payload_len, sig,
	    &key), KGE_OK);
	assert_int_equal(parse_str(key, &f->ts), KGE_KEY_SIGNATURE);
	free(key);

	/* And the license domain, by hand, is exactly what the key carries. */
	{
		uint8_t	msg[sizeof(KG_DOMAIN_LICENSE_PREFIX) + KG_PAYLOAD_MAX];

		memcpy(msg, KG_DOMAIN_LICENSE_PREFIX,
		    sizeof(KG_DOMAIN_LICENSE_PREFIX));	/* with its NUL */
		memcpy(msg + sizeof(KG_DOMAIN_LICENSE_PREFIX), blob.payload,
		    blob.payload_len);
		assert_int_equal(crypto_sign_verify_detached(blob.sig, msg,
		    sizeof(KG_DOMAIN_LICENSE_PREFIX) + blob.payload_len,
		    f->kp->pk), 0);
	}
}

static void
test_key_new_checks(void **state)
{
	struct fixture		*f = *state;
	struct kg_keypair	*other;
	struct kg_license	 lic;
	char			*key = (char *)1;

	other = other_keypair_new();
	test_license_fill(&lic, f->kp);
	assert_int_equal(license_key_new(&lic, other, &key), KGE_INVAL);
	assert_null(key);

	key = (char *)1;
	test_license_fill(&lic, f->kp);
	lic.created = KG_DATE_NONE;
	assert_int_equal(license_key_new(&lic, f->kp, &key), KGE_INVAL);
	assert_null(key);
	keypair_free(other);
}

/* ---- payload validation ---- */

static void
test_pack_limits(void **state)
{
	struct fixture		*f = *state;
	struct kg_license	 lic;
	uint8_t			 buf[KG_PAYLOAD_MAX];
	size_t			 len, need;

#define PACK()	license_payload_pack(&lic, buf, sizeof(buf), &len)
	test_license_fill(&lic, f->kp);
	assert_int_equal(PACK(), KGE_OK);
	need = len;
	assert_int_equal(license_payload_pack(&lic, buf, need, &len), KGE_OK);
	assert_int_equal(len, need);
	assert_int_equal(license_payload_pack(&lic, buf, need - 1, &len),
	    KGE_KEY_SIZE);

	/* Unterminated strings. */
	memset(lic.product, 'P', sizeof(lic.product));
	assert_int_equal(PACK(), KGE_INVAL);
	test_license_fill(&lic, f->kp);
	memset(lic.regno, 'R', sizeof(lic.regno));
	assert_int_equal(PACK(), KGE_INVAL);
	test_license_fill(&lic, f->kp);
	memset(lic.licensee, 'L', sizeof(lic.licensee));
	assert_int_equal(PACK(), KGE_INVAL);

	/* Control characters and broken UTF-8. */
	test_license_fill(&lic, f->kp);
	strcpy(lic.licensee, "ACME\nInc");
	assert_int_equal(PACK(), KGE_INVAL);
	strcpy(lic.licensee, "ACME\tInc");
	assert_int_equal(PACK(), KGE_INVAL);
	strcpy(lic.licensee, "\xd0");		/* cut multibyte */
	assert_int_equal(PACK(), KGE_INVAL);
	strcpy(lic.licensee, "\xc0\xaf");	/* overlong '/' */
	assert_int_equal(PACK(), KGE_INVAL);
	strcpy(lic.licensee, "\xed\xa0\x80");	/* surrogate */
	assert_int_equal(PACK(), KGE_INVAL);
	strcpy(lic.licensee, "\xf4\x90\x80\x80");	/* > U+10FFFF */
	assert_int_equal(PACK(), KGE_INVAL);
	strcpy(lic.licensee, "\xf0\x9f\x94\x91 \xe2\x82\xac");	/* 4- and 3-byte */
	assert_int_equal(PACK(), KGE_OK);
	strcpy(lic.product, "ZH\x1f");
	assert_int_equal(PACK(), KGE_INVAL);

	/* Dates and terms. */
	test_license_fill(&lic, f->kp);
	lic.created = KG_DATE_NONE;
	assert_int_equal(PACK(), KGE_INVAL);
	lic.created = -1;
	assert_int_equal(PACK(), KGE_INVAL);
	lic.created = DAY_MAX + 1;
	assert_int_equal(PACK(), KGE_INVAL);
	lic.created = DAY_MAX;
	assert_int_equal(PACK(), KGE_OK);
	lic.support_expiry = DAY_MAX + 1;
	assert_int_equal(PACK(), KGE_INVAL);
	lic.support_expiry = -5;
	assert_int_equal(PACK(), KGE_INVAL);
	lic.support_expiry = KG_DATE_NONE;
	lic.license_expiry = DAY_MAX + 1;
	assert_int_equal(PACK(), KGE_INVAL);
	lic.license_expiry = KG_DATE_NONE;
	lic.support_months = KG_MONTHS_MAX + 1;
	assert_int_equal(PACK(), KGE_INVAL);
	lic.support_months = KG_MONTHS_MAX;
	assert_int_equal(PACK(), KGE_OK);
#undef PACK
}

/* Pack a raw protobuf-c message (bypassing license_payload_pack's checks). */
static size_t
raw_pack(Keygate__LicensePayload *m, uint8_t *buf, size_t cap)
{
	assert_true(keygate__license_payload__get_packed_size(m) <= cap);
	return keygate__license_payload__pack(m, buf);
}

static void
raw_fill(Keygate__LicensePayload *m, uint8_t *id)
{
	keygate__license_payload__init(m);
	m->serial = 1;
	m->product = "ZHKH8";
	m->edition = "PROF";
	m->regno = "ZHKH8-000001";
	m->licensee = "ACME";
	m->created = 20484;
	m->key_id.data = id;
	m->key_id.len = KG_KEY_ID_LEN;
	m->revision = 1;
}

static int
raw_unpack(Keygate__LicensePayload *m)
{
	struct kg_license	lic;
	uint8_t			buf[4096];
	size_t			len;
	int			rc;

	len = raw_pack(m, buf, sizeof(buf));
	memset(&lic, 0x5a, sizeof(lic));
	rc = license_payload_unpack(buf, len, &lic);
	if (rc != KGE_OK)
		license_assert_zero(&lic);
	return rc;
}

static void
test_unpack_invalid(void **state)
{
	Keygate__LicensePayload	 m;
	struct kg_license	 lic;
	uint8_t			 id[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	char			 longs[KG_LICENSEE_MAX + 2];
	static const uint8_t	 garbage[] = { 0xff, 0xff, 0xff, 0xff };
	static const uint8_t	 truncated[] = { 0x12, 0x05, 'Z', 'H' };
	/* licensee (field 5) "AB\0C": protobuf-c would keep only "AB". */
	static const uint8_t	 nul[] = { 0x08, 0x01, 0x2a, 0x04, 'A', 'B', 0,
	    'C', 0x30, 0x01, 0x52, 0x08, 1, 2, 3, 4, 5, 6, 7, 8 };

	(void)state;
	raw_fill(&m, id);
	assert_int_equal(raw_unpack(&m), KGE_OK);

	assert_int_equal(license_payload_unpack(garbage, sizeof(garbage), &lic),
	    KGE_KEY_DECODE);
	assert_int_equal(license_payload_unpack(truncated, sizeof(truncated),
	    &lic), KGE_KEY_DECODE);
	assert_int_equal(license_payload_unpack(nul, sizeof(nul), &lic),
	    KGE_KEY_DECODE);
	assert_int_equal(license_payload_unpack(nul, 0, &lic), KGE_KEY_DECODE);
	/* Same bytes with the NUL made a letter: valid. */
	{
		uint8_t	ok[sizeof(nul)];

		memcpy(ok, nul, sizeof(nul));
		ok[6] = 'x';
		assert_int_equal(license_payload_unpack(ok, sizeof(ok), &lic),
		    KGE_OK);
		assert_string_equal(lic.licensee, "ABxC");
		assert_int_equal(lic.created, 1);
	}

	m.key_id.len = 7;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	m.key_id.len = 9;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	m.key_id.len = 0;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);

	raw_fill(&m, id);
	m.created = 0;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	m.created = DAY_MAX + 1;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	m.created = DAY_MAX;
	assert_int_equal(raw_unpack(&m), KGE_OK);
	m.support_expiry = DAY_MAX + 1;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	m.support_expiry = 0;
	m.license_expiry = UINT32_MAX;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	m.license_expiry = 0;
	m.support_months = KG_MONTHS_MAX + 1;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);

	raw_fill(&m, id);
	memset(longs, 'X', sizeof(longs));
	longs[KG_CODE_MAX + 1] = '\0';
	m.product = longs;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	longs[KG_CODE_MAX + 1] = 'X';
	longs[KG_CODE_MAX] = '\0';
	assert_int_equal(raw_unpack(&m), KGE_OK);
	raw_fill(&m, id);
	longs[KG_CODE_MAX] = 'X';
	longs[KG_CODE_MAX + 1] = '\0';
	m.edition = longs;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	raw_fill(&m, id);
	memset(longs, 'X', sizeof(longs));
	longs[KG_REGNO_MAX + 1] = '\0';
	m.regno = longs;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	raw_fill(&m, id);
	memset(longs, 'X', sizeof(longs));
	longs[KG_LICENSEE_MAX + 1] = '\0';
	m.licensee = longs;
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	longs[KG_LICENSEE_MAX] = '\0';
	assert_int_equal(raw_unpack(&m), KGE_OK);

	raw_fill(&m, id);
	m.licensee = "ACME\x7f\x01";
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	m.licensee = "bad \xff utf-8";
	assert_int_equal(raw_unpack(&m), KGE_KEY_DECODE);
	m.licensee = "ООО \"Ромашка\"";
	assert_int_equal(raw_unpack(&m), KGE_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_extremes, setup,
		    teardown),
		cmocka_unit_test(test_day_max),
		cmocka_unit_test(test_golden),
		cmocka_unit_test_setup_teardown(test_text_bitflips, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_payload_bitflips, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_signature_bitflips, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_padding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_ascii, setup, teardown),
		cmocka_unit_test_setup_teardown(test_standard_base64, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_trailing_data, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_prefix, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_part_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whitespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_signer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_forged_key_id, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_compromised, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_other_domains, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_key_new_checks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pack_limits, setup,
		    teardown),
		cmocka_unit_test(test_unpack_invalid),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
