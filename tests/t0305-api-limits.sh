#!/bin/sh
# smz-api against hostile and broken clients, and the end of a server:
# a 2 GB body, 10,000 header fields, headers one byte at a time, 500 idle
# connections (each while an allowed gateway is still served); kill -9 in a
# burst of signing (the audit log holds every answer that went out); a
# signed answer through a relay that re-encodes and re-wraps.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/api-server.sh"

new_ca_vault ec-p256 "[gateway]" "unlock_file = $PWD/gw.key"
new_users alice@example.com bob@example.com
smz-vault gateway-key -q --passphrase-file pw "$PWD/gw.key"
sh "$TOP/tests/api-certs.sh" "$PWD"
trap 'api_stop' EXIT
gw1_subject="CN=mx1.example.com,O=Example Gateways"
# shellcheck disable=SC2034 # used in the test bodies, which run through eval
ABUSE="python3 $TOP/tests/api-abuse.py"
signs() { smz-vault audit | awk -F'\t' '$4 == "sign"' | wc -l; }
long=$(printf 'a long line of text, '; for i in 1 2 3 4 5 6; do printf 'longer and longer %d, ' "$i"; done; printf 'end')
printf 'From: Alice <alice@example.com>\nTo: Bob <bob@example.com>\nSubject: plans\nDate: %s\nMessage-ID: <l1@example.com>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\303\274\303\237e, the plans.\n%s\n' \
	"$(LC_ALL=C date -R)" "$long" >m.eml
