#!/bin/sh
# smz-api: the REST API over mutual TLS gives what smz-sign gives for the
# same message, keeps smz-sign's refusals, refuses clients without an
# allowed certificate before any key is used, names the client in the
# audit log, limits bodies, reloads on SIGHUP and stops cleanly on SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/api-server.sh"

new_ca_vault ec-p256 "[gateway]" "unlock_file = $PWD/gw.key"
new_users alice@example.com bob@example.com ceo@example.com
smz-vault gateway-key -q --passphrase-file pw "$PWD/gw.key"
sh "$TOP/tests/api-certs.sh" "$PWD"
trap 'api_stop' EXIT
gw1_subject="CN=mx1.example.com,O=Example Gateways"
entries() { smz-vault audit | sed 1d | wc -l; }
key_uses() { smz-vault audit | awk -F'\t' '$4 == "sign" || $4 ~ /^decrypt/' | wc -l; }
now=$(LC_ALL=C date -R)
# 8-bit text, a line with trailing white space and one starting "From "
printf 'From: Alice <alice@example.com>\nTo: Bob <bob@example.com>\nSubject: plans\nDate: %s\nMessage-ID: <p1@example.com>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\303\274\303\237e, the plans.   \nFrom the desk of Alice\n' \
	"$now" >m.eml
# the multipart/signed entity without its boundary and signature, to
# compare two signatures of one message (ECDSA signatures differ each time)
unsigned_part() {
	b=$(sed -n 's/.*boundary="\([^"]*\)".*/\1/p' "$1" | head -n 1)
	sed "s/$b/BOUNDARY/g" "$1" | sed '/^Content-Type: application\/pkcs7-signature/,$d'
}

test_expect_success 'smz-api --help, --version, and every option in its man page' '
	smz-api --help >h && test_grep "^Usage: smz-api \[OPTION...\]" h &&
	smz-api --version | test_grep "^smz-api (smz) [0-9]" - &&
	test_must_fail 64 smz-api extra 2>err && test_grep "no arguments expected" err &&
	smz-api --smz-complete | awk "\$1==\"option\"{print substr(\$2, 3)}" >opts &&
	while read -r o; do
		grep -q -e "Fl -$o" "$TOP/man/smz-api.1" || { echo "--$o missing"; exit 1; }
	done <opts
'

test_expect_success 'a policy without [api] cert, key and client_ca is a configuration error (78)' '
	test_must_fail 78 smz-api 2>err && test_grep "\[api\] cert, key and client_ca" err
'

test_expect_success 'policy [api]: bad values are exit 78 naming file, line and what is expected' '
	bad() { # LINE EXPECTED-WORDS
		{ cat policy.conf; printf "[api]\n%s\n" "$1"; } >bad.conf &&
		test_must_fail 78 smz-api --policy bad.conf 2>err && test_grep "bad.conf:[0-9]*: \[api\] .*$2" err
	} &&
	bad "listen = localhost" "expected an IP address" &&
	bad "listen = 127.0.0.1:99999" "expected an IP address" &&
	bad "allow = CN=mx1" "expected sha256:HEX" &&
	bad "allow = sha256:abcd" "expected sha256:HEX" &&
	bad "max_message = 2G" "from 1K to 1G" &&
	bad "cert = api.pem" "absolute path" &&
	bad "threads = 0" "1 to 64" &&
	bad "no_such = 1" "unknown key"
'

test_expect_success 'policy [api] allow: DNs keep their commas, fingerprints their case, the key repeats' '
	fp=$(openssl x509 -in gw2.pem -noout -fingerprint -sha256 | cut -d= -f2) &&
	{ cat policy.conf; printf "[api]\nlisten = [::1]:0\ncert = %s/none.pem\nkey = %s/none.key\nclient_ca = %s/gwca.pem\n" "$PWD" "$PWD" "$PWD"
	  printf "allow = subject:CN=a,O=b, sha256:%s\nallow = subject:CN=c\n" "$fp"; } >ok.conf &&
	test_must_fail 78 smz-api --policy ok.conf 2>err &&
	test_grep "unable to start: .*none.pem" err
