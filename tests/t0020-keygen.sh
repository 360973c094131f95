#!/bin/sh
# smz-keygen: CSRs that other tools accept, keys that match them, sealed
# so that no file of the vault holds a private key in clear.
. "$(dirname "$0")/lib.sh"
UNSEAL="$TOP/tests/helpers/unseal"
export UNSEAL

write_policy
new_vault
printf 'Work Email,First Name,Last Name\n' >r.csv
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	printf 'user%s@example.com,Given%s,Surname%s\n' "$i" "$i" "$i" >>r.csv
done

test_expect_success 'every CSR verifies with openssl req -verify' '
	smz-keygen -q -j 2 r.csv >csrs.pem &&
	split_pem csrs.pem csr &&
	test "$(ls csr.* | wc -l)" -eq 12 &&
	for f in csr.*; do openssl req -in "$f" -noout -verify 2>&1 | grep -q "verify OK" || exit 1; done
'

test_expect_success 'CSRs come out in roster order, even with -j 2' '
	for i in $(seq 1 12); do
		openssl req -in csr.$i -noout -subject -nameopt sep_comma_plus | grep -q "emailAddress=user$i@example.com," ||
		openssl req -in csr.$i -noout -subject -nameopt sep_comma_plus | grep -q "emailAddress=user$i@example.com\$" || exit 1
	done
'

test_expect_success 'subject and subjectAltName come from the row' '
	openssl req -in csr.3 -noout -subject -nameopt sep_comma_plus >subj &&
	test_grep "^subject=CN=Given3 Surname3,GN=Given3,SN=Surname3,emailAddress=user3@example.com\$" subj &&
	openssl req -in csr.3 -noout -text >text &&
	test_grep "email:user3@example.com" text &&
	test_grep "ASN1 OID: prime256v1" text &&
	test_grep "Signature Algorithm: ecdsa-with-SHA256" text
'

test_expect_success 'each CSR public key is the key sealed for its address (unlocked and compared)' '
	"$UNSEAL" vault pw >keys.txt &&
	test "$(grep -c "BEGIN PRIVATE KEY" keys.txt)" -eq 12 &&
	for i in $(seq 1 12); do
		awk -v a="user$i@example.com" "/^# /{p = (\$2 == a)} p && !/^# /" keys.txt >k.pem &&
		openssl pkey -in k.pem -pubout >from-vault.pub &&
		openssl req -in csr.$i -noout -pubkey >from-csr.pub &&
		test_cmp from-vault.pub from-csr.pub || exit 1
	done
'

test_expect_success 'the vault lists each key under its address with the CSR key id' '
	for i in 1 7 12; do
		id=$(keyid_of_csr csr.$i) &&
		smz-vault list | grep -q "^user$i@example.com	$id	ec-p256	.*	active	[^	]*$" || exit 1
	done
'

