#!/bin/sh
# smz-publish against Active Directory: a real Samba AD domain controller
# provisioned on loopback, over ldaps:// and StartTLS with certificate
# verification on.  AD names the attribute userCertificate (it accepts
# ";binary" in a modify and silently stores nothing).
. "$(dirname "$0")/lib.sh"

if ! command -v samba-tool >/dev/null 2>&1 || ! command -v samba >/dev/null 2>&1; then
	echo "1..0 # SKIP samba (AD DC) not installed"
	exit 0
fi
# A domain controller listens on the well-known ports of 127.0.0.1, so one
# such test runs on the machine at a time (two checkouts tested at once).
exec 9>"${TMPDIR:-/tmp}/smz-samba-ad.lock"
flock -w 900 9 || { echo "1..0 # SKIP another Samba AD test holds 127.0.0.1 for 15 minutes"; exit 0; }
AD=$TRASH/ad
mkdir -p "$AD"
SAMBA_PID=
# The lock goes with this shell: Samba must be gone, ports free, before then.
stop_samba() {
	[ -n "$SAMBA_PID" ] || return 0
	kill "$SAMBA_PID" 2>/dev/null
	i=0
	while kill -0 "$SAMBA_PID" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$SAMBA_PID" 2>/dev/null
	SAMBA_PID=
}
trap 'stop_samba' EXIT

# TLS for 127.0.0.1 from a test CA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$AD/ca.key" -out "$AD/ca.pem" \
	-days 30 -subj "/CN=test AD CA" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$AD/dc.key" -subj "/CN=127.0.0.1" -out "$AD/dc.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$AD/dc.ext"
openssl x509 -req -in "$AD/dc.csr" -CA "$AD/ca.pem" -CAkey "$AD/ca.key" -set_serial 2 -days 30 \
	-extfile "$AD/dc.ext" -out "$AD/dc.pem" 2>/dev/null
chmod 600 "$AD/dc.key"
ADMINPW='Passw0rd!Admin'
printf '%s\n' "$ADMINPW" >adminpw
BASE=DC=example,DC=com
USERS=CN=Users,$BASE
ADMIN=Administrator@example.com

test_expect_success 'provision a Samba AD domain controller on loopback' '
	samba-tool domain provision --realm=EXAMPLE.COM --domain=EXAMPLE --server-role=dc \
		--dns-backend=NONE --adminpass="$ADMINPW" --targetdir="$AD/dc" \
		--option="interfaces=lo" --option="bind interfaces only=yes" \
		--option="tls enabled=yes" --option="tls keyfile=$AD/dc.key" \
		--option="tls certfile=$AD/dc.pem" --option="tls cafile=$AD/ca.pem" >"$AD/prov.log" 2>&1 &&
	{ samba -i -M single -s "$AD/dc/etc/smb.conf" >"$AD/samba.log" 2>&1 9>&- & echo $! >"$AD/pid"; } &&
	i=0 && until LDAPTLS_CACERT="$AD/ca.pem" ldapsearch -x -H ldaps://127.0.0.1 -b "" -s base >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 120 ] || exit 1; sleep 0.5
	done
'
SAMBA_PID=$(cat "$AD/pid" 2>/dev/null)

write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
new_vault
smz-issue init -q --no-passphrase
pub() { smz-publish --uri ldaps://127.0.0.1 --tls-ca "$AD/ca.pem" --base "$USERS" --bind-dn "$ADMIN" --bind-pw-file adminpw "$@"; }
adsearch() { LDAPTLS_CACERT="$AD/ca.pem" ldapsearch -x -LLL -H ldaps://127.0.0.1 -D "$ADMIN" -y adminpw.raw -b "$USERS" "$@"; }
printf '%s' "$ADMINPW" >adminpw.raw
chmod 600 adminpw.raw

test_expect_success 'users with mail addresses, one with another CA'"'"'s certificate' '
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key -out other.pem -days 30 \
		-subj "/CN=Other" 2>/dev/null && openssl x509 -in other.pem -outform DER -out other.der &&
	for i in $(seq 1 30); do
		printf "dn: CN=User %s,%s\nobjectClass: user\nsAMAccountName: user%s\nmail: u%s@example.com\n" $i "$USERS" $i $i
		[ $i = 3 ] && printf "userCertificate:< file://%s/other.der\n" "$PWD"
		echo
	done >users.ldif &&
	LDAPTLS_CACERT="$AD/ca.pem" ldapadd -x -H ldaps://127.0.0.1 -D "$ADMIN" -y adminpw.raw -f users.ldif >/dev/null &&
	test "$(adsearch "(mail=u*@example.com)" dn | grep -c "^dn:")" -eq 30
'

test_expect_success 'publish over ldaps: stored as userCertificate, exactly as issued' '
	{ echo email; seq 1 30 | sed "s/.*/u&@example.com/"; } >r.csv &&
	smz-keygen -q r.csv | smz-issue -q | smz-vault attach -q >certs.pem &&
	pub --smime-attribute certs.pem >out 2>err &&
	test "$(grep -c ": published\$" out)" -eq 30 &&
	split_pem certs.pem c &&
	adsearch "(mail=u5@example.com)" userCertificate | tr -d "\n " | sed -n "s/.*userCertificate::\([A-Za-z0-9+/=]*\).*/\1/p" >got &&
	openssl x509 -in c.5 -outform DER | base64 -w0 >want && test "$(cat want)" = "$(cat got)"
'

test_expect_success 'the other CA'"'"'s certificate stays; userSMIMECertificate parses' '
	test "$(adsearch "(mail=u3@example.com)" userCertificate | grep -c "^userCertificate::")" -eq 2 &&
	adsearch "(mail=u9@example.com)" userSMIMECertificate | tr -d "\n " |
		sed -n "s/.*userSMIMECertificate::\([A-Za-z0-9+/=]*\).*/\1/p" | base64 -d >p7.der &&
	openssl pkcs7 -inform DER -in p7.der -print_certs -noout | test_grep "CN = u9@example.com" -
'

test_expect_success 'idempotent, and StartTLS on ldap:// with verification' '
	smz-publish --uri ldap://127.0.0.1 --starttls --tls-ca "$AD/ca.pem" --base "$USERS" --bind-dn "$ADMIN" \
		--bind-pw-file adminpw --smime-attribute certs.pem >out2 &&
	test "$(grep -c ": unchanged\$" out2)" -eq 30
'

test_expect_success 'a wrong TLS CA is refused; a wrong password is 77' '
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout w.key -out wrong.pem -days 3 -subj "/CN=w" 2>/dev/null &&
	test_must_fail 69 smz-publish --uri ldaps://127.0.0.1 --tls-ca wrong.pem --base "$USERS" --bind-dn "$ADMIN" --bind-pw-file adminpw c.1 >/dev/null 2>&1 &&
	printf "nope\n" >bad &&
	test_must_fail 77 smz-publish --uri ldaps://127.0.0.1 --tls-ca "$AD/ca.pem" --base "$USERS" --bind-dn "$ADMIN" \
		--bind-pw-file bad c.1 >/dev/null 2>err && test_grep "Invalid credentials" err
'

test_expect_success 'a renewal replaces the old certificate in AD' '
	printf "u4@example.com\n" | smz-keygen -q --addresses --new-key - | smz-issue -q | smz-vault attach -q >n.pem &&
	pub n.pem >o3 && test_grep "^u4@example.com: published\$" o3 &&
	test "$(adsearch "(mail=u4@example.com)" userCertificate | grep -c "^userCertificate::")" -eq 1
'

stop_samba
test_done
