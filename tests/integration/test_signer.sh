#!/bin/bash
# The signer process (issue 6 item 1): keygated runs with exactly one child
# named keygated-signer that alone holds the secret key, without core dumps,
# with no descriptors but its socket and stderr, and closed to ptrace by its
# own user. Killing it (SIGKILL), stopping it (SIGSTOP) or terminating it
# (SIGTERM) gets it restarted with a log line, and the next check still gets
# a correctly signed reply. keygated stops cleanly (exit status 1, one log
# line saying why) and never signs with a stale key when the restart cannot
# load the same key: the key file now holds another key, or it was altered,
# or the signer had to restart too often. A sealed key's passphrase may come
# from a systemd credential. When the daemon stops, so does its signer.
# With more than one CPU, the signer is kept on the CPU of the worker that
# waits for its signature, and gets every CPU back for sign-many requests.
. "$(dirname "$0")/lib.sh"

TODAY=2026-06-01

# Wait (10 s at most) until KG_PID's signer is a live process other than $1.
signer_new() {
	local i s
	for i in $(seq 100); do
		s=$(kg_signer_pid "$KG_PID")
		if [ -n "$s" ] && [ "$s" != "$1" ] &&
		    [ "$(cat "/proc/$s/comm" 2>/dev/null)" = keygated-signer ]; then
			echo "$s"
			return 0
		fi
		sleep 0.1
	done
	return 1
}
# Wait (30 s at most) for keygated to exit; its status in KG_RC.
wait_exit() {
	local i
	KG_RC=running
	for i in $(seq 300); do
		kill -0 "$KG_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$KG_PID" 2>/dev/null && return 1
	wait "$KG_PID"
	KG_RC=$?
	KG_PID=
}
# Lines of FILE holding a string.
count() { grep -cF -- "$2" "$1"; }
# Wait (30 s at most) until FILE holds a string, then count its lines.
wait_count() {
	local i
	for i in $(seq 300); do
		grep -qF -- "$2" "$1" && break
		sleep 0.1
	done
	count "$1" "$2"
}
gone() { [ ! -e "/proc/$1" ]; }
# KEYFILE PUBFILE: the key verifies offline.
verifies() { "$CLI" verify --key "$1" --pubkey "$2" >/dev/null; }

# ---- one daemon, one signer child ------------------------------------------
D=$T/data
kg_init "$D"
kg_start "$D" --test-clock "$TODAY" || exit 1
LOG=$D/keygated.log
{
	adm product add SIG --name "Signer Test" --price 100 &&
	adm edition add SIG STD &&
	adm release publish SIG 1.0 --date 2025-06-01 &&
	adm release publish SIG 1.1 --date 2026-03-01
} >"$T/setup.log" 2>&1 || { echo "setup failed: $(cat "$T/setup.log")"; exit 1; }
adm --json key issue SIG STD --licensee "Signer Co" --created 2026-05-01 | jget key >"$T/k1"
[ -s "$T/k1" ] || { echo "key issue failed"; exit 1; }

S1=$(kg_signer_pid "$KG_PID")
expect_eq "exactly one child" "$(echo "$S1" | grep -c .)" 1
expect_eq "the child is keygated-signer" "$(cat "/proc/$S1/comm")" keygated-signer
expect_eq "keygated keeps its name" "$(cat "/proc/$KG_PID/comm")" keygated
if command -v ps >/dev/null; then
	expect_eq "ps shows the signer child" "$(ps -o comm= --ppid "$KG_PID")" keygated-signer
fi
check "signer: no core dumps" \
    grep -Eq '^Max core file size +0 +0 ' "/proc/$S1/limits"
# Descriptors 0-4 and one more, which only a signing-key rotation uses.
check "signer: cannot open new files (but one, for a rotation)" \
    grep -Eq '^Max open files +6 +6 ' "/proc/$S1/limits"
expect_eq "signer: descriptors are stdin, stdout, stderr and its sockets" \
    "$(ls "/proc/$S1/fd" | sort -n | tr '\n' ' ')" "0 1 2 3 4 "
