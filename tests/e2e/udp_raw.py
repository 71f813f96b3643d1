#!/usr/bin/env python3
"""udp_raw.py - one raw CoAP request over UDP, for the amplification test.

usage: udp_raw.py HOST PORT SRCPORT TYPE PATH [QUERY] [ECHOHEX]
Sends one GET (TYPE CON or NON, token 0x4242) from SRCPORT (0 = any) with
Uri-Path segments from PATH, an optional Uri-Query and an optional Echo,
waits at most 3 s for the first non-empty answer and prints
  "req=N resp=M code=C.DD echo=HEX"  (echo= empty when the answer has none)
or "timeout". Exit 0 either way (the test asserts on the line)."""
import socket, sys, random

def opt(delta, val):
    out = bytearray()
    def ext(v):
        if v < 13: return v, b""
        if v < 269: return 13, bytes([v - 13])
        return 14, (v - 269).to_bytes(2, "big")
    d, de = ext(delta)
    l, le = ext(len(val))
    out.append(d << 4 | l)
    return bytes(out) + de + le + val

def request(typ, path, query, echo):
    opts, last = [], 0
    o = [(11, s.encode()) for s in path.strip("/").split("/") if s]
    if query:
        o.append((15, query.encode()))
    if echo:
        o.append((252, bytes.fromhex(echo)))
    b = bytearray([0x40 | (typ << 4) | 2, 1]) + random.randrange(65536).to_bytes(2, "big") + b"BB"
    for num, val in o:
        b += opt(num - last, val)
        last = num
    return bytes(b)

def parse(d):
    tkl = d[0] & 15
    code = "%d.%02d" % (d[1] >> 5, d[1] & 31)
    i, num, echo = 4 + tkl, 0, ""
    while i < len(d) and d[i] != 0xFF:
        dl, ln = d[i] >> 4, d[i] & 15
        i += 1
        vals = []
        for v in (dl, ln):
            if v == 13:
                v = d[i] + 13; i += 1
            elif v == 14:
                v = int.from_bytes(d[i:i + 2], "big") + 269; i += 2
            vals.append(v)
        num += vals[0]
        if num == 252:
            echo = d[i:i + vals[1]].hex()
        i += vals[1]
    return code, echo

def main():
    a = sys.argv[1:]
    host, port, sport, typ, path = a[0], int(a[1]), int(a[2]), a[3], a[4]
    query = a[5] if len(a) > 5 else ""
    echo = a[6] if len(a) > 6 else ""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, sport))
    req = request(0 if typ == "CON" else 1, path, query, echo)
    s.sendto(req, (host, port))
    s.settimeout(3)
    try:
        while True:
            d, _ = s.recvfrom(2048)
            if d[1] != 0:  # skip empty ACKs
                break
    except socket.timeout:
        print("timeout")
        return
    code, e = parse(d)
    print("req=%d resp=%d code=%s echo=%s" % (len(req), len(d), code, e))

main()
