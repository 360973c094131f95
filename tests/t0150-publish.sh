#!/bin/sh
# smz-publish against a real slapd: certificates land in the directory as
# issued, other CAs' stay, renewals replace, hostile addresses cannot widen
# a search, a server that goes away or a TLS certificate from the wrong CA
# are handled cleanly.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/slapd.sh"

slapd_start || { echo "Bail out! cannot start slapd"; exit 1; }
printf 'secret' >"$TRASH/slapd/adminpw.raw"
write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase
PEOPLE=ou=people,$SLAPD_BASE
pub() { smz-publish --uri "$SLAPD_URI" --base "$PEOPLE" --bind-dn "$SLAPD_ADMIN" --bind-pw-file "$SLAPD_PW" "$@"; }
der_of() { ldapsearch -x -LLL -H "$SLAPD_URI" -b "$PEOPLE" "(mail=$1)" "$2" | tr -d '\n ' |
	sed -n "s/.*$2::\([A-Za-z0-9+/=]*\).*/\1/p"; }

# an "other CA" certificate that must survive
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.pem \
	-days 30 -subj "/CN=Other CA Person/emailAddress=p7@example.com" 2>/dev/null
openssl x509 -in other.pem -outform DER -out other.der

test_expect_success 'a directory of 300 people' '
	{
		printf "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n" "$SLAPD_BASE"
		printf "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n" "$PEOPLE"
		for i in $(seq 1 300); do
			printf "dn: uid=p%s,%s\nobjectClass: inetOrgPerson\nuid: p%s\ncn: Person %s\nsn: Surname%s\nmail: p%s@example.com\n" \
				$i "$PEOPLE" $i $i $((i % 7)) $i
			[ $((i % 50)) = 0 ] && printf "mail: alias%s@example.com\n" $i
			[ $i = 7 ] && printf "userCertificate;binary:< file://%s/other.der\n" "$PWD"
			echo
		done
		printf "dn: cn=Smith\\\\, John,%s\nobjectClass: inetOrgPerson\ncn: Smith, John\nsn: Smith\nmail: john@example.com\n\n" "$PEOPLE"
	} >people.ldif &&
	ldapadd -x -H "$SLAPD_URI" -D "$SLAPD_ADMIN" -y "$TRASH/slapd/adminpw.raw" -f people.ldif >/dev/null &&
	test "$(ldapsearch -x -LLL -H "$SLAPD_URI" -b "$PEOPLE" "(objectClass=inetOrgPerson)" dn | grep -c "^dn:")" -eq 301
'

test_expect_success 'publish 300 certificates: each one stored exactly as issued' '
	{ echo email; seq 1 300 | sed "s/.*/p&@example.com/"; echo alias50@example.com; echo john@example.com; } >r.csv &&
	smz-keygen -q r.csv | smz-issue -q | smz-vault attach -q >certs.pem &&
	pub --smime-attribute certs.pem >out 2>err &&
	test "$(grep -c ": published\$" out)" -eq 302 &&
	test_grep "302 published, 0 unchanged" err &&
	split_pem certs.pem c && for i in 1 150 300; do
		want=$(openssl x509 -in c.$i -outform DER | base64 -w0) &&
		addr=$(openssl x509 -in c.$i -noout -ext subjectAltName | sed -n "s/.*email://p") &&
		test "$(der_of "$addr" "userCertificate;binary")" = "$want" || exit 1
	done
'

test_expect_success 'the other CA'"'"'s certificate is still there' '
	ldapsearch -x -LLL -H "$SLAPD_URI" -b "$PEOPLE" "(mail=p7@example.com)" "userCertificate;binary" |
		tr -d "\n " | sed "s/userCertificate;binary::/\n/g" | tail -n +2 >p7vals &&
	test "$(grep -c "" p7vals)" -eq 2 && grep -qx "$(base64 -w0 other.der)" p7vals
'