'

api_start "allow = subject:$gw1_subject"
test_expect_success 'the server starts on a free port; /v1/health answers without a certificate' '
	curl -sS --cacert tlsca.pem "$API_URL/v1/health" >health &&
	test_grep "^{\"in_progress\":0,\"status\":\"ok\",\"vault\":\"unlocked\"}\$" health &&
	test_grep "listening on 127.0.0.1 port $API_PORT\$" api.log
'

test_expect_success 'sign: as smz-sign signs, 7-bit, and openssl cms -verify accepts it' '
	api_curl -D h -H "Content-Type: message/rfc822" --data-binary @m.eml \
		"$API_URL/v1/sign?sender=alice@example.com" >api.signed &&
	test_grep "^HTTP/1.1 200" h && test_grep "^Content-Type: message/rfc822" h &&
	smz-sign --sign --sender alice@example.com m.eml >cli.signed 2>cli.err &&
	unsigned_part api.signed >a && unsigned_part cli.signed >c && test_cmp c a &&
	sed -n "s/^smz-sign: //p" cli.err >want &&
	sed -n "s/^Smz-Status: \(.*\)\r\$/\1/p" h >got && test_cmp want got &&
	! LC_ALL=C grep -q "[^ -~	]" api.signed &&
	test_grep "^Content-Transfer-Encoding: quoted-printable" api.signed &&
	openssl cms -verify -in api.signed -CAfile ca/root.pem -out api.content 2>v.err &&
	test_grep "Verification successful" v.err &&
	openssl cms -verify -in cli.signed -CAfile ca/root.pem -out cli.content 2>/dev/null &&
	test_cmp cli.content api.content
'

test_expect_success 'sign: the audit entry names the API client as actor' '
	smz-vault audit | grep "	sign	" | head -n 1 >first &&
	test_grep "	[^	]* smz-api client=$gw1_subject	sign	[0-9a-f]* alice@example.com	<\{0,1\}p1@example.com" first
'

test_expect_success 'verify: the status line of smz-sign --verify, as text and as JSON' '
	api_curl -D h --data-binary @api.signed "$API_URL/v1/verify" >got &&
	smz-sign --verify api.signed >want && test_cmp want got &&
	test_grep "^Smz-Status: OK signer=alice@example.com digest=sha256 " h &&
	api_curl -H "Accept: application/json" --data-binary @api.signed "$API_URL/v1/verify" >j &&
	python3 -c "import json,sys; d = json.load(open(\"j\")); \
		assert d[\"ok\"] is True and d[\"signer\"] == \"alice@example.com\" and \
		d[\"digest\"] == \"sha256\" and d[\"status\"] == open(\"want\").read().strip(), d" &&
	sed "s/the plans/the PLANS/" api.signed >bad.eml &&
	api_curl -H "Accept: application/json" --data-binary @bad.eml "$API_URL/v1/verify" >j &&
	test_must_fail 1 smz-sign --verify bad.eml >want &&
	python3 -c "import json; d = json.load(open(\"j\")); \
		assert d[\"ok\"] is False and d[\"reason\"] == \"bad-signature\" and \
		d[\"status\"] == open(\"want\").read().strip(), d"
'

test_expect_success 'encrypt: smz-sign decrypts it to what it makes of its own encryption' '
	api_curl -D h --data-binary @m.eml "$API_URL/v1/encrypt" >api.enc &&
	test_grep "^HTTP/1.1 200" h &&
	test_grep "^Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data" api.enc &&
	smz-sign --encrypt m.eml >cli.enc 2>cli.err &&
	sed -n "s/^smz-sign: //p" cli.err >want &&
	sed -n "s/^Smz-Status: \(.*\)\r\$/\1/p" h >got && test_cmp want got &&
	smz-sign --decrypt --for bob@example.com api.enc >a 2>/dev/null &&
	smz-sign --decrypt --for bob@example.com cli.enc >c 2>/dev/null && test_cmp c a
