# shellcheck shell=sh
# bench/common.sh: what sign.sh and recover.sh share: timing helpers, a work
# directory on tmpfs when there is one, and a policy, vault and CA in it.

now() { date +%s.%N; }
# el T0 T1: seconds between two `now` stamps
el() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
# rate COUNT SECONDS
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.6f", n / s }'; }

# bench_dir OVERRIDE NAME: a fresh directory for files that are one per
# message: on tmpfs when there is one, since both smz and the reference
# write a file per message, and a disk file system's inode allocation
# would be measured instead (ext4 without a journal skips recently freed
# inodes, at up to 300 us a file on these machines).
bench_dir() {
	d=$1
	[ -n "$d" ] || { [ -d /dev/shm ] && [ -w /dev/shm ] && d=/dev/shm; } || d=${TMPDIR:-/tmp}
	mktemp -d "$d/smz-bench-$2.XXXXXX"
}

# bench_pki DIR [EXTRA INI LINES]: policy.conf (P-256), policy-rsa.conf
# (RSA-2048) and outside.conf (no vault) in DIR; a vault (passphrase "pw",
# 2-of-3 shares in DIR/shares) and a CA.  Exports SMZ_POLICY.
bench_pki() {
	: "${bin:?bench_pki: set bin to the directory of the smz programs}"
	cat >"$1/policy.conf" <<EOP
[vault]
path = $1/vault
kdf = interactive
[ca]
path = $1/ca
crl_url = http://pki.example.com/smz.crl
issuer_url = http://pki.example.com/issuing.cer
[domains]
allowed = example.com
EOP
	shift_dir=$1
	shift
	for line in "$@"; do printf '%s\n' "$line" >>"$shift_dir/policy.conf"; done
	sed 's/^\[domains\]/[keys]\nalgorithm = rsa-2048\n[domains]/' "$shift_dir/policy.conf" >"$shift_dir/policy-rsa.conf"
	sed -e '/^\[vault\]/,/^\[/{/^path/d}' "$shift_dir/policy.conf" >"$shift_dir/outside.conf"
	SMZ_POLICY=$shift_dir/policy.conf
	export SMZ_POLICY
	printf 'pw\n' >"$shift_dir/pw"
	"$bin/smz-vault" init -q --passphrase-file "$shift_dir/pw" --shares 3 --threshold 2 \
		--share-out "$shift_dir/shares"
	"$bin/smz-issue" init -q --no-passphrase
}
