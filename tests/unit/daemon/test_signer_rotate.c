/*
 * Unit tests of signing-key rotation in daemon/signer.c and signer_proc.c:
 * prepare makes a new key in KEYFILE.new (0600, sealed like KEYFILE) and a
 * statement signed by the old key over the rotation domain; commit makes
 * KEYFILE the new key and signs with it; abort removes KEYFILE.new. A
 * signer that stops between the steps (a crash) leaves a data dir that the
 * next signer_open + signer_rotate_recover finishes (when the store's
 * active key is the new one) or undoes (otherwise); a signer process that
 * dies during the commit is restarted and still switches. A sealed key's
 * rotation needs a passphrase file that still opens KEYFILE. Keys come from
 * fixed seeds; the new keys are random by design (only the signer process
 * ever holds them), so they are checked by their properties.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "keygate.pb-c.h"
#include "kgerr.h"
#include "keys.h"
#include "signer.h"
#include "signer_fixture.h"
#include "signer_proc.h"

#define CREATED		1795000000	/* a fixed rotation time */
static const uint8_t	msg[] = "the bytes of a reply";

static bool
file_exists(const char *name)
{
	char	path[256];

	tpath(path, sizeof(path), name);
	return access(path, F_OK) == 0;
}

/* The public key of the key file tmpdir/name (sealed: with pass). */
static void
file_pubkey(const char *name, const char *pass, uint8_t pk[KG_PUBKEY_LEN])
{
	struct kg_keypair	*kp = NULL;
	char			 path[256];

	tpath(path, sizeof(path), name);
	assert_int_equal(keyfile_read(path, pass, &kp), KGE_OK);
	memcpy(pk, kp->pk, KG_PUBKEY_LEN);
	keypair_free(kp);
}

/* s signs msg in the reply domain so that pk verifies it. */
static void
assert_signs_with(struct signer *s, const uint8_t pk[KG_PUBKEY_LEN])
{
	uint8_t	sig[KG_SIG_LEN], id[KG_KEY_ID_LEN];

	assert_memory_equal(signer_pubkey(s), pk, KG_PUBKEY_LEN);
	key_id_compute(pk, id);
	assert_memory_equal(signer_key_id(s), id, KG_KEY_ID_LEN);
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), sig), 0);
	assert_int_equal(keys_verify(pk, KG_DOMAIN_REPLY, msg, sizeof(msg), sig),
	    KGE_OK);
}

/*
 * Prepare a rotation of s (whose key is old): check the statement and
 * KEYFILE.new (tmpdir/name.new, 0600), and return the new key.
 */
