#!/bin/sh
# smz-sign --encrypt --ldap: recipient certificates from a real slapd (what
# smz-publish wrote), an unreachable directory is exit 69 with nothing
# written, an address without an entry is refused.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/slapd.sh"

slapd_start || { echo "Bail out! cannot start slapd"; exit 1; }
printf 'secret' >"$TRASH/slapd/adminpw.raw"
PEOPLE=ou=people,$SLAPD_BASE
write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer" "[ldap]" "base = $PEOPLE"
new_vault
smz-issue init -q --no-passphrase
printf 'email\nbob@example.com\ncarol@example.com\n' >r.csv
smz-keygen -q r.csv | smz-issue -q | smz-vault attach -q >certs.pem
"$TOP/tests/helpers/unseal" vault pw >keys.txt
awk '/^# /{on = ($2 == "bob@example.com"); next} on' keys.txt >bob.key
awk '/BEGIN/{n++} {print > ("c." n)}' certs.pem
for f in c.*; do cp "$f" "$(openssl x509 -in "$f" -noout -email | head -n 1).pem"; done
# a sender outside this vault: a policy without a vault, the directory only
sed -e '/^\[vault\]/,/^\[/{/^path/d}' policy.conf >outside.conf
cat >msg.eml <<'EOF'
From: partner@other.org
To: bob@example.com, carol@example.com
Subject: quote
MIME-Version: 1.0
Content-Type: text/plain

Our quote is attached.
EOF

test_expect_success 'the directory holds bob and carol, certificates published by smz-publish' '
	printf "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n" "$SLAPD_BASE" >people.ldif &&
	printf "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n" "$PEOPLE" >>people.ldif &&
	for u in bob carol dave; do
		printf "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@example.com\n\n" $u "$PEOPLE" $u $u $u $u >>people.ldif
	done &&
	ldapadd -x -H "$SLAPD_URI" -D "$SLAPD_ADMIN" -y "$TRASH/slapd/adminpw.raw" -f people.ldif >/dev/null &&
	smz-publish -q --uri "$SLAPD_URI" --base "$PEOPLE" --bind-dn "$SLAPD_ADMIN" --bind-pw-file "$SLAPD_PW" certs.pem
'

test_expect_success 'encrypt with certificates from the directory only; openssl decrypts' '
	SMZ_POLICY=$PWD/outside.conf smz-sign --encrypt --ldap "$SLAPD_URI" msg.eml >e.eml 2>err &&
	test_grep "for 2 recipients (0 RSA PKCS#1 v1.5, 0 RSA-OAEP, 2 ECDH); no copy for the sender" err &&
	openssl cms -decrypt -in e.eml -recip bob@example.com.pem -inkey bob.key -out e.bob &&
	test_grep "^Our quote is attached." e.bob &&
	smz-sign -q --decrypt --passphrase-file pw e.eml | test_cmp msg.eml -
'

test_expect_success 'an address without a directory entry or certificate: 65, nothing written' '
	sed "s/^To: .*/To: dave@example.com/" msg.eml >dave.eml &&
	test_must_fail 65 env SMZ_POLICY=$PWD/outside.conf smz-sign --encrypt --ldap "$SLAPD_URI" dave.eml >out 2>err &&
	test_grep "no usable encryption certificate for dave@example.com" err && ! test -s out
'

# a partner: an attacker's self-signed certificate for its mailbox in the
# directory, then one from the partner's own CA
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout forged.key -out forged.pem \
	-subj "/CN=partner" -days 30 -addext "subjectAltName=email:partner@other.example" \
	-addext keyUsage=keyAgreement -addext extendedKeyUsage=emailProtection 2>/dev/null
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pca.key -out pca.pem \
	-subj "/CN=Partner Root" -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
printf 'subjectAltName = email:partner@other.example\nkeyUsage = keyAgreement\nextendedKeyUsage = emailProtection\n' >partner.ext
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout partner.key -subj "/CN=partner" 2>/dev/null |
	openssl x509 -req -CA pca.pem -CAkey pca.key -days 30 -out partner.pem -extfile partner.ext 2>/dev/null
put_cert() { # FILE: the partner entry's only userCertificate
	{ printf "dn: uid=partner,%s\nchangetype: modify\nreplace: userCertificate;binary\nuserCertificate;binary:: " "$PEOPLE" &&
		openssl x509 -in "$1" -outform DER | base64 -w0 && printf "\n"; } >cert.ldif &&
	ldapmodify -x -H "$SLAPD_URI" -D "$SLAPD_ADMIN" -y "$TRASH/slapd/adminpw.raw" -f cert.ldif >/dev/null
}
sed "s/^To: .*/To: partner@other.example/; s/^From: .*/From: bob@example.com/" msg.eml >partner.eml

test_expect_success 'a self-signed certificate in the directory is not used: reported untrusted, nothing written' '
	printf "dn: uid=partner,%s\nobjectClass: inetOrgPerson\nuid: partner\ncn: partner\nsn: partner\nmail: partner@other.example\n" "$PEOPLE" >partner.ldif &&
	ldapadd -x -H "$SLAPD_URI" -D "$SLAPD_ADMIN" -y "$TRASH/slapd/adminpw.raw" -f partner.ldif >/dev/null &&
	put_cert forged.pem &&
	test_must_fail 65 smz-sign --encrypt --ldap "$SLAPD_URI" partner.eml >out 2>err &&
	test_grep "no usable encryption certificate for partner@other.example: directory: untrusted: self-signed certificate" err &&
	! test -s out
'

test_expect_success 'a certificate from a CA in [smime] trust is used; the partner decrypts' '
	put_cert partner.pem &&
	test_must_fail 65 smz-sign --encrypt --ldap "$SLAPD_URI" partner.eml >out 2>err &&
	test_grep "directory: untrusted: unable to get local issuer certificate" err &&
	cat ca/root.pem pca.pem >anchors.pem &&
	sed "/^\[ldap\]/i [smime]\ntrust = $PWD/anchors.pem" policy.conf >trusting.conf &&
	SMZ_POLICY=$PWD/trusting.conf smz-sign --encrypt --ldap "$SLAPD_URI" partner.eml >pe.eml 2>err &&
	openssl cms -decrypt -in pe.eml -recip partner.pem -inkey partner.key -out pe.out &&
	test_grep "^Our quote is attached." pe.out &&
	! openssl cms -decrypt -in pe.eml -recip forged.pem -inkey forged.key -out /dev/null 2>/dev/null
'

test_expect_success 'an unreachable directory: 69, a clear message, nothing written' '
	port=$(free_port) &&
	test_must_fail 69 env SMZ_POLICY=$PWD/outside.conf smz-sign --encrypt --ldap "ldap://127.0.0.1:$port" msg.eml >out 2>err &&
	test_grep "ldap://127.0.0.1:$port" err && ! test -s out
'

slapd_stop
test_done
