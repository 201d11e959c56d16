/*
 * Rotation statements on the public port: a RotationsRequest is answered
 * with the statements of the store's signing keys (each key introduced by a
 * rotation keeps the statement its predecessor signed for it), so that a
 * client that trusts only an older key can learn the newer ones. The
 * statements are served as stored: their signatures were made by the signer
 * process, and a client checks each against a key it already trusts.
 *
 * Left out: a statement signed by a compromised key (that key can no longer
 * vouch for anything) and one that introduces a compromised key. Order:
 * oldest first, meaning each statement comes after the one that introduced
 * its signing key; among statements that are ready at the same time, the
 * older (created) first, then by key id, so the answer is deterministic.
 *
 * Also here: keeping the data dir's signing.pub equal to the active key,
 * after a rotation and at start, and the copy of the store's signing keys
 * that the admin ops (admin_signing.c) read too.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "dispatch.h"
#include "keys.h"
#include "log.h"
#include "rotation.h"
#include "store.h"

/* Decode a serialized RotationStatement and its body. */
int
rotation_statement_read(const uint8_t *buf, size_t len, struct rotation_info *out)
{
	Keygate__RotationStatement	*st = NULL;
	Keygate__RotationBody		*body = NULL;
	int				 rc = -1;

	memset(out, 0, sizeof(*out));
	if (len == 0 ||
	    (st = keygate__rotation_statement__unpack(NULL, len, buf)) == NULL ||
	    st->signature.len != KG_SIG_LEN ||
	    (body = keygate__rotation_body__unpack(NULL, st->body.len,
	    st->body.data)) == NULL ||
	    body->new_public_key.len != KG_PUBKEY_LEN ||
	    body->old_key_id.len != KG_KEY_ID_LEN)
		goto done;
	memcpy(out->old_id, body->old_key_id.data, KG_KEY_ID_LEN);
	memcpy(out->new_pk, body->new_public_key.data, KG_PUBKEY_LEN);
	out->created = body->created;
	rc = 0;
done:
	if (body != NULL)
		keygate__rotation_body__free_unpacked(body, NULL);
	if (st != NULL)
		keygate__rotation_statement__free_unpacked(st, NULL);
	return rc;
}

static int
rotation_keys_cb(void *ctx, const struct store_signing_key *k)
{
	struct rotation_keys		*ks = ctx;
	struct store_signing_key	*p;
	size_t				 cap;

	if (ks->n == ROTATION_KEYS_MAX)
		return 1;
	if (ks->n == ks->cap) {
		cap = ks->cap == 0 ? 8 : ks->cap * 2;
		if ((p = reallocarray(ks->k, cap, sizeof(*p))) == NULL) {
			ks->nomem = true;
			return 1;
		}
		ks->k = p;
		ks->cap = cap;
	}
	ks->k[ks->n++] = *k;
	return 0;
}

/* List the store's signing keys into ks: see rotation.h. */
int
rotation_keys_load(struct store *st, struct rotation_keys *ks)
{
	memset(ks, 0, sizeof(*ks));
	return st->ops->signing_key_list(st, rotation_keys_cb, ks);
}

/* The stored key with id, or NULL. */
static const struct store_signing_key *
rotation_key_find(const struct rotation_keys *ks, const uint8_t id[KG_KEY_ID_LEN])
{
	size_t	i;

	for (i = 0; i < ks->n; i++)
		if (memcmp(ks->k[i].id, id, KG_KEY_ID_LEN) == 0)
			return &ks->k[i];
	return NULL;
}

/* Free what rotation_statements_new made. */
void
rotation_statements_free(Keygate__Rotations *r)
{
	size_t	i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n_statements; i++)
		if (r->statements[i] != NULL)
			keygate__rotation_statement__free_unpacked(
			    r->statements[i], NULL);
	free(r->statements);
	free(r);
}

/* Whether statement a should come before b when both are ready. */
static bool
rotation_before(const struct rotation_info *a, const struct store_signing_key *ka,
    const struct rotation_info *b, const struct store_signing_key *kb)
{
	if (a->created != b->created)
		return a->created < b->created;
	return memcmp(ka->id, kb->id, KG_KEY_ID_LEN) < 0;
}

