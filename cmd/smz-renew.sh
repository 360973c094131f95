#!/bin/sh
# smz-renew: everyone whose newest valid certificate expires within the
# renewal window gets a new key, a new certificate, the directory entry
# replaced, and with --bundles a fresh bundle that still holds the old keys.
#
#   smz-renew [--dry-run] [--within DAYS] [--ca-passphrase-file F]
#             [--passphrase-file F | --share F...] [--bundles DIR]
#             [--ldif FILE] [--no-directory] [--policy F]
set -u
prog=smz-renew
EX_USAGE=64
here=$(cd "$(dirname "$0")" && pwd)
PATH="$here:$PATH"

usage() {
	cat <<EOF
Usage: $prog [OPTION...]
Renew the certificates that expire within the renewal window.

      --dry-run                 print who is due, change nothing
      --within=DAYS             the window (default: policy [renewal] window_days)
      --ca-passphrase-file=FILE the CA key passphrase
      --passphrase-file=FILE    the vault passphrase (for --bundles)
      --share=FILE              a vault recovery share (for --bundles; repeat)
      --bundles=DIR             fresh PKCS#12 bundles, with every earlier key
      --ldif=FILE               write the directory changes as LDIF
      --no-directory            leave the directory alone
      --policy=FILE             policy file (default \$SMZ_POLICY, else
                                /etc/smz/policy.conf)
  -q, --quiet                   no summary
  -h, --help                    show this help
      --usage                   show a short usage message
      --version                 show the version
EOF
}

need() { [ "$2" -ge 2 ] || { echo "$prog: $1 needs an argument" >&2; exit $EX_USAGE; }; }
dry=0 within='' capass='' vpass='' shares='' bundles='' ldif='' nodir=0 quiet=0
while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) dry=1 ;;
	--within=*) within=${1#*=} ;;
	--within) need "$1" $#; within=$2; shift ;;
	--ca-passphrase-file=*) capass=${1#*=} ;;
	--ca-passphrase-file) need "$1" $#; capass=$2; shift ;;
	--passphrase-file=*) vpass=${1#*=} ;;
	--passphrase-file) need "$1" $#; vpass=$2; shift ;;
	--share=*) shares="$shares --share ${1#*=}" ;;
	--share) need "$1" $#; shares="$shares --share $2"; shift ;;
	--bundles=*) bundles=${1#*=} ;;
	--bundles) need "$1" $#; bundles=$2; shift ;;
	--ldif=*) ldif=${1#*=} ;;
	--ldif) need "$1" $#; ldif=$2; shift ;;
	--no-directory) nodir=1 ;;
	--policy=*) SMZ_POLICY=${1#*=}; export SMZ_POLICY ;;
	--policy) need "$1" $#; SMZ_POLICY=$2; export SMZ_POLICY; shift ;;
	-q | --quiet) quiet=1 ;;
	-h | --help) usage; exit 0 ;;
	--usage) echo "Usage: $prog [--dry-run] [--within DAYS] [--ca-passphrase-file F] [--passphrase-file F | --share F...] [--bundles DIR] [--ldif FILE] [--no-directory] [--policy F]"; exit 0 ;;
	--version) echo "$prog (smz) $(smz-vault --version | awk '{ print $NF }')"; exit 0 ;;
	--smz-complete)
		for o in dry-run within ca-passphrase-file passphrase-file share bundles ldif no-directory policy quiet help usage version; do
			echo "option --$o"
		done
		exit 0 ;;
	-?*) echo "$prog: $1: unknown option" >&2; exit $EX_USAGE ;;
	*) echo "$prog: no arguments expected" >&2; exit $EX_USAGE ;;
	esac
	shift
done
policy=${SMZ_POLICY:-/etc/smz/policy.conf}
if [ -z "$within" ]; then
	within=$(awk -F= '/^\[/ { s = $0 } s == "[renewal]" && $1 ~ /^window_days[ \t]*$/ { sub(/^[ \t]+/, "", $2); sub(/[ \t;].*/, "", $2); print $2 }' "$policy" 2>/dev/null)
	within=${within:-30}
fi
within=${within%d}
case $within in '' | *[!0-9]*) echo "$prog: --within: expected a number of days" >&2; exit $EX_USAGE ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smz-renew.XXXXXX") || exit 75
trap 'rm -rf "$tmp"' EXIT
trap 'exit 75' HUP INT TERM

