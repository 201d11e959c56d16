/*
 * example-product: what a product does with libkeygate when it starts.
 *
 * It asks the vendor's keygate servers whether its license key may run and
 * update this version, and prints what a real product would then do:
 * "install X", "stay on X" or "run in demo mode (reason)". When no server
 * answers, the library answers from the last verdict it verified (kept in
 * the state file), and the line says so. With --act NUMBER it first renews
 * support with an act number from the vendor and stores the renewed key.
 *
 * Build it against an installed libkeygate with
 *   cc example-product.c $(pkg-config --cflags --libs keygate) -o example-product
 */
#define _POSIX_C_SOURCE	200809L		/* strdup */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keygate.h>

#define MAX_SERVERS	8

static void
usage(void)
{
	fprintf(stderr, "usage: example-product --server HOST:PORT [--server ...] "
	    "--pubkey FILE --state FILE\n"
	    "           --key FILE --product CODE --version V [--act NUMBER]\n");
	exit(1);
}

/* The whole of a small text file, or NULL. */
static char *
file_read(const char *path)
{
	FILE	*f;
	char	*buf;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if ((buf = malloc(65536)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Replace the key file with the renewed key: a temporary file, then rename. */
static int
key_save(const char *path, const char *key)
{
	char	 tmp[4096];
	FILE	*f;

	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp) ||
	    (f = fopen(tmp, "w")) == NULL)
		return -1;
	if (fprintf(f, "%s\n", key) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		remove(tmp);
		return -1;
	}
	return 0;
}

/* Print what the product does on a check result (rc from kg_check). */
static void
decide(int rc, const kg_result *r, const char *version)
{
	const char	*verdict;
	char		 note[128] = "";

	if (rc != KG_OK) {
		/* No verdict at all: unreachable with nothing cached, or forged. */
		printf("run in demo mode (cannot check the license: %s)\n",
		    kg_strerror(rc));
		return;
	}
	if (kg_result_offline(r))
		snprintf(note, sizeof(note), " [offline: last verdict %lld s old%s]",
		    (long long)kg_result_age(r),
		    kg_result_rollback(r) ? "; clock set back" : "");
	verdict = kg_result_verdict(r);
	if (strcmp(verdict, "update") == 0)
		printf("install %s%s\n", kg_result_eligible(r), note);
	else if (strcmp(verdict, "current") == 0 || strcmp(verdict, "fallback") == 0)
		printf("stay on %s%s\n", version, note);
	else
		printf("run in demo mode (%s)%s\n", kg_result_reason(r), note);
}

/* Renew with an act number and store the renewed key; 0 when renewed. */
static int
renew(kg_client *c, const char *keyfile, char **key, const char *act)
{
	kg_result	*r = NULL;
	int		 rc, ret = -1;

	rc = kg_activate(c, *key, act, &r);
	if (rc == KG_OK && strcmp(kg_result_reason(r), "ok") == 0 &&
	    kg_result_key(r) != NULL) {
		if (key_save(keyfile, kg_result_key(r)) == -1)
			fprintf(stderr, "cannot store the renewed key in %s: %s\n",
			    keyfile, strerror(errno));
		free(*key);
		*key = strdup(kg_result_key(r));
		printf("renewed: support until %s\n", kg_result_support_expiry(r));
		ret = 0;
	} else if (rc == KG_OK || rc == KG_ERR_SERVER)
		printf("renewal refused (%s)\n", kg_result_reason(r));
	else
		printf("renewal failed (%s)\n", kg_strerror(rc));
	kg_result_free(r);
	return ret;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "pubkey", required_argument, NULL, 'p' },
		{ "state", required_argument, NULL, 'S' },
		{ "key", required_argument, NULL, 'k' },
		{ "product", required_argument, NULL, 'P' },
		{ "version", required_argument, NULL, 'v' },
		{ "act", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*server[MAX_SERVERS], *pubkey = NULL, *state = NULL;
	const char	*keyfile = NULL, *product = NULL, *version = NULL;
	const char	*act = NULL;
	kg_client	*c = NULL;
	kg_result	*r = NULL;
	char		*key;
	int		 ch, i, nserver = 0, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (nserver == MAX_SERVERS)
				usage();
			server[nserver++] = optarg;
			break;
		case 'p': pubkey = optarg; break;
		case 'S': state = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'P': product = optarg; break;
		case 'v': version = optarg; break;
		case 'a': act = optarg; break;
		default: usage();
		}
	}
	if (nserver == 0 || pubkey == NULL || state == NULL || keyfile == NULL ||
	    product == NULL || version == NULL || optind != argc)
		usage();
	if ((key = file_read(keyfile)) == NULL) {
		fprintf(stderr, "cannot read the license key %s\n", keyfile);
		return 1;
	}

	/* The client: servers in order, the vendor's public key, the state file. */
	if ((rc = kg_client_new(&c)) != KG_OK)
		goto fail;
	for (i = 0; i < nserver; i++) {
		if ((rc = kg_client_add_server(c, server[i])) != KG_OK)
			goto fail;
	}
	if ((rc = kg_client_trust_file(c, pubkey)) != KG_OK)
		goto fail;
	kg_client_set_timeouts(c, 2000, 5000);
	kg_client_set_deadline(c, 8000);
	if ((rc = kg_client_set_state_file(c, state)) != KG_OK)
		fprintf(stderr, "state file %s unusable (%s): continuing without\n",
		    state, kg_strerror(rc));

	if (act != NULL)
		renew(c, keyfile, &key, act);

	rc = kg_check(c, key, product, version, NULL, &r);
	decide(rc, r, version);
	if (rc == KG_OK && kg_result_key(r) != NULL)
		key_save(keyfile, kg_result_key(r));	/* re-signed at first check */
	kg_result_free(r);
	kg_client_free(c);
	free(key);
	return 0;
 fail:
	fprintf(stderr, "example-product: %s\n", kg_strerror(rc));
	kg_client_free(c);
	free(key);
	return 1;
}
