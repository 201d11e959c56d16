#!/usr/bin/env bash
# Worker threads (issue 7 item 5): with workers = 4 keygated runs four event
# loops on one port (SO_REUSEPORT) sharing one store, one signer process and
# one trust set.
# - keygated has four threads serving and the committer thread (its task
#   count), and one port file;
# - 48 clients at once, each on its own connection, mix checks and act
#   redemptions: every reply verifies (python3-nacl), every act is redeemed
#   exactly once, the store agrees afterwards; the kernel spread them over
#   the four loops (each loop's thread woke at least 50 times meanwhile);
# - while they run, SIGHUP reloads the configuration and the signing key is
#   rotated: replies signed before verify with the old key, after with the
#   new one, and no reply fails;
# - the connection cap holds across the workers: 160 idle connections
#   against max_connections = 60 leave at most 60 + 3 open (each worker may
#   pass it by one while another accepts);
# - SIGTERM stops every thread and keygated exits 0.
. "$(dirname "$0")/lib.sh"

D=$T/d
kg_init "$D"
cat >>"$D/keygated.conf" <<EOF
workers = 4
max_connections = 60
EOF
kg_metrics_conf "$D"
kg_start "$D" || exit 1
kg_product WRK "Workers Ltd"
kg_wire_key WRK
check "one port file" [ -s "$D/port" ]
check "the log says 4 workers" grep -q "4 workers" "$D/keygated.log"
# Four event loops (the main thread is the first) and the committer thread.
expect_eq "keygated runs 4 workers and a committer" \
    "$(ls "/proc/$KG_PID/task" | wc -l)" 5
expect_eq "... named for ps -L" \
    "$(cat /proc/"$KG_PID"/task/*/comm | sort | tr '\n' ' ')" \
    "keygated keygated-commit keygated-w1 keygated-w2 keygated-w3 "

# 48 keys and 48 acts, one pair per client.
adm key issue WRK STD --licensee "Many Ltd" --count 48 >"$T/keys.txt" 2>/dev/null ||
	{ echo "key issue failed" >&2; exit 1; }
kg_register_acts WA 48 WRK 12
OLD_PUB=$(cat "$D/signing.pub")
cp "$D/signing.pub" "$T/old.pub"
export KG_MPORT=$(cat "$D/metrics.port")

# switches: "TID voluntary-context-switches" for each of keygated's event
# loops: the main thread ("keygated") and the workers ("keygated-w1"...),
# not the committer ("keygated-commit").
switches() {
	local t
	for t in /proc/"$KG_PID"/task/*; do
		case $(cat "$t/comm") in
		keygated | keygated-w*)
			echo "${t##*/} $(awk '/^voluntary_ctxt_switches:/ { print $2 }' "$t/status")" ;;
		esac
	done
}
switches >"$T/switches.before"

kgpy - "$T/keys.txt" "$T/old.pub" "$D/signing.pub" >"$T/load.out" 2>&1 <<'EOF' &
import os, sys, threading, time
import kgwire as w

keys = [l.split()[0] for l in open(sys.argv[1]) if l.startswith("KG1.")]
port = int(os.environ["KG_PORT"])
old_pk = w.load_pubkey(sys.argv[2])
errors, redeemed, checks = [], [], [0]
lock = threading.Lock()

def verify(msg, nonce, req):
    # Signed by the old key or (after the rotation) the new one, which
    # signing.pub names a moment after keygated starts signing with it.
    for attempt in range(50):
        for pk in (old_pk, w.load_pubkey(sys.argv[3])):
            try:
                return w.reply_open(msg, pk, nonce, req)
            except Exception:
                pass
        time.sleep(0.1)
    raise w.ReplyError("reply verifies with neither key")

