#!/usr/bin/env bash
# A tiny LMDB map (issue 6, item 3): with map_size_mb = 1 writes through
# keygate-admin end with a clear storage_full reason (the admin reply's
# reason and the CLI's one line), nothing unacknowledged is half-stored,
# reads (key show, key list, release list) and `keygate check` keep working,
# and a check that must write (the first check of an activation-basis key)
# gets an Error reply storage_full on the public port while a normal check is
# answered. Then keygated restarts with map_size_max_mb = 64: the map grows
# (the store doubles it on MDB_MAP_FULL and retries the write), the refused
# activation goes through, and many more keys than fit in 1 MiB are issued.
. "$(dirname "$0")/lib.sh"

D=$T/data
kg_init "$D"

# The configuration check: a maximum below the map size is refused.
cp "$D/keygated.conf" "$T/conf.orig"
printf 'map_size_mb = 4\nmap_size_max_mb = 2\n' >>"$D/keygated.conf"
out=$("$KEYGATED" check-config --data "$D" 2>&1)
check "config: map_size_max_mb below map_size_mb is refused" \
    test "$(printf '%s\n' "$out" | grep -c 'map_size_max_mb (2) is below map_size_mb (4)')" -eq 1
cp "$T/conf.orig" "$D/keygated.conf"
echo "map_size_mb = 1" >>"$D/keygated.conf"
expect_eq "config: map_size_mb = 1 is valid" \
    "$("$KEYGATED" check-config --data "$D" 2>&1)" "configuration OK"

kg_start "$D" || exit 1
kg_product FULL "Full Test"
adm edition add FULL ACT --basis activation >/dev/null ||
    { echo "cannot add edition ACT" >&2; exit 1; }
# K1: a creation-basis key for normal checks; K2: an activation-basis key
# whose first check must write; K3: suspended and reinstated below.
adm --json key issue FULL STD --licensee "Reader Ltd" >"$T/k1.json" &&
    adm --json key issue FULL ACT --licensee "Late Ltd" >"$T/k2.json" &&
    adm --json key issue FULL STD --licensee "Filler Ltd" >"$T/k3.json" || {
	echo "cannot issue the keys" >&2
	exit 1
}
jget key <"$T/k1.json" >"$T/k1.key"
jget key <"$T/k2.json" >"$T/k2.key"
R1=$(jget regno <"$T/k1.json")
R3=$(jget regno <"$T/k3.json")

licenses() { adm --json key list | grep -c '"regno"'; }
issued_audit() { adm --json audit | grep -c '"action":"key.issue"'; }
check_k1() { kg_check_says "$T/k1.key" FULL 1.0.0 "update: install 1.1.0"; }

# Fill the map: batches of 50 keys until one fails (at most 200 batches =
# 10,000 keys, 120 s). A batch is one store transaction (issue 7), so the
# failed batch stored none of its keys.
batches=0 failed_batch=no
deadline=$((SECONDS + 120))
while [ "$batches" -lt 200 ] && [ "$SECONDS" -lt "$deadline" ]; do
	if adm --json key issue FULL STD --licensee "Bulk Ltd" --count 50 \
	    >"$T/batch.out" 2>"$T/batch.err"; then
		batches=$((batches + 1))
	else
		failed_batch=yes
		break
	fi
done
echo "map_size_mb = 1: $batches batches of 50 keys stored before one failed"
expect_eq "full: the failed batch stored none of its keys" \
    "$(licenses)" $((3 + batches * 50))
expect_eq "full: a batch of key issues failed" "$failed_batch" yes
expect_eq "full: the failed batch's reason is storage_full" \
    "$(jget reason <"$T/batch.out")" storage_full
check "full: keygate-admin said so in one line on stderr" \
    test "$(wc -l <"$T/batch.err")" -eq 1
check "full: ... that says what to do (raise map_size_mb)" \
    grep -q "^keygate-admin: the store is full after [0-9]* of 50 keys: raise map_size_mb" \
    "$T/batch.err"
head -n 1 "$T/batch.err"

# Single key issues now: each one is acknowledged (its key printed, exit 0)
# or refused with storage_full (exit 3); stop after 3 refusals in a row (at
# most 120 tries: fewer than 50 keys fit). The stored licenses must be
# exactly the ones before plus the acknowledged ones, and every license
# must have its audit record.
before=$(licenses)
acked=0 refused=0 other=0 row=0
for i in $(seq 120); do
	adm --json key issue FULL STD --licensee "Single Ltd" >"$T/one.out" 2>"$T/one.err"
	rc=$?
	if [ "$rc" -eq 0 ] && [ -n "$(jget key <"$T/one.out")" ]; then
		acked=$((acked + 1))
		row=0
	elif [ "$rc" -eq 3 ] && [ "$(jget reason <"$T/one.out")" = storage_full ] &&
	    [ "$(wc -l <"$T/one.err")" -eq 1 ]; then
		refused=$((refused + 1))
		row=$((row + 1))
		[ "$row" -ge 3 ] && break
	else
		other=$((other + 1))
		echo "key issue: exit $rc: $(cat "$T/one.err")" >&2
	fi
