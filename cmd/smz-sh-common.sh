# shellcheck shell=sh disable=SC2034,SC2154 # a fragment: make pastes it into each program
# What smz-provision, smz-renew and smz-offboard share.  make pastes this
# into each at its line "# @COMMON@" (so the installed programs stand alone),
# after the program has set prog, synopsis, usage(), opt() and opts: its long
# options and -X short ones, NAME= for one taking a value.  The command line
# is read here: each option goes to opt -OPTION VALUE and each operand to
# opt '' OPERAND; what opt returns 1 for stays in "$@" (the vault unlock
# options, addresses), each path a word of its own.  --policy, -q, -h,
# --usage, --version and the hidden --smz-complete (what completions/gen.sh
# reads) are answered here.  Then a private temp dir, $tmp.
PATH="$(cd "$(dirname "$0")" && pwd):$PATH" # the sibling programs of this installation first
die() { echo "$prog: $1" >&2 && exit "${2:-$EX_USAGE}"; }
help() {
	usage && cat <<EOF
      --policy=FILE             policy file (default \$SMZ_POLICY, else
                                /etc/smz/policy.conf)
  -q, --quiet                   no summary
  -h, --help                    show this help
      --usage                   show a short usage message
      --version                 show the version
EOF
}
opts="$opts --policy= -q --quiet -h --help --usage --version" quiet=0 jobs=1 n=$# end=''
while [ "$n" -gt 0 ]; do
	a=$1 && shift && n=$((n - 1)) && o=$a v=''
	case $end$a in
	--) end=1 && continue ;;
	--?*=*) o=${a%%=*} v=${a#*=} ;;
	-[!-]?*) o=${a%"${a#-?}"} v=${a#-?} ;;
	-?*) ;;
	*) opt '' "$a" || set -- "$@" "$a"
		continue ;;
	esac
	case " $opts " in
	*" $o= "*) if [ "$o" = "$a" ]; then
			[ "$n" -gt 0 ] || die "$a needs an argument"
			v=$1 && shift && n=$((n - 1))
		fi ;;
	*" $o "*) [ "$o" = "$a" ] || die "$a: unknown option" ;;
	*) [ "$a" = --smz-complete ] || die "$a: unknown option" ;;
	esac
	case $o in
	--policy) SMZ_POLICY=$v && export SMZ_POLICY ;;
	-q | --quiet) quiet=1 ;;
	-h | --help) help && exit 0 ;;
	--usage) echo "Usage: $prog $synopsis" && exit 0 ;;
	--version) echo "$prog (smz) $(smz-vault --version | awk '{ print $NF }')" && exit 0 ;;
	--smz-complete) for o in $opts; do case $o in --*) echo "option ${o%=}" ;; esac; done && exit 0 ;;
	*) opt "$o" "$v" || set -- "$@" "$o" "$v" ;;
	esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$prog.XXXXXX") || exit "$EX_TEMPFAIL"
trap 'rm -rf "$tmp"' EXIT
trap 'exit "$EX_TEMPFAIL"' HUP INT TERM

# shellcheck disable=SC2317 # not every program uses every helper
# durable FILE: FILE.new becomes FILE, on disk before and after the rename
durable() { sync "$1.new" && mv -f "$1.new" "$1" && sync "$(dirname "$1")"; }

# bundles LIST [UNLOCK...]: fresh PKCS#12 bundles in $bundles for the
# addresses in LIST (smz-vault export takes up to 4096 addresses a run, and
# keeps the passwords of earlier runs); a failure is left in $code
# shellcheck disable=SC2317 # not every program uses every helper
bundles() {
	list=$1 && shift
	if [ -z "$bundles" ] || [ ! -s "$list" ]; then return 0; fi
	if [ $# -eq 0 ]; then
		echo "$prog: --bundles needs --passphrase-file or --share to read the keys" >&2 && code=$EX_USAGE && return 0
	fi
	split -l 4000 "$list" "$tmp/chunk."
	for c in "$tmp"/chunk.*; do
		smz-vault export -q -j "$jobs" "$@" --out "$bundles" --reason "$prog" - <"$c" >/dev/null || code=$?
	done
}
