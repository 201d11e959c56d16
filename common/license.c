/*
 * The license key format (SPEC section 3): a struct kg_license packed as the
 * protobuf LicensePayload, signed with Ed25519 in the "keygate-license-v1"
 * domain and written as "KG1.<base64url(payload)>.<base64url(signature)>".
 * This file owns the text form (strict base64url without padding, whitespace
 * ignored), the payload's validation in both directions, and the check of a
 * key against a trust set. The signature always covers the payload bytes as
 * they appear in the key text; nothing here re-encodes a message to verify it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keygate.pb-c.h"

#include "kgerr.h"
#include "keys.h"
#include "license.h"
#include "pbarena.h"
#include "text.h"

#define KEY_PREFIX_LEN		(sizeof(KG_KEY_PREFIX) - 1)
#define B64_VARIANT		sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* Day number of 9999-12-31, the last day a key may name. */
#define LICENSE_DAY_MAX		2932896

/* Room for the decoded bytes of any part of a key of KG_KEY_TEXT_MAX. */
#define DECODE_SCRATCH		(KG_KEY_TEXT_MAX / 4 * 3 + 3)

/* LicensePayload field numbers of the strings (proto/keygate.proto). */
#define FIELD_PRODUCT		2
#define FIELD_LICENSEE		5

/* The whitespace a key text may carry anywhere. */
static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f';
}

/* 1 when s (n bytes) fits max and is UTF-8 without control characters. */
static int
text_valid(const char *s, size_t n, size_t max)
{
	size_t	i;

	if (n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return 0;
	return text_utf8_valid(s, n);
}

/* 1 when a string in an array of size bytes ends in it, fits max, is clean. */
static int
field_valid(const char *s, size_t size, size_t max)
{
	size_t	n;

	n = strnlen(s, size);
	if (n == size)
		return 0;
	return text_valid(s, n, max);
}

static int
date_valid(kg_date d)
{
	return d >= 0 && d <= LICENSE_DAY_MAX;
}

/* KGE_OK when every field of lic may be written into a key. */
static int
license_check(const struct kg_license *lic)
{
	if (!field_valid(lic->product, sizeof(lic->product), KG_CODE_MAX) ||
	    !field_valid(lic->edition, sizeof(lic->edition), KG_CODE_MAX) ||
	    !field_valid(lic->regno, sizeof(lic->regno), KG_REGNO_MAX) ||
	    !field_valid(lic->licensee, sizeof(lic->licensee), KG_LICENSEE_MAX))
		return KGE_INVAL;
	if (lic->created == KG_DATE_NONE || !date_valid(lic->created) ||
	    !date_valid(lic->support_expiry) || !date_valid(lic->license_expiry))
		return KGE_INVAL;
	if (lic->support_months > KG_MONTHS_MAX)
		return KGE_INVAL;
	return KGE_OK;
}

/* Serialize lic as a LicensePayload into buf. */
int
license_payload_pack(const struct kg_license *lic, uint8_t *buf, size_t cap,
    size_t *len)
{
	Keygate__LicensePayload	 msg = KEYGATE__LICENSE_PAYLOAD__INIT;
	size_t			 need;
	int			 rc;

	if (len != NULL)
		*len = 0;
	if (lic == NULL || buf == NULL || len == NULL)
		return KGE_INVAL;
	if ((rc = license_check(lic)) != KGE_OK)
		return rc;

	msg.serial = lic->serial;
	msg.product = (char *)lic->product;
	msg.edition = (char *)lic->edition;
	msg.regno = (char *)lic->regno;
	msg.licensee = (char *)lic->licensee;
	msg.created = (uint32_t)lic->created;
	msg.support_expiry = (uint32_t)lic->support_expiry;
	msg.license_expiry = (uint32_t)lic->license_expiry;
	msg.trial = lic->trial ? 1 : 0;
	msg.key_id.data = (uint8_t *)lic->key_id;
	msg.key_id.len = KG_KEY_ID_LEN;
	msg.revision = lic->revision;
	msg.support_months = lic->support_months;

	need = keygate__license_payload__get_packed_size(&msg);
	if (need > cap)
		return KGE_KEY_SIZE;
	*len = keygate__license_payload__pack(&msg, buf);
	return KGE_OK;
}

/* Read a varint at buf[*pos]; -1 when it runs past len or over 10 bytes. */
static int
wire_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
	unsigned int	shift;

	*v = 0;
	for (shift = 0; shift < 70; shift += 7) {
		if (*pos >= len)
			return -1;
		*v |= (uint64_t)(buf[*pos] & 0x7f) << shift;
		if ((buf[(*pos)++] & 0x80) == 0)
			return 0;
	}
	return -1;
}

/*
 * protobuf-c cuts a string at its first NUL byte without saying so; walk the
 * encoded fields and refuse control characters in every occurrence of the
 * string fields, so the text a key shows is all of the text it signs.
 */
