#!/bin/sh
# shellcheck disable=SC2034,SC2154 # the rest is cmd/smz-sh-common.sh, pasted in by make
# smz-provision: bring the CA, vault and directory in line with an HR roster.
# smz-issue plan says who joins, moves, leaves or stays (refusing to off-board
# more than policy [offboarding] max_fraction); this carries it out.  Every step
# can be repeated: a re-run after a crash finishes the work, a second changes nothing.
set -eu
# @SYSEXITS@
prog=smz-provision
synopsis='[--dry-run] [--force] [--ca-passphrase-file F] [--passphrase-file F | --share F...] [--bundles DIR] [--ldif FILE] [--no-directory] [--json] [--policy F] ROSTER.csv'
opts='--dry-run --force --ca-passphrase-file= --passphrase-file= --share= --bundles= --ldif= --no-directory --json -j= --jobs='
usage() {
	cat <<EOF
Usage: $prog [OPTION...] ROSTER.csv
Provision joiners and off-board leavers from an HR roster export.

      --dry-run                 print the plan (TSV, or --json), change nothing
      --force                   off-board beyond policy [offboarding] max_fraction
      --ca-passphrase-file=FILE the CA key passphrase
      --passphrase-file=FILE    the vault passphrase (for --bundles)
      --share=FILE              a vault recovery share (for --bundles; repeat)
      --bundles=DIR             PKCS#12 bundles for everyone who got a certificate
      --ldif=FILE               write the directory changes as LDIF, not to a server
      --no-directory            leave the directory alone
      --json                    the plan as JSON lines
  -j, --jobs=N                  N workers for keys, certificates and bundles
EOF
}
dry=0 force='' capass='' bundles='' ldif='' nodir='' json=0 roster=''
opt() {
	case $1 in
	--dry-run) dry=1 ;;
	--force) force=1 ;;
	--ca-passphrase-file) capass=$2 ;;
	--passphrase-file | --share) return 1 ;; # the vault's: kept in "$@"
	--bundles) bundles=$2 ;;
	--ldif) ldif=$2 ;;
	--no-directory) nodir=1 ;;
	--json) json=1 ;;
	-j | --jobs) jobs=$2 ;;
	'') [ -z "$roster" ] || die "expected one roster file"; roster=$2 ;;
	esac
}
# @COMMON@ (cmd/smz-sh-common.sh: the command line, die, $tmp, durable, bundles)
[ -n "$roster" ] || die "expected one roster file"
case $jobs in '' | *[!0-9]*) die "-j: expected a number" ;; esac
[ -r "$roster" ] || die "$roster: cannot read" "$EX_NOINPUT"
# 1. the plan, before anything changes (bad roster rows: EX_DATAERR at the end)
code=0
smz-issue plan -q ${force:+--force} "$roster" >"$tmp/plan" || code=$?
case $code in 0 | "$EX_DATAERR") ;; *) exit "$code" ;; esac
# people ACTIONS: how many people the plan gives one of ACTIONS (a regex)
people() { awk -F'\t' -v a="^($1)\$" 'NR > 1 && $1 ~ a && !s[$2]++ { n++ } END { print n + 0 }' "$tmp/plan"; }
summary="$(people join) joiners, $(people move) movers, $(people leave) leavers, $(people 'nothing|renew') unchanged"
if [ $dry = 1 ]; then
	[ $json = 1 ] || printf 'address\taction\n'
	awk -F'\t' -v json=$json 'NR > 1 && !s[$2]++ {
		a = $1 == "move" ? "move " $4 : $1 == "join" || $1 == "leave" ? $1 : "unchanged"
		if (json) printf "{\"address\":\"%s\",\"action\":\"%s\"}\n", $2, a; else print $2 "\t" a }' "$tmp/plan"
	[ $quiet = 1 ] || echo "$prog: plan: $summary" >&2
	exit "$code"
fi
# 2. keys (vaulted first), certificates, filed beside their keys.  Run every
#    time: smz-keygen sends again the CSR of a key still without a
#    certificate and smz-issue answers a CSR it certified with that
#    certificate, so a run killed anywhere in here is finished by the next.
st=0
smz-keygen -q -j "$jobs" "$roster" 2>/dev/null | smz-issue -q -j "$jobs" ${capass:+--passphrase-file "$capass"} |
	smz-vault attach -q >/dev/null || st=$?
if [ $st -ne 0 ]; then echo "$prog: issuing failed (exit $st); run again" >&2 && code=$st; fi
# 3. the directory: the valid certificates of the roster's people that
#    CA/provision/published does not list, so a killed run is made good later
if [ -z "$nodir" ] && { [ -n "$ldif" ] || [ -n "$(smz-issue plan --setting ldap-uri)" ]; }; then
	state=$(smz-issue plan --setting ca)/provision
	mkdir -p "$state" && touch "$state/published" || exit "$EX_CANTCREAT"
	st=0
	smz-issue plan -q --force "$roster" >"$tmp/now" 2>"$tmp/err" || st=$?
	case $st in 0 | "$EX_DATAERR") ;; *) cat "$tmp/err" >&2 && exit "$st" ;; esac
	awk -F'\t' 'NR > 1 && $3 != "" && ($1 == "nothing" || $1 == "renew") { print $3 }' "$tmp/now" | sort -u >"$tmp/valid"
	sort -u "$state/published" | comm -23 "$tmp/valid" - >"$tmp/new"
	if [ ! -s "$tmp/new" ]; then :
	elif smz-publish -q ${ldif:+--uri - --ldif "$ldif"} --serial-file "$tmp/new" >/dev/null; then
		sort -u "$state/published" "$tmp/new" >"$state/published.new" && durable "$state/published" || exit "$EX_CANTCREAT"
	else
		st=$? && echo "$prog: the directory was not updated (exit $st); run again" >&2 && code=$st
	fi
fi
# 4. leavers, and movers' old addresses (superseded): revoked, withdrawn, in
#    the CRL; keys stay.  The safety stop was the plan's.
offdir=$nodir$ldif # LDIF only adds: withdrawing needs the directory
offboard() { smz-offboard -q --force ${capass:+--ca-passphrase-file "$capass"} ${offdir:+--no-directory} "$@" - || code=$?; }
awk -F'\t' 'NR > 1 && $1 == "move" { sub(/^from /, "", $4); print $4 }' "$tmp/plan" | sort -u >"$tmp/moved"
awk -F'\t' 'NR > 1 && $1 == "leave" { print $2 }' "$tmp/plan" | sort -u >"$tmp/leavers"
if [ -s "$tmp/moved" ]; then offboard --reason superseded <"$tmp/moved"; fi
if [ -s "$tmp/leavers" ]; then offboard <"$tmp/leavers"; fi
# 5. bundles for everyone who got a certificate
awk -F'\t' 'NR > 1 && ($1 == "join" || $1 == "move") && !s[$2]++ { print $2 }' "$tmp/plan" >"$tmp/joined"
bundles "$tmp/joined" "$@"
[ $quiet = 1 ] || echo "$prog: $summary" >&2
exit "$code"