test_expect_success 'userSMIMECertificate parses as PKCS#7 with the certificate and the chain' '
	der_of p150@example.com userSMIMECertificate | base64 -d >p7.der &&
	openssl pkcs7 -inform DER -in p7.der -print_certs -noout >p7.txt &&
	test_grep "subject=CN = p150@example.com" p7.txt && test_grep "subject=CN = smz S/MIME Issuing CA" p7.txt
'

test_expect_success 'an entry with two addresses and a DN with a comma' '
	test_grep "^alias50@example.com: published\$" out && test_grep "^john@example.com: published\$" out
'

test_expect_success 'publishing the same stream again changes nothing' '
	pub --smime-attribute certs.pem >out2 2>err2 &&
	test "$(grep -c ": unchanged\$" out2)" -eq 302 && test_grep "0 published, 302 unchanged" err2
'

test_expect_success 'a renewal replaces this CA'"'"'s old certificate, never the other CA'"'"'s' '
	printf "p7@example.com\n" | smz-keygen -q --addresses --new-key - | smz-issue -q | smz-vault attach -q >new.pem &&
	pub new.pem >out3 && test_grep "^p7@example.com: published\$" out3 &&
	ldapsearch -x -LLL -H "$SLAPD_URI" -b "$PEOPLE" "(mail=p7@example.com)" "userCertificate;binary" | tr -d "\n " |
		sed "s/userCertificate;binary::/\n/g" | tail -n +2 | sort >vals &&
	{ base64 -w0 other.der; echo; openssl x509 -in new.pem -outform DER | base64 -w0; echo; } | sort >want &&
	test_cmp want vals
'

test_expect_success 'an address with a filter metacharacter cannot widen the search' '
	printf "a*b@example.com\n" | smz-keygen -q --addresses - | smz-issue -q | smz-vault attach -q >star.pem &&
	test_must_fail 65 pub star.pem >out4 &&
	test_grep "^a[*]b@example.com: FAIL no directory entry\$" out4 &&
	ldapsearch -x -LLL -H "$SLAPD_URI" -b "$PEOPLE" "(userCertificate;binary=*)" dn | grep -c "^dn:" >n &&
	test "$(cat n)" -eq 301
'

test_expect_success '--dry-run and --ldif change nothing; the LDIF applies with ldapmodify' '
	printf "p1@example.com\n" | smz-keygen -q --addresses --new-key - | smz-issue -q | smz-vault attach -q >n1.pem &&
	pub --dry-run n1.pem >dry && test_grep "^p1@example.com: planned publish to uid=p1,ou=people" dry &&
	pub --ldif ch.ldif n1.pem >l && test_grep "^changetype: modify" ch.ldif &&
	test "$(der_of p1@example.com "userCertificate;binary")" = "$(openssl x509 -in c.1 -outform DER | base64 -w0)" &&
	ldapmodify -x -H "$SLAPD_URI" -D "$SLAPD_ADMIN" -y "$TRASH/slapd/adminpw.raw" -f ch.ldif >/dev/null &&
	test "$(der_of p1@example.com "userCertificate;binary")" = "$(openssl x509 -in n1.pem -outform DER | base64 -w0)"
'

test_expect_success '--remove takes a certificate out' '
	pub --remove c.2 >rm && test_grep "^p2@example.com: removed\$" rm &&
	test -z "$(der_of p2@example.com "userCertificate;binary")"
'

test_expect_success 'ldapi:// with SASL EXTERNAL (peer credentials), no password' '
	smz-publish --uri "$SLAPD_LDAPI" --base "$PEOPLE" c.4 >x1 && test_grep "^p4@example.com: unchanged\$" x1 &&
	smz-publish --uri "$SLAPD_LDAPI" --base "$PEOPLE" --remove c.4 >x2 && test_grep "^p4@example.com: removed\$" x2 &&
	smz-publish --uri "$SLAPD_LDAPI" --base "$PEOPLE" c.4 >x3 && test_grep "^p4@example.com: published\$" x3
