#!/bin/sh
# HR CSV exports as they really come: the 200-row fixture with 20 kinds of
# defect, delimiters, headers, encodings.
. "$(dirname "$0")/lib.sh"
FIX="$TOP/tests/fixtures"
export FIX

write_policy
new_vault

test_expect_success 'the 200-row roster: exit 65, CSRs for exactly the good rows' '
	test_must_fail 65 smz-keygen "$FIX/roster-200.csv" >csrs.pem 2>err &&
	awk -F"\t" "\$2==\"ok\"{print \$3}" "$FIX/roster-200.expect" | sort >want &&
	test "$(wc -l <want)" -eq 167 &&
	split_pem csrs.pem csr &&
	for f in csr.*; do
		openssl req -in "$f" -noout -text | sed -n "s/.*email:\(.*\)/\1/p"
	done | sort >addresses &&
	test_cmp want addresses
'

test_expect_success 'every rejected row is reported with its line, and only those' '
	awk -F"\t" "\$2==\"rejected\"{print \$1}" "$FIX/roster-200.expect" | sort -n >want &&
	sed -n "s/^smz-keygen: [^:]*roster-200.csv:\([0-9]*\): rejected: .*/\1/p" err | sort -n >got &&
	test_cmp want got
'

test_expect_success 'every leaver is listed as skipped with its line and status' '
	awk -F"\t" "\$2==\"skipped\"{print \$1, \$3}" "$FIX/roster-200.expect" | sort -n >want &&
	sed -n "s/^smz-keygen: [^:]*roster-200.csv:\([0-9]*\): skipped: \([^:]*\): left .*/\1 \2/p" err |
		sort -n >got &&
	test_cmp want got
'

test_expect_success 'reasons name the defect' '
	test_grep "csv:14: rejected: .*no .@." err &&
	test_grep "csv:19: rejected: .*has no domain" err &&
	test_grep "csv:37: rejected: .*evil.example is not allowed by policy" err &&
	test_grep "csv:51: rejected: .*duplicate of line 34" err &&
	test_grep "csv:100: rejected: Alice.Jones@example.org: duplicate of line 34" err &&
	test_grep "csv:54: rejected: .*non-ASCII local part" err &&
	test_grep "csv:89: rejected: field 2 is not valid UTF-8" err &&
	test_grep "csv:95: rejected: row has 3 fields" err &&
	test_grep "167 keys generated, 0 CSRs sent again, 0 skipped, 8 left, 25 rejected" err
'

test_expect_success 'the IDN domain becomes its A-label, an upper-case domain is lowered' '
	grep -q "^anna.schmidt@xn--bcher-kva.example\$" addresses &&
	grep -q "^Bob.Smith@example.com\$" addresses
'

test_expect_success 'names in any script survive into the CSR subject as UTF-8' '
	for f in csr.*; do openssl req -in "$f" -noout -subject -nameopt utf8,sep_comma_plus; done >subjects &&
	test_grep "CN=太郎 山田" subjects &&
	test_grep "CN=José Müller" subjects &&
	test_grep "CN=محمد حسن" subjects &&
	test_grep "GN=Zoë" subjects
'

test_expect_success 'a quoted field with a line break keeps the following line numbers right' '
	grep -c "" "$FIX/roster-200.csv" >/dev/null &&
	test_grep "csv:210: skipped: tariq.aziz@example.com" err
'

test_expect_success 're-running the same roster generates nothing new' '
	test_must_fail 65 smz-keygen -q "$FIX/roster-200.csv" >again.pem 2>err2 &&
	test "$(smz-vault list | tail -n +2 | wc -l)" -eq 167 &&
	smz-keygen "$FIX/roster-200.csv" >/dev/null 2>err3; test $? -eq 65 &&
	test_grep "0 keys generated, 167 CSRs sent again, 0 skipped" err3
'

test_expect_success 'comma-separated with CRLF, tab-separated, and --delimiter' '
	printf "Email,Given Name,Surname\r\nann@example.com,Ann,One\r\n" >c.csv &&
	printf "E-mail Address\tFirst Name\nbea@example.com\tBea\n" >t.csv &&
	printf "mail;name\ncid@example.com;Cid, Jr\n" >s.csv &&
	smz-keygen -q c.csv >c.pem && smz-keygen -q t.csv >t.pem &&
	smz-keygen -q --delimiter ";" s.csv >s.pem &&
	openssl req -in c.pem -noout -subject -nameopt sep_comma_plus | test_grep "CN=Ann One" - &&
	openssl req -in t.pem -noout -subject | test_grep "bea@example.com" - &&
	openssl req -in s.pem -noout -subject -nameopt sep_comma_plus,utf8 | test_grep "Cid, Jr" -
'

test_expect_success '--column names a column the header spells otherwise' '
	printf "Correo,Nombre\ndan@example.com,Dan\n" >col.csv &&
	test_must_fail 65 smz-keygen col.csv >/dev/null 2>err &&
	test_grep "no address column" err &&
	smz-keygen -q --column email=Correo --column display=Nombre col.csv >col.pem &&
	openssl req -in col.pem -noout -subject -nameopt sep_comma_plus | test_grep "CN=Dan" -
'

test_expect_success 'a UTF-16 export is refused with a hint' '
	printf "\377\376E\000m\000" >u16.csv &&
	test_must_fail 65 smz-keygen u16.csv >out 2>err &&
	test_grep "UTF-16.*CSV UTF-8" err && test ! -s out
'

test_expect_success 'an unclosed quote stops before anything is generated' '
	printf "email,name\neve@example.com,\"Eve\nfay@example.com,Fay\n" >q.csv &&
	test_must_fail 65 smz-keygen q.csv >out 2>err &&
	test_grep "quoted field never closed" err && test ! -s out &&
	! smz-vault list | grep -q eve@
'

test_expect_success '--addresses reads one address a line' '
	printf "# joiners\ngus@example.com\n\nbad@evil.example\n" >a.txt &&
	test_must_fail 65 smz-keygen --addresses a.txt >a.pem 2>err &&
	test_grep "a.txt:4: rejected: bad@evil.example" err &&
	test "$(grep -c "BEGIN CERTIFICATE REQUEST" a.pem)" -eq 1
'

test_expect_success 'the roster can come from standard input' '
	printf "email\nhal@example.com\n" | smz-keygen -q - >h.pem &&
	openssl req -in h.pem -noout -subject | test_grep hal@example.com -
'

test_done
