/*
 * keygate-admin's text output for the catalog and keys: products,
 * editions, releases and keys as sentences, one-field-a-line views and
 * tables (columns two spaces apart, widths in characters). --json output
 * does not come through here: admin-cli.c prints the results as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin-cmd.h"

/* A string member of o, or none. */
const char *
str_of(json_t *o, const char *name, const char *none)
{
	const char	*s = json_string_value(json_object_get(o, name));

	return s != NULL ? s : none;
}

/* An integer member of o. */
long long
int_of(json_t *o, const char *name)
{
	return json_integer_value(json_object_get(o, name));
}

/* Characters (UTF-8 code points) in s, for column widths. */
static size_t
text_width(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Add a row of t->ncols copied strings. */
void
table_row(struct table *t, const char *const *cols)
{
	char	**p;
	size_t	  i, cap;

	if (t->nrows == t->cap) {
		cap = t->cap == 0 ? 16 : t->cap * 2;
		if ((p = reallocarray(t->cell, cap * t->ncols, sizeof(*p))) == NULL) {
			usage_error("out of memory");
			exit(EXIT_USAGE);
		}
		t->cell = p;
		t->cap = cap;
	}
	for (i = 0; i < t->ncols; i++)
		if ((t->cell[t->nrows * t->ncols + i] = strdup(cols[i])) == NULL) {
			usage_error("out of memory");
			exit(EXIT_USAGE);
		}
	t->nrows++;
}

/* Print the rows in columns two spaces apart; the last one is not padded. */
void
table_print(struct table *t)
{
	size_t	w[TABLE_COLS_MAX] = { 0 }, r, i, n;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++)
			if ((n = text_width(t->cell[r * t->ncols + i])) > w[i])
				w[i] = n;
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			const char	*s = t->cell[r * t->ncols + i];

			fputs(s, stdout);
			if (i + 1 < t->ncols)
				printf("%*s", (int)(w[i] - text_width(s) + 2), "");
		}
		putchar('\n');
	}
	for (r = 0; r < t->nrows * t->ncols; r++)
		free(t->cell[r]);
	free(t->cell);
	memset(t, 0, sizeof(*t));
}

/* product add: one line. */
void
print_product_added(const struct opts *o, json_t *p)
{
	(void)o;
	printf("added product %s \"%s\", price %s\n", str_of(p, "code", "?"),
	    str_of(p, "name", ""), str_of(p, "price", "?"));
}

/* product list: a table. */
void
print_products(const struct opts *o, json_t *list)
{
	static const char *const head[] = { "CODE", "PRICE", "NAME" };
	struct table	t = { .ncols = 3 };
	json_t		*p;
	size_t		 i;

	(void)o;
	table_row(&t, head);
	json_array_foreach(list, i, p) {
		const char	*row[] = { str_of(p, "code", ""),
		    str_of(p, "price", ""), str_of(p, "name", "") };

		table_row(&t, row);
	}
	table_print(&t);
}

/* edition add: the policy in one sentence. */
void
print_edition_added(const struct opts *o, json_t *e)
{
	long long	grace = int_of(e, "grace_months");

	(void)o;
	printf("added edition %s %s: %lld months of support from %s, %s on "
	    "expiry; renewal %lld months, %lld%% within %lld month%s of expiry, "
	    "%lld%% later%s\n", str_of(e, "product", "?"),
	    str_of(e, "edition", "?"), int_of(e, "support_months"),
	    str_of(e, "basis", "?"), str_of(e, "on_expiry", "?"),
	    int_of(e, "renewal_months"), int_of(e, "grace_percent"), grace,
	    grace == 1 ? "" : "s", int_of(e, "standard_percent"),
	    json_is_true(json_object_get(e, "requires_subscription")) ?
	    "; requires a subscription" : "");
}

/* edition list: a table. */
void
print_editions(const struct opts *o, json_t *list)
{
	static const char *const head[] = { "EDITION", "SUPPORT", "BASIS",
	    "ON-EXPIRY", "RENEWAL", "GRACE", "GRACE%", "STANDARD%",
	    "SUBSCRIPTION" };
	struct table	 t = { .ncols = 9 };
	json_t		*e;
	size_t		 i;
	char		 num[5][24];

	(void)o;
	table_row(&t, head);
	json_array_foreach(list, i, e) {
		snprintf(num[0], sizeof(num[0]), "%lld", int_of(e,
		    "support_months"));
		snprintf(num[1], sizeof(num[1]), "%lld", int_of(e,
		    "renewal_months"));
		snprintf(num[2], sizeof(num[2]), "%lld", int_of(e,
		    "grace_months"));
		snprintf(num[3], sizeof(num[3]), "%lld", int_of(e,
		    "grace_percent"));
		snprintf(num[4], sizeof(num[4]), "%lld", int_of(e,
		    "standard_percent"));
		const char	*row[] = { str_of(e, "edition", ""), num[0],
		    str_of(e, "basis", ""), str_of(e, "on_expiry", ""), num[1],
		    num[2], num[3], num[4],
		    json_is_true(json_object_get(e, "requires_subscription")) ?
		    "required" : "-" };

		table_row(&t, row);
	}
	table_print(&t);
}

/* release publish: one line. */
void
print_release_published(const struct opts *o, json_t *r)
{
	(void)o;
	printf("published %s %s, dated %s\n", str_of(r, "product", "?"),
	    str_of(r, "version", "?"), str_of(r, "date", "?"));
}

