/*
 * Fuzz target: license key text and public key text, the parsers every
 * product and the daemon run on what users paste. The input is given, not
 * NUL-terminated, to license_key_decode and license_key_parse (a trust set
 * of the test-vector key, corpus key A and corpus key B marked
 * compromised), and as raw bytes to license_payload_unpack; as a C string
 * to pubkey_parse, trustset_parse and libkeygate's kg_verify_offline.
 *
 * Checked: the documented error codes and their order (a text that does
 * not decode fails parse with the same code), *lic zeroed on failure, a
 * verified key's signer being in the trust set and not compromised, a
 * decoded payload packing back to the same license, a key re-formatted from
 * its decoded parts parsing to the same license, kg_verify_offline
 * agreeing with license_key_parse on keys of the keys it trusts, and the
 * daemon's verified-key cache (keycache.h; a small one, kept across inputs
 * so entries are evicted) giving license_key_parse's result on a miss and
 * on the hit that follows, also against a second trust set in which the
 * vector key is unknown and corpus key A compromised.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus_keys.h"
#include "fuzz.h"
#include "keycache.h"
#include "keygate.h"
#include "kgerr.h"
#include "license.h"

#define FUZZ_CACHE_SETS		2

static struct kg_trustset	trust, trust_revoked;
static char			trust_lines[3 * KG_PUBKEY_TEXT_MAX];
static struct keycache_set	cache_set[FUZZ_CACHE_SETS];
static struct keycache		cache;

static void
trust_clear(void)
{
	trustset_clear(&trust);
	trustset_clear(&trust_revoked);
	keycache_fini(&cache);
}

/* The test vectors' public key (tests/vectors/license-v1.txt). */
static void
vector_pubkey(uint8_t pk[KG_PUBKEY_LEN], char text[KG_PUBKEY_TEXT_MAX])
{
	char	 line[256];
	FILE	*f;
	bool	 found = false;

	FUZZ_CHECK((f = fopen(KG_VECTORS_DIR "/license-v1.txt", "r")) != NULL);
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "pubkey: ", 8) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		FUZZ_CHECK(pubkey_parse(line + 8, pk) == KGE_OK);
		FUZZ_CHECK(strlen(line + 8) < KG_PUBKEY_TEXT_MAX);
		memcpy(text, line + 8, strlen(line + 8) + 1);
		found = true;
	}
	fclose(f);
	FUZZ_CHECK(found);
}

