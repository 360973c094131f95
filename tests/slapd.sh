# shellcheck shell=sh
# tests/slapd.sh: a real OpenLDAP slapd for the tests, on loopback and an
# ldapi socket in the test's own directory, with TLS; stopped on exit.
# Sets SLAPD_URI, SLAPD_TLS_URI, SLAPD_LDAPI, SLAPD_BASE, SLAPD_ADMIN,
# SLAPD_PW (a file), SLAPD_CA (the CA of its TLS certificate).

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

slapd_stop() {
	if [ -f "$TRASH/slapd/slapd.pid" ]; then
		kill "$(cat "$TRASH/slapd/slapd.pid")" 2>/dev/null
		i=0
		while [ -f "$TRASH/slapd/slapd.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		rm -f "$TRASH/slapd/slapd.pid"
	fi
}

slapd_start() {
	d=$TRASH/slapd
	mkdir -p "$d/db"
	# TLS: a CA and a server certificate for 127.0.0.1
	if [ ! -f "$d/ca.pem" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" \
			-out "$d/ca.pem" -days 30 -subj "/CN=test LDAP CA" 2>/dev/null
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/server.key" \
			-subj "/CN=127.0.0.1" -out "$d/server.csr" 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/server.ext"
		openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -set_serial 1 \
			-days 30 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
	fi
	SLAPD_BASE=dc=example,dc=com
	SLAPD_ADMIN=cn=admin,$SLAPD_BASE
	SLAPD_PW=$d/adminpw
	SLAPD_CA=$d/ca.pem
	printf 'secret\n' >"$SLAPD_PW"
	cat >"$d/slapd.conf" <<EOC
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $d/slapd.pid
authz-regexp "gidNumber=0[+]uidNumber=0,cn=peercred,cn=external,cn=auth" "$SLAPD_ADMIN"
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile $d/ca.pem
TLSCertificateFile $d/server.pem
TLSCertificateKeyFile $d/server.key
database mdb
suffix "$SLAPD_BASE"
rootdn "$SLAPD_ADMIN"
rootpw secret
directory $d/db
maxsize 104857600
index mail eq
EOC
	SLAPD_LDAPI=ldapi://$(printf '%s' "$d/ldapi" | sed 's|/|%2F|g')
	# A free port can be taken by another process before slapd binds it;
	# slapd then exits non-zero before it forks, so try fresh ports.
	i=0
	while :; do
		port=$(free_port)
		tport=$(free_port)
		SLAPD_URI=ldap://127.0.0.1:$port
		SLAPD_TLS_URI=ldaps://127.0.0.1:$tport
		/usr/sbin/slapd -f "$d/slapd.conf" -h "$SLAPD_URI/ $SLAPD_TLS_URI/ $SLAPD_LDAPI" && break
		i=$((i + 1))
		[ $i -lt 5 ] || return 1
		rm -f "$d/ldapi"
	done
	i=0
	until ldapsearch -x -H "$SLAPD_URI" -b "" -s base >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || return 1
		sleep 0.1
	done
	export SLAPD_URI SLAPD_TLS_URI SLAPD_LDAPI SLAPD_BASE SLAPD_ADMIN SLAPD_PW SLAPD_CA
}

ldap_add() {
	ldapadd -x -H "$SLAPD_URI" -D "$SLAPD_ADMIN" -y "$d/adminpw.raw" "$@"
}

trap 'slapd_stop' EXIT
