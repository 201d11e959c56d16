#!/usr/bin/env bash
# Batched reply signing (issue 7 item 3) end to end: keygated signs the
# replies of one event-loop turn with one signature over a Merkle root.
# python3-nacl and hashlib check every reply independently of keygate's C
# (kgwire.reply_open follows proto/README.md "Batched reply signatures"):
# - a lone request is answered in the direct form (no path);
# - 64 requests pipelined in one write on one connection come back in
#   order, each answering its own request (nonce, request hash), and some
#   in batches (a path): one signature for several replies;
# - 24 connections sending at once, several rounds: every reply verifies;
# - a client that closes with replies still in a batch disturbs no one
#   else's replies, and keygated keeps serving;
# - a forged path or index, or a reply moved to another body, is refused;
# - an Error reply (an unreadable frame) is batched and verified like the
#   rest, and the connection is closed after it;
# - the metrics' batch histogram counts signatures and the replies they
#   signed;
# - group commit (issue 7 item 6): 10 activate requests pipelined in one
#   write are redeemed in one write transaction (the group-size histogram
#   moves by one commit of 10), in order, each seeing the one before it
#   (the same license renewed ten times: each new expiry later than the
#   last); an act presented by two keys in one group renews only the first
#   (act_used for the second); every reply verifies; after a restart the
#   store holds exactly what was acknowledged;
# - the R16 failure budget holds inside a group: 20 wrong act numbers
#   pipelined in one write get 5 act_unknown answers, then rate_limited;
# - a connection waits for its activation's commit before anything else it
#   sent is answered (the committer thread commits while the loop serves
#   others): two activations and a check pipelined in one write come back
#   in order, the check seeing both renewals; an unreadable frame after an
#   activation is answered bad_request after the activation's reply; a
#   client that half-closes after an activation and a check gets both
#   replies; more than a maximal frame of checks behind an activation is
#   read up to that limit, the rest once the activation is answered, and
#   every reply comes back in order; a client that resets while its
#   activation commits disturbs no one.
. "$(dirname "$0")/lib.sh"

D=$T/d
kg_init "$D"
kg_metrics_conf "$D"
kg_start "$D" || exit 1
kg_product BAT "Batch Ltd"
kg_wire_key BAT
KEY2=$(adm --json key issue BAT STD --licensee "Second Ltd" | jget key)
KEY3=$(adm --json key issue BAT STD --licensee "Third Ltd" | jget key)
export KEY2 KEY3
kg_register_acts GRP 12 BAT 12
kg_register_acts HLD 6 BAT 12
export KG_MPORT=$(cat "$D/metrics.port")

T="$T" kgpy - >"$T/batch.out" 2>&1 <<'EOF'
import os, socket, struct, threading
import kgwire as w

port, pk, key = int(os.environ["KG_PORT"]), w.pubkey(), os.environ["KEY"]
def say(ok, text):
    print(("OK " if ok else "FAIL ") + text, flush=True)

def check_req():
    nonce = os.urandom(16)
    return nonce, w.request("check", nonce, key=key, product="BAT", version="1.0.0")

counters = w.metrics

def metrics():
    return counters("keygate_reply_batch_size_")

# ---- a lone request: the direct form
s = w.connect(port)
nonce, req = check_req()
w.write_frame(s, req)
r = w.reply_open(w.read_frame(s), pk, nonce, req)
say(r["batch_depth"] == 0 and r["batch_index"] == 0 and r["verdict"]["verdict"] == "update",
    "a lone request is signed directly (depth %d)" % r["batch_depth"])
lone = r

# ---- 64 pipelined requests in one write
m0 = metrics()
reqs = [check_req() for _ in range(64)]
s.sendall(b"".join(w.frame(q) for _, q in reqs))
depths, ok = [], True
for i, (nonce, q) in enumerate(reqs):
    msg = w.read_frame(s)
    try:
        r = w.reply_open(msg, pk, nonce, q)      # raises unless it answers q
        depths.append(r["batch_depth"])
        ok = ok and r["verdict"]["verdict"] == "update"
    except Exception as e:
        ok = False
        say(False, "pipelined reply %d: %s" % (i, e))
        break
    if depths[-1] > 0 and "batched_msg" not in globals():
        batched_msg = msg
