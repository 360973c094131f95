#!/bin/sh
# bench/storage.sh - how the vault and the CA database grow: bytes per person
# of each database, and the keygen -> issue -> attach rate while the vault
# fills, in slices of SMALL people up to BIG people: the first slice (an
# empty vault growing to SMALL) against the last (BIG - SMALL to BIG).  One
# run, one machine: only the ratio of the two rates means anything; see
# bench/README.
#   SMZ_BENCH_BINDIR           binaries (default: ../cmd)
#   SMZ_BENCH_STORE_SMALL      people per slice (default 10000)
#   SMZ_BENCH_STORE_BIG        people in the end (default 100000)
#   SMZ_BENCH_STORE_DIR        where the vault and CA go (default: tmpfs
#                              when there is one; about 1 GB at 100,000)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${SMZ_BENCH_BINDIR:-$top/cmd}
small=${SMZ_BENCH_STORE_SMALL:-10000}
big=${SMZ_BENCH_STORE_BIG:-100000}
if [ "$big" -lt "$small" ] || [ $((big % small)) -ne 0 ]; then
	echo "storage.sh: SMZ_BENCH_STORE_BIG must be a multiple of SMZ_BENCH_STORE_SMALL" >&2
	exit 1
fi
# shellcheck source=bench/common.sh
. "$here/common.sh"
tmp=$(bench_dir "${SMZ_BENCH_STORE_DIR:-}" storage)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$tmp"
bench_pki "$tmp"

# dbbytes DIR: bytes of the database files (what a backup copies; the
# environment's region files and the log are counted apart)
dbbytes() { cat "$1"/*.db "$1"/*.idx | wc -c; }
# dirbytes DIR: everything in the directory, region files and log included
dirbytes() { du -sk "$1" | awk '{ print $1 * 1024 }'; }
# ovfl DIR FILE: page size and overflow pages of a btree (db5.3_stat -d)
ovfl() {
	command -v db5.3_stat >/dev/null 2>&1 || { echo "n/a"; return; }
	db5.3_stat -h "$1" -d "$2" | awk '/Underlying database page size/ { p = $1 }
		/Number of tree overflow pages/ { o = $1 }
		/Number of bytes free in tree leaf pages/ { match($0, /[0-9]+% ff/); f = substr($0, RSTART, RLENGTH - 3) }
		END { printf "page %s, overflow pages %s, leaf fill %s", p, o, f }'
}

# One slice: SMALL new people through the pipeline into the same vault and
# CA; prints "seconds cpu-seconds" (cpu: user + system of the three
# programs, "n/a" without /usr/bin/time).
slice() { # FIRST-NUMBER
	awk -v a="$1" -v n="$small" 'BEGIN { print "email"
		for (i = a; i < a + n; i++) printf "user%d@example.com\n", i }' >r.csv
	timer=
	[ -x /usr/bin/time ] && timer="/usr/bin/time -f %U+%S -o cpu"
	t0=$(now)
	# shellcheck disable=SC2016 # $1 is the inner shell's
	$timer sh -c '"$1/smz-keygen" -q r.csv | "$1/smz-issue" -q | "$1/smz-vault" attach -q >out.pem' sh "$bin"
	t1=$(now)
	got=$(grep -c 'BEGIN CERTIFICATE' out.pem || true)
	[ "$got" -eq "$small" ] || { echo "storage.sh: $got of $small people through the pipeline" >&2; exit 1; }
	c=n/a
	[ -z "$timer" ] || c=$(tail -n 1 cpu | awk -F+ '{ printf "%.2f", $1 + $2 }')
	echo "$(el "$t0" "$t1") $c"
}

done_n=0 rates='' first='' last='' cpu_first='' cpu_last=''
while [ "$done_n" -lt "$big" ]; do
	# shellcheck disable=SC2046 # two words
	set -- $(slice $((done_n + 1)))
	done_n=$((done_n + small))
	r=$(rate "$small" "$1")
	rates="$rates $(printf "%.1f" "$r")"
	[ -n "$first" ] || { first=$r cpu_first=$2; v_small=$(dbbytes vault) c_small=$(dbbytes ca); }
	last=$r cpu_last=$2
done
v_big=$(dbbytes vault) c_big=$(dbbytes ca)

echo
echo "vault and CA database growth: keygen -> issue -> attach (P-256, no renewals) in slices of $small people up to $big"
printf '%-56s %10s %10s %8s %8s  %s\n' what smz reference ratio target result
{
	echo "bytes/person vault databases at $big|$(awk -v b="$v_big" -v n="$big" 'BEGIN { print b / n }')|-|-|<=|1536"
	echo "bytes/person CA databases at $big|$(awk -v b="$c_big" -v n="$big" 'BEGIN { print b / n }')|-|-|<=|1536"
	echo "people/s last $small (at $big) / first $small (empty vault)|$last|$first|$(awk -v a="$last" -v b="$first" 'BEGIN { print a / b }')|>=|0.90"
} | awk -F'|' '{
	if ($5 == "<=") { printf "%-56s %10.0f %10s %8s %8s  %s\n", $1, $2, $3, $4, "<=" $6, ($2 <= $6 ? "ok" : "MISS"); next }
	printf "%-56s %10.1f %10.1f %8.2f %8s  %s\n", $1, $2, $3, $4, ">=" $6, ($4 >= $6 ? "ok" : "MISS") }'
echo "raw figures of this run:"
echo "  people/s per slice:$rates"
echo "  cpu seconds (user+system, 3 programs) of the first slice $cpu_first, of the last $cpu_last"
awk -v vs="$v_small" -v cs="$c_small" -v n="$small" 'BEGIN { printf "  bytes/person at %d: vault %.0f, CA %.0f\n", n, vs / n, cs / n }'
for d in vault ca; do
	printf '  %s: database files %s bytes, whole directory (region files, log) %s bytes\n' "$d" "$(dbbytes $d)" "$(dirbytes $d)"
	for f in "$d"/*.db "$d"/*.idx; do printf '    %-10s %11s bytes\n' "${f#*/}" "$(wc -c <"$f")"; done
done
echo "  vault keys.db: $(ovfl vault keys.db); CA certs.db: $(ovfl ca certs.db)"
echo "  load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
