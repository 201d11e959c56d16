/*
 * Release versions: strict parsing of "N(.N)*", numeric component-wise
 * comparison and canonical text. A parsed component has at most 9 digits,
 * so it always fits a uint32_t and eight of them fit KG_VERSION_TEXT_MAX.
 */
#include <stdint.h>
#include <string.h>

#include "version.h"

#define VERSION_DIGITS_MAX	9

/* Parse "N(.N)*" strictly (see version.h). 0 or -1; out is untouched on failure. */
int
version_parse(const char *s, struct kg_version *out)
{
	struct kg_version	v;
	const char		*start;

	if (s == NULL || out == NULL)
		return -1;
	memset(&v, 0, sizeof(v));
	for (;;) {
		if (v.n == KG_VERSION_PARTS_MAX)
			return -1;
		start = s;
		while (*s >= '0' && *s <= '9') {
			if (s - start == VERSION_DIGITS_MAX)
				return -1;
			v.part[v.n] = v.part[v.n] * 10 + (uint32_t)(*s - '0');
			s++;
		}
		if (s == start || (*start == '0' && s - start > 1))
			return -1;
		v.n++;
		if (*s == '\0')
			break;
		if (*s++ != '.')
			return -1;
	}
	*out = v;
	return 0;
}

/* Compare numerically; missing trailing components count as 0 (2.0 == 2.0.0). */
int
version_cmp(const struct kg_version *a, const struct kg_version *b)
{
	uint32_t	x, y;
	int		i;

	for (i = 0; i < KG_VERSION_PARTS_MAX; i++) {
		x = i < a->n ? a->part[i] : 0;
		y = i < b->n ? b->part[i] : 0;
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/*
 * Canonical text of v into out. A version with no components is written as
 * "0" (it compares equal to 0); text that would not fit is truncated.
 */
void
version_format(const struct kg_version *v, char out[KG_VERSION_TEXT_MAX])
{
	char		digits[10];		/* a uint32_t has at most 10 */
	size_t		len = 0, k;
	uint32_t	u;
	int		i, n;

	/* By hand, not snprintf: every check formats two versions. */
	n = v->n > KG_VERSION_PARTS_MAX ? KG_VERSION_PARTS_MAX : v->n;
	if (n == 0)
		n = 1;		/* "0" */
	for (i = 0; i < n; i++) {
		u = v->n == 0 ? 0 : v->part[i];
		k = 0;
		do {
			digits[k++] = (char)('0' + u % 10);
			u /= 10;
		} while (u != 0);
		if (i > 0 && len < KG_VERSION_TEXT_MAX - 1)
			out[len++] = '.';
		while (k > 0 && len < KG_VERSION_TEXT_MAX - 1)
			out[len++] = digits[--k];
	}
	out[len] = '\0';
}
