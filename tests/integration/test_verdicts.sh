#!/usr/bin/env bash
# Every row of SPEC section 2 end to end: keygate-admin sets up products,
# editions, releases and keys on a real keygated; `keygate --json check`
# asks; the verdict, reason, eligible/latest, dates and the exit codes of
# SPEC section 5 (0 update/current, 10 fallback, 11 demo) are checked.
# Dates are relative to today, computed with $KG_PY.
. "$(dirname "$0")/lib.sh"

# ---- a second data dir: its signing key is not trusted by the first -------
D2=$T/other
kg_init "$D2"
kg_start "$D2" || exit 1
adm product add PROD --name "Other vendor" --price 100 >/dev/null &&
    adm edition add PROD PROF >/dev/null || { echo "setup of $D2 failed" >&2; exit 1; }
FOREIGN=$(adm --json key issue PROD PROF --licensee "Elsewhere" | jget key)
kg_stop

# ---- the vendor under test -------------------------------------------------
D=$T/data
kg_init "$D"
kg_start "$D" --log-level debug || exit 1

TODAY=$(day 0)
CREATED=$(months "$TODAY" -7)		# key created 7 months ago
EXPIRY=$(months "$CREATED" 6)		# support ended about a month ago
plus() {	# DATE N: DATE + N days
	"$KG_PY" -c 'import datetime, sys
print(datetime.date.fromisoformat(sys.argv[1]) + datetime.timedelta(days=int(sys.argv[2])))' "$1" "$2"
}

setup() {
	adm product add PROD --name "Housing accounting" --price 7990 &&
	adm product add OTHER --name "Another product" --price 100 &&
	adm edition add PROD PROF --support-months 6 --on-expiry fallback &&
	adm edition add PROD BASE --support-months 6 --on-expiry demo &&
	adm edition add PROD RUN --support-months 6 &&
	adm edition add PROD ACT --support-months 3 --basis activation &&
	adm edition add OTHER STD &&
	adm release publish PROD 1.0.0 --date "$(plus "$CREATED" -10)" &&
	adm release publish PROD 1.1.0 --date "$(plus "$EXPIRY" -10)" &&
	adm release publish PROD 1.2.0 --date "$EXPIRY" &&
	adm release publish PROD 2.0.9 --date "$(plus "$EXPIRY" 1)" &&
	adm release publish PROD 2.0.10 --date "$(plus "$EXPIRY" 5)" &&
	adm release publish PROD 2.1.0 --date "$(day -1)" &&
	adm release withdraw PROD 2.1.0 &&
	adm release publish PROD 3.0.0 --date "$(day 1)" &&
	adm release publish OTHER 1.0.0 --date "$(day -3)"
}
setup >"$T/setup.out" 2>&1 || { cat "$T/setup.out" >&2; echo "setup failed" >&2; exit 1; }

issue() {	# EDITION [ARGS]: prints the key text
	local ed=$1
	shift
	adm --json key issue PROD "$ed" --licensee "Licensee $ed" "$@" | jget key
}
PROF_KEY=$(issue PROF --created "$CREATED")
BASE_KEY=$(issue BASE --created "$CREATED")
RUN_KEY=$(issue RUN)
ACT_JSON=$(adm --json key issue PROD ACT --licensee "Licensee ACT")
ACT_KEY=$(printf '%s\n' "$ACT_JSON" | jget key)
for k in PROF_KEY BASE_KEY RUN_KEY ACT_KEY FOREIGN; do
	[ -n "${!k}" ] || { echo "no key for $k" >&2; exit 1; }
done
expect_eq "activation key: no support expiry before the first check" \
    "$(printf '%s\n' "$ACT_JSON" | jget support_expiry)" ""

# vcheck NAME EXIT VERDICT REASON ELIGIBLE LATEST -- keygate check arguments
vcheck() {
	local name=$1 want_rc=$2 want_v=$3 want_r=$4 want_e=$5 want_l=$6 rc
	shift 7
	OUT=$(cli --json check "$@" 2>"$T/err")
	rc=$?
	expect_eq "$name: exit code" "$rc" "$want_rc"
	expect_eq "$name: verdict" "$(printf '%s\n' "$OUT" | jget verdict)" "$want_v"
	expect_eq "$name: reason" "$(printf '%s\n' "$OUT" | jget reason)" "$want_r"
	[ "$want_e" = "*" ] ||
	    expect_eq "$name: eligible" "$(printf '%s\n' "$OUT" | jget eligible)" "$want_e"
	[ "$want_l" = "*" ] ||
	    expect_eq "$name: latest" "$(printf '%s\n' "$OUT" | jget latest)" "$want_l"
	if [ "$rc" -ne "$want_rc" ] && [ -s "$T/err" ]; then
		echo "      stderr: $(head -c 300 "$T/err")"
	fi
}
field() { printf '%s\n' "$OUT" | jget "$1"; }