static int
payload_strings_clean(const uint8_t *buf, size_t len)
{
	size_t		pos = 0, i;
	uint64_t	tag, n;

	while (pos < len) {
		if (wire_varint(buf, len, &pos, &tag) == -1)
			return 0;
		switch (tag & 7) {
		case 0:
			if (wire_varint(buf, len, &pos, &n) == -1)
				return 0;
			break;
		case 1:
			if (len - pos < 8)
				return 0;
			pos += 8;
			break;
		case 5:
			if (len - pos < 4)
				return 0;
			pos += 4;
			break;
		case 2:
			if (wire_varint(buf, len, &pos, &n) == -1 || n > len - pos)
				return 0;
			if ((tag >> 3) >= FIELD_PRODUCT && (tag >> 3) <= FIELD_LICENSEE)
				for (i = 0; i < n; i++)
					if (buf[pos + i] < 0x20)
						return 0;
			pos += n;
			break;
		default:
			return 0;
		}
	}
	return 1;
}

/* Copy a checked string of the message into its field. */
static int
string_take(char *dst, size_t size, const char *src, size_t max)
{
	size_t	n;

	if (src == NULL)
		return 0;
	n = strlen(src);
	if (n >= size || !text_valid(src, n, max))
		return 0;
	memcpy(dst, src, n + 1);
	return 1;
}

/* Decode and validate a LicensePayload into *lic. */
int
license_payload_unpack(const uint8_t *buf, size_t len, struct kg_license *lic)
{
	Keygate__LicensePayload	*msg = NULL;
	struct pb_arena		 a;
	uint8_t			 abuf[PB_ARENA_SMALL];
	int			 rc = KGE_KEY_DECODE;

	if (lic == NULL)
		return KGE_INVAL;
	memset(lic, 0, sizeof(*lic));
	pb_arena_init(&a, abuf, sizeof(abuf), SIZE_MAX);
	if (buf == NULL || len == 0 || len > KG_PAYLOAD_MAX)
		goto fail;
	if (!payload_strings_clean(buf, len))
		goto fail;
	if ((msg = keygate__license_payload__unpack(&a.alloc, len, buf)) == NULL)
		goto fail;

	if (!string_take(lic->product, sizeof(lic->product), msg->product,
	    KG_CODE_MAX) ||
	    !string_take(lic->edition, sizeof(lic->edition), msg->edition,
	    KG_CODE_MAX) ||
	    !string_take(lic->regno, sizeof(lic->regno), msg->regno,
	    KG_REGNO_MAX) ||
	    !string_take(lic->licensee, sizeof(lic->licensee), msg->licensee,
	    KG_LICENSEE_MAX))
		goto fail;
	if (msg->key_id.len != KG_KEY_ID_LEN || msg->key_id.data == NULL)
		goto fail;
	if (msg->created == 0 || msg->created > LICENSE_DAY_MAX ||
	    msg->support_expiry > LICENSE_DAY_MAX ||
	    msg->license_expiry > LICENSE_DAY_MAX)
		goto fail;
	if (msg->support_months > KG_MONTHS_MAX)
		goto fail;

	lic->serial = msg->serial;
	lic->created = (kg_date)msg->created;
	lic->support_expiry = (kg_date)msg->support_expiry;
	lic->license_expiry = (kg_date)msg->license_expiry;
	lic->trial = msg->trial != 0;
	memcpy(lic->key_id, msg->key_id.data, KG_KEY_ID_LEN);
	lic->revision = msg->revision;
	lic->support_months = msg->support_months;
	rc = KGE_OK;
fail:
	if (msg != NULL)
		pb_arena_release(&a);
	if (rc != KGE_OK)
		memset(lic, 0, sizeof(*lic));
	return rc;
}

/* Write "KG1." + b64(payload) + "." + b64(sig) into a malloc'd string. */
int
license_key_format(const uint8_t *payload, size_t len,
    const uint8_t sig[KG_SIG_LEN], char **text)
{
	size_t	 plen, slen, total;
	char	*s;

	if (text == NULL)
		return KGE_INVAL;
	*text = NULL;
	if (payload == NULL || sig == NULL || len == 0 || len > KG_PAYLOAD_MAX)
		return KGE_INVAL;

	/* The encoded lengths include their NUL. */
	plen = sodium_base64_ENCODED_LEN(len, B64_VARIANT);
	slen = sodium_base64_ENCODED_LEN(KG_SIG_LEN, B64_VARIANT);
	total = KEY_PREFIX_LEN + plen + slen;
	if ((s = malloc(total)) == NULL)
		return KGE_NOMEM;
	memcpy(s, KG_KEY_PREFIX, KEY_PREFIX_LEN);
	sodium_bin2base64(s + KEY_PREFIX_LEN, plen, payload, len, B64_VARIANT);
	s[KEY_PREFIX_LEN + plen - 1] = '.';
	sodium_bin2base64(s + KEY_PREFIX_LEN + plen, slen, sig, KG_SIG_LEN,
	    B64_VARIANT);
	*text = s;
	return KGE_OK;
}

