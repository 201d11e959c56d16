#!/usr/bin/env bash
# The systemd unit packaging/keygated.service: it has what the packaged
# service needs (user, data dir, the sockets keygated uses, the passphrase
# credential note), "systemd-analyze security --offline=true" rates its
# exposure at most 2.0, and "systemd-analyze verify" finds nothing to say
# about it (its ExecStart pointed at the built keygated, its man pages found
# in the source tree). Skipped where systemd-analyze is not installed.
set -u
: "${KG_BUILD:?KG_BUILD must name the build dir}"
: "${KG_SOURCE:?KG_SOURCE must name the source dir}"
KG_PY=${KG_PY:-/usr/bin/python3}
UNIT=$KG_SOURCE/packaging/keygated.service
MAX_EXPOSURE=2.0
T=$(mktemp -d "${TMPDIR:-/tmp}/keygate-systemd.XXXXXX")
trap 'rm -rf "$T"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# The lines the packaged service depends on, exactly.
for line in \
    "User=keygate" "Group=keygate" "Type=simple" "Restart=on-failure" \
    "ExecStart=/usr/sbin/keygated run --data /var/lib/keygate" \
    "ReadWritePaths=/var/lib/keygate" "ProtectSystem=strict" \
    "NoNewPrivileges=yes" "CapabilityBoundingSet=" "AmbientCapabilities=" \
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
    "SystemCallFilter=@system-service" "MemoryDenyWriteExecute=yes" \
    "UMask=0077" "PrivateUsers=yes" \
    "#LoadCredential=keygated-passphrase:/etc/keygate/passphrase" \
    "WantedBy=multi-user.target"; do
	if grep -qxF -- "$line" "$UNIT"; then
		ok
	else
		bad "the unit lacks the line '$line'"
	fi
done
# Products connect from anywhere; keygated forks its signer and binds
# sockets: nothing may forbid those.
for word in IPAddressDeny PrivateNetwork '~@process' '~@network-io' \
    'Type=notify' 'RestrictAddressFamilies=none'; do
	if grep -v '^#' "$UNIT" | grep -qF -- "$word"; then
		bad "the unit has '$word', which would stop keygated serving"
	else
		ok
	fi
done

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "$passed passed, $failed failed"
	echo "skipped: systemd-analyze is not installed (exposure score and verify)"
	[ "$failed" -eq 0 ]
	exit
fi

# The exposure score: "→ Overall exposure level for keygated.service: 1.4 OK".
cp "$UNIT" "$T/keygated.service"
if systemd-analyze security --offline=true "$T/keygated.service" >"$T/security" 2>&1; then
	score=$(sed -n 's/.*Overall exposure level for keygated\.service: \([0-9.]*\).*/\1/p' \
	    "$T/security")
	if [ -z "$score" ]; then
		bad "no exposure level in: $(tail -n 3 "$T/security")"
	elif "$KG_PY" -c 'import sys; sys.exit(not float(sys.argv[1]) <= float(sys.argv[2]))' \
	    "$score" "$MAX_EXPOSURE"; then
		echo "exposure level $score (at most $MAX_EXPOSURE)"
		ok
	else
		bad "exposure level $score is above $MAX_EXPOSURE: $(grep '✗' "$T/security")"
	fi
elif grep -q -- "--offline" "$T/security"; then
	echo "skipped: this systemd-analyze has no --offline: $(head -n 1 "$T/security")"
else
	bad "systemd-analyze security failed: $(tail -n 3 "$T/security")"
fi

# verify: every directive known and valid. ExecStart must name an existing
# program and Documentation= pages must be found, so point them at the
# build and the source tree.
mkdir -p "$T/unit" "$T/man/man1" "$T/man/man5" "$T/man/man8"
cp "$KG_SOURCE"/packaging/man/*.1 "$T/man/man1/"
cp "$KG_SOURCE"/packaging/man/*.5 "$T/man/man5/"
cp "$KG_SOURCE"/packaging/man/*.8 "$T/man/man8/"
sed "s#^ExecStart=/usr/sbin/keygated #ExecStart=$KG_BUILD/daemon/keygated #" "$UNIT" \
    >"$T/unit/keygated.service"
if ! command -v man >/dev/null 2>&1; then
	echo "skipped: systemd-analyze verify (man is not installed: Documentation= cannot be checked)"
elif MANPATH=$T/man systemd-analyze verify "$T/unit/keygated.service" >"$T/verify" 2>&1 &&
    [ ! -s "$T/verify" ]; then
	ok
else
	bad "systemd-analyze verify: $(head -n 5 "$T/verify")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
