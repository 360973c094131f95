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

# The output goes through a FIFO that this test stops reading after 50
# certificates: the run then blocks on its output, so the kill always finds
# it in the middle, however fast or slow the machine is.
test_expect_success 'kill -9 in the middle of issuing' '
	rm -f fifo && mkfifo fifo &&
	{ smz-issue -q csrs.pem >fifo 2>/dev/null & echo $! >pid; } &&
	exec 3<fifo && : >out1.pem && n=0 &&
	while [ $n -lt 50 ] && IFS= read -r line <&3; do
		printf "%s\n" "$line" >>out1.pem
		[ "$line" = "-----END CERTIFICATE-----" ] && n=$((n + 1))
	done
	kill -9 "$(cat pid)"; wait "$(cat pid)" 2>/dev/null; exec 3<&-
	test "$(certs out1.pem)" -eq 50
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
