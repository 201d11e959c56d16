#!/bin/bash
# Renewal by act number against the real keygated and CLIs (SPEC R7-R12,
# R16; issue 4 items 2 and 3). keygated runs on the test clock 2026-06-15, so
# every date below is exact. Seed scenarios, price 7990, 12-month acts:
#   (a) support ended 20 days ago  -> grace, old expiry + 12 months, 1998.00
#   (b) support ended 2 months ago -> standard, today + 12 months, 3596.00
#   (c) support still runs         -> early, old expiry + 12 months
#   (d) after (b), a release published while support had lapsed is an update
# then: the repeat (identical output, no second extension), act_used (exit
# 12), each refused act's own reason, --requires-subscription, a revoked key,
# and brute force: 100 wrong act numbers from one address are rate_limited
# after the budget while another key from another address renews. The
# brute force and its parallel success use the wire client kgwire.py
# (signatures verified with nacl) bound to 127.0.0.3 and 127.0.0.2; the
# vendor's side is keygate-admin.
. "$(dirname "$0")/lib.sh"

TODAY=2026-06-15
kg_init "$T/d"
kg_start "$T/d" --test-clock "$TODAY" || exit 1

act_register() {	# NUMBER PRODUCT MONTHS [EDITION] [LICENSEE]
	adm act register "$1" --product "$2" --months "$3" \
	    ${4:+--edition "$4"} ${5:+--licensee "$5"} >/dev/null ||
	    { echo "act register $1 failed" >&2; exit 1; }
}
# issue NAME EDITION LICENSEE CREATED: the key text into $T/NAME.key
issue() {
	adm --json key issue ZHKH8 "$2" --licensee "$3" --created "$4" \
	    | jget key >"$T/$1.key"
	[ -s "$T/$1.key" ] || { echo "key issue $1 failed" >&2; exit 1; }
}
# activate NAME ACT: JSON of keygate activate in $OUT, exit code in $RC
activate() {
	OUT=$(cli --json activate --key "$T/$1.key" --act "$2" 2>"$T/err")
	RC=$?
}
keyshow() { adm --json key show "$1" | jget "$2"; }
actshow() { adm --json act show "$1" | jget "$2"; }

# ---- the catalogue
adm product add ZHKH8 --name "Housing services" --price 7990 >/dev/null
adm product add OTHER --name "Other product" --price 100 >/dev/null
adm edition add ZHKH8 PROF >/dev/null
adm edition add ZHKH8 CORP --requires-subscription >/dev/null
adm release publish ZHKH8 1.0 --date 2025-12-01 >/dev/null
adm release publish ZHKH8 2.0 --date 2026-05-01 >/dev/null

issue a PROF "Acme" 2025-11-26		# support until 2026-05-26: 20 days ago
issue b PROF "Beta" 2025-10-15		# until 2026-04-15: two months ago
issue c PROF "Gamma" 2026-01-31		# until 2026-07-31: still runs
issue d PROF "Delta" 2025-11-26
issue s CORP "Corp Ltd" 2025-11-26
issue r PROF "Refund" 2025-11-26
issue e PROF "Eve" 2025-11-26
issue f PROF "Frank" 2025-11-26
for n in ACT-A ACT-B ACT-C ACT-R ACT-G ACT-S1; do act_register "$n" ZHKH8 12; done
act_register ACT-V ZHKH8 12
adm act void ACT-V >/dev/null || { echo "act void failed" >&2; exit 1; }
act_register ACT-WP OTHER 12
act_register ACT-WE ZHKH8 12 CORP
act_register ACT-WL ZHKH8 12 PROF "Somebody Else"

