#!/bin/sh
# examples/postfix-filter.sh: the gateway signs what internal senders send,
# decrypts what arrives encrypted for internal recipients, re-injects every
# message, and makes Postfix retry (75) rather than lose one.
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2034 # used in the test bodies, which test_expect_success evals
FILTER="$TOP/examples/postfix-filter.sh"

write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase
printf 'email\nalice@example.com\nbob@example.com\n' >r.csv
smz-keygen -q r.csv | smz-issue -q | smz-vault attach -q >certs.pem
split_pem certs.pem c
for f in c.*; do cp "$f" "$(openssl x509 -in "$f" -noout -email | head -n 1).pem"; done
smz-vault gateway-key -q --passphrase-file pw "$PWD/gw.key"
printf '[gateway]\nunlock_file = %s/gw.key\n' "$PWD" >>policy.conf
# sendmail stand-in: records its arguments and the message
cat >sendmail <<'EOF'
#!/bin/sh
printf '%s\n' "$*" >"$SINK.args"
cat >"$SINK.msg"
EOF
chmod +x sendmail
SMZ_SENDMAIL="$PWD/sendmail -G -i"
export SMZ_SENDMAIL

cat >out.eml <<'EOF'
From: Alice <alice@example.com>
To: partner@other.org
Subject: offer
Message-ID: <offer@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Prices attached.   
EOF

test_expect_success 'outgoing from an internal sender: signed, re-injected with the same envelope' '
	SINK=$PWD/o "$FILTER" alice@example.com partner@other.org <out.eml &&
	test "$(cat o.args)" = "-G -i -f alice@example.com -- partner@other.org" &&
	test_grep "^Content-Type: multipart/signed" o.msg &&
	smz-sign --verify o.msg >st && test_grep "^OK signer=alice@example.com" st &&
	smz-vault audit | tail -n 1 | test_grep "	sign	[0-9a-f]* alice@example.com	offer@example.com	" -
'

test_expect_success 'incoming encrypted for an internal recipient: decrypted, byte for byte' '
	sed "s/^From: Alice <alice@example.com>/From: partner@other.org/; s/^To: partner@other.org/To: bob@example.com/" out.eml >in.eml &&
	smz-sign -q --encrypt in.eml >in-enc.eml &&
	SINK=$PWD/i "$FILTER" partner@other.org bob@example.com <in-enc.eml &&
	test "$(cat i.args)" = "-G -i -f partner@other.org -- bob@example.com" &&
	test_cmp in.eml i.msg
'

test_expect_success 'mail that needs nothing passes unchanged: inbound plain, outbound already signed' '
	SINK=$PWD/p "$FILTER" partner@other.org bob@example.com <in.eml && test_cmp in.eml p.msg &&
	SINK=$PWD/s "$FILTER" alice@example.com partner@other.org <o.msg && test_cmp o.msg s.msg
'

test_expect_success 'a message the gateway cannot decrypt is delivered as it came' '
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout x.key -out x.pem \
		-subj /CN=x -days 30 -addext "subjectAltName=email:bob@example.com" 2>/dev/null &&
	{ sed -n 1,4p in.eml && printf "Content-Type: text/plain\n\nhello\n" | openssl cms -encrypt -aes256 x.pem; } >foreign.eml &&
	SINK=$PWD/f "$FILTER" partner@other.org bob@example.com <foreign.eml 2>err &&
	test_cmp foreign.eml f.msg && test_grep "passed on unchanged: .*no key in the vault" err
'

test_expect_success 'the vault cannot be unlocked: exit 75 (Postfix retries), nothing injected' '
	mv gw.key gw.key.away &&
	test_must_fail 75 env SINK=$PWD/t "$FILTER" alice@example.com partner@other.org <out.eml 2>err &&
	mv gw.key.away gw.key && test_grep "will retry" err && ! test -e t.msg
'

test_expect_success 'usage: sender and at least one recipient' '
	test_must_fail 64 "$FILTER" alice@example.com <out.eml 2>/dev/null
'

test_done
