#!/usr/bin/env bash
# The Debian packages. Always: the packaged configuration
# (packaging/keygate.conf.example) is one keygated accepts and names every
# setting. As root with KG_PACKAGE_TEST=1 or CI=true (CI runs as root with
# CI=true), and only on a machine without keygate: packaging/build-deb
# builds keygate, libkeygate1 and libkeygate-dev, dpkg -i installs them, and
# the test checks the user keygate, /var/lib/keygate (0750, initialised,
# signing.key 0600), the conffile, the unit, the man pages, the library
# (header, pkg-config, a program linked shared and static), that the
# installed keygated serves the installed clients (under systemd when it
# runs, else started by hand as keygate), that "dpkg -r" keeps the data and
# a reinstall keeps the key, and that "dpkg --purge" leaves nothing: no
# user, no data dir, no /etc/keygate. Anything it installed is purged on
# exit, also on failure.
set -u
: "${KG_BUILD:?KG_BUILD must name the build dir}"
: "${KG_SOURCE:?KG_SOURCE must name the source dir}"
KG_PY=${KG_PY:-/usr/bin/python3}
PKGS="keygate libkeygate1 libkeygate-dev"
DATA=/var/lib/keygate
T=$(mktemp -d "${TMPDIR:-/tmp}/keygate-package.XXXXXX")
passed=0
failed=0
installed_by_us=0
server_pid=

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
expect_eq() {	# NAME GOT WANT
	if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}