# ---- (a) grace
ino_before=$(stat -c %i "$T/a.key")
key_before=$(cat "$T/a.key")
activate a ACT-A
expect_eq "(a) activate exits 0" "$RC" 0
expect_eq "(a) reason" "$(echo "$OUT" | jget reason)" ok
expect_eq "(a) kind grace" "$(echo "$OUT" | jget renewal.kind)" grace
expect_eq "(a) price 1998.00" "$(echo "$OUT" | jget renewal.price)" 1998.00
expect_eq "(a) new expiry = old + 12 months" \
    "$(echo "$OUT" | jget support_expiry)" 2027-05-26
expect_eq "(a) renewal new_expiry" "$(echo "$OUT" | jget renewal.new_expiry)" 2027-05-26
expect_eq "(a) months" "$(echo "$OUT" | jget renewal.months)" 12
expect_eq "(a) act" "$(echo "$OUT" | jget renewal.act)" ACT-A
REGNO_A=$(echo "$OUT" | jget regno)
expect_eq "(a) regno" "$REGNO_A" ZHKH8-000001
# The key file was replaced (a new file renamed over it) by the renewed key.
check "(a) key file replaced" [ "$(cat "$T/a.key")" != "$key_before" ]
check "(a) key file is a new inode (temp file + rename)" \
    [ "$(stat -c %i "$T/a.key")" != "$ino_before" ]
V=$("$CLI" --json verify --key "$T/a.key" --pubkey "$KG_DATA/signing.pub")
expect_eq "(a) renewed key verifies offline" "$(echo "$V" | jget valid)" true
expect_eq "(a) renewed key's expiry" "$(echo "$V" | jget support_expiry)" 2027-05-26
expect_eq "(a) renewed key's revision" "$(echo "$V" | jget revision)" 2
expect_eq "(a) store agrees" "$(keyshow "$REGNO_A" support_expiry)" 2027-05-26
A=$(adm --json act show ACT-A)
expect_eq "(a) act show: redeemed by the key, old -> new, kind, price" \
    "$(for f in state regno old_expiry new_expiry kind price; do
	echo "$A" | jget $f; done | tr '\n' ' ')" \
    "redeemed ZHKH8-000001 2026-05-26 2027-05-26 grace 1998.00 "
FIRST_A=$OUT

# ---- the repeat: identical output, no second extension
activate a ACT-A
expect_eq "repeat exits 0" "$RC" 0
expect_eq "repeat output identical" "$OUT" "$FIRST_A"
expect_eq "repeat: no second extension" "$(keyshow "$REGNO_A" support_expiry)" 2027-05-26
expect_eq "repeat: revision unchanged" "$(keyshow "$REGNO_A" revision)" 2
# ... also from the old copy of the key (revision 1).
echo "$key_before" >"$T/a-old.key"
activate a-old ACT-A
expect_eq "repeat with the old key copy" "$OUT" "$FIRST_A"
expect_eq "repeat: still one extension" "$(keyshow "$REGNO_A" support_expiry)" 2027-05-26
expect_eq "repeat: one act.redeem audit record" \
    "$(adm --json audit | "$KG_PY" -c 'import json, sys
print(sum(1 for l in sys.stdin if l.strip() and json.loads(l).get("action") ==
    "act.redeem" and json.loads(l).get("object") == "ACT-A"))')" 1

# ---- another key: act_used (not counted against the rate limit)
d_before=$(cat "$T/d.key")
for i in 1 2 3 4 5 6 7; do
	activate d ACT-A
	[ "$RC" = 12 ] && [ "$(echo "$OUT" | jget reason)" = act_used ] || break
done
expect_eq "act_used by another key (7 times, never rate limited)" \
    "$RC $(echo "$OUT" | jget reason)" "12 act_used"
check "act_used: stderr says why" grep -q "act_used" "$T/err"
expect_eq "act_used: key file untouched" "$(cat "$T/d.key")" "$d_before"
expect_eq "act_used: other key not extended" \
    "$(keyshow ZHKH8-000004 support_expiry)" 2026-05-26

