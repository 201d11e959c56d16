#!/usr/bin/env bash
# keygate-admin key export / key import (issue 8 item 5), against real
# keygated instances on the test clock 2026-06-15:
#   - round trip: the licenses of one data dir (every edition kind, trial,
#     revoked, suspended, not yet activated, licensees with quotes, commas,
#     edge blanks and Cyrillic) exported, imported into a fresh data dir
#     with the same products and editions, and exported again: the same
#     rows but for serial and key; the imported keys verify with the new
#     data dir's public key and get verdicts; given registration numbers
#     move the store's counter;
#   - a file with bad lines of every kind imports nothing and names every
#     bad line by its number (a quoted line break makes a record span two
#     lines: the next record's number is still right);
#   - --dry-run, --json, re-importing licenses already there, a header
#     without a required column;
#   - a file of 12000 rows (more than one admin frame, so several requests)
#     imports whole in one transaction, and with one bad row at its end
#     imports nothing; on a terminal it shows a progress line;
#   - an import whose transaction waits for another process's write lock
#     leaves keygated answering other admins, and finishes after.
. "$(dirname "$0")/lib.sh"

TODAY=2026-06-15
CYR='ООО «Ромашка», "Кавычки" и Ко'

catalogue() {
	adm product add ZHKH8 --name "Housing services" --price 7990 &&
	adm product add GW --name "Gateway" --price 500 &&
	adm edition add ZHKH8 PROF --support-months 6 &&
	adm edition add ZHKH8 BASE --support-months 6 --on-expiry demo &&
	adm edition add ZHKH8 ACT --support-months 3 --basis activation &&
	adm edition add GW STD --support-months 12 &&
	adm release publish ZHKH8 1.0 --date 2026-01-01
}
count_keys() { adm --json key list | grep -c '"regno"'; }
cols() {	# FILE: the CSV's rows without serial and key, one JSON line each
	"$KG_PY" - "$1" <<'EOF'
import csv, json, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        row.pop("serial"); row.pop("key")
        print(json.dumps(row, ensure_ascii=False, sort_keys=True))
EOF
}

# ---- A: the licenses to move
A=$T/a
kg_init "$A"
kg_start "$A" --test-clock "$TODAY" || exit 1
catalogue >"$T/cat.a" 2>&1 || { cat "$T/cat.a" >&2; exit 1; }
issue() { adm --json key issue "$@" | jget regno; }
issue ZHKH8 PROF --licensee "Acme Ltd" --created 2026-01-10 >/dev/null &&
issue ZHKH8 BASE --licensee 'Beta, "Quoted" & Co' --created 2026-02-01 >/dev/null &&
issue ZHKH8 ACT --licensee "$CYR" --created 2026-03-01 >/dev/null &&
issue ZHKH8 PROF --licensee "  Spaces around  " --created 2026-06-01 --trial-days 30 >/dev/null &&
issue ZHKH8 PROF --licensee "Refunded" --created 2025-05-05 >/dev/null &&
issue GW STD --licensee "Paused GmbH" --created 2025-12-31 >/dev/null &&
adm key revoke ZHKH8-000005 --reason refund >/dev/null &&
adm key suspend GW-000001 --reason "unpaid invoice" >/dev/null ||
    { echo "issuing the keys failed" >&2; exit 1; }

adm key export "$T/a.csv" 2>"$T/export.err"
expect_eq "key export FILE exits 0" "$?" 0
expect_eq "the export file is mode 0600 (it holds keys)" "$(stat -c %a "$T/a.csv")" 600
expect_eq "the header" "$(head -n 1 "$T/a.csv")" \
    "product,edition,licensee,created,support_expiry,regno,state,license_expiry,trial,serial,key"
expect_eq "one row per license" "$(cols "$T/a.csv" | wc -l)" 6
check "quotes doubled and the field quoted" \
    grep -qF '"Beta, ""Quoted"" & Co"' "$T/a.csv"
check "edge blanks quoted" grep -qF '"  Spaces around  "' "$T/a.csv"
check "Cyrillic as UTF-8, quoted for its comma" \
    grep -qF '"ООО «Ромашка», ""Кавычки"" и Ко"' "$T/a.csv"
