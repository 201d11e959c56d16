#!/usr/bin/env bash
# The hot path allocates next to nothing (issue 7 item 4): keygated runs
# with an allocation counter preloaded (tests/tools/malloccount, read with
# SIGUSR2), kgbench sends 2,000 checks over 8 connections to warm every
# cache and buffer up, and then 20,000 more, every reply's nonce checked
# and one in 100 signatures verified. Between the two readings keygated
# may make at most 1.05 malloc, calloc or realloc calls a check: one is
# libevent's, the chain its input buffer takes for each read (found with
# a counter that kept each call's return address: 10,016 such calls for
# 10,000 checks, and 8 others for each new connection, 5 of them
# libevent's); keygated's own code makes none, and one of its own would
# make it 2. Its signer process is not counted (nothing is preloaded
# there). Sanitizer builds interpose the allocator themselves: there the
# test says so and checks nothing.
. "$(dirname "$0")/lib.sh"

if grep -q "^KG_SANITIZE:BOOL=ON" "$KG_BUILD/CMakeCache.txt" 2>/dev/null; then
	echo "skipped: a sanitizer build interposes malloc itself"
	kg_done
fi
SHIM=$KG_BUILD/tests/libkgmalloccount.so
KGBENCH=$KG_BUILD/tests/bench/kgbench
COUNT=$T/mallocs

D=$T/d
kg_init "$D"
LD_PRELOAD=$SHIM KG_MALLOC_COUNT_FILE=$COUNT kg_start "$D" || exit 1
kg_product HOT "Hot Ltd"
adm key issue HOT STD --licensee "Hot Ltd" --count 500 >"$T/keys.txt" 2>/dev/null
expect_eq "500 keys issued" "$(wc -l <"$T/keys.txt")" 500

# mallocs: keygated's allocation calls so far.
mallocs() {
	rm -f "$COUNT"
	kill -USR2 "$KG_PID"
	kg_wait_file "$COUNT" 5 && sleep 0.1
	cat "$COUNT"
}

# load N: N checks over 8 connections; its replies (every one must come).
load() {
	"$KGBENCH" --port "$KG_PORT" --keys "$T/keys.txt" --pubkey "$D/signing.pub" \
	    --connections 8 --count "$1" --duration 60 >"$T/load.out" 2>&1
	awk '/^errors: / { e = $2 } /^replies: / { r = $2 } END { print (e == 0 ? r : -1) }' \
	    "$T/load.out"
}

expect_eq "warm-up: 2,000 checks answered" "$(load 2000)" 2000
c0=$(mallocs)
replies=$(load 20000)
c1=$(mallocs)
expect_eq "20,000 checks answered, every reply right" "$replies" 20000
per=$(awk -v a="$c0" -v b="$c1" -v n="$replies" 'BEGIN { printf "%.3f", (b - a) / n }')
echo "      $((c1 - c0)) allocation calls for $replies checks: $per a check"
check "at most libevent's one allocation a check ($per)" \
    awk -v p="$per" 'BEGIN { exit !(p >= 0 && p <= 1.05) }'

kg_done
