#!/bin/sh
# smz gateway filter for Postfix (after-queue content filter, "pipe" style):
# signs mail that internal senders send, decrypts encrypted mail that
# arrives for internal recipients, and re-injects the result.
#
#   master.cf (the "simple content filter" of Postfix's FILTER_README: the
#   filter applies to mail that arrives by SMTP; what it re-injects with
#   sendmail goes through pickup, unfiltered, so nothing loops):
#     smtp inet n - y - - smtpd -o content_filter=smz:dummy
#     smz  unix - n n - 10 pipe flags=Rq user=smz null_sender=
#       argv=/usr/local/libexec/smz/postfix-filter.sh ${sender} ${recipient}
#
# The user smz reads the policy ($SMZ_POLICY) whose [gateway] unlock_file
# was made by `smz-vault gateway-key`; nothing else can unlock the vault.
# A message is never lost: when smz-sign cannot do its work because of the
# system (vault busy, disk full) the filter exits 75 and Postfix retries;
# when the message itself cannot be processed (malformed MIME, no key for
# it) it goes on unchanged and the reason is logged on stderr (mail log).
#
# Environment:
#   SMZ_POLICY            policy file (default /etc/smz/policy.conf)
#   SMZ_INTERNAL_DOMAINS  space-separated internal domains (default: the
#                         policy's [domains] allowed)
#   SMZ_SENDMAIL          re-injection command (default: /usr/sbin/sendmail -G -i)
set -u
EX_USAGE=64 EX_TEMPFAIL=75

[ $# -ge 2 ] || { echo "usage: $0 SENDER RECIPIENT..." >&2; exit $EX_USAGE; }
sender=$1
shift
policy=${SMZ_POLICY:-/etc/smz/policy.conf}
domains=${SMZ_INTERNAL_DOMAINS:-$(awk -F= '
	/^\[/ { sec = $0 }
	sec == "[domains]" && $1 ~ /^allowed[ \t]*$/ { gsub(/,/, " ", $2); print $2 }' "$policy")}
sendmail=${SMZ_SENDMAIL:-/usr/sbin/sendmail -G -i}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smz-filter.XXXXXX") || exit $EX_TEMPFAIL
trap 'rm -rf "$tmp"' EXIT
trap 'exit $EX_TEMPFAIL' HUP INT TERM
umask 077
cat >"$tmp/in" || exit $EX_TEMPFAIL

internal() { # ADDRESS: is its domain one of ours?
	d=$(printf '%s' "${1##*@}" | tr '[:upper:]' '[:lower:]')
	for x in $domains; do [ "$d" = "$x" ] && return 0; done
	return 1
}

# the message's own Content-Type (header block only, folded lines joined)
ctype=$(awk 'NR == 1 && /^From / { next } /^\r?$/ { exit } { sub(/\r$/, "") }
	/^[ \t]/ { if (c) v = v $0; next } { c = tolower($0) ~ /^content-type:/ } c { v = $0 }
	END { print tolower(v) }' "$tmp/in")

run() { # smz-sign ARGS...: the result in $tmp/out, or the input unchanged
	smz-sign -q "$@" "$tmp/in" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	case $rc in
	0) return 0 ;;
	65 | 77 | 1)
		# the message, not the system: deliver it as it came
		echo "smz-filter: passed on unchanged: $(cat "$tmp/err")" >&2
		cp "$tmp/in" "$tmp/out" || exit $EX_TEMPFAIL ;;
	*)
		echo "smz-filter: will retry: $(cat "$tmp/err")" >&2
		exit $EX_TEMPFAIL ;;
	esac
}

any_internal=no
for r in "$@"; do internal "$r" && any_internal=yes; done

case $ctype in
*multipart/signed* | *application/pkcs7-mime* | *application/x-pkcs7-mime*)
	if internal "$sender"; then
		cp "$tmp/in" "$tmp/out" || exit $EX_TEMPFAIL # the client did S/MIME itself
	elif [ $any_internal = yes ]; then
		run --decrypt
	else
		cp "$tmp/in" "$tmp/out" || exit $EX_TEMPFAIL
	fi ;;
*)
	if internal "$sender"; then
		run --sign
	else
		cp "$tmp/in" "$tmp/out" || exit $EX_TEMPFAIL
	fi ;;
esac

# sendmail's own exit codes are sysexits, as Postfix expects
# shellcheck disable=SC2086
$sendmail -f "$sender" -- "$@" <"$tmp/out"