/* The statements to serve, oldest first. */
int
rotation_statements_new(struct store *st, Keygate__Rotations **out)
{
	struct rotation_keys	 ks;
	struct rotation_info	*info = NULL;
	Keygate__Rotations	*r = NULL;
	bool			*servable = NULL, *known = NULL;
	size_t			*oldix = NULL, i, best, left;
	int			 rc;

	*out = NULL;
	rc = rotation_keys_load(st, &ks);
	if (rc != STORE_OK || ks.nomem) {
		log_error("%s: cannot list the signing keys: %s", __func__,
		    ks.nomem ? "out of memory" : store_strerror(rc));
		goto fail;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_error("%s: out of memory", __func__);
		goto fail;
	}
	keygate__rotations__init(r);
	if ((info = calloc(ks.n + 1, sizeof(*info))) == NULL ||
	    (servable = calloc(ks.n + 1, sizeof(*servable))) == NULL ||
	    (known = calloc(ks.n + 1, sizeof(*known))) == NULL ||
	    (oldix = calloc(ks.n + 1, sizeof(*oldix))) == NULL ||
	    (r->statements = calloc(ks.n + 1, sizeof(*r->statements))) == NULL) {
		log_error("%s: out of memory", __func__);
		goto fail;
	}
	left = 0;
	for (i = 0; i < ks.n; i++) {
		const struct store_signing_key	*old;

		/* Keys from init (no statement) are where chains start. */
		known[i] = ks.k[i].rotation_len == 0;
		if (ks.k[i].rotation_len == 0 ||
		    ks.k[i].state == KG_TRUST_COMPROMISED)
			continue;
		if (rotation_statement_read(ks.k[i].rotation,
		    ks.k[i].rotation_len, &info[i]) == -1 ||
		    memcmp(info[i].new_pk, ks.k[i].pk, KG_PUBKEY_LEN) != 0) {
			log_warn("%s: the stored rotation statement of a signing "
			    "key is malformed: not served", __func__);
			continue;
		}
		if ((old = rotation_key_find(&ks, info[i].old_id)) == NULL ||
		    old->state == KG_TRUST_COMPROMISED)
			continue;
		oldix[i] = (size_t)(old - ks.k);
		servable[i] = true;
		left++;
	}
	/* Each round serves the oldest statement whose signing key is known. */
	while (left > 0) {
		best = ks.n;
		for (i = 0; i < ks.n; i++) {
			if (!servable[i] || !known[oldix[i]])
				continue;
			if (best == ks.n || rotation_before(&info[i], &ks.k[i],
			    &info[best], &ks.k[best]))
				best = i;
		}
		if (best == ks.n)
			break;		/* the rest hang off no served chain */
		r->statements[r->n_statements] =
		    keygate__rotation_statement__unpack(NULL,
		    ks.k[best].rotation_len, ks.k[best].rotation);
		if (r->statements[r->n_statements] == NULL) {
			log_error("%s: out of memory", __func__);
			goto fail;
		}
		r->n_statements++;
		servable[best] = false;
		known[best] = true;
		left--;
	}
	free(ks.k);
	free(info);
	free(servable);
	free(known);
	free(oldix);
	*out = r;
	return 0;
fail:
	rotation_statements_free(r);
	free(ks.k);
	free(info);
	free(servable);
	free(known);
	free(oldix);
	return -1;
}

/* Answer a RotationsRequest. */
void
rotation_handle(const struct request_ctx *rc, struct handler_reply *out)
{
	if (rotation_statements_new(rc->d->store, &out->rotations) == -1) {
		handler_reply_error(out, "internal", "cannot read the rotation "
		    "statements: see keygated's log");
		return;
	}
	out->verdict.reason = (char *)"ok";
	snprintf(out->log, sizeof(out->log), "%zu statement%s",
	    out->rotations->n_statements,
	    out->rotations->n_statements == 1 ? "" : "s");
}

/* Make DATADIR/signing.pub say pk; see rotation.h. */
int
rotation_pubkey_sync(const char *datadir, const uint8_t pk[KG_PUBKEY_LEN])
{
	char	path[PATH_MAX], tmp[PATH_MAX], want[KG_PUBKEY_TEXT_MAX + 1];
	char	have[KG_PUBKEY_TEXT_MAX + 2];
	size_t	len;
	ssize_t	n;
	int	fd, dfd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", datadir,
	    ROTATION_PUBKEY_FILE) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
		log_error("%s: the data dir's path is too long", __func__);
		return -1;
	}
	pubkey_format(pk, want);
	len = strlen(want);
	want[len++] = '\n';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, have, sizeof(have));
		close(fd);
		if (n == (ssize_t)len && memcmp(have, want, len) == 0)
			return 0;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		log_error("%s: cannot create %s: %s", __func__, tmp, strerror(errno));
		return -1;
	}
	/* The public key: readable by all, like keygated init's. */
	if (fchmod(fd, 0644) == -1 || write(fd, want, len) != (ssize_t)len ||
	    fsync(fd) == -1) {
		log_error("%s: cannot write %s: %s", __func__, tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		log_error("%s: cannot replace %s: %s", __func__, path,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	if ((dfd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}
