#!/usr/bin/python3
"""A forging keygate server for tests/integration/test_rotation.sh.

It speaks keygate's wire protocol on 127.0.0.1 port 0 (the bound port goes
to --port-file) but holds no vendor key: it signs every reply with a random
key R of its own. An update check gets a "current" verdict; a
RotationsRequest gets statements meant to make the client trust R:

  forged   one statement "R replaces the vendor's key" that names the
           vendor's key id (--old-pubkey) as its signer but is signed by a
           random key, and one signed by R itself.
  relay    the vendor's genuine statements, fetched from --upstream (the
           real keygated) with a RotationsRequest, but in a reply signed
           by R: genuine statements prove the vendor's new key, not R.

Either way a correct client trusts nothing new and refuses the check. It is
bounded: at most --max-conns connections, --lifetime seconds, and every
socket has a timeout. With --log it appends one line per request
("rotations" for a RotationsRequest). Standard library and python3-nacl only; the protobuf
encoding is kgwire.py's (next to this file), just enough for keygate's
envelopes.
"""
import argparse
import hashlib
import socket
import sys
import threading
import time

from nacl.signing import SigningKey

from kgwire import fbytes, fields, fint, key_id, listen_port_file, \
    load_pubkey, read_frame, request, write_frame


def sign(sk, prefix, data):
    return sk.sign(prefix + b"\0" + data).signature


def statement(signer, new_pk, old_id):
    body = fbytes(1, new_pk) + fbytes(2, old_id) + fint(3, int(time.time()))
    return fbytes(1, body) + fbytes(2, sign(signer, b"keygate-rotation-v1", body))


def frame_read(sock):
    msg = read_frame(sock, 65536)
    if not msg:
        raise EOFError
    return msg


def upstream_statements(addr):
    """The genuine statements the real keygated serves."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        write_frame(s, request("rotations", b"\x07" * 32))
        reply = dict((n, v) for n, _, v in fields(frame_read(s)))
    body = dict((n, v) for n, _, v in fields(reply[1]))
    return [v for n, _, v in fields(body.get(12, b"")) if n == 1]


class Forge:
    def __init__(self, args):
        self.args = args
        self.r = SigningKey.generate()
        self.r_pk = bytes(self.r.verify_key)
        self.rotations = 0

    def statements(self):
        if self.args.mode == "relay":
            return upstream_statements(self.args.upstream)
        old_id = key_id(self.args.old_pk)
        return [statement(SigningKey.generate(), self.r_pk, old_id),
                statement(self.r, self.r_pk, old_id)]

    def answer(self, req):
        nonce, kind = b"", None
        for num, _, v in fields(req):
            if num == 2:
                nonce = v
            elif num in (10, 11, 12, 13):
                kind = num
        if self.args.log:
            with open(self.args.log, "a") as f:
                f.write("rotations\n" if kind == 13 else "request %s\n" % kind)
        if kind == 13:
            self.rotations += 1
            result = fbytes(12, b"".join(fbytes(1, s) for s in self.statements()))
        else:
            verdict = fbytes(1, b"current") + fbytes(2, b"ok") + \
                fbytes(3, b"1.0") + fbytes(4, b"1.0")
            result = fbytes(11, verdict)
        body = fint(1, 1) + fbytes(2, nonce) + \
            fbytes(3, hashlib.blake2b(req, digest_size=32).digest()) + \
            fint(4, int(time.time())) + result
        return fbytes(1, body) + fbytes(2, sign(self.r, b"keygate-reply-v1", body)) + \
            fbytes(3, key_id(self.r_pk))

    def serve(self, conn):
        with conn:
            conn.settimeout(10)
            try:
                while True:
                    write_frame(conn, self.answer(frame_read(conn)))
            except (EOFError, OSError, ValueError):
                pass

    def run(self):
        ls = listen_port_file(self.args.port_file)
        ls.settimeout(0.5)
        deadline = time.time() + self.args.lifetime
        conns = 0
        while time.time() < deadline and conns < self.args.max_conns:
            try:
                conn, _ = ls.accept()
            except socket.timeout:
                continue
            conns += 1
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()
        ls.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--mode", choices=("forged", "relay"), required=True)
    ap.add_argument("--old-pubkey", help="file with the vendor's KGP1 line")
    ap.add_argument("--upstream", help="HOST:PORT of the real keygated (relay)")
    ap.add_argument("--log", help="append one line per request to this file")
    ap.add_argument("--lifetime", type=float, default=60)
    ap.add_argument("--max-conns", type=int, default=8)
    args = ap.parse_args()
    if args.mode == "forged":
        args.old_pk = load_pubkey(args.old_pubkey)
    elif not args.upstream:
        ap.error("--mode relay needs --upstream")
    Forge(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
