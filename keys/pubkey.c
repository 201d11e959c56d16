/*
 * Public key text: one line "KGP1." followed by the 32-byte Ed25519 public
 * key in base64url without padding (43 characters). This is what
 * "keygated pubkey" prints and what a trust file holds.
 */
#include <string.h>

#include <sodium.h>

#include "kgerr.h"
#include "keys.h"

#define PUBKEY_PREFIX		"KGP1."
#define PUBKEY_PREFIX_LEN	(sizeof(PUBKEY_PREFIX) - 1)
#define PUBKEY_B64_LEN		43	/* ceil(32 * 4 / 3), no padding */
#define PUBKEY_VARIANT		sodium_base64_VARIANT_URLSAFE_NO_PADDING

static int
pubkey_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

/* Format pk as "KGP1.<base64url-nopad(pk)>". */
void
pubkey_format(const uint8_t pk[KG_PUBKEY_LEN], char out[KG_PUBKEY_TEXT_MAX])
{
	memcpy(out, PUBKEY_PREFIX, PUBKEY_PREFIX_LEN);
	sodium_bin2base64(out + PUBKEY_PREFIX_LEN,
	    KG_PUBKEY_TEXT_MAX - PUBKEY_PREFIX_LEN, pk, KG_PUBKEY_LEN,
	    PUBKEY_VARIANT);
}

/*
 * Parse one public key line. Only whitespace may surround it; the encoding
 * must be canonical (43 characters of the URL-safe alphabet, unused bits
 * zero). pk is written only on success.
 */
int
pubkey_parse(const char *s, uint8_t pk[KG_PUBKEY_LEN])
{
	uint8_t		 tmp[KG_PUBKEY_LEN];
	const char	*b, *e, *end;
	size_t		 binlen;

	if (s == NULL || pk == NULL)
		return KGE_PUBKEY_FORMAT;
	if (sodium_init() < 0)
		return KGE_NOMEM;
	b = s;
	while (*b != '\0' && pubkey_is_space(*b))
		b++;
	e = b + strlen(b);
	while (e > b && pubkey_is_space(e[-1]))
		e--;
	if ((size_t)(e - b) != PUBKEY_PREFIX_LEN + PUBKEY_B64_LEN ||
	    memcmp(b, PUBKEY_PREFIX, PUBKEY_PREFIX_LEN) != 0)
		return KGE_PUBKEY_FORMAT;
	b += PUBKEY_PREFIX_LEN;
	/* libsodium 1.0.18 reads bytes >= 0x80 as '_': refuse them first. */
	for (end = b; end < e; end++)
		if ((unsigned char)*end >= 0x80)
			return KGE_PUBKEY_FORMAT;
	if (sodium_base642bin(tmp, sizeof(tmp), b, PUBKEY_B64_LEN, NULL,
	    &binlen, &end, PUBKEY_VARIANT) != 0 || binlen != KG_PUBKEY_LEN ||
	    end != e)
		return KGE_PUBKEY_FORMAT;
	memcpy(pk, tmp, KG_PUBKEY_LEN);
	return KGE_OK;
}
