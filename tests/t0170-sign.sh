#!/bin/sh
# smz-sign: signs, encrypts, decrypts and verifies so that OpenSSL, NSS
# (Thunderbird's engine) and gpgsm agree both ways; every bad message gets
# its status and exit code; every private-key use is audited.
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2034 # used in the test bodies, which test_expect_success evals
MIME="python3 $TOP/tests/helpers/mime.py"

write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase
printf 'email\nalice@example.com\nbob@example.com\nalicf@example.com\ncarol@example.com\n' >ec.csv
smz-keygen -q ec.csv | smz-issue -q | smz-vault attach -q >ec.pem
# RSA users in the same vault and CA (NSS 3.87 and gpgsm 2.2 take RSA key transport only)
sed 's/^algorithm = ec-p256/algorithm = rsa-2048/' policy.conf >policy-rsa.conf
printf 'email\nrhea@example.com\nross@example.com\n' >rsa.csv
SMZ_POLICY=$PWD/policy-rsa.conf smz-keygen -q rsa.csv | SMZ_POLICY=$PWD/policy-rsa.conf smz-issue -q |
	smz-vault attach -q >rsa.pem
cat ec.pem rsa.pem >all.pem
split_pem all.pem c
for f in c.*; do cp "$f" "$(openssl x509 -in "$f" -noout -email | head -n 1).pem"; done
"$TOP/tests/helpers/unseal" vault pw >keys.txt
for a in alice bob rhea ross; do
	awk -v a="$a@example.com" '/^# /{on = ($2 == a); next} on' keys.txt >$a.key
done

# a certificate from outside the vault (for --cert and for mail the vault cannot open)
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout x.key -out x.pem \
	-subj /CN=x -days 30 -addext "subjectAltName=email:dave@example.org,email:bob@example.com" \
	-addext keyUsage=keyAgreement -addext extendedKeyUsage=emailProtection 2>/dev/null

# a message in every shape at once: multipart, HTML, 8-bit, trailing spaces, a long line
long=$(printf '%01200d' 0)
cat >msg.eml <<EOF
From: Alice <Alice@Example.COM>
To: Bob <bob@example.com>
Cc: rhea@example.com
Subject: quarterly figures
Date: $(LC_ALL=C date -R)
Message-ID: <q3@example.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße, the figures are attached.   
From the desk of Alice
$long
--alt
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

<p>Grüße</p>
--alt--
EOF
# the MIME entity as signed/encrypted: the body part with its headers, CRLF
sed -n '/^Content-Type: multipart/,$p' msg.eml | sed 's/$/\r/' >entity.crlf
printf 'From: alice@example.com\nTo: bob@example.com\nSubject: from elsewhere\n' >hdrs

# NSS and gpgsm trust this CA (gpgsm 2.2 does not implement name constraints:
# told to ignore the extension; it checks everything else)
mkdir nss && certutil -N -d sql:nss --empty-password &&
	certutil -A -d sql:nss -n root -t C,C,C -a -i ca/root.pem &&
	certutil -A -d sql:nss -n issuing -t ,, -a -i ca/issuing.pem
GNUPGHOME=$PWD/gnupg
export GNUPGHOME
# an agent left by an earlier run of this test would serve this same path
gpgconf --kill all 2>/dev/null
mkdir -m 700 gnupg
printf 'disable-crl-checks\ndisable-policy-checks\nignore-cert-extension 2.5.29.30\n' >gnupg/gpgsm.conf
echo allow-loopback-pinentry >gnupg/gpg-agent.conf
# start the agent now and wait for it: started on demand by the first
# gpgsm call, it can miss that request on a loaded machine
gpg-connect-agent --quiet /bye 2>/dev/null
# retry: a gpgsm command whose output file must come out non-empty
gpgsm_out() { # OUT ARGS...
	out=$1
	shift
	for _ in 1 2 3 4 5; do
		rm -f "$out"
		gpgsm "$@" 2>>gpgsm.log
		[ -s "$out" ] && return 0
		# a gpg-agent that missed a request on a loaded machine: a fresh one
		gpgconf --kill gpg-agent 2>/dev/null
		sleep 1
	done
	echo "gpgsm_out: no $out after 5 tries; gpgsm said:" >&2
	tail -n 20 gpgsm.log >&2
	return 1
}
gpgsm --batch --import ca/root.pem ca/issuing.pem 2>/dev/null
echo "$(gpgsm --with-colons --list-keys 'CN=smz Root CA' 2>/dev/null | awk -F: '/^fpr/{print $10; exit}') S relax" >gnupg/trustlist.txt

