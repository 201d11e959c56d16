#!/usr/bin/env bash
# The metrics listener (issue 8 item 4): off by default; with
# metrics_listen = 127.0.0.1:0 and metrics_port_file, keygated serves
# Prometheus text at /metrics and a health check at /healthz on its own
# port. Known traffic goes through the real CLIs (checks of each verdict, a
# status, act redemptions: renewed, repeated, act_unknown) plus one
# unreadable frame, and every counter is found moved by exactly that much:
# checks by verdict, requests by type, replies by reason, redemptions by
# result, and the check latency histogram's count (its +Inf bucket and
# _count equal the number of checks, its buckets never decrease). A
# non-loopback metrics_listen is refused at start with one line (and
# accepted by check-config only with metrics_allow_remote = yes).
. "$(dirname "$0")/lib.sh"

TODAY=2026-06-15

# ---- off by default
kg_init "$T/plain"
check "a new data dir has no metrics listener" \
    bash -c "! grep -q '^metrics_listen' '$T/plain/keygated.conf'"

# ---- a non-loopback address is refused at start, with one line
cp -r "$T/plain" "$T/remote"
echo "metrics_listen = 0.0.0.0:0" >>"$T/remote/keygated.conf"
"$KEYGATED" run --data "$T/remote" --listen 127.0.0.1:0 >"$T/remote.out" 2>"$T/remote.err"
rc=$?
expect_eq "non-loopback metrics_listen: keygated run exits 1" "$rc" 1
expect_eq "non-loopback metrics_listen: one line on stderr" \
    "$(wc -l <"$T/remote.err")" 1
check "the line says why and what to do" \
    grep -q "metrics_listen = 0.0.0.0:0 is not a loopback address.*metrics_allow_remote = yes" \
    "$T/remote.err"
check "the line names the file" grep -q "^keygated: $T/remote/keygated.conf: " "$T/remote.err"
"$KEYGATED" check-config --data "$T/remote" >/dev/null 2>&1
expect_eq "check-config refuses it too" "$?" 1
echo "metrics_allow_remote = yes" >>"$T/remote/keygated.conf"
expect_eq "with metrics_allow_remote = yes the configuration is OK" \
    "$("$KEYGATED" check-config --data "$T/remote" 2>&1)" "configuration OK"
cp -r "$T/plain" "$T/bad"
echo "metrics_allow_remote = maybe" >>"$T/bad/keygated.conf"
check "metrics_allow_remote takes yes or no" bash -c \
    "'$KEYGATED' check-config --data '$T/bad' 2>&1 | grep -q 'metrics_allow_remote: expected yes or no'"

# ---- metrics on a free loopback port
D=$T/d
kg_init "$D"
kg_metrics_conf "$D"
kg_start "$D" --test-clock "$TODAY" || exit 1
check "the metrics port file was written before the public one" [ -s "$D/metrics.port" ]
MPORT=$(cat "$D/metrics.port")

# get PATH OUTFILE: the status code on stdout, the body in OUTFILE
get() {
	"$KG_PY" - "http://127.0.0.1:$MPORT$1" "$2" "${3:-GET}" <<'EOF'
import sys, urllib.request, urllib.error
url, out, method = sys.argv[1:]
try:
    r = urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10)
    code, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
except urllib.error.HTTPError as e:
    code, body, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
