#!/usr/bin/env python3
"""udp_flood.py - hostile UDP traffic for test_rd_bad_input_flood.sh (the
bad-input table of issue 19). Three modes, each bounded in time:

  udp_flood.py hole HOST PORT EP SECONDS
      an endpoint that never answers a request: registers EP (POST
      /rd?ep=EP&proxy=yes from its own socket, repeating the request with
      the Echo of a 4.01), prints "registered", then for SECONDS answers
      only CoAP pings (empty CON -> RST, so the relay's keepalive keeps the
      route up) and acknowledges nothing else: every proxied request to EP
      stays in flight at the relay.
  udp_flood.py tokens HOST PORT URIHOST N
      one client (one socket, so one source) with N requests in flight at
      once: CON GET /x with Uri-Host URIHOST, each under its own token and
      message id, sent in batches of 100 (answers read in between, so
      neither socket buffer overflows); then reads answers until 3 s pass
      without one. Prints "sent N answered A c503 C diag D other O" (C:
      5.03 answers, D: of those, how many carry a prefix of the
      in-flight-per-source diagnostic) and exits 0.
  udp_flood.py garbage HOST PORT RATE SECONDS
      RATE datagrams per second of garbage for SECONDS, paced in 1 ms
      slices, from one socket: a mix of random bytes, truncated headers,
      TKL 9..15, option delta 15, a payload marker with no payload (the
      CON ones draw a RST, which is read and thrown away). Prints "sent N
      seconds S rate R" (R: what was reached) and exits 0.
"""
import os, random, select, socket, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coap_raw import message as msg, split  # noqa: E402

DIAG = b"too many requests in flight from this source"


def sock_for(host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    return s


def hole(host, port, ep, seconds):
    s = sock_for(host)
    s.bind(("127.0.0.1" if ":" not in host else "::1", 0))
    dst = (host, port)
    q = [(11, b"rd"), (15, ("ep=" + ep).encode()), (15, b"proxy=yes")]
    echo = None
    end = time.time() + 15
    registered = False
    while not registered and time.time() < end:
        o = q + [(12, b"\x28")] + ([(252, echo)] if echo is not None else [])
        o.sort(key=lambda x: x[0])  # stable: the Uri-Query options keep their order
        s.sendto(msg(0, 2, random.randrange(65536), b"HO", o, b"</x>"), dst)
        r, _, _ = select.select([s], [], [], 2)
        if not r:
            continue
        d, _ = s.recvfrom(2048)
        typ, code, mid, tok, opts = split(d)
        if code == 0x41:  # 2.01
            registered = True
        elif code == 0x81:  # 4.01 + Echo: repeat with it
            echo = dict(opts).get(252, echo)
    if not registered:
        print("not registered")
        return 1
    print("registered", flush=True)
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([s], [], [], 0.5)
        if not r:
            continue
        d, src = s.recvfrom(2048)
        if len(d) >= 4 and (d[0] >> 4) & 3 == 0 and d[1] == 0:  # CoAP ping
            s.sendto(bytes([0x70, 0, d[2], d[3]]), src)
    return 0


def tokens(host, port, uri_host, n):
    s = sock_for(host)
    dst = (host, port)
    answered, c503, diag, other = set(), 0, 0, 0

    def drain(wait):
        nonlocal c503, diag, other
        while True:
            r, _, _ = select.select([s], [], [], wait)
            if not r:
                return
            d, _ = s.recvfrom(2048)
            if len(d) < 4 or d[1] == 0:
                continue  # an empty ACK: a request waiting upstream
            typ, code, mid, tok, opts = split(d)
            if typ == 0:  # a separate response: acknowledge it
                s.sendto(bytes([0x60, 0, d[2], d[3]]), dst)
            if tok in answered:
                continue
            answered.add(tok)
            if code == 0xA3:  # 5.03
                c503 += 1
                rest = d[4 + len(tok):]
                pay = rest.split(b"\xff", 1)[1] if b"\xff" in rest else b""
                if pay and DIAG.startswith(pay):
                    diag += 1
            else:
                other += 1
            wait = 0

    opts = [(3, uri_host.encode()), (11, b"x")]
    for k in range(n):
        s.sendto(msg(0, 1, k & 0xFFFF, k.to_bytes(4, "big"), opts), dst)
        if k % 100 == 99:
            drain(0.01)
    end = time.time() + 60
    last = len(answered)
    while time.time() < end:
        drain(3)
        if len(answered) == last:
            break
        last = len(answered)
    print("sent %d answered %d c503 %d diag %d other %d" % (n, len(answered), c503, diag, other))
    return 0


def garbage(host, port, rate, seconds):
    s = sock_for(host)
    s.setblocking(False)
    dst = (host, port)
    rnd = random.Random(19)
    kinds = [
        bytes(rnd.randrange(256) for _ in range(20)),  # random
        b"\x40\x01",  # truncated header
        b"\x49\x01\x00\x01" + b"T" * 8,  # CON, TKL 9
        b"\x4f\x01\x00\x02",  # CON, TKL 15
        b"\x40\x01\x00\x03\xf1\x00",  # option delta 15 (not the marker)
        b"\x40\x01\x00\x04\xff",  # payload marker, no payload
        b"\x50\x01\x00\x05\xb1",  # NON, truncated option
    ]
    pool = [k + bytes([i & 255]) if i % 7 == 0 else k for i, k in enumerate(kinds * 16)]
    per_ms = max(1, rate // 1000)
    sent, t0 = 0, time.perf_counter()
    end = t0 + seconds
    i = 0
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        due = int((now - t0) * rate)
        burst = min(due - sent, per_ms * 4)
        for _ in range(burst):
            try:
                s.sendto(pool[i % len(pool)], dst)
                sent += 1
            except BlockingIOError:
                break
            i += 1
        try:
            while True:
                s.recv(2048)  # RSTs
        except BlockingIOError:
            pass
        if burst <= 0:
            time.sleep(0.0005)
    took = time.perf_counter() - t0
    print("sent %d seconds %.2f rate %d" % (sent, took, int(sent / took)))
    return 0


def main():
    a = sys.argv[1:]
    if a[0] == "hole":
        return hole(a[1], int(a[2]), a[3], float(a[4]))
    if a[0] == "tokens":
        return tokens(a[1], int(a[2]), a[3], int(a[4]))
    if a[0] == "garbage":
        return garbage(a[1], int(a[2]), int(a[3]), float(a[4]))
    print(__doc__)
    return 2


sys.exit(main())
