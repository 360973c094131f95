#!/bin/sh
# Mail encrypted from a plain file (`openssl cms -encrypt`, no MIME header
# inside the envelope, as scripts and older gateways send it) decrypts to a
# message whose body is the text, byte for byte: RSA PKCS#1 v1.5, RSA-OAEP
# (SHA-256, with a label), ECDH P-384 (SHA-256 and SHA-512 KDFs); binary
# content comes back as application/octet-stream; smz-recover writes every
# such message, and one whose inner MIME is garbage as decrypted-raw.
. "$(dirname "$0")/lib.sh"

write_policy ec-p384 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase
# shellcheck disable=SC2034 # used in the test bodies, which test_expect_success evals
S1=shares/share-1-of-3.txt S2=shares/share-2-of-3.txt
printf 'email\npia@example.com\n' >ec.csv
smz-keygen -q ec.csv | smz-issue -q | smz-vault attach -q >pia.pem
sed 's/^algorithm = ec-p384/algorithm = rsa-2048/' policy.conf >policy-rsa.conf
printf 'email\nrhea@example.com\n' >rsa.csv
SMZ_POLICY=$PWD/policy-rsa.conf smz-keygen -q rsa.csv | SMZ_POLICY=$PWD/policy-rsa.conf smz-issue -q |
	smz-vault attach -q >rhea.pem

now=$(LC_ALL=C date -R)
hdrs() { # ID TO
	printf 'From: Script <cron@other.org>\nTo: %s\nSubject: report %s\nDate: %s\nMessage-ID: <%s@other.org>\n' \
		"$2" "$1" "$now" "$1"
}
# a text file as scripts write it: UTF-8, no header block; its first line
# has a colon, but a space before it, so it is no header field
printf 'Grüße aus dem Skript: alles gut.\n\nZeile drei, \342\202\254 12,50.\nFrom the cron job.\n' >text.txt
# binary content: not UTF-8
{ printf '\377\376\000\001'; head -c 3000 /dev/urandom; } >bin.dat
mkdir md md/cur md/new md/tmp
enc() { # ID TO CERT FILE [openssl options]: an encrypted message in ID.eml and md/cur
	id=$1 to=$2 cert=$3 file=$4
	shift 4
	openssl cms -encrypt -aes256 -in "$file" -recip "$cert" "$@" >"$id.p7" &&
		{ hdrs "$id" "$to" && cat "$id.p7"; } >"$id.eml" && cp "$id.eml" "md/cur/$id:2,"
}
enc pkcs1 rhea@example.com rhea.pem text.txt
enc oaep rhea@example.com rhea.pem text.txt -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256
enc oaeplabel rhea@example.com rhea.pem text.txt -keyopt rsa_padding_mode:oaep \
	-keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256 -keyopt rsa_oaep_label:736d7a2d6c6162656c
enc ecdh256 pia@example.com pia.pem text.txt -keyopt ecdh_kdf_md:sha256
enc ecdh512 pia@example.com pia.pem text.txt -keyopt ecdh_kdf_md:sha512
enc binary pia@example.com pia.pem bin.dat -binary
enc empty pia@example.com pia.pem /dev/null

# garbage inside the envelope: a header line, then broken MIME
printf 'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=b\n\n--b\nContent-Type: text/plain\n\nonly one part\n--b--\n' >g1.txt
printf 'Content-Type: application/pkcs7-mime; smime-type=signed-data\nContent-Transfer-Encoding: base64\n\nAAAAAAAA\n' >g2.txt
i=0
{ while [ $i -lt 40 ]; do printf 'Content-Type: multipart/mixed; boundary=b%s\n\n--b%s\n' $i $i; i=$((i + 1)); done
  printf 'Content-Type: text/plain\n\ndeep\n'; } >g3.txt
printf 'Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\nbroken' >g4.txt
for g in g1 g2 g3 g4; do enc garbage-$g pia@example.com pia.pem $g.txt; done