# ---- (b) standard, and (d) the release published while lapsed
C=$(cli --json check --key "$T/b.key" --product ZHKH8 --version 1.0)
expect_eq "(d) before renewal: fallback on 1.0" \
    "$(echo "$C" | jget verdict) $(echo "$C" | jget eligible) $(echo "$C" | jget latest)" \
    "fallback 1.0 2.0"
activate b ACT-B
expect_eq "(b) exits 0" "$RC" 0
expect_eq "(b) kind standard" "$(echo "$OUT" | jget renewal.kind)" standard
expect_eq "(b) price 3596.00" "$(echo "$OUT" | jget renewal.price)" 3596.00
expect_eq "(b) new expiry = today + 12 months" \
    "$(echo "$OUT" | jget support_expiry)" 2027-06-15
C=$(cli --json check --key "$T/b.key" --product ZHKH8 --version 1.0)
rc=$?
expect_eq "(d) after renewal: 2.0 (published while lapsed) is an update" \
    "$rc $(echo "$C" | jget verdict) $(echo "$C" | jget eligible)" "0 update 2.0"

# ---- (c) early
activate c ACT-C
expect_eq "(c) exits 0" "$RC" 0
expect_eq "(c) kind early" "$(echo "$OUT" | jget renewal.kind)" early
expect_eq "(c) price 1998.00" "$(echo "$OUT" | jget renewal.price)" 1998.00
expect_eq "(c) new expiry = old + 12 months" \
    "$(echo "$OUT" | jget support_expiry)" 2027-07-31

# ---- R11: an edition that requires a subscription
# A check quotes a renewal only while the licensee's subscription is valid;
# the PROF key with the same expiry is quoted whatever its subscription.
C=$(cli --json check --key "$T/s.key" --product ZHKH8 --version 1.0)
expect_eq "no subscription: a check quotes nothing" \
    "$(echo "$C" | jget reason) $(echo "$C" | jget quote)" "support_expired "
C=$(cli --json check --key "$T/d.key" --product ZHKH8 --version 1.0)
expect_eq "PROF, no subscription: a check quotes grace" \
    "$(echo "$C" | jget quote.kind) $(echo "$C" | jget quote.price)" \
    "grace 1998.00"
activate s ACT-S1
expect_eq "no subscription: refused" "$RC $(echo "$OUT" | jget reason)" \
    "12 subscription_required"
adm subscription set "Corp Ltd" --until 2026-06-14 >/dev/null
activate s ACT-S1
expect_eq "expired subscription: refused" "$RC $(echo "$OUT" | jget reason)" \
    "12 subscription_required"
adm subscription set "Corp Ltd" --until "$TODAY" >/dev/null
C=$(cli --json check --key "$T/s.key" --product ZHKH8 --version 1.0)
expect_eq "subscription valid today: a check quotes grace" \
    "$(echo "$C" | jget quote.kind) $(echo "$C" | jget quote.price)" \
    "grace 1998.00"
activate s ACT-S1
expect_eq "subscription valid today: renewed" \
    "$RC $(echo "$OUT" | jget reason) $(echo "$OUT" | jget support_expiry)" \
    "0 ok 2027-05-26"

# ---- R12: a revoked key
adm key revoke ZHKH8-000006 --reason "refund" >/dev/null
C=$(cli --json check --key "$T/r.key" --product ZHKH8 --version 1.0)
rc=$?
expect_eq "revoked: check says demo/revoked" \
    "$rc $(echo "$C" | jget verdict) $(echo "$C" | jget reason)" "11 demo revoked"
activate r ACT-R
expect_eq "revoked: activate refused" "$RC $(echo "$OUT" | jget reason)" "12 revoked"
expect_eq "revoked: the key is not extended" \
    "$(keyshow ZHKH8-000006 support_expiry)" 2026-05-26
expect_eq "revoked: the act is still open" "$(actshow ACT-R state)" open

