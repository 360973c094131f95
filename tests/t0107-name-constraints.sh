#!/bin/sh
# [ca] name_constraints: critical (the default, as RFC 5280 asks),
# noncritical (gpgsm, the S/MIME engine of KMail and Kleopatra, refuses a
# critical nameConstraints) and none.  smz-issue refuses mailboxes outside
# the issuing CA's constraints whether they are critical or not, and
# mailboxes outside [domains] allowed in every mode.
. "$(dirname "$0")/lib.sh"
MIME="python3 $TOP/tests/helpers/mime.py"

cat >msg.eml <<EOF
From: Alice <alice@example.com>
To: bob@example.com
Subject: figures
Date: $(LC_ALL=C date -R)
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

the figures
EOF

# mkca MODE: in directory MODE, a vault, a CA named MODE created with
# name_constraints = MODE ("default": the key left out), alice@example.com's
# key and certificate, and her clear (s.eml) and opaque (o.eml) signatures
mkca() {
	mkdir "$1" && (
		cd "$1" || exit 1
		set -- "$1" "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
			"issuer_url = http://pki.example.com/issuing.cer" "name = $1"
		[ "$1" = default ] || set -- "$@" "name_constraints = $1"
		shift
		write_policy ec-p256 "$@" && new_vault && smz-issue init -q --no-passphrase &&
			printf 'email\nalice@example.com\n' | smz-keygen -q - | smz-issue -q |
			smz-vault attach -q >alice.pem && test -s alice.pem &&
			smz-sign -q --sign --passphrase-file pw ../msg.eml >s.eml &&
			smz-sign -q --sign --opaque --passphrase-file pw ../msg.eml >o.eml &&
			$MIME split s.eml content.crlf sig.der && $MIME body o.eml o.der
	)
}
# csr NAME ADDRESS: a request made by openssl
csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-subj "/CN=$1" -addext "subjectAltName=email:$2" -out "$1.csr" 2>/dev/null
}

test_expect_success 'default: the issuing CA has critical Name Constraints (RFC 5280 4.2.1.10)' '
	mkca default &&
	openssl x509 -in default/ca/issuing.pem -noout -text >ica &&
	grep -A3 "X509v3 Name Constraints: critical" ica >nc &&
	test_grep "email:example.com" nc && test_grep "email:example.org" nc &&
	openssl verify -x509_strict -CAfile default/ca/root.pem default/ca/issuing.pem
'

test_expect_success 'noncritical: the extension is there, not critical, and OpenSSL still enforces it' '
	mkca noncritical &&
	openssl x509 -in noncritical/ca/issuing.pem -noout -text >ica &&
	test_grep "X509v3 Name Constraints: *\$" ica && ! grep "Name Constraints: critical" ica &&
	grep -A3 "X509v3 Name Constraints:" ica >nc &&
	test_grep "email:example.com" nc && test_grep "email:example.org" nc &&
	openssl verify -x509_strict -purpose smimesign -CAfile noncritical/ca/root.pem \
		-untrusted noncritical/ca/issuing.pem noncritical/alice.pem &&
	csr ev ceo@evil.example &&
	printf "subjectAltName=email:ceo@evil.example\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n" >ev.ext &&
	openssl x509 -req -in ev.csr -CA noncritical/ca/issuing.pem -CAkey noncritical/ca/issuing.key \
		-CAcreateserial -days 30 -extfile ev.ext -out ev.pem 2>/dev/null &&
	! openssl verify -purpose smimesign -CAfile noncritical/ca/root.pem \
		-untrusted noncritical/ca/issuing.pem ev.pem >ov 2>&1 &&
	test_grep "permitted subtree violation" ov
'

test_expect_success 'noncritical: smz-issue still refuses a mailbox outside the constraints' '
	(cd noncritical && export SMZ_POLICY="$PWD/policy.conf" &&
	sed -i "s/^allowed = .*/allowed = example.com, example.org, example.net/" policy.conf &&
	csr nn nn@example.net &&
	test_must_fail 65 smz-issue nn.csr >nn.pem 2>err &&
	test_grep "outside the issuing CA.s name constraints" err && test ! -s nn.pem)
'

test_expect_success 'none: no Name Constraints; smz-issue refuses what [domains] allowed does not list' '
	mkca none &&
	openssl x509 -in none/ca/issuing.pem -noout -text >ica &&
	! grep "Name Constraints" ica && test_grep "E-mail Protection" ica &&
	(cd none && export SMZ_POLICY="$PWD/policy.conf" &&
	csr boss boss@evil.example &&
	test_must_fail 65 smz-issue boss.csr >boss.pem 2>err &&
	test_grep "boss@evil.example: domain evil.example is not allowed" err && test ! -s boss.pem &&
	sed -i "s/^allowed = .*/allowed = example.com, example.org, example.net/" policy.conf &&
	csr nn nn@example.net && smz-issue -q nn.csr >nn.pem && test -s nn.pem)
