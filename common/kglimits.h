/*
 * Limits shared by keygate's daemon and clients, in one place.
 */
#ifndef KG_LIMITS_H
#define KG_LIMITS_H

#define KG_PROTOCOL_VERSION	1

#define KG_CODE_MAX		32	/* product, edition and act codes */
#define KG_REGNO_MAX		48	/* registration number, e.g. ZHKH8-000123 */
#define KG_LICENSEE_MAX		256	/* licensee name, bytes of UTF-8 */
#define KG_REASON_TEXT_MAX	256	/* revocation reasons and such */
#define KG_VERSION_PARTS_MAX	8	/* 8.3.1.12 has four */
#define KG_VERSION_TEXT_MAX	80	/* 8 parts of 9 digits, 7 dots, NUL */
#define KG_KEY_TEXT_MAX		4096	/* license key text, whitespace included */
#define KG_PAYLOAD_MAX		1024	/* protobuf LicensePayload bytes */
#define KG_KEY_ID_LEN		8
#define KG_PUBKEY_LEN		32
#define KG_SIG_LEN		64
#define KG_HASH_LEN		32	/* BLAKE2b-256 */
#define KG_NONCE_MIN		16
#define KG_NONCE_MAX		64
#define KG_FRAME_MAX		65536	/* default max frame, SPEC section 4 */
#define KG_DATE_TEXT_LEN	11	/* "YYYY-MM-DD" and its NUL */
#define KG_MONEY_TEXT_LEN	24	/* "-92233720368547758.08" and its NUL */
#define KG_MONTHS_MAX		1200	/* terms beyond 100 years are typos */

#endif
