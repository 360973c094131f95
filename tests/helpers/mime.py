#!/usr/bin/env python3
"""Test helper: take S/MIME messages apart and build them, byte for byte,
without any S/MIME library, so that tests can hand smz-sign's output to
other tools and other tools' output to smz-sign.

  mime.py split MSG CONTENT SIG   multipart/signed: signed part (CRLF), DER signature
  mime.py body MSG OUT            single-part message: base64 body decoded
  mime.py signed HDRS CONTENT SIG build multipart/signed from headers, content, DER
  mime.py p7m HDRS DER TYPE       build application/pkcs7-mime (smime-type TYPE)
  mime.py swapcert SIG OLD NEW OUT  replace a certificate (DER files) in a SignedData
  mime.py nest N OUT              a message N multiparts deep
"""
import base64
import re
import sys


def crlf(b):
    return b.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')


def split(msg, content_out, sig_out):
    raw = open(msg, 'rb').read().replace(b'\r\n', b'\n')
    head, body = raw.split(b'\n\n', 1)
    b = b'--' + re.search(rb'boundary="?([^";\s]+)"?', head).group(1)
    parts = body.split(b'\n' + b + b'\n')
    content = parts[1]
    sig = parts[2].split(b'\n' + b + b'--')[0].split(b'\n\n', 1)[1]
    open(content_out, 'wb').write(crlf(content))
    open(sig_out, 'wb').write(base64.b64decode(sig))


def body(msg, out):
    raw = open(msg, 'rb').read().replace(b'\r\n', b'\n')
    open(out, 'wb').write(base64.b64decode(raw.split(b'\n\n', 1)[1]))


def b64(data):
    s = base64.b64encode(data)
    return b'\n'.join(s[i:i + 64] for i in range(0, len(s), 64)) + b'\n'


def signed(hdrs, content, sig):
    h = open(hdrs, 'rb').read()
    c = open(content, 'rb').read().replace(b'\r\n', b'\n')
    b = b'----test-boundary-42'
    out = (h + b'MIME-Version: 1.0\nContent-Type: multipart/signed; '
           b'protocol="application/pkcs7-signature"; micalg=sha-256; boundary="' + b +
           b'"\n\n--' + b + b'\n' + c + b'\n--' + b +
           b'\nContent-Type: application/pkcs7-signature; name=smime.p7s\n'
           b'Content-Transfer-Encoding: base64\n\n' + b64(open(sig, 'rb').read()) +
           b'\n--' + b + b'--\n')
    sys.stdout.buffer.write(out)


def p7m(hdrs, der, typ):
    h = open(hdrs, 'rb').read()
    sys.stdout.buffer.write(
        h + b'MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=' +
        typ.encode() + b'; name=smime.p7m\nContent-Transfer-Encoding: base64\n\n' +
        b64(open(der, 'rb').read()))


def tlv(b, i):
    """(tag, header length, content length) of the DER element at b[i]."""
    tag, n = b[i], b[i + 1]
    if n < 0x80:
        return tag, 2, n
    k = n & 0x7f
    return tag, 2 + k, int.from_bytes(b[i + 2:i + 2 + k], 'big')


def der(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    ln = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([tag, 0x80 | len(ln)]) + ln + content


def children(b):
    i, out = 0, []
    while i < len(b):
        tag, h, n = tlv(b, i)
        out.append((tag, b[i + h:i + h + n]))
        i += h + n
    return out


def swapcert(sig, old, new, out):
    """Replace certificate old by new inside a DER SignedData, lengths fixed."""
    b, o, nw = (open(f, 'rb').read() for f in (sig, old, new))
    (t0, ci), = children(b)                 # ContentInfo SEQUENCE
    oid, explicit = children(ci)            # contentType, [0] EXPLICIT
    (t1, sd), = children(explicit[1])       # SignedData SEQUENCE
    parts = []
    for tag, c in children(sd):
        if tag == 0xa0:                     # certificates [0] IMPLICIT SET
            certs = [der(t, x) for t, x in children(c)]
            assert der(0x30, children(o)[0][1]) in certs
            c = b''.join(nw if x == o else x for x in certs)
        parts.append(der(tag, c))
    sd2 = der(0x30, b''.join(parts))
    open(out, 'wb').write(der(0x30, der(oid[0], oid[1]) + der(0xa0, sd2)))


def nest(n, out):
    parts = [b'From: alice@example.com\nTo: bob@example.com\nSubject: deep\nMIME-Version: 1.0\n']
    for i in range(n):
        parts.append(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i))
    parts.append(b'Content-Type: text/plain\n\nbottom\n')
    for i in reversed(range(n)):
        parts.append(b'--b%d--\n' % i)
    open(out, 'wb').write(b''.join(parts))


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    {'split': split, 'body': body, 'signed': signed, 'p7m': p7m,
     'swapcert': swapcert, 'nest': lambda n, o: nest(int(n), o)}[cmd](*args)
