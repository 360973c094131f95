#!/bin/sh
# smz-provision against a real slapd: a roster, then its next month's
# export (joiners, leavers, one marked left) gives exactly the expected
# plan; CA, directory and CRL agree afterwards; a second run changes
# nothing; a truncated export trips the safety stop.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/slapd.sh"

slapd_start || { echo "Bail out! cannot start slapd"; exit 1; }
PEOPLE=ou=people,$SLAPD_BASE
write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer" "[ldap]" "uri = $SLAPD_LDAPI" "base = $PEOPLE"
new_vault
printf 'ca secret\n' >capw
smz-issue init -q --passphrase-file capw
{
	printf "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n" "$SLAPD_BASE"
	printf "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n" "$PEOPLE"
	for i in $(seq 1 40); do
		printf "dn: uid=u%s,%s\nobjectClass: inetOrgPerson\nuid: u%s\ncn: User %s\nsn: User\nmail: u%s@example.com\n\n" $i "$PEOPLE" $i $i $i
	done
	printf "dn: uid=u20new,%s\nobjectClass: inetOrgPerson\nuid: u20new\ncn: User 20\nsn: User\nmail: u20.new@example.com\n\n" "$PEOPLE"
} >people.ldif
ldapadd -H "$SLAPD_LDAPI" -Y EXTERNAL -f people.ldif >/dev/null 2>&1
# month 1: u1..u30; month 2: u3..u30 (u1, u2 gone), u10 marked as left,
# u20 (employee E20) now u20.new, u31..u33 joined
{ echo "Work Email,First Name,Last Name,Employee ID,Status"
  for i in $(seq 1 30); do echo "u$i@example.com,User,$i,E$i,active"; done; } >month1.csv
{ echo "Work Email,First Name,Last Name,Employee ID,Status"
  for i in $(seq 3 33); do
	s=active a=u$i; [ $i = 10 ] && s=terminated; [ $i = 20 ] && a=u20.new
	echo "$a@example.com,User,$i,E$i,$s"
  done; } >month2.csv
certs_of() { ldapsearch -H "$SLAPD_LDAPI" -Y EXTERNAL -LLL -b "$PEOPLE" "(mail=$1)" "userCertificate;binary" 2>/dev/null | grep -c "^userCertificate;binary::"; }
valid() { smz-issue list | awk -F"\t" "NR > 1 && \$6 == \"valid\"" | wc -l; }

test_expect_success 'month 1: thirty joiners, certified, vaulted and published' '
	smz-provision --dry-run month1.csv >plan1 2>err &&
	test "$(grep -c "	join\$" plan1)" -eq 30 && test_grep "plan: 30 joiners, 0 movers, 0 leavers, 0 unchanged" err &&
	smz-provision --ca-passphrase-file capw month1.csv 2>err &&
	test_grep "30 joiners, 0 movers, 0 leavers, 0 unchanged" err &&
	test "$(valid)" -eq 30 && test "$(certs_of u1@example.com)" -eq 1 && test "$(certs_of u30@example.com)" -eq 1 &&
	test "$(smz-vault list | tail -n +2 | wc -l)" -eq 30
'

test_expect_success 'the same roster again changes nothing' '
	smz-issue list >before && smz-vault list >vbefore &&
	smz-provision --ca-passphrase-file capw month1.csv 2>err &&
	test_grep "0 joiners, 0 movers, 0 leavers, 30 unchanged" err &&
	smz-issue list | test_cmp before - && smz-vault list | test_cmp vbefore -
'

test_expect_success 'month 2, planned: 3 joiners, 1 mover, 3 leavers (2 gone, 1 marked left), 26 unchanged' '
	smz-provision --dry-run --json month2.csv >plan2.json 2>err &&
	test_grep "plan: 3 joiners, 1 movers, 3 leavers, 26 unchanged" err &&
	test_grep "{\"address\":\"u20.new@example.com\",\"action\":\"move from u20@example.com\"}" plan2.json &&
	test_grep "{\"address\":\"u10@example.com\",\"action\":\"leave\"}" plan2.json &&
	test_grep "{\"address\":\"u33@example.com\",\"action\":\"join\"}" plan2.json &&
	smz-issue list | test_cmp before -
