#!/bin/sh
# Certificates that carry their mailbox only in the subject's emailAddress
# attribute (no subjectAltName rfc822Name), as NSS test CAs and older
# enterprise CAs issue them: RFC 8550 says to accept them.  Imported from
# an NSS pk12util file, such a key is filed under that mailbox, local part
# kept as written (Alice@) but found as the policy's local_part says; a
# subjectAltName rfc822Name, where there is one, wins over the subject.
. "$(dirname "$0")/lib.sh"

write_policy rsa-2048 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase
echo hunter2 >p12pw
# an "old CA" the enterprise used before smz
openssl req -x509 -newkey rsa:2048 -nodes -keyout oldca.key -out oldca.pem -days 3650 \
	-subj "/CN=Old Corp CA" -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
# oldcert NAME SUBJECT [SAN]: NAME.key, NAME.pem from the old CA
oldcert() {
	openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null &&
	printf "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\n" >"$1.ext" &&
	{ [ -z "${3:-}" ] || echo "subjectAltName=$3" >>"$1.ext"; } &&
	openssl x509 -req -in "$1.csr" -CA oldca.pem -CAkey oldca.key -set_serial "0x$(openssl rand -hex 8)" \
		-days 365 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}

test_expect_success 'an old CA certificate with the mailbox only in the subject, through NSS pk12util' '
	oldcert alice "/CN=Alice Example/emailAddress=Alice@example.com" &&
	! openssl x509 -in alice.pem -noout -ext subjectAltName 2>/dev/null | grep -q email &&
	openssl pkcs12 -export -name alice -inkey alice.key -in alice.pem -passout file:p12pw -out alice-in.p12 &&
	mkdir nssdb && certutil -N -d sql:nssdb --empty-password &&
	pk12util -i alice-in.p12 -d sql:nssdb -w p12pw -K "" >/dev/null &&
	pk12util -o alice.p12 -n alice -d sql:nssdb -w p12pw -K "" >/dev/null &&
	openssl pkcs12 -in alice.p12 -passin file:p12pw -nokeys -clcerts 2>/dev/null |
		openssl x509 -noout -subject | test_grep "emailAddress *= *Alice@example.com" -
'

test_expect_success 'import (unlocked) files the key under the subject emailAddress, as written' '
	smz-vault import --passphrase-file pw --password-file p12pw alice.p12 >out 2>err &&
	test_grep "^alice.p12: imported (1 keys)" out &&
	! test_grep "not attached" err &&
	smz-vault list >l &&
	id=$(openssl pkey -in alice.key -pubout -outform DER | openssl dgst -sha256 -r | cut -d" " -f1) &&
	awk -F"\t" -v id="$id" "\$2 == id { print \$1 }" l >got &&
	echo Alice@example.com >want && test_cmp want got
'

test_expect_success 'history finds it by either case of the local part (local_part = insensitive)' '
	smz-vault history Alice@example.com >h1 && test "$(tail -n +2 h1 | cut -f1)" = Alice@example.com &&
	smz-vault history alice@example.com >h2 && test_cmp h1 h2 &&
	smz-vault history ALICE@EXAMPLE.COM >h3 && test_cmp h1 h3
'

test_expect_success 'lookup by certificate names the mailbox' '
	smz-vault lookup alice.pem >lk &&
	test_grep "^alice.pem: [0-9a-f]\{64\} Alice@example.com (by issuer+serial)\$" lk
'

test_expect_success 'export --address alice@example.com gives back the key and certificate' '
	smz-vault export -q --passphrase-file pw --address alice@example.com --out back >/dev/null &&
	test "$(tail -n +2 back/passwords.tsv | wc -l)" = 1 &&
	f=$(tail -n +2 back/passwords.tsv | cut -f2) && p=$(tail -n +2 back/passwords.tsv | cut -f3) &&
	openssl pkcs12 -in "back/$f" -passin "pass:$p" -nokeys -clcerts 2>/dev/null |
		openssl x509 -noout -fingerprint >f1 &&
	openssl x509 -in alice.pem -noout -fingerprint >f2 && test_cmp f2 f1