check "an activation-basis key not yet activated has no support_expiry" \
    grep -q '^ZHKH8,ACT,.*,2026-03-01,,ZHKH8-000003,active,,no,3,KG1\.' "$T/a.csv"
check "the trial key" grep -q ',2026-06-01,2026-07-01,ZHKH8-000004,active,2026-07-01,yes,4,KG1\.' "$T/a.csv"
check "the demo edition's license expiry" grep -q ',2026-02-01,2026-08-01,ZHKH8-000002,active,2026-08-01,no,' "$T/a.csv"
check "states" bash -c "grep -q ',ZHKH8-000005,revoked,' '$T/a.csv' && grep -q ',GW-000001,suspended,' '$T/a.csv'"
adm key export >"$T/a-stdout.csv"
check "key export with no FILE writes to stdout" cmp -s "$T/a.csv" "$T/a-stdout.csv"
adm key export --product GW - >"$T/a-gw.csv"
expect_eq "--product GW: one license" "$(cols "$T/a-gw.csv" | wc -l)" 1
kg_stop

# ---- B: a fresh data dir with the same catalogue
B=$T/b
kg_init "$B"
kg_start "$B" --test-clock "$TODAY" || exit 1
catalogue >"$T/cat.b" 2>&1 || { cat "$T/cat.b" >&2; exit 1; }

adm key import "$T/a.csv" --dry-run >"$T/dry.out" 2>"$T/dry.err"
expect_eq "--dry-run exits 0" "$?" 0
expect_eq "--dry-run says so" "$(cat "$T/dry.out")" \
    "$T/a.csv: 6 rows are good; nothing was imported (--dry-run)"
expect_eq "--dry-run imports nothing" "$(count_keys)" 0

adm key import "$T/a.csv" >"$T/imp.out" 2>"$T/imp.err"
expect_eq "key import exits 0" "$?" 0
expect_eq "key import says what it did" "$(cat "$T/imp.out")" \
    "imported 6 licenses from $T/a.csv (ZHKH8-000001 .. GW-000001); see them with 'keygate-admin key export'"
adm key export "$T/b.csv" 2>/dev/null
cols "$T/a.csv" >"$T/a.rows"
cols "$T/b.csv" >"$T/b.rows"
check "round trip: the same licenses (rows but serial and key)" cmp -s "$T/a.rows" "$T/b.rows"
[ "$kg_failed" -eq 0 ] || diff "$T/a.rows" "$T/b.rows"
expect_eq "the Cyrillic licensee round-trips exactly" \
    "$(adm --json key show ZHKH8-000003 | jget licensee)" "$CYR"
expect_eq "the quoted licensee round-trips exactly" \
    "$(adm --json key show ZHKH8-000002 | jget licensee)" 'Beta, "Quoted" & Co'
expect_eq "edge blanks round-trip" \
    "$(adm --json key show ZHKH8-000004 | jget licensee)" "  Spaces around  "
expect_eq "a revoked license stays revoked, with the reason 'imported'" \
    "$(adm --json key show ZHKH8-000005 | jget state_reason)" imported

# The imported keys are signed by B and work against B.
"$KG_PY" -c 'import csv, sys
for r in csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")):
    print(r["regno"], r["key"])' "$T/b.csv" >"$T/b.keys"
while read -r regno key; do
	V=$("$CLI" --json verify --key "$key" --pubkey "$B/signing.pub" 2>/dev/null)
	expect_eq "$regno: its exported key verifies with B's public key" \
	    "$(echo "$V" | jget valid)" true
done <"$T/b.keys"
ACME=$(awk '$1 == "ZHKH8-000001" { print $2 }' "$T/b.keys")
expect_eq "an imported key checks: current" \
    "$(cli --json check --key "$ACME" --product ZHKH8 --version 1.0 | jget verdict)" current
expect_eq "the next key issued in B continues after the imported numbers" \
    "$(adm --json key issue ZHKH8 PROF --licensee New | jget regno)" ZHKH8-000006
