#!/bin/sh
# smz-recover: an archive (mbox and Maildir) encrypted over three key
# generations of several employees, one of whom has left, with plain,
# signed-only and forwarded mail and many kinds of damage: everything that
# can be decrypted comes back byte for byte, the rest is reported with the
# right status, under M-of-N control, within --scope, and audited.
. "$(dirname "$0")/lib.sh"
MIME="python3 $TOP/tests/helpers/mime.py"

write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase
# shellcheck disable=SC2034 # used in the test bodies, which test_expect_success evals
S1=shares/share-1-of-3.txt S2=shares/share-2-of-3.txt S3=shares/share-3-of-3.txt
printf 'email\nalice@example.com\nbob@example.com\ncarol@example.com\n' >staff.csv
smz-keygen -q staff.csv | smz-issue -q | smz-vault attach -q >gen1.pem
for g in 2 3; do
	smz-keygen -q --new-key staff.csv | smz-issue -q | smz-vault attach -q >gen$g.pem
done
# carol left: her certificate revoked, her keys stay in the vault
smz-issue revoke -q --reason affiliationChanged --address carol@example.com >/dev/null
for g in 1 2 3; do
	split_pem gen$g.pem g$g
	for f in g$g.*; do cp "$f" "$(openssl x509 -in "$f" -noout -email | head -n 1).g$g.pem"; done
done
# a sender outside: smz-sign without a vault encrypts to certificate files
sed -e '/^\[vault\]/,/^\[/{/^path/d}' policy.conf >outside.conf

mkdir orig arch arch/md arch/md/cur arch/md/new arch/md/tmp
now=$(LC_ALL=C date -R)
msg() { # ID TO [BODY]: an original message in orig/ID.eml
	printf 'From: Partner <partner@other.org>\nTo: %s\nSubject: message %s\nDate: %s\nMessage-ID: <%s@other.org>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n%s\nFrom the archive, line two.\n' \
		"$2" "$1" "$now" "$1" "${3:-Text of message $1.}" >orig/$1.eml
}
entity() { sed -n '/^Content-Type/,$p' orig/$1.eml; }
hdrs() { sed -n '1,5p' orig/$1.eml; }
# encrypted to generation G of USER, by openssl (odd) or smz-sign (even)
for u in alice bob carol; do
	for g in 1 2 3; do
		for i in 1 2 3 4 5 6 7 8; do
			id=$u-g$g-$i
			msg $id $u@example.com
			if [ $((i % 2)) = 1 ]; then
				{ hdrs $id && entity $id | openssl cms -encrypt -aes256 $u@example.com.g$g.pem; } >arch/$id.eml
			else
				SMZ_POLICY=$PWD/outside.conf smz-sign -q --encrypt --to $u@example.com \
					--cert $u@example.com.g$g.pem orig/$id.eml >arch/$id.eml
			fi
		done
	done
done
# plain and signed-only mail (From lines in bodies test mbox escaping)
for i in $(seq 1 30); do msg plain-$i bob@example.com "From here on, plain text $i." && cp orig/plain-$i.eml arch/; done
for i in $(seq 1 10); do
	msg signed-$i bob@example.com
	sed "s/^From: Partner <partner@other.org>/From: alice@example.com/" orig/signed-$i.eml >orig/signed-$i.x &&
		mv orig/signed-$i.x orig/signed-$i.eml
	smz-sign -q --sign --passphrase-file pw orig/signed-$i.eml >arch/signed-$i.eml
