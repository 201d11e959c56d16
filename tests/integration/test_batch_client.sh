#!/usr/bin/env bash
# Batched reply signatures on the client side (issue 7 item 3): libkeygate
# (through kglib_drive, its public API) and the keygate CLI accept an
# update check's reply in the batched form and refuse one whose Merkle path
# is forged. keygated decides by itself which replies share a batch, so a
# stand-in server answers here: tests/tools/kg_batch_server, which signs
# every reply as one of a batch of N at index I with a key it generates.
# Python's nacl and hashlib (kgwire.reply_open, after proto/README.md)
# check first that its replies are what they claim: batched, index I, a
# path of log2(N) hashes, signed over the root it leads to.
# - batches of 1 (the direct form), 2, 3 and 64 (index 0, last, middle):
#   `keygate check` prints the verdict and exits 0, kglib_drive's check
#   returns KG_OK with the reply's verdict;
# - a forged path (one bit of its first hash): `keygate check` exits 2
#   saying the reply is not signed by a trusted key, kglib_drive's check
#   returns KG_ERR_UNTRUSTED.
. "$(dirname "$0")/lib.sh"

SERVER=$KG_BUILD/tests/kg_batch_server
DRIVE=$KG_BUILD/tests/kglib_drive
SPID=

# start NAME ARGS...: kg_batch_server in $T/NAME with ARGS; sets SPORT, SDIR.
start() {
	SDIR=$T/$1
	shift
	mkdir -p "$SDIR"
	"$SERVER" "$SDIR" "$@" 2>"$SDIR/err" &
	SPID=$!
	if ! kg_wait_file "$SDIR/port" 10; then
		echo "FAIL  kg_batch_server did not start: $(cat "$SDIR/err")"
		exit 1
	fi
	SPORT=$(cat "$SDIR/port")
}

stop() {
	kill "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	SPID=
}

# shape: the index and path length of the reply to one check, as Python
# sees it after verifying the signature over the root ("INDEX DEPTH").
shape() {
	kgpy - "$SPORT" "$SDIR/pub" "$(cat "$SDIR/key")" <<'EOF'
import os, sys
import kgwire

port, pub, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = kgwire.connect(port)
nonce = os.urandom(16)
req = kgwire.request("check", nonce, key=key, product="TEST", version="1.2")
kgwire.write_frame(s, req)
r = kgwire.reply_open(kgwire.read_frame(s), kgwire.load_pubkey(pub), nonce, req)
assert r["verdict"]["verdict"] == "current", r
print(r["batch_index"], r["batch_depth"])
EOF
}

for spec in "1 0 0" "2 0 1" "2 1 1" "3 2 2" "64 0 6" "64 37 6" "64 63 6"; do
	set -- $spec
	n=$1 i=$2 depth=$3
	start "b$n-$i" --size "$n" --index "$i"
	expect_eq "batch of $n, index $i: the reply as python verifies it" \
	    "$(shape)" "$i $depth"
	out=$("$CLI" --server "127.0.0.1:$SPORT" --pubkey "$SDIR/pub" check \
	    --key "$SDIR/key" --product TEST --version 1.2 2>&1)
	expect_eq "batch of $n, index $i: keygate check exits 0" "$?" 0
	expect_eq "batch of $n, index $i: keygate check says current" \
	    "$out" "current: 1.2 is the newest release"
	line=$("$DRIVE" --server "127.0.0.1:$SPORT" --trust "$SDIR/pub" \
	    "check,$SDIR/key,TEST,1.2")
	expect_eq "batch of $n, index $i: libkeygate check is KG_OK" \
	    "$(echo "$line" | jget err)" KG_OK
	expect_eq "batch of $n, index $i: libkeygate's verdict" \
	    "$(echo "$line" | jget verdict)/$(echo "$line" | jget eligible)" "current/1.2"
	stop
done

for spec in "2 0" "3 1" "64 37"; do
	set -- $spec
	n=$1 i=$2
	start "forged$n-$i" --size "$n" --index "$i" --forge
	if shape >/dev/null 2>&1; then got=accepted; else got=refused; fi
	expect_eq "forged path, batch of $n: python refuses it" "$got" refused
	out=$("$CLI" --server "127.0.0.1:$SPORT" --pubkey "$SDIR/pub" check \
	    --key "$SDIR/key" --product TEST --version 1.2 2>&1)
	expect_eq "forged path, batch of $n: keygate check exits 2" "$?" 2
	check "forged path, batch of $n: keygate says the reply is not trusted" \
	    grep -q "not signed by a trusted key" <<<"$out"
	line=$("$DRIVE" --server "127.0.0.1:$SPORT" --trust "$SDIR/pub" \
	    "check,$SDIR/key,TEST,1.2")
	expect_eq "forged path, batch of $n: libkeygate check is KG_ERR_UNTRUSTED" \
	    "$(echo "$line" | jget err)" KG_ERR_UNTRUSTED
	stop
done

kg_done
