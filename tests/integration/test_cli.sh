# keygate, the product-side CLI (and so libkeygate), against the real
# keygated: the verdicts and their exit codes, --json fields, the re-signed
# key written back to its file, offline verification, and the reply checks
# (forged, swapped, replayed, malformed and missing replies) driven through
# tests/integration/proxy.py. The daemon runs on a test clock fixed at
# 2026-06-01 so every date below is exact.
. "$(dirname "$0")/lib.sh"

TODAY=2026-06-01
D=$T/data
kg_init "$D"
kg_start "$D" --test-clock "$TODAY" || exit 1
PUB=$D/signing.pub

# ---- catalogue -------------------------------------------------------------
setup() {
	adm product add DEMO --name "Demo App" --price 7990 &&
	adm edition add DEMO STD &&
	adm edition add DEMO LITE --on-expiry demo &&
	adm edition add DEMO ACT --basis activation &&
	adm release publish DEMO 1.0 --date 2025-06-01 &&
	adm release publish DEMO 1.1 --date 2026-03-01
}
setup >"$T/setup.log" 2>&1 || { echo "setup failed: $(cat "$T/setup.log")"; exit 1; }

# issue EDITION LICENSEE CREATED: the key's JSON line.
issue() { adm --json key issue DEMO "$1" --licensee "$2" --created "$3"; }
issue STD "Old Co" 2025-01-15 >"$T/old.json"	# support to 2025-07-15: 1.0 only
issue STD "New Co" 2026-05-10 >"$T/new.json"	# support to 2026-11-10
issue STD "Grace Co" 2025-11-20 >"$T/grace.json"	# support to 2026-05-20, grace to 06-20
issue LITE "Lite Co" 2025-01-15 >"$T/lite.json"	# license ends with support
issue ACT "Act Co" 2026-05-01 >"$T/act.json"	# support counts from first check
for k in old new grace lite act; do
	jget key <"$T/$k.json" >"$T/$k.key"
	[ -s "$T/$k.key" ] || { echo "key issue $k failed: $(cat "$T/$k.json")"; exit 1; }
done

