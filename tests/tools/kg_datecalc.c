/*
 * kg_datecalc: reads lines "YYYY-MM-DD N" from stdin and prints
 * date_add_months(date, N) as "YYYY-MM-DD", one line per input line, so a
 * script can compare keygate's month arithmetic with an independent oracle
 * (tests/oracle/test_months_oracle.py). N is -KG_MONTHS_MAX..KG_MONTHS_MAX.
 * A malformed line stops it with exit status 1 and a message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"

/* Parse one "YYYY-MM-DD N" line (newline already removed). 0 or -1. */
static int
datecalc_line_parse(char *line, kg_date *d, int *months)
{
	char	*sp, *end;
	long	 n;

	if ((sp = strchr(line, ' ')) == NULL)
		return -1;
	*sp++ = '\0';
	if (date_parse(line, d) == -1)
		return -1;
	if (*sp == '\0' || *sp == ' ')
		return -1;
	n = strtol(sp, &end, 10);
	if (*end != '\0' || n < -KG_MONTHS_MAX || n > KG_MONTHS_MAX)
		return -1;
	*months = (int)n;
	return 0;
}

int
main(void)
{
	char	 line[128], out[KG_DATE_TEXT_LEN];
	size_t	 len;
	long	 lineno = 0;
	kg_date	 d;
	int	 months;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		lineno++;
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (len == sizeof(line) - 1)
			goto bad;	/* too long for any valid line */
		if (datecalc_line_parse(line, &d, &months) == -1)
			goto bad;
		date_format(date_add_months(d, months), out);
		printf("%s\n", out);
	}
	if (ferror(stdin) || fflush(stdout) == EOF) {
		fprintf(stderr, "kg_datecalc: read or write error\n");
		return 1;
	}
	return 0;
bad:
	fflush(stdout);
	fprintf(stderr, "kg_datecalc: line %ld: expected \"YYYY-MM-DD N\"\n",
	    lineno);
	return 1;
}
