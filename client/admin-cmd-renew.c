/*
 * keygate-admin's text output for renewals and the records around them:
 * acts (registered, shown, listed, voided), a key extended by the vendor
 * (the re-signed key alone on stdout, like key issue, and what was applied
 * on stderr), a key's state after revoke, suspend or reinstate,
 * subscriptions, the audit log and its verification, and backups.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "admin-cmd.h"

/* "any" for an act field that is null (fits every edition or licensee). */
static const char *
any_of(json_t *o, const char *name)
{
	return str_of(o, name, "any");
}

/* act register: one line. */
void
print_act_registered(const struct opts *o, json_t *a)
{
	(void)o;
	printf("registered act %s: %s, edition %s, licensee %s, %lld months\n",
	    str_of(a, "number", "?"), str_of(a, "product", "?"),
	    any_of(a, "edition"), any_of(a, "licensee"), int_of(a, "months"));
}

/* act show: one field a line; a redeemed act with its renewal. */
void
print_act(const struct opts *o, json_t *a)
{
	(void)o;
	printf("number:          %s\n", str_of(a, "number", ""));
	printf("product:         %s\n", str_of(a, "product", ""));
	printf("edition:         %s\n", any_of(a, "edition"));
	printf("licensee:        %s\n", any_of(a, "licensee"));
	printf("months:          %lld\n", int_of(a, "months"));
	printf("state:           %s\n", str_of(a, "state", ""));
	printf("registered:      %s by %s\n", str_of(a, "registered_at", "?"),
	    str_of(a, "registered_by", "?"));
	if (strcmp(str_of(a, "state", ""), "redeemed") != 0)
		return;
	printf("redeemed:        %s by %s (serial %lld)\n",
	    str_of(a, "redeemed_at", "?"), str_of(a, "regno", "?"),
	    int_of(a, "serial"));
	printf("renewal:         %s, price %s: support %s -> %s\n",
	    str_of(a, "kind", "?"), str_of(a, "price", "?"),
	    str_of(a, "old_expiry", "not fixed"), str_of(a, "new_expiry", "?"));
}

/* act list: a table. */
void
print_acts(const struct opts *o, json_t *list)
{
	static const char *const head[] = { "NUMBER", "PRODUCT", "EDITION",
	    "MONTHS", "STATE", "REGISTERED", "REGNO", "NEW-EXPIRY", "LICENSEE" };
	struct table	 t = { .ncols = 9 };
	json_t		*a;
	size_t		 i;
	char		 months[24], day[11];

	(void)o;
	table_row(&t, head);
	json_array_foreach(list, i, a) {
		snprintf(months, sizeof(months), "%lld", int_of(a, "months"));
		/* The day of registered_at, "2026-05-15T09:30:00Z". */
		snprintf(day, sizeof(day), "%s", str_of(a, "registered_at", "-"
		    ));
		const char	*row[] = { str_of(a, "number", ""),
		    str_of(a, "product", ""), any_of(a, "edition"), months,
		    str_of(a, "state", ""), day, str_of(a, "regno", "-"),
		    str_of(a, "new_expiry", "-"), any_of(a, "licensee") };

		table_row(&t, row);
	}
	table_print(&t);
}

/* act void: one line. */
void
print_act_voided(const struct opts *o, json_t *a)
{
	(void)o;
	printf("act %s is void: it can no longer be redeemed\n",
	    str_of(a, "number", "?"));
}

/*
 * key extend: the re-signed key alone on stdout (NEWKEY=$(keygate-admin key
 * extend ...)), what was applied on stderr.
 */
void
print_key_extended(const struct opts *o, json_t *k)
{
	json_t	*r = json_object_get(k, "renewal");

	(void)o;
	printf("%s\n", str_of(k, "key", ""));
	fprintf(stderr, "extended %s by %lld months: support %s -> %s, %s "
	    "renewal, price %s (revision %lld)\n", str_of(k, "regno", "?"),
	    int_of(r, "months"), str_of(r, "old_expiry", "not fixed"),
	    str_of(r, "new_expiry", "?"), str_of(r, "kind", "?"),
	    str_of(r, "price", "?"), int_of(k, "revision"));
}

/* key revoke, suspend, reinstate: the key's state now. */
void
print_key_state(const struct opts *o, json_t *k)
{
	const char	*why = str_of(k, "state_reason", NULL);

	(void)o;
	printf("%s is %s%s%s\n", str_of(k, "regno", "?"),
	    str_of(k, "state", "?"), why != NULL ? ": " : "",
	    why != NULL ? why : "");
}

/* subscription set, subscription show: one line. */
void
print_subscription(const struct opts *o, json_t *s)
{
	(void)o;
	printf("%s: subscription until %s (%s today)\n",
	    str_of(s, "licensee", "?"), str_of(s, "until", "?"),
	    json_is_true(json_object_get(s, "active")) ? "active" : "expired");
}

/* audit --verify: one line (a broken chain is an error reply instead). */
void
print_audit_verified(const struct opts *o, json_t *v)
{
	(void)o;
	printf("audit log verified: %lld records, the hash chain is intact\n",
	    int_of(v, "records"));
}

/* audit: a table, the detail last. */
void
print_audit(const struct opts *o, json_t *list)
{
	static const char *const head[] = { "SEQ", "TIME", "ACTOR", "ACTION",
	    "OBJECT", "DETAIL" };
	struct table	 t = { .ncols = 6 };
	json_t		*a;
	size_t		 i;
	char		 seq[24];

	(void)o;
	table_row(&t, head);
	json_array_foreach(list, i, a) {
		snprintf(seq, sizeof(seq), "%lld", int_of(a, "seq"));
		const char	*row[] = { seq, str_of(a, "time", ""),
		    str_of(a, "actor", ""), str_of(a, "action", ""),
		    str_of(a, "object", "-"), str_of(a, "detail", "") };

		table_row(&t, row);
	}
	table_print(&t);
}

/* backup: where, how big, and where restoring is described. */
void
print_backup(const struct opts *o, json_t *b)
{
	(void)o;
	printf("backup written to %s (%lld bytes); to restore it see \"Backup "
	    "and restore\" in keygate's README\n", str_of(b, "path", "?"),
	    int_of(b, "bytes"));
}
