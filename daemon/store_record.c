/*
 * The store's records as bytes (store_record.h): every C record of store.h
 * as its protobuf message of proto/store.proto, packed into a buffer, and
 * back, with each decoded value checked (strings that fit their arrays,
 * bytes of the right length, enums in range) so a bad value is caught as a
 * corrupt record and never reaches a caller. Also the audit chain's hash
 * over canonical bytes that do not depend on the protobuf encoding.
 *
 * No LMDB and no logging here: store.c, the backend, owns the bytes' place
 * and reports a record that does not decode.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pbarena.h"
#include "store_record.h"

#define COPY(dst, src)	str_copy((dst), sizeof(dst), (src))

/* Stack bytes for unpacking one record (a larger one spills to the heap). */
#define STORE_RECORD_ARENA	2048

/* A protobuf message type and its decoder into a C record. */
struct rec_kind {
	const ProtobufCMessageDescriptor	*desc;
	int	(*decode)(const ProtobufCMessage *m, void *out);
};

/* Write v as 8 big-endian bytes. */
void
store_record_be64_put(uint8_t b[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

/* Read 8 big-endian bytes. */
uint64_t
store_record_be64_get(const uint8_t b[8])
{
	uint64_t	v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* Write v as 4 big-endian bytes. */
void
store_record_be32_put(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* Copy a decoded string into a C array; -1 when it does not fit. */
static int
str_copy(char *dst, size_t cap, const char *src)
{
	size_t	len;

	if (src == NULL)
		src = "";
	len = strlen(src);
	if (len >= cap)
		return -1;
	memcpy(dst, src, len + 1);
	return 0;
}

static int
bytes_copy(uint8_t *dst, size_t len, const ProtobufCBinaryData *src,
    bool may_be_empty)
{
	if (src->len == 0 && may_be_empty) {
		memset(dst, 0, len);
		return 0;
	}
	if (src->len != len)
		return -1;
	memcpy(dst, src->data, len);
	return 0;
}

static ProtobufCBinaryData
bytes_ref(const uint8_t *b, size_t len)
{
	ProtobufCBinaryData	d;

	d.len = len;
	d.data = (uint8_t *)b;
	return d;
}

/* ---- protobuf records <-> C records ---- */

/* Fill enc with a Meta message: value, and hash unless it is NULL. */
void
store_record_meta_encode(uint64_t value, const uint8_t *hash,
    struct store_record_enc *enc)
{
	Keygate__Store__Meta	*m = &enc->m.meta;

	keygate__store__meta__init(m);
	m->value = value;
	if (hash != NULL)
		m->hash = bytes_ref(hash, KG_HASH_LEN);
}

static int
meta_decode(const ProtobufCMessage *pm, void *out)
{
	const Keygate__Store__Meta	*m = (const void *)pm;
	struct store_record_meta	*r = out;

	r->value = m->value;
	return bytes_copy(r->hash, sizeof(r->hash), &m->hash, true);
}

/* Fill enc with the product as a Product message. */
void
store_record_product_encode(const struct store_product *p,
    struct store_record_enc *enc)
{
	Keygate__Store__Product	*m = &enc->m.product;

	keygate__store__product__init(m);
	m->code = (char *)p->code;
	m->name = (char *)p->name;
	m->price = p->price;
	m->created_at = p->created_at;
}

static int
product_decode(const ProtobufCMessage *pm, void *out)
{
	const Keygate__Store__Product	*m = (const void *)pm;
	struct store_product		*p = out;

	memset(p, 0, sizeof(*p));
	if (COPY(p->code, m->code) || COPY(p->name, m->name))
		return -1;
	p->price = m->price;
	p->created_at = m->created_at;
	return 0;
}

/* Fill enc with the edition as an Edition message. */
void
store_record_edition_encode(const struct store_edition *e,
    struct store_record_enc *enc)
{
	Keygate__Store__Edition	*m = &enc->m.edition;

	keygate__store__edition__init(m);
	m->product = (char *)e->product;
	m->code = (char *)e->code;
	m->support_months = e->policy.support_months;
	m->basis = e->policy.basis;
	m->on_expiry = e->policy.on_expiry;
	m->renewal_months = e->policy.renewal_months;
	m->grace_months = e->policy.grace_months;
	m->grace_percent = e->policy.grace_percent;
	m->standard_percent = e->policy.standard_percent;
	m->requires_subscription = e->policy.requires_subscription;
}

static int
edition_decode(const ProtobufCMessage *pm, void *out)
{
	const Keygate__Store__Edition	*m = (const void *)pm;
	struct store_edition		*e = out;

	memset(e, 0, sizeof(*e));
	if (COPY(e->product, m->product) || COPY(e->code, m->code) ||
	    m->basis > KG_BASIS_ACTIVATION || m->on_expiry > KG_ON_EXPIRY_DEMO)
		return -1;
	e->policy.support_months = m->support_months;
	e->policy.basis = (enum kg_basis)m->basis;
	e->policy.on_expiry = (enum kg_on_expiry)m->on_expiry;
	e->policy.renewal_months = m->renewal_months;
	e->policy.grace_months = m->grace_months;
	e->policy.grace_percent = m->grace_percent;
	e->policy.standard_percent = m->standard_percent;
	e->policy.requires_subscription = m->requires_subscription;
	return 0;
}

/* Fill enc with the release as a Release message. */
void
store_record_release_encode(const struct store_release *r,
    struct store_record_enc *enc)
{
	Keygate__Store__Release	*m = &enc->m.release;

	keygate__store__release__init(m);
	m->product = (char *)r->product;
	m->version = (char *)r->version;
	m->n_parts = r->rel.version.n;
	m->parts = (uint32_t *)r->rel.version.part;
	m->date = r->rel.date;
	m->state = r->rel.state;
	m->sha256 = (char *)r->sha256;
	m->url = (char *)r->url;
	m->published_at = r->published_at;
}

static int
release_decode(const ProtobufCMessage *pm, void *out)
{
	const Keygate__Store__Release	*m = (const void *)pm;
	struct store_release		*r = out;

	memset(r, 0, sizeof(*r));
	if (COPY(r->product, m->product) || COPY(r->version, m->version) ||
	    COPY(r->sha256, m->sha256) || COPY(r->url, m->url) ||
	    m->n_parts < 1 || m->n_parts > KG_VERSION_PARTS_MAX ||
	    m->state > KG_RELEASE_WITHDRAWN)
		return -1;
	r->rel.version.n = (uint8_t)m->n_parts;
	memcpy(r->rel.version.part, m->parts, m->n_parts * sizeof(uint32_t));
	r->rel.date = m->date;
	r->rel.state = (enum kg_release_state)m->state;
	r->published_at = m->published_at;
	return 0;
}

/* Fill enc with the license as a License message. */
void
store_record_license_encode(const struct store_license *l,
    struct store_record_enc *enc)
{
	Keygate__Store__License	*m = &enc->m.license;

	keygate__store__license__init(m);
	m->serial = l->lic.serial;
	m->product = (char *)l->lic.product;
	m->edition = (char *)l->lic.edition;
	m->regno = (char *)l->lic.regno;
	m->licensee = (char *)l->lic.licensee;
	m->created = l->lic.created;
	m->support_expiry = l->lic.support_expiry;
	m->license_expiry = l->lic.license_expiry;
	m->trial = l->lic.trial;
	m->key_id = bytes_ref(l->lic.key_id, KG_KEY_ID_LEN);
	m->revision = l->lic.revision;
	m->support_months = l->lic.support_months;
	m->status = l->status;
	m->status_reason = (char *)l->status_reason;
	m->activated_at = l->activated_at;
	m->updated_at = l->updated_at;
}

static int
license_decode(const ProtobufCMessage *pm, void *out)
{
	const Keygate__Store__License	*m = (const void *)pm;
	struct store_license		*l = out;

	memset(l, 0, sizeof(*l));
	if (COPY(l->lic.product, m->product) ||
	    COPY(l->lic.edition, m->edition) ||
	    COPY(l->lic.regno, m->regno) ||
	    COPY(l->lic.licensee, m->licensee) ||
	    COPY(l->status_reason, m->status_reason) ||
	    bytes_copy(l->lic.key_id, KG_KEY_ID_LEN, &m->key_id, true) ||
	    m->status > KG_STATUS_SUSPENDED)
		return -1;
	l->lic.serial = m->serial;
	l->lic.created = m->created;
	l->lic.support_expiry = m->support_expiry;
	l->lic.license_expiry = m->license_expiry;
	l->lic.trial = m->trial;
	l->lic.revision = m->revision;
	l->lic.support_months = m->support_months;
	l->status = (enum kg_license_status)m->status;
	l->activated_at = m->activated_at;
	l->updated_at = m->updated_at;
	return 0;
}

/* Fill enc with the act as an Act message. */
void
store_record_act_encode(const struct store_act *a,
    struct store_record_enc *enc)
{
	Keygate__Store__Act	*m = &enc->m.act;

	keygate__store__act__init(m);
	m->number = (char *)a->number;
	m->product = (char *)a->product;
	m->edition = (char *)a->edition;
	m->licensee = (char *)a->licensee;
	m->months = a->months;
	m->state = a->state;
	m->registered_at = a->registered_at;
	m->registered_by = (char *)a->registered_by;
	m->serial = a->serial;
	m->redeemed_at = a->redeemed_at;
	m->old_expiry = a->old_expiry;
	m->new_expiry = a->new_expiry;
	m->kind = a->kind;
	m->price = a->price;
}

static int
act_decode(const ProtobufCMessage *pm, void *out)
{
	const Keygate__Store__Act	*m = (const void *)pm;
	struct store_act		*a = out;

	memset(a, 0, sizeof(*a));
	if (COPY(a->number, m->number) || COPY(a->product, m->product) ||
	    COPY(a->edition, m->edition) || COPY(a->licensee, m->licensee) ||
	    COPY(a->registered_by, m->registered_by) ||
	    m->state > STORE_ACT_VOID || m->kind > KG_RENEWAL_STANDARD)
		return -1;
	a->months = m->months;
	a->state = (enum store_act_state)m->state;
	a->registered_at = m->registered_at;
	a->serial = m->serial;
	a->redeemed_at = m->redeemed_at;
	a->old_expiry = m->old_expiry;
	a->new_expiry = m->new_expiry;
	a->kind = (enum kg_renewal_kind)m->kind;
	a->price = m->price;
	return 0;
}

/* Fill enc with a Subscription message (licensee is borrowed). */
void
store_record_sub_encode(const char *licensee, kg_date until,
    struct store_record_enc *enc)
{
	Keygate__Store__Subscription	*m = &enc->m.sub;

	keygate__store__subscription__init(m);
	m->licensee = (char *)licensee;
	m->until = until;
}

static int
sub_decode(const ProtobufCMessage *pm, void *out)
{
	const Keygate__Store__Subscription	*m = (const void *)pm;
	struct store_record_sub			*s = out;

	if (COPY(s->licensee, m->licensee))
		return -1;
	s->until = m->until;
	return 0;
}

/* Fill enc with the signing key as a SigningKey message. */
void
store_record_signing_key_encode(const struct store_signing_key *k,
    struct store_record_enc *enc)
{
	Keygate__Store__SigningKey	*m = &enc->m.signing_key;

	keygate__store__signing_key__init(m);
	m->pk = bytes_ref(k->pk, KG_PUBKEY_LEN);
	m->id = bytes_ref(k->id, KG_KEY_ID_LEN);
	m->state = k->state;
	m->created_at = k->created_at;
	if (k->rotation_len > 0 && k->rotation_len <= STORE_ROTATION_MAX)
		m->rotation = bytes_ref(k->rotation, k->rotation_len);
}

static int
signing_key_decode(const ProtobufCMessage *pm, void *out)
{
	const Keygate__Store__SigningKey	*m = (const void *)pm;
	struct store_signing_key		*k = out;

	memset(k, 0, sizeof(*k));
	if (bytes_copy(k->pk, KG_PUBKEY_LEN, &m->pk, false) ||
	    bytes_copy(k->id, KG_KEY_ID_LEN, &m->id, false) ||
	    m->state > KG_TRUST_COMPROMISED ||
	    m->rotation.len > STORE_ROTATION_MAX)
		return -1;
	k->state = (enum kg_trust_state)m->state;
	k->created_at = m->created_at;
	if (m->rotation.len > 0)
		memcpy(k->rotation, m->rotation.data, m->rotation.len);
	k->rotation_len = m->rotation.len;
	return 0;
}

/* Fill enc with the audit record as an AuditRecord message. */
void
store_record_audit_encode(const struct store_audit *a,
    struct store_record_enc *enc)
{
	Keygate__Store__AuditRecord	*m = &enc->m.audit;

	keygate__store__audit_record__init(m);
	m->seq = a->seq;
	m->time = a->time;
	m->actor = (char *)a->actor;
	m->action = (char *)a->action;
	m->object = (char *)a->object;
	m->detail = (char *)a->detail;
	m->prev_hash = bytes_ref(a->prev_hash, KG_HASH_LEN);
	m->hash = bytes_ref(a->hash, KG_HASH_LEN);
}

static int
audit_decode(const ProtobufCMessage *pm, void *out)
{
	const Keygate__Store__AuditRecord	*m = (const void *)pm;
	struct store_audit			*a = out;

	memset(a, 0, sizeof(*a));
	if (COPY(a->actor, m->actor) || COPY(a->action, m->action) ||
	    COPY(a->object, m->object) || COPY(a->detail, m->detail) ||
	    bytes_copy(a->prev_hash, KG_HASH_LEN, &m->prev_hash, false) ||
	    bytes_copy(a->hash, KG_HASH_LEN, &m->hash, false))
		return -1;
	a->seq = m->seq;
	a->time = m->time;
	return 0;
}

static const struct rec_kind kinds[STORE_RECORD__COUNT] = {
	[STORE_RECORD_META] = {
	    &keygate__store__meta__descriptor, meta_decode },
	[STORE_RECORD_PRODUCT] = {
	    &keygate__store__product__descriptor, product_decode },
	[STORE_RECORD_EDITION] = {
	    &keygate__store__edition__descriptor, edition_decode },
	[STORE_RECORD_RELEASE] = {
	    &keygate__store__release__descriptor, release_decode },
	[STORE_RECORD_LICENSE] = {
	    &keygate__store__license__descriptor, license_decode },
	[STORE_RECORD_ACT] = {
	    &keygate__store__act__descriptor, act_decode },
	[STORE_RECORD_SUB] = {
	    &keygate__store__subscription__descriptor, sub_decode },
	[STORE_RECORD_SIGNING_KEY] = {
	    &keygate__store__signing_key__descriptor, signing_key_decode },
	[STORE_RECORD_AUDIT] = {
	    &keygate__store__audit_record__descriptor, audit_decode },
};

/* ---- packing and unpacking ---- */

/* The number of bytes store_record_enc_pack writes for enc. */
size_t
store_record_enc_size(const struct store_record_enc *enc)
{
	return protobuf_c_message_get_packed_size(&enc->m.base);
}

/* Pack enc into buf (store_record_enc_size bytes). */
void
store_record_enc_pack(const struct store_record_enc *enc, uint8_t *buf)
{
	protobuf_c_message_pack(&enc->m.base, buf);
}

/* Unpack and decode one value into out; -1 when it is not a valid record. */
int
store_record_decode(enum store_record_kind kind, const void *buf, size_t len,
    void *out)
{
	const struct rec_kind	*k;
	ProtobufCMessage	*m;
	struct pb_arena		 a;
	uint8_t			 abuf[STORE_RECORD_ARENA];
	int			 bad = 1;

	if ((unsigned)kind >= STORE_RECORD__COUNT)
		return -1;
	k = &kinds[kind];
	/* A record's fields are copied out at once: unpack onto the stack. */
	pb_arena_init(&a, abuf, sizeof(abuf), SIZE_MAX);
	m = protobuf_c_message_unpack(k->desc, &a.alloc, len, buf);
	if (m != NULL) {
		bad = k->decode(m, out);
		pb_arena_release(&a);
	}
	return bad ? -1 : 0;
}

/* 1 when two encodings differ, 0 when equal, -1 out of memory. */
int
store_record_enc_differ(const struct store_record_enc *ex,
    const struct store_record_enc *ey)
{
	const ProtobufCMessage	*x = &ex->m.base, *y = &ey->m.base;
	uint8_t			*bx, *by;
	size_t			 nx, ny;
	int			 d;

	nx = protobuf_c_message_get_packed_size(x);
	ny = protobuf_c_message_get_packed_size(y);
	if (nx != ny)
		return 1;
	bx = malloc(nx + 1);
	by = malloc(ny + 1);
	if (bx == NULL || by == NULL)
		d = -1;
	else {
		protobuf_c_message_pack(x, bx);
		protobuf_c_message_pack(y, by);
		d = memcmp(bx, by, nx) != 0;
	}
	free(bx);
	free(by);
	return d;
}

/* ---- the audit chain ---- */

static void
hash_str(crypto_generichash_state *h, const char *s)
{
	uint8_t	len[4];
	size_t	n = strlen(s);

	store_record_be32_put(len, (uint32_t)n);
	crypto_generichash_update(h, len, sizeof(len));
	crypto_generichash_update(h, (const uint8_t *)s, n);
}

/*
 * The chain link of one record: hash = BLAKE2b-256 (unkeyed,
 * crypto_generichash) over these canonical bytes, in this order:
 *
 *   prev_hash   32 bytes (32 zero bytes for seq 1)
 *   seq         8 bytes, big-endian
 *   time        8 bytes, big-endian two's complement
 *   actor       4-byte big-endian length, then the UTF-8 bytes (no NUL)
 *   action      same
 *   object      same
 *   detail      same
 *
 * The protobuf encoding of AuditRecord is not what is hashed, so the chain
 * can be checked by any tool without a protobuf encoder that happens to
 * produce the same bytes.
 */
void
store_record_audit_hash(const struct store_audit *a, uint8_t out[KG_HASH_LEN])
{
	crypto_generichash_state	h;
	uint8_t				b[8];

	crypto_generichash_init(&h, NULL, 0, KG_HASH_LEN);
	crypto_generichash_update(&h, a->prev_hash, KG_HASH_LEN);
	store_record_be64_put(b, a->seq);
	crypto_generichash_update(&h, b, sizeof(b));
	store_record_be64_put(b, (uint64_t)a->time);
	crypto_generichash_update(&h, b, sizeof(b));
	hash_str(&h, a->actor);
	hash_str(&h, a->action);
	hash_str(&h, a->object);
	hash_str(&h, a->detail);
	crypto_generichash_final(&h, out, KG_HASH_LEN);
}
