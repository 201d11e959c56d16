#!/usr/bin/env bash
# Bulk issuance (issue 7): `key issue --count N` streamed in frames, stored
# in batches of 10,000 keys a transaction. One call of 25,000 keys: N lines,
# distinct keys, regnos and serials, a sample verified with python3-nacl as
# proto/README.md says, every key in `key list` and with its own audit
# record, the chain intact, the --json lines what `key show` prints. A
# progress line on a pseudo-terminal only, not when stderr is a file;
# --count 1000001 refused in one line; a request without "stream" limited
# to 100,000. The public port answers checks while keys are issued, and
# the admin socket answers while the signer process is stopped or another
# process holds the store's write lock in the middle of an issue. A
# keygated killed with SIGKILL in the middle of an issue keeps whole batches
# only, each key with its audit record, and starts again. A store that
# fills up in the middle: whole batches sent, then the error saying so.
. "$(dirname "$0")/lib.sh"

BATCH=10000	# keys in one store transaction (daemon/admin_issue.c)
N=25000
NBIG=100000

D=$T/data
kg_init "$D"
kg_start "$D" || exit 1
kg_product BULK "Bulk Test"
adm product add KILL --name "Killed" --price 100 >/dev/null &&
    adm edition add KILL STD >/dev/null || exit 1

rc_of() {
	"$@" >"$T/out" 2>"$T/err"
	echo $?
}

# ---- one call of N keys, --json ----
t0=$SECONDS
adm --json key issue BULK STD --licensee "Bulk Ltd" --count "$N" \
    >"$T/bulk.jsonl" 2>"$T/bulk.err"
rc=$?
echo "issued $N keys in $((SECONDS - t0)) s"
expect_eq "bulk: exit status" "$rc" 0
expect_eq "bulk: nothing on stderr" "$(wc -c <"$T/bulk.err")" 0
expect_eq "bulk: one line a key" "$(wc -l <"$T/bulk.jsonl")" "$N"
"$KG_PY" - "$T/bulk.jsonl" "$N" >"$T/bulk.check" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
serials = [r["serial"] for r in rows]
regnos = [r["regno"] for r in rows]
print("keys", len({r["key"] for r in rows}))
print("regnos", len(set(regnos)))
print("serials", len(set(serials)))
print("serials in order", serials == list(range(serials[0], serials[0] + n)))
print("regnos in order", regnos == ["BULK-%06d" % (i + 1) for i in range(n)])
common = {k: v for k, v in rows[0].items() if k not in ("key", "regno", "serial")}
print("same terms", all({k: v for k, v in r.items()
    if k not in ("key", "regno", "serial")} == common for r in rows))
print("members", ",".join(rows[-1].keys()))
EOF
expect_eq "bulk: distinct keys, regnos, serials, in order" "$(cat "$T/bulk.check")" \
"keys $N
regnos $N
serials $N
serials in order True
regnos in order True
same terms True
members key,regno,serial,product,edition,licensee,created,support_expiry,license_expiry,support_months,trial,revision,state,state_reason"
# A --json line is what key show prints for that key.
line=$(sed -n "$((BATCH + 1))p" "$T/bulk.jsonl")
regno=$(echo "$line" | jget regno)
expect_eq "bulk: a --json line is key show's object" \
    "$(adm --json key show "$regno")" "$line"

# A sample of the keys verified independently (proto/README.md).
"$KG_PY" - "$D/signing.pub" "$T/bulk.jsonl" >"$T/nacl.out" <<'EOF'
import base64, hashlib, json, sys
from nacl.signing import VerifyKey

def b64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

def fields(buf):
    out, pos = {}, 0
    def varint():
        nonlocal pos
        v = shift = 0
        while True:
            b = buf[pos]; pos += 1
            v |= (b & 0x7f) << shift; shift += 7
            if not b & 0x80:
                return v
    while pos < len(buf):
        tag = varint()
        if tag & 7 == 0:
            out[tag >> 3] = varint()
        elif tag & 7 == 2:
            n = varint(); out[tag >> 3] = buf[pos:pos + n]; pos += n
        else:
            raise ValueError("wire type")
    return out

