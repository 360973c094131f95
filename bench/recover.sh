#!/bin/sh
# bench/recover.sh - smz-recover over small encrypted messages (RSA-2048
# and P-256 recipients) against a shell loop of `openssl cms -decrypt` that
# picks the right key per message, -j 1 and -j 2 (scaling beside
# `openssl speed -multi 2`), then MB/s and peak memory over a large mbox.
# One run, one machine: only the ratios mean anything; see bench/README.
#   SMZ_BENCH_BINDIR            binaries (default: ../cmd)
#   SMZ_BENCH_RECOVER_N         messages per algorithm (default 5000; 10,000 in all)
#   SMZ_BENCH_RECOVER_REF       messages per algorithm for the openssl loop (default 40)
#   SMZ_BENCH_RECOVER_MBOX_MB   size of the large mbox (default 1024; 0 skips)
#   SMZ_BENCH_SPEED_SECS        seconds per openssl speed test (default 3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${SMZ_BENCH_BINDIR:-$top/cmd}
n=${SMZ_BENCH_RECOVER_N:-5000}
nref=${SMZ_BENCH_RECOVER_REF:-40}
mbox_mb=${SMZ_BENCH_RECOVER_MBOX_MB:-1024}
secs=${SMZ_BENCH_SPEED_SECS:-3}
unseal=$top/tests/helpers/unseal
[ -x "$unseal" ] || { echo "recover.sh: $unseal not built (run make first)" >&2; exit 1; }
. "$here/common.sh"
tmp=$(bench_dir "${SMZ_BENCH_RECOVER_DIR:-}" recover)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$tmp"
bench_pki "$tmp"
printf 'email\npat@example.com\n' >ec.csv
printf 'email\nrob@example.com\n' >rsa.csv
"$bin/smz-keygen" -q ec.csv | "$bin/smz-issue" -q | "$bin/smz-vault" attach -q >pat.pem
SMZ_POLICY=$tmp/policy-rsa.conf "$bin/smz-keygen" -q rsa.csv |
	"$bin/smz-issue" -q | "$bin/smz-vault" attach -q >rob.pem
"$unseal" vault pw >keys.txt
for u in pat rob; do awk -v a="$u@example.com" '/^# /{on = ($2 == a); next} on' keys.txt >$u.key; done
shares="--share shares/share-1-of-3.txt --share shares/share-2-of-3.txt"

body=$(awk 'BEGIN { for (i = 0; i < 40; i++) printf "line %02d of an archived message, plain text here.\n", i }')
mkmsgs() { # DIR TO COUNT: COUNT messages encrypted to TO's certificate, by smz-sign --batch
	mkdir -p "$1/cur" "$1/new" "$1/tmp"
	i=1
	while [ "$i" -le "$3" ]; do
		printf 'From: partner@other.org\nTo: %s\nSubject: archived %d\nMessage-ID: <%d.%s@other.org>\nMIME-Version: 1.0\nContent-Type: text/plain\n\n%s\n' \
			"$2" "$i" "$i" "$(basename "$1")" "$body" >"$1/cur/m$i"
		i=$((i + 1))
	done
	find "$1/cur" -type f | SMZ_POLICY=$tmp/outside.conf "$bin/smz-sign" -q --encrypt --batch -j 2 \
		--suffix .p7 --to "$2" --cert "$(echo "$2" | cut -d@ -f1).pem" >/dev/null
	for f in "$1"/cur/m*.p7; do mv "$f" "${f%.p7}:2,"; done
	find "$1/cur" -type f ! -name '*:2,' -delete
}