test_expect_success 'sign: multipart/signed, headers kept, 8-bit and trailing spaces made 7-bit' '
	smz-sign --sign --passphrase-file pw msg.eml >s.eml 2>err &&
	test_grep "^smz-sign: signed as Alice@example.com with key [0-9a-f]\{16\} (clear)" err &&
	test "$(sed -n 1,7p s.eml)" = "$(sed -n 1,7p msg.eml)" &&
	test_grep "^Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";" s.eml &&
	test_grep "micalg=sha-256" s.eml &&
	test "$(grep -c "^MIME-Version: 1.0" s.eml)" -eq 1 &&
	! LC_ALL=C grep -q "[^ -~	]" s.eml &&
	test_grep "=20\$" s.eml && test "$(awk "length > 998" s.eml | wc -l)" -eq 0
'

test_expect_success 'sign and decrypt: the key use is in the audit log before the first byte of output' '
	AUDIT_FIRST_OUT=s1.eml python3 "$TOP/tests/helpers/audit-first.py" sign \
		smz-sign --sign --passphrase-file pw msg.eml >order &&
	printf "audit-first\n0\n" | test_cmp - order &&
	smz-sign -q --encrypt --to alice@example.com msg.eml >e1.eml &&
	AUDIT_FIRST_OUT=d1.eml python3 "$TOP/tests/helpers/audit-first.py" decrypt \
		smz-sign --decrypt --passphrase-file pw e1.eml >order &&
	printf "audit-first\n0\n" | test_cmp - order && test_grep "the figures\|^Subject:" d1.eml
'

test_expect_success 'signed by smz-sign: openssl cms -verify accepts it; content intact' '
	openssl cms -verify -in s.eml -CAfile ca/root.pem -out content.out 2>v.err &&
	test_grep "Verification successful" v.err &&
	test_grep "^Content-Type: multipart/alternative" content.out &&
	openssl cms -verify -in s.eml -CAfile ca/root.pem -cmsout -print -noout 2>/dev/null |
		grep -A1 "object: S/MIME Capabilities" | test_grep "set:" - &&
	openssl cms -cmsout -in s.eml -print -noout | test_grep "aes-256-gcm" -
'

test_expect_success 'signed by smz-sign: NSS cmsutil -D and gpgsm --verify accept it, and refuse a changed body' '
	$MIME split s.eml content.crlf sig.der &&
	cmsutil -D -i sig.der -c content.crlf -d sql:nss >/dev/null &&
	gpgsm --batch --verify sig.der content.crlf 2>g.err && test_grep "Good signature" g.err &&
	sed "s/figures/fiGures/" content.crlf >bad.crlf &&
	test_must_fail 1 cmsutil -D -i sig.der -c bad.crlf -d sql:nss >/dev/null 2>&1 &&
	test_must_fail 2 gpgsm --batch --verify sig.der bad.crlf 2>/dev/null
'

test_expect_success 'sign --opaque: signed-data that openssl, NSS and gpgsm open' '
	smz-sign -q --sign --opaque --passphrase-file pw msg.eml >o.eml &&
	test_grep "^Content-Type: application/pkcs7-mime; smime-type=signed-data" o.eml &&
	openssl cms -verify -in o.eml -CAfile ca/root.pem -out o.content 2>/dev/null &&
	test_cmp entity.crlf o.content &&
	$MIME body o.eml o.der && cmsutil -D -i o.der -d sql:nss >o.nss && test_cmp entity.crlf o.nss &&
	gpgsm --batch --verify -o o.gpg o.der 2>g.err && test_grep "Good signature" g.err &&
	test_cmp entity.crlf o.gpg
'

test_expect_success 'verify: OK with signer, digest and signing time; exit 0' '
	smz-sign --verify s.eml >st && test_grep "^OK signer=alice@example.com digest=sha256 signed=20[0-9T:-]*Z serial=[0-9a-f]*\$" st &&
	smz-sign --verify o.eml >st && test_grep "^OK signer=alice@example.com" st
'

test_expect_success 'verify: a tampered body fails with exit 1' '
	sed "s/figures are/figures were/" s.eml >t.eml &&
	test_must_fail 1 smz-sign --verify t.eml >st && test_grep "^FAIL bad-signature: the message was altered" st
'