static void
prepare_ok(struct signer *s, const struct kg_keypair *old, const char *name,
    uint8_t new_pk[KG_PUBKEY_LEN])
{
	Keygate__RotationBody	*b;
	uint8_t			 body[SIGNER_ROTATION_BODY_MAX], sig[KG_SIG_LEN];
	char			 path[256], pending[64];
	struct stat		 st;
	size_t			 blen;

	assert_int_equal(signer_rotate_prepare(s, CREATED, new_pk, body, &blen,
	    sig), 0);
	assert_true(blen > 0 && blen <= SIGNER_ROTATION_BODY_MAX);
	/* Signed by the old key, in the rotation domain only. */
	assert_int_equal(keys_verify(old->pk, KG_DOMAIN_ROTATION, body, blen, sig),
	    KGE_OK);
	assert_int_equal(keys_verify(old->pk, KG_DOMAIN_REPLY, body, blen, sig),
	    KGE_KEY_SIGNATURE);
	assert_non_null(b = keygate__rotation_body__unpack(NULL, blen, body));
	assert_int_equal(b->new_public_key.len, KG_PUBKEY_LEN);
	assert_memory_equal(b->new_public_key.data, new_pk, KG_PUBKEY_LEN);
	assert_int_equal(b->old_key_id.len, KG_KEY_ID_LEN);
	assert_memory_equal(b->old_key_id.data, old->id, KG_KEY_ID_LEN);
	assert_int_equal(b->created, CREATED);
	keygate__rotation_body__free_unpacked(b, NULL);
	assert_memory_not_equal(new_pk, old->pk, KG_PUBKEY_LEN);
	/* Nothing switched yet. */
	assert_signs_with(s, old->pk);
	snprintf(pending, sizeof(pending), "%s%s", name, SIGNER_PENDING_SUFFIX);
	tpath(path, sizeof(path), pending);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* prepare + commit: the key file becomes the new key, which signs. */
static void
test_rotate_commit(void **state)
{
	struct kg_keypair	*old = seed_keypair(0x51);
	struct signer		*s;
	uint8_t			 new_pk[KG_PUBKEY_LEN], pk[KG_PUBKEY_LEN];

	(void)state;
	key_write("c.key", 0x51, NULL);
	s = open_ok("c.key", NULL);
	prepare_ok(s, old, "c.key", new_pk);
	assert_int_equal(signer_rotate_commit(s, new_pk), 0);
	assert_signs_with(s, new_pk);
	assert_false(file_exists("c.key.new"));
	file_pubkey("c.key", NULL, pk);
	assert_memory_equal(pk, new_pk, KG_PUBKEY_LEN);
	/* Another rotation starts from the new key. */
	signer_close(s);
	s = open_ok("c.key", NULL);
	assert_signs_with(s, new_pk);
	assert_int_equal(signer_rotate_recover(s, new_pk), 0);
	assert_signs_with(s, new_pk);
	signer_close(s);
	keypair_free(old);
	assert_no_children();
}

/* prepare + abort: nothing changes, KEYFILE.new is gone. */
static void
test_rotate_abort(void **state)
{
	struct kg_keypair	*old = seed_keypair(0x52);
	struct signer		*s;
	uint8_t			 new_pk[KG_PUBKEY_LEN], other[KG_PUBKEY_LEN];
	uint8_t			 pk[KG_PUBKEY_LEN];

	(void)state;
	key_write("a.key", 0x52, NULL);
	s = open_ok("a.key", NULL);
	prepare_ok(s, old, "a.key", new_pk);
	/* Only the pending key can be aborted or committed. */
	memset(other, 0x11, sizeof(other));
	assert_int_equal(signer_rotate_abort(s, other), -1);
	assert_true(file_exists("a.key.new"));
	assert_int_equal(signer_rotate_abort(s, new_pk), 0);
	assert_false(file_exists("a.key.new"));
	assert_signs_with(s, old->pk);
	file_pubkey("a.key", NULL, pk);
	assert_memory_equal(pk, old->pk, KG_PUBKEY_LEN);
	/* A second prepare replaces a first one that was never finished. */
	prepare_ok(s, old, "a.key", new_pk);
	prepare_ok(s, old, "a.key", other);
	assert_memory_not_equal(new_pk, other, KG_PUBKEY_LEN);
	file_pubkey("a.key.new", NULL, pk);
	assert_memory_equal(pk, other, KG_PUBKEY_LEN);
	assert_false(signer_failed(s));
	signer_close(s);
	keypair_free(old);
	assert_no_children();
}

/*
 * A stop after prepare (the store never heard of the new key): the next
 * start reports it pending and recover removes it.
 */
static void
test_recover_undo(void **state)
{
	struct kg_keypair	*old = seed_keypair(0x53);
	struct signer		*s;
	uint8_t			 new_pk[KG_PUBKEY_LEN];

	(void)state;
	key_write("u.key", 0x53, NULL);
	s = open_ok("u.key", NULL);
	prepare_ok(s, old, "u.key", new_pk);
	signer_close(s);		/* a crash, as far as the files go */
	assert_true(file_exists("u.key.new"));
	s = open_ok("u.key", NULL);
	assert_signs_with(s, old->pk);
	assert_int_equal(signer_rotate_recover(s, old->pk), 0);
	assert_false(file_exists("u.key.new"));
	assert_signs_with(s, old->pk);
	signer_close(s);
	/* With no active key known, too. */
	s = open_ok("u.key", NULL);
	prepare_ok(s, old, "u.key", new_pk);
	signer_close(s);
	s = open_ok("u.key", NULL);
	assert_int_equal(signer_rotate_recover(s, NULL), 0);
	assert_false(file_exists("u.key.new"));
	assert_signs_with(s, old->pk);
	signer_close(s);
	keypair_free(old);
	assert_no_children();
}

/*
 * A stop after the store recorded the new key, before the switch: the next
 * start finishes the rotation before signing anything.
 */
static void
test_recover_finish(void **state)
{
	struct kg_keypair	*old = seed_keypair(0x54);
	struct signer		*s;
	uint8_t			 new_pk[KG_PUBKEY_LEN], pk[KG_PUBKEY_LEN];

	(void)state;
	key_write("f.key", 0x54, NULL);
	s = open_ok("f.key", NULL);
	prepare_ok(s, old, "f.key", new_pk);
	signer_close(s);
	s = open_ok("f.key", NULL);
	assert_int_equal(signer_rotate_recover(s, new_pk), 0);
	assert_signs_with(s, new_pk);
	assert_false(file_exists("f.key.new"));
	file_pubkey("f.key", NULL, pk);
	assert_memory_equal(pk, new_pk, KG_PUBKEY_LEN);
	signer_close(s);
	keypair_free(old);
	assert_no_children();
}

/* The signer process dies before the commit: its successor switches. */
static void
test_commit_after_death(void **state)
{
	struct kg_keypair	*old = seed_keypair(0x55);
	struct signer		*s;
	uint8_t			 new_pk[KG_PUBKEY_LEN], pk[KG_PUBKEY_LEN];
	pid_t			 pid;

	(void)state;
	key_write("d.key", 0x55, NULL);
	s = open_ok("d.key", NULL);
	prepare_ok(s, old, "d.key", new_pk);
	pid = signer_child();
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(signer_rotate_commit(s, new_pk), 0);
	assert_false(signer_failed(s));
	assert_true(signer_child() != pid);
	assert_signs_with(s, new_pk);
	assert_false(file_exists("d.key.new"));
	file_pubkey("d.key", NULL, pk);
	assert_memory_equal(pk, new_pk, KG_PUBKEY_LEN);
	signer_close(s);
	keypair_free(old);
	assert_no_children();
}

/* The signer process dies after prepare while idle: the pending key goes. */
static void
test_death_after_prepare(void **state)
{
	struct kg_keypair	*old = seed_keypair(0x56);
	struct signer		*s;
	uint8_t			 new_pk[KG_PUBKEY_LEN];
	pid_t			 pid;

	(void)state;
	key_write("p.key", 0x56, NULL);
	s = open_ok("p.key", NULL);
	prepare_ok(s, old, "p.key", new_pk);
	pid = signer_child();
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* The next signature restarts it with the old key; KEYFILE.new goes. */
	assert_signs_with(s, old->pk);
	assert_false(file_exists("p.key.new"));
	assert_int_equal(signer_rotate_commit(s, new_pk), -1);
	assert_true(signer_failed(s));
	signer_close(s);
	keypair_free(old);
	assert_no_children();
}

/* A sealed key rotates to a sealed key with the same passphrase. */
static void
test_rotate_sealed(void **state)
{
	struct kg_keypair	*old = seed_keypair(0x57), *kp = NULL;
	struct signer		*s;
	uint8_t			 new_pk[KG_PUBKEY_LEN], pk[KG_PUBKEY_LEN];
	uint8_t			 body[SIGNER_ROTATION_BODY_MAX], sig[KG_SIG_LEN];
	char			 pass[256], path[256], head[6];
	size_t			 blen;
	FILE			*f;

	(void)state;
	key_write("s.key", 0x57, "sesame");
	text_write("pass", "sesame\n");
	tpath(pass, sizeof(pass), "pass");
	s = open_ok("s.key", pass);
	prepare_ok(s, old, "s.key", new_pk);
	assert_int_equal(signer_rotate_commit(s, new_pk), 0);
	assert_signs_with(s, new_pk);
	tpath(path, sizeof(path), "s.key");
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(head, sizeof(head), f));
	fclose(f);
	assert_string_equal(head, "KGE1.");
	assert_int_equal(keyfile_read(path, NULL, &kp), KGE_PASSPHRASE_REQUIRED);
	assert_int_equal(keyfile_read(path, "wrong", &kp), KGE_PASSPHRASE);
	file_pubkey("s.key", "sesame", pk);
	assert_memory_equal(pk, new_pk, KG_PUBKEY_LEN);
	signer_close(s);
	/* A restart opens it with the passphrase file. */
	s = open_ok("s.key", pass);
	assert_signs_with(s, new_pk);
	/* A passphrase file that no longer opens the key: no rotation. */
	text_write("pass", "changed\n");
	assert_int_equal(signer_rotate_prepare(s, CREATED, pk, body, &blen, sig),
	    -1);
	assert_false(signer_failed(s));
	assert_false(file_exists("s.key.new"));
	assert_signs_with(s, new_pk);
	signer_close(s);
	keypair_free(old);
	assert_no_children();
}