expect_eq "signer: stdin is /dev/null" "$(readlink "/proc/$S1/fd/0")" /dev/null
check "signer: fd 3 is its socket" sh -c "readlink /proc/$S1/fd/3 | grep -q '^socket:'"
check "signer: fd 4 is its priority socket" \
    sh -c "readlink /proc/$S1/fd/4 | grep -q '^socket:'"
check "keygated itself has no descriptor on the key file" \
    sh -c "! ls -l /proc/$KG_PID/fd | grep -q signing.key"

# ucheck NAME: an update check that must be answered and verified.
ucheck() {
	local out
	out=$(cli check --key "$T/k1" --product SIG --version 1.0 2>"$T/ucheck.err")
	expect_eq "$1: exit 0" "$?" 0
	expect_eq "$1: verified verdict" "$out" "update: install 1.1"
}
ucheck "check before anything happened"

# ---- placement: the signer runs on the CPU of the thread waiting for it ----
# A reply is signed while its worker waits: the signer is kept on that
# worker's CPU (one CPU). Sign-many requests are answered while keygated
# goes on working: before one, the signer gets keygated's CPUs back.
cpus() { awk '/^Cpus_allowed_list/ { print $2 }' "/proc/$1/status"; }
if [ "$(cpus "$KG_PID" | tr -cd ',-' | wc -c)" -gt 0 ]; then
	check "placement: after a check the signer has one CPU" \
	    bash -c "grep -Eq '^Cpus_allowed_list:[[:space:]]+[0-9]+\$' /proc/$S1/status"
	adm key issue SIG STD --licensee "Many Co" --created 2026-05-01 --count 600 \
	    >/dev/null 2>&1
	expect_eq "placement: after a bulk issue it has keygated's CPUs again" \
	    "$(cpus "$S1")" "$(cpus "$KG_PID")"
	ucheck "check after the bulk issue"
	check "placement: and one CPU again after the next check" \
	    bash -c "grep -Eq '^Cpus_allowed_list:[[:space:]]+[0-9]+\$' /proc/$S1/status"
else
	echo "skip  placement: keygated may use one CPU only ($(cpus "$KG_PID"))"
fi

# ---- SIGKILL: restarted, next check still signed ---------------------------
kill -9 "$S1"
ucheck "check right after kill -9 of the signer"
S2=$(signer_new "$S1")
check "a new signer process exists after kill -9" [ -n "$S2" ]
check "the killed signer was reaped (no zombie left)" gone "$S1"
expect_eq "log: the signer died" \
    "$(count "$LOG" "signer process $S1 died (killed by SIGKILL): restarting it")" 1
expect_eq "log: it was restarted" \
    "$(wait_count "$LOG" "signer process restarted as pid $S2, with the same signing key")" 1
adm --json key issue SIG STD --licensee "After Restart" --created 2026-05-02 | jget key >"$T/k2"
check "license signing works after the restart" \
    verifies "$T/k2" "$D/signing.pub"

# ---- SIGSTOP: a hung signer is killed after 5 s and replaced ---------------
kill -STOP "$S2"
t0=$(date +%s)
ucheck "check while the signer is stopped"
t1=$(date +%s)
check "the hung signer was waited for about 5 s (took $((t1 - t0)) s)" \
    [ $((t1 - t0)) -ge 4 -a $((t1 - t0)) -le 30 ]
expect_eq "log: the hung signer was killed" \
    "$(count "$LOG" "signer process $S2 did not answer within 5 s and was killed")" 1
S3=$(signer_new "$S2")
check "a new signer after the hang" [ -n "$S3" ]
check "the stopped signer is gone" gone "$S2"

# ---- SIGTERM to the signer alone -------------------------------------------
kill -TERM "$S3"
S4=$(signer_new "$S3")
check "a signer that got SIGTERM is restarted at once (no request needed)" [ -n "$S4" ]
expect_eq "log: it was terminated" \
    "$(count "$LOG" "signer process $S3 died (exit status 0): restarting it")" 1
ucheck "check after SIGTERM to the signer"