/* release withdraw: one line. */
void
print_release_withdrawn(const struct opts *o, json_t *r)
{
	(void)o;
	printf("withdrew %s %s (dated %s)\n", str_of(r, "product", "?"),
	    str_of(r, "version", "?"), str_of(r, "date", "?"));
}

/* release list: a table. */
void
print_releases(const struct opts *o, json_t *list)
{
	static const char *const head[] = { "VERSION", "DATE", "STATE",
	    "SHA256", "URL" };
	struct table	 t = { .ncols = 5 };
	json_t		*r;
	size_t		 i;

	(void)o;
	table_row(&t, head);
	json_array_foreach(list, i, r) {
		const char	*row[] = { str_of(r, "version", ""),
		    str_of(r, "date", ""), str_of(r, "state", ""),
		    str_of(r, "sha256", "-"), str_of(r, "url", "-") };

		table_row(&t, row);
	}
	table_print(&t);
}

/* Member name of k, or else of common (NULL: none). */
static json_t *
member_of(json_t *k, json_t *common, const char *name)
{
	json_t	*v = json_object_get(k, name);

	return v != NULL || common == NULL ? v : json_object_get(common, name);
}

/*
 * key issue: the key alone on stdout (KEY=$(keygate-admin key issue ...)),
 * what it is on stderr. A streamed issue's results carry key, regno and
 * serial, and the members all its keys share come in common (or NULL).
 */
void
print_key_issued_in(const struct opts *o, json_t *k, json_t *common)
{
	const char	*sx = json_string_value(member_of(k, common,
			    "support_expiry"));
	const char	*regno = json_string_value(member_of(k, common,
			    "regno"));
	const char	*key = json_string_value(member_of(k, common, "key"));

	(void)o;
	printf("%s\n", key != NULL ? key : "");
	if (regno == NULL)
		regno = "?";
	if (json_is_true(member_of(k, common, "trial")))
		fprintf(stderr, "issued %s, trial until %s\n", regno,
		    sx != NULL ? sx : "?");
	else if (sx != NULL)
		fprintf(stderr, "issued %s, support until %s\n", regno, sx);
	else
		fprintf(stderr, "issued %s, support for %lld months from its "
		    "first activation\n", regno, json_integer_value(member_of(k,
		    common, "support_months")));
}

/* key issue: one key (as print_key_issued_in prints it). */
void
print_key_issued(const struct opts *o, json_t *k)
{
	print_key_issued_in(o, k, NULL);
}

/* key issue --count N: each key as print_key_issued does. */
void
print_keys_issued(const struct opts *o, json_t *list)
{
	json_t	*k;
	size_t	 i;

	json_array_foreach(list, i, k)
		print_key_issued(o, k);
}

/* key show: one field a line. */
void
print_key(const struct opts *o, json_t *k)
{
	const char	*sx = str_of(k, "support_expiry", NULL);
	const char	*lx = str_of(k, "license_expiry", NULL);
	const char	*why = str_of(k, "state_reason", NULL);

	(void)o;
	printf("key:             %s\n", str_of(k, "key", ""));
	printf("regno:           %s\n", str_of(k, "regno", ""));
	printf("serial:          %lld\n", int_of(k, "serial"));
	printf("product:         %s\n", str_of(k, "product", ""));
	printf("edition:         %s\n", str_of(k, "edition", ""));
	printf("licensee:        %s\n", str_of(k, "licensee", ""));
	printf("created:         %s\n", str_of(k, "created", ""));
	if (sx != NULL)
		printf("support expiry:  %s\n", sx);
	else
		printf("support expiry:  not fixed yet (%lld months from the "
		    "first activation)\n", int_of(k, "support_months"));
	/* Not fixed: on-expiry demo editions fix it with support. */
	printf("license expiry:  %s\n", lx != NULL ? lx : sx == NULL ?
	    "not fixed yet" : "perpetual");
	printf("support months:  %lld\n", int_of(k, "support_months"));
	printf("trial:           %s\n",
	    json_is_true(json_object_get(k, "trial")) ? "yes" : "no");
	printf("revision:        %lld\n", int_of(k, "revision"));
	printf("state:           %s%s%s%s\n", str_of(k, "state", ""),
	    why != NULL ? " (" : "", why != NULL ? why : "",
	    why != NULL ? ")" : "");
}

/* key list: a table. */
void
print_keys(const struct opts *o, json_t *list)
{
	static const char *const head[] = { "REGNO", "SERIAL", "PRODUCT",
	    "EDITION", "CREATED", "SUPPORT", "LICENSE", "STATE", "LICENSEE" };
	struct table	 t = { .ncols = 9 };
	json_t		*k;
	size_t		 i;
	char		 serial[24];

	(void)o;
	table_row(&t, head);
	json_array_foreach(list, i, k) {
		snprintf(serial, sizeof(serial), "%lld", int_of(k, "serial"));
		const char	*row[] = { str_of(k, "regno", ""), serial,
		    str_of(k, "product", ""), str_of(k, "edition", ""),
		    str_of(k, "created", ""),
		    str_of(k, "support_expiry", "activation"),
		    str_of(k, "license_expiry",
		    json_is_null(json_object_get(k, "support_expiry")) ? "-" :
		    "perpetual"),
		    str_of(k, "state", ""), str_of(k, "licensee", "") };

		table_row(&t, row);
	}
	table_print(&t);
}
