#!/usr/bin/env bash
# Hostile clients on the public TCP port (SPEC section 4) while an honest one
# keeps checking: zero-length frames, a length of 2^32-1, truncated frames,
# 64 KiB of random bytes, an HTTP GET, a wrong protocol version, frames over
# the limit, slow and idle clients, pipelined requests, the connection cap,
# memory use under oversize claims, and running out of file descriptors.
# Every hostile case must get an error reply or a close; the honest client
# must get correct signed answers throughout; the daemon must survive.
# Requests are spoken by the Python wire client (kgwire.py, next to this
# file) so that the bytes on the wire are exactly the ones the test means.
. "$(dirname "$0")/lib.sh"

# Under AddressSanitizer freed memory sits in a quarantine and counts as
# resident; keep it small so the RSS check below measures the daemon.
kg_small_quarantine

D=$T/data
kg_init "$D"
cat >>"$D/keygated.conf" <<'EOF'
# test_hostile: short timeouts so slow and idle clients are seen quickly
read_timeout = 2
idle_timeout = 3
write_timeout = 2
max_connections = 64
EOF
kg_start "$D" --log-level debug || exit 1

kg_product HOST "Hostile Test"
kg_wire_key HOST

# The honest client: bounded in count (2000) and time (60 s); it stops early
# once the hostile phase is over (the stop file). Every 5 requests it opens
# a new connection. It prints "ok N fail M".
cat >"$T/honest.py" <<'EOF'
import os, sys, time
import kgwire as w
KEY = os.environ["KEY"]
stop, deadline = sys.argv[1], time.time() + 60
ok = fail = 0
sock = None
for i in range(2000):
    if time.time() > deadline or (os.path.exists(stop) and ok >= 20):
        break
    try:
        if sock is None or i % 5 == 0:
            if sock is not None:
                sock.close()
            sock = w.connect()
        v = w.check(sock, KEY, "HOST", "1.0.0")
        if (v["verdict"], v["reason"], v["eligible"], v["latest"]) == \
                ("update", "ok", "1.1.0", "1.1.0"):
            ok += 1
        else:
            fail += 1
            print("unexpected verdict", v, file=sys.stderr)
    except Exception as e:
        fail += 1
        sock = None
        print("honest request failed:", repr(e), file=sys.stderr)
    time.sleep(0.02)
print("ok %d fail %d" % (ok, fail))
EOF

kgpy "$T/honest.py" "$T/stop" >"$T/honest.out" 2>"$T/honest.err" &
HONEST=$!

# The hostile cases. Each prints "NAME ok" or "NAME <what went wrong>".
cat >"$T/hostile.py" <<'EOF'
import os, random, socket, struct, time
import kgwire as w
KEY = os.environ["KEY"]


def error_then_close(name, payload, reason):
    """payload gets a signed Error reply with reason, then the server closes."""
    s = w.connect()
    try:
        s.sendall(payload)
        msg = w.read_frame(s)
        if msg is None:
            return print(name, "closed without an error reply")
        r = w.reply_open(msg)
        if r.get("error", {}).get("reason") != reason:
            return print(name, "reply", r)
        if not w.closed(s):
            return print(name, "connection left open")
        print(name, "ok")
    finally:
        s.close()


def reply_or_close(name, payload):
    """payload gets a signed Error reply or a close, nothing else."""
    s = w.connect()
    try:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            return print(name, "ok")
        msg = w.read_frame(s)
        if msg is not None:
            r = w.reply_open(msg)
            if "error" not in r:
                return print(name, "reply", r)
        if not w.closed(s):
            return print(name, "connection left open")
        print(name, "ok")
    finally:
        s.close()


error_then_close("zero_length", struct.pack(">I", 0), "bad_request")
error_then_close("length_2^32-1", struct.pack(">I", 0xFFFFFFFF), "frame_too_large")
error_then_close("length_limit+1", struct.pack(">I", 65537) + b"\0" * 100,
                 "frame_too_large")
error_then_close("http_get", b"GET / HTTP/1.0\r\n\r\n", "frame_too_large")
error_then_close("garbage_message", w.frame(b"\xff" * 40), "bad_request")
rng = random.Random(20260101)
reply_or_close("random_64k", bytes(rng.getrandbits(8) for _ in range(65536)))
# A frame exactly at the limit is read: random bytes are no Request.
error_then_close("length_at_limit", struct.pack(">I", 65536) +
                 bytes(rng.getrandbits(8) | 0x80 for _ in range(65536)),
                 "bad_request")

# Truncated: announce 100 bytes, send 10, close. Nothing to answer.
s = w.connect()
s.sendall(struct.pack(">I", 100) + b"\x08\x01" * 5)
s.close()
print("truncated_then_close ok")

