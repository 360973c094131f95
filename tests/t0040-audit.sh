#!/bin/sh
# The audit log is a hash chain: an edited, reordered or deleted entry is
# detected by audit --verify.  The log is tampered with Berkeley DB's own
# dump and load tools, as an intruder with file access would.  A cut tail
# with a reset head is not: anchors kept elsewhere catch it, and every
# entry goes to syslog as it is committed.
. "$(dirname "$0")/lib.sh"

write_policy
new_vault
printf 'email\na@example.com\nb@example.com\nc@example.com\nd@example.com\n' >r.csv
smz-keygen -q r.csv >/dev/null
cp -a vault pristine

# tamper SED-SCRIPT [FROM]: rewrite the audit log's data lines through sed,
# in a copy of the vault FROM (default pristine)
tamper() {
	rm -rf vault && cp -a "${2:-pristine}" vault &&
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

# cut_tail N: keep the first N entries and set the head stored in meta.db
# to entry N, so that the chain is whole again, only shorter
cut_tail() {
	hash=$(smz-vault audit | awk -F "	" -v n="$1" '$1 == n { print $7 }') &&
	test -n "$hash" &&
	db5.3_dump -h vault -p audit.db >dump &&
	{ sed -n "1,/^HEADER=END/p" dump; sed -n "/^HEADER=END/,/^DATA=END/p" dump | sed "1d;\$d" | head -n "$1"; echo DATA=END; } >dump2 &&
	rm vault/audit.db && db5.3_load -h vault -f dump2 audit.db &&
	db5.3_dump -h vault -p meta.db >mdump &&
	awk -v head=" $1 $hash" 'prev == " audit_head" { $0 = head } { print; prev = $0 }' mdump >mdump2 &&
	! cmp -s mdump mdump2 &&
	rm vault/meta.db && db5.3_load -h vault -f mdump2 meta.db
}
# shellcheck disable=SC2034 # used in the test bodies, which test_expect_success evals
vault_id=$(sed -n "s/^vault: //p" pristine/deposit.pub)

test_expect_success 'audit --anchor prints the vault, the last entry and its hash' '
	rm -rf vault && cp -a pristine vault &&
	smz-vault audit --anchor >anchor.txt 2>err && test ! -s err &&
	hash5=$(smz-vault audit | awk -F "	" "\$1 == 5 { print \$7 }") &&
	echo "smz-audit-anchor v1 vault=$vault_id seq=5 hash=$hash5" >expect &&
	test_cmp expect anchor.txt
'

test_expect_success 'correct anchors verify, appended over time, in every spelling' '
	smz-vault check >/dev/null && smz-vault audit --anchor >>anchor.txt &&
	smz-vault check >/dev/null && smz-vault audit --anchor >>anchor.txt &&
	test "$(cut -d" " -f4 anchor.txt | tr "\n" " ")" = "seq=5 seq=6 seq=7 " &&
	echo "audit: OK (7 entries, 3 anchors)" >expect &&
	smz-vault audit --verify --anchor anchor.txt >out && test_cmp expect out &&
	smz-vault audit --verify --anchor=anchor.txt >out && test_cmp expect out &&
	smz-vault audit --anchor --verify anchor.txt >out && test_cmp expect out &&
	smz-vault audit --verify --anchor - <anchor.txt >out && test_cmp expect out &&
	{ echo "# anchors of the vault, one a day"; echo; cat anchor.txt; } >commented.txt &&
	smz-vault -v audit --verify --anchor commented.txt >out &&
	test_grep "^audit: anchor seq=5 (line 3): OK\$" out &&
	test_grep "^audit: OK (7 entries, 3 anchors)\$" out &&
	cp -a vault anchored
'

test_expect_success 'a cut tail with a reset head passes --verify, but not the anchor' '
	rm -rf vault && cp -a anchored vault && cut_tail 5 &&
	smz-vault audit --verify >out && test_grep "^audit: OK (5 entries)\$" out &&
	test_must_fail 1 smz-vault audit --verify --anchor anchor.txt >out &&
	test_grep "^audit: FAIL: anchor seq=6 (line 2): the log ends at entry 5, before the anchored entry (entries were removed from the end)\$" out &&
	test_grep "^audit: FAIL: anchor seq=7 (line 3): the log ends at entry 5" out &&
	! grep -q "seq=5" out && ! grep -q "audit: OK" out
'

test_expect_success 'a cut tail grown back to the anchored length is caught' '
	rm -rf vault && cp -a anchored vault && cut_tail 4 &&
	smz-vault check >/dev/null && smz-vault check >/dev/null && smz-vault check >/dev/null &&
	smz-vault audit --verify >out && test_grep "^audit: OK (7 entries)\$" out &&
	test_must_fail 1 smz-vault audit --verify --anchor anchor.txt >out &&
	test_grep "^audit: FAIL: anchor seq=5 (line 1): entry 5 is not the anchored one (the log was rewritten" out &&
	test_grep "^audit: FAIL: anchor seq=7 (line 3): entry 7 is not the anchored one" out
'

test_expect_success 'a broken chain is reported as before, with anchors too' '
	tamper "3s/\"reason\":\"keygen\"/\"reason\":\"forged\"/" anchored &&
	test_must_fail 1 smz-vault audit --verify --anchor anchor.txt >out &&
	test_grep "^audit: FAIL: entry 4: does not follow from entry 3" out &&
	test "$(wc -l <out)" -eq 1
'

test_expect_success 'a broken chain is not anchored: nothing on stdout, exit 1' '
	tamper "3s/\"reason\":\"keygen\"/\"reason\":\"forged\"/" &&
	test_must_fail 1 smz-vault audit --anchor >out 2>err && test ! -s out &&
	test_grep "^smz-vault: unable to anchor the audit log: entry 4: does not follow from entry 3" err
'

test_expect_success 'an anchor of another vault fails, naming both' '
	rm -rf vault && cp -a pristine vault &&
	sed "s/vault=[0-9a-f]*/vault=00112233445566778899aabbccddeeff/" anchor.txt | head -n 1 >other.txt &&
	test_must_fail 1 smz-vault audit --verify --anchor other.txt >out &&
	test_grep "^audit: FAIL: anchor seq=5 (line 1): it is for vault 00112233445566778899aabbccddeeff, not this vault ($vault_id)\$" out
'

test_expect_success 'bad anchor files and misused --anchor' '
	rm -rf vault && cp -a pristine vault &&
	sed "s/seq=5/seq=05/" anchor.txt >bad.txt &&
	test_must_fail 65 smz-vault audit --verify --anchor bad.txt 2>err &&
	test_grep "^smz-vault: unable to read the anchors: bad.txt line 1: seq= takes a decimal number\$" err &&
	printf "# nothing yet\n\n" >empty.txt &&
	test_must_fail 65 smz-vault audit --verify --anchor empty.txt 2>err &&
	test_grep "empty.txt: no anchor lines in it" err &&
	sed "s/ v1 / v2 /" anchor.txt >v2.txt &&
	test_must_fail 65 smz-vault audit --verify --anchor v2.txt 2>err && test_grep "v2.txt line 1: an anchor of an unknown version" err &&
	sed "1s/\$/ extra/" anchor.txt >extra.txt &&
	test_must_fail 65 smz-vault audit --verify --anchor extra.txt 2>err && test_grep "extra.txt line 1: expected hash=" err &&
	test_must_fail 66 smz-vault audit --verify --anchor missing.txt 2>err &&
	test_must_fail 64 smz-vault audit --anchor anchor.txt 2>err && test_grep "only with --verify" err &&
	test_must_fail 64 smz-vault audit --verify --anchor 2>err && test_grep "needs the FILE of anchors" err &&
	test_must_fail 64 smz-vault audit extra 2>err && test_grep "audit takes no argument" err
'

# listen SOCKET FILE: a syslog daemon stand-in, writing each datagram to
# FILE as a line until it gets STOP (sent by stop_listening, after all
# else, so that every earlier datagram has been read)
listen() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
with open(sys.argv[2], "wb") as f:
    while True:
        d = s.recv(65536)
        if d == b"STOP":
            break
        f.write(d + b"\n")
' "$1" "$2" &
	listener=$!
	n=0
	while [ ! -S "$1" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
	test -S "$1"
}
stop_listening() {
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"STOP", sys.argv[1])' "$1" &&
	wait "$listener"
}

