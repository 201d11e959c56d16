#!/bin/bash
# Secret hygiene (issue 6 item 5):
# - the data dir's files other than signing.key (the LMDB data and lock
#   files, a backup, the log, the config) never hold the secret key: not its
#   32-byte seed, not the 64-byte libsodium secret key, not their hex, not
#   the key file's text; checked after issuing keys, checks and a renewal;
# - the network-facing keygated process's memory (read through
#   /proc/PID/mem as root) holds neither the seed nor the secret key, nor a
#   sealed key's passphrase, while its signer child's memory does hold the
#   key (so the scan is known to work); the scan also finds the public key
#   in keygated itself (so it covers its heap);
# - a wrong passphrase, a missing one, an unreadable passphrase file, a key
#   file readable by others, a truncated, an altered and a missing key file
#   each stop `keygated run` at start with exit status 1, exactly one line on
#   stderr naming the file, the problem and what to do, and nothing
#   listening (no port file, no admin socket).
# The secret key is read back from signing.key by an independent decoder
# (Python, PyNaCl), sealed ones with their passphrase.
. "$(dirname "$0")/lib.sh"

TODAY=2026-06-01

cat >"$T/secrets.py" <<'EOF'
"""Decode keygate secret key files; look for their bytes in files and memory."""
import base64
import sys

from nacl import pwhash, secret
from nacl.signing import SigningKey


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def load_sk(keyfile, passfile=None):
    """The 64-byte secret key (seed || pk) of a KGS1 or KGE1 file."""
    text = open(keyfile).read().strip()
    raw = b64d(text[5:])
    if text.startswith("KGS1."):
        sk = raw[:64]
    elif text.startswith("KGE1."):
        salt, ops = raw[0:16], int.from_bytes(raw[16:24], "big")
        mem, nonce = int.from_bytes(raw[24:32], "big"), raw[32:56]
        pw = open(passfile, "rb").read().split(b"\n")[0].rstrip(b"\r")
        box = pwhash.argon2id.kdf(32, pw, salt, opslimit=ops, memlimit=mem)
        sk = secret.SecretBox(box).decrypt(raw[56:56 + 80], nonce)
    else:
        raise SystemExit("not a key file: " + keyfile)
    if bytes(SigningKey(sk[:32]).verify_key) != sk[32:]:
        raise SystemExit("decoded seed does not give the stored public key")
    return sk


def needles(skhex, extra):
    sk = bytes.fromhex(skhex)
    n = {"seed": sk[:32], "sk": sk, "seed-hex": sk[:32].hex().encode(),
         "seed-b64": base64.urlsafe_b64encode(sk[:32]).rstrip(b"=")[:40]}
    if extra:
        n["extra"] = extra.encode()
    return n


def scan_mem(pid, want):
    """{name: found} over every readable mapping of pid, and bytes read."""
    found = dict.fromkeys(want, False)
    longest = max(len(v) for v in want.values())
    total = 0
    try:
        mem = open("/proc/%s/mem" % pid, "rb", buffering=0)
    except OSError as e:
        return None, e.errno
    for line in open("/proc/%s/maps" % pid):
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        # Skip what is not readable and the sanitizers' huge shadow maps.
        if f[1][0] != "r" or hi - lo > (2 << 30):
            continue
        pos, tail = lo, b""
        while pos < hi:
            try:
                mem.seek(pos)
                chunk = mem.read(min(1 << 20, hi - pos))
            except (OSError, OverflowError, ValueError):
                break
            if not chunk:
                break
            buf = tail + chunk
            for k, v in want.items():
                if not found[k] and v in buf:
                    found[k] = True
            tail = buf[-(longest - 1):]
            pos += len(chunk)
            total += len(chunk)
    return found, total


cmd = sys.argv[1]
if cmd == "sk":				# sk KEYFILE [PASSFILE]
    print(load_sk(*sys.argv[2:4]).hex())
elif cmd == "pk":			# pk SKHEX: the public key's hex
    print(bytes.fromhex(sys.argv[2])[32:].hex())
elif cmd == "files":			# files SKHEX KEYTEXT FILE...: "clean" or what was found
    want = needles(sys.argv[2], None)
    want["keyfile-text"] = sys.argv[3][5:45].encode()
    bad = []
    for path in sys.argv[4:]:
        data = open(path, "rb").read()
        bad += ["%s in %s" % (k, path) for k, v in want.items() if v in data]
    print("clean" if not bad else "; ".join(bad))