/* The trust sets: see the top of the file. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t	v[KG_PUBKEY_LEN], a[KG_PUBKEY_LEN], b[KG_PUBKEY_LEN];
	char	vtext[KG_PUBKEY_TEXT_MAX];

	(void)argc;
	(void)argv;
	fuzz_setup();
	vector_pubkey(v, vtext);
	fuzz_corpus_pubkeys(a, b);
	trustset_init(&trust);
	FUZZ_CHECK(trustset_add(&trust, v, KG_TRUST_ACTIVE) == KGE_OK);
	FUZZ_CHECK(trustset_add(&trust, a, KG_TRUST_RETIRED) == KGE_OK);
	FUZZ_CHECK(trustset_add(&trust, b, KG_TRUST_COMPROMISED) == KGE_OK);
	trustset_init(&trust_revoked);
	FUZZ_CHECK(trustset_add(&trust_revoked, a, KG_TRUST_COMPROMISED) ==
	    KGE_OK);
	FUZZ_CHECK(trustset_add(&trust_revoked, b, KG_TRUST_RETIRED) == KGE_OK);
	FUZZ_CHECK(keycache_init(&cache, cache_set, FUZZ_CACHE_SETS) == 0);
	FUZZ_CHECK(atexit(trust_clear) == 0);
	snprintf(trust_lines, sizeof(trust_lines), "%s\n%s\n", vtext,
	    FUZZ_CORPUS_PUBKEY_A);
	return 0;
}

static bool
lic_zero(const struct kg_license *l)
{
	static const struct kg_license	zero;

	return memcmp(l, &zero, sizeof(zero)) == 0;
}

static bool
lic_equal(const struct kg_license *x, const struct kg_license *y)
{
	return x->serial == y->serial && strcmp(x->product, y->product) == 0 &&
	    strcmp(x->edition, y->edition) == 0 &&
	    strcmp(x->regno, y->regno) == 0 &&
	    strcmp(x->licensee, y->licensee) == 0 &&
	    x->created == y->created && x->support_expiry == y->support_expiry &&
	    x->license_expiry == y->license_expiry && x->trial == y->trial &&
	    memcmp(x->key_id, y->key_id, KG_KEY_ID_LEN) == 0 &&
	    x->revision == y->revision && x->support_months == y->support_months;
}

/* A decoded license packs back (when it may) to the same license. */
static void
payload_roundtrip(const struct kg_license *lic)
{
	struct kg_license	again;
	uint8_t			buf[KG_PAYLOAD_MAX];
	size_t			len;

	FUZZ_CHECK(memchr(lic->product, '\0', sizeof(lic->product)) != NULL);
	FUZZ_CHECK(memchr(lic->licensee, '\0', sizeof(lic->licensee)) != NULL);
	if (license_payload_pack(lic, buf, sizeof(buf), &len) != KGE_OK)
		return;
	FUZZ_CHECK(license_payload_unpack(buf, len, &again) == KGE_OK);
	FUZZ_CHECK(lic_equal(lic, &again));
}

static void
strings_read(const kg_result *r)
{
	const char	*s[] = { kg_result_verdict(r), kg_result_reason(r),
	    kg_result_detail(r), kg_result_product(r), kg_result_edition(r),
	    kg_result_regno(r), kg_result_licensee(r), kg_result_created(r),
	    kg_result_support_expiry(r), kg_result_license_expiry(r),
	    kg_result_key(r), kg_result_state(r) };
	size_t		 i, n = 0;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (s[i] != NULL)
			n += strlen(s[i]);
	(void)n;
}

