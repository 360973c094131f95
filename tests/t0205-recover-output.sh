#!/bin/sh
# smz-recover's outputs: a Maildir, a report or an mbox that someone else
# could redirect (another user's directory, a group- or world-writable one,
# a symbolic link) is refused with 73 before the vault is unlocked, and
# nothing is written; and a kill -9 in the middle of a run never leaves
# decrypted mail whose key use is not in the audit log.
. "$(dirname "$0")/lib.sh"

write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase
# shellcheck disable=SC2034 # used in the test bodies, which test_expect_success evals
S1=shares/share-1-of-3.txt S2=shares/share-2-of-3.txt
printf 'email\nalice@example.com\nbob@example.com\n' >staff.csv
smz-keygen -q staff.csv | smz-issue -q | smz-vault attach -q >gen1.pem
smz-keygen -q --new-key staff.csv | smz-issue -q | smz-vault attach -q >gen2.pem
for g in 1 2; do
	split_pem gen$g.pem g$g
	for f in g$g.*; do cp "$f" "$(openssl x509 -in "$f" -noout -email | head -n 1).g$g.pem"; done
done
# a sender outside: smz-sign without a vault encrypts to certificate files
sed -e '/^\[vault\]/,/^\[/{/^path/d}' policy.conf >outside.conf
now=$(LC_ALL=C date -R)
msg() { # ID TO
	printf 'From: Partner <partner@other.org>\nTo: %s\nSubject: message %s\nDate: %s\nMessage-ID: <%s@other.org>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nText of message %s.\n' \
		"$2" "$1" "$now" "$1" "$1"
}
msg one alice@example.com >one.txt
SMZ_POLICY=$PWD/outside.conf smz-sign -q --encrypt --to alice@example.com --cert alice@example.com.g1.pem \
	one.txt >one.eml

