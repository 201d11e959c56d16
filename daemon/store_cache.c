/*
 * Per-thread decoded catalog records, tagged by read snapshot: see
 * store_cache.h. An update check reads its product, edition and release
 * list in one snapshot (store_read_hold); under a load of checks nothing is
 * written, so these come from here instead of being looked up and decoded
 * again for every check. The tables are small and direct: a vendor's
 * checks touch few products, and a miss costs just the read it replaces.
 *
 * License records change with every renewal, so a snapshot's tag alone
 * would keep few of them long: each is kept with the bytes it was decoded
 * from and used again for the very same bytes, whatever was written
 * meanwhile. It also keeps the snapshot those bytes were last read in, and
 * a read in that same snapshot skips the store's lookup (LMDB's B-tree
 * search and the pages it touches): under a load of checks nothing is
 * written and every read after the first is such a read. The
 * table has CACHE_LICENSES entries of 608 bytes (9.5 MiB), direct-mapped
 * by serial (serials are issued in sequence, so the first CACHE_LICENSES
 * of them never collide); pages of it no check has touched are never
 * mapped. An entry keeps the decoding's numbers and its five texts back to
 * back after the raw bytes (they are parts of those bytes, so they fit in
 * as many again), not a whole store_license of fixed-size arrays: a hit
 * reads the record's bytes and its texts, not 700 bytes of arrays.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "store_cache.h"

#define CACHE_RECORDS		12	/* products and editions */
#define CACHE_RELEASE_LISTS	4
#define CACHE_RELEASES_MAX	256	/* longer lists are not kept */
#define CACHE_LICENSES		16384
#define CACHE_LICENSE_RAW_MAX	256	/* larger records are not kept */

struct cache_tag {
	uint64_t	uid;		/* 0: the slot is empty */
	size_t		txnid;
};

/* A product (code "") or an edition, by its key. */
enum cache_kind { CACHE_PRODUCT, CACHE_EDITION };

static _Thread_local struct {
	struct {
		struct cache_tag	 tag;
		enum cache_kind		 kind;
		char			 product[KG_CODE_MAX + 1];
		char			 code[KG_CODE_MAX + 1];
		union {
			struct store_product	p;
			struct store_edition	e;
		} u;
	} rec[CACHE_RECORDS];
	struct {
		struct cache_tag	 tag;
		char			 product[KG_CODE_MAX + 1];
		struct store_release	*v;
		size_t			 n;
	} rl[CACHE_RELEASE_LISTS];
	unsigned	next_rec, next_rl;
} tl_cache;

/* The texts of a store_license, in the order an entry keeps them. */
enum cache_text {
	TEXT_PRODUCT, TEXT_EDITION, TEXT_REGNO, TEXT_LICENSEE, TEXT_REASON,
	CACHE_TEXTS
};

struct cache_license {
	struct cache_tag snap;			/* where these bytes were last read */
	uint64_t	serial;			/* the one read */
	uint64_t	lic_serial;		/* the one the record holds */
	int64_t		activated_at, updated_at;
	kg_date		created, support_expiry, license_expiry;
	uint32_t	revision, support_months;
	uint8_t		key_id[KG_KEY_ID_LEN];
	uint16_t	len;			/* raw bytes; 0: the slot is empty */
	uint16_t	tlen[CACHE_TEXTS];
	uint8_t		status;
	bool		trial;
	uint8_t		bytes[2 * CACHE_LICENSE_RAW_MAX];	/* raw, then texts */
};

static _Thread_local struct cache_license	*tl_licenses;

static _Atomic uint64_t	cache_uids;

uint64_t
store_cache_uid_new(void)
{
	return atomic_fetch_add(&cache_uids, 1) + 1;
}

static bool
tag_is(const struct cache_tag *t, const struct store_snap *s)
{
	return t->uid != 0 && t->uid == s->uid && t->txnid == s->txnid;
}

/*
 * The slot for a new entry: one of an older snapshot (or empty) if there
 * is one, else the next in turn.
 */
static unsigned
slot_pick(const struct cache_tag *tags, size_t stride, unsigned n,
    unsigned *next, const struct store_snap *s)
{
	const struct cache_tag	*t;
	unsigned		 i;

	for (i = 0; i < n; i++) {
		t = (const struct cache_tag *)((const char *)tags + i * stride);
		if (!tag_is(t, s))
			return i;
	}
	i = *next % n;
	*next = i + 1;
	return i;
}

/* The record of kind under product and code in snapshot s, or NULL. */
static const void *
rec_find(const struct store_snap *s, enum cache_kind kind, const char *product,
    const char *code)
{
	unsigned	i;

	for (i = 0; i < CACHE_RECORDS; i++)
		if (tag_is(&tl_cache.rec[i].tag, s) &&
		    tl_cache.rec[i].kind == kind &&
		    strcmp(tl_cache.rec[i].code, code) == 0 &&
		    strcmp(tl_cache.rec[i].product, product) == 0)
			return &tl_cache.rec[i].u;
	return NULL;
}

