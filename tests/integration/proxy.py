#!/usr/bin/python3
"""A hostile TCP proxy between the keygate CLI and keygated, for tests.

It listens on 127.0.0.1 port 0, writes the bound port to --port-file and
relays keygate frames (4-byte big-endian length + protobuf) to --upstream,
tampering with them as --mode says:

  pass       relay both ways unchanged
  flip-byte  flip one byte in the middle of the signed Reply.body
  swap       forward a different request (another installed version, or an
             extra field) under the client's own nonce, and hand back the
             daemon's genuine signed reply to that other request
  replay     relay the first connection and record its reply; answer every
             later connection with that recorded reply (never contacting
             the daemon again)
  oversize   answer with a frame header announcing 1 MiB
  garbage    answer with a well-sized frame of bytes that are not a Reply
  close      read the request and close the connection without answering
  stall      read the request and never answer (until the client leaves)

It is bounded: it serves at most --max-conns connections and exits after
--lifetime seconds whatever happens, and every socket has a timeout.
Standard library only; the protobuf walking is kgwire.py's (next to this
file), just enough for keygate's Request and Reply envelopes.
"""
import argparse
import socket
import struct
import sys
import threading
import time

from kgwire import fields as fields_decode, fields_encode, listen_port_file, \
    read_frame as frame_read, write_frame as frame_write


def request_other(req):
    """The same request under the same nonce, asking something else."""
    fields = fields_decode(req)
    out = []
    changed = False
    for num, wt, val in fields:
        if num == 10 and wt == 2:  # CheckRequest: change the version
            sub = []
            for snum, swt, sval in fields_decode(val):
                if snum == 3 and swt == 2:
                    sval = b"0.0.1" if sval != b"0.0.1" else b"0.0.2"
                    changed = True
                sub.append((snum, swt, sval))
            val = fields_encode(sub)
        out.append((num, wt, val))
    if not changed:
        out.append((99, 0, 1))  # an unknown field: other bytes, other hash
    return fields_encode(out)


def reply_flip(reply):
    """Flip one byte in the middle of Reply.body (field 1)."""
    out = []
    for num, wt, val in fields_decode(reply):
        if num == 1 and wt == 2 and val:
            b = bytearray(val)
            b[len(b) // 2] ^= 0x01
            val = bytes(b)
        out.append((num, wt, val))
    return fields_encode(out)


class Proxy:
    def __init__(self, args):
        self.args = args
        host, port = args.upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.recorded = None
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + args.lifetime

    def ask(self, up, req):
        frame_write(up, req)
        return frame_read(up)

    def serve(self, conn, first):
        mode = self.args.mode
        conn.settimeout(max(0.1, self.deadline - time.monotonic()))
        up = None
        try:
            while True:
                req = frame_read(conn)
                if req is None:
                    return
                if mode == "replay" and not first:
                    with self.lock:
                        rec = self.recorded
                    if rec is None:
                        return
                    frame_write(conn, rec)
                    continue
                if mode == "close":
                    return
                if mode == "stall":
                    # Answer nothing; stop when the client gives up.
                    conn.settimeout(0.05)
                    while time.monotonic() < self.deadline:
                        try:
                            if not conn.recv(1):
                                return
                        except socket.timeout:
                            pass
                    return
                if mode == "oversize":
                    conn.sendall(struct.pack(">I", 1 << 20))
                    return
                if mode == "garbage":
                    frame_write(conn, bytes(range(7, 7 + 64)))
                    continue
                if up is None:
                    up = socket.create_connection(self.upstream, timeout=10)
                if mode == "swap":
                    req = request_other(req)
                rep = self.ask(up, req)
                if rep is None:
                    return
                if mode == "flip-byte":
                    rep = reply_flip(rep)
                if mode == "replay":
                    with self.lock:
                        if self.recorded is None:
                            self.recorded = rep
                frame_write(conn, rep)
        except (OSError, ValueError) as e:
            print("proxy: connection ended: %s" % e, file=sys.stderr)
        finally:
            conn.close()
            if up is not None:
                up.close()

    def run(self):
        ls = listen_port_file(self.args.port_file)
        threads = []
        served = 0
        while served < self.args.max_conns:
            left = self.deadline - time.monotonic()
            if left <= 0:
                break
            ls.settimeout(left)
            try:
                conn, _ = ls.accept()
            except socket.timeout:
                break
            t = threading.Thread(target=self.serve, args=(conn, served == 0),
                                 daemon=True)
            t.start()
            threads.append(t)
            served += 1
        ls.close()
        for t in threads:
            t.join(max(0.0, self.deadline - time.monotonic()))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="HOST:PORT of keygated")
    p.add_argument("--port-file", required=True)
    p.add_argument("--mode", required=True,
                   choices=["pass", "flip-byte", "swap", "replay", "oversize",
                            "garbage", "close", "stall"])
    p.add_argument("--max-conns", type=int, default=16)
    p.add_argument("--lifetime", type=float, default=60.0)
    Proxy(p.parse_args()).run()


if __name__ == "__main__":
    main()
