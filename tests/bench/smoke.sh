# bench/smoke: kgbench works against the real keygated (behaviour, never
# speed). For about one second it sends update checks with 10 keys over 4
# connections and must report replies, no errors and verified signatures
# (an open-loop run also its server latency);
# with another vendor's public key every sampled signature must fail to
# verify (so a broken daemon cannot look fast); activations redeem each act
# once; the echo baseline answers frames of the size it was told; the
# crypto loop and the LMDB commit loop run the iterations they were asked
# for; and tests/bench/run is a valid bash script.
. "${KG_SOURCE:?KG_SOURCE must name the source dir}/tests/integration/lib.sh"

KGBENCH=$KG_BUILD/tests/bench/kgbench
KGECHO=$KG_BUILD/tests/bench/kgecho
ECHO_PID=
trap 'kg_cleanup; [ -z "$ECHO_PID" ] || kill -9 "$ECHO_PID" 2>/dev/null' EXIT

# field FILE NAME: the value of a "NAME: value" line of kgbench's output.
field() {
	awk -v n="$2" 'index($0, n ": ") == 1 { print substr($0, length(n) + 3); exit }' "$1"
}

gt0() { [ -n "$1" ] && [ "$1" -gt 0 ]; }

kg_init "$T/d"
kg_start "$T/d" || exit 1
adm product add BENCH --name "Benchmark" --price 7990 >/dev/null
adm edition add BENCH STD --support-months 12 >/dev/null
adm release publish BENCH 1.0 --date 2025-01-15 >/dev/null
adm release publish BENCH 1.1 --date 2025-06-01 >/dev/null
adm key issue BENCH STD --licensee "Bench Ltd" --count 10 >"$T/keys.txt" 2>/dev/null
expect_eq "10 keys issued" "$(grep -c '^KG1\.' "$T/keys.txt")" 10

# Checks for one second, every tenth reply's signature verified.
"$KGBENCH" --port "$KG_PORT" --keys "$T/keys.txt" --pubkey "$T/d/signing.pub" \
    --connections 4 --duration 1 --verify-every 10 --pid "$KG_PID" >"$T/run.out" 2>"$T/run.err"
expect_eq "kgbench exit status" "$?" 0
check "replies > 0" gt0 "$(field "$T/run.out" replies)"
expect_eq "replies = requests" "$(field "$T/run.out" replies)" "$(field "$T/run.out" requests)"
expect_eq "errors" "$(field "$T/run.out" errors)" 0
expect_eq "verify failures" "$(field "$T/run.out" verify_failed)" 0
expect_eq "demo verdicts" "$(field "$T/run.out" demo_replies)" 0
check "verified > 0" gt0 "$(field "$T/run.out" verified)"
check "server CPU time reported" grep -q '^server_cpu_us_per_reply: [0-9]' "$T/run.out"
check "latency p99 reported" grep -q '^latency_us_p99: [0-9]' "$T/run.out"

# Open loop at a fixed rate: the server latency (send to the kernel's
# receive stamp) is printed, and is never above the latency from the
# schedule (each request's is at most that); closed loop prints none.
"$KGBENCH" --port "$KG_PORT" --keys "$T/keys.txt" --pubkey "$T/d/signing.pub" \
    --connections 8 --duration 0.5 --rate 2000 >"$T/rate.out" 2>&1
expect_eq "open loop: exit status" "$?" 0
expect_eq "open loop: errors" "$(field "$T/rate.out" errors)" 0
check "open loop: server latency p99 reported" \
    grep -q '^server_latency_us_p99: [0-9]' "$T/rate.out"
check "open loop: server p99 <= p99 from the schedule" awk \
    -v s="$(field "$T/rate.out" server_latency_us_p99)" \
    -v l="$(field "$T/rate.out" latency_us_p99)" "BEGIN { exit !(s + 0 <= l + 0 && s + 0 > 0) }"
check "closed loop: no server latency" \
    sh -c "! grep -q '^server_latency' '$T/run.out'"

# A count bound ends the run before the time bound.
"$KGBENCH" --port "$KG_PORT" --keys "$T/keys.txt" --pubkey "$T/d/signing.pub" \
    --connections 2 --duration 30 --count 25 --verify-every 1 >"$T/count.out" 2>&1