adm audit >"$T/audit"
check "one audit record for the import" \
    bash -c "[ \$(grep -c 'key.import' '$T/audit') -eq 1 ]"

# ---- importing the same licenses again: every line is refused, nothing imported
before=$(count_keys)
adm key import "$T/a.csv" >"$T/again.out" 2>"$T/again.err"
expect_eq "re-import exits 3" "$?" 3
expect_eq "re-import names all 6 lines" \
    "$(grep -c "^$T/a.csv:[2-7]: regno .* is taken by a license in the store" "$T/again.err")" 6
expect_eq "re-import imports nothing" "$(count_keys)" "$before"

# ---- a file with bad lines of every kind
cat >"$T/bad.csv" <<'EOF'
product,edition,licensee,created,support_expiry,regno
ZHKH8,PROF,Good One,2026-01-01,2026-07-01,NEW-1
ZHKH8,NOPE,Unknown Edition,2026-01-01,2026-07-01,
ZHKH8,PROF,Bad Date,2026-02-30,2026-07-01,
ZHKH8,PROF,Duplicate,2026-01-01,2026-07-01,NEW-1
ZHKH8,PROF,Backwards,2026-05-01,2026-04-01,
ZHKH8,PROF,Short Row,2026-01-01
ZHKH8,PROF,"Two
Lines",2026-01-01,2026-07-01,
ZHKH8,PROF,"Fine, Ltd",2026-01-01,2026-07-01,
NOPROD,PROF,Unknown Product,2026-01-01,2026-07-01,
ZHKH8,PROF,Stray "quote,2026-01-01,2026-07-01,
ZHKH8,PROF,Taken,2026-01-01,2026-07-01,ZHKH8-000001
ZHKH8,PROF,"Never closed,2026-01-01,2026-07-01,
EOF
before=$(count_keys)
adm key import "$T/bad.csv" >"$T/bad.out" 2>"$T/bad.err"
expect_eq "a file with bad lines: exit 3" "$?" 3
expect_eq "a file with bad lines imports nothing" "$(count_keys)" "$before"
expect_eq "NEW-1 (on a good line) was not imported" \
    "$(adm key show NEW-1 >/dev/null 2>&1; echo $?)" 3
bad() {	# LINE TEXT: the error line for LINE contains TEXT
	check "line $1: $2" grep -qF "$T/bad.csv:$1: $2" "$T/bad.err"
}
bad 3 "edition NOPE of product ZHKH8 does not exist"
bad 4 'created "2026-02-30": expected a date YYYY-MM-DD'
bad 5 "regno NEW-1 is also on line 2"
bad 6 "support_expiry 2026-04-01 is before created 2026-05-01"
bad 7 "4 fields, but the header has 6"
bad 8 "licensee contains a line break"
bad 11 "product NOPROD does not exist"
bad 12 "field 3: a quote inside a field that does not start with one"
bad 13 "regno ZHKH8-000001 is taken by a license in the store"
bad 14 "field 3: its opening quote is never closed"
expect_eq "exactly the 10 bad lines are reported, in order" \
    "$(grep -o "^$T/bad.csv:[0-9]*:" "$T/bad.err" | tr -d '\n')" \
    "$(for l in 3 4 5 6 7 8 11 12 13 14; do printf '%s' "$T/bad.csv:$l:"; done)"
expect_eq "the summary" "$(tail -n 1 "$T/bad.err")" \
    "keygate-admin: $T/bad.csv: 10 of 12 rows are bad: nothing was imported"
adm --json key import "$T/bad.csv" >"$T/bad.json" 2>/dev/null
expect_eq "--json: the errors as JSON" "$(jget bad <"$T/bad.json")" 10
expect_eq "--json: the first bad line" \
    "$("$KG_PY" -c 'import json, sys; print(json.load(sys.stdin)["errors"][0]["line"])' <"$T/bad.json")" 3

