#!/bin/sh
# bench/export.sh - smz-vault export (PKCS#12 bundles with 3 keys each, both
# profiles) against `openssl pkcs12 -export` run once per key, in the same
# run.  Only the ratios mean anything; see bench/README.
#   SMZ_BENCH_BINDIR           binaries to use (default: ../cmd)
#   SMZ_BENCH_EXPORT_N         addresses (default 1000), 3 keys each
#   SMZ_BENCH_EXPORT_REF       addresses for the openssl loop (default 30)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${SMZ_BENCH_BINDIR:-$here/../cmd}
n=${SMZ_BENCH_EXPORT_N:-1000}
nref=${SMZ_BENCH_EXPORT_REF:-30}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smz-bench-export.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
now() { date +%s.%N; }
el() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.6f", n / s }'; }

cd "$tmp"
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
{ echo email; i=1; while [ "$i" -le "$n" ]; do echo "u$i@example.com"; i=$((i + 1)); done; } >r.csv
"$bin/smz-keygen" -q r.csv | "$bin/smz-issue" -q | "$bin/smz-vault" attach -q >/dev/null
for _ in 2 3; do
	"$bin/smz-keygen" -q --new-key r.csv | "$bin/smz-issue" -q | "$bin/smz-vault" attach -q >/dev/null
done

# smz: every bundle of both profiles (timed: unlock + unseal + build + write)
tj0=$(now)
"$bin/smz-vault" export -q -j 1 --passphrase-file pw --all --p12-profile compat --out compat1 >/dev/null
t0=$(now)
"$bin/smz-vault" export -q -j 2 --passphrase-file pw --all --p12-profile compat --out compat >/dev/null
t1=$(now)
"$bin/smz-vault" export -q -j 2 --passphrase-file pw --all --p12-profile modern --out modern >/dev/null
t2=$(now)
got=$(find compat -name '*.p12' | wc -l)
[ "$got" -eq "$n" ] || { echo "export.sh: $got compat bundles, expected $n" >&2; exit 1; }

# the reference: the same keys and certificates as plain files (not timed),
# then one openssl pkcs12 -export per key, as a script would do
mkdir ref
i=1
while [ "$i" -le "$nref" ]; do
	pw=$(awk -F'\t' -v a="u$i@example.com" '$1 == a { print $3 }' modern/passwords.tsv)
	openssl pkcs12 -in "modern/u$i@example.com.p12" -passin "pass:$pw" -nodes 2>/dev/null |
		awk -v d="ref/$i" '/-----BEGIN PRIVATE KEY/ { k++; f = d ".key" k } /-----BEGIN CERTIFICATE/ { c++; f = d ".crt" c }
			f { print > f } /-----END/ { close(f); f = "" }'
	i=$((i + 1))
done
t3=$(now)
i=1
while [ "$i" -le "$nref" ]; do
	for k in 1 2 3; do
		openssl pkcs12 -export -inkey "ref/$i.key$k" -in "ref/$i.crt$k" -passout pass:bench-password \
			-out "ref/$i.$k.p12"
	done
	i=$((i + 1))
done
t4=$(now)

r_compat1=$(rate "$n" "$(el "$tj0" "$t0")")
r_compat=$(rate "$n" "$(el "$t0" "$t1")")
r_modern=$(rate "$n" "$(el "$t1" "$t2")")
r_ref=$(rate "$nref" "$(el "$t3" "$t4")")
echo
echo "smz-vault export benchmark ($n addresses, 3 keys each; openssl: $nref addresses, one pkcs12 -export per key)"
printf '%-58s %10s %10s %8s %8s  %s\n' what smz reference ratio target result
for p in compat1 compat modern; do
	r=$r_compat; j=2; [ "$p" = modern ] && r=$r_modern
	[ "$p" = compat1 ] && { r=$r_compat1; j=1; p=compat; }
	awk -v w="bundles/s $p: smz export -j$j / openssl pkcs12 -export x3" -v s="$r" -v f="$r_ref" 'BEGIN {
		x = s / f; printf "%-58s %10.1f %10.2f %8.1f %8s  %s\n", w, s, f, x, ">=4", (x >= 4 ? "ok" : "MISS") }'
done
