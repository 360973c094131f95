#!/bin/sh
# The gateway acts only for whom it may: signing only for the authenticated
# sender's own mailboxes, decryption only with the delivery recipient's keys,
# no header forged inside the encryption reaches the top, revocation by the
# CA reaches the keys, and verification refuses what a reader would misread.
. "$(dirname "$0")/lib.sh"

# faketime preloads itself: under ASan its runtime is then not the first library
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
export ASAN_OPTIONS
new_ca_vault
new_users alice@example.com ceo@example.com lee@example.com kim@example.com
"$TOP/tests/helpers/unseal" vault pw >keys.txt
for a in alice ceo; do
	awk -v a="$a@example.com" '/^# /{on = ($2 == a); next} on' keys.txt >$a.key
done
now=$(LC_ALL=C date -R)
mail() { # FROM-LINE TO [EXTRA HEADER]: a plain message
	printf 'From: %s\nTo: %s\n%sSubject: plans\nDate: %s\nMessage-ID: <%s@example.com>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nThe plans.\n' \
		"$1" "$2" "${3:-}" "$now" "$$.$(date +%N)"
}
signs() { smz-vault audit | awk -F'\t' '$4 == "sign"' | wc -l; }
decrypts() { smz-vault audit | awk -F'\t' '$4 ~ /^decrypt/' | wc -l; }

test_expect_success '--sender: the authenticated sender'"'"'s own mail is signed' '
	before=$(signs) &&
	mail "Alice <alice@example.com>" partner@other.org >a.eml &&
	smz-sign --sign --sender alice@example.com --passphrase-file pw a.eml >a.signed 2>err &&
	test_grep "^Content-Type: multipart/signed" a.signed &&
	smz-sign --verify a.signed >st && test_grep "^OK signer=alice@example.com " st &&
	test "$(signs)" -eq $((before + 1))
'

test_expect_success '--sender: From: ceo submitted by alice is not signed (77, nothing written, no key used)' '
	before=$(signs) &&
	mail "The CEO <ceo@example.com>" partner@other.org >ceo.eml &&
	test_must_fail 77 smz-sign --sign --sender alice@example.com --passphrase-file pw ceo.eml >out 2>err &&
	! test -s out &&
	test_grep "not-sender: From: ceo@example.com is not a mailbox of the authenticated sender alice@example.com" err &&
	test "$(signs)" = "$before"
'

test_expect_success '--sender: From: mallory, ceo; From: alice, ceo; two From: fields; Sender: ceo: all refused' '
	mail "mallory@example.com, ceo@example.com" x@other.org >m1.eml &&
	mail "alice@example.com, ceo@example.com" x@other.org >m2.eml &&
	mail "alice@example.com" x@other.org "From: ceo@example.com
" >m3.eml &&
	mail "alice@example.com" x@other.org "Sender: ceo@example.com
" >m4.eml &&
	test "$(grep -c "^From:" m3.eml)" = 2 &&
	for m in m1 m2 m3 m4; do
		test_must_fail 77 smz-sign --sign --sender alice@example.com --passphrase-file pw $m.eml >out 2>err &&
		! test -s out && test_grep "not-sender" err && cp err $m.err || return 1
	done &&
	test_grep "From: mallory@example.com is not a mailbox" m1.err &&
	test_grep "From: ceo@example.com is not a mailbox" m2.err &&
	test_grep "not-sender: 2 From: fields" m3.err &&
	test_grep "Sender: ceo@example.com is not a mailbox" m4.err
'

test_expect_success 'a display name with a comma, quoted or in an encoded word, is one mailbox' '
	mail "=?utf-8?q?Smith,_Alice?= <alice@example.com>" x@other.org >e1.eml &&
	mail "\"Smith, Alice\" <alice@example.com>" x@other.org >e2.eml &&
	for m in e1 e2; do
		smz-sign -q --sign --sender alice@example.com --passphrase-file pw $m.eml >$m.s &&
		smz-sign --verify $m.s | test_grep "^OK signer=alice@example.com" - || return 1
	done
'

