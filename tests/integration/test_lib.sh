# libkeygate against the real keygated, through tests/unit/client/
# kglib_drive.c (one JSON line per API call with every accessor of the
# result): every call of keygate.h and every error a caller can reach —
# server down, untrusted key, malformed replies and timeouts (proxy.py),
# an Error reply and a server clock gone back (a small signing server
# below, holding the vendor's real key), failover, the total deadline,
# the state file and its offline answers, clock rollback, the replay of an
# earlier `update` reply after the key was revoked, and a check/activate
# loop that LeakSanitizer watches in the ASan build. The main daemon runs
# on the real clock (so offline ages are real); the rollback case at the
# end uses a second daemon on a test clock 30 days ahead.
. "$(dirname "$0")/lib.sh"

DRIVE=$KG_BUILD/tests/kglib_drive
EXAMPLE=$KG_BUILD/client/example-product
D=$T/data
kg_init "$D"
kg_start "$D" || exit 1
PUB=$D/signing.pub
PORT=$KG_PORT
SRV=127.0.0.1:$PORT

# ---- catalogue: dates relative to today (the daemon's real clock) ---------------
R10=$(day -400) R11=$(day -100) R12=$(day -10) NEWC=$(day -30) OLDC=$(day -400)
setup() {
	adm product add DEMO --name "Demo App" --price 7990 &&
	adm edition add DEMO STD &&
	adm release publish DEMO 1.0 --date "$R10" &&
	adm release publish DEMO 1.1 --date "$R11" &&
	adm release publish DEMO 1.2 --date "$R12" &&
	adm act register ACT-1 --product DEMO --months 12 &&
	adm act register ACT-EX --product DEMO --months 12 &&
	adm act register ACT-LOOP --product DEMO --months 12
}
setup >"$T/setup.log" 2>&1 || { echo "setup failed: $(cat "$T/setup.log")"; exit 1; }
issue() { adm --json key issue DEMO STD --licensee "$1" --created "$2"; }
issue "New Co" "$NEWC" >"$T/new.json"	# support runs: every release
issue "Old Co" "$OLDC" >"$T/old.json"	# support ended before 1.1: 1.0 only
issue "Rev Co" "$NEWC" >"$T/rev.json"	# revoked half way
issue "Ren Co" "$NEWC" >"$T/ren.json"	# renewed with ACT-1
issue "Ex Co" "$NEWC" >"$T/ex.json"	# renewed by the example
issue "Loop Co" "$NEWC" >"$T/loop.json"	# the leak loop
issue "Idle Co" "$NEWC" >"$T/idle.json"	# never checked
for k in new old rev ren ex loop idle; do
	jget key <"$T/$k.json" >"$T/$k.key"
	[ -s "$T/$k.key" ] || { echo "key issue $k failed: $(cat "$T/$k.json")"; exit 1; }
