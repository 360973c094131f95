#!/bin/sh
# The command line of the shell programs (read by cmd/smz-sh-common.sh):
# --NAME=VALUE and --NAME VALUE, -jN, "--", missing values, flags given a
# value; paths with spaces and glob characters reach the C programs as one
# word each; the private temp dir goes away.
. "$(dirname "$0")/lib.sh"

new_ca_vault ec-p256 "[offboarding]" "max_fraction = 1"
printf 'email\na@example.com\nb@example.com\n' >"r o*.csv"
cp pw "p w*"
mkdir "t mp" && TMPDIR="$PWD/t mp" && export TMPDIR

test_expect_success 'usage errors: a missing value, a value for a flag, -j not a number' '
	for p in smz-provision smz-renew smz-offboard; do
		test_must_fail 64 $p --dry-run=yes x 2>err && test_grep "^$p: --dry-run=yes: unknown option\$" err &&
		test_must_fail 64 $p -qx 2>err && test_grep "^$p: -qx: unknown option\$" err &&
		test_must_fail 64 $p --policy 2>err && test_grep "^$p: --policy needs an argument\$" err || return 1
	done &&
	test_must_fail 64 smz-provision -jx r.csv 2>err && test_grep "^smz-provision: -j: expected a number\$" err &&
	test_must_fail 64 smz-provision --jobs=2 -- a.csv b.csv 2>err && test_grep "expected one roster file" err &&
	test_must_fail 66 smz-provision -j2 -- -no-such.csv 2>err && test_grep "^smz-provision: -no-such.csv: cannot read\$" err &&
	test_must_fail 64 smz-renew extra 2>err && test_grep "^smz-renew: no arguments expected\$" err
'

test_expect_success 'the =VALUE and the separate forms give the same plan' '
	smz-provision --dry-run --policy="$SMZ_POLICY" --jobs=2 -- "r o*.csv" >p1 2>e1 &&
	smz-provision --dry-run --policy "$SMZ_POLICY" -j 2 "r o*.csv" >p2 2>e2 &&
	test_cmp p1 p2 && test_cmp e1 e2 && test "$(wc -l <p1)" -eq 3
'

test_expect_success 'paths with spaces and globs: bundles, LDIF, CRL; no temp dir left' '
	smz-provision -q -j2 --ldif="o u*.ldif" --bundles "b d*" --passphrase-file="p w*" "r o*.csv" &&
	test -s "b d*/a@example.com.p12" && test -s "b d*/b@example.com.p12" && test_grep "^dn: " "o u*.ldif" &&
	smz-renew -q --within=3650 --bundles="b d*" --share "shares/share-1-of-3.txt" --share=shares/share-2-of-3.txt 2>err &&
	test "$(smz-issue list | grep -c "	valid\$")" -eq 4 &&
	echo b@example.com | smz-offboard -q --crl-out "c r*.pem" -- - &&
	openssl crl -in "c r*.pem" -noout -text | test_grep "Serial Number" - &&
	test -z "$(ls "t mp")"
'

test_done
