#!/bin/sh
# Unlocking the vault: passphrase, any M of N shares; clean failures with
# M-1 shares, a share of another vault, a damaged share, a stale share set.
. "$(dirname "$0")/lib.sh"

write_policy
new_vault
printf 'email\na@example.com\nb@example.com\n' >r.csv
smz-keygen -q r.csv >/dev/null

snapshot() { smz-vault audit | cut -f1,4,5 | grep -v "	check	\|	unlock	" ; smz-vault list; }

test_expect_success 'the passphrase unlocks and every key unseals' '
	smz-vault check --passphrase-file pw >out &&
	test_grep "^check: OK (2 records, every key unsealed)\$" out
'

test_expect_success 'the passphrase can come from standard input' '
	smz-vault check --passphrase-file - <pw >out && test_grep "every key unsealed" out
'

test_expect_success 'a wrong passphrase: exit 77, nothing changed' '
	snapshot >before &&
	printf "wrong\n" >bad &&
	test_must_fail 77 smz-vault check --passphrase-file bad >out 2>err &&
	test_grep "unable to unlock the vault: wrong passphrase" err &&
	snapshot >after && test_cmp before after
'

test_expect_success 'any 2 of the 3 shares unlock' '
	for pair in "1 2" "1 3" "2 3" "3 1"; do
		set -- $pair &&
		smz-vault check --share shares/share-$1-of-3.txt --share shares/share-$2-of-3.txt >out &&
		test_grep "every key unsealed" out || exit 1
	done
'

test_expect_success 'one share of two: exit 77, "too few shares"' '
	test_must_fail 77 smz-vault check --share shares/share-2-of-3.txt 2>err &&
	test_grep "too few shares: 1 given, 2 needed" err
'

test_expect_success 'the same share twice does not count twice' '
	test_must_fail 77 smz-vault check --share shares/share-2-of-3.txt --share shares/share-2-of-3.txt 2>err &&
	test_grep "share 2 given twice" err
'

test_expect_success 'a share of another vault is named as such' '
	mkdir other && (cd other && write_policy && new_vault) &&
	test_must_fail 77 smz-vault check --share shares/share-1-of-3.txt --share other/shares/share-2-of-3.txt 2>err &&
	test_grep "other/shares/share-2-of-3.txt: a share of another vault" err
'

test_expect_success 'a flipped byte in a share is detected as damage' '
	sed "s/^secret: \(.\)/secret: X\1/; s/^secret: X0/secret: 1/; s/^secret: X[^0]/secret: 0/" \
		shares/share-3-of-3.txt >flipped &&
	! cmp -s flipped shares/share-3-of-3.txt &&
	test_must_fail 77 smz-vault check --share shares/share-1-of-3.txt --share flipped 2>err &&
	test_grep "flipped: damaged share (checksum mismatch)" err &&
	printf "garbage\n" >junk &&
	test_must_fail 77 smz-vault check --share shares/share-1-of-3.txt --share junk 2>err &&
	test_grep "junk: not a share file or damaged" err
'

test_expect_success 'passphrase and shares at once is a usage error' '
	test_must_fail 64 smz-vault check --passphrase-file pw --share shares/share-1-of-3.txt 2>err &&
	test_grep "not both" err
'

test_expect_success 'reshare: new shares work, the old set no longer does' '
	smz-vault reshare -q --passphrase-file pw --shares 5 --threshold 3 --share-out shares2 &&
	test "$(ls shares2 | wc -l)" -eq 5 &&
	smz-vault check --share shares2/share-5-of-5.txt --share shares2/share-1-of-5.txt --share shares2/share-3-of-5.txt >out &&
	test_grep "every key unsealed" out &&
	test_must_fail 77 smz-vault check --share shares2/share-1-of-5.txt --share shares2/share-2-of-5.txt 2>err &&
	test_grep "too few shares: 2 given, 3 needed" err &&
	test_must_fail 77 smz-vault check --share shares/share-1-of-3.txt --share shares/share-2-of-3.txt 2>err &&
	test_grep "a share of an earlier share set, replaced by smz-vault reshare" err
'

test_expect_success 'reshare never overwrites share files' '
	test_must_fail 73 smz-vault reshare --passphrase-file pw --shares 5 --threshold 3 --share-out shares2 2>err &&
	test_grep "never overwritten" err
'

test_expect_success 'passwd: the new passphrase works, the old one not, records untouched' '
	smz-vault list >before &&
	printf "new passphrase\n" >pw2 &&
	smz-vault passwd --passphrase-file pw --new-passphrase-file pw2 &&
	smz-vault check --passphrase-file pw2 >out && test_grep "every key unsealed" out &&
	test_must_fail 77 smz-vault check --passphrase-file pw 2>err && test_grep "wrong passphrase" err &&
	smz-vault list >after && test_cmp before after
'

test_expect_success 'shares-only vault: a passphrase is refused with a hint' '
	mkdir so && cd so && write_policy &&
	smz-vault init -q --shares 2 --threshold 2 --share-out sh &&
	printf x >p && test_must_fail 77 smz-vault check --passphrase-file p 2>err &&
	test_grep "no passphrase; unlock it with its recovery shares (--share FILE, M times)" err &&
	smz-vault check --share sh/share-1-of-2.txt --share sh/share-2-of-2.txt >out &&
	test_grep "check: OK (0 records" out
'

test_expect_success 'init refuses bad share parameters and a used directory' '
	mkdir badinit && cd badinit && write_policy &&
	test_must_fail 64 smz-vault init --shares 3 --threshold 4 --share-out s 2>err &&
	test_grep "threshold" err &&
	test_must_fail 64 smz-vault init 2>err && test_grep "passphrase.*or.*shares" err &&
	printf "pw\n" >pw && smz-vault init -q --passphrase-file pw &&
	test_must_fail 73 smz-vault init --passphrase-file pw 2>err && test_grep "not empty" err
'

test_expect_success 'init refuses a directory owned by another user, or writable by others, or a link' '
	mkdir nobodys && chown nobody nobodys &&
	test_must_fail 77 smz-vault init --vault nobodys --passphrase-file pw 2>err &&
	test_grep "owned by another user" err && test -z "$(ls nobodys)" &&
	mkdir open && chmod 777 open &&
	test_must_fail 77 smz-vault init --vault open --passphrase-file pw 2>err &&
	test_grep "writable by group or others" err && test -z "$(ls open)" &&
	mkdir real && ln -s real link &&
	test_must_fail 77 smz-vault init --vault link --passphrase-file pw 2>err &&
	test -z "$(ls real)" &&
	mkdir mine && chmod 700 mine && smz-vault init -q --vault mine --passphrase-file pw &&
	test -s mine/deposit.pub
'

test_expect_success 'every unlock is in the audit log, with how' '
	smz-vault audit | cut -f4,5 >ops &&
	test_grep "^unlock	passphrase\$" ops &&
	test_grep "^unlock	shares 1,2\$" ops &&
	test_grep "^reshare	set [0-9a-f]*, 3 of 5\$" ops &&
	test_grep "^passwd	passphrase\$" ops
'

test_done
