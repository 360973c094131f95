#!/bin/sh
# bench/issue.sh - smz-issue throughput against references measured in the
# same run (an `openssl x509 -req` loop, openssl speed).  Only the ratios
# mean anything; see bench/README.  bench/run.sh calls it at its end.
#
# Usage: sh bench/issue.sh           (or: make bench, which runs both)
# Environment:
#   SMZ_BENCH_ISSUE_N        P-256 CSRs issued by smz under the P-256 CA
#                                                          (default 2000)
#   SMZ_BENCH_ISSUE_REF      CSRs of each openssl x509 -req loop (default 50)
#   SMZ_BENCH_ISSUE_RSA_N    RSA-2048 CSRs (generated with smz-keygen -j 2)
#                            issued by smz under the P-256 CA  (default 300)
#   SMZ_BENCH_ISSUE_P384_N   P-256 CSRs issued under the P-384 CA (default 2000)
#   SMZ_BENCH_ISSUE_RSACA_N  P-256 CSRs issued under the RSA-2048 CA
#                                                          (default 2000)
#   SMZ_BENCH_SPEED_SECS     seconds per openssl speed test (default 3)
#   SMZ_BENCH_BINDIR         directory holding smz-keygen, smz-vault and
#                            smz-issue (default: cmd/ of this tree; run.sh
#                            passes its private copies)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bindir=${SMZ_BENCH_BINDIR:-$top/cmd}

n_p256=${SMZ_BENCH_ISSUE_N:-2000}
n_ref=${SMZ_BENCH_ISSUE_REF:-50}
n_rsa=${SMZ_BENCH_ISSUE_RSA_N:-300}
n_p384=${SMZ_BENCH_ISSUE_P384_N:-2000}
n_rsaca=${SMZ_BENCH_ISSUE_RSACA_N:-2000}
speed_secs=${SMZ_BENCH_SPEED_SECS:-3}

for p in smz-keygen smz-vault smz-issue; do
	if [ ! -x "$bindir/$p" ]; then
		echo "issue.sh: $bindir/$p not built (run make first)" >&2
		exit 1
	fi
done
if [ "$n_ref" -gt "$n_p256" ] || [ "$n_ref" -gt "$n_rsa" ]; then
	echo "issue.sh: SMZ_BENCH_ISSUE_REF must not exceed the smz CSR counts" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smz-bench-issue.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Private copies, so that a rebuild of the tree during the run cannot mix
# two builds into one table.
cp "$bindir/smz-keygen" "$bindir/smz-vault" "$bindir/smz-issue" "$tmp/"
keygen=$tmp/smz-keygen
vaultcmd=$tmp/smz-vault
issue=$tmp/smz-issue

now() { date +%s.%N; }

# elapsed T0 T1: seconds between two `now` stamps
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# rate COUNT SECONDS
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.6f", n / s }'; }

# ratio A B
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a / b }'; }

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }

# count PATTERN FILE: lines of FILE that are exactly PATTERN
count() { grep -cx -- "$1" "$2" || true; }

# check_count WHAT KIND FILE EXPECTED; KIND is CERTIFICATE or
# CERTIFICATE REQUEST
check_count() {
	got=$(count "-----BEGIN $2-----" "$3")
	if [ "$got" -ne "$4" ]; then
		echo "issue.sh: $1 wrote $got PEM $2 blocks, expected $4" >&2
		exit 1
	fi
}

# first N IN OUT: the first N PEM blocks of IN
first() {
	awk -v n="$1" '/^-----BEGIN / { k++ } k > n { exit } k { print }' "$2" >"$3"
}

# roster FILE ROWS PREFIX: a CSV roster of ROWS addresses at example.com
roster() {
	awk -v n="$2" -v p="$3" 'BEGIN {
		print "email"
		for (i = 1; i <= n; i++)
			printf "%s%d@example.com\n", p, i
	}' >"$1"
}

# new_vault NAME ALGORITHM: policy + empty vault under $tmp/NAME for
# smz-keygen, exported as SMZ_POLICY.  Not timed.
new_vault() {
	d=$tmp/$1
	mkdir "$d"
	cat >"$d/policy.conf" <<EOF
[vault]
path = $d/vault
kdf = interactive
[keys]
algorithm = $2
[domains]
allowed = example.com
EOF
	SMZ_POLICY=$d/policy.conf
	export SMZ_POLICY
	"$vaultcmd" init -q --passphrase-file "$tmp/pw"
}

