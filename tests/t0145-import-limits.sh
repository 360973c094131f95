#!/bin/sh
# smz-vault import: a file whose key derivation asks for more than the caps
# (2^31 PBKDF2 or PBE iterations, scrypt past N, r, p or 1 GiB, an unknown
# KDF) at any layer (MAC, encrypted safe, key bag, key bag inside an
# encrypted safe, encrypted PEM key) is refused before any derivation runs:
# exit 65, the parameter and its cap named, nothing imported.  A 2^31
# iteration PBKDF2 takes hours, so a refusal within 5 s (sanitizers on a
# loaded machine) proves the check comes first.  The files come from
# tests/helpers/p12hostile: valid in every way but the one parameter.
. "$(dirname "$0")/lib.sh"

HOSTILE="$TOP/tests/helpers/p12hostile"
write_policy rsa-2048
new_vault
mkcert() { # NAME: NAME.key, NAME.pem for NAME@example.com, self-signed
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 365 \
		-subj "/CN=$1/emailAddress=$1@example.com" -addext "subjectAltName=email:$1@example.com" 2>/dev/null
}
for n in plain inner scrypt moderate h; do mkcert $n; done
echo hunter2 >p12pw
: >"$TRASH/times"

# refused LAYER KIND VALUE MESSAGE: the file p12hostile makes is refused
# with exit 65 and MESSAGE, within 5 s, and the vault lists what it did.
refused() {
	"$HOSTILE" "$1" "$2" "$3" h.key h.pem p12pw "$1-$2.p12" &&
	smz-vault list >before &&
	t0=$(date +%s%N) &&
	{ test_must_fail 65 smz-vault import --password-file p12pw "$1-$2.p12" >out 2>err; rc=$?; } &&
	t1=$(date +%s%N) && ms=$(((t1 - t0) / 1000000)) &&
	echo "$1 $2 $3: refused in $ms ms" >>"$TRASH/times" &&
	test "$rc" -eq 0 && test "$ms" -lt 5000 &&
	test_grep "^smz-vault: $1-$2.p12: FAIL $4\$" err &&
	test_grep "1 files: 0 keys imported, 0 unchanged, 1 failed" err &&
	test ! -s out &&
	smz-vault list >after && test_cmp before after && ! grep -q "h@example.com" after
}

test_expect_success 'the helper makes genuine files that import (control)' '
	"$HOSTILE" keybag none 0 plain.key plain.pem p12pw plain.p12 &&
	"$HOSTILE" inner none 0 inner.key inner.pem p12pw inner.p12 &&
	"$HOSTILE" keybag real-scrypt 16384:8:1 scrypt.key scrypt.pem p12pw scrypt.p12 &&
	openssl pkcs12 -info -noout -in scrypt.p12 -passin file:p12pw 2>&1 | test_grep "Shrouded Keybag: PBES2, scrypt" - &&
	openssl pkcs12 -export -iter 100000 -maciter -inkey moderate.key -in moderate.pem \
		-passout file:p12pw -out moderate.p12 &&
	smz-vault import --passphrase-file pw --password-file p12pw plain.p12 inner.p12 scrypt.p12 moderate.p12 >out 2>err &&
	test "$(grep -c ": imported (1 keys)" out)" -eq 4 &&
	smz-vault list | grep -c "^[a-z]*@example.com" | grep -qx 4
'

# shellcheck disable=SC2034 # used in the test bodies, which test_expect_success evals
cap=10000000
test_expect_success 'MAC iterations 2^31-1' '
	refused mac pbkdf2 2147483647 "MAC iteration count 2147483647 exceeds the cap of $cap"
'
test_expect_success 'key bag, PBES2/PBKDF2 iterations 2^31-1' '
	refused keybag pbkdf2 2147483647 "key bag: PBKDF2 iteration count 2147483647 exceeds the cap of $cap"
