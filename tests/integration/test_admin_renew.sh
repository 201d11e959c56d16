# The vendor's side of renewals through the real keygated and keygate-admin
# (issue 4): acts (register, show, list, void), key extend by the R7/R8
# rules (grace, standard and early, price 7990 -> 1998.00 / 3596.00, dates
# checked against dateutil), revoke / suspend / reinstate and what
# `keygate check` says meanwhile, subscriptions, the audit log (every change
# recorded, --since, --verify; one record altered directly in LMDB with
# kg_audit_tamper makes --verify exit 4 naming it) and a backup taken while
# keys are being issued, opened by a second keygated as a data dir.
. "$(dirname "$0")/lib.sh"

CLOCK=2026-05-15	# the daemon's test clock: "today"
TAMPER=$KG_BUILD/tests/kg_audit_tamper

D=$T/data
kg_init "$D"
kg_start "$D" --test-clock "$CLOCK" || exit 1

# rc_of CMD...: the exit code of CMD; stdout in $T/out, stderr in $T/err.
rc_of() {
	"$@" >"$T/out" 2>"$T/err"
	echo $?
}
# count CMD...: the lines CMD prints.
count() { "$@" | wc -l; }
# jfield FILE FIELD: a field of every JSON line of FILE, space-separated.
jfields() {
	"$KG_PY" -c 'import json, sys
print(" ".join(str(json.loads(l).get(sys.argv[2])) for l in open(sys.argv[1])))' "$1" "$2"
}

adm product add ZHKH8 --name "Housing services" --price 7990 >/dev/null
adm edition add ZHKH8 PROF >/dev/null
adm edition add ZHKH8 BASIC --on-expiry demo >/dev/null
adm release publish ZHKH8 1.0 --date 2025-12-01 >/dev/null
adm release publish ZHKH8 2.0 --date 2026-05-01 >/dev/null
AUDIT0=$(count adm --json audit)

# ---- acts ----
out=$(adm act register ACT-1 --product ZHKH8 --months 12)
expect_eq "act register: text" "$out" \
    "registered act ACT-1: ZHKH8, edition any, licensee any, 12 months"
out=$(adm --json act register 2026/77-B --product ZHKH8 --months 6 --edition PROF \
    --licensee 'ООО "Ромашка"')
