#!/bin/sh
# Two smz-keygen processes depositing into one vault at once: both finish,
# nothing is lost, and on the same roster nobody gets two keys.
. "$(dirname "$0")/lib.sh"

write_policy
new_vault
mkroster() { # PREFIX COUNT
	printf 'email\n'
	seq 1 "$2" | sed "s/.*/$1&@example.com/"
}
mkroster a 2000 >a.csv
mkroster b 2000 >b.csv

test_expect_success 'two writers at once both finish' '
	smz-keygen -q a.csv >a.pem 2>a.err & pa=$!
	smz-keygen -q b.csv >b.pem 2>b.err & pb=$!
	{ wait $pa && wait $pb || { tail -n 5 a.err b.err; false; }; } &&
	test "$(grep -c BEGIN a.pem)" -eq 2000 && test "$(grep -c BEGIN b.pem)" -eq 2000
'

test_expect_success 'nothing lost: 4000 keys, 4000 deposits, indexes consistent' '
	test "$(smz-vault list | tail -n +2 | wc -l)" -eq 4000 &&
	test "$(smz-vault audit | cut -f4 | grep -c deposit)" -eq 4000 &&
	smz-vault check >out && test_grep "^check: OK (4000 records)" out &&
	smz-vault audit --verify >out && test_grep "^audit: OK (4002 entries)" out
'

test_expect_success 'the same roster twice at once: one key per address' '
	# the roster first, on its own: "a && b &" would put both in the background
	mkroster c 1500 >c.csv || exit 1
	smz-keygen -q c.csv >c1.pem 2>c1.err & p1=$!
	smz-keygen -q c.csv >c2.pem 2>c2.err & p2=$!
	{ wait $p1 && wait $p2 || { grep -hv "another process" c1.err c2.err | tail -n 5; false; }; } &&
	smz-vault list | tail -n +2 | cut -f1 | grep "^c" | sort >c.addr &&
	test "$(wc -l <c.addr)" -eq 1500 && test "$(sort -u c.addr | wc -l)" -eq 1500 &&
	smz-vault check --passphrase-file pw >out && test_grep "^check: OK (5500 records, every key unsealed)" out
'

test_done