# new_ca NAME ALGORITHM: policy + fresh CA under $tmp/NAME issuing with
# ALGORITHM, exported as SMZ_POLICY.  Not timed.
new_ca() {
	d=$tmp/$1
	mkdir "$d"
	cat >"$d/policy.conf" <<EOF
[vault]
path = $tmp/vp256/vault
kdf = interactive
[ca]
path = $d/ca
crl_url = http://pki.example.com/smz.crl
issuer_url = http://pki.example.com/issuing.cer
issuing_algorithm = $2
[certificate]
profile = mailbox-strict
[domains]
allowed = example.com
EOF
	SMZ_POLICY=$d/policy.conf
	export SMZ_POLICY
	"$issue" init -q --no-passphrase
}

# smz_issue CA-NAME ALGORITHM CSRS N: time smz-issue on N CSRS (a file of
# exactly N requests) under a fresh CA; prints elapsed seconds.
smz_issue() {
	new_ca "$1" "$2"
	t0=$(now)
	"$issue" -q -j "${5:-1}" "$3" >"$tmp/$1/certs.pem"
	t1=$(now)
	check_count "smz-issue ($2 CA)" CERTIFICATE "$tmp/$1/certs.pem" "$4"
	elapsed "$t0" "$t1"
}

# split_csrs CSRS N DIR KEYUSAGE: the first N requests of CSRS as
# DIR/I.csr, and for each an extension file DIR/I.ext with the extensions
# of an smz certificate (the address read from the request).  Not timed.
split_csrs() {
	rm -rf "$3"
	mkdir "$3"
	awk -v n="$2" -v d="$3" '/^-----BEGIN / { k++ } k > n { exit }
		k { print > (d "/" k ".csr") }' "$1"
	i=1
	while [ "$i" -le "$2" ]; do
		addr=$(openssl req -in "$3/$i.csr" -noout -subject -nameopt RFC2253 |
			sed -n 's/.*emailAddress=\([^,]*\).*/\1/p')
		if [ -z "$addr" ]; then
			echo "issue.sh: no address in request $i of $1" >&2
			exit 1
		fi
		cat >"$3/$i.ext" <<EOF
[v3]
basicConstraints = critical, CA:FALSE
keyUsage = critical, $4
extendedKeyUsage = emailProtection
certificatePolicies = 2.23.140.1.5.1.3
subjectAltName = email:$addr
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints = URI:http://pki.example.com/smz.crl
authorityInfoAccess = caIssuers;URI:http://pki.example.com/issuing.cer
EOF
		i=$((i + 1))
	done
}

# openssl_loop DIR N: one `openssl x509 -req` per request of DIR (from
# split_csrs) under the openssl CA, appending to $tmp/ossl.pem; prints
# elapsed seconds.
openssl_loop() {
	: >"$tmp/ossl.pem"
	t0=$(now)
	i=1
	while [ "$i" -le "$2" ]; do
		openssl x509 -req -in "$1/$i.csr" -CA "$tmp/osslca.pem" \
			-CAkey "$tmp/osslca.key" -set_serial "$i" -days 730 -sha256 \
			-extfile "$1/$i.ext" -extensions v3 2>"$tmp/ossl.err" >>"$tmp/ossl.pem"
		i=$((i + 1))
	done
	t1=$(now)
	if [ "$(count -----BEGIN\ CERTIFICATE----- "$tmp/ossl.pem")" -ne "$2" ]; then
		cat "$tmp/ossl.err" >&2
	fi
	check_count "openssl x509 -req loop" CERTIFICATE "$tmp/ossl.pem" "$2"
	elapsed "$t0" "$t1"
}

# speed_sign ALGORITHM FIELD [PROCS]: sign/s of `openssl speed ALGORITHM`
# from its +FFIELD: line (one process, or -multi PROCS)
speed_sign() {
	if [ "${3:-1}" -gt 1 ]; then multi="-multi $3"; else multi=; fi
	# shellcheck disable=SC2086
	openssl speed -mr $multi -seconds "$speed_secs" "$1" 2>/dev/null |
		awk -F: -v tag="+F$2" '$1 == tag { v = $4 }
			END { if (v == "" || v + 0 <= 0) exit 1
			      if (v + 0 < 1) v = 1 / v	# old builds print seconds/op
			      printf "%.6f", v }'
}

