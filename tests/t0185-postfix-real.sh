#!/bin/sh
# The gateway inside a real Postfix, configured as examples/postfix-filter.sh
# and smz-sign(1) document: the submission service (SASL) signs an
# authenticated user's own mail and bounces mail she sends as someone else;
# the MX service decrypts for each recipient with that recipient's keys only,
# so a captured message sent back in yields no cleartext to anyone.
. "$(dirname "$0")/lib.sh"
# Everything the filter's user (nobody) reads or runs lives under /tmp: the
# checkout may sit where nobody cannot reach (a 0700 home), and the SMTP
# sockets' paths must stay short (108 bytes for a UNIX socket).
PF_ROOT=$(mktemp -d /tmp/smz-t0185.XXXXXX) || exit 1
chmod 755 "$PF_ROOT" && mkdir "$PF_ROOT/work" "$PF_ROOT/bin" && cd "$PF_ROOT/work" || exit 1
cp "$TOP/cmd/smz-sign" "$TOP/examples/postfix-filter.sh" "$PF_ROOT/bin/"
. "$TOP/tests/postfix.sh"
trap 'postfix_stop; rm -rf "$PF_ROOT"' EXIT

new_ca_vault
new_users alice@example.com bob@example.com ceo@example.com
smz-vault gateway-key -q --passphrase-file pw "$PWD/gw.key"
printf '[gateway]\nunlock_file = %s/gw.key\n' "$PWD" >>policy.conf
# the filter's user (nobody here, smz in production) owns the vault and its
# unlock file, and sees of the CA only its certificates, as on a gateway host
chown -R nobody vault gw.key
mkdir gw-ca && cp ca/root.pem ca/issuing.pem gw-ca/
sed "s|^path = $PWD/ca\$|path = $PWD/gw-ca|" policy.conf >gw.conf
postfix_start "$PF_ROOT/bin/postfix-filter.sh" "$PWD/gw.conf" "$PF_ROOT/bin" ||
	{ echo "Bail out! cannot start Postfix"; exit 1; }
postfix_user alice@example.com 'alice secret'
now=$(LC_ALL=C date -R)
msg() { # FROM TO SUBJECT
	printf 'From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: <%s@example.com>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nThe figures for %s.\n' \
		"$1" "$2" "$3" "$now" "$3" "$3"
}
submit() { # FROM-ENVELOPE RCPT FILE: as alice, authenticated
	swaks --silent 2 --socket "$PF/spool/public/submission" --auth PLAIN --auth-user alice@example.com \
		--auth-password 'alice secret' --from "$1" --to "$2" --data "@$3"
}
mx() { # FROM-ENVELOPE RCPTS FILE: from the internet
	swaks --silent 2 --socket "$PF/spool/public/mx" --from "$1" --to "$2" --data "@$3"
}
body() { sed '1,/^\r\?$/d' "$1"; }
ops() { smz-vault audit | awk -F'\t' -v op="$1" '$4 == op { print $5 }'; }

test_expect_success 'submission: alice'"'"'s own mail is signed on the way out; the signature verifies' '
	msg "Alice <alice@example.com>" partner@other.org q1 >q1.eml &&
	submit alice@example.com partner@other.org q1.eml &&
	postfix_wait partner@other.org 1 &&
	m="$PF/mail/partner@other.org/1.eml" &&
	test_grep "^Content-Type: multipart/signed" "$m" &&
	smz-sign --verify "$m" >st && test_grep "^OK signer=alice@example.com " st &&
	openssl cms -verify -in "$m" -CAfile ca/root.pem -out q1.out 2>/dev/null && test_grep "The figures for q1." q1.out &&
	ops sign | test_grep "alice@example.com" -
'

test_expect_success 'submission: alice'"'"'s mail with From: ceo is not signed: bounced to her with the reason' '
	msg "The CEO <ceo@example.com>" partner@other.org q2 >q2.eml &&
	submit alice@example.com partner@other.org q2.eml &&
	postfix_wait alice@example.com 1 &&
	tr -d "\n" <"$PF/mail/alice@example.com/1.eml" | tr -s " " >bounce &&
	test_grep "not-sender: From: ceo@example.com is not a mailbox of the authenticated sender alice@example.com" bounce &&
	postfix_idle &&
	test "$(find "$PF/mail/partner@other.org" -name "*.eml" | wc -l)" = 1 &&
	! ops sign | grep -q ceo@example.com
'

test_expect_success 'submission: no SASL login, no relay' '
	msg "Alice <alice@example.com>" partner@other.org q3 >q3.eml &&
	! swaks --silent 2 --socket "$PF/spool/public/submission" --from alice@example.com --to partner@other.org --data @q3.eml
'

test_expect_success 'MX: a captured message for the CEO sent to alice and to the attacker: no cleartext, the CEO'"'"'s key unused' '
	msg partner@other.org ceo@example.com secret >secret.eml &&
	smz-sign -q --encrypt secret.eml >captured.eml &&
	mx evil@other.org alice@example.com,evil@other.org captured.eml &&
	postfix_wait alice@example.com 2 && postfix_wait evil@other.org 1 &&
	for m in "$PF/mail/alice@example.com/2.eml" "$PF/mail/evil@other.org/1.eml"; do
		test_grep "^Content-Type: application/pkcs7-mime" "$m" && ! grep -q "The figures for secret" "$m" || return 1
	done &&
	test -z "$(ops decrypt)"
'

test_expect_success 'MX: bob and alice receive a message encrypted to bob: bob'"'"'s copy decrypted, alice'"'"'s left closed' '
	msg partner@other.org bob@example.com forbob >forbob.eml &&
	smz-sign -q --encrypt forbob.eml >forbob.enc &&
	mx partner@other.org bob@example.com,alice@example.com forbob.enc &&
	postfix_wait bob@example.com 1 && postfix_wait alice@example.com 3 &&
	body "$PF/mail/bob@example.com/1.eml" | tr -d "\r" >b.body && body forbob.eml >b.want && test_cmp b.want b.body &&
	test_grep "^Subject: forbob" "$PF/mail/bob@example.com/1.eml" &&
	test_grep "^Content-Type: application/pkcs7-mime" "$PF/mail/alice@example.com/3.eml" &&
	! grep -q "The figures for forbob" "$PF/mail/alice@example.com/3.eml" &&
	ops decrypt >used && test "$(wc -l <used)" = 1 && test_grep " bob@example.com\$" used
'

test_expect_success 'MX: mail from outside claiming to be alice is never signed' '
	msg "Alice <alice@example.com>" partner@other.org q4 >q4.eml &&
	mx alice@example.com partner@other.org q4.eml &&
	postfix_wait partner@other.org 2 &&
	! grep -q "multipart/signed" "$PF/mail/partner@other.org/2.eml" &&
	test "$(ops sign | wc -l)" = 1
'

postfix_stop
test_done