done
# signed, then encrypted (current keys), and an encrypted message forwarded as an attachment
for i in 1 2 3 4 5; do
	msg se-$i bob@example.com
	sed "s/^From: Partner <partner@other.org>/From: alice@example.com/" orig/se-$i.eml >orig/se-$i.x && mv orig/se-$i.x orig/se-$i.eml
	smz-sign -q --sign --opaque --encrypt --passphrase-file pw orig/se-$i.eml >arch/se-$i.eml
	msg fwd-$i alice@example.com
	SMZ_POLICY=$PWD/outside.conf smz-sign -q --encrypt --to alice@example.com --cert alice@example.com.g2.pem \
		orig/fwd-$i.eml >fwd-$i.inner
	{ printf 'From: dave@example.com\nTo: eve@example.com\nSubject: Fwd\nMessage-ID: <outer-fwd-%s@example.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="fw"\n\n--fw\nContent-Type: text/plain\n\nforwarded\n--fw\nContent-Type: message/rfc822\n\n' $i
	  cat fwd-$i.inner; printf '\n--fw--\n'; } >arch/outer-fwd-$i.eml
done
# a bad signature outside does not stop the unwrapping: From: changed after signing
msg badsig bob@example.com
sed "s/^From: Partner <partner@other.org>/From: alice@example.com/" orig/badsig.eml >orig/badsig.x && mv orig/badsig.x orig/badsig.eml
smz-sign -q --encrypt orig/badsig.eml | smz-sign -q --sign --opaque --passphrase-file pw |
	sed "s/^From: alice@example.com/From: mallory@example.com/" >arch/badsig.eml
# what comes back: the headers as they arrived, the content as it was sent
sed "s/^From: alice@example.com/From: mallory@example.com/" orig/badsig.eml >orig/badsig.x && mv orig/badsig.x orig/badsig.eml
# damage of every kind: each must be reported, none may stop the run
cp arch/bob-g2-2.eml good.eml
body_at() { awk -v n="$1" 'f { c++; if (c <= n) print; next } /^$/ { f = 1 } { print }' good.eml; }
lines=$(awk 'f { c++ } /^$/ { f = 1 } END { print c }' good.eml)
body_at $((lines / 10)) >arch/corrupt-01.eml                          # truncated early
body_at $((lines / 2)) >arch/corrupt-02.eml                           # truncated half way
body_at $((lines - 2)) >arch/corrupt-03.eml                           # truncated near the end
sed '/^$/,$ s/[A-Za-z]/!/3' good.eml >arch/corrupt-04.eml               # invalid base64 characters
# junk from a fixed seed: random bytes could, once in a while, look like a header line
junk() { python3 -c "import random, sys; random.seed($1); sys.stdout.buffer.write(bytes(random.randrange(256) for _ in range($2)))"; }
{ sed '/^$/q' good.eml; junk 5 3000 | base64; } >arch/corrupt-05.eml   # random DER
sed '/^$/q' good.eml >arch/corrupt-06.eml                               # empty body
entity plain-1 | openssl cms -digest_create | cat - >dig.p7 && { hdrs plain-1; cat dig.p7; } >arch/corrupt-07.eml  # not enveloped/signed
$MIME body good.eml good.der && python3 -c "
b = bytearray(open('good.der', 'rb').read()); b[-40] ^= 0x55; open('tampered.der', 'wb').write(bytes(b))" &&
	{ hdrs bob-g2-2 | sed 1,4p -n; } >h7 && $MIME p7m h7 tampered.der authEnveloped-data >arch/corrupt-08.eml  # tag/ciphertext tampered
printf 'From: a@example.com\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=b\n\n--b\nContent-Type: text/plain\n\nonly one part\n--b--\n' >arch/corrupt-09.eml
printf 'From: a@example.com\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b\nContent-Type: application/pkcs7-signature\nContent-Transfer-Encoding: base64\n\nAAAAAAAA\n--b--\n' >arch/corrupt-10.eml
$MIME nest 10000 arch/corrupt-11.eml                                    # nesting bomb
cp orig/plain-1.eml n0 && for i in 1 2 3 4 5 6 7 8 9 10; do
	sed "s/^From: Partner <partner@other.org>/From: alice@example.com/" n$((i - 1)) |
		smz-sign -q --sign --opaque --passphrase-file pw >n$i
