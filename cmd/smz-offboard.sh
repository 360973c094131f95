#!/bin/sh
# shellcheck disable=SC2034,SC2154 # the rest is cmd/smz-sh-common.sh, pasted in by make
# smz-offboard: people who left.  Their certificates are revoked
# (affiliationChanged), withdrawn from the directory, and a fresh CRL is
# published; their keys stay in the vault for recovery.  Re-running is
# safe: what is revoked already stays as it is.  Whose certificates these
# are, and the safety stop, are smz-issue plan --leavers's; this carries out
# its plan.
set -eu
# @SYSEXITS@
prog=smz-offboard
synopsis='[--dry-run] [--force] [--ca-passphrase-file F] [--crl-out F] [--no-directory] [--policy F] ADDRESS... | -'
opts='--dry-run --force --ca-passphrase-file= --crl-out= --no-directory --reason='
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
EOF
}
dry=0 force='' capass='' crlout='' nodir=0 reason=affiliationChanged
opt() {
	case $1 in
	--dry-run) dry=1 ;;
	--force) force=1 ;;
	--ca-passphrase-file) capass=$2 ;;
	--crl-out) crlout=$2 ;;
	--no-directory) nodir=1 ;;
	--reason) reason=$2 ;;
	'') return 1 ;; # the addresses stay in "$@"
	esac
}
# @COMMON@ (cmd/smz-sh-common.sh: the command line, die, $tmp, durable, bundles)
[ $# -gt 0 ] || die "expected addresses, or - to read them from standard input"

# the plan: a leave row for every valid certificate of someone named
bad=0
if [ "$1" = - ] && [ $# -eq 1 ]; then cat; else printf '%s\n' "$@"; fi |
	smz-issue plan -q --leavers ${force:+--force} - >"$tmp/plan" || bad=$?
case $bad in 0 | "$EX_DATAERR") ;; *) exit "$bad" ;; esac
if [ $dry = 1 ]; then
	printf 'address\tserial\taction\n'
	awk -F'\t' 'NR > 1 { print $2 "\t" $3 "\t" ($1 == "leave" ? "revoke, unpublish" : "nothing (" $4 ")") }' "$tmp/plan"
	exit 0
fi
# people WHAT: the people the plan has a row "WHAT" for (action and reason)
people() { awk -F'\t' -v w="$1" 'NR > 1 && ($1 == w || $1 " (" $4 ")" == w) && !s[$2]++ { n++ } END { print n + 0 }' "$tmp/plan"; }

code=0
cadir=$(smz-issue plan --setting ca)
# Serials revoked but not yet withdrawn and named in a CRL wait in the CA
# directory, so that a run killed in between finishes the next time.
state=$cadir/offboard
mkdir -p "$state" || exit "$EX_CANTCREAT"
awk -F'\t' 'NR > 1 && $1 == "leave" { print $2 "\t" $3 }' "$tmp/plan" >"$tmp/revoke"
if [ -s "$tmp/revoke" ]; then
	{ [ ! -e "$state/pending" ] || cat "$state/pending"; cat "$tmp/revoke"; } | sort -u >"$state/pending.new"
	durable "$state/pending" || exit "$EX_CANTCREAT"
fi
if [ -s "$state/pending" ]; then cp "$state/pending" "$tmp/revoke"; fi
awk -F'\t' -v p="$prog" '$4 == "no certificate from this CA" { print p ": " $2 ": no certificate from this CA, nothing to do" }' "$tmp/plan" >&2
cut -f2 "$tmp/revoke" | sort -u >"$tmp/serials"
if [ -s "$tmp/serials" ]; then
	# 1. revoked, by serial: the CA database is the record, a re-run finds them revoked
	set --
	while read -r s; do set -- "$@" "$s"; done <"$tmp/serials"
	smz-issue revoke -q --reason "$reason" "$@" >/dev/null || code=$?
	# 2. withdrawn from the directory
	if [ $nodir = 0 ] && [ -n "$(smz-issue plan --setting ldap-uri)" ]; then
		smz-publish -q --remove --serial-file "$tmp/serials" >/dev/null ||
			{ rc=$? && echo "$prog: the directory was not updated (exit $rc); run again" >&2 && code=$rc; }
	fi
	# 3. a CRL that names them
	smz-issue crl -q ${capass:+--passphrase-file "$capass"} --out "${crlout:-$cadir/crl.pem}" || code=$?
	if [ "$code" -eq 0 ]; then rm -f "$state/pending"; fi
fi
unknown=$(people "nothing (no certificate from this CA)")
[ $quiet = 1 ] || echo "$prog: $(people leave) off-boarded ($(($(wc -l <"$tmp/revoke"))) certificates revoked and withdrawn), $(people "nothing (off-boarded before)") off-boarded before, $unknown unknown; keys kept in the vault" >&2
if [ "$code" -eq 0 ] && { [ "$unknown" -gt 0 ] || [ "$bad" -ne 0 ]; }; then code=$EX_DATAERR; fi
exit "$code"
