#!/usr/bin/python3
"""Independent check of the license key format, following proto/README.md.

Verifies the golden vectors in tests/vectors/license-v1.txt with Debian's
python3-nacl and the standard library only (no keygate code, no protobuf
package): parse the KGP1 public key, strip and split each key text, decode
base64url strictly, check the key id (BLAKE2b-256 of the public key, first 8
bytes) against payload field 10, verify Ed25519 over
b"keygate-license-v1\\x00" + payload, and decode the payload fields by hand.
Altered keys and a signature made in the reply domain must fail.

Environment: KG_SOURCE is the keygate source tree. Prints "N passed, M failed"
and exits nonzero when anything failed.
"""
import base64
import datetime
import hashlib
import os
import sys

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

LICENSE_DOMAIN = b"keygate-license-v1\x00"
REPLY_DOMAIN = b"keygate-reply-v1\x00"
B64URL_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
EPOCH = datetime.date(1970, 1, 1)

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


class KeyFormatError(Exception):
    pass


def b64url_decode(s):
    """README step 4: base64url without padding, strictly."""
    if not s or any(c not in B64URL_ALPHABET for c in s) or len(s) % 4 == 1:
        raise KeyFormatError("not base64url without padding")
    b = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    # Unused low bits must be zero: the canonical re-encoding is the input.
    if base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii") != s:
        raise KeyFormatError("non-zero unused bits")
    return b


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def parse_pubkey(line):
    line = line.strip()
    if not line.startswith("KGP1."):
        raise KeyFormatError("not a KGP1 public key")
    pk = b64url_decode(line[len("KGP1."):])
    if len(pk) != 32:
        raise KeyFormatError("public key is not 32 bytes")
    return pk


def split_key(text):
    """README steps 1-5: strip whitespace, check prefix, split, decode, sizes."""
    text = "".join(c for c in text if c not in " \t\r\n\v\f")
    if not text.startswith("KG1."):
        raise KeyFormatError("prefix")
    parts = text[len("KG1."):].split(".")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise KeyFormatError("prefix")
    payload = b64url_decode(parts[0])
    sig = b64url_decode(parts[1])
    if len(sig) != 64 or not 1 <= len(payload) <= 1024:
        raise KeyFormatError("size")
    return payload, sig


def varint(buf, pos):
    v = 0
    shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise KeyFormatError("bad varint")
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, pos


def proto_fields(buf):
    """Top-level fields of a protobuf message: {number: [values]}."""
    fields = {}
    pos = 0
    while pos < len(buf):
        tag, pos = varint(buf, pos)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, pos = varint(buf, pos)
        elif wt == 2:
            n, pos = varint(buf, pos)
            if n > len(buf) - pos:
                raise KeyFormatError("truncated field")
            v = bytes(buf[pos:pos + n])
            pos += n
        elif wt == 1:
            v = bytes(buf[pos:pos + 8])
            pos += 8
        elif wt == 5:
            v = bytes(buf[pos:pos + 4])
            pos += 4
        else:
            raise KeyFormatError("wire type %d" % wt)
        fields.setdefault(num, []).append(v)
    return fields


def license_fields(payload):
    """LicensePayload by field number (proto/keygate.proto); absent = default."""
    f = proto_fields(payload)

    def last(num, default):
        return f[num][-1] if num in f else default

    return {
        "serial": last(1, 0),
        "product": last(2, b"").decode("utf-8"),
        "edition": last(3, b"").decode("utf-8"),
        "regno": last(4, b"").decode("utf-8"),
        "licensee": last(5, b"").decode("utf-8"),
        "created": last(6, 0),
        "support_expiry": last(7, 0),
        "license_expiry": last(8, 0),
        "trial": last(9, 0) != 0,
        "key_id": last(10, b""),
        "revision": last(11, 0),
        "support_months": last(12, 0),
    }


def verify_key(text, trusted):
    """The whole of README 'To verify a key'; returns the fields or raises."""
    payload, sig = split_key(text)
    fields = license_fields(payload)
    pk = trusted.get(fields["key_id"])
    if pk is None:
        raise KeyFormatError("unknown signer")
    VerifyKey(pk).verify(LICENSE_DOMAIN + payload, sig)
    return fields


def refused(text, trusted):
    try:
        verify_key(text, trusted)
    except (KeyFormatError, BadSignatureError, UnicodeDecodeError):
        return True
    return False


def day_number(s):
    if s == "none":
        return 0
    return (datetime.date.fromisoformat(s) - EPOCH).days


def load_vectors(path):
    top = {}
    vectors = []
    with open(path, encoding="utf-8") as fp:
        for line in fp:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition(": ")
            if not sep:
                raise ValueError("bad line: " + line)
            if name == "vector":
                vectors.append({"name": value})
            elif vectors:
                vectors[-1][name] = value
            else:
                top[name] = value
    return top, vectors