# due: addresses whose NEWEST valid certificate expires within the window
# (one renewed already has a later one, so a re-run leaves it alone)
smz-issue list >"$tmp/list" || exit $?
limit=$(($(date +%s) + within * 86400))
# A person is the key smz-issue address-keys makes of the address (lib/addr:
# policy [vault] local_part), so certificates whose addresses differ only in
# case are one person's when the policy says so.
awk -F'\t' 'NR > 1 && $6 == "valid" { print $2 }' "$tmp/list" | sort -u >"$tmp/addrs"
smz-issue address-keys - <"$tmp/addrs" >"$tmp/keys" 2>/dev/null
case $? in 0 | 65) ;; *) echo "$prog: smz-issue address-keys failed" >&2; exit 70 ;; esac
awk -F'\t' 'FILENAME == ARGV[1] { if (FNR > 1) k[$2] = $1; next }
	FNR > 1 && $6 == "valid" && ($2 in k) { print k[$2] "\t" $5 "\t" $2 }' "$tmp/keys" "$tmp/list" |
	sort -t "$(printf '\t')" -k1,1 -k2,2r | awk -F'\t' '!seen[$1]++ { print $3 "\t" $2 }' >"$tmp/newest"
while IFS="$(printf '\t')" read -r addr notafter; do
	t=$(date -d "$notafter" +%s 2>/dev/null) || continue
	[ "$t" -le "$limit" ] && printf '%s\t%s\n' "$addr" "$notafter"
done <"$tmp/newest" >"$tmp/due"
n=$(wc -l <"$tmp/due")
if [ $dry = 1 ]; then
	printf 'address\tnot_after\n'
	cat "$tmp/due"
	[ $quiet = 1 ] || echo "$prog: $n due within $within days" >&2
	exit 0
fi
code=0
if [ "$n" -gt 0 ]; then
	capass_opt=''
	[ -n "$capass" ] && capass_opt="--passphrase-file $capass"
	# a new key each (vaulted first; attach supersedes the old one), or with
	# policy [renewal] reuse_key = yes the stored request of the same key
	# (smz-issue does not count a certificate inside the window as current)
	reuse=$(awk -F= '/^\[/ { s = $0 } s == "[renewal]" && $1 ~ /^reuse_key[ \t]*$/ { sub(/^[ \t]+/, "", $2); sub(/[ \t;].*/, "", $2); print $2 }' "$policy" 2>/dev/null)
	how=--new-key
	[ "$reuse" = yes ] && how=--reuse-key
	# shellcheck disable=SC2086
	cut -f1 "$tmp/due" | smz-keygen -q --addresses $how - | smz-issue -q $capass_opt |
		smz-vault attach -q >"$tmp/new.pem"
	status=$?
	[ $status -eq 0 ] || { echo "$prog: renewal failed (exit $status); run again" >&2; code=$status; }
	if [ $nodir = 0 ] && [ -s "$tmp/new.pem" ]; then
		if [ -n "$ldif" ]; then
			smz-publish -q --uri - --ldif "$ldif" "$tmp/new.pem" >/dev/null || code=$?
		elif awk -F= '/^\[/ { s = $0 } s == "[ldap]" && $1 ~ /^uri[ \t]*$/ { f = 1 } END { exit !f }' "$policy" 2>/dev/null; then
			smz-publish -q "$tmp/new.pem" >/dev/null || { rc=$?; echo "$prog: the directory was not updated (exit $rc)" >&2; code=$rc; }
		fi
	fi
	if [ -n "$bundles" ]; then
		set --
		while IFS="$(printf '\t')" read -r a _; do set -- "$@" --address "$a"; done <"$tmp/due"
		if [ -n "$vpass" ]; then
			smz-vault export -q --passphrase-file "$vpass" --out "$bundles" --reason "smz-renew" "$@" >/dev/null || code=$?
		elif [ -n "$shares" ]; then
			# shellcheck disable=SC2086
			smz-vault export -q $shares --out "$bundles" --reason "smz-renew" "$@" >/dev/null || code=$?
		else
			echo "$prog: --bundles needs --passphrase-file or --share to read the keys" >&2
			code=$EX_USAGE
		fi
	fi
fi
[ $quiet = 1 ] || echo "$prog: $n renewed (due within $within days)" >&2
exit $code
