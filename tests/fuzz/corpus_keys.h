/*
 * Written by gen_corpus.c: the public halves of the throwaway corpus keys
 * that signed the key texts in tests/fuzz/corpus (their secret halves were
 * never written anywhere), and the key text of license serial 1 signed by
 * corpus key A, which fuzz_reply sends with its requests.
 */
#ifndef KG_FUZZ_CORPUS_KEYS_H
#define KG_FUZZ_CORPUS_KEYS_H

#define FUZZ_CORPUS_PUBKEY_A	"KGP1.6FE49a6Pa0ZjCSq5YL_N7h3omwtKSclLsfYA9c_hOyg"	/* retired */
#define FUZZ_CORPUS_PUBKEY_B	"KGP1.wqdNudsOGsA-WDj4wgU4S4_Dhs0l-FbeacXprUmxC34"	/* compromised */
#define FUZZ_CORPUS_KEY1 \
    "KG1.CAESBVpIS0g4GgRQUk9GIgxaSEtIOC0wMDAwMDEqC0V4YW1wbGUgTHRkMKmfATjeoAFSCOWRovOT8nBOWAE.bVdCFkMHQ2Td0SLM9iPkJ186PRCiwxUhKJKaE3e8GEnZHUwB8G2fdUzWGrVEj_6nmEGUqKx1emb-1NxVXddwBA"

#endif