done && cp n10 arch/corrupt-12.eml                                      # 10 S/MIME layers
printf 'no header at all, just text\n' >arch/corrupt-13.eml
junk 14 4096 >arch/corrupt-14.bin                                      # binary junk
sed 's/^Content-Transfer-Encoding: base64/Content-Transfer-Encoding: quoted-printable/' good.eml >arch/corrupt-15.eml
{ sed '/^$/q' good.eml; printf 'QUFBQQ==\n'; } >arch/corrupt-16.eml     # four bytes of DER
{ hdrs bob-g2-2 | sed -n 1,4p; printf 'MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\nContent-Transfer-Encoding: base64\n\n'; head -c 48 good.der | base64; } >arch/corrupt-17.eml
sed '/^$/,$ s/^M/\tM/' good.eml >arch/corrupt-18.eml                    # stray white space: still decodes
python3 -c "
b = bytearray(open('good.der', 'rb').read()); b[3] ^= 0x01; open('len.der', 'wb').write(bytes(b))" &&
	$MIME p7m h7 len.der enveloped-data >arch/corrupt-19.eml             # a wrong length
: >arch/corrupt-20.eml                                                   # empty file
# mail to a key that was never in the vault
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout x.key -out x.pem \
	-subj /CN=x -days 30 -addext "subjectAltName=email:bob@example.com" 2>/dev/null
msg foreign bob@example.com && { hdrs foreign && entity foreign | openssl cms -encrypt -aes256 x.pem; } >arch/foreign.eml

