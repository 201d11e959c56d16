#!/bin/bash
# Acknowledged redemptions survive kill -9 (SPEC section 6, issue 4 item 3):
# keygated is killed with SIGKILL ROUNDS times at random moments (fixed
# seed) while clients redeem acts, two keys racing for each act. Every
# acknowledged reply is recorded. After each restart:
# - every acknowledged renewal is present: `keygate-admin act list` shows the
#   act redeemed by that key with that renewal, each key's support holds at
#   least its acknowledged renewals, its key presenting the act again gets
#   the identical renewal (a repeat changes nothing) and the other key gets
#   act_used, so no act is redeemed twice;
# - every acknowledged act_used is confirmed: the act is stored as redeemed
#   by the other key, which presenting it again gets ok.
# At the end every act is presented by both keys (exactly one wins), the
# stored extensions add up to one per act, the audit log holds one act.redeem
# record per act, and `keygate-admin audit --verify` passes.
. "$(dirname "$0")/lib.sh"

ROUNDS=22
NKEYS=8
ACTS_PER_ROUND=12
NACTS=$((ROUNDS * ACTS_PER_ROUND))
TODAY=2026-06-15
OLD_EXPIRY=2026-05-26
SEED=4242

# The driver: "run ROUND" redeems that round's acts from 4 clients with small
# seeded pauses, appending each acknowledged reply to ACKS; "probe" checks
# every acknowledgement so far; "final" presents every act by both keys.
cat >"$T/driver.py" <<'EOF'
import datetime, json, os, random, sys, threading, time
from dateutil.relativedelta import relativedelta
import kgwire

mode, port, pub, keysfile, acks = sys.argv[1:6]
port, pub = int(port), kgwire.load_pubkey(pub)
keys = [json.loads(l)["key"] for l in open(keysfile)]
serials = [json.loads(l)["serial"] for l in open(keysfile)]
n = len(keys)
per_round = int(os.environ["ACTS_PER_ROUND"])
nacts = int(os.environ["NACTS"])
seed = int(os.environ["SEED"])