holds() {	# WHAT CMD...: passes when CMD succeeds
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok; else bad "$what"; fi
}
fails() {	# WHAT CMD...: passes when CMD fails
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then bad "$what"; else ok; fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# Installed (or half-installed, or with config files left) keygate packages.
present() {
	local p
	for p in $PKGS; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qv 'not-installed' &&
		    echo "$p"
	done
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	if [ -n "$server_pid" ]; then
		kill -TERM "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	if [ "$installed_by_us" = 1 ] && [ -n "$(present)" ]; then
		echo "cleanup: purging $(present | tr '\n' ' ')" >&2
		# shellcheck disable=SC2046
		dpkg --purge $(present) >"$T/cleanup.log" 2>&1 ||
		    cat "$T/cleanup.log" >&2
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- always: the packaged configuration ----

mkdir "$T/conf"
cp "$KG_SOURCE/packaging/keygate.conf.example" "$T/conf/keygated.conf"
expect_eq "keygated check-config on the packaged keygated.conf" \
    "$("$KG_BUILD/daemon/keygated" check-config --data "$T/conf" 2>&1)" "configuration OK"
sed -n 's/^[[:space:]]*{ "\([a-z_]*\)", \(STR\|U32\|U64\|CONF_\).*/\1/p' \
    "$KG_SOURCE/daemon/conf.c" >"$T/settings"
holds "no settings found in daemon/conf.c" [ "$(wc -l <"$T/settings")" -ge 10 ]
while read -r s; do
	holds "packaging/keygate.conf.example does not name the setting $s" \
	    grep -Eq "^(# )?$s = " "$KG_SOURCE/packaging/keygate.conf.example"
done <"$T/settings"

# ---- the packages: only where asked, as root, on a clean machine ----

if grep -q '^KG_SANITIZE:BOOL=ON' "$KG_BUILD/CMakeCache.txt" 2>/dev/null; then
	echo "skipped: the package install runs with the normal build only (this build has KG_SANITIZE=ON)"
	finish
fi
if [ "$(id -u)" -ne 0 ] || { [ "${KG_PACKAGE_TEST:-}" != 1 ] && [ "${CI:-}" != true ]; }; then
	echo "skipped: the package install needs root and KG_PACKAGE_TEST=1 (or CI=true)"
	finish
fi
if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "skipped: not a Debian system (no dpkg or apt-get)"
	finish
fi
if [ -n "$(present)" ]; then
	bad "refusing to run: keygate packages are already on this machine ($(present | tr '\n' ' '));" \
	    "this test would purge them and their data: remove them first"
	finish
fi
if getent passwd keygate >/dev/null || getent group keygate >/dev/null ||
    [ -e "$DATA" ] || [ -e /etc/keygate ]; then
	bad "refusing to run: the user or group keygate, $DATA or /etc/keygate already exists" \
	    "without the package; this test would delete it"
	finish
fi

start=$(date +%s)
if ! "$KG_SOURCE/packaging/build-deb" "$T/debs" >"$T/build.log" 2>&1; then
	bad "packaging/build-deb failed: $(tail -n 20 "$T/build.log")"
	finish
fi
echo "packaging/build-deb took $(($(date +%s) - start)) s"
debs=()
for p in $PKGS; do
	f=$(find "$T/debs" -name "${p}_*.deb" | head -n 1)
	if [ -n "$f" ]; then
		debs+=("$f")
		ok
	else
		bad "build-deb made no $p package: $(ls "$T/debs")"
	fi
done
[ ${#debs[@]} -eq 3 ] || finish

installed_by_us=1
if ! dpkg -i "${debs[@]}" >"$T/install.log" 2>&1; then
	echo "dpkg -i left dependencies to resolve: apt-get install -f" >&2
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -f -y -qq >>"$T/install.log" 2>&1; then
		bad "installing the packages failed: $(tail -n 20 "$T/install.log")"
		finish
	fi
fi
for p in $PKGS; do
	expect_eq "dpkg status of $p" \
	    "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" "install ok installed"
done

# The user, the data dir and what postinst's "keygated init" made in it.
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd keygate)
if [ -n "${uid:-}" ] && [ "$uid" -lt 1000 ]; then ok; else bad "no system user keygate (uid '${uid:-}')"; fi
expect_eq "keygate's home" "${home:-}" "$DATA"
expect_eq "keygate's shell" "${shell:-}" "/usr/sbin/nologin"
expect_eq "keygate's group" "$(id -gn keygate 2>/dev/null)" "keygate"
expect_eq "$DATA mode and owner" "$(stat -c '%a %U:%G' "$DATA" 2>&1)" "750 keygate:keygate"
expect_eq "signing.key mode and owner" "$(stat -c '%a %U:%G' "$DATA/signing.key" 2>&1)" \
    "600 keygate:keygate"
expect_eq "data.mdb owner" "$(stat -c '%U:%G' "$DATA/data.mdb" 2>&1)" "keygate:keygate"
expect_eq "keygated.conf" "$(readlink "$DATA/keygated.conf")" "/etc/keygate/keygated.conf"
expect_eq "the conffile" "$(cmp -s /etc/keygate/keygated.conf \
    "$KG_SOURCE/packaging/keygate.conf.example" && echo same)" "same"
if dpkg-query -W -f='${Conffiles}' keygate | grep -q '^ /etc/keygate/keygated.conf '; then
	ok
else
	bad "/etc/keygate/keygated.conf is not a conffile of keygate"
fi
pub=$(keygated pubkey 2>&1)
case $pub in
KGP1.*) ok ;;
*) bad "keygated pubkey (default data dir): $pub" ;;
esac
expect_eq "keygated pubkey is signing.pub" "$pub" "$(cat "$DATA/signing.pub")"
if grep -qF "$pub" "$T/install.log"; then ok; else bad "postinst did not print the public key"; fi
expect_eq "check-config as keygate" \
    "$(runuser -u keygate -- keygated check-config --data "$DATA" 2>&1)" "configuration OK"

# The programs, the man pages and the unit.
expect_eq "keygated --version" "$(keygated --version 2>&1)" \
    "$("$KG_BUILD/daemon/keygated" --version)"
expect_eq "keygated" "$(command -v keygated)" "/usr/sbin/keygated"
expect_eq "keygate-admin" "$(command -v keygate-admin)" "/usr/bin/keygate-admin"
expect_eq "keygate" "$(command -v keygate)" "/usr/bin/keygate"
if keygate-admin --help | grep -qF "default $DATA"; then ok; else
	bad "keygate-admin's default data dir is not $DATA: $(keygate-admin --help | tail -n 3)"
fi
if grep -rqs 'path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/; then
	echo "note: dpkg excludes /usr/share/man here; man pages not checked"
else
	for m in man1/keygate.1 man1/keygate-admin.1 man5/keygate.conf.5 man8/keygated.8; do
		if [ -s "/usr/share/man/$m.gz" ]; then ok; else bad "/usr/share/man/$m.gz is missing"; fi
	done
fi
expect_eq "the unit" "$(grep '^ExecStart=' /lib/systemd/system/keygated.service)" \
    "ExecStart=/usr/sbin/keygated run --data $DATA"
if [ -L /etc/systemd/system/multi-user.target.wants/keygated.service ]; then ok; else
	bad "keygated.service is not enabled"
fi

# The library: header, pkg-config, and a program linked each way.
if [ -f /usr/include/keygate.h ]; then ok; else bad "/usr/include/keygate.h is missing"; fi
expect_eq "pkg-config --modversion keygate" "$(pkg-config --modversion keygate 2>&1)" \
    "$("$KG_BUILD/daemon/keygated" --version | awk '{print $2}')"
cat >"$T/prog.c" <<'EOF'
#include <stdio.h>
#include <keygate.h>

int
main(void)
{
	kg_client	*c = NULL;

	if (kg_client_new(&c) != KG_OK)
		return 1;
	kg_client_free(c);
	printf("%d\n", KG_API_VERSION);
	return 0;
}
EOF
# shellcheck disable=SC2046
if cc -Wall -Werror -o "$T/prog" "$T/prog.c" $(pkg-config --cflags --libs keygate) \
    >"$T/cc.log" 2>&1; then
	lib=$("$T/prog" >/dev/null && ldd "$T/prog" | sed -n 's/.*libkeygate\.so\.1 => \([^ ]*\).*/\1/p')
	expect_eq "the libkeygate.so.1 a program loads" "$(readlink -f "${lib:-none}")" \
	    "$(readlink -f "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libkeygate.so.1")"
else
	bad "cannot build against the installed libkeygate: $(head -n 5 "$T/cc.log")"
fi
# shellcheck disable=SC2046
if cc -Wall -Werror -o "$T/prog-static" "$T/prog.c" -l:libkeygate.a \
    $(pkg-config --libs libsodium libprotobuf-c) >"$T/cc.log" 2>&1; then
	if "$T/prog-static" >/dev/null && ! ldd "$T/prog-static" | grep -q libkeygate; then ok; else
		bad "the program linked with libkeygate.a does not run on its own"
	fi
else
	bad "cannot link libkeygate.a: $(head -n 5 "$T/cc.log")"
fi

# The installed keygated serves the installed clients: under systemd when it
# runs (postinst started the hardened unit), else started here as keygate.
exercise() {	# HOST:PORT
	local key out rc yesterday
	yesterday=$(date -u -d yesterday +%F)
	if ! { keygate-admin product add PKGT --name "Package test" --price 100 &&
	    keygate-admin edition add PKGT STD &&
	    keygate-admin release publish PKGT 1.0 --date "$yesterday"; } >"$T/admin.log" 2>&1 ||
	    ! key=$(keygate-admin key issue PKGT STD --licensee "Package Test" 2>>"$T/admin.log"); then
		bad "keygate-admin as root against the installed keygated: $(tail -n 3 "$T/admin.log")"
		return
	fi
	ok
	keygated pubkey >"$T/vendor.pub"
	out=$(keygate --server "$1" --pubkey "$T/vendor.pub" check --key "$key" \
	    --product PKGT --version 1.0 2>&1)
	rc=$?
	expect_eq "keygate check against the installed keygated (exit $rc)" "$out" \
	    "current: 1.0 is the newest release"
}
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	echo "systemd runs: checking the installed service"
	for _ in $(seq 100); do
		systemctl is-active --quiet keygated && [ -S "$DATA/admin.sock" ] && break
		sleep 0.1
	done
	if systemctl is-active --quiet keygated && [ -S "$DATA/admin.sock" ]; then
		ok
		expect_eq "the service's user" "$(ps -o user= -C keygated | sort -u | tr '\n' ' ')" \
		    "keygate "
		exercise 127.0.0.1:7447
	else
		bad "keygated.service is not running: $(systemctl status keygated 2>&1 | tail -n 8)"
	fi
else
	echo "no systemd: starting the installed keygated as keygate"
	setpriv --reuid=keygate --regid=keygate --init-groups /usr/sbin/keygated run \
	    --data "$DATA" --listen 127.0.0.1:0 --port-file "$DATA/test.port" \
	    >"$T/keygated.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		[ -s "$DATA/test.port" ] && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -s "$DATA/test.port" ]; then
		ok
		exercise "127.0.0.1:$(cat "$DATA/test.port")"
	else
		bad "the installed keygated did not start: $(tail -n 5 "$T/keygated.log")"
	fi
	kill -TERM "$server_pid" 2>/dev/null
	wait "$server_pid" 2>/dev/null
	server_pid=
	rm -f "$DATA/test.port"
fi

# dpkg -r keeps the data, the user and the conffile; a reinstall keeps the key.
if dpkg -r keygate >"$T/remove.log" 2>&1; then ok; else bad "dpkg -r keygate: $(tail -n 5 "$T/remove.log")"; fi
expect_eq "after dpkg -r: keygate's status" "$(dpkg-query -W -f='${Status}' keygate 2>&1)" \
    "deinstall ok config-files"
fails "after dpkg -r: /usr/sbin/keygated is still there" [ -e /usr/sbin/keygated ]
expect_eq "after dpkg -r: signing.key" "$(stat -c '%a %U' "$DATA/signing.key" 2>&1)" "600 keygate"
holds "after dpkg -r: the store is gone" [ -s "$DATA/data.mdb" ]
holds "after dpkg -r: the user keygate is gone" getent passwd keygate
holds "after dpkg -r: the conffile is gone" [ -f /etc/keygate/keygated.conf ]
if dpkg -i "${debs[0]}" >"$T/reinstall.log" 2>&1; then ok; else
	bad "reinstalling keygate: $(tail -n 5 "$T/reinstall.log")"
fi
expect_eq "the key after a reinstall" "$(keygated pubkey 2>&1)" "$pub"
# A sealed key's passphrase where keygate.conf(5) suggests: purge deletes it.
(umask 077 && echo "package test passphrase" >/etc/keygate/passphrase)

# dpkg --purge leaves nothing behind.
# shellcheck disable=SC2086
if dpkg --purge $PKGS >"$T/purge.log" 2>&1; then ok; else bad "dpkg --purge: $(tail -n 5 "$T/purge.log")"; fi
expect_eq "packages left after purge" "$(present | tr '\n' ' ')" ""
fails "after purge: the user keygate exists" getent passwd keygate
fails "after purge: the group keygate exists" getent group keygate
fails "after purge: $DATA exists" [ -e "$DATA" ]
fails "after purge: /etc/keygate exists" [ -e /etc/keygate ]
fails "after purge: keygated.service is still enabled" \
    [ -e /etc/systemd/system/multi-user.target.wants/keygated.service ]
fails "after purge: /usr/include/keygate.h exists" [ -e /usr/include/keygate.h ]
finish
