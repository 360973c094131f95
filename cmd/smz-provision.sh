#!/bin/sh
# smz-provision: bring the CA, vault and directory in line with an HR roster.
# The plan comes from comparing the roster with the CA database (no old CSV
# is needed): joiners get a key, a certificate and a directory entry;
# leavers are off-boarded (smz-offboard); the rest is left alone.  Every
# step is one the programs can repeat, so a re-run after a crash finishes
# the work and a second run changes nothing.
#
#   smz-provision [--dry-run] [--force] [--ca-passphrase-file F]
#                 [--passphrase-file F | --share F...] [--bundles DIR]
#                 [--ldif FILE] [--no-directory] [--json] [--policy F] ROSTER.csv
set -u
prog=smz-provision
EX_USAGE=64 EX_DATAERR=65 EX_NOPERM=77
here=$(cd "$(dirname "$0")" && pwd)
PATH="$here:$PATH"

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

need() { [ "$2" -ge 2 ] || { echo "$prog: $1 needs an argument" >&2; exit $EX_USAGE; }; }
dry=0 force=0 capass='' vpass='' bundles='' ldif='' nodir=0 json=0 quiet=0 shares='' jobs=1
while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) dry=1 ;;
	--force) force=1 ;;
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
	--json) json=1 ;;
	-j | --jobs) need "$1" $#; jobs=$2; shift ;;
	--jobs=*) jobs=${1#*=} ;;
	-j?*) jobs=${1#-j} ;;
	--policy=*) SMZ_POLICY=${1#*=}; export SMZ_POLICY ;;
	--policy) need "$1" $#; SMZ_POLICY=$2; export SMZ_POLICY; shift ;;
	-q | --quiet) quiet=1 ;;
	-h | --help) usage; exit 0 ;;
	--usage) echo "Usage: $prog [--dry-run] [--force] [--ca-passphrase-file F] [--passphrase-file F | --share F...] [--bundles DIR] [--ldif FILE] [--no-directory] [--json] [--policy F] ROSTER.csv"; exit 0 ;;
	--version) echo "$prog (smz) $(smz-vault --version | awk '{ print $NF }')"; exit 0 ;;
	--smz-complete)
		for o in dry-run force ca-passphrase-file passphrase-file share bundles ldif no-directory json jobs policy quiet help usage version; do
			echo "option --$o"
		done
		exit 0 ;;
	--) shift; break ;;
	-?*) echo "$prog: $1: unknown option" >&2; exit $EX_USAGE ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 1 ] || { echo "$prog: expected one roster file" >&2; exit $EX_USAGE; }
case $jobs in '' | *[!0-9]*) echo "$prog: -j: expected a number" >&2; exit $EX_USAGE ;; esac
roster=$1
[ -r "$roster" ] || { echo "$prog: $roster: cannot read" >&2; exit 66; }
policy=${SMZ_POLICY:-/etc/smz/policy.conf}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smz-provision.XXXXXX") || exit 75
trap 'rm -rf "$tmp"' EXIT
trap 'exit 75' HUP INT TERM
code=0

# Addresses from the roster, the CA and the vault are compared by the key
# smz-issue address-keys makes (lib/addr: the domain's case never counts,
# the local part's only with policy [vault] local_part = sensitive).
# keyed OUT <addresses: OUT gets "key<TAB>address" lines
keyed() {
	smz-issue address-keys - >"$1.h" 2>/dev/null
	case $? in 0 | 65) ;; *) echo "$prog: smz-issue address-keys failed; nothing was changed" >&2; exit 70 ;; esac
	tail -n +2 "$1.h" >"$1"
}