def client(i):
    try:
        c = w.connect(port)
        for round in range(40):
            nonce = os.urandom(16)
            if round == 20:
                req = w.request("activate", nonce, key=keys[i], act="WA-%d" % i)
            else:
                req = w.request("check", nonce, key=keys[i], product="WRK",
                                version="1.0.0")
            w.write_frame(c, req)
            r = verify(w.read_frame(c), nonce, req)
            v = r.get("verdict")
            if v is None:
                raise w.ReplyError("error reply %r" % (r.get("error"),))
            with lock:
                if round == 20:
                    if v["reason"] != "ok":
                        raise w.ReplyError("act WA-%d: %s" % (i, v["reason"]))
                    redeemed.append(i)
                else:
                    checks[0] += 1
            time.sleep(0.01)
        c.close()
    except Exception as e:
        with lock:
            errors.append("client %d: %r" % (i, e))

threads = [threading.Thread(target=client, args=(i,)) for i in range(48)]
for t in threads: t.start()
for t in threads: t.join(120)
print("checks", checks[0])
print("redeemed", len(redeemed))
print("errors", len(errors))
for e in errors[:5]:
    print("error", e)
EOF
LOAD=$!
sleep 0.3
kill -HUP "$KG_PID"
adm signing-key rotate >/dev/null 2>"$T/rotate.err" || cat "$T/rotate.err" >&2
sleep 0.2
kill -HUP "$KG_PID"
wait "$LOAD"
cat "$T/load.out"
switches >"$T/switches.after"
# A loop that served connections slept and woke for each batch of them; an
# idle one only for its timers. SO_REUSEPORT spreads the 48 connections
# (a loop gets 2 or fewer about once in 10,000 runs).
busy=$(join "$T/switches.before" "$T/switches.after" |
    awk '$3 - $2 >= 50 { n++ } END { print n + 0 }')
echo "      loops that woke 50 times or more: $busy"
check "the connections were served by all 4 loops ($busy busy)" [ "$busy" -eq 4 ]
expect_eq "48 x 39 checks answered and verified" "$(awk '$1 == "checks" { print $2 }' "$T/load.out")" 1872
expect_eq "48 acts redeemed" "$(awk '$1 == "redeemed" { print $2 }' "$T/load.out")" 48
expect_eq "no client failed" "$(awk '$1 == "errors" { print $2 }' "$T/load.out")" 0
check "the key was rotated meanwhile" bash -c "[ \"\$(cat '$D/signing.pub')\" != '$OLD_PUB' ]"
check "SIGHUP reloaded twice" bash -c "[ \$(grep -c 'SIGHUP: configuration reloaded' '$D/keygated.log') -eq 2 ]"
expect_eq "the store agrees: 48 acts redeemed" \
    "$(adm --json act list | "$KG_PY" -c 'import json,sys; print(sum(1 for l in sys.stdin if json.loads(l)["state"] == "redeemed"))')" 48

# ---- the cap across the workers
kgpy - >"$T/cap.out" 2>&1 <<'EOF'
import os, socket, time, urllib.request
socks = []
for i in range(160):
    try:
        socks.append(socket.create_connection(("127.0.0.1", int(os.environ["KG_PORT"])), timeout=5))
    except OSError:
        pass
    time.sleep(0.002)
time.sleep(1)
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % os.environ["KG_MPORT"],
                              timeout=10).read().decode()
print([l for l in body.splitlines() if l.startswith("keygate_open_connections ")][0])
EOF
OPEN=$(awk '{ print $2 }' "$T/cap.out")
check "at most 63 of 160 connections open ($OPEN)" [ "${OPEN:-999}" -le 63 ]
check "and the cap was reached" [ "${OPEN:-0}" -ge 55 ]

# ---- SIGTERM stops every thread
kill -TERM "$KG_PID"
wait "$KG_PID"
expect_eq "keygated exits 0 after SIGTERM" "$?" 0
KG_PID=
check "it logged that it stopped" grep -q "keygated\[info\]: stopped" "$D/keygated.log"
kg_done