body() { sed '1,/^$/d' "$1"; }

test_expect_success 'the envelopes are what they claim: OAEP SHA-256 with a label, ECDH SHA-512 KDF' '
	openssl cms -cmsout -print -inform SMIME -in oaeplabel.p7 >ol.txt &&
	test_grep "rsaesOaep" ol.txt && test_grep "pSpecified" ol.txt && test_grep "OCTET STRING *:smz-label" ol.txt &&
	openssl cms -cmsout -print -inform SMIME -in oaep.p7 | test_grep "rsaesOaep" - &&
	openssl cms -cmsout -print -inform SMIME -in ecdh512.p7 | test_grep "dhSinglePass-stdDH-sha512kdf-scheme" - &&
	openssl cms -cmsout -print -inform SMIME -in ecdh256.p7 | test_grep "dhSinglePass-stdDH-sha256kdf-scheme" - &&
	openssl cms -cmsout -print -inform SMIME -in pkcs1.p7 | test_grep "algorithm: rsaEncryption" -
'

for m in pkcs1 oaep oaeplabel ecdh256 ecdh512; do
	test_expect_success "decrypt: plain text ($m) is the body, byte for byte, as text/plain" '
		smz-sign -q --decrypt --passphrase-file pw '$m'.eml >'$m'.out &&
		body '$m'.out >'$m'.body && test_cmp text.txt '$m'.body &&
		test_grep "^Content-Type: text/plain; charset=utf-8$" '$m'.out &&
		test_grep "^Content-Transfer-Encoding: 8bit$" '$m'.out &&
		test_grep "^MIME-Version: 1.0$" '$m'.out &&
		test_grep "^From: Script <cron@other.org>$" '$m'.out &&
		test_grep "^Subject: report '$m'$" '$m'.out &&
		test_grep "^Date: $now$" '$m'.out &&
		test "$(grep -c "^Content-Type: " '$m'.out)" -eq 1 &&
		! grep -q "pkcs7" '$m'.out
	'
done

test_expect_success 'decrypt: the status says the content had no MIME header' '
	smz-sign --decrypt --passphrase-file pw oaeplabel.eml >/dev/null 2>err &&
	test_grep "decrypted with key .* of rhea@example.com.*no MIME header: written as text/plain" err
'

test_expect_success 'decrypt: binary content is application/octet-stream, base64 of the exact bytes' '
	smz-sign -q --decrypt --passphrase-file pw binary.eml >binary.out &&
	test_grep "^Content-Type: application/octet-stream$" binary.out &&
	test_grep "^Content-Transfer-Encoding: base64$" binary.out &&
	test "$(body binary.out | awk "length > 76" | wc -l)" -eq 0 &&
	body binary.out | base64 -d >binary.back && cmp bin.dat binary.back
'

test_expect_success 'decrypt: over 8 MiB (spooled to files): text and binary come back exact' '
	python3 -c "import sys; sys.stdout.write(\"\".join(\"Zeile %d: Grüße, € und ✓.\\n\" % i for i in range(400000)))" >big.txt &&
	{ printf "\377"; head -c 9000000 /dev/urandom; } >big.dat &&
	openssl cms -encrypt -aes256 -binary -in big.txt pia.pem >big.p7 &&
	{ hdrs big pia@example.com && cat big.p7; } >big.eml &&
	smz-sign -q --decrypt --passphrase-file pw big.eml >big.out &&
	test_grep "^Content-Transfer-Encoding: 8bit$" big.out &&
	body big.out >big.body && cmp big.txt big.body &&
	openssl cms -encrypt -aes256 -binary -in big.dat pia.pem >bigb.p7 &&
	{ hdrs bigb pia@example.com && cat bigb.p7; } >bigb.eml &&
	smz-sign -q --decrypt --passphrase-file pw bigb.eml >bigb.out &&
	body bigb.out | base64 -d | cmp - big.dat
