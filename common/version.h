/*
 * Release versions: dot-separated decimal components compared numerically,
 * component by component ("2.0.10" > "2.0.9"; "8.3.1.12" is fine).
 */
#ifndef KG_VERSION_H
#define KG_VERSION_H

#include <stddef.h>
#include <stdint.h>

#include "kglimits.h"

struct kg_version {
	uint32_t	part[KG_VERSION_PARTS_MAX];
	uint8_t		n;		/* number of components, 1..KG_VERSION_PARTS_MAX */
};

/*
 * Parse "N(.N)*": 1 to KG_VERSION_PARTS_MAX components, each decimal digits
 * without a leading zero (except "0" itself), at most 9 digits. Anything else
 * (empty components, signs, spaces, letters) is refused. 0 or -1.
 */
int	version_parse(const char *s, struct kg_version *out);

/* Compare numerically; missing trailing components count as 0 (2.0 == 2.0.0). */
int	version_cmp(const struct kg_version *a, const struct kg_version *b);

/* Canonical text of v into out (KG_VERSION_TEXT_MAX bytes). */
void	version_format(const struct kg_version *v, char out[KG_VERSION_TEXT_MAX]);

#endif