test_expect_success 'verify: a From: that is not the signer fails with exit 1' '
	sed "s/^From: Alice <Alice@Example.COM>/From: Mallory <bob@example.com>/" s.eml >f.eml &&
	test_must_fail 1 smz-sign --verify f.eml >st &&
	test_grep "^FAIL from-mismatch: signed by alice@example.com but From: is bob@example.com" st
'

test_expect_success 'verify: a swapped signer certificate fails with exit 1' '
	openssl x509 -in alice@example.com.pem -outform DER -out a.der &&
	openssl x509 -in alicf@example.com.pem -outform DER -out f.der &&
	$MIME swapcert sig.der a.der f.der swapped.der &&
	openssl cms -cmsout -inform DER -in swapped.der -print -noout | test_grep "alicf@example.com" - &&
	$MIME signed hdrs content.crlf swapped.der >sw.eml &&
	test_must_fail 1 smz-sign --verify sw.eml >st &&
	test_grep "^FAIL bad-signature: the signer.s certificate is missing or is not the one that signed" st
'

test_expect_success 'verify: truncated base64 and an empty message are malformed (65)' '
	head -c 2500 s.eml >tr.eml && echo "------=_smz--" >>tr.eml &&
	test_must_fail 65 smz-sign --verify tr.eml >st && test_grep "^FAIL malformed: " st &&
	: >empty.eml && test_must_fail 65 smz-sign --verify empty.eml >st &&
	test_grep "^FAIL malformed: empty message" st &&
	printf "just text, no headers\n" >nohdr.eml && test_must_fail 65 smz-sign --verify nohdr.eml >st &&
	test_grep "^FAIL malformed: not an RFC 5322 message" st &&
	test_must_fail 1 smz-sign --verify msg.eml >st && test_grep "^FAIL unsigned" st
'

test_expect_success 'nesting bombs: 10 signature layers and 10,000 MIME levels are refused (65)' '
	cp msg.eml n0.eml && i=0 &&
	while [ $i -lt 10 ]; do smz-sign -q --sign --opaque --passphrase-file pw n$i.eml >n$((i + 1)).eml || exit 1; i=$((i + 1)); done &&
	test_must_fail 65 smz-sign --verify n10.eml >st && test_grep "^FAIL malformed: more than 8 nested S/MIME layers" st &&
	smz-sign --verify n3.eml >st && test_grep "^OK signer=alice@example.com .* signatures=3\$" st &&
	$MIME nest 10000 deep.eml &&
	test_must_fail 65 smz-sign --sign --passphrase-file pw deep.eml 2>err && test_grep "too deep" err &&
	test_must_fail 65 smz-sign --verify deep.eml >st && test_grep "^FAIL malformed: MIME" st
'

test_expect_success 'encrypt to EC recipients: ECDH + AES-256-GCM (their certificates advertise it); openssl decrypts' '
	smz-sign --encrypt msg.eml >e.eml 2>err &&
	test_grep "encrypted with AES-256-GCM for 3 recipients (1 RSA PKCS#1 v1.5, 0 RSA-OAEP, 2 ECDH)" err &&
	test_grep "^Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data" e.eml &&
	openssl cms -decrypt -in e.eml -recip bob@example.com.pem -inkey bob.key -out e.bob &&
	test_cmp entity.crlf e.bob &&
	openssl cms -decrypt -in e.eml -recip alice@example.com.pem -inkey alice.key -out e.alice &&
	test_cmp entity.crlf e.alice &&
	openssl cms -cmsout -print -noout -in e.eml >e.txt && test_grep "dhSinglePass-stdDH-sha256kdf-scheme" e.txt
'

test_expect_success 'verify: a signed message without From: fails; encrypted mail without a vault is no-key (77)' '
	sed "/^From: /d" s.eml >nofrom.eml &&
	test_must_fail 1 smz-sign --verify nofrom.eml >st &&
	test_grep "^FAIL from-mismatch: signed by alice@example.com but the message has no From: mailbox" st &&
	test_must_fail 77 env SMZ_POLICY=/dev/null smz-sign --verify --trust ca/root.pem e.eml >st &&
	test_grep "^FAIL no-key: the message is encrypted and no vault is configured" st
'

test_expect_success 'encrypt --cipher aes256-cbc: EnvelopedData; openssl decrypts' '
	smz-sign -q --encrypt --cipher aes256-cbc --to bob@example.com msg.eml >ec.eml &&
	test_grep "smime-type=enveloped-data" ec.eml &&
	openssl cms -cmsout -print -noout -in ec.eml | test_grep "aes-256-cbc" - &&
	openssl cms -decrypt -in ec.eml -recip bob@example.com.pem -inkey bob.key -out ec.bob &&
	test_cmp entity.crlf ec.bob
