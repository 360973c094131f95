#!/bin/sh
# The audit log is a hash chain: an edited, reordered or deleted entry is
# detected by audit --verify.  The log is tampered with Berkeley DB's own
# dump and load tools, as an intruder with file access would.
. "$(dirname "$0")/lib.sh"

write_policy
new_vault
printf 'email\na@example.com\nb@example.com\nc@example.com\nd@example.com\n' >r.csv
smz-keygen -q r.csv >/dev/null
cp -a vault pristine

# tamper SED-SCRIPT: rewrite the audit log's data lines through sed
tamper() {
	rm -rf vault && cp -a pristine vault &&
	db5.3_dump -h vault -p audit.db >dump &&
	{ sed -n "1,/^HEADER=END/p" dump; sed -n "/^HEADER=END/,/^DATA=END/p" dump | sed "1d;\$d" | sed "$1"; echo DATA=END; } >dump2 &&
	rm vault/audit.db && db5.3_load -h vault -f dump2 audit.db
}

test_expect_success 'an untouched log verifies' '
	smz-vault audit --verify >out && test_grep "^audit: OK (5 entries)\$" out &&
	smz-vault audit >log && test "$(head -n 1 log)" = "$(printf "seq\ttime\tactor\top\tsubject\treason\thash")" &&
	test "$(cut -f4 log | tail -n +2 | tr "\n" " ")" = "init deposit deposit deposit deposit " &&
	test_grep "^3	.*	deposit	b@example.com [0-9a-f]\{64\}	keygen	[0-9a-f]\{64\}\$" log
'

test_expect_success 'the tamper tool itself changes nothing when it changes nothing' '
	tamper "" && smz-vault audit --verify >out && test_grep "audit: OK (5 entries)" out
'

test_expect_success 'an edited entry is detected' '
	tamper "3s/\"reason\":\"keygen\"/\"reason\":\"forged\"/" &&
	smz-vault audit | grep -q forged &&
	test_must_fail 1 smz-vault audit --verify >out &&
	test_grep "^audit: FAIL: entry 4: does not follow from entry 3" out
'

test_expect_success 'an edited last entry is detected' '
	tamper "5s/d@example.com/e@example.com/" &&
	test_must_fail 1 smz-vault audit --verify >out &&
	test_grep "^audit: FAIL: entry 5: last entry does not match" out
'

test_expect_success 'reordered entries are detected' '
	tamper "2{h;d};3{G}" &&
	test_must_fail 1 smz-vault audit --verify >out &&
	test_grep "^audit: FAIL: entry 2: sequence number 3 out of place" out
'

test_expect_success 'a deleted entry is detected' '
	tamper "4d" &&
	test_must_fail 1 smz-vault audit --verify >out &&
	test_grep "^audit: FAIL: entry 4: sequence number 5 out of place" out
'

test_expect_success 'a deleted last entry is detected' '
	tamper "\$d" &&
	test_must_fail 1 smz-vault audit --verify >out &&
	test_grep "^audit: FAIL: entry 5: log has 4 entries, the vault recorded 5" out
'

test_expect_success 'audit --json gives JSON lines' '
	rm -rf vault && cp -a pristine vault &&
	smz-vault audit --json >j && test "$(wc -l <j)" -eq 5 &&
	head -n 1 j | grep -q "^{\"seq\": *1, *\"time\": *\"[^\"]*\", *\"actor\": *\"[^\"]*smz-vault\", *\"op\": *\"init\""
'

test_done
