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
# Addresses are compared by the key smz-issue address-keys makes (lib/addr:
# the domain's case never counts, the local part's only with policy
# [vault] local_part = sensitive), never by a rule of our own.
bad=0
if [ "$1" = - ] && [ $# -eq 1 ]; then
	cat
else
	printf '%s\n' "$@"
fi | smz-issue address-keys - >"$tmp/who.keys"
rc=$?
case $rc in 0) ;; 65) bad=1 ;; *) exit $rc ;; esac
# who: key, address (as given, normalised), each person once
awk -F'\t' 'NR > 1 && !seen[$1]++' "$tmp/who.keys" >"$tmp/who"

# what the CA knows: its certificates with the key of each address
smz-issue list >"$tmp/list" || exit $?
# (an address the CA holds that lib/addr no longer accepts matches nobody)
awk -F'\t' 'NR > 1 { print $2 }' "$tmp/list" | sort -u | smz-issue address-keys - >"$tmp/list.keys" 2>/dev/null
rc=$?
case $rc in 0 | 65) ;; *) exit $rc ;; esac
awk -F'\t' 'FILENAME == ARGV[1] { if (FNR > 1) k[$2] = $1; next }
	FNR > 1 && ($2 in k) && ($6 == "valid" || $6 == "revoked") { print k[$2] "\t" $2 "\t" $1 "\t" $6 }' \
	"$tmp/list.keys" "$tmp/list" >"$tmp/certs"
# valid: key, address, serial
awk -F'\t' '$4 == "valid" { print $1 "\t" $2 "\t" $3 }' "$tmp/certs" | sort >"$tmp/valid"
active=$(cut -f1 "$tmp/valid" | sort -u | wc -l)
# the plan: address, serial of every valid certificate of someone named
awk -F'\t' 'FILENAME == ARGV[1] { w[$1] = 1; next } ($1 in w) { print $2 "\t" $3 }' "$tmp/who" "$tmp/valid" >"$tmp/plan"
leaving=$(awk -F'\t' 'FILENAME == ARGV[1] { w[$1] = 1; next } ($1 in w) { print $1 }' "$tmp/who" "$tmp/valid" | sort -u | wc -l)
# off-boarded before (a re-run): revoked certificates and no valid one;
# unknown: no certificate at all
awk -F'\t' 'FILENAME == ARGV[1] { if ($4 == "valid") v[$1] = 1; else r[$1] = 1; next }
	!($1 in v) { print ($1 in r) ? "before\t" $2 : "unknown\t" $2 }' "$tmp/certs" "$tmp/who" >"$tmp/other"
done_before=$(awk -F'\t' '$1 == "before" { print $2 }' "$tmp/other")
unknown=$(awk -F'\t' '$1 == "unknown" { print $2 }' "$tmp/other")

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
# 1. revoke, by serial: exactly the certificates the plan matched (by
#    address the CA would match without the policy's local_part); the CA
#    database is the record, re-running finds them revoked
cut -f2 "$tmp/plan" | sort -u >"$tmp/serials"
while read -r s; do
	smz-issue revoke -q --reason "$reason" "$s" >>"$tmp/revoked" || code=$?
done <"$tmp/serials"
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
[ "$code" -eq 0 ] && { [ -n "$unknown" ] || [ $bad = 1 ]; } && code=$EX_DATAERR
exit "$code"
