#!/usr/bin/env python3
"""udp_raw.py - one raw CoAP request over UDP, for the amplification test.

usage: udp_raw.py HOST PORT SRCPORT TYPE PATH [QUERY] [ECHOHEX] [METHOD]
Sends one request (METHOD GET, POST, PUT or DELETE; GET when not given;
TYPE CON or NON, token 0x4242) from SRCPORT (0 = any) with
Uri-Path segments from PATH, an optional Uri-Query and an optional Echo,
waits at most 3 s for the first non-empty answer and prints
  "req=N resp=M code=C.DD echo=HEX"  (echo= empty when the answer has none)
or "timeout". Exit 0 either way (the test asserts on the line)."""
import os, random, socket, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coap_raw import opt, split  # noqa: E402

METHODS = {"GET": 1, "POST": 2, "PUT": 3, "DELETE": 4}

def request(typ, path, query, echo, method=1):
    opts, last = [], 0
    o = [(11, s.encode()) for s in path.strip("/").split("/") if s]
    if query:
        o.append((15, query.encode()))
    if echo:
        o.append((252, bytes.fromhex(echo)))
    b = bytearray([0x40 | (typ << 4) | 2, method]) + random.randrange(65536).to_bytes(2, "big") + b"BB"
    for num, val in o:
        b += opt(num - last, val)
        last = num
    return bytes(b)

def parse(d):
    _, code, _, _, opts = split(d)
    echo = "".join(v.hex() for n, v in opts if n == 252)
    return "%d.%02d" % (code >> 5, code & 31), echo

def main():
    a = sys.argv[1:]
    host, port, sport, typ, path = a[0], int(a[1]), int(a[2]), a[3], a[4]
    query = a[5] if len(a) > 5 else ""
    echo = a[6] if len(a) > 6 else ""
    method = METHODS[a[7]] if len(a) > 7 else 1
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, sport))
    req = request(0 if typ == "CON" else 1, path, query, echo, method)
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
