# Installing libkeygate: `cmake --install` into a temporary prefix puts
# keygate.h, libkeygate.so.1 (soname libkeygate.so.1, only kg_* exported),
# libkeygate.a (only kg_* global) and keygate.pc there; the example product
# then compiles with nothing but `pkg-config --cflags --libs keygate`
# (shared) or the static library, and runs against a real keygated. The
# prefix is moved afterwards: keygate.pc finds it relative to itself. In the
# sanitizer build the example is compiled with the same sanitizers, since
# the installed library was.
. "$(dirname "$0")/lib.sh"

PREFIX=$T/prefix
CC=${CC:-cc}
VERSION=$(sed -n 's/^project(keygate VERSION \([0-9.]*\).*/\1/p' "$KG_SOURCE/CMakeLists.txt")
SAN=
grep -q '^KG_SANITIZE:BOOL=ON' "$KG_BUILD/CMakeCache.txt" && SAN="-fsanitize=address,undefined"

cmake --install "$KG_BUILD" --prefix "$PREFIX" >"$T/install.log" 2>&1
expect_eq "cmake --install: exit 0" "$?" 0
L=$PREFIX/lib
check "installed: include/keygate.h" test -f "$PREFIX/include/keygate.h"
check "installed: lib/libkeygate.so.$VERSION" test -f "$L/libkeygate.so.$VERSION"
expect_eq "installed: libkeygate.so.1 -> the library" "$(readlink "$L/libkeygate.so.1")" \
    "libkeygate.so.$VERSION"
expect_eq "installed: libkeygate.so -> libkeygate.so.1" "$(readlink "$L/libkeygate.so")" \
    libkeygate.so.1
check "installed: lib/libkeygate.a" test -f "$L/libkeygate.a"
check "installed: lib/pkgconfig/keygate.pc" test -f "$L/pkgconfig/keygate.pc"
check "not installed: the example" test ! -e "$PREFIX/bin/example-product"
check "not installed: the in-tree static client library" test ! -e "$L/libkeygate_client.a"
expect_eq "soname" "$(readelf -d "$L/libkeygate.so.1" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" \
    libkeygate.so.1
expect_eq "shared: needs only libsodium, libprotobuf-c and libc" \
    "$(readelf -d "$L/libkeygate.so.1" | sed -n 's/.*NEEDED.*\[\(.*\)\.so.*\]/\1/p' |
    grep -v -e '^libasan' -e '^libubsan' -e '^libm$' -e '^libstdc++' -e '^libgcc_s' | sort | tr '\n' ' ')" \
    "libc libprotobuf-c libsodium "
nm -D --defined-only "$L/libkeygate.so.1" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$T/dynsyms"
expect_eq "shared: exports only kg_* (and its version node)" \
    "$(grep -v -e '^kg_' -e '^KEYGATE_1$' "$T/dynsyms" | tr '\n' ' ')" ""
check "shared: exports kg_check" grep -qx 'kg_check' "$T/dynsyms"
check "shared: exports kg_client_set_state_file" grep -qx 'kg_client_set_state_file' "$T/dynsyms"
check "shared: the core stays inside (no license_key_parse)" sh -c "! grep -q license_key_parse '$T/dynsyms'"
nm --defined-only "$L/libkeygate.a" | awk '$2 ~ /^[A-Z]$/ {print $3}' | sort -u >"$T/arsyms"
expect_eq "static: only kg_* global" "$(grep -v '^kg_' "$T/arsyms" | tr '\n' ' ')" ""
expect_eq "static: as many kg_* as the shared library" "$(wc -l <"$T/arsyms")" \
    "$(grep -c '^kg_' "$T/dynsyms")"

export PKG_CONFIG_PATH=$L/pkgconfig
expect_eq "pkg-config: version" "$(pkg-config --modversion keygate)" "$VERSION"
check "pkg-config: Requires.private libsodium libprotobuf-c" \
    sh -c "pkg-config --print-requires-private keygate | tr '\n' ' ' | grep -q 'libsodium libprotobuf-c'"