def pair(i):
    return i % n, (i % n + 1 + (i // n) % (n - 1)) % n

def act(i):
    return "CRASH-%d" % i

def load_acks():
    out = []
    if os.path.exists(acks):
        for line in open(acks):
            out.append(json.loads(line))
    return out

if mode == "run":
    rnd = random.Random(seed * 1000 + int(sys.argv[6]))
    base = int(sys.argv[6]) * per_round
    tasks = []
    for i in range(base, base + per_round):
        a, b = pair(i)
        tasks += [(i, a), (i, b)] if rnd.random() < 0.5 else [(i, b), (i, a)]
    lock = threading.Lock()
    log = open(acks, "a")
    pauses = [rnd.uniform(0.0, 0.08) for _ in tasks]

    def worker(wid):
        try:
            c = kgwire.Client(port, pub, timeout=10)
            for t in range(wid, len(tasks), 4):
                time.sleep(pauses[t])
                i, k = tasks[t]
                r = c.activate(keys[k], act(i))
                with lock:	# acknowledged: a whole, verified reply
                    log.write(json.dumps({"act": i, "key": k,
                        "reason": r.get("reason", r.get("error")),
                        "renewal": r.get("renewal")}) + "\n")
                    log.flush()
        except (OSError, ConnectionError):
            pass		# the daemon was killed
    ts = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()
    sys.exit(0)

c = kgwire.Client(port, pub, timeout=30)
bad = []
if mode == "probe":
    # Before presenting anything: each key's stored support holds at least
    # one month per acknowledged win (a lost renewal would show here even
    # if presenting the act again could redeem it anew).
    won = [set() for _ in range(n)]
    for a in load_acks():
        x, y = pair(a["act"])
        if a["reason"] == "ok":
            won[a["key"]].add(a["act"])
        elif a["reason"] == "act_used":
            won[y if a["key"] == x else x].add(a["act"])
    old = datetime.date.fromisoformat(os.environ["OLD_EXPIRY"])
    for k in range(n):
        exp = c.status(keys[k])["support_expiry"]
        need = (old + relativedelta(months=len(won[k]))).isoformat()
        if exp is None or exp < need:
            bad.append((k, "support %s, acknowledged wins need %s" % (exp, need)))
    # The store's act records (keygate-admin act list, taken after the
    # restart): each acknowledged result is recorded as acknowledged.
    stored = {}
    for l in open(os.environ["ACTS_FILE"]):
        if l.strip():
            r = json.loads(l)
            stored[r["number"]] = r
    for a in load_acks():
        i, k = a["act"], a["key"]
        x, y = pair(i)
        winner = k if a["reason"] == "ok" else (y if k == x else x)
        r = stored.get(act(i), {})
        if r.get("state") != "redeemed" or r.get("serial") != serials[winner]:
            bad.append((i, "act show: %s by %s" % (r.get("state"), r.get("serial"))))
        elif a["reason"] == "ok" and (r.get("new_expiry") != a["renewal"]["new_expiry"]
                                      or r.get("kind") != a["renewal"]["kind"]):
            bad.append((i, "act show: renewal differs"))
    for a in load_acks():
        i, k = a["act"], a["key"]
        x, y = pair(i)
        other = y if k == x else x
        if a["reason"] == "ok":
            r = c.activate(keys[k], act(i))
            if r.get("reason") != "ok" or r["renewal"] != a["renewal"]:
                bad.append((i, k, "acknowledged renewal lost or changed", r.get("reason")))
            r = c.activate(keys[other], act(i))
            if r.get("reason") != "act_used":
                bad.append((i, other, "act redeemed twice?", r.get("reason")))
        elif a["reason"] == "act_used":
            r = c.activate(keys[other], act(i))
            if r.get("reason") != "ok":
                bad.append((i, other, "act_used acknowledged, no winner", r.get("reason")))
        else:
            bad.append((i, k, "unexpected reply", a["reason"]))
    print("checked", len(load_acks()), "bad", len(bad), bad[:3])
elif mode == "final":
    wins = [0] * n
    for i in range(nacts):
        a, b = pair(i)
        ra, rb = c.activate(keys[a], act(i)), c.activate(keys[b], act(i))
        got = sorted([ra.get("reason"), rb.get("reason")], key=str)
        if got != ["act_used", "ok"]:
            bad.append((i, got))
        else:
            wins[a if ra["reason"] == "ok" else b] += 1
    print("final bad", len(bad), bad[:3])
    print("wins", " ".join(map(str, wins)))
EOF

kg_init "$T/d"
kg_start "$T/d" --test-clock "$TODAY" || exit 1
adm product add ZHKH8 --name "Housing services" --price 7990 >/dev/null
adm edition add ZHKH8 PROF >/dev/null
adm --json key issue ZHKH8 PROF --licensee "Crash" --created 2025-11-26 \
    --count "$NKEYS" >"$T/keys.jsonl"
kg_register_acts CRASH "$NACTS" ZHKH8 1

ACTS_FILE=$T/acts.jsonl
export ACTS_PER_ROUND NACTS SEED OLD_EXPIRY ACTS_FILE
drv() { PYTHONPATH=$KG_PYTHONPATH timeout 120 "$KG_PY" "$T/driver.py" "$1" "$KG_PORT" \
    "$KG_DATA/signing.pub" "$T/keys.jsonl" "$T/acks" "${2:-}"; }
# The kill moments: seeded, 0.03 to 0.6 s into each round.
read -r -a DELAYS <<<"$("$KG_PY" -c 'import random, sys
r = random.Random(int(sys.argv[1]))
print(" ".join("%.3f" % r.uniform(0.03, 0.6) for _ in range(int(sys.argv[2]))))' \
    "$SEED" "$ROUNDS")"

start=$(date +%s)
kills=0
probe_fail=0
for round in $(seq 0 $((ROUNDS - 1))); do
	drv run "$round" &
	DRV=$!
	sleep "${DELAYS[$round]}"
	kg_kill9
	kills=$((kills + 1))
	wait "$DRV"
	kg_start "$T/d" --test-clock "$TODAY" || { echo "restart failed" >&2; exit 1; }
	adm --json act list >"$ACTS_FILE"
	out=$(drv probe)
	case $out in
	"checked "*" bad 0 []") ;;
	*) probe_fail=$((probe_fail + 1)); echo "round $round: $out" ;;
	esac
done
expect_eq "keygated killed with SIGKILL $ROUNDS times" "$kills" "$ROUNDS"
nacks=$(wc -l <"$T/acks")
echo "crash: $nacks acknowledged replies over $ROUNDS kills, $(($(date +%s) - start))s"
check "some redemptions were acknowledged ($nacks)" [ "$nacks" -gt 0 ]
check "some redemptions were cut off by a kill ($nacks < $((2 * NACTS)))" \
    [ "$nacks" -lt $((2 * NACTS)) ]
expect_eq "after every restart every acknowledged result is present" "$probe_fail" 0

out=$(drv final)
expect_eq "every act: exactly one key wins, the other gets act_used" \
    "$(echo "$out" | grep '^final ')" "final bad 0 []"
read -r -a WINS <<<"$(echo "$out" | grep '^wins ' | cut -d' ' -f2-)"
kg_expect_extensions "$T/keys.jsonl" "$OLD_EXPIRY" 1 "$NACTS" \
    "one month per act it won" "${WINS[@]}"
expect_eq "audit: one act.redeem record per act" \
    "$(kg_audit_per_object act.redeem)" "$NACTS {1}"
check "audit --verify passes after $ROUNDS kills" adm audit --verify
kg_done