# Wrong protocol version: answered, and the connection stays usable.
s = w.connect()
nonce = os.urandom(16)
req = w.request("check", nonce, protocol=2, key=KEY,
                product="HOST", version="1.0.0")
s.sendall(w.frame(req))
r = w.reply_open(w.read_frame(s), nonce=nonce, req=req)
if r.get("error", {}).get("reason") != "protocol_version":
    print("wrong_protocol reply", r)
else:
    v = w.check(s, KEY, "HOST", "1.0.0")
    print("wrong_protocol", "ok" if v["verdict"] == "update" else v)
# A bad field (short nonce, bad version) on the same connection: answered, open.
nonce = os.urandom(8)
req = w.request("check", nonce, key="x", product="HOST", version="1.0.0")
s.sendall(w.frame(req))
r = w.reply_open(w.read_frame(s), nonce=nonce, req=req)
print("short_nonce", "ok" if r.get("error", {}).get("reason") == "bad_request" else r)
nonce = os.urandom(16)
req = w.request("check", nonce, key=KEY, product="HOST",
                version="1.0.x")
s.sendall(w.frame(req))
r = w.reply_open(w.read_frame(s), nonce=nonce, req=req)
print("bad_version", "ok" if r.get("error", {}).get("reason") == "bad_version" else r)
v = w.check(s, KEY, "HOST", "1.0.0")
print("open_after_bad_fields", "ok" if v["verdict"] == "update" else v)
s.close()

# Pipelined: 50 requests in one write, 50 replies in order.
s = w.connect()
reqs = []
for i in range(50):
    nonce = os.urandom(16)
    reqs.append((nonce, w.request("check", nonce, key=KEY,
                                  product="HOST", version="1.0.%d" % i)))
s.sendall(b"".join(w.frame(r) for _, r in reqs))
bad = 0
for nonce, req in reqs:
    r = w.reply_open(w.read_frame(s), nonce=nonce, req=req)
    bad += "verdict" not in r
print("pipelined_in_order", "ok" if bad == 0 else "%d bad replies" % bad)
s.close()

# Slow client: half a frame, then silence: error reply within the read
# timeout (2 s), then close.
s = w.connect(timeout=10)
t0 = time.time()
s.sendall(struct.pack(">I", 200) + b"\x08\x01")
msg = w.read_frame(s)
took = time.time() - t0
if msg is None:
    print("slow_frame closed without a reply")
else:
    r = w.reply_open(msg)
    ok = r.get("error", {}).get("reason") == "bad_request" and 1.5 < took < 6 \
        and w.closed(s)
    print("slow_frame", "ok" if ok else (r, took))
s.close()

# Slowloris: one byte a second never completes a frame in time.
s = w.connect(timeout=10)
t0, got = time.time(), None
s.sendall(struct.pack(">I", 50))
s.settimeout(1)
for i in range(8):
    try:
        s.sendall(b"\x08")
        got = w.read_frame(s)
        break
    except socket.timeout:
        continue
    except (BrokenPipeError, ConnectionResetError):
        break
took = time.time() - t0
print("slowloris", "ok" if took < 5 else "still open after %.1f s" % took)
s.close()

# A client that sends and never reads: once its unread replies pass the
# output high-water mark the daemon stops reading from it, and when they make
# no progress for the write timeout (2 s) it is cut off. Its small receive
# window keeps the kernel from absorbing the replies.
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(os.environ["KG_PORT"])))
s.setblocking(False)
one = w.frame(w.request("status", os.urandom(16), key="x"))
batch, sent, blocked_since, t0 = one * 2000, 0, None, time.time()
while time.time() - t0 < 20:
    try:
        sent += s.send(batch)
        blocked_since = None
    except BlockingIOError:
        blocked_since = blocked_since or time.time()
        if time.time() - blocked_since > 3:
            break
        time.sleep(0.05)
    except (BrokenPipeError, ConnectionResetError):
        break
s.setblocking(True)
s.settimeout(10)
replies = 0
while True:
    try:
        msg = w.read_frame(s)
    except socket.timeout:
        msg = None
    if msg is None:
        break
    replies += 1
asked = sent // len(one)
print("slow_reader", "ok" if 0 < replies < asked and time.time() - t0 < 30
      else "asked %d, got %d replies" % (asked, replies))
s.close()

# Idle: no bytes at all: closed without a reply after the idle timeout (3 s).
s = w.connect(timeout=10)
t0 = time.time()
c = w.closed(s)
took = time.time() - t0
print("idle", "ok" if c and 2.5 < took < 7 else "closed=%s after %.1f s" % (c, took))
s.close()
EOF
kgpy "$T/hostile.py" >"$T/hostile.out" 2>&1
while read -r name result; do
	expect_eq "hostile: $name" "$result" ok