'

test_expect_success 'decrypt: the same bytes and status as smz-sign --decrypt --for' '
	api_curl -D h --data-binary @api.enc "$API_URL/v1/decrypt?for=bob@example.com" >got &&
	smz-sign --decrypt --for bob@example.com api.enc >want 2>cli.err &&
	test_cmp want got &&
	sed -n "s/^smz-sign: //p" cli.err >want &&
	sed -n "s/^Smz-Status: \(.*\)\r\$/\1/p" h >got && test_cmp want got &&
	smz-vault audit | tail -n 1 |
		test_grep "smz-sign	decrypt	[0-9a-f]* bob@example.com	" - &&
	smz-vault audit | grep "smz-api client=$gw1_subject	decrypt	[0-9a-f]* bob@example.com	" |
		test_grep . -
'

# refusals: status, problem type, and no key used
refused() { # STATUS TYPE FILE-WITH-HEADERS FILE-WITH-BODY
	test_grep "^HTTP/1.1 $1 " "$3" &&
	test_grep "^Content-Type: application/problem+json" "$3" &&
	test_grep "\"type\":\"urn:smz:problem:$2\"" "$4" &&
	test_grep "\"status\":$1," "$4"
}

test_expect_success 'no client certificate: 401, told apart from a refused one; no key used' '
	before=$(entries) &&
	curl -sS -D h --cacert tlsca.pem --data-binary @m.eml \
		"$API_URL/v1/sign?sender=alice@example.com" >b &&
	refused 401 no-client-certificate h b &&
	test "$(entries)" = "$before"
'

test_expect_success 'a certificate header from a "proxy" counts for nothing' '
	curl -sS -D h --cacert tlsca.pem -H "X-SSL-Client-Cert: $(tr -d "\n" <gw1.pem)" \
		-H "X-Forwarded-Client-Cert: Subject=\"$gw1_subject\"" -H "X-SSL-Client-S-DN: $gw1_subject" \
		--data-binary @m.eml "$API_URL/v1/sign?sender=alice@example.com" >b &&
	refused 401 no-client-certificate h b
'

test_expect_success 'a certificate of another CA, with the allowed subject: 403 naming client_ca' '
	before=$(entries) &&
	curl -sS -D h --cacert tlsca.pem --cert evil.pem --key evil.key --data-binary @m.eml \
		"$API_URL/v1/sign?sender=alice@example.com" >b &&
	refused 403 untrusted-client-certificate h b &&
	test_grep "\"rule\":\"\[api\] client_ca\"" b && test_grep "issuer is unknown" b &&
	test "$(entries)" = "$before"
'

test_expect_success 'a certificate of the client CA that allow does not name: 403 naming allow' '
	before=$(entries) &&
	curl -sS -D h --cacert tlsca.pem --cert gw2.pem --key gw2.key --data-binary @api.enc \
		"$API_URL/v1/decrypt?for=bob@example.com" >b &&
	refused 403 client-not-allowed h b &&
	test_grep "\"rule\":\"\[api\] allow\"" b && test_grep "mx2.example.com" b &&
	test "$(entries)" = "$before"
'

test_expect_success 'sender not From:: 403 not-sender, as smz-sign refuses it; no key used' '
	before=$(entries) &&
	api_curl -D h --data-binary @m.eml "$API_URL/v1/sign?sender=ceo@example.com" >b &&
	refused 403 not-sender h b &&
	test_must_fail 77 smz-sign --sign --sender ceo@example.com m.eml 2>cli.err >/dev/null &&
	sed -n "s/^smz-sign: unable to sign: cannot sign: //p; s/^smz-sign: cannot sign: //p" cli.err >want &&
	sed -n "s/^Smz-Status: \(.*\)\r\$/\1/p" h >got && test_cmp want got &&
	test "$(entries)" = "$before"
'