# ---- PROF-like: 6 months, fallback; support ended about a month ago -------
vcheck "PROF installed = newest before expiry" 10 fallback support_expired 1.2.0 2.0.10 -- \
    --key "$PROF_KEY" --product PROD --version 1.2.0
expect_eq "PROF fallback: support_expiry" "$(field support_expiry)" "$EXPIRY"
expect_eq "PROF fallback: license_expiry" "$(field license_expiry)" ""
expect_eq "PROF fallback: days_left" "$(field days_left)" 0
expect_eq "PROF fallback: quote kind (within the grace month)" \
    "$(field quote.kind)" "$( [ "$TODAY" \> "$(months "$EXPIRY" 1)" ] && echo standard || echo grace)"
vcheck "PROF installed older" 0 update support_expired 1.2.0 2.0.10 -- \
    --key "$PROF_KEY" --product PROD --version 1.1.0
vcheck "PROF installed oldest" 0 update support_expired 1.2.0 2.0.10 -- \
    --key "$PROF_KEY" --product PROD --version 1.0.0
vcheck "PROF installed after expiry" 11 demo not_eligible 1.2.0 2.0.10 -- \
    --key "$PROF_KEY" --product PROD --version 2.0.9
vcheck "PROF target after expiry" 11 demo not_eligible 1.2.0 2.0.10 -- \
    --key "$PROF_KEY" --product PROD --version 1.2.0 --target 2.0.10
vcheck "PROF target = eligible" 0 update support_expired 1.2.0 2.0.10 -- \
    --key "$PROF_KEY" --product PROD --version 1.1.0 --target 1.2.0

# ---- BASE-like: on-expiry demo, same dates --------------------------------
vcheck "BASE expired" 11 demo license_expired "*" "*" -- \
    --key "$BASE_KEY" --product PROD --version 1.2.0
expect_eq "BASE: license_expiry = support_expiry" "$(field license_expiry)" "$EXPIRY"

# ---- running support -------------------------------------------------------
SIXM=$(months "$TODAY" 6)
vcheck "running: update to newest" 0 update ok 2.0.10 2.0.10 -- \
    --key "$RUN_KEY" --product PROD --version 1.0.0
expect_eq "running: support_expiry" "$(field support_expiry)" "$SIXM"
expect_eq "running: days_left" "$(field days_left)" \
    "$("$KG_PY" -c 'import datetime, sys
print((datetime.date.fromisoformat(sys.argv[1]) - datetime.date.fromisoformat(sys.argv[2])).days)' "$SIXM" "$TODAY")"
expect_eq "running: quote kind" "$(field quote.kind)" early
expect_eq "running: quote price (25% of 7990)" "$(field quote.price)" 1998.00
expect_eq "running: quote new expiry" "$(field quote.new_expiry)" "$(months "$SIXM" 12)"
vcheck "running: 2.0.10 is newer than 2.0.9" 0 update ok 2.0.10 2.0.10 -- \
    --key "$RUN_KEY" --product PROD --version 2.0.9
vcheck "running: current on the newest" 0 current ok 2.0.10 2.0.10 -- \
    --key "$RUN_KEY" --product PROD --version 2.0.10
# 2.1.0 was withdrawn, 3.0.0 is dated tomorrow: neither is ever offered.
vcheck "running: withdrawn and scheduled releases invisible" 0 update ok 2.0.10 2.0.10 -- \
    --key "$RUN_KEY" --product PROD --version 1.2.0