'

test_expect_success 'a bad filter is a usage or configuration error' '
	test_must_fail 64 pub --filter "mail=%s" c.3 2>err && test_grep "expected an LDAP filter" err &&
	test_must_fail 78 pub --filter "(mail=%s" c.3 2>err && test_grep "bad search filter" err &&
	test_must_fail 64 smz-publish --uri - --ldif x.ldif --remove c.3 2>err
'

test_expect_success '--remove --serial takes out a certificate found in the CA database' '
	serial=$(openssl x509 -in c.6 -noout -serial | cut -d= -f2) &&
	pub --remove --serial "$serial" >rs && test_grep "^p6@example.com: removed\$" rs &&
	test -z "$(der_of p6@example.com "userCertificate;binary")" &&
	test_must_fail 65 pub --remove --serial 0123 2>err && test_grep "no certificate with this serial" err
'

test_expect_success 'a forged address with filter syntax never reaches the directory' '
	printf "subjectAltName=email:x)(mail=*@example.com\n" >forged.ext &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout f.key -subj "/CN=f" -out f.csr 2>/dev/null &&
	openssl x509 -req -in f.csr -CA ca/issuing.pem -CAkey ca/issuing.key -set_serial 77 -days 3 -extfile forged.ext -out forged.pem 2>/dev/null &&
	test_must_fail 65 pub forged.pem >fo &&
	test_grep "^certificate 1: FAIL subjectAltName: .*not allowed in a local part\$" fo
'

test_expect_success 'an AD-style filter with two %s' '
	pub --filter "(|(mail=%s)(description=smtp:%s))" c.8 >ad && test_grep "^p8@example.com: unchanged\$" ad
'

test_expect_success 'bad credentials: 77; unreachable server: 69, nothing changed' '
	printf "wrong\n" >badpw &&
	test_must_fail 77 smz-publish --uri "$SLAPD_URI" --base "$PEOPLE" --bind-dn "$SLAPD_ADMIN" --bind-pw-file badpw c.3 2>err &&
	test_grep "Invalid credentials" err &&
	test_must_fail 69 smz-publish --uri ldap://127.0.0.1:1 --base "$PEOPLE" --timeout 3 c.3 2>err &&
	test_grep "unable to publish" err
'

test_expect_success 'TLS: the right CA is accepted, a wrong CA refused' '
	smz-publish --uri "$SLAPD_TLS_URI" --tls-ca "$SLAPD_CA" --base "$PEOPLE" --bind-dn "$SLAPD_ADMIN" --bind-pw-file "$SLAPD_PW" c.3 >t1 &&
	test_grep "^p3@example.com: unchanged\$" t1 &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout w.key -out wrongca.pem -days 3 -subj "/CN=wrong" 2>/dev/null &&
	test_must_fail 69 smz-publish --uri "$SLAPD_TLS_URI" --tls-ca wrongca.pem --base "$PEOPLE" --bind-dn "$SLAPD_ADMIN" --bind-pw-file "$SLAPD_PW" c.3 >t2 2>err &&
	test_must_fail 69 smz-publish --uri "$SLAPD_URI" --starttls --tls-ca wrongca.pem --base "$PEOPLE" --bind-dn "$SLAPD_ADMIN" --bind-pw-file "$SLAPD_PW" c.3 >t3 2>err
'

test_expect_success 'the server stops in mid-stream: a clean report, exit 69' '
	for i in $(seq 10 40); do cat c.$i; done >first.pem && for i in $(seq 41 80); do cat c.$i; done >second.pem &&
	{ cat first.pem; sleep 1; slapd_stop; cat second.pem; } |
		{ pub -; echo $? >rc; } >mid 2>err;
	test "$(cat rc)" -eq 69 &&
	test "$(grep -c ": unchanged\$" mid)" -eq 31 &&
	test "$(grep -c ": not applied\$" mid)" -ge 39 &&
	test_grep "unable to publish" err
'

test_done
