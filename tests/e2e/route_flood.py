#!/usr/bin/env python3
"""route_flood.py - many route changes, fast, for test_chaos_scale.sh's
forced ZeroMQ overflow: registers K proxied endpoints (POST
/rd?ep=PREFIXk&proxy=yes) from one UDP socket, then sends N updates
(CON POST /reg/X, no payload: rd-frontend publishes a ROUTE_UPDATE for
each, since the registrations are proxied), W in flight, round robin over
the K registrations. A request without an answer for 2 s is sent again
under a new message id and token (counted). Separate CON responses are
acknowledged.

usage: route_flood.py HOST PORT PREFIX K N [W]
prints "registered K", then "updates N ok M resent R seconds S";
exit 0 when every update got 2.04, 1 otherwise."""
import os, select, socket, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coap_raw import message, split  # noqa: E402


def request(mid, tok, path, query=(), payload=b""):
    o = [(11, s.encode()) for s in path.strip("/").split("/") if s]
    if payload:
        o.append((12, bytes([40])))
    o += [(15, q.encode()) for q in query]
    return message(0, 0x02, mid, tok, o, payload)


def parse(d):
    """(type, code, mid, token, location path)"""
    typ, code, mid, tok, opts = split(d)
    return typ, code, mid, tok, "/" + "/".join(v.decode() for n, v in opts if n == 8)


class Flood:
    def __init__(self, host, port):
        self.dst = (host, port)
        self.s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                               socket.SOCK_DGRAM)
        self.s.bind((host, 0))
        self.mid = int.from_bytes(os.urandom(2), "big")
        self.ntok = 0
        self.out = {}  # token -> (sent at, path, query, payload, tag)
        self.resent = 0

    def send(self, path, query=(), payload=b"", tag=None):
        self.mid = (self.mid + 1) & 0xFFFF
        self.ntok += 1
        tok = self.ntok.to_bytes(4, "big")
        self.out[tok] = (time.monotonic(), path, query, payload, tag)
        self.s.sendto(request(self.mid, tok, path, query, payload), self.dst)

    def poll(self, timeout):
        """answers [(tag, code, location)] that arrived within timeout"""
        got = []
        r, _, _ = select.select([self.s], [], [], timeout)
        while r:
            d, _ = self.s.recvfrom(2048)
            if len(d) >= 4:
                typ, code, mid, tok, loc = parse(d)
                if typ == 0:  # CON separate response: acknowledge it
                    self.s.sendto(bytes([0x60, 0, d[2], d[3]]), self.dst)
                if code != 0 and tok in self.out:
                    got.append((self.out.pop(tok)[4], code, loc))
            r, _, _ = select.select([self.s], [], [], 0)
        now = time.monotonic()
        for tok, (at, path, query, payload, tag) in list(self.out.items()):
            if now - at > 2.0:
                del self.out[tok]
                self.resent += 1
                self.send(path, query, payload, tag)
        return got


def main():
    a = sys.argv[1:]
    host, port, prefix, k, n = a[0], int(a[1]), a[2], int(a[3]), int(a[4])
    w = int(a[5]) if len(a) > 5 else 64
    f = Flood(host, port)
    paths = {}
    for i in range(k):
        f.send("/rd", ("ep=%s%d" % (prefix, i), "proxy=yes", "lt=3600"), b"</f>", i)
    end = time.monotonic() + 30
    while len(paths) < k and time.monotonic() < end:
        for tag, code, loc in f.poll(0.2):
            if code == 0x41:  # 2.01
                paths[tag] = loc
            else:
                print("registration %d: code %d.%02d" % (tag, code >> 5, code & 31))
                return 1
    if len(paths) < k:
        print("registered %d of %d" % (len(paths), k))
        return 1
    print("registered %d" % k, flush=True)
    t0, sent, done, bad = time.monotonic(), 0, 0, 0
    end = t0 + 600
    while done < n and time.monotonic() < end:
        while sent < n and len(f.out) < w:
            f.send(paths[sent % k], tag=sent)
            sent += 1
        for tag, code, loc in f.poll(0.5):
            done += 1
            bad += code != 0x44  # 2.04
    print("updates %d ok %d resent %d seconds %.1f" % (n, done - bad, f.resent,
                                                      time.monotonic() - t0))
    return 0 if done == n and bad == 0 else 1


sys.exit(main())
