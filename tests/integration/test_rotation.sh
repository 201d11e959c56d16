#!/bin/bash
# Signing-key rotation (issue 6 item 4, issue 5's "the trust set grows only
# through a rotation statement signed by a key already trusted"):
# - `signing-key rotate` makes a new active key: `keygated pubkey` prints it,
#   no secret file is left behind, the old key is listed as retired;
# - key A, signed by the old key, still checks and verifies offline with the
#   old public key; key B is signed by the new key;
# - a client that trusts only the OLD public key checks key B: it fetches
#   the rotation statement once, trusts the new key, keeps the statement in
#   its state file and needs no second fetch;
# - forged statements (a server signing with a random key, or relaying the
#   genuine statements in a reply signed by another key) add nothing;
# - keygated signs with the new key after its signer process is killed and
#   restarted, and after keygated itself is restarted;
# - compromising the old key turns key A into demo/bad_key and lists A's
#   regno; compromising the active key is refused; `key reissue A` makes a
#   key that verifies with the new public key and checks fine;
# - rotating a sealed key keeps it sealed with the same passphrase.
. "$(dirname "$0")/lib.sh"

FORGE=$KG_SOURCE/tests/integration/rotation_forge.py
D=$T/data
kg_init "$D"
kg_start "$D" --log-level debug || exit 1
PORT=$KG_PORT
cp "$D/signing.pub" "$T/old.pub"
OLDPK=$(cat "$T/old.pub")

{ adm product add DEMO --name "Demo App" --price 7990 &&
  adm edition add DEMO STD &&
  adm release publish DEMO 1.0 --date "$(day -30)"; } >"$T/setup.log" 2>&1 ||
	{ echo "setup failed: $(cat "$T/setup.log")"; exit 1; }
adm --json key issue DEMO STD --licensee "A Co" >"$T/a.json"
jget key <"$T/a.json" >"$T/a.key"
REGNO_A=$(jget regno <"$T/a.json")
[ -s "$T/a.key" ] || { echo "key issue failed: $(cat "$T/a.json")"; exit 1; }

