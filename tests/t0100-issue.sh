#!/bin/sh
# smz-issue: certificates meeting the S/MIME BRs under every profile and
# key type, accepted by OpenSSL, NSS (Thunderbird's engine) and GnuTLS.
. "$(dirname "$0")/lib.sh"

# ca_policy PROFILE [ISSUING-ALG]: a policy for the CA tests
ca_policy() {
	write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
		"issuer_url = http://pki.example.com/issuing.cer" "issuing_algorithm = ${2:-ec-p256}" \
		"[certificate]" "profile = $1" "validity_days = 400" "organization = Example Corp" \
		"organization_identifier = NTRGB-12345678" "country = GB"
}
# csr NAME NEWKEY-ARGS...: a CSR made by openssl for NAME@example.com, with
# given name and surname
csr() {
	n=$1
	shift
	openssl req -new "$@" -nodes -keyout "$n.key" -subj "/CN=$n/GN=Given/SN=Sur$n/emailAddress=$n@example.com" \
		-addext "subjectAltName=email:$n@example.com" -out "$n.csr" 2>/dev/null
}
# nss_check CERT USAGE: NSS certutil -V in a fresh database trusting our root
# (NSS gives certificates of one subject one nickname, so one database each)
nss_check() {
	rm -rf nss.tmp && mkdir nss.tmp && certutil -N -d sql:nss.tmp --empty-password &&
	certutil -A -d sql:nss.tmp -n root -t "C,C,C" -i ca/root.pem &&
	certutil -A -d sql:nss.tmp -n issuing -t ",," -i ca/issuing.pem &&
	certutil -A -d sql:nss.tmp -n leaf -t ",," -i "$1" &&
	certutil -V -d sql:nss.tmp -n leaf -u "$2" 2>&1 | grep -q "certificate is valid"
}

ca_policy mailbox-strict
printf 'ca passphrase\n' >capw

test_expect_success 'init: root and issuing CA, keys encrypted, files 0600' '
	smz-issue init -q --passphrase-file capw &&
	test_grep "BEGIN ENCRYPTED PRIVATE KEY" ca/issuing.key &&
	test_grep "BEGIN ENCRYPTED PRIVATE KEY" ca/root.key &&
	test "$(stat -c %a ca/issuing.key)" = 600 && test "$(stat -c %a ca)" = 700 &&
	openssl verify -x509_strict -CAfile ca/root.pem ca/issuing.pem &&
	test_must_fail 73 smz-issue init --passphrase-file capw 2>err && test_grep "already there" err
'

test_expect_success 'the issuing CA: pathLen 0, CA key usage, EKU, name constraints' '
	openssl x509 -in ca/issuing.pem -noout -text >ica &&
	test_grep "CA:TRUE, pathlen:0" ica && test_grep "Certificate Sign, CRL Sign" ica &&
	test_grep "E-mail Protection" ica &&
	grep -A4 "Name Constraints: critical" ica >nc &&
	test_grep "email:example.com" nc && test_grep "email:example.org" nc &&
	test_grep "email:xn--bcher-kva.example" nc
'

test_expect_success 'CSRs of four key types' '
	csr r2048 -newkey rsa:2048 && csr r3072 -newkey rsa:3072 &&
	csr p256 -newkey ec -pkeyopt ec_paramgen_curve:P-256 &&
	csr p384 -newkey ec -pkeyopt ec_paramgen_curve:P-384 &&
	cat r2048.csr r3072.csr p256.csr p384.csr >four.csr && test "$(grep -c BEGIN four.csr)" -eq 4
'


