#!/bin/sh
# The gateway unlock file opens a gateway key pair of its own, to which only
# the keys a gateway needs are sealed: it signs and decrypts, and can never
# rotate credentials, export, check, recover or reach keys outside its scope.
. "$(dirname "$0")/lib.sh"
# faketime preloads itself: under ASan its runtime is then not the first library
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
export ASAN_OPTIONS

new_ca_vault
new_users alice@example.com bob@example.com lee@example.com
smz-vault gateway-key -q --passphrase-file pw "$PWD/gw.key"
cp policy.conf officer.conf
printf '[gateway]\nunlock_file = %s/gw.key\n' "$PWD" >>policy.conf
now=$(LC_ALL=C date -R)
mail() { # FROM TO SUBJECT
	printf 'From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: <%s@example.com>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nAbout %s.\n' \
		"$1" "$2" "$3" "$now" "$3" "$3"
}
# what the vault holds, as bytes: the records' seals
seals() { db5.3_dump -h vault -p keys.db | grep -o "\"$1\":\"[^\"]*\"" | sort; }

test_expect_success 'the gateway key seals exactly the keys in its scope, and the file holds no vault secret' '
	test "$(seals gw_sealed | wc -l)" = 3 && test "$(seals sealed | wc -l)" = 3 &&
	test "$(stat -c %a gw.key)" = 600 &&
	! "$TOP/tests/helpers/unseal" vault gw.key >/dev/null 2>err
'

test_expect_success 'with only the gateway file: sign and decrypt --for work' '
	mail alice@example.com bob@example.com one >one.eml &&
	smz-sign -q --sign --sender alice@example.com one.eml >one.s &&
	smz-sign --verify one.s | test_grep "^OK signer=alice@example.com" - &&
	smz-sign -q --encrypt one.eml >one.e &&
	smz-sign -q --decrypt --for bob@example.com one.e | test_cmp one.eml - &&
	smz-vault audit | tail -n 1 | test_grep "	decrypt	" - &&
	smz-vault audit | grep "	unlock	" | tail -n 1 | test_grep "	gateway key	" -
'

test_expect_success 'with only the gateway file: passwd, reshare, gateway-key, export, check, recover: 77, nothing changes' '
	printf "new passphrase\n" >npw &&
	cp -a vault vault.before &&
	test_must_fail 77 smz-vault passwd --new-passphrase-file npw 2>err && test_grep "opens only the keys a gateway needs" err &&
	test_must_fail 77 smz-vault reshare --shares 2 --threshold 2 --share-out s2 2>err && ! test -e s2 &&
	test_must_fail 77 smz-vault gateway-key "$PWD/gw2.key" 2>err && ! test -e gw2.key &&
	test_must_fail 77 smz-vault export --all --out exp 2>err && ! test -e exp/alice@example.com.p12 &&
	test_must_fail 77 smz-vault check 2>err && test_grep "opens only the keys a gateway needs" err &&
	mkdir mbox-in && cp one.e mbox-in/ &&
	test_must_fail 77 smz-recover --case 1 --reason test --out rec mbox-in/one.e 2>err &&
	test_grep "opens only the keys a gateway needs" err &&
	! test -e rec/new/* &&
	test "$(db5.3_dump -h vault -p keys.db | md5sum)" = "$(db5.3_dump -h vault.before -p keys.db | md5sum)" &&
	# the same credentials: only the audit head moved (the refused recovery is audited)
	db5.3_dump -h vault -p meta.db | sed "/^ audit_head\$/,+1d" >m.after &&
	db5.3_dump -h vault.before -p meta.db | sed "/^ audit_head\$/,+1d" >m.before &&
	test_cmp m.before m.after &&
	SMZ_POLICY=$PWD/officer.conf smz-vault check --passphrase-file pw >out && test_grep "^check: OK (3 records, every key unsealed)" out
'

test_expect_success 'new deposits are sealed to the gateway too: keygen needs no secret' '
	printf "email\ncarol@example.com\n" >c.csv &&
	smz-keygen -q c.csv | smz-issue -q | smz-vault attach -q >c.pem &&
	test "$(seals gw_sealed | wc -l)" = 4 &&
	mail bob@example.com carol@example.com two >two.eml && smz-sign -q --encrypt two.eml >two.e &&
	smz-sign -q --decrypt --for carol@example.com two.e | test_cmp two.eml -
'

mail partner@other.org lee@example.com old >old-lee.eml
smz-sign -q --encrypt old-lee.eml >old-lee.e
mail partner@other.org alice@example.com old >old-alice.eml
smz-sign -q --encrypt old-alice.eml >old-alice.e

test_expect_success 'a leaver leaves the gateway'"'"'s scope: its seal is gone; the officers still open old mail' '
	smz-offboard -q --force lee@example.com &&
	test "$(seals gw_sealed | wc -l)" = 3 &&
	test_must_fail 77 smz-sign --decrypt --for lee@example.com old-lee.e >out 2>err && ! test -s out &&
	test_grep "not in the gateway.s scope" err &&
	SMZ_POLICY=$PWD/officer.conf smz-sign -q --decrypt --passphrase-file pw old-lee.e | test_cmp old-lee.eml -
'

test_expect_success 'a superseded key: in scope while its certificate is valid, out of it once expired' '
	printf "email\nalice@example.com\n" >a.csv &&
	smz-keygen -q --new-key a.csv | smz-issue -q | smz-vault attach -q >a2.pem &&
	smz-vault history alice@example.com | test_grep "	superseded	" - &&
	smz-sign -q --decrypt --for alice@example.com old-alice.e | test_cmp old-alice.eml - &&
	test_must_fail 77 faketime -f "+800d" smz-sign --decrypt --for alice@example.com old-alice.e >out 2>err &&
	test_grep "not in the gateway.s scope" err
'

test_expect_success 'a new gateway key replaces the old one and its seals; revoked, none is left' '
	seals gw_sealed >g1 &&
	SMZ_POLICY=$PWD/officer.conf smz-vault gateway-key -q --passphrase-file pw "$PWD/gw2.key" &&
	seals gw_sealed >g2 && test "$(wc -l <g2)" = "$(wc -l <g1)" && ! grep -qxFf g1 g2 &&
	test_must_fail 77 smz-sign --decrypt --for bob@example.com one.e >out 2>err &&
	test_grep "not the vault.s current gateway key" err &&
	sed "s|gw.key|gw2.key|" policy.conf >p2.conf &&
	SMZ_POLICY=$PWD/p2.conf smz-sign -q --decrypt --for bob@example.com one.e | test_cmp one.eml - &&
	smz-vault gateway-key -q --revoke &&
	test "$(seals gw_sealed | wc -l)" = 0 &&
	test_must_fail 77 env SMZ_POLICY=$PWD/p2.conf smz-sign --decrypt --for bob@example.com one.e >out 2>err &&
	test_grep "revoked" err
'

test_done