done <"$T/hostile.out"
expect_eq "hostile: all cases ran" "$(wc -l <"$T/hostile.out")" 17

# Memory: 200 frames claiming 2^31 bytes must not grow the daemon's RSS by
# more than 4 MiB (nothing beyond a header may be buffered).
cat >"$T/claims.py" <<'EOF'
import struct, sys
import kgwire as w
n, bad = int(sys.argv[1]), 0
for i in range(n):
    s = w.connect()
    try:
        s.sendall(struct.pack(">I", 1 << 31) + b"\x41" * 1024)
        msg = w.read_frame(s)
        if msg is not None and \
                w.reply_open(msg).get("error", {}).get("reason") != "frame_too_large":
            bad += 1
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        s.close()
print(bad)
EOF
kgpy "$T/claims.py" 20 >/dev/null
before=$(kg_rss)
expect_eq "2^31 claims: every reply is frame_too_large" "$(kgpy "$T/claims.py" 200)" 0
after=$(kg_rss)
echo "VmRSS before ${before} kB, after ${after} kB"
check "2^31 claims: RSS grew by less than 4 MiB" test $((after - before)) -lt 4096

touch "$T/stop"
wait "$HONEST"
honest=$(cat "$T/honest.out")
echo "honest client: $honest"
[ -s "$T/honest.err" ] && head -n 5 "$T/honest.err"
check "honest client never failed" grep -q "fail 0\$" "$T/honest.out"
check "honest client got at least 20 answers" \
    test "$(awk '{ print $2 }' "$T/honest.out")" -ge 20

# The connection cap (64): 70 idle connections, the excess closed at once.
cat >"$T/cap.py" <<'EOF'
import select, time
import kgwire as w
# Well within the idle timeout (3 s): only the refused ones are closed.
socks = [w.connect() for _ in range(70)]
time.sleep(0.5)
readable, _, _ = select.select(socks, [], [], 0)
closed = sum(w.closed(s) for s in readable)
for s in socks:
    s.close()
print(closed)
EOF
closed=$(kgpy "$T/cap.py")
expect_eq "cap: 6 of 70 connections closed at once" "$closed" 6
check "cap: daemon alive" kill -0 "$KG_PID"
check "cap: honest check after the cap test" kgpy -c "
import os, sys, time; import kgwire as w; KEY = os.environ['KEY']
for i in range(50):
    try:
        v = w.check(w.connect(), KEY, 'HOST', '1.0.0'); break
    except Exception:
        time.sleep(0.1)
sys.exit(v['verdict'] != 'update')"

# Out of descriptors: with RLIMIT_NOFILE lowered, accept fails with EMFILE;
# the listener pauses instead of spinning, and serves again once
# connections close.
cpu() { awk '{ print $14 + $15 }' "/proc/$KG_PID/stat"; }
nofile=$(prlimit --pid "$KG_PID" --nofile --output SOFT --noheadings | tr -d ' ')
prlimit --pid "$KG_PID" --nofile=24:
cat >"$T/emfile.py" <<'EOF'
import sys, time
import kgwire as w
socks = [w.connect() for _ in range(40)]
time.sleep(float(sys.argv[1]))
for s in socks:
    s.close()
EOF
kgpy "$T/emfile.py" 3 &
EMF=$!
sleep 0.5
c0=$(cpu)
sleep 2
c1=$(cpu)
wait "$EMF"
echo "CPU ticks while out of descriptors: $((c1 - c0))"
check "EMFILE: no spinning (under 50 ticks in 2 s)" test $((c1 - c0)) -lt 50
check "EMFILE: the pause was logged" grep -q "pausing the listener" "$D/keygated.log"
check "slow reader: cut off by the write timeout" \
    grep -q "replies not read within 2 seconds" "$D/keygated.log"
prlimit --pid "$KG_PID" --nofile="$nofile":
check "EMFILE: serves again" kgpy -c "
import os, sys, time; import kgwire as w; KEY = os.environ['KEY']
v = None
for i in range(50):
    try:
        v = w.check(w.connect(), KEY, 'HOST', '1.0.0'); break
    except Exception:
        time.sleep(0.1)
sys.exit(v is None or v['verdict'] != 'update')"
check "daemon alive at the end" kill -0 "$KG_PID"
check "no key text in the log" test "$(grep -c -F "${KEY:0:40}" "$D/keygated.log")" -eq 0
kg_stop
kg_done
