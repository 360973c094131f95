#!/bin/sh
# smz-provision: bring the CA, vault and directory in line with an HR roster.
# smz-issue plan compares the roster with the CA database and the vault and
# says who joins, moves, leaves or stays (refusing a plan that off-boards
# more than policy [offboarding] max_fraction); this carries it out.  Every
# step can be repeated, so a re-run after a crash finishes the work and a
# second run changes nothing.
set -eu
# @SYSEXITS@
prog=smz-provision
here=$(cd "$(dirname "$0")" && pwd)
PATH="$here:$PATH" # the sibling programs of this installation first

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
      --policy=FILE             policy file (default \$SMZ_POLICY, else
                                /etc/smz/policy.conf)
  -q, --quiet                   no summary
  -h, --help                    show this help
      --usage                   show a short usage message
      --version                 show the version
EOF
}
die() { echo "$prog: $1" >&2 && exit "${2:-$EX_USAGE}"; }

dry=0 force='' capass='' bundles='' ldif='' nodir='' json=0 quiet=0 jobs=1 roster='' n=$#
# options are taken out; the vault's unlock options stay in "$@", every
# path a word of its own
while [ "$n" -gt 0 ]; do
	a=$1 && shift && n=$((n - 1))
	case $a in
	--ca-passphrase-file=* | --passphrase-file=* | --share=* | --bundles=* | --ldif=* | --jobs=* | --policy=*)
		set -- "${a#*=}" "$@" && n=$((n + 1)) && a=${a%%=*} ;;
	-j?*) set -- "${a#-j}" "$@" && n=$((n + 1)) && a=-j ;;
	esac
	case $a in --ca-passphrase-file | --passphrase-file | --share | --bundles | --ldif | -j | --jobs | --policy)
		[ "$n" -gt 0 ] || die "$a needs an argument"
		v=$1 && shift && n=$((n - 1)) ;;
	esac
	case $a in
	--dry-run) dry=1 ;;
	--force) force=1 ;;
	--ca-passphrase-file) capass=$v ;;
	--passphrase-file | --share) set -- "$@" "$a" "$v" ;;
	--bundles) bundles=$v ;;
	--ldif) ldif=$v ;;
	--no-directory) nodir=1 ;;
	--json) json=1 ;;
	-j | --jobs) jobs=$v ;;
	--policy) SMZ_POLICY=$v && export SMZ_POLICY ;;
	-q | --quiet) quiet=1 ;;
	-h | --help) usage && exit 0 ;;
	--usage) echo "Usage: $prog [--dry-run] [--force] [--ca-passphrase-file F] [--passphrase-file F | --share F...] [--bundles DIR] [--ldif FILE] [--no-directory] [--json] [--policy F] ROSTER.csv" && exit 0 ;;
	--version) echo "$prog (smz) $(smz-vault --version | awk '{ print $NF }')" && exit 0 ;;
	--smz-complete) printf 'option --%s\n' dry-run force ca-passphrase-file passphrase-file share bundles ldif no-directory json jobs policy quiet help usage version && exit 0 ;;
	--) if [ "$n" -ne 1 ] || [ -n "$roster" ]; then die "expected one roster file"; fi
		roster=$1 && shift && n=0 ;;
	-?*) die "$a: unknown option" ;;
	*) if [ -n "$roster" ]; then die "expected one roster file"; fi
		roster=$a ;;
	esac
done
[ -n "$roster" ] || die "expected one roster file"
case $jobs in '' | *[!0-9]*) die "-j: expected a number" ;; esac
[ -r "$roster" ] || die "$roster: cannot read" "$EX_NOINPUT"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$prog.XXXXXX") || exit "$EX_TEMPFAIL"
trap 'rm -rf "$tmp"' EXIT
trap 'exit "$EX_TEMPFAIL"' HUP INT TERM
# 1. the plan, before anything changes (bad roster rows: EX_DATAERR at the end)
code=0
smz-issue plan -q ${force:+--force} "$roster" >"$tmp/plan" || code=$?
case $code in 0 | "$EX_DATAERR") ;; *) exit "$code" ;; esac
# people ACTIONS: how many people the plan gives one of ACTIONS (a regex)
people() { awk -F'\t' -v a="^($1)\$" 'NR > 1 && $1 ~ a && !s[$2]++ { n++ } END { print n + 0 }' "$tmp/plan"; }
durable() { sync "$1.new" && mv -f "$1.new" "$1" && sync "$(dirname "$1")"; }
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
offboard() {
	smz-offboard -q --force ${capass:+--ca-passphrase-file "$capass"} ${offdir:+--no-directory} "$@" - || code=$?
}
awk -F'\t' 'NR > 1 && $1 == "move" { sub(/^from /, "", $4); print $4 }' "$tmp/plan" | sort -u >"$tmp/moved"
awk -F'\t' 'NR > 1 && $1 == "leave" { print $2 }' "$tmp/plan" | sort -u >"$tmp/leavers"
if [ -s "$tmp/moved" ]; then offboard --reason superseded <"$tmp/moved"; fi
if [ -s "$tmp/leavers" ]; then offboard <"$tmp/leavers"; fi
# 5. bundles for everyone who got a certificate (smz-vault export takes up
#    to 4096 addresses a run, and keeps the passwords of earlier runs)
awk -F'\t' 'NR > 1 && ($1 == "join" || $1 == "move") && !s[$2]++ { print $2 }' "$tmp/plan" >"$tmp/joined"
if [ -z "$bundles" ] || [ ! -s "$tmp/joined" ]; then :
elif [ $# -eq 0 ]; then
	echo "$prog: --bundles needs --passphrase-file or --share to read the keys" >&2 && code=$EX_USAGE
else
	split -l 4000 "$tmp/joined" "$tmp/chunk."
	for c in "$tmp"/chunk.*; do
		smz-vault export -q -j "$jobs" "$@" --out "$bundles" --reason smz-provision - <"$c" >/dev/null || code=$?
	done
fi
[ $quiet = 1 ] || echo "$prog: $summary" >&2
exit "$code"
