#!/bin/sh
# smz-vault export: bundles with the whole key history that OpenSSL, NSS
# (Thunderbird's engine), GnuTLS and gpgsm accept, in both profiles; the
# keys taken back out decrypt mail sent to every historical certificate.
. "$(dirname "$0")/lib.sh"

# RSA keys: NSS 3.87 (Debian 12) decrypts CMS with RSA key transport only
write_policy rsa-2048 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase
printf 'email\nalice@example.com\nbob@example.com\n' >r.csv
smz-keygen -q r.csv | smz-issue -q | smz-vault attach -q >gen1.pem
# two renewals for alice: three keys in her history, each with its certificate
for g in 2 3; do
	printf 'alice@example.com\n' | smz-keygen -q --addresses --new-key - | smz-issue -q |
		smz-vault attach -q >gen$g.pem
done
split_pem gen1.pem g1
echo "secret message" >msg.txt
for g in 1 2 3; do
	c=gen$g.pem; [ $g = 1 ] && c=g1.1
	openssl cms -encrypt -binary -in msg.txt -outform DER -out msg$g.der -aes256 "$c"
done

pw_of() { awk -F'\t' -v a="$2" '$1 == a { print $3 }' "$1/passwords.tsv"; }

test_expect_success 'export --all, compat: bundles, passwords.tsv, all 0600' '
	smz-vault export --passphrase-file pw --all --out compat --reason "MDM roll-out" >out &&
	test_grep "^alice@example.com: OK (3 keys)\$" out && test_grep "^bob@example.com: OK (1 keys)\$" out &&
	test -z "$(find compat -type f ! -perm 600)" && test "$(stat -c %a compat)" = 700 &&
	test "$(head -n 1 compat/passwords.tsv)" = "$(printf "address\tfile\tpassword")" &&
	pw_of compat alice@example.com | grep -qx "[2-9a-hj-km-np-z]\{4\}\(-[2-9a-hj-km-np-z]\{4\}\)\{5\}" &&
	! grep -q "$(pw_of compat alice@example.com)" out
'

test_expect_success 'compat algorithms are exactly PBE-SHA1-3DES and an HMAC-SHA1 MAC' '
	openssl pkcs12 -info -noout -in compat/alice@example.com.p12 -passin "pass:$(pw_of compat alice@example.com)" >info 2>&1 &&
	test_grep "^MAC: sha1, Iteration 2048" info &&
	test_grep "^PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048" info &&
	test "$(grep -c "^Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048" info)" -eq 3 &&
	! grep -q "PBES2\|RC2\|40-bit" info
'

test_expect_success 'modern algorithms are PBES2/PBKDF2-SHA-256/AES-256-CBC and an HMAC-SHA-256 MAC' '
	smz-vault export -q --passphrase-file pw --all --p12-profile modern --mobileconfig --out modern >/dev/null &&
	openssl pkcs12 -info -noout -in modern/alice@example.com.p12 -passin "pass:$(pw_of modern alice@example.com)" >info 2>&1 &&
	test_grep "^MAC: sha256, Iteration 2048" info &&
	test "$(grep -c "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256" info)" -eq 3
'

for prof in compat modern; do
	test_expect_success "$prof: the current key first, every key with its certificate and the chain" "
		openssl pkcs12 -in $prof/alice@example.com.p12 -passin pass:\$(pw_of $prof alice@example.com) -nodes >all.pem 2>/dev/null &&
		test \$(grep -c 'BEGIN PRIVATE KEY' all.pem) -eq 3 &&
		test \$(grep -c 'BEGIN CERTIFICATE' all.pem) -eq 5 &&
		grep -m1 friendlyName all.pem | test_grep 'alice@example.com 20[0-9-]* (current)' - &&
		openssl pkcs12 -in $prof/alice@example.com.p12 -passin pass:\$(pw_of $prof alice@example.com) -nokeys -clcerts 2>/dev/null >leaf.pem &&
		awk '/BEGIN/{n++} n==1' leaf.pem | openssl x509 -noout -pubkey >first.pub &&
		openssl x509 -in gen3.pem -noout -pubkey >gen3.pub && test_cmp gen3.pub first.pub
	"
	test_expect_success "$prof: NSS pk12util imports every key; NSS decrypts mail to each old certificate" "
		rm -rf nss && mkdir nss && certutil -N -d sql:nss --empty-password &&
		pk12util -i $prof/alice@example.com.p12 -d sql:nss -W \$(pw_of $prof alice@example.com) -K '' >pk.out 2>&1 &&
		test \$(certutil -K -d sql:nss 2>/dev/null | grep -c '<') -eq 3 &&
		for g in 1 2 3; do cmsutil -D -i msg\$g.der -d sql:nss -p '' >dec\$g.txt && test_cmp msg.txt dec\$g.txt || exit 1; done
	"
	test_expect_success "$prof: GnuTLS certtool reads it" "
		certtool --p12-info --inder --password \$(pw_of $prof alice@example.com) --infile $prof/alice@example.com.p12 >ct.out 2>&1 &&
		test \$(grep -c 'BEGIN CERTIFICATE' ct.out) -eq 5 && test \$(grep -c 'PRIVATE KEY' ct.out) -ge 3
	"
	test_expect_success "$prof: openssl cms decrypts mail to each historical certificate with the exported keys" "
		openssl pkcs12 -in $prof/alice@example.com.p12 -passin pass:\$(pw_of $prof alice@example.com) -nocerts -nodes 2>/dev/null |
			awk '/BEGIN PRIVATE KEY/{n++; p=1} p{print > (\"k\" n \".pem\")} /END PRIVATE KEY/{p=0}' &&
		for g in 1 2 3; do
			ok=; for k in k1.pem k2.pem k3.pem; do
				openssl cms -decrypt -inform DER -in msg\$g.der -inkey \$k -out d.txt 2>/dev/null && cmp -s d.txt msg.txt && ok=1
			done; test -n \"\$ok\" || exit 1
		done
	"
