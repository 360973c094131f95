#!/bin/sh
# The provisioning pipeline smz-keygen | smz-issue | smz-vault attach, at
# scale: 10,000 unique full-length serials, keys and certificates that
# agree, attach idempotent, supersession of older keys.
. "$(dirname "$0")/lib.sh"

write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase
{ echo email; seq 1 10000 | sed 's/.*/u&@example.com/'; } >big.csv

test_expect_success 'keygen | issue | attach over 10,000 people' '
	smz-keygen -q -j 2 big.csv | tee csrs.pem | smz-issue -q -j 2 | smz-vault attach -q >certs.pem &&
	test "$(grep -c "BEGIN CERTIFICATE" certs.pem)" -eq 10000
'

test_expect_success '10,000 serials: unique, 20 octets, positive, below 2^159' '
	smz-issue list | tail -n +2 | cut -f1 >serials &&
	test "$(wc -l <serials)" -eq 10000 &&
	test "$(sort -u serials | wc -l)" -eq 10000 &&
	test "$(grep -cv "^[4-7][0-9a-f]\{39\}\$" serials)" -eq 0 &&
	split_pem certs.pem c && for i in 1 777 5000 10000; do
		s=$(openssl x509 -in c.$i -noout -serial | cut -d= -f2 | tr A-F a-f) &&
		grep -qx "$s" serials || exit 1
	done
'

test_expect_success 'every vaulted key has its certificate, found by key id' '
	for i in 1 5000 10000; do
		kid=$(openssl x509 -in c.$i -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d" " -f1) &&
		smz-vault show "$kid" >show && test_grep "^certificates: 1\$" show || exit 1
	done &&
	smz-vault check >out && test_grep "^check: OK (10000 records)" out
'

test_expect_success 're-running the pipeline changes nothing' '
	smz-keygen big.csv 2>kg.err | smz-issue 2>issue.err | smz-vault attach >again.pem 2>attach.err &&
	test_grep "0 keys generated, 0 CSRs sent again, 10000 skipped" kg.err &&
	test_grep "0 issued, 0 already issued, 0 rejected" issue.err && test ! -s again.pem &&
	test "$(smz-issue list | tail -n +2 | wc -l)" -eq 10000
'

test_expect_success 'smz-issue plan over 10,000: everyone unchanged, a row each with its serial' '
	smz-issue plan big.csv >plan 2>err &&
	test_grep "plan: 0 joiners, 0 movers, 0 leavers, 0 renewals, 10000 unchanged" err &&
	test "$(tail -n +2 plan | cut -f1,4 | sort | uniq -c | sed "s/^ *//")" = "$(printf "10000 nothing\tunchanged")" &&
	smz-issue list | awk -F"\t" "NR > 1 { print \$1 \"\t\" \$2 }" | sort >want &&
	tail -n +2 plan | awk -F"\t" "{ print \$3 \"\t\" \$2 }" | sort | test_cmp want - &&
	{ echo email; seq 1 9990 | sed "s/.*/u&@example.com/"; echo u10001@example.com; } >less.csv &&
	smz-issue plan -q less.csv | awk -F"\t" "NR > 1 && \$1 != \"nothing\" { print \$1, \$2, \$4 }" | sort >changes &&
	{ echo "join u10001@example.com no valid certificate"; seq 9991 10000 | sed "s/.*/leave u&@example.com not in the roster/"; } | sort >want &&
	test_cmp want changes
'

test_expect_success 'the same CSRs again get the same certificates, attached once' '
	smz-issue -v csrs.pem 2>issue.err | smz-vault attach >again.pem 2>attach.err &&
	test "$(grep -c "already issued, sent again" issue.err)" -eq 10000 &&
	test_grep "0 attached, 10000 already attached, 0 rejected" attach.err &&
	cmp certs.pem again.pem && test "$(smz-issue list | tail -n +2 | wc -l)" -eq 10000
'

test_expect_success 'a certificate whose key is not in the vault is reported, not passed on' '
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key -subj "/CN=o" \
		-addext "subjectAltName=email:outsider@example.com" -out o.csr 2>/dev/null &&
	smz-issue -q o.csr >o.pem &&
	cat c.1 o.pem >mix.pem &&
	test_must_fail 65 smz-vault attach mix.pem >out 2>err &&
	test "$(grep -c BEGIN out)" -eq 1 &&
	test_grep "certificate 2 (line 1[0-9]*): rejected: its key is not in the vault" err &&
	printf "garbage\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" >bad.pem &&
	test_must_fail 65 smz-vault attach bad.pem >out 2>err && test_grep "not an X.509 certificate" err