'

test_expect_success 'RSA-OAEP + AES-256-GCM: openssl decrypts' '
	smz-sign -q --encrypt --rsa-transport oaep --to ross@example.com msg.eml >eo.eml &&
	openssl cms -cmsout -print -noout -in eo.eml >eo.txt && test_grep "rsaesOaep" eo.txt &&
	openssl cms -decrypt -in eo.eml -recip ross@example.com.pem -inkey ross.key -out eo.ross &&
	test_cmp entity.crlf eo.ross
'

test_expect_success 'RSA PKCS#1 v1.5 + AES-256-CBC: openssl, NSS cmsutil and gpgsm decrypt' '
	sed "s/^From: Alice <Alice@Example.COM>/From: Ross <ross@example.com>/" msg.eml >rmsg.eml &&
	smz-sign -q --encrypt --rsa-transport pkcs1 --cipher aes256-cbc --to rhea@example.com rmsg.eml >ep.eml &&
	openssl cms -cmsout -print -noout -in ep.eml >ep.txt && test_grep "rsaEncryption" ep.txt &&
	! grep -q "rsaesOaep\|dhSinglePass" ep.txt &&
	openssl cms -decrypt -in ep.eml -recip rhea@example.com.pem -inkey rhea.key -out ep.rhea &&
	test_cmp entity.crlf ep.rhea &&
	smz-vault export -q --passphrase-file pw --address rhea@example.com --out exp >/dev/null &&
	p12pw=$(awk -F"\t" "\$1 == \"rhea@example.com\" { print \$3 }" exp/passwords.tsv) &&
	pk12util -i exp/rhea@example.com.p12 -d sql:nss -W "$p12pw" -K "" >/dev/null 2>&1 &&
	$MIME body ep.eml ep.der && cmsutil -D -i ep.der -d sql:nss -p "" >ep.nss && test_cmp entity.crlf ep.nss &&
	echo "$p12pw" >rhea.p12pw &&
	# The import is judged by what counts, a decryption with the key: on a
	# loaded machine gpgsm once failed to open the PKCS#12 and still listed
	# the key.  gpgsm exits 2 when it cannot find the other recipient'"'"'s
	# certificate, so its output file is the verdict.
	# gpgsm 2.2 also cannot open some PKCS#12 files that OpenSSL and NSS open
	# (its PKCS#12 key derivation fails for a few salts): a failed try gets a new export.
	for try in 1 2 3 4 5; do
		echo "import try $try" >>gpgsm.log
		[ $try -eq 1 ] || { rm -rf exp && smz-vault export -q --passphrase-file pw --address rhea@example.com --out exp >/dev/null &&
			awk -F"\t" "\$1 == \"rhea@example.com\" { print \$3 }" exp/passwords.tsv >rhea.p12pw; }
		gpgsm --batch --pinentry-mode loopback --passphrase-fd 3 3<rhea.p12pw --import exp/rhea@example.com.p12 2>>gpgsm.log
		rm -f ep.gpg
		gpgsm --batch --pinentry-mode loopback --passphrase-fd 3 3<rhea.p12pw --decrypt -o ep.gpg ep.der 2>>gpgsm.log
		[ -s ep.gpg ] && break
		gpgconf --kill gpg-agent 2>/dev/null
		sleep 1
	done &&
	{ test -s ep.gpg || { tail -n 30 gpgsm.log >&2; false; }; } &&
	test_cmp entity.crlf ep.gpg
'

test_expect_success 'decrypt: the vault key the RecipientInfo names; byte-identical round trip' '
	smz-sign --decrypt --passphrase-file pw e.eml >d.eml 2>err &&
	test_grep "^smz-sign: decrypted with key [0-9a-f]\{16\} of [a-z]*@example.com (active, found by issuer+serial)" err &&
	test_cmp msg.eml d.eml &&
	for f in ec eo; do smz-sign -q --decrypt --passphrase-file pw $f.eml >d.eml && test_cmp msg.eml d.eml || exit 1; done &&
	smz-sign -q --decrypt --passphrase-file pw ep.eml >d.eml && test_cmp rmsg.eml d.eml
'

