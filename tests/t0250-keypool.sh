#!/bin/sh
# smz-keygen --pool: RSA keys made ahead of need; joiners draw them (a
# joiner is provisioned without generating a key), each pool key is used
# once, and an empty pool falls back to generating.
. "$(dirname "$0")/lib.sh"

write_policy rsa-2048 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase

test_expect_success 'the pool: sealed files, 0600, its own key pair' '
	smz-keygen --pool 3 2>err && test_grep "3 rsa-2048 keys added to the pool in .*/vault/pool (3 there)" err &&
	test "$(ls vault/pool/rsa-2048.*.key | wc -l)" -eq 3 &&
	test -z "$(find vault/pool -type f ! -perm 600)" && test "$(stat -c %a vault/pool)" = 700 &&
	! grep -q "PRIVATE KEY" vault/pool/rsa-2048.*.key &&
	ls vault/pool/rsa-2048.*.key | sed "s/.*rsa-2048\.\([0-9a-f]*\)\.key/\1/" | sort >pooled
'

test_expect_success 'joiners draw pool keys: vaulted under the same ids, removed from the pool' '
	printf "email\na@example.com\nb@example.com\n" >r1.csv &&
	smz-keygen -q r1.csv >csrs.pem && test "$(grep -c "BEGIN CERTIFICATE REQUEST" csrs.pem)" -eq 2 &&
	for a in a b; do smz-vault list | awk -F"\t" -v a=$a@example.com "\$1 == a { print \$2 }"; done | sort >drawn &&
	test "$(comm -12 pooled drawn | wc -l)" -eq 2 &&
	test "$(ls vault/pool/rsa-2048.*.key | wc -l)" -eq 1 && ! ls vault/pool | grep -q claimed &&
	smz-issue -q csrs.pem | smz-vault attach -q >certs.pem && test "$(grep -c "BEGIN CERTIFICATE" certs.pem)" -eq 2 &&
	smz-vault check --passphrase-file pw >/dev/null
'

test_expect_success 'an empty pool falls back to generating' '
	printf "email\nc@example.com\nd@example.com\ne@example.com\n" >r2.csv &&
	smz-keygen -q r2.csv >csrs2.pem && test "$(grep -c "BEGIN CERTIFICATE REQUEST" csrs2.pem)" -eq 3 &&
	test "$(ls vault/pool/rsa-2048.*.key 2>/dev/null | wc -l)" -eq 0 &&
	test "$(smz-vault list | tail -n +2 | wc -l)" -eq 5 &&
	smz-vault check --passphrase-file pw >/dev/null
'

test_expect_success 'a damaged pool key: said even with -q, and the joiner gets a new key' '
	smz-keygen -q --pool 1 && f=$(ls vault/pool/rsa-2048.*.key) && printf garbage >"$f" &&
	printf "email\nf@example.com\n" >r3.csv &&
	smz-keygen -q r3.csv >csrs3.pem 2>err && test "$(grep -c "BEGIN CERTIFICATE REQUEST" csrs3.pem)" -eq 1 &&
	test_grep "^smz-keygen: key pool: .*; keys were generated instead" err &&
	test "$(smz-vault list | grep -c "^f@example.com")" -eq 1
'

test_expect_success 'usage: --pool takes no roster' '
	test_must_fail 64 smz-keygen --pool 2 r1.csv 2>err && test_grep "takes no roster" err
'

test_done
