/*
 * keygate-admin's printers for the signing-key commands (signing-key list,
 * rotate, compromise) as readable text; --json prints the results as they
 * come (admin-cli.c). key reissue prints a license (print_key).
 */
#include <stdio.h>

#include <jansson.h>

#include "admin-cmd.h"

/* signing-key list: a table, oldest key first. */
void
print_signing_keys(const struct opts *o, json_t *list)
{
	static const char *const head[] = { "ID", "STATE", "CREATED",
	    "ROTATED FROM", "PUBLIC KEY" };
	struct table	 t = { .ncols = 5 };
	json_t		*k;
	size_t		 i;

	(void)o;
	table_row(&t, head);
	json_array_foreach(list, i, k) {
		const char *const row[] = { str_of(k, "id", "?"),
		    str_of(k, "state", "?"), str_of(k, "created", "?"),
		    str_of(k, "rotated_from", "-"), str_of(k, "public_key", "?") };

		table_row(&t, row);
	}
	table_print(&t);
}

/* signing-key rotate: the new key, and what to do with it. */
void
print_signing_key_rotated(const struct opts *o, json_t *r)
{
	json_t	*prev = json_object_get(r, "previous");

	(void)o;
	printf("new active signing key %s:\n%s\n", str_of(r, "id", "?"),
	    str_of(r, "public_key", "?"));
	printf("retired %s (keys and replies it signed still verify; clients "
	    "that trust it learn the new key from keygated)\n",
	    str_of(prev, "id", "?"));
	if (!json_is_true(json_object_get(r, "pubkey_file_updated")))
		printf("warning: signing.pub in the data dir could not be "
		    "updated: see keygated's log\n");
	printf("embed the new public key in new builds of your products "
	    "('keygated pubkey' prints it)\n");
}

/* signing-key compromise: the key, and the licenses to reissue. */
void
print_signing_key_compromised(const struct opts *o, json_t *r)
{
	json_t	*list = json_object_get(r, "reissue"), *l;
	size_t	 i, n = json_array_size(list);

	(void)o;
	printf("signing key %s is %scompromised: keys it signed now get "
	    "bad_key\n", str_of(r, "id", "?"),
	    json_is_true(json_object_get(r, "already")) ? "already " : "");
	if (n == 0) {
		printf("no license's current key was signed by it\n");
		return;
	}
	printf("%zu license%s to reissue (keygate-admin key reissue REGNO):\n",
	    n, n == 1 ? "" : "s");
	json_array_foreach(list, i, l)
		printf("  %s  %s\n", str_of(l, "regno", "?"),
		    str_of(l, "licensee", "?"));
}
