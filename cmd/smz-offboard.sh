#!/bin/sh
# smz-offboard: people who left.  Their certificates are revoked
# (affiliationChanged), withdrawn from the directory, and a fresh CRL is
# published; their keys stay in the vault for recovery.  Re-running is
# safe: what is revoked already stays as it is.
#
#   smz-offboard [--dry-run] [--force] [--ca-passphrase-file F] [--crl-out F]
#                [--no-directory] [--policy F] ADDRESS... | -
set -u
prog=smz-offboard
EX_USAGE=64 EX_DATAERR=65 EX_NOPERM=77
here=$(cd "$(dirname "$0")" && pwd)
# the sibling programs of this installation first
PATH="$here:$PATH"

usage() {
	cat <<EOF
Usage: $prog [OPTION...] ADDRESS... | -
Revoke (affiliationChanged), unpublish and re-issue the CRL for people who
left; their keys stay in the vault.

      --dry-run                 print the plan, change nothing
      --force                   go beyond policy [offboarding] max_fraction
      --ca-passphrase-file=FILE the CA key passphrase (for the CRL)
      --crl-out=FILE            write the new CRL here (default: CA/crl.pem)
      --no-directory            do not touch the directory
      --reason=REASON           the revocation reason (default affiliationChanged;
                                superseded for an address change)
      --policy=FILE             policy file (default \$SMZ_POLICY, else
                                /etc/smz/policy.conf)
  -q, --quiet                   no summary
  -h, --help                    show this help
      --usage                   show a short usage message
      --version                 show the version
EOF
}

dry=0 force=0 capass='' crlout='' nodir=0 quiet=0 reason=affiliationChanged
while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) dry=1 ;;
	--force) force=1 ;;
	--ca-passphrase-file=*) capass=${1#*=} ;;
	--ca-passphrase-file) [ $# -ge 2 ] || { echo "$prog: $1 needs FILE" >&2; exit $EX_USAGE; }; capass=$2; shift ;;
	--crl-out=*) crlout=${1#*=} ;;
	--crl-out) [ $# -ge 2 ] || { echo "$prog: $1 needs FILE" >&2; exit $EX_USAGE; }; crlout=$2; shift ;;
	--no-directory) nodir=1 ;;
	--reason=*) reason=${1#*=} ;;
	--reason) [ $# -ge 2 ] || { echo "$prog: $1 needs REASON" >&2; exit $EX_USAGE; }; reason=$2; shift ;;
	--policy=*) SMZ_POLICY=${1#*=}; export SMZ_POLICY ;;
	--policy) [ $# -ge 2 ] || { echo "$prog: $1 needs FILE" >&2; exit $EX_USAGE; }; SMZ_POLICY=$2; export SMZ_POLICY; shift ;;
	-q | --quiet) quiet=1 ;;
	-h | --help) usage; exit 0 ;;
	--usage) echo "Usage: $prog [--dry-run] [--force] [--ca-passphrase-file F] [--crl-out F] [--no-directory] [--policy F] ADDRESS... | -"; exit 0 ;;
	--version) echo "$prog (smz) $(smz-vault --version | awk '{ print $NF }')"; exit 0 ;;
	--smz-complete)
		for o in dry-run force ca-passphrase-file crl-out no-directory reason policy quiet help usage version; do
			echo "option --$o"
		done
		exit 0 ;;
	--) shift; break ;;
	-?*) echo "$prog: $1: unknown option" >&2; exit $EX_USAGE ;;
	*) break ;;
	esac
	shift