# half into an mbox (mboxrd), half into a Maildir
k=0
for f in $(ls arch/*.eml arch/*.bin | sort); do
	k=$((k + 1))
	if [ $((k % 2)) = 0 ] && [ -s "$f" ] && head -c 5 "$f" | grep -qv '^From '; then
		printf 'From MAILER-DAEMON Mon Mar  3 10:00:00 2025\n' >>arch/box.mbox
		sed 's/^\(>*From \)/>\1/' "$f" >>arch/box.mbox
		tail -c 1 "$f" | od -An -c | grep -q '\\n' || echo >>arch/box.mbox
		echo >>arch/box.mbox
	else
		cp "$f" arch/md/cur/"$(basename "$f"):2,"
	fi
done
total=$(grep -c '^From MAILER-DAEMON' arch/box.mbox)
total=$((total + $(ls arch/md/cur | wc -l)))

# bulk: a few thousand more, spread over every generation of every employee,
# half in a second mbox, half in a second Maildir
BULK=2250
mkdir -p bulk/src bulk/md/cur bulk/md/new bulk/md/tmp
i=0
for u in alice bob carol; do
	for g in 1 2 3; do
		for _ in $(seq 1 $((BULK / 9))); do
			i=$((i + 1))
			printf 'From: Partner <partner@other.org>\nTo: %s@example.com\nSubject: bulk %s\nMessage-ID: <bulk-%s@other.org>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nBulk message %s for %s, generation %s.\nFrom the bulk set.\n' \
				$u $i $i $i $u $g >bulk/src/b$i.$u.g$g
		done
		ls bulk/src/*.$u.g$g | SMZ_POLICY=$PWD/outside.conf smz-sign -q --encrypt --batch -j 2 --suffix .p7 \
			--to $u@example.com --cert $u@example.com.g$g.pem
	done
done
for f in bulk/src/*.p7; do
	id=$(basename "$f" .p7)
	num=${id%%.*}
	if [ $((${num#b} % 2)) -eq 0 ]; then
		{ printf 'From MAILER-DAEMON Mon Mar  3 10:00:00 2025\n'; cat "$f"; echo; } >>bulk/box.mbox
	else
		cp "$f" "bulk/md/cur/$id:2,"
	fi
done

test_expect_success 'the archive: mbox and Maildir, every kind of message' '
	test "$total" -eq "$(ls arch/*.eml arch/*.bin | wc -l)" && test "$total" -gt 100
'

test_expect_success 'M-1 shares: nothing decrypted (77), the refused attempt audited' '
	test_must_fail 77 smz-recover --case C-0 --reason "test" --share $S1 --out o0 arch/box.mbox arch/md >r0 2>err &&
	test_grep "too few shares" err && ! test -e o0/new &&
	smz-vault audit | tail -n 1 | test_grep "recover-refused	case C-0	test; refused: too few shares" - &&
	test_must_fail 77 smz-recover --case C-0 --reason test --passphrase-file pw --out o0 arch/box.mbox 2>err &&
	test_grep "allow_passphrase" err &&
	test_must_fail 64 smz-recover --reason test --share $S1 --share $S2 arch/box.mbox 2>/dev/null
'

test_expect_success 'a few thousand bulk messages: every one back, byte for byte, with its generation' '
	test "$(grep -c "^From MAILER-DAEMON" bulk/box.mbox)" -eq $((BULK / 2)) &&
	smz-recover --case BULK --reason "bulk" --share $S1 --share $S3 \
		--out bout --report bulk.tsv bulk/box.mbox bulk/md 2>err &&
	test "$(awk -F"\t" "NR > 1 && \$9 == \"decrypted\"" bulk.tsv | wc -l)" -eq $BULK &&
	python3 -c "
import os, re, sys
src = {}
for f in os.listdir(\"bulk/src\"):
    if f.endswith(\".p7\"):
        continue
    b = open(\"bulk/src/\" + f, \"rb\").read()
    src[re.search(rb\"Message-ID: <([^>]*)>\", b).group(1)] = (b, f.split(\".\")[2][1:])
n = 0
for f in os.listdir(\"bout/new\"):
    b = open(\"bout/new/\" + f, \"rb\").read()
    head, rest = b.split(b\"\\n\", 1)
    mid = re.search(rb\"Message-ID: <([^>]*)>\", rest).group(1)
    orig, gen = src[mid]
    assert rest == orig, mid
    assert head.endswith(b\"generation=\" + gen.encode()), (mid, head)
    n += 1
assert n == len(src), (n, len(src))
" &&
	test_grep "case BULK: $BULK decrypted, 0 no-key" err
'

test_expect_success 'recover everything: every decryptable message byte for byte, the rest reported' '
	test_must_fail 65 smz-recover --case HR-7 --reason "discovery order 7" --share $S1 --share $S3 \
		--out out --report report.tsv arch/box.mbox arch/md 2>err &&
	test "$(head -n 1 report.tsv)" = "$(printf "source\toffset\tmessage_id\tdate\tfrom\trecipient\tkey_id\tgeneration\tstatus\tsignature")" &&
	test "$(tail -n +2 report.tsv | wc -l)" -eq "$total" &&
	for f in out/new/*; do
		id=$(sed -n "s/^Message-ID: <\([^@]*\)@.*/\1/p" "$f" | head -n 1) &&
		case $id in outer-fwd-*) continue ;; esac &&
		if grep -q "^X-Smz-Recovered: " "$f"; then
			grep -v "^X-Smz-Recovered: " "$f" >cmp.eml && test_cmp orig/$id.eml cmp.eml
		else
			test_cmp arch/$id.eml "$f"
		fi || { echo "differs: $id ($f)"; exit 1; }
	done &&
	status() { awk -F"\t" -v s="$1" "NR > 1 && \$9 ~ s" report.tsv | wc -l; } &&
	test "$(status "^decrypted\$")" -eq $((72 + 5 + 5 + 1 + 1)) && # corrupt-18 decodes
	test "$(status "^no-key\$")" -eq 1 &&
	test "$(status "^not-encrypted\$")" -eq $((30 + 10)) &&
	test "$(status "^corrupt: ")" -eq 19 &&
	test "$(ls out/new | wc -l)" -eq $((72 + 5 + 5 + 1 + 1 + 30 + 10)) &&
	test_grep "case HR-7: 84 decrypted, 1 no-key, 40 not-encrypted, 19 corrupt, 0 errors" err
'

