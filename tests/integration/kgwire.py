"""keygate's public wire (proto/keygate.proto) for the integration tests.

Standard library only, plus python3-nacl (imported when a signature is first
checked), and no protobuf package: the encoder and decoder below are just
enough for keygate's Request, Reply and the messages inside them. The tests
import it with tests/integration on PYTHONPATH (lib.sh's kgpy / KG_PYTHONPATH)
or, for scripts in this directory, from their own directory.

  encode   varint, field, fbytes, fint, fields_encode
  decode   varint_decode, parse ({number: [value, ...]}), fields ([(n, wt, v)])
  requests request(kind, nonce, protocol=1, **fields) for check, status,
           activate and rotations
  frames   frame, recv_exact, read_frame, write_frame, closed
  replies  reply_open (signature, nonce and request hash verified), verdict,
           error_reason
  keys     load_pubkey, pubkey (the file named by $KG_PUBKEY), key_id
  clients  connect (optionally from a source address), check, Client
  servers  listen_port_file (a listener on 127.0.0.1 port 0, its port in a file)
  metrics  metrics (the samples of one scrape of keygated's /metrics)
"""
import base64
import datetime
import hashlib
import os
import socket
import struct

REPLY_DOMAIN = b"keygate-reply-v1\x00"
REPLY_BATCH_DOMAIN = b"keygate-reply-batch-v1\x00"
LICENSE_DOMAIN = b"keygate-license-v1\x00"
EPOCH = datetime.date(1970, 1, 1)
FRAME_MAX = 1 << 20

# ---- encoding


def varint(n):
    """A protobuf varint (negative numbers as their 64-bit two's complement)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def fbytes(num, b):
    """A length-delimited field (bytes, or str as UTF-8)."""
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def fint(num, v):
    """A varint field."""
    return varint(num << 3) + varint(v)


def field(num, v):
    """fint for an int, fbytes for anything else."""
    return fint(num, v) if isinstance(v, int) else fbytes(num, v)


def fields_encode(fields):
    """The inverse of fields(): [(number, wire type, value)] to bytes."""
    out = bytearray()
    for num, wt, val in fields:
        out += varint(num << 3 | wt)
        if wt == 0:
            out += varint(val)
        elif wt == 2:
            out += varint(len(val)) + val
        else:
            out += val
    return bytes(out)

# ---- decoding


def varint_decode(buf, pos):
    """The varint at pos: (value, new pos); ValueError when it is bad."""
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def fields(buf):
    """A message's fields in order: [(number, wire type, value)]."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = varint_decode(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = varint_decode(buf, pos)
        elif wt == 2:
            n, pos = varint_decode(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated field")
            val, pos = bytes(buf[pos:pos + n]), pos + n
        elif wt == 1:
            val, pos = bytes(buf[pos:pos + 8]), pos + 8
        elif wt == 5:
            val, pos = bytes(buf[pos:pos + 4]), pos + 4
        else:
            raise ValueError("unexpected wire type %d" % wt)
        out.append((num, wt, val))
    return out


def parse(buf):
    """A message's fields: {number: [value, ...]}."""
    out = {}
    for num, _, val in fields(buf):
        out.setdefault(num, []).append(val)
    return out


def _s(m, no):
    return m[no][-1].decode() if no in m else ""


def _i(m, no):
    v = m[no][-1] if no in m else 0
    return v - (1 << 64) if v >= 1 << 63 else v


def _day(n):
    return None if n == 0 else (EPOCH + datetime.timedelta(days=n)).isoformat()

# ---- requests


BODY = {"check": (10, ("key", "product", "version", "target")),
        "status": (11, ("key",)),
        "activate": (12, ("key", "act")),
        "rotations": (13, ())}


def request(kind, nonce, protocol=1, **kw):
    """A Request{protocol, nonce, KIND{fields}}: kind is check (key,
    product, version, target), status (key), activate (key, act) or
    rotations; empty fields are left out."""
    num, names = BODY[kind]
    body = b"".join(field(i + 1, kw[n]) for i, n in enumerate(names)
                    if kw.get(n))
    return fint(1, protocol) + fbytes(2, nonce) + fbytes(num, body)

# ---- frames


def frame(msg):
    return struct.pack(">I", len(msg)) + msg


def write_frame(sock, msg):
    sock.sendall(frame(msg))


def recv_exact(sock, n):
    """n bytes from sock; None when the peer closes first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(sock, limit=FRAME_MAX):
    """One frame's message; None when the peer closed (or reset).
    ValueError when the frame announces more than limit bytes."""
    try:
        hdr = recv_exact(sock, 4)
        if hdr is None:
            return None
        (n,) = struct.unpack(">I", hdr)
        if n > limit:
            raise ValueError("frame of %d bytes" % n)
        return recv_exact(sock, n)
    except ConnectionResetError:
        return None


def closed(sock):
    """True when the server closed the connection (EOF or reset)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True

# ---- keys


def load_pubkey(path):
    """The 32 key bytes of a KGP1 public key file."""
    s = open(path).read().split()[0]
    if not s.startswith("KGP1."):
        raise ValueError("%s: not a KGP1 public key" % path)
    s = s[5:]
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def pubkey():
    """The public key in the file $KG_PUBKEY names."""
    return load_pubkey(os.environ["KG_PUBKEY"])


def key_id(pk):
    return hashlib.blake2b(pk, digest_size=32).digest()[:8]


_vks = {}


def _verify(pk, domain, data, sig):
    from nacl.signing import VerifyKey
    vk = _vks.get(pk)
    if vk is None:
        vk = _vks[pk] = VerifyKey(pk)
    vk.verify(domain + data, sig)


def license_payload(text, pk):
    """Verify a KG1 license key's signature; return its payload's fields."""
    p, s = text.strip()[len("KG1."):].split(".")
    payload = base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))
    sig = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    _verify(pk, LICENSE_DOMAIN, payload, sig)
    return parse(payload)