open(out, "wb").write(body)
open(out + ".type", "w").write(ctype)
print(code)
EOF
}
scrape() {	# OUTFILE
	if command -v curl >/dev/null 2>&1; then
		curl -fsS --max-time 10 "http://127.0.0.1:$MPORT/metrics" >"$1"
	else
		get /metrics "$1" >/dev/null
	fi
}
# Sample values of a scrape as NAME{LABELS} VALUE lines, checked for the
# text format's shape; the deltas between two scrapes are asserted below.
cat >"$T/prom.py" <<'EOF'
import re, sys
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
def load(path):
    samples, typed = {}, {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            typed[name] = kind
            continue
        if line.startswith("# HELP ") or not line:
            continue
        m = LINE.match(line)
        if not m:
            sys.exit("not Prometheus text: " + line)
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples, typed
EOF

scrape "$T/m0"
check "/metrics answers" [ -s "$T/m0" ]

# ---- the catalogue and keys
adm product add MET --name "Metered" --price 1000 >/dev/null &&
adm edition add MET STD --support-months 6 >/dev/null &&
adm release publish MET 1.0 --date 2025-01-10 >/dev/null &&
adm release publish MET 2.0 --date 2026-05-01 >/dev/null &&
adm --json key issue MET STD --licensee "Fresh" --created 2026-06-01 | jget key >"$T/fresh.key" &&
adm --json key issue MET STD --licensee "Old" --created 2025-06-01 | jget key >"$T/old.key" &&
adm --json key issue MET STD --licensee "Gone" --created 2026-06-01 | jget key >"$T/gone.key" &&
adm key revoke MET-000003 --reason refund >/dev/null &&
adm act register ACT-1 --product MET --months 12 >/dev/null ||
    { echo "setup failed" >&2; exit 1; }

verdict() {	# KEYFILE VERSION: the verdict of one check
	cli --json check --key "$1" --product MET --version "$2" 2>/dev/null | jget verdict
}
expect_eq "fresh key on 1.0: update" "$(verdict "$T/fresh.key" 1.0)" update
expect_eq "fresh key on 2.0: current" "$(verdict "$T/fresh.key" 2.0)" current
expect_eq "lapsed key on 1.0: fallback" "$(verdict "$T/old.key" 1.0)" fallback
expect_eq "lapsed key on 2.0: demo (not_eligible)" "$(verdict "$T/old.key" 2.0)" demo
expect_eq "revoked key: demo" "$(verdict "$T/gone.key" 2.0)" demo
cli status --key "$T/fresh.key" >/dev/null 2>&1
expect_eq "status exits 0" "$?" 0
cli --json activate --key "$T/old.key" --act ACT-1 >"$T/act1" 2>"$T/act1.err"
expect_eq "activation renews" "$(jget reason <"$T/act1")" ok
cli --json activate --key "$T/old.key" --act ACT-1 >"$T/act2" 2>"$T/act2.err"
expect_eq "the same act again: the same renewal" "$(jget reason <"$T/act2")" ok
cli --json activate --key "$T/fresh.key" --act NO-SUCH-ACT >"$T/act3" 2>"$T/act3.err"
expect_eq "an unregistered act: act_unknown" "$(jget reason <"$T/act3")" act_unknown
# One unreadable frame (not protobuf), answered with an Error and closed;
# and one connection left open while we scrape.
kgpy - "$KG_PORT" "$T/held" <<'EOF' &
import sys, time
import kgwire
port, flag = int(sys.argv[1]), sys.argv[2]
s = kgwire.connect(port)
kgwire.write_frame(s, b"\xff\xff\xff")
kgwire.read_frame(s)
held = kgwire.connect(port)
open(flag, "w").write("1")
time.sleep(30)
EOF
HELD_PID=$!
for i in $(seq 100); do [ -s "$T/held" ] && break; sleep 0.1; done
check "the helper connected" [ -s "$T/held" ]

scrape "$T/m1"
kill "$HELD_PID" 2>/dev/null
wait "$HELD_PID" 2>/dev/null

"$KG_PY" - "$T/m0" "$T/m1" >"$T/deltas" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1].rsplit("/", 1)[0])
from prom import load
a, _ = load(sys.argv[1])
b, typed = load(sys.argv[2])
want = {
    'keygate_checks_total{verdict="update"}': 1,
    'keygate_checks_total{verdict="current"}': 1,
    'keygate_checks_total{verdict="fallback"}': 1,
    'keygate_checks_total{verdict="demo"}': 2,
    'keygate_requests_total{type="check"}': 5,
    'keygate_requests_total{type="status"}': 1,
    'keygate_requests_total{type="activate"}': 3,
    'keygate_requests_total{type="unreadable"}': 1,
    'keygate_redemptions_total{result="renewed"}': 1,
    'keygate_redemptions_total{result="repeated"}': 1,
    'keygate_redemptions_total{result="act_unknown"}': 1,
    'keygate_redemptions_total{result="error"}': 0,
    'keygate_replies_total{kind="verdict",reason="ok"}': 5,
    'keygate_replies_total{kind="verdict",reason="support_expired"}': 1,
    'keygate_replies_total{kind="verdict",reason="not_eligible"}': 1,
    'keygate_replies_total{kind="verdict",reason="revoked"}': 1,
    'keygate_replies_total{kind="verdict",reason="act_unknown"}': 1,
    'keygate_replies_total{kind="error",reason="bad_request"}': 1,
    'keygate_check_duration_seconds_count': 5,
    'keygate_check_duration_seconds_bucket{le="+Inf"}': 5,
    # One request at a time: each reply is a batch of one, signed directly.
    'keygate_reply_batch_size_count': 10,
    'keygate_reply_batch_size_sum': 10,
}
for le in ("1", "2", "4", "8", "16", "32", "64", "128", "+Inf"):
    want[f'keygate_reply_batch_size_bucket{{le="{le}"}}'] = 10