'

test_expect_success 'a certificate from another (public) CA for a vaulted key is attached' '
	printf "pub@example.com\n" >pub.txt && smz-keygen -q --addresses pub.txt >pub.csr &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pca.key -out pca.pem \
		-days 30 -subj "/CN=Public CA" 2>/dev/null &&
	printf "subjectAltName=email:pub@example.com\nkeyUsage=critical,digitalSignature,keyAgreement\n" >pub.ext &&
	openssl x509 -req -in pub.csr -CA pca.pem -CAkey pca.key -set_serial 0x0123456789 -days 30 -extfile pub.ext -out pubcert.pem 2>/dev/null &&
	test_must_fail 65 smz-vault attach pubcert.pem >out 2>err && ! test -s out &&
	test_grep "rejected: not issued by this CA or one of policy \[vault\] attach_trust" err &&
	cat pca.pem >>public-cas.pem && printf "[vault]\nattach_trust = %s/public-cas.pem\n" "$PWD" >>policy.conf &&
	smz-vault attach -q pubcert.pem >out && cmp out pubcert.pem &&
	id=$(smz-vault list | awk -F"\t" "\$1==\"pub@example.com\"{print \$2}") &&
	smz-vault show "$id" | test_grep "^certificates: 1\$" -
'

test_expect_success 'a certificate naming another mailbox for a vaulted key is refused' '
	printf "mallory@example.com\n" | smz-keygen -q --addresses - >mal.csr &&
	openssl req -in mal.csr -noout -pubkey >mal.pub &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evil.key -out evil.pem -days 3 -subj "/CN=Evil" 2>/dev/null &&
	cat evil.pem >>public-cas.pem &&
	printf "subjectAltName=email:u1@example.com\n" >forge.ext &&
	openssl x509 -new -force_pubkey mal.pub -subj "/CN=u1" -CA evil.pem -CAkey evil.key -set_serial 9 -days 3 \
		-extfile forge.ext -out forged.pem 2>/dev/null ||
	openssl x509 -req -in mal.csr -CA evil.pem -CAkey evil.key -set_serial 9 -days 3 -extfile forge.ext -out forged.pem 2>/dev/null &&
	test_must_fail 65 smz-vault attach forged.pem >out 2>err &&
	test_grep "names u1@example.com, but the key was made for mallory@example.com" err && test ! -s out &&
	smz-vault history u1@example.com | tail -n +2 | test_grep "	active	[^	]*\$" -
'

test_expect_success 'a new key with its certificate supersedes the old key, which stays' '
	printf "u7@example.com\n" >one.txt &&
	smz-keygen -q --addresses --new-key one.txt | smz-issue -q | smz-vault attach -q >new.pem &&
	smz-vault history u7@example.com >hist &&
	test "$(tail -n +2 hist | wc -l)" -eq 2 &&
	sed -n 2p hist | test_grep "	superseded	[^	]*\$" - &&
	sed -n 3p hist | test_grep "	active	[^	]*\$" - &&
	smz-vault check --passphrase-file pw >out && test_grep "every key unsealed" out
'

test_expect_success 'usage = split: a signing and an encryption certificate per person' '
	mkdir split && cd split &&
	write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
		"issuer_url = http://pki.example.com/issuing.cer" &&
	sed -i "s/^\[keys\]\$/[keys]\nusage = split/" policy.conf &&
	new_vault && smz-issue init -q --no-passphrase &&
	printf "email\ns1@example.com\n" >r.csv &&
	smz-keygen -q r.csv | smz-issue -q | smz-vault attach -q >c.pem &&
	split_pem c.pem x && test -f x.2 && ! test -f x.3 &&
	openssl x509 -in x.1 -noout -ext keyUsage | tail -n 1 | test_grep "^ *Digital Signature\$" - &&
	openssl x509 -in x.2 -noout -ext keyUsage | tail -n 1 | test_grep "^ *Key Agreement\$" - &&
	smz-vault list --json >l && test_grep "s1@example.com" l &&
	for id in $(smz-vault list | tail -n +2 | cut -f2); do smz-vault show "$id" | grep "^usage:\|^certificates:"; done >u &&
	test_grep "^usage: sign" u && test_grep "^usage: encrypt" u &&
	test "$(grep -c "^certificates: 1" u)" -eq 2
'

test_expect_success 'audit logs of vault and CA verify' '
	smz-vault audit --verify | test_grep "^audit: OK" - &&
	test "$(smz-vault audit | cut -f4 | grep -c attach)" -eq 10002
'

test_done
