#!/bin/sh
# bench/publish.sh - smz-publish into a local slapd (5,000 people) against a
# loop of ldapmodify calls making the same change, in the same run.  Only
# the ratio means anything; see bench/README.
#   SMZ_BENCH_BINDIR       binaries to use (default: ../cmd)
#   SMZ_BENCH_PUBLISH_N    people published by smz (default 5000)
#   SMZ_BENCH_PUBLISH_REF  people changed by the ldapmodify loop (default 200)
#   SMZ_BENCH_WRAP         a command to run smz-publish under (e.g. /usr/bin/time)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${SMZ_BENCH_BINDIR:-$here/../cmd}
n=${SMZ_BENCH_PUBLISH_N:-5000}
nref=${SMZ_BENCH_PUBLISH_REF:-200}
if ! [ -x /usr/sbin/slapd ]; then
	echo "publish.sh: slapd is not installed (make deps): skipped"
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smz-bench-publish.XXXXXX")
TRASH=$tmp
export TRASH
# shellcheck source=../tests/slapd.sh
. "$here/../tests/slapd.sh"
trap 'slapd_stop; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
now() { date +%s.%N; }
el() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

cd "$tmp"
slapd_start
printf 'secret' >adminpw.raw
chmod 600 adminpw.raw
people=ou=people,$SLAPD_BASE
total=$((n + nref))
{
	printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n' "$SLAPD_BASE"
	printf 'dn: %s\nobjectClass: organizationalUnit\nou: people\n\n' "$people"
	awk -v t="$total" -v p="$people" 'BEGIN { for (i = 1; i <= t; i++)
		printf "dn: uid=u%d,%s\nobjectClass: inetOrgPerson\nuid: u%d\ncn: U %d\nsn: S%d\nmail: u%d@example.com\n\n", i, p, i, i, i, i }'
} >people.ldif
ldapadd -x -H "$SLAPD_URI" -D "$SLAPD_ADMIN" -y adminpw.raw -f people.ldif >/dev/null
cat >policy.conf <<EOP
[vault]
path = $tmp/vault
kdf = interactive
[ca]
path = $tmp/ca
crl_url = http://pki.example.com/smz.crl
issuer_url = http://pki.example.com/issuing.cer
[domains]
allowed = example.com
EOP
SMZ_POLICY=$tmp/policy.conf
export SMZ_POLICY
printf 'pw\n' >pw
"$bin/smz-vault" init -q --passphrase-file pw
"$bin/smz-issue" init -q --no-passphrase
awk -v t="$total" 'BEGIN { print "email"; for (i = 1; i <= t; i++) printf "u%d@example.com\n", i }' >r.csv
"$bin/smz-keygen" -q r.csv | "$bin/smz-issue" -q | "$bin/smz-vault" attach -q >all.pem
awk -v n="$n" '/-----BEGIN/ { k++ } { print > (k <= n ? "smz.pem" : "ref.pem") }' all.pem

# the reference: one LDIF per person, prepared before the clock starts
mkdir ref
awk '/-----BEGIN/ { k++ } { print > ("ref/" k ".pem") }' ref.pem
i=1
while [ "$i" -le "$nref" ]; do
	printf 'dn: uid=u%s,%s\nchangetype: modify\nadd: userCertificate;binary\nuserCertificate;binary:: %s\n-\n' \
		$((n + i)) "$people" "$(openssl x509 -in "ref/$i.pem" -outform DER | base64 -w0)" >"ref/$i.ldif"
	i=$((i + 1))
done

t0=$(now)
${SMZ_BENCH_WRAP:-} "$bin/smz-publish" -q --uri "$SLAPD_URI" --base "$people" --bind-dn "$SLAPD_ADMIN" \
	--bind-pw-file "$SLAPD_PW" smz.pem >pub.out
t1=$(now)
got=$(grep -c ': published$' pub.out || true)
[ "$got" -eq "$n" ] || { echo "publish.sh: $got published, expected $n" >&2; exit 1; }
t2=$(now)
i=1
while [ "$i" -le "$nref" ]; do
	ldapmodify -x -H "$SLAPD_URI" -D "$SLAPD_ADMIN" -y adminpw.raw -f "ref/$i.ldif" >/dev/null
	i=$((i + 1))
done
t3=$(now)
echo
echo "smz-publish benchmark (local slapd, simple bind, no TLS; smz reads every entry back)"
printf '%-58s %10s %10s %8s %8s  %s\n' what smz reference ratio target result
awk -v a="$(el "$t0" "$t1")" -v b="$(el "$t2" "$t3")" -v n="$n" -v r="$nref" 'BEGIN {
	s = n / a; f = r / b
	printf "%-58s %10.0f %10.1f %8.1f %8s  %s\n", "certs/s: smz-publish (" n ") / ldapmodify loop (" r ")", s, f, s / f, "-", "-" }'
