/*
 * The store's records as bytes (daemon/store_record.c): the C records of
 * store.h encoded as the protobuf messages of proto/store.proto and packed
 * into a buffer, buffers decoded and validated back into C records, and
 * the canonical bytes and hash of an audit chain link. Nothing here knows
 * LMDB: the backend (store.c) decides where the bytes live.
 */
#ifndef KG_STORE_RECORD_H
#define KG_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store.pb-c.h"

/* The kinds of record, one per message of store.proto. */
enum store_record_kind {
	STORE_RECORD_META,
	STORE_RECORD_PRODUCT,
	STORE_RECORD_EDITION,
	STORE_RECORD_RELEASE,
	STORE_RECORD_LICENSE,
	STORE_RECORD_ACT,
	STORE_RECORD_SUB,
	STORE_RECORD_SIGNING_KEY,
	STORE_RECORD_AUDIT,
	STORE_RECORD__COUNT
};

/* The C record of a Meta message (a counter, or the audit chain's head). */
struct store_record_meta {
	uint64_t	value;
	uint8_t		hash[KG_HASH_LEN];
};

/* The C record of a Subscription message. */
struct store_record_sub {
	char		licensee[KG_LICENSEE_MAX + 1];
	kg_date		until;
};

/*
 * A C record encoded as its message, ready to be sized and packed. It
 * borrows the record's strings and bytes: the record must stay alive and
 * unchanged until the encoding is packed (or compared).
 */
struct store_record_enc {
	union {
		ProtobufCMessage		base;
		Keygate__Store__Meta		meta;
		Keygate__Store__Product		product;
		Keygate__Store__Edition		edition;
		Keygate__Store__Release		release;
		Keygate__Store__License		license;
		Keygate__Store__Act		act;
		Keygate__Store__Subscription	sub;
		Keygate__Store__SigningKey	signing_key;
		Keygate__Store__AuditRecord	audit;
	} m;
};

/*
 * Encoders: fill *enc from the record (never fail). The caller has checked
 * the record (strings NUL-terminated, enums in range). A Meta without a
 * hash (hash NULL) stores empty bytes; a Subscription borrows licensee.
 */
void	store_record_meta_encode(uint64_t value, const uint8_t *hash,
	    struct store_record_enc *enc);
void	store_record_product_encode(const struct store_product *p,
	    struct store_record_enc *enc);
void	store_record_edition_encode(const struct store_edition *e,
	    struct store_record_enc *enc);
void	store_record_release_encode(const struct store_release *r,
	    struct store_record_enc *enc);
void	store_record_license_encode(const struct store_license *l,
	    struct store_record_enc *enc);
void	store_record_act_encode(const struct store_act *a,
	    struct store_record_enc *enc);
void	store_record_sub_encode(const char *licensee, kg_date until,
	    struct store_record_enc *enc);
void	store_record_signing_key_encode(const struct store_signing_key *k,
	    struct store_record_enc *enc);
void	store_record_audit_encode(const struct store_audit *a,
	    struct store_record_enc *enc);

/* The number of bytes store_record_enc_pack writes for enc. */
size_t	store_record_enc_size(const struct store_record_enc *enc);

/* Pack enc into buf, which holds at least store_record_enc_size(enc) bytes. */
void	store_record_enc_pack(const struct store_record_enc *enc,
	    uint8_t *buf);

/* 1 when two encodings pack to different bytes, 0 if equal, -1 no memory. */
int	store_record_enc_differ(const struct store_record_enc *x,
	    const struct store_record_enc *y);

/*
 * Decode len bytes of buf as a record of kind into out, the matching C
 * record (struct store_product for STORE_RECORD_PRODUCT, struct
 * store_record_meta for STORE_RECORD_META, ...). Strings that do not fit
 * their arrays, bytes of the wrong length and enums out of range are
 * refused. Returns 0, or -1 for bytes that are not a valid record (out's
 * contents are then unspecified). Nothing in out borrows from buf.
 */
int	store_record_decode(enum store_record_kind kind, const void *buf,
	    size_t len, void *out);

/*
 * The chain link of audit record a: BLAKE2b-256 over its canonical bytes
 * (documented in store_record.c), from a->prev_hash, seq, time, actor,
 * action, object and detail. a->hash is not read.
 */
void	store_record_audit_hash(const struct store_audit *a,
	    uint8_t out[KG_HASH_LEN]);

/* Big-endian integers, as in the canonical bytes and the store's keys. */
void	 store_record_be64_put(uint8_t b[8], uint64_t v);
uint64_t store_record_be64_get(const uint8_t b[8]);
void	 store_record_be32_put(uint8_t b[4], uint32_t v);

#endif