'

test_expect_success 'smz-sign --verify names the signer from the subject emailAddress' '
	printf "Content-Type: text/plain\n\nhello\n" >m.txt &&
	openssl cms -sign -in m.txt -signer alice.pem -inkey alice.key -md sha256 \
		-from Alice@example.com -to bob@example.com -subject hi -out s.eml &&
	smz-sign --verify --trust oldca.pem s.eml >st &&
	test_grep "^OK signer=Alice@example.com " st
'

test_expect_success 'smz-publish files it to the entry of the subject emailAddress' '
	smz-publish --uri - --ldif ch.ldif alice.pem >pb &&
	test_grep "^Alice@example.com: " pb &&
	test_grep "^dn: mail=Alice@example.com" ch.ldif
'

test_expect_success 'local_part = sensitive: found only as written; alice@ may not take Alice@ key' '
	cp policy.conf policy.insensitive &&
	sed "s/^kdf = interactive\$/&\nlocal_part = sensitive/" policy.insensitive >policy.conf &&
	printf "[vault]\nattach_trust = %s\n" "$PWD/oldca.pem" >>policy.conf &&
	smz-vault history Alice@example.com >h && test "$(tail -n +2 h | wc -l)" = 1 &&
	smz-vault history alice@example.com >h && test "$(tail -n +2 h | wc -l)" = 0 &&
	test_must_fail 65 smz-vault export -q --passphrase-file pw --address alice@example.com --out none >/dev/null &&
	openssl x509 -req -in alice.csr -CA oldca.pem -CAkey oldca.key -set_serial 0x66 -days 365 \
		-extfile alice.ext -subj "/CN=alice/emailAddress=alice@example.com" -out lower.pem 2>/dev/null &&
	test_must_fail 65 smz-vault attach --passphrase-file pw lower.pem >out 2>err &&
	test_grep "names alice@example.com, but the key was made for Alice@example.com" err &&
	cp policy.insensitive policy.conf
'

test_expect_success 'subjectAltName rfc822Name and a different subject emailAddress: only the SAN counts, in the vault and in verify' '
	oldcert both "/CN=Bob/emailAddress=carol@example.com" "email:bob@example.com" &&
	openssl pkcs12 -export -inkey both.key -in both.pem -passout file:p12pw -out both.p12 &&
	smz-vault import -q --passphrase-file pw --password-file p12pw both.p12 >out 2>err &&
	id=$(openssl pkey -in both.key -pubout -outform DER | openssl dgst -sha256 -r | cut -d" " -f1) &&
	smz-vault show "$id" | test_grep "^addresses: \[\"bob@example.com\"\]\$" - &&
	test "$(smz-vault history carol@example.com | tail -n +2 | wc -l)" = 0 &&
	smz-vault history bob@example.com | test_grep "	$id	" - &&
	openssl cms -sign -in m.txt -signer both.pem -inkey both.key -md sha256 \
		-from carol@example.com -to bob@example.com -subject hi -out c.eml &&
	test_must_fail 1 smz-sign --verify --trust oldca.pem c.eml >st &&
	test_grep "^FAIL from-mismatch: signed by bob@example.com" st
'

test_expect_success 'a certificate for the same key naming the subject address instead is refused (65)' '
	openssl x509 -req -in both.csr -CA oldca.pem -CAkey oldca.key -set_serial 0x77 -days 365 \
		-extfile alice.ext -out carol.pem 2>/dev/null &&
	printf "[vault]\nattach_trust = %s\n" "$PWD/oldca.pem" >>policy.conf &&
	test_must_fail 65 smz-vault attach --passphrase-file pw carol.pem >out 2>err &&
	test_grep "names carol@example.com, but the key was made for bob@example.com" err &&
	test "$(smz-vault history carol@example.com | tail -n +2 | wc -l)" = 0
'

test_done
