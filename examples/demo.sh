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

say "smz-provision --dry-run: the plan for examples/roster.csv (bad rows are reported with their lines)"
smz-provision --dry-run examples/roster.csv | awk -F'\t' 'NR > 1 { n[$2]++ } END { for (a in n) print n[a], a }' || true

say "smz-provision: keys vaulted, certificates issued and filed, directory changes as LDIF, a bundle per person"
smz-provision --ca-passphrase-file demo/ca-passphrase --ldif demo/publish.ldif \
	--bundles demo/bundles --passphrase-file demo/passphrase examples/roster.csv || true
echo "(exit 65 when roster rows were rejected; the rest is done)"
head -n 3 demo/publish.ldif | cut -c1-100; echo "... $(grep -c '^dn' demo/publish.ldif) entries in demo/publish.ldif"
ls demo/bundles | head -n 3
echo "... $(ls demo/bundles/*.p12 | wc -l) bundles; passwords in demo/bundles/passwords.tsv (0600)"

say "the first certificate, as openssl sees it, verified against the CA"
awk '/^userCertificate;binary:: /{ print $2; exit }' demo/publish.ldif | base64 -d >demo/first.der
openssl x509 -inform DER -in demo/first.der -out demo/first.pem
openssl x509 -in demo/first.pem -noout -subject -nameopt utf8,sep_comma_plus -ext subjectAltName,certificatePolicies
openssl verify -x509_strict -purpose smimesign -CAfile demo/ca/root.pem -untrusted demo/ca/issuing.pem demo/first.pem

say "smz-issue list, smz-vault list (first lines)"
smz-issue list | head -n 3
smz-vault list | head -n 3

say "the same roster again: nothing to do"
smz-provision --ca-passphrase-file demo/ca-passphrase --ldif demo/publish-again.ldif examples/roster.csv 2>&1 | tail -n 1 || true

say "a month later: joiners provisioned, leavers revoked (keys stay in the vault), a CRL"
smz-provision --ca-passphrase-file demo/ca-passphrase --ldif demo/publish-month2.ldif \
	examples/roster-next-month.csv 2>&1 | tail -n 1 || true
openssl crl -in demo/ca/crl.pem -noout -text | grep -c 'Serial Number:' | sed 's/$/ certificates in the CRL/'
smz-vault history maria.fernandez@example.com

say "a truncated export trips the safety stop: nothing changes"
smz-provision --ca-passphrase-file demo/ca-passphrase examples/roster-truncated.csv || echo "exit $?"

say "smz-sign: a gateway key, then sign, verify, encrypt and decrypt one message"
smz-vault gateway-key --passphrase-file demo/passphrase "$top/demo/gateway.key"
cp examples/policy.conf demo/policy.conf
printf '[gateway]\nunlock_file = %s/demo/gateway.key\n' "$top" >>demo/policy.conf
from=$(smz-issue list | awk -F'\t' '$6 == "valid" { print $2 }' | sort -u | sed -n 1p)
to=$(smz-issue list | awk -F'\t' '$6 == "valid" { print $2 }' | sort -u | sed -n 2p)
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
echo "Done. Files are in ./demo; try: SMZ_POLICY=examples/policy.conf cmd/smz-vault history maria.fernandez@example.com"
