#!/bin/bash
# Exactly-once redemption under concurrency (SPEC R10, issue 4 item 3):
# 200 acts, each raced by two different keys from 24 concurrent clients.
# Exactly one key wins each act, the other gets act_used; the winner's
# repeat gets the same renewal; every winning key's renewals are the
# consecutive 12-month extensions of its old expiry, and the extensions
# stored (key show) add up to exactly one per act. The driver speaks the
# wire protocol directly (kgwire.py) and verifies every
# reply's signature and every renewed key's signature with nacl.
. "$(dirname "$0")/lib.sh"

NKEYS=20
NACTS=200
NCLIENTS=24
TODAY=2026-06-15
OLD_EXPIRY=2026-05-26		# keys created 2025-11-26, 6 months of support

kg_init "$T/d"
kg_start "$T/d" --test-clock "$TODAY" || exit 1

adm product add ZHKH8 --name "Housing services" --price 7990 >/dev/null
adm edition add ZHKH8 PROF >/dev/null
adm --json key issue ZHKH8 PROF --licensee "Racer" --created 2025-11-26 \
    --count "$NKEYS" >"$T/keys.jsonl"
expect_eq "issued $NKEYS keys" "$(wc -l <"$T/keys.jsonl")" "$NKEYS"

kg_register_acts RACE "$NACTS" ZHKH8 12

start=$(date +%s)
PYTHONPATH=$KG_PYTHONPATH timeout 240 "$KG_PY" - "$KG_PORT" "$KG_DATA/signing.pub" \
    "$T/keys.jsonl" "$NACTS" "$NCLIENTS" "$OLD_EXPIRY" "$T/winners.json" \
    >"$T/race.out" <<'EOF'
import datetime, json, queue, random, sys, threading
from dateutil.relativedelta import relativedelta
import kgwire

port, pub = int(sys.argv[1]), kgwire.load_pubkey(sys.argv[2])
keys = [json.loads(l)["key"] for l in open(sys.argv[3])]
serials = [json.loads(l)["serial"] for l in open(sys.argv[3])]
nacts, nclients = int(sys.argv[4]), int(sys.argv[5])
old = datetime.date.fromisoformat(sys.argv[6])
n = len(keys)

def key_serial(text):
    """Verify a license key's signature; return its serial (payload field 1)."""
    return kgwire.license_payload(text, pub)[1][-1]

# Act i is raced by two different keys; the pairs vary with i.
pairs = [(i % n, (i % n + 1 + (i // n) % (n - 1)) % n) for i in range(nacts)]
tasks = queue.Queue()
rnd = random.Random(20261115)
for i, (a, b) in enumerate(pairs):
    first = [a, b]
    rnd.shuffle(first)
    for k in first:	# adjacent: two clients take them at once
        tasks.put((i, k))
results, errors = {}, []
lock = threading.Lock()

def worker():
    try:
        c = kgwire.Client(port, pub, timeout=60)
        while True:
            try:
                i, k = tasks.get_nowait()
            except queue.Empty:
                break
            r = c.activate(keys[k], "RACE-%d" % i)
            with lock:
                results[(i, k)] = r
        c.close()
    except Exception as e:
        with lock:
            errors.append(repr(e))

threads = [threading.Thread(target=worker) for _ in range(nclients)]
for t in threads: t.start()
for t in threads: t.join()
print("errors", len(errors), errors[:3])

winners, bad = {}, []
for i, (a, b) in enumerate(pairs):
    ra, rb = results.get((i, a), {}), results.get((i, b), {})
    got = sorted([ra.get("reason"), rb.get("reason")], key=str)
    if got != ["act_used", "ok"]:
        bad.append((i, got))
        continue
    w = a if ra["reason"] == "ok" else b
    rw = results[(i, w)]
    if key_serial(rw["key"]) != serials[w] or rw["renewal"]["act"] != "RACE-%d" % i:
        bad.append((i, "renewed key or act mismatch"))
    winners[i] = w
print("exactly_one_winner", len(bad) == 0, bad[:3])
with open(sys.argv[7], "w") as f:
    json.dump({"RACE-%d" % i: serials[w] for i, w in winners.items()}, f)

# The winner's repeat: the same renewal.
c = kgwire.Client(port, pub, timeout=60)
diff = []
for i, w in winners.items():
    r = c.activate(keys[w], "RACE-%d" % i)
    if r.get("reason") != "ok" or r["renewal"] != results[(i, w)]["renewal"]:
        diff.append(i)
print("repeats_same", len(diff) == 0, diff[:3])

# Each key's renewals are consecutive 12-month steps from its old expiry.
wins = [0] * n
steps_ok = True
for k in range(n):
    mine = sorted(results[(i, k)]["renewal"]["new_expiry"]
                  for i, w in winners.items() if w == k)
    wins[k] = len(mine)
    want = sorted((old + relativedelta(months=12 * j)).isoformat()
                  for j in range(1, len(mine) + 1))
    if mine != want:
        steps_ok = False
print("steps_ok", steps_ok)
print("wins_total", sum(wins))
print("wins", " ".join(map(str, wins)))
EOF
expect_eq "race driver ran" "$?" 0
elapsed=$(($(date +%s) - start))
echo "race: ${elapsed}s for $NACTS acts, $NCLIENTS clients"
r() { grep "^$1 " "$T/race.out" | cut -d' ' -f2-; }
expect_eq "no client errors" "$(r errors)" "0 []"
expect_eq "exactly one key wins each act, the other gets act_used" \
    "$(r exactly_one_winner)" "True []"
expect_eq "the winner's repeat gets the same renewal" "$(r repeats_same)" "True []"
expect_eq "each key's renewals are consecutive 12-month extensions" \
    "$(r steps_ok)" True
expect_eq "wins add up to the acts" "$(r wins_total)" "$NACTS"

# The store: each key's expiry moved by 12 months per act it won, and the
# extensions add up to the number of acts.
read -r -a WINS <<<"$(r wins)"
kg_expect_extensions "$T/keys.jsonl" "$OLD_EXPIRY" 12 "$NACTS" \
    "extensions in the store = acts it won" "${WINS[@]}"
# The store's own records: every act redeemed once, by the winner's license.
adm --json act list >"$T/acts.jsonl"
expect_eq "act list: every act redeemed by the key that won it" \
    "$("$KG_PY" -c 'import json, sys
won = json.load(open(sys.argv[1]))
acts = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ok = [a for a in acts if a["state"] == "redeemed" and won.get(a["number"]) == a["serial"]]
print(len(acts), len(ok))' "$T/winners.json" "$T/acts.jsonl")" "$NACTS $NACTS"
expect_eq "audit: one act.redeem record per act" \
    "$(kg_audit_per_object act.redeem)" "$NACTS {1}"
check "audit --verify passes" adm audit --verify
kg_done