test_expect_success 'no file under the vault holds a private key in clear' '
	! grep -rl "PRIVATE KEY" vault &&
	awk "/^# /{n++} !/^#/ && !/-----/{printf \"%s\", \$0 > (\"b64.\" n)}" keys.txt &&
	for f in b64.*; do
		base64 -d "$f" >der && xxd -p der | tr -d "\n" >hex &&
		# the private scalar: the 32 bytes after 04 20 in the ECPrivateKey
		scalar=$(sed -n "s/.*020101\(0420[0-9a-f]\{64\}\).*/\1/p" hex | cut -c5-) &&
		test -n "$scalar" || exit 1
		for v in vault/*; do
			xxd -p "$v" | tr -d "\n" | grep -q "$scalar" && { echo "$v holds a key"; exit 1; }
		done
		# and no PKCS#8 encoding of it either
		grep -rlF "$(head -c 40 der | base64)" vault && exit 1
	done; true
'

test_expect_success 'vault files are 0600 and its directory 0700' '
	test "$(stat -c %a vault)" = 700 &&
	test -z "$(find vault -type f ! -perm 600)" &&
	test -z "$(find shares -type f ! -perm 600)"
'

test_expect_success '--new-key adds a key to the history and keeps the old one' '
	printf "user5@example.com\n" >one.txt &&
	smz-keygen -q --addresses --new-key one.txt >new.pem &&
	smz-vault history USER5@EXAMPLE.COM >hist &&
	test "$(tail -n +2 hist | wc -l)" -eq 2 &&
	test "$(head -n 1 hist)" = "$(printf "address\tkey_id\talgorithm\tcreated\tstate\temployee_id")" &&
	sed -n 2p hist | grep -q "	$(keyid_of_csr csr.5)	" &&
	sed -n 3p hist | grep -q "	$(keyid_of_csr new.pem)	"
'

test_expect_success 'show prints one key, by unique prefix' '
	id=$(keyid_of_csr csr.2) &&
	smz-vault show "$(echo "$id" | cut -c1-12)" >show &&
	test_grep "^key_id: $id\$" show &&
	test_grep "^addresses: \[\"user2@example.com\"\]" show &&
	test_grep "^state: active" show &&
	! grep -q sealed show &&
	test_must_fail 64 smz-vault show abc 2>err && test_grep "8 to 64" err &&
	test_must_fail 65 smz-vault show 00000000 2>err && test_grep "no such key" err
'

test_expect_success 'list --json gives one JSON object a line' '
	smz-vault list --json >list.json &&
	test "$(wc -l <list.json)" -eq 13 &&
	head -n 1 list.json | grep -q "^{\"address\": *\"user.*\", *\"key_id\": *\"[0-9a-f]\{64\}\", *\"algorithm\": *\"ec-p256\", *\"created\": *\"20[0-9-]*T[0-9:]*Z\", *\"state\": *\"active\", *\"employee_id\": *\"[^\"]*\"}\$"
'

test_expect_success 'RSA-2048 and P-384 keys per policy' '
	mkdir rsa && cd rsa && write_policy rsa-2048 && new_vault &&
	printf "email\nr1@example.com\nr2@example.com\n" >r.csv &&
	smz-keygen -q r.csv >r.pem && split_pem r.pem c &&
	openssl req -in c.1 -noout -text >t && test_grep "Public-Key: (2048 bit)" t &&
	test_grep "Exponent: 65537" t && test_grep "sha256WithRSAEncryption" t &&
	openssl req -in c.2 -noout -verify 2>&1 | test_grep "verify OK" - &&
	cd .. && mkdir p384 && cd p384 && write_policy ec-p384 && new_vault &&
	printf "email\np1@example.com\n" >r.csv &&
	smz-keygen -q r.csv >p.pem && openssl req -in p.pem -noout -text >t &&
	test_grep "secp384r1" t && test_grep "ecdsa-with-SHA384" t &&
	smz-vault list | test_grep "p1@example.com	.*	ec-p384	" -
'

test_expect_success 'usage = split gives a signing and an encryption key per person' '
	mkdir split && cd split && write_policy ec-p256 "[keys]" && sed -i "s/^\[keys\]\$/[keys]\nusage = split/" policy.conf &&
	sed -i "0,/^usage = split/!{/^usage = split/d}" policy.conf &&
	new_vault && printf "email\ns1@example.com\n" >r.csv &&
	smz-keygen -q r.csv >s.pem &&
	test "$(grep -c "BEGIN CERTIFICATE REQUEST" s.pem)" -eq 2 &&
	smz-vault show "$(smz-vault list | awk "NR==2{print \$2}")" | test_grep "^usage: \(sign\|encrypt\)" - &&
	smz-keygen -q r.csv >again.pem && test "$(grep -c BEGIN again.pem)" -eq 2 &&
	test "$(smz-vault list | tail -n +2 | wc -l)" -eq 2
'

test_expect_success 'progress on a terminal, silence otherwise and with -q' '
	seq 1 50 | sed "s/.*/t&@example.com/" | sed "1i email" >prog.csv &&
	script -qec "smz-keygen prog.csv >prog.pem" /dev/null >tty.log &&
	test_grep "smz-keygen: 50/50" tty.log &&
	smz-keygen --new-key prog.csv >prog2.pem 2>notty.log &&
	! grep -q "/50" notty.log &&
	script -qec "smz-keygen -q --new-key prog.csv >prog3.pem" /dev/null >q.log &&
	! grep -q "/50" q.log
'

test_expect_success 'no vault: exit 66 and a hint; no domains: exit 78' '
	mkdir nov && cd nov && write_policy &&
	printf "email\na@example.com\n" >r.csv &&
	test_must_fail 66 smz-keygen r.csv >out 2>err && test_grep "smz-vault init" err && test ! -s out &&
	printf "[vault]\npath = v\n" >p2 &&
	test_must_fail 78 smz-keygen --policy p2 r.csv 2>err && test_grep "no \[domains\] allowed" err
'

test_done