'

test_expect_success 'a bad value: exit 78 naming the file, the line and the allowed values; no CA' '
	mkdir bad && (cd bad &&
	printf "[domains]\nallowed = example.com\n[ca]\npath = %s/ca\nname_constraints = yes\n" "$PWD" >bad.conf &&
	test_must_fail 78 smz-issue --policy bad.conf init -q --no-passphrase 2>err &&
	test_grep "^smz-issue: .*bad.conf:5: \[ca\] name_constraints: expected one of critical | noncritical | none\$" err &&
	test ! -e ca/issuing.pem)
'

# gpgsm with its defaults but for CRL checks (no CRL server here): the three
# roots trusted for S/MIME, nothing told to ignore the extension
GNUPGHOME=$PWD/gnupg
export GNUPGHOME
# an agent left by an earlier run of this test would serve this same path
gpgconf --kill all 2>/dev/null
mkdir -m 700 gnupg
echo disable-crl-checks >gnupg/gpgsm.conf
# start the agent now and wait for it: started on demand by the first
# gpgsm call, it can miss that request on a loaded machine
gpg-connect-agent --quiet /bye 2>/dev/null
for m in default noncritical none; do
	[ -s $m/ca/root.pem ] && gpgsm --batch --import $m/ca/root.pem $m/ca/issuing.pem 2>/dev/null
done
for m in default noncritical none; do
	fpr=$(gpgsm --with-colons --fingerprint "CN=$m Root CA" 2>/dev/null | awk -F: '/^fpr/{print $10; exit}')
	[ -n "$fpr" ] && echo "$fpr S" >>gnupg/trustlist.txt
done
# the agent reads trustlist.txt once: have it read the whole list
gpgconf --reload gpg-agent 2>/dev/null
# gpgsm_verify OUT ARGS...: gpgsm --verify with the status lines in OUT,
# its messages in OUT.err and its exit code in OUT.rc; retried while no
# TRUST_ line came (the agent missed a request)
gpgsm_verify() {
	out=$1
	shift
	for _ in 1 2 3; do
		gpgsm --batch --status-fd 1 --verify "$@" >"$out" 2>"$out.err"
		echo $? >"$out.rc"
		grep -q "^\[GNUPG:\] TRUST_" "$out" && return 0
		sleep 1
	done
	return 0
}

test_expect_success 'default (critical): gpgsm refuses the chain: unsupported critical extension 2.5.29.30' '
	gpgsm_verify g default/sig.der default/content.crlf &&
	test "$(cat g.rc)" -ne 0 &&
	test_grep "critical certificate extension 2.5.29.30 is not supported" g.err &&
	test_grep "^\[GNUPG:\] GOODSIG" g && ! grep "^\[GNUPG:\] TRUST_\(FULLY\|ULTIMATE\)" g &&
	test_grep "^\[GNUPG:\] TRUST_UNDEFINED" g
'

test_expect_success 'noncritical: gpgsm --verify of a clear signature: GOODSIG and full trust' '
	gpgsm_verify g noncritical/sig.der noncritical/content.crlf &&
	test "$(cat g.rc)" -eq 0 && test_grep "^\[GNUPG:\] GOODSIG" g &&
	test_grep "^\[GNUPG:\] TRUST_\(FULLY\|ULTIMATE\)" g && test_grep "Good signature" g.err &&
	! grep "not supported" g.err
'

test_expect_success 'noncritical: gpgsm --verify of an opaque signature: GOODSIG, full trust, content intact' '
	rm -f o.out && gpgsm_verify g --yes -o o.out noncritical/o.der &&
	test "$(cat g.rc)" -eq 0 && test_grep "^\[GNUPG:\] GOODSIG" g &&
	test_grep "^\[GNUPG:\] TRUST_\(FULLY\|ULTIMATE\)" g && test_cmp noncritical/content.crlf o.out
'

test_expect_success 'none: gpgsm --verify: GOODSIG and full trust' '
	gpgsm_verify g none/sig.der none/content.crlf &&
	test "$(cat g.rc)" -eq 0 && test_grep "^\[GNUPG:\] GOODSIG" g &&
	test_grep "^\[GNUPG:\] TRUST_\(FULLY\|ULTIMATE\)" g
'

gpgconf --kill all 2>/dev/null
test_done