# 1. the roster as smz reads it (bad rows are reported with their lines)
smz-keygen --list "$roster" >"$tmp/roster.tsv"
rc=$?
case $rc in 0) ;; 65) code=$EX_DATAERR ;; *) exit $rc ;; esac
awk -F'\t' 'NR > 1 && $3 == "active" { print $2 }' "$tmp/roster.tsv" >"$tmp/active.a"
keyed "$tmp/active.k" <"$tmp/active.a"
# 2. the CA's memory: who has a valid certificate (one line a person)
smz-issue list >"$tmp/list" || exit $?
awk -F'\t' 'NR > 1 && $6 == "valid" { print $2 }' "$tmp/list" | sort -u >"$tmp/certified.a"
keyed "$tmp/certified.all" <"$tmp/certified.a"
awk -F'\t' '!seen[$1]++' "$tmp/certified.all" >"$tmp/certified"
# 3. the plan: joiners and unchanged with the roster's spelling, leavers
#    with the CA's
awk -F'\t' 'FILENAME == ARGV[1] { c[$1] = 1; next } !($1 in c)' "$tmp/certified" "$tmp/active.k" >"$tmp/joiners.k"
awk -F'\t' 'FILENAME == ARGV[1] { a[$1] = 1; next } !($1 in a)' "$tmp/active.k" "$tmp/certified" >"$tmp/leavers.k"
awk -F'\t' 'FILENAME == ARGV[1] { c[$1] = 1; next } ($1 in c) { print $2 }' "$tmp/certified" "$tmp/active.k" | sort >"$tmp/unchanged"
cut -f2 "$tmp/joiners.k" | sort >"$tmp/joiners"
cut -f2 "$tmp/leavers.k" | sort >"$tmp/leavers"
# movers: a new address whose employee id had keys for an address that is
# leaving; the old certificate is revoked as superseded, not as a leaver's
smz-vault list >"$tmp/vault" 2>/dev/null || : >"$tmp/vault"
awk -F'\t' 'NR > 1 { print $1 }' "$tmp/vault" | sort -u >"$tmp/vault.a"
keyed "$tmp/vault.k" <"$tmp/vault.a"
awk -F'\t' '
	FILENAME == ARGV[1] { joiner[$2] = 1; next }
	FILENAME == ARGV[2] { leaver[$1] = $2; next }
	FILENAME == ARGV[3] { vk[$2] = $1; next }
	FILENAME == ARGV[4] { if (FNR > 1 && $6 != "" && ($1 in vk) && (vk[$1] in leaver)) old[$6] = leaver[vk[$1]]; next }
	FNR > 1 && $3 == "active" && $5 != "" && ($2 in joiner) && ($5 in old) { print old[$5] "\t" $2 }
' "$tmp/joiners.k" "$tmp/leavers.k" "$tmp/vault.k" "$tmp/vault" "$tmp/roster.tsv" | sort -u >"$tmp/movers"
cut -f1 "$tmp/movers" | sort -u >"$tmp/moved"
comm -23 "$tmp/leavers" "$tmp/moved" >"$tmp/leavers.real" && mv "$tmp/leavers.real" "$tmp/leavers"
cut -f2 "$tmp/movers" | sort -u >"$tmp/movers.new"
comm -23 "$tmp/joiners" "$tmp/movers.new" >"$tmp/joiners.real"
nj=$(wc -l <"$tmp/joiners.real") nl=$(wc -l <"$tmp/leavers") nu=$(wc -l <"$tmp/unchanged")
nm=$(wc -l <"$tmp/movers")
nall=$(wc -l <"$tmp/joiners") # everyone who gets a certificate
if [ $dry = 1 ]; then
	{
		sed 's/$/\tjoin/' "$tmp/joiners.real"
		awk -F'\t' '{ print $2 "\tmove from " $1 }' "$tmp/movers"
		sed 's/$/\tleave/' "$tmp/leavers"
		sed 's/$/\tunchanged/' "$tmp/unchanged"
	} | sort >"$tmp/plan"
	if [ $json = 1 ]; then
		awk -F'\t' '{ printf "{\"address\":\"%s\",\"action\":\"%s\"}\n", $1, $2 }' "$tmp/plan"
	else
		printf 'address\taction\n'
		cat "$tmp/plan"
	fi
	[ $quiet = 1 ] || echo "$prog: plan: $nj joiners, $nm movers, $nl leavers, $nu unchanged" >&2
	exit $code
fi

# 4. the safety stop, before anything changes: a truncated export must not
#    off-board half the company
max=$(awk -F= '/^\[/ { s = $0 } s == "[offboarding]" && $1 ~ /^max_fraction[ \t]*$/ { sub(/^[ \t]+/, "", $2); sub(/[ \t;].*/, "", $2); print $2 }' "$policy" 2>/dev/null)
max=${max:-0.10}
ncert=$(wc -l <"$tmp/certified")
if [ $force = 0 ] && [ "$nl" -gt 0 ] &&
	awk -v l="$nl" -v a="$ncert" -v m="$max" 'BEGIN { exit !(l > m * a) }'; then
	echo "$prog: the roster would off-board $nl of $ncert people (more than $max; policy [offboarding] max_fraction): is the export truncated? Nothing was changed; --force if it is right" >&2
	exit $EX_NOPERM
fi