'

test_expect_success 'smz-issue plan: month 2 as TSV, a row per certificate, serials the CA'"'"'s' '
	smz-issue plan month2.csv >plan2.tsv 2>err &&
	test_grep "plan: 3 joiners, 1 movers, 3 leavers, 0 renewals, 26 unchanged" err &&
	test "$(head -n 1 plan2.tsv)" = "$(printf "action\taddress\tserial\treason")" &&
	{
		printf "leave\tu%s@example.com\tnot in the roster\n" 1 2
		printf "leave\tu10@example.com\tleft (terminated)\n"
		printf "move\tu20.new@example.com\tfrom u20@example.com\n"
		printf "join\tu%s@example.com\tno valid certificate\n" 31 32 33
		for i in $(seq 3 30); do [ $i = 10 ] || [ $i = 20 ] || printf "nothing\tu%s@example.com\tunchanged\n" $i; done
	} | LC_ALL=C sort -t "	" -k2,2 >expect &&
	tail -n +2 plan2.tsv | cut -f1,2,4 | test_cmp expect - &&
	smz-issue list | awk -F"\t" "NR > 1 && \$6 == \"valid\" { print \$2 \"\t\" \$1 }" | sort >serials &&
	awk -F"\t" "NR > 1 && \$1 != \"join\" { sub(/^from /, \"\", \$4); print (\$1 == \"move\" ? \$4 : \$2) \"\t\" \$3 }" plan2.tsv | sort >got &&
	test_cmp serials got &&
	test "$(awk -F"\t" "\$1 == \"join\" && \$3 != \"\"" plan2.tsv)" = "" &&
	smz-issue plan --json -q month2.csv | grep "\"address\":\"u20.new@example.com\"" |
		test_grep "^{\"action\":\"move\",\"address\":\"u20.new@example.com\",\"serial\":\"[0-9a-f]\{40\}\",\"reason\":\"from u20@example.com\"}\$" -
'

test_expect_success 'month 2, applied: CA, vault, directory and CRL agree' '
	smz-provision --ca-passphrase-file capw month2.csv 2>err &&
	test_grep "3 joiners, 1 movers, 3 leavers, 26 unchanged" err &&
	test "$(valid)" -eq 30 &&
	test "$(certs_of u20@example.com)" -eq 0 && test "$(certs_of u20.new@example.com)" -eq 1 &&
	smz-issue list | awk -F"\t" "\$2 == \"u20@example.com\"" | test_grep "	revoked\$" - &&
	for u in u1 u2 u10; do
		test "$(certs_of $u@example.com)" -eq 0 &&
		smz-issue list | awk -F"\t" -v a=$u@example.com "\$2 == a" | test_grep "	revoked\$" - &&
		smz-vault history $u@example.com | test_grep "	revoked	" - || exit 1
	done &&
	for u in u31 u33 u3 u30; do test "$(certs_of $u@example.com)" -eq 1 || exit 1; done &&
	openssl crl -in ca/crl.pem -noout -text >crl.txt && test "$(grep -c "Serial Number:" crl.txt)" -eq 4 &&
	test "$(grep -c "Affiliation Changed" crl.txt)" -eq 3 && test "$(grep -c "Superseded" crl.txt)" -eq 1 &&
	smz-vault check --passphrase-file pw >/dev/null && smz-vault audit --verify >/dev/null &&
	smz-issue audit --verify >/dev/null
'