# bulk: 800 messages in one mbox, 200 for each of four keys, taken in turn
mkdir -p bulk/src
n=0
for k in alice.g1 alice.g2 bob.g1 bob.g2; do
	n=$((n + 1))
	for j in $(seq 0 199); do
		i=$((j * 4 + n))
		msg "kill-$i" "${k%.*}@example.com" >"bulk/src/m$(printf %04d $i).$k"
	done
	ls bulk/src/*."$k" | SMZ_POLICY=$PWD/outside.conf smz-sign -q --encrypt --batch -j 2 --suffix .p7 \
		--to "${k%.*}@example.com" --cert "${k%.*}@example.com.${k#*.}.pem"
done
for f in bulk/src/*.p7; do
	printf 'From MAILER-DAEMON Mon Mar  3 10:00:00 2025\n'
	cat "$f"
	echo
done >bulk/box.mbox

rec() { # CASE ARGS...: a recovery of one.eml
	c=$1
	shift
	smz-recover -q --case "$c" --reason test --share $S1 --share $S2 "$@" one.eml
}
# nothing of the case in the audit log: the refusal came before the unlock
not_unlocked() { ! smz-vault audit | grep -q "case $1"; }
files() { find "$@" -type f | wc -l; }

test_expect_success 'the normal case: a new Maildir 0700, messages 0600, a report 0600' '
	rec OK1 --out ok --report ok.tsv >out 2>err &&
	! test -s out && ! test -s err &&
	test "$(stat -c %a ok ok/tmp ok/new ok/cur | sort -u)" = 700 &&
	test "$(files ok/new)" -eq 1 && test "$(stat -c %a ok/new/*)" = 600 &&
	grep -v "^X-Smz-Recovered: case=OK1; key=" ok/new/* | test_cmp one.txt - &&
	test "$(stat -c %a ok.tsv)" = 600 && test "$(wc -l <ok.tsv)" -eq 2
'

test_expect_success 're-runs: the report is rewritten, the mbox appended to, the Maildir skipped' '
	rec OK2 --out ok --report ok.tsv 2>err && test "$(wc -l <ok.tsv)" -eq 1 &&
	test "$(files ok)" -eq 1 &&
	f=$(ls ok/new) && mv "ok/new/$f" "ok/cur/$f:2,S" &&
	smz-recover --case OK2 --reason test --share $S1 --share $S2 --out ok one.eml >/dev/null 2>err &&
	test_grep "0 decrypted, .* 1 already done" err && test "$(files ok)" -eq 1 &&
	rec OK3 --mbox ok.mbox && rec OK4 --mbox ok.mbox --report ok.tsv &&
	test "$(grep -c "^X-Smz-Recovered: " ok.mbox)" -eq 2 && test "$(stat -c %a ok.mbox)" = 600 &&
	test "$(wc -l <ok.tsv)" -eq 2
'

test_expect_success 'a Maildir prepared by another user is refused (73) before the unlock' '
	test "$(id -u)" -ne 0 && exit 0
	mkdir -p theirs/tmp theirs/new theirs/cur && chown -R nobody theirs &&
	test_must_fail 73 rec A1 --out theirs >out 2>err &&
	test_grep "unable to write into the Maildir: theirs is owned by another user" err &&
	test "$(files theirs)" -eq 0 && ! test -s out && not_unlocked A1 &&
	mkdir -p mixed/tmp mixed/new mixed/cur && chmod 700 mixed && chown nobody mixed/cur &&
	test_must_fail 73 rec A2 --out mixed 2>err &&
	test_grep "mixed/cur is owned by another user" err && not_unlocked A2 &&
	mkdir -m 700 rdir && chown nobody rdir &&
	test_must_fail 73 rec A3 --report rdir/r.tsv 2>err && test_grep "rdir is owned by another user" err &&
	: >mine.tsv && chown nobody mine.tsv &&
	test_must_fail 73 rec A4 --report mine.tsv 2>err && test_grep "mine.tsv is owned by another user" err &&
	test "$(files rdir)" -eq 0 && ! test -s mine.tsv && not_unlocked A3 && not_unlocked A4
'

test_expect_success 'a Maildir whose new/ or tmp/ is a symbolic link is refused: nothing through the link' '
	mkdir -p target l1/tmp l1/cur l2/new l2/cur && chmod 700 target l1 l2 &&
	ln -s ../target l1/new && ln -s "$PWD/target" l2/tmp &&
	test_must_fail 73 rec B1 --out l1 2>err && test_grep "l1/new is a symbolic link" err &&
	test_must_fail 73 rec B2 --out l2 2>err && test_grep "l2/tmp is a symbolic link" err &&
	test "$(find target l1 l2 -type f | wc -l)" -eq 0 && not_unlocked B1 && not_unlocked B2 &&
	ln -s ok ml && test_must_fail 73 rec B3 --out ml 2>err && test_grep "ml is a symbolic link" err &&
	test_must_fail 73 rec B4 --out ml/ 2>err && test_grep "ml/ is a symbolic link" err &&
	ln -s nowhere l3 && test_must_fail 73 rec B5 --out l3 2>err && ! test -e nowhere &&
	not_unlocked B3 && not_unlocked B4 && not_unlocked B5
'

test_expect_success 'a group- or world-writable output directory is refused, sticky or not' '
	mkdir -m 777 ww && mkdir -m 1777 sticky && mkdir -m 770 gw && mkdir -p gs/tmp gs/new gs/cur &&
	chmod 700 gs && chmod 770 gs/new &&
	test_must_fail 73 rec C1 --out ww 2>err && test_grep "ww is writable by group or others (mode 0777)" err &&
	test_must_fail 73 rec C2 --out gw 2>err && test_grep "gw is writable by group or others" err &&
	test_must_fail 73 rec C3 --out gs 2>err && test_grep "gs/new is writable by group or others" err &&
	test_must_fail 73 rec C4 --report sticky/r.tsv 2>err && test_grep "sticky is writable by group or others (mode 1777)" err &&
	test_must_fail 73 rec C5 --mbox ww/x.mbox 2>err && test_grep "ww is writable by group or others" err &&
	test "$(find ww sticky gw gs -type f | wc -l)" -eq 0 && ! test -e ww/tmp &&
	for c in C1 C2 C3 C4 C5; do not_unlocked $c || exit 1; done
'

test_expect_success 'a report or mbox that is a symbolic link, a FIFO or a hard link is refused, the target unchanged' '
	t=$(mktemp /tmp/smz-t0205.XXXXXX) && echo "keep me" >"$t" && cp "$t" t.before &&
	ln -s "$t" rl.tsv && ln -s "$t" rl.mbox &&
	test_must_fail 73 rec D1 --report rl.tsv 2>err; r1=$?
	test_must_fail 73 rec D2 --mbox rl.mbox 2>err2; r2=$?
	ln -s /tmp/smz-t0205-none dl.tsv
	test_must_fail 73 rec D3 --report dl.tsv 2>err3; r3=$?
	cmp "$t" t.before; r4=$?
	rm -f "$t"
	test $r1$r2$r3$r4 = 0000 && test_grep "rl.tsv is a symbolic link" err &&
	test_grep "rl.mbox is a symbolic link" err2 && ! test -e /tmp/smz-t0205-none &&
	test -L rl.tsv && test -L rl.mbox &&
	mkfifo ff.tsv && test_must_fail 73 rec D4 --report ff.tsv 2>err && test_grep "ff.tsv is not a regular file" err &&
	echo old >hl.mbox && ln hl.mbox hl2 && test_must_fail 73 rec D5 --mbox hl.mbox 2>err &&
	test_grep "hl.mbox has 2 hard links" err && test "$(cat hl2)" = old &&
	test_must_fail 64 rec D6 --report ok/ 2>err && test_grep "not a file name" err &&
	for c in D1 D2 D3 D4 D5 D6; do not_unlocked $c || exit 1; done
'

# The report goes through a FIFO that the test stops reading after 130
# lines: the run then blocks on its report, after two chunks of 64 went to
# new/ and before the end (at about 150 bytes a line, the 800 lines do not
# fit in a pipe), so the kill always lands in the middle of the run.
killed_run() { # CASE OUTPUT-OPTIONS...
	c=$1
	shift
	rm -f fifo && mkfifo fifo &&
	{ smz-recover --case "$c" --reason kill --share $S1 --share $S2 "$@" bulk/box.mbox >fifo 2>/dev/null &
	  echo $! >pid; } &&
	exec 3<fifo && n=0 &&
	while [ $n -lt 130 ] && IFS= read -r _ <&3; do n=$((n + 1)); done
	kill -9 "$(cat pid)"; wait "$(cat pid)" 2>/dev/null; exec 3<&-
	test $n -eq 130 && ! smz-vault audit | grep -q "	recover	case $c	"
}
# every decrypted message in these files names a key whose use is audited
audited() { # CASE FILE...
	c=$1
	shift
	smz-vault audit >a.tsv &&
	cat "$@" | sed -n "s/^X-Smz-Recovered: case=$c; key=\([0-9a-f]*\); address=\([^;]*\);.*/\1 \2/p" |
		sort -u >keys && test -s keys &&
	while read -r k a; do
		grep -q "	recover-use	$k $a	case $c	" a.tsv || { echo "no audit entry for $k $a"; exit 1; }
	done <keys
}

