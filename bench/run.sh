#!/bin/sh
# bench/run.sh - smz-keygen throughput against references measured in the
# same run (openssl CLI, in-process libcrypto, openssl speed), then
# bench/issue.sh for smz-issue.  Only the ratios mean anything; see
# bench/README.
#
# Usage: sh bench/run.sh            (or: make bench)
# Environment:
#   SMZ_BENCH_P256_ROWS  rows of the P-256 smz run        (default 2000)
#   SMZ_BENCH_P256_REF   rows of the P-256 openssl loop   (default 50)
#   SMZ_BENCH_RSA_N      RSA-2048 keys of each smz run and of the
#                        in-process reference             (default 100)
#   SMZ_BENCH_RSA_REF    rows of the RSA openssl loop     (default 10)
#   SMZ_BENCH_SPEED_SECS seconds per openssl speed test   (default 3)
#   and the SMZ_BENCH_ISSUE_* variables of bench/issue.sh, the
#   SMZ_BENCH_STORE_* ones of bench/storage.sh, and so on (bench/README)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
keygen=$top/cmd/smz-keygen
vaultcmd=$top/cmd/smz-vault
issuecmd=$top/cmd/smz-issue

p256_rows=${SMZ_BENCH_P256_ROWS:-2000}
p256_ref=${SMZ_BENCH_P256_REF:-50}
rsa_n=${SMZ_BENCH_RSA_N:-100}
rsa_ref=${SMZ_BENCH_RSA_REF:-10}
speed_secs=${SMZ_BENCH_SPEED_SECS:-3}

for p in "$keygen" "$vaultcmd" "$issuecmd"; do
	if [ ! -x "$p" ]; then
		echo "run.sh: $p not built (run make first)" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smz-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Private copies, so that a rebuild of the tree during the run cannot mix
# two builds into one table.
cp "$keygen" "$vaultcmd" "$issuecmd" "$top/cmd/smz-publish" "$top/cmd/smz-sign" "$top/cmd/smz-recover" "$top/cmd/smz-api" \
	"$top/cmd/smz-provision" "$top/cmd/smz-offboard" "$top/cmd/smz-renew" "$tmp/"
keygen=$tmp/smz-keygen
vaultcmd=$tmp/smz-vault

now() { date +%s.%N; }

# elapsed T0 T1: seconds between two `now` stamps
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# rate COUNT SECONDS
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.6f", n / s }'; }

# ratio A B
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a / b }'; }

# count_csrs FILE: number of PEM certificate requests in FILE
count_csrs() { grep -c 'BEGIN CERTIFICATE REQUEST' "$1" || true; }

# check_count WHAT FILE EXPECTED
check_count() {
	got=$(count_csrs "$2")
	if [ "$got" -ne "$3" ]; then
		echo "run.sh: $1 wrote $got CSRs, expected $3" >&2
		exit 1
	fi
}

# roster FILE ROWS: a CSV roster of ROWS people at example.com
roster() {
	awk -v n="$2" 'BEGIN {
		print "email,given name,surname"
		for (i = 1; i <= n; i++)
			printf "user%d@example.com,Given%d,Surname%d\n", i, i, i
	}' >"$1"
}

# new_vault NAME ALGORITHM: fresh policy + empty vault under $tmp/NAME,
# exported as SMZ_POLICY.  Not timed.
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

# openssl_loop ROWS GENPKEY-ARGS...: the per-row shell loop with the
# openssl CLI; prints its elapsed seconds.  Output in $tmp/ossl.pem.
openssl_loop() {
	n=$1
	shift
	d=$tmp/ossl
	rm -rf "$d"
	mkdir "$d"
	: >"$tmp/ossl.pem"
	t0=$(now)
	i=1
	while [ "$i" -le "$n" ]; do
		openssl genpkey "$@" -out "$d/key.pem" 2>/dev/null
		openssl req -new -key "$d/key.pem" \
			-subj "/CN=Given$i Surname$i/emailAddress=user$i@example.com" \
			-addext "subjectAltName=email:user$i@example.com" >>"$tmp/ossl.pem"
		i=$((i + 1))
	done
	t1=$(now)
	check_count "openssl loop" "$tmp/ossl.pem" "$n"
	elapsed "$t0" "$t1"
}

