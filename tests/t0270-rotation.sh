#!/bin/sh
# Rotation revokes: after passwd, reshare and gateway-key --revoke, no file
# of the vault directory holds a wrap or a sealed key that was there before
# (Berkeley DB's logs, free pages and region files included), so the old
# credential opens nothing; a kill -9 at any moment leaves a vault that
# exactly one of the two credentials opens.
. "$(dirname "$0")/lib.sh"

new_ca_vault
# shellcheck disable=SC2046 # forty addresses, one word each
new_users $(seq 1 40 | sed 's/.*/u&@example.com/')
smz-vault gateway-key -q --passphrase-file pw "$PWD/gw.key"
cp policy.conf gw.conf
printf '[gateway]\nunlock_file = %s/gw.key\n' "$PWD" >>gw.conf
printf 'From: u1@example.com\nTo: u2@example.com\nSubject: s\nContent-Type: text/plain\n\nx\n' >m.eml

# every wrap of the vault secret and every sealed key, as the files hold them
# (JSON text); the gateway's own wrap is the gateway credential, which
# passwd and reshare keep (its seals they make anew all the same)
secrets() {
	{ db5.3_dump -h vault -p keys.db | grep -o '"\(sealed\|gw_sealed\)":"[^"]*"' | cut -d'"' -f4
	  db5.3_dump -h vault -p meta.db | awk '/^ (pw|sh|esc)$/ { getline; print }' |
		grep -o '"\(ct\|sealed\)":"[^"]*"' | cut -d'"' -f4; } | sort -u
}
# how many of the strings in $1 some file of the vault directory still holds
left() {
	n=0
	while read -r s; do
		grep -rqF -- "$s" vault && n=$((n + 1))
	done <"$1"
	echo $n
}
opens() { smz-vault check -q "$@" >/dev/null 2>&1; }

test_expect_success 'the scan works: the files hold every wrap and sealed key now' '
	secrets >s0 && test "$(wc -l <s0)" = 83 &&
	test "$(left s0)" = "$(wc -l <s0)"
'

test_expect_success 'passwd: a new vault key pair; no old wrap or sealed key left in any file; the old passphrase opens nothing' '
	printf "second passphrase\n" >pw2 &&
	smz-vault passwd -q --passphrase-file pw --new-passphrase-file pw2 &&
	test "$(left s0)" = 0 &&
	test_must_fail 77 smz-vault check --passphrase-file pw 2>err && test_grep "wrong passphrase" err &&
	opens --passphrase-file pw2 &&
	opens --share shares/share-1-of-3.txt --share shares/share-3-of-3.txt &&
	"$TOP/tests/helpers/unseal" vault pw2 | grep -c "BEGIN PRIVATE KEY" >n && test "$(cat n)" = 40 &&
	smz-vault audit | grep "	passwd	" | tail -n 1 | test_grep "	passwd	passphrase	new vault key pair" - &&
	smz-vault audit --verify
'

test_expect_success 'the gateway survives a passwd: its file still signs' '
	SMZ_POLICY=$PWD/gw.conf smz-sign -q --sign --sender u1@example.com m.eml >m.s &&
	smz-sign --verify m.s | test_grep "^OK signer=u1@example.com" -
'

test_expect_success 'reshare: the old shares open nothing, no old wrap is left; the passphrase still opens' '
	secrets >s1 &&
	smz-vault reshare -q --passphrase-file pw2 --shares 3 --threshold 2 --share-out shares2 &&
	test "$(left s1)" = 0 &&
	test_must_fail 77 smz-vault check --share shares/share-1-of-3.txt --share shares/share-2-of-3.txt 2>err &&
	opens --share shares2/share-1-of-3.txt --share shares2/share-2-of-3.txt &&
	opens --passphrase-file pw2
'

test_expect_success 'while another program has the vault open, a rotation waits its turn: 75, nothing changes' '
	rm -f held fifo && mkfifo fifo || exit 1
	# another user of the vault: the shared lock every program takes, held until fifo closes
	python3 -c "import fcntl, os, sys
