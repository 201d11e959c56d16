/*
 * What the signer's unit tests (test_signer*.c) share: a temporary dir for
 * key files, keys from fixed seeds, finding the signer process among our
 * children, and cmocka group setup and teardown. Linked into every
 * tests/unit/daemon/test_signer*.c (tests/CMakeLists.txt).
 */
#ifndef KG_SIGNER_FIXTURE_H
#define KG_SIGNER_FIXTURE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "signer.h"

/* The group's temporary dir (made by signer_fixture_setup). */
extern char	tmpdir[];

/* out = tmpdir/name */
void	tpath(char *out, size_t len, const char *name);
/* The keypair whose 32-byte seed is byte repeated; keypair_free it. */
struct kg_keypair	*seed_keypair(uint8_t byte);
/* Write the key of seed byte into tmpdir/name (replacing it); sealed when pass. */
void	key_write(const char *name, uint8_t byte, const char *pass);
/* Write text into tmpdir/name. */
void	text_write(const char *name, const char *text);
/* signer_open on tmpdir/name; fails the test when it fails. */
struct signer	*open_ok(const char *name, const char *pass_file);

/* Our children named keygated-signer, zombies too: count, and the last pid. */
int	signer_children(pid_t *last);
/* The pid of our one live (not zombie) signer child; fails the test unless one. */
pid_t	signer_child(void);
/* Wait (10 s at most) until pid is in state st ('Z' died, 'T' stopped). */
void	wait_state(pid_t pid, char st);
/* No child of ours is left, not even a zombie. */
void	assert_no_children(void);

/* cmocka group setup (sodium, tmpdir, SIGPIPE ignored) and teardown. */
int	signer_fixture_setup(void **state);
int	signer_fixture_teardown(void **state);

#endif
