/*
 * cryptoloop: the naive crypto cost of one signed update check, measured
 * without any transport or store. One iteration verifies a license key the
 * way keygated does (license_key_parse against a trust set: base64url
 * decode, protobuf unpack, Ed25519 verify) and signs a reply body of about
 * the size keygated signs (keys_sign with the reply domain). With
 * --sign-only N it makes N bare Ed25519 signatures of a license payload
 * (the floor for bulk issuance) instead.
 *
 * usage: cryptoloop [--iterations N] [--body-size BYTES]
 *        cryptoloop --sign-only N
 * Output: "name: value" lines; times are wall-clock on one thread.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "keys.h"
#include "kgerr.h"
#include "license.h"

#define LOOP_BODY_DEFAULT	150
#define LOOP_BODY_MAX		4096
#define LOOP_ITER_MAX		100000000UL

static double
now_seconds(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: cryptoloop [--iterations N] [--body-size BYTES]\n"
	    "       cryptoloop --sign-only N\n");
	exit(1);
}

static unsigned long
arg_count(const char *s, unsigned long hi)
{
	unsigned long	 v;
	char		*end;

	v = strtoul(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || v < 1 || v > hi)
		usage();
	return v;
}

/* A license like the benchmark's keys, signed by kp. */
static void
loop_license(const struct kg_keypair *kp, struct kg_license *lic)
{
	memset(lic, 0, sizeof(*lic));
	lic->serial = 123456;
	snprintf(lic->product, sizeof(lic->product), "BENCH");
	snprintf(lic->edition, sizeof(lic->edition), "STD");
	snprintf(lic->regno, sizeof(lic->regno), "BENCH-123456");
	snprintf(lic->licensee, sizeof(lic->licensee), "Bench Ltd");
	lic->created = 20484;		/* 2026-01-31 */
	lic->support_expiry = 20849;	/* a year later */
	memcpy(lic->key_id, kp->id, KG_KEY_ID_LEN);
	lic->revision = 1;
}

int
main(int argc, char *argv[])
{
	static const struct option	lo[] = {
		{ "iterations", required_argument, NULL, 'n' },
		{ "body-size", required_argument, NULL, 'b' },
		{ "sign-only", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static const uint8_t	 seed[32] = { 'k', 'g', 'b', 'e', 'n', 'c', 'h' };
	struct kg_keypair	*kp = NULL;
	struct kg_trustset	 ts;
	struct kg_license	 lic, out;
	uint8_t			 body[LOOP_BODY_MAX], sig[KG_SIG_LEN];
	uint8_t			 payload[KG_PAYLOAD_MAX];
	unsigned long		 iters = 10000, body_size = LOOP_BODY_DEFAULT;
	unsigned long		 sign_only = 0, i;
	size_t			 plen, klen;
	double			 t0, t1, t2, t3;
	char			*key = NULL;
	int			 ch, ret = 1;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			iters = arg_count(optarg, LOOP_ITER_MAX);
			break;
		case 'b':
			body_size = arg_count(optarg, LOOP_BODY_MAX);
			break;
		case 's':
			sign_only = arg_count(optarg, LOOP_ITER_MAX);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	trustset_init(&ts);
	if (sodium_init() == -1 || (kp = keypair_from_seed_new(seed)) == NULL ||
	    trustset_add(&ts, kp->pk, KG_TRUST_ACTIVE) != KGE_OK) {
		fprintf(stderr, "cryptoloop: cannot set up a signing key\n");
		goto done;
	}
	loop_license(kp, &lic);
	if (license_key_new(&lic, kp, &key) != KGE_OK ||
	    license_payload_pack(&lic, payload, sizeof(payload), &plen) != KGE_OK) {
		fprintf(stderr, "cryptoloop: cannot make a license key\n");
		goto done;
	}
	klen = strlen(key);

	if (sign_only > 0) {
		/* Bare signatures: what issuing N keys cannot go below. */
		t0 = now_seconds();
		for (i = 0; i < sign_only; i++) {
			payload[0] ^= (uint8_t)i;	/* a different message each time */
			if (keys_sign(kp, KG_DOMAIN_LICENSE, payload, plen,
			    sig) != KGE_OK)
				goto done;
		}
		t1 = now_seconds();
		printf("sign_count: %lu\n", sign_only);
		printf("sign_bytes: %zu\n", plen);
		printf("sign_s: %.3f\n", t1 - t0);
		printf("sign_us: %.2f\n", (t1 - t0) * 1e6 / (double)sign_only);
		ret = 0;
		goto done;
	}

	randombytes_buf(body, body_size);
	/* The naive check: verify the key, sign a reply. */
	t0 = now_seconds();
	for (i = 0; i < iters; i++) {
		if (license_key_parse(key, klen, &ts, &out) != KGE_OK) {
			fprintf(stderr, "cryptoloop: the key does not verify\n");
			goto done;
		}
		body[0] = (uint8_t)i;
		if (keys_sign(kp, KG_DOMAIN_REPLY, body, body_size, sig) != KGE_OK)
			goto done;
	}
	t1 = now_seconds();
	/* The two halves alone. */
	for (i = 0; i < iters; i++)
		if (license_key_parse(key, klen, &ts, &out) != KGE_OK)
			goto done;
	t2 = now_seconds();
	for (i = 0; i < iters; i++) {
		body[0] = (uint8_t)i;
		if (keys_sign(kp, KG_DOMAIN_REPLY, body, body_size, sig) != KGE_OK)
			goto done;
	}
	t3 = now_seconds();
	printf("crypto_iterations: %lu\n", iters);
	printf("crypto_key_bytes: %zu\n", klen);
	printf("crypto_body_bytes: %lu\n", body_size);
	printf("crypto_us_per_iteration: %.2f\n", (t1 - t0) * 1e6 / (double)iters);
	printf("crypto_verify_us: %.2f\n", (t2 - t1) * 1e6 / (double)iters);
	printf("crypto_sign_us: %.2f\n", (t3 - t2) * 1e6 / (double)iters);
	ret = 0;
done:
	free(key);
	keypair_free(kp);
	trustset_clear(&ts);
	return ret;
}