test_expect_success 'CRLF messages stay CRLF and round-trip byte for byte' '
	sed "s/\$/\r/" msg.eml >crlf.eml &&
	smz-sign -q --sign --passphrase-file pw crlf.eml >s-crlf.eml &&
	test "$(grep -c "$(printf "\r")\$" s-crlf.eml)" -eq "$(wc -l <s-crlf.eml)" &&
	smz-sign --verify s-crlf.eml >st && test_grep "^OK signer=alice@example.com" st &&
	smz-sign -q --encrypt crlf.eml | smz-sign -q --decrypt --passphrase-file pw >d-crlf.eml &&
	test_cmp crlf.eml d-crlf.eml
'

test_expect_success 'sign --encrypt: signed, then encrypted; verify and decrypt unwrap both' '
	smz-sign -q --sign --encrypt --passphrase-file pw msg.eml >se.eml &&
	test_grep "smime-type=authEnveloped-data" se.eml &&
	smz-sign --verify --passphrase-file pw se.eml >st &&
	test_grep "^OK signer=alice@example.com .* decrypted=1 cipher=aes-256-gcm\$" st &&
	smz-sign --decrypt --passphrase-file pw se.eml >sd.eml 2>err &&
	test_grep "signature: OK signer=alice@example.com" err &&
	test_grep "^Content-Type: multipart/signed" sd.eml &&
	openssl cms -decrypt -in se.eml -recip bob@example.com.pem -inkey bob.key -out inner &&
	openssl cms -verify -in inner -CAfile ca/root.pem -out /dev/null 2>/dev/null
'

test_expect_success 'encrypt --cert: a certificate that chains to no anchor is refused; a trusted one is used' '
	test_must_fail 65 smz-sign -q --encrypt --to dave@example.org --cert x.pem msg.eml >xc.eml 2>err &&
	test_grep "no usable encryption certificate for dave@example.org: given certificate: untrusted: self-signed certificate" err &&
	! test -s xc.eml &&
	cat ca/root.pem x.pem >anchors.pem &&
	smz-sign -q --encrypt --to dave@example.org --cert x.pem --trust anchors.pem msg.eml >xc.eml &&
	openssl cms -decrypt -in xc.eml -recip x.pem -inkey x.key -out xc.out && test_cmp entity.crlf xc.out
'

test_expect_success 'a message for a key not in the vault: 77 and a clear message' '
	sed -n "/^Content-Type: multipart/,\$p" msg.eml >entity.lf &&
	openssl cms -encrypt -in entity.lf -aes256 x.pem | cat hdrs - >foreign.eml &&
	test_must_fail 77 smz-sign --decrypt --passphrase-file pw foreign.eml >out 2>err &&
	test_grep "no key in the vault for any recipient of this message (first: /CN=x serial" err &&
	! test -s out
'

test_expect_success 'wrong passphrase: 77, nothing written' '
	echo "wrong" >bad.pw &&
	test_must_fail 77 smz-sign --sign --passphrase-file bad.pw msg.eml >out 2>err &&
	test_grep "wrong passphrase" err && ! test -s out
'

test_expect_success 'no certificate for a recipient: the message is refused (65), nothing written' '
	test_must_fail 65 smz-sign --encrypt --to nobody@example.com msg.eml >out 2>err &&
	test_grep "no usable encryption certificate for nobody@example.com" err && ! test -s out
'

for md in sha1 sha256 sha384 sha512; do
	test_expect_success "signed by openssl cms ($md, clear): smz-sign verifies" "
		openssl cms -sign -in entity.lf -signer alice@example.com.pem -inkey alice.key -md $md \
			-certfile ca/issuing.pem | cat hdrs - >os-$md.eml &&
		smz-sign --verify os-$md.eml >st && test_grep '^OK signer=alice@example.com digest=$md ' st &&
		if [ $md = sha1 ]; then test_grep ' weak=sha1\$' st; else ! grep -q weak st; fi
	"
done

test_expect_success 'openssl cms: opaque, ECDH+GCM, RSA-OAEP, and signed-in-encrypted-in-signed' '
	openssl cms -sign -nodetach -in entity.lf -signer alice@example.com.pem -inkey alice.key |
		cat hdrs - >oo.eml && smz-sign --verify oo.eml >st && test_grep "^OK signer=alice" st &&
	openssl cms -encrypt -in entity.lf -aes-256-gcm bob@example.com.pem | cat hdrs - >og.eml &&
	smz-sign -q --decrypt --passphrase-file pw og.eml >og.out && test_grep "^Content-Type: multipart/alternative" og.out &&
	tail -n +5 og.out | test_cmp entity.lf - &&
	openssl cms -encrypt -in entity.lf -aes256 -recip ross@example.com.pem -keyopt rsa_padding_mode:oaep |
		cat hdrs - >oa.eml &&
	smz-sign -q --decrypt --passphrase-file pw oa.eml | tail -n +5 | test_cmp entity.lf - &&
	openssl cms -sign -in entity.lf -signer alice@example.com.pem -inkey alice.key >l1 &&
	openssl cms -encrypt -in l1 -aes256 bob@example.com.pem >l2 &&
	openssl cms -sign -in l2 -signer alice@example.com.pem -inkey alice.key | cat hdrs - >l3.eml &&
	smz-sign --verify --passphrase-file pw l3.eml >st &&
	test_grep "^OK signer=alice@example.com .* signatures=2 decrypted=1 cipher=aes-256-cbc\$" st &&
	smz-sign -q --decrypt --passphrase-file pw l3.eml >l3.out && test_grep "^Content-Type: multipart/signed" l3.out