test_expect_success 'kill -9 into a Maildir: every message in new/ and tmp/ has its key use audited' '
	killed_run K1 --out kill &&
	n=$(files kill/new) && test "$n" -ge 128 && test "$n" -lt 800 &&
	audited K1 kill/new/* $(find kill/tmp -type f -size +0) &&
	smz-vault audit --verify >/dev/null
'

test_expect_success 'a re-run completes it: every message once, no leftover in tmp/' '
	smz-recover -q --case K1 --reason again --share $S1 --share $S2 --out kill bulk/box.mbox >/dev/null &&
	test "$(files kill/new)" -eq 800 && test "$(files kill/tmp)" -eq 0 &&
	test "$(cat kill/new/* | grep -c "^Message-ID: <kill-")" -eq 800 && audited K1 kill/new/*
'

test_expect_success 'kill -9 into an mbox: every message in it has its key use audited' '
	killed_run K2 --mbox kill.mbox &&
	n=$(grep -c "^From MAILER-DAEMON" kill.mbox) && test "$n" -ge 128 && test "$n" -lt 800 &&
	test "$(grep -c "^X-Smz-Recovered: case=K2;" kill.mbox)" -eq "$n" &&
	audited K2 kill.mbox
'

test_expect_success 'the audit entries: one recover-use per key, before the end-of-run tallies' '
	smz-recover -q --case K3 --reason tally --share $S1 --share $S2 bulk/box.mbox >/dev/null &&
	smz-vault audit >a.tsv &&
	test "$(grep -c "	recover-key	.*	case K3: 200 messages	" a.tsv)" -eq 4 &&
	grep "case K3[:	]" a.tsv | cut -f4 >order &&
	printf "unlock\nrecover-use\nrecover-use\nrecover-use\nrecover-use\nrecover-key\nrecover-key\nrecover-key\nrecover-key\nrecover\n" |
		test_cmp - order
'

test_done
