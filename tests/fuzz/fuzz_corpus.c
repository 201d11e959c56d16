/*
 * The corpus keys' public halves (corpus_keys.h, written by gen_corpus.c),
 * parsed for the targets that trust them. Kept apart from fuzz_env.c so
 * that the generator builds before corpus_keys.h exists.
 */
#include "corpus_keys.h"
#include "fuzz.h"
#include "kgerr.h"

/* The corpus keys A and B: see fuzz.h. */
void
fuzz_corpus_pubkeys(uint8_t a[KG_PUBKEY_LEN], uint8_t b[KG_PUBKEY_LEN])
{
	FUZZ_CHECK(pubkey_parse(FUZZ_CORPUS_PUBKEY_A, a) == KGE_OK);
	FUZZ_CHECK(pubkey_parse(FUZZ_CORPUS_PUBKEY_B, b) == KGE_OK);
}
