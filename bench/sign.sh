#!/bin/sh
# bench/sign.sh - smz-sign in batch mode (4 KB messages; sign, encrypt,
# decrypt, verify) against `openssl cms` run once per message, as a script
# would, for P-256 and RSA-2048 keys; then one 100 MB message through each
# operation, MB/s and peak memory beside openssl cms.  Same run, same
# machine: only the ratios mean anything; see bench/README.
#   SMZ_BENCH_BINDIR          binaries (default: ../cmd)
#   SMZ_BENCH_SIGN_N          messages per smz batch (default 1000)
#   SMZ_BENCH_SIGN_REF        messages per openssl loop (default 40)
#   SMZ_BENCH_SIGN_BIG_MB     size of the large message (default 100; 0 skips)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${SMZ_BENCH_BINDIR:-$top/cmd}
n=${SMZ_BENCH_SIGN_N:-1000}
nref=${SMZ_BENCH_SIGN_REF:-40}
big=${SMZ_BENCH_SIGN_BIG_MB:-100}
unseal=$top/tests/helpers/unseal
[ -x "$unseal" ] || { echo "sign.sh: $unseal not built (run make first)" >&2; exit 1; }
. "$here/common.sh"
tmp=$(bench_dir "${SMZ_BENCH_SIGN_DIR:-}" sign)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$tmp"
bench_pki "$tmp" "[gateway]" "unlock_file = $tmp/gw.key"
printf 'email\nalice@example.com\nbob@example.com\n' >ec.csv
printf 'email\nralice@example.com\nrbob@example.com\n' >rsa.csv
"$bin/smz-keygen" -q ec.csv | "$bin/smz-issue" -q | "$bin/smz-vault" attach -q >ec.pem
SMZ_POLICY=$tmp/policy-rsa.conf "$bin/smz-keygen" -q rsa.csv |
	"$bin/smz-issue" -q | "$bin/smz-vault" attach -q >rsa.pem
"$bin/smz-vault" gateway-key -q --passphrase-file pw "$tmp/gw.key"
"$unseal" vault pw >keys.txt
for u in alice bob ralice rbob; do
	awk -v a="$u@example.com" '/^# /{on = ($2 == a); next} on' keys.txt >"$u.key"
	cat ec.pem rsa.pem | awk -v a="$u@example.com" '
		/-----BEGIN/ { buf = "" } { buf = buf $0 "\n" }
		/-----END/ { print buf > "tmp.pem"; close("tmp.pem")
			cmd = "openssl x509 -noout -email -in tmp.pem"; cmd | getline e; close(cmd)
			if (e == a) printf "%s", buf > (a ".pem") }'
done

# 4 KB messages, plain text
body=$(awk 'BEGIN { for (i = 0; i < 55; i++) printf "line %02d of a four kilobyte message body, plain text here.\n", i }')
mkmsgs() { # DIR FROM TO COUNT
	mkdir -p "$1"
	i=1
	while [ "$i" -le "$4" ]; do
		printf 'From: %s\nTo: %s\nSubject: bench %d\nMessage-ID: <%d.%s>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n%s\n' \
			"$2" "$3" "$i" "$i" "$1" "$body" >"$1/m$i.eml"
		i=$((i + 1))
	done
}

# time_smz OP DIR IN_SUFFIX OUT_SUFFIX ARGS: seconds for one batch over DIR/*IN_SUFFIX
time_smz() {
	op=$1 dir=$2 in=$3 out=$4
	shift 4
	t0=$(now)
	find "$dir" -name "*$in" | "$bin/smz-sign" -q "$op" --batch --suffix "$out" "$@" \
		>"$tmp/out$op" || { echo "sign.sh: smz-sign $op failed" >&2; exit 1; }
	t1=$(now)
	el "$t0" "$t1"
}