# kcheck NAME PUBKEY KEYFILE [ARGS...]: keygate check of KEYFILE against
# port $PORT trusting PUBKEY; JSON in $T/NAME.out, exit status in $T/NAME.rc.
kcheck() {
	local name=$1 pub=$2 key=$3
	shift 3
	"$CLI" --server "127.0.0.1:$PORT" --pubkey "$pub" --json "$@" check \
	    --key "$key" --product DEMO --version 1.0 >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
rc() { cat "$T/$1.rc"; }
out() { jget "$2" <"$T/$1.out"; }
# verify KEYFILE PUBKEY: keygate verify's exit status.
verify() { "$CLI" --json verify --key "$1" --pubkey "$2" >/dev/null 2>&1; echo $?; }
# "trusted" lines of a state file (0 when there is no file).
trusted() { cat "$1" 2>/dev/null | grep -c '^trusted '; }
# Lines of keygated's log that answer a RotationsRequest.
fetches() { grep -c ': rotations [0-9]* statement' "$D/keygated.log"; }

# ---- rotate ---------------------------------------------------------------------
adm --json signing-key rotate >"$T/rot.json" 2>"$T/rot.err"
expect_eq "rotate: succeeds" "$?" 0
NEWPK=$(jget public_key <"$T/rot.json")
NEWID=$(jget id <"$T/rot.json")
OLDID=$(jget previous.id <"$T/rot.json")
check "rotate: a new public key" test -n "$NEWPK" -a "$NEWPK" != "$OLDPK"
expect_eq "rotate: the previous key is the old one" \
    "$(jget previous.public_key <"$T/rot.json")" "$OLDPK"
expect_eq "keygated pubkey prints the new key" "$("$KEYGATED" pubkey --data "$D")" "$NEWPK"
expect_eq "signing.pub holds the new key" "$(cat "$D/signing.pub")" "$NEWPK"
cp "$D/signing.pub" "$T/new.pub"
expect_eq "the secret key file stays 0600" "$(stat -c %a "$D/signing.key")" 600
expect_eq "no prepared or retired secret key file is left" \
    "$(ls "$D" | grep -c -e '\.new$' -e '\.retired$' -e '^signing-')" 0
expect_eq "the secret key file is plain, as before" "$(head -c 5 "$D/signing.key")" KGS1.
adm --json signing-key list >"$T/list.json"
expect_eq "signing-key list: two keys" "$(wc -l <"$T/list.json")" 2
expect_eq "signing-key list: the old key is retired" \
    "$(sed -n 1p "$T/list.json" | jget state)/$(sed -n 1p "$T/list.json" | jget id)" \
    "retired/$OLDID"
expect_eq "signing-key list: the new key is active, rotated from the old" \
    "$(sed -n 2p "$T/list.json" | jget state)/$(sed -n 2p "$T/list.json" | jget rotated_from)" \
    "active/$OLDID"
check "audit: signing-key.rotate recorded" \
    sh -c "'$ADMIN' --data '$D' --json audit | grep -q '\"action\":\"signing-key.rotate\",\"object\":\"$NEWID\"'"

# Kill the signer child and wait (10 s at most) for keygated's Nth
# "restarted as pid" line.
signer_kill() {
	local s i
	s=$(kg_signer_pid)
	[ -n "$s" ] || return 1
	kill -9 "$s"
	for i in $(seq 100); do
		[ "$(grep -c 'restarted as pid' "$D/keygated.log")" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# The signer process, killed after the rotation, comes back with the new key.
check "a signer killed after the rotation is restarted" signer_kill 1
kcheck k1 "$T/new.pub" "$T/a.key"
expect_eq "... and keygated still signs with the new key" "$(rc k1)/$(out k1 verdict)" 0/current
check "... saying so" grep -q 'restarted as pid [0-9]*, with the same signing key' "$D/keygated.log"

# ---- old and new keys -------------------------------------------------------------
kcheck a_new "$T/new.pub" "$T/a.key"
expect_eq "key A still checks (verdict from the store)" "$(rc a_new)/$(out a_new verdict)" 0/current
expect_eq "key A verifies offline with the old public key" "$(verify "$T/a.key" "$T/old.pub")" 0
expect_eq "key A does not verify with the new public key alone" \
    "$(verify "$T/a.key" "$T/new.pub")" 11
adm --json key issue DEMO STD --licensee "B Co" >"$T/b.json"
jget key <"$T/b.json" >"$T/b.key"
expect_eq "key B verifies with the new public key" "$(verify "$T/b.key" "$T/new.pub")" 0
expect_eq "key B is not signed by the old key" "$(verify "$T/b.key" "$T/old.pub")" 11

# ---- a client that trusts only the old key ------------------------------------------
F0=$(fetches)
kcheck b_old "$T/old.pub" "$T/b.key" --state "$T/state"
expect_eq "old-key client checks key B: learns the new key" \
    "$(rc b_old)/$(out b_old verdict)" 0/current
expect_eq "... with one rotations request" "$(fetches)" $((F0 + 1))
expect_eq "the state file keeps the new key, proved by its statement" \
    "$(grep -c "^trusted $NEWPK [A-Za-z0-9_-]*\$" "$T/state")" 1
expect_eq "the state file names no other key" "$(trusted "$T/state")" 1
kcheck b_again "$T/old.pub" "$T/b.key" --state "$T/state"
expect_eq "a later check works" "$(rc b_again)/$(out b_again verdict)" 0/current
expect_eq "... without fetching again" "$(fetches)" $((F0 + 1))
kcheck a_old "$T/old.pub" "$T/a.key"
expect_eq "old-key client without a state file checks key A" \
    "$(rc a_old)/$(out a_old verdict)" 0/current
expect_eq "... fetching the statements again" "$(fetches)" $((F0 + 2))

# A "trusted" line whose statement does not prove its key trusts nothing.
BOGUS=$T/bogus.state
"$KG_PY" - "$T/state" "$BOGUS" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines()
out = []
for l in lines:
    if l.startswith("trusted "):
        _, pk, st = l.split(" ")
        # Flip a character inside the signature part of the statement.
        i = len(st) - 10
        st = st[:i] + ("A" if st[i] != "A" else "B") + st[i + 1:]
        l = " ".join(("trusted", pk, st))
    elif l.startswith("verdict "):
        continue
    out.append(l)
open(sys.argv[2], "w").write("\n".join(out) + "\n")
EOF
"$CLI" --server 127.0.0.1:1 --pubkey "$T/old.pub" --state "$BOGUS" --json check \
    --key "$T/b.key" --product DEMO --version 1.0 >/dev/null 2>&1
expect_eq "a tampered trusted line proves nothing (no server, no trust)" "$?" 2

# ---- forged statements ---------------------------------------------------------------
# forge NAME MODE ARGS...: start rotation_forge.py; its port in FPORT.
forge() {
	local name=$1
	shift
	"$KG_PY" "$FORGE" --port-file "$T/$name.port" --log "$T/$name.log" \
	    --lifetime 60 "$@" >"$T/$name.stderr" 2>&1 &
	FORGE_PID=$!
	kg_wait_file "$T/$name.port" 10
	FPORT=$(cat "$T/$name.port" 2>/dev/null)
}
forge_stop() { kill "$FORGE_PID" 2>/dev/null; wait "$FORGE_PID" 2>/dev/null; }
fcheck() {
	local name=$1 pub=$2
	shift 2
	"$CLI" --server "127.0.0.1:$FPORT" --pubkey "$pub" --json "$@" check \
	    --key "$T/b.key" --product DEMO --version 1.0 >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
forge forged --mode forged --old-pubkey "$T/old.pub"
check "forged: server up" test -n "$FPORT"
fcheck f1 "$T/old.pub" --state "$T/fstate"
expect_eq "forged statement: the check fails as untrusted" "$(rc f1)" 2
check "... the error says untrusted" grep -q "not signed by a trusted key" "$T/f1.err"
expect_eq "... after asking for rotations" "$(grep -c '^rotations$' "$T/forged.log")" 1
expect_eq "... and nothing was trusted" "$(trusted "$T/fstate")" 0
forge_stop
forge relay --mode relay --upstream "127.0.0.1:$PORT"
fcheck f2 "$T/old.pub" --state "$T/rstate"
expect_eq "genuine statements in a reply signed by another key: untrusted" "$(rc f2)" 2
expect_eq "... after asking for rotations" "$(grep -c '^rotations$' "$T/relay.log")" 1
expect_eq "... and nothing was trusted" "$(trusted "$T/rstate")" 0
fcheck f3 "$T/old.pub" --state "$T/state"
expect_eq "a client that learned the new key still refuses the forger" "$(rc f3)" 2
expect_eq "... and trusts nothing more" "$(trusted "$T/state")" 1
forge_stop

# ---- restart -------------------------------------------------------------------------
kg_stop
kg_start "$D" --log-level debug || exit 1
PORT=$KG_PORT
kcheck r1 "$T/new.pub" "$T/b.key"
expect_eq "restart: keygated signs with the new key" "$(rc r1)/$(out r1 verdict)" 0/current
check "restart: no rotation was left to finish" \
    sh -c "! grep -q 'cut short' '$D/keygated.log'"
check "restart: the signer process is killed and restarted" signer_kill 2
kcheck r2 "$T/new.pub" "$T/b.key"
expect_eq "a restarted signer process signs with the new key" \
    "$(rc r2)/$(out r2 verdict)" 0/current

# ---- compromise ---------------------------------------------------------------------
adm signing-key compromise "$NEWID" >"$T/cn.out" 2>"$T/cn.err"
expect_eq "compromising the active key is refused" "$?" 3
check "... saying rotate first" grep -q "rotate first: keygate-admin signing-key rotate" "$T/cn.err"
adm --json signing-key compromise "${OLDID:0:8}" >"$T/comp.json"
expect_eq "compromise the old key (8 hex digits)" "$?" 0
expect_eq "compromise: the key is compromised" "$(jget state <"$T/comp.json")" compromised
expect_eq "compromise: the licenses to reissue are A's" \
    "$(jget reissue <"$T/comp.json" | "$KG_PY" -c 'import json, sys
print(",".join(r["regno"] for r in json.load(sys.stdin)))')" "$REGNO_A"
kcheck a_comp "$T/new.pub" "$T/a.key"
expect_eq "key A after the compromise: demo/bad_key" \
    "$(rc a_comp)/$(out a_comp verdict)/$(out a_comp reason)" 11/demo/bad_key
kcheck b_comp "$T/new.pub" "$T/b.key"
expect_eq "key B is not affected" "$(rc b_comp)/$(out b_comp verdict)" 0/current
kcheck b_fresh "$T/old.pub" "$T/b.key"
expect_eq "statements signed by a compromised key are not served" "$(rc b_fresh)" 2
check "audit: signing-key.compromise recorded" \
    sh -c "'$ADMIN' --data '$D' --json audit | grep -q '\"action\":\"signing-key.compromise\"'"
adm --json signing-key compromise "$OLDPK" >"$T/comp2.json"
expect_eq "compromise again, by public key: changes nothing, lists A again" \
    "$(jget already <"$T/comp2.json")/$(jget reissue <"$T/comp2.json" | grep -c "$REGNO_A")" true/1

# ---- reissue ------------------------------------------------------------------------
adm --json key reissue "$REGNO_A" >"$T/re.json"
expect_eq "key reissue: succeeds" "$?" 0
jget key <"$T/re.json" >"$T/a2.key"
expect_eq "key reissue: revision 2" "$(jget revision <"$T/re.json")" 2
expect_eq "the reissued key verifies with the new public key" "$(verify "$T/a2.key" "$T/new.pub")" 0
kcheck a2 "$T/new.pub" "$T/a2.key"
expect_eq "the reissued key checks fine" "$(rc a2)/$(out a2 verdict)" 0/current
check "audit: key.reissue recorded" \
    sh -c "'$ADMIN' --data '$D' --json audit | grep -q '\"action\":\"key.reissue\",\"object\":\"$REGNO_A\"'"
adm --json signing-key compromise "${OLDID:0:8}" >"$T/comp3.json"
expect_eq "after reissue nothing is left to reissue" "$(jget reissue <"$T/comp3.json")" "[]"
kg_stop

# ---- a sealed key stays sealed ------------------------------------------------------
S=$T/sealed
printf 'correct horse battery staple\n' >"$T/pass"
printf 'wrong passphrase\n' >"$T/wrong"
chmod 600 "$T/pass" "$T/wrong"
"$KEYGATED" init --data "$S" --passphrase-file "$T/pass" >"$T/sinit.out" 2>&1 ||
	{ echo "sealed init failed: $(cat "$T/sinit.out")"; exit 1; }
kg_start "$S" || exit 1
PORT=$KG_PORT
cp "$S/signing.pub" "$T/sold.pub"
adm --json signing-key rotate >"$T/srot.json"
expect_eq "sealed: rotate succeeds" "$?" 0
expect_eq "sealed: the new key file is sealed" "$(head -c 5 "$S/signing.key")" KGE1.
expect_eq "sealed: no prepared key file is left" "$(ls "$S" | grep -c '\.new$')" 0
{ adm product add DEMO --name "Demo App" --price 7990 &&
  adm edition add DEMO STD &&
  adm release publish DEMO 1.0 --date "$(day -30)"; } >"$T/ssetup.log" 2>&1
adm --json key issue DEMO STD --licensee "S Co" | jget key >"$T/s.key"
kg_stop
timeout 120 "$KEYGATED" run --data "$S" --listen 127.0.0.1:0 \
    --passphrase-file "$T/wrong" >"$T/swrong.out" 2>&1
expect_eq "sealed: a restart with a wrong passphrase fails" "$?" 1
check "... saying so" grep -q -i "passphrase" "$T/swrong.out"
kg_start "$S" || exit 1
PORT=$KG_PORT
kcheck s1 "$S/signing.pub" "$T/s.key"
expect_eq "sealed: restarted with the passphrase, signs with the new key" \
    "$(rc s1)/$(out s1 verdict)" 0/current
check "sealed: the new key differs from the old" \
    test "$(cat "$S/signing.pub")" != "$(cat "$T/sold.pub")"
kcheck s2 "$T/sold.pub" "$T/s.key" --state "$T/sstate"
expect_eq "sealed: an old-key client learns the new key" "$(rc s2)/$(out s2 verdict)" 0/current
kg_stop

kg_done