test_expect_success 'decrypt for someone the message is not for: 403 not-for-recipient; no key used' '
	before=$(key_uses) &&
	api_curl -D h --data-binary @api.enc "$API_URL/v1/decrypt?for=ceo@example.com" >b &&
	refused 403 not-for-recipient h b &&
	test_grep "^Smz-Status: FAIL not-for-recipient: the message is not encrypted to a key of ceo@example.com" h &&
	test "$(key_uses)" = "$before"
'

test_expect_success 'missing sender or for: 400; a sender without a key: 404; unknown path: 404' '
	api_curl -D h --data-binary @m.eml "$API_URL/v1/sign" >b && refused 400 missing-parameter h b &&
	api_curl -D h --data-binary @api.enc "$API_URL/v1/decrypt" >b &&
	refused 400 missing-parameter h b &&
	sed "s/alice@example.com/dave@example.com/" m.eml >dave.eml &&
	api_curl -D h --data-binary @dave.eml "$API_URL/v1/sign?sender=dave@example.com" >b &&
	refused 404 no-key h b &&
	api_curl -D h "$API_URL/v1/nothing" >b && refused 404 not-found h b &&
	api_curl -D h "$API_URL/v1/sign" >b && refused 405 method-not-allowed h b &&
	test_grep "^Allow: POST" h
'

test_expect_success 'a malformed message: 400 malformed' '
	printf "From: alice@example.com\nMIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\nContent-Transfer-Encoding: base64\n\nnot base64 at all!!\n" >broken.eml &&
	api_curl -D h --data-binary @broken.eml "$API_URL/v1/decrypt?for=bob@example.com" >b &&
	refused 400 malformed h b
'

test_expect_success 'the access log: client, method and path, status, bytes, time' '
	test_grep "^smz-api: access 127.0.0.1 \"$gw1_subject\" POST /v1/sign 200 [0-9]* [0-9]*ms\$" api.log &&
	test_grep "^smz-api: access 127.0.0.1 \"-\" POST /v1/sign 401 " api.log &&
	test_grep "^smz-api: access 127.0.0.1 \"CN=mx2.example.com,O=Example Gateways\" POST /v1/decrypt 403 " api.log
'

test_expect_success 'TLS 1.1 is refused, TLS 1.2 and 1.3 are taken' '
	tls() { timeout 20 gnutls-cli --priority "NORMAL:-VERS-ALL:+VERS-TLS$1" --x509cafile tlsca.pem \
		-p "$API_PORT" 127.0.0.1 </dev/null >tls.out 2>&1; } &&
	! tls 1.1 && ! grep -q "Handshake was completed" tls.out &&
	tls 1.2 && test_grep "Handshake was completed" tls.out &&
	tls 1.3 && test_grep "Handshake was completed" tls.out
'

test_expect_success 'a key compromised while the server runs: no more signing, encrypting or gateway decrypting (what the engine keeps between requests is checked against the vault each time)' '
	sed "s/alice@example.com/bob@example.com/; s/<p1@/<p9@/" m.eml >bob.eml &&
	api_curl -D h --data-binary @bob.eml "$API_URL/v1/sign?sender=bob@example.com" >b &&
	test_grep "^HTTP/1.1 200" h &&
	api_curl -D h --data-binary @m.eml "$API_URL/v1/encrypt?to=bob@example.com" >bob.enc &&
	test_grep "^HTTP/1.1 200" h &&
	smz-issue revoke -q --reason keyCompromise --address bob@example.com >/dev/null &&
	before=$(key_uses) &&
	api_curl -D h --data-binary @bob.eml "$API_URL/v1/sign?sender=bob@example.com" >b &&
	test_grep "^HTTP/1.1 404" h && test_grep "compromised" b &&
	api_curl -D h --data-binary @m.eml "$API_URL/v1/encrypt?to=bob@example.com" >b &&
	test_grep "^HTTP/1.1 404" h && test_grep "bob@example.com: vault: the key was revoked by the CA (compromised)" b &&
	api_curl -D h --data-binary @bob.enc "$API_URL/v1/decrypt?for=bob@example.com" >d &&
	test_grep "^HTTP/1.1 404" h && test_grep "^Smz-Status: FAIL no-key: key [0-9a-f]* is not in the gateway.s scope" h &&
	test "$(key_uses)" = "$before"