test_expect_success 'a truncated export trips the safety stop (77), nothing changes' '
	head -n 12 month2.csv >truncated.csv && smz-issue list >before2 &&
	test_must_fail 77 smz-provision --ca-passphrase-file capw truncated.csv 2>err &&
	test_grep "would off-board 20 of 30 people" err && test_grep "is the export truncated" err &&
	smz-issue list | test_cmp before2 - &&
	test_must_fail 77 smz-provision --dry-run truncated.csv >out 2>err && test ! -s out &&
	test_must_fail 77 smz-issue plan truncated.csv >out 2>err && test ! -s out &&
	test_grep "^smz-issue: unable to make the plan: the roster would off-board 20 of 30 people (more than 0.1; policy \[offboarding\] max_fraction)" err &&
	smz-issue plan -q --force truncated.csv >out && test "$(grep -c "^leave	" out)" -eq 20 &&
	smz-provision --dry-run --force truncated.csv >out 2>err && test "$(grep -c "	leave\$" out)" -eq 20
'

test_expect_success '--ldif and --bundles: the changes as LDIF, a bundle per joiner' '
	{ cat month2.csv; echo "u34@example.com,User,34,E34,active"; } >month3.csv &&
	smz-provision --ca-passphrase-file capw --ldif changes.ldif --bundles bundles --passphrase-file pw month3.csv 2>err &&
	test_grep "1 joiners, 0 movers, 0 leavers, 30 unchanged" err &&
	test_grep "^dn: mail=u34@example.com,$PEOPLE\$" changes.ldif && test "$(grep -c "^dn: " changes.ldif)" -eq 1 &&
	test -s bundles/u34@example.com.p12 && test "$(certs_of u34@example.com)" -eq 0 &&
	{ cat month3.csv; echo "u35@example.com,User,35,E35,active"; } >month4.csv &&
	smz-provision --ca-passphrase-file capw --ldif changes4.ldif --bundles bundles --passphrase-file pw month4.csv 2>/dev/null &&
	test "$(cut -f1 bundles/passwords.tsv | tr "\n" " ")" = "address u34@example.com u35@example.com " &&
	test "$(stat -c %a bundles/passwords.tsv)" = 600 &&
	p=$(awk -F"\t" "\$1 == \"u34@example.com\" { print \$3 }" bundles/passwords.tsv) &&
	openssl pkcs12 -in bundles/u34@example.com.p12 -passin "pass:$p" -nokeys -noout 2>/dev/null
'

test_expect_success 'the example rosters: 289 joiners, then 4 joiners, 1 mover, 7 leavers, 281 unchanged' '
	mkdir ex && sed -e "s#$PWD/vault#$PWD/ex/vault#; s#$PWD/ca#$PWD/ex/ca#" -e "/^\[ldap\]/,\$d" policy.conf >ex/policy.conf &&
	(
		SMZ_POLICY=$PWD/ex/policy.conf && export SMZ_POLICY &&
		smz-vault init -q --passphrase-file pw && smz-issue init -q --no-passphrase &&
		test_must_fail 65 smz-provision "$TOP/examples/roster.csv" 2>err &&
		test_grep "289 joiners, 0 movers, 0 leavers, 0 unchanged" err && test "$(valid)" -eq 289 &&
		test_must_fail 65 smz-provision --dry-run "$TOP/examples/roster-next-month.csv" >plan 2>err &&
		test_grep "plan: 4 joiners, 1 movers, 7 leavers, 281 unchanged" err &&
		test_grep "^maria.fernandez@example.com	leave\$" plan && test_grep "^ana.ortega@example.com	join\$" plan &&
		test_must_fail 77 smz-provision "$TOP/examples/roster-truncated.csv" 2>err &&
		test_must_fail 65 smz-provision "$TOP/examples/roster-next-month.csv" 2>err &&
		test_grep "4 joiners, 1 movers, 7 leavers, 281 unchanged" err && test "$(valid)" -eq 286 &&
		openssl crl -in ex/ca/crl.pem -noout -text | grep -c "Serial Number:" | test_grep "^8\$" -
	)
'

test_expect_success 'usage errors' '
	test_must_fail 64 smz-provision 2>err && test_grep "expected one roster file" err &&
	test_must_fail 66 smz-provision no-such.csv 2>/dev/null
'

slapd_stop
test_done
