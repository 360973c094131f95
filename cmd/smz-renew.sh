#!/bin/sh
# smz-renew: everyone whose newest valid certificate expires within the
# renewal window gets a new key, a new certificate, the directory entry
# replaced, and with --bundles a fresh bundle that still holds the old keys.
# Who is due is smz-issue plan --renewals's; this carries out its plan.
set -eu
# @SYSEXITS@
prog=smz-renew
here=$(cd "$(dirname "$0")" && pwd)
PATH="$here:$PATH" # the sibling programs of this installation first

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
die() { echo "$prog: $1" >&2 && exit "${2:-$EX_USAGE}"; }

dry=0 within='' capass='' bundles='' ldif='' nodir=0 quiet=0 n=$#
# options are taken out; the vault's unlock options stay in "$@", every
# path a word of its own
while [ "$n" -gt 0 ]; do
	a=$1 && shift && n=$((n - 1))
	case $a in --within=* | --ca-passphrase-file=* | --passphrase-file=* | --share=* | --bundles=* | --ldif=* | --policy=*)
		set -- "${a#*=}" "$@" && n=$((n + 1)) && a=${a%%=*} ;;
	esac
	case $a in --within | --ca-passphrase-file | --passphrase-file | --share | --bundles | --ldif | --policy)
		[ "$n" -gt 0 ] || die "$a needs an argument"
		v=$1 && shift && n=$((n - 1)) ;;
	esac
	case $a in
	--dry-run) dry=1 ;;
	--within) within=$v ;;
	--ca-passphrase-file) capass=$v ;;
	--passphrase-file | --share) set -- "$@" "$a" "$v" ;;
	--bundles) bundles=$v ;;
	--ldif) ldif=$v ;;
	--no-directory) nodir=1 ;;
	--policy) SMZ_POLICY=$v && export SMZ_POLICY ;;
	-q | --quiet) quiet=1 ;;
	-h | --help) usage && exit 0 ;;
	--usage) echo "Usage: $prog [--dry-run] [--within DAYS] [--ca-passphrase-file F] [--passphrase-file F | --share F...] [--bundles DIR] [--ldif FILE] [--no-directory] [--policy F]" && exit 0 ;;
	--version) echo "$prog (smz) $(smz-vault --version | awk '{ print $NF }')" && exit 0 ;;
	--smz-complete) printf 'option --%s\n' dry-run within ca-passphrase-file passphrase-file share bundles ldif no-directory policy quiet help usage version && exit 0 ;;
	-?*) die "$a: unknown option" ;;
	*) die "no arguments expected" ;;
	esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$prog.XXXXXX") || exit "$EX_TEMPFAIL"
trap 'rm -rf "$tmp"' EXIT
trap 'exit "$EX_TEMPFAIL"' HUP INT TERM
# due: people whose NEWEST valid certificate ends within the window (one
# renewed already has a later one, so a re-run leaves them alone); the
# plan names that certificate first
smz-issue plan -q --renewals ${within:+--within "$within"} >"$tmp/plan" || exit $?
within=${within:-$(smz-issue plan --setting window-days)}
awk -F'\t' 'NR > 1 && $1 == "renew" && !s[$2]++ { sub(/^expires /, "", $4); print $2 "\t" $4 }' "$tmp/plan" >"$tmp/due"
n=$(($(wc -l <"$tmp/due")))
if [ $dry = 1 ]; then
	printf 'address\tnot_after\n' && cat "$tmp/due"
	[ $quiet = 1 ] || echo "$prog: $n due within ${within%d} days" >&2
	exit 0
fi
code=0
if [ "$n" -gt 0 ]; then
	# a new key each (vaulted first; attach supersedes the old one), or with
	# policy [renewal] reuse_key = yes the stored request of the same key
	how=--new-key
	if [ "$(smz-issue plan --setting reuse-key)" = yes ]; then how=--reuse-key; fi
	st=0
	cut -f1 "$tmp/due" | smz-keygen -q --addresses "$how" - | smz-issue -q ${capass:+--passphrase-file "$capass"} |
		smz-vault attach -q >"$tmp/new.pem" || st=$?
	if [ $st -ne 0 ]; then echo "$prog: renewal failed (exit $st); run again" >&2 && code=$st; fi
	if [ $nodir = 0 ] && [ -s "$tmp/new.pem" ] && { [ -n "$ldif" ] || [ -n "$(smz-issue plan --setting ldap-uri)" ]; }; then
		smz-publish -q ${ldif:+--uri - --ldif "$ldif"} "$tmp/new.pem" >/dev/null ||
			{ st=$? && echo "$prog: the directory was not updated (exit $st)" >&2 && code=$st; }
	fi
	# bundles with every key of theirs (smz-vault export: 4096 addresses a run)
	if [ -z "$bundles" ]; then :
	elif [ $# -eq 0 ]; then
		echo "$prog: --bundles needs --passphrase-file or --share to read the keys" >&2 && code=$EX_USAGE
	else
		cut -f1 "$tmp/due" | split -l 4000 - "$tmp/chunk."
		for c in "$tmp"/chunk.*; do
			smz-vault export -q "$@" --out "$bundles" --reason smz-renew - <"$c" >/dev/null || code=$?
		done
	fi
fi
[ $quiet = 1 ] || echo "$prog: $n renewed (due within ${within%d} days)" >&2
exit "$code"
