#!/bin/sh
# bench/provision.sh - smz-provision end to end (keys vaulted, certificates
# issued and filed, directory changes as LDIF, PKCS#12 bundles) against what
# a sysadmin would do otherwise on a sample: a shell loop over the openssl
# CLI (genpkey, req, x509 -req, pkcs12 -export) and easy-rsa
# (build-client-full, export-p12).  One run, one machine: only the ratios
# mean anything; see bench/README.
#   SMZ_BENCH_BINDIR              binaries (default: ../cmd)
#   SMZ_BENCH_PROVISION_N         people, P-256 (default 10000)
#   SMZ_BENCH_PROVISION_RSA_N     people, RSA-2048 with -j 2 (default 300)
#   SMZ_BENCH_PROVISION_REF       people for the openssl loop (default 30)
#   SMZ_BENCH_PROVISION_EASYRSA   people for easy-rsa (default 10; 0 skips)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${SMZ_BENCH_BINDIR:-$top/cmd}
n=${SMZ_BENCH_PROVISION_N:-10000}
nrsa=${SMZ_BENCH_PROVISION_RSA_N:-300}
nref=${SMZ_BENCH_PROVISION_REF:-30}
neasy=${SMZ_BENCH_PROVISION_EASYRSA:-10}
. "$here/common.sh"
tmp=$(bench_dir "${SMZ_BENCH_PROVISION_DIR:-}" provision)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$tmp"
PATH="$bin:$PATH"

roster() { # N PREFIX
	echo "Employee ID,First Name,Last Name,Work Email,Status"
	i=1
	while [ "$i" -le "$1" ]; do
		echo "E$i,Person,Number $i,$2$i@example.com,Active"
		i=$((i + 1))
	done
}

# smz-provision: TIME_FILE ROSTER [OPTIONS]; fresh vault and CA each time
run_smz() {
	out=$1 r=$2
	shift 2
	rm -rf vault ca shares bundles out.ldif
	"$bin/smz-vault" init -q --passphrase-file pw --shares 3 --threshold 2 --share-out shares
	"$bin/smz-issue" init -q --no-passphrase
	/usr/bin/time -f '%e %M' -o "$out" "$bin/smz-provision" -q --ldif out.ldif "$@" "$r" >/dev/null
	got=$(grep -c '^dn: ' out.ldif)
	[ "$got" -eq "$(($(wc -l <"$r") - 1))" ] || { echo "provision.sh: $got of $(($(wc -l <"$r") - 1)) provisioned" >&2; exit 1; }
}

bench_pki "$tmp"
roster "$n" p >p256.csv
run_smz p256-bundles.time p256.csv -j 2 --bundles bundles --passphrase-file pw
run_smz p256-plain.time p256.csv -j 2
SMZ_POLICY=$tmp/policy-rsa.conf
export SMZ_POLICY
roster "$nrsa" r >rsa.csv
run_smz rsa-bundles.time rsa.csv -j 2 --bundles bundles --passphrase-file pw
SMZ_POLICY=$tmp/policy.conf

# one RSA-3072 joiner, with a key from the pool and without
sed 's/^algorithm = rsa-2048/algorithm = rsa-3072/' policy-rsa.conf >policy-3072.conf
SMZ_POLICY=$tmp/policy-3072.conf
export SMZ_POLICY
printf 'Employee ID,First Name,Last Name,Work Email,Status\nJ1,Joe,Iner,joiner@example.com,Active\n' >one.csv
rm -rf vault ca shares
"$bin/smz-vault" init -q --passphrase-file pw --shares 3 --threshold 2 --share-out shares
"$bin/smz-issue" init -q --no-passphrase
"$bin/smz-keygen" -q --pool 2
t0=$(now); "$bin/smz-provision" -q --ldif one.ldif one.csv >/dev/null; t1=$(now)
t_pool=$(el "$t0" "$t1")
rm -rf vault ca shares one.ldif
"$bin/smz-vault" init -q --passphrase-file pw --shares 3 --threshold 2 --share-out shares
"$bin/smz-issue" init -q --no-passphrase
t0=$(now); "$bin/smz-provision" -q --ldif one.ldif one.csv >/dev/null; t1=$(now)
t_nopool=$(el "$t0" "$t1")
SMZ_POLICY=$tmp/policy.conf
export SMZ_POLICY

# the openssl CLI loop, per person, against an openssl CA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout refca.key -out refca.pem \
	-days 3650 -subj /CN=Ref-CA 2>/dev/null
