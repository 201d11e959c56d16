/*
 * The admin socket's signing-key ops: signing_key.list, signing_key.rotate
 * and signing_key.compromise (issue 6; proto/README.md, "Signing-key
 * rotation"). key.reissue, which re-signs one license with the active key
 * after a compromise, is a key op (admin_keys.c).
 *
 * A rotation, in this order, and what a crash between two steps leaves:
 *
 *   1. The signer process makes the new keypair, writes it to KEYFILE.new
 *      (0600, sealed with the current key file's passphrase when that is
 *      sealed; file and directory entry synced) and signs the rotation
 *      statement with the old key (signer_rotate_prepare).
 *        Crash: the store knows nothing of the new key. At the next start
 *        the signer process reports KEYFILE.new as pending, it is not the
 *        store's active key, and keygated removes it: no rotation happened.
 *   2. One store transaction: the new key (active, with its statement),
 *      the old key (retired), the audit record "signing-key.rotate".
 *        Failure (storage full...): the prepared key is aborted (KEYFILE.new
 *        removed) and the admin gets the store's error; nothing changed.
 *        Crash after the commit: KEYFILE still holds the old key and
 *        KEYFILE.new the new one, which the store says is active. At the
 *        next start keygated finishes the rotation (renames KEYFILE.new over
 *        KEYFILE) before it signs anything.
 *   3. The signer process renames KEYFILE.new over KEYFILE (atomic; the old
 *      secret key file is gone) and signs with the new key from then on
 *      (signer_rotate_commit).
 *        Failure (the rename is refused): the store already says the new
 *        key is active, so keygated signs nothing more with the old one: it
 *        stops, with a log line and an admin error, and finishes the
 *        rotation at its next start, as after a crash in step 2.
 *   4. The daemon's trust set (new key active, old key retired) and
 *      DATADIR/signing.pub (temporary file and rename), so 'keygated
 *      pubkey' prints the new key.
 *        Crash before signing.pub is replaced: keygated rewrites it at
 *        its next start from the key the signer process loaded.
 *
 * So a data dir is start-able after a crash at any point, and at every
 * point the key file, the store and what keygated signs with agree once it
 * has started.
 *
 * Decisions made here:
 * - The retired secret key is deleted (KEYFILE.new replaces KEYFILE), not
 *   kept as a .retired file: verifying what it signed needs only its public
 *   half, which the store keeps; a secret that is not there cannot leak.
 *   The file is unlinked, not overwritten (on journalling filesystems and
 *   SSDs overwriting in place does not reliably erase it either).
 * - Compromising the active key is refused ("rotate first"): keygated must
 *   always have a key it may sign with. Compromising a key twice changes
 *   nothing and writes no audit record, but lists the licenses again.
 * - signing_key.compromise takes a key id in hex (at least 8 of its 16 hex
 *   digits, a unique prefix) or the key's "KGP1." text.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "admin_ops_int.h"
#include "daemon.h"
#include "keygate.pb-c.h"
#include "kgerr.h"
#include "log.h"
#include "rotation.h"
#include "signer.h"
#include "store.h"

#define KEY_ID_HEX_LEN		(2 * KG_KEY_ID_LEN)
#define KEY_ID_HEX_MIN		8	/* hex digits that name a key */

/* The store's signing keys. */
struct key_set {
	struct store_signing_key	*k;
	size_t				*depth;	/* rotations since an original key */
	size_t				 n;
};

static void
key_set_free(struct key_set *ks)
{
	free(ks->k);
	free(ks->depth);
	memset(ks, 0, sizeof(*ks));
}

/* The index of the key that signed key i's statement, or ks->n. */
static size_t
key_set_parent(const struct key_set *ks, size_t i)
{
	struct rotation_info	ri;
	size_t			j;

	if (ks->k[i].rotation_len == 0 || rotation_statement_read(
	    ks->k[i].rotation, ks->k[i].rotation_len, &ri) == -1)
		return ks->n;
	for (j = 0; j < ks->n; j++)
		if (memcmp(ks->k[j].id, ri.old_id, KG_KEY_ID_LEN) == 0)
			return j;
	return ks->n;
}

/*
 * Oldest first: by the number of rotations since an original key (a key
 * comes after the one that vouched for it, even within one second), then
 * by creation time and id.
 */