done
[ $# -gt 0 ] || { echo "$prog: expected addresses, or - to read them from standard input" >&2; exit $EX_USAGE; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smz-offboard.XXXXXX") || exit 75
trap 'rm -rf "$tmp"' EXIT
trap 'exit 75' HUP INT TERM
if [ "$1" = - ] && [ $# -eq 1 ]; then
	cat
else
	printf '%s\n' "$@"
fi | tr '[:upper:]' '[:lower:]' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | awk 'NF && !seen[$0]++' >"$tmp/who"

# what the CA knows: the valid certificates, by address
smz-issue list >"$tmp/list" || exit $?
awk -F'\t' 'NR > 1 && $6 == "valid" { print $2 "\t" $1 }' "$tmp/list" | sort >"$tmp/valid"
active=$(cut -f1 "$tmp/valid" | sort -u | wc -l)
awk -F'\t' 'NR == FNR { w[$1] = 1; next } ($1 in w)' "$tmp/who" "$tmp/valid" >"$tmp/plan"
leaving=$(cut -f1 "$tmp/plan" | sort -u | wc -l)
# off-boarded before (a re-run): revoked certificates and no valid one
awk -F'\t' 'NR > 1 && $6 == "revoked" { print $2 }' "$tmp/list" | sort -u >"$tmp/revoked-before"
done_before=$(cut -f1 "$tmp/valid" | sort -u | awk 'NR == FNR { v[$1] = 1; next } !($1 in v)' - "$tmp/revoked-before" |
	awk 'NR == FNR { r[$1] = 1; next } ($1 in r)' - "$tmp/who")
unknown=$(cat "$tmp/valid" "$tmp/revoked-before" | cut -f1 | sort -u |
	awk 'NR == FNR { k[$1] = 1; next } !($1 in k)' - "$tmp/who")

# the plan: address, serial
if [ $dry = 1 ]; then
	printf 'address\tserial\taction\n'
	awk -F'\t' '{ print $1 "\t" $2 "\trevoke, unpublish" }' "$tmp/plan"
	for a in $done_before; do printf '%s\t\tnothing (off-boarded before)\n' "$a"; done
	for a in $unknown; do printf '%s\t\tnothing (no certificate from this CA)\n' "$a"; done
	exit 0
fi

# the safety stop: a truncated roster or a wrong list must not revoke half the company
max=$(awk -F= '/^\[/ { s = $0 } s == "[offboarding]" && $1 ~ /^max_fraction[ \t]*$/ { sub(/^[ \t]+/, "", $2); sub(/[ \t;].*/, "", $2); print $2 }' \
	"${SMZ_POLICY:-/etc/smz/policy.conf}" 2>/dev/null)
max=${max:-0.10}
if [ $force = 0 ] && [ "$leaving" -gt 0 ] &&
	awk -v l="$leaving" -v a="$active" -v m="$max" 'BEGIN { exit !(l > m * a) }'; then
	echo "$prog: refusing to off-board $leaving of $active people (more than $max of them; policy [offboarding] max_fraction); --force if this is right" >&2
	exit $EX_NOPERM
fi

code=0
# Serials revoked but not yet withdrawn and named in a CRL wait in the CA
# directory, so that a run killed in between finishes the next time.
cadir=${SMZ_CA:-$(awk -F= '/^\[/ { s = $0 } s == "[ca]" && $1 ~ /^path[ \t]*$/ { gsub(/^[ \t]+|[ \t]+$/, "", $2); print $2 }' "${SMZ_POLICY:-/etc/smz/policy.conf}")}
state=$cadir/offboard
mkdir -p "$state" || exit 73
if [ -s "$tmp/plan" ]; then
	{ [ -e "$state/pending" ] && cat "$state/pending"; cat "$tmp/plan"; } | sort -u >"$state/pending.new" &&
		mv "$state/pending.new" "$state/pending" || exit 73
fi
[ -s "$state/pending" ] && cp "$state/pending" "$tmp/plan"
for a in $unknown; do
	echo "$prog: $a: no certificate from this CA, nothing to do" >&2
done
# 1. revoke: the CA database is the record; re-running finds them revoked
cut -f1 "$tmp/plan" | sort -u >"$tmp/addrs"
while read -r a; do
	smz-issue revoke -q --reason "$reason" --address "$a" >>"$tmp/revoked" || code=$?
done <"$tmp/addrs"
# 2. withdraw them from the directory
if [ $nodir = 0 ] && [ -s "$tmp/plan" ] &&
	awk -F= '/^\[/ { s = $0 } s == "[ldap]" && $1 ~ /^uri[ \t]*$/ { f = 1 } END { exit !f }' "${SMZ_POLICY:-/etc/smz/policy.conf}" 2>/dev/null; then
	set --
	for s in $(cut -f2 "$tmp/plan"); do set -- "$@" --serial "$s"; done
	smz-publish -q --remove "$@" >"$tmp/unpublished" || { rc=$?; echo "$prog: the directory was not updated (exit $rc); run again" >&2; code=$rc; }
fi
# 3. a CRL that names them
if [ -s "$tmp/plan" ]; then
	out=${crlout:-$cadir/crl.pem}
	if [ -n "$capass" ]; then
		smz-issue crl -q --passphrase-file "$capass" --out "$out" || code=$?
	else
		smz-issue crl -q --out "$out" || code=$?
	fi
	[ "$code" -eq 0 ] && rm -f "$state/pending"
fi
[ $quiet = 1 ] || echo "$prog: $leaving off-boarded ($(wc -l <"$tmp/plan") certificates revoked and withdrawn), $(echo "$done_before" | awk 'NF' | wc -l) off-boarded before, $(echo "$unknown" | awk 'NF' | wc -l) unknown; keys kept in the vault" >&2
[ "$code" -eq 0 ] && [ -n "$unknown" ] && code=$EX_DATAERR
exit "$code"