test_expect_success '--sender with --as someone else: refused' '
	test_must_fail 77 smz-sign --sign --sender alice@example.com --as ceo@example.com --passphrase-file pw a.eml >out 2>err &&
	! test -s out && test_grep "not-sender: ceo@example.com is not a mailbox of the authenticated sender" err
'

# a captured message encrypted to the CEO only, and one to alice and the CEO
mail partner@other.org ceo@example.com >to-ceo.eml
smz-sign -q --encrypt to-ceo.eml >to-ceo.enc
mail partner@other.org "alice@example.com, ceo@example.com" >to-both.eml
smz-sign -q --encrypt to-both.eml >to-both.enc

test_expect_success '--decrypt --for alice: a message encrypted only to the CEO stays closed (77), no key used' '
	before=$(decrypts) &&
	test_must_fail 77 smz-sign --decrypt --for alice@example.com --passphrase-file pw to-ceo.enc >out 2>err &&
	! test -s out &&
	test_grep "FAIL not-for-recipient: the message is not encrypted to a key of alice@example.com" err &&
	test "$(decrypts)" = "$before"
'

test_expect_success '--decrypt --for: the recipient'"'"'s own key opens it, and only that key is used' '
	before=$(decrypts) &&
	smz-sign --decrypt --for alice@example.com --passphrase-file pw to-both.enc >d.eml 2>err &&
	test "$(decrypts)" -eq $((before + 1)) &&
	test_grep "decrypted with key [0-9a-f]* of alice@example.com (active" err &&
	test_cmp to-both.eml d.eml &&
	smz-vault audit | tail -n 1 | test_grep "	decrypt	[0-9a-f]* alice@example.com	" - &&
	smz-sign --decrypt --for ceo@example.com --passphrase-file pw to-ceo.enc | test_cmp to-ceo.eml -
'

test_expect_success 'headers inside the encryption never reach the top: exactly the outer fields' '
	printf "From: Partner <partner@other.org>\nTo: alice@example.com\nSubject: outer\nDate: %s\nMessage-ID: <outer@other.org>\n" "$now" >outer.hdr &&
	printf "From: ceo@example.com\nSubject: Wire the money\nReply-To: thief@evil.example\nX-Anything: yes\nMIME-Version: 1.0\nContent-Type: text/plain\n\nPay now.\n" >inner &&
	openssl cms -encrypt -in inner -aes256 alice@example.com.pem | cat outer.hdr - >forged.eml &&
	smz-sign -q --decrypt --for alice@example.com --passphrase-file pw forged.eml >fd.eml &&
	sed "/^\$/q" fd.eml | sed "/^\$/d; s/:.*//" >names &&
	printf "From\nTo\nSubject\nDate\nMessage-ID\nMIME-Version\nContent-Type\n" >names.want &&
	test_cmp names.want names &&
	test_grep "^Subject: outer\$" fd.eml && test_grep "^From: Partner <partner@other.org>\$" fd.eml &&
	! grep -q "thief\|Wire the money\|X-Anything" fd.eml &&
	test_grep "^Pay now.\$" fd.eml
'

# old mail to lee and kim, and signed by them, before anything is revoked
for a in lee kim; do
	awk -v a="$a@example.com" '/^# /{on = ($2 == a); next} on' keys.txt >$a.key
	mail $a@example.com x@other.org >$a-early.eml
	smz-sign -q --sign --passphrase-file pw $a-early.eml >$a-early.s
done
mail partner@other.org lee@example.com >to-lee.eml
smz-sign -q --encrypt to-lee.eml >to-lee.enc
mail partner@other.org kim@example.com >to-kim.eml
smz-sign -q --encrypt to-kim.eml >to-kim.enc

test_expect_success 'smz-offboard of a leaver: the vault marks the key revoked' '
	smz-offboard -q --force lee@example.com &&
	smz-vault history lee@example.com >h && test_grep "	revoked	" h &&
	smz-vault audit | test_grep "	revoke	lee@example.com [0-9a-f]* [0-9a-f]*	affiliationChanged" -
'

