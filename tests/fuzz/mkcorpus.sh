#!/bin/sh
# Make the named seeds of tests/fuzz/corpus-cmsread: CMS objects from
# `openssl cms` (signed opaque, detached and streamed BER, two signers,
# RSA-PSS; enveloped to RSA, RSA-OAEP and EC (kari) keys, to a password,
# to a KEK; authenticated-enveloped (AES-GCM); data, digested, encrypted
# data) and damaged ones made from them with a small DER rewriter: cut,
# an end-of-contents where none may be, certificates twice, a content
# string nested past OpenSSL's limit.  The files the fuzzer added (named
# by their SHA-1) are kept, and so are its findings (bad-found-*).  Keys are made afresh, so the bytes change
# from run to run; the verdicts in corpus-cmsread.expect do not.
# usage: sh tests/fuzz/mkcorpus.sh
set -eu
out=$(cd "$(dirname "$0")" && pwd)/corpus-cmsread
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
mkdir -p "$out"
find "$out" -type f | grep -v -e '/[0-9a-f]\{40\}$' -e '/bad-found-' | xargs rm -f

cms() { # NAME openssl-cms-options...
	name=$1
	shift
	openssl cms -outform DER -out "$out/$name" "$@"
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem -subj /CN=rsa \
	-days 30 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key \
	-out ec.pem -subj /CN=ec -days 30 2>/dev/null
printf 'Content-Type: text/plain\r\n\r\nA short message.\r\n' >msg
# streamed: the content in several chunks of a BER OCTET STRING
awk 'BEGIN { for (i = 0; i < 120; i++) printf "line %03d of a longer message.......\r\n", i }' >big
key=000102030405060708090a0b0c0d0e0f

cms signed-opaque.der -sign -binary -nodetach -in msg -signer rsa.pem -inkey rsa.key \
	-certfile ec.pem
cms signed-detached.der -sign -binary -in msg -signer ec.pem -inkey ec.key
cms signed-nocerts.der -sign -binary -nodetach -nocerts -in msg -signer ec.pem -inkey ec.key
cms signed-stream.ber -sign -binary -nodetach -stream -in big -signer ec.pem -inkey ec.key
cms signed-pss.der -sign -binary -nodetach -in msg -signer rsa.pem -inkey rsa.key \
	-keyopt rsa_padding_mode:pss
cms signed-2signers.der -sign -binary -nodetach -in msg -signer rsa.pem -inkey rsa.key \
	-signer ec.pem -inkey ec.key
cms env-rsa.der -encrypt -binary -aes256 -in msg rsa.pem
cms env-oaep.der -encrypt -binary -aes256 -in msg -recip rsa.pem -keyopt rsa_padding_mode:oaep
cms env-ec.der -encrypt -binary -aes128 -in msg ec.pem
cms env-2rcpt.der -encrypt -binary -aes256 -in msg rsa.pem ec.pem
cms env-stream.ber -encrypt -binary -aes256 -stream -in big ec.pem
cms env-pwri.der -encrypt -binary -aes256 -in msg -pwri_password secret
cms env-kek.der -encrypt -binary -aes128 -in msg -secretkey $key -secretkeyid 01
cms authenv-gcm.der -encrypt -binary -aes-256-gcm -in msg ec.pem
cms authenv-stream.ber -encrypt -binary -aes-256-gcm -stream -in big rsa.pem
cms data.der -data_create -binary -in msg
cms digest.der -digest_create -binary -in msg
cms encdata.der -EncryptedData_encrypt -binary -aes128 -secretkey $key -in msg

# Damaged ones.  A node is [identifier, indefinite, children or octets].
python3 - "$out" <<'EOF'
import os, sys
out = sys.argv[1]

def parse(b, i=0):
    start = i
    i += 1
    if b[start] & 0x1f == 0x1f:
        while b[i] & 0x80:
            i += 1
        i += 1
    ident, cons = b[start:i], bool(b[start] & 0x20)
    n = b[i]
    i += 1
    if n == 0x80:
        kids = []
        while b[i:i + 2] != b'\0\0':
            k, i = parse(b, i)
            kids.append(k)
        return [ident, True, kids], i + 2
    if n & 0x80:
        n, i = int.from_bytes(b[i:i + (n & 0x7f)], 'big'), i + (n & 0x7f)
    if not cons:
        return [ident, False, b[i:i + n]], i + n
    kids, end = [], i + n
    while i < end:
        k, i = parse(b, i)
        kids.append(k)
    return [ident, False, kids], i

def length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(b)]) + b

def enc(n):
    if isinstance(n, bytes):  # raw octets, as they are
        return n
    ident, indef, v = n
    body = b''.join(enc(k) for k in v) if isinstance(v, list) else v
    return ident + (b'\x80' + body + b'\0\0' if indef else length(len(body)) + body)

def load(name):
    with open(os.path.join(out, name), 'rb') as f:
        return parse(f.read())[0]

def save(name, node):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(node if isinstance(node, bytes) else enc(node))

EOC = b'\0\0'
def inner(ci):  # ContentInfo -> the SignedData or EnvelopedData SEQUENCE
    return ci[2][1][2][0]

