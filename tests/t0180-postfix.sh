#!/bin/sh
# examples/postfix-filter.sh: the gateway signs what authenticated users send
# as themselves (and bounces what they send as someone else), decrypts what
# arrives for each internal recipient with that recipient's keys only,
# re-injects every message, and makes Postfix retry (75) rather than lose one.
# (t0185 runs the same filter inside a real Postfix.)
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
# sendmail stand-in: records each call's arguments (a line each in SINK.args)
# and message (SINK.N, N counting from 1)
cat >sendmail <<'EOF'
#!/bin/sh
printf '%s\n' "$*" >>"$SINK.args"
cat >"$SINK.$(wc -l <"$SINK.args" | tr -d ' ')"
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
count() { smz-vault audit | awk -F'\t' -v op="$1" '$4 == op' | wc -l; }

test_expect_success 'sign: an authenticated user'"'"'s own mail is signed, re-injected with the same envelope' '
	SINK=$PWD/o "$FILTER" sign user=alice@example.com alice@example.com partner@other.org <out.eml &&
	test "$(cat o.args)" = "-G -i -f alice@example.com -- partner@other.org" &&
	test_grep "^Content-Type: multipart/signed" o.1 &&
	smz-sign --verify o.1 >st && test_grep "^OK signer=alice@example.com" st &&
	smz-vault audit | tail -n 1 | test_grep "	sign	[0-9a-f]* alice@example.com	offer@example.com	" -
'

test_expect_success 'sign: From: alice submitted by bob is bounced (77), nothing signed, nothing injected' '
	before=$(count sign) &&
	test_must_fail 77 env SINK=$PWD/b "$FILTER" sign user=bob@example.com alice@example.com partner@other.org <out.eml 2>err &&
	! test -e b.args &&
	test_grep "not signed: .*not-sender: From: alice@example.com is not a mailbox of the authenticated sender bob@example.com" err &&
	test "$(count sign)" = "$before"
'

test_expect_success 'decrypt: encrypted for an internal recipient, decrypted byte for byte for that recipient' '
	sed "s/^From: Alice <alice@example.com>/From: partner@other.org/; s/^To: partner@other.org/To: bob@example.com/" out.eml >in.eml &&
	smz-sign -q --encrypt in.eml >in-enc.eml &&
	SINK=$PWD/i "$FILTER" decrypt partner@other.org bob@example.com <in-enc.eml &&
	test "$(cat i.args)" = "-G -i -f partner@other.org -- bob@example.com" &&
	test_cmp in.eml i.1
'

test_expect_success 'decrypt: a captured message for bob sent back to alice and an outsider: no cleartext, no key used' '
	before=$(count decrypt) &&
	SINK=$PWD/c "$FILTER" decrypt evil@other.org alice@example.com evil@other.org <in-enc.eml 2>err &&
	printf "%s\n" "-G -i -f evil@other.org -- alice@example.com" "-G -i -f evil@other.org -- evil@other.org" >c.want &&
	test_cmp c.want c.args &&
	test_cmp in-enc.eml c.1 && test_cmp in-enc.eml c.2 &&
	test_grep "alice@example.com: passed on unchanged: .*not-for-recipient" err &&
	test "$(count decrypt)" = "$before"
'

test_expect_success 'decrypt: several recipients, each gets what its own key opens, and only that' '
	smz-sign -q --encrypt --to bob@example.com --to alice@example.com in.eml >both.eml &&
	SINK=$PWD/m "$FILTER" decrypt partner@other.org bob@example.com partner@other.org alice@example.com <both.eml &&
	test_cmp in.eml m.1 && test_cmp both.eml m.2 && test_cmp in.eml m.3 &&
	smz-vault audit | awk -F"\t" "\$4 == \"decrypt\"" | tail -n 2 | cut -f5 | cut -d" " -f2 | sort >used &&
	printf "alice@example.com\nbob@example.com\n" >used.want && test_cmp used.want used
'

test_expect_success 'mail that needs nothing passes unchanged: inbound plain, outbound already signed' '
	SINK=$PWD/p "$FILTER" decrypt partner@other.org bob@example.com <in.eml && test_cmp in.eml p.1 &&
	SINK=$PWD/s "$FILTER" sign user=alice@example.com alice@example.com partner@other.org <o.1 && test_cmp o.1 s.1
'

test_expect_success 'a message the gateway cannot decrypt is delivered as it came' '
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout x.key -out x.pem \
		-subj /CN=x -days 30 -addext "subjectAltName=email:bob@example.com" 2>/dev/null &&
	{ sed -n 1,4p in.eml && printf "Content-Type: text/plain\n\nhello\n" | openssl cms -encrypt -aes256 x.pem; } >foreign.eml &&
	SINK=$PWD/f "$FILTER" decrypt partner@other.org bob@example.com <foreign.eml 2>err &&
	test_cmp foreign.eml f.1 && test_grep "passed on unchanged: .*not-for-recipient" err
'

test_expect_success 'the vault cannot be unlocked: exit 75 (Postfix retries), nothing injected' '
	mv gw.key gw.key.away &&
	test_must_fail 75 env SINK=$PWD/t "$FILTER" sign user=alice@example.com alice@example.com partner@other.org <out.eml 2>err &&
	mv gw.key.away gw.key && test_grep "will retry" err && ! test -e t.args
'

test_expect_success 'usage: a mode, user= for sign, a sender and a recipient; the old form defers (75)' '
	test_must_fail 64 "$FILTER" sign user=alice@example.com alice@example.com <out.eml 2>/dev/null &&
	test_must_fail 75 "$FILTER" sign alice@example.com partner@other.org <out.eml 2>/dev/null &&
	test_must_fail 75 "$FILTER" alice@example.com partner@other.org <out.eml 2>err &&
	test_grep "update master.cf" err
'

test_done