printf 'product,edition,licensee,created,regno\nZHKH8,PROF,X,2026-01-01,\n' >"$T/nohead.csv"
adm key import "$T/nohead.csv" 2>"$T/nohead.err"
expect_eq "a header without support_expiry: exit 3" "$?" 3
check "... names line 1 and the column" grep -q "^$T/nohead.csv:1: the header has no column support_expiry" "$T/nohead.err"
printf 'product,edition,licensee,created,support_expiry,regno,email\n' >"$T/extra.csv"
adm key import "$T/extra.csv" 2>"$T/extra.err"
check "an unknown column is refused" grep -q "^$T/extra.csv:1: unknown column \"email\"" "$T/extra.err"

# ---- given and assigned numbers in one file; CRLF, a BOM, --json
printf '\xef\xbb\xbfProduct,Edition,Licensee,Created,Support_Expiry,Regno\r\nGW,STD,Given,2026-01-01,2027-01-01,GW-000050\r\nGW,STD,Assigned,2026-01-01,2027-01-01,\r\n' >"$T/mixed.csv"
adm --json key import "$T/mixed.csv" >"$T/mixed.json"
expect_eq "BOM, CRLF and header case: imported" "$(jget imported <"$T/mixed.json")" 2
expect_eq "the empty regno got the number after the given one" \
    "$(adm --json key list --licensee Assigned | jget regno)" GW-000051

# ---- 12000 rows: several requests, one transaction
"$KG_PY" - "$T/big.csv" "$T/bigbad.csv" <<'EOF'
import sys
head = "product,edition,licensee,created,support_expiry,regno\n"
rows = "".join('GW,STD,"Customer %05d, a long name to fill the admin frames sooner: '
               'Ромашка, Лютик и Василёк, Ltd",2026-01-01,2027-01-01,BIG-%05d\n' % (i, i)
               for i in range(12000))
open(sys.argv[1], "w", encoding="utf-8").write(head + rows)
open(sys.argv[2], "w", encoding="utf-8").write(head + rows.replace("BIG-", "BAD-") +
    "GW,STD,Last,2026-13-01,2027-01-01,\n")
EOF
check "the big file is over one admin frame" [ "$(stat -c %s "$T/big.csv")" -gt 1100000 ]
before=$(count_keys)
adm key import "$T/bigbad.csv" >/dev/null 2>"$T/bigbad.err"
expect_eq "12000 good rows and one bad: exit 3" "$?" 3
expect_eq "... reports the bad line" "$(grep -c "^$T/bigbad.csv:12002: created \"2026-13-01\"" "$T/bigbad.err")" 1
expect_eq "... imports nothing" "$(count_keys)" "$before"
# On a terminal (stderr a pty) the import shows a progress line.
"$KG_PY" - "$ADMIN" "$B" "$T/big.csv" >"$T/big.out" 2>"$T/big.tty" <<'EOF'
import os, pty, subprocess, sys
admin, data, path = sys.argv[1:]
m, s = pty.openpty()
p = subprocess.Popen([admin, "--data", data, "key", "import", path],
                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=s)
os.close(s)
tty = b""
while True:
    try:
        chunk = os.read(m, 4096)
    except OSError:
        break
    if not chunk:
        break
    tty += chunk
out = p.stdout.read()
p.wait()
sys.stdout.write(out.decode())
sys.stderr.write(tty.decode(errors="replace"))
sys.exit(p.returncode)
EOF
expect_eq "12000 rows import" "$?" 0
check "... in one go" grep -q "^imported 12000 licenses from $T/big.csv (BIG-00000 .. BIG-11999)" "$T/big.out"
check "... with a progress line on the terminal" grep -q "sending rows: [0-9]* of 12000" "$T/big.tty"
expect_eq "... all of them are there" "$(count_keys)" "$((before + 12000))"
expect_eq "... in one audit record" "$(adm audit | grep -c 'key.import')" 3

# ---- the import's transaction waits beside the event loop
# Another process holds the store's write lock: the import waits for it in
# its own thread, and keygated answers other admins meanwhile; once the
# lock is let go the import finishes.
"$KG_PY" - "$T/hold.csv" <<'EOF'
import sys
open(sys.argv[1], "w").write("product,edition,licensee,created,support_expiry,regno\n" +
    "".join("GW,STD,Held %d,2026-01-01,2027-01-01,HOLD-%03d\n" % (i, i) for i in range(100)))
