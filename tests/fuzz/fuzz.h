/*
 * What the fuzz targets in tests/fuzz share: libFuzzer's two entry points
 * (each target defines both; replay.c calls them without libFuzzer), the
 * check that turns a broken invariant into a crash the fuzzer reports, a
 * temporary directory per process, and the fuzz daemon: a real store in a
 * temporary data dir with a fixed catalog, a signer on a key generated at
 * start, a trust set and a fixed clock, as keygated has them when it runs.
 *
 * The seed corpora hold key texts signed by throwaway corpus keys whose
 * secret halves were discarded when tests/fuzz/gen_corpus.c made them; only
 * their public halves are committed (corpus_keys.h). The fuzz daemon trusts
 * corpus key A as a retired signing key and marks corpus key B compromised,
 * and it creates its licenses in a fixed order, so the corpus keys name
 * licenses the store has.
 */
#ifndef KG_FUZZ_H
#define KG_FUZZ_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "dispatch.h"
#include "keys.h"

/* libFuzzer's entry points. */
int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: print it and abort, so the fuzzer keeps the input. */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond))							\
		fuzz_fail(__FILE__, __LINE__, #cond);			\
} while (0)

void	fuzz_fail(const char *file, int line, const char *what)
	    __attribute__((noreturn));

/* The fuzz daemon's fixed clock: 2026-06-15, noon UTC. */
#define FUZZ_TODAY_Y	2026
#define FUZZ_TODAY_M	6
#define FUZZ_TODAY_D	15

/* Licenses the fuzz daemon creates, in serial order (see fuzz_env.c). */
#define FUZZ_LICENSES	10

/*
 * Quiet the daemon's log (errors only) unless KG_FUZZ_DEBUG is set, and
 * initialise libsodium. Call first; aborts when libsodium cannot start.
 */
void	fuzz_setup(void);

/*
 * A fresh directory under $TMPDIR (or /tmp) named after the target,
 * removed with everything in it when the process exits. Aborts on failure.
 */
const char	*fuzz_tmpdir(const char *name);

struct fuzz_daemon {
	struct daemon		 d;
	struct dispatch_peer	 peer;		/* 127.0.0.1:40000 */
	char			 storedir[PATH_MAX];
	uint8_t			*snapshot;	/* the store as set up */
	size_t			 snapshot_len;
	size_t			 audits;	/* audit records after the set-up */
};

/*
 * Set up the fuzz daemon in a directory under dir: a signing key generated
 * now (plain key file, mode 0600) and the signer opened on it, a store with
 * the fixed catalog (products, editions, releases, licenses, acts, a
 * subscription and the signing keys), a trust set (the signer's key active,
 * corpus_a retired, corpus_b compromised), default configuration and the
 * fixed clock. The licenses carry corpus_a's key id. Aborts on failure.
 */
void	fuzz_daemon_open(struct fuzz_daemon *fd, const char *dir,
	    const uint8_t corpus_a[KG_PUBKEY_LEN],
	    const uint8_t corpus_b[KG_PUBKEY_LEN]);

/*
 * Put the store back as it was set up when an input changed it (an audit
 * record was appended), and forget the rate limiter's failures, so every
 * input starts from the same state. Aborts on failure.
 */
void	fuzz_daemon_reset(struct fuzz_daemon *fd);

/* Close the store and the signer and clear the trust set. */
void	fuzz_daemon_close(struct fuzz_daemon *fd);

/* The corpus keys' public halves from corpus_keys.h. Aborts when malformed. */
void	fuzz_corpus_pubkeys(uint8_t a[KG_PUBKEY_LEN], uint8_t b[KG_PUBKEY_LEN]);

#endif