/* kg_verify_offline on the text as a C string; agrees with the core. */
static void
offline_check(const uint8_t *data, size_t size, int parsed,
    const struct kg_license *lic)
{
	kg_result	*r = NULL;
	char		*text;
	int		 rc;

	FUZZ_CHECK((text = malloc(size + 1)) != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	rc = kg_verify_offline(text, trust_lines, &r);
	if (rc == KG_OK) {
		FUZZ_CHECK(r != NULL && kg_result_valid(r) == 1);
		FUZZ_CHECK(parsed != KGE_OK ||
		    kg_result_serial(r) == lic->serial);
		strings_read(r);
	} else if (rc == KG_ERR_KEY) {
		FUZZ_CHECK(r != NULL && kg_result_valid(r) == 0);
		strings_read(r);
	} else
		FUZZ_CHECK(r == NULL);
	/*
	 * On the same text (no NUL inside, within the length limit), a key
	 * verifies offline (trusting A and the vector key) exactly when it
	 * verifies in the core (B is compromised there).
	 */
	if (memchr(data, '\0', size) == NULL && size <= KG_KEY_TEXT_MAX)
		FUZZ_CHECK((parsed == KGE_OK) == (rc == KG_OK));
	kg_result_free(r);

	/* The same bytes as public key text. */
	{
		struct kg_trustset	ts;
		uint8_t			pk[KG_PUBKEY_LEN];
		int			bad = 0;

		(void)pubkey_parse(text, pk);
		trustset_init(&ts);
		rc = trustset_parse(&ts, text, &bad);
		FUZZ_CHECK(rc == KGE_OK || rc == KGE_PUBKEY_FORMAT ||
		    rc == KGE_NOMEM);
		FUZZ_CHECK(rc != KGE_PUBKEY_FORMAT || bad >= 1);
		trustset_clear(&ts);
	}
	free(text);
}

/* The cache answers as license_key_parse does, on a miss and on a hit. */
static void
cache_check(const char *text, size_t size, const struct kg_trustset *ts,
    int parsed, const struct kg_license *lic)
{
	static const struct keycache_key	zero;
	struct keycache_key			cached, want;
	int					i;

	if (parsed == KGE_OK)
		keycache_key_from(lic, &want);
	else
		want = zero;
	for (i = 0; i < 2; i++) {
		FUZZ_CHECK(keycache_parse(&cache, text, size, ts, &cached) ==
		    parsed);
		FUZZ_CHECK(cached.serial == want.serial &&
		    cached.revision == want.revision &&
		    memcmp(cached.key_id, want.key_id, KG_KEY_ID_LEN) == 0 &&
		    memcmp(cached.regno, want.regno, sizeof(want.regno)) == 0 &&
		    memcmp(cached.product, want.product,
		    sizeof(want.product)) == 0);
	}
	FUZZ_CHECK(keycache_count(&cache) <= FUZZ_CACHE_SETS * KEYCACHE_WAYS);
}

/* One key text. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kg_trust_entry	*te;
	struct kg_key_blob		 blob;
	struct kg_license		 lic, again;
	const char			*text = (const char *)data;
	char				*formatted;
	int				 dec, parsed;

	dec = license_key_decode(text, size, &blob);
	FUZZ_CHECK(dec == KGE_OK || dec == KGE_KEY_PREFIX ||
	    dec == KGE_KEY_BASE64 || dec == KGE_KEY_SIZE);
	if (dec == KGE_OK) {
		FUZZ_CHECK(blob.payload_len >= 1 &&
		    blob.payload_len <= KG_PAYLOAD_MAX);
		if (license_payload_unpack(blob.payload, blob.payload_len,
		    &lic) == KGE_OK)
			payload_roundtrip(&lic);
		else
			FUZZ_CHECK(lic_zero(&lic));
	}

	parsed = license_key_parse(text, size, &trust, &lic);
	if (dec != KGE_OK)
		FUZZ_CHECK(parsed == dec);
	if (parsed == KGE_OK) {
		te = trustset_find(&trust, lic.key_id);
		FUZZ_CHECK(te != NULL && te->state != KG_TRUST_COMPROMISED);
		payload_roundtrip(&lic);
		/* The decoded parts, formatted again, are the same key. */
		FUZZ_CHECK(license_key_format(blob.payload, blob.payload_len,
		    blob.sig, &formatted) == KGE_OK);
		FUZZ_CHECK(license_key_parse(formatted, strlen(formatted),
		    &trust, &again) == KGE_OK);
		FUZZ_CHECK(lic_equal(&lic, &again));
		free(formatted);
	} else {
		FUZZ_CHECK(parsed == KGE_KEY_PREFIX || parsed == KGE_KEY_BASE64 ||
		    parsed == KGE_KEY_SIZE || parsed == KGE_KEY_DECODE ||
		    parsed == KGE_KEY_UNKNOWN_SIGNER ||
		    parsed == KGE_KEY_COMPROMISED ||
		    parsed == KGE_KEY_SIGNATURE);
		FUZZ_CHECK(lic_zero(&lic));
	}

	/* The daemon's cache, with this trust set and with the other one. */
	cache_check(text, size, &trust, parsed, &lic);
	{
		struct kg_license	other;
		int			rc;

		rc = license_key_parse(text, size, &trust_revoked, &other);
		cache_check(text, size, &trust_revoked, rc, &other);
		cache_check(text, size, &trust, parsed, &lic);
	}

	/* The raw bytes as a payload. */
	if (license_payload_unpack(data, size, &again) == KGE_OK)
		payload_roundtrip(&again);
	else
		FUZZ_CHECK(lic_zero(&again));

	offline_check(data, size, parsed, &lic);
	return 0;
}
