#!/bin/sh
# smz gateway filter for Postfix (after-queue content filter, "pipe" style).
# Two modes, one per kind of SMTP service, never mixed:
#
#   sign user=SASL_LOGIN SENDER RECIPIENT...   on the authenticated submission
#       service (587/465): the message is signed only when every From: and
#       Sender: mailbox belongs to SASL_LOGIN (smz-sign --sender); otherwise
#       it is bounced (exit 77) with the reason, and nothing is signed.
#   decrypt SENDER RECIPIENT...                on the MX service (25): each
#       internal recipient gets the message decrypted with its own keys only
#       (smz-sign --decrypt --for RECIPIENT), re-injected to that recipient
#       only; a message not encrypted to that recipient goes on unchanged.
#       Nothing arriving on port 25 is ever signed.
#
#   master.cf (the "simple content filter" of Postfix's FILTER_README: what
#   the filter re-injects with sendmail goes through pickup, unfiltered):
#     smtp       inet n - y - - smtpd -o content_filter=smz-in:dummy
#     submission inet n - y - - smtpd -o smtpd_sasl_auth_enable=yes
#       -o smtpd_client_restrictions=permit_sasl_authenticated,reject
#       -o content_filter=smz-out:dummy
#     smz-out unix - n n - 10 pipe flags=Rq user=smz null_sender=
#       argv=/usr/local/libexec/smz/postfix-filter.sh sign user=${sasl_username} ${sender} ${recipient}
#     smz-in  unix - n n - 10 pipe flags=Rq user=smz null_sender=
#       argv=/usr/local/libexec/smz/postfix-filter.sh decrypt ${sender} ${recipient}
#   main.cf:
#     smz-in_destination_recipient_limit = 1
#     smtpd_sender_login_maps = ...   (and reject_sender_login_mismatch)
#
# The user smz reads the policy ($SMZ_POLICY) whose [gateway] unlock_file
# was made by `smz-vault gateway-key`; nothing else can unlock the vault.
# A message is never lost: when smz-sign cannot do its work because of the
# system (vault busy, disk full) the filter exits 75 and Postfix retries;
# when the message itself cannot be processed (malformed MIME, no key for
# it) it goes on unchanged and the reason is logged on stderr (mail log).
#
# Environment (pipe(8) passes only what main.cf's export_environment names):
#   SMZ_POLICY            policy file (default /etc/smz/policy.conf)
#   SMZ_BIN               where smz-sign is (default /usr/local/bin)
#   SMZ_INTERNAL_DOMAINS  space-separated internal domains (default: the
#                         policy's [domains] allowed)
#   SMZ_SENDMAIL          re-injection command (default: /usr/sbin/sendmail -G -i)
set -u
EX_USAGE=64 EX_NOPERM=77 EX_TEMPFAIL=75
PATH=${SMZ_BIN:-/usr/local/bin}:$PATH

case ${1:-} in
sign) mode=sign; user=${2:-}; shift 2 2>/dev/null || set -- ;;
decrypt) mode=decrypt; shift ;;
*)
	# the form before step 8 signed for whatever From: said: defer rather
	# than bounce, until master.cf says which service this is
	echo "smz-filter: usage: $0 sign user=LOGIN SENDER RECIPIENT... | decrypt SENDER RECIPIENT... (update master.cf)" >&2
	exit $EX_TEMPFAIL ;;
esac
if [ $mode = sign ]; then
	case $user in
	user=*) user=${user#user=} ;;
	*) echo "smz-filter: sign: expected user=\${sasl_username}" >&2; exit $EX_TEMPFAIL ;;
	esac
fi
[ $# -ge 2 ] || { echo "usage: $0 sign user=LOGIN SENDER RECIPIENT... | decrypt SENDER RECIPIENT..." >&2; exit $EX_USAGE; }
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
smime=no
case $ctype in
*multipart/signed* | *application/pkcs7-mime* | *application/x-pkcs7-mime*) smime=yes ;;
esac

inject() { # FILE RECIPIENT...: sendmail's own exit codes are sysexits, as Postfix expects
	f=$1
	shift
	# shellcheck disable=SC2086
	$sendmail -f "$sender" -- "$@" <"$f"
}

if [ $mode = sign ]; then
	if [ -z "$user" ] || [ $smime = yes ]; then
		# not authenticated, or the client did S/MIME itself: as it came
		inject "$tmp/in" "$@"
		exit $?
	fi
	smz-sign -q --sign --sender "$user" "$tmp/in" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	case $rc in
	0) ;;
	77)
		# From:/Sender: not the authenticated user's own: Postfix bounces
		# the message to its sender with this text
		echo "smz-filter: not signed: $(cat "$tmp/err")" >&2
		exit $EX_NOPERM ;;
	65 | 1)
		echo "smz-filter: passed on unsigned: $(cat "$tmp/err")" >&2
		cp "$tmp/in" "$tmp/out" || exit $EX_TEMPFAIL ;;
	*)
		echo "smz-filter: will retry: $(cat "$tmp/err")" >&2
		exit $EX_TEMPFAIL ;;
	esac
	inject "$tmp/out" "$@"
	exit $?
fi

# decrypt: one result per recipient, all made before anything is injected
n=0
for r in "$@"; do
	n=$((n + 1))
	if [ $smime = no ] || ! internal "$r"; then
		ln -s in "$tmp/out.$n" || exit $EX_TEMPFAIL
		continue
	fi
	smz-sign -q --decrypt --for "$r" "$tmp/in" >"$tmp/out.$n" 2>"$tmp/err"
	rc=$?
	case $rc in
	0) ;;
	65 | 77 | 1)
		# the message, not the system: deliver it as it came
		echo "smz-filter: $r: passed on unchanged: $(cat "$tmp/err")" >&2
		cp "$tmp/in" "$tmp/out.$n" || exit $EX_TEMPFAIL ;;
	*)
		echo "smz-filter: $r: will retry: $(cat "$tmp/err")" >&2
		exit $EX_TEMPFAIL ;;
	esac
done
n=0
for r in "$@"; do
	n=$((n + 1))
	inject "$tmp/out.$n" "$r" || exit $?
done
exit 0
