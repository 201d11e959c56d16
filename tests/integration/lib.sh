# Shared helpers for keygate's integration tests. Source it from a test:
#   . "$(dirname "$0")/lib.sh"
# It needs KG_BUILD (the build dir; ctest sets it) and gives:
#   KEYGATED ADMIN CLI   the real binaries
#   T                    a fresh temporary dir, removed on exit
#   kg_init DIR          keygated init --data DIR (public key in DIR/signing.pub)
#   kg_start DIR [ARGS]  keygated run on 127.0.0.1 port 0; waits for the port file;
#                        sets KG_PORT and KG_PID; extra ARGS go to keygated run
#   kg_stop / kg_kill9   stop it with SIGTERM (waits) or SIGKILL
#   adm ARGS             keygate-admin --data $KG_DATA ARGS
#   cli ARGS             keygate --server 127.0.0.1:$KG_PORT --pubkey $KG_DATA/signing.pub ARGS
#   jget FIELD           a field of the first JSON line on stdin (a.b for nested; "" when null)
#   day N                today + N days as YYYY-MM-DD;  months DATE N   DATE + N calendar months
#   check NAME CMD...    run CMD, count a pass or a failure named NAME
#   expect_eq NAME GOT WANT
#   kg_done              print "N passed, N failed" and exit 0 only when nothing failed
# and, shared by several tests:
#   kgpy ARGS            $KG_PY with this directory on PYTHONPATH (import kgwire:
#                        keygate's wire protocol); KG_PYTHONPATH for `timeout` etc.
#   kg_rss [PID]         VmRSS of PID (default keygated) in kB
#   kg_signer_pid [PID]  the pids of PID's children (default keygated: its signer)
#   kg_metrics_conf DIR  DIR's keygated.conf serves /metrics on 127.0.0.1 port 0,
#                        its port written to DIR/metrics.port (kgwire.metrics
#                        reads $KG_MPORT)
#   kg_wait_file FILE S  wait up to S seconds for FILE to exist
#   kg_wait_log PATTERN [S] [FILE]  wait up to S (10) seconds for a line of
#                        FILE (default $KG_DATA/keygated.log) matching PATTERN
#   kg_proxy MODE [UP]   proxy.py in MODE before UP (default the daemon);
#                        sets PPORT and PPID_;  kg_proxy_stop
#   kg_product P NAME    product P with edition STD, releases 1.0.0 (30 days
#                        ago) and 1.1.0 (yesterday); exits when that fails
#   kg_wire_key PRODUCT  issue a STD key into KEY and export KEY, KG_PORT and
#                        KG_PUBKEY for kgwire.py's connect(), check(), pubkey()
#   kg_check_says KEY PRODUCT VERSION WANT   `cli check` prints WANT, exits 0
#   kg_register_acts PREFIX N PRODUCT MONTHS   acts PREFIX-0 .. PREFIX-(N-1)
#   kg_small_quarantine  keep ASan's freed-memory quarantine at 1 MiB, so that
#                        the daemon's VmRSS measures what it really holds
#   kg_flip_char FILE POS   change the character at POS of FILE in place
#   kg_tamper_key FILE   the key in FILE with one payload character changed
#   kg_other_pubkey      a KGP1 public key line that is not the vendor's
#   kg_free_port         a local TCP port nothing listens on
#   kg_months_between A B   whole months from date A to B ("not-whole-months")
#   kg_audit_per_object ACTION   "N {counts}": objects with ACTION audit records
#                        and the set of their record counts
#   kg_expect_extensions KEYS OLD MONTHS NACTS LABEL WINS...   for each key
#                        of KEYS (key issue --json lines) an expect_eq that its
#                        support moved from OLD by MONTHS per act it won (WINS,
#                        in order), then one that the wins add up to NACTS
set -u
: "${KG_BUILD:?KG_BUILD must name the build dir}"
KG_PY=${KG_PY:-/usr/bin/python3}
KEYGATED=$KG_BUILD/daemon/keygated
ADMIN=$KG_BUILD/client/keygate-admin
CLI=$KG_BUILD/client/keygate
T=$(mktemp -d "${TMPDIR:-/tmp}/keygate-test.XXXXXX")
KG_PID=
KG_PORT=
KG_DATA=
kg_passed=0
kg_failed=0

KG_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KG_PYTHONPATH=$KG_TESTS_DIR${PYTHONPATH:+:$PYTHONPATH}