# The three activate requests: each one redemption in its own commit.
want['keygate_redemption_group_size_count'] = 3
want['keygate_redemption_group_size_sum'] = 3
for le in ("1", "2", "4", "8", "16", "32", "64", "128", "+Inf"):
    want[f'keygate_redemption_group_size_bucket{{le="{le}"}}'] = 3
def say(ok, text):
    print(("OK " if ok else "FAIL ") + text)
for name, n in want.items():
    got = b.get(name, 0) - a.get(name, 0)
    say(got == n, f"{name} moved by {got:g}, want {n}")
skip = ("keygate_check_duration_seconds_bucket", "keygate_check_duration_seconds_sum",
        "keygate_store_size_bytes", "keygate_open_connections")
moved = sorted(k for k in b if b[k] != a.get(k, 0) and k not in want and not k.startswith(skip))
say(not moved, f"nothing else moved {moved}")
buckets = [v for k, v in b.items() if k.startswith("keygate_check_duration_seconds_bucket")]
say(buckets == sorted(buckets) and len(buckets) == 15, f"15 buckets that never decrease {buckets}")
say(b.get("keygate_check_duration_seconds_sum", 0) > 0, "the latency sum is above 0")
say(b.get("keygate_open_connections", 0) >= 1, "open connections >= 1 (one is held open)")
say(b.get("keygate_store_size_bytes", 0) > 0, "the store size is above 0")
say(typed.get("keygate_check_duration_seconds") == "histogram" and
    typed.get("keygate_checks_total") == "counter" and
    typed.get("keygate_open_connections") == "gauge", "the families' types")
say(b.get("process_start_time_seconds", 0) > 1.7e9, "the process start time")
EOF
check "the deltas were computed" [ -s "$T/deltas" ]
while IFS= read -r line; do
	case $line in
	"OK "*) expect_eq "${line#OK }" ok ok ;;
	*) expect_eq "${line#FAIL }" failed ok ;;
	esac
done <"$T/deltas"
expect_eq "GET /metrics is 200" "$(get /metrics "$T/m2")" 200
check "Content-Type is Prometheus text 0.0.4" grep -q "^text/plain; version=0.0.4" "$T/m2.type"

# ---- /healthz, 404, methods
expect_eq "/healthz is 200" "$(get /healthz "$T/h")" 200
expect_eq "/healthz says ok" "$(cat "$T/h")" ok
expect_eq "an unknown path is 404" "$(get /nope "$T/n")" 404
check "a POST is refused" [ "$(get /metrics "$T/p" POST)" != 200 ]

# ---- the public port keeps serving while metrics are scraped, and a stop is clean
expect_eq "a check after scraping" "$(verdict "$T/fresh.key" 2.0)" current
kg_stop
check "keygated logged the metrics listener" grep -q "metrics on http://127.0.0.1:0/metrics (port $MPORT)" "$D/keygated.log"
kg_done