done

test_expect_success 'gpgsm imports a compat bundle of the current key' '
	smz-vault export -q --passphrase-file pw --address alice@example.com --current-only --out single >/dev/null &&
	export GNUPGHOME="$PWD/gnupg" && { gpgconf --kill all 2>/dev/null; mkdir -m 700 gnupg; } &&
	echo allow-loopback-pinentry >gnupg/gpg-agent.conf &&
	# start the agent and wait for it: started on demand, it can miss the
	# first request on a loaded machine (make check runs two tests at once)
	{ gpg-connect-agent --quiet /bye 2>/dev/null; true; } &&
	# gpgsm exits non-zero when it cannot find the issuers online: judge by what it says.
	# gpgsm 2.2 cannot open some PKCS#12 files that OpenSSL and NSS open (its
	# PKCS#12 key derivation fails for a few salts): a failed try gets a new export.
	for try in 1 2 3 4 5; do
		[ $try -eq 1 ] || { rm -rf single && smz-vault export -q --passphrase-file pw \
			--address alice@example.com --current-only --out single >/dev/null; } &&
		pw_of single alice@example.com | gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 \
			--import single/alice@example.com.p12 >g.out 2>&1
		grep -q "secret keys \(imported\|unchanged\): 1" g.out && break
		sleep 1
	done;
	test_grep "secret keys \(imported\|unchanged\): 1" g.out &&
	gpgsm --list-secret-keys >gl.out 2>&1; gpgconf --kill all; test_grep "aka: alice@example.com" gl.out
'

test_expect_success '.mobileconfig: a property list with the root, one PKCS#12 per key, stable UUIDs' '
	python3 - modern/alice@example.com.mobileconfig "$(pw_of modern alice@example.com)" <<-EOP
	import plistlib, subprocess, sys
	d = plistlib.load(open(sys.argv[1], "rb"))
	assert d["PayloadType"] == "Configuration", d["PayloadType"]
	types = [p["PayloadType"] for p in d["PayloadContent"]]
	assert types == ["com.apple.security.root"] + ["com.apple.security.pkcs12"] * 3, types
	for p in d["PayloadContent"][1:]:
	    assert p["Password"] == sys.argv[2]
	    open("emb.p12", "wb").write(p["PayloadContent"])
	    subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-in", "emb.p12", "-passin", "pass:" + sys.argv[2]], check=True, capture_output=True)
	open("uuids", "w").write(" ".join(p["PayloadUUID"] for p in d["PayloadContent"]))
	EOP
	smz-vault export -q --passphrase-file pw --address alice@example.com --p12-profile modern --mobileconfig --out again >/dev/null &&
	python3 -c "import plistlib; d=plistlib.load(open(\"again/alice@example.com.mobileconfig\",\"rb\")); print(\" \".join(p[\"PayloadUUID\"] for p in d[\"PayloadContent\"]), end=\"\")" >uuids2 &&
	test_cmp uuids uuids2
'

test_expect_success 'a wrong passphrase or too few shares: exit 77, nothing written' '
	printf "wrong\n" >bad &&
	test_must_fail 77 smz-vault export --passphrase-file bad --all --out w1 2>err && test ! -e w1/passwords.tsv &&
	test -z "$(ls w1 2>/dev/null)" &&
	test_must_fail 77 smz-vault export --share shares/share-1-of-3.txt --all --out w2 2>err &&
	test_grep "too few shares" err && test -z "$(ls w2 2>/dev/null)"
'

test_expect_success 'a missing address is reported, the others exported (65)' '
	test_must_fail 65 smz-vault export --passphrase-file pw --address nobody@example.com --address bob@example.com --out m >out &&
	test_grep "^nobody@example.com: FAIL no key with a certificate" out && test -f m/bob@example.com.p12 &&
	test "$(wc -l <m/passwords.tsv)" -eq 2
'

test_expect_success 'addresses on standard input' '
	printf "bob@example.com\n" | smz-vault export -q --passphrase-file pw --out s - >out &&
	test -f s/bob@example.com.p12
'

test_expect_success 'an unwritable output directory: exit 73, no partial files' '
	mkdir ro && chmod 500 ro &&
	if [ "$(id -u)" -eq 0 ]; then
		# root writes anywhere: use a path under a regular file instead
		test_must_fail 73 smz-vault export --passphrase-file pw --all --out r.csv/x 2>err
	else
		test_must_fail 73 smz-vault export --passphrase-file pw --all --out ro 2>err
	fi &&
	test -z "$(ls ro)"
'

test_expect_success 'every export is audited, with the reason, and no password' '
	smz-vault audit >log && test_grep "	export	alice@example.com [0-9a-f]\{16\} [0-9a-f]\{16\} [0-9a-f]\{16\}	MDM roll-out	" log &&
	! grep -q "$(pw_of compat alice@example.com)" log
'

test_expect_success 'one password for every bundle from --password-file' '
	printf "Correct-Horse-42\n" >bpw &&
	smz-vault export -q --passphrase-file pw --all --password-file bpw --out fixed >/dev/null &&
	test ! -e fixed/passwords.tsv &&
	openssl pkcs12 -info -noout -in fixed/bob@example.com.p12 -passin pass:Correct-Horse-42 2>/dev/null
'

test_done