# ---- each refused act has its own reason (5 guesses from 127.0.0.1: the budget)
activate d NO-SUCH-ACT
expect_eq "unknown act" "$RC $(echo "$OUT" | jget reason)" "12 act_unknown"
activate d ACT-V
expect_eq "void act" "$RC $(echo "$OUT" | jget reason)" "12 act_void"
activate d ACT-WP
expect_eq "act of another product" "$RC $(echo "$OUT" | jget reason)" \
    "12 act_wrong_product"
activate d ACT-WE
expect_eq "act of another edition" "$RC $(echo "$OUT" | jget reason)" \
    "12 act_wrong_edition"
activate d ACT-WL
expect_eq "act bound to another licensee" "$RC $(echo "$OUT" | jget reason)" \
    "12 act_wrong_licensee"
# The budget (5 a minute) is spent: the next attempt is locked out.
activate d NO-SUCH-ACT-2
expect_eq "6th guess: rate_limited" "$RC $(echo "$OUT" | jget reason)" \
    "12 rate_limited"
ra=$(echo "$OUT" | jget retry_after)
check "rate_limited carries retry_after 1..12 (got $ra)" \
    [ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 12 ]
check "rate_limited: stderr says when to retry" grep -q "try again in" "$T/err"

# ---- brute force from 127.0.0.3 while 127.0.0.2 renews another key
kgpy - "$KG_PORT" "$KG_DATA/signing.pub" "$T/e.key" \
    "$T/f.key" >"$T/brute.out" <<'EOF'
import sys, kgwire
port, pub = int(sys.argv[1]), kgwire.load_pubkey(sys.argv[2])
ekey, fkey = open(sys.argv[3]).read().strip(), open(sys.argv[4]).read().strip()
bad = kgwire.Client(port, pub, source="127.0.0.3")
good = kgwire.Client(port, pub, source="127.0.0.2")
reasons, waits, good_reply = [], [], None
for i in range(100):
    r = bad.activate(ekey, "GUESS-%04d" % i)
    reasons.append(r.get("reason", r.get("error")))
    if r.get("reason") == "rate_limited":
        waits.append(r["retry_after"])
    if i == 50:
        good_reply = good.activate(fkey, "ACT-G")
print("unknown", reasons.count("act_unknown"))
print("limited", reasons.count("rate_limited"))
print("first_limited", reasons.index("rate_limited"))
print("waits_ok", all(1 <= w <= 12 for w in waits) and len(waits) == reasons.count("rate_limited"))
print("good", good_reply["reason"], good_reply["renewal"]["kind"],
      good_reply["support_expiry"])
# The locked-out address is locked out even with the right act for its key.
r = bad.activate(ekey, "ACT-G")
print("bad_with_used_act", r["reason"])
# A key that does not verify, and a malformed act number (fresh address).
other = kgwire.Client(port, pub, source="127.0.0.4")
print("forged", other.activate("KG1.AAAA.BBBB", "ACT-G")["reason"])
print("malformed", other.activate(fkey, "has space").get("error"))
EOF
expect_eq "brute force: ran" "$?" 0
bf() { grep "^$1 " "$T/brute.out" | cut -d' ' -f2-; }
expect_eq "brute force: 5 guesses answered act_unknown" "$(bf unknown)" 5
expect_eq "brute force: the other 95 rate_limited" "$(bf limited)" 95
expect_eq "brute force: locked out from the 6th" "$(bf first_limited)" 5
expect_eq "brute force: every rate_limited has retry_after 1..12" "$(bf waits_ok)" True
expect_eq "another address with a right act renews meanwhile" "$(bf good)" \
    "ok grace 2027-05-26"
expect_eq "locked-out address stays locked out" "$(bf bad_with_used_act)" rate_limited
expect_eq "the brute-forced key was not extended" \
    "$(keyshow ZHKH8-000007 support_expiry)" 2026-05-26
expect_eq "a key that does not verify: bad_key" "$(bf forged)" bad_key
expect_eq "a malformed act number: bad_request" "$(bf malformed)" bad_request

check "audit --verify passes" adm audit --verify
kg_done