test_expect_success 'the report: key generation, recipient, signature status' '
	awk -F"\t" "\$3 == \"carol-g1-3@other.org\"" report.tsv | test_grep "	carol@example.com	[0-9a-f]\{64\}	1	decrypted	none\$" - &&
	awk -F"\t" "\$3 == \"alice-g3-4@other.org\"" report.tsv | test_grep "	alice@example.com	[0-9a-f]\{64\}	3	decrypted	" - &&
	awk -F"\t" "\$3 == \"signed-3@other.org\"" report.tsv | test_grep "	not-encrypted	OK signer=alice@example.com" - &&
	awk -F"\t" "\$3 == \"badsig@other.org\"" report.tsv | test_grep "	decrypted	FAIL from-mismatch" - &&
	awk -F"\t" "\$3 == \"outer-fwd-2@example.com\"" report.tsv | test_grep "	alice@example.com	[0-9a-f]\{64\}	2	decrypted	" - &&
	grep -c "	corrupt: " report.tsv >/dev/null &&
	test "$(grep -c "box.mbox	[1-9][0-9]*	" report.tsv)" -gt 50
'

test_expect_success 'a forwarded encrypted message is opened inside its envelope' '
	f=$(grep -l "^Message-ID: <outer-fwd-1@example.com>" out/new/*) &&
	test_grep "^Content-Type: message/rfc822" "$f" && test_grep "^Text of message fwd-1\." "$f" &&
	! grep -q "application/pkcs7-mime" "$f"
'

test_expect_success 'the audit: the run with its counts, one entry per key used' '
	smz-vault audit >audit.tsv &&
	test_grep "	recover	case HR-7	discovery order 7; 84 decrypted, 1 no-key, 40 not-encrypted, 19 corrupt, 0 skipped	" audit.tsv &&
	test "$(grep "	recover-key	" audit.tsv | grep -c "case HR-7: ")" -eq 9 &&
	grep "	recover-key	" audit.tsv | grep "carol@example.com" | test_grep "case HR-7: 8 messages" - &&
	grep "	recover-key	.*	case HR-7: " audit.tsv | cut -f5 | sort >keys.tally &&
	grep "	recover-use	.*	case HR-7	" audit.tsv | cut -f5 | sort >keys.use &&
	test_cmp keys.tally keys.use &&
	smz-vault audit --verify >/dev/null
'

test_expect_success 're-running into the same Maildir writes nothing twice' '
	before=$(ls out/new | wc -l) &&
	test_must_fail 65 smz-recover --case HR-7 --reason again --share $S1 --share $S3 --out out arch/box.mbox arch/md >/dev/null 2>err &&
	test "$(ls out/new | wc -l)" -eq "$before" && test_grep "$before already done" err
'

test_expect_success '--scope: other addresses'"'"' mail stays closed (no-key), not decrypted' '
	test_must_fail 65 smz-recover --case HR-8 --reason "one person" --scope carol@example.com --share $S2 --share $S3 \
		--out scoped --only-encrypted arch/box.mbox arch/md >rs.tsv 2>/dev/null &&
	test "$(awk -F"\t" "NR > 1 && \$9 == \"decrypted\"" rs.tsv | wc -l)" -eq 24 &&
	test "$(awk -F"\t" "NR > 1 && \$9 == \"decrypted\" && \$6 != \"carol@example.com\"" rs.tsv | wc -l)" -eq 0 &&
	awk -F"\t" "\$3 == \"alice-g1-1@other.org\"" rs.tsv | test_grep "	no-key	" - &&
	test "$(ls scoped/new | wc -l)" -eq 24 &&
	smz-vault audit | tail -n 1 | test_grep "	recover	case HR-8	one person; 24 decrypted, .*; scoped	" -
'

test_expect_success '--mbox output (mboxrd) and the input never modified' '
	(cd arch && find . -type f | sort | xargs sha256sum) >before.sum &&
	test_must_fail 65 smz-recover -q --case HR-9 --reason mbox --share $S1 --share $S2 --mbox out.mbox --only-encrypted \
		arch/box.mbox >/dev/null &&
	(cd arch && find . -type f | sort | xargs sha256sum) | test_cmp before.sum - &&
	test "$(grep -c "^From MAILER-DAEMON" out.mbox)" -eq "$(grep -c "^X-Smz-Recovered: case=HR-9" out.mbox)"
'

test_expect_success '-j 2: the same report in the same order, the same messages, one run in the audit' '
	test_must_fail 65 smz-recover -q -j 2 --case HR-10 --reason parallel --share $S1 --share $S3 \
		--out par --report par.tsv arch/box.mbox arch/md &&
	cut -f1-9 report.tsv >r1 && cut -f1-9 par.tsv >r2 && test_cmp r1 r2 &&
	(cd out/new && ls) >l1 && (cd par/new && ls) >l2 && test_cmp l1 l2 &&
	for f in $(cat l1); do
		sed "1s/case=HR-[0-9]*;/case=X;/" out/new/$f >x1 && sed "1s/case=HR-[0-9]*;/case=X;/" par/new/$f >x2 &&
		cmp -s x1 x2 || { echo "differs: $f"; exit 1; }
	done &&
	smz-vault audit >a10 && test "$(grep -c "	recover	case HR-10	parallel; 84 decrypted, 1 no-key, 40 not-encrypted, 19 corrupt" a10)" -eq 1 &&
	test "$(grep -c "	unlock	shares 1,3	smz-recover case HR-10" a10)" -eq 3 &&
	test_must_fail 65 smz-recover -q -j 2 --case HR-11 --reason m --share $S1 --share $S3 --mbox par.mbox \
		--only-encrypted arch/box.mbox arch/md >/dev/null &&
	test "$(grep -c "^X-Smz-Recovered: case=HR-11" par.mbox)" -eq 84 &&
	test "$(grep -c "^From MAILER-DAEMON" par.mbox)" -eq 84
'

test_expect_success 'mboxrd and mboxo quoting of From lines' '
	printf "From: partner@other.org\nTo: bob@example.com\nSubject: q\nMessage-ID: <q@x>\n\nFrom a\n>From b\n>>From c\n" >q.eml &&
	printf "From MAILER-DAEMON Mon Mar  3 10:00:00 2025\nFrom: partner@other.org\nTo: bob@example.com\nSubject: q\nMessage-ID: <q@x>\n\n>From a\n>>From b\n>>>From c\n\n" >rd.mbox &&
	printf "From MAILER-DAEMON Mon Mar  3 10:00:00 2025\nFrom: partner@other.org\nTo: bob@example.com\nSubject: q\nMessage-ID: <q@x>\n\n>From a\n>From b\n>>From c\n\n" >o.mbox &&
	smz-recover -q --case Q --reason q --share $S1 --share $S2 --out qrd rd.mbox >/dev/null &&
	smz-recover -q --mboxo --case Q --reason q --share $S1 --share $S2 --out qo o.mbox >/dev/null &&
	test_cmp q.eml qrd/new/* && sed "s/^>From b/From b/" q.eml | test_cmp - qo/new/*
'

test_expect_success 'memory stays flat as the mbox grows' '
	for i in $(seq 1 40); do cat arch/box.mbox; done >big.mbox &&
	/usr/bin/time -f %M -o small.mem smz-recover -q --case M --reason m --share $S1 --share $S2 arch/box.mbox >/dev/null 2>&1;
	/usr/bin/time -f %M -o big.mem smz-recover -q --case M --reason m --share $S1 --share $S2 big.mbox >/dev/null 2>&1;
	if ! ldd "$TOP/cmd/smz-recover" | grep -q libasan; then
		test $(($(tail -n 1 big.mem) - $(tail -n 1 small.mem))) -lt 16000 ||
		{ echo "peak KB: $(tail -n 1 small.mem) for $(wc -c <arch/box.mbox) bytes, $(tail -n 1 big.mem) for $(wc -c <big.mbox)"; exit 1; }
	fi
'

test_done
