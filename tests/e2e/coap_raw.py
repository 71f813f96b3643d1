"""coap_raw.py - CoAP over UDP by hand (RFC 7252 §3), for the test scripts
that need datagrams libcoap's clients do not send (udp_raw.py,
route_flood.py, udp_flood.py, cord_ep_replay.py): encode one option or a
whole message, split a datagram into its header fields, options and
payload. Owns nothing; talks to nothing."""


def opt(delta, val):
    """one option: delta from the previous option number, value bytes"""
    def ext(v):
        if v < 13:
            return v, b""
        if v < 269:
            return 13, bytes([v - 13])
        return 14, (v - 269).to_bytes(2, "big")
    d, de = ext(delta)
    ln, le = ext(len(val))
    return bytes([d << 4 | ln]) + de + le + val


def message(typ, code, mid, tok, opts, payload=b""):
    """one datagram: type (0 CON .. 3 RST), code byte, message id, token,
    [(option number, value)] in ascending order, payload"""
    b = bytearray([0x40 | typ << 4 | len(tok), code]) + mid.to_bytes(2, "big") + tok
    last = 0
    for num, val in opts:
        b += opt(num - last, val)
        last = num
    if payload:
        b += b"\xff" + payload
    return bytes(b)


def walk(d):
    """([(option number, value)], offset of the payload marker or the end)"""
    tkl = d[0] & 15
    out, i, num = [], 4 + tkl, 0
    while i < len(d) and d[i] != 0xFF:
        dl, ln = d[i] >> 4, d[i] & 15
        i += 1
        vals = []
        for v in (dl, ln):
            if v == 13:
                v = d[i] + 13
                i += 1
            elif v == 14:
                v = int.from_bytes(d[i:i + 2], "big") + 269
                i += 2
            vals.append(v)
        num += vals[0]
        out.append((num, d[i:i + vals[1]]))
        i += vals[1]
    return out, i


def split(d):
    """(type, code byte, message id, token, [(option number, value)])"""
    tkl = d[0] & 15
    return (d[0] >> 4) & 3, d[1], int.from_bytes(d[2:4], "big"), d[4:4 + tkl], walk(d)[0]


def payload(d):
    """the payload after the marker (b"" when there is none)"""
    return d[walk(d)[1] + 1:]