# run NAME CMD...: run CMD, keep its stdout, stderr and exit code in $T/NAME.*.
run() {
	local name=$1
	shift
	"$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
rc() { cat "$T/$1.rc"; }
out() { cat "$T/$1.out"; }
# The stderr lines of a run, less the test-clock warning every reply carries.
errlines() { grep -v 'runs on a test clock' "$T/$1.err"; }
errcount() { errlines "$1" | wc -l | tr -d ' '; }

# ---- verdicts and exit codes -----------------------------------------------
run upd cli check --key "$T/new.key" --product DEMO --version 1.0
expect_eq "update: exit 0" "$(rc upd)" 0
expect_eq "update: line" "$(out upd)" "update: install 1.1"
check "update: warns about the test clock" grep -q 'runs on a test clock' "$T/upd.err"

run cur cli check --key "$T/new.key" --product DEMO --version 1.1
expect_eq "current: exit 0" "$(rc cur)" 0
expect_eq "current: line" "$(out cur)" "current: 1.1 is the newest release"

run fb cli check --key "$T/old.key" --product DEMO --version 1.0
expect_eq "fallback: exit 10" "$(rc fb)" 10
expect_eq "fallback: line" "$(out fb)" \
    "fallback: stay on 1.0; 1.1 needs renewed support (support ended 2025-07-15); renewal: standard 3596.00 extends support to 2027-06-01"

run ne cli check --key "$T/old.key" --product DEMO --version 1.1
expect_eq "demo not_eligible: exit 11" "$(rc ne)" 11
check "demo not_eligible: line" grep -q '^demo: not_eligible — this key may run up to 1\.0' "$T/ne.out"

run tgt cli check --key "$T/old.key" --product DEMO --version 1.0 --target 1.1
expect_eq "--target not eligible: exit 11" "$(rc tgt)" 11

run lite cli check --key "$T/lite.key" --product DEMO --version 1.0
expect_eq "demo license_expired: exit 11" "$(rc lite)" 11
check "demo license_expired: line" grep -q '^demo: license_expired — the license ended 2025-07-15' "$T/lite.out"

run wp cli check --key "$T/new.key" --product OTHER --version 1.0
expect_eq "another product: exit 11" "$(rc wp)" 11

run keytext cli check --key "$(cat "$T/new.key")" --product DEMO --version 1.0
expect_eq "--key as text: exit 0" "$(rc keytext)" 0

# ---- --json ----------------------------------------------------------------
run jfb cli --json check --key "$T/old.key" --product DEMO --version 1.0
expect_eq "json fallback: exit 10" "$(rc jfb)" 10
expect_eq "json: one line" "$(wc -l <"$T/jfb.out" | tr -d ' ')" 1
expect_eq "json: verdict" "$(jget verdict <"$T/jfb.out")" fallback
expect_eq "json: reason" "$(jget reason <"$T/jfb.out")" support_expired
expect_eq "json: eligible" "$(jget eligible <"$T/jfb.out")" 1.0
expect_eq "json: latest" "$(jget latest <"$T/jfb.out")" 1.1
expect_eq "json: support_expiry" "$(jget support_expiry <"$T/jfb.out")" 2025-07-15
check "json: license_expiry null (perpetual)" grep -q '"license_expiry":null' "$T/jfb.out"
expect_eq "json: days_left" "$(jget days_left <"$T/jfb.out")" 0
expect_eq "json: quote.kind" "$(jget quote.kind <"$T/jfb.out")" standard
expect_eq "json: quote.price" "$(jget quote.price <"$T/jfb.out")" 3596.00
expect_eq "json: quote.new_expiry" "$(jget quote.new_expiry <"$T/jfb.out")" 2027-06-01
expect_eq "json: regno" "$(jget regno <"$T/jfb.out")" "$(jget regno <"$T/old.json")"
check "json: no key when not re-signed" sh -c "! grep -q '\"key\"' '$T/jfb.out'"

run jgr cli --json check --key "$T/grace.key" --product DEMO --version 1.1
expect_eq "json grace: verdict" "$(jget verdict <"$T/jgr.out")" current
expect_eq "json grace: quote.kind" "$(jget quote.kind <"$T/jgr.out")" grace
expect_eq "json grace: quote.price" "$(jget quote.price <"$T/jgr.out")" 1998.00
expect_eq "json grace: quote.new_expiry" "$(jget quote.new_expiry <"$T/jgr.out")" 2027-05-20

run jlite cli --json check --key "$T/lite.key" --product DEMO --version 1.0
expect_eq "json lite: license_expiry" "$(jget license_expiry <"$T/jlite.out")" 2025-07-15

run jst cli --json status --key "$T/new.key"
expect_eq "status: exit 0" "$(rc jst)" 0
expect_eq "status: state" "$(jget state <"$T/jst.out")" active
expect_eq "status: support_expiry" "$(jget support_expiry <"$T/jst.out")" 2026-11-10
expect_eq "status: days_left" "$(jget days_left <"$T/jst.out")" 162
check "status: license_expiry null" grep -q '"license_expiry":null' "$T/jst.out"
expect_eq "status: regno" "$(jget regno <"$T/jst.out")" "$(jget regno <"$T/new.json")"

# ---- a key re-signed on its first check is written back to its file --------
cp "$T/act.key" "$T/act.orig"
chmod 640 "$T/act.key"
run jact cli --json check --key "$T/act.key" --product DEMO --version 1.0
expect_eq "activation basis: exit 0" "$(rc jact)" 0
expect_eq "activation basis: support fixed from today" \
    "$(jget support_expiry <"$T/jact.out")" 2026-12-01
expect_eq "activation basis: json key is the file's new key" \
    "$(jget key <"$T/jact.out")" "$(cat "$T/act.key")"
check "activation basis: key file replaced" sh -c "! cmp -s '$T/act.key' '$T/act.orig'"
expect_eq "activation basis: file mode kept" "$(stat -c %a "$T/act.key")" 640
check "activation basis: no temporary file left" test ! -e "$T/act.key.tmp"
run vact cli --json verify --key "$T/act.key"
expect_eq "re-signed key verifies: revision 2" "$(jget revision <"$T/vact.out")" 2
expect_eq "re-signed key verifies: support_expiry" \
    "$(jget support_expiry <"$T/vact.out")" 2026-12-01

# ---- offline verification ----------------------------------------------------
run vok "$CLI" --json verify --key "$T/new.key" --pubkey "$PUB"
expect_eq "verify good key: exit 0" "$(rc vok)" 0
expect_eq "verify: valid" "$(jget valid <"$T/vok.out")" true
expect_eq "verify: product" "$(jget product <"$T/vok.out")" DEMO
expect_eq "verify: edition" "$(jget edition <"$T/vok.out")" STD
expect_eq "verify: regno" "$(jget regno <"$T/vok.out")" "$(jget regno <"$T/new.json")"
expect_eq "verify: licensee" "$(jget licensee <"$T/vok.out")" "New Co"
expect_eq "verify: created" "$(jget created <"$T/vok.out")" 2026-05-10
expect_eq "verify: support_expiry" "$(jget support_expiry <"$T/vok.out")" 2026-11-10
check "verify: license_expiry null" grep -q '"license_expiry":null' "$T/vok.out"
expect_eq "verify: trial" "$(jget trial <"$T/vok.out")" false
expect_eq "verify: revision" "$(jget revision <"$T/vok.out")" 1

run vpre "$CLI" --pubkey "$PUB" verify --key "$T/new.key"
expect_eq "verify with --pubkey before the command: exit 0" "$(rc vpre)" 0
check "verify: readable line" grep -q '^valid: DEMO STD, regno ' "$T/vpre.out"

# Tamper with one character in the middle of the payload part.
kg_tamper_key "$T/new.key" >"$T/tampered.key"
run vbad "$CLI" verify --key "$T/tampered.key" --pubkey "$PUB"
expect_eq "verify tampered key: exit 11" "$(rc vbad)" 11
check "verify tampered key: reason on stderr" grep -q 'the key is invalid' "$T/vbad.err"
expect_eq "verify tampered key: one line" "$(errcount vbad)" 1

# A public key that is not the vendor's.
kg_other_pubkey >"$T/other.pub"
run vother "$CLI" verify --key "$T/new.key" --pubkey "$T/other.pub"
expect_eq "verify against another vendor's key: exit 11" "$(rc vother)" 11

# ---- a reply that cannot be trusted -------------------------------------------
run untr "$CLI" --server "127.0.0.1:$KG_PORT" --pubkey "$T/other.pub" \
    check --key "$T/new.key" --product DEMO --version 1.0
expect_eq "other --pubkey: exit 2" "$(rc untr)" 2
check "other --pubkey: untrusted" grep -q 'not signed by a trusted key' "$T/untr.err"
expect_eq "other --pubkey: one line" "$(errcount untr)" 1

pcli() {
	"$CLI" --timeout 2000 --server "127.0.0.1:$PPORT" --pubkey "$PUB" \
	    check --key "$T/new.key" --product DEMO --version 1.0
}

# rejected NAME MODE TEXT: a check through the proxy in MODE exits 2 with one
# stderr line containing TEXT.
rejected() {
	kg_proxy "$2"
	run "$1" pcli
	kg_proxy_stop
	expect_eq "$2: exit 2" "$(rc "$1")" 2
	check "$2: reason" grep -q "$3" "$T/$1.err"
	expect_eq "$2: one line" "$(errcount "$1")" 1
	check "$2: nothing on stdout" test ! -s "$T/$1.out"
}

kg_proxy pass
run ppass pcli
run ppass2 pcli
kg_proxy_stop
expect_eq "proxy pass: exit 0" "$(rc ppass)" 0
expect_eq "proxy pass: line" "$(out ppass)" "update: install 1.1"
expect_eq "proxy pass, again: exit 0" "$(rc ppass2)" 0

rejected pflip flip-byte 'not signed by a trusted key'
rejected pswap swap 'answers another request'
rejected pover oversize 'malformed'
rejected pgarb garbage 'malformed'
rejected pclose close 'closed the connection'
rejected pstall stall 'did not answer in time'

kg_proxy replay
run prec pcli
run prep pcli
kg_proxy_stop
expect_eq "replay: the recorded exchange passes" "$(rc prec)" 0
expect_eq "replay: exit 2" "$(rc prep)" 2
check "replay: reason" grep -q 'nonce' "$T/prep.err"
expect_eq "replay: one line" "$(errcount prep)" 1

# ---- failover and addresses ----------------------------------------------------
DEAD=$(kg_free_port)
run fo "$CLI" --server "127.0.0.1:$DEAD" --server "localhost:$KG_PORT" \
    --pubkey "$PUB" check --key "$T/new.key" --product DEMO --version 1.0
expect_eq "failover to the second server: exit 0" "$(rc fo)" 0

# ---- usage ---------------------------------------------------------------------
run u1 cli check --key "$T/new.key" --version 1.0
expect_eq "usage: check without --product: exit 1" "$(rc u1)" 1
run u2 cli check --key "$T/missing.key" --product DEMO --version 1.0
expect_eq "usage: unreadable key file: exit 1" "$(rc u2)" 1
check "usage: unreadable key file says so" grep -q 'cannot read key file' "$T/u2.err"
run u3 cli check --key "$T/new.key" --product DEMO --version 1.x
expect_eq "usage: bad version: exit 1" "$(rc u3)" 1
run u4 "$CLI" --server "127.0.0.1:$KG_PORT" check --key "$T/new.key" --product DEMO --version 1.0
expect_eq "usage: no --pubkey: exit 1" "$(rc u4)" 1
run u5 cli activate --key "$(cat "$T/new.key")" --act 1
expect_eq "usage: activate needs a key file: exit 1" "$(rc u5)" 1
run u6 cli frobnicate
expect_eq "usage: unknown command: exit 1" "$(rc u6)" 1
run u7 "$CLI" --help
expect_eq "--help: exit 0" "$(rc u7)" 0

# ---- activate: an act number the vendor never registered is refused ------------
cp "$T/new.key" "$T/new.orig"
run act cli activate --key "$T/new.key" --act NOPE-1
case $(rc act) in
12)	check "activate unknown act: act_unknown" grep -q 'act_unknown' "$T/act.err" ;;
2)	# keygated without renew.c answers activation with an Error reply.
	check "activate unserved: says so" grep -q 'not served' "$T/act.err" ;;
*)	expect_eq "activate unknown act: exit 12 (or 2 while unserved)" "$(rc act)" 12 ;;
esac
check "activate refused: key file unchanged" cmp -s "$T/new.key" "$T/new.orig"

# ---- server down -----------------------------------------------------------------
kg_stop
run down "$CLI" --server "127.0.0.1:$KG_PORT" --pubkey "$PUB" \
    check --key "$T/new.key" --product DEMO --version 1.0
expect_eq "server down: exit 2" "$(rc down)" 2
check "server down: says what to do" grep -q 'cannot reach the keygate server.*keygated is running' "$T/down.err"
expect_eq "server down: one line" "$(errcount down)" 1

kg_done
