/*
 * Temporary directories for the daemon's unit tests: one made fresh under
 * $TMPDIR (or /tmp) for a test's store or key files, and removed with
 * everything below it. Linked into every tests/unit/daemon/test_*.c
 * (tests/CMakeLists.txt).
 */
#ifndef KG_TEST_TMPDIR_H
#define KG_TEST_TMPDIR_H

#include <stddef.h>

/* A new directory $TMPDIR/kg-NAME-XXXXXX, its path into out. 0 or -1. */
int	tmpdir_make(char *out, size_t len, const char *name);

/* Remove dir and everything below it (symlinks not followed). 0 or -1. */
int	tmpdir_remove(const char *dir);

#endif