# ---- replies


def verdict(v):
    """A Verdict message (parsed) as a dict."""
    d = {"verdict": _s(v, 1), "reason": _s(v, 2), "eligible": _s(v, 3),
         "latest": _s(v, 4), "support_expiry": _day(_i(v, 5)),
         "license_expiry": _day(_i(v, 6)), "days_left": _i(v, 7),
         "key": _s(v, 9), "regno": _s(v, 10), "state": _s(v, 14),
         "detail": _s(v, 15), "retry_after": _i(v, 17), "renewal": None}
    if 16 in v:
        r = parse(v[16][-1])
        d["renewal"] = {"kind": _s(r, 1), "price": _i(r, 2),
                        "new_expiry": _day(_i(r, 3)), "months": _i(r, 4),
                        "act": _s(r, 5)}
    return d


class ReplyError(ValueError):
    pass


def _h(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def batch_root(body, index, path):
    """The Merkle root a batched reply's body, index and path lead to
    (proto/README.md "Batched reply signatures")."""
    if len(path) > 10 or index >> len(path):
        raise ReplyError("batch path too short for its index")
    h = _h(b"\x00" + body)
    for i, sib in enumerate(path):
        if len(sib) != 32:
            raise ReplyError("batch path hash of %d bytes" % len(sib))
        h = _h(b"\x01" + sib + h) if index >> i & 1 else _h(b"\x01" + h + sib)
    return h


def reply_open(msg, pk=None, nonce=None, req=None):
    """Verify a Reply's signature (with pk, default pubkey()) and, when
    given, that it echoes nonce and carries req's hash; return its body as
    {protocol, nonce, request_hash, server_time} plus "error": {reason,
    detail} or "verdict": verdict(). Raises on a forgery or a mismatch."""
    rep = parse(msg)
    body, sig = rep[1][-1], rep[2][-1]
    index, path = rep.get(4, [0])[-1], rep.get(5, [])
    pk = pk if pk is not None else pubkey()
    if not path:
        if index != 0:
            raise ReplyError("batch_index without batch_path")
        _verify(pk, REPLY_DOMAIN, body, sig)
    else:
        _verify(pk, REPLY_BATCH_DOMAIN, batch_root(body, index, path), sig)
    b = parse(body)
    out = {"protocol": b.get(1, [0])[-1], "nonce": b.get(2, [b""])[-1],
           "request_hash": b.get(3, [b""])[-1], "server_time": _i(b, 4),
           "batch_index": index, "batch_depth": len(path)}
    if nonce is not None and out["nonce"] != nonce:
        raise ReplyError("nonce not echoed")
    if req is not None and out["request_hash"] != \
            hashlib.blake2b(req, digest_size=32).digest():
        raise ReplyError("request hash mismatch")
    if 10 in b:
        e = parse(b[10][-1])
        out["error"] = {"reason": _s(e, 1), "detail": _s(e, 2)}
    if 11 in b:
        out["verdict"] = verdict(parse(b[11][-1]))
    if 12 in b:
        out["statements"] = parse(b[12][-1]).get(1, [])
    return out


def error_reason(data, pk=None):
    """The reason of the signed Error reply that the bytes data (frames as
    read from a socket) start with, or None."""
    if len(data) < 4:
        return None
    (n,) = struct.unpack(">I", data[:4])
    if len(data) < 4 + n:
        return None
    r = reply_open(data[4:4 + n], pk)
    return r["error"]["reason"] if "error" in r else None

# ---- clients


def connect(port=None, timeout=10, source=None):
    """A connection to keygated on 127.0.0.1 (port default $KG_PORT),
    optionally from the local address source."""
    if port is None:
        port = int(os.environ["KG_PORT"])
    return socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0) if source else None)


