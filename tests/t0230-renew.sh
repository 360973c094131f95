#!/bin/sh
# smz-renew with the clock moved forward (faketime): exactly the
# certificates inside the window are renewed, with new keys; the directory
# gets the new certificate; the new bundles still open mail sent to the
# old keys; a re-run renews nothing more.
. "$(dirname "$0")/lib.sh"

if ! command -v faketime >/dev/null; then
	echo "1..0 # SKIP faketime is not installed"
	exit 0
fi
# faketime preloads itself: under ASan (make check SANITIZE=1) its runtime
# is then not the first library, which is harmless here
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
export ASAN_OPTIONS
write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer" "[certificate]" "validity_days = 400" \
	"[renewal]" "window_days = 30"
new_vault
smz-issue init -q --no-passphrase
printf 'email\nold1@example.com\nold2@example.com\n' >early.csv
smz-keygen -q early.csv | smz-issue -q | smz-vault attach -q >early.pem
# two more people certified 100 days later: not due when the others are
printf 'email\nnew1@example.com\nnew2@example.com\n' >late.csv
faketime -f "+100d" sh -c 'smz-keygen -q late.csv | smz-issue -q | smz-vault attach -q' >late.pem
split_pem early.pem e
echo "mail sent last year" >msg.txt
for f in e.*; do [ "$(openssl x509 -in "$f" -noout -email)" = old1@example.com ] && cp "$f" old1.pem; done
openssl cms -encrypt -binary -in msg.txt -out old1.der -outform DER -aes256 old1.pem

test_expect_success 'due 380 days on: exactly the two early certificates' '
	faketime -f "+380d" smz-renew --dry-run >due 2>err &&
	test "$(tail -n +2 due | cut -f1 | sort | tr "\n" " ")" = "old1@example.com old2@example.com " &&
	test_grep "2 due within 30 days" err &&
	faketime -f "+300d" smz-renew --dry-run 2>&1 >/dev/null | test_grep "0 due within 30 days" -
'

test_expect_success 'smz-issue plan --renewals: renew and nothing, with the serial and notAfter' '
	test "$(smz-issue plan --setting window-days)" = 30 && test "$(smz-issue plan --setting reuse-key)" = no &&
	test "$(smz-issue plan --setting ca)" = "$PWD/ca" && test -z "$(smz-issue plan --setting ldap-uri)" &&
	faketime -f "+380d" smz-issue plan --renewals >plan 2>err && test_grep "plan: 2 due, 2 not due" err &&
	smz-issue list | awk -F"\t" "NR > 1 { print \$2 \"\t\" \$1 \"\texpires \" \$5 }" >certs &&
	{ echo "action	address	serial	reason"; { awk "/^old/ { print \"renew\t\" \$0 }" certs
	  awk -F"\t" "/^new/ { print \"nothing\t\" \$1 \"\t\" \$2 \"\tnot due\" }" certs; } | LC_ALL=C sort -t "	" -k2,2; } >expect &&
	test_cmp expect plan &&
	faketime -f "+380d" smz-issue plan --renewals --within 130d 2>&1 >/dev/null | test_grep "plan: 4 due" - &&
	faketime -f "+401d" smz-issue plan -q --renewals | cut -f2 >after && test_grep "^new1@" after && ! grep -q "^old" after &&
	test_must_fail 64 smz-renew --within x 2>err && test_grep "expected a number of days" err
'

test_expect_success 'renewed: new keys and certificates, old keys superseded, bundles with both keys' '
	faketime -f "+380d" smz-renew --bundles b --passphrase-file pw 2>err &&
	test_grep "2 renewed" err &&
	test "$(smz-issue list | awk -F"\t" "\$2 == \"old1@example.com\" && \$6 == \"valid\"" | wc -l)" -eq 2 &&
	smz-vault history old1@example.com | awk -F"\t" "NR > 1 { print \$5 }" | sort | tr "\n" " " | test_grep "^active superseded \$" - &&
	test "$(smz-vault history new1@example.com | tail -n +2 | wc -l)" -eq 1 &&
	p=$(awk -F"\t" "\$1 == \"old1@example.com\" { print \$3 }" b/passwords.tsv) &&
	openssl pkcs12 -in b/old1@example.com.p12 -passin "pass:$p" -nodes -out all.pem 2>/dev/null &&
	test "$(grep -c "BEGIN PRIVATE KEY" all.pem)" -eq 2 &&
	for k in 1 2; do
		awk -v n=$k "/BEGIN PRIVATE KEY/ { c++ } c == n" all.pem | sed "/END PRIVATE KEY/q" >k$k.pem &&
		openssl cms -decrypt -inform DER -in old1.der -inkey k$k.pem -out d$k.txt 2>/dev/null && cmp -s msg.txt d$k.txt && ok=1
	done; test "${ok:-0}" = 1
'

test_expect_success 'after renewal the newest certificate decides: two rows, the new one first, not due' '
	faketime -f "+381d" smz-issue plan -q --renewals | awk -F"\t" "\$2 == \"old1@example.com\"" >rows &&
	test "$(cut -f1,4 rows | sort -u)" = "$(printf "nothing\tnot due")" && test "$(wc -l <rows)" -eq 2 &&
	newest=$(smz-issue list | awk -F"\t" "\$2 == \"old1@example.com\"" | sort -t "	" -k5,5r | head -n 1 | cut -f1) &&
	test "$(head -n 1 rows | cut -f3)" = "$newest"
'

test_expect_success 'a re-run renews nothing more' '
	smz-issue list >before &&
	faketime -f "+381d" smz-renew 2>err && test_grep "0 renewed" err &&
	smz-issue list | test_cmp before -
'

test_expect_success 'reuse_key = yes: the same key, a new certificate' '
	mkdir same && sed -e "s#$PWD/vault#$PWD/same/vault#; s#$PWD/ca#$PWD/same/ca#" -e "s/^window_days = 30/window_days = 30\nreuse_key = yes/" \
		policy.conf >same/policy.conf &&
	(
		SMZ_POLICY=$PWD/same/policy.conf && export SMZ_POLICY &&
		smz-vault init -q --passphrase-file pw && smz-issue init -q --no-passphrase &&
		printf "email\nkeep@example.com\n" | smz-keygen -q - | smz-issue -q | smz-vault attach -q >/dev/null &&
		printf "keep@example.com\n" | smz-keygen -q --addresses --reuse-key - | smz-issue -q >again.pem 2>/dev/null &&
		test "$(smz-issue list | tail -n +2 | wc -l)" -eq 1 &&
		faketime -f "+380d" smz-renew 2>err && test_grep "1 renewed" err &&
		test "$(smz-issue list | tail -n +2 | wc -l)" -eq 2 &&
		test "$(smz-issue list | tail -n +2 | cut -f3 | sort -u | wc -l)" -eq 1 &&
		test "$(smz-vault history keep@example.com | tail -n +2 | wc -l)" -eq 1 &&
		smz-vault history keep@example.com | test_grep "	active	" - &&
		faketime -f "+381d" smz-renew 2>err && test_grep "0 renewed" err
	)
'

test_done