for profile in mailbox-strict mailbox-multipurpose sponsor-strict sponsor-multipurpose; do
	test_expect_success "$profile: every key type verifies in OpenSSL, NSS and GnuTLS" "
		ca_policy $profile &&
		smz-issue -q --passphrase-file capw four.csr >$profile.pem &&
		split_pem $profile.pem $profile &&
		for i in 1 2 3 4; do
			c=$profile.\$i
			openssl verify -x509_strict -purpose smimesign -CAfile ca/root.pem -untrusted ca/issuing.pem \$c >/dev/null || exit 1
			nss_check \$c S || { echo \"NSS rejects \$c for signing\"; exit 1; }
			nss_check \$c R || { echo \"NSS rejects \$c for encryption\"; exit 1; }
			cat \$c ca/issuing.pem ca/root.pem >chain.\$i &&
			certtool --verify-chain --infile chain.\$i 2>&1 | grep -q 'Chain verification output: Verified' || exit 1
		done &&
		for i in 1 2; do
			openssl verify -x509_strict -purpose smimeencrypt -CAfile ca/root.pem -untrusted ca/issuing.pem $profile.\$i >/dev/null || exit 1
		done
	"
done

# br_check CERT PROFILE-OID KEYTYPE SPONSOR: each BR rule, field by field
br_check() {
	openssl x509 -in "$1" -noout -text -certopt ext_parse >t.txt &&
	openssl x509 -in "$1" -noout -serial | sed 's/serial=//' >serial.txt &&
	# serial: 20 octets, positive, below 2^159
	test "$(wc -c <serial.txt)" -eq 41 && grep -q "^[4-7]" serial.txt &&
	# exactly one policy: the reserved OID for the profile, no anyPolicy
	test "$(grep -c "Policy: " t.txt)" -eq 1 && grep -q "Policy: $2\$" t.txt &&
	! grep -q "X509v3 Any Policy\|2.5.29.32.0" t.txt &&
	# validity from policy (400 days), at most 825
	nb=$(date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s) &&
	na=$(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s) &&
	test $(((na - nb) / 86400)) -eq 400 &&
	# keyUsage critical, by key type, no CA bits
	grep -q "X509v3 Key Usage: critical" t.txt &&
	if [ "$3" = rsa ]; then grep -A1 "Key Usage: critical" t.txt | grep -q "Digital Signature, Key Encipherment\$"
	else grep -A1 "Key Usage: critical" t.txt | grep -q "Digital Signature, Key Agreement\$"; fi &&
	! grep -q "Certificate Sign" t.txt &&
	grep -q "CA:FALSE" t.txt &&
	# extKeyUsage emailProtection only
	test "$(grep -A1 "Extended Key Usage" t.txt | tail -n 1 | tr -d " ")" = "E-mailProtection" &&
	# SAN rfc822Name
	grep -A1 "Subject Alternative Name" t.txt | grep -q "email:.*@example.com" &&
	# subject per profile
	subj=$(openssl x509 -in "$1" -noout -subject -nameopt sep_comma_plus,lname) &&
	if [ "$4" = sponsor ]; then
		echo "$subj" | grep -q "commonName=Given Sur.*,givenName=Given,surname=Sur.*,organizationName=Example Corp,organizationIdentifier=NTRGB-12345678,countryName=GB,emailAddress=.*@example.com"
	else
		echo "$subj" | grep -q "^subject=commonName=[a-z0-9]*@example.com,emailAddress=[a-z0-9]*@example.com\$"
	fi &&
	# CRL DP and AIA over http, AKI keyid only, SKI, S/MIME capabilities
	grep -A2 "CRL Distribution Points" t.txt | grep -q "URI:http://pki.example.com/smz.crl" &&
	grep -A1 "Authority Information Access" t.txt | grep -q "CA Issuers - URI:http://pki.example.com/issuing.cer" &&
	test "$(grep -A2 "Authority Key Identifier" t.txt | grep -c "DirName\|serial")" -eq 0 &&
	grep -q "Subject Key Identifier" t.txt && grep -q "S/MIME Capabilities" t.txt &&
	grep -q "Signature Algorithm: ecdsa-with-SHA256" t.txt
}

test_expect_success 'BR rules field by field, every profile and key type' '
	br_check mailbox-strict.1 2.23.140.1.5.1.3 rsa mailbox &&
	br_check mailbox-strict.3 2.23.140.1.5.1.3 ec mailbox &&
	br_check mailbox-multipurpose.2 2.23.140.1.5.1.2 rsa mailbox &&
	br_check mailbox-multipurpose.4 2.23.140.1.5.1.2 ec mailbox &&
	br_check sponsor-strict.1 2.23.140.1.5.3.3 rsa sponsor &&
	br_check sponsor-strict.4 2.23.140.1.5.3.3 ec sponsor &&
	br_check sponsor-multipurpose.2 2.23.140.1.5.3.2 rsa sponsor &&
	br_check sponsor-multipurpose.3 2.23.140.1.5.3.2 ec sponsor
'

test_expect_success 'the certificate comes from policy, not from the request' '
	ca_policy mailbox-strict &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout x.key \
		-subj "/CN=x/O=Evil Corp/emailAddress=x@example.com" \
		-addext "subjectAltName=email:x@example.com" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=keyCertSign" -out x.csr 2>/dev/null &&
	smz-issue -q --passphrase-file capw x.csr >x.pem &&
	openssl x509 -in x.pem -noout -text >xt &&
	test_grep "CA:FALSE" xt && ! grep -q "Certificate Sign" xt && ! grep -q "Evil Corp" xt
'

test_expect_success 'bad requests are rejected with their index, good ones issued' '
	ca_policy mailbox-strict &&
	csr good1 -newkey rsa:2048 && csr good2 -newkey rsa:2048 &&
	openssl req -new -newkey rsa:1024 -nodes -keyout w.key -subj "/CN=weak" -addext "subjectAltName=email:weak@example.com" -out weak.csr 2>/dev/null &&
	openssl req -new -newkey ed25519 -nodes -keyout ed.key -subj "/CN=ed" -addext "subjectAltName=email:ed@example.com" -out ed.csr 2>/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout f.key -subj "/CN=f" -addext "subjectAltName=email:boss@evil.example" -out foreign.csr 2>/dev/null &&
	# a bad signature: invert a byte in the signature of a good request (writing
	# a fixed value changed nothing when the byte already had it, 1 run in 256)
	openssl req -in good1.csr -outform DER -out g.der &&
	len=$(stat -c %s g.der) && b=$(od -An -tu1 -j $((len - 10)) -N1 g.der) &&
	printf "\\$(printf %03o $((255 - b)))" | dd of=g.der bs=1 seek=$((len - 10)) conv=notrunc 2>/dev/null &&
	openssl req -in g.der -inform DER -noout -verify 2>&1 | grep -q "verify failure" &&
	{ echo "-----BEGIN CERTIFICATE REQUEST-----"; base64 g.der; echo "-----END CERTIFICATE REQUEST-----"; } >badsig.csr &&
	printf -- "-----BEGIN CERTIFICATE REQUEST-----\n!!!not base64!!!\n-----END CERTIFICATE REQUEST-----\n" >garbage.csr &&
	{ echo "-----BEGIN CERTIFICATE REQUEST-----"; openssl req -in good2.csr -outform DER | head -c 200 | base64; echo "-----END CERTIFICATE REQUEST-----"; } >trunc.csr &&
	{ echo "-----BEGIN CERTIFICATE REQUEST-----"; head -c 100000000 /dev/zero | tr "\\0" A; echo; echo "-----END CERTIFICATE REQUEST-----"; } >huge.csr &&
	cat good1.csr badsig.csr weak.csr ed.csr foreign.csr garbage.csr trunc.csr huge.csr good2.csr >mixed.csr &&
	test_must_fail 65 smz-issue --passphrase-file capw mixed.csr >mixed.pem 2>err &&
	test "$(grep -c "BEGIN CERTIFICATE" mixed.pem)" -eq 2 &&
	test_grep "request 2 (line [0-9]*): rejected: bad signature" err &&
	test_grep "request 3 (line [0-9]*): rejected: RSA key of 1024 bits" err &&
	test_grep "request 4 (line [0-9]*): rejected: unsupported key type ED25519" err &&
	test_grep "request 5 (line [0-9]*): rejected: boss@evil.example: domain evil.example is not allowed" err &&
	test_grep "request 6 (line [0-9]*): rejected: line [0-9]*: bad base64" err &&
	test_grep "request 7 (line [0-9]*): rejected: not a PKCS#10 request" err &&
	test_grep "request 8 (line [0-9]*): rejected: line [0-9]*: line longer than 4096 bytes" err &&
	test_grep "2 issued, 0 already issued, 7 rejected" err &&
	split_pem mixed.pem m && openssl x509 -in m.1 -noout -subject | test_grep good1@ - &&
	openssl x509 -in m.2 -noout -subject | test_grep good2@ -
'

test_expect_success 'a revoked certificate is in the next CRL, with its reason' '
	serial=$(openssl x509 -in m.1 -noout -serial | cut -d= -f2) && echo "$serial" >serial.txt &&
	smz-issue revoke --reason keyCompromise "$serial" >rv && test_grep "revoked\$" rv &&
	smz-issue revoke --reason superseded --address good1@example.com >rv2 &&
	test_grep "already revoked" rv2 &&
	test_must_fail 64 smz-issue revoke --reason unspecified "$serial" 2>err && test_grep "reason unspecified" err &&
	smz-issue crl -q --passphrase-file capw --out crl.pem &&
	openssl crl -in crl.pem -noout -text >crl.txt &&
	test_grep "Serial Number: $serial" crl.txt && test_grep "Key Compromise" crl.txt &&
	test_grep "X509v3 CRL Number:" crl.txt &&
	openssl crl -in crl.pem -CAfile ca/issuing.pem -noout -verify 2>&1 | test_grep "verify OK" - &&
	test_must_fail 2 openssl verify -crl_check -CRLfile crl.pem -CAfile ca/root.pem -untrusted ca/issuing.pem m.1 >v 2>&1;
	test_grep "certificate revoked" v &&
	openssl verify -crl_check -CRLfile crl.pem -CAfile ca/root.pem -untrusted ca/issuing.pem m.2 &&
	smz-issue crl -q --passphrase-file capw --out crl2.pem &&
	openssl crl -in crl2.pem -noout -text | grep -A1 "CRL Number" | tail -n 1 | grep -q "2\$"
'

test_expect_success 'the name constraints hold: a foreign certificate forced under the CA fails' '
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ev.key -subj "/CN=ceo@evil.example/emailAddress=ceo@evil.example" -out ev.csr 2>/dev/null &&
	printf "subjectAltName=email:ceo@evil.example\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n" >ev.ext &&
	openssl x509 -req -in ev.csr -CA ca/issuing.pem -CAkey ca/issuing.key -passin file:capw -CAcreateserial -days 30 -extfile ev.ext -out ev.pem 2>/dev/null &&
	! openssl verify -purpose smimesign -CAfile ca/root.pem -untrusted ca/issuing.pem ev.pem >ov 2>&1 &&
	test_grep "permitted subtree violation" ov &&
	! nss_check ev.pem S && certutil -V -d sql:nss.tmp -n leaf -u S >nv 2>&1;
	test_grep "not valid\|constraint\|invalid\|Peer" nv
'

test_expect_success 'a key revoked as compromised is never certified again' '
	ca_policy mailbox-strict &&
	csr comp -newkey ec -pkeyopt ec_paramgen_curve:P-256 && smz-issue -q --passphrase-file capw comp.csr >comp.pem &&
	smz-issue revoke --reason keyCompromise "$(openssl x509 -in comp.pem -noout -serial | cut -d= -f2)" >/dev/null &&
	test_must_fail 65 smz-issue --passphrase-file capw comp.csr >again.pem 2>err &&
	test_grep "revoked as compromised" err && test ! -s again.pem
'

test_expect_success 'explicit EC parameters are refused; a mailbox outside the name constraints is refused' '
	openssl ecparam -name prime256v1 -param_enc explicit -out explicit.param &&
	openssl req -new -newkey ec:explicit.param -nodes -keyout ex.key -subj "/CN=ex" \
		-addext "subjectAltName=email:ex@example.com" -out ex.csr 2>/dev/null &&
	test_must_fail 65 smz-issue --passphrase-file capw ex.csr 2>err && test_grep "explicit parameters" err &&
	sed -i "s/^allowed = .*/allowed = example.com, example.org, example.net/" policy.conf &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout nn.key -subj "/CN=nn" \
		-addext "subjectAltName=email:nn@example.net" -out nn.csr 2>/dev/null &&
	test_must_fail 65 smz-issue --passphrase-file capw nn.csr >nn.pem 2>err &&
	test_grep "outside the issuing CA.s name constraints" err && test ! -s nn.pem
'

test_expect_success 'list and expiring' '
	smz-issue list >list && test "$(head -n 1 list)" = "$(printf "serial\taddress\tkey_id\tnot_before\tnot_after\tstatus")" &&
	test_grep "	good1@example.com	.*	revoked\$" list &&
	test_grep "	good2@example.com	.*	valid\$" list &&
	smz-issue expiring --within 30d >exp && test "$(wc -l <exp)" -eq 1 &&
	smz-issue expiring --within 401 >exp && test_grep good2@example.com exp && ! grep -q good1@ exp &&
	smz-issue list --json | head -n 1 | grep -q "^{\"serial\": *\"[0-9a-f]\{40\}\""
'

test_expect_success 'plan --renewals: due by the newest valid certificate, the list'"'"'s notAfter' '
	smz-issue plan --renewals --within 30d >p30 2>err && test "$(head -n 1 p30)" = "$(printf "action\taddress\tserial\treason")" &&
	! grep -q "^renew" p30 && test_grep "plan: 0 due, [1-9][0-9]* not due" err &&
	smz-issue plan -q --renewals --within 401 >p401 &&
	awk -F"\t" "\$2 == \"good2@example.com\" && \$6 == \"valid\" { print \"renew\t\" \$2 \"\t\" \$1 \"\texpires \" \$5 }" list | sort -t "	" -k4,4r | head -n 1 >want &&
	test -s want && grep "	good2@example.com	" p401 | head -n 1 | test_cmp want - &&
	! grep -q "good1@" p401 && ! grep -v "^renew	\|^action	" p401 | grep -q . &&
	test_must_fail 64 smz-issue plan --renewals --within soon 2>err && test_grep "expected a number of days" err
'

test_expect_success 'every issuance and revocation is in the CA audit log' '
	smz-issue audit >log &&
	test "$(cut -f4 log | grep -c "^issue\$")" -eq "$(smz-issue list | tail -n +2 | cut -f1 | sort -u | wc -l)" &&
	serial=$(tr A-F a-f <serial.txt) &&
	test_grep "	revoke	$serial good1@example.com	keyCompromise	" log &&
	test_grep "	crl	CRL 2		" log &&
	smz-issue audit --verify | test_grep "^audit: OK" -
'

test_expect_success 'a wrong CA passphrase: exit 77, nothing issued' '
	printf "wrong\n" >bad && test_must_fail 77 smz-issue --passphrase-file bad good2.csr >o 2>err &&
	test_grep "wrong passphrase" err && test ! -s o &&
	test_must_fail 77 smz-issue good2.csr >o 2>err < /dev/null && test_grep "issuing.key is encrypted (--passphrase-file FILE)" err
'

test_expect_success 'init under an existing enterprise root (--root-cert/--root-key)' '
	mkdir ent && cd ent && ca_policy mailbox-strict &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout root.key -out root.pem \
		-days 3650 -subj "/CN=Enterprise Root/O=Example Corp" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null &&
	printf "x\n" >pw && smz-issue init -q --passphrase-file pw --root-cert root.pem --root-key root.key &&
	test ! -e ca/root.key && cmp root.pem ca/root.pem &&
	openssl verify -x509_strict -CAfile root.pem ca/issuing.pem &&
	openssl x509 -in ca/issuing.pem -noout -issuer | test_grep "Enterprise Root" - &&
	csr e1 -newkey ec -pkeyopt ec_paramgen_curve:P-256 &&
	smz-issue -q --passphrase-file pw e1.csr >e1.pem &&
	openssl verify -x509_strict -purpose smimesign -CAfile root.pem -untrusted ca/issuing.pem e1.pem &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.pem -days 30 -subj "/CN=x" 2>/dev/null &&
	rm -rf ca && test_must_fail 65 smz-issue init --passphrase-file pw --root-cert root.pem --root-key other.key 2>err &&
	test_grep "does not match" err
'

test_expect_success 'a policy without CRL URL cannot issue (78)' '
	printf "[domains]\nallowed = example.com\n[ca]\npath = %s/ca\n" "$PWD" >nocrl.conf &&
	test_must_fail 78 smz-issue --policy nocrl.conf --passphrase-file capw good2.csr >o 2>err &&
	test_grep "crl_url" err
'

test_done