kg_cleanup() {
	if [ -n "$KG_PID" ]; then
		kill -9 "$KG_PID" 2>/dev/null
		wait "$KG_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap kg_cleanup EXIT
trap 'exit 130' INT TERM

kg_init() {
	"$KEYGATED" init --data "$1" >"$1.init" 2>&1 || {
		echo "keygated init failed: $(cat "$1.init")" >&2
		exit 1
	}
}

kg_start() {
	local dir=$1 i
	shift
	KG_DATA=$dir
	rm -f "$dir/port"
	"$KEYGATED" run --data "$dir" --listen 127.0.0.1:0 --port-file "$dir/port" "$@" \
	    >>"$dir/keygated.log" 2>&1 &
	KG_PID=$!
	# Wait for the port file (written once both listeners are up), 60 s at most.
	for i in $(seq 600); do
		[ -s "$dir/port" ] && break
		if ! kill -0 "$KG_PID" 2>/dev/null; then
			echo "keygated exited at start: $(tail -n 5 "$dir/keygated.log")" >&2
			KG_PID=
			return 1
		fi
		sleep 0.1
	done
	[ -s "$dir/port" ] || { echo "keygated did not write its port file" >&2; return 1; }
	KG_PORT=$(cat "$dir/port")
}

kg_stop() {
	[ -n "$KG_PID" ] || return 0
	kill -TERM "$KG_PID"
	wait "$KG_PID" 2>/dev/null
	KG_PID=
}

kg_kill9() {
	[ -n "$KG_PID" ] || return 0
	kill -9 "$KG_PID"
	wait "$KG_PID" 2>/dev/null
	KG_PID=
}

adm() { "$ADMIN" --data "$KG_DATA" "$@"; }
cli() { "$CLI" --server "127.0.0.1:$KG_PORT" --pubkey "$KG_DATA/signing.pub" "$@"; }

jget() {
	"$KG_PY" -c 'import json, sys
line = sys.stdin.read().strip().splitlines()
v = json.loads(line[0]) if line else None
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list, bool)) else v))' "$1"
}

day() {
	"$KG_PY" -c 'import datetime, sys
print(datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=int(sys.argv[1])))' "$1"
}

months() {
	"$KG_PY" -c 'import datetime, sys
from dateutil.relativedelta import relativedelta
print(datetime.date.fromisoformat(sys.argv[1]) + relativedelta(months=int(sys.argv[2])))' "$1" "$2"
}

check() {
	local name=$1
	shift
	if "$@"; then
		kg_passed=$((kg_passed + 1))
		echo "ok    $name"
	else
		kg_failed=$((kg_failed + 1))
		echo "FAIL  $name"
	fi
}

expect_eq() {
	if [ "$2" = "$3" ]; then
		kg_passed=$((kg_passed + 1))
		echo "ok    $1"
	else
		kg_failed=$((kg_failed + 1))
		echo "FAIL  $1: got '$2', want '$3'"
	fi
}

kgpy() { PYTHONPATH=$KG_PYTHONPATH "$KG_PY" "$@"; }

kg_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/${1:-$KG_PID}/status"; }