'

test_expect_success 'gpgsm-signed and gpgsm-encrypted mail: smz-sign verifies and decrypts' '
	gpgsm_out g.sig --batch --pinentry-mode loopback --passphrase-fd 3 3<rhea.p12pw -u rhea@example.com \
		--detach-sign -o g.sig entity.crlf &&
	printf "From: rhea@example.com\nTo: bob@example.com\nSubject: gpgsm\n" >ghdrs &&
	$MIME signed ghdrs entity.crlf g.sig >gs.eml &&
	smz-sign --verify gs.eml >st && test_grep "^OK signer=rhea@example.com digest=sha256" st &&
	gpgsm_out g.p7m --batch -r rhea@example.com --encrypt -o g.p7m entity.crlf &&
	$MIME p7m ghdrs g.p7m enveloped-data >ge.eml &&
	smz-sign -q --decrypt --passphrase-file pw ge.eml >ge.out &&
	tail -n +5 ge.out | sed "s/\$/\r/" | test_cmp entity.crlf -
'

# an expired certificate from another CA, and old mail signed while it was valid
mkdir xca && : >xca/index.txt && echo 01 >xca/serial
cat >xca.cnf <<EOF
[ca]
default_ca = x
[x]
database = xca/index.txt
serial = xca/serial
new_certs_dir = xca
certificate = xroot.pem
private_key = xroot.key
default_md = sha256
policy = p
x509_extensions = e
[p]
commonName = supplied
[e]
keyUsage = critical,digitalSignature
extendedKeyUsage = emailProtection
subjectAltName = email:alice@example.com
EOF
# the root dates from 2019 when faketime is there (for the old-mail case)
FT=
command -v faketime >/dev/null && FT="faketime 2019-01-01"
$FT openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout xroot.key \
	-out xroot.pem -subj /CN=xroot -days 3650 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout old.key -out old.csr \
	-subj /CN=alice@example.com 2>/dev/null
openssl ca -batch -config xca.cnf -in old.csr -out old.pem -startdate 20200101000000Z \
	-enddate 20210101000000Z 2>/dev/null

test_expect_success 'an expired signer fails (exit 1); old mail signed while valid verifies' '
	openssl cms -sign -in entity.lf -signer old.pem -inkey old.key | cat hdrs - >exp.eml &&
	test_must_fail 1 smz-sign --verify --trust xroot.pem exp.eml >st &&
	test_grep "^FAIL expired: signer alice@example.com: certificate has expired" st &&
	if command -v faketime >/dev/null; then
		# -f with an absolute time freezes the clock: signed= is exact however slow openssl starts
		faketime -f "2020-06-01 12:00:00" openssl cms -sign -in entity.lf -signer old.pem -inkey old.key -md sha1 |
			cat hdrs - >oldmail.eml &&
		smz-sign --verify --trust xroot.pem oldmail.eml >st &&
		test_grep "^OK signer=alice@example.com digest=sha1 signed=2020-06-01T12:00:00Z .* weak=sha1\$" st
	fi
'

test_expect_success 'a revoked signer fails against the CRL (exit 1)' '
	printf "From: carol@example.com\nTo: bob@example.com\nSubject: x\n\nhi\n" >carol.eml &&
	smz-sign -q --sign --passphrase-file pw carol.eml >cs.eml &&
	smz-sign --verify cs.eml >st && test_grep "^OK signer=carol@example.com" st &&
	smz-issue revoke -q --reason keyCompromise --address carol@example.com >/dev/null &&
	smz-issue crl -q --out crl.pem &&
	test_must_fail 1 smz-sign --verify --crl crl.pem cs.eml >st &&
	test_grep "^FAIL revoked: signer carol@example.com: certificate revoked" st &&
	smz-sign --verify --crl crl.pem s.eml >st && test_grep "^OK signer=alice" st
