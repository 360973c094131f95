#!/bin/sh
# smz-offboard against a real slapd: leavers are revoked, withdrawn from
# the directory and named in the CRL; their keys stay; a re-run changes
# nothing; too many at once trips the safety stop.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/slapd.sh"

slapd_start || { echo "Bail out! cannot start slapd"; exit 1; }
PEOPLE=ou=people,$SLAPD_BASE
write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer" "[ldap]" "uri = $SLAPD_LDAPI" "base = $PEOPLE"
new_vault
printf 'ca secret\n' >capw
smz-issue init -q --passphrase-file capw
{ echo email; for i in $(seq 1 20); do echo "p$i@example.com"; done; } >r.csv
{
	printf "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n" "$SLAPD_BASE"
	printf "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n" "$PEOPLE"
	for i in $(seq 1 20); do
		printf "dn: uid=p%s,%s\nobjectClass: inetOrgPerson\nuid: p%s\ncn: P %s\nsn: P\nmail: p%s@example.com\n\n" $i "$PEOPLE" $i $i $i
	done
} >people.ldif
ldapadd -H "$SLAPD_LDAPI" -Y EXTERNAL -f people.ldif >/dev/null 2>&1
smz-keygen -q r.csv | smz-issue -q --passphrase-file capw | smz-vault attach -q >certs.pem
smz-publish -q certs.pem >/dev/null
certs_of() { ldapsearch -H "$SLAPD_LDAPI" -Y EXTERNAL -LLL -b "$PEOPLE" "(mail=$1)" "userCertificate;binary" 2>/dev/null | grep -c "^userCertificate;binary::"; }

test_expect_success 'the directory has everyone'"'"'s certificate' '
	test "$(certs_of p1@example.com)" -eq 1 && test "$(certs_of p20@example.com)" -eq 1
'

test_expect_success '--dry-run: the plan, nothing changed' '
	smz-offboard --dry-run P1@Example.com p2@example.com stranger@example.com >plan &&
	test "$(head -n 1 plan)" = "$(printf "address\tserial\taction")" &&
	test_grep "^p1@example.com	[0-9a-f]*	revoke, unpublish\$" plan &&
	test_grep "^stranger@example.com		nothing (no certificate from this CA)\$" plan &&
	test "$(smz-issue list | grep -c "	revoked\$")" -eq 0
'

test_expect_success 'off-board two: revoked, withdrawn, in the CRL; keys kept' '
	s1=$(awk -F"\t" "\$2 == \"p1@example.com\" { print \$1 }" plan) &&
	smz-offboard --ca-passphrase-file capw --crl-out crl.pem p1@example.com p2@example.com 2>err &&
	test_grep "2 off-boarded (2 certificates revoked and withdrawn)" err &&
	smz-issue list | awk -F"\t" "\$2 == \"p1@example.com\"" | test_grep "	revoked\$" - &&
	test "$(certs_of p1@example.com)" -eq 0 && test "$(certs_of p2@example.com)" -eq 0 &&
	test "$(certs_of p3@example.com)" -eq 1 &&
	openssl crl -in crl.pem -noout -text >crl.txt && test_grep "Serial Number: $(echo "$s1" | tr a-f A-F)" crl.txt &&
	test_grep "Affiliation Changed" crl.txt &&
	smz-vault history p1@example.com | test_grep "	revoked	" - &&
	smz-issue audit | test_grep "	revoke	$s1" -
'

test_expect_success 'a re-run changes nothing' '
	smz-issue list >before &&
	smz-offboard --ca-passphrase-file capw --crl-out crl2.pem p1@example.com p2@example.com 2>err &&
	test_grep "0 off-boarded (0 certificates revoked and withdrawn), 2 off-boarded before" err &&
	smz-issue list | test_cmp before -
'

test_expect_success 'smz-issue plan --leavers: the rows smz-offboard carries out' '
	printf "P3@Example.com\n stranger@example.com\np1@example.com\nnot-an-address\n" >who &&
	test_must_fail 65 smz-issue plan --leavers who >lp 2>err &&
	s3=$(smz-issue list | awk -F"\t" "\$2 == \"p3@example.com\" { print \$1 }") &&
	printf "action\taddress\tserial\treason\nnothing\tp1@example.com\t\toff-boarded before\nleave\tp3@example.com\t%s\tlisted as leaving\nnothing\tstranger@example.com\t\tno certificate from this CA\n" "$s3" >expect &&
	test_cmp expect lp && test_grep "^smz-issue: who:4: rejected: .*not-an-address" err &&
	test_grep "plan: 1 leaving, 1 off-boarded before, 1 unknown" err &&
	printf "p%s@example.com\n" 3 4 5 6 | test_must_fail 77 smz-issue plan --leavers - >out 2>err && test ! -s out &&
	test_grep "refusing to off-board 4 of 18 people (more than 0.1 of them; policy \[offboarding\] max_fraction)" err &&
	printf "p%s@example.com\n" 3 4 5 6 | smz-issue plan -q --leavers --force - >lp4 && test "$(grep -c "^leave	" lp4)" -eq 4
'

test_expect_success 'too many at once trips the safety stop (77); --force goes on' '
	printf "p%s@example.com\n" 3 4 5 6 | test_must_fail 77 smz-offboard --ca-passphrase-file capw - 2>err &&
	test_grep "refusing to off-board 4 of 18 people" err &&
	test "$(smz-issue list | grep -c "	revoked\$")" -eq 2 &&
	printf "p%s@example.com\n" 3 4 5 6 | smz-offboard -q --force --ca-passphrase-file capw --crl-out crl3.pem - &&
	test "$(smz-issue list | grep -c "	revoked\$")" -eq 6 && test "$(certs_of p6@example.com)" -eq 0
'

test_expect_success 'an unknown address is reported (65); the others are done' '
	test_must_fail 65 smz-offboard --ca-passphrase-file capw --crl-out crl4.pem nobody@example.com p7@example.com 2>err &&
	test_grep "nobody@example.com: no certificate from this CA" err &&
	smz-issue list | awk -F"\t" "\$2 == \"p7@example.com\"" | test_grep "	revoked\$" -
'

test_expect_success 'usage errors' '
	test_must_fail 64 smz-offboard 2>err && test_grep "expected addresses" err &&
	test_must_fail 64 smz-offboard --frobnicate x 2>err && test_grep "unknown option" err
'

slapd_stop
test_done
