#!/usr/bin/env python3
"""cord_ep_replay.py - RIOT's cord_ep (sys/net/application_layer/cord/ep/
cord_ep.c, cord/common/cord_common.c, gcoap.c; RIOT commit c8bd52ff) as it
talks to a Resource Directory, byte for byte, from one UDP port as gcoap
does: the discovery CON GET /.well-known/core?rt=core.rd, the registration
CON POST to the first <...> of that answer (Content-Format 40, then
Uri-Query ep=RIOT-<16 hex> and lt, payload the link list gcoap_encode_link
makes of the examples/networking/cord/cord_ep resources), and the update
CON POST to the Location-Path of the 2.01, no payload. gcoap's framing:
version 1, a 2-byte random token (CONFIG_GCOAP_TOKENLEN), message ids
counting up from a random start, options in number order. gcoap has no
RFC 9175 Echo (coap.h only names the option): a 4.01 fails the step, as it
would fail cord_ep.

usage: cord_ep_replay.py HOST PORT EP LT [STEPS]
STEPS: a comma list of discover, register, update (default all three, in
that order; register needs discover before it, update register). Prints one
line per step:
  step=NAME req=N resp=M code=C.DD [regif=PATH | location=PATH]
(resp: the size of the answer, a separate one if the RD first sent an empty
ACK; that one is ACKed as gcoap does) or "step=NAME timeout", and stops at
the first step that does not succeed as cord_ep needs (exit 1)."""
import os, random, socket, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coap_raw import message, payload, split  # noqa: E402

CON, NON, ACK = 0, 1, 2
LINKS = b"</node/info>,</sense/hum>,</sense/temp>"


class Gcoap:
    def __init__(self, host, port):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_DGRAM)
        self.s.settimeout(5)
        self.dst = (host, port)
        self.mid = random.randrange(65536)

    def request(self, code, path, opts, body=b""):
        """gcoap_req_init + coap_opt_add_*: Uri-Path from path, then opts
        ([(number, value)], in number order), then the payload."""
        tok = random.randrange(65536).to_bytes(2, "little")
        mid = self.mid
        self.mid = (self.mid + 1) & 0xFFFF
        o = [(11, seg.encode()) for seg in path.split("/") if seg] + opts
        return message(CON, code, mid, tok, o, body), mid, tok

    def exchange(self, req, mid, tok):
        """the answer to req (piggybacked, or separate after an empty ACK)"""
        self.s.sendto(req, self.dst)
        while True:
            try:
                d, _ = self.s.recvfrom(65536)
            except socket.timeout:
                return None
            typ, code, rmid, rtok, opts = split(d)
            if typ == ACK and rmid == mid and code == 0:
                continue  # empty ACK: the answer comes separately
            if rtok != tok:
                continue
            if typ == CON:  # gcoap ACKs a separate response
                self.s.sendto(bytes([0x60, 0]) + rmid.to_bytes(2, "big"), self.dst)
            return d, code, opts, payload(d)


def codestr(c):
    return "%d.%02d" % (c >> 5, c & 31)


def uint(v):
    return int.from_bytes(v, "big") if v else 0


def main():
    host, port, ep, lt = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    steps = (sys.argv[5] if len(sys.argv) > 5 else "discover,register,update").split(",")
    g = Gcoap(host, port)
    regif = location = None
    for step in steps:
        if step == "discover":
            req = g.request(0x01, "/.well-known/core", [(15, b"rt=core.rd")])
        elif step == "register":
            q = [(12, bytes([40])), (15, b"ep=" + ep.encode())]
            if lt != "0":  # CONFIG_CORD_LT 0 leaves lt out
                q.append((15, b"lt=" + lt.encode()))
            req = g.request(0x02, regif, q, LINKS)
        elif step == "update":
            req = g.request(0x02, location, [])
        else:
            sys.exit("unknown step " + step)
        ans = g.exchange(*req)
        if ans is None:
            print("step=%s timeout" % step)
            sys.exit(1)
        d, code, opts, body = ans
        line = "step=%s req=%d resp=%d code=%s" % (step, len(req[0]), len(d), codestr(code))
        ok = False
        if step == "discover" and code == 0x45:
            # _on_discover: Content-Format must be 40, the first <...> is
            # the registration interface
            ct = [uint(v) for n, v in opts if n == 12]
            text = body.decode("utf-8", "replace")
            if ct == [40] and "<" in text and ">" in text.split("<", 1)[1]:
                regif = text.split("<", 1)[1].split(">", 1)[0]
                line += " regif=" + regif
                ok = True
        elif step == "register" and code == 0x41:
            # _on_register: the Location-Path options, joined with '/'
            segs = [v.decode() for n, v in opts if n == 8]
            if segs:
                location = "/" + "/".join(segs)
                line += " location=" + location
                ok = True
        elif step == "update" and code == 0x44:
            ok = True
        print(line, flush=True)
        if not ok:
            sys.exit(1)


main()