'

test_expect_success 'every private-key use is an audit entry; the chain verifies' '
	smz-vault audit >audit.tsv &&
	test "$(awk -F"\t" "\$4 == \"sign\"" audit.tsv | wc -l)" -ge 14 &&
	awk -F"\t" "\$4 == \"sign\" && \$6 == \"q3@example.com\"" audit.tsv | test_grep "[0-9a-f]\{64\} Alice@example.com" - &&
	awk -F"\t" "\$4 == \"decrypt\"" audit.tsv | test_grep "^[0-9]*	[^	]*	[^	]*	decrypt	[0-9a-f]\{64\} [a-z]*@example.com	q3@example.com	" - &&
	smz-vault audit --verify >/dev/null
'

test_expect_success 'batch: files and paths on stdin, results beside them, re-run skips, one audit commit' '
	mkdir -p md/new && for i in 1 2 3 4 5; do sed "s/q3@/m$i@/" msg.eml >md/new/m$i; done &&
	before=$(smz-vault audit | wc -l) &&
	ls md/new/m[3-5] | smz-sign -q --sign --batch --passphrase-file pw md/new/m1 md/new/m2 &&
	for i in 1 2 3 4 5; do smz-sign --verify md/new/m$i.smz >st && test_grep "^OK" st || exit 1; done &&
	test "$(smz-vault audit | wc -l)" -eq $((before + 6)) &&
	smz-sign -q --sign --batch --passphrase-file pw md/new/m1 </dev/null &&
	test "$(smz-vault audit | wc -l)" -eq $((before + 6)) &&
	ls md/new/*.smz | smz-sign --verify --batch >vb && test "$(grep -c ": OK signer=alice@example.com" vb)" -eq 5 &&
	cp t.eml md/new/bad.smz && test_must_fail 1 smz-sign --verify --batch md/new/m1.smz md/new/bad.smz >vb &&
	test_grep "^md/new/bad.smz: FAIL bad-signature" vb && test_grep "^md/new/m1.smz: OK" vb
'

test_expect_success 'batch -j 2: two workers, every message once, every key use audited' '
	mkdir -p md2 && for i in $(seq 1 9); do sed "s/q3@/j$i@/" msg.eml >md2/m$i; done &&
	before=$(smz-vault audit | wc -l) &&
	ls md2/m? | smz-sign -q --sign --batch -j 2 --passphrase-file pw &&
	test "$(ls md2/*.smz | wc -l)" -eq 9 &&
	smz-vault audit >a2 && test "$(tail -n +$((before + 1)) a2 | grep -c "	sign	")" -eq 9 &&
	test "$(tail -n +$((before + 1)) a2 | grep -c "	unlock	")" -eq 2 &&
	ls md2/*.smz | smz-sign --verify --batch -j 2 >vb && test "$(grep -c ": OK signer=" vb)" -eq 9 &&
	smz-vault audit --verify >/dev/null &&
	test_must_fail 64 smz-sign --sign -j 2 msg.eml 2>err && test_grep "\-j goes with --batch" err
'

test_expect_success 'usage = split: signing uses the signing key, encryption the encryption key' '
	mkdir split && sed -e "s#$PWD/vault#$PWD/split/vault#; s#$PWD/ca#$PWD/split/ca#" \
		-e "s/^algorithm = ec-p256/algorithm = ec-p256\nusage = split/" policy.conf >split/policy.conf &&
	(
		SMZ_POLICY=$PWD/split/policy.conf && export SMZ_POLICY &&
		smz-vault init -q --passphrase-file pw && smz-issue init -q --no-passphrase &&
		printf "email\nalice@example.com\nbob@example.com\n" | smz-keygen -q - | smz-issue -q | smz-vault attach -q >split/certs.pem &&
		test "$(smz-vault history alice@example.com | grep -c active)" -eq 2 &&
		smz-sign --sign --passphrase-file pw msg.eml >split/s.eml 2>split/err.s &&
		smz-sign --verify split/s.eml >st && test_grep "^OK signer=alice@example.com" st &&
		smz-sign -q --encrypt --to alice@example.com msg.eml | smz-sign --decrypt --passphrase-file pw >/dev/null 2>split/err.d &&
		ks=$(sed -n "s/.*with key \([0-9a-f]*\).*/\1/p" split/err.s) &&
		kd=$(sed -n "s/.*decrypted with key \([0-9a-f]*\) of alice.*/\1/p" split/err.d) &&
		test -n "$ks" && test -n "$kd" && test "$ks" != "$kd"
	)