say(ok and len(depths) == 64, "64 pipelined replies verify, in order")
say(max(depths) > 0, "some came in batches (path lengths %s)" % sorted(set(depths)))
m1 = metrics()
sigs = m1["keygate_reply_batch_size_count"] - m0["keygate_reply_batch_size_count"]
reps = m1["keygate_reply_batch_size_sum"] - m0["keygate_reply_batch_size_sum"]
say(reps == 64 and sigs < 64,
    "metrics: %d replies under %d signatures" % (reps, sigs))
say(m1['keygate_reply_batch_size_bucket{le="1"}'] < m1["keygate_reply_batch_size_count"],
    "metrics: batches of more than one are counted")

# ---- forgeries of a batched reply
rep = w.parse(batched_msg)
def enc(index, path, body=None, sig=None):
    out = w.fbytes(1, body if body is not None else rep[1][-1])
    out += w.fbytes(2, sig if sig is not None else rep[2][-1])
    out += w.fbytes(3, rep[3][-1])
    if index:
        out += w.fint(4, index)
    for p in path:
        out += w.fbytes(5, p)
    return out
index, path = rep.get(4, [0])[-1], rep.get(5, [])
def refused(msg, what):
    try:
        w.reply_open(msg, pk)
        say(False, what + " is refused")
    except Exception:
        say(True, what + " is refused")
say(len(path) > 0, "a batched reply (index %d, depth %d)" % (index, len(path)))
w.reply_open(enc(index, path), pk)          # re-encoded as it was: still good
bad = bytearray(path[0]); bad[0] ^= 1
refused(enc(index, [bytes(bad)] + path[1:]), "a flipped bit in the path")
refused(enc(index ^ 1, path), "another index")
refused(enc(index, path[:-1]), "a path one short")
refused(enc(index, path + [bytes(32)]), "a path one long")
refused(enc(index, path, body=rep[1][-1] + b"\x00"), "another body on the path")
refused(enc(0, []), "the batch signature as a direct one")

# ---- 24 connections sending at once, 20 rounds
errors = []
def client(n):
    try:
        c = w.connect(port)
        for _ in range(20):
            nonce, q = check_req()
            w.write_frame(c, q)
            r = w.reply_open(w.read_frame(c), pk, nonce, q)
            if r["verdict"]["verdict"] != "update":
                errors.append("verdict %s" % r["verdict"])
        c.close()
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=client, args=(i,)) for i in range(24)]
for t in threads: t.start()
for t in threads: t.join(60)
say(not errors and not any(t.is_alive() for t in threads),
    "24 connections x 20 checks: every reply verifies %s" % errors[:2])

# ---- a client that leaves with replies in a batch
for _ in range(5):
    g = w.connect(port)
    g.sendall(b"".join(w.frame(check_req()[1]) for _ in range(40)))
    g.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    g.close()                                   # a reset, replies unread
nonce, q = check_req()
w.write_frame(s, q)
r = w.reply_open(w.read_frame(s), pk, nonce, q)
say(r["verdict"]["verdict"] == "update", "clients that reset mid-batch leave others served")

# ---- an Error reply goes through the batch too, then the connection closes
e = w.connect(port)
nonce, q = check_req()
e.sendall(w.frame(q) + w.frame(b"\xff\xff\xff"))
r1 = w.reply_open(w.read_frame(e), pk, nonce, q)
r2 = w.reply_open(w.read_frame(e), pk)
say(r1["verdict"]["verdict"] == "update" and r2.get("error", {}).get("reason") == "bad_request",
    "a check then an unreadable frame: a verdict, then bad_request, in order")
say(w.closed(e), "the connection is closed after the error reply")