capass_opt=''
[ -n "$capass" ] && capass_opt="--passphrase-file $capass"
# What is published is recorded in the CA directory (ca/provision/published,
# serials), and each run publishes every valid certificate of the roster
# that is not in that record: a run killed anywhere (even after attach
# committed but before its output was kept) is made good by the next one.
cadir=${SMZ_CA:-$(awk -F= '/^\[/ { s = $0 } s == "[ca]" && $1 ~ /^path[ \t]*$/ { gsub(/^[ \t]+|[ \t]+$/, "", $2); print $2 }' "$policy")}
state=$cadir/provision
mkdir -p "$state" || exit 73
touch "$state/published" || exit 73
# 5. keys (vaulted first), certificates, filed beside their keys.  Run
#    every time: smz-keygen skips addresses that have a certificate and
#    sends again the CSR of a key still without one, and smz-issue answers
#    a CSR it certified before with that certificate, so a run killed
#    anywhere in here is finished by the next.
# shellcheck disable=SC2086
smz-keygen -q -j "$jobs" "$roster" 2>/dev/null | smz-issue -q -j "$jobs" $capass_opt |
	smz-vault attach -q >/dev/null
status=$?
[ $status -eq 0 ] || { echo "$prog: issuing failed (exit $status); run again" >&2; code=$status; }
# 6. the directory: the valid certificates of the roster's people not
#    recorded as published
if [ $nodir = 0 ]; then
	smz-issue list >"$tmp/list2" || exit $?
	awk -F'\t' 'NR > 1 && $6 == "valid" { print $2 }' "$tmp/list2" | sort -u >"$tmp/list2.a"
	keyed "$tmp/list2.k" <"$tmp/list2.a"
	awk -F'\t' '
		FILENAME == ARGV[1] { act[$1] = 1; next }
		FILENAME == ARGV[2] { k[$2] = $1; next }
		FNR > 1 && $6 == "valid" && ($2 in k) && (k[$2] in act) { print $1 }
	' "$tmp/active.k" "$tmp/list2.k" "$tmp/list2" | sort -u >"$tmp/valid-serials"
	sort -u "$state/published" >"$tmp/published"
	comm -23 "$tmp/valid-serials" "$tmp/published" >"$tmp/to-publish"
	if [ -s "$tmp/to-publish" ]; then
		published=0
		if [ -n "$ldif" ]; then
			smz-publish -q --uri - --ldif "$ldif" --serial-file "$tmp/to-publish" >/dev/null &&
				published=1 || code=$?
		elif awk -F= '/^\[/ { s = $0 } s == "[ldap]" && $1 ~ /^uri[ \t]*$/ { f = 1 } END { exit !f }' "$policy" 2>/dev/null; then
			if smz-publish -q --serial-file "$tmp/to-publish" >/dev/null; then
				published=1
			else
				rc=$?
				echo "$prog: the directory was not updated (exit $rc); run again" >&2
				code=$rc
			fi
		fi
		if [ $published = 1 ]; then
			sort -u "$tmp/published" "$tmp/to-publish" >"$state/published.new" &&
				mv "$state/published.new" "$state/published"
		fi
	fi
fi
# 7. leavers: revoked, withdrawn, CRL; keys stay.  Movers' old addresses
#    the same, with reason superseded.
off_opts="--force"
[ -n "$capass" ] && off_opts="$off_opts --ca-passphrase-file $capass"
[ $nodir = 1 ] || [ -n "$ldif" ] && off_opts="$off_opts --no-directory"
if [ "$nm" -gt 0 ]; then
	# shellcheck disable=SC2086
	smz-offboard -q $off_opts --reason superseded - <"$tmp/moved" || code=$?
fi
if [ "$nl" -gt 0 ]; then
	# shellcheck disable=SC2086
	smz-offboard -q $off_opts - <"$tmp/leavers" || code=$?
fi
# 8. bundles for everyone who got a certificate (smz-vault export takes
#    up to 4096 addresses a run)
if [ -n "$bundles" ] && [ "$nall" -gt 0 ]; then
	if [ -z "$vpass" ] && [ -z "$shares" ]; then
		echo "$prog: --bundles needs --passphrase-file or --share to read the keys" >&2
		code=$EX_USAGE
	else
		# smz-vault export keeps the passwords.tsv lines of earlier runs
		split -l 4000 "$tmp/joiners" "$tmp/chunk."
		for chunk in "$tmp"/chunk.*; do
			if [ -n "$vpass" ]; then
				smz-vault export -q -j "$jobs" --passphrase-file "$vpass" --out "$bundles" \
					--reason "smz-provision" - <"$chunk" >/dev/null || code=$?
			else
				# shellcheck disable=SC2086
				smz-vault export -q -j "$jobs" $shares --out "$bundles" \
					--reason "smz-provision" - <"$chunk" >/dev/null || code=$?
			fi
		done
	fi
fi
[ $quiet = 1 ] || echo "$prog: $nj joiners, $nm movers, $nl leavers, $nu unchanged" >&2
exit $code