EOF
before=$(count_keys)
coproc HOLD { "$KG_BUILD/tests/kg_store_hold" "$B"; }
read -r -t 10 held <&"${HOLD[0]}"
expect_eq "held: another process has the store's write lock" "$held" held
"$ADMIN" --data "$B" key import "$T/hold.csv" >"$T/hold.out" 2>"$T/hold.err" &
imp=$!
sleep 0.5
"$ADMIN" --data "$B" --timeout 2 product list >"$T/hold.list" 2>&1
expect_eq "held: keygated answers another admin meanwhile" "$?" 0
check "... listing the products" grep -q GW "$T/hold.list"
check "... while the import waits" kill -0 "$imp"
exec {HOLD[1]}>&-
wait "$imp"
expect_eq "held: the import finishes once the lock is let go" "$?" 0
check "... all of it" grep -q "^imported 100 licenses" "$T/hold.out"
expect_eq "... and they are there" "$(count_keys)" "$((before + 100))"

# The admin client goes away while its import waits for the lock: keygated
# goes on answering other admins, and the import is stored once the lock is
# let go (its op learns the client is gone when the reply cannot be sent).
held_import() {	# FILE TAG: a CSV of 100 new licenses
	"$KG_PY" - "$1" "$2" <<'EOF2'
import sys
open(sys.argv[1], "w").write("product,edition,licensee,created,support_expiry,regno\n" +
    "".join("GW,STD,%s %d,2026-01-01,2027-01-01,%s-%03d\n" % (sys.argv[2], i, sys.argv[2], i)
    for i in range(100)))
EOF2
}
killed_import() {	# FILE: an import of FILE whose client is killed meanwhile
	local imp
	"$ADMIN" --data "$B" key import "$1" >/dev/null 2>&1 &
	imp=$!
	sleep 0.5
	kill -9 "$imp"
	wait "$imp" 2>/dev/null
	sleep 0.3
}
held_import "$T/orphan.csv" ORPH
before=$(count_keys)
coproc HOLD2 { "$KG_BUILD/tests/kg_store_hold" "$B"; }
read -r -t 10 held <&"${HOLD2[0]}"
expect_eq "orphan: the store's write lock is held" "$held" held
killed_import "$T/orphan.csv"
"$ADMIN" --data "$B" --timeout 2 product list >"$T/orphan.list" 2>&1
expect_eq "orphan: keygated answers another admin with the client gone" "$?" 0
exec {HOLD2[1]}>&-
for i in $(seq 100); do
	[ "$(count_keys)" -eq "$((before + 100))" ] && break
	sleep 0.1
done
expect_eq "orphan: the import is stored once the lock is let go" "$(count_keys)" \
    "$((before + 100))"

# The same, then keygated is told to stop while the lock is still held: the
# op is freed with its transaction running (admin_bg_orphan), and keygated
# waits for that transaction, saying so, before it closes the store; it
# exits cleanly once the lock is let go, and the import is stored.
held_import "$T/orphan2.csv" ORPHB
before=$(count_keys)
coproc HOLD3 { "$KG_BUILD/tests/kg_store_hold" "$B"; }
read -r -t 10 held <&"${HOLD3[0]}"
killed_import "$T/orphan2.csv"
kill -TERM "$KG_PID"
# Past the 2-second grace for in-flight requests, into the wait.
for i in $(seq 100); do
	grep -q "waiting for 1 store transaction of disconnected admin clients" \
	    "$B/keygated.log" && break
	sleep 0.1
done
check "orphan at exit: keygated says it waits for the transaction" \
    grep -q "waiting for 1 store transaction of disconnected admin clients" \
    "$B/keygated.log"
check "... and waits" kill -0 "$KG_PID"
exec {HOLD3[1]}>&-
wait "$KG_PID"
expect_eq "orphan at exit: then it exits cleanly" "$?" 0
KG_PID=
kg_start "$B" --test-clock "$TODAY" || exit 1
expect_eq "orphan at exit: the import is stored" "$(count_keys)" "$((before + 100))"
kg_stop
kg_done