/* Sign lic with kp and return its key text. */
int
license_key_new(const struct kg_license *lic, const struct kg_keypair *kp,
    char **text)
{
	uint8_t	payload[KG_PAYLOAD_MAX];
	uint8_t	sig[KG_SIG_LEN];
	size_t	len;
	int	rc;

	if (text == NULL)
		return KGE_INVAL;
	*text = NULL;
	if (lic == NULL || kp == NULL)
		return KGE_INVAL;
	if (memcmp(lic->key_id, kp->id, KG_KEY_ID_LEN) != 0)
		return KGE_INVAL;
	if ((rc = license_payload_pack(lic, payload, sizeof(payload), &len)) !=
	    KGE_OK)
		return rc;
	if ((rc = keys_sign(kp, KG_DOMAIN_LICENSE, payload, len, sig)) != KGE_OK)
		return rc;
	return license_key_format(payload, len, sig, text);
}

/*
 * Strictly decode one base64url part (no padding, no stray characters, zero
 * trailing bits) into out. KGE_OK or KGE_KEY_BASE64.
 *
 * libsodium 1.0.18 reads every byte from 0x80 up as the digit 63 ('_'), so
 * that "_" and "\xdf" would decode alike; non-ASCII is refused here first.
 */
static int
part_decode(const char *b64, size_t b64_len, uint8_t *out, size_t cap,
    size_t *outlen)
{
	size_t	i;

	for (i = 0; i < b64_len; i++)
		if ((unsigned char)b64[i] >= 0x80)
			return KGE_KEY_BASE64;
	/* A NULL b64_end makes libsodium refuse anything it did not consume. */
	if (sodium_base642bin(out, cap, b64, b64_len, NULL, outlen, NULL,
	    B64_VARIANT) != 0)
		return KGE_KEY_BASE64;
	return KGE_OK;
}

/* Split and base64url-decode a key text of len bytes. */
int
license_key_decode(const char *text, size_t len, struct kg_key_blob *blob)
{
	char		 buf[KG_KEY_TEXT_MAX];
	uint8_t		 pbuf[DECODE_SCRATCH], sbuf[DECODE_SCRATCH];
	const char	*part1, *part2, *dot;
	size_t		 n = 0, i, len1, len2, plen, slen;
	int		 rc;

	if (blob == NULL)
		return KGE_INVAL;
	memset(blob, 0, sizeof(*blob));
	if (len > KG_KEY_TEXT_MAX)
		return KGE_KEY_SIZE;
	if (text == NULL && len != 0)
		return KGE_INVAL;

	for (i = 0; i < len; i++)
		if (!is_space(text[i]))
			buf[n++] = text[i];

	if (n < KEY_PREFIX_LEN || memcmp(buf, KG_KEY_PREFIX, KEY_PREFIX_LEN) != 0)
		return KGE_KEY_PREFIX;
	part1 = buf + KEY_PREFIX_LEN;
	if ((dot = memchr(part1, '.', n - KEY_PREFIX_LEN)) == NULL)
		return KGE_KEY_PREFIX;
	len1 = (size_t)(dot - part1);
	part2 = dot + 1;
	len2 = n - (size_t)(part2 - buf);
	if (len1 == 0 || len2 == 0 || memchr(part2, '.', len2) != NULL)
		return KGE_KEY_PREFIX;

	/* Both parts are decoded before either size is judged (BASE64, then SIZE). */
	if ((rc = part_decode(part1, len1, pbuf, sizeof(pbuf), &plen)) != KGE_OK ||
	    (rc = part_decode(part2, len2, sbuf, sizeof(sbuf), &slen)) != KGE_OK)
		goto fail;
	if (plen == 0 || plen > KG_PAYLOAD_MAX || slen != KG_SIG_LEN) {
		rc = KGE_KEY_SIZE;
		goto fail;
	}
	memcpy(blob->payload, pbuf, plen);
	blob->payload_len = plen;
	memcpy(blob->sig, sbuf, KG_SIG_LEN);
	return KGE_OK;
fail:
	memset(blob, 0, sizeof(*blob));
	return rc;
}

/* Decode, unpack and verify a key against a trust set. */
int
license_key_parse(const char *text, size_t len, const struct kg_trustset *ts,
    struct kg_license *lic)
{
	struct kg_key_blob		 blob;
	struct kg_license		 tmp;
	const struct kg_trust_entry	*te;
	int				 rc;

	if (lic == NULL)
		return KGE_INVAL;
	memset(lic, 0, sizeof(*lic));
	if (ts == NULL)
		return KGE_INVAL;

	if ((rc = license_key_decode(text, len, &blob)) != KGE_OK)
		return rc;
	if ((rc = license_payload_unpack(blob.payload, blob.payload_len, &tmp)) !=
	    KGE_OK)
		return rc;
	if ((te = trustset_find(ts, tmp.key_id)) == NULL)
		return KGE_KEY_UNKNOWN_SIGNER;
	if (te->state == KG_TRUST_COMPROMISED)
		return KGE_KEY_COMPROMISED;
	if ((rc = keys_verify(te->pk, KG_DOMAIN_LICENSE, blob.payload,
	    blob.payload_len, blob.sig)) != KGE_OK)
		return KGE_KEY_SIGNATURE;
	*lic = tmp;
	return KGE_OK;
}
