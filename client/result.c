/*
 * libkeygate's results: allocation, the strings a result owns, and the
 * kg_result_* accessors. A result is a plain copy of a verified reply (or
 * of a verified key, or of an offline answer); its strings stay valid until
 * kg_result_free().
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* A zeroed result, or NULL. */
kg_result *
result_new(void)
{
	return calloc(1, sizeof(kg_result));
}

/* Free a result and its strings. */
void
kg_result_free(kg_result *r)
{
	if (r == NULL)
		return;
	free(r->verdict);
	free(r->reason);
	free(r->detail);
	free(r->eligible);
	free(r->latest);
	free(r->key);
	free(r->regno);
	free(r->licensee);
	free(r->product);
	free(r->edition);
	free(r->state);
	free(r->renewal_act);
	free(r->error_reason);
	free(r->server);
	free(r);
}

/* *dst = copy of s, or NULL when s is NULL or empty. 0 or -1 (no memory). */
int
result_str(char **dst, const char *s)
{
	*dst = NULL;
	if (s == NULL || *s == '\0')
		return 0;
	return (*dst = strdup(s)) == NULL ? -1 : 0;
}

/* Replace *dst (freed) with a copy of s, as result_str. 0 or -1. */
int
result_set(char **dst, const char *s)
{
	char	*old = *dst;
	int	 rc;

	if ((rc = result_str(dst, s)) == -1) {
		*dst = old;
		return -1;
	}
	free(old);
	return 0;
}

/*
 * ---- result accessors: each is documented in keygate.h; all accept NULL.
 */

/* NULL for an empty text buffer. */
static const char *
result_text(const kg_result *r, const char *s)
{
	return r == NULL || s[0] == '\0' ? NULL : s;
}

const char *
kg_result_verdict(const kg_result *r)
{
	return r ? r->verdict : NULL;
}

const char *
kg_result_reason(const kg_result *r)
{
	return r ? r->reason : NULL;
}

const char *
kg_result_detail(const kg_result *r)
{
	return r ? r->detail : NULL;
}

const char *
kg_result_eligible(const kg_result *r)
{
	return r ? r->eligible : NULL;
}

const char *
kg_result_latest(const kg_result *r)
{
	return r ? r->latest : NULL;
}

const char *
kg_result_key(const kg_result *r)
{
	return r ? r->key : NULL;
}

const char *
kg_result_regno(const kg_result *r)
{
	return r ? r->regno : NULL;
}

const char *
kg_result_licensee(const kg_result *r)
{
	return r ? r->licensee : NULL;
}

const char *
kg_result_product(const kg_result *r)
{
	return r ? r->product : NULL;
}

const char *
kg_result_edition(const kg_result *r)
{
	return r ? r->edition : NULL;
}

const char *
kg_result_state(const kg_result *r)
{
	return r ? r->state : NULL;
}

const char *
kg_result_error_reason(const kg_result *r)
{
	return r ? r->error_reason : NULL;
}

const char *
kg_result_server(const kg_result *r)
{
	return r ? r->server : NULL;
}

const char *
kg_result_renewal_act(const kg_result *r)
{
	return r ? r->renewal_act : NULL;
}

int
kg_result_days_left(const kg_result *r)
{
	return r ? r->days_left : 0;
}

int
kg_result_has_quote(const kg_result *r)
{
	return r ? r->has_quote : 0;
}

int
kg_result_has_renewal(const kg_result *r)
{
	return r ? r->has_renewal : 0;
}

int
kg_result_renewal_months(const kg_result *r)
{
	return r ? r->renewal_months : 0;
}

int
kg_result_retry_after(const kg_result *r)
{
	return r ? r->retry_after : 0;
}

int64_t
kg_result_server_time(const kg_result *r)
{
	return r ? r->server_time : 0;
}

int
kg_result_test_clock(const kg_result *r)
{
	return r ? r->test_clock : 0;
}

int
kg_result_valid(const kg_result *r)
{
	return r ? r->valid : 0;
}

uint64_t
kg_result_serial(const kg_result *r)
{
	return r ? r->serial : 0;
}

unsigned int
kg_result_revision(const kg_result *r)
{
	return r ? r->revision : 0;
}

int
kg_result_trial(const kg_result *r)
{
	return r ? r->trial : 0;
}

unsigned int
kg_result_support_months(const kg_result *r)
{
	return r ? r->support_months : 0;
}

int64_t
kg_result_quote_price_minor(const kg_result *r)
{
	return r ? r->quote_price_minor : 0;
}

int64_t
kg_result_renewal_price_minor(const kg_result *r)
{
	return r ? r->renewal_price_minor : 0;
}


const char *
kg_result_support_expiry(const kg_result *r)
{
	return r ? result_text(r, r->support_expiry) : NULL;
}

const char *
kg_result_license_expiry(const kg_result *r)
{
	return r ? result_text(r, r->license_expiry) : NULL;
}

const char *
kg_result_created(const kg_result *r)
{
	return r ? result_text(r, r->created) : NULL;
}

const char *
kg_result_quote_kind(const kg_result *r)
{
	return r && r->has_quote ? result_text(r, r->quote_kind) : NULL;
}

const char *
kg_result_quote_price(const kg_result *r)
{
	return r && r->has_quote ? r->quote_price : NULL;
}

const char *
kg_result_quote_new_expiry(const kg_result *r)
{
	return r && r->has_quote ? result_text(r, r->quote_new_expiry) : NULL;
}

const char *
kg_result_renewal_kind(const kg_result *r)
{
	return r && r->has_renewal ? result_text(r, r->renewal_kind) : NULL;
}

const char *
kg_result_renewal_price(const kg_result *r)
{
	return r && r->has_renewal ? r->renewal_price : NULL;
}

const char *
kg_result_renewal_new_expiry(const kg_result *r)
{
	return r && r->has_renewal ? result_text(r, r->renewal_new_expiry) : NULL;
}

int
kg_result_offline(const kg_result *r)
{
	return r ? r->offline : 0;
}

int64_t
kg_result_age(const kg_result *r)
{
	return r ? r->age : 0;
}

int
kg_result_rollback(const kg_result *r)
{
	return r ? r->rollback : 0;
}