# ---- group commit: 10 activations pipelined on one connection
g0 = counters("keygate_redemption_group_size_")
a = w.connect(port)
reqs = []
for i in range(10):
    nonce = os.urandom(16)
    reqs.append((nonce, w.request("activate", nonce, key=key, act="GRP-%d" % i)))
a.sendall(b"".join(w.frame(q) for _, q in reqs))
expiries, ok = [], True
for i, (nonce, q) in enumerate(reqs):
    r = w.reply_open(w.read_frame(a), pk, nonce, q)
    v = r.get("verdict") or {}
    ok = ok and v.get("reason") == "ok" and v.get("renewal") is not None
    expiries.append(v.get("support_expiry"))
say(ok, "10 pipelined activations: each renewed, each reply verified, in order")
say(all(expiries[i] < expiries[i + 1] for i in range(9)),
    "each saw the one before it: expiries %s .. %s" % (expiries[0], expiries[-1]))
g1 = counters("keygate_redemption_group_size_")
say(g1["keygate_redemption_group_size_count"] - g0["keygate_redemption_group_size_count"] == 1 and
    g1["keygate_redemption_group_size_sum"] - g0["keygate_redemption_group_size_sum"] == 10,
    "metrics: one durable commit for the 10 redemptions")
open(os.environ["T"] + "/acked_expiry", "w").write(str(expiries[-1]))

# ---- one act, two keys, one group: the first renews, the second is refused
n1, n2 = os.urandom(16), os.urandom(16)
q1 = w.request("activate", n1, key=os.environ["KEY2"], act="GRP-10")
q2 = w.request("activate", n2, key=os.environ["KEY3"], act="GRP-10")
a.sendall(w.frame(q1) + w.frame(q2))
r1 = w.reply_open(w.read_frame(a), pk, n1, q1)["verdict"]
r2 = w.reply_open(w.read_frame(a), pk, n2, q2)["verdict"]
say(r1["reason"] == "ok" and r1["renewal"] is not None and r2["reason"] == "act_used",
    "the same act twice in one group: ok, then act_used (%s, %s)" % (r1["reason"], r2["reason"]))

# ---- a held connection: its check waits for its activations' commit
h = w.connect(port)
na, nb, nc = os.urandom(16), os.urandom(16), os.urandom(16)
qa = w.request("activate", na, key=os.environ["KEY2"], act="HLD-0")
qb = w.request("activate", nb, key=os.environ["KEY2"], act="HLD-1")
qc = w.request("check", nc, key=os.environ["KEY2"], product="BAT", version="1.0.0")
h.sendall(w.frame(qa) + w.frame(qb) + w.frame(qc))
ra = w.reply_open(w.read_frame(h), pk, na, qa)["verdict"]
rb = w.reply_open(w.read_frame(h), pk, nb, qb)["verdict"]
rc = w.reply_open(w.read_frame(h), pk, nc, qc)["verdict"]
say(ra["reason"] == "ok" and rb["reason"] == "ok" and
    ra["support_expiry"] < rb["support_expiry"],
    "activate, activate, check in one write: both renewed, in order (%s, %s)" %
    (ra["reason"], rb["reason"]))
say(rc["verdict"] == "update" and rc["support_expiry"] == rb["support_expiry"],
    "... and the check after them sees both renewals (%s)" % rc["support_expiry"])

e = w.connect(port)
na = os.urandom(16)
qa = w.request("activate", na, key=os.environ["KEY3"], act="HLD-2")
e.sendall(w.frame(qa) + w.frame(b"\xff\xff\xff"))
r1 = w.reply_open(w.read_frame(e), pk, na, qa)
r2 = w.reply_open(w.read_frame(e), pk)
say(r1.get("verdict", {}).get("reason") == "ok" and
    r2.get("error", {}).get("reason") == "bad_request",
    "an activation then an unreadable frame: ok, then bad_request, in order")
say(w.closed(e), "... and the connection is closed after the error reply")

