# shellcheck shell=sh
# tests/postfix.sh: a real Postfix for the tests, with its own configuration,
# queue and mailboxes in the test's directory.  Its SMTP services listen on
# UNIX sockets in the queue's public/ directory (no TCP port to collide with):
#   mx          port 25's role: anyone, mail for our domains; content filter smz-in
#   submission  587's role: SASL (PLAIN, users in a sasldb) required; filter smz-out
#   reinject    where the filter gives mail back (Postfix's "advanced" filter
#               re-injection by SMTP: a non-root sendmail -C DIR would need
#               /etc/postfix/main.cf to list DIR in alternate_config_directories;
#               public/ is opened to others so that the filter's user reaches it)
# Every message is delivered by a pipe to PF/mail/RECIPIENT/N.eml.  The content
# filters run examples/postfix-filter.sh as documented in its header, as the
# user nobody.  Sets PF (the directory; PF_ROOT, when set, holds it instead
# of the test's directory).  Stopped on exit.

PF=${PF_ROOT:-$TRASH}/pf

postfix_stop() {
	[ -f "$PF/etc/main.cf" ] && postfix -c "$PF/etc" stop >/dev/null 2>&1
	return 0
}

# postfix_start FILTER POLICY [BIN]: start Postfix with FILTER between SMTP and
# delivery; the filter finds smz-sign in BIN (default: the build's cmd/)
postfix_start() {
	mkdir -p "$PF/etc/sasl" "$PF/spool" "$PF/data" "$PF/mail" || return 1
	chown postfix "$PF/data" && chmod 1777 "$PF/mail" || return 1
	cat >"$PF/sink" <<'EOF'
#!/bin/sh
# one file per delivery, numbered in arrival order
d=$(dirname "$0")/mail/$1
mkdir -p "$d" && cat >"$d/.new.$$" && mv "$d/.new.$$" "$d/$(($(ls "$d" | wc -l) + 1)).eml"
EOF
	cat >"$PF/inject" <<'EOF'
#!/bin/sh
# sendmail -G -i -f SENDER -- RCPT...: the same by SMTP to the reinject service
while [ $# -gt 0 ]; do
	case $1 in -f) from=$2; shift ;; --) shift; break ;; esac
	shift
done
to=$(printf '%s,' "$@")
# swaks's own exit codes are not sysexits: any failure is "try again"
# (swaks ends the data with a line end of its own: give it the message without its last)
perl -0777 -pe 's/\r?\n\z//' | swaks --silent 2 --socket "$(dirname "$0")/spool/public/reinject" \
	--from "$from" --to "${to%,}" --data - >/dev/null || exit 75
EOF
	chmod 755 "$PF/sink" "$PF/inject"
	cat >"$PF/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.com
mydomain = example.com
myorigin = example.com
mydestination =
relay_domains = example.com, other.org
inet_interfaces = loopback-only
inet_protocols = ipv4
default_transport = sink
relay_transport = sink
sink_destination_recipient_limit = 1
sink_destination_concurrency_limit = 1
smz-in_destination_recipient_limit = 1
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_security_options = noanonymous
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
alias_maps =
alias_database =
biff = no
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C SMZ_POLICY=$2 SMZ_BIN=${3:-$TOP/cmd} SMZ_SENDMAIL=$PF/inject
export_environment = TZ MAIL_CONFIG LANG SMZ_POLICY SMZ_BIN SMZ_SENDMAIL
EOF
	cat >"$PF/etc/master.cf" <<EOF
mx         unix n - n - - smtpd -o content_filter=smz-in:dummy
submission unix n - n - - smtpd -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject -o content_filter=smz-out:dummy
reinject   unix n - n - - smtpd -o content_filter= -o mynetworks=127.0.0.0/8
  -o smtpd_relay_restrictions=permit_mynetworks,reject
pickup     unix n - n 60 1 pickup
cleanup    unix n - n - 0 cleanup
qmgr       unix n - n 300 1 qmgr
rewrite    unix - - n - - trivial-rewrite
bounce     unix - - n - 0 bounce
defer      unix - - n - 0 bounce
trace      unix - - n - 0 bounce
verify     unix - - n - 1 verify
flush      unix n - n 1000? 0 flush
proxymap   unix - - n - - proxymap
showq      unix n - n - - showq
error      unix - - n - - error
retry      unix - - n - - error
discard    unix - - n - - discard
anvil      unix - - n - 1 anvil
scache     unix - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
sink       unix - n n - - pipe flags=R user=nobody argv=$PF/sink \${recipient}
smz-out    unix - n n - 10 pipe flags=Rq user=nobody null_sender=
  argv=$1 sign user=\${sasl_username} \${sender} \${recipient}
smz-in     unix - n n - 10 pipe flags=Rq user=nobody null_sender=
  argv=$1 decrypt \${sender} \${recipient}
EOF
	# Debian's Postfix reads its Cyrus SASL configuration from CONFIG/sasl
	printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: %s/sasldb2\n' \
		"$PF" >"$PF/etc/sasl/smtpd.conf"
	postfix -c "$PF/etc" start >/dev/null 2>&1 || { tail -n 5 "$PF/maillog" >&2; return 1; }
	# ready when every service's socket is there
	i=0
	while [ $i -lt 300 ]; do
		[ -S "$PF/spool/public/mx" ] && [ -S "$PF/spool/public/submission" ] &&
			[ -S "$PF/spool/public/reinject" ] && chmod o+x "$PF/spool/public" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# postfix_user LOGIN PASSWORD: a SASL account for submission
postfix_user() {
	printf '%s' "$2" | saslpasswd2 -p -f "$PF/sasldb2" -c -u "${1#*@}" "${1%@*}" &&
		chown postfix "$PF/sasldb2"
}

# postfix_wait RECIPIENT N: until N messages are delivered to RECIPIENT (at most 60 s)
postfix_wait() {
	i=0
	while [ $i -lt 600 ]; do
		[ "$(find "$PF/mail/$1" -name '[0-9]*.eml' 2>/dev/null | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "postfix_wait: fewer than $2 messages for $1; the mail log says:" >&2
	tail -n 15 "$PF/maillog" >&2
	return 1
}

# postfix_idle: until the queue is empty (at most 60 s)
postfix_idle() {
	i=0
	while [ $i -lt 600 ]; do
		[ -z "$(find "$PF/spool/incoming" "$PF/spool/active" "$PF/spool/deferred" "$PF/spool/maildrop" -type f 2>/dev/null)" ] &&
			return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
