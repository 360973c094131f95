#!/bin/sh
# kill -9 in the middle of a 300-row batch, then a re-run: every good row
# ends with exactly one active key, nothing half-written, the vault checks
# and its audit chain verifies.
. "$(dirname "$0")/lib.sh"

write_policy rsa-2048
new_vault
printf 'email,name\n' >r.csv
i=1
while [ $i -le 300 ]; do
	printf 'p%03d@example.com,Person %s\n' $i $i >>r.csv
	i=$((i + 1))
done
printf 'bad@evil.example,Mallory\n' >>r.csv

csrs() { if [ -e "$1" ]; then grep -c "BEGIN CERTIFICATE REQUEST" "$1" || true; else echo 0; fi; }

# run_and_kill OUT MIN: start smz-keygen, kill -9 it once OUT holds MIN CSRs
run_and_kill() {
	# the output exists before the run starts: else the first look at it
	# could find nothing, stop waiting and kill the run before it began
	: >"$1"
	smz-keygen -q -j 2 r.csv >"$1" 2>/dev/null &
	pid=$!
	n=0
	while [ "$(csrs "$1")" -lt "$2" ] && kill -0 $pid 2>/dev/null && [ $n -lt 600 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	true
}

test_expect_success 'kill -9 mid-batch, twice, leaves a partial run' '
	run_and_kill out1.pem 20 &&
	test "$(csrs out1.pem)" -lt 300 &&
	# the second run first re-sends the CSRs of keys already vaulted
	run_and_kill out2.pem $(($(smz-vault list | tail -n +2 | wc -l) + 20)) &&
	test "$(smz-vault list | tail -n +2 | wc -l)" -lt 300 &&
	echo "killed after $(csrs out1.pem) and $(csrs out2.pem) CSRs"
'

test_expect_success 'the vault opens (recovery ran) and checks out after the kills' '
	smz-vault check >out && test_grep "^check: OK" out &&
	smz-vault audit --verify >out && test_grep "^audit: OK" out
'

test_expect_success 'a re-run completes the batch' '
	test_must_fail 65 smz-keygen -q -j 2 r.csv >out3.pem 2>err &&
	test "$(csrs out3.pem)" -eq 300
'

test_expect_success 'every good row has exactly one active key' '
	smz-vault list | tail -n +2 | awk -F"\t" "\$5==\"active\"{print \$1}" | sort >active &&
	test "$(wc -l <active)" -eq 300 && test "$(sort -u active | wc -l)" -eq 300 &&
	! grep -q evil active
'

test_expect_success 'each CSR the killed runs wrote stands for a vaulted key' '
	# each file on its own: a block cut short at the end of one must not
	# run into the first of the next
	split_pem out1.pem e1 && split_pem out2.pem e2 &&
	smz-vault list | cut -f2 >ids &&
	for f in e1.* e2.*; do
		# the kill may cut the last block short: only whole blocks count
		grep -q "^-----END" "$f" || continue
		grep -qx "$(keyid_of_csr "$f")" ids || exit 1
	done
'

test_expect_success 'every key unseals, no record is half-written, the audit chain holds' '
	smz-vault check --passphrase-file pw >out &&
	test_grep "^check: OK (300 records, every key unsealed)\$" out &&
	smz-vault audit --verify >out && test_grep "^audit: OK" out &&
	test "$(smz-vault audit | cut -f4 | grep -c deposit)" -eq 300
'

test_done
