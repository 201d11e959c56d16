#!/bin/bash
# The verified-key cache (issue 7 item 2) never outlives the state it
# replaces: a key checked once (so its verified form is cached) and then
# revoked answers demo/revoked on its next check, and a key checked once
# whose signing key is then rotated out and marked compromised answers
# demo/bad_key, while a key of the new signing key still checks current.
. "$(dirname "$0")/lib.sh"

D=$T/data
kg_init "$D"
kg_start "$D" --log-level debug || exit 1
PORT=$KG_PORT
cp "$D/signing.pub" "$T/old.pub"

{ adm product add DEMO --name "Demo App" --price 7990 &&
  adm edition add DEMO STD &&
  adm release publish DEMO 1.0 --date "$(day -30)"; } >"$T/setup.log" 2>&1 ||
	{ echo "setup failed: $(cat "$T/setup.log")"; exit 1; }
for k in a c; do
	adm --json key issue DEMO STD --licensee "Licensee $k" >"$T/$k.json"
	jget key <"$T/$k.json" >"$T/$k.key"
	[ -s "$T/$k.key" ] || { echo "key issue failed: $(cat "$T/$k.json")"; exit 1; }
done

# kcheck NAME PUBKEY KEYFILE: keygate check; "rc/verdict/reason".
kcheck() {
	"$CLI" --server "127.0.0.1:$PORT" --pubkey "$2" --json check \
	    --key "$3" --product DEMO --version 1.0 >"$T/$1.out" 2>"$T/$1.err"
	echo "$?/$(jget verdict <"$T/$1.out")/$(jget reason <"$T/$1.out")"
}

# ---- revocation after a cached check -------------------------------------------
expect_eq "key A: first check" "$(kcheck a1 "$T/old.pub" "$T/a.key")" 0/current/ok
expect_eq "key A: second check (from the cache)" \
    "$(kcheck a2 "$T/old.pub" "$T/a.key")" 0/current/ok
adm key revoke "$(jget regno <"$T/a.json")" --reason "refund" >/dev/null
expect_eq "key A revoked: the next check says demo/revoked" \
    "$(kcheck a3 "$T/old.pub" "$T/a.key")" 11/demo/revoked

# ---- a compromised signer after a cached check ---------------------------------
expect_eq "key C: first check" "$(kcheck c1 "$T/old.pub" "$T/c.key")" 0/current/ok
expect_eq "key C: second check (from the cache)" \
    "$(kcheck c2 "$T/old.pub" "$T/c.key")" 0/current/ok
adm --json signing-key rotate >"$T/rot.json" 2>"$T/rot.err" ||
	{ echo "rotate failed: $(cat "$T/rot.err")"; exit 1; }
cp "$D/signing.pub" "$T/new.pub"
OLDID=$(jget previous.id <"$T/rot.json")
expect_eq "key C after the rotation: still current (old key retired)" \
    "$(kcheck c3 "$T/new.pub" "$T/c.key")" 0/current/ok
adm --json key issue DEMO STD --licensee "Licensee b" >"$T/b.json"
jget key <"$T/b.json" >"$T/b.key"
expect_eq "key B (new signing key): current" \
    "$(kcheck b1 "$T/new.pub" "$T/b.key")" 0/current/ok
adm --json signing-key compromise "$OLDID" >"$T/comp.json" 2>"$T/comp.err"
expect_eq "compromise the old signing key" "$?" 0
expect_eq "key C after the compromise: demo/bad_key" \
    "$(kcheck c4 "$T/new.pub" "$T/c.key")" 11/demo/bad_key
expect_eq "... and again" "$(kcheck c5 "$T/new.pub" "$T/c.key")" 11/demo/bad_key
check "... refused as signed by a compromised key" \
    kg_wait_log 'key rejected: .*compromised' 5
expect_eq "key B is not affected" "$(kcheck b2 "$T/new.pub" "$T/b.key")" 0/current/ok

kg_stop
kg_done
