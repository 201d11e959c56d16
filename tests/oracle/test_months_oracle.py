#!/usr/bin/python3
"""Independent oracle for keygate's calendar-month arithmetic (SPEC section 1).

Feeds (date, months) pairs to $KG_BUILD/tests/kg_datecalc in one run and
compares every answer with python3-dateutil's relativedelta(months=N), which
also keeps the day of month and clamps to the month's last day. The pairs are:
the SPEC examples, every month-end day of 1999..2031 and Feb 28/29 of leap and
non-leap years with every term of 1..36 months, and random dates from a fixed
seed (mostly terms of 1..36 months, some negative). Exits 1 on the first
mismatch, naming it.
"""
import calendar
import datetime
import os
import random
import subprocess
import sys

from dateutil.relativedelta import relativedelta

SEED = 20260131
SPEC_EXAMPLES = [
    ("2026-01-31", 1, "2026-02-28"),
    ("2024-01-31", 1, "2024-02-29"),
    ("2026-08-31", 6, "2027-02-28"),
]
BAD_LINES = ["2026-02-29 1", "2026-01-31", "2026-01-31 x", "2026-01-31 1201",
             "2026-1-31 1", "2026-01-31  1", "2026-01-31 1 "]


def pairs_build():
    """All (date, months) pairs to check, SPEC examples first."""
    pairs = [(datetime.date.fromisoformat(d), n) for d, n, _ in SPEC_EXAMPLES]
    special = []
    for y in range(1999, 2032):
        for m in range(1, 13):
            special.append(datetime.date(y, m, calendar.monthrange(y, m)[1]))
        special.append(datetime.date(y, 2, 28))  # not a month end in leap years
    for d in sorted(set(special)):
        pairs += [(d, n) for n in range(1, 37)]
    rng = random.Random(SEED)
    first = datetime.date(1970, 1, 1).toordinal()
    last = datetime.date(9996, 12, 31).toordinal()
    for i in range(12000):
        d = datetime.date.fromordinal(rng.randint(first, last))
        if i % 2:  # half of them on days 28..31, where clamping happens
            day = min(rng.randint(28, 31), calendar.monthrange(d.year, d.month)[1])
            d = d.replace(day=day)
        n = rng.randint(1, 36) if i % 6 else rng.randint(-36, -1)
        if d.year < 1973 and n < 0:
            n = -n
        pairs.append((d, n))
    return pairs


def main():
    tool = os.path.join(os.environ["KG_BUILD"], "tests", "kg_datecalc")
    if not os.access(tool, os.X_OK):
        print("%s is missing: build the tree first" % tool)
        return 1
    pairs = pairs_build()
    text = "".join("%s %d\n" % (d.isoformat(), n) for d, n in pairs)
    run = subprocess.run([tool], input=text, capture_output=True, text=True,
                         check=False)
    if run.returncode != 0:
        print("kg_datecalc failed (exit %d): %s" % (run.returncode, run.stderr.strip()))
        return 1
    answers = run.stdout.splitlines()
    if len(answers) != len(pairs):
        print("kg_datecalc printed %d lines for %d pairs" % (len(answers), len(pairs)))
        return 1
    print("comparing %d pairs with dateutil.relativedelta" % len(pairs))
    for (d, n), got in zip(pairs, answers):
        want = (d + relativedelta(months=n)).isoformat()
        if got != want:
            print("MISMATCH: %s %+d months: kg_datecalc %s, dateutil %s"
                  % (d.isoformat(), n, got, want))
            return 1
    for (d, n, want), got in zip(SPEC_EXAMPLES, answers):
        if got != want:
            print("SPEC example %s + %d months: got %s, want %s" % (d, n, got, want))
            return 1
    print("SPEC examples: %d checked" % len(SPEC_EXAMPLES))
    for line in BAD_LINES:
        bad = subprocess.run([tool], input=line + "\n", capture_output=True,
                             text=True, check=False)
        if bad.returncode == 0:
            print("kg_datecalc accepted the bad line %r" % line)
            return 1
    print("bad lines refused: %d" % len(BAD_LINES))
    print("%d passed, 0 failed" % len(pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
