#!/usr/bin/python3
"""Independent check of batched reply signatures, following proto/README.md
("Batched reply signatures") literally with python3-nacl and hashlib only.

kg_merkle_batch N (a helper built from tests/tools) signs batches of 1, 2, 3
and 64 made-up reply bodies the way keygated's batched form does; every
reply must verify with the README's reader, and forged ones (a wrong
sibling, a wrong index, siblings in swapped order, another reply's body, the
batch signature taken as a direct one) must not.

Environment: KG_BUILD is the build dir. Prints "N passed, M failed" and
exits nonzero when anything failed.
"""
import hashlib
import os
import subprocess
import sys
from types import SimpleNamespace

import nacl.exceptions
import nacl.signing

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


# ---- the README's reader, as printed there ----
def H(b): return hashlib.blake2b(b, digest_size=32).digest()


def reply_verify(verify_key: nacl.signing.VerifyKey, reply) -> None:
    """reply: a decoded Reply; raises nacl.exceptions.BadSignatureError."""
    if not reply.batch_path:
        if reply.batch_index != 0:
            raise nacl.exceptions.BadSignatureError("index without a path")
        verify_key.verify(b"keygate-reply-v1\0" + reply.body, reply.signature)
        return
    if len(reply.batch_path) > 10 or reply.batch_index >> len(reply.batch_path):
        raise nacl.exceptions.BadSignatureError("impossible path")
    h = H(b"\x00" + reply.body)
    for i, sib in enumerate(reply.batch_path):
        if len(sib) != 32:
            raise nacl.exceptions.BadSignatureError("bad path entry")
        h = H(b"\x01" + sib + h) if reply.batch_index >> i & 1 else H(b"\x01" + h + sib)
    verify_key.verify(b"keygate-reply-batch-v1\0" + h, reply.signature)
# ---- end of the README's reader ----


def verifies(vk, reply):
    try:
        reply_verify(vk, reply)
        return True
    except nacl.exceptions.BadSignatureError:
        return False


def batch(n):
    tool = os.path.join(os.environ["KG_BUILD"], "tests", "kg_merkle_batch")
    out = subprocess.run([tool, str(n)], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    vk = nacl.signing.VerifyKey(bytes.fromhex(out[0].split()[1]))
    replies = []
    for line in out[1:]:
        _, idx, body, sig, path = line.split()
        replies.append(SimpleNamespace(
            batch_index=int(idx), body=bytes.fromhex(body),
            signature=bytes.fromhex(sig),
            batch_path=[] if path == "-" else [bytes.fromhex(p) for p in path.split(",")]))
    return vk, replies


def forged(r, **kw):
    d = dict(vars(r))
    d.update(kw)
    return SimpleNamespace(**d)


for n, depth in ((1, 0), (2, 1), (3, 2), (64, 6)):
    vk, replies = batch(n)
    check(len(replies) == n, "batch %d: %d replies" % (n, len(replies)))
    check(all(len(r.batch_path) == depth for r in replies),
          "batch %d: every path has %d entries" % (n, depth))
    check(all(verifies(vk, r) for r in replies), "batch %d: every reply verifies" % n)
    check(len({r.signature for r in replies}) == 1, "batch %d: one signature" % n)
    if n == 1:
        continue
    r = replies[n - 1]
    bad = bytearray(r.batch_path[0])
    bad[0] ^= 1
    check(not verifies(vk, forged(r, batch_path=[bytes(bad)] + r.batch_path[1:])),
          "batch %d: a wrong sibling is refused" % n)
    check(not verifies(vk, forged(r, batch_index=r.batch_index ^ 1)),
          "batch %d: a wrong index is refused" % n)
    check(not verifies(vk, forged(r, body=replies[0].body)),
          "batch %d: another reply's body is refused" % n)
    check(not verifies(vk, forged(r, batch_path=[], batch_index=0)),
          "batch %d: the batch signature is no direct signature" % n)
    if depth >= 2:
        p = r.batch_path
        check(not verifies(vk, forged(r, batch_path=[p[1], p[0]] + p[2:])),
              "batch %d: siblings in swapped order are refused" % n)
        check(not verifies(vk, forged(r, batch_path=p[:-1])),
              "batch %d: a path too short for its index is refused" % n)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