elif cmd == "mem":			# mem PID SKHEX [TEXT]: found names, or "refused ERRNO"
    want = needles(sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    want["pk"] = bytes.fromhex(sys.argv[3])[32:]
    found, total = scan_mem(sys.argv[2], want)
    if found is None:
        print("refused %d" % total)
    else:
        print("read %d" % total)
        print(" ".join(sorted(k for k, v in found.items() if v)) or "none")
EOF
SECRETS=("$KG_PY" "$T/secrets.py")


# memscan NAME SKHEX [TEXT]: keygated holds none of the secret, its signer
# holds the key; TEXT (a passphrase) must be in neither process.
memscan() {
	local name=$1 sk=$2 text=${3:-} s out
	if [ "$(id -u)" != 0 ]; then
		echo "skip  $name: reading another process's memory needs root"
		return
	fi
	"${SECRETS[@]}" mem "$KG_PID" "$sk" ${text:+"$text"} >"$T/mem.parent"
	out=$(sed -n 2p "$T/mem.parent")
	check "$name: keygated's memory was read ($(head -n 1 "$T/mem.parent") bytes)" \
	    grep -Eq '^read [0-9]{6,}$' "$T/mem.parent"
	expect_eq "$name: keygated holds the public key (the scan covers its heap)" \
	    "$(echo "$out" | tr ' ' '\n' | grep -x pk)" pk
	expect_eq "$name: keygated holds no secret bytes" \
	    "$(echo "$out" | tr ' ' '\n' | grep -vx pk | tr '\n' ' ')" ""
	s=$(kg_signer_pid)
	"${SECRETS[@]}" mem "$s" "$sk" ${text:+"$text"} >"$T/mem.signer"
	case $(head -n 1 "$T/mem.signer") in
	read*)
		out=$(sed -n 2p "$T/mem.signer")
		check "$name: the signer child holds the seed (the scan finds it: $out)" \
		    sh -c "echo '$out' | tr ' ' '\n' | grep -qx seed"
		check "$name: and the 64-byte secret key" \
		    sh -c "echo '$out' | tr ' ' '\n' | grep -qx sk"
		if [ -n "$text" ]; then
			check "$name: the signer wiped the passphrase after use" \
			    sh -c "! echo '$out' | tr ' ' '\n' | grep -qx extra"
		fi
		;;
	*)
		check "$name: the signer's memory is refused: $(cat "$T/mem.signer")" \
		    grep -Eq '^refused (1|13)$' "$T/mem.signer"
		;;
	esac
}

setup() {
	adm product add SEC --name "Secrets Test" --price 7990 &&
	adm edition add SEC STD &&
	adm release publish SEC 1.0 --date 2025-06-01 &&
	adm release publish SEC 1.1 --date 2026-03-01 &&
	adm act register ACT-SEC-1 --product SEC --months 12 &&
	adm --json key issue SEC STD --licensee "Secret Co" --created 2026-05-01 --count 20 \
	    >"$T/keys.json" &&
	head -n 1 "$T/keys.json" | jget key >"$T/k1" &&
	adm --json key issue SEC STD --licensee "Renew Co" --created 2025-01-10 |
	    jget key >"$T/k2"
}

# ---- an unsealed key: the store, the files, the memory ---------------------
D=$T/plain
kg_init "$D"
SK=$("${SECRETS[@]}" sk "$D/signing.key") || { echo "cannot decode signing.key"; exit 1; }
expect_eq "the decoded secret key's public half is signing.pub's" \
    "$("${SECRETS[@]}" pk "$SK")" \
    "$("$KG_PY" -c 'import base64,sys; print(base64.urlsafe_b64decode(sys.argv[1][5:] + "=").hex())' \
    "$(cat "$D/signing.pub")")"
kg_start "$D" --test-clock "$TODAY" || exit 1
setup >"$T/setup.log" 2>&1 || { echo "setup failed: $(cat "$T/setup.log")"; exit 1; }
expect_eq "20 keys issued" "$(grep -c '"key"' "$T/keys.json")" 20
out=$(cli check --key "$T/k1" --product SEC --version 1.0 2>/dev/null)
expect_eq "a signed check" "$out" "update: install 1.1"
cli activate --key "$T/k2" --act ACT-SEC-1 >/dev/null 2>&1
expect_eq "a renewal (the key is re-signed)" "$?" 0
adm backup "$T/backup.mdb" >/dev/null 2>&1
check "a backup of the store" test -s "$T/backup.mdb"
memscan "unsealed" "$SK"
kg_stop
files=$(find "$D" -maxdepth 1 -type f ! -name signing.key | sort)
check "the data dir's files include the store" \
    sh -c "echo '$files' | grep -q '/data.mdb\$' && echo '$files' | grep -q '/lock.mdb\$'"
