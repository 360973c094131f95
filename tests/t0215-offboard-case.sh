#!/bin/sh
# Leavers whose addresses have capitals: smz-offboard and smz-provision
# compare addresses by lib/addr's key (smz-issue plan), so any
# spelling of the domain, and of the local part unless policy [vault]
# local_part = sensitive, finds the certificate of Alice.Smith@example.com.
. "$(dirname "$0")/lib.sh"

# world DIR [ini lines...]: a vault and CA in DIR with Alice.Smith and
# nine others provisioned from a roster (no directory configured)
world() {
	mkdir "$1" && (
		cd "$1" || exit 1
		shift
		write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
			"issuer_url = http://pki.example.com/issuing.cer" "$@"
		new_vault
		smz-issue init -q --no-passphrase
		{ echo "Work Email,Employee ID,Status"; echo "Alice.Smith@example.com,E0,active"
		  for i in $(seq 1 9); do echo "p$i@example.com,E$i,active"; done; } >month1.csv
		smz-provision -q month1.csv
	)
}
status_of() { smz-issue list | awk -F'\t' -v a="$1" '$2 == a { print $6 }'; }

test_expect_success 'address-keys: the key under the policy, the address normalised' '
	printf "Alice.Smith@EXAMPLE.com\n  bob@example.org \n\nx@B\303\274cher.example\n" >in &&
	smz-issue address-keys - <in >out 2>err &&
	printf "key\taddress\nalice.smith@example.com\tAlice.Smith@example.com\nbob@example.org\tbob@example.org\nx@xn--bcher-kva.example\tx@xn--bcher-kva.example\n" >expect &&
	test_cmp expect out && test ! -s err &&
	printf "[vault]\nlocal_part = sensitive\n" >sens.conf &&
	echo Alice.Smith@EXAMPLE.com | smz-issue --policy sens.conf address-keys --json >out &&
	test_grep "^{\"key\":\"Alice.Smith@example.com\",\"address\":\"Alice.Smith@example.com\"}\$" out &&
	printf "ok@example.com\nno-domain\n" | test_must_fail 65 smz-issue address-keys >out 2>err &&
	test_grep "^ok@example.com	ok@example.com\$" out &&
	test_grep "^smz-issue: (stdin):2: rejected: .*no-domain" err
'

for spelling in Alice.Smith@example.com alice.smith@example.com ALICE.SMITH@EXAMPLE.COM; do
	test_expect_success "smz-offboard $spelling revokes Alice.Smith@example.com" "
		world w-$spelling && (
			cd w-$spelling && SMZ_POLICY=\$PWD/policy.conf && export SMZ_POLICY &&
			test \"\$(status_of Alice.Smith@example.com)\" = valid &&
			smz-offboard --dry-run $spelling >plan &&
			test_grep '^Alice.Smith@example.com	[0-9a-f]*	revoke, unpublish\$' plan &&
			smz-offboard --crl-out crl.pem $spelling 2>err &&
			test_grep '1 off-boarded (1 certificates revoked and withdrawn), 0 off-boarded before, 0 unknown' err &&
			test \"\$(status_of Alice.Smith@example.com)\" = revoked &&
			test \"\$(status_of p1@example.com)\" = valid &&
			smz-offboard $spelling 2>err && test_grep '1 off-boarded before, 0 unknown' err
		)
	"
done

