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
chmod 600 demo/passphrase

say "smz-vault init: vault in demo/vault, passphrase plus 2-of-3 recovery shares"
smz-vault init --passphrase-file demo/passphrase --shares 3 --threshold 2 --share-out demo/shares
ls -l demo/shares

say "smz-keygen examples/roster.csv > demo/csrs.pem (bad rows are reported, the rest proceed)"
rc=0
smz-keygen -j 2 examples/roster.csv >demo/csrs.pem || rc=$?
echo "exit status $rc (65 = some rows rejected; see the lines above)"
echo "$(grep -c 'BEGIN CERTIFICATE REQUEST' demo/csrs.pem) CSRs in demo/csrs.pem"

say "the first CSR, as openssl sees it"
awk '/BEGIN/{n++} n==1' demo/csrs.pem | openssl req -noout -subject -nameopt utf8,sep_comma_plus -verify

say "smz-vault list (first lines)"
smz-vault list | head -n 6

say "re-running the same roster generates nothing new"
smz-keygen examples/roster.csv >/dev/null || true

say "smz-vault check with 2 of the 3 shares: every sealed key opens and matches"
smz-vault check --share demo/shares/share-1-of-3.txt --share demo/shares/share-3-of-3.txt

say "smz-vault audit --verify"
smz-vault audit --verify
echo
echo "Done. Files are in ./demo; try: SMZ_POLICY=examples/policy.conf cmd/smz-vault history lukasz.wisniewski@example.com"
