#!/bin/sh
# Which certificates smz-vault attach takes.  Attach checks each leaf
# against the CA's issuing certificate as an anchor of its own (verified
# once against the root) and falls back to the full chain; these tests try
# to get a certificate past that shortcut: an issuer with the right name
# and the wrong key, an intermediate under a name-constrained root, an
# intermediate that does not chain to any anchor.
. "$(dirname "$0")/lib.sh"

# leaf NAME ISSUER EMAIL: NAME.pem, a P-256 end-entity certificate for EMAIL
# signed by ISSUER.pem/ISSUER.key
leaf() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-subj "/CN=$1" -out "$1.csr" 2>/dev/null &&
		printf "subjectAltName=email:%s\nkeyUsage=critical,digitalSignature\n" "$3" >"$1.ext" &&
		openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d " \n")" \
			-days 30 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
# ca NAME ISSUER SUBJECT [EXT...]: NAME.pem, a P-256 CA certificate signed by
# ISSUER (NAME itself: self-signed)
ca() {
	n=$1 i=$2 s=$3 && shift 3 &&
		{ printf "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"; for x; do printf "%s\n" "$x"; done; } >"$n.ext" &&
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$n.key" \
			-subj "$s" -out "$n.csr" 2>/dev/null &&
		if [ "$n" = "$i" ]; then
			openssl x509 -req -in "$n.csr" -signkey "$n.key" -days 30 -extfile "$n.ext" -out "$n.pem" 2>/dev/null
		else
			openssl x509 -req -in "$n.csr" -CA "$i.pem" -CAkey "$i.key" -set_serial 7 -days 30 -extfile "$n.ext" -out "$n.pem" 2>/dev/null
		fi
}

# subj FILE: the subject of certificate FILE in the form of openssl -subj
subj() {
	openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed "s/^subject=//; s|/|\\\\/|g" |
		awk -F, "{ for (i = NF; i > 0; i--) printf \"/%s\", \$i; print \"\" }"
}

write_policy ec-p256 "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
	"issuer_url = http://pki.example.com/issuing.cer"
test_expect_success 'setup: a vault, this CA, and a certificate it issued' '
	new_vault && smz-issue init -q --no-passphrase &&
	printf "email\nalice@example.com\n" | smz-keygen -q - | smz-issue -q >alice.pem &&
	smz-vault attach -q alice.pem >out && cmp out alice.pem
'

test_expect_success 'a look-alike issuing CA (same name, another key) gets nothing past attach' '
	ca fakeroot fakeroot "$(subj ca/root.pem)" &&
	ca fake fakeroot "$(subj ca/issuing.pem)" &&
	test "$(openssl x509 -in fake.pem -noout -subject)" = "$(openssl x509 -in ca/issuing.pem -noout -subject)" &&
	leaf forged fake alice@example.com &&
	test_must_fail 65 smz-vault attach forged.pem >out 2>err && test ! -s out &&
	test_grep "rejected: not issued by this CA or one of policy \[vault\] attach_trust" err
'

test_expect_success 'an intermediate that chains to no anchor lends no trust, even listed in attach_trust' '
	ca orphanroot orphanroot "/CN=Orphan Root" &&
	ca orphan orphanroot "/CN=Orphan Issuing" &&
	leaf o1 orphan alice@example.com &&
	cp policy.conf policy.orig &&
	printf "[vault]\nattach_trust = %s/orphan.pem\n" "$PWD" >>policy.conf &&
	test_must_fail 65 smz-vault attach o1.pem >out 2>err && test ! -s out &&
	test_grep "rejected: not issued by this CA" err &&
	cp policy.orig policy.conf
'

test_expect_success 'a name-constrained root (attach_trust) binds leaves under its unconstrained intermediate' '
	ca ncroot ncroot "/CN=Constrained Root" "nameConstraints=critical,permitted;email:.example.org,permitted;email:example.org" &&
	ca ncmid ncroot "/CN=Constrained Issuing" &&
	leaf inside ncmid bob@example.org &&
	leaf outside ncmid alice@example.com &&
	cat ncroot.pem ncmid.pem >nc.pem &&
	printf "[vault]\nattach_trust = %s/nc.pem\n" "$PWD" >>policy.conf &&
	test_must_fail 65 smz-vault attach outside.pem >out 2>err && test ! -s out &&
	test_grep "rejected: not issued by this CA .*: \(permitted subtree violation\|name constraints\)" err &&
	test_must_fail 65 smz-vault attach inside.pem >out 2>err && test ! -s out &&
	test_grep "its key is not in the vault" err && ! grep -q "not issued by this CA" err
'

test_expect_success 'a root with pathlen 0 (attach_trust): a leaf under an intermediate below it is refused' '
	cp policy.orig policy.conf &&
	ca plroot plroot "/CN=Pathlen Root" "basicConstraints=critical,CA:TRUE,pathlen:0" &&
	ca plmid plroot "/CN=Pathlen Issuing" &&
	leaf pl1 plmid bob@example.org &&
	cat plroot.pem plmid.pem >pl.pem &&
	printf "[vault]\nattach_trust = %s/pl.pem\n" "$PWD" >>policy.conf &&
	test_must_fail 65 smz-vault attach pl1.pem >out 2>err && test ! -s out &&
	test_grep "rejected: not issued by this CA .*: path length constraint exceeded" err &&
	cp policy.orig policy.conf &&
	printf "[vault]\nattach_trust = %s/nc.pem\n" "$PWD" >>policy.conf
'

test_expect_success 'a leaf of a trusted intermediate is taken, in the same run as one that is refused' '
	cat inside.pem forged.pem alice.pem >mix.pem &&
	test_must_fail 65 smz-vault attach mix.pem >out 2>err &&
	cmp out alice.pem &&
	test_grep "its key is not in the vault" err && test_grep "rejected: not issued by this CA" err &&
	test_grep "0 attached, 1 already attached, 2 rejected" err
'

test_expect_success 'with no CA to trust, attach says so and takes nothing' '
	printf "[vault]\npath = %s/vault\n" "$PWD" >bare.conf &&
	test_must_fail 78 env SMZ_POLICY="$PWD/bare.conf" smz-vault attach alice.pem >out 2>err &&
	test_grep "no CA to trust" err && test ! -s out
'

test_done
