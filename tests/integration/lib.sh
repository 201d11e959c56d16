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

kg_done() {
	if [ "$kg_failed" -ne 0 ] && [ -n "$KG_DATA" ] && [ -f "$KG_DATA/keygated.log" ]; then
		echo "--- keygated log (last 30 lines)"
		tail -n 30 "$KG_DATA/keygated.log"
	fi
	echo "$kg_passed passed, $kg_failed failed"
	[ "$kg_failed" -eq 0 ]
	exit $?
}