# ---- bad keys ----------------------------------------------------------------
TAMPERED=$("$KG_PY" -c 'import sys
k = sys.argv[1]; i = len(k) // 3
print(k[:i] + ("A" if k[i] != "A" else "B") + k[i + 1:])' "$RUN_KEY")
vcheck "tampered key" 11 demo bad_key "" "" -- \
    --key "$TAMPERED" --product PROD --version 1.0.0
vcheck "key for another product" 11 demo wrong_product "*" "*" -- \
    --key "$RUN_KEY" --product OTHER --version 1.0.0
vcheck "key signed by another data dir's key" 11 demo bad_key "" "" -- \
    --key "$FOREIGN" --product PROD --version 1.0.0
vcheck "garbage key text" 11 demo bad_key "" "" -- \
    --key "KG1.not-a-key.at-all" --product PROD --version 1.0.0

# ---- revoked: demo with the vendor's reason ---------------------------------
REV_JSON=$(adm --json key issue PROD RUN --licensee "Refunded Ltd")
REV_KEY=$(printf '%s\n' "$REV_JSON" | jget key)
adm key revoke "$(printf '%s\n' "$REV_JSON" | jget regno)" --reason "refund 2026-17" >/dev/null
vcheck "revoked key" 11 demo revoked "*" "*" -- \
    --key "$REV_KEY" --product PROD --version 1.0.0
expect_eq "revoked: detail is the reason" "$(field detail)" "refund 2026-17"

# ---- activation basis: the first check fixes the expiry ---------------------
ACT_EXPIRY=$(months "$TODAY" 3)
vcheck "activation: first check" 0 update ok 2.0.10 2.0.10 -- \
    --key "$ACT_KEY" --product PROD --version 1.0.0
expect_eq "activation: support_expiry = today + 3 months" "$(field support_expiry)" "$ACT_EXPIRY"
NEW_KEY=$(field key)
check "activation: the reply carries the re-signed key" test -n "$NEW_KEY"
check "activation: the re-signed key differs" test "$NEW_KEY" != "$ACT_KEY"
VOUT=$("$CLI" --json verify --key "$NEW_KEY" --pubkey "$D/signing.pub" 2>&1)
expect_eq "activation: re-signed key verifies offline" "$(printf '%s\n' "$VOUT" | jget valid)" true
expect_eq "activation: re-signed key carries the expiry" \
    "$(printf '%s\n' "$VOUT" | jget support_expiry)" "$ACT_EXPIRY"
expect_eq "activation: re-signed key is revision 2" "$(printf '%s\n' "$VOUT" | jget revision)" 2
vcheck "activation: the new key" 0 update ok 2.0.10 2.0.10 -- \
    --key "$NEW_KEY" --product PROD --version 1.0.0
expect_eq "activation: the new key is not re-signed again" "$(field key)" ""
check "activation: audited" sh -c "'$ADMIN' --data '$D' --json audit | grep -q license.activate"

kg_stop
kg_start "$D" --log-level debug || exit 1
vcheck "activation after restart: old key" 0 update ok 2.0.10 2.0.10 -- \
    --key "$ACT_KEY" --product PROD --version 1.0.0
expect_eq "activation after restart: same expiry" "$(field support_expiry)" "$ACT_EXPIRY"
check "activation after restart: old key gets the re-signed key" test -n "$(field key)"
RESIGNED=$(field key)
# resigns: "SIGNED KEPT", the debug lines of a re-signed old key so far.
resigns() {
	echo "$(grep -c 'presented revision 1 of 2: the current key re-signed' "$D/keygated.log")" \
	    "$(grep -c 'presented revision 1 of 2: the current key, as re-signed before' "$D/keygated.log")"
}
BEFORE=$(resigns)
vcheck "activation after restart: old key again" 0 update ok 2.0.10 2.0.10 -- \
    --key "$ACT_KEY" --product PROD --version 1.0.0
expect_eq "old key again: the same re-signed key" "$(field key)" "$RESIGNED"
expect_eq "old key again: no new signature, the kept one (debug log)" "$(resigns)" \
    "${BEFORE% *} $((${BEFORE#* } + 1))"
vcheck "activation after restart: new key" 0 update ok 2.0.10 2.0.10 -- \
    --key "$NEW_KEY" --product PROD --version 1.0.0
expect_eq "activation after restart: new key, same expiry" "$(field support_expiry)" "$ACT_EXPIRY"

# ---- a product with more releases than a check keeps inline (32) -------------
# 2.1 .. 2.40, then 2.39 withdrawn: latest and eligible are 2.40, and after
# 2.40 is withdrawn too, 2.38. The list is cached per read snapshot; each
# publish or withdraw is a new one.
for i in $(seq 40); do
	adm release publish OTHER "2.$i" --date "$(day $((i - 100)))" >/dev/null ||
	    { echo "publish OTHER 2.$i failed" >&2; exit 1; }
done
adm release withdraw OTHER 2.39 >/dev/null
OTHER_KEY=$(adm --json key issue OTHER STD --licensee "Many Releases" | jget key)
vcheck "41 releases: the newest is found" 0 update ok 2.40 2.40 -- \
    --key "$OTHER_KEY" --product OTHER --version 2.1
vcheck "41 releases: from the newest" 0 current ok 2.40 2.40 -- \
    --key "$OTHER_KEY" --product OTHER --version 2.40
adm release withdraw OTHER 2.40 >/dev/null
vcheck "41 releases, 2.40 and 2.39 withdrawn: 2.38 is the newest" 0 update ok 2.38 2.38 -- \
    --key "$OTHER_KEY" --product OTHER --version 2.1

# ---- status: the key's own product, no verdict -------------------------------
OUT=$(cli --json status --key "$PROF_KEY" 2>"$T/err")
expect_eq "status: reason" "$(field reason)" support_expired
expect_eq "status: support_expiry" "$(field support_expiry)" "$EXPIRY"

check "no key text in the daemon log" \
    test "$(grep -c -F "${RUN_KEY:4:40}" "$D/keygated.log")" -eq 0
kg_stop
kg_done