# Build the example as a product would: a copy outside the source tree, and
# only what pkg-config says (strict C17, every warning an error).
mkdir "$T/product"
cp "$KG_SOURCE/client/examples/example-product.c" "$T/product/"
cd "$T/product" || exit 1
# shellcheck disable=SC2046
$CC -std=c17 -Wall -Wextra -Werror -pedantic $SAN example-product.c \
    $(pkg-config --cflags --libs keygate) -o example-shared 2>"$T/cc-shared.log"
expect_eq "example compiles against the installed shared library" "$?" 0
cat "$T/cc-shared.log"
# shellcheck disable=SC2046
$CC -std=c17 -Wall -Wextra -Werror $SAN example-product.c \
    $(pkg-config --cflags keygate) \
    $(pkg-config --static --libs keygate | sed 's/-lkeygate/-l:libkeygate.a/') \
    -o example-static 2>"$T/cc-static.log"
expect_eq "example links the installed static library" "$?" 0
cat "$T/cc-static.log"
check "static example: no libkeygate.so needed" sh -c "! readelf -d example-static | grep -q libkeygate"
expect_eq "shared example: loads the installed libkeygate.so.1" \
    "$(LD_LIBRARY_PATH=$L ldd ./example-shared | sed -n 's/.*libkeygate.so.1 => \([^ ]*\) .*/\1/p')" \
    "$L/libkeygate.so.1"

# ---- run both against a daemon ------------------------------------------------------
D=$T/data
kg_init "$D"
kg_start "$D" --test-clock 2026-06-01 || exit 1
{ adm product add DEMO --name "Demo App" --price 7990 && adm edition add DEMO STD &&
  adm release publish DEMO 1.0 --date 2025-06-01 &&
  adm release publish DEMO 1.1 --date 2026-03-01 &&
  adm act register ACT-INST --product DEMO --months 12; } >"$T/setup.log" 2>&1 ||
	{ echo "setup failed: $(cat "$T/setup.log")"; exit 1; }
adm --json key issue DEMO STD --licensee "Inst Co" --created 2026-05-10 | jget key >"$T/new.key"
adm --json key issue DEMO STD --licensee "Late Co" --created 2025-01-15 | jget key >"$T/old.key"
run_ex() {
	local bin=$1
	shift
	LD_LIBRARY_PATH=$L "./$bin" --server "127.0.0.1:$KG_PORT" --pubkey "$D/signing.pub" \
	    --state "$T/$bin.state" "$@"
}
for bin in example-shared example-static; do
	expect_eq "$bin: update" "$(run_ex $bin --key "$T/new.key" --product DEMO --version 1.0)" \
	    "install 1.1"
	expect_eq "$bin: fallback" "$(run_ex $bin --key "$T/old.key" --product DEMO --version 1.0)" \
	    "stay on 1.0"
	expect_eq "$bin: demo" "$(run_ex $bin --key "$T/old.key" --product DEMO --version 1.1)" \
	    "run in demo mode (not_eligible)"
	expect_eq "$bin: state file written, mode 0600" "$(stat -c %a "$T/$bin.state")" 600
done
expect_eq "example-shared --act: a standard renewal runs from today" \
    "$(run_ex example-shared --key "$T/old.key" --product DEMO --version 1.0 --act ACT-INST |
    tr '\n' '|')" "renewed: support until 2027-06-01|install 1.1|"
kg_stop
expect_eq "example-static offline: the last verdict, marked" \
    "$(run_ex example-static --key "$T/new.key" --product DEMO --version 1.0 |
    sed 's/[0-9]* s old/N s old/')" "install 1.1 [offline: last verdict N s old]"

# ---- the installed tree can move ----------------------------------------------------------
mv "$PREFIX" "$T/moved"
export PKG_CONFIG_PATH=$T/moved/lib/pkgconfig
check "moved prefix: pkg-config points into it" \
    sh -c "pkg-config --cflags keygate | grep -q -- '-I$T/moved/'"
$CC -std=c17 $SAN example-product.c $(pkg-config --cflags --libs keygate) \
    -o example-moved 2>"$T/cc-moved.log"
expect_eq "moved prefix: the example still builds" "$?" 0

kg_done
