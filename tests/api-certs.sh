#!/bin/sh
# api-certs.sh DIR: the TLS certificates tests/t0300-api.sh uses, made with
# openssl (P-256): a server CA and the server's certificate for 127.0.0.1;
# the gateways' client CA with two client certificates, gw1 (allowed) and
# gw2 (not), and a foreign CA whose client certificate copies gw1's subject.
set -eu
cd "$1"
ca() { # NAME SUBJECT
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.pem" -subj "$2" -days 30 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		2>/dev/null
}
leaf() { # NAME SUBJECT CA EXT
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-out "$1.csr" -subj "$2" 2>/dev/null
	printf '%s\n' "$4" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 30 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}
ca tlsca "/O=Example TLS/CN=Example TLS CA"
leaf server "/CN=127.0.0.1" tlsca "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
ca gwca "/O=Example Gateways/CN=Gateway CA"
client="extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
leaf gw1 "/O=Example Gateways/CN=mx1.example.com" gwca "$client"
leaf gw2 "/O=Example Gateways/CN=mx2.example.com" gwca "$client"
ca evilca "/O=Example Gateways/CN=Gateway CA"
leaf evil "/O=Example Gateways/CN=mx1.example.com" evilca "$client"
