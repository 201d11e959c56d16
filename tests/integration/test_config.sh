#!/usr/bin/env bash
# keygated's configuration check-only mode, start-up refusals, and the store's
# schema version: each bad input stops keygated with one line saying what to
# fix, and nothing listens.
. "$(dirname "$0")/lib.sh"

D=$T/data
kg_init "$D"
out=$("$KEYGATED" check-config --data "$D" 2>&1)
expect_eq "fresh data dir: check-config exit" "$?" 0
expect_eq "fresh data dir: configuration OK" "$out" "configuration OK"
out=$("$KEYGATED" run --check --data "$D" 2>&1)
expect_eq "run --check prints configuration OK" "$out" "configuration OK"

# One bad line at a time: exit 1, exactly one stderr line naming file:line.
bad_line() {	# bad_line NAME LINE EXPECTED-TEXT
	cp "$D/keygated.conf" "$T/conf.orig"
	printf '%s\n' "$2" >>"$D/keygated.conf"
	local n
	n=$(wc -l <"$D/keygated.conf")
	out=$("$KEYGATED" check-config --data "$D" 2>&1)
	expect_eq "$1: exit 1" "$?" 1
	expect_eq "$1: one line" "$(printf '%s\n' "$out" | wc -l)" 1
	case $out in
	*"keygated.conf:$n: "*"$3"*) check "$1: names line $n and the problem" true ;;
	*) check "$1: names line $n and the problem (got: $out)" false ;;
	esac
	cp "$T/conf.orig" "$D/keygated.conf"
}
bad_line "unknown setting" "colour = blue" 'unknown setting "colour"'
bad_line "no equals sign" "max_connections 10" 'expected "name = value"'
bad_line "number out of range" "max_connections = 0" "max_connections: expected a whole number"
bad_line "not a number" "idle_timeout = soon" "idle_timeout: expected a whole number"
bad_line "bad log level" "log_level = loud" "log_level: expected error, warn, info or debug"

# A bad configuration also stops `keygated run` at start: nothing listens.
echo "frame_max = 1" >>"$D/keygated.conf"
"$KEYGATED" run --data "$D" --listen 127.0.0.1:0 --port-file "$T/port" >"$T/out" 2>&1
expect_eq "run refuses a bad configuration" "$?" 1
check "nothing listening (no port file)" test ! -e "$T/port"
sed -i '$d' "$D/keygated.conf"

# Not a data dir at all.
out=$("$KEYGATED" run --data "$T/nowhere" 2>&1)
expect_eq "missing data dir: exit 1" "$?" 1
case $out in
*"keygated init --data"*) check "missing data dir: says how to make one" true ;;
*) check "missing data dir: says how to make one (got: $out)" false ;;
esac

# A store of another schema version is refused with both versions named.
cp "$D/data.mdb" "$T/data.mdb.orig"
"$KG_BUILD/tests/kg_store_schema" "$D" 99
out=$("$KEYGATED" run --data "$D" --listen 127.0.0.1:0 --port-file "$T/port" 2>&1)
expect_eq "unknown schema: exit 1" "$?" 1
check "nothing listening (no port file)" test ! -e "$T/port"
case $out in
*99*1*|*1*99*) check "unknown schema: both versions named" true ;;
*) check "unknown schema: both versions named (got: $out)" false ;;
esac
cp "$T/data.mdb.orig" "$D/data.mdb"
kg_start "$D" || exit 1
check "the original store: keygated serves" adm product list
kg_done