test_expect_success 'after offboarding: --sign as the leaver fails, --encrypt to the leaver fails for that recipient' '
	mail lee@example.com x@other.org >lee.eml &&
	test_must_fail 65 smz-sign --sign --passphrase-file pw lee.eml >out 2>err && ! test -s out &&
	test_grep "lee@example.com has no active key with a valid signing certificate in the vault: the key was revoked by the CA (revoked)" err &&
	test_must_fail 65 smz-sign --sign --sender lee@example.com --passphrase-file pw lee.eml >out 2>err && ! test -s out &&
	test_grep "lee@example.com has no active key" err &&
	mail alice@example.com "lee@example.com, ceo@example.com" >to-lee2.eml &&
	test_must_fail 65 smz-sign --encrypt to-lee2.eml >out 2>err && ! test -s out &&
	test_grep "1 of 2 recipients cannot be encrypted to, so nothing was: no usable encryption certificate for lee@example.com: vault: the key was revoked by the CA (revoked)" err &&
	test_must_fail 65 smz-sign --encrypt --to lee@example.com --cert lee@example.com.pem to-lee2.eml >out 2>err &&
	test_grep "given certificate: revoked: the CA revoked its key (revoked)" err
'

test_expect_success 'verify: the leaver'"'"'s signature made before the revocation is good; one made after is revoked' '
	smz-sign --verify lee-early.s >st && test_grep "^OK signer=lee@example.com" st &&
	sed -n "/^Content-Type/,\$p" lee-early.eml >lee.ent &&
	printf "From: lee@example.com\nTo: x@other.org\nDate: %s\nSubject: late\n" "$(LC_ALL=C date -R -d "+1 hour")" >late.hdr &&
	faketime -f "+1h" openssl cms -sign -in lee.ent -signer lee@example.com.pem -inkey lee.key | cat late.hdr - >late.s &&
	test_must_fail 1 faketime -f "+1h" smz-sign --verify late.s >st &&
	test_grep "^FAIL revoked: signer lee@example.com: revoked: the CA revoked its key (revoked)" st
'

test_expect_success 'the leaver'"'"'s old mail still decrypts (key history)' '
	smz-sign --decrypt --passphrase-file pw to-lee.enc >d 2>err && test_cmp to-lee.eml d &&
	test_grep "of lee@example.com (revoked," err
'

test_expect_success 'keyCompromise: no signing, no encryption; old mail decrypts but says compromised, in the audit too' '
	smz-issue revoke -q --reason keyCompromise --address kim@example.com >/dev/null &&
	smz-vault history kim@example.com | test_grep "	compromised	" - &&
	mail kim@example.com x@other.org >kim.eml &&
	test_must_fail 65 smz-sign --sign --passphrase-file pw kim.eml >out 2>err && ! test -s out &&
	test_must_fail 65 smz-sign --encrypt --to kim@example.com kim.eml >out 2>err && ! test -s out &&
	test_grep "kim@example.com: vault: the key was revoked by the CA (compromised)" err &&
	smz-sign --decrypt --passphrase-file pw to-kim.enc >d 2>err && test_cmp to-kim.eml d &&
	test_grep "(compromised, found by .*) WARNING: the key is compromised" err &&
	smz-vault audit | tail -n 1 | test_grep "	decrypt-compromised	[0-9a-f]* kim@example.com	" -
'

test_expect_success 'verify: a compromised key'"'"'s signature is revoked, whenever it was made' '
	test_must_fail 1 smz-sign --verify kim-early.s >st &&
	test_grep "^FAIL revoked: signer kim@example.com: revoked: the CA revoked its key (compromised)" st
'

test_expect_success 'revoke again: nothing changes twice, the vault stays as it is' '
	smz-vault audit >a1 &&
	smz-issue revoke -q --reason keyCompromise --address kim@example.com >out &&
	test_grep "already revoked" out &&
	smz-vault audit >a2 && test_cmp a1 a2
'