# ---- closed to ptrace by its own user --------------------------------------
# An attacker holding keygated's uid can read the network process's memory
# but not the signer's. Run as that uid: as root, a second keygated under
# uid 65534 (root could read anything); otherwise this daemon as is.
cat >"$T/peek.py" <<'EOF'
import sys
pid = sys.argv[1]
try:
    f = open("/proc/%s/mem" % pid, "rb")
except OSError as e:
    print("refused %d" % e.errno)
    sys.exit(0)
for line in open("/proc/%s/maps" % pid):
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    if line.split()[1][0] == "r":
        try:
            f.seek(lo)
            if len(f.read(64)) == 64:
                print("read")
                sys.exit(0)
        except OSError:
            pass
print("unreadable")
EOF
PEEK=("$KG_PY" "$T/peek.py")
NB_PID=$KG_PID
NB_SIGNER=$S4
MAIN_PID=
if [ "$(id -u)" = 0 ]; then
	NB_PID=
	MAIN_PID=$KG_PID
	trap 'kill -9 $MAIN_PID 2>/dev/null; kg_cleanup' EXIT
	if command -v setpriv >/dev/null &&
	    setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$KEYGATED"; then
		chmod 711 "$T"
		mkdir "$T/nb" && chown 65534:65534 "$T/nb"
		printf '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups "%s" "$@"\n' \
		    "$KEYGATED" >"$T/kg-nobody"
		chmod 755 "$T/kg-nobody"
		PEEK=(setpriv --reuid=65534 --regid=65534 --clear-groups "${PEEK[@]}")
		if KEYGATED=$T/kg-nobody kg_init "$T/nb/d" &&
		    KEYGATED=$T/kg-nobody kg_start "$T/nb/d"; then
			NB_PID=$KG_PID
			NB_SIGNER=$(kg_signer_pid "$NB_PID")
		fi
	fi
	[ -n "$NB_PID" ] || echo "skip  ptrace check: cannot run keygated as uid 65534 here"
fi
if [ -n "$NB_PID" ]; then
	ctl=$("${PEEK[@]}" "$NB_PID")
	if [ "$ctl" = read ]; then
		ok_ctl=1
		expect_eq "same uid: the network process's memory is readable (control)" "$ctl" read
		got=$("${PEEK[@]}" "$NB_SIGNER")
		check "same uid: the signer's memory is refused ($got)" \
		    sh -c "echo '$got' | grep -Eq '^refused (1|13)$'"
		owner=$(stat -c %u "/proc/$NB_SIGNER/mem")
		expect_eq "the signer's /proc files belong to root (not dumpable)" "$owner" 0
	else
		echo "skip  ptrace check: this system refuses even the control ($ctl)"
	fi
fi
if [ -n "$MAIN_PID" ]; then
	if [ -n "$NB_PID" ]; then
		kg_stop
		check "the uid 65534 keygated's signer ended with it" gone "$NB_SIGNER"
	fi
	KG_PID=$MAIN_PID
	KG_DATA=$D
	KG_PORT=$(cat "$D/port")
	trap kg_cleanup EXIT
fi

# ---- stopping keygated ends its signer -------------------------------------
kill -TERM "$KG_PID"
wait_exit
expect_eq "keygated stops with status 0 on SIGTERM" "$KG_RC" 0
check "its signer process is gone too" gone "$S4"

# ---- too many restarts: keygated stops -------------------------------------
DR=$T/rate
kg_init "$DR"
kg_start "$DR" || exit 1
s=$(kg_signer_pid "$KG_PID")
for i in 1 2 3 4 5; do
	kill -9 "$s"
	s=$(signer_new "$s") || break
	# Killing it again while it still loads the key is another story.
	[ "$(wait_count "$DR/keygated.log" "restarted as pid $s,")" = 1 ] || { s=; break; }
done
check "five restarts in a row are allowed" [ -n "$s" ]
kill -9 "$s"
wait_exit
expect_eq "the sixth death in a minute stops keygated, status 1" "$KG_RC" 1
expect_eq "log: one line says why" \
    "$(count "$DR/keygated.log" "it was restarted 5 times in the last 60 s: stopping keygated")" 1