def check(sock, key, product, version, pk=None):
    """One check on sock; its verdict dict (raises on a forgery, an Error
    reply or a close)."""
    nonce = os.urandom(16)
    req = request("check", nonce, key=key, product=product, version=version)
    write_frame(sock, req)
    msg = read_frame(sock)
    if msg is None:
        raise ReplyError("connection closed before the reply")
    r = reply_open(msg, pk, nonce, req)
    if "verdict" not in r:
        raise ReplyError("no verdict: %r" % (r.get("error"),))
    return r["verdict"]


class Client:
    """One connection to keygated, optionally from a chosen source address.
    Each request's reply is verified (signature, nonce, request hash) and
    returned as a verdict dict, or {"error": reason, "detail": detail}."""

    def __init__(self, port, pk, source=None, timeout=20):
        self.pk = pk
        self.sock = connect(port, timeout, source)

    def close(self):
        self.sock.close()

    def request(self, kind, **kw):
        nonce = os.urandom(16)
        msg = request(kind, nonce, **kw)
        write_frame(self.sock, msg)
        rep = read_frame(self.sock)
        if rep is None:
            raise ConnectionError("connection closed")
        r = reply_open(rep, self.pk, nonce, msg)
        if "error" in r:
            return {"error": r["error"]["reason"], "detail": r["error"]["detail"]}
        if "verdict" not in r:
            raise ReplyError("reply without a result")
        return r["verdict"]

    def activate(self, key, act):
        return self.request("activate", key=key, act=act)

    def status(self, key):
        return self.request("status", key=key)

    def check(self, key, product, version, target=None):
        return self.request("check", key=key, product=product,
                            version=version, target=target)


# ---- servers (fakes and proxies)


def listen_port_file(port_file, backlog=16):
    """A listening socket on 127.0.0.1 port 0; its port is written to
    port_file (a temporary file renamed into place, so a reader never sees
    it half written)."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(backlog)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(port_file + ".tmp", port_file)
    return ls


# ---- metrics


def metrics(prefix="", port=None):
    """{sample name with its labels: value} of one scrape of keygated's
    /metrics on 127.0.0.1 (port default $KG_MPORT), for the samples whose
    names start with prefix."""
    import urllib.request
    if port is None:
        port = int(os.environ["KG_MPORT"])
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                  timeout=10).read().decode()
    return {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1])
            for l in body.splitlines() if l.startswith(prefix)}
