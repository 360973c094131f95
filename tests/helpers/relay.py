#!/usr/bin/env python3
"""relay.py < IN > OUT: what relays such as Postfix (8BITMIME to a 7-bit
peer) and SendGrid do to mail in transit, line by line on the raw bytes:
a part whose Content-Transfer-Encoding is 8bit or binary and whose body
has 8-bit bytes is re-encoded to quoted-printable, and body lines longer
than 76 characters are wrapped (soft line breaks in quoted-printable
parts, hard ones elsewhere).  A signature over 7-bit content with short
lines survives it; one over 8-bit content or long lines does not."""
import quopri
import re
import sys

lines = sys.stdin.buffer.read().split(b"\n")
out, in_headers, hdrs, body, cte = [], True, [], [], b""


def flush_part():
    global hdrs, body
    eight = cte in (b"8bit", b"binary") and any(any(c >= 0x80 for c in l) for l in body)
    if eight:
        hdrs = [re.sub(rb"(?i)^(content-transfer-encoding:\s*)\S+", rb"\1quoted-printable", h) for h in hdrs]
    out.extend(hdrs)
    qp = eight or cte == b"quoted-printable"
    for l in body:
        cr = l.endswith(b"\r")
        l = l[:-1] if cr else l
        if eight:
            l = quopri.encodestring(l).rstrip(b"\n")
        parts = l.split(b"\n") if eight else [l]
        for p in parts:
            while len(p) > 76:
                cut = 75 if qp else 76
                if qp:
                    while cut > 0 and b"=" in p[cut - 2:cut]:
                        cut -= 1
                out.append(p[:cut] + (b"=" if qp else b"") + (b"\r" if cr else b""))
                p = p[cut:]
            out.append(p + (b"\r" if cr else b""))
    hdrs, body = [], []


for l in lines:
    bare = l.rstrip(b"\r")
    if bare.startswith(b"--") and not in_headers:
        flush_part()
        out.append(l)
        in_headers, cte = True, b""
        continue
    if in_headers:
        hdrs.append(l)
        m = re.match(rb"(?i)content-transfer-encoding:\s*(\S+)", bare)
        if m:
            cte = m.group(1).lower()
        if bare == b"":
            in_headers = False
    else:
        body.append(l)
flush_part()
sys.stdout.buffer.write(b"\n".join(out))
