#!/bin/sh
# make demo: the main job on the bundled example.  Creates a vault in
# ./demo, provisions keys for every employee of examples/roster.csv, and
# shows what a sysadmin would look at afterwards.  Safe to re-run: it
# starts from an empty ./demo each time.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PATH="$top/cmd:$PATH"
SMZ_POLICY="$top/examples/policy.conf"
export PATH SMZ_POLICY
say() { printf '\n== %s\n' "$*"; }

rm -rf demo
mkdir -m 700 demo
# A random passphrase; in production it lives with whoever may read keys.
head -c 24 /dev/urandom | base64 >demo/passphrase
head -c 24 /dev/urandom | base64 >demo/ca-passphrase
chmod 600 demo/passphrase demo/ca-passphrase

say "smz-vault init: vault in demo/vault, passphrase plus 2-of-3 recovery shares"
smz-vault init --passphrase-file demo/passphrase --shares 3 --threshold 2 --share-out demo/shares
ls -l demo/shares

say "smz-issue init: a root and a name-constrained issuing CA in demo/ca"
smz-issue init --passphrase-file demo/ca-passphrase

say "smz-keygen roster | smz-issue | smz-vault attach > demo/certs.pem (bad rows are reported, the rest proceed)"
smz-keygen -j 2 examples/roster.csv | tee demo/csrs.pem |
	smz-issue --passphrase-file demo/ca-passphrase | smz-vault attach >demo/certs.pem || true
echo "$(grep -c 'BEGIN CERTIFICATE REQUEST' demo/csrs.pem) CSRs, $(grep -c 'BEGIN CERTIFICATE-' demo/certs.pem) certificates in demo/certs.pem"
echo "(smz-keygen exits 65 when rows were rejected; see the lines above)"

say "the first certificate, as openssl sees it, verified against the CA"
awk '/BEGIN/{n++} n==1' demo/certs.pem >demo/first.pem
openssl x509 -in demo/first.pem -noout -subject -nameopt utf8,sep_comma_plus -ext subjectAltName,certificatePolicies
openssl verify -x509_strict -purpose smimesign -CAfile demo/ca/root.pem -untrusted demo/ca/issuing.pem demo/first.pem

say "smz-issue list (first lines)"
smz-issue list | head -n 4

say "smz-vault list (first lines)"
smz-vault list | head -n 6

say "re-running the same pipeline changes nothing"
{ smz-keygen examples/roster.csv 2>&1 >/dev/null | tail -n 1; } || true

say "off-boarding one person: revoke and publish a CRL (keys stay in the vault)"
smz-issue revoke --reason affiliationChanged --address lukasz.wisniewski@example.com
smz-issue crl -q --passphrase-file demo/ca-passphrase --out demo/smz.crl
openssl crl -in demo/smz.crl -noout -text | sed -n '/Revoked Certificates/,/Reason Code/p'
smz-vault history lukasz.wisniewski@example.com

say "smz-publish --ldif: the directory changes as LDIF (no server needed; see README for a live server)"
smz-publish -q --uri - --ldif demo/publish.ldif --base ou=people,dc=example,dc=com demo/certs.pem | tail -n 2
head -n 4 demo/publish.ldif; echo "... $(grep -c '^dn' demo/publish.ldif) entries in demo/publish.ldif"

say "smz-vault export: one PKCS#12 per person (compat, for every device) and .mobileconfig files"
smz-vault export -q -j 2 --passphrase-file demo/passphrase --all --mobileconfig \
	--out demo/bundles --reason "demo roll-out" | tail -n 3
ls demo/bundles | head -n 4
echo "... $(ls demo/bundles/*.p12 | wc -l) bundles; passwords in demo/bundles/passwords.tsv (0600)"

say "smz-sign: a gateway key, then sign, verify, encrypt and decrypt one message"
smz-vault gateway-key --passphrase-file demo/passphrase "$top/demo/gateway.key"
cp examples/policy.conf demo/policy.conf
printf '[gateway]\nunlock_file = %s/demo/gateway.key\n' "$top" >>demo/policy.conf
from=$(smz-vault list | awk -F'\t' 'NR == 2 { print $1 }')
to=$(smz-vault list | awk -F'\t' 'NR == 3 { print $1 }')
printf 'From: %s\nTo: %s\nSubject: demo\nMessage-ID: <demo@example.com>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello from the gateway.\n' \
	"$from" "$to" >demo/message.eml
SMZ_POLICY=demo/policy.conf smz-sign --sign demo/message.eml >demo/signed.eml
smz-sign --verify demo/signed.eml
smz-sign --encrypt demo/message.eml >demo/encrypted.eml
SMZ_POLICY=demo/policy.conf smz-sign --decrypt demo/encrypted.eml | cmp - demo/message.eml &&
	echo "decrypted message identical to the original"

say "smz-vault check with 2 of the 3 shares: every sealed key opens and matches"
smz-vault check --share demo/shares/share-1-of-3.txt --share demo/shares/share-3-of-3.txt

say "smz-vault audit --verify; smz-issue audit --verify"
smz-vault audit --verify
smz-issue audit --verify
echo
echo "Done. Files are in ./demo; try: SMZ_POLICY=examples/policy.conf cmd/smz-vault history lukasz.wisniewski@example.com"