test_expect_success 'verify: a signing time more than an hour from Date: is time-mismatch; within the hour, OK' '
	for off in "+6 hours" "+30 minutes"; do
		printf "From: alice@example.com\nTo: x@other.org\nDate: %s\nSubject: t\nContent-Type: text/plain\n\nx\n" \
			"$(LC_ALL=C date -R -d "$off")" >t.eml &&
		smz-sign -q --sign --passphrase-file pw t.eml >"t$off.s" || return 1
	done &&
	test_must_fail 1 smz-sign --verify "t+6 hours.s" >st &&
	test_grep "^FAIL time-mismatch: signed by alice@example.com at .* but Date: is " st &&
	smz-sign --verify "t+30 minutes.s" >st && test_grep "^OK signer=alice@example.com" st
'

test_expect_success 'verify: From: with a second mailbox or a second field fails unless the signer'"'"'s' '
	smz-sign -q --sign --as alice@example.com --passphrase-file pw m2.eml >m2.s &&
	test_must_fail 1 smz-sign --verify m2.s >st &&
	test_grep "^FAIL from-mismatch: signed by alice@example.com but From: also names ceo@example.com (1 fields, 2 mailboxes)" st &&
	smz-sign -q --sign --as alice@example.com --passphrase-file pw m3.eml >m3.s &&
	test_must_fail 1 smz-sign --verify m3.s >st &&
	test_grep "^FAIL from-mismatch: .* also names ceo@example.com (2 fields, 2 mailboxes)" st
'

test_expect_success 'cipher policy: 3des opens with weak=3des by default; [smime] refuse = 3des refuses it before any key use' '
	sed -n "/^Content-Type/,\$p" to-both.eml >ent &&
	openssl cms -encrypt -in ent -des3 alice@example.com.pem | cat outer.hdr - >3des.eml &&
	smz-sign -q --verify --passphrase-file pw 3des.eml >st || true &&
	smz-sign --decrypt --passphrase-file pw 3des.eml >/dev/null 2>err &&
	test_grep "cipher=3des weak=3des" err &&
	cp policy.conf strict.conf && printf "[smime]\nrefuse = 3des, rc2, sha1\n" >>strict.conf &&
	before=$(decrypts) &&
	test_must_fail 77 env SMZ_POLICY=$PWD/strict.conf smz-sign --decrypt --passphrase-file pw 3des.eml >out 2>err &&
	! test -s out && test_grep "FAIL refused: the content cipher 3des is refused by policy" err &&
	test "$(decrypts)" = "$before" &&
	smz-sign --decrypt --passphrase-file pw to-both.enc 2>err >/dev/null && test_grep "cipher=aes-256-gcm" err
'

test_expect_success 'cipher policy: a sha1 signature verifies (weak=sha1), refused under [smime] refuse = sha1' '
	sed "/^\$/q" a.eml | grep -v "^Content-\|^MIME-Version\|^\$" >sh.hdr &&
	openssl cms -sign -md sha1 -in ent -signer alice@example.com.pem -inkey alice.key | cat sh.hdr - >sha1.eml &&
	smz-sign --verify sha1.eml >st && test_grep "^OK signer=alice@example.com digest=sha1 .* weak=sha1" st &&
	test_must_fail 1 env SMZ_POLICY=$PWD/strict.conf smz-sign --verify sha1.eml >st &&
	test_grep "^FAIL refused: signature by alice@example.com uses sha1" st
'

test_expect_success 'verify: an older certificate with the mailbox only in the subject emailAddress is named' '
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout oca.key -out oca.pem \
		-subj "/CN=Old CA" -days 30 -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null &&
	printf "keyUsage = digitalSignature\nextendedKeyUsage = emailProtection\n" >old.ext &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout old.key \
		-subj "/CN=Old Timer/emailAddress=old@example.com" 2>/dev/null |
		openssl x509 -req -CA oca.pem -CAkey oca.key -days 30 -out old.pem -extfile old.ext 2>/dev/null &&
	printf "From: old@example.com\nTo: x@other.org\nSubject: o\n" >old.hdr &&
	openssl cms -sign -in ent -signer old.pem -inkey old.key | cat old.hdr - >old.eml &&
	smz-sign --verify --trust oca.pem old.eml >st && test_grep "^OK signer=old@example.com " st
'

test_done