# shellcheck disable=SC2086
expect_eq "no secret bytes in the store, the backup, the log or the config" \
    "$("${SECRETS[@]}" files "$SK" "$(cat "$D/signing.key")" $files "$T/backup.mdb" "$T/keys.json")" \
    clean
check "the store is the one that was used ($(stat -c %s "$D/data.mdb") bytes)" \
    grep -qa "Secret Co" "$D/data.mdb"

# ---- a sealed key: neither the key nor the passphrase in keygated ----------
DS=$T/sealed
PASS="sealed test passphrase 7f3c9a"
printf '%s\n' "$PASS" >"$T/pass"
"$KEYGATED" init --data "$DS" --passphrase-file "$T/pass" >/dev/null 2>&1 ||
    { echo "sealed init failed"; exit 1; }
SKS=$("${SECRETS[@]}" sk "$DS/signing.key" "$T/pass") ||
    { echo "cannot unseal signing.key"; exit 1; }
kg_start "$DS" --test-clock "$TODAY" || exit 1
setup >"$T/setup2.log" 2>&1 || { echo "setup failed: $(cat "$T/setup2.log")"; exit 1; }
memscan "sealed" "$SKS" "$PASS"
kg_stop
files=$(find "$DS" -maxdepth 1 -type f ! -name signing.key | sort)
# shellcheck disable=SC2086
expect_eq "sealed: no secret bytes in the data dir's other files" \
    "$("${SECRETS[@]}" files "$SKS" "$(cat "$DS/signing.key")" $files)" clean

# ---- start-up refusals -----------------------------------------------------
# refuse NAME DIR WANT [ARGS]: keygated run in DIR (a copy) must exit 1 with
# one stderr line equal to WANT and leave nothing listening.
refuse() {
	local name=$1 dir=$2 want=$3 rc
	shift 3
	timeout 120 "$KEYGATED" run --data "$dir" --listen 127.0.0.1:0 \
	    --port-file "$dir/port" "$@" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	expect_eq "$name: exit 1" "$rc" 1
	expect_eq "$name: one line on stderr" "$(wc -l <"$T/$name.err" | tr -d ' ')" 1
	expect_eq "$name: the line" "$(cat "$T/$name.err")" "$want"
	check "$name: nothing listening (no port file)" test ! -e "$dir/port"
	check "$name: nothing listening (no admin socket)" test ! -e "$dir/admin.sock"
}
# copy NAME FROM: a fresh copy of a stopped data dir.
copy() {
	rm -rf "${T:?}/$1"
	cp -a "$2" "$T/$1"
	rm -f "$T/$1/port" "$T/$1/admin.sock"
}

copy wrongpass "$DS"
printf 'not the passphrase\n' >"$T/wrong"
refuse wrongpass "$T/wrongpass" \
    "keygated: $T/wrongpass/signing.key: wrong passphrase for the sealed secret key: check the passphrase file $T/wrong" \
    --passphrase-file "$T/wrong"

copy nopass "$DS"
refuse nopass "$T/nopass" \
    "keygated: $T/nopass/signing.key: secret key is sealed: give the passphrase file (--passphrase-file)" \
    --passphrase-file ""

copy nopassfile "$DS"
refuse nopassfile "$T/nopassfile" \
    "keygated: cannot read the passphrase file $T/absent: No such file or directory: make it readable by keygated's user or fix passphrase_file" \
    --passphrase-file "$T/absent"

copy mode "$D"
chmod 0644 "$T/mode/signing.key"
refuse mode "$T/mode" \
    "keygated: $T/mode/signing.key: secret key file is readable by group or others: chmod 600 it"

copy truncated "$D"
head -c 60 "$D/signing.key" >"$T/truncated/signing.key"
refuse truncated "$T/truncated" \
    "keygated: $T/truncated/signing.key: key file is truncated: restore it from a backup"

copy altered "$D"
kg_flip_char "$T/altered/signing.key" 40
refuse altered "$T/altered" \
    "keygated: $T/altered/signing.key: key file is corrupted (checksum mismatch): restore it from a backup"

copy sealedaltered "$DS"
kg_flip_char "$T/sealedaltered/signing.key" 100
refuse sealedaltered "$T/sealedaltered" \
    "keygated: $T/sealedaltered/signing.key: key file is corrupted (checksum mismatch): restore it from a backup"

copy missing "$D"
rm "$T/missing/signing.key"
refuse missing "$T/missing" \
    "keygated: $T/missing/signing.key: cannot read the secret key file: No such file or directory"

kg_done