'
test_expect_success 'key bag, legacy pbeWithSHAAnd3-KeyTripleDES-CBC iterations 2^31-1' '
	refused keybag pbe 2147483647 "key bag: PBE iteration count 2147483647 exceeds the cap of $cap"
'
test_expect_success 'encrypted certificate safe, PBKDF2 iterations 2^31-1' '
	refused safe pbkdf2 2147483647 "encrypted safe: PBKDF2 iteration count 2147483647 exceeds the cap of $cap"
'
test_expect_success 'encrypted certificate safe, legacy PBE iterations 2^31-1' '
	refused safe pbe 2147483647 "encrypted safe: PBE iteration count 2147483647 exceeds the cap of $cap"
'
test_expect_success 'key bag inside an encrypted safe, PBKDF2 iterations 2^31-1' '
	refused inner pbkdf2 2147483647 "key bag in an encrypted safe: PBKDF2 iteration count 2147483647 exceeds the cap of $cap"
'
test_expect_success 'key bag, scrypt N=2^30' '
	refused keybag scrypt 1073741824:8:1 "key bag: scrypt N 1073741824 exceeds the cap of 1048576"
'
test_expect_success 'key bag inside an encrypted safe, scrypt N=2^20 r=16: 2 GiB' '
	refused inner scrypt 1048576:16:1 "key bag in an encrypted safe: scrypt memory N\*r\*128 = 2147483648 bytes exceeds the cap of 1073741824"
'
test_expect_success 'key bag, scrypt r=33 and p=17' '
	refused keybag scrypt 16384:33:1 "key bag: scrypt r 33 exceeds the cap of 32" &&
	refused keybag scrypt 16384:8:17 "key bag: scrypt p 17 exceeds the cap of 16"
'
test_expect_success 'key bag, an unknown key derivation function' '
	refused keybag unknown 0 "key bag: unknown key derivation function sha256"
'
test_expect_success 'encrypted PKCS#8 PEM key, PBKDF2 iterations 2^31-1' '
	refused pem pbkdf2 2147483647 "encrypted PEM key: PBKDF2 iteration count 2147483647 exceeds the cap of $cap"
'

test_expect_success 'openssl sees the same parameters, and is still deriving after 2 s' '
	"$HOSTILE" keybag pbkdf2 2147483647 h.key h.pem p12pw x.p12 &&
	openssl pkcs12 -info -noout -in x.p12 -passin file:p12pw >info 2>&1 &&
	test_grep "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2147483647" info &&
	"$HOSTILE" inner scrypt 1073741824:8:1 h.key h.pem p12pw x.p12 &&
	openssl pkcs12 -info -noout -in x.p12 -passin file:p12pw >info 2>&1 &&
	test_grep "Shrouded Keybag: PBES2, scrypt, AES-256-CBC, .*Cost(N): 1073741824" info &&
	test_must_fail 124 timeout 2 openssl pkcs12 -in safe-pbkdf2.p12 -passin file:p12pw -nokeys -out /dev/null
'

test_expect_success 'in one run, the good file is imported and each hostile one reported (65)' '
	mkcert good && openssl pkcs12 -export -inkey good.key -in good.pem -passout file:p12pw -out good.p12 &&
	t0=$(date +%s%N) &&
	test_must_fail 65 smz-vault import --password-file p12pw mac-pbkdf2.p12 keybag-pbe.p12 good.p12 \
		safe-pbkdf2.p12 inner-scrypt.p12 pem-pbkdf2.p12 >out 2>err &&
	t1=$(date +%s%N) && echo "six files, five hostile: $(((t1 - t0) / 1000000)) ms" >>"$TRASH/times" &&
	test_grep "^good.p12: imported (1 keys)" out &&
	test "$(grep -c ": FAIL .*exceeds the cap of" err)" -eq 5 &&
	test_grep "6 files: 1 keys imported, 0 unchanged, 5 failed" err &&
	! smz-vault list | grep -q "h@example.com"
'

sed 's/^/# /' "$TRASH/times"
test_done