results=
row() { results="$results$1|$2|$3|$4
"; }
for u in pat rob; do
	mkmsgs "$u" "$u@example.com" "$n"
	mkmsgs "$u-ref" "$u@example.com" "$nref"
	t0=$(now)
	"$bin/smz-recover" -q -j 1 --case B --reason bench $shares --out "out1-$u" "$u" >r1 2>/dev/null
	t1=$(now)
	"$bin/smz-recover" -q -j 2 --case B --reason bench $shares --out "out2-$u" "$u" >r2 2>/dev/null
	t2=$(now)
	got=$(awk -F'\t' '$9 == "decrypted"' r1 | wc -l)
	[ "$got" -eq "$n" ] || { echo "recover.sh: $got of $n decrypted" >&2; exit 1; }
	# the reference: one openssl per message, the key picked by its To: address
	mkdir "ref-$u"
	t3=$(now)
	for f in "$u-ref"/cur/*; do
		to=$(sed -n 's/^To: \([a-z]*\)@.*/\1/p' "$f" | head -n 1)
		openssl cms -decrypt -in "$f" -recip "$to.pem" -inkey "$to.key" -out "ref-$u/$(basename "$f")"
	done
	t4=$(now)
	target=20; [ $u = rob ] && target=10
	alg=P-256; [ $u = rob ] && alg=RSA-2048
	r1=$(rate "$n" "$(el "$t0" "$t1")") r2=$(rate "$n" "$(el "$t1" "$t2")")
	rr=$(rate "$nref" "$(el "$t3" "$t4")")
	row "msgs/s $alg: smz -j1 / openssl loop" "$r1" "$rr" "$target"
	row "msgs/s $alg: smz -j2 / openssl loop" "$r2" "$rr" "-"
	[ $u = rob ] && { rob1=$r1; rob2=$r2; }
done
# what the machine gives two processes, for the scaling target
s1=$(openssl speed -seconds "$secs" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $6 }')
s2=$(openssl speed -multi 2 -seconds "$secs" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $6 }')
row "RSA-2048 -j2/-j1 scaling: smz / openssl speed" "$(awk -v a="$rob2" -v b="$rob1" 'BEGIN { print a / b }')" \
	"$(awk -v a="$s2" -v b="$s1" 'BEGIN { print a / b }')" "0.9"

echo
echo "smz-recover benchmark: $n small encrypted messages per algorithm (Maildir, $(df -T "$tmp" | awk 'NR == 2 { print $2 }')), openssl cms -decrypt loop over $nref"
printf '%-48s %10s %10s %8s %8s  %s\n' what smz reference ratio target result
printf '%s' "$results" | awk -F'|' '{ x = $2 / $3
	if ($4 == "-") { printf "%-48s %10.2f %10.2f %8.2f %8s  %s\n", $1, $2, $3, x, "-", "-"; next }
	printf "%-48s %10.2f %10.2f %8.2f %8s  %s\n", $1, $2, $3, x, ">=" $4, (x >= $4 ? "ok" : "MISS") }'

[ "$mbox_mb" -gt 0 ] || exit 0
# a large mbox: 100 KB messages to both, repeated up to the size asked for
mkdir big
big_body=$(head -c 75000 /dev/zero | tr '\0' 'x' | fold -w 76)
i=1
while [ $i -le 100 ]; do
	to=pat; [ $((i % 2)) = 0 ] && to=rob
	printf 'From: partner@other.org\nTo: %s@example.com\nSubject: big %d\nMessage-ID: <big%d@other.org>\nMIME-Version: 1.0\nContent-Type: text/plain\n\n%s\n' \
		$to $i $i "$big_body" >big/m$i
	SMZ_POLICY=$tmp/outside.conf "$bin/smz-sign" -q --encrypt --to $to@example.com --cert $to.pem big/m$i >big/e$i
	i=$((i + 1))
done
for f in big/e*; do printf 'From MAILER-DAEMON Mon Mar  3 10:00:00 2025\n'; cat "$f"; echo; done >chunk.mbox
chunk=$(wc -c <chunk.mbox)
reps=$(( (mbox_mb * 1048576 + chunk - 1) / chunk ))
k=0
while [ $k -lt "$reps" ]; do cat chunk.mbox; k=$((k + 1)); done >big.mbox
rm -rf big
mb=$(awk -v b="$(wc -c <big.mbox)" 'BEGIN { printf "%.0f", b / 1048576 }')
small=$(awk -v b="$chunk" 'BEGIN { printf "%.1f", b / 1048576 }')
/usr/bin/time -f '%M %e' -o small.time "$bin/smz-recover" -q --case B --reason bench $shares chunk.mbox >/dev/null 2>&1 || true
/usr/bin/time -f '%M %e' -o big1.time "$bin/smz-recover" -q --case B --reason bench $shares --out bigout1 big.mbox >/dev/null 2>&1 || true
rm -rf bigout1
/usr/bin/time -f '%M %e' -o big2.time "$bin/smz-recover" -q -j 2 --case B --reason bench $shares --out bigout2 big.mbox >/dev/null 2>&1 || true
echo
echo "one $mb MB mbox ($reps x 100 messages of 100 KB, Maildir output): MB/s and peak memory"
for t in small big1 big2; do tail -n 1 $t.time; done | awk -v mb="$mb" -v small="$small" '
	NR == 1 { printf "  %s MB mbox, -j1: peak %.0f MB\n", small, $1 / 1024 }
	NR == 2 { printf "  %s MB mbox, -j1: %.1f MB/s, peak %.0f MB\n", mb, mb / $2, $1 / 1024 }
	NR == 3 { printf "  %s MB mbox, -j2: %.1f MB/s, peak %.0f MB per process\n", mb, mb / $2, $1 / 1024 }'
