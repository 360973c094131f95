#!/bin/sh
# shellcheck disable=SC2034,SC2154 # the rest is cmd/smz-sh-common.sh, pasted in by make
# smz-renew: everyone whose newest valid certificate expires within the
# renewal window gets a new key, a new certificate, the directory entry
# replaced, and with --bundles a fresh bundle that still holds the old keys.
# Who is due is smz-issue plan --renewals's; this carries out its plan.
set -eu
# @SYSEXITS@
prog=smz-renew
synopsis='[--dry-run] [--within DAYS] [--ca-passphrase-file F] [--passphrase-file F | --share F...] [--bundles DIR] [--ldif FILE] [--no-directory] [--policy F]'
opts='--dry-run --within= --ca-passphrase-file= --passphrase-file= --share= --bundles= --ldif= --no-directory'
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
EOF
}
dry=0 within='' capass='' bundles='' ldif='' nodir=0
opt() {
	case $1 in
	--dry-run) dry=1 ;;
	--within) within=$2 ;;
	--ca-passphrase-file) capass=$2 ;;
	--passphrase-file | --share) return 1 ;; # the vault's: kept in "$@"
	--bundles) bundles=$2 ;;
	--ldif) ldif=$2 ;;
	--no-directory) nodir=1 ;;
	'') die "no arguments expected" ;;
	esac
}
# @COMMON@ (cmd/smz-sh-common.sh: the command line, die, $tmp, durable, bundles)

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
	cut -f1 "$tmp/due" >"$tmp/renewing"
	st=0
	smz-keygen -q --addresses "$how" - <"$tmp/renewing" | smz-issue -q ${capass:+--passphrase-file "$capass"} |
		smz-vault attach -q >"$tmp/new.pem" || st=$?
	if [ $st -ne 0 ]; then echo "$prog: renewal failed (exit $st); run again" >&2 && code=$st; fi
	if [ $nodir = 0 ] && [ -s "$tmp/new.pem" ] && { [ -n "$ldif" ] || [ -n "$(smz-issue plan --setting ldap-uri)" ]; }; then
		smz-publish -q ${ldif:+--uri - --ldif "$ldif"} "$tmp/new.pem" >/dev/null ||
			{ st=$? && echo "$prog: the directory was not updated (exit $st)" >&2 && code=$st; }
	fi
	bundles "$tmp/renewing" "$@" # with every key of theirs
fi
[ $quiet = 1 ] || echo "$prog: $n renewed (due within ${within%d} days)" >&2
exit "$code"
