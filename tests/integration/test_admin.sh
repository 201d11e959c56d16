# keygate-admin through the real keygated: every command with and without
# --json, refused commands (exit codes, and nothing changed after them), key
# batches, calendar-month support expiry checked against dateutil, a licensee
# with quotes and Cyrillic, the admin socket's mode and peer check, framing
# errors on the raw socket, and durability across kill -9.
. "$(dirname "$0")/lib.sh"

CLOCK=2026-05-15	# the daemon's test clock: "today" for default dates

D=$T/data
kg_init "$D"
kg_start "$D" --test-clock "$CLOCK" || exit 1

# Everything the store holds that the admin can see, as JSON lines.
snapshot() {
	adm --json product list
	for p in $(adm --json product list | "$KG_PY" -c 'import json, sys
for l in sys.stdin: print(json.loads(l)["code"])'); do
		adm --json edition list "$p"
		adm --json release list "$p"
	done
	adm --json key list
}

# run_rc WANT CMD...: the exit code of CMD; stdout in $T/out, stderr in $T/err.
rc_of() {
	"$@" >"$T/out" 2>"$T/err"
	echo $?
}

# ---- products ----
out=$(adm product add DEMO --name "Demo App" --price 7990)
expect_eq "product add: text" "$out" 'added product DEMO "Demo App", price 7990.00'
out=$(adm --json product add ZHKH8 --name "Учёт ЖКХ" --price 12000.5)
expect_eq "product add --json: code" "$(echo "$out" | jget code)" ZHKH8
expect_eq "product add --json: name" "$(echo "$out" | jget name)" "Учёт ЖКХ"
expect_eq "product add --json: price" "$(echo "$out" | jget price)" 12000.50
expect_eq "product list --json" "$(adm --json product list | wc -l)" 2
out=$(adm product list)
expect_eq "product list: header" "$(echo "$out" | sed -n 1p)" "CODE   PRICE     NAME"
expect_eq "product list: row" "$(echo "$out" | grep '^DEMO')" "DEMO   7990.00   Demo App"

# ---- editions ----
out=$(adm edition add DEMO PRO)
expect_eq "edition add: text" "$out" "added edition DEMO PRO: 6 months of support from creation, fallback on expiry; renewal 12 months, 25% within 1 month of expiry, 45% later"
out=$(adm --json edition add DEMO LITE --support-months 3 --basis activation \
    --on-expiry demo --renewal-months 1 --grace-months 0 --grace-percent 30 \
    --standard-percent 50 --requires-subscription)
expect_eq "edition add --json: all fields" "$out" '{"product":"DEMO","edition":"LITE","support_months":3,"basis":"activation","on_expiry":"demo","renewal_months":1,"grace_months":0,"grace_percent":30,"standard_percent":50,"requires_subscription":true}'
adm edition add DEMO M1 --support-months 1 >/dev/null
adm edition add DEMO M6DEMO --on-expiry demo >/dev/null
adm edition add ZHKH8 PROF --requires-subscription >/dev/null
expect_eq "edition list --json" "$(adm --json edition list DEMO | jget edition)" LITE
expect_eq "edition list --json: count" "$(adm --json edition list DEMO | wc -l)" 4
out=$(adm edition list DEMO)
expect_eq "edition list: header" "$(echo "$out" | sed -n 1p)" \
    "EDITION  SUPPORT  BASIS       ON-EXPIRY  RENEWAL  GRACE  GRACE%  STANDARD%  SUBSCRIPTION"
expect_eq "edition list: row" "$(echo "$out" | grep '^PRO ')" \
    "PRO      6        creation    fallback   12       1      25      45         -"

# ---- releases ----
SHA=$(printf 'keygate' | sha256sum | cut -c1-64)
out=$(adm release publish DEMO 2.0.1 --date 2026-03-01)
expect_eq "release publish: text" "$out" "published DEMO 2.0.1, dated 2026-03-01"
out=$(adm --json release publish DEMO 2.0.10 --date 2026-04-01 --sha256 "$SHA" \
    --url https://example.com/demo-2.0.10.tar.gz)
expect_eq "release publish --json" "$out" "{\"product\":\"DEMO\",\"version\":\"2.0.10\",\"date\":\"2026-04-01\",\"state\":\"published\",\"sha256\":\"$SHA\",\"url\":\"https://example.com/demo-2.0.10.tar.gz\"}"
adm release publish DEMO 2.0.9 --date 2026-03-15 >/dev/null
expect_eq "release list --json: version order" \
    "$(adm --json release list DEMO | "$KG_PY" -c 'import json, sys
print(" ".join(json.loads(l)["version"] for l in sys.stdin))')" "2.0.1 2.0.9 2.0.10"
out=$(adm release withdraw DEMO 2.0.9)
expect_eq "release withdraw: text" "$out" "withdrew DEMO 2.0.9 (dated 2026-03-15)"
expect_eq "release withdraw --json (again: no change)" \
    "$(adm --json release withdraw DEMO 2.0.9 | jget state)" withdrawn
out=$(adm release list DEMO)
expect_eq "release list: header" "$(echo "$out" | sed -n 1p | tr -s ' ')" "VERSION DATE STATE SHA256 URL"
expect_eq "release list: withdrawn row" "$(echo "$out" | grep '^2.0.9 ' | tr -s ' ')" "2.0.9 2026-03-15 withdrawn - -"

# ---- keys ----
KEY=$(adm key issue DEMO PRO --licensee "Acme" --created 2026-08-31 2>"$T/err")
check "key issue: the key alone on stdout" test "$(echo "$KEY" | grep -c '^KG1\.')" -eq 1
expect_eq "key issue: stderr line" "$(cat "$T/err")" "issued DEMO-000001, support until 2027-02-28"
out=$(adm --json key show "$KEY")
expect_eq "key show KEY: regno" "$(echo "$out" | jget regno)" DEMO-000001
expect_eq "key show KEY: key is deterministic" "$(echo "$out" | jget key)" "$KEY"
expect_eq "key show REGNO: same object" "$(adm --json key show DEMO-000001)" "$out"
for f in serial:1 product:DEMO edition:PRO licensee:Acme created:2026-08-31 \
    support_expiry:2027-02-28 license_expiry: support_months:6 trial:false \
    revision:1 state:active state_reason:; do
	expect_eq "key show --json: ${f%%:*}" "$(echo "$out" | jget "${f%%:*}")" "${f#*:}"
done
# A key pasted with line breaks is the same key.
WRAPPED=$(echo "$KEY" | fold -w 40)
expect_eq "key show: wrapped key text" "$(adm --json key show "$WRAPPED" | jget regno)" DEMO-000001
out=$(adm key show DEMO-000001)
expect_eq "key show: text" "$(echo "$out" | sed -n '2p;8p;9p;13p' | tr -s ' ')" \
    "regno: DEMO-000001
support expiry: 2027-02-28
license expiry: perpetual
state: active"

# Default created date is the daemon's today; activation basis leaves support open.
out=$(adm --json key issue DEMO LITE --licensee "Beta")
expect_eq "key issue: created defaults to today" "$(echo "$out" | jget created)" "$CLOCK"
expect_eq "key issue: activation basis, support_expiry null" "$(echo "$out" | jget support_expiry)" ""
expect_eq "key issue: activation basis, support_months" "$(echo "$out" | jget support_months)" 3
adm key issue DEMO LITE --licensee "Beta" 2>"$T/err" >/dev/null
expect_eq "key issue: activation stderr line" "$(cat "$T/err")" \
    "issued DEMO-000003, support for 3 months from its first activation"
out=$(adm --json key issue DEMO M6DEMO --licensee "Gamma" --created 2026-01-31)
expect_eq "key issue: on-expiry demo, license_expiry = support_expiry" \
    "$(echo "$out" | jget license_expiry)" 2026-07-31
out=$(adm --json key issue DEMO PRO --licensee "Trial user" --created 2026-02-20 --trial-days 14)
expect_eq "key issue: trial" "$(echo "$out" | jget trial)" true
expect_eq "key issue: trial support" "$(echo "$out" | jget support_expiry)" 2026-03-06
expect_eq "key issue: trial license" "$(echo "$out" | jget license_expiry)" 2026-03-06
adm key issue DEMO PRO --licensee "Trial user" --trial-days 30 2>"$T/err" >/dev/null
expect_eq "key issue: trial stderr line" "$(cat "$T/err")" "issued DEMO-000006, trial until 2026-06-14"

# --count 5: five lines with distinct regnos and serials.
adm key issue DEMO PRO --licensee "Batch" --count 5 >"$T/keys" 2>"$T/err"
expect_eq "key issue --count 5: stdout lines" "$(grep -c '^KG1\.' "$T/keys")" 5
expect_eq "key issue --count 5: stderr lines" "$(grep -c '^issued DEMO-' "$T/err")" 5
expect_eq "key issue --count 5: distinct keys" "$(sort -u "$T/keys" | wc -l)" 5
adm --json key issue DEMO PRO --licensee "Batch 2" --count 5 >"$T/batch"
expect_eq "key issue --json --count 5: lines" "$(wc -l <"$T/batch")" 5
expect_eq "key issue --json --count 5: distinct regnos" \
    "$("$KG_PY" -c 'import json, sys
print(len({json.loads(l)["regno"] for l in open(sys.argv[1])}))' "$T/batch")" 5
expect_eq "key issue --json --count 5: distinct serials" \
    "$("$KG_PY" -c 'import json, sys
print(len({json.loads(l)["serial"] for l in open(sys.argv[1])}))' "$T/batch")" 5
while read -r k; do
	adm --json key show "$k" | jget licensee
done <"$T/keys" >"$T/names"
expect_eq "key issue --count 5: every key shows" "$(sort -u "$T/names")" "Batch"

# Calendar months: support expiry = created + N months, computed here by dateutil.
for c in "2026-08-31 PRO" "2023-08-31 PRO" "2024-01-31 M1" "2024-02-29 M1" \
    "2026-12-31 PRO" "2025-10-31 M1"; do
	set -- $c
	n=$(adm --json edition list DEMO | "$KG_PY" -c 'import json, sys
print([e for e in map(json.loads, sys.stdin) if e["edition"] == sys.argv[1]][0]["support_months"])' "$2")
	got=$(adm --json key issue DEMO "$2" --licensee "Months" --created "$1" | jget support_expiry)
	expect_eq "support expiry $1 + $n months" "$got" "$(months "$1" "$n")"
done
expect_eq "SPEC example 2026-08-31 + 6" "$(months 2026-08-31 6)" 2027-02-28
expect_eq "SPEC example 2023-08-31 + 6" "$(months 2023-08-31 6)" 2024-02-29
expect_eq "SPEC example 2024-01-31 + 1" "$(months 2024-01-31 1)" 2024-02-29

# A licensee with quotes and Cyrillic round-trips exactly.
NAME='ООО "Ромашка"'
out=$(adm --json key issue ZHKH8 PROF --licensee "$NAME")
expect_eq "licensee round trip: key issue" "$(echo "$out" | jget licensee)" "$NAME"
expect_eq "licensee round trip: key show" \
    "$(adm --json key show "$(echo "$out" | jget key)" | jget licensee)" "$NAME"
expect_eq "licensee round trip: key list --licensee" \
    "$(adm --json key list --licensee "$NAME" | jget regno)" ZHKH8-000001
check "licensee: raw UTF-8 in the JSON line" grep -q 'Ромашка' <<<"$out"

# key list: filters and text columns.
expect_eq "key list --product ZHKH8" "$(adm --json key list --product ZHKH8 | wc -l)" 1
expect_eq "key list --edition LITE" "$(adm --json key list --product DEMO --edition LITE | wc -l)" 2
expect_eq "key list --state active" "$(adm --json key list --state active | wc -l)" \
    "$(adm --json key list | wc -l)"
expect_eq "key list --state revoked" "$(adm --json key list --state revoked | wc -l)" 0
out=$(adm key list --product ZHKH8)
expect_eq "key list: text" "$(echo "$out" | tr -s ' ')" \
    "REGNO SERIAL PRODUCT EDITION CREATED SUPPORT LICENSE STATE LICENSEE
ZHKH8-000001 $(adm --json key show ZHKH8-000001 | jget serial) ZHKH8 PROF $CLOCK 2026-11-15 perpetual active $NAME"

# ---- refused commands: exit 3, a reason, and nothing changed ----
snapshot >"$T/before"
expect_eq "exists: product add" "$(rc_of adm product add DEMO --name X --price 1)" 3
check "exists: one line on stderr" test "$(wc -l <"$T/err")" -eq 1
expect_eq "exists: message" "$(cat "$T/err")" \
    "keygate-admin: product DEMO exists: see it with 'keygate-admin product list'"
expect_eq "exists --json: reason" "$(rc_of adm --json product add DEMO --name X --price 1; jget reason <"$T/out")" "3
exists"
expect_eq "exists: edition add" "$(rc_of adm edition add DEMO PRO)" 3
expect_eq "exists: release publish" "$(rc_of adm release publish DEMO 2.0.1 --date 2026-03-02)" 3
expect_eq "exists: release publish 2.0.1.0 = 2.0.1" "$(rc_of adm release publish DEMO 2.0.1.0 --date 2026-03-02)" 3
expect_eq "not found: edition add" "$(rc_of adm edition add NOPE PRO)" 3
expect_eq "not found: message" "$(cat "$T/err")" \
    "keygate-admin: product NOPE does not exist: add it first with 'keygate-admin product add NOPE --name NAME --price AMOUNT'"
expect_eq "not found --json: reason" "$(rc_of adm --json edition list NOPE; jget reason <"$T/out")" "3
not_found"
expect_eq "not found: release list" "$(rc_of adm release list NOPE)" 3
expect_eq "not found: release withdraw" "$(rc_of adm release withdraw DEMO 9.9)" 3
expect_eq "not found: key issue edition" "$(rc_of adm key issue DEMO NOPE --licensee X)" 3
expect_eq "not found: key issue product" "$(rc_of adm key issue NOPE PRO --licensee X)" 3
expect_eq "not found: key show regno" "$(rc_of adm key show DEMO-999999)" 3
expect_eq "not found: key list --product" "$(rc_of adm key list --product NOPE)" 3
BADKEY=$(echo "$KEY" | sed 's/\.\(.\)/.A\1/2')
expect_eq "bad key: key show" "$(rc_of adm --json key show "$BADKEY"; jget reason <"$T/out")" "3
bad_request"
# Usage errors: exit 1, one line, nothing sent.
for args in "product add 'A B' --name X --price 1" \
    "product add DEMO2 --name X --price 1.234" \
    "product add DEMO2 --name X --price -5" \
    "product add DEMO2 --price 5" \
    "product add DEMO2 --name '' --price 5" \
    "product add DEMO2 --name X --price 5 extra" \
    "product add DEMO2 --name X --price 5 --colour red" \
    "product list extra" \
    "edition add DEMO E2 --support-months 0" \
    "edition add DEMO E2 --support-months 1201" \
    "edition add DEMO E2 --basis sometimes" \
    "edition add DEMO E2 --on-expiry explode" \
    "edition add DEMO E2 --grace-percent 1001" \
    "edition add DEMO E2 --standard-percent -1" \
    "edition add DEMO" \
    "release publish DEMO 3.0 --date 2026-02-30" \
    "release publish DEMO 3.0 --date 26-02-01" \
    "release publish DEMO 03.0 --date 2026-02-01" \
    "release publish DEMO 3.0" \
    "release publish DEMO 3.0 --date 2026-02-01 --sha256 abc" \
    "release publish DEMO 3.0 --date 2026-02-01 --url 'has space'" \
    "release withdraw DEMO" \
    "key issue DEMO PRO" \
    "key issue DEMO PRO --licensee X --count 0" \
    "key issue DEMO PRO --licensee X --count 1000001" \
    "key issue DEMO PRO --licensee X --count 5x" \
    "key issue DEMO PRO --licensee X --trial-days 0" \
    "key issue DEMO PRO --licensee X --created 2026-13-01" \
    "key issue DEMO PRO --licensee" \
    "key show" \
    "key list --state gone" \
    "product"; do
	eval "set -- $args"
	rc=$(rc_of adm "$@")
	expect_eq "usage error: $args" "$rc $(wc -l <"$T/err")" "1 1"
done
expect_eq "usage error: message" "$(rc_of adm edition add DEMO E2 --support-months 0; cat "$T/err")" "1
keygate-admin: edition add: --support-months '0': expected a whole number from 1 to 1200"
expect_eq "usage: no command" "$(rc_of adm)" 1
expect_eq "unknown command: exit 1 and usage" \
    "$(rc_of adm key frobnicate; head -n 2 "$T/err")" "1
keygate-admin: unknown command 'key frobnicate'
usage: keygate-admin [--data DIR | --socket PATH] [--json] [--timeout SECONDS] COMMAND ..."
expect_eq "unknown group: exit 1" "$(rc_of adm frobnicate list)" 1
expect_eq "--help" "$(rc_of "$ADMIN" --help; head -c 20 "$T/out")" "0
usage: keygate-admin"
check "--help lists key issue" grep -q 'key issue PRODUCT EDITION --licensee NAME' "$T/out"
snapshot >"$T/after"
check "nothing changed after refused commands" cmp -s "$T/before" "$T/after"

# ---- the socket ----
SOCK=$D/admin.sock
expect_eq "admin socket mode" "$(stat -c '%a %F' "$SOCK")" "600 socket"
expect_eq "--socket PATH" "$("$ADMIN" --socket "$SOCK" --json product list | wc -l)" 2
expect_eq "cannot reach: exit 2" "$(rc_of "$ADMIN" --data "$T/nowhere" product list)" 2
expect_eq "cannot reach: message" "$(cat "$T/err")" \
    "keygate-admin: cannot reach keygated at $T/nowhere/admin.sock: is it running? (keygated run --data $T/nowhere)"

if [ "$(id -u)" -ne 0 ]; then
	echo "skip  another uid is refused: needs root to run keygate-admin as uid 65534"
elif ! command -v setpriv >/dev/null; then
	echo "skip  another uid is refused: setpriv is not installed"
else
	chmod o+x "$T" "$D"
	NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
	if ! $NOBODY test -x "$ADMIN"; then
		echo "skip  another uid is refused: uid 65534 cannot run $ADMIN"
	else
		# Mode 0600: the kernel refuses the connection itself.
		expect_eq "uid 65534, socket 0600: exit 2" \
		    "$(rc_of $NOBODY "$ADMIN" --data "$D" product list)" 2
		check "uid 65534, socket 0600: permission denied" grep -q 'permission denied' "$T/err"
		# Opened up: keygated's own peer check refuses it.
		chmod 0666 "$SOCK"
		expect_eq "uid 65534: refused by keygated" \
		    "$(rc_of $NOBODY "$ADMIN" --data "$D" --json product add EVIL --name X --price 1; jget reason <"$T/out")" "3
forbidden"
		check "uid 65534: refusal explains" grep -q 'uid 65534 may not administer' "$T/err"
		chmod 0600 "$SOCK"
		check "uid 65534: nothing added" test "$(adm --json product list | wc -l)" -eq 2
		check "uid 65534: logged" grep -q 'admin: refused uid 65534' "$D/keygated.log"
	fi
	chmod o-x "$T" "$D"
fi

# Framing on the raw socket: errors close the connection, op errors do not.
out=$("$KG_PY" - "$SOCK" <<'EOF'
import json, socket, struct, sys

def reply(s):
    hdr = b""
    while len(hdr) < 4:
        c = s.recv(4 - len(hdr))
        if not c:
            return None
        hdr += c
    n = struct.unpack(">I", hdr)[0]
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    return json.loads(body)

def closed(s):
    s.settimeout(5)
    return s.recv(1) == b""

def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    return s

def frame(b):
    return struct.pack(">I", len(b)) + b

def case(name, data):
    s = conn()
    s.sendall(data)
    r = reply(s)
    print(name, r["ok"], r["reason"], "closed" if closed(s) else "open")

case("oversize", struct.pack(">I", 1024 * 1024 + 1) + b"{}")
case("zero", struct.pack(">I", 0))
case("notjson", frame(b"not json"))
case("noop", frame(b'{"code":"X"}'))
case("dupkey", frame(b'{"op":"product.list","op":"product.list"}'))
# Unknown ops and bad arguments keep the connection; requests may be pipelined.
s = conn()
s.sendall(frame(b'{"op":"nope"}') + frame(b'{"op":"product.add","code":"X","bogus":1}') +
    frame(b'{"op":"product.list"}'))
a, b, c = reply(s), reply(s), reply(s)
print("pipelined", a["reason"], b["reason"], c["ok"], len(c["results"]))
# A peer that half-closes after its requests still gets every reply.
s = conn()
s.sendall(frame(b'{"op":"product.list"}') * 3)
s.shutdown(socket.SHUT_WR)
print("half-closed", [reply(s)["ok"] for _ in range(3)], "closed" if closed(s) else "open")
EOF
)
expect_eq "raw socket framing" "$out" "oversize False bad_request closed
zero False bad_request closed
notjson False bad_request closed
noop False bad_request closed
dupkey False bad_request closed
pipelined bad_request bad_request True 2
half-closed [True, True, True] closed"

# ---- durability: what was acknowledged survives kill -9 ----
adm release publish DEMO 2.1 --date 2026-05-01 >/dev/null
adm key issue DEMO PRO --licensee "Last before the crash" >/dev/null 2>&1
snapshot >"$T/before"
kg_kill9
check "stale socket left behind" test -S "$SOCK"
kg_start "$D" --test-clock "$CLOCK" || exit 1
snapshot >"$T/after"
check "everything acknowledged is there after kill -9" cmp -s "$T/before" "$T/after"
check "the last key is there" grep -q 'Last before the crash' "$T/after"
expect_eq "admin socket mode after restart" "$(stat -c '%a' "$SOCK")" 600
expect_eq "serials continue after restart" \
    "$(adm --json key issue DEMO PRO --licensee "After" | jget serial)" \
    "$(( $(adm --json key list | wc -l) ))"
kg_stop
check "socket removed on stop" test ! -e "$SOCK"
# Sanitizer builds report leaks and undefined behaviour into the log at exit.
check "no sanitizer reports in keygated's log" \
    test "$(grep -c -E 'Sanitizer|runtime error' "$D/keygated.log")" -eq 0

kg_done