/* Remember len bytes of rec as the record of kind under product and code. */
static void
rec_put(const struct store_snap *s, enum cache_kind kind, const char *product,
    const char *code, const void *rec, size_t len)
{
	unsigned	i;

	if (strlen(product) > KG_CODE_MAX || strlen(code) > KG_CODE_MAX)
		return;
	i = slot_pick(&tl_cache.rec[0].tag, sizeof(tl_cache.rec[0]),
	    CACHE_RECORDS, &tl_cache.next_rec, s);
	tl_cache.rec[i].tag.uid = s->uid;
	tl_cache.rec[i].tag.txnid = s->txnid;
	tl_cache.rec[i].kind = kind;
	strcpy(tl_cache.rec[i].product, product);
	strcpy(tl_cache.rec[i].code, code);
	memcpy(&tl_cache.rec[i].u, rec, len);
}

bool
store_cache_product_get(const struct store_snap *s, const char *code,
    struct store_product *out)
{
	const void	*r = rec_find(s, CACHE_PRODUCT, code, "");

	if (r != NULL)
		memcpy(out, r, sizeof(*out));
	return r != NULL;
}

void
store_cache_product_put(const struct store_snap *s,
    const struct store_product *p)
{
	rec_put(s, CACHE_PRODUCT, p->code, "", p, sizeof(*p));
}

bool
store_cache_edition_get(const struct store_snap *s, const char *product,
    const char *code, struct store_edition *out)
{
	const void	*r = rec_find(s, CACHE_EDITION, product, code);

	if (r != NULL)
		memcpy(out, r, sizeof(*out));
	return r != NULL;
}

void
store_cache_edition_put(const struct store_snap *s,
    const struct store_edition *e)
{
	rec_put(s, CACHE_EDITION, e->product, e->code, e, sizeof(*e));
}

bool
store_cache_releases_get(const struct store_snap *s, const char *product,
    struct store_release **out, size_t *n)
{
	struct store_release	*v;
	unsigned		 i;

	for (i = 0; i < CACHE_RELEASE_LISTS; i++) {
		if (!tag_is(&tl_cache.rl[i].tag, s) ||
		    strcmp(tl_cache.rl[i].product, product) != 0)
			continue;
		v = NULL;
		if (tl_cache.rl[i].n > 0) {
			v = malloc(tl_cache.rl[i].n * sizeof(*v));
			if (v == NULL)
				return false;
			memcpy(v, tl_cache.rl[i].v, tl_cache.rl[i].n * sizeof(*v));
		}
		*out = v;
		*n = tl_cache.rl[i].n;
		return true;
	}
	return false;
}

bool
store_cache_release_versions(const struct store_snap *s, const char *product,
    struct kg_release *out, size_t max, size_t *n)
{
	unsigned	i;
	size_t		k;

	for (i = 0; i < CACHE_RELEASE_LISTS; i++) {
		if (!tag_is(&tl_cache.rl[i].tag, s) ||
		    strcmp(tl_cache.rl[i].product, product) != 0)
			continue;
		for (k = 0; k < tl_cache.rl[i].n && k < max; k++)
			out[k] = tl_cache.rl[i].v[k].rel;
		*n = tl_cache.rl[i].n;
		return true;
	}
	return false;
}

void
store_cache_releases_put(const struct store_snap *s, const char *product,
    const struct store_release *v, size_t n)
{
	struct store_release	*copy = NULL;
	size_t			 len = strlen(product);
	unsigned		 i;

	if (n > CACHE_RELEASES_MAX || len > KG_CODE_MAX)
		return;
	if (n > 0 && (copy = malloc(n * sizeof(*copy))) == NULL)
		return;
	if (n > 0)
		memcpy(copy, v, n * sizeof(*copy));
	i = slot_pick(&tl_cache.rl[0].tag, sizeof(tl_cache.rl[0]),
	    CACHE_RELEASE_LISTS, &tl_cache.next_rl, s);
	free(tl_cache.rl[i].v);
	tl_cache.rl[i].tag.uid = s->uid;
	tl_cache.rl[i].tag.txnid = s->txnid;
	memcpy(tl_cache.rl[i].product, product, len + 1);
	tl_cache.rl[i].v = copy;
	tl_cache.rl[i].n = n;
}

/* The text fields of l, and their room, in enum cache_text's order. */
static void
license_texts(struct store_license *l, char *text[CACHE_TEXTS],
    size_t room[CACHE_TEXTS])
{
	text[TEXT_PRODUCT] = l->lic.product;
	room[TEXT_PRODUCT] = sizeof(l->lic.product);
	text[TEXT_EDITION] = l->lic.edition;
	room[TEXT_EDITION] = sizeof(l->lic.edition);
	text[TEXT_REGNO] = l->lic.regno;
	room[TEXT_REGNO] = sizeof(l->lic.regno);
	text[TEXT_LICENSEE] = l->lic.licensee;
	room[TEXT_LICENSEE] = sizeof(l->lic.licensee);
	text[TEXT_REASON] = l->status_reason;
	room[TEXT_REASON] = sizeof(l->status_reason);
}