pk = b64(open(sys.argv[1]).read().strip()[len("KGP1."):])
key_id = hashlib.blake2b(pk, digest_size=32).digest()[:8]
rows = [json.loads(l) for l in open(sys.argv[2])]
sample = rows[::max(1, len(rows) // 97)] + rows[-3:]
good = 0
for r in sample:
    head, p, s = r["key"].split(".")
    payload = b64(p)
    VerifyKey(pk).verify(b"keygate-license-v1\x00" + payload, b64(s))
    f = fields(payload)
    assert head == "KG1" and f[10] == key_id, r["regno"]
    assert f[1] == r["serial"] and f[4].decode() == r["regno"], r["regno"]
    assert f[2] == b"BULK" and f[5] == b"Bulk Ltd", r["regno"]
    good += 1
print("verified", good, "of", len(sample))
EOF
check "bulk: a sample of keys verifies with python3-nacl" \
    grep -q "^verified \([0-9]*\) of \1$" "$T/nacl.out"
cat "$T/nacl.out"

# Every key is in the store, each with its own audit record.
expect_eq "bulk: key list has them all" \
    "$(adm --json key list --product BULK | wc -l)" "$N"
expect_eq "bulk: one key.issue audit record a key" \
    "$(adm --json audit | grep '"action":"key.issue"' | grep -c '"object":"BULK-')" "$N"
check "bulk: the audit chain verifies" adm audit --verify

# ---- text output: per-key lines in a file, a progress line on a tty ----
adm key issue BULK STD --licensee "Text Ltd" --count 1500 >"$T/text.keys" \
    2>"$T/text.err"
expect_eq "text: one key a line" "$(grep -c '^KG1\.' "$T/text.keys")" 1500
expect_eq "text: stderr in a file: one line a key" \
    "$(grep -c '^issued BULK-[0-9]*, support until ' "$T/text.err")" 1500
check "text: no progress line when stderr is a file" \
    sh -c "! grep -q 'of 1500 keys' '$T/text.err'"
script -qec "'$ADMIN' --data '$D' key issue BULK STD --licensee 'Tty Ltd' \
    --count 1500 >'$T/tty.keys'" /dev/null >"$T/tty.out" 2>&1
rc=$?
expect_eq "tty: exit status" "$rc" 0
expect_eq "tty: keys on stdout" "$(grep -c '^KG1\.' "$T/tty.keys")" 1500
check "tty: progress line, updated in place" \
    grep -q $'\r\e\\[Kkeygate-admin: key issue: issued [0-9]* of 1500 keys' \
    "$T/tty.out"
check "tty: ... ending at 1500 of 1500" \
    grep -q 'issued 1500 of 1500 keys' "$T/tty.out"
first=$((N + 1500 + 1))
check "tty: one summary line instead of a line a key" \
    grep -q "issued 1500 keys, BULK-0$first to BULK-0$((first + 1499)), support until " \
    "$T/tty.out"
expect_eq "tty: no per-key lines" "$(grep -c '^issued BULK-' "$T/tty.out")" 0

# ---- limits ----
expect_eq "limit: --count 1000001 is a usage error in one line" \
    "$(rc_of adm key issue BULK STD --licensee X --count 1000001; wc -l <"$T/err")" "1
1"
check "limit: ... naming the maximum" grep -q "from 1 to 1000000" "$T/err"
# Without "stream" (an older client) one reply holds every key.
"$KG_PY" - "$D/admin.sock" >"$T/raw.out" <<'EOF'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def ask(req):
    body = json.dumps(req).encode()
    s.sendall(struct.pack(">I", len(body)) + body)
    n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
    return json.loads(s.recv(n, socket.MSG_WAITALL))
r = ask({"op": "key.issue", "product": "BULK", "edition": "STD",
    "licensee": "Old Client", "count": 100001})
print(r["ok"], r["reason"])
r = ask({"op": "key.issue", "product": "BULK", "edition": "STD",
    "licensee": "Old Client", "count": 3})
print(r["ok"], len(r["results"]), sorted(r["results"][0])[:3], "partial" in r)
EOF
expect_eq "limit: unstreamed issues: 100,000 keys at most, one list reply" \
    "$(cat "$T/raw.out")" "False bad_request
True 3 ['created', 'edition', 'key'] False"

# ---- the public port is served during a large issue ----
kg_wire_key BULK
adm key issue BULK STD --licensee "Busy Ltd" --count "$NBIG" >"$T/busy.keys" \
    2>/dev/null &
busy=$!
for i in $(seq 200); do
	[ -s "$T/busy.keys" ] && break
	sleep 0.05
done
slow=0 maxms=0
for i in $(seq 5); do
	s0=$(date +%s%N)
	kg_check_says "$KEY" BULK 1.0.0 "update: install 1.1.0" || slow=$((slow + 100))
	ms=$((($(date +%s%N) - s0) / 1000000))
	[ "$ms" -lt 2000 ] || slow=$((slow + 1))
	[ "$ms" -le "$maxms" ] || maxms=$ms
done
during=$(wc -l <"$T/busy.keys")
wait "$busy"
rc=$?
echo "5 checks answered (the slowest in $maxms ms, the CLI's start included)" \
    "while $during of $NBIG keys had arrived"
expect_eq "busy: checks answered within 2 s during the issue" "$slow" 0
check "busy: ... while the issue was running" test "$during" -lt "$NBIG"
expect_eq "busy: the issue finished" "$rc $(wc -l <"$T/busy.keys")" "0 $NBIG"

# ---- an issue never holds the loop waiting for the signer ----
# The signer process is stopped in the middle of an issue: keygated goes on
# serving the admin socket (the issue's steps only look for signatures that
# are in), and once the signer goes on the issue finishes, with the same
# signer process: nothing waited for it long enough to give up on it.
adm key issue BULK STD --licensee "Stopped Ltd" --count "$NBIG" \
    >"$T/stop.keys" 2>/dev/null &
busy=$!
for i in $(seq 200); do
	[ -s "$T/stop.keys" ] && break
	sleep 0.05
done
SP=$(kg_signer_pid "$KG_PID")
kill -STOP "$SP"
sleep 0.3
rc=$(rc_of "$ADMIN" --data "$D" --timeout 2 product list)
stopped_at=$(wc -l <"$T/stop.keys")
kill -CONT "$SP"
wait "$busy"
brc=$?
expect_eq "signer stopped: the admin socket still answers" "$rc" 0
check "signer stopped: ... listing the products" grep -q BULK "$T/out"
check "signer stopped: ... in the middle of the issue" \
    test "$stopped_at" -lt "$NBIG"
expect_eq "signer stopped: the issue finished once it went on" \
    "$brc $(wc -l <"$T/stop.keys")" "0 $NBIG"
expect_eq "signer stopped: the same signer process" \
    "$(kg_signer_pid "$KG_PID")" "$SP"

# ---- a batch's transaction waits beside the event loop ----
# Another process holds the store's write lock: the first batch waits for
# it in its own thread, keygated answers other admins meanwhile, and the
# issue finishes once the lock is let go.
coproc HOLD { "$KG_BUILD/tests/kg_store_hold" "$D"; }
read -r -t 10 held <&"${HOLD[0]}"
expect_eq "held: another process has the store's write lock" "$held" held
adm key issue BULK STD --licensee "Held Ltd" --count 20000 \
    >"$T/held.keys" 2>/dev/null &
busy=$!
sleep 0.5
rc=$(rc_of "$ADMIN" --data "$D" --timeout 2 product list)
expect_eq "held: keygated answers another admin meanwhile" "$rc" 0
check "held: ... listing the products" grep -q BULK "$T/out"
check "held: ... while the issue waits" kill -0 "$busy"
exec {HOLD[1]}>&-
wait "$busy"
expect_eq "held: the issue finishes once the lock is let go" \
    "$? $(wc -l <"$T/held.keys")" "0 20000"

# ---- SIGKILL in the middle of an issue ----
adm key issue KILL STD --licensee "Killed Ltd" --count "$NBIG" \
    >"$T/kill.keys" 2>"$T/kill.err" &
victim=$!
for i in $(seq 600); do
	[ "$(wc -l <"$T/kill.keys")" -gt "$BATCH" ] && break
	sleep 0.05
done
kg_kill9
wait "$victim"
rc=$?
got=$(grep -c '^KG1\.' "$T/kill.keys")
echo "killed keygated after $got of $NBIG keys had arrived"
check "kill: it was in the middle of the issue" \
    test "$got" -gt "$BATCH" -a "$got" -lt "$NBIG"
expect_eq "kill: keygate-admin exit status 2" "$rc" 2
check "kill: ... saying how many arrived and how to list them" \
    grep -q "^keygate-admin: key issue: lost keygated at .* after $got of $NBIG keys .*'keygate-admin key list --product KILL'" \
    "$T/kill.err"
kg_start "$D" || exit 1
check "kill: the audit chain verifies after the restart" adm audit --verify
next=$(adm --json key issue KILL STD --licensee "After Ltd" | jget regno)
stored=$((10#${next#KILL-} - 1))
echo "the store kept $stored keys; the next key is $next"
expect_eq "kill: whole batches stored" "$((stored % BATCH))" 0
check "kill: every key that arrived is stored" test "$stored" -ge "$got"
expect_eq "kill: each stored key has its audit record" \
    "$(adm --json audit | grep '"action":"key.issue"' | grep -c '"object":"KILL-')" \
    "$((stored + 1))"
last=$(tail -n 1 "$T/kill.keys")
check "kill: the last key that arrived is known" \
    sh -c "'$ADMIN' --data '$D' key show '$last' >/dev/null"
kg_stop

# ---- a store that fills up in the middle of an issue ----
D2=$T/small
kg_init "$D2"
echo "map_size_mb = 8" >>"$D2/keygated.conf"
kg_start "$D2" || exit 1
adm product add FULL --name "Full" --price 100 >/dev/null &&
    adm edition add FULL STD >/dev/null || exit 1
adm --json key issue FULL STD --licensee "Full Ltd" --count 50000 \
    >"$T/full.jsonl" 2>"$T/full.err"
rc=$?
keys=$(grep -c '"key":' "$T/full.jsonl")
echo "a map of 8 MiB took $keys keys"
expect_eq "full: exit status 3" "$rc" 3
check "full: whole batches were sent before the error" \
    test "$keys" -gt 0 -a "$((keys % BATCH))" -eq 0
expect_eq "full: the last line is the error, counting them" \
    "$(tail -n 1 "$T/full.jsonl" | "$KG_PY" -c 'import json, sys
r = json.loads(sys.stdin.read()); print(r["ok"], r["reason"], r["issued"], r["of"])')" \
    "False storage_full $keys 50000"
check "full: one line on stderr saying how many and how to list them" \
    test "$(wc -l <"$T/full.err")" -eq 1 -a \
    "$(grep -c "the store is full after $keys of 50000 keys: .*'keygate-admin key list --product FULL'" \
    "$T/full.err")" -eq 1
expect_eq "full: the keys sent are the keys stored" \
    "$(adm --json audit | grep -c '"action":"key.issue"')" "$keys"
check "full: the audit chain verifies" adm audit --verify
kg_stop
kg_done