'

test_expect_success 'a restart: SIGTERM when idle, exit 0' '
	api_stop && test "$(cat api.status)" = 0 && test_grep "^smz-api: stopped\$" api.log
'
api_start "allow = subject:$gw1_subject" "max_message = 64K" "timeout = 1"
test_expect_success 'a body trickling in (a byte every 0.2 s): closed once past [api] timeout; others still served' '
	python3 "$TOP/tests/api-trickle.py" "$API_PORT" /v1/verify >trickle.out &
	tp=$! &&
	api_curl -o /dev/null -w "%{http_code}\n" --data-binary @api.signed "$API_URL/v1/verify" >code &&
	test "$(cat code)" = 200 &&
	wait "$tp" && test_grep "^closed\$" trickle.out &&
	test_grep "POST /v1/verify 408 0 [0-9]*ms (closed: too slow)\$" api.log
'

test_expect_success 'over [api] max_message: 413 from Content-Length; streamed, the connection is closed' '
	head -c 70000 /dev/zero | tr "\0" a | fold -w 70 >big &&
	cat m.eml big >big.eml &&
	before=$(entries) &&
	api_curl -D h --data-binary @big.eml "$API_URL/v1/sign?sender=alice@example.com" >b &&
	refused 413 too-large h b && test_grep "\"rule\":\"\[api\] max_message\"" b &&
	! api_curl -D h -H "Transfer-Encoding: chunked" --data-binary @big.eml \
		"$API_URL/v1/sign?sender=alice@example.com" >b 2>err &&
	! test_grep "^HTTP/1.1 200" h &&
	test_grep "POST /v1/sign 413 0 [0-9]*ms (closed: over the size limit)\$" api.log &&
	test "$(entries)" = "$before" &&
	api_curl -D h --data-binary @m.eml "$API_URL/v1/sign?sender=alice@example.com" >/dev/null &&
	test_grep "^HTTP/1.1 200" h
'

serial_of_server() {
	openssl s_client -connect "127.0.0.1:$API_PORT" -CAfile tlsca.pem </dev/null 2>/dev/null |
		openssl x509 -noout -serial
}

test_expect_success 'SIGHUP: a new server certificate and allow list, without a restart' '
	old=$(serial_of_server) && test -n "$old" &&
	curl -sS -o /dev/null -w "%{http_code}\n" --cacert tlsca.pem --cert gw2.pem --key gw2.key \
		--data-binary @api.signed "$API_URL/v1/verify" >code && test "$(cat code)" = 403 &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server2.key \
		-out server2.csr -subj /CN=127.0.0.1 2>/dev/null &&
	printf "subjectAltName=IP:127.0.0.1\n" >server2.ext &&
	openssl x509 -req -in server2.csr -CA tlsca.pem -CAkey tlsca.key -CAcreateserial -days 30 \
		-extfile server2.ext -out server2.pem 2>/dev/null &&
	mv server2.pem server.pem && mv server2.key server.key &&
	gw2=$(openssl x509 -in gw2.pem -noout -fingerprint -sha256 | cut -d= -f2) &&
	printf "allow = sha256:%s\n" "$gw2" >>api.conf &&
	kill -HUP "$(cat api.pid)" &&
	i=0 && while ! grep -q "reloaded" api.log && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done &&
	new=$(serial_of_server) && test -n "$new" && test "$new" != "$old" &&
	openssl x509 -in server.pem -noout -serial >want && test "$new" = "$(cat want)" &&
	curl -sS -o /dev/null -w "%{http_code}\n" --cacert tlsca.pem --cert gw2.pem --key gw2.key \
		--data-binary @api.signed "$API_URL/v1/verify" >code && test "$(cat code)" = 200 &&
	api_curl -o /dev/null -w "%{http_code}\n" --data-binary @api.signed "$API_URL/v1/verify" >code &&
	test "$(cat code)" = 200