test_expect_success 'every committed entry goes to syslog (authpriv) with its seq and hash' '
	rm -rf vault && cp -a pristine vault && rm -f log.sock syslog &&
	listen "$PWD/log.sock" syslog &&
	printf "email\ne@example.com\nf@example.com\n" >r2.csv &&
	SMZ_SYSLOG_SOCKET="$PWD/log.sock" smz-keygen -q r2.csv >/dev/null &&
	SMZ_SYSLOG_SOCKET="$PWD/log.sock" smz-vault check --passphrase-file pw >/dev/null &&
	stop_listening "$PWD/log.sock" &&
	test "$(wc -l <syslog)" -eq 4 &&
	grep -c "^<85>[A-Z][a-z][a-z] [ 1-3][0-9] [0-9:]\{8\} smz-keygen\[[0-9]*\]: smz-audit vault=$vault_id seq=[67] hash=[0-9a-f]\{64\} op=deposit subject=\"[ef]@example.com [0-9a-f]\{64\}\" reason=\"keygen\"\$" syslog >n &&
	test "$(cat n)" -eq 2 &&
	test_grep "^<85>.* smz-vault\[[0-9]*\]: smz-audit vault=$vault_id seq=8 hash=[0-9a-f]\{64\} op=unlock subject=\"passphrase\" reason=\"smz-vault check\"\$" syslog &&
	test_grep "^<85>.* smz-vault\[[0-9]*\]: smz-audit vault=$vault_id seq=9 .* op=check subject=\"6 records, 0 failed, keys unsealed\" reason=\"\"\$" syslog &&
	sed "s/.* seq=\([0-9]*\) hash=\([0-9a-f]*\) op=\([a-z]*\) .*/\1 \3 \2/" syslog >got &&
	smz-vault audit | awk -F "	" "NR > 1 && \$1 > 5 { print \$1, \$4, \$7 }" >expect &&
	test_cmp expect got
