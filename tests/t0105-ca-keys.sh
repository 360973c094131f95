#!/bin/sh
# The CA keys on disk: PKCS#8 PBES2 with scrypt under the CA passphrase,
# readable by openssl pkey; keys written by earlier versions (PBKDF2,
# 2048 iterations) still open.
. "$(dirname "$0")/lib.sh"

write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer" "[certificate]" "profile = mailbox-strict" \
	"validity_days = 400" "organization = Example Corp" "country = GB"
printf 'ca passphrase\n' >capw
printf 'not the passphrase\n' >bad
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a.key \
	-subj "/CN=a/emailAddress=a@example.com" -addext "subjectAltName=email:a@example.com" \
	-out a.csr 2>/dev/null

# kdf_of KEY: the PBES2 key derivation and its integers as openssl
# asn1parse shows them: "scrypt N r p" or "PBKDF2 iterations", in hex
kdf_of() {
	openssl asn1parse -in "$1" | awk -F: '
		/OBJECT/ && $NF == "PBES2" { p = 1; next }
		p && /OBJECT/ && kdf == "" { kdf = $NF; next }
		p && /OBJECT/ && $NF ~ /-(cbc|gcm)$/ { print kdf v; exit }
		p && kdf != "" && /INTEGER/ { v = v " " $NF }'
}

test_expect_success 'init: both CA keys are PBES2 + scrypt (N=2^14, r=8, p=16)' '
	smz-issue init -q --passphrase-file capw &&
	for k in root issuing; do
		test_grep "BEGIN ENCRYPTED PRIVATE KEY" ca/$k.key &&
		openssl asn1parse -in ca/$k.key >asn1 && test_grep ":PBES2" asn1 &&
		test_grep ":scrypt" asn1 && test_grep ":aes-256-cbc" asn1 &&
		test "$(kdf_of ca/$k.key)" = "scrypt 4000 08 10" || exit 1
	done
'

test_expect_success 'openssl pkey opens them with the passphrase, not without' '
	for k in root issuing; do
		openssl pkey -in ca/$k.key -passin file:capw -noout || exit 1
		test_must_fail 1 openssl pkey -in ca/$k.key -passin file:bad -noout 2>/dev/null || exit 1
	done &&
	openssl pkey -in ca/issuing.key -passin file:capw -pubout >pub &&
	openssl x509 -in ca/issuing.pem -noout -pubkey >certpub && test_cmp certpub pub
'

test_expect_success 'issuing works under the new key file' '
	smz-issue -q --passphrase-file capw a.csr >a.pem &&
	openssl verify -x509_strict -purpose smimesign -CAfile ca/root.pem -untrusted ca/issuing.pem a.pem
'

test_expect_success 'a wrong CA passphrase is still exit 77, nothing issued' '
	test_must_fail 77 smz-issue --passphrase-file bad a.csr >o 2>err &&
	test_grep "issuing.key: wrong passphrase" err && test ! -s o &&
	test_must_fail 77 smz-issue a.csr >o 2>err </dev/null && test_grep "issuing.key is encrypted (--passphrase-file FILE)" err
'

test_expect_success 'a key written by an earlier version (PBKDF2, 2048 iterations) still opens' '
	cp capw capw2 && # one file for -passin and -passout would be read as two lines
	openssl pkcs8 -topk8 -in ca/issuing.key -passin file:capw -v2 aes-256-cbc -iter 2048 \
		-passout file:capw2 -out old.key &&
	test "$(kdf_of old.key)" = "PBKDF2 0800" &&
	chmod 600 old.key && mv old.key ca/issuing.key &&
	smz-issue -q --passphrase-file capw a.csr >a2.pem &&
	openssl verify -purpose smimesign -CAfile ca/root.pem -untrusted ca/issuing.pem a2.pem &&
	test_must_fail 77 smz-issue --passphrase-file bad a.csr 2>err && test_grep "wrong passphrase" err
'

test_expect_success '--root-key: an encrypted enterprise root is read, used once, not stored' '
	mkdir ent && cd ent &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -passout file:../capw \
		-keyout root.key -out root.pem -days 3650 -subj "/CN=Enterprise Root/O=Example Corp" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		2>/dev/null &&
	printf "issuing\n" >pw &&
	test_must_fail 77 smz-issue init -q --ca ca --passphrase-file pw --root-cert root.pem \
		--root-key root.key 2>err && test_grep "root.key is encrypted (--root-passphrase-file FILE)" err && test ! -e ca/issuing.key &&
	rm -rf ca && smz-issue init -q --ca ca --passphrase-file pw --root-cert root.pem --root-key root.key \
		--root-passphrase-file ../capw &&
	test ! -e ca/root.key && test "$(kdf_of ca/issuing.key)" = "scrypt 4000 08 10" &&
	openssl pkey -in ca/issuing.key -passin file:pw -noout &&
	smz-issue -q --ca ca --passphrase-file pw ../a.csr >a.pem &&
	openssl verify -purpose smimesign -CAfile root.pem -untrusted ca/issuing.pem a.pem
'

test_done