printf 'pw\n' >"$tmp/pw"

# --- header -------------------------------------------------------------
echo
echo "smz-issue benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
if grep -qa -e __asan_init -e __ubsan_handle "$issue"; then
	echo "WARNING: smz-issue is built with sanitizers (SANITIZE=1): figures are meaningless"
fi

# --- requests (not timed) -----------------------------------------------
n_csr=$(max "$n_p256" "$(max "$n_p384" "$n_rsaca")")
roster "$tmp/p256.csv" "$n_csr" user
new_vault vp256 ec-p256
"$keygen" -q "$tmp/p256.csv" >"$tmp/p256.csr"
check_count smz-keygen "CERTIFICATE REQUEST" "$tmp/p256.csr" "$n_csr"
roster "$tmp/rsa.csv" "$n_rsa" rsa
new_vault vrsa rsa-2048
"$keygen" -q -j 2 "$tmp/rsa.csv" >"$tmp/rsa.csr"
check_count "smz-keygen (RSA)" "CERTIFICATE REQUEST" "$tmp/rsa.csr" "$n_rsa"
first "$n_p256" "$tmp/p256.csr" "$tmp/p256-a.csr"
first "$n_p384" "$tmp/p256.csr" "$tmp/p256-b.csr"
first "$n_rsaca" "$tmp/p256.csr" "$tmp/p256-c.csr"

# The reference CA: a self-signed P-256 CA made with openssl.
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$tmp/osslca.key" -out "$tmp/osslca.pem" -days 3650 \
	-subj "/CN=openssl bench Issuing CA" \
	-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$tmp/err"; then
	cat "$tmp/err" >&2
	echo "issue.sh: could not create the openssl reference CA" >&2
	exit 1
fi
split_csrs "$tmp/p256.csr" "$n_ref" "$tmp/refp256" "digitalSignature, keyAgreement"
split_csrs "$tmp/rsa.csr" "$n_ref" "$tmp/refrsa" "digitalSignature, keyEncipherment"

# --- 1. P-256 issuing CA: smz vs openssl x509 -req loop ------------------
t_p256=$(smz_issue cap256 ec-p256 "$tmp/p256-a.csr" "$n_p256")
r_p256=$(rate "$n_p256" "$t_p256")
t_p256_ref=$(openssl_loop "$tmp/refp256" "$n_ref")
r_p256_ref=$(rate "$n_ref" "$t_p256_ref")

t_rsa=$(smz_issue cap256r ec-p256 "$tmp/rsa.csr" "$n_rsa")
r_rsa=$(rate "$n_rsa" "$t_rsa")
t_rsa_ref=$(openssl_loop "$tmp/refrsa" "$n_ref")
r_rsa_ref=$(rate "$n_ref" "$t_rsa_ref")

# --- 2. P-384 and RSA-2048 issuing CAs: smz vs openssl speed -------------
t_p384=$(smz_issue cap384 ec-p384 "$tmp/p256-b.csr" "$n_p384")
r_p384=$(rate "$n_p384" "$t_p384")
s_p384=$(speed_sign ecdsap384 4)

t_rsaca=$(smz_issue carsa rsa-2048 "$tmp/p256-c.csr" "$n_rsaca")
r_rsaca=$(rate "$n_rsaca" "$t_rsaca")
s_rsa=$(speed_sign rsa2048 2)

# the same with two workers, against two openssl speed processes
t_p384j=$(smz_issue cap384j ec-p384 "$tmp/p256-b.csr" "$n_p384" 2)
r_p384j=$(rate "$n_p384" "$t_p384j")
s_p384j=$(speed_sign ecdsap384 4 2)
t_rsacaj=$(smz_issue carsaj rsa-2048 "$tmp/p256-c.csr" "$n_rsaca" 2)
r_rsacaj=$(rate "$n_rsaca" "$t_rsacaj")
s_rsaj=$(speed_sign rsa2048 2 2)