# The pids of PID's children, one a line (from /proc: no ps needed).
kg_signer_pid() {
	local p s ppid=${1:-$KG_PID}
	for p in /proc/[0-9]*; do
		s=$(cat "$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		set -- $s
		[ "${2:-}" = "$ppid" ] && echo "${p#/proc/}"
	done
}

kg_metrics_conf() {
	printf 'metrics_listen = 127.0.0.1:0\nmetrics_port_file = %s\n' \
	    "$1/metrics.port" >>"$1/keygated.conf"
}

kg_wait_file() {
	local i
	for i in $(seq $(($2 * 20))); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

kg_wait_log() {
	local i
	for i in $(seq $((${2:-10} * 10))); do
		grep -q "$1" "${3:-$KG_DATA/keygated.log}" && return 0
		sleep 0.1
	done
	return 1
}

kg_proxy() {
	rm -f "$T/proxy.port"
	"$KG_PY" "$KG_TESTS_DIR/proxy.py" \
	    --upstream "${2:-127.0.0.1:$KG_PORT}" --mode "$1" \
	    --port-file "$T/proxy.port" --max-conns 4 --lifetime 60 \
	    2>>"$T/proxy.log" &
	PPID_=$!
	kg_wait_file "$T/proxy.port" 10
	PPORT=$(cat "$T/proxy.port")
}
kg_proxy_stop() { kill "$PPID_" 2>/dev/null; wait "$PPID_" 2>/dev/null; }

kg_product() {
	adm product add "$1" --name "$2" --price 100 >/dev/null &&
	    adm edition add "$1" STD >/dev/null &&
	    adm release publish "$1" 1.0.0 --date "$(day -30)" >/dev/null &&
	    adm release publish "$1" 1.1.0 --date "$(day -1)" >/dev/null || {
		echo "cannot set up the product with keygate-admin" >&2
		exit 1
	}
}

kg_wire_key() {
	KEY=$(adm --json key issue "$1" STD --licensee "Honest Ltd" | jget key)
	[ -n "$KEY" ] || { echo "keygate-admin key issue printed no key" >&2; exit 1; }
	KG_PUBKEY=$KG_DATA/signing.pub
	export KG_PORT KEY KG_PUBKEY
}

kg_register_acts() {
	local i
	for i in $(seq 0 $(($2 - 1))); do
		adm act register "$1-$i" --product "$3" --months "$4" >/dev/null ||
		    { echo "act register $1-$i failed" >&2; exit 1; }
	done
}

kg_small_quarantine() {
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
}

kg_flip_char() {
	"$KG_PY" -c 'import sys
p, i = sys.argv[1], int(sys.argv[2])
t = open(p).read()
open(p, "w").write(t[:i] + ("B" if t[i] != "B" else "C") + t[i + 1:])' "$1" "$2"
}

kg_check_says() {
	local out
	out=$(cli check --key "$1" --product "$2" --version "$3" 2>&1) &&
	    [ "$out" = "$4" ] || {
		echo "check of $2 $3: $out" >&2
		return 1
	}
}

kg_tamper_key() {
	"$KG_PY" -c 'import sys
k = open(sys.argv[1]).read().strip()
head, payload, sig = k.split(".")
i = len(payload) // 2
c = "B" if payload[i] != "B" else "C"
print(head + "." + payload[:i] + c + payload[i + 1:] + "." + sig)' "$1"
}

kg_other_pubkey() {
	"$KG_PY" -c 'import base64, nacl.signing
sk = nacl.signing.SigningKey(bytes(range(32)))
print("KGP1." + base64.urlsafe_b64encode(bytes(sk.verify_key)).decode().rstrip("="))'
}

kg_free_port() {
	"$KG_PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

kg_months_between() {
	"$KG_PY" -c 'import datetime, sys
from dateutil.relativedelta import relativedelta
a, b = (datetime.date.fromisoformat(x) for x in sys.argv[1:3])
m = relativedelta(b, a)
print(m.years * 12 + m.months if m.days == 0 else "not-whole-months")' "$1" "$2"
}

kg_audit_per_object() {
	adm --json audit | "$KG_PY" -c 'import json, sys, collections
c = collections.Counter(json.loads(l)["object"] for l in sys.stdin
    if l.strip() and json.loads(l).get("action") == sys.argv[1])
print(len(c), set(c.values()))' "$1"
}

kg_expect_extensions() {
	local keys=$1 old=$2 per=$3 nacts=$4 label=$5 line regno got ext want
	local total=0 i=0
	shift 5
	local wins=("$@")
	while read -r line; do
		regno=$(echo "$line" | jget regno)
		got=$(adm --json key show "$regno" | jget support_expiry)
		ext=$(kg_months_between "$old" "$got")
		want=${wins[$i]:-x}
		[[ $want =~ ^[0-9]+$ ]] && want=$((per * want))
		expect_eq "key $regno: $label" "$ext" "$want"
		[[ $ext =~ ^[0-9]+$ ]] && total=$((total + ext / per))
		i=$((i + 1))
	done <"$keys"
	expect_eq "extensions in the store = number of acts" "$total" "$nacts"
}

kg_done() {
	if [ "$kg_failed" -ne 0 ] && [ -n "$KG_DATA" ] && [ -f "$KG_DATA/keygated.log" ]; then
		echo "--- keygated log (last 30 lines)"
		tail -n 30 "$KG_DATA/keygated.log"
	fi
	echo "$kg_passed passed, $kg_failed failed"
	[ "$kg_failed" -eq 0 ]
	exit $?
}