/* A prepared key file that does not load is ignored at start, then replaced. */
static void
test_damaged_pending(void **state)
{
	struct kg_keypair	*old = seed_keypair(0x58);
	struct signer		*s;
	uint8_t			 new_pk[KG_PUBKEY_LEN];
	char			 path[256];

	(void)state;
	key_write("g.key", 0x58, NULL);
	text_write("g.key.new", "KGS1.cut");
	tpath(path, sizeof(path), "g.key.new");
	assert_int_equal(chmod(path, 0600), 0);
	s = open_ok("g.key", NULL);
	assert_int_equal(signer_rotate_recover(s, old->pk), 0);
	assert_true(file_exists("g.key.new"));	/* not ours to judge: left */
	prepare_ok(s, old, "g.key", new_pk);
	assert_int_equal(signer_rotate_commit(s, new_pk), 0);
	assert_signs_with(s, new_pk);
	signer_close(s);
	keypair_free(old);
	assert_no_children();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotate_commit),
		cmocka_unit_test(test_rotate_abort),
		cmocka_unit_test(test_recover_undo),
		cmocka_unit_test(test_recover_finish),
		cmocka_unit_test(test_commit_after_death),
		cmocka_unit_test(test_death_after_prepare),
		cmocka_unit_test(test_rotate_sealed),
		cmocka_unit_test(test_damaged_pending),
	};

	return cmocka_run_group_tests(tests, signer_fixture_setup,
	    signer_fixture_teardown);
}