test_expect_success 'smz-provision: a roster spelling her in lower case changes nothing, one without her revokes her' '
	world prov && (
		cd prov && SMZ_POLICY=$PWD/policy.conf && export SMZ_POLICY &&
		sed "s/^Alice.Smith@/alice.smith@/" month1.csv >lower.csv &&
		smz-provision --dry-run lower.csv >plan 2>err &&
		test_grep "plan: 0 joiners, 0 movers, 0 leavers, 10 unchanged" err &&
		s=$(smz-issue list | awk -F"\t" "\$2 == \"Alice.Smith@example.com\" { print \$1 }") &&
		smz-issue plan -q lower.csv | grep -i "alice" >rows &&
		test "$(cat rows)" = "$(printf "nothing\talice.smith@example.com\t%s\tunchanged" "$s")" &&
		printf "ALICE.SMITH@EXAMPLE.COM\n" | smz-issue plan -q --leavers - | tail -n +2 >rows &&
		test "$(cat rows)" = "$(printf "leave\tAlice.Smith@example.com\t%s\tlisted as leaving" "$s")" &&
		grep -v "^Alice" month1.csv >month2.csv &&
		smz-provision --dry-run month2.csv >plan 2>err &&
		test_grep "^Alice.Smith@example.com	leave\$" plan &&
		smz-provision --force month2.csv 2>err &&
		test_grep "0 joiners, 0 movers, 1 leavers, 9 unchanged" err &&
		test "$(status_of Alice.Smith@example.com)" = revoked &&
		test "$(smz-issue list | grep -c "	valid\$")" -eq 9 &&
		openssl crl -in ca/crl.pem -noout -text | grep -c "Serial Number:" | test_grep "^1\$" -
	)
'

test_expect_success 'local_part = sensitive: only the exact spelling is her (65 for the other)' '
	world sens "[vault]" "local_part = sensitive" && (
		cd sens && SMZ_POLICY=$PWD/policy.conf && export SMZ_POLICY &&
		test_must_fail 65 smz-offboard alice.smith@example.com 2>err &&
		test_grep "alice.smith@example.com: no certificate from this CA" err &&
		test "$(status_of Alice.Smith@example.com)" = valid &&
		smz-offboard --dry-run ALICE.SMITH@example.com >plan &&
		test_grep "^ALICE.SMITH@example.com		nothing (no certificate from this CA)\$" plan &&
		smz-offboard Alice.Smith@EXAMPLE.COM 2>err &&
		test_grep "1 off-boarded" err &&
		test "$(status_of Alice.Smith@example.com)" = revoked
	)
'

test_expect_success 'local_part = sensitive: alice.smith and Alice.Smith are two people; off-boarding one keeps the other' '
	world two "[vault]" "local_part = sensitive" && (
		cd two && SMZ_POLICY=$PWD/policy.conf && export SMZ_POLICY &&
		s=$(smz-issue list | awk -F"\t" "\$2 == \"Alice.Smith@example.com\" { print \$1 }") &&
		sed "s/^Alice.Smith@example.com,E0/alice.smith@example.com,E10/" month1.csv >renamed.csv &&
		smz-issue plan -q --force renamed.csv | grep -i "alice" | cut -f1,2,3,4 >rows &&
		printf "leave\tAlice.Smith@example.com\t%s\tnot in the roster\njoin\talice.smith@example.com\t\tno valid certificate\n" "$s" >expect &&
		test_cmp expect rows &&
		sed "s/^Alice.Smith@/alice.smith@/" month1.csv >lower.csv &&
		smz-issue plan -q lower.csv | grep -i "alice" >rows &&
		test "$(cat rows)" = "$(printf "move\talice.smith@example.com\t%s\tfrom Alice.Smith@example.com" "$s")" &&
		{ cat month1.csv; echo "alice.smith@example.com,E10,active"; } >month2.csv &&
		smz-provision -q month2.csv &&
		test "$(status_of alice.smith@example.com)" = valid &&
		smz-offboard alice.smith@example.com 2>err && test_grep "1 off-boarded" err &&
		test "$(status_of alice.smith@example.com)" = revoked &&
		test "$(status_of Alice.Smith@example.com)" = valid &&
		smz-issue revoke -q --reason affiliationChanged --address alice.smith@EXAMPLE.com >out &&
		test "$(status_of Alice.Smith@example.com)" = valid &&
		smz-issue revoke -q --reason affiliationChanged --address Alice.Smith@example.com >out &&
		test "$(status_of Alice.Smith@example.com)" = revoked
	)
'

test_done