# smz_run ROSTER ROWS OUT [ARGS...]: time smz-keygen on a fresh vault
# (new_vault must have been called); prints elapsed seconds.
smz_run() {
	r=$1 n=$2 out=$3
	shift 3
	t0=$(now)
	"$keygen" -q "$@" "$r" >"$out"
	t1=$(now)
	check_count "smz-keygen $*" "$out" "$n"
	elapsed "$t0" "$t1"
}

# speed_sign PROCS: openssl speed rsa2048 sign/s, with PROCS processes
speed_sign() {
	if [ "$1" -gt 1 ]; then
		set -- -multi "$1"
	else
		set --
	fi
	openssl speed -mr "$@" -seconds "$speed_secs" rsa2048 2>/dev/null |
		awk -F: '/^\+F2:/ { v = $4 }
			END { if (v == "" || v + 0 <= 0) exit 1
			      if (v + 0 < 1) v = 1 / v	# old builds print seconds/op
			      printf "%.6f", v }'
}

printf 'pw\n' >"$tmp/pw"

# --- machine ------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1) || true
ncpu=$(nproc 2>/dev/null) || ncpu='?'
echo "smz-keygen benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $ncpu CPUs, ${cpu:-unknown CPU}; $(openssl version)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
if grep -qa -e __asan_init -e __ubsan_handle "$keygen"; then
	echo "WARNING: smz-keygen is built with sanitizers (SANITIZE=1): figures are meaningless"
fi

# --- in-process reference program ---------------------------------------
cc -O2 -o "$tmp/rsagen" "$here/rsagen.c" -lcrypto

# --- 1. P-256: smz vs openssl CLI, plus peak RSS of the smz run ---------
roster "$tmp/p256.csv" "$p256_rows"
new_vault p256 ec-p256
rss=n/a
if [ -x /usr/bin/time ] && /usr/bin/time -f %M -o "$tmp/rss" true 2>/dev/null; then
	t0=$(now)
	/usr/bin/time -f %M -o "$tmp/rss" "$keygen" -q "$tmp/p256.csv" >"$tmp/p256.pem"
	t1=$(now)
	check_count smz-keygen "$tmp/p256.pem" "$p256_rows"
	t_p256=$(elapsed "$t0" "$t1")
	rss=$(tail -n 1 "$tmp/rss")
else
	t_p256=$(smz_run "$tmp/p256.csv" "$p256_rows" "$tmp/p256.pem")
fi
r_p256=$(rate "$p256_rows" "$t_p256")
new_vault p256j2 ec-p256
t_p256_j2=$(smz_run "$tmp/p256.csv" "$p256_rows" "$tmp/p256j2.pem" -j 2)
r_p256_j2=$(rate "$p256_rows" "$t_p256_j2")
t_p256_ref=$(openssl_loop "$p256_ref" -algorithm EC -pkeyopt ec_paramgen_curve:P-256)
r_p256_ref=$(rate "$p256_ref" "$t_p256_ref")

# --- 2. RSA-2048 -j 1: vs openssl CLI and vs in-process keygen ----------
roster "$tmp/rsa.csv" "$rsa_n"
new_vault rsa1 rsa-2048
line=$("$tmp/rsagen" "$rsa_n")
r_inproc=$(echo "$line" | sed -n 's/.*keys_per_s=\([0-9.]*\).*/\1/p')
cv=$(echo "$line" | sed -n 's/.*cv=\([0-9.]*\).*/\1/p')
t_rsa1=$(smz_run "$tmp/rsa.csv" "$rsa_n" "$tmp/rsa1.pem" -j 1)
r_rsa1=$(rate "$rsa_n" "$t_rsa1")
t_rsa_ref=$(openssl_loop "$rsa_ref" -algorithm RSA -pkeyopt rsa_keygen_bits:2048)
r_rsa_ref=$(rate "$rsa_ref" "$t_rsa_ref")

