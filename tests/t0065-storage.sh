#!/bin/sh
# Storage: the vault and the CA database are created with the page sizes of
# lib/dbenv.c, chosen so that records stay on their btree leaf pages (a
# record on overflow pages takes a page of its own, mostly empty); a vault
# whose files have other page sizes (made before) still opens and works.
. "$(dirname "$0")/lib.sh"

new_ca_vault
{
	echo email
	i=1
	while [ "$i" -le 200 ]; do
		echo "user$i@example.com"
		i=$((i + 1))
	done
} >r.csv
smz-keygen -q r.csv | smz-issue -q | smz-vault attach -q >certs.pem
# one RSA-2048 key: its record (4.5 KB) is the largest of the usual ones
sed 's/^algorithm = ec-p256/algorithm = rsa-2048/' policy.conf >policy-rsa.conf
printf 'email\nrsa@example.com\n' >rsa.csv
SMZ_POLICY=$PWD/policy-rsa.conf smz-keygen -q rsa.csv | smz-issue -q | smz-vault attach -q >rsa.pem

# dbstat DIR FILE WHAT: one figure of db5.3_stat -d
dbstat() {
	db5.3_stat -h "$1" -d "$2" >stat.out || return 1
	awk -v w="$3" 'index($0, w) { print $1; exit }' stat.out
}

test_expect_success 'the pipeline stored 201 people' '
	test "$(grep -c "BEGIN CERTIFICATE" certs.pem)" -eq 200 &&
	test "$(grep -c "BEGIN CERTIFICATE" rsa.pem)" -eq 1
'

test_expect_success 'vault files have their page sizes' '
	test "$(dbstat vault keys.db "page size")" -eq 32768 &&
	for f in addr.idx isn.idx ski.idx meta.db audit.db; do
		test "$(dbstat vault $f "page size")" -eq 4096 || { echo "vault/$f" >&2; exit 1; }
	done
'

test_expect_success 'CA files have their page sizes' '
	test "$(dbstat ca certs.db "page size")" -eq 16384 &&
	for f in addr.idx kid.idx meta.db audit.db; do
		test "$(dbstat ca $f "page size")" -eq 4096 || { echo "ca/$f" >&2; exit 1; }
	done
'

test_expect_success 'no record goes to overflow pages' '
	for f in vault/keys.db vault/addr.idx vault/isn.idx vault/ski.idx vault/meta.db \
		ca/certs.db ca/addr.idx ca/kid.idx ca/meta.db; do
		test "$(dbstat ${f%/*} ${f#*/} "tree overflow pages")" -eq 0 || { echo "$f" >&2; exit 1; }
	done
'

# A vault as the build before the page sizes made it: every database loaded
# with 4 KB pages into a fresh environment (records on overflow pages).
test_expect_success 'a vault with 4 KB pages (made before) opens and grows' '
	mkdir old &&
	for f in vault/*; do
		case ${f#vault/} in
		__db.* | log.* | *.db | *.idx) ;;
		*) cp -p "$f" old/ || exit 1 ;;
		esac
	done &&
	for f in keys.db addr.idx isn.idx ski.idx meta.db audit.db; do
		db5.3_dump -h vault -p $f >dump && sed "s/^db_pagesize=.*/db_pagesize=4096/" dump >dump4k &&
		db5.3_load -h old -f dump4k $f || exit 1
	done &&
	rm -rf vault && mv old vault &&
	test "$(dbstat vault keys.db "page size")" -eq 4096 &&
	test "$(dbstat vault keys.db "tree overflow pages")" -gt 200 &&
	smz-vault check --passphrase-file pw >check.out &&
	test_grep "(201 records, every key unsealed)" check.out &&
	printf "email\nlate@example.com\n" >late.csv &&
	smz-keygen -q late.csv | smz-issue -q | smz-vault attach -q >late.pem &&
	test "$(grep -c "BEGIN CERTIFICATE" late.pem)" -eq 1 &&
	test "$(dbstat vault keys.db "page size")" -eq 4096 &&
	test "$(dbstat vault keys.db "data items")" -eq 202 &&
	smz-vault lookup late.pem >lookup.out &&
	test_grep "^late.pem: [0-9a-f]\{64\} late@example.com " lookup.out &&
	smz-vault export -q --passphrase-file pw --address user7@example.com --out out >/dev/null &&
	test -s out/user7@example.com.p12 &&
	smz-vault audit --verify >/dev/null
'

test_done