'

test_expect_success '[api] crl, read again on SIGHUP: a signer on the CRL fails verify; a CRL that does not load leaves the last one' '
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dave.key \
		-subj /CN=dave -addext "subjectAltName=email:dave@example.com" -out dave.csr 2>/dev/null &&
	smz-issue -q dave.csr >dave.pem &&
	printf "the figures\n" >body.txt &&
	openssl cms -sign -text -in body.txt -signer dave.pem -inkey dave.key -from dave@example.com \
		-to bob@example.com -subject figures -out dave.eml 2>/dev/null &&
	api_curl -D h -o st --data-binary @dave.eml "$API_URL/v1/verify" &&
	test_grep "^Smz-Status: OK signer=dave@example.com" h &&
	smz-issue revoke -q --reason keyCompromise "$(openssl x509 -in dave.pem -noout -serial | cut -d= -f2)" >/dev/null &&
	smz-issue crl -q --out crl.pem &&
	printf "crl = %s/crl.pem\n" "$PWD" >>api.conf &&
	n=$(grep -c "reloaded" api.log) && kill -HUP "$(cat api.pid)" &&
	i=0 && while [ "$(grep -c "reloaded" api.log)" = "$n" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done &&
	api_curl -D h -o st --data-binary @dave.eml "$API_URL/v1/verify" &&
	test_grep "^Smz-Status: FAIL revoked: signer dave@example.com: certificate revoked" h &&
	api_curl -D h -o st --data-binary @api.signed "$API_URL/v1/verify" &&
	test_grep "^Smz-Status: OK signer=alice@example.com" h &&
	echo "not a CRL" >crl.pem && e=$(grep -c "reload" api.log) &&
	kill -HUP "$(cat api.pid)" &&
	i=0 && while [ "$(grep -c "reload" api.log)" = "$e" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done &&
	tail -n 1 api.log | test_grep "crl.pem" - &&
	api_curl -D h -o st --data-binary @dave.eml "$API_URL/v1/verify" &&
	test_grep "^Smz-Status: FAIL revoked: signer dave@example.com" h
'

# the drain test gets a server of its own, with the default [api] timeout:
# under load the throttled upload below can pause longer than the 1 s the
# limit tests used, and the server would rightly drop it as idle
api_stop && api_start "allow = subject:$gw1_subject"
test_expect_success 'SIGTERM: the request in progress is answered, then exit 0, nothing left running' '
	cat m.eml >slow.eml && head -c 40000 big >>slow.eml &&
	pid=$(cat api.pid) &&
	{ api_curl --limit-rate 20K -o slow.out -w "%{http_code}\n" \
		--data-binary @slow.eml "$API_URL/v1/sign?sender=alice@example.com" >slow.code & } &&
	curl_pid=$! &&
	# the signal once the server has begun the request (a connection still
	# in its TLS handshake is closed, as an idle one is)
	i=0 && while ! curl -s --cacert tlsca.pem "$API_URL/v1/health" | grep -q "\"in_progress\":[1-9]" &&
		[ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done &&
	kill -TERM "$pid" &&
	wait "$curl_pid" && test "$(cat slow.code)" = 200 &&
	smz-sign --verify slow.out | test_grep "^OK signer=alice@example.com" - &&
	api_wait_exit && rm -f api.pid &&
	test_grep "stopping: finishing the requests in progress" api.log &&
	# the signal came while the request was in progress
	size=$(wc -c <slow.out) &&
	awk -v l="POST /v1/sign 200 $size " "/stopping: finishing/ { s = NR }
		index(\$0, l) { a = NR } END { exit !(s && a > s) }" api.log &&
	test "$(grep -c "^smz-api: stopped\$" api.log)" = 3 &&
	! kill -0 "$pid" 2>/dev/null &&
	smz-vault audit --verify | test_grep "^audit: OK" -
'

test_done