# --- table ---------------------------------------------------------------
# row WHAT SMZ REF RATIO TARGET-OP TARGET  (numbers unrounded; "-" = none)
row() {
	awk -v what="$1" -v smz="$2" -v ref="$3" -v r="$4" -v op="$5" -v tg="$6" '
	function f(x) {
		if (x == "-" || x == "n/a") return x
		return (x + 0 >= 100) ? sprintf("%.0f", x) : sprintf("%.2f", x)
	}
	BEGIN {
		res = "-"; tgt = "-"
		if (tg != "-") {
			tgt = op tg
			res = (r + 0 >= tg + 0) ? "ok" : "MISS"
		}
		if (r != "-")
			r = sprintf((r + 0 >= 100) ? "%.0f" : (r + 0 >= 10) ? "%.1f" : "%.3f", r)
		printf "%-58s %10s %10s %8s %8s  %s\n", what, f(smz), f(ref), r, tgt, res
	}'
}

echo
printf '%-58s %10s %10s %8s %8s  %s\n' what smz reference ratio target result
row "P-256 CA, P-256 CSRs certs/s: smz ($n_p256) / x509 -req ($n_ref)" \
	"$r_p256" "$r_p256_ref" "$(ratio "$r_p256" "$r_p256_ref")" ">=" 50
row "P-256 CA, RSA CSRs certs/s: smz ($n_rsa) / x509 -req ($n_ref)" \
	"$r_rsa" "$r_rsa_ref" "$(ratio "$r_rsa" "$r_rsa_ref")" ">=" 50
row "P-384 CA certs/s: smz ($n_p384) / speed ecdsap384 sign/s" \
	"$r_p384" "$s_p384" "$(ratio "$r_p384" "$s_p384")" ">=" 0.80
row "RSA-2048 CA certs/s: smz ($n_rsaca) / speed rsa2048 sign/s" \
	"$r_rsaca" "$s_rsa" "$(ratio "$r_rsaca" "$s_rsa")" ">=" 0.80
row "P-384 CA certs/s: smz -j2 / speed -multi 2 ecdsap384" \
	"$r_p384j" "$s_p384j" "$(ratio "$r_p384j" "$s_p384j")" ">=" 0.80
row "RSA-2048 CA certs/s: smz -j2 / speed -multi 2 rsa2048" \
	"$r_rsacaj" "$s_rsaj" "$(ratio "$r_rsacaj" "$s_rsaj")" ">=" 0.80
row "P-384 CA certs/s: smz -j2 / speed ecdsap384 (1 process)" \
	"$r_p384j" "$s_p384" "$(ratio "$r_p384j" "$s_p384")" ">=" 0.80
row "RSA-2048 CA certs/s: smz -j2 / speed rsa2048 (1 process)" \
	"$r_rsacaj" "$s_rsa" "$(ratio "$r_rsacaj" "$s_rsa")" ">=" 0.80

echo
echo "raw figures of this run:"
awk -v a="$t_p256" -v ar="$t_p256_ref" -v b="$t_rsa" -v br="$t_rsa_ref" \
    -v c="$t_p384" -v d="$t_rsaca" -v sp="$s_p384" -v sr="$s_rsa" \
    -v na="$n_p256" -v nb="$n_rsa" -v nc="$n_p384" -v nd="$n_rsaca" \
    -v secs="$speed_secs" \
    -v load="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)" 'BEGIN {
	printf "  elapsed s: smz P-256 CA %.2f, x509 -req loop %.2f; smz P-256 CA RSA CSRs %.2f, x509 -req loop %.2f\n", a, ar, b, br
	printf "  elapsed s: smz P-384 CA %.2f, smz RSA-2048 CA %.2f; openssl speed %ss each: ecdsap384 %.0f sign/s, rsa2048 %.0f sign/s\n", c, d, secs, sp, sr
	printf "  smz ms/cert: P-256 CA %.3f, RSA CSRs %.3f, P-384 CA %.3f (sign %.3f), RSA-2048 CA %.3f (sign %.3f)\n", 1000 * a / na, 1000 * b / nb, 1000 * c / nc, 1000 / sp, 1000 * d / nd, 1000 / sr
	printf "  load average at end: %s\n", load
}'