done
NEWX=$(months "$NEWC" 6) OLDX=$(months "$OLDC" 6)
days_to() { "$KG_PY" -c 'import datetime, sys
print((datetime.date.fromisoformat(sys.argv[1]) - datetime.datetime.now(datetime.timezone.utc).date()).days)' "$1"; }

# dr NAME ARGS...: kglib_drive ARGS, stdout in $T/NAME.out (JSON lines), stderr in $T/NAME.err.
# d NAME ARGS...: the same against the daemon, trusting its key.
dr() {
	local name=$1
	shift
	"$DRIVE" "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
d() {
	local name=$1
	shift
	dr "$name" --server "$SRV" --trust "$PUB" "$@"
}
# f NAME FIELD [LINE]: a field of line LINE (default 1) of NAME's output.
f() { sed -n "${3:-1}p" "$T/$1.out" | jget "$2"; }
now() { date +%s; }

# ---- every request call online, one client ---------------------------------------
S=$T/state
T0=$(now)
d on --state "$S" check,"$T/new.key",DEMO,1.0 check,"$T/new.key",DEMO,1.2 \
    check,"$T/old.key",DEMO,1.0 check,"$T/old.key",DEMO,1.2 \
    check,"$T/new.key",DEMO,1.0,1.2 status,"$T/new.key" disconnect \
    check,"$T/new.key",DEMO,1.0 version
T1=$(now)
expect_eq "check update: rc" "$(f on err)" KG_OK
expect_eq "check update: verdict" "$(f on verdict)" update
expect_eq "check update: reason" "$(f on reason)" ok
expect_eq "check update: eligible" "$(f on eligible)" 1.2
expect_eq "check update: latest" "$(f on latest)" 1.2
expect_eq "check update: support_expiry" "$(f on support_expiry)" "$NEWX"
expect_eq "check update: license_expiry (perpetual)" "$(f on license_expiry)" ""
expect_eq "check update: days_left" "$(f on days_left)" "$(days_to "$NEWX")"
expect_eq "check update: quote kind" "$(f on quote.kind)" early
expect_eq "check update: quote price" "$(f on quote.price)" 1998.00
expect_eq "check update: quote price_minor" "$(f on quote.price_minor)" 199800
expect_eq "check update: quote new_expiry" "$(f on quote.new_expiry)" "$(months "$NEWX" 12)"
expect_eq "check update: regno" "$(f on regno)" "$(jget regno <"$T/new.json")"
expect_eq "check update: licensee" "$(f on licensee)" "New Co"
expect_eq "check update: product" "$(f on product)" DEMO
expect_eq "check update: edition" "$(f on edition)" STD
expect_eq "check update: state" "$(f on state)" active
expect_eq "check update: server" "$(f on server)" "$SRV"
expect_eq "check update: not offline" "$(f on offline)" false
expect_eq "check update: age 0 online" "$(f on age)" 0
expect_eq "check update: real clock" "$(f on test_clock)" false
expect_eq "check update: no rollback" "$(f on rollback)" false
expect_eq "check update: no key re-signed" "$(f on key)" ""
expect_eq "check update: state file written" "$(f on state_error)" KG_OK
ST=$(f on server_time)
check "check update: server_time is now" test "$ST" -ge "$T0" -a "$ST" -le "$T1"
expect_eq "check update: high-water mark = its server time" "$(f on floor)" "$ST"
expect_eq "check current: verdict" "$(f on verdict 2)" current
expect_eq "check fallback: verdict" "$(f on verdict 3)" fallback
expect_eq "check fallback: reason" "$(f on reason 3)" support_expired
expect_eq "check fallback: eligible" "$(f on eligible 3)" 1.0
expect_eq "check fallback: support_expiry" "$(f on support_expiry 3)" "$OLDX"
expect_eq "check fallback: days_left" "$(f on days_left 3)" 0
expect_eq "check fallback: quote kind" "$(f on quote.kind 3)" standard
expect_eq "check fallback: quote price" "$(f on quote.price 3)" 3596.00
expect_eq "check fallback: quote new_expiry" "$(f on quote.new_expiry 3)" "$(months "$(day 0)" 12)"
expect_eq "check demo: verdict" "$(f on verdict 4)" demo
expect_eq "check demo: reason" "$(f on reason 4)" not_eligible
expect_eq "check --target: verdict" "$(f on verdict 5)" update
expect_eq "status: rc" "$(f on err 6)" KG_OK
expect_eq "status: no verdict" "$(f on verdict 6)" ""
expect_eq "status: state" "$(f on state 6)" active
expect_eq "status: support_expiry" "$(f on support_expiry 6)" "$NEWX"
expect_eq "disconnect: rc" "$(f on err 7)" KG_OK
expect_eq "check after disconnect: reconnects" "$(f on verdict 8)" update
expect_eq "kg_library_version" "$(f on version 9)" \
    "$(sed -n 's/^project(keygate VERSION \([0-9.]*\).*/\1/p' "$KG_SOURCE/CMakeLists.txt")"
expect_eq "KG_API_VERSION" "$(f on api 9)" 2

# The state file: mode 0600, the mark, one verdict per (license, product).
expect_eq "state file: mode 0600" "$(stat -c %a "$S")" 600
expect_eq "state file: first line" "$(sed -n 1p "$S")" "keygate-state 1"
expect_eq "state file: high-water" "$(sed -n 2p "$S")" "high-water $(f on floor 8)"
expect_eq "state file: two verdicts (new, old)" "$(grep -c '^verdict ' "$S")" 2
check "state file: no temporary file left" sh -c "! ls '$S'.* 2>/dev/null | grep -q ."

# A restarted client takes the mark from the file (a status is not cached).
d floor2 --state "$S" status,"$T/new.key"
check "restart: the mark from the file holds (never lower)" \
    test "$(f floor2 floor)" -ge "$(f on floor 8)"
expect_eq "restart: still two verdicts" "$(grep -c '^verdict ' "$S")" 2

# ---- activation --------------------------------------------------------------------
RENX=$(jget support_expiry <"$T/ren.json")
d act activate,"$T/ren.key",ACT-1 verify,"$T/ren.key","$PUB" \
    activate,"$T/new.key",ACT-1 activate,"$T/new.key",NOPE-1
expect_eq "activate: rc" "$(f act err)" KG_OK
expect_eq "activate: reason" "$(f act reason)" ok
expect_eq "activate: renewal kind" "$(f act renewal.kind)" early
expect_eq "activate: renewal price" "$(f act renewal.price)" 1998.00
expect_eq "activate: renewal months" "$(f act renewal.months)" 12
expect_eq "activate: renewal act" "$(f act renewal.act)" ACT-1
expect_eq "activate: renewal new_expiry" "$(f act renewal.new_expiry)" "$(months "$RENX" 12)"
expect_eq "activate: support_expiry" "$(f act support_expiry)" "$(months "$RENX" 12)"
check "activate: re-signed key handed out" test -n "$(f act key)"
expect_eq "activate: renewed key stored and verifies" "$(f act valid 2)" true
expect_eq "renewed key: revision 2" "$(f act revision 2)" 2
expect_eq "renewed key: new support_expiry" "$(f act support_expiry 2)" "$(months "$RENX" 12)"
expect_eq "activate used act for another key: rc" "$(f act err 3)" KG_OK
expect_eq "activate used act for another key: act_used" "$(f act reason 3)" act_used
expect_eq "activate used act: no renewal" "$(f act renewal 3)" ""
expect_eq "activate unknown act: act_unknown" "$(f act reason 4)" act_unknown

# ---- offline verification -------------------------------------------------------------
kg_tamper_key "$T/new.key" >"$T/tampered.key"
echo "KGP1.not-a-key" >"$T/garbage.pub"
kg_other_pubkey >"$T/other.pub"
dr ver --server "$SRV" --trust "$PUB" verify,"$T/new.key","$PUB" \
    verify,"$T/tampered.key","$PUB" verify,"$T/new.key","$T/garbage.pub" \
    verify,"$T/new.key","$T/other.pub"
expect_eq "verify: KG_OK" "$(f ver err)" KG_OK
expect_eq "verify: valid" "$(f ver valid)" true
expect_eq "verify: serial" "$(f ver serial)" "$(jget serial <"$T/new.json")"
expect_eq "verify: created" "$(f ver created)" "$NEWC"
expect_eq "verify: support_expiry" "$(f ver support_expiry)" "$NEWX"
expect_eq "verify: trial" "$(f ver trial)" false
expect_eq "verify tampered: KG_ERR_KEY" "$(f ver err 2)" KG_ERR_KEY
expect_eq "verify tampered: reason" "$(f ver reason 2)" bad_key
check "verify tampered: detail" test -n "$(f ver detail 2)"
expect_eq "verify with a bad public key line: KG_ERR_TRUST" "$(f ver err 3)" KG_ERR_TRUST
expect_eq "verify against another vendor's key: KG_ERR_KEY" "$(f ver err 4)" KG_ERR_KEY

# ---- trust ------------------------------------------------------------------------------
dr untr --server "$SRV" --trust "$T/other.pub" check,"$T/new.key",DEMO,1.0
expect_eq "untrusted key: KG_ERR_UNTRUSTED" "$(f untr err)" KG_ERR_UNTRUSTED
expect_eq "untrusted key: no result" "$(f untr result)" false
dr ttext --server "$SRV" --trust-text "$PUB" check,"$T/new.key",DEMO,1.0
expect_eq "kg_client_trust_text: trusted" "$(f ttext err)" KG_OK
dr tbad --server "$SRV" --trust-text "$T/garbage.pub" version
expect_eq "kg_client_trust_text garbage: KG_ERR_TRUST" "$(f tbad err)" KG_ERR_TRUST
dr tnone --server "$SRV" check,"$T/new.key",DEMO,1.0
expect_eq "no trusted key: KG_ERR_TRUST" "$(f tnone err)" KG_ERR_TRUST
dr snone --trust "$PUB" check,"$T/new.key",DEMO,1.0
expect_eq "no server: KG_ERR_INVAL" "$(f snone err)" KG_ERR_INVAL
dr sbad --server "host:99999" version
expect_eq "bad server text: KG_ERR_INVAL" "$(f sbad err)" KG_ERR_INVAL

# ---- hostile and silent servers (proxy.py) ------------------------------------------------
# proxy MODE: proxy.py in MODE before the daemon; sets PPORT and PPID_.
proxy() { kg_proxy "$1" "$SRV"; }
for m in garbage:KG_ERR_PROTOCOL oversize:KG_ERR_PROTOCOL flip-byte:KG_ERR_UNTRUSTED \
    swap:KG_ERR_REQUEST_HASH close:KG_ERR_CLOSED; do
	proxy "${m%%:*}"
	dr "p-${m%%:*}" --server "127.0.0.1:$PPORT" --trust "$PUB" --timeouts 2000,2000 \
	    check,"$T/new.key",DEMO,1.0
	kg_proxy_stop
	expect_eq "proxy ${m%%:*}: ${m#*:}" "$(f "p-${m%%:*}" err)" "${m#*:}"
	expect_eq "proxy ${m%%:*}: no result" "$(f "p-${m%%:*}" result)" false
done

# I/O timeout: a server that reads the request and never answers.
proxy stall
dr pstall --server "127.0.0.1:$PPORT" --trust "$PUB" --timeouts 1000,500 \
    check,"$T/new.key",DEMO,1.0
expect_eq "stall: KG_ERR_TIMEOUT" "$(f pstall err)" KG_ERR_TIMEOUT
check "stall: after the 500 ms I/O timeout" test "$(f pstall ms)" -ge 450 -a "$(f pstall ms)" -lt 3000
# A silent first server, then the daemon: fails over after the I/O timeout.
dr pstall2 --server "127.0.0.1:$PPORT" --server "$SRV" --trust "$PUB" \
    --timeouts 1000,500 check,"$T/new.key",DEMO,1.0
expect_eq "stall then daemon: KG_OK" "$(f pstall2 err)" KG_OK
expect_eq "stall then daemon: the daemon answered" "$(f pstall2 server)" "$SRV"
# The total deadline cuts across servers: two silent servers, 1500 ms each, 1500 in all.
dr pdead --server "127.0.0.1:$PPORT" --server "127.0.0.1:$PPORT" --trust "$PUB" \
    --timeouts 1000,1500 --deadline 1500 check,"$T/new.key",DEMO,1.0
kg_proxy_stop
expect_eq "deadline: KG_ERR_TIMEOUT" "$(f pdead err)" KG_ERR_TIMEOUT
check "deadline: stopped at 1500 ms, not 3000" test "$(f pdead ms)" -ge 1450 -a "$(f pdead ms)" -lt 2500

# ---- failover and the connect timeout ------------------------------------------------------
DEAD=$(kg_free_port)
dr fo --server "127.0.0.1:$DEAD" --server "$SRV" --trust "$PUB" --timeouts 1000,5000 \
    check,"$T/new.key",DEMO,1.0
expect_eq "failover: KG_OK" "$(f fo err)" KG_OK
expect_eq "failover: the second server answered" "$(f fo server)" "$SRV"
check "failover: within the connect timeout" test "$(f fo ms)" -lt 1000
dr down1 --server "127.0.0.1:$DEAD" --trust "$PUB" check,"$T/new.key",DEMO,1.0
expect_eq "server down (closed port), nothing cached: KG_ERR_CONNECT" "$(f down1 err)" KG_ERR_CONNECT

# A listener whose accept queue is full drops SYNs: connect() hangs until the timeout.
cat >"$T/blackhole.py" <<'EOF'
import os, socket, sys, time
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(0)
port = ls.getsockname()[1]
fill = []
for _ in range(3):
    s = socket.socket(); s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    fill.append(s)
time.sleep(0.3)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % port)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(float(sys.argv[2]))
EOF
"$KG_PY" "$T/blackhole.py" "$T/bh.port" 30 &
BHPID=$!
kg_wait_file "$T/bh.port" 10
BH=127.0.0.1:$(cat "$T/bh.port")
dr bh --server "$BH" --server "$SRV" --trust "$PUB" --timeouts 700,5000 \
    check,"$T/new.key",DEMO,1.0
dr bh2 --server "$BH" --trust "$PUB" --timeouts 700,5000 check,"$T/idle.key",DEMO,1.0
kill "$BHPID" 2>/dev/null; wait "$BHPID" 2>/dev/null
expect_eq "connect timeout then daemon: KG_OK" "$(f bh err)" KG_OK
expect_eq "connect timeout then daemon: the daemon answered" "$(f bh server)" "$SRV"
check "connect timeout then daemon: after the 700 ms connect timeout" \
    test "$(f bh ms)" -ge 650 -a "$(f bh ms)" -lt 3000
expect_eq "connect timeout alone: KG_ERR_TIMEOUT" "$(f bh2 err)" KG_ERR_TIMEOUT

# ---- a replayed `update` reply after the key was revoked ----------------------------------
# proxy.py in replay mode relays the first connection and records its reply,
# then answers every later connection with that reply. The replayed reply is
# genuine (signed by the vendor), so the signature check passes; it is older
# than the `demo` verdict the client got after the revocation, so the
# high-water check (kept in the state file across runs) refuses it with
# KG_ERR_REPLAY. That check runs before the nonce check; the same replay to
# a client without the mark is refused by the nonce check (KG_ERR_NONCE),
# which shows which check fired.
S2=$T/state2
proxy replay
dr rp1 --server "127.0.0.1:$PPORT" --trust "$PUB" --state "$S2" check,"$T/rev.key",DEMO,1.0
expect_eq "replay: recorded an update verdict" "$(f rp1 verdict)" update
RT1=$(f rp1 server_time)
for _ in $(seq 50); do [ "$(now)" -gt "$RT1" ] && break; sleep 0.1; done
adm key revoke "$(jget regno <"$T/rev.json")" --reason "refund" >/dev/null
d rp2 --state "$S2" check,"$T/rev.key",DEMO,1.0
expect_eq "after revocation: demo" "$(f rp2 verdict)" demo
expect_eq "after revocation: revoked" "$(f rp2 reason)" revoked
check "after revocation: the mark moved past the recorded reply" test "$(f rp2 floor)" -gt "$RT1"
dr rp3 --server "127.0.0.1:$PPORT" --trust "$PUB" --state "$S2" check,"$T/rev.key",DEMO,1.0
expect_eq "replayed update after revocation: KG_ERR_REPLAY" "$(f rp3 err)" KG_ERR_REPLAY
expect_eq "replayed update: no result" "$(f rp3 result)" false
expect_eq "replayed update: the mark is unchanged" "$(f rp3 floor)" "$(f rp2 floor)"
dr rp4 --server "127.0.0.1:$PPORT" --trust "$PUB" check,"$T/rev.key",DEMO,1.0
kg_proxy_stop
expect_eq "the same replay without the mark: KG_ERR_NONCE" "$(f rp4 err)" KG_ERR_NONCE

# ---- a server that signs with the vendor's key but misbehaves ---------------------------------
# fakesrv.py MODE: answers every request with a reply signed by the real
# vendor key, carrying the request's nonce and hash:
#   old    a verdict whose server time is an hour ago (its clock went back)
#   error  an Error reply (reason internal)
#   empty  a body with no result
#   proto  protocol version 2
cat >"$T/fakesrv.py" <<'EOF'
import base64, hashlib, socket, sys, threading, time
from nacl.signing import SigningKey
from kgwire import field, key_id, listen_port_file, parse, read_frame, write_frame

mode, keyfile, portfile = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(keyfile).read().strip()
blob = base64.urlsafe_b64decode(raw[5:] + "=" * (-len(raw[5:]) % 4))
sk = SigningKey(blob[:32])
kid = key_id(bytes(sk.verify_key))

def reply(req):
    t = int(time.time()) - (3600 if mode == "old" else 0)
    body = field(1, 2 if mode == "proto" else 1) + field(2, parse(req).get(2, [b""])[0]) + \
        field(3, hashlib.blake2b(req, digest_size=32).digest()) + field(4, t)
    if mode == "error":
        body += field(10, field(1, "internal") + field(2, "fake failure"))
    elif mode != "empty":
        body += field(11, field(1, "current") + field(2, "ok") +
                      field(3, "1.0") + field(4, "1.0"))
    sig = sk.sign(b"keygate-reply-v1\0" + body).signature
    return field(1, body) + field(2, sig) + field(3, kid)

def serve(c):
    c.settimeout(10)
    try:
        while True:
            req = read_frame(c)
            if req is None:
                return
            write_frame(c, reply(req))
    except OSError:
        pass
    finally:
        c.close()

ls = listen_port_file(portfile, 8)
ls.settimeout(30)
for _ in range(8):
    try:
        c, _ = ls.accept()
    except socket.timeout:
        break
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
# fake MODE NAME ARGS...: run the driver against fakesrv.py in MODE.
fake() {
	local mode=$1 name=$2 fpid
	shift 2
	rm -f "$T/fake.port"
	kgpy "$T/fakesrv.py" "$mode" "$D/signing.key" "$T/fake.port" 2>>"$T/fake.log" &
	fpid=$!
	kg_wait_file "$T/fake.port" 10
	dr "$name" --server "127.0.0.1:$(cat "$T/fake.port")" --trust "$PUB" "$@"
	kill "$fpid" 2>/dev/null
	wait "$fpid" 2>/dev/null
}
fake old fold --floor "$(now)" check,"$T/new.key",DEMO,1.0
expect_eq "server clock went back (older than the mark): KG_ERR_REPLAY" "$(f fold err)" KG_ERR_REPLAY
fake old fold2 check,"$T/new.key",DEMO,1.0
expect_eq "the same reply with no mark: KG_OK (only the time check refused it)" "$(f fold2 err)" KG_OK
check "the same reply with no mark: an hour old" test "$(f fold2 server_time)" -le "$(($(now) - 3590))"
fake error ferr check,"$T/new.key",DEMO,1.0 status,"$T/new.key"
expect_eq "Error reply: KG_ERR_SERVER" "$(f ferr err)" KG_ERR_SERVER
expect_eq "Error reply: a result" "$(f ferr result)" true
expect_eq "Error reply: error_reason" "$(f ferr error_reason)" internal
expect_eq "Error reply: reason" "$(f ferr reason)" internal
expect_eq "Error reply: detail" "$(f ferr detail)" "fake failure"
expect_eq "Error reply to status: KG_ERR_SERVER" "$(f ferr err 2)" KG_ERR_SERVER
fake empty fempty check,"$T/new.key",DEMO,1.0
expect_eq "reply without a result: KG_ERR_PROTOCOL" "$(f fempty err)" KG_ERR_PROTOCOL
fake proto fproto check,"$T/new.key",DEMO,1.0
expect_eq "reply of another protocol version: KG_ERR_PROTOCOL" "$(f fproto err)" KG_ERR_PROTOCOL

# ---- the example product, online --------------------------------------------------------------
EXX=$(jget support_expiry <"$T/ex.json")
ex() { "$EXAMPLE" --server "$SRV" --pubkey "$PUB" --state "$T/ex.state" "$@"; }
expect_eq "example: update" "$(ex --key "$T/new.key" --product DEMO --version 1.0)" "install 1.2"
expect_eq "example: current" "$(ex --key "$T/new.key" --product DEMO --version 1.2)" "stay on 1.2"
expect_eq "example: fallback" "$(ex --key "$T/old.key" --product DEMO --version 1.0)" "stay on 1.0"
expect_eq "example: demo" "$(ex --key "$T/old.key" --product DEMO --version 1.2)" \
    "run in demo mode (not_eligible)"
expect_eq "example: revoked" "$(ex --key "$T/rev.key" --product DEMO --version 1.0)" \
    "run in demo mode (revoked)"
cp "$T/ex.key" "$T/ex.orig"
expect_eq "example --act: renews, then checks" \
    "$(ex --key "$T/ex.key" --product DEMO --version 1.0 --act ACT-EX | tr '\n' '|')" \
    "renewed: support until $(months "$EXX" 12)|install 1.2|"
check "example --act: renewed key stored" sh -c "! cmp -s '$T/ex.key' '$T/ex.orig'"
dr exv verify,"$T/ex.key","$PUB"
expect_eq "example --act: stored key is revision 2" "$(f exv revision)" 2
expect_eq "example --act: stored key's expiry" "$(f exv support_expiry)" "$(months "$EXX" 12)"

# ---- a check/activate loop (LeakSanitizer is on in the ASan build) -------------------------------
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1 \
    d loop loop,25,"$T/loop.key",DEMO,1.0,ACT-LOOP
expect_eq "loop: exit 0" "$(cat "$T/loop.rc")" 0
expect_eq "loop: 25 rounds" "$(f loop rounds)" 25
expect_eq "loop: every call succeeded" "$(f loop failed)" 0
check "loop: no leak or sanitizer report" sh -c "! grep -q 'Sanitizer' '$T/loop.err'"

# ---- the CLI keeps state too ---------------------------------------------------------------------
"$CLI" --server "$SRV" --pubkey "$PUB" --state "$T/cli.state" --json \
    check --key "$T/new.key" --product DEMO --version 1.0 >"$T/cli1.out" 2>"$T/cli1.err"
expect_eq "cli --state online: update" "$(jget verdict <"$T/cli1.out")" update
check "cli --state online: not offline" sh -c "! grep -q offline '$T/cli1.out'"

# ---- server down: offline answers from the state file -------------------------------------------
kg_stop
NEWST=$(f on server_time 8)
d off --state "$S" check,"$T/new.key",DEMO,1.0 check,"$T/new.key",DEMO,1.2 \
    check,"$T/new.key",DEMO,1.3 check,"$T/old.key",DEMO,1.0 check,"$T/old.key",DEMO,1.1 \
    check,"$T/idle.key",DEMO,1.0 status,"$T/new.key" check,"$T/new.key",OTHER,1.0
TOFF=$(now)
expect_eq "offline: KG_OK" "$(f off err)" KG_OK
expect_eq "offline: marked offline" "$(f off offline)" true
expect_eq "offline: the last verdict" "$(f off verdict)" update
expect_eq "offline: eligible" "$(f off eligible)" 1.2
expect_eq "offline: its server time" "$(f off server_time)" "$NEWST"
AGE=$(f off age)
check "offline: age = seconds since its server time" \
    test "$AGE" -ge $((TOFF - NEWST - 2)) -a "$AGE" -le $((TOFF - NEWST))
expect_eq "offline: no server" "$(f off server)" ""
expect_eq "offline: no quote" "$(f off quote)" ""
expect_eq "offline: no rollback" "$(f off rollback)" false
expect_eq "offline: days_left" "$(f off days_left)" "$(days_to "$NEWX")"
expect_eq "offline: the cached eligible runs (current)" "$(f off verdict 2)" current
expect_eq "offline: newer than the cached eligible: demo" "$(f off verdict 3)" demo
expect_eq "offline: newer than the cached eligible: not_eligible" "$(f off reason 3)" not_eligible
expect_eq "offline: the old key's eligible runs as fallback" "$(f off verdict 4)" fallback
expect_eq "offline: the old key's 1.1 (never allowed): demo" "$(f off verdict 5)" demo
expect_eq "offline: a key never checked: KG_ERR_CONNECT" "$(f off err 6)" KG_ERR_CONNECT
expect_eq "offline: status is never answered offline" "$(f off err 7)" KG_ERR_CONNECT
expect_eq "offline: another product: KG_ERR_CONNECT" "$(f off err 8)" KG_ERR_CONNECT
d offrev --state "$S2" check,"$T/rev.key",DEMO,1.0
expect_eq "offline after the refused replay: still revoked" "$(f offrev reason)" revoked
expect_eq "offline after the refused replay: demo" "$(f offrev verdict)" demo
expect_eq "offline after the refused replay: offline" "$(f offrev offline)" true

"$CLI" --server "$SRV" --pubkey "$PUB" --state "$T/cli.state" --json \
    check --key "$T/new.key" --product DEMO --version 1.0 >"$T/cli2.out" 2>"$T/cli2.err"
expect_eq "cli --state offline: exit 0 (update)" "$?" 0
expect_eq "cli --state offline: verdict" "$(jget verdict <"$T/cli2.out")" update
expect_eq "cli --state offline: offline" "$(jget offline <"$T/cli2.out")" true
check "cli --state offline: age" test "$(jget age <"$T/cli2.out")" -ge 0
check "cli --state offline: says so" grep -q 'offline answer from the last verdict' "$T/cli2.err"
# The example's last check of this key asked about 1.2: 1.2 runs offline,
# 1.0 (a release that verdict never judged) does not.
expect_eq "example offline: the cached version" "$(ex --key "$T/new.key" --product DEMO \
    --version 1.2 | sed 's/[0-9]* s old/N s old/')" "stay on 1.2 [offline: last verdict N s old]"
expect_eq "example offline: another version" "$(ex --key "$T/new.key" --product DEMO \
    --version 1.0 | sed 's/[0-9]* s old/N s old/')" \
    "run in demo mode (not_eligible) [offline: last verdict N s old]"

# ---- clock rollback ----------------------------------------------------------------------------------
# The state file's mark moved 10 days into the future: the local clock is
# behind the newest server time seen, i.e. it was set back.
FUT=$(($(now) + 10 * 86400))
sed -i "s/^high-water .*/high-water $FUT/" "$S"
d rb --state "$S" check,"$T/new.key",DEMO,1.0 check,"$T/new.key",DEMO,1.3
expect_eq "rollback: still answers offline" "$(f rb err)" KG_OK
expect_eq "rollback: detected" "$(f rb rollback)" true
expect_eq "rollback: kg_client_rollback" "$(f rb client_rollback)" true
expect_eq "rollback: never more than the cached verdict" "$(f rb verdict)" update
check "rollback: age measured from the mark" test "$(f rb age)" -ge $((FUT - NEWST))
expect_eq "rollback: newer versions stay demo" "$(f rb verdict 2)" demo
d rbtol --state "$S" --tolerance 1000000 check,"$T/new.key",DEMO,1.0
expect_eq "rollback within a larger tolerance: not reported" "$(f rbtol rollback)" false
# A future mark makes every reply of a server on the real clock a replay.
kg_start "$D" || exit 1
SRV=127.0.0.1:$KG_PORT
d rbon --state "$S" check,"$T/new.key",DEMO,1.0
expect_eq "a mark in the future refuses the real server: KG_ERR_REPLAY" "$(f rbon err)" KG_ERR_REPLAY
kg_stop

# The clock really set back: a server 30 days ahead of this machine (test clock).
D2=$T/data2
kg_init "$D2"
kg_start "$D2" --test-clock "$(day 30)" || exit 1
{ adm product add FUT --name Future --price 1000 && adm edition add FUT STD &&
  adm release publish FUT 2.0 --date "$(day 0)"; } >>"$T/setup.log" 2>&1
adm --json key issue FUT STD --licensee "Fut Co" --created "$(day 0)" | jget key >"$T/fut.key"
dr fut1 --server "127.0.0.1:$KG_PORT" --trust "$D2/signing.pub" --state "$T/fut.state" \
    check,"$T/fut.key",FUT,2.0 check,"$T/fut.key",FUT,2.0
expect_eq "clock behind the server: online check works" "$(f fut1 err)" KG_OK
expect_eq "clock behind the server: current" "$(f fut1 verdict)" current
expect_eq "clock behind the server: reported" "$(f fut1 rollback)" true
expect_eq "clock behind the server: the next check works too" "$(f fut1 err 2)" KG_OK
kg_stop
dr fut2 --server "127.0.0.1:$KG_PORT" --trust "$D2/signing.pub" --state "$T/fut.state" \
    check,"$T/fut.key",FUT,2.0
expect_eq "clock set back, offline: the cached verdict" "$(f fut2 verdict)" current
expect_eq "clock set back, offline: offline" "$(f fut2 offline)" true
expect_eq "clock set back, offline: rollback" "$(f fut2 rollback)" true

kg_done