'

test_expect_success 'gateway unlock file: no passphrase needed; revoked, it no longer works' '
	smz-vault gateway-key -q --passphrase-file pw gw.key && test "$(stat -c %a gw.key)" = 600 &&
	test_must_fail 73 smz-vault gateway-key -q --passphrase-file pw gw.key 2>/dev/null &&
	cp policy.conf policy-gw.conf && printf "[gateway]\nunlock_file = %s/gw.key\n" "$PWD" >>policy-gw.conf &&
	SMZ_POLICY=$PWD/policy-gw.conf smz-sign -q --sign msg.eml | smz-sign --verify >st && test_grep "^OK" st &&
	smz-vault audit | tail -n 2 | test_grep "unlock	gateway key" - &&
	smz-vault gateway-key -q --revoke &&
	test_must_fail 77 env SMZ_POLICY=$PWD/policy-gw.conf smz-sign --sign msg.eml 2>err >/dev/null &&
	test_grep "the gateway key was revoked" err
'

test_expect_success 'verify and encrypt need no unlock and write no unlock entry' '
	before=$(smz-vault audit | wc -l) &&
	smz-sign --verify s.eml >/dev/null && smz-sign -q --encrypt msg.eml >/dev/null &&
	test "$(smz-vault audit | wc -l)" -eq "$before"
'

test_expect_success 'a 24 MB message: every operation streams (memory does not grow), round trip exact' '
	{ sed -n 1,7p msg.eml && printf "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n--b\n" &&
	  printf "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" &&
	  head -c 18000000 /dev/zero | tr "\0" "x" | base64 -w 76 && printf -- "--b--\n"; } >big.eml &&
	for f in msg big; do
		/usr/bin/time -f %M -o sign.$f smz-sign -q --sign --passphrase-file pw $f.eml >$f.s &&
		/usr/bin/time -f %M -o enc.$f smz-sign -q --encrypt $f.eml >$f.e &&
		/usr/bin/time -f %M -o dec.$f smz-sign -q --decrypt --passphrase-file pw $f.e >$f.d &&
		/usr/bin/time -f %M -o ver.$f smz-sign --verify $f.s >$f.st &&
		smz-sign -q --sign --opaque --passphrase-file pw $f.eml >$f.o &&
		/usr/bin/time -f %M -o over.$f smz-sign --verify $f.o >$f.ost &&
		smz-sign -q --sign --encrypt --opaque --passphrase-file pw $f.eml >$f.se &&
		/usr/bin/time -f %M -o sever.$f smz-sign --verify --passphrase-file pw $f.se >$f.sest || exit 1
	done &&
	test_cmp big.eml big.d &&
	test_grep "^OK signer=alice@example.com" big.st &&
	test_grep "^OK signer=alice@example.com" big.ost &&
	test_grep "^OK signer=alice@example.com .* decrypted=1 cipher=aes-256-gcm" big.sest &&
	# peak memory beyond that of a small message (Argon2id alone takes 64 MB)
	grow() { echo $(($(cat $1.big) - $(cat $1.msg))); } &&
	if ! ldd "$TOP/cmd/smz-sign" | grep -q libasan; then
		size=$(($(wc -c <big.eml) / 1024)) &&
		test "$(grow sign)" -lt 8000 && test "$(grow enc)" -lt 8000 &&
		test "$(grow dec)" -lt 8000 && test "$(grow ver)" -lt 8000 &&
		test "$(grow over)" -lt 8000 && test "$(grow sever)" -lt 8000 ||
		{ echo "KB more than for a small message: sign $(grow sign) encrypt $(grow enc) decrypt $(grow dec) verify $(grow ver) opaque $(grow over) signed+encrypted $(grow sever); message $size"; exit 1; }
	fi
'

test_expect_success 'usage errors' '
	test_must_fail 64 smz-sign msg.eml 2>err && test_grep "expected one of --sign" err &&
	test_must_fail 64 smz-sign --sign --verify msg.eml 2>/dev/null &&
	test_must_fail 64 smz-sign --encrypt --opaque msg.eml 2>/dev/null &&
	test_must_fail 64 smz-sign --encrypt --cipher rc2 msg.eml 2>/dev/null &&
	test_must_fail 66 smz-sign --verify no-such.eml 2>/dev/null
'

gpgconf --kill all 2>/dev/null
test_done