static void
key_set_sort(struct key_set *ks)
{
	struct store_signing_key	 t;
	size_t				*parent, i, j, p, d;

	if ((parent = calloc(ks->n, sizeof(*parent))) == NULL)
		return;		/* unsorted is still a list */
	for (i = 0; i < ks->n; i++)
		parent[i] = key_set_parent(ks, i);
	for (i = 0; i < ks->n; i++) {
		for (d = 0, p = parent[i]; p != ks->n && d < ks->n; p = parent[p])
			d++;
		ks->depth[i] = d;
	}
	free(parent);
	/* Insertion sort: a data dir has a handful of keys. */
	for (i = 1; i < ks->n; i++) {
		for (j = i; j > 0; j--) {
			const struct store_signing_key	*a = &ks->k[j - 1], *b = &ks->k[j];

			if (ks->depth[j - 1] < ks->depth[j] ||
			    (ks->depth[j - 1] == ks->depth[j] &&
			    (a->created_at < b->created_at ||
			    (a->created_at == b->created_at &&
			    memcmp(a->id, b->id, KG_KEY_ID_LEN) <= 0))))
				break;
			t = ks->k[j - 1];
			ks->k[j - 1] = ks->k[j];
			ks->k[j] = t;
			d = ks->depth[j - 1];
			ks->depth[j - 1] = ks->depth[j];
			ks->depth[j] = d;
		}
	}
}

/* Read every signing key into ks (oldest first); -1 with a reply set. */
static int
key_set_load(struct admin_op *op, struct key_set *ks)
{
	struct rotation_keys	rk;
	bool			nomem;
	int			rc;

	memset(ks, 0, sizeof(*ks));
	rc = rotation_keys_load(op->d->store, &rk);
	ks->k = rk.k;
	ks->n = rk.n;
	nomem = rk.nomem;
	if (!nomem && rc == STORE_OK &&
	    (ks->depth = calloc(ks->n + 1, sizeof(*ks->depth))) == NULL)
		nomem = true;
	if (nomem) {
		key_set_free(ks);
		admin_reply_error(op, "internal", "out of memory: see "
		    "keygated's log");
		return -1;
	}
	if (rc != STORE_OK) {
		key_set_free(ks);
		admin_reply_store_error(op, rc, "reading the signing keys");
		return -1;
	}
	key_set_sort(ks);
	return 0;
}

static const char *
key_state_name(enum kg_trust_state st)
{
	switch (st) {
	case KG_TRUST_ACTIVE:
		return "active";
	case KG_TRUST_RETIRED:
		return "retired";
	default:
		return "compromised";
	}
}

/* A key id in lower-case hex (KEY_ID_HEX_LEN + 1 bytes). */
static void
key_id_hex(const uint8_t id[KG_KEY_ID_LEN], char out[KEY_ID_HEX_LEN + 1])
{
	sodium_bin2hex(out, KEY_ID_HEX_LEN + 1, id, KG_KEY_ID_LEN);
}

/* {id, state, created, public_key, rotated_from} of one key. */
static json_t *
key_json(const struct store_signing_key *k)
{
	struct rotation_info	 ri;
	char			 id[KEY_ID_HEX_LEN + 1], from[KEY_ID_HEX_LEN + 1];
	char			 text[KG_PUBKEY_TEXT_MAX];

	key_id_hex(k->id, id);
	pubkey_format(k->pk, text);
	from[0] = '\0';
	if (k->rotation_len > 0 &&
	    rotation_statement_read(k->rotation, k->rotation_len, &ri) == 0)
		key_id_hex(ri.old_id, from);
	return json_pack("{s:s,s:s,s:o,s:s,s:o}", "id", id,
	    "state", key_state_name(k->state),
	    "created", admin_json_time(k->created_at), "public_key", text,
	    "rotated_from", admin_json_text_or_null(from));
}

/* signing_key.list: every signing key, oldest first. */
bool
admin_signing_list(struct admin_op *op)
{
	struct key_set	ks;
	size_t		i;

	if (key_set_load(op, &ks) == -1)
		return false;
	if (admin_reply_list_begin(op) == -1)
		goto too_long;
	for (i = 0; i < ks.n; i++)
		if (admin_reply_list_add(op, key_json(&ks.k[i])) == -1)
			goto too_long;
	if (admin_reply_list_end(op) == -1)
		goto too_long;
	key_set_free(&ks);
	return false;
too_long:
	key_set_free(&ks);
	admin_reply_list_too_long(op);
	return false;
}