results=
row() { results="$results$1|$2|$3|$4
"; }

for alg in p256 rsa; do
	if [ $alg = p256 ]; then from=alice to=bob; else from=ralice to=rbob; fi
	mkmsgs "$alg" "$from@example.com" "$to@example.com" "$n"
	mkmsgs "$alg-ref" "$from@example.com" "$to@example.com" "$nref"
	ts=$(time_smz --sign "$alg" .eml .s)
	te=$(time_smz --encrypt "$alg" .eml .e)
	td=$(time_smz --decrypt "$alg" .eml.e .d)
	tv=$(time_smz --verify "$alg" .eml.s .v --trust "$tmp/ca/root.pem")
	ts2=$(time_smz --sign "$alg" .eml .s2 -j 2)
	te2=$(time_smz --encrypt "$alg" .eml .e2 -j 2)
	td2=$(time_smz --decrypt "$alg" .eml.e .d2 -j 2)
	tv2=$(time_smz --verify "$alg" .eml.s .v2 -j 2 --trust "$tmp/ca/root.pem")
	got=$(find "$alg" -name '*.eml.e.d' | wc -l)
	ok=$(grep -c ': OK signer=' "$tmp/out--verify")
	[ "$got" -eq "$n" ] && [ "$ok" -eq "$n" ] ||
		{ echo "sign.sh: $got decrypted and $ok verified messages, expected $n" >&2; exit 1; }
	# openssl cms, once per message
	r=$alg-ref
	t0=$(now)
	for f in "$r"/m*.eml; do
		openssl cms -sign -in "$f" -signer "$from@example.com.pem" -inkey "$from.key" \
			-certfile ca/issuing.pem -out "$f.s"
	done
	t1=$(now)
	for f in "$r"/m*.eml; do
		openssl cms -encrypt -aes256 -in "$f" -out "$f.e" "$to@example.com.pem" "$from@example.com.pem"
	done
	t2=$(now)
	for f in "$r"/m*.eml.e; do
		openssl cms -decrypt -in "$f" -recip "$to@example.com.pem" -inkey "$to.key" -out "$f.d"
	done
	t3=$(now)
	for f in "$r"/m*.eml.s; do
		openssl cms -verify -in "$f" -CAfile ca/root.pem -out /dev/null 2>/dev/null
	done
	t4=$(now)
	nr=$nref
	target=20; [ $alg = rsa ] && target=10
	rs=$(rate "$nref" "$(el "$t0" "$t1")") re=$(rate "$nr" "$(el "$t1" "$t2")")
	rd=$(rate "$nr" "$(el "$t2" "$t3")") rv=$(rate "$nref" "$(el "$t3" "$t4")")
	row "msgs/s sign $alg -j1" "$(rate "$n" "$ts")" "$rs" "$target"
	row "msgs/s encrypt $alg -j1" "$(rate "$n" "$te")" "$re" "$target"
	row "msgs/s decrypt $alg -j1" "$(rate "$n" "$td")" "$rd" "$target"
	row "msgs/s verify $alg -j1" "$(rate "$n" "$tv")" "$rv" "$target"
	row "msgs/s sign $alg -j2" "$(rate "$n" "$ts2")" "$rs" "-"
	row "msgs/s encrypt $alg -j2" "$(rate "$n" "$te2")" "$re" "-"
	row "msgs/s decrypt $alg -j2" "$(rate "$n" "$td2")" "$rd" "-"
	row "msgs/s verify $alg -j2" "$(rate "$n" "$tv2")" "$rv" "-"
done

echo
echo "smz-sign benchmark: 4 KB messages, smz --batch ($n) vs one openssl cms per message ($nref)"
echo "  files on $(df -T "$tmp" | awk 'NR == 2 { print $2 }') ($(dirname "$tmp")); -j2 lines: two smz workers against the same one-process loop"
printf '%-34s %10s %10s %8s %8s  %s\n' what smz openssl ratio target result
printf '%s' "$results" | awk -F'|' '{ x = $2 / $3
	if ($4 == "-") { printf "%-34s %10.1f %10.1f %8.1f %8s  %s\n", $1, $2, $3, x, "-", "-"; next }
	printf "%-34s %10.1f %10.1f %8.1f %8s  %s\n", $1, $2, $3, x, ">=" $4, (x >= $4 ? "ok" : "MISS") }'

[ "$big" -gt 0 ] || exit 0
# one large message: a 100 MB base64 attachment
{
	printf 'From: alice@example.com\nTo: bob@example.com\nSubject: big\nMIME-Version: 1.0\n'
	printf 'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nsee attached\n--b\n'
	printf 'Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n'
	head -c $((big * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76
	printf -- '--b--\n'
} >big.eml
mb=$(awk -v b="$(wc -c <big.eml)" 'BEGIN { printf "%.1f", b / 1048576 }')
# peak RSS (MB) and seconds of COMMAND, output to OUT
measure() { # OUT COMMAND...
	out=$1
	shift
	if ! /usr/bin/time -f '%M %e' -o "$tmp/time" "$@" >"$out" 2>/dev/null; then
		echo "sign.sh: failed: $*" >&2
		exit 1
	fi
	awk '!/status/ { printf "%.0f %.2f", $1 / 1024, $2 }' "$tmp/time"
}
set -- \
	"sign" "$bin/smz-sign -q --sign big.eml" "openssl cms -sign -stream -in big.eml -signer alice@example.com.pem -inkey alice.key -certfile ca/issuing.pem" \
	"encrypt" "$bin/smz-sign -q --encrypt big.eml" "openssl cms -encrypt -stream -aes256 -in big.eml bob@example.com.pem alice@example.com.pem" \
	"decrypt" "$bin/smz-sign -q --decrypt big.e" "openssl cms -decrypt -in big.oe -recip bob@example.com.pem -inkey bob.key" \
	"verify" "$bin/smz-sign -q --verify --trust ca/root.pem big.s" "openssl cms -verify -in big.os -CAfile ca/root.pem"
echo
echo "one $mb MB message: MB/s and peak memory (MB), smz-sign vs openssl cms"
printf '%-10s %10s %10s %10s %10s\n' op "smz MB/s" "smz MB" "ossl MB/s" "ossl MB"
while [ $# -gt 0 ]; do
	op=$1 smz=$2 ref=$3
	shift 3
	case $op in
	sign) so=big.s oo=big.os ;;
	encrypt) so=big.e oo=big.oe ;;
	*) so=/dev/null oo=/dev/null ;;
	esac
	# shellcheck disable=SC2086
	s=$(measure "$so" $smz)
	# shellcheck disable=SC2086
	o=$(measure "$oo" $ref)
	echo "$op $s $o" | awk -v mb="$mb" '{ printf "%-10s %10.1f %10d %10.1f %10d\n", $1, mb / $3, $2, mb / $5, $4 }'
done