# served: an allowed gateway's verify of a signed message answers 200
served() {
	api_curl -o /dev/null -w "%{http_code}\n" --data-binary @s.eml "$API_URL/v1/verify" >code &&
		test "$(cat code)" = 200
}
# peak resident memory of the server so far, in MB
peak() { awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$(cat api.pid)/status"; }

api_start "allow = subject:$gw1_subject" "timeout = 2" "max_per_ip = 16"
test_expect_success 'setup: a signed message to verify' '
	api_curl --data-binary @m.eml "$API_URL/v1/sign?sender=alice@example.com" >s.eml &&
	smz-sign --verify s.eml | test_grep "^OK signer=alice@example.com" -
'

test_expect_success 'a 2 GB body: 413 from its Content-Length, before it is read' '
	$ABUSE "$API_PORT" bigbody 2147483648 "/v1/sign?sender=alice@example.com" >out &&
	test_grep "^HTTP/1.1 413" out && served
'

test_expect_success '10,000 header fields: refused with 431, the server answers on' '
	$ABUSE "$API_PORT" headers 10000 >out &&
	test_grep "^HTTP/1.1 431" out && served
'

test_expect_success 'headers one byte at a time: closed once past [api] timeout, others served meanwhile' '
	$ABUSE "$API_PORT" slowhdr 127.0.0.3 >out &
	sp=$! && served && wait "$sp" &&
	test_grep "^closed after [0-9]* s\$" out &&
	test "$(sed "s/closed after \([0-9]*\) s/\1/" out)" -lt 20
'

test_expect_success '500 idle connections from one address: beyond max_per_ip closed at once, the rest at the timeout; the gateway served' '
	$ABUSE "$API_PORT" idle 500 127.0.0.2 >out &
	ip=$! &&
	i=0 && while [ "$(grep -c "connection limit" api.log)" -lt 400 ] && [ $i -lt 1000 ]; do
		sleep 0.02; i=$((i + 1)); done &&
	served && wait "$ip" &&
	test_grep "^connected 500 refused 0 closed 500\$" out &&
	test "$(grep -c "connection limit" api.log)" -ge 484 &&
	peak >peak.txt && test "$(cat peak.txt)" -lt 200
'
echo "# smz-api peak resident memory so far (500 idle connections, 10,000 headers, 2 GB claimed): $(cat peak.txt 2>/dev/null) MB"

test_expect_success 'a signed answer survives a relay that re-encodes 8-bit parts and re-wraps long lines' '
	python3 "$TOP/tests/helpers/relay.py" <s.eml >relayed.eml &&
	smz-sign --verify relayed.eml | test_grep "^OK signer=alice@example.com" - &&
	openssl cms -verify -in relayed.eml -CAfile ca/root.pem -out /dev/null 2>v.err &&
	test_grep "Verification successful" v.err &&
	# the relay does change what is signed as it came (8-bit, long lines)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key -out o.pem \
		-days 3 -subj "/CN=o" -addext "subjectAltName=email:alice@example.com" 2>/dev/null &&
	{ printf "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"; sed "1,/^\$/d" m.eml; } >entity &&
	openssl cms -sign -signer o.pem -inkey o.key -in entity -binary -out o.eml 2>/dev/null &&
	openssl cms -verify -in o.eml -CAfile o.pem -binary -out /dev/null 2>/dev/null &&
	python3 "$TOP/tests/helpers/relay.py" <o.eml >o-relayed.eml &&
	! cmp -s o.eml o-relayed.eml &&
	! openssl cms -verify -in o-relayed.eml -CAfile o.pem -binary -out /dev/null 2>/dev/null
'

test_expect_success 'SIGHUP ten times during a burst of verifying: each reload happens, every answer is 200' '
	: >vcodes &&
	{ api_curl --parallel --parallel-max 8 -H "Content-Type: message/rfc822" --data-binary @s.eml \
		-o /dev/null -w "%{http_code}\n" "$API_URL/v1/verify?n=[1-1500]" >>vcodes 2>/dev/null & } &&
	vp=$! &&
	i=0 && while [ "$(wc -l <vcodes)" -lt 20 ] && [ $i -lt 1000 ]; do sleep 0.02; i=$((i + 1)); done &&
	for h in 1 2 3 4 5 6 7 8 9 10; do
		n=$(grep -c "reloaded" api.log); kill -HUP "$(cat api.pid)" &&
		i=0 && while [ "$(grep -c "reloaded" api.log)" = "$n" ] && [ $i -lt 500 ]; do
			sleep 0.02; i=$((i + 1)); done &&
		test "$(grep -c "reloaded" api.log)" -gt "$n" || exit 1
	done &&
	wait "$vp" &&
	test "$(wc -l <vcodes)" = 1500 && test "$(grep -c "^200\$" vcodes)" = 1500 &&
	kill -0 "$(cat api.pid)" && served
'

test_expect_success 'kill -9 in a burst of signing: the audit log verifies, and holds every answer sent' '
	before=$(signs) && : >codes &&
	{ api_curl --parallel --parallel-max 8 -H "Content-Type: message/rfc822" --data-binary @m.eml \
		-o "burst/#1" --create-dirs -w "%{http_code}\n" \
		"$API_URL/v1/sign?sender=alice@example.com&n=[1-3000]" >codes 2>/dev/null & } &&
	cp_=$! &&
	i=0 && while [ "$(awk "/^200/ { n++ } END { print n + 0 }" codes)" -lt 40 ] && [ $i -lt 1000 ]; do
		sleep 0.02; i=$((i + 1)); done &&
	kill -KILL "$(cat api.pid)" &&
	{ wait "$cp_" || true; } && rm -f api.pid &&
	sent=$(grep -c "^200" codes) && test "$sent" -ge 40 && test "$sent" -lt 3000 &&
	smz-vault audit --verify | test_grep "^audit: OK" - &&
	test "$(($(signs) - before))" -ge "$sent" &&
	ok=0 && for f in burst/*; do
		smz-sign --verify "$f" >/dev/null 2>&1 && ok=$((ok + 1)); done &&
	test "$ok" -le "$(($(signs) - before))" &&
	echo "$sent answers sent, $ok whole, $(($(signs) - before)) audited" >burst.txt
'
echo "# kill -9: $(cat burst.txt 2>/dev/null)"

test_done