/*
 * The store's record of the key the signer signs with, as it should look
 * once retired (a key missing from the store gets a fresh record).
 */
static int
rotate_prev(struct admin_op *op, struct store_signing_key *prev)
{
	const uint8_t	*pk = signer_pubkey(op->d->signer);
	struct key_set	 ks;
	size_t		 i;

	if (key_set_load(op, &ks) == -1)
		return -1;
	memset(prev, 0, sizeof(*prev));
	memcpy(prev->pk, pk, KG_PUBKEY_LEN);
	key_id_compute(pk, prev->id);
	prev->created_at = daemon_now(op->d);
	for (i = 0; i < ks.n; i++)
		if (memcmp(ks.k[i].id, prev->id, KG_KEY_ID_LEN) == 0)
			*prev = ks.k[i];
	prev->state = KG_TRUST_RETIRED;
	key_set_free(&ks);
	return 0;
}

/* Steps 1 and 2 (top of the file): the new key prepared and stored. */
static int
rotate_record(struct admin_op *op, const struct store_signing_key *prev,
    struct store_signing_key *next)
{
	Keygate__RotationStatement	 st = KEYGATE__ROTATION_STATEMENT__INIT;
	struct store_audit		 audit;
	uint8_t				 body[SIGNER_ROTATION_BODY_MAX];
	uint8_t				 sig[KG_SIG_LEN];
	char				 oldhex[KEY_ID_HEX_LEN + 1];
	char				 newhex[KEY_ID_HEX_LEN + 1];
	char				 text[KG_PUBKEY_TEXT_MAX];
	size_t				 blen;
	int				 rc;

	memset(next, 0, sizeof(*next));
	next->created_at = daemon_now(op->d);
	if (signer_rotate_prepare(op->d->signer, next->created_at, next->pk,
	    body, &blen, sig) == -1) {
		admin_reply_error(op, "internal", "the signer process could not "
		    "make the new signing key (nothing changed): see keygated's "
		    "log");
		return -1;
	}
	key_id_compute(next->pk, next->id);
	next->state = KG_TRUST_ACTIVE;
	st.body.data = body;
	st.body.len = blen;
	st.signature.data = sig;
	st.signature.len = sizeof(sig);
	next->rotation_len = keygate__rotation_statement__get_packed_size(&st);
	if (next->rotation_len > STORE_ROTATION_MAX) {
		log_error("%s: a rotation statement of %zu bytes", __func__,
		    next->rotation_len);
		(void)signer_rotate_abort(op->d->signer, next->pk);
		admin_reply_error(op, "internal", "the rotation statement is "
		    "malformed (nothing changed): see keygated's log");
		return -1;
	}
	keygate__rotation_statement__pack(&st, next->rotation);
	key_id_hex(prev->id, oldhex);
	key_id_hex(next->id, newhex);
	pubkey_format(next->pk, text);
	store_audit_fill(&audit, next->created_at, op->actor,
	    "signing-key.rotate", newhex, "%s -> %s: %s is the active signing "
	    "key, %s is retired", oldhex, newhex, text, oldhex);
	rc = op->d->store->ops->signing_key_rotate(op->d->store, next, prev,
	    &audit);
	if (rc != STORE_OK) {
		if (signer_rotate_abort(op->d->signer, next->pk) == -1)
			log_warn("admin: signing-key.rotate: the prepared key "
			    "could not be removed; the next start removes it");
		admin_reply_store_error(op, rc, "recording the new signing key "
		    "(nothing changed)");
		return -1;
	}
	return 0;
}