/* The kept decoding of entry c into *out. */
static void
license_copy_out(const struct cache_license *c, struct store_license *out)
{
	const uint8_t	*p;
	char		*text[CACHE_TEXTS];
	size_t		 room[CACHE_TEXTS], i;

	memset(out, 0, sizeof(*out));
	out->lic.serial = c->lic_serial;
	out->lic.created = c->created;
	out->lic.support_expiry = c->support_expiry;
	out->lic.license_expiry = c->license_expiry;
	out->lic.trial = c->trial;
	memcpy(out->lic.key_id, c->key_id, KG_KEY_ID_LEN);
	out->lic.revision = c->revision;
	out->lic.support_months = c->support_months;
	out->status = (enum kg_license_status)c->status;
	out->activated_at = c->activated_at;
	out->updated_at = c->updated_at;
	license_texts(out, text, room);
	for (i = 0, p = c->bytes + c->len; i < CACHE_TEXTS; p += c->tlen[i++])
		memcpy(text[i], p, c->tlen[i]);		/* put checked the room */
}

bool
store_cache_license_snap_get(const struct store_snap *s, uint64_t serial,
    struct store_license *out)
{
	const struct cache_license	*c;

	if (tl_licenses == NULL)
		return false;
	c = &tl_licenses[serial % CACHE_LICENSES];
	if (c->len == 0 || c->serial != serial || c->snap.uid != s->uid ||
	    c->snap.txnid != s->txnid)
		return false;
	license_copy_out(c, out);
	return true;
}

bool
store_cache_license_get(const struct store_snap *s, uint64_t serial,
    const void *raw, size_t len, struct store_license *out)
{
	struct cache_license	*c;

	if (tl_licenses == NULL || len == 0 || len > CACHE_LICENSE_RAW_MAX)
		return false;
	c = &tl_licenses[serial % CACHE_LICENSES];
	if (c->len != len || c->serial != serial || memcmp(c->bytes, raw, len) != 0)
		return false;
	c->snap.uid = s->uid;		/* the same bytes in this snapshot too */
	c->snap.txnid = s->txnid;
	license_copy_out(c, out);
	return true;
}

void
store_cache_license_put(const struct store_snap *s, uint64_t serial,
    const void *raw, size_t len, const struct store_license *l)
{
	struct cache_license	*c;
	struct store_license	 copy = *l;
	char			*text[CACHE_TEXTS];
	size_t			 room[CACHE_TEXTS], tlen[CACHE_TEXTS], used, i;

	if (len == 0 || len > CACHE_LICENSE_RAW_MAX)
		return;
	license_texts(&copy, text, room);
	for (i = 0, used = len; i < CACHE_TEXTS; used += tlen[i++])
		if ((tlen[i] = strnlen(text[i], room[i])) == room[i])
			return;		/* no terminator: not a decoding */
	if (used > sizeof(c->bytes))
		return;
	if (tl_licenses == NULL &&
	    (tl_licenses = calloc(CACHE_LICENSES, sizeof(*tl_licenses))) == NULL)
		return;		/* no memory: reads just decode */
	c = &tl_licenses[serial % CACHE_LICENSES];
	c->snap.uid = s->uid;
	c->snap.txnid = s->txnid;
	c->serial = serial;
	c->lic_serial = l->lic.serial;
	c->activated_at = l->activated_at;
	c->updated_at = l->updated_at;
	c->created = l->lic.created;
	c->support_expiry = l->lic.support_expiry;
	c->license_expiry = l->lic.license_expiry;
	c->revision = l->lic.revision;
	c->support_months = l->lic.support_months;
	memcpy(c->key_id, l->lic.key_id, KG_KEY_ID_LEN);
	c->status = (uint8_t)l->status;
	c->trial = l->lic.trial;
	c->len = (uint16_t)len;
	memcpy(c->bytes, raw, len);
	for (i = 0, used = len; i < CACHE_TEXTS; used += tlen[i++]) {
		c->tlen[i] = (uint16_t)tlen[i];
		memcpy(c->bytes + used, text[i], tlen[i]);
	}
}

void
store_cache_drop(uint64_t uid)
{
	unsigned	i;

	for (i = 0; i < CACHE_RECORDS; i++)
		if (uid == 0 || tl_cache.rec[i].tag.uid == uid)
			memset(&tl_cache.rec[i].tag, 0,
			    sizeof(tl_cache.rec[i].tag));
	for (i = 0; i < CACHE_RELEASE_LISTS; i++)
		if (uid == 0 || tl_cache.rl[i].tag.uid == uid) {
			free(tl_cache.rl[i].v);
			tl_cache.rl[i].v = NULL;
			tl_cache.rl[i].n = 0;
			memset(&tl_cache.rl[i].tag, 0,
			    sizeof(tl_cache.rl[i].tag));
		}
	free(tl_licenses);
	tl_licenses = NULL;
}