done
after=$(licenses)
echo "single issues: $acked acknowledged, $refused refused; licenses $before -> $after"
check "full: single key issues are refused with storage_full" test "$refused" -ge 3
expect_eq "full: no other outcome than a key or storage_full" "$other" 0
expect_eq "full: licenses stored = before + acknowledged" "$after" $((before + acked))
expect_eq "full: every stored license has its key.issue audit record" \
    "$(issued_audit)" "$after"
check "full: the audit chain verifies" adm audit --verify

# Writes shaped like an activation (one license rewritten plus its audit
# record): suspend and reinstate K3 until the store refuses (at most 300).
sus=0 refused_sus=no
for i in $(seq 300); do
	if [ $((i % 2)) -eq 1 ]; then
		adm --json key suspend "$R3" --reason x >"$T/sus.out" 2>"$T/sus.err"
	else
		adm --json key reinstate "$R3" --reason y >"$T/sus.out" 2>"$T/sus.err"
	fi
	if [ $? -ne 0 ]; then
		[ "$(jget reason <"$T/sus.out")" = storage_full ] && refused_sus=yes
		echo "suspend/reinstate $i: $(cat "$T/sus.err")"
		break
	fi
	sus=$((sus + 1))
done
echo "suspend/reinstate: $sus done before the store refused"
expect_eq "full: a license update is refused with storage_full" "$refused_sus" yes

# Reads keep working.
expect_eq "full: key show still answers" \
    "$(adm --json key show "$R1" | jget regno)" "$R1"
check "full: release list still answers" \
    sh -c "'$ADMIN' --data '$D' release list FULL | grep -q '1.1.0'"
check "full: key list still answers" test "$(licenses)" -eq "$after"
check "full: a normal check is answered" check_k1

# The public port: the first check of the activation-basis key must store
# its expiry; with the map full it gets an Error reply storage_full, and
# the key file is left as it was.
cp "$T/k2.key" "$T/k2.orig"
out=$(cli check --key "$T/k2.key" --product FULL --version 1.0.0 2>&1)
rc=$?
echo "activation check: exit $rc: $out"
expect_eq "full: activation check exits 2 (server error)" "$rc" 2
expect_eq "full: ... with the server's storage_full reason in one line" \
    "$out" "keygate: the server refused the request: storage_full: the server's storage is full; try again later"
check "full: ... and the key file is unchanged" cmp -s "$T/k2.key" "$T/k2.orig"
check "full: a normal check right after is answered" check_k1
check "full: the refusal was logged" grep -q "license_update: the store is full" \
    "$D/keygated.log"
check "full: the daemon is alive" kill -0 "$KG_PID"
size_full=$(stat -c %s "$D/data.mdb")
kg_stop

# ---- growth: map_size_max_mb = 64 ----------------------------------------------
echo "map_size_max_mb = 64" >>"$D/keygated.conf"
kg_start "$D" || exit 1
out=$(cli check --key "$T/k2.key" --product FULL --version 1.0.0 2>&1)
rc=$?
echo "activation check after growth allowed: exit $rc: $out"
expect_eq "grow: the activation check now succeeds" "$rc" 0
check "grow: ... and the re-signed key was saved" \
    sh -c "! cmp -s '$T/k2.key' '$T/k2.orig'"
# Twice as many keys as fit in 1 MiB, in batches of 500 (bounded: 10
# batches); every one acknowledged.
total=$((after * 2))
n=0 ok=yes
while [ "$n" -lt "$total" ] && [ "$n" -lt 5000 ]; do
	if ! adm --json key issue FULL STD --licensee "Growth Ltd" --count 500 \
	    >"$T/grow.out" 2>"$T/grow.err"; then
		ok="no: $(cat "$T/grow.err")"
		break
	fi
	[ "$(grep -c '"regno"' "$T/grow.out")" -eq 500 ] || { ok="short batch"; break; }
	n=$((n + 500))
done
echo "grow: issued $n keys after the growth was allowed"
expect_eq "grow: every batch acknowledged" "$ok" yes
check "grow: more keys than fit in 1 MiB were issued" test "$n" -ge "$after"
# K2's activation plus the new ones; nothing else changed.
expect_eq "grow: licenses stored = before + issued" "$(licenses)" $((after + n))
check "grow: the map was grown (logged)" grep -q "store map grown from" \
    "$D/keygated.log"
size_grown=$(stat -c %s "$D/data.mdb")
echo "data.mdb: $size_full bytes when full, $size_grown bytes after growing"
check "grow: data.mdb grew past 1 MiB" test "$size_grown" -gt 1048576
check "grow: data.mdb at least doubled" test "$size_grown" -ge $((size_full * 2))
check "grow: the audit chain verifies" adm audit --verify
check "grow: a normal check is answered" check_k1
check "grow: the daemon is alive" kill -0 "$KG_PID"
kg_stop
kg_done