/* signing_key.rotate: a new active key, vouched for by the old one. */
bool
admin_signing_rotate(struct admin_op *op)
{
	struct store_signing_key	 prev, next;
	struct daemon			*d = op->d;
	char				 oldhex[KEY_ID_HEX_LEN + 1];
	char				 newhex[KEY_ID_HEX_LEN + 1];
	char				 text[KG_PUBKEY_TEXT_MAX];
	char				 oldtext[KG_PUBKEY_TEXT_MAX];
	bool				 pub_ok;
	json_t				*v;

	if (rotate_prev(op, &prev) == -1 || rotate_record(op, &prev, &next) == -1)
		return false;
	key_id_hex(prev.id, oldhex);
	key_id_hex(next.id, newhex);
	pubkey_format(next.pk, text);
	pubkey_format(prev.pk, oldtext);
	/*
	 * Steps 3 and 4 with the worker threads held off (daemon.h): none of
	 * them reads the signer's key id or the trust set half changed.
	 */
	daemon_exclusive_enter(d);
	/* Step 3. */
	if (signer_rotate_commit(d->signer, next.pk) == -1) {
		daemon_exclusive_leave(d);
		log_error("admin: %s: signing-key.rotate %s -> %s: the store "
		    "records the new key but the signer could not switch to it: "
		    "keygated stops; start it again to finish the rotation",
		    op->actor, oldhex, newhex);
		admin_reply_error(op, "internal", "the store records the new "
		    "signing key %s, but keygated could not switch to it and is "
		    "stopping: fix what its log says, then start it again; it "
		    "finishes the rotation at start", newhex);
		return false;
	}
	/* Step 4. */
	if (trustset_add(&d->trust, next.pk, KG_TRUST_ACTIVE) != KGE_OK ||
	    trustset_add(&d->trust, prev.pk, KG_TRUST_RETIRED) != KGE_OK)
		log_error("admin: signing-key.rotate: cannot update the trust "
		    "set in memory (out of memory): restart keygated");
	daemon_exclusive_leave(d);
	pub_ok = rotation_pubkey_sync(d->datadir, next.pk) == 0;
	log_info("admin: %s: signing-key.rotate %s -> %s: signing with %s", op->actor,
	    oldhex, newhex, text);
	v = json_pack("{s:s,s:s,s:s,s:o,s:{s:s,s:s,s:s},s:b}", "id", newhex,
	    "state", "active", "public_key", text,
	    "created", admin_json_time(next.created_at),
	    "previous", "id", oldhex, "state", "retired", "public_key", oldtext,
	    "pubkey_file_updated", (int)pub_ok);
	admin_reply_result(op, v);
	return false;
}

/*
 * The key named by the "id" argument: a unique hex prefix of its id (at
 * least KEY_ID_HEX_MIN digits) or its "KGP1." text. -1 with a reply set.
 */
static int
compromise_find(struct admin_op *op, const struct key_set *ks, size_t *out)
{
	uint8_t		 pk[KG_PUBKEY_LEN], id[KG_KEY_ID_LEN];
	char		 hex[KEY_ID_HEX_LEN + 1], want[KEY_ID_HEX_LEN + 1];
	const char	*s;
	size_t		 n, i, found = 0;

	if (admin_arg_string(op, "id", true, KG_PUBKEY_TEXT_MAX, &s, &n) == -1)
		return -1;
	if (strncmp(s, "KGP1.", 5) == 0) {
		if (pubkey_parse(s, pk) != KGE_OK) {
			admin_reply_error(op, "bad_request", "%s: id: not a "
			    "public key (KGP1...) nor a key id", op->entry->name);
			return -1;
		}
		key_id_compute(pk, id);
		key_id_hex(id, want);
		n = KEY_ID_HEX_LEN;
	} else {
		for (i = 0; i < n && i < KEY_ID_HEX_LEN &&
		    isxdigit((unsigned char)s[i]); i++)
			want[i] = (char)tolower((unsigned char)s[i]);
		if (i != n || n < KEY_ID_HEX_MIN) {
			admin_reply_error(op, "bad_request", "%s: id: expected "
			    "%d to %d hex digits of a key id or its KGP1 text "
			    "(see 'keygate-admin signing-key list')",
			    op->entry->name, KEY_ID_HEX_MIN, KEY_ID_HEX_LEN);
			return -1;
		}
		want[n] = '\0';
	}
	for (i = 0; i < ks->n; i++) {
		key_id_hex(ks->k[i].id, hex);
		if (strncmp(hex, want, n) == 0) {
			*out = i;
			found++;
		}
	}
	if (found == 0) {
		admin_reply_error(op, "not_found", "no signing key has id %s: "
		    "see 'keygate-admin signing-key list'", want);
		return -1;
	}
	if (found > 1) {
		admin_reply_error(op, "bad_request", "%s names %zu signing keys: "
		    "give more of its hex digits (see 'keygate-admin "
		    "signing-key list')", want, found);
		return -1;
	}
	return 0;
}