'

test_expect_success 'a syslog line is an anchor; passwords and keys never appear in it' '
	tail -n 1 syslog | sed "s/.* smz-audit \(vault=[^ ]* seq=[^ ]* hash=[^ ]*\) .*/smz-audit-anchor v1 \1/" >fromlog.txt &&
	smz-vault audit --verify --anchor fromlog.txt >out && test_grep "^audit: OK (9 entries, 1 anchor)\$" out &&
	! grep -q "correct horse" syslog && ! grep -q "BEGIN" syslog
'

test_expect_success 'without a log daemon the operation still succeeds, silently' '
	SMZ_SYSLOG_SOCKET="$PWD/nobody-listens" smz-vault check >out 2>err &&
	test_grep "^check: OK" out && test ! -s err &&
	mkfifo notasocket && SMZ_SYSLOG_SOCKET="$PWD/notasocket" smz-vault check >out 2>err &&
	test ! -s err && smz-vault audit --verify >out && test_grep "^audit: OK (11 entries)" out
'

test_expect_success 'smz-issue audit: the same anchors, named by the issuing certificate' '
	write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
		"issuer_url = http://pki.example.com/issuing.cer" &&
	rm -f log.sock syslog && listen "$PWD/log.sock" syslog &&
	SMZ_SYSLOG_SOCKET="$PWD/log.sock" smz-issue init -q --no-passphrase &&
	stop_listening "$PWD/log.sock" &&
	fp=$(openssl x509 -in ca/issuing.pem -noout -fingerprint -sha256 | sed "s/.*=//; s/://g" | tr A-F a-f) &&
	smz-issue audit --anchor >ca-anchor.txt &&
	test_grep "^smz-audit-anchor v1 ca=$fp seq=1 hash=[0-9a-f]\{64\}\$" ca-anchor.txt &&
	test_grep "^<85>.* smz-issue\[[0-9]*\]: smz-audit ca=$fp seq=1 hash=[0-9a-f]\{64\} op=init " syslog &&
	smz-issue audit --verify --anchor ca-anchor.txt >out && test_grep "^audit: OK (1 entries, 1 anchor)\$" out &&
	test_must_fail 1 smz-issue audit --verify --anchor anchor.txt >out &&
	test_grep "^audit: FAIL: anchor seq=5 (line 1): it is for vault $vault_id, not this ca ($fp)\$" out &&
	test_must_fail 1 smz-vault audit --verify --anchor ca-anchor.txt >out &&
	test_grep "it is for ca $fp, not this vault" out
'

test_done
