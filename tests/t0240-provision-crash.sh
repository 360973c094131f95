#!/bin/sh
# smz-provision of 500 people killed with SIGKILL at 10 points in turn,
# each followed by a re-run: at the end everyone has exactly one valid,
# published certificate whose key is in the vault, no certificate exists
# without its vaulted key, no serial was reused, and the vault and CA
# check out.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/slapd.sh"

slapd_start || { echo "Bail out! cannot start slapd"; exit 1; }
PEOPLE=ou=people,$SLAPD_BASE
write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer" "[ldap]" "uri = $SLAPD_LDAPI" "base = $PEOPLE"
new_vault
smz-issue init -q --no-passphrase
N=500
{
	printf "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n" "$SLAPD_BASE"
	printf "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n" "$PEOPLE"
	for i in $(seq 1 $N); do
		printf "dn: uid=c%s,%s\nobjectClass: inetOrgPerson\nuid: c%s\ncn: C %s\nsn: C\nmail: c%s@example.com\n\n" $i "$PEOPLE" $i $i $i
	done
} >people.ldif
ldapadd -H "$SLAPD_LDAPI" -Y EXTERNAL -f people.ldif >/dev/null 2>&1
{ echo "email,display name"; for i in $(seq 1 $N); do echo "c$i@example.com,C $i"; done; } >roster.csv

test_expect_success 'killed at 10 points, each followed by a re-run' '
	i=0; killed=0
	while [ $i -lt 10 ]; do
		t=$(awk -v s=$i "BEGIN { srand(42 + s); printf \"%.2f\", 0.05 + rand() * 0.5 }")
		setsid smz-provision -q roster.csv >/dev/null 2>&1 &
		pid=$!
		sleep "$t"
		if kill -9 -"$pid" 2>/dev/null; then killed=$((killed + 1)); fi
		wait "$pid" 2>/dev/null
		i=$((i + 1))
	done
	echo "# killed $killed of 10 runs in flight" && test "$killed" -ge 7 &&
	echo "# killed $killed of 10 runs in flight" &&
	{ smz-provision -q roster.csv || true; }
'

test_expect_success 'a last run finds nothing left to do' '
	smz-provision roster.csv 2>err && test_grep "0 joiners, 0 movers, 0 leavers, $N unchanged" err
'

test_expect_success 'everyone has exactly one valid certificate, and no serial twice' '
	smz-issue list >list &&
	test "$(awk -F"\t" "NR > 1 && \$6 == \"valid\" { print \$2 }" list | sort | uniq -c | awk "\$1 == 1" | wc -l)" -eq $N &&
	test "$(awk -F"\t" "NR > 1 && \$6 == \"valid\"" list | wc -l)" -eq $N &&
	test "$(awk -F"\t" "NR > 1 { print \$1 }" list | sort | uniq -d | wc -l)" -eq 0
'

test_expect_success 'no certificate without its key in the vault; vault and CA check out' '
	awk -F"\t" "NR > 1 { print \$3 }" list | sort -u >cert-keys &&
	smz-vault list | awk -F"\t" "NR > 1 { print \$2 }" | sort -u >vault-keys &&
	test "$(comm -23 cert-keys vault-keys | wc -l)" -eq 0 &&
	smz-vault check --passphrase-file pw >/dev/null && smz-vault audit --verify >/dev/null &&
	smz-issue audit --verify >/dev/null
'

test_expect_success 'the directory holds exactly the valid certificate of each' '
	ldapsearch -H "$SLAPD_LDAPI" -Y EXTERNAL -LLL -b "$PEOPLE" "(objectClass=inetOrgPerson)" mail "userCertificate;binary" 2>/dev/null |
		awk "/^mail: / { m = \$2 } /^userCertificate;binary::/ { n[m]++ } END { for (k in n) print k, n[k] }" >published &&
	test "$(wc -l <published)" -eq $N && test "$(awk "\$2 != 1" published | wc -l)" -eq 0 &&
	test "$(sort -u ca/provision/published | wc -l)" -ge $N
'

slapd_stop
test_done