# ... and one that shuts down its side after them still gets every reply
hc = w.connect(port)
na, nc = os.urandom(16), os.urandom(16)
qa = w.request("activate", na, key=os.environ["KEY2"], act="HLD-4")
qc = w.request("check", nc, key=os.environ["KEY2"], product="BAT", version="1.0.0")
hc.sendall(w.frame(qa) + w.frame(qc))
hc.shutdown(socket.SHUT_WR)
ra = w.reply_open(w.read_frame(hc), pk, na, qa)["verdict"]
rc = w.reply_open(w.read_frame(hc), pk, nc, qc)["verdict"]
say(ra["reason"] == "ok" and rc["support_expiry"] == ra["support_expiry"] and w.closed(hc),
    "activate, check, then a half-close: both answered, in order, then closed")

# ... and one whose input fills while it waits: 400 checks (about 90 KB,
# more than one maximal frame of 64 KiB) behind an activation in one write
hf = w.connect(port)
na = os.urandom(16)
qa = w.request("activate", na, key=os.environ["KEY2"], act="HLD-5")
checks = []
for i in range(400):
    nonce = os.urandom(16)
    checks.append((nonce, w.request("check", nonce, key=os.environ["KEY2"],
                                    product="BAT", version="1.0.0")))
data = w.frame(qa) + b"".join(w.frame(q) for _, q in checks)
hf.sendall(data)
ra = w.reply_open(w.read_frame(hf), pk, na, qa)["verdict"]
seen = [w.reply_open(w.read_frame(hf), pk, n, q)["verdict"]["support_expiry"]
        for n, q in checks]
say(len(data) > 65536 + 4 and ra["reason"] == "ok" and
    seen == [ra["support_expiry"]] * len(checks),
    "an activation and %d bytes of checks behind it: every check answered, "
    "in order, after the renewal (%s)" % (len(data), ra["reason"]))

for i in range(5):
    g = w.connect(port)
    n = os.urandom(16)
    g.sendall(w.frame(w.request("activate", n, key=os.environ["KEY3"],
                                act="HLD-3")) +
              w.frame(check_req()[1]))
    g.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    g.close()                                   # a reset while it commits
nonce, q = check_req()
w.write_frame(s, q)
r = w.reply_open(w.read_frame(s), pk, nonce, q)
say(r["verdict"]["verdict"] == "update",
    "clients that reset while their activation commits leave others served")

# ---- R16 holds inside a group: 20 guesses pipelined in one write get 5 tries
b = w.connect(port, source="127.0.0.5")
reqs = []
for i in range(20):
    nonce = os.urandom(16)
    reqs.append((nonce, w.request("activate", nonce, key=os.environ["KEY3"],
                                  act="NOPE-%d" % i)))
b.sendall(b"".join(w.frame(q) for _, q in reqs))
reasons = [w.reply_open(w.read_frame(b), pk, n, q)["verdict"]["reason"] for n, q in reqs]
say(reasons[:5] == ["act_unknown"] * 5 and reasons[5:] == ["rate_limited"] * 15,
    "20 pipelined guesses: 5 act_unknown, then rate_limited (%s)" %
    ",".join(r[:8] for r in reasons))
EOF
cat "$T/batch.out"
check "the python checks ran" grep -q "the connection is closed after" "$T/batch.out"
check "no python check failed" bash -c "! grep -v '^OK ' '$T/batch.out' | grep -q ."
check "keygated is still running" kill -0 "$KG_PID"
check "one more check through the real CLI" bash -c \
    "'$CLI' --server 127.0.0.1:$KG_PORT --pubkey '$D/signing.pub' check --key '$KEY' --product BAT --version 1.0.0 >/dev/null"

# What was acknowledged is durable: kill -9, restart, read it back.
kg_kill9
kg_start "$D" || exit 1
expect_eq "after kill -9 the license has the last acknowledged expiry" \
    "$(adm --json key show "$KEY" | jget support_expiry)" "$(cat "$T/acked_expiry")"
expect_eq "GRP-9 is redeemed" "$(adm --json act show GRP-9 | jget state)" redeemed
expect_eq "GRP-10 went to the second key only" \
    "$(adm --json act show GRP-10 | jget state)" redeemed
kg_done
