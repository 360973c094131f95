#!/bin/sh
# kill -9 during a 1,000-CSR issuing batch, then a re-run of the same
# stream: no serial reused, nothing issued and lost, every CSR ends with
# exactly one certificate.  An RSA-4096 issuing key makes each signature
# slow enough to be killed in the middle.
. "$(dirname "$0")/lib.sh"

write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer" "issuing_algorithm = rsa-4096" \
	"root_algorithm = ec-p256"
new_vault
smz-issue init -q --no-passphrase
{ echo email; seq 1 1000 | sed 's/.*/c&@example.com/'; } >r.csv
smz-keygen -q r.csv >csrs.pem

certs() { grep -c "BEGIN CERTIFICATE" "$1" 2>/dev/null || true; }

test_expect_success 'kill -9 in the middle of issuing' '
	smz-issue -q csrs.pem >out1.pem 2>/dev/null & pid=$!
	n=0
	# up to 5 minutes: under ASan, beside another test, the first batch is slow
	while [ "$(certs out1.pem)" -lt 50 ] && kill -0 $pid 2>/dev/null && [ $n -lt 3000 ]; do
		sleep 0.1; n=$((n + 1))
	done
	kill -9 $pid; wait $pid 2>/dev/null
	test "$(certs out1.pem)" -ge 50 && test "$(certs out1.pem)" -lt 1000
'

test_expect_success 'every certificate written before the kill is in the database' '
	smz-issue list | tail -n +2 | cut -f1 | sort >db1 &&
	split_pem out1.pem k && for f in k.*; do
		openssl x509 -in "$f" -noout -serial | cut -d= -f2 | tr A-F a-f
	done | sort >printed && comm -23 printed db1 >lost && test ! -s lost
'

test_expect_success 'the re-run gives every CSR exactly one certificate' '
	smz-issue csrs.pem >out2.pem 2>err &&
	test "$(certs out2.pem)" -eq 1000 &&
	smz-issue list | tail -n +2 >list &&
	test "$(wc -l <list)" -eq 1000 &&
	test "$(cut -f3 list | sort -u | wc -l)" -eq 1000 &&
	test "$(cut -f1 list | sort -u | wc -l)" -eq 1000 &&
	issued=$(sed -n "s/.*: \([0-9]*\) issued, \([0-9]*\) already issued.*/\1 \2/p" err) &&
	set -- $issued && test $(($1 + $2)) -eq 1000 && test "$2" -eq "$(wc -l <db1)"
'

test_expect_success 'certificates printed by the killed run are the ones re-sent' '
	split_pem out2.pem r && for f in r.*; do
		openssl x509 -in "$f" -noout -serial | cut -d= -f2 | tr A-F a-f
	done | sort >printed2 && comm -23 printed printed2 >missing && test ! -s missing
'

test_done