expect_eq "count bound: requests" "$(field "$T/count.out" requests)" 25
expect_eq "count bound: verified" "$(field "$T/count.out" verified)" 25
expect_eq "count bound: warm-up, one per connection" \
    "$(field "$T/count.out" warmup_replies)" 2

# Another vendor's key (the test vectors' one): every reply fails to verify,
# the warm-up request of each of the 2 connections and the 20 of the run.
echo "KGP1.A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg" >"$T/other.pub"
"$KGBENCH" --port "$KG_PORT" --keys "$T/keys.txt" --pubkey "$T/other.pub" \
    --connections 2 --count 20 --verify-every 1 >"$T/bad.out" 2>&1
expect_eq "wrong pubkey: exit status" "$?" 2
expect_eq "wrong pubkey: verified" "$(field "$T/bad.out" verified)" 0
expect_eq "wrong pubkey: verify failures" "$(field "$T/bad.out" verify_failed)" 22
expect_eq "wrong pubkey: first error" "$(field "$T/bad.out" first_error)" \
    "reply signature does not verify"

# Activations: three acts, each redeemed once by its own key.
: >"$T/pairs.txt"
for i in 1 2 3; do
	adm act register "SMOKE-$i" --product BENCH --months 12 >/dev/null
	echo "$(sed -n "${i}p" "$T/keys.txt") SMOKE-$i" >>"$T/pairs.txt"
done
"$KGBENCH" --port "$KG_PORT" --acts "$T/pairs.txt" --pubkey "$T/d/signing.pub" \
    --connections 2 --duration 10 --verify-every 1 >"$T/acts.out" 2>&1
expect_eq "acts: renewed" "$(field "$T/acts.out" renewed)" 3
expect_eq "acts: refused" "$(field "$T/acts.out" refused)" 0
expect_eq "acts: verified" "$(field "$T/acts.out" verified)" 3

# The echo baseline: replies of the configured size, nothing to verify.
"$KGECHO" --port-file "$T/echo.port" --reply-size 200 >"$T/echo.log" 2>&1 &
ECHO_PID=$!
for i in $(seq 100); do [ -s "$T/echo.port" ] && break; sleep 0.1; done
"$KGBENCH" --echo --port "$(cat "$T/echo.port")" --keys "$T/keys.txt" \
    --connections 2 --duration 0.5 --pid "$ECHO_PID" >"$T/echo.out" 2>&1
expect_eq "echo: exit status" "$?" 0
check "echo: replies > 0" gt0 "$(field "$T/echo.out" replies)"
expect_eq "echo: reply frame bytes" "$(field "$T/echo.out" reply_bytes)" 204.0
kill -TERM "$ECHO_PID"
wait "$ECHO_PID"
expect_eq "echo: clean exit on SIGTERM" "$?" 0
ECHO_PID=

# The other baselines: what they were asked for, each a time above zero.
pos() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }
CRYPTOLOOP=$KG_BUILD/tests/bench/cryptoloop
"$CRYPTOLOOP" --iterations 20 --body-size 150 >"$T/crypto.out" 2>&1
expect_eq "cryptoloop: exit status (every key verified)" "$?" 0
expect_eq "cryptoloop: iterations" "$(field "$T/crypto.out" crypto_iterations)" 20
check "cryptoloop: a time per iteration" pos "$(field "$T/crypto.out" crypto_us_per_iteration)"
"$CRYPTOLOOP" --sign-only 20 >"$T/sign.out" 2>&1
expect_eq "cryptoloop --sign-only: signatures" "$(field "$T/sign.out" sign_count)" 20
check "cryptoloop --sign-only: a time per signature" pos "$(field "$T/sign.out" sign_us)"
mkdir "$T/lmdb"
"$KG_BUILD/tests/bench/lmdbcommit" --dir "$T/lmdb" --count 5 >"$T/lmdb.out" 2>&1
expect_eq "lmdbcommit: commits" "$(field "$T/lmdb.out" lmdb_commits)" 5
check "lmdbcommit: a rate" pos "$(field "$T/lmdb.out" lmdb_commits_per_s)"
check "tests/bench/run parses" bash -n "$KG_SOURCE/tests/bench/run"

kg_done