for f in number:2026/77-B product:ZHKH8 edition:PROF 'licensee:ООО "Ромашка"' \
    months:6 state:open "registered_at:${CLOCK}T" "registered_by:admin uid=$(id -u) "; do
	want=${f#*:}
	got=$(echo "$out" | jget "${f%%:*}")
	# registered_at and registered_by: their beginnings (time, user name).
	case ${f%%:*} in registered_at|registered_by) got=${got:0:${#want}} ;; esac
	expect_eq "act register --json: ${f%%:*}" "$got" "$want"
done
check "act register --json: registered_at is ISO 8601 UTC" \
    grep -qE '"registered_at":"2026-05-15T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"' <<<"$out"
check "act register --json: open act has no redemption fields" \
    test "$(echo "$out" | jget regno)$(echo "$out" | jget new_expiry)" = ""
out=$(adm --json act show ACT-1)
expect_eq "act show --json: any edition is null" "$(echo "$out" | grep -c '"edition":null')" 1
expect_eq "act show --json: any licensee is null" "$(echo "$out" | grep -c '"licensee":null')" 1
expect_eq "act show --json: months" "$(echo "$out" | jget months)" 12
out=$(adm act show ACT-1)
expect_eq "act show: text" "$(echo "$out" | sed -n '1p;3p;6p' | tr -s ' ')" \
    "number: ACT-1
edition: any
state: open"
adm act register ACT-2 --product ZHKH8 --months 1 >/dev/null
expect_eq "act list --json: by number" \
    "$(adm --json act list >"$T/acts"; jfields "$T/acts" number)" "2026/77-B ACT-1 ACT-2"
expect_eq "act list: header" "$(adm act list | sed -n 1p | tr -s ' ')" \
    "NUMBER PRODUCT EDITION MONTHS STATE REGISTERED REGNO NEW-EXPIRY LICENSEE"
out=$(adm act void ACT-2)
expect_eq "act void: text" "$out" "act ACT-2 is void: it can no longer be redeemed"
expect_eq "act void --json again: no change" "$(adm --json act void ACT-2 | jget state)" void
expect_eq "act list --state void" "$(adm --json act list --state void | jget number)" ACT-2
expect_eq "act list --state open" "$(count adm --json act list --state open)" 2
expect_eq "act list --product ZHKH8" "$(count adm --json act list --product ZHKH8)" 3
expect_eq "act list --product NOPE: not found" "$(rc_of adm act list --product NOPE)" 3

# Refused registrations store nothing.
AUDIT1=$(count adm --json audit)
expect_eq "act register: unknown product" \
    "$(rc_of adm --json act register ACT-X --product NOPE --months 12; jget reason <"$T/out")" "3
not_found"
expect_eq "act register: unknown product message" "$(cat "$T/err")" \
    "keygate-admin: product NOPE does not exist: add it first with 'keygate-admin product add NOPE --name NAME --price AMOUNT'"
expect_eq "act register: unknown edition" \
    "$(rc_of adm --json act register ACT-X --product ZHKH8 --edition NOPE --months 12; jget reason <"$T/out")" "3
not_found"
expect_eq "act register: exists" \
    "$(rc_of adm --json act register ACT-1 --product ZHKH8 --months 3; jget reason <"$T/out")" "3
exists"
expect_eq "act register: exists message" "$(cat "$T/err")" \
    "keygate-admin: act ACT-1 exists: see it with 'keygate-admin act show ACT-1'"
expect_eq "act show: refused act not stored" \
    "$(rc_of adm --json act show ACT-X; jget reason <"$T/out")" "3
not_found"
expect_eq "act list: still 3 acts" "$(count adm --json act list)" 3
expect_eq "act show ACT-1: months unchanged" "$(adm --json act show ACT-1 | jget months)" 12
expect_eq "refused registrations: no audit records" "$(count adm --json audit)" "$AUDIT1"
for args in "act register 'A B' --product ZHKH8 --months 1" \
    "act register A1 --product ZHKH8 --months 0" \
    "act register A1 --product ZHKH8 --months 1201" \
    "act register A1 --product ZHKH8" \
    "act register A1 --months 12" \
    "act register 123456789012345678901234567890123 --product ZHKH8 --months 1" \
    "act list --state used" \
    "act show" \
    "key extend ZHKH8-000001" \
    "key extend ZHKH8-000001 --months 0" \
    "key revoke ZHKH8-000001" \
    "key revoke ZHKH8-000001 --reason ''" \
    "subscription set X --until 2026-02-30" \
    "subscription set X" \
    "audit --since 2026-13-01" \
    "backup"; do
	eval "set -- $args"
	expect_eq "usage error: $args" "$(rc_of adm "$@") $(wc -l <"$T/err")" "1 1"
done
expect_eq "usage errors stored nothing" "$(count adm --json audit)" "$AUDIT1"

# ---- key extend: R7 and R8 with price 7990 ----
issue() {	# EDITION LICENSEE CREATED [ARGS]: the regno; the key in $T/<regno>.key
	local out regno
	out=$(adm --json key issue ZHKH8 "$1" --licensee "$2" --created "$3" "${@:4}")
	regno=$(echo "$out" | jget regno)
	echo "$out" | jget key >"$T/$regno.key"
	echo "$regno"
}
G=$(issue PROF Grace 2025-10-26)		# support ended 2026-04-26: 19 days ago
S=$(issue PROF Standard 2025-09-15)		# ended 2026-03-15: two months ago
E=$(issue PROF Early 2026-01-10)		# ends 2026-07-10
B=$(issue BASIC Basic 2025-10-20)		# on-expiry demo: license ended 2026-04-20
TR=$(issue PROF Trial 2026-05-10 --trial-days 30)
expect_eq "grace key: support expiry" "$(adm --json key show "$G" | jget support_expiry)" \
    "$(months 2025-10-26 6)"

extend() {	# REGNO MONTHS: --json result in $T/ext
	adm --json key extend "$1" --months "$2" >"$T/ext" 2>"$T/err"
}
f() { jget "$1" <"$T/ext"; }
extend "$G" 12
expect_eq "grace: kind, price" "$(f renewal.kind) $(f renewal.price)" "grace 1998.00"
expect_eq "grace: new expiry = old expiry + 12 months" "$(f support_expiry)" \
    "$(months "$(months 2025-10-26 6)" 12)"
expect_eq "grace: renewal.new_expiry" "$(f renewal.new_expiry)" "$(f support_expiry)"
expect_eq "grace: renewal.old_expiry, months" "$(f renewal.old_expiry) $(f renewal.months)" \
    "2026-04-26 12"
expect_eq "grace: R11 not checked for the vendor" "$(f renewal.subscription_checked)" false
expect_eq "grace: revision 2, still perpetual" "$(f revision) $(f license_expiry)" "2 "
GKEY2=$(f key)
check "grace: the key is re-signed" test "$GKEY2" != "$(cat "$T/$G.key")"
expect_eq "grace: the new key carries the new expiry" \
    "$(cli --json verify --key "$GKEY2" --pubkey "$D/signing.pub" | jget support_expiry)" 2027-04-26
expect_eq "grace: key show REGNO is the new key" "$(adm --json key show "$G" | jget key)" "$GKEY2"
extend "$S" 12
expect_eq "standard: kind, price" "$(f renewal.kind) $(f renewal.price)" "standard 3596.00"
expect_eq "standard: new expiry = today + 12 months" "$(f support_expiry)" "$(months "$CLOCK" 12)"
extend "$E" 12
expect_eq "early: kind, price" "$(f renewal.kind) $(f renewal.price)" "early 1998.00"
expect_eq "early: new expiry = current expiry + 12 months" "$(f support_expiry)" \
    "$(months "$(months 2026-01-10 6)" 12)"
extend "$E" 6
expect_eq "early again: from the extended expiry" "$(f support_expiry) $(f revision)" \
    "$(months "$(months "$(months 2026-01-10 6)" 12)" 6) 3"
extend "$B" 12
expect_eq "on-expiry demo: license expiry moves with support" \
    "$(f renewal.kind) $(f support_expiry) $(f license_expiry)" \
    "grace $(months 2026-04-20 12) $(months 2026-04-20 12)"
out=$(adm key extend "$S" --months 1 2>"$T/err")
check "key extend: text prints the key alone" test "$(echo "$out" | grep -c '^KG1\.')" -eq 1
expect_eq "key extend: text stderr" "$(cat "$T/err")" \
    "extended $S by 1 months: support $(months "$CLOCK" 12) -> $(months "$CLOCK" 13), early renewal, price 1998.00 (revision 3)"
expect_eq "trial key: refused" "$(rc_of adm --json key extend "$TR" --months 12; jget reason <"$T/out")" "3
trial_not_renewable"
expect_eq "trial key: unchanged" "$(adm --json key show "$TR" | jget revision)" 1
expect_eq "unknown regno: not_found" \
    "$(rc_of adm --json key extend ZHKH8-999999 --months 12; jget reason <"$T/out")" "3
not_found"

# ---- a redeemed act: shown with its renewal, and cannot be voided ----
RD=$(issue PROF Redeemer 2025-10-26)
cli --json activate --key "$T/$RD.key" --act ACT-1 >"$T/activate" 2>"$T/err"
expect_eq "activate ACT-1" "$? $(jget renewal.kind <"$T/activate")" "0 grace"
adm --json act show ACT-1 >"$T/ext"
for v in state:redeemed regno:$RD serial:$(adm --json key show "$RD" | jget serial) \
    old_expiry:2026-04-26 new_expiry:2027-04-26 kind:grace price:1998.00 months:12; do
	expect_eq "redeemed act show --json: ${v%%:*}" "$(f "${v%%:*}")" "${v#*:}"
done
check "redeemed act: redeemed_at is ISO 8601 UTC" \
    grep -qE '"redeemed_at":"2026-05-15T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"' "$T/ext"
expect_eq "redeemed act show: text" "$(adm act show ACT-1 | sed -n '9p' | tr -s ' ')" \
    "renewal: grace, price 1998.00: support 2026-04-26 -> 2027-04-26"
expect_eq "act list --state redeemed" "$(adm act list --state redeemed | sed -n 2p | tr -s ' ')" \
    "ACT-1 ZHKH8 any 12 redeemed $CLOCK $RD 2027-04-26 any"
AUDIT2=$(count adm --json audit)
expect_eq "act void of a redeemed act: refused" \
    "$(rc_of adm --json act void ACT-1; jget reason <"$T/out")" "3
conflict"
expect_eq "act void of a redeemed act: one line" "$(rc_of adm act void ACT-1; cat "$T/err")" "3
keygate-admin: act ACT-1 was redeemed by $RD on $CLOCK and cannot be voided: to take the renewal back, revoke the key or extend it by other terms"
expect_eq "act void of a redeemed act: still redeemed, no audit record" \
    "$(adm --json act show ACT-1 | jget state) $(count adm --json audit)" "redeemed $AUDIT2"

# ---- revoke, suspend, reinstate: what check says ----
chk() {	# KEYFILE: exit code, verdict and reason of keygate check on 2.0
	local c rc
	c=$(cli --json check --key "$1" --product ZHKH8 --version 2.0)
	rc=$?
	echo "$rc $(echo "$c" | jget verdict) $(echo "$c" | jget reason)"
}
echo "$GKEY2" >"$T/g2.key"
expect_eq "before: current" "$(chk "$T/g2.key")" "0 current ok"
out=$(adm key revoke "$G" --reason "refund")
expect_eq "revoke: text" "$out" "$G is revoked: refund"
expect_eq "revoked: check says demo/revoked" "$(chk "$T/g2.key")" "11 demo revoked"
expect_eq "revoked: an older copy of the key too" "$(chk "$T/$G.key")" "11 demo revoked"
out=$(adm --json key show "$G")
expect_eq "revoked: state, reason, revision unchanged" \
    "$(echo "$out" | jget state) $(echo "$out" | jget state_reason) $(echo "$out" | jget revision)" \
    "revoked refund 2"
expect_eq "revoked: the key text is unchanged" "$(echo "$out" | jget key)" "$GKEY2"
expect_eq "revoked: extend refused" \
    "$(rc_of adm --json key extend "$G" --months 1; jget reason <"$T/out")" "3
revoked"
expect_eq "revoked: suspend refused" \
    "$(rc_of adm --json key suspend "$G" --reason x; jget reason <"$T/out")" "3
conflict"
expect_eq "revoke again, same reason: no audit record" \
    "$(A=$(count adm --json audit); adm key revoke "$G" --reason refund >/dev/null; echo $(( $(count adm --json audit) - A )))" 0
out=$(adm --json key reinstate "$G" --reason "refund cancelled")
expect_eq "reinstate: active, no reason" \
    "$(echo "$out" | jget state) $(echo "$out" | jget state_reason) $(echo "$out" | jget revision)" \
    "active  2"
expect_eq "reinstated: check is back to normal" "$(chk "$T/g2.key")" "0 current ok"
expect_eq "reinstate an active key: refused" \
    "$(rc_of adm --json key reinstate "$G" --reason x; jget reason <"$T/out")" "3
conflict"
expect_eq "suspend: --json" "$(adm --json key suspend "$G" --reason "fraud check" | jget state)" suspended
expect_eq "suspended: check says demo/suspended" "$(chk "$T/g2.key")" "11 demo suspended"
expect_eq "key list --state suspended" "$(adm --json key list --state suspended | jget regno)" "$G"
adm key reinstate "$G" --reason "cleared" >/dev/null
expect_eq "reinstated again: check is back to normal" "$(chk "$T/g2.key")" "0 current ok"

# ---- subscriptions ----
out=$(adm --json subscription set "Corp Ltd" --until 2026-06-14)
expect_eq "subscription set --json" "$out" \
    '{"licensee":"Corp Ltd","until":"2026-06-14","active":true}'
expect_eq "subscription show: text" "$(adm subscription show "Corp Ltd")" \
    "Corp Ltd: subscription until 2026-06-14 (active today)"
expect_eq "subscription valid through today" \
    "$(adm --json subscription set "Corp Ltd" --until "$CLOCK" | jget active)" true
expect_eq "subscription ended yesterday: not active" \
    "$(adm --json subscription set "Corp Ltd" --until 2026-05-14 | jget active)" false
expect_eq "subscription show --json" "$(adm --json subscription show "Corp Ltd" | jget until)" 2026-05-14
expect_eq "subscription show: none" \
    "$(rc_of adm --json subscription show "Nobody"; jget reason <"$T/out")" "3
not_found"

# ---- the audit log ----
adm --json audit >"$T/audit"
for action in act.register act.void key.extend key.revoke key.suspend key.reinstate \
    subscription.set; do
	check "audit: $action recorded" grep -q "\"action\":\"$action\"" "$T/audit"
done
expect_eq "audit: act.register ACT-1" \
    "$(grep '"object":"ACT-1"' "$T/audit" | grep '"act.register"' | jget detail)" \
    "none -> open: product=ZHKH8 edition=any licensee=any months=12"
expect_eq "audit: act.void ACT-2 (once)" \
    "$(grep '"action":"act.void"' "$T/audit" | wc -l) $(grep '"action":"act.void"' "$T/audit" | jget detail)" \
    "1 open -> void"
expect_eq "audit: key.revoke detail" \
    "$(grep '"action":"key.revoke"' "$T/audit" | jget detail)" "active -> revoked: refund"
expect_eq "audit: key.reinstate detail" \
    "$(grep '"action":"key.reinstate"' "$T/audit" | head -n 1 | jget detail)" \
    "revoked (refund) -> active: refund cancelled"
expect_eq "audit: key.extend detail" \
    "$(grep '"action":"key.extend"' "$T/audit" | head -n 1 | jget detail)" \
    "support 2026-04-26 -> 2027-04-26, grace, 1998.00, 12 months, revision 1 -> 2, subscription not checked"
expect_eq "audit: subscription.set details" \
    "$(grep '"action":"subscription.set"' "$T/audit" | "$KG_PY" -c 'import json, sys
print("; ".join(json.loads(l)["detail"] for l in sys.stdin))')" \
    "none -> 2026-06-14; 2026-06-14 -> $CLOCK; $CLOCK -> 2026-05-14"
expect_eq "audit: seq 1..N in order" "$(jfields "$T/audit" seq)" "$(seq -s ' ' "$(wc -l <"$T/audit")")"
check "audit: hashes are 64 hex digits" test "$("$KG_PY" -c 'import json, re, sys
print(all(re.fullmatch("[0-9a-f]{64}", json.loads(l)["hash"]) for l in open(sys.argv[1])))' "$T/audit")" = True
check "audit: times are ISO 8601 UTC" test "$("$KG_PY" -c 'import json, re, sys
print(all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", json.loads(l)["time"]) for l in open(sys.argv[1])))' "$T/audit")" = True
expect_eq "audit --since 9999-12-31: none" "$(count adm --json audit --since 9999-12-31)" 0
expect_eq "audit --since 1970-01-02: all" "$(count adm --json audit --since 1970-01-02)" "$(wc -l <"$T/audit")"
expect_eq "audit: text header" "$(adm audit | sed -n 1p | tr -s ' ')" "SEQ TIME ACTOR ACTION OBJECT DETAIL"
N=$(wc -l <"$T/audit")
expect_eq "audit --verify" "$(rc_of adm audit --verify; cat "$T/out")" "0
audit log verified: $N records, the hash chain is intact"
expect_eq "audit --verify --json" "$(adm --json audit --verify)" "{\"verified\":true,\"records\":$N}"
expect_eq "audit --verify --since: refused" "$(rc_of adm audit --verify --since 2026-01-01)" 3

# Alter the key.revoke record directly in LMDB, keygated stopped.
BAD=$(grep '"action":"key.revoke"' "$T/audit" | jget seq)
kg_stop
check "kg_audit_tamper" "$TAMPER" "$D" "$BAD"
kg_start "$D" --test-clock "$CLOCK" || exit 1
expect_eq "tampered: audit --verify exits 4" "$(rc_of adm audit --verify)" 4
expect_eq "tampered: names the record" "$(cat "$T/err")" \
    "keygate-admin: audit record $BAD does not match its hash chain: the log was altered"
expect_eq "tampered --json: reason, bad_seq" \
    "$(rc_of adm --json audit --verify; jget reason <"$T/out"; jget bad_seq <"$T/out")" "4
audit_broken
$BAD"
expect_eq "tampered: the record shows the altered detail" \
    "$(adm --json audit | sed -n "${BAD}p" | jget detail)" altered
kg_stop

# ---- backup under load ----
D2=$T/data2
kg_init "$D2"
kg_start "$D2" --test-clock "$CLOCK" || exit 1
adm product add LOAD --name "Load" --price 100 >/dev/null
adm edition add LOAD STD >/dev/null
adm act register LOAD-ACT --product LOAD --months 12 >/dev/null
# The load: at most 400 key issues of 3 keys, at most 90 s; each regno is
# appended to acked only after keygate-admin returned it.
: >"$T/acked"
(
	start=$SECONDS
	for i in $(seq 400); do
		[ -e "$T/stop" ] || [ $((SECONDS - start)) -gt 90 ] && break
		adm --json key issue LOAD STD --licensee "Load $i" --count 3 >"$T/batch" || break
		jfields "$T/batch" regno | tr ' ' '\n' >>"$T/acked"
	done
) &
LOADER=$!
for i in $(seq 300); do
	[ "$(wc -l <"$T/acked")" -ge 30 ] && break
	sleep 0.1
done
cp "$T/acked" "$T/before"
expect_eq "backup: relative FILE made absolute" \
    "$(cd "$T" && "$ADMIN" --data "$D2" --json backup backup.mdb | jget path)" "$T/backup.mdb"
sleep 0.3
touch "$T/stop"
wait "$LOADER"
check "the load ran before the backup" test "$(wc -l <"$T/before")" -ge 30
check "the load went on during and after the backup" \
    test "$(wc -l <"$T/acked")" -gt "$(wc -l <"$T/before")"
expect_eq "backup: an existing file is refused" \
    "$(rc_of adm --json backup "$T/backup.mdb"; jget reason <"$T/out")" "3
exists"
expect_eq "backup: a relative directory that does not exist" \
    "$(cd "$T" && rc_of "$ADMIN" --data "$D2" backup nodir/b.mdb)" 3
adm --json key list >"$T/live"
kg_stop

# Restore as README.md says: a new dir with the backup as data.mdb, the
# config and the signing keys; a second keygated serves it.
R=$T/restored
mkdir "$R"
cp "$T/backup.mdb" "$R/data.mdb"
cp "$D2/keygated.conf" "$D2/signing.key" "$D2/signing.pub" "$R/"
kg_start "$R" --test-clock "$CLOCK" || exit 1
adm --json key list >"$T/restored-keys"
jfields "$T/restored-keys" regno | tr ' ' '\n' | sort >"$T/restored-regnos"
sort "$T/before" >"$T/before-sorted"
expect_eq "restored: every key acknowledged before the backup began" \
    "$(comm -23 "$T/before-sorted" "$T/restored-regnos" | wc -l)" 0
check "restored: at least those keys" \
    test "$(wc -l <"$T/restored-regnos")" -ge "$(wc -l <"$T/before")"
expect_eq "restored: nothing that the live store does not have" \
    "$(jfields "$T/live" regno | tr ' ' '\n' | sort | comm -13 - "$T/restored-regnos" | wc -l)" 0
expect_eq "restored: the act" "$(adm --json act show LOAD-ACT | jget state)" open
FIRST=$(head -n 1 "$T/before")
expect_eq "restored: a key checks against the restored daemon" \
    "$(cli --json status --key "$(adm --json key show "$FIRST" | jget key)" | jget support_expiry)" \
    "$(months "$CLOCK" 6)"
check "restored: audit --verify passes" adm audit --verify
kg_stop
check "no sanitizer reports in keygated's logs" \
    test "$(cat "$D/keygated.log" "$D2/keygated.log" "$R/keygated.log" | grep -c -E 'Sanitizer|runtime error')" -eq 0

kg_done