# --- 3. -j 2 scaling: smz vs openssl speed -------------------------------
new_vault rsa2 rsa-2048
t_rsa2=$(smz_run "$tmp/rsa.csv" "$rsa_n" "$tmp/rsa2.pem" -j 2)
r_rsa2=$(rate "$rsa_n" "$t_rsa2")
s1=$(speed_sign 1)
s2=$(speed_sign 2)

sc_smz=$(ratio "$r_rsa2" "$r_rsa1")
sc_ossl=$(ratio "$s2" "$s1")

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
row "P-256 rows/s: smz ($p256_rows rows) / openssl CLI ($p256_ref)" \
	"$r_p256" "$r_p256_ref" "$(ratio "$r_p256" "$r_p256_ref")" ">=" 50
row "P-256 rows/s: smz -j2 ($p256_rows rows) / openssl CLI ($p256_ref)" \
	"$r_p256_j2" "$r_p256_ref" "$(ratio "$r_p256_j2" "$r_p256_ref")" ">=" 50
row "RSA-2048 rows/s: smz -j1 ($rsa_n rows) / openssl CLI ($rsa_ref)" \
	"$r_rsa1" "$r_rsa_ref" "$(ratio "$r_rsa1" "$r_rsa_ref")" - -
row "RSA-2048 keys/s: smz -j1 / in-process keygen (N=$rsa_n)" \
	"$r_rsa1" "$r_inproc" "$(ratio "$r_rsa1" "$r_inproc")" ">=" 0.90
row "RSA-2048 -j2/-j1 scaling: smz (N=$rsa_n) / openssl speed" \
	"$sc_smz" "$sc_ossl" "$(ratio "$sc_smz" "$sc_ossl")" ">=" 0.90
row "peak RSS KiB: smz P-256 $p256_rows rows" "$rss" - - - -

echo
echo "raw figures of this run:"
awk -v p="$t_p256" -v pr="$t_p256_ref" -v r1="$t_rsa1" -v r2="$t_rsa2" \
    -v rr="$t_rsa_ref" -v rate2="$r_rsa2" -v s1="$s1" -v s2="$s2" \
    -v n="$rsa_n" -v cv="$cv" -v secs="$speed_secs" \
    -v load="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)" 'BEGIN {
	printf "  elapsed s: smz P-256 %.2f, openssl P-256 loop %.2f, smz RSA -j1 %.2f, -j2 %.2f, openssl RSA loop %.2f\n", p, pr, r1, r2, rr
	printf "  smz RSA -j2: %.2f rows/s; openssl speed rsa2048 (%ss): %.0f sign/s 1 process, %.0f sign/s 2 processes\n", rate2, secs, s1, s2
	printf "  load average at end: %s\n", load
	printf "  RSA keygen time per key varies (cv %.2f): a rate over N=%d keys is +-%.1f%%, a ratio of two +-%.1f%% (1 sd)\n", cv, n, 100 * cv / sqrt(n), 100 * cv * sqrt(2 / n)
}'

# --- smz-issue, with the same private copies of the binaries --------------
SMZ_BENCH_BINDIR=$tmp SMZ_BENCH_SPEED_SECS=$speed_secs sh "$here/issue.sh"
SMZ_BENCH_BINDIR=$tmp sh "$here/export.sh"
SMZ_BENCH_BINDIR=$tmp sh "$here/publish.sh"
SMZ_BENCH_BINDIR=$tmp sh "$here/sign.sh"
SMZ_BENCH_BINDIR=$tmp sh "$here/api.sh"
SMZ_BENCH_BINDIR=$tmp SMZ_BENCH_SPEED_SECS=$speed_secs sh "$here/recover.sh"
SMZ_BENCH_BINDIR=$tmp sh "$here/provision.sh"
SMZ_BENCH_BINDIR=$tmp sh "$here/storage.sh"