expect_eq "log: nothing else says it stops" "$(count "$DR/keygated.log" "stopping keygated")" 1
check "no signer left behind" gone "$s"

# ---- the key file now holds another key: stop, never sign with it ----------
kg_init "$T/other"
DS=$T/stale
kg_init "$DS"
kg_start "$DS" --test-clock "$TODAY" || exit 1
s=$(kg_signer_pid "$KG_PID")
cp "$T/other/signing.key" "$DS/signing.key"
kill -9 "$s"
wait_exit
expect_eq "another key in the key file: keygated stops, status 1" "$KG_RC" 1
expect_eq "log: one line says why" "$(count "$DS/keygated.log" "stopping keygated")" 1
check "log: that line names both keys and what to do" \
    grep -q "loaded another key from .*signing.key (KGP1\..*, not KGP1\..*, which keygated started with): stopping keygated rather than sign with it; restart keygated to use the new key" \
    "$DS/keygated.log"
check "log: the key it found and the key it had" \
    grep -qF "($(cat "$T/other/signing.pub"), not $(cat "$DS/signing.pub"), which" "$DS/keygated.log"
check "no signer left behind" gone "$s"
cli check --key "$T/k1" --product SIG --version 1.0 >/dev/null 2>&1
expect_eq "nothing answers any more (cannot reach: exit 2)" "$?" 2

# ---- the key file was altered: the restart fails, keygated stops -----------
DC=$T/corrupt
kg_init "$DC"
kg_start "$DC" || exit 1
s=$(kg_signer_pid "$KG_PID")
"$KG_PY" - "$DC/signing.key" <<'EOF'
import sys
p = sys.argv[1]
t = open(p).read()
i = 40
c = "B" if t[i] != "B" else "C"
open(p, "w").write(t[:i] + c + t[i + 1:])
EOF
kill -9 "$s"
wait_exit
expect_eq "altered key file: keygated stops, status 1" "$KG_RC" 1
expect_eq "log: one line says why" "$(count "$DC/keygated.log" "stopping keygated")" 1
check "log: cannot restart, the file is corrupted, restore it" \
    grep -q "cannot restart the signer process: .*signing.key: key file is corrupted (checksum mismatch): restore it from a backup: stopping keygated" \
    "$DC/keygated.log"
check "no signer left behind" gone "$s"

# ---- a sealed key, its passphrase from a systemd credential ----------------
DP=$T/sealed
printf 'correct horse battery staple\n' >"$T/pass"
"$KEYGATED" init --data "$DP" --passphrase-file "$T/pass" >/dev/null 2>&1 ||
    { echo "sealed init failed"; exit 1; }
sed -i '/^passphrase_file/d' "$DP/keygated.conf"
mkdir -m 700 "$T/cred"
cp "$T/pass" "$T/cred/keygated-passphrase"
"$KEYGATED" run --data "$DP" --listen 127.0.0.1:0 --port-file "$DP/port" \
    >/dev/null 2>"$T/nocred.err"
expect_eq "sealed key without a passphrase: exit 1" "$?" 1
expect_eq "sealed key without a passphrase: the line" "$(cat "$T/nocred.err")" \
    "keygated: $DP/signing.key: secret key is sealed: give the passphrase file (--passphrase-file)"
CREDENTIALS_DIRECTORY=$T/cred kg_start "$DP" || exit 1
s=$(kg_signer_pid "$KG_PID")
check "sealed key from the credential: started with a signer" [ -n "$s" ]
kill -9 "$s"
s2=$(signer_new "$s")
check "the signer restarts with the credential's passphrase" [ -n "$s2" ]
expect_eq "log: restarted with the same key" \
    "$(wait_count "$DP/keygated.log" "signer process restarted as pid $s2, with the same signing key")" 1
adm product add SIG --name "Signer Test" --price 100 >/dev/null 2>&1 &&
    adm edition add SIG STD >/dev/null 2>&1 &&
    adm --json key issue SIG STD --licensee "Sealed Co" | jget key >"$T/k3"
check "a key signed by the restarted sealed signer verifies" \
    verifies "$T/k3" "$DP/signing.pub"
kg_stop

kg_done