'

test_expect_success 'decrypt: empty content is an empty text body' '
	smz-sign -q --decrypt --passphrase-file pw empty.eml >empty.out &&
	test_grep "^Content-Type: text/plain; charset=utf-8$" empty.out &&
	test "$(body empty.out | wc -c)" -eq 0
'

test_expect_success 'decrypt: a MIME entity inside is still a MIME entity (its headers kept)' '
	printf "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\nX-Inner: dropped\n\nGrüße\n" >mime.txt &&
	openssl cms -encrypt -aes256 -in mime.txt pia.pem >mime.p7 &&
	{ hdrs mime pia@example.com && cat mime.p7; } >mime.eml &&
	smz-sign -q --decrypt --passphrase-file pw mime.eml >mime.out &&
	test "$(body mime.out)" = "Grüße" && ! grep -q "^X-Inner" mime.out &&
	test "$(grep -c "^Content-Type: text/plain; charset=utf-8$" mime.out)" -eq 1
'

test_expect_success 'decrypt: a first line that is a header field makes a MIME entity (the rule)' '
	printf "Hello: world\n\nthe text\n" >hello.txt &&
	openssl cms -encrypt -aes256 -in hello.txt pia.pem >hello.p7 &&
	{ hdrs hello pia@example.com && cat hello.p7; } >hello.eml &&
	smz-sign -q --decrypt --passphrase-file pw hello.eml >hello.out &&
	test "$(body hello.out)" = "the text" && ! grep -q "^Hello:" hello.out
'

test_expect_success 'decrypt: garbage MIME inside is written as it came, not refused' '
	smz-sign --decrypt --passphrase-file pw garbage-g1.eml >g1.out 2>err &&
	test_grep "raw: the inner entity is not readable MIME (multipart/signed without exactly two parts)" err &&
	body g1.out >g1.body && test_cmp g1.txt g1.body &&
	test_grep "^Content-Type: text/plain; charset=utf-8$" g1.out
'

test_expect_success 'verify is unchanged: no signature is still no signature' '
	test_must_fail 1 smz-sign --verify --passphrase-file pw pkcs1.eml >st &&
	test_grep "^FAIL unsigned" st
'

test_expect_success 'recover: every message written, plain ones decrypted, garbage decrypted-raw' '
	smz-recover --case P-1 --reason "plain files" --share $S1 --share $S2 --out out \
		--report r.tsv md 2>err &&
	st() { awk -F"\t" -v id="<$1@other.org>" "\$3 == id || \$3 == \"$1@other.org\" { print \$9 }" r.tsv; } &&
	for m in pkcs1 oaep oaeplabel ecdh256 ecdh512 binary empty garbage-g4; do
		test "$(st $m)" = decrypted || { echo "$m: $(st $m)"; exit 1; }
	done &&
	for m in garbage-g1 garbage-g2 garbage-g3; do
		test "$(st $m)" = decrypted-raw || { echo "$m: $(st $m)"; exit 1; }
	done &&
	test "$(ls out/new | wc -l)" -eq 11 &&
	for m in pkcs1 oaep oaeplabel ecdh256 ecdh512; do
		f=$(grep -l "^Message-ID: <$m@other.org>" out/new/*) &&
		test_grep "^X-Smz-Recovered: case=P-1; key=" "$f" &&
		body "$f" >rec.body && test_cmp text.txt rec.body || exit 1
	done &&
	f=$(grep -l "^Message-ID: <binary@other.org>" out/new/*) && body "$f" | base64 -d | cmp - bin.dat &&
	for g in g1 g2 g3; do
		f=$(grep -l "^Message-ID: <garbage-$g@other.org>" out/new/*) &&
		body "$f" >rec.body && test_cmp $g.txt rec.body || exit 1
	done &&
	test_grep "case P-1: 11 decrypted, 0 no-key, 0 not-encrypted, 0 corrupt, 0 errors" err
'

test_done