printf 'keyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=emailProtection\n' >ext.cnf
mkdir ref
loop() { # ALG COUNT BUNDLES
	i=1
	while [ "$i" -le "$2" ]; do
		a=ref$i@example.com
		if [ "$1" = ec ]; then
			openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ref/$i.key 2>/dev/null
		else
			openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ref/$i.key 2>/dev/null
		fi
		openssl req -new -key ref/$i.key -subj "/CN=$a" -addext "subjectAltName=email:$a" -out ref/$i.csr
		openssl x509 -req -in ref/$i.csr -CA refca.pem -CAkey refca.key -set_serial "0x$(openssl rand -hex 16)" \
			-days 730 -extfile ext.cnf -out ref/$i.pem 2>/dev/null
		if [ "$3" = 1 ]; then
			openssl pkcs12 -export -inkey ref/$i.key -in ref/$i.pem -certfile refca.pem \
				-passout pass:bench-password -out ref/$i.p12
		fi
		i=$((i + 1))
	done
}
t0=$(now); loop ec "$nref" 1; t1=$(now); loop ec "$nref" 0; t2=$(now)
nref_rsa=$((nref / 3 > 3 ? nref / 3 : 3))
t3=$(now); loop rsa "$nref_rsa" 1; t4=$(now)
r_ossl_b=$(rate "$nref" "$(el "$t0" "$t1")")
r_ossl=$(rate "$nref" "$(el "$t1" "$t2")")
r_ossl_rsa=$(rate "$nref_rsa" "$(el "$t3" "$t4")")

# easy-rsa, the way its manual does it
r_easy=0
if [ "$neasy" -gt 0 ] && [ -x /usr/share/easy-rsa/easyrsa ]; then
	export EASYRSA_BATCH=1 EASYRSA_PKI="$tmp/pki" EASYRSA_ALGO=ec EASYRSA_CURVE=prime256v1 EASYRSA_REQ_CN=Ref-CA
	/usr/share/easy-rsa/easyrsa init-pki >/dev/null 2>&1
	/usr/share/easy-rsa/easyrsa build-ca nopass >/dev/null 2>&1
	unset EASYRSA_REQ_CN # build-client-full refuses it
	t5=$(now)
	i=1
	while [ "$i" -le "$neasy" ]; do
		/usr/share/easy-rsa/easyrsa build-client-full "e$i@example.com" nopass >/dev/null 2>&1
		/usr/share/easy-rsa/easyrsa export-p12 "e$i@example.com" nopass >/dev/null 2>&1
		i=$((i + 1))
	done
	t6=$(now)
	[ -s "$tmp/pki/private/e$neasy@example.com.p12" ] || { echo "provision.sh: easy-rsa made no bundles" >&2; exit 1; }
	r_easy=$(rate "$neasy" "$(el "$t5" "$t6")")
fi

r_b=$(awk '{ print '"$n"' / $1 }' p256-bundles.time | tail -n 1)
r_p=$(awk '{ print '"$n"' / $1 }' p256-plain.time | tail -n 1)
r_rsa=$(awk '{ print '"$nrsa"' / $1 }' rsa-bundles.time | tail -n 1)
m_b=$(tail -n 1 p256-bundles.time | awk '{ printf "%.0f", $2 / 1024 }')
echo
echo "smz-provision benchmark: $n people (P-256), $nrsa (RSA-2048), -j 2, LDIF output; openssl loop $nref (RSA $nref_rsa), easy-rsa $neasy"
printf '%-56s %10s %10s %8s %8s  %s\n' what smz reference ratio target result
{
	echo "people/s P-256 with bundles / openssl loop with pkcs12|$r_b|$r_ossl_b|20"
	echo "people/s P-256 without bundles / openssl loop without|$r_p|$r_ossl|50"
	[ "$r_easy" = 0 ] || echo "people/s P-256 with bundles / easy-rsa full+export-p12|$r_b|$r_easy|-"
	echo "people/s RSA-2048 with bundles / openssl loop|$r_rsa|$r_ossl_rsa|-"
} | awk -F'|' '{ x = $2 / $3
	if ($4 == "-") { printf "%-56s %10.1f %10.2f %8.1f %8s  %s\n", $1, $2, $3, x, "-", "-"; next }
	printf "%-56s %10.1f %10.2f %8.1f %8s  %s\n", $1, $2, $3, x, ">=" $4, (x >= $4 ? "ok" : "MISS") }'
echo "  peak memory of the P-256 run with bundles: $m_b MB"
awk -v a="$t_pool" -v b="$t_nopool" 'BEGIN { printf "  one RSA-3072 joiner, end to end: %.0f ms with a key from the pool (smz-keygen --pool), %.0f ms generating it\n", a * 1000, b * 1000 }'