/* The licenses whose stored key was signed by one key. */
struct reissue_ctx {
	uint8_t		 id[KG_KEY_ID_LEN];
	json_t		*list;
	bool		 nomem;
};

static int
reissue_cb(void *ctx, const struct store_license *sl)
{
	struct reissue_ctx	*rc = ctx;

	if (memcmp(sl->lic.key_id, rc->id, KG_KEY_ID_LEN) != 0)
		return 0;
	if (json_array_append_new(rc->list, json_pack("{s:s,s:s,s:I}",
	    "regno", sl->lic.regno, "licensee", sl->lic.licensee,
	    "serial", (json_int_t)sl->lic.serial)) == -1) {
		rc->nomem = true;
		return 1;
	}
	return 0;
}

/* signing_key.compromise: refuse the key's signatures; list what to reissue. */
bool
admin_signing_compromise(struct admin_op *op)
{
	struct store_signing_key	 k;
	struct store_audit		 audit;
	struct reissue_ctx		 rc;
	struct key_set			 ks;
	char				 hex[KEY_ID_HEX_LEN + 1];
	size_t				 i;
	bool				 was;
	json_t				*v;
	int				 err;

	memset(&rc, 0, sizeof(rc));
	if (key_set_load(op, &ks) == -1)
		return false;
	if (compromise_find(op, &ks, &i) == -1) {
		key_set_free(&ks);
		return false;
	}
	k = ks.k[i];
	key_set_free(&ks);
	key_id_hex(k.id, hex);
	if (k.state == KG_TRUST_ACTIVE ||
	    sodium_memcmp(k.pk, signer_pubkey(op->d->signer), KG_PUBKEY_LEN) == 0) {
		admin_reply_error(op, "conflict", "%s is the active signing key: "
		    "rotate first: keygate-admin signing-key rotate; then "
		    "compromise %s", hex, hex);
		return false;
	}
	was = k.state == KG_TRUST_COMPROMISED;
	if (!was) {
		store_audit_fill(&audit, daemon_now(op->d), op->actor,
		    "signing-key.compromise", hex, "%s -> compromised: keys and "
		    "statements it signed are refused", key_state_name(k.state));
		k.state = KG_TRUST_COMPROMISED;
		err = op->d->store->ops->signing_key_put(op->d->store, &k,
		    &audit);
		if (err != STORE_OK) {
			admin_reply_store_error(op, err, "marking the signing key "
			    "compromised");
			return false;
		}
		daemon_exclusive_enter(op->d);
		if (trustset_add(&op->d->trust, k.pk, KG_TRUST_COMPROMISED) !=
		    KGE_OK)
			log_error("admin: signing-key.compromise: cannot update "
			    "the trust set in memory: restart keygated");
		daemon_exclusive_leave(op->d);
		log_warn("admin: %s: signing-key.compromise %s: keys it signed "
		    "now get bad_key", op->actor, hex);
	}
	memcpy(rc.id, k.id, KG_KEY_ID_LEN);
	if ((rc.list = json_array()) == NULL) {
		admin_reply_error(op, "internal", "out of memory: see "
		    "keygated's log");
		return false;
	}
	err = op->d->store->ops->license_list(op->d->store, reissue_cb, &rc);
	if (rc.nomem || err != STORE_OK) {
		json_decref(rc.list);
		if (rc.nomem)
			admin_reply_error(op, "internal", "the key is marked "
			    "compromised, but listing its licenses ran out of "
			    "memory: see 'keygate-admin key list'");
		else
			admin_reply_store_error(op, err, "listing the licenses "
			    "to reissue (the key is marked compromised)");
		return false;
	}
	v = key_json(&k);
	if (v == NULL || json_object_set_new(v, "reissue", rc.list) == -1 ||
	    json_object_set_new(v, "already", json_boolean(was)) == -1) {
		json_decref(v);
		admin_reply_error(op, "internal", "the key is marked compromised, "
		    "but the reply could not be built: see keygated's log");
		return false;
	}
	admin_reply_result(op, v);
	return false;
}