raw = enc(load('signed-opaque.der'))
save('bad-trunc-signed.der', raw[:len(raw) // 2])
raw = enc(load('signed-stream.ber'))
save('bad-trunc-stream.ber', raw[:-4])
raw = enc(load('env-stream.ber'))
save('bad-trunc-env.ber', raw[:len(raw) * 2 // 3])
save('bad-empty', b'')
save('bad-garbage', b'\x30\x80\x06\x09garbage-garbage')

# an end-of-contents inside a definite length, last in the ContentInfo,
# the [0] and the SignedData: BER has none there, d2i refuses it
for name, where in (('bad-eoc-ci.der', lambda t: t),
                    ('bad-eoc-explicit.der', lambda t: t[2][1]),
                    ('bad-eoc-signeddata.der', inner)):
    t = load('signed-opaque.der')
    where(t)[2].append(EOC)
    save(name, t)
t = load('env-rsa.der')
inner(t)[2].append(EOC)
save('bad-eoc-envelopeddata.der', t)
# an end-of-contents written with a long-form length: not one
t = load('signed-stream.ber')
inner(t)[2].append(b'\x00\x81\x00')
save('bad-eoc-longform.ber', t)

sd = lambda t: inner(t)[2]
t = load('signed-opaque.der')  # [0] certificates twice
sd(t).insert(4, sd(t)[3])
save('bad-certs-twice.der', t)
t = load('signed-opaque.der')  # one certificate twice in [0]
sd(t)[3][2].append(sd(t)[3][2][0])
save('signed-dupcert.der', t)
t = load('signed-opaque.der')  # not a certificate among them
sd(t)[3][2].append([b'\x30', False, [[b'\x02', False, b'\x01']]])
save('bad-certs-notcert.der', t)
t = load('signed-opaque.der')  # something after the content's OCTET STRING
sd(t)[2][2][1][2].append([b'\x05', False, b''])
save('bad-content-extra.der', t)
t = load('signed-opaque.der')  # something after the content's [0]
sd(t)[2][2].append([b'\x05', False, b''])
save('bad-encap-extra.der', t)

# the content as a constructed OCTET STRING nested n deep: OpenSSL takes
# six constructed levels (ASN1_MAX_STRING_NEST 5 below the first)
def nest(n, data, indef):
    node = [b'\x04', False, data]
    for _ in range(n):
        node = [b'\x24', indef, [node, [b'\x04', False, b'.']]]
    return node
for n, name in ((6, 'signed-nest6.ber'), (7, 'bad-signed-nest7.ber')):
    t = load('signed-stream.ber')
    sd(t)[2][2][1][2] = [nest(n, b'nested', True)]
    save(name, t)
t = load('env-rsa.der')
ec = inner(t)[2][2]
ec[2][2] = [b'\xa0', False, nest(5, ec[2][2][2], False)[2]]  # [0] and 5 below
save('env-nest-definite.der', t)
# chunks of any tag and class: OpenSSL does not look at them
t = load('signed-stream.ber')
sd(t)[2][2][1][2] = [[b'\x24', True, [[b'\x45', False, b'abc'], [b'\x81', False, b'def'],
                                       [b'\x04', False, b'']]]]
save('signed-chunk-tags.ber', t)
# a chunk of tag number 0 and length 0: d2i_CMS_bio's reader takes it for
# an end-of-contents where lengths are indefinite, and refuses the whole;
# where they are definite it reads over it, and d2i takes it
ctx0 = [b'\x24', True, [[b'\x04', False, b'abc'], [b'\x80', False, b''],
                          [b'\x04', False, b'def']]]
t = load('signed-stream.ber')
sd(t)[2][2][1][2] = [ctx0]
save('bad-chunk-ctx0.ber', t)
t = load('signed-opaque.der')
ctx0[1] = False
sd(t)[2][2][1][2] = [ctx0]
save('signed-chunk-ctx0.der', t)
t = load('env-stream.ber')  # encryptedContent [0] empty: 80 00
inner(t)[2][2][2][2] = [b'\x80', False, b'']
save('bad-env-content-ctx0.ber', t)
t = load('signed-stream.ber')  # detached (openssl -stream leaves the content in)
del sd(t)[2][2][1]
save('signed-detached.ber', t)
t = load('signed-stream.ber')  # a chunk with an indefinite primitive
sd(t)[2][2][1][2] = [[b'\x24', True, [b'\x04\x80abc\0\0']]]
save('bad-chunk-indef.ber', t)

t = load('env-ec.der')  # originatorInfo: the certificates of the sender
cert = load('signed-opaque.der')
cert = sd(cert)[3][2][0]
inner(t)[2][0][2] = b'\x02'
inner(t)[2].insert(1, [b'\xa0', False, [[b'\xa0', False, [cert]]]])
save('env-originator.der', t)
EOF
find "$out" -type f | grep -vc '/[0-9a-f]\{40\}$' | sed 's/$/ named seeds/'
echo "corpus: $(cat "$out"/* | wc -c) bytes"
