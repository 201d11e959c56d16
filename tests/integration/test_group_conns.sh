#!/usr/bin/env bash
# Group commit across connections (issue 7 item 6): act redemptions that
# arrive on different connections while a commit cannot start are made
# durable together, and each is acknowledged only after its commit.
# Another process holds the store's write lock (tests/tools/kg_store_hold)
# while 10 clients, each on its own connection with its own key, send one
# activation each; no reply may come while the lock is held. Once it is let
# go: every client gets its renewal (each reply verified by kgwire), the
# group-size histogram counts the 10 redemptions in at most two commits
# (the first may have taken the first redemption alone before it blocked),
# and after a SIGKILL and a restart each license has the renewed expiry it
# was acknowledged.
. "$(dirname "$0")/lib.sh"

D=$T/d
kg_init "$D"
kg_metrics_conf "$D"
kg_start "$D" || exit 1
kg_product GC "Group Ltd"
kg_wire_key GC
adm --json key issue GC STD --licensee "Many Ltd" --count 10 >"$T/keys.json" || exit 1
kg_register_acts GC 10 GC 12
export KG_MPORT=$(cat "$D/metrics.port") T

coproc HOLD { "$KG_BUILD/tests/kg_store_hold" "$D"; }
read -r -t 10 held <&"${HOLD[0]}"
expect_eq "another process holds the store's write lock" "$held" held

kgpy - >"$T/group.out" 2>&1 <<'EOF' &
import json, os, select
import kgwire as w

def say(ok, text):
    print(("OK " if ok else "FAIL ") + text, flush=True)

def group_counters():
    return w.metrics("keygate_redemption_group_size_")

keys = [json.loads(l)["key"] for l in open(os.environ["T"] + "/keys.json")]
g0 = group_counters()
conns, reqs = [], []
for i, key in enumerate(keys):
    s = w.connect()
    nonce = os.urandom(16)
    q = w.request("activate", nonce, key=key, act="GC-%d" % i)
    s.sendall(w.frame(q))
    conns.append(s)
    reqs.append((nonce, q))
# Nothing is acknowledged while no commit can be made.
ready, _, _ = select.select(conns, [], [], 1.0)
say(not ready, "no reply while the write lock is held (%d ready)" % len(ready))
open(os.environ["T"] + "/sent", "w").close()
acked, ok = [], True
for s, (nonce, q) in zip(conns, reqs):
    try:
        v = w.reply_open(w.read_frame(s), None, nonce, q)["verdict"]
        ok = ok and v["reason"] == "ok" and v["renewal"] is not None
        acked.append(v["support_expiry"])
    except Exception as e:
        ok = False
        say(False, "a reply: %s" % e)
say(ok and len(acked) == 10, "10 clients on 10 connections: each renewed, each reply verified")
open(os.environ["T"] + "/acked", "w").write("\n".join(map(str, acked)) + "\n")
g1 = group_counters()
commits = g1["keygate_redemption_group_size_count"] - g0["keygate_redemption_group_size_count"]
redeemed = g1["keygate_redemption_group_size_sum"] - g0["keygate_redemption_group_size_sum"]
say(redeemed == 10 and 1 <= commits <= 2,
    "metrics: 10 redemptions in %d durable commits" % commits)
EOF
py=$!
kg_wait_file "$T/sent" 20
check "the clients sent while the lock was held" test -e "$T/sent"
exec {HOLD[1]}>&-
wait "$py"
expect_eq "the python clients ran" "$?" 0
cat "$T/group.out"
check "no python check failed" bash -c "! grep -q '^FAIL' '$T/group.out'"
expect_eq "every python check ran" "$(grep -c '^OK ' "$T/group.out")" 3

# Acknowledged means durable: kill -9, restart, each license as acked.
kg_kill9
kg_start "$D" || exit 1
i=0
while read -r key; do
	want=$(sed -n "$((i + 1))p" "$T/acked")
	got=$(adm --json key show "$key" | jget support_expiry)
	expect_eq "after kill -9: license $i keeps its acknowledged expiry" \
	    "$got" "$want"
	i=$((i + 1))
done < <(kgpy -c "import json, sys
for l in open(sys.argv[1]): print(json.loads(l)['key'])" "$T/keys.json")
expect_eq "ten licenses checked after the restart" "$i" 10

kg_done