fd = os.open(\"vault/lock\", os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_SH)
open(\"held\", \"w\").close(); sys.stdin.read()" <fifo & holder=$!
	exec 3>fifo &&
	n=0 && while ! test -e held && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done &&
	db5.3_dump -h vault -p meta.db | sed "/^ audit_head\$/,+1d" >m1 &&
	test_must_fail 75 smz-vault passwd --passphrase-file pw2 --new-passphrase-file pw2 2>err &&
	test_grep "in use by another program" err &&
	db5.3_dump -h vault -p meta.db | sed "/^ audit_head\$/,+1d" >m2 &&
	test_cmp m1 m2 && ! test -e vault.rotate &&
	exec 3>&- && wait $holder &&
	smz-vault passwd -q --passphrase-file pw2 --new-passphrase-file pw2 && opens --passphrase-file pw2
'

test_expect_success 'gateway-key --revoke: no gateway seal or wrap left; the old file opens nothing' '
	db5.3_dump -h vault -p keys.db | grep -o "\"gw_sealed\":\"[^\"]*\"" | cut -d\" -f4 >g0 &&
	db5.3_dump -h vault -p meta.db | grep -A1 "^ gw\$" | grep -o "\"ct\":\"[^\"]*\"" | cut -d\" -f4 >>g0 &&
	test "$(wc -l <g0)" = 41 && test "$(left g0)" = 41 &&
	smz-vault gateway-key -q --revoke &&
	test "$(left g0)" = 0 &&
	opens --passphrase-file pw2
'

# kill -9 at many moments of a rotation: whatever it hit, exactly one of the
# two passphrases opens the vault, and its check passes
i=0
for delay in 0.01 0.03 0.06 0.1 0.15 0.2 0.3 0.5; do
	i=$((i + 1))
	test_expect_success "kill -9 during passwd ($delay s): exactly one credential opens a sound vault" '
		cur=pw2 && if [ -e cur.pw ]; then cur=cur.pw; fi &&
		printf "passphrase %s\n" "$i" >next &&
		{ smz-vault passwd -q --passphrase-file "$cur" --new-passphrase-file next 2>/dev/null & pid=$!; } &&
		sleep "$delay"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
		a=0 b=0
		opens --passphrase-file "$cur" && a=1
		opens --passphrase-file next && b=1
		test $((a + b)) = 1 && ! test -e vault.rotate &&
		if [ $b = 1 ]; then cp next cur.pw; fi &&
		smz-vault audit --verify >/dev/null &&
		test "$(smz-vault list | tail -n +2 | wc -l)" = 40
	'
done

# the same for reshare (old or new share set) and a new gateway key (old or new file)
j=0
for delay in 0.02 0.08 0.15 0.3; do
	j=$((j + 1))
	test_expect_success "kill -9 during reshare ($delay s): exactly one share set opens a sound vault" '
		P=pw2 && if [ -e cur.pw ]; then P=cur.pw; fi &&
		cur=$(cat cur.set 2>/dev/null || echo shares2) &&
		rm -rf "rs$j" &&
		{ smz-vault reshare -q --passphrase-file "$P" --shares 2 --threshold 2 --share-out "rs$j" 2>/dev/null & pid=$!; } &&
		sleep "$delay"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
		a=0 b=0
		opens --share "$cur/share-1-of-$(ls "$cur" | wc -l).txt" --share "$cur/share-2-of-$(ls "$cur" | wc -l).txt" && a=1
		test -e "rs$j/share-2-of-2.txt" && opens --share "rs$j/share-1-of-2.txt" --share "rs$j/share-2-of-2.txt" && b=1
		test $((a + b)) = 1 && ! test -e vault.rotate &&
		if [ $b = 1 ]; then echo "rs$j" >cur.set; fi &&
		opens --passphrase-file "$P"
	'
done
k=0
for delay in 0.02 0.08 0.15 0.3; do
	k=$((k + 1))
	test_expect_success "kill -9 during gateway-key ($delay s): exactly one gateway file signs" '
		P=pw2 && if [ -e cur.pw ]; then P=cur.pw; fi &&
		cur=$(cat cur.gw 2>/dev/null || echo none) &&
		rm -f "gw$k.key" &&
		{ smz-vault gateway-key -q --passphrase-file "$P" "$PWD/gw$k.key" 2>/dev/null & pid=$!; } &&
		sleep "$delay"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
		a=0 b=0
		sed "s|gw.key|$cur|" gw.conf >g.conf &&
		if [ "$cur" != none ] && SMZ_POLICY=$PWD/g.conf smz-sign -q --sign m.eml >/dev/null 2>&1; then a=1; fi
		sed "s|gw.key|gw$k.key|" gw.conf >g.conf &&
		if [ -e "gw$k.key" ] && SMZ_POLICY=$PWD/g.conf smz-sign -q --sign m.eml >/dev/null 2>&1; then b=1; fi
		test $((a + b)) -le 1 && ! test -e vault.rotate &&
		{ [ $b = 0 ] || echo "gw$k.key" >cur.gw; } &&
		{ [ $b = 1 ] || [ "$cur" = none ] || [ $a = 1 ]; } &&
		opens --passphrase-file "$P"
	'
done

test_expect_success 'the key pool (vault/pool) is carried over by a rotation; joiners still draw from it' '
	P=pw2 && if [ -e cur.pw ]; then P=cur.pw; fi &&
	smz-keygen -q --pool 3 &&
	ls vault/pool >p1 && test "$(grep -vc "^pool\." p1)" = 3 &&
	smz-vault passwd -q --passphrase-file "$P" --new-passphrase-file "$P" &&
	ls vault/pool >p2 && test_cmp p1 p2 && ! test -e vault.rotate &&
	printf "email\njoiner@example.com\n" >j.csv && smz-keygen -q j.csv >j.csr &&
	test "$(ls vault/pool | grep -vc "^pool\.")" = 2
'

test_expect_success 'root rotating a service user'"'"'s vault leaves every file that user'"'"'s' '
	P=pw2 && if [ -e cur.pw ]; then P=cur.pw; fi &&
	chown -R nobody vault &&
	smz-vault passwd -q --passphrase-file "$P" --new-passphrase-file "$P" &&
	test "$(stat -c %U vault)" = nobody &&
	test -z "$(find vault ! -user nobody)" &&
	opens --passphrase-file "$P"
'

test_done