def check_vector(v, pk, key_id, signer, trusted):
    """Every check of one golden vector."""
    name = v["name"]
    key = v["key"]
    payload, sig = split_key(key)
    check(payload.hex() == v["payload"], name + ": payload bytes")
    fields = license_fields(payload)
    check(fields["key_id"] == key_id, name + ": field 10 is the signer's key id")
    try:
        VerifyKey(pk).verify(LICENSE_DOMAIN + payload, sig)
        ok = True
    except BadSignatureError:
        ok = False
    check(ok, name + ": signature verifies")
    # Ed25519 is deterministic: an independent signer gives the same bytes.
    check(signer.sign(LICENSE_DOMAIN + payload).signature == sig,
          name + ": nacl signature equals the key's")

    check(fields["serial"] == int(v["serial"]), name + ": serial")
    for s in ("product", "edition", "regno", "licensee"):
        check(fields[s] == v[s], name + ": " + s)
    for d in ("created", "support_expiry", "license_expiry"):
        check(fields[d] == day_number(v[d]), name + ": " + d)
    check(fields["trial"] == (v["trial"] == "true"), name + ": trial")
    check(fields["revision"] == int(v["revision"]), name + ": revision")
    check(fields["support_months"] == int(v["support_months"]),
          name + ": support_months")
    check(EPOCH + datetime.timedelta(days=fields["created"])
          == datetime.date(2026, 1, 31), name + ": created is 2026-01-31")
    check(fields["created"] == 20484, name + ": created day number 20484")

    # The full procedure, also on the key wrapped over lines.
    check(verify_key(key, trusted) == fields, name + ": verify_key")
    wrapped = "  " + "\r\n  ".join(key[i:i + 20] for i in range(0, len(key), 20)) + "\n"
    check(verify_key(wrapped, trusted) == fields, name + ": wrapped key verifies")

    # Every altered payload byte, signature kept, re-encoded properly: refused.
    bad = 0
    for i in range(len(payload)):
        p = bytearray(payload)
        p[i] ^= 0x01
        if not refused("KG1." + b64url_encode(bytes(p)) + "." + b64url_encode(sig), trusted):
            bad += 1
    check(bad == 0, name + ": every tampered payload byte refused (%d accepted)" % bad)
    s2 = bytearray(sig)
    s2[0] ^= 0x80
    check(refused("KG1." + b64url_encode(payload) + "." + b64url_encode(bytes(s2)), trusted),
          name + ": tampered signature refused")

    # A signature over the same payload in the reply domain is good there,
    # and refused as a license key.
    reply_sig = signer.sign(REPLY_DOMAIN + payload).signature
    try:
        VerifyKey(pk).verify(REPLY_DOMAIN + payload, reply_sig)
        ok = True
    except BadSignatureError:
        ok = False
    check(ok, name + ": reply-domain signature verifies as a reply")
    check(refused("KG1." + b64url_encode(payload) + "." + b64url_encode(reply_sig), trusted),
          name + ": reply-domain signature refused as a license key")

    # Text-level damage.
    check(refused("KG2." + key[4:], trusted), name + ": KG2 prefix refused")
    check(refused(key + "==", trusted), name + ": padding refused")
    check(refused(key + ".AAAA", trusted), name + ": third part refused")
    check(refused(key.replace("-", "+").replace("_", "/"), trusted)
          or ("-" not in key and "_" not in key), name + ": standard base64 refused")


def main():
    src = os.environ.get("KG_SOURCE")
    if not src:
        print("KG_SOURCE is not set")
        return 1
    top, vectors = load_vectors(os.path.join(src, "tests", "vectors", "license-v1.txt"))

    seed = bytes.fromhex(top["seed"])
    check(seed == bytes(range(32)), "seed is 00..1f")
    pk = parse_pubkey(top["pubkey"])
    signer = SigningKey(seed)
    check(bytes(signer.verify_key) == pk, "pubkey line is the seed's public key")
    key_id = hashlib.blake2b(pk, digest_size=32).digest()[:8]
    check(key_id.hex() == top["key_id"], "key_id = BLAKE2b-256(pk)[:8]")
    trusted = {key_id: pk}
    check([v["name"] for v in vectors] == ["perpetual", "activation", "trial"],
          "three vectors")

    for v in vectors:
        try:
            check_vector(v, pk, key_id, signer, trusted)
        except Exception as e:  # a vector that cannot even be read is a failure
            check(False, "%s: %s: %s" % (v.get("name"), type(e).__name__, e))

    # An unknown signer's key is refused.
    other = SigningKey(bytes([0xA5]) * 32)
    payload, _ = split_key(vectors[0]["key"])
    forged = "KG1." + b64url_encode(payload) + "." + b64url_encode(
        other.sign(LICENSE_DOMAIN + payload).signature)
    check(refused(forged, trusted), "key signed by another key refused")

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
